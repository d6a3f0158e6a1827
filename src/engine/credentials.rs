//! From a declared connection to request authentication: credential values resolved
//! from the file (non-secrets), the environment, or the encrypted store.
//!
//! Error messages name the connection, the credential key and where it should come
//! from, never a value.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::compile::ir::{AuthType, Connection, CredentialValue};
use crate::connectors::auth::{ApiKey, Auth, Basic, Headers, NoAuth, Secret};
use crate::store::crypto::{self, Keyring};
use crate::store::Store;

use super::EngineError;

/// The store's namespace of system-scope connections (the empty tenant).
pub const SYSTEM_TENANT: &str = "";

/// The values of a connection's credentials, by key.
pub fn resolve_values(
    connection: &Connection,
    tenant: &str,
    store: &dyn Store,
    keyring: Option<&Keyring>,
) -> Result<BTreeMap<String, Secret>, EngineError> {
    let err = |message: String| EngineError::Credentials {
        connection: connection.id.clone(),
        message,
    };
    let mut stored: Option<serde_json::Map<String, serde_json::Value>> = None;
    let mut values = BTreeMap::new();
    for (key, value) in &connection.auth.fields {
        let secret = match value {
            CredentialValue::Plain(s) => Secret::new(s.clone()),
            CredentialValue::Env(name) => match std::env::var(name) {
                Ok(v) if !v.is_empty() => Secret::new(v),
                _ => {
                    return Err(err(format!(
                        "`{key}` comes from the environment variable `{name}`, which is not set"
                    )))
                }
            },
            CredentialValue::Stored => {
                if stored.is_none() {
                    stored = Some(load_stored(connection, tenant, store, keyring)?);
                }
                match stored
                    .as_ref()
                    .and_then(|m| m.get(key))
                    .and_then(|v| v.as_str())
                {
                    Some(v) => Secret::new(v.to_string()),
                    None => {
                        return Err(err(format!(
                            "`{key}` is not stored yet: run `cmap connections set {} {key}`",
                            connection.id
                        )))
                    }
                }
            }
        };
        values.insert(key.clone(), secret);
    }
    Ok(values)
}

/// The stored (decrypted) credentials object of a connection; empty when none is stored.
pub fn load_stored(
    connection: &Connection,
    tenant: &str,
    store: &dyn Store,
    keyring: Option<&Keyring>,
) -> Result<serde_json::Map<String, serde_json::Value>, EngineError> {
    let err = |message: String| EngineError::Credentials {
        connection: connection.id.clone(),
        message,
    };
    let owner = owner_tenant(connection, tenant);
    let Some(record) = store.connection(&owner, &connection.id)? else {
        return Ok(serde_json::Map::new());
    };
    let keyring = keyring.ok_or_else(|| {
        err("its stored credentials need the master key, which is not loaded".into())
    })?;
    // The associated data binds the ciphertext to this tenant and connection, exactly as
    // key rotation re-derives it.
    let plain = keyring.open(&record.credentials, &crypto::connection_aad(&record))?;
    match serde_json::from_slice(&plain) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        _ => Err(err("its stored credentials are not a JSON object".into())),
    }
}

/// The tenant whose store holds a connection's secrets.
pub fn owner_tenant(connection: &Connection, tenant: &str) -> String {
    match connection.scope {
        crate::compile::ir::ConnectionScope::System => SYSTEM_TENANT.to_string(),
        crate::compile::ir::ConnectionScope::Tenant => connection
            .tenant
            .clone()
            .unwrap_or_else(|| tenant.to_string()),
    }
}

/// Builds the request authentication of a connection.
///
/// Each call builds a new auth: for OAuth2 connections that means separate token state,
/// so executions get theirs through the engine's shared client
/// ([`super::clients::Clients`]) instead.
pub fn resolve_auth(
    connection: &Connection,
    tenant: &str,
    store: Arc<dyn Store>,
    keyring: Option<Arc<Keyring>>,
) -> Result<Arc<dyn Auth>, EngineError> {
    resolve_auth_with(
        connection,
        tenant,
        store,
        keyring,
        Arc::new(std::sync::Mutex::new(())),
    )
}

