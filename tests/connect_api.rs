//! The connect endpoints over HTTP (docs/api.md, "Connections"), against the mock OAuth
//! provider and a mock API on 127.0.0.1: the whole OAuth flow as a browser does it, its
//! failures (expired, replayed, forged state; denied consent; token endpoint errors),
//! the return URL's origin, connect without --public-url, api_key connect and /test,
//! disconnect with revocation, and system-scope connections. No secret may appear in a
//! response, the audit log or the captured logs.

use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use chrono::Utc;
use cmap::engine::catalogue::check_definition;
use cmap::engine::{Engine, Options as EngineOptions};
use cmap::serve::origin::PublicUrl;
use cmap::serve::server::{self, Options};
use cmap::span::SourceKind;
use cmap::store::crypto::Keyring;
use cmap::store::identity::Role;
use cmap::store::{
    IntegrationDefEntry, IntegrationStatus, OAuthState, SledStore, Store, TenantIntegration,
};
use serde_json::{json, Value};

use crate::support::logs::logged;
use crate::support::mock_oauth::{self, TokenMode, CLIENT_ID, CLIENT_SECRET};
use crate::support::{api_client, api_user};

/// The API key of the mock API (a secret: it must appear in no response or log).
const API_KEY: &str = "mock-api-key-7f3a9c";

/// An OAuth integration of the catalogue whose login URLs are not the mock's (the
/// tenant integration overrides them) and whose revocation endpoint is.
fn oauth_definition(revoke: &str) -> String {
    format!(
        r##"integration mockcrm "Mock CRM" {{
  description "Contacts from a mock provider"
  category crm
  icon "mock"
  color "#123456"
  capabilities read
  directions pull
  auth oauth2 {{
    authorizationUrl: "https://login.mockcrm.example/authorize"
    tokenUrl: "https://login.mockcrm.example/token"
    revokeUrl: "{revoke}"
    scopes: ["api", "refresh_token"]
    clientId: "{CLIENT_ID}"
    clientSecret: stored
    pkce: true
  }}
  entities salesforce.Contact
  version "1.0.0"
}}
"##
    )
}

const API_DEFINITION: &str = r##"integration mockapi "Mock API" {
  description "People from a mock API"
  category custom
  icon "mock"
  color "#654321"
  capabilities read
  directions pull
  auth api_key
  version "1.0.0"
}
"##;

