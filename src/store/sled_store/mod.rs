//! The sled implementation of [`Store`]: every piece of state in one embedded database
//! in the data directory.
//!
//! # Trees
//!
//! - `state`: everything that must change together (shards, their indexes and sweep
//!   marks, pending references, task state, executions, dead letters, connections,
//!   the tenant registry, tenants, users and API tokens). A [`Batch`] becomes one
//!   `sled::Batch` applied with `apply_batch`, which sled makes atomic, crash included.
//! - `logs`: execution logs, written in the same commit right after the atomic part
//!   (a crash between the two loses log lines, never state).
//!
//! # Keys
//!
//! A key is a list of segments, each escaped and terminated by 0x00 (see `keys.rs`),
//! so ids may hold any byte and a scan over a prefix of whole segments sees exactly the
//! keys below it. The first segment is always the tenant; the empty tenant (which no
//! batch may use) is the system namespace. Values are JSON, readable with any sled
//! tool; index values are the JSON string of a shard id, except `ext` entries, which
//! carry the shard's version and content fingerprint too (`values.rs` gives the shard
//! and index encodings, and how stores written before them are read).
//!
//! ```text
//! T/shard/SHARD_ID                                   -> Shard, with `_index`: ShardMeta
//! T/type/SHARD_TYPE/SHARD_ID                         -> shard id (listing by type)
//! T/ext/INTEGRATION/EXTERNAL_TYPE/EXTERNAL_ID        -> {id, version, content}
//! T/ref/INTEGRATION/SHARD_TYPE/EXTERNAL_ID           -> shard id
//! T/dedupe/SHARD_TYPE/KEY                            -> shard id
//! T/mark/INTEGRATION/EXTERNAL_TYPE/SHARD_ID          -> sweep mark (string)
//! T/pending/INTEGRATION/SHARD_TYPE/EXTERNAL_ID/SOURCE_SHARD_ID/FIELD -> PendingReference
//! T/task/TASK_ID                                     -> TaskState (changed field by field)
//! T/exec/EXECUTION_ID                                -> SyncExecution
//! T/exec-by-task/TASK_ID/STARTED/EXECUTION_ID        -> execution id
//! T/exec-by-time/STARTED/EXECUTION_ID                -> execution id
//! T/running/EXECUTION_ID                             -> execution id
//! T/dead/EXECUTION_ID/SEQ                            -> DeadLetter
//! T/event/TASK_ID/EVENT_ID                           -> when it was stored (webhooks)
//! T/event-by-time/STORED/TASK_ID/EVENT_ID            -> true (pruning, oldest first)
//! T/conn/CONNECTION_ID                               -> ConnectionRecord (tenant scope)
//! /conn/CONNECTION_ID                                -> ConnectionRecord (system scope)
//! /tenant/T                                          -> true (every tenant that wrote)
//! /tenant-record/T                                   -> Tenant (`default` from the first open)
//! T/user/USER_ID                                     -> User (tenant's users and admins)
//! /user/USER_ID                                      -> User (super admins: no tenant)
//! /user-email/EMAIL                                  -> {id, tenantId} (emails are unique)
//! /api-token/TOKEN_ID                                -> ApiToken (SHA-256 of the secret)
//! T/tenant-integration/INTEGRATION_ID                -> TenantIntegration (with its version)
//! T/pipeline-doc/KIND/ID                             -> PipelineDocument (`.cmap` text, version)
//! T/pipeline-doc-by-ti/INTEGRATION_ID/KIND/ID        -> true (a tenant integration's documents)
//! T/audit/AT/ENTRY_ID                                -> AuditEntry (T empty: global entries)
//! /audit-all/AT/ENTRY_ID                             -> tenantId or null (every scope, by time)
//! /audit-count/T                                     -> entries kept in scope T (retention)
//! /oauth-state/HASH                                  -> OAuthState (HASH: SHA-256 of the state)
//! /oauth-state-by-expiry/EXPIRES/HASH                -> true (pruning, soonest first)
//! /integration-def/INTEGRATION_ID                    -> IntegrationDefRecord (catalogue entries)
//! logs tree: T/EXECUTION_ID/N                        -> SyncLog (N: sled's monotonic id)
//! default tree: migrated/NAME                        -> true (a one-time migration done)
//! ```
//!
//! API tokens are system-scope because a request names a token before any tenant is
//! known; the record carries its user's `tenantId`, so authenticating is two point reads
//! (token, user). Identity writes (`identity.rs`) are small batches of their own under
//! the same lock, each one SQL transaction in a PostgreSQL store. OAuth connect states
//! are system-scope for the same reason (a provider's callback names no tenant); taking
//! one reads and removes it under the lock, so it is used once (`oauth_state.rs`).
//!
//! Platform records (`platform.rs`): tenant integrations and pipeline documents carry a
//! version that every write compares and raises under the lock (`StoreError::Stale` on
//! a mismatch); a write's audit entry goes in its batch. AT is the entry's time like
//! STARTED; `audit-count` lets `prune_audit` drop a scope's oldest entries without
//! counting them.
//!
//! STARTED, STORED and EXPIRES are times in microseconds, 8 bytes that sort as the
//! time; SEQ and N are big-endian u64. A shard's `_index` lists every index entry it
//! owns, so that
//! replacing or deleting it can remove entries it no longer owns. A new shard with a
//! source costs four keys (`shard`, `type`, `ext`, `ref`); an unchanged record, the one
//! read of its `ext` entry. (Stores written before this layout also have
//! `T/meta/SHARD_ID` records; a shard's next write removes its own.)
//!
//! # Lists and pruning
//!
//! A list is a range scan of an index, newest first or in order, from the key its cursor
//! names: a page reads its `limit` entries, their records, and one key more (to know
//! whether there is a next page). Pruning (`prune.rs`) walks the same indexes in bounded
//! steps and removes each record with every key that names it: an execution with its
//! `exec-by-task`, `exec-by-time` and `running` entries and its log lines; an event id
//! with its `event-by-time` entry. Every read of the trees is counted
//! ([`SledStore::keys_read`]).
//!
//! # Writers
//!
//! One process holds the directory (sled locks it). Inside it, commits are serialised
//! by a mutex: a commit checks its preconditions ([`crate::store::Expect`], pending
//! references) against the committed state, reads index entries (to find what a
//! replaced shard owned) and task states (to apply field-level updates), then applies
//! its writes; two interleaved commits could otherwise each miss the other's writes.
//! A failed precondition returns `StoreError::Conflict` before anything is applied.
//! Reads take no lock: sled gives every read a consistent view of one key, and a batch
//! is applied atomically, so a reader sees a page either wholly or not at all. Commits
//! block on `flush` (an fsync): async callers run them on a blocking thread.
//!
//! # Files
//!
//! The directory is created 0700 and a group- or world-accessible one is tightened at
//! open (with a warning); the process umask is made 077 so that every file sled
//! creates in it, then or later, is 0600 (see `private.rs`).

#[cfg(test)]
mod bounded_tests;
mod identity;
#[cfg(test)]
mod identity_tests;
mod integration_defs;
mod keys;
mod oauth_state;
mod platform;
#[cfg(test)]
mod platform_tests;
mod prune;
#[cfg(test)]
mod tests;
mod tree;
mod values;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{
    private, Batch, Conflict, ConnectionRecord, ConnectionScope, DeadLetter, DeadLetterCursor,
    ExecutionCursor, ExecutionStatus, Expect, LogCursor, Op, Page, PageRequest, PendingReference,
    PruneRequest, Pruned, Result, Shard, SourceKey, Store, StoreError, SyncExecution, SyncLog,
    TaskState,
};
use keys::key;
use tree::Tree;
use values::{ExtEntry, IndexEntry, IndexOf, StoredShard, StoredVersion};

