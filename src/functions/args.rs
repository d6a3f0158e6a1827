//! Reading a transformation's config against its signature, collecting every problem.
//!
//! Each getter checks one key and records a [`ConfigError`] (missing key, wrong type)
//! instead of stopping, so `compile` reports all problems of a call at once. Help texts
//! are written from the signature: a missing key's help shows the call with the values
//! of the function's first example.

use serde_json::{Map, Value};

use super::{describe, ConfigError, Param, ParamKind, Signature};
use crate::diagnostics::Code;

pub(crate) struct Args<'a> {
    sig: &'static Signature,
    config: &'a Map<String, Value>,
    pub errors: Vec<ConfigError>,
}

impl<'a> Args<'a> {
    pub fn new(sig: &'static Signature, config: &'a Map<String, Value>) -> Args<'a> {
        Args {
            sig,
            config,
            errors: Vec::new(),
        }
    }

    /// A required string.
    pub fn string(&mut self, key: &'static str) -> Option<String> {
        let v = self.required(key)?;
        self.as_string(key, v)
    }

    /// An optional string; absent and null both mean "not given".
    pub fn opt_string(&mut self, key: &'static str) -> Option<String> {
        let v = self.optional(key)?;
        self.as_string(key, v)
    }

    /// A required whole number. `10.0` counts; `10.5` and `"10"` do not.
    pub fn integer(&mut self, key: &'static str) -> Option<i64> {
        let v = self.required(key)?;
        match v.as_i64().or_else(|| {
            v.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }) {
            Some(i) => Some(i),
            None => {
                self.wrong_type(key, v);
                None
            }
        }
    }

    /// A required number (integer or not).
    pub fn number(&mut self, key: &'static str) -> Option<serde_json::Number> {
        let v = self.required(key)?;
        match v {
            Value::Number(n) => Some(n.clone()),
            _ => {
                self.wrong_type(key, v);
                None
            }
        }
    }

    /// Records a problem found by the function itself (a bad regex, a zero that makes
    /// no sense).
    pub fn error(&mut self, code: Code, key: &'static str, message: String, help: Option<String>) {
        self.errors.push(ConfigError {
            code,
            param: key,
            message,
            help,
        });
    }

    /// The transform when every key was read without a problem, else every problem.
    pub fn finish<T>(self, built: Option<T>) -> Result<T, Vec<ConfigError>> {
        match built {
            Some(t) if self.errors.is_empty() => Ok(t),
            _ => Err(self.errors),
        }
    }

    /// The `.cmap` form of the call with this key's example value, for help texts.
    pub fn example_call(&self) -> String {
        call_form(self.sig, &example_config(self.sig), true)
    }

    fn required(&mut self, key: &'static str) -> Option<&'a Value> {
        match self.config.get(key) {
            Some(v) if !v.is_null() => Some(v),
            Some(v) => {
                self.wrong_type(key, v);
                None
            }
            None => {
                let message = format!("`{}` needs `{key}`", self.sig.name);
                let help = Some(format!("write `{}`", self.example_call()));
                self.errors.push(ConfigError {
                    code: Code::MissingConfig,
                    param: key,
                    message,
                    help,
                });
                None
            }
        }
    }

    fn optional(&mut self, key: &'static str) -> Option<&'a Value> {
        self.config.get(key).filter(|v| !v.is_null())
    }

    fn as_string(&mut self, key: &'static str, v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            _ => {
                self.wrong_type(key, v);
                None
            }
        }
    }

    fn wrong_type(&mut self, key: &'static str, found: &Value) {
        let kind = self.param(key).map_or(ParamKind::Any, |p| p.kind);
        let message = format!(
            "`{key}` must be {}, found {}",
            kind.describe(),
            describe(found)
        );
        let help = match (kind, found) {
            // The value was quoted: show it unquoted.
            (ParamKind::Integer | ParamKind::Number, Value::String(s))
                if s.trim().parse::<f64>().is_ok() =>
            {
                let n = s.trim();
                let ok = kind == ParamKind::Number || n.parse::<i64>().is_ok();
                ok.then(|| format!("write `{key}: {n}`"))
            }
            // A number or boolean where text is expected: quote it.
            (k, Value::Number(_) | Value::Bool(_)) if is_textual(k) => Some(format!(
                "write `{key}: {}`",
                Value::String(found.to_string())
            )),
            _ => None,
        };
        let help = help
            .or_else(|| example_value(self.sig, key).map(|v| format!("for example `{key}: {v}`")));
        self.errors.push(ConfigError {
            code: Code::ConfigType,
            param: key,
            message,
            help,
        });
    }

    fn param(&self, key: &str) -> Option<&'static Param> {
        self.sig.params.iter().find(|p| p.name == key)
    }
}

fn is_textual(kind: ParamKind) -> bool {
    matches!(
        kind,
        ParamKind::String
            | ParamKind::Regex
            | ParamKind::DateFormat
            | ParamKind::Currency
            | ParamKind::Script
    )
}

