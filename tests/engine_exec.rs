//! Executions as the server and `cmap run` start them, in process: one OAuth client per
//! connection (concurrent runs refresh once), cancel and shutdown reaching a run that
//! waits to retry, panics contained, a log line at every end, and quotas that pause a
//! task until they reset.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use cmap::compile::ir::{Connection, Program};
use cmap::engine::{self, CancellationToken, Engine, Options, Quiet, RunRequest};
use cmap::serve::metrics::Metrics;
use cmap::serve::runner::{Runner, TriggerError};
use cmap::serve::state::{Loaded, Shared};
use cmap::store::crypto::Keyring;
use cmap::store::{
    Batch, ConnectionRecord, DeadLetter, ExecutionResults, ExecutionStatus, FinishedRun, Op,
    PendingReference, Shard, SledStore, SourceKey, Store, StoreError, SyncExecution, SyncLog,
    TaskState, TaskUpdate, TriggeredBy,
};
use serde_json::{json, Value};

use crate::support::{mock_feeds, mock_hubspot, mock_salesforce};

/// A workspace: pipelines compiled, a store and keyring in `data/`, an engine.
struct Env {
    dir: tempfile::TempDir,
    program: Arc<Program>,
    store: Arc<dyn Store>,
    keyring: Arc<Keyring>,
    engine: Arc<Engine>,
}

fn env(pipeline: &str, page_size: usize) -> Env {
    env_with(pipeline, page_size, |store| store)
}

/// [`env`], with the store wrapped (to inject faults).
fn env_with(
    pipeline: &str,
    page_size: usize,
    wrap: impl FnOnce(Arc<dyn Store>) -> Arc<dyn Store>,
) -> Env {
    let dir = tempfile::tempdir().expect("temp dir");
    let pipelines = dir.path().join("pipelines");
    std::fs::create_dir_all(&pipelines).expect("mkdir");
    std::fs::write(pipelines.join("p.cmap"), pipeline).expect("write");
    let program = cmap::serve::loader::load(&pipelines, None, Utc::now())
        .unwrap_or_else(|r| panic!("the pipeline checks:\n{}", r.rendered))
        .program;
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&dir.path().join("data")).expect("store"));
    let store = wrap(store);
    let keyring = Arc::new(Keyring::load(&dir.path().join("data"), None).expect("keyring"));
    let engine = Arc::new(Engine::new(
        store.clone(),
        Some(keyring.clone()),
        Options {
            page_size,
            base_dir: pipelines,
            ..Options::default()
        },
    ));
    Env {
        dir,
        program: Arc::new(program),
        store,
        keyring,
        engine,
    }
}

impl Env {
    fn connection(&self, id: &str) -> Arc<Connection> {
        self.program
            .connections
            .iter()
            .find(|c| c.id == id)
            .cloned()
            .expect("the connection is declared")
    }

    /// Stores a connection's secrets (as `cmap connections set` does).
    fn store_secrets(&self, connection: &str, secrets: Value) {
        let Value::Object(secrets) = secrets else {
            panic!("secrets are an object")
        };
        engine::save_stored(
            &self.connection(connection),
            "default",
            &*self.store,
            &self.keyring,
            secrets,
            None,
        )
        .expect("secrets stored");
    }

    fn stored_secrets(&self, connection: &str) -> serde_json::Map<String, Value> {
        engine::load_stored(
            &self.connection(connection),
            "default",
            &*self.store,
            Some(&self.keyring),
        )
        .expect("stored secrets")
    }

    fn request(&self, task: &str) -> RunRequest<'_> {
        RunRequest {
            task: self.program.task(task).expect("the task is declared"),
            connections: &self.program.connections,
            full: false,
            triggered_by: TriggeredBy::Manual,
            triggered_by_user_id: None,
            retry_of: None,
        }
    }

    /// `cmap serve` over this environment's pipelines and engine, on 127.0.0.1:0 (no
    /// watcher): its base URL, the sender that shuts it down, and its task.
    async fn serve(
        &self,
        shutdown_deadline: Duration,
    ) -> (
        String,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<Result<(), cmap::serve::server::ServeError>>,
    ) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let options = cmap::serve::server::Options {
            pipelines: self.dir.path().join("pipelines"),
            watch: false,
            shutdown_deadline,
            ..cmap::serve::server::Options::default()
        };
        let server = tokio::spawn(cmap::serve::server::run(
            options,
            self.engine.clone(),
            listener,
            None,
            async {
                let _ = stopped.await;
            },
        ));
        (base, stop, server)
    }

    async fn execute(&self, task: &str) -> SyncExecution {
        self.engine
            .execute(self.request(task), &Quiet, &CancellationToken::new())
            .await
            .expect("the execution runs")
    }

    fn task_state(&self, task: &str) -> TaskState {
        self.store
            .task_state("default", task)
            .expect("store")
            .expect("a task state")
    }

    fn log_text(&self, execution: &str) -> String {
        self.store
            .logs(
                "default",
                execution,
                &cmap::store::PageRequest::first(cmap::store::Limit::MAX),
            )
            .expect("logs")
            .items
            .iter()
            .map(|l| l.message.clone())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// A runner over this workspace, as the server builds it.
    fn runner(&self) -> Arc<Runner> {
        self.runner_of(4)
    }

    /// [`Env::runner`] with at most `max_concurrent` executions at once.
    fn runner_of(&self, max_concurrent: usize) -> Arc<Runner> {
        let (events, _inbox) = tokio::sync::mpsc::channel(16);
        let shared = Arc::new(Shared {
            current: RwLock::new(Arc::new(Loaded::new(self.program.clone(), 1, &self.engine))),
            files: RwLock::new(BTreeMap::new()),
            engine: self.engine.clone(),
            pipelines_dir: self.dir.path().join("pipelines"),
            events,
        });
        Runner::new(shared, Arc::new(Metrics::default()), max_concurrent, None)
    }
}

