//! Tests of bounded state in the sled store: pages of lists (order, cursors stable under
//! inserts and removals, reads proportional to the page) and pruning (exactly what the
//! retention says, by age, by count, never a running or checkpoint-held execution nor
//! unexpired dead letters; every index entry with its record, nothing else touched).

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU32;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde_json::json;
use tempfile::TempDir;

use super::tests::reopen;
use super::*;
use crate::store::{
    Checkpoint, ConnectionStatus, Cursor, EncryptedCredentials, ExecutionResults, Limit, LogLevel,
    Phase, Progress, PruneCursor, Retention, TaskUpdate, TriggeredBy,
};

fn open() -> (TempDir, SledStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    (dir, store)
}

/// What ages are measured from.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap()
}

fn hours_ago(hours: i64) -> DateTime<Utc> {
    now() - TimeDelta::hours(hours)
}

fn execution(tenant: &str, id: &str, task: &str, started_at: DateTime<Utc>) -> SyncExecution {
    SyncExecution {
        id: id.into(),
        tenant_id: tenant.into(),
        sync_task_id: task.into(),
        tenant_integration_id: "salesforce".into(),
        started_at,
        completed_at: Some(started_at),
        duration_ms: Some(0),
        triggered_by: TriggeredBy::Schedule,
        triggered_by_user_id: None,
        status: ExecutionStatus::Success,
        progress: Progress {
            phase: Phase::Complete,
            total_records: None,
            processed_records: 0,
            percentage: 100.0,
        },
        results: ExecutionResults::default(),
        errors: Vec::new(),
        retry_count: 0,
        retry_of: None,
    }
}

fn log_line(execution_id: &str, n: usize) -> SyncLog {
    SyncLog {
        id: format!("{execution_id}-log-{n}"),
        sync_execution_id: execution_id.into(),
        timestamp: now(),
        level: LogLevel::Info,
        message: format!("line {n}"),
        data: None,
    }
}

fn dead_letter(tenant: &str, task: &str, execution_id: &str, seq: u64) -> DeadLetter {
    DeadLetter {
        tenant_id: tenant.into(),
        task_id: task.into(),
        execution_id: execution_id.into(),
        seq,
        record: json!({ "Id": seq }),
        external_id: None,
        code: "R0001".into(),
        field: None,
        message: "not an email".into(),
        created_at: now(),
    }
}

fn commit(store: &SledStore, tenant: &str, ops: Vec<Op>) {
    store
        .commit(Batch {
            tenant: tenant.into(),
            ops,
        })
        .unwrap();
}

fn retention(days: u32, per_task: u32, dead_letter_days: u32, event_hours: u32) -> Retention {
    let n = |v| NonZeroU32::new(v).unwrap();
    Retention {
        execution_days: n(days),
        executions_per_task: n(per_task),
        dead_letter_days: n(dead_letter_days),
        event_id_hours: n(event_hours),
        audit: Default::default(),
    }
}

/// A whole pass in calls of at most `limit` records; every call keeps to its limit.
fn prune_all(store: &SledStore, retention: Retention, limit: usize) -> (Pruned, usize) {
    let mut total = Pruned::default();
    let mut after: Option<PruneCursor> = None;
    let mut calls = 0;
    loop {
        calls += 1;
        assert!(calls < 10_000, "the pass does not end");
        let step = store
            .prune(&PruneRequest {
                retention,
                now: now(),
                limit,
                after: after.take(),
            })
            .unwrap();
        assert!(step.total() <= limit as u64, "a call removed {step:?}");
        total.add(&step);
        match step.next {
            Some(next) => after = Some(next),
            None => return (total, calls),
        }
    }
}

