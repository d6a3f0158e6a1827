//! Pruning while serving: a pass when the server starts and then every [`INTERVAL`],
//! removing what the retention settings say has expired (docs/sync.md, "Retention").
//!
//! A pass is a sequence of bounded store calls ([`crate::store::Store::prune`], at most
//! [`BATCH`] records each), each on tokio's blocking pool: the commit lock is held for
//! one call at a time, so runs and webhook deliveries commit in between, and the async
//! workers never wait on the disk.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::engine::CancellationToken;
use crate::store::{PruneRequest, Pruned, Retention, Store};

/// Time between two passes. A pass in the steady state removes what the last ten minutes
/// pushed past the retention: a few records, in milliseconds.
pub const INTERVAL: Duration = Duration::from_secs(10 * 60);

/// Records one store call may remove.
pub const BATCH: usize = 1000;

/// The pruning task of a server; [`Pruner::stop`] ends it.
pub struct Pruner {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Pruner {
    /// Stops pruning and waits for the call in flight (one bounded call) to finish, so
    /// that once this returns the task holds nothing of the store.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// Starts pruning `store` by `retention`: a pass now, then every [`INTERVAL`].
pub fn spawn(store: Arc<dyn Store>, retention: Retention) -> Pruner {
    let stop = CancellationToken::new();
    let task = tokio::spawn(run(store, retention, INTERVAL, stop.clone()));
    Pruner { stop, task }
}

async fn run(
    store: Arc<dyn Store>,
    retention: Retention,
    every: Duration,
    stop: CancellationToken,
) {
    let mut ticks = tokio::time::interval(every);
    // After a long pass (or a suspend), the next one waits a whole interval: passes
    // never run back to back to catch up.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            // Shutdown: `pass` has awaited its last call, so nothing is in flight.
            _ = stop.cancelled() => return,
            // The first tick completes at once: a pass at start.
            _ = ticks.tick() => {}
        }
        pass(&store, retention, &stop).await;
    }
}

