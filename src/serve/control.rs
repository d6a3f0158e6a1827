//! The control API: sync tasks (run, pause, resume) and sync executions (list, get,
//! logs, cancel, retry), at cmap's short paths (`/api/tasks/{id}/run`,
//! `/api/executions/...`) and at the spec's paths under a tenant integration
//! (`/api/tenant/integrations/{integration}/tasks/{id}/run`; spec "API Reference", Sync
//! Tasks and Sync Executions), where the task or execution must also be of that
//! integration. Plus the operator's view of the loaded files, and reload.
//!
//! Every handler acts for an [`Actor`] in its tenant: another tenant's task or execution
//! answers 404 like a missing one (looked up before the role is checked, so never 403).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::auth::{Action, Actor};
use super::http::{store_error, Api, ApiError};
use super::runner::TriggerError;
use super::state::Event;
use crate::compile::ir::Task;
use crate::store::{ExecutionStatus, SyncExecution, TriggeredBy};

/// The object a control path names: `{id}`, and `{integration}` on the spec's paths.
pub(super) struct Target {
    integration: Option<String>,
    id: String,
}

impl axum::extract::FromRequestParts<Arc<Api>> for Target {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &Arc<Api>,
    ) -> Result<Target, Response> {
        let Path(mut params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Target {
            integration: params.remove("integration"),
            id: params.remove("id").unwrap_or_default(),
        })
    }
}

/// The loaded task `target` names, of the tenant `actor` acts in (and of the path's
/// integration). A task of another tenant or integration is [`unknown_task`], exactly
/// like one that does not exist.
fn tenant_task(api: &Api, actor: &Actor, target: &Target) -> Result<Arc<Task>, ApiError> {
    let loaded = api.shared.snapshot();
    let connections = &loaded.program.connections;
    loaded
        .program
        .task(&target.id)
        .filter(|t| t.tenant == actor.tenant)
        .filter(|t| {
            target
                .integration
                .as_ref()
                .is_none_or(|i| *i == api.shared.engine.ingest_integration(t, connections))
        })
        .cloned()
        .ok_or_else(|| unknown_task(&target.id))
}

/// Whether `actor` may see `execution` (of the tenant acted in): tenant admins and super
/// admins see every one; a user sees their own syncs, those that name them (their
/// e-mail address or user id) among the task's notification recipients, and those they
/// triggered (docs/api.md, "Own syncs").
fn sees_execution(api: &Api, actor: &Actor, execution: &SyncExecution) -> bool {
    if actor.role != crate::store::identity::Role::User {
        return true;
    }
    if execution.triggered_by_user_id.as_deref() == Some(actor.user_id.as_str()) {
        return true;
    }
    let loaded = api.shared.snapshot();
    loaded
        .program
        .task(&execution.sync_task_id)
        .is_some_and(|task| names_user(task, actor))
}

/// Whether `task`'s notification recipients name `actor`, by user id or e-mail address
/// (addresses compare case-insensitively, as cmap stores them in lower case).
fn names_user(task: &Task, actor: &Actor) -> bool {
    task.notifications
        .recipients
        .iter()
        .any(|r| match &r.email {
            Some(mailbox) => mailbox.email.to_string().eq_ignore_ascii_case(&actor.email),
            None => r.written == actor.user_id,
        })
}

/// The execution `target` names, of the tenant acted in (and of the path's
/// integration), if `actor` may see it.
fn visible_execution(api: &Api, actor: &Actor, target: &Target) -> Result<SyncExecution, ApiError> {
    api.shared
        .engine
        .store
        .execution(&actor.tenant, &target.id)
        .map_err(store_error)?
        .filter(|e| {
            target
                .integration
                .as_ref()
                .is_none_or(|i| *i == e.tenant_integration_id)
        })
        .filter(|e| sees_execution(api, actor, e))
        .ok_or_else(|| unknown_execution(&target.id))
}

fn unknown_task(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no task `{id}` is loaded"),
        "GET /api/pipelines lists the loaded pipelines",
    )
    .code("task_not_found")
}