/// Every key that names an execution, a log line, a dead letter or an event id, checked
/// against the record it names: the problems found (none in a sound store).
fn dangling(store: &SledStore) -> Vec<String> {
    let mut problems = Vec::new();
    let state = store.state.raw();
    let get = |k: Vec<u8>| state.get(k).unwrap();
    let exec = |t: &[u8], id: &[u8]| -> Option<SyncExecution> {
        get(key(&[t, EXEC, id])).map(|v| serde_json::from_slice(&v).unwrap())
    };
    for item in state.iter() {
        let (k, v) = item.unwrap();
        let shown = keys::display(&k);
        let segments = keys::segments(&k).unwrap();
        let s: Vec<&[u8]> = segments.iter().map(Vec::as_slice).collect();
        let micros = |b: &[u8]| keys::micros_from_sortable(b).unwrap();
        match s.as_slice() {
            [t, EXEC, id] => {
                let e: SyncExecution = serde_json::from_slice(&v).unwrap();
                for index in execution_index_keys(t, &e) {
                    if get(index.clone()).is_none() {
                        problems.push(format!("{shown}: no {}", keys::display(&index)));
                    }
                }
                let running = get(key(&[t, RUNNING, id])).is_some();
                if running != (e.status == ExecutionStatus::Running) {
                    problems.push(format!("{shown}: running entry {running}"));
                }
            }
            [t, EXEC_BY_TASK, task, started, id] => match exec(t, id) {
                Some(e)
                    if e.sync_task_id.as_bytes() == *task
                        && e.started_at.timestamp_micros() == micros(started) => {}
                _ => problems.push(format!("{shown}: dangling")),
            },
            [t, EXEC_BY_TIME, started, id] => match exec(t, id) {
                Some(e) if e.started_at.timestamp_micros() == micros(started) => {}
                _ => problems.push(format!("{shown}: dangling")),
            },
            [t, RUNNING, id] | [t, DEAD, id, _] if exec(t, id).is_none() => {
                problems.push(format!("{shown}: dangling"));
            }
            [t, EVENT, task, event] => {
                let at: DateTime<Utc> = serde_json::from_slice(&v).unwrap();
                if get(event_time_key(t, task, event, at)).is_none() {
                    problems.push(format!("{shown}: no event-by-time entry"));
                }
            }
            [t, EVENT_BY_TIME, stored, task, event] => {
                let at = get(key(&[t, EVENT, task, event]))
                    .map(|v| serde_json::from_slice::<DateTime<Utc>>(&v).unwrap());
                if at.map(|at| at.timestamp_micros()) != Some(micros(stored)) {
                    problems.push(format!("{shown}: dangling"));
                }
            }
            _ => {}
        }
    }
    for item in store.logs.raw().iter() {
        let (k, _) = item.unwrap();
        let segments = keys::segments(&k).unwrap();
        if exec(&segments[0], &segments[1]).is_none() {
            problems.push(format!("log {}: dangling", keys::display(&k)));
        }
    }
    problems
}

/// The keys of everything pruning must never touch (shards, indexes, task states,
/// pending references, connections, the tenant registry).
fn untouchable(store: &SledStore) -> Vec<String> {
    let pruned = [
        EXEC,
        EXEC_BY_TASK,
        EXEC_BY_TIME,
        RUNNING,
        DEAD,
        EVENT,
        EVENT_BY_TIME,
    ];
    store
        .state
        .raw()
        .iter()
        .map(|item| item.unwrap())
        .filter(|(k, _)| {
            let segments = keys::segments(k).unwrap();
            !pruned.contains(&segments[1].as_slice())
        })
        .map(|(k, v)| format!("{} = {}", keys::display(&k), String::from_utf8_lossy(&v)))
        .collect()
}

/// Execution ids (`tenant/id`) in the store, with their number of log lines and of dead
/// letters.
fn contents(store: &SledStore) -> BTreeMap<String, (usize, usize)> {
    let mut out = BTreeMap::new();
    for item in store.state.raw().iter() {
        let (k, _) = item.unwrap();
        let segments = keys::segments(&k).unwrap();
        if let [t, kind, id] = segments.as_slice() {
            if kind.as_slice() == EXEC {
                let (t, id) = (String::from_utf8_lossy(t), String::from_utf8_lossy(id));
                let logs = store
                    .logs
                    .raw()
                    .scan_prefix(key(&[t.as_bytes(), id.as_bytes()]));
                let dead = store
                    .state
                    .raw()
                    .scan_prefix(key(&[t.as_bytes(), DEAD, id.as_bytes()]));
                out.insert(format!("{t}/{id}"), (logs.count(), dead.count()));
            }
        }
    }
    out
}

