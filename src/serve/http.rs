//! The HTTP API of `cmap serve`: realtime webhooks, control of tasks and executions,
//! pipeline status, health and metrics.
//!
//! Handlers are thin: they resolve the request's scope (the tenant; one for file-based
//! pipelines until the multi-tenant API of the spec arrives), call the runner, the engine
//! or the store, and turn the outcome into JSON. Errors are always
//! RFC 9457 problem details ([`ApiError`]) with a status code that says whether a retry
//! helps.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use utoipa::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use super::auth::{Action, Actor};
use super::connect;
use super::control;
use super::deliveries::Deliveries;
use super::documents;
use super::integrations;
use super::metrics::Metrics;
use super::platform;
use super::runner::Runner;
use super::schema_test;
use super::state::Shared;
use super::webhook_secrets::{Unavailable, WebhookSecrets};
use crate::compile::ir::{Schedule, Task};
use crate::engine::catalogue::{Catalogue, DefinitionChecker};
use crate::engine::{Ingested, DEFAULT_TENANT};

/// Webhook bodies larger than this are refused with 413 (the default).
pub const DEFAULT_WEBHOOK_BODY_LIMIT: usize = 1024 * 1024;
/// The default [`Config::webhook_queue`].
pub const DEFAULT_WEBHOOK_QUEUE: usize = 256;
/// The default [`Config::webhook_memory`]: 64 MiB.
pub const DEFAULT_WEBHOOK_MEMORY: usize = 64 << 20;
/// The default [`Config::header_read_timeout`].
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The default [`Config::body_read_timeout`].
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The default [`Config::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// The verification token header (`Authorization: Bearer TOKEN` works too).
pub const TOKEN_HEADER: &str = "x-cmap-token";
/// `t=UNIX,v1=HEX`: HEX is the HMAC-SHA256, keyed with the task's secret, of
/// `"{t}.{event_id}.{raw body}"` (docs/serve.md, "Signatures").
pub const SIGNATURE_HEADER: &str = "x-cmap-signature";
/// How far (seconds) a signature's timestamp may be from the server's clock, either way
/// (the default; Stripe and Slack use 5 minutes too).
pub const DEFAULT_SIGNATURE_TOLERANCE_SECS: u64 = 300;
/// The sender's id for a delivery; a redelivery with the same id is acknowledged and
/// ignored.
pub const EVENT_ID_HEADER: &str = "x-cmap-event-id";
/// Event ids longer than this are refused (they become store keys).
const MAX_EVENT_ID_LEN: usize = 256;

/// Settings of the HTTP API and its listener (docs/serve.md lists the defaults).
#[derive(Clone, Debug)]
pub struct Config {
    pub webhook_body_limit: usize,
    /// A connection must send a whole request head within this, from when it is
    /// accepted or its previous response was sent; else it is closed. This also bounds an
    /// idle keep-alive connection.
    pub header_read_timeout: Duration,
    /// A request body must arrive whole within this (else 408).
    pub body_read_timeout: Duration,
    /// At most this many connections are served at once; more wait in the kernel's
    /// accept queue (no file descriptor, no memory here) until one closes.
    pub max_connections: usize,
    /// A signed delivery whose timestamp is further than this (seconds) from now, past
    /// or future, is refused: an old signed delivery cannot be replayed later.
    pub signature_tolerance_secs: u64,
    /// Per task, at most this many deliveries are in flight (queued or being stored);
    /// more are refused with 503 and `Retry-After` ([`super::deliveries`]).
    pub webhook_queue: usize,
    /// The bodies of the deliveries in flight, of every task, stay within this many
    /// bytes (else 503 and `Retry-After`).
    pub webhook_memory: usize,
    /// The URL the server is reached at (`--public-url`): its host is accepted in `Host`
    /// and its origin as a browser's `Origin` ([`super::origin`]).
    pub public_url: Option<super::origin::PublicUrl>,
    /// `/metrics` is served on an address of its own ([`metrics_router`]), not here.
    pub metrics_apart: bool,
    /// The standard library directory the pipelines load with (`None`: the embedded
    /// copy): schema and task writes through the API are checked with the same.
    pub stdlib: Option<std::path::PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            webhook_body_limit: DEFAULT_WEBHOOK_BODY_LIMIT,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            signature_tolerance_secs: DEFAULT_SIGNATURE_TOLERANCE_SECS,
            webhook_queue: DEFAULT_WEBHOOK_QUEUE,
            webhook_memory: DEFAULT_WEBHOOK_MEMORY,
            public_url: None,
            metrics_apart: false,
            stdlib: None,
        }
    }
}

/// What every handler sees.
pub(super) struct Api {
    pub(super) shared: Arc<Shared>,
    pub(super) runner: Arc<Runner>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) config: Config,
    /// Webhook deliveries in flight: one drainer per task stores its queued deliveries
    /// batch by batch, so two deliveries to one task are never mapped against the same
    /// store state (both could create the same shard, or both pass the event-id check).
    deliveries: Arc<Deliveries>,
    /// The OpenAPI document of these routes, as JSON (set once, when they are built).
    openapi: std::sync::OnceLock<Arc<str>>,
    /// The integration catalogue and the pipelines generation it was built from
    /// ([`Api::catalogue`]).
    catalogue: std::sync::Mutex<Option<(u64, Arc<Catalogue>)>>,
    /// Serialises catalogue writes (`/api/admin/integrations`): the store has no
    /// compare-and-set for definitions, so a version check and its write hold this.
    pub(super) catalogue_writes: tokio::sync::Mutex<()>,
    /// Schema and task writes, one at a time ([`super::documents`]).
    pub(super) documents: super::documents::Writes,
}

impl Api {
    /// The standard library directory the pipelines load with ([`Config::stdlib`]).
    pub(super) fn config_stdlib(&self) -> Option<&std::path::Path> {
        self.config.stdlib.as_deref()
    }

    /// The integration catalogue: the loaded pipelines' (stdlib's) `integration`
    /// definitions layered with the super admin's entries in the store. Built on first
    /// use and kept until a reload serves a new generation or
    /// a write of an entry drops it. 503 when the
    /// store cannot be read.
    pub(super) fn catalogue(&self) -> Result<Arc<Catalogue>, ApiError> {
        let loaded = self.shared.snapshot();
        let mut cached = self.catalogue.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((generation, catalogue)) = cached.as_ref() {
            if *generation == loaded.generation {
                return Ok(catalogue.clone());
            }
        }
        // Built under the lock: concurrent first uses build once, and an invalidation
        // cannot be overtaken by a build that read the store before the write.
        let catalogue = Arc::new(
            Catalogue::build(
                &loaded.program,
                &*self.shared.engine.store,
                DefinitionChecker::embedded(),
            )
            .map_err(store_error)?,
        );
        *cached = Some((loaded.generation, catalogue.clone()));
        Ok(catalogue)
    }

    /// Drops the cached catalogue: every write of a catalogue entry calls it, after the
    /// write is durable, so the next read builds from the store.
    pub(super) fn invalidate_catalogue(&self) {
        *self.catalogue.lock().unwrap_or_else(|e| e.into_inner()) = None;
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
    let body_limit = config.webhook_body_limit;
    let origins = Arc::new(super::origin::Origins {
        public_url: config.public_url.clone(),
    });
    let deliveries = Deliveries::new(
        shared.clone(),
        metrics.clone(),
        config.webhook_queue,
        config.webhook_memory,
    );
    let metrics_apart = config.metrics_apart;
    let api = Arc::new(Api {
        shared,
        runner,
        metrics,
        config,
        deliveries,
        openapi: std::sync::OnceLock::new(),
        catalogue: std::sync::Mutex::new(None),
        catalogue_writes: tokio::sync::Mutex::new(()),
        documents: super::documents::Writes::default(),
    });
    // Every route goes through `routes!`, which also describes it in the OpenAPI
    // document (from its `#[utoipa::path]`): nothing is served undescribed.
    let mut routes = OpenApiRouter::with_openapi(super::openapi::ApiDoc::openapi())
        .routes(routes!(webhook).layer(DefaultBodyLimit::max(body_limit)))
        .routes(routes!(control::run_task))
        .routes(routes!(control::pause_task))
        .routes(routes!(control::resume_task))
        .routes(routes!(control::list_executions))
        .routes(routes!(control::get_execution))
        .routes(routes!(control::execution_logs))
        .routes(routes!(control::cancel_execution))
        .routes(routes!(control::retry_execution))
        // The spec's paths ("API Reference": Sync Tasks, Sync Executions).
        .routes(routes!(control::run_integration_task))
        .routes(routes!(control::pause_integration_task))
        .routes(routes!(control::resume_integration_task))
        .routes(routes!(control::list_integration_executions))
        .routes(routes!(control::get_integration_execution))
        .routes(routes!(control::integration_execution_logs))
        .routes(routes!(control::cancel_integration_execution))
        .routes(routes!(control::retry_integration_execution))
        // The catalogue (spec "API Reference": Integration Management).
        .routes(routes!(integrations::list_integrations))
        .routes(routes!(integrations::get_integration))
        // The platform: the super admin's catalogue and audit log, a tenant's integrations.
        .routes(routes!(platform::admin_list, platform::admin_add))
        .routes(routes!(platform::admin_replace, platform::admin_remove))
        .routes(routes!(platform::audit_log))
        .routes(routes!(platform::tenant_list, platform::tenant_enable))
        .routes(routes!(
            platform::tenant_get,
            platform::tenant_configure,
            platform::tenant_remove
        ))
        // Connections (spec "API Reference": Connections; docs/api.md "Connecting").
        .routes(routes!(connect::connect))
        .routes(routes!(connect::oauth_callback))
        .routes(routes!(connect::disconnect))
        .routes(routes!(connect::connection_status))
        .routes(routes!(connect::test_connection))
        .routes(routes!(
            connect::put_system_connection,
            connect::get_system_connection,
            connect::delete_system_connection
        ))
        // Conversion schemas and sync tasks (spec "API Reference": Conversion Schemas,
        // Sync Tasks), stored as `.cmap` text and loaded with the files.
        .routes(routes!(documents::list_schemas, documents::create_schema))
        .routes(routes!(
            documents::get_schema,
            documents::update_schema,
            documents::delete_schema
        ))
        .routes(routes!(schema_test::test_schema))
        .routes(routes!(documents::list_tasks, documents::create_task))
        .routes(routes!(
            documents::get_task,
            documents::update_task,
            documents::delete_task
        ))
        .routes(routes!(control::pipelines))
        .routes(routes!(control::reload))
        .routes(routes!(openapi_json))
        .routes(routes!(healthz))
        .routes(routes!(readyz));
    if !metrics_apart {
        routes = routes.routes(routes!(render_metrics));
    }
    let (router, document) = routes.split_for_parts();
    // The document is made once, here, from the routes just registered.
    let document = document
        .to_json()
        .map(Arc::<str>::from)
        .unwrap_or_else(|e| Arc::from(format!(r#"{{"error": "{e}"}}"#)));
    let _ = api.openapi.set(document);
    router
        // Unknown paths and methods answer in the same shape as every other error.
        .fallback(unknown_route)
        .with_state(api)
        // Before any handler and any body is read, unmatched paths included.
        .layer(axum::middleware::from_fn_with_state(
            origins,
            super::origin::guard,
        ))
        .layer(axum::middleware::map_response(as_problem))
}

/// An error response, as RFC 9457 problem details (`application/problem+json`):
///
/// ```text
/// {"type": "about:blank", "title": "Not Found", "status": 404, "code": "task_not_found",
///  "detail": "no task `x` is loaded", "help": "GET /api/pipelines lists ..."}
/// ```
///
/// `title` is the status's reason phrase (RFC 9457 §4.2.1: the type is `about:blank`);
/// `code` is a stable, machine-readable name of what went wrong (snake_case; by default
/// the status's, e.g. `not_found`, and a finer one where clients tell cases apart, e.g.
/// `task_paused` and `task_running` are both 409); `detail` says what happened to this
/// request and `help` what to do about it.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub help: Option<String>,
    /// Seconds for a `Retry-After` header (a 503 the sender should retry).
    pub retry_after: Option<u64>,
    /// Already logged where it arose (a webhook token missing when the version loaded):
    /// a delivery refused for it is not logged again.
    pub logged: bool,
}

/// The media type of [`ApiError`] bodies (RFC 9457 §3).
pub const PROBLEM_JSON: &str = "application/problem+json";

impl ApiError {
    /// An error with the status's own code ([`status_code_name`]).
    pub fn new(status: StatusCode, detail: impl Into<String>, help: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: status_code_name(status),
            detail: detail.into(),
            help: Some(help.into()),
            retry_after: None,
            logged: false,
        }
    }

    /// The same error with a finer `code`.
    pub fn code(self, code: &'static str) -> ApiError {
        ApiError { code, ..self }
    }
}

/// The default `code` of a status: its reason phrase in snake_case (`not_found`,
/// `service_unavailable`).
pub fn status_code_name(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PRECONDITION_FAILED => "precondition_failed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::MISDIRECTED_REQUEST => "misdirected_request",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable_content",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        StatusCode::SERVICE_UNAVAILABLE => "service_unavailable",
        s if s.is_server_error() => "internal_error",
        _ => "error",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "type": "about:blank",
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "code": self.code,
            "detail": self.detail,
        });
        if let Some(help) = self.help {
            body["help"] = Value::String(help);
        }
        let mut response = (self.status, Json(body)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(PROBLEM_JSON),
        );
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        response
    }
}

