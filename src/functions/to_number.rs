//! `to_number`: a value read as a number.

use serde_json::{Map, Value};

use super::num;
use super::{
    describe, Category, CompileContext, ConfigError, Env, Example, Function, Returns, Signature,
    Transform, TransformError,
};

#[derive(Debug)]
pub struct ToNumber;

static SIGNATURE: Signature = Signature {
    name: "to_number",
    category: Category::Conversion,
    summary: "Reads a value as a number.",
    docs: "A number is unchanged (a float without fraction is written as an integer). A \
           string is read after trimming spaces: an optional sign, digits, an optional \
           fraction and exponent (`42`, `-1.5`, `+3`, `.5`, `1e3`); integers that fit in 64 \
           bits stay exact. A blank string becomes null (an empty cell is no value). \
           Thousands separators are refused rather than guessed (`1,234.5` could be \
           European `1.2345`): remove them first with `replace(\",\", \"\")`. `true` is `1` \
           and `false` is `0`. Anything else (`abc`, `NaN`, an array) fails the record.",
    params: &[],
    returns: Returns::Number,
    examples: &[
        Example {
            title: "a string",
            input: r#"" 1234.50 ""#,
            config: "{}",
            output: Ok("1234.5"),
        },
        Example {
            title: "exponent",
            input: r#""1e3""#,
            config: "{}",
            output: Ok("1000"),
        },
        Example {
            title: "blank",
            input: r#""""#,
            config: "{}",
            output: Ok("null"),
        },
        Example {
            title: "thousands separators",
            input: r#""1,234.5""#,
            config: "{}",
            output: Err("`to_number` cannot read string \"1,234.5\" as a number"),
        },
        Example {
            title: "not a number",
            input: r#""abc""#,
            config: "{}",
            output: Err("`to_number` cannot read string \"abc\" as a number"),
        },
    ],
};

impl Function for ToNumber {
    fn signature(&self) -> &'static Signature {
        &SIGNATURE
    }
    fn compile(
        &self,
        _: &Map<String, Value>,
        _: &CompileContext<'_>,
    ) -> Result<Box<dyn Transform>, Vec<ConfigError>> {
        Ok(Box::new(ToNumber))
    }
}

impl Transform for ToNumber {
    fn apply(&self, value: Value, _: &Env<'_>) -> Result<Value, TransformError> {
        let n = match &value {
            Value::Number(n) => Some(num::Num::from_json(n)),
            Value::String(s) if s.trim().is_empty() => return Ok(Value::Null),
            Value::String(s) => num::parse(s),
            Value::Bool(b) => Some(num::Num::Int(i64::from(*b))),
            _ => None,
        };
        let hint = match &value {
            Value::String(s) if s.contains(',') => {
                " (remove separators first: `replace(\",\", \"\")`)"
            }
            _ => "",
        };
        n.ok_or_else(|| {
            TransformError::new(format!(
                "`to_number` cannot read {} as a number{hint}",
                describe(&value)
            ))
        })?
        .into_value(SIGNATURE.name)
    }
}

#[cfg(test)]
mod tests {
    use crate::functions::tests::check;
    use expect_test::expect;

    #[test]
    fn cases() {
        check("to_number", "{}", "12.0", expect!["ok 12"]);
        check("to_number", "{}", r#""-0042""#, expect!["ok -42"]);
        check(
            "to_number",
            "{}",
            r#""9223372036854775808""#,
            expect!["ok 9.223372036854776e+18"],
        );
        check("to_number", "{}", "true", expect!["ok 1"]);
        check("to_number", "{}", r#""  ""#, expect!["ok null"]);
        check(
            "to_number",
            "{}",
            r#""NaN""#,
            expect![[r#"err `to_number` cannot read string "NaN" as a number"#]],
        );
        check(
            "to_number",
            "{}",
            r#""1,5""#,
            expect![[
                r#"err `to_number` cannot read string "1,5" as a number (remove separators first: `replace(",", "")`)"#
            ]],
        );
        check(
            "to_number",
            "{}",
            "[1]",
            expect!["err `to_number` cannot read array [1] as a number"],
        );
    }
}
