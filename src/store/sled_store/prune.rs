//! One bounded call of a pruning pass ([`crate::store::Store::prune`]; the rules are in
//! [`crate::store::retention`]).
//!
//! A call walks, tenant by tenant, first the tenant's expired event ids (oldest first, by
//! `event-by-time`), then each task's executions newest first (by `exec-by-task`), ranking
//! them: an execution is expired when its rank reaches the per-task count or it started
//! before the age cutoff. For each execution it visits it removes dead letters that have
//! expired, then, if the execution itself has expired and nothing holds it (running, a
//! checkpoint's chain, dead letters left), its log lines and finally the execution with
//! every index entry. Budgets of records removed and keys visited bound the call; when
//! one runs out the call stops where it stands (an execution half-removed is visited
//! again) and returns that place.
//!
//! The call runs under the commit lock, so what it checks (running, checkpoints, dead
//! letters) holds when its removals are applied; its removals are applied together at
//! the end, the logs tree's first: a crash in between leaves an execution with fewer log
//! lines, never log lines without their execution. Nothing is flushed: a crash may bring
//! back what the last calls removed, and the next pass removes it again.

use std::collections::HashSet;

use super::keys::{self, key};
use super::{
    backend, decode, execution_index_keys, SledStore, Writes, DEAD, EVENT, EVENT_BY_TIME, EXEC,
    EXEC_BY_TASK, EXEC_BY_TIME, RUNNING, TASK,
};
use crate::store::retention::PruneStage;
use crate::store::{
    ExecutionStatus, PruneCursor, PruneRequest, Pruned, Result, StoreError, SyncExecution,
    TaskState,
};

/// Keys a call may visit for each record it may remove: enough to pass over the newest
/// executions every task keeps (visited, not removed) in a few calls.
const VISITS_PER_RECORD: usize = 8;

/// How far back a checkpoint's `retryOf` chain is followed (and kept). A chain this long
/// is a run resumed ten thousand times; what lies beyond ages out as usual.
const MAX_CHAIN: usize = 10_000;

pub(super) struct Pass<'a> {
    store: &'a SledStore,
    request: &'a PruneRequest,
    /// The state tree's removals of this call; reads through it see them.
    writes: Writes<'a>,
    /// The logs tree's removals.
    logs: sled::Batch,
    removals_left: usize,
    visits_left: usize,
    pruned: Pruned,
    /// Cutoffs in microseconds; `None`: nothing expires by age.
    execution_cutoff: Option<i64>,
    dead_letter_cutoff: Option<i64>,
    event_cutoff: Option<i64>,
}

/// Whether the walk may go on after a record.
enum Visit {
    Done,
    /// A budget ran out before the record was finished: visit it again next call.
    Stopped,
}