async fn unknown_route(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no endpoint at `{}`", uri.path()),
        "docs/serve.md lists the endpoints",
    )
    .code("no_such_endpoint")
}

/// Error responses made by the router or an extractor rather than by a handler (a 405
/// with its `Allow`, a body over the limit) become problem details too, keeping their
/// headers and taking their text as `detail`: one error shape everywhere.
async fn as_problem(response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
    if is_problem || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    // Such texts are short (axum's rejections); a longer one is cut, not buffered whole.
    let text = match axum::body::to_bytes(body, 4096).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_string(),
        Err(_) => String::new(),
    };
    let detail = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    let mut problem = ApiError::new(
        status,
        detail,
        "docs/serve.md lists the endpoints, their methods and what they take",
    )
    .into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().append(name, value.clone());
        }
    }
    problem
}

/// A store failure: the request may succeed later.
pub(super) fn store_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("the store failed: {e}"),
        "retry later; the server log has the details",
    )
    .code("store_unavailable")
}

/// An API token and the tenant it acts in, or the 401 (with `WWW-Authenticate`) or
/// 404 of [`super::auth::authenticate`]. Every handler that takes an [`Actor`] is
/// behind a token; the others (health, webhooks with their own token) are not.
impl axum::extract::FromRequestParts<Arc<Api>> for Actor {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        api: &Arc<Api>,
    ) -> Result<Actor, Response> {
        super::auth::authenticate(&*api.shared.engine.store, &parts.headers, Utc::now()).map_err(
            |e| {
                if e.status == StatusCode::UNAUTHORIZED {
                    super::auth::challenge(e)
                } else {
                    e.into_response()
                }
            },
        )
    }
}

