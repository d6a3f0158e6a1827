//! Dates: reading every date form a source sends, and the one form cmap writes.
//!
//! Read: RFC 3339 / ISO 8601 (`2026-03-31T08:00:00.000Z`, with or without time, offsets
//! `Z`, `+00:00`, `+0000` or `+00` as Salesforce and others write them, fractional
//! seconds, `T` or a space between date and time), RFC 2822 (`Tue, 31 Mar 2026 08:00:00
//! GMT`, as RSS writes it), and epoch milliseconds (a number, or a string of digits).
//! A date without time is midnight UTC; a time without offset is UTC.
//!
//! Written: RFC 3339 in UTC with milliseconds and `Z` (`2026-03-31T00:00:00.000Z`). The
//! transformations and the runtime's date comparisons both go through this module.

use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat, Utc};
use serde_json::Value;

use super::args::Args;
use super::{describe, TransformError};
use crate::diagnostics::Code;

/// What [`parse_any`] accepts, for error messages.
pub const ACCEPTED: &str = "RFC 3339 / ISO 8601, RFC 2822 or epoch milliseconds";

/// Reads a date from a JSON value, or `None` when it is not one of the accepted forms.
pub fn parse_any(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::Number(n) => {
            if let Some(ms) = n.as_i64() {
                DateTime::from_timestamp_millis(ms)
            } else {
                // A float (or a u64 beyond i64): round to the millisecond; a value out of
                // range saturates in the cast and is then refused by chrono.
                let ms = n.as_f64().filter(|f| f.is_finite())?;
                DateTime::from_timestamp_millis(ms.round() as i64)
            }
        }
        Value::String(s) => parse_str(s.trim()),
        _ => None,
    }
}

/// Writes a date the one way cmap writes dates.
pub fn format(dt: &DateTime<Utc>) -> String {
    dt.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// [`parse_any`] for a transformation: a record failure naming the function and value.
pub fn expect_date(function: &str, v: &Value) -> Result<DateTime<Utc>, TransformError> {
    parse_any(v).ok_or_else(|| {
        TransformError::new(format!(
            "`{function}` cannot read {} as a date (expected {ACCEPTED})",
            describe(v)
        ))
    })
}

/// A strftime format compiled once; `None` (with the error recorded) when chrono does
/// not understand it.
pub(crate) fn compile_format(args: &mut Args<'_>, key: &'static str) -> Option<Vec<Item<'static>>> {
    let format = args.string(key)?;
    match StrftimeItems::new(&format).parse_to_owned() {
        Ok(items) => Some(items),
        Err(_) => {
            let message = match bad_specifier(&format) {
                Some(spec) => format!(
                    "invalid date format {:?}: `{spec}` is not a strftime specifier",
                    format
                ),
                None => format!(
                    "invalid date format {:?}: a `%` specifier is unknown or incomplete",
                    format
                ),
            };
            let help = Some(
                "use strftime specifiers such as `%Y-%m-%d %H:%M:%S`; write `%%` for a literal `%`"
                    .to_string(),
            );
            args.error(Code::InvalidDateFormat, key, message, help);
            None
        }
    }
}

/// The first `%X` of a format that chrono refuses, when it is a plain one-letter
/// specifier (flags and widths are not pinned down; the message stays general then).
fn bad_specifier(format: &str) -> Option<String> {
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        match chars.next() {
            None => return Some("%".to_string()),
            Some('%') => {}
            Some(letter) if letter.is_ascii_alphabetic() || !letter.is_ascii() => {
                let spec = format!("%{letter}");
                if StrftimeItems::new(&spec).any(|i| i == Item::Error) {
                    return Some(spec);
                }
            }
            Some(_) => {}
        }
    }
    None
}

