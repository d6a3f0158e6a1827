//! The records the store keeps, shaped as the spec's TypeScript interfaces (camelCase
//! JSON), plus the engine's own bookkeeping. Every record carries its `tenantId`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A stored shard (spec: Shard, with `externalRelationships`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Shard {
    pub id: String,
    pub tenant_id: String,
    pub shard_type_id: String,
    pub structured_data: Map<String, Value>,
    pub external_relationships: Vec<ExternalRelationship>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Starts at 1; +1 on every change.
    pub version: u64,
}

/// Spec: ExternalRelationship.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalRelationship {
    pub integration_id: String,
    pub external_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_type: Option<String>,
    pub last_synced_at: DateTime<Utc>,
    pub sync_status: ExternalSyncStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExternalSyncStatus {
    Synced,
    Pending,
    Error,
}

/// A relationship whose target has not arrived yet: when a shard of `shard_type_id`
/// arrives under `external_id` from `integration_id`, the source shard's `target_field`
/// gets its id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingReference {
    pub tenant_id: String,
    pub source_shard_id: String,
    pub target_field: String,
    pub relationship_type: String,
    pub integration_id: String,
    pub shard_type_id: String,
    pub external_id: String,
}

/// The engine's state of one task: the spec's SyncTask run fields and stats, the
/// watermark of the last completed run, the checkpoint of a run in progress, and the
/// control fields the API sets (`paused`).
///
/// Nobody writes it whole: every change is a [`TaskUpdate`] that the store applies to
/// the stored record under its commit lock ([`crate::store::Op::UpdateTask`]), so an
/// execution's checkpoint, a webhook delivery's stats and a pause never overwrite one
/// another.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskState {
    pub tenant_id: String,
    pub task_id: String,
    /// The newest modification a completed run saw (connector-specific JSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watermark: Option<Value>,
    /// The cursor after the last committed page of an unfinished run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Checkpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run_status: Option<ExecutionStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_run_at: Option<DateTime<Utc>>,
    pub stats: TaskStats,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<LastError>,
    /// Paused through the API: not scheduled, webhooks refused, until resumed. Survives
    /// restarts. A control field: only [`TaskUpdate::paused`] changes it, never an
    /// execution.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
    /// A quota of the source is used up (Salesforce `REQUEST_LIMIT_EXCEEDED`, HubSpot's
    /// daily limit): no run starts before this time, when the quota is expected back; the
    /// next run resumes from the checkpoint. A control field: only
    /// [`TaskUpdate::paused_until`] changes it, never an execution's run state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_until: Option<DateTime<Utc>>,
}

/// Field-level changes to a task's [`TaskState`]: each `Some` field is applied to the
/// stored record (or a new one) under the store's commit lock; every other field keeps
/// its stored value. Writers never read a whole state and write it back, so none of
/// them can undo another's change made in between.
///
/// The fields come in two groups that never meet in one writer: run state (written by
/// executions: checkpoint, watermark, finished runs) and control (written by the API
/// and the scheduler: `paused`, `paused_until`). A SQL store applies the same update as one
/// `UPDATE ... SET` of the named columns, the stats as increments.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskUpdate {
    /// Run state: the checkpoint of the run in progress; `Some(None)` clears it (the
    /// run completed).
    pub checkpoint: Option<Option<Checkpoint>>,
    /// Run state: the watermark a completed read reached.
    pub watermark: Option<Value>,
    /// Run state: an execution ended; its counts are added to the stats.
    pub finished: Option<FinishedRun>,
    /// Control: pause (`true`) or resume (`false`).
    pub paused: Option<bool>,
    /// Control: a used-up quota pauses the task until this time; `Some(None)` lifts it.
    pub paused_until: Option<Option<DateTime<Utc>>>,
}

/// An execution that ended, as [`TaskUpdate::finished`] adds it to the task's stats.
#[derive(Clone, Debug, PartialEq)]
pub struct FinishedRun {
    pub started_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
    pub status: ExecutionStatus,
    pub results: ExecutionResults,
    /// Becomes the task's `lastError` when given.
    pub error: Option<LastError>,
}

impl TaskState {
    /// A task's state before anything was stored for it.
    pub fn new(tenant: &str, task_id: &str) -> TaskState {
        TaskState {
            tenant_id: tenant.to_string(),
            task_id: task_id.to_string(),
            ..TaskState::default()
        }
    }

    /// Applies `update` (what the store does under its commit lock).
    pub fn apply(&mut self, update: &TaskUpdate) {
        if let Some(checkpoint) = &update.checkpoint {
            self.checkpoint.clone_from(checkpoint);
        }
        if let Some(watermark) = &update.watermark {
            self.watermark = Some(watermark.clone());
        }
        if let Some(run) = &update.finished {
            let r = run.results;
            let stats = &mut self.stats;
            // Saturating: counts from a corrupt or hostile record must not wrap or panic.
            stats.total_runs = stats.total_runs.saturating_add(1);
            stats.records_processed = stats.records_processed.saturating_add(r.fetched);
            stats.records_created = stats.records_created.saturating_add(r.created);
            stats.records_updated = stats.records_updated.saturating_add(r.updated);
            stats.records_skipped = stats.records_skipped.saturating_add(r.skipped);
            stats.records_failed = stats.records_failed.saturating_add(r.failed);
            stats.records_deleted = stats.records_deleted.saturating_add(r.deleted);
            match run.status {
                ExecutionStatus::Success => {
                    stats.successful_runs = stats.successful_runs.saturating_add(1);
                    stats.last_success_at = Some(run.completed_at);
                }
                ExecutionStatus::Failed => {
                    stats.failed_runs = stats.failed_runs.saturating_add(1);
                    stats.last_failure_at = Some(run.completed_at);
                }
                _ => {}
            }
            self.last_run_at = Some(run.started_at);
            self.last_run_status = Some(run.status);
            if let Some(error) = &run.error {
                self.last_error = Some(error.clone());
            }
        }
        if let Some(paused) = update.paused {
            self.paused = paused;
        }
        if let Some(until) = update.paused_until {
            self.paused_until = until;
        }
    }
}

