//! `currency_convert`: an amount converted between currencies with the rate table.

use serde_json::{Map, Value};

use super::args::Args;
use super::num::{expect_number, float_value};
use super::{
    Category, CompileContext, ConfigError, Env, Example, Function, Param, ParamKind, Rates,
    Returns, Signature, Transform, TransformError,
};
use crate::diagnostics::{did_you_mean, Code};

#[derive(Debug)]
pub struct CurrencyConvert;

#[derive(Debug)]
struct Prepared {
    /// The rates of `from` and `to`, resolved once from the table.
    from: f64,
    to: f64,
}

static SIGNATURE: Signature = Signature {
    name: "currency_convert",
    category: Category::Number,
    summary: "Converts an amount from currency `from` to currency `to`.",
    docs: "Uses the pipeline's rate table (`rates BASE { CODE: rate, ... }`, where one unit \
           of the base buys `rate` units of `CODE`; the base itself has rate 1): the result \
           is `amount / rate[from] * rate[to]`. A pipeline that declares `rates` converts \
           with its own tables only; one that declares none with the standard library's \
           reference rates (stdlib/rates.cmap, on USD). Codes are ISO 4217 and matched without regard \
           to case. Both currencies are checked against the table at check time, so an \
           unknown code is reported before any record is read. The result is not rounded: \
           follow with `round(2)`. A string amount is read as a number first (see \
           `to_number`); anything else fails the record. Examples use the table \
           `rates USD { EUR: 0.92, GBP: 0.79, JPY: 151.2 }`.",
    params: &[
        Param {
            name: "from",
            kind: ParamKind::Currency,
            required: true,
            docs: "The currency of the input.",
        },
        Param {
            name: "to",
            kind: ParamKind::Currency,
            required: true,
            docs: "The currency wanted.",
        },
    ],
    returns: Returns::Number,
    examples: &[
        Example {
            title: "euros to dollars",
            input: "92",
            config: r#"{"from": "EUR", "to": "USD"}"#,
            output: Ok("100"),
        },
        Example {
            title: "through the base",
            input: "100",
            config: r#"{"from": "GBP", "to": "JPY"}"#,
            output: Ok("19139.24050632911"),
        },
        Example {
            title: "same currency",
            input: "12.5",
            config: r#"{"from": "usd", "to": "USD"}"#,
            output: Ok("12.5"),
        },
        Example {
            title: "an unknown currency",
            input: "1",
            config: r#"{"from": "EUT", "to": "USD"}"#,
            output: Err("unknown currency `EUT`"),
        },
    ],
};

impl Function for CurrencyConvert {
    fn signature(&self) -> &'static Signature {
        &SIGNATURE
    }
    fn compile(
        &self,
        config: &Map<String, Value>,
        ctx: &CompileContext<'_>,
    ) -> Result<Box<dyn Transform>, Vec<ConfigError>> {
        let mut args = Args::new(&SIGNATURE, config);
        let from = args
            .string("from")
            .and_then(|code| resolve(&mut args, ctx.rates, "from", &code));
        let to = args
            .string("to")
            .and_then(|code| resolve(&mut args, ctx.rates, "to", &code));
        let built = from
            .zip(to)
            .map(|(from, to)| Box::new(Prepared { from, to }) as Box<dyn Transform>);
        args.finish(built)
    }
}

/// The rate of `code` (1 for the base), or an error naming the closest known code.
fn resolve(args: &mut Args<'_>, rates: &Rates, key: &'static str, code: &str) -> Option<f64> {
    let upper = code.trim().to_ascii_uppercase();
    let rate = if upper == rates.base.to_ascii_uppercase() {
        Some(1.0)
    } else {
        rates
            .rates
            .iter()
            .find(|(c, _)| c.to_ascii_uppercase() == upper)
            .map(|(_, r)| *r)
    };
    match rate {
        Some(r) if r.is_finite() && r > 0.0 => Some(r),
        Some(r) => {
            let message = format!("the rate of `{upper}` is {r}, which cannot convert anything");
            let help = Some(format!(
                "give `{upper}` a positive rate in the `rates` table"
            ));
            args.error(Code::UnknownCurrency, key, message, help);
            None
        }
        None => {
            let mut known: Vec<&str> = std::iter::once(rates.base.as_str())
                .chain(rates.rates.keys().map(String::as_str))
                .filter(|c| !c.is_empty())
                .collect();
            // The table may list its base too.
            known.sort_unstable();
            known.dedup();
            let help = match did_you_mean(&upper, known.iter().copied()) {
                Some(close) => format!("did you mean `{close}`?"),
                None if known.is_empty() => {
                    "add a `rates` table, e.g. `rates USD { EUR: 0.92 }`".to_string()
                }
                None => format!(
                    "known currencies: {}; add `{upper}` to the `rates` table",
                    known.join(", ")
                ),
            };
            args.error(
                Code::UnknownCurrency,
                key,
                format!("unknown currency `{code}`"),
                Some(help),
            );
            None
        }
    }
}

impl Transform for Prepared {
    fn apply(&self, value: Value, _: &Env<'_>) -> Result<Value, TransformError> {
        // In the spec's order of operations, so results match its definition exactly.
        float_value(
            SIGNATURE.name,
            expect_number(SIGNATURE.name, &value)?.as_f64() / self.from * self.to,
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::functions::tests::check;
    use expect_test::expect;

    #[test]
    fn cases() {
        let c = |config: &str, input: &str, e| check("currency_convert", config, input, e);
        c(r#"{"from": "USD", "to": "EUR"}"#, "100", expect!["ok 92"]);
        c(
            r#"{"from": "EUR", "to": "GBP"}"#,
            r#""10""#,
            expect!["ok 8.58695652173913"],
        );
        c(r#"{"from": "usd", "to": "jpy"}"#, "1", expect!["ok 151.2"]);
        c(
            r#"{"from": "USD", "to": "EUR"}"#,
            r#""ten""#,
            expect![[r#"err `currency_convert` expects a number, found string "ten""#]],
        );
        c(
            r#"{"from": "XXX", "to": "EUT"}"#,
            "1",
            expect!["err unknown currency `XXX`; unknown currency `EUT`"],
        );
    }

    #[test]
    fn unknown_currencies_suggest_a_known_one() {
        use crate::functions::{lookup, CompileContext};
        let rates = crate::functions::tests::rates();
        let sandbox = crate::sandbox::Sandbox::new();
        let ctx = CompileContext {
            rates: &rates,
            sandbox: &sandbox,
        };
        let config = serde_json::json!({"from": "EUT", "to": "XXX"});
        let errors = match (lookup("currency_convert"), config.as_object()) {
            (Some(f), Some(config)) => f.compile(config, &ctx).err().unwrap_or_default(),
            _ => Vec::new(),
        };
        let rendered: Vec<String> = errors
            .iter()
            .map(|e| format!("{} {}: {:?}", e.code.as_str(), e.param, e.help))
            .collect();
        expect![[r#"
            [
                "E0109 from: Some(\"did you mean `EUR`?\")",
                "E0109 to: Some(\"known currencies: EUR, GBP, JPY, USD; add `XXX` to the `rates` table\")",
            ]
        "#]]
        .assert_debug_eq(&rendered);
    }
}
