//! A generic JSON REST reader: one `GET` per page, records at a path of the response,
//! five pagination styles, an incremental query parameter.
//!
//! Connection settings:
//!
//! - `baseUrl` (required) and `path` (default `/{entity}`; `{entity}` is the source
//!   entity): the first page is `baseUrl + path`.
//! - `recordsPath`: the dot path of the records array in the response (`data.items`,
//!   `results.0.rows`). Without it: the body itself when it is an array, else its
//!   `data`, `results` or `items` array. A path that leads nowhere (or to `null`) is an
//!   empty page.
//! - `pagination`: a type name, or an object with `type` and its options:
//!   - `cursor`: the next cursor is at `cursorPath` in the body (default `next_cursor`)
//!     and is sent as `cursorParam` (default `cursor`); done when it is null or empty.
//!   - `offset`: `offsetParam` (default `offset`) and `limitParam` (default `limit`,
//!     the request's page size); done on an empty page, or when the offset reaches the
//!     total at `totalPath`. (Not on a short page: an API may cap the limit.)
//!   - `page`: `pageParam` (default `page`) from `startPage` (default 1); done on an
//!     empty page or after the page numbered by `totalPagesPath`.
//!   - `link`: the RFC 8288 `Link: <URL>; rel="next"` header; done without one.
//!   - `next_url`: the URL at `nextUrlPath` (default `next`); done when null or empty.
//!   - `none` (the default): one page.
//!
//!   Every type also takes `limitParam` (the query parameter the page size is sent in),
//!   `pageSize` (1 to 10,000; default the engine's `--page-size`; it needs a
//!   `limitParam`, or offset pagination's `limit`) and `totalPath` (the total record
//!   count, for progress). Next URLs from the API are followed as given
//!   (relative ones resolve against the page's URL), but with credentials only on the
//!   connection's origin: one elsewhere is refused ([`http`]); a next page that is the
//!   page just read is an error rather than an endless loop.
//! - `idField` (default `id`, a dot path): the record's external id; a record without
//!   one, or an array element that is no object, comes back in [`Page::invalid`].
//! - `updatedField` (in a task's config also `modifiedSinceField`): the record's
//!   modification time (an RFC 3339/2822 string or a number). With it the read keeps a
//!   watermark, the newest value seen; the next run sends it as the query parameter
//!   `incrementalParam` when set, and leaves out records strictly older than it in any
//!   case (records at the watermark are kept: the schema's dedupe drops repeats).
//!
//! A task's config may give any of these but `baseUrl` (the connection's origin, where
//! its credentials go): the task's own value wins. Every setting is checked by `cmap
//! check` (`crate::compile::config::rest`) and reaches the connector typed.
//!
//! Auth is the connection's, through [`http::Client`]; statuses map through
//! [`http::classify`].
//!
//! The cursor is a JSON object: `{"offset": N}`, `{"page": N}`, `{"cursor": C}` or
//! `{"url": U}` (the next page), plus `since` (the watermark the read started from) and
//! `high` (the newest modification seen so far).

use std::cmp::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::auth::NoAuth;
use super::http::{self, Client};
use super::{Capability, Connector, ConnectorError, InvalidRecord, Page, ReadRequest};
use crate::compile::config::rest::Paging;
use crate::compile::config::{self, Settings, Source};

/// The generic REST connector.
pub struct Rest;

/// How pages follow each other (typed by `check`).
pub use crate::compile::config::rest::Pagination;

/// A REST read's settings: the connection's, with the task's own over them.
#[derive(Clone, Debug)]
pub struct Config {
    /// The first page's URL.
    pub url: url::Url,
    pub records_path: Option<String>,
    pub pagination: Pagination,
    /// The page-size parameter (`limit` for offset pagination).
    pub limit_param: Option<String>,
    /// The page size sent in `limit_param`: the pagination's `pageSize`, else the
    /// engine's.
    pub page_size: usize,
    pub total_path: Option<String>,
    pub incremental_param: Option<String>,
    pub updated_field: Option<String>,
    pub id_field: String,
}

fn permanent(message: String) -> ConnectorError {
    ConnectorError::Permanent { message }
}

