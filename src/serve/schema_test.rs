//! `POST /api/tenant/integrations/{integration}/schemas/{id}/test` (spec "API
//! Reference", Conversion Schemas: "Test with sample data"): maps sample records with the
//! schema as it serves now and says, per record, the shard it makes, why it is skipped,
//! or why it fails, and per field where its value came from (what `cmap map --explain`
//! writes). Nothing is stored and no shard is looked up.
//!
//! ```text
//! {"records": [{"Id": "003A", "Email": "ADA@X.COM"}, ...], "config": {"industry": "x"}}
//!   -> {"results": [{"index": 0, "outcome": "mapped", "shard": {"shardTypeId", "externalId",
//!        "structuredData", "explain": [...]}}, {"index": 1, "outcome": "skipped",
//!        "reason": "IsDeleted eq false"}, {"index": 2, "outcome": "failed", "error": {..}}],
//!       "mapped": 1, "skipped": 1, "failed": 1}
//! ```

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Map, Value};

use super::auth::{Action, Actor};
use super::documents::{locate, tenant_integration};
use super::http::{Api, ApiError};
use crate::runtime::{self, Context, NoShards, Outcome};
use crate::store::DocumentKind;

/// At most this many records per test.
pub const MAX_TEST_RECORDS: usize = 1000;

/// The body of a test.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    /// Source records, as the connector would read them (at most 1000).
    #[schema(value_type = Vec<Object>)]
    records: Vec<Value>,
    /// A task's `config`, for `{{task.KEY}}` and scripts (default: none).
    #[serde(default)]
    #[schema(value_type = Object)]
    config: Map<String, Value>,
}

fn bad(detail: String) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        detail,
        "send {\"records\": [ {..}, .. ], \"config\": {..}} with at most 1000 records",
    )
    .code("bad_test")
}

/// Maps sample records with a schema of the tenant.
#[utoipa::path(
    post,
    path = "/api/tenant/integrations/{integration}/schemas/{id}/test",
    tag = "schemas",
    params(
        ("integration" = String, Path, description = "the tenant integration"),
        ("id" = String, Path, description = "the schema id"),
    ),
    request_body(content = TestRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "`{results, mapped, skipped, failed}`: per record, the shard (with where each field came from), the skip or the failure", body = Object),
        (status = 400, description = "not a test body", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 409, description = "the schema is not serving (its last save did not load)", body = super::openapi::Problem, content_type = "application/problem+json"),
        super::openapi::Refusals,
    ),
    security(("bearer" = []))
)]
pub(super) async fn test_schema(
    State(api): State<Arc<Api>>,
    actor: Actor,
    Path((integration, id)): Path<(String, String)>,
    body: Result<Json<TestRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    // The object first (another tenant's schema is 404), then the role.
    tenant_integration(&api, &actor, &integration).await?;
    locate(&api, &actor.tenant, DocumentKind::Schema, &integration, &id).await?;
    actor.require(Action::ConfigureSchemas)?;
    let Json(request) = body.map_err(|e| bad(e.body_text()))?;
    if request.records.len() > MAX_TEST_RECORDS {
        return Err(bad(format!(
            "{} records; at most {MAX_TEST_RECORDS}",
            request.records.len()
        )));
    }
    let loaded = api.shared.snapshot();
    let schema = loaded.program.schema(&id).cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            format!("schema `{id}` is stored but not serving"),
            "GET /api/pipelines shows why its last version did not load",
        )
        .code("schema_not_serving")
    })?;
    let has_relationships = !schema.relationships.is_empty();
    let ctx = Context {
        task: &request.config,
        shards: &NoShards,
        explain: true,
    };
    let (mut mapped, mut skipped, mut failed) = (0, 0, 0);
    let mut results = Vec::with_capacity(request.records.len());
    for (index, record) in request.records.iter().enumerate() {
        // The same lines `cmap map --explain` and `--errors` write.
        let mut line = Vec::new();
        let result = match runtime::map_record(&schema, record, &ctx) {
            Outcome::Mapped(m) => {
                mapped += 1;
                let _ = runtime::write_mapped(&mut line, &m, true, has_relationships);
                let shard: Value = serde_json::from_slice(&line).unwrap_or(Value::Null);
                json!({ "index": index, "outcome": "mapped", "shard": shard })
            }
            Outcome::Skipped(s) => {
                skipped += 1;
                json!({ "index": index, "outcome": "skipped", "reason": s.description })
            }
            Outcome::Failed(e) => {
                failed += 1;
                let _ = runtime::write_error(&mut line, index + 1, record, &e);
                let error: Value = serde_json::from_slice(&line).unwrap_or(Value::Null);
                json!({ "index": index, "outcome": "failed", "error": error })
            }
        };
        results.push(result);
    }
    Ok(Json(json!({
        "results": results,
        "mapped": mapped,
        "skipped": skipped,
        "failed": failed,
    })))
}
