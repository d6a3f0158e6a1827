//! The audit log: who changed what, when, with what outcome (issue 9: definitions,
//! tenant integrations, credentials, schemas, tasks, users, tokens). Super admins read
//! it; docs/api.md, "Audit log", says what is recorded and how long it is kept.
//!
//! An entry never holds a secret, by construction: its free-form part ([`Details`]) is
//! built only through [`Details::scrubbed`] (or read back through the same scrub), which
//! replaces the value of every secret-looking key ([`crate::redact::looks_secret`], the
//! keys `cmap check` refuses as E0701) with [`REDACTED`], masks every known secret value
//! in every encoding ([`crate::redact::Redactor`]), and masks anything shaped like an API
//! token (`cmap_<id>_<secret>`) whether or not it was known.
//!
//! # Retention
//!
//! The log is bounded per scope (a tenant, or the global scope of catalogue and
//! super-admin changes): [`AuditRetention`] keeps the newest
//! [`AuditRetention::DEFAULT_PER_SCOPE`] entries of each scope and none older than
//! [`AuditRetention::DEFAULT_DAYS`] days. [`crate::store::Store::prune_audit`] removes
//! the rest in bounded calls, as [`crate::store::Store::prune`] does for executions.

use std::num::NonZeroU32;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::identity::{Role, User};
use super::page::{decode_tagged, encode_tagged, Cursor, PageError};
use crate::redact::{looks_secret, Redactor};

/// What replaces the value of a secret-looking key in [`Details`].
pub const REDACTED: &str = "[redacted]";

/// The actions recorded, as `AREA.VERB`. The list filter takes a prefix (`schema.`).
pub mod action {
    pub const TENANT_ADD: &str = "tenant.add";
    pub const USER_ADD: &str = "user.add";
    pub const TOKEN_CREATE: &str = "token.create";
    pub const TOKEN_REVOKE: &str = "token.revoke";
    pub const INTEGRATION_ENABLE: &str = "integration.enable";
    pub const INTEGRATION_UPDATE: &str = "integration.update";
    pub const INTEGRATION_DISABLE: &str = "integration.disable";
    pub const CREDENTIALS_SET: &str = "credentials.set";
    pub const CREDENTIALS_DELETE: &str = "credentials.delete";
    pub const DEFINITION_ADD: &str = "definition.add";
    pub const DEFINITION_UPDATE: &str = "definition.update";
    pub const DEFINITION_REMOVE: &str = "definition.remove";
    pub const SCHEMA_CREATE: &str = "schema.create";
    pub const SCHEMA_UPDATE: &str = "schema.update";
    pub const SCHEMA_DELETE: &str = "schema.delete";
    pub const TASK_CREATE: &str = "task.create";
    pub const TASK_UPDATE: &str = "task.update";
    pub const TASK_DELETE: &str = "task.delete";
}

/// The longest action name the store keeps.
const MAX_ACTION: usize = 64;

/// Who acted: a user of the API, or the operator at the command line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    /// The user's id; `cli` for the operator.
    pub user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub role: ActorRole,
}

impl Actor {
    /// The user behind an API request.
    pub fn user(user: &User) -> Actor {
        Actor {
            user_id: user.id.clone(),
            email: Some(user.email.clone()),
            role: user.role.into(),
        }
    }

    /// Whoever runs `cmap` against the data directory (`cmap users add`, `cmap tokens
    /// create`, ...): `{"userId": "cli", "role": "operator"}`. The command line has no
    /// login; holding the data directory is the operator's authority.
    pub fn operator() -> Actor {
        Actor {
            user_id: "cli".into(),
            email: None,
            role: ActorRole::Operator,
        }
    }
}

/// The role an [`Actor`] acted with: a [`Role`] of the API, or the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorRole {
    User,
    TenantAdmin,
    SuperAdmin,
    /// The command line, with the data directory.
    Operator,
}

impl From<Role> for ActorRole {
    fn from(role: Role) -> ActorRole {
        match role {
            Role::User => ActorRole::User,
            Role::TenantAdmin => ActorRole::TenantAdmin,
            Role::SuperAdmin => ActorRole::SuperAdmin,
        }
    }
}

