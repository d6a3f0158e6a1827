//! The store: every piece of state cmap keeps (shards and their indexes, task state,
//! executions, logs, dead letters, pending references, connections, tenants, users,
//! API tokens, tenant integrations, pipeline documents and the audit log), behind one
//! interface. [`SledStore`] keeps it embedded in one data directory; another engine
//! (PostgreSQL, for several replicas) can sit behind the same [`Store`] trait.
//!
//! Writes go through a [`Batch`] that [`Store::commit`] applies atomically and durably:
//! the engine puts a page's shards, index entries, pending references and checkpoint in
//! one batch, so a crash leaves either all of a page or none of it.
//!
//! # Concurrent writers
//!
//! Several writers may decide about the same entity at once: a scheduled pull and
//! webhook deliveries, two tasks of one schema, two integrations meeting on one dedupe
//! key. Each decides create / update / skip from what it read, so the store checks, at
//! commit, that what it read still holds (optimistic concurrency):
//!
//! - every [`Op::PutShard`] and [`Op::DeleteShard`] carries what its writer read (the
//!   shard's version, or that there was none; which shard owned its external id and its
//!   dedupe key: [`Expect`]);
//! - a pending reference is stored only while its target is not
//!   ([`Op::PutPending`]), and a shard that newly takes an external id must leave no
//!   reference waiting for it unresolved;
//! - task state changes field by field ([`Op::UpdateTask`]), never by writing back a
//!   whole state read earlier.
//!
//! [`Store::commit`] checks them all under its write lock before applying anything. On a
//! mismatch it returns [`StoreError::Conflict`] and applies nothing: the writer reads
//! again and decides again (the engine re-applies the page, a bounded number of times).
//! Writers that touch different shards never conflict, and no lock is held while a
//! writer maps records. The same contract is one SQL transaction in a PostgreSQL store:
//! `UPDATE shards ... WHERE id = $1 AND version = $2` (0 rows: conflict), unique
//! indexes on `(tenant, integration, external_type, external_id)` and
//! `(tenant, shard_type, dedupe_key)` for creates, `SELECT ... FOR UPDATE` of the
//! index rows an update re-points, and task updates as `UPDATE ... SET` of the named
//! columns.
//!
//! Every key starts with the tenant: nothing reads or writes across tenants.
//!
//! # Bounded state
//!
//! Lists read one page at a time ([`page`]): a limit and a key-based cursor, so a page
//! costs O(limit) whatever the store holds. Executions, logs, dead letters and webhook
//! event ids are pruned by [`Store::prune`] ([`retention`]), a bounded number per call.

pub mod api_token;
pub mod audit;
pub mod crypto;
pub mod fingerprint;
pub mod identity;
pub mod integration_def;
pub mod oauth_state;
pub mod page;
pub mod pipeline_doc;
mod private;
pub mod records;
pub mod retention;
mod sled_store;
pub mod tenant_integration;

use chrono::{DateTime, Utc};

pub use fingerprint::{content_hash, Fingerprint};
pub use identity::{ApiToken, Revocation, Role, Tenant, User, DEFAULT_TENANT};
pub use integration_def::{IntegrationDefEntry, IntegrationDefRecord};
pub use oauth_state::OAuthState;
pub use page::{
    Cursor, DeadLetterCursor, ExecutionCursor, Limit, LogCursor, Page, PageError, PageRequest,
};
pub use records::*;
pub use retention::{PruneCursor, PruneRequest, Pruned, Retention};
pub use sled_store::{SledOptions, SledStore, DEFAULT_CACHE_BYTES};
// Platform records: tenant integrations, pipeline documents, the audit log.
pub use audit::{AuditCursor, AuditEntry, AuditFilter, AuditRetention, AuditScope};
pub use pipeline_doc::{DocumentCursor, DocumentFilter, DocumentKind, PipelineDocument};
pub use tenant_integration::{IntegrationStatus, TenantIntegration, TenantIntegrationCursor};

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
    /// What a writer read changed before its batch committed (another writer got there
    /// first). Nothing of the batch was applied: read again, decide again, commit again.
    #[error("write conflict: {0}")]
    Conflict(Conflict),
    /// A record that must be unique exists already (a tenant id, a user's e-mail, a
    /// token id). Nothing was written. Holds what exists: "tenant `acme`".
    #[error("{0} exists already")]
    Exists(String),
    /// A write names a record that does not exist (a user's tenant, a token's user).
    /// Nothing was written. Holds what is missing: "tenant `acme`".
    #[error("{0} does not exist")]
    NotFound(String),
    // Platform records (tenant integrations, pipeline documents).
    /// A compare-and-set write read an older version than the stored one (HTTP 412: the
    /// client's `If-Match` is stale). Nothing was written: read it again.
    #[error("{what} is at version {found}, not {expected}: read it again")]
    Stale {
        /// "tenant integration `salesforce`".
        what: String,
        expected: u64,
        found: u64,
    },
    /// A record others name cannot be removed (a tenant integration whose schemas or
    /// tasks remain). Nothing was written. Holds what and by whom.
    #[error("{0}")]
    InUse(String),
}

