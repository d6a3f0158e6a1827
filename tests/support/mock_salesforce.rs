//! A mock Salesforce (REST query API and OAuth2 token endpoint) on 127.0.0.1, reproducing
//! the real shapes and failures: SOQL with WHERE / ORDER BY, `nextRecordsUrl` batches,
//! `queryAll` with `IsDeleted`, sessions that go stale (401 `INVALID_SESSION_ID`), token
//! responses without `expires_in` and with `instance_url`, refresh-token rotation,
//! `REQUEST_LIMIT_EXCEEDED`, expired query locators, injected faults; and the
//! authorization-code flow of a Connected App (`/services/oauth2/authorize`, consent
//! given at once, PKCE S256 checked at the token endpoint), for the connect flow.
//!
//! `start(config)` returns the address and a [`Handle`] with counters and controls, for
//! connector tests and engine tests that run `cmap run` against it.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

pub const CLIENT_ID: &str = "3MVG9mockClientId";
pub const CLIENT_SECRET: &str = "mock-client-secret";
pub const REFRESH_TOKEN: &str = "5Aep861mockRefresh0";
pub const API_VERSION: &str = "59.0";

pub struct Config {
    /// Records per sObject (`Contact` -> records with `Id`, `SystemModstamp`, ...);
    /// `attributes` are added by the mock.
    pub objects: BTreeMap<String, Vec<Value>>,
    /// The most records per batch, whatever `batchSize` asks (Salesforce treats it as a hint).
    pub page_size: usize,
    /// Issue a new refresh token with each refresh (and invalidate the old one).
    pub rotate_refresh_tokens: bool,
    /// Send the unchanged refresh token back with each refresh (as HubSpot does).
    pub echo_refresh_token: bool,
    /// Add `expires_in` to token responses, as given (Salesforce never does: `None`).
    pub expires_in: Option<Value>,
    /// An access token goes stale after this many API calls.
    pub session_requests: Option<u64>,
    /// API calls after this many answer 403 `REQUEST_LIMIT_EXCEEDED`.
    pub request_limit: Option<u64>,
    /// An access token valid from the start (as if stored by an earlier run).
    pub initial_access_token: Option<String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            objects: BTreeMap::new(),
            page_size: 2000,
            rotate_refresh_tokens: false,
            echo_refresh_token: false,
            expires_in: None,
            session_requests: None,
            request_limit: None,
            initial_access_token: None,
        }
    }
}

struct Inner {
    objects: BTreeMap<String, Vec<Value>>,
    access_token: Option<String>,
    /// API calls made with the current access token.
    token_uses: u64,
    refresh_token: String,
    issued: u64,
    /// Query results by locator id.
    locators: HashMap<String, (String, Vec<Value>)>,
    queries: Vec<String>,
    faults: Vec<(u16, String)>,
    /// API calls after this many answer 403 `REQUEST_LIMIT_EXCEEDED`.
    request_limit: Option<u64>,
    /// Authorization codes issued and not yet used: code -> (redirect_uri, PKCE challenge).
    codes: HashMap<String, (String, Option<String>)>,
}

pub struct MockState {
    base_url: String,
    page_size: usize,
    rotate: bool,
    echo: bool,
    expires_in: Option<Value>,
    session_requests: Option<u64>,
    inner: Mutex<Inner>,
    token_calls: AtomicU64,
    api_calls: AtomicU64,
    unauthorized: AtomicU64,
}

/// Counters and controls of a running mock.
#[derive(Clone)]
pub struct Handle(Arc<MockState>);

