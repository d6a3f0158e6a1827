//! Connecting a tenant's integration (issue 9, "Tenant integrations and connections";
//! spec: "Authentication & Credentials", "OAuth Flow"), below HTTP: credentials given in
//! a request body ([`store_credentials`]), the OAuth2 authorization-code flow with PKCE
//! ([`begin`], then [`take_state`] + [`finish`] or [`complete`]), and [`disconnect`].
//!
//! # The OAuth2 flow
//!
//! 1. [`begin`] draws a `state` of 256 bits from the operating system (base64url, 43
//!    characters) and a PKCE S256 pair (RFC 7636), stores under the SHA-256 of the state
//!    whose flow it is (tenant, user, integration, connection, return URL, callback URL)
//!    with the verifier sealed by the keyring, expiring [`STATE_TTL`] later, and answers
//!    the provider's authorization URL. The state itself is stored nowhere.
//! 2. The provider sends the browser to the callback URL with `code` and `state` (or
//!    `error`). The callback URL is fixed per integration (providers match redirect URIs
//!    exactly), so the state alone says whose flow it is: [`take_state`] removes it from
//!    the store atomically (single use: of two callbacks with one state, one proceeds)
//!    and refuses an unknown, forged, replayed or expired one.
//! 3. [`finish`] exchanges the code with the verifier at the token endpoint (redirects
//!    never followed, bounded by [`TOKEN_TIMEOUT`]) and stores the tokens encrypted,
//!    exactly as a token refresh does (`accessToken`, `refreshToken`, `expiresAt`,
//!    `instanceUrl` in the connection's encrypted object; the OAuth metadata beside it),
//!    so a connection declaring `refreshToken: stored` reads them. Any failure stores
//!    nothing.
//!
//! # Secrets
//!
//! No error message (`Display`) and no log line holds a token, a code, a verifier, a
//! state, a client secret or a credential value; what a provider says in an error is
//! passed through [`crate::redact`] with every secret of the exchange, and cut short.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpClientError,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    StandardErrorResponse, StandardRevocableToken, TokenResponse, TokenUrl,
};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use url::Url;
use zeroize::Zeroizing;

use super::credentials::{load_own_secrets, save_secrets, SecretsOwner};
use crate::compile::ir::AuthType;
use crate::connectors::auth::Secret;
use crate::connectors::oauth::{TokenHttp, TokenResponseWithExtras};
use crate::redact::{Known, Redactor};
use crate::store::crypto::Keyring;
use crate::store::{OAuthMeta, OAuthState, Store, StoreError};

/// How long a flow may take from [`begin`] to its callback (issue 9: 10 minutes).
pub const STATE_TTL: chrono::Duration = chrono::Duration::minutes(10);

/// Bounds each call to a token or revocation endpoint.
pub const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);

/// Random bytes of a state: 256 bits.
const STATE_BYTES: usize = 32;

/// The longest state looked up; a real one is 43 characters.
const MAX_STATE_LEN: usize = 512;

/// The longest return URL accepted, in bytes.
const MAX_RETURN_URL: usize = 2048;

/// The most characters of a provider's error description kept (after redaction).
const MAX_DESCRIPTION: usize = 300;

/// The token fields a connection's encrypted object holds (as [`super::oauth`] stores
/// them on a refresh).
const TOKEN_FIELDS: &[&str] = &["accessToken", "refreshToken", "expiresAt", "instanceUrl"];

/// An integration's OAuth2 endpoints and client (spec: `OAuthConfig`), as the lead maps
/// them from the catalogue and a tenant's overrides (a Salesforce sandbox login URL).
#[derive(Clone, Debug)]
pub struct OAuthEndpoints {
    pub authorization_url: Url,
    pub token_url: Url,
    /// RFC 7009 revocation endpoint; `None`: [`disconnect`] only deletes.
    pub revoke_url: Option<Url>,
    pub scopes: Vec<String>,
    pub client_id: String,
    /// Sent in the token request body (`client_id`, `client_secret`), as the refresh
    /// path does by default.
    pub client_secret: Secret,
    /// PKCE (RFC 7636), always S256 when on.
    pub pkce: bool,
}

/// Whose connection a flow connects: secrets are stored under
/// `(tenant, connection_id)`; the empty tenant (`engine::credentials::SYSTEM_TENANT`)
/// is a system-scope connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectTarget {
    pub tenant: String,
    pub integration_id: String,
    pub connection_id: String,
}

/// A flow whose state [`take_state`] consumed: what [`finish`] needs. Its verifier is
/// not shown by `Debug`.
pub struct PendingConnect {
    pub target: ConnectTarget,
    pub user_id: String,
    /// Where the browser goes once the flow ends, successful or not.
    pub return_url: Url,
    /// The `redirect_uri` of the authorization request, repeated at the token endpoint.
    pub callback_url: Url,
    verifier: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for PendingConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingConnect")
            .field("target", &self.target)
            .field("user_id", &self.user_id)
            .field("return_url", &self.return_url.as_str())
            .field("callback_url", &self.callback_url.as_str())
            .field("pkce", &self.verifier.is_some())
            .finish()
    }
}

