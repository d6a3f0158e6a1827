//! A mock of the feed and REST APIs the feeds connectors read: a Google News-like RSS
//! search, an Atom feed, a feed body the test sets, and a JSON REST API paging in each
//! style. It logs every request, fails on demand (5xx, 429 with `Retry-After`) and can
//! require an API key.
//!
//! `start(State::default())` binds 127.0.0.1:0 and returns the address and the shared
//! state, which tests change while the server runs.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, Request, State as Shared};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

/// What the mock serves and what it saw.
#[derive(Default)]
pub struct State {
    /// Every request, as `PATH?QUERY`, in order.
    pub requests: Mutex<Vec<String>>,
    /// Statuses to answer the next requests with, one each, before serving normally.
    pub failures: Mutex<VecDeque<u16>>,
    /// The REST API's records, each with `id` and `updatedAt`.
    pub records: Mutex<Vec<Value>>,
    /// The body of `/feeds/custom`.
    pub feed: Mutex<String>,
    /// When set, every request needs `Authorization: Bearer KEY`.
    pub api_key: Option<String>,
    /// Locations to redirect the next requests to (307), one each, before serving
    /// normally.
    pub redirects: Mutex<VecDeque<String>>,
    /// Replaces the REST pages' `next` link (`/api/next/...`) and adds a `Link: <URL>;
    /// rel="next"` to them, when set: a next page elsewhere.
    pub next_elsewhere: Mutex<Option<String>>,
    /// When set to N, every request after the first N waits for [`State::release`]
    /// (a run the test must catch in the middle), signalling [`State::held`] first.
    pub hold_after: Mutex<Option<usize>>,
    /// When set to (N, status), every request after the first N is answered `status`
    /// (until cleared): a run whose later pages fail, however far it fetched ahead.
    pub fail_after: Mutex<Option<(usize, u16)>>,
    /// Notified once for each request held.
    pub held: tokio::sync::Notify,
    /// A permit lets one held request through.
    pub release: Release,
}

/// Permits for held requests (none at first).
pub struct Release(tokio::sync::Semaphore);

impl Default for Release {
    fn default() -> Release {
        Release(tokio::sync::Semaphore::new(0))
    }
}

