//! OAuth2 auth: a refresh-token grant (through the `oauth2` crate) kept fresh before it
//! expires and on 401, single-flight per connection, with rotated refresh tokens
//! persisted before they are used.
//!
//! Salesforce's token response has no `expires_in` and carries `instance_url` (plus
//! `issued_at`, `signature`, `id`): a token without an expiry is used until the API
//! rejects it (or for [`OAuth2Config::default_lifetime`] when set), and the instance URL
//! is exposed through [`Auth::instance_url`].

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AsyncHttpClient, ClientId, ClientSecret, EndpointNotSet, EndpointSet, HttpClientError,
    RefreshToken, RequestTokenError, StandardRevocableToken, StandardTokenResponse, TokenResponse,
    TokenUrl,
};
use reqwest::RequestBuilder;

use super::auth::{Auth, Secret, SentSecret};
use super::ConnectorError;

/// What a refresh produced, handed to the persist callback before it is used.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenUpdate {
    pub access_token: Secret,
    /// The new refresh token when the server rotated it; `None`: the stored one stays valid.
    pub refresh_token: Option<Secret>,
    /// `None`: the server gave no lifetime (Salesforce); the token lasts until rejected.
    pub expires_at: Option<DateTime<Utc>>,
    pub instance_url: Option<String>,
    /// `bearer` (as the server spelt it, lower-cased by the oauth2 crate).
    pub token_type: String,
    pub scope: Option<Vec<String>>,
}

/// Saves a [`TokenUpdate`] (encrypted, in the store). An `Err` is a message without secrets.
/// Called on a blocking thread (it may fsync), before the new token is used.
pub type Persist = Arc<dyn Fn(TokenUpdate) -> Result<(), String> + Send + Sync>;

/// The wall clock, injectable so that tests drive expiry without waiting.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// How the client authenticates to the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_id` and `client_secret` in the form body (Salesforce and HubSpot accept it).
    RequestBody,
    /// HTTP basic auth with the client id and secret.
    Basic,
}

/// Everything an [`OAuth2`] needs.
#[derive(Clone)]
pub struct OAuth2Config {
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub token_url: String,
    pub refresh_token: Option<Secret>,
    /// A stored access token to start with (else one is fetched on first use).
    pub access_token: Option<Secret>,
    pub expires_at: Option<DateTime<Utc>>,
    pub instance_url: Option<String>,
    pub client_auth: ClientAuth,
    /// Refresh this long before the expiry, so a request never leaves with a token that
    /// dies in flight.
    pub refresh_margin: Duration,
    /// The lifetime assumed when the token response has no `expires_in`; `None`: use the
    /// token until the API answers 401.
    pub default_lifetime: Option<Duration>,
    /// Bounds each call to the token endpoint.
    pub timeout: Duration,
    pub clock: Clock,
}

impl OAuth2Config {
    /// Defaults: body client auth, 60 s margin, no assumed lifetime, 30 s timeout.
    pub fn new(client_id: impl Into<String>, token_url: impl Into<String>) -> OAuth2Config {
        OAuth2Config {
            client_id: client_id.into(),
            client_secret: None,
            token_url: token_url.into(),
            refresh_token: None,
            access_token: None,
            expires_at: None,
            instance_url: None,
            client_auth: ClientAuth::RequestBody,
            refresh_margin: Duration::from_secs(60),
            default_lifetime: None,
            timeout: Duration::from_secs(30),
            clock: Arc::new(Utc::now),
        }
    }

