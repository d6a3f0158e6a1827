//! Connecting a tenant's integration over HTTP (spec "API Reference", Connections;
//! "Authentication & Credentials", "OAuth Flow"): connect, the OAuth callback,
//! disconnect, the connection's status and a test call; and the system-scope
//! connections of super admins. The flow itself is [`crate::engine::connect`]'s.
//!
//! ```text
//! POST   /api/tenant/integrations/{integration}/connect         credentials, or {returnUrl} -> {authorizationUrl}
//! GET    /api/tenant/integrations/{integration}/oauth/callback  no token: the state authenticates it; 303
//! POST   /api/tenant/integrations/{integration}/disconnect
//! GET    /api/tenant/integrations/{integration}/connection
//! POST   /api/tenant/integrations/{integration}/test
//! PUT    /api/admin/connections/{integration}                   GET, DELETE
//! ```
//!
//! A tenant integration's connection id is its `connectionId`, else the integration's
//! id; a system-scope connection is stored under the integration's id in the system
//! namespace, so a tenant-scope connection of that id without secrets of its own reads
//! the system's (the store's fallback): a tenant's own connection wins, else the
//! system's (docs/api.md, "Which connection a task uses").

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde_json::{json, Map, Value};
use url::Url;

use super::auth::{Action, Actor};
use super::http::{store_error, Api, ApiError};
use crate::compile::ir::{AuthType, CredentialValue, IntegrationAuthType, IntegrationDefinition};
use crate::connectors::auth::Secret;
use crate::engine::connect::{self, Callback, ConnectError, ConnectTarget, OAuthEndpoints};
use crate::engine::{load_own_secrets, own_record, save_secrets, SecretsOwner, SYSTEM_TENANT};
use crate::store::audit::{self, action, Details, Outcome};
use crate::store::crypto::Keyring;
use crate::store::identity::Role;
use crate::store::{AuditEntry, IntegrationStatus, Store, StoreError, TenantIntegration};

/// Runs store work (reads and fsynced writes) on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(out) => out,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(store_error(format!("the store work was cancelled: {e}"))),
    }
}

fn unknown_tenant_integration(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("integration `{id}` is not enabled for this tenant"),
        "enable it first (POST /api/tenant/integrations); GET /api/integrations lists what can be enabled",
    )
    .code("tenant_integration_not_found")
}

fn keyring(api: &Api) -> Result<Arc<Keyring>, ApiError> {
    api.shared.engine.keyring.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "credentials cannot be stored: the master key is not loaded",
            "start `cmap serve` with the master key (docs/serve.md, \"Secrets\")",
        )
        .code("no_master_key")
    })
}

/// The tenant integration `id` of `tenant`: 404 when the tenant has none (another
/// tenant's is not looked at).
async fn tenant_integration(
    api: &Api,
    tenant: &str,
    id: &str,
) -> Result<TenantIntegration, ApiError> {
    let (store, tenant, owned) = (
        api.shared.engine.store.clone(),
        tenant.to_string(),
        id.to_string(),
    );
    blocking(move || {
        store
            .tenant_integration(&tenant, &owned)
            .map_err(store_error)
    })
    .await?
    .ok_or_else(|| unknown_tenant_integration(id))
}

/// The catalogue's definition of an enabled integration. Looked up as a super admin
/// would: an integration the tenant has enabled may be one only super admins see.
fn definition(api: &Api, id: &str) -> Result<IntegrationDefinition, ApiError> {
    api.catalogue()?
        .get(id, Role::SuperAdmin)
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                format!("integration `{id}` is no longer in the catalogue"),
                "a super admin removed or disabled it; GET /api/integrations lists the available ones",
            )
            .code("integration_unavailable")
        })
}

/// The auth type credentials are checked against.
fn auth_type(d: &IntegrationDefinition) -> AuthType {
    match d.auth_type {
        IntegrationAuthType::OAuth2 => AuthType::OAuth2,
        IntegrationAuthType::ApiKey => AuthType::ApiKey,
        IntegrationAuthType::Basic => AuthType::Basic,
        IntegrationAuthType::Custom => AuthType::Custom,
    }
}

/// The connection id of a tenant integration: its `connectionId`; else, for an
/// integration cmap has a connector for, the id of the connection the server declares
/// for it ([`crate::engine::tenant_connection`]), so its tasks read what connect stored;
/// else the integration's id (an AI provider's key: the system-scope record of that id
/// serves a tenant that has none of its own).
fn connection_id(ti: &TenantIntegration) -> String {
    ti.connection_id.clone().unwrap_or_else(|| {
        if crate::connectors::for_integration(&ti.integration_id).is_some() {
            crate::engine::tenant_connection::connection_id(&ti.tenant_id, &ti.integration_id)
        } else {
            ti.id.clone()
        }
    })
}

