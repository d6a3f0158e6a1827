//! Bounded state, end to end: with 100,000 stored executions a page reads O(limit) keys
//! and the binary listing it uses no more memory than over 1,000; the HTTP API and the
//! CLI page with `limit` and an opaque `cursor` and refuse bad ones with the fix; `cmap
//! serve`, `cmap run` and `cmap prune` prune by the retention settings, which refuse a
//! zero.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use cmap::store::{
    Batch, ExecutionCursor, ExecutionResults, ExecutionStatus, Limit, LogLevel, Op, PageRequest,
    Phase, Progress, SledStore, Store, SyncExecution, SyncLog, TriggeredBy,
};
use serde_json::Value;

use crate::support::{cmap_in, Run};

const PIPELINE: &str = r#"
schema people {
  source salesforce.Contact
  target c_contact
  dedupe external_id(Id)
  email! = Email | lowercase validate email
  name = Name
}

connection people-file { integration files  auth none  settings { path: "people.jsonl" } }
task people { schema people  connection people-file }
"#;

/// A workspace: `pipelines/` with a task reading three records from a file.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let pipelines = dir.path().join("pipelines");
    std::fs::create_dir_all(&pipelines).expect("mkdir");
    std::fs::write(pipelines.join("people.cmap"), PIPELINE).expect("write");
    let mut lines = String::new();
    for i in 0..3 {
        lines.push_str(&format!(
            "{{\"Id\":\"p{i}\",\"Email\":\"p{i}@example.com\",\"Name\":\"P {i}\"}}\n"
        ));
    }
    std::fs::write(pipelines.join("people.jsonl"), lines).expect("write");
    dir
}

fn execution(id: &str, task: &str, started_at: DateTime<Utc>) -> SyncExecution {
    SyncExecution {
        id: id.into(),
        tenant_id: "default".into(),
        sync_task_id: task.into(),
        tenant_integration_id: "salesforce".into(),
        started_at,
        completed_at: Some(started_at),
        duration_ms: Some(1200),
        triggered_by: TriggeredBy::Schedule,
        triggered_by_user_id: None,
        status: ExecutionStatus::Success,
        progress: Progress {
            phase: Phase::Complete,
            total_records: Some(3),
            processed_records: 3,
            percentage: 100.0,
        },
        results: ExecutionResults {
            fetched: 3,
            skipped: 3,
            ..ExecutionResults::default()
        },
        errors: Vec::new(),
        retry_count: 0,
        retry_of: None,
    }
}

fn log_line(execution: &str, n: usize) -> SyncLog {
    SyncLog {
        id: format!("{execution}-{n}"),
        sync_execution_id: execution.into(),
        timestamp: Utc::now(),
        level: LogLevel::Info,
        message: format!("line {n}"),
        data: None,
    }
}

/// Commits `ops` in batches of at most `per_batch`.
fn commit_all(store: &dyn Store, ops: Vec<Op>, per_batch: usize) {
    let mut batch = Batch::new("default");
    for op in ops {
        batch.push(op);
        if batch.ops.len() == per_batch {
            store
                .commit(std::mem::replace(&mut batch, Batch::new("default")))
                .expect("commit");
        }
    }
    store.commit(batch).expect("commit");
}

/// `n` executions of tasks `a` and `b`, one minute apart, the newest a minute ago.
fn many(n: usize) -> Vec<Op> {
    let now = Utc::now();
    (0..n)
        .map(|i| {
            let task = if i % 2 == 0 { "a" } else { "b" };
            let started = now - TimeDelta::minutes(i as i64 + 1);
            Op::PutExecution(execution(&format!("e{i:06}"), task, started))
        })
        .collect()
}