impl State {
    pub fn with_records(records: Vec<Value>) -> State {
        State {
            records: Mutex::new(records),
            ..State::default()
        }
    }
    pub fn fail_next(&self, statuses: &[u16]) {
        lock(&self.failures).extend(statuses.iter().copied());
    }
    pub fn requests(&self) -> Vec<String> {
        lock(&self.requests).clone()
    }
    pub fn set_feed(&self, body: &str) {
        *lock(&self.feed) = body.to_string();
    }
    pub fn redirect_next(&self, location: &str) {
        lock(&self.redirects).push_back(location.to_string());
    }
    pub fn set_next_elsewhere(&self, url: &str) {
        *lock(&self.next_elsewhere) = Some(url.to_string());
    }
    /// Holds every request after the first `n` until released.
    pub fn hold_after(&self, n: usize) {
        *lock(&self.hold_after) = Some(n);
    }
    /// Answers every request after the first `n` with `status`.
    pub fn fail_after(&self, n: usize, status: u16) {
        *lock(&self.fail_after) = Some((n, status));
    }
    /// Lets every held request, and every later one, through.
    pub fn release_all(&self) {
        *lock(&self.hold_after) = None;
        self.release
            .0
            .add_permits(tokio::sync::Semaphore::MAX_PERMITS / 2);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A test that panicked while holding the lock must not hide the other tests' results.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts the mock on 127.0.0.1:0. The server runs until the test's runtime ends.
pub async fn start(state: State) -> (SocketAddr, Arc<State>) {
    let state = Arc::new(state);
    let app = Router::new()
        .route("/rss", get(google_news))
        .route("/rss/search", get(google_news))
        .route("/feeds/atom", get(atom))
        .route("/feeds/custom", get(custom))
        .route("/api/cursor/{entity}", get(cursor_page))
        .route("/api/offset/{entity}", get(offset_page))
        .route("/api/page/{entity}", get(numbered_page))
        .route("/api/link/{entity}", get(link_page))
        .route("/api/next/{entity}", get(next_url_page))
        .route("/api/plain/{entity}", get(plain))
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("the mock binds a local port");
    let addr = listener.local_addr().expect("the mock has an address");
    tokio::spawn(async move {
        // The server lives as long as the test's runtime; an error ends it quietly.
        let _ = axum::serve(listener, app).await;
    });
    (addr, state)
}

/// Logs the request, then answers a queued failure or a missing key, or passes it on.
async fn gate(Shared(state): Shared<Arc<State>>, request: Request, next: Next) -> Response {
    let uri = request.uri();
    let line = match uri.query() {
        Some(q) => format!("{}?{q}", uri.path()),
        None => uri.path().to_string(),
    };
    let seen = {
        let mut requests = lock(&state.requests);
        requests.push(line);
        requests.len()
    };
    let hold = matches!(*lock(&state.hold_after), Some(n) if seen > n);
    if hold {
        state.held.notify_one();
        if let Ok(permit) = state.release.0.acquire().await {
            permit.forget();
        }
    }
    let redirect = lock(&state.redirects).pop_front();
    if let Some(location) = redirect {
        return (
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, location)],
        )
            .into_response();
    }
    let failing = match *lock(&state.fail_after) {
        Some((n, status)) if seen > n => Some(status),
        _ => None,
    };
    let failure = failing.or_else(|| lock(&state.failures).pop_front());
    if let Some(status) = failure {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, format!("mock failure {}", status.as_u16())).into_response();
        if status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("7"));
        }
        return response;
    }
    if let Some(key) = &state.api_key {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if given != Some(format!("Bearer {key}").as_str()) {
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": "invalid_token", "message": "missing or bad API key"})),
            )
                .into_response();
        }
    }
    next.run(request).await
}