/// The newest execution of a task.
fn newest(store: &dyn Store, task: &str) -> Option<SyncExecution> {
    store
        .executions("default", Some(task), &Default::default())
        .expect("executions")
        .items
        .into_iter()
        .next()
}

/// Waits (bounded, in the runtime's time) until `f` holds.
async fn until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}

fn people(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"id": format!("u{i}"), "name": format!("User {i}"), "email": format!("u{i}@example.com")}))
        .collect()
}

const REST_PIPELINE: &str = r#"
connection api {
  integration rest
  auth none
  settings {
    baseUrl: "BASE"
    path: "/api/offset/{entity}"
    recordsPath: "results"
    pagination: { type: "offset", totalPath: "total" }
  }
}

schema people {
  source rest.people
  target c_contact
  dedupe external_id(id)
  name = name
  email = email
}

task people-sync { schema people  connection api  retry 3 times every 3600s }
"#;

// ---- 1. one OAuth client per connection ----

fn salesforce_pipeline(handle: &mock_salesforce::Handle) -> String {
    format!(
        r#"
connection sf {{
  integration salesforce
  auth oauth2 {{ clientId: "{}", clientSecret: stored, refreshToken: stored, tokenUrl: "{}" }}
  settings {{ instanceUrl: "{}" }}
}}

schema contacts {{
  source salesforce.Contact
  target c_contact
  dedupe external_id(Id)
  name = "${{FirstName}} ${{LastName}}"
  email = Email
}}

schema accounts {{
  source salesforce.Account
  target c_company
  dedupe external_id(Id)
  name = Name
}}

task sf-contacts {{ schema contacts  connection sf }}
task sf-accounts {{ schema accounts  connection sf }}
"#,
        mock_salesforce::CLIENT_ID,
        handle.token_url(),
        handle.base_url()
    )
}

fn salesforce_objects(contacts: usize) -> BTreeMap<String, Vec<Value>> {
    let contacts = (0..contacts)
        .map(|i| {
            mock_salesforce::contact(
                &format!("003X{i}"),
                &format!("Name{i}"),
                "2026-11-01T10:00:00.000+0000",
            )
        })
        .collect();
    let accounts = (0..3)
        .map(|i| json!({"Id": format!("001X{i}"), "IsDeleted": false, "Name": format!("Acme {i}"), "SystemModstamp": "2026-11-01T10:00:00.000+0000"}))
        .collect();
    [
        ("Contact".to_string(), contacts),
        ("Account".to_string(), accounts),
    ]
    .into_iter()
    .collect()
}

fn sf_env(handle: &mock_salesforce::Handle, page_size: usize) -> Env {
    let env = env(&salesforce_pipeline(handle), page_size);
    env.store_secrets(
        "sf",
        json!({"clientSecret": mock_salesforce::CLIENT_SECRET, "refreshToken": handle.refresh_token()}),
    );
    env
}

/// Two runs on one connection start together, with no access token yet, against a
/// server that rotates the refresh token on every refresh and revokes the old one.
/// Separate clients would both refresh with the same token and the second would be
/// refused; one shared client refreshes once for both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_on_one_oauth_connection_refresh_once_and_store_the_newest_token() {
    let (_addr, handle) = mock_salesforce::start(mock_salesforce::Config {
        objects: salesforce_objects(5),
        page_size: 2,
        rotate_refresh_tokens: true,
        ..mock_salesforce::Config::default()
    })
    .await;
    let env = sf_env(&handle, 2);
    let first_refresh = handle.refresh_token();

    let (contacts, accounts) = tokio::join!(env.execute("sf-contacts"), env.execute("sf-accounts"));
    for (e, created) in [(&contacts, 5), (&accounts, 3)] {
        assert_eq!(
            (e.status, e.results.created),
            (ExecutionStatus::Success, created),
            "{:?}",
            e.errors
        );
    }
    assert_eq!(handle.token_calls(), 1, "one refresh for both runs");
    let newest = handle.refresh_token();
    assert_ne!(newest, first_refresh, "the mock rotated the refresh token");
    assert_eq!(
        env.stored_secrets("sf")["refreshToken"],
        json!(newest),
        "the stored refresh token is the newest"
    );

    // Later runs keep using the same client (and its token): no new refresh.
    let again = env.execute("sf-contacts").await;
    assert_eq!(again.status, ExecutionStatus::Success);
    assert_eq!(handle.token_calls(), 1);

    // A stale session refreshes once more, with the rotated token, and stores the next.
    handle.expire_session();
    let (a, b) = tokio::join!(env.execute("sf-contacts"), env.execute("sf-accounts"));
    assert_eq!(
        (a.status, b.status),
        (ExecutionStatus::Success, ExecutionStatus::Success)
    );
    assert_eq!(handle.token_calls(), 2, "one refresh for both stale runs");
    assert_eq!(
        env.stored_secrets("sf")["refreshToken"],
        json!(handle.refresh_token())
    );
}

// ---- 2. cancel and shutdown reach a run waiting to retry ----

