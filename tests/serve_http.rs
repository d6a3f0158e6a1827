//! The HTTP API of `cmap serve`, served from `serve::http::router` on 127.0.0.1:0 over a
//! temporary sled store and a compiled pipeline: webhooks (verification, limits,
//! duplicates, schema failures), control endpoints, health and metrics.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use cmap::cli::load;
use cmap::cli::Global;
use cmap::diagnostics::render::Style;
use cmap::engine::{Engine, Options, DEFAULT_TENANT};
use cmap::serve::http::router;
use cmap::serve::metrics::Metrics;
use cmap::serve::runner::Runner;
use cmap::serve::state::{Event, Loaded, Shared};
use cmap::store::{SledStore, Store};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::mpsc;

use crate::support::mock_feeds;

const PIPELINE: &str = r#"
schema hook-contacts {
  source salesforce.Contact
  target c_contact
  dedupe external_id(Id)
  email! = Email | lowercase validate email
  name = Name
}

task hook { schema hook-contacts  schedule realtime token env("CMAP_TEST_WEBHOOK_TOKEN") }

task signed {
  schema hook-contacts
  schedule realtime token env("CMAP_TEST_WEBHOOK_TOKEN")
  config { signatureSecretEnv: "CMAP_TEST_HOOK_SECRET" }
}

task manual-only { schema hook-contacts }

schema live-contacts {
  source salesforce.Contact where IsDeleted == false
  target c_contact
  dedupe external_id(Id)
  email! = Email | lowercase validate email
  name = Name
}

task filtered { schema live-contacts  schedule realtime token env("CMAP_TEST_WEBHOOK_TOKEN") }

connection slow-api {
  integration rest
  auth none
  settings {
    baseUrl: "BASE"
    path: "/api/offset/{entity}"
    recordsPath: "results"
    pagination: { type: "offset", totalPath: "total", pageSize: 2 }
  }
}

schema slow-people {
  source rest.people
  target c_contact
  dedupe external_id(id)
  name = name
}

task slow { schema slow-people  connection slow-api }
"#;

const SECRET: &str = "hmac-key-for-tests";

struct Server {
    base: String,
    store: Arc<dyn Store>,
    /// A super admin's API token, sent with every `/api/` request of [`Server::get`] and
    /// [`Server::post`].
    token: String,
    events: mpsc::Receiver<Event>,
    client: reqwest::Client,
    /// The API task `slow` reads (pages of 2, 6 records).
    api: Arc<mock_feeds::State>,
    _dir: tempfile::TempDir,
}

async fn start() -> Server {
    // Only this module reads the variable, and always with the same value.
    std::env::set_var("CMAP_TEST_HOOK_SECRET", SECRET);
    crate::support::webhook_token_env();
    let dir = tempfile::tempdir().expect("temp dir");
    let pipelines = dir.path().join("pipelines");
    std::fs::create_dir_all(&pipelines).expect("mkdir");
    let file = pipelines.join("hook.cmap");
    // `slow` reads an API whose second page the test holds back ([`Server::api`]): a
    // manual run is still going for as long as the test wants.
    let people = (0..6)
        .map(|i| json!({"id": format!("s{i}"), "name": format!("S {i}")}))
        .collect();
    let (api_addr, api) = mock_feeds::start(mock_feeds::State::with_records(people)).await;
    let pipeline = PIPELINE.replace("BASE", &format!("http://{api_addr}"));
    std::fs::write(&file, pipeline).expect("write");
    let global = Global {
        stdlib: None,
        style: Style::Plain,
    };
    let checked = load::check(std::slice::from_ref(&pipelines), &global).expect("reads");
    let program = checked.program.unwrap_or_else(|| {
        panic!("the test pipeline checks: {:?}", checked.diagnostics);
    });
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&dir.path().join("data")).expect("store"));
    let engine = Arc::new(Engine::new(
        store.clone(),
        None,
        Options {
            page_size: 50,
            base_dir: pipelines.clone(),
            ..Options::default()
        },
    ));
    let (tx, rx) = mpsc::channel(4);
    let shared = Arc::new(Shared {
        current: RwLock::new(Arc::new(Loaded::new(Arc::new(program), 1, &engine))),
        files: RwLock::new(BTreeMap::new()),
        engine,
        pipelines_dir: PathBuf::from(&pipelines),
        events: tx,
    });
    let metrics = Arc::new(Metrics::default());
    let runner = Runner::new(shared.clone(), metrics.clone(), 4, None);
    let app = router(shared, runner, metrics);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        // Serves until the test's runtime ends.
        let _ = axum::serve(listener, app).await;
    });
    let token = crate::support::admin_token(&*store);
    Server {
        base: format!("http://{addr}"),
        store,
        token,
        events: rx,
        client: reqwest::Client::new(),
        api,
        _dir: dir,
    }
}

