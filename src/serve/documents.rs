//! Conversion schemas and sync tasks through the API (spec "API Reference": Conversion
//! Schemas, Sync Tasks): `GET|POST /api/tenant/integrations/{integration}/schemas`,
//! `GET|PATCH|DELETE .../schemas/{id}`, and the same for `/tasks`.
//!
//! A write takes the spec's JSON (the seed-JSON twin `cmap import` reads) or `.cmap`
//! text (`Content-Type: text/x-cmap`), is checked exactly as `cmap check` checks a file
//! (the whole workspace, with the document added, replaced or removed), and is stored as
//! `.cmap` text ([`PipelineDocument`]). The server's loader compiles every stored
//! document as a source of its tenant ([`super::loader::load_stored`]), so after a write
//! this module asks for a reload and answers once a generation holding the change
//! serves. Writes are serialized ([`Writes`]): check-then-store never interleaves, and
//! the store's compare-and-set still decides between two clients holding one ETag.
//!
//! One source of truth: an object a pipeline FILE defines is readable here (with
//! `"definedBy": {"file": ...}` and `"readOnly": true`; not `source`, which is the
//! schema's own field) and every write to it is 409 `defined_by_file`.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::auth::{Action, Actor};
use super::control::query_error;
use super::http::{store_error, Api, ApiError, PROBLEM_JSON};
use super::loader::{document_path, document_source, is_document_path};
use super::state::Event;
use crate::compile::Owner;
use crate::diagnostics::{render, Diagnostic};
use crate::span::{SourceFile, SourceKind, SourceMap};
use crate::store::audit::{self, Details, Outcome, Target};
use crate::store::{
    pipeline_doc::MAX_TEXT_BYTES, AuditEntry, DocumentCursor, DocumentFilter, DocumentKind,
    PageRequest, PipelineDocument, StoreError, DEFAULT_TENANT,
};
use crate::syntax::ast::{Document, Item};
use crate::syntax::{json as seed, printer};
use crate::workspace::{self, Extra, Workspace};

/// The media type of `.cmap` text, in a request body and in `?format=cmap` answers.
pub const CMAP_TEXT: &str = "text/x-cmap";

/// Keys a GET adds to the spec's object ([`stored_json`], [`runtime`]); a JSON body
/// holding them (sent back as read) does not store them.
const SERVER_KEYS: [&str; 12] = [
    "version",
    "createdBy",
    "createdAt",
    "updatedBy",
    "updatedAt",
    "definedBy",
    "readOnly",
    "lastRunAt",
    "lastRunStatus",
    "nextRunAt",
    "stats",
    "lastError",
];

/// How long a write waits for the reload that serves it (the change is stored either
/// way; see docs/api.md).
const LIVE_WAIT: Duration = Duration::from_secs(30);

/// Schema and task writes, one at a time: a write checks the workspace as stored, then
/// stores; a second write checked meanwhile would not see the first.
#[derive(Default)]
pub struct Writes {
    lock: tokio::sync::Mutex<()>,
}

/// `?format=cmap` for the `.cmap` text; `limit` and `cursor` for lists.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct GetQuery {
    /// `json` (the default: the spec's shape) or `cmap` (the text, `text/x-cmap`).
    format: Option<String>,
}

/// One page of a list.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    /// At most this many (1 to 1000; default 100).
    #[param(value_type = Option<u32>)]
    limit: Option<String>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
}

fn action(kind: DocumentKind) -> Action {
    match kind {
        DocumentKind::Schema => Action::ConfigureSchemas,
        DocumentKind::Task => Action::ManageTasks,
    }
}

fn not_found(kind: DocumentKind, id: &str) -> ApiError {
    let code = match kind {
        DocumentKind::Schema => "schema_not_found",
        DocumentKind::Task => "task_not_found",
    };
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no {kind} `{}` under this integration", id.escape_default()),
        format!("GET the integration's {kind}s to list them"),
    )
    .code(code)
}

fn unprocessable(code: &'static str, detail: String, help: &str) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, detail, help).code(code)
}

/// 404 unless the tenant acted in has enabled `integration`.
pub(super) async fn tenant_integration(
    api: &Api,
    actor: &Actor,
    integration: &str,
) -> Result<(), ApiError> {
    let store = api.shared.engine.store.clone();
    let (tenant, id) = (actor.tenant.clone(), integration.to_owned());
    let found = tokio::task::spawn_blocking(move || store.tenant_integration(&tenant, &id))
        .await
        .map_err(store_error)?
        .map_err(store_error)?;
    match found {
        Some(_) => Ok(()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "integration `{}` is not enabled for this tenant",
                integration.escape_default()
            ),
            "POST /api/tenant/integrations enables it; GET /api/tenant/integrations lists the enabled ones",
        )
        .code("tenant_integration_not_found")),
    }
}

/// The id an item of `kind` defines.
fn item_id(item: &Item, kind: DocumentKind) -> Option<&str> {
    match (item, kind) {
        (Item::Schema(s), DocumentKind::Schema) => Some(&s.id.node),
        (Item::Task(t), DocumentKind::Task) => Some(&t.id.node),
        _ => None,
    }
}

