//! Reading dates for comparisons (`CloseDate > "2026-01-01"`): which strings look like
//! dates, and the instant they name.
//!
//! The accepted forms are the ones `to_date` accepts: RFC 3339 / ISO 8601 with or
//! without time and offset (`+0000` as Salesforce writes it), RFC 2822, and epoch
//! milliseconds (numbers). A date without time is midnight UTC; a time without offset
//! is UTC.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;

/// A cheap test run before any parsing, so that comparing plain words never pays for a
/// date parse: `YYYY-MM-DD...` or an RFC 2822 weekday (`Tue, 31 Mar 2026 ...`).
pub(crate) fn looks_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    let iso = b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit);
    let rfc2822 = b.len() >= 16 && b[..3].iter().all(u8::is_ascii_alphabetic) && b[3] == b',';
    iso || rfc2822
}

/// The instant a value names: a date string in one of the accepted forms, or a number
/// of epoch milliseconds.
pub(crate) fn parse(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::String(s) => parse_str(s.trim()),
        Value::Number(n) => {
            let ms = n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            })?;
            DateTime::from_timestamp_millis(ms)
        }
        _ => None,
    }
}

fn parse_str(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    // ISO 8601 forms RFC 3339 does not cover: `+0000` offsets, no offset, no time.
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(d) = DateTime::parse_from_str(s, format) {
            return Some(d.with_timezone(&Utc));
        }
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(s, format) {
            return Some(d.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|d| d.and_utc());
    }
    DateTime::parse_from_rfc2822(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}
