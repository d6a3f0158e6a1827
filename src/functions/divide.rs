//! `divide`: a number divided by `divisor`.

use serde_json::{Map, Value};

use super::args::Args;
use super::num::{expect_number, float_value, Num};
use super::{
    Category, CompileContext, ConfigError, Env, Example, Function, Param, ParamKind, Returns,
    Signature, Transform, TransformError,
};

#[derive(Debug)]
pub struct Divide;

#[derive(Debug)]
struct Prepared {
    divisor: Num,
}

static SIGNATURE: Signature = Signature {
    name: "divide",
    category: Category::Number,
    summary: "Divides a number by `divisor`.",
    docs: "The quotient is a 64-bit float, written as an integer when it has no fraction \
           (`10` / `4` is `2.5`, `10` / `5` is `2`); there is no integer division. Dividing \
           by zero fails the record (the divisor is a constant, so that means every record \
           it meets). A string is read as a number first (see `to_number`); anything else \
           fails the record.",
    params: &[Param {
        name: "divisor",
        kind: ParamKind::Number,
        required: true,
        docs: "The divisor (not 0).",
    }],
    returns: Returns::Number,
    examples: &[
        Example {
            title: "cents to units",
            input: "1999",
            config: r#"{"divisor": 100}"#,
            output: Ok("19.99"),
        },
        Example {
            title: "exact",
            input: "10",
            config: r#"{"divisor": 5}"#,
            output: Ok("2"),
        },
        Example {
            title: "by zero",
            input: "10",
            config: r#"{"divisor": 0}"#,
            output: Err("division by zero"),
        },
        Example {
            title: "not a number",
            input: r#""n/a""#,
            config: r#"{"divisor": 2}"#,
            output: Err("`divide` expects a number, found string \"n/a\""),
        },
    ],
};

impl Function for Divide {
    fn signature(&self) -> &'static Signature {
        &SIGNATURE
    }
    fn compile(
        &self,
        config: &Map<String, Value>,
        _: &CompileContext<'_>,
    ) -> Result<Box<dyn Transform>, Vec<ConfigError>> {
        let mut args = Args::new(&SIGNATURE, config);
        let divisor = args.number("divisor").map(|n| Num::from_json(&n));
        args.finish(divisor.map(|divisor| Box::new(Prepared { divisor }) as Box<dyn Transform>))
    }
}

impl Transform for Prepared {
    fn apply(&self, value: Value, _: &Env<'_>) -> Result<Value, TransformError> {
        let n = expect_number(SIGNATURE.name, &value)?;
        let divisor = self.divisor.as_f64();
        if divisor == 0.0 {
            return Err(TransformError::new(format!(
                "`divide`: division by zero ({} / 0)",
                n.as_f64()
            )));
        }
        float_value(SIGNATURE.name, n.as_f64() / divisor)
    }
}

#[cfg(test)]
mod tests {
    use crate::functions::tests::check;
    use expect_test::expect;

    #[test]
    fn cases() {
        check("divide", r#"{"divisor": 4}"#, "10", expect!["ok 2.5"]);
        check("divide", r#"{"divisor": 0.5}"#, r#""3""#, expect!["ok 6"]);
        check(
            "divide",
            r#"{"divisor": -3}"#,
            "1",
            expect!["ok -0.3333333333333333"],
        );
        check(
            "divide",
            r#"{"divisor": 0.0}"#,
            "0",
            expect!["err `divide`: division by zero (0 / 0)"],
        );
        check("divide", "{}", "1", expect!["err `divide` needs `divisor`"]);
    }
}