impl Handle {
    pub fn base_url(&self) -> String {
        self.0.base_url.clone()
    }
    pub fn token_url(&self) -> String {
        format!("{}/services/oauth2/token", self.0.base_url)
    }
    pub fn authorize_url(&self) -> String {
        format!("{}/services/oauth2/authorize", self.0.base_url)
    }
    /// Calls to the token endpoint.
    pub fn token_calls(&self) -> u64 {
        self.0.token_calls.load(Ordering::SeqCst)
    }
    /// Authorised API calls.
    pub fn api_calls(&self) -> u64 {
        self.0.api_calls.load(Ordering::SeqCst)
    }
    /// 401 answers sent.
    pub fn unauthorized(&self) -> u64 {
        self.0.unauthorized.load(Ordering::SeqCst)
    }
    /// Every SOQL query received, in order.
    pub fn queries(&self) -> Vec<String> {
        self.lock().queries.clone()
    }
    pub fn refresh_token(&self) -> String {
        self.lock().refresh_token.clone()
    }
    pub fn access_token(&self) -> Option<String> {
        self.lock().access_token.clone()
    }
    /// Makes the current access token stale (the next API call answers 401).
    pub fn expire_session(&self) {
        self.lock().access_token = None;
    }
    /// Forgets every query locator (they expire after idle minutes in Salesforce).
    pub fn expire_locators(&self) {
        self.lock().locators.clear();
    }
    /// Replaces the records of an sObject.
    pub fn set_records(&self, object: &str, records: Vec<Value>) {
        self.lock().objects.insert(object.to_string(), records);
    }
    /// The org's request allocation is back (the rolling 24 hours moved on): no more
    /// `REQUEST_LIMIT_EXCEEDED`.
    pub fn lift_request_limit(&self) {
        self.lock().request_limit = None;
    }
    /// The next authorised API call answers `status` with `body` instead; a 3xx status
    /// answers a redirect to `body` (its `Location`).
    pub fn fail_next(&self, status: u16, body: &str) {
        self.lock().faults.push((status, body.to_string()));
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Starts the mock on 127.0.0.1 (a free port); it runs until the test's runtime ends.
pub async fn start(config: Config) -> (SocketAddr, Handle) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    let state = Arc::new(MockState {
        base_url: format!("http://{addr}"),
        page_size: config.page_size.max(1),
        rotate: config.rotate_refresh_tokens,
        echo: config.echo_refresh_token,
        expires_in: config.expires_in,
        session_requests: config.session_requests,
        inner: Mutex::new(Inner {
            objects: config.objects,
            access_token: config.initial_access_token,
            token_uses: 0,
            refresh_token: REFRESH_TOKEN.to_string(),
            issued: 0,
            locators: HashMap::new(),
            queries: Vec::new(),
            faults: Vec::new(),
            request_limit: config.request_limit,
            codes: HashMap::new(),
        }),
        token_calls: AtomicU64::new(0),
        api_calls: AtomicU64::new(0),
        unauthorized: AtomicU64::new(0),
    });
    let app = Router::new()
        .route("/services/oauth2/authorize", get(authorize))
        .route("/services/oauth2/token", post(token))
        .route("/services/data/{version}/query", get(query))
        .route("/services/data/{version}/queryAll", get(query_all))
        .route("/services/data/{version}/query/{locator}", get(more))
        .with_state(state.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, Handle(state))
}

/// A Contact as the query API returns it (without `attributes`, which the mock adds).
pub fn contact(id: &str, last_name: &str, modstamp: &str) -> Value {
    json!({
        "Id": id,
        "IsDeleted": false,
        "FirstName": "Ada",
        "LastName": last_name,
        "Email": format!("{}@example.com", last_name.to_lowercase()),
        "MailingAddress": {"city": "London", "country": "UK"},
        "CreatedDate": "2023-06-01T08:00:00.000+0000",
        "LastModifiedDate": modstamp,
        "SystemModstamp": modstamp,
    })
}

fn errors(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!([{"message": message, "errorCode": code}])),
    )
        .into_response()
}

/// The consent page, answered at once as if the user approved: a redirect to
/// `redirect_uri` with a single-use `code` and the `state`.
async fn authorize(
    State(state): State<Arc<MockState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (Some(redirect), Some(client)) = (q.get("redirect_uri"), q.get("client_id")) else {
        return (
            StatusCode::BAD_REQUEST,
            "redirect_uri and client_id are required",
        )
            .into_response();
    };
    if client != CLIENT_ID || q.get("response_type").map(String::as_str) != Some("code") {
        return (StatusCode::BAD_REQUEST, "unknown client or response type").into_response();
    }
    let challenge = match q.get("code_challenge_method").map(String::as_str) {
        Some("S256") => q.get("code_challenge").cloned(),
        None => None,
        Some(_) => return (StatusCode::BAD_REQUEST, "PKCE: S256 only").into_response(),
    };
    let mut inner = state.inner.lock().unwrap_or_else(|e| e.into_inner());
    inner.issued += 1;
    let code = format!("aPrxmockCode{}", inner.issued);
    inner
        .codes
        .insert(code.clone(), (redirect.clone(), challenge));
    let mut to = url::Url::parse(redirect).expect("an absolute redirect_uri");
    to.query_pairs_mut().append_pair("code", &code);
    if let Some(st) = q.get("state") {
        to.query_pairs_mut().append_pair("state", st);
    }
    (StatusCode::FOUND, [("location", to.to_string())]).into_response()
}

