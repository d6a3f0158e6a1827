//! The platform's write side (issue 9; spec "Integration Configuration", "Access Control
//! & Visibility", "API Reference"): the super admin's catalogue
//! (`/api/admin/integrations`), a tenant's integrations (`/api/tenant/integrations`)
//! and the audit log reader (`GET /api/admin/audit`). docs/api.md documents each
//! endpoint and the decisions taken here.
//!
//! Catalogue writes are serialised by [`Api::catalogue_writes`] (the store has no
//! compare-and-set for definitions: the version check and the write happen under that
//! lock, so two `PATCH`es with one `If-Match` cannot both pass). Tenant integrations
//! use the store's own compare-and-set (`update_tenant_integration`).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::auth::{Action, Actor};
use super::control::{page_request, query_error};
use super::http::{store_error, Api, ApiError, PROBLEM_JSON};
use crate::compile::ir;
use crate::diagnostics::Diagnostic;
use crate::engine::catalogue::{check_definition, Catalogue, Origin};
use crate::redact::Redactor;
use crate::span::{SourceKind, SourceMap};
use crate::store::audit::{self, action, AuditEntry, Details, Outcome, Target};
use crate::store::identity::Role;
use crate::store::tenant_integration::{
    IntegrationStatus, TenantIntegration, TenantIntegrationCursor,
};
use crate::store::{AuditCursor, AuditFilter, AuditScope, IntegrationDefEntry, Store, StoreError};

// ---------------------------------------------------------------------------------
// Shared pieces

/// The audit actor of an API caller.
fn audit_actor(actor: &Actor) -> audit::Actor {
    audit::Actor {
        user_id: actor.user_id.clone(),
        email: Some(actor.email.clone()),
        role: actor.role.into(),
    }
}

/// A successful change's entry; `details` are scrubbed of secrets ([`Details`]).
fn entry(
    actor: &Actor,
    tenant: Option<&str>,
    what: &str,
    target: Target,
    details: Value,
) -> AuditEntry {
    AuditEntry::new(
        chrono::Utc::now(),
        tenant,
        audit_actor(actor),
        what,
        target,
        Outcome::Success,
        Details::scrubbed(details, &Redactor::none()),
    )
}

/// Runs a blocking store call off the async threads (writes block on fsync).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<Result<T, StoreError>, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(store_error)
}

/// `If-Match: "N"` (or `N`, or `W/"N"`): `Ok(None)` when absent, 412 when it is no
/// version this API wrote.
fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or("").trim();
    let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    text.parse::<u64>().map(Some).map_err(|_| {
        stale("the If-Match header is not a version this API gave (an ETag like `\"3\"`)")
    })
}

fn stale(detail: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        detail,
        "GET the object again and send its ETag as If-Match",
    )
    .code("precondition_failed")
}

/// `status` with `body` and `ETag: "version"`.
fn tagged(status: StatusCode, version: u64, body: Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    if let Ok(v) = header::HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

/// A 422 problem whose extension members are the check JSON (`diagnostics`, `errors`,
/// `warnings`), as `cmap check --format json` prints them.
fn unprocessable(code: &str, detail: &str, help: &str, check: Value) -> Response {
    let mut body = json!({
        "type": "about:blank",
        "title": "Unprocessable Content",
        "status": 422,
        "code": code,
        "detail": detail,
        "help": help,
    });
    if let (Some(body), Value::Object(check)) = (body.as_object_mut(), check) {
        for (k, v) in check {
            body.insert(k, v);
        }
    }
    let mut response = (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(PROBLEM_JSON),
    );
    response
}

fn unknown_integration(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no integration `{id}`"),
        "GET /api/integrations lists the integrations you may see",
    )
    .code("integration_not_found")
}

fn bad_body(e: impl std::fmt::Display, help: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, format!("the body: {e}"), help).code("bad_body")
}

/// `limit` and `cursor` of a paged list.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct PageQuery {
    /// At most this many (1 to 1000; default 100).
    #[param(value_type = Option<u32>)]
    limit: Option<String>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
}

// ---------------------------------------------------------------------------------
// The catalogue: /api/admin/integrations

