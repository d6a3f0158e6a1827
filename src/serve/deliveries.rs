//! Webhook deliveries in flight: admission into a bounded queue per task, and one
//! drainer per busy task that maps and commits the queued deliveries together.
//!
//! A burst of deliveries used to hold one blocking thread each while it waited for its
//! task's lock (1,000 concurrent deliveries: 525 threads, 1.26 GB). Now:
//! - a delivery is admitted before its body is read, or refused with 503 and
//!   `Retry-After` (senders retry server errors): at most `queue` deliveries per task are
//!   in flight (waiting or being committed), and their bodies stay within a global byte
//!   budget (`memory`), reserved from `Content-Length` (the body limit when it is absent);
//! - queued deliveries wait as raw bytes, not parsed values;
//! - one drainer per task with waiting deliveries takes them in arrival order, parses
//!   them, and stores them with [`Engine::ingest_batch`](crate::engine::Engine): one
//!   execution each, one fsync for all. At most [`COMMITS_AT_ONCE`] batches (of any
//!   tasks) map and commit at once, each on a blocking thread: the threads are bounded
//!   whatever the burst.
//!
//! A delivery is answered 2xx only after its batch is committed; a batch that fails
//! fails each of its deliveries (nothing of it was acknowledged), and the sender retries.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::StatusCode;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use super::http::ApiError;
use super::metrics::Metrics;
use super::state::{Loaded, Shared};
use crate::compile::ir::Task;
use crate::engine::{Delivery, EngineError, Ingested};

/// Batches (of any tasks) mapped and committed at once, each on a blocking thread.
pub const COMMITS_AT_ONCE: usize = 2;
/// A batch takes at most this many deliveries...
const MAX_BATCH_DELIVERIES: usize = 512;
/// ...and this many body bytes (at least one delivery, whatever its size).
const MAX_BATCH_BYTES: usize = 4 << 20;
/// The `Retry-After` of a refused delivery, in seconds.
pub const RETRY_AFTER_SECS: u64 = 1;

/// The deliveries of every task, in flight.
pub struct Deliveries {
    shared: Arc<Shared>,
    metrics: Arc<Metrics>,
    /// Per task: at most this many deliveries admitted and not yet answered.
    queue_limit: usize,
    queues: Mutex<HashMap<String, Queue>>,
    /// The byte budget of bodies admitted and not yet answered.
    memory: Arc<Semaphore>,
    commits: Arc<Semaphore>,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Queued>,
    /// Admitted and not yet answered (waiting, in a batch, or still being read).
    admitted: usize,
    /// A drainer runs for this task.
    draining: bool,
}

/// A delivery waiting for its batch.
struct Queued {
    /// The version it arrived under: a batch never mixes versions of the task.
    loaded: Arc<Loaded>,
    task: Arc<Task>,
    body: Bytes,
    event_id: Option<String>,
    reply: oneshot::Sender<Result<Ingested, ApiError>>,
    /// Its place in the queue and its bytes in the budget, freed when it is answered.
    _admission: Admission,
}

/// A place in a task's queue and a share of the byte budget, held from before the body is
/// read until the delivery is answered.
pub struct Admission {
    owner: Arc<Deliveries>,
    task: String,
    _memory: OwnedSemaphorePermit,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut queues = self.owner.queues.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(q) = queues.get_mut(&self.task) {
            q.admitted = q.admitted.saturating_sub(1);
            if q.admitted == 0 && !q.draining && q.waiting.is_empty() {
                queues.remove(&self.task);
            }
        }
        self.owner.metrics.webhook_in_flight(-1);
    }
}

/// Why a delivery was not admitted.
#[derive(Debug, PartialEq, Eq)]
pub enum Full {
    /// The task's queue holds `limit` deliveries.
    Queue { limit: usize },
    /// The bodies in flight fill the byte budget.
    Memory,
}

