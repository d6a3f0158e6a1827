//! The platform API as a new user meets it over HTTP (docs/api.md, "Tenant
//! integrations", "Catalogue administration", "Audit log"): a tenant admin enables an
//! integration, users see it, other tenants do not; a super admin edits the catalogue;
//! every change is in the audit log, without a secret.

use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};

use crate::api_matrix::{world, World};

impl World {
    fn call(&self, token: &str, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
    }
}

async fn answer(r: Response) -> (u16, Option<String>, Value) {
    let status = r.status().as_u16();
    let etag = r
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = r.json().await.unwrap_or(Value::Null);
    (status, etag, body)
}

async fn send(req: RequestBuilder) -> (u16, Option<String>, Value) {
    answer(req.send().await.expect("answered")).await
}

/// The `id`s of a list's `integrations`.
fn ids(body: &Value) -> Vec<String> {
    body["integrations"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The ids of `GET /api/integrations` as `token` sees them.
async fn catalogue_ids(w: &World, token: &str) -> Vec<String> {
    let (status, _, body) = send(w.call(token, Method::GET, "/api/integrations?limit=1000")).await;
    assert_eq!(status, 200, "{body}");
    ids(&body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_admin_enables_salesforce_and_only_their_tenant_sees_it() {
    let mut w = world().await;
    let [user, admin, root, _] = w.tokens.clone();
    let path = "/api/tenant/integrations/salesforce";

    // Unknown and superadmin_only ids are the same 404 to a tenant admin.
    for id in ["nope", "google-news"] {
        let (status, _, body) = send(
            w.call(&admin, Method::POST, "/api/tenant/integrations")
                .json(&json!({ "integrationId": id })),
        )
        .await;
        assert_eq!(
            (status, &body["code"]),
            (404, &json!("integration_not_found")),
            "{id}: {body}"
        );
    }
    // Bad settings: 422 with diagnostics naming the key; nothing stored.
    let (status, _, body) = send(
        w.call(&admin, Method::POST, "/api/tenant/integrations")
            .json(&json!({ "integrationId": "salesforce", "settings": { "instanceUrl": "https://acme.my.salesforce.com", "bogusKey": 1 } })),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "settings_invalid");
    assert!(body["errors"].as_u64() >= Some(1), "{body}");
    assert!(
        body["diagnostics"].to_string().contains("bogusKey"),
        "{body}"
    );
    let (status, _, body) = send(w.call(&admin, Method::GET, path)).await;
    assert_eq!(status, 404, "{body}");
    // A plain-http token URL to another host is refused.
    let (status, _, body) = send(
        w.call(&admin, Method::POST, "/api/tenant/integrations")
            .json(
                &json!({ "integrationId": "salesforce", "tokenUrl": "http://evil.example/token" }),
            ),
    )
    .await;
    assert_eq!((status, &body["code"]), (422, &json!("bad_url")), "{body}");

    // Enabled: pending, by the admin.
    let (status, etag, body) = send(
        w.call(&admin, Method::POST, "/api/tenant/integrations")
            .json(&json!({
                "integrationId": "salesforce",
                "settings": { "instanceUrl": "https://acme.my.salesforce.com" },
                "authorizationUrl": "https://test.salesforce.com/services/oauth2/authorize"
            })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(etag.as_deref(), Some("\"1\""));
    assert_eq!(body["status"], "pending");
    assert_eq!(body["tenantId"], "acme");
    let (status, _, body) = send(
        w.call(&admin, Method::POST, "/api/tenant/integrations")
            .json(&json!({ "integrationId": "salesforce" })),
    )
    .await;
    assert_eq!(
        (status, &body["code"]),
        (409, &json!("integration_enabled")),
        "{body}"
    );

    // Listed for the admin and the user; the user may not change it.
    for token in [&admin, &user] {
        let (status, _, body) = send(w.call(token, Method::GET, "/api/tenant/integrations")).await;
        assert_eq!(status, 200, "{body}");
        assert!(ids(&body).contains(&"salesforce".to_string()), "{body}");
        let (status, etag, _) = send(w.call(token, Method::GET, path)).await;
        assert_eq!((status, etag.as_deref()), (200, Some("\"1\"")));
    }
    let before = w
        .call(&admin, Method::GET, path)
        .send()
        .await
        .expect("answered")
        .bytes()
        .await
        .expect("body");
    let (status, _, body) = send(
        w.call(&user, Method::PATCH, path)
            .header("if-match", "\"1\"")
            .json(&json!({ "status": "disabled" })),
    )
    .await;
    assert_eq!(
        (status, &body["code"]),
        (403, &json!("forbidden")),
        "{body}"
    );
    // Refused writes (forbidden, bad settings, stale, no If-Match) leave it byte-identical.
    for (req, want) in [
        (
            w.call(&admin, Method::PATCH, path)
                .header("if-match", "\"1\"")
                .json(&json!({ "settings": { "apiVersion": [] } })),
            422,
        ),
        (
            w.call(&admin, Method::PATCH, path)
                .header("if-match", "\"7\"")
                .json(&json!({ "status": "disabled" })),
            412,
        ),
        (
            w.call(&admin, Method::PATCH, path)
                .json(&json!({ "status": "disabled" })),
            412,
        ),
    ] {
        let (status, _, body) = send(req).await;
        assert_eq!(status, want, "{body}");
    }
    let after = w
        .call(&admin, Method::GET, path)
        .send()
        .await
        .expect("answered")
        .bytes()
        .await
        .expect("body");
    assert_eq!(before, after);

    // Another tenant: its admin gets 404, as the super admin acting in it does.
    let (status, _, body) = send(w.call(&w.globex, Method::GET, path)).await;
    assert_eq!(
        (status, &body["code"]),
        (404, &json!("tenant_integration_not_found"))
    );
    let (status, _, body) = send(w.call(&w.globex, Method::GET, "/api/tenant/integrations")).await;
    assert_eq!(
        (status, ids(&body)),
        (200, vec!["rest".to_string()]),
        "{body}"
    );
    let (status, _, _) = send(
        w.call(&root, Method::GET, path)
            .header("x-tenant-id", "globex"),
    )
    .await;
    assert_eq!(status, 404);

    // Concurrent PATCHes with one If-Match: exactly one 200, the other 412.
    let patch = |s: &str| {
        w.call(&admin, Method::PATCH, path)
            .header("if-match", "\"1\"")
            .json(&json!({ "settings": { "apiVersion": s } }))
            .send()
    };
    let (a, b) = tokio::join!(patch("58.0"), patch("59.0"));
    let mut statuses = [
        a.expect("answered").status().as_u16(),
        b.expect("answered").status().as_u16(),
    ];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 412]);

    // Disable, enable again, then remove.
    let (status, etag, body) = send(
        w.call(&admin, Method::PATCH, path)
            .header("if-match", "\"2\"")
            .json(&json!({ "status": "disabled" })),
    )
    .await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("disabled")),
        "{body}"
    );
    let (status, _, body) = send(
        w.call(&admin, Method::PATCH, path)
            .header("if-match", etag.unwrap_or_default())
            .json(&json!({ "status": "pending" })),
    )
    .await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("pending")),
        "{body}"
    );
    let (status, _, _) = send(w.call(&user, Method::DELETE, path)).await;
    assert_eq!(status, 403);
    let r = w
        .call(&admin, Method::DELETE, path)
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status().as_u16(), 204);
    let (status, _, _) = send(w.call(&admin, Method::GET, path)).await;
    assert_eq!(status, 404);

    // The tenant's audit entries, newest first, with the actor.
    let (status, _, body) = send(w.call(
        &root,
        Method::GET,
        "/api/admin/audit?tenant=acme&action=integration.",
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    let actions: Vec<&str> = body["entries"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["action"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        actions,
        [
            "integration.disable",
            "integration.enable",
            "integration.disable",
            "integration.update",
            "integration.enable"
        ]
    );
    assert_eq!(body["entries"][4]["actor"]["role"], "tenant_admin");
    if let Some(stop) = w.stop.take() {
        let _ = stop.send(());
    }
}

const ACME: &str = r##"{ "$kind": "integration", "id": "acme-crm", "name": "acme-crm",
  "displayName": "Acme CRM", "description": "d", "category": "crm", "icon": "a",
  "color": "#abc", "authType": "oauth2",
  "oauthConfig": { "authorizationUrl": "https://a.example/x", "tokenUrl": "https://a.example/t",
                   "clientId": "x", "clientSecret": { "env": "ACME_SECRET_X" } },
  "availableEntities": ["salesforce.Contact"], "version": "1.0.0" }"##;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_super_admin_edits_the_catalogue_and_the_log_keeps_no_secret() {
    let mut w = world().await;
    let [user, admin, root, _] = w.tokens.clone();
    let admin_path = "/api/admin/integrations";

    // Only super admins.
    for token in [&user, &admin] {
        let (status, _, _) = send(w.call(token, Method::GET, admin_path)).await;
        assert_eq!(status, 403);
        let (status, _, _) = send(
            w.call(token, Method::POST, admin_path)
                .header("content-type", "application/json")
                .body(ACME),
        )
        .await;
        assert_eq!(status, 403);
        let (status, _, _) = send(w.call(token, Method::GET, "/api/admin/audit")).await;
        assert_eq!(status, 403);
    }

    // A bad definition: 422 with the check JSON; nothing stored.
    let (status, _, body) = send(
        w.call(&root, Method::POST, admin_path)
            .header("content-type", "text/x-cmap")
            .body("integration broken \"B\" { category nope }"),
    )
    .await;
    assert_eq!(
        (status, &body["code"]),
        (422, &json!("definition_invalid")),
        "{body}"
    );
    assert!(
        body["errors"].as_u64() >= Some(1) && body["diagnostics"][0]["code"].is_string(),
        "{body}"
    );
    assert!(!catalogue_ids(&w, &root)
        .await
        .contains(&"broken".to_string()));

    // Added: 201, then listed; a second POST is 409, as is one of a stdlib id.
    let (status, etag, body) = send(
        w.call(&root, Method::POST, admin_path)
            .header("content-type", "application/json")
            .body(ACME),
    )
    .await;
    assert_eq!((status, etag.as_deref()), (201, Some("\"1\"")), "{body}");
    assert_eq!(body["definition"]["id"], "acme-crm");
    assert!(catalogue_ids(&w, &user)
        .await
        .contains(&"acme-crm".to_string()));
    for text in [ACME.to_string(), ACME.replace("acme-crm", "salesforce")] {
        let (status, _, body) = send(
            w.call(&root, Method::POST, admin_path)
                .header("content-type", "application/json")
                .body(text),
        )
        .await;
        assert_eq!(
            (status, &body["code"]),
            (409, &json!("integration_exists")),
            "{body}"
        );
    }

    // Override salesforce: version 0 without If-Match, then a stale one is refused.
    let salesforce = ACME.replace("acme-crm", "salesforce");
    let patch = |if_match: Option<&str>, text: String| {
        let mut r = w
            .call(&root, Method::PATCH, "/api/admin/integrations/salesforce")
            .header("content-type", "application/json")
            .body(text);
        if let Some(v) = if_match {
            r = r.header("if-match", v);
        }
        r
    };
    let (status, etag, body) = send(patch(None, salesforce.clone())).await;
    assert_eq!((status, etag.as_deref()), (200, Some("\"1\"")), "{body}");
    assert_eq!(body["origin"], "override");
    // Concurrent PATCHes with one If-Match: exactly one passes.
    let (a, b) = tokio::join!(
        patch(Some("\"1\""), salesforce.clone()).send(),
        patch(Some("\"1\""), salesforce.clone()).send()
    );
    let mut statuses = [
        a.expect("answered").status().as_u16(),
        b.expect("answered").status().as_u16(),
    ];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 412]);
    let (status, _, body) = send(w.call(&user, Method::GET, "/api/integrations/salesforce")).await;
    assert_eq!(
        (status, &body["displayName"]),
        (200, &json!("Acme CRM")),
        "{body}"
    );
    let (status, _, body) = send(patch(Some("\"2\""), ACME.to_string())).await;
    assert_eq!(
        (status, &body["code"]),
        (422, &json!("id_mismatch")),
        "{body}"
    );

    // Disable google-news (a stdlib one): gone from the catalogue, listed as disabled.
    assert!(catalogue_ids(&w, &root)
        .await
        .contains(&"google-news".to_string()));
    let (status, _, body) =
        send(w.call(&root, Method::DELETE, "/api/admin/integrations/google-news")).await;
    assert_eq!(
        (status, &body["result"]),
        (200, &json!("disabled")),
        "{body}"
    );
    assert!(!catalogue_ids(&w, &root)
        .await
        .contains(&"google-news".to_string()));
    // Removing the override brings the stdlib's back.
    let (status, _, body) =
        send(w.call(&root, Method::DELETE, "/api/admin/integrations/salesforce")).await;
    assert_eq!(
        (status, &body["result"]),
        (200, &json!("override_removed")),
        "{body}"
    );
    let (_, _, body) = send(w.call(&user, Method::GET, "/api/integrations/salesforce")).await;
    assert_eq!(body["displayName"], "Salesforce");
    // A stored definition a tenant uses is not removed.
    let (status, _, body) = send(
        w.call(&admin, Method::POST, "/api/tenant/integrations")
            .json(&json!({ "integrationId": "acme-crm" })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, _, body) =
        send(w.call(&root, Method::DELETE, "/api/admin/integrations/acme-crm")).await;
    assert_eq!(
        (status, &body["code"]),
        (409, &json!("integration_in_use")),
        "{body}"
    );

    let (status, _, body) = send(w.call(&root, Method::GET, admin_path)).await;
    assert_eq!(status, 200, "{body}");
    let origins: Vec<(String, String)> = body["integrations"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| (e["id"].to_string(), e["origin"].to_string()))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        origins.contains(&("\"acme-crm\"".into(), "\"stored\"".into())),
        "{origins:?}"
    );
    assert!(
        origins.contains(&("\"salesforce\"".into(), "\"stdlib\"".into())),
        "{origins:?}"
    );
    assert_eq!(body["disabled"][0]["id"], "google-news", "{body}");

    // The log: every definition change, global, and never the secret.
    let (status, _, body) =
        send(w.call(&root, Method::GET, "/api/admin/audit?action=definition.")).await;
    assert_eq!(status, 200, "{body}");
    let actions: Vec<&str> = body["entries"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["action"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        actions,
        [
            "definition.remove",
            "definition.remove",
            "definition.update",
            "definition.update",
            "definition.add"
        ]
    );
    let (_, _, everything) = send(w.call(&root, Method::GET, "/api/admin/audit?limit=1000")).await;
    let text = everything.to_string();
    // The log names what changed, never a definition's body (nor where its secret is).
    assert!(!text.contains("ACME_SECRET_X"), "{text}");
    assert!(text.contains("acme-crm"), "{text}");
    // Paging: a page of one has a cursor to the next.
    let (_, _, first) = send(w.call(&root, Method::GET, "/api/admin/audit?limit=1")).await;
    let cursor = first["nextCursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    let (status, _, second) = send(w.call(
        &root,
        Method::GET,
        &format!("/api/admin/audit?limit=1&cursor={cursor}"),
    ))
    .await;
    assert_eq!(status, 200);
    assert_ne!(first["entries"][0]["id"], second["entries"][0]["id"]);
    if let Some(stop) = w.stop.take() {
        let _ = stop.send(());
    }
}

