//! Prometheus metrics, in the text exposition format (`GET /metrics`): executions by
//! status, records by outcome, execution durations, reloads, webhook requests, queue
//! depth.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::store::SyncExecution;

/// Upper bounds (seconds) of the execution duration histogram.
const BUCKETS: &[f64] = &[0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0];

#[derive(Default)]
pub struct Metrics {
    executions: Mutex<BTreeMap<&'static str, u64>>,
    execution_errors: AtomicU64,
    fetched: AtomicU64,
    created: AtomicU64,
    updated: AtomicU64,
    skipped: AtomicU64,
    failed: AtomicU64,
    /// Shards deleted (not records read: the source reported them deleted, or a full
    /// read no longer saw them).
    deleted: AtomicU64,
    /// Cumulative counts per bucket, then the sum (ms) and count.
    durations: Mutex<(Vec<u64>, f64, u64)>,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    webhook_requests: Mutex<BTreeMap<u16, u64>>,
    webhook_records: AtomicU64,
    queue_depth: AtomicI64,
    webhook_in_flight: AtomicI64,
    webhook_batches: AtomicU64,
    webhook_batched: AtomicU64,
}

impl Metrics {
    pub fn execution_finished(&self, e: &SyncExecution) {
        *self
            .executions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(e.status.as_str())
            .or_default() += 1;
        let r = &e.results;
        self.fetched.fetch_add(r.fetched, Ordering::Relaxed);
        self.created.fetch_add(r.created, Ordering::Relaxed);
        self.updated.fetch_add(r.updated, Ordering::Relaxed);
        self.skipped.fetch_add(r.skipped, Ordering::Relaxed);
        self.failed.fetch_add(r.failed, Ordering::Relaxed);
        self.deleted.fetch_add(r.deleted, Ordering::Relaxed);
        let secs = e.duration_ms.unwrap_or(0) as f64 / 1000.0;
        let mut d = self.durations.lock().unwrap_or_else(|p| p.into_inner());
        if d.0.is_empty() {
            d.0 = vec![0; BUCKETS.len()];
        }
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                d.0[i] += 1;
            }
        }
        d.1 += secs;
        d.2 += 1;
    }

    /// An execution that could not start (no connection, credentials).
    pub fn execution_error(&self) {
        self.execution_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn reload(&self, ok: bool) {
        if ok {
            &self.reloads_ok
        } else {
            &self.reloads_failed
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    pub fn webhook(&self, status: u16, records: u64) {
        *self
            .webhook_requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(status)
            .or_default() += 1;
        self.webhook_records.fetch_add(records, Ordering::Relaxed);
    }

    /// Webhook deliveries admitted (`1`) or answered (`-1`).
    pub fn webhook_in_flight(&self, delta: i64) {
        self.webhook_in_flight.fetch_add(delta, Ordering::Relaxed);
    }

    /// One batch of `deliveries` webhook deliveries stored with one commit.
    pub fn webhook_batch(&self, deliveries: usize) {
        self.webhook_batches.fetch_add(1, Ordering::Relaxed);
        self.webhook_batched
            .fetch_add(deliveries as u64, Ordering::Relaxed);
    }

    pub fn queue_depth_add(&self, delta: i64) {
        self.queue_depth.fetch_add(delta, Ordering::Relaxed);
    }

    /// The exposition text; `running` is the number of executions running now.
    pub fn render(&self, running: usize) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP cmap_executions_total Executions finished, by status.\n# TYPE cmap_executions_total counter");
        for (status, n) in self
            .executions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(out, "cmap_executions_total{{status=\"{status}\"}} {n}");
        }
        let _ = writeln!(out, "# HELP cmap_execution_start_errors_total Executions that could not start.\n# TYPE cmap_execution_start_errors_total counter");
        let _ = writeln!(
            out,
            "cmap_execution_start_errors_total {}",
            self.execution_errors.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# HELP cmap_records_total Records processed by executions, by outcome (deleted: shards deleted).\n# TYPE cmap_records_total counter");
        for (outcome, n) in [
            ("fetched", &self.fetched),
            ("created", &self.created),
            ("updated", &self.updated),
            ("skipped", &self.skipped),
            ("failed", &self.failed),
            ("deleted", &self.deleted),
        ] {
            let _ = writeln!(
                out,
                "cmap_records_total{{outcome=\"{outcome}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(out, "# HELP cmap_execution_duration_seconds Execution durations.\n# TYPE cmap_execution_duration_seconds histogram");
        let d = self.durations.lock().unwrap_or_else(|p| p.into_inner());
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "cmap_execution_duration_seconds_bucket{{le=\"{b}\"}} {}",
                d.0.get(i).copied().unwrap_or(0)
            );
        }
        let _ = writeln!(
            out,
            "cmap_execution_duration_seconds_bucket{{le=\"+Inf\"}} {}",
            d.2
        );
        let _ = writeln!(out, "cmap_execution_duration_seconds_sum {}", d.1);
        let _ = writeln!(out, "cmap_execution_duration_seconds_count {}", d.2);
        drop(d);
        let _ = writeln!(out, "# HELP cmap_reloads_total Pipeline reloads, by result.\n# TYPE cmap_reloads_total counter");
        let _ = writeln!(
            out,
            "cmap_reloads_total{{result=\"ok\"}} {}",
            self.reloads_ok.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "cmap_reloads_total{{result=\"failed\"}} {}",
            self.reloads_failed.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# HELP cmap_webhook_requests_total Webhook requests, by HTTP status.\n# TYPE cmap_webhook_requests_total counter");
        for (status, n) in self
            .webhook_requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "cmap_webhook_requests_total{{status=\"{status}\"}} {n}"
            );
        }
        let _ = writeln!(out, "# HELP cmap_webhook_records_total Records accepted through webhooks.\n# TYPE cmap_webhook_records_total counter");
        let _ = writeln!(
            out,
            "cmap_webhook_records_total {}",
            self.webhook_records.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# HELP cmap_webhook_deliveries_in_flight Webhook deliveries admitted and not yet answered.\n# TYPE cmap_webhook_deliveries_in_flight gauge");
        let _ = writeln!(
            out,
            "cmap_webhook_deliveries_in_flight {}",
            self.webhook_in_flight.load(Ordering::Relaxed).max(0)
        );
        let _ = writeln!(out, "# HELP cmap_webhook_batches_total Commits of queued webhook deliveries.\n# TYPE cmap_webhook_batches_total counter");
        let _ = writeln!(
            out,
            "cmap_webhook_batches_total {}",
            self.webhook_batches.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# HELP cmap_webhook_batched_deliveries_total Webhook deliveries stored through batches.\n# TYPE cmap_webhook_batched_deliveries_total counter");
        let _ = writeln!(
            out,
            "cmap_webhook_batched_deliveries_total {}",
            self.webhook_batched.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# HELP cmap_queue_depth Executions waiting for a free slot.\n# TYPE cmap_queue_depth gauge");
        let _ = writeln!(
            out,
            "cmap_queue_depth {}",
            self.queue_depth.load(Ordering::Relaxed).max(0)
        );
        let _ = writeln!(out, "# HELP cmap_executions_running Executions running now.\n# TYPE cmap_executions_running gauge");
        let _ = writeln!(out, "cmap_executions_running {running}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ExecutionResults, ExecutionStatus, Phase, Progress, TriggeredBy};

    #[test]
    fn records_are_counted_by_outcome_deletions_included() {
        let metrics = Metrics::default();
        let execution = SyncExecution {
            id: "e".into(),
            tenant_id: "default".into(),
            sync_task_id: "t".into(),
            tenant_integration_id: "salesforce".into(),
            started_at: chrono::Utc::now(),
            completed_at: None,
            duration_ms: Some(10),
            triggered_by: TriggeredBy::Schedule,
            triggered_by_user_id: None,
            status: ExecutionStatus::Success,
            progress: Progress {
                phase: Phase::Complete,
                total_records: None,
                processed_records: 5,
                percentage: 100.0,
            },
            results: ExecutionResults {
                fetched: 5,
                created: 1,
                updated: 2,
                skipped: 1,
                failed: 1,
                deleted: 3,
            },
            errors: Vec::new(),
            retry_count: 0,
            retry_of: None,
        };
        metrics.execution_finished(&execution);
        metrics.execution_finished(&execution);
        let text = metrics.render(0);
        for (outcome, n) in [
            ("fetched", 10),
            ("created", 2),
            ("updated", 4),
            ("skipped", 2),
            ("failed", 2),
            ("deleted", 6),
        ] {
            let line = format!("cmap_records_total{{outcome=\"{outcome}\"}} {n}\n");
            assert!(text.contains(&line), "{line} in:\n{text}");
        }
    }
}
