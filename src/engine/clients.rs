//! One authenticated HTTP client per connection, shared by every execution in the
//! process (scheduled runs, manual runs, connection tests).
//!
//! Why shared: an OAuth2 connection's tokens are state. Two runs that each built their
//! own client would each refresh, and a server that rotates refresh tokens (and revokes
//! the old one) then refuses the second refresh, or the token stored last is the one
//! already revoked. One [`OAuth2`](crate::connectors::oauth::OAuth2) per connection
//! refreshes once (single-flight) for everyone. The HTTP client around it is shared too,
//! so its connection pool (and TLS sessions) outlive a run.
//!
//! Keyed by where the secrets live (the owner tenant: the empty tenant for a
//! system-scope connection, which every tenant shares) and the connection id. An entry
//! remembers the connection as declared and the timeout it was built with: a reload that
//! changes the connection, or its settings, gets a fresh client; an unchanged one keeps
//! its tokens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::credentials::{owner_tenant, resolve_auth_with};
use super::EngineError;
use crate::compile::ir::Connection;
use crate::connectors::http;
use crate::store::crypto::Keyring;
use crate::store::Store;

/// The clients of an [`Engine`](super::Engine).
#[derive(Default)]
pub struct Clients {
    /// (owner tenant, connection id) -> the client. Bounded by the connections ever
    /// declared: a changed connection replaces its entry.
    map: Mutex<HashMap<(String, String), Entry>>,
    /// Held across every read-modify-write of stored secrets made by this process (a
    /// token refresh persisting a rotated token): two writers of one connection's stored
    /// object would otherwise each read it, and the second write would drop the first's
    /// token. (A connection's own refreshes are already serialised by its client; this
    /// also covers a client replaced by a reload while the old one is still in use.)
    secrets: Arc<Mutex<()>>,
}

struct Entry {
    connection: Connection,
    timeout: Duration,
    client: Arc<http::Client>,
}

impl Clients {
    /// The client of `connection` (run in `tenant`), built on first use.
    pub fn get(
        &self,
        connection: &Connection,
        tenant: &str,
        store: &Arc<dyn Store>,
        keyring: &Option<Arc<Keyring>>,
        origins: Vec<url::Url>,
        timeout: Duration,
    ) -> Result<Arc<http::Client>, EngineError> {
        let key = (owner_tenant(connection, tenant), connection.id.clone());
        // Held while building, so two runs starting together build one client. Building
        // reads the store and builds a reqwest client: milliseconds, and only once per
        // connection.
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = map.get(&key) {
            if entry.connection == *connection && entry.timeout == timeout {
                return Ok(entry.client.clone());
            }
        }
        let auth = resolve_auth_with(
            connection,
            tenant,
            store.clone(),
            keyring.clone(),
            self.secrets.clone(),
        )?;
        // The origins come from the connection's settings, which the key compares.
        let client =
            http::Client::new(auth, origins, timeout).map_err(|e| EngineError::Credentials {
                connection: connection.id.clone(),
                message: e.to_string(),
            })?;
        let client = Arc::new(client);
        map.insert(
            key,
            Entry {
                connection: connection.clone(),
                timeout,
                client: client.clone(),
            },
        );
        Ok(client)
    }

    /// Drops the cached client of connection `connection_id` owned by `owner` (a tenant,
    /// or [`super::credentials::SYSTEM_TENANT`]), so the next run builds one from what
    /// is stored now (a connect or disconnect replaced the secrets, and a client keeps
    /// the tokens it read). A system-scope owner drops the entry of every tenant: a
    /// tenant without secrets of its own reads the system's under the same id (the
    /// store's fallback), and its client was cached under its own tenant. Returns how
    /// many entries were dropped. A run holding the old client keeps it until it ends.
    pub fn forget(&self, owner: &str, connection_id: &str) -> usize {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let before = map.len();
        let system = owner == super::credentials::SYSTEM_TENANT;
        map.retain(|(tenant, id), _| !(id == connection_id && (system || tenant == owner)));
        before - map.len()
    }

    /// The lock held across every read-modify-write of stored secrets by this process
    /// (a token refresh persisting a rotated token): a connect or disconnect takes it
    /// around its write, so a refresh never interleaves its read and write with it.
    pub fn secrets_lock(&self) -> Arc<Mutex<()>> {
        self.secrets.clone()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::compile::ir::{AuthConfig, AuthType, ConnectionScope};
    use crate::store::SledStore;

    fn connection(base: &str) -> Connection {
        Connection {
            id: "api".into(),
            name: None,
            integration: "rest".into(),
            scope: ConnectionScope::Tenant,
            tenant: None,
            auth: AuthConfig {
                auth_type: AuthType::None,
                fields: Vec::new(),
            },
            settings: crate::compile::config::settings_from_json(
                "rest",
                &json!({ "baseUrl": base }),
            )
            .expect("rest settings"),
        }
    }

    /// The same declaration shares one client; a changed declaration (a reload), another
    /// timeout or another owner gets its own.
    #[test]
    fn one_client_per_connection_as_declared() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).expect("store"));
        let clients = Clients::default();
        let timeout = Duration::from_secs(5);
        let get = |c: &Connection, tenant: &str, timeout| {
            clients
                .get(c, tenant, &store, &None, Vec::new(), timeout)
                .expect("a client")
        };
        let a = connection("http://127.0.0.1:1");
        let first = get(&a, "default", timeout);
        assert!(Arc::ptr_eq(&first, &get(&a.clone(), "default", timeout)));
        let changed = connection("http://127.0.0.1:2");
        let second = get(&changed, "default", timeout);
        assert!(!Arc::ptr_eq(&first, &second), "a changed connection");
        assert!(Arc::ptr_eq(&second, &get(&changed, "default", timeout)));
        assert!(!Arc::ptr_eq(
            &second,
            &get(&changed, "default", Duration::from_secs(6))
        ));
        assert!(!Arc::ptr_eq(
            &get(&changed, "default", Duration::from_secs(6)),
            &get(&changed, "other", Duration::from_secs(6))
        ));
    }

    /// `forget` drops the connection's client of its owner only; a system-scope owner's,
    /// every tenant's of that id (they read the system's secrets).
    #[test]
    fn forget_drops_the_owners_client_and_system_drops_every_tenants() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).expect("store"));
        let clients = Clients::default();
        let timeout = Duration::from_secs(5);
        let get = |c: &Connection, tenant: &str| {
            clients
                .get(c, tenant, &store, &None, Vec::new(), timeout)
                .expect("a client")
        };
        let api = connection("http://127.0.0.1:1");
        let (acme, globex) = (get(&api, "acme"), get(&api, "globex"));
        assert_eq!(clients.forget("acme", "other"), 0);
        assert_eq!(clients.forget("acme", "api"), 1);
        assert!(
            !Arc::ptr_eq(&acme, &get(&api, "acme")),
            "rebuilt after forget"
        );
        assert!(
            Arc::ptr_eq(&globex, &get(&api, "globex")),
            "another tenant's kept"
        );
        assert_eq!(
            clients.forget(crate::engine::credentials::SYSTEM_TENANT, "api"),
            2
        );
        assert!(!Arc::ptr_eq(&globex, &get(&api, "globex")));
    }
}
