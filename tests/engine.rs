//! `cmap run` end to end: the demo pipelines, incremental re-runs, relationships,
//! deletes and the guard, dead letters and replay, encrypted credentials, and crash
//! safety under kill -9.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::{cmap_in, root, Run};

/// Runs `cmap ARGS --data DATA --pipelines PIPELINES` in `dir`.
fn run(dir: &Path, args: &[&str]) -> Run {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--data", "data", "--pipelines", "pipelines"]);
    cmap_in(dir, &all, None)
}

fn execution(r: &Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| {
        panic!(
            "run --format json prints the execution ({e}):\n{}\n{}",
            r.stdout, r.stderr
        )
    })
}

fn results(e: &Value) -> (u64, u64, u64, u64, u64) {
    let r = &e["results"];
    let n = |k: &str| r[k].as_u64().unwrap_or(u64::MAX);
    let t = (
        n("fetched"),
        n("created"),
        n("updated"),
        n("skipped"),
        n("failed"),
    );
    assert_eq!(t.0, t.1 + t.2 + t.3 + t.4, "counts reconcile: {r}");
    t
}

/// Stored shards, by external id.
fn shards(dir: &Path) -> BTreeMap<String, Value> {
    let r = run(dir, &["shards"]);
    r.code(0);
    let mut by_id = BTreeMap::new();
    for line in r.stdout.lines() {
        let s: Value = serde_json::from_str(line).expect("a shard per line");
        let ext = s["externalRelationships"][0]["externalId"]
            .as_str()
            .expect("external id")
            .to_string();
        assert!(
            by_id.insert(ext.clone(), s).is_none(),
            "duplicate shard for {ext}"
        );
    }
    by_id
}

/// A workspace: `pipelines/` with the given files.
fn workspace(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        let path = dir.path().join("pipelines").join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    dir
}

/// The shipped demo in a fresh workspace.
fn demo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let pipelines = dir.path().join("pipelines");
    copy_dir(&root().join("pipelines/demo"), &pipelines.join("demo"));
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).expect("copy");
        }
    }
}

