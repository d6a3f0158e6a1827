//! The sync engine: one execution of a task, page by page, crash-safely.
//!
//! ```text
//! connector.next_page(cursor) --retry--> page --apply_page--> Batch
//!     + checkpoint (the next cursor) + execution snapshot --commit (atomic)--> store
//! ```
//!
//! Every page commits its shards, index entries, pending references, dead letters and
//! the cursor after it in one atomic, flushed batch. A crash therefore loses at most the
//! page in flight, and the next run resumes from the last committed cursor: the
//! connector re-reads that page, and its records find their shards by external id, so
//! nothing is lost and nothing duplicated. An execution left `running` by a crash is
//! marked failed (interrupted) by [`Engine::recover_interrupted`] at the next start.
//!
//! The engine knows the store, connectors and the runtime; it knows nothing of the
//! command line or HTTP serving.

mod credentials;
mod ingest;
mod lookup;
mod oauth;
mod page;
mod replay;
mod retry;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};

use crate::compile::ir::{Connection, Schema, Task};
use crate::connectors::{self, ConnectorError, ReadRequest};
use crate::store::crypto::Keyring;
use crate::store::{
    Batch, Checkpoint, ExecutionResults, ExecutionStatus, LastError, LogLevel, Op, Phase, Progress,
    Store, StoreError, SyncError, SyncExecution, SyncLog, TaskState, TriggeredBy,
};

pub use credentials::{load_stored, owner_tenant as credentials_owner, resolve_auth, save_stored};
pub use ingest::{Delivery, Ingested, WEBHOOK_INTEGRATION};
pub use lookup::StoreLookup;
pub use page::{apply_page, PageContext, PageOutcome};

/// At most this many SyncErrors are kept on an execution (every failed record is also
/// a dead letter, so nothing is lost).
const MAX_EXECUTION_ERRORS: usize = 100;

/// The tenant of file-based pipelines.
pub const DEFAULT_TENANT: &str = "default";

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("task `{task}` has no connection for integration `{integration}`")]
    NoConnection {
        task: String,
        integration: String,
        candidates: Vec<String>,
    },
    #[error("there is no connector for integration `{0}`")]
    UnknownConnector(String),
    #[error("connection `{connection}`: {message}")]
    Credentials { connection: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("execution `{0}` not found")]
    NoExecution(String),
}

impl EngineError {
    /// How to fix it, for the command line.
    pub fn help(&self) -> Option<String> {
        match self {
            EngineError::NoConnection { integration, candidates, .. } if candidates.is_empty() => Some(format!(
                "declare one: `connection my-{integration} {{ integration {integration} auth ... }}`, and name it in the task with `connection my-{integration}`"
            )),
            EngineError::NoConnection { candidates, .. } => Some(format!("several match; name one in the task: {}", candidates.join(", "))),
            EngineError::UnknownConnector(_) => Some("connectors: salesforce, hubspot, google-news, rss, rest, files".into()),
            _ => None,
        }
    }
}

/// Engine settings.
#[derive(Clone, Debug)]
pub struct Options {
    /// Records per page asked of connectors.
    pub page_size: usize,
    /// A full sync refuses to delete more than this share of a source's shards at once.
    pub delete_guard: f64,
    pub http_timeout: Duration,
    /// Relative paths in connection settings resolve against this (the pipelines directory).
    pub base_dir: PathBuf,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            page_size: 500,
            delete_guard: 0.5,
            http_timeout: Duration::from_secs(60),
            base_dir: PathBuf::from("."),
        }
    }
}

/// Told about progress (the CLI draws a bar; serve will expose it).
pub trait Observer: Send + Sync {
    /// After every change of phase or count.
    fn progress(&self, execution: &SyncExecution) {
        let _ = execution;
    }
    /// After each committed page (1-based).
    fn page_committed(&self, execution: &SyncExecution, page: u64) {
        let _ = (execution, page);
    }
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {}

/// What to run.
pub struct RunRequest<'a> {
    pub task: &'a Task,
    /// Every connection of the pipeline (the task's own, or the one of its integration).
    pub connections: &'a [Arc<Connection>],
    /// Ignore the watermark: read everything (and sweep deletes when the schema says so).
    pub full: bool,
    pub triggered_by: TriggeredBy,
    pub retry_of: Option<String>,
}

