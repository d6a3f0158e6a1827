//! Benchmark: the scheduler's CPU while idle with 10,000 scheduled tasks (target: under
//! 1% of one core). The tasks run daily, so none fires during the measured window; the
//! figure is the cost of holding the schedule, which should be one sleeping timer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cmap::compile::ir::{IntervalUnit, Schedule};
use cmap::serve::scheduler::{self, Entry, Missed, Trigger};

/// CPU time (user + system) of this process.
fn cpu() -> Duration {
    // SAFETY: rusage is plain data that getrusage fills.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn main() {
    let tasks: usize = std::env::var("BENCH_TASKS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let secs: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let entries: Vec<Entry> = (0..tasks)
        .map(|i| Entry {
            task: format!("task-{i}"),
            schedule: Schedule::Interval {
                interval: 1 + (i as u64 % 7),
                unit: IntervalUnit::Days,
            },
            last_run_at: None,
            missed: Missed::Skip,
        })
        .collect();
    let (_plans, rx) = tokio::sync::watch::channel(Arc::new(entries));
    let fired = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let f = fired.clone();
    let trigger: Trigger = Arc::new(move |_: &str| {
        f.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    });
    runtime.spawn(scheduler::run(
        rx,
        trigger,
        scheduler::system_clock(),
        std::future::pending(),
    ));
    // Let it plan, then measure a quiet window.
    std::thread::sleep(Duration::from_millis(500));
    let (cpu0, wall0) = (cpu(), Instant::now());
    std::thread::sleep(Duration::from_secs(secs));
    let (cpu1, wall1) = (cpu(), Instant::now());
    let share = (cpu1 - cpu0).as_secs_f64() / (wall1 - wall0).as_secs_f64() * 100.0;
    println!(
        "scheduler idle with {tasks} tasks: {:.3}% of one core over {secs} s ({} runs fired; target < 1%)",
        share,
        fired.load(std::sync::atomic::Ordering::Relaxed)
    );
}