/// On tokio's paused clock: a run whose second page fails waits an hour to retry; a
/// cancel ends it at once, `cancelled`, with the checkpoint after page 1 kept, and the
/// next run resumes there.
#[tokio::test(start_paused = true)]
async fn a_run_waiting_an_hour_to_retry_is_cancelled_at_once_and_keeps_its_checkpoint() {
    let (addr, mock) = mock_feeds::start(mock_feeds::State::with_records(people(3))).await;
    let env = env(&REST_PIPELINE.replace("BASE", &format!("http://{addr}")), 1);
    let cancel = CancellationToken::new();
    let started = tokio::time::Instant::now();
    // Every request after the first page fails, so the run waits to retry (however far
    // it fetched ahead of its commits).
    mock.fail_after(1, 503);
    let run = env
        .engine
        .execute(env.request("people-sync"), &Quiet, &cancel);
    let watch = async {
        let store = env.store.clone();
        until("the run waits to retry", || {
            newest(&*store, "people-sync")
                .is_some_and(|e| env.log_text(&e.id).contains("retry 1 of 3 in"))
        })
        .await;
        cancel.cancel();
    };
    let (execution, ()) = tokio::join!(run, watch);
    let execution = execution.expect("the execution ran");

    assert_eq!(
        execution.status,
        ExecutionStatus::Cancelled,
        "{:?}",
        execution.errors
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "cancelled at once, not after the wait: {:?}",
        started.elapsed()
    );
    assert_eq!(execution.results.created, 1);
    let checkpoint = env
        .task_state("people-sync")
        .checkpoint
        .expect("the checkpoint stays");
    assert_eq!(checkpoint.execution_id, execution.id);

    // The next run resumes after page 1.
    *mock.fail_after.lock().expect("mock") = None;
    let next = env.execute("people-sync").await;
    assert_eq!(next.status, ExecutionStatus::Success);
    assert_eq!(next.retry_of.as_deref(), Some(execution.id.as_str()));
    assert_eq!((next.results.created, next.results.skipped), (2, 0));
}

/// `POST /api/executions/ID/cancel` ends a run waiting an hour to retry at once; the
/// server shuts down within its deadline while another waits, and that run ends
/// `cancelled` too (not abandoned `running`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_shutdown_reaches_a_run_waiting_to_retry() {
    let (addr, mock) = mock_feeds::start(mock_feeds::State::with_records(people(3))).await;
    let env = env(&REST_PIPELINE.replace("BASE", &format!("http://{addr}")), 1);
    // Every request fails: the run waits an hour after the first attempt.
    mock.fail_next(&[503; 20]);
    let deadline = Duration::from_secs(20);
    let (base, stop, server) = env.serve(deadline).await;
    let client = crate::support::api_client(&crate::support::admin_token(&*env.store));
    let mut accepted = false;
    for _ in 0..500 {
        if let Ok(r) = client
            .post(format!("{base}/api/tasks/people-sync/run"))
            .send()
            .await
        {
            accepted = r.status() == 202;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(accepted, "the run is accepted");
    let store = env.store.clone();
    until("the run waits to retry", || {
        newest(&*store, "people-sync").is_some_and(|e| env.log_text(&e.id).contains("retry 1 of 3"))
    })
    .await;
    let first = newest(&*env.store, "people-sync").expect("an execution");
    let cancel = client
        .post(format!("{base}/api/executions/{}/cancel", first.id))
        .send()
        .await
        .expect("answered");
    assert_eq!(cancel.status(), 202);
    until("the cancel reaches the waiting run", || {
        env.store
            .execution("default", &first.id)
            .ok()
            .flatten()
            .is_some_and(|e| e.status == ExecutionStatus::Cancelled)
    })
    .await;

    // Again, and this time the server shuts down while the run waits.
    mock.fail_next(&[503; 20]);
    let mut again = 0;
    for _ in 0..500 {
        again = client
            .post(format!("{base}/api/tasks/people-sync/run"))
            .send()
            .await
            .expect("answered")
            .status()
            .as_u16();
        if again != 409 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(again, 202);
    until("the second run waits to retry", || {
        newest(&*store, "people-sync")
            .is_some_and(|e| e.id != first.id && env.log_text(&e.id).contains("retry 1 of 3"))
    })
    .await;

    let asked = std::time::Instant::now();
    let _ = stop.send(());
    tokio::time::timeout(deadline + Duration::from_secs(5), server)
        .await
        .expect("the server stops")
        .expect("the server task")
        .expect("a clean stop");
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "shutdown took {:?}",
        asked.elapsed()
    );
    let execution = newest(&*env.store, "people-sync").expect("an execution");
    assert_eq!(execution.status, ExecutionStatus::Cancelled);
}

/// The runner's shutdown reaches a run waiting to retry and one waiting for a slot:
/// the first ends `cancelled`, the second never starts, and the runner is idle at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runner_shutdown_reaches_runs_waiting_to_retry_or_for_a_slot() {
    let (addr, mock) = mock_feeds::start(mock_feeds::State::with_records(people(3))).await;
    mock.fail_next(&[503; 20]);
    let pipeline = format!(
        "{}\ntask people-sync-2 {{ schema people  connection api }}\n",
        REST_PIPELINE.replace("BASE", &format!("http://{addr}"))
    );
    let env = env(&pipeline, 1);
    let runner = env.runner_of(1);
    runner
        .trigger("people-sync", TriggeredBy::Manual)
        .expect("triggered");
    let store = env.store.clone();
    until("the run waits to retry", || {
        newest(&*store, "people-sync").is_some_and(|e| env.log_text(&e.id).contains("retry 1 of 3"))
    })
    .await;
    runner
        .trigger("people-sync-2", TriggeredBy::Manual)
        .expect("queued for a slot");
    runner.begin_shutdown();
    tokio::time::timeout(Duration::from_secs(10), runner.wait_idle())
        .await
        .expect("idle at once");
    let first = newest(&*env.store, "people-sync").expect("an execution");
    assert_eq!(first.status, ExecutionStatus::Cancelled);
    assert!(
        newest(&*env.store, "people-sync-2").is_none(),
        "the queued run never started"
    );
    assert_eq!(
        runner.trigger("people-sync-2", TriggeredBy::Manual),
        Err(TriggerError::ShuttingDown)
    );
}

// ---- 3. a panic inside an execution is contained ----