/// What the provider's callback carried besides the state (RFC 6749 section 4.1.2).
#[derive(Clone)]
pub enum Callback {
    /// `code=...`: consent was given.
    Code(Secret),
    /// `error=...` (`access_denied`: the user refused), with `error_description`.
    Error {
        error: String,
        description: Option<String>,
    },
}

impl std::fmt::Debug for Callback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Callback::Code(_) => f.write_str("Code(***)"),
            Callback::Error { error, .. } => f.debug_struct("Error").field("error", error).finish(),
        }
    }
}

/// A finished flow: the connection is stored; send the browser to `return_url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completed {
    pub target: ConnectTarget,
    pub return_url: Url,
}

/// What [`disconnect`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revoked {
    /// What the provider said of the revocation.
    pub provider: Revocation,
    /// Whether stored secrets were deleted (`false`: there were none).
    pub deleted: bool,
}

/// The provider's answer to a revocation (RFC 7009 section 2.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// The provider confirmed (HTTP 200: revoked, or the token was unknown to it).
    Revoked,
    /// The integration has no revocation endpoint.
    NotSupported,
    /// No token was stored, so none was sent.
    NoToken,
    /// The provider refused or could not be reached: the message (no secret in it). The
    /// secrets are deleted anyway; the grant may live on at the provider until it
    /// expires or the user removes it there.
    Failed(String),
}

/// Why connecting failed. `Display` never holds a secret; [`ConnectError::code`] is
/// stable.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// A credentials body of the wrong shape: names the field and the fix.
    #[error("`{field}`: {message}")]
    BadCredentials { field: String, message: String },
    /// The return URL is not an absolute http(s) URL.
    #[error("the returnUrl {0}")]
    BadReturnUrl(String),
    /// The integration's OAuth settings cannot be used (a callback URL that is not
    /// http(s), an auth type that does not take this path).
    #[error("{0}")]
    BadConfig(String),
    /// The state was never issued, was used already (a replay) or was altered.
    #[error(
        "this connect link is unknown or was used already; start connecting again from \
         the integration's page"
    )]
    StateUnknown,
    /// The flow took longer than [`STATE_TTL`].
    #[error(
        "this connect link expired (a flow must finish within {} minutes); start connecting \
         again",
        STATE_TTL.num_minutes()
    )]
    StateExpired,
    /// The user refused consent at the provider (`error=access_denied`).
    #[error(
        "the provider says access was denied: consent was not given, so nothing was connected"
    )]
    ConsentDenied,
    /// The provider's callback carried another error, or no code.
    #[error("the provider ended the authorization with an error: {0}")]
    ProviderError(String),
    /// The token endpoint refused the code or answered something that is not a token
    /// (an error response, a redirect, not JSON).
    #[error("the token endpoint refused the code: {0}")]
    TokenExchangeFailed(String),
    /// The token endpoint could not be reached, timed out or failed (5xx, 429).
    #[error("the token endpoint is unavailable: {0}; try connecting again later")]
    ProviderUnavailable(String),
    /// The operating system gave no random bytes.
    #[error("no random bytes from the operating system: {0}")]
    Random(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ConnectError {
    /// A stable code for problem details and the UI.
    pub fn code(&self) -> &'static str {
        match self {
            ConnectError::BadCredentials { .. } => "bad_credentials",
            ConnectError::BadReturnUrl(_) => "bad_return_url",
            ConnectError::BadConfig(_) => "bad_oauth_config",
            ConnectError::StateUnknown => "state_unknown",
            ConnectError::StateExpired => "state_expired",
            ConnectError::ConsentDenied => "consent_denied",
            ConnectError::ProviderError(_) => "provider_error",
            ConnectError::TokenExchangeFailed(_) => "token_exchange_failed",
            ConnectError::ProviderUnavailable(_) => "provider_unavailable",
            ConnectError::Random(_) => "internal_error",
            ConnectError::Store(_) => "store_error",
        }
    }
}

fn bad(field: &str, message: impl Into<String>) -> ConnectError {
    ConnectError::BadCredentials {
        field: field.to_string(),
        message: message.into(),
    }
}

// ---- credentials in the body: api_key, basic, custom ----