    /// Reads the credential fields of an oauth2 connection (`clientId`, `clientSecret`,
    /// `tokenUrl`, `refreshToken`, `accessToken`, `expiresAt` (RFC 3339), `instanceUrl`,
    /// `clientAuth` (`body` | `basic`)), values already resolved. Unknown fields are
    /// ignored (`authorizationUrl`, `scopes`, `redirectUri` belong to the connect flow).
    pub fn from_credentials(fields: &[(String, Secret)]) -> Result<OAuth2Config, ConnectorError> {
        let get = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let missing = |name: &str| ConnectorError::Auth {
            message: format!("the oauth2 connection has no `{name}`"),
        };
        let client_id = get("clientId").ok_or_else(|| missing("clientId"))?;
        let token_url = get("tokenUrl").ok_or_else(|| missing("tokenUrl"))?;
        let mut config = OAuth2Config::new(client_id.expose(), token_url.expose());
        config.client_secret = get("clientSecret");
        config.refresh_token = get("refreshToken");
        config.access_token = get("accessToken");
        if config.refresh_token.is_none() && config.access_token.is_none() {
            return Err(missing("refreshToken"));
        }
        if let Some(at) = get("expiresAt") {
            // The one date reader; its error names the form, never the value.
            let at = crate::date::parse(at.expose()).map_err(|e| ConnectorError::Permanent {
                message: format!("the oauth2 `expiresAt` is not a date: {e}"),
            })?;
            config.expires_at = Some(at);
        }
        config.instance_url = get("instanceUrl").map(|s| s.expose().to_string());
        config.client_auth = match get("clientAuth").as_ref().map(Secret::expose) {
            None | Some("body") => ClientAuth::RequestBody,
            Some("basic") => ClientAuth::Basic,
            Some(other) => {
                return Err(ConnectorError::Permanent {
                    message: format!("unknown oauth2 `clientAuth` `{other}` (body or basic)"),
                })
            }
        };
        Ok(config)
    }
}

/// The extra fields of a token response: Salesforce's `instance_url`, `issued_at`,
/// `signature`, `id`. Absent elsewhere.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct ExtraFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl oauth2::ExtraTokenFields for ExtraFields {}

pub(crate) type TokenResponseWithExtras = StandardTokenResponse<ExtraFields, BasicTokenType>;

type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    TokenResponseWithExtras,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// The HTTP client for the token endpoint: redirects off (the oauth2 crate's advice, so a
/// redirect cannot carry the refresh token elsewhere), the answer bounded to
/// [`MAX_TOKEN_RESPONSE`] bytes.
///
/// The oauth2 crate reads every non-200 answer as an error response or a parse failure,
/// losing the status; this client turns 5xx and 429 into transport errors first, so they
/// stay retryable. It also reads `expires_in` leniently (see [`normalise_expires_in`])
/// before the crate's strict parser sees it. The connect flow (`engine::connect`)
/// exchanges its codes through it too.
pub(crate) struct TokenHttp(pub(crate) reqwest::Client);

/// The largest token response read. Real ones are a few hundred bytes to a few
/// kilobytes (an `id_token` included).
pub const MAX_TOKEN_RESPONSE: usize = 1024 * 1024;

impl<'c> AsyncHttpClient<'c> for TokenHttp {
    type Error = HttpClientError<reqwest::Error>;
    type Future =
        Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, Self::Error>> + Send + Sync + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = reqwest::Request::try_from(request).map_err(Box::new)?;
            let response = self.0.execute(request).await.map_err(Box::new)?;
            let status = response.status();
            if status.is_server_error() || status.as_u16() == 429 {
                return Err(HttpClientError::Other(format!(
                    "the token endpoint answered HTTP {status}"
                )));
            }
            let mut builder = oauth2::http::Response::builder().status(status);
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let body = super::http::read_body(response, MAX_TOKEN_RESPONSE)
                .await
                .map_err(|e| HttpClientError::Other(format!("the token endpoint's answer {e}")))?;
            let body = if status.is_success() {
                normalise_expires_in(&body).unwrap_or_else(|| body.to_vec())
            } else {
                body.to_vec()
            };
            builder.body(body).map_err(HttpClientError::Http)
        })
    }
}

