//! `split`: one part of a string cut at a separator.

use serde_json::{Map, Value};

use super::args::Args;
use super::{
    expect_str, Category, CompileContext, ConfigError, Env, Example, Function, Param, ParamKind,
    Returns, Signature, Transform, TransformError,
};

#[derive(Debug)]
pub struct Split;

#[derive(Debug)]
struct Prepared {
    separator: String,
    index: i64,
}

static SIGNATURE: Signature = Signature {
    name: "split",
    category: Category::String,
    summary: "Cuts a string at every `separator` and keeps the part at `index`.",
    docs: "The separator is literal text. Parts are numbered from 0; a negative `index` \
           counts from the end (`-1` is the last part). An index out of range gives null, \
           not an error. Empty parts count (`\"a,,b\"` has three parts). An empty separator \
           cuts between characters. Parts are not trimmed: follow with `trim` if needed. \
           Anything but a string fails the record.",
    params: &[
        Param {
            name: "separator",
            kind: ParamKind::String,
            required: true,
            docs: "Where to cut (literal text).",
        },
        Param {
            name: "index",
            kind: ParamKind::Integer,
            required: true,
            docs: "Which part to keep: 0 is the first, -1 the last.",
        },
    ],
    returns: Returns::String,
    examples: &[
        Example {
            title: "first name",
            input: r#""Ada Lovelace""#,
            config: r#"{"separator": " ", "index": 0}"#,
            output: Ok(r#""Ada""#),
        },
        Example {
            title: "from the end",
            input: r#""a/b/c""#,
            config: r#"{"separator": "/", "index": -1}"#,
            output: Ok(r#""c""#),
        },
        Example {
            title: "out of range",
            input: r#""Ada""#,
            config: r#"{"separator": " ", "index": 1}"#,
            output: Ok("null"),
        },
        Example {
            title: "empty separator",
            input: r#""né""#,
            config: r#"{"separator": "", "index": 1}"#,
            output: Ok(r#""é""#),
        },
        Example {
            title: "not a string",
            input: "3.14",
            config: r#"{"separator": ".", "index": 0}"#,
            output: Err("`split` expects a string, found number 3.14"),
        },
    ],
};

impl Function for Split {
    fn signature(&self) -> &'static Signature {
        &SIGNATURE
    }
    fn compile(
        &self,
        config: &Map<String, Value>,
        _: &CompileContext<'_>,
    ) -> Result<Box<dyn Transform>, Vec<ConfigError>> {
        let mut args = Args::new(&SIGNATURE, config);
        let separator = args.string("separator");
        let index = args.integer("index");
        let built = separator.zip(index).map(|(separator, index)| {
            Box::new(Prepared { separator, index }) as Box<dyn Transform>
        });
        args.finish(built)
    }
}

impl Transform for Prepared {
    fn apply(&self, value: Value, _: &Env<'_>) -> Result<Value, TransformError> {
        let s = expect_str(SIGNATURE.name, &value)?;
        let part = if self.separator.is_empty() {
            pick(s.chars().map(String::from).collect(), self.index)
        } else {
            pick(
                s.split(self.separator.as_str())
                    .map(str::to_string)
                    .collect(),
                self.index,
            )
        };
        Ok(part.map_or(Value::Null, Value::String))
    }
}

fn pick(mut parts: Vec<String>, index: i64) -> Option<String> {
    // -1 is the last part.
    let at = if index < 0 {
        i64::try_from(parts.len()).ok()?.checked_add(index)?
    } else {
        index
    };
    let at = usize::try_from(at).ok()?;
    (at < parts.len()).then(|| parts.swap_remove(at))
}

#[cfg(test)]
mod tests {
    use crate::functions::tests::check;
    use expect_test::expect;

    #[test]
    fn cases() {
        let c = |config: &str, input: &str, e| check("split", config, input, e);
        c(
            r#"{"separator": ",", "index": 1}"#,
            r#""a,,b""#,
            expect![[r#"ok """#]],
        );
        c(
            r#"{"separator": ",", "index": 2}"#,
            r#""a,,b""#,
            expect![[r#"ok "b""#]],
        );
        c(
            r#"{"separator": ",", "index": -3}"#,
            r#""a,,b""#,
            expect![[r#"ok "a""#]],
        );
        c(
            r#"{"separator": ",", "index": -4}"#,
            r#""a,,b""#,
            expect!["ok null"],
        );
        c(
            r#"{"separator": ", ", "index": 1}"#,
            r#""x, y""#,
            expect![[r#"ok "y""#]],
        );
        c(
            r#"{"separator": ",", "index": 0}"#,
            r#""""#,
            expect![[r#"ok """#]],
        );
        c(
            r#"{"separator": ",", "index": -9223372036854775808}"#,
            r#""a""#,
            expect!["ok null"],
        );
        c(
            r#"{"separator": ","}"#,
            r#""a""#,
            expect!["err `split` needs `index`"],
        );
    }
}