#[utoipa::path(
    post,
    path = "/api/tasks/{id}/run",
    tag = "tasks",
    params(("id" = String, Path, description = "the task id")),
    responses((status = 202, description = "the run started", body = crate::serve::openapi::TaskAccepted), (status = 409, description = "running, paused, or paused for its quota", body = crate::serve::openapi::Problem, content_type = "application/problem+json"), crate::serve::openapi::Refusals),
    security(("bearer" = []))
)]
pub(super) async fn run_task(
    State(api): State<Arc<Api>>,
    actor: Actor,
    target: Target,
) -> Response {
    // The object first: another tenant's task is 404 for every role, never 403.
    if let Err(e) =
        tenant_task(&api, &actor, &target).and_then(|_| actor.require(Action::ManageTasks))
    {
        return e.into_response();
    }
    trigger(&api, &actor, &target.id, None)
}

/// Starts a run of task `id` for `actor` (a retry of `retry_of` when given): 202, or
/// the 409/503 saying why not.
fn trigger(api: &Arc<Api>, actor: &Actor, id: &str, retry_of: Option<String>) -> Response {
    let by = if retry_of.is_some() {
        TriggeredBy::Retry
    } else {
        TriggeredBy::Manual
    };
    let retrying = retry_of.clone();
    match api
        .runner
        .trigger_as(id, by, Some(actor.user_id.clone()), retry_of)
    {
        Ok(()) => {
            let mut body = json!({ "task": id, "status": "accepted" });
            if let Some(of) = retrying {
                body["retryOf"] = Value::String(of);
            }
            (StatusCode::ACCEPTED, Json(body)).into_response()
        }
        Err(e) => {
            let message = e.to_string();
            match e {
                TriggerError::UnknownTask(_) => unknown_task(id),
                TriggerError::QuotaPaused { .. } => ApiError::new(
                    StatusCode::CONFLICT,
                    message,
                    format!("it runs again by itself then; to try the source now: POST /api/tasks/{id}/resume"),
                )
.code("task_quota_paused"),
                TriggerError::AlreadyRunning { execution_id, .. } => ApiError::new(
                    StatusCode::CONFLICT,
                    message,
                    format!(
                        "wait for it, or cancel it: POST /api/executions/{execution_id}/cancel"
                    ),
                )
.code("task_running"),
                TriggerError::Paused(_) => ApiError::new(
                    StatusCode::CONFLICT,
                    message,
                    format!("resume it first: POST /api/tasks/{id}/resume"),
                )
.code("task_paused"),
                TriggerError::ShuttingDown => ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    message,
                    "run it again once the server is back",
                )
.code("shutting_down"),
            }
            .into_response()
        }
    }
}

#[utoipa::path(
    post,
    path = "/api/tasks/{id}/pause",
    tag = "tasks",
    params(("id" = String, Path, description = "the task id")),
    responses((status = 200, description = "the paused flag, stored", body = crate::serve::openapi::TaskPaused), crate::serve::openapi::Refusals),
    security(("bearer" = []))
)]
pub(super) async fn pause_task(
    State(api): State<Arc<Api>>,
    actor: Actor,
    target: Target,
) -> Result<Json<Value>, ApiError> {
    tenant_task(&api, &actor, &target)?;
    actor.require(Action::ManageTasks)?;
    api.runner.pause(&target.id).await;
    Ok(Json(json!({ "task": target.id, "paused": true })))
}

#[utoipa::path(
    post,
    path = "/api/tasks/{id}/resume",
    tag = "tasks",
    params(("id" = String, Path, description = "the task id")),
    responses((status = 200, description = "the paused flag, stored", body = crate::serve::openapi::TaskPaused), crate::serve::openapi::Refusals),
    security(("bearer" = []))
)]
pub(super) async fn resume_task(
    State(api): State<Arc<Api>>,
    actor: Actor,
    target: Target,
) -> Result<Json<Value>, ApiError> {
    tenant_task(&api, &actor, &target)?;
    actor.require(Action::ManageTasks)?;
    api.runner.resume(&target.id).await;
    Ok(Json(json!({ "task": target.id, "paused": false })))
}