struct Prepared {
    connection: Arc<Connection>,
    tenant: String,
    connector: Box<dyn connectors::Connector>,
    read: ReadRequest,
}

/// Runs executions against one store.
pub struct Engine {
    pub store: Arc<dyn Store>,
    /// Needed only by connections with `stored` credentials.
    pub keyring: Option<Arc<Keyring>>,
    pub options: Options,
}

impl Engine {
    /// Marks executions left `running` by a crash as failed (interrupted). Their task
    /// state keeps its checkpoint, so the next run resumes there.
    pub fn recover_interrupted(&self) -> Result<Vec<SyncExecution>, EngineError> {
        let mut recovered = Vec::new();
        for mut e in self.store.running_executions()? {
            let now = Utc::now();
            e.status = ExecutionStatus::Failed;
            e.completed_at = Some(now);
            e.duration_ms = Some((now - e.started_at).num_milliseconds().max(0) as u64);
            let message = "interrupted: the process stopped while this execution was running; the next run resumes from its last checkpoint";
            e.errors.push(SyncError {
                timestamp: now,
                phase: "interrupted".into(),
                record_id: None,
                external_id: None,
                error: message.into(),
                details: None,
                recoverable: true,
            });
            let mut batch = Batch::new(e.tenant_id.clone());
            batch.push(Op::PutLog(log(&e.id, LogLevel::Error, message, None)));
            batch.push(Op::PutExecution(e.clone()));
            self.store.commit(batch)?;
            recovered.push(e);
        }
        Ok(recovered)
    }

    /// The connection a task reads through.
    pub fn connection_for(
        &self,
        task: &Task,
        connections: &[Arc<Connection>],
    ) -> Result<Arc<Connection>, EngineError> {
        if let Some(c) = &task.connection {
            return Ok(c.clone());
        }
        let integration = task.schema.integration.clone().unwrap_or_default();
        let matching: Vec<&Arc<Connection>> = connections
            .iter()
            .filter(|c| c.integration == integration)
            .collect();
        match matching.as_slice() {
            [one] => Ok((*one).clone()),
            _ => Err(EngineError::NoConnection {
                task: task.id.clone(),
                integration,
                candidates: matching.iter().map(|c| c.id.clone()).collect(),
            }),
        }
    }

    /// Everything a read needs: the connection, its tenant, the connector, the request.
    fn prepare(
        &self,
        task: &Task,
        connections: &[Arc<Connection>],
        full: bool,
    ) -> Result<Prepared, EngineError> {
        let connection = self.connection_for(task, connections)?;
        let tenant = connection
            .tenant
            .clone()
            .unwrap_or_else(|| DEFAULT_TENANT.to_string());
        let connector = connectors::for_integration(&connection.integration)
            .ok_or_else(|| EngineError::UnknownConnector(connection.integration.clone()))?;
        let http =
            if connection.integration == "files" {
                None
            } else {
                let auth = resolve_auth(
                    &connection,
                    &tenant,
                    self.store.clone(),
                    self.keyring.clone(),
                )?;
                let client = connectors::http::Client::new(auth, self.options.http_timeout)
                    .map_err(|e| EngineError::Credentials {
                        connection: connection.id.clone(),
                        message: e.to_string(),
                    })?;
                Some(Arc::new(client))
            };
        let read = ReadRequest {
            entity: task.schema.entity.clone(),
            task_config: task.config.clone(),
            settings: connection.settings.clone(),
            full,
            page_size: self.options.page_size,
            http,
            base_dir: self.options.base_dir.clone(),
        };
        Ok(Prepared {
            connection,
            tenant,
            connector,
            read,
        })
    }