async fn token(
    State(state): State<Arc<MockState>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    state.token_calls.fetch_add(1, Ordering::SeqCst);
    let oauth_error = |error: &str, description: &str| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": error, "error_description": description})),
        )
            .into_response()
    };
    let grant = form.get("grant_type").map(String::as_str);
    if grant != Some("refresh_token") && grant != Some("authorization_code") {
        return oauth_error("unsupported_grant_type", "grant type not supported");
    }
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
    {
        return oauth_error("invalid_client", "invalid client credentials");
    }
    let mut inner = state.inner.lock().unwrap_or_else(|e| e.into_inner());
    if grant == Some("authorization_code") {
        // Single use: taken whatever follows.
        let issued = form.get("code").and_then(|c| inner.codes.remove(c));
        let Some((redirect, challenge)) = issued else {
            return oauth_error("invalid_grant", "invalid authorization code");
        };
        if form.get("redirect_uri") != Some(&redirect) {
            return oauth_error("invalid_grant", "redirect_uri mismatch");
        }
        if let Some(challenge) = challenge {
            use base64::Engine as _;
            use sha2::Digest as _;
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            let digest = sha2::Sha256::digest(verifier.as_bytes());
            let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
            if computed != challenge {
                return oauth_error("invalid_grant", "invalid code verifier");
            }
        }
        // A grant gives a refresh token, which later refreshes use.
        let refresh = inner.refresh_token.clone();
        inner.issued += 1;
        let access = format!("00DmockOrg!AQ.token-{}", inner.issued);
        inner.access_token = Some(access.clone());
        inner.token_uses = 0;
        return Json(json!({
            "access_token": access,
            "refresh_token": refresh,
            "signature": "dGhpcyBpcyBhIG1vY2sgc2lnbmF0dXJl",
            "scope": "refresh_token api",
            "instance_url": state.base_url,
            "id": "https://login.salesforce.com/id/00DmockOrg/005mockUser",
            "token_type": "Bearer",
            "issued_at": "1700000000000",
        }))
        .into_response();
    }
    if form.get("refresh_token") != Some(&inner.refresh_token) {
        return oauth_error("invalid_grant", "expired access/refresh token");
    }
    inner.issued += 1;
    let access = format!("00DmockOrg!AQ.token-{}", inner.issued);
    inner.access_token = Some(access.clone());
    inner.token_uses = 0;
    let mut body = json!({
        "access_token": access,
        "signature": "dGhpcyBpcyBhIG1vY2sgc2lnbmF0dXJl",
        "scope": "refresh_token api",
        "instance_url": state.base_url,
        "id": "https://login.salesforce.com/id/00DmockOrg/005mockUser",
        "token_type": "Bearer",
        "issued_at": "1700000000000",
    });
    if state.rotate {
        let rotated = format!("5Aep861mockRefresh{}", inner.issued);
        inner.refresh_token = rotated.clone();
        body["refresh_token"] = json!(rotated);
    } else if state.echo {
        body["refresh_token"] = json!(inner.refresh_token);
    }
    if let Some(expires_in) = &state.expires_in {
        body["expires_in"] = expires_in.clone();
    }
    Json(body).into_response()
}

