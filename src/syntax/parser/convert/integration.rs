//! `integration ID "Display name" { .. }`: an IntegrationDefinition of the catalogue.
//! Every clause but `auth` is a word and a value; the word picks the field (an unknown
//! one is E0901 with the nearest word), the value's shape is checked here when the AST
//! cannot hold a wrong one (a list where one name belongs), and left to `compile`
//! otherwise (a boolean clause's literal).

use pest::iterators::Pair;

use super::{all, first, parts, set_once, Conv};
use crate::diagnostics::{did_you_mean, Code, Diagnostic};
use crate::syntax::ast::*;
use crate::syntax::parser::Rule;

/// An integration opened from its head, its clauses still to come.
pub(super) fn new(span: Span, id: Name, display_name: Option<Name>) -> Integration {
    Integration {
        span,
        id,
        display_name,
        name: None,
        description: None,
        category: None,
        icon: None,
        color: None,
        visibility: None,
        premium: None,
        plan: None,
        capabilities: None,
        directions: None,
        realtime: None,
        webhooks: None,
        auth: None,
        entities: None,
        scope: None,
        status: None,
        version: None,
    }
}

/// A clause's value as written: a literal, or words (`read, write`, `salesforce.Contact`).
enum Value {
    Literal(Literal),
    Words(Span, Vec<Name>),
}

impl Value {
    fn span(&self) -> Span {
        match self {
            Value::Literal(l) => l.span,
            Value::Words(span, _) => *span,
        }
    }
}

/// Adds one statement of the integration.
pub(super) fn stmt(c: &mut Conv<'_>, k: &mut Integration, stmt: &Pair<'_, Rule>) {
    let Some(inner) = stmt.clone().into_inner().next() else {
        return;
    };
    let at = c.span(&inner);
    let owner = format!("integration `{}`", k.id.node);
    match inner.as_rule() {
        Rule::auth => {
            let kind = parts(&inner)
                .into_iter()
                .find(|p| matches!(p.as_rule(), Rule::ident | Rule::quoted_ident))
                .map(|n| c.name(&n))
                .unwrap_or_else(|| Name::new(String::new(), at));
            let oauth = first(&inner, Rule::auth_block).map(|b| OAuthBlock {
                span: c.span(&b),
                fields: all(&b, Rule::credential)
                    .iter()
                    .filter_map(|e| c.credential(e))
                    .collect(),
            });
            let auth = IntegrationAuth {
                span: at,
                kind,
                oauth,
            };
            set_once(c, &mut k.auth, auth, |a| a.span, "auth", &owner, at);
        }
        Rule::integration_prop => {
            let Some(word) = first(&inner, Rule::ident).map(|w| c.name(&w)) else {
                return;
            };
            let Some(value) = first(&inner, Rule::prop_value).and_then(|v| c.prop_value(&v)) else {
                return;
            };
            clause(c, k, &owner, at, &word, value);
        }
        _ => {}
    }
}

/// Stores one `word value` clause in its field.
fn clause(c: &mut Conv<'_>, k: &mut Integration, owner: &str, at: Span, word: &Name, v: Value) {
    let w = word.node.as_str();
    macro_rules! once {
        ($slot:expr, $value:expr, $span:expr) => {
            if let Some(value) = $value {
                set_once(c, &mut $slot, value, $span, w, owner, at);
            }
        };
    }
    match w {
        "name" | "description" | "category" | "icon" | "color" | "visibility" | "plan"
        | "scope" | "status" | "version" => {
            let value = one_name(c, w, v);
            let slot = match w {
                "name" => &mut k.name,
                "description" => &mut k.description,
                "category" => &mut k.category,
                "icon" => &mut k.icon,
                "color" => &mut k.color,
                "visibility" => &mut k.visibility,
                "plan" => &mut k.plan,
                "scope" => &mut k.scope,
                "status" => &mut k.status,
                _ => &mut k.version,
            };
            once!(*slot, value, |n: &Name| n.span);
        }
        "premium" | "realtime" | "webhooks" => {
            let value = Some(match v {
                Value::Literal(l) => l,
                // A word where `true` or `false` belongs is kept for `compile` to
                // report, as a wrongly typed seed-JSON value is.
                Value::Words(span, words) => {
                    let text: Vec<String> = words.into_iter().map(|n| n.node).collect();
                    Literal::new(serde_json::Value::String(text.join(", ")), span)
                }
            });
            let slot = match w {
                "premium" => &mut k.premium,
                "realtime" => &mut k.realtime,
                _ => &mut k.webhooks,
            };
            once!(*slot, value, |l: &Literal| l.span);
        }
        "capabilities" | "directions" | "entities" => {
            let value = name_list(c, w, v);
            let slot = match w {
                "capabilities" => &mut k.capabilities,
                "directions" => &mut k.directions,
                _ => &mut k.entities,
            };
            once!(*slot, value, |l: &NameList| l.span);
        }
        _ => unknown_clause(c, owner, word),
    }
}