/// Whether a file-defined item belongs to tenant integration `integration`: its
/// declared integration (a task's `tenantIntegrationId`, a schema's source
/// integration), else a task's connection's integration, else a schema's source entity
/// prefix (`rest.people`: `rest`).
fn belongs(item: &Item, integration: &str, api: &Api) -> bool {
    match item {
        Item::Schema(s) => match &s.source {
            None => false,
            Some(source) => match &source.integration {
                Some(i) => i.node == integration,
                None => source
                    .entity
                    .node
                    .split_once('.')
                    .is_some_and(|(prefix, _)| prefix == integration),
            },
        },
        Item::Task(t) => match (&t.integration, &t.connection) {
            (Some(i), _) => i.node == integration,
            (None, Some(c)) => api
                .shared
                .snapshot()
                .program
                .connection(&c.node)
                .is_some_and(|c| c.integration == integration),
            (None, None) => false,
        },
        _ => false,
    }
}

/// Whether a file of `owner` is `tenant`'s (top-level files are tenant `default`'s).
fn owned_by(owner: &Owner, tenant: &str) -> bool {
    match owner {
        Owner::Tenant(t) => t == tenant,
        Owner::Top => tenant == DEFAULT_TENANT,
        Owner::Stdlib => false,
    }
}

/// Reads (parses) the pipeline files, the stored documents except `skip` (tenant, kind,
/// id), and `extra`. Blocking.
fn read_workspace(
    api: &Api,
    skip: Option<(&str, DocumentKind, &str)>,
    extra: Option<Extra>,
) -> Result<Workspace, ApiError> {
    let stored = api
        .shared
        .engine
        .store
        .all_pipeline_documents()
        .map_err(store_error)?;
    let mut sources: Vec<Extra> = stored
        .iter()
        .filter(|d| skip != Some((d.tenant_id.as_str(), d.kind, d.id.as_str())))
        .map(document_source)
        .collect();
    sources.extend(extra);
    workspace::read_with(
        std::slice::from_ref(&api.shared.pipelines_dir),
        api.config_stdlib(),
        sources,
    )
    .map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the pipelines cannot be read: {e}"),
            e.help,
        )
        .code("pipelines_unreadable")
    })
}

/// A file-defined object of the tenant, under `integration`: its file and item.
fn file_defined(
    api: &Api,
    ws: &Workspace,
    tenant: &str,
    integration: &str,
    kind: DocumentKind,
) -> Vec<(PathBuf, Item)> {
    let mut found = Vec::new();
    for (i, doc) in ws.documents.iter().enumerate() {
        let path = &ws.sources.files[i].path;
        if is_document_path(path) || !ws.owners.get(i).is_some_and(|o| owned_by(o, tenant)) {
            continue;
        }
        for item in &doc.items {
            if item_id(item, kind).is_some() && belongs(item, integration, api) {
                found.push((path.clone(), item.clone()));
            }
        }
    }
    found
}

/// The path of a pipeline file, as docs and answers show it: relative to the pipelines
/// directory's parent (`pipelines/tenants/acme/p.cmap`) when it is below it.
fn shown(api: &Api, path: &FsPath) -> String {
    let base = api.shared.pipelines_dir.parent().unwrap_or(FsPath::new(""));
    path.strip_prefix(base)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The spec's JSON of one item (`cmap export`'s).
fn encode_item(item: &Item) -> Value {
    let doc = Document {
        items: vec![item.clone()],
        comments: Vec::new(),
    };
    seed::encode(&doc, &crate::functions::param_names)
}

/// The item a stored document's text defines (it checked when stored).
fn stored_item(doc: &PipelineDocument) -> Option<Item> {
    let file = SourceFile::new(
        PathBuf::from("stored.cmap"),
        doc.text.clone(),
        SourceKind::Cmap,
    );
    let (parsed, _) = crate::syntax::parse(0, &file);
    parsed
        .items
        .into_iter()
        .find(|i| item_id(i, doc.kind).is_some())
}

/// A task's runtime fields (spec SyncTask: status, lastRunAt, lastRunStatus, nextRunAt,
/// stats, lastError) from the server's task state.
fn runtime(api: &Api, tenant: &str, id: &str, body: &mut Value) {
    let paused = api.runner.is_paused(id);
    if let Value::Object(map) = body {
        if paused {
            map.insert("status".into(), json!("paused"));
        } else if !map.contains_key("status") {
            map.insert("status".into(), json!("active"));
        }
        if let Ok(Some(state)) = api.shared.engine.store.task_state(tenant, id) {
            map.insert("lastRunAt".into(), json!(state.last_run_at));
            map.insert(
                "lastRunStatus".into(),
                serde_json::to_value(state.last_run_status).unwrap_or(Value::Null),
            );
            map.insert("nextRunAt".into(), json!(state.next_run_at));
            map.insert(
                "stats".into(),
                serde_json::to_value(&state.stats).unwrap_or(Value::Null),
            );
            map.insert(
                "lastError".into(),
                serde_json::to_value(&state.last_error).unwrap_or(Value::Null),
            );
        }
    }
}

/// A stored document as the API shows it: the spec's JSON plus the store's fields.
fn stored_json(api: &Api, doc: &PipelineDocument) -> Value {
    let mut body = stored_item(doc)
        .map(|i| encode_item(&i))
        .unwrap_or(json!({}));
    if let Value::Object(map) = &mut body {
        map.insert("version".into(), json!(doc.version));
        map.insert("createdBy".into(), json!(doc.created_by));
        map.insert("createdAt".into(), json!(doc.created_at));
        map.insert("updatedBy".into(), json!(doc.updated_by));
        map.insert("updatedAt".into(), json!(doc.updated_at));
        map.insert("definedBy".into(), json!({ "api": true }));
        map.insert("readOnly".into(), json!(false));
    }
    if doc.kind == DocumentKind::Task {
        runtime(api, &doc.tenant_id, &doc.id, &mut body);
    }
    body
}