/// Validates `body` for `auth_type` and stores it, encrypted, as the connection's
/// credentials (replacing what was stored), through the same function as
/// `cmap connections set` (`engine::credentials::save_secrets`). Shapes (spec: `Credentials`):
///
/// - `api_key`: `{"apiKey": "...", "header"?: "X-Api-Key", "prefix"?: "Bearer "}`;
/// - `basic`: `{"username": "...", "password": "..."}` (no `:` in the username, RFC 7617);
/// - `custom`: `{"Header-Name": "value", ...}`, at least one, names and values valid in
///   HTTP headers.
///
/// [`ConnectError::BadCredentials`] names the field and the fix, never a value.
///
/// Blocks on the store (a durable write): async callers run it on a blocking thread.
pub fn store_credentials(
    store: &dyn Store,
    keyring: &Keyring,
    target: &ConnectTarget,
    auth_type: AuthType,
    body: Value,
) -> Result<(), ConnectError> {
    let secrets = check_credentials(auth_type, body)?;
    let owner = owner(target, auth_type.as_str());
    save_secrets(store, keyring, &owner, secrets, None)?;
    tracing::info!(
        tenant = %target.tenant,
        integration = %target.integration_id,
        connection = %target.connection_id,
        auth = auth_type.as_str(),
        "stored connection credentials"
    );
    Ok(())
}

fn owner<'a>(target: &'a ConnectTarget, auth_type: &'a str) -> SecretsOwner<'a> {
    SecretsOwner {
        tenant: &target.tenant,
        connection_id: &target.connection_id,
        integration_id: &target.integration_id,
        auth_type,
        display_name: None,
        created_by: "cmap",
    }
}

/// The object to store for a credentials body, or the first fault found.
pub fn check_credentials(
    auth_type: AuthType,
    body: Value,
) -> Result<Map<String, Value>, ConnectError> {
    let Value::Object(body) = body else {
        return Err(bad(
            "body",
            format!(
                "must be a JSON object of the {} credentials",
                auth_type.as_str()
            ),
        ));
    };
    let string = |body: &Map<String, Value>, field: &str, required: bool| match body.get(field) {
        None | Some(Value::Null) if !required => Ok(None),
        None | Some(Value::Null) => Err(bad(field, "is required: give it as a string")),
        Some(Value::String(s)) if s.is_empty() && required => {
            Err(bad(field, "is empty: give the value"))
        }
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad(field, "must be a string")),
    };
    let unknown = |body: &Map<String, Value>, known: &[&str]| match body
        .keys()
        .find(|k| !known.contains(&k.as_str()))
    {
        Some(k) => Err(bad(
            // A long or odd key may be a value pasted in the wrong place: not repeated.
            if k.len() <= 64
                && k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                k
            } else {
                "a field"
            },
            format!(
                "is not a {} credential: use {}",
                auth_type.as_str(),
                known.join(", ")
            ),
        )),
        None => Ok(()),
    };
    let mut out = Map::new();
    match auth_type {
        AuthType::ApiKey => {
            unknown(&body, &["apiKey", "header", "prefix"])?;
            let key = string(&body, "apiKey", true)?.unwrap_or_default();
            header_value_ok("apiKey", &key)?;
            out.insert("apiKey".into(), Value::String(key));
            if let Some(header) = string(&body, "header", false)? {
                header_name_ok("header", &header)?;
                out.insert("header".into(), Value::String(header));
            }
            if let Some(prefix) = string(&body, "prefix", false)? {
                header_value_ok("prefix", &prefix)?;
                out.insert("prefix".into(), Value::String(prefix));
            }
        }
        AuthType::Basic => {
            unknown(&body, &["username", "password"])?;
            let username = string(&body, "username", true)?.unwrap_or_default();
            if username.contains(':') {
                return Err(bad(
                    "username",
                    "contains `:`, which HTTP basic auth cannot carry (RFC 7617): use the \
                     account's name without it",
                ));
            }
            if username.chars().any(char::is_control) {
                return Err(bad("username", "contains control characters: remove them"));
            }
            let password = string(&body, "password", true)?.unwrap_or_default();
            if password.chars().any(char::is_control) {
                return Err(bad("password", "contains control characters: remove them"));
            }
            out.insert("username".into(), Value::String(username));
            out.insert("password".into(), Value::String(password));
        }
        AuthType::Custom => {
            if body.is_empty() {
                return Err(bad(
                    "body",
                    "is empty: give the headers to send, as {\"Header-Name\": \"value\"}",
                ));
            }
            for (name, value) in &body {
                header_name_ok(name, name)?;
                let Value::String(value) = value else {
                    return Err(bad(name, "must be a string (the header's value)"));
                };
                header_value_ok(name, value)?;
                out.insert(name.clone(), Value::String(value.clone()));
            }
        }
        AuthType::OAuth2 => {
            return Err(ConnectError::BadConfig(
                "an oauth2 integration connects through the provider's consent page, not \
                 with credentials in the body"
                    .into(),
            ))
        }
        AuthType::None => {
            return Err(ConnectError::BadConfig(
                "this integration needs no credentials".into(),
            ))
        }
    }
    Ok(out)
}

