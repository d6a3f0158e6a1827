//! `required` and `validate` rules, checked on a field's final value.
//!
//! A null value passes every rule but `required`. The rules:
//!
//! - `required`: not null, `""` or `[]`.
//! - `pattern(re)`: a string (numbers and booleans as their text) in which `re` finds a
//!   match (anchor it with `^...$` to match the whole value).
//! - `min(n)` / `max(n)`: a number `>= n` / `<= n`.
//! - `min_length(n)` / `max_length(n)`: a string's length in Unicode characters, or an
//!   array's number of elements.
//! - `one_of([..])`: equal (numbers by value) to one of the listed values.
//! - `email`: a string `local@domain` with no whitespace, exactly one `@`, a non-empty
//!   local part, and a domain of at least two non-empty dot-separated labels
//!   (`ada@example.com`; not `ada@localhost`, not `a@b@c.com`).
//! - `url`: a string `http://` or `https://` (any case) followed by a non-empty host and
//!   no whitespace anywhere.

use serde_json::Value;

use super::condition::equal;
use crate::compile::ir::{Validation, ValidationRule};

/// Null, `""` and `[]`: what `required` rejects.
pub(crate) fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// `Err(message)` when `value` breaks the rule; the rule's own message replaces ours.
pub(crate) fn check(validation: &Validation, value: &Value) -> Result<(), String> {
    match rule_holds(&validation.rule, value) {
        Ok(()) => Ok(()),
        Err(ours) => Err(validation.message.clone().unwrap_or(ours)),
    }
}

fn rule_holds(rule: &ValidationRule, value: &Value) -> Result<(), String> {
    if let ValidationRule::Required = rule {
        return if is_empty(value) {
            Err("a value is required".into())
        } else {
            Ok(())
        };
    }
    if value.is_null() {
        return Ok(());
    }
    match rule {
        ValidationRule::Required => Ok(()),
        ValidationRule::Pattern(re) => {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => {
                    return Err(format!(
                        "{} is {}, not text the pattern can match",
                        short(other),
                        kind(other)
                    ))
                }
            };
            if re.is_match(&text) {
                Ok(())
            } else {
                Err(format!(
                    "{} does not match the pattern `{}`",
                    short(value),
                    re.as_str()
                ))
            }
        }
        ValidationRule::Min(min) => match value.as_f64() {
            Some(n) if n >= *min => Ok(()),
            Some(_) => Err(format!("{} is less than the minimum {min}", short(value))),
            None => Err(format!("{} is {}, not a number", short(value), kind(value))),
        },
        ValidationRule::Max(max) => match value.as_f64() {
            Some(n) if n <= *max => Ok(()),
            Some(_) => Err(format!("{} is more than the maximum {max}", short(value))),
            None => Err(format!("{} is {}, not a number", short(value), kind(value))),
        },
        ValidationRule::MinLength(min) => match length(value) {
            Some(n) if n >= *min => Ok(()),
            Some(n) => Err(format!(
                "{} has length {n}, less than the minimum {min}",
                short(value)
            )),
            None => Err(format!(
                "{} is {} and has no length",
                short(value),
                kind(value)
            )),
        },
        ValidationRule::MaxLength(max) => match length(value) {
            Some(n) if n <= *max => Ok(()),
            Some(n) => Err(format!(
                "{} has length {n}, more than the maximum {max}",
                short(value)
            )),
            None => Err(format!(
                "{} is {} and has no length",
                short(value),
                kind(value)
            )),
        },
        ValidationRule::OneOf(allowed) => {
            if allowed.iter().any(|a| equal(value, a)) {
                Ok(())
            } else {
                Err(format!(
                    "{} is not one of {}",
                    short(value),
                    Value::Array(allowed.clone())
                ))
            }
        }
        ValidationRule::Email => match value {
            Value::String(s) if is_email(s) => Ok(()),
            _ => Err(format!("{} is not an email address", short(value))),
        },
        ValidationRule::Url => match value {
            Value::String(s) if is_url(s) => Ok(()),
            _ => Err(format!("{} is not an http(s) URL", short(value))),
        },
    }
}

fn length(value: &Value) -> Option<usize> {
    match value {
        Value::String(s) => Some(s.chars().count()),
        Value::Array(a) => Some(a.len()),
        _ => None,
    }
}

fn is_email(s: &str) -> bool {
    if s.chars().any(char::is_whitespace) {
        return false;
    }
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && domain.split('.').all(|label| !label.is_empty())
}

fn is_url(s: &str) -> bool {
    let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        s.get(8..)
    } else if lower.starts_with("http://") {
        s.get(7..)
    } else {
        None
    };
    let Some(rest) = rest else { return false };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    !host.is_empty() && !s.chars().any(char::is_whitespace)
}

/// The value for a message, cut short so a large value cannot flood an error line.
fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 60 {
        text
    } else {
        let cut: String = text.chars().take(57).collect();
        format!("{cut}...")
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