// ---------------------------------------------------------------------------------
// Webhooks

/// A realtime delivery: one record or an array (docs/serve.md, Webhooks).
#[utoipa::path(
    post,
    path = "/webhooks/{task}",
    tag = "webhooks",
    params(
        ("task" = String, Path, description = "a task with `schedule realtime`"),
        ("X-Cmap-Token" = Option<String>, Header, description = "the task's token (or `Authorization: Bearer`)"),
        ("X-Cmap-Event-Id" = Option<String>, Header, description = "the sender's id of the delivery; a repeat is acknowledged and ignored"),
        ("X-Cmap-Signature" = Option<String>, Header, description = "`t=UNIX,v1=HEX`, when the task asks for signatures"),
    ),
    request_body(content = serde_json::Value, description = "a JSON object or an array of them", content_type = "application/json"),
    responses(
        (status = 200, description = "stored (the execution), or a duplicate", body = super::openapi::WebhookAnswer),
        (status = 400, description = "not JSON, or a bad event id", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 401, description = "a missing or wrong token or signature", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such realtime task", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 413, description = "the body is over the limit", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 503, description = "busy or paused: retry after `Retry-After`", body = super::openapi::Problem, content_type = "application/problem+json"),
    )
)]
async fn webhook(
    State(api): State<Arc<Api>>,
    Path(task_id): Path<String>,
    request: Request,
) -> Response {
    let headers = request.headers().clone();
    match receive(&api, &task_id, request).await {
        Ok((records, response)) => {
            api.metrics.webhook(200, records);
            (StatusCode::OK, Json(response)).into_response()
        }
        Err(e) => {
            api.metrics.webhook(e.status.as_u16(), 0);
            // The sender's event id, as sent (it may be what was wrong), so an operator can
            // find the delivery; the log escapes whatever it holds.
            let event = headers
                .get(EVENT_ID_HEADER)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            let event = event.as_deref();
            if e.logged {
                // Logged once, when the version loaded; a burst of refused deliveries
                // must not flood the log with it.
            } else if e.retry_after.is_some() {
                // Busy, not broken: the sender retries after Retry-After.
                tracing::warn!(task = %task_id, event_id = event, status = e.status.as_u16(), code = e.code, error = %e.detail, "webhook delivery deferred");
            } else if e.status.is_server_error() {
                tracing::error!(task = %task_id, event_id = event, status = e.status.as_u16(), code = e.code, error = %e.detail, "webhook delivery failed");
            } else {
                tracing::warn!(task = %task_id, event_id = event, status = e.status.as_u16(), code = e.code, error = %e.detail, "webhook delivery refused");
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
    request: Request,
) -> Result<(u64, Value), ApiError> {
    let headers = &request.headers().clone();
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
.code("task_not_found")
        })?;
    // Everything the headers alone can refuse, before any of the body is read or a
    // place in the queue is taken: an unauthenticated sender cannot fill the queue.
    verify_token(&task, &loaded.webhooks, headers)?;
    if api.runner.is_paused(task_id) {
        // 503, not 4xx: senders retry server errors, so deliveries made while the task
        // is paused arrive once it is resumed.
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("task `{task_id}` is paused"),
            format!("resume it: POST /api/tasks/{task_id}/resume"),
        )
        .code("task_paused"));
    }
    let event_id = event_id(headers)?;
    // A place in the task's queue and the body's bytes in the budget, or 503 with
    // Retry-After. The body is reserved at its announced size (the limit when unknown;
    // larger ones are refused with 413 below).
    let limit = api.config.webhook_body_limit;
    let announced = header_str(headers, header::CONTENT_LENGTH.as_str())
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(limit, |n| n.min(limit));
    let admission = api
        .deliveries
        .admit(task_id, announced)
        .map_err(|full| full.into_error(task_id))?;
    // The body limit (DefaultBodyLimit) is enforced while reading, so an oversized body
    // is never read whole; its rejection carries 413 (or 400 for a broken body). A body
    // that stops arriving is given up after the body timeout: 408.
    let timeout = api.config.body_read_timeout;
    let body = tokio::time::timeout(timeout, Bytes::from_request(request, &()))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!("the body did not arrive within {} ms", timeout.as_millis()),
                "send the whole body at once",
            )
        })?;
    let body = body.map_err(|e| {
        let status = e.status();
        let help = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "send fewer records per request"
        } else {
            "send the body whole"
        };
        ApiError::new(status, e.body_text(), help)
    })?;
    verify_signature(
        &task,
        &loaded.webhooks,
        headers,
        &body,
        event_id.as_deref(),
        api.config.signature_tolerance_secs,
        Utc::now().timestamp(),
    )?;
    // Queued, stored with the task's other queued deliveries, answered once committed.
    match api
        .deliveries
        .deliver(admission, loaded, task, body, event_id)
        .await?
    {
        Ingested::Duplicate => Ok((0, json!({ "duplicate": true }))),
        Ingested::Stored(execution) => {
            api.metrics.execution_finished(&execution);
            let value = serde_json::to_value(&execution).map_err(store_error)?;
            Ok((execution.results.fetched, value))
        }
    }
}

