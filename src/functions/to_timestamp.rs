//! `to_timestamp`: a date as epoch milliseconds.

use serde_json::{Map, Value};

use super::date;
use super::{
    Category, CompileContext, ConfigError, Env, Example, Function, Returns, Signature, Transform,
    TransformError,
};

#[derive(Debug)]
pub struct ToTimestamp;

static SIGNATURE: Signature = Signature {
    name: "to_timestamp",
    category: Category::Date,
    summary: "Converts a date to milliseconds since 1970-01-01T00:00:00Z.",
    docs: "The input is any date `to_date` reads (RFC 3339 / ISO 8601, RFC 2822, epoch \
           milliseconds, which pass through). The output is an integer; dates before 1970 \
           are negative; sub-millisecond precision is dropped. An input that is not a date \
           fails the record.",
    params: &[],
    returns: Returns::Number,
    examples: &[
        Example {
            title: "a date",
            input: r#""2026-03-31""#,
            config: "{}",
            output: Ok("1774915200000"),
        },
        Example {
            title: "with an offset",
            input: r#""2026-03-31T02:00:00.250+02:00""#,
            config: "{}",
            output: Ok("1774915200250"),
        },
        Example {
            title: "before 1970",
            input: r#""1969-12-31T23:59:59Z""#,
            config: "{}",
            output: Ok("-1000"),
        },
        Example {
            title: "not a date",
            input: "true",
            config: "{}",
            output: Err("`to_timestamp` cannot read boolean true as a date"),
        },
    ],
};

impl Function for ToTimestamp {
    fn signature(&self) -> &'static Signature {
        &SIGNATURE
    }
    fn compile(
        &self,
        _: &Map<String, Value>,
        _: &CompileContext<'_>,
    ) -> Result<Box<dyn Transform>, Vec<ConfigError>> {
        Ok(Box::new(ToTimestamp))
    }
}

impl Transform for ToTimestamp {
    fn apply(&self, value: Value, _: &Env<'_>) -> Result<Value, TransformError> {
        Ok(Value::from(
            date::expect_date(SIGNATURE.name, &value)?.timestamp_millis(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::functions::tests::check;
    use expect_test::expect;

    #[test]
    fn cases() {
        check(
            "to_timestamp",
            "{}",
            "1774915200000",
            expect!["ok 1774915200000"],
        );
        check(
            "to_timestamp",
            "{}",
            r#""Tue, 31 Mar 2026 00:00:00 GMT""#,
            expect!["ok 1774915200000"],
        );
        check(
            "to_timestamp",
            "{}",
            r#""2026-03-31T00:00:00.0009Z""#,
            expect!["ok 1774915200000"],
        );
    }
}