impl Full {
    /// 503 with `Retry-After`: the sender retries later, nothing was read.
    pub fn into_error(self, task: &str) -> ApiError {
        let error = match self {
            Full::Queue { limit } => {
                format!("task `{task}` has {limit} deliveries in flight, its queue's limit")
            }
            Full::Memory => "the deliveries in flight fill the server's memory budget".into(),
        };
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            error,
            format!("retry after {RETRY_AFTER_SECS} s (the Retry-After header)"),
        )
        .code("webhook_queue_full");
        e.retry_after = Some(RETRY_AFTER_SECS);
        e
    }
}

impl Deliveries {
    /// `queue_limit` deliveries per task, `memory` bytes of bodies in flight overall.
    pub fn new(
        shared: Arc<Shared>,
        metrics: Arc<Metrics>,
        queue_limit: usize,
        memory: usize,
    ) -> Arc<Deliveries> {
        Arc::new(Deliveries {
            shared,
            metrics,
            queue_limit: queue_limit.max(1),
            queues: Mutex::new(HashMap::new()),
            // Permits are counted in u32 by `try_acquire_many`: the budget stays below.
            memory: Arc::new(Semaphore::new(memory.clamp(1, u32::MAX as usize))),
            commits: Arc::new(Semaphore::new(COMMITS_AT_ONCE)),
        })
    }

    /// Admits a delivery of `bytes` (its announced size, or the body limit) to `task`, or
    /// says why not. Never waits.
    pub fn admit(self: &Arc<Self>, task: &str, bytes: usize) -> Result<Admission, Full> {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let queue = queues.entry(task.to_string()).or_default();
        if queue.admitted >= self.queue_limit {
            return Err(Full::Queue {
                limit: self.queue_limit,
            });
        }
        let want = u32::try_from(bytes.max(1)).unwrap_or(u32::MAX);
        let memory = self
            .memory
            .clone()
            .try_acquire_many_owned(want)
            .map_err(|_| Full::Memory)?;
        queue.admitted += 1;
        self.metrics.webhook_in_flight(1);
        Ok(Admission {
            owner: self.clone(),
            task: task.to_string(),
            _memory: memory,
        })
    }

    /// Queues an admitted delivery and waits for what became of it. The drainer owns
    /// it from here: if the caller goes away (the client hung up), it is still stored or
    /// refused as if the caller had waited.
    pub async fn deliver(
        self: &Arc<Self>,
        admission: Admission,
        loaded: Arc<Loaded>,
        task: Arc<Task>,
        body: Bytes,
        event_id: Option<String>,
    ) -> Result<Ingested, ApiError> {
        let (reply, answer) = oneshot::channel();
        let task_id = task.id.clone();
        let start_drainer = {
            let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
            let queue = queues.entry(task_id.clone()).or_default();
            queue.waiting.push_back(Queued {
                loaded,
                task,
                body,
                event_id,
                reply,
                _admission: admission,
            });
            !std::mem::replace(&mut queue.draining, true)
        };
        if start_drainer {
            tokio::spawn(self.clone().drain(task_id));
        }
        answer.await.unwrap_or_else(|_| {
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the delivery was interrupted",
                "retry the delivery; nothing of it was acknowledged",
            )
            .code("delivery_interrupted"))
        })
    }

    /// Takes the task's waiting deliveries batch by batch until none waits.
    async fn drain(self: Arc<Self>, task_id: String) {
        loop {
            let batch = {
                let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
                let Some(queue) = queues.get_mut(&task_id) else {
                    return;
                };
                let batch = take_batch(&mut queue.waiting);
                if batch.is_empty() {
                    // Under the lock: a delivery queued after this sees `draining` false
                    // and starts a new drainer.
                    queue.draining = false;
                    if queue.admitted == 0 {
                        queues.remove(&task_id);
                    }
                    return;
                }
                batch
            };
            // Bounded blocking threads: wait for a commit slot (queued deliveries keep
            // their places meanwhile; new ones are refused once the queue is full).
            let Ok(permit) = self.commits.clone().acquire_owned().await else {
                // The semaphore is never closed; dropping the batch answers its senders.
                return;
            };
            let shared = self.shared.clone();
            let metrics = self.metrics.clone();
            let joined = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                commit(&shared, &metrics, batch);
            })
            .await;
            if let Err(e) = joined {
                // A panic while committing: its deliveries' senders were dropped, so they
                // are answered "interrupted" and retried. The drainer goes on.
                tracing::error!(task = %task_id, error = %e, "a webhook batch panicked");
            }
        }
    }
}

