//! `multiply`: a number times `factor`.

use serde_json::{Map, Value};

use super::args::Args;
use super::num::{expect_number, float_value, Num};
use super::{
    Category, CompileContext, ConfigError, Env, Example, Function, Param, ParamKind, Returns,
    Signature, Transform, TransformError,
};

#[derive(Debug)]
pub struct Multiply;

#[derive(Debug)]
struct Prepared {
    factor: Num,
}

static SIGNATURE: Signature = Signature {
    name: "multiply",
    category: Category::Number,
    summary: "Multiplies a number by `factor`.",
    docs: "Two integers multiply exactly (`2` × `3` is `6`, not `6.0`); otherwise the product \
           is a 64-bit float, written as an integer when it has no fraction. Floats are not \
           rounded (`0.1` × `3` is `0.30000000000000004`): follow with `round`. A string is \
           read as a number first (see `to_number`); anything else fails the record, and so \
           does a result too large for a float.",
    params: &[Param {
        name: "factor",
        kind: ParamKind::Number,
        required: true,
        docs: "The multiplier.",
    }],
    returns: Returns::Number,
    examples: &[
        Example {
            title: "integers",
            input: "2",
            config: r#"{"factor": 3}"#,
            output: Ok("6"),
        },
        Example {
            title: "cents to units",
            input: "1999",
            config: r#"{"factor": 0.01}"#,
            output: Ok("19.990000000000002"),
        },
        Example {
            title: "a numeric string",
            input: r#""2.5""#,
            config: r#"{"factor": 4}"#,
            output: Ok("10"),
        },
        Example {
            title: "not a number",
            input: "true",
            config: r#"{"factor": 2}"#,
            output: Err("`multiply` expects a number, found boolean true"),
        },
    ],
};

impl Function for Multiply {
    fn signature(&self) -> &'static Signature {
        &SIGNATURE
    }
    fn compile(
        &self,
        config: &Map<String, Value>,
        _: &CompileContext<'_>,
    ) -> Result<Box<dyn Transform>, Vec<ConfigError>> {
        let mut args = Args::new(&SIGNATURE, config);
        let factor = args.number("factor").map(|n| Num::from_json(&n));
        args.finish(factor.map(|factor| Box::new(Prepared { factor }) as Box<dyn Transform>))
    }
}

impl Transform for Prepared {
    fn apply(&self, value: Value, _: &Env<'_>) -> Result<Value, TransformError> {
        match (expect_number(SIGNATURE.name, &value)?, self.factor) {
            (Num::Int(a), Num::Int(b)) if a.checked_mul(b).is_some() => {
                Ok(Value::from(a.saturating_mul(b)))
            }
            (a, b) => float_value(SIGNATURE.name, a.as_f64() * b.as_f64()),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::functions::tests::check;
    use expect_test::expect;

    #[test]
    fn cases() {
        check("multiply", r#"{"factor": -1}"#, "5", expect!["ok -5"]);
        check(
            "multiply",
            r#"{"factor": 2}"#,
            "9223372036854775807",
            expect!["ok 1.8446744073709552e+19"],
        );
        check(
            "multiply",
            r#"{"factor": 1e308}"#,
            "10",
            expect!["err `multiply`: the result is not a finite number (inf)"],
        );
        check("multiply", r#"{"factor": 0.5}"#, "3", expect!["ok 1.5"]);
        check(
            "multiply",
            r#"{"factor": 2}"#,
            r#""1,5""#,
            expect![[r#"err `multiply` expects a number, found string "1,5""#]],
        );
        check(
            "multiply",
            r#"{"factor": "2"}"#,
            "1",
            expect![[r#"err `factor` must be a number, found string "2""#]],
        );
    }
}
