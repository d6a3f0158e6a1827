//! Salesforce: SOQL over the REST query API, paged by `nextRecordsUrl`, incremental on
//! `SystemModstamp` (or any datetime field) with a lookback window.
//!
//! Settings: `instanceUrl` (else the instance the OAuth2 token response named),
//! `apiVersion` (default `59.0`). Task config (both checked by `cmap check`,
//! `crate::compile::config::salesforce`):
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `incrementalSync` | `false` | read only what changed since the last run's watermark |
//! | `modifiedSinceField` | `SystemModstamp` | the datetime field of the watermark |
//! | `fields` | `FIELDS(STANDARD)` | the fields to select; `Id`, the watermark field and (with `includeDeleted`) `IsDeleted` are added |
//! | `lookbackSeconds` | `300` | an incremental read starts this long before the watermark (0 to 315,360,000) |
//! | `includeDeleted` | `false` | query through `queryAll`, so deleted records arrive |
//!
//! Without `fields` the query selects `FIELDS(STANDARD)`: every standard field of the
//! object, which always exists in the org (a fixed list would break on fields an org
//! lacks, such as `CurrencyIsoCode`); custom fields must be listed.
//!
//! Records keep Salesforce's `attributes` object (the stdlib entities declare it). A
//! record with `IsDeleted: true` (only returned by `queryAll`) is reported in
//! [`Page::deleted`] instead of [`Page::records`].
//!
//! `nextRecordsUrl` must be a path on the instance: a full URL or `//host` is refused
//! rather than sent the session's token. A record without a string `Id` is an invalid
//! record (dead-lettered); the read goes on.
//!
//! Reads are ordered (`ORDER BY <field> ASC, Id ASC` incremental, `ORDER BY Id ASC`
//! full) so the cursor can also resume by key: it keeps the `nextRecordsUrl` and the last
//! record's (stamp, Id). Query locators expire after some idle minutes; a resumed cursor
//! whose locator is gone (`INVALID_QUERY_LOCATOR`) queries again from that key, so a
//! resume neither re-reads the whole window nor skips anything.
//!
//! An incremental read asks `<field> >= watermark - lookback`: records touched at the
//! watermark instant (ties) and records committed late are read again and the engine
//! skips unchanged content. The watermark moves to the newest stamp seen, so every run
//! makes progress.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::http::{self, Client, Response};
use super::{Capability, Connector, ConnectorError, InvalidRecord, Page, ReadRequest};
use crate::compile::config::{salesforce, Settings, Source};

/// Salesforce accepts batch sizes from 200 to 2,000 (a hint: it may send fewer).
const MIN_BATCH: usize = 200;
const MAX_BATCH: usize = 2000;

pub struct Salesforce;