const SHARD: &[u8] = b"shard";
const META: &[u8] = b"meta";
const BY_TYPE: &[u8] = b"type";
const EXT: &[u8] = b"ext";
const REF: &[u8] = b"ref";
const DEDUPE: &[u8] = b"dedupe";
const MARK: &[u8] = b"mark";
const PENDING: &[u8] = b"pending";
const TASK: &[u8] = b"task";
const EXEC: &[u8] = b"exec";
const EXEC_BY_TASK: &[u8] = b"exec-by-task";
const EXEC_BY_TIME: &[u8] = b"exec-by-time";
const RUNNING: &[u8] = b"running";
const DEAD: &[u8] = b"dead";
const EVENT: &[u8] = b"event";
const EVENT_BY_TIME: &[u8] = b"event-by-time";
const MIGRATED: &[u8] = b"migrated";
const CONN: &[u8] = b"conn";
const TENANT: &[u8] = b"tenant";
/// The tenant segment of system-scope keys; no batch may name it.
const SYSTEM: &[u8] = b"";

/// sled's page cache by default, in bytes ([`SledOptions::cache_bytes`]). sled's own
/// default (1 GiB) lets memory grow with the data synced; a fixed, modest cache keeps
/// a long sync's memory flat.
pub const DEFAULT_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// How the sled store is opened.
#[derive(Clone, Copy, Debug)]
pub struct SledOptions {
    /// The page cache's budget in bytes (sled's `cache_capacity`): what stays in memory
    /// of the data between reads. Peak memory is about this plus the page being written.
    pub cache_bytes: u64,
}

impl Default for SledOptions {
    fn default() -> SledOptions {
        SledOptions {
            cache_bytes: DEFAULT_CACHE_BYTES,
        }
    }
}

/// The embedded store in one data directory.
pub struct SledStore {
    db: sled::Db,
    state: Tree,
    logs: Tree,
    /// Keys read from both trees since open ([`SledStore::keys_read`]).
    reads: Arc<AtomicU64>,
    /// Serialises commits (see the module docs); guards no data of its own.
    write_lock: Mutex<()>,
    /// What `open` made owner-only (it was readable by other users).
    tightened: Vec<std::path::PathBuf>,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore").finish_non_exhaustive()
    }
}

impl SledStore {
    /// Opens (creating if needed) the store in `dir`. Fails with a clear
    /// [`StoreError::Backend`] when another process holds the directory.
    ///
    /// The directory holds shards, so it is private: created 0700; an existing one
    /// that other users can read is made owner-only, with everything in it (logged;
    /// [`SledStore::tightened`] lists what changed). From here on the process creates
    /// files owner-only (umask 077), so whatever sled creates in it, now or later, is
    /// 0600.
    pub fn open(dir: &Path) -> Result<SledStore> {
        SledStore::open_with(dir, SledOptions::default())
    }

    /// [`SledStore::open`] with `options` (the cache size).
    pub fn open_with(dir: &Path, options: SledOptions) -> Result<SledStore> {
        private::restrict_umask();
        private::create_dir(dir).map_err(|e| {
            StoreError::Backend(format!(
                "cannot create the data directory {}: {e}",
                dir.display()
            ))
        })?;
        let tightened = private::tighten(dir).map_err(|e| {
            StoreError::Backend(format!(
                "cannot make the data directory {} private: {e}",
                dir.display()
            ))
        })?;
        if !tightened.is_empty() {
            tracing::warn!(
                path = %dir.display(),
                changed = tightened.len(),
                "the data directory was readable by other users; made it and its files owner-only (0700 directories, 0600 files)"
            );
        }
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(options.cache_bytes)
            .open()
            .map_err(|e| open_error(dir, e))?;
        let reads = Arc::new(AtomicU64::new(0));
        let state = Tree::new(db.open_tree("state").map_err(backend)?, reads.clone());
        let logs = Tree::new(db.open_tree("logs").map_err(backend)?, reads.clone());
        let store = SledStore {
            db,
            state,
            logs,
            reads,
            write_lock: Mutex::new(()),
            tightened,
        };
        store.index_events_by_time()?;
        store.seed_default_tenant()?;
        Ok(store)
    }