/// The next batch: the oldest waiting deliveries of one version of the task, within the
/// batch bounds (at least one).
fn take_batch(waiting: &mut VecDeque<Queued>) -> Vec<Queued> {
    let mut batch: Vec<Queued> = Vec::new();
    let mut bytes = 0;
    while let Some(next) = waiting.front() {
        if let Some(first) = batch.first() {
            if !Arc::ptr_eq(&first.loaded, &next.loaded)
                || batch.len() >= MAX_BATCH_DELIVERIES
                || bytes + next.body.len() > MAX_BATCH_BYTES
            {
                break;
            }
        }
        bytes += next.body.len();
        if let Some(q) = waiting.pop_front() {
            batch.push(q);
        }
    }
    batch
}

/// Parses and stores one batch, and answers each of its deliveries. Runs on a blocking
/// thread (parsing and the fsync).
fn commit(shared: &Shared, metrics: &Metrics, batch: Vec<Queued>) {
    let Some(first) = batch.first() else {
        return;
    };
    let task = first.task.clone();
    let connections = first.loaded.program.connections.clone();
    let mut deliveries = Vec::with_capacity(batch.len());
    let mut replies = Vec::with_capacity(batch.len());
    for queued in batch {
        match parse_records(&queued.body) {
            Ok(records) => {
                deliveries.push(Delivery {
                    records,
                    event_id: queued.event_id.clone(),
                });
                replies.push(queued);
            }
            // A body that is no JSON is its delivery's fault alone.
            Err(e) => {
                let _ = queued.reply.send(Err(e));
            }
        }
    }
    if deliveries.is_empty() {
        return;
    }
    metrics.webhook_batch(deliveries.len());
    match shared.engine.ingest_batch(&task, &connections, deliveries) {
        Ok(ingested) => {
            for (queued, outcome) in replies.into_iter().zip(ingested) {
                let _ = queued.reply.send(Ok(outcome));
            }
        }
        // A bug: each delivery got a failed execution saying so; the sender retries.
        Err(e @ EngineError::Panicked(_)) => {
            tracing::error!(task = %task.id, error = %e, "a webhook batch panicked");
            for queued in replies {
                let _ = queued.reply.send(Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "cmap failed while storing this delivery (a bug); nothing of it was stored",
                    "retry later; the task's failed execution and the server log have the details",
                )));
            }
        }
        Err(e) => {
            tracing::error!(task = %task.id, error = %e, "a webhook batch could not be stored");
            for queued in replies {
                let _ = queued.reply.send(Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("the store failed: {e}"),
                    "retry later; the server log has the details",
                )
                .code("store_unavailable")));
            }
        }
    }
}

/// One JSON record or an array of them (an array may hold anything: a non-object
/// element fails as an invalid record).
pub fn parse_records(body: &[u8]) -> Result<Vec<serde_json::Value>, ApiError> {
    use serde_json::Value;
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the body is not JSON: {e}"),
            "send one JSON record (an object) or an array of records",
        )
        .code("invalid_json")
    })?;
    match value {
        Value::Array(records) => Ok(records),
        record @ Value::Object(_) => Ok(vec![record]),
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the body is neither a record nor an array of records",
            "send one JSON record (an object) or an array of records",
        )
        .code("invalid_body")),
    }
}
