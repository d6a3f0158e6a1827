//! `to_array`: a value as an array.

use serde_json::{Map, Value};

use super::{
    Category, CompileContext, ConfigError, Env, Example, Function, Returns, Signature, Transform,
    TransformError,
};

#[derive(Debug)]
pub struct ToArray;

static SIGNATURE: Signature = Signature {
    name: "to_array",
    category: Category::Conversion,
    summary: "Wraps a value in an array; an array is kept as it is.",
    docs: "An array is unchanged. Any other value, objects included, becomes a one-element \
           array. A string is not split (use `split` or `custom` for that). A null value \
           stays null rather than becoming `[null]` or `[]`. Never fails.",
    params: &[],
    returns: Returns::Array,
    examples: &[
        Example {
            title: "a scalar",
            input: r#""vip""#,
            config: "{}",
            output: Ok(r#"["vip"]"#),
        },
        Example {
            title: "an array",
            input: "[1, 2]",
            config: "{}",
            output: Ok("[1,2]"),
        },
        Example {
            title: "an object",
            input: r#"{"a": 1}"#,
            config: "{}",
            output: Ok(r#"[{"a":1}]"#),
        },
    ],
};

impl Function for ToArray {
    fn signature(&self) -> &'static Signature {
        &SIGNATURE
    }
    fn compile(
        &self,
        _: &Map<String, Value>,
        _: &CompileContext<'_>,
    ) -> Result<Box<dyn Transform>, Vec<ConfigError>> {
        Ok(Box::new(ToArray))
    }
}

impl Transform for ToArray {
    fn apply(&self, value: Value, _: &Env<'_>) -> Result<Value, TransformError> {
        match value {
            Value::Array(_) => Ok(value),
            other => Ok(Value::Array(vec![other])),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::functions::tests::check;
    use expect_test::expect;

    #[test]
    fn cases() {
        check("to_array", "{}", "[]", expect!["ok []"]);
        check("to_array", "{}", "0", expect!["ok [0]"]);
        check("to_array", "{}", r#""a,b""#, expect![[r#"ok ["a,b"]"#]]);
    }
}
