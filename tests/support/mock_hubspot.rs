//! A mock HubSpot CRM v3 (objects list and search) on 127.0.0.1, reproducing the real
//! shapes and failures: `paging.next.after`, archived records, string property values,
//! the search endpoint's filters, sort and 10,000-result cap, 429 with `Retry-After` and
//! `X-HubSpot-RateLimit-*` headers (the daily limit's with `X-HubSpot-RateLimit-Daily` and
//! `-Daily-Remaining`, as HubSpot sends them), 401 on a wrong token, injected faults.
//!
//! `start(config)` returns the address and a [`Handle`] with counters and controls.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};

pub const TOKEN: &str = "pat-na1-mock-private-app-token";

/// 429 answers for the calls numbered `after_calls + 1 ..= after_calls + times`.
#[derive(Clone)]
pub struct RateLimit {
    pub after_calls: u64,
    pub times: u64,
    /// `Retry-After` seconds, when sent.
    pub retry_after: Option<u64>,
    /// `SECONDLY`, `TEN_SECONDLY_ROLLING` or `DAILY`.
    pub policy: &'static str,
    pub interval_ms: u64,
}

pub struct Config {
    /// Records per object type, shaped `{id, properties, createdAt, updatedAt, archived}`.
    pub objects: BTreeMap<String, Vec<Value>>,
    /// The most records per page, whatever `limit` asks.
    pub page_size: usize,
    /// The search endpoint refuses `after` at or past this.
    pub search_cap: u64,
    pub rate_limit: Option<RateLimit>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            objects: BTreeMap::new(),
            page_size: 100,
            search_cap: 10_000,
            rate_limit: None,
        }
    }
}

struct Inner {
    objects: BTreeMap<String, Vec<Value>>,
    searches: Vec<Value>,
    lists: Vec<HashMap<String, String>>,
    faults: Vec<(u16, String)>,
}

pub struct MockState {
    base_url: String,
    page_size: usize,
    search_cap: u64,
    rate_limit: Option<RateLimit>,
    inner: Mutex<Inner>,
    calls: AtomicU64,
}

#[derive(Clone)]
pub struct Handle(Arc<MockState>);

