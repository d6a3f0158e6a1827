//! The OpenAPI 3.1 document served at `/api/openapi.json`: it describes every endpoint
//! docs/api.md lists (and nothing else), and real answers of the server validate
//! against the schemas it gives for them.

use serde_json::{json, Value};

use crate::api_matrix::world;

/// The endpoints docs/api.md documents, as `METHOD /path/{param}`: every row of the
/// tables whose first cell is a backquoted method and path.
fn documented() -> std::collections::BTreeSet<String> {
    let docs =
        std::fs::read_to_string(crate::support::root().join("docs/api.md")).expect("docs/api.md");
    docs.lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`').map(|(endpoint, _)| endpoint.to_string()))
        // `GET /api/executions[?task=ID]...`: the path, without its query.
        .map(|e| e.split('[').next().unwrap_or_default().to_string())
        .filter(|e| {
            ["GET /", "POST /", "PATCH /", "PUT /", "DELETE /"]
                .iter()
                .any(|m| e.starts_with(m))
        })
        // docs/api.md names the spec's paths' objects `{task}` / `{execution}`; the
        // router's parameter is `{id}`.
        .map(|e| {
            if e.contains(" /api/") {
                e.replace("{task}", "{id}").replace("{execution}", "{id}")
            } else {
                e
            }
        })
        .collect()
}

/// The operations of the document, as `METHOD /path`.
fn described(doc: &Value) -> std::collections::BTreeSet<String> {
    let mut all = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            all.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    all
}

/// Validates `body` against the schema the document gives for `method path` answering
/// `status`; the errors, if any.
fn check(doc: &Value, method: &str, path: &str, status: u16, body: &Value) -> Vec<String> {
    let response = &doc["paths"][path][method.to_lowercase()]["responses"][status.to_string()];
    let content = response["content"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {path} {status} is not described: {response}"));
    let (_, media) = content.iter().next().expect("a media type");
    // The schema's references point into the document's components: validate against
    // a root that has them.
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": doc["components"],
        "allOf": [media["schema"]],
    });
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    let url = "urn:cmap:openapi-response";
    compiler.add_resource(url, schema).expect("a schema");
    let index = compiler
        .compile(url, &mut schemas)
        .unwrap_or_else(|e| panic!("{method} {path} {status}: the schema compiles: {e}"));
    match schemas.validate(body, index) {
        Ok(()) => Vec::new(),
        Err(e) => vec![format!("{method} {path} {status}: {e:#}")],
    }
}

/// A write and its answer: method, path template, path, token, `If-Match`, body (a JSON
/// string is sent as `.cmap` text; `null`: none), status.
type Write<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    Option<&'a str>,
    Value,
    u16,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_describes_every_endpoint_and_real_answers_validate() {
    let mut w = world().await;
    let (user, admin, root) = (&w.tokens[0], &w.tokens[1], &w.tokens[2]);
    let get = |path: &str, token: &str| {
        w.client
            .get(format!("{}{path}", w.base))
            .bearer_auth(token)
            .send()
    };
    let r = get("/api/openapi.json", user).await.expect("answered");
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.expect("JSON");
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    let r = w
        .client
        .get(format!("{}/api/openapi.json", w.base))
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status(), 401, "the document is behind a token too");

    // Every documented endpoint is described, and every described one documented.
    let documented = documented();
    let described = described(&doc);
    let undescribed: Vec<_> = documented.difference(&described).collect();
    let undocumented: Vec<_> = described.difference(&documented).collect();
    assert!(
        undescribed.is_empty() && undocumented.is_empty(),
        "in docs/api.md but not in the document: {undescribed:?}\nin the document but not in docs/api.md: {undocumented:?}"
    );

    // Real answers, each against its schema.
    let mut errors = Vec::new();
    let cases: Vec<(&str, &str, &str, &str, u16)> = vec![
        ("GET", "/api/executions", "/api/executions", admin, 200),
        (
            "GET",
            "/api/executions/{id}",
            "/api/executions/acme-e1",
            admin,
            200,
        ),
        (
            "GET",
            "/api/executions/{id}/logs",
            "/api/executions/acme-e1/logs",
            admin,
            200,
        ),
        (
            "GET",
            "/api/executions/{id}",
            "/api/executions/globex-e1",
            admin,
            404,
        ),
        (
            "GET",
            "/api/executions",
            "/api/executions?limit=0",
            admin,
            400,
        ),
        (
            "GET",
            "/api/tenant/integrations/{integration}/executions",
            "/api/tenant/integrations/rest/executions?status=success",
            user,
            200,
        ),
        (
            "GET",
            "/api/tenant/integrations/{integration}/schemas",
            "/api/tenant/integrations/rest/schemas",
            admin,
            200,
        ),
        (
            "GET",
            "/api/tenant/integrations/{integration}/tasks",
            "/api/tenant/integrations/rest/tasks?limit=5",
            admin,
            200,
        ),
        (
            "GET",
            "/api/tenant/integrations/{integration}/tasks/{id}",
            "/api/tenant/integrations/rest/tasks/globex-sync",
            admin,
            404,
        ),
        (
            "GET",
            "/api/tenant/integrations/{integration}/schemas",
            "/api/tenant/integrations/rest/schemas",
            user,
            403,
        ),
        ("GET", "/api/pipelines", "/api/pipelines", root, 200),
        ("GET", "/api/pipelines", "/api/pipelines", admin, 403),
        (
            "GET",
            "/api/executions",
            "/api/executions",
            "cmap_nope",
            401,
        ),
        (
            "GET",
            "/api/tenant/integrations/{integration}/connection",
            "/api/tenant/integrations/rest/connection",
            user,
            200,
        ),
        (
            "GET",
            "/api/admin/connections/{integration}",
            "/api/admin/connections/rest",
            root,
            409,
        ),
        (
            "GET",
            "/api/admin/connections/{integration}",
            "/api/admin/connections/rest",
            admin,
            403,
        ),
        ("GET", "/healthz", "/healthz", "", 200),
        (
            "GET",
            "/api/tenant/integrations",
            "/api/tenant/integrations?limit=1",
            admin,
            200,
        ),
        (
            "GET",
            "/api/tenant/integrations/{integration}",
            "/api/tenant/integrations/rest",
            user,
            200,
        ),
        (
            "GET",
            "/api/tenant/integrations/{integration}",
            "/api/tenant/integrations/hubspot",
            user,
            404,
        ),
        (
            "GET",
            "/api/admin/integrations",
            "/api/admin/integrations",
            root,
            200,
        ),
        (
            "GET",
            "/api/admin/integrations",
            "/api/admin/integrations",
            admin,
            403,
        ),
        ("GET", "/api/admin/audit", "/api/admin/audit", root, 200),
        (
            "GET",
            "/api/admin/audit",
            "/api/admin/audit?since=yesterday",
            root,
            400,
        ),
        ("GET", "/readyz", "/readyz", "", 200),
    ];
    for (method, template, path, token, status) in cases {
        let r = get(path, token).await.expect("answered");
        assert_eq!(r.status().as_u16(), status, "{method} {path}");
        let body: Value = r.json().await.expect("JSON");
        errors.extend(check(&doc, method, template, status, &body));
    }
    let post = |path: &str| {
        w.client
            .post(format!("{}{path}", w.base))
            .bearer_auth(admin)
            .send()
    };
    let posts: Vec<(&str, &str, u16)> = vec![
        ("/api/tasks/{id}/pause", "/api/tasks/acme-sync/pause", 200),
        ("/api/tasks/{id}/resume", "/api/tasks/acme-sync/resume", 200),
        ("/api/tasks/{id}/run", "/api/tasks/acme-sync/run", 202),
        (
            "/api/executions/{id}/cancel",
            "/api/executions/acme-e1/cancel",
            409,
        ),
        (
            "/api/executions/{id}/retry",
            "/api/executions/acme-e1/retry",
            409,
        ),
        (
            "/api/tenant/integrations/{integration}/tasks/{id}/pause",
            "/api/tenant/integrations/rest/tasks/acme-sync/pause",
            200,
        ),
        // The world has no master key: credentials cannot be stored.
        (
            "/api/tenant/integrations/{integration}/connect",
            "/api/tenant/integrations/rest/connect",
            409,
        ),
        (
            "/api/tenant/integrations/{integration}/test",
            "/api/tenant/integrations/rest/test",
            409,
        ),
        (
            "/api/tenant/integrations/{integration}/disconnect",
            "/api/tenant/integrations/rest/disconnect",
            200,
        ),
        // Neither JSON nor `.cmap`: refused before anything is read.
        (
            "/api/tenant/integrations/{integration}/schemas",
            "/api/tenant/integrations/rest/schemas",
            415,
        ),
    ];
    for (template, path, status) in posts {
        let r = post(path).await.expect("answered");
        assert_eq!(r.status().as_u16(), status, "POST {path}");
        let body: Value = r.json().await.expect("JSON");
        errors.extend(check(&doc, "POST", template, status, &body));
    }
    // The platform's writes (docs/api.md, "Tenant integrations", "Catalogue
    // administration"), in order: each answer against its schema.
    let bad_cmap = "integration broken \"B\" { category nope }";
    let hubspot = "integration hubspot \"H\" {\n  description \"d\"\n  category crm\n  icon \"h\"\n  color \"#abc\"\n  auth api_key\n  version \"1.0.0\"\n}\n";
    let writes: Vec<Write> = vec![
        (
            "POST",
            "/api/tenant/integrations",
            "/api/tenant/integrations",
            admin,
            None,
            json!({"integrationId": "salesforce"}),
            201,
        ),
        (
            "POST",
            "/api/tenant/integrations",
            "/api/tenant/integrations",
            admin,
            None,
            json!({"integrationId": "salesforce"}),
            409,
        ),
        (
            "POST",
            "/api/tenant/integrations",
            "/api/tenant/integrations",
            admin,
            None,
            json!({"integrationId": "hubspot", "settings": {"nope": 1}}),
            422,
        ),
        (
            "PATCH",
            "/api/tenant/integrations/{integration}",
            "/api/tenant/integrations/salesforce",
            admin,
            Some("\"1\""),
            json!({"status": "disabled"}),
            200,
        ),
        (
            "PATCH",
            "/api/tenant/integrations/{integration}",
            "/api/tenant/integrations/salesforce",
            admin,
            Some("\"1\""),
            json!({"status": "pending"}),
            412,
        ),
        (
            "DELETE",
            "/api/tenant/integrations/{integration}",
            "/api/tenant/integrations/salesforce",
            admin,
            Some("\"9\""),
            Value::Null,
            412,
        ),
        (
            "DELETE",
            "/api/tenant/integrations/{integration}",
            "/api/tenant/integrations/salesforce",
            admin,
            None,
            Value::Null,
            204,
        ),
        (
            "POST",
            "/api/admin/integrations",
            "/api/admin/integrations",
            root,
            None,
            json!(bad_cmap),
            422,
        ),
        (
            "PATCH",
            "/api/admin/integrations/{id}",
            "/api/admin/integrations/hubspot",
            root,
            Some("\"3\""),
            json!(hubspot),
            412,
        ),
        (
            "PATCH",
            "/api/admin/integrations/{id}",
            "/api/admin/integrations/hubspot",
            root,
            None,
            json!(hubspot),
            200,
        ),
        (
            "DELETE",
            "/api/admin/integrations/{id}",
            "/api/admin/integrations/google-news",
            root,
            None,
            Value::Null,
            200,
        ),
    ];
    for (method, template, path, token, if_match, body, status) in writes {
        let method_ = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut r = w
            .client
            .request(method_, format!("{}{path}", w.base))
            .bearer_auth(token);
        if let Some(v) = if_match {
            r = r.header("if-match", v);
        }
        r = match &body {
            Value::Null => r,
            Value::String(text) => r.header("content-type", "text/x-cmap").body(text.clone()),
            other => r.json(other),
        };
        let r = r.send().await.expect("answered");
        assert_eq!(r.status().as_u16(), status, "{method} {path}");
        if status != 204 {
            let body: Value = r.json().await.expect("JSON");
            errors.extend(check(&doc, method, template, status, &body));
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    if let Some(stop) = w.stop.take() {
        let _ = stop.send(());
    }
}

/// The validation bites: an answer that is not of the described shape is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_of_another_shape_does_not_validate() {
    let mut w = world().await;
    let r = w
        .client
        .get(format!("{}/api/openapi.json", w.base))
        .bearer_auth(&w.tokens[1])
        .send()
        .await
        .expect("answered");
    let doc: Value = r.json().await.expect("JSON");
    let wrong = json!({"executions": [{"id": 7}], "nextCursor": null});
    assert!(!check(&doc, "GET", "/api/executions", 200, &wrong).is_empty());
    let problem = json!({"type": "about:blank", "title": "Not Found", "status": 404});
    assert!(!check(&doc, "GET", "/api/executions/{id}", 404, &problem).is_empty());
    if let Some(stop) = w.stop.take() {
        let _ = stop.send(());
    }
}