/// What [`OnCommit`] calls before each commit, with its number (from 1) and batch.
type BeforeCommit = Box<dyn Fn(u64, &Batch) -> Result<(), StoreError> + Send + Sync>;

/// A store that calls `before` before committing: to panic on a commit, fail it, or
/// hold it back.
struct OnCommit {
    inner: Arc<dyn Store>,
    before: BeforeCommit,
    commits: AtomicU64,
}

impl Store for OnCommit {
    fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        (self.before)(self.commits.fetch_add(1, Ordering::SeqCst) + 1, &batch)?;
        self.inner.commit(batch)
    }
    fn shard(&self, tenant: &str, id: &str) -> Result<Option<Shard>, StoreError> {
        self.inner.shard(tenant, id)
    }
    fn shard_by_source(
        &self,
        tenant: &str,
        integration: &str,
        external_type: &str,
        external_id: &str,
    ) -> Result<Option<Shard>, StoreError> {
        self.inner
            .shard_by_source(tenant, integration, external_type, external_id)
    }
    fn shard_by_type(
        &self,
        tenant: &str,
        integration: &str,
        shard_type: &str,
        external_id: &str,
    ) -> Result<Option<Shard>, StoreError> {
        self.inner
            .shard_by_type(tenant, integration, shard_type, external_id)
    }
    fn shard_by_dedupe_key(
        &self,
        tenant: &str,
        shard_type: &str,
        key: &str,
    ) -> Result<Option<Shard>, StoreError> {
        self.inner.shard_by_dedupe_key(tenant, shard_type, key)
    }
    fn shards(
        &self,
        tenant: &str,
        shard_type: Option<&str>,
    ) -> Box<dyn Iterator<Item = Result<Shard, StoreError>> + '_> {
        self.inner.shards(tenant, shard_type)
    }
    fn tenants(&self) -> Result<Vec<String>, StoreError> {
        self.inner.tenants()
    }
    fn unmarked(
        &self,
        tenant: &str,
        integration: &str,
        external_type: &str,
        mark: &str,
    ) -> Result<Vec<(Shard, SourceKey)>, StoreError> {
        self.inner
            .unmarked(tenant, integration, external_type, mark)
    }
    fn count_by_source(
        &self,
        tenant: &str,
        integration: &str,
        external_type: &str,
    ) -> Result<u64, StoreError> {
        self.inner
            .count_by_source(tenant, integration, external_type)
    }
    fn pending_for(
        &self,
        tenant: &str,
        integration: &str,
        shard_type: &str,
        external_id: &str,
    ) -> Result<Vec<PendingReference>, StoreError> {
        self.inner
            .pending_for(tenant, integration, shard_type, external_id)
    }
    fn task_state(&self, tenant: &str, task_id: &str) -> Result<Option<TaskState>, StoreError> {
        self.inner.task_state(tenant, task_id)
    }
    fn execution(&self, tenant: &str, id: &str) -> Result<Option<SyncExecution>, StoreError> {
        self.inner.execution(tenant, id)
    }
    fn executions(
        &self,
        tenant: &str,
        task_id: Option<&str>,
        page: &cmap::store::PageRequest<cmap::store::ExecutionCursor>,
    ) -> Result<cmap::store::Page<SyncExecution, cmap::store::ExecutionCursor>, StoreError> {
        self.inner.executions(tenant, task_id, page)
    }
    fn running_executions(&self) -> Result<Vec<SyncExecution>, StoreError> {
        self.inner.running_executions()
    }
    fn logs(
        &self,
        tenant: &str,
        execution_id: &str,
        page: &cmap::store::PageRequest<cmap::store::LogCursor>,
    ) -> Result<cmap::store::Page<SyncLog, cmap::store::LogCursor>, StoreError> {
        self.inner.logs(tenant, execution_id, page)
    }
    fn event_seen(&self, tenant: &str, task_id: &str, event_id: &str) -> Result<bool, StoreError> {
        self.inner.event_seen(tenant, task_id, event_id)
    }
    fn dead_letters(
        &self,
        tenant: &str,
        execution_id: &str,
        page: &cmap::store::PageRequest<cmap::store::DeadLetterCursor>,
    ) -> Result<cmap::store::Page<DeadLetter, cmap::store::DeadLetterCursor>, StoreError> {
        self.inner.dead_letters(tenant, execution_id, page)
    }
    fn prune(
        &self,
        request: &cmap::store::PruneRequest,
    ) -> Result<cmap::store::Pruned, StoreError> {
        self.inner.prune(request)
    }
    fn connection(&self, tenant: &str, id: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        self.inner.connection(tenant, id)
    }
    fn connections(&self) -> Result<Vec<ConnectionRecord>, StoreError> {
        self.inner.connections()
    }
    fn put_connection(&self, record: &ConnectionRecord) -> Result<(), StoreError> {
        self.inner.put_connection(record)
    }
    cmap::forward_identity_methods!(inner);
}

/// A page whose commit fails ends the run at once, even while the fetch of the next
/// page (ahead of the commit) waits an hour to retry: that wait is cut short.
///
/// On the real clock: tokio's paused clock jumps ahead while the commit runs on a
/// blocking thread, so it would let the hour pass before the commit fails. The bound
/// below is only a safety net; a run that works ends in milliseconds.
#[tokio::test]
async fn a_failed_commit_does_not_wait_for_the_fetch_ahead_to_retry() {
    let (addr, mock) = mock_feeds::start(mock_feeds::State::with_records(people(3))).await;
    mock.fail_after(1, 503);
    let env = env_with(
        &REST_PIPELINE.replace("BASE", &format!("http://{addr}")),
        1,
        |inner| {
            Arc::new(OnCommit {
                inner,
                // Page 1's commit (the first that stores a shard; the fetch ahead's
                // retry log lines are commits too, in any order with it).
                before: Box::new(|_, batch| {
                    if has_shard(batch) {
                        Err(StoreError::Backend("injected: the disk is full".into()))
                    } else {
                        Ok(())
                    }
                }),
                commits: AtomicU64::new(0),
            })
        },
    );
    let cancel = CancellationToken::new();
    let run = env
        .engine
        .execute(env.request("people-sync"), &Quiet, &cancel);
    let result = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the run ends without waiting for the fetch ahead's retries");
    let failed = match result {
        Ok(execution) => execution
            .errors
            .iter()
            .any(|e| e.error.contains("disk is full")),
        Err(e) => e.to_string().contains("disk is full"),
    };
    assert!(failed, "the commit's error is reported");
}