/// One pass, call after call until it is complete, the store fails, or `stop` is
/// cancelled (checked between calls). What it removed.
pub async fn pass(
    store: &Arc<dyn Store>,
    retention: Retention,
    stop: &CancellationToken,
) -> Pruned {
    let mut total = Pruned::default();
    let mut after = None;
    while !stop.is_cancelled() {
        let request = PruneRequest {
            retention,
            now: Utc::now(),
            limit: BATCH,
            after: after.take(),
        };
        let store = store.clone();
        match tokio::task::spawn_blocking(move || store.prune(&request)).await {
            Ok(Ok(step)) => {
                total.add(&step);
                match step.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "pruning failed; the next pass tries again");
                break;
            }
            Err(e) => {
                tracing::error!(error = %e, "pruning panicked; the next pass tries again");
                break;
            }
        }
    }
    // Then the audit log, in calls of the same size, until one removes less than it may.
    while !stop.is_cancelled() {
        let store = store.clone();
        let audit = retention.audit;
        let call = move || store.prune_audit(&audit, Utc::now(), BATCH);
        match tokio::task::spawn_blocking(call).await {
            Ok(Ok(removed)) => {
                total.audit_entries = total.audit_entries.saturating_add(removed);
                if removed < BATCH as u64 {
                    break;
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "pruning the audit log failed; the next pass tries again");
                break;
            }
            Err(e) => {
                tracing::error!(error = %e, "pruning the audit log panicked; the next pass tries again");
                break;
            }
        }
    }
    if total.dead_letters > 0 {
        // The only copy of those records: say so louder.
        tracing::warn!(
            executions = total.executions,
            logs = total.logs,
            dead_letters = total.dead_letters,
            event_ids = total.event_ids,
            audit_entries = total.audit_entries,
            "pruned state past its retention, dead letters that were never replayed among it"
        );
    } else if total.total() > 0 {
        tracing::info!(
            executions = total.executions,
            logs = total.logs,
            dead_letters = total.dead_letters,
            event_ids = total.event_ids,
            audit_entries = total.audit_entries,
            "pruned state past its retention"
        );
    }
    total
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use chrono::{DateTime, TimeDelta};

    use super::*;
    use crate::store::{
        Batch, ExecutionResults, ExecutionStatus, Op, Page, PageRequest, Phase, Progress,
        SledStore, SyncExecution, TriggeredBy,
    };

    fn execution(id: &str, started_at: DateTime<Utc>) -> SyncExecution {
        SyncExecution {
            id: id.into(),
            tenant_id: "default".into(),
            sync_task_id: "t".into(),
            tenant_integration_id: "files".into(),
            started_at,
            completed_at: Some(started_at),
            duration_ms: Some(0),
            triggered_by: TriggeredBy::Schedule,
            triggered_by_user_id: None,
            status: ExecutionStatus::Success,
            progress: Progress {
                phase: Phase::Complete,
                total_records: None,
                processed_records: 0,
                percentage: 100.0,
            },
            results: ExecutionResults::default(),
            errors: Vec::new(),
            retry_count: 0,
            retry_of: None,
        }
    }

    fn put(store: &dyn Store, executions: &[SyncExecution]) {
        let mut batch = Batch::new("default");
        for e in executions {
            batch.push(Op::PutExecution(e.clone()));
        }
        store.commit(batch).expect("commit");
    }

    fn ids(store: &dyn Store) -> Vec<String> {
        let page: Page<SyncExecution, _> = store
            .executions("default", None, &PageRequest::default())
            .expect("list");
        page.items.into_iter().map(|e| e.id).collect()
    }

    /// Waits (bounded: 1,000 virtual seconds on the paused clock) until the store lists
    /// `want`.
    async fn until(store: &dyn Store, want: &[&str]) {
        for _ in 0..1000 {
            if ids(store) == want {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        assert_eq!(ids(store), want);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pass_at_start_then_one_every_interval_until_stopped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).expect("store"));
        let now = Utc::now();
        let old = now - TimeDelta::days(3);
        put(&*store, &[execution("old-1", old), execution("new", now)]);
        let retention = Retention {
            execution_days: NonZeroU32::MIN.saturating_add(1),
            ..Retention::default()
        };
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(store.clone(), retention, INTERVAL, stop.clone()));
        until(&*store, &["new"]).await;

        // Expired after the first pass: it stays until the next one, an interval later.
        put(&*store, &[execution("old-2", old)]);
        tokio::time::sleep(INTERVAL / 2).await;
        assert_eq!(ids(&*store), ["new", "old-2"]);
        until(&*store, &["new"]).await;

        stop.cancel();
        task.await.expect("the pruning task ends");
        put(&*store, &[execution("old-3", old)]);
        tokio::time::sleep(INTERVAL * 2).await;
        assert_eq!(ids(&*store), ["new", "old-3"], "no pass after stop");
    }

    #[tokio::test]
    async fn a_pass_prunes_the_audit_log_too() {
        use crate::store::audit::{action, Actor, Details, Outcome, Target};
        use crate::store::{AuditEntry, AuditFilter, AuditRetention};
        let dir = tempfile::tempdir().expect("temp dir");
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).expect("store"));
        let now = Utc::now();
        // More than one call's worth past the limit, so the pass makes several calls.
        let entries = BATCH + 10;
        let mut batch = Batch::new("default");
        for i in 0..entries {
            batch.push(Op::PutAudit(AuditEntry::new(
                now - TimeDelta::seconds(i as i64),
                Some("default"),
                Actor::operator(),
                action::SCHEMA_UPDATE,
                Target::new("schema", format!("s-{i}")),
                Outcome::Success,
                Details::none(),
            )));
        }
        store.commit(batch).expect("commit");
        let retention = Retention {
            audit: AuditRetention {
                per_scope: NonZeroU32::new(5).expect("nonzero"),
                days: NonZeroU32::MIN,
            },
            ..Retention::default()
        };
        let pruned = pass(&store, retention, &CancellationToken::new()).await;
        assert_eq!(pruned.audit_entries, (entries - 5) as u64);
        let left = store
            .audit_entries(&AuditFilter::default(), &PageRequest::default())
            .expect("list");
        let targets: Vec<String> = left.items.into_iter().map(|e| e.target.id).collect();
        assert_eq!(
            targets,
            ["s-0", "s-1", "s-2", "s-3", "s-4"],
            "the newest five"
        );
    }
}