/// What was acted on: `{"kind": "user", "id": "0190..."}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// `tenant`, `user`, `token` (its public id), `integration`, `tenant_integration`,
    /// `connection`, `schema`, `task`.
    pub kind: String,
    pub id: String,
}

impl Target {
    pub fn new(kind: impl Into<String>, id: impl Into<String>) -> Target {
        Target {
            kind: kind.into(),
            id: id.into(),
        }
    }
}

/// How the action ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done.
    Success,
    /// Refused by a check (a write that did not check, a stale version).
    Failure,
    /// Refused for lack of permission.
    Denied,
}

/// The free-form part of an entry, scrubbed of secrets (module docs). Built only by
/// [`Details::scrubbed`] and [`Details::none`]; reading one back (serde) scrubs again.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Details(Value);

impl Details {
    /// No details (`{}`).
    pub fn none() -> Details {
        Details(Value::Object(Default::default()))
    }

    /// `value` with every secret-looking key's value replaced by [`REDACTED`] (at any
    /// depth, whatever the value), every secret `redactor` knows masked in every string
    /// and key, and anything shaped like an API token masked.
    pub fn scrubbed(mut value: Value, redactor: &Redactor) -> Details {
        redactor.value(&mut value);
        scrub(&mut value);
        Details(value)
    }

