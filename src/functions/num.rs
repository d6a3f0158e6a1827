//! Numbers shared by the number transformations and the conversions: reading a number
//! from a value, writing one back (integers stay integers), and decimal rounding.

use serde_json::Value;

use super::{describe, TransformError};

/// A number as read from a value: integers are kept exact.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    pub fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }

    pub fn from_json(n: &serde_json::Number) -> Num {
        match n.as_i64() {
            Some(i) => Num::Int(i),
            // u64 beyond i64 and every float.
            None => Num::Float(n.as_f64().unwrap_or(f64::NAN)),
        }
    }

    pub fn into_value(self, function: &str) -> Result<Value, TransformError> {
        match self {
            Num::Int(i) => Ok(Value::from(i)),
            Num::Float(f) => float_value(function, f),
        }
    }
}

/// Integers within ±2^53 are exact in f64: a float result there is written as an
/// integer (`6`, not `6.0`), since JSON consumers do not tell them apart anyway.
const EXACT: f64 = 9_007_199_254_740_992.0;

/// Writes a float result; NaN and infinities fail the record (JSON has no such number).
pub(crate) fn float_value(function: &str, f: f64) -> Result<Value, TransformError> {
    let not_finite = || {
        TransformError::new(format!(
            "`{function}`: the result is not a finite number ({f})"
        ))
    };
    if !f.is_finite() {
        return Err(not_finite());
    }
    if f.fract() == 0.0 && f.abs() <= EXACT {
        // `-0.0` becomes `0`.
        return Ok(Value::from(f as i64));
    }
    serde_json::Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(not_finite)
}

/// Reads a number written as text: optional sign, digits, optional fraction and
/// exponent (`42`, `-1.5`, `+3`, `.5`, `1e3`), surrounding spaces ignored. Thousands
/// separators, `NaN` and `inf` are refused.
pub(crate) fn parse(s: &str) -> Option<Num> {
    let s = s.trim();
    let allowed = |c: char| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | 'e' | 'E');
    if s.is_empty() || !s.chars().all(allowed) || !s.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    if let Ok(i) = s.parse::<i64>() {
        return Some(Num::Int(i));
    }
    s.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(Num::Float)
}

/// The number a number transformation works on: a JSON number, or a string that
/// [`parse`] reads. Anything else fails the record.
pub(crate) fn expect_number(function: &str, v: &Value) -> Result<Num, TransformError> {
    let found = match v {
        Value::Number(n) => Some(Num::from_json(n)),
        Value::String(s) => parse(s),
        _ => None,
    };
    found.ok_or_else(|| {
        TransformError::new(format!(
            "`{function}` expects a number, found {}",
            describe(v)
        ))
    })
}

/// Rounds half away from zero to `decimals` places (negative: tens, hundreds, ...).
///
/// Floats are rounded as their shortest decimal form reads, not as their binary value:
/// `2.345` is stored as 2.34499999..., but rounds to `2.35` as written.
pub(crate) fn round(n: Num, decimals: i64) -> Num {
    match n {
        Num::Int(i) if decimals >= 0 => Num::Int(i),
        Num::Int(i) => {
            let Some(scale) = u32::try_from(-decimals)
                .ok()
                .and_then(|d| 10_i128.checked_pow(d))
            else {
                return Num::Int(0);
            };
            let i = i128::from(i);
            let half = scale / 2;
            let rounded = if i >= 0 {
                (i + half) / scale * scale
            } else {
                (i - half) / scale * scale
            };
            // Rounding may carry beyond i64 (i64::MAX to the nearest ten).
            i64::try_from(rounded).map_or(Num::Float(rounded as f64), Num::Int)
        }
        Num::Float(f) => Num::Float(round_float(f, decimals)),
    }
}

