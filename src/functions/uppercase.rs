//! `uppercase`: a string in upper case.

use serde_json::{Map, Value};

use super::{
    expect_str, Category, CompileContext, ConfigError, Env, Example, Function, Returns, Signature,
    Transform, TransformError,
};

#[derive(Debug)]
pub struct Uppercase;

static SIGNATURE: Signature = Signature {
    name: "uppercase",
    category: Category::String,
    summary: "Converts a string to upper case.",
    docs: "Uses Unicode case mapping, so letters outside ASCII change too (`é` → `É`) and a \
           character may become several (`ß` → `SS`). Anything but a string fails the record: \
           convert numbers first with `to_string`.",
    params: &[],
    returns: Returns::String,
    examples: &[
        Example {
            title: "ASCII",
            input: r#""salesforce""#,
            config: "{}",
            output: Ok(r#""SALESFORCE""#),
        },
        Example {
            title: "Unicode",
            input: r#""straße café""#,
            config: "{}",
            output: Ok(r#""STRASSE CAFÉ""#),
        },
        Example {
            title: "a number is not a string",
            input: "12",
            config: "{}",
            output: Err("`uppercase` expects a string, found number 12"),
        },
    ],
};

impl Function for Uppercase {
    fn signature(&self) -> &'static Signature {
        &SIGNATURE
    }
    fn compile(
        &self,
        _: &Map<String, Value>,
        _: &CompileContext<'_>,
    ) -> Result<Box<dyn Transform>, Vec<ConfigError>> {
        Ok(Box::new(Uppercase))
    }
}

impl Transform for Uppercase {
    fn apply(&self, value: Value, _: &Env<'_>) -> Result<Value, TransformError> {
        Ok(Value::String(
            expect_str(SIGNATURE.name, &value)?.to_uppercase(),
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
            "uppercase",
            "{}",
            r#""mixed Case 123""#,
            expect![[r#"ok "MIXED CASE 123""#]],
        );
        check("uppercase", "{}", r#""""#, expect![[r#"ok """#]]);
        check(
            "uppercase",
            "{}",
            "true",
            expect!["err `uppercase` expects a string, found boolean true"],
        );
        check(
            "uppercase",
            "{}",
            r#"{"a": 1}"#,
            expect![[r#"err `uppercase` expects a string, found object {"a":1}"#]],
        );
    }
}
