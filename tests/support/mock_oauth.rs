//! A mock OAuth2 provider on 127.0.0.1 for the connect flow (`engine::connect`):
//! `/authorize` (consent: a redirect back with a code, or `error=access_denied`),
//! `/token` (authorization-code grant with the checks a real provider makes: client id
//! and secret, single-use codes, the PKCE S256 verifier, the exact redirect URI) and
//! `/revoke` (RFC 7009, records what it revoked). Failure modes: 400 `invalid_grant`,
//! 500, a slow answer, a 302 redirect (that the client must not follow).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::json;
use sha2::{Digest, Sha256};

pub const CLIENT_ID: &str = "mock-client-id";
pub const CLIENT_SECRET: &str = "mock-client-secret-5e3b1d";

/// How `/token` answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenMode {
    /// Checks the request and issues tokens.
    Normal,
    /// 400 `invalid_grant`, with a description that quotes the code and the client
    /// secret (a provider may echo what it was sent).
    InvalidGrant,
    /// 500 with a body quoting the code.
    ServerError,
    /// Answers after an hour (run under tokio's paused clock).
    Slow,
    /// 302 to `/stolen`, which records every request that reaches it.
    Redirect,
}

/// How `/revoke` answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevokeMode {
    Normal,
    /// 503.
    Unavailable,
}

/// A code issued by `/authorize`, with what it was issued for.
struct Issued {
    client_id: String,
    redirect_uri: String,
    challenge: Option<String>,
}

#[derive(Default)]
struct Inner {
    codes: HashMap<String, Issued>,
    /// Codes already exchanged (a second exchange is `invalid_grant`).
    used: Vec<String>,
    issued: u64,
    deny: bool,
    token_mode: Option<TokenMode>,
    revoke_mode: Option<RevokeMode>,
    /// Every token `/token` issued.
    tokens: Vec<String>,
    /// `(token, token_type_hint)` of every revocation.
    revoked: Vec<(String, Option<String>)>,
    /// Requests that reached `/stolen`.
    stolen: u64,
    /// Refusals of `/token`, as `error` codes.
    refusals: Vec<String>,
}

pub struct Handle {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

impl Handle {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }
    pub fn authorize_url(&self) -> String {
        format!("{}/authorize", self.base)
    }
    pub fn token_url(&self) -> String {
        format!("{}/token", self.base)
    }
    pub fn revoke_url(&self) -> String {
        format!("{}/revoke", self.base)
    }
    /// The instance URL token responses carry (as Salesforce's do).
    pub fn instance_url(&self) -> String {
        format!("{}/instance", self.base)
    }
    /// `/authorize` answers `error=access_denied` (the user refused).
    pub fn deny_consent(&self, deny: bool) {
        self.with(|i| i.deny = deny);
    }
    pub fn token_mode(&self, mode: TokenMode) {
        self.with(|i| i.token_mode = Some(mode));
    }
    pub fn revoke_mode(&self, mode: RevokeMode) {
        self.with(|i| i.revoke_mode = Some(mode));
    }
    /// Every access and refresh token issued.
    pub fn tokens(&self) -> Vec<String> {
        self.with(|i| i.tokens.clone())
    }
    /// Every code issued.
    pub fn codes(&self) -> Vec<String> {
        self.with(|i| i.codes.keys().chain(i.used.iter()).cloned().collect())
    }
    pub fn revoked(&self) -> Vec<(String, Option<String>)> {
        self.with(|i| i.revoked.clone())
    }
    pub fn stolen(&self) -> u64 {
        self.with(|i| i.stolen)
    }
    pub fn refusals(&self) -> Vec<String> {
        self.with(|i| i.refusals.clone())
    }
}

pub async fn start() -> Handle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    let inner = Arc::new(Mutex::new(Inner::default()));
    let state = (format!("http://{addr}"), inner.clone());
    let app = Router::new()
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .route("/revoke", post(revoke))
        .route("/stolen", get(stolen).post(stolen))
        .with_state(state);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Handle {
        base: format!("http://{addr}"),
        inner,
    }
}

type Shared = (String, Arc<Mutex<Inner>>);

fn lock(inner: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(|e| e.into_inner())
}