/// Checks the task's verification token, as read when the version loaded. Fail closed:
/// a token that could not be read refuses every delivery (503: senders retry, and
/// succeed once it is set and loaded).
fn verify_token(
    task: &Task,
    secrets: &WebhookSecrets,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let expected = match secrets.token(&task.id) {
        Some(Ok(token)) => token,
        Some(Err(why)) => return Err(unavailable(why)),
        None => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("task `{}` has no token loaded", task.id),
                "reload the pipelines: POST /api/reload",
            )
            .code("webhook_token_unavailable"))
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
    Ok(())
}

/// When the task asks for signatures, checks the delivery's (the scheme is
/// [`check_signature`]'s) with the secret read when the version loaded. `now`: the
/// server's clock, UNIX seconds.
fn verify_signature(
    task: &Task,
    secrets: &WebhookSecrets,
    headers: &HeaderMap,
    body: &[u8],
    event_id: Option<&str>,
    tolerance_secs: u64,
    now: i64,
) -> Result<(), ApiError> {
    let Some(var) = task.config.engine.signature_secret_env.as_deref() else {
        return Ok(());
    };
    // Fail closed: a task that asks for signatures never accepts unsigned bodies, even
    // when its secret is missing.
    let secret = match secrets.signing_key(&task.id) {
        Some(Ok(secret)) => secret,
        Some(Err(why)) => return Err(unavailable(why)),
        None => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the signing secret `{var}` of task `{}` is not loaded",
                    task.id
                ),
                "reload the pipelines: POST /api/reload",
            )
            .code("signing_secret_unavailable"))
        }
    };
    check_signature(
        secret.expose().as_bytes(),
        header_str(headers, SIGNATURE_HEADER),
        event_id,
        body,
        tolerance_secs,
        now,
    )
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
        .code("webhook_secret_unavailable")
    }
}

