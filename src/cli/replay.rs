//! `cmap replay EXECUTION`: re-runs the records an execution could not map (its dead
//! letters) through the task's current schema, after a fix.

use super::state::{self, StateArgs};
use super::{Global, EXIT_FAILURE, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE};
use crate::engine::Quiet;
use crate::store::ExecutionStatus;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The execution whose failed records to replay.
    execution: String,
    #[arg(long)]
    tenant: Option<String>,
    #[arg(long, value_enum, default_value_t = super::check::Format::Human)]
    format: super::check::Format,
    #[command(flatten)]
    state: StateArgs,
}

pub fn run(global: &Global, args: Args) -> u8 {
    let program = match state::program(&args.state, global) {
        Ok(p) => p,
        Err(f) => return f.print(),
    };
    let engine = match state::engine(&args.state) {
        Ok(e) => e,
        Err(f) => return f.print(),
    };
    let Some(original) =
        super::inspect::find_execution(&*engine.store, &args.execution, args.tenant.as_deref())
    else {
        super::print_error(
            &format!(
                "no execution `{}` in `{}`",
                args.execution,
                args.state.data.display()
            ),
            Some("list them with `cmap executions`"),
        );
        return EXIT_USAGE;
    };
    let Some(task) = program.task(&original.sync_task_id) else {
        super::print_error(
            &format!(
                "execution `{}` ran task `{}`, which the pipelines no longer declare",
                original.id, original.sync_task_id
            ),
            None,
        );
        return EXIT_USAGE;
    };
    match engine.replay(
        &original.tenant_id,
        &original.id,
        task,
        &original.tenant_integration_id,
        &Quiet,
    ) {
        Ok(e) => {
            if args.format == super::check::Format::Json {
                let mut out = super::out::Out::stdout();
                outln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&e).unwrap_or_default()
                );
                out.finish(code(&e))
            } else {
                errln!("{}", super::run::summary(&e));
                code(&e)
            }
        }
        Err(e) => {
            super::print_error(&e.to_string(), e.help().as_deref());
            EXIT_FAILURE
        }
    }
}

/// The exit code of a replay: its execution's status.
fn code(e: &crate::store::SyncExecution) -> u8 {
    match e.status {
        ExecutionStatus::Success => EXIT_OK,
        ExecutionStatus::Partial => EXIT_PARTIAL,
        _ => EXIT_FAILURE,
    }
}
