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

pub mod catalogue;
mod clients;
pub mod connect;
mod credentials;
mod execute;
mod ingest;
mod lookup;
mod oauth;
mod page;
mod replay;
mod retry;
pub mod tenant_connection;
mod tokens;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::compile::ir::{Connection, DedupeStrategy, Schema, Task};
use crate::connectors::{self, ConnectorError, ReadRequest};
use crate::store::crypto::Keyring;
use crate::store::{
    Batch, Checkpoint, Conflict, ExecutionResults, ExecutionStatus, FinishedRun, LastError,
    LogLevel, Op, Phase, Progress, Shard, SourceKey, Store, StoreError, SyncError, SyncExecution,
    SyncLog, TaskState, TaskUpdate, TriggeredBy,
};

pub use credentials::{load_own_secrets, own_record, save_secrets, SecretsOwner, SYSTEM_TENANT};
pub use credentials::{load_stored, owner_tenant as credentials_owner, resolve_auth, save_stored};
pub use execute::log_end;
pub use ingest::{Delivery, Ingested, WEBHOOK_INTEGRATION};
pub use lookup::StoreLookup;
pub use page::{apply_page, commit_page, PageContext, PageInput, PageOutcome, MAX_ATTEMPTS};
pub use tokens::record_id as webhook_token_record;
/// Cancels an execution: it stops at its next page boundary, or at once while it waits
/// to retry a fetch. Cheap to clone; a child token is cancelled with its parent.
pub use tokio_util::sync::CancellationToken;

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
    /// A bug: the execution panicked before it was stored (after, it is closed as failed
    /// with the message instead; see [`Engine::execute`]).
    #[error("cmap panicked: {0} (a bug: please report it)")]
    Panicked(String),
    /// A page (or a delivery) kept conflicting with other writers of the same shards.
    #[error("gave up after {attempts} attempts: each time another writer (a webhook delivery, another task) changed the same shards first (last: {last})")]
    Contended { attempts: u32, last: Conflict },
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
    /// The user who asked for the run (`POST .../run` with an API token), if one did.
    pub triggered_by_user_id: Option<String>,
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
    /// One authenticated client per connection, shared by every execution of this
    /// engine (so an OAuth2 connection refreshes once, whatever runs at the same time).
    clients: clients::Clients,
}

impl Engine {
    pub fn new(store: Arc<dyn Store>, keyring: Option<Arc<Keyring>>, options: Options) -> Engine {
        Engine {
            store,
            keyring,
            options,
            clients: clients::Clients::default(),
        }
    }

    /// The engine's shared clients: the serve layer drops a connection's after a connect
    /// or disconnect ([`clients::Clients::forget`]).
    pub fn clients(&self) -> &clients::Clients {
        &self.clients
    }

