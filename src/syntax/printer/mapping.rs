//! Field mappings (`target! = expr validate ..`, `match`/`when` blocks), transformations,
//! conditions, validation rules and relationship mappings.

use serde_json::Value;

use super::{
    ident, inline, is_name, is_path_tail, path, string, value_at, Layout, Printer, EXPR_WORDS,
    VALUE_WORDS,
};
use crate::syntax::ast::*;

impl Layout {
    /// A mapping; a conditional is a container of its arms.
    pub(super) fn mapping(&mut self, m: &MappingItem) {
        match m {
            MappingItem::Field(f) => {
                self.anchors.push(f.span);
                if let MappingExpr::Conditional(c) = &f.expr {
                    self.containers.push(c.span);
                    self.anchors.extend(c.arms.iter().map(arm_span));
                }
            }
            MappingItem::Relationship(r) => self.anchors.push(r.span),
        }
    }
}

impl Printer<'_> {
    pub(super) fn field_mapping(&mut self, indent: usize, f: &FieldMapping) {
        let mut head = String::new();
        if let Some(id) = &f.id {
            head.push_str(&format!("@id({}) ", string(&id.node)));
        }
        head.push_str(&ident(&f.target.node, VALUE_WORDS));
        if f.required.is_some() {
            head.push('!');
        }
        head.push_str(" = ");
        let validate = if f.validation.is_empty() {
            String::new()
        } else {
            let rules: Vec<String> = f.validation.iter().map(validation).collect();
            format!(" validate {}", rules.join(", "))
        };
        match &f.expr {
            MappingExpr::Conditional(c) => {
                let (word, field) = match &c.style {
                    CondStyle::Match { field }
                        if c.arms.iter().all(|a| match a {
                            Arm::Rule { condition, .. } => condition.field.node == field.node,
                            Arm::Default { .. } => true,
                        }) =>
                    {
                        (format!("match {}", path(&field.node)), true)
                    }
                    _ => ("when".to_string(), false),
                };
                self.line(indent, &format!("{head}{word} {{"), Some(f.span));
                for arm in &c.arms {
                    let text = match arm {
                        Arm::Default { value, .. } => format!("_ => {}", inline(&value.node)),
                        Arm::Rule {
                            condition: cond,
                            then,
                            ..
                        } => {
                            let test = if field {
                                pattern(cond)
                            } else {
                                condition(cond)
                            };
                            format!("{test} => {}", self.then(then))
                        }
                    };
                    self.line(indent + 1, &text, Some(arm_span(arm)));
                }
                self.close(indent, c.span, &validate);
            }
            expr => {
                let col = indent * 2 + head.chars().count();
                let text = format!("{head}{}{validate}", self.expr(expr, indent, col));
                self.line(indent, &text, Some(f.span));
            }
        }
    }

    pub(super) fn expr(&self, e: &MappingExpr, indent: usize, col: usize) -> String {
        match e {
            MappingExpr::Direct { field } => ident(&field.node, EXPR_WORDS),
            MappingExpr::Transform { field, steps } => {
                format!("{}{}", path(&field.node), self.steps(steps))
            }
            MappingExpr::Default { value } => match &value.node {
                Value::String(s) => match task_key(s) {
                    Some(k) => format!("task.{k}"),
                    None => string(s).replace("${", "\\${"),
                },
                v => value_at(v, indent, col),
            },
            MappingExpr::Composite(c) => match &c.template {
                Some(t) => string(&t.node),
                None => {
                    let mut args: Vec<String> = c.fields.iter().map(|f| path(&f.node)).collect();
                    if let Some(sep) = &c.separator {
                        args.push(format!("sep: {}", string(&sep.node)));
                    }
                    format!("join({})", args.join(", "))
                }
            },
            MappingExpr::Lookup(l) => {
                let from = match &l.from {
                    LookupFrom::Table(t) => ident(&t.node, &["shard"]),
                    LookupFrom::Shard {
                        shard_type,
                        return_field,
                    } => {
                        let field = return_field
                            .as_ref()
                            .map(|r| format!(".{}", ident(&r.node, &[])));
                        format!(
                            "shard {}{}",
                            ident(&shard_type.node, &["else"]),
                            field.unwrap_or_default()
                        )
                    }
                };
                let default = l
                    .default
                    .as_ref()
                    .map(|d| format!(" else {}", inline(&d.node)))
                    .unwrap_or_default();
                format!("lookup {} in {from}{default}", path(&l.field.node))
            }
            MappingExpr::Flatten { field, path: p } => {
                let head = ident(&field.node, EXPR_WORDS);
                if is_path_tail(&p.node) {
                    let sep = if p.node.starts_with('[') { "" } else { "." };
                    format!("{head}{sep}{}", p.node)
                } else {
                    format!("flatten({}, {})", ident(&field.node, &[]), string(&p.node))
                }
            }
            // Not expressible in `.cmap`: kept visible so `check` reports it.
            MappingExpr::Unknown { mapping_type } => string(&mapping_type.node),
            MappingExpr::Conditional(_) => String::new(),
        }
    }

    pub(super) fn steps(&self, steps: &[Transformation]) -> String {
        steps
            .iter()
            .map(|t| format!(" | {}", self.transformation(t)))
            .collect()
    }

    pub(super) fn transformation(&self, t: &Transformation) -> String {
        if t.args.is_empty() {
            return t.name.node.clone();
        }
        // Named arguments that are the first parameters, in order, print positionally.
        let names = self.params.and_then(|f| f(&t.name.node));
        let positional = names.is_some_and(|names| {
            t.args.len() <= names.len()
                && t.args
                    .iter()
                    .zip(&names)
                    .all(|(a, n)| a.name.as_ref().is_none_or(|an| an.node == *n))
        });
        let args: Vec<String> = t
            .args
            .iter()
            .map(|a| match (&a.name, positional) {
                (Some(n), false) => format!("{}: {}", n.node, inline(&a.value.node)),
                _ => inline(&a.value.node),
            })
            .collect();
        format!("{}({})", t.name.node, args.join(", "))
    }

    pub(super) fn then(&self, t: &Then) -> String {
        match t {
            Then::Value(v) => inline(&v.node),
            Then::Field(f) => path(&f.node),
            Then::Transform { field, steps } => {
                format!("{}{}", path(&field.node), self.steps(steps))
            }
        }
    }
}

