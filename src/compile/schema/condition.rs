//! Conditions (source filters and rules) with their operator and operand checks, and
//! conditional mappings (`match` / `when`) with unreachable-rule checks.

use serde_json::Value;

use super::{short, unknown_name, Lowered, Sx};
use crate::compile::ir::{self, Expr, Op};
use crate::compile::types::Ty;
use crate::diagnostics::{Code, Diagnostic};
use crate::syntax::ast::{self, Arm, CondStyle, Span};

impl Sx<'_, '_> {
    pub(super) fn condition(&mut self, c: &ast::Condition) -> Option<ir::Condition> {
        let (field, _) = self.source(&c.field);
        let op = Op::from_name(&c.op.node);
        if op.is_none() {
            let names: Vec<&str> = Op::ALL.iter().map(|o| o.as_str()).collect();
            self.push(unknown_name(
                Code::UnknownOperator,
                c.op.span,
                "operator",
                &c.op.node,
                &names,
            ));
        }
        let value = op.and_then(|op| self.operand(c, op));
        Some(ir::Condition {
            field: field?,
            op: op?,
            value: value?,
        })
    }

    /// Checks the value's shape against the operator (E0207).
    fn operand(&mut self, c: &ast::Condition, op: Op) -> Option<Value> {
        let name = op.as_str();
        let value = c.value.as_ref();
        let span = value.map_or(c.span, |v| v.span);
        let this = value.map_or("nothing".to_string(), |v| Ty::of_value(&v.node).describe());
        let bad = |message: String, help: String| {
            Diagnostic::new(Code::OperatorValue, span, message)
                .with_label(format!("this is {this}"))
                .with_help(help)
        };
        let d = match (op, value.map(|v| &v.node)) {
            (Op::Exists | Op::NotExists, None | Some(Value::Null)) => return Some(Value::Null),
            (Op::Exists | Op::NotExists, Some(_)) => bad(
                format!("`{name}` takes no value"),
                format!(
                    "remove the value: `{} {}`",
                    c.field.node,
                    name.replace('_', " ")
                ),
            ),
            (Op::In | Op::NotIn, Some(v @ Value::Array(_))) => return Some(v.clone()),
            (Op::In | Op::NotIn, Some(v)) => bad(
                format!("`{name}` needs an array of values"),
                format!("wrap it in brackets: `[{}]`", short(v)),
            ),
            (
                Op::Gt | Op::Gte | Op::Lt | Op::Lte,
                Some(v @ (Value::Number(_) | Value::String(_))),
            ) => return Some(v.clone()),
            (Op::Gt | Op::Gte | Op::Lt | Op::Lte, _) => bad(
                format!("`{name}` compares with a number, a string or a date"),
                "compare with a number (`100`), a string or a date (`\"2026-01-01\"`)".into(),
            ),
            (Op::StartsWith | Op::EndsWith, Some(v @ Value::String(_))) => return Some(v.clone()),
            (Op::StartsWith | Op::EndsWith, Some(v)) => bad(
                format!("`{name}` needs a string"),
                format!("quote it: `\"{}\"`", v.to_string().trim_matches('"')),
            ),
            (_, Some(v)) => return Some(v.clone()),
            (_, None) => bad(
                format!("`{name}` needs a value"),
                format!(
                    "give the value to compare with, e.g. `{} {name} \"x\"`",
                    c.field.node
                ),
            ),
        };
        self.push(d);
        None
    }

    pub(super) fn conditional(&mut self, c: &ast::Conditional) -> Lowered {
        let mut default: Option<(Span, Value)> = None;
        let mut rules = Vec::new();
        let mut ok = true;
        let mut tys = Vec::new();
        let mut earlier: Vec<(&ast::Condition, Span, usize)> = Vec::new();
        let mut fields: Vec<&str> = Vec::new();
        for (index, arm) in c.arms.iter().enumerate() {
            let arm_span = match arm {
                Arm::Rule { span, .. } | Arm::Default { span, .. } => *span,
            };
            let after_default = default.as_ref().map(|(s, _)| *s);
            if let Some(dspan) = after_default {
                self.push(
                    Diagnostic::new(
                        Code::UnreachableRule,
                        arm_span,
                        "this arm can never be chosen",
                    )
                    .with_label("unreachable")
                    .with_related(dspan, "`_` matches every record first")
                    .with_help("move it before `_ =>`, or remove it"),
                );
            }
            match arm {
                Arm::Rule {
                    span,
                    condition,
                    then,
                } => {
                    let same = earlier.iter().find(|(e, _, _)| {
                        e.field.node == condition.field.node
                            && e.op.node == condition.op.node
                            && e.value.as_ref().map(|v| &v.node)
                                == condition.value.as_ref().map(|v| &v.node)
                    });
                    let duplicate = same.map(|(_, s, n)| (*s, *n));
                    if let (Some((first, n)), None) = (duplicate, after_default) {
                        self.push(
                            Diagnostic::new(
                                Code::UnreachableRule,
                                *span,
                                format!("this rule repeats rule {n}"),
                            )
                            .with_label("unreachable")
                            .with_related(first, "this identical rule always matches first")
                            .with_help("remove it: the earlier rule always wins"),
                        );
                    }
                    earlier.push((condition, *span, index + 1));
                    if !fields.contains(&condition.field.node.as_str()) {
                        fields.push(&condition.field.node);
                    }
                    let cond = self.condition(condition);
                    let (then, ty) = self.then(then);
                    tys.push(ty);
                    match (cond, then) {
                        (Some(condition), Some(then)) => {
                            // Unreachable rules are checked but not kept: the IR tries
                            // rules before the default, whatever the source order.
                            if after_default.is_none() && duplicate.is_none() {
                                rules.push(ir::Rule { condition, then });
                            }
                        }
                        _ => ok = false,
                    }
                }
                Arm::Default { span, value } => {
                    tys.push(Ty::of_value(&value.node));
                    if default.is_none() {
                        default = Some((*span, value.node.clone()));
                    }
                }
            }
        }
        let on = match &c.style {
            CondStyle::Match { field } => field.node.clone(),
            CondStyle::When => fields.join(", "),
        };
        let describe = format!(
            "conditional on {on}: {} rule{}{}",
            rules.len(),
            if rules.len() == 1 { "" } else { "s" },
            default
                .as_ref()
                .map(|(_, v)| format!(", default {}", short(v)))
                .unwrap_or_default()
        );
        Lowered {
            expr: ok.then(|| Expr::Conditional {
                rules,
                default: default.map(|(_, v)| v),
            }),
            ty: Ty::common(tys),
            describe,
        }
    }

    pub(super) fn then(&mut self, t: &ast::Then) -> (Option<ir::Then>, Ty) {
        match t {
            ast::Then::Value(v) => (Some(ir::Then::Value(v.node.clone())), Ty::of_value(&v.node)),
            ast::Then::Field(f) => {
                let (p, ty) = self.source(f);
                (p.map(ir::Then::Field), ty)
            }
            ast::Then::Transform { field, steps } => {
                let (p, ty) = self.source(field);
                let (steps, ty) = self.steps(steps, ty);
                match (p, steps) {
                    (Some(p), Some(s)) => (Some(ir::Then::Transform(p, s)), ty),
                    _ => (None, ty),
                }
            }
        }
    }
}
