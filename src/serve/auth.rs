//! Who a request acts as, in which tenant, and what they may do there: the API tokens of
//! `Authorization: Bearer TOKEN`, the `X-Tenant-Id` of super admins, and the spec's
//! permission matrix ("Access Control & Visibility").
//!
//! ```text
//! Authorization: Bearer cmap_<16 hex>_<64 hex>   -> Actor { user, role, tenant }
//! X-Tenant-Id: acme                               (super admins: the tenant acted in)
//! ```
//!
//! Every refusal of a token is the same 401 (with `WWW-Authenticate: Bearer`), whatever
//! the reason; the reason goes to the log without the token. A tenant a caller may not
//! act in answers exactly like a tenant that does not exist (404): no caller learns
//! which tenants exist unless they may see them.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use super::http::ApiError;
use crate::engine::DEFAULT_TENANT;
use crate::store::api_token::{self, AuthError};
use crate::store::identity::{valid_tenant_id, Role};
use crate::store::Store;

/// The header a super admin names the tenant they act in with (absent: `default`).
pub const TENANT_HEADER: &str = "x-tenant-id";

/// An authenticated caller and the tenant the request acts in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user_id: String,
    pub email: String,
    pub role: Role,
    /// The tenant acted in: the user's own; for a super admin, `X-Tenant-Id` (default
    /// `default`).
    pub tenant: String,
    /// The public id of the token used (for the audit log; never the secret).
    pub token_id: String,
}

/// What a request does, as the spec's permission matrix names it. The rows of
/// [`allowed`]; docs/api.md prints the same table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// View available integrations (users and tenant admins see the public ones).
    ViewIntegrations,
    /// Enable, configure and disable an integration for the tenant.
    EnableIntegration,
    /// Configure credentials (connect, disconnect, test) of a tenant-scope connection.
    ConfigureCredentials,
    /// Create, change, run, pause and resume sync tasks; retry and cancel executions.
    ManageTasks,
    /// Create and change conversion schemas.
    ConfigureSchemas,
    /// View executions and their logs (a user: their own syncs only).
    ViewLogs,
    /// Manage system-wide connections.
    ManageSystemConnections,
    /// Add, change and remove integration definitions; read the audit log.
    ManageCatalogue,
    /// Operate the server: the loaded files, reloads, metrics.
    Operate,
}

impl Action {
    /// Every action, in the order of the spec's table.
    pub const ALL: [Action; 9] = [
        Action::ViewIntegrations,
        Action::EnableIntegration,
        Action::ConfigureCredentials,
        Action::ManageTasks,
        Action::ConfigureSchemas,
        Action::ViewLogs,
        Action::ManageSystemConnections,
        Action::ManageCatalogue,
        Action::Operate,
    ];

    /// What the refusal says the caller tried.
    fn describe(self) -> &'static str {
        match self {
            Action::ViewIntegrations => "view integrations",
            Action::EnableIntegration => "enable or configure integrations",
            Action::ConfigureCredentials => "configure credentials",
            Action::ManageTasks => "manage sync tasks",
            Action::ConfigureSchemas => "configure conversion schemas",
            Action::ViewLogs => "view sync logs",
            Action::ManageSystemConnections => "manage system-wide connections",
            Action::ManageCatalogue => "manage the integration catalogue",
            Action::Operate => "operate the server",
        }
    }
}

/// The spec's permission matrix: whether `role` may do `action` at all. Finer limits
/// are the handlers' (a tenant admin enables public integrations only and configures
/// tenant-scope credentials only; a user sees their own syncs only).
pub fn allowed(role: Role, action: Action) -> bool {
    use Action::*;
    match role {
        Role::SuperAdmin => true,
        Role::TenantAdmin => matches!(
            action,
            ViewIntegrations
                | EnableIntegration
                | ConfigureCredentials
                | ManageTasks
                | ConfigureSchemas
                | ViewLogs
        ),
        Role::User => matches!(action, ViewIntegrations | ViewLogs),
    }
}

impl Actor {
    pub fn is_super_admin(&self) -> bool {
        self.role == Role::SuperAdmin
    }

    /// `Ok` when the actor's role may do `action`, else 403 `forbidden` naming it.
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        if allowed(self.role, action) {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "a {} may not {}",
                self.role.as_str().replace('_', " "),
                action.describe()
            ),
            "ask a tenant admin or a super admin; docs/api.md has the permission matrix",
        )
        .code("forbidden"))
    }
}