#[test]
fn the_demo_syncs_offline_and_a_rerun_writes_nothing() {
    let dir = demo();
    let companies = run(dir.path(), &["run", "demo-companies", "--format", "json"]);
    companies.code(0);
    assert_eq!(results(&execution(&companies)), (20, 20, 0, 0, 0));
    let contacts = run(dir.path(), &["run", "demo-contacts", "--format", "json"]);
    contacts.code(0);
    assert_eq!(results(&execution(&contacts)), (150, 150, 0, 0, 0));

    let stored = shards(dir.path());
    assert_eq!(stored.len(), 170);
    let company_ids: BTreeMap<String, String> = stored
        .iter()
        .filter(|(_, s)| s["shardTypeId"] == "c_company")
        .map(|(ext, s)| {
            (
                ext.clone(),
                s["id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    // Every contact whose account exists points at its company's shard id.
    let source: Vec<Value> =
        std::fs::read_to_string(root().join("pipelines/demo/data/contacts.jsonl"))
            .expect("demo data")
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
    let mut linked = 0;
    for c in &source {
        let shard = &stored[c["Id"].as_str().expect("id")];
        match company_ids.get(c["AccountId"].as_str().expect("account")) {
            Some(id) => {
                assert_eq!(
                    shard["structuredData"]["companyId"],
                    Value::String(id.clone())
                );
                linked += 1;
            }
            None => assert!(
                shard["structuredData"].get("companyId").is_none(),
                "a missing company leaves the reference pending"
            ),
        }
    }
    assert!(linked > 100, "{linked}");

    // Nothing changed: nothing is written.
    let again = run(dir.path(), &["run", "demo-contacts", "--format", "json"]);
    again.code(0);
    assert_eq!(results(&execution(&again)), (150, 0, 0, 150, 0));
    let after = shards(dir.path());
    assert_eq!(
        after, stored,
        "an unchanged re-run must not touch any shard"
    );
}

#[test]
fn references_wait_for_their_target_and_resolve_when_it_arrives() {
    let dir = demo();
    run(dir.path(), &["run", "demo-contacts"]).code(0);
    let before = shards(dir.path());
    assert!(before
        .values()
        .all(|s| s["structuredData"].get("companyId").is_none()));
    run(dir.path(), &["run", "demo-companies"]).code(0);
    let after = shards(dir.path());
    let resolved = after
        .values()
        .filter(|s| s["shardTypeId"] == "c_contact" && s["structuredData"]["companyId"].is_string())
        .count();
    assert!(resolved > 100, "pending references resolved: {resolved}");
    let versions: Vec<u64> = after
        .values()
        .filter(|s| s["structuredData"]["companyId"].is_string())
        .map(|s| s["version"].as_u64().unwrap_or(0))
        .collect();
    assert!(
        versions.iter().all(|&v| v == 2),
        "a resolved reference is one update: {versions:?}"
    );
}

const FILES_PIPELINE: &str = r#"
connection people-file { integration files  auth none  settings { path: "people.jsonl" } }

schema people {
  source salesforce.Contact
  target c_contact { create_if_missing, update_if_exists, delete_if_removed }
  dedupe external_id(Id)
  name = LastName
  email! = Email
}

task people-sync { schema people  connection people-file }
"#;

fn people(n: usize, skip: impl Fn(usize) -> bool) -> String {
    (0..n).filter(|i| !skip(*i)).map(|i| format!("{{\"Id\":\"p{i:05}\",\"LastName\":\"Person {i}\",\"Email\":\"p{i}@example.com\"}}\n")).collect()
}

#[test]
fn a_full_sync_sweeps_removed_records_and_the_guard_refuses_mass_deletes() {
    let dir = workspace(&[
        ("people.cmap", FILES_PIPELINE),
        ("people.jsonl", &people(100, |_| false)),
    ]);
    run(dir.path(), &["run", "people-sync"]).code(0);
    assert_eq!(shards(dir.path()).len(), 100);

    // 10 records gone: swept.
    std::fs::write(
        dir.path().join("pipelines/people.jsonl"),
        people(100, |i| i % 10 == 0),
    )
    .expect("write");
    let r = run(dir.path(), &["run", "people-sync", "--format", "json"]);
    r.code(0);
    assert_eq!(shards(dir.path()).len(), 90);
    // Deletions are counted (cmap's addition to the spec's results), apart from the
    // records fetched.
    let e = execution(&r);
    assert_eq!(results(&e), (90, 0, 0, 90, 0));
    assert_eq!(e["results"]["deleted"], 10, "{}", e["results"]);
    let id = e["id"].as_str().expect("id");
    let logs = run(dir.path(), &["logs", id]);
    assert!(
        logs.stdout.contains(
            "execution success: fetched 90, created 0, updated 0, skipped 90, failed 0, deleted 10"
        ),
        "{}",
        logs.stdout
    );
    let table = run(dir.path(), &["executions", "--task", "people-sync"]);
    let header = table.stdout.lines().next().unwrap_or_default().to_string();
    assert!(header.trim_end().ends_with("FAILED  DELETED"), "{header}");
    let row = table
        .stdout
        .lines()
        .find(|l| l.starts_with(id))
        .unwrap_or_default()
        .to_string();
    assert!(row.trim_end().ends_with(" 0       10"), "{row}");

    // 80% gone: the guard refuses and says so; nothing is deleted.
    std::fs::write(
        dir.path().join("pipelines/people.jsonl"),
        people(100, |i| i % 10 != 1 && i % 10 != 2),
    )
    .expect("write");
    let r = run(dir.path(), &["run", "people-sync", "--format", "json"]);
    r.code(3);
    let e = execution(&r);
    assert_eq!(e["status"], "partial");
    let errors = e["errors"].to_string();
    assert!(errors.contains("refused to delete"), "{errors}");
    assert_eq!(shards(dir.path()).len(), 90);

    // The task raises its own guard: the deliberate mass delete goes through.
    let raised = FILES_PIPELINE.replace(
        "task people-sync { schema people  connection people-file }",
        "task people-sync { schema people  connection people-file  config { deleteGuard: 0.9 } }",
    );
    std::fs::write(dir.path().join("pipelines/people.cmap"), raised).expect("write");
    let r = run(dir.path(), &["run", "people-sync"]);
    r.code(0);
    assert_eq!(shards(dir.path()).len(), 20);
    assert!(
        r.stderr
            .contains("skipped 20, failed 0, deleted 70 (execution"),
        "{}",
        r.stderr
    );
}

#[test]
fn failed_records_are_dead_lettered_and_replayed_after_a_fix() {
    let data = people(20, |_| false)
        .replace("\"Email\":\"p3@example.com\"", "\"Email\":null")
        .replace("\"Email\":\"p7@example.com\"", "\"Email\":\"\"");
    let dir = workspace(&[("people.cmap", FILES_PIPELINE), ("people.jsonl", &data)]);
    let r = run(dir.path(), &["run", "people-sync", "--format", "json"]);
    r.code(3);
    let e = execution(&r);
    assert_eq!(results(&e), (20, 18, 0, 0, 2));
    let id = e["id"].as_str().expect("id").to_string();
    let errors = e["errors"].to_string();
    assert!(
        errors.contains("p00003") && errors.contains("required"),
        "{errors}"
    );

    // The fix: email is no longer required.
    std::fs::write(
        dir.path().join("pipelines/people.cmap"),
        FILES_PIPELINE.replace("email! = Email", "email = Email"),
    )
    .expect("write");
    let replay = run(dir.path(), &["replay", &id, "--format", "json"]);
    replay.code(0);
    let re = execution(&replay);
    assert_eq!(results(&re), (2, 2, 0, 0, 0));
    assert_eq!(re["retryOf"], Value::String(id.clone()));
    assert_eq!(re["triggeredBy"], "retry");
    assert_eq!(shards(dir.path()).len(), 20);
    // Replayed records leave the dead-letter store: a second replay has nothing to do.
    let second = run(dir.path(), &["replay", &id, "--format", "json"]);
    second.code(0);
    assert_eq!(results(&execution(&second)), (0, 0, 0, 0, 0));

    // Logs and executions are there to read.
    let logs = run(dir.path(), &["logs", &id]);
    logs.code(0);
    assert!(logs.stdout.contains("execution started"), "{}", logs.stdout);
    let list = run(
        dir.path(),
        &["executions", "--task", "people-sync", "--format", "json"],
    );
    list.code(0);
    assert_eq!(list.stdout.lines().count(), 3);
}

#[test]
fn kill_9_at_random_points_then_rerun_gives_exactly_the_same_shards() {
    const N: usize = 6000;
    let files = [
        ("people.cmap", FILES_PIPELINE),
        ("people.jsonl", &people(N, |_| false) as &str),
    ];
    let clean = workspace(&files);
    run(clean.path(), &["run", "people-sync", "--page-size", "100"]).code(0);
    let expected = shards(clean.path());
    assert_eq!(expected.len(), N);

    let dir = workspace(&files);
    let mut rng = fastrand::Rng::with_seed(42);
    let mut kills = 0;
    let mut completed = false;
    for _ in 0..12 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cmap"))
            .current_dir(dir.path())
            .args([
                "--color",
                "never",
                "run",
                "people-sync",
                "--page-size",
                "100",
                "--data",
                "data",
                "--pipelines",
                "pipelines",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cmap runs");
        let stderr = child.stderr.take().expect("stderr");
        let kill_after = rng.usize(1..25);
        let mut pages = 0;
        let mut killed = false;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.starts_with("page ") {
                pages += 1;
                if pages == kill_after {
                    // SIGKILL: no chance to clean up, mid-way through the next page.
                    child.kill().expect("kill -9");
                    killed = true;
                    break;
                }
            }
        }
        let status = child.wait().expect("wait");
        if killed {
            kills += 1;
        } else {
            assert!(status.success(), "a run to completion succeeds");
            completed = true;
            break;
        }
    }
    assert!(
        kills >= 3,
        "the test must actually interrupt runs ({kills})"
    );
    assert!(completed, "the last run completes");
    let got = shards(dir.path());
    assert_eq!(got.len(), N, "nothing lost, nothing duplicated");
    for (ext, shard) in &expected {
        assert_eq!(got[ext]["structuredData"], shard["structuredData"], "{ext}");
    }
    // The interrupted executions were marked failed, not left running.
    let list = run(dir.path(), &["executions", "--format", "json"]);
    let statuses: Vec<String> = list
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("json")["status"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert!(!statuses.iter().any(|s| s == "running"), "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| *s == "failed").count(), kills);
}

#[test]
fn an_unknown_task_is_a_usage_error_with_a_suggestion() {
    let dir = demo();
    let r = run(dir.path(), &["run", "demo-contact"]);
    r.code(2);
    assert!(
        r.stderr.contains("did you mean `demo-contacts`"),
        "{}",
        r.stderr
    );
}

/// Runs `cmap ARGS --data data --pipelines pipelines` in `dir` under umask 022 (what a
/// shell gives), whatever this test process's own umask is.
#[cfg(unix)]
fn run_with_umask_022(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new("sh")
        .current_dir(dir)
        .arg("-c")
        .arg(r#"umask 022 && exec "$0" --color never "$@" --data data --pipelines pipelines"#)
        .arg(env!("CARGO_BIN_EXE_cmap"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("sh runs cmap");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `(path relative to dir, mode)` of `dir` and everything below it.
#[cfg(unix)]
fn modes(dir: &Path) -> Vec<(String, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(p) = todo.pop() {
        let meta = std::fs::symlink_metadata(&p).expect("stat");
        let rel = p.strip_prefix(dir).expect("below").display().to_string();
        out.push((rel, meta.permissions().mode() & 0o777));
        if meta.is_dir() {
            todo.extend(
                std::fs::read_dir(&p)
                    .expect("read dir")
                    .map(|e| e.expect("entry").path()),
            );
        }
    }
    out.sort();
    out
}

#[cfg(unix)]
#[test]
fn the_data_directory_is_private_and_an_open_one_is_tightened() {
    let dir = workspace(&[
        ("people.cmap", FILES_PIPELINE),
        ("people.jsonl", &people(10, |_| false)),
    ]);
    let r = run_with_umask_022(dir.path(), &["run", "people-sync"]);
    r.code(0);
    let data = dir.path().join("data");
    let found = modes(&data);
    assert!(found.len() > 3, "the store's files: {found:?}");
    let loose: Vec<&(String, u32)> = found
        .iter()
        .filter(|(p, mode)| {
            let dir = data.join(p).is_dir();
            *mode != if dir { 0o700 } else { 0o600 }
        })
        .collect();
    assert_eq!(loose, Vec::<&(String, u32)>::new(), "all of {found:?}");
    assert!(
        !r.stderr.contains("readable by other users"),
        "{}",
        r.stderr
    );

    // A data directory made by an older version (or by hand) that others can read.
    use std::os::unix::fs::PermissionsExt;
    for (p, mode) in &found {
        let loosened = if *mode == 0o700 { 0o755 } else { 0o644 };
        std::fs::set_permissions(data.join(p), std::fs::Permissions::from_mode(loosened))
            .expect("chmod");
    }
    let r = run_with_umask_022(dir.path(), &["run", "people-sync"]);
    r.code(0);
    assert!(
        r.stderr
            .contains("readable by other users; made it and its files owner-only"),
        "{}",
        r.stderr
    );
    let after = modes(&data);
    assert!(
        after
            .iter()
            .all(|(p, mode)| *mode == if data.join(p).is_dir() { 0o700 } else { 0o600 }),
        "{after:?}"
    );
    // Said once: the next run finds it private.
    let r = run_with_umask_022(dir.path(), &["run", "people-sync"]);
    r.code(0);
    assert!(
        !r.stderr.contains("readable by other users"),
        "{}",
        r.stderr
    );
}