/// Where a read stands. Serialised as the page cursor, so it must hold everything to
/// resume after a crash; it is built by [`Connector::start`] from the task config then,
/// so a config change applies to the next read, not to one in progress.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cursor {
    object: String,
    /// The SELECT list.
    select: String,
    /// `queryAll` (deleted records included) instead of `query`.
    all: bool,
    /// The watermark field; `None`: not an incremental task (ordered by Id only).
    field: Option<String>,
    /// The lower bound of an incremental read (`>=`), watermark minus lookback.
    since: Option<String>,
    /// The next batch of the running query.
    next: Option<String>,
    /// The last record read (stamp, Id): the key to query again from.
    after: Option<Key>,
    /// The newest stamp seen (or the previous run's watermark).
    watermark: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Key {
    stamp: Option<String>,
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryResponse {
    /// Only for progress: read leniently (a negative or fractional count is ignored).
    #[serde(default)]
    total_size: Value,
    done: bool,
    next_records_url: Option<String>,
    records: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    error_code: String,
}

#[async_trait::async_trait]
impl Connector for Salesforce {
    fn name(&self) -> &'static str {
        "salesforce"
    }

    fn capabilities(&self) -> &'static [Capability] {
        &[Capability::Read, Capability::Search, Capability::Delete]
    }

    fn start(&self, req: &ReadRequest, watermark: Option<&Value>) -> Result<Value, ConnectorError> {
        let defaults = salesforce::Query::default();
        let q = match &req.source {
            Source::Salesforce(q) => q,
            Source::None => &defaults,
            _ => return Err(super::mismatch("salesforce", "task config")),
        };
        let object = identifier("entity", &req.entity)?;
        let incremental = q.incremental;
        let field = q.modified_since_field.clone();
        let all = q.include_deleted;
        let select = select_list(q.fields.as_deref(), incremental.then_some(&*field), all);

        let watermark = if incremental && !req.full {
            match watermark {
                None | Some(Value::Null) => None,
                Some(Value::String(w)) => {
                    Some(parse_stamp(w).ok_or_else(|| ConnectorError::Permanent {
                        message: format!("the stored watermark `{w}` is not a date"),
                    })?)
                }
                Some(other) => {
                    return Err(ConnectorError::Permanent {
                        message: format!("the stored watermark {other} is not a date"),
                    })
                }
            }
        } else {
            None
        };
        let since = match watermark {
            Some(w) => Some(soql_datetime(super::lookback_start(
                w,
                q.lookback_seconds,
                "lookbackSeconds",
            )?)),
            None => None,
        };
        let cursor = Cursor {
            object,
            select,
            all,
            field: incremental.then_some(field),
            since,
            next: None,
            after: None,
            watermark: watermark.map(stamp_string),
        };
        serde_json::to_value(cursor).map_err(|e| ConnectorError::Permanent {
            message: format!("cannot write the cursor: {e}"),
        })
    }

    /// The `instanceUrl` setting; without it, the instance the token response names
    /// (added by the client).
    fn origins(&self, settings: &Settings) -> Vec<url::Url> {
        match settings {
            Settings::Salesforce(s) => s.instance_url.iter().cloned().collect(),
            _ => Vec::new(),
        }
    }

    async fn next_page(&self, req: &ReadRequest, cursor: &Value) -> Result<Page, ConnectorError> {
        let mut cursor: Cursor =
            serde_json::from_value(cursor.clone()).map_err(|e| ConnectorError::Permanent {
                message: format!("the Salesforce cursor is not one this version writes: {e}"),
            })?;
        let http = req
            .http
            .as_deref()
            .ok_or_else(|| ConnectorError::Permanent {
                message: "the Salesforce connector needs a connection".to_string(),
            })?;
        let Settings::Salesforce(settings) = &req.settings else {
            return Err(super::mismatch("salesforce", "settings"));
        };
        let base = instance_url(settings, http).await?;
        let version = &settings.api_version;
        let batch = req.page_size.clamp(MIN_BATCH, MAX_BATCH);

        let mut response = match &cursor.next {
            Some(next) => get(http, &next_url(&base, next)?, batch).await?,
            None => query(http, &base, version, &cursor, batch).await?,
        };
        if cursor.next.is_some()
            && error_code(&response).as_deref() == Some("INVALID_QUERY_LOCATOR")
        {
            tracing::info!(object = %cursor.object, "query locator expired; querying again from the last key");
            response = query(http, &base, version, &cursor, batch).await?;
        }
        check(&response)?;
        let body: QueryResponse =
            serde_json::from_slice(&response.body).map_err(|e| ConnectorError::Permanent {
                message: format!(
                    "the query response is not one Salesforce sends ({e}): {}",
                    http::snippet(&response.body)
                ),
            })?;

        let mut page = Page {
            total: body.total_size.as_u64(),
            ..Page::default()
        };
        let mut watermark = cursor.watermark.as_deref().and_then(parse_stamp);
        for record in body.records {
            let Some(id) = record.get("Id").and_then(Value::as_str).map(str::to_string) else {
                // One record the API sent without its key: a record-level failure, the
                // read goes on (the resume key stays the last record that had one).
                page.invalid.push(InvalidRecord {
                    raw: record.to_string(),
                    message: format!("a {} record has no `Id` string", cursor.object),
                });
                continue;
            };
            let stamp = cursor
                .field
                .as_deref()
                .and_then(|f| record.get(f))
                .and_then(Value::as_str)
                .map(str::to_string);
            if let Some(at) = stamp.as_deref().and_then(parse_stamp) {
                watermark = Some(watermark.map_or(at, |w| w.max(at)));
            }
            if record.get("IsDeleted").and_then(Value::as_bool) == Some(true) {
                page.deleted.push(id.clone());
            } else {
                page.records.push(record);
            }
            cursor.after = Some(Key { stamp, id });
        }
        cursor.watermark = watermark.map(stamp_string);
        if cursor.field.is_some() {
            page.watermark = Some(cursor.watermark.clone().map_or(Value::Null, Value::String));
        }
        page.next = match (body.done, body.next_records_url) {
            (false, Some(next)) => {
                cursor.next = Some(next);
                Some(
                    serde_json::to_value(&cursor).map_err(|e| ConnectorError::Permanent {
                        message: format!("cannot write the cursor: {e}"),
                    })?,
                )
            }
            (false, None) => {
                return Err(ConnectorError::Permanent {
                    message: "the query response says it is not done but has no nextRecordsUrl"
                        .to_string(),
                })
            }
            (true, _) => None,
        };
        Ok(page)
    }
}

