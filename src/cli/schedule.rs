//! `cmap schedule TASK [--next N]`: the task's schedule in words and its next run times,
//! like the spec's schedule builder preview.

use chrono::Utc;

use super::state::{self, StateArgs};
use super::{Global, EXIT_OK, EXIT_USAGE};
use crate::compile::ir::Schedule;
use crate::serve::schedule::{describe, next_after};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The task id.
    task: String,
    /// How many upcoming runs to list.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=1000))]
    next: u64,
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
    let mut t = Utc::now();
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
        t = n;
    }
    out.finish(EXIT_OK)
}