    /// Marks executions left `running` by a crash as failed (interrupted). Their task
    /// state keeps its checkpoint, so the next run resumes there.
    pub fn recover_interrupted(&self) -> Result<Vec<SyncExecution>, EngineError> {
        let mut recovered = Vec::new();
        for mut e in self.store.running_executions()? {
            let now = Utc::now();
            e.status = ExecutionStatus::Failed;
            e.completed_at = Some(now);
            e.duration_ms = Some(elapsed_ms(e.started_at, now));
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

    /// The connection a task reads through: the one it names, else its tenant's one
    /// connection serving its schema's integration, else the system one
    /// ([`crate::compile::ir::serving_connection`]).
    pub fn connection_for(
        &self,
        task: &Task,
        connections: &[Arc<Connection>],
    ) -> Result<Arc<Connection>, EngineError> {
        if let Some(c) = &task.connection {
            return Ok(c.clone());
        }
        let integration = task.schema.integration.clone().unwrap_or_default();
        // The task's tenant's own connection, else a system one (`serving_connection`).
        crate::compile::ir::serving_connection(connections, &integration, Some(&task.tenant))
            .cloned()
            .map_err(|candidates| EngineError::NoConnection {
                task: task.id.clone(),
                integration,
                candidates: candidates.iter().map(|c| c.id.clone()).collect(),
            })
    }

    /// Everything a read needs: the connection, its tenant, the connector, the request.
    fn prepare(
        &self,
        task: &Task,
        connections: &[Arc<Connection>],
        full: bool,
    ) -> Result<Prepared, EngineError> {
        let connection = self.connection_for(task, connections)?;
        // The task's (its folder's; compile gives a top-level task its connection's):
        // a system-wide connection serves every tenant, so it cannot say whose the run is.
        let tenant = task.tenant.clone();
        let connector = connectors::for_integration(&connection.integration)
            .ok_or_else(|| EngineError::UnknownConnector(connection.integration.clone()))?;
        let http = if connection.integration == "files" {
            None
        } else {
            Some(self.clients.get(
                &connection,
                &tenant,
                &self.store,
                &self.keyring,
                connector.origins(&connection.settings),
                self.options.http_timeout,
            )?)
        };
        let read = ReadRequest {
            entity: task.schema.entity.clone(),
            source: task.config.source.clone(),
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
        let page = connectors::read_page(&*p.connector, &p.read, &cursor)
            .await
            .map_err(|e| e.to_string())?;
        Ok(page.records.len())
    }

    /// Runs one execution to its end (success, partial, failed or cancelled). `Err` only
    /// when the run cannot start (no connection, no credentials) or the store fails.
    ///
    /// `cancel` stops it at the next page boundary, or at once while it waits to retry a
    /// fetch; the checkpoint stays. A panic unwinds out of here: the runner and `cmap
    /// run` call [`Engine::execute`], which contains it.
    pub async fn run(
        &self,
        req: RunRequest<'_>,
        observer: &dyn Observer,
        cancel: &CancellationToken,
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

        let state = {
            let (store, t, id) = (self.store.clone(), tenant.clone(), task.id.clone());
            blocking(move || store.task_state(&t, &id)).await??
        }
        .unwrap_or_else(|| TaskState::new(&tenant, &task.id));
        let mut execution = new_execution(NewExecution {
            tenant: &tenant,
            task_id: &task.id,
            integration: &integration,
            triggered_by: req.triggered_by,
            retry_of: req.retry_of.clone(),
            phase: Phase::Fetching,
            total_records: None,
        });
        execution.triggered_by_user_id = req.triggered_by_user_id.clone();

        // Resume an unfinished run from its checkpoint, unless a full read is asked for.
        let (mut cursor, sweep, mut watermark, resumed_from) = match state.checkpoint {
            Some(cp) if !req.full => (
                cp.cursor,
                cp.sweep_mark.map(|mark| Sweep {
                    mark,
                    started_at: cp.sweep_started_at,
                }),
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
                let sweep = (from.is_none() && schema.target.delete_if_removed).then(|| Sweep {
                    mark: execution.id.clone(),
                    started_at: Some(execution.started_at),
                });
                match connector.start(&read, from) {
                    Ok(c) => (c, sweep, None, None),
                    Err(e) => {
                        // A full read replaces an unfinished one: its checkpoint goes.
                        let update = TaskUpdate {
                            checkpoint: Some(None),
                            ..TaskUpdate::default()
                        };
                        return self.finish_failed(execution, update, &e, observer).await;
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
            None if sweep.is_some() => {
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
        if state.paused_until.is_some() {
            // The quota pause is over (or overridden by a manual run): clear it.
            batch.push(Op::UpdateTask {
                task_id: task.id.clone(),
                update: TaskUpdate {
                    paused_until: Some(None),
                    ..TaskUpdate::default()
                },
            });
        }
        batch.push(Op::PutExecution(execution.clone()));
        // Told before the execution is stored: whoever finds it in the store (the API's
        // cancel) finds it registered too (serve's runner registers on first progress).
        observer.progress(&execution);
        self.commit(batch).await?;

        // What every page is applied with, owned so it can go to a blocking thread.
        let page_base = PageJob {
            store: self.store.clone(),
            tenant: tenant.clone(),
            schema: task.schema.clone(),
            integration: integration.clone(),
            task_id: task.id.clone(),
            task_config: Arc::new(task.config.values.clone()),
            execution_id: execution.id.clone(),
            sweep_mark: sweep.as_ref().map(|s| s.mark.clone()),
        };
        let mut seq = 0;
        let mut page_no = 0u64;
        let last_watermark;
        // The next page, fetched while the previous one was being committed (at most
        // one page ahead, so memory stays at two pages), with the retries it took.
        let mut prefetched: Option<Prefetched> = None;
        loop {
            if cancel.is_cancelled() {
                // The checkpoint stays: the next run resumes where this one stopped.
                let update = keep_checkpoint(checkpoint(&execution, &cursor, &sweep, &watermark));
                return self
                    .finish(
                        execution,
                        update,
                        ExecutionStatus::Cancelled,
                        None,
                        observer,
                    )
                    .await;
            }
            execution.progress.phase = Phase::Fetching;
            observer.progress(&execution);
            let fetched = match prefetched.take() {
                Some(ahead) if ahead.cursor == cursor => {
                    execution.retry_count = execution.retry_count.saturating_add(ahead.retries);
                    ahead.result
                }
                _ => {
                    self.fetch(&*connector, &read, &cursor, task, &mut execution, cancel)
                        .await
                }
            };
            let page = match fetched {
                Ok(Some(p)) => p,
                // Cancelled while waiting to retry: the top of the loop closes the run.
                Ok(None) => continue,
                Err(e) => {
                    let update =
                        keep_checkpoint(checkpoint(&execution, &cursor, &sweep, &watermark));
                    return self.finish_failed(execution, update, &e, observer).await;
                }
            };
            page_no += 1;
            execution.progress.phase = Phase::Transforming;
            if page.total.is_some() {
                execution.progress.total_records = page.total;
            }
            if page.watermark.is_some() {
                watermark = page.watermark.clone();
            }
            // The last page keeps its own cursor as the checkpoint: a crash before the
            // run is finalised re-reads it (harmlessly) and then finalises.
            let resume_at = page.next.clone().unwrap_or_else(|| cursor.clone());
            let ahead = page.next.clone();
            let commit = self.commit_run_page(
                &page_base,
                page,
                seq,
                PageRecord {
                    execution: execution.clone(),
                    page_no,
                    resume_at,
                    sweep: sweep.clone(),
                    watermark: watermark.clone(),
                },
            );
            // The next page is fetched while this one is mapped and committed (on a
            // blocking thread): the two overlap, and a crash still loses at most the page
            // in flight, since only committed pages move the checkpoint. A page fetched
            // ahead of a commit that fails is dropped and read again by the next run.
            let committed = match ahead {
                Some(next) if !cancel.is_cancelled() => {
                    let (committed, ahead) = self
                        .commit_fetching_ahead(
                            commit,
                            &*connector,
                            &read,
                            next,
                            task,
                            &execution,
                            cancel,
                        )
                        .await;
                    prefetched = Some(ahead);
                    committed
                }
                _ => commit.await,
            };
            let (next_seq, next, after) = match committed {
                Ok(c) => c,
                Err(e @ EngineError::Contended { .. }) => {
                    // Nothing of the page was stored: the next run reads it again.
                    let update =
                        keep_checkpoint(checkpoint(&execution, &cursor, &sweep, &watermark));
                    let message = format!("page {page_no}: {e}; the next run reads it again");
                    execution.errors.push(SyncError {
                        timestamp: Utc::now(),
                        phase: "saving".into(),
                        record_id: None,
                        external_id: None,
                        error: message.clone(),
                        details: None,
                        recoverable: true,
                    });
                    return self
                        .finish(
                            execution,
                            update,
                            ExecutionStatus::Failed,
                            Some(message),
                            observer,
                        )
                        .await;
                }
                Err(e) => return Err(e),
            };
            seq = next_seq;
            execution = after;
            observer.page_committed(&execution, page_no);
            match next {
                Some(next) => cursor = next,
                None => {
                    last_watermark = watermark.clone();
                    break;
                }
            }
        }

        // Complete: sweep what a full read did not see, then close the execution.
        let completion = Completion {
            store: self.store.clone(),
            execution,
            integration,
            entity: schema.entity.clone(),
            strategy: schema.dedupe.strategy,
            sweep,
            // The task may set its own guard (`config { deleteGuard: 0.8 }`, a share
            // from 0 to 1 checked at check time); else the engine's.
            delete_guard: task
                .config
                .engine
                .delete_guard
                .unwrap_or(self.options.delete_guard),
            watermark: last_watermark,
            task_id: task.id.clone(),
        };
        let execution = blocking(move || complete(completion)).await??;
        observer.progress(&execution);
        Ok(execution)
    }

    /// Awaits `commit` (a page's) while fetching the page at `next`, and returns both.
    /// The fetch counts its retries apart ([`Prefetched::retries`]); they join the
    /// execution when its page is used. A failed commit ends the run, so the fetch then
    /// stops waiting to retry (its own child token), while a request in flight is let
    /// finish as always (a token refresh must not be cut off).
    #[allow(clippy::too_many_arguments)]
    async fn commit_fetching_ahead<C, T>(
        &self,
        commit: C,
        connector: &dyn connectors::Connector,
        read: &ReadRequest,
        next: Value,
        task: &Task,
        execution: &SyncExecution,
        cancel: &CancellationToken,
    ) -> (Result<T, EngineError>, Prefetched)
    where
        C: std::future::Future<Output = Result<T, EngineError>>,
    {
        let mut scratch = execution.clone();
        scratch.retry_count = 0;
        let ahead_cancel = cancel.child_token();
        let (committed, result) = {
            let fetch = self.fetch(connector, read, &next, task, &mut scratch, &ahead_cancel);
            tokio::pin!(commit, fetch);
            let mut fetched = None;
            let committed = tokio::select! {
                committed = &mut commit => committed,
                result = &mut fetch => {
                    fetched = Some(result);
                    (&mut commit).await
                }
            };
            if committed.is_err() {
                ahead_cancel.cancel();
            }
            let result = match fetched {
                Some(result) => result,
                None => fetch.await,
            };
            (committed, result)
        };
        let ahead = Prefetched {
            cursor: next,
            result,
            retries: scratch.retry_count,
        };
        (committed, ahead)
    }

    /// Fetches one page, retrying per the task's retry config. `Ok(None)`: cancelled
    /// while waiting between attempts.
    ///
    /// The wait (up to an hour) ends early when `cancel` fires, so cancel and shutdown
    /// reach a run that is backing off. A request in flight is not abandoned: dropping it
    /// in the middle of a token refresh could lose a rotated refresh token that the
    /// server has already swapped for the old one; it is bounded by the HTTP timeout.
    async fn fetch(
        &self,
        connector: &dyn connectors::Connector,
        read: &ReadRequest,
        cursor: &Value,
        task: &Task,
        execution: &mut SyncExecution,
        cancel: &CancellationToken,
    ) -> Result<Option<connectors::Page>, ConnectorError> {
        let mut attempt: u32 = 0;
        loop {
            match connectors::read_page(connector, read, cursor).await {
                Ok(page) => return Ok(Some(page)),
                Err(e) => {
                    attempt = attempt.saturating_add(1);
                    let Some(wait) = retry::delay(&task.retry, attempt, &e, fastrand::f64()) else {
                        return Err(e);
                    };
                    execution.retry_count = execution.retry_count.saturating_add(1);
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
                    let _ = self.commit(batch).await;
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        // Cancel or shutdown: stop waiting now, not in up to an hour.
                        _ = cancel.cancelled() => return Ok(None),
                    }
                }
            }
        }
    }

    /// Commits `batch` on a blocking thread (the commit waits for an fsync).
    async fn commit(&self, batch: Batch) -> Result<(), EngineError> {
        let store = self.store.clone();
        Ok(blocking(move || store.commit(batch)).await??)
    }

    /// Applies and commits one page of a run on a blocking thread (mapping and the
    /// store's reads and fsync all block), re-applying it on conflicts
    /// ([`page::commit_page`]). Returns the next dead-letter sequence number, the
    /// page's next cursor, and the execution as committed with the page.
    async fn commit_run_page(
        &self,
        job: &PageJob,
        page: connectors::Page,
        seq: u64,
        record: PageRecord,
    ) -> Result<(u64, Option<Value>, SyncExecution), EngineError> {
        let job = job.clone();
        let next = page.next.clone();
        let (outcome, execution) = blocking(move || {
            let ctx = job.context(Utc::now());
            let input = PageInput {
                records: &page.records,
                deleted: &page.deleted,
                invalid: &page.invalid,
                seq,
            };
            commit_page(&ctx, &input, |outcome| {
                record.add_to(outcome, page.records.len(), &job.task_id)
            })
        })
        .await??;
        Ok((outcome.next_seq, next, execution))
    }

    async fn finish_failed(
        &self,
        mut execution: SyncExecution,
        mut update: TaskUpdate,
        error: &ConnectorError,
        observer: &dyn Observer,
    ) -> Result<SyncExecution, EngineError> {
        let mut batch = Batch::new(&execution.tenant_id);
        // A used-up quota keeps what was committed and resumes once it is back: partial,
        // and the task is paused until then (retrying now would only burn calls).
        let (status, message) = match error {
            ConnectorError::LimitReached { resets_at, .. } => {
                let message = format!(
                    "{error}; the task is paused until {} (when the quota is expected back) and then resumes from its checkpoint",
                    resets_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                );
                update.paused_until = Some(Some(*resets_at));
                batch.push(Op::PutLog(log(
                    &execution.id,
                    LogLevel::Warn,
                    &message,
                    Some(json!({ "pausedUntil": resets_at })),
                )));
                (ExecutionStatus::Partial, message)
            }
            _ => (ExecutionStatus::Failed, error.to_string()),
        };
        execution.errors.push(SyncError {
            timestamp: Utc::now(),
            phase: "fetching".into(),
            record_id: None,
            external_id: None,
            error: message.clone(),
            details: None,
            recoverable: error.is_retryable()
                || matches!(error, ConnectorError::LimitReached { .. }),
        });
        self.finish_in(batch, execution, update, status, Some(message), observer)
            .await
    }

    /// Closes the execution with `status` and the task `update`, and commits.
    async fn finish(
        &self,
        execution: SyncExecution,
        update: TaskUpdate,
        status: ExecutionStatus,
        error: Option<String>,
        observer: &dyn Observer,
    ) -> Result<SyncExecution, EngineError> {
        let batch = Batch::new(&execution.tenant_id);
        self.finish_in(batch, execution, update, status, error, observer)
            .await
    }

    /// Closes the execution with `status` and the task `update`, and commits it with
    /// `batch`.
    async fn finish_in(
        &self,
        mut batch: Batch,
        mut execution: SyncExecution,
        update: TaskUpdate,
        status: ExecutionStatus,
        error: Option<String>,
        observer: &dyn Observer,
    ) -> Result<SyncExecution, EngineError> {
        close_execution(&mut batch, &mut execution, update, status, error);
        self.commit(batch).await?;
        observer.progress(&execution);
        Ok(execution)
    }
}

/// Runs blocking work (store reads that scan, commits that fsync, mapping a page) on
/// tokio's blocking pool, so the async workers keep serving other executions, webhooks
/// and the API meanwhile. A panic inside is resumed here, as if the work had run
/// inline.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, EngineError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(v) => Ok(v),
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            // Only when the runtime shuts down under it.
            Err(_) => Err(EngineError::Store(StoreError::Backend(
                "interrupted: the runtime shut down during a store operation".into(),
            ))),
        },
    }
}

/// A full read's sweep: the mark it puts on every shard it sees, and when it began.
#[derive(Clone, Debug)]
struct Sweep {
    mark: String,
    /// `None` for a read resumed from a checkpoint written before cmap kept it.
    started_at: Option<DateTime<Utc>>,
}

/// What every page of a run is applied with ([`PageContext`], owned).
#[derive(Clone)]
struct PageJob {
    store: Arc<dyn Store>,
    tenant: String,
    schema: Arc<Schema>,
    integration: String,
    task_id: String,
    task_config: Arc<serde_json::Map<String, Value>>,
    execution_id: String,
    sweep_mark: Option<String>,
}

impl PageJob {
    fn context(&self, now: DateTime<Utc>) -> PageContext<'_> {
        PageContext {
            store: &*self.store,
            tenant: &self.tenant,
            schema: &self.schema,
            integration: &self.integration,
            task_id: &self.task_id,
            task_config: &self.task_config,
            execution_id: &self.execution_id,
            sweep_mark: self.sweep_mark.as_deref(),
            now,
        }
    }
}

/// A page fetched ahead (see [`Engine::run`]): the cursor it was read at, what the
/// fetch gave, and the retries it took.
struct Prefetched {
    cursor: Value,
    result: Result<Option<connectors::Page>, ConnectorError>,
    retries: u32,
}

/// What a run commits with each page besides its shards: the execution's counts, the
/// page's log line and the checkpoint after it.
struct PageRecord {
    /// The execution before the page.
    execution: SyncExecution,
    page_no: u64,
    resume_at: Value,
    sweep: Option<Sweep>,
    watermark: Option<Value>,
}

impl PageRecord {
    /// Adds the page's counts to (a copy of) the execution and the run's ops to the
    /// page's batch; returns the execution as committed.
    fn add_to(&self, outcome: &mut PageOutcome, records: usize, task_id: &str) -> SyncExecution {
        let mut execution = self.execution.clone();
        execution.results.add(&outcome.results);
        let room = MAX_EXECUTION_ERRORS.saturating_sub(execution.errors.len());
        execution
            .errors
            .extend(outcome.errors.iter().take(room).cloned());
        execution.progress.phase = Phase::Saving;
        execution.progress.processed_records = execution.results.fetched;
        execution.progress.percentage = percentage(&execution.progress);
        let r = &outcome.results;
        outcome.batch.push(Op::PutLog(log(
            &execution.id,
            LogLevel::Debug,
            &format!("page {}: {records} records", self.page_no),
            Some(json!({
                "created": r.created, "updated": r.updated,
                "skipped": r.skipped, "failed": r.failed,
                "deleted": r.deleted, "pendingReferences": outcome.pending_added,
                "resolvedReferences": outcome.pending_resolved,
            })),
        )));
        let cp = checkpoint(&execution, &self.resume_at, &self.sweep, &self.watermark);
        outcome.batch.push(Op::UpdateTask {
            task_id: task_id.to_string(),
            update: keep_checkpoint(cp),
        });
        outcome.batch.push(Op::PutExecution(execution.clone()));
        execution
    }
}

/// The end of a run whose pages are all committed.
struct Completion {
    store: Arc<dyn Store>,
    execution: SyncExecution,
    integration: String,
    entity: String,
    strategy: DedupeStrategy,
    sweep: Option<Sweep>,
    delete_guard: f64,
    /// The watermark the completed read reached.
    watermark: Option<Value>,
    task_id: String,
}

/// Sweeps what a full read did not see (behind the delete guard), then closes the
/// execution, the task's checkpoint cleared, in one commit. Blocking.
///
/// The sweep keeps shards another writer wrote after the read began (a webhook
/// delivery, another task): the read may have passed their record before it existed.
/// Each delete expects the version it listed, so a shard written between the listing
/// and the commit makes the commit conflict, and the sweep is listed again.
fn complete(c: Completion) -> Result<SyncExecution, EngineError> {
    let tenant = c.execution.tenant_id.clone();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut execution = c.execution.clone();
        let mut batch = Batch::new(&tenant);
        let mut status = if execution.results.failed > 0 {
            ExecutionStatus::Partial
        } else {
            ExecutionStatus::Success
        };
        let mut error = None;
        if let Some(sweep) = &c.sweep {
            let stale: Vec<(Shard, SourceKey)> = c
                .store
                .unmarked(&tenant, &c.integration, &c.entity, &sweep.mark)?
                .into_iter()
                .filter(|(shard, _)| sweep.started_at.is_none_or(|at| shard.updated_at < at))
                .collect();
            let total = c
                .store
                .count_by_source(&tenant, &c.integration, &c.entity)?;
            let share = if total == 0 {
                0.0
            } else {
                stale.len() as f64 / total as f64
            };
            if !stale.is_empty() && share > c.delete_guard {
                error = Some(format!(
                    "refused to delete {} of {total} shards ({:.0}%): more than the delete guard allows ({:.0}%); if the source really lost them, raise the task's `deleteGuard` (a share, e.g. 0.9) for one run",
                    stale.len(),
                    share * 100.0,
                    c.delete_guard * 100.0
                ));
            } else if !stale.is_empty() && attempt == page::MAX_ATTEMPTS {
                error = Some(format!(
                    "did not delete {} shards no longer in the source: other writers kept changing them during {attempt} attempts; the next full read deletes what is still gone",
                    stale.len()
                ));
            } else if !stale.is_empty() {
                let n = stale.len() as u64;
                for (shard, source) in stale {
                    let dedupe_key = match c.strategy {
                        DedupeStrategy::ExternalId => None,
                        _ => Some((shard.shard_type_id.clone(), source.external_id.clone())),
                    };
                    let expect_version = Some(shard.version);
                    batch.push(Op::DeleteShard {
                        shard,
                        source: Some(source),
                        dedupe_key,
                        expect_version,
                    });
                }
                execution.results.deleted = execution.results.deleted.saturating_add(n);
                batch.push(Op::PutLog(log(
                    &execution.id,
                    LogLevel::Info,
                    &format!("deleted {n} shards no longer in the source"),
                    None,
                )));
            }
        }
        if let Some(message) = &error {
            batch.push(Op::PutLog(log(
                &execution.id,
                LogLevel::Error,
                message,
                None,
            )));
            execution.errors.push(SyncError {
                timestamp: Utc::now(),
                phase: "saving".into(),
                record_id: None,
                external_id: None,
                error: message.clone(),
                details: None,
                recoverable: true,
            });
            status = ExecutionStatus::Partial;
        }
        let update = TaskUpdate {
            checkpoint: Some(None),
            watermark: c.watermark.clone(),
            ..TaskUpdate::default()
        };
        close_execution(&mut batch, &mut execution, update, status, error);
        match c.store.commit(batch) {
            Ok(()) => return Ok(execution),
            Err(StoreError::Conflict(conflict)) => {
                tracing::debug!(task = %c.task_id, attempt, %conflict, "the sweep conflicted with another writer; listing it again");
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// What a new execution is for ([`new_execution`]).
struct NewExecution<'a> {
    tenant: &'a str,
    task_id: &'a str,
    /// The integration its records come from (`tenantIntegrationId`).
    integration: &'a str,
    triggered_by: TriggeredBy,
    retry_of: Option<String>,
    /// Where it starts: fetching (a read) or transforming (records already here).
    phase: Phase,
    total_records: Option<u64>,
}

/// A new execution, running, started now: the one constructor of every execution
/// (runs, webhook deliveries, replays). Ids are UUIDv7, so they sort by start time.
fn new_execution(n: NewExecution<'_>) -> SyncExecution {
    SyncExecution {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: n.tenant.to_string(),
        sync_task_id: n.task_id.to_string(),
        tenant_integration_id: n.integration.to_string(),
        started_at: Utc::now(),
        completed_at: None,
        duration_ms: None,
        triggered_by: n.triggered_by,
        triggered_by_user_id: None,
        status: ExecutionStatus::Running,
        progress: Progress {
            phase: n.phase,
            total_records: n.total_records,
            processed_records: 0,
            percentage: 0.0,
        },
        results: ExecutionResults::default(),
        errors: Vec::new(),
        retry_count: 0,
        retry_of: n.retry_of,
    }
}

/// Closes `execution` with `status` and pushes, onto `batch`, its summary log line, the
/// task's `update` with the finished run added to its stats (and `error` as its last
/// error), and the execution itself. Nothing is committed here.
fn close_execution(
    batch: &mut Batch,
    execution: &mut SyncExecution,
    mut update: TaskUpdate,
    status: ExecutionStatus,
    error: Option<String>,
) {
    let now = Utc::now();
    execution.status = status;
    execution.completed_at = Some(now);
    execution.duration_ms = Some(elapsed_ms(execution.started_at, now));
    execution.progress.phase = Phase::Complete;
    execution.progress.processed_records = execution.results.fetched;
    if status == ExecutionStatus::Success {
        execution.progress.percentage = 100.0;
    }
    let r = execution.results;
    let summary = format!(
        "execution {}: fetched {}, created {}, updated {}, skipped {}, failed {}, deleted {}",
        status.as_str(),
        r.fetched,
        r.created,
        r.updated,
        r.skipped,
        r.failed,
        r.deleted
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
        error.as_ref().map(|e| json!({ "error": e })),
    )));
    update.finished = Some(FinishedRun {
        started_at: execution.started_at,
        completed_at: now,
        status,
        results: r,
        error: error.map(|message| LastError {
            message,
            timestamp: now,
            details: None,
        }),
    });
    batch.push(Op::UpdateTask {
        task_id: execution.sync_task_id.clone(),
        update,
    });
    batch.push(Op::PutExecution(execution.clone()));
}

/// A task update that sets the checkpoint.
fn keep_checkpoint(cp: Checkpoint) -> TaskUpdate {
    TaskUpdate {
        checkpoint: Some(Some(cp)),
        ..TaskUpdate::default()
    }
}

fn checkpoint(
    execution: &SyncExecution,
    cursor: &Value,
    sweep: &Option<Sweep>,
    watermark: &Option<Value>,
) -> Checkpoint {
    Checkpoint {
        execution_id: execution.id.clone(),
        cursor: cursor.clone(),
        sweep_mark: sweep.as_ref().map(|s| s.mark.clone()),
        watermark: watermark.clone(),
        results: execution.results,
        sweep_started_at: sweep.as_ref().and_then(|s| s.started_at),
    }
}

/// Milliseconds from `from` to `to`, 0 when `to` is earlier (a start time read back from
/// the store may be anything chrono can hold: the span still fits, see the test).
fn elapsed_ms(from: chrono::DateTime<Utc>, to: chrono::DateTime<Utc>) -> u64 {
    u64::try_from(to.signed_duration_since(from).num_milliseconds()).unwrap_or(0)
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

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeDelta, Utc};

    use super::*;

    #[test]
    fn elapsed_is_total_over_chrono_range() {
        let (min, max) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
        assert_eq!(elapsed_ms(max, min), 0);
        assert!(elapsed_ms(min, max) > 16_000_000_000_000_000);
        assert_eq!(elapsed_ms(max, max), 0);
        let now = Utc::now();
        assert_eq!(elapsed_ms(now, now + TimeDelta::milliseconds(1500)), 1500);
    }

    #[test]
    fn counts_saturate() {
        let mut total = ExecutionResults {
            fetched: u64::MAX,
            created: u64::MAX - 1,
            ..ExecutionResults::default()
        };
        let page = ExecutionResults {
            fetched: 5,
            created: 5,
            updated: 1,
            ..ExecutionResults::default()
        };
        total.add(&page);
        assert_eq!(
            (total.fetched, total.created, total.updated),
            (u64::MAX, u64::MAX, 1)
        );
    }

    #[test]
    fn percentage_is_a_share_of_the_total() {
        let progress = |processed, total| Progress {
            phase: Phase::Fetching,
            total_records: total,
            processed_records: processed,
            percentage: 0.0,
        };
        for (processed, total, expect) in [
            (0, None, 0.0),
            (5, Some(0), 0.0),
            (5, Some(10), 50.0),
            (u64::MAX, Some(1), 100.0),
            (u64::MAX, Some(u64::MAX), 100.0),
        ] {
            assert_eq!(percentage(&progress(processed, total)), expect);
        }
    }
}
