//! Concurrent writers on one store: a pull and webhook deliveries, two tasks of one
//! schema, two integrations meeting on a field_match or composite dedupe key, a
//! reference and its target, a full read's sweep, a replay.
//!
//! The same holds for a task's state: a pause or resume through the API, a run's
//! checkpoint and a delivery's stats never undo one another.
//!
//! Each race is made deterministic by [`Interleaved`], a store that, at the first
//! writer's critical point (its commit of shard writes: after it read the store, before
//! its writes land), runs the second writer to its end first. Then the shards are
//! counted per external id and dedupe key (exactly one) and every writer's update is
//! checked to be there. A threaded stress test runs the same kinds of writers freely.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use cmap::compile::ir::Program;
use cmap::engine::{
    CancellationToken, Delivery, Engine, Ingested, Observer, Options, Quiet, RunRequest,
};
use cmap::store::{
    Batch, ConnectionRecord, DeadLetter, ExecutionStatus, Op, PendingReference, Result, Shard,
    SledStore, SourceKey, Store, SyncExecution, SyncLog, TaskState, TriggeredBy,
};
use serde_json::{json, Value};

const TENANT: &str = "default";

/// Compiles `text` with the embedded standard library.
fn program(text: &str) -> Program {
    let mut sources = cmap::syntax::SourceMap::default();
    let mut docs = Vec::new();
    for (name, src) in cmap::stdlib::EMBEDDED {
        let id = sources.add(PathBuf::from(name), src.to_string());
        docs.push(cmap::syntax::parse(id, sources.get(id)).0);
    }
    let id = sources.add(PathBuf::from("test.cmap"), text.to_string());
    let (doc, diagnostics) = cmap::syntax::parse(id, sources.get(id));
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    docs.push(doc);
    let options = cmap::compile::Options {
        stdlib_docs: cmap::stdlib::EMBEDDED.len(),
        ..Default::default()
    };
    let compiled = cmap::compile::compile(&docs, &options);
    compiled
        .program
        .unwrap_or_else(|| panic!("the test pipeline compiles: {:#?}", compiled.diagnostics))
}

/// A workspace: pipeline files beside the program, and a store.
struct World {
    dir: tempfile::TempDir,
    store: Arc<SledStore>,
    program: Program,
}

fn world(pipeline: &str, files: &[(&str, &str)]) -> World {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    let store = Arc::new(SledStore::open(&dir.path().join("data")).expect("store"));
    World {
        dir,
        store,
        program: program(pipeline),
    }
}

impl World {
    /// An engine over `store` (the plain store, or one interleaving another writer).
    fn engine(&self, store: Arc<dyn Store>) -> Engine {
        Engine::new(
            store,
            None,
            Options {
                page_size: 2,
                base_dir: self.dir.path().to_path_buf(),
                ..Options::default()
            },
        )
    }

    fn plain(&self) -> Engine {
        self.engine(self.store.clone())
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.path().join(name), text).expect("write");
    }

    /// Every shard, by id.
    fn shards(&self) -> BTreeMap<String, Shard> {
        self.store
            .shards(TENANT, None)
            .map(|s| {
                let s = s.expect("shard");
                (s.id.clone(), s)
            })
            .collect()
    }

    /// The shards that say they come from `(integration, external type, id)`.
    fn shards_from(&self, integration: &str, external_type: &str, id: &str) -> Vec<Shard> {
        self.shards()
            .into_values()
            .filter(|s| {
                s.external_relationships.iter().any(|e| {
                    e.integration_id == integration
                        && e.external_id == id
                        && e.external_type.as_deref() == Some(external_type)
                })
            })
            .collect()
    }

    /// The one shard from `(integration, external type, id)`; fails on none or several.
    #[track_caller]
    fn one_from(&self, integration: &str, external_type: &str, id: &str) -> Shard {
        let found = self.shards_from(integration, external_type, id);
        assert_eq!(
            found.len(),
            1,
            "exactly one shard for {integration}/{external_type}/{id}: {found:#?}"
        );
        found.into_iter().next().expect("one")
    }
}

/// Runs one execution of `task` on its own runtime, in its own thread (so a writer may
/// run inside another writer's commit, wherever that commit runs).
fn pull(engine: &Engine, program: &Program, task: &str, full: bool) -> SyncExecution {
    pull_with(engine, program, task, full, None)
}

/// Cancels the run once `after` pages are committed.
struct CancelAfter<'a> {
    after: u64,
    cancel: &'a CancellationToken,
}

impl Observer for CancelAfter<'_> {
    fn page_committed(&self, _: &SyncExecution, page: u64) {
        if page >= self.after {
            self.cancel.cancel();
        }
    }
}

/// [`pull`], cancelled after `cancel_after` pages when given (it leaves a checkpoint).
fn pull_with(
    engine: &Engine,
    program: &Program,
    task: &str,
    full: bool,
    cancel_after: Option<u64>,
) -> SyncExecution {
    let task = program.task(task).expect("task").clone();
    let cancel = CancellationToken::new();
    let observer = CancelAfter {
        after: cancel_after.unwrap_or(u64::MAX),
        cancel: &cancel,
    };
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                let request = RunRequest {
                    task: &task,
                    connections: &program.connections,
                    full,
                    triggered_by: TriggeredBy::Manual,
                    triggered_by_user_id: None,
                    retry_of: None,
                };
                runtime
                    .block_on(engine.run(request, &observer, &cancel))
                    .expect("the run ends")
            })
            .join()
            .expect("the run does not panic")
    })
}

