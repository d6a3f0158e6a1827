//! Hot reload driven by the file watcher and by SIGHUP (tests/serve.rs drives it with
//! `POST /api/reload`): a saved file serves within a bound, unchanged files keep their
//! load time, and the real binary reloads on a save and on SIGHUP, then exits 0 on
//! SIGTERM. Also prints the save-to-serving latency.

use std::io::{BufRead, BufReader, Lines};
use std::path::Path;
use std::process::{ChildStderr, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cmap::engine::{Engine, Options as EngineOptions};
use cmap::serve::server::{self, Options};
use cmap::store::crypto::Keyring;
use cmap::store::{SledStore, Store};
use serde_json::{json, Value};

const SCHEMA: &str = r#"
schema contacts {
  source salesforce.Contact
  target c_contact
  dedupe external_id(Id)
  name = LastName
  source = "VERSION"
}

task contact-events { schema contacts  schedule realtime token env("CMAP_TEST_WEBHOOK_TOKEN") }
"#;

/// A second file the edits never touch.
const OTHER: &str = r#"
schema accounts {
  source salesforce.Account
  target c_company
  dedupe external_id(Id)
  name = Name
}
"#;

fn pipelines_dir(root: &Path, version: &str) {
    let dir = root.join("pipelines");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("p.cmap"), SCHEMA.replace("VERSION", version)).expect("write");
    std::fs::write(dir.join("other.cmap"), OTHER).expect("write");
}

async fn get_pipelines(client: &reqwest::Client, base: &str) -> Value {
    match client.get(format!("{base}/api/pipelines")).send().await {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

/// The status of the file named `name` in a `GET /api/pipelines` answer.
fn file<'a>(pipelines: &'a Value, name: &str) -> &'a Value {
    pipelines["files"]
        .as_array()
        .and_then(|files| {
            files
                .iter()
                .find(|f| f["path"].as_str().is_some_and(|p| p.ends_with(name)))
        })
        .unwrap_or(&Value::Null)
}

/// Polls on a tokio interval, at most `limit`, until the served generation reaches
/// `generation`; the answer that showed it.
async fn reach(client: &reqwest::Client, base: &str, generation: u64, limit: Duration) -> Value {
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    let start = Instant::now();
    while start.elapsed() < limit {
        tick.tick().await;
        let p = get_pipelines(client, base).await;
        if p["generation"].as_u64() >= Some(generation) {
            return p;
        }
    }
    panic!("generation {generation} not served within {limit:?}");
}