    /// Reads the first page of a task's source without storing anything (`cmap
    /// connections test`): the number of records, or why it failed.
    pub async fn probe(
        &self,
        task: &Task,
        connections: &[Arc<Connection>],
    ) -> Result<usize, String> {
        let p = self
            .prepare(task, connections, true)
            .map_err(|e| e.to_string())?;
        let cursor = p
            .connector
            .start(&p.read, None)
            .map_err(|e| e.to_string())?;
        let page = p
            .connector
            .next_page(&p.read, &cursor)
            .await
            .map_err(|e| e.to_string())?;
        Ok(page.records.len())
    }

    /// Runs one execution to its end (success, partial, failed or cancelled). `Err` only
    /// when the run cannot start (no connection, no credentials) or the store fails.
    pub async fn run(
        &self,
        req: RunRequest<'_>,
        observer: &dyn Observer,
        cancel: &AtomicBool,
    ) -> Result<SyncExecution, EngineError> {
        let task = req.task;
        let schema: &Schema = &task.schema;
        let Prepared {
            connection,
            tenant,
            connector,
            read,
        } = self.prepare(task, req.connections, req.full)?;
        // External ids belong to the system that issued them: the schema's source
        // integration (`salesforce`), whatever carried the records here (an API, a file).
        let integration = schema
            .integration
            .clone()
            .unwrap_or_else(|| connection.integration.clone());

        let mut state = self
            .store
            .task_state(&tenant, &task.id)?
            .unwrap_or_else(|| TaskState {
                tenant_id: tenant.clone(),
                task_id: task.id.clone(),
                ..TaskState::default()
            });
        let now = Utc::now();
        let mut execution = SyncExecution {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: tenant.clone(),
            sync_task_id: task.id.clone(),
            tenant_integration_id: integration.clone(),
            started_at: now,
            completed_at: None,
            duration_ms: None,
            triggered_by: req.triggered_by,
            triggered_by_user_id: None,
            status: ExecutionStatus::Running,
            progress: Progress {
                phase: Phase::Fetching,
                total_records: None,
                processed_records: 0,
                percentage: 0.0,
            },
            results: ExecutionResults::default(),
            errors: Vec::new(),
            retry_count: 0,
            retry_of: req.retry_of.clone(),
        };

        // Resume an unfinished run from its checkpoint, unless a full read is asked for.
        let (mut cursor, sweep_mark, mut watermark, resumed_from) = match state.checkpoint.take() {
            Some(cp) if !req.full => (
                cp.cursor,
                cp.sweep_mark,
                cp.watermark,
                Some(cp.execution_id),
            ),
            _ => {
                let from = if req.full {
                    None
                } else {
                    state.watermark.as_ref()
                };
                // A read that starts without a watermark lists everything: only then may
                // what it did not see be swept.
                let sweep = (from.is_none() && schema.target.delete_if_removed)
                    .then(|| execution.id.clone());
                match connector.start(&read, from) {
                    Ok(c) => (c, sweep, None, None),
                    Err(e) => {
                        return self
                            .finish_failed(execution, state, &e, observer)
                            .map_err(EngineError::from)
                    }
                }
            }
        };
        if execution.retry_of.is_none() {
            execution.retry_of = resumed_from.clone();
        }
        let mut batch = Batch::new(&tenant);
        let started = match &resumed_from {
            Some(prev) => {
                format!("execution started (resuming execution {prev} from its last checkpoint)")
            }
            None if sweep_mark.is_some() => {
                "execution started (full read: records no longer in the source will be deleted)"
                    .to_string()
            }
            None => "execution started".to_string(),
        };
        batch.push(Op::PutLog(log(
            &execution.id,
            LogLevel::Info,
            &started,
            Some(json!({ "task": task.id, "connection": connection.id, "full": req.full })),
        )));
        batch.push(Op::PutExecution(execution.clone()));
        self.store.commit(batch)?;
        observer.progress(&execution);

        let mut seq = 0;
        let mut page_no = 0u64;
        let last_watermark;
        loop {
            if cancel.load(Ordering::Relaxed) {
                // The checkpoint stays: the next run resumes where this one stopped.
                state.checkpoint = Some(checkpoint(&execution, &cursor, &sweep_mark, &watermark));
                return self.finish(execution, state, ExecutionStatus::Cancelled, None, observer);
            }
            execution.progress.phase = Phase::Fetching;
            observer.progress(&execution);
            let page = match self
                .fetch(&*connector, &read, &cursor, task, &mut execution)
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    state.checkpoint =
                        Some(checkpoint(&execution, &cursor, &sweep_mark, &watermark));
                    return self
                        .finish_failed(execution, state, &e, observer)
                        .map_err(EngineError::from);
                }
            };
            page_no += 1;
            execution.progress.phase = Phase::Transforming;
            if page.total.is_some() {
                execution.progress.total_records = page.total;
            }
            let ctx = PageContext {
                store: &*self.store,
                tenant: &tenant,
                schema,
                integration: &integration,
                task_id: &task.id,
                task_config: &task.config,
                execution_id: &execution.id,
                sweep_mark: sweep_mark.as_deref(),
                now: Utc::now(),
            };
            let outcome = apply_page(&ctx, &page.records, &page.deleted, &page.invalid, seq)?;
            seq = outcome.next_seq;
            add(&mut execution.results, &outcome.results);
            let room = MAX_EXECUTION_ERRORS.saturating_sub(execution.errors.len());
            execution
                .errors
                .extend(outcome.errors.into_iter().take(room));
            execution.progress.phase = Phase::Saving;
            execution.progress.processed_records = execution.results.fetched;
            execution.progress.percentage = percentage(&execution.progress);
            if page.watermark.is_some() {
                watermark = page.watermark.clone();
            }
            // The last page keeps its own cursor as the checkpoint: a crash before the
            // run is finalised re-reads it (harmlessly) and then finalises.
            let resume_at = page.next.clone().unwrap_or_else(|| cursor.clone());
            state.checkpoint = Some(checkpoint(&execution, &resume_at, &sweep_mark, &watermark));
            let mut batch = outcome.batch;
            batch.push(Op::PutLog(log(
                &execution.id,
                LogLevel::Debug,
                &format!("page {page_no}: {} records", page.records.len()),
                Some(json!({
                    "created": outcome.results.created, "updated": outcome.results.updated,
                    "skipped": outcome.results.skipped, "failed": outcome.results.failed,
                    "deleted": outcome.deleted, "pendingReferences": outcome.pending_added,
                    "resolvedReferences": outcome.pending_resolved,
                })),
            )));
            self.keep_paused(&mut state);
            batch.push(Op::PutTaskState(state.clone()));
            batch.push(Op::PutExecution(execution.clone()));
            self.store.commit(batch)?;
            observer.page_committed(&execution, page_no);
            match page.next {
                Some(next) => cursor = next,
                None => {
                    last_watermark = watermark.clone();
                    break;
                }
            }
        }

        // Complete: sweep what a full read did not see, then close the execution.
        let mut batch = Batch::new(&tenant);
        let mut status = if execution.results.failed > 0 {
            ExecutionStatus::Partial
        } else {
            ExecutionStatus::Success
        };
        let mut guard_error = None;
        if let Some(mark) = &sweep_mark {
            let stale = self
                .store
                .unmarked(&tenant, &integration, &schema.entity, mark)?;
            let total = self
                .store
                .count_by_source(&tenant, &integration, &schema.entity)?;
            let share = if total == 0 {
                0.0
            } else {
                stale.len() as f64 / total as f64
            };
            // The task may set its own guard (`config { deleteGuard: 0.8 }`).
            let guard = task
                .config
                .get("deleteGuard")
                .and_then(Value::as_f64)
                .filter(|g| (0.0..=1.0).contains(g))
                .unwrap_or(self.options.delete_guard);
            if !stale.is_empty() && share > guard {
                let message = format!(
                    "refused to delete {} of {total} shards ({:.0}%): more than the delete guard allows ({:.0}%); if the source really lost them, raise the task's `deleteGuard` (a share, e.g. 0.9) for one run",
                    stale.len(),
                    share * 100.0,
                    guard * 100.0
                );
                batch.push(Op::PutLog(log(
                    &execution.id,
                    LogLevel::Error,
                    &message,
                    None,
                )));
                guard_error = Some(message);
                status = ExecutionStatus::Partial;
            } else if !stale.is_empty() {
                let n = stale.len();
                for (shard, source) in stale {
                    let dedupe_key = match schema.dedupe.strategy {
                        crate::compile::ir::DedupeStrategy::ExternalId => None,
                        _ => Some((shard.shard_type_id.clone(), source.external_id.clone())),
                    };
                    batch.push(Op::DeleteShard {
                        shard,
                        source: Some(source),
                        dedupe_key,
                    });
                }
                batch.push(Op::PutLog(log(
                    &execution.id,
                    LogLevel::Info,
                    &format!("deleted {n} shards no longer in the source"),
                    None,
                )));
            }
        }
        if let Some(message) = &guard_error {
            execution.errors.push(SyncError {
                timestamp: Utc::now(),
                phase: "saving".into(),
                record_id: None,
                external_id: None,
                error: message.clone(),
                details: None,
                recoverable: true,
            });
        }
        if last_watermark.is_some() {
            state.watermark = last_watermark;
        }
        state.checkpoint = None;
        Ok(self.commit_finish(batch, execution, state, status, guard_error, observer)?)
    }

    /// Fetches one page, retrying per the task's retry config.
    async fn fetch(
        &self,
        connector: &dyn connectors::Connector,
        read: &ReadRequest,
        cursor: &Value,
        task: &Task,
        execution: &mut SyncExecution,
    ) -> Result<connectors::Page, ConnectorError> {
        let mut attempt = 0;
        loop {
            match connector.next_page(read, cursor).await {
                Ok(page) => return Ok(page),
                Err(e) => {
                    attempt += 1;
                    let Some(wait) = retry::delay(&task.retry, attempt, &e, fastrand::f64()) else {
                        return Err(e);
                    };
                    execution.retry_count += 1;
                    let mut batch = Batch::new(&execution.tenant_id);
                    batch.push(Op::PutLog(log(
                        &execution.id,
                        LogLevel::Warn,
                        &format!(
                            "fetch failed ({e}); retry {attempt} of {} in {}s",
                            task.retry.max_retries,
                            wait.as_secs()
                        ),
                        None,
                    )));
                    // Logging a retry must not fail the run.
                    let _ = self.store.commit(batch);
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    fn finish_failed(
        &self,
        mut execution: SyncExecution,
        mut state: TaskState,
        error: &ConnectorError,
        observer: &dyn Observer,
    ) -> Result<SyncExecution, StoreError> {
        // A used-up daily quota keeps what was committed and resumes next run: partial.
        let status = match error {
            ConnectorError::LimitReached { .. } => ExecutionStatus::Partial,
            _ => ExecutionStatus::Failed,
        };
        execution.errors.push(SyncError {
            timestamp: Utc::now(),
            phase: "fetching".into(),
            record_id: None,
            external_id: None,
            error: error.to_string(),
            details: None,
            recoverable: error.is_retryable()
                || matches!(error, ConnectorError::LimitReached { .. }),
        });
        state.last_error = Some(LastError {
            message: error.to_string(),
            timestamp: Utc::now(),
            details: None,
        });
        let batch = Batch::new(&execution.tenant_id);
        self.commit_finish(
            batch,
            execution,
            state,
            status,
            Some(error.to_string()),
            observer,
        )
    }

    fn finish(
        &self,
        execution: SyncExecution,
        state: TaskState,
        status: ExecutionStatus,
        error: Option<String>,
        observer: &dyn Observer,
    ) -> Result<SyncExecution, EngineError> {
        let batch = Batch::new(&execution.tenant_id);
        Ok(self.commit_finish(batch, execution, state, status, error, observer)?)
    }

    /// A pause set through the API while this execution ran must survive the execution's
    /// own writes of the task state.
    fn keep_paused(&self, state: &mut TaskState) {
        if let Ok(Some(stored)) = self.store.task_state(&state.tenant_id, &state.task_id) {
            state.paused = stored.paused;
        }
    }

    /// Closes the execution, updates the task's stats, and commits with `batch`.
    fn commit_finish(
        &self,
        mut batch: Batch,
        execution: SyncExecution,
        mut state: TaskState,
        status: ExecutionStatus,
        error: Option<String>,
        observer: &dyn Observer,
    ) -> Result<SyncExecution, StoreError> {
        let execution = close(&mut batch, execution, &mut state, status, error);
        self.keep_paused(&mut state);
        batch.push(Op::PutTaskState(state));
        batch.push(Op::PutExecution(execution.clone()));
        self.store.commit(batch)?;
        observer.progress(&execution);
        Ok(execution)
    }
}

/// Closes `execution` with `status`, adds it to the task's stats in `state`, and pushes
/// its summary log line to `batch` (the caller stores the state and the execution).
fn close(
    batch: &mut Batch,
    mut execution: SyncExecution,
    state: &mut TaskState,
    status: ExecutionStatus,
    error: Option<String>,
) -> SyncExecution {
    {
        let now = Utc::now();
        execution.status = status;
        execution.completed_at = Some(now);
        execution.duration_ms = Some((now - execution.started_at).num_milliseconds().max(0) as u64);
        execution.progress.phase = Phase::Complete;
        execution.progress.processed_records = execution.results.fetched;
        if status == ExecutionStatus::Success {
            execution.progress.percentage = 100.0;
        }
        let r = execution.results;
        let stats = &mut state.stats;
        stats.total_runs += 1;
        stats.records_processed += r.fetched;
        stats.records_created += r.created;
        stats.records_updated += r.updated;
        stats.records_skipped += r.skipped;
        stats.records_failed += r.failed;
        match status {
            ExecutionStatus::Success => {
                stats.successful_runs += 1;
                stats.last_success_at = Some(now);
            }
            ExecutionStatus::Failed => {
                stats.failed_runs += 1;
                stats.last_failure_at = Some(now);
            }
            _ => {}
        }
        state.last_run_at = Some(execution.started_at);
        state.last_run_status = Some(status);
        if let Some(message) = &error {
            state.last_error = Some(LastError {
                message: message.clone(),
                timestamp: now,
                details: None,
            });
        }
        let summary = format!(
            "execution {}: fetched {}, created {}, updated {}, skipped {}, failed {}",
            status.as_str(),
            r.fetched,
            r.created,
            r.updated,
            r.skipped,
            r.failed
        );
        let level = match status {
            ExecutionStatus::Success => LogLevel::Info,
            ExecutionStatus::Partial | ExecutionStatus::Cancelled => LogLevel::Warn,
            _ => LogLevel::Error,
        };
        batch.push(Op::PutLog(log(
            &execution.id,
            level,
            &summary,
            error.map(|e| json!({ "error": e })),
        )));
    }
    execution
}

fn checkpoint(
    execution: &SyncExecution,
    cursor: &Value,
    sweep_mark: &Option<String>,
    watermark: &Option<Value>,
) -> Checkpoint {
    Checkpoint {
        execution_id: execution.id.clone(),
        cursor: cursor.clone(),
        sweep_mark: sweep_mark.clone(),
        watermark: watermark.clone(),
        results: execution.results,
    }
}

fn add(total: &mut ExecutionResults, page: &ExecutionResults) {
    total.fetched += page.fetched;
    total.created += page.created;
    total.updated += page.updated;
    total.skipped += page.skipped;
    total.failed += page.failed;
}

fn percentage(p: &Progress) -> f64 {
    match p.total_records {
        Some(t) if t > 0 => ((p.processed_records as f64 / t as f64) * 100.0).min(100.0),
        _ => 0.0,
    }
}

/// A SyncLog line.
pub fn log(execution_id: &str, level: LogLevel, message: &str, data: Option<Value>) -> SyncLog {
    SyncLog {
        id: uuid::Uuid::new_v4().to_string(),
        sync_execution_id: execution_id.to_string(),
        timestamp: Utc::now(),
        level,
        message: message.to_string(),
        data: match data {
            Some(Value::Object(m)) => Some(m),
            _ => None,
        },
    }
}
