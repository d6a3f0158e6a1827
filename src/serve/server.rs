//! The server's life: load, serve, reload on demand, shut down gracefully.
//!
//! One event loop owns reload and shutdown (`Event`), fed by the file watcher, SIGHUP,
//! SIGTERM/SIGINT, the caller's shutdown future and `POST /api/reload`. Handling both
//! in one place means a reload never races a shutdown, and two reloads never overlap.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::Utc;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

use super::loader;
use super::metrics::Metrics;
use super::runner::{Finished, Runner};
use super::scheduler::{self, Entry, Missed, Plan};
use super::state::{Event, Loaded, Shared};
use crate::compile::config::MissedRuns;
use crate::compile::ir::{Schedule, TaskStatus};
use crate::engine::Engine;
use crate::store::TriggeredBy;

/// Server settings.
#[derive(Clone, Debug)]
pub struct Options {
    pub pipelines: PathBuf,
    /// The standard library directory (`None`: the embedded copy).
    pub stdlib: Option<PathBuf>,
    pub max_concurrent: usize,
    /// How long shutdown waits for running executions to reach a checkpoint.
    pub shutdown_deadline: Duration,
    /// Quiet time after the last file change before reloading.
    pub debounce: Duration,
    /// Watch the pipeline files (off in tests that reload explicitly).
    pub watch: bool,
    /// The HTTP API's settings (webhook limits, signature window).
    pub http: super::http::Config,
    /// What old state is pruned, at start and every 10 minutes (`retention.rs`).
    pub retention: crate::store::Retention,
    /// Where `/metrics` is served instead of the main address (`--metrics-listen`):
    /// Prometheus on a private interface, the API on a public one.
    pub metrics_listen: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            pipelines: PathBuf::from("pipelines"),
            stdlib: None,
            max_concurrent: 4,
            shutdown_deadline: Duration::from_secs(30),
            debounce: Duration::from_millis(300),
            watch: true,
            http: super::http::Config::default(),
            retention: crate::store::Retention::default(),
            metrics_listen: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The pipelines do not check: the diagnostics, rendered.
    #[error("the pipelines do not check:\n{0}")]
    Pipelines(String),
    #[error("{0}")]
    Io(String),
}

