//! What the state-keeping commands share: the data directory, the pipelines, the store,
//! the keyring, the engine.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::num::NonZeroU32;

use super::{load, Global};
use crate::compile::ir::Program;
use crate::engine::{self, Engine};
use crate::store::crypto::Keyring;
use crate::store::{Cursor, Limit, Retention, SledStore, Store};

#[derive(Debug, Clone, clap::Args)]
pub struct StateArgs {
    /// The data directory (shards, executions, encrypted credentials).
    #[arg(
        long,
        global = true,
        env = "CMAP_DATA",
        default_value = "data",
        value_name = "DIR"
    )]
    pub data: PathBuf,
    /// The pipelines directory (the standard library is always loaded too).
    #[arg(
        long,
        global = true,
        env = "CMAP_PIPELINES",
        default_value = "pipelines",
        value_name = "DIR"
    )]
    pub pipelines: PathBuf,
    /// The store's page cache in MiB: what of the data stays in memory between reads
    /// (docs/performance.md). More speeds up re-runs over large data; less bounds memory.
    #[arg(
        long,
        global = true,
        env = "CMAP_CACHE_MB",
        default_value = "16",
        value_name = "MIB",
        value_parser = clap::value_parser!(u64).range(1..=1_048_576)
    )]
    pub cache_mb: u64,
}

/// How long state is kept (docs/sync.md, "Retention"): what `cmap serve`, `cmap run`
/// and `cmap prune` prune by. Each is at least 1: a zero is refused, never read as
/// "delete everything".
#[derive(Debug, Clone, clap::Args)]
pub struct RetentionArgs {
    /// Days an execution (with its log) is kept after it started.
    #[arg(
        long,
        env = "CMAP_KEEP_EXECUTIONS_DAYS",
        default_value = "90",
        value_name = "DAYS",
        value_parser = days
    )]
    pub keep_executions_days: NonZeroU32,
    /// Executions kept per task: the newest N.
    #[arg(
        long,
        env = "CMAP_KEEP_EXECUTIONS_PER_TASK",
        default_value = "1000",
        value_name = "N",
        value_parser = per_task
    )]
    pub keep_executions_per_task: NonZeroU32,
    /// Days the records an execution could not map (its dead letters, for `cmap replay`)
    /// are kept after it started; then they are gone for good.
    #[arg(
        long,
        env = "CMAP_KEEP_DEAD_LETTERS_DAYS",
        default_value = "30",
        value_name = "DAYS",
        value_parser = days
    )]
    pub keep_dead_letters_days: NonZeroU32,
    /// Hours a webhook delivery's event id is remembered (a redelivery of it meanwhile is
    /// acknowledged and ignored). Keep it longer than senders redeliver.
    #[arg(
        long,
        env = "CMAP_KEEP_EVENT_IDS_HOURS",
        default_value = "168",
        value_name = "HOURS",
        value_parser = hours
    )]
    pub keep_event_ids_hours: NonZeroU32,
    /// Days an audit log entry is kept (docs/api.md, "Audit log").
    #[arg(
        long,
        env = "CMAP_KEEP_AUDIT_DAYS",
        default_value = "365",
        value_name = "DAYS",
        value_parser = days
    )]
    pub keep_audit_days: NonZeroU32,
    /// Audit log entries kept per tenant (and of global changes): the newest N.
    #[arg(
        long,
        env = "CMAP_KEEP_AUDIT_ENTRIES",
        default_value = "10000",
        value_name = "N",
        value_parser = audit_entries
    )]
    pub keep_audit_entries: NonZeroU32,
}

impl RetentionArgs {
    pub fn retention(&self) -> Retention {
        Retention {
            execution_days: self.keep_executions_days,
            executions_per_task: self.keep_executions_per_task,
            dead_letter_days: self.keep_dead_letters_days,
            event_id_hours: self.keep_event_ids_hours,
            audit: crate::store::AuditRetention {
                per_scope: self.keep_audit_entries,
                days: self.keep_audit_days,
            },
        }
    }
}

/// At most 100 years: dates past chrono's range are never needed.
const MAX_DAYS: u32 = 36_500;

fn days(text: &str) -> Result<NonZeroU32, String> {
    bounded(text, MAX_DAYS, "days")
}

fn hours(text: &str) -> Result<NonZeroU32, String> {
    bounded(text, MAX_DAYS * 24, "hours")
}

fn per_task(text: &str) -> Result<NonZeroU32, String> {
    bounded(text, 1_000_000_000, "executions")
}

fn audit_entries(text: &str) -> Result<NonZeroU32, String> {
    bounded(text, 1_000_000_000, "entries")
}

/// A retention setting: a whole number from 1 to `max`; 0 (or less) is refused, saying
/// what it would have meant.
fn bounded(text: &str, max: u32, unit: &str) -> Result<NonZeroU32, String> {
    let n: i64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a whole number of {unit} (from 1 to {max})"))?;
    if n < 1 {
        return Err(format!(
            "{n} would keep nothing: a retention is from 1 to {max} {unit} (raise it to keep more)"
        ));
    }
    u32::try_from(n)
        .ok()
        .filter(|n| *n <= max)
        .and_then(NonZeroU32::new)
        .ok_or_else(|| format!("{n} is more than {max} {unit}"))
}

