//! Records pushed to cmap (webhooks) rather than pulled by a connector: one execution
//! whose single page is the delivery, committed in one atomic batch.

use std::sync::Arc;

use chrono::Utc;
use serde_json::{json, Value};

use super::MAX_EXECUTION_ERRORS;
use super::{
    close_execution, commit_page, log, new_execution, Engine, EngineError, NewExecution,
    PageContext, PageInput, DEFAULT_TENANT,
};
use crate::compile::ir::{Connection, Task};
use crate::store::{ExecutionStatus, LogLevel, Op, Phase, SyncExecution, TaskUpdate, TriggeredBy};

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
    /// Blocks on the store's fsync: async callers run it on a blocking thread. A
    /// delivery that conflicts with another writer of the same shards (another
    /// delivery, a run) is applied again against the fresh store
    /// ([`super::commit_page`]).
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
        let execution = new_execution(NewExecution {
            tenant: &tenant,
            task_id: &task.id,
            integration: &integration,
            triggered_by: TriggeredBy::Webhook,
            retry_of: None,
            phase: Phase::Transforming,
            total_records: Some(records.len() as u64),
        });
        let ctx = PageContext {
            store: &*self.store,
            tenant: &tenant,
            schema: &task.schema,
            integration: &integration,
            task_id: &task.id,
            task_config: &task.config.values,
            execution_id: &execution.id,
            sweep_mark: None,
            now: execution.started_at,
        };
        let input = PageInput {
            records: &records,
            deleted: &[],
            invalid: &[],
            seq: 0,
        };
        let (_, execution) = commit_page(&ctx, &input, |outcome| {
            let mut execution = execution.clone();
            execution.results.add(&outcome.results);
            execution.errors = outcome
                .errors
                .iter()
                .take(MAX_EXECUTION_ERRORS)
                .cloned()
                .collect();
            let status = if execution.results.failed > 0 {
                ExecutionStatus::Partial
            } else {
                ExecutionStatus::Success
            };
            outcome.batch.push(Op::PutLog(log(
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
                outcome.batch.push(Op::MarkEvent {
                    task_id: task.id.clone(),
                    event_id: event_id.to_string(),
                    at: Utc::now(),
                });
            }
            // Closes the execution and adds it to the task's stats, in the same commit.
            close_execution(
                &mut outcome.batch,
                &mut execution,
                TaskUpdate::default(),
                status,
                None,
            );
            execution
        })?;
        super::log_end(&execution);
        Ok(execution)
    }
}