fn header_name_ok(field: &str, name: &str) -> Result<(), ConnectError> {
    // A field named after a bad header is reported by position, not echoed: the name
    // could be a value pasted in the wrong place.
    let field = if reqwest::header::HeaderName::from_bytes(field.as_bytes()).is_ok() {
        field
    } else {
        "header name"
    };
    match reqwest::header::HeaderName::from_bytes(name.as_bytes()) {
        Ok(_) => Ok(()),
        Err(_) => Err(bad(
            field,
            "is not a valid HTTP header name (RFC 9110 token: letters, digits and \
             !#$%&'*+-.^_`|~): fix the name",
        )),
    }
}

fn header_value_ok(field: &str, value: &str) -> Result<(), ConnectError> {
    match reqwest::header::HeaderValue::from_str(value) {
        Ok(_) => Ok(()),
        Err(_) => Err(bad(
            field,
            "cannot be sent in an HTTP header (it holds a line break or another control \
             character): remove it",
        )),
    }
}

// ---- OAuth2: begin ----

/// Starts an OAuth2 authorization-code flow for `target` on behalf of `user_id`: stores
/// its state (see the module docs) and returns the provider's authorization URL, to
/// send the browser to. `return_url` must be an absolute http(s) URL (the caller
/// restricts its origin); `callback_url` is the integration's fixed redirect URI.
/// Prunes a few expired states of earlier flows in the same write.
///
/// Blocks on the store (a durable write): async callers run it on a blocking thread.
#[allow(clippy::too_many_arguments)]
pub fn begin(
    store: &dyn Store,
    keyring: &Keyring,
    endpoints: &OAuthEndpoints,
    target: &ConnectTarget,
    user_id: &str,
    return_url: &str,
    callback_url: &Url,
    now: DateTime<Utc>,
) -> Result<Url, ConnectError> {
    let return_url = check_return_url(return_url)?;
    if !matches!(callback_url.scheme(), "http" | "https") || callback_url.host().is_none() {
        return Err(ConnectError::BadConfig(
            "the OAuth callback URL must be an absolute http(s) URL: set the server's \
             public URL"
                .into(),
        ));
    }
    for (name, url) in [
        ("authorization", &endpoints.authorization_url),
        ("token", &endpoints.token_url),
    ] {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ConnectError::BadConfig(format!(
                "the integration's {name} URL must be http(s)"
            )));
        }
    }
    let state = Zeroizing::new(new_state()?);
    let hash = state_hash(&state);
    let (challenge, verifier) = if endpoints.pkce {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        (Some(challenge), Some(verifier))
    } else {
        (None, None)
    };
    let record = OAuthState {
        tenant_id: target.tenant.clone(),
        user_id: user_id.to_string(),
        integration_id: target.integration_id.clone(),
        connection_id: target.connection_id.clone(),
        return_url: return_url.to_string(),
        callback_url: callback_url.to_string(),
        pkce_verifier: verifier
            .as_ref()
            .map(|v| keyring.seal(v.secret().as_bytes(), &verifier_aad(&hash))),
        created_at: now,
        expires_at: now + STATE_TTL,
    };

    let client = oauth2::basic::BasicClient::new(ClientId::new(endpoints.client_id.clone()))
        .set_auth_uri(AuthUrl::from_url(endpoints.authorization_url.clone()))
        .set_redirect_uri(RedirectUrl::from_url(callback_url.clone()));
    let issued = state.to_string();
    let mut request = client
        .authorize_url(move || CsrfToken::new(issued))
        .add_scopes(endpoints.scopes.iter().map(|s| Scope::new(s.clone())));
    if let Some(challenge) = challenge {
        request = request.set_pkce_challenge(challenge);
    }
    let (url, _) = request.url();

    let pruned = store.put_oauth_state(&hash, &record, now)?;
    tracing::info!(
        tenant = %target.tenant,
        integration = %target.integration_id,
        connection = %target.connection_id,
        user = %user_id,
        pkce = endpoints.pkce,
        pruned,
        "OAuth connect started"
    );
    Ok(url)
}

/// 256 bits from the operating system, base64url without padding (43 characters).
fn new_state() -> Result<String, ConnectError> {
    use chacha20poly1305::aead::Generate;
    let bytes = Zeroizing::new(
        <[u8; STATE_BYTES]>::try_generate().map_err(|e| ConnectError::Random(e.to_string()))?,
    );
    Ok(URL_SAFE_NO_PAD.encode(*bytes))
}

