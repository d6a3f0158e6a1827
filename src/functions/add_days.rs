//! `add_days`: a date moved by a number of days.

use chrono::TimeDelta;
use serde_json::{Map, Value};

use super::args::Args;
use super::date;
use super::{
    Category, CompileContext, ConfigError, Env, Example, Function, Param, ParamKind, Returns,
    Signature, Transform, TransformError,
};

#[derive(Debug)]
pub struct AddDays;

#[derive(Debug)]
struct Prepared {
    days: i64,
}

static SIGNATURE: Signature = Signature {
    name: "add_days",
    category: Category::Date,
    summary: "Adds `days` days (negative: subtracts) to a date.",
    docs: "The input is any date `to_date` reads (RFC 3339 / ISO 8601, RFC 2822, epoch \
           milliseconds). A day is 24 hours in UTC (there is no daylight saving time in UTC, \
           so the time of day is kept). The result is written as RFC 3339 UTC \
           (`2026-04-30T00:00:00.000Z`). An input that is not a date fails the record, and \
           so does a result beyond the year 262143.",
    params: &[Param {
        name: "days",
        kind: ParamKind::Integer,
        required: true,
        docs: "Days to add; negative to go back.",
    }],
    returns: Returns::Date,
    examples: &[
        Example {
            title: "a month of 30 days",
            input: r#""2026-03-31""#,
            config: r#"{"days": 30}"#,
            output: Ok(r#""2026-04-30T00:00:00.000Z""#),
        },
        Example {
            title: "back a week",
            input: r#""2026-03-03T08:15:00+0000""#,
            config: r#"{"days": -7}"#,
            output: Ok(r#""2026-02-24T08:15:00.000Z""#),
        },
        Example {
            title: "epoch milliseconds",
            input: "0",
            config: r#"{"days": 1}"#,
            output: Ok(r#""1970-01-02T00:00:00.000Z""#),
        },
        Example {
            title: "not a date",
            input: r#""31/03/2026""#,
            config: r#"{"days": 1}"#,
            output: Err("`add_days` cannot read string \"31/03/2026\" as a date"),
        },
    ],
};

impl Function for AddDays {
    fn signature(&self) -> &'static Signature {
        &SIGNATURE
    }
    fn compile(
        &self,
        config: &Map<String, Value>,
        _: &CompileContext<'_>,
    ) -> Result<Box<dyn Transform>, Vec<ConfigError>> {
        let mut args = Args::new(&SIGNATURE, config);
        let days = args.integer("days");
        args.finish(days.map(|days| Box::new(Prepared { days }) as Box<dyn Transform>))
    }
}

impl Transform for Prepared {
    fn apply(&self, value: Value, _: &Env<'_>) -> Result<Value, TransformError> {
        let dt = date::expect_date(SIGNATURE.name, &value)?;
        TimeDelta::try_days(self.days)
            .and_then(|delta| dt.checked_add_signed(delta))
            .map(|dt| Value::String(date::format(&dt)))
            .ok_or_else(|| {
                TransformError::new(format!(
                    "`add_days`: {} days from {} is out of range",
                    self.days,
                    date::format(&dt)
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use crate::functions::tests::check;
    use expect_test::expect;

    #[test]
    fn cases() {
        let c = |config: &str, input: &str, e| check("add_days", config, input, e);
        c(
            r#"{"days": 1}"#,
            r#""2028-02-28""#,
            expect![[r#"ok "2028-02-29T00:00:00.000Z""#]],
        );
        c(
            r#"{"days": 0}"#,
            r#""Tue, 31 Mar 2026 08:00:00 GMT""#,
            expect![[r#"ok "2026-03-31T08:00:00.000Z""#]],
        );
        c(
            r#"{"days": 1}"#,
            r#""1774915200000""#,
            expect![[r#"ok "2026-04-01T00:00:00.000Z""#]],
        );
        c(r#"{"days": 9223372036854775807}"#, r#""2026-03-31""#, expect!["err `add_days`: 9223372036854775807 days from 2026-03-31T00:00:00.000Z is out of range"]);
        c(
            r#"{"days": 1.5}"#,
            r#""2026-03-31""#,
            expect!["err `days` must be an integer, found number 1.5"],
        );
    }
}