/// Checks the bearer token, the session age, the request limit and injected faults:
/// the answer that rejects the call, if any.
fn authorise(state: &MockState, headers: &HeaderMap) -> Option<Response> {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let mut inner = state.inner.lock().unwrap_or_else(|e| e.into_inner());
    let stale = state
        .session_requests
        .is_some_and(|limit| inner.token_uses >= limit);
    if stale {
        inner.access_token = None;
    }
    if bearer.is_none() || bearer != inner.access_token.as_deref() {
        drop(inner);
        state.unauthorized.fetch_add(1, Ordering::SeqCst);
        return Some(errors(
            StatusCode::UNAUTHORIZED,
            "INVALID_SESSION_ID",
            "Session expired or invalid",
        ));
    }
    inner.token_uses += 1;
    let calls = state.api_calls.fetch_add(1, Ordering::SeqCst) + 1;
    if inner.request_limit.is_some_and(|limit| calls > limit) {
        return Some(errors(
            StatusCode::FORBIDDEN,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        ));
    }
    if !inner.faults.is_empty() {
        let (status, body) = inner.faults.remove(0);
        return Some(fault(status, body));
    }
    None
}

/// An injected answer: `status` with `body`, or for a 3xx a redirect to `body`.
pub fn fault(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_redirection() {
        return (status, [(axum::http::header::LOCATION, body)]).into_response();
    }
    (status, body).into_response()
}

fn batch_size(headers: &HeaderMap) -> Option<usize> {
    headers
        .get("sforce-query-options")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("batchSize="))
        .and_then(|v| v.trim().parse().ok())
}

async fn query(
    State(state): State<Arc<MockState>>,
    Path(version): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    run_query(&state, &version, &params, &headers, false)
}

async fn query_all(
    State(state): State<Arc<MockState>>,
    Path(version): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    run_query(&state, &version, &params, &headers, true)
}

fn run_query(
    state: &MockState,
    version: &str,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
    all: bool,
) -> Response {
    if let Some(response) = authorise(state, headers) {
        return response;
    }
    let Some(q) = params.get("q") else {
        return errors(StatusCode::BAD_REQUEST, "MALFORMED_QUERY", "No query given");
    };
    let mut inner = state.inner.lock().unwrap_or_else(|e| e.into_inner());
    inner.queries.push(q.clone());
    let records = match evaluate(&inner.objects, q, all) {
        Ok(records) => records,
        Err((code, message)) => return errors(StatusCode::BAD_REQUEST, &code, &message),
    };
    let batch = batch_size(headers).unwrap_or(2000).min(state.page_size);
    let locator = format!("01gMOCK{:08}", inner.locators.len() + 1);
    inner
        .locators
        .insert(locator.clone(), (version.to_string(), records.clone()));
    batch_response(&records, 0, batch, version, &locator)
}