/// The key of a state in the store: SHA-256 of its text, lower-case hex. A fast hash
/// suffices: nobody guesses 256 random bits (see `store::api_token`).
pub fn state_hash(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

/// The associated data of a sealed PKCE verifier: bound to its state, so a verifier
/// moved to another state's record does not open.
fn verifier_aad(hash: &str) -> Vec<u8> {
    let mut out = b"cmap oauth pkce verifier v1".to_vec();
    out.extend_from_slice(hash.as_bytes());
    out
}

fn check_return_url(text: &str) -> Result<Url, ConnectError> {
    if text.len() > MAX_RETURN_URL {
        return Err(ConnectError::BadReturnUrl(format!(
            "is longer than {MAX_RETURN_URL} bytes"
        )));
    }
    let url = Url::parse(text).map_err(|e| {
        ConnectError::BadReturnUrl(format!(
            "is not an absolute URL ({e}): give one such as https://app.example.com/integrations"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConnectError::BadReturnUrl(
            "must be an http or https URL with a host".into(),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConnectError::BadReturnUrl(
            "must not carry a user name or password".into(),
        ));
    }
    Ok(url)
}

// ---- OAuth2: the callback ----

/// Consumes the flow whose callback presents `state`: removed from the store whatever
/// follows (single use). [`ConnectError::StateUnknown`] for a state never issued, used
/// already, or altered (the same error for each: which one is nobody's business);
/// [`ConnectError::StateExpired`] for one past its expiry at `now`.
///
/// Blocks on the store (a durable write): async callers run it on a blocking thread.
pub fn take_state(
    store: &dyn Store,
    keyring: &Keyring,
    state: &str,
    now: DateTime<Utc>,
) -> Result<PendingConnect, ConnectError> {
    if state.is_empty() || state.len() > MAX_STATE_LEN {
        return Err(ConnectError::StateUnknown);
    }
    let hash = state_hash(state);
    let Some(record) = store.take_oauth_state(&hash)? else {
        tracing::info!("OAuth callback with an unknown or used state refused");
        return Err(ConnectError::StateUnknown);
    };
    if record.expires_at <= now {
        tracing::info!(
            tenant = %record.tenant_id,
            integration = %record.integration_id,
            "OAuth callback with an expired state refused"
        );
        return Err(ConnectError::StateExpired);
    }
    let corrupt = |what: &str| {
        ConnectError::Store(StoreError::Corrupt {
            key: format!("/oauth-state/{hash}"),
            message: format!("its {what} is not a URL"),
        })
    };
    let verifier = match &record.pkce_verifier {
        Some(sealed) => {
            let plain = keyring.open(sealed, &verifier_aad(&hash))?;
            Some(Zeroizing::new(String::from_utf8(plain).map_err(|_| {
                ConnectError::Store(StoreError::Crypto(
                    "a stored PKCE verifier is not text".into(),
                ))
            })?))
        }
        None => None,
    };
    Ok(PendingConnect {
        target: ConnectTarget {
            tenant: record.tenant_id,
            integration_id: record.integration_id,
            connection_id: record.connection_id,
        },
        user_id: record.user_id,
        return_url: Url::parse(&record.return_url).map_err(|_| corrupt("returnUrl"))?,
        callback_url: Url::parse(&record.callback_url).map_err(|_| corrupt("callbackUrl"))?,
        verifier,
    })
}

/// Finishes a flow [`take_state`] consumed: refuses a callback that carries an error
/// ([`ConnectError::ConsentDenied`] for `access_denied`), exchanges the code at
/// `endpoints.token_url` with the PKCE verifier and the same redirect URI, and stores
/// the tokens encrypted (see the module docs). Nothing is stored on any failure.
pub async fn finish(
    store: &Arc<dyn Store>,
    keyring: &Arc<Keyring>,
    endpoints: &OAuthEndpoints,
    pending: PendingConnect,
    callback: Callback,
    now: DateTime<Utc>,
) -> Result<Completed, ConnectError> {
    let lock = Arc::new(std::sync::Mutex::new(()));
    finish_locked(store, keyring, endpoints, pending, callback, now, lock).await
}

/// [`finish`], holding `secrets` across the read-modify-write that stores the grant:
/// the lock a token refresh of this process holds across its own (the engine's
/// `Clients::secrets_lock`), so a refresh never interleaves its read and write with it.
pub async fn finish_locked(
    store: &Arc<dyn Store>,
    keyring: &Arc<Keyring>,
    endpoints: &OAuthEndpoints,
    pending: PendingConnect,
    callback: Callback,
    now: DateTime<Utc>,
    secrets: Arc<std::sync::Mutex<()>>,
) -> Result<Completed, ConnectError> {
    let target = &pending.target;
    let code = match callback {
        Callback::Code(code) if !code.is_empty() => code,
        Callback::Code(_) => {
            return Err(ConnectError::ProviderError(
                "the callback carries neither a code nor an error".into(),
            ))
        }
        Callback::Error { error, .. } if error == "access_denied" => {
            tracing::info!(
                tenant = %target.tenant,
                integration = %target.integration_id,
                "OAuth consent denied"
            );
            return Err(ConnectError::ConsentDenied);
        }
        Callback::Error { error, description } => {
            let redactor = Redactor::new(secrets_of(endpoints, None, &pending));
            return Err(ConnectError::ProviderError(provider_words(
                &redactor,
                &error,
                description.as_deref(),
            )));
        }
    };
    let redactor = Redactor::new(secrets_of(endpoints, Some(&code), &pending));

    let response = exchange(endpoints, &pending, &code)
        .await
        .map_err(|e| classify(e, &redactor))?;

    let expires_at = response
        .expires_in()
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .and_then(|d| now.checked_add_signed(d));
    let instance_url = response.extra_fields().instance_url.clone();
    let mut tokens = Map::new();
    tokens.insert(
        "accessToken".into(),
        Value::String(response.access_token().secret().clone()),
    );
    if let Some(refresh) = response.refresh_token() {
        tokens.insert(
            "refreshToken".into(),
            Value::String(refresh.secret().clone()),
        );
    }
    if let Some(at) = expires_at {
        tokens.insert("expiresAt".into(), Value::String(at.to_rfc3339()));
    }
    if let Some(url) = &instance_url {
        tokens.insert("instanceUrl".into(), Value::String(url.clone()));
    }
    let meta = OAuthMeta {
        token_type: response.token_type().as_ref().to_string(),
        expires_at,
        scope: response
            .scopes()
            .map(|s| s.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default(),
        instance_url,
    };
    let (owned_target, user) = (target.clone(), pending.user_id.clone());
    blocking(store, keyring, move |store, keyring| {
        let _serialised = secrets.lock().unwrap_or_else(|e| e.into_inner());
        let target = &owned_target;
        let mut secrets = load_own_secrets(store, keyring, &target.tenant, &target.connection_id)?
            .unwrap_or_default();
        // A new grant replaces every token of an earlier one (a refresh token it lacks
        // would otherwise survive from the old grant); other secrets stay.
        for key in TOKEN_FIELDS {
            secrets.remove(*key);
        }
        secrets.extend(tokens);
        let mut owner = owner(target, AuthType::OAuth2.as_str());
        // A connection this flow creates is the user's (spec: `createdBy`).
        owner.created_by = &user;
        save_secrets(store, keyring, &owner, secrets, Some(meta))?;
        Ok(())
    })
    .await?;
    tracing::info!(
        tenant = %target.tenant,
        integration = %target.integration_id,
        connection = %target.connection_id,
        user = %pending.user_id,
        "OAuth connection stored"
    );
    Ok(Completed {
        target: pending.target,
        return_url: pending.return_url,
    })
}

/// [`take_state`] (on a blocking thread), then [`finish`] with the endpoints
/// `endpoints_for` gives for the flow's target (the callback learns the tenant from the
/// state only). To send the browser back to the flow's return URL on a failure after
/// the state was taken, call the two steps instead.
pub async fn complete<F>(
    store: &Arc<dyn Store>,
    keyring: &Arc<Keyring>,
    endpoints_for: F,
    state: &str,
    callback: Callback,
    now: DateTime<Utc>,
) -> Result<Completed, ConnectError>
where
    F: FnOnce(&PendingConnect) -> Result<OAuthEndpoints, ConnectError>,
{
    let state = Zeroizing::new(state.to_string());
    let pending = blocking(store, keyring, move |store, keyring| {
        take_state(store, keyring, &state, now)
    })
    .await?;
    let endpoints = endpoints_for(&pending)?;
    finish(store, keyring, &endpoints, pending, callback, now).await
}

/// Runs `f` (store reads and durable writes: an fsync) on tokio's blocking pool, so the
/// async workers keep serving meanwhile (the engine's rule for store work).
async fn blocking<T: Send + 'static>(
    store: &Arc<dyn Store>,
    keyring: &Arc<Keyring>,
    f: impl FnOnce(&dyn Store, &Keyring) -> Result<T, ConnectError> + Send + 'static,
) -> Result<T, ConnectError> {
    let (store, keyring) = (store.clone(), keyring.clone());
    match tokio::task::spawn_blocking(move || f(&*store, &keyring)).await {
        Ok(out) => out,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(ConnectError::Store(StoreError::Backend(format!(
            "the store work was cancelled: {e}"
        )))),
    }
}

type ConnectClient = oauth2::Client<
    BasicErrorResponse,
    TokenResponseWithExtras,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
>;

type ExchangeError = RequestTokenError<
    HttpClientError<reqwest::Error>,
    StandardErrorResponse<oauth2::basic::BasicErrorResponseType>,
>;

/// The HTTP client of token and revocation requests: no redirects (the oauth2 crate's
/// advice: a redirect could carry the code or a token elsewhere), a timeout.
fn http() -> Result<TokenHttp, ConnectError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TOKEN_TIMEOUT)
        .user_agent(concat!("cmap/", env!("CARGO_PKG_VERSION")))
        .build()
        .map(TokenHttp)
        .map_err(|e| ConnectError::BadConfig(format!("cannot build the HTTP client: {e}")))
}

fn client(endpoints: &OAuthEndpoints) -> ConnectClient {
    ConnectClient::new(ClientId::new(endpoints.client_id.clone()))
        .set_client_secret(ClientSecret::new(
            endpoints.client_secret.expose().to_string(),
        ))
        .set_auth_type(oauth2::AuthType::RequestBody)
}

async fn exchange(
    endpoints: &OAuthEndpoints,
    pending: &PendingConnect,
    code: &Secret,
) -> Result<TokenResponseWithExtras, ExchangeError> {
    let http = http().map_err(|e| RequestTokenError::Other(e.to_string()))?;
    let client = client(endpoints)
        .set_token_uri(TokenUrl::from_url(endpoints.token_url.clone()))
        .set_redirect_uri(RedirectUrl::from_url(pending.callback_url.clone()));
    let mut request = client.exchange_code(AuthorizationCode::new(code.expose().to_string()));
    if let Some(verifier) = &pending.verifier {
        request = request.set_pkce_verifier(PkceCodeVerifier::new(verifier.to_string()));
    }
    request.request_async(&http).await
}

/// A failed exchange as a [`ConnectError`], with what the provider said redacted.
fn classify(error: ExchangeError, redactor: &Redactor) -> ConnectError {
    match error {
        RequestTokenError::ServerResponse(response) => {
            ConnectError::TokenExchangeFailed(provider_words(
                redactor,
                response.error().as_ref(),
                response.error_description().map(String::as_str),
            ))
        }
        RequestTokenError::Request(HttpClientError::Other(message)) => {
            ConnectError::ProviderUnavailable(cut(&redactor.text(&message)))
        }
        RequestTokenError::Request(HttpClientError::Reqwest(e)) => {
            let what = if e.is_timeout() {
                format!("no answer within {} s", TOKEN_TIMEOUT.as_secs())
            } else if e.is_connect() {
                "cannot connect".to_string()
            } else {
                "the request failed".to_string()
            };
            ConnectError::ProviderUnavailable(what)
        }
        RequestTokenError::Request(e) => {
            ConnectError::ProviderUnavailable(cut(&redactor.text(&e.to_string())))
        }
        RequestTokenError::Parse(_, _) => ConnectError::TokenExchangeFailed(
            "its answer is not a token response (not JSON, or a redirect, which is not \
             followed)"
                .into(),
        ),
        // The crate's words for a non-200 answer without an error object: an empty
        // body, as a redirect (never followed) has.
        RequestTokenError::Other(message) => ConnectError::TokenExchangeFailed(format!(
            "its answer is neither a token nor an error object (a redirect, which is not \
             followed, or an empty body): {}",
            cut(&redactor.text(&message))
        )),
    }
}

/// Every secret of a flow, for redacting what a provider says.
fn secrets_of<'a>(
    endpoints: &'a OAuthEndpoints,
    code: Option<&'a Secret>,
    pending: &'a PendingConnect,
) -> Vec<Known<'a>> {
    let mut known = vec![Known::Value(endpoints.client_secret.expose())];
    if let Some(code) = code {
        known.push(Known::Value(code.expose()));
    }
    if let Some(verifier) = &pending.verifier {
        known.push(Known::Value(verifier.as_str()));
    }
    known
}

