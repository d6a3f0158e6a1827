//! Retention: how long the store keeps executions (with their logs), dead letters, the
//! event ids of webhook deliveries and the audit log, and the bounded pruning that
//! enforces it ([`crate::store::Store::prune`], [`crate::store::Store::prune_audit`]). docs/sync.md, "Retention", gives the defaults and why.
//!
//! What is never pruned, whatever its age or rank:
//! - an execution still `running`;
//! - the execution a task's checkpoint was written by, and every execution before it in
//!   its `retryOf` chain (the unfinished run the next one resumes);
//! - an execution that still holds dead letters: they are replayed through it
//!   (`cmap replay ID`), so it goes only once they are replayed or have expired.
//!
//! Dead letters expire by the start time of the execution that wrote them (their
//! record is then lost for good: a webhook delivery exists nowhere else). An
//! execution's logs go with it.
//!
//! # Bounded calls
//!
//! One [`PruneRequest`] removes at most `limit` records (executions, log lines, dead
//! letters and event ids each count one; a record's index entries go with it) and visits
//! a bounded number of keys, under the store's commit lock; it returns where it stopped
//! ([`Pruned::next`]). A pass calls it again from there until `next` is `None`, letting
//! commits in between. A SQL store does the same as `DELETE ... WHERE ... LIMIT n`
//! statements, one per call.

use std::num::NonZeroU32;

use chrono::{DateTime, TimeDelta, Utc};

use super::audit::AuditRetention;

/// How long state is kept. Every bound is at least 1 (a zero is refused where the
/// setting enters, never read as "delete everything").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Executions (and their logs) started longer ago than this are pruned.
    pub execution_days: NonZeroU32,
    /// Only the newest this many executions of each task are kept.
    pub executions_per_task: NonZeroU32,
    /// Dead letters of executions started longer ago than this are pruned.
    pub dead_letter_days: NonZeroU32,
    /// The event id of a webhook delivery is remembered (and a redelivery of it ignored)
    /// this long after it was stored.
    pub event_id_hours: NonZeroU32,
    /// How long the audit log is kept ([`crate::store::Store::prune_audit`]).
    pub audit: AuditRetention,
}

impl Retention {
    pub const DEFAULT_EXECUTION_DAYS: u32 = 90;
    pub const DEFAULT_EXECUTIONS_PER_TASK: u32 = 1000;
    pub const DEFAULT_DEAD_LETTER_DAYS: u32 = 30;
    pub const DEFAULT_EVENT_ID_HOURS: u32 = 7 * 24;

    /// Executions started before this time have expired (`None`: none has; the bound
    /// reaches past the dates the store can hold).
    pub fn execution_cutoff(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        before(now, TimeDelta::try_days(self.execution_days.get().into()))
    }

    /// Dead letters of executions started before this time have expired.
    pub fn dead_letter_cutoff(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        before(now, TimeDelta::try_days(self.dead_letter_days.get().into()))
    }

    /// Event ids stored before this time have expired.
    pub fn event_cutoff(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        before(now, TimeDelta::try_hours(self.event_id_hours.get().into()))
    }
}

fn before(now: DateTime<Utc>, age: Option<TimeDelta>) -> Option<DateTime<Utc>> {
    now.checked_sub_signed(age?)
}

impl Default for Retention {
    /// The documented defaults: executions 90 days and at most 1,000 per task, dead
    /// letters 30 days, event ids 7 days; the audit log 10,000 entries per scope and
    /// 365 days ([`AuditRetention::default`]).
    fn default() -> Retention {
        let n = |v: u32| NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN);
        Retention {
            execution_days: n(Retention::DEFAULT_EXECUTION_DAYS),
            executions_per_task: n(Retention::DEFAULT_EXECUTIONS_PER_TASK),
            dead_letter_days: n(Retention::DEFAULT_DEAD_LETTER_DAYS),
            event_id_hours: n(Retention::DEFAULT_EVENT_ID_HOURS),
            audit: AuditRetention::default(),
        }
    }
}

/// One bounded call of a pruning pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PruneRequest {
    pub retention: Retention,
    /// What ages are measured from.
    pub now: DateTime<Utc>,
    /// At most this many records are removed by the call (at least 1 is taken).
    pub limit: usize,
    /// Where the previous call of the pass stopped (`None`: start a pass).
    pub after: Option<PruneCursor>,
}

/// What one call removed, and where the pass goes on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub executions: u64,
    pub logs: u64,
    pub dead_letters: u64,
    pub event_ids: u64,
    /// Audit entries ([`crate::store::Store::prune_audit`]; never by `prune` itself).
    pub audit_entries: u64,
    /// Where the next call continues; `None`: the pass is complete.
    pub next: Option<PruneCursor>,
}

impl Pruned {
    /// Records removed, of every kind.
    pub fn total(&self) -> u64 {
        self.executions
            .saturating_add(self.logs)
            .saturating_add(self.dead_letters)
            .saturating_add(self.event_ids)
            .saturating_add(self.audit_entries)
    }

    /// Adds `other`'s counts to these (its `next` is not taken).
    pub fn add(&mut self, other: &Pruned) {
        self.executions = self.executions.saturating_add(other.executions);
        self.logs = self.logs.saturating_add(other.logs);
        self.dead_letters = self.dead_letters.saturating_add(other.dead_letters);
        self.event_ids = self.event_ids.saturating_add(other.event_ids);
        self.audit_entries = self.audit_entries.saturating_add(other.audit_entries);
    }
}

/// Where a pruning pass stands: a tenant, and in it either its event ids or one task's
/// executions from a position (newest first) on. Opaque: pass it back as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PruneCursor {
    pub(crate) tenant: String,
    pub(crate) stage: PruneStage,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PruneStage {
    /// The tenant's expired event ids (oldest first; what was pruned is gone, so the
    /// stage simply starts over).
    Events,
    /// The executions of `task`, newest first, from the one at `at` (start time in
    /// microseconds and id; it is visited again) whose rank in the task is `rank`.
    Executions {
        task: String,
        at: Option<(i64, String)>,
        rank: u64,
    },
}