/// Whether a batch stores a shard (a page's commit, not a log line or the execution).
fn has_shard(batch: &Batch) -> bool {
    batch
        .ops
        .iter()
        .any(|op| matches!(op, cmap::store::Op::PutShard { .. }))
}

/// A store whose `n`-th commit panics.
fn panicking_env(pipeline: &str, page_size: usize, n: u64) -> Env {
    env_with(pipeline, page_size, |inner| {
        Arc::new(OnCommit {
            inner,
            before: Box::new(move |i, _| {
                if i == n {
                    panic!("injected panic on commit {n}");
                }
                Ok(())
            }),
            commits: AtomicU64::new(0),
        })
    })
}

/// The next page is fetched while the current one commits: page 1's commit (the run's
/// second) is held until the API has been asked for page 2, which a run that fetched
/// only after committing would never do (the hold would run out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_page_is_fetched_while_the_current_one_commits() {
    let (addr, mock) = mock_feeds::start(mock_feeds::State::with_records(people(3))).await;
    let overlapped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (seen, watched) = (overlapped.clone(), mock.clone());
    let env = env_with(
        &REST_PIPELINE.replace("BASE", &format!("http://{addr}")),
        1,
        move |inner| {
            Arc::new(OnCommit {
                inner,
                // Page 1's commit: the first that stores a shard.
                before: Box::new(move |_, batch| {
                    if !has_shard(batch) || seen.load(Ordering::SeqCst) {
                        return Ok(());
                    }
                    // A blocking thread (the engine's commit): a bounded poll of the mock.
                    for _ in 0..2000 {
                        if watched.requests().len() >= 2 {
                            seen.store(true, Ordering::SeqCst);
                            return Ok(());
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Ok(())
                }),
                commits: AtomicU64::new(0),
            })
        },
    );
    let execution = env.execute("people-sync").await;
    assert_eq!(execution.status, ExecutionStatus::Success);
    assert_eq!(execution.results.created, 3);
    assert!(
        overlapped.load(Ordering::SeqCst),
        "page 2 was not asked for while page 1 committed: {:?}",
        mock.requests()
    );
}

/// `cmap run`'s path: the second commit (page 1) panics. The execution ends failed with
/// the panic's message instead of staying `running`; the next run works.
#[tokio::test]
async fn a_panic_inside_an_execution_fails_it_with_the_message() {
    let (addr, _mock) = mock_feeds::start(mock_feeds::State::with_records(people(3))).await;
    let env = panicking_env(
        &REST_PIPELINE.replace("BASE", &format!("http://{addr}")),
        1,
        2,
    );
    let execution = env.execute("people-sync").await;
    assert_eq!(execution.status, ExecutionStatus::Failed);
    let last = execution.errors.last().expect("an error");
    assert_eq!(last.phase, "panic");
    assert!(
        last.error.contains("injected panic on commit 2"),
        "{}",
        last.error
    );
    let stored = env
        .store
        .execution("default", &execution.id)
        .expect("store")
        .expect("stored");
    assert_eq!(stored.status, ExecutionStatus::Failed, "not left running");
    assert!(env.store.running_executions().expect("store").is_empty());
    let state = env.task_state("people-sync");
    assert_eq!(state.last_run_status, Some(ExecutionStatus::Failed));
    assert_eq!(state.stats.failed_runs, 1);

    let next = env.execute("people-sync").await;
    assert_eq!(next.status, ExecutionStatus::Success);
    assert_eq!(next.results.created, 3);
}

/// The server's path: a panicking run leaves no stale `running` entry; the task runs
/// again, the server keeps answering and shuts down at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_run_leaves_the_runner_ready_and_the_server_serving() {
    let (addr, _mock) = mock_feeds::start(mock_feeds::State::with_records(people(2))).await;
    let env = panicking_env(
        &REST_PIPELINE.replace("BASE", &format!("http://{addr}")),
        1,
        2,
    );
    let runner = env.runner();
    runner
        .trigger("people-sync", TriggeredBy::Manual)
        .expect("triggered");
    tokio::time::timeout(Duration::from_secs(10), runner.wait_idle())
        .await
        .expect("the runner is idle again");
    assert!(runner.running().is_empty(), "no stale running entry");
    let failed = newest(&*env.store, "people-sync").expect("an execution");
    assert_eq!(failed.status, ExecutionStatus::Failed);

    runner
        .trigger("people-sync", TriggeredBy::Manual)
        .expect("the task runs again");
    tokio::time::timeout(Duration::from_secs(10), runner.wait_idle())
        .await
        .expect("idle");
    let ok = newest(&*env.store, "people-sync").expect("an execution");
    assert_ne!(ok.id, failed.id);
    assert_eq!(ok.status, ExecutionStatus::Success);

    // The whole server: a panicking run, then it still answers and stops at once.
    let env = panicking_env(
        &REST_PIPELINE.replace("BASE", &format!("http://{addr}")),
        1,
        2,
    );
    let (base, stop, server) = env.serve(Duration::from_secs(20)).await;
    let client = crate::support::api_client(&crate::support::admin_token(&*env.store));
    let mut status = None;
    for _ in 0..500 {
        if let Ok(r) = client
            .post(format!("{base}/api/tasks/people-sync/run"))
            .send()
            .await
        {
            status = Some(r.status().as_u16());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(status, Some(202));
    let store = env.store.clone();
    until("the panicked execution is closed", || {
        newest(&*store, "people-sync").is_some_and(|e| e.status == ExecutionStatus::Failed)
    })
    .await;
    // Runs again (202, not 409 "already running"), and the server answers.
    let mut again = 0;
    for _ in 0..500 {
        again = client
            .post(format!("{base}/api/tasks/people-sync/run"))
            .send()
            .await
            .expect("answered")
            .status()
            .as_u16();
        if again != 409 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(again, 202);
    let health = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("answered");
    assert!(health.status().is_success());
    until("the second run succeeds", || {
        newest(&*store, "people-sync").is_some_and(|e| e.status == ExecutionStatus::Success)
    })
    .await;
    let asked = std::time::Instant::now();
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(25), server)
        .await
        .expect("the server stops")
        .expect("the server task")
        .expect("a clean stop");
    assert!(asked.elapsed() < Duration::from_secs(10));
}

// ---- 4. a log line when an execution ends ----

/// The server's log (the real binary, JSON lines on stderr) has one "execution finished"
/// line per execution, success and failure alike, with its fields; `cmap run` ends with
/// its summary line either way.
#[test]
fn every_end_is_logged_by_the_server_and_by_cmap_run() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (addr, mock) = rt.block_on(mock_feeds::start(mock_feeds::State::with_records(people(
        2,
    ))));
    let pipeline = REST_PIPELINE
        .replace("BASE", &format!("http://{addr}"))
        .replace("retry 3 times every 3600s", "retry 0 times every 0s");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("pipelines")).expect("mkdir");
    std::fs::write(dir.path().join("pipelines/p.cmap"), &pipeline).expect("write");

    // `cmap run`: the summary line ends the output, success or failure.
    let run = |dir: &std::path::Path| {
        crate::support::cmap_in(
            dir,
            &[
                "run",
                "people-sync",
                "--data",
                "data",
                "--pipelines",
                "pipelines",
            ],
            None,
        )
    };
    let ok = run(dir.path());
    ok.code(0);
    assert!(
        ok.stderr
            .lines()
            .any(|l| l.starts_with("success in ") && l.contains("created 2")),
        "{}",
        ok.stderr
    );
    mock.fail_next(&[400]);
    let failed = run(dir.path());
    failed.code(1);
    assert!(
        failed.stderr.lines().any(|l| l.starts_with("failed in ")),
        "{}",
        failed.stderr
    );
    assert!(failed.stderr.contains("400"), "{}", failed.stderr);

    // `cmap serve`: a structured line per end.
    let token = crate::support::cli_admin_token(dir.path(), None);
    let mut child = Command::new(env!("CARGO_BIN_EXE_cmap"))
        .current_dir(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("cmap serve runs");
    let stderr = child.stderr.take().expect("stderr");
    let (lines, inbox) = std::sync::mpsc::channel::<Value>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if lines.send(v).is_err() {
                    break;
                }
            }
        }
    });
    let next = |message: &str| -> Value {
        let give_up = std::time::Instant::now() + Duration::from_secs(20);
        while let Some(left) = give_up.checked_duration_since(std::time::Instant::now()) {
            match inbox.recv_timeout(left) {
                Ok(v) if v["fields"]["message"] == message => return v,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!("the server never logged `{message}`");
    };
    let listening = next("listening");
    let base = format!(
        "http://{}",
        listening["fields"]["addr"].as_str().unwrap_or_default()
    );
    let client = crate::support::api_client(&token);
    let trigger = || {
        rt.block_on(
            client
                .post(format!("{base}/api/tasks/people-sync/run"))
                .send(),
        )
        .map(|r| r.status().as_u16())
    };

    assert_eq!(trigger().ok(), Some(202));
    let success = next("execution finished");
    mock.fail_next(&[400]);
    // The first run may still be unregistering: retry a refused trigger (bounded).
    let mut status = trigger().ok();
    for _ in 0..200 {
        if status == Some(202) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
        status = trigger().ok();
    }
    assert_eq!(status, Some(202));
    let failure = next("execution finished");
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let _ = child.wait();

    let fields = |v: &Value| {
        let f = &v["fields"];
        (
            v["level"].as_str().map(str::to_string),
            f["task"].as_str().map(str::to_string),
            f["status"].as_str().map(str::to_string),
            f["created"].as_u64(),
            f["execution"].as_str().is_some_and(|id| !id.is_empty()),
            f["duration_ms"].is_u64(),
        )
    };
    let expected = |level: &str, status: &str, created| {
        (
            Some(level.to_string()),
            Some("people-sync".to_string()),
            Some(status.to_string()),
            Some(created),
            true,
            true,
        )
    };
    // The first run's shards exist already (from `cmap run`): skipped, not created.
    assert_eq!(
        fields(&success),
        expected("INFO", "success", 0),
        "{success}"
    );
    assert_eq!(success["fields"]["skipped"], 2, "{success}");
    assert!(success["fields"].get("error").is_none(), "{success}");
    assert_eq!(
        fields(&failure),
        expected("ERROR", "failed", 0),
        "{failure}"
    );
    let error = failure["fields"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("400"), "{failure}");
}

// ---- 5. quotas pause the task until they reset ----

/// Salesforce's `REQUEST_LIMIT_EXCEEDED`: the run ends partial at its checkpoint, the
/// task is paused until the quota is expected back (shown in the execution, its log and
/// the task state), the runner refuses to start it meanwhile with that reason, and the
/// first run after the pause resumes from the checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn salesforce_request_limit_pauses_the_task_until_the_quota_resets() {
    let (_addr, handle) = mock_salesforce::start(mock_salesforce::Config {
        objects: salesforce_objects(5),
        page_size: 2,
        // The query and one more batch, then the org is over its allocation.
        request_limit: Some(2),
        ..mock_salesforce::Config::default()
    })
    .await;
    let env = sf_env(&handle, 2);
    let before = Utc::now();
    let limited = env.execute("sf-contacts").await;
    assert_eq!(limited.status, ExecutionStatus::Partial);
    assert_eq!(limited.results.created, 4);
    assert_eq!(limited.retry_count, 0, "a used-up quota is not retried");
    let calls = handle.api_calls();

    let state = env.task_state("sf-contacts");
    let until = state
        .paused_until
        .expect("the task is paused until the reset");
    let hour = TimeDelta::hours(1);
    assert!(
        before + hour <= until && until <= Utc::now() + hour,
        "{until}"
    );
    assert!(state.checkpoint.is_some(), "the checkpoint stays");
    let error = &limited.errors.last().expect("an error").error;
    let when = until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(
        error.contains("REQUEST_LIMIT_EXCEEDED") && error.contains(&format!("paused until {when}")),
        "{error}"
    );
    assert!(env
        .log_text(&limited.id)
        .contains(&format!("paused until {when}")));

    // The server refuses to start it (scheduled or manual), with the reason.
    let runner = env.runner();
    let refused = runner.trigger("sf-contacts", TriggeredBy::Schedule);
    assert_eq!(
        refused,
        Err(TriggerError::QuotaPaused {
            task: "sf-contacts".into(),
            until
        })
    );
    assert!(refused
        .err()
        .is_some_and(|e| e.to_string().contains("quota is used up")));
    assert_eq!(runner.paused_until("sf-contacts"), Some(until));
    // Another task on the connection meets the quota too (one call); this task's pause
    // stays.
    let other = env.execute("sf-accounts").await;
    assert_eq!(other.status, ExecutionStatus::Partial);
    assert_eq!(
        handle.api_calls(),
        calls + 1,
        "no call spent on the paused task"
    );
    assert!(env.task_state("sf-contacts").paused_until.is_some());

    // The quota is back (as if the hour had passed): the next run resumes.
    handle.lift_request_limit();
    let mut batch = Batch::new("default");
    batch.push(Op::UpdateTask {
        task_id: "sf-contacts".into(),
        update: TaskUpdate {
            paused_until: Some(Some(Utc::now() - TimeDelta::seconds(1))),
            ..TaskUpdate::default()
        },
    });
    env.store.commit(batch).expect("store");
    runner
        .trigger("sf-contacts", TriggeredBy::Schedule)
        .expect("runs once the quota is back");
    tokio::time::timeout(Duration::from_secs(10), runner.wait_idle())
        .await
        .expect("idle");
    let resumed = newest(&*env.store, "sf-contacts").expect("an execution");
    assert_eq!(resumed.status, ExecutionStatus::Success);
    assert_eq!(resumed.retry_of.as_deref(), Some(limited.id.as_str()));
    assert_eq!(
        resumed.results.created, 1,
        "only what the first run did not store"
    );
    let state = env.task_state("sf-contacts");
    assert_eq!((state.paused_until, state.checkpoint), (None, None));
}