/// The SOQL of a cursor: its bounds, and the key after the last record read.
fn soql(cursor: &Cursor) -> String {
    let mut conditions = Vec::new();
    if let (Some(field), Some(since)) = (&cursor.field, &cursor.since) {
        conditions.push(format!("{field} >= {since}"));
    }
    if let Some(after) = &cursor.after {
        let id = quote(&after.id);
        match (&cursor.field, after.stamp.as_deref().and_then(parse_stamp)) {
            (Some(field), Some(stamp)) => {
                let stamp = soql_datetime_exact(stamp);
                conditions.push(format!(
                    "({field} > {stamp} OR ({field} = {stamp} AND Id > {id}))"
                ));
            }
            _ => conditions.push(format!("Id > {id}")),
        }
    }
    let mut q = format!("SELECT {} FROM {}", cursor.select, cursor.object);
    if !conditions.is_empty() {
        q.push_str(" WHERE ");
        q.push_str(&conditions.join(" AND "));
    }
    match &cursor.field {
        Some(field) => q.push_str(&format!(" ORDER BY {field} ASC, Id ASC")),
        None => q.push_str(" ORDER BY Id ASC"),
    }
    q
}

async fn query(
    http: &Client,
    base: &str,
    version: &str,
    cursor: &Cursor,
    batch: usize,
) -> Result<Response, ConnectorError> {
    let endpoint = if cursor.all { "queryAll" } else { "query" };
    let q = soql(cursor);
    tracing::debug!(soql = %q, "salesforce query");
    let url = format!("{base}/services/data/v{version}/{endpoint}");
    http.execute(&|client: &reqwest::Client| {
        client
            .get(&url)
            .query(&[("q", q.as_str())])
            .header("Sforce-Query-Options", format!("batchSize={batch}"))
    })
    .await
}

async fn get(http: &Client, url: &str, batch: usize) -> Result<Response, ConnectorError> {
    http.execute(&|client: &reqwest::Client| {
        client
            .get(url)
            .header("Sforce-Query-Options", format!("batchSize={batch}"))
    })
    .await
}

/// The URL of the next batch: `nextRecordsUrl` is a path on the instance
/// (`/services/data/v59.0/query/01g...-2000`); anything else (a full URL, `//host`) is
/// refused rather than sent with the session's token.
fn next_url(base: &str, next: &str) -> Result<String, ConnectorError> {
    if next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\") {
        Ok(format!("{base}{next}"))
    } else {
        tracing::warn!(instance = %base, "a nextRecordsUrl that is not a path on the instance was refused");
        Err(ConnectorError::Permanent {
            message: format!(
                "the query response's nextRecordsUrl `{}` is not a path on the instance {base}: \
                 refused, so that the session's token is not sent elsewhere",
                http::snippet(next.as_bytes())
            ),
        })
    }
}