struct Server {
    base: String,
    store: Arc<dyn Store>,
    provider: mock_oauth::Handle,
    /// acme's tenant admin, globex's tenant admin, a super admin.
    admin: reqwest::Client,
    globex: reqwest::Client,
    root: reqwest::Client,
    /// Follows no redirect and sends no token: the browser.
    browser: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A mock API answering `GET /people` to `Authorization: Bearer API_KEY` only.
async fn mock_api() -> String {
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let app = axum::Router::new().route(
        "/people",
        get(|headers: HeaderMap| async move {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            if auth == format!("Bearer {API_KEY}") {
                (
                    axum::http::StatusCode::OK,
                    axum::Json(json!([{"id": "1", "name": "Ada"}])),
                )
            } else {
                (
                    axum::http::StatusCode::UNAUTHORIZED,
                    axum::Json(json!({"error": "bad key"})),
                )
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

fn tenant_integration(
    tenant: &str,
    id: &str,
    overrides: Option<&mock_oauth::Handle>,
) -> TenantIntegration {
    let now = Utc::now();
    TenantIntegration {
        id: id.into(),
        tenant_id: tenant.into(),
        integration_id: id.into(),
        status: IntegrationStatus::Pending,
        enabled_at: now,
        enabled_by: "u-1".into(),
        connection_id: None,
        last_connected_at: None,
        connection_error: None,
        settings: Default::default(),
        authorization_url: overrides.map(|p| p.authorize_url()),
        token_url: overrides.map(|p| p.token_url()),
        created_at: now,
        updated_at: now,
        version: 0,
    }
}

/// `cmap serve` over a store holding the two definitions, tenants acme and globex
/// (each with `mockcrm` and `mockapi` enabled, acme's pointed at the mock provider),
/// and a pipeline whose task reads the mock API through acme's `mockapi` connection.
/// `public` says whether it runs with --public-url.
async fn server(public: bool) -> Server {
    let provider = mock_oauth::start().await;
    let api = mock_api().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let pipelines = dir.path().join("pipelines");
    std::fs::create_dir_all(&pipelines).expect("mkdir");
    std::fs::write(
        pipelines.join("p.cmap"),
        format!(
            r#"
schema people {{
  source rest.people
  target c_contact
  dedupe external_id(id)
  name = name
}}
connection mockapi {{
  integration rest
  tenant "acme"
  auth api_key {{ apiKey: stored }}
  settings {{ baseUrl: "{api}", path: "/people" }}
}}
task acme-people {{ schema people  connection mockapi }}
"#
        ),
    )
    .expect("write");
    let data = dir.path().join("data");
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&data).expect("store"));
    let keyring = Arc::new(Keyring::load(&data, None).expect("keyring"));
    for text in [
        oauth_definition(&provider.revoke_url()),
        API_DEFINITION.to_string(),
    ] {
        let accepted = check_definition(&text, SourceKind::Cmap)
            .unwrap_or_else(|r| panic!("the definition checks: {}", r.to_json()));
        let id = if text.contains("mockcrm") {
            "mockcrm"
        } else {
            "mockapi"
        };
        store
            .put_integration_def(
                id,
                &IntegrationDefEntry::Definition {
                    seed_json: accepted.seed_json,
                },
            )
            .expect("put definition");
    }
    let admin = api_user(&*store, "admin@acme.test", Role::TenantAdmin, Some("acme"));
    let globex = api_user(
        &*store,
        "admin@globex.test",
        Role::TenantAdmin,
        Some("globex"),
    );
    let root = api_user(&*store, "root@example.com", Role::SuperAdmin, None);
    for tenant in ["acme", "globex"] {
        let overrides = (tenant == "acme").then_some(&provider);
        for id in ["mockcrm", "mockapi"] {
            store
                .create_tenant_integration(&tenant_integration(tenant, id, overrides), None)
                .expect("create tenant integration");
        }
    }
    let engine = Arc::new(Engine::new(
        store.clone(),
        Some(keyring),
        EngineOptions::default(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let mut http = cmap::serve::http::Config::default();
    if public {
        http.public_url = Some(PublicUrl::parse(&base).expect("a public URL"));
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let options = Options {
        pipelines,
        watch: false,
        http,
        ..Options::default()
    };
    tokio::spawn(server::run(options, engine, listener, None, async {
        let _ = stopped.await;
    }));
    let probe = reqwest::Client::new();
    for _ in 0..500 {
        if let Ok(r) = probe.get(format!("{base}/readyz")).send().await {
            if r.status() == 200 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    Server {
        base,
        store,
        provider,
        admin: api_client(&admin),
        globex: api_client(&globex),
        root: api_client(&root),
        browser,
        stop: Some(stop),
        _dir: dir,
    }
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stores the OAuth client secret of `mockcrm` as its system-scope connection.
    async fn store_client_secret(&self) {
        let r = self
            .root
            .put(self.url("/api/admin/connections/mockcrm"))
            .json(&json!({"clientSecret": CLIENT_SECRET}))
            .send()
            .await
            .expect("answered");
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    }

    /// Connect: the provider's authorization URL for acme's `mockcrm`.
    async fn begin(&self, return_url: &str) -> String {
        let r = self
            .admin
            .post(self.url("/api/tenant/integrations/mockcrm/connect"))
            .json(&json!({"returnUrl": return_url}))
            .send()
            .await
            .expect("answered");
        let status = r.status();
        let body: Value = r.json().await.expect("JSON");
        assert_eq!(status, 200, "{body}");
        body["authorizationUrl"]
            .as_str()
            .expect("an authorization URL")
            .to_string()
    }

    /// The browser at the provider: where the provider sends it back (the callback).
    async fn consent(&self, authorization_url: &str) -> String {
        let r = self
            .browser
            .get(authorization_url)
            .send()
            .await
            .expect("the provider answers");
        assert_eq!(r.status(), 302);
        location(&r)
    }

    /// The browser at the callback: its status and where it is sent.
    async fn callback(&self, url: &str) -> (u16, String, Value) {
        let r = self.browser.get(url).send().await.expect("answered");
        let status = r.status().as_u16();
        let to = location(&r);
        let body = r.json::<Value>().await.unwrap_or(Value::Null);
        (status, to, body)
    }

    async fn tenant_integration(&self, tenant: &str, id: &str) -> TenantIntegration {
        self.store
            .tenant_integration(tenant, id)
            .expect("read")
            .expect("stored")
    }

    async fn get(&self, client: &reqwest::Client, path: &str) -> (u16, Value) {
        let r = client.get(self.url(path)).send().await.expect("answered");
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn post(
        &self,
        client: &reqwest::Client,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = client.post(self.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let r = request.send().await.expect("answered");
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// The whole flow as a browser does it: connect, consent at the provider, callback,
/// back at the return URL; connected, the connection active, the tokens stored
/// encrypted and in no response, audit entry or log line; disconnect revokes and
/// deletes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oauth_flow_connects_and_disconnect_revokes() {
    let s = server(true).await;
    let ((), logs) = logged(async {
        s.store_client_secret().await;
        let return_url = s.url("/app/integrations?tab=mockcrm");
        let authorize = s.begin(&return_url).await;
        assert!(
            authorize.starts_with(&s.provider.authorize_url()),
            "the tenant's override: {authorize}"
        );
        assert!(
            authorize.contains("code_challenge_method=S256"),
            "{authorize}"
        );
        let callback = s.consent(&authorize).await;
        assert!(
            callback.starts_with(&s.url("/api/tenant/integrations/mockcrm/oauth/callback?")),
            "{callback}"
        );
        let (status, to, _) = s.callback(&callback).await;
        assert_eq!(status, 303);
        assert_eq!(to, format!("{return_url}&connected=mockcrm"));

        let ti = s.tenant_integration("acme", "mockcrm").await;
        assert_eq!(ti.status, IntegrationStatus::Connected);
        assert_eq!(ti.connection_id.as_deref(), Some("mockcrm"));
        assert!(ti.last_connected_at.is_some() && ti.connection_error.is_none());
        let (status, connection) = s
            .get(&s.admin, "/api/tenant/integrations/mockcrm/connection")
            .await;
        assert_eq!(status, 200, "{connection}");
        assert_eq!(connection["status"], "active", "{connection}");
        assert_eq!(connection["connected"], true);
        assert_eq!(connection["scope"], "tenant", "{connection}");
        assert_eq!(
            connection["oauth"]["scope"],
            json!(["api", "refresh_token"]),
            "{connection}"
        );
        assert!(connection["expiresAt"].is_string(), "{connection}");
        assert!(connection.get("credentials").is_none(), "{connection}");

        // Stored encrypted: no token in the store's files.
        let tokens = s.provider.tokens();
        assert_eq!(tokens.len(), 2);
        // Every answer and the audit log are free of the tokens and the client secret.
        let audit = s
            .store
            .audit_entries(&Default::default(), &Default::default())
            .map(|p| serde_json::to_string(&p.items).unwrap_or_default())
            .expect("the audit log");
        assert!(audit.contains("credentials.set"), "{audit}");
        assert!(
            audit.contains("admin@acme.test"),
            "the connect is the user's who began it: {audit}"
        );
        for text in [connection.to_string(), audit] {
            for secret in tokens.iter().map(String::as_str).chain([CLIENT_SECRET]) {
                assert!(!text.contains(secret), "a secret leaked: {text}");
            }
        }

        // The callback again (the browser's back button): the state was used.
        let (status, _, body) = s.callback(&callback).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("state_unknown")),
            "{body}"
        );

        // Disconnect: the refresh token is revoked at the provider, the secrets deleted.
        let (status, body) = s
            .post(
                &s.admin,
                "/api/tenant/integrations/mockcrm/disconnect",
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body,
            json!({"deleted": true, "revocation": "revoked", "revocationError": null})
        );
        assert_eq!(
            s.provider.revoked(),
            vec![(tokens[1].clone(), Some("refresh_token".into()))]
        );
        assert_eq!(
            s.tenant_integration("acme", "mockcrm").await.status,
            IntegrationStatus::Pending
        );
        let (_, connection) = s
            .get(&s.admin, "/api/tenant/integrations/mockcrm/connection")
            .await;
        assert_eq!(connection["connected"], false, "{connection}");
        assert!(cmap::engine::own_record(&*s.store, "acme", "mockcrm")
            .expect("read")
            .is_none());
    })
    .await;
    for secret in s
        .provider
        .tokens()
        .iter()
        .map(String::as_str)
        .chain([CLIENT_SECRET])
    {
        assert!(!logs.contains(secret), "a secret reached the log");
    }
}

/// Sets the mock provider up for one case.
type Arrange = Box<dyn Fn(&mock_oauth::Handle)>;

/// Every failure after a valid state stores nothing, sends the browser back with
/// `?error=CODE` and records the error on the tenant integration; an unknown, forged
/// or expired state has no trusted return URL: 400 with a stable code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_flows_store_nothing_and_say_why() {
    let s = server(true).await;
    s.store_client_secret().await;
    let return_url = s.url("/app/back");
    let cases: [(&str, Arrange); 3] = [
        ("consent_denied", Box::new(|p| p.deny_consent(true))),
        (
            "token_exchange_failed",
            Box::new(|p| {
                p.deny_consent(false);
                p.token_mode(TokenMode::InvalidGrant)
            }),
        ),
        (
            "provider_unavailable",
            Box::new(|p| p.token_mode(TokenMode::ServerError)),
        ),
    ];
    for (code, arrange) in cases {
        arrange(&s.provider);
        let callback = s.consent(&s.begin(&return_url).await).await;
        let (status, to, _) = s.callback(&callback).await;
        assert_eq!(
            (status, to.as_str()),
            (303, format!("{return_url}?error={code}").as_str()),
            "{code}"
        );
        let ti = s.tenant_integration("acme", "mockcrm").await;
        assert_eq!(ti.status, IntegrationStatus::Pending, "{code}");
        let error = ti.connection_error.unwrap_or_default();
        assert!(
            !error.is_empty() && !error.contains(CLIENT_SECRET),
            "{code}: {error}"
        );
        assert!(
            cmap::engine::own_record(&*s.store, "acme", "mockcrm")
                .expect("read")
                .is_none(),
            "{code}: nothing stored"
        );
    }
    s.provider.token_mode(TokenMode::Normal);

    // A forged state, and none at all.
    for query in ["state=forged-state&code=x", "code=x", ""] {
        let (status, _, body) = s
            .callback(&s.url(&format!(
                "/api/tenant/integrations/mockcrm/oauth/callback?{query}"
            )))
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("state_unknown")),
            "{query}: {body}"
        );
    }
    // A valid state at another integration's callback path: refused, nothing stored.
    let callback = s.consent(&s.begin(&return_url).await).await;
    let elsewhere = callback.replace("/mockcrm/oauth/", "/mockapi/oauth/");
    let (status, _, body) = s.callback(&elsewhere).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("state_mismatch")),
        "{body}"
    );
    assert!(cmap::engine::own_record(&*s.store, "acme", "mockcrm")
        .expect("read")
        .is_none());

    // An expired state: stored as the flow left it, expired 11 minutes later.
    let callback = s.consent(&s.begin(&return_url).await).await;
    let state = url::Url::parse(&callback)
        .expect("URL")
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("a state");
    let hash = cmap::engine::connect::state_hash(&state);
    let mut record: OAuthState = s
        .store
        .take_oauth_state(&hash)
        .expect("read")
        .expect("stored");
    record.expires_at = Utc::now() - chrono::Duration::minutes(1);
    s.store
        .put_oauth_state(&hash, &record, Utc::now() - chrono::Duration::minutes(11))
        .expect("put");
    let (status, _, body) = s.callback(&callback).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("state_expired")),
        "{body}"
    );
    assert!(cmap::engine::own_record(&*s.store, "acme", "mockcrm")
        .expect("read")
        .is_none());
}

/// The return URL must be on the public URL's origin (no open redirect); without
/// --public-url an OAuth connect says how to set it; another tenant's integration is 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_refuses_foreign_return_urls_and_needs_a_public_url() {
    let s = server(true).await;
    s.store_client_secret().await;
    for bad in [
        "https://evil.example/steal",
        "not a url",
        "javascript:alert(1)",
    ] {
        let (status, body) = s
            .post(
                &s.admin,
                "/api/tenant/integrations/mockcrm/connect",
                Some(json!({"returnUrl": bad})),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("bad_return_url")),
            "{bad}: {body}"
        );
    }
    // A tenant integration only globex has is 404 to acme, like a missing one.
    s.store
        .delete_tenant_integration("acme", "mockapi", None, None)
        .expect("delete");
    let (status, body) = s
        .post(
            &s.admin,
            "/api/tenant/integrations/mockapi/connect",
            Some(json!({"apiKey": API_KEY})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("tenant_integration_not_found")),
        "{body}"
    );
    let (status, _) = s
        .post(
            &s.globex,
            "/api/tenant/integrations/mockapi/connect",
            Some(json!({"apiKey": API_KEY})),
        )
        .await;
    assert_eq!(status, 200);

    let s = server(false).await;
    s.store_client_secret().await;
    let (status, body) = s
        .post(
            &s.admin,
            "/api/tenant/integrations/mockcrm/connect",
            Some(json!({"returnUrl": s.url("/app")})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("no_public_url")),
        "{body}"
    );
    assert!(
        body["help"]
            .as_str()
            .unwrap_or_default()
            .contains("--public-url"),
        "{body}"
    );
}

/// api_key: connect stores the key, /test reads the mock API through the task that
/// uses the connection, disconnect deletes; the key is in no answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_key_connects_and_tests() {
    let s = server(true).await;
    let (status, body) = s
        .post(&s.admin, "/api/tenant/integrations/mockapi/test", None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("not_connected")),
        "{body}"
    );
    let (status, body) = s
        .post(
            &s.admin,
            "/api/tenant/integrations/mockapi/connect",
            Some(json!({"apiKey": ""})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("bad_credentials")),
        "{body}"
    );
    let (status, connected) = s
        .post(
            &s.admin,
            "/api/tenant/integrations/mockapi/connect",
            Some(json!({"apiKey": API_KEY})),
        )
        .await;
    assert_eq!(status, 200, "{connected}");
    assert_eq!(connected["status"], "active");
    assert_eq!(
        s.tenant_integration("acme", "mockapi").await.status,
        IntegrationStatus::Connected
    );
    let (status, tested) = s
        .post(&s.admin, "/api/tenant/integrations/mockapi/test", None)
        .await;
    assert_eq!(status, 200, "{tested}");
    assert_eq!(tested["ok"], true, "{tested}");
    assert_eq!(tested["records"], 1, "{tested}");
    let (_, connection) = s
        .get(&s.admin, "/api/tenant/integrations/mockapi/connection")
        .await;
    assert!(connection["lastValidatedAt"].is_string(), "{connection}");

