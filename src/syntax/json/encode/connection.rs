//! A connection -> an IntegrationConnection object.

use serde_json::{Map, Value};

use super::super::decode::{INTEGRATION_MARKERS, SCHEMA_MARKERS, TASK_MARKERS};
use super::{insert_meta, kind_if_ambiguous, s};
use crate::syntax::ast::*;

/// An IntegrationConnection; `scope` (default `tenant`), `authType` and `credentials`
/// are required by the spec and always written.
pub(super) fn connection(k: &Connection) -> Value {
    let mut m = kind_if_ambiguous(
        &k.meta,
        &[SCHEMA_MARKERS, TASK_MARKERS, INTEGRATION_MARKERS],
        "connection",
    );
    m.insert("id".into(), s(&k.id));
    if let Some(i) = &k.integration {
        m.insert("integrationId".into(), s(i));
    }
    if let Some(n) = &k.name {
        m.insert("displayName".into(), s(n));
    }
    m.insert(
        "scope".into(),
        k.scope.as_ref().map_or_else(|| "tenant".into(), s),
    );
    if let Some(t) = &k.tenant {
        m.insert("tenantId".into(), s(t));
    }
    m.insert(
        "authType".into(),
        k.auth
            .as_ref()
            .map_or_else(|| "none".into(), |a| s(&a.kind)),
    );
    let credentials: Map<String, Value> = k
        .auth
        .iter()
        .flat_map(|a| &a.fields)
        .map(|(key, value)| (key.node.clone(), credential(value)))
        .collect();
    m.insert("credentials".into(), Value::Object(credentials));
    if let Some(l) = &k.settings {
        m.insert("settings".into(), l.to_value());
    }
    insert_meta(&mut m, &k.meta);
    Value::Object(m)
}

/// Where a secret comes from, in seed JSON: the plain value, `{ "env": "VAR" }` or
/// `{ "stored": true }` (a credential, a realtime task's `verificationToken`).
pub(super) fn credential(value: &Credential) -> Value {
    match value {
        Credential::Plain(l) => l.node.clone(),
        Credential::Env { var, .. } => {
            let mut o = Map::new();
            o.insert("env".into(), s(var));
            Value::Object(o)
        }
        Credential::Stored(_) => {
            let mut o = Map::new();
            o.insert("stored".into(), true.into());
            Value::Object(o)
        }
    }
}