/// The instance to call: the `instanceUrl` setting, else the one the token response
/// named (which needs a token: `apply` fetches the first one).
async fn instance_url(
    settings: &salesforce::Settings,
    http: &Client,
) -> Result<String, ConnectorError> {
    if let Some(url) = &settings.instance_url {
        return Ok(url.as_str().trim_end_matches('/').to_string());
    }
    if http.auth.instance_url().is_none() {
        // The request is only built to let the auth fetch a token; it is never sent.
        let _unsent = http.auth.apply(http.inner.get("http://127.0.0.1/")).await?;
    }
    http.auth
        .instance_url()
        .map(|url| url.trim_end_matches('/').to_string())
        .ok_or_else(|| ConnectorError::Permanent {
            message: "no Salesforce instance: set `instanceUrl` in the connection's settings"
                .to_string(),
        })
}

/// The SELECT list: the task's `fields` (with Id, the watermark field and IsDeleted
/// added when missing), or `FIELDS(STANDARD)`, which already holds them.
fn select_list(fields: Option<&[String]>, watermark_field: Option<&str>, deleted: bool) -> String {
    // The names were checked (SOQL identifiers, a non-empty list) at check time.
    let Some(listed) = fields else {
        return "FIELDS(STANDARD)".to_string();
    };
    let mut names: Vec<String> = listed.to_vec();
    let required = ["Id"]
        .into_iter()
        .chain(watermark_field)
        .chain(deleted.then_some("IsDeleted"));
    for field in required {
        // SOQL field names are case-insensitive and a duplicate is an error.
        if !names.iter().any(|n| n.eq_ignore_ascii_case(field)) {
            names.push(field.to_string());
        }
    }
    names.join(", ")
}

