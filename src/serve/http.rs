//! The HTTP API of `cmap serve`: realtime webhooks, control of tasks and executions,
//! pipeline status, health and metrics.
//!
//! Handlers are thin: they resolve the request's scope (the tenant; one for file-based
//! pipelines until the multi-tenant API of the spec arrives), call the runner, the engine
//! or the store, and turn the outcome into JSON. Errors are always
//! `{"error": "...", "help": "..."}` with a status code that says whether a retry helps.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::metrics::Metrics;
use super::runner::{Runner, TriggerError};
use super::state::{Event, Shared};
use super::webhook_secrets::{Unavailable, WebhookSecrets};
use crate::compile::ir::{Schedule, Task};
use crate::engine::DEFAULT_TENANT;
use crate::store::TriggeredBy;

/// Webhook bodies larger than this are refused with 413 (the default).
pub const DEFAULT_WEBHOOK_BODY_LIMIT: usize = 1024 * 1024;
/// The verification token header (`Authorization: Bearer TOKEN` works too).
pub const TOKEN_HEADER: &str = "x-cmap-token";
/// `sha256=<hex of HMAC-SHA256(secret, raw body)>`.
pub const SIGNATURE_HEADER: &str = "x-cmap-signature";
/// The sender's id for a delivery; a redelivery with the same id is acknowledged and
/// ignored.
pub const EVENT_ID_HEADER: &str = "x-cmap-event-id";
/// Event ids longer than this are refused (they become store keys).
const MAX_EVENT_ID_LEN: usize = 256;

/// Settings of the HTTP API.
#[derive(Clone, Debug)]
pub struct Config {
    pub webhook_body_limit: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            webhook_body_limit: DEFAULT_WEBHOOK_BODY_LIMIT,
        }
    }
}

/// What every handler sees.
struct Api {
    shared: Arc<Shared>,
    runner: Arc<Runner>,
    metrics: Arc<Metrics>,
    /// One lock per task id, held (on a blocking thread) while a delivery is checked for
    /// duplication, mapped and committed. Two deliveries to one task mapped at once would
    /// each read the store as it was before the other's commit: both could create the
    /// same shard, or both pass the event-id check. Deliveries to different tasks run in
    /// parallel.
    task_locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

impl Api {
    fn task_lock(&self, task_id: &str) -> Arc<Mutex<()>> {
        self.task_locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(task_id.to_string())
            .or_default()
            .clone()
    }
}

/// The API with the default settings.
pub fn router(shared: Arc<Shared>, runner: Arc<Runner>, metrics: Arc<Metrics>) -> Router {
    router_with(shared, runner, metrics, Config::default())
}

/// The API.
pub fn router_with(
    shared: Arc<Shared>,
    runner: Arc<Runner>,
    metrics: Arc<Metrics>,
    config: Config,
) -> Router {
    let api = Arc::new(Api {
        shared,
        runner,
        metrics,
        task_locks: Mutex::new(HashMap::new()),
    });
    Router::new()
        .route(
            "/webhooks/{task}",
            post(webhook).layer(DefaultBodyLimit::max(config.webhook_body_limit)),
        )
        .route("/api/tasks/{id}/run", post(run_task))
        .route("/api/tasks/{id}/pause", post(pause_task))
        .route("/api/tasks/{id}/resume", post(resume_task))
        .route("/api/executions", get(list_executions))
        .route("/api/executions/{id}", get(get_execution))
        .route("/api/executions/{id}/logs", get(execution_logs))
        .route("/api/executions/{id}/cancel", post(cancel_execution))
        .route("/api/pipelines", get(pipelines))
        .route("/api/reload", post(reload))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .with_state(api)
}

/// An error response: `{"error", "help"}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: String,
    pub help: Option<String>,
    /// Already logged where it arose (a webhook token missing when the version loaded):
    /// a delivery refused for it is not logged again.
    pub logged: bool,
}

impl ApiError {
    fn new(status: StatusCode, error: impl Into<String>, help: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error: error.into(),
            help: Some(help.into()),
            logged: false,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.error });
        if let Some(help) = self.help {
            body["help"] = Value::String(help);
        }
        (self.status, Json(body)).into_response()
    }
}

