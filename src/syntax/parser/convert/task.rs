//! `task ID "Name" { .. }`: a sync task's clauses (schema, connection, schedule, config,
//! retry, notify, ...).

use pest::iterators::Pair;
use serde_json::Value;

use super::{all, clause_word, first, parts, set_once, Conv};
use crate::syntax::ast::*;
use crate::syntax::parser::Rule;

/// A task opened from its head, its clauses still to come.
pub(super) fn new(span: Span, id: Name, name: Option<Name>) -> Task {
    Task {
        span,
        id,
        name,
        description: None,
        integration: None,
        schema: None,
        connection: None,
        direction: None,
        schedule: None,
        config: None,
        status: None,
        retry: None,
        notify: None,
        meta: Vec::new(),
    }
}

/// Adds one statement of the task.
pub(super) fn stmt(
    c: &mut Conv<'_>,
    t: &mut Task,
    meta_at: &mut Option<Span>,
    stmt: &Pair<'_, Rule>,
) {
    let Some(inner) = stmt.clone().into_inner().next() else {
        return;
    };
    let at = c.span(&inner);
    let owner = format!("task `{}`", t.id.node);
    let name_in = |c: &mut Conv<'_>, p: &Pair<'_, Rule>| {
        parts(p)
            .into_iter()
            .find(|p| matches!(p.as_rule(), Rule::ident | Rule::quoted_ident))
            .map(|n| c.name(&n))
    };
    let word = inner
        .clone()
        .into_inner()
        .next()
        .map(|k| clause_word(k.as_rule()))
        .unwrap_or_default();
    match inner.as_rule() {
        Rule::description => {
            if let Some(d) = first(&inner, Rule::string).map(|p| c.string(&p)) {
                set_once(
                    c,
                    &mut t.description,
                    d,
                    |n| n.span,
                    "description",
                    &owner,
                    at,
                );
            }
        }
        Rule::task_schema
        | Rule::task_integration
        | Rule::task_connection
        | Rule::direction
        | Rule::status => {
            let Some(name) = name_in(c, &inner) else {
                return;
            };
            let slot = match inner.as_rule() {
                Rule::task_schema => &mut t.schema,
                Rule::task_integration => &mut t.integration,
                Rule::task_connection => &mut t.connection,
                Rule::direction => &mut t.direction,
                _ => &mut t.status,
            };
            set_once(c, slot, name, |n| n.span, &word, &owner, at);
        }
        Rule::schedule => {
            let Some(kind) = parts(&inner)
                .into_iter()
                .find(|p| p.as_rule() != Rule::kw_schedule)
            else {
                return;
            };
            let schedule = match kind.as_rule() {
                Rule::schedule_manual => Schedule::Manual { span: at },
                Rule::schedule_every => {
                    let interval = first(&kind, Rule::literal)
                        .map(|l| c.literal(&l))
                        .unwrap_or_else(|| Literal::new(Value::Null, at));
                    let unit = first(&kind, Rule::ident)
                        .map(|n| c.name(&n))
                        .unwrap_or_else(|| Name::new(String::new(), at));
                    Schedule::Interval {
                        span: at,
                        interval,
                        unit,
                    }
                }
                Rule::schedule_cron => {
                    let strings = all(&kind, Rule::string);
                    let mut strings = strings.iter().map(|s| c.string(s));
                    let expression = strings
                        .next()
                        .unwrap_or_else(|| Name::new(String::new(), at));
                    Schedule::Cron {
                        span: at,
                        expression,
                        timezone: strings.next(),
                    }
                }
                Rule::schedule_realtime => Schedule::Realtime {
                    span: at,
                    webhook_url: first(&kind, Rule::string).map(|p| c.string(&p)),
                    token: first(&kind, Rule::cred_value).and_then(|p| c.cred_value(&p)),
                },
                _ => {
                    let kind = first(&kind, Rule::ident)
                        .map(|n| c.name(&n))
                        .unwrap_or_else(|| Name::new(String::new(), at));
                    Schedule::Unknown { span: at, kind }
                }
            };
            set_once(
                c,
                &mut t.schedule,
                schedule,
                schedule_span,
                "schedule",
                &owner,
                at,
            );
        }
        Rule::config => {
            if let Some(l) = first(&inner, Rule::literal) {
                let l = c.tree(&l);
                set_once(c, &mut t.config, l, |l| l.span, "config", &owner, at);
            }
        }
        Rule::retry => {
            let literals = all(&inner, Rule::literal);
            let max_retries = literals
                .first()
                .map(|l| c.literal(l))
                .unwrap_or_else(|| Literal::new(Value::Null, at));
            let delay_seconds =
                match first(&inner, Rule::seconds).and_then(|s| first(&s, Rule::number)) {
                    Some(n) => Literal::new(c.number(&n), c.span(&n)),
                    None => literals
                        .get(1)
                        .map(|l| c.literal(l))
                        .unwrap_or_else(|| Literal::new(Value::Null, at)),
                };
            let exponential =
                first(&inner, Rule::kw_exponential).map(|k| Spanned::new(true, c.span(&k)));
            set_once(
                c,
                &mut t.retry,
                Retry {
                    span: at,
                    max_retries,
                    delay_seconds,
                    exponential,
                },
                |r| r.span,
                "retry",
                &owner,
                at,
            );
        }
        Rule::notify => {
            let events = all(&inner, Rule::ident).iter().map(|n| c.name(n)).collect();
            let recipients = all(&inner, Rule::string)
                .iter()
                .map(|s| c.string(s))
                .collect();
            set_once(
                c,
                &mut t.notify,
                Notify {
                    span: at,
                    events,
                    recipients,
                },
                |n| n.span,
                "notify",
                &owner,
                at,
            );
        }
        Rule::meta => match meta_at {
            Some(f) => {
                let f = *f;
                c.duplicate("meta", &owner, at, f);
            }
            None => {
                *meta_at = Some(at);
                t.meta = first(&inner, Rule::object)
                    .map(|o| c.entries(&o))
                    .unwrap_or_default();
            }
        },
        _ => {}
    }
}

fn schedule_span(s: &Schedule) -> Span {
    match s {
        Schedule::Manual { span }
        | Schedule::Interval { span, .. }
        | Schedule::Cron { span, .. }
        | Schedule::Realtime { span, .. }
        | Schedule::Unknown { span, .. } => *span,
    }
}
