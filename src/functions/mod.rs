//! Transformations: the spec's 28 `TransformationType`s, one per file.
//!
//! Each file defines a unit struct implementing [`Function`]: its [`Signature`] (name,
//! parameters, docs, examples) and a `compile` step that validates the config once, at
//! check time, and returns a ready-to-run [`Transform`]. Regexes, strftime formats and
//! rhai scripts are therefore compiled before the first record arrives, and the IR
//! holds only transforms that are known to be well configured.
//!
//! The examples of every signature run as tests (`tests::examples`) and
//! `docs/functions.md` is generated from the signatures (`cmap docs functions`).
//!
//! Null handling is not the functions' business: the interpreter passes a null or
//! missing value through every transformation unchanged, so `apply` never sees `Null`.

use serde_json::{Map, Value};

use crate::diagnostics::Code;

/// What a parameter accepts; `compile` checks the config against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    String,
    Number,
    /// A whole number (`decimals`, `index`, `maxLength`, `days`).
    Integer,
    Boolean,
    /// A regular expression (regex crate syntax).
    Regex,
    /// A strftime format (`%d/%m/%Y`).
    DateFormat,
    /// An ISO 4217 code known to the rate table.
    Currency,
    /// A rhai expression.
    Script,
    Any,
}

impl ParamKind {
    pub fn describe(self) -> &'static str {
        match self {
            ParamKind::String => "a string",
            ParamKind::Number => "a number",
            ParamKind::Integer => "an integer",
            ParamKind::Boolean => "a boolean",
            ParamKind::Regex => "a regular expression string",
            ParamKind::DateFormat => "a strftime format string",
            ParamKind::Currency => "a currency code string",
            ParamKind::Script => "a rhai expression string",
            ParamKind::Any => "any value",
        }
    }
}

#[derive(Debug)]
pub struct Param {
    /// The config key, exactly as the spec names it (`maxLength`, `search`).
    pub name: &'static str,
    pub kind: ParamKind,
    pub required: bool,
    pub docs: &'static str,
}

/// An example that runs as a test and appears in docs/functions.md.
#[derive(Debug)]
pub struct Example {
    pub title: &'static str,
    /// The input value, as JSON.
    pub input: &'static str,
    /// The config, as a JSON object (`{}` for none).
    pub config: &'static str,
    /// `Ok(JSON output)`, or `Err(substring of the error message)`.
    pub output: Result<&'static str, &'static str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    String,
    Number,
    Date,
    Conversion,
    Custom,
}

impl Category {
    pub fn title(self) -> &'static str {
        match self {
            Category::String => "String transformations",
            Category::Number => "Number transformations",
            Category::Date => "Date transformations",
            Category::Conversion => "Type conversions",
            Category::Custom => "Custom",
        }
    }
}

#[derive(Debug)]
pub struct Signature {
    pub name: &'static str,
    pub category: Category,
    /// One line.
    pub summary: &'static str,
    /// Markdown: the exact rules (what counts as a match, rounding, errors).
    pub docs: &'static str,
    /// In positional order (`.cmap` may pass arguments by position).
    pub params: &'static [Param],
    /// What the transformation yields, for type-mismatch warnings.
    pub returns: Returns,
    pub examples: &'static [Example],
}

/// The type of a transformation's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Returns {
    String,
    Number,
    Boolean,
    /// A date, written as an RFC 3339 UTC string with milliseconds.
    Date,
    Array,
    /// The input's type (`trim` of a string is a string).
    Same,
    /// Unknown until run (`custom`).
    Any,
}

/// A problem with one transformation's config, found at check time. `compile` maps
/// `param` back to the span of the argument (or of the call when the key is missing).
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigError {
    pub code: Code,
    /// The parameter concerned.
    pub param: &'static str,
    pub message: String,
    pub help: Option<String>,
}

/// A record-level failure of a transformation (`to_number` of "abc", divide by zero).
/// It fails the record, never the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransformError {
    pub message: String,
}

impl TransformError {
    pub fn new(message: impl Into<String>) -> TransformError {
        TransformError { message: message.into() }
    }
}

impl std::fmt::Display for TransformError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A currency rate table: one unit of `base` buys `rates[c]` of currency `c`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rates {
    pub base: String,
    pub rates: std::collections::BTreeMap<String, f64>,
}

/// What `compile` may consult.
pub struct CompileContext<'a> {
    pub rates: &'a Rates,
    pub sandbox: &'a crate::sandbox::Sandbox,
}

/// What `apply` may consult: the source record and the task config.
pub struct Env<'a> {
    pub record: &'a Value,
    pub task: &'a Map<String, Value>,
}

/// A transformation with its config validated: ready to run.
pub trait Transform: Send + Sync + std::fmt::Debug {
    /// Transforms a non-null value.
    fn apply(&self, value: Value, env: &Env<'_>) -> Result<Value, TransformError>;
}

pub trait Function: Sync {
    fn signature(&self) -> &'static Signature;
    /// Validates `config` (keys already resolved to parameter names; unknown keys already
    /// reported by the caller) and returns every problem, not the first.
    fn compile(&self, config: &Map<String, Value>, ctx: &CompileContext<'_>) -> Result<Box<dyn Transform>, Vec<ConfigError>>;
}