/// Runs `cmap ARGS` in `dir`, waiting (bounded) while a store this test just closed
/// still holds the data directory (sled lets go of it a moment after the last handle).
fn cmap_when_free(dir: &Path, args: &[&str]) -> Run {
    for _ in 0..250 {
        let r = cmap_in(dir, args, None);
        if !r.stderr.contains("another cmap process is using") {
            return r;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the data directory stays locked");
}

/// The peak resident memory (KiB) of `cmap executions --limit 1000 --format json` over
/// the data directory in `dir`, once it has read its page; and the ids it printed.
///
/// Read from the process itself (`VmHWM` in /proc/PID/status) while it is still alive:
/// its first line comes only after the whole page is read, and it cannot exit before the
/// rest (far more than a pipe holds) is read. (`wait4`'s `ru_maxrss` would not do: a
/// process spawned from this large test process starts with its high-water mark.)
#[cfg(target_os = "linux")]
fn peak_rss_listing(dir: &Path) -> (u64, Vec<String>) {
    let args = [
        "executions",
        "--data",
        "data",
        "--limit",
        "1000",
        "--format",
        "json",
    ];
    for _ in 0..250 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cmap"))
            .current_dir(dir)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the cmap binary runs");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        out.read_line(&mut first).expect("stdout");
        if first.is_empty() {
            // It printed nothing: the store this test closed still held the directory.
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
            .expect("the listing is still running");
        let hwm = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .expect("VmHWM in /proc/PID/status");
        let mut rest = String::new();
        out.read_to_string(&mut rest).expect("stdout");
        assert!(child.wait().expect("exit").success());
        let ids = first
            .lines()
            .chain(rest.lines())
            .map(|l| {
                let e: Value = serde_json::from_str(l).expect("a SyncExecution per line");
                e["id"].as_str().unwrap_or_default().to_string()
            })
            .collect();
        return (hwm, ids);
    }
    panic!("the data directory stays locked");
}

#[test]
fn a_page_of_100k_executions_reads_o_limit_keys_and_memory_stays_flat() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    {
        let store = SledStore::open(&data).expect("store");
        commit_all(&store, many(100_000), 25_000);

        // Reads, counted at the store's trees: the page's 10 index entries, one more to
        // know a next page exists, the 10 records. The same deep in the list, by task,
        // and after a cursor taken from the middle.
        let middle = ExecutionCursor::at(&execution(
            "e050000",
            "a",
            Utc::now() - TimeDelta::minutes(50_001),
        ));
        for (task, after) in [
            (None, None),
            (Some("a"), None),
            (Some("b"), Some(middle.clone())),
            (None, Some(middle)),
        ] {
            let before = store.keys_read();
            let page = store
                .executions(
                    "default",
                    task,
                    &PageRequest {
                        limit: Limit::new(10).expect("limit"),
                        after,
                    },
                )
                .expect("page");
            assert_eq!(page.items.len(), 10);
            assert!(page.next.is_some());
            assert_eq!(store.keys_read() - before, 21, "{task:?}");
        }
    }

    // Memory: the binary listing one page (the largest, 1,000) of 100,000 executions,
    // against the same page of 1,000.
    #[cfg(target_os = "linux")]
    {
        let small = tempfile::tempdir().expect("temp dir");
        {
            let store = SledStore::open(&small.path().join("data")).expect("store");
            commit_all(&store, many(1_000), 1_000);
        }
        let (rss_small, ids_small) = peak_rss_listing(small.path());
        let (rss_large, ids_large) = peak_rss_listing(dir.path());
        assert_eq!(ids_small.len(), 1000);
        assert_eq!(ids_large, ids_small, "the newest 1,000 of each");
        // A hundred times the executions, the same page: what grows is sled opening a
        // larger database (its page table: `cmap logs` of a missing execution, which
        // lists nothing, peaks 61 MiB over the 1k store and 78 MiB over the 100k one on
        // the build machine), not the listing. Reading every execution, as the listing
        // did before pages, peaked at 215 MiB.
        assert!(
            rss_large < rss_small + 32 * 1024,
            "a page of 100k: {rss_large} KiB; of 1k: {rss_small} KiB"
        );
        eprintln!("peak RSS listing a page of 1,000: {rss_small} KiB; of 100,000: {rss_large} KiB");
    }
}

#[test]
fn the_cli_pages_with_limit_and_cursor_and_refuses_bad_ones() {
    let dir = workspace();
    {
        let store = SledStore::open(&dir.path().join("data")).expect("store");
        let mut ops = many(25);
        ops.extend((0..5).map(|n| Op::PutLog(log_line("e000003", n))));
        commit_all(&store, ops, 1000);
    }
    let ids = |r: &Run| -> Vec<String> {
        r.stdout
            .lines()
            .map(|l| {
                let e: Value = serde_json::from_str(l).expect("json line");
                e["id"].as_str().unwrap_or_default().to_string()
            })
            .collect()
    };
    let cursor = |r: &Run| -> Option<String> {
        r.stderr
            .lines()
            .find_map(|l| l.split("--cursor ").nth(1))
            .and_then(|rest| rest.split('`').next())
            .map(str::to_string)
    };
    let data = ["--data", "data", "--format", "json"];
    let list = |extra: &[&str]| {
        let mut args = vec!["executions"];
        args.extend(data);
        args.extend(extra);
        cmap_when_free(dir.path(), &args)
    };

    // Page after page, by cursor: all 25, newest first, each once; the last page says
    // nothing more.
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..10 {
        let r = match &next {
            None => list(&["--limit", "10"]),
            Some(c) => list(&["--limit", "10", "--cursor", c]),
        };
        r.code(0);
        seen.extend(ids(&r));
        next = cursor(&r);
        if next.is_none() {
            assert!(!r.stderr.contains("more:"), "{}", r.stderr);
            break;
        }
    }
    let want: Vec<String> = (0..25).map(|i| format!("e{i:06}")).collect();
    assert_eq!(seen, want);
    // --all: every page at once; with a task, only its executions.
    let all = list(&["--limit", "3", "--all"]);
    assert_eq!(ids(all.code(0)), want);
    let b = list(&["--limit", "4", "--all", "--task", "b"]);
    let want_b: Vec<String> = (0..25)
        .filter(|i| i % 2 == 1)
        .map(|i| format!("e{i:06}"))
        .collect();
    assert_eq!(ids(b.code(0)), want_b);
    // The default page is 100; the human table pages too.
    assert_eq!(ids(list(&[]).code(0)).len(), 25);
    let table = cmap_when_free(
        dir.path(),
        &["executions", "--data", "data", "--limit", "2"],
    );
    assert_eq!(table.code(0).stdout.lines().count(), 3, "{}", table.stdout);
    assert!(
        table
            .stderr
            .contains("more: `cmap executions ... --cursor "),
        "{}",
        table.stderr
    );

    // Logs page in order.
    let logs = |extra: &[&str]| {
        let mut args = vec!["logs", "e000003", "--data", "data"];
        args.extend(extra);
        cmap_when_free(dir.path(), &args)
    };
    let first = logs(&["--limit", "2"]);
    assert_eq!(first.code(0).stdout.lines().count(), 2);
    let c = cursor(&first).expect("a cursor for the rest");
    let rest = logs(&["--cursor", &c]);
    let lines: Vec<&str> = rest.code(0).stdout.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(
        lines[0].ends_with("line 2") && lines[2].ends_with("line 4"),
        "{lines:?}"
    );
    assert!(!rest.stderr.contains("more:"));

    // Bad pages: usage errors (exit 2) that say what to pass.
    let cases: &[(&[&str], &str)] = &[
        (&["--limit", "0"], "is not a whole number from 1 to 1000"),
        (&["--limit", "1001"], "is not a whole number from 1 to 1000"),
        (&["--limit", "ten"], "is not a whole number from 1 to 1000"),
        (
            &["--cursor", "garbage!"],
            "pass the cursor `cmap executions` printed",
        ),
        (
            &["--cursor", &c],
            "pass the cursor `cmap executions` printed",
        ),
    ];
    for (extra, says) in cases {
        let r = list(extra);
        r.code(2);
        assert!(r.stderr.contains(says), "{extra:?}: {}", r.stderr);
    }
    let r = logs(&["--cursor", "AAAA"]);
    r.code(2);
    assert!(
        r.stderr.contains("pass the cursor `cmap logs` printed"),
        "{}",
        r.stderr
    );
}

#[test]
fn prune_and_run_keep_what_the_retention_says_and_refuse_a_zero() {
    let dir = workspace();
    let now = Utc::now();
    {
        let store = SledStore::open(&dir.path().join("data")).expect("store");
        let mut ops = Vec::new();
        for (id, task, days) in [
            ("old-1", "people", 200),
            ("old-2", "people", 100),
            ("kept", "people", 10),
            ("other-old", "other", 120),
        ] {
            ops.push(Op::PutExecution(execution(
                id,
                task,
                now - TimeDelta::days(days),
            )));
            ops.push(Op::PutLog(log_line(id, 0)));
        }
        commit_all(&store, ops, 1000);
    }
    let listed = |dir: &Path| -> BTreeSet<String> {
        let r = cmap_when_free(
            dir,
            &["executions", "--data", "data", "--format", "json", "--all"],
        );
        r.code(0)
            .stdout
            .lines()
            .map(|l| {
                let e: Value = serde_json::from_str(l).expect("json line");
                e["id"].as_str().unwrap_or_default().to_string()
            })
            .collect()
    };

    // A zero or a negative is refused, by option and by environment, and removes nothing.
    for (args, env) in [
        (vec!["--keep-executions-days", "0"], None),
        (vec!["--keep-executions-per-task=-3"], None),
        (vec!["--keep-dead-letters-days", "0"], None),
        (vec!["--keep-event-ids-hours", "0"], None),
        (vec!["--keep-executions-days", "36501"], None),
        (vec![], Some(("CMAP_KEEP_EXECUTIONS_DAYS", "0"))),
        (vec![], Some(("CMAP_KEEP_EXECUTIONS_PER_TASK", "-1"))),
    ] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cmap"));
        cmd.current_dir(dir.path())
            .args(["prune", "--data", "data"])
            .args(&args);
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("cmap runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}: {stderr}");
        assert!(
            stderr.contains("would keep nothing") || stderr.contains("is more than"),
            "{args:?} {env:?}: {stderr}"
        );
    }
    assert_eq!(listed(dir.path()).len(), 4, "nothing was pruned");

    // `cmap prune` by age: 150 days keeps all but the 200-day-old one.
    let r = cmap_when_free(
        dir.path(),
        &[
            "prune",
            "--data",
            "data",
            "--keep-executions-days",
            "150",
            "--format",
            "json",
        ],
    );
    let counts: Value = serde_json::from_str(r.code(0).stdout.trim()).expect("json");
    assert_eq!(counts["executions"], 1, "{counts}");
    assert_eq!(counts["logs"], 1, "{counts}");
    let want: BTreeSet<String> = ["old-2", "kept", "other-old"].map(String::from).into();
    assert_eq!(listed(dir.path()), want);

    // `cmap run` prunes after the run, by the defaults (90 days) or its options.
    let r = cmap_when_free(
        dir.path(),
        &[
            "run",
            "people",
            "--data",
            "data",
            "--pipelines",
            "pipelines",
        ],
    );
    r.code(0);
    assert!(
        r.stderr.contains("pruned 2 executions (2 log lines)"),
        "{}",
        r.stderr
    );
    let left = listed(dir.path());
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.contains("kept"));
    let r = cmap_when_free(
        dir.path(),
        &[
            "run",
            "people",
            "--data",
            "data",
            "--pipelines",
            "pipelines",
            "--keep-executions-per-task",
            "1",
        ],
    );
    r.code(0);
    assert_eq!(listed(dir.path()).len(), 1, "only the newest run");
}