    // A wrong key: the test fails, and says so without the key; the cached client was
    // dropped by the connect, so the new key is the one sent.
    let (status, _) = s
        .post(
            &s.admin,
            "/api/tenant/integrations/mockapi/connect",
            Some(json!({"apiKey": "wrong-key-1234"})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, tested) = s
        .post(&s.admin, "/api/tenant/integrations/mockapi/test", None)
        .await;
    assert_eq!(tested["ok"], false, "{tested}");
    let (_, connection) = s
        .get(&s.admin, "/api/tenant/integrations/mockapi/connection")
        .await;
    assert_eq!(connection["status"], "error", "{connection}");
    for text in [
        connected.to_string(),
        tested.to_string(),
        connection.to_string(),
    ] {
        assert!(
            !text.contains(API_KEY) && !text.contains("wrong-key-1234"),
            "{text}"
        );
    }
    let (status, body) = s
        .post(
            &s.admin,
            "/api/tenant/integrations/mockapi/disconnect",
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["revocation"], "not_supported");
    assert!(cmap::engine::own_record(&*s.store, "acme", "mockapi")
        .expect("read")
        .is_none());
}

/// System-scope connections: super admins only; a tenant without its own connection
/// uses the system's, and its own wins once connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_connections_are_super_admin_only_and_a_tenants_own_wins() {
    let s = server(true).await;
    let r = s
        .admin
        .put(s.url("/api/admin/connections/mockapi"))
        .json(&json!({"apiKey": API_KEY}))
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status(), 403);
    // mockapi is tenant-scope: no system connection.
    let r = s
        .root
        .put(s.url("/api/admin/connections/mockapi"))
        .json(&json!({"apiKey": API_KEY}))
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status(), 409);
    // openai is `both`: a system key, then acme's own.
    let r = s
        .root
        .put(s.url("/api/admin/connections/openai"))
        .json(&json!({"apiKey": "system-key-0001"}))
        .send()
        .await
        .expect("answered");
    let body: Value = r.json().await.expect("JSON");
    assert_eq!(body["scope"], "system", "{body}");
    assert!(!body.to_string().contains("system-key-0001"));
    let (status, body) = s.get(&s.root, "/api/admin/connections/openai").await;
    assert_eq!(
        (status, body["connected"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    s.store
        .create_tenant_integration(&tenant_integration("acme", "openai", None), None)
        .expect("enable");
    let (_, body) = s
        .get(&s.admin, "/api/tenant/integrations/openai/connection")
        .await;
    assert_eq!(body["scope"], "system", "acme uses the system's: {body}");
    let (status, _) = s
        .post(
            &s.admin,
            "/api/tenant/integrations/openai/connect",
            Some(json!({"apiKey": "acme-key-0002"})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, body) = s
        .get(&s.admin, "/api/tenant/integrations/openai/connection")
        .await;
    assert_eq!(
        (body["scope"].as_str(), body["tenantId"].as_str()),
        (Some("tenant"), Some("acme")),
        "{body}"
    );
    let r = s
        .root
        .delete(s.url("/api/admin/connections/openai"))
        .send()
        .await
        .expect("answered");
    let body: Value = r.json().await.expect("JSON");
    assert_eq!(body["deleted"], true);
    let (_, body) = s
        .get(&s.admin, "/api/tenant/integrations/openai/connection")
        .await;
    assert_eq!(body["scope"], "tenant", "acme's own stays: {body}");
}

/// A refresh in flight when the grant changes: a client built on the old grant (still
/// in use by a run) refreshes after a connect stored a new grant, or after a
/// disconnect deleted it. Its refreshed token is dropped: the new grant stays, the
/// deleted secrets stay deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_in_flight_never_overwrites_a_new_grant_or_a_disconnect() {
    use crate::support::mock_salesforce;
    let config = mock_salesforce::Config {
        rotate_refresh_tokens: true,
        ..mock_salesforce::Config::default()
    };
    let (_addr, provider) = mock_salesforce::start(config).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let pipelines = dir.path().join("pipelines");
    std::fs::create_dir_all(&pipelines).expect("mkdir");
    std::fs::write(
        pipelines.join("p.cmap"),
        format!(
            r#"connection sf {{
  integration salesforce
  tenant "acme"
  auth oauth2 {{ clientId: "{}", clientSecret: stored, refreshToken: stored, tokenUrl: "{}" }}
  settings {{ instanceUrl: "{}" }}
}}
"#,
            mock_salesforce::CLIENT_ID,
            provider.token_url(),
            provider.base_url()
        ),
    )
    .expect("write");
    let program = cmap::serve::loader::load(&pipelines, None, Utc::now())
        .unwrap_or_else(|r| panic!("the pipeline checks:\n{}", r.rendered))
        .program;
    let connection = program.connection("sf").expect("declared").clone();
    let data = dir.path().join("data");
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&data).expect("store"));
    let keyring = Arc::new(Keyring::load(&data, None).expect("keyring"));
    let secrets = |refresh: &str| {
        let mut m = serde_json::Map::new();
        m.insert("clientSecret".into(), mock_salesforce::CLIENT_SECRET.into());
        m.insert("refreshToken".into(), refresh.into());
        m
    };
    let stored_refresh = || {
        cmap::engine::load_stored(&connection, "acme", &*store, Some(&keyring))
            .expect("read")
            .get("refreshToken")
            .and_then(Value::as_str)
            .map(str::to_string)
    };

    // The old grant's client, then a new grant stored (a connect), then its refresh.
    cmap::engine::save_stored(
        &connection,
        "acme",
        &*store,
        &keyring,
        secrets(&provider.refresh_token()),
        None,
    )
    .expect("store");
    let old = cmap::engine::resolve_auth(&connection, "acme", store.clone(), Some(keyring.clone()))
        .expect("an auth");
    cmap::engine::save_stored(
        &connection,
        "acme",
        &*store,
        &keyring,
        secrets("new-grant-refresh"),
        None,
    )
    .expect("store");
    let refreshed = old.refresh(old.generation()).await;
    assert!(
        refreshed.is_err(),
        "the refreshed token is dropped, not used"
    );
    assert_eq!(stored_refresh().as_deref(), Some("new-grant-refresh"));

    // A client of the current grant refreshes and persists as before.
    cmap::engine::save_stored(
        &connection,
        "acme",
        &*store,
        &keyring,
        secrets(&provider.refresh_token()),
        None,
    )
    .expect("store");
    let current =
        cmap::engine::resolve_auth(&connection, "acme", store.clone(), Some(keyring.clone()))
            .expect("an auth");
    assert!(current
        .refresh(current.generation())
        .await
        .expect("refreshed"));
    assert_eq!(
        stored_refresh(),
        Some(provider.refresh_token()),
        "the rotated token is stored"
    );

    // Then a disconnect: its next refresh brings nothing back.
    store.delete_connection("acme", "sf").expect("delete");
    assert!(current.refresh(current.generation()).await.is_err());
    assert!(cmap::engine::own_record(&*store, "acme", "sf")
        .expect("read")
        .is_none());
}