/// Settings are checked as `cmap check` checks a connection's: each diagnostic has its
/// code and position, and names the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_get_the_diagnostics_of_check() {
    let mut w = world().await;
    let admin = w.tokens[1].clone();
    for (settings, code, names) in [
        (json!({ "bogusKey": 1 }), "E0801", "bogusKey"),
        (json!({ "apiVersion": [] }), "E0202", "apiVersion"),
        (
            json!({ "instanceUrl": "not a url" }),
            "E0804",
            "instanceUrl",
        ),
    ] {
        let (status, _, body) = send(
            w.call(&admin, Method::POST, "/api/tenant/integrations")
                .json(&json!({ "integrationId": "salesforce", "settings": settings })),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        // The same settings sent again name the same diagnostics (nothing was stored).
        let (status, _, body) = send(
            w.call(&admin, Method::POST, "/api/tenant/integrations")
                .json(&json!({ "integrationId": "salesforce", "settings": settings })),
        )
        .await;
        assert_eq!(
            (status, &body["code"]),
            (422, &json!("settings_invalid")),
            "{body}"
        );
        let first = &body["diagnostics"][0];
        assert_eq!(first["code"], code, "{body}");
        assert_eq!(first["file"], "settings.json", "{body}");
        assert!(first["line"].as_u64() >= Some(2), "{body}");
        assert!(body.to_string().contains(names), "{body}");
    }
    // An integration without a connector of cmap (an AI provider) takes its settings
    // as `check` does: free-form, but a secret is never a setting (E0701).
    let (status, _, body) = send(
        w.call(&admin, Method::POST, "/api/tenant/integrations")
            .json(&json!({
                "integrationId": "openai",
                "settings": { "model": "gpt-4o", "apiKey": "sk-live-secret-value" }
            })),
    )
    .await;
    assert_eq!(
        (status, &body["diagnostics"][0]["code"]),
        (422, &json!("E0701")),
        "{body}"
    );
    assert!(!body.to_string().contains("sk-live-secret-value"), "{body}");
    let (status, _, body) = send(
        w.call(&admin, Method::POST, "/api/tenant/integrations")
            .json(&json!({
                "integrationId": "openai",
                "settings": { "model": "gpt-4o" }
            })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    // Good settings check.
    let (status, _, body) = send(
        w.call(&admin, Method::POST, "/api/tenant/integrations").json(&json!({
            "integrationId": "salesforce",
            "settings": { "instanceUrl": "https://acme.my.salesforce.com", "apiVersion": "59.0" }
        })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    if let Some(stop) = w.stop.take() {
        let _ = stop.send(());
    }
}
