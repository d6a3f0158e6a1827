//! Applying a connection's credentials to requests: none, API key, basic, OAuth2 (with
//! refresh), custom headers.
//!
//! Secrets live in [`Secret`]s, which cannot leak by accident: `Debug` says `***`, there
//! is no `Display` and no serde implementation (a test below fails to compile if one is
//! added), so a secret cannot reach a log line, an error message or a stored document
//! except through [`Secret::expose`], which is the one greppable way out. The memory is
//! wiped when a secret is dropped.
//!
//! Every auth also lists the secrets it sends ([`Auth::secrets`]), so that whatever an
//! upstream echoes back can be redacted (`crate::redact`, applied by
//! [`super::read_page`]).

use std::fmt;

use reqwest::RequestBuilder;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use super::ConnectorError;

/// A secret string: an API key, a password, a token, a client secret.
///
/// `Debug` prints `***`; there is deliberately no `Display`, `Serialize` or
/// `Deserialize`. Equality runs in constant time. The string is zeroed on drop.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret itself: only to put it on the wire, to encrypt it, or to build a
    /// redactor. Every use is a place a reviewer should read.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Fails to compile when `Secret` implements `Serialize`, `Deserialize` or `Display`.
///
/// The technique of `static_assertions::assert_not_impl_any!`: for a trait `T`, the
/// path `<Secret as Ambiguous<_>>::some_item` resolves only while exactly one impl of
/// `Ambiguous` applies; a second one (for types implementing `T`) makes it ambiguous.
const _: fn() = || {
    trait Ambiguous<A> {
        fn some_item() {}
    }
    impl<X: ?Sized> Ambiguous<()> for X {}
    struct Serializable;
    impl<X: ?Sized + serde::Serialize> Ambiguous<Serializable> for X {}
    struct Deserializable;
    impl<X: serde::de::DeserializeOwned> Ambiguous<Deserializable> for X {}
    struct Displayable;
    impl<X: ?Sized + fmt::Display> Ambiguous<Displayable> for X {}
    let _ = <Secret as Ambiguous<_>>::some_item;
};

/// A secret as an auth sends it, for the redactor.
#[derive(Clone, Debug)]
pub enum SentSecret {
    /// Sent as it is (a key, a token, a header value), perhaps after a prefix.
    Value(Secret),
    /// HTTP basic credentials: base64 of `user:password` (RFC 7617).
    Basic { user: String, password: Secret },
}

/// How requests are authenticated.
#[async_trait::async_trait]
pub trait Auth: Send + Sync {
    /// Adds the credentials to a request (fetching a first access token if needed).
    async fn apply(&self, request: RequestBuilder) -> Result<RequestBuilder, ConnectorError>;
    /// Every secret this auth has sent or may send: what must be redacted from anything
    /// an upstream says. OAuth2 lists its current and previous access tokens too, since a
    /// token refreshed mid-read may still be echoed in the answer to a request sent with
    /// the old one. Empty when the auth sends no credentials.
    fn secrets(&self) -> Vec<SentSecret>;
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
    fn secrets(&self) -> Vec<SentSecret> {
        Vec::new()
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
    fn secrets(&self) -> Vec<SentSecret> {
        vec![SentSecret::Value(self.key.clone())]
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
    fn secrets(&self) -> Vec<SentSecret> {
        vec![
            SentSecret::Value(self.password.clone()),
            SentSecret::Basic {
                user: self.username.clone(),
                password: self.password.clone(),
            },
        ]
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
    fn secrets(&self) -> Vec<SentSecret> {
        self.headers
            .iter()
            .map(|(_, value)| SentSecret::Value(value.clone()))
            .collect()
    }
}