/// Where an entry comes from, as the admin list says it.
fn origin_of(catalogue: &Catalogue, id: &str) -> Option<(&'static str, u64)> {
    if let Some(version) = catalogue.disabled.get(id) {
        return Some(("disabled", *version));
    }
    if let Some(b) = catalogue.broken.iter().find(|b| b.id == id) {
        return Some(("broken", b.version));
    }
    catalogue
        .entry(id, Role::SuperAdmin)
        .map(|e| match e.origin {
            Origin::Stdlib => ("stdlib", 0),
            Origin::Stored {
                version,
                overrides: true,
            } => ("override", version),
            Origin::Stored { version, .. } => ("stored", version),
        })
}

/// Whether the standard library (the loaded program) defines `id`.
fn shipped(api: &Api, id: &str) -> bool {
    api.shared.snapshot().program.integration(id).is_some()
}

/// The definition as the API shows it.
fn definition_json(d: &ir::IntegrationDefinition) -> Value {
    serde_json::to_value(d).unwrap_or(Value::Null)
}

/// Reads a submitted definition by its `Content-Type`: seed JSON or `.cmap` text.
fn submitted(headers: &HeaderMap, body: &Bytes) -> Result<(String, SourceKind), ApiError> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    let kind = match media.as_deref() {
        Some("application/json") => SourceKind::Json,
        Some("text/x-cmap") => SourceKind::Cmap,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "a definition is sent as `application/json` (seed JSON) or `text/x-cmap`",
                "set Content-Type to application/json or text/x-cmap",
            ))
        }
    };
    let text = std::str::from_utf8(body)
        .map_err(|_| bad_body("it is not UTF-8", "send the definition as UTF-8 text"))?;
    Ok((text.to_string(), kind))
}

/// Users of `id` among the tenants: how many tenants have it enabled.
fn tenants_using(store: &dyn Store, id: &str) -> Result<usize, StoreError> {
    let mut n = 0;
    for tenant in store.tenant_records()? {
        if store.tenant_integration(&tenant.id, id)?.is_some() {
            n += 1;
        }
    }
    Ok(n)
}

/// Every catalogue entry with its origin and version, the disabled stdlib ids, and the
/// stored entries left out with their problems (super admins).
#[utoipa::path(
    get,
    path = "/api/admin/integrations",
    tag = "integrations",
    responses(
        (status = 200, description = "`{integrations: [{id, origin, version, definition}], disabled: [{id, version}], broken: [{id, version, problems}]}`", body = Object),
        super::openapi::Refusals,
    ),
    security(("bearer" = []))
)]
pub(super) async fn admin_list(
    State(api): State<Arc<Api>>,
    actor: Actor,
) -> Result<Json<Value>, ApiError> {
    actor.require(Action::ManageCatalogue)?;
    let catalogue = api.catalogue()?;
    let integrations: Vec<Value> = catalogue
        .list(Role::SuperAdmin)
        .into_iter()
        .map(|d| {
            let (origin, version) = origin_of(&catalogue, &d.id).unwrap_or(("stdlib", 0));
            json!({ "id": d.id, "origin": origin, "version": version, "definition": definition_json(d) })
        })
        .collect();
    let disabled: Vec<Value> = catalogue
        .disabled
        .iter()
        .map(|(id, version)| json!({ "id": id, "origin": "disabled", "version": version }))
        .collect();
    let broken: Vec<Value> = catalogue
        .broken
        .iter()
        .map(|b| json!({ "id": b.id, "version": b.version, "problems": b.problems }))
        .collect();
    Ok(Json(
        json!({ "integrations": integrations, "disabled": disabled, "broken": broken }),
    ))
}