/// `companyId -> belongs_to c_company by external_id(AccountId)`.
pub(super) fn relationship(r: &RelationshipMapping) -> String {
    format!(
        "{} -> {} {} by {}({})",
        ident(&r.target.node, VALUE_WORDS),
        r.kind.node,
        ident(&r.shard_type.node, &[]),
        if r.by_external_id {
            "external_id"
        } else {
            "id"
        },
        path(&r.field.node)
    )
}

fn arm_span(a: &Arm) -> Span {
    match a {
        Arm::Rule { span, .. } | Arm::Default { span, .. } => *span,
    }
}

/// `{{task.KEY}}` -> `KEY`, when KEY is a plain identifier.
fn task_key(s: &str) -> Option<&str> {
    let k = s.strip_prefix("{{task.")?.strip_suffix("}}")?;
    is_name(k).then_some(k)
}

fn op_symbol(op: &str) -> &str {
    match op {
        "eq" => "==",
        "neq" => "!=",
        "gt" => ">",
        "gte" => ">=",
        "lt" => "<",
        "lte" => "<=",
        "not_in" => "not in",
        "not_exists" => "not exists",
        other => other,
    }
}

pub(super) fn condition(c: &Condition) -> String {
    let field = path(&c.field.node);
    match &c.value {
        Some(v) => format!("{field} {} {}", op_symbol(&c.op.node), inline(&v.node)),
        None => format!("{field} {}", op_symbol(&c.op.node)),
    }
}

/// A `match` pattern: the condition without its field; `==` is implied.
pub(super) fn pattern(c: &Condition) -> String {
    match (&c.value, c.op.node.as_str()) {
        (Some(v), "eq") => inline(&v.node),
        (Some(v), op) => format!("{} {}", op_symbol(op), inline(&v.node)),
        (None, op) => op_symbol(op).to_string(),
    }
}

pub(super) fn validation(v: &Validation) -> String {
    let mut args = Vec::new();
    if let Some(value) = &v.value {
        args.push(inline(&value.node));
    }
    if let Some(m) = &v.message {
        args.push(format!("message: {}", string(&m.node)));
    }
    if args.is_empty() {
        v.rule.node.clone()
    } else {
        format!("{}({})", v.rule.node, args.join(", "))
    }
}