/// HubSpot's `DAILY` 429: paused until the next full hour (midnight in the account's
/// zone, which HubSpot does not say, falls on one), not retried.
#[tokio::test]
async fn hubspot_daily_limit_pauses_the_task_instead_of_retrying() {
    let handle = mock_hubspot::start(mock_hubspot::Config {
        objects: [(
            "contacts".to_string(),
            vec![mock_hubspot::contact(
                101,
                "a@example.com",
                "2024-03-01T10:00:00.000Z",
            )],
        )]
        .into_iter()
        .collect(),
        rate_limit: Some(mock_hubspot::RateLimit {
            after_calls: 0,
            times: 5,
            retry_after: None,
            policy: "DAILY",
            interval_ms: 86_400_000,
        }),
        ..mock_hubspot::Config::default()
    })
    .await
    .1;
    let pipeline = format!(
        r#"
connection hs {{
  integration hubspot
  auth api_key {{ apiKey: stored }}
  settings {{ baseUrl: "{}" }}
}}

schema contacts {{
  source hubspot.contacts
  target c_contact
  dedupe external_id(id)
  name = properties.email
}}

task hs-contacts {{ schema contacts  connection hs  retry 3 times every 0s }}
"#,
        handle.base_url()
    );
    let env = env(&pipeline, 10);
    env.store_secrets("hs", json!({"apiKey": mock_hubspot::TOKEN}));
    let before = Utc::now();
    let execution = env.execute("hs-contacts").await;
    assert_eq!(execution.status, ExecutionStatus::Partial);
    assert_eq!(execution.retry_count, 0);
    assert_eq!(handle.calls(), 1, "one refused call, no retries");
    let until = env.task_state("hs-contacts").paused_until.expect("paused");
    // The next full hour after the refusal (the hour may turn during the test).
    let next_hour = cmap::connectors::hubspot::daily_limit_resets_at;
    assert!(
        until == next_hour(before) || until == next_hour(Utc::now()),
        "{until}"
    );
    assert!(until > before && until - before <= TimeDelta::hours(1));
    assert!(execution
        .errors
        .last()
        .is_some_and(|e| e.error.contains("DAILY") && e.error.contains("paused until")));
}