/// Adds an integration definition (seed JSON or `.cmap` text), checked as `cmap check`.
#[utoipa::path(
    post,
    path = "/api/admin/integrations",
    tag = "integrations",
    request_body(content = Object, description = "one IntegrationDefinition, as seed JSON (`application/json`) or `.cmap` (`text/x-cmap`)"),
    responses(
        (status = 201, description = "the definition as stored (`ETag`: its version)", body = Object),
        (status = 409, description = "`integration_exists`: the id is in the catalogue (PATCH it)", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 415, description = "neither JSON nor `.cmap`", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 422, description = "it does not check: the problem carries the check JSON", body = super::openapi::Problem, content_type = "application/problem+json"),
        super::openapi::Refusals,
    ),
    security(("bearer" = []))
)]
pub(super) async fn admin_add(
    State(api): State<Arc<Api>>,
    actor: Actor,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    actor.require(Action::ManageCatalogue)?;
    let (text, kind) = submitted(&headers, &body)?;
    let accepted = match check_definition(&text, kind) {
        Ok(a) => a,
        Err(rejected) => {
            return Ok(unprocessable(
                "definition_invalid",
                "the definition does not check",
                "fix the diagnostics (`cmap check` says the same)",
                rejected.to_json(),
            ))
        }
    };
    let id = accepted.definition.id.clone();
    let _writing = api.catalogue_writes.lock().await;
    let catalogue = api.catalogue()?;
    if origin_of(&catalogue, &id).is_some() || shipped(&api, &id) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("the catalogue has `{id}` already"),
            format!("PATCH /api/admin/integrations/{id} replaces it (a stdlib one is overridden)"),
        )
        .code("integration_exists"));
    }
    let store = api.shared.engine.store.clone();
    let audit = entry(
        &actor,
        None,
        action::DEFINITION_ADD,
        Target::new("integration", &id),
        json!({ "id": id }),
    );
    let seed = accepted.seed_json.clone();
    let key = id.clone();
    let record = blocking(move || {
        let record = store
            .put_integration_def(&key, &IntegrationDefEntry::Definition { seed_json: seed })?;
        store.append_audit(&AuditEntry {
            details: Details::scrubbed(
                json!({ "id": key, "version": record.version }),
                &Redactor::none(),
            ),
            ..audit
        })?;
        Ok(record)
    })
    .await?
    .map_err(store_error)?;
    api.invalidate_catalogue();
    Ok(tagged(
        StatusCode::CREATED,
        record.version,
        json!({ "definition": definition_json(&accepted.definition), "origin": "stored", "version": record.version, "warnings": accepted.warnings }),
    ))
}

/// Replaces a definition whole: an override of a stdlib one, a new version of a stored one.
#[utoipa::path(
    patch,
    path = "/api/admin/integrations/{id}",
    tag = "integrations",
    params(("id" = String, Path, description = "the integration id")),
    request_body(content = Object, description = "the whole IntegrationDefinition (its id is the path's)"),
    responses(
        (status = 200, description = "the definition as stored (`ETag`: its version)", body = Object),
        (status = 412, description = "`If-Match` is not the entry's version", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 415, description = "neither JSON nor `.cmap`", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 422, description = "it does not check, or names another id", body = super::openapi::Problem, content_type = "application/problem+json"),
        super::openapi::Refusals,
    ),
    security(("bearer" = []))
)]
pub(super) async fn admin_replace(
    State(api): State<Arc<Api>>,
    actor: Actor,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    actor.require(Action::ManageCatalogue)?;
    let expected = if_match(&headers)?;
    let (text, kind) = submitted(&headers, &body)?;
    let accepted = match check_definition(&text, kind) {
        Ok(a) => a,
        Err(rejected) => {
            return Ok(unprocessable(
                "definition_invalid",
                "the definition does not check",
                "fix the diagnostics (`cmap check` says the same)",
                rejected.to_json(),
            ))
        }
    };
    if accepted.definition.id != id {
        return Ok(unprocessable(
            "id_mismatch",
            &format!(
                "the body defines `{}`, the path names `{id}`",
                accepted.definition.id
            ),
            "a definition keeps its id: POST a new one under the new id",
            json!({ "diagnostics": [], "errors": 1, "warnings": 0 }),
        ));
    }
    // The check and the write under one lock: of two PATCHes with one If-Match, the
    // second sees the first's version.
    let _writing = api.catalogue_writes.lock().await;
    let catalogue = api.catalogue()?;
    let (origin, current) = origin_of(&catalogue, &id).ok_or_else(|| unknown_integration(&id))?;
    match expected {
        Some(v) if v != current => {
            return Err(stale(format!("`{id}` is at version {current}, not {v}")))
        }
        None if current != 0 => {
            return Err(stale(format!(
                "`{id}` is at version {current}: send If-Match: \"{current}\""
            )))
        }
        _ => {}
    }
    let overrides = shipped(&api, &id);
    let store = api.shared.engine.store.clone();
    let audit = entry(
        &actor,
        None,
        action::DEFINITION_UPDATE,
        Target::new("integration", &id),
        json!({}),
    );
    let seed = accepted.seed_json.clone();
    let key = id.clone();
    let record = blocking(move || {
        let record = store.put_integration_def(&key, &IntegrationDefEntry::Definition { seed_json: seed })?;
        store.append_audit(&AuditEntry {
            details: Details::scrubbed(
                json!({ "id": key, "from": origin, "version": record.version, "override": overrides }),
                &Redactor::none(),
            ),
            ..audit
        })?;
        Ok(record)
    })
    .await?
    .map_err(store_error)?;
    api.invalidate_catalogue();
    Ok(tagged(
        StatusCode::OK,
        record.version,
        json!({
            "definition": definition_json(&accepted.definition),
            "origin": if overrides { "override" } else { "stored" },
            "version": record.version,
            "warnings": accepted.warnings,
        }),
    ))
}

