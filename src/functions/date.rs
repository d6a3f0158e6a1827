//! Dates in transformations and comparisons: JSON values read through the one date
//! reader ([`crate::date`]), strftime formats compiled once, and the one form cmap
//! writes.
//!
//! Read: a number is epoch milliseconds (a float is rounded to the millisecond); a string
//! is any form [`crate::date::parse`] reads (RFC 3339 / ISO 8601, RFC 2822 with every
//! zone name RFC 822 and RFC 2822 define, HTTP dates, epoch milliseconds as digits).
//! A date without time is midnight UTC; a time without offset is UTC.
//!
//! Written: RFC 3339 in UTC with milliseconds and `Z` (`2026-03-31T00:00:00.000Z`). The
//! transformations and the runtime's date comparisons both go through this module.

use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{DateTime, NaiveTime, Utc};
use serde_json::Value;

use super::args::Args;
use super::{describe, TransformError};
use crate::date::DateError;
use crate::diagnostics::Code;

pub use crate::date::{format, ACCEPTED};

/// Reads a date from a JSON value, or `None` when it is not one of the accepted forms.
pub fn parse_any(v: &Value) -> Option<DateTime<Utc>> {
    read(v).ok()
}

/// [`parse_any`] with the reason a value is not a date.
fn read(v: &Value) -> Result<DateTime<Utc>, DateError> {
    match v {
        Value::Number(n) => {
            if let Some(ms) = n.as_i64() {
                crate::date::from_epoch_millis(ms)
            } else {
                // A float (or a u64 beyond i64): round to the millisecond; a value out of
                // range saturates in the cast and is then refused by chrono.
                let ms = n
                    .as_f64()
                    .filter(|f| f.is_finite())
                    .ok_or(DateError::OutOfRange)?;
                crate::date::from_epoch_millis(ms.round() as i64)
            }
        }
        Value::String(s) => crate::date::parse(s),
        _ => Err(DateError::Unrecognized),
    }
}

/// [`parse_any`] for a transformation: a record failure naming the function, the value
/// and, when the form was recognised, what is wrong with it.
pub fn expect_date(function: &str, v: &Value) -> Result<DateTime<Utc>, TransformError> {
    read(v).map_err(|e| {
        TransformError::new(match e {
            DateError::Empty | DateError::Unrecognized => format!(
                "`{function}` cannot read {} as a date (expected {ACCEPTED})",
                describe(v)
            ),
            e => format!("`{function}` cannot read {} as a date: {e}", describe(v)),
        })
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
    fn reads_rfc_2822_with_the_zone_names_feeds_use() {
        // Google News writes `UTC`; every record of such a feed failed.
        check(
            json!("Tue, 31 Mar 2026 08:00:00 UTC"),
            expect!["2026-03-31T08:00:00.000Z"],
        );
        check(
            json!("Tue, 31 Mar 2026 08:00:00 EST"),
            expect!["2026-03-31T13:00:00.000Z"],
        );
        check(
            json!("31 Mar 2026 08:00 Z"),
            expect!["2026-03-31T08:00:00.000Z"],
        );
    }

    #[test]
    fn errors_say_what_is_wrong_when_the_form_is_known() {
        let err = expect_date("to_date", &json!("2026-02-30"))
            .err()
            .map(|e| e.message);
        expect![[r#"Some("`to_date` cannot read string \"2026-02-30\" as a date: day 30 does not exist in 2026-02")"#]]
            .assert_eq(&format!("{err:?}"));
        let err = expect_date("to_date", &json!(1e300))
            .err()
            .map(|e| e.message);
        expect![[r#"Some("`to_date` cannot read number 1e+300 as a date: outside the dates cmap can represent (years -262143 to 262142)")"#]]
            .assert_eq(&format!("{err:?}"));
    }

    #[test]
    fn errors_name_the_function_and_value() {
        let err = expect_date("to_date", &json!("yesterday"))
            .err()
            .map(|e| e.message);
        expect![[r#"Some("`to_date` cannot read string \"yesterday\" as a date (expected RFC 3339 / ISO 8601, RFC 2822 or epoch milliseconds)")"#]]
            .assert_eq(&format!("{err:?}"));
    }

    /// Every date transformation, with any config value it takes and any input, gives a
    /// value or a record failure: never a panic (huge day counts, dates at the edges of
    /// chrono's range, huge epoch numbers, negative ones).
    mod no_panics {
        use std::sync::OnceLock;

        use crate::functions::{lookup, tests::rates, CompileContext, Env};
        use crate::sandbox::Sandbox;
        use proptest::prelude::*;
        use serde_json::{json, Map, Value};

        fn input() -> impl Strategy<Value = Value> {
            prop_oneof![
                any::<i64>().prop_map(Value::from),
                any::<u64>().prop_map(Value::from),
                any::<f64>().prop_map(|f| json!(f)),
                any::<i64>().prop_map(|n| Value::String(n.to_string())),
                "[-+]?[0-9]{1,9}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,12})?)?)?(Z|[-+][0-9]{2}(:?[0-9]{2})?)?"
                    .prop_map(Value::String),
                "[A-Za-z]{3}, [0-9]{1,2} [A-Za-z]{3} [0-9]{2,12} [0-9]{1,2}:[0-9]{2}(:[0-9]{2})? [A-Z+0-9-]{1,5}"
                    .prop_map(Value::String),
                "\\PC{0,30}".prop_map(Value::String),
                Just(json!("+262142-12-31T23:59:59.999Z")),
                Just(json!("-262143-01-01T00:00:00.000Z")),
            ]
        }

        /// Compiles `name(config)` (one sandbox for the whole run: building one per case
        /// would be most of the test's time) and applies it to `input`.
        fn call(name: &str, config: Value, input: &Value) {
            static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
            let rates = rates();
            let ctx = CompileContext {
                rates: &rates,
                sandbox: SANDBOX.get_or_init(Sandbox::new),
            };
            let (Some(f), Value::Object(config)) = (lookup(name), config) else {
                panic!("no function `{name}`");
            };
            let env = Env {
                record: &Value::Null,
                task: &Map::new(),
            };
            if let Ok(transform) = f.compile(&config, &ctx) {
                let _ = transform.apply(input.clone(), &env);
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

            #[test]
            fn date_transformations_never_panic(
                v in input(),
                days in prop_oneof![any::<i64>(), -200_000i64..200_000],
                format in prop::sample::select(vec!["%Y-%m-%d", "%s", "%+", "%c", "%Y%m%d%H%M%S%.f%z", "%G-W%V-%u", "%d.%m.%Y %H:%M", "%Y"]),
            ) {
                call("add_days", json!({ "days": days }), &v);
                call("to_date", json!({}), &v);
                call("to_timestamp", json!({}), &v);
                call("to_iso_string", json!({}), &v);
                call("format_date", json!({ "format": format }), &v);
                call("parse_date", json!({ "format": format }), &v);
            }
        }
    }
}