/// A [`ConnectError`] as a problem document: 400 for the request's faults, 409 for the
/// integration's settings, 502/503 for the provider, 503 for the store.
fn connect_error(e: ConnectError) -> ApiError {
    let (status, help) = match &e {
        ConnectError::BadCredentials { .. } => (
            StatusCode::BAD_REQUEST,
            "docs/api.md, \"Connecting\", gives each auth type's body",
        ),
        ConnectError::BadReturnUrl(_) => (
            StatusCode::BAD_REQUEST,
            "give an absolute URL on the server's public URL",
        ),
        ConnectError::BadConfig(_) => (
            StatusCode::CONFLICT,
            "a super admin fixes the integration's definition or the tenant integration's URLs",
        ),
        ConnectError::StateUnknown | ConnectError::StateExpired => (
            StatusCode::BAD_REQUEST,
            "start connecting again from the integration's page",
        ),
        ConnectError::ConsentDenied
        | ConnectError::ProviderError(_)
        | ConnectError::TokenExchangeFailed(_) => (
            StatusCode::BAD_GATEWAY,
            "start connecting again; the provider's error is in the detail",
        ),
        ConnectError::ProviderUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "retry later"),
        ConnectError::Random(_) | ConnectError::Store(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "retry later; the server log has the details",
        ),
    };
    ApiError::new(status, e.to_string(), help).code(e.code())
}

/// One credential value of an OAuth client: written in the definition, read from the
/// environment now, or (`stored`) the system-scope stored secret of the integration
/// under the same key (`clientId`, `clientSecret`), set by
/// `PUT /api/admin/connections/{integration}`.
fn client_value(
    store: &dyn Store,
    keyring: Option<&Keyring>,
    integration: &str,
    key: &str,
    value: &CredentialValue,
) -> Result<Secret, ApiError> {
    let missing = |what: String, help: String| {
        ApiError::new(StatusCode::CONFLICT, what, help).code("oauth_client_missing")
    };
    match value {
        CredentialValue::Plain(v) => Ok(Secret::new(v.clone())),
        CredentialValue::Env(name) => match std::env::var(name) {
            Ok(v) if !v.is_empty() => Ok(Secret::new(v)),
            _ => Err(missing(
                format!("the OAuth `{key}` of `{integration}` comes from the environment variable `{name}`, which is not set"),
                format!("set `{name}` where `cmap serve` runs and restart it"),
            )),
        },
        CredentialValue::Stored => {
            let keyring = keyring.ok_or_else(|| {
                missing(
                    format!("the OAuth `{key}` of `{integration}` is stored, and the master key is not loaded"),
                    "start `cmap serve` with the master key".into(),
                )
            })?;
            let stored = load_own_secrets(store, keyring, SYSTEM_TENANT, integration).map_err(store_error)?;
            match stored.as_ref().and_then(|m| m.get(key)).and_then(Value::as_str) {
                Some(v) if !v.is_empty() => Ok(Secret::new(v.to_string())),
                _ => Err(missing(
                    format!("the OAuth `{key}` of `{integration}` is not stored yet"),
                    format!("a super admin stores it: PUT /api/admin/connections/{integration} with {{\"{key}\": \"...\"}}"),
                )),
            }
        }
    }
}

/// The OAuth endpoints and client of `d` for `ti`: the definition's URLs, overridden by
/// the tenant integration's `authorizationUrl` / `tokenUrl`; the client's id and secret
/// resolved now (an environment variable is read at each use).
fn endpoints(
    api: &Api,
    d: &IntegrationDefinition,
    ti: &TenantIntegration,
) -> Result<OAuthEndpoints, ApiError> {
    let Some(config) = &d.oauth_config else {
        return Err(connect_error(ConnectError::BadConfig(format!(
            "integration `{}` has no oauthConfig",
            d.id
        ))));
    };
    let url = |name: &str, text: &str| {
        Url::parse(text).map_err(|_| {
            connect_error(ConnectError::BadConfig(format!(
                "the {name} of `{}` is not a URL",
                d.id
            )))
        })
    };
    let engine = &api.shared.engine;
    let store = &*engine.store;
    let keyring = engine.keyring.as_deref();
    Ok(OAuthEndpoints {
        authorization_url: url(
            "authorizationUrl",
            ti.authorization_url
                .as_deref()
                .unwrap_or(&config.authorization_url),
        )?,
        token_url: url(
            "tokenUrl",
            ti.token_url.as_deref().unwrap_or(&config.token_url),
        )?,
        revoke_url: config
            .revoke_url
            .as_deref()
            .map(|u| url("revokeUrl", u))
            .transpose()?,
        scopes: config.scopes.clone(),
        client_id: client_value(store, keyring, &d.id, "clientId", &config.client_id)?
            .expose()
            .to_string(),
        client_secret: client_value(store, keyring, &d.id, "clientSecret", &config.client_secret)?,
        pkce: config.pkce,
    })
}