fn event_ids(store: &SledStore) -> BTreeSet<String> {
    store
        .state
        .raw()
        .iter()
        .map(|item| keys::segments(&item.unwrap().0).unwrap())
        .filter(|s| s[1] == EVENT)
        .map(|s| String::from_utf8_lossy(&s[3]).into_owned())
        .collect()
}

/// An execution of a case: id, task, age in hours, and what it has.
#[derive(Clone, Copy)]
struct Exec {
    id: &'static str,
    task: &'static str,
    hours: i64,
    running: bool,
    retry_of: Option<&'static str>,
    logs: usize,
    dead: u64,
}

const fn ran(id: &'static str, task: &'static str, hours: i64) -> Exec {
    Exec {
        id,
        task,
        hours,
        running: false,
        retry_of: None,
        logs: 2,
        dead: 0,
    }
}

const DAY: i64 = 24;

struct Case {
    name: &'static str,
    /// Days, per task, dead-letter days, event-id hours.
    retention: (u32, u32, u32, u32),
    executions: Vec<Exec>,
    /// (task, execution whose checkpoint it holds)
    checkpoints: Vec<(&'static str, &'static str)>,
    /// (event id, age in hours)
    events: Vec<(&'static str, i64)>,
    /// What remains: execution ids with (log lines, dead letters).
    kept: Vec<(&'static str, usize, usize)>,
    kept_events: Vec<&'static str>,
}

fn cases() -> Vec<Case> {
    let running = |e: Exec| Exec { running: true, ..e };
    let failed = |e: Exec, dead: u64| Exec { dead, ..e };
    let retry = |e: Exec, of: &'static str| Exec {
        retry_of: Some(of),
        ..e
    };
    let logs = |e: Exec, logs: usize| Exec { logs, ..e };
    let defaults = (90, 1000, 30, 168);
    vec![
        Case {
            name: "by age: 90 days",
            retention: defaults,
            executions: vec![
                ran("d10", "a", 10 * DAY),
                ran("d89", "a", 89 * DAY),
                ran("d91", "a", 91 * DAY),
                ran("d400", "b", 400 * DAY),
            ],
            checkpoints: vec![],
            events: vec![],
            kept: vec![("d10", 2, 0), ("d89", 2, 0)],
            kept_events: vec![],
        },
        Case {
            name: "by count: the newest 3 of each task",
            retention: (90, 3, 30, 168),
            executions: vec![
                ran("a1", "a", 1),
                ran("a2", "a", 2),
                ran("a3", "a", 3),
                ran("a4", "a", 4),
                ran("a5", "a", 5),
                ran("b1", "b", 1),
                ran("b2", "b", 2),
            ],
            checkpoints: vec![],
            events: vec![],
            kept: vec![
                ("a1", 2, 0),
                ("a2", 2, 0),
                ("a3", 2, 0),
                ("b1", 2, 0),
                ("b2", 2, 0),
            ],
            kept_events: vec![],
        },
        Case {
            name: "by count and by age together",
            retention: (90, 2, 30, 168),
            executions: vec![
                ran("n1", "a", 1),
                ran("old", "a", 100 * DAY),
                ran("n2", "a", 2),
                ran("n3", "a", 3),
            ],
            checkpoints: vec![],
            events: vec![],
            kept: vec![("n1", 2, 0), ("n2", 2, 0)],
            kept_events: vec![],
        },
        Case {
            name: "a running execution is never pruned",
            retention: (90, 1, 30, 168),
            executions: vec![
                ran("new", "a", 1),
                running(ran("live", "a", 400 * DAY)),
                ran("done", "a", 400 * DAY),
            ],
            checkpoints: vec![],
            events: vec![],
            kept: vec![("new", 2, 0), ("live", 2, 0)],
            kept_events: vec![],
        },
        Case {
            name: "a checkpoint keeps its execution and the retryOf chain before it",
            retention: (90, 1, 30, 168),
            executions: vec![
                ran("latest", "t", 1),
                ran("c1", "t", 300 * DAY),
                retry(ran("c2", "t", 200 * DAY), "c1"),
                retry(ran("c3", "t", 100 * DAY), "c2"),
                ran("other", "t", 400 * DAY),
                retry(ran("u", "u", 400 * DAY), "c1"),
            ],
            checkpoints: vec![("t", "c3")],
            events: vec![],
            kept: vec![("latest", 2, 0), ("c1", 2, 0), ("c2", 2, 0), ("c3", 2, 0)],
            kept_events: vec![],
        },
        Case {
            name: "dead letters: expired ones go, unexpired ones hold their execution",
            retention: (90, 1, 30, 168),
            executions: vec![
                ran("newest", "a", 1),
                // Past the count, but its failed records can still be replayed.
                failed(ran("held", "a", 2 * DAY), 2),
                // Past the count, and its failed records past 30 days: all goes.
                failed(ran("gone", "a", 40 * DAY), 3),
                // The newest of its task: kept, its expired dead letters go.
                failed(ran("b", "b", 40 * DAY), 4),
            ],
            checkpoints: vec![],
            events: vec![],
            kept: vec![("newest", 2, 0), ("held", 2, 2), ("b", 2, 0)],
            kept_events: vec![],
        },
        Case {
            name: "dead letters kept longer than executions hold them",
            retention: (90, 1000, 120, 168),
            executions: vec![
                failed(ran("held", "a", 100 * DAY), 2),
                failed(ran("gone", "a", 130 * DAY), 2),
            ],
            checkpoints: vec![],
            events: vec![],
            kept: vec![("held", 2, 2)],
            kept_events: vec![],
        },
        Case {
            name: "a running execution keeps its dead letters",
            retention: (90, 1000, 30, 168),
            executions: vec![failed(running(ran("live", "a", 40 * DAY)), 2)],
            checkpoints: vec![],
            events: vec![],
            kept: vec![("live", 2, 2)],
            kept_events: vec![],
        },
        Case {
            name: "logs go with their execution, however many",
            retention: (90, 1000, 30, 168),
            executions: vec![
                logs(ran("old", "a", 100 * DAY), 11),
                logs(ran("new", "a", 1), 7),
            ],
            checkpoints: vec![],
            events: vec![],
            kept: vec![("new", 7, 0)],
            kept_events: vec![],
        },
        Case {
            name: "event ids: 7 days",
            retention: (90, 1000, 30, 168),
            executions: vec![],
            checkpoints: vec![],
            events: vec![
                ("h1", 1),
                ("h100", 100),
                ("h167", 167),
                ("h169", 169),
                ("h1000", 1000),
            ],
            kept: vec![],
            kept_events: vec!["h1", "h100", "h167"],
        },
        Case {
            name: "nothing expired: nothing removed",
            retention: (90, 1000, 30, 168),
            executions: vec![failed(ran("a", "a", 10 * DAY), 1), ran("b", "b", 89 * DAY)],
            checkpoints: vec![],
            events: vec![("e", 10)],
            kept: vec![("a", 2, 1), ("b", 2, 0)],
            kept_events: vec!["e"],
        },
    ]
}

/// Writes a case's state in `tenant`, with state pruning must leave alone around it.
fn write_case(store: &SledStore, tenant: &str, case: &Case) {
    let mut ops = Vec::new();
    for e in &case.executions {
        let mut record = execution(tenant, e.id, e.task, hours_ago(e.hours));
        if e.running {
            record.status = ExecutionStatus::Running;
        }
        record.retry_of = e.retry_of.map(str::to_owned);
        ops.push(Op::PutExecution(record));
        for n in 0..e.logs {
            ops.push(Op::PutLog(log_line(e.id, n)));
        }
        for seq in 0..e.dead {
            ops.push(Op::PutDeadLetter(dead_letter(tenant, e.task, e.id, seq)));
        }
    }
    for (task, execution) in &case.checkpoints {
        ops.push(Op::UpdateTask {
            task_id: (*task).into(),
            update: TaskUpdate {
                checkpoint: Some(Some(Checkpoint {
                    execution_id: (*execution).into(),
                    cursor: json!({ "page": 3 }),
                    sweep_mark: None,
                    watermark: None,
                    results: ExecutionResults::default(),
                    sweep_started_at: None,
                })),
                ..TaskUpdate::default()
            },
        });
    }
    for (event, hours) in &case.events {
        ops.push(Op::MarkEvent {
            task_id: "hook".into(),
            event_id: (*event).into(),
            at: hours_ago(*hours),
        });
    }
    // Old state of other kinds, which no retention concerns.
    let mut shard = Shard {
        id: format!("{tenant}-s1"),
        tenant_id: tenant.into(),
        shard_type_id: "c_contact".into(),
        structured_data: serde_json::Map::new(),
        external_relationships: Vec::new(),
        created_at: hours_ago(1000 * DAY),
        updated_at: hours_ago(1000 * DAY),
        version: 1,
    };
    shard
        .structured_data
        .insert("email".into(), json!("a@x.io"));
    ops.push(Op::PutShard {
        shard,
        source: Some(SourceKey {
            integration: "salesforce".into(),
            external_type: "Contact".into(),
            shard_type: "c_contact".into(),
            external_id: "003A".into(),
        }),
        dedupe_key: Some(("c_contact".into(), "a@x.io".into())),
        expect: Expect::default(),
    });
    ops.push(Op::PutPending(PendingReference {
        tenant_id: tenant.into(),
        source_shard_id: format!("{tenant}-s1"),
        target_field: "accountId".into(),
        relationship_type: "belongs_to".into(),
        integration_id: "salesforce".into(),
        shard_type_id: "c_account".into(),
        external_id: "001Z".into(),
    }));
    ops.push(Op::UpdateTask {
        task_id: "quiet".into(),
        update: TaskUpdate {
            paused: Some(true),
            ..TaskUpdate::default()
        },
    });
    commit(store, tenant, ops);
    store
        .put_connection(&ConnectionRecord {
            id: "sf".into(),
            integration_id: "salesforce".into(),
            scope: ConnectionScope::Tenant,
            tenant_id: Some(tenant.into()),
            auth_type: "oauth2".into(),
            credentials: EncryptedCredentials {
                encrypted_data: "AAAA".into(),
                key_id: "k".into(),
                algorithm: "chacha20poly1305".into(),
            },
            oauth: None,
            status: ConnectionStatus::Active,
            last_validated_at: None,
            display_name: None,
            created_by: "test".into(),
            created_at: hours_ago(1000 * DAY),
            updated_at: hours_ago(1000 * DAY),
        })
        .unwrap();
}

#[test]
fn pruning_removes_exactly_what_the_retention_says() {
    for case in cases() {
        // Two tenants with the same state: each is pruned alike, neither through the
        // other. Calls of 1 and 3 records stop inside executions, their logs and their
        // dead letters; 1000 does a pass in one call.
        for limit in [1, 3, 1000] {
            let (_dir, store) = open();
            for tenant in ["acme", "globex"] {
                write_case(&store, tenant, &case);
            }
            let before = contents(&store);
            let untouched = untouchable(&store);
            let (a, b, c, d) = case.retention;
            let (pruned, _) = prune_all(&store, retention(a, b, c, d), limit);
            let name = format!("{} (calls of {limit})", case.name);

            let mut want = BTreeMap::new();
            for tenant in ["acme", "globex"] {
                for (id, logs, dead) in &case.kept {
                    want.insert(format!("{tenant}/{id}"), (*logs, *dead));
                }
            }
            assert_eq!(contents(&store), want, "{name}");
            let kept_events: BTreeSet<String> =
                case.kept_events.iter().map(|e| e.to_string()).collect();
            assert_eq!(event_ids(&store), kept_events, "{name}");
            assert_eq!(dangling(&store), Vec::<String>::new(), "{name}");
            assert_eq!(untouchable(&store), untouched, "{name}");

            // The counts say what went.
            let gone = |f: fn(&(usize, usize)) -> usize, m: &BTreeMap<String, (usize, usize)>| {
                m.values().map(f).sum::<usize>() as u64
            };
            let after = contents(&store);
            assert_eq!(
                pruned.executions,
                (before.len() - after.len()) as u64,
                "{name}"
            );
            assert_eq!(
                pruned.logs,
                gone(|c| c.0, &before) - gone(|c| c.0, &after),
                "{name}"
            );
            assert_eq!(
                pruned.dead_letters,
                gone(|c| c.1, &before) - gone(|c| c.1, &after),
                "{name}"
            );
            assert_eq!(
                pruned.event_ids,
                2 * (case.events.len() - case.kept_events.len()) as u64,
                "{name}"
            );

            // A second pass finds nothing more.
            let (again, calls) = prune_all(&store, retention(a, b, c, d), limit);
            assert_eq!(again.total(), 0, "{name}: {again:?}");
            assert!(calls >= 1);
        }
    }
}

#[test]
fn a_call_removes_at_most_its_limit_and_a_pass_resumes_where_it_stopped() {
    let (_dir, store) = open();
    let mut ops = Vec::new();
    for i in 0..50 {
        ops.push(Op::PutExecution(execution(
            "acme",
            &format!("e{i:02}"),
            "t",
            hours_ago(100 * DAY + i),
        )));
        ops.push(Op::PutLog(log_line(&format!("e{i:02}"), 0)));
    }
    commit(&store, "acme", ops);
    let policy = Retention::default();
    let first = store
        .prune(&PruneRequest {
            retention: policy,
            now: now(),
            limit: 10,
            after: None,
        })
        .unwrap();
    // 10 records: 5 executions, each with its log line.
    assert_eq!((first.executions, first.logs), (5, 5));
    assert!(first.next.is_some());
    assert_eq!(all_ids(&store).len(), 45);
    let (rest, calls) = prune_all(&store, policy, 10);
    assert_eq!((rest.executions, rest.logs), (45, 45));
    assert_eq!(
        calls, 9,
        "90 records, 10 a call, the last call ends the pass"
    );
    assert!(all_ids(&store).is_empty());
    assert_eq!(dangling(&store), Vec::<String>::new());
}

fn all_ids(store: &SledStore) -> Vec<String> {
    super::tests::all_executions(store, "acme", None)
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect()
}

#[test]
fn events_stored_before_the_time_index_are_indexed_at_open_and_pruned() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        // Registers the tenant.
        commit(
            &store,
            "acme",
            vec![Op::PutExecution(execution("acme", "e", "t", now()))],
        );
        // As an older cmap wrote them: the event key alone.
        for (event, hours) in [("old", 1000), ("new", 1)] {
            let k = key(&[b"acme", EVENT, b"hook", event.as_bytes()]);
            store
                .state
                .raw()
                .insert(k, encode(&hours_ago(hours)).unwrap())
                .unwrap();
        }
        store.db.remove(key(&[MIGRATED, EVENT_BY_TIME])).unwrap();
        store.db.flush().unwrap();
    }
    let store = reopen(dir.path());
    assert_eq!(dangling(&store), Vec::<String>::new());
    let (pruned, _) = prune_all(&store, Retention::default(), 1000);
    assert_eq!(pruned.event_ids, 1);
    assert_eq!(event_ids(&store), BTreeSet::from(["new".to_string()]));
    assert!(store.event_seen("acme", "hook", "new").unwrap());
    assert!(!store.event_seen("acme", "hook", "old").unwrap());
}