impl Config {
    /// The read's settings, from what `check` typed: the connection's `settings` and
    /// the task's config over them. Only the entity can still make the URL fail (a
    /// schema's entity may be any name).
    pub fn from_request(req: &ReadRequest) -> Result<Config, ConnectorError> {
        let Settings::Rest(settings) = &req.settings else {
            return Err(super::mismatch("rest", "settings"));
        };
        let read = match &req.source {
            Source::Rest(own) => settings.read.or(own),
            Source::None => settings.read.clone(),
            _ => return Err(super::mismatch("rest", "task config")),
        };
        let path = read.path.as_deref().unwrap_or("/{entity}");
        let url = config::rest::join(&settings.base_url, path, &req.entity)
            .map_err(|why| permanent(format!("the first page's URL (baseUrl + path): {why}")))?;
        let paging = read.paging.unwrap_or(Paging {
            kind: Pagination::None,
            limit_param: None,
            page_size: None,
            total_path: None,
        });
        Ok(Config {
            url,
            records_path: read.records_path,
            pagination: paging.kind,
            limit_param: paging.limit_param,
            page_size: paging.page_size.map_or(req.page_size, |n| {
                usize::try_from(n).unwrap_or(req.page_size)
            }),
            total_path: paging.total_path,
            incremental_param: read.incremental_param,
            updated_field: read.updated_field,
            id_field: read.id_field.unwrap_or_else(|| "id".to_string()),
        })
    }
}

#[async_trait::async_trait]
impl Connector for Rest {
    fn name(&self) -> &'static str {
        "rest"
    }

    fn capabilities(&self) -> &'static [Capability] {
        &[Capability::Read]
    }

    fn start(&self, req: &ReadRequest, watermark: Option<&Value>) -> Result<Value, ConnectorError> {
        let config = Config::from_request(req)?;
        let mut cursor = Map::new();
        match config.pagination {
            Pagination::Offset { .. } => {
                cursor.insert("offset".into(), Value::from(0));
            }
            Pagination::Page { start, .. } => {
                cursor.insert("page".into(), Value::from(start));
            }
            _ => {}
        }
        if let (Some(_), Some(watermark), false) = (&config.updated_field, watermark, req.full) {
            cursor.insert("since".into(), watermark.clone());
        }
        Ok(Value::Object(cursor))
    }

    /// The `baseUrl` setting.
    fn origins(&self, settings: &Settings) -> Vec<url::Url> {
        match settings {
            Settings::Rest(s) => vec![s.base_url.clone()],
            _ => Vec::new(),
        }
    }

    async fn next_page(&self, req: &ReadRequest, cursor: &Value) -> Result<Page, ConnectorError> {
        let config = Config::from_request(req)?;
        let empty = Map::new();
        let cursor = cursor.as_object().unwrap_or(&empty);
        let since = cursor.get("since").filter(|v| !v.is_null());

        let url = page_url(&config, cursor, since)?;
        let client = match &req.http {
            Some(client) => client.clone(),
            None => Arc::new(Client::new(
                Arc::new(NoAuth),
                Vec::new(),
                Duration::from_secs(30),
            )?),
        };
        let response = client
            .execute(&|c: &reqwest::Client| {
                c.get(url.clone())
                    .header(reqwest::header::ACCEPT, "application/json")
            })
            .await?;
        http::classify(&response)?;
        let body = response.json()?;

        let items = records_of(&body, config.records_path.as_deref())?;
        let fetched = items.len();
        let mut page = Page::default();
        let mut high = cursor.get("high").filter(|v| !v.is_null()).cloned();
        for item in items {
            let record = match check_record(item, &config.id_field) {
                Ok(record) => record,
                Err(invalid) => {
                    page.invalid.push(invalid);
                    continue;
                }
            };
            if let Some(field) = &config.updated_field {
                if let Some(updated) = path(&record, field).filter(|v| !v.is_null()) {
                    if since.is_some_and(|since| compare(updated, since) == Ordering::Less) {
                        continue;
                    }
                    high = Some(newest(high, updated));
                }
            }
            page.records.push(record);
        }
        if config.updated_field.is_some() {
            page.watermark = high.clone().or_else(|| since.cloned());
        }
        page.total = config
            .total_path
            .as_deref()
            .and_then(|p| path(&body, p))
            .and_then(Value::as_u64);

        // The next page: the same cursor object with its position moved on.
        let mut next = Map::new();
        if let Some(since) = since {
            next.insert("since".into(), since.clone());
        }
        if let Some(high) = high {
            next.insert("high".into(), high);
        }
        let more = match &config.pagination {
            Pagination::None => None,
            Pagination::Cursor { path: p, .. } => {
                let sent = cursor.get("cursor");
                match path(&body, p) {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) if s.is_empty() => None,
                    Some(c) if sent == Some(c) => {
                        return Err(loops(&format!("cursor {c}")));
                    }
                    Some(c) => Some(("cursor", c.clone())),
                }
            }
            Pagination::Offset { .. } => {
                let offset = cursor.get("offset").and_then(Value::as_u64).unwrap_or(0);
                let reached = u64::try_from(fetched)
                    .ok()
                    .and_then(|n| offset.checked_add(n))
                    .ok_or_else(|| permanent(format!("the offset passed {}", u64::MAX)))?;
                let past_total = page.total.is_some_and(|t| reached >= t);
                (fetched > 0 && !past_total).then(|| ("offset", Value::from(reached)))
            }
            Pagination::Page {
                start,
                total_pages_path,
                ..
            } => {
                let number = cursor.get("page").and_then(Value::as_u64).unwrap_or(*start);
                let last = total_pages_path
                    .as_deref()
                    .and_then(|p| path(&body, p))
                    .and_then(Value::as_u64);
                let past_last = last.is_some_and(|last| number >= last);
                match number.checked_add(1) {
                    _ if fetched == 0 || past_last => None,
                    Some(next) => Some(("page", Value::from(next))),
                    None => return Err(permanent(format!("the page number passed {}", u64::MAX))),
                }
            }
            Pagination::Link => {
                next_link(&response.headers, &url)?.map(|u| ("url", Value::String(u)))
            }
            Pagination::NextUrl { path: p } => match path(&body, p) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if s.trim().is_empty() => None,
                Some(Value::String(s)) => {
                    let next = url.join(s.trim()).map_err(|e| {
                        permanent(format!("the next page's URL `{s}` is not a URL: {e}"))
                    })?;
                    Some(("url", Value::String(next.to_string())))
                }
                Some(other) => {
                    return Err(permanent(format!(
                        "`{p}` in the response must be a URL string, not {other}"
                    )))
                }
            },
        };
        if let Some((key, value)) = more {
            if key == "url" && value.as_str() == Some(url.as_str()) {
                return Err(loops(&format!("URL {url}")));
            }
            next.insert(key.into(), value);
            page.next = Some(Value::Object(next));
        }
        Ok(page)
    }
}