impl Server {
    async fn post(&self, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, Value) {
        let mut req = self.client.post(format!("{}{path}", self.base)).body(body);
        if path.starts_with("/api/") || path == "/metrics" {
            req = req.bearer_auth(&self.token);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if path.starts_with("/api/") || path == "/metrics" {
            req = req.bearer_auth(&self.token);
        }
        let resp = req.send().await.expect("request");
        (resp.status().as_u16(), resp.text().await.expect("body"))
    }

    async fn hook(&self, body: &Value, event: Option<&str>) -> (u16, Value) {
        let mut headers = vec![("x-cmap-token", crate::support::WEBHOOK_TOKEN)];
        if let Some(e) = event {
            headers.push(("x-cmap-event-id", e));
        }
        self.post("/webhooks/hook", &headers, body.to_string().into_bytes())
            .await
    }

    /// Stored contacts: email by name.
    fn emails(&self) -> BTreeMap<String, String> {
        self.store
            .shards(DEFAULT_TENANT, Some("c_contact"))
            .map(|s| {
                let s = s.expect("shard");
                (
                    s.structured_data["name"].as_str().unwrap_or("").to_string(),
                    s.structured_data["email"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                )
            })
            .collect()
    }
}

fn contact(id: &str, name: &str) -> Value {
    json!({ "Id": id, "Email": format!("{name}@Example.com"), "Name": name })
}

/// The signature header of docs/serve.md: `t=UNIX,v1=hex(HMAC-SHA256(secret,
/// "t.event_id.body"))`.
fn sign(t: i64, event_id: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(format!("{t}.{event_id}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// A refused case: its name, the signature header, the event id header, the body.
type Refused<'a> = (&'a str, Option<String>, Option<&'a str>, &'a [u8]);

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn a_webhook_record_is_stored_before_the_response() {
    let s = start().await;
    let (status, body) = s.hook(&contact("1", "ada"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(body["triggeredBy"], "webhook");
    assert_eq!(body["results"]["created"], 1);
    assert_eq!(s.emails()["ada"], "ada@example.com");
    // Also as the execution list shows it.
    let (status, list) = s.get("/api/executions?task=hook").await;
    assert_eq!(status, 200);
    let list: Value = serde_json::from_str(&list).expect("json");
    assert_eq!(list["executions"][0]["id"], body["id"]);
}

#[tokio::test]
async fn an_array_body_is_one_execution() {
    let s = start().await;
    let batch = json!([contact("1", "ada"), contact("2", "bob"), contact("3", "cy")]);
    let (status, body) = s.hook(&batch, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"]["fetched"], 3);
    assert_eq!(s.emails().len(), 3);
    // The same records again update nothing: they are found by external id.
    let (_, again) = s.hook(&batch, None).await;
    assert_eq!(again["results"]["skipped"], 3, "{again}");
    assert_eq!(s.emails().len(), 3);
}

#[tokio::test]
async fn wrong_or_missing_token_is_401_and_stores_nothing() {
    let s = start().await;
    let body = contact("1", "ada").to_string().into_bytes();
    for headers in [
        vec![],
        vec![("x-cmap-token", "wrong")],
        vec![("x-cmap-token", &crate::support::WEBHOOK_TOKEN[1..])],
        vec![("authorization", "Bearer nope")],
    ] {
        let (status, resp) = s.post("/webhooks/hook", &headers, body.clone()).await;
        assert_eq!(status, 401, "{headers:?}: {resp}");
        assert!(resp["help"].is_string(), "{resp}");
    }
    assert!(s.emails().is_empty());
    // Bearer works as well as the header.
    let (status, _) = s
        .post("/webhooks/hook", &[("authorization", "Bearer t0k3n")], body)
        .await;
    assert_eq!(status, 200);
    let (_, metrics) = s.get("/metrics").await;
    assert!(
        metrics.contains("cmap_webhook_requests_total{status=\"401\"} 4"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_signed_task_needs_a_fresh_signature_over_time_event_id_and_body() {
    let s = start().await;
    let body = contact("1", "ada").to_string().into_bytes();
    let now = unix_now();
    let good = sign(now, "e1", &body);
    // The documented example (docs/serve.md) signs to the documented header.
    assert_eq!(
        sign(1700000000, "evt-42", br#"{"Id":"1"}"#),
        "t=1700000000,v1=5e0ffb7d196140c8cfc3eee5228985dc489ab4c4b0c3025100052ec076b515ad"
    );
    let with_old_v1 = format!(
        "{},v1={}",
        good.split(",v1=").next().unwrap_or_default(),
        "00".repeat(32)
    );
    let refused: Vec<Refused> = vec![
        ("no signature", None, Some("e1"), &body),
        (
            "the old body-only form",
            Some("sha256=00".to_string()),
            Some("e1"),
            &body,
        ),
        (
            "stale",
            Some(sign(now - 301, "e1", &body)),
            Some("e1"),
            &body,
        ),
        (
            "an hour old",
            Some(sign(now - 3600, "e1", &body)),
            Some("e1"),
            &body,
        ),
        (
            "from the future",
            Some(sign(now + 330, "e1", &body)),
            Some("e1"),
            &body,
        ),
        ("tampered event id", Some(good.clone()), Some("e2"), &body),
        (
            "tampered body",
            Some(good.clone()),
            Some("e1"),
            b"{\"Id\":\"1\",\"Name\":\"eve\"}",
        ),
        ("no event id", Some(good.clone()), None, &body),
        (
            "no timestamp",
            Some(good.split(',').nth(1).unwrap_or_default().to_string()),
            Some("e1"),
            &body,
        ),
        ("no v1", Some(format!("t={now}")), Some("e1"), &body),
        (
            "a timestamp that is no number",
            Some(good.replacen(&format!("t={now}"), "t=soon", 1)),
            Some("e1"),
            &body,
        ),
        (
            "hex that is no hex",
            Some(format!("t={now},v1=zz")),
            Some("e1"),
            &body,
        ),
        (
            "a wrong v1 alone",
            Some(with_old_v1.clone()),
            Some("e1"),
            &body,
        ),
        ("garbage", Some("garbage".to_string()), Some("e1"), &body),
    ];
    for (case, sig, event, body) in refused {
        let mut headers = vec![("x-cmap-token", crate::support::WEBHOOK_TOKEN)];
        if let Some(sig) = &sig {
            headers.push(("x-cmap-signature", sig));
        }
        if let Some(e) = event {
            headers.push(("x-cmap-event-id", e));
        }
        let (status, resp) = s.post("/webhooks/signed", &headers, body.to_vec()).await;
        assert_eq!(status, 401, "{case}: {resp}");
        assert!(
            resp["help"].as_str().is_some_and(|h| !h.is_empty()),
            "{case}: {resp}"
        );
    }
    assert!(s.emails().is_empty());
    let stale = sign(now - 3600, "e1", &body);
    let (_, resp) = s
        .post(
            "/webhooks/signed",
            &[
                ("x-cmap-token", crate::support::WEBHOOK_TOKEN),
                ("x-cmap-signature", &stale),
                ("x-cmap-event-id", "e1"),
            ],
            body.clone(),
        )
        .await;
    assert!(
        resp["detail"].as_str().is_some_and(|e| e.contains("300")),
        "the window is named: {resp}"
    );

    // Valid: stored. Several v1 values (a secret being rotated): one must match.
    let (status, resp) = s
        .post(
            "/webhooks/signed",
            &[
                ("x-cmap-token", crate::support::WEBHOOK_TOKEN),
                ("x-cmap-signature", &good),
                ("x-cmap-event-id", "e1"),
            ],
            body.clone(),
        )
        .await;
    assert_eq!(status, 200, "{resp}");
    let newer = contact("1", "bob").to_string().into_bytes();
    let rotated = format!(
        "t={now},v1={},{}",
        "00".repeat(32),
        sign(now, "e2", &newer)
            .split(',')
            .nth(1)
            .unwrap_or_default()
    );
    let (status, resp) = s
        .post(
            "/webhooks/signed",
            &[
                ("x-cmap-token", crate::support::WEBHOOK_TOKEN),
                ("x-cmap-signature", &rotated),
                ("x-cmap-event-id", "e2"),
            ],
            newer,
        )
        .await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(s.emails()["bob"], "bob@example.com");

    // The old signed body replayed under a new event id would roll the record back: refused.
    let (status, resp) = s
        .post(
            "/webhooks/signed",
            &[
                ("x-cmap-token", crate::support::WEBHOOK_TOKEN),
                ("x-cmap-signature", &good),
                ("x-cmap-event-id", "e3"),
            ],
            body.clone(),
        )
        .await;
    assert_eq!(status, 401, "{resp}");
    // Replayed whole (same event id) within the window: a duplicate, ignored.
    let (status, resp) = s
        .post(
            "/webhooks/signed",
            &[
                ("x-cmap-token", crate::support::WEBHOOK_TOKEN),
                ("x-cmap-signature", &good),
                ("x-cmap-event-id", "e1"),
            ],
            body,
        )
        .await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp, json!({ "duplicate": true }));
    assert_eq!(s.emails().keys().collect::<Vec<_>>(), ["bob"]);
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let s = start().await;
    let big: Vec<Value> = (0..20_000)
        .map(|i| contact(&i.to_string(), &format!("person-number-{i}")))
        .collect();
    let bytes = serde_json::to_vec(&big).expect("json");
    assert!(bytes.len() > 1024 * 1024);
    let (status, resp) = s
        .post(
            "/webhooks/hook",
            &[("x-cmap-token", crate::support::WEBHOOK_TOKEN)],
            bytes,
        )
        .await;
    assert_eq!(status, 413, "{resp}");
    assert!(s.emails().is_empty());
}

#[tokio::test]
async fn a_redelivered_event_is_acknowledged_and_ignored() {
    let s = start().await;
    let (status, first) = s.hook(&contact("1", "ada"), Some("evt-1")).await;
    assert_eq!(status, 200, "{first}");
    let (status, again) = s.hook(&contact("1", "changed"), Some("evt-1")).await;
    assert_eq!(status, 200);
    assert_eq!(again, json!({ "duplicate": true }));
    assert_eq!(s.emails().keys().collect::<Vec<_>>(), ["ada"]);
    // One execution only.
    let (_, list) = s.get("/api/executions?task=hook").await;
    let list: Value = serde_json::from_str(&list).expect("json");
    assert_eq!(list["executions"].as_array().map(Vec::len), Some(1));
    // A new event id is a new delivery.
    let (_, other) = s.hook(&contact("1", "changed"), Some("evt-2")).await;
    assert_eq!(other["results"]["updated"], 1, "{other}");
}

#[tokio::test]
async fn concurrent_redeliveries_store_once() {
    let s = Arc::new(start().await);
    let mut handles = Vec::new();
    for _ in 0..8 {
        let s = s.clone();
        handles.push(tokio::spawn(async move {
            s.hook(
                &json!([contact("1", "ada"), contact("2", "bob")]),
                Some("evt-x"),
            )
            .await
        }));
    }
    let mut stored = 0;
    for h in handles {
        let (status, body) = h.await.expect("joined");
        assert_eq!(status, 200);
        if body.get("duplicate").is_none() {
            stored += 1;
        }
    }
    assert_eq!(stored, 1);
    assert_eq!(s.emails().len(), 2);
}

#[tokio::test]
async fn records_failing_the_schema_make_a_partial_execution_with_dead_letters() {
    let s = start().await;
    let batch = json!([
        contact("1", "ada"),
        { "Id": "2", "Email": "not-an-email", "Name": "bad" },
        { "Id": "3", "Name": "no email" },
        42
    ]);
    let (status, body) = s.hook(&batch, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "partial");
    assert_eq!(body["results"]["created"], 1);
    assert_eq!(body["results"]["failed"], 3);
    let id = body["id"].as_str().expect("id");
    let dead = s
        .store
        .dead_letters(DEFAULT_TENANT, id, &Default::default())
        .expect("dead letters")
        .items;
    assert_eq!(dead.len(), 3);
    assert_eq!(s.emails().len(), 1);
    let (status, logs) = s.get(&format!("/api/executions/{id}/logs")).await;
    assert_eq!(status, 200);
    assert!(logs.contains("webhook delivery received"), "{logs}");
}

#[tokio::test]
async fn bad_bodies_and_non_realtime_tasks_are_refused() {
    let s = start().await;
    let token = [("x-cmap-token", crate::support::WEBHOOK_TOKEN)];
    let (status, resp) = s
        .post("/webhooks/hook", &token, b"{not json".to_vec())
        .await;
    assert_eq!(status, 400, "{resp}");
    let (status, _) = s.post("/webhooks/hook", &token, b"\"text\"".to_vec()).await;
    assert_eq!(status, 400);
    let (status, resp) = s
        .post("/webhooks/manual-only", &token, b"{}".to_vec())
        .await;
    assert_eq!(status, 404);
    assert!(
        resp["detail"].as_str().unwrap_or("").contains("realtime"),
        "{resp}"
    );
    let (status, _) = s.post("/webhooks/nope", &token, b"{}".to_vec()).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn control_run_pause_resume_and_cancel() {
    let s = start().await;
    let (status, resp) = s.post("/api/tasks/nope/run", &[], vec![]).await;
    assert_eq!(status, 404, "{resp}");

    // The API holds its second page: the run is caught between its pages.
    s.api.hold_after(1);
    let (status, resp) = s.post("/api/tasks/slow/run", &[], vec![]).await;
    assert_eq!(status, 202, "{resp}");
    // A bound rather than a hang if the run never gets there (it then ended early).
    let held = tokio::time::timeout(std::time::Duration::from_secs(60), s.api.held.notified());
    if held.await.is_err() {
        let list = s
            .store
            .executions(DEFAULT_TENANT, Some("slow"), &Default::default());
        panic!(
            "the run never asked for its second page: {:?}; {list:?}",
            s.api.requests()
        );
    }
    // Still running: a second run conflicts.
    let (status, resp) = s.post("/api/tasks/slow/run", &[], vec![]).await;
    assert_eq!(status, 409, "{resp}");

    // The execution is visible from its first page on; cancel it, then let the page
    // through: the run stops at that page's boundary.
    let list = s
        .store
        .executions(DEFAULT_TENANT, Some("slow"), &Default::default())
        .expect("list")
        .items;
    let id = list
        .first()
        .map(|e| e.id.clone())
        .expect("the run is listed");
    let (status, resp) = s
        .post(&format!("/api/executions/{id}/cancel"), &[], vec![])
        .await;
    assert_eq!(status, 202, "{resp}");
    s.api.release_all();
    let mut last = String::new();
    // Polls the API as a client would; the bound (60 s) is only a safety net.
    for _ in 0..6000 {
        let (_, e) = s.get(&format!("/api/executions/{id}")).await;
        let v: Value = serde_json::from_str(&e).expect("json");
        if v["status"] != "running" {
            last = v["status"].as_str().unwrap_or("").to_string();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(last, "cancelled");
    // Ended: cancelling again conflicts; unknown ids are 404.
    let (status, _) = s
        .post(&format!("/api/executions/{id}/cancel"), &[], vec![])
        .await;
    assert_eq!(status, 409);
    let (status, _) = s.post("/api/executions/nope/cancel", &[], vec![]).await;
    assert_eq!(status, 404);
    let (status, _) = s.get("/api/executions/nope").await;
    assert_eq!(status, 404);

    // Paused: runs conflict and webhooks ask to be retried later; resumed: both work.
    let (status, _) = s.post("/api/tasks/hook/pause", &[], vec![]).await;
    assert_eq!(status, 200);
    let (status, resp) = s.post("/api/tasks/hook/run", &[], vec![]).await;
    assert_eq!(status, 409, "{resp}");
    let (status, _) = s.hook(&contact("1", "ada"), None).await;
    assert_eq!(status, 503);
    let (status, _) = s.post("/api/tasks/hook/resume", &[], vec![]).await;
    assert_eq!(status, 200);
    let (status, _) = s.hook(&contact("1", "ada"), None).await;
    assert_eq!(status, 200);
    let (status, _) = s.post("/api/tasks/nope/pause", &[], vec![]).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn health_readiness_metrics_pipelines_and_reload() {
    let mut s = start().await;
    assert_eq!(s.get("/healthz").await.0, 200);
    assert_eq!(s.get("/readyz").await.0, 200);
    s.hook(&json!([contact("1", "ada"), contact("2", "bob")]), None)
        .await;
    let resp = s
        .client
        .get(format!("{}/metrics", s.base))
        .bearer_auth(&s.token)
        .send()
        .await
        .expect("metrics");
    assert_eq!(
        resp.headers()["content-type"].to_str().ok(),
        Some("text/plain; version=0.0.4")
    );
    let text = resp.text().await.expect("text");
    for line in [
        "cmap_webhook_requests_total{status=\"200\"} 1",
        "cmap_webhook_records_total 2",
        "cmap_executions_total{status=\"success\"} 1",
        "cmap_records_total{outcome=\"created\"} 2",
        "cmap_executions_running 0",
    ] {
        assert!(text.contains(line), "{line} in:\n{text}");
    }
    let (status, p) = s.get("/api/pipelines").await;
    assert_eq!(status, 200);
    let p: Value = serde_json::from_str(&p).expect("json");
    assert_eq!(p["generation"], 1);
    assert!(p["tasks"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t["id"] == "hook")));
    let (status, _) = s.post("/api/reload", &[], vec![]).await;
    assert_eq!(status, 202);
    match s.events.recv().await {
        Some(Event::Reload { reason }) => assert!(reason.contains("/api/reload")),
        other => panic!("expected a reload event, got {other:?}"),
    }
}

/// Non-object records are invalid records (as `cmap map` says of such lines), never
/// skipped or mapped: with or without a `where` filter (a filter over a number used to
/// skip it), through webhooks and through `map_record` itself, which every path
/// (connector pages, webhooks, `cmap map`, `cmap test`) goes through.
#[tokio::test]
async fn non_object_records_fail_as_invalid_records() {
    let s = start().await;
    for task in ["hook", "filtered"] {
        let body = json!([1, "x", null, [2], true]);
        let (status, resp) = s
            .post(
                &format!("/webhooks/{task}"),
                &[("x-cmap-token", crate::support::WEBHOOK_TOKEN)],
                body.to_string().into_bytes(),
            )
            .await;
        assert_eq!(status, 200, "{task}: {resp}");
        assert_eq!(resp["status"], "partial", "{task}: {resp}");
        assert_eq!(resp["results"]["failed"], 5, "{task}: {resp}");
        assert_eq!(resp["results"]["skipped"], 0, "{task}: {resp}");
        let id = resp["id"].as_str().expect("id");
        let dead = s
            .store
            .dead_letters(DEFAULT_TENANT, id, &Default::default())
            .expect("dead letters")
            .items;
        let got: Vec<(String, String)> = dead
            .iter()
            .map(|d| (d.code.clone(), d.message.clone()))
            .collect();
        let want: Vec<(String, String)> = ["a number", "a string", "null", "an array", "a boolean"]
            .iter()
            .map(|k| {
                (
                    "invalid_record".to_string(),
                    format!("not a record: expected a JSON object, found {k}"),
                )
            })
            .collect();
        assert_eq!(got, want, "{task}");
        assert_eq!(dead[0].record, json!(1));
    }
    assert!(s.emails().is_empty());
}

/// Deliveries stored as one batch (one commit): each is its own execution with the counts,
/// errors and dead letters of its own records; its records see the records of the
/// deliveries before it (one shard per external id); an event id delivered twice in the
/// batch, or stored before, is a duplicate and writes nothing.
#[tokio::test]
async fn one_batch_keeps_every_delivery_guarantee() {
    use cmap::engine::{Delivery, Ingested};
    let s = start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let pipelines = dir.path().join("pipelines");
    std::fs::create_dir_all(&pipelines).expect("mkdir");
    let pipeline = PIPELINE.replace("BASE", "http://127.0.0.1:9");
    std::fs::write(pipelines.join("hook.cmap"), pipeline).expect("write");
    let global = Global {
        stdlib: None,
        style: Style::Plain,
    };
    let program = load::check(std::slice::from_ref(&pipelines), &global)
        .expect("reads")
        .program
        .expect("checks");
    let engine = Engine::new(s.store.clone(), None, Options::default());
    let task = program.task("hook").expect("task");
    let delivery = |records: Value, event: Option<&str>| Delivery {
        records: records.as_array().cloned().unwrap_or_default(),
        event_id: event.map(str::to_string),
    };
    let batch = vec![
        delivery(json!([contact("1", "ada")]), Some("e1")),
        delivery(
            json!([contact("1", "adaline"), contact("2", "bob")]),
            Some("e2"),
        ),
        delivery(json!([contact("1", "ada")]), Some("e1")),
        delivery(json!([{ "Id": "3", "Email": "bad", "Name": "bad" }]), None),
        delivery(json!([contact("4", "cy"), 42]), Some("e4")),
    ];
    let got = engine
        .ingest_batch(task, &program.connections, batch)
        .expect("stored");
    let summary: Vec<Value> = got
        .iter()
        .map(|i| match i {
            Ingested::Duplicate => json!("duplicate"),
            Ingested::Stored(e) => json!([
                e.status.as_str(),
                e.results.created,
                e.results.updated,
                e.results.failed
            ]),
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            json!(["success", 1, 0, 0]),
            json!(["success", 1, 1, 0]),
            json!("duplicate"),
            json!(["partial", 0, 0, 1]),
            json!(["partial", 1, 0, 1]),
        ]
    );
    // One shard per external id, holding the later delivery's value.
    assert_eq!(
        s.emails(),
        BTreeMap::from([
            ("adaline".to_string(), "adaline@example.com".to_string()),
            ("bob".to_string(), "bob@example.com".to_string()),
            ("cy".to_string(), "cy@example.com".to_string()),
        ])
    );
    // Each failed record is a dead letter of its own delivery's execution, numbered from 0.
    for (i, record) in [
        (3, json!({ "Id": "3", "Email": "bad", "Name": "bad" })),
        (4, json!(42)),
    ] {
        let Ingested::Stored(e) = &got[i] else {
            panic!("delivery {i} stored")
        };
        let dead = s
            .store
            .dead_letters(DEFAULT_TENANT, &e.id, &Default::default())
            .expect("dead letters")
            .items;
        assert_eq!(dead.len(), 1, "{i}");
        assert_eq!(dead[0].seq, 0);
        assert_eq!(dead[0].record, record, "{i}");
        assert_eq!(e.errors.len(), 1);
        let logs = s
            .store
            .logs(DEFAULT_TENANT, &e.id, &Default::default())
            .expect("logs")
            .items;
        assert!(logs
            .iter()
            .any(|l| l.message == "webhook delivery received"));
    }
    let executions = s
        .store
        .executions(DEFAULT_TENANT, Some("hook"), &Default::default())
        .expect("list")
        .items;
    assert_eq!(executions.len(), 4);
    let state = s
        .store
        .task_state(DEFAULT_TENANT, "hook")
        .expect("state")
        .expect("stored");
    assert_eq!(state.stats.total_runs, 4);
    assert_eq!(state.stats.records_created, 3);

    // A later batch: e2 is now seen in the store.
    let again = engine
        .ingest_batch(
            task,
            &program.connections,
            vec![delivery(json!([contact("2", "changed")]), Some("e2"))],
        )
        .expect("stored");
    assert_eq!(again, vec![Ingested::Duplicate]);
    assert_eq!(s.emails()["bob"], "bob@example.com");
}

/// Every error, whatever refuses the request (a handler, the router, the webhook
/// checks, the origin guard), is RFC 9457 problem details: `application/problem+json`
/// with `type`, `title` (the reason phrase), `status` (the response's), a stable
/// `code`, `detail` and `help`.
#[tokio::test]
async fn every_error_is_problem_details_with_a_stable_code() {
    let server = start().await;
    let client = &server.client;
    let base = &server.base;
    let token = &server.token;
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        (
            "unknown task",
            client
                .post(format!("{base}/api/tasks/nope/run"))
                .bearer_auth(token),
            404,
            "task_not_found",
        ),
        (
            "unknown execution",
            client
                .get(format!("{base}/api/executions/nope"))
                .bearer_auth(token),
            404,
            "execution_not_found",
        ),
        (
            "bad limit",
            client
                .get(format!("{base}/api/executions?limit=0"))
                .bearer_auth(token),
            400,
            "bad_limit",
        ),
        (
            "bad cursor",
            client
                .get(format!("{base}/api/executions?cursor=zz"))
                .bearer_auth(token),
            400,
            "bad_cursor",
        ),
        (
            "unknown parameter",
            client
                .get(format!("{base}/api/executions?limt=3"))
                .bearer_auth(token),
            400,
            "bad_query",
        ),
        (
            "no API token",
            client.get(format!("{base}/api/executions")),
            401,
            "unauthenticated",
        ),
        (
            "a wrong API token",
            client
                .get(format!("{base}/api/executions"))
                .bearer_auth(format!("cmap_{}_{}", "0".repeat(16), "0".repeat(64))),
            401,
            "unauthenticated",
        ),
        (
            "a tenant that does not exist",
            client
                .get(format!("{base}/api/executions"))
                .bearer_auth(token)
                .header("x-tenant-id", "nobody"),
            404,
            "tenant_not_found",
        ),
        (
            "unknown path",
            client
                .get(format!("{base}/api/nothing-here"))
                .bearer_auth(token),
            404,
            "no_such_endpoint",
        ),
        (
            "wrong method",
            client.get(format!("{base}/api/reload")).bearer_auth(token),
            405,
            "method_not_allowed",
        ),
        (
            "no webhook token",
            client.post(format!("{base}/webhooks/hook")).body("{}"),
            401,
            "unauthorized",
        ),
        (
            "not JSON",
            client
                .post(format!("{base}/webhooks/hook"))
                .header("x-cmap-token", crate::support::WEBHOOK_TOKEN)
                .body("{nope"),
            400,
            "invalid_json",
        ),
        (
            "foreign host",
            client
                .get(format!("{base}/healthz"))
                .header("host", "evil.example"),
            421,
            "foreign_host",
        ),
        (
            "cross-origin state change",
            client
                .post(format!("{base}/api/reload"))
                .header("origin", "https://evil.example"),
            403,
            "cross_origin",
        ),
    ];
    for (name, request, status, code) in cases {
        let resp = request.send().await.expect("request");
        assert_eq!(resp.status().as_u16(), status, "{name}");
        if status == 405 {
            let allow = resp.headers().get("allow").and_then(|v| v.to_str().ok());
            assert_eq!(allow, Some("POST"), "{name}: a 405 says what is allowed");
        }
        let media = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert_eq!(media, "application/problem+json", "{name}");
        let body: Value = resp.json().await.expect("JSON");
        assert_eq!(body["type"], "about:blank", "{name}: {body}");
        assert_eq!(body["status"], status, "{name}: {body}");
        assert_eq!(body["code"], code, "{name}: {body}");
        let reason = reqwest::StatusCode::from_u16(status)
            .expect("status")
            .canonical_reason()
            .expect("reason");
        assert_eq!(body["title"], reason, "{name}: {body}");
        for member in ["detail", "help"] {
            assert!(
                body[member].as_str().is_some_and(|t| !t.is_empty()),
                "{name}: no {member} in {body}"
            );
        }
    }
}
