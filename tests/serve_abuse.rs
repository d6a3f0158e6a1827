//! `cmap serve` (the real binary) under abuse: clients that hang up while it writes,
//! pipeline files that are only read, connections that never finish their request head,
//! and control characters meant to forge log lines.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use cmap::store::{Batch, Op, SledStore, Store, SyncExecution};
use serde_json::{json, Value};

const PIPELINE: &str = r#"
schema contacts {
  source salesforce.Contact
  target c_contact
  dedupe external_id(Id)
  name = LastName
}

task contact-events { schema contacts  schedule realtime token env("CMAP_TEST_WEBHOOK_TOKEN") }
"#;

/// A running `cmap serve`; killed when dropped (a failing test must not leave it).
struct Served {
    child: Child,
    addr: String,
    /// Where `/metrics` is served apart (`--metrics-listen`), from its log line.
    metrics_addr: Option<String>,
    /// A super admin's API token, sent by [`Served::request`] to `/api/` and `/metrics`
    /// unless the request brings its own `Authorization`.
    token: String,
    /// The server's log lines, as they come (read on a thread).
    log: mpsc::Receiver<String>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A workspace with `pipelines/p.cmap`.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("pipelines")).expect("mkdir");
    std::fs::write(dir.path().join("pipelines/p.cmap"), PIPELINE).expect("write");
    dir
}

