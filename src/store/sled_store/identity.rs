//! Tenants, users and API tokens in the sled store (keys in the module docs of
//! `sled_store`): each write reads what it depends on and applies its keys in one
//! atomic batch, under the commit lock.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::keys::{self, key};
use super::{backend, SledStore, Writes, SYSTEM};
use crate::store::identity::{self, ApiToken, Revocation, Tenant, User, DEFAULT_TENANT};
use crate::store::{Result, StoreError};

pub(super) const TENANT_RECORD: &[u8] = b"tenant-record";
pub(super) const USER: &[u8] = b"user";
pub(super) const USER_EMAIL: &[u8] = b"user-email";
pub(super) const API_TOKEN: &[u8] = b"api-token";

/// The value of `/user-email/EMAIL`: where the user record is.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EmailEntry {
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tenant_id: Option<String>,
}

fn tenant_key(id: &str) -> Vec<u8> {
    key(&[SYSTEM, TENANT_RECORD, id.as_bytes()])
}

/// `T/user/ID`; a super admin's under the empty (system) tenant.
fn user_key(tenant: Option<&str>, id: &str) -> Vec<u8> {
    let t = tenant.map_or(SYSTEM, str::as_bytes);
    key(&[t, USER, id.as_bytes()])
}

fn email_key(email: &str) -> Vec<u8> {
    key(&[SYSTEM, USER_EMAIL, email.as_bytes()])
}

pub(super) fn token_key(id: &str) -> Vec<u8> {
    key(&[SYSTEM, API_TOKEN, id.as_bytes()])
}

fn invalid(message: String) -> StoreError {
    StoreError::Invalid(message)
}