#[test]
fn an_event_marked_again_keeps_one_time_entry() {
    let (_dir, store) = open();
    for hours in [500, 2] {
        commit(
            &store,
            "acme",
            vec![Op::MarkEvent {
                task_id: "hook".into(),
                event_id: "evt".into(),
                at: hours_ago(hours),
            }],
        );
    }
    assert_eq!(dangling(&store), Vec::<String>::new());
    let (pruned, _) = prune_all(&store, Retention::default(), 1000);
    assert_eq!(pruned.event_ids, 0, "the newer mark is 2 hours old");
    assert!(store.event_seen("acme", "hook", "evt").unwrap());
}

// ---------------------------------------------------------------------------------
// Paging

fn page_ids(page: &Page<SyncExecution, ExecutionCursor>) -> Vec<&str> {
    page.items.iter().map(|e| e.id.as_str()).collect()
}

fn request(limit: usize, after: Option<ExecutionCursor>) -> PageRequest<ExecutionCursor> {
    PageRequest {
        limit: Limit::new(limit).unwrap(),
        after,
    }
}

#[test]
fn pages_of_executions_make_the_whole_list_newest_first() {
    let (_dir, store) = open();
    let mut ops = Vec::new();
    // Ten executions over two tasks, three of them started at the same microsecond
    // (ordered by id, descending).
    for (id, task, hours) in [
        ("e0", "a", 10),
        ("e1", "b", 9),
        ("e2", "a", 8),
        ("e3", "a", 7),
        ("e4", "b", 7),
        ("e5", "a", 7),
        ("e6", "b", 4),
        ("e7", "a", 3),
        ("e8", "b", 2),
        ("e9", "a", 1),
    ] {
        ops.push(Op::PutExecution(execution(
            "acme",
            id,
            task,
            hours_ago(hours),
        )));
    }
    commit(&store, "acme", ops);
    let whole = |task: Option<&str>| -> Vec<String> {
        let want = ["e9", "e8", "e7", "e6", "e5", "e4", "e3", "e2", "e1", "e0"];
        want.iter()
            .filter(|id| match task {
                None => true,
                Some("a") => ["e0", "e2", "e3", "e5", "e7", "e9"].contains(id),
                Some(_) => ["e1", "e4", "e6", "e8"].contains(id),
            })
            .map(|s| s.to_string())
            .collect()
    };
    for task in [None, Some("a"), Some("b")] {
        for limit in [1, 2, 3, 7, 10, 11, 1000] {
            let mut got = Vec::new();
            let mut after = None;
            let mut pages = 0;
            loop {
                let page = store
                    .executions("acme", task, &request(limit, after))
                    .unwrap();
                assert!(page.items.len() <= limit);
                pages += 1;
                got.extend(page_ids(&page).into_iter().map(str::to_owned));
                match page.next {
                    Some(next) => {
                        // A cursor goes through its text form, as users pass it.
                        after = Some(ExecutionCursor::decode(&next.encode()).unwrap());
                    }
                    None => break,
                }
            }
            assert_eq!(got, whole(task), "{task:?} by {limit}");
            // The last page says it is the last: no empty page after a full one.
            assert_eq!(
                pages,
                whole(task).len().div_ceil(limit).max(1),
                "{task:?} by {limit}"
            );
        }
    }
    let none = store
        .executions("acme", Some("c"), &request(5, None))
        .unwrap();
    assert_eq!((none.items.len(), none.next), (0, None));
}

