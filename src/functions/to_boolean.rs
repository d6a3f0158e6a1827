//! `to_boolean`: a value read as true or false.

use serde_json::{Map, Value};

use super::{
    describe, Category, CompileContext, ConfigError, Env, Example, Function, Returns, Signature,
    Transform, TransformError,
};

#[derive(Debug)]
pub struct ToBoolean;

static SIGNATURE: Signature = Signature {
    name: "to_boolean",
    category: Category::Conversion,
    summary: "Reads `true`/`false`, `yes`/`no` or `1`/`0` as a boolean.",
    docs: "A boolean is unchanged. A string is trimmed and compared without regard to case: \
           `true`, `yes` and `1` are true; `false`, `no` and `0` are false. The numbers `1` \
           and `0` are true and false. A blank string becomes null. Anything else (`\"y\"`, \
           `2`, an array) fails the record rather than guessing.",
    params: &[],
    returns: Returns::Boolean,
    examples: &[
        Example {
            title: "yes",
            input: r#"" Yes ""#,
            config: "{}",
            output: Ok("true"),
        },
        Example {
            title: "a number",
            input: "0",
            config: "{}",
            output: Ok("false"),
        },
        Example {
            title: "text",
            input: r#""FALSE""#,
            config: "{}",
            output: Ok("false"),
        },
        Example {
            title: "neither",
            input: r#""maybe""#,
            config: "{}",
            output: Err("`to_boolean` cannot read string \"maybe\" as a boolean"),
        },
    ],
};

impl Function for ToBoolean {
    fn signature(&self) -> &'static Signature {
        &SIGNATURE
    }
    fn compile(
        &self,
        _: &Map<String, Value>,
        _: &CompileContext<'_>,
    ) -> Result<Box<dyn Transform>, Vec<ConfigError>> {
        Ok(Box::new(ToBoolean))
    }
}

impl Transform for ToBoolean {
    fn apply(&self, value: Value, _: &Env<'_>) -> Result<Value, TransformError> {
        let b = match &value {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => match n.as_f64() {
                Some(1.0) => Some(true),
                Some(0.0) => Some(false),
                _ => None,
            },
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "" => return Ok(Value::Null),
                "true" | "yes" | "1" => Some(true),
                "false" | "no" | "0" => Some(false),
                _ => None,
            },
            _ => None,
        };
        b.map(Value::Bool).ok_or_else(|| {
            TransformError::new(format!(
                "`to_boolean` cannot read {} as a boolean",
                describe(&value)
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
        check("to_boolean", "{}", "true", expect!["ok true"]);
        check("to_boolean", "{}", r#""no""#, expect!["ok false"]);
        check("to_boolean", "{}", r#""1""#, expect!["ok true"]);
        check("to_boolean", "{}", "1.0", expect!["ok true"]);
        check("to_boolean", "{}", r#""""#, expect!["ok null"]);
        check(
            "to_boolean",
            "{}",
            "2",
            expect!["err `to_boolean` cannot read number 2 as a boolean"],
        );
        check(
            "to_boolean",
            "{}",
            r#""y""#,
            expect![[r#"err `to_boolean` cannot read string "y" as a boolean"#]],
        );
    }
}