impl Handle {
    pub fn base_url(&self) -> String {
        self.0.base_url.clone()
    }
    /// Authorised API calls (429s included).
    pub fn calls(&self) -> u64 {
        self.0.calls.load(Ordering::SeqCst)
    }
    /// Every search request body, in order.
    pub fn searches(&self) -> Vec<Value> {
        self.lock().searches.clone()
    }
    /// Every list request's query parameters, in order.
    pub fn lists(&self) -> Vec<HashMap<String, String>> {
        self.lock().lists.clone()
    }
    pub fn set_records(&self, object: &str, records: Vec<Value>) {
        self.lock().objects.insert(object.to_string(), records);
    }
    /// The next authorised call answers `status` with `body` instead; a 3xx status
    /// answers a redirect to `body` (its `Location`).
    pub fn fail_next(&self, status: u16, body: &str) {
        self.lock().faults.push((status, body.to_string()));
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub async fn start(config: Config) -> (SocketAddr, Handle) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    let state = Arc::new(MockState {
        base_url: format!("http://{addr}"),
        page_size: config.page_size.max(1),
        search_cap: config.search_cap,
        rate_limit: config.rate_limit,
        inner: Mutex::new(Inner {
            objects: config.objects,
            searches: Vec::new(),
            lists: Vec::new(),
            faults: Vec::new(),
        }),
        calls: AtomicU64::new(0),
    });
    let app = Router::new()
        .route("/crm/v3/objects/{object}", get(list))
        .route("/crm/v3/objects/{object}/search", post(search))
        .with_state(state.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, Handle(state))
}

/// A contact as HubSpot returns it: every property value a string.
pub fn contact(id: u64, email: &str, modified: &str) -> Value {
    json!({
        "id": id.to_string(),
        "properties": {
            "createdate": "2023-01-10T09:00:00.000Z",
            "email": email,
            "firstname": "Grace",
            "lastname": "Hopper",
            "lastmodifieddate": modified,
            "hs_object_id": id.to_string(),
            "numemployees": "250",
        },
        "createdAt": "2023-01-10T09:00:00.000Z",
        "updatedAt": modified,
        "archived": false,
    })
}

/// An archived contact (as the list endpoint returns it with `archived=true`).
pub fn archived_contact(id: u64, email: &str, modified: &str) -> Value {
    let mut record = contact(id, email, modified);
    record["archived"] = json!(true);
    record["archivedAt"] = json!(modified);
    record
}

fn error(status: StatusCode, category: &str, message: &str) -> Response {
    (
        status,
        Json(json!({
            "status": "error",
            "message": message,
            "correlationId": "aeb5f871-7f07-4993-9211-075dc63e7cbf",
            "category": category,
        })),
    )
        .into_response()
}

/// Checks the bearer token, the rate limit and injected faults: the answer that rejects
/// the call, if any.
fn authorise(state: &MockState, headers: &HeaderMap) -> Option<Response> {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if bearer != Some(TOKEN) {
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        ));
    }
    let call = state.calls.fetch_add(1, Ordering::SeqCst) + 1;
    if let Some(limit) = &state.rate_limit {
        if call > limit.after_calls && call <= limit.after_calls + limit.times {
            let daily = limit.policy == "DAILY";
            let mut response = (
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({
                    "status": "error",
                    "message": if daily {
                        "You have reached your daily limit."
                    } else {
                        "You have reached your secondly limit."
                    },
                    "errorType": "RATE_LIMIT",
                    "correlationId": "c033cdaa-2c40-4a64-ae48-b4cec88dad24",
                    "policyName": limit.policy,
                    "groupName": "publicapi:private-app-api-calls:1234567",
                })),
            )
                .into_response();
            let headers = response.headers_mut();
            if daily {
                // What HubSpot sends with the daily limit (private apps): the day's
                // allowance and what is left, and nothing that says when it resets
                // (midnight in the account's time zone).
                headers.insert(
                    "X-HubSpot-RateLimit-Daily",
                    "250000".parse().expect("header"),
                );
                headers.insert(
                    "X-HubSpot-RateLimit-Daily-Remaining",
                    "0".parse().expect("header"),
                );
                return Some(response);
            }
            headers.insert("X-HubSpot-RateLimit-Max", "100".parse().expect("header"));
            headers.insert(
                "X-HubSpot-RateLimit-Remaining",
                "0".parse().expect("header"),
            );
            headers.insert(
                "X-HubSpot-RateLimit-Interval-Milliseconds",
                limit.interval_ms.to_string().parse().expect("header"),
            );
            if let Some(secs) = limit.retry_after {
                headers.insert("Retry-After", secs.to_string().parse().expect("header"));
            }
            return Some(response);
        }
    }
    let mut inner = state.inner.lock().unwrap_or_else(|e| e.into_inner());
    if !inner.faults.is_empty() {
        let (status, body) = inner.faults.remove(0);
        return Some(super::mock_salesforce::fault(status, body));
    }
    None
}

fn unknown_object(object: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
        &format!("Unable to infer object type from: {object}"),
    )
}

/// Keeps the requested properties (all when none are named).
fn project(record: &Value, properties: Option<&[String]>) -> Value {
    let mut out = record.clone();
    if let (Some(names), Some(props)) = (
        properties,
        record.get("properties").and_then(Value::as_object),
    ) {
        let kept: serde_json::Map<String, Value> = props
            .iter()
            .filter(|(k, _)| names.iter().any(|n| n == *k) || *k == "hs_object_id")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        out["properties"] = Value::Object(kept);
    }
    out
}

fn id_number(record: &Value) -> u64 {
    record
        .get("id")
        .and_then(Value::as_str)
        .and_then(|id| id.parse().ok())
        .unwrap_or(0)
}

async fn list(
    State(state): State<Arc<MockState>>,
    Path(object): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(response) = authorise(&state, &headers) {
        return response;
    }
    let mut inner = state.inner.lock().unwrap_or_else(|e| e.into_inner());
    inner.lists.push(params.clone());
    let Some(records) = inner.objects.get(&object) else {
        return unknown_object(&object);
    };
    let archived = params.get("archived").map(String::as_str) == Some("true");
    let limit = params
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(10)
        .min(100)
        .min(state.page_size);
    let properties: Option<Vec<String>> = params
        .get("properties")
        .map(|p| p.split(',').map(str::to_string).collect());
    // The list cursor is opaque in HubSpot; here it is the id after which to continue.
    let after = params
        .get("after")
        .and_then(|a| a.parse::<u64>().ok())
        .unwrap_or(0);
    let mut selected: Vec<&Value> = records
        .iter()
        .filter(|r| r.get("archived").and_then(Value::as_bool).unwrap_or(false) == archived)
        .filter(|r| id_number(r) > after)
        .collect();
    selected.sort_by_key(|r| id_number(r));
    let more = selected.len() > limit;
    selected.truncate(limit);
    let results: Vec<Value> = selected
        .iter()
        .map(|r| project(r, properties.as_deref()))
        .collect();
    let mut body = json!({"results": results});
    if more {
        if let Some(last) = selected.last() {
            let next = (id_number(last) + 1).to_string();
            body["paging"] = json!({"next": {
                "after": next,
                "link": format!("{}/crm/v3/objects/{object}?after={next}", state.base_url),
            }});
        }
    }
    Json(body).into_response()
}

