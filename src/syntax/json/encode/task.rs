//! A task -> a SyncTask object, with its schedule, retry and notification configs.

use serde_json::{Map, Value};

use super::super::decode::{CONNECTION_MARKERS, INTEGRATION_MARKERS, SCHEMA_MARKERS};
use super::connection::credential;
use super::{insert_meta, kind_if_ambiguous, s};
use crate::syntax::ast::*;

pub(super) fn task(t: &Task) -> Value {
    let mut m = kind_if_ambiguous(
        &t.meta,
        &[SCHEMA_MARKERS, CONNECTION_MARKERS, INTEGRATION_MARKERS],
        "task",
    );
    m.insert("id".into(), s(&t.id));
    if let Some(i) = &t.integration {
        m.insert("tenantIntegrationId".into(), s(i));
    }
    if let Some(n) = &t.name {
        m.insert("name".into(), s(n));
    }
    if let Some(d) = &t.description {
        m.insert("description".into(), s(d));
    }
    if let Some(sc) = &t.schema {
        m.insert("conversionSchemaId".into(), s(sc));
    }
    if let Some(k) = &t.connection {
        m.insert("connectionId".into(), s(k));
    }
    m.insert(
        "direction".into(),
        t.direction.as_ref().map_or_else(|| "pull".into(), s),
    );
    m.insert("schedule".into(), schedule(t.schedule.as_ref()));
    m.insert(
        "config".into(),
        t.config
            .as_ref()
            .map_or_else(|| Value::Object(Map::new()), Tree::to_value),
    );
    m.insert(
        "status".into(),
        t.status.as_ref().map_or_else(|| "active".into(), s),
    );
    if let Some(r) = &t.retry {
        let mut o = Map::new();
        o.insert("maxRetries".into(), r.max_retries.node.clone());
        o.insert("retryDelaySeconds".into(), r.delay_seconds.node.clone());
        o.insert(
            "exponentialBackoff".into(),
            r.exponential.as_ref().is_some_and(|e| e.node).into(),
        );
        m.insert("retryConfig".into(), Value::Object(o));
    }
    if let Some(n) = &t.notify {
        let on = |event: &str| n.events.iter().any(|e| e.node == event);
        let mut o = Map::new();
        o.insert("onSuccess".into(), on("success").into());
        o.insert("onFailure".into(), on("failure").into());
        o.insert("onPartial".into(), on("partial").into());
        o.insert("recipients".into(), n.recipients.iter().map(s).collect());
        m.insert("notifications".into(), Value::Object(o));
    }
    insert_meta(&mut m, &t.meta);
    Value::Object(m)
}

/// `{ type, config: { type, ... } }`; no schedule is `manual`.
pub(super) fn schedule(sched: Option<&Schedule>) -> Value {
    let mut c = Map::new();
    let ty = match sched {
        None | Some(Schedule::Manual { .. }) => "manual".to_string(),
        Some(Schedule::Interval { .. }) => "interval".to_string(),
        Some(Schedule::Cron { .. }) => "cron".to_string(),
        Some(Schedule::Realtime { .. }) => "realtime".to_string(),
        Some(Schedule::Unknown { kind, .. }) => kind.node.clone(),
    };
    c.insert("type".into(), ty.clone().into());
    match sched {
        Some(Schedule::Interval { interval, unit, .. }) => {
            c.insert("interval".into(), interval.node.clone());
            c.insert("unit".into(), s(unit));
        }
        Some(Schedule::Cron {
            expression,
            timezone,
            ..
        }) => {
            c.insert("expression".into(), s(expression));
            c.insert(
                "timezone".into(),
                timezone.as_ref().map_or_else(|| "UTC".into(), s),
            );
        }
        Some(Schedule::Realtime {
            webhook_url, token, ..
        }) => {
            if let Some(u) = webhook_url {
                c.insert("webhookUrl".into(), s(u));
            }
            if let Some(t) = token {
                c.insert("verificationToken".into(), credential(t));
            }
        }
        _ => {}
    }
    let mut o = Map::new();
    o.insert("type".into(), ty.into());
    o.insert("config".into(), Value::Object(c));
    Value::Object(o)
}