async fn more(
    State(state): State<Arc<MockState>>,
    Path((version, locator)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(response) = authorise(&state, &headers) {
        return response;
    }
    let inner = state.inner.lock().unwrap_or_else(|e| e.into_inner());
    let found = locator.rsplit_once('-').and_then(|(id, offset)| {
        let offset: usize = offset.parse().ok()?;
        let (_, records) = inner.locators.get(id)?;
        Some((id.to_string(), offset, records.clone()))
    });
    let Some((id, offset, records)) = found else {
        return errors(
            StatusCode::BAD_REQUEST,
            "INVALID_QUERY_LOCATOR",
            "invalid query locator",
        );
    };
    let batch = batch_size(&headers).unwrap_or(2000).min(state.page_size);
    batch_response(&records, offset, batch, &version, &id)
}

fn batch_response(
    records: &[Value],
    offset: usize,
    batch: usize,
    version: &str,
    locator: &str,
) -> Response {
    let end = (offset + batch).min(records.len());
    let done = end >= records.len();
    let mut body = json!({
        "totalSize": records.len(),
        "done": done,
        "records": records.get(offset..end).unwrap_or(&[]),
    });
    if !done {
        body["nextRecordsUrl"] = json!(format!("/services/data/{version}/query/{locator}-{end}"));
    }
    Json(body).into_response()
}

/// Runs a SOQL query of the forms cmap writes:
/// `SELECT f, g FROM Obj [WHERE cond] [ORDER BY f [ASC|DESC], ...]`.
fn evaluate(
    objects: &BTreeMap<String, Vec<Value>>,
    q: &str,
    all: bool,
) -> Result<Vec<Value>, (String, String)> {
    let malformed = |m: &str| ("MALFORMED_QUERY".to_string(), m.to_string());
    let rest = q
        .strip_prefix("SELECT ")
        .ok_or_else(|| malformed("expecting SELECT"))?;
    let (select, rest) = rest
        .split_once(" FROM ")
        .ok_or_else(|| malformed("expecting FROM"))?;
    let (rest, order) = match rest.split_once(" ORDER BY ") {
        Some((r, o)) => (r, Some(o)),
        None => (rest, None),
    };
    let (object, condition) = match rest.split_once(" WHERE ") {
        Some((o, c)) => (o.trim(), Some(c)),
        None => (rest.trim(), None),
    };
    let Some(records) = objects.get(object) else {
        return Err((
            "INVALID_TYPE".to_string(),
            format!("sObject type '{object}' is not supported."),
        ));
    };
    let known: Vec<String> = records
        .iter()
        .filter_map(Value::as_object)
        .flat_map(|r| r.keys().cloned())
        .chain(["Id", "IsDeleted", "SystemModstamp"].map(String::from))
        .collect();
    let fields: Option<Vec<&str>> = if select.trim() == "FIELDS(STANDARD)" {
        None
    } else {
        Some(select.split(',').map(str::trim).collect())
    };
    for field in fields.iter().flatten() {
        if !known.iter().any(|k| k.eq_ignore_ascii_case(field)) {
            return Err((
                "INVALID_FIELD".to_string(),
                format!("No such column '{field}' on entity '{object}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name."),
            ));
        }
    }
    let condition = match condition {
        Some(c) => Some(parse_condition(c).map_err(|m| malformed(&m))?),
        None => None,
    };
    let mut selected: Vec<&Value> = records
        .iter()
        .filter(|r| all || r.get("IsDeleted").and_then(Value::as_bool) != Some(true))
        .filter(|r| condition.as_ref().is_none_or(|c| c.matches(r)))
        .collect();
    if let Some(order) = order {
        let keys: Vec<(String, bool)> = order
            .split(',')
            .map(|k| {
                let mut parts = k.split_whitespace();
                let field = parts.next().unwrap_or("").to_string();
                let desc = parts.next().is_some_and(|d| d.eq_ignore_ascii_case("DESC"));
                (field, desc)
            })
            .collect();
        selected.sort_by(|a, b| {
            for (field, desc) in &keys {
                let ord = compare(a.get(field), b.get(field));
                let ord = if *desc { ord.reverse() } else { ord };
                if ord != std::cmp::Ordering::Equal {
                    return ord;
                }
            }
            std::cmp::Ordering::Equal
        });
    }
    Ok(selected
        .into_iter()
        .map(|record| {
            let id = record.get("Id").and_then(Value::as_str).unwrap_or("");
            let mut out = Map::new();
            out.insert(
                "attributes".into(),
                json!({"type": object, "url": format!("/services/data/v{API_VERSION}/sobjects/{object}/{id}")}),
            );
            match &fields {
                None => {
                    if let Some(map) = record.as_object() {
                        out.extend(map.clone());
                    }
                }
                Some(fields) => {
                    for field in fields {
                        let (name, value) = record
                            .as_object()
                            .and_then(|m| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(field)))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .unwrap_or_else(|| (field.to_string(), Value::Null));
                        out.insert(name, value);
                    }
                }
            }
            Value::Object(out)
        })
        .collect())
}

fn time(v: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(v))
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn compare(a: Option<&Value>, b: Option<&Value>) -> std::cmp::Ordering {
    match (a.and_then(Value::as_str), b.and_then(Value::as_str)) {
        (Some(a), Some(b)) => match (time(a), time(b)) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => a.cmp(b),
        },
        _ => a.map(Value::to_string).cmp(&b.map(Value::to_string)),
    }
}

/// A WHERE clause: comparisons joined by AND / OR, with parentheses.
enum Condition {
    Compare {
        field: String,
        op: String,
        literal: Literal,
    },
    And(Box<Condition>, Box<Condition>),
    Or(Box<Condition>, Box<Condition>),
}

enum Literal {
    Quoted(String),
    Bare(String),
}