/// Which precondition of a batch no longer held ([`StoreError::Conflict`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct Conflict {
    /// The stored key the writer read (`acme/ext/salesforce/Contact/003A`).
    pub key: String,
    /// What the writer read and what is there now.
    pub message: String,
}

/// What the writer of an [`Op::PutShard`] read before deciding it. The store applies the
/// op only while all of it still holds; the checks are against the state committed
/// before the batch (ops of one batch do not see each other's expectations).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expect {
    /// The stored version of the shard; `None`: there was no shard with its id (the op
    /// creates it).
    pub version: Option<u64>,
    /// The shard the op's `source` (integration, external type, external id) named;
    /// `None`: none. Checked when the op has a source.
    pub source_owner: Option<String>,
    /// The shard the op's dedupe key named; `None`: none. Checked when the op has a
    /// dedupe key.
    pub dedupe_owner: Option<String>,
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
    /// Refused with a conflict unless the store still holds what `expect` says. A
    /// source newly indexed here must leave no [`PendingReference`] waiting for it
    /// (the batch resolves them), else the batch conflicts too.
    PutShard {
        shard: Shard,
        source: Option<SourceKey>,
        dedupe_key: Option<(String, String)>,
        expect: Expect,
    },
    /// Removes a shard and every index entry and sweep mark pointing at it. Refused
    /// with a conflict unless the stored shard is at `expect_version` (`None`: there is
    /// no stored shard, as when the same batch creates it first).
    DeleteShard {
        shard: Shard,
        source: Option<SourceKey>,
        dedupe_key: Option<(String, String)>,
        expect_version: Option<u64>,
    },
    /// Records that a full sync of `(integration, external_type)` saw this shard.
    Mark {
        integration: String,
        external_type: String,
        shard_id: String,
        mark: String,
    },
    /// Keeps a reference waiting for its target. Refused with a conflict when the
    /// target is stored already (the writer looked before another writer stored it).
    PutPending(PendingReference),
    RemovePending(PendingReference),
    /// Changes the named fields of a task's state, applied to the stored state under
    /// the commit lock (creating it when absent).
    UpdateTask {
        task_id: String,
        update: TaskUpdate,
    },
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
    /// Appends an audit entry ([`audit`]) of the batch's tenant, so that a change and
    /// its entry commit together. The store keeps its retention count with it.
    PutAudit(AuditEntry),
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
    /// Ops whose records carry a `tenantId` must carry `batch.tenant`. When a
    /// precondition of an op no longer holds (see the module docs), returns
    /// [`StoreError::Conflict`] and applies nothing. Blocks on the disk: async callers
    /// run it on a blocking thread.
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
    /// The id, version and content fingerprint of the shard [`Store::shard_by_source`]
    /// finds, when the store can tell them without reading the shard; `None` when no
    /// shard is there, or when the store does not know the fingerprint (then the caller
    /// reads the shard). What makes an unchanged re-run cheap.
    ///
    /// The default reads the shard; a store that keeps fingerprints beside its index
    /// entries answers from those.
    fn shard_fingerprint(
        &self,
        tenant: &str,
        integration: &str,
        external_type: &str,
        external_id: &str,
    ) -> Result<Option<Fingerprint>> {
        Ok(self
            .shard_by_source(tenant, integration, external_type, external_id)?
            .map(|s| Fingerprint {
                content: content_hash(&s.structured_data),
                version: s.version,
                shard_id: s.id,
            }))
    }
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
    /// Whether any reference waits for a shard of `shard_type` that `integration`
    /// syncs: when none does, a page need not ask [`Store::pending_for`] record by
    /// record. The default says yes (always ask).
    fn pending_any(&self, tenant: &str, integration: &str, shard_type: &str) -> Result<bool> {
        let _ = (tenant, integration, shard_type);
        Ok(true)
    }

    fn task_state(&self, tenant: &str, task_id: &str) -> Result<Option<TaskState>>;
    fn execution(&self, tenant: &str, id: &str) -> Result<Option<SyncExecution>>;
    /// One page of the tenant's executions (of one task when given), newest first: by
    /// start time, then id, both descending. Reads O(limit) records, whatever the store
    /// holds; the cursor is the position of the last one returned, so executions that
    /// start between two pages never shift the second.
    fn executions(
        &self,
        tenant: &str,
        task_id: Option<&str>,
        page: &PageRequest<ExecutionCursor>,
    ) -> Result<Page<SyncExecution, ExecutionCursor>>;
    /// Executions of every tenant still marked running (after a crash: interrupted).
    /// At most one per task and webhook delivery in flight, so not paged.
    fn running_executions(&self) -> Result<Vec<SyncExecution>>;
    /// One page of an execution's log, in the order the lines were stored. Reads
    /// O(limit) lines.
    fn logs(
        &self,
        tenant: &str,
        execution_id: &str,
        page: &PageRequest<LogCursor>,
    ) -> Result<Page<SyncLog, LogCursor>>;
    /// Whether a webhook delivery with this event id was stored for the task
    /// ([`Op::MarkEvent`]) and its id not yet pruned ([`Retention::event_id_hours`]).
    fn event_seen(&self, tenant: &str, task_id: &str, event_id: &str) -> Result<bool>;
    /// One page of an execution's dead letters, by `seq`. Reads O(limit) records.
    fn dead_letters(
        &self,
        tenant: &str,
        execution_id: &str,
        page: &PageRequest<DeadLetterCursor>,
    ) -> Result<Page<DeadLetter, DeadLetterCursor>>;
    /// One bounded step of a pruning pass (see [`retention`]): removes at most
    /// `request.limit` expired records, of every tenant, each with all its index entries
    /// (an execution with its logs), under the commit lock, and says where the pass goes
    /// on. Never removes a running execution, one a task's checkpoint resumes (or its
    /// `retryOf` chain), nor one that still holds dead letters. Blocks on the disk.
    fn prune(&self, request: &PruneRequest) -> Result<Pruned>;

    /// A connection: the tenant's own, else a system-scope one with that id.
    fn connection(&self, tenant: &str, id: &str) -> Result<Option<ConnectionRecord>>;
    fn connections(&self) -> Result<Vec<ConnectionRecord>>;
    /// Inserts or replaces a connection record (durably).
    fn put_connection(&self, record: &ConnectionRecord) -> Result<()>;

    // Identity (spec: "Access Control & Visibility"; [`identity`]). Each write is one
    // atomic, durable step, a SQL transaction in a PostgreSQL store: unique keys on
    // `tenants.id`, `users.email` and `api_tokens.id`, foreign keys from users to
    // tenants and from tokens to users, and conditional `UPDATE`s for revocation and
    // last use.

    /// Adds a tenant ([`identity::valid_tenant_id`]); [`StoreError::Exists`] when the id
    /// is taken (`default` always is).
    fn add_tenant(&self, tenant: &Tenant) -> Result<()>;
    fn tenant_record(&self, id: &str) -> Result<Option<Tenant>>;
    /// Every tenant, in id order.
    fn tenant_records(&self) -> Result<Vec<Tenant>>;
    /// Adds a user with their first API token, both or neither.
    /// [`StoreError::Exists`] when the e-mail (or the token id) is taken,
    /// [`StoreError::NotFound`] when the user's tenant is not stored,
    /// [`StoreError::Invalid`] when role and tenant do not go together
    /// ([`User::check_tenant`]) or the token is not the user's.
    fn add_user(&self, user: &User, first_token: &ApiToken) -> Result<()>;
    /// User `id` of `tenant` (`None`: a super admin).
    fn user(&self, tenant: Option<&str>, id: &str) -> Result<Option<User>>;
    /// The user with this (normalised) e-mail, in any tenant.
    fn user_by_email(&self, email: &str) -> Result<Option<User>>;
    /// Every user: super admins, then each tenant's in tenant order; by id within.
    fn users(&self) -> Result<Vec<User>>;
    /// Adds an API token. [`StoreError::NotFound`] when its user is not stored (under its
    /// `tenantId`), [`StoreError::Exists`] when its id is taken.
    fn add_api_token(&self, token: &ApiToken) -> Result<()>;
    fn api_token(&self, id: &str) -> Result<Option<ApiToken>>;
    /// Sets the token's `revokedAt` to `at` unless it is revoked already (then the first
    /// revocation stands).
    fn revoke_api_token(&self, id: &str, at: DateTime<Utc>) -> Result<Revocation>;
    /// Sets the token's `lastUsedAt` to `at` when it has none or one before `if_before`,
    /// changing no other field; whether it wrote. The condition is checked under the
    /// write lock, so a burst of requests writes once ([`api_token::authenticate`]).
    fn touch_api_token(
        &self,
        id: &str,
        at: DateTime<Utc>,
        if_before: DateTime<Utc>,
    ) -> Result<bool>;

    // Platform records (issue 9): tenant integrations ([`tenant_integration`]), pipeline
    // documents ([`pipeline_doc`]) and the audit log ([`audit`]). Each write is one
    // atomic, durable step, with the audit entry given (its tenant must be the
    // record's): in a PostgreSQL store one transaction of `INSERT` (a unique key on
    // `(tenant, id)`: [`StoreError::Exists`]), `UPDATE ... WHERE version = $v` (0 rows:
    // [`StoreError::Stale`] or [`StoreError::NotFound`]), or `DELETE`, plus the audit
    // `INSERT`. Reads and writes name the tenant: another tenant's record is not found.

    /// Stores a new tenant integration at version 1 and returns it as stored.
    /// [`StoreError::Exists`] when the tenant has it already, [`StoreError::NotFound`]
    /// when the tenant is not stored, [`StoreError::Invalid`] when
    /// [`TenantIntegration::check`] fails.
    fn create_tenant_integration(
        &self,
        record: &TenantIntegration,
        audit: Option<&AuditEntry>,
    ) -> Result<TenantIntegration>;
    fn tenant_integration(&self, tenant: &str, id: &str) -> Result<Option<TenantIntegration>>;
    /// One page of the tenant's integrations, in id order; O(limit) reads.
    fn tenant_integrations(
        &self,
        tenant: &str,
        page: &PageRequest<TenantIntegrationCursor>,
    ) -> Result<Page<TenantIntegration, TenantIntegrationCursor>>;
    /// Replaces the record of `record.tenant_id` / `record.id` when it is stored at
    /// `expected_version`; returns it at the next version (its `createdAt` kept).
    /// [`StoreError::Stale`] when it is at another, [`StoreError::NotFound`] when absent.
    fn update_tenant_integration(
        &self,
        record: &TenantIntegration,
        expected_version: u64,
        audit: Option<&AuditEntry>,
    ) -> Result<TenantIntegration>;
    /// Removes it, when at `expected_version` (`None`: any). [`StoreError::InUse`] while
    /// pipeline documents name it, [`StoreError::Stale`], [`StoreError::NotFound`].
    fn delete_tenant_integration(
        &self,
        tenant: &str,
        id: &str,
        expected_version: Option<u64>,
        audit: Option<&AuditEntry>,
    ) -> Result<()>;

    /// Stores a new document at version 1 and returns it as stored.
    /// [`StoreError::Exists`] when the tenant has one of its kind and id,
    /// [`StoreError::NotFound`] when its tenant integration is not stored,
    /// [`StoreError::Invalid`] when [`PipelineDocument::check`] fails.
    fn create_pipeline_document(
        &self,
        doc: &PipelineDocument,
        audit: Option<&AuditEntry>,
    ) -> Result<PipelineDocument>;
    fn pipeline_document(
        &self,
        tenant: &str,
        kind: DocumentKind,
        id: &str,
    ) -> Result<Option<PipelineDocument>>;
    /// One page of the tenant's documents (of one tenant integration, of one kind), by
    /// kind then id; O(limit) reads.
    fn pipeline_documents(
        &self,
        tenant: &str,
        filter: &DocumentFilter,
        page: &PageRequest<DocumentCursor>,
    ) -> Result<Page<PipelineDocument, DocumentCursor>>;
    /// Replaces the text of a stored document at `expected_version`; returns it at the
    /// next version (`createdBy`/`createdAt` kept). [`StoreError::Stale`],
    /// [`StoreError::NotFound`]; [`StoreError::Invalid`] when it would move to another
    /// tenant integration.
    fn replace_pipeline_document(
        &self,
        doc: &PipelineDocument,
        expected_version: u64,
        audit: Option<&AuditEntry>,
    ) -> Result<PipelineDocument>;
    /// Removes a document at `expected_version`. [`StoreError::Stale`],
    /// [`StoreError::NotFound`].
    fn delete_pipeline_document(
        &self,
        tenant: &str,
        kind: DocumentKind,
        id: &str,
        expected_version: u64,
        audit: Option<&AuditEntry>,
    ) -> Result<()>;
    /// Every tenant's documents, by tenant, kind and id: what the loader compiles.
    fn all_pipeline_documents(&self) -> Result<Vec<PipelineDocument>>;

    /// Appends an entry on its own (in a batch: [`Op::PutAudit`]).
    /// [`StoreError::Invalid`] when [`AuditEntry::check`] fails.
    fn append_audit(&self, entry: &AuditEntry) -> Result<()>;
    /// One page of the log, newest first (by time, then id). A page reads at most its
    /// limit of matching entries, or a bounded number of entries the filter skips: it
    /// may then hold fewer than `limit` with a next cursor (the position reached).
    fn audit_entries(
        &self,
        filter: &AuditFilter,
        page: &PageRequest<AuditCursor>,
    ) -> Result<Page<AuditEntry, AuditCursor>>;
    /// One bounded step of pruning the log by `retention` ([`audit`]): removes at most
    /// `limit` entries, oldest first in each scope; how many. A pass calls it until it
    /// removes fewer than `limit`. Blocks on the disk.
    fn prune_audit(
        &self,
        retention: &AuditRetention,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64>;

    // OAuth connect state (spec: "OAuth Flow"; [`oauth_state`]). Global keys: a
    // provider's callback names no tenant before the state is read. In a PostgreSQL
    // store: a table keyed by the hash, `DELETE ... RETURNING` to take, an index on
    // `expires_at` to prune.

    /// Stores a pending connect flow under `hash` (the SHA-256 of its `state`, 64
    /// lower-case hex digits) and removes at most [`oauth_state::PRUNE_PER_PUT`] states
    /// that expired before `now`, in one atomic, durable write; how many it removed.
    /// [`StoreError::Exists`] when `hash` is taken, [`StoreError::Invalid`] when it is no
    /// such hash.
    fn put_oauth_state(&self, hash: &str, state: &OAuthState, now: DateTime<Utc>) -> Result<usize>;
    /// Removes and returns the state stored under `hash`, atomically: of two concurrent
    /// takes of one hash, one gets the state and the other `None`. Expired states are
    /// returned too (the caller refuses them: they are gone either way).
    fn take_oauth_state(&self, hash: &str) -> Result<Option<OAuthState>>;
    /// Removes the connection record (with its encrypted secrets) that `tenant` owns
    /// under `id` (the empty tenant: a system-scope one); whether there was one. Never
    /// removes a system-scope connection when a tenant is named.
    fn delete_connection(&self, tenant: &str, id: &str) -> Result<bool>;

    // Integration catalogue (issue 9; [`integration_def`]): the super admin's entries
    // layered over the stdlib's definitions, global (not per tenant), each write one
    // atomic, durable step.

    /// Stores `entry` under `id`, replacing what was there; its version is the previous
    /// one plus 1 (1 for a new id). [`StoreError::Invalid`] for an empty id.
    fn put_integration_def(
        &self,
        id: &str,
        entry: &IntegrationDefEntry,
    ) -> Result<IntegrationDefRecord>;
    fn integration_def(&self, id: &str) -> Result<Option<IntegrationDefRecord>>;
    /// Removes the entry; whether there was one.
    fn delete_integration_def(&self, id: &str) -> Result<bool>;
    /// Every entry, in id order.
    fn integration_defs(&self) -> Result<Vec<IntegrationDefRecord>>;
}

