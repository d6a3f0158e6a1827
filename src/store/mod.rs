//! The store: every piece of state cmap keeps (shards and their indexes, task state,
//! executions, logs, dead letters, pending references, connections), behind one
//! interface. [`SledStore`] keeps it embedded in one data directory; another engine
//! (PostgreSQL, for several replicas) can sit behind the same [`Store`] trait.
//!
//! Writes go through a [`Batch`] that [`Store::commit`] applies atomically and durably:
//! the engine puts a page's shards, index entries, pending references and checkpoint in
//! one batch, so a crash leaves either all of a page or none of it.
//!
//! Every key starts with the tenant: nothing reads or writes across tenants.

pub mod crypto;
mod private;
pub mod records;
mod sled_store;

pub use records::*;
pub use sled_store::SledStore;

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The storage engine failed (disk full, I/O error, data directory locked).
    #[error("storage error: {0}")]
    Backend(String),
    /// A stored value cannot be read back.
    #[error("corrupt record `{key}`: {message}")]
    Corrupt { key: String, message: String },
    /// Encryption keys missing or wrong, or a ciphertext that does not authenticate.
    #[error("credentials error: {0}")]
    Crypto(String),
    /// A write the store refuses: an op whose record names another tenant than its
    /// batch, an empty tenant, a tenant-scope connection without a tenant.
    #[error("invalid write: {0}")]
    Invalid(String),
}

/// Where a shard came from: the index entries that find it again.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SourceKey {
    /// `salesforce`.
    pub integration: String,
    /// The source entity (`Contact`).
    pub external_type: String,
    /// The shard's type (`c_contact`), for relationships and lookups that know only it.
    pub shard_type: String,
    pub external_id: String,
}

/// One write of a [`Batch`].
// Shards dominate batches, so boxing them would only add an allocation per record.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Inserts or replaces a shard, and indexes it under `source` (by external id, and
    /// by shard type + external id) and `dedupe_key` (`(shard type, key)`) when given.
    PutShard {
        shard: Shard,
        source: Option<SourceKey>,
        dedupe_key: Option<(String, String)>,
    },
    /// Removes a shard and every index entry and sweep mark pointing at it.
    DeleteShard {
        shard: Shard,
        source: Option<SourceKey>,
        dedupe_key: Option<(String, String)>,
    },
    /// Records that a full sync of `(integration, external_type)` saw this shard.
    Mark {
        integration: String,
        external_type: String,
        shard_id: String,
        mark: String,
    },
    PutPending(PendingReference),
    RemovePending(PendingReference),
    PutTaskState(TaskState),
    PutExecution(SyncExecution),
    PutDeadLetter(DeadLetter),
    RemoveDeadLetter {
        task_id: String,
        execution_id: String,
        seq: u64,
    },
    PutLog(SyncLog),
    /// Records that a webhook delivery (`event_id`, from the sender) to `task_id` was
    /// stored, so a redelivery of it is recognised ([`Store::event_seen`]). Committed with
    /// the delivery's records: either both are stored or neither.
    MarkEvent {
        task_id: String,
        event_id: String,
        at: chrono::DateTime<chrono::Utc>,
    },
}

/// Writes for one tenant, applied together by [`Store::commit`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    pub tenant: String,
    pub ops: Vec<Op>,
}

impl Batch {
    pub fn new(tenant: impl Into<String>) -> Batch {
        Batch {
            tenant: tenant.into(),
            ops: Vec::new(),
        }
    }
    pub fn push(&mut self, op: Op) {
        self.ops.push(op);
    }
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// The state cmap keeps. Reads of one tenant never see another's records.
pub trait Store: Send + Sync {
    /// Applies every op of `batch` atomically and durably (flushed before returning).
    /// Ops whose records carry a `tenantId` must carry `batch.tenant`.
    fn commit(&self, batch: Batch) -> Result<()>;

    fn shard(&self, tenant: &str, id: &str) -> Result<Option<Shard>>;
    /// The shard `integration` synced from `external_type` under `external_id`.
    fn shard_by_source(
        &self,
        tenant: &str,
        integration: &str,
        external_type: &str,
        external_id: &str,
    ) -> Result<Option<Shard>>;
    /// The shard of `shard_type` that `integration` synced under `external_id` (any
    /// entity): what relationships and shard lookups resolve to.
    fn shard_by_type(
        &self,
        tenant: &str,
        integration: &str,
        shard_type: &str,
        external_id: &str,
    ) -> Result<Option<Shard>>;
    /// The shard of `shard_type` with this field_match / composite dedupe key.
    fn shard_by_dedupe_key(
        &self,
        tenant: &str,
        shard_type: &str,
        key: &str,
    ) -> Result<Option<Shard>>;
    /// Every shard of the tenant (of one type), in id order.
    fn shards(
        &self,
        tenant: &str,
        shard_type: Option<&str>,
    ) -> Box<dyn Iterator<Item = Result<Shard>> + '_>;
    /// The tenants that have shards, in order.
    fn tenants(&self) -> Result<Vec<String>>;
    /// Shards synced from `(integration, external_type)` whose sweep mark is not `mark`
    /// (never marked, or by an earlier full sync), with their source keys.
    fn unmarked(
        &self,
        tenant: &str,
        integration: &str,
        external_type: &str,
        mark: &str,
    ) -> Result<Vec<(Shard, SourceKey)>>;
    /// How many shards `(integration, external_type)` has synced.
    fn count_by_source(&self, tenant: &str, integration: &str, external_type: &str) -> Result<u64>;
    /// References waiting for the shard of `shard_type` that `integration` syncs under
    /// `external_id`.
    fn pending_for(
        &self,
        tenant: &str,
        integration: &str,
        shard_type: &str,
        external_id: &str,
    ) -> Result<Vec<PendingReference>>;

    fn task_state(&self, tenant: &str, task_id: &str) -> Result<Option<TaskState>>;
    fn execution(&self, tenant: &str, id: &str) -> Result<Option<SyncExecution>>;
    /// Newest first; of one task when given.
    fn executions(&self, tenant: &str, task_id: Option<&str>) -> Result<Vec<SyncExecution>>;
    /// Executions of every tenant still marked running (after a crash: interrupted).
    fn running_executions(&self) -> Result<Vec<SyncExecution>>;
    /// In order.
    fn logs(&self, tenant: &str, execution_id: &str) -> Result<Vec<SyncLog>>;
    /// Whether a webhook delivery with this event id was stored for the task
    /// ([`Op::MarkEvent`]).
    fn event_seen(&self, tenant: &str, task_id: &str, event_id: &str) -> Result<bool>;
    /// In order.
    fn dead_letters(&self, tenant: &str, execution_id: &str) -> Result<Vec<DeadLetter>>;

    /// A connection: the tenant's own, else a system-scope one with that id.
    fn connection(&self, tenant: &str, id: &str) -> Result<Option<ConnectionRecord>>;
    fn connections(&self) -> Result<Vec<ConnectionRecord>>;
    /// Inserts or replaces a connection record (durably).
    fn put_connection(&self, record: &ConnectionRecord) -> Result<()>;
}
