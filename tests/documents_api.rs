//! Conversion schemas and sync tasks through the API (docs/api.md, "Conversion schemas
//! and sync tasks"): created from the spec's JSON, read back as JSON and `.cmap`,
//! checked like files (422 with diagnostics, nothing changed), read-only when a file
//! defines them (409), optimistic concurrency (412), live without a restart, invisible
//! to another tenant, and still served after the server restarts.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cmap::engine::{Engine, Options as EngineOptions};
use cmap::serve::server::{self, Options};
use cmap::store::identity::Role;
use cmap::store::{IntegrationStatus, SledStore, Store, TenantIntegration};
use serde_json::{json, Value};

use crate::support::api_user;

/// Acme's folder: its REST connection, a file-defined schema and task (read-only
/// through the API).
const ACME_FILE: &str = r#"
connection acme-api {
  integration rest
  auth none
  settings { baseUrl: "http://127.0.0.1:9", path: "/people" }
}

schema acme-people {
  source rest.people
  target c_contact
  dedupe external_id(id)
  name = name
}

task acme-sync { schema acme-people  connection acme-api }
"#;

const GLOBEX_FILE: &str = r#"
connection globex-api {
  integration rest
  auth none
  settings { baseUrl: "http://127.0.0.1:9", path: "/people" }
}
"#;

fn schema_json(id: &str, transform: &str) -> String {
    format!(
        r#"{{
  "id": "{id}",
  "name": "People via API",
  "tenantIntegrationId": "rest",
  "source": {{ "entity": "people" }},
  "target": {{ "shardTypeId": "c_contact", "createIfMissing": true, "updateIfExists": true, "deleteIfRemoved": false }},
  "fieldMappings": [
    {{ "targetField": "name", "mappingType": "transform", "config": {{ "type": "transform", "sourceField": "name", "transformations": [ {{ "type": "{transform}" }} ] }} }}
  ],
  "deduplication": {{ "strategy": "external_id", "externalIdField": "id" }}
}}"#
    )
}

fn task_json(id: &str, schema: &str) -> Value {
    json!({
        "id": id,
        "name": "API sync",
        "tenantIntegrationId": "rest",
        "conversionSchemaId": schema,
        "connectionId": "acme-api",
        "direction": "pull",
        "schedule": { "type": "cron", "config": { "type": "cron", "expression": "0 2 * * *", "timezone": "UTC" } },
        "config": {}
    })
}

struct Server {
    base: String,
    client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<Result<(), server::ServeError>>,
}

impl Server {
    async fn stop(self) {
        let Server {
            client,
            stop,
            handle,
            ..
        } = self;
        // Our keep-alive connections would hold the server's state past its return.
        drop(client);
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(20), handle)
            .await
            .expect("the server stops");
    }
}

/// The pipelines and the store: acme (user, admin), globex (admin), a super admin;
/// `rest` enabled for both tenants. Tokens: acme user, acme admin, globex admin, root.
fn setup(dir: &Path) -> [String; 4] {
    let pipelines = dir.join("pipelines");
    std::fs::create_dir_all(pipelines.join("tenants/acme")).expect("mkdir");
    std::fs::create_dir_all(pipelines.join("tenants/globex")).expect("mkdir");
    std::fs::write(pipelines.join("tenants/acme/p.cmap"), ACME_FILE).expect("write");
    std::fs::write(pipelines.join("tenants/globex/p.cmap"), GLOBEX_FILE).expect("write");
    let store = SledStore::open(&dir.join("data")).expect("store");
    let user = api_user(&store, "user@acme.test", Role::User, Some("acme"));
    let admin = api_user(&store, "admin@acme.test", Role::TenantAdmin, Some("acme"));
    let globex = api_user(
        &store,
        "admin@globex.test",
        Role::TenantAdmin,
        Some("globex"),
    );
    let root = api_user(&store, "root@example.com", Role::SuperAdmin, None);
    let now = chrono::Utc::now();
    for tenant in ["acme", "globex"] {
        store
            .create_tenant_integration(
                &TenantIntegration {
                    id: "rest".into(),
                    tenant_id: tenant.into(),
                    integration_id: "rest".into(),
                    status: IntegrationStatus::Connected,
                    enabled_at: now,
                    enabled_by: "test".into(),
                    connection_id: None,
                    last_connected_at: None,
                    connection_error: None,
                    settings: Default::default(),
                    authorization_url: None,
                    token_url: None,
                    created_at: now,
                    updated_at: now,
                    version: 0,
                },
                None,
            )
            .expect("enable rest");
    }
    [user, admin, globex, root]
}

