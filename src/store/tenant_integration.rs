//! A tenant's instance of a catalogue integration (spec: "Integration Configuration",
//! `TenantIntegration`): whether it is enabled and connected, its settings, and the
//! version that makes concurrent edits safe (`ETag` / `If-Match`, HTTP 412).
//!
//! One per tenant per integration: the record's `id` is the integration's id. The
//! spec's `syncTasks` and `conversionSchemas` are not members: they are the tenant's
//! [`super::pipeline_doc::PipelineDocument`]s that name this record, listed by
//! [`crate::store::Store::pipeline_documents`].
//!
//! Extension of the spec: `authorizationUrl` and `tokenUrl` override the definition's
//! OAuth endpoints for this tenant only, where a provider logs each customer in at its
//! own address (a Salesforce sandbox, `test.salesforce.com`, or a My Domain,
//! `acme.my.salesforce.com`). Tests point them at a mock provider the same way.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::page::{decode_tagged, encode_tagged, Cursor, PageError};

/// `status` of a [`TenantIntegration`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationStatus {
    /// Enabled, not (yet) connected.
    Pending,
    /// Connected: its connection works.
    Connected,
    /// Its connection failed (`connectionError` says how).
    Error,
    /// Disabled by an admin: nothing of it runs.
    Disabled,
}

/// A tenant's integration. `version` is the store's: 1 when created, one more at each
/// update ([`crate::store::Store::update_tenant_integration`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantIntegration {
    /// The integration's id (`salesforce`): one record per tenant per integration.
    pub id: String,
    pub tenant_id: String,
    /// The catalogue entry (the same as `id`).
    pub integration_id: String,
    pub status: IntegrationStatus,
    pub enabled_at: DateTime<Utc>,
    /// The id of the user who enabled it.
    pub enabled_by: String,
    /// The connection holding its credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_connected_at: Option<DateTime<Utc>>,
    /// Why the last connection attempt failed (redacted by its writer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_error: Option<String>,
    /// Integration-specific settings, checked against what the definition declares.
    #[serde(default)]
    pub settings: Map<String, Value>,
    /// Overrides the definition's `oauthConfig.authorizationUrl` (module docs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_url: Option<String>,
    /// Overrides the definition's `oauthConfig.tokenUrl` (module docs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// For optimistic concurrency (the ETag): set by the store.
    #[serde(default)]
    pub version: u64,
}

impl TenantIntegration {
    /// `Err` says why the store refuses the record: an empty id, an id that is not its
    /// integration's, an empty tenant.
    pub fn check(&self) -> Result<(), String> {
        if self.id.is_empty() {
            return Err("a tenant integration without an id".into());
        }
        if self.id != self.integration_id {
            return Err(format!(
                "tenant integration `{}` names integration `{}`: its id is its integration's",
                self.id.escape_default(),
                self.integration_id.escape_default()
            ));
        }
        if self.tenant_id.is_empty() {
            return Err(format!(
                "tenant integration `{}` has no tenant",
                self.id.escape_default()
            ));
        }
        Ok(())
    }
}

/// A position in a tenant's integrations (in id order): the id of the last one returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantIntegrationCursor {
    pub id: String,
}

impl Cursor for TenantIntegrationCursor {
    fn encode(&self) -> String {
        encode_tagged(b"ti1", self.id.as_bytes())
    }

    fn decode(text: &str) -> Result<TenantIntegrationCursor, PageError> {
        let mut buf = Vec::new();
        let payload = decode_tagged(text, b"ti1", &mut buf)?;
        let id = std::str::from_utf8(payload).map_err(|_| PageError::Cursor)?;
        if id.is_empty() {
            return Err(PageError::Cursor);
        }
        Ok(TenantIntegrationCursor { id: id.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    pub(crate) fn sample() -> TenantIntegration {
        TenantIntegration {
            id: "salesforce".into(),
            tenant_id: "acme".into(),
            integration_id: "salesforce".into(),
            status: IntegrationStatus::Pending,
            enabled_at: DateTime::UNIX_EPOCH,
            enabled_by: "u-1".into(),
            connection_id: None,
            last_connected_at: None,
            connection_error: None,
            settings: Map::new(),
            authorization_url: Some("https://test.salesforce.com/services/oauth2/authorize".into()),
            token_url: None,
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
            version: 1,
        }
    }

    #[test]
    fn spec_shape() {
        let got = serde_json::to_value(sample()).expect("encodes");
        assert_eq!(
            got,
            json!({
                "id": "salesforce",
                "tenantId": "acme",
                "integrationId": "salesforce",
                "status": "pending",
                "enabledAt": "1970-01-01T00:00:00Z",
                "enabledBy": "u-1",
                "settings": {},
                "authorizationUrl": "https://test.salesforce.com/services/oauth2/authorize",
                "createdAt": "1970-01-01T00:00:00Z",
                "updatedAt": "1970-01-01T00:00:00Z",
                "version": 1
            })
        );
        let back: TenantIntegration = serde_json::from_value(got).expect("decodes");
        assert_eq!(back, sample());
    }

    #[test]
    fn checks() {
        let with = |f: fn(&mut TenantIntegration)| {
            let mut r = sample();
            f(&mut r);
            r.check()
        };
        assert_eq!(with(|_| {}), Ok(()));
        assert!(with(|r| r.id.clear()).is_err_and(|e| e.contains("without an id")));
        assert!(with(|r| r.integration_id = "hubspot".into())
            .is_err_and(|e| e.contains("its id is its integration's")));
        assert!(with(|r| r.tenant_id.clear()).is_err_and(|e| e.contains("has no tenant")));
    }

    #[test]
    fn cursors_round_trip_and_refuse_others() {
        let c = TenantIntegrationCursor {
            id: "salesforce".into(),
        };
        assert_eq!(TenantIntegrationCursor::decode(&c.encode()), Ok(c));
        let other = super::super::LogCursor { seq: 1 }.encode();
        assert_eq!(
            TenantIntegrationCursor::decode(&other),
            Err(PageError::Cursor)
        );
        assert_eq!(
            TenantIntegrationCursor::decode(&encode_tagged(b"ti1", b"")),
            Err(PageError::Cursor)
        );
    }
}