fn loops(what: &str) -> ConnectorError {
    permanent(format!(
        "the API's next page is the page just read ({what}): stopping rather than looping"
    ))
}

/// The URL of the page at `cursor`.
fn page_url(
    config: &Config,
    cursor: &Map<String, Value>,
    since: Option<&Value>,
) -> Result<url::Url, ConnectorError> {
    if let Some(next) = cursor.get("url").and_then(Value::as_str) {
        // A URL the API gave: it carries its own parameters.
        return url::Url::parse(next)
            .map_err(|e| permanent(format!("the cursor's URL `{next}` is not a URL: {e}")));
    }
    let mut url = config.url.clone();
    {
        let mut pairs = url.query_pairs_mut();
        if let Some(param) = &config.limit_param {
            pairs.append_pair(param, &config.page_size.to_string());
        }
        match &config.pagination {
            Pagination::Cursor { param, .. } => {
                if let Some(c) = cursor.get("cursor").filter(|c| !c.is_null()) {
                    pairs.append_pair(param, &scalar(c));
                }
            }
            Pagination::Offset { param } => {
                let offset = cursor.get("offset").and_then(Value::as_u64).unwrap_or(0);
                pairs.append_pair(param, &offset.to_string());
            }
            Pagination::Page { param, start, .. } => {
                let page = cursor.get("page").and_then(Value::as_u64).unwrap_or(*start);
                pairs.append_pair(param, &page.to_string());
            }
            Pagination::None | Pagination::Link | Pagination::NextUrl { .. } => {}
        }
        if let (Some(param), Some(since)) = (&config.incremental_param, since) {
            pairs.append_pair(param, &scalar(since));
        }
    }
    // `query_pairs_mut` leaves a bare `?` when nothing was added.
    if url.query() == Some("") {
        url.set_query(None);
    }
    Ok(url)
}