/// Loads the pipelines, serves HTTP on `listener`, reloads on events, and returns once
/// shut down (by `shutdown`, a signal, or the event channel) with every running
/// execution stopped at a checkpoint (or the deadline passed).
pub async fn run(
    options: Options,
    engine: Arc<Engine>,
    listener: TcpListener,
    on_finished: Option<Finished>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let first = {
        let (p, s) = (options.pipelines.clone(), options.stdlib.clone());
        // With the schemas and tasks stored through the API (`loader::load_stored`).
        let store = engine.store.clone();
        tokio::task::spawn_blocking(move || {
            loader::load_stored(&p, s.as_deref(), &*store, Utc::now())
        })
        .await
        .map_err(|e| ServeError::Io(format!("loading panicked: {e}")))?
        .map_err(|r| ServeError::Pipelines(r.rendered))?
    };
    // The event channel: bounded, since events are rare and a burst of identical
    // reload requests is worth dropping rather than queueing (see `request`).
    let (events, mut inbox) = mpsc::channel::<Event>(16);
    let shared = Arc::new(Shared {
        current: RwLock::new(Arc::new(Loaded::new(Arc::new(first.program), 1, &engine))),
        files: RwLock::new(first.files),
        engine,
        pipelines_dir: options.pipelines.clone(),
        events: events.clone(),
    });
    let metrics = Arc::new(Metrics::default());
    let runner = Runner::new(
        shared.clone(),
        metrics.clone(),
        options.max_concurrent,
        on_finished,
    );
    let pruner = super::retention::spawn(shared.engine.store.clone(), options.retention);
    // The scheduler: its plan follows every reload (a watch channel keeps only the
    // newest plan, which is all the scheduler needs).
    let (plans, plan_rx) = watch::channel(plan(&shared));
    let (stop_scheduler, scheduler_stopped) = oneshot::channel::<()>();
    let scheduler_task = {
        let runner = runner.clone();
        let trigger: scheduler::Trigger = Arc::new(move |task: &str| {
            if let Err(e) = runner.trigger(task, TriggeredBy::Schedule) {
                // Already running or paused: this run is skipped, the next one is planned.
                tracing::info!(task, reason = %e, "scheduled run skipped");
            }
        });
        tokio::spawn(scheduler::run(
            plan_rx,
            trigger,
            scheduler::system_clock(),
            async {
                let _ = scheduler_stopped.await;
            },
        ))
    };

    let addr = listener
        .local_addr()
        .map_err(|e| ServeError::Io(e.to_string()))?;
    let metrics_listener = match &options.metrics_listen {
        Some(at) => Some(TcpListener::bind(at).await.map_err(|e| {
            ServeError::Io(format!(
                "cannot listen on `{at}` for metrics: {e} (pass another address with --metrics-listen)"
            ))
        })?),
        None => None,
    };

    // Every source of events is in place before the server can be seen (HTTP answers,
    // "listening" is logged): a signal sent as soon as the address is known must find
    // its handler installed (an unhandled SIGHUP or SIGTERM would kill the process),
    // and a file saved then must find the watcher registered.
    // The caller's shutdown future and the OS signals feed the same loop.
    {
        let events = events.clone();
        tokio::spawn(async move {
            shutdown.await;
            let _ = events
                .send(Event::Shutdown {
                    reason: "requested".into(),
                })
                .await;
        });
    }
    spawn_signals(events.clone());
    // The watcher lives as long as this function: dropping it stops watching.
    let _watcher = if options.watch {
        watch_files(&options, events.clone())
    } else {
        None
    };

    let http_options = super::http::Config {
        metrics_apart: metrics_listener.is_some(),
        stdlib: options.stdlib.clone(),
        ..options.http.clone()
    };
    let app = super::http::router_with(
        shared.clone(),
        runner.clone(),
        metrics.clone(),
        http_options,
    );
    // HTTP stops when this fires, after the executions have settled, so a webhook in
    // flight during shutdown is still answered.
    let (stop_http, http_stopped) = oneshot::channel::<()>();
    let http_config = options.http.clone();
    let server = tokio::spawn(async move {
        super::listen::serve(listener, app, &http_config, async {
            let _ = http_stopped.await;
        })
        .await
    });
    // `/metrics` on its own address: the same connection limits, stopped with the rest.
    let (stop_metrics, metrics_stopped) = oneshot::channel::<()>();
    let metrics_server = match metrics_listener {
        Some(listener) => {
            let metrics_addr = listener
                .local_addr()
                .map_err(|e| ServeError::Io(e.to_string()))?;
            let app = super::http::metrics_router(runner.clone(), metrics.clone());
            let config = options.http.clone();
            tracing::info!(%metrics_addr, "serving metrics");
            Some(tokio::spawn(async move {
                super::listen::serve(listener, app, &config, async {
                    let _ = metrics_stopped.await;
                })
                .await
            }))
        }
        None => None,
    };
    tracing::info!(%addr, "listening");

    // The loop. Each arm is one event; nothing else changes the loaded version.
    while let Some(mut event) = inbox.recv().await {
        // One save often arrives as several events (an editor writes, renames, touches):
        // fold queued reloads into one, but never skip a queued shutdown.
        while matches!(event, Event::Reload { .. }) {
            match inbox.try_recv() {
                Ok(next) => event = next,
                Err(_) => break,
            }
        }
        match event {
            Event::Reload { reason } => {
                // Compile away from the async workers: a large pipeline must not stall
                // webhooks. The old version serves until the swap.
                let (p, s) = (options.pipelines.clone(), options.stdlib.clone());
                // The stored documents are read again too: an API write goes live here.
                let store = shared.engine.store.clone();
                let result = tokio::task::spawn_blocking(move || {
                    loader::load_stored(&p, s.as_deref(), &*store, Utc::now())
                })
                .await;
                match result {
                    Ok(Ok(version)) => {
                        let generation = shared.snapshot().generation + 1;
                        shared.swap(Arc::new(Loaded::new(
                            Arc::new(version.program),
                            generation,
                            &shared.engine,
                        )));
                        {
                            let mut files = shared.files.write().unwrap_or_else(|e| e.into_inner());
                            *files = loader::loaded(&files, version.files);
                        }
                        let _ = plans.send(plan(&shared));
                        metrics.reload(true);
                        tracing::info!(generation, %reason, "pipelines reloaded");
                    }
                    Ok(Err(refused)) => {
                        metrics.reload(false);
                        loader::refused(
                            &mut shared.files.write().unwrap_or_else(|e| e.into_inner()),
                            &refused,
                            Utc::now(),
                        );
                        tracing::warn!(%reason, "reload refused; the previous version keeps serving:\n{}", refused.rendered);
                    }
                    Err(e) => {
                        metrics.reload(false);
                        tracing::error!(error = %e, "reload panicked; the previous version keeps serving");
                    }
                }
            }
            Event::Shutdown { reason } => {
                tracing::info!(%reason, "shutting down");
                break;
            }
        }
    }

    // Shutdown: no new executions; running ones stop at their next page boundary (their
    // checkpoint stays for the next start); then HTTP stops.
    let _ = stop_scheduler.send(());
    // The scheduler holds the runner (and through it the store): wait until it is gone,
    // so that when `run` returns nothing of the server holds the data directory.
    let _ = scheduler_task.await;
    pruner.stop().await;
    runner.begin_shutdown();
    if tokio::time::timeout(options.shutdown_deadline, runner.wait_idle())
        .await
        .is_err()
    {
        tracing::warn!("executions still running after the shutdown deadline; they resume from their checkpoint at the next start");
    }
    let _ = stop_http.send(());
    let _ = stop_metrics.send(());
    if let Some(metrics_server) = metrics_server {
        metrics_server
            .await
            .map_err(|e| ServeError::Io(e.to_string()))?;
    }
    server.await.map_err(|e| ServeError::Io(e.to_string()))
}

