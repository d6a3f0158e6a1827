//! Transformations: the spec's `TransformationType`s, one per file.
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

mod args;
pub mod date;
mod num;

pub mod add_days;
pub mod concat;
pub mod currency_convert;
pub mod custom;
pub mod divide;
pub mod format_date;
pub mod lowercase;
pub mod multiply;
pub mod parse_date;
pub mod regex_replace;
pub mod replace;
pub mod round;
pub mod split;
pub mod to_array;
pub mod to_boolean;
pub mod to_date;
pub mod to_iso_string;
pub mod to_number;
pub mod to_string;
pub mod to_timestamp;
pub mod trim;
pub mod truncate;
pub mod uppercase;

/// Every transformation, in the spec's order (the `TransformationType` list of
/// integrations-spec.md: 23 names, although the spec's prose says 28).
static ALL: &[&dyn Function] = &[
    &uppercase::Uppercase,
    &lowercase::Lowercase,
    &trim::Trim,
    &truncate::Truncate,
    &replace::Replace,
    &regex_replace::RegexReplace,
    &split::Split,
    &concat::Concat,
    &round::Round,
    &multiply::Multiply,
    &divide::Divide,
    &currency_convert::CurrencyConvert,
    &parse_date::ParseDate,
    &format_date::FormatDate,
    &add_days::AddDays,
    &to_timestamp::ToTimestamp,
    &to_iso_string::ToIsoString,
    &to_string::ToStringFn,
    &to_number::ToNumber,
    &to_boolean::ToBoolean,
    &to_array::ToArray,
    &to_date::ToDate,
    &custom::Custom,
];

/// Every transformation, in the spec's order.
pub fn all() -> &'static [&'static dyn Function] {
    ALL
}

/// The transformation of that exact (spec) name.
pub fn lookup(name: &str) -> Option<&'static dyn Function> {
    ALL.iter().copied().find(|f| f.signature().name == name)
}

/// The parameter names of a transformation in positional order, or `None` when it is
/// unknown. The parser uses it to name positional arguments.
pub fn param_names(name: &str) -> Option<Vec<&'static str>> {
    lookup(name).map(|f| f.signature().params.iter().map(|p| p.name).collect())
}

/// A value in an error message: its type and (shortened) JSON text, `string "abc"`,
/// `number 12`, `array [1,2]`, `null`.
pub fn describe(v: &Value) -> String {
    let kind = match v {
        Value::Null => return "null".to_string(),
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    const MAX: usize = 40;
    let text = v.to_string();
    if text.chars().count() > MAX {
        let short: String = text.chars().take(MAX).collect();
        format!("{kind} {short}…")
    } else {
        format!("{kind} {text}")
    }
}

/// The string a string transformation works on; anything else fails the record.
pub(crate) fn expect_str<'v>(function: &str, v: &'v Value) -> Result<&'v str, TransformError> {
    v.as_str().ok_or_else(|| {
        TransformError::new(format!(
            "`{function}` expects a string, found {}",
            describe(v)
        ))
    })
}

/// A string, number or boolean as text, numbers in their shortest form with integers
/// written without a fraction (`6`, not `6.0`). `None` for arrays, objects and null.
pub(crate) fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => match num::Num::from_json(n) {
            num::Num::Int(i) => Some(i.to_string()),
            num::Num::Float(_) if n.is_u64() => Some(n.to_string()),
            num::Num::Float(f) => Some(
                num::float_value("to_string", f).map_or_else(|_| n.to_string(), |v| v.to_string()),
            ),
        },
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

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
        TransformError {
            message: message.into(),
        }
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

    /// Whether `apply` reads `env.record` beyond the value it is given (a `custom`
    /// script that mentions `record`): the compiler then asks for whole records.
    fn reads_record(&self) -> bool {
        false
    }
}

pub trait Function: Sync {
    fn signature(&self) -> &'static Signature;
    /// Validates `config` (keys already resolved to parameter names; unknown keys already
    /// reported by the caller) and returns every problem, not the first.
    fn compile(
        &self,
        config: &Map<String, Value>,
        ctx: &CompileContext<'_>,
    ) -> Result<Box<dyn Transform>, Vec<ConfigError>>;
}

impl Returns {
    pub fn describe(self) -> &'static str {
        match self {
            Returns::String => "a string",
            Returns::Number => "a number",
            Returns::Boolean => "a boolean",
            Returns::Date => "a date (an RFC 3339 UTC string with milliseconds)",
            Returns::Array => "an array",
            Returns::Same => "a value of the input's type",
            Returns::Any => "any value",
        }
    }
}

/// The rate table the `currency_convert` examples use.
pub const EXAMPLE_RATES: &str = "rates USD { EUR: 0.92, GBP: 0.79, JPY: 151.2 }";
/// The record and task config the `custom` examples run with.
pub const EXAMPLE_RECORD: &str = r#"{"Id": "003A", "FirstName": "Ada", "Amount": 5000}"#;
pub const EXAMPLE_TASK: &str = r#"{"industry": "banking"}"#;