    /// How many keys the store's reads have visited since it was opened: every point
    /// read, and every entry a scan yielded. What shows that a page of a list costs
    /// O(limit) reads however much is stored (`tests/bounded_state.rs`).
    pub fn keys_read(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// Stores written before event ids were pruned have events without an
    /// `event-by-time` entry: give each one, once (the one time this reads every event).
    fn index_events_by_time(&self) -> Result<()> {
        let done = key(&[MIGRATED, EVENT_BY_TIME]);
        if self.db.contains_key(&done).map_err(backend)? {
            return Ok(());
        }
        let _guard = self.lock();
        // In chunks, so memory stays flat however many events there are; a crash half-way
        // redoes it all at the next open (the entries are the same).
        const CHUNK: usize = 10_000;
        let mut batch = sled::Batch::default();
        let mut in_batch = 0;
        for tenant in self.registered_tenants()? {
            let t = tenant.as_bytes();
            for item in self.state.scan_prefix(key(&[t, EVENT])) {
                let (k, v) = item.map_err(backend)?;
                let at: chrono::DateTime<chrono::Utc> = decode(&k, &v)?;
                let segments = keys::segments(&k).unwrap_or_default();
                if let [_, _, task, event] = segments.as_slice() {
                    batch.insert(event_time_key(t, task, event, at), encode(&true)?);
                    in_batch += 1;
                }
                if in_batch == CHUNK {
                    self.state
                        .apply_batch(std::mem::take(&mut batch))
                        .map_err(backend)?;
                    in_batch = 0;
                }
            }
        }
        self.state.apply_batch(batch).map_err(backend)?;
        self.db.insert(done, encode(&true)?).map_err(backend)?;
        self.db.flush().map_err(backend)?;
        Ok(())
    }

    /// The files and directories `open` found readable by other users and made
    /// owner-only (empty when the directory was private already).
    pub fn tightened(&self) -> &[std::path::PathBuf] {
        &self.tightened
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // A panic in another commit left nothing half-done in memory (its writes were
        // either applied by sled or dropped), so a poisoned lock is still good.
        self.write_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn get_json<T: DeserializeOwned>(&self, k: &[u8]) -> Result<Option<T>> {
        match self.state.get(k).map_err(backend)? {
            Some(bytes) => decode(k, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// The shard an index entry at `index_key` points to.
    fn shard_at(&self, tenant: &str, index_key: &[u8]) -> Result<Option<Shard>> {
        let Some(entry) = self.get_json::<IndexEntry>(index_key)? else {
            return Ok(None);
        };
        self.shard_by_id_from(tenant, &entry.id, index_key)
            .map(Some)
    }

    /// The shard `id` that `from` names; its absence means the store is inconsistent.
    fn shard_by_id_from(&self, tenant: &str, id: &str, from: &[u8]) -> Result<Shard> {
        self.shard(tenant, id)?.ok_or_else(|| StoreError::Corrupt {
            key: keys::display(from),
            message: format!("points to shard `{id}`, which does not exist"),
        })
    }

    /// The values under `prefix`, decoded.
    fn scan<T: DeserializeOwned>(&self, tree: &Tree, prefix: &[u8]) -> Result<Vec<T>> {
        tree.scan_prefix(prefix)
            .map(|item| {
                let (k, v) = item.map_err(backend)?;
                decode(&k, &v)
            })
            .collect()
    }

    /// The tenants that ever wrote, in order.
    fn registered_tenants(&self) -> Result<Vec<String>> {
        self.state
            .scan_prefix(key(&[SYSTEM, TENANT]))
            .map(|item| {
                let (k, _) = item.map_err(backend)?;
                keys::last_text(&k).ok_or_else(|| StoreError::Corrupt {
                    key: keys::display(&k),
                    message: "not a tenant registry key".into(),
                })
            })
            .collect()
    }

    /// The executions whose ids are the values under `prefix`, newest first.
    fn executions_at(&self, tenant: &str, prefix: &[u8]) -> Result<Vec<SyncExecution>> {
        let mut out = Vec::new();
        for item in self.state.scan_prefix(prefix).rev() {
            let (k, v) = item.map_err(backend)?;
            let id: String = decode(&k, &v)?;
            out.push(self.execution_from(tenant, &id, &k)?);
        }
        Ok(out)
    }

    /// The execution `id` that the index entry `from` names; its absence means the store
    /// is inconsistent.
    fn execution_from(&self, tenant: &str, id: &str, from: &[u8]) -> Result<SyncExecution> {
        let exec_key = key(&[tenant.as_bytes(), EXEC, id.as_bytes()]);
        self.get_json(&exec_key)?
            .ok_or_else(|| StoreError::Corrupt {
                key: keys::display(from),
                message: format!("points to execution `{id}`, which does not exist"),
            })
    }

    /// A page of the records under `prefix` whose keys end in a big-endian sequence
    /// number (log lines, dead letters), in order, after `after`; and the number of the
    /// last one when more follow. Reads `limit` records and one key more.
    fn seq_page<T: DeserializeOwned>(
        &self,
        tree: &Tree,
        prefix: &[u8],
        after: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<T>, Option<u64>)> {
        let start = match after {
            None => prefix.to_vec(),
            Some(seq) => match seq.checked_add(1) {
                Some(first) => {
                    let mut start = prefix.to_vec();
                    start.extend(key(&[&first.to_be_bytes()]));
                    start
                }
                // Nothing follows the largest number.
                None => return Ok((Vec::new(), None)),
            },
        };
        let mut items = Vec::with_capacity(limit);
        let mut last = None;
        let mut more = false;
        for item in tree.range(start..keys::prefix_end(prefix)) {
            let (k, v) = item.map_err(backend)?;
            if items.len() == limit {
                more = true;
                break;
            }
            let seq = keys::segments(&k)
                .and_then(|s| s.last().and_then(|n| keys::u64_segment(n)))
                .ok_or_else(|| StoreError::Corrupt {
                    key: keys::display(&k),
                    message: "does not end in a sequence number".into(),
                })?;
            items.push(decode(&k, &v)?);
            last = Some(seq);
        }
        Ok((items, if more { last } else { None }))
    }
}

// Preconditions, checked against the committed state under the write lock.
impl SledStore {
    fn committed_version(&self, tenant: &str, id: &str) -> Result<Option<u64>> {
        let k = key(&[tenant.as_bytes(), SHARD, id.as_bytes()]);
        Ok(self.get_json::<StoredVersion>(&k)?.map(|v| v.version))
    }

    /// The writer of a shard put read `expect`; is it still so?
    fn check_put(
        &self,
        tenant: &str,
        shard: &Shard,
        source: Option<&SourceKey>,
        dedupe_key: Option<&(String, String)>,
        expect: &Expect,
    ) -> Result<()> {
        self.check_version(tenant, &shard.id, expect.version)?;
        if let Some(source) = source {
            let k = StoredSource::from(source).ext_key(tenant);
            self.check_owner(&k, expect.source_owner.as_deref())?;
        }
        if let Some((shard_type, dedupe)) = dedupe_key {
            let k = key(&[
                tenant.as_bytes(),
                DEDUPE,
                shard_type.as_bytes(),
                dedupe.as_bytes(),
            ]);
            self.check_owner(&k, expect.dedupe_owner.as_deref())?;
        }
        Ok(())
    }

    fn check_version(&self, tenant: &str, id: &str, expected: Option<u64>) -> Result<()> {
        // A create (most writes of a first sync) only needs the id to be unused.
        if expected.is_none() {
            let k = key(&[tenant.as_bytes(), SHARD, id.as_bytes()]);
            if !self.state.contains_key(k).map_err(backend)? {
                return Ok(());
            }
        }
        let found = self.committed_version(tenant, id)?;
        if found == expected {
            return Ok(());
        }
        let say = |v: Option<u64>| match v {
            Some(v) => format!("at version {v}"),
            None => "absent".to_string(),
        };
        Err(StoreError::Conflict(Conflict {
            key: keys::display(&key(&[tenant.as_bytes(), SHARD, id.as_bytes()])),
            message: format!(
                "the writer read the shard {}, it is now {}",
                say(expected),
                say(found)
            ),
        }))
    }

    /// The index entry at `k` must still name `expected` (`None`: no shard).
    fn check_owner(&self, k: &[u8], expected: Option<&str>) -> Result<()> {
        let found = self.get_json::<IndexEntry>(k)?.map(|e| e.id);
        if found.as_deref() == expected {
            return Ok(());
        }
        let say = |owner: Option<&str>| match owner {
            Some(id) => format!("shard `{id}`"),
            None => "no shard".to_string(),
        };
        Err(StoreError::Conflict(Conflict {
            key: keys::display(k),
            message: format!(
                "the writer read it naming {}, it now names {}",
                say(expected),
                say(found.as_deref())
            ),
        }))
    }

    /// A reference is kept waiting only while its target is not stored.
    fn check_pending_target(&self, tenant: &str, p: &PendingReference) -> Result<()> {
        let k = key(&[
            tenant.as_bytes(),
            REF,
            p.integration_id.as_bytes(),
            p.shard_type_id.as_bytes(),
            p.external_id.as_bytes(),
        ]);
        match self.get_json::<IndexEntry>(&k)?.map(|e| e.id) {
            None => Ok(()),
            Some(id) => Err(StoreError::Conflict(Conflict {
                key: keys::display(&k),
                message: format!(
                    "shard `{}` field `{}` was to wait for this target, but shard `{id}` is stored under it now",
                    p.source_shard_id, p.target_field
                ),
            })),
        }
    }

    /// When this put makes `shard` the target of `source` (it was not before), the
    /// prefix of the references that may wait for it: they must all be resolved by the
    /// end of the batch.
    fn claimed_target(
        &self,
        tenant: &str,
        shard: &Shard,
        source: &SourceKey,
    ) -> Result<Option<Vec<u8>>> {
        let stored = StoredSource::from(source);
        let owner = self
            .get_json::<IndexEntry>(&stored.ref_key(tenant))?
            .map(|e| e.id);
        if owner.as_deref() == Some(shard.id.as_str()) {
            return Ok(None);
        }
        Ok(Some(key(&[
            tenant.as_bytes(),
            PENDING,
            stored.integration.as_bytes(),
            stored.shard_type.as_bytes(),
            stored.external_id.as_bytes(),
        ])))
    }
}

impl Store for SledStore {
    fn commit(&self, batch: Batch) -> Result<()> {
        if batch.ops.is_empty() {
            return Ok(());
        }
        check_tenant_name(&batch.tenant)?;
        let _guard = self.lock();
        let tenant = batch.tenant.as_str();
        let mut writes = Writes::new(&self.state);
        writes.register_tenant(tenant)?;
        let mut logs = sled::Batch::default();
        let mut has_logs = false;
        // Targets this batch newly stores: no reference may still wait for them at the end.
        let mut claimed: Vec<Vec<u8>> = Vec::new();
        for op in &batch.ops {
            match op {
                Op::PutShard {
                    shard,
                    source,
                    dedupe_key,
                    expect,
                } => {
                    check_tenant(tenant, &shard.tenant_id, "shard")?;
                    self.check_put(tenant, shard, source.as_ref(), dedupe_key.as_ref(), expect)?;
                    if let Some(source) = source {
                        claimed.extend(self.claimed_target(tenant, shard, source)?);
                    }
                    writes.put_shard(tenant, shard, source.as_ref(), dedupe_key.as_ref())?
                }
                Op::DeleteShard {
                    shard,
                    source,
                    dedupe_key,
                    expect_version,
                } => {
                    check_tenant(tenant, &shard.tenant_id, "shard")?;
                    self.check_version(tenant, &shard.id, *expect_version)?;
                    writes.delete_shard(tenant, shard, source.as_ref(), dedupe_key.as_ref())?
                }
                Op::Mark {
                    integration,
                    external_type,
                    shard_id,
                    mark,
                } => {
                    let k = key(&[
                        tenant.as_bytes(),
                        MARK,
                        integration.as_bytes(),
                        external_type.as_bytes(),
                        shard_id.as_bytes(),
                    ]);
                    writes.put_json(k, mark)?;
                }
                Op::PutPending(pending) => {
                    check_tenant(tenant, &pending.tenant_id, "pending reference")?;
                    self.check_pending_target(tenant, pending)?;
                    writes.put_json(pending_key(tenant, pending), pending)?;
                }
                Op::RemovePending(pending) => {
                    check_tenant(tenant, &pending.tenant_id, "pending reference")?;
                    writes.remove(pending_key(tenant, pending));
                }
                Op::UpdateTask { task_id, update } => {
                    // Read (through this batch's own writes), change the named fields,
                    // write: under the lock, so no other commit changes it in between.
                    let k = key(&[tenant.as_bytes(), TASK, task_id.as_bytes()]);
                    let mut state: TaskState = writes
                        .get_json(&k)?
                        .unwrap_or_else(|| TaskState::new(tenant, task_id));
                    state.apply(update);
                    writes.put_json(k, &state)?;
                }
                Op::PutExecution(execution) => writes.put_execution(tenant, execution)?,
                Op::PutDeadLetter(letter) => {
                    check_tenant(tenant, &letter.tenant_id, "dead letter")?;
                    let k = dead_letter_key(tenant, &letter.execution_id, letter.seq);
                    writes.put_json(k, letter)?;
                }
                Op::RemoveDeadLetter {
                    task_id: _,
                    execution_id,
                    seq,
                } => writes.remove(dead_letter_key(tenant, execution_id, *seq)),
                Op::MarkEvent {
                    task_id,
                    event_id,
                    at,
                } => writes.mark_event(tenant, task_id, event_id, *at)?,
                Op::PutAudit(entry) => {
                    let of = entry.tenant_id.as_deref().unwrap_or("");
                    check_tenant(tenant, of, "audit entry")?;
                    platform::put_audit(&mut writes, entry)?;
                }
                Op::PutLog(log) => {
                    // sled's ids only grow, across restarts too: log lines keep their
                    // order within an execution whatever their timestamps say.
                    let n = self.db.generate_id().map_err(backend)?;
                    let k = key(&[
                        tenant.as_bytes(),
                        log.sync_execution_id.as_bytes(),
                        &n.to_be_bytes(),
                    ]);
                    logs.insert(k, encode(log)?);
                    has_logs = true;
                }
            }
        }
        for prefix in &claimed {
            if writes.any_under(prefix)? {
                return Err(StoreError::Conflict(Conflict {
                    key: keys::display(prefix),
                    message: "references wait for a shard this batch stores, and the batch does not resolve them (they were stored after its writer looked)".into(),
                }));
            }
        }
        // The atomic part: every state write of the batch, or none of them.
        self.state
            .apply_batch(writes.into_batch())
            .map_err(backend)?;
        if has_logs {
            self.logs.apply_batch(logs).map_err(backend)?;
        }
        // Durable before returning: the engine moves its checkpoint on once this is Ok.
        self.db.flush().map_err(backend)?;
        Ok(())
    }

    fn shard(&self, tenant: &str, id: &str) -> Result<Option<Shard>> {
        self.get_json(&key(&[tenant.as_bytes(), SHARD, id.as_bytes()]))
    }

    fn shard_by_source(
        &self,
        tenant: &str,
        integration: &str,
        external_type: &str,
        external_id: &str,
    ) -> Result<Option<Shard>> {
        let k = key(&[
            tenant.as_bytes(),
            EXT,
            integration.as_bytes(),
            external_type.as_bytes(),
            external_id.as_bytes(),
        ]);
        self.shard_at(tenant, &k)
    }

    fn shard_fingerprint(
        &self,
        tenant: &str,
        integration: &str,
        external_type: &str,
        external_id: &str,
    ) -> Result<Option<crate::store::Fingerprint>> {
        let k = key(&[
            tenant.as_bytes(),
            EXT,
            integration.as_bytes(),
            external_type.as_bytes(),
            external_id.as_bytes(),
        ]);
        let Some(entry) = self.get_json::<IndexEntry>(&k)? else {
            return Ok(None);
        };
        if let Some((version, content)) = entry.fingerprint {
            return Ok(Some(crate::store::Fingerprint {
                shard_id: entry.id,
                version,
                content,
            }));
        }
        // Written before the fingerprint moved into the entry: from the old meta key,
        // or from the shard itself.
        let id = entry.id;
        let meta_key = key(&[tenant.as_bytes(), META, id.as_bytes()]);
        let meta: Option<ShardMeta> = self.get_json(&meta_key)?;
        let known = meta.and_then(|m| {
            let content = hex::decode(m.content?).ok()?.try_into().ok()?;
            Some((m.version?, content))
        });
        match known {
            Some((version, content)) => Ok(Some(crate::store::Fingerprint {
                shard_id: id,
                version,
                content,
            })),
            None => Ok(self
                .shard_by_id_from(tenant, &id, &k)
                .map(|s| crate::store::Fingerprint {
                    content: crate::store::content_hash(&s.structured_data),
                    version: s.version,
                    shard_id: s.id,
                })
                .map(Some)?),
        }
    }

    fn shard_by_type(
        &self,
        tenant: &str,
        integration: &str,
        shard_type: &str,
        external_id: &str,
    ) -> Result<Option<Shard>> {
        let k = key(&[
            tenant.as_bytes(),
            REF,
            integration.as_bytes(),
            shard_type.as_bytes(),
            external_id.as_bytes(),
        ]);
        self.shard_at(tenant, &k)
    }

    fn shard_by_dedupe_key(
        &self,
        tenant: &str,
        shard_type: &str,
        dedupe: &str,
    ) -> Result<Option<Shard>> {
        let k = key(&[
            tenant.as_bytes(),
            DEDUPE,
            shard_type.as_bytes(),
            dedupe.as_bytes(),
        ]);
        self.shard_at(tenant, &k)
    }

    fn shards(
        &self,
        tenant: &str,
        shard_type: Option<&str>,
    ) -> Box<dyn Iterator<Item = Result<Shard>> + '_> {
        match shard_type {
            // Shard keys sort by id, so a scan of the tenant's shards is in id order.
            None => Box::new(
                self.state
                    .scan_prefix(key(&[tenant.as_bytes(), SHARD]))
                    .map(|item| {
                        let (k, v) = item.map_err(backend)?;
                        decode(&k, &v)
                    }),
            ),
            Some(shard_type) => {
                let tenant = tenant.to_owned();
                Box::new(
                    self.state
                        .scan_prefix(key(&[tenant.as_bytes(), BY_TYPE, shard_type.as_bytes()]))
                        .map(move |item| {
                            let (k, v) = item.map_err(backend)?;
                            let entry: IndexEntry = decode(&k, &v)?;
                            self.shard_by_id_from(&tenant, &entry.id, &k)
                        }),
                )
            }
        }
    }

    fn tenants(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for tenant in self.registered_tenants()? {
            let has_shards = self
                .state
                .scan_prefix(key(&[tenant.as_bytes(), SHARD]))
                .next()
                .transpose()
                .map_err(backend)?
                .is_some();
            if has_shards {
                out.push(tenant);
            }
        }
        Ok(out)
    }

    fn unmarked(
        &self,
        tenant: &str,
        integration: &str,
        external_type: &str,
        mark: &str,
    ) -> Result<Vec<(Shard, SourceKey)>> {
        let prefix = key(&[
            tenant.as_bytes(),
            EXT,
            integration.as_bytes(),
            external_type.as_bytes(),
        ]);
        let mut out = Vec::new();
        for item in self.state.scan_prefix(prefix) {
            let (k, v) = item.map_err(backend)?;
            let shard_id = decode::<IndexEntry>(&k, &v)?.id;
            let external_id = keys::last_text(&k).ok_or_else(|| StoreError::Corrupt {
                key: keys::display(&k),
                message: "not an external id index key".into(),
            })?;
            let mark_key = key(&[
                tenant.as_bytes(),
                MARK,
                integration.as_bytes(),
                external_type.as_bytes(),
                shard_id.as_bytes(),
            ]);
            let current: Option<String> = self.get_json(&mark_key)?;
            if current.as_deref() == Some(mark) {
                continue;
            }
            let shard = self.shard_by_id_from(tenant, &shard_id, &k)?;
            let source = SourceKey {
                integration: integration.to_owned(),
                external_type: external_type.to_owned(),
                shard_type: shard.shard_type_id.clone(),
                external_id,
            };
            out.push((shard, source));
        }
        Ok(out)
    }

    fn count_by_source(&self, tenant: &str, integration: &str, external_type: &str) -> Result<u64> {
        let prefix = key(&[
            tenant.as_bytes(),
            EXT,
            integration.as_bytes(),
            external_type.as_bytes(),
        ]);
        let mut n = 0;
        for item in self.state.scan_prefix(prefix) {
            item.map_err(backend)?;
            n += 1;
        }
        Ok(n)
    }

    fn pending_for(
        &self,
        tenant: &str,
        integration: &str,
        shard_type: &str,
        external_id: &str,
    ) -> Result<Vec<PendingReference>> {
        let prefix = key(&[
            tenant.as_bytes(),
            PENDING,
            integration.as_bytes(),
            shard_type.as_bytes(),
            external_id.as_bytes(),
        ]);
        self.scan(&self.state, &prefix)
    }

    fn pending_any(&self, tenant: &str, integration: &str, shard_type: &str) -> Result<bool> {
        let prefix = key(&[
            tenant.as_bytes(),
            PENDING,
            integration.as_bytes(),
            shard_type.as_bytes(),
        ]);
        match self.state.scan_prefix(prefix).next() {
            Some(item) => item.map(|_| true).map_err(backend),
            None => Ok(false),
        }
    }

    fn task_state(&self, tenant: &str, task_id: &str) -> Result<Option<TaskState>> {
        self.get_json(&key(&[tenant.as_bytes(), TASK, task_id.as_bytes()]))
    }

    fn execution(&self, tenant: &str, id: &str) -> Result<Option<SyncExecution>> {
        self.get_json(&key(&[tenant.as_bytes(), EXEC, id.as_bytes()]))
    }

    fn executions(
        &self,
        tenant: &str,
        task_id: Option<&str>,
        page: &PageRequest<ExecutionCursor>,
    ) -> Result<Page<SyncExecution, ExecutionCursor>> {
        let t = tenant.as_bytes();
        let prefix = match task_id {
            Some(task) => key(&[t, EXEC_BY_TASK, task.as_bytes()]),
            None => key(&[t, EXEC_BY_TIME]),
        };
        // Newest first: backwards from the end of the index, or from just before the
        // cursor's key (the index keys end in STARTED/EXECUTION_ID, as the cursor does).
        let entries = match &page.after {
            None => self.state.scan_prefix(&prefix),
            Some(c) => {
                let started = keys::sortable_micros(c.started_micros);
                let mut upper = prefix.clone();
                upper.extend(key(&[&started, c.id.as_bytes()]));
                self.state.range(prefix.clone()..upper)
            }
        };
        let limit = page.limit.get();
        let mut items = Vec::with_capacity(limit);
        let mut more = false;
        for item in entries.rev() {
            let (k, v) = item.map_err(backend)?;
            if items.len() == limit {
                // One key past the page: there is a next one.
                more = true;
                break;
            }
            let id: String = decode(&k, &v)?;
            items.push(self.execution_from(tenant, &id, &k)?);
        }
        let next = if more {
            items.last().map(ExecutionCursor::at)
        } else {
            None
        };
        Ok(Page { items, next })
    }

    fn running_executions(&self) -> Result<Vec<SyncExecution>> {
        let mut out = Vec::new();
        for tenant in self.registered_tenants()? {
            let prefix = key(&[tenant.as_bytes(), RUNNING]);
            let mut running = self.executions_at(&tenant, &prefix)?;
            // executions_at lists newest id first; ids have no time order, so keep
            // the tenant's running executions in id order.
            running.reverse();
            out.extend(running);
        }
        Ok(out)
    }

    fn logs(
        &self,
        tenant: &str,
        execution_id: &str,
        page: &PageRequest<LogCursor>,
    ) -> Result<Page<SyncLog, LogCursor>> {
        let prefix = key(&[tenant.as_bytes(), execution_id.as_bytes()]);
        let after = page.after.map(|c| c.seq);
        let (items, next) = self.seq_page(&self.logs, &prefix, after, page.limit.get())?;
        Ok(Page {
            items,
            next: next.map(|seq| LogCursor { seq }),
        })
    }

    fn event_seen(&self, tenant: &str, task_id: &str, event_id: &str) -> Result<bool> {
        let k = key(&[
            tenant.as_bytes(),
            EVENT,
            task_id.as_bytes(),
            event_id.as_bytes(),
        ]);
        self.state.contains_key(k).map_err(backend)
    }

    fn dead_letters(
        &self,
        tenant: &str,
        execution_id: &str,
        page: &PageRequest<DeadLetterCursor>,
    ) -> Result<Page<DeadLetter, DeadLetterCursor>> {
        let prefix = key(&[tenant.as_bytes(), DEAD, execution_id.as_bytes()]);
        let after = page.after.map(|c| c.seq);
        let (items, next) = self.seq_page(&self.state, &prefix, after, page.limit.get())?;
        Ok(Page {
            items,
            next: next.map(|seq| DeadLetterCursor { seq }),
        })
    }

    fn prune(&self, request: &PruneRequest) -> Result<Pruned> {
        let _guard = self.lock();
        prune::Pass::new(self, request).run()
    }

    fn connection(&self, tenant: &str, id: &str) -> Result<Option<ConnectionRecord>> {
        if let Some(own) = self.get_json(&key(&[tenant.as_bytes(), CONN, id.as_bytes()]))? {
            return Ok(Some(own));
        }
        self.get_json(&key(&[SYSTEM, CONN, id.as_bytes()]))
    }

    fn connections(&self) -> Result<Vec<ConnectionRecord>> {
        let mut out: Vec<ConnectionRecord> = self.scan(&self.state, &key(&[SYSTEM, CONN]))?;
        for tenant in self.registered_tenants()? {
            out.extend(
                self.scan::<ConnectionRecord>(&self.state, &key(&[tenant.as_bytes(), CONN]))?,
            );
        }
        Ok(out)
    }

    fn put_connection(&self, record: &ConnectionRecord) -> Result<()> {
        let _guard = self.lock();
        let mut writes = Writes::new(&self.state);
        let k = match record.scope {
            ConnectionScope::System => key(&[SYSTEM, CONN, record.id.as_bytes()]),
            ConnectionScope::Tenant => {
                let tenant = record.tenant_id.as_deref().ok_or_else(|| {
                    StoreError::Invalid(format!(
                        "connection `{}` has tenant scope but no tenantId",
                        record.id
                    ))
                })?;
                check_tenant_name(tenant)?;
                writes.register_tenant(tenant)?;
                key(&[tenant.as_bytes(), CONN, record.id.as_bytes()])
            }
        };
        writes.put_json(k, record)?;
        self.state
            .apply_batch(writes.into_batch())
            .map_err(backend)?;
        self.db.flush().map_err(backend)?;
        Ok(())
    }

    fn add_tenant(&self, tenant: &crate::store::Tenant) -> Result<()> {
        identity::add_tenant(self, tenant)
    }

    fn tenant_record(&self, id: &str) -> Result<Option<crate::store::Tenant>> {
        identity::tenant_record(self, id)
    }

    fn tenant_records(&self) -> Result<Vec<crate::store::Tenant>> {
        identity::tenant_records(self)
    }

    fn add_user(
        &self,
        user: &crate::store::User,
        first_token: &crate::store::ApiToken,
    ) -> Result<()> {
        identity::add_user(self, user, first_token)
    }

    fn user(&self, tenant: Option<&str>, id: &str) -> Result<Option<crate::store::User>> {
        identity::user(self, tenant, id)
    }

    fn user_by_email(&self, email: &str) -> Result<Option<crate::store::User>> {
        identity::user_by_email(self, email)
    }

    fn users(&self) -> Result<Vec<crate::store::User>> {
        identity::users(self)
    }

    fn add_api_token(&self, token: &crate::store::ApiToken) -> Result<()> {
        identity::add_api_token(self, token)
    }

    fn api_token(&self, id: &str) -> Result<Option<crate::store::ApiToken>> {
        identity::api_token(self, id)
    }

    fn revoke_api_token(
        &self,
        id: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<crate::store::Revocation> {
        identity::revoke_api_token(self, id, at)
    }

    fn touch_api_token(
        &self,
        id: &str,
        at: chrono::DateTime<chrono::Utc>,
        if_before: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool> {
        identity::touch_api_token(self, id, at, if_before)
    }

    // Platform records (`platform.rs`).
    fn create_tenant_integration(
        &self,
        record: &crate::store::TenantIntegration,
        audit: Option<&crate::store::AuditEntry>,
    ) -> Result<crate::store::TenantIntegration> {
        platform::create_tenant_integration(self, record, audit)
    }

    fn tenant_integration(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<crate::store::TenantIntegration>> {
        platform::tenant_integration(self, tenant, id)
    }

    fn tenant_integrations(
        &self,
        tenant: &str,
        page: &PageRequest<crate::store::TenantIntegrationCursor>,
    ) -> Result<Page<crate::store::TenantIntegration, crate::store::TenantIntegrationCursor>> {
        platform::tenant_integrations(self, tenant, page)
    }

    fn update_tenant_integration(
        &self,
        record: &crate::store::TenantIntegration,
        expected_version: u64,
        audit: Option<&crate::store::AuditEntry>,
    ) -> Result<crate::store::TenantIntegration> {
        platform::update_tenant_integration(self, record, expected_version, audit)
    }

    fn delete_tenant_integration(
        &self,
        tenant: &str,
        id: &str,
        expected_version: Option<u64>,
        audit: Option<&crate::store::AuditEntry>,
    ) -> Result<()> {
        platform::delete_tenant_integration(self, tenant, id, expected_version, audit)
    }

    fn create_pipeline_document(
        &self,
        doc: &crate::store::PipelineDocument,
        audit: Option<&crate::store::AuditEntry>,
    ) -> Result<crate::store::PipelineDocument> {
        platform::create_pipeline_document(self, doc, audit)
    }

    fn pipeline_document(
        &self,
        tenant: &str,
        kind: crate::store::DocumentKind,
        id: &str,
    ) -> Result<Option<crate::store::PipelineDocument>> {
        platform::pipeline_document(self, tenant, kind, id)
    }

    fn pipeline_documents(
        &self,
        tenant: &str,
        filter: &crate::store::DocumentFilter,
        page: &PageRequest<crate::store::DocumentCursor>,
    ) -> Result<Page<crate::store::PipelineDocument, crate::store::DocumentCursor>> {
        platform::pipeline_documents(self, tenant, filter, page)
    }

    fn replace_pipeline_document(
        &self,
        doc: &crate::store::PipelineDocument,
        expected_version: u64,
        audit: Option<&crate::store::AuditEntry>,
    ) -> Result<crate::store::PipelineDocument> {
        platform::replace_pipeline_document(self, doc, expected_version, audit)
    }

    fn delete_pipeline_document(
        &self,
        tenant: &str,
        kind: crate::store::DocumentKind,
        id: &str,
        expected_version: u64,
        audit: Option<&crate::store::AuditEntry>,
    ) -> Result<()> {
        platform::delete_pipeline_document(self, tenant, kind, id, expected_version, audit)
    }

    fn all_pipeline_documents(&self) -> Result<Vec<crate::store::PipelineDocument>> {
        platform::all_pipeline_documents(self)
    }

    fn append_audit(&self, entry: &crate::store::AuditEntry) -> Result<()> {
        platform::append_audit(self, entry)
    }

    fn audit_entries(
        &self,
        filter: &crate::store::AuditFilter,
        page: &PageRequest<crate::store::AuditCursor>,
    ) -> Result<Page<crate::store::AuditEntry, crate::store::AuditCursor>> {
        platform::audit_entries(self, filter, page)
    }

    fn prune_audit(
        &self,
        retention: &crate::store::AuditRetention,
        now: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> Result<u64> {
        platform::prune_audit(self, retention, now, limit)
    }

    fn put_oauth_state(
        &self,
        hash: &str,
        state: &crate::store::OAuthState,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<usize> {
        oauth_state::put_oauth_state(self, hash, state, now)
    }

    fn take_oauth_state(&self, hash: &str) -> Result<Option<crate::store::OAuthState>> {
        oauth_state::take_oauth_state(self, hash)
    }

    fn delete_connection(&self, tenant: &str, id: &str) -> Result<bool> {
        oauth_state::delete_connection(self, tenant, id)
    }

    // Integration catalogue
    fn put_integration_def(
        &self,
        id: &str,
        entry: &crate::store::IntegrationDefEntry,
    ) -> Result<crate::store::IntegrationDefRecord> {
        integration_defs::put(self, id, entry)
    }

    fn integration_def(&self, id: &str) -> Result<Option<crate::store::IntegrationDefRecord>> {
        integration_defs::get(self, id)
    }

    fn delete_integration_def(&self, id: &str) -> Result<bool> {
        integration_defs::delete(self, id)
    }

    fn integration_defs(&self) -> Result<Vec<crate::store::IntegrationDefRecord>> {
        integration_defs::list(self)
    }
}

/// What a shard owns in the indexes, so that replacing or deleting it can remove
/// exactly its own entries: the `_index` member of its stored value (`values.rs`).
/// Shards written before it moved there have it under `T/meta/SHARD_ID`, where it also
/// kept the shard's version and content fingerprint (now in the `ext` entry).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ShardMeta {
    shard_type: String,
    sources: Vec<StoredSource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dedupe_key: Option<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<u64>,
    /// Hex of [`crate::store::content_hash`] of the shard's `structuredData`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredSource {
    integration: String,
    external_type: String,
    shard_type: String,
    external_id: String,
}

impl From<&SourceKey> for StoredSource {
    fn from(s: &SourceKey) -> StoredSource {
        StoredSource {
            integration: s.integration.clone(),
            external_type: s.external_type.clone(),
            shard_type: s.shard_type.clone(),
            external_id: s.external_id.clone(),
        }
    }
}

impl StoredSource {
    fn ext_key(&self, tenant: &str) -> Vec<u8> {
        key(&[
            tenant.as_bytes(),
            EXT,
            self.integration.as_bytes(),
            self.external_type.as_bytes(),
            self.external_id.as_bytes(),
        ])
    }
    fn ref_key(&self, tenant: &str) -> Vec<u8> {
        key(&[
            tenant.as_bytes(),
            REF,
            self.integration.as_bytes(),
            self.shard_type.as_bytes(),
            self.external_id.as_bytes(),
        ])
    }
    fn mark_key(&self, tenant: &str, shard_id: &str) -> Vec<u8> {
        key(&[
            tenant.as_bytes(),
            MARK,
            self.integration.as_bytes(),
            self.external_type.as_bytes(),
            shard_id.as_bytes(),
        ])
    }
    fn same_slot(&self, other: &StoredSource) -> bool {
        self.integration == other.integration && self.external_type == other.external_type
    }
}

/// The writes of one commit, with reads that see them: an op may read what an earlier
/// op of the same batch wrote (a shard put then deleted, two shards swapping an id).
struct Writes<'a> {
    tree: &'a Tree,
    /// `None`: removed.
    pending: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<'a> Writes<'a> {
    fn new(tree: &'a Tree) -> Writes<'a> {
        Writes {
            tree,
            pending: BTreeMap::new(),
        }
    }

    fn get(&self, k: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.pending.get(k) {
            Some(v) => Ok(v.clone()),
            None => Ok(self.tree.get(k).map_err(backend)?.map(|v| v.to_vec())),
        }
    }

    fn get_json<T: DeserializeOwned>(&self, k: &[u8]) -> Result<Option<T>> {
        match self.get(k)? {
            Some(bytes) => decode(k, &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn put_json<T: Serialize + ?Sized>(&mut self, k: Vec<u8>, value: &T) -> Result<()> {
        let bytes = encode(value)?;
        self.pending.insert(k, Some(bytes));
        Ok(())
    }

    fn remove(&mut self, k: Vec<u8>) {
        self.pending.insert(k, None);
    }

    /// Whether any key under `prefix` exists once this batch is applied.
    fn any_under(&self, prefix: &[u8]) -> Result<bool> {
        let written = self
            .pending
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .any(|(_, v)| v.is_some());
        if written {
            return Ok(true);
        }
        for item in self.tree.scan_prefix(prefix) {
            let (k, _) = item.map_err(backend)?;
            if !matches!(self.pending.get(&*k), Some(None)) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Removes the index entry at `k` if it still points to `shard_id` (another shard
    /// may have taken it over since).
    fn remove_if_points_to(&mut self, k: Vec<u8>, shard_id: &str) -> Result<()> {
        if self.owner(&k)?.as_deref() == Some(shard_id) {
            self.remove(k);
        }
        Ok(())
    }

    fn into_batch(self) -> sled::Batch {
        let mut batch = sled::Batch::default();
        for (k, v) in self.pending {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        batch
    }

    fn register_tenant(&mut self, tenant: &str) -> Result<()> {
        let k = key(&[SYSTEM, TENANT, tenant.as_bytes()]);
        // Read first: rewriting the same key on every page would cost a write per commit.
        if self.get(&k)?.is_none() {
            self.put_json(k, &true)?;
        }
        Ok(())
    }

    /// The id the index entry at `k` names, as this batch leaves it.
    fn owner(&self, k: &[u8]) -> Result<Option<String>> {
        Ok(self.get_json::<IndexEntry>(k)?.map(|e| e.id))
    }

    /// Shard `id`'s meta as this batch leaves it (`values.rs`): from the shard's
    /// `_index`, or from the meta key of a shard written before it moved there (then
    /// `true`); `None` when the shard is not stored.
    fn meta_of(&self, tenant: &str, id: &str) -> Result<Option<(ShardMeta, bool)>> {
        let shard_key = key(&[tenant.as_bytes(), SHARD, id.as_bytes()]);
        let Some(stored) = self.get_json::<IndexOf>(&shard_key)? else {
            return Ok(None);
        };
        if let Some(meta) = stored.index {
            return Ok(Some((meta, false)));
        }
        let meta_key = key(&[tenant.as_bytes(), META, id.as_bytes()]);
        let meta = self.get_json::<ShardMeta>(&meta_key)?.unwrap_or(ShardMeta {
            shard_type: stored.shard_type,
            ..ShardMeta::default()
        });
        Ok(Some((meta, true)))
    }

    /// Writes `shard` with `meta` as its `_index`, dropping the old meta key of a shard
    /// written before the meta moved into it.
    fn put_stored_shard(
        &mut self,
        tenant: &str,
        shard: &Shard,
        meta: &ShardMeta,
        legacy: bool,
    ) -> Result<()> {
        let id = shard.id.as_bytes();
        if legacy {
            self.remove(key(&[tenant.as_bytes(), META, id]));
        }
        let stored = StoredShard { shard, index: meta };
        self.put_json(key(&[tenant.as_bytes(), SHARD, id]), &stored)
    }

    /// Changes another shard's meta (it lost an index entry to the shard being put):
    /// rewrites that shard with the new `_index`.
    fn update_meta(
        &mut self,
        tenant: &str,
        shard_id: &str,
        change: impl FnOnce(&mut ShardMeta) -> bool,
    ) -> Result<()> {
        let Some((mut meta, legacy)) = self.meta_of(tenant, shard_id)? else {
            return Ok(());
        };
        if !change(&mut meta) {
            return Ok(());
        }
        let shard_key = key(&[tenant.as_bytes(), SHARD, shard_id.as_bytes()]);
        let Some(shard) = self.get_json::<Shard>(&shard_key)? else {
            return Ok(());
        };
        self.put_stored_shard(tenant, &shard, &meta, legacy)
    }

    /// Writes a shard with its index entries: `shard` (with its meta), `type`, and for a
    /// source `ext` (with the fingerprint) and `ref`, and a `dedupe` entry when it has a
    /// key; the entries it owned before and no longer does are removed, and a shard
    /// that owned an entry it takes over loses it.
    fn put_shard(
        &mut self,
        tenant: &str,
        shard: &Shard,
        source: Option<&SourceKey>,
        dedupe_key: Option<&(String, String)>,
    ) -> Result<()> {
        check_tenant(tenant, &shard.tenant_id, "shard")?;
        let id = shard.id.as_str();
        let t = tenant.as_bytes();
        let (mut meta, legacy) = self.meta_of(tenant, id)?.unwrap_or_default();
        if !meta.shard_type.is_empty() && meta.shard_type != shard.shard_type_id {
            self.remove(key(&[
                t,
                BY_TYPE,
                meta.shard_type.as_bytes(),
                id.as_bytes(),
            ]));
        }
        meta.shard_type.clone_from(&shard.shard_type_id);
        // The fingerprint lives in the `ext` entry now.
        meta.version = None;
        meta.content = None;
        self.put_json(
            key(&[t, BY_TYPE, shard.shard_type_id.as_bytes(), id.as_bytes()]),
            id,
        )?;

        if let Some(source) = source {
            let source = StoredSource::from(source);
            let ref_key = source.ref_key(tenant);
            for index_key in [&source.ext_key(tenant), &ref_key] {
                // The external id moves here from another shard: that one loses it.
                if let Some(previous) = self.owner(index_key)? {
                    if previous != id {
                        self.detach_source(tenant, &previous, &source)?;
                    }
                }
            }
            self.put_json(ref_key, id)?;
            if !meta.sources.contains(&source) {
                meta.sources.push(source);
            }
        }
        // Every external id of the shard leads to its fingerprint, which changes with
        // any write (one by another source, or by none, included).
        if !meta.sources.is_empty() {
            let content = hex::encode(crate::store::content_hash(&shard.structured_data));
            let entry = ExtEntry {
                id,
                version: shard.version,
                content,
            };
            for stored in &meta.sources {
                let ext_key = stored.ext_key(tenant);
                // The source written now takes its entry; the shard's other entries are
                // its own by the meta, checked all the same.
                let given = source.is_some_and(|s| StoredSource::from(s) == *stored);
                if given || self.owner(&ext_key)?.as_deref() == Some(id) {
                    self.put_json(ext_key, &entry)?;
                }
            }
        }

        if let Some(new) = dedupe_key {
            if meta.dedupe_key.as_ref() != Some(new) {
                // The shard's key changed (its email, say): the old entry goes.
                if let Some((old_type, old_key)) = meta.dedupe_key.take() {
                    let old = key(&[t, DEDUPE, old_type.as_bytes(), old_key.as_bytes()]);
                    self.remove_if_points_to(old, id)?;
                }
                let k = key(&[t, DEDUPE, new.0.as_bytes(), new.1.as_bytes()]);
                if let Some(previous) = self.owner(&k)? {
                    if previous != id {
                        self.detach_dedupe(tenant, &previous)?;
                    }
                }
                self.put_json(k, id)?;
                meta.dedupe_key = Some(new.clone());
            }
        }
        self.put_stored_shard(tenant, shard, &meta, legacy)
    }

    /// Shard `shard_id` no longer owns `source` (another shard took its external id).
    fn detach_source(&mut self, tenant: &str, shard_id: &str, source: &StoredSource) -> Result<()> {
        let mut lost_slot = false;
        self.update_meta(tenant, shard_id, |meta| {
            let before = meta.sources.len();
            meta.sources.retain(|s| s != source);
            let changed = meta.sources.len() != before;
            lost_slot = changed && !meta.sources.iter().any(|s| s.same_slot(source));
            changed
        })?;
        // Its sweep mark for that source goes too, unless another id of the same source
        // still leads to it.
        if lost_slot {
            self.remove(source.mark_key(tenant, shard_id));
        }
        Ok(())
    }

    /// Shard `shard_id` no longer owns its dedupe key (another shard took it).
    fn detach_dedupe(&mut self, tenant: &str, shard_id: &str) -> Result<()> {
        self.update_meta(tenant, shard_id, |meta| meta.dedupe_key.take().is_some())
    }

    fn delete_shard(
        &mut self,
        tenant: &str,
        shard: &Shard,
        source: Option<&SourceKey>,
        dedupe_key: Option<&(String, String)>,
    ) -> Result<()> {
        check_tenant(tenant, &shard.tenant_id, "shard")?;
        let id = shard.id.as_str();
        let t = tenant.as_bytes();
        let (meta, legacy) = self.meta_of(tenant, id)?.unwrap_or_default();

        let mut sources = meta.sources;
        if let Some(source) = source.map(StoredSource::from) {
            if !sources.contains(&source) {
                sources.push(source);
            }
        }
        for source in &sources {
            self.remove_if_points_to(source.ext_key(tenant), id)?;
            self.remove_if_points_to(source.ref_key(tenant), id)?;
            self.remove(source.mark_key(tenant, id));
        }
        for (shard_type, dedupe) in meta.dedupe_key.iter().chain(dedupe_key) {
            let k = key(&[t, DEDUPE, shard_type.as_bytes(), dedupe.as_bytes()]);
            self.remove_if_points_to(k, id)?;
        }
        for shard_type in [meta.shard_type.as_str(), shard.shard_type_id.as_str()] {
            self.remove(key(&[t, BY_TYPE, shard_type.as_bytes(), id.as_bytes()]));
        }
        self.remove(key(&[t, SHARD, id.as_bytes()]));
        if legacy {
            self.remove(key(&[t, META, id.as_bytes()]));
        }
        Ok(())
    }

    /// Records a webhook event id with the time it was stored, indexed by that time for
    /// pruning; a mark again (never done by the engine, which checks first) moves it.
    fn mark_event(
        &mut self,
        tenant: &str,
        task_id: &str,
        event_id: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        let t = tenant.as_bytes();
        let (task, event) = (task_id.as_bytes(), event_id.as_bytes());
        let k = key(&[t, EVENT, task, event]);
        if let Some(old) = self.get_json::<chrono::DateTime<chrono::Utc>>(&k)? {
            self.remove(event_time_key(t, task, event, old));
        }
        self.put_json(event_time_key(t, task, event, at), &true)?;
        self.put_json(k, &at)
    }

    fn put_execution(&mut self, tenant: &str, execution: &SyncExecution) -> Result<()> {
        check_tenant(tenant, &execution.tenant_id, "execution")?;
        let t = tenant.as_bytes();
        let id = execution.id.as_bytes();
        let exec_key = key(&[t, EXEC, id]);
        let new_index = execution_index_keys(t, execution);
        // An update that changes the start time or task must not leave the old entries.
        if let Some(old) = self.get_json::<SyncExecution>(&exec_key)? {
            for old_key in execution_index_keys(t, &old) {
                if !new_index.contains(&old_key) {
                    self.remove(old_key);
                }
            }
        }
        for k in new_index {
            self.put_json(k, &execution.id)?;
        }
        let running_key = key(&[t, RUNNING, id]);
        if execution.status == ExecutionStatus::Running {
            self.put_json(running_key, &execution.id)?;
        } else {
            self.remove(running_key);
        }
        self.put_json(exec_key, execution)
    }
}

fn pending_key(tenant: &str, p: &PendingReference) -> Vec<u8> {
    key(&[
        tenant.as_bytes(),
        PENDING,
        p.integration_id.as_bytes(),
        p.shard_type_id.as_bytes(),
        p.external_id.as_bytes(),
        p.source_shard_id.as_bytes(),
        p.target_field.as_bytes(),
    ])
}

/// An execution's `exec-by-task` and `exec-by-time` entries.
fn execution_index_keys(tenant: &[u8], e: &SyncExecution) -> [Vec<u8>; 2] {
    let started = keys::sortable_micros(e.started_at.timestamp_micros());
    let id = e.id.as_bytes();
    [
        key(&[
            tenant,
            EXEC_BY_TASK,
            e.sync_task_id.as_bytes(),
            &started,
            id,
        ]),
        key(&[tenant, EXEC_BY_TIME, &started, id]),
    ]
}

/// `T/event-by-time/STORED/TASK_ID/EVENT_ID`.
fn event_time_key(
    tenant: &[u8],
    task: &[u8],
    event: &[u8],
    at: chrono::DateTime<chrono::Utc>,
) -> Vec<u8> {
    let stored = keys::sortable_micros(at.timestamp_micros());
    key(&[tenant, EVENT_BY_TIME, &stored, task, event])
}

fn dead_letter_key(tenant: &str, execution_id: &str, seq: u64) -> Vec<u8> {
    key(&[
        tenant.as_bytes(),
        DEAD,
        execution_id.as_bytes(),
        &seq.to_be_bytes(),
    ])
}

fn check_tenant_name(tenant: &str) -> Result<()> {
    if tenant.is_empty() {
        return Err(StoreError::Invalid(
            "the tenant is empty (file-based pipelines use `default`)".into(),
        ));
    }
    Ok(())
}

/// A record must carry its batch's tenant: one tenant's batch never writes another's.
fn check_tenant(batch: &str, record: &str, what: &str) -> Result<()> {
    if batch != record {
        return Err(StoreError::Invalid(format!(
            "a {what} of tenant `{record}` in a batch of tenant `{batch}`"
        )));
    }
    Ok(())
}

fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value)
        .map_err(|e| StoreError::Backend(format!("cannot encode a record: {e}")))
}

fn decode<T: DeserializeOwned>(k: &[u8], bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        key: keys::display(k),
        message: e.to_string(),
    })
}

fn backend(e: sled::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn open_error(dir: &Path, e: sled::Error) -> StoreError {
    // sled reports a held lock as an I/O error "could not acquire lock on ..."; it is
    // the one failure people meet often (a `cmap serve` still running), so say so.
    if let sled::Error::Io(io) = &e {
        if io.to_string().contains("could not acquire lock") {
            return StoreError::Backend(format!(
                "another cmap process is using {} (stop it, or pass another --data directory)",
                dir.display()
            ));
        }
    }
    StoreError::Backend(format!("cannot open the store in {}: {e}", dir.display()))
}
