//! `to_iso_string`: a date written as RFC 3339 UTC with milliseconds.

use serde_json::{Map, Value};

use super::date;
use super::{
    Category, CompileContext, ConfigError, Env, Example, Function, Returns, Signature, Transform,
    TransformError,
};

#[derive(Debug)]
pub struct ToIsoString;

static SIGNATURE: Signature = Signature {
    name: "to_iso_string",
    category: Category::Date,
    summary: "Writes a date as `2026-03-31T08:00:00.000Z` (RFC 3339, UTC, milliseconds).",
    docs: "The input is any date `to_date` reads (RFC 3339 / ISO 8601, RFC 2822, epoch \
           milliseconds). The output is the form JavaScript's `toISOString` writes, which \
           is also how every date transformation writes dates: `to_iso_string` and \
           `to_date` give the same result. An input that is not a date fails the record.",
    params: &[],
    returns: Returns::String,
    examples: &[
        Example {
            title: "Salesforce offset",
            input: r#""2026-03-31T08:00:00.000+0000""#,
            config: "{}",
            output: Ok(r#""2026-03-31T08:00:00.000Z""#),
        },
        Example {
            title: "RSS date",
            input: r#""Tue, 31 Mar 2026 10:00:00 +0200""#,
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
            title: "not a date",
            input: r#""31.03.2026""#,
            config: "{}",
            output: Err("cannot read string \"31.03.2026\" as a date"),
        },
    ],
};

impl Function for ToIsoString {
    fn signature(&self) -> &'static Signature {
        &SIGNATURE
    }
    fn compile(
        &self,
        _: &Map<String, Value>,
        _: &CompileContext<'_>,
    ) -> Result<Box<dyn Transform>, Vec<ConfigError>> {
        Ok(Box::new(ToIsoString))
    }
}

impl Transform for ToIsoString {
    fn apply(&self, value: Value, _: &Env<'_>) -> Result<Value, TransformError> {
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
            "to_iso_string",
            "{}",
            r#""2026-03-31 08:00""#,
            expect![[r#"ok "2026-03-31T08:00:00.000Z""#]],
        );
        check(
            "to_iso_string",
            "{}",
            "-1",
            expect![[r#"ok "1969-12-31T23:59:59.999Z""#]],
        );
        check("to_iso_string", "{}", r#"{}"#, expect!["err `to_iso_string` cannot read object {} as a date (expected RFC 3339 / ISO 8601, RFC 2822 or epoch milliseconds)"]);
    }
}
