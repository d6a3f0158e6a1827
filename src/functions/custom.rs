//! `custom`: a rhai expression evaluated in the sandbox.

use serde_json::{Map, Value};

use super::args::Args;
use super::num::float_value;
use super::{
    Category, CompileContext, ConfigError, Env, Example, Function, Param, ParamKind, Returns,
    Signature, Transform, TransformError,
};
use crate::diagnostics::Code;
use crate::sandbox::{Sandbox, Script};

#[derive(Debug)]
pub struct Custom;

#[derive(Debug)]
struct Prepared {
    sandbox: Sandbox,
    script: Script,
}

static SIGNATURE: Signature = Signature {
    name: "custom",
    category: Category::Custom,
    summary: "Computes the value with a rhai expression.",
    docs: "`expression` is a [rhai](https://rhai.rs) script; its last expression is the \
           result. In scope: `value` (the current value), `record` (the whole source \
           record, a map) and `task` (the task's config, a map); any other variable must be \
           declared with `let`, and a misspelt one is reported at check time, as is any \
           syntax error. A missing map field reads as `()`, which becomes null. Available: \
           arithmetic, comparisons, strings (`to_upper`, `split`, `sub_string`, `replace`, \
           `contains`, ...), math (`floor`, `abs`, ...), arrays, maps, `if`, loops and \
           closures. Not available: `import`, `eval`, `sleep`, time, I/O; `print` and \
           `debug` print nothing. Each evaluation is limited to 50 ms, 5,000,000 \
           operations, 32 nested calls, strings of 4 MiB, arrays of 100,000 items and maps \
           of 10,000 entries; exceeding a limit, a runtime error (`1 / 0`) or a result \
           that is not finite fails the record. Integers above 9223372036854775807 arrive \
           as floats. A null value skips the script like every transformation: use a \
           conditional mapping to supply a value instead. Examples run with `record` = \
           `{\"Id\": \"003A\", \"FirstName\": \"Ada\", \"Amount\": 5000}` and `task` = \
           `{\"industry\": \"banking\"}`.",
    params: &[Param {
        name: "expression",
        kind: ParamKind::Script,
        required: true,
        docs: "The rhai expression; `value`, `record` and `task` are bound.",
    }],
    returns: Returns::Any,
    examples: &[
        Example {
            title: "arithmetic",
            input: "5000",
            config: r#"{"expression": "value * 0.1"}"#,
            output: Ok("500"),
        },
        Example {
            title: "an array",
            input: r#""a, b,c""#,
            config: r#"{"expression": "value.split(\",\").map(|s| { s.trim(); s })"}"#,
            output: Ok(r#"["a","b","c"]"#),
        },
        Example {
            title: "record and task",
            input: r#""Lovelace""#,
            config: r#"{"expression": "record.FirstName + \" \" + value + \" (\" + task.industry + \")\""}"#,
            output: Ok(r#""Ada Lovelace (banking)""#),
        },
        Example {
            title: "a runtime error",
            input: "0",
            config: r#"{"expression": "record.Amount / value"}"#,
            output: Err("Division by zero"),
        },
        Example {
            title: "a misspelt variable",
            input: "1",
            config: r#"{"expression": "valeu * 2"}"#,
            output: Err("Undefined variable: valeu"),
        },
    ],
};

impl Function for Custom {
    fn signature(&self) -> &'static Signature {
        &SIGNATURE
    }
    fn compile(
        &self,
        config: &Map<String, Value>,
        ctx: &CompileContext<'_>,
    ) -> Result<Box<dyn Transform>, Vec<ConfigError>> {
        let mut args = Args::new(&SIGNATURE, config);
        let script = args.string("expression").and_then(|expr| match ctx.sandbox.compile(&expr) {
            Ok(script) => Some(script),
            Err(e) => {
                let message = format!("invalid custom expression: {e}");
                let help = Some("`value`, `record` and `task` are in scope; declare other variables with `let`".to_string());
                args.error(Code::InvalidScript, "expression", message, help);
                None
            }
        });
        let sandbox = ctx.sandbox.clone();
        args.finish(
            script.map(|script| Box::new(Prepared { sandbox, script }) as Box<dyn Transform>),
        )
    }
}

/// rhai computes `5000 * 0.1` as the float `500.0`; like every transformation, `custom`
/// writes a float without fraction as an integer, inside arrays and maps too.
fn normalize(v: Value) -> Result<Value, TransformError> {
    match v {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => {
            float_value("custom", n.as_f64().unwrap_or(f64::NAN))
        }
        Value::Array(items) => items
            .into_iter()
            .map(normalize)
            .collect::<Result<_, _>>()
            .map(Value::Array),
        Value::Object(map) => map
            .into_iter()
            .map(|(k, v)| normalize(v).map(|v| (k, v)))
            .collect::<Result<_, _>>()
            .map(Value::Object),
        other => Ok(other),
    }
}

impl Transform for Prepared {
    fn apply(&self, value: Value, env: &Env<'_>) -> Result<Value, TransformError> {
        let out = self
            .sandbox
            .eval(&self.script, value, env.record, env.task)
            .map_err(|e| TransformError::new(format!("`custom`: {e}")))?;
        normalize(out)
    }

    fn reads_record(&self) -> bool {
        self.script.reads_record()
    }
}

#[cfg(test)]
mod tests {
    use crate::functions::tests::check;
    use expect_test::expect;

    #[test]
    fn cases() {
        let c = |expr: &str, input: &str, e| {
            let config = serde_json::json!({ "expression": expr }).to_string();
            check("custom", &config, input, e)
        };
        c(
            "value",
            r#"{"a": 2.0, "b": [1.5, 3.0]}"#,
            expect![[r#"ok {"a":2,"b":[1.5,3]}"#]],
        );
        c("task.industry", "1", expect![[r#"ok "banking""#]]);
        c("if value > 3 { \"big\" }", "1", expect!["ok null"]);
        c("value.len(", "1", expect!["err invalid custom expression: Expecting ')' to close the arguments list of this function call 'len' (line 1, column 11)"]);
        c(
            "loop {}",
            "1",
            expect!["err `custom`: the custom expression exceeded its time limit of 50 ms"],
        );
        c(
            "value / 0.0",
            "1",
            expect!["err `custom`: the result is not a finite number"],
        );
    }
}