impl Condition {
    fn matches(&self, record: &Value) -> bool {
        match self {
            Condition::And(a, b) => a.matches(record) && b.matches(record),
            Condition::Or(a, b) => a.matches(record) || b.matches(record),
            Condition::Compare { field, op, literal } => {
                let value = record.get(field);
                let ord = match literal {
                    Literal::Quoted(s) => value.and_then(Value::as_str).map(|v| v.cmp(s.as_str())),
                    Literal::Bare(s) if s == "true" || s == "false" => {
                        return match op.as_str() {
                            "=" => value.and_then(Value::as_bool) == Some(s == "true"),
                            _ => value.and_then(Value::as_bool) != Some(s == "true"),
                        }
                    }
                    Literal::Bare(s) => {
                        match (time(s), value.and_then(Value::as_str).and_then(time)) {
                            (Some(lit), Some(v)) => Some(v.cmp(&lit)),
                            _ => match (s.parse::<f64>(), value.and_then(Value::as_f64)) {
                                (Ok(lit), Some(v)) => v.partial_cmp(&lit),
                                _ => None,
                            },
                        }
                    }
                };
                let Some(ord) = ord else { return false };
                match op.as_str() {
                    "=" => ord.is_eq(),
                    "!=" => ord.is_ne(),
                    ">" => ord.is_gt(),
                    ">=" => ord.is_ge(),
                    "<" => ord.is_lt(),
                    "<=" => ord.is_le(),
                    _ => false,
                }
            }
        }
    }
}

fn tokens(s: &str) -> Result<Vec<String>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' || c == ')' {
            out.push(c.to_string());
            i += 1;
        } else if c == '\'' {
            let mut text = String::from("'");
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("unterminated string".into()),
                    Some('\\') => {
                        text.push(*chars.get(i + 1).ok_or("bad escape")?);
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(c) => {
                        text.push(*c);
                        i += 1;
                    }
                }
            }
            out.push(text);
        } else if "<>=!".contains(c) {
            let mut op = c.to_string();
            if chars.get(i + 1) == Some(&'=') {
                op.push('=');
                i += 1;
            }
            out.push(op);
            i += 1;
        } else {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || "_.:+-".contains(chars[i])) {
                i += 1;
            }
            if start == i {
                return Err(format!("unexpected token at '{c}'"));
            }
            out.push(chars[start..i].iter().collect());
        }
    }
    Ok(out)
}

fn parse_condition(s: &str) -> Result<Condition, String> {
    let tokens = tokens(s)?;
    let mut pos = 0;
    let c = parse_or(&tokens, &mut pos)?;
    if pos != tokens.len() {
        return Err(format!("unexpected token: {}", tokens[pos]));
    }
    Ok(c)
}

fn parse_or(t: &[String], pos: &mut usize) -> Result<Condition, String> {
    let mut left = parse_and(t, pos)?;
    while t.get(*pos).is_some_and(|k| k.eq_ignore_ascii_case("OR")) {
        *pos += 1;
        left = Condition::Or(Box::new(left), Box::new(parse_and(t, pos)?));
    }
    Ok(left)
}

fn parse_and(t: &[String], pos: &mut usize) -> Result<Condition, String> {
    let mut left = parse_atom(t, pos)?;
    while t.get(*pos).is_some_and(|k| k.eq_ignore_ascii_case("AND")) {
        *pos += 1;
        left = Condition::And(Box::new(left), Box::new(parse_atom(t, pos)?));
    }
    Ok(left)
}

fn parse_atom(t: &[String], pos: &mut usize) -> Result<Condition, String> {
    if t.get(*pos).map(String::as_str) == Some("(") {
        *pos += 1;
        let c = parse_or(t, pos)?;
        if t.get(*pos).map(String::as_str) != Some(")") {
            return Err("expecting )".into());
        }
        *pos += 1;
        return Ok(c);
    }
    let field = t.get(*pos).ok_or("expecting a field")?.clone();
    let op = t.get(*pos + 1).ok_or("expecting an operator")?.clone();
    if !["=", "!=", ">", ">=", "<", "<="].contains(&op.as_str()) {
        return Err(format!("unexpected token: {op}"));
    }
    let literal = t.get(*pos + 2).ok_or("expecting a value")?;
    *pos += 3;
    let literal = match literal.strip_prefix('\'') {
        Some(s) => Literal::Quoted(s.to_string()),
        None => Literal::Bare(literal.clone()),
    };
    Ok(Condition::Compare { field, op, literal })
}