async fn start(dir: &Path) -> Server {
    // After a stop, the last connection task may still be letting go of the data
    // directory: a bounded wait for its lock.
    let mut opened = SledStore::open(&dir.join("data"));
    for _ in 0..500 {
        if opened.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        opened = SledStore::open(&dir.join("data"));
    }
    let store: Arc<dyn Store> = Arc::new(opened.expect("store"));
    let engine = Arc::new(Engine::new(store, None, EngineOptions::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let options = Options {
        pipelines: dir.join("pipelines"),
        watch: false,
        ..Options::default()
    };
    let handle = tokio::spawn(server::run(options, engine, listener, None, async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    for _ in 0..1000 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status() == 200 {
                return Server {
                    base,
                    client,
                    stop: Some(stop),
                    handle,
                };
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the server never became ready");
}

const SCHEMAS: &str = "/api/tenant/integrations/rest/schemas";
const TASKS: &str = "/api/tenant/integrations/rest/tasks";

impl Server {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<(&str, String)>,
        if_match: Option<&str>,
    ) -> (u16, reqwest::header::HeaderMap, String) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some((media, text)) = body {
            request = request.header("content-type", media).body(text);
        }
        if let Some(tag) = if_match {
            request = request.header("if-match", tag);
        }
        let response = request.send().await.expect("answered");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.text().await.unwrap_or_default())
    }

    async fn get(&self, path: &str, token: &str) -> (u16, reqwest::header::HeaderMap, String) {
        self.send(reqwest::Method::GET, path, token, None, None)
            .await
    }

    async fn post_json(&self, path: &str, token: &str, body: String) -> (u16, String) {
        let (s, _, b) = self
            .send(
                reqwest::Method::POST,
                path,
                token,
                Some(("application/json", body)),
                None,
            )
            .await;
        (s, b)
    }

    /// The store's documents and the serving generation: what a refused write must not
    /// change.
    async fn observed(&self, admin: &str, root: &str) -> (Value, u64, Vec<String>) {
        let (_, _, schemas) = self.get(SCHEMAS, admin).await;
        let (_, _, tasks) = self.get(TASKS, admin).await;
        let (_, _, pipelines) = self.get("/api/pipelines", root).await;
        let pipelines: Value = serde_json::from_str(&pipelines).expect("json");
        let files = pipelines["files"]
            .as_array()
            .map(|f| {
                f.iter()
                    .map(|f| format!("{} {}", f["path"], f["hash"]))
                    .collect()
            })
            .unwrap_or_default();
        (
            json!({ "schemas": schemas, "tasks": tasks }),
            pipelines["generation"].as_u64().unwrap_or(0),
            files,
        )
    }
}

fn etag(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemas_and_tasks_are_created_checked_served_and_survive_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let [user, admin, globex, root] = setup(dir.path());
    let s = start(dir.path()).await;

    // Create a schema and a task from the spec's JSON, as acme's admin.
    let (status, body) = s
        .post_json(SCHEMAS, &admin, schema_json("api-people", "uppercase"))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = s
        .post_json(
            TASKS,
            &admin,
            task_json("api-sync", "api-people").to_string(),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let created: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(created["version"], 1, "{body}");
    assert_eq!(created["conversionSchemaId"], "api-people", "{body}");
    assert_eq!(created["status"], "active", "{body}");

    // Read back: JSON with the ETag, and the `.cmap` text.
    let (status, headers, body) = s.get(&format!("{SCHEMAS}/api-people"), &admin).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(etag(&headers), "\"1\"");
    let schema: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(schema["id"], "api-people");
    assert_eq!(schema["fieldMappings"][0]["targetField"], "name", "{body}");
    assert_eq!(schema["createdBy"], schema["updatedBy"]);
    let (status, headers, text) = s
        .get(&format!("{SCHEMAS}/api-people?format=cmap"), &admin)
        .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("text/x-cmap")
    );
    assert!(text.starts_with("schema api-people"), "{text}");
    assert!(text.contains("name = name | uppercase"), "{text}");
    let (status, _, text) = s
        .get(&format!("{TASKS}/api-sync?format=cmap"), &admin)
        .await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("schema api-people"), "{text}");

    // Live: the task is served and planned, and runs.
    let (_, _, pipelines) = s.get("/api/pipelines", &root).await;
    let pipelines: Value = serde_json::from_str(&pipelines).expect("json");
    let tasks: Vec<&str> = pipelines["tasks"]
        .as_array()
        .map(|t| t.iter().filter_map(|t| t["id"].as_str()).collect())
        .unwrap_or_default();
    assert!(tasks.contains(&"api-sync"), "{pipelines}");
    let paths = pipelines["files"].to_string();
    assert!(
        paths.contains("api:tenants/acme/tasks/api-sync.cmap"),
        "{paths}"
    );
    let (status, _, body) = s
        .send(
            reqwest::Method::POST,
            &format!("{TASKS}/api-sync/run"),
            &admin,
            None,
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");

    // A `.cmap` body is accepted too.
    let text = "schema api-people-2 {\n  source rest.people\n  target c_contact\n  dedupe external_id(id)\n  name = name\n}\n";
    let (status, _, body) = s
        .send(
            reqwest::Method::POST,
            SCHEMAS,
            &admin,
            Some(("text/x-cmap", text.to_string())),
            None,
        )
        .await;
    assert_eq!(status, 201, "{body}");

    // Lists: the API's and the file's (read-only), in id order.
    let (status, _, body) = s.get(SCHEMAS, &admin).await;
    assert_eq!(status, 200, "{body}");
    let list: Value = serde_json::from_str(&body).expect("json");
    let listed: Vec<(String, bool)> = list["schemas"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    (
                        s["id"].as_str().unwrap_or_default().to_string(),
                        s["readOnly"].as_bool().unwrap_or(false),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        listed,
        [
            ("acme-people".to_string(), true),
            ("api-people".to_string(), false),
            ("api-people-2".to_string(), false)
        ]
    );
    let (status, _, body) = s.get(&format!("{SCHEMAS}?limit=2"), &admin).await;
    assert_eq!(status, 200, "{body}");
    let page: Value = serde_json::from_str(&body).expect("json");
    let cursor = page["nextCursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    let (_, _, body) = s
        .get(&format!("{SCHEMAS}?limit=2&cursor={cursor}"), &admin)
        .await;
    let page: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(page["schemas"][0]["id"], "api-people-2", "{body}");
    assert_eq!(page["nextCursor"], Value::Null);

    // Users may not read or write them; another tenant sees none of them.
    let (status, _, _) = s.get(&format!("{SCHEMAS}/api-people"), &user).await;
    assert_eq!(status, 403);
    let (status, _) = s
        .post_json(SCHEMAS, &user, schema_json("u-people", "uppercase"))
        .await;
    assert_eq!(status, 403);
    for path in [
        format!("{SCHEMAS}/api-people"),
        format!("{TASKS}/api-sync"),
        format!("{SCHEMAS}/acme-people"),
        format!("{TASKS}/acme-sync"),
    ] {
        let (status, _, body) = s.get(&path, &globex).await;
        assert_eq!(status, 404, "{path}: {body}");
        let (status, _, body) = s
            .send(reqwest::Method::DELETE, &path, &globex, None, None)
            .await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    let (_, _, body) = s.get(SCHEMAS, &globex).await;
    let list: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(list["schemas"], json!([]), "{body}");
    // An integration the tenant has not enabled.
    let (status, _, _) = s
        .get("/api/tenant/integrations/hubspot/schemas", &admin)
        .await;
    assert_eq!(status, 404);

    // Restart on the same data directory: still served.
    s.stop().await;
    let s = start(dir.path()).await;
    let (status, headers, body) = s.get(&format!("{TASKS}/api-sync"), &admin).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(etag(&headers), "\"1\"");
    let (_, _, pipelines) = s.get("/api/pipelines", &root).await;
    assert!(pipelines.contains("\"api-sync\""), "{pipelines}");
    s.stop().await;

    // Each write left its audit entry, in acme's log.
    let store = SledStore::open(&dir.path().join("data")).expect("store");
    let entries = store
        .audit_entries(
            &cmap::store::AuditFilter {
                scope: cmap::store::AuditScope::Tenant("acme".into()),
                action_prefix: None,
                since: None,
            },
            &Default::default(),
        )
        .expect("audit");
    let mut written: Vec<(String, String)> = entries
        .items
        .iter()
        .map(|e| (e.action.clone(), e.target.id.clone()))
        .collect();
    written.sort();
    let want = [
        ("schema.create", "api-people"),
        ("schema.create", "api-people-2"),
        ("task.create", "api-sync"),
    ];
    assert_eq!(
        written,
        want.map(|(a, i)| (a.to_string(), i.to_string())),
        "{entries:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_that_do_not_check_or_conflict_change_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let [_user, admin, _globex, root] = setup(dir.path());
    let s = start(dir.path()).await;
    let (status, body) = s
        .post_json(SCHEMAS, &admin, schema_json("api-people", "uppercase"))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = s
        .post_json(
            TASKS,
            &admin,
            task_json("api-sync", "api-people").to_string(),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let before = s.observed(&admin, &root).await;

    // Bad documents: each is 422 with diagnostics pointing into the submitted text.
    let unknown_strategy = schema_json("bad-2", "uppercase").replace(
        "\"strategy\": \"external_id\"",
        "\"strategy\": \"external_idd\"",
    );
    let cases: [(&str, String, &str, &str); 3] = [
        (
            "a typo in a transform",
            schema_json("bad-1", "uppercse"),
            "E0102",
            "\"uppercse\"",
        ),
        (
            "an unknown deduplication strategy",
            unknown_strategy,
            "E",
            "external_idd",
        ),
        (
            "a task of an unknown schema",
            task_json("bad-task", "no-such-schema").to_string(),
            "E",
            "no-such-schema",
        ),
    ];
    for (what, text, code, marker) in cases {
        let path = if text.contains("conversionSchemaId") {
            TASKS
        } else {
            SCHEMAS
        };
        let (status, body) = s.post_json(path, &admin, text.clone()).await;
        assert_eq!(status, 422, "{what}: {body}");
        let problem: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(problem["code"], "does_not_check", "{what}: {body}");
        let errors: Vec<&Value> = problem["diagnostics"]
            .as_array()
            .map(|d| d.iter().filter(|d| d["severity"] == "error").collect())
            .unwrap_or_default();
        let at = text.find(marker).expect("marker");
        let line = text[..at].matches('\n').count() + 1;
        let hit = errors.iter().any(|d| {
            d["code"].as_str().is_some_and(|c| c.starts_with(code))
                && d["file"]
                    .as_str()
                    .is_some_and(|f| f.starts_with("api:tenants/acme/"))
                && d["line"].as_u64() == Some(line as u64)
                && d["help"].is_string()
        });
        assert!(hit, "{what}: no {code} error at line {line}: {body}");
    }

    // Over the store's limit for one document: refused before it is parsed.
    let huge = format!(
        "{}{}",
        " ".repeat(cmap::store::pipeline_doc::MAX_TEXT_BYTES),
        schema_json("huge", "trim")
    );
    let (status, body) = s.post_json(SCHEMAS, &admin, huge).await;
    assert_eq!(status, 413, "{body}");

    // A file-defined object: readable, but every write is 409 naming the file.
    let (status, _, body) = s.get(&format!("{SCHEMAS}/acme-people"), &admin).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("pipelines/tenants/acme/p.cmap"), "{body}");
    let file: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(file["readOnly"], true, "{body}");
    assert_eq!(file["source"]["entity"], "people", "{body}");
    for (method, path, text) in [
        (
            reqwest::Method::POST,
            SCHEMAS.to_string(),
            Some(schema_json("acme-people", "uppercase")),
        ),
        (
            reqwest::Method::PATCH,
            format!("{SCHEMAS}/acme-people"),
            Some(schema_json("acme-people", "uppercase")),
        ),
        (
            reqwest::Method::DELETE,
            format!("{SCHEMAS}/acme-people"),
            None,
        ),
        (reqwest::Method::DELETE, format!("{TASKS}/acme-sync"), None),
    ] {
        let body = text.map(|t| ("application/json", t));
        let (status, _, answer) = s.send(method.clone(), &path, &admin, body, None).await;
        assert_eq!(status, 409, "{method} {path}: {answer}");
        assert!(answer.contains("defined_by_file"), "{answer}");
        assert!(answer.contains("pipelines/tenants/acme/p.cmap"), "{answer}");
    }
    // Creating an id that exists.
    let (status, body) = s
        .post_json(SCHEMAS, &admin, schema_json("api-people", "uppercase"))
        .await;
    assert_eq!(status, 409, "{body}");
    // Deleting a schema a task uses.
    let (status, _, body) = s
        .send(
            reqwest::Method::DELETE,
            &format!("{SCHEMAS}/api-people"),
            &admin,
            None,
            None,
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("api-people"), "{body}");
    // A PATCH whose id is not the path's.
    let (status, _, body) = s
        .send(
            reqwest::Method::PATCH,
            &format!("{SCHEMAS}/api-people"),
            &admin,
            Some(("application/json", schema_json("other", "uppercase"))),
            None,
        )
        .await;
    assert_eq!(status, 422, "{body}");

    assert_eq!(
        s.observed(&admin, &root).await,
        before,
        "a refused write changed something"
    );

    // Concurrency: two PATCHes with the same If-Match, one wins; then the loser's tag is
    // stale.
    let (_, headers, _) = s.get(&format!("{SCHEMAS}/api-people"), &admin).await;
    let tag = etag(&headers);
    assert_eq!(tag, "\"1\"");
    let path = format!("{SCHEMAS}/api-people");
    let a = s.send(
        reqwest::Method::PATCH,
        &path,
        &admin,
        Some(("application/json", schema_json("api-people", "lowercase"))),
        Some(&tag),
    );
    let b = s.send(
        reqwest::Method::PATCH,
        &path,
        &admin,
        Some(("application/json", schema_json("api-people", "trim"))),
        Some(&tag),
    );
    let ((sa, _, ba), (sb, _, bb)) = tokio::join!(a, b);
    let mut statuses = [sa, sb];
    statuses.sort();
    assert_eq!(statuses, [200, 412], "{ba}\n{bb}");
    let (status, _, body) = s
        .send(reqwest::Method::DELETE, &path, &admin, None, Some(&tag))
        .await;
    assert_eq!(status, 412, "{body}");
    let (_, headers, read) = s.get(&path, &admin).await;
    assert_eq!(etag(&headers), "\"2\"");
    // A body sent back as read (with the server's fields) is accepted, and stores none
    // of them.
    let (status, _, body) = s
        .send(
            reqwest::Method::PATCH,
            &path,
            &admin,
            Some(("application/json", read)),
            Some("\"2\""),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, headers, text) = s.get(&format!("{path}?format=cmap"), &admin).await;
    assert_eq!(etag(&headers), "\"3\"");
    assert!(!text.contains("meta"), "{text}");

    // Delete the task, then the schema: gone from what serves.
    let (status, _, body) = s
        .send(
            reqwest::Method::DELETE,
            &format!("{TASKS}/api-sync"),
            &admin,
            None,
            Some("\"1\""),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (_, _, pipelines) = s.get("/api/pipelines", &root).await;
    assert!(!pipelines.contains("\"api-sync\""), "{pipelines}");
    let (status, _, body) = s
        .send(reqwest::Method::DELETE, &path, &admin, None, Some("\"3\""))
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, _, _) = s.get(&path, &admin).await;
    assert_eq!(status, 404);
    s.stop().await;
}
