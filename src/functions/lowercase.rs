//! `lowercase`: a string in lower case.

use serde_json::{Map, Value};

use super::{
    expect_str, Category, CompileContext, ConfigError, Env, Example, Function, Returns, Signature,
    Transform, TransformError,
};

#[derive(Debug)]
pub struct Lowercase;

static SIGNATURE: Signature = Signature {
    name: "lowercase",
    category: Category::String,
    summary: "Converts a string to lower case.",
    docs: "Uses Unicode case mapping, so letters outside ASCII change too (`É` → `é`; a final `Σ` \
           becomes `ς`). Anything but a string fails the record: convert numbers first with \
           `to_string`.",
    params: &[],
    returns: Returns::String,
    examples: &[
        Example {
            title: "ASCII",
            input: r#""Ada@Example.COM""#,
            config: "{}",
            output: Ok(r#""ada@example.com""#),
        },
        Example {
            title: "Unicode",
            input: r#""ÉCOLE ΟΔΟΣ""#,
            config: "{}",
            output: Ok(r#""école οδος""#),
        },
        Example {
            title: "a number is not a string",
            input: "12",
            config: "{}",
            output: Err("`lowercase` expects a string, found number 12"),
        },
    ],
};

impl Function for Lowercase {
    fn signature(&self) -> &'static Signature {
        &SIGNATURE
    }
    fn compile(
        &self,
        _: &Map<String, Value>,
        _: &CompileContext<'_>,
    ) -> Result<Box<dyn Transform>, Vec<ConfigError>> {
        Ok(Box::new(Lowercase))
    }
}

impl Transform for Lowercase {
    fn apply(&self, value: Value, _: &Env<'_>) -> Result<Value, TransformError> {
        Ok(Value::String(
            expect_str(SIGNATURE.name, &value)?.to_lowercase(),
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
            "lowercase",
            "{}",
            r#""İstanbul""#,
            expect![[r#"ok "i̇stanbul""#]],
        );
        check("lowercase", "{}", r#""""#, expect![[r#"ok """#]]);
        check(
            "lowercase",
            "{}",
            "[1]",
            expect!["err `lowercase` expects a string, found array [1]"],
        );
    }
}