/// A token response with `expires_in` made a whole number of seconds, or `None` to keep
/// the body as it is (not a JSON object, or nothing to change).
///
/// RFC 6749 section 5.1 says a number of seconds, but endpoints send strings (Azure AD
/// v1: `"3599"`) and fractions. A string or a fraction is read as its whole seconds; a
/// negative, non-finite or non-numeric value is dropped with a warning, and the token is
/// then used until the API refuses it, as one without `expires_in`.
fn normalise_expires_in(body: &[u8]) -> Option<Vec<u8>> {
    let mut value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let object = value.as_object_mut()?;
    let given = object.get("expires_in")?;
    let seconds = match given {
        serde_json::Value::Null => return None,
        serde_json::Value::Number(n) if n.is_u64() => return None,
        serde_json::Value::Number(n) => whole_seconds(n.as_f64()),
        serde_json::Value::String(s) => {
            let s = s.trim();
            s.parse::<u64>()
                .ok()
                .or_else(|| whole_seconds(s.parse::<f64>().ok()))
        }
        _ => None,
    };
    match seconds {
        Some(seconds) => {
            object.insert("expires_in".into(), serde_json::Value::from(seconds));
        }
        None => {
            tracing::warn!(
                "the token endpoint's `expires_in` is not a number of seconds; the token is \
                 used until the API refuses it"
            );
            object.remove("expires_in");
        }
    }
    serde_json::to_vec(&value).ok()
}

/// The whole seconds of a non-negative finite number within `u64`.
fn whole_seconds(n: Option<f64>) -> Option<u64> {
    let n = n?.floor();
    // 2^64 as f64: any whole float in [0, 2^64) converts exactly (`as` saturates and
    // maps NaN to 0 in any case, so it cannot go wrong, only the range check matters).
    (0.0..18_446_744_073_709_551_616.0)
        .contains(&n)
        .then_some(n as u64)
}

/// The token in use. Guarded by the tokio mutex in [`OAuth2`], which is held across a
/// refresh: that is what makes refreshes single-flight.
struct TokenState {
    access: Option<Secret>,
    refresh: Option<Secret>,
    expires_at: Option<DateTime<Utc>>,
}

/// OAuth2 bearer auth with refresh.
pub struct OAuth2 {
    client: OAuthClient,
    http: TokenHttp,
    state: tokio::sync::Mutex<TokenState>,
    /// Bumped (under `state`'s lock) each time the access token changes.
    generation: AtomicU64,
    /// Read synchronously by connectors; written under `state`'s lock.
    instance_url: RwLock<Option<String>>,
    refresh_margin: chrono::Duration,
    default_lifetime: Option<chrono::Duration>,
    clock: Clock,
    persist: Option<Persist>,
    /// Values scrubbed from any message built from a server's words.
    client_secret: Option<Secret>,
    client_id: String,
    client_auth: ClientAuth,
    /// Every refresh and access token this auth has held, newest last, at most
    /// [`MAX_REMEMBERED_TOKENS`]: what a server may still echo back (a token refreshed
    /// mid-read may be quoted in the answer to a request sent with the old one).
    seen: std::sync::Mutex<std::collections::VecDeque<Secret>>,
}

/// How many past tokens [`Auth::secrets`] keeps listing.
const MAX_REMEMBERED_TOKENS: usize = 16;