impl SledStore {
    /// Runs `f` over a fresh [`Writes`] under the commit lock and applies what it wrote
    /// atomically and durably; nothing when it fails.
    pub(super) fn identity_commit<T>(
        &self,
        f: impl FnOnce(&mut Writes<'_>) -> Result<T>,
    ) -> Result<T> {
        let _guard = self.lock();
        let mut writes = Writes::new(&self.state);
        let out = f(&mut writes)?;
        if !writes.pending.is_empty() {
            self.state
                .apply_batch(writes.into_batch())
                .map_err(backend)?;
            self.db.flush().map_err(backend)?;
        }
        Ok(out)
    }

    /// Stores the `default` tenant when it is not (a new store, or one written before
    /// tenants were records).
    pub(super) fn seed_default_tenant(&self) -> Result<()> {
        if self
            .state
            .contains_key(tenant_key(DEFAULT_TENANT))
            .map_err(backend)?
        {
            return Ok(());
        }
        self.identity_commit(|w| {
            if w.get(&tenant_key(DEFAULT_TENANT))?.is_none() {
                let tenant = Tenant {
                    id: DEFAULT_TENANT.into(),
                    name: DEFAULT_TENANT.into(),
                    created_at: Utc::now(),
                };
                w.put_json(tenant_key(DEFAULT_TENANT), &tenant)?;
            }
            Ok(())
        })
    }
}

pub(super) fn add_tenant(store: &SledStore, tenant: &Tenant) -> Result<()> {
    identity::valid_tenant_id(&tenant.id).map_err(invalid)?;
    store.identity_commit(|w| {
        let k = tenant_key(&tenant.id);
        if w.get(&k)?.is_some() {
            return Err(StoreError::Exists(format!("tenant `{}`", tenant.id)));
        }
        w.put_json(k, tenant)
    })
}

pub(super) fn tenant_record(store: &SledStore, id: &str) -> Result<Option<Tenant>> {
    store.get_json(&tenant_key(id))
}

pub(super) fn tenant_records(store: &SledStore) -> Result<Vec<Tenant>> {
    store.scan(&store.state, &key(&[SYSTEM, TENANT_RECORD]))
}

/// The checks of a token against its user, before either is written.
fn check_token_of(token: &ApiToken, user: &User) -> Result<()> {
    if token.user_id != user.id || token.tenant_id != user.tenant_id {
        return Err(invalid(format!(
            "token `{}` names user `{}` of tenant {:?}, not user `{}` of tenant {:?}",
            token.id, token.user_id, token.tenant_id, user.id, user.tenant_id
        )));
    }
    Ok(())
}

pub(super) fn add_user(store: &SledStore, user: &User, first_token: &ApiToken) -> Result<()> {
    user.check_tenant().map_err(invalid)?;
    let email = identity::normalize_email(&user.email).map_err(invalid)?;
    if email != user.email {
        return Err(invalid(format!(
            "the e-mail `{}` is not normalised (`{email}`)",
            user.email.escape_default()
        )));
    }
    check_token_of(first_token, user)?;
    store.identity_commit(|w| {
        if let Some(tenant) = &user.tenant_id {
            if w.get(&tenant_key(tenant))?.is_none() {
                return Err(StoreError::NotFound(format!("tenant `{tenant}`")));
            }
        }
        let ek = email_key(&user.email);
        if w.get(&ek)?.is_some() {
            return Err(StoreError::Exists(format!("a user with e-mail `{email}`")));
        }
        let uk = user_key(user.tenant_id.as_deref(), &user.id);
        if w.get(&uk)?.is_some() {
            return Err(StoreError::Exists(format!("user `{}`", user.id)));
        }
        put_token(w, first_token)?;
        w.put_json(
            ek,
            &EmailEntry {
                id: user.id.clone(),
                tenant_id: user.tenant_id.clone(),
            },
        )?;
        w.put_json(uk, user)
    })
}

fn put_token(w: &mut Writes<'_>, token: &ApiToken) -> Result<()> {
    let k = token_key(&token.id);
    if w.get(&k)?.is_some() {
        return Err(StoreError::Exists(format!("API token `{}`", token.id)));
    }
    w.put_json(k, token)
}

pub(super) fn user(store: &SledStore, tenant: Option<&str>, id: &str) -> Result<Option<User>> {
    store.get_json(&user_key(tenant, id))
}

pub(super) fn user_by_email(store: &SledStore, email: &str) -> Result<Option<User>> {
    let ek = email_key(email);
    let Some(entry) = store.get_json::<EmailEntry>(&ek)? else {
        return Ok(None);
    };
    let found = user(store, entry.tenant_id.as_deref(), &entry.id)?;
    found.map(Some).ok_or_else(|| StoreError::Corrupt {
        key: keys::display(&ek),
        message: format!("points to user `{}`, which does not exist", entry.id),
    })
}

pub(super) fn users(store: &SledStore) -> Result<Vec<User>> {
    let mut out: Vec<User> = store.scan(&store.state, &key(&[SYSTEM, USER]))?;
    for tenant in tenant_records(store)? {
        out.extend(store.scan::<User>(&store.state, &key(&[tenant.id.as_bytes(), USER]))?);
    }
    Ok(out)
}

pub(super) fn add_api_token(store: &SledStore, token: &ApiToken) -> Result<()> {
    store.identity_commit(|w| {
        let uk = user_key(token.tenant_id.as_deref(), &token.user_id);
        if w.get(&uk)?.is_none() {
            return Err(StoreError::NotFound(format!(
                "user `{}`{}",
                token.user_id,
                token
                    .tenant_id
                    .as_deref()
                    .map(|t| format!(" of tenant `{t}`"))
                    .unwrap_or_default()
            )));
        }
        put_token(w, token)
    })
}

pub(super) fn api_token(store: &SledStore, id: &str) -> Result<Option<ApiToken>> {
    store.get_json(&token_key(id))
}

pub(super) fn revoke_api_token(
    store: &SledStore,
    id: &str,
    at: DateTime<Utc>,
) -> Result<Revocation> {
    store.identity_commit(|w| {
        let k = token_key(id);
        let Some(mut token) = w.get_json::<ApiToken>(&k)? else {
            return Ok(Revocation::Unknown);
        };
        if let Some(when) = token.revoked_at {
            return Ok(Revocation::AlreadyRevoked(when));
        }
        token.revoked_at = Some(at);
        w.put_json(k, &token)?;
        Ok(Revocation::Revoked)
    })
}

pub(super) fn touch_api_token(
    store: &SledStore,
    id: &str,
    at: DateTime<Utc>,
    if_before: DateTime<Utc>,
) -> Result<bool> {
    store.identity_commit(|w| {
        let k = token_key(id);
        let Some(mut token) = w.get_json::<ApiToken>(&k)? else {
            return Ok(false);
        };
        if token.last_used_at.is_some_and(|last| last >= if_before) {
            return Ok(false);
        }
        token.last_used_at = Some(at);
        w.put_json(k, &token)?;
        Ok(true)
    })
}
