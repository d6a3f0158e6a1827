//! `cmap run TASK [--pipelines DIR] [--data DIR] [--full] [--format json]`: one execution
//! of a task. On a terminal a progress bar, then a summary; `--format json` prints the
//! SyncExecution. Exit 0 success, 3 partial, 1 failed or cancelled.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use super::state::{self, RetentionArgs, StateArgs};
use super::{Global, EXIT_FAILURE, EXIT_OK, EXIT_PARTIAL};
use crate::engine::{CancellationToken, Observer, RunRequest};
use crate::store::{ExecutionStatus, SyncExecution, TriggeredBy};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The task id.
    task: String,
    #[command(flatten)]
    state: StateArgs,
    /// Read everything, ignoring the watermark (and sweep deletes when the schema says
    /// `delete_if_removed`).
    #[arg(long)]
    full: bool,
    /// Records per page asked of the source (each page commits with its checkpoint).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    page_size: u64,
    /// `human` (progress and summary on stderr) or `json` (the SyncExecution on stdout).
    #[arg(long, value_enum, default_value_t = super::check::Format::Human)]
    format: super::check::Format,
    /// After the run, old state is pruned by these (at most 10,000 records; `cmap prune`
    /// does the rest).
    #[command(flatten)]
    retention: RetentionArgs,
}

pub fn run(global: &Global, args: Args) -> u8 {
    match run_inner(global, args) {
        Ok(code) => code,
        Err(f) => f.print(),
    }
}

fn run_inner(global: &Global, args: Args) -> Result<u8, state::Failure> {
    let program = state::program(&args.state, global)?;
    let Some(task) = program.task(&args.task) else {
        let ids: Vec<&str> = program.tasks.iter().map(|t| t.id.as_str()).collect();
        let hint = crate::diagnostics::did_you_mean(&args.task, ids.iter().copied())
            .map(|m| format!("did you mean `{m}`?"))
            .unwrap_or_else(|| format!("tasks: {}", ids.join(", ")));
        return Err(state::Failure::usage(
            format!(
                "no task `{}` in `{}`",
                args.task,
                args.state.pipelines.display()
            ),
            Some(hint),
        ));
    };
    let mut engine = state::engine(&args.state)?;
    engine.options.page_size = args.page_size as usize;
    let runtime = state::runtime()?;
    let human = args.format == super::check::Format::Human;
    let observer = Progress::new(human && std::io::stderr().is_terminal(), human);
    // A manual run overrides a quota pause (the server would wait): say so.
    let tenant = task.tenant.clone();
    if let Some(until) = engine
        .store
        .task_state(&tenant, &task.id)
        .ok()
        .flatten()
        .and_then(|s| s.paused_until)
        .filter(|until| *until > chrono::Utc::now())
    {
        errln!(
            "note: task `{}` is paused until {} (its source's quota is used up); running it anyway",
            task.id,
            until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
    }
    let cancel = CancellationToken::new();
    let request = RunRequest {
        task,
        connections: &program.connections,
        full: args.full,
        triggered_by: TriggeredBy::Manual,
        triggered_by_user_id: None,
        retry_of: None,
    };
    let result = runtime.block_on(async {
        // Ctrl-C stops at the next page boundary, or at once while waiting to retry: what
        // is committed stays, the next run resumes from the checkpoint.
        let on_signal = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                on_signal.cancel();
            }
        });
        // A panic inside the run is contained: the execution ends failed with its
        // message, like any failure.
        engine.execute(request, &observer, &cancel).await
    });
    observer.finish();
    let execution = result.map_err(|e| state::Failure {
        code: EXIT_FAILURE,
        help: e.help(),
        message: e.to_string(),
    })?;
    let code = match execution.status {
        ExecutionStatus::Success => EXIT_OK,
        ExecutionStatus::Partial => EXIT_PARTIAL,
        _ => EXIT_FAILURE,
    };
    if human {
        errln!("{}", summary(&execution));
        prune_after_run(&*engine.store, &args.retention, human);
        return Ok(code);
    }
    // The run is done and committed: a closed stdout keeps its code.
    let mut out = super::out::Out::stdout();
    outln!(
        out,
        "{}",
        serde_json::to_string_pretty(&execution).unwrap_or_default()
    );
    prune_after_run(&*engine.store, &args.retention, human);
    Ok(out.finish(code))
}

/// Calls of the store's pruning after a run: at most 10,000 records, so a run's end is
/// never held long by a backlog (after an upgrade, say); a run adds far fewer than that.
const PRUNE_CALLS_AFTER_RUN: usize = 10;

/// Prunes old state after a run, so that a deployment that only runs `cmap run` from cron
/// keeps bounded state too. Never changes the run's outcome: a failure is a warning.
fn prune_after_run(store: &dyn crate::store::Store, retention: &RetentionArgs, human: bool) {
    match super::prune::pass(store, &retention.retention(), Some(PRUNE_CALLS_AFTER_RUN)) {
        Ok((pruned, complete)) => {
            if human && pruned.total() > 0 {
                errln!("{}", super::prune::summary(&pruned));
            }
            if !complete {
                errln!("note: more old state is past its retention than a run prunes; run `cmap prune`");
            }
        }
        Err(e) => errln!("warning: pruning old state failed: {e}"),
    }
}

/// `success in 1.2s: fetched 10, created 8, updated 1, skipped 1, failed 0, deleted 2`
/// and the first errors.
pub fn summary(e: &SyncExecution) -> String {
    let r = &e.results;
    let secs = e.duration_ms.unwrap_or(0) as f64 / 1000.0;
    let mut out = format!(
        "{} in {secs:.1}s: fetched {}, created {}, updated {}, skipped {}, failed {}, deleted {} (execution {})",
        e.status.as_str(),
        r.fetched,
        r.created,
        r.updated,
        r.skipped,
        r.failed,
        r.deleted,
        e.id
    );
    for err in e.errors.iter().take(5) {
        let id = err
            .external_id
            .as_deref()
            .map(|i| format!(" [{i}]"))
            .unwrap_or_default();
        out.push_str(&format!("\n  {}{id}: {}", err.phase, err.error));
    }
    if e.errors.len() > 5 {
        out.push_str(&format!(
            "\n  ... {} more: `cmap logs {}`; failed records: `cmap replay {}` after a fix",
            e.errors.len() - 5,
            e.id,
            e.id
        ));
    }
    out
}

/// A progress bar on a terminal; one line per committed page otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    lines: bool,
}

impl Progress {
    fn new(terminal: bool, human: bool) -> Progress {
        let bar = terminal.then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(spinner_style());
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        Progress {
            lines: human && bar.is_none(),
            bar,
        }
    }
    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Observer for Progress {
    fn progress(&self, e: &SyncExecution) {
        if let Some(bar) = &self.bar {
            // A bar when the source says how many records there are; a counter otherwise.
            if let Some(total) = e.progress.total_records {
                if bar.length() != Some(total) {
                    bar.set_style(bar_style());
                    bar.set_length(total);
                }
            }
            bar.set_position(e.progress.processed_records);
            bar.set_message(format!("{:?}", e.progress.phase).to_lowercase());
        }
    }
    fn page_committed(&self, e: &SyncExecution, page: u64) {
        if self.lines {
            let r = &e.results;
            errln!("page {page} committed: {} records so far (created {}, updated {}, skipped {}, failed {}, deleted {})", r.fetched, r.created, r.updated, r.skipped, r.failed, r.deleted);
        }
        self.progress(e);
    }
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {msg:<12} [{elapsed_precise}] {human_pos} records")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{spinner} {msg:<12} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} ({eta} left)",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
}
