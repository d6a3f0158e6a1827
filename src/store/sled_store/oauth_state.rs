//! Pending OAuth connect flows and connection removal in the sled store (keys in the
//! module docs of `sled_store`). Every write runs under the commit lock as one atomic,
//! durable batch; taking a state reads and removes it under that lock, so of two
//! callbacks with the same state exactly one gets it.

use chrono::{DateTime, Utc};

use super::keys::{self, key};
use super::{backend, SledStore, Writes, CONN, SYSTEM};
use crate::store::oauth_state::{check_hash, OAuthState, PRUNE_PER_PUT};
use crate::store::{Result, StoreError};

const OAUTH_STATE: &[u8] = b"oauth-state";
const OAUTH_STATE_BY_EXPIRY: &[u8] = b"oauth-state-by-expiry";

fn state_key(hash: &str) -> Vec<u8> {
    key(&[SYSTEM, OAUTH_STATE, hash.as_bytes()])
}

fn expiry_key(at: DateTime<Utc>, hash: &str) -> Vec<u8> {
    let at = keys::sortable_micros(at.timestamp_micros());
    key(&[SYSTEM, OAUTH_STATE_BY_EXPIRY, &at, hash.as_bytes()])
}

impl SledStore {
    /// Runs `f` over a fresh [`Writes`] under the commit lock and applies what it wrote
    /// atomically and durably; nothing when it fails.
    fn state_commit<T>(&self, f: impl FnOnce(&mut Writes<'_>) -> Result<T>) -> Result<T> {
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
}

pub(super) fn put_oauth_state(
    store: &SledStore,
    hash: &str,
    state: &OAuthState,
    now: DateTime<Utc>,
) -> Result<usize> {
    check_hash(hash)?;
    store.state_commit(|w| {
        let k = state_key(hash);
        if w.get(&k)?.is_some() {
            return Err(StoreError::Exists("an OAuth state with this hash".into()));
        }
        // The oldest expiries first, at most PRUNE_PER_PUT of them: bounded work.
        let prefix = key(&[SYSTEM, OAUTH_STATE_BY_EXPIRY]);
        let until = expiry_key(now, "");
        let mut pruned = 0;
        for item in store
            .state
            .range(prefix.clone()..keys::prefix_end(&prefix))
            .take(PRUNE_PER_PUT)
        {
            let (entry, _) = item.map_err(backend)?;
            if entry.as_ref() >= until.as_slice() {
                break;
            }
            if let Some(expired) = keys::last_text(&entry) {
                w.remove(state_key(&expired));
            }
            w.remove(entry.to_vec());
            pruned += 1;
        }
        w.put_json(k, state)?;
        w.put_json(expiry_key(state.expires_at, hash), &true)?;
        Ok(pruned)
    })
}

pub(super) fn take_oauth_state(store: &SledStore, hash: &str) -> Result<Option<OAuthState>> {
    check_hash(hash)?;
    store.state_commit(|w| {
        let k = state_key(hash);
        let Some(state) = w.get_json::<OAuthState>(&k)? else {
            return Ok(None);
        };
        w.remove(k);
        w.remove(expiry_key(state.expires_at, hash));
        Ok(Some(state))
    })
}

pub(super) fn delete_connection(store: &SledStore, tenant: &str, id: &str) -> Result<bool> {
    store.state_commit(|w| {
        let k = key(&[tenant.as_bytes(), CONN, id.as_bytes()]);
        if w.get(&k)?.is_none() {
            return Ok(false);
        }
        w.remove(k);
        Ok(true)
    })
}
