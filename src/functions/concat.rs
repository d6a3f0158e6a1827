//! `concat`: a string with a prefix and/or suffix.

use serde_json::{Map, Value};

use super::args::Args;
use super::{
    describe, scalar_text, Category, CompileContext, ConfigError, Env, Example, Function, Param,
    ParamKind, Returns, Signature, Transform, TransformError,
};

#[derive(Debug)]
pub struct Concat;

#[derive(Debug)]
struct Prepared {
    prefix: String,
    suffix: String,
}

static SIGNATURE: Signature = Signature {
    name: "concat",
    category: Category::String,
    summary: "Puts `prefix` before and `suffix` after the value.",
    docs: "Both are optional (a missing or null one adds nothing). A number or boolean is \
           first written as text the way `to_string` writes it (`5` → `\"5\"`, `2.50` → \
           `\"2.5\"`); an array or object fails the record. A null value stays null: \
           `concat` does not turn a missing field into the prefix alone.",
    params: &[
        Param {
            name: "prefix",
            kind: ParamKind::String,
            required: false,
            docs: "Text to put before.",
        },
        Param {
            name: "suffix",
            kind: ParamKind::String,
            required: false,
            docs: "Text to put after.",
        },
    ],
    returns: Returns::String,
    examples: &[
        Example {
            title: "both",
            input: r#""42""#,
            config: r##"{"prefix": "#", "suffix": "!"}"##,
            output: Ok(r##""#42!""##),
        },
        Example {
            title: "a number",
            input: "15",
            config: r#"{"suffix": "%"}"#,
            output: Ok(r#""15%""#),
        },
        Example {
            title: "a prefix only",
            input: r#""Lovelace""#,
            config: r#"{"prefix": "Mrs "}"#,
            output: Ok(r#""Mrs Lovelace""#),
        },
        Example {
            title: "an object",
            input: r#"{"a": 1}"#,
            config: r#"{"prefix": "x"}"#,
            output: Err("`concat` expects a string, number or boolean, found object"),
        },
    ],
};

impl Function for Concat {
    fn signature(&self) -> &'static Signature {
        &SIGNATURE
    }
    fn compile(
        &self,
        config: &Map<String, Value>,
        _: &CompileContext<'_>,
    ) -> Result<Box<dyn Transform>, Vec<ConfigError>> {
        let mut args = Args::new(&SIGNATURE, config);
        let prefix = args.opt_string("prefix").unwrap_or_default();
        let suffix = args.opt_string("suffix").unwrap_or_default();
        args.finish(Some(
            Box::new(Prepared { prefix, suffix }) as Box<dyn Transform>
        ))
    }
}

impl Transform for Prepared {
    fn apply(&self, value: Value, _: &Env<'_>) -> Result<Value, TransformError> {
        let text = scalar_text(&value).ok_or_else(|| {
            TransformError::new(format!(
                "`concat` expects a string, number or boolean, found {}",
                describe(&value)
            ))
        })?;
        Ok(Value::String(format!(
            "{}{text}{}",
            self.prefix, self.suffix
        )))
    }
}

#[cfg(test)]
mod tests {
    use crate::functions::tests::check;
    use expect_test::expect;

    #[test]
    fn cases() {
        check("concat", "{}", r#""a""#, expect![[r#"ok "a""#]]);
        check(
            "concat",
            r#"{"prefix": "$"}"#,
            "2.50",
            expect![[r#"ok "$2.5""#]],
        );
        check(
            "concat",
            r#"{"prefix": "v"}"#,
            "3.0",
            expect![[r#"ok "v3""#]],
        );
        check(
            "concat",
            r#"{"suffix": "?"}"#,
            "true",
            expect![[r#"ok "true?""#]],
        );
        check(
            "concat",
            r#"{"suffix": "?"}"#,
            "[1]",
            expect!["err `concat` expects a string, number or boolean, found array [1]"],
        );
        check(
            "concat",
            r#"{"prefix": 1}"#,
            r#""a""#,
            expect!["err `prefix` must be a string, found number 1"],
        );
    }
}