async fn authorize(
    State((_, inner)): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let (redirect_uri, state) = (get("redirect_uri"), get("state"));
    if get("response_type") != "code" || get("client_id") != CLIENT_ID || redirect_uri.is_empty() {
        return (StatusCode::BAD_REQUEST, "bad authorization request").into_response();
    }
    let mut back = url::Url::parse(&redirect_uri).expect("redirect_uri is a URL");
    let mut inner = lock(&inner);
    if inner.deny {
        back.query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair("error_description", "The user denied access")
            .append_pair("state", &state);
    } else {
        if q.contains_key("code_challenge") && get("code_challenge_method") != "S256" {
            return (StatusCode::BAD_REQUEST, "only S256").into_response();
        }
        inner.issued += 1;
        let code = format!("code-{}-{}", inner.issued, fastrand::u64(..));
        inner.codes.insert(
            code.clone(),
            Issued {
                client_id: get("client_id"),
                redirect_uri: redirect_uri.clone(),
                challenge: q.get("code_challenge").cloned(),
            },
        );
        back.query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", &state);
    }
    (StatusCode::FOUND, [(header::LOCATION, back.to_string())]).into_response()
}

/// The client's id and secret: HTTP basic or the body.
fn client_of(headers: &HeaderMap, form: &HashMap<String, String>) -> (String, String) {
    if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
    {
        if let Some((id, secret)) = basic.split_once(':') {
            return (id.to_string(), secret.to_string());
        }
    }
    (
        form.get("client_id").cloned().unwrap_or_default(),
        form.get("client_secret").cloned().unwrap_or_default(),
    )
}

fn refuse(inner: &mut Inner, error: &str, description: &str) -> Response {
    inner.refusals.push(error.to_string());
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

async fn token(
    State((base, inner)): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mode = lock(&inner).token_mode.unwrap_or(TokenMode::Normal);
    let code = form.get("code").cloned().unwrap_or_default();
    match mode {
        TokenMode::Normal => {}
        TokenMode::InvalidGrant => {
            let mut inner = lock(&inner);
            return refuse(
                &mut inner,
                "invalid_grant",
                &format!("code {code} is not valid for client secret {CLIENT_SECRET}"),
            );
        }
        TokenMode::ServerError => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("internal error while redeeming {code}"),
            )
                .into_response()
        }
        TokenMode::Slow => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return (StatusCode::SERVICE_UNAVAILABLE, "too late").into_response();
        }
        TokenMode::Redirect => {
            return (
                StatusCode::FOUND,
                [(header::LOCATION, format!("{base}/stolen?code={code}"))],
            )
                .into_response()
        }
    }
    let mut inner = lock(&inner);
    let (client_id, client_secret) = client_of(&headers, &form);
    if client_id != CLIENT_ID || client_secret != CLIENT_SECRET {
        return refuse(&mut inner, "invalid_client", "unknown client");
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return refuse(
            &mut inner,
            "unsupported_grant_type",
            "authorization_code only",
        );
    }
    // Single use: the code leaves the table whatever follows (RFC 6749 section 4.1.2).
    let Some(issued) = inner.codes.remove(&code) else {
        return refuse(&mut inner, "invalid_grant", "unknown or used code");
    };
    inner.used.push(code);
    if issued.client_id != client_id {
        return refuse(&mut inner, "invalid_grant", "code issued to another client");
    }
    if form.get("redirect_uri") != Some(&issued.redirect_uri) {
        return refuse(&mut inner, "invalid_grant", "redirect_uri does not match");
    }
    if let Some(challenge) = &issued.challenge {
        let verifier = form.get("code_verifier").cloned().unwrap_or_default();
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        if computed != *challenge {
            return refuse(&mut inner, "invalid_grant", "PKCE verification failed");
        }
    }
    inner.issued += 1;
    let n = inner.issued;
    let access = format!("mock-access-{n}-{}", fastrand::u64(..));
    let refresh = format!("mock-refresh-{n}-{}", fastrand::u64(..));
    inner.tokens.push(access.clone());
    inner.tokens.push(refresh.clone());
    Json(json!({
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "Bearer",
        "expires_in": 3600,
        "scope": "api refresh_token",
        "instance_url": format!("{base}/instance"),
        "issued_at": "1700000000000",
    }))
    .into_response()
}

async fn revoke(
    State((_, inner)): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut inner = lock(&inner);
    if inner.revoke_mode == Some(RevokeMode::Unavailable) {
        return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
    }
    let (client_id, client_secret) = client_of(&headers, &form);
    if client_id != CLIENT_ID || client_secret != CLIENT_SECRET {
        return refuse(&mut inner, "invalid_client", "unknown client");
    }
    let Some(token) = form.get("token") else {
        return refuse(&mut inner, "invalid_request", "no token");
    };
    inner
        .revoked
        .push((token.clone(), form.get("token_type_hint").cloned()));
    StatusCode::OK.into_response()
}

async fn stolen(State((_, inner)): State<Shared>) -> StatusCode {
    lock(&inner).stolen += 1;
    StatusCode::OK
}