/// One webhook delivery of `records` to `task`.
fn deliver(engine: &Engine, program: &Program, task: &str, records: Value) -> SyncExecution {
    let task = program.task(task).expect("task");
    let Value::Array(records) = records else {
        panic!("records are an array")
    };
    let delivery = Delivery {
        records,
        event_id: None,
    };
    match engine
        .ingest_batch(task, &program.connections, vec![delivery])
        .expect("the delivery is stored")
        .pop()
    {
        Some(Ingested::Stored(execution)) => *execution,
        other => panic!("the delivery is not stored: {other:?}"),
    }
}

/// JSON lines of `records`.
fn lines(records: Value) -> String {
    let Value::Array(records) = records else {
        panic!("records are an array")
    };
    records.iter().map(|r| format!("{r}\n")).collect()
}

/// A store that runs `other` (a second writer, on the plain store) at the first
/// writer's critical points: its commits that satisfy `when` (e.g. [`writes_shards`]),
/// at most `times` of them. The second writer then reads and
/// commits between the first writer's reads and its commit.
struct Interleaved {
    inner: Arc<SledStore>,
    when: fn(&Batch) -> bool,
    other: Box<dyn Fn() + Send + Sync>,
    left: AtomicU32,
    fired: AtomicU32,
    /// The threads each store operation ran on (`(operation, thread)`).
    threads: Mutex<Vec<(&'static str, ThreadId)>>,
}

impl Interleaved {
    fn new(
        inner: &Arc<SledStore>,
        times: u32,
        when: fn(&Batch) -> bool,
        other: impl Fn() + Send + Sync + 'static,
    ) -> Arc<Interleaved> {
        Arc::new(Interleaved {
            inner: inner.clone(),
            when,
            other: Box::new(other),
            left: AtomicU32::new(times),
            fired: AtomicU32::new(0),
            threads: Mutex::new(Vec::new()),
        })
    }

    fn fired(&self) -> u32 {
        self.fired.load(Ordering::SeqCst)
    }

    fn saw(&self, operation: &'static str) {
        let mut threads = self.threads.lock().unwrap_or_else(|e| e.into_inner());
        threads.push((operation, std::thread::current().id()));
    }
}

fn writes_shards(batch: &Batch) -> bool {
    batch.ops.iter().any(|op| {
        matches!(
            op,
            Op::PutShard { .. } | Op::DeleteShard { .. } | Op::PutPending(_)
        )
    })
}

/// A page of a full read: it marks what it sees.
fn marks_shards(batch: &Batch) -> bool {
    batch.ops.iter().any(|op| matches!(op, Op::Mark { .. }))
}

fn deletes_shards(batch: &Batch) -> bool {
    batch
        .ops
        .iter()
        .any(|op| matches!(op, Op::DeleteShard { .. }))
}

impl Store for Interleaved {
    fn commit(&self, batch: Batch) -> Result<()> {
        self.saw("commit");
        if (self.when)(&batch)
            && self
                .left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            (self.other)();
            self.fired.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.commit(batch)
    }
    fn shard(&self, t: &str, id: &str) -> Result<Option<Shard>> {
        self.saw("shard");
        self.inner.shard(t, id)
    }
    fn shard_by_source(&self, t: &str, i: &str, e: &str, x: &str) -> Result<Option<Shard>> {
        self.saw("shard_by_source");
        self.inner.shard_by_source(t, i, e, x)
    }
    fn shard_by_type(&self, t: &str, i: &str, s: &str, x: &str) -> Result<Option<Shard>> {
        self.saw("shard_by_type");
        self.inner.shard_by_type(t, i, s, x)
    }
    fn shard_by_dedupe_key(&self, t: &str, s: &str, k: &str) -> Result<Option<Shard>> {
        self.saw("shard_by_dedupe_key");
        self.inner.shard_by_dedupe_key(t, s, k)
    }
    fn shards(&self, t: &str, s: Option<&str>) -> Box<dyn Iterator<Item = Result<Shard>> + '_> {
        self.saw("shards");
        self.inner.shards(t, s)
    }
    fn tenants(&self) -> Result<Vec<String>> {
        self.saw("tenants");
        self.inner.tenants()
    }
    fn unmarked(&self, t: &str, i: &str, e: &str, m: &str) -> Result<Vec<(Shard, SourceKey)>> {
        self.saw("unmarked");
        self.inner.unmarked(t, i, e, m)
    }
    fn count_by_source(&self, t: &str, i: &str, e: &str) -> Result<u64> {
        self.saw("count_by_source");
        self.inner.count_by_source(t, i, e)
    }
    fn pending_for(&self, t: &str, i: &str, s: &str, x: &str) -> Result<Vec<PendingReference>> {
        self.saw("pending_for");
        self.inner.pending_for(t, i, s, x)
    }
    fn task_state(&self, t: &str, id: &str) -> Result<Option<TaskState>> {
        self.saw("task_state");
        self.inner.task_state(t, id)
    }
    fn execution(&self, t: &str, id: &str) -> Result<Option<SyncExecution>> {
        self.saw("execution");
        self.inner.execution(t, id)
    }
    fn executions(
        &self,
        t: &str,
        task: Option<&str>,
        page: &cmap::store::PageRequest<cmap::store::ExecutionCursor>,
    ) -> Result<cmap::store::Page<SyncExecution, cmap::store::ExecutionCursor>> {
        self.saw("executions");
        self.inner.executions(t, task, page)
    }
    fn running_executions(&self) -> Result<Vec<SyncExecution>> {
        self.saw("running_executions");
        self.inner.running_executions()
    }
    fn logs(
        &self,
        t: &str,
        e: &str,
        page: &cmap::store::PageRequest<cmap::store::LogCursor>,
    ) -> Result<cmap::store::Page<SyncLog, cmap::store::LogCursor>> {
        self.saw("logs");
        self.inner.logs(t, e, page)
    }
    fn event_seen(&self, t: &str, task: &str, e: &str) -> Result<bool> {
        self.saw("event_seen");
        self.inner.event_seen(t, task, e)
    }
    fn dead_letters(
        &self,
        t: &str,
        e: &str,
        page: &cmap::store::PageRequest<cmap::store::DeadLetterCursor>,
    ) -> Result<cmap::store::Page<DeadLetter, cmap::store::DeadLetterCursor>> {
        self.saw("dead_letters");
        self.inner.dead_letters(t, e, page)
    }
    fn prune(&self, request: &cmap::store::PruneRequest) -> Result<cmap::store::Pruned> {
        self.saw("prune");
        self.inner.prune(request)
    }
    fn connection(&self, t: &str, id: &str) -> Result<Option<ConnectionRecord>> {
        self.saw("connection");
        self.inner.connection(t, id)
    }
    fn connections(&self) -> Result<Vec<ConnectionRecord>> {
        self.saw("connections");
        self.inner.connections()
    }
    fn put_connection(&self, record: &ConnectionRecord) -> Result<()> {
        self.saw("put_connection");
        self.inner.put_connection(record)
    }
    cmap::forward_identity_methods!(inner);
}