/// `error` and its description as a provider gave them, secrets masked, cut short.
fn provider_words(redactor: &Redactor, error: &str, description: Option<&str>) -> String {
    let text = match description {
        Some(d) if !d.is_empty() => format!("`{error}` ({d})"),
        _ => format!("`{error}`"),
    };
    cut(&redactor.text(&text))
}

/// At most [`MAX_DESCRIPTION`] characters, control characters replaced.
fn cut(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(MAX_DESCRIPTION)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().nth(MAX_DESCRIPTION).is_some() {
        out.push('…');
    }
    out
}

// ---- disconnect ----

/// Disconnects `target`: revokes its refresh token (else its access token) at
/// `endpoints.revoke_url` when there is one (RFC 7009: `token`, `token_type_hint`, the
/// client's id and secret in the body; redirects not followed), then deletes the stored secrets whatever the
/// provider answered; [`Revoked`] says what it answered. `endpoints` may be `None` for an
/// integration without OAuth (only the delete happens).
pub async fn disconnect(
    store: &Arc<dyn Store>,
    keyring: &Arc<Keyring>,
    endpoints: Option<&OAuthEndpoints>,
    target: &ConnectTarget,
) -> Result<Revoked, ConnectError> {
    let lock = Arc::new(std::sync::Mutex::new(()));
    disconnect_locked(store, keyring, endpoints, target, lock).await
}