impl OAuth2 {
    pub fn new(config: OAuth2Config, persist: Option<Persist>) -> Result<OAuth2, ConnectorError> {
        let token_url =
            TokenUrl::new(config.token_url.clone()).map_err(|e| ConnectorError::Permanent {
                message: format!(
                    "the oauth2 tokenUrl `{}` is not a URL: {e}",
                    config.token_url
                ),
            })?;
        let mut client = oauth2::Client::new(ClientId::new(config.client_id.clone()))
            .set_token_uri(token_url)
            .set_auth_type(match config.client_auth {
                ClientAuth::RequestBody => oauth2::AuthType::RequestBody,
                ClientAuth::Basic => oauth2::AuthType::BasicAuth,
            });
        if let Some(secret) = &config.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.expose().to_string()));
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .user_agent(concat!("cmap/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConnectorError::Permanent {
                message: format!("cannot build the HTTP client: {e}"),
            })?;
        let lifetime = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        let seen = [&config.refresh_token, &config.access_token]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        Ok(OAuth2 {
            client,
            http: TokenHttp(http),
            state: tokio::sync::Mutex::new(TokenState {
                access: config.access_token,
                refresh: config.refresh_token,
                expires_at: config.expires_at,
            }),
            generation: AtomicU64::new(0),
            instance_url: RwLock::new(config.instance_url),
            refresh_margin: lifetime(config.refresh_margin),
            default_lifetime: config.default_lifetime.map(lifetime),
            clock: config.clock,
            persist,
            client_secret: config.client_secret,
            client_id: config.client_id,
            client_auth: config.client_auth,
            seen: std::sync::Mutex::new(seen),
        })
    }

    /// Runs the refresh-token grant and installs the result. Called with `state` locked,
    /// so no other refresh of this connection runs meanwhile.
    async fn refresh_locked(&self, state: &mut TokenState) -> Result<(), ConnectorError> {
        let Some(refresh) = state.refresh.clone() else {
            return Err(ConnectorError::Auth {
                message: "the access token was rejected or expired and the connection has no \
                          refresh token; connect it again"
                    .to_string(),
            });
        };
        let grant = RefreshToken::new(refresh.expose().to_string());
        let response = self
            .client
            .exchange_refresh_token(&grant)
            .request_async(&self.http)
            .await
            .map_err(|e| self.token_error(e, &refresh))?;

        let now = (self.clock)();
        // A lifetime past the end of time (`expires_in` of u64::MAX seconds) is no
        // expiry: the token is used until refused.
        let expires_at = match response.expires_in() {
            Some(d) => chrono::Duration::from_std(d)
                .ok()
                .and_then(|d| now.checked_add_signed(d)),
            None => self
                .default_lifetime
                .and_then(|d| now.checked_add_signed(d)),
        };
        let rotated = response
            .refresh_token()
            .map(|t| Secret::new(t.secret().clone()))
            .filter(|t| *t != refresh);
        let update = TokenUpdate {
            access_token: Secret::new(response.access_token().secret().clone()),
            refresh_token: rotated,
            expires_at,
            instance_url: response.extra_fields().instance_url.clone(),
            token_type: response.token_type().as_ref().to_string(),
            scope: response
                .scopes()
                .map(|s| s.iter().map(|s| s.to_string()).collect()),
        };

        // Persist BEFORE use: a rotated refresh token usually invalidates the old one, so
        // using a new token that was never saved would lock the connection out after a
        // crash. If saving a rotated token fails, nothing of the update is used.
        if let Some(persist) = &self.persist {
            // Saving encrypts and fsyncs: on a blocking thread, so the async workers keep
            // serving (the refresh lock is held meanwhile: nothing uses the new token yet).
            let saved = {
                let (persist, update) = (persist.clone(), update.clone());
                match tokio::task::spawn_blocking(move || persist(update)).await {
                    Ok(saved) => saved,
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(e) => Err(format!("saving the token was interrupted: {e}")),
                }
            };
            if let Err(e) = saved {
                if update.refresh_token.is_some() {
                    return Err(ConnectorError::Permanent {
                        message: format!(
                            "the token endpoint rotated the refresh token but it could not be \
                             saved, so it is not used: {e}"
                        ),
                    });
                }
                // Only the access token is lost: the next run refreshes again.
                tracing::warn!(error = %e, "the refreshed access token could not be saved");
            }
        }

        self.remember(&update.access_token);
        if let Some(rotated) = &update.refresh_token {
            self.remember(rotated);
        }
        state.access = Some(update.access_token);
        if let Some(rotated) = update.refresh_token {
            state.refresh = Some(rotated);
        }
        state.expires_at = update.expires_at;
        if let Some(url) = update.instance_url {
            if let Ok(mut slot) = self.instance_url.write() {
                *slot = Some(url);
            }
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
        tracing::debug!(expires_at = ?update.expires_at, "oauth2 access token refreshed");
        Ok(())
    }

    fn token_error(
        &self,
        e: RequestTokenError<HttpClientError<reqwest::Error>, BasicErrorResponse>,
        refresh: &Secret,
    ) -> ConnectorError {
        match e {
            RequestTokenError::ServerResponse(response) => {
                let mut message = format!(
                    "the token endpoint refused the refresh token ({})",
                    response.error().as_ref()
                );
                if let Some(description) = response.error_description() {
                    message.push_str(": ");
                    message.push_str(description);
                }
                ConnectorError::Auth {
                    message: self.scrub(message, refresh),
                }
            }
            RequestTokenError::Request(HttpClientError::Other(message)) => {
                ConnectorError::Transient { message }
            }
            RequestTokenError::Request(HttpClientError::Reqwest(e)) => ConnectorError::Transient {
                message: format!("cannot reach the token endpoint: {}", e.without_url()),
            },
            RequestTokenError::Request(e) => ConnectorError::Transient {
                message: format!("cannot reach the token endpoint: {e}"),
            },
            // The body may hold a token: name only where it went wrong.
            RequestTokenError::Parse(e, _) => ConnectorError::Permanent {
                message: format!(
                    "the token endpoint's answer is not a token response (at `{}`)",
                    e.path()
                ),
            },
            RequestTokenError::Other(message) => ConnectorError::Permanent {
                message: format!("the token endpoint's answer is unusable: {message}"),
            },
        }
    }

    /// Adds a token to the ones [`Auth::secrets`] lists.
    fn remember(&self, token: &Secret) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if !seen.contains(token) {
            seen.push_back(token.clone());
        }
        while seen.len() > MAX_REMEMBERED_TOKENS {
            seen.pop_front();
        }
    }

    /// Removes our own secrets from a message made of a server's words.
    fn scrub(&self, mut message: String, refresh: &Secret) -> String {
        for secret in [Some(refresh), self.client_secret.as_ref()]
            .into_iter()
            .flatten()
        {
            if !secret.expose().is_empty() {
                message = message.replace(secret.expose(), "***");
            }
        }
        message
    }
}

