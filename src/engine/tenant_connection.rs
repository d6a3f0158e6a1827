//! The connection of a tenant integration: what a tenant enabled (and connected) through
//! the API, written as the `connection` item a pipeline file of that tenant's folder
//! would declare, in its seed-JSON form, so the server compiles it with the tenant's
//! documents and a task of the tenant that names no connection reads through it
//! ([`crate::compile::ir::serving_connection`]).
//!
//! ```text
//! TenantIntegration {tenantId: "acme", integrationId: "salesforce", settings: {..}}
//!   + IntegrationDefinition salesforce {authType: oauth2, oauthConfig: {..}}
//!   -> {"$kind": "connection", "id": "conn_acme_salesforce", "integrationId": "salesforce",
//!       "scope": "tenant", "authType": "oauth2",
//!       "credentials": {"clientId": {"env": "SALESFORCE_CLIENT_ID"}, ...,
//!                       "refreshToken": {"stored": true}, "tokenUrl": "https://..."},
//!       "settings": {..}}
//! ```
//!
//! The secrets it names `stored` are the ones the connect flow stores under
//! [`connection_id`] in the tenant ([`super::connect`]).

use serde_json::{json, Map, Value};

use crate::compile::ir::{
    CredentialValue, IntegrationAuthType, IntegrationDefinition, IntegrationScope,
};
use crate::store::tenant_integration::{IntegrationStatus, TenantIntegration};

/// The id of tenant `tenant`'s connection of `integration`: `conn_TENANT_INTEGRATION`.
/// Ids are unique across the workspace, and no tenant id holds `_`, so two tenant
/// integrations never share one.
pub fn connection_id(tenant: &str, integration: &str) -> String {
    format!("conn_{tenant}_{integration}")
}

/// The seed JSON of `ti`'s connection, or `None` when it has none: disabled, an
/// integration of `connectionScope: system` (its tenants read through the system
/// connection), or one cmap has no connector for (the AI providers).
///
/// Credentials: `oauth2` names the definition's client id and secret as the definition
/// does (`env`, `stored`, or a plain client id) and the tokens the connect flow stored;
/// the token URL is the tenant integration's override, else the definition's. `api_key`
/// and `basic` name the stored credentials. `custom` integrations connect without a
/// stored header (RSS, Google News feeds, a public REST API): their connection
/// authenticates with nothing (`auth none`); a REST API that needs headers is declared
/// in a pipeline file of the tenant's folder.
pub fn connection_seed(ti: &TenantIntegration, def: &IntegrationDefinition) -> Option<Value> {
    if ti.status == IntegrationStatus::Disabled
        || def.connection_scope == IntegrationScope::System
        || crate::connectors::for_integration(&def.id).is_none()
    {
        return None;
    }
    let stored = || json!({ "stored": true });
    let (auth_type, credentials) = match def.auth_type {
        IntegrationAuthType::OAuth2 => {
            let config = def.oauth_config.as_ref()?;
            let mut credentials = Map::new();
            credentials.insert("clientId".into(), credential(&config.client_id));
            credentials.insert("clientSecret".into(), credential(&config.client_secret));
            credentials.insert("refreshToken".into(), stored());
            let token_url = ti
                .token_url
                .clone()
                .unwrap_or_else(|| config.token_url.clone());
            credentials.insert("tokenUrl".into(), Value::String(token_url));
            ("oauth2", Value::Object(credentials))
        }
        IntegrationAuthType::ApiKey => ("api_key", json!({ "apiKey": stored() })),
        IntegrationAuthType::Basic => (
            "basic",
            json!({ "username": stored(), "password": stored() }),
        ),
        IntegrationAuthType::Custom => ("none", json!({})),
    };
    Some(json!({
        "$kind": "connection",
        "id": connection_id(&ti.tenant_id, &def.id),
        "displayName": format!("{} ({})", def.display_name, ti.tenant_id),
        "integrationId": def.id,
        "scope": "tenant",
        "authType": auth_type,
        "credentials": credentials,
        "settings": Value::Object(ti.settings.clone()),
    }))
}

