//! `replace`: every occurrence of a literal text replaced.

use serde_json::{Map, Value};

use super::args::Args;
use super::{
    expect_str, Category, CompileContext, ConfigError, Env, Example, Function, Param, ParamKind,
    Returns, Signature, Transform, TransformError,
};
use crate::diagnostics::Code;

#[derive(Debug)]
pub struct Replace;

#[derive(Debug)]
struct Prepared {
    search: String,
    replace: String,
}

static SIGNATURE: Signature = Signature {
    name: "replace",
    category: Category::String,
    summary: "Replaces every occurrence of `search` with `replace`.",
    docs: "The search is literal text, case-sensitive, with no special characters (use \
           `regex_replace` for patterns). Every non-overlapping occurrence is replaced, left to \
           right. `search` must not be empty; `replace` may be (`\"\"` deletes). Anything but \
           a string fails the record.",
    params: &[
        Param {
            name: "search",
            kind: ParamKind::String,
            required: true,
            docs: "The text to find (not empty).",
        },
        Param {
            name: "replace",
            kind: ParamKind::String,
            required: true,
            docs: "What to put instead.",
        },
    ],
    returns: Returns::String,
    examples: &[
        Example {
            title: "remove spaces",
            input: r#""+1 555 0100""#,
            config: r#"{"search": " ", "replace": ""}"#,
            output: Ok(r#""+15550100""#),
        },
        Example {
            title: "literal, not a pattern",
            input: r#""a.b.c""#,
            config: r#"{"search": ".", "replace": "/"}"#,
            output: Ok(r#""a/b/c""#),
        },
        Example {
            title: "no occurrence",
            input: r#""Ada""#,
            config: r#"{"search": "x", "replace": "y"}"#,
            output: Ok(r#""Ada""#),
        },
        Example {
            title: "an empty search",
            input: r#""Ada""#,
            config: r#"{"search": "", "replace": "-"}"#,
            output: Err("`search` must not be empty"),
        },
    ],
};

impl Function for Replace {
    fn signature(&self) -> &'static Signature {
        &SIGNATURE
    }
    fn compile(
        &self,
        config: &Map<String, Value>,
        _: &CompileContext<'_>,
    ) -> Result<Box<dyn Transform>, Vec<ConfigError>> {
        let mut args = Args::new(&SIGNATURE, config);
        let search = args.string("search").filter(|s| {
            if s.is_empty() {
                let help = Some("write the text to replace, e.g. `search: \" \"`".to_string());
                args.error(
                    Code::ConfigType,
                    "search",
                    "`search` must not be empty".to_string(),
                    help,
                );
            }
            !s.is_empty()
        });
        let replace = args.string("replace");
        let built = search
            .zip(replace)
            .map(|(search, replace)| Box::new(Prepared { search, replace }) as Box<dyn Transform>);
        args.finish(built)
    }
}

impl Transform for Prepared {
    fn apply(&self, value: Value, _: &Env<'_>) -> Result<Value, TransformError> {
        let s = expect_str(SIGNATURE.name, &value)?;
        Ok(Value::String(s.replace(&self.search, &self.replace)))
    }
}

#[cfg(test)]
mod tests {
    use crate::functions::tests::check;
    use expect_test::expect;

    #[test]
    fn cases() {
        check(
            "replace",
            r#"{"search": "aa", "replace": "b"}"#,
            r#""aaaaa""#,
            expect![[r#"ok "bba""#]],
        );
        check(
            "replace",
            r#"{"search": "A", "replace": "b"}"#,
            r#""aA""#,
            expect![[r#"ok "ab""#]],
        );
        check(
            "replace",
            r#"{"search": "$1", "replace": "x"}"#,
            r#""a$1""#,
            expect![[r#"ok "ax""#]],
        );
        check(
            "replace",
            r#"{"search": " ", "replace": ""}"#,
            "5",
            expect!["err `replace` expects a string, found number 5"],
        );
        check(
            "replace",
            r#"{"search": "", "replace": 1}"#,
            r#""a""#,
            expect!["err `search` must not be empty; `replace` must be a string, found number 1"],
        );
    }
}