fn xml(content_type: &'static str, body: String) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// A Google News search result, shaped as news.google.com writes it: CDATA HTML
/// descriptions, non-permalink guids, `<source url>` publishers, RFC 2822 dates.
pub const GOOGLE_NEWS_RSS: &str = r##"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><generator>NFE/5.0</generator><title>"QUERY" - Google News</title><link>https://news.google.com/search?q=QUERY&amp;hl=en-US&amp;gl=US&amp;ceid=US:en</link><language>en-US</language><webMaster>news-webmaster@google.com</webMaster><copyright>Copyright © 2024 Google. All rights reserved. This XML feed is made available solely for the purpose of rendering Google News results within a personal feed reader for personal, non-commercial use.</copyright><lastBuildDate>Mon, 03 Jun 2024 14:05:12 GMT</lastBuildDate><description>Google News</description><item><title>Banks brace for new capital rules - Reuters</title><link>https://news.google.com/rss/articles/CBMiWGh0dHBzOi8vd3d3LnJldXRlcnMuY29t?oc=5</link><guid isPermaLink="false">CBMiWGh0dHBzOi8vd3d3LnJldXRlcnMuY29t</guid><pubDate>Mon, 03 Jun 2024 13:00:00 GMT</pubDate><description><![CDATA[<a href="https://news.google.com/rss/articles/CBMiWGh0dHBzOi8vd3d3LnJldXRlcnMuY29t?oc=5" target="_blank">Banks brace for new capital rules</a>&nbsp;&nbsp;<font color="#6f6f6f">Reuters</font>]]></description><source url="https://www.reuters.com">Reuters</source></item><item><title>Regional lenders &amp; the deposit squeeze - Financial Times</title><link>https://news.google.com/rss/articles/CBMiTWh0dHBzOi8vd3d3LmZ0LmNvbQ?oc=5</link><guid isPermaLink="false">CBMiTWh0dHBzOi8vd3d3LmZ0LmNvbQ</guid><pubDate>Mon, 03 Jun 2024 09:30:00 GMT</pubDate><description><![CDATA[<a href="https://news.google.com/rss/articles/CBMiTWh0dHBzOi8vd3d3LmZ0LmNvbQ?oc=5" target="_blank">Regional lenders &amp; the deposit squeeze</a>&nbsp;&nbsp;<font color="#6f6f6f">Financial Times</font>]]></description><source url="https://www.ft.com">Financial Times</source><media:content url="https://i.example.com/ft.jpg" medium="image" width="800" height="450"/></item><item><title>Fintech partnerships reshape retail banking - Bloomberg</title><link>https://news.google.com/rss/articles/CBMiQmh0dHBzOi8vd3d3LmJsb29tYmVyZy5jb20?oc=5</link><guid isPermaLink="false">CBMiQmh0dHBzOi8vd3d3LmJsb29tYmVyZy5jb20</guid><pubDate>Sun, 02 Jun 2024 18:45:00 GMT</pubDate><description><![CDATA[<a href="https://news.google.com/rss/articles/CBMiQmh0dHBzOi8vd3d3LmJsb29tYmVyZy5jb20?oc=5" target="_blank">Fintech partnerships reshape retail banking</a>&nbsp;&nbsp;<font color="#6f6f6f">Bloomberg</font>]]></description><source url="https://www.bloomberg.com">Bloomberg</source></item></channel></rss>"##;

/// An Atom feed: namespaced media, categories, an entry with its own `source`, one
/// with only `updated`.
pub const ATOM_FEED: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:m="http://search.yahoo.com/mrss/">
  <title type="text">Automation Weekly</title>
  <link rel="self" href="https://automation.example.com/feed.atom"/>
  <link href="https://automation.example.com/"/>
  <id>urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6</id>
  <updated>2024-06-03T12:00:00Z</updated>
  <entry>
    <title>Cobots move into &lt;small&gt; factories</title>
    <link rel="alternate" type="text/html" href="https://automation.example.com/cobots"/>
    <link rel="enclosure" type="image/png" href="https://automation.example.com/cobots.png"/>
    <id>tag:automation.example.com,2024:cobots</id>
    <published>2024-06-03T08:00:00+02:00</published>
    <updated>2024-06-03T09:00:00+02:00</updated>
    <author><name>Ada Lovelace</name><email>ada@example.com</email></author>
    <category term="robotics"/>
    <category term="manufacturing"/>
    <summary type="html">&lt;p&gt;Collaborative robots&amp;hellip;&lt;/p&gt;</summary>
  </entry>
  <entry>
    <title>PLC vendors agree on an open runtime</title>
    <link href="https://automation.example.com/plc"/>
    <id>tag:automation.example.com,2024:plc</id>
    <updated>2024-05-30T16:20:00Z</updated>
    <content type="html"><![CDATA[<p>The <b>IEC 61499</b> runtime...</p>]]></content>
    <m:thumbnail url="https://automation.example.com/plc-thumb.jpg"/>
    <source>
      <title>Control Engineering</title>
      <link href="https://controleng.example.com/"/>
    </source>
  </entry>
</feed>
"#;

async fn google_news(Query(q): Query<HashMap<String, String>>) -> Response {
    let query = q.get("q").cloned().unwrap_or_default();
    let escaped = query.replace('&', "&amp;").replace('<', "&lt;");
    xml(
        "application/xml; charset=utf-8",
        GOOGLE_NEWS_RSS.replace("QUERY", &escaped),
    )
}

async fn atom() -> Response {
    xml("application/atom+xml", ATOM_FEED.to_string())
}

async fn custom(Shared(state): Shared<Arc<State>>) -> Response {
    xml("application/rss+xml", lock(&state.feed).clone())
}

/// The records newer than `updated_since` (inclusive), in id order.
fn selected(state: &State, q: &HashMap<String, String>) -> Vec<Value> {
    let records = lock(&state.records).clone();
    match q.get("updated_since") {
        Some(since) => records
            .into_iter()
            .filter(|r| r["updatedAt"].as_str().is_some_and(|u| u >= since.as_str()))
            .collect(),
        None => records,
    }
}

fn number(q: &HashMap<String, String>, key: &str, default: usize) -> usize {
    q.get(key).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn slice(records: &[Value], from: usize, limit: usize) -> Vec<Value> {
    records.iter().skip(from).take(limit).cloned().collect()
}

/// `{"data": [...], "meta": {"next_cursor": "c2"}}`: the cursor is the next index, opaque.
async fn cursor_page(
    Shared(state): Shared<Arc<State>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let records = selected(&state, &q);
    let limit = number(&q, "limit", 2);
    let from = match q.get("cursor") {
        None => 0,
        Some(c) => match c.strip_prefix('c').and_then(|n| n.parse().ok()) {
            Some(n) => n,
            None => {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"error": "bad cursor"})),
                )
                    .into_response()
            }
        },
    };
    let page = slice(&records, from, limit);
    let next = (from + limit < records.len()).then(|| format!("c{}", from + limit));
    Json(json!({"data": page, "meta": {"next_cursor": next}})).into_response()
}

