//! The permission matrix of the API (docs/api.md, "Permissions"), walked whole: every
//! endpoint x every role x an object of the caller's own tenant or of another tenant,
//! and without a token or with a revoked one. The expected answers are a table; the
//! same table is printed in docs/api.md, and a test below checks that they agree.

use std::sync::Arc;
use std::time::Duration;

use cmap::engine::{Engine, Options as EngineOptions};
use cmap::serve::server::{self, Options};
use cmap::store::identity::Role;
use cmap::store::{Batch, Op, SledStore, Store, SyncExecution};
use serde_json::json;

use crate::support::api_user;

/// Two tenants, each with a task reading through its own connection (nothing answers
/// at port 9: a run fails at once, which is all a manual run needs here). The acme
/// task names the acme user as a recipient: its executions are that user's own syncs.
const PIPELINE: &str = r#"
schema people {
  source rest.people
  target c_contact
  dedupe external_id(id)
  name = name
}

connection acme-api {
  integration rest
  tenant "acme"
  auth none
  settings { baseUrl: "http://127.0.0.1:9", path: "/people" }
}

connection globex-api {
  integration rest
  tenant "globex"
  auth none
  settings { baseUrl: "http://127.0.0.1:9", path: "/people" }
}

task acme-sync {
  schema people
  connection acme-api
  notify on failure -> "user@acme.test"
}

task globex-sync { schema people  connection globex-api }
"#;

/// What an answer means for authorization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Authorized: 2xx, or a 409 about the object's state (running, not running), or
    /// a 412 (a `PATCH`/`DELETE` is sent with a stale `If-Match`, so it changes nothing).
    Served,
    /// 401: no valid token.
    Unauthenticated,
    /// 403: the role may not do this.
    Forbidden,
    /// 404: not visible (another tenant's object, or not one's own sync).
    NotFound,
}
use Outcome::{Forbidden, NotFound, Served, Unauthenticated};

/// Who asks.
#[derive(Clone, Copy, Debug)]
enum Caller {
    User,
    TenantAdmin,
    SuperAdmin,
    NoToken,
    Revoked,
}

/// One endpoint: method, path with `{task}` / `{execution}` filled per tenant, and the
/// expected outcome for (user, tenant admin, super admin), on the caller's own tenant's
/// object and on another tenant's. Without a token or with a revoked one, every
/// endpoint is 401.
struct Row {
    method: &'static str,
    path: &'static str,
    own: [Outcome; 3],
    other: [Outcome; 3],
}