/// A name safe to put in SOQL (the rule `check` holds field names to): the object of
/// a read is the schema's entity, which may be any name.
fn identifier(what: &str, name: &str) -> Result<String, ConnectorError> {
    salesforce::identifier(name)
        .map(|()| name.to_string())
        .map_err(|why| ConnectorError::Permanent {
            message: format!("{what}: `{name}` {why}"),
        })
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Salesforce writes `2024-01-15T10:30:00.000+0000`; the watermark is RFC 3339. Both
/// are read by the one date reader, [`crate::date::parse`].
fn parse_stamp(s: &str) -> Option<DateTime<Utc>> {
    crate::date::parse(s).ok()
}

fn stamp_string(at: DateTime<Utc>) -> String {
    crate::date::format(&at)
}

/// A SOQL datetime literal, floored to the second (a lower bound: flooring reads more).
fn soql_datetime(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A SOQL datetime literal with milliseconds (for the exact key comparison).
fn soql_datetime_exact(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The `errorCode` of an error response (`[{"message", "errorCode"}]`).
fn error_code(response: &Response) -> Option<String> {
    if response.status.is_success() {
        return None;
    }
    let errors: Vec<ApiError> = serde_json::from_slice(&response.body).ok()?;
    errors.into_iter().next().map(|e| e.error_code)
}

/// When to try again after `REQUEST_LIMIT_EXCEEDED` at `now`: an hour later, an estimate.
///
/// Salesforce counts API requests over a rolling 24 hours ("Total API Request
/// Allocations and Limits"): capacity comes back as the calls made 24 hours earlier age
/// out, and no response says when. An hour costs one refused call per hour while the
/// org stays over its allocation, and resumes within an hour of capacity returning.
pub fn request_limit_resets_at(now: DateTime<Utc>) -> DateTime<Utc> {
    now.checked_add_signed(chrono::TimeDelta::hours(1))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Salesforce's failures: `REQUEST_LIMIT_EXCEEDED` ends the run at its checkpoint,
/// `INVALID_SESSION_ID` after the refresh is an auth failure, a bad query is permanent.
fn check(response: &Response) -> Result<(), ConnectorError> {
    if response.status.is_success() {
        return Ok(());
    }
    let errors: Vec<ApiError> = serde_json::from_slice(&response.body).unwrap_or_default();
    let Some(first) = errors.first() else {
        return http::classify(response);
    };
    let message = format!(
        "Salesforce {} ({}): {}",
        first.error_code, response.status, first.message
    );
    let status = response.status.as_u16();
    Err(match first.error_code.as_str() {
        "REQUEST_LIMIT_EXCEEDED" => ConnectorError::LimitReached {
            message,
            resets_at: request_limit_resets_at(chrono::Utc::now()),
        },
        "INVALID_SESSION_ID" => ConnectorError::Auth { message },
        "SERVER_UNAVAILABLE" | "UNABLE_TO_LOCK_ROW" | "QUERY_TIMEOUT" => {
            ConnectorError::Transient { message }
        }
        _ if status == 429 => ConnectorError::RateLimited {
            message,
            retry_after: http::retry_after(&response.headers),
        },
        _ if status >= 500 || status == 408 => ConnectorError::Transient { message },
        _ if status == 401 || status == 403 => ConnectorError::Auth { message },
        _ => ConnectorError::Permanent { message },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(field: Option<&str>, since: Option<&str>, after: Option<(&str, &str)>) -> Cursor {
        Cursor {
            object: "Contact".into(),
            select: "Id, SystemModstamp".into(),
            all: false,
            field: field.map(Into::into),
            since: since.map(Into::into),
            next: None,
            after: after.map(|(stamp, id)| Key {
                stamp: Some(stamp.into()),
                id: id.into(),
            }),
            watermark: None,
        }
    }

    fn check_soql(c: Cursor, expect: expect_test::Expect) {
        expect.assert_eq(&soql(&c));
    }

    #[test]
    fn soql_of_cursors() {
        check_soql(
            cursor(None, None, None),
            expect_test::expect!["SELECT Id, SystemModstamp FROM Contact ORDER BY Id ASC"],
        );
        check_soql(
            cursor(None, None, Some(("x", "003A"))),
            expect_test::expect![
                "SELECT Id, SystemModstamp FROM Contact WHERE Id > '003A' ORDER BY Id ASC"
            ],
        );
        check_soql(
            cursor(Some("SystemModstamp"), Some("2024-01-15T10:25:00Z"), None),
            expect_test::expect!["SELECT Id, SystemModstamp FROM Contact WHERE SystemModstamp >= 2024-01-15T10:25:00Z ORDER BY SystemModstamp ASC, Id ASC"],
        );
        check_soql(
            cursor(
                Some("SystemModstamp"),
                Some("2024-01-15T10:25:00Z"),
                Some(("2024-01-15T10:30:00.250+0000", "003'B")),
            ),
            expect_test::expect!["SELECT Id, SystemModstamp FROM Contact WHERE SystemModstamp >= 2024-01-15T10:25:00Z AND (SystemModstamp > 2024-01-15T10:30:00.250Z OR (SystemModstamp = 2024-01-15T10:30:00.250Z AND Id > '003\\'B')) ORDER BY SystemModstamp ASC, Id ASC"],
        );
    }

    #[test]
    fn select_lists() {
        let check = |fields: Option<&[&str]>, wm: Option<&str>, deleted: bool, expect: &str| {
            let fields: Option<Vec<String>> =
                fields.map(|f| f.iter().map(|s| s.to_string()).collect());
            let got = select_list(fields.as_deref(), wm, deleted);
            assert_eq!(got, expect, "fields {fields:?}");
        };
        check(None, Some("SystemModstamp"), true, "FIELDS(STANDARD)");
        check(
            Some(&["Name", "id"]),
            Some("LastModifiedDate"),
            true,
            "Name, id, LastModifiedDate, IsDeleted",
        );
        check(Some(&["Name"]), None, false, "Name, Id");
    }

    #[test]
    fn stamps() {
        let check = |s: &str, expect: Option<&str>| {
            assert_eq!(parse_stamp(s).map(stamp_string).as_deref(), expect, "{s}");
        };
        check(
            "2024-01-15T10:30:00.000+0000",
            Some("2024-01-15T10:30:00.000Z"),
        );
        check(
            "2024-01-15T12:30:00.5+0200",
            Some("2024-01-15T10:30:00.500Z"),
        );
        check("2024-01-15T10:30:00Z", Some("2024-01-15T10:30:00.000Z"));
        check("yesterday", None);
    }
}