/// The page options of a list command (`cmap executions`, `cmap logs`).
#[derive(Debug, Clone, clap::Args)]
pub struct PageArgs {
    /// At most this many per page (1 to 1000).
    #[arg(long, default_value = "100", value_name = "N", value_parser = limit)]
    pub limit: Limit,
    /// Start after the page that printed this cursor (`more: ... --cursor C`).
    #[arg(long, value_name = "CURSOR")]
    pub cursor: Option<String>,
    /// Print every page, one after the other (memory stays that of one page).
    #[arg(long)]
    pub all: bool,
}

impl PageArgs {
    /// The cursor given, read; a usage failure naming the fix when it is not one the
    /// command printed.
    pub fn after<C: Cursor>(&self, command: &str, start: &str) -> Result<Option<C>, Failure> {
        match &self.cursor {
            None => Ok(None),
            Some(text) => C::decode(text).map(Some).map_err(|e| {
                Failure::usage(
                    format!("--cursor: {e}"),
                    Some(format!(
                        "pass the cursor `{command}` printed after `more:` as it is, or leave --cursor out to start from {start}"
                    )),
                )
            }),
        }
    }
}

fn limit(text: &str) -> Result<Limit, String> {
    Limit::parse(text).map_err(|e| e.to_string())
}

/// A failure before anything ran: printed, exit code 2 (or 1 when the pipelines do not check).
pub struct Failure {
    pub code: u8,
    pub message: String,
    pub help: Option<String>,
}

impl Failure {
    pub fn usage(message: impl Into<String>, help: Option<String>) -> Failure {
        Failure {
            code: super::EXIT_USAGE,
            message: message.into(),
            help,
        }
    }
    pub fn print(&self) -> u8 {
        if !self.message.is_empty() {
            super::print_error(&self.message, self.help.as_deref());
        }
        self.code
    }
}

/// Loads and checks the pipelines; diagnostics are printed; errors stop here.
pub fn program(state: &StateArgs, global: &Global) -> Result<Program, Failure> {
    let checked =
        load::check(std::slice::from_ref(&state.pipelines), global).map_err(|e| Failure {
            code: super::EXIT_USAGE,
            message: e.message,
            help: e.help,
        })?;
    load::report(&checked, global);
    match checked.program {
        Some(p) if !checked.has_errors() => Ok(p),
        _ => Err(Failure {
            code: super::EXIT_FAILURE,
            message: String::new(),
            help: None,
        }),
    }
}

/// Opens the store in the data directory (creating it, owner-only: it holds shards).
pub fn open_store(state: &StateArgs) -> Result<Arc<dyn Store>, Failure> {
    let data = &state.data;
    let options = crate::store::SledOptions {
        cache_bytes: state.cache_mb.saturating_mul(1024 * 1024),
    };
    let store = SledStore::open_with(data, options).map_err(|e| {
        Failure::usage(
            e.to_string(),
            Some("is another cmap process using this data directory? pass another --data".into()),
        )
    })?;
    // The store logs it (tracing); without a log (every command but `serve`), say it here.
    if !store.tightened().is_empty() && !tracing::dispatcher::has_been_set() {
        errln!(
            "note: `{}` was readable by other users; made it and its files owner-only (it holds shards)",
            data.display()
        );
    }
    Ok(Arc::new(store))
}

/// The master keyring (`CMAP_MASTER_KEY`, else `DATA/master.key`, created on first use).
pub fn keyring(data: &Path) -> Result<Arc<Keyring>, Failure> {
    let env = std::env::var("CMAP_MASTER_KEY").ok();
    Keyring::load(data, env.as_deref()).map(Arc::new).map_err(|e| Failure::usage(e.to_string(), Some("CMAP_MASTER_KEY is the base64 of 32 random bytes; unset it to use DATA/master.key".into())))
}

/// An engine over the data directory, with interrupted executions recovered.
pub fn engine(state: &StateArgs) -> Result<Engine, Failure> {
    let store = open_store(state)?;
    let keyring = keyring(&state.data)?;
    let engine = Engine::new(
        store,
        Some(keyring),
        engine::Options {
            base_dir: state.pipelines.clone(),
            ..engine::Options::default()
        },
    );
    let recovered = engine
        .recover_interrupted()
        .map_err(|e| Failure::usage(e.to_string(), None))?;
    for e in recovered {
        errln!("note: execution {} of task `{}` was interrupted; marked failed, the next run resumes from its checkpoint", e.id, e.sync_task_id);
    }
    Ok(engine)
}

/// A multi-threaded tokio runtime for one command.
pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::usage(format!("cannot start the async runtime: {e}"), None))
}