/// Removes a stored definition or an override, or disables a stdlib one.
#[utoipa::path(
    delete,
    path = "/api/admin/integrations/{id}",
    tag = "integrations",
    params(("id" = String, Path, description = "the integration id")),
    responses(
        (status = 200, description = "`{id, result}`: `removed`, `override_removed` (the stdlib's is back) or `disabled`", body = Object),
        (status = 409, description = "`integration_in_use`: tenants have it enabled", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` is not the entry's version", body = super::openapi::Problem, content_type = "application/problem+json"),
        super::openapi::Refusals,
    ),
    security(("bearer" = []))
)]
pub(super) async fn admin_remove(
    State(api): State<Arc<Api>>,
    actor: Actor,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    actor.require(Action::ManageCatalogue)?;
    let expected = if_match(&headers)?;
    let _writing = api.catalogue_writes.lock().await;
    let catalogue = api.catalogue()?;
    let (origin, current) = origin_of(&catalogue, &id).ok_or_else(|| unknown_integration(&id))?;
    if origin == "disabled" {
        return Err(unknown_integration(&id));
    }
    if let Some(v) = expected.filter(|v| *v != current) {
        return Err(stale(format!("`{id}` is at version {current}, not {v}")));
    }
    let store = api.shared.engine.store.clone();
    // Removing an override brings the stdlib's back: tenants keep an integration. The
    // other two withdraw it, refused while a tenant has it enabled.
    if origin != "override" && origin != "broken" {
        let (s, key) = (store.clone(), id.clone());
        let users = blocking(move || tenants_using(&*s, &key))
            .await?
            .map_err(store_error)?;
        if users > 0 {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("{users} tenant(s) have `{id}` enabled"),
                "each tenant deletes its integration first (DELETE /api/tenant/integrations/ID)",
            )
            .code("integration_in_use"));
        }
    }
    let result = match origin {
        "stdlib" => "disabled",
        "override" => "override_removed",
        _ => "removed",
    };
    let audit = entry(
        &actor,
        None,
        action::DEFINITION_REMOVE,
        Target::new("integration", &id),
        json!({ "id": id, "from": origin, "result": result }),
    );
    let key = id.clone();
    blocking(move || {
        if result == "disabled" {
            store.put_integration_def(&key, &IntegrationDefEntry::Disabled)?;
        } else {
            store.delete_integration_def(&key)?;
        }
        store.append_audit(&audit)
    })
    .await?
    .map_err(store_error)?;
    api.invalidate_catalogue();
    Ok(Json(json!({ "id": id, "result": result })))
}

// ---------------------------------------------------------------------------------
// The audit log: GET /api/admin/audit

/// `GET /api/admin/audit`: filters and paging.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct AuditQuery {
    /// Only this tenant's entries; `-` for the global ones (catalogue changes).
    tenant: Option<String>,
    /// Only actions starting with this (`definition.`, `integration.enable`).
    action: Option<String>,
    /// Only entries at or after this RFC 3339 time.
    since: Option<String>,
    /// At most this many (1 to 1000; default 100).
    #[param(value_type = Option<u32>)]
    limit: Option<String>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
}

/// The audit log, newest first (super admins).
#[utoipa::path(
    get,
    path = "/api/admin/audit",
    tag = "integrations",
    params(AuditQuery),
    responses(
        (status = 200, description = "`{entries, nextCursor}`, newest first", body = Object),
        (status = 400, description = "a bad filter, limit or cursor", body = super::openapi::Problem, content_type = "application/problem+json"),
        super::openapi::Refusals,
    ),
    security(("bearer" = []))
)]
pub(super) async fn audit_log(
    State(api): State<Arc<Api>>,
    actor: Actor,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    actor.require(Action::ManageCatalogue)?;
    let Query(q) =
        query.map_err(|e| query_error(&e, "`tenant`, `action`, `since`, `limit` and `cursor`"))?;
    let request =
        page_request::<AuditCursor>(q.limit.as_deref(), q.cursor.as_deref(), "the newest")?;
    let since = match q.since.as_deref() {
        None => None,
        Some(t) => Some(
            chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|e| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        format!("`since`: {e}"),
                        "pass an RFC 3339 time, like 2026-01-31T00:00:00Z",
                    )
                    .code("bad_query")
                })?
                .with_timezone(&chrono::Utc),
        ),
    };
    let filter = AuditFilter {
        scope: match q.tenant {
            None => AuditScope::All,
            Some(t) if t == "-" => AuditScope::Global,
            Some(t) => AuditScope::Tenant(t),
        },
        action_prefix: q.action,
        since,
    };
    let store = api.shared.engine.store.clone();
    let page = blocking(move || store.audit_entries(&filter, &request))
        .await?
        .map_err(store_error)?;
    use crate::store::Cursor as _;
    Ok(Json(json!({
        "entries": page.items,
        "nextCursor": page.next.map(|c| c.encode()),
    })))
}

// ---------------------------------------------------------------------------------
// A tenant's integrations: /api/tenant/integrations

fn no_tenant_integration(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("integration `{id}` is not enabled in this tenant"),
        "GET /api/tenant/integrations lists the tenant's; POST there enables one",
    )
    .code("tenant_integration_not_found")
}

/// The tenant's integration `id`, when the caller may see it: another tenant's, a
/// missing one, and (for all but super admins) one whose definition is not public
/// all answer the same 404.
async fn visible_record(api: &Api, actor: &Actor, id: &str) -> Result<TenantIntegration, ApiError> {
    let store = api.shared.engine.store.clone();
    let (tenant, key) = (actor.tenant.clone(), id.to_string());
    let record = blocking(move || store.tenant_integration(&tenant, &key))
        .await?
        .map_err(store_error)?
        .ok_or_else(|| no_tenant_integration(id))?;
    if !actor.is_super_admin() {
        let catalogue = api.catalogue()?;
        if catalogue.get(id, actor.role).is_none() && shipped_or_stored(&catalogue, id) {
            return Err(no_tenant_integration(id));
        }
    }
    Ok(record)
}

/// Whether the catalogue knows `id` at all (a super admin's view): a record whose
/// definition was removed stays visible to its tenant, so it can be deleted.
fn shipped_or_stored(catalogue: &Catalogue, id: &str) -> bool {
    catalogue.get(id, Role::SuperAdmin).is_some()
}

/// The standard library, parsed once: what a connection of the submitted settings is
/// compiled against.
fn stdlib_docs() -> &'static (SourceMap, Vec<crate::syntax::ast::Document>) {
    static DOCS: OnceLock<(SourceMap, Vec<crate::syntax::ast::Document>)> = OnceLock::new();
    DOCS.get_or_init(|| {
        let mut sources = SourceMap::default();
        let mut docs = Vec::new();
        for (name, text) in crate::stdlib::EMBEDDED {
            let id = sources.add(PathBuf::from(format!("<stdlib>/{name}")), text.to_string());
            docs.push(crate::syntax::parse(id, sources.get(id)).0);
        }
        (sources, docs)
    })
}

/// Checks submitted settings against the connector of `integration` exactly as `cmap
/// check` checks a connection's `settings { .. }`: a seed-JSON connection holding them
/// is compiled with the standard library, and the diagnostics that point into its
/// `settings` are kept. `None` when they check, else the check JSON (`file` is
/// `settings.json`, the connection as written here, the settings pretty-printed from
/// line 2 on).
fn settings_problems(integration: &str, settings: &Map<String, Value>) -> Option<Value> {
    if settings.is_empty() {
        return None;
    }
    let head = format!(
        "{{\"$kind\": \"connection\", \"id\": \"settings\", \"integrationId\": {}, \"authType\": \"none\",\n",
        Value::String(integration.to_string())
    );
    let body = serde_json::to_string_pretty(&Value::Object(settings.clone())).ok()?;
    let text = format!("{head}\"settings\": {body}}}\n");
    // The settings' own span: from their key to the end of their object.
    let range = head.len()..head.len() + "\"settings\": ".len() + body.len();
    let (stdlib_sources, stdlib) = stdlib_docs();
    let mut sources = stdlib_sources.clone();
    let file = sources.add_kind(PathBuf::from("settings.json"), text, SourceKind::Json);
    let (doc, mut diagnostics) = crate::syntax::parse(file, sources.get(file));
    let mut docs = stdlib.clone();
    docs.push(doc);
    let compilation = crate::compile::compile(
        &docs,
        &crate::compile::Options {
            stdlib_docs: stdlib.len(),
            ..crate::compile::Options::default()
        },
    );
    diagnostics.extend(compilation.diagnostics);
    diagnostics.retain(|d| {
        let at = |offset: u32| usize::try_from(offset).unwrap_or(usize::MAX);
        d.span.file == file && range.contains(&at(d.span.start)) && at(d.span.end) <= range.end
    });
    diagnostics.sort_by_key(|d| (d.span.start, d.code));
    diagnostics.dedup();
    if !diagnostics.iter().any(Diagnostic::is_error) {
        return None;
    }
    Some(crate::diagnostics::render::json(&diagnostics, &sources))
}

/// The 422 of settings that do not check.
fn settings_invalid(check: Value) -> Response {
    unprocessable(
        "settings_invalid",
        "the settings do not check",
        "docs/language.md lists each connector's settings",
        check,
    )
}

/// An `authorizationUrl` / `tokenUrl` override: `https`, or `http` to a loopback host.
fn check_url(name: &str, url: &str) -> Result<(), ApiError> {
    let ok = match url::Url::parse(url) {
        Ok(u) => match u.scheme() {
            "https" => u.host().is_some(),
            "http" => matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]")),
            _ => false,
        },
        Err(_) => false,
    };
    if ok {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        format!("`{name}` is not an https URL"),
        "give an absolute https URL (http only to localhost)",
    )
    .code("bad_url"))
}

