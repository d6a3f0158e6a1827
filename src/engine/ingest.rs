//! Records pushed to cmap (webhooks) rather than pulled by a connector: each delivery is
//! one execution; the deliveries queued for a task are applied as one page and committed
//! in one atomic, flushed batch (the fsync is the cost of a delivery).

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use chrono::Utc;
use serde_json::{json, Value};

use super::page::RecordOutcome;
use super::MAX_EXECUTION_ERRORS;
use super::{
    close_execution, commit_page, log, new_execution, Engine, EngineError, NewExecution,
    PageContext, PageInput,
};
use crate::compile::ir::{Connection, Task};
use crate::store::{
    Batch, ExecutionStatus, LogLevel, Op, Phase, SyncError, SyncExecution, TaskUpdate, TriggeredBy,
};

/// The integration of records that name none: no schema integration, no connection.
pub const WEBHOOK_INTEGRATION: &str = "webhook";

/// One webhook delivery: its records and the sender's event id.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    pub records: Vec<Value>,
    pub event_id: Option<String>,
}

/// What became of one delivery of a batch.
#[derive(Clone, Debug, PartialEq)]
pub enum Ingested {
    /// Its event id was stored before (or earlier in the same batch): nothing stored.
    Duplicate,
    /// Stored: its execution, with the counts and errors of its own records.
    Stored(Box<SyncExecution>),
}

impl Engine {
    /// The integration a delivery's records belong to. A webhook task may have no
    /// connection at all: records then belong to the schema's integration, else to
    /// "webhook". The same rule as `Engine::run`: external ids belong to the system that
    /// issued them.
    pub fn ingest_integration(&self, task: &Task, connections: &[Arc<Connection>]) -> String {
        task.schema
            .integration
            .clone()
            .or_else(|| {
                self.connection_for(task, connections)
                    .ok()
                    .map(|c| c.integration.clone())
            })
            .unwrap_or_else(|| WEBHOOK_INTEGRATION.to_string())
    }

    /// Stores `deliveries` for `task` in one atomic, flushed commit; what became of each,
    /// in order. Each delivery is its own execution (triggered by webhook) with its own
    /// counts, errors, dead letters and log, as if delivered alone, except that its
    /// records see the records of the deliveries before it in the batch (two deliveries
    /// creating the same external id make one shard). A delivery whose event id was
    /// stored before, or appears earlier in the batch, is [`Ingested::Duplicate`] and
    /// writes nothing; the others mark their event id seen
    /// ([`crate::store::Store::event_seen`]) in the same commit. Once this returns `Ok`
    /// every stored delivery is durable; on `Err` none is.
    ///
    /// Blocks on the store's fsync: async callers run it on a blocking thread. A batch
    /// that conflicts with another writer of the same shards (a run, another task) is
    /// applied again against the fresh store ([`super::commit_page`]). Two batches for
    /// the same task must not run at once, so that an event id is checked before the
    /// other batch marks it; the caller (serve's per-task queue) serialises them.
    ///
    /// A panic inside (a bug) is contained: nothing of the batch is stored but one
    /// failed execution per delivery, carrying the panic's message, with its event id
    /// left unmarked so that the sender's redelivery is taken; the result is then
    /// [`EngineError::Panicked`].
    pub fn ingest_batch(
        &self,
        task: &Task,
        connections: &[Arc<Connection>],
        deliveries: Vec<Delivery>,
    ) -> Result<Vec<Ingested>, EngineError> {
        let sizes: Vec<usize> = deliveries.iter().map(|d| d.records.len()).collect();
        match std::panic::catch_unwind(AssertUnwindSafe(|| {
            self.ingest_batch_inner(task, connections, deliveries)
        })) {
            Ok(result) => result,
            Err(payload) => {
                let message = super::execute::panic_message(payload.as_ref());
                // The store (or whatever panicked) may panic again: contained too.
                let recorded = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    self.record_panicked(task, connections, &sizes, &message)
                }));
                if !matches!(recorded, Ok(Ok(()))) {
                    tracing::error!(task = %task.id, "the failed executions of a panicked webhook batch could not be stored");
                }
                Err(EngineError::Panicked(message))
            }
        }
    }

    /// One failed execution per delivery of a batch that panicked, in one commit.
    fn record_panicked(
        &self,
        task: &Task,
        connections: &[Arc<Connection>],
        sizes: &[usize],
        message: &str,
    ) -> Result<(), EngineError> {
        let tenant = task.tenant.clone();
        let integration = self.ingest_integration(task, connections);
        let error = format!(
            "cmap panicked while storing this delivery: {message} (a bug: please report it); nothing of it was stored and its event id was not marked, so a redelivery is taken"
        );
        let mut batch = Batch::new(&tenant);
        let mut executions = Vec::with_capacity(sizes.len());
        for &size in sizes {
            let mut execution = new_execution(NewExecution {
                tenant: &tenant,
                task_id: &task.id,
                integration: &integration,
                triggered_by: TriggeredBy::Webhook,
                retry_of: None,
                phase: Phase::Transforming,
                total_records: Some(size as u64),
            });
            execution.errors.push(SyncError {
                timestamp: Utc::now(),
                phase: "panic".into(),
                record_id: None,
                external_id: None,
                error: error.clone(),
                details: None,
                recoverable: true,
            });
            close_execution(
                &mut batch,
                &mut execution,
                TaskUpdate::default(),
                ExecutionStatus::Failed,
                Some(error.clone()),
            );
            executions.push(execution);
        }
        self.store.commit(batch)?;
        for execution in &executions {
            super::log_end(execution);
        }
        Ok(())
    }

    fn ingest_batch_inner(
        &self,
        task: &Task,
        connections: &[Arc<Connection>],
        deliveries: Vec<Delivery>,
    ) -> Result<Vec<Ingested>, EngineError> {
        let tenant = task.tenant.clone();
        let integration = self.ingest_integration(task, connections);

        // Which deliveries are stored: a redelivery (seen before, or twice in this batch)
        // is not.
        let mut seen_here = HashSet::new();
        let mut stored = Vec::with_capacity(deliveries.len());
        for d in &deliveries {
            let duplicate = match &d.event_id {
                Some(id) => {
                    !seen_here.insert(id.clone()) || self.store.event_seen(&tenant, &task.id, id)?
                }
                None => false,
            };
            stored.push(!duplicate);
        }
        if !stored.iter().any(|s| *s) {
            return Ok(deliveries.iter().map(|_| Ingested::Duplicate).collect());
        }

        // One page of every stored delivery's records, in order, so later records see
        // earlier ones (the page's overlay).
        let page_execution = uuid::Uuid::now_v7().to_string();
        let records: Vec<Value> = deliveries
            .iter()
            .zip(&stored)
            .filter(|(_, s)| **s)
            .flat_map(|(d, _)| d.records.iter().cloned())
            .collect();
        let ctx = PageContext {
            store: &*self.store,
            tenant: &tenant,
            schema: &task.schema,
            integration: &integration,
            task_id: &task.id,
            task_config: &task.config.values,
            execution_id: &page_execution,
            sweep_mark: None,
            now: Utc::now(),
        };
        let input = PageInput {
            records: &records,
            deleted: &[],
            invalid: &[],
            seq: 0,
        };
        // Each attempt (a conflict applies the page again) splits the page's outcome
        // back into one execution per delivery.
        let (_, ingested) = commit_page(&ctx, &input, |outcome| {
            split(task, &tenant, &integration, &deliveries, &stored, outcome)
        })?;
        for i in &ingested {
            if let Ingested::Stored(execution) = i {
                super::log_end(execution);
            }
        }
        Ok(ingested)
    }
}

