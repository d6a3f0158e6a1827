//! A scripted API on 127.0.0.1: every request, whatever its method and path, gets the
//! next answer of a queue the test sets (then a fallback answer), so property tests can
//! serve any page, well-formed or not, to any connector.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Router;

/// One scripted answer.
#[derive(Clone, Debug, Default)]
pub struct Answer {
    pub status: u16,
    /// Headers as given; a name or value HTTP cannot carry is left out.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn ok(body: impl Into<Vec<u8>>) -> Answer {
        Answer {
            status: 200,
            headers: Vec::new(),
            body: body.into(),
        }
    }
}

#[derive(Default)]
pub struct Script {
    queue: Mutex<VecDeque<Answer>>,
    fallback: Mutex<Answer>,
    /// Every request as `METHOD PATH?QUERY`, in order.
    requests: Mutex<Vec<String>>,
}

impl Script {
    /// The answers to the next requests, then `fallback` for every later one.
    pub fn set(&self, answers: Vec<Answer>, fallback: Answer) {
        *lock(&self.queue) = answers.into();
        *lock(&self.fallback) = fallback;
        lock(&self.requests).clear();
    }
    pub fn requests(&self) -> Vec<String> {
        lock(&self.requests).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts the server; it runs until the runtime ends. Returns its base URL.
pub async fn start() -> (String, Arc<Script>) {
    let script = Arc::new(Script::default());
    let app = Router::new().fallback(answer).with_state(script.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr: SocketAddr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), script)
}

async fn answer(State(script): State<Arc<Script>>, request: Request) -> Response {
    lock(&script.requests).push(format!(
        "{} {}",
        request.method(),
        request.uri().path_and_query().map_or("/", |p| p.as_str())
    ));
    let next = lock(&script.queue).pop_front();
    let answer = next.unwrap_or_else(|| lock(&script.fallback).clone());
    // Built bare: no default `Content-Type`, only the scripted headers.
    let mut response = Response::new(axum::body::Body::from(answer.body));
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    for (name, value) in &answer.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}