/// Where an unfinished run stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// The execution that wrote it.
    pub execution_id: String,
    /// The connector cursor to resume from.
    pub cursor: Value,
    /// A full sync marks every shard it sees with this; the sweep deletes the unmarked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep_mark: Option<String>,
    /// The watermark reached so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watermark: Option<Value>,
    /// Counts so far (carried into the resuming execution).
    pub results: ExecutionResults,
    /// When the full read that set `sweep_mark` began: the sweep keeps shards another
    /// writer (a webhook, another task) wrote since, which the read may have passed
    /// before they existed. Absent in checkpoints written before cmap kept it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep_started_at: Option<DateTime<Utc>>,
}

/// Spec: SyncTask.stats, plus `recordsDeleted` (cmap's addition, as in
/// [`ExecutionResults::deleted`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStats {
    pub total_runs: u64,
    pub successful_runs: u64,
    pub failed_runs: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_success_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure_at: Option<DateTime<Utc>>,
    pub records_processed: u64,
    pub records_created: u64,
    pub records_updated: u64,
    pub records_skipped: u64,
    pub records_failed: u64,
    /// Shards deleted (cmap's addition to the spec's stats).
    #[serde(default)]
    pub records_deleted: u64,
}

/// Spec: SyncTask.lastError.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastError {
    pub message: String,
    pub timestamp: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

/// Spec: SyncExecution (plus its tenant).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncExecution {
    pub id: String,
    pub tenant_id: String,
    pub sync_task_id: String,
    pub tenant_integration_id: String,
    pub started_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    pub triggered_by: TriggeredBy,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub triggered_by_user_id: Option<String>,
    pub status: ExecutionStatus,
    pub progress: Progress,
    pub results: ExecutionResults,
    pub errors: Vec<SyncError>,
    pub retry_count: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_of: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TriggeredBy {
    Schedule,
    Manual,
    Webhook,
    Retry,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    Running,
    Success,
    Partial,
    Failed,
    Cancelled,
}

impl ExecutionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "running",
            ExecutionStatus::Success => "success",
            ExecutionStatus::Partial => "partial",
            ExecutionStatus::Failed => "failed",
            ExecutionStatus::Cancelled => "cancelled",
        }
    }
}

/// Spec: SyncExecution.progress.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub phase: Phase,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_records: Option<u64>,
    pub processed_records: u64,
    pub percentage: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Fetching,
    Transforming,
    Saving,
    Complete,
}

/// Spec: SyncExecution.results, plus `deleted` (cmap's addition).
/// `fetched = created + updated + skipped + failed`: every record read is counted once.
/// `deleted` stands apart: it counts shards removed because the source reported their
/// record deleted or a full read no longer saw it, which are not records fetched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionResults {
    pub fetched: u64,
    pub created: u64,
    pub updated: u64,
    pub skipped: u64,
    pub failed: u64,
    /// Shards deleted. Executions stored before cmap counted deletions read as 0.
    #[serde(default)]
    pub deleted: u64,
}

impl ExecutionResults {
    /// Adds `other`'s counts to these (saturating).
    pub fn add(&mut self, other: &ExecutionResults) {
        self.fetched = self.fetched.saturating_add(other.fetched);
        self.created = self.created.saturating_add(other.created);
        self.updated = self.updated.saturating_add(other.updated);
        self.skipped = self.skipped.saturating_add(other.skipped);
        self.failed = self.failed.saturating_add(other.failed);
        self.deleted = self.deleted.saturating_add(other.deleted);
    }
}

/// Spec: SyncError.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncError {
    pub timestamp: DateTime<Utc>,
    pub phase: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    pub recoverable: bool,
}

/// Spec: SyncLog.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncLog {
    pub id: String,
    pub sync_execution_id: String,
    pub timestamp: DateTime<Utc>,
    pub level: LogLevel,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Map<String, Value>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// A record that failed to map, kept to be replayed after a fix.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub tenant_id: String,
    pub task_id: String,
    pub execution_id: String,
    /// Order within the execution.
    pub seq: u64,
    pub record: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
    pub created_at: DateTime<Utc>,
}

/// Spec: IntegrationConnection, as stored: secrets only inside `credentials`, encrypted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionRecord {
    pub id: String,
    pub integration_id: String,
    pub scope: ConnectionScope,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    pub auth_type: String,
    /// Every secret of the connection (API key, password, client secret, OAuth tokens)
    /// as one encrypted JSON object.
    pub credentials: EncryptedCredentials,
    /// OAuth metadata (no secrets: the tokens themselves are in `credentials`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth: Option<OAuthMeta>,
    pub status: ConnectionStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_validated_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionScope {
    System,
    Tenant,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    Active,
    Expired,
    Revoked,
    Error,
}

/// Spec: EncryptedCredentials.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptedCredentials {
    /// base64(nonce || ciphertext).
    pub encrypted_data: String,
    pub key_id: String,
    pub algorithm: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthMeta {
    pub token_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scope: Vec<String>,
    /// Salesforce: the org's API host, from the token response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_url: Option<String>,
}
