//! Starting executions: at most one per task at a time, at most `max_concurrent` in all,
//! cancellable, and never for a paused task (paused through the API, or until its
//! source's quota is back). The scheduler, webhooks and the control API all go through
//! here.
//!
//! Cancellation is a tree of tokens: the runner's own (fired by shutdown) is the parent
//! of every execution's, so shutdown reaches executions still waiting for a slot and
//! executions waiting to retry, not only those between two pages.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, Semaphore};

use super::metrics::Metrics;
use super::state::Shared;
use crate::engine::{CancellationToken, RunRequest};
use crate::store::{SyncExecution, TriggeredBy};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TriggerError {
    #[error("no task `{0}` is loaded")]
    UnknownTask(String),
    #[error("task `{task}` is already running (execution {execution_id})")]
    AlreadyRunning { task: String, execution_id: String },
    #[error("task `{0}` is paused")]
    Paused(String),
    /// The source's quota is used up; it is expected back at `until`.
    #[error("task `{task}` is paused until {} (its source's quota is used up; it resumes from its checkpoint then)", until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))]
    QuotaPaused { task: String, until: DateTime<Utc> },
    #[error("the server is shutting down")]
    ShuttingDown,
}

/// Called when an execution ends (notifications).
pub type Finished = Arc<dyn Fn(Arc<crate::compile::ir::Task>, SyncExecution) + Send + Sync>;

/// Runs executions for the server.
pub struct Runner {
    shared: Arc<Shared>,
    metrics: Arc<Metrics>,
    limit: Arc<Semaphore>,
    inner: Mutex<Inner>,
    /// Woken whenever an execution ends (shutdown waits on it).
    idle: Notify,
    /// Cancelled by shutdown; every execution's token is a child of it.
    shutdown: CancellationToken,
    /// Serialises pause and resume, so the in-memory flag and the stored one change in
    /// the same order (a pause and a resume racing must not end paused in one place and
    /// resumed in the other).
    control: tokio::sync::Mutex<()>,
    on_finished: Option<Finished>,
}

#[derive(Default)]
struct Inner {
    /// Task id -> the execution id it is running (or "" while it waits for a slot).
    running: HashMap<String, String>,
    /// Execution id -> its cancel token.
    cancels: HashMap<String, CancellationToken>,
    paused: HashSet<String>,
    shutting_down: bool,
}

impl Runner {
    pub fn new(
        shared: Arc<Shared>,
        metrics: Arc<Metrics>,
        max_concurrent: usize,
        on_finished: Option<Finished>,
    ) -> Arc<Runner> {
        // Tasks paused before a restart stay paused.
        let loaded = shared.snapshot();
        let paused = loaded
            .program
            .tasks
            .iter()
            .filter(|t| {
                let tenant = t.tenant.clone();
                shared
                    .engine
                    .store
                    .task_state(&tenant, &t.id)
                    .ok()
                    .flatten()
                    .is_some_and(|s| s.paused)
            })
            .map(|t| t.id.clone())
            .collect();
        Arc::new(Runner {
            shared,
            metrics,
            limit: Arc::new(Semaphore::new(max_concurrent.max(1))),
            inner: Mutex::new(Inner {
                paused,
                ..Inner::default()
            }),
            idle: Notify::new(),
            shutdown: CancellationToken::new(),
            control: tokio::sync::Mutex::new(()),
            on_finished,
        })
    }

