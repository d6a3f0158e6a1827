//! `to_string`: any value written as text.

use serde_json::{Map, Value};

use super::{
    scalar_text, Category, CompileContext, ConfigError, Env, Example, Function, Returns, Signature,
    Transform, TransformError,
};

#[derive(Debug)]
pub struct ToStringFn;

static SIGNATURE: Signature = Signature {
    name: "to_string",
    category: Category::Conversion,
    summary: "Writes a value as text.",
    docs: "A string is unchanged. A number is written in its shortest form, integers \
           without a fraction (`42`, `2.5`, and `6` for `6.0`; very large or small floats \
           in exponent form, `1e+21`). A boolean becomes `\"true\"` or `\"false\"`. An array or \
           object becomes its compact JSON text. Never fails.",
    params: &[],
    returns: Returns::String,
    examples: &[
        Example {
            title: "an integer",
            input: "42",
            config: "{}",
            output: Ok(r#""42""#),
        },
        Example {
            title: "a float without fraction",
            input: "6.0",
            config: "{}",
            output: Ok(r#""6""#),
        },
        Example {
            title: "a boolean",
            input: "false",
            config: "{}",
            output: Ok(r#""false""#),
        },
        Example {
            title: "an array",
            input: r#"["a", 1]"#,
            config: "{}",
            output: Ok(r#""[\"a\",1]""#),
        },
    ],
};

impl Function for ToStringFn {
    fn signature(&self) -> &'static Signature {
        &SIGNATURE
    }
    fn compile(
        &self,
        _: &Map<String, Value>,
        _: &CompileContext<'_>,
    ) -> Result<Box<dyn Transform>, Vec<ConfigError>> {
        Ok(Box::new(ToStringFn))
    }
}

impl Transform for ToStringFn {
    fn apply(&self, value: Value, _: &Env<'_>) -> Result<Value, TransformError> {
        match value {
            Value::String(_) => Ok(value),
            other => Ok(Value::String(
                scalar_text(&other).unwrap_or_else(|| other.to_string()),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::functions::tests::check;
    use expect_test::expect;

    #[test]
    fn cases() {
        check("to_string", "{}", r#""x""#, expect![[r#"ok "x""#]]);
        check("to_string", "{}", "-2.50", expect![[r#"ok "-2.5""#]]);
        check("to_string", "{}", "1e21", expect![[r#"ok "1e+21""#]]);
        check(
            "to_string",
            "{}",
            "18446744073709551615",
            expect![[r#"ok "18446744073709551615""#]],
        );
        check(
            "to_string",
            "{}",
            r#"{"b": 1, "a": [true]}"#,
            expect![[r#"ok "{\"b\":1,\"a\":[true]}""#]],
        );
    }
}
