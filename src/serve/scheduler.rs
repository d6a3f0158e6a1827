//! The scheduler: one sleeping timer for the earliest due task, so an idle server with
//! thousands of scheduled tasks costs nothing between runs.
//!
//! It is fed a [`Plan`] (the scheduled tasks of the loaded version) on a watch channel
//! and re-plans when a reload sends a new one: removed tasks are unscheduled, tasks
//! whose schedule changed are recomputed, unchanged tasks keep their next run. Runs are
//! started through a trigger (the runner), which refuses a task that is already running.
//!
//! Time is tokio's (`Instant`), mapped to wall time from one reference taken at start,
//! so tests drive the scheduler with tokio's paused clock.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::time::Instant;

use super::schedule::next_after;
use crate::compile::ir::Schedule;

/// What to do about runs missed while the server was down.
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

/// Runs until `shutdown` resolves or the plan channel closes.
pub async fn run(
    mut plans: watch::Receiver<Plan>,
    trigger: Trigger,
    shutdown: impl Future<Output = ()>,
) {
    // Wall time now, from tokio's clock (so a paused clock drives it in tests).
    let (base_instant, base_wall) = (Instant::now(), Utc::now());
    let now = move || {
        base_wall + chrono::Duration::from_std(Instant::now() - base_instant).unwrap_or_default()
    };
    let to_instant =
        move |t: DateTime<Utc>| base_instant + (t - base_wall).to_std().unwrap_or_default();

    // task -> (schedule, next run)
    let mut next: HashMap<String, (Schedule, DateTime<Utc>)> = HashMap::new();
    let mut first = true;
    let plan = plans.borrow_and_update().clone();
    replan(&mut next, &plan, now(), &mut first);
    tokio::pin!(shutdown);
    loop {
        let earliest = next.values().map(|(_, t)| *t).min();
        let sleep = async {
            match earliest {
                Some(t) => tokio::time::sleep_until(to_instant(t)).await,
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
                replan(&mut next, &plan, now(), &mut first);
            }
            // The earliest run is due: start every task due now, then plan its next run.
            _ = sleep => {
                let t = now();
                let mut due: Vec<String> = next.iter().filter(|(_, (_, at))| *at <= t).map(|(id, _)| id.clone()).collect();
                due.sort();
                for id in due {
                    trigger(&id);
                    if let Some((schedule, at)) = next.get_mut(&id) {
                        match next_after(schedule, t) {
                            Some(n) => *at = n,
                            None => {
                                next.remove(&id);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Brings `next` in line with `plan`: new and changed tasks get a next run, removed ones
/// go, unchanged ones keep theirs. On the first plan, a task whose last run is older
/// than one period runs now (once) unless its policy skips missed runs.
fn replan(
    next: &mut HashMap<String, (Schedule, DateTime<Utc>)>,
    plan: &[Entry],
    now: DateTime<Utc>,
    first: &mut bool,
) {
    next.retain(|id, _| plan.iter().any(|e| &e.task == id));
    for e in plan {
        if next.get(&e.task).is_some_and(|(s, _)| *s == e.schedule) {
            continue;
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
        if let Some(at) = at {
            next.insert(e.task.clone(), (e.schedule.clone(), at));
        }
    }
    *first = false;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::ir::IntervalUnit;
    use std::sync::Mutex;
    use std::time::Duration;

    fn every(minutes: u64) -> Schedule {
        Schedule::Interval {
            interval: minutes,
            unit: IntervalUnit::Minutes,
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

    /// A scheduler over `plan`, recording `(task, minutes since start)` of each trigger.
    async fn start(
        plan: Vec<Entry>,
    ) -> (
        watch::Sender<Plan>,
        Arc<Mutex<Vec<(String, u64)>>>,
        tokio::sync::oneshot::Sender<()>,
    ) {
        let (tx, rx) = watch::channel(Arc::new(plan));
        let fired = Arc::new(Mutex::new(Vec::new()));
        let t0 = Instant::now();
        let record = fired.clone();
        let trigger: Trigger = Arc::new(move |id: &str| {
            record
                .lock()
                .expect("lock")
                .push((id.to_string(), (Instant::now() - t0).as_secs() / 60))
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(run(rx, trigger, async {
            let _ = stopped.await;
        }));
        // Let the scheduler take its time reference before the clock moves.
        tokio::task::yield_now().await;
        (tx, fired, stop)
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
        let got = fired.lock().expect("lock").clone();
        assert_eq!(
            got,
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
        let got = fired.lock().expect("lock").clone();
        assert_eq!(
            got,
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
        let long_ago = Utc::now() - chrono::Duration::hours(5);
        let mut missed = entry("missed", every(60));
        missed.last_run_at = Some(long_ago);
        let mut skipped = entry("skipped", every(60));
        skipped.last_run_at = Some(long_ago);
        skipped.missed = Missed::Skip;
        let (_tx, fired, _stop) = start(vec![missed, skipped]).await;
        minutes(1).await;
        assert_eq!(
            fired.lock().expect("lock").clone(),
            vec![("missed".into(), 0)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_stops_scheduling() {
        let (_tx, fired, stop) = start(vec![entry("a", every(1))]).await;
        minutes(2).await;
        let _ = stop.send(());
        tokio::task::yield_now().await;
        minutes(5).await;
        assert_eq!(fired.lock().expect("lock").len(), 2);
    }
}
