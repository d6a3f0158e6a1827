//! Authenticated HTTP for connectors: auth applied to every request, one refresh and
//! retry on 401, and the default mapping of failures to [`ConnectorError`]s.
//!
//! Connectors call [`Client::execute`] and get the response whatever its status, so they
//! can read API-specific error bodies first (Salesforce's `errorCode` array, HubSpot's
//! rate-limit policy) and fall back to [`classify`].

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use super::auth::Auth;
use super::ConnectorError;

/// A response, body read.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl Response {
    pub fn json(&self) -> Result<serde_json::Value, ConnectorError> {
        serde_json::from_slice(&self.body).map_err(|e| ConnectorError::Permanent {
            message: format!("the response is not JSON ({e}): {}", snippet(&self.body)),
        })
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// An HTTP client with its connection's auth.
pub struct Client {
    pub inner: reqwest::Client,
    pub auth: Arc<dyn Auth>,
}

impl Client {
    /// `timeout` bounds each request, connect included.
    pub fn new(auth: Arc<dyn Auth>, timeout: Duration) -> Result<Client, ConnectorError> {
        let inner = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("cmap/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConnectorError::Permanent {
                message: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(Client { inner, auth })
    }

    /// Sends the request `build` makes, with auth. On 401 the auth refreshes (once,
    /// single-flight) and the request is sent again. Transport failures are `Transient`;
    /// any status comes back as a [`Response`].
    pub async fn execute(
        &self,
        build: &(dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync),
    ) -> Result<Response, ConnectorError> {
        let mut refreshed = false;
        loop {
            let generation = self.auth.generation();
            let request = self.auth.apply(build(&self.inner)).await?;
            let response = request.send().await.map_err(transport)?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await.map_err(transport)?;
            let response = Response {
                status,
                headers,
                body,
            };
            if status == StatusCode::UNAUTHORIZED
                && !refreshed
                && self.auth.refresh(generation).await?
            {
                refreshed = true;
                continue;
            }
            return Ok(response);
        }
    }
}

/// The default reading of a status: success passes; 429 is `RateLimited` (with
/// `Retry-After`); 5xx, 408 are `Transient`; 401/403 are `Auth`; other 4xx `Permanent`.
pub fn classify(response: &Response) -> Result<(), ConnectorError> {
    let status = response.status;
    if status.is_success() {
        return Ok(());
    }
    let message = format!("HTTP {status}: {}", snippet(&response.body));
    Err(match status.as_u16() {
        429 => ConnectorError::RateLimited {
            message,
            retry_after: retry_after(&response.headers),
        },
        408 | 500..=599 => ConnectorError::Transient { message },
        401 | 403 => ConnectorError::Auth { message },
        _ => ConnectorError::Permanent { message },
    })
}

/// `Retry-After` as seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // An HTTP date in any of RFC 9110's three forms, by the one date reader.
    let when = crate::date::parse(value).ok()?;
    let wait = when
        .signed_duration_since(chrono::Utc::now())
        .to_std()
        .unwrap_or(Duration::ZERO);
    Some(wait)
}

fn transport(e: reqwest::Error) -> ConnectorError {
    // Name the host, never the URL: its query may carry a key. reqwest's Display
    // includes the URL, so strip it; the causes (DNS, refused, TLS) say what happened.
    let host = e.url().and_then(|u| {
        u.host_str().map(|h| match u.port() {
            Some(p) => format!("{h}:{p}"),
            None => h.to_string(),
        })
    });
    let timeout = e.is_timeout();
    let connect = e.is_connect() || e.is_request() || e.is_body();
    let e = e.without_url();
    let mut detail = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        detail.push_str(": ");
        detail.push_str(&c.to_string());
        cause = c.source();
    }
    let to = host.map(|h| format!(" to {h}")).unwrap_or_default();
    if timeout {
        ConnectorError::Transient {
            message: format!("the request{to} timed out: {detail}"),
        }
    } else if connect {
        ConnectorError::Transient {
            message: format!("the connection{to} failed: {detail}"),
        }
    } else {
        ConnectorError::Permanent {
            message: format!("the request{to} failed: {detail}"),
        }
    }
}

/// The start of a body, for messages.
pub fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.chars().count() > 300 {
        format!("{}...", text.chars().take(300).collect::<String>())
    } else {
        text.to_string()
    }
}
