//! `regex_replace`: every match of a regular expression replaced.

use regex::Regex;
use serde_json::{Map, Value};

use super::args::Args;
use super::{
    expect_str, Category, CompileContext, ConfigError, Env, Example, Function, Param, ParamKind,
    Returns, Signature, Transform, TransformError,
};
use crate::diagnostics::Code;

#[derive(Debug)]
pub struct RegexReplace;

#[derive(Debug)]
struct Prepared {
    regex: Regex,
    replace: String,
}

static SIGNATURE: Signature = Signature {
    name: "regex_replace",
    category: Category::String,
    summary: "Replaces every match of the regular expression `pattern` with `replace`.",
    docs: "`pattern` uses the syntax of Rust's `regex` crate (Perl-like, without look-around \
           or backreferences; `(?i)` for case-insensitive). Every non-overlapping match is \
           replaced. In `replace`, `$1` or `${1}` is the text of group 1, `$name` or `${name}` \
           a named group, `$0` the whole match and `$$` a literal `$`; write `${1}a` rather \
           than `$1a` when a group is followed by a letter or digit (`$1a` names a group \
           `1a`). A group that did not take part in the match is replaced by nothing. The \
           pattern is compiled at check time: an invalid one is reported then. Anything but \
           a string fails the record.",
    params: &[
        Param {
            name: "pattern",
            kind: ParamKind::Regex,
            required: true,
            docs: "The regular expression.",
        },
        Param {
            name: "replace",
            kind: ParamKind::String,
            required: true,
            docs: "The replacement, with `$1`-style group references.",
        },
    ],
    returns: Returns::String,
    examples: &[
        Example {
            title: "slug",
            input: r#""hello, big world""#,
            config: r#"{"pattern": "[^a-z0-9]+", "replace": "-"}"#,
            output: Ok(r#""hello-big-world""#),
        },
        Example {
            title: "groups",
            input: r#""Lovelace, Ada""#,
            config: r#"{"pattern": "(\\w+), (\\w+)", "replace": "$2 $1"}"#,
            output: Ok(r#""Ada Lovelace""#),
        },
        Example {
            title: "no match",
            input: r#""abc""#,
            config: r##"{"pattern": "\\d+", "replace": "#"}"##,
            output: Ok(r#""abc""#),
        },
        Example {
            title: "an invalid pattern",
            input: r#""abc""#,
            config: r#"{"pattern": "(a", "replace": ""}"#,
            output: Err("unclosed group"),
        },
    ],
};

impl Function for RegexReplace {
    fn signature(&self) -> &'static Signature {
        &SIGNATURE
    }
    fn compile(
        &self,
        config: &Map<String, Value>,
        _: &CompileContext<'_>,
    ) -> Result<Box<dyn Transform>, Vec<ConfigError>> {
        let mut args = Args::new(&SIGNATURE, config);
        let regex = args.string("pattern").and_then(|p| match Regex::new(&p) {
            Ok(regex) => Some(regex),
            Err(e) => {
                let message = format!("invalid regular expression: {}", regex_message(&e));
                let help = Some("the syntax is that of the Rust `regex` crate; escape special characters with `\\\\`".to_string());
                args.error(Code::InvalidRegex, "pattern", message, help);
                None
            }
        });
        let replace = args.string("replace");
        let built = regex
            .zip(replace)
            .map(|(regex, replace)| Box::new(Prepared { regex, replace }) as Box<dyn Transform>);
        args.finish(built)
    }
}

/// The regex crate's message without its multi-line excerpt of the pattern: the
/// diagnostic points at the pattern already.
pub(crate) fn regex_message(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .map_or(text.clone(), str::to_string)
}

impl Transform for Prepared {
    fn apply(&self, value: Value, _: &Env<'_>) -> Result<Value, TransformError> {
        let s = expect_str(SIGNATURE.name, &value)?;
        Ok(Value::String(
            self.regex
                .replace_all(s, self.replace.as_str())
                .into_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::functions::tests::check;
    use expect_test::expect;

    #[test]
    fn cases() {
        let c = |config: &str, input: &str, e| check("regex_replace", config, input, e);
        c(
            r#"{"pattern": "(?i)ab", "replace": "x"}"#,
            r#""AbaB""#,
            expect![[r#"ok "xx""#]],
        );
        c(
            r#"{"pattern": "(\\d)", "replace": "${1}0"}"#,
            r#""a1b2""#,
            expect![[r#"ok "a10b20""#]],
        );
        c(
            r#"{"pattern": "(?P<y>\\d{4})-(?P<m>\\d\\d)", "replace": "$m/$y"}"#,
            r#""2026-03""#,
            expect![[r#"ok "03/2026""#]],
        );
        c(
            r#"{"pattern": "x", "replace": "$$"}"#,
            r#""axb""#,
            expect![[r#"ok "a$b""#]],
        );
        c(
            r#"{"pattern": "(a)|(b)", "replace": "[$2]"}"#,
            r#""ab""#,
            expect![[r#"ok "[][b]""#]],
        );
        c(
            r#"{"pattern": "", "replace": "-"}"#,
            r#""ab""#,
            expect![[r#"ok "-a-b-""#]],
        );
        c(
            r#"{"pattern": "[", "replace": ""}"#,
            r#""a""#,
            expect!["err invalid regular expression: unclosed character class"],
        );
        c(
            r#"{"pattern": "a"}"#,
            "1",
            expect!["err `regex_replace` needs `replace`"],
        );
    }
}
