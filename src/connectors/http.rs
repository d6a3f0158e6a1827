//! Authenticated HTTP for connectors: auth applied to the connection's own origins only,
//! one refresh and retry on 401, bounded response bodies, and the default mapping of
//! failures to [`ConnectorError`]s.
//!
//! Connectors call [`Client::execute`] and get the response whatever its status, so they
//! can read API-specific error bodies first (Salesforce's `errorCode` array, HubSpot's
//! rate-limit policy) and fall back to [`classify`].
//!
//! **Credentials go only to the connection's own origins** (scheme, host and port): the
//! origins its connector names from the settings ([`super::Connector::origins`]: the
//! `baseUrl`, the `instanceUrl`) and the instance URL the OAuth2 token response gave;
//! an `http` origin also admits its `https` upgrade on the same host. A request for any
//! other origin (a next-page URL or a `Link` pointing elsewhere) is refused with a
//! `Permanent` error and a warning in the log, when the connection has credentials;
//! without credentials it is sent as it is. Redirects follow the same rule: a redirect
//! to another origin is not followed when the connection has credentials (reqwest would
//! drop `Authorization` but keep an `X-Api-Key` or a custom header), and the read fails
//! saying where it was sent.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use super::auth::Auth;
use super::ConnectorError;

/// The largest response body a connector reads by default (64 MiB): a Salesforce batch
/// of 2,000 wide records is a few megabytes, a feed far less.
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// The most redirects followed for one request.
const MAX_REDIRECTS: usize = 10;

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

/// Where a connection's credentials may go: its origins, and the instance URL its auth
/// learnt. Shared by the client and its redirect policy.
struct Scope {
    origins: Vec<url::Origin>,
    auth: Arc<dyn Auth>,
}

impl Scope {
    /// Whether the connection has credentials to protect.
    fn has_credentials(&self) -> bool {
        !self.auth.secrets().is_empty()
    }

    /// Whether credentials may be sent to `url`.
    fn allows(&self, url: &url::Url) -> bool {
        let instance = self
            .auth
            .instance_url()
            .and_then(|u| url::Url::parse(&u).ok())
            .map(|u| u.origin());
        let target = url.origin();
        self.origins
            .iter()
            .chain(instance.as_ref())
            .any(|allowed| *allowed == target || is_https_upgrade(allowed, url))
    }

    /// The allowed origins, for messages.
    fn describe(&self) -> String {
        let mut all: Vec<String> = self
            .origins
            .iter()
            .map(url::Origin::ascii_serialization)
            .collect();
        if let Some(instance) = self.auth.instance_url() {
            all.push(instance);
        }
        if all.is_empty() {
            "none: the connection's settings name no API base URL".to_string()
        } else {
            all.join(", ")
        }
    }
}

/// `https://host` (port 443) when `http://host` (port 80) is allowed.
fn is_https_upgrade(allowed: &url::Origin, url: &url::Url) -> bool {
    let url::Origin::Tuple(scheme, host, port) = allowed else {
        return false;
    };
    scheme == "http"
        && *port == 80
        && url.scheme() == "https"
        && url.port_or_known_default() == Some(443)
        && url.host().map(|h| h.to_owned()).as_ref() == Some(host)
}

/// `scheme://host:port` of a URL: never its path or query, which may carry a key.
fn origin_of(url: &url::Url) -> String {
    url.origin().ascii_serialization()
}

/// An HTTP client with its connection's auth.
pub struct Client {
    pub inner: reqwest::Client,
    pub auth: Arc<dyn Auth>,
    /// The largest response body read, in bytes; a larger one fails the request
    /// (`Permanent`). [`MAX_BODY`] unless changed.
    pub max_body: usize,
    scope: Arc<Scope>,
}

