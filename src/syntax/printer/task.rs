//! `task ID "Name" { .. }`: schema, connection, schedule, config, retry, notify, ...

use serde_json::Value;

use super::{ident, inline, string, tree_at, Layout, Printer};
use crate::syntax::ast::*;

impl Layout {
    pub(super) fn task(&mut self, t: &Task) {
        self.anchors.push(t.span);
        self.containers.push(t.span);
        let names = [
            &t.description,
            &t.schema,
            &t.integration,
            &t.connection,
            &t.direction,
            &t.status,
        ];
        self.anchors
            .extend(names.iter().filter_map(|n| n.as_ref().map(|n| n.span)));
        self.anchors.extend(t.schedule.as_ref().map(schedule_span));
        self.anchors.extend(t.config.as_ref().map(|l| l.span));
        self.anchors.extend(t.retry.as_ref().map(|r| r.span));
        self.anchors.extend(t.notify.as_ref().map(|n| n.span));
        self.anchors.extend(t.meta.first().map(|(k, _)| k.span));
    }
}

impl Printer<'_> {
    pub(super) fn task(&mut self, t: &Task) {
        let mut head = format!("task {}", ident(&t.id.node, &[]));
        if let Some(n) = &t.name {
            head.push_str(&format!(" {}", string(&n.node)));
        }
        self.line(0, &format!("{head} {{"), Some(t.span));
        if let Some(d) = &t.description {
            self.line(1, &format!("description {}", string(&d.node)), Some(d.span));
        }
        for (word, n) in [
            ("schema", &t.schema),
            ("integration", &t.integration),
            ("connection", &t.connection),
            ("direction", &t.direction),
        ] {
            if let Some(n) = n {
                self.line(1, &format!("{word} {}", ident(&n.node, &[])), Some(n.span));
            }
        }
        if let Some(s) = &t.schedule {
            let text = match s {
                Schedule::Manual { .. } => "manual".to_string(),
                Schedule::Interval { interval, unit, .. } => {
                    format!("every {} {}", inline(&interval.node), unit.node)
                }
                Schedule::Cron {
                    expression,
                    timezone,
                    ..
                } => {
                    let zone = timezone
                        .as_ref()
                        .map(|z| format!(" in {}", string(&z.node)))
                        .unwrap_or_default();
                    format!("cron {}{zone}", string(&expression.node))
                }
                Schedule::Realtime {
                    webhook_url, token, ..
                } => {
                    let mut text = "realtime".to_string();
                    if let Some(u) = webhook_url {
                        text.push_str(&format!(" {}", string(&u.node)));
                    }
                    if let Some(t) = token {
                        text.push_str(&format!(" token {}", super::connection::credential(t)));
                    }
                    text
                }
                Schedule::Unknown { kind, .. } => ident(&kind.node, &[]),
            };
            self.line(1, &format!("schedule {text}"), Some(schedule_span(s)));
        }
        if let Some(c) = &t.config {
            self.line(1, &format!("config {}", tree_at(c, 1, 9)), Some(c.span));
        }
        if let Some(n) = &t.status {
            self.line(1, &format!("status {}", ident(&n.node, &[])), Some(n.span));
        }
        if let Some(r) = &t.retry {
            let delay = match &r.delay_seconds.node {
                Value::Number(n) => format!("{n}s"),
                v => inline(v),
            };
            let exp = if r.exponential.as_ref().is_some_and(|e| e.node) {
                " exponential"
            } else {
                ""
            };
            self.line(
                1,
                &format!(
                    "retry {} times every {delay}{exp}",
                    inline(&r.max_retries.node)
                ),
                Some(r.span),
            );
        }
        if let Some(n) = &t.notify {
            let events: Vec<&str> = n.events.iter().map(|e| e.node.as_str()).collect();
            let mut text = format!("notify on {}", events.join(", "));
            if !n.recipients.is_empty() {
                let to: Vec<String> = n.recipients.iter().map(|r| string(&r.node)).collect();
                text.push_str(&format!(" -> {}", to.join(", ")));
            }
            self.line(1, &text, Some(n.span));
        }
        if !t.meta.is_empty() {
            self.meta(1, &t.meta);
        }
        self.close(0, t.span, "");
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