/// Reads `s` with compiled format items. With an offset (`%z`) or a timestamp (`%s`)
/// the instant is exact; without, the time is UTC; without any time field, midnight UTC.
pub(crate) fn parse_with(items: &[Item<'static>], s: &str) -> Option<DateTime<Utc>> {
    let mut parsed = Parsed::new();
    chrono::format::parse(&mut parsed, s, items.iter()).ok()?;
    if parsed.offset().is_some() || parsed.timestamp().is_some() {
        return parsed.to_datetime().ok().map(|dt| dt.with_timezone(&Utc));
    }
    let has_time = parsed.hour_div_12().is_some()
        || parsed.hour_mod_12().is_some()
        || parsed.minute().is_some();
    if has_time {
        parsed
            .to_naive_datetime_with_offset(0)
            .ok()
            .map(|dt| dt.and_utc())
    } else {
        parsed
            .to_naive_date()
            .ok()
            .map(|d| d.and_time(NaiveTime::MIN).and_utc())
    }
}

/// Writes a date with compiled format items, in UTC.
pub(crate) fn format_with(items: &[Item<'static>], dt: &DateTime<Utc>) -> Option<String> {
    use std::fmt::Write;
    let mut out = String::new();
    // `write!` rather than `to_string`: chrono's Display errors (an item the value cannot
    // fill) would panic in `to_string`.
    write!(out, "{}", dt.format_with_items(items.iter())).ok()?;
    Some(out)
}

fn parse_str(s: &str) -> Option<DateTime<Utc>> {
    if s.is_empty() {
        return None;
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return DateTime::from_timestamp_millis(s.parse().ok()?);
    }
    if let Some(dt) = parse_iso(s) {
        return Some(dt);
    }
    DateTime::parse_from_rfc2822(s)
        .ok()
        .map(|dt| dt.with_timezone(&Utc))
}

/// `YYYY-MM-DD`, optionally followed by `T` or a space, `HH:MM[:SS[.fff]]` and an
/// optional offset.
fn parse_iso(s: &str) -> Option<DateTime<Utc>> {
    let (date, rest) = (s.get(..10)?, s.get(10..)?);
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    if rest.is_empty() {
        return Some(date.and_time(NaiveTime::MIN).and_utc());
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let (time, offset_seconds) = split_offset(rest)?;
    let time = time.trim_end();
    let time = NaiveTime::parse_from_str(time, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(time, "%H:%M"))
        .ok()?;
    let local = date.and_time(time).and_utc();
    local.checked_sub_signed(chrono::TimeDelta::seconds(i64::from(offset_seconds)))
}

/// Splits a time from its offset: `08:00:00Z`, `08:00:00+02:00`, `08:00:00+0200`,
/// `08:00:00-05`. Returns the offset east of UTC in seconds (0 when there is none).
fn split_offset(rest: &str) -> Option<(&str, i32)> {
    if let Some(time) = rest.strip_suffix(['Z', 'z']) {
        return Some((time, 0));
    }
    let Some(at) = rest.rfind(['+', '-']) else {
        return Some((rest, 0));
    };
    let (time, offset) = rest.split_at(at);
    let sign = if offset.starts_with('-') { -1 } else { 1 };
    let digits: String = offset.get(1..)?.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (hours, minutes) = match digits.len() {
        2 => (digits.parse::<i32>().ok()?, 0),
        4 => (
            digits.get(..2)?.parse::<i32>().ok()?,
            digits.get(2..)?.parse::<i32>().ok()?,
        ),
        _ => return None,
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some((time, sign * (hours * 3600 + minutes * 60)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{expect, Expect};
    use serde_json::json;

    fn check(input: Value, expect: Expect) {
        let actual = parse_any(&input).map_or_else(|| "none".to_string(), |dt| format(&dt));
        expect.assert_eq(&actual);
    }

    #[test]
    fn reads_iso_8601_and_rfc_3339() {
        check(json!("2026-03-31"), expect!["2026-03-31T00:00:00.000Z"]);
        check(
            json!("2026-03-31T08:15:30Z"),
            expect!["2026-03-31T08:15:30.000Z"],
        );
        check(
            json!("2026-03-31T08:15:30.123456Z"),
            expect!["2026-03-31T08:15:30.123Z"],
        );
        check(
            json!("2026-03-31T08:15:30"),
            expect!["2026-03-31T08:15:30.000Z"],
        );
        check(
            json!("2026-03-31 08:15:30"),
            expect!["2026-03-31T08:15:30.000Z"],
        );
        check(
            json!("2026-03-31T08:15"),
            expect!["2026-03-31T08:15:00.000Z"],
        );
        check(
            json!("2026-03-31T08:15:30+02:00"),
            expect!["2026-03-31T06:15:30.000Z"],
        );
        check(
            json!("2026-03-31T08:15:30.000+0000"),
            expect!["2026-03-31T08:15:30.000Z"],
        );
        check(
            json!("2026-03-31T01:00:00.000-0500"),
            expect!["2026-03-31T06:00:00.000Z"],
        );
        check(
            json!("2026-03-31T23:00:00-05"),
            expect!["2026-04-01T04:00:00.000Z"],
        );
        check(json!("  2026-03-31  "), expect!["2026-03-31T00:00:00.000Z"]);
    }

    #[test]
    fn reads_rfc_2822() {
        check(
            json!("Tue, 31 Mar 2026 08:00:00 GMT"),
            expect!["2026-03-31T08:00:00.000Z"],
        );
        check(
            json!("Tue, 31 Mar 2026 08:00:00 +0200"),
            expect!["2026-03-31T06:00:00.000Z"],
        );
        check(
            json!("31 Mar 2026 08:00:00 -0000"),
            expect!["2026-03-31T08:00:00.000Z"],
        );
    }

    #[test]
    fn reads_epoch_milliseconds() {
        check(
            json!(1774915200000_i64),
            expect!["2026-03-31T00:00:00.000Z"],
        );
        check(json!("1774915200000"), expect!["2026-03-31T00:00:00.000Z"]);
        check(json!(1774915200000.4), expect!["2026-03-31T00:00:00.000Z"]);
        check(json!(-1000), expect!["1969-12-31T23:59:59.000Z"]);
        check(json!(0), expect!["1970-01-01T00:00:00.000Z"]);
    }

    #[test]
    fn refuses_what_is_not_a_date() {
        check(json!("yesterday"), expect!["none"]);
        check(json!(""), expect!["none"]);
        check(json!("2026-02-30"), expect!["none"]);
        check(json!("2026-03-31T25:00:00Z"), expect!["none"]);
        check(json!("2026-03-31T08:00:00+25:00"), expect!["none"]);
        check(json!("2026-03-31X08:00"), expect!["none"]);
        check(json!("31/03/2026"), expect!["none"]);
        check(json!("-"), expect!["none"]);
        check(json!("99999999999999999999999"), expect!["none"]);
        check(json!(1e300), expect!["none"]);
        check(json!(true), expect!["none"]);
        check(json!(["2026-03-31"]), expect!["none"]);
        check(
            json!("2026-03-31T08:00:00.000+0000 trailing"),
            expect!["none"],
        );
    }

    #[test]
    fn errors_name_the_function_and_value() {
        let err = expect_date("to_date", &json!("yesterday"))
            .err()
            .map(|e| e.message);
        expect![[r#"Some("`to_date` cannot read string \"yesterday\" as a date (expected RFC 3339 / ISO 8601, RFC 2822 or epoch milliseconds)")"#]]
            .assert_eq(&format!("{err:?}"));
    }
}