fn file_json(api: &Api, tenant: &str, kind: DocumentKind, path: &FsPath, item: &Item) -> Value {
    let mut body = encode_item(item);
    if let Value::Object(map) = &mut body {
        map.insert("definedBy".into(), json!({ "file": shown(api, path) }));
        map.insert("readOnly".into(), json!(true));
    }
    if let (DocumentKind::Task, Some(id)) = (kind, item_id(item, kind)) {
        runtime(api, tenant, id, &mut body);
    }
    body
}

fn with_etag(mut response: Response, version: u64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

fn cmap_text(text: String) -> Response {
    ([(header::CONTENT_TYPE, CMAP_TEXT)], text).into_response()
}

fn wants_cmap(query: &GetQuery) -> Result<bool, ApiError> {
    match query.format.as_deref() {
        None | Some("json") => Ok(false),
        Some("cmap") => Ok(true),
        Some(other) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("unknown format `{}`", other.escape_default()),
            "pass `format=json` (the default) or `format=cmap`",
        )
        .code("bad_format")),
    }
}

// ---------------------------------------------------------------------------------
// Reads

async fn get_one(
    api: Arc<Api>,
    actor: Actor,
    kind: DocumentKind,
    integration: String,
    id: String,
    query: GetQuery,
) -> Result<Response, ApiError> {
    tenant_integration(&api, &actor, &integration).await?;
    let located = locate(&api, &actor.tenant, kind, &integration, &id).await?;
    actor.require(action(kind))?;
    let as_cmap = wants_cmap(&query)?;
    match located {
        Located::Stored(doc) => {
            let version = doc.version;
            let response = if as_cmap {
                cmap_text(doc.text)
            } else {
                axum::Json(stored_json(&api, &doc)).into_response()
            };
            Ok(with_etag(response, version))
        }
        Located::File(path, item) => Ok(if as_cmap {
            let doc = Document {
                items: vec![*item],
                comments: Vec::new(),
            };
            cmap_text(printer::print(&doc, Some(&crate::functions::param_names)))
        } else {
            axum::Json(file_json(&api, &actor.tenant, kind, &path, &item)).into_response()
        }),
    }
}

/// Where an object of the tenant under an integration is defined.
pub(super) enum Located {
    Stored(PipelineDocument),
    File(PathBuf, Box<Item>),
}

pub(super) async fn locate(
    api: &Arc<Api>,
    tenant: &str,
    kind: DocumentKind,
    integration: &str,
    id: &str,
) -> Result<Located, ApiError> {
    let api2 = api.clone();
    let (tenant, integration, id) = (tenant.to_owned(), integration.to_owned(), id.to_owned());
    tokio::task::spawn_blocking(move || {
        let store = &api2.shared.engine.store;
        if let Some(doc) = store
            .pipeline_document(&tenant, kind, &id)
            .map_err(store_error)?
        {
            if doc.tenant_integration_id == integration {
                return Ok(Located::Stored(doc));
            }
            return Err(not_found(kind, &id));
        }
        let ws = read_workspace(&api2, None, None)?;
        file_defined(&api2, &ws, &tenant, &integration, kind)
            .into_iter()
            .find(|(_, item)| item_id(item, kind) == Some(id.as_str()))
            .map(|(path, item)| Located::File(path, Box::new(item)))
            .ok_or_else(|| not_found(kind, &id))
    })
    .await
    .map_err(store_error)?
}