/// A JSON value as a query parameter: strings without quotes.
fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The records array of a response.
fn records_of(body: &Value, records_path: Option<&str>) -> Result<Vec<Value>, ConnectorError> {
    let found = match records_path {
        Some(p) => match path(body, p) {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(v) => v,
        },
        None => match body {
            Value::Array(_) => body,
            Value::Object(map) => ["data", "results", "items"]
                .iter()
                .find_map(|k| map.get(*k).filter(|v| v.is_array()))
                .ok_or_else(|| {
                    let keys: Vec<&str> = map.keys().map(String::as_str).collect();
                    permanent(format!(
                        "the response has no records array (no `data`, `results` or `items`; its keys: {}): set the setting `recordsPath`",
                        keys.join(", ")
                    ))
                })?,
            other => {
                return Err(permanent(format!(
                    "the response is neither an array nor an object: {}",
                    http::snippet(other.to_string().as_bytes())
                )))
            }
        },
    };
    match found {
        Value::Array(items) => Ok(items.clone()),
        other => Err(permanent(format!(
            "`{}` in the response is not an array: {}",
            records_path.unwrap_or(""),
            http::snippet(other.to_string().as_bytes())
        ))),
    }
}

fn check_record(item: Value, id_field: &str) -> Result<Value, InvalidRecord> {
    if !item.is_object() {
        return Err(InvalidRecord {
            raw: item.to_string(),
            message: "the record is not a JSON object".into(),
        });
    }
    match path(&item, id_field) {
        None | Some(Value::Null) => Err(InvalidRecord {
            raw: item.to_string(),
            message: format!("the record has no `{id_field}` (the setting `idField`)"),
        }),
        Some(_) => Ok(item),
    }
}

/// The value at a dot path (`data.items`, `rows.0.id`).
pub fn path<'a>(value: &'a Value, dot_path: &str) -> Option<&'a Value> {
    dot_path
        .split('.')
        .filter(|k| !k.is_empty())
        .try_fold(value, |v, key| match v {
            Value::Object(map) => map.get(key),
            Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        })
}

/// The `rel="next"` target of `Link` headers, resolved against the page's URL.
pub fn next_link(
    headers: &reqwest::header::HeaderMap,
    base: &url::Url,
) -> Result<Option<String>, ConnectorError> {
    for value in headers.get_all(reqwest::header::LINK) {
        let Ok(value) = value.to_str() else { continue };
        for (target, params) in parse_link(value) {
            let is_next = params.iter().any(|(name, value)| {
                name.eq_ignore_ascii_case("rel")
                    && value
                        .split_ascii_whitespace()
                        .any(|rel| rel.eq_ignore_ascii_case("next"))
            });
            if is_next {
                let url = base.join(target).map_err(|e| {
                    permanent(format!(
                        "the Link header's next URL `{target}` is not a URL: {e}"
                    ))
                })?;
                return Ok(Some(url.to_string()));
            }
        }
    }
    Ok(None)
}

/// RFC 8288 links: `<target>; name="value"; name=value, <target>; ...`.
fn parse_link(header: &str) -> Vec<(&str, Vec<(&str, String)>)> {
    let mut links = Vec::new();
    let mut rest = header;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>').map(|i| open + i) else {
            break;
        };
        let target = rest[open + 1..close].trim();
        rest = &rest[close + 1..];
        // The parameters run to the next link (a comma outside quotes) or the end.
        let mut in_quotes = false;
        let end = rest
            .char_indices()
            .find(|(_, c)| {
                if *c == '"' {
                    in_quotes = !in_quotes;
                }
                *c == ',' && !in_quotes
            })
            .map_or(rest.len(), |(i, _)| i);
        let params = rest[..end]
            .split(';')
            .filter_map(|p| {
                let (name, value) = p.split_once('=')?;
                Some((name.trim(), value.trim().trim_matches('"').to_string()))
            })
            .collect();
        links.push((target, params));
        rest = &rest[end..];
    }
    links
}

/// Orders two modification times: numbers as numbers, date strings as instants,
/// other strings as text.
pub fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => {
            match (crate::date::parse(x), crate::date::parse(y)) {
                (Ok(x), Ok(y)) => x.cmp(&y),
                _ => x.cmp(y),
            }
        }
        _ => Ordering::Equal,
    }
}

/// The newer of a watermark and a value.
pub fn newest(current: Option<Value>, value: &Value) -> Value {
    match current {
        Some(current) if compare(value, &current) != Ordering::Greater => current,
        _ => value.clone(),
    }
}