impl Client {
    /// `origins`: the URLs whose origins may receive the credentials (the connection's
    /// API base, [`super::Connector::origins`]); the OAuth2 instance URL is added as it
    /// becomes known. `timeout` bounds each request, connect and body included.
    pub fn new(
        auth: Arc<dyn Auth>,
        origins: Vec<url::Url>,
        timeout: Duration,
    ) -> Result<Client, ConnectorError> {
        let scope = Arc::new(Scope {
            origins: origins.iter().map(url::Url::origin).collect(),
            auth: auth.clone(),
        });
        let policy_scope = scope.clone();
        // Redirects within the connection's origins are followed; one elsewhere is not
        // when there are credentials to protect: `execute` reports it.
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else if policy_scope.allows(attempt.url()) || !policy_scope.has_credentials() {
                attempt.follow()
            } else {
                attempt.stop()
            }
        });
        let inner = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(policy)
            // A `Referer` would carry the previous URL (its query too) to the next host.
            .referer(false)
            .user_agent(concat!("cmap/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConnectorError::Permanent {
                message: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(Client {
            inner,
            auth,
            max_body: MAX_BODY,
            scope,
        })
    }

    /// Sends the request `build` makes, with auth when its URL is one of the
    /// connection's origins. On 401 the auth refreshes (once, single-flight) and the
    /// request is sent again. Transport failures are `Transient`; a request or redirect
    /// to another origin with credentials, and a body over [`Client::max_body`], are
    /// `Permanent`; any status comes back as a [`Response`].
    pub async fn execute(
        &self,
        build: &(dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync),
    ) -> Result<Response, ConnectorError> {
        let mut refreshed = false;
        loop {
            let generation = self.auth.generation();
            let request = build(&self.inner).build().map_err(transport)?;
            let url = request.url().clone();
            let request = reqwest::RequestBuilder::from_parts(self.inner.clone(), request);
            let request = if self.scope.allows(&url) {
                self.auth.apply(request).await?
            } else if self.scope.has_credentials() {
                return Err(self.refuse(&url, "the request"));
            } else {
                request
            };
            let response = request.send().await.map_err(transport)?;
            let status = response.status();
            if status.is_redirection() && self.scope.has_credentials() {
                // The policy stops only at a redirect to another origin.
                if let Some(target) = location(&response) {
                    if !self.scope.allows(&target) {
                        return Err(self.refuse(&target, "a redirect"));
                    }
                }
            }
            let headers = response.headers().clone();
            let body = read_body(response, self.max_body)
                .await
                .map_err(|e| match e {
                    BodyError::Transport(e) => transport(e),
                    too_large @ BodyError::TooLarge { .. } => ConnectorError::Permanent {
                        message: format!(
                            "the response of {} {too_large}: ask for smaller pages",
                            origin_of(&url)
                        ),
                    },
                })?;
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

    /// The error (and warning) for `what` pointing at a foreign origin.
    fn refuse(&self, url: &url::Url, what: &str) -> ConnectorError {
        // The target comes from the upstream's words (a next link, a `Location`), and
        // this line goes to the log directly: mask the connection's secrets in it.
        let target = super::redactor_of(&*self.auth)
            .text(&origin_of(url))
            .into_owned();
        let allowed = self.scope.describe();
        tracing::warn!(
            target = %target,
            allowed = %allowed,
            "refused to send the connection's credentials to another origin"
        );
        ConnectorError::Permanent {
            message: format!(
                "{what} goes to {target}, which is not the connection's own origin \
                 ({allowed}): refused, so that its credentials are not sent there"
            ),
        }
    }
}

/// The `Location` of a redirect, resolved against the response's URL.
fn location(response: &reqwest::Response) -> Option<url::Url> {
    let value = response
        .headers()
        .get(reqwest::header::LOCATION)?
        .to_str()
        .ok()?;
    response.url().join(value.trim()).ok()
}

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("is larger than {limit} bytes, the most a connector reads")]
    TooLarge { limit: usize },
    #[error(transparent)]
    Transport(reqwest::Error),
}

/// Reads a response body, refusing more than `limit` bytes (before reading when the
/// `Content-Length` says so, else as soon as the chunks pass it).
pub async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<bytes::Bytes, BodyError> {
    if response
        .content_length()
        .is_some_and(|n| usize::try_from(n).map_or(true, |n| n > limit))
    {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if chunk.len() > limit.saturating_sub(body.len()) {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
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
