//! The scheduler: one sleeping timer for the earliest due task, so an idle server with
//! thousands of scheduled tasks costs nothing between runs.
//!
//! It is fed a [`Plan`] (the scheduled tasks of the loaded version) on a watch channel
//! and re-plans when a reload sends a new one: removed tasks are unscheduled, tasks
//! whose schedule changed are recomputed, unchanged tasks keep their next run. Runs are
//! started through a trigger (the runner), which refuses a task that is already running.
//!
//! Runs are due by the wall clock ([`WallClock`], `Utc::now` in production), and timers
//! are tokio's, which count monotonic time: a suspend or an NTP step moves the wall
//! clock and not the timer. So the scheduler never sleeps longer than [`MAX_SLEEP`], and
//! reads the wall clock again on every wake:
//!
//! - clock forward (a resume, a step ahead): every run that fell in the skipped span is
//!   due; each task runs once, as for runs missed while the server was down (a task with
//!   `missedRuns: "skip"` does not run for a span it slept through), and its next run is
//!   planned from the new time;
//! - clock back: a cron task's next run stays the wall time it was, so nothing runs twice;
//!   an interval task waits at most one interval from the new time, not the interval
//!   plus the step.
//!
//! Tests drive it with tokio's paused clock and a fake wall clock they step.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::schedule::next_after;
use crate::compile::ir::Schedule;

/// What to do about runs missed while the server was down, or while the machine slept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missed {
    /// Run once at start (the default).
    RunOnce,
    Skip,
}

/// One scheduled task.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub task: String,
    pub schedule: Schedule,
    /// When it last ran (from the store), to detect a missed run.
    pub last_run_at: Option<DateTime<Utc>>,
    pub missed: Missed,
}

/// The scheduled tasks of one loaded version.
pub type Plan = Arc<Vec<Entry>>;

/// Starts a task (the runner's trigger; errors are the trigger's to log).
pub type Trigger = Arc<dyn Fn(&str) + Send + Sync>;

/// The wall clock runs are due by.
pub type WallClock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The system's wall clock.
pub fn system_clock() -> WallClock {
    Arc::new(Utc::now)
}

/// The longest sleep between two readings of the wall clock: how late a run can be
/// after the clock moves under the timer.
pub const MAX_SLEEP: Duration = Duration::from_secs(30);

/// A run noticed later than this after its time was missed (the machine slept or the
/// clock stepped over it), not merely woken late; the task's [`Missed`] policy applies.
const MISSED_AFTER: chrono::Duration = chrono::Duration::seconds(60);

/// A task's next run.
struct Planned {
    schedule: Schedule,
    missed: Missed,
    at: DateTime<Utc>,
}