/// [`disconnect`], deleting under `secrets`: the lock a token refresh of this process
/// holds across its read-modify-write (see [`finish_locked`]).
pub async fn disconnect_locked(
    store: &Arc<dyn Store>,
    keyring: &Arc<Keyring>,
    endpoints: Option<&OAuthEndpoints>,
    target: &ConnectTarget,
    secrets: Arc<std::sync::Mutex<()>>,
) -> Result<Revoked, ConnectError> {
    let provider = match endpoints {
        Some(endpoints) => match &endpoints.revoke_url {
            Some(url) => {
                // Secrets that do not open are no reason to keep them: revoke what can
                // be read, delete in any case.
                let (tenant, id) = (target.tenant.clone(), target.connection_id.clone());
                let stored = blocking(store, keyring, move |store, keyring| {
                    Ok(load_own_secrets(store, keyring, &tenant, &id)?)
                })
                .await;
                let stored = match stored {
                    Ok(stored) => stored.unwrap_or_default(),
                    Err(e) => {
                        tracing::warn!(
                            tenant = %target.tenant,
                            connection = %target.connection_id,
                            error = %e,
                            "the stored secrets do not open; deleting them without revoking"
                        );
                        Map::new()
                    }
                };
                revoke(endpoints, url, &stored).await
            }
            None => Revocation::NotSupported,
        },
        None => Revocation::NotSupported,
    };
    let (tenant, id) = (target.tenant.clone(), target.connection_id.clone());
    let deleted = blocking(store, keyring, move |store, _| {
        let _serialised = secrets.lock().unwrap_or_else(|e| e.into_inner());
        Ok(store.delete_connection(&tenant, &id)?)
    })
    .await?;
    tracing::info!(
        tenant = %target.tenant,
        integration = %target.integration_id,
        connection = %target.connection_id,
        revocation = ?provider,
        deleted,
        "connection disconnected"
    );
    Ok(Revoked { provider, deleted })
}