/// The audit entry of a change by `actor` in its tenant (`None`: a system-scope one).
fn audit_entry(
    actor: &Actor,
    tenant: Option<&str>,
    what: &str,
    kind: &str,
    id: &str,
    details: Value,
) -> AuditEntry {
    AuditEntry::new(
        Utc::now(),
        tenant,
        audit::Actor {
            user_id: actor.user_id.clone(),
            email: Some(actor.email.clone()),
            role: actor.role.into(),
        },
        what,
        audit::Target::new(kind, id),
        Outcome::Success,
        Details::scrubbed(details, &crate::redact::Redactor::none()),
    )
}

/// Writes `ti` changed by `change` at its version, with `audit`; a concurrent change
/// (stale) is read again and `change` re-applied, a few times.
async fn update_ti(
    api: &Api,
    ti: TenantIntegration,
    change: impl Fn(&mut TenantIntegration) + Send + 'static,
    audit: Option<AuditEntry>,
) -> Result<TenantIntegration, ApiError> {
    let store = api.shared.engine.store.clone();
    blocking(move || {
        let mut current = ti;
        for _ in 0..5 {
            let mut next = current.clone();
            change(&mut next);
            next.updated_at = Utc::now();
            match store.update_tenant_integration(&next, current.version, audit.as_ref()) {
                Ok(stored) => return Ok(stored),
                Err(StoreError::Stale { .. }) => {
                    match store
                        .tenant_integration(&current.tenant_id, &current.id)
                        .map_err(store_error)?
                    {
                        Some(again) => current = again,
                        None => return Err(unknown_tenant_integration(&current.id)),
                    }
                }
                Err(StoreError::NotFound(_)) => {
                    return Err(unknown_tenant_integration(&current.id))
                }
                Err(e) => return Err(store_error(e)),
            }
        }
        Err(ApiError::new(
            StatusCode::CONFLICT,
            "the tenant integration kept changing meanwhile",
            "retry",
        )
        .code("conflict"))
    })
    .await
}

/// The connection's status without its secrets: the spec's IntegrationConnection less
/// `credentials` (and the OAuth metadata: token type, expiry, scopes, instance URL).
fn connection_view(record: &crate::store::ConnectionRecord) -> Value {
    let mut v = serde_json::to_value(record).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.remove("credentials");
        m.insert("connected".into(), Value::Bool(true));
        // The access token's expiry, beside `oauth.expiresAt`, for a UI's convenience.
        let expires = record.oauth.as_ref().and_then(|o| o.expires_at);
        m.insert("expiresAt".into(), json!(expires));
    }
    v
}

// ---- connect ----

/// `POST .../connect`: for `api_key`, `basic` and `custom` the credentials (docs/api.md,
/// "Connecting"); for `oauth2`, `{"returnUrl": "..."}`.
#[utoipa::path(
    post,
    path = "/api/tenant/integrations/{integration}/connect",
    tag = "connections",
    params(("integration" = String, Path, description = "the integration id, e.g. `salesforce`")),
    request_body(content = Object, description = "api_key / basic / custom: the credentials; oauth2: {\"returnUrl\": \"...\"}"),
    responses(
        (status = 200, description = "connected (the connection's status, no secret), or `{authorizationUrl}` to send the browser to (oauth2)", body = Object),
        (status = 400, description = "bad credentials, or a returnUrl not on the public URL", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 409, description = "no --public-url (oauth2), no master key, an OAuth client not configured", body = super::openapi::Problem, content_type = "application/problem+json"),
        super::openapi::Refusals,
    ),
    security(("bearer" = []))
)]
pub(super) async fn connect(
    State(api): State<Arc<Api>>,
    actor: Actor,
    Path(integration): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let ti = tenant_integration(&api, &actor.tenant, &integration).await?;
    actor.require(Action::ConfigureCredentials)?;
    let d = definition(&api, &integration)?;
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("the body is not JSON: {}", json_fault(&e)),
                "send a JSON object (docs/api.md, \"Connecting\")",
            )
            .code("bad_json")
        })?
    };
    let keyring = keyring(&api)?;
    let target = ConnectTarget {
        tenant: actor.tenant.clone(),
        integration_id: integration.clone(),
        connection_id: connection_id(&ti),
    };
    let auth = auth_type(&d);
    if auth == AuthType::OAuth2 {
        return begin_oauth(&api, &actor, &d, &ti, target, keyring, body).await;
    }
    let store = api.shared.engine.store.clone();
    let lock = api.shared.engine.clients().secrets_lock();
    let owned = target.clone();
    let record = blocking(move || {
        let _serialised = lock.lock().unwrap_or_else(|e| e.into_inner());
        connect::store_credentials(&*store, &keyring, &owned, auth, body).map_err(connect_error)?;
        own_record(&*store, &owned.tenant, &owned.connection_id).map_err(store_error)
    })
    .await?;
    api.shared
        .engine
        .clients()
        .forget(&target.tenant, &target.connection_id);
    let id = target.connection_id.clone();
    let audit = audit_entry(
        &actor,
        Some(&actor.tenant),
        action::CREDENTIALS_SET,
        "connection",
        &id,
        json!({"integration": integration, "authType": auth.as_str()}),
    );
    update_ti(
        &api,
        ti,
        move |t| {
            t.status = IntegrationStatus::Connected;
            t.connection_id = Some(id.clone());
            t.last_connected_at = Some(Utc::now());
            t.connection_error = None;
        },
        Some(audit),
    )
    .await?;
    let view = record.as_ref().map(connection_view).unwrap_or(Value::Null);
    Ok(Json(view).into_response())
}