/// Starts `cmap serve` in `dir` on 127.0.0.1:0 with `args` and waits for its address.
/// The data directory may still be locked by this process's store for a moment after
/// it was dropped (sled releases it from its flusher thread): a start that fails on it
/// is retried, bounded.
fn serve(dir: &Path, args: &[&str]) -> Served {
    let data = args
        .iter()
        .position(|a| *a == "--data")
        .and_then(|i| args.get(i + 1).copied());
    let token = crate::support::cli_admin_token(dir, data);
    for _ in 0..100 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cmap"))
            .current_dir(dir)
            .args(["--color", "never", "serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("CMAP_LOG")
            .env(
                crate::support::WEBHOOK_TOKEN_ENV,
                crate::support::WEBHOOK_TOKEN,
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cmap serve runs");
        let stderr: ChildStderr = child.stderr.take().expect("stderr");
        let (tx, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut served = Served {
            child,
            addr: String::new(),
            metrics_addr: None,
            token: token.clone(),
            log,
        };
        let metrics_line = std::cell::RefCell::new(None);
        let listening = served.wait_line(
            |l| {
                if l.contains("serving metrics") {
                    *metrics_line.borrow_mut() = Some(l.to_string());
                }
                l.contains("listening")
            },
            Duration::from_secs(20),
        );
        match listening {
            Some(line) => {
                served.addr = listening_addr(&line, "addr").expect("the address is logged");
                served.metrics_addr = metrics_line
                    .into_inner()
                    .and_then(|l| listening_addr(&l, "metrics_addr"));
                return served;
            }
            None => {
                // Exited before listening: the data directory was still locked.
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    panic!("cmap serve never started");
}

/// The address in field `field` of a log line, JSON or human.
fn listening_addr(line: &str, field: &str) -> Option<String> {
    if let Ok(v) = serde_json::from_str::<Value>(line) {
        return v["fields"][field].as_str().map(str::to_string);
    }
    let key = format!(" {field}=");
    let at = line.find(&key)? + key.len();
    Some(
        line[at..]
            .split_whitespace()
            .next()?
            .trim_end_matches(',')
            .to_string(),
    )
}

impl Served {
    /// The next log line satisfying `want`, within `limit`; `None` if the server ended.
    fn wait_line(&mut self, want: impl Fn(&str) -> bool, limit: Duration) -> Option<String> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if want(&line) => return Some(line),
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("no such log line within {limit:?}"),
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// A plain HTTP/1.1 request on a fresh connection; status and body.
    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        let bearer = format!("Bearer {}", self.token);
        let mut headers = headers.to_vec();
        let authorized = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
        if !authorized && (path.starts_with("/api/") || path == "/metrics") {
            headers.push(("Authorization", &bearer));
        }
        request_at(&self.addr, method, path, &headers, body)
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn stop(mut self) {
        // SAFETY: sending a signal to our own child process.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let status = self.child.wait().expect("exits");
        assert!(status.success(), "graceful shutdown exits 0: {status:?}");
    }
}

/// A plain HTTP/1.1 request to `addr` on a fresh connection; status and body.
fn request_at(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");

    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    // `Host` is the address reached unless the test sends its own.
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {}\r\n", addr));
    }
    head.push_str(&format!(
        "Connection: close\r\nContent-Length: {}\r\n",
        body.len()
    ));
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).expect("write");
    s.write_all(body.as_bytes()).expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Whether SIGPIPE is ignored in process `pid` (`SigIgn` of /proc/PID/status).
fn sigpipe_ignored(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .expect("SigIgn");
    mask & (1 << (libc::SIGPIPE - 1)) != 0
}

/// An execution whose JSON is about 2 MiB: far more than the socket buffers hold, so the
/// server is still writing it when the client hangs up.
fn big_execution() -> SyncExecution {
    let error = "x".repeat(64 * 1024);
    let errors: Vec<Value> = (0..32)
        .map(|_| json!({"timestamp": "2024-01-01T00:00:00Z", "phase": "transforming", "error": error, "recoverable": true}))
        .collect();
    serde_json::from_value(json!({
        "id": "big", "tenantId": "default", "syncTaskId": "contact-events",
        "tenantIntegrationId": "webhook", "startedAt": "2024-01-01T00:00:00Z",
        "completedAt": "2024-01-01T00:00:01Z", "durationMs": 1000, "triggeredBy": "webhook",
        "status": "failed",
        "progress": {"phase": "complete", "processedRecords": 0, "percentage": 100.0},
        "results": {"fetched": 0, "created": 0, "updated": 0, "skipped": 0, "failed": 0},
        "errors": errors, "retryCount": 0
    }))
    .expect("an execution")
}

#[test]
fn clients_that_hang_up_mid_response_never_kill_the_server() {
    let dir = workspace();
    {
        let store = SledStore::open(&dir.path().join("data")).expect("store");
        let mut batch = Batch::new("default");
        batch.push(Op::PutExecution(big_execution()));
        store.commit(batch).expect("commit");
    }
    let mut served = serve(dir.path(), &["--log-format", "json"]);
    // The process-wide fact: a write to a closed socket is an error, never a signal
    // (this holds for `cmap run`'s upstream sockets too: one `main` for every command).
    assert!(sigpipe_ignored(served.child.id()), "SIGPIPE is ignored");
    for _ in 0..10 {
        let mut s = TcpStream::connect(&served.addr).expect("connect");
        s.write_all(
            format!(
                "GET /api/executions/big HTTP/1.1\r\nHost: {}\r\n\r\n",
                served.addr
            )
            .as_bytes(),
        )
        .expect("write");
        // Read the start of the answer, then hang up with the rest unread: the kernel
        // resets the connection and the server's next write fails.
        let mut start = [0u8; 4096];
        let n = s.read(&mut start).expect("the answer starts");
        assert!(n > 0);
        drop(s);
    }
    let (status, body) = served.request("GET", "/healthz", &[], "");
    assert_eq!(status, 200, "{body}");
    assert!(served.alive(), "the server still runs");
    served.stop();
}

/// Control characters from outside (a webhook path with `%0A`, `%0D`, `%1B`, an event id
/// with a tab) are escaped in the human log: each event stays one line, and no terminal
/// escape reaches the reader.
#[test]
fn control_characters_never_forge_log_lines() {
    let dir = workspace();
    let mut served = serve(dir.path(), &[]);
    let path = "/webhooks/contact-events%0A2024-01-01T00:00:00Z%20INFO%20FORGED%0D%1B[31mred";
    let (status, body) = served.request(
        "POST",
        path,
        &[
            ("X-Cmap-Token", "wrong"),
            ("X-Cmap-Event-Id", "evt\tFORGED-EVENT"),
        ],
        "{}",
    );
    assert_eq!(status, 404, "{body}");
    let line = served
        .wait_line(
            |l| l.contains("webhook delivery refused"),
            Duration::from_secs(20),
        )
        .expect("the refusal is logged");
    for escaped in [
        "\\n2024-01-01T00:00:00Z INFO FORGED",
        "\\r",
        "\\u{1b}[31mred",
        "evt\\tFORGED-EVENT",
    ] {
        assert!(line.contains(escaped), "{escaped} in {line:?}");
    }
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(served.child.id() as libc::pid_t, libc::SIGTERM);
    }
    let mut rest = Vec::new();
    while let Ok(l) = served.log.recv_timeout(Duration::from_secs(20)) {
        rest.push(l);
    }
    for l in std::iter::once(&line).chain(&rest) {
        assert!(
            !l.contains('\u{1b}') && !l.contains('\r') && !l.contains('\t'),
            "{l:?}"
        );
        assert!(
            !l.starts_with("2024-01-01") && !l.contains(" FORGED-EVENT"),
            "{l:?}"
        );
    }
}

/// `server::run` in this process, over a fresh workspace, with `http` settings.
async fn serve_in_process(
    http: cmap::serve::http::Config,
) -> (
    tempfile::TempDir,
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), cmap::serve::server::ServeError>>,
) {
    crate::support::webhook_token_env();
    let dir = workspace();
    let store: std::sync::Arc<dyn Store> =
        std::sync::Arc::new(SledStore::open(&dir.path().join("data")).expect("store"));
    let engine = std::sync::Arc::new(cmap::engine::Engine::new(
        store,
        None,
        cmap::engine::Options::default(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let options = cmap::serve::server::Options {
        pipelines: dir.path().join("pipelines"),
        watch: false,
        http,
        ..cmap::serve::server::Options::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(cmap::serve::server::run(
        options,
        engine,
        listener,
        None,
        async {
            let _ = stopped.await;
        },
    ));
    (dir, addr, stop, done)
}

/// Reads until the server closes the connection (or `limit` passes: then false).
async fn closed_by_server(s: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

/// A GET on a fresh connection; the status, if answered within `limit`.
async fn get_status(addr: &str, path: &str, limit: Duration) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .ok()?;
        let mut text = Vec::new();
        s.read_to_end(&mut text).await.ok()?;
        String::from_utf8_lossy(&text)
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
    };
    tokio::time::timeout(limit, exchange).await.ok().flatten()
}

/// Half-open connections (half a request head, then silence) are closed after the
/// header-read timeout, at most `max_connections` are held at once, and `/healthz`
/// still answers while more than the cap are open; idle keep-alive connections and
/// bodies that stop arriving are bounded too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_are_bounded_and_closed() {
    use tokio::io::AsyncWriteExt;
    let http = cmap::serve::http::Config {
        header_read_timeout: Duration::from_millis(300),
        body_read_timeout: Duration::from_millis(300),
        max_connections: 4,
        ..cmap::serve::http::Config::default()
    };
    let (_dir, addr, stop, done) = serve_in_process(http).await;
    assert_eq!(
        get_status(&addr, "/healthz", Duration::from_secs(10)).await,
        Some(200)
    );

    // Three times the cap, each with half a request head.
    let mut half_open = Vec::new();
    for _ in 0..12 {
        let mut s = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        s.write_all(b"POST /webhooks/contact-events HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Cmap-To")
            .await
            .expect("write");
        half_open.push(s);
    }
    // Health still answers: the held ones time out, and the server takes the next.
    assert_eq!(
        get_status(&addr, "/healthz", Duration::from_secs(10)).await,
        Some(200),
        "healthz answers with more half-open connections than the cap"
    );
    for (i, s) in half_open.iter_mut().enumerate() {
        assert!(
            closed_by_server(s, Duration::from_secs(10)).await,
            "half-open connection {i} is closed"
        );
    }

    // An idle keep-alive connection (one answered request, then nothing) is closed.
    let mut idle = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .expect("write");
    assert!(
        closed_by_server(&mut idle, Duration::from_secs(10)).await,
        "idle keep-alive is closed"
    );

    // A body that stops arriving: 408, and the connection is let go.
    let mut slow = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    slow.write_all(
        b"POST /webhooks/contact-events HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Cmap-Token: t0k3n\r\nContent-Length: 100\r\n\r\n{\"Id\":",
    )
    .await
    .expect("write");
    let answer = {
        use tokio::io::AsyncReadExt;
        let mut text = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut text)).await;
        String::from_utf8_lossy(&text).into_owned()
    };
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    let _ = stop.send(());
    assert!(matches!(done.await, Ok(Ok(()))));
}

/// The number of threads of process `pid`.
fn threads(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("proc status")
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("Threads")
}

/// A burst larger than a task's queue: the excess is refused at once with 503 and
/// Retry-After (senders retry), nothing admitted is lost, and the server's threads stay
/// bounded (a delivery used to hold a blocking thread while it waited for its task).
/// The queue is filled deterministically by deliveries whose bodies have not arrived yet.
#[test]
fn a_burst_larger_than_the_queue_gets_503_and_loses_nothing() {
    let dir = workspace();
    let served = serve(
        dir.path(),
        &["--webhook-queue", "4", "--log-format", "json"],
    );
    let pid = served.child.id();
    let idle_threads = threads(pid);
    let body = |i: usize| format!("{{\"Id\":\"{i}\",\"LastName\":\"Name {i}\"}}");

    // Four deliveries admitted, their bodies held back: the queue is full.
    let mut stalled = Vec::new();
    for i in 0..4 {
        let mut s = TcpStream::connect(&served.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        write!(
            s,
            "POST /webhooks/contact-events HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Cmap-Token: t0k3n\r\nX-Cmap-Event-Id: held-{i}\r\nContent-Length: {}\r\n\r\n",
            body(i).len()
        )
        .expect("head");
        stalled.push((i, s));
    }
    let mut in_flight = String::new();
    for _ in 0..1000 {
        let (_, metrics) = served.request("GET", "/metrics", &[], "");
        in_flight = metrics
            .lines()
            .find(|l| l.starts_with("cmap_webhook_deliveries_in_flight "))
            .unwrap_or_default()
            .to_string();
        if in_flight.ends_with(" 4") {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(in_flight, "cmap_webhook_deliveries_in_flight 4");

    // The burst: 40 concurrent deliveries, every one refused with Retry-After.
    let burst: Vec<_> = (100..140)
        .map(|i| {
            let addr = served.addr.clone();
            let body = body(i);
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(&addr).expect("connect");
                s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
                write!(
                    s,
                    "POST /webhooks/contact-events HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Cmap-Token: t0k3n\r\nX-Cmap-Event-Id: burst-{i}\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .expect("request");
                let mut text = String::new();
                let _ = s.read_to_string(&mut text);
                text
            })
        })
        .collect();
    for answer in burst {
        let text = answer.join().expect("joined");
        assert!(text.starts_with("HTTP/1.1 503"), "{text}");
        assert!(
            text.to_ascii_lowercase().contains("\r\nretry-after: 1\r\n"),
            "{text}"
        );
    }
    let peak = threads(pid);
    assert!(
        peak <= idle_threads + 4,
        "threads stay bounded: {idle_threads} idle, {peak} after the burst"
    );

    // The held deliveries complete: each stored.
    for (i, mut s) in stalled {
        s.write_all(body(i).as_bytes()).expect("body");
        let mut text = String::new();
        s.read_to_string(&mut text).expect("answer");
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    }
    // The refused ones, retried as senders do: stored too.
    for i in 100..140 {
        let event = format!("burst-{i}");
        let (status, text) = served.request(
            "POST",
            "/webhooks/contact-events",
            &[("X-Cmap-Token", "t0k3n"), ("X-Cmap-Event-Id", &event)],
            &body(i),
        );
        assert_eq!(status, 200, "{text}");
    }
    let (_, list) = served.request("GET", "/api/executions?task=contact-events", &[], "");
    let list: Value = serde_json::from_str(&list).expect("json");
    assert_eq!(list["executions"].as_array().map(Vec::len), Some(44));
    served.stop();
}

/// A log reader that goes away (`cmap serve 2>&1 | head -1`, a log shipper that dies)
/// must not take the server with it: writes to the closed stderr fail with EPIPE and are
/// dropped. tracing-subscriber reports a failed write with `eprintln!` by default, which
/// panics on the same closed stderr: the server died with exit 101 at its next log line.
#[test]
fn a_closed_log_never_kills_the_server() {
    let dir = workspace();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cmap"))
        .current_dir(dir.path())
        .args(["--color", "never", "serve", "--listen", "127.0.0.1:0"])
        .env_remove("CMAP_LOG")
        .env(
            crate::support::WEBHOOK_TOKEN_ENV,
            crate::support::WEBHOOK_TOKEN,
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cmap serve runs");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("serve logs until it listens")
            .expect("a log line");
        if let Some(addr) = listening_addr(&line, "addr").filter(|_| line.contains("listening")) {
            break addr;
        }
    };
    // The reader hangs up, as `head -1` does.
    drop(lines);
    let mut served = Served {
        child,
        addr,
        metrics_addr: None,
        token: String::new(),
        log: mpsc::channel().1,
    };
    // Each delivery logs its execution; each refusal logs a warning.
    for i in 0..3 {
        let event = format!("after-close-{i}");
        let (status, body) = served.request(
            "POST",
            "/webhooks/contact-events",
            &[
                ("X-Cmap-Token", crate::support::WEBHOOK_TOKEN),
                ("X-Cmap-Event-Id", &event),
            ],
            &format!("{{\"Id\":\"{i}\",\"LastName\":\"Name {i}\"}}"),
        );
        assert_eq!(status, 200, "{body}");
        let (status, body) = served.request(
            "POST",
            "/webhooks/contact-events",
            &[("X-Cmap-Token", "wrong")],
            "{}",
        );
        assert_eq!(status, 401, "{body}");
    }
    let (status, body) = served.request("GET", "/healthz", &[], "");
    assert_eq!(status, 200, "{body}");
    assert!(served.alive(), "the server still runs");
    // Shutdown logs too, and still exits 0.
    served.stop();
}

/// Whether the server says task `contact-events` is paused.
fn paused(served: &Served) -> bool {
    let (status, body) = served.request("GET", "/api/pipelines", &[], "");
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    v.to_string().contains(r#""paused":true"#)
}

/// A page on another site cannot change state (a form POST with its `Origin`, or a
/// browser's `Sec-Fetch-Site`), a name rebound to the server (DNS rebinding) gets no
/// answer, and the same requests from a script, from the server's own origin, or at the
/// configured public name are served (docs/serve.md, "Origins").
#[test]
fn foreign_pages_cannot_change_state_and_rebound_names_get_no_answer() {
    let dir = workspace();
    let served = serve(dir.path(), &[]);
    let pause = "/api/tasks/contact-events/pause";
    let port = served.addr.rsplit(':').next().expect("port").to_string();
    let evil_host = format!("evil.example:{port}");

    for headers in [
        vec![("Origin", "https://evil.example")],
        vec![("Origin", "null")],
        vec![("Sec-Fetch-Site", "cross-site")],
    ] {
        let (status, body) = served.request("POST", pause, &headers, "");
        assert_eq!(status, 403, "{headers:?}: {body}");
        assert!(body.contains("another site"), "{body}");
        assert!(!paused(&served), "{headers:?} paused the task");
    }
    // DNS rebinding: the attacker's name, resolved to this server.
    for (method, path) in [
        ("GET", "/api/executions"),
        ("GET", "/healthz"),
        ("POST", pause),
    ] {
        let (status, body) = served.request(method, path, &[("Host", &evil_host)], "");
        assert_eq!(status, 421, "{method} {path}: {body}");
        assert!(body.contains("--public-url"), "{body}");
    }
    assert!(!paused(&served));
    // A script (no Origin) and the server's own origin are obeyed.
    let own = format!("http://{}", served.addr);
    let (status, body) = served.request("POST", pause, &[("Origin", &own)], "");
    assert_eq!(status, 200, "{body}");
    assert!(paused(&served));
    let (status, _) = served.request("POST", "/api/tasks/contact-events/resume", &[], "");
    assert_eq!(status, 200);
    assert!(!paused(&served));
    served.stop();

    // Behind a proxy: the public name is served, from its own pages too.
    let served = serve(dir.path(), &["--public-url", "https://cmap.example.com"]);
    let public = [
        ("Host", "cmap.example.com"),
        ("Origin", "https://cmap.example.com"),
    ];
    let (status, body) = served.request("POST", pause, &public, "");
    assert_eq!(status, 200, "{body}");
    let (status, _) = served.request("GET", "/healthz", &[("Host", &evil_host)], "");
    assert_eq!(status, 421);
    served.stop();

    // A public URL that cannot be one is a usage error naming the fix.
    let err = refused_start(
        dir.path(),
        &["--public-url", "https://cmap.example.com/api"],
    );
    assert!(err.contains("e.g. https://cmap.example.com"), "{err}");
}

/// With `--metrics-listen`, `/metrics` is served there and only there: the public
/// address answers 404 for it; without, it stays on the main address. An address that
/// cannot be bound is a usage error naming the flag.
#[test]
fn metrics_can_be_served_on_an_address_of_their_own() {
    let dir = workspace();
    let served = serve(dir.path(), &["--metrics-listen", "127.0.0.1:0"]);
    let (status, _) = served.request("GET", "/metrics", &[], "");
    assert_eq!(status, 404, "metrics left the main address");
    let (status, _) = served.request("GET", "/healthz", &[], "");
    assert_eq!(status, 200);
    let metrics_addr = served
        .metrics_addr
        .clone()
        .expect("the metrics address is logged");
    let (status, body) = request_at(&metrics_addr, "GET", "/metrics", &[], "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("cmap_executions_running"), "{body}");
    let (status, _) = request_at(&metrics_addr, "GET", "/api/executions", &[], "");
    assert_eq!(status, 404, "only metrics are served there");
    served.stop();

    // On the API's address, metrics are a super admin's (they name every tenant's tasks).
    let served = serve(dir.path(), &[]);
    let (status, body) = served.request("GET", "/metrics", &[], "");
    assert_eq!(status, 200, "{body}");
    let (status, _) = served.request("GET", "/metrics", &[("Authorization", "Bearer x")], "");
    assert_eq!(status, 401, "metrics on the API's address need a token");
    served.stop();

    // An address already taken cannot serve the metrics: a usage error naming it.
    let blocker = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken = blocker.local_addr().expect("addr").to_string();
    let err = refused_start(dir.path(), &["--metrics-listen", &taken]);
    assert!(
        err.contains("--metrics-listen") && err.contains(&taken),
        "{err}"
    );
}

/// `cmap serve` in `dir` on 127.0.0.1:0 with `args`, which it must refuse as a usage
/// error (exit 2) before serving; its stderr.
fn refused_start(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_cmap"))
        .current_dir(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{args:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}