/// A store failure: the request may succeed later.
fn store_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("the store failed: {e}"),
        "retry later; the server log has the details",
    )
}

/// The tenant a request acts in. File-based pipelines live in the default tenant; the
/// multi-tenant API will take it from the authenticated caller.
fn tenant() -> &'static str {
    DEFAULT_TENANT
}

// ---------------------------------------------------------------------------------
// Webhooks

async fn webhook(
    State(api): State<Arc<Api>>,
    Path(task_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match receive(&api, &task_id, &headers, body).await {
        Ok((records, response)) => {
            api.metrics.webhook(200, records);
            (StatusCode::OK, Json(response)).into_response()
        }
        Err(e) => {
            api.metrics.webhook(e.status.as_u16(), 0);
            if e.logged {
                // Logged once, when the version loaded; a burst of refused deliveries
                // must not flood the log with it.
            } else if e.status.is_server_error() {
                tracing::error!(task = %task_id, status = e.status.as_u16(), error = %e.error, "webhook delivery failed");
            } else {
                tracing::warn!(task = %task_id, status = e.status.as_u16(), error = %e.error, "webhook delivery refused");
            }
            e.into_response()
        }
    }
}

/// Verifies, parses and stores one delivery; the number of records stored and the
/// response body.
async fn receive(
    api: &Arc<Api>,
    task_id: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(u64, Value), ApiError> {
    // The version serving now; a reload during this delivery does not change it.
    let loaded = api.shared.snapshot();
    let task = loaded
        .program
        .task(task_id)
        .filter(|t| matches!(t.schedule, Schedule::Realtime { .. }))
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no realtime task `{task_id}` is loaded"),
                "webhooks go to tasks with `schedule realtime`; GET /api/pipelines lists what is loaded",
            )
        })?;
    // The body limit is checked before authentication so an oversized body is never
    // read whole; its rejection carries 413 (or 400 for a broken body).
    let body = body.map_err(|e| {
        let status = e.status();
        let help = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "send fewer records per request"
        } else {
            "send the body whole"
        };
        ApiError::new(status, e.body_text(), help)
    })?;
    verify(&task, &loaded.webhooks, headers, &body)?;
    if api.runner.is_paused(task_id) {
        // 503, not 4xx: senders retry server errors, so deliveries made while the task
        // is paused arrive once it is resumed.
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("task `{task_id}` is paused"),
            format!("resume it: POST /api/tasks/{task_id}/resume"),
        ));
    }
    let event_id = event_id(headers)?;
    let records = parse_records(&body)?;
    let count = records.len() as u64;

    let api2 = api.clone();
    let connections = loaded.program.connections.clone();
    // Commits block on fsync: run the delivery on a blocking thread so the runtime's
    // workers keep serving other requests meanwhile.
    let outcome = tokio::task::spawn_blocking(move || {
        let lock = api2.task_lock(&task.id);
        // Held across the duplicate check and the commit, so a concurrent redelivery of
        // the same event waits and then sees it as seen.
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let engine = &api2.shared.engine;
        if let Some(id) = &event_id {
            let tenant = engine.ingest_tenant(&task, &connections);
            if engine.store.event_seen(&tenant, &task.id, id)? {
                return Ok(None);
            }
        }
        engine
            .ingest(&task, &connections, records, event_id.as_deref())
            .map(Some)
    })
    .await
    .map_err(|e| {
        // A panic (a bug) while storing: nothing of the delivery was committed.
        tracing::error!(task = task_id, error = %e, "webhook delivery failed: nothing stored");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the delivery was interrupted: {e}"),
            "retry the delivery; nothing of it was acknowledged",
        )
    })?
    .map_err(|e: crate::engine::EngineError| store_error(e))?;
    match outcome {
        None => Ok((0, json!({ "duplicate": true }))),
        Some(execution) => {
            api.metrics.execution_finished(&execution);
            let value = serde_json::to_value(&execution).map_err(store_error)?;
            Ok((count, value))
        }
    }
}

