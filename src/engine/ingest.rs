//! Records pushed to cmap (webhooks) rather than pulled by a connector: one execution
//! whose single page is the delivery, committed in one atomic batch.

use std::sync::Arc;

use chrono::Utc;
use serde_json::{json, Value};

use super::MAX_EXECUTION_ERRORS;
use super::{apply_page, log, Engine, EngineError, PageContext, Quiet, DEFAULT_TENANT};
use crate::compile::ir::{Connection, Task};
use crate::store::{
    ExecutionResults, ExecutionStatus, LogLevel, Op, Phase, Progress, SyncExecution, TaskState,
    TriggeredBy,
};

/// The integration of records that name none: no schema integration, no connection.
pub const WEBHOOK_INTEGRATION: &str = "webhook";

impl Engine {
    /// The tenant a delivery to `task` is stored in: its connection's, else the default.
    pub fn ingest_tenant(&self, task: &Task, connections: &[Arc<Connection>]) -> String {
        self.connection_for(task, connections)
            .ok()
            .and_then(|c| c.tenant.clone())
            .unwrap_or_else(|| DEFAULT_TENANT.to_string())
    }

    /// Stores one delivery of `records` for `task`: one execution (triggered by
    /// webhook) whose only page is `records`, mapped through the task's schema. The
    /// shards, dead letters, the closed execution, the task's stats and, when given,
    /// `event_id` marked seen ([`crate::store::Store::event_seen`]) go into one atomic,
    /// flushed commit: once this returns `Ok` the delivery is durable, and a redelivery
    /// of the same event can be recognised. Failing records make the execution partial.
    ///
    /// Blocks on the store's fsync: async callers run it on a blocking thread. Two
    /// deliveries to the same task must not run at once (each maps against the store as
    /// it was before the other's commit); the caller serialises them.
    pub fn ingest(
        &self,
        task: &Task,
        connections: &[Arc<Connection>],
        records: Vec<Value>,
        event_id: Option<&str>,
    ) -> Result<SyncExecution, EngineError> {
        // A webhook task may have no connection at all: records then belong to the
        // schema's integration, else to "webhook", in the default tenant.
        let connection = self.connection_for(task, connections).ok();
        let tenant = self.ingest_tenant(task, connections);
        // The same rule as `Engine::run`: external ids belong to the system that
        // issued them.
        let integration = task
            .schema
            .integration
            .clone()
            .or_else(|| connection.as_ref().map(|c| c.integration.clone()))
            .unwrap_or_else(|| WEBHOOK_INTEGRATION.to_string());
        let state = self
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
            triggered_by: TriggeredBy::Webhook,
            triggered_by_user_id: None,
            status: ExecutionStatus::Running,
            progress: Progress {
                phase: Phase::Transforming,
                total_records: Some(records.len() as u64),
                processed_records: 0,
                percentage: 0.0,
            },
            results: ExecutionResults::default(),
            errors: Vec::new(),
            retry_count: 0,
            retry_of: None,
        };
        let ctx = PageContext {
            store: &*self.store,
            tenant: &tenant,
            schema: &task.schema,
            integration: &integration,
            task_id: &task.id,
            task_config: &task.config,
            execution_id: &execution.id,
            sweep_mark: None,
            now,
        };
        let outcome = apply_page(&ctx, &records, &[], &[], 0)?;
        execution.results.add(&outcome.results);
        execution.errors = outcome
            .errors
            .into_iter()
            .take(MAX_EXECUTION_ERRORS)
            .collect();
        let status = if execution.results.failed > 0 {
            ExecutionStatus::Partial
        } else {
            ExecutionStatus::Success
        };
        let mut batch = outcome.batch;
        batch.push(Op::PutLog(log(
            &execution.id,
            LogLevel::Info,
            "webhook delivery received",
            Some(json!({
                "task": task.id,
                "records": records.len(),
                "eventId": event_id,
            })),
        )));
        if let Some(event_id) = event_id {
            batch.push(Op::MarkEvent {
                task_id: task.id.clone(),
                event_id: event_id.to_string(),
                at: now,
            });
        }
        // commit_finish closes the execution, updates the task's stats and commits the
        // whole batch at once.
        Ok(self.commit_finish(batch, execution, state, status, None, &Quiet)?)
    }
}