/// Contacts from Salesforce (pulled from a file or delivered), mapped by several schemas
/// that each write their own fields into the same shard type, and from HubSpot; keyed
/// by external id, email (field_match) or name (composite).
const CONTACTS: &str = r#"
connection sf-file { integration files  auth none  settings { path: "sf.jsonl" } }
connection sf-file-2 { integration files  auth none  settings { path: "sf2.jsonl" } }
connection hs-file { integration files  auth none  settings { path: "hs.jsonl" } }

schema names {
  source salesforce.Contact
  target c_contact { create_if_missing, update_if_exists }
  dedupe external_id(Id)
  name = LastName
}
schema phones {
  source salesforce.Contact
  target c_contact { create_if_missing, update_if_exists }
  dedupe external_id(Id)
  phone = Phone
}
schema both {
  source salesforce.Contact
  target c_contact { create_if_missing, update_if_exists }
  dedupe external_id(Id)
  name = LastName
  phone = Phone
}
schema sf-by-email {
  source salesforce.Contact
  target c_contact { create_if_missing, update_if_exists }
  dedupe field_match(Email)
  name = LastName
  email = Email
}
schema hs-by-email {
  source hubspot.contacts
  target c_contact { create_if_missing, update_if_exists }
  dedupe field_match(properties.email)
  phone = properties.phone
  email = properties.email
}
schema sf-by-name {
  source salesforce.Contact
  target c_contact { create_if_missing, update_if_exists }
  dedupe composite(FirstName, LastName)
  name = LastName
}
schema hs-by-name {
  source hubspot.contacts
  target c_contact { create_if_missing, update_if_exists }
  dedupe composite(properties.firstname, properties.lastname)
  phone = properties.phone
}

task pull-names { schema names  connection sf-file }
task pull-both { schema both  connection sf-file }
task pull-both-2 { schema both  connection sf-file-2 }
task hook-phones { schema phones }
task hook-both { schema both }
task hook-both-2 { schema both }
task pull-sf-by-email { schema sf-by-email  connection sf-file }
task hook-hs-by-email { schema hs-by-email }
task pull-hs-by-email { schema hs-by-email  connection hs-file }
task hook-sf-by-email { schema sf-by-email }
task pull-sf-by-name { schema sf-by-name  connection sf-file }
task hook-hs-by-name { schema hs-by-name }
"#;