async fn list(
    api: Arc<Api>,
    actor: Actor,
    kind: DocumentKind,
    integration: String,
    query: ListQuery,
) -> Result<Response, ApiError> {
    tenant_integration(&api, &actor, &integration).await?;
    actor.require(action(kind))?;
    let limit = super::control::page_limit(query.limit.as_deref())?;
    let tenant = actor.tenant.clone();
    let api2 = api.clone();
    let entries = tokio::task::spawn_blocking(move || -> Result<Vec<(String, Value)>, ApiError> {
        let store = &api2.shared.engine.store;
        let filter = DocumentFilter {
            tenant_integration: Some(integration.clone()),
            kind: Some(kind),
        };
        // Every stored one of this integration and kind, merged with the files' by id.
        let mut entries = Vec::new();
        let mut after: Option<DocumentCursor> = None;
        loop {
            let page = store
                .pipeline_documents(
                    &tenant,
                    &filter,
                    &PageRequest {
                        limit: crate::store::Limit::MAX,
                        after: after.clone(),
                    },
                )
                .map_err(store_error)?;
            for doc in &page.items {
                entries.push((doc.id.clone(), stored_json(&api2, doc)));
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let ws = read_workspace(&api2, None, None)?;
        for (path, item) in file_defined(&api2, &ws, &tenant, &integration, kind) {
            if let Some(id) = item_id(&item, kind) {
                entries.push((id.to_owned(), file_json(&api2, &tenant, kind, &path, &item)));
            }
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(entries)
    })
    .await
    .map_err(store_error)??;
    // The cursor is the last id of the previous page (ids are unique workspace-wide).
    let after = query.cursor.as_deref();
    let rest: Vec<&(String, Value)> = entries
        .iter()
        .filter(|(id, _)| after.is_none_or(|a| id.as_str() > a))
        .collect();
    let page: Vec<&Value> = rest.iter().take(limit.get()).map(|(_, v)| v).collect();
    let next = (rest.len() > limit.get())
        .then(|| rest.get(limit.get() - 1).map(|(id, _)| id.clone()))
        .flatten();
    let key = match kind {
        DocumentKind::Schema => "schemas",
        DocumentKind::Task => "tasks",
    };
    Ok(axum::Json(json!({ key: page, "nextCursor": next })).into_response())
}

// ---------------------------------------------------------------------------------
// Writes

/// What a write does.
enum Change {
    Create,
    Update { id: String },
    Delete { id: String },
}

/// A refused write: 422 `does_not_check` with the diagnostics as `cmap check --format
/// json` gives them (`diagnostics`, `errors`, `warnings`), in problem details.
fn does_not_check(diagnostics: &[Diagnostic], sources: &SourceMap) -> Response {
    let rendered = render::json(diagnostics, sources);
    let errors = rendered["errors"].as_u64().unwrap_or(0);
    let mut body = json!({
        "type": "about:blank",
        "title": "Unprocessable Entity",
        "status": 422,
        "code": "does_not_check",
        "detail": format!("the change does not check: {errors} error(s); nothing was changed"),
        "help": "fix what `diagnostics` lists (each names its file, line and column) and send it again",
    });
    body["diagnostics"] = rendered["diagnostics"].clone();
    body["errors"] = rendered["errors"].clone();
    body["warnings"] = rendered["warnings"].clone();
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        [(header::CONTENT_TYPE, PROBLEM_JSON)],
        body.to_string(),
    )
        .into_response()
}

/// `If-Match: "N"` as a version; `None` when absent.
fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    text.trim_start_matches("W/")
        .trim_matches('"')
        .parse::<u64>()
        .map(Some)
        .map_err(|_| {
            ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "`If-Match` is not an ETag this API gave",
                "send the `ETag` of your last GET, e.g. `If-Match: \"3\"`",
            )
            .code("precondition_failed")
        })
}

fn stale(kind: DocumentKind, id: &str, current: u64) -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        format!(
            "{kind} `{}` changed since you read it (it is at version {current})",
            id.escape_default()
        ),
        "GET it again, apply your change to what it is now, and send it with the new ETag",
    )
    .code("precondition_failed")
}

/// The body as text, and whether it is `.cmap` (else seed JSON).
fn body_text(headers: &HeaderMap, body: &Bytes) -> Result<(String, bool), ApiError> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    let is_cmap = match media.as_deref() {
        Some(CMAP_TEXT) => true,
        Some("application/json") => false,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the body must be `application/json` (the spec's shape) or `text/x-cmap`",
                "set `Content-Type: application/json` or `Content-Type: text/x-cmap`",
            )
            .code("unsupported_media_type"))
        }
    };
    if body.len() > MAX_TEXT_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the document is {} bytes long; at most {MAX_TEXT_BYTES}",
                body.len()
            ),
            "split it: one schema or task per document",
        )
        .code("payload_too_large"));
    }
    let text = String::from_utf8(body.to_vec()).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "the body is not UTF-8 (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
            "send UTF-8 text",
        )
        .code("bad_body")
    })?;
    Ok((text, is_cmap))
}

/// `text` (a JSON body) with `"tenantIntegrationId": integration` added when it is an
/// object without that key. Added before the closing brace, so every span of what was
/// sent stays where it was (diagnostics point into the submitted text).
fn with_integration(text: String, integration: &str) -> String {
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(&text) else {
        return text;
    };
    if object.contains_key("tenantIntegrationId") {
        return text;
    }
    let Some(close) = text.rfind('}') else {
        return text;
    };
    let comma = if object.is_empty() { "" } else { "," };
    let id = Value::String(integration.to_string());
    format!(
        "{}{comma}\"tenantIntegrationId\":{id}{}",
        &text[..close],
        &text[close..]
    )
}

#[cfg(test)]
mod integration_tests {
    use super::with_integration;

