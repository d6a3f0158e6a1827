//! Replaying dead letters: the records an execution could not map, run again through
//! the task's current schema (after a fix) into the store.

use super::{
    close_execution, commit_page, log, new_execution, Engine, EngineError, NewExecution, Observer,
    PageContext, PageInput, MAX_EXECUTION_ERRORS,
};
use crate::compile::ir::Task;
use crate::store::{
    ExecutionStatus, Limit, LogLevel, Op, PageRequest, Phase, SyncExecution, TaskUpdate,
    TriggeredBy,
};

impl Engine {
    /// Replays the dead letters of execution `execution_id` (of `tenant`) through
    /// `task`'s schema. Records that now map are stored and leave the dead-letter store;
    /// records that still fail become dead letters of the new execution. Like every
    /// page, a replay that conflicts with another writer of the same shards is applied
    /// again against the fresh store ([`super::commit_page`]). A replay is one page
    /// (one commit): there is no page boundary to cancel at.
    pub fn replay(
        &self,
        tenant: &str,
        execution_id: &str,
        task: &Task,
        integration: &str,
        observer: &dyn Observer,
    ) -> Result<SyncExecution, EngineError> {
        let original = self
            .store
            .execution(tenant, execution_id)?
            .ok_or_else(|| EngineError::NoExecution(execution_id.to_string()))?;
        // Every dead letter of the execution, read page by page; the replay maps them
        // all in one commit.
        let mut letters = Vec::new();
        let mut page = PageRequest::first(Limit::MAX);
        loop {
            let read = self.store.dead_letters(tenant, execution_id, &page)?;
            letters.extend(read.items);
            match read.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        let execution = new_execution(NewExecution {
            tenant,
            task_id: &task.id,
            integration: &original.tenant_integration_id,
            triggered_by: TriggeredBy::Retry,
            retry_of: Some(execution_id.to_string()),
            phase: Phase::Transforming,
            total_records: Some(letters.len() as u64),
        });
        let records: Vec<serde_json::Value> = letters.iter().map(|d| d.record.clone()).collect();
        let ctx = PageContext {
            store: &*self.store,
            tenant,
            schema: &task.schema,
            integration,
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
            execution.results = outcome.results;
            execution.errors = outcome
                .errors
                .iter()
                .take(MAX_EXECUTION_ERRORS)
                .cloned()
                .collect();
            for d in &letters {
                outcome.batch.push(Op::RemoveDeadLetter {
                    task_id: d.task_id.clone(),
                    execution_id: d.execution_id.clone(),
                    seq: d.seq,
                });
            }
            outcome.batch.push(Op::PutLog(log(
                &execution.id,
                LogLevel::Info,
                &format!(
                    "replaying {} failed records of execution {execution_id}",
                    letters.len()
                ),
                None,
            )));
            let status = if execution.results.failed > 0 {
                ExecutionStatus::Partial
            } else {
                ExecutionStatus::Success
            };
            close_execution(
                &mut outcome.batch,
                &mut execution,
                TaskUpdate::default(),
                status,
                None,
            );
            execution
        })?;
        observer.progress(&execution);
        Ok(execution)
    }
}