/// `POST /api/tenant/integrations`.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct EnableBody {
    integration_id: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    settings: Map<String, Value>,
    authorization_url: Option<String>,
    token_url: Option<String>,
}

/// `PATCH /api/tenant/integrations/{integration}`: each member present is changed;
/// `null` clears a URL override.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ConfigureBody {
    #[schema(value_type = Option<Object>)]
    settings: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    authorization_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    token_url: Option<Option<String>>,
    /// `disabled`, or `pending` to enable it again.
    #[schema(value_type = Option<String>)]
    status: Option<IntegrationStatus>,
}

/// A present member, `null` included (absent is `None` by `default`).
fn some<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    serde::Deserialize::deserialize(d).map(Some)
}

/// The tenant's integrations, in id order, paged.
#[utoipa::path(
    get,
    path = "/api/tenant/integrations",
    tag = "integrations",
    params(PageQuery),
    responses(
        (status = 200, description = "`{integrations: [TenantIntegration], nextCursor}`", body = Object),
        (status = 400, description = "a bad limit, cursor or parameter", body = super::openapi::Problem, content_type = "application/problem+json"),
        super::openapi::Refusals,
    ),
    security(("bearer" = []))
)]
pub(super) async fn tenant_list(
    State(api): State<Arc<Api>>,
    actor: Actor,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    actor.require(Action::ViewIntegrations)?;
    let Query(q) = query.map_err(|e| query_error(&e, "`limit` and `cursor`"))?;
    let request = page_request::<TenantIntegrationCursor>(
        q.limit.as_deref(),
        q.cursor.as_deref(),
        "the first",
    )?;
    let store = api.shared.engine.store.clone();
    let tenant = actor.tenant.clone();
    let page = blocking(move || store.tenant_integrations(&tenant, &request))
        .await?
        .map_err(store_error)?;
    let catalogue = api.catalogue()?;
    let items: Vec<&TenantIntegration> = page
        .items
        .iter()
        .filter(|r| {
            actor.is_super_admin()
                || catalogue.get(&r.id, actor.role).is_some()
                || !shipped_or_stored(&catalogue, &r.id)
        })
        .collect();
    use crate::store::Cursor as _;
    Ok(Json(json!({
        "integrations": items,
        "nextCursor": page.next.map(|c| c.encode()),
    })))
}