    /// Writes a task's paused flag to the store, so it survives a restart. A failed
    /// write is logged; the in-memory flag still applies. Only the flag changes, under
    /// the store's commit lock: an execution committing meanwhile keeps its checkpoint,
    /// and its own commits never touch the flag. The commit (an fsync) runs on a
    /// blocking thread.
    async fn persist_paused(&self, task_id: &str, paused: bool) {
        let loaded = self.shared.snapshot();
        let Some(task) = loaded.program.task(task_id) else {
            return;
        };
        let mut batch = crate::store::Batch::new(&task.tenant);
        batch.push(crate::store::Op::UpdateTask {
            task_id: task_id.to_string(),
            update: crate::store::TaskUpdate {
                paused: Some(paused),
                // A resume also lifts a quota pause.
                paused_until: (!paused).then_some(None),
                ..crate::store::TaskUpdate::default()
            },
        });
        let store = self.shared.engine.store.clone();
        let committed = match tokio::task::spawn_blocking(move || store.commit(batch)).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(error) = committed {
            tracing::error!(task = task_id, %error, "cannot store the paused flag");
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts an execution of `task_id` in the background, on the pipelines loaded now.
    /// Returns once it is registered; the execution waits for a free slot if
    /// `max_concurrent` are running.
    pub fn trigger(self: &Arc<Self>, task_id: &str, by: TriggeredBy) -> Result<(), TriggerError> {
        self.trigger_as(task_id, by, None, None)
    }

    /// [`Runner::trigger`], recording who asked (`triggeredByUserId`) and, for a retry,
    /// the execution retried (`retryOf`).
    pub fn trigger_as(
        self: &Arc<Self>,
        task_id: &str,
        by: TriggeredBy,
        user_id: Option<String>,
        retry_of: Option<String>,
    ) -> Result<(), TriggerError> {
        let loaded = self.shared.snapshot();
        let task = loaded
            .program
            .task(task_id)
            .cloned()
            .ok_or_else(|| TriggerError::UnknownTask(task_id.to_string()))?;
        if let Some(until) = self
            .paused_until(task_id)
            .filter(|until| *until > Utc::now())
        {
            return Err(TriggerError::QuotaPaused {
                task: task_id.to_string(),
                until,
            });
        }
        {
            let mut inner = self.lock();
            if inner.shutting_down {
                return Err(TriggerError::ShuttingDown);
            }
            if inner.paused.contains(task_id) {
                return Err(TriggerError::Paused(task_id.to_string()));
            }
            if let Some(execution_id) = inner.running.get(task_id) {
                return Err(TriggerError::AlreadyRunning {
                    task: task_id.to_string(),
                    execution_id: execution_id.clone(),
                });
            }
            inner.running.insert(task_id.to_string(), String::new());
        }
        self.metrics.queue_depth_add(1);
        let this = self.clone();
        let cancel = self.shutdown.child_token();
        tokio::spawn(async move {
            // Whatever happens below, panics included, the task is unregistered when this
            // ends: a stale entry would refuse every later run of it as "already running".
            let _registered = Registered {
                runner: &this,
                task_id: &task.id,
            };
            // Waiting for a slot: the task is registered as running, so it is not
            // started twice meanwhile. Shutdown while waiting: it never starts.
            let permit = tokio::select! {
                permit = this.limit.clone().acquire_owned() => permit.ok(),
                _ = cancel.cancelled() => None,
            };
            this.metrics.queue_depth_add(-1);
            let Some(_permit) = permit else {
                tracing::info!(task = %task.id, "execution not started: the server is shutting down");
                return;
            };
            let request = RunRequest {
                task: &task,
                connections: &loaded.program.connections,
                full: false,
                triggered_by: by,
                triggered_by_user_id: user_id,
                retry_of,
            };
            let observer = Registering {
                runner: &this,
                task_id: task.id.clone(),
                cancel: cancel.clone(),
            };
            // `execute` contains a panic of the run (the execution ends failed) and logs
            // the end.
            match this
                .shared
                .engine
                .execute(request, &observer, &cancel)
                .await
            {
                Ok(execution) => {
                    this.metrics.execution_finished(&execution);
                    if let Some(f) = &this.on_finished {
                        f(task.clone(), execution);
                    }
                }
                Err(_) => this.metrics.execution_error(),
            }
        });
        Ok(())
    }

    /// Until when a task is paused because its source's quota is used up (the stored
    /// task state's `pausedUntil`; past times included).
    pub fn paused_until(&self, task_id: &str) -> Option<DateTime<Utc>> {
        let loaded = self.shared.snapshot();
        let task = loaded.program.task(task_id)?;
        let tenant = task.tenant.clone();
        match self.shared.engine.store.task_state(&tenant, task_id) {
            Ok(state) => state.and_then(|s| s.paused_until),
            Err(e) => {
                // Unreadable: do not block the task on it; the run itself will report.
                tracing::error!(task = task_id, error = %e, "cannot read the task state");
                None
            }
        }
    }

    /// Asks a running execution to stop at its next page boundary (at once when it is
    /// waiting to retry).
    pub fn cancel(&self, execution_id: &str) -> bool {
        match self.lock().cancels.get(execution_id) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    pub async fn pause(&self, task_id: &str) {
        let _order = self.control.lock().await;
        self.lock().paused.insert(task_id.to_string());
        self.persist_paused(task_id, true).await;
    }

    /// Resumes a paused task; also lifts a quota pause (the next run then tries the
    /// source at once).
    pub async fn resume(&self, task_id: &str) {
        let _order = self.control.lock().await;
        self.lock().paused.remove(task_id);
        self.persist_paused(task_id, false).await;
    }

    pub fn is_paused(&self, task_id: &str) -> bool {
        self.lock().paused.contains(task_id)
    }

    /// `(task, execution id)` of what runs now.
    pub fn running(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .lock()
            .running
            .iter()
            .map(|(t, e)| (t.clone(), e.clone()))
            .collect();
        v.sort();
        v
    }

    /// Refuses new executions and asks every running one to stop at its next page
    /// boundary, or at once while it waits to retry or for a slot (its checkpoint
    /// stays: the next start resumes it).
    pub fn begin_shutdown(&self) {
        self.lock().shutting_down = true;
        // Every execution's token is a child of this one.
        self.shutdown.cancel();
    }

    /// Waits until no execution runs.
    pub async fn wait_idle(&self) {
        loop {
            // Register interest before checking, so an end in between is not missed.
            let notified = self.idle.notified();
            if self.lock().running.is_empty() {
                return;
            }
            notified.await;
        }
    }
}

/// Records the execution id and cancel token as soon as the engine has created it.
struct Registering<'a> {
    runner: &'a Runner,
    task_id: String,
    cancel: CancellationToken,
}

impl crate::engine::Observer for Registering<'_> {
    fn progress(&self, execution: &SyncExecution) {
        let mut inner = self.runner.lock();
        if inner
            .running
            .get(&self.task_id)
            .is_some_and(String::is_empty)
        {
            inner
                .running
                .insert(self.task_id.clone(), execution.id.clone());
            inner
                .cancels
                .insert(execution.id.clone(), self.cancel.clone());
        }
    }
}

/// Unregisters a task's execution when its spawned task ends, however it ends, and
/// wakes whoever waits for the runner to be idle.
struct Registered<'a> {
    runner: &'a Runner,
    task_id: &'a str,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        {
            let mut inner = self.runner.lock();
            if let Some(id) = inner.running.remove(self.task_id) {
                inner.cancels.remove(&id);
            }
        }
        self.runner.idle.notify_waiters();
    }
}