/// The value the signature's examples give `key`, as JSON text.
fn example_value(sig: &Signature, key: &str) -> Option<String> {
    sig.examples.iter().find_map(|ex| {
        let config: Map<String, Value> = serde_json::from_str(ex.config).ok()?;
        config.get(key).map(|v| v.to_string())
    })
}

/// A config with every required parameter, filled from the examples.
fn example_config(sig: &Signature) -> Map<String, Value> {
    sig.params
        .iter()
        .filter(|p| p.required)
        .map(|p| {
            let v = example_value(sig, p.name)
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or_else(|| placeholder(p.kind));
            (p.name.to_string(), v)
        })
        .collect()
}

fn placeholder(kind: ParamKind) -> Value {
    match kind {
        ParamKind::Number | ParamKind::Integer => Value::from(1),
        ParamKind::Boolean => Value::Bool(true),
        _ => Value::String("...".to_string()),
    }
}

/// The `.cmap` form of a call: positional when the given keys are the first
/// parameters in order (`truncate(10)`), named otherwise (`concat(suffix: "%")`), or
/// always named when `named` is set.
pub(crate) fn call_form(sig: &Signature, config: &Map<String, Value>, named: bool) -> String {
    let given: Vec<&Param> = sig
        .params
        .iter()
        .filter(|p| config.contains_key(p.name))
        .collect();
    if given.is_empty() {
        return sig.name.to_string();
    }
    let positional = !named && given.iter().zip(sig.params).all(|(g, p)| g.name == p.name);
    let args: Vec<String> = given
        .iter()
        .map(|p| {
            let v = config.get(p.name).map_or_else(String::new, literal);
            if positional {
                v
            } else {
                format!("{}: {v}", p.name)
            }
        })
        .collect();
    format!("{}({})", sig.name, args.join(", "))
}

/// A JSON value as a `.cmap` literal: JSON, with `$` escaped in strings so that no
/// argument reads as a composite template.
fn literal(v: &Value) -> String {
    match v {
        Value::String(s) => Value::String(s.clone()).to_string().replace("${", "\\${"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::lookup;
    use expect_test::{expect, Expect};

    fn check(function: &str, config: &str, expect: Expect) {
        let config: Map<String, Value> = serde_json::from_str(config).unwrap_or_default();
        let rates = crate::functions::tests::rates();
        let sandbox = crate::sandbox::Sandbox::new();
        let ctx = crate::functions::CompileContext {
            rates: &rates,
            sandbox: &sandbox,
        };
        let actual = match lookup(function).map(|f| f.compile(&config, &ctx)) {
            None => "unknown function".to_string(),
            Some(Ok(_)) => "ok".to_string(),
            Some(Err(errors)) => errors
                .iter()
                .map(|e| {
                    format!(
                        "{} {}: {}\n  help: {}",
                        e.code.as_str(),
                        e.param,
                        e.message,
                        e.help.as_deref().unwrap_or("-")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
        };
        expect.assert_eq(&actual);
    }

    #[test]
    fn reports_every_problem() {
        check(
            "replace",
            "{}",
            expect![[r#"
                E0201 search: `replace` needs `search`
                  help: write `replace(search: " ", replace: "")`
                E0201 replace: `replace` needs `replace`
                  help: write `replace(search: " ", replace: "")`"#]],
        );
        check(
            "truncate",
            r#"{"maxLength": "10"}"#,
            expect![[r#"
                E0202 maxLength: `maxLength` must be an integer, found string "10"
                  help: write `maxLength: 10`"#]],
        );
        check(
            "truncate",
            r#"{"maxLength": 2.5}"#,
            expect![[r#"
                E0202 maxLength: `maxLength` must be an integer, found number 2.5
                  help: for example `maxLength: 5`"#]],
        );
        check(
            "split",
            r#"{"separator": 5, "index": null}"#,
            expect![[r#"
                E0202 separator: `separator` must be a string, found number 5
                  help: write `separator: "5"`
                E0202 index: `index` must be an integer, found null
                  help: for example `index: 0`"#]],
        );
        check("truncate", r#"{"maxLength": 10.0}"#, expect!["ok"]);
        check("concat", r#"{"prefix": null}"#, expect!["ok"]);
    }

    #[test]
    fn call_forms() {
        let sig = lookup("concat").map(|f| f.signature());
        let form = |config: &str| {
            let config: Map<String, Value> = serde_json::from_str(config).unwrap_or_default();
            sig.map(|s| call_form(s, &config, false))
                .unwrap_or_default()
        };
        assert_eq!(form("{}"), "concat");
        assert_eq!(form(r#"{"prefix": "+"}"#), r#"concat("+")"#);
        assert_eq!(form(r#"{"suffix": "%"}"#), r#"concat(suffix: "%")"#);
        assert_eq!(
            form(r#"{"prefix": "${", "suffix": "}"}"#),
            r#"concat("\${", "}")"#
        );
    }
}