impl<'a> Pass<'a> {
    pub(super) fn new(store: &'a SledStore, request: &'a PruneRequest) -> Pass<'a> {
        let limit = request.limit.max(1);
        let retention = &request.retention;
        let micros =
            |cutoff: Option<chrono::DateTime<chrono::Utc>>| cutoff.map(|c| c.timestamp_micros());
        Pass {
            store,
            request,
            writes: Writes::new(&store.state),
            logs: sled::Batch::default(),
            removals_left: limit,
            visits_left: limit.saturating_mul(VISITS_PER_RECORD),
            pruned: Pruned::default(),
            execution_cutoff: micros(retention.execution_cutoff(request.now)),
            dead_letter_cutoff: micros(retention.dead_letter_cutoff(request.now)),
            event_cutoff: micros(retention.event_cutoff(request.now)),
        }
    }

    /// Runs the call: removes what it may and applies it; where the pass goes on.
    pub(super) fn run(mut self) -> Result<Pruned> {
        let tenants = self.store.registered_tenants()?;
        let resume = self.request.after.clone();
        let mut next = None;
        for tenant in &tenants {
            // Tenants before the cursor's are done; the cursor's resumes at its stage;
            // later ones start at their first.
            let stage = match &resume {
                Some(c) if tenant.as_str() < c.tenant.as_str() => continue,
                Some(c) if *tenant == c.tenant => c.stage.clone(),
                _ => PruneStage::Events,
            };
            if let Some(stage) = self.tenant(tenant, stage)? {
                next = Some(PruneCursor {
                    tenant: tenant.clone(),
                    stage,
                });
                break;
            }
        }
        // Logs first: see the module docs.
        let store = self.store;
        store.logs.apply_batch(self.logs).map_err(backend)?;
        store
            .state
            .apply_batch(self.writes.into_batch())
            .map_err(backend)?;
        self.pruned.next = next;
        Ok(self.pruned)
    }

    fn exhausted(&self) -> bool {
        self.removals_left == 0 || self.visits_left == 0
    }

    fn visit(&mut self) {
        self.visits_left = self.visits_left.saturating_sub(1);
    }

    fn removed(&mut self) {
        self.removals_left = self.removals_left.saturating_sub(1);
    }

    /// One tenant from `stage` on; `Some(stage)`: stopped there.
    fn tenant(&mut self, tenant: &str, stage: PruneStage) -> Result<Option<PruneStage>> {
        let (mut task, mut at, mut rank) = match stage {
            PruneStage::Events => {
                if !self.events(tenant)? {
                    return Ok(Some(PruneStage::Events));
                }
                (self.next_task(tenant, None)?, None, 0)
            }
            PruneStage::Executions { task, at, rank } => (Some(task), at, rank),
        };
        let protected = self.protected(tenant)?;
        while let Some(current) = task {
            if let Some(stopped) = self.task(tenant, &current, at.take(), rank, &protected)? {
                return Ok(Some(stopped));
            }
            rank = 0;
            task = self.next_task(tenant, Some(&current))?;
        }
        Ok(None)
    }

    /// Removes the tenant's expired event ids, oldest first; `false`: stopped.
    fn events(&mut self, tenant: &str) -> Result<bool> {
        let Some(cutoff) = self.event_cutoff else {
            return Ok(true);
        };
        let t = tenant.as_bytes();
        let store = self.store;
        for item in store.state.scan_prefix(key(&[t, EVENT_BY_TIME])) {
            let (k, _) = item.map_err(backend)?;
            let segments = keys::segments(&k).unwrap_or_default();
            let [_, _, stored, task, event] = segments.as_slice() else {
                return Err(corrupt(&k, "not an event-by-time key"));
            };
            let stored = keys::micros_from_sortable(stored)
                .ok_or_else(|| corrupt(&k, "not an event-by-time key"))?;
            if stored >= cutoff {
                return Ok(true);
            }
            if self.exhausted() {
                return Ok(false);
            }
            self.visit();
            self.writes.remove(k.to_vec());
            // The event id itself, unless it was marked again since (its newer entry
            // then stands for it).
            let event_key = key(&[t, EVENT, task, event]);
            let at = self
                .writes
                .get_json::<chrono::DateTime<chrono::Utc>>(&event_key)?;
            if at.is_some_and(|at| at.timestamp_micros() == stored) {
                self.writes.remove(event_key);
            }
            self.removed();
            self.pruned.event_ids += 1;
        }
        Ok(true)
    }

    /// The executions a task's checkpoint resumes: the one that wrote it and every one
    /// before it by `retryOf`.
    fn protected(&mut self, tenant: &str) -> Result<HashSet<String>> {
        let t = tenant.as_bytes();
        let mut kept = HashSet::new();
        for item in self.store.state.scan_prefix(key(&[t, TASK])) {
            let (k, v) = item.map_err(backend)?;
            let state: TaskState = decode(&k, &v)?;
            let mut next = state.checkpoint.map(|c| c.execution_id);
            let mut steps = 0;
            while let Some(id) = next.take() {
                if steps == MAX_CHAIN || !kept.insert(id.clone()) {
                    break;
                }
                steps += 1;
                next = self
                    .store
                    .get_json::<SyncExecution>(&key(&[t, EXEC, id.as_bytes()]))?
                    .and_then(|e| e.retry_of);
            }
        }
        Ok(kept)
    }

    /// The task after `after` (the first when `None`) that has executions.
    fn next_task(&mut self, tenant: &str, after: Option<&str>) -> Result<Option<String>> {
        let t = tenant.as_bytes();
        let all = key(&[t, EXEC_BY_TASK]);
        let start = match after {
            None => all.clone(),
            Some(task) => keys::prefix_end(&key(&[t, EXEC_BY_TASK, task.as_bytes()])),
        };
        let first = self
            .store
            .state
            .range(start..keys::prefix_end(&all))
            .next()
            .transpose()
            .map_err(backend)?;
        self.visit();
        let Some((k, _)) = first else {
            return Ok(None);
        };
        match keys::segments(&k).as_deref() {
            Some([_, _, task, _, _]) => String::from_utf8(task.clone())
                .map(Some)
                .map_err(|_| corrupt(&k, "the task id is not text")),
            _ => Err(corrupt(&k, "not an exec-by-task key")),
        }
    }

    /// One task's executions, newest first, from the one at `at` (inclusive) whose rank
    /// is `rank`; `Some(stage)`: stopped there.
    fn task(
        &mut self,
        tenant: &str,
        task: &str,
        at: Option<(i64, String)>,
        mut rank: u64,
        protected: &HashSet<String>,
    ) -> Result<Option<PruneStage>> {
        let t = tenant.as_bytes();
        let prefix = key(&[t, EXEC_BY_TASK, task.as_bytes()]);
        let store = self.store;
        let entries = match &at {
            None => store.state.scan_prefix(&prefix),
            Some((micros, id)) => {
                let mut last = prefix.clone();
                last.extend(key(&[&keys::sortable_micros(*micros), id.as_bytes()]));
                store.state.range(prefix.clone()..=last)
            }
        };
        for item in entries.rev() {
            let (k, v) = item.map_err(backend)?;
            let id: String = decode(&k, &v)?;
            let micros = match keys::segments(&k).as_deref() {
                Some([_, _, _, started, _]) => keys::micros_from_sortable(started),
                _ => None,
            }
            .ok_or_else(|| corrupt(&k, "not an exec-by-task key"))?;
            let here = PruneStage::Executions {
                task: task.to_string(),
                at: Some((micros, id.clone())),
                rank,
            };
            if self.exhausted() {
                return Ok(Some(here));
            }
            self.visit();
            if let Visit::Stopped = self.execution(t, &k, micros, &id, rank, protected)? {
                return Ok(Some(here));
            }
            rank = rank.saturating_add(1);
        }
        Ok(None)
    }

    /// One execution, found at `index_key` (its `exec-by-task` entry).
    fn execution(
        &mut self,
        t: &[u8],
        index_key: &[u8],
        started: i64,
        id: &str,
        rank: u64,
        protected: &HashSet<String>,
    ) -> Result<Visit> {
        let before = |cutoff: Option<i64>| cutoff.is_some_and(|c| started < c);
        let letters_expired = before(self.dead_letter_cutoff);
        let keep = u64::from(self.request.retention.executions_per_task.get());
        let expired = rank >= keep || before(self.execution_cutoff);
        if !letters_expired && !expired {
            return Ok(Visit::Done);
        }
        let id_bytes = id.as_bytes();
        // A running execution is live: neither it nor its dead letters go.
        if self.writes.get(&key(&[t, RUNNING, id_bytes]))?.is_some() {
            return Ok(Visit::Done);
        }
        let letters = key(&[t, DEAD, id_bytes]);
        if letters_expired && !self.remove_under_state(&letters)? {
            return Ok(Visit::Stopped);
        }
        if !expired || protected.contains(id) {
            return Ok(Visit::Done);
        }
        // Held by dead letters that have not expired: they are replayed through it.
        if self.writes.any_under(&letters)? {
            return Ok(Visit::Done);
        }
        let exec_key = key(&[t, EXEC, id_bytes]);
        let record: Option<SyncExecution> = self.writes.get_json(&exec_key)?;
        if record
            .as_ref()
            .is_some_and(|e| e.status == ExecutionStatus::Running)
        {
            return Ok(Visit::Done);
        }
        if !self.remove_logs(t, id_bytes)? || self.exhausted() {
            return Ok(Visit::Stopped);
        }
        // The execution and every index entry naming it: the ones it was found by, and
        // the ones its record says it has (they agree unless the store is damaged).
        let started = keys::sortable_micros(started);
        self.writes.remove(index_key.to_vec());
        self.writes
            .remove(key(&[t, EXEC_BY_TIME, &started, id_bytes]));
        self.writes.remove(key(&[t, RUNNING, id_bytes]));
        if let Some(record) = &record {
            for k in execution_index_keys(t, record) {
                self.writes.remove(k);
            }
            self.pruned.executions += 1;
        }
        self.writes.remove(exec_key);
        self.removed();
        Ok(Visit::Done)
    }

    /// Removes the state entries under `prefix` (dead letters); `false`: stopped.
    fn remove_under_state(&mut self, prefix: &[u8]) -> Result<bool> {
        let store = self.store;
        for item in store.state.scan_prefix(prefix) {
            let (k, _) = item.map_err(backend)?;
            if self.exhausted() {
                return Ok(false);
            }
            self.visit();
            self.writes.remove(k.to_vec());
            self.removed();
            self.pruned.dead_letters += 1;
        }
        Ok(true)
    }

    /// Removes an execution's log lines; `false`: stopped.
    fn remove_logs(&mut self, t: &[u8], id: &[u8]) -> Result<bool> {
        let store = self.store;
        for item in store.logs.scan_prefix(key(&[t, id])) {
            let (k, _) = item.map_err(backend)?;
            if self.exhausted() {
                return Ok(false);
            }
            self.visit();
            self.logs.remove(k);
            self.removed();
            self.pruned.logs += 1;
        }
        Ok(true)
    }
}

fn corrupt(k: &[u8], message: &str) -> StoreError {
    StoreError::Corrupt {
        key: keys::display(k),
        message: message.to_string(),
    }
}