#[async_trait::async_trait]
impl Auth for OAuth2 {
    async fn apply(&self, request: RequestBuilder) -> Result<RequestBuilder, ConnectorError> {
        // The lock is held only to read the token, or for the refresh when it is due:
        // requests arriving meanwhile wait for that one refresh instead of starting theirs.
        let mut state = self.state.lock().await;
        let now = (self.clock)();
        // Due from `expires_at - margin`; a margin reaching before the start of time
        // makes every token due.
        let due = state.expires_at.is_some_and(|at| {
            at.checked_sub_signed(self.refresh_margin)
                .is_none_or(|refresh_at| now >= refresh_at)
        });
        if state.access.is_none() || (due && state.refresh.is_some()) {
            self.refresh_locked(&mut state).await?;
        }
        let token = state.access.clone().ok_or_else(|| ConnectorError::Auth {
            message: "no access token".to_string(),
        })?;
        drop(state);
        Ok(request.bearer_auth(token.expose()))
    }

    fn secrets(&self) -> Vec<SentSecret> {
        let mut secrets: Vec<SentSecret> = self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .map(SentSecret::Value)
            .collect();
        if let Some(secret) = &self.client_secret {
            secrets.push(SentSecret::Value(secret.clone()));
            if self.client_auth == ClientAuth::Basic {
                secrets.push(SentSecret::Basic {
                    user: self.client_id.clone(),
                    password: secret.clone(),
                });
            }
        }
        secrets
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    async fn refresh(&self, generation: u64) -> Result<bool, ConnectorError> {
        let mut state = self.state.lock().await;
        // Another request rejected with the same token refreshed while we waited for the
        // lock: its token is the one to retry with.
        if self.generation.load(Ordering::Acquire) != generation {
            return Ok(true);
        }
        if state.refresh.is_none() {
            return Ok(false);
        }
        self.refresh_locked(&mut state).await?;
        Ok(true)
    }

    fn instance_url(&self) -> Option<String> {
        self.instance_url.read().ok().and_then(|url| url.clone())
    }
}