    #[test]
    fn a_json_body_takes_the_paths_integration_unless_it_names_one() {
        let cases = [
            (
                r#"{"id": "s"}"#,
                r#"{"id": "s","tenantIntegrationId":"salesforce"}"#,
            ),
            ("{}", r#"{"tenantIntegrationId":"salesforce"}"#),
            (
                r#"{"id": "s", "tenantIntegrationId": "rest"}"#,
                r#"{"id": "s", "tenantIntegrationId": "rest"}"#,
            ),
            ("[1]", "[1]"),
            ("{nope", "{nope"),
        ];
        for (sent, want) in cases {
            assert_eq!(
                with_integration(sent.to_string(), "salesforce"),
                want,
                "{sent}"
            );
        }
    }
}

fn conflict(code: &'static str, detail: String, help: &str) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, detail, help).code(code)
}

/// The outcome of a checked write, to store.
struct Checked {
    /// What to store: the `.cmap` text and id (`None` for a delete).
    stored: Option<(String, String)>,
}

/// Checks a write (blocking): the body's shape, id and uniqueness, then the whole
/// workspace with the change made. `Err` is the answer.
fn check_write(
    api: &Api,
    tenant: &str,
    integration: &str,
    kind: DocumentKind,
    change: &Change,
    body: Option<(String, bool)>,
) -> Result<Checked, Box<Response>> {
    let skip_id = match change {
        Change::Create => None,
        Change::Update { id } | Change::Delete { id } => Some(id.as_str()),
    };
    let skip = skip_id.map(|id| (tenant, kind, id));
    let Some((text, is_cmap)) = body else {
        // A delete: the workspace without it must still check.
        let ws = read_workspace(api, skip, None).map_err(IntoResponse::into_response)?;
        let checked = workspace::check_read(ws);
        let errors: Vec<Diagnostic> = checked
            .diagnostics
            .into_iter()
            .filter(Diagnostic::is_error)
            .collect();
        if !errors.is_empty() {
            return Err(does_not_check(&errors, &checked.workspace.sources).into());
        }
        return Ok(Checked { stored: None });
    };

    // A JSON object sent under a tenant integration is of that integration unless it
    // says otherwise (the spec's ConversionSchema and SyncTask carry
    // `tenantIntegrationId`; a schema's is its source's integration).
    let text = if is_cmap {
        text
    } else {
        with_integration(text, integration)
    };
    // The body alone: one item of the right kind, with the right id.
    let ext = if is_cmap { "cmap" } else { "json" };
    let provisional = skip_id.unwrap_or("new");
    let path = document_path(tenant, kind, provisional, ext);
    let mut alone = SourceMap::default();
    let file = alone.add(path.clone(), text.clone());
    let (parsed, diags) = crate::syntax::parse(file, alone.get(file));
    if diags.iter().any(Diagnostic::is_error) {
        return Err(does_not_check(&diags, &alone).into());
    }
    let items: Vec<&Item> = parsed.items.iter().collect();
    let [item] = items.as_slice() else {
        return Err(unprocessable(
            "one_object",
            format!(
                "the document defines {} items; it must define exactly one {kind}",
                items.len()
            ),
            "send one object (JSON) or one item (`.cmap`) per request",
        )
        .into_response()
        .into());
    };
    let Some(id) = item_id(item, kind) else {
        return Err(unprocessable(
            "wrong_kind",
            format!("the document does not define a {kind}"),
            "schemas go to `.../schemas`, tasks to `.../tasks`",
        )
        .into_response()
        .into());
    };
    let id = id.to_owned();
    if let Some(expected) = skip_id {
        if id != expected {
            return Err(unprocessable(
                "id_mismatch",
                format!(
                    "the document defines {kind} `{}`, not `{}`",
                    id.escape_default(),
                    expected.escape_default()
                ),
                "an id cannot change: create the new one, then delete the old one",
            )
            .into_response()
            .into());
        }
    }
    let usable = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if id.is_empty() || id.len() > 128 || !id.chars().all(usable) {
        return Err(unprocessable(
            "bad_id",
            format!("`{}` is not a usable id", id.escape_default()),
            "use 1 to 128 of ASCII letters, digits, `-`, `_` and `.`",
        )
        .into_response()
        .into());
    }
    if let Item::Task(t) = item {
        if let Some(named) = t.integration.as_ref().filter(|n| n.node != integration) {
            return Err(unprocessable(
                "integration_mismatch",
                format!(
                    "the task names tenant integration `{}`, but is sent under `{}`",
                    named.node.escape_default(),
                    integration.escape_default()
                ),
                "send it under its own integration's path, or change `tenantIntegrationId`",
            )
            .into_response()
            .into());
        }
    }
    let path = document_path(tenant, kind, &id, ext);
    let extra = Extra {
        path: path.clone(),
        text: text.clone(),
        owner: Owner::Tenant(tenant.to_owned()),
    };
    let ws = read_workspace(api, skip, Some(extra)).map_err(IntoResponse::into_response)?;
    if matches!(change, Change::Create) {
        // Ids are unique workspace-wide: any other definition of this kind and id.
        for (i, doc) in ws.documents.iter().enumerate() {
            let other = &ws.sources.files[i].path;
            if *other == path || !doc.items.iter().any(|it| item_id(it, kind) == Some(&id)) {
                continue;
            }
            let mine = ws.owners.get(i).is_some_and(|o| owned_by(o, tenant));
            let detail = if is_document_path(other) {
                if mine {
                    format!("{kind} `{}` exists already", id.escape_default())
                } else {
                    format!("{kind} id `{}` is taken", id.escape_default())
                }
            } else if mine || matches!(ws.owners.get(i), Some(Owner::Top | Owner::Stdlib)) {
                let shown = shown(api, other);
                return Err(conflict(
                    "defined_by_file",
                    format!(
                        "{kind} `{}` is defined by the file `{shown}`",
                        id.escape_default()
                    ),
                    "an object has one source of truth: edit the file, or pick another id",
                )
                .into_response()
                .into());
            } else {
                format!("{kind} id `{}` is taken", id.escape_default())
            };
            return Err(conflict(
                "id_taken",
                detail,
                "ids are unique across the workspace: pick another id, or PATCH the existing one",
            )
            .into_response()
            .into());
        }
    }
    let checked = workspace::check_read(ws);
    let submitted = checked
        .workspace
        .sources
        .files
        .iter()
        .position(|f| f.path == path);
    let shown_diags: Vec<Diagnostic> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error() || Some(d.span.file as usize) == submitted)
        .cloned()
        .collect();
    if shown_diags.iter().any(Diagnostic::is_error) {
        return Err(does_not_check(&shown_diags, &checked.workspace.sources).into());
    }
    let stored_text = if is_cmap {
        text
    } else {
        // What a GET adds (the store's fields, a task's runtime) is the server's: a body
        // sent back as read does not store a copy of it.
        let mut parsed = parsed;
        for item in &mut parsed.items {
            let meta = match item {
                Item::Schema(s) => &mut s.meta,
                Item::Task(t) => &mut t.meta,
                _ => continue,
            };
            meta.retain(|(key, _)| !SERVER_KEYS.contains(&key.node.as_str()));
        }
        printer::print(&parsed, Some(&crate::functions::param_names))
    };
    Ok(Checked {
        stored: Some((id, stored_text)),
    })
}