/// RFC 7009 section 2.1: `token` and `token_type_hint` in a form body, the client
/// authenticated as at the token endpoint (id and secret in the body). Written here
/// rather than through the oauth2 crate, which refuses a revocation URL that is not
/// https even where the token URL may be (a local provider).
async fn revoke(endpoints: &OAuthEndpoints, url: &Url, stored: &Map<String, Value>) -> Revocation {
    let (token, hint) = match (
        stored.get("refreshToken").and_then(Value::as_str),
        stored.get("accessToken").and_then(Value::as_str),
    ) {
        (Some(refresh), _) => (refresh, "refresh_token"),
        (None, Some(access)) => (access, "access_token"),
        (None, None) => return Revocation::NoToken,
    };
    let mut known = vec![Known::Value(endpoints.client_secret.expose())];
    known.extend(
        TOKEN_FIELDS[..2]
            .iter()
            .filter_map(|k| stored.get(*k).and_then(Value::as_str))
            .map(Known::Value),
    );
    let redactor = Redactor::new(known);
    let http = match http() {
        Ok(http) => http.0,
        Err(e) => return Revocation::Failed(e.to_string()),
    };
    let form = [
        ("token", token),
        ("token_type_hint", hint),
        ("client_id", endpoints.client_id.as_str()),
        ("client_secret", endpoints.client_secret.expose()),
    ];
    let response = match http.post(url.clone()).form(&form).send().await {
        Ok(response) => response,
        Err(e) if e.is_timeout() => {
            return Revocation::Failed(format!("no answer within {} s", TOKEN_TIMEOUT.as_secs()))
        }
        Err(e) if e.is_connect() => return Revocation::Failed("cannot connect".into()),
        Err(_) => return Revocation::Failed("the request failed".into()),
    };
    let status = response.status();
    if status.is_success() {
        return Revocation::Revoked;
    }
    // An RFC 6749 error object when there is one; the body is not read past a few KiB.
    let body = read_some(response).await;
    let said = serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
        let error = v.get("error")?.as_str()?.to_string();
        let description = v
            .get("error_description")
            .and_then(Value::as_str)
            .map(str::to_string);
        Some(provider_words(&redactor, &error, description.as_deref()))
    });
    Revocation::Failed(match said {
        Some(said) => format!("the provider answered HTTP {}: {said}", status.as_u16()),
        None => format!("the provider answered HTTP {}", status.as_u16()),
    })
}

/// The first few KiB of a response body (what an error object needs).
async fn read_some(mut response: reqwest::Response) -> Vec<u8> {
    const MAX: usize = 8 * 1024;
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        out.extend_from_slice(&chunk);
        if out.len() >= MAX {
            out.truncate(MAX);
            break;
        }
    }
    out
}
