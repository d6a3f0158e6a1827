//! A SyncTask object: its keys, schedule, retry and notification configs.

use super::{Decoder, Obj};
use crate::diagnostics::{Code, Diagnostic};
use crate::syntax::ast::*;

const TASK_KEYS: &[&str] = &[
    "$kind",
    "id",
    "tenantIntegrationId",
    "name",
    "description",
    "conversionSchemaId",
    "connectionId",
    "direction",
    "schedule",
    "config",
    "status",
    "retryConfig",
    "notifications",
];
/// Spec keys of a SyncTask kept in `meta` (execution tracking, statistics, audit).
const TASK_META: &[&str] = &[
    "lastRunAt",
    "lastRunStatus",
    "nextRunAt",
    "stats",
    "lastError",
    "createdBy",
    "createdAt",
    "updatedAt",
];

impl Decoder {
    pub(super) fn task(&mut self, o: &Obj<'_>) -> Task {
        let id = self
            .str_req(o, "id")
            .unwrap_or_else(|| Name::new(String::new(), o.open()));
        let integration = self.str_opt(o, "tenantIntegrationId");
        let name = self.str_opt(o, "name");
        let description = self.str_opt(o, "description");
        let schema = self.str_opt(o, "conversionSchemaId");
        let connection = self.str_opt(o, "connectionId");
        let direction = self.str_opt(o, "direction");
        let schedule = self.obj_opt(o, "schedule").and_then(|s| self.schedule(&s));
        let config = self.tree_opt(o, "config");
        let status = self.str_opt(o, "status");
        let retry = self.obj_opt(o, "retryConfig").and_then(|r| {
            self.keys(
                &r,
                &["maxRetries", "retryDelaySeconds", "exponentialBackoff"],
            );
            let max_retries = self.lit_req(&r, "maxRetries");
            let delay_seconds = self.lit_req(&r, "retryDelaySeconds");
            let exponential = self.bool_opt(&r, "exponentialBackoff");
            Some(Retry {
                span: r.span,
                max_retries: max_retries?,
                delay_seconds: delay_seconds?,
                exponential,
            })
        });
        let notify = self.obj_opt(o, "notifications").map(|n| {
            self.keys(&n, &["onSuccess", "onFailure", "onPartial", "recipients"]);
            let mut events = Vec::new();
            for (key, event) in [
                ("onSuccess", "success"),
                ("onFailure", "failure"),
                ("onPartial", "partial"),
            ] {
                if let Some(b) = self.bool_opt(&n, key).filter(|b| b.node) {
                    events.push(Name::new(event.to_string(), b.span));
                }
            }
            let recipients = self.names(&n, "recipients").unwrap_or_default();
            Notify {
                span: n.span,
                events,
                recipients,
            }
        });
        let meta = self.meta(o, TASK_KEYS, TASK_META);
        Task {
            span: o.span,
            id,
            name,
            description,
            integration,
            schema,
            connection,
            direction,
            schedule,
            config,
            status,
            retry,
            notify,
            meta,
        }
    }

    pub(super) fn schedule(&mut self, o: &Obj<'_>) -> Option<Schedule> {
        self.keys(o, &["type", "config"]);
        let kind = self.str_req(o, "type")?;
        let span = o.span;
        let known = ["manual", "interval", "cron", "realtime"];
        if !known.contains(&kind.node.as_str()) {
            return Some(Schedule::Unknown { span, kind });
        }
        let config = if kind.node == "manual" {
            self.obj_opt(o, "config")
        } else {
            self.obj_req(o, "config")
        };
        let Some(c) = config else {
            return (kind.node == "manual").then_some(Schedule::Manual { span });
        };
        if let Some(ty) = self.str_req(&c, "type") {
            if ty.node != kind.node {
                self.diags.push(
                    Diagnostic::new(
                        Code::JsonShape,
                        ty.span,
                        format!(
                            "{}.type is `{}` but the schedule type is `{}`",
                            c.path, ty.node, kind.node
                        ),
                    )
                    .with_label("does not match the schedule type")
                    .with_related(kind.span, "schedule type given here")
                    .with_help(format!("make them agree: \"type\": \"{}\"", kind.node)),
                );
            }
        }
        match kind.node.as_str() {
            "manual" => {
                self.keys(&c, &["type"]);
                Some(Schedule::Manual { span })
            }
            "interval" => {
                self.keys(&c, &["type", "interval", "unit"]);
                let interval = self.lit_req(&c, "interval");
                let unit = self.str_req(&c, "unit");
                Some(Schedule::Interval {
                    span,
                    interval: interval?,
                    unit: unit?,
                })
            }
            "cron" => {
                self.keys(&c, &["type", "expression", "timezone"]);
                let expression = self.str_req(&c, "expression");
                let timezone = self.str_opt(&c, "timezone");
                Some(Schedule::Cron {
                    span,
                    expression: expression?,
                    timezone,
                })
            }
            _ => {
                self.keys(&c, &["type", "webhookUrl", "verificationToken"]);
                let webhook_url = self.str_opt(&c, "webhookUrl");
                // The token is a secret, in the shapes credentials take: `{ "env": "VAR" }`,
                // `{ "stored": true }` (a plain string is kept for `compile` to refuse).
                let token = c
                    .get("verificationToken")
                    .and_then(|v| self.credential_value(v, &c.path_of("verificationToken")));
                Some(Schedule::Realtime {
                    span,
                    webhook_url,
                    token,
                })
            }
        }
    }
}