fn hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Asks for a reload and waits (bounded) until a generation serves `path` with `text`
/// (`None`: without `path`).
async fn go_live(api: &Api, path: PathBuf, text: Option<&str>) {
    let want = text.map(hash);
    let _ = api
        .shared
        .events
        .send(Event::Reload {
            reason: format!("API write of `{}`", path.display()),
        })
        .await;
    let deadline = tokio::time::Instant::now() + LIVE_WAIT;
    loop {
        let live = {
            let files = api.shared.files.read().unwrap_or_else(|e| e.into_inner());
            match (&want, files.get(&path)) {
                (Some(h), Some(status)) => status.hash == *h && status.last_error.is_none(),
                (None, None) => true,
                _ => false,
            }
        };
        if live {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(path = %path.display(), "an API write is stored but not serving yet");
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn write(
    api: Arc<Api>,
    actor: Actor,
    kind: DocumentKind,
    integration: String,
    change: Change,
    headers: HeaderMap,
    body: Option<Bytes>,
) -> Result<Response, Response> {
    tenant_integration(&api, &actor, &integration)
        .await
        .map_err(IntoResponse::into_response)?;
    // The object first (404 / 409 for a file's), then the role (403).
    let existing = match &change {
        Change::Create => None,
        Change::Update { id } | Change::Delete { id } => {
            match locate(&api, &actor.tenant, kind, &integration, id)
                .await
                .map_err(IntoResponse::into_response)?
            {
                Located::Stored(doc) => Some(doc),
                Located::File(path, _) => {
                    actor
                        .require(action(kind))
                        .map_err(IntoResponse::into_response)?;
                    return Err(conflict(
                        "defined_by_file",
                        format!(
                            "{kind} `{}` is defined by the file `{}`",
                            id.escape_default(),
                            shown(&api, &path)
                        ),
                        "an object has one source of truth: edit the file (the server reloads it)",
                    )
                    .into_response());
                }
            }
        }
    };
    actor
        .require(action(kind))
        .map_err(IntoResponse::into_response)?;
    let expected = if_match(&headers).map_err(IntoResponse::into_response)?;
    let body = match body {
        Some(b) => Some(body_text(&headers, &b).map_err(IntoResponse::into_response)?),
        None => None,
    };

    let _one_at_a_time = api.documents.lock.lock().await;
    // Read again under the lock: the version may have moved while this waited.
    let current = match &existing {
        None => None,
        Some(doc) => {
            let store = api.shared.engine.store.clone();
            let (t, id) = (doc.tenant_id.clone(), doc.id.clone());
            let now = tokio::task::spawn_blocking(move || store.pipeline_document(&t, kind, &id))
                .await
                .map_err(|e| store_error(e).into_response())?
                .map_err(|e| store_error(e).into_response())?;
            match now {
                Some(d) => Some(d),
                None => return Err(not_found(kind, &doc.id).into_response()),
            }
        }
    };
    if let (Some(doc), Some(v)) = (&current, expected) {
        if doc.version != v {
            return Err(stale(kind, &doc.id, doc.version).into_response());
        }
    }
    let checked = {
        let api2 = api.clone();
        let tenant = actor.tenant.clone();
        let integration = integration.clone();
        tokio::task::spawn_blocking(move || {
            let r = check_write(&api2, &tenant, &integration, kind, &change, body);
            (r, change)
        })
        .await
        .map_err(|e| store_error(e).into_response())?
    };
    let (checked, change) = checked;
    let checked = checked.map_err(|refused| *refused)?;

    let now = Utc::now();
    let verb = match (&change, kind) {
        (Change::Create, DocumentKind::Schema) => audit::action::SCHEMA_CREATE,
        (Change::Update { .. }, DocumentKind::Schema) => audit::action::SCHEMA_UPDATE,
        (Change::Delete { .. }, DocumentKind::Schema) => audit::action::SCHEMA_DELETE,
        (Change::Create, DocumentKind::Task) => audit::action::TASK_CREATE,
        (Change::Update { .. }, DocumentKind::Task) => audit::action::TASK_UPDATE,
        (Change::Delete { .. }, DocumentKind::Task) => audit::action::TASK_DELETE,
    };
    let id = match (&change, &checked.stored) {
        (Change::Update { id } | Change::Delete { id }, _) => id.clone(),
        (Change::Create, Some((id, _))) => id.clone(),
        (Change::Create, None) => String::new(),
    };
    let entry = AuditEntry::new(
        now,
        Some(&actor.tenant),
        audit::Actor {
            user_id: actor.user_id.clone(),
            email: Some(actor.email.clone()),
            role: actor.role.into(),
        },
        verb,
        Target::new(kind.as_str(), id.clone()),
        Outcome::Success,
        Details::scrubbed(
            json!({ "tenantIntegrationId": integration }),
            &crate::redact::Redactor::none(),
        ),
    );
    let store = api.shared.engine.store.clone();
    let tenant = actor.tenant.clone();
    let user = actor.user_id.clone();
    let stored_text = checked.stored.as_ref().map(|(_, t)| t.clone());
    let written =
        tokio::task::spawn_blocking(move || -> Result<Option<PipelineDocument>, StoreError> {
            match (change, current, checked.stored) {
                (Change::Create, _, Some((id, text))) => store
                    .create_pipeline_document(
                        &PipelineDocument {
                            tenant_id: tenant,
                            kind,
                            id,
                            tenant_integration_id: integration,
                            text,
                            version: 0,
                            created_by: user.clone(),
                            created_at: now,
                            updated_by: user,
                            updated_at: now,
                        },
                        Some(&entry),
                    )
                    .map(Some),
                (Change::Update { .. }, Some(doc), Some((_, text))) => {
                    let version = doc.version;
                    let next = PipelineDocument {
                        text,
                        updated_by: user,
                        updated_at: now,
                        ..doc
                    };
                    store
                        .replace_pipeline_document(&next, version, Some(&entry))
                        .map(Some)
                }
                (Change::Delete { id }, Some(doc), None) => store
                    .delete_pipeline_document(&tenant, kind, &id, doc.version, Some(&entry))
                    .map(|_| None),
                _ => Err(StoreError::Invalid("an inconsistent write".into())),
            }
        })
        .await
        .map_err(|e| store_error(e).into_response())?;
    let written = match written {
        Ok(w) => w,
        Err(StoreError::Stale { found, .. }) => return Err(stale(kind, &id, found).into_response()),
        Err(StoreError::Exists(what)) => {
            return Err(conflict(
                "id_taken",
                format!("{what} exists already"),
                "pick another id, or PATCH the existing one",
            )
            .into_response())
        }
        Err(e) => return Err(store_error(e).into_response()),
    };
    go_live(
        &api,
        document_path(&actor.tenant, kind, &id, "cmap"),
        stored_text.as_deref(),
    )
    .await;
    Ok(match written {
        Some(doc) => {
            let status = if doc.version == 1 {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let version = doc.version;
            let mut response = (status, axum::Json(stored_json(&api, &doc))).into_response();
            if status == StatusCode::CREATED {
                let location = format!(
                    "/api/tenant/integrations/{}/{}s/{}",
                    doc.tenant_integration_id,
                    kind.as_str(),
                    doc.id
                );
                if let Ok(v) = HeaderValue::from_str(&location) {
                    response.headers_mut().insert(header::LOCATION, v);
                }
            }
            with_etag(response, version)
        }
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

fn flatten(r: Result<Response, Response>) -> Response {
    r.unwrap_or_else(|e| e)
}

// ---------------------------------------------------------------------------------
// Handlers

macro_rules! document_handlers {
    ($kind:expr, $tag:literal, $coll:literal, $one:literal, [$list_doc:literal, $create_doc:literal, $get_doc:literal, $update_doc:literal, $delete_doc:literal],
     $list:ident, $create:ident, $get:ident, $update:ident, $delete:ident) => {
        #[doc = $list_doc]
        #[utoipa::path(
            get,
            path = $coll,
            tag = $tag,
            params(("integration" = String, Path, description = "the tenant integration id (the integration's id, e.g. `salesforce`)"), ListQuery),
            responses(
                (status = 200, description = "one page, in id order, and `nextCursor`", body = Object),
                (status = 400, description = "a bad limit, cursor or parameter", body = super::openapi::Problem, content_type = "application/problem+json"),
                super::openapi::Refusals,
            ),
            security(("bearer" = []))
        )]
        pub(super) async fn $list(
            State(api): State<Arc<Api>>,
            actor: Actor,
            Path(integration): Path<String>,
            query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
        ) -> Response {
            let q = match query {
                Ok(Query(q)) => q,
                Err(e) => return query_error(&e, "`limit` and `cursor`").into_response(),
            };
            flatten(list(api, actor, $kind, integration, q).await.map_err(IntoResponse::into_response))
        }

        #[doc = $create_doc]
        #[utoipa::path(
            post,
            path = $coll,
            tag = $tag,
            params(("integration" = String, Path, description = "the tenant integration id")),
            request_body(content(
                (Object = "application/json"),
                (String = "text/x-cmap"),
            ), description = "one object in the spec's shape, or one `.cmap` item"),
            responses(
                (status = 201, description = "created and serving; `ETag` and `Location`", body = Object),
                (status = 409, description = "the id is taken (`id_taken`) or a file defines it (`defined_by_file`)", body = super::openapi::Problem, content_type = "application/problem+json"),
                (status = 413, description = "over 1 MiB", body = super::openapi::Problem, content_type = "application/problem+json"),
                (status = 415, description = "neither JSON nor `text/x-cmap`", body = super::openapi::Problem, content_type = "application/problem+json"),
                (status = 422, description = "does not check: `diagnostics` as `cmap check --format json` gives them", body = super::openapi::Problem, content_type = "application/problem+json"),
                super::openapi::Refusals,
            ),
            security(("bearer" = []))
        )]
        pub(super) async fn $create(
            State(api): State<Arc<Api>>,
            actor: Actor,
            Path(integration): Path<String>,
            headers: HeaderMap,
            body: Bytes,
        ) -> Response {
            flatten(write(api, actor, $kind, integration, Change::Create, headers, Some(body)).await)
        }

        #[doc = $get_doc]
        #[utoipa::path(
            get,
            path = $one,
            tag = $tag,
            params(("integration" = String, Path, description = "the tenant integration id"), ("id" = String, Path, description = "the id"), GetQuery),
            responses(
                (status = 200, description = "the spec's shape plus `version`, `createdBy`, `createdAt`, `updatedBy`, `updatedAt`, `definedBy`, `readOnly`", body = Object),
                super::openapi::Refusals,
            ),
            security(("bearer" = []))
        )]
        pub(super) async fn $get(
            State(api): State<Arc<Api>>,
            actor: Actor,
            Path((integration, id)): Path<(String, String)>,
            query: Result<Query<GetQuery>, axum::extract::rejection::QueryRejection>,
        ) -> Response {
            let q = match query {
                Ok(Query(q)) => q,
                Err(e) => return query_error(&e, "`format`").into_response(),
            };
            flatten(get_one(api, actor, $kind, integration, id, q).await.map_err(IntoResponse::into_response))
        }

        #[doc = $update_doc]
        #[utoipa::path(
            patch,
            path = $one,
            tag = $tag,
            params(("integration" = String, Path, description = "the tenant integration id"), ("id" = String, Path, description = "the id"), ("If-Match" = Option<String>, Header, description = "the ETag of the version read")),
            request_body(content(
                (Object = "application/json"),
                (String = "text/x-cmap"),
            ), description = "the whole object, with the same id"),
            responses(
                (status = 200, description = "replaced and serving; the new `ETag`", body = Object),
                (status = 409, description = "a file defines it (`defined_by_file`)", body = super::openapi::Problem, content_type = "application/problem+json"),
                (status = 412, description = "`If-Match` is stale", body = super::openapi::Problem, content_type = "application/problem+json"),
                (status = 415, description = "neither JSON nor `text/x-cmap`", body = super::openapi::Problem, content_type = "application/problem+json"),
                (status = 422, description = "does not check (`diagnostics`)", body = super::openapi::Problem, content_type = "application/problem+json"),
                super::openapi::Refusals,
            ),
            security(("bearer" = []))
        )]
        pub(super) async fn $update(
            State(api): State<Arc<Api>>,
            actor: Actor,
            Path((integration, id)): Path<(String, String)>,
            headers: HeaderMap,
            body: Bytes,
        ) -> Response {
            flatten(write(api, actor, $kind, integration, Change::Update { id }, headers, Some(body)).await)
        }

        #[doc = $delete_doc]
        #[utoipa::path(
            delete,
            path = $one,
            tag = $tag,
            params(("integration" = String, Path, description = "the tenant integration id"), ("id" = String, Path, description = "the id"), ("If-Match" = Option<String>, Header, description = "the ETag of the version read")),
            responses(
                (status = 204, description = "deleted, and no longer serving"),
                (status = 409, description = "a file defines it (`defined_by_file`)", body = super::openapi::Problem, content_type = "application/problem+json"),
                (status = 412, description = "`If-Match` is stale", body = super::openapi::Problem, content_type = "application/problem+json"),
                (status = 422, description = "the rest does not check without it (`diagnostics`)", body = super::openapi::Problem, content_type = "application/problem+json"),
                super::openapi::Refusals,
            ),
            security(("bearer" = []))
        )]
        pub(super) async fn $delete(
            State(api): State<Arc<Api>>,
            actor: Actor,
            Path((integration, id)): Path<(String, String)>,
            headers: HeaderMap,
        ) -> Response {
            flatten(write(api, actor, $kind, integration, Change::Delete { id }, headers, None).await)
        }
    };
}

