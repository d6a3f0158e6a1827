//! `trim`: a string without leading and trailing whitespace.

use serde_json::{Map, Value};

use super::{
    expect_str, Category, CompileContext, ConfigError, Env, Example, Function, Returns, Signature,
    Transform, TransformError,
};

#[derive(Debug)]
pub struct Trim;

static SIGNATURE: Signature = Signature {
    name: "trim",
    category: Category::String,
    summary: "Removes whitespace at both ends of a string.",
    docs: "Whitespace is Unicode whitespace: spaces, tabs, newlines and the like (including \
           no-break space U+00A0). Whitespace inside the string is kept. A string of only \
           whitespace becomes `\"\"` (which a required field rejects). Anything but a string \
           fails the record.",
    params: &[],
    returns: Returns::String,
    examples: &[
        Example {
            title: "spaces and newlines",
            input: r#""  Ada Lovelace\n""#,
            config: "{}",
            output: Ok(r#""Ada Lovelace""#),
        },
        Example {
            title: "only whitespace",
            input: r#""\t \u00a0""#,
            config: "{}",
            output: Ok(r#""""#),
        },
        Example {
            title: "an array is not a string",
            input: r#"[" a "]"#,
            config: "{}",
            output: Err("`trim` expects a string, found array [\" a \"]"),
        },
    ],
};

impl Function for Trim {
    fn signature(&self) -> &'static Signature {
        &SIGNATURE
    }
    fn compile(
        &self,
        _: &Map<String, Value>,
        _: &CompileContext<'_>,
    ) -> Result<Box<dyn Transform>, Vec<ConfigError>> {
        Ok(Box::new(Trim))
    }
}

impl Transform for Trim {
    fn apply(&self, value: Value, _: &Env<'_>) -> Result<Value, TransformError> {
        let s = expect_str(SIGNATURE.name, &value)?;
        Ok(Value::String(s.trim().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use crate::functions::tests::check;
    use expect_test::expect;

    #[test]
    fn cases() {
        check("trim", "{}", r#""a  b""#, expect![[r#"ok "a  b""#]]);
        check("trim", "{}", r#""\r\n x \u2003""#, expect![[r#"ok "x""#]]);
        check(
            "trim",
            "{}",
            "1",
            expect!["err `trim` expects a string, found number 1"],
        );
    }
}