/// docs/functions.md, generated from the signatures.
pub fn reference_markdown() -> String {
    use std::fmt::Write;

    let categories = [
        Category::String,
        Category::Number,
        Category::Date,
        Category::Conversion,
        Category::Custom,
    ];
    let mut out = String::new();
    out.push_str("# Transformations\n\n");
    out.push_str("<!-- Generated from src/functions/ by `functions::reference_markdown`; do not edit. -->\n\n");
    let _ = writeln!(
        out,
        "`Field | name(args)` applies a transformation; `Field | a | b` applies several in order \
         (see docs/language.md). Arguments are given by position, in the order of each parameter \
         table, or by name with the spec's config keys: `truncate(100)` and \
         `truncate(maxLength: 100)` are the same. A transformation without arguments may omit \
         the parentheses.\n\n\
         A null or missing value passes through every transformation as null. A transformation \
         that cannot succeed fails the record (it is reported with the field and the reason) and \
         the run goes on. A bad configuration (a missing argument, an invalid regular \
         expression, date format or script, an unknown currency) is reported by `cmap check`.\n\n\
         The {} transformations of the spec's `TransformationType`, by category:\n",
        ALL.len()
    );
    for category in categories {
        let names: Vec<String> = ALL
            .iter()
            .map(|f| f.signature())
            .filter(|s| s.category == category)
            .map(|s| format!("[`{0}`](#{0})", s.name))
            .collect();
        let _ = writeln!(out, "- {}: {}", category.title(), names.join(", "));
    }
    for category in categories {
        let _ = write!(out, "\n## {}\n", category.title());
        for sig in ALL
            .iter()
            .map(|f| f.signature())
            .filter(|s| s.category == category)
        {
            write_function(&mut out, sig);
        }
    }
    out
}

fn write_function(out: &mut String, sig: &Signature) {
    use std::fmt::Write;

    let _ = write!(
        out,
        "\n### {}\n\n{}\n\n{}\n\n",
        sig.name, sig.summary, sig.docs
    );
    if sig.params.is_empty() {
        out.push_str("No parameters.\n\n");
    } else {
        out.push_str("| # | parameter | type | required | description |\n|---|---|---|---|---|\n");
        for (i, p) in sig.params.iter().enumerate() {
            let _ = writeln!(
                out,
                "| {} | `{}` | {} | {} | {} |",
                i + 1,
                p.name,
                p.kind.describe(),
                if p.required { "yes" } else { "no" },
                cell(p.docs)
            );
        }
        out.push('\n');
    }
    let _ = write!(out, "Returns {}.\n\n", sig.returns.describe());
    out.push_str("| example | `.cmap` | input | output |\n|---|---|---|---|\n");
    for ex in sig.examples {
        let config: Map<String, Value> = serde_json::from_str(ex.config).unwrap_or_default();
        let call = format!("Field | {}", args::call_form(sig, &config, false));
        let input = compact(ex.input);
        let output = match ex.output {
            Ok(json) => format!("`{}`", compact(json)),
            Err(message) => format!("error: {}", cell(message)),
        };
        let _ = writeln!(
            out,
            "| {} | `{}` | `{}` | {} |",
            cell(ex.title),
            cell(&call),
            cell(&input),
            output.replace('|', "\\|")
        );
    }
}

/// JSON text in its compact form (`[1, 2]` → `[1,2]`), as the output column shows it.
fn compact(json: &str) -> String {
    serde_json::from_str::<Value>(json).map_or_else(|_| json.to_string(), |v| v.to_string())
}