// The current-thread runtime matters: `run` registers the watcher before it first
// yields, so by the time HTTP answers, a save is seen.
#[tokio::test]
async fn a_save_is_seen_by_the_watcher_and_serves_while_unchanged_files_keep_their_load_time() {
    let root = tempfile::tempdir().expect("temp dir");
    pipelines_dir(root.path(), "v1");
    let store: Arc<dyn Store> =
        Arc::new(SledStore::open(&root.path().join("data")).expect("store"));
    let token = crate::support::admin_token(&*store);
    let keyring = Arc::new(Keyring::load(&root.path().join("data"), None).expect("keyring"));
    let engine = Arc::new(Engine::new(
        store.clone(),
        Some(keyring),
        EngineOptions::default(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let debounce = Duration::from_millis(100);
    let options = Options {
        pipelines: root.path().join("pipelines"),
        debounce,
        ..Options::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // The realtime task's token, read by the server when the pipelines load.
    crate::support::webhook_token_env();
    let done = tokio::spawn(server::run(options, engine, listener, None, async {
        let _ = stopped.await;
    }));
    let client = crate::support::api_client(&token);
    let first = reach(&client, &base, 1, Duration::from_secs(10)).await;
    let other_before = file(&first, "other.cmap").clone();
    let p_before = file(&first, "p.cmap").clone();
    assert!(other_before["hash"].is_string(), "{first}");

    let saved = Instant::now();
    std::fs::write(
        root.path().join("pipelines/p.cmap"),
        SCHEMA.replace("VERSION", "v2"),
    )
    .expect("write");
    let second = reach(&client, &base, 2, Duration::from_secs(10)).await;
    let latency = saved.elapsed();
    eprintln!("save to serving: {latency:?} (debounce {debounce:?})");
    // A generous bound for a loaded 2-core machine; the figure itself is printed.
    assert!(latency < debounce + Duration::from_secs(3), "{latency:?}");

    // Only the edited file changed.
    assert_eq!(file(&second, "other.cmap"), &other_before, "{second}");
    let p_after = file(&second, "p.cmap");
    assert_ne!(p_after["hash"], p_before["hash"]);
    assert_ne!(p_after["loadedAt"], p_before["loadedAt"]);

    // The new mapping serves.
    let status = client
        .post(format!("{base}/webhooks/contact-events"))
        .header("X-Cmap-Token", crate::support::webhook_token_env())
        .json(&json!({"Id": "w1", "LastName": "Lovelace"}))
        .send()
        .await
        .expect("answered")
        .status();
    assert_eq!(status, 200);
    let shard = store
        .shard_by_source("default", "salesforce", "Contact", "w1")
        .expect("store answers")
        .expect("stored");
    assert_eq!(shard.structured_data["source"], json!("v2"));

    let _ = stop.send(());
    assert!(
        matches!(done.await, Ok(Ok(()))),
        "graceful shutdown returns Ok"
    );
}

/// Reads JSON log lines until one satisfies `want`; that line.
fn wait_log(lines: &mut Lines<BufReader<ChildStderr>>, want: impl Fn(&Value) -> bool) -> Value {
    for line in lines.by_ref() {
        let Ok(line) = line else { break };
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if want(&v) {
            return v;
        }
    }
    panic!("the server ended before the expected log line");
}

fn reloaded(generation: u64) -> impl Fn(&Value) -> bool {
    move |v| {
        v["fields"]["message"] == "pipelines reloaded"
            && v["fields"]["generation"].as_u64() == Some(generation)
    }
}

#[test]
fn the_binary_reloads_on_a_save_and_on_sighup_and_exits_zero_on_sigterm() {
    let root = tempfile::tempdir().expect("temp dir");
    pipelines_dir(root.path(), "v1");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cmap"))
        .current_dir(root.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("cmap serve runs");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let listening = wait_log(&mut lines, |v| v["fields"]["message"] == "listening");
    assert!(listening["fields"]["addr"].is_string(), "{listening}");

    // A save, with the default 300 ms debounce.
    let saved = Instant::now();
    std::fs::write(
        root.path().join("pipelines/p.cmap"),
        SCHEMA.replace("VERSION", "v2"),
    )
    .expect("write");
    wait_log(&mut lines, reloaded(2));
    eprintln!(
        "binary: save to reloaded: {:?} (debounce 300ms)",
        saved.elapsed()
    );

    // SIGHUP right away: the handler is installed before "listening" is logged.
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGHUP);
    }
    let hup = wait_log(&mut lines, |v| {
        v["fields"]["message"] == "pipelines reloaded" && v["fields"]["reason"] == "SIGHUP"
    });
    assert!(hup["fields"]["generation"].as_u64() >= Some(3), "{hup}");

    // SAFETY: as above.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    // Drain the rest so the child never blocks on a full pipe.
    for _ in lines.by_ref() {}
    let status = child.wait().expect("exits");
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
}

// A folder moved out of the tree: the watcher names only the folder, and its pipelines
// must go. Current-thread runtime for the same reason as above.
#[tokio::test]
async fn a_folder_moved_away_unloads_its_pipelines() {
    let root = tempfile::tempdir().expect("temp dir");
    pipelines_dir(root.path(), "v1");
    let crm = root.path().join("pipelines/crm");
    std::fs::create_dir_all(&crm).expect("mkdir");
    std::fs::write(crm.join("extra.cmap"), OTHER.replace("accounts", "extra")).expect("write");
    let store: Arc<dyn Store> =
        Arc::new(SledStore::open(&root.path().join("data")).expect("store"));
    let token = crate::support::admin_token(&*store);
    let engine = Arc::new(Engine::new(
        store,
        Some(Arc::new(
            Keyring::load(&root.path().join("data"), None).expect("keyring"),
        )),
        EngineOptions::default(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let options = Options {
        pipelines: root.path().join("pipelines"),
        debounce: Duration::from_millis(50),
        ..Options::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // The realtime task's token, read by the server when the pipelines load.
    crate::support::webhook_token_env();
    let done = tokio::spawn(server::run(options, engine, listener, None, async {
        let _ = stopped.await;
    }));
    let client = crate::support::api_client(&token);
    let first = reach(&client, &base, 1, Duration::from_secs(10)).await;
    assert!(file(&first, "extra.cmap").is_object(), "{first}");

    std::fs::rename(&crm, root.path().join("crm-away")).expect("rename");
    let second = reach(&client, &base, 2, Duration::from_secs(10)).await;
    assert!(file(&second, "extra.cmap").is_null(), "{second}");
    assert!(file(&second, "p.cmap").is_object(), "{second}");

    let _ = stop.send(());
    assert!(matches!(done.await, Ok(Ok(()))));
}

/// Reads every file under `dir` (as `cat` would): opens, reads, closes.
fn read_all(dir: &Path) {
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            read_all(&p);
        } else {
            let _ = std::fs::read(&p).expect("read");
        }
    }
}

/// Waits (bounded) until the served generation has stayed the same for `quiet`, and
/// returns that answer: proving that nothing more happens needs a quiet period longer
/// than the watcher's debounce. A server that keeps reloading by itself never settles.
async fn settled(client: &reqwest::Client, base: &str, quiet: Duration) -> Value {
    let start = Instant::now();
    let mut last = get_pipelines(client, base).await;
    let mut since = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = get_pipelines(client, base).await;
        if now["generation"] != last["generation"] {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return now;
        }
    }
    panic!("the server never stopped reloading: {last}");
}

/// Only changes reload: reading the pipelines and the standard library (as `cat`, an
/// editor opening a file, or the reload itself does), `touch` and `chmod` do not; one save
/// is one reload, one `POST /api/reload` is one reload. The watched stdlib directory is a
/// copy, so reading it is seen.
#[tokio::test]
async fn reading_files_never_reloads_and_one_save_or_request_is_one_reload() {
    let root = tempfile::tempdir().expect("temp dir");
    pipelines_dir(root.path(), "v1");
    let stdlib = root.path().join("stdlib");
    std::fs::create_dir_all(&stdlib).expect("mkdir");
    for e in std::fs::read_dir(crate::support::root().join("stdlib"))
        .expect("stdlib")
        .flatten()
    {
        std::fs::copy(e.path(), stdlib.join(e.file_name())).expect("copy");
    }
    let store: Arc<dyn Store> =
        Arc::new(SledStore::open(&root.path().join("data")).expect("store"));
    let token = crate::support::admin_token(&*store);
    let engine = Arc::new(Engine::new(store, None, EngineOptions::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let debounce = Duration::from_millis(50);
    let options = Options {
        pipelines: root.path().join("pipelines"),
        stdlib: Some(stdlib.clone()),
        debounce,
        ..Options::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(server::run(options, engine, listener, None, async {
        let _ = stopped.await;
    }));
    let client = crate::support::api_client(&token);
    reach(&client, &base, 1, Duration::from_secs(10)).await;
    let quiet = debounce * 6;

    // Reads and metadata-only changes (`touch`, `chmod`): nothing reloads.
    let p_cmap = root.path().join("pipelines/p.cmap");
    for _ in 0..10 {
        read_all(&root.path().join("pipelines"));
        read_all(&stdlib);
    }
    // `touch` sets both times (an IN_ATTRIB); a write of the mtime alone is reported as
    // a modification by the kernel, like a write.
    let now = std::time::SystemTime::now();
    std::fs::File::open(&p_cmap)
        .expect("open")
        .set_times(
            std::fs::FileTimes::new()
                .set_accessed(now)
                .set_modified(now),
        )
        .expect("touch");
    let mut perms = std::fs::metadata(&p_cmap).expect("stat").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
    std::fs::set_permissions(&p_cmap, perms).expect("chmod");
    let now = settled(&client, &base, quiet).await;
    assert_eq!(now["generation"], 1, "reads reload nothing: {now}");

    // One save: one reload (whose own reads reload nothing).
    std::fs::write(&p_cmap, SCHEMA.replace("VERSION", "v2")).expect("save");
    reach(&client, &base, 2, Duration::from_secs(10)).await;
    let now = settled(&client, &base, quiet).await;
    assert_eq!(now["generation"], 2, "one save, one reload: {now}");

    // One request: one reload.
    let status = client
        .post(format!("{base}/api/reload"))
        .send()
        .await
        .expect("reload")
        .status();
    assert_eq!(status, 202);
    reach(&client, &base, 3, Duration::from_secs(10)).await;
    let now = settled(&client, &base, quiet).await;
    assert_eq!(now["generation"], 3, "one request, one reload: {now}");

    let _ = stop.send(());
    assert!(matches!(done.await, Ok(Ok(()))));
}
