//! What every part of the server shares: the loaded pipelines (swapped atomically on
//! reload), the engine, the runner, the metrics, and the event channel into the main
//! loop.
//!
//! Readers take an `Arc<Loaded>` snapshot and keep it for as long as they need it: an
//! execution that started on one version of a pipeline finishes on it, whatever reloads
//! happen meanwhile.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::webhook_secrets::WebhookSecrets;
use crate::compile::ir::Program;
use crate::engine::Engine;

/// One version of the pipelines, checked and compiled.
#[derive(Debug)]
pub struct Loaded {
    pub program: Arc<Program>,
    /// Increases with every successful reload (1 for the first load).
    pub generation: u64,
    pub loaded_at: DateTime<Utc>,
    /// The realtime tasks' tokens, read when this version loaded.
    pub webhooks: WebhookSecrets,
}

impl Loaded {
    /// Version `generation` of `program`, loaded now: its webhook tokens are read from
    /// the environment and `engine`'s store (see [`WebhookSecrets`]).
    pub fn new(program: Arc<Program>, generation: u64, engine: &Engine) -> Loaded {
        let webhooks = WebhookSecrets::resolve(&program, engine);
        Loaded {
            program,
            generation,
            loaded_at: Utc::now(),
            webhooks,
        }
    }
}

/// A pipeline file as the server last saw it (`GET /api/pipelines`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileStatus {
    pub path: PathBuf,
    /// SHA-256 of the content, hex.
    pub hash: String,
    /// When the content that is serving now was loaded.
    pub loaded_at: DateTime<Utc>,
    /// The diagnostics (as `check` renders them) of the last attempt to load a newer
    /// version, while that attempt failed; `None` once a valid version loads.
    pub last_error: Option<String>,
}

/// What drives the main loop. Fed by the file watcher, signals and the HTTP API; handled
/// in one place (`serve::run`), so reload and shutdown never race each other.
#[derive(Debug)]
pub enum Event {
    /// Re-read and re-check the pipelines; swap them in if they check.
    Reload { reason: String },
    /// Stop scheduling, let running executions reach a checkpoint, exit.
    Shutdown { reason: String },
}

/// Everything the server's parts share.
pub struct Shared {
    /// The version serving now. Replaced whole on reload (never mutated in place).
    pub current: RwLock<Arc<Loaded>>,
    /// Per file, what is loaded and the last reload error.
    pub files: RwLock<BTreeMap<PathBuf, FileStatus>>,
    pub engine: Arc<Engine>,
    pub pipelines_dir: PathBuf,
    pub events: mpsc::Sender<Event>,
}

impl Shared {
    /// The version serving now.
    pub fn snapshot(&self) -> Arc<Loaded> {
        // A poisoned lock only means a panic elsewhere while swapping; the Arc inside is
        // still a complete version.
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Swaps in a new version.
    pub fn swap(&self, loaded: Arc<Loaded>) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = loaded;
    }
}
