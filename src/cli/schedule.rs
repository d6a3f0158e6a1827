//! `cmap schedule TASK [--next N]`: the task's schedule in words and its next run times,
//! like the spec's schedule builder preview.

use chrono::{DateTime, Utc};

use super::state::{self, StateArgs};
use super::{Global, EXIT_OK, EXIT_USAGE};
use crate::compile::ir::{Schedule, TaskStatus};
use crate::serve::schedule::{describe, next_after};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The task id.
    task: String,
    /// How many upcoming runs to list.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=1000))]
    next: u64,
    /// List the runs after this date (any form cmap reads, e.g. `2026-03-07T12:00:00Z`)
    /// instead of after now.
    #[arg(long, value_name = "DATE", value_parser = date_arg)]
    from: Option<DateTime<Utc>>,
    #[command(flatten)]
    state: StateArgs,
}

pub fn run(global: &Global, args: Args) -> u8 {
    let program = match state::program(&args.state, global) {
        Ok(p) => p,
        Err(f) => return f.print(),
    };
    let Some(task) = program.task(&args.task) else {
        let ids: Vec<&str> = program.tasks.iter().map(|t| t.id.as_str()).collect();
        let hint = crate::diagnostics::did_you_mean(&args.task, ids.iter().copied())
            .map(|m| format!("did you mean `{m}`?"))
            .unwrap_or_else(|| format!("tasks: {}", ids.join(", ")));
        super::print_error(
            &format!(
                "no task `{}` in `{}`",
                args.task,
                args.state.pipelines.display()
            ),
            Some(&hint),
        );
        return EXIT_USAGE;
    };
    let mut out = super::out::Out::stdout();
    outln!(out, "{}", describe(&task.schedule));
    // `cmap serve` schedules active tasks only.
    let inactive = match task.status {
        TaskStatus::Active => None,
        TaskStatus::Paused => Some("paused"),
        TaskStatus::Error => Some("in error"),
        TaskStatus::Disabled => Some("disabled"),
    };
    if let Some(status) = inactive {
        outln!(
            out,
            "  no scheduled runs: the task is {status} (`status active` schedules it)"
        );
        return out.finish(EXIT_OK);
    }
    let mut t = args.from.unwrap_or_else(Utc::now);
    let mut listed = 0;
    for _ in 0..args.next {
        let Some(n) = next_after(&task.schedule, t) else {
            break;
        };
        let written = match &task.schedule {
            Schedule::Cron { timezone, .. } => outln!(
                out,
                "  {}  ({})",
                n.format("%Y-%m-%d %H:%M UTC"),
                n.with_timezone(timezone).format("%a %Y-%m-%d %H:%M %Z")
            ),
            _ => outln!(out, "  {}", n.format("%Y-%m-%d %H:%M UTC")),
        };
        if !written {
            break;
        }
        listed += 1;
        t = n;
    }
    if listed == 0 {
        // A cron that matches no date does not check (E0406), so these are the cases.
        let why = match &task.schedule {
            Schedule::Manual => {
                "it runs only when triggered (`cmap run`, `POST /api/tasks/ID/run`)"
            }
            Schedule::Realtime { .. } => "it runs on each webhook delivery",
            Schedule::Interval { .. } | Schedule::Cron { .. } => {
                "no run falls before the year 5000, as far as cmap looks ahead"
            }
        };
        outln!(out, "  no scheduled runs: {why}");
    }
    out.finish(EXIT_OK)
}

/// `--from`: a date by the one date reader.
fn date_arg(text: &str) -> Result<DateTime<Utc>, String> {
    crate::date::parse(text).map_err(|e| e.to_string())
}
