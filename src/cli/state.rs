//! What the state-keeping commands share: the data directory, the pipelines, the store,
//! the keyring, the engine.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{load, Global};
use crate::compile::ir::Program;
use crate::engine::{self, Engine};
use crate::store::crypto::Keyring;
use crate::store::{SledStore, Store};

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
pub fn open_store(data: &Path) -> Result<Arc<dyn Store>, Failure> {
    let store = SledStore::open(data).map_err(|e| {
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
    let store = open_store(&state.data)?;
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
