//! The task config keys the engine and the server read, whatever the connector: the
//! delete guard, missed runs, the webhook signature secret, and the spec's keys of
//! two-way sync.

use super::keys::Keys;
use crate::compile::ir::{Direction, Schedule};

/// What the engine and the server take from a task's config. Defaults are applied here,
/// at check time.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineConfig {
    /// `deleteGuard`: the largest share (0 to 1) of a type's shards a full read may
    /// sweep away; `None`: the engine's own (`--delete-guard`, default 0.5).
    pub delete_guard: Option<f64>,
    /// `missedRuns`: what the scheduler does with runs missed while the server was down
    /// or asleep (default `run_once`).
    pub missed_runs: MissedRuns,
    /// `signatureSecretEnv`: the environment variable holding the HMAC key webhook
    /// deliveries are signed with; `None`: deliveries are not signed.
    pub signature_secret_env: Option<String>,
    /// `conflictResolution` (spec, two-way sync): which side wins a conflict.
    pub conflict_resolution: Option<ConflictResolution>,
    /// `pushChangesFrom`, `pullChangesFrom` (spec, two-way sync): where each direction
    /// starts, as the spec writes it (`lastSyncTimestamp`).
    pub push_changes_from: Option<String>,
    pub pull_changes_from: Option<String>,
}

/// `missedRuns`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MissedRuns {
    /// `run_once`: the runs missed while the server was down or asleep run once.
    RunOnce,
    /// `skip`: they do not run; the schedule goes on from now.
    Skip,
}

/// `conflictResolution` (spec: `newest_wins`, `source_wins`, `target_wins`, `manual`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConflictResolution {
    NewestWins,
    SourceWins,
    TargetWins,
    Manual,
}

/// The engine's keys of a task's config. `deletes`: whether the task's schema deletes
/// removed records (`None`: unknown, its schema did not check).
pub(super) fn read(
    k: &mut Keys<'_>,
    schedule: Option<&Schedule>,
    direction: Option<Direction>,
    deletes: Option<bool>,
) -> EngineConfig {
    let delete_guard = k.share(
        "deleteGuard",
        "the most of a shard type a full read may delete; beyond it the sweep is refused",
    );
    if deletes == Some(false) {
        k.not_here(
            "deleteGuard",
            "the task's schema never deletes: its target has no `delete_if_removed`",
            "remove it, or add `delete_if_removed` to the schema's target flags",
        );
    }
    let missed_runs = k.keyword(
        "missedRuns",
        &[
            ("run_once", MissedRuns::RunOnce),
            ("skip", MissedRuns::Skip),
        ],
    );
    let timed = matches!(
        schedule,
        None | Some(Schedule::Interval { .. } | Schedule::Cron { .. })
    );
    if !timed {
        k.not_here(
            "missedRuns",
            "only a task on an interval or a cron misses runs",
            "remove it, or give the task `schedule every ...` or `schedule cron ...`",
        );
    }
    let signature_secret_env = k.env_name("signatureSecretEnv", "HOOK_SIGNING_SECRET");
    let realtime = matches!(schedule, None | Some(Schedule::Realtime { .. }));
    if !realtime {
        k.not_here(
            "signatureSecretEnv",
            "only a realtime task takes webhook deliveries to check signatures of",
            "remove it, or give the task `schedule realtime token ...`",
        );
    }
    let conflict_resolution = k.keyword(
        "conflictResolution",
        &[
            ("newest_wins", ConflictResolution::NewestWins),
            ("source_wins", ConflictResolution::SourceWins),
            ("target_wins", ConflictResolution::TargetWins),
            ("manual", ConflictResolution::Manual),
        ],
    );
    let push_changes_from = k.string("pushChangesFrom", "\"lastSyncTimestamp\"");
    let pull_changes_from = k.string("pullChangesFrom", "\"lastSyncTimestamp\"");
    let direction = direction.unwrap_or(Direction::Pull);
    if direction != Direction::Bidirectional {
        k.not_here(
            "conflictResolution",
            "conflicts arise only in two-way sync",
            "remove it, or write `direction bidirectional`",
        );
    }
    if direction == Direction::Pull {
        k.not_here(
            "pushChangesFrom",
            "a pull task pushes nothing",
            "remove it, or write `direction push` or `direction bidirectional`",
        );
    }
    if direction == Direction::Push {
        k.not_here(
            "pullChangesFrom",
            "a push task pulls nothing",
            "remove it, or write `direction pull` or `direction bidirectional`",
        );
    }
    EngineConfig {
        delete_guard,
        missed_runs: missed_runs.unwrap_or(MissedRuns::RunOnce),
        signature_secret_env,
        conflict_resolution,
        push_changes_from: push_changes_from.map(|s| s.node),
        pull_changes_from: pull_changes_from.map(|s| s.node),
    }
}
