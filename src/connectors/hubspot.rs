//! HubSpot CRM v3 objects: the list endpoint for full reads (live records, then archived
//! ones as deletes), the search endpoint for incremental reads, with its 10,000-result cap
//! handled by splitting the time window.
//!
//! Settings: `baseUrl` (default `https://api.hubapi.com`). The entity is the object type
//! (`contacts`, `companies`, `deals`, ...). Task config (both checked by `cmap check`,
//! `crate::compile::config::hubspot`):
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `incrementalSync` | `false` | read only what changed since the last run's watermark |
//! | `modifiedSinceField` | `lastmodifieddate` for contacts, else `hs_lastmodifieddate` | the property the watermark follows |
//! | `properties` (or `fields`) | the stdlib entity's properties | properties to request |
//! | `lookbackSeconds` | `300` | an incremental read starts this long before the watermark (the search index lags) |
//!
//! Records keep HubSpot's shape (`id`, `properties` with string values, `createdAt`,
//! `updatedAt`, `archived`), as the stdlib entities declare.
//!
//! Deletes: a full read pages the live records (`archived=false`) and then the archived
//! ones (`archived=true`), which are reported in [`Page::deleted`]. The search endpoint
//! never returns archived records, so an incremental read sees no deletes: the next full
//! sync reports them (and sweeps what vanished).
//!
//! The search endpoint returns at most 10,000 results per query. Results are sorted by the
//! modification property ascending, so when the next page would pass the cap the read
//! starts a new query at the newest modification time seen (`GTE`: the records at that
//! instant are read again and the engine skips unchanged content). If 10,000 records share
//! one instant the window cannot move, and the read fails saying so.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::http::{self, Client, Response};
use super::{Capability, Connector, ConnectorError, InvalidRecord, Page, ReadRequest};
use crate::compile::config::{hubspot, Settings, Source};

const DEFAULT_BASE_URL: &str = "https://api.hubapi.com";
/// The list endpoint's maximum `limit`; the search endpoint allows 200, 100 keeps both
/// pages the same size.
const MAX_LIMIT: usize = 100;
/// The search endpoint refuses `after` at or past this.
pub const SEARCH_CAP: u64 = 10_000;

pub struct HubSpot;

/// Where a read stands; serialised as the page cursor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "camelCase")]
enum Cursor {
    /// Full read through the list endpoint: live records, then archived ones.
    #[serde(rename_all = "camelCase")]
    List {
        object: String,
        properties: Vec<String>,
        archived: bool,
        after: Option<String>,
        /// Tracked so that a full read of an incremental task sets the next watermark.
        field: Option<String>,
        watermark: Option<String>,
    },
    /// Incremental read through the search endpoint: `field >= since`, ascending.
    #[serde(rename_all = "camelCase")]
    Search {
        object: String,
        properties: Vec<String>,
        field: String,
        /// The window's lower bound, RFC 3339.
        since: String,
        after: Option<String>,
        watermark: Option<String>,
    },
}

#[async_trait::async_trait]
impl Connector for HubSpot {
    fn name(&self) -> &'static str {
        "hubspot"
    }

    fn capabilities(&self) -> &'static [Capability] {
        &[Capability::Read, Capability::Search, Capability::Delete]
    }

    fn start(&self, req: &ReadRequest, watermark: Option<&Value>) -> Result<Value, ConnectorError> {
        let defaults = hubspot::Query::default();
        let q = match &req.source {
            Source::HubSpot(q) => q,
            Source::None => &defaults,
            _ => return Err(super::mismatch("hubspot", "task config")),
        };
        let object = object_type(&req.entity)?;
        let incremental = q.incremental;
        // The property names were checked at check time.
        let field = q
            .modified_since_field
            .clone()
            .unwrap_or_else(|| default_modified_property(&object).to_string());
        let lookback = q.lookback_seconds;
        let mut properties: Vec<String> = match &q.properties {
            None => default_properties(&object)
                .iter()
                .map(|p| p.to_string())
                .collect(),
            Some(listed) => listed.clone(),
        };
        if incremental && !properties.is_empty() && !properties.contains(&field) {
            properties.push(field.clone());
        }

        let watermark =
            match (incremental && !req.full, watermark) {
                (false, _) | (true, None | Some(Value::Null)) => None,
                (true, Some(w)) => Some(w.as_str().and_then(parse_time).ok_or_else(|| {
                    ConnectorError::Permanent {
                        message: format!("the stored watermark {w} is not a date"),
                    }
                })?),
            };
        let cursor = match watermark {
            Some(w) => Cursor::Search {
                object,
                properties,
                field,
                since: time_string(super::lookback_start(w, lookback, "lookbackSeconds")?),
                after: None,
                watermark: Some(time_string(w)),
            },
            None => Cursor::List {
                object,
                properties,
                archived: false,
                after: None,
                field: incremental.then_some(field),
                watermark: None,
            },
        };
        to_value(&cursor)
    }

    /// The `baseUrl` setting, else `https://api.hubapi.com`.
    fn origins(&self, settings: &Settings) -> Vec<url::Url> {
        match settings {
            Settings::HubSpot(s) => match &s.base_url {
                Some(url) => Some(url.clone()),
                None => url::Url::parse(DEFAULT_BASE_URL).ok(),
            },
            _ => None,
        }
        .into_iter()
        .collect()
    }

    async fn next_page(&self, req: &ReadRequest, cursor: &Value) -> Result<Page, ConnectorError> {
        let cursor: Cursor =
            serde_json::from_value(cursor.clone()).map_err(|e| ConnectorError::Permanent {
                message: format!("the HubSpot cursor is not one this version writes: {e}"),
            })?;
        let http = req
            .http
            .as_deref()
            .ok_or_else(|| ConnectorError::Permanent {
                message: "the HubSpot connector needs a connection".to_string(),
            })?;
        let Settings::HubSpot(settings) = &req.settings else {
            return Err(super::mismatch("hubspot", "settings"));
        };
        let base = match &settings.base_url {
            None => DEFAULT_BASE_URL.to_string(),
            Some(url) => url.as_str().trim_end_matches('/').to_string(),
        };
        let limit = req.page_size.clamp(1, MAX_LIMIT);
        match cursor {
            Cursor::List { .. } => list_page(http, &base, limit, cursor).await,
            Cursor::Search { .. } => search_page(http, &base, limit, cursor).await,
        }
    }
}