/// Runs until `shutdown` resolves or the plan channel closes.
pub async fn run(
    mut plans: watch::Receiver<Plan>,
    trigger: Trigger,
    clock: WallClock,
    shutdown: impl Future<Output = ()>,
) {
    let mut next: HashMap<String, Planned> = HashMap::new();
    let mut first = true;
    let plan = plans.borrow_and_update().clone();
    replan(&mut next, &plan, clock(), &mut first);
    tokio::pin!(shutdown);
    loop {
        // Sleep toward the earliest run as the wall clock reads now, at most MAX_SLEEP:
        // the wake re-reads the clock, so a step or a suspend is noticed within it.
        let now = clock();
        let wait = next
            .values()
            .map(|p| p.at)
            .min()
            .map(|t| (t - now).to_std().unwrap_or(Duration::ZERO).min(MAX_SLEEP));
        let sleep = async {
            match wait {
                Some(wait) => tokio::time::sleep(wait).await,
                // Nothing scheduled: wait for a reload or shutdown only.
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            // Shutdown: stop scheduling; running executions are the runner's business.
            _ = &mut shutdown => return,
            // A reload: re-plan against the new version.
            changed = plans.changed() => {
                if changed.is_err() {
                    return;
                }
                let plan = plans.borrow_and_update().clone();
                replan(&mut next, &plan, clock(), &mut first);
            }
            // A wake: start every task due by the wall clock now, plan its next run.
            _ = sleep => due(&mut next, clock(), &trigger),
        }
    }
}

/// Starts the tasks due at `now` (each once, however many of its runs fell behind) and
/// plans their next runs from `now`; brings interval tasks back within one interval of
/// `now` after the clock went back.
fn due(next: &mut HashMap<String, Planned>, now: DateTime<Utc>, trigger: &Trigger) {
    let mut due: Vec<&String> = next
        .iter()
        .filter(|(_, p)| p.at <= now)
        .map(|(id, _)| id)
        .collect();
    due.sort();
    let due: Vec<String> = due.into_iter().cloned().collect();
    for id in due {
        let Some(p) = next.get_mut(&id) else { continue };
        let missed = now - p.at > MISSED_AFTER;
        if !(missed && p.missed == Missed::Skip) {
            trigger(&id);
        }
        match next_after(&p.schedule, now) {
            Some(at) => p.at = at,
            None => {
                next.remove(&id);
            }
        }
    }
    // After the clock went back, an interval's next run may lie more than one interval
    // ahead; a cron's stays where it is (its wall time has not come yet).
    for p in next.values_mut() {
        if matches!(p.schedule, Schedule::Interval { .. }) {
            if let Some(soonest) = next_after(&p.schedule, now) {
                p.at = p.at.min(soonest);
            }
        }
    }
}

/// Brings `next` in line with `plan`: new and changed tasks get a next run, removed ones
/// go, unchanged ones keep theirs. On the first plan, a task whose last run is older
/// than one period runs now (once) unless its policy skips missed runs.
fn replan(
    next: &mut HashMap<String, Planned>,
    plan: &[Entry],
    now: DateTime<Utc>,
    first: &mut bool,
) {
    next.retain(|id, _| plan.iter().any(|e| &e.task == id));
    for e in plan {
        if let Some(p) = next.get_mut(&e.task) {
            if p.schedule == e.schedule {
                p.missed = e.missed;
                continue;
            }
        }
        let missed = *first
            && e.missed == Missed::RunOnce
            && e.last_run_at
                .and_then(|last| next_after(&e.schedule, last))
                .is_some_and(|due| due < now);
        let at = if missed {
            Some(now)
        } else {
            next_after(&e.schedule, now)
        };
        match at {
            Some(at) => {
                next.insert(
                    e.task.clone(),
                    Planned {
                        schedule: e.schedule.clone(),
                        missed: e.missed,
                        at,
                    },
                );
            }
            None => {
                next.remove(&e.task);
            }
        }
    }
    *first = false;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::ir::{CronExpr, IntervalUnit};
    use chrono::TimeZone;
    use std::sync::Mutex;
    use tokio::time::Instant;

    fn every(minutes: u64) -> Schedule {
        Schedule::Interval {
            interval: minutes,
            unit: IntervalUnit::Minutes,
        }
    }

    fn cron(expr: &str) -> Schedule {
        Schedule::Cron {
            cron: CronExpr::parse(expr).expect("a cron expression"),
            timezone: chrono_tz::Tz::UTC,
        }
    }

    fn entry(task: &str, schedule: Schedule) -> Entry {
        Entry {
            task: task.into(),
            schedule,
            last_run_at: None,
            missed: Missed::RunOnce,
        }
    }

    /// 2026-11-30T10:00:00Z, where the fake wall clock starts unless a test says.
    fn ten() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 0).unwrap()
    }

    /// A wall clock that follows tokio's (paused) clock from `base`, plus the steps the
    /// test makes (a suspend, an NTP correction).
    #[derive(Clone)]
    struct FakeClock {
        base: DateTime<Utc>,
        t0: Instant,
        step: Arc<Mutex<chrono::Duration>>,
    }

    impl FakeClock {
        fn new(base: DateTime<Utc>) -> FakeClock {
            FakeClock {
                base,
                t0: Instant::now(),
                step: Arc::new(Mutex::new(chrono::Duration::zero())),
            }
        }
        fn now(&self) -> DateTime<Utc> {
            let elapsed = chrono::Duration::from_std(Instant::now() - self.t0).unwrap_or_default();
            self.base + elapsed + *self.step.lock().expect("lock")
        }
        /// Moves the wall clock by `by` without moving tokio's.
        fn jump(&self, by: chrono::Duration) {
            *self.step.lock().expect("lock") += by;
        }
        fn wall(&self) -> WallClock {
            let c = self.clone();
            Arc::new(move || c.now())
        }
    }

    /// One trigger: the task, tokio minutes since start, and the wall clock's `HH:MM`.
    type Fired = Arc<Mutex<Vec<(String, u64, String)>>>;

    /// A scheduler over `plan` on `clock`.
    async fn start_on(
        plan: Vec<Entry>,
        clock: &FakeClock,
    ) -> (watch::Sender<Plan>, Fired, tokio::sync::oneshot::Sender<()>) {
        let (tx, rx) = watch::channel(Arc::new(plan));
        let fired: Fired = Arc::new(Mutex::new(Vec::new()));
        let t0 = Instant::now();
        let record = fired.clone();
        let wall = clock.clone();
        let trigger: Trigger = Arc::new(move |id: &str| {
            record.lock().expect("lock").push((
                id.to_string(),
                (Instant::now() - t0).as_secs() / 60,
                wall.now().format("%H:%M").to_string(),
            ))
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(run(rx, trigger, clock.wall(), async {
            let _ = stopped.await;
        }));
        // Let the scheduler plan before the clock moves.
        tokio::task::yield_now().await;
        (tx, fired, stop)
    }

    /// A scheduler over `plan` with a wall clock that only follows tokio's.
    async fn start(
        plan: Vec<Entry>,
    ) -> (watch::Sender<Plan>, Fired, tokio::sync::oneshot::Sender<()>) {
        start_on(plan, &FakeClock::new(ten())).await
    }

    /// `(task, tokio minutes)` of each trigger.
    fn by_minute(fired: &Fired) -> Vec<(String, u64)> {
        fired
            .lock()
            .expect("lock")
            .iter()
            .map(|(t, m, _)| (t.clone(), *m))
            .collect()
    }

    /// `task@HH:MM` (wall clock) of each trigger.
    fn by_wall(fired: &Fired) -> Vec<String> {
        fired
            .lock()
            .expect("lock")
            .iter()
            .map(|(t, _, w)| format!("{t}@{w}"))
            .collect()
    }

    async fn minutes(n: u64) {
        // Advance in steps so every timer in between fires at its time.
        for _ in 0..n {
            tokio::time::advance(Duration::from_secs(60)).await;
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn intervals_fire_on_time() {
        let (_tx, fired, _stop) = start(vec![entry("a", every(15)), entry("b", every(40))]).await;
        minutes(61).await;
        assert_eq!(
            by_minute(&fired),
            vec![
                ("a".into(), 15),
                ("a".into(), 30),
                ("b".into(), 40),
                ("a".into(), 45),
                ("a".into(), 60)
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_reload_reschedules_changed_tasks_and_drops_removed_ones() {
        let (tx, fired, _stop) = start(vec![entry("a", every(10)), entry("gone", every(10))]).await;
        minutes(11).await;
        tx.send(Arc::new(vec![
            entry("a", every(10)),
            entry("new", every(5)),
        ]))
        .expect("send");
        tokio::task::yield_now().await;
        minutes(10).await;
        assert_eq!(
            by_minute(&fired),
            vec![
                ("a".into(), 10),
                ("gone".into(), 10),
                ("new".into(), 16),
                ("a".into(), 20),
                ("new".into(), 21)
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_missed_run_happens_once_at_start_unless_skipped() {
        let long_ago = ten() - chrono::Duration::hours(5);
        let mut missed = entry("missed", every(60));
        missed.last_run_at = Some(long_ago);
        let mut skipped = entry("skipped", every(60));
        skipped.last_run_at = Some(long_ago);
        skipped.missed = Missed::Skip;
        let (_tx, fired, _stop) = start(vec![missed, skipped]).await;
        minutes(1).await;
        assert_eq!(by_minute(&fired), vec![("missed".into(), 0)]);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_stops_scheduling() {
        let (_tx, fired, stop) = start(vec![entry("a", every(1))]).await;
        minutes(2).await;
        let _ = stop.send(());
        tokio::task::yield_now().await;
        minutes(5).await;
        assert_eq!(by_minute(&fired).len(), 2);
    }

    /// A suspend or a step forward of five hours: every task with runs in the skipped
    /// span runs once within MAX_SLEEP of the step (unless it skips missed runs), then
    /// each keeps its own times by the new wall clock.
    #[tokio::test(start_paused = true)]
    async fn a_clock_step_forward_runs_the_skipped_span_once() {
        let clock = FakeClock::new(ten() + chrono::Duration::minutes(5));
        let mut skips = entry("skips", cron("0 * * * *"));
        skips.missed = Missed::Skip;
        let plan = vec![
            entry("hourly", cron("0 * * * *")),
            entry("quarter", every(15)),
            skips,
        ];
        let (_tx, fired, _stop) = start_on(plan, &clock).await;
        minutes(10).await; // 10:15, nothing due yet (quarter is due 10:20)
        clock.jump(chrono::Duration::hours(5)); // 15:15
        minutes(60).await; // to 16:15
        assert_eq!(
            by_wall(&fired),
            [
                // Noticed at the first wake after the step (within MAX_SLEEP), once each.
                "hourly@15:16",
                "quarter@15:16",
                // Its next runs count from the new time.
                "quarter@15:31",
                "quarter@15:46",
                "hourly@16:00",
                "skips@16:00",
                "quarter@16:01",
            ]
        );
    }

    /// A step back of 45 minutes just after an hourly run: the run does not happen again
    /// when the clock reads its time a second time; an interval task does not stall for
    /// the length of the step.
    #[tokio::test(start_paused = true)]
    async fn a_clock_step_back_runs_nothing_twice() {
        let clock = FakeClock::new(ten() + chrono::Duration::minutes(50));
        let plan = vec![entry("hourly", cron("0 * * * *")), entry("half", every(30))];
        let (_tx, fired, _stop) = start_on(plan, &clock).await;
        minutes(15).await; // 11:05: hourly ran at 11:00
        clock.jump(-chrono::Duration::minutes(45)); // 10:20
        minutes(110).await; // to 12:10
        assert_eq!(
            by_wall(&fired),
            [
                "hourly@11:00",
                // `half` was due 11:20; the wake after the step (10:21 by the stepped
                // clock) brings it within one interval of then, instead of an hour.
                "half@10:51",
                "half@11:21",
                "half@11:51",
                // 11:00 came round again: no second run.
                "hourly@12:00",
            ]
        );
    }
}
