//! Replaying dead letters: the records an execution could not map, run again through
//! the task's current schema (after a fix) into the store.

use std::sync::atomic::AtomicBool;

use chrono::Utc;

use super::{apply_page, log, Engine, EngineError, Observer, PageContext};
use crate::compile::ir::Task;
use crate::store::{
    ExecutionResults, ExecutionStatus, LogLevel, Op, Phase, Progress, SyncExecution, TaskState,
    TriggeredBy,
};

impl Engine {
    /// Replays the dead letters of execution `execution_id` (of `tenant`) through
    /// `task`'s schema. Records that now map are stored and leave the dead-letter store;
    /// records that still fail become dead letters of the new execution.
    pub fn replay(
        &self,
        tenant: &str,
        execution_id: &str,
        task: &Task,
        integration: &str,
        observer: &dyn Observer,
        _cancel: &AtomicBool,
    ) -> Result<SyncExecution, EngineError> {
        let original = self
            .store
            .execution(tenant, execution_id)?
            .ok_or_else(|| EngineError::NoExecution(execution_id.to_string()))?;
        let letters = self.store.dead_letters(tenant, execution_id)?;
        let now = Utc::now();
        let execution = SyncExecution {
            id: uuid::Uuid::new_v4().to_string(),
            tenant_id: tenant.to_string(),
            sync_task_id: task.id.clone(),
            tenant_integration_id: original.tenant_integration_id.clone(),
            started_at: now,
            completed_at: None,
            duration_ms: None,
            triggered_by: TriggeredBy::Retry,
            triggered_by_user_id: None,
            status: ExecutionStatus::Running,
            progress: Progress {
                phase: Phase::Transforming,
                total_records: Some(letters.len() as u64),
                processed_records: 0,
                percentage: 0.0,
            },
            results: ExecutionResults::default(),
            errors: Vec::new(),
            retry_count: 0,
            retry_of: Some(execution_id.to_string()),
        };
        let records: Vec<serde_json::Value> = letters.iter().map(|d| d.record.clone()).collect();
        let ctx = PageContext {
            store: &*self.store,
            tenant,
            schema: &task.schema,
            integration,
            task_id: &task.id,
            task_config: &task.config,
            execution_id: &execution.id,
            sweep_mark: None,
            now,
        };
        let outcome = apply_page(&ctx, &records, &[], &[], 0)?;
        let mut execution = execution;
        execution.results = outcome.results;
        execution.errors = outcome
            .errors
            .into_iter()
            .take(super::MAX_EXECUTION_ERRORS)
            .collect();
        let mut batch = outcome.batch;
        for d in &letters {
            batch.push(Op::RemoveDeadLetter {
                task_id: d.task_id.clone(),
                execution_id: d.execution_id.clone(),
                seq: d.seq,
            });
        }
        batch.push(Op::PutLog(log(
            &execution.id,
            LogLevel::Info,
            &format!(
                "replaying {} failed records of execution {execution_id}",
                letters.len()
            ),
            None,
        )));
        let state = self
            .store
            .task_state(tenant, &task.id)?
            .unwrap_or_else(|| TaskState {
                tenant_id: tenant.to_string(),
                task_id: task.id.clone(),
                ..TaskState::default()
            });
        let status = if execution.results.failed > 0 {
            ExecutionStatus::Partial
        } else {
            ExecutionStatus::Success
        };
        Ok(self.commit_finish(batch, execution, state, status, None, observer)?)
    }
}