    pub fn as_value(&self) -> &Value {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Details {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Details, D::Error> {
        Ok(Details::scrubbed(Value::deserialize(d)?, &Redactor::none()))
    }
}

/// Replaces secret-looking keys' values and token-shaped strings, iteratively (the
/// depth of a value is its writer's choice).
fn scrub(value: &mut Value) {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::String(s) => mask_tokens(s),
            Value::Array(items) => stack.extend(items.iter_mut()),
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if looks_secret(k) {
                        *v = Value::String(REDACTED.into());
                    } else {
                        stack.push(v);
                    }
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

/// Masks every `cmap_<hex>_<hex>` run (an API token, known or not) in `s`; the public
/// id stays, so an entry still says which token it was.
fn mask_tokens(s: &mut String) {
    let prefix = super::api_token::PREFIX;
    if !s.contains(prefix) {
        return;
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(at) = rest.find(prefix) {
        out.push_str(&rest[..at]);
        let after = &rest[at + prefix.len()..];
        let id_len = after.bytes().take_while(u8::is_ascii_hexdigit).count();
        let secret = after[id_len..]
            .strip_prefix('_')
            .map(|t| t.bytes().take_while(u8::is_ascii_hexdigit).count());
        match secret {
            Some(n) if id_len > 0 && n > 0 => {
                out.push_str(prefix);
                out.push_str(&after[..id_len]);
                out.push_str("_***");
                rest = &after[id_len + 1 + n..];
            }
            _ => {
                out.push_str(prefix);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    *s = out;
}

/// One entry of the audit log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// A UUID v7 made from `at` (ids sort by time).
    pub id: String,
    pub at: DateTime<Utc>,
    /// The tenant whose object changed; `None` for global changes (the catalogue,
    /// super admins, system-scope connections).
    pub tenant_id: Option<String>,
    pub actor: Actor,
    /// `AREA.VERB` ([`action`]).
    pub action: String,
    pub target: Target,
    pub outcome: Outcome,
    pub details: Details,
}

impl AuditEntry {
    /// An entry at `at`, with a fresh id. `details` are scrubbed ([`Details`]).
    pub fn new(
        at: DateTime<Utc>,
        tenant_id: Option<&str>,
        actor: Actor,
        action: &str,
        target: Target,
        outcome: Outcome,
        details: Details,
    ) -> AuditEntry {
        AuditEntry {
            id: time_ordered_id(at),
            at,
            tenant_id: tenant_id.map(str::to_owned),
            actor,
            action: action.to_owned(),
            target,
            outcome,
            details,
        }
    }

    /// `Err` says why the store refuses the entry: an action that is not `AREA.VERB`
    /// (lower-case letters, digits, `_` and `.`, at most 64 bytes), an empty id, or an
    /// empty tenant (global entries have none).
    pub fn check(&self) -> Result<(), String> {
        let a = &self.action;
        let ok = !a.is_empty()
            && a.len() <= MAX_ACTION
            && a.contains('.')
            && !a.starts_with('.')
            && !a.ends_with('.')
            && a.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
        if !ok {
            return Err(format!(
                "the audit action `{}` is not AREA.VERB in lower case (at most {MAX_ACTION} bytes)",
                a.escape_default()
            ));
        }
        if self.id.is_empty() {
            return Err("an audit entry without an id".into());
        }
        if self.tenant_id.as_deref() == Some("") {
            return Err("an audit entry of the empty tenant (global entries have none)".into());
        }
        Ok(())
    }
}

/// A UUID v7 whose time is `at` (milliseconds; the rest random).
fn time_ordered_id(at: DateTime<Utc>) -> String {
    let secs = u64::try_from(at.timestamp()).unwrap_or(0);
    let ts = uuid::Timestamp::from_unix(uuid::NoContext, secs, at.timestamp_subsec_nanos());
    uuid::Uuid::new_v7(ts).to_string()
}

/// Which entries a list reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub scope: AuditScope,
    /// Only actions starting with this (`schema.` or `schema.update`).
    pub action_prefix: Option<String>,
    /// Only entries at or after this time.
    pub since: Option<DateTime<Utc>>,
}

/// Whose entries: every scope (super admins), one tenant's, or the global ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AuditScope {
    #[default]
    All,
    Tenant(String),
    Global,
}

/// A position in the newest-first audit log: the last entry returned (or, when a filter
/// skipped many, the last one visited), by time and id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditCursor {
    /// `at`, microseconds since the epoch.
    pub at_micros: i64,
    pub id: String,
}

impl AuditCursor {
    pub fn at(entry: &AuditEntry) -> AuditCursor {
        AuditCursor {
            at_micros: entry.at.timestamp_micros(),
            id: entry.id.clone(),
        }
    }
}

impl Cursor for AuditCursor {
    fn encode(&self) -> String {
        let mut payload = self.at_micros.to_be_bytes().to_vec();
        payload.extend_from_slice(self.id.as_bytes());
        encode_tagged(b"au1", &payload)
    }

    fn decode(text: &str) -> Result<AuditCursor, PageError> {
        let mut buf = Vec::new();
        let payload = decode_tagged(text, b"au1", &mut buf)?;
        let (micros, id) = payload.split_first_chunk::<8>().ok_or(PageError::Cursor)?;
        let id = std::str::from_utf8(id).map_err(|_| PageError::Cursor)?;
        if id.is_empty() {
            return Err(PageError::Cursor);
        }
        Ok(AuditCursor {
            at_micros: i64::from_be_bytes(*micros),
            id: id.to_string(),
        })
    }
}

/// How long the audit log is kept, per scope (a tenant, or the global scope). Both
/// bounds apply: an entry goes when it is older than `days` or not among the newest
/// `per_scope`. Every bound is at least 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditRetention {
    pub per_scope: NonZeroU32,
    pub days: NonZeroU32,
}

impl AuditRetention {
    pub const DEFAULT_PER_SCOPE: u32 = 10_000;
    pub const DEFAULT_DAYS: u32 = 365;

    /// Entries before this time have expired (`None`: none has).
    pub fn cutoff(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        now.checked_sub_signed(TimeDelta::try_days(self.days.get().into())?)
    }
}

impl Default for AuditRetention {
    /// 10,000 entries per scope, one year: a year of a busy tenant's administration,
    /// a few MB.
    fn default() -> AuditRetention {
        let n = |v: u32| NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN);
        AuditRetention {
            per_scope: n(AuditRetention::DEFAULT_PER_SCOPE),
            days: n(AuditRetention::DEFAULT_DAYS),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::redact::Known;

    #[test]
    fn details_never_hold_a_secret() {
        let token = format!("cmap_0123456789abcdef_{}", "ab".repeat(32));
        let redactor = Redactor::new([Known::Value("hunter2-very-secret")]);
        let cases: Vec<(Value, Value)> = vec![
            (
                json!({"apiKey": "k-123", "tokenUrl": "https://x/token"}),
                json!({"apiKey": REDACTED, "tokenUrl": "https://x/token"}),
            ),
            (
                json!({"settings": {"client_secret": {"nested": 1}, "region": "eu"}}),
                json!({"settings": {"client_secret": REDACTED, "region": "eu"}}),
            ),
            (
                json!([{"Password": "p"}, {"X-Api-Token": ["a", "b"]}, {"key": 7}]),
                json!([{"Password": REDACTED}, {"X-Api-Token": REDACTED}, {"key": REDACTED}]),
            ),
            (
                json!({"note": "was hunter2-very-secret", "b64": "aHVudGVyMi12ZXJ5LXNlY3JldA=="}),
                json!({"note": "was ***", "b64": "***"}),
            ),
            (
                json!({"echo": format!("Bearer {token}, again {token}.")}),
                json!({"echo": "Bearer cmap_0123456789abcdef_***, again cmap_0123456789abcdef_***."}),
            ),
            (
                json!({"id": "0123456789abcdef", "text": "cmap_ only, cmap_zz_1, cmap_ab_"}),
                json!({"id": "0123456789abcdef", "text": "cmap_ only, cmap_zz_1, cmap_ab_"}),
            ),
        ];
        for (input, want) in cases {
            let got = Details::scrubbed(input.clone(), &redactor);
            assert_eq!(got.as_value(), &want, "{input}");
        }
    }

    #[test]
    fn reading_back_scrubs_again() {
        let text = r#"{"id":"x","at":"2026-03-01T12:00:00Z","tenantId":null,
            "actor":{"userId":"cli","role":"operator"},"action":"user.add",
            "target":{"kind":"user","id":"u"},"outcome":"success",
            "details":{"password":"p","deep":[{"refreshToken":"r"}]}}"#;
        let entry: AuditEntry = serde_json::from_str(text).expect("an entry");
        assert_eq!(
            entry.details.as_value(),
            &json!({"password": REDACTED, "deep": [{"refreshToken": REDACTED}]})
        );
        let written = serde_json::to_value(&entry).expect("encodes");
        assert_eq!(
            written["actor"],
            json!({"userId": "cli", "role": "operator"})
        );
    }

    #[test]
    fn actions_are_checked() {
        let entry = |action: &str, tenant: Option<&str>| {
            AuditEntry::new(
                DateTime::UNIX_EPOCH,
                tenant,
                Actor::operator(),
                action,
                Target::new("user", "u"),
                Outcome::Success,
                Details::none(),
            )
        };
        let cases: &[(&str, Option<&str>, bool)] = &[
            (action::USER_ADD, None, true),
            (action::SCHEMA_UPDATE, Some("acme"), true),
            ("a_b.c2.d", None, true),
            ("user", None, false),
            (".user", None, false),
            ("user.", None, false),
            ("User.Add", None, false),
            ("user add", None, false),
            (&format!("a.{}", "b".repeat(63)), None, false),
            (action::USER_ADD, Some(""), false),
        ];
        for (action, tenant, ok) in cases {
            assert_eq!(entry(action, *tenant).check().is_ok(), *ok, "{action}");
        }
    }

    #[test]
    fn ids_sort_by_time() {
        let t = |ms: i64| DateTime::from_timestamp_millis(ms).expect("a time");
        let ids: Vec<String> = [1_000, 2_000, 1_700_000_000_000, 1_700_000_000_001]
            .iter()
            .map(|ms| time_ordered_id(t(*ms)))
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }

    #[test]
    fn cursors_round_trip_and_refuse_others() {
        let c = AuditCursor {
            at_micros: -3,
            id: "0190-x".into(),
        };
        assert_eq!(AuditCursor::decode(&c.encode()), Ok(c));
        let other = super::super::LogCursor { seq: 1 }.encode();
        assert_eq!(AuditCursor::decode(&other), Err(PageError::Cursor));
        assert_eq!(AuditCursor::decode("au1"), Err(PageError::Cursor));
    }

    #[test]
    fn retention_defaults_and_cutoff() {
        let r = AuditRetention::default();
        assert_eq!(r.per_scope.get(), 10_000);
        assert_eq!(r.days.get(), 365);
        let now = DateTime::from_timestamp(400 * 86_400, 0).expect("a time");
        assert_eq!(
            r.cutoff(now),
            DateTime::from_timestamp(35 * 86_400, 0),
            "365 days before"
        );
    }
}