#[derive(Deserialize)]
struct ListResponse {
    results: Vec<Value>,
    /// Only for progress: read leniently (a negative or fractional count is ignored).
    #[serde(default)]
    total: Value,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct Paging {
    next: Option<Next>,
}

#[derive(Deserialize)]
struct Next {
    after: String,
}

impl ListResponse {
    fn next_after(&self) -> Option<String> {
        self.paging
            .as_ref()
            .and_then(|p| p.next.as_ref())
            .map(|n| n.after.clone())
    }
}

async fn list_page(
    http: &Client,
    base: &str,
    limit: usize,
    cursor: Cursor,
) -> Result<Page, ConnectorError> {
    let Cursor::List {
        object,
        properties,
        archived,
        after,
        field,
        watermark,
    } = cursor
    else {
        return Err(ConnectorError::Permanent {
            message: "not a list cursor".to_string(),
        });
    };
    let url = format!("{base}/crm/v3/objects/{object}");
    let mut query = vec![
        ("limit", limit.to_string()),
        ("archived", archived.to_string()),
    ];
    if !properties.is_empty() {
        query.push(("properties", properties.join(",")));
    }
    if let Some(after) = &after {
        query.push(("after", after.clone()));
    }
    let response = http
        .execute(&|client: &reqwest::Client| client.get(&url).query(&query))
        .await?;
    let body: ListResponse = parse(&response)?;
    let next_after = body.next_after();

    let mut page = Page::default();
    let mut newest = watermark.as_deref().and_then(parse_time);
    for record in body.results {
        let id = match record_id(&record) {
            Ok(id) => id,
            Err(invalid) => {
                page.invalid.push(invalid);
                continue;
            }
        };
        if archived {
            page.deleted.push(id);
            continue;
        }
        if let Some(field) = &field {
            newest = newer(newest, modified_at(&record, field));
        }
        page.records.push(record);
    }
    let watermark = newest.map(time_string);
    if field.is_some() {
        page.watermark = Some(watermark.clone().map_or(Value::Null, Value::String));
    }
    page.next = match (next_after, archived) {
        (Some(after), _) => Some(to_value(&Cursor::List {
            object,
            properties,
            archived,
            after: Some(after),
            field,
            watermark,
        })?),
        // The live records are done: now the archived ones, as deletes.
        (None, false) => Some(to_value(&Cursor::List {
            object,
            properties,
            archived: true,
            after: None,
            field,
            watermark,
        })?),
        (None, true) => None,
    };
    if !archived {
        page.total = body.total.as_u64();
    }
    Ok(page)
}

async fn search_page(
    http: &Client,
    base: &str,
    limit: usize,
    cursor: Cursor,
) -> Result<Page, ConnectorError> {
    let Cursor::Search {
        object,
        properties,
        field,
        since,
        after,
        watermark,
    } = cursor
    else {
        return Err(ConnectorError::Permanent {
            message: "not a search cursor".to_string(),
        });
    };
    let since_at = parse_time(&since).ok_or_else(|| ConnectorError::Permanent {
        message: format!("the cursor's window start `{since}` is not a date"),
    })?;
    let url = format!("{base}/crm/v3/objects/{object}/search");
    let mut body = json!({
        "filterGroups": [{"filters": [{
            "propertyName": field,
            "operator": "GTE",
            "value": since_at.timestamp_millis().to_string(),
        }]}],
        "sorts": [{"propertyName": field, "direction": "ASCENDING"}],
        "limit": limit,
    });
    if !properties.is_empty() {
        body["properties"] = json!(properties);
    }
    if let Some(after) = &after {
        body["after"] = json!(after);
    }
    let response = http
        .execute(&|client: &reqwest::Client| client.post(&url).json(&body))
        .await?;
    let result: ListResponse = parse(&response)?;
    let next_after = result.next_after();

    let mut page = Page {
        total: result.total.as_u64(),
        ..Page::default()
    };
    let mut newest = watermark.as_deref().and_then(parse_time);
    let mut window_newest: Option<DateTime<Utc>> = None;
    for record in result.results {
        if let Err(invalid) = record_id(&record) {
            page.invalid.push(invalid);
            continue;
        }
        let at = modified_at(&record, &field);
        newest = newer(newest, at);
        window_newest = newer(window_newest, at);
        page.records.push(record);
    }
    let watermark = newest.map(time_string);
    page.watermark = Some(watermark.clone().map_or(Value::Null, Value::String));

    page.next = match next_after {
        None => None,
        Some(next) => {
            let offset = next.parse::<u64>().ok();
            if offset.is_some_and(|o| o >= SEARCH_CAP) {
                // Past the cap: a new window from the newest time this window reached.
                // Sorted ascending, that is this page's newest record.
                let start = window_newest.unwrap_or(since_at);
                if start <= since_at {
                    return Err(ConnectorError::Permanent {
                        message: format!(
                            "more than {SEARCH_CAP} {object} share the modification time \
                             {since}: the search endpoint cannot page past them; run a full sync"
                        ),
                    });
                }
                tracing::debug!(%object, since = %time_string(start), "search window split at the 10,000-result cap");
                Some(to_value(&Cursor::Search {
                    object,
                    properties,
                    field,
                    since: time_string(start),
                    after: None,
                    watermark,
                })?)
            } else {
                Some(to_value(&Cursor::Search {
                    object,
                    properties,
                    field,
                    since,
                    after: Some(next),
                    watermark,
                })?)
            }
        }
    };
    Ok(page)
}

/// Reads a success body, or maps HubSpot's failures: 429 with its policy (`DAILY` is the
/// day's quota: the run stops at its checkpoint) and wait headers, others by status.
fn parse(response: &Response) -> Result<ListResponse, ConnectorError> {
    if response.status.as_u16() == 429 {
        return Err(rate_limited(response));
    }
    http::classify(response).map_err(|e| match e {
        ConnectorError::Permanent { .. }
        | ConnectorError::Auth { .. }
        | ConnectorError::Transient { .. } => with_hubspot_message(e, response),
        other => other,
    })?;
    serde_json::from_slice(&response.body).map_err(|e| ConnectorError::Permanent {
        message: format!(
            "the response is not one HubSpot sends ({e}): {}",
            http::snippet(&response.body)
        ),
    })
}

/// When to try again after the `DAILY` limit at `now`: the next full hour (UTC), an
/// estimate.
///
/// HubSpot resets the daily limit "at midnight based on the time zone setting of the
/// HubSpot account" (API usage guidelines); neither the 429 nor any header says which
/// zone. Every whole-hour zone's midnight falls on a full hour of UTC, so trying at each
/// one resumes within the hour after the reset (within 45 minutes in the :30 and :45
/// zones) at the cost of at most one refused call an hour.
pub fn daily_limit_resets_at(now: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::{DurationRound, TimeDelta};
    let hour = TimeDelta::hours(1);
    // Total at the edges of chrono's range: the latest time there is.
    now.duration_trunc(hour)
        .unwrap_or(now)
        .checked_add_signed(hour)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn rate_limited(response: &Response) -> ConnectorError {
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let policy = body.get("policyName").and_then(Value::as_str).unwrap_or("");
    let message = format!(
        "HubSpot rate limit{}: {}",
        if policy.is_empty() {
            String::new()
        } else {
            format!(" ({policy})")
        },
        body.get("message")
            .and_then(Value::as_str)
            .map_or_else(|| http::snippet(&response.body), str::to_string)
    );
    if policy == "DAILY" {
        return ConnectorError::LimitReached {
            message,
            resets_at: daily_limit_resets_at(chrono::Utc::now()),
        };
    }
    let header = |name: &str| {
        response
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    // Retry-After when given; else, with the window used up, the window's length.
    let retry_after = http::retry_after(&response.headers).or_else(|| {
        (header("X-HubSpot-RateLimit-Remaining") == Some(0))
            .then(|| header("X-HubSpot-RateLimit-Interval-Milliseconds"))
            .flatten()
            .map(std::time::Duration::from_millis)
    });
    ConnectorError::RateLimited {
        message,
        retry_after,
    }
}

/// HubSpot's error bodies say `{"status":"error","message":...,"category":...}`: use its
/// words rather than the raw body.
fn with_hubspot_message(e: ConnectorError, response: &Response) -> ConnectorError {
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let Some(text) = body.get("message").and_then(Value::as_str) else {
        return e;
    };
    let category = body
        .get("category")
        .and_then(Value::as_str)
        .unwrap_or("error");
    let message = format!("HubSpot {category} ({}): {text}", response.status);
    match e {
        ConnectorError::Auth { .. } => ConnectorError::Auth { message },
        ConnectorError::Transient { .. } => ConnectorError::Transient { message },
        _ => ConnectorError::Permanent { message },
    }
}

/// A record's `id` (a string, as HubSpot writes every id), or the record as invalid: a
/// record-level failure, the read goes on.
fn record_id(record: &Value) -> Result<String, InvalidRecord> {
    record
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| InvalidRecord {
            raw: record.to_string(),
            message: "a HubSpot record has no `id` string".to_string(),
        })
}

/// The record's modification time: the property, else `updatedAt`.
fn modified_at(record: &Value, field: &str) -> Option<DateTime<Utc>> {
    record
        .get("properties")
        .and_then(|p| p.get(field))
        .and_then(Value::as_str)
        .and_then(parse_time)
        .or_else(|| {
            record
                .get("updatedAt")
                .and_then(Value::as_str)
                .and_then(parse_time)
        })
}

fn newer(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// HubSpot dates: RFC 3339, or milliseconds since the epoch (as some properties hold);
/// read by the one date reader, [`crate::date::parse`].
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    crate::date::parse(s).ok()
}

fn time_string(at: DateTime<Utc>) -> String {
    crate::date::format(&at)
}

/// Contacts name it `lastmodifieddate`; companies, deals and the other objects
/// `hs_lastmodifieddate`.
fn default_modified_property(object: &str) -> &'static str {
    if object == "contacts" {
        "lastmodifieddate"
    } else {
        "hs_lastmodifieddate"
    }
}

/// The properties the stdlib entities declare (`stdlib/hubspot.cmap`); other objects get
/// HubSpot's defaults.
fn default_properties(object: &str) -> &'static [&'static str] {
    match object {
        "contacts" => &[
            "email",
            "firstname",
            "lastname",
            "phone",
            "mobilephone",
            "company",
            "jobtitle",
            "address",
            "city",
            "state",
            "zip",
            "country",
            "lifecyclestage",
            "hs_lead_status",
            "createdate",
            "lastmodifieddate",
            "hs_object_id",
        ],
        "companies" => &[
            "name",
            "domain",
            "website",
            "industry",
            "description",
            "phone",
            "address",
            "city",
            "state",
            "zip",
            "country",
            "numberofemployees",
            "annualrevenue",
            "createdate",
            "hs_lastmodifieddate",
            "hs_object_id",
        ],
        "deals" => &[
            "dealname",
            "amount",
            "dealstage",
            "pipeline",
            "closedate",
            "hubspot_owner_id",
            "deal_currency_code",
            "createdate",
            "hs_lastmodifieddate",
            "hs_object_id",
        ],
        _ => &[],
    }
}

/// An object type safe in a path (`contacts`, `p_custom`, `2-123456`).
fn object_type(name: &str) -> Result<String, ConnectorError> {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        Ok(name.to_string())
    } else {
        Err(ConnectorError::Permanent {
            message: format!("`{name}` is not a HubSpot object type"),
        })
    }
}

fn to_value(cursor: &Cursor) -> Result<Value, ConnectorError> {
    serde_json::to_value(cursor).map_err(|e| ConnectorError::Permanent {
        message: format!("cannot write the cursor: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modified_property_per_object() {
        for (object, expect) in [
            ("contacts", "lastmodifieddate"),
            ("companies", "hs_lastmodifieddate"),
            ("deals", "hs_lastmodifieddate"),
        ] {
            assert_eq!(default_modified_property(object), expect);
            assert!(default_properties(object).contains(&expect), "{object}");
        }
    }

    #[test]
    fn times() {
        let check = |s: &str, expect: Option<&str>| {
            assert_eq!(parse_time(s).map(time_string).as_deref(), expect, "{s}");
        };
        check("2024-03-02T10:14:40.591Z", Some("2024-03-02T10:14:40.591Z"));
        check("1709374480591", Some("2024-03-02T10:14:40.591Z"));
        check("soon", None);
    }
}
