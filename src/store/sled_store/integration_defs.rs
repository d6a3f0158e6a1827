//! The integration catalogue's stored entries in the sled store
//! (`/integration-def/ID`, system scope): each write one atomic, durable step under the
//! commit lock, a single-row upsert or delete in a PostgreSQL store.

use chrono::Utc;

use super::keys::key;
use super::{backend, SledStore, Writes, SYSTEM};
use crate::store::integration_def::{IntegrationDefEntry, IntegrationDefRecord};
use crate::store::{Result, StoreError};

pub(super) const INTEGRATION_DEF: &[u8] = b"integration-def";

fn def_key(id: &str) -> Vec<u8> {
    key(&[SYSTEM, INTEGRATION_DEF, id.as_bytes()])
}

pub(super) fn put(
    store: &SledStore,
    id: &str,
    entry: &IntegrationDefEntry,
) -> Result<IntegrationDefRecord> {
    if id.is_empty() {
        return Err(StoreError::Invalid(
            "an integration definition needs an id".into(),
        ));
    }
    let k = def_key(id);
    // The version is read and written under the lock, so two writers never store the
    // same version.
    let _guard = store.lock();
    let mut writes = Writes::new(&store.state);
    let previous: Option<IntegrationDefRecord> = writes.get_json(&k)?;
    let record = IntegrationDefRecord {
        id: id.to_string(),
        version: previous.map_or(1, |p| p.version.saturating_add(1)),
        entry: entry.clone(),
        updated_at: Utc::now(),
    };
    writes.put_json(k, &record)?;
    store
        .state
        .apply_batch(writes.into_batch())
        .map_err(backend)?;
    store.db.flush().map_err(backend)?;
    Ok(record)
}

pub(super) fn get(store: &SledStore, id: &str) -> Result<Option<IntegrationDefRecord>> {
    store.get_json(&def_key(id))
}

pub(super) fn delete(store: &SledStore, id: &str) -> Result<bool> {
    let k = def_key(id);
    let _guard = store.lock();
    let existed = store.state.contains_key(&k).map_err(backend)?;
    if existed {
        let mut writes = Writes::new(&store.state);
        writes.remove(k);
        store
            .state
            .apply_batch(writes.into_batch())
            .map_err(backend)?;
        store.db.flush().map_err(backend)?;
    }
    Ok(existed)
}

pub(super) fn list(store: &SledStore) -> Result<Vec<IntegrationDefRecord>> {
    store.scan(&store.state, &key(&[SYSTEM, INTEGRATION_DEF]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn open() -> (tempfile::TempDir, SledStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SledStore::open(dir.path()).expect("open");
        (dir, store)
    }

    fn definition(text: &str) -> IntegrationDefEntry {
        IntegrationDefEntry::Definition {
            seed_json: text.into(),
        }
    }

    #[test]
    fn entries_are_versioned_listed_in_id_order_and_deleted() {
        let (_dir, store) = open();
        let a = store
            .put_integration_def("zeta", &definition("{\"id\":\"zeta\"}"))
            .expect("put");
        assert_eq!(a.version, 1);
        let b = store
            .put_integration_def("salesforce", &IntegrationDefEntry::Disabled)
            .expect("put");
        assert_eq!(b.version, 1);
        let a2 = store
            .put_integration_def("zeta", &definition("{\"id\":\"zeta\",\"x\":1}"))
            .expect("put");
        assert_eq!(a2.version, 2);
        assert_eq!(
            store.integration_def("zeta").expect("get"),
            Some(a2.clone())
        );
        let ids: Vec<String> = store
            .integration_defs()
            .expect("list")
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, ["salesforce", "zeta"]);
        assert!(store.delete_integration_def("zeta").expect("delete"));
        assert!(!store.delete_integration_def("zeta").expect("delete again"));
        assert_eq!(store.integration_def("zeta").expect("get"), None);
        assert!(store
            .put_integration_def("", &IntegrationDefEntry::Disabled)
            .is_err());
    }

    #[test]
    fn entries_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let store = SledStore::open(dir.path()).expect("open");
            store
                .put_integration_def("acme", &definition("{}"))
                .expect("put");
        }
        // sled lets go of the directory a moment after the last handle is dropped.
        let store = super::super::tests::reopen(dir.path());
        let got = store.integration_def("acme").expect("get").expect("kept");
        assert_eq!(got.entry, definition("{}"));
    }
}