/// The oauth2 side of [`connect`]: checks the return URL against the public URL and
/// answers the provider's authorization URL.
async fn begin_oauth(
    api: &Api,
    actor: &Actor,
    d: &IntegrationDefinition,
    ti: &TenantIntegration,
    target: ConnectTarget,
    keyring: Arc<Keyring>,
    body: Value,
) -> Result<Response, ApiError> {
    let Some(public) = &api.config.public_url else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "an OAuth connection needs the server's public URL, which is not configured",
            "start `cmap serve` with --public-url https://cmap.example.com (the address browsers and the provider reach it at), and register {public_url}/api/tenant/integrations/INTEGRATION/oauth/callback at the provider",
        )
        .code("no_public_url"));
    };
    let return_url = match body.get("returnUrl") {
        Some(Value::String(s)) => s.clone(),
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "`returnUrl` is required: the page the browser returns to once connected",
                "send {\"returnUrl\": \"https://.../integrations\"} on the server's public URL",
            )
            .code("bad_return_url"))
        }
    };
    if let Some(Value::Object(m)) = Some(&body) {
        if let Some(k) = m.keys().find(|k| *k != "returnUrl") {
            let k = if k.len() <= 64 && k.bytes().all(|b| b.is_ascii_alphanumeric()) {
                k.as_str()
            } else {
                "a field"
            };
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("`{k}` is not taken when connecting an oauth2 integration"),
                "send only {\"returnUrl\": \"...\"}",
            )
            .code("bad_request"));
        }
    }
    // No open redirect: the browser is only ever sent back to the server's own origin.
    let same_origin =
        Url::parse(&return_url).is_ok_and(|u| u.origin().ascii_serialization() == public.origin());
    if !same_origin {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the returnUrl must be on the server's public URL ({public})"),
            format!("give a page under {public}"),
        )
        .code("bad_return_url"));
    }
    let callback = Url::parse(&format!(
        "{}/api/tenant/integrations/{}/oauth/callback",
        public.origin(),
        d.id
    ))
    .map_err(|_| {
        connect_error(ConnectError::BadConfig(
            "the callback URL is not a URL".into(),
        ))
    })?;
    let endpoints = endpoints(api, d, ti)?;
    let store = api.shared.engine.store.clone();
    let user = actor.user_id.clone();
    let url = blocking(move || {
        connect::begin(
            &*store,
            &keyring,
            &endpoints,
            &target,
            &user,
            &return_url,
            &callback,
            Utc::now(),
        )
        .map_err(connect_error)
    })
    .await?;
    Ok(Json(json!({ "authorizationUrl": url.as_str() })).into_response())
}

// ---- the callback ----