#[utoipa::path(
    post,
    path = "/api/executions/{id}/cancel",
    tag = "executions",
    params(("id" = String, Path, description = "the execution id")),
    responses((status = 202, description = "it stops at its next page boundary", body = crate::serve::openapi::CancelAccepted), (status = 409, description = "not running", body = crate::serve::openapi::Problem, content_type = "application/problem+json"), crate::serve::openapi::Refusals),
    security(("bearer" = []))
)]
pub(super) async fn cancel_execution(
    State(api): State<Arc<Api>>,
    actor: Actor,
    target: Target,
) -> Result<Response, ApiError> {
    let id = target.id.clone();
    // Only an execution of the tenant acted in may be cancelled: it is looked up there
    // first (a running execution is stored from its start), and so is 404 for every
    // role when it is another tenant's.
    let execution = visible_execution(&api, &actor, &target)?;
    actor.require(Action::ManageTasks)?;
    // The stored status first: an execution that ended is stored so before the runner
    // lets go of it, and cancelling it then must say it ended (409), not accept.
    if execution.status == ExecutionStatus::Running && api.runner.cancel(&id) {
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "execution": id, "cancelling": true })),
        )
            .into_response());
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        format!(
            "execution `{id}` is not running (it is {})",
            execution.status.as_str()
        ),
        "only running executions can be cancelled",
    )
    .code("execution_not_running"))
}

fn unknown_execution(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("execution `{id}` not found"),
        "GET /api/executions lists them",
    )
    .code("execution_not_found")
}

/// `GET /api/executions`: `task`, `status`, and the page (`limit`, `cursor`). Unknown parameters
/// are refused, so a misspelt `limt` is not silently the default.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ExecutionsQuery {
    /// Only executions of this task.
    task: Option<String>,
    /// Only executions of this status (`running`, `success`, `partial`, `failed`,
    /// `cancelled`).
    status: Option<ExecutionStatus>,
    /// At most this many (1 to 1000; default 100).
    #[param(value_type = Option<u32>)]
    limit: Option<String>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
}

/// One page, newest first: `{"executions": [...], "nextCursor": "..." | null}`. At most
/// `limit` (default 100, at most 1000); `nextCursor` continues after the last one, and is
/// stable under new executions (a position, not an offset).
#[utoipa::path(
    get,
    path = "/api/executions",
    tag = "executions",
    params(ExecutionsQuery),
    responses((status = 200, description = "one page, newest first", body = crate::serve::openapi::ExecutionsPage), (status = 400, description = "a bad limit, cursor or parameter", body = crate::serve::openapi::Problem, content_type = "application/problem+json"), crate::serve::openapi::Refusals),
    security(("bearer" = []))
)]
pub(super) async fn list_executions(
    State(api): State<Arc<Api>>,
    actor: Actor,
    query: Result<Query<ExecutionsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    executions_page(&api, &actor, None, query)
}

/// `GET /api/tenant/integrations/{integration}/executions`: as [`list_executions`],
/// of that integration only.
#[utoipa::path(
    get,
    path = "/api/tenant/integrations/{integration}/executions",
    tag = "executions",
    params(("integration" = String, Path, description = "the tenant integration id (the integration's id, e.g. `salesforce`)"), ExecutionsQuery),
    responses((status = 200, description = "one page, newest first", body = crate::serve::openapi::ExecutionsPage), (status = 400, description = "a bad limit, cursor or parameter", body = crate::serve::openapi::Problem, content_type = "application/problem+json"), crate::serve::openapi::Refusals),
    security(("bearer" = []))
)]
pub(super) async fn list_integration_executions(
    State(api): State<Arc<Api>>,
    actor: Actor,
    Path(integration): Path<String>,
    query: Result<Query<ExecutionsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    executions_page(&api, &actor, Some(&integration), query)
}

/// One page of the executions `actor` may see, newest first, narrowed by the path's
/// integration and the query's task and status.
fn executions_page(
    api: &Api,
    actor: &Actor,
    integration: Option<&str>,
    query: Result<Query<ExecutionsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    actor.require(Action::ViewLogs)?;
    let Query(q) = query.map_err(|e| query_error(&e, "`task`, `status`, `limit` and `cursor`"))?;
    let mut request = page_request(q.limit.as_deref(), q.cursor.as_deref(), "the newest")?;
    let store = &api.shared.engine.store;
    let wanted = request.limit.get();
    let mut items = Vec::new();
    // A user sees only their own syncs, and the path and query may narrow the list: the
    // store's pages are filtered, and read on until the page is full, the list ends, or
    // a bounded number of store pages was read (then the page is short; `nextCursor`
    // continues after what was read).
    let keep = |e: &SyncExecution| {
        integration.is_none_or(|i| e.tenant_integration_id == i)
            && q.status.is_none_or(|s| e.status == s)
            && sees_execution(api, actor, e)
    };
    let mut next;
    let mut reads = 0;
    loop {
        let page = store
            .executions(&actor.tenant, q.task.as_deref(), &request)
            .map_err(store_error)?;
        reads += 1;
        next = page.next;
        for execution in page.items {
            if items.len() < wanted && keep(&execution) {
                items.push(execution);
            }
        }
        match &next {
            Some(cursor) if items.len() < wanted && reads < MAX_FILTERED_READS => {
                request.after = Some(cursor.clone());
            }
            _ => break,
        }
    }
    Ok(Json(json!({
        "executions": items,
        "nextCursor": next.map(|c| crate::store::Cursor::encode(&c)),
    })))
}

