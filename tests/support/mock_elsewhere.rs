//! Another origin: a server on 127.0.0.1 (its own port, so another origin than every
//! other mock) that records what reaches it and answers an empty page of every shape
//! the connectors read. Credentials must never arrive here.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Router;

/// One request that reached the other origin.
#[derive(Clone, Debug)]
pub struct Seen {
    /// `METHOD PATH?QUERY`.
    pub line: String,
    /// Every header, as `name: value`.
    pub headers: Vec<String>,
}

#[derive(Default)]
pub struct Elsewhere {
    seen: Mutex<Vec<Seen>>,
}

impl Elsewhere {
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Starts the server; it runs until the test's runtime ends.
pub async fn start() -> (String, Arc<Elsewhere>) {
    let state = Arc::new(Elsewhere::default());
    let app = Router::new().fallback(answer).with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr: SocketAddr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), state)
}

async fn answer(State(state): State<Arc<Elsewhere>>, request: Request) -> Response {
    let line = format!(
        "{} {}",
        request.method(),
        request.uri().path_and_query().map_or("/", |p| p.as_str())
    );
    let headers = request
        .headers()
        .iter()
        .map(|(k, v)| format!("{k}: {}", String::from_utf8_lossy(v.as_bytes())))
        .collect();
    state
        .seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Seen { line, headers });
    if request.uri().path().contains("feed") {
        return (
            [(header::CONTENT_TYPE, "application/rss+xml")],
            "<rss><channel><title>elsewhere</title></channel></rss>",
        )
            .into_response();
    }
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"totalSize":0,"done":true,"records":[],"results":[],"data":[]}"#,
    )
        .into_response()
}