/// E0901 for a word that is no clause, with the nearest clause (or the `.cmap` word of
/// a spec key written as such).
fn unknown_clause(c: &mut Conv<'_>, owner: &str, word: &Name) {
    let from_spec = INTEGRATION_CLAUSES
        .iter()
        .find(|(_, key)| *key == word.node || (word.node == "oauthConfig" && *key == "authType"))
        .map(|(w, _)| *w)
        .or(match word.node.as_str() {
            "id" | "displayName" => Some("integration ID \"Display name\""),
            _ => None,
        });
    let words = INTEGRATION_CLAUSES.iter().map(|(w, _)| *w);
    let d = Diagnostic::new(
        Code::UnknownIntegrationKey,
        word.span,
        format!("unknown clause `{}` in {owner}", word.node),
    );
    let d = match from_spec.or_else(|| did_you_mean(&word.node, words.clone())) {
        Some(s) if from_spec.is_some() => d
            .with_label(format!("`{}` is written `{s}` in `.cmap`", word.node))
            .with_help(format!("write `{s} ...`")),
        Some(s) => d
            .with_label(format!("did you mean `{s}`?"))
            .with_help(format!("write `{s} ...`")),
        None => {
            let list: Vec<String> = words.map(|w| format!("`{w}`")).collect();
            d.with_label("not a clause of an integration")
                .with_help(format!("the clauses are {}", list.join(", ")))
        }
    };
    c.diags.push(d);
}

fn shape(c: &mut Conv<'_>, span: Span, message: String, help: String) {
    c.diags.push(
        Diagnostic::new(Code::InvalidIntegrationValue, span, message)
            .with_label("written here")
            .with_help(help),
    );
}

/// One name or string (`category crm`, `version "1.0.0"`).
fn one_name(c: &mut Conv<'_>, word: &str, v: Value) -> Option<Name> {
    match v {
        Value::Words(_, mut words) if words.len() == 1 => words.pop(),
        Value::Literal(Literal {
            node: serde_json::Value::String(s),
            span,
        }) => Some(Name::new(s, span)),
        other => {
            let span = other.span();
            shape(
                c,
                span,
                format!("`{word}` takes one name or string"),
                format!("write one value, e.g. `{word} \"...\"`"),
            );
            None
        }
    }
}

/// Words (`read, write`), or an array of strings (`[]` for none).
fn name_list(c: &mut Conv<'_>, word: &str, v: Value) -> Option<NameList> {
    match v {
        Value::Words(span, items) => Some(NameList { span, items }),
        Value::Literal(Literal {
            node: serde_json::Value::Array(values),
            span,
        }) if values.iter().all(serde_json::Value::is_string) => Some(NameList {
            span,
            items: values
                .into_iter()
                .filter_map(|v| match v {
                    serde_json::Value::String(s) => Some(Name::new(s, span)),
                    _ => None,
                })
                .collect(),
        }),
        other => {
            let span = other.span();
            shape(
                c,
                span,
                format!("`{word}` takes a list of names"),
                format!("write the names separated by commas, e.g. `{word} a, b`, or `{word} []` for none"),
            );
            None
        }
    }
}

impl Conv<'_> {
    fn prop_value(&mut self, pair: &Pair<'_, Rule>) -> Option<Value> {
        let inner = pair.clone().into_inner().next()?;
        Some(match inner.as_rule() {
            Rule::prop_words => {
                let span = self.span(&inner);
                let words = all(&inner, Rule::dotted)
                    .iter()
                    .map(|d| {
                        let segs: Vec<String> =
                            parts(d).iter().map(|n| self.name(n).node).collect();
                        Name::new(segs.join("."), self.span(d))
                    })
                    .collect();
                Value::Words(span, words)
            }
            _ => Value::Literal(self.literal(&inner)),
        })
    }
}