/// Text safe inside a markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sandbox::Sandbox;

    pub(crate) fn rates() -> Rates {
        let rates = [("EUR", 0.92), ("GBP", 0.79), ("USD", 1.0), ("JPY", 151.2)];
        Rates {
            base: "USD".to_string(),
            rates: rates.iter().map(|(c, r)| (c.to_string(), *r)).collect(),
        }
    }

    /// Compiles `config` for `function` and applies it to `input`: `Ok(output JSON)` or
    /// `Err(every message)`.
    pub(crate) fn run(
        function: &dyn Function,
        input: &Value,
        config: &Map<String, Value>,
    ) -> Result<String, String> {
        let rates = rates();
        let sandbox = Sandbox::new();
        let ctx = CompileContext {
            rates: &rates,
            sandbox: &sandbox,
        };
        let transform = function.compile(config, &ctx).map_err(|errors| {
            errors
                .iter()
                .map(|e| e.message.clone())
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        let record: Value = serde_json::from_str(EXAMPLE_RECORD).unwrap_or_default();
        let task: Map<String, Value> = serde_json::from_str(EXAMPLE_TASK).unwrap_or_default();
        let env = Env {
            record: &record,
            task: &task,
        };
        transform
            .apply(input.clone(), &env)
            .map(|v| v.to_string())
            .map_err(|e| e.message)
    }

    /// `name(config) of input`, written `ok OUTPUT` or `err MESSAGE`.
    pub(crate) fn check(name: &str, config: &str, input: &str, expect: expect_test::Expect) {
        let actual = match (
            lookup(name),
            serde_json::from_str::<Map<String, Value>>(config),
            serde_json::from_str::<Value>(input),
        ) {
            (Some(f), Ok(config), Ok(input)) => match run(f, &input, &config) {
                Ok(out) => format!("ok {out}"),
                Err(e) => format!("err {e}"),
            },
            (f, config, input) => format!(
                "bad test: {:?} {config:?} {input:?}",
                f.map(|f| f.signature().name)
            ),
        };
        expect.assert_eq(&actual);
    }

    #[test]
    fn examples() {
        let mut failures = Vec::new();
        for f in all() {
            let sig = f.signature();
            for ex in sig.examples {
                let config = serde_json::from_str::<Map<String, Value>>(ex.config);
                let input = serde_json::from_str::<Value>(ex.input);
                let (Ok(config), Ok(input)) = (config, input) else {
                    failures.push(format!(
                        "{} / {}: the input or config is not JSON",
                        sig.name, ex.title
                    ));
                    continue;
                };
                let actual = run(*f, &input, &config);
                let ok = match (&actual, ex.output) {
                    // Both sides through the same parser: serde_json's float parsing is
                    // not always exact, and docs show the expected text.
                    (Ok(out), Ok(expected)) => {
                        let expected = serde_json::from_str::<Value>(expected);
                        expected.is_ok() && expected.ok() == serde_json::from_str::<Value>(out).ok()
                    }
                    (Err(message), Err(expected)) => message.contains(expected),
                    _ => false,
                };
                if !ok {
                    failures.push(format!(
                        "{} / {}: expected {:?}, got {actual:?}",
                        sig.name, ex.title, ex.output
                    ));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn signatures_are_complete() {
        let mut problems = Vec::new();
        let mut names = std::collections::BTreeSet::new();
        for f in all() {
            let sig = f.signature();
            if !names.insert(sig.name) {
                problems.push(format!("{}: listed twice", sig.name));
            }
            if !(2..=5).contains(&sig.examples.len()) {
                problems.push(format!(
                    "{}: {} examples, want 2 to 5",
                    sig.name,
                    sig.examples.len()
                ));
            }
            if sig.summary.is_empty()
                || sig.docs.is_empty()
                || sig.params.iter().any(|p| p.docs.is_empty())
            {
                problems.push(format!("{}: missing docs", sig.name));
            }
            let fails = sig.examples.iter().any(|e| e.output.is_err());
            if !fails && !matches!(sig.name, "to_string" | "to_array") {
                problems.push(format!("{}: no error example", sig.name));
            }
        }
        assert_eq!(names.len(), 23);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn registry() {
        assert_eq!(all().first().map(|f| f.signature().name), Some("uppercase"));
        assert_eq!(all().last().map(|f| f.signature().name), Some("custom"));
        assert_eq!(
            param_names("regex_replace"),
            Some(vec!["pattern", "replace"])
        );
        assert_eq!(param_names("split"), Some(vec!["separator", "index"]));
        assert_eq!(param_names("trim"), Some(vec![]));
        assert_eq!(param_names("upcase"), None);
        assert!(lookup("currency_convert").is_some());
    }

    #[test]
    fn custom_reports_whether_it_reads_the_record() {
        let rates = rates();
        let sandbox = Sandbox::new();
        let ctx = CompileContext {
            rates: &rates,
            sandbox: &sandbox,
        };
        let reads = |expr: &str| {
            let config: Map<String, Value> = [("expression".to_string(), Value::from(expr))]
                .into_iter()
                .collect();
            lookup("custom").map(|f| {
                f.compile(&config, &ctx)
                    .map(|t| t.reads_record())
                    .is_ok_and(|r| r)
            })
        };
        assert_eq!(reads("record.Id + value"), Some(true));
        assert_eq!(reads("value * 2"), Some(false));
        let trim = lookup("trim").map(|f| {
            f.compile(&Map::new(), &ctx)
                .map(|t| t.reads_record())
                .is_ok_and(|r| r)
        });
        assert_eq!(trim, Some(false));
    }

    #[test]
    fn reference_is_up_to_date() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/functions.md");
        let expected = reference_markdown();
        if std::env::var_os("UPDATE_EXPECT").is_some() {
            let written = std::fs::write(&path, &expected);
            assert!(
                written.is_ok(),
                "cannot write {}: {written:?}",
                path.display()
            );
        }
        let actual = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            actual == expected,
            "docs/functions.md is out of date; regenerate it with UPDATE_EXPECT=1 cargo test --lib functions"
        );
    }
}