/// SIGHUP reloads; SIGTERM and SIGINT shut down.
fn spawn_signals(events: mpsc::Sender<Event>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        // Installed here, synchronously, not in the task below: once this returns, the
        // signals are handled (the task may not have run yet; tokio buffers a signal
        // that arrives meanwhile).
        let (Ok(mut hup), Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::hangup()),
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::warn!("cannot listen for signals");
            return;
        };
        tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    // SIGHUP: re-read the pipelines.
                    _ = hup.recv() => Event::Reload { reason: "SIGHUP".into() },
                    // SIGTERM / SIGINT: graceful shutdown.
                    _ = term.recv() => Event::Shutdown { reason: "SIGTERM".into() },
                    _ = int.recv() => Event::Shutdown { reason: "SIGINT".into() },
                };
                let last = matches!(event, Event::Shutdown { .. });
                if events.send(event).await.is_err() || last {
                    return;
                }
            }
        });
    }
}

/// Watches the pipelines (and stdlib) directories; a burst of changes becomes one
/// reload after the debounce.
fn watch_files(
    options: &Options,
    events: mpsc::Sender<Event>,
) -> Option<
    notify_debouncer_full::Debouncer<
        notify_debouncer_full::notify::RecommendedWatcher,
        notify_debouncer_full::RecommendedCache,
    >,
> {
    use notify_debouncer_full::notify::RecursiveMode;
    let handler = move |result: notify_debouncer_full::DebounceEventResult| {
        if let Ok(batch) = result {
            if batch.iter().any(|e| relevant(&e.event)) {
                // try_send: the watcher thread must never block; a reload already queued
                // will read the newest files anyway.
                let _ = events.try_send(Event::Reload {
                    reason: "files changed".into(),
                });
            }
        }
    };
    let mut debouncer = match notify_debouncer_full::new_debouncer(options.debounce, None, handler)
    {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the pipeline files; reload with SIGHUP or POST /api/reload");
            return None;
        }
    };
    for dir in std::iter::once(&options.pipelines).chain(options.stdlib.as_ref()) {
        if let Err(e) = debouncer.watch(dir, RecursiveMode::Recursive) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot watch");
        }
    }
    Some(debouncer)
}

/// Whether a file event can change the pipelines: a pipeline file (`.cmap`, `.json`)
/// was created, written, removed or renamed, or a folder came, went or was renamed (its
/// files change with it, and the event names only the folder). Editors' swap and backup
/// files are not.
///
/// Only changes count. notify reports opens and closes on Linux (`Access`), and a
/// reload reads every file: taking those for changes made every reload cause the next,
/// forever (and so did `cat` of a pipeline file). Metadata-only events (`touch`, `chmod`,
/// atime updates) change no content either.
fn relevant(event: &notify_debouncer_full::notify::Event) -> bool {
    use notify_debouncer_full::notify::event::{CreateKind, EventKind, ModifyKind, RemoveKind};
    let changes = match event.kind {
        EventKind::Create(_) | EventKind::Remove(_) => true,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        // Data, name, and the kinds a backend uses when it cannot tell.
        EventKind::Modify(_) => true,
        EventKind::Access(_) => false,
        // A backend that cannot tell what happened: take it as a change.
        EventKind::Any => true,
        EventKind::Other => false,
    };
    if !changes {
        return false;
    }
    let folder = matches!(
        event.kind,
        EventKind::Create(CreateKind::Folder) | EventKind::Remove(RemoveKind::Folder)
    );
    let renamed = matches!(event.kind, EventKind::Modify(ModifyKind::Name(_)));
    event.paths.iter().any(|p| {
        match p.extension().and_then(|x| x.to_str()) {
            Some("cmap" | "json") => true,
            // A folder renamed away leaves no way to tell it was a folder: a renamed
            // path without an extension is taken as one.
            None => folder || (renamed && !p.is_file()),
            Some(_) => false,
        }
    })
}