/// `{"results": [...], "total": N}` from `offset` and `limit`.
async fn offset_page(
    Shared(state): Shared<Arc<State>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let records = selected(&state, &q);
    let page = slice(&records, number(&q, "offset", 0), number(&q, "limit", 2));
    Json(json!({"results": page, "total": records.len()})).into_response()
}

/// `{"items": [...], "total_pages": N}` by `page` (from 1) and `per_page`.
async fn numbered_page(
    Shared(state): Shared<Arc<State>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let records = selected(&state, &q);
    let per_page = number(&q, "per_page", 2).max(1);
    let page = number(&q, "page", 1).max(1);
    let total_pages = records.len().div_ceil(per_page);
    Json(json!({
        "items": slice(&records, (page - 1) * per_page, per_page),
        "total_pages": total_pages,
    }))
    .into_response()
}

/// A bare array, with `Link: <...?page=N>; rel="next"` (GitHub style, two links).
async fn link_page(
    Shared(state): Shared<Arc<State>>,
    Path(entity): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let records = selected(&state, &q);
    let page = number(&q, "page", 1).max(1);
    let items = slice(&records, (page - 1) * 2, 2);
    let mut headers = HeaderMap::new();
    let last = records.len().div_ceil(2).max(1);
    let mut links = vec![format!(
        "</api/link/{entity}?page={last}>; rel=\"last\"; title=\"last, page\""
    )];
    if let Some(elsewhere) = lock(&state.next_elsewhere).clone() {
        links.insert(0, format!("<{elsewhere}>; rel=\"next\""));
    } else if page * 2 < records.len() {
        links.insert(
            0,
            format!("</api/link/{entity}?page={}>; rel=\"next\"", page + 1),
        );
    }
    if let Ok(value) = links.join(", ").parse() {
        headers.insert(header::LINK, value);
    }
    (headers, Json(Value::Array(items))).into_response()
}

/// `{"data": {"items": [...]}, "links": {"next": "/api/next/E?page=N"}}`.
async fn next_url_page(
    Shared(state): Shared<Arc<State>>,
    Path(entity): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let records = selected(&state, &q);
    let page = number(&q, "page", 1).max(1);
    let next = match lock(&state.next_elsewhere).clone() {
        Some(elsewhere) => Some(elsewhere),
        None => (page * 2 < records.len()).then(|| format!("/api/next/{entity}?page={}", page + 1)),
    };
    Json(json!({
        "data": {"items": slice(&records, (page - 1) * 2, 2)},
        "links": {"next": next},
    }))
    .into_response()
}

/// Every record in one array, no paging.
async fn plain(
    Shared(state): Shared<Arc<State>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    Json(Value::Array(selected(&state, &q))).into_response()
}