/// What the provider sends back (RFC 6749 section 4.1.2).
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct CallbackQuery {
    /// The state the flow began with.
    state: Option<String>,
    /// The authorization code, when consent was given.
    code: Option<String>,
    /// The provider's error (`access_denied`: consent refused).
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET .../oauth/callback`: a browser redirect from the provider. No token: the state
/// says whose flow it is. 303 to the flow's returnUrl with `?connected=INTEGRATION` or
/// `?error=CODE`; 400 with a problem document when the state is unknown, used or expired
/// (there is no trusted returnUrl then).
#[utoipa::path(
    get,
    path = "/api/tenant/integrations/{integration}/oauth/callback",
    tag = "connections",
    params(("integration" = String, Path, description = "the integration id"), CallbackQuery),
    responses(
        (status = 303, description = "back to the returnUrl, with `connected=INTEGRATION` or `error=CODE`"),
        (status = 400, description = "an unknown, used, altered or expired state (`state_unknown`, `state_expired`), or one of another integration (`state_mismatch`)", body = super::openapi::Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn oauth_callback(
    State(api): State<Arc<Api>>,
    Path(integration): Path<String>,
    query: Result<Query<CallbackQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    // A malformed query has no usable state: the same answer as an unknown one.
    let q = query.map(|Query(q)| q).ok();
    let state = q.as_ref().and_then(|q| q.state.clone()).unwrap_or_default();
    let keyring = keyring(&api)?;
    let store = api.shared.engine.store.clone();
    let (s, k) = (store.clone(), keyring.clone());
    let state = zeroize::Zeroizing::new(state);
    let pending =
        blocking(move || connect::take_state(&*s, &k, &state, Utc::now()).map_err(connect_error))
            .await?;
    if pending.target.integration_id != integration {
        tracing::info!(
            tenant = %pending.target.tenant,
            integration = %pending.target.integration_id,
            "OAuth callback at another integration's path refused"
        );
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "this connect link belongs to another integration",
            "start connecting again from the integration's page",
        )
        .code("state_mismatch"));
    }
    let return_url = pending.return_url.clone();
    let target = pending.target.clone();
    let user_id = pending.user_id.clone();
    let callback = match q {
        Some(CallbackQuery {
            code: Some(code),
            error: None,
            ..
        }) => Callback::Code(Secret::new(code)),
        Some(CallbackQuery {
            error: Some(error),
            error_description,
            ..
        }) => Callback::Error {
            error,
            description: error_description,
        },
        _ => Callback::Code(Secret::new(String::new())),
    };
    let outcome = async {
        let ti = tenant_integration(&api, &target.tenant, &target.integration_id).await?;
        let d = definition(&api, &target.integration_id)?;
        let endpoints = endpoints(&api, &d, &ti)?;
        // The grant is stored under the refresh path's lock (no interleaved
        // read-modify-write); the cached client, the connection's only refresher, is
        // dropped right after, so the next run reads the new tokens.
        let lock = api.shared.engine.clients().secrets_lock();
        connect::finish_locked(
            &store,
            &keyring,
            &endpoints,
            pending,
            callback,
            Utc::now(),
            lock,
        )
        .await
        .map_err(connect_error)?;
        Ok::<TenantIntegration, ApiError>(ti)
    }
    .await;
    let engine = &api.shared.engine;
    engine
        .clients()
        .forget(&target.tenant, &target.connection_id);
    let mut back = return_url;
    match outcome {
        Ok(ti) => {
            // The change is the user's who began the flow (the callback has no token).
            let actor = flow_user(&api, &target.tenant, user_id).await?;
            let audit = AuditEntry::new(
                Utc::now(),
                Some(&target.tenant),
                actor,
                action::CREDENTIALS_SET,
                audit::Target::new("connection", &target.connection_id),
                Outcome::Success,
                Details::scrubbed(
                    json!({"integration": target.integration_id, "authType": "oauth2"}),
                    &crate::redact::Redactor::none(),
                ),
            );
            let id = target.connection_id.clone();
            update_ti(
                &api,
                ti,
                move |t| {
                    t.status = IntegrationStatus::Connected;
                    t.connection_id = Some(id.clone());
                    t.last_connected_at = Some(Utc::now());
                    t.connection_error = None;
                },
                Some(audit),
            )
            .await?;
            back.query_pairs_mut()
                .append_pair("connected", &target.integration_id);
        }
        Err(e) => {
            let (code, detail) = (e.code, e.detail.clone());
            if let Ok(ti) = tenant_integration(&api, &target.tenant, &target.integration_id).await {
                let _ = update_ti(
                    &api,
                    ti,
                    move |t| t.connection_error = Some(detail.clone()),
                    None,
                )
                .await;
            }
            back.query_pairs_mut().append_pair("error", code);
        }
    }
    Ok((
        StatusCode::SEE_OTHER,
        [(header::LOCATION, back.to_string())],
    )
        .into_response())
}

/// The audit actor of the user who began a flow: a user of the tenant, else a super
/// admin (who acts in any tenant).
async fn flow_user(api: &Api, tenant: &str, user_id: String) -> Result<audit::Actor, ApiError> {
    let (store, tenant) = (api.shared.engine.store.clone(), tenant.to_string());
    blocking(move || {
        let user = match store.user(Some(&tenant), &user_id).map_err(store_error)? {
            Some(user) => Some(user),
            None => store.user(None, &user_id).map_err(store_error)?,
        };
        Ok(match user {
            Some(user) => audit::Actor::user(&user),
            // Removed meanwhile: the id is still who it was.
            None => audit::Actor {
                user_id,
                email: None,
                role: audit::ActorRole::User,
            },
        })
    })
    .await
}

// ---- disconnect, status, test ----

/// `POST .../disconnect`: revokes at the provider when the definition has a revokeUrl,
/// then deletes the stored secrets; the tenant integration goes back to `pending`.
#[utoipa::path(
    post,
    path = "/api/tenant/integrations/{integration}/disconnect",
    tag = "connections",
    params(("integration" = String, Path, description = "the integration id")),
    responses(
        (status = 200, description = "`{deleted, revocation}`: whether secrets were deleted and what the provider said (`revoked`, `not_supported`, `no_token`, `failed`)", body = Object),
        super::openapi::Refusals,
    ),
    security(("bearer" = []))
)]
pub(super) async fn disconnect(
    State(api): State<Arc<Api>>,
    actor: Actor,
    Path(integration): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let ti = tenant_integration(&api, &actor.tenant, &integration).await?;
    actor.require(Action::ConfigureCredentials)?;
    let target = ConnectTarget {
        tenant: actor.tenant.clone(),
        integration_id: integration.clone(),
        connection_id: connection_id(&ti),
    };
    let endpoints = match api.catalogue()?.get(&integration, Role::SuperAdmin) {
        // Without a usable client the grant cannot be revoked: delete anyway.
        Some(d) if d.oauth_config.is_some() => endpoints(&api, d, &ti).ok(),
        _ => None,
    };
    let revoked = disconnect_target(&api, endpoints.as_ref(), &target).await?;
    let id = target.connection_id.clone();
    let audit = audit_entry(
        &actor,
        Some(&actor.tenant),
        action::CREDENTIALS_DELETE,
        "connection",
        &id,
        json!({"integration": integration, "revocation": revoked["revocation"].clone()}),
    );
    update_ti(
        &api,
        ti,
        |t| {
            if t.status != IntegrationStatus::Disabled {
                t.status = IntegrationStatus::Pending;
            }
            t.connection_error = None;
        },
        Some(audit),
    )
    .await?;
    Ok(Json(revoked))
}

/// Revokes and deletes `target`'s secrets, then drops its cached client.
async fn disconnect_target(
    api: &Api,
    endpoints: Option<&OAuthEndpoints>,
    target: &ConnectTarget,
) -> Result<Value, ApiError> {
    let engine = &api.shared.engine;
    let revoked = match &engine.keyring {
        Some(keyring) => {
            let lock = engine.clients().secrets_lock();
            connect::disconnect_locked(&engine.store, keyring, endpoints, target, lock)
                .await
                .map_err(connect_error)?
        }
        // Nothing can be revoked without the key; the record is deleted all the same.
        None => {
            let (store, t, id) = (
                engine.store.clone(),
                target.tenant.clone(),
                target.connection_id.clone(),
            );
            let deleted =
                blocking(move || store.delete_connection(&t, &id).map_err(store_error)).await?;
            connect::Revoked {
                provider: connect::Revocation::NotSupported,
                deleted,
            }
        }
    };
    engine
        .clients()
        .forget(&target.tenant, &target.connection_id);
    let (revocation, message) = match &revoked.provider {
        connect::Revocation::Revoked => ("revoked", None),
        connect::Revocation::NotSupported => ("not_supported", None),
        connect::Revocation::NoToken => ("no_token", None),
        connect::Revocation::Failed(m) => ("failed", Some(m.clone())),
    };
    Ok(json!({ "deleted": revoked.deleted, "revocation": revocation, "revocationError": message }))
}

/// The connection a tenant's runs use: its own, else (the store's fallback) the
/// system-scope one of the same id. For an `oauth2` integration the system-scope record
/// holds the OAuth client, not a grant: only the tenant's own counts.
async fn tenant_connection(
    api: &Api,
    tenant: &str,
    id: String,
    oauth: bool,
) -> Result<Option<crate::store::ConnectionRecord>, ApiError> {
    let (store, tenant) = (api.shared.engine.store.clone(), tenant.to_string());
    blocking(move || {
        if oauth {
            own_record(&*store, &tenant, &id).map_err(store_error)
        } else {
            store.connection(&tenant, &id).map_err(store_error)
        }
    })
    .await
}

/// `GET .../connection`: the connection's status, never its secrets. `connected: false`
/// when nothing is stored; `scope: system` when the tenant uses the system's.
#[utoipa::path(
    get,
    path = "/api/tenant/integrations/{integration}/connection",
    tag = "connections",
    params(("integration" = String, Path, description = "the integration id")),
    responses(
        (status = 200, description = "the spec's IntegrationConnection without `credentials`, plus `connected`, `expiresAt`, `scope`; or `{connected: false}`", body = Object),
        super::openapi::Refusals,
    ),
    security(("bearer" = []))
)]
pub(super) async fn connection_status(
    State(api): State<Arc<Api>>,
    actor: Actor,
    Path(integration): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let ti = tenant_integration(&api, &actor.tenant, &integration).await?;
    actor.require(Action::ViewIntegrations)?;
    let oauth = definition(&api, &integration).is_ok_and(|d| auth_type(&d) == AuthType::OAuth2);
    let record = tenant_connection(&api, &actor.tenant, connection_id(&ti), oauth).await?;
    Ok(Json(match record {
        Some(r) => connection_view(&r),
        None => json!({ "connected": false, "integrationId": integration }),
    }))
}

/// `POST .../test`: a real call through the tenant's connection (the first page of a
/// loaded task that reads through it: the connector's cheapest authenticated read).
#[utoipa::path(
    post,
    path = "/api/tenant/integrations/{integration}/test",
    tag = "connections",
    params(("integration" = String, Path, description = "the integration id")),
    responses(
        (status = 200, description = "`{ok, latencyMs, records}` or `{ok: false, latencyMs, error}` (the error redacted)", body = Object),
        (status = 409, description = "nothing to test: not connected (`not_connected`), or no loaded task reads through the connection (`no_task_to_test`)", body = super::openapi::Problem, content_type = "application/problem+json"),
        super::openapi::Refusals,
    ),
    security(("bearer" = []))
)]
pub(super) async fn test_connection(
    State(api): State<Arc<Api>>,
    actor: Actor,
    Path(integration): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let ti = tenant_integration(&api, &actor.tenant, &integration).await?;
    actor.require(Action::ConfigureCredentials)?;
    let id = connection_id(&ti);
    let oauth = definition(&api, &integration).is_ok_and(|d| auth_type(&d) == AuthType::OAuth2);
    let record = tenant_connection(&api, &actor.tenant, id.clone(), oauth).await?;
    let Some(record) = record else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("`{integration}` is not connected"),
            format!("connect it first: POST /api/tenant/integrations/{integration}/connect"),
        )
        .code("not_connected"));
    };
    let loaded = api.shared.snapshot();
    let task = loaded
        .program
        .tasks
        .iter()
        .filter(|t| t.tenant == actor.tenant)
        .find(|t| t.connection.as_ref().is_some_and(|c| c.id == id))
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                format!("no loaded task of this tenant reads through connection `{id}`"),
                format!("the test reads the first page of a task's source: declare a connection `{id}` (integration `{integration}`, its credentials `stored`) and a task that uses it"),
            )
            .code("no_task_to_test")
        })?;
    let started = Instant::now();
    let result = api
        .shared
        .engine
        .probe(&task, &loaded.program.connections)
        .await;
    let latency = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let body = match &result {
        Ok(records) => {
            json!({"ok": true, "latencyMs": latency, "records": records, "task": task.id})
        }
        Err(message) => {
            json!({"ok": false, "latencyMs": latency, "error": message, "task": task.id})
        }
    };
    // Validated: its record says when (and an error when it failed).
    let store = api.shared.engine.store.clone();
    let ok = result.is_ok();
    blocking(move || {
        let mut r = record;
        r.last_validated_at = Some(Utc::now());
        r.status = if ok {
            crate::store::ConnectionStatus::Active
        } else {
            crate::store::ConnectionStatus::Error
        };
        store.put_connection(&r).map_err(store_error)
    })
    .await?;
    Ok(Json(body))
}

// ---- system-scope connections ----

/// The body of a system-scope connection: the credentials of the integration's auth type;
/// for `oauth2`, the client: `{"clientId"?: "...", "clientSecret": "..."}` (what a
/// definition's `stored` client values read).
fn system_secrets(auth: AuthType, body: Value) -> Result<Map<String, Value>, ApiError> {
    if auth != AuthType::OAuth2 {
        return connect::check_credentials(auth, body).map_err(connect_error);
    }
    let Value::Object(m) = body else {
        return Err(connect_error(ConnectError::BadCredentials {
            field: "body".into(),
            message: "must be a JSON object: {\"clientId\": \"...\", \"clientSecret\": \"...\"}"
                .into(),
        }));
    };
    let mut out = Map::new();
    for (k, v) in m {
        match (k.as_str(), v) {
            ("clientId" | "clientSecret", Value::String(s))
                if !s.is_empty() && !s.chars().any(char::is_control) =>
            {
                out.insert(k, Value::String(s));
            }
            ("clientId" | "clientSecret", _) => {
                return Err(connect_error(ConnectError::BadCredentials {
                    field: k,
                    message: "must be a non-empty string without control characters".into(),
                }))
            }
            _ => {
                return Err(connect_error(ConnectError::BadCredentials {
                    field: "a field".into(),
                    message: "is not an oauth2 client credential: use clientId, clientSecret"
                        .into(),
                }))
            }
        }
    }
    if out.is_empty() {
        return Err(connect_error(ConnectError::BadCredentials {
            field: "clientSecret".into(),
            message: "is required".into(),
        }));
    }
    Ok(out)
}

/// The definition of a system connection: 404 when not in the catalogue, 409 when its
/// connections are a tenant's own only.
fn system_definition(api: &Api, integration: &str) -> Result<IntegrationDefinition, ApiError> {
    let d = api
        .catalogue()?
        .get(integration, Role::SuperAdmin)
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no integration `{integration}`"),
                "GET /api/integrations lists them",
            )
            .code("integration_not_found")
        })?;
    let oauth_client = d.auth_type == IntegrationAuthType::OAuth2;
    if d.connection_scope == crate::compile::ir::IntegrationScope::Tenant && !oauth_client {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("`{integration}` has connectionScope `tenant`: each tenant connects its own"),
            "only integrations of scope `system` or `both` take a system-wide connection",
        )
        .code("tenant_scope_only"));
    }
    Ok(d)
}

/// `PUT /api/admin/connections/{integration}`: the system-wide credentials of an
/// integration (super admins). For an oauth2 integration, its OAuth client.
#[utoipa::path(
    put,
    path = "/api/admin/connections/{integration}",
    tag = "connections",
    params(("integration" = String, Path, description = "the integration id")),
    request_body(content = Object, description = "the credentials (docs/api.md, \"Connecting\"); oauth2: {\"clientId\", \"clientSecret\"}"),
    responses(
        (status = 200, description = "the connection's status, no secret", body = Object),
        (status = 400, description = "bad credentials", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 409, description = "a tenant-only integration, or no master key", body = super::openapi::Problem, content_type = "application/problem+json"),
        super::openapi::Refusals,
    ),
    security(("bearer" = []))
)]
pub(super) async fn put_system_connection(
    State(api): State<Arc<Api>>,
    actor: Actor,
    Path(integration): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    actor.require(Action::ManageSystemConnections)?;
    let d = system_definition(&api, &integration)?;
    let body: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the body is not JSON: {}", json_fault(&e)),
            "send the credentials as a JSON object",
        )
        .code("bad_json")
    })?;
    let auth = auth_type(&d);
    let secrets = system_secrets(auth, body)?;
    let keyring = keyring(&api)?;
    let store = api.shared.engine.store.clone();
    let lock = api.shared.engine.clients().secrets_lock();
    let (id, user) = (integration.clone(), actor.user_id.clone());
    let audit = audit_entry(
        &actor,
        None,
        action::CREDENTIALS_SET,
        "connection",
        &integration,
        json!({"scope": "system", "authType": auth.as_str()}),
    );
    let record = blocking(move || {
        let _serialised = lock.lock().unwrap_or_else(|e| e.into_inner());
        let owner = SecretsOwner {
            tenant: SYSTEM_TENANT,
            connection_id: &id,
            integration_id: &id,
            auth_type: auth.as_str(),
            display_name: None,
            created_by: &user,
        };
        let record = save_secrets(&*store, &keyring, &owner, secrets, None).map_err(store_error)?;
        store.append_audit(&audit).map_err(store_error)?;
        Ok(record)
    })
    .await?;
    api.shared
        .engine
        .clients()
        .forget(SYSTEM_TENANT, &integration);
    Ok(Json(connection_view(&record)))
}

/// `GET /api/admin/connections/{integration}`: the system-wide connection's status.
#[utoipa::path(
    get,
    path = "/api/admin/connections/{integration}",
    tag = "connections",
    params(("integration" = String, Path, description = "the integration id")),
    responses(
        (status = 200, description = "the connection's status, or `{connected: false}`", body = Object),
        (status = 409, description = "an integration of connectionScope `tenant` (`tenant_scope_only`)", body = super::openapi::Problem, content_type = "application/problem+json"),
        super::openapi::Refusals,
    ),
    security(("bearer" = []))
)]
pub(super) async fn get_system_connection(
    State(api): State<Arc<Api>>,
    actor: Actor,
    Path(integration): Path<String>,
) -> Result<Json<Value>, ApiError> {
    actor.require(Action::ManageSystemConnections)?;
    system_definition(&api, &integration)?;
    let (store, id) = (api.shared.engine.store.clone(), integration.clone());
    let record =
        blocking(move || own_record(&*store, SYSTEM_TENANT, &id).map_err(store_error)).await?;
    Ok(Json(match record {
        Some(r) => connection_view(&r),
        None => json!({ "connected": false, "integrationId": integration }),
    }))
}

/// `DELETE /api/admin/connections/{integration}`: deletes the system-wide connection
/// (tenants that used it have none until one is stored again, or they connect their own).
#[utoipa::path(
    delete,
    path = "/api/admin/connections/{integration}",
    tag = "connections",
    params(("integration" = String, Path, description = "the integration id")),
    responses(
        (status = 200, description = "`{deleted}`", body = Object),
        (status = 409, description = "an integration of connectionScope `tenant` (`tenant_scope_only`)", body = super::openapi::Problem, content_type = "application/problem+json"),
        super::openapi::Refusals,
    ),
    security(("bearer" = []))
)]
pub(super) async fn delete_system_connection(
    State(api): State<Arc<Api>>,
    actor: Actor,
    Path(integration): Path<String>,
) -> Result<Json<Value>, ApiError> {
    actor.require(Action::ManageSystemConnections)?;
    system_definition(&api, &integration)?;
    let audit = audit_entry(
        &actor,
        None,
        action::CREDENTIALS_DELETE,
        "connection",
        &integration,
        json!({"scope": "system"}),
    );
    let (store, id) = (api.shared.engine.store.clone(), integration.clone());
    let lock = api.shared.engine.clients().secrets_lock();
    let deleted = blocking(move || {
        let _serialised = lock.lock().unwrap_or_else(|e| e.into_inner());
        // Only the system's own record: a tenant's of the same id is never touched.
        if own_record(&*store, SYSTEM_TENANT, &id)
            .map_err(store_error)?
            .is_none()
        {
            return Ok(false);
        }
        let deleted = store
            .delete_connection(SYSTEM_TENANT, &id)
            .map_err(store_error)?;
        store.append_audit(&audit).map_err(store_error)?;
        Ok(deleted)
    })
    .await?;
    api.shared
        .engine
        .clients()
        .forget(SYSTEM_TENANT, &integration);
    Ok(Json(json!({ "deleted": deleted })))
}

/// What is wrong with a JSON body, without quoting it (it may hold a secret).
fn json_fault(e: &serde_json::Error) -> String {
    format!(
        "{:?} at line {}, column {}",
        e.classify(),
        e.line(),
        e.column()
    )
    .to_lowercase()
}