/// `cmap serve` on 127.0.0.1:0 over `dir`; its address once it listens.
struct Served {
    child: std::process::Child,
    base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cmap"))
        .current_dir(dir)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data",
            "data",
            "--pipelines",
            "pipelines",
            "--log-format",
            "json",
        ])
        .env("CMAP_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cmap serve starts");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut addr = None;
    for line in lines.by_ref().take(200) {
        let line = line.expect("log line");
        let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if v["fields"]["message"] == "listening" {
            addr = v["fields"]["addr"].as_str().map(str::to_string);
            break;
        }
    }
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let addr = addr.expect("the server logs the address it listens on");
    Served {
        child,
        base: format!("http://{addr}"),
    }
}

#[tokio::test]
async fn the_api_pages_and_refuses_bad_pages_and_serve_prunes_at_start() {
    let dir = workspace();
    let now = Utc::now();
    let token;
    {
        let store = SledStore::open(&dir.path().join("data")).expect("store");
        let mut ops = many(250);
        ops.push(Op::PutExecution(execution(
            "ancient",
            "a",
            now - TimeDelta::days(400),
        )));
        ops.extend((0..5).map(|n| Op::PutLog(log_line("e000007", n))));
        commit_all(&store, ops, 1000);
        token = crate::support::admin_token(&store);
    }
    let server = serve(dir.path());
    let client = crate::support::api_client(&token);
    let get = |path: String| {
        let client = client.clone();
        let url = format!("{}{path}", server.base);
        async move {
            let r = client.get(url).send().await.expect("answered");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };

    // The pass at start removes the 400-day-old execution (bounded wait).
    let mut pruned = false;
    for _ in 0..500 {
        if get("/api/executions/ancient".into()).await.0 == 404 {
            pruned = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(pruned, "serve prunes at start");

    // Default page: 100, newest first; the cursors walk the rest.
    let (status, first) = get("/api/executions".into()).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["executions"].as_array().map(Vec::len), Some(100));
    let mut seen: Vec<String> = Vec::new();
    let mut body = first;
    loop {
        for e in body["executions"].as_array().into_iter().flatten() {
            seen.push(e["id"].as_str().unwrap_or_default().to_string());
        }
        let Some(cursor) = body["nextCursor"].as_str().map(str::to_string) else {
            assert!(body["nextCursor"].is_null(), "{body}");
            break;
        };
        let (status, next) = get(format!("/api/executions?limit=100&cursor={cursor}")).await;
        assert_eq!(status, 200, "{next}");
        body = next;
    }
    let want: Vec<String> = (0..250).map(|i| format!("e{i:06}")).collect();
    assert_eq!(seen, want);

    // Filtered by task, paged.
    let (_, a) = get("/api/executions?task=a&limit=7".into()).await;
    let ids: Vec<&str> = a["executions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        ids,
        ["e000000", "e000002", "e000004", "e000006", "e000008", "e000010", "e000012"]
    );
    let c = a["nextCursor"].as_str().expect("more of task a");
    let (_, a2) = get(format!("/api/executions?task=a&limit=1&cursor={c}")).await;
    assert_eq!(a2["executions"][0]["id"], "e000014");

    // Logs, in order, paged.
    let (status, logs) = get("/api/executions/e000007/logs?limit=3".into()).await;
    assert_eq!(status, 200, "{logs}");
    assert_eq!(logs["logs"][0]["message"], "line 0");
    let lc = logs["nextCursor"].as_str().expect("more lines");
    let (_, rest) = get(format!("/api/executions/e000007/logs?cursor={lc}")).await;
    assert_eq!(rest["logs"].as_array().map(Vec::len), Some(2));
    assert_eq!(rest["logs"][1]["message"], "line 4");
    assert!(rest["nextCursor"].is_null());

    // Bad pages: 400, problem details (`detail`, `help`) naming the fix.
    let bad = [
        ("/api/executions?limit=0".to_string(), "from 1 to 1000"),
        ("/api/executions?limit=1001".to_string(), "from 1 to 1000"),
        ("/api/executions?limit=x".to_string(), "from 1 to 1000"),
        ("/api/executions?cursor=nope".to_string(), "nextCursor"),
        (format!("/api/executions?cursor={lc}"), "nextCursor"),
        (
            format!("/api/executions/e000007/logs?cursor={c}"),
            "nextCursor",
        ),
        (
            "/api/executions?limt=5".to_string(),
            "`task`, `status`, `limit` and `cursor`",
        ),
        (
            "/api/executions?limit=1&limit=2".to_string(),
            "each at most once",
        ),
        (
            "/api/executions/e000007/logs?task=a".to_string(),
            "`limit` and `cursor`",
        ),
    ];
    for (path, says) in bad {
        let (status, body) = get(path.clone()).await;
        assert_eq!(status, 400, "{path}: {body}");
        let text = format!("{} {}", body["detail"], body["help"]);
        assert!(text.contains(says), "{path}: {body}");
    }
}

/// The store's cache is set by option or environment; a size it cannot use is refused
/// (exit 2, naming the option) before the data directory is opened.
#[test]
fn the_store_cache_size_is_set_by_option_or_environment_and_checked() {
    let dir = workspace();
    // Refused first: the data directory is not even created.
    for (args, env, ok) in [
        (vec!["--cache-mb", "0"], None, false),
        (vec!["--cache-mb", "lots"], None, false),
        (vec![], Some(("CMAP_CACHE_MB", "0")), false),
        (vec!["--cache-mb", "1"], None, true),
        (vec![], Some(("CMAP_CACHE_MB", "256")), true),
    ] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cmap"));
        cmd.current_dir(dir.path())
            .args(["executions", "--data", "data"])
            .args(&args);
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("cmap runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if ok {
            assert_eq!(out.status.code(), Some(0), "{args:?} {env:?}: {stderr}");
        } else {
            assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}: {stderr}");
            assert!(stderr.contains("--cache-mb"), "{args:?} {env:?}: {stderr}");
            assert!(!dir.path().join("data").exists(), "{args:?} {env:?}");
        }
    }
}
