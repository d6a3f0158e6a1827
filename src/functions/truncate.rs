//! `truncate`: the first `maxLength` characters of a string.

use serde_json::{Map, Value};

use super::args::Args;
use super::{
    expect_str, Category, CompileContext, ConfigError, Env, Example, Function, Param, ParamKind,
    Returns, Signature, Transform, TransformError,
};
use crate::diagnostics::Code;

#[derive(Debug)]
pub struct Truncate;

#[derive(Debug)]
struct Prepared {
    max: usize,
}

static SIGNATURE: Signature = Signature {
    name: "truncate",
    category: Category::String,
    summary: "Keeps at most `maxLength` characters of a string.",
    docs: "Counts Unicode characters (scalar values), not bytes, so a multi-byte letter is \
           never cut in half. A string no longer than `maxLength` is unchanged; no ellipsis \
           is added. `maxLength` must be a non-negative integer; `0` gives `\"\"`. Anything \
           but a string fails the record.",
    params: &[Param {
        name: "maxLength",
        kind: ParamKind::Integer,
        required: true,
        docs: "The largest number of characters to keep (≥ 0).",
    }],
    returns: Returns::String,
    examples: &[
        Example {
            title: "long text",
            input: r#""Hello, world""#,
            config: r#"{"maxLength": 5}"#,
            output: Ok(r#""Hello""#),
        },
        Example {
            title: "characters, not bytes",
            input: r#""crème brûlée""#,
            config: r#"{"maxLength": 8}"#,
            output: Ok(r#""crème br""#),
        },
        Example {
            title: "already short enough",
            input: r#""Ada""#,
            config: r#"{"maxLength": 5}"#,
            output: Ok(r#""Ada""#),
        },
        Example {
            title: "a negative length",
            input: r#""Ada""#,
            config: r#"{"maxLength": -1}"#,
            output: Err("`maxLength` must be a non-negative integer, found -1"),
        },
    ],
};

impl Function for Truncate {
    fn signature(&self) -> &'static Signature {
        &SIGNATURE
    }
    fn compile(
        &self,
        config: &Map<String, Value>,
        _: &CompileContext<'_>,
    ) -> Result<Box<dyn Transform>, Vec<ConfigError>> {
        let mut args = Args::new(&SIGNATURE, config);
        let max = args
            .integer("maxLength")
            .and_then(|n| match usize::try_from(n) {
                Ok(max) => Some(max),
                Err(_) => {
                    let message = format!("`maxLength` must be a non-negative integer, found {n}");
                    let help = Some("write `maxLength: 0` or more".to_string());
                    args.error(Code::ConfigType, "maxLength", message, help);
                    None
                }
            });
        let built = max.map(|max| Box::new(Prepared { max }) as Box<dyn Transform>);
        args.finish(built)
    }
}

impl Transform for Prepared {
    fn apply(&self, value: Value, _: &Env<'_>) -> Result<Value, TransformError> {
        let s = expect_str(SIGNATURE.name, &value)?;
        match s.char_indices().nth(self.max) {
            Some((end, _)) => Ok(Value::String(s.get(..end).unwrap_or(s).to_string())),
            None => Ok(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::functions::tests::check;
    use expect_test::expect;

    #[test]
    fn cases() {
        check(
            "truncate",
            r#"{"maxLength": 0}"#,
            r#""abc""#,
            expect![[r#"ok """#]],
        );
        check(
            "truncate",
            r#"{"maxLength": 3}"#,
            r#""abc""#,
            expect![[r#"ok "abc""#]],
        );
        check(
            "truncate",
            r#"{"maxLength": 2}"#,
            r#""👩‍💻x""#,
            expect![[r#"ok "👩‍""#]],
        );
        check(
            "truncate",
            r#"{"maxLength": 2}"#,
            "12345",
            expect!["err `truncate` expects a string, found number 12345"],
        );
        check(
            "truncate",
            "{}",
            r#""abc""#,
            expect!["err `truncate` needs `maxLength`"],
        );
        check(
            "truncate",
            r#"{"maxLength": "5"}"#,
            r#""abc""#,
            expect![[r#"err `maxLength` must be an integer, found string "5""#]],
        );
    }
}