/// At most this many store pages are read for one filtered list page.
const MAX_FILTERED_READS: usize = 16;

/// A list's page from its query parameters; a bad limit or cursor is a 400 that says
/// what to send instead.
/// A list's `limit` (default 100, 1 to 1000); a bad one is a 400 saying what to send.
pub(super) fn page_limit(limit: Option<&str>) -> Result<crate::store::Limit, ApiError> {
    match limit {
        None => Ok(crate::store::Limit::DEFAULT),
        Some(text) => crate::store::Limit::parse(text).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                e.to_string(),
                "pass `limit` from 1 to 1000, or leave it out for 100",
            )
            .code("bad_limit")
        }),
    }
}

pub(super) fn page_request<C: crate::store::Cursor>(
    limit: Option<&str>,
    cursor: Option<&str>,
    start: &str,
) -> Result<crate::store::PageRequest<C>, ApiError> {
    let limit = page_limit(limit)?;
    let after = match cursor {
        None => None,
        Some(text) => Some(C::decode(text).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                e.to_string(),
                format!("pass the `nextCursor` of the previous page as it is, or leave `cursor` out to start from {start}"),
            )
.code("bad_cursor")
        })?),
    };
    Ok(crate::store::PageRequest { limit, after })
}

pub(super) fn query_error(
    e: &axum::extract::rejection::QueryRejection,
    accepted: &str,
) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        e.body_text(),
        format!("the query takes {accepted}, each at most once"),
    )
    .code("bad_query")
}

#[utoipa::path(
    get,
    path = "/api/executions/{id}",
    tag = "executions",
    params(("id" = String, Path, description = "the execution id")),
    responses((status = 200, description = "the spec's SyncExecution", body = crate::store::SyncExecution), crate::serve::openapi::Refusals),
    security(("bearer" = []))
)]
pub(super) async fn get_execution(
    State(api): State<Arc<Api>>,
    actor: Actor,
    target: Target,
) -> Result<Json<Value>, ApiError> {
    let execution = visible_execution(&api, &actor, &target)?;
    actor.require(Action::ViewLogs)?;
    Ok(Json(serde_json::to_value(execution).map_err(store_error)?))
}

/// `GET /api/executions/{id}/logs`: the page (`limit`, `cursor`).
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct LogsQuery {
    /// At most this many lines (1 to 1000; default 100).
    #[param(value_type = Option<u32>)]
    limit: Option<String>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
}

/// One page of the log, in order: `{"logs": [...], "nextCursor": "..." | null}`.
#[utoipa::path(
    get,
    path = "/api/executions/{id}/logs",
    tag = "executions",
    params(("id" = String, Path, description = "the execution id"), LogsQuery),
    responses((status = 200, description = "one page of the log, in order", body = crate::serve::openapi::LogsPage), (status = 400, description = "a bad limit, cursor or parameter", body = crate::serve::openapi::Problem, content_type = "application/problem+json"), crate::serve::openapi::Refusals),
    security(("bearer" = []))
)]
pub(super) async fn execution_logs(
    State(api): State<Arc<Api>>,
    actor: Actor,
    target: Target,
    query: Result<Query<LogsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    actor.require(Action::ViewLogs)?;
    let Query(q) = query.map_err(|e| query_error(&e, "`limit` and `cursor`"))?;
    let page = page_request(q.limit.as_deref(), q.cursor.as_deref(), "the first line")?;
    visible_execution(&api, &actor, &target)?;
    let page = api
        .shared
        .engine
        .store
        .logs(&actor.tenant, &target.id, &page)
        .map_err(store_error)?;
    Ok(Json(json!({
        "logs": page.items,
        "nextCursor": page.next.map(|c| crate::store::Cursor::encode(&c)),
    })))
}

