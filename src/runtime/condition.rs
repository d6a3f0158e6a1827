//! Conditions (`{ field, operator, value }`): source filters and conditional rules.
//!
//! A missing or null field makes every operator false except `not_exists`. Otherwise:
//!
//! - `eq` / `neq`: numbers compare as numbers (`1 == 1.0`), two strings that both read
//!   as dates compare as instants (`2026-03-31` equals `2026-03-31T00:00:00Z`), anything
//!   else compares as JSON.
//! - `gt` / `gte` / `lt` / `lte`: two numbers compare as numbers; when one side is a
//!   string that looks like a date (`YYYY-MM-DD...` or RFC 2822, `Tue, 31 Mar ...` or
//!   `31 Mar ...`) and both
//!   sides read as dates ([`parse_any`]: a number is epoch milliseconds),
//!   chronologically; two strings, lexicographically (by code point);
//!   any other pair is false.
//! - `contains`: a substring of a string, or an element (by `eq`) of an array.
//! - `starts_with` / `ends_with`: strings only.
//! - `in` / `not_in`: the value is an array; membership by `eq`.
//! - `exists` / `not_exists`: present and not null / missing or null.

use std::cmp::Ordering;

use serde_json::Value;

use crate::compile::ir::{Condition, Op};
use crate::functions::date::parse_any;

/// Whether `condition` holds for `record`.
pub fn holds(condition: &Condition, record: &Value) -> bool {
    let field = match condition.field.get(record) {
        Some(Value::Null) | None => return condition.op == Op::NotExists,
        Some(v) => v,
    };
    let value = &condition.value;
    match condition.op {
        Op::Exists => true,
        Op::NotExists => false,
        Op::Eq => equal(field, value),
        Op::Neq => !equal(field, value),
        Op::Gt => order(field, value) == Some(Ordering::Greater),
        Op::Gte => matches!(
            order(field, value),
            Some(Ordering::Greater | Ordering::Equal)
        ),
        Op::Lt => order(field, value) == Some(Ordering::Less),
        Op::Lte => matches!(order(field, value), Some(Ordering::Less | Ordering::Equal)),
        Op::Contains => match (field, value) {
            (Value::String(s), Value::String(sub)) => s.contains(sub.as_str()),
            (Value::Array(items), v) => items.iter().any(|item| equal(item, v)),
            _ => false,
        },
        Op::StartsWith => match (field, value) {
            (Value::String(s), Value::String(p)) => s.starts_with(p.as_str()),
            _ => false,
        },
        Op::EndsWith => match (field, value) {
            (Value::String(s), Value::String(p)) => s.ends_with(p.as_str()),
            _ => false,
        },
        Op::In => member(field, value),
        Op::NotIn => !member(field, value),
    }
}

/// The condition in words, for skip reasons and `--explain`: `StageName in ["A","B"]`,
/// `Email exists`.
pub fn describe(condition: &Condition) -> String {
    match condition.op {
        Op::Exists | Op::NotExists => format!("{} {}", condition.field.raw, condition.op.as_str()),
        op => format!(
            "{} {} {}",
            condition.field.raw,
            op.as_str(),
            condition.value
        ),
    }
}

/// `eq`: numbers by value, date strings by instant, the rest as JSON.
pub(crate) fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            // Integers compare exactly (ids beyond 2^53 stay distinct); mixed forms by f64.
            match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                (Some(x), Some(y), _, _) => x == y,
                (_, _, Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            }
        }
        (Value::String(x), Value::String(y)) => {
            x == y || (looks_like_date(x) && looks_like_date(y) && same_instant(a, b))
        }
        _ => a == b,
    }
}

fn same_instant(a: &Value, b: &Value) -> bool {
    match (parse_any(a), parse_any(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

fn member(field: &Value, list: &Value) -> bool {
    match list {
        Value::Array(items) => items.iter().any(|item| equal(field, item)),
        // The compiler makes `in` values arrays; a scalar is read as a one-element list.
        other => equal(field, other),
    }
}

/// The order of two values for `gt`/`gte`/`lt`/`lte`, `None` when they do not compare.
pub(crate) fn order(a: &Value, b: &Value) -> Option<Ordering> {
    if let (Value::Number(x), Value::Number(y)) = (a, b) {
        if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
            return Some(x.cmp(&y));
        }
        return x.as_f64()?.partial_cmp(&y.as_f64()?);
    }
    let date_like = |v: &Value| matches!(v, Value::String(s) if looks_like_date(s));
    if date_like(a) || date_like(b) {
        if let (Some(x), Some(y)) = (parse_any(a), parse_any(b)) {
            return Some(x.cmp(&y));
        }
    }
    match (a, b) {
        (Value::String(x), Value::String(y)) => Some(x.as_str().cmp(y.as_str())),
        _ => None,
    }
}

/// A cheap test run before any date parsing, so that comparing plain words never pays
/// for one: `YYYY-MM-DD...`, an RFC 2822 weekday (`Tue, 31 Mar 2026 ...`), or an RFC 2822
/// date without one (`31 Mar 2026 ...`, `1 Mar 26 ...`), as the date reader takes them.
fn looks_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    let iso = b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit);
    let rfc2822 = b.len() >= 16 && b[..3].iter().all(u8::is_ascii_alphabetic) && b[3] == b',';
    // `D Mon YY...` or `DD Mon YY...`.
    let day = b.iter().take_while(|c| c.is_ascii_digit()).count();
    let rest = &b[day..];
    let no_weekday = (1..=2).contains(&day)
        && rest.len() >= 7
        && rest[0] == b' '
        && rest[1..4].iter().all(u8::is_ascii_alphabetic)
        && rest[4] == b' '
        && rest[5..7].iter().all(u8::is_ascii_digit);
    iso || rfc2822 || no_weekday
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Dates in the forms the date reader takes compare as instants, whichever form each
    /// side is in; words never parse as dates.
    #[test]
    fn dates_in_any_read_form_compare_as_instants() {
        let cases = [
            (
                json!("2026-03-31"),
                json!("Tue, 31 Mar 2026 00:00:00 UTC"),
                Some(Ordering::Equal),
            ),
            (
                json!("31 Mar 2026 10:00 UTC"),
                json!("2026-03-31T09:00:00Z"),
                Some(Ordering::Greater),
            ),
            (
                json!("1 Apr 26 00:00 GMT"),
                json!("2026-03-31T23:59:00Z"),
                Some(Ordering::Greater),
            ),
            (
                json!("5 Jan 2027 10:00 EST"),
                json!("6 Jan 2026 10:00 EST"),
                Some(Ordering::Greater),
            ),
            (
                json!("1 Apr 2026 00:00 GMT"),
                json!("01 Apr 2026 02:00:00 +0200"),
                Some(Ordering::Equal),
            ),
            (json!("apple"), json!("banana"), Some(Ordering::Less)),
            (json!("10 apples"), json!("9 apples"), Some(Ordering::Less)),
        ];
        for (a, b, want) in cases {
            assert_eq!(order(&a, &b), want, "{a} vs {b}");
        }
    }
}