/// The 401 every refused token gets: the same text whatever the reason.
pub fn unauthenticated() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "a valid API token is required",
        "send `Authorization: Bearer TOKEN`; `cmap tokens create EMAIL` makes one (docs/api.md, Authentication)",
    )
    .code("unauthenticated")
}

/// A 401 as a response, with `WWW-Authenticate: Bearer` (RFC 6750 §3).
pub fn challenge(error: ApiError) -> Response {
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// The 404 of a tenant the caller may not act in, or that does not exist: one answer.
fn no_such_tenant(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no tenant `{id}`"),
        "super admins name an existing tenant in X-Tenant-Id (`cmap tenants list`); others leave the header out",
    )
    .code("tenant_not_found")
}

/// The actor `headers` authenticate at `now`: the bearer token, then the tenant.
///
/// Errors: 401 `unauthenticated` for a missing, malformed, unknown, wrong, revoked or
/// expired token (the reason is logged at `info`, without the token); 404
/// `tenant_not_found` for an `X-Tenant-Id` the caller may not act in or that does not
/// exist; 400 `bad_tenant_id` for one that is not a tenant id; 503 when the store
/// cannot be read.
pub fn authenticate(
    store: &dyn Store,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> Result<Actor, ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
        .ok_or_else(|| {
            tracing::info!(reason = "no bearer token", "API request refused");
            unauthenticated()
        })?;
    let principal = match api_token::authenticate(store, presented, now) {
        Ok(principal) => principal,
        Err(AuthError::Refused(refused)) => {
            tracing::info!(reason = %refused.reason(), "API request refused");
            return Err(unauthenticated());
        }
        Err(AuthError::Store(e)) => return Err(store_unavailable(e)),
    };
    let named = match headers.get(TENANT_HEADER) {
        None => None,
        Some(v) => {
            let text = v.to_str().ok().filter(|t| valid_tenant_id(t).is_ok());
            Some(text.ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "X-Tenant-Id is not a tenant id",
                    "a tenant id is 1 to 63 of a-z, 0-9 and -, starting with a letter or digit",
                )
                .code("bad_tenant_id")
            })?)
        }
    };
    let tenant = match (&principal.tenant_id, named) {
        // A user or tenant admin acts in their own tenant; naming it is allowed, naming
        // another is the same 404 as naming none that exists.
        (Some(own), None) => own.clone(),
        (Some(own), Some(named)) if named == own => own.clone(),
        (Some(_), Some(named)) => return Err(no_such_tenant(named)),
        (None, None) => DEFAULT_TENANT.to_string(),
        (None, Some(named)) => {
            match store.tenant_record(named) {
                Ok(Some(_)) => {}
                Ok(None) => return Err(no_such_tenant(named)),
                Err(e) => return Err(store_unavailable(e)),
            }
            named.to_string()
        }
    };
    Ok(Actor {
        user_id: principal.user_id,
        email: principal.email,
        role: principal.role,
        tenant,
        token_id: principal.token_id,
    })
}

/// The token of `Bearer TOKEN` (the scheme is case-insensitive, RFC 9110 §11.1).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn store_unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("the store failed: {e}"),
        "retry later; the server log has the details",
    )
    .code("store_unavailable")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_needs_a_token() {
        let cases = [
            ("Bearer abc", Some("abc")),
            ("bearer abc", Some("abc")),
            ("BEARER  abc ", Some("abc")),
            ("Bearer ", None),
            ("Basic abc", None),
            ("abc", None),
        ];
        for (header, expected) in cases {
            assert_eq!(bearer(header), expected, "{header:?}");
        }
    }

    #[test]
    fn the_matrix_gives_users_the_least_and_super_admins_everything() {
        for action in Action::ALL {
            assert!(allowed(Role::SuperAdmin, action));
            if allowed(Role::User, action) {
                assert!(allowed(Role::TenantAdmin, action), "{action:?}");
            }
        }
        let user: Vec<_> = Action::ALL
            .into_iter()
            .filter(|a| allowed(Role::User, *a))
            .collect();
        assert_eq!(user, [Action::ViewIntegrations, Action::ViewLogs]);
        for action in [
            Action::ManageSystemConnections,
            Action::ManageCatalogue,
            Action::Operate,
        ] {
            assert!(!allowed(Role::TenantAdmin, action), "{action:?}");
        }
    }
}