/// The matrix (docs/api.md prints the same). A super admin reaches another tenant's
/// objects by naming it in `X-Tenant-Id`.
const MATRIX: &[Row] = &[
    Row {
        method: "POST",
        path: "/api/tasks/{task}/run",
        own: [Forbidden, Served, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "POST",
        path: "/api/tasks/{task}/pause",
        own: [Forbidden, Served, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "POST",
        path: "/api/tasks/{task}/resume",
        own: [Forbidden, Served, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "GET",
        path: "/api/executions",
        own: [Served, Served, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "GET",
        path: "/api/executions/{execution}",
        own: [Served, Served, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "GET",
        path: "/api/executions/{execution}/logs",
        own: [Served, Served, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "POST",
        path: "/api/executions/{execution}/cancel",
        own: [Forbidden, Served, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "POST",
        path: "/api/tenant/integrations/{integration}/tasks/{task}/run",
        own: [Forbidden, Served, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "POST",
        path: "/api/tenant/integrations/{integration}/tasks/{task}/pause",
        own: [Forbidden, Served, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "POST",
        path: "/api/tenant/integrations/{integration}/tasks/{task}/resume",
        own: [Forbidden, Served, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "GET",
        path: "/api/tenant/integrations/{integration}/executions",
        own: [Served, Served, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "GET",
        path: "/api/tenant/integrations/{integration}/executions/{execution}",
        own: [Served, Served, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "GET",
        path: "/api/tenant/integrations/{integration}/executions/{execution}/logs",
        own: [Served, Served, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "POST",
        path: "/api/tenant/integrations/{integration}/executions/{execution}/cancel",
        own: [Forbidden, Served, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "POST",
        path: "/api/tenant/integrations/{integration}/executions/{execution}/retry",
        own: [Forbidden, Served, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "POST",
        path: "/api/executions/{execution}/retry",
        own: [Forbidden, Served, Served],
        other: [NotFound, NotFound, Served],
    },
    // Conversion schemas and sync tasks (docs/api.md): reading them is configuring
    // them, so users are refused; writes are walked in tests/documents_api.rs.
    Row {
        method: "GET",
        path: "/api/tenant/integrations/{integration}/schemas",
        own: [Forbidden, Served, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "GET",
        path: "/api/tenant/integrations/{integration}/tasks",
        own: [Forbidden, Served, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "GET",
        path: "/api/integrations",
        own: [Served, Served, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "GET",
        path: "/api/integrations/{id}",
        own: [Served, Served, Served],
        other: [NotFound, NotFound, Served],
    },
    // Connections (src/serve/connect.rs).
    Row {
        method: "POST",
        path: "/api/tenant/integrations/{integration}/connect",
        own: [Forbidden, Served, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "POST",
        path: "/api/tenant/integrations/{integration}/disconnect",
        own: [Forbidden, Served, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "GET",
        path: "/api/tenant/integrations/{integration}/connection",
        own: [Served, Served, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "POST",
        path: "/api/tenant/integrations/{integration}/test",
        own: [Forbidden, Served, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "PUT",
        path: "/api/admin/connections/{integration}",
        own: [Forbidden, Forbidden, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "GET",
        path: "/api/admin/connections/{integration}",
        own: [Forbidden, Forbidden, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "DELETE",
        path: "/api/admin/connections/{integration}",
        own: [Forbidden, Forbidden, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "GET",
        path: "/api/tenant/integrations",
        own: [Served, Served, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "GET",
        path: "/api/tenant/integrations/{integration}",
        own: [Served, Served, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "PATCH",
        path: "/api/tenant/integrations/{integration}",
        own: [Forbidden, Served, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "DELETE",
        path: "/api/tenant/integrations/{integration}",
        own: [Forbidden, Served, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "GET",
        path: "/api/admin/integrations",
        own: [Forbidden, Forbidden, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "DELETE",
        path: "/api/admin/integrations/{id}",
        own: [Forbidden, Forbidden, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "GET",
        path: "/api/admin/audit",
        own: [Forbidden, Forbidden, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "GET",
        path: "/api/pipelines",
        own: [Forbidden, Forbidden, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "POST",
        path: "/api/reload",
        own: [Forbidden, Forbidden, Served],
        other: [NotFound, NotFound, Served],
    },
    Row {
        method: "GET",
        path: "/metrics",
        own: [Forbidden, Forbidden, Served],
        other: [NotFound, NotFound, Served],
    },
];

/// A stored execution of `task` in `tenant`, finished a minute ago (recent: serve
/// prunes old ones when it starts).
fn execution(tenant: &str, id: &str, task: &str) -> SyncExecution {
    let started = chrono::Utc::now() - chrono::TimeDelta::minutes(1);
    let completed = started + chrono::TimeDelta::seconds(1);
    serde_json::from_value(json!({
        "id": id, "tenantId": tenant, "syncTaskId": task, "tenantIntegrationId": "rest",
        "startedAt": started, "completedAt": completed,
        "durationMs": 1000, "triggeredBy": "schedule", "status": "success",
        "progress": {"phase": "complete", "processedRecords": 0, "percentage": 100.0},
        "results": {"fetched": 0, "created": 0, "updated": 0, "skipped": 0, "failed": 0},
        "errors": [], "retryCount": 0
    }))
    .expect("an execution")
}

pub(crate) struct World {
    pub(crate) base: String,
    pub(crate) client: reqwest::Client,
    /// user, tenant admin (both of acme), super admin, revoked (an acme admin's).
    pub(crate) tokens: [String; 4],
    /// globex's tenant admin.
    pub(crate) globex: String,
    pub(crate) stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

/// Two tenants (acme, globex) with a task and executions each, the users of
/// [`World::tokens`], and `cmap serve` over them on 127.0.0.1:0.
pub(crate) async fn world() -> World {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("pipelines")).expect("mkdir");
    std::fs::write(dir.path().join("pipelines/p.cmap"), PIPELINE).expect("write");
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&dir.path().join("data")).expect("store"));
    let user = api_user(&*store, "user@acme.test", Role::User, Some("acme"));
    let admin = api_user(&*store, "admin@acme.test", Role::TenantAdmin, Some("acme"));
    let root = api_user(&*store, "root@example.com", Role::SuperAdmin, None);
    let revoked = api_user(&*store, "gone@acme.test", Role::TenantAdmin, Some("acme"));
    let revoked_id = &revoked["cmap_".len().."cmap_".len() + 16];
    store
        .revoke_api_token(revoked_id, chrono::Utc::now())
        .expect("revoke");
    let globex = api_user(
        &*store,
        "admin@globex.test",
        Role::TenantAdmin,
        Some("globex"),
    );
    // acme-e2 is of a task that does not name the acme user: not their own sync.
    for (tenant, id, task) in [
        ("acme", "acme-e1", "acme-sync"),
        ("acme", "acme-e2", "acme-quiet"),
        ("globex", "globex-e1", "globex-sync"),
    ] {
        let mut batch = Batch::new(tenant);
        batch.push(Op::PutExecution(execution(tenant, id, task)));
        store.commit(batch).expect("commit");
    }
    // Each tenant has the `rest` integration enabled (the tenant integration endpoints'
    // object).
    for tenant in ["acme", "globex"] {
        let at = chrono::Utc::now();
        let record = cmap::store::tenant_integration::TenantIntegration {
            id: "rest".into(),
            tenant_id: tenant.into(),
            integration_id: "rest".into(),
            status: cmap::store::tenant_integration::IntegrationStatus::Pending,
            enabled_at: at,
            enabled_by: "cli".into(),
            connection_id: None,
            last_connected_at: None,
            connection_error: None,
            settings: Default::default(),
            authorization_url: None,
            token_url: None,
            created_at: at,
            updated_at: at,
            version: 0,
        };
        store
            .create_tenant_integration(&record, None)
            .expect("enable rest");
    }
    let engine = Arc::new(Engine::new(store, None, EngineOptions::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let options = Options {
        pipelines: dir.path().join("pipelines"),
        watch: false,
        ..Options::default()
    };
    tokio::spawn(server::run(options, engine, listener, None, async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    // Bounded wait for the first load.
    for _ in 0..500 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status() == 200 {
                return World {
                    base,
                    client,
                    tokens: [user, admin, root, revoked],
                    globex,
                    stop: Some(stop),
                    _dir: dir,
                };
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the server never became ready");
}

impl World {
    /// The outcome of `row` for `caller` on the object of `tenant` (`acme`: the
    /// caller's own; `globex`: another's).
    async fn ask(&self, row: &Row, caller: Caller, tenant: &str) -> (Outcome, u16, String) {
        let path = row
            .path
            .replace("{task}", &format!("{tenant}-sync"))
            .replace("{execution}", &format!("{tenant}-e1"))
            .replace("{integration}", "rest")
            .replace("{id}", "rest");
        let url = format!("{}{path}", self.base);
        let mut request = match row.method {
            "GET" => self.client.get(url),
            "PATCH" => self
                .client
                .patch(url)
                .header("if-match", "\"999\"")
                .json(&json!({})),
            "PUT" => self.client.put(url),
            "DELETE" => self.client.delete(url).header("if-match", "\"999\""),
            _ => self.client.post(url),
        };
        let token = match caller {
            Caller::User => Some(&self.tokens[0]),
            Caller::TenantAdmin => Some(&self.tokens[1]),
            Caller::SuperAdmin => Some(&self.tokens[2]),
            Caller::Revoked => Some(&self.tokens[3]),
            Caller::NoToken => None,
        };
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        // Collections have no object: "another tenant" is asking for that tenant's.
        // A super admin always names the tenant it acts in.
        let names_tenant = matches!(caller, Caller::SuperAdmin)
            || (tenant != "acme"
                && !row.path.contains("{task}")
                && !row.path.contains("{execution}"));
        if names_tenant {
            request = request.header("x-tenant-id", tenant);
        }
        let response = request.send().await.expect("answered");
        let status = response.status().as_u16();
        let challenge = response.headers().get("www-authenticate").cloned();
        let body = response.text().await.unwrap_or_default();
        let outcome = match status {
            200..=299 | 409 | 412 => Served,
            401 => {
                assert_eq!(
                    challenge.as_ref().and_then(|v| v.to_str().ok()),
                    Some("Bearer"),
                    "a 401 challenges for a bearer token: {body}"
                );
                Unauthenticated
            }
            403 => Forbidden,
            404 => NotFound,
            other => panic!("{} {path}: unexpected {other}: {body}", row.method),
        };
        (outcome, status, body)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_answers_every_role_and_tenant_as_the_matrix_says() {
    let mut w = world().await;
    let mut wrong = Vec::new();
    for row in MATRIX {
        for (tenant, expected) in [("acme", row.own), ("globex", row.other)] {
            let callers = [Caller::User, Caller::TenantAdmin, Caller::SuperAdmin];
            for (caller, want) in callers.into_iter().zip(expected) {
                let (got, status, body) = w.ask(row, caller, tenant).await;
                if got != want {
                    wrong.push(format!(
                        "{} {} as {caller:?} on {tenant}'s: want {want:?}, got {status} {body}",
                        row.method, row.path
                    ));
                }
            }
            for caller in [Caller::NoToken, Caller::Revoked] {
                let (got, status, body) = w.ask(row, caller, tenant).await;
                if got != Unauthenticated {
                    wrong.push(format!(
                        "{} {} as {caller:?}: want 401, got {status} {body}",
                        row.method, row.path
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    if let Some(stop) = w.stop.take() {
        let _ = stop.send(());
    }
}

/// A 404 for another tenant's object says the same as for one that does not exist:
/// the body does not tell them apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_objects_look_exactly_like_missing_ones() {
    let mut w = world().await;
    let admin = &w.tokens[1];
    for (theirs, missing) in [
        ("/api/executions/globex-e1", "/api/executions/nobody-e1"),
        (
            "/api/tasks/globex-sync/pause",
            "/api/tasks/nobody-sync/pause",
        ),
    ] {
        let method = if theirs.ends_with("pause") {
            reqwest::Method::POST
        } else {
            reqwest::Method::GET
        };
        let ask = |path: &str| {
            w.client
                .request(method.clone(), format!("{}{path}", w.base))
                .bearer_auth(admin)
                .send()
        };
        let a = ask(theirs).await.expect("answered");
        let b = ask(missing).await.expect("answered");
        assert_eq!((a.status().as_u16(), b.status().as_u16()), (404, 404));
        let a: serde_json::Value = a.json().await.expect("JSON");
        let b: serde_json::Value = b.json().await.expect("JSON");
        let same =
            |v: &serde_json::Value| v.to_string().replace("globex", "X").replace("nobody", "X");
        assert_eq!(same(&a), same(&b));
    }
    // Naming another tenant is the same 404 as naming none that exists.
    for tenant in ["globex", "nobody"] {
        let r = w
            .client
            .get(format!("{}/api/executions", w.base))
            .bearer_auth(admin)
            .header("x-tenant-id", tenant)
            .send()
            .await
            .expect("answered");
        assert_eq!(r.status(), 404);
        let body: serde_json::Value = r.json().await.expect("JSON");
        assert_eq!(body["code"], "tenant_not_found");
    }
    // A user lists their own syncs only; the tenant admin, every one of the tenant.
    for (token, expected) in [(&w.tokens[0], 1), (&w.tokens[1], 2)] {
        let r = w
            .client
            .get(format!("{}/api/executions", w.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("answered");
        let body: serde_json::Value = r.json().await.expect("JSON");
        let ids: Vec<_> = body["executions"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|e| e["id"].as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(ids.len(), expected, "{body}");
        assert!(ids.iter().all(|id| id.starts_with("acme-")), "{body}");
    }
    if let Some(stop) = w.stop.take() {
        let _ = stop.send(());
    }
}

/// docs/api.md prints the matrix this test walks: the two must agree, row by row.
#[test]
fn the_documented_matrix_is_the_tested_one() {
    let docs =
        std::fs::read_to_string(crate::support::root().join("docs/api.md")).expect("docs/api.md");
    let mark = |o: Outcome| match o {
        Served => "✓",
        Unauthenticated => "401",
        Forbidden => "403",
        NotFound => "404",
    };
    let mut missing = Vec::new();
    for row in MATRIX {
        let cells: Vec<&str> = row.own.iter().chain(&row.other).map(|o| mark(*o)).collect();
        let line = format!("| `{} {}` | {} |", row.method, row.path, cells.join(" | "));
        if !docs.contains(&line) {
            missing.push(line);
        }
    }
    assert!(
        missing.is_empty(),
        "docs/api.md lacks these rows of the matrix:\n{}",
        missing.join("\n")
    );
}

/// A failed execution is retried at the spec's path: a new execution of its task,
/// `triggeredBy: retry`, `retryOf` it, by the caller. A successful one is not retried
/// (409), and under another integration's path the execution does not exist (404).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_execution_is_retried_with_retry_of() {
    let mut w = world().await;
    let admin = w.tokens[1].clone();
    let post = |path: String| {
        w.client
            .post(format!("{}{path}", w.base))
            .bearer_auth(&admin)
            .send()
    };
    // The run fails (nothing listens at port 9): then it is retried.
    let r = post("/api/tenant/integrations/rest/tasks/acme-sync/run".into())
        .await
        .expect("answered");
    assert_eq!(r.status(), 202);
    let list = |query: &'static str| {
        let (client, base, admin) = (w.client.clone(), w.base.clone(), admin.clone());
        async move {
            let r = client
                .get(format!(
                    "{base}/api/tenant/integrations/rest/executions?{query}"
                ))
                .bearer_auth(&admin)
                .send()
                .await
                .expect("answered");
            let body: serde_json::Value = r.json().await.expect("JSON");
            body["executions"].as_array().cloned().unwrap_or_default()
        }
    };
    let mut failed = Vec::new();
    for _ in 0..500 {
        failed = list("status=failed").await;
        if !failed.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let failed_id = failed
        .first()
        .and_then(|e| e["id"].as_str())
        .expect("the run failed")
        .to_string();
    let r = post(format!(
        "/api/tenant/integrations/rest/executions/{failed_id}/retry"
    ))
    .await
    .expect("answered");
    assert_eq!(r.status(), 202);
    let body: serde_json::Value = r.json().await.expect("JSON");
    assert_eq!(body["retryOf"], failed_id.as_str(), "{body}");
    let mut retry = None;
    for _ in 0..500 {
        retry = list("task=acme-sync")
            .await
            .into_iter()
            .find(|e| e["retryOf"] == failed_id.as_str() && e["status"] != "running");
        if retry.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let retry = retry.expect("the retry ran");
    assert_eq!(retry["triggeredBy"], "retry", "{retry}");
    assert!(retry["triggeredByUserId"].is_string(), "{retry}");

    let r = post("/api/tenant/integrations/rest/executions/acme-e1/retry".into())
        .await
        .expect("answered");
    assert_eq!(r.status(), 409, "a successful execution is not retried");
    let body: serde_json::Value = r.json().await.expect("JSON");
    assert_eq!(body["code"], "execution_not_retryable");
    let r = post(format!(
        "/api/tenant/integrations/salesforce/executions/{failed_id}/retry"
    ))
    .await
    .expect("answered");
    assert_eq!(r.status(), 404, "not an execution of that integration");
    if let Some(stop) = w.stop.take() {
        let _ = stop.send(());
    }
}

/// The catalogue: users and tenant admins see the public integrations; a
/// `superadmin_only` one (Google News) is 404 to them, like one that does not exist,
/// and listed for super admins only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn superadmin_only_integrations_are_invisible_to_others() {
    let mut w = world().await;
    for (token, sees) in [
        (&w.tokens[0], false),
        (&w.tokens[1], false),
        (&w.tokens[2], true),
    ] {
        let r = w
            .client
            .get(format!("{}/api/integrations/google-news", w.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("answered");
        assert_eq!(r.status().as_u16(), if sees { 200 } else { 404 });
        let r = w
            .client
            .get(format!("{}/api/integrations?limit=1000", w.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("answered");
        let body: serde_json::Value = r.json().await.expect("JSON");
        let ids: Vec<&str> = body["integrations"]
            .as_array()
            .expect("a list")
            .iter()
            .filter_map(|d| d["id"].as_str())
            .collect();
        assert!(ids.contains(&"salesforce"), "{ids:?}");
        assert_eq!(ids.contains(&"google-news"), sees, "{ids:?}");
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "in id order");
    }
    // Paged: two at a time, the same list.
    let admin = &w.tokens[2];
    let mut cursor: Option<String> = None;
    let mut paged = Vec::new();
    loop {
        let url = match &cursor {
            None => format!("{}/api/integrations?limit=2", w.base),
            Some(c) => format!("{}/api/integrations?limit=2&cursor={c}", w.base),
        };
        let r = w
            .client
            .get(url)
            .bearer_auth(admin)
            .send()
            .await
            .expect("answered");
        let body: serde_json::Value = r.json().await.expect("JSON");
        let page = body["integrations"].as_array().expect("a list");
        assert!(page.len() <= 2);
        paged.extend(
            page.iter()
                .filter_map(|d| d["id"].as_str().map(str::to_string)),
        );
        match body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert!(paged.len() >= 9, "{paged:?}");
    assert!(paged.windows(2).all(|w| w[0] < w[1]), "{paged:?}");
    if let Some(stop) = w.stop.take() {
        let _ = stop.send(());
    }
}
