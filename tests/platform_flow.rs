//! Issue 9's "done when", as a new tenant admin does it over HTTP: list the
//! integrations, enable Salesforce, connect it through the OAuth flow (a local mock
//! Salesforce: authorize, token, query API), create a conversion schema and a sync task
//! from the spec's JSON, see a bad schema refused with diagnostics, run the task, read
//! its execution and logs; and a second tenant sees none of it.

use std::sync::Arc;
use std::time::Duration;

use cmap::engine::{Engine, Options as EngineOptions};
use cmap::serve::origin::PublicUrl;
use cmap::serve::server::{self, Options};
use cmap::store::crypto::Keyring;
use cmap::store::identity::Role;
use cmap::store::{SledStore, Store};
use serde_json::{json, Value};

use crate::support::mock_salesforce::{self, contact, CLIENT_ID, CLIENT_SECRET};
use crate::support::{api_client, api_user};

fn seed(name: &str) -> Value {
    let path = crate::support::root().join("tests/data/seed").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).expect("seed")).expect("JSON")
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_tenant_connects_salesforce_syncs_it_and_another_tenant_sees_nothing() {
    // The stdlib's Salesforce definition reads its OAuth client from these variables;
    // only this test sets them.
    std::env::set_var("SALESFORCE_CLIENT_ID", CLIENT_ID);
    std::env::set_var("SALESFORCE_CLIENT_SECRET", CLIENT_SECRET);
    let mut objects = std::collections::BTreeMap::new();
    objects.insert(
        "Contact".to_string(),
        (0..5)
            .map(|i| {
                contact(
                    &format!("003A{i:04}"),
                    &format!("Person{i}"),
                    "2026-11-30T10:00:00.000+0000",
                )
            })
            .collect(),
    );
    let (_addr, salesforce) = mock_salesforce::start(mock_salesforce::Config {
        objects,
        ..mock_salesforce::Config::default()
    })
    .await;

    let dir = tempfile::tempdir().expect("temp dir");
    let pipelines = dir.path().join("pipelines");
    std::fs::create_dir_all(&pipelines).expect("mkdir");
    let data = dir.path().join("data");
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&data).expect("store"));
    let keyring = Arc::new(Keyring::load(&data, None).expect("keyring"));
    // What `cmap tenants add` and `cmap users add` make (tests/identity_cli.rs runs them).
    let acme = api_client(&api_user(
        &*store,
        "ada@acme.test",
        Role::TenantAdmin,
        Some("acme"),
    ));
    let globex = api_client(&api_user(
        &*store,
        "gus@globex.test",
        Role::TenantAdmin,
        Some("globex"),
    ));
    let engine = Arc::new(Engine::new(
        store.clone(),
        Some(keyring),
        EngineOptions::default(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let http = cmap::serve::http::Config {
        public_url: Some(PublicUrl::parse(&base).expect("a public URL")),
        ..cmap::serve::http::Config::default()
    };
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
    for _ in 0..500 {
        if let Ok(r) = reqwest::get(format!("{base}/readyz")).await {
            if r.status() == 200 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let url = |path: &str| format!("{base}{path}");
    let json_of = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap_or(Value::Null))
    };

    // 1. The catalogue.
    let (status, list) = json_of(
        acme.get(url("/api/integrations"))
            .send()
            .await
            .expect("answered"),
    )
    .await;
    assert_eq!(status, 200, "{list}");
    assert!(list.to_string().contains("\"salesforce\""), "{list}");

    // 2. Enable Salesforce, its login URLs pointed at the mock (as a sandbox would be).
    let (status, ti) = json_of(
        acme.post(url("/api/tenant/integrations"))
            .json(&json!({
                "integrationId": "salesforce",
                "authorizationUrl": salesforce.authorize_url(),
                "tokenUrl": salesforce.token_url(),
                "settings": {"apiVersion": "59.0"},
            }))
            .send()
            .await
            .expect("answered"),
    )
    .await;
    assert_eq!(status, 201, "{ti}");
    assert_eq!(ti["status"], "pending", "{ti}");

    // 3. Connect: the provider's URL, the browser's consent, the callback.
    let (status, begun) = json_of(
        acme.post(url("/api/tenant/integrations/salesforce/connect"))
            .json(&json!({"returnUrl": url("/done")}))
            .send()
            .await
            .expect("answered"),
    )
    .await;
    assert_eq!(status, 200, "{begun}");
    let authorization = begun["authorizationUrl"]
        .as_str()
        .expect("a URL")
        .to_string();
    assert!(
        authorization.contains("code_challenge_method=S256"),
        "{authorization}"
    );
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let consent = browser
        .get(&authorization)
        .send()
        .await
        .expect("the provider answers");
    assert_eq!(consent.status(), 302);
    let callback = location(&consent);
    assert!(
        callback.starts_with(&url("/api/tenant/integrations/salesforce/oauth/callback")),
        "{callback}"
    );
    let back = browser.get(&callback).send().await.expect("answered");
    assert_eq!(back.status(), 303);
    assert_eq!(location(&back), url("/done?connected=salesforce"));
    let (status, connection) = json_of(
        acme.get(url("/api/tenant/integrations/salesforce/connection"))
            .send()
            .await
            .expect("answered"),
    )
    .await;
    assert_eq!(
        (status, &connection["connected"]),
        (200, &json!(true)),
        "{connection}"
    );
    assert!(
        !connection.to_string().contains(&salesforce.refresh_token()),
        "no secret in answers"
    );

    // 4. A schema and a task from the spec's JSON; a bad schema is refused, with why.
    let mut bad = seed("sf-contact-to-contact.json");
    bad["id"] = json!("sf-contact-bad");
    bad["fieldMappings"][2]["config"]["transformations"][0]["type"] = json!("replac");
    let (status, refused) = json_of(
        acme.post(url("/api/tenant/integrations/salesforce/schemas"))
            .json(&bad)
            .send()
            .await
            .expect("answered"),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["diagnostics"]
            .as_array()
            .is_some_and(|d| !d.is_empty()),
        "{refused}"
    );
    let (status, schema) = json_of(
        acme.post(url("/api/tenant/integrations/salesforce/schemas"))
            .json(&seed("sf-contact-to-contact.json"))
            .send()
            .await
            .expect("answered"),
    )
    .await;
    assert_eq!(status, 201, "{schema}");
    // The schema tried on sample records: a shard with where each field came from, a
    // skip, a failure; nothing stored.
    let (status, tried) = json_of(
        acme.post(url(
            "/api/tenant/integrations/salesforce/schemas/sf-contact-to-contact/test",
        ))
        .json(&json!({"records": [
            contact("003T0001", "Tried", "2026-11-30T10:00:00.000+0000"),
            {"Id": "003T0002", "IsDeleted": true, "LastName": "Gone", "Email": "gone@example.com"},
            {"Id": "003T0003", "IsDeleted": false, "LastName": "NoMail"},
        ]}))
        .send()
        .await
        .expect("answered"),
    )
    .await;
    assert_eq!(status, 200, "{tried}");
    assert_eq!(
        (&tried["mapped"], &tried["skipped"], &tried["failed"]),
        (&json!(1), &json!(1), &json!(1)),
        "{tried}"
    );
    let shard = &tried["results"][0]["shard"];
    assert_eq!(
        shard["structuredData"]["email"], "tried@example.com",
        "{tried}"
    );
    assert_eq!(shard["explain"]["email"], "direct Email", "{tried}");
    assert_eq!(tried["results"][2]["error"]["field"], "email", "{tried}");
    let r = globex
        .post(url(
            "/api/tenant/integrations/salesforce/schemas/sf-contact-to-contact/test",
        ))
        .json(&json!({"records": []}))
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status(), 404, "another tenant's schema");
    let (status, task) = json_of(
        acme.post(url("/api/tenant/integrations/salesforce/tasks"))
            .json(&seed("sf-contact-daily.json"))
            .send()
            .await
            .expect("answered"),
    )
    .await;
    assert_eq!(status, 201, "{task}");

    // 5. Run it; read the execution and its log.
    let (status, run) = json_of(
        acme.post(url(
            "/api/tenant/integrations/salesforce/tasks/sf-contact-daily/run",
        ))
        .send()
        .await
        .expect("answered"),
    )
    .await;
    assert_eq!(status, 202, "{run}");
    let mut execution = Value::Null;
    for _ in 0..1000 {
        let (_, page) = json_of(
            acme.get(url(
                "/api/tenant/integrations/salesforce/executions?task=sf-contact-daily",
            ))
            .send()
            .await
            .expect("answered"),
        )
        .await;
        execution = page["executions"][0].clone();
        if execution["status"].is_string() && execution["status"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(execution["status"], "success", "{execution}");
    assert_eq!(execution["results"]["created"], 5, "{execution}");
    let id = execution["id"].as_str().expect("an id").to_string();
    let (status, one) = json_of(
        acme.get(url(&format!(
            "/api/tenant/integrations/salesforce/executions/{id}"
        )))
        .send()
        .await
        .expect("answered"),
    )
    .await;
    assert_eq!((status, &one["id"]), (200, &json!(id)), "{one}");
    let (status, logs) = json_of(
        acme.get(url(&format!(
            "/api/tenant/integrations/salesforce/executions/{id}/logs"
        )))
        .send()
        .await
        .expect("answered"),
    )
    .await;
    assert_eq!(status, 200, "{logs}");
    assert!(
        logs["logs"].as_array().is_some_and(|l| !l.is_empty()),
        "{logs}"
    );

    // 6. Another tenant sees none of it.
    for path in [
        "/api/tenant/integrations/salesforce".to_string(),
        "/api/tenant/integrations/salesforce/connection".to_string(),
        "/api/tenant/integrations/salesforce/schemas".to_string(),
        format!("/api/executions/{id}"),
    ] {
        let r = globex.get(url(&path)).send().await.expect("answered");
        assert_eq!(r.status(), 404, "{path}");
    }
    let (_, theirs) = json_of(
        globex
            .get(url("/api/executions"))
            .send()
            .await
            .expect("answered"),
    )
    .await;
    assert_eq!(theirs["executions"], json!([]), "{theirs}");
    let (_, listed) = json_of(
        globex
            .get(url("/api/tenant/integrations"))
            .send()
            .await
            .expect("answered"),
    )
    .await;
    assert!(!listed.to_string().contains("salesforce"), "{listed}");
    let _ = stop.send(());
}