/// Enables an integration of the catalogue for the tenant (status `pending`).
#[utoipa::path(
    post,
    path = "/api/tenant/integrations",
    tag = "integrations",
    request_body = EnableBody,
    responses(
        (status = 201, description = "the TenantIntegration (`ETag`: its version)", body = Object),
        (status = 400, description = "a body that is not the shape", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`integration_enabled`: the tenant has it already", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 422, description = "settings or URLs that do not check", body = super::openapi::Problem, content_type = "application/problem+json"),
        super::openapi::Refusals,
    ),
    security(("bearer" = []))
)]
pub(super) async fn tenant_enable(
    State(api): State<Arc<Api>>,
    actor: Actor,
    body: Bytes,
) -> Result<Response, ApiError> {
    actor.require(Action::EnableIntegration)?;
    let body: EnableBody = serde_json::from_slice(&body).map_err(|e| {
        bad_body(
            e,
            "send {\"integrationId\": \"salesforce\", \"settings\": {..}}",
        )
    })?;
    let catalogue = api.catalogue()?;
    let id = body.integration_id;
    catalogue
        .get(&id, actor.role)
        .ok_or_else(|| unknown_integration(&id))?;
    if let Some(check) = settings_problems(&id, &body.settings) {
        return Ok(settings_invalid(check));
    }
    for (name, url) in [
        ("authorizationUrl", &body.authorization_url),
        ("tokenUrl", &body.token_url),
    ] {
        if let Some(u) = url {
            check_url(name, u)?;
        }
    }
    let now = chrono::Utc::now();
    let record = TenantIntegration {
        id: id.clone(),
        tenant_id: actor.tenant.clone(),
        integration_id: id.clone(),
        status: IntegrationStatus::Pending,
        enabled_at: now,
        enabled_by: actor.user_id.clone(),
        connection_id: None,
        last_connected_at: None,
        connection_error: None,
        settings: body.settings,
        authorization_url: body.authorization_url,
        token_url: body.token_url,
        created_at: now,
        updated_at: now,
        version: 0,
    };
    let audit = entry(
        &actor,
        Some(&actor.tenant),
        action::INTEGRATION_ENABLE,
        Target::new("tenant_integration", &id),
        json!({ "integrationId": id, "settings": record.settings }),
    );
    let store = api.shared.engine.store.clone();
    let stored =
        match blocking(move || store.create_tenant_integration(&record, Some(&audit))).await? {
            Ok(r) => r,
            Err(StoreError::Exists(_)) => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    format!("`{id}` is enabled in this tenant already"),
                    format!("PATCH /api/tenant/integrations/{id} changes it"),
                )
                .code("integration_enabled"))
            }
            Err(e) => return Err(store_error(e)),
        };
    serve_connections(&api, &id).await;
    Ok(tagged(
        StatusCode::CREATED,
        stored.version,
        serde_json::to_value(&stored).map_err(store_error)?,
    ))
}