fn unauthorized(error: &str, help: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        error.to_string(),
        help.to_string(),
    )
}

/// The help for every signature refusal: the scheme, in one line.
const SIGNATURE_HELP: &str = "send X-Cmap-Event-Id and X-Cmap-Signature: t=<UNIX seconds>,v1=<hex HMAC-SHA256 of \"<t>.<event id>.<raw body>\">, signed when sent (docs/serve.md, Signatures)";

/// Checks `X-Cmap-Signature: t=UNIX,v1=HEX[,v1=HEX…]` (the scheme of Stripe's and Slack's
/// webhooks, with the event id signed too): some `v1` must be the HMAC-SHA256, keyed with
/// `secret`, of `"{t}.{event_id}.{body}"`, and `t` must be within `tolerance_secs` of
/// `now`, either way. Signing the timestamp bounds when a captured delivery can be
/// replayed; signing the event id stops a signed body from being replayed under a new id
/// (a replay with the same id is a duplicate, stored once). Several `v1` values let a
/// sender sign with an old and a new secret while rotating; other keys are ignored.
/// Every refusal is 401 and says which part was wrong.
pub fn check_signature(
    secret: &[u8],
    header: Option<&str>,
    event_id: Option<&str>,
    body: &[u8],
    tolerance_secs: u64,
    now: i64,
) -> Result<(), ApiError> {
    let header =
        header.ok_or_else(|| unauthorized("the delivery is not signed", SIGNATURE_HELP))?;
    let mut t: Option<i64> = None;
    let mut signatures: Vec<Vec<u8>> = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| unauthorized("the signature header is malformed", SIGNATURE_HELP))?;
        match key {
            "t" => {
                let parsed = value.parse::<i64>().ok().filter(|_| t.is_none());
                t = Some(parsed.ok_or_else(|| {
                    unauthorized(
                        "the signature's timestamp `t` is not one number of UNIX seconds",
                        SIGNATURE_HELP,
                    )
                })?);
            }
            "v1" => signatures.push(
                hex::decode(value)
                    .map_err(|_| unauthorized("a `v1` signature is not hex", SIGNATURE_HELP))?,
            ),
            _ => {}
        }
    }
    let t = t.ok_or_else(|| unauthorized("the signature has no timestamp `t`", SIGNATURE_HELP))?;
    if signatures.is_empty() {
        return Err(unauthorized(
            "the signature has no `v1` value",
            SIGNATURE_HELP,
        ));
    }
    let event_id = event_id.ok_or_else(|| {
        unauthorized(
            "a signed delivery needs an event id (X-Cmap-Event-Id), which the signature covers",
            SIGNATURE_HELP,
        )
    })?;
    let mac = |secret: &[u8]| {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).ok()?;
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(event_id.as_bytes());
        mac.update(b".");
        mac.update(body);
        Some(mac)
    };
    // verify_slice compares in constant time; each candidate is checked.
    let matches = signatures
        .iter()
        .any(|sig| mac(secret).is_some_and(|m| m.verify_slice(sig).is_ok()));
    if !matches {
        return Err(unauthorized(
            "the signature does not match the timestamp, event id and body",
            SIGNATURE_HELP,
        ));
    }
    // Checked after the signature, so a refusal for age is only ever about a delivery
    // that was really signed. i128: `t` comes from outside and may be any i64.
    let age = i128::from(now) - i128::from(t);
    if age.unsigned_abs() > u128::from(tolerance_secs) {
        let when = if age > 0 {
            format!("{age} s ago")
        } else {
            format!("{} s in the future", -age)
        };
        return Err(unauthorized(
            &format!(
                "the signature was made {when}, outside the {tolerance_secs} s window; a delivery is signed when it is sent"
            ),
            "sign each delivery (and each retry) when sending it, with t = now in UNIX seconds; check the sender's clock",
        ));
    }
    Ok(())
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
            )
            .code("bad_event_id")),
        },
    }
}

