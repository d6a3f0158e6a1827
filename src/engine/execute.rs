//! An execution as the runner and `cmap run` start it: [`Engine::run`] with a panic
//! contained, and one log line when it ends, whatever the end.
//!
//! A panic is a bug, but one record or one response must not take the server down with
//! it, nor leave the task looking busy forever: the panic is caught at the execution's
//! edge, the stored execution is closed as failed with the panic's message (its
//! checkpoint stays, so the next run resumes), and the caller gets it back like any
//! other failed execution.

use std::panic::AssertUnwindSafe;
use std::sync::Mutex;

use chrono::Utc;
use futures_util::FutureExt;

use super::{CancellationToken, Engine, EngineError, Observer, RunRequest, MAX_EXECUTION_ERRORS};
use crate::store::{Batch, ExecutionStatus, SyncError, SyncExecution, TaskUpdate};

impl Engine {
    /// Runs one execution like [`Engine::run`], with a panic inside it contained: the
    /// execution is then closed as `failed` with the panic's message (`Ok`), or, when
    /// the panic came before the execution was stored, [`EngineError::Panicked`]. Logs
    /// the end ([`log_end`]) in every case.
    pub async fn execute(
        &self,
        req: RunRequest<'_>,
        observer: &dyn Observer,
        cancel: &CancellationToken,
    ) -> Result<SyncExecution, EngineError> {
        let task_id = req.task.id.clone();
        let tracking = Tracking {
            inner: observer,
            started: Mutex::new(None),
        };
        let result = match AssertUnwindSafe(self.run(req, &tracking, cancel))
            .catch_unwind()
            .await
        {
            Ok(result) => result,
            Err(payload) => {
                let message = panic_message(payload.as_ref());
                let started = tracking
                    .started
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                match started {
                    // The store (or whatever panicked) may panic again: contained too.
                    Some((tenant, id)) => std::panic::catch_unwind(AssertUnwindSafe(|| {
                        self.close_panicked(&tenant, &id, &message)
                    }))
                    .unwrap_or_else(|_| Err(EngineError::Panicked(message.clone()))),
                    None => Err(EngineError::Panicked(message)),
                }
            }
        };
        match &result {
            Ok(execution) => log_end(execution),
            Err(e) => tracing::error!(task = %task_id, error = %e, "execution could not run"),
        }
        result
    }

    /// Closes execution `id` (left `running` by a panic) as failed with `message`, and
    /// counts it in its task's state. The task state keeps its checkpoint: the next run
    /// resumes from the last committed page.
    fn close_panicked(
        &self,
        tenant: &str,
        id: &str,
        message: &str,
    ) -> Result<SyncExecution, EngineError> {
        let mut execution = self
            .store
            .execution(tenant, id)?
            .ok_or_else(|| EngineError::NoExecution(id.to_string()))?;
        if execution.status != ExecutionStatus::Running {
            // It was closed before the panic (say, in an observer): nothing to repair.
            return Ok(execution);
        }
        let error = format!(
            "cmap panicked during this execution: {message} (a bug: please report it); the next run resumes from its last checkpoint"
        );
        if execution.errors.len() >= MAX_EXECUTION_ERRORS {
            execution.errors.pop();
        }
        execution.errors.push(SyncError {
            timestamp: Utc::now(),
            phase: "panic".into(),
            record_id: None,
            external_id: None,
            error: error.clone(),
            details: None,
            recoverable: true,
        });
        // Counted in the task's stats like any failed run; the checkpoint is left as the
        // last committed page wrote it.
        let mut batch = Batch::new(tenant);
        super::close_execution(
            &mut batch,
            &mut execution,
            TaskUpdate::default(),
            ExecutionStatus::Failed,
            Some(error),
        );
        // A rare path (a bug already happened): committed inline, not worth a thread.
        self.store.commit(batch)?;
        Ok(execution)
    }
}

/// The server log's line for an execution that ended: task, execution id, status,
/// counts, duration and the error that ended it, as structured fields (`tracing`).
/// Success is `info`, partial and cancelled `warn`, failed `error`.
pub fn log_end(e: &SyncExecution) {
    let r = &e.results;
    let error = match e.status {
        ExecutionStatus::Success => None,
        _ => e.errors.last().map(|err| err.error.as_str()),
    };
    macro_rules! end {
        ($level:ident) => {
            tracing::$level!(
                task = %e.sync_task_id,
                execution = %e.id,
                tenant = %e.tenant_id,
                status = e.status.as_str(),
                triggered_by = ?e.triggered_by,
                fetched = r.fetched,
                created = r.created,
                updated = r.updated,
                skipped = r.skipped,
                failed = r.failed,
                retries = e.retry_count,
                duration_ms = e.duration_ms.unwrap_or(0),
                error,
                "execution finished"
            )
        };
    }
    match e.status {
        ExecutionStatus::Success => end!(info),
        ExecutionStatus::Partial | ExecutionStatus::Cancelled => end!(warn),
        ExecutionStatus::Failed | ExecutionStatus::Running => end!(error),
    }
}

/// The text of a panic's payload (`panic!("...")` gives a `&str` or a `String`).
pub(super) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

/// Remembers which execution the run stored, for closing it after a panic.
struct Tracking<'a> {
    inner: &'a dyn Observer,
    /// (tenant, execution id), from the first progress report (made right after the
    /// execution is first stored).
    started: Mutex<Option<(String, String)>>,
}

impl Observer for Tracking<'_> {
    fn progress(&self, execution: &SyncExecution) {
        {
            let mut started = self.started.lock().unwrap_or_else(|e| e.into_inner());
            if started.is_none() {
                *started = Some((execution.tenant_id.clone(), execution.id.clone()));
            }
        }
        self.inner.progress(execution);
    }
    fn page_committed(&self, execution: &SyncExecution, page: u64) {
        self.inner.page_committed(execution, page);
    }
}