/// A credential value in seed JSON: `"text"`, `{"env": "VAR"}` or `{"stored": true}`.
fn credential(value: &CredentialValue) -> Value {
    match value {
        CredentialValue::Plain(text) => Value::String(text.clone()),
        CredentialValue::Env(var) => json!({ "env": var }),
        CredentialValue::Stored => json!({ "stored": true }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant_integration(integration: &str, status: IntegrationStatus) -> TenantIntegration {
        // Each connector's own settings (what `check` holds them to).
        let settings = match integration {
            "salesforce" => json!({"apiVersion": "59.0"}),
            "rest" => json!({"baseUrl": "https://api.example.com", "path": "/people"}),
            _ => json!({}),
        };
        serde_json::from_value(json!({
            "id": integration, "tenantId": "acme", "integrationId": integration,
            "status": status, "enabledAt": "2026-12-01T00:00:00Z", "enabledBy": "u1",
            "settings": settings,
            "tokenUrl": "http://127.0.0.1:9/token",
            "createdAt": "2026-12-01T00:00:00Z", "updatedAt": "2026-12-01T00:00:00Z",
            "version": 1
        }))
        .expect("a tenant integration")
    }

    /// The stdlib's definitions, compiled.
    fn stdlib() -> crate::compile::ir::Program {
        let checked = crate::workspace::check(&[], None).expect("reads");
        checked.program.expect("the stdlib checks")
    }

    /// Each seed compiles, as a file of acme's folder would, into the connection the
    /// seed says, of tenant acme.
    #[test]
    fn each_connection_compiles_in_its_tenants_folder() {
        let program = stdlib();
        let dir = tempfile::tempdir().expect("temp dir");
        let folder = dir.path().join("pipelines/tenants/acme");
        std::fs::create_dir_all(&folder).expect("mkdir");
        let mut want = Vec::new();
        for integration in ["salesforce", "hubspot", "rss", "rest"] {
            let def = program.integration(integration).expect("in the stdlib");
            let ti = tenant_integration(integration, IntegrationStatus::Connected);
            let seed = connection_seed(&ti, def).expect("a connection");
            let text = serde_json::to_string_pretty(&seed).expect("JSON");
            std::fs::write(folder.join(format!("{integration}.json")), text).expect("write");
            want.push(connection_id("acme", integration));
        }
        let checked =
            crate::workspace::check(&[dir.path().join("pipelines")], None).expect("reads");
        let errors: Vec<_> = checked
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
        let compiled = checked.program.expect("checks");
        for id in want {
            let c = compiled.connection(&id).expect("compiled");
            assert_eq!(c.tenant.as_deref(), Some("acme"), "{id}");
        }
        let sf = compiled
            .connection(&connection_id("acme", "salesforce"))
            .expect("compiled");
        let fields: Vec<(&str, &CredentialValue)> = sf
            .auth
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v))
            .collect();
        assert!(
            fields.contains(&("refreshToken", &CredentialValue::Stored)),
            "{fields:?}"
        );
        assert!(
            fields.contains(&(
                "tokenUrl",
                &CredentialValue::Plain("http://127.0.0.1:9/token".into())
            )),
            "the tenant's token URL wins: {fields:?}"
        );
    }

    #[test]
    fn disabled_system_and_connectorless_integrations_have_none() {
        let program = stdlib();
        let sf = program.integration("salesforce").expect("stdlib");
        assert!(connection_seed(
            &tenant_integration("salesforce", IntegrationStatus::Disabled),
            sf
        )
        .is_none());
        let news = program.integration("google-news").expect("stdlib");
        assert!(connection_seed(
            &tenant_integration("google-news", IntegrationStatus::Connected),
            news
        )
        .is_none());
        let openai = program.integration("openai").expect("stdlib");
        assert!(connection_seed(
            &tenant_integration("openai", IntegrationStatus::Connected),
            openai
        )
        .is_none());
    }
}
