//! `to_date`: a value read as a date, written as RFC 3339 UTC.

use serde_json::{Map, Value};

use super::date;
use super::{
    Category, CompileContext, ConfigError, Env, Example, Function, Returns, Signature, Transform,
    TransformError,
};

#[derive(Debug)]
pub struct ToDate;

static SIGNATURE: Signature = Signature {
    name: "to_date",
    category: Category::Conversion,
    summary: "Reads a date in any common form and writes it as RFC 3339 UTC with milliseconds.",
    docs: "Reads RFC 3339 / ISO 8601 (`2026-03-31`, `2026-03-31T08:00:00Z`, with `T` or a \
           space, optional seconds and fraction, offsets `Z`, `+02:00`, `+0200` or `+02`, or a \
           zone name), RFC 2822 and RFC 822 as feeds and mail write them (`Tue, 31 Mar 2026 \
           08:00:00 GMT`; day name optional, two-digit years, missing seconds, zones `UT`, \
           `UTC`, `GMT`, `Z`, `EST`/`EDT`, `CST`/`CDT`, `MST`/`MDT`, `PST`/`PDT`, the military \
           letters, common names such as `CEST`, numeric offsets), HTTP dates (RFC 850, \
           asctime) and epoch milliseconds (a number or a string of digits). A date without \
           time is midnight UTC; a time without offset is UTC. Writes \
           `2026-03-31T08:00:00.000Z`. A blank string becomes null. Any other form \
           (`31/03/2026`: use `parse_date`) fails the record, and so does a date that does not \
           exist (`2026-02-30`) or lies beyond the years -262143 to 262142.",
    params: &[],
    returns: Returns::Date,
    examples: &[
        Example {
            title: "a date",
            input: r#""2026-03-31""#,
            config: "{}",
            output: Ok(r#""2026-03-31T00:00:00.000Z""#),
        },
        Example {
            title: "Salesforce",
            input: r#""2026-03-31T10:00:00.000+0200""#,
            config: "{}",
            output: Ok(r#""2026-03-31T08:00:00.000Z""#),
        },
        Example {
            title: "RSS in UTC, as Google News writes it",
            input: r#""Tue, 31 Mar 2026 08:00:00 UTC""#,
            config: "{}",
            output: Ok(r#""2026-03-31T08:00:00.000Z""#),
        },
        Example {
            title: "epoch milliseconds",
            input: "1774944000000",
            config: "{}",
            output: Ok(r#""2026-03-31T08:00:00.000Z""#),
        },
        Example {
            title: "day first",
            input: r#""31/03/2026""#,
            config: "{}",
            output: Err("`to_date` cannot read string \"31/03/2026\" as a date"),
        },
    ],
};

impl Function for ToDate {
    fn signature(&self) -> &'static Signature {
        &SIGNATURE
    }
    fn compile(
        &self,
        _: &Map<String, Value>,
        _: &CompileContext<'_>,
    ) -> Result<Box<dyn Transform>, Vec<ConfigError>> {
        Ok(Box::new(ToDate))
    }
}

impl Transform for ToDate {
    fn apply(&self, value: Value, _: &Env<'_>) -> Result<Value, TransformError> {
        if value.as_str().is_some_and(|s| s.trim().is_empty()) {
            return Ok(Value::Null);
        }
        Ok(Value::String(date::format(&date::expect_date(
            SIGNATURE.name,
            &value,
        )?)))
    }
}

#[cfg(test)]
mod tests {
    use crate::functions::tests::check;
    use expect_test::expect;

    #[test]
    fn cases() {
        check(
            "to_date",
            "{}",
            r#""2026-03-31T08:00:00.123456+00:00""#,
            expect![[r#"ok "2026-03-31T08:00:00.123Z""#]],
        );
        check("to_date", "{}", r#""""#, expect!["ok null"]);
        check("to_date", "{}", "false", expect!["err `to_date` cannot read boolean false as a date (expected RFC 3339 / ISO 8601, RFC 2822 or epoch milliseconds)"]);
    }
}