#[test]
fn a_cursor_is_a_position_stable_under_inserts_and_removals() {
    let (_dir, store) = open();
    let ops = (0..6)
        .map(|i| Op::PutExecution(execution("acme", &format!("e{i}"), "t", hours_ago(10 - i))))
        .collect();
    commit(&store, "acme", ops);
    let first = store.executions("acme", None, &request(2, None)).unwrap();
    assert_eq!(page_ids(&first), ["e5", "e4"]);
    // Before the next page is read, a newer execution starts, an older one is written
    // late, and pruning (7 per task) removes the oldest of them all.
    commit(
        &store,
        "acme",
        vec![
            Op::PutExecution(execution("acme", "new", "t", hours_ago(0))),
            Op::PutExecution(execution("acme", "late", "t", hours_ago(100))),
        ],
    );
    let (removed, _) = prune_all(&store, retention(90, 7, 30, 168), 1000);
    assert_eq!(removed.executions, 1, "the 8th newest, `late`");
    let mut rest = Vec::new();
    let mut after = first.next;
    while let Some(cursor) = after {
        let page = store
            .executions("acme", None, &request(2, Some(cursor)))
            .unwrap();
        rest.extend(page_ids(&page).into_iter().map(str::to_owned));
        after = page.next;
    }
    // Nothing seen twice, nothing skipped; `new` is newer than the cursor (it is on the
    // first page of a new listing).
    assert_eq!(rest, ["e3", "e2", "e1", "e0"]);

    // A cursor where no execution is (one pruned since) still places the next page.
    let gone = ExecutionCursor::at(&execution("acme", "e3z", "t", hours_ago(6)));
    let page = store
        .executions("acme", None, &request(10, Some(gone)))
        .unwrap();
    assert_eq!(page_ids(&page), ["e3", "e2", "e1", "e0"]);
}