document_handlers!(
    DocumentKind::Schema,
    "schemas",
    "/api/tenant/integrations/{integration}/schemas",
    "/api/tenant/integrations/{integration}/schemas/{id}",
    [
        "The tenant integration's conversion schemas (stored and file-defined), in id order, paged.",
        "Creates a conversion schema from the spec's JSON or `.cmap` text, checked as `cmap check` checks a file.",
        "One conversion schema: JSON with its version and authors (and `ETag`), or `?format=cmap` for the text.",
        "Replaces a conversion schema stored through the API (`If-Match`: its ETag).",
        "Deletes a conversion schema stored through the API (`If-Match`: its ETag)."
    ],
    list_schemas,
    create_schema,
    get_schema,
    update_schema,
    delete_schema
);
document_handlers!(
    DocumentKind::Task,
    "tasks",
    "/api/tenant/integrations/{integration}/tasks",
    "/api/tenant/integrations/{integration}/tasks/{id}",
    [
        "The tenant integration's sync tasks (stored and file-defined), in id order, paged.",
        "Creates a sync task from the spec's JSON or `.cmap` text, checked as `cmap check` checks a file.",
        "One sync task: JSON with its version, authors and runtime fields (and `ETag`), or `?format=cmap` for the text.",
        "Replaces a sync task stored through the API (`If-Match`: its ETag).",
        "Deletes a sync task stored through the API (`If-Match`: its ETag)."
    ],
    list_tasks,
    create_task,
    get_task,
    update_task,
    delete_task
);