/// A writer of a race.
#[derive(Clone, Copy)]
enum Writer {
    /// A run of this task (its file holds the records).
    Pull(&'static str),
    /// A webhook delivery of these records (a JSON array) to this task.
    Deliver(&'static str, &'static str),
}

impl Writer {
    fn run(self, engine: &Engine, program: &Program) -> SyncExecution {
        match self {
            Writer::Pull(task) => pull(engine, program, task, false),
            Writer::Deliver(task, records) => deliver(
                engine,
                program,
                task,
                serde_json::from_str(records).expect("records"),
            ),
        }
    }
}

/// An external id: `(integration, entity, id)`.
type Source = (&'static str, &'static str, &'static str);

const SF_003A: &[Source] = &[("salesforce", "Contact", "003A")];
struct Race {
    name: &'static str,
    files: &'static [(&'static str, &'static str)],
    /// Stored before the race (through the plain store), if anything.
    before: Option<Writer>,
    first: Writer,
    /// Runs whole between the first writer's reads and its commit.
    second: Writer,
    /// The entity's external ids (one per writer's source): the shards that come from
    /// any of them must be exactly one.
    key: &'static [Source],
    /// Fields the one shard must hold: every writer's update is there.
    expect: &'static str,
    /// Its version: one per write that changed it.
    version: u64,
}

const SF_ADA: &str =
    r#"{"Id":"003A","FirstName":"Ada","LastName":"Lovelace","Email":"ada@x.io","Phone":"+1"}"#;
const SF_ADA_DELIVERY: &str =
    r#"[{"Id":"003A","FirstName":"Ada","LastName":"Lovelace","Email":"ada@x.io","Phone":"+1"}]"#;

#[test]
fn racing_writers_make_one_shard_per_key_and_lose_no_update() {
    let races = [
        Race {
            name: "a pull and a webhook create the same contact",
            files: &[("sf.jsonl", SF_ADA)],
            before: None,
            first: Writer::Pull("pull-names"),
            second: Writer::Deliver(
                "hook-phones",
                r#"[{"Id":"003A","LastName":"L","Phone":"+44"}]"#,
            ),
            key: SF_003A,
            expect: r#"{"name":"Lovelace","phone":"+44"}"#,
            version: 2,
        },
        Race {
            name: "a webhook and a pull create the same contact",
            files: &[("sf.jsonl", SF_ADA)],
            before: None,
            first: Writer::Deliver(
                "hook-phones",
                r#"[{"Id":"003A","LastName":"L","Phone":"+44"}]"#,
            ),
            second: Writer::Pull("pull-names"),
            key: SF_003A,
            expect: r#"{"name":"Lovelace","phone":"+44"}"#,
            version: 2,
        },
        Race {
            name: "a pull and a webhook update different fields of a stored contact",
            files: &[("sf.jsonl", r#"{"Id":"003A","LastName":"New","Phone":"+1"}"#)],
            before: Some(Writer::Deliver(
                "hook-both",
                r#"[{"Id":"003A","LastName":"Old","Phone":"+1"}]"#,
            )),
            first: Writer::Pull("pull-names"),
            second: Writer::Deliver(
                "hook-phones",
                r#"[{"Id":"003A","LastName":"L","Phone":"+44"}]"#,
            ),
            key: SF_003A,
            expect: r#"{"name":"New","phone":"+44"}"#,
            version: 3,
        },
        Race {
            name: "two webhook tasks of one schema create the same contact",
            files: &[],
            before: None,
            first: Writer::Deliver(
                "hook-both",
                r#"[{"Id":"003A","LastName":"First","Phone":"+1"}]"#,
            ),
            second: Writer::Deliver(
                "hook-both-2",
                r#"[{"Id":"003A","LastName":"Second","Phone":"+2"}]"#,
            ),
            key: SF_003A,
            // The first writer commits last: its re-applied update wins, on top.
            expect: r#"{"name":"First","phone":"+1"}"#,
            version: 2,
        },
        Race {
            name: "two pull tasks of one schema update the same contact",
            files: &[
                (
                    "sf.jsonl",
                    r#"{"Id":"003A","LastName":"First","Phone":"+1"}"#,
                ),
                (
                    "sf2.jsonl",
                    r#"{"Id":"003A","LastName":"Second","Phone":"+2"}"#,
                ),
            ],
            before: Some(Writer::Deliver(
                "hook-both",
                r#"[{"Id":"003A","LastName":"Old","Phone":"+0"}]"#,
            )),
            first: Writer::Pull("pull-both"),
            second: Writer::Pull("pull-both-2"),
            key: SF_003A,
            expect: r#"{"name":"First","phone":"+1"}"#,
            version: 3,
        },
        Race {
            name: "Salesforce and HubSpot meet on a field_match key (email)",
            files: &[("sf.jsonl", SF_ADA)],
            before: None,
            first: Writer::Pull("pull-sf-by-email"),
            second: Writer::Deliver(
                "hook-hs-by-email",
                r#"[{"id":"501","properties":{"email":"ada@x.io","phone":"+44"},"createdAt":"2025-01-01T00:00:00Z","updatedAt":"2025-01-01T00:00:00Z"}]"#,
            ),
            key: &[
                ("salesforce", "Contact", "ada@x.io"),
                ("hubspot", "contacts", "ada@x.io"),
            ],
            expect: r#"{"name":"Lovelace","email":"ada@x.io","phone":"+44"}"#,
            version: 2,
        },
        Race {
            name: "HubSpot and Salesforce meet on a field_match key (email), the other way",
            files: &[(
                "hs.jsonl",
                r#"{"id":"501","properties":{"email":"ada@x.io","phone":"+44"},"createdAt":"2025-01-01T00:00:00Z","updatedAt":"2025-01-01T00:00:00Z"}"#,
            )],
            before: None,
            first: Writer::Pull("pull-hs-by-email"),
            second: Writer::Deliver("hook-sf-by-email", SF_ADA_DELIVERY),
            key: &[
                ("salesforce", "Contact", "ada@x.io"),
                ("hubspot", "contacts", "ada@x.io"),
            ],
            expect: r#"{"name":"Lovelace","email":"ada@x.io","phone":"+44"}"#,
            version: 2,
        },
        Race {
            name: "Salesforce and HubSpot meet on a composite key (first and last name)",
            files: &[("sf.jsonl", SF_ADA)],
            before: None,
            first: Writer::Pull("pull-sf-by-name"),
            second: Writer::Deliver(
                "hook-hs-by-name",
                r#"[{"id":"501","properties":{"firstname":"Ada","lastname":"Lovelace","phone":"+44"},"createdAt":"2025-01-01T00:00:00Z","updatedAt":"2025-01-01T00:00:00Z"}]"#,
            ),
            key: &[
                ("salesforce", "Contact", "Ada|Lovelace"),
                ("hubspot", "contacts", "Ada|Lovelace"),
            ],
            expect: r#"{"name":"Lovelace","phone":"+44"}"#,
            version: 2,
        },
    ];
    let mut failures = Vec::new();
    for race in &races {
        if let Err(why) = run_race(race) {
            failures.push(format!("{}: {why}", race.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn run_race(race: &Race) -> std::result::Result<(), String> {
    let w = world(CONTACTS, race.files);
    if let Some(before) = race.before {
        before.run(&w.plain(), &w.program);
    }
    let (second, second_engine, program) = (race.second, w.plain(), program(CONTACTS));
    let store = Interleaved::new(&w.store, 1, writes_shards, move || {
        second.run(&second_engine, &program);
    });
    let first = race.first.run(&w.engine(store.clone()), &w.program);
    if store.fired() != 1 {
        return Err(format!("the second writer ran {} times", store.fired()));
    }
    if first.status != ExecutionStatus::Success {
        return Err(format!(
            "the first writer ended {:?}: {:?}",
            first.status, first.errors
        ));
    }
    let mut found: BTreeMap<String, Shard> = BTreeMap::new();
    for (integration, entity, id) in race.key {
        for s in w.shards_from(integration, entity, id) {
            found.insert(s.id.clone(), s);
        }
    }
    let found: Vec<Shard> = found.into_values().collect();
    let [shard] = found.as_slice() else {
        return Err(format!("{} shards for one key: {found:#?}", found.len()));
    };
    let expect: serde_json::Map<String, Value> =
        serde_json::from_str(race.expect).expect("expected fields");
    for (field, value) in &expect {
        if shard.structured_data.get(field) != Some(value) {
            return Err(format!(
                "field `{field}` is {:?}, not {value} (an update was lost): {shard:#?}",
                shard.structured_data.get(field)
            ));
        }
    }
    if shard.version != race.version {
        return Err(format!(
            "version {} after {} writes (an update was lost): {shard:#?}",
            shard.version, race.version
        ));
    }
    Ok(())
}

/// Companies and the contacts that reference them.
const REFERENCES: &str = r#"
connection companies-file { integration files  auth none  settings { path: "companies.jsonl" } }
connection contacts-file { integration files  auth none  settings { path: "contacts.jsonl" } }

schema companies {
  source salesforce.Account
  target c_company
  dedupe external_id(Id)
  name = Name
}
schema contacts {
  source salesforce.Contact
  target c_contact
  dedupe external_id(Id)
  name = LastName
  companyId -> belongs_to c_company by external_id(AccountId)
}

task pull-companies { schema companies  connection companies-file }
task pull-contacts { schema contacts  connection contacts-file }
task hook-companies { schema companies }
task hook-contacts { schema contacts }
"#;

const COMPANY: &str = r#"{"Id":"001A","Name":"Acme"}"#;
const COMPANY_DELIVERY: &str = r#"[{"Id":"001A","Name":"Acme"}]"#;
const CONTACT: &str = r#"{"Id":"003A","LastName":"Lovelace","AccountId":"001A"}"#;
const CONTACT_DELIVERY: &str = r#"[{"Id":"003A","LastName":"Lovelace","AccountId":"001A"}]"#;

#[test]
fn a_reference_and_its_target_stored_at_once_always_meet() {
    let files: &[(&str, &str)] = &[("companies.jsonl", COMPANY), ("contacts.jsonl", CONTACT)];
    // The contact's writer finds no company and keeps the reference pending, while the
    // company's writer finds no pending reference and stores the company: whichever
    // commits second must see the other's write.
    let races = [
        (
            Writer::Pull("pull-contacts"),
            Writer::Deliver("hook-companies", COMPANY_DELIVERY),
        ),
        (
            Writer::Pull("pull-companies"),
            Writer::Deliver("hook-contacts", CONTACT_DELIVERY),
        ),
        (
            Writer::Deliver("hook-contacts", CONTACT_DELIVERY),
            Writer::Pull("pull-companies"),
        ),
        (
            Writer::Deliver("hook-companies", COMPANY_DELIVERY),
            Writer::Pull("pull-contacts"),
        ),
    ];
    let mut failures = Vec::new();
    for (i, (first, second)) in races.into_iter().enumerate() {
        let w = world(REFERENCES, files);
        let (engine, program) = (w.plain(), program(REFERENCES));
        let store = Interleaved::new(&w.store, 1, writes_shards, move || {
            second.run(&engine, &program);
        });
        first.run(&w.engine(store.clone()), &w.program);
        assert_eq!(store.fired(), 1, "race {i}");
        let company = w.one_from("salesforce", "Account", "001A");
        let contact = w.one_from("salesforce", "Contact", "003A");
        let waiting = w
            .store
            .pending_for(TENANT, "salesforce", "c_company", "001A")
            .expect("pending");
        if contact.structured_data.get("companyId") != Some(&json!(company.id))
            || !waiting.is_empty()
        {
            failures.push(format!(
                "race {i}: the contact's companyId is {:?} (the company is {}), {} references still wait",
                contact.structured_data.get("companyId"),
                company.id,
                waiting.len()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// People from one source; a full read deletes the shards of records no longer in it.
const PEOPLE: &str = r#"
connection people-file { integration files  auth none  settings { path: "people.jsonl" } }

schema people {
  source salesforce.Contact
  target c_contact { create_if_missing, update_if_exists, delete_if_removed }
  dedupe external_id(Id)
  name = LastName
}

task people-sync { schema people  connection people-file }
task people-hook { schema people }
"#;

fn people(ids: impl IntoIterator<Item = usize>) -> String {
    lines(Value::Array(
        ids.into_iter()
            .map(|i| json!({"Id": format!("p{i}"), "LastName": format!("Person {i}")}))
            .collect(),
    ))
}

#[test]
fn a_full_read_does_not_sweep_what_another_writer_stored_during_it() {
    let w = world(PEOPLE, &[("people.jsonl", &people(0..10))]);
    pull(&w.plain(), &w.program, "people-sync", true);
    assert_eq!(w.shards().len(), 10);
    // p9 leaves the source; a webhook delivers a new person while the full read runs.
    w.write("people.jsonl", &people(0..9));
    let (engine, program) = (w.plain(), program(PEOPLE));
    let store = Interleaved::new(&w.store, 1, marks_shards, move || {
        deliver(
            &engine,
            &program,
            "people-hook",
            json!([{"Id": "p-new", "LastName": "New"}]),
        );
    });
    let run = pull(&w.engine(store.clone()), &w.program, "people-sync", true);
    assert_eq!(store.fired(), 1);
    assert_eq!(run.status, ExecutionStatus::Success, "{:?}", run.errors);
    w.one_from("salesforce", "Contact", "p-new");
    assert!(w.shards_from("salesforce", "Contact", "p9").is_empty());
    assert_eq!(w.shards().len(), 10);
    assert_eq!(run.results.deleted, 1);
    let state = w
        .store
        .task_state(TENANT, "people-sync")
        .expect("state")
        .expect("stored");
    assert_eq!(state.stats.records_deleted, 1);
}

#[test]
fn a_sweep_does_not_delete_a_shard_updated_after_it_listed_it() {
    let w = world(PEOPLE, &[("people.jsonl", &people(0..10))]);
    pull(&w.plain(), &w.program, "people-sync", true);
    w.write("people.jsonl", &people(0..9));
    // Between the sweep's listing and its commit, a webhook says p9 is there after all.
    let (engine, program) = (w.plain(), program(PEOPLE));
    let store = Interleaved::new(&w.store, 1, deletes_shards, move || {
        deliver(
            &engine,
            &program,
            "people-hook",
            json!([{"Id": "p9", "LastName": "Back"}]),
        );
    });
    let run = pull(&w.engine(store.clone()), &w.program, "people-sync", true);
    assert_eq!(store.fired(), 1);
    assert_eq!(run.status, ExecutionStatus::Success, "{:?}", run.errors);
    let p9 = w.one_from("salesforce", "Contact", "p9");
    assert_eq!(p9.structured_data["name"], json!("Back"));
    assert_eq!(w.shards().len(), 10);
}

#[test]
fn a_page_that_keeps_conflicting_fails_clearly_and_the_next_run_resumes_it() {
    let w = world(CONTACTS, &[("sf.jsonl", SF_ADA)]);
    // Before each of the pull's commits, a webhook changes the same contact again.
    let (engine, program) = (w.plain(), program(CONTACTS));
    let n = AtomicU32::new(0);
    let store = Interleaved::new(&w.store, u32::MAX, writes_shards, move || {
        let phone = format!("+{}", n.fetch_add(1, Ordering::SeqCst));
        deliver(
            &engine,
            &program,
            "hook-phones",
            json!([{"Id": "003A", "LastName": "L", "Phone": phone}]),
        );
    });
    let run = pull(&w.engine(store.clone()), &w.program, "pull-names", false);
    assert_eq!(run.status, ExecutionStatus::Failed);
    assert_eq!(store.fired(), cmap::engine::MAX_ATTEMPTS);
    let errors = format!("{:?}", run.errors);
    assert!(
        errors.contains(&format!(
            "gave up after {} attempts",
            cmap::engine::MAX_ATTEMPTS
        )),
        "{errors}"
    );
    let state = w
        .store
        .task_state(TENANT, "pull-names")
        .expect("state")
        .expect("stored");
    assert!(
        state.checkpoint.is_some(),
        "the next run resumes at the page"
    );
    assert_eq!(state.stats.failed_runs, 1);

    // Once the contention is over, the next run stores the page.
    let again = pull(&w.plain(), &w.program, "pull-names", false);
    assert_eq!(again.status, ExecutionStatus::Success, "{:?}", again.errors);
    let shard = w.one_from("salesforce", "Contact", "003A");
    assert_eq!(shard.structured_data["name"], json!("Lovelace"));
    assert_eq!(
        shard.structured_data["phone"],
        json!(format!("+{}", cmap::engine::MAX_ATTEMPTS - 1))
    );
}

#[test]
fn a_replay_racing_a_webhook_makes_one_shard() {
    let strict = CONTACTS.replace("schema both {", "schema strict {\n  source salesforce.Contact\n  target c_contact\n  dedupe external_id(Id)\n  name = LastName\n  email! = Email\n}\nschema both {")
        + "task pull-strict { schema strict  connection sf-file }\n";
    let w = world(
        &strict,
        &[("sf.jsonl", r#"{"Id":"003A","LastName":"Lovelace"}"#)],
    );
    let failed = pull(&w.plain(), &w.program, "pull-strict", false);
    assert_eq!(failed.results.failed, 1);
    // The fix: email is no longer required; replayed while a webhook stores the contact.
    let fixed = program(&strict.replace("email! = Email", "email = Email"));
    let (engine, program) = (w.plain(), program(CONTACTS));
    let store = Interleaved::new(&w.store, 1, writes_shards, move || {
        deliver(
            &engine,
            &program,
            "hook-phones",
            json!([{"Id": "003A", "LastName": "L", "Phone": "+44"}]),
        );
    });
    let replay = w
        .engine(store.clone())
        .replay(
            TENANT,
            &failed.id,
            fixed.task("pull-strict").expect("task"),
            "salesforce",
            &Quiet,
        )
        .expect("replayed");
    assert_eq!(store.fired(), 1);
    assert_eq!(
        replay.status,
        ExecutionStatus::Success,
        "{:?}",
        replay.errors
    );
    let shard = w.one_from("salesforce", "Contact", "003A");
    assert_eq!(shard.structured_data["name"], json!("Lovelace"));
    assert_eq!(shard.structured_data["phone"], json!("+44"));
}

#[test]
fn a_webhook_delivery_does_not_roll_back_a_run_of_its_task() {
    // A task that is pulled and receives webhooks. The delivery reads the task's state;
    // before it commits, a run commits a page (and is cancelled: its checkpoint stays).
    let w = world(PEOPLE, &[("people.jsonl", &people(0..10))]);
    let (engine, program) = (w.plain(), program(PEOPLE));
    let store = Interleaved::new(&w.store, 1, writes_shards, move || {
        let run = pull_with(&engine, &program, "people-sync", false, Some(1));
        assert_eq!(run.status, ExecutionStatus::Cancelled);
    });
    let delivery = deliver(
        &w.engine(store.clone()),
        &w.program,
        "people-sync",
        json!([{"Id": "p-new", "LastName": "New"}]),
    );
    assert_eq!(store.fired(), 1);
    assert_eq!(delivery.status, ExecutionStatus::Success);
    let state = w
        .store
        .task_state(TENANT, "people-sync")
        .expect("state")
        .expect("stored");
    assert!(
        state.checkpoint.is_some(),
        "the run's checkpoint stays: {state:?}"
    );
    assert_eq!(
        state.stats.total_runs, 2,
        "both executions count: {state:?}"
    );
    assert_eq!(state.stats.records_created, 2 + 1, "{state:?}");
}

#[test]
fn pulls_and_webhooks_running_freely_keep_one_shard_per_key_and_every_update() {
    const IDS: usize = 30;
    let sf = |last: &str| {
        lines(Value::Array(
            (0..IDS)
                .map(|i| json!({"Id": format!("p{i}"), "LastName": format!("{last}{i}"), "Email": format!("e{i}@x.io")}))
                .collect(),
        ))
    };
    let hs = |i: usize, phone: &str| json!({"id": format!("h{i}"), "properties": {"email": format!("e{i}@x.io"), "phone": phone}, "createdAt": "2025-01-01T00:00:00Z", "updatedAt": "2025-01-01T00:00:00Z"});
    let hs_file = lines(Value::Array((0..IDS).map(|i| hs(i, "+0")).collect()));
    let w = world(
        CONTACTS,
        &[
            ("sf.jsonl", &sf("A")),
            ("sf2.jsonl", &sf("B")),
            ("hs.jsonl", &hs_file),
        ],
    );
    let plain = w.plain();
    std::thread::scope(|scope| {
        // Two pulls of one schema; Salesforce and HubSpot pulls meeting on emails.
        for task in [
            "pull-both",
            "pull-both-2",
            "pull-sf-by-email",
            "pull-hs-by-email",
        ] {
            let (plain, program) = (&plain, &w.program);
            scope.spawn(move || pull(plain, program, task, false));
        }
        // Webhook deliveries of phones for the same people, and of HubSpot contacts.
        for thread in 0..4u64 {
            let (plain, program) = (&plain, &w.program);
            scope.spawn(move || {
                let mut rng = fastrand::Rng::with_seed(thread);
                for n in 0..12 {
                    let records: Vec<Value> = (0..3)
                        .map(|_| json!({"Id": format!("p{}", rng.usize(0..IDS)), "LastName": "L", "Phone": format!("+{thread}-{n}")}))
                        .collect();
                    deliver(plain, program, "hook-phones", Value::Array(records));
                    let i = rng.usize(0..IDS);
                    deliver(plain, program, "hook-hs-by-email", json!([hs(i, &format!("+{thread}-{n}"))]));
                }
            });
        }
    });
    for i in 0..IDS {
        w.one_from("salesforce", "Contact", &format!("p{i}"));
        let email = format!("e{i}@x.io");
        let mut by_email: Vec<String> = w
            .shards_from("salesforce", "Contact", &email)
            .into_iter()
            .chain(w.shards_from("hubspot", "contacts", &email))
            .map(|s| s.id)
            .collect();
        by_email.dedup();
        assert_eq!(by_email.len(), 1, "one shard for {email}: {by_email:?}");
    }
    // Every create and update an execution counted is a version of a shard: none was
    // overwritten by a writer that had not seen it.
    let versions: u64 = w.shards().values().map(|s| s.version).sum();
    let executions = w
        .store
        .executions(
            TENANT,
            None,
            &cmap::store::PageRequest::first(cmap::store::Limit::MAX),
        )
        .expect("executions")
        .items;
    assert!(
        executions
            .iter()
            .all(|e| e.status == ExecutionStatus::Success),
        "{executions:#?}"
    );
    let writes: u64 = executions
        .iter()
        .map(|e| e.results.created + e.results.updated)
        .sum();
    assert_eq!(versions, writes);
}

#[test]
fn a_run_does_its_store_work_off_the_async_runtime_thread() {
    // A current-thread runtime runs every async task on the thread that drives it: any
    // store operation seen there blocked the runtime (an fsync, a scan) meanwhile.
    let w = world(PEOPLE, &[("people.jsonl", &people(0..10))]);
    pull(&w.plain(), &w.program, "people-sync", true);
    w.write("people.jsonl", &people(0..9));
    let store = Interleaved::new(&w.store, 0, |_| false, || {});
    let engine = w.engine(store.clone());
    let task = w.program.task("people-sync").expect("task");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let request = RunRequest {
        task,
        connections: &w.program.connections,
        full: true,
        triggered_by: TriggeredBy::Manual,
        triggered_by_user_id: None,
        retry_of: None,
    };
    let run = runtime
        .block_on(engine.run(request, &Quiet, &CancellationToken::new()))
        .expect("the run ends");
    assert_eq!(run.status, ExecutionStatus::Success, "{:?}", run.errors);
    assert_eq!(run.results.deleted, 1);
    let runtime_thread = std::thread::current().id();
    let threads = store.threads.lock().unwrap_or_else(|e| e.into_inner());
    let operations: Vec<&str> = threads.iter().map(|(op, _)| *op).collect();
    for needed in ["commit", "task_state", "shard_by_source", "unmarked"] {
        assert!(operations.contains(&needed), "{needed} in {operations:?}");
    }
    let on_runtime: Vec<&str> = threads
        .iter()
        .filter(|(_, thread)| *thread == runtime_thread)
        .map(|(op, _)| *op)
        .collect();
    assert_eq!(
        on_runtime,
        Vec::<&str>::new(),
        "store work on the runtime thread"
    );
}

/// A server over `store` serving `dir/pipelines`, until `stop` is sent.
struct Serving {
    base: String,
    /// Sends a super admin's API token.
    client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<std::result::Result<(), cmap::serve::server::ServeError>>,
}

async fn serve(w: &World, store: Arc<dyn Store>) -> Serving {
    let client = crate::support::api_client(&crate::support::admin_token(&*store));
    let mut engine = w.engine(store);
    engine.options.base_dir = w.dir.path().join("pipelines");
    let engine = Arc::new(engine);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let options = cmap::serve::server::Options {
        pipelines: w.dir.path().join("pipelines"),
        watch: false,
        ..cmap::serve::server::Options::default()
    };
    let done = tokio::spawn(cmap::serve::server::run(
        options,
        engine,
        listener,
        None,
        async {
            let _ = stopped.await;
        },
    ));
    // Bounded wait for the first load.
    for _ in 0..500 {
        if let Ok(r) = client.get(format!("{base}/api/pipelines")).send().await {
            if r.status() == 200 {
                return Serving {
                    base,
                    client,
                    stop: Some(stop),
                    done,
                };
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the server never answered");
}

impl Serving {
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.done.await;
    }
}

/// POSTs to `url` from a thread of its own (callable inside a store commit, wherever
/// that runs); the status.
fn post_from_elsewhere(url: String, token: String) -> u16 {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        })
    })
    .join()
    .expect("the request thread does not panic")
}

/// A batch of task state alone: what pause and resume commit.
fn task_state_only(batch: &Batch) -> bool {
    matches!(batch.ops.as_slice(), [op] if !matches!(
        op,
        Op::PutShard { .. }
            | Op::DeleteShard { .. }
            | Op::Mark { .. }
            | Op::PutPending(_)
            | Op::RemovePending(_)
            | Op::PutExecution(_)
            | Op::PutDeadLetter(_)
            | Op::RemoveDeadLetter { .. }
            | Op::PutLog(_)
            | Op::MarkEvent { .. }
    ))
}

/// The people workspace as `cmap serve` reads it (pipelines/ and its files).
fn served_people() -> World {
    let w = world(PEOPLE, &[]);
    let pipelines = w.dir.path().join("pipelines");
    std::fs::create_dir_all(&pipelines).expect("mkdir");
    std::fs::write(pipelines.join("people.cmap"), PEOPLE).expect("write");
    std::fs::write(pipelines.join("people.jsonl"), people(0..10)).expect("write");
    w
}

impl World {
    /// An engine reading files from `pipelines/` (as the served one does).
    fn served_engine(&self) -> Engine {
        let mut engine = self.plain();
        engine.options.base_dir = self.dir.path().join("pipelines");
        engine
    }

    /// Waits (bounded) until `task` has a finished execution; returns the newest.
    async fn finished(&self, task: &str) -> SyncExecution {
        for _ in 0..1000 {
            let newest = self
                .store
                .executions(TENANT, Some(task), &Default::default())
                .expect("executions")
                .items
                .into_iter()
                .next();
            if let Some(e) = newest.filter(|e| e.status != ExecutionStatus::Running) {
                return e;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("no execution of {task} finished");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_during_an_execution_is_not_lost() {
    // The task is paused through the API while a run of it is between reading the
    // store and committing a page: the run's commits must not undo the pause.
    let w = served_people();
    let url = String::new();
    let pause_url = Arc::new(Mutex::new(url));
    let target = pause_url.clone();
    let token = crate::support::admin_token(&*w.store);
    let store = Interleaved::new(&w.store, 1, writes_shards, move || {
        let url = target.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert_eq!(
            post_from_elsewhere(url, token.clone()),
            200,
            "the pause is accepted"
        );
    });
    let server = serve(&w, store.clone()).await;
    *pause_url.lock().unwrap_or_else(|e| e.into_inner()) =
        format!("{}/api/tasks/people-sync/pause", server.base);
    let client = server.client.clone();
    let started = client
        .post(format!("{}/api/tasks/people-sync/run", server.base))
        .send()
        .await
        .expect("run");
    assert_eq!(started.status(), 202);
    let run = w.finished("people-sync").await;
    assert_eq!(run.status, ExecutionStatus::Success, "{:?}", run.errors);
    assert_eq!(store.fired(), 1);
    server.stop().await;
    let state = w
        .store
        .task_state(TENANT, "people-sync")
        .expect("state")
        .expect("stored");
    assert!(
        state.paused,
        "the pause survives the run (and so a restart): {state:?}"
    );
    assert_eq!(state.stats.total_runs, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_or_resume_does_not_roll_back_a_checkpoint_committed_meanwhile() {
    for action in ["pause", "resume"] {
        // Between the control write's read of the task state and its commit, a run of
        // the task commits a page and is cancelled: its checkpoint must stay.
        let w = served_people();
        let (engine, program) = (w.served_engine(), program(PEOPLE));
        let store = Interleaved::new(&w.store, 0, task_state_only, move || {
            let run = pull_with(&engine, &program, "people-sync", false, Some(1));
            assert_eq!(run.status, ExecutionStatus::Cancelled);
        });
        let server = serve(&w, store.clone()).await;
        let client = server.client.clone();
        if action == "resume" {
            let paused = client
                .post(format!("{}/api/tasks/people-sync/pause", server.base))
                .send()
                .await
                .expect("pause");
            assert_eq!(paused.status(), 200);
        }
        store.left.store(1, Ordering::SeqCst);
        let r = client
            .post(format!("{}/api/tasks/people-sync/{action}", server.base))
            .send()
            .await
            .expect(action);
        assert_eq!(r.status(), 200, "{action}");
        assert_eq!(store.fired(), 1, "{action}");
        server.stop().await;
        let state = w
            .store
            .task_state(TENANT, "people-sync")
            .expect("state")
            .expect("stored");
        assert_eq!(state.paused, action == "pause", "{action}: {state:?}");
        let checkpoint = state.checkpoint.as_ref();
        assert!(
            checkpoint.is_some_and(|c| c.results.created == 2),
            "{action}: the run's checkpoint stays: {state:?}"
        );
        assert_eq!(state.stats.total_runs, 1, "{action}: {state:?}");
    }
}
