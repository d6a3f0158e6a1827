//! HubSpot: the connection's settings and what a task's config asks of a read
//! (`crate::connectors::hubspot` runs it).

use super::keys::Keys;
use super::salesforce::MAX_LOOKBACK_SECONDS;

/// How long before the watermark an incremental read starts, by default (the search
/// index lags behind writes).
pub const DEFAULT_LOOKBACK_SECONDS: u32 = 300;

/// A HubSpot connection's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// `baseUrl`; `None`: `https://api.hubapi.com`.
    pub base_url: Option<url::Url>,
}

/// What a task's config asks of a HubSpot read.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// `incrementalSync`.
    pub incremental: bool,
    /// `modifiedSinceField`: the property the watermark follows; `None`: the object's
    /// own (`lastmodifieddate` for contacts, `hs_lastmodifieddate` otherwise).
    pub modified_since_field: Option<String>,
    /// `properties` (or its spelling `fields`); `None`: the stdlib entity's properties.
    pub properties: Option<Vec<String>>,
    /// `lookbackSeconds`.
    pub lookback_seconds: u32,
}

impl Default for Query {
    fn default() -> Query {
        Query {
            incremental: false,
            modified_since_field: None,
            properties: None,
            lookback_seconds: DEFAULT_LOOKBACK_SECONDS,
        }
    }
}

pub(super) fn settings(k: &mut Keys<'_>) -> Settings {
    Settings {
        base_url: k.url("baseUrl", "https://api.hubapi.com"),
    }
}

pub(super) fn query(k: &mut Keys<'_>) -> Query {
    let incremental = k.boolean("incrementalSync");
    let field = k.checked("modifiedSinceField", "\"hs_lastmodifieddate\"", |s| {
        property_name(s).map_err(|why| {
            (
                why,
                "name a datetime property, e.g. `modifiedSinceField: \"hs_lastmodifieddate\"`"
                    .into(),
            )
        })
    });
    let example = "[\"email\", \"firstname\"]";
    let both = k.has("properties") && k.has("fields");
    let properties = k.names("properties", example, property_name);
    let fields = k.names("fields", example, property_name);
    if both {
        if let Some(at) = k.key_span("fields") {
            k.error(
                crate::diagnostics::Diagnostic::new(
                    crate::diagnostics::Code::KeyDoesNotApply,
                    at,
                    format!("`fields` and `properties` are both given in {}", k.owner),
                )
                .with_label("`fields` is another name for `properties`")
                .with_help("keep one list: `properties: [..]`"),
            );
        }
    }
    let lookback = k.whole("lookbackSeconds", 0..=MAX_LOOKBACK_SECONDS, "seconds");
    let d = Query::default();
    Query {
        incremental: incremental.unwrap_or(d.incremental),
        modified_since_field: field,
        properties: properties.or(fields),
        lookback_seconds: lookback
            .and_then(|s| u32::try_from(s).ok())
            .unwrap_or(d.lookback_seconds),
    }
}

/// A HubSpot property name: letters, digits and `_`.
pub fn property_name(name: &str) -> Result<(), String> {
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err("is not a HubSpot property name".into())
    }
}
