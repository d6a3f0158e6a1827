//! `parse_date`: a date read with an explicit strftime format.

use chrono::format::Item;
use serde_json::{Map, Value};

use super::args::Args;
use super::date;
use super::{
    describe, Category, CompileContext, ConfigError, Env, Example, Function, Param, ParamKind,
    Returns, Signature, Transform, TransformError,
};

#[derive(Debug)]
pub struct ParseDate;

#[derive(Debug)]
struct Prepared {
    format: String,
    items: Vec<Item<'static>>,
}

static SIGNATURE: Signature = Signature {
    name: "parse_date",
    category: Category::Date,
    summary: "Reads a date written in the strftime `format` and writes it as RFC 3339 UTC.",
    docs: "For dates `to_date` cannot recognise by itself (`31/03/2026`, `Mar 31, 2026`). \
           `format` uses strftime specifiers (`%d/%m/%Y`, `%b %d, %Y %H:%M`, `%s` for epoch \
           seconds); it is checked at check time. The whole input must match (surrounding \
           spaces excepted). With an offset in the format (`%z`) the time is converted to \
           UTC; without one it is taken as UTC; a format without time gives midnight UTC. \
           The output is `2026-03-31T00:00:00.000Z`. An integer input is read as its digits \
           (for formats like `%Y%m%d`); an input that does not match fails the record.",
    params: &[Param {
        name: "format",
        kind: ParamKind::DateFormat,
        required: true,
        docs: "The strftime format the input is written in.",
    }],
    returns: Returns::Date,
    examples: &[
        Example {
            title: "day first",
            input: r#""31/03/2026""#,
            config: r#"{"format": "%d/%m/%Y"}"#,
            output: Ok(r#""2026-03-31T00:00:00.000Z""#),
        },
        Example {
            title: "with an offset",
            input: r#""Mar 31, 2026 10:30 +0200""#,
            config: r#"{"format": "%b %d, %Y %H:%M %z"}"#,
            output: Ok(r#""2026-03-31T08:30:00.000Z""#),
        },
        Example {
            title: "a number",
            input: "20260331",
            config: r#"{"format": "%Y%m%d"}"#,
            output: Ok(r#""2026-03-31T00:00:00.000Z""#),
        },
        Example {
            title: "no match",
            input: r#""2026-03-31""#,
            config: r#"{"format": "%d/%m/%Y"}"#,
            output: Err(
                "`parse_date` cannot read string \"2026-03-31\" with the format \"%d/%m/%Y\"",
            ),
        },
        Example {
            title: "an invalid format",
            input: r#""31/03/2026""#,
            config: r#"{"format": "%d/%m/%Q"}"#,
            output: Err("`%Q` is not a strftime specifier"),
        },
    ],
};

impl Function for ParseDate {
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
        let format = config
            .get("format")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        args.finish(items.map(|items| Box::new(Prepared { format, items }) as Box<dyn Transform>))
    }
}

impl Transform for Prepared {
    fn apply(&self, value: Value, _: &Env<'_>) -> Result<Value, TransformError> {
        let text = match &value {
            Value::String(s) => Some(s.trim().to_string()),
            Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
            _ => None,
        };
        let dt = text
            .and_then(|t| date::parse_with(&self.items, &t))
            .ok_or_else(|| {
                TransformError::new(format!(
                    "`parse_date` cannot read {} with the format {:?}",
                    describe(&value),
                    self.format
                ))
            })?;
        Ok(Value::String(date::format(&dt)))
    }
}

#[cfg(test)]
mod tests {
    use crate::functions::tests::check;
    use expect_test::expect;

    #[test]
    fn cases() {
        let c = |config: &str, input: &str, e| check("parse_date", config, input, e);
        c(
            r#"{"format": "%d.%m.%Y %H:%M"}"#,
            r#""31.03.2026 14:05""#,
            expect![[r#"ok "2026-03-31T14:05:00.000Z""#]],
        );
        c(
            r#"{"format": "%s"}"#,
            r#""1774915200""#,
            expect![[r#"ok "2026-03-31T00:00:00.000Z""#]],
        );
        c(
            r#"{"format": "%Y-%m-%dT%H:%M:%S%.f%z"}"#,
            r#""2026-03-31T10:00:00.5+02:00""#,
            expect![[r#"ok "2026-03-31T08:00:00.500Z""#]],
        );
        c(
            r#"{"format": "%d/%m/%Y"}"#,
            r#""31/02/2026""#,
            expect![[
                r#"err `parse_date` cannot read string "31/02/2026" with the format "%d/%m/%Y""#
            ]],
        );
        c(
            r#"{"format": "%d/%m/%Y"}"#,
            r#""31/03/2026 extra""#,
            expect![[
                r#"err `parse_date` cannot read string "31/03/2026 extra" with the format "%d/%m/%Y""#
            ]],
        );
        c(
            r#"{"format": "%H:%M"}"#,
            r#""10:00""#,
            expect![[r#"err `parse_date` cannot read string "10:00" with the format "%H:%M""#]],
        );
        c(
            r#"{"format": "%d/%m/%Y"}"#,
            "true",
            expect![[r#"err `parse_date` cannot read boolean true with the format "%d/%m/%Y""#]],
        );
        c(
            r#"{"format": "%Y-%"}"#,
            r#""x""#,
            expect![[r#"err invalid date format "%Y-%": `%` is not a strftime specifier"#]],
        );
        c(
            r#"{"format": 5}"#,
            r#""x""#,
            expect!["err `format` must be a strftime format string, found number 5"],
        );
    }
}
