//! Validation rules (`validate email, max_length(254), pattern("^\\+")`).

use regex::Regex;
use serde_json::Value;

use super::{unknown_name, Sx};
use crate::compile::ir;
use crate::compile::types::Ty;
use crate::diagnostics::{Code, Diagnostic};
use crate::syntax::ast;

const VALIDATION_RULES: &[&str] = &[
    "required",
    "pattern",
    "min",
    "max",
    "min_length",
    "max_length",
    "one_of",
    "email",
    "url",
];

impl Sx<'_, '_> {
    pub(super) fn validation(&mut self, v: &ast::Validation) -> Option<ir::Validation> {
        use ir::ValidationRule as R;
        let rule = v.rule.node.as_str();
        let value = v.value.as_ref().filter(|l| !l.node.is_null());
        let wrong = |expected: &str, example: &str| {
            let d = match value {
                Some(l) => Diagnostic::new(
                    Code::ConfigType,
                    l.span,
                    format!("`{rule}` needs {expected}"),
                )
                .with_label(format!("this is {}", Ty::of_value(&l.node).describe())),
                None => Diagnostic::new(
                    Code::MissingConfig,
                    v.span,
                    format!("`{rule}` needs {expected}"),
                )
                .with_label("no value given"),
            };
            d.with_help(format!("write `{example}`"))
        };
        let parsed = match rule {
            "required" | "email" | "url" => match value {
                None => Ok(match rule {
                    "required" => R::Required,
                    "email" => R::Email,
                    _ => R::Url,
                }),
                Some(l) => Err(Diagnostic::new(
                    Code::ConfigType,
                    l.span,
                    format!("`{rule}` takes no value"),
                )
                .with_label("unexpected value")
                .with_help(format!("write `validate {rule}`"))),
            },
            "pattern" => match value.map(|l| (&l.node, l.span)) {
                Some((Value::String(p), span)) => Regex::new(p).map(R::Pattern).map_err(|e| {
                    Diagnostic::new(
                        Code::InvalidRegex,
                        span,
                        "invalid regular expression in `pattern`",
                    )
                    .with_label(
                        e.to_string()
                            .lines()
                            .last()
                            .unwrap_or("invalid")
                            .trim()
                            .trim_start_matches("error: ")
                            .to_string(),
                    )
                    .with_help(
                        "fix the regex (regex crate syntax); escape special characters with `\\\\`",
                    )
                }),
                _ => Err(wrong("a regular expression string", "pattern(\"^[A-Z]\")")),
            },
            "min" | "max" => match value.and_then(|l| l.node.as_f64()) {
                Some(n) => Ok(if rule == "min" { R::Min(n) } else { R::Max(n) }),
                None => Err(wrong("a number", &format!("{rule}(0)"))),
            },
            "min_length" | "max_length" => match value
                .and_then(|l| l.node.as_u64())
                .and_then(|n| usize::try_from(n).ok())
            {
                Some(n) => Ok(if rule == "min_length" {
                    R::MinLength(n)
                } else {
                    R::MaxLength(n)
                }),
                None => Err(wrong("a non-negative integer", &format!("{rule}(254)"))),
            },
            "one_of" => match value.map(|l| &l.node) {
                Some(Value::Array(items)) => Ok(R::OneOf(items.clone())),
                _ => Err(wrong(
                    "an array of allowed values",
                    "one_of([\"a\", \"b\"])",
                )),
            },
            other => Err(unknown_name(
                Code::UnknownValidation,
                v.rule.span,
                "validation rule",
                other,
                VALIDATION_RULES,
            )),
        };
        match parsed {
            Ok(rule) => Some(ir::Validation {
                rule,
                message: v.message.as_ref().map(|m| m.node.clone()),
            }),
            Err(d) => {
                self.push(d);
                None
            }
        }
    }
}