/// The webhook path: a panic while storing a delivery answers 500 with nothing stored
/// or marked seen but a failed execution carrying the panic's message; the server
/// keeps serving, and the redelivery is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_a_webhook_delivery_answers_500_and_the_redelivery_is_stored() {
    let pipeline = r#"
schema contacts {
  source salesforce.Contact
  target c_contact
  dedupe external_id(Id)
  name = LastName
}

task contact-events { schema contacts  schedule realtime token env("CMAP_TEST_WEBHOOK_TOKEN") }
"#;
    let env = panicking_env(pipeline, 10, 1);
    // The realtime task's token, read by the server when the pipelines load.
    crate::support::webhook_token_env();
    let (base, stop, server) = env
        .serve(cmap::serve::server::Options::default().shutdown_deadline)
        .await;
    let client = crate::support::api_client(&crate::support::admin_token(&*env.store));
    let deliver = || async {
        client
            .post(format!("{base}/webhooks/contact-events"))
            .header("X-Cmap-Token", crate::support::webhook_token_env())
            .header("X-Cmap-Event-Id", "evt-1")
            .json(&json!({"Id": "003A", "LastName": "Lovelace"}))
            .send()
            .await
            .map(|r| r.status().as_u16())
    };
    let mut first = None;
    for _ in 0..500 {
        if let Ok(status) = deliver().await {
            first = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(first, Some(500), "the panicking delivery is refused");
    assert!(env
        .store
        .shard_by_source("default", "salesforce", "Contact", "003A")
        .expect("store")
        .is_none());
    // The delivery's execution says what happened, as a run's would.
    let failed = newest(&*env.store, "contact-events").expect("a failed execution");
    assert_eq!(failed.status, ExecutionStatus::Failed);
    assert_eq!(failed.triggered_by, TriggeredBy::Webhook);
    assert!(
        failed
            .errors
            .iter()
            .any(|e| e.phase == "panic" && e.error.contains("injected panic on commit 1")),
        "{:?}",
        failed.errors
    );
    assert_eq!(env.task_state("contact-events").stats.failed_runs, 1);
    assert_eq!(deliver().await.ok(), Some(200), "the redelivery is stored");
    let stored = newest(&*env.store, "contact-events").expect("an execution");
    assert_ne!(stored.id, failed.id);
    assert_eq!(stored.status, ExecutionStatus::Success);
    assert!(env
        .store
        .shard_by_source("default", "salesforce", "Contact", "003A")
        .expect("store")
        .is_some());
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(25), server)
        .await
        .expect("the server stops")
        .expect("the server task")
        .expect("a clean stop");
}

