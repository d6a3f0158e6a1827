//! OAuth2 connections: the connector's [`OAuth2`] auth, fed with the tokens a previous
//! refresh stored, and persisting every new token (encrypted) before it is used.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::credentials::{load_stored, save_stored};
use super::EngineError;
use crate::compile::ir::Connection;
use crate::connectors::auth::{Auth, Secret};
use crate::connectors::oauth::{OAuth2, OAuth2Config, Persist, TokenUpdate};
use crate::store::crypto::Keyring;
use crate::store::{OAuthMeta, Store};

/// Token fields a refresh persists; stored values override the declared ones, since a
/// rotated refresh token is newer than the one the pipeline names.
const TOKEN_FIELDS: &[&str] = &["accessToken", "refreshToken", "expiresAt", "instanceUrl"];

/// The OAuth2 auth of `connection`, starting from the tokens stored by earlier
/// refreshes. `secrets` is held across each persist (see [`super::clients::Clients`]).
pub fn build(
    connection: &Connection,
    tenant: &str,
    values: BTreeMap<String, Secret>,
    store: Arc<dyn Store>,
    keyring: Option<Arc<Keyring>>,
    secrets: Arc<Mutex<()>>,
) -> Result<Arc<dyn Auth>, EngineError> {
    let err = |message: String| EngineError::Credentials {
        connection: connection.id.clone(),
        message,
    };
    let mut fields: Vec<(String, Secret)> = values.into_iter().collect();
    let stored = load_stored(connection, tenant, &*store, keyring.as_deref())?;
    for key in TOKEN_FIELDS {
        if let Some(v) = stored.get(*key).and_then(Value::as_str) {
            fields.retain(|(k, _)| k != key);
            fields.push((key.to_string(), Secret::new(v)));
        }
    }
    let config = OAuth2Config::from_credentials(&fields).map_err(|e| err(e.to_string()))?;
    // The stored refresh token this auth's grant is at: a persist finding another one
    // stored (a connect stored a new grant, a disconnect deleted it) meanwhile writes
    // nothing, so a refresh in flight never overwrites the new grant or brings deleted
    // secrets back.
    let grant = Mutex::new(
        stored
            .get("refreshToken")
            .and_then(Value::as_str)
            .map(str::to_string),
    );
    let persist: Option<Persist> = keyring.map(|keyring| {
        let connection = connection.clone();
        let tenant = tenant.to_string();
        let store = store.clone();
        let persist: Persist = Arc::new(move |update: TokenUpdate| {
            // Read-modify-write of the stored object: keeps the other stored secrets
            // (client secret, ...) and replaces the tokens. Serialised with every other
            // such write of this process, so none is lost between read and write.
            let _serialised = secrets.lock().unwrap_or_else(|e| e.into_inner());
            let mut stored = load_stored(&connection, &tenant, &*store, Some(&keyring))
                .map_err(|e| e.to_string())?;
            let mut grant = grant.lock().unwrap_or_else(|e| e.into_inner());
            if stored.get("refreshToken").and_then(Value::as_str) != grant.as_deref() {
                return Err(format!(
                    "connection `{}` was reconnected or disconnected while this token was \
                     refreshed; the refreshed token is dropped and the next run uses what \
                     is stored now",
                    connection.id
                ));
            }
            stored.insert(
                "accessToken".into(),
                Value::String(update.access_token.expose().to_string()),
            );
            if let Some(r) = &update.refresh_token {
                stored.insert("refreshToken".into(), Value::String(r.expose().to_string()));
            }
            let at = stored
                .get("refreshToken")
                .and_then(Value::as_str)
                .map(str::to_string);
            match update.expires_at {
                Some(at) => stored.insert("expiresAt".into(), Value::String(at.to_rfc3339())),
                None => stored.remove("expiresAt"),
            };
            if let Some(url) = &update.instance_url {
                stored.insert("instanceUrl".into(), Value::String(url.clone()));
            }
            let meta = OAuthMeta {
                token_type: update.token_type.clone(),
                expires_at: update.expires_at,
                scope: update.scope.clone().unwrap_or_default(),
                instance_url: update.instance_url.clone(),
            };
            save_stored(&connection, &tenant, &*store, &keyring, stored, Some(meta))
                .map_err(|e| e.to_string())?;
            *grant = at;
            Ok(())
        });
        persist
    });
    let auth = OAuth2::new(config, persist).map_err(|e| err(e.to_string()))?;
    Ok(Arc::new(auth))
}
