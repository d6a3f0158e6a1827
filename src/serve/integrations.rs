//! The integration catalogue as tenants see it (spec "API Reference", Integration
//! Management): `GET /api/integrations` and `GET /api/integrations/{id}`, in the spec's
//! IntegrationDefinition shape. Users and tenant admins see the public definitions; a
//! `superadmin_only` one is 404 to them, exactly like one that does not exist.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::auth::{Action, Actor};
use super::control::{page_limit, query_error};
use super::http::{Api, ApiError};

/// `GET /api/integrations`: `limit` (1 to 1000, default 100) and `cursor` (the
/// `nextCursor` of the previous page).
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    /// At most this many (1 to 1000; default 100).
    #[param(value_type = Option<u32>)]
    limit: Option<String>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
}

/// One page of integrations, in id order.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationsPage {
    /// The spec's IntegrationDefinition, each.
    #[schema(value_type = Vec<Object>)]
    pub integrations: Vec<Value>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

fn unknown_integration(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no integration `{id}`"),
        "GET /api/integrations lists the integrations you may see",
    )
    .code("integration_not_found")
}

/// The available integrations the caller may see, in id order, paged.
#[utoipa::path(
    get,
    path = "/api/integrations",
    tag = "integrations",
    params(ListQuery),
    responses(
        (status = 200, description = "one page, in id order", body = IntegrationsPage),
        (status = 400, description = "a bad limit, cursor or parameter", body = super::openapi::Problem, content_type = "application/problem+json"),
        super::openapi::Refusals,
    ),
    security(("bearer" = []))
)]
pub(super) async fn list_integrations(
    State(api): State<Arc<Api>>,
    actor: Actor,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    actor.require(Action::ViewIntegrations)?;
    let Query(q) = query.map_err(|e| query_error(&e, "`limit` and `cursor`"))?;
    let limit = page_limit(q.limit.as_deref())?;
    let catalogue = api.catalogue()?;
    let visible = catalogue.list(actor.role);
    // The cursor is the last id of the previous page: ids are unique and the list is in
    // id order, so a page starts after it whatever was added or removed meanwhile.
    let after = q.cursor.as_deref();
    let rest: Vec<_> = visible
        .into_iter()
        .filter(|d| after.is_none_or(|a| d.id.as_str() > a))
        .collect();
    let page: Vec<Value> = rest
        .iter()
        .take(limit.get())
        .map(|d| serde_json::to_value(d).unwrap_or(Value::Null))
        .collect();
    let next = (rest.len() > limit.get())
        .then(|| rest.get(limit.get() - 1).map(|d| d.id.clone()))
        .flatten();
    Ok(Json(json!({ "integrations": page, "nextCursor": next })))
}

/// One integration definition.
#[utoipa::path(
    get,
    path = "/api/integrations/{id}",
    tag = "integrations",
    params(("id" = String, Path, description = "the integration id, e.g. `salesforce`")),
    responses(
        (status = 200, description = "the spec's IntegrationDefinition", body = Object),
        super::openapi::Refusals,
    ),
    security(("bearer" = []))
)]
pub(super) async fn get_integration(
    State(api): State<Arc<Api>>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    actor.require(Action::ViewIntegrations)?;
    let catalogue = api.catalogue()?;
    let definition = catalogue
        .get(&id, actor.role)
        .ok_or_else(|| unknown_integration(&id))?;
    Ok(Json(
        serde_json::to_value(definition).map_err(super::http::store_error)?,
    ))
}