/// `cmap run` (the binary): Ctrl-C while the run waits an hour to retry ends it at once,
/// `cancelled`, with its summary line.
#[test]
fn ctrl_c_reaches_cmap_run_waiting_to_retry() {
    use std::process::{Command, Stdio};

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (addr, mock) = rt.block_on(mock_feeds::start(mock_feeds::State::with_records(people(
        2,
    ))));
    mock.fail_next(&[503; 20]);
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("pipelines")).expect("mkdir");
    std::fs::write(
        dir.path().join("pipelines/p.cmap"),
        REST_PIPELINE.replace("BASE", &format!("http://{addr}")),
    )
    .expect("write");
    let child = Command::new(env!("CARGO_BIN_EXE_cmap"))
        .current_dir(dir.path())
        .args(["--color", "never", "run", "people-sync"])
        .args(["--data", "data", "--pipelines", "pipelines"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cmap run runs");
    // The first attempt failed: the run now waits an hour.
    let give_up = std::time::Instant::now() + Duration::from_secs(20);
    while mock.requests().is_empty() && std::time::Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!mock.requests().is_empty(), "the run reached the source");
    std::thread::sleep(Duration::from_millis(200));
    let asked = std::time::Instant::now();
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    // Bounded: a run that missed the signal is killed after 20 s and the test fails.
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(20));
        // SAFETY: our own child; harmless if it has exited.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
        }
    });
    let out = child.wait_with_output().expect("cmap exits");
    drop(watchdog);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "took {:?}: {stderr}",
        asked.elapsed()
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.lines().any(|l| l.starts_with("cancelled in ")),
        "{stderr}"
    );
    assert_eq!(mock.requests().len(), 1, "no retry after the cancel");
}

/// Counters in a stored task state at their maximum (a corrupt or hostile store) do not
/// panic a run: they stay at the maximum.
#[tokio::test]
async fn task_counters_at_their_maximum_saturate() {
    let (addr, _mock) = mock_feeds::start(mock_feeds::State::with_records(people(2))).await;
    let env = env(
        &REST_PIPELINE.replace("BASE", &format!("http://{addr}")),
        10,
    );
    // Stats change only by adding a finished run's counts: one run counted at the
    // maximum puts them there.
    let max = ExecutionResults {
        fetched: u64::MAX,
        created: u64::MAX,
        updated: 0,
        skipped: 0,
        failed: 0,
        deleted: 0,
    };
    let mut batch = Batch::new("default");
    batch.push(Op::UpdateTask {
        task_id: "people-sync".into(),
        update: TaskUpdate {
            finished: Some(FinishedRun {
                started_at: Utc::now(),
                completed_at: Utc::now(),
                status: ExecutionStatus::Success,
                results: max,
                error: None,
            }),
            ..TaskUpdate::default()
        },
    });
    env.store.commit(batch).expect("store");
    let execution = env.execute("people-sync").await;
    assert_eq!(
        execution.status,
        ExecutionStatus::Success,
        "{:?}",
        execution.errors
    );
    let stats = env.task_state("people-sync").stats;
    assert_eq!(
        (
            stats.total_runs,
            stats.records_processed,
            stats.records_created,
            stats.records_skipped
        ),
        (2, u64::MAX, u64::MAX, 0)
    );
}
