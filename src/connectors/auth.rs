//! Applying a connection's credentials to requests: none, API key, basic, OAuth2 (with
//! refresh), custom headers.
//!
//! Secrets live in [`Secret`]s, which never print their content: not in `Debug`, not in
//! `Display`, so not in a log line or an error message.

use std::fmt;

use reqwest::RequestBuilder;

use super::ConnectorError;

/// A secret string. Its `Debug` and `Display` say `***`.
#[derive(Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret itself: only to put it on the wire or to encrypt it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How requests are authenticated.
#[async_trait::async_trait]
pub trait Auth: Send + Sync {
    /// Adds the credentials to a request (fetching a first access token if needed).
    async fn apply(&self, request: RequestBuilder) -> Result<RequestBuilder, ConnectorError>;
    /// A counter that changes whenever the credentials change, so that of several
    /// requests rejected with the same token, one refreshes and the others reuse it.
    fn generation(&self) -> u64 {
        0
    }
    /// The server rejected credentials of `generation`. Refreshes them if possible
    /// (single-flight) and says whether the request is worth sending again.
    async fn refresh(&self, generation: u64) -> Result<bool, ConnectorError> {
        let _ = generation;
        Ok(false)
    }
    /// The API base learnt from the token response (Salesforce's `instance_url`).
    fn instance_url(&self) -> Option<String> {
        None
    }
}

/// No credentials (public feeds, files).
pub struct NoAuth;

#[async_trait::async_trait]
impl Auth for NoAuth {
    async fn apply(&self, request: RequestBuilder) -> Result<RequestBuilder, ConnectorError> {
        Ok(request)
    }
}

/// An API key in a header: `Authorization: Bearer KEY` by default, or a named header
/// (`X-Api-Key: KEY`) with an optional prefix.
pub struct ApiKey {
    pub header: String,
    pub prefix: String,
    pub key: Secret,
}

#[async_trait::async_trait]
impl Auth for ApiKey {
    async fn apply(&self, request: RequestBuilder) -> Result<RequestBuilder, ConnectorError> {
        Ok(request.header(
            self.header.as_str(),
            format!("{}{}", self.prefix, self.key.expose()),
        ))
    }
}

/// HTTP basic auth.
pub struct Basic {
    pub username: String,
    pub password: Secret,
}

#[async_trait::async_trait]
impl Auth for Basic {
    async fn apply(&self, request: RequestBuilder) -> Result<RequestBuilder, ConnectorError> {
        Ok(request.basic_auth(&self.username, Some(self.password.expose())))
    }
}

/// Custom headers, each a secret.
pub struct Headers {
    pub headers: Vec<(String, Secret)>,
}

#[async_trait::async_trait]
impl Auth for Headers {
    async fn apply(&self, mut request: RequestBuilder) -> Result<RequestBuilder, ConnectorError> {
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.expose());
        }
        Ok(request)
    }
}
