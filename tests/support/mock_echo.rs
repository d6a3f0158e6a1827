//! A careless API on 127.0.0.1 that repeats what it was sent: every credential header
//! (as sent, percent-encoded, and for basic auth decoded), in error bodies and inside
//! records; and an OAuth2 token endpoint whose refusals quote the form and the headers.
//! Whatever it echoes must never be stored, logged or shown by cmap.
//!
//! `GET /api/people` answers records (one fine, one without `id`, one without `email`)
//! whose names quote the request, or, after [`Echo::fail_with`], that status with a body
//! quoting it. `POST /oauth/token` issues a new access token per call, or, after
//! [`Echo::refuse_tokens`], a 400 `invalid_grant` quoting the form and the headers.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::json;

#[derive(Default)]
pub struct Echo {
    /// 0: answer records; else answer this status.
    fail: AtomicU16,
    refuse_tokens: AtomicBool,
    issued: AtomicU64,
    /// Every access token issued.
    tokens: Mutex<Vec<String>>,
}

impl Echo {
    /// The next API calls answer `status` (0: records again).
    pub fn fail_with(&self, status: u16) {
        self.fail.store(status, Ordering::SeqCst);
    }
    pub fn refuse_tokens(&self, refuse: bool) {
        self.refuse_tokens.store(refuse, Ordering::SeqCst);
    }
    pub fn access_tokens(&self) -> Vec<String> {
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

pub async fn start() -> (String, Arc<Echo>) {
    let echo = Arc::new(Echo::default());
    let app = Router::new()
        .route("/api/people", get(people))
        .route("/oauth/token", post(token))
        .with_state(echo.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr: SocketAddr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), echo)
}

/// The request's credentials, repeated the ways careless servers repeat them.
fn quote(headers: &HeaderMap) -> String {
    let ordinary = [
        "host",
        "accept",
        "user-agent",
        "content-length",
        "content-type",
        "accept-encoding",
    ];
    let mut out = Vec::new();
    for (name, value) in headers {
        if ordinary.contains(&name.as_str()) {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        out.push(format!("{name}: {value}"));
        let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
        out.push(format!("{name} (encoded): {encoded}"));
        if let Some(basic) = value.strip_prefix("Basic ") {
            if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(basic.trim()) {
                out.push(format!(
                    "{name} (decoded): {}",
                    String::from_utf8_lossy(&decoded)
                ));
            }
        }
    }
    out.join("; ")
}

async fn people(State(echo): State<Arc<Echo>>, headers: HeaderMap) -> Response {
    let quoted = quote(&headers);
    let status = echo.fail.load(Ordering::SeqCst);
    if status != 0 {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        return (
            status,
            Json(json!({"message": format!("rejected {quoted}"), "request": {"headers": quoted}})),
        )
            .into_response();
    }
    Json(json!({"results": [
        {"id": "r1", "name": format!("fine {quoted}"), "email": "r1@example.com"},
        {"name": format!("no id {quoted}"), "email": "r2@example.com"},
        {"id": "r3", "name": format!("no email {quoted}"), "email": null},
    ]}))
    .into_response()
}

async fn token(State(echo): State<Arc<Echo>>, headers: HeaderMap, form: String) -> Response {
    if echo.refuse_tokens.load(Ordering::SeqCst) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({
                "error": "invalid_grant",
                "error_description": format!("refused {form}; {}", quote(&headers)),
            })),
        )
            .into_response();
    }
    let n = echo.issued.fetch_add(1, Ordering::SeqCst) + 1;
    let access = format!("at-{n}-Zq9/+xW\"v=");
    echo.tokens
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(access.clone());
    Json(json!({"access_token": access, "token_type": "bearer", "expires_in": 3600}))
        .into_response()
}