/// Splits a batch's page `outcome` into one execution per stored delivery: each gets the
/// counts, errors and dead letters of its own records, its log line, its event id marked
/// seen and its close (added to the task's stats), all pushed onto the page's batch.
fn split(
    task: &Task,
    tenant: &str,
    integration: &str,
    deliveries: &[Delivery],
    stored: &[bool],
    outcome: &mut super::PageOutcome,
) -> Vec<Ingested> {
    // One outcome per record, by construction of `apply_page`.
    debug_assert_eq!(
        outcome.per_record.len(),
        deliveries
            .iter()
            .zip(stored)
            .filter(|(_, s)| **s)
            .map(|(d, _)| d.records.len())
            .sum::<usize>()
    );
    // The page's failed records, in order, with their errors and dead letters: each
    // goes back to its delivery's execution.
    let batch = &mut outcome.batch;
    let mut dead_letters = Vec::new();
    batch.ops.retain(|op| match op {
        Op::PutDeadLetter(d) => {
            dead_letters.push(d.clone());
            false
        }
        _ => true,
    });
    let mut dead_letters = dead_letters.into_iter();
    let mut errors = outcome.errors.clone().into_iter();
    let mut outcomes = outcome.per_record.iter();

    let mut ingested = Vec::with_capacity(deliveries.len());
    for (delivery, stored) in deliveries.iter().zip(stored) {
        if !stored {
            ingested.push(Ingested::Duplicate);
            continue;
        }
        let mut execution = new_execution(NewExecution {
            tenant,
            task_id: &task.id,
            integration,
            triggered_by: TriggeredBy::Webhook,
            retry_of: None,
            phase: Phase::Transforming,
            total_records: Some(delivery.records.len() as u64),
        });
        let mut seq = 0;
        for _ in &delivery.records {
            let r = &mut execution.results;
            r.fetched += 1;
            match outcomes.next() {
                Some(RecordOutcome::Created) => r.created += 1,
                Some(RecordOutcome::Updated) => r.updated += 1,
                Some(RecordOutcome::Skipped) => r.skipped += 1,
                Some(RecordOutcome::Failed) | None => {
                    r.failed += 1;
                    if let Some(e) = errors.next() {
                        if execution.errors.len() < MAX_EXECUTION_ERRORS {
                            execution.errors.push(e);
                        }
                    }
                    if let Some(mut d) = dead_letters.next() {
                        d.execution_id = execution.id.clone();
                        d.seq = seq;
                        seq += 1;
                        batch.push(Op::PutDeadLetter(d));
                    }
                }
            }
        }
        let status = if execution.results.failed > 0 {
            ExecutionStatus::Partial
        } else {
            ExecutionStatus::Success
        };
        batch.push(Op::PutLog(log(
            &execution.id,
            LogLevel::Info,
            "webhook delivery received",
            Some(json!({
                "task": task.id,
                "records": delivery.records.len(),
                "eventId": delivery.event_id,
            })),
        )));
        if let Some(event_id) = &delivery.event_id {
            batch.push(Op::MarkEvent {
                task_id: task.id.clone(),
                event_id: event_id.clone(),
                at: execution.started_at,
            });
        }
        // Closes the execution and adds it to the task's stats, in the same commit.
        close_execution(batch, &mut execution, TaskUpdate::default(), status, None);
        ingested.push(Ingested::Stored(Box::new(execution)));
    }
    ingested
}