/// The operator's view: every loaded file and task (super admins).
#[utoipa::path(
    get,
    path = "/api/pipelines",
    tag = "server",
    responses((status = 200, description = "the loaded files and tasks", body = crate::serve::openapi::PipelinesStatus), crate::serve::openapi::Refusals),
    security(("bearer" = []))
)]
pub(super) async fn pipelines(
    State(api): State<Arc<Api>>,
    actor: Actor,
) -> Result<Json<Value>, ApiError> {
    actor.require(Action::Operate)?;
    let loaded = api.shared.snapshot();
    let files: Vec<_> = api
        .shared
        .files
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .cloned()
        .collect();
    let tasks: Vec<Value> = loaded
        .program
        .tasks
        .iter()
        .map(|t| {
            json!({
                "id": t.id,
                "tenantId": t.tenant,
                "paused": api.runner.is_paused(&t.id),
                "pausedUntil": api.runner.paused_until(&t.id).filter(|u| *u > chrono::Utc::now()),
            })
        })
        .collect();
    Ok(Json(json!({
        "generation": loaded.generation,
        "loadedAt": loaded.loaded_at,
        "files": files,
        "tasks": tasks,
    })))
}

#[utoipa::path(
    post,
    path = "/api/reload",
    tag = "server",
    responses((status = 202, description = "a reload was asked for", body = crate::serve::openapi::ReloadRequested), (status = 503, description = "shutting down", body = crate::serve::openapi::Problem, content_type = "application/problem+json"), crate::serve::openapi::Refusals),
    security(("bearer" = []))
)]
pub(super) async fn reload(
    State(api): State<Arc<Api>>,
    actor: Actor,
) -> Result<Response, ApiError> {
    actor.require(Action::Operate)?;
    // The main loop owns reloading (one place, so reload and shutdown never race); this
    // only asks. A full channel means reloads are already queued: this one is redundant.
    match api.shared.events.try_send(Event::Reload {
        reason: "POST /api/reload".into(),
    }) {
        Ok(()) | Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
            Ok((StatusCode::ACCEPTED, Json(json!({ "reload": "requested" }))).into_response())
        }
        Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
            "reload once it is back",
        )
        .code("shutting_down")),
    }
}

/// `POST .../executions/{id}/retry`: runs the execution's task again, as a retry of it
/// (`triggeredBy: retry`, `retryOf: id`). Only a failed or partial execution is retried
/// (409 `execution_not_retryable` otherwise); its task must still be loaded.
#[utoipa::path(
    post,
    path = "/api/executions/{id}/retry",
    tag = "executions",
    params(("id" = String, Path, description = "the execution id")),
    responses((status = 202, description = "the retry started", body = crate::serve::openapi::TaskAccepted), (status = 409, description = "not failed or partial, or the task cannot run now", body = crate::serve::openapi::Problem, content_type = "application/problem+json"), crate::serve::openapi::Refusals),
    security(("bearer" = []))
)]
pub(super) async fn retry_execution(
    State(api): State<Arc<Api>>,
    actor: Actor,
    target: Target,
) -> Response {
    let execution = match visible_execution(&api, &actor, &target) {
        Ok(e) => e,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = actor.require(Action::ManageTasks) {
        return e.into_response();
    }
    if !matches!(
        execution.status,
        ExecutionStatus::Failed | ExecutionStatus::Partial
    ) {
        return ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "execution `{}` is {}: only failed or partial executions are retried",
                execution.id,
                execution.status.as_str()
            ),
            "to run the task again, POST its run endpoint",
        )
        .code("execution_not_retryable")
        .into_response();
    }
    let task = Target {
        integration: target.integration.clone(),
        id: execution.sync_task_id.clone(),
    };
    if let Err(e) = tenant_task(&api, &actor, &task) {
        return e.into_response();
    }
    trigger(&api, &actor, &execution.sync_task_id, Some(execution.id))
}