/// Checks the task's verification token (as read when the version loaded) and, when
/// configured, the body's signature.
fn verify(
    task: &Task,
    secrets: &WebhookSecrets,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    let unauthorized = |error: &str, help: &str| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            error.to_string(),
            help.to_string(),
        )
    };
    // Fail closed: a token that could not be read when the version loaded refuses
    // every delivery (503: senders retry, and succeed once it is set and loaded).
    let expected = match secrets.token(&task.id) {
        Some(Ok(token)) => token,
        Some(Err(why)) => return Err(unavailable(why)),
        None => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("task `{}` has no token loaded", task.id),
                "reload the pipelines: POST /api/reload",
            ))
        }
    };
    let presented = header_str(headers, TOKEN_HEADER).or_else(|| {
        header_str(headers, header::AUTHORIZATION.as_str()).and_then(|v| v.strip_prefix("Bearer "))
    });
    // Constant time: the comparison must not tell an attacker how many leading bytes
    // were right. (Lengths may differ; that leaks only the length.)
    let ok =
        presented.is_some_and(|p| bool::from(p.as_bytes().ct_eq(expected.expose().as_bytes())));
    if !ok {
        return Err(unauthorized(
            "missing or wrong verification token",
            "send the task's token in the X-Cmap-Token header (or Authorization: Bearer)",
        ));
    }
    if let Some(var) = task.config.engine.signature_secret_env.as_deref() {
        // Fail closed: a task that asks for signatures never accepts unsigned bodies,
        // even when its secret (read when the version loaded) is missing.
        let secret = match secrets.signing_key(&task.id) {
            Some(Ok(secret)) => secret.expose(),
            Some(Err(why)) => return Err(unavailable(why)),
            None => {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "the signing secret `{var}` of task `{}` is not loaded",
                        task.id
                    ),
                    "reload the pipelines: POST /api/reload",
                ))
            }
        };
        let signature = header_str(headers, SIGNATURE_HEADER)
            .and_then(|v| v.strip_prefix("sha256="))
            .and_then(|h| hex::decode(h).ok())
            .ok_or_else(|| {
                unauthorized(
                    "missing or malformed signature",
                    "send X-Cmap-Signature: sha256=<hex HMAC-SHA256 of the raw body>",
                )
            })?;
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the signing secret `{var}` is unusable: {e}"),
                format!("set {var} to a non-empty secret"),
            )
        })?;
        mac.update(body);
        // verify_slice compares in constant time.
        mac.verify_slice(&signature).map_err(|_| {
            unauthorized(
                "the signature does not match the body",
                "sign the exact bytes sent, with the secret shared with this server",
            )
        })?;
    }
    Ok(())
}

/// 503 for a secret that could not be read when the version loaded (logged then).
fn unavailable(why: &Unavailable) -> ApiError {
    ApiError {
        logged: true,
        ..ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            why.error.clone(),
            why.help.clone(),
        )
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn event_id(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get(EVENT_ID_HEADER) {
        None => Ok(None),
        Some(v) => match v.to_str() {
            Ok(s) if !s.is_empty() && s.len() <= MAX_EVENT_ID_LEN => Ok(Some(s.to_string())),
            _ => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "the event id header is empty, too long or not text",
                format!("send X-Cmap-Event-Id as visible text of at most {MAX_EVENT_ID_LEN} bytes"),
            )),
        },
    }
}

/// One JSON record or an array of them.
fn parse_records(body: &[u8]) -> Result<Vec<Value>, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the body is not JSON: {e}"),
            "send one JSON record (an object) or an array of records",
        )
    })?;
    match value {
        Value::Array(records) => Ok(records),
        record @ Value::Object(_) => Ok(vec![record]),
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the body is neither a record nor an array of records",
            "send one JSON record (an object) or an array of records",
        )),
    }
}

// ---------------------------------------------------------------------------------
// Control

fn known_task(api: &Api, id: &str) -> Result<(), ApiError> {
    match api.shared.snapshot().program.task(id) {
        Some(_) => Ok(()),
        None => Err(unknown_task(id)),
    }
}

fn unknown_task(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no task `{id}` is loaded"),
        "GET /api/pipelines lists the loaded pipelines",
    )
}