#[test]
fn logs_and_dead_letters_page_in_order() {
    let (_dir, store) = open();
    let mut ops: Vec<Op> = (0..7).map(|n| Op::PutLog(log_line("e-1", n))).collect();
    ops.push(Op::PutLog(log_line("e-10", 0)));
    for seq in [300, 2, 256, 7] {
        ops.push(Op::PutDeadLetter(dead_letter("acme", "t", "e-1", seq)));
    }
    commit(&store, "acme", ops);
    let mut lines = Vec::new();
    let mut page = PageRequest {
        limit: Limit::new(3).unwrap(),
        after: None,
    };
    let mut pages = 0;
    loop {
        let read = store.logs("acme", "e-1", &page).unwrap();
        pages += 1;
        lines.extend(read.items.into_iter().map(|l| l.message));
        match read.next {
            Some(next) => page.after = Some(LogCursor::decode(&next.encode()).unwrap()),
            None => break,
        }
    }
    let want: Vec<String> = (0..7).map(|n| format!("line {n}")).collect();
    assert_eq!((lines, pages), (want, 3));

    let first = store
        .dead_letters("acme", "e-1", &PageRequest::first(Limit::new(2).unwrap()))
        .unwrap();
    let seqs: Vec<u64> = first.items.iter().map(|d| d.seq).collect();
    assert_eq!(seqs, [2, 7]);
    let rest = store
        .dead_letters(
            "acme",
            "e-1",
            &PageRequest {
                limit: Limit::new(2).unwrap(),
                after: first.next,
            },
        )
        .unwrap();
    let seqs: Vec<u64> = rest.items.iter().map(|d| d.seq).collect();
    assert_eq!((seqs, rest.next), (vec![256, 300], None));

    // After the largest sequence number there is nothing (no overflow).
    let end = store
        .logs(
            "acme",
            "e-1",
            &PageRequest {
                limit: Limit::DEFAULT,
                after: Some(LogCursor { seq: u64::MAX }),
            },
        )
        .unwrap();
    assert_eq!((end.items.len(), end.next), (0, None));
}