fn time(v: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v)
        .ok()
        .map(|d| d.with_timezone(&Utc))
        .or_else(|| {
            v.parse::<i64>()
                .ok()
                .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
        })
}

fn property<'a>(record: &'a Value, name: &str) -> Option<&'a str> {
    record.get("properties")?.get(name)?.as_str()
}

fn compare(a: Option<&str>, b: Option<&str>) -> Option<std::cmp::Ordering> {
    let (a, b) = (a?, b?);
    Some(match (time(a), time(b)) {
        (Some(a), Some(b)) => a.cmp(&b),
        _ => a.cmp(b),
    })
}

fn filter_matches(record: &Value, filter: &Value) -> bool {
    let name = filter
        .get("propertyName")
        .and_then(Value::as_str)
        .unwrap_or("");
    let op = filter.get("operator").and_then(Value::as_str).unwrap_or("");
    let value = filter.get("value").and_then(Value::as_str);
    let Some(ord) = compare(property(record, name), value) else {
        return false;
    };
    match op {
        "EQ" => ord.is_eq(),
        "NEQ" => ord.is_ne(),
        "GT" => ord.is_gt(),
        "GTE" => ord.is_ge(),
        "LT" => ord.is_lt(),
        "LTE" => ord.is_le(),
        _ => false,
    }
}

async fn search(
    State(state): State<Arc<MockState>>,
    Path(object): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(response) = authorise(&state, &headers) {
        return response;
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "Invalid input JSON",
        );
    };
    let mut inner = state.inner.lock().unwrap_or_else(|e| e.into_inner());
    inner.searches.push(request.clone());
    let Some(records) = inner.objects.get(&object) else {
        return unknown_object(&object);
    };
    let after = request
        .get("after")
        .and_then(|a| {
            a.as_str()
                .and_then(|s| s.parse::<u64>().ok())
                .or_else(|| a.as_u64())
        })
        .unwrap_or(0);
    if after >= state.search_cap {
        return error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            &format!("Cannot page beyond {} results.", state.search_cap),
        );
    }
    let limit = request
        .get("limit")
        .and_then(Value::as_u64)
        .unwrap_or(10)
        .min(200) as usize;
    let limit = limit.min(state.page_size);
    let groups = request
        .get("filterGroups")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut selected: Vec<&Value> = records
        .iter()
        .filter(|r| !r.get("archived").and_then(Value::as_bool).unwrap_or(false))
        .filter(|r| {
            groups.is_empty()
                || groups.iter().any(|g| {
                    g.get("filters")
                        .and_then(Value::as_array)
                        .is_some_and(|fs| fs.iter().all(|f| filter_matches(r, f)))
                })
        })
        .collect();
    if let Some(sort) = request.get("sorts").and_then(|s| s.get(0)) {
        let name = sort
            .get("propertyName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let desc = sort.get("direction").and_then(Value::as_str) == Some("DESCENDING");
        // Keys computed once per record: 10,000-record searches stay fast in debug builds.
        selected.sort_by_cached_key(|r| {
            let value = property(r, &name);
            (
                value.and_then(time),
                value.map(str::to_string),
                id_number(r),
            )
        });
        if desc {
            selected.reverse();
        }
    } else {
        selected.sort_by_key(|r| id_number(r));
    }
    let properties: Option<Vec<String>> =
        request
            .get("properties")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            });
    let total = selected.len();
    let start = (after as usize).min(total);
    let end = (start + limit).min(total);
    let results: Vec<Value> = selected[start..end]
        .iter()
        .map(|r| project(r, properties.as_deref()))
        .collect();
    let mut body = json!({"total": total, "results": results});
    if end < total {
        body["paging"] = json!({"next": {"after": end.to_string()}});
    }
    Json(body).into_response()
}
