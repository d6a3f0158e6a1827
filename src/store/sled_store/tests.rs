//! Tests of the sled store: every [`Store`] method, atomicity, index maintenance,
//! tenant isolation.

use chrono::{DateTime, TimeZone, Utc};
use expect_test::expect;
use serde_json::{json, Map, Value};
use tempfile::TempDir;

use super::*;
use crate::store::{
    Checkpoint, ConnectionStatus, EncryptedCredentials, ExecutionResults, FinishedRun, LogLevel,
    Phase, Progress, TaskStats, TaskUpdate, TriggeredBy,
};

fn open() -> (TempDir, SledStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    (dir, store)
}

/// The store in `dir` once more: sled lets go of the directory a moment after the last
/// handle is dropped (a bounded wait).
pub(super) fn reopen(dir: &std::path::Path) -> SledStore {
    for _ in 0..250 {
        if let Ok(store) = SledStore::open(dir) {
            return store;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    SledStore::open(dir).unwrap()
}

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, minute, 0).unwrap()
}

fn shard(tenant: &str, id: &str, shard_type: &str, data: Value) -> Shard {
    let structured_data: Map<String, Value> = match data {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    Shard {
        id: id.into(),
        tenant_id: tenant.into(),
        shard_type_id: shard_type.into(),
        structured_data,
        external_relationships: Vec::new(),
        created_at: at(0),
        updated_at: at(0),
        version: 1,
    }
}

fn source(integration: &str, external_type: &str, shard_type: &str, id: &str) -> SourceKey {
    SourceKey {
        integration: integration.into(),
        external_type: external_type.into(),
        shard_type: shard_type.into(),
        external_id: id.into(),
    }
}

/// A contact from Salesforce: shard `id`, external id `ext`, dedupe key `email`.
fn put_contact(tenant: &str, id: &str, ext: &str, email: &str) -> Op {
    Op::PutShard {
        shard: shard(tenant, id, "c_contact", json!({ "email": email })),
        source: Some(source("salesforce", "Contact", "c_contact", ext)),
        dedupe_key: Some(("c_contact".into(), email.into())),
        expect: Expect::default(),
    }
}

fn delete_contact(tenant: &str, id: &str) -> Op {
    Op::DeleteShard {
        shard: shard(tenant, id, "c_contact", json!({})),
        source: None,
        dedupe_key: None,
        expect_version: None,
    }
}

/// Commits `ops` as a writer that read the store just before: each shard write expects
/// what is stored now (tests of index upkeep; the preconditions have their own tests).
fn commit(store: &SledStore, tenant: &str, ops: Vec<Op>) {
    let ops = ops
        .into_iter()
        .map(|op| as_read(store, tenant, op))
        .collect();
    store
        .commit(Batch {
            tenant: tenant.into(),
            ops,
        })
        .unwrap();
}

/// `op` with the expectations of a writer that read the committed state now.
fn as_read(store: &SledStore, tenant: &str, op: Op) -> Op {
    let version = |id: &str| store.shard(tenant, id).unwrap().map(|s| s.version);
    match op {
        Op::PutShard {
            shard,
            source,
            dedupe_key,
            expect: _,
        } => {
            let expect = Expect {
                version: version(&shard.id),
                source_owner: source.as_ref().and_then(|s| {
                    id_of(store.shard_by_source(
                        tenant,
                        &s.integration,
                        &s.external_type,
                        &s.external_id,
                    ))
                }),
                dedupe_owner: dedupe_key
                    .as_ref()
                    .and_then(|(t, k)| id_of(store.shard_by_dedupe_key(tenant, t, k))),
            };
            Op::PutShard {
                shard,
                source,
                dedupe_key,
                expect,
            }
        }
        Op::DeleteShard {
            shard,
            source,
            dedupe_key,
            expect_version: _,
        } => Op::DeleteShard {
            expect_version: version(&shard.id),
            shard,
            source,
            dedupe_key,
        },
        other => other,
    }
}

/// A task update of run state that sets the watermark.
fn set_watermark(task_id: &str, watermark: Value) -> Op {
    Op::UpdateTask {
        task_id: task_id.into(),
        update: TaskUpdate {
            watermark: Some(watermark),
            ..TaskUpdate::default()
        },
    }
}

fn ids(shards: impl IntoIterator<Item = Result<Shard>>) -> Vec<String> {
    shards.into_iter().map(|s| s.unwrap().id).collect()
}

fn id_of(shard: Result<Option<Shard>>) -> Option<String> {
    shard.unwrap().map(|s| s.id)
}

fn execution(
    tenant: &str,
    id: &str,
    task: &str,
    minute: u32,
    status: ExecutionStatus,
) -> SyncExecution {
    SyncExecution {
        id: id.into(),
        tenant_id: tenant.into(),
        sync_task_id: task.into(),
        tenant_integration_id: "salesforce".into(),
        started_at: at(minute),
        completed_at: None,
        duration_ms: None,
        triggered_by: TriggeredBy::Manual,
        triggered_by_user_id: None,
        status,
        progress: Progress {
            phase: Phase::Fetching,
            total_records: None,
            processed_records: 0,
            percentage: 0.0,
        },
        results: ExecutionResults::default(),
        errors: Vec::new(),
        retry_count: 0,
        retry_of: None,
    }
}

fn execution_ids(executions: Result<Vec<SyncExecution>>) -> Vec<String> {
    executions.unwrap().into_iter().map(|e| e.id).collect()
}

fn pending(tenant: &str, source_shard: &str, external_id: &str) -> PendingReference {
    PendingReference {
        tenant_id: tenant.into(),
        source_shard_id: source_shard.into(),
        target_field: "accountId".into(),
        relationship_type: "belongs_to".into(),
        integration_id: "salesforce".into(),
        shard_type_id: "c_account".into(),
        external_id: external_id.into(),
    }
}

fn dead_letter(tenant: &str, execution_id: &str, seq: u64) -> DeadLetter {
    DeadLetter {
        tenant_id: tenant.into(),
        task_id: "sf-contacts".into(),
        execution_id: execution_id.into(),
        seq,
        record: json!({ "Id": format!("003{seq}") }),
        external_id: Some(format!("003{seq}")),
        code: "R0001".into(),
        field: Some("email".into()),
        message: "not an email".into(),
        created_at: at(1),
    }
}

fn log(execution_id: &str, message: &str, minute: u32) -> SyncLog {
    SyncLog {
        id: format!("log-{message}"),
        sync_execution_id: execution_id.into(),
        timestamp: at(minute),
        level: LogLevel::Info,
        message: message.into(),
        data: None,
    }
}

fn connection(scope: ConnectionScope, tenant: Option<&str>, id: &str) -> ConnectionRecord {
    ConnectionRecord {
        id: id.into(),
        integration_id: "salesforce".into(),
        scope,
        tenant_id: tenant.map(str::to_owned),
        auth_type: "oauth2".into(),
        credentials: EncryptedCredentials {
            encrypted_data: "AAAA".into(),
            key_id: "k-test".into(),
            algorithm: "chacha20poly1305".into(),
        },
        oauth: None,
        status: ConnectionStatus::Active,
        last_validated_at: None,
        display_name: Some(format!("{id} of {}", tenant.unwrap_or("system"))),
        created_by: "admin".into(),
        created_at: at(0),
        updated_at: at(0),
    }
}

/// Every execution of a list, read two at a time (so paging is exercised too).
pub(super) fn all_executions(
    store: &SledStore,
    tenant: &str,
    task: Option<&str>,
) -> Result<Vec<SyncExecution>> {
    let mut out = Vec::new();
    let mut page = PageRequest {
        limit: crate::store::Limit::new(2).unwrap(),
        after: None,
    };
    loop {
        let read = store.executions(tenant, task, &page)?;
        out.extend(read.items);
        match read.next {
            Some(next) => page.after = Some(next),
            None => return Ok(out),
        }
    }
}

/// Every log line of an execution, read two at a time.
pub(super) fn all_logs(store: &SledStore, tenant: &str, execution: &str) -> Result<Vec<SyncLog>> {
    let mut out = Vec::new();
    let mut page = PageRequest {
        limit: crate::store::Limit::new(2).unwrap(),
        after: None,
    };
    loop {
        let read = store.logs(tenant, execution, &page)?;
        out.extend(read.items);
        match read.next {
            Some(next) => page.after = Some(next),
            None => return Ok(out),
        }
    }
}

/// Every dead letter of an execution, read two at a time.
pub(super) fn all_dead_letters(
    store: &SledStore,
    tenant: &str,
    execution: &str,
) -> Result<Vec<DeadLetter>> {
    let mut out = Vec::new();
    let mut page = PageRequest {
        limit: crate::store::Limit::new(2).unwrap(),
        after: None,
    };
    loop {
        let read = store.dead_letters(tenant, execution, &page)?;
        out.extend(read.items);
        match read.next {
            Some(next) => page.after = Some(next),
            None => return Ok(out),
        }
    }
}

/// Every key of the state tree, as people read it.
fn state_keys(store: &SledStore) -> Vec<String> {
    store
        .state
        .raw()
        .iter()
        .keys()
        .map(|k| keys::display(&k.unwrap()))
        // Every store has it from its first open (`identity.rs`): not the data's.
        .filter(|k| k != "/tenant-record/default")
        .collect()
}

/// The shard tenant `acme`'s Salesforce Contact `ext` leads to by its external id, by
/// shard type and external id, and by dedupe key `email`.
fn found_by_each_index(store: &SledStore, ext: &str, email: &str) -> Vec<Option<String>> {
    vec![
        id_of(store.shard_by_source("acme", "salesforce", "Contact", ext)),
        id_of(store.shard_by_type("acme", "salesforce", "c_contact", ext)),
        id_of(store.shard_by_dedupe_key("acme", "c_contact", email)),
    ]
}

#[test]
fn a_shard_is_found_by_id_source_type_and_dedupe_key() {
    let (_dir, store) = open();
    commit(
        &store,
        "acme",
        vec![put_contact("acme", "s-1", "003A", "ada@x.io")],
    );

    let stored = store.shard("acme", "s-1").unwrap().unwrap();
    assert_eq!(stored.structured_data["email"], json!("ada@x.io"));
    assert_eq!(
        found_by_each_index(&store, "003A", "ada@x.io"),
        vec![Some("s-1".to_string()); 3]
    );
    assert_eq!(
        id_of(store.shard_by_source("acme", "salesforce", "Lead", "003A")),
        None
    );
    assert_eq!(
        id_of(store.shard_by_type("acme", "hubspot", "c_contact", "003A")),
        None
    );
    assert_eq!(id_of(store.shard("acme", "s-2")), None);
}

#[test]
fn shards_are_listed_in_id_order_and_by_type() {
    let (_dir, store) = open();
    let account = |id: &str| Op::PutShard {
        shard: shard("acme", id, "c_account", json!({})),
        source: None,
        dedupe_key: None,
        expect: Expect::default(),
    };
    commit(
        &store,
        "acme",
        vec![
            put_contact("acme", "s-3", "003C", "c@x.io"),
            account("s-2"),
            put_contact("acme", "s-1", "003A", "a@x.io"),
            account("s-0"),
        ],
    );
    assert_eq!(
        ids(store.shards("acme", None)),
        ["s-0", "s-1", "s-2", "s-3"]
    );
    assert_eq!(ids(store.shards("acme", Some("c_contact"))), ["s-1", "s-3"]);
    assert_eq!(ids(store.shards("acme", Some("c_account"))), ["s-0", "s-2"]);
    assert_eq!(
        ids(store.shards("acme", Some("c_news"))),
        Vec::<String>::new()
    );

    // A shard whose type changes moves between the listings.
    commit(&store, "acme", vec![account("s-1")]);
    assert_eq!(ids(store.shards("acme", Some("c_contact"))), ["s-3"]);
    assert_eq!(
        ids(store.shards("acme", Some("c_account"))),
        ["s-0", "s-1", "s-2"]
    );
}

#[test]
fn a_batch_is_all_or_nothing_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let mut ops: Vec<Op> = (0..200)
        .map(|i| {
            put_contact(
                "acme",
                &format!("s-{i:03}"),
                &format!("003{i:03}"),
                &format!("{i}@x.io"),
            )
        })
        .collect();
    ops.push(set_watermark("sf-contacts", json!("w")));
    ops.push(Op::PutExecution(execution(
        "acme",
        "e-1",
        "sf-contacts",
        1,
        ExecutionStatus::Running,
    )));

    // The last op is refused, so none of the 202 before it may be applied.
    let mut failing = ops.clone();
    failing.push(put_contact("globex", "s-999", "003999", "z@x.io"));
    let err = store
        .commit(Batch {
            tenant: "acme".into(),
            ops: failing,
        })
        .unwrap_err();
    expect![[r#"invalid write: a shard of tenant `globex` in a batch of tenant `acme`"#]]
        .assert_eq(&err.to_string());
    assert_eq!(store.shards("acme", None).count(), 0);
    assert_eq!(store.task_state("acme", "sf-contacts").unwrap(), None);
    assert_eq!(store.execution("acme", "e-1").unwrap(), None);
    assert_eq!(
        store
            .count_by_source("acme", "salesforce", "Contact")
            .unwrap(),
        0
    );
    assert_eq!(state_keys(&store), Vec::<String>::new());

    commit(&store, "acme", ops);
    assert_eq!(store.shards("acme", None).count(), 200);
    assert_eq!(
        store
            .count_by_source("acme", "salesforce", "Contact")
            .unwrap(),
        200
    );
    let keys_before = state_keys(&store);

    // Durable: a fresh handle on the directory sees exactly the same.
    drop(store);
    let store = reopen(dir.path());
    assert_eq!(state_keys(&store), keys_before);
    assert_eq!(store.shards("acme", None).count(), 200);
    assert_eq!(
        id_of(store.shard_by_source("acme", "salesforce", "Contact", "003199")),
        Some("s-199".into())
    );
    assert!(store.task_state("acme", "sf-contacts").unwrap().is_some());
    assert_eq!(execution_ids(store.running_executions()), ["e-1"]);
}

#[test]
fn ops_of_one_batch_see_each_other() {
    let (_dir, store) = open();
    // Put then delete in one batch: nothing remains, not even index entries.
    commit(
        &store,
        "acme",
        vec![
            put_contact("acme", "s-1", "003A", "a@x.io"),
            delete_contact("acme", "s-1"),
        ],
    );
    assert_eq!(state_keys(&store), ["/tenant/acme"]);
}

#[test]
fn an_external_id_moving_to_another_shard_leaves_the_first() {
    let (_dir, store) = open();
    commit(
        &store,
        "acme",
        vec![put_contact("acme", "s-a", "003X", "a@x.io")],
    );
    commit(
        &store,
        "acme",
        vec![Op::Mark {
            integration: "salesforce".into(),
            external_type: "Contact".into(),
            shard_id: "s-a".into(),
            mark: "m1".into(),
        }],
    );
    commit(
        &store,
        "acme",
        vec![put_contact("acme", "s-b", "003X", "b@x.io")],
    );

    assert_eq!(
        id_of(store.shard_by_source("acme", "salesforce", "Contact", "003X")),
        Some("s-b".into())
    );
    assert_eq!(
        id_of(store.shard_by_type("acme", "salesforce", "c_contact", "003X")),
        Some("s-b".into())
    );
    assert_eq!(
        store
            .count_by_source("acme", "salesforce", "Contact")
            .unwrap(),
        1
    );
    // s-a no longer comes from that source: its mark went with it.
    assert!(!state_keys(&store).contains(&"acme/mark/salesforce/Contact/s-a".to_string()));

    // Deleting s-a must not take s-b's entry with it.
    commit(&store, "acme", vec![delete_contact("acme", "s-a")]);
    assert_eq!(
        id_of(store.shard_by_source("acme", "salesforce", "Contact", "003X")),
        Some("s-b".into())
    );
    assert_eq!(
        id_of(store.shard_by_dedupe_key("acme", "c_contact", "b@x.io")),
        Some("s-b".into())
    );
    assert_eq!(ids(store.shards("acme", None)), ["s-b"]);
}

#[test]
fn a_changed_dedupe_key_replaces_the_old_one() {
    let (_dir, store) = open();
    commit(
        &store,
        "acme",
        vec![put_contact("acme", "s-1", "003A", "old@x.io")],
    );
    commit(
        &store,
        "acme",
        vec![put_contact("acme", "s-1", "003A", "new@x.io")],
    );
    assert_eq!(
        id_of(store.shard_by_dedupe_key("acme", "c_contact", "old@x.io")),
        None
    );
    assert_eq!(
        id_of(store.shard_by_dedupe_key("acme", "c_contact", "new@x.io")),
        Some("s-1".into())
    );

    // Another shard taking the key: s-1 loses it, and deleting s-1 leaves s-2's entry.
    commit(
        &store,
        "acme",
        vec![put_contact("acme", "s-2", "003B", "new@x.io")],
    );
    assert_eq!(
        id_of(store.shard_by_dedupe_key("acme", "c_contact", "new@x.io")),
        Some("s-2".into())
    );
    commit(&store, "acme", vec![delete_contact("acme", "s-1")]);
    assert_eq!(
        id_of(store.shard_by_dedupe_key("acme", "c_contact", "new@x.io")),
        Some("s-2".into())
    );

    // No dedupe key given: the stored one stays.
    commit(
        &store,
        "acme",
        vec![Op::PutShard {
            shard: shard(
                "acme",
                "s-2",
                "c_contact",
                json!({ "email": "new@x.io", "v": 2 }),
            ),
            source: None,
            dedupe_key: None,
            expect: Expect::default(),
        }],
    );
    assert_eq!(
        id_of(store.shard_by_dedupe_key("acme", "c_contact", "new@x.io")),
        Some("s-2".into())
    );
}

#[test]
fn delete_removes_every_index_entry_and_mark() {
    let (_dir, store) = open();
    commit(
        &store,
        "acme",
        vec![
            put_contact("acme", "s-1", "003A", "a@x.io"),
            // The same shard also synced from HubSpot.
            Op::PutShard {
                shard: shard("acme", "s-1", "c_contact", json!({ "email": "a@x.io" })),
                source: Some(source("hubspot", "contacts", "c_contact", "501")),
                dedupe_key: None,
                expect: Expect::default(),
            },
            Op::Mark {
                integration: "salesforce".into(),
                external_type: "Contact".into(),
                shard_id: "s-1".into(),
                mark: "m1".into(),
            },
            Op::Mark {
                integration: "hubspot".into(),
                external_type: "contacts".into(),
                shard_id: "s-1".into(),
                mark: "m9".into(),
            },
            put_contact("acme", "s-2", "003B", "b@x.io"),
        ],
    );
    assert_eq!(
        id_of(store.shard_by_source("acme", "hubspot", "contacts", "501")),
        Some("s-1".into())
    );

    commit(&store, "acme", vec![delete_contact("acme", "s-1")]);
    assert_eq!(id_of(store.shard("acme", "s-1")), None);
    assert_eq!(
        id_of(store.shard_by_source("acme", "salesforce", "Contact", "003A")),
        None
    );
    assert_eq!(
        id_of(store.shard_by_source("acme", "hubspot", "contacts", "501")),
        None
    );
    assert_eq!(
        id_of(store.shard_by_type("acme", "hubspot", "c_contact", "501")),
        None
    );
    assert_eq!(
        id_of(store.shard_by_dedupe_key("acme", "c_contact", "a@x.io")),
        None
    );
    assert_eq!(
        store
            .count_by_source("acme", "hubspot", "contacts")
            .unwrap(),
        0
    );
    let remaining = state_keys(&store);
    let mentioning: Vec<&String> = remaining.iter().filter(|k| k.contains("s-1")).collect();
    assert_eq!(mentioning, Vec::<&String>::new());
    expect![[r#"
        [
            "/tenant/acme",
            "acme/dedupe/c_contact/b@x.io",
            "acme/ext/salesforce/Contact/003B",
            "acme/ref/salesforce/c_contact/003B",
            "acme/shard/s-2",
            "acme/type/c_contact/s-2",
        ]
    "#]]
    .assert_debug_eq(&remaining);
}

#[test]
fn unmarked_lists_what_a_full_sync_did_not_see() {
    let (_dir, store) = open();
    let mark = |id: &str, m: &str| Op::Mark {
        integration: "salesforce".into(),
        external_type: "Contact".into(),
        shard_id: id.into(),
        mark: m.into(),
    };
    commit(
        &store,
        "acme",
        vec![
            put_contact("acme", "s-1", "003A", "a@x.io"),
            put_contact("acme", "s-2", "003B", "b@x.io"),
            put_contact("acme", "s-3", "003C", "c@x.io"),
            put_contact("acme", "s-4", "003D", "d@x.io"),
            mark("s-1", "run-2"),
            mark("s-2", "run-1"),
            mark("s-4", "run-2"),
            // Another source's shards are not this sweep's business.
            Op::PutShard {
                shard: shard("acme", "s-9", "c_contact", json!({})),
                source: Some(source("salesforce", "Lead", "c_contact", "00Q9")),
                dedupe_key: None,
                expect: Expect::default(),
            },
        ],
    );
    let unmarked: Vec<(String, SourceKey)> = store
        .unmarked("acme", "salesforce", "Contact", "run-2")
        .unwrap()
        .into_iter()
        .map(|(s, k)| (s.id, k))
        .collect();
    assert_eq!(
        unmarked,
        [
            (
                "s-2".to_string(),
                source("salesforce", "Contact", "c_contact", "003B")
            ),
            (
                "s-3".to_string(),
                source("salesforce", "Contact", "c_contact", "003C")
            ),
        ]
    );
    assert_eq!(
        store
            .count_by_source("acme", "salesforce", "Contact")
            .unwrap(),
        4
    );
    assert_eq!(
        store.count_by_source("acme", "salesforce", "Lead").unwrap(),
        1
    );
    assert_eq!(
        store
            .count_by_source("acme", "hubspot", "contacts")
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .unmarked("acme", "salesforce", "Lead", "run-2")
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn pending_references_are_found_by_their_target_and_removed() {
    let (_dir, store) = open();
    commit(
        &store,
        "acme",
        vec![
            Op::PutPending(pending("acme", "s-1", "001A")),
            Op::PutPending(pending("acme", "s-2", "001A")),
            Op::PutPending(pending("acme", "s-3", "001B")),
        ],
    );
    let sources = |ext: &str| -> Vec<String> {
        store
            .pending_for("acme", "salesforce", "c_account", ext)
            .unwrap()
            .into_iter()
            .map(|p| p.source_shard_id)
            .collect()
    };
    assert_eq!(sources("001A"), ["s-1", "s-2"]);
    assert_eq!(sources("001B"), ["s-3"]);
    assert_eq!(sources("001"), Vec::<String>::new());
    commit(
        &store,
        "acme",
        vec![Op::RemovePending(pending("acme", "s-1", "001A"))],
    );
    assert_eq!(sources("001A"), ["s-2"]);
}

#[test]
fn task_state_round_trips() {
    let (_dir, store) = open();
    commit(
        &store,
        "acme",
        vec![set_watermark("sf-contacts", json!("2025-03-01T12:00:00Z"))],
    );
    assert_eq!(
        store.task_state("acme", "sf-contacts").unwrap(),
        Some(TaskState {
            tenant_id: "acme".into(),
            task_id: "sf-contacts".into(),
            watermark: Some(json!("2025-03-01T12:00:00Z")),
            ..TaskState::default()
        })
    );
    assert_eq!(store.task_state("acme", "other").unwrap(), None);
}

#[test]
fn executions_are_listed_newest_first() {
    let (_dir, store) = open();
    commit(
        &store,
        "acme",
        vec![
            Op::PutExecution(execution(
                "acme",
                "e-a1",
                "task-a",
                1,
                ExecutionStatus::Success,
            )),
            Op::PutExecution(execution(
                "acme",
                "e-b2",
                "task-b",
                2,
                ExecutionStatus::Failed,
            )),
            Op::PutExecution(execution(
                "acme",
                "e-a3",
                "task-a",
                3,
                ExecutionStatus::Running,
            )),
        ],
    );
    // An update (progress, then the end) keeps one entry per execution.
    let mut done = execution("acme", "e-a3", "task-a", 3, ExecutionStatus::Success);
    done.completed_at = Some(at(4));
    commit(&store, "acme", vec![Op::PutExecution(done.clone())]);
    commit(
        &store,
        "acme",
        vec![Op::PutExecution(execution(
            "acme",
            "e-a0",
            "task-a",
            0,
            ExecutionStatus::Cancelled,
        ))],
    );

    assert_eq!(
        execution_ids(all_executions(&store, "acme", Some("task-a"))),
        ["e-a3", "e-a1", "e-a0"]
    );
    assert_eq!(
        execution_ids(all_executions(&store, "acme", Some("task-b"))),
        ["e-b2"]
    );
    assert_eq!(
        execution_ids(all_executions(&store, "acme", None)),
        ["e-a3", "e-b2", "e-a1", "e-a0"]
    );
    assert_eq!(
        execution_ids(all_executions(&store, "acme", Some("task"))),
        Vec::<String>::new()
    );
    assert_eq!(store.execution("acme", "e-a3").unwrap(), Some(done));

    // A changed start time moves the execution in the listing instead of duplicating it.
    commit(
        &store,
        "acme",
        vec![Op::PutExecution(execution(
            "acme",
            "e-a0",
            "task-a",
            9,
            ExecutionStatus::Cancelled,
        ))],
    );
    assert_eq!(
        execution_ids(all_executions(&store, "acme", Some("task-a"))),
        ["e-a0", "e-a3", "e-a1"]
    );
}

#[test]
fn running_executions_span_tenants() {
    let (_dir, store) = open();
    commit(
        &store,
        "acme",
        vec![
            Op::PutExecution(execution("acme", "e-1", "t", 1, ExecutionStatus::Running)),
            Op::PutExecution(execution("acme", "e-3", "t", 3, ExecutionStatus::Success)),
        ],
    );
    commit(
        &store,
        "globex",
        vec![Op::PutExecution(execution(
            "globex",
            "e-2",
            "t",
            2,
            ExecutionStatus::Running,
        ))],
    );
    let running: Vec<(String, String)> = store
        .running_executions()
        .unwrap()
        .into_iter()
        .map(|e| (e.tenant_id, e.id))
        .collect();
    assert_eq!(
        running,
        [
            ("acme".to_string(), "e-1".to_string()),
            ("globex".to_string(), "e-2".to_string())
        ]
    );

    // Marked failed (interrupted) on the next start: no longer running.
    commit(
        &store,
        "acme",
        vec![Op::PutExecution(execution(
            "acme",
            "e-1",
            "t",
            1,
            ExecutionStatus::Failed,
        ))],
    );
    assert_eq!(execution_ids(store.running_executions()), ["e-2"]);
}

#[test]
fn logs_keep_their_order() {
    let (_dir, store) = open();
    // Timestamps out of order on purpose: the order is the order of writing.
    commit(
        &store,
        "acme",
        vec![
            Op::PutLog(log("e-1", "first", 5)),
            Op::PutLog(log("e-2", "other", 1)),
        ],
    );
    commit(
        &store,
        "acme",
        vec![
            Op::PutLog(log("e-1", "second", 2)),
            Op::PutLog(log("e-1", "third", 9)),
        ],
    );
    let messages: Vec<String> = all_logs(&store, "acme", "e-1")
        .unwrap()
        .into_iter()
        .map(|l| l.message)
        .collect();
    assert_eq!(messages, ["first", "second", "third"]);
    assert_eq!(all_logs(&store, "acme", "e-2").unwrap().len(), 1);
    assert_eq!(all_logs(&store, "acme", "e-").unwrap().len(), 0);
}

#[test]
fn dead_letters_in_order_and_removed_on_replay() {
    let (_dir, store) = open();
    commit(
        &store,
        "acme",
        vec![
            Op::PutDeadLetter(dead_letter("acme", "e-1", 300)),
            Op::PutDeadLetter(dead_letter("acme", "e-1", 2)),
            Op::PutDeadLetter(dead_letter("acme", "e-1", 256)),
            Op::PutDeadLetter(dead_letter("acme", "e-2", 1)),
        ],
    );
    let seqs = |e: &str| -> Vec<u64> {
        all_dead_letters(&store, "acme", e)
            .unwrap()
            .into_iter()
            .map(|d| d.seq)
            .collect()
    };
    assert_eq!(seqs("e-1"), [2, 256, 300]);
    assert_eq!(seqs("e-2"), [1]);
    commit(
        &store,
        "acme",
        vec![Op::RemoveDeadLetter {
            task_id: "sf-contacts".into(),
            execution_id: "e-1".into(),
            seq: 256,
        }],
    );
    assert_eq!(seqs("e-1"), [2, 300]);
    assert_eq!(
        all_dead_letters(&store, "acme", "e-1").unwrap()[0],
        dead_letter("acme", "e-1", 2)
    );
}

#[test]
fn connections_of_a_tenant_fall_back_to_system_ones() {
    let (_dir, store) = open();
    store
        .put_connection(&connection(ConnectionScope::System, None, "news"))
        .unwrap();
    store
        .put_connection(&connection(ConnectionScope::System, None, "sf"))
        .unwrap();
    store
        .put_connection(&connection(ConnectionScope::Tenant, Some("acme"), "sf"))
        .unwrap();
    store
        .put_connection(&connection(ConnectionScope::Tenant, Some("globex"), "hs"))
        .unwrap();

    let name = |tenant: &str, id: &str| -> Option<String> {
        store
            .connection(tenant, id)
            .unwrap()
            .and_then(|c| c.display_name)
    };
    assert_eq!(name("acme", "sf").as_deref(), Some("sf of acme"));
    assert_eq!(name("globex", "sf").as_deref(), Some("sf of system"));
    assert_eq!(name("acme", "news").as_deref(), Some("news of system"));
    assert_eq!(name("acme", "hs"), None);
    assert_eq!(name("globex", "hs").as_deref(), Some("hs of globex"));

    let all: Vec<String> = store
        .connections()
        .unwrap()
        .into_iter()
        .filter_map(|c| c.display_name)
        .collect();
    assert_eq!(
        all,
        [
            "news of system",
            "sf of system",
            "sf of acme",
            "hs of globex"
        ]
    );

    // Replacing keeps one record.
    let mut updated = connection(ConnectionScope::Tenant, Some("acme"), "sf");
    updated.status = ConnectionStatus::Expired;
    store.put_connection(&updated).unwrap();
    assert_eq!(store.connection("acme", "sf").unwrap(), Some(updated));
    assert_eq!(store.connections().unwrap().len(), 4);

    let err = store
        .put_connection(&connection(ConnectionScope::Tenant, None, "x"))
        .unwrap_err();
    expect![[r#"invalid write: connection `x` has tenant scope but no tenantId"#]]
        .assert_eq(&err.to_string());
    // Connections alone do not make a tenant with shards.
    assert_eq!(store.tenants().unwrap(), Vec::<String>::new());
}

#[test]
fn nothing_of_one_tenant_is_visible_to_another() {
    let (_dir, store) = open();
    for tenant in ["acme", "globex"] {
        commit(
            &store,
            tenant,
            vec![
                put_contact(tenant, "s-1", "003A", "a@x.io"),
                Op::PutPending(pending(tenant, "s-1", "001A")),
                set_watermark("t", json!(tenant)),
                Op::PutExecution(execution(tenant, "e-1", "t", 1, ExecutionStatus::Running)),
                Op::PutDeadLetter(dead_letter(tenant, "e-1", 1)),
                Op::PutLog(log("e-1", tenant, 1)),
            ],
        );
    }
    // A third tenant sees nothing of either.
    let t = "initech";
    assert_eq!(id_of(store.shard(t, "s-1")), None);
    assert_eq!(
        id_of(store.shard_by_source(t, "salesforce", "Contact", "003A")),
        None
    );
    assert_eq!(
        id_of(store.shard_by_type(t, "salesforce", "c_contact", "003A")),
        None
    );
    assert_eq!(
        id_of(store.shard_by_dedupe_key(t, "c_contact", "a@x.io")),
        None
    );
    assert_eq!(store.shards(t, None).count(), 0);
    assert_eq!(
        store.count_by_source(t, "salesforce", "Contact").unwrap(),
        0
    );
    assert_eq!(
        store
            .unmarked(t, "salesforce", "Contact", "m")
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        store
            .pending_for(t, "salesforce", "c_account", "001A")
            .unwrap()
            .len(),
        0
    );
    assert_eq!(store.task_state(t, "t").unwrap(), None);
    assert_eq!(store.execution(t, "e-1").unwrap(), None);
    assert_eq!(all_executions(&store, t, None).unwrap().len(), 0);
    assert_eq!(all_dead_letters(&store, t, "e-1").unwrap().len(), 0);
    assert_eq!(all_logs(&store, t, "e-1").unwrap().len(), 0);

    // Each of the two sees only its own.
    for tenant in ["acme", "globex"] {
        assert_eq!(
            store.shard(tenant, "s-1").unwrap().unwrap().tenant_id,
            tenant
        );
        assert_eq!(store.shards(tenant, None).count(), 1);
        assert_eq!(
            store.task_state(tenant, "t").unwrap().unwrap().watermark,
            Some(json!(tenant))
        );
        assert_eq!(all_executions(&store, tenant, None).unwrap().len(), 1);
        let logs: Vec<String> = all_logs(&store, tenant, "e-1")
            .unwrap()
            .into_iter()
            .map(|l| l.message)
            .collect();
        assert_eq!(logs, [tenant]);
        assert_eq!(
            store
                .pending_for(tenant, "salesforce", "c_account", "001A")
                .unwrap()
                .len(),
            1
        );
    }
    // Deleting in one tenant leaves the other's shard and indexes alone.
    commit(&store, "acme", vec![delete_contact("acme", "s-1")]);
    assert_eq!(
        id_of(store.shard_by_source("globex", "salesforce", "Contact", "003A")),
        Some("s-1".into())
    );
    assert_eq!(store.tenants().unwrap(), ["globex"]);

    // A batch may not write another tenant's records, nor use the system namespace.
    let cross = [
        Op::PutPending(pending("globex", "s-1", "001A")),
        Op::PutExecution(execution("globex", "e-9", "t", 1, ExecutionStatus::Running)),
        Op::PutDeadLetter(dead_letter("globex", "e-9", 1)),
        delete_contact("globex", "s-1"),
    ];
    for op in cross {
        let err = store
            .commit(Batch {
                tenant: "acme".into(),
                ops: vec![op],
            })
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    }
    let err = store
        .commit(Batch {
            tenant: "".into(),
            ops: vec![put_contact("", "s", "e", "m")],
        })
        .unwrap_err();
    expect![[r#"invalid write: the tenant is empty (file-based pipelines use `default`)"#]]
        .assert_eq(&err.to_string());
    assert_eq!(
        id_of(store.shard_by_source("globex", "salesforce", "Contact", "003A")),
        Some("s-1".into())
    );
}

#[test]
fn ids_may_hold_any_character() {
    let (_dir, store) = open();
    // Separators and escapes inside ids must not make two keys meet.
    commit(
        &store,
        "a\0b",
        vec![
            put_contact("a\0b", "s\0\x01/1", "0\x00A", "x\x01@y"),
            put_contact("a\0b", "s", "0", "x"),
        ],
    );
    assert_eq!(
        id_of(store.shard_by_source("a\0b", "salesforce", "Contact", "0\x00A")),
        Some("s\0\x01/1".into())
    );
    assert_eq!(
        id_of(store.shard_by_source("a\0b", "salesforce", "Contact", "0")),
        Some("s".into())
    );
    assert_eq!(id_of(store.shard("a", "s")), None);
    assert_eq!(
        store
            .count_by_source("a\0b", "salesforce", "Contact")
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .unmarked("a\0b", "salesforce", "Contact", "m")
            .unwrap()
            .len(),
        2
    );
    assert_eq!(store.tenants().unwrap(), ["a\0b"]);
}

#[test]
fn tenants_with_shards_in_order() {
    let (_dir, store) = open();
    commit(
        &store,
        "globex",
        vec![put_contact("globex", "s-1", "1", "a")],
    );
    commit(&store, "acme", vec![put_contact("acme", "s-1", "1", "a")]);
    commit(
        &store,
        "initech",
        vec![Op::PutLog(log("e-1", "no shards", 0))],
    );
    assert_eq!(store.tenants().unwrap(), ["acme", "globex"]);
}

#[test]
fn a_corrupt_value_names_its_key() {
    let (_dir, store) = open();
    commit(
        &store,
        "acme",
        vec![put_contact("acme", "s-1", "003A", "a@x.io")],
    );
    store
        .state
        .raw()
        .insert(key(&[b"acme", SHARD, b"s-1"]), &b"{not json"[..])
        .unwrap();
    let err = store.shard("acme", "s-1").unwrap_err();
    expect![[r#"corrupt record `acme/shard/s-1`: key must be a string at line 1 column 2"#]]
        .assert_eq(&err.to_string());
    let err = store
        .shard_by_source("acme", "salesforce", "Contact", "003A")
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { key, .. } if key == "acme/shard/s-1"),
        "{err}"
    );
    let listed: Vec<Result<Shard>> = store.shards("acme", None).collect();
    assert!(matches!(&listed[..], [Err(StoreError::Corrupt { .. })]));

    // An index pointing nowhere is reported, not taken for "absent".
    store
        .state
        .raw()
        .remove(key(&[b"acme", SHARD, b"s-1"]))
        .unwrap();
    let err = store
        .shard_by_dedupe_key("acme", "c_contact", "a@x.io")
        .unwrap_err();
    expect![[r#"corrupt record `acme/dedupe/c_contact/a@x.io`: points to shard `s-1`, which does not exist"#]]
        .assert_eq(&err.to_string());
}

#[test]
fn a_directory_in_use_is_refused_clearly() {
    let (dir, _store) = open();
    let err = SledStore::open(dir.path()).unwrap_err();
    let message = err
        .to_string()
        .replace(&dir.path().display().to_string(), "DIR");
    expect![[r#"storage error: another cmap process is using DIR (stop it, or pass another --data directory)"#]]
        .assert_eq(&message);
}

#[test]
fn an_empty_batch_writes_nothing() {
    let (_dir, store) = open();
    store.commit(Batch::new("acme")).unwrap();
    assert_eq!(state_keys(&store), Vec::<String>::new());
}

#[test]
fn a_marked_event_is_seen_for_its_task_and_tenant_only() {
    let (_dir, store) = open();
    assert!(!store.event_seen("acme", "hook", "evt-1").unwrap());
    commit(
        &store,
        "acme",
        vec![Op::MarkEvent {
            task_id: "hook".into(),
            event_id: "evt-1".into(),
            at: at(1),
        }],
    );
    assert!(store.event_seen("acme", "hook", "evt-1").unwrap());
    assert!(!store.event_seen("acme", "hook", "evt-2").unwrap());
    assert!(!store.event_seen("acme", "other", "evt-1").unwrap());
    assert!(!store.event_seen("globex", "hook", "evt-1").unwrap());
}

/// A shard write with explicit expectations.
fn put_expecting(id: &str, ext: &str, email: &str, version: u64, expect: Expect) -> Op {
    let Op::PutShard {
        mut shard,
        source,
        dedupe_key,
        ..
    } = put_contact("acme", id, ext, email)
    else {
        unreachable!("put_contact puts a shard")
    };
    shard.version = version;
    Op::PutShard {
        shard,
        source,
        dedupe_key,
        expect,
    }
}

fn expecting(version: Option<u64>, source: Option<&str>, dedupe: Option<&str>) -> Expect {
    Expect {
        version,
        source_owner: source.map(String::from),
        dedupe_owner: dedupe.map(String::from),
    }
}

/// A company that `s-1` waits for (see [`pending`]).
fn put_account(id: &str, ext: &str, version: u64, expect: Expect) -> Op {
    let mut account = shard("acme", id, "c_account", json!({}));
    account.version = version;
    Op::PutShard {
        shard: account,
        source: Some(source("salesforce", "Account", "c_account", ext)),
        dedupe_key: None,
        expect,
    }
}

#[test]
fn a_write_whose_reads_changed_conflicts_and_applies_nothing() {
    // Stored before each case: s-1 (003A, a@x.io) at version 2, a reference from s-1
    // waiting for account 001W, and account s-acc (001A).
    let setup = || {
        let (dir, store) = open();
        commit(
            &store,
            "acme",
            vec![
                put_contact("acme", "s-1", "003A", "a@x.io"),
                put_account("s-acc", "001A", 1, Expect::default()),
            ],
        );
        let mut second = put_contact("acme", "s-1", "003A", "a@x.io");
        if let Op::PutShard { shard, .. } = &mut second {
            shard.version = 2;
        }
        commit(
            &store,
            "acme",
            vec![second, Op::PutPending(pending("acme", "s-1", "001W"))],
        );
        (dir, store)
    };
    let cases: Vec<(&str, Vec<Op>, &str)> = vec![
        (
            "a create of an external id another shard took",
            vec![put_expecting("s-2", "003A", "b@x.io", 1, expecting(None, None, None))],
            "write conflict: acme/ext/salesforce/Contact/003A: the writer read it naming no shard, it now names shard `s-1`",
        ),
        (
            "a create of a dedupe key another shard took",
            vec![put_expecting("s-2", "003B", "a@x.io", 1, expecting(None, None, None))],
            "write conflict: acme/dedupe/c_contact/a@x.io: the writer read it naming no shard, it now names shard `s-1`",
        ),
        (
            "an update of a version another writer replaced",
            vec![put_expecting("s-1", "003A", "a@x.io", 2, expecting(Some(1), Some("s-1"), Some("s-1")))],
            "write conflict: acme/shard/s-1: the writer read the shard at version 1, it is now at version 2",
        ),
        (
            "an update of a shard another writer deleted",
            vec![put_expecting("s-9", "003Z", "z@x.io", 4, expecting(Some(3), None, None))],
            "write conflict: acme/shard/s-9: the writer read the shard at version 3, it is now absent",
        ),
        (
            "an update that read the external id naming nobody",
            vec![put_expecting("s-1", "003A", "a@x.io", 3, expecting(Some(2), None, Some("s-1")))],
            "write conflict: acme/ext/salesforce/Contact/003A: the writer read it naming no shard, it now names shard `s-1`",
        ),
        (
            "a delete of a version another writer replaced",
            vec![Op::DeleteShard {
                shard: shard("acme", "s-1", "c_contact", json!({})),
                source: None,
                dedupe_key: None,
                expect_version: Some(1),
            }],
            "write conflict: acme/shard/s-1: the writer read the shard at version 1, it is now at version 2",
        ),
        (
            "a reference kept waiting for a target stored meanwhile",
            vec![Op::PutPending(pending("acme", "s-1", "001A"))],
            "write conflict: acme/ref/salesforce/c_account/001A: shard `s-1` field `accountId` was to wait for this target, but shard `s-acc` is stored under it now",
        ),
        (
            "a target stored without resolving a reference that waits for it",
            vec![put_account("s-w", "001W", 1, Expect::default())],
            "write conflict: acme/pending/salesforce/c_account/001W: references wait for a shard this batch stores, and the batch does not resolve them (they were stored after its writer looked)",
        ),
    ];
    for (name, ops, expected) in cases {
        let (_dir, store) = setup();
        let before = state_keys(&store);
        let mut ops = ops;
        // Whatever else the batch holds is not applied either.
        ops.push(Op::PutExecution(execution(
            "acme",
            "e-1",
            "t",
            1,
            ExecutionStatus::Running,
        )));
        ops.push(Op::PutLog(log("e-1", "hello", 1)));
        ops.push(set_watermark("t", json!("w")));
        let err = store
            .commit(Batch {
                tenant: "acme".into(),
                ops,
            })
            .expect_err(name);
        assert!(matches!(err, StoreError::Conflict(_)), "{name}: {err}");
        assert_eq!(err.to_string(), expected, "{name}");
        assert_eq!(state_keys(&store), before, "{name}: nothing applied");
        assert_eq!(
            all_logs(&store, "acme", "e-1").unwrap(),
            Vec::new(),
            "{name}"
        );
    }
}

#[test]
fn writes_whose_reads_still_hold_are_applied() {
    let (_dir, store) = open();
    commit(
        &store,
        "acme",
        vec![put_contact("acme", "s-1", "003A", "a@x.io")],
    );
    commit(
        &store,
        "acme",
        vec![Op::PutPending(pending("acme", "s-1", "001W"))],
    );
    let ok = |ops: Vec<Op>| {
        store
            .commit(Batch {
                tenant: "acme".into(),
                ops,
            })
            .unwrap()
    };
    // An update that read version 1 and both keys naming s-1.
    ok(vec![put_expecting(
        "s-1",
        "003A",
        "a@x.io",
        2,
        expecting(Some(1), Some("s-1"), Some("s-1")),
    )]);
    // A shard taking another's external id, having read that it was the other's.
    ok(vec![put_expecting(
        "s-2",
        "003A",
        "b@x.io",
        1,
        expecting(None, Some("s-1"), None),
    )]);
    assert_eq!(
        id_of(store.shard_by_source("acme", "salesforce", "Contact", "003A")),
        Some("s-2".into())
    );
    // A target stored together with the resolution of the reference waiting for it.
    ok(vec![
        put_account("s-w", "001W", 1, Expect::default()),
        Op::RemovePending(pending("acme", "s-1", "001W")),
    ]);
    // A shard created and deleted by one batch (the delete expects no stored shard).
    ok(vec![
        put_expecting("s-3", "003C", "c@x.io", 1, Expect::default()),
        Op::DeleteShard {
            shard: shard("acme", "s-3", "c_contact", json!({})),
            source: None,
            dedupe_key: None,
            expect_version: None,
        },
    ]);
    assert_eq!(id_of(store.shard("acme", "s-3")), None);
    // A delete of the version read.
    ok(vec![Op::DeleteShard {
        shard: shard("acme", "s-1", "c_contact", json!({})),
        source: None,
        dedupe_key: None,
        expect_version: Some(2),
    }]);
    assert_eq!(ids(store.shards("acme", None)), ["s-2", "s-w"]);
}

#[test]
fn task_updates_change_only_the_fields_they_name() {
    let (_dir, store) = open();
    let update = |update: TaskUpdate| Op::UpdateTask {
        task_id: "t".into(),
        update,
    };
    let checkpoint = Checkpoint {
        execution_id: "e-1".into(),
        cursor: json!({"page": 2}),
        sweep_mark: None,
        watermark: None,
        results: ExecutionResults::default(),
        sweep_started_at: None,
    };
    let finished = |status, deleted| FinishedRun {
        started_at: at(1),
        completed_at: at(2),
        status,
        results: ExecutionResults {
            fetched: 3,
            created: 2,
            updated: 1,
            deleted,
            ..ExecutionResults::default()
        },
        error: None,
    };
    // A run's checkpoint, then a pause, then a webhook delivery's stats, then the run's
    // end: each keeps what the others wrote.
    commit(
        &store,
        "acme",
        vec![update(TaskUpdate {
            checkpoint: Some(Some(checkpoint.clone())),
            ..TaskUpdate::default()
        })],
    );
    commit(
        &store,
        "acme",
        vec![update(TaskUpdate {
            paused: Some(true),
            ..TaskUpdate::default()
        })],
    );
    commit(
        &store,
        "acme",
        vec![update(TaskUpdate {
            finished: Some(finished(ExecutionStatus::Success, 0)),
            ..TaskUpdate::default()
        })],
    );
    let state = store.task_state("acme", "t").unwrap().unwrap();
    assert_eq!(state.checkpoint, Some(checkpoint));
    assert!(state.paused);
    assert_eq!(state.stats.total_runs, 1);
    commit(
        &store,
        "acme",
        vec![update(TaskUpdate {
            checkpoint: Some(None),
            watermark: Some(json!("w2")),
            finished: Some(finished(ExecutionStatus::Failed, 4)),
            ..TaskUpdate::default()
        })],
    );
    let state = store.task_state("acme", "t").unwrap().unwrap();
    assert_eq!(state.checkpoint, None);
    assert_eq!(state.watermark, Some(json!("w2")));
    assert!(state.paused, "an execution's update never resumes a task");
    assert_eq!(
        state.stats,
        TaskStats {
            total_runs: 2,
            successful_runs: 1,
            failed_runs: 1,
            last_success_at: Some(at(2)),
            last_failure_at: Some(at(2)),
            records_processed: 6,
            records_created: 4,
            records_updated: 2,
            records_skipped: 0,
            records_failed: 0,
            records_deleted: 4,
        }
    );
    assert_eq!(state.last_run_status, Some(ExecutionStatus::Failed));
    // Two updates of one task in one batch apply in order.
    commit(
        &store,
        "acme",
        vec![
            update(TaskUpdate {
                paused: Some(false),
                ..TaskUpdate::default()
            }),
            update(TaskUpdate {
                watermark: Some(json!("w3")),
                ..TaskUpdate::default()
            }),
        ],
    );
    let state = store.task_state("acme", "t").unwrap().unwrap();
    assert!(!state.paused);
    assert_eq!(state.watermark, Some(json!("w3")));
}

#[test]
fn a_task_state_stored_whole_before_reads_with_its_paused_flag() {
    // Task states written by earlier versions (whole records, `paused` among them).
    let (_dir, store) = open();
    let k = key(&[b"acme", TASK, b"t"]);
    store
        .state
        .raw()
        .insert(
            k,
            br#"{"tenantId":"acme","taskId":"t","stats":{"totalRuns":3,"successfulRuns":3,"failedRuns":0,"recordsProcessed":9,"recordsCreated":9,"recordsUpdated":0,"recordsSkipped":0,"recordsFailed":0},"paused":true}"#.to_vec(),
        )
        .unwrap();
    let state = store.task_state("acme", "t").unwrap().unwrap();
    assert!(state.paused);
    assert_eq!(state.stats.records_deleted, 0);
    commit(&store, "acme", vec![set_watermark("t", json!("w"))]);
    let state = store.task_state("acme", "t").unwrap().unwrap();
    assert!(state.paused);
    assert_eq!(state.stats.total_runs, 3);
}

#[cfg(unix)]
#[test]
fn the_data_directory_and_what_sled_creates_in_it_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("new/data");
    let store = SledStore::open(&dir).unwrap();
    commit(
        &store,
        "acme",
        vec![put_contact("acme", "s-1", "003A", "a@x.io")],
    );
    assert_eq!(store.tightened(), Vec::<std::path::PathBuf>::new());
    drop(store);
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let expected = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(&path), expected, "{}", path.display());
        seen += 1;
    }
    assert!(seen >= 2, "sled's files are there");
    assert_eq!(mode(&dir), 0o700);

    // A directory others could read is tightened, with what was in it, and says so.
    let open_dir = root.path().join("open");
    std::fs::create_dir(&open_dir).unwrap();
    std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(open_dir.join("master.key"), "k").unwrap();
    std::fs::set_permissions(
        open_dir.join("master.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let store = SledStore::open(&open_dir).unwrap();
    let mut tightened = store.tightened().to_vec();
    tightened.sort();
    assert_eq!(tightened, [open_dir.clone(), open_dir.join("master.key")]);
    assert_eq!(mode(&open_dir), 0o700);
    assert_eq!(mode(&open_dir.join("master.key")), 0o600);
}

/// `pausedUntil` is a control field: a run's own state updates keep it; only an update
/// that names it sets or lifts it.
#[test]
fn paused_until_is_kept_by_run_state_updates() {
    let (_dir, store) = open();
    let update = |update: TaskUpdate| Op::UpdateTask {
        task_id: "sf-contacts".into(),
        update,
    };
    let paused_until = |s: &SledStore| {
        s.task_state("acme", "sf-contacts")
            .unwrap()
            .and_then(|s| s.paused_until)
    };
    commit(
        &store,
        "acme",
        vec![
            update(TaskUpdate {
                paused_until: Some(Some(at(30))),
                ..TaskUpdate::default()
            }),
            update(TaskUpdate {
                watermark: Some(json!("w1")),
                checkpoint: Some(None),
                ..TaskUpdate::default()
            }),
        ],
    );
    assert_eq!(paused_until(&store), Some(at(30)));
    commit(
        &store,
        "acme",
        vec![update(TaskUpdate {
            watermark: Some(json!("w2")),
            ..TaskUpdate::default()
        })],
    );
    assert_eq!(paused_until(&store), Some(at(30)), "a run's write keeps it");
    commit(
        &store,
        "acme",
        vec![update(TaskUpdate {
            paused_until: Some(None),
            ..TaskUpdate::default()
        })],
    );
    let stored = store.task_state("acme", "sf-contacts").unwrap().unwrap();
    assert_eq!(
        (stored.paused_until, stored.watermark),
        (None, Some(json!("w2"))),
        "lifted, and the rest of the state stays"
    );
}

/// `pending_any` answers per (tenant, integration, shard type), and never for another.
#[test]
fn pending_any_tells_whether_references_wait_for_a_shard_type() {
    let (_dir, store) = open();
    assert!(!store.pending_any("t1", "salesforce", "c_account").unwrap());
    commit(
        &store,
        "t1",
        vec![Op::PutPending(pending("t1", "s1", "001A"))],
    );
    assert!(store.pending_any("t1", "salesforce", "c_account").unwrap());
    // Another shard type, integration or tenant: none waits there.
    assert!(!store.pending_any("t1", "salesforce", "c_accoun").unwrap());
    assert!(!store.pending_any("t1", "salesforce", "c_contact").unwrap());
    assert!(!store.pending_any("t1", "hubspot", "c_account").unwrap());
    assert!(!store.pending_any("t2", "salesforce", "c_account").unwrap());
    commit(
        &store,
        "t1",
        vec![Op::RemovePending(pending("t1", "s1", "001A"))],
    );
    assert!(!store.pending_any("t1", "salesforce", "c_account").unwrap());
}

/// Writes shard `id` (external id `ext`, dedupe key `email`) as stores did before the
/// meta moved into the shard's value and the fingerprint into its `ext` entry.
fn put_legacy_contact(store: &SledStore, id: &str, ext: &str, email: &str) {
    let s = shard("acme", id, "c_contact", json!({ "email": email }));
    let source = StoredSource::from(&source("salesforce", "Contact", "c_contact", ext));
    let meta = json!({
        "shardType": "c_contact",
        "sources": [source],
        "dedupeKey": ["c_contact", email],
        "version": 1,
        "content": hex::encode(crate::store::content_hash(&s.structured_data)),
    });
    let raw = store.state.raw();
    let t = b"acme".as_slice();
    let entries = [
        (
            key(&[t, SHARD, id.as_bytes()]),
            serde_json::to_vec(&s).unwrap(),
        ),
        (
            key(&[t, META, id.as_bytes()]),
            meta.to_string().into_bytes(),
        ),
        (
            key(&[t, BY_TYPE, b"c_contact", id.as_bytes()]),
            json!(id).to_string().into_bytes(),
        ),
        (source.ext_key("acme"), json!(id).to_string().into_bytes()),
        (source.ref_key("acme"), json!(id).to_string().into_bytes()),
        (
            key(&[t, DEDUPE, b"c_contact", email.as_bytes()]),
            json!(id).to_string().into_bytes(),
        ),
        (key(&[SYSTEM, TENANT, t]), b"true".to_vec()),
    ];
    for (k, v) in entries {
        raw.insert(k, v).unwrap();
    }
}

#[test]
fn a_store_written_in_the_old_layout_is_read_and_moves_to_the_new_one_shard_by_shard() {
    let (_dir, store) = open();
    put_legacy_contact(&store, "s-1", "003A", "a@x.io");
    put_legacy_contact(&store, "s-2", "003B", "b@x.io");
    put_legacy_contact(&store, "s-3", "003C", "c@x.io");
    put_legacy_contact(&store, "s-4", "003D", "d@x.io");

    // Read as before: by id, source, type, dedupe key; the fingerprint from the old meta.
    let s1 = store.shard("acme", "s-1").unwrap().unwrap();
    assert_eq!(
        found_by_each_index(&store, "003A", "a@x.io"),
        vec![Some("s-1".to_string()); 3]
    );
    let fp = |ext: &str| {
        store
            .shard_fingerprint("acme", "salesforce", "Contact", ext)
            .unwrap()
            .unwrap()
    };
    let old = fp("003A");
    assert_eq!((old.shard_id.as_str(), old.version), ("s-1", 1));
    assert_eq!(old.content, crate::store::content_hash(&s1.structured_data));
    assert_eq!(store.shards("acme", Some("c_contact")).count(), 4);

    // s-1 rewritten: its meta key goes, the fingerprint is in its ext entry.
    let mut changed = s1.clone();
    changed.structured_data.insert("name".into(), json!("Ada"));
    changed.version = 2;
    commit(
        &store,
        "acme",
        vec![Op::PutShard {
            shard: changed.clone(),
            source: Some(source("salesforce", "Contact", "c_contact", "003A")),
            dedupe_key: Some(("c_contact".into(), "a@x.io".into())),
            expect: Expect::default(),
        }],
    );
    let new = fp("003A");
    assert_eq!((new.shard_id.as_str(), new.version), ("s-1", 2));
    assert_eq!(
        new.content,
        crate::store::content_hash(&changed.structured_data)
    );
    assert_eq!(store.shard("acme", "s-1").unwrap(), Some(changed));

    // s-3 takes s-2's external id and dedupe key: s-2 (old layout) loses both and is
    // rewritten in the new one; s-4 (old layout) is deleted with every entry.
    commit(
        &store,
        "acme",
        vec![
            put_contact("acme", "s-3", "003B", "b@x.io"),
            delete_contact("acme", "s-4"),
        ],
    );
    assert_eq!(
        id_of(store.shard_by_source("acme", "salesforce", "Contact", "003B")),
        Some("s-3".into())
    );
    assert_eq!(
        id_of(store.shard_by_dedupe_key("acme", "c_contact", "b@x.io")),
        Some("s-3".into())
    );
    // s-3 keeps 003C too (its entry still in the old form, its meta key gone: the
    // fingerprint comes from the shard itself); s-2 owns nothing now, so deleting it
    // leaves s-3's entries.
    let s3 = store.shard("acme", "s-3").unwrap().unwrap();
    let kept = fp("003C");
    assert_eq!((kept.shard_id.as_str(), kept.version), ("s-3", s3.version));
    assert_eq!(
        kept.content,
        crate::store::content_hash(&s3.structured_data)
    );
    commit(&store, "acme", vec![delete_contact("acme", "s-2")]);
    assert_eq!(
        id_of(store.shard_by_source("acme", "salesforce", "Contact", "003B")),
        Some("s-3".into())
    );
    expect![[r#"
        [
            "/tenant/acme",
            "acme/dedupe/c_contact/a@x.io",
            "acme/dedupe/c_contact/b@x.io",
            "acme/ext/salesforce/Contact/003A",
            "acme/ext/salesforce/Contact/003B",
            "acme/ext/salesforce/Contact/003C",
            "acme/ref/salesforce/c_contact/003A",
            "acme/ref/salesforce/c_contact/003B",
            "acme/ref/salesforce/c_contact/003C",
            "acme/shard/s-1",
            "acme/shard/s-3",
            "acme/type/c_contact/s-1",
            "acme/type/c_contact/s-3",
        ]
    "#]]
    .assert_debug_eq(&state_keys(&store));
}