// ---------------------------------------------------------------------------------
// Health and metrics

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "server",
    responses((status = 200, description = "the process answers", body = super::openapi::Health))
)]
async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready once pipelines are loaded (generation 1 or later) and the store answers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "server",
    responses(
        (status = 200, description = "ready", body = super::openapi::Health),
        (status = 503, description = "not yet", body = super::openapi::Problem, content_type = "application/problem+json"),
    )
)]
async fn readyz(State(api): State<Arc<Api>>) -> Response {
    let loaded = api.shared.snapshot().generation > 0;
    let store = api
        .shared
        .engine
        .store
        .task_state(DEFAULT_TENANT, "")
        .is_ok();
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
        .code("not_ready")
        .into_response()
    }
}

/// `/metrics` on the API's address: behind a super admin's token (Prometheus sends one
/// with `authorization: {credentials_file: ...}`), since the figures name tasks of every
/// tenant; `--metrics-listen` serves it apart without one.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "server",
    responses(
        (status = 200, description = "the Prometheus text exposition", body = String, content_type = "text/plain; version=0.0.4"),
        super::openapi::Refusals,
    ),
    security(("bearer" = []))
)]
async fn render_metrics(State(api): State<Arc<Api>>, actor: Actor) -> Response {
    if let Err(e) = actor.require(Action::Operate) {
        return e.into_response();
    }
    metrics_text(&api.metrics, &api.runner)
}

