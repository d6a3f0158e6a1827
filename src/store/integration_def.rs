//! The integration catalogue's stored entries (issue 9, "The integration catalogue"): a
//! super admin's changes, layered over the standard library's definitions by
//! `engine::catalogue`. Global, not per tenant: one catalogue serves every tenant.
//!
//! A stdlib definition is never edited in place: an entry replaces it whole (an override,
//! a full definition with its id) or withdraws it (`Disabled`). An entry whose id the
//! stdlib does not define adds an integration. Entries are kept as the seed-JSON text
//! they were accepted as, so what a super admin wrote is what is read back, checked
//! again with the stdlib of the day.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One stored catalogue entry (`/integration-def/ID`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationDefRecord {
    /// The integration id (the definition's `id`).
    pub id: String,
    /// 1 for the first write of this id, one more for each write after it (a delete
    /// forgets it). What tells two writes apart (`ETag`, caches).
    pub version: u64,
    pub entry: IntegrationDefEntry,
    pub updated_at: DateTime<Utc>,
}

/// What an entry says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum IntegrationDefEntry {
    /// A whole IntegrationDefinition as seed JSON text (checked when it was written):
    /// a new integration, or the replacement of the stdlib's of the same id.
    #[serde(rename_all = "camelCase")]
    Definition { seed_json: String },
    /// The stdlib definition of this id is withdrawn from the catalogue.
    Disabled,
}