#[test]
fn a_page_reads_keys_in_proportion_to_its_limit_not_to_the_list() {
    let reads = |total: usize, task: Option<&str>, limit: usize, deep: bool| -> u64 {
        let (_dir, store) = open();
        let ops = (0..total)
            .map(|i| {
                let task = if i % 2 == 0 { "a" } else { "b" };
                Op::PutExecution(execution(
                    "acme",
                    &format!("e{i:06}"),
                    task,
                    hours_ago(i as i64),
                ))
            })
            .collect();
        commit(&store, "acme", ops);
        // A cursor in the middle of the list, or none.
        let after = deep.then(|| {
            let e = execution(
                "acme",
                &format!("e{:06}", total / 2),
                "a",
                hours_ago((total / 2) as i64),
            );
            ExecutionCursor::at(&e)
        });
        let before = store.keys_read();
        let page = store
            .executions("acme", task, &request(limit, after))
            .unwrap();
        assert_eq!(page.items.len(), limit);
        store.keys_read() - before
    };
    for (task, deep) in [
        (None, false),
        (Some("a"), false),
        (None, true),
        (Some("b"), true),
    ] {
        let small = reads(200, task, 10, deep);
        let large = reads(4000, task, 10, deep);
        // The page's index entries, one more to know a next page exists, and each
        // execution's record.
        assert_eq!(small, 2 * 10 + 1, "{task:?} deep {deep}");
        assert_eq!(large, small, "{task:?} deep {deep}");
    }
}
