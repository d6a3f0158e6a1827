//! Conversion schemas and sync tasks created through the API (spec: "Conversion Schema",
//! "Sync Tasks"), kept as `.cmap` source text per tenant, one document per object: the
//! same text a file would hold, so the loader compiles both alike
//! ([`crate::store::Store::all_pipeline_documents`] at start and on reload).
//!
//! The store keeps the text and its version (the ETag); it does not check it: a write
//! is checked as `cmap check` checks a file before it reaches the store.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::page::{decode_tagged, encode_tagged, Cursor, PageError};

/// The largest document the store keeps, in bytes: a schema of a few hundred field
/// mappings is tens of kB.
pub const MAX_TEXT_BYTES: usize = 1024 * 1024;

/// What a [`PipelineDocument`] defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// A conversion schema.
    Schema,
    /// A sync task.
    Task,
}

impl DocumentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Schema => "schema",
            DocumentKind::Task => "task",
        }
    }

    /// The kind [`DocumentKind::as_str`] names.
    pub fn parse(text: &str) -> Option<DocumentKind> {
        match text {
            "schema" => Some(DocumentKind::Schema),
            "task" => Some(DocumentKind::Task),
            _ => None,
        }
    }
}

impl fmt::Display for DocumentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One schema or task of a tenant, as `.cmap` text. Unique per tenant by `(kind, id)`.
/// `version` and `createdBy`/`createdAt` are the store's: a create stores version 1, a
/// replace one more and keeps the creation fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineDocument {
    pub tenant_id: String,
    pub kind: DocumentKind,
    /// The schema's or task's id, as the text declares it.
    pub id: String,
    /// The tenant integration it belongs to (its id: the integration's).
    pub tenant_integration_id: String,
    /// The `.cmap` source, at most [`MAX_TEXT_BYTES`].
    pub text: String,
    /// For optimistic concurrency (the ETag): set by the store.
    #[serde(default)]
    pub version: u64,
    /// User ids.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

impl PipelineDocument {
    /// `Err` says why the store refuses the document: an empty id, tenant or tenant
    /// integration, or a text over [`MAX_TEXT_BYTES`].
    pub fn check(&self) -> Result<(), String> {
        let what = || format!("{} `{}`", self.kind, self.id.escape_default());
        if self.id.is_empty() {
            return Err(format!("a {} without an id", self.kind));
        }
        if self.tenant_id.is_empty() {
            return Err(format!("{} has no tenant", what()));
        }
        if self.tenant_integration_id.is_empty() {
            return Err(format!("{} names no tenant integration", what()));
        }
        if self.text.len() > MAX_TEXT_BYTES {
            return Err(format!(
                "{} is {} bytes long; at most {MAX_TEXT_BYTES}",
                what(),
                self.text.len()
            ));
        }
        Ok(())
    }
}

/// Which of a tenant's documents a list reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DocumentFilter {
    /// Only those of this tenant integration.
    pub tenant_integration: Option<String>,
    pub kind: Option<DocumentKind>,
}

/// A position in a list of documents (by kind, then id): the last one returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentCursor {
    pub kind: DocumentKind,
    pub id: String,
}

impl Cursor for DocumentCursor {
    fn encode(&self) -> String {
        let mut payload = vec![match self.kind {
            DocumentKind::Schema => b's',
            DocumentKind::Task => b't',
        }];
        payload.extend_from_slice(self.id.as_bytes());
        encode_tagged(b"pd1", &payload)
    }

    fn decode(text: &str) -> Result<DocumentCursor, PageError> {
        let mut buf = Vec::new();
        let payload = decode_tagged(text, b"pd1", &mut buf)?;
        let (kind, id) = payload.split_first().ok_or(PageError::Cursor)?;
        let kind = match kind {
            b's' => DocumentKind::Schema,
            b't' => DocumentKind::Task,
            _ => return Err(PageError::Cursor),
        };
        let id = std::str::from_utf8(id).map_err(|_| PageError::Cursor)?;
        if id.is_empty() {
            return Err(PageError::Cursor);
        }
        Ok(DocumentCursor {
            kind,
            id: id.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sample() -> PipelineDocument {
        PipelineDocument {
            tenant_id: "acme".into(),
            kind: DocumentKind::Schema,
            id: "sf-contacts".into(),
            tenant_integration_id: "salesforce".into(),
            text: "schema sf-contacts {}\n".into(),
            version: 3,
            created_by: "u-1".into(),
            created_at: DateTime::UNIX_EPOCH,
            updated_by: "u-2".into(),
            updated_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn shape() {
        let got = serde_json::to_value(sample()).expect("encodes");
        assert_eq!(
            got,
            json!({
                "tenantId": "acme",
                "kind": "schema",
                "id": "sf-contacts",
                "tenantIntegrationId": "salesforce",
                "text": "schema sf-contacts {}\n",
                "version": 3,
                "createdBy": "u-1",
                "createdAt": "1970-01-01T00:00:00Z",
                "updatedBy": "u-2",
                "updatedAt": "1970-01-01T00:00:00Z"
            })
        );
    }

    #[test]
    fn checks() {
        let with = |f: fn(&mut PipelineDocument)| {
            let mut d = sample();
            f(&mut d);
            d.check()
        };
        assert_eq!(with(|_| {}), Ok(()));
        type Change = fn(&mut PipelineDocument);
        let cases: &[(Change, &str)] = &[
            (|d| d.id.clear(), "a schema without an id"),
            (|d| d.tenant_id.clear(), "has no tenant"),
            (
                |d| d.tenant_integration_id.clear(),
                "names no tenant integration",
            ),
            (
                |d| d.text = "x".repeat(MAX_TEXT_BYTES + 1),
                "is 1048577 bytes long; at most 1048576",
            ),
        ];
        for (change, want) in cases {
            let got = with(*change);
            assert!(got.as_ref().is_err_and(|e| e.contains(want)), "{got:?}");
        }
    }

    #[test]
    fn kinds_and_cursors() {
        for kind in [DocumentKind::Schema, DocumentKind::Task] {
            assert_eq!(DocumentKind::parse(kind.as_str()), Some(kind));
            let c = DocumentCursor {
                kind,
                id: "a/é".into(),
            };
            assert_eq!(DocumentCursor::decode(&c.encode()), Ok(c));
        }
        assert_eq!(DocumentKind::parse("Schema"), None);
        let bad = [
            encode_tagged(b"pd1", b""),
            encode_tagged(b"pd1", b"s"),
            encode_tagged(b"pd1", b"xid"),
            encode_tagged(b"ti1", b"sid"),
        ];
        for text in &bad {
            assert_eq!(
                DocumentCursor::decode(text),
                Err(PageError::Cursor),
                "{text}"
            );
        }
    }
}