/// The same handler at a spec path under `/api/tenant/integrations/{integration}/`
/// (utoipa describes one path per function).
macro_rules! at_integration {
    ($(#[$doc:meta])* $name:ident => $inner:ident -> $ret:ty, $method:ident, $path:literal, $tag:literal, $params:tt, $responses:tt) => {
        $(#[$doc])*
        #[utoipa::path(
            $method,
            path = $path,
            tag = $tag,
            params $params,
            responses $responses,
            security(("bearer" = []))
        )]
        pub(super) async fn $name(state: State<Arc<Api>>, actor: Actor, target: Target) -> $ret {
            $inner(state, actor, target).await
        }
    };
}
at_integration!(
    /// At the spec's path.
    run_integration_task => run_task -> Response,
    post,
    "/api/tenant/integrations/{integration}/tasks/{id}/run",
    "tasks",
    (("integration" = String, Path, description = "the tenant integration id (the integration's id, e.g. `salesforce`)"), ("id" = String, Path, description = "the task id")),
    ((status = 202, description = "the run started", body = crate::serve::openapi::TaskAccepted), (status = 409, description = "running, paused, or paused for its quota", body = crate::serve::openapi::Problem, content_type = "application/problem+json"), crate::serve::openapi::Refusals)
);

at_integration!(
    /// At the spec's path.
    pause_integration_task => pause_task -> Result<Json<Value>, ApiError>,
    post,
    "/api/tenant/integrations/{integration}/tasks/{id}/pause",
    "tasks",
    (("integration" = String, Path, description = "the tenant integration id (the integration's id, e.g. `salesforce`)"), ("id" = String, Path, description = "the task id")),
    ((status = 200, description = "the paused flag, stored", body = crate::serve::openapi::TaskPaused), crate::serve::openapi::Refusals)
);

at_integration!(
    /// At the spec's path.
    resume_integration_task => resume_task -> Result<Json<Value>, ApiError>,
    post,
    "/api/tenant/integrations/{integration}/tasks/{id}/resume",
    "tasks",
    (("integration" = String, Path, description = "the tenant integration id (the integration's id, e.g. `salesforce`)"), ("id" = String, Path, description = "the task id")),
    ((status = 200, description = "the paused flag, stored", body = crate::serve::openapi::TaskPaused), crate::serve::openapi::Refusals)
);

at_integration!(
    /// At the spec's path.
    get_integration_execution => get_execution -> Result<Json<Value>, ApiError>,
    get,
    "/api/tenant/integrations/{integration}/executions/{id}",
    "executions",
    (("integration" = String, Path, description = "the tenant integration id (the integration's id, e.g. `salesforce`)"), ("id" = String, Path, description = "the execution id")),
    ((status = 200, description = "the spec's SyncExecution", body = crate::store::SyncExecution), crate::serve::openapi::Refusals)
);

at_integration!(
    /// At the spec's path.
    cancel_integration_execution => cancel_execution -> Result<Response, ApiError>,
    post,
    "/api/tenant/integrations/{integration}/executions/{id}/cancel",
    "executions",
    (("integration" = String, Path, description = "the tenant integration id (the integration's id, e.g. `salesforce`)"), ("id" = String, Path, description = "the execution id")),
    ((status = 202, description = "it stops at its next page boundary", body = crate::serve::openapi::CancelAccepted), (status = 409, description = "not running", body = crate::serve::openapi::Problem, content_type = "application/problem+json"), crate::serve::openapi::Refusals)
);

at_integration!(
    /// At the spec's path.
    retry_integration_execution => retry_execution -> Response,
    post,
    "/api/tenant/integrations/{integration}/executions/{id}/retry",
    "executions",
    (("integration" = String, Path, description = "the tenant integration id (the integration's id, e.g. `salesforce`)"), ("id" = String, Path, description = "the execution id")),
    ((status = 202, description = "the retry started", body = crate::serve::openapi::TaskAccepted), (status = 409, description = "not failed or partial, or the task cannot run now", body = crate::serve::openapi::Problem, content_type = "application/problem+json"), crate::serve::openapi::Refusals)
);

/// At the spec's path.
#[utoipa::path(
    get,
    path = "/api/tenant/integrations/{integration}/executions/{id}/logs",
    tag = "executions",
    params(("integration" = String, Path, description = "the tenant integration id (the integration's id, e.g. `salesforce`)"), ("id" = String, Path, description = "the execution id"), LogsQuery),
    responses((status = 200, description = "one page of the log, in order", body = crate::serve::openapi::LogsPage), (status = 400, description = "a bad limit, cursor or parameter", body = crate::serve::openapi::Problem, content_type = "application/problem+json"), crate::serve::openapi::Refusals),
    security(("bearer" = []))
)]
pub(super) async fn integration_execution_logs(
    state: State<Arc<Api>>,
    actor: Actor,
    target: Target,
    query: Result<Query<LogsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    execution_logs(state, actor, target, query).await
}
