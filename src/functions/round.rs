//! `round`: a number rounded to `decimals` places, half away from zero.

use serde_json::{Map, Value};

use super::args::Args;
use super::num::{self, expect_number};
use super::{
    Category, CompileContext, ConfigError, Env, Example, Function, Param, ParamKind, Returns,
    Signature, Transform, TransformError,
};

#[derive(Debug)]
pub struct Round;

#[derive(Debug)]
struct Prepared {
    decimals: i64,
}

static SIGNATURE: Signature = Signature {
    name: "round",
    category: Category::Number,
    summary: "Rounds a number to `decimals` decimal places, half away from zero.",
    docs: "Halves round away from zero (`2.5` → `3`, `-2.5` → `-3`). The number is rounded \
           as its shortest decimal form reads, so `2.345` rounds to `2.35` even though the \
           nearest binary float is slightly below it. A negative `decimals` rounds to tens, \
           hundreds, ... (`-2`: `1250` → `1300`). Integers stay integers, and a result \
           without a fraction is written as an integer (`round(2)` of `2.999` is `3`). A \
           string is read as a number first (`\"2.5\"`, see `to_number`); anything else \
           fails the record.",
    params: &[Param {
        name: "decimals",
        kind: ParamKind::Integer,
        required: true,
        docs: "Decimal places to keep; negative rounds left of the point.",
    }],
    returns: Returns::Number,
    examples: &[
        Example {
            title: "money",
            input: "19.995",
            config: r#"{"decimals": 2}"#,
            output: Ok("20"),
        },
        Example {
            title: "as written",
            input: "2.345",
            config: r#"{"decimals": 2}"#,
            output: Ok("2.35"),
        },
        Example {
            title: "half away from zero",
            input: "-2.5",
            config: r#"{"decimals": 0}"#,
            output: Ok("-3"),
        },
        Example {
            title: "to the hundred",
            input: "1250",
            config: r#"{"decimals": -2}"#,
            output: Ok("1300"),
        },
        Example {
            title: "not a number",
            input: r#""twelve""#,
            config: r#"{"decimals": 0}"#,
            output: Err("`round` expects a number, found string \"twelve\""),
        },
    ],
};

impl Function for Round {
    fn signature(&self) -> &'static Signature {
        &SIGNATURE
    }
    fn compile(
        &self,
        config: &Map<String, Value>,
        _: &CompileContext<'_>,
    ) -> Result<Box<dyn Transform>, Vec<ConfigError>> {
        let mut args = Args::new(&SIGNATURE, config);
        let decimals = args.integer("decimals");
        args.finish(decimals.map(|decimals| Box::new(Prepared { decimals }) as Box<dyn Transform>))
    }
}

impl Transform for Prepared {
    fn apply(&self, value: Value, _: &Env<'_>) -> Result<Value, TransformError> {
        num::round(expect_number(SIGNATURE.name, &value)?, self.decimals).into_value(SIGNATURE.name)
    }
}

#[cfg(test)]
mod tests {
    use crate::functions::tests::check;
    use expect_test::expect;

    #[test]
    fn cases() {
        check(
            "round",
            r#"{"decimals": 1}"#,
            r#"" 0.25 ""#,
            expect!["ok 0.3"],
        );
        check("round", r#"{"decimals": 2}"#, "7", expect!["ok 7"]);
        check("round", r#"{"decimals": 2}"#, "2.999", expect!["ok 3"]);
        check("round", r#"{"decimals": 0}"#, "0.5", expect!["ok 1"]);
        check("round", r#"{"decimals": -1}"#, "-15", expect!["ok -20"]);
        check(
            "round",
            r#"{"decimals": 0}"#,
            "null",
            expect!["err `round` expects a number, found null"],
        );
        check(
            "round",
            r#"{"decimals": 0}"#,
            "[1]",
            expect!["err `round` expects a number, found array [1]"],
        );
        check(
            "round",
            r#"{"decimals": "2"}"#,
            "1",
            expect![[r#"err `decimals` must be an integer, found string "2""#]],
        );
    }
}
