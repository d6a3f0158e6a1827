//! The OpenAPI 3.1 document of the API, generated from the code: every handler carries
//! its `#[utoipa::path]` (method, path, parameters, responses) and is registered through
//! `utoipa_axum`'s router, so a route cannot be served without being described, and the
//! bodies' schemas are derived from the types the handlers serialise
//! (`SyncExecution`, ...). Served at `GET /api/openapi.json`.
//!
//! The shapes of the answers that are built as JSON by hand are written here as types
//! ([`TaskAccepted`], [`ExecutionsPage`], ...); the test `openapi` validates real
//! responses against the document, so a handler that drifts from its schema fails it.

use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi, ToSchema};

use crate::store::{SyncExecution, SyncLog};

/// The document's fixed parts; the paths come from the router.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "cmap",
        description = "The integrations engine of Castiel: the platform API (tenants, integrations, sync tasks and executions). docs/api.md says how to authenticate and what each role may do."
    ),
    modifiers(&BearerToken),
    components(schemas(Problem)),
    tags(
        (name = "integrations", description = "The integration catalogue"),
        (name = "tasks", description = "Sync tasks: run, pause, resume"),
        (name = "executions", description = "Sync executions and their logs"),
        (name = "webhooks", description = "Realtime deliveries (their own token)"),
        (name = "server", description = "Health, readiness, metrics, the loaded pipelines, reload"),
    )
)]
pub struct ApiDoc;

/// `Authorization: Bearer TOKEN` (docs/api.md, Authentication), required by every
/// operation that lists it.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("cmap_<16 hex>_<64 hex>")
                    .build(),
            ),
        );
    }
}

/// An error: RFC 9457 problem details (`application/problem+json`) with a stable `code`
/// (docs/serve.md, "Errors").
#[derive(Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's reason phrase.
    pub title: String,
    pub status: u16,
    /// Stable and machine-readable (`task_not_found`, `unauthenticated`, ...).
    pub code: String,
    /// What happened to this request.
    pub detail: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

/// The refusals every authenticated operation may answer.
#[derive(IntoResponses)]
pub enum Refusals {
    /// No valid API token (missing, malformed, unknown, wrong, revoked or expired).
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthenticated(#[to_schema] Problem),
    /// The caller's role may not do this (docs/api.md, Permissions).
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(#[to_schema] Problem),
    /// No such object in the tenant acted in (another tenant's objects answer the same).
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(#[to_schema] Problem),
}

/// A run was started (`POST .../run`, `.../retry`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskAccepted {
    pub task: String,
    /// `accepted`.
    pub status: String,
    /// The execution retried, for a retry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_of: Option<String>,
}

/// A task's paused flag after `pause` or `resume`.
#[derive(Serialize, ToSchema)]
pub struct TaskPaused {
    pub task: String,
    pub paused: bool,
}

/// A cancellation was asked of a running execution.
#[derive(Serialize, ToSchema)]
pub struct CancelAccepted {
    pub execution: String,
    pub cancelling: bool,
}

/// One page of executions, newest first.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionsPage {
    pub executions: Vec<SyncExecution>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// One page of an execution's log, in order.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogsPage {
    pub logs: Vec<SyncLog>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// The loaded pipelines (`GET /api/pipelines`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PipelinesStatus {
    /// Increases with every successful reload.
    pub generation: u64,
    pub loaded_at: chrono::DateTime<chrono::Utc>,
    pub files: Vec<FileView>,
    pub tasks: Vec<TaskView>,
}

/// A pipeline file as the server last saw it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileView {
    pub path: String,
    /// SHA-256 of the content, hex.
    pub hash: String,
    pub loaded_at: chrono::DateTime<chrono::Utc>,
    /// The diagnostics of the last failed attempt to load a newer version.
    pub last_error: Option<String>,
}

/// A loaded task's control state.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskView {
    pub id: String,
    pub tenant_id: String,
    pub paused: bool,
    /// Paused for its source's quota until then.
    pub paused_until: Option<chrono::DateTime<chrono::Utc>>,
}

/// A reload was asked for.
#[derive(Serialize, ToSchema)]
pub struct ReloadRequested {
    /// `requested`.
    pub reload: String,
}

/// `/healthz` and `/readyz`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `ready`.
    pub status: String,
}

/// A delivery seen before (same `X-Cmap-Event-Id`): acknowledged, ignored.
#[derive(Serialize, ToSchema)]
pub struct Duplicate {
    pub duplicate: bool,
}

/// What a webhook delivery answers: the execution that stored it, or that it was a
/// duplicate.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum WebhookAnswer {
    Stored(Box<SyncExecution>),
    Duplicate(Duplicate),
}