async fn run_task(State(api): State<Arc<Api>>, Path(id): Path<String>) -> Response {
    match api.runner.trigger(&id, TriggeredBy::Manual) {
        Ok(()) => (
            StatusCode::ACCEPTED,
            Json(json!({ "task": id, "status": "accepted" })),
        )
            .into_response(),
        Err(e) => {
            let message = e.to_string();
            match e {
                TriggerError::UnknownTask(_) => unknown_task(&id),
                TriggerError::AlreadyRunning { execution_id, .. } => ApiError::new(
                    StatusCode::CONFLICT,
                    message,
                    format!(
                        "wait for it, or cancel it: POST /api/executions/{execution_id}/cancel"
                    ),
                ),
                TriggerError::Paused(_) => ApiError::new(
                    StatusCode::CONFLICT,
                    message,
                    format!("resume it first: POST /api/tasks/{id}/resume"),
                ),
                TriggerError::QuotaPaused { .. } => ApiError::new(
                    StatusCode::CONFLICT,
                    message,
                    format!("it runs again by itself then; to try the source now: POST /api/tasks/{id}/resume"),
                ),
                TriggerError::ShuttingDown => ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    message,
                    "run it again once the server is back",
                ),
            }
            .into_response()
        }
    }
}

async fn pause_task(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    known_task(&api, &id)?;
    api.runner.pause(&id).await;
    Ok(Json(json!({ "task": id, "paused": true })))
}

async fn resume_task(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    known_task(&api, &id)?;
    api.runner.resume(&id).await;
    Ok(Json(json!({ "task": id, "paused": false })))
}

async fn cancel_execution(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if api.runner.cancel(&id) {
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "execution": id, "cancelling": true })),
        )
            .into_response());
    }
    match api
        .shared
        .engine
        .store
        .execution(tenant(), &id)
        .map_err(store_error)?
    {
        Some(e) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "execution `{id}` is not running (it is {})",
                e.status.as_str()
            ),
            "only running executions can be cancelled",
        )),
        None => Err(unknown_execution(&id)),
    }
}

fn unknown_execution(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("execution `{id}` not found"),
        "GET /api/executions lists them",
    )
}

#[derive(serde::Deserialize)]
struct ExecutionsQuery {
    task: Option<String>,
}

/// Newest first.
async fn list_executions(
    State(api): State<Arc<Api>>,
    Query(q): Query<ExecutionsQuery>,
) -> Result<Json<Value>, ApiError> {
    let executions = api
        .shared
        .engine
        .store
        .executions(tenant(), q.task.as_deref())
        .map_err(store_error)?;
    Ok(Json(json!({ "executions": executions })))
}

async fn get_execution(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let execution = api
        .shared
        .engine
        .store
        .execution(tenant(), &id)
        .map_err(store_error)?
        .ok_or_else(|| unknown_execution(&id))?;
    Ok(Json(serde_json::to_value(execution).map_err(store_error)?))
}

async fn execution_logs(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let store = &api.shared.engine.store;
    if store
        .execution(tenant(), &id)
        .map_err(store_error)?
        .is_none()
    {
        return Err(unknown_execution(&id));
    }
    let logs = store.logs(tenant(), &id).map_err(store_error)?;
    Ok(Json(json!({ "logs": logs })))
}

async fn pipelines(State(api): State<Arc<Api>>) -> Json<Value> {
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
                "paused": api.runner.is_paused(&t.id),
                "pausedUntil": api.runner.paused_until(&t.id).filter(|u| *u > chrono::Utc::now()),
            })
        })
        .collect();
    Json(json!({
        "generation": loaded.generation,
        "loadedAt": loaded.loaded_at,
        "files": files,
        "tasks": tasks,
    }))
}

async fn reload(State(api): State<Arc<Api>>) -> Result<Response, ApiError> {
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
        )),
    }
}

// ---------------------------------------------------------------------------------
// Health and metrics

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready once pipelines are loaded (generation 1 or later) and the store answers.
async fn readyz(State(api): State<Arc<Api>>) -> Response {
    let loaded = api.shared.snapshot().generation > 0;
    let store = api.shared.engine.store.task_state(tenant(), "").is_ok();
    if loaded && store {
        (StatusCode::OK, Json(json!({ "status": "ready" }))).into_response()
    } else {
        let why = if loaded {
            "the store does not answer"
        } else {
            "no pipelines are loaded yet"
        };
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            why,
            "wait, or see the server log",
        )
        .into_response()
    }
}

async fn render_metrics(State(api): State<Arc<Api>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        api.metrics.render(api.runner.running().len()),
    )
        .into_response()
}
