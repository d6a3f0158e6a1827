//! `cmap prune [--data DIR] [--keep-... N] [--format json]`: removes what the retention
//! settings say has expired (old executions with their logs, expired dead letters, old
//! webhook event ids, old audit log entries), for deployments that run `cmap run` from cron rather than `cmap
//! serve` (which prunes by itself). Prints what it removed. Exit 0, or 2 when the data
//! directory is unusable.

use chrono::Utc;

use super::state::{self, RetentionArgs, StateArgs};
use super::{Global, EXIT_OK};
use crate::store::{PruneRequest, Pruned, Retention, Store, StoreError};

/// Records one prune call may remove: the commit lock is held for one call, a few
/// milliseconds at this size.
pub const BATCH: usize = 1000;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    retention: RetentionArgs,
    /// `human` (a sentence) or `json` (`{"executions", "logs", "deadLetters", "eventIds",
    /// "auditEntries"}`).
    #[arg(long, value_enum, default_value_t = super::check::Format::Human)]
    format: super::check::Format,
    #[command(flatten)]
    state: StateArgs,
}

pub fn run(_global: &Global, args: Args) -> u8 {
    let store = match state::open_store(&args.state) {
        Ok(s) => s,
        Err(f) => return f.print(),
    };
    let (pruned, _) = match pass(&*store, &args.retention.retention(), None) {
        Ok(p) => p,
        Err(e) => return state::Failure::usage(e.to_string(), None).print(),
    };
    let mut out = super::out::Out::stdout();
    if args.format == super::check::Format::Json {
        outln!(
            out,
            "{}",
            serde_json::json!({
                "executions": pruned.executions,
                "logs": pruned.logs,
                "deadLetters": pruned.dead_letters,
                "eventIds": pruned.event_ids,
                "auditEntries": pruned.audit_entries,
            })
        );
    } else {
        outln!(out, "{}", summary(&pruned));
    }
    out.finish(EXIT_OK)
}

/// A pruning pass: bounded calls of [`Store::prune`], then of [`Store::prune_audit`],
/// until the pass is complete, or `max_calls` of them. What they removed, and whether
/// the pass completed.
pub fn pass(
    store: &dyn Store,
    retention: &Retention,
    max_calls: Option<usize>,
) -> Result<(Pruned, bool), StoreError> {
    let mut total = Pruned::default();
    let mut after = None;
    let mut calls = 0;
    loop {
        if max_calls.is_some_and(|max| calls >= max) {
            return Ok((total, false));
        }
        calls += 1;
        let step = store.prune(&PruneRequest {
            retention: *retention,
            now: Utc::now(),
            limit: BATCH,
            after: after.take(),
        })?;
        total.add(&step);
        match step.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    loop {
        if max_calls.is_some_and(|max| calls >= max) {
            return Ok((total, false));
        }
        calls += 1;
        let removed = store.prune_audit(&retention.audit, Utc::now(), BATCH)?;
        total.audit_entries = total.audit_entries.saturating_add(removed);
        if removed < BATCH as u64 {
            return Ok((total, true));
        }
    }
}

/// `pruned 3 executions (12 log lines), 0 dead letters, 40 event ids, 0 audit entries`.
pub fn summary(p: &Pruned) -> String {
    format!(
        "pruned {} executions ({} log lines), {} dead letters, {} event ids, {} audit entries",
        p.executions, p.logs, p.dead_letters, p.event_ids, p.audit_entries
    )
}