/// The scheduled tasks of the version serving now: active tasks with an interval or cron
/// schedule, with their last run (for missed runs) and missed-run policy (task config
/// `missedRuns: "skip"`; default: run once at start).
fn plan(shared: &Shared) -> Plan {
    let loaded = shared.snapshot();
    let program = &loaded.program;
    let entries = program
        .tasks
        .iter()
        .filter(|t| {
            t.status == TaskStatus::Active
                && matches!(
                    t.schedule,
                    Schedule::Interval { .. } | Schedule::Cron { .. }
                )
        })
        .map(|t| {
            let tenant = t.tenant.clone();
            let last_run_at = shared
                .engine
                .store
                .task_state(&tenant, &t.id)
                .ok()
                .flatten()
                .and_then(|s| s.last_run_at);
            // Typed at check time: `run_once` (the default) or `skip`.
            let missed = match t.config.engine.missed_runs {
                MissedRuns::Skip => Missed::Skip,
                MissedRuns::RunOnce => Missed::RunOnce,
            };
            Entry {
                task: t.id.clone(),
                schedule: t.schedule.clone(),
                last_run_at,
                missed,
            }
        })
        .collect();
    Arc::new(entries)
}

#[cfg(test)]
mod tests {
    use super::relevant;
    use notify_debouncer_full::notify::event::{
        AccessKind, AccessMode, CreateKind, DataChange, EventKind, MetadataKind, ModifyKind,
        RemoveKind, RenameMode,
    };
    use notify_debouncer_full::notify::Event;

    fn event(kind: EventKind, path: &str) -> Event {
        Event::new(kind).add_path(path.into())
    }

    #[test]
    fn pipeline_files_and_folders_count_and_editor_files_do_not() {
        let data = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        let renamed = EventKind::Modify(ModifyKind::Name(RenameMode::From));
        let cases = [
            (event(data, "/p/a.cmap"), true),
            (event(data, "/p/seed.json"), true),
            (event(data, "/p/.a.cmap.swp"), false),
            (event(data, "/p/a.cmap~"), false),
            (event(EventKind::Remove(RemoveKind::Folder), "/p/crm"), true),
            (event(EventKind::Create(CreateKind::Folder), "/p/crm"), true),
            (event(renamed, "/nonexistent/p/crm"), true),
            // Vim's write probe: a file without an extension, created and removed.
            (event(EventKind::Create(CreateKind::File), "/p/4913"), false),
            (event(EventKind::Remove(RemoveKind::File), "/p/4913"), false),
            (
                event(EventKind::Create(CreateKind::File), "/p/new.cmap"),
                true,
            ),
            (
                event(EventKind::Remove(RemoveKind::File), "/p/a.cmap"),
                true,
            ),
            (event(EventKind::Modify(ModifyKind::Any), "/p/a.cmap"), true),
            (event(EventKind::Any, "/p/a.cmap"), true),
            // Reads (`cat`, an editor opening the file, the reload itself) change nothing.
            (
                event(
                    EventKind::Access(AccessKind::Open(AccessMode::Any)),
                    "/p/a.cmap",
                ),
                false,
            ),
            (
                event(EventKind::Access(AccessKind::Read), "/p/a.cmap"),
                false,
            ),
            (
                event(
                    EventKind::Access(AccessKind::Close(AccessMode::Read)),
                    "/p/a.cmap",
                ),
                false,
            ),
            (
                event(
                    EventKind::Access(AccessKind::Close(AccessMode::Write)),
                    "/p/a.cmap",
                ),
                false,
            ),
            (
                event(
                    EventKind::Access(AccessKind::Open(AccessMode::Any)),
                    "/p/crm",
                ),
                false,
            ),
            // Metadata only: `touch`, `chmod`, atime.
            (
                event(
                    EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any)),
                    "/p/a.cmap",
                ),
                false,
            ),
            (
                event(
                    EventKind::Modify(ModifyKind::Metadata(MetadataKind::Permissions)),
                    "/p/a.cmap",
                ),
                false,
            ),
            (
                event(
                    EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)),
                    "/p/a.cmap",
                ),
                false,
            ),
            (event(EventKind::Other, "/p/a.cmap"), false),
        ];
        let got: Vec<bool> = cases.iter().map(|(e, _)| relevant(e)).collect();
        let want: Vec<bool> = cases.iter().map(|(_, w)| *w).collect();
        assert_eq!(got, want);
    }
}