/// [`resolve_auth`], with `secrets` held across every read-modify-write of the stored
/// secrets that a token refresh makes.
pub(super) fn resolve_auth_with(
    connection: &Connection,
    tenant: &str,
    store: Arc<dyn Store>,
    keyring: Option<Arc<Keyring>>,
    secrets: Arc<std::sync::Mutex<()>>,
) -> Result<Arc<dyn Auth>, EngineError> {
    let values = resolve_values(connection, tenant, &*store, keyring.as_deref())?;
    let get = |key: &str| values.get(key).cloned();
    let need = |key: &str| {
        get(key).ok_or_else(|| EngineError::Credentials {
            connection: connection.id.clone(),
            message: format!(
                "`{key}` is required for {} auth",
                connection.auth.auth_type.as_str()
            ),
        })
    };
    Ok(match connection.auth.auth_type {
        AuthType::None => Arc::new(NoAuth),
        AuthType::ApiKey => {
            let header = get("header")
                .map(|s| s.expose().to_string())
                .unwrap_or_else(|| "Authorization".to_string());
            let default_prefix = if header.eq_ignore_ascii_case("authorization") {
                "Bearer "
            } else {
                ""
            };
            let prefix = get("prefix")
                .map(|s| s.expose().to_string())
                .unwrap_or_else(|| default_prefix.to_string());
            Arc::new(ApiKey {
                header,
                prefix,
                key: need("apiKey")?,
            })
        }
        AuthType::Basic => Arc::new(Basic {
            username: need("username")?.expose().to_string(),
            password: need("password")?,
        }),
        AuthType::Custom => Arc::new(Headers {
            headers: values.into_iter().collect(),
        }),
        AuthType::OAuth2 => {
            super::oauth::build(connection, tenant, values, store, keyring, secrets)?
        }
    })
}

/// Encrypts `secrets` as the stored credentials of `connection` (creating or replacing
/// its record). `oauth` replaces the record's OAuth metadata when given.
pub fn save_stored(
    connection: &Connection,
    tenant: &str,
    store: &dyn Store,
    keyring: &Keyring,
    secrets: serde_json::Map<String, serde_json::Value>,
    oauth: Option<crate::store::OAuthMeta>,
) -> Result<crate::store::ConnectionRecord, EngineError> {
    use crate::compile::ir::ConnectionScope as Scope;
    use crate::store::{ConnectionRecord, ConnectionScope, ConnectionStatus};
    let owner = owner_tenant(connection, tenant);
    let plain = serde_json::to_vec(&serde_json::Value::Object(secrets)).unwrap_or_default();
    let now = chrono::Utc::now();
    let existing = store.connection(&owner, &connection.id)?;
    let mut record = ConnectionRecord {
        id: connection.id.clone(),
        integration_id: connection.integration.clone(),
        scope: match connection.scope {
            Scope::System => ConnectionScope::System,
            Scope::Tenant => ConnectionScope::Tenant,
        },
        tenant_id: (connection.scope == Scope::Tenant).then(|| owner.clone()),
        auth_type: connection.auth.auth_type.as_str().to_string(),
        credentials: crate::store::EncryptedCredentials {
            encrypted_data: String::new(),
            key_id: String::new(),
            algorithm: String::new(),
        },
        oauth: oauth.or_else(|| existing.as_ref().and_then(|r| r.oauth.clone())),
        status: ConnectionStatus::Active,
        last_validated_at: existing.as_ref().and_then(|r| r.last_validated_at),
        display_name: connection.name.clone(),
        created_by: existing
            .as_ref()
            .map_or_else(|| "cmap".to_string(), |r| r.created_by.clone()),
        created_at: existing.as_ref().map_or(now, |r| r.created_at),
        updated_at: now,
    };
    record.credentials = keyring.seal(&plain, &crypto::connection_aad(&record));
    store.put_connection(&record)?;
    Ok(record)
}