fn round_float(f: f64, decimals: i64) -> f64 {
    if !f.is_finite() || f == 0.0 {
        return f;
    }
    // `{:e}` is the shortest representation that reads back as `f`: `2.345e0`.
    let text = format!("{:e}", f.abs());
    let Some((mantissa, exponent)) = text.split_once('e') else {
        return f;
    };
    let Ok(exponent) = exponent.parse::<i64>() else {
        return f;
    };
    let digits: Vec<u8> = mantissa
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    // The value is 0.d1d2d3... × 10^(exponent + 1); keep `keep` digits.
    let point = exponent + 1;
    let keep = point.saturating_add(decimals);
    if keep >= digits.len() as i64 {
        return f;
    }
    let sign = if f < 0.0 { -1.0 } else { 1.0 };
    if keep < 0 {
        return 0.0 * sign;
    }
    let keep = keep as usize;
    let mut kept: Vec<u8> = digits.get(..keep).map(<[u8]>::to_vec).unwrap_or_default();
    let round_up = digits.get(keep).is_some_and(|d| *d >= 5);
    if round_up {
        // Add one at the last kept digit, carrying.
        let mut carry = true;
        for d in kept.iter_mut().rev() {
            if *d == 9 {
                *d = 0;
            } else {
                *d += 1;
                carry = false;
                break;
            }
        }
        if carry {
            kept.insert(0, 1);
            return rebuild(&kept, point + 1 - kept.len() as i64) * sign;
        }
    }
    rebuild(&kept, point - kept.len() as i64) * sign
}

/// `digits × 10^exponent`, parsed from text so the result is the float nearest to it.
fn rebuild(digits: &[u8], exponent: i64) -> f64 {
    if digits.is_empty() {
        return 0.0;
    }
    let text: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
    format!("{text}e{exponent}").parse().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_round(n: Num, decimals: i64, expect: &str) {
        let actual = round(n, decimals)
            .into_value("round")
            .map(|v| v.to_string())
            .unwrap_or_else(|e| e.message);
        assert_eq!(actual, expect, "round({n:?}, {decimals})");
    }

    #[test]
    fn rounds_half_away_from_zero() {
        check_round(Num::Float(2.345), 2, "2.35");
        check_round(Num::Float(-2.345), 2, "-2.35");
        check_round(Num::Float(1.005), 2, "1.01");
        check_round(Num::Float(2.5), 0, "3");
        check_round(Num::Float(-2.5), 0, "-3");
        check_round(Num::Float(0.4), 0, "0");
        check_round(Num::Float(-0.4), 0, "0");
        check_round(Num::Float(9.995), 2, "10");
        check_round(Num::Float(99.5), 0, "100");
        check_round(Num::Float(0.05), 1, "0.1");
        check_round(Num::Float(0.004), 2, "0");
        check_round(Num::Float(1.5e-10), 3, "0");
        check_round(Num::Float(1234.5678), -2, "1200");
        check_round(Num::Float(1250.0), -2, "1300");
        check_round(Num::Float(3.25159), 10, "3.25159");
        check_round(Num::Float(1e300), 2, "1e+300");
        check_round(Num::Int(1250), -2, "1300");
        check_round(Num::Int(-1250), -2, "-1300");
        check_round(Num::Int(1249), -2, "1200");
        check_round(Num::Int(7), 2, "7");
        check_round(Num::Int(7), -40, "0");
        check_round(Num::Int(i64::MAX), -1, "9.223372036854776e+18");
        check_round(Num::Float(555.0), -1000, "0");
        check_round(Num::Float(5.55), i64::MAX, "5.55");
        check_round(Num::Float(5.55), i64::MIN, "0");
    }

    #[test]
    fn parses_numbers_from_text() {
        let p = |s: &str| parse(s);
        assert_eq!(p("42"), Some(Num::Int(42)));
        assert_eq!(p(" -1.5 "), Some(Num::Float(-1.5)));
        assert_eq!(p("+3"), Some(Num::Int(3)));
        assert_eq!(p(".5"), Some(Num::Float(0.5)));
        assert_eq!(p("1e3"), Some(Num::Float(1000.0)));
        assert_eq!(p("99999999999999999999"), Some(Num::Float(1e20)));
        assert_eq!(p("1,234.5"), None);
        assert_eq!(p("abc"), None);
        assert_eq!(p("NaN"), None);
        assert_eq!(p("inf"), None);
        assert_eq!(p("e"), None);
        assert_eq!(p(""), None);
        assert_eq!(p("1e999"), None);
        assert_eq!(p("--1"), None);
    }

    #[test]
    fn floats_that_are_integers_are_written_as_integers() {
        let w = |f: f64| {
            float_value("test", f)
                .map(|v| v.to_string())
                .unwrap_or_else(|e| e.message)
        };
        assert_eq!(w(6.0), "6");
        assert_eq!(w(-0.0), "0");
        assert_eq!(w(2.5), "2.5");
        assert_eq!(w(1e20), "1e+20");
        assert_eq!(
            w(f64::NAN),
            "`test`: the result is not a finite number (NaN)"
        );
        assert_eq!(
            w(f64::INFINITY),
            "`test`: the result is not a finite number (inf)"
        );
    }
}