/// The identity and platform methods of [`Store`] (tenants, users, API tokens, tenant
/// integrations, pipeline documents, the audit log, OAuth connect states, connection
/// removal, integration definitions), each forwarded to the
/// field `$inner`: for wrappers of a store that observe or break other operations
/// (test doubles) and have nothing to add to these.
///
/// Used inside an `impl Store for Wrapper` block: `cmap::forward_identity_methods!(inner);`.
#[doc(hidden)]
#[macro_export]
macro_rules! forward_identity_methods {
    ($inner:ident) => {
        fn add_tenant(&self, t: &$crate::store::Tenant) -> $crate::store::Result<()> {
            self.$inner.add_tenant(t)
        }
        fn tenant_record(&self, id: &str) -> $crate::store::Result<Option<$crate::store::Tenant>> {
            self.$inner.tenant_record(id)
        }
        fn tenant_records(&self) -> $crate::store::Result<Vec<$crate::store::Tenant>> {
            self.$inner.tenant_records()
        }
        fn add_user(
            &self,
            u: &$crate::store::User,
            token: &$crate::store::ApiToken,
        ) -> $crate::store::Result<()> {
            self.$inner.add_user(u, token)
        }
        fn user(
            &self,
            t: Option<&str>,
            id: &str,
        ) -> $crate::store::Result<Option<$crate::store::User>> {
            self.$inner.user(t, id)
        }
        fn user_by_email(&self, email: &str) -> $crate::store::Result<Option<$crate::store::User>> {
            self.$inner.user_by_email(email)
        }
        fn users(&self) -> $crate::store::Result<Vec<$crate::store::User>> {
            self.$inner.users()
        }
        fn add_api_token(&self, token: &$crate::store::ApiToken) -> $crate::store::Result<()> {
            self.$inner.add_api_token(token)
        }
        fn api_token(&self, id: &str) -> $crate::store::Result<Option<$crate::store::ApiToken>> {
            self.$inner.api_token(id)
        }
        fn revoke_api_token(
            &self,
            id: &str,
            at: chrono::DateTime<chrono::Utc>,
        ) -> $crate::store::Result<$crate::store::Revocation> {
            self.$inner.revoke_api_token(id, at)
        }
        fn touch_api_token(
            &self,
            id: &str,
            at: chrono::DateTime<chrono::Utc>,
            if_before: chrono::DateTime<chrono::Utc>,
        ) -> $crate::store::Result<bool> {
            self.$inner.touch_api_token(id, at, if_before)
        }
        // Platform records: tenant integrations, pipeline documents, the audit log.
        fn create_tenant_integration(
            &self,
            r: &$crate::store::TenantIntegration,
            a: Option<&$crate::store::AuditEntry>,
        ) -> $crate::store::Result<$crate::store::TenantIntegration> {
            self.$inner.create_tenant_integration(r, a)
        }
        fn tenant_integration(
            &self,
            t: &str,
            id: &str,
        ) -> $crate::store::Result<Option<$crate::store::TenantIntegration>> {
            self.$inner.tenant_integration(t, id)
        }
        fn tenant_integrations(
            &self,
            t: &str,
            p: &$crate::store::PageRequest<$crate::store::TenantIntegrationCursor>,
        ) -> $crate::store::Result<
            $crate::store::Page<
                $crate::store::TenantIntegration,
                $crate::store::TenantIntegrationCursor,
            >,
        > {
            self.$inner.tenant_integrations(t, p)
        }
        fn update_tenant_integration(
            &self,
            r: &$crate::store::TenantIntegration,
            v: u64,
            a: Option<&$crate::store::AuditEntry>,
        ) -> $crate::store::Result<$crate::store::TenantIntegration> {
            self.$inner.update_tenant_integration(r, v, a)
        }
        fn delete_tenant_integration(
            &self,
            t: &str,
            id: &str,
            v: Option<u64>,
            a: Option<&$crate::store::AuditEntry>,
        ) -> $crate::store::Result<()> {
            self.$inner.delete_tenant_integration(t, id, v, a)
        }
        fn create_pipeline_document(
            &self,
            d: &$crate::store::PipelineDocument,
            a: Option<&$crate::store::AuditEntry>,
        ) -> $crate::store::Result<$crate::store::PipelineDocument> {
            self.$inner.create_pipeline_document(d, a)
        }
        fn pipeline_document(
            &self,
            t: &str,
            k: $crate::store::DocumentKind,
            id: &str,
        ) -> $crate::store::Result<Option<$crate::store::PipelineDocument>> {
            self.$inner.pipeline_document(t, k, id)
        }
        fn pipeline_documents(
            &self,
            t: &str,
            f: &$crate::store::DocumentFilter,
            p: &$crate::store::PageRequest<$crate::store::DocumentCursor>,
        ) -> $crate::store::Result<
            $crate::store::Page<$crate::store::PipelineDocument, $crate::store::DocumentCursor>,
        > {
            self.$inner.pipeline_documents(t, f, p)
        }
        fn replace_pipeline_document(
            &self,
            d: &$crate::store::PipelineDocument,
            v: u64,
            a: Option<&$crate::store::AuditEntry>,
        ) -> $crate::store::Result<$crate::store::PipelineDocument> {
            self.$inner.replace_pipeline_document(d, v, a)
        }
        fn delete_pipeline_document(
            &self,
            t: &str,
            k: $crate::store::DocumentKind,
            id: &str,
            v: u64,
            a: Option<&$crate::store::AuditEntry>,
        ) -> $crate::store::Result<()> {
            self.$inner.delete_pipeline_document(t, k, id, v, a)
        }
        fn all_pipeline_documents(
            &self,
        ) -> $crate::store::Result<Vec<$crate::store::PipelineDocument>> {
            self.$inner.all_pipeline_documents()
        }
        fn append_audit(&self, e: &$crate::store::AuditEntry) -> $crate::store::Result<()> {
            self.$inner.append_audit(e)
        }
        fn audit_entries(
            &self,
            f: &$crate::store::AuditFilter,
            p: &$crate::store::PageRequest<$crate::store::AuditCursor>,
        ) -> $crate::store::Result<
            $crate::store::Page<$crate::store::AuditEntry, $crate::store::AuditCursor>,
        > {
            self.$inner.audit_entries(f, p)
        }
        fn prune_audit(
            &self,
            r: &$crate::store::AuditRetention,
            now: chrono::DateTime<chrono::Utc>,
            limit: usize,
        ) -> $crate::store::Result<u64> {
            self.$inner.prune_audit(r, now, limit)
        }
        fn put_oauth_state(
            &self,
            hash: &str,
            state: &$crate::store::OAuthState,
            now: chrono::DateTime<chrono::Utc>,
        ) -> $crate::store::Result<usize> {
            self.$inner.put_oauth_state(hash, state, now)
        }
        fn take_oauth_state(
            &self,
            hash: &str,
        ) -> $crate::store::Result<Option<$crate::store::OAuthState>> {
            self.$inner.take_oauth_state(hash)
        }
        fn delete_connection(&self, tenant: &str, id: &str) -> $crate::store::Result<bool> {
            self.$inner.delete_connection(tenant, id)
        }
        // Integration catalogue
        fn put_integration_def(
            &self,
            id: &str,
            entry: &$crate::store::IntegrationDefEntry,
        ) -> $crate::store::Result<$crate::store::IntegrationDefRecord> {
            self.$inner.put_integration_def(id, entry)
        }
        fn integration_def(
            &self,
            id: &str,
        ) -> $crate::store::Result<Option<$crate::store::IntegrationDefRecord>> {
            self.$inner.integration_def(id)
        }
        fn delete_integration_def(&self, id: &str) -> $crate::store::Result<bool> {
            self.$inner.delete_integration_def(id)
        }
        fn integration_defs(
            &self,
        ) -> $crate::store::Result<Vec<$crate::store::IntegrationDefRecord>> {
            self.$inner.integration_defs()
        }
    };
}