/// One of the tenant's integrations.
#[utoipa::path(
    get,
    path = "/api/tenant/integrations/{integration}",
    tag = "integrations",
    params(("integration" = String, Path, description = "the integration id, e.g. `salesforce`")),
    responses(
        (status = 200, description = "the TenantIntegration (`ETag`: its version)", body = Object),
        super::openapi::Refusals,
    ),
    security(("bearer" = []))
)]
pub(super) async fn tenant_get(
    State(api): State<Arc<Api>>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = visible_record(&api, &actor, &id).await?;
    actor.require(Action::ViewIntegrations)?;
    Ok(tagged(
        StatusCode::OK,
        record.version,
        serde_json::to_value(&record).map_err(store_error)?,
    ))
}

/// Configures one of the tenant's integrations: settings, URL overrides, disabled or
/// enabled again. `If-Match` is required.
#[utoipa::path(
    patch,
    path = "/api/tenant/integrations/{integration}",
    tag = "integrations",
    params(("integration" = String, Path, description = "the integration id")),
    request_body = ConfigureBody,
    responses(
        (status = 200, description = "the TenantIntegration (`ETag`: its version)", body = Object),
        (status = 400, description = "a body that is not the shape", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` missing or not the record's version", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 422, description = "settings, URLs or a status that do not check", body = super::openapi::Problem, content_type = "application/problem+json"),
        super::openapi::Refusals,
    ),
    security(("bearer" = []))
)]
pub(super) async fn tenant_configure(
    State(api): State<Arc<Api>>,
    actor: Actor,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let record = visible_record(&api, &actor, &id).await?;
    actor.require(Action::EnableIntegration)?;
    let expected = if_match(&headers)?.ok_or_else(|| {
        stale(format!(
            "changing `{id}` needs If-Match: \"{}\"",
            record.version
        ))
    })?;
    let body: ConfigureBody = serde_json::from_slice(&body).map_err(|e| {
        bad_body(
            e,
            "send any of settings, authorizationUrl, tokenUrl, status",
        )
    })?;
    let mut next = record.clone();
    if let Some(settings) = body.settings {
        if let Some(check) = settings_problems(&id, &settings) {
            return Ok(settings_invalid(check));
        }
        next.settings = settings;
    }
    for (name, given, slot) in [
        (
            "authorizationUrl",
            body.authorization_url,
            &mut next.authorization_url,
        ),
        ("tokenUrl", body.token_url, &mut next.token_url),
    ] {
        if let Some(value) = given {
            if let Some(u) = &value {
                check_url(name, u)?;
            }
            *slot = value;
        }
    }
    let mut what = action::INTEGRATION_UPDATE;
    match body.status {
        None => {}
        Some(IntegrationStatus::Disabled) => {
            next.status = IntegrationStatus::Disabled;
            what = action::INTEGRATION_DISABLE;
        }
        // Enabled again; on one that is not disabled, `pending` changes nothing.
        Some(IntegrationStatus::Pending) if record.status == IntegrationStatus::Disabled => {
            next.status = IntegrationStatus::Pending;
            what = action::INTEGRATION_ENABLE;
        }
        Some(IntegrationStatus::Pending) => {}
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("status `{other:?}` is set by connecting, not by PATCH"),
                "send \"disabled\" to disable it, \"pending\" to enable it again",
            )
            .code("bad_status"))
        }
    }
    next.updated_at = chrono::Utc::now();
    let audit = entry(
        &actor,
        Some(&actor.tenant),
        what,
        Target::new("tenant_integration", &id),
        json!({ "settings": next.settings, "status": next.status }),
    );
    let store = api.shared.engine.store.clone();
    let stored =
        match blocking(move || store.update_tenant_integration(&next, expected, Some(&audit)))
            .await?
        {
            Ok(r) => r,
            Err(StoreError::Stale { .. }) => {
                return Err(stale(format!("`{id}` changed since version {expected}")))
            }
            Err(StoreError::NotFound(_)) => return Err(no_tenant_integration(&id)),
            Err(e) => return Err(store_error(e)),
        };
    serve_connections(&api, &id).await;
    Ok(tagged(
        StatusCode::OK,
        stored.version,
        serde_json::to_value(&stored).map_err(store_error)?,
    ))
}

/// Removes one of the tenant's integrations (PATCH `status: disabled` keeps it).
#[utoipa::path(
    delete,
    path = "/api/tenant/integrations/{integration}",
    tag = "integrations",
    params(("integration" = String, Path, description = "the integration id")),
    responses(
        (status = 204, description = "removed"),
        (status = 409, description = "`integration_in_use`: the tenant's tasks or schemas name it", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` is not the record's version", body = super::openapi::Problem, content_type = "application/problem+json"),
        super::openapi::Refusals,
    ),
    security(("bearer" = []))
)]
pub(super) async fn tenant_remove(
    State(api): State<Arc<Api>>,
    actor: Actor,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    visible_record(&api, &actor, &id).await?;
    actor.require(Action::EnableIntegration)?;
    let expected = if_match(&headers)?;
    let audit = entry(
        &actor,
        Some(&actor.tenant),
        action::INTEGRATION_DISABLE,
        Target::new("tenant_integration", &id),
        json!({ "removed": true }),
    );
    let store = api.shared.engine.store.clone();
    let (tenant, key) = (actor.tenant.clone(), id.clone());
    match blocking(move || store.delete_tenant_integration(&tenant, &key, expected, Some(&audit)))
        .await?
    {
        Ok(()) => {
            serve_connections(&api, &id).await;
            Ok(StatusCode::NO_CONTENT)
        }
        Err(StoreError::InUse(what)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("`{id}` is in use: {what}"),
            "delete its tasks and schemas first, or PATCH it with \"status\": \"disabled\"",
        )
        .code("integration_in_use")),
        Err(StoreError::Stale { .. }) => Err(stale(format!("`{id}` changed"))),
        Err(StoreError::NotFound(_)) => Err(no_tenant_integration(&id)),
        Err(e) => Err(store_error(e)),
    }
}

/// After a tenant integration is enabled, changed or removed: reloads the pipelines
/// (through the same path as a saved file) and waits, bounded, until a newer version
/// serves, so the connection the server declares for it
/// ([`crate::engine::tenant_connection`]) is loaded, changed or gone when the write
/// answers.
async fn serve_connections(api: &Api, id: &str) {
    let before = api.shared.snapshot().generation;
    let asked = api
        .shared
        .events
        .send(super::state::Event::Reload {
            reason: format!("tenant integration `{id}` changed"),
        })
        .await;
    if asked.is_err() {
        return; // shutting down
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while api.shared.snapshot().generation <= before {
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(integration = id, "a tenant integration changed but no newer version serves yet (see the reload errors)");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}