/// This API's OpenAPI 3.1 document (any authenticated caller).
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "server",
    responses(
        (status = 200, description = "the OpenAPI 3.1 document", body = Object, content_type = "application/json"),
        super::openapi::Refusals,
    ),
    security(("bearer" = []))
)]
async fn openapi_json(State(api): State<Arc<Api>>, _actor: Actor) -> Response {
    let document = api
        .openapi
        .get()
        .cloned()
        .unwrap_or_else(|| Arc::from("{}"));
    (
        [(header::CONTENT_TYPE, "application/json")],
        document.to_string(),
    )
        .into_response()
}

/// `/metrics` alone, for `--metrics-listen`: meant for a private interface that only
/// the scraper reaches, so it takes no token and no origin check (it only reads).
pub fn metrics_router(runner: Arc<Runner>, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let (runner, metrics) = (runner.clone(), metrics.clone());
                async move { metrics_text(&metrics, &runner) }
            }),
        )
        .fallback(unknown_route)
        .layer(axum::middleware::map_response(as_problem))
}

/// The Prometheus text exposition of `metrics`.
fn metrics_text(metrics: &Metrics, runner: &Runner) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics.render(runner.running().len()),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::check_signature;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    fn v1(t: &str, event: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"k").expect("any key");
        mac.update(format!("{t}.{event}.").as_bytes());
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    /// The window is inclusive, both ways, and timestamps at the ends of i64 are refused
    /// without overflow.
    #[test]
    fn the_window_edges_and_extreme_timestamps() {
        let now = 1_700_000_000_i64;
        let cases = [
            (now.to_string(), true),
            ((now - 300).to_string(), true),
            ((now + 300).to_string(), true),
            ((now - 301).to_string(), false),
            ((now + 301).to_string(), false),
            (i64::MIN.to_string(), false),
            (i64::MAX.to_string(), false),
        ];
        for (t, ok) in cases {
            let header = format!("t={t},v1={}", v1(&t, "e", b"{}"));
            let got = check_signature(b"k", Some(&header), Some("e"), b"{}", 300, now);
            assert_eq!(got.is_ok(), ok, "t={t}: {got:?}");
        }
    }
}
