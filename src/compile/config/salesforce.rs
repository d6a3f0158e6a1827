//! Salesforce: the connection's settings and what a task's config asks of a read
//! (`crate::connectors::salesforce` runs it).

use super::keys::Keys;

/// The REST API version when the connection names none.
pub const DEFAULT_API_VERSION: &str = "59.0";
/// The datetime field an incremental read follows by default.
pub const DEFAULT_MODIFIED_FIELD: &str = "SystemModstamp";
/// How long before the watermark an incremental read starts, by default.
pub const DEFAULT_LOOKBACK_SECONDS: u32 = 300;
/// The longest lookback: 3650 days. Longer makes no sense for a lag, and keeps the
/// window's arithmetic far from the ends of the dates cmap represents.
pub const MAX_LOOKBACK_SECONDS: u64 = 3650 * 24 * 3600;

/// A Salesforce connection's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// `instanceUrl` (`https://acme.my.salesforce.com`); `None`: the instance the OAuth2
    /// token response names.
    pub instance_url: Option<url::Url>,
    /// `apiVersion` as `NN.N` (`"59.0"`, `59`, `"v59.0"` are all `59.0`).
    pub api_version: String,
}

/// What a task's config asks of a Salesforce read.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// `incrementalSync`: read only what changed since the last run's watermark.
    pub incremental: bool,
    /// `modifiedSinceField`: the datetime field of the watermark.
    pub modified_since_field: String,
    /// `fields`: the fields to select (`Id`, the watermark field and `IsDeleted` are
    /// added); `None`: `FIELDS(STANDARD)`.
    pub fields: Option<Vec<String>>,
    /// `lookbackSeconds`: an incremental read starts this long before the watermark.
    pub lookback_seconds: u32,
    /// `includeDeleted`: query through `queryAll`, so deleted records arrive.
    pub include_deleted: bool,
}

impl Default for Query {
    fn default() -> Query {
        Query {
            incremental: false,
            modified_since_field: DEFAULT_MODIFIED_FIELD.into(),
            fields: None,
            lookback_seconds: DEFAULT_LOOKBACK_SECONDS,
            include_deleted: false,
        }
    }
}

pub(super) fn settings(k: &mut Keys<'_>) -> Settings {
    let instance_url = k.url("instanceUrl", "https://acme.my.salesforce.com");
    Settings {
        instance_url,
        api_version: api_version(k).unwrap_or_else(|| DEFAULT_API_VERSION.into()),
    }
}

/// `apiVersion`: `"59.0"`, `59.0`, `59` or `"v59.0"`, as `59.0`.
fn api_version(k: &mut Keys<'_>) -> Option<String> {
    use crate::syntax::ast::TreeNode;
    use serde_json::Value;
    let v = k.value("apiVersion")?;
    let text = match &v.node {
        TreeNode::Scalar(Value::String(s)) => s.trim().trim_start_matches('v').to_string(),
        TreeNode::Scalar(Value::Number(n)) => match n.as_f64() {
            Some(f) if n.is_u64() => format!("{f:.1}"),
            _ => n.to_string(),
        },
        _ => {
            k.wrong_type("apiVersion", v, "a version string", "\"59.0\"");
            return None;
        }
    };
    let valid = text.split('.').count() == 2
        && text
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if valid {
        Some(text)
    } else {
        k.invalid(
            v.span,
            format!(
                "`apiVersion` in {} is not an API version like 59.0",
                k.owner
            ),
            format!("`{text}`"),
            format!("write e.g. `apiVersion: \"{DEFAULT_API_VERSION}\"`"),
        );
        None
    }
}

pub(super) fn query(k: &mut Keys<'_>) -> Query {
    let incremental = k.boolean("incrementalSync");
    let field = k.checked("modifiedSinceField", "\"LastModifiedDate\"", |s| {
        identifier(s).map_err(|why| {
            (
                why,
                "name a datetime field, e.g. `modifiedSinceField: \"LastModifiedDate\"`".into(),
            )
        })
    });
    let fields = k.names("fields", "[\"Id\", \"Name\", \"Email\"]", identifier);
    let lookback = k.whole("lookbackSeconds", 0..=MAX_LOOKBACK_SECONDS, "seconds");
    let include_deleted = k.boolean("includeDeleted");
    let d = Query::default();
    Query {
        incremental: incremental.unwrap_or(d.incremental),
        modified_since_field: field.unwrap_or(d.modified_since_field),
        fields,
        lookback_seconds: lookback
            .and_then(|s| u32::try_from(s).ok())
            .unwrap_or(d.lookback_seconds),
        include_deleted: include_deleted.unwrap_or(d.include_deleted),
    }
}

/// A name safe to put in SOQL: a letter, then letters, digits, `_` and `.` (for
/// relationships: `Account.Name`). The object of a read (the schema's entity) is held
/// to it too, by the connector.
pub fn identifier(name: &str) -> Result<(), String> {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if valid {
        Ok(())
    } else {
        Err("is not a Salesforce field or object name".into())
    }
}
