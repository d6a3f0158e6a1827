//! The stored verification tokens of realtime tasks (`schedule realtime token stored`).
//!
//! A token is a secret like a connection's, so it is kept the same way: sealed with the
//! master key (ChaCha20-Poly1305, tenant and record id as associated data) in a
//! connection record of its own, whose id is `task:TASK` and whose integration is
//! `webhook`. Being a connection record, it is re-encrypted by `cmap keys rotate` with
//! every other secret. Pipeline connection ids never start with `task:` (`check`
//! refuses them), so the two cannot meet.
//!
//! The record lives in the tenant the task's deliveries are stored in (the task's own,
//! [`Task::tenant`]).

use serde_json::{Map, Value};

use super::{Engine, EngineError};
use crate::compile::ir::Task;
use crate::connectors::auth::Secret;
use crate::store::crypto;
use crate::store::{
    ConnectionRecord, ConnectionScope as StoredScope, ConnectionStatus, EncryptedCredentials,
};

/// The id prefix of a task token's record: `task:` + the task id.
pub use crate::compile::ir::TASK_TOKEN_PREFIX as RECORD_PREFIX;
/// The record's integration, telling it from a connection's in listings.
const INTEGRATION: &str = "webhook";
/// The key of the token in the sealed JSON object.
const KEY: &str = "token";

/// The id of the record that holds `task`'s token.
pub fn record_id(task: &str) -> String {
    format!("{RECORD_PREFIX}{task}")
}

fn error(task: &str, message: String) -> EngineError {
    EngineError::Credentials {
        connection: record_id(task),
        message,
    }
}

impl Engine {
    /// The stored token of `task`; `None` when none is stored yet.
    pub fn webhook_token(&self, task: &Task) -> Result<Option<Secret>, EngineError> {
        let tenant = task.tenant.clone();
        let Some(record) = self.store.connection(&tenant, &record_id(&task.id))? else {
            return Ok(None);
        };
        let keyring = self.keyring.as_deref().ok_or_else(|| {
            error(
                &task.id,
                "the stored webhook token needs the master key, which is not loaded".into(),
            )
        })?;
        // The associated data binds the ciphertext to this tenant and record, exactly as
        // key rotation re-derives it.
        let plain = keyring.open(&record.credentials, &crypto::connection_aad(&record))?;
        let stored: Map<String, Value> = match serde_json::from_slice(&plain) {
            Ok(Value::Object(m)) => m,
            _ => {
                return Err(error(
                    &task.id,
                    "the stored webhook token is not a JSON object".into(),
                ))
            }
        };
        Ok(stored
            .get(KEY)
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(Secret::new))
    }

    /// Seals `token` as the stored token of `task`, replacing any earlier one.
    pub fn save_webhook_token(
        &self,
        task: &Task,
        token: &Secret,
    ) -> Result<ConnectionRecord, EngineError> {
        let keyring = self.keyring.as_deref().ok_or_else(|| {
            error(
                &task.id,
                "storing a webhook token needs the master key, which is not loaded".into(),
            )
        })?;
        let tenant = task.tenant.clone();
        let id = record_id(&task.id);
        let now = chrono::Utc::now();
        let existing = self.store.connection(&tenant, &id)?;
        let mut record = ConnectionRecord {
            id,
            integration_id: INTEGRATION.into(),
            scope: StoredScope::Tenant,
            tenant_id: Some(tenant),
            auth_type: "token".into(),
            credentials: EncryptedCredentials {
                encrypted_data: String::new(),
                key_id: String::new(),
                algorithm: String::new(),
            },
            oauth: None,
            status: ConnectionStatus::Active,
            last_validated_at: None,
            display_name: Some(format!("webhook token of task `{}`", task.id)),
            created_by: existing
                .as_ref()
                .map_or_else(|| "cmap".to_string(), |r| r.created_by.clone()),
            created_at: existing.as_ref().map_or(now, |r| r.created_at),
            updated_at: now,
        };
        let mut object = Map::new();
        object.insert(KEY.into(), Value::String(token.expose().to_string()));
        let plain = serde_json::to_vec(&Value::Object(object)).unwrap_or_default();
        record.credentials = keyring.seal(&plain, &crypto::connection_aad(&record));
        self.store.put_connection(&record)?;
        Ok(record)
    }
}
