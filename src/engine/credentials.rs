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
    let owner = owner_tenant(connection, tenant);
    let owner = SecretsOwner {
        tenant: &owner,
        connection_id: &connection.id,
        integration_id: &connection.integration,
        auth_type: connection.auth.auth_type.as_str(),
        display_name: connection.name.as_deref(),
        created_by: "cmap",
    };
    Ok(save_secrets(store, keyring, &owner, secrets, oauth)?)
}

/// The connection record that holds a set of secrets: what [`save_secrets`] writes.
#[derive(Clone, Copy, Debug)]
pub struct SecretsOwner<'a> {
    /// The tenant that owns the record; [`SYSTEM_TENANT`] for a system-scope connection.
    pub tenant: &'a str,
    pub connection_id: &'a str,
    pub integration_id: &'a str,
    /// The spec's auth type (`api_key`, `basic`, `oauth2`, `custom`).
    pub auth_type: &'a str,
    pub display_name: Option<&'a str>,
    /// Who creates the record when there is none yet (spec: `createdBy`).
    pub created_by: &'a str,
}

/// Encrypts `secrets` (one JSON object) as the credentials of `owner`'s connection
/// record, creating it or replacing its credentials, bound to tenant and connection id
/// as associated data ([`crypto::connection_aad`]); what `cmap connections set`, a token
/// refresh and the connect flow ([`super::connect`]) all store through. `oauth`
/// replaces the record's OAuth metadata when given; the record's creation time, author
/// and last validation are kept. Only `owner`'s own record counts as existing: a
/// system-scope record of the same id is never read for a tenant's.
pub fn save_secrets(
    store: &dyn Store,
    keyring: &Keyring,
    owner: &SecretsOwner<'_>,
    secrets: serde_json::Map<String, serde_json::Value>,
    oauth: Option<crate::store::OAuthMeta>,
) -> Result<crate::store::ConnectionRecord, crate::store::StoreError> {
    use crate::store::{ConnectionRecord, ConnectionScope, ConnectionStatus};
    let system = owner.tenant == SYSTEM_TENANT;
    let plain = serde_json::to_vec(&serde_json::Value::Object(secrets)).unwrap_or_default();
    let now = chrono::Utc::now();
    let existing = own_record(store, owner.tenant, owner.connection_id)?;
    let mut record = ConnectionRecord {
        id: owner.connection_id.to_string(),
        integration_id: owner.integration_id.to_string(),
        scope: if system {
            ConnectionScope::System
        } else {
            ConnectionScope::Tenant
        },
        tenant_id: (!system).then(|| owner.tenant.to_string()),
        auth_type: owner.auth_type.to_string(),
        credentials: crate::store::EncryptedCredentials {
            encrypted_data: String::new(),
            key_id: String::new(),
            algorithm: String::new(),
        },
        oauth: oauth.or_else(|| existing.as_ref().and_then(|r| r.oauth.clone())),
        status: ConnectionStatus::Active,
        last_validated_at: existing.as_ref().and_then(|r| r.last_validated_at),
        display_name: owner.display_name.map(str::to_string),
        created_by: existing
            .as_ref()
            .map_or_else(|| owner.created_by.to_string(), |r| r.created_by.clone()),
        created_at: existing.as_ref().map_or(now, |r| r.created_at),
        updated_at: now,
    };
    record.credentials = keyring.seal(&plain, &crypto::connection_aad(&record));
    store.put_connection(&record)?;
    Ok(record)
}

/// The connection record `tenant` itself owns under `id` ([`SYSTEM_TENANT`]: the
/// system-scope one), without the fallback of [`Store::connection`] from a tenant to a
/// system-scope record.
pub fn own_record(
    store: &dyn Store,
    tenant: &str,
    id: &str,
) -> Result<Option<crate::store::ConnectionRecord>, crate::store::StoreError> {
    use crate::store::ConnectionScope;
    Ok(store.connection(tenant, id)?.filter(|r| match r.scope {
        ConnectionScope::System => tenant == SYSTEM_TENANT,
        ConnectionScope::Tenant => r.tenant_id.as_deref() == Some(tenant),
    }))
}

/// The decrypted secrets of the record `tenant` itself owns under `id` (see
/// [`own_record`]); `None` when there is none.
pub fn load_own_secrets(
    store: &dyn Store,
    keyring: &Keyring,
    tenant: &str,
    id: &str,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>, crate::store::StoreError> {
    let Some(record) = own_record(store, tenant, id)? else {
        return Ok(None);
    };
    let plain = keyring.open(&record.credentials, &crypto::connection_aad(&record))?;
    match serde_json::from_slice(&plain) {
        Ok(serde_json::Value::Object(m)) => Ok(Some(m)),
        _ => Err(crate::store::StoreError::Crypto(format!(
            "the stored credentials of connection `{id}` are not a JSON object"
        ))),
    }
}
