//! `format_date`: a date written with a strftime format.

use chrono::format::Item;
use serde_json::{Map, Value};

use super::args::Args;
use super::date;
use super::{
    Category, CompileContext, ConfigError, Env, Example, Function, Param, ParamKind, Returns,
    Signature, Transform, TransformError,
};

#[derive(Debug)]
pub struct FormatDate;

#[derive(Debug)]
struct Prepared {
    items: Vec<Item<'static>>,
}

static SIGNATURE: Signature = Signature {
    name: "format_date",
    category: Category::Date,
    summary: "Writes a date as text in the strftime `format`, in UTC.",
    docs: "The input is any date `to_date` reads (RFC 3339 / ISO 8601, RFC 2822, epoch \
           milliseconds); it is written in UTC, so `%z` gives `+0000` and `%Z` gives `UTC`. \
           `format` uses strftime specifiers (`%Y-%m-%d`, `%d %B %Y`, `%s` for epoch \
           seconds) and is checked at check time. Month and day names are English. An \
           input that is not a date fails the record.",
    params: &[Param {
        name: "format",
        kind: ParamKind::DateFormat,
        required: true,
        docs: "The strftime format to write.",
    }],
    returns: Returns::String,
    examples: &[
        Example {
            title: "day first",
            input: r#""2026-03-31T08:00:00.000Z""#,
            config: r#"{"format": "%d/%m/%Y"}"#,
            output: Ok(r#""31/03/2026""#),
        },
        Example {
            title: "from an offset, in UTC",
            input: r#""2026-03-31T23:30:00-0500""#,
            config: r#"{"format": "%A %-d %B %Y, %H:%M"}"#,
            output: Ok(r#""Wednesday 1 April 2026, 04:30""#),
        },
        Example {
            title: "epoch milliseconds",
            input: "1774915200000",
            config: r#"{"format": "%Y-%m-%d"}"#,
            output: Ok(r#""2026-03-31""#),
        },
        Example {
            title: "not a date",
            input: r#""soon""#,
            config: r#"{"format": "%Y"}"#,
            output: Err("`format_date` cannot read string \"soon\" as a date"),
        },
    ],
};

impl Function for FormatDate {
    fn signature(&self) -> &'static Signature {
        &SIGNATURE
    }
    fn compile(
        &self,
        config: &Map<String, Value>,
        _: &CompileContext<'_>,
    ) -> Result<Box<dyn Transform>, Vec<ConfigError>> {
        let mut args = Args::new(&SIGNATURE, config);
        let items = date::compile_format(&mut args, "format");
        args.finish(items.map(|items| Box::new(Prepared { items }) as Box<dyn Transform>))
    }
}

impl Transform for Prepared {
    fn apply(&self, value: Value, _: &Env<'_>) -> Result<Value, TransformError> {
        let dt = date::expect_date(SIGNATURE.name, &value)?;
        date::format_with(&self.items, &dt)
            .map(Value::String)
            .ok_or_else(|| {
                TransformError::new("`format_date`: the format cannot be filled for this date")
            })
    }
}

#[cfg(test)]
mod tests {
    use crate::functions::tests::check;
    use expect_test::expect;

    #[test]
    fn cases() {
        let c = |config: &str, input: &str, e| check("format_date", config, input, e);
        c(
            r#"{"format": "%Y-%m-%dT%H:%M:%S%z"}"#,
            r#""2026-03-31""#,
            expect![[r#"ok "2026-03-31T00:00:00+0000""#]],
        );
        c(
            r#"{"format": "%s"}"#,
            r#""2026-03-31T00:00:00Z""#,
            expect![[r#"ok "1774915200""#]],
        );
        c(
            r#"{"format": "100%% %b"}"#,
            r#""2026-03-31""#,
            expect![[r#"ok "100% Mar""#]],
        );
        c(
            r#"{"format": "%Q"}"#,
            r#""2026-03-31""#,
            expect![[r#"err invalid date format "%Q": `%Q` is not a strftime specifier"#]],
        );
        c(r#"{"format": "%Y"}"#, "[]", expect!["err `format_date` cannot read array [] as a date (expected RFC 3339 / ISO 8601, RFC 2822 or epoch milliseconds)"]);
    }
}
