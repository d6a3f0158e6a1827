//! Field mappings and what they are made of: expressions, transformations, conditions,
//! lookups, relationships and validation rules.

use pest::iterators::Pair;
use serde_json::Value;

use super::{all, first, parts, Conv};
use crate::syntax::ast::*;
use crate::syntax::parser::Rule;

impl Conv<'_> {
    pub fn field_mapping(&mut self, pair: &Pair<'_, Rule>) -> FieldMapping {
        let span = self.span(pair);
        let mut m = FieldMapping {
            span,
            id: None,
            target: Name::new(String::new(), span),
            required: None,
            expr: MappingExpr::Default {
                value: Literal::new(Value::Null, span),
            },
            validation: Vec::new(),
        };
        for p in parts(pair) {
            match p.as_rule() {
                Rule::mapping_id => m.id = first(&p, Rule::string).map(|s| self.string(&s)),
                Rule::ident | Rule::quoted_ident => m.target = self.name(&p),
                Rule::required_mark => m.required = Some(self.span(&p)),
                Rule::expr => m.expr = self.expr(&p),
                Rule::validate => {
                    m.validation = all(&p, Rule::validation_rule)
                        .iter()
                        .map(|r| self.validation(r))
                        .collect()
                }
                _ => {}
            }
        }
        m
    }

    fn expr(&mut self, pair: &Pair<'_, Rule>) -> MappingExpr {
        let span = self.span(pair);
        let Some(inner) = pair.clone().into_inner().next() else {
            return MappingExpr::Default {
                value: Literal::new(Value::Null, span),
            };
        };
        match inner.as_rule() {
            Rule::match_expr | Rule::when_expr => {
                MappingExpr::Conditional(self.conditional(&inner))
            }
            Rule::lookup_expr => MappingExpr::Lookup(self.lookup(&inner)),
            Rule::join_call => {
                let span = self.span(&inner);
                let fields = all(&inner, Rule::path)
                    .iter()
                    .map(|p| self.path_name(p))
                    .collect();
                let separator = first(&inner, Rule::string).map(|s| self.string(&s));
                MappingExpr::Composite(Composite {
                    span,
                    fields,
                    separator,
                    template: None,
                })
            }
            Rule::flatten_call => {
                let ps = parts(&inner);
                let field = ps
                    .iter()
                    .find(|p| matches!(p.as_rule(), Rule::ident | Rule::quoted_ident));
                let path = first(&inner, Rule::string);
                match (field, path) {
                    (Some(f), Some(p)) => MappingExpr::Flatten {
                        field: self.name(f),
                        path: self.string(&p),
                    },
                    _ => MappingExpr::Default {
                        value: Literal::new(Value::Null, span),
                    },
                }
            }
            Rule::task_ref => {
                let key = inner.as_str().strip_prefix("task.").unwrap_or_default();
                let value = Value::String(format!("{{{{task.{key}}}}}"));
                MappingExpr::Default {
                    value: Literal::new(value, self.span(&inner)),
                }
            }
            Rule::template => {
                let Some(s) = inner.clone().into_inner().next() else {
                    return MappingExpr::Default {
                        value: Literal::new(Value::Null, span),
                    };
                };
                let (text, fields) = self.decode(&s, true);
                let span = self.span(&s);
                if has_placeholder(s.as_str()) {
                    MappingExpr::Composite(Composite {
                        span,
                        fields,
                        separator: None,
                        template: Some(Name::new(text, span)),
                    })
                } else {
                    MappingExpr::Default {
                        value: Literal::new(Value::String(text), span),
                    }
                }
            }
            Rule::literal => MappingExpr::Default {
                value: self.literal(&inner),
            },
            Rule::chain => {
                let steps: Vec<Transformation> = all(&inner, Rule::step)
                    .iter()
                    .filter_map(|s| first(s, Rule::transformation))
                    .map(|t| self.transformation(&t))
                    .collect();
                let Some(path) = first(&inner, Rule::path) else {
                    return MappingExpr::Default {
                        value: Literal::new(Value::Null, span),
                    };
                };
                if steps.is_empty() {
                    self.path_expr(&path)
                } else {
                    MappingExpr::Transform {
                        field: self.path_name(&path),
                        steps,
                    }
                }
            }
            _ => MappingExpr::Default {
                value: Literal::new(Value::Null, span),
            },
        }
    }

    fn transformation(&mut self, pair: &Pair<'_, Rule>) -> Transformation {
        let span = self.span(pair);
        let name = first(pair, Rule::ident)
            .map(|n| self.name(&n))
            .unwrap_or_else(|| Name::new(String::new(), span));
        let args = all(pair, Rule::arg)
            .iter()
            .map(|a| Arg {
                name: first(a, Rule::arg_name)
                    .and_then(|n| first(&n, Rule::ident))
                    .map(|n| self.name(&n)),
                value: first(a, Rule::literal)
                    .map(|l| self.literal(&l))
                    .unwrap_or_else(|| Literal::new(Value::Null, span)),
            })
            .collect();
        Transformation { span, name, args }
    }

    fn validation(&mut self, pair: &Pair<'_, Rule>) -> Validation {
        let span = self.span(pair);
        let rule = first(pair, Rule::ident)
            .map(|n| self.name(&n))
            .unwrap_or_else(|| Name::new(String::new(), span));
        let mut v = Validation {
            span,
            rule,
            value: None,
            message: None,
        };
        if let Some(args) = first(pair, Rule::rule_args) {
            v.value = first(&args, Rule::literal).map(|l| self.literal(&l));
            v.message = first(&args, Rule::rule_message)
                .and_then(|m| first(&m, Rule::string))
                .map(|s| self.string(&s));
        }
        v
    }

    fn conditional(&mut self, pair: &Pair<'_, Rule>) -> Conditional {
        let span = self.span(pair);
        let mut arms = Vec::new();
        if pair.as_rule() == Rule::match_expr {
            let field = first(pair, Rule::path)
                .map(|p| self.path_name(&p))
                .unwrap_or_else(|| Name::new(String::new(), span));
            for arm in all(pair, Rule::match_arm) {
                let arm_span = self.span(&arm);
                if let Some(d) = first(&arm, Rule::default_arm) {
                    arms.push(self.default_arm(&d));
                    continue;
                }
                let (Some(pat), Some(then)) = (first(&arm, Rule::pattern), first(&arm, Rule::then))
                else {
                    continue;
                };
                let pat_span = self.span(&pat);
                let value = first(&pat, Rule::literal).map(|l| self.literal(&l));
                let op = if let Some(op) =
                    first(&pat, Rule::cmp_op).or_else(|| first(&pat, Rule::word_op))
                {
                    Name::new(normalise_op(op.as_str()), self.span(&op))
                } else {
                    // A bare value means `==`; the operator has no text of its own.
                    Name::new("eq".to_string(), pat_span)
                };
                let condition = Condition {
                    span: pat_span,
                    field: field.clone(),
                    op,
                    value,
                };
                arms.push(Arm::Rule {
                    span: arm_span,
                    condition,
                    then: self.then(&then),
                });
            }
            Conditional {
                span,
                style: CondStyle::Match { field },
                arms,
            }
        } else {
            for arm in all(pair, Rule::when_arm) {
                let arm_span = self.span(&arm);
                if let Some(d) = first(&arm, Rule::default_arm) {
                    arms.push(self.default_arm(&d));
                    continue;
                }
                let (Some(cond), Some(then)) =
                    (first(&arm, Rule::condition), first(&arm, Rule::then))
                else {
                    continue;
                };
                let condition = self.condition(&cond);
                arms.push(Arm::Rule {
                    span: arm_span,
                    condition,
                    then: self.then(&then),
                });
            }
            Conditional {
                span,
                style: CondStyle::When,
                arms,
            }
        }
    }

    fn default_arm(&mut self, pair: &Pair<'_, Rule>) -> Arm {
        let span = self.span(pair);
        let value = first(pair, Rule::literal)
            .map(|l| self.literal(&l))
            .unwrap_or_else(|| Literal::new(Value::Null, span));
        Arm::Default { span, value }
    }

    pub(super) fn then(&mut self, pair: &Pair<'_, Rule>) -> Then {
        let span = self.span(pair);
        if let Some(l) = first(pair, Rule::literal) {
            return Then::Value(self.literal(&l));
        }
        let Some(chain) = first(pair, Rule::chain) else {
            return Then::Value(Literal::new(Value::Null, span));
        };
        let steps: Vec<Transformation> = all(&chain, Rule::step)
            .iter()
            .filter_map(|s| first(s, Rule::transformation))
            .map(|t| self.transformation(&t))
            .collect();
        let field = first(&chain, Rule::path)
            .map(|p| self.path_name(&p))
            .unwrap_or_else(|| Name::new(String::new(), span));
        if steps.is_empty() {
            Then::Field(field)
        } else {
            Then::Transform { field, steps }
        }
    }

    pub fn condition(&mut self, pair: &Pair<'_, Rule>) -> Condition {
        let span = self.span(pair);
        let field = first(pair, Rule::path)
            .map(|p| self.path_name(&p))
            .unwrap_or_else(|| Name::new(String::new(), span));
        let op = first(pair, Rule::cmp_op)
            .or_else(|| first(pair, Rule::word_op))
            .map(|op| Name::new(normalise_op(op.as_str()), self.span(&op)))
            .unwrap_or_else(|| Name::new(String::new(), span));
        let value = first(pair, Rule::literal).map(|l| self.literal(&l));
        Condition {
            span,
            field,
            op,
            value,
        }
    }

    pub(super) fn lookup(&mut self, pair: &Pair<'_, Rule>) -> Lookup {
        let span = self.span(pair);
        let field = first(pair, Rule::path)
            .map(|p| self.path_name(&p))
            .unwrap_or_else(|| Name::new(String::new(), span));
        let from = if let Some(shard) = first(pair, Rule::lookup_shard) {
            let names = first(&shard, Rule::dotted)
                .map(|d| parts(&d))
                .unwrap_or_default();
            let mut names = names.iter().map(|n| self.name(n));
            let shard_type = names
                .next()
                .unwrap_or_else(|| Name::new(String::new(), span));
            LookupFrom::Shard {
                shard_type,
                return_field: names.next(),
            }
        } else {
            let table = first(pair, Rule::lookup_table_ref)
                .and_then(|t| t.into_inner().next())
                .map(|n| self.name(&n))
                .unwrap_or_else(|| Name::new(String::new(), span));
            LookupFrom::Table(table)
        };
        let default = first(pair, Rule::literal).map(|l| self.literal(&l));
        Lookup {
            span,
            field,
            from,
            default,
        }
    }

    pub(super) fn relationship(&mut self, pair: &Pair<'_, Rule>) -> RelationshipMapping {
        let span = self.span(pair);
        let empty = Name::new(String::new(), span);
        let names: Vec<Pair<'_, Rule>> = pair
            .clone()
            .into_inner()
            .filter(|p| matches!(p.as_rule(), Rule::ident | Rule::quoted_ident))
            .collect();
        let mut names = names.iter().map(|n| self.name(n));
        let target = names.next().unwrap_or_else(|| empty.clone());
        let kind = names.next().unwrap_or_else(|| empty.clone());
        let shard_type = names.next().unwrap_or_else(|| empty.clone());
        let by_external_id = first(pair, Rule::kw_external_id).is_some();
        let field = first(pair, Rule::path)
            .map(|p| self.path_name(&p))
            .unwrap_or(empty);
        RelationshipMapping {
            span,
            target,
            kind,
            shard_type,
            by_external_id,
            field,
        }
    }
}

/// True when a string token holds a `${` whose `$` is not escaped.
fn has_placeholder(raw: &str) -> bool {
    let mut escaped = false;
    let mut prev_dollar = false;
    for c in raw.chars() {
        if escaped {
            escaped = false;
            prev_dollar = false;
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                prev_dollar = false;
            }
            '{' if prev_dollar => return true,
            '$' => prev_dollar = true,
            _ => prev_dollar = false,
        }
    }
    false
}

/// `.cmap` operator spellings -> spec operator names; other words are kept as written.
pub(crate) fn normalise_op(op: &str) -> String {
    let words: Vec<&str> = op.split_whitespace().collect();
    match words.as_slice() {
        ["=="] => "eq".into(),
        ["!="] => "neq".into(),
        [">"] => "gt".into(),
        [">="] => "gte".into(),
        ["<"] => "lt".into(),
        ["<="] => "lte".into(),
        ["not", rest] => format!("not_{rest}"),
        _ => op.to_string(),
    }
}
