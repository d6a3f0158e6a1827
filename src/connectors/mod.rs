//! Connectors: one external system per file behind one trait.
//!
//! A connector reads one entity page by page. It is **stateless between pages**: each
//! [`Page`] carries the cursor that resumes right after it, and the engine commits that
//! cursor in the same atomic write as the page's shards. Resuming after a crash is
//! therefore just "call `next_page` with the last committed cursor": nothing is fetched
//! twice into the store and nothing is skipped.
//!
//! Incremental reads work the same way: the cursor carries the watermark (the newest
//! modification time seen); when a run completes, the engine keeps the last page's
//! `watermark` for the next run's [`Connector::start`].
//!
//! Connectors know HTTP and the external API's shapes; they know nothing of the store,
//! the mapping or the schedule.
//!
//! The engine reads pages through [`read_page`], never [`Connector::next_page`]
//! directly: it masks every secret of the connection's auth (in all the encodings
//! `crate::redact` knows) in everything the page or the error carries, since all of it
//! is built from an upstream's words and ends up stored, logged or shown.

pub mod auth;
pub mod files;
pub mod http;
pub mod hubspot;
pub mod oauth;
pub mod rest;
pub mod rss;
pub mod salesforce;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::compile::config::{Settings, Source};

/// The spec's IntegrationCapability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Capability {
    Read,
    Write,
    Delete,
    Search,
    Realtime,
    Bulk,
    Attachments,
}

impl Capability {
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Read => "read",
            Capability::Write => "write",
            Capability::Delete => "delete",
            Capability::Search => "search",
            Capability::Realtime => "realtime",
            Capability::Bulk => "bulk",
            Capability::Attachments => "attachments",
        }
    }
}

/// What to read, and with what.
#[derive(Clone)]
pub struct ReadRequest {
    /// The source entity (`Contact`, `contacts`, `article`).
    pub entity: String,
    /// What the task's `config` says to the connector (`query`, `maxResults`,
    /// `incrementalSync`, `modifiedSinceField`, ...), typed by `check`.
    pub source: Source,
    /// The connection's `settings` (`instanceUrl`, `baseUrl`, `path`, `apiVersion`, ...),
    /// typed by `check`.
    pub settings: Settings,
    /// Ignore the watermark and read everything (a full sync: deletes are swept after it).
    pub full: bool,
    /// Records per page the connector should ask for, where the API lets it choose.
    pub page_size: usize,
    /// Authenticated HTTP (absent for the files connector).
    pub http: Option<Arc<http::Client>>,
    /// Relative paths in `settings` resolve against this (the pipeline file's directory).
    pub base_dir: PathBuf,
}

/// One page of a read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    /// Source records, each a JSON object shaped as the entity definition in stdlib/ says.
    pub records: Vec<Value>,
    /// External ids the source reports as deleted (Salesforce `IsDeleted`, HubSpot
    /// `archived`). The engine deletes their shards when the schema says `delete_if_removed`.
    pub deleted: Vec<String>,
    /// The cursor resuming right after this page; `None`: the read is complete.
    pub next: Option<Value>,
    /// The watermark to keep if the run completes after this page (the newest
    /// modification seen so far); `None`: not an incremental read.
    pub watermark: Option<Value>,
    /// Total records of the read, when the API says.
    pub total: Option<u64>,
    /// Source records this page could not turn into records (a JSON line that does not
    /// parse, a feed item with neither title nor link). They are record-level problems:
    /// the engine dead-letters them and counts them as failed; the read goes on.
    pub invalid: Vec<InvalidRecord>,
}

/// A source record a connector could not read, kept as it came for the dead-letter store.
#[derive(Clone, Debug, PartialEq)]
pub struct InvalidRecord {
    /// The record as the source wrote it (a line of a file, an item of a feed as JSON).
    pub raw: String,
    /// Why it was not read, with where it is (`line 7: expected `,` or `}` at column 12`).
    pub message: String,
}

/// Why a read failed. The engine retries `Transient` and `RateLimited` per the task's
/// retry config, ends the run as partial at the last checkpoint on `LimitReached` (and
/// pauses the task until the quota resets), and
/// fails the run on `Auth` and `Permanent`.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ConnectorError {
    /// 5xx, timeouts, connection resets: worth trying again.
    #[error("{message}")]
    Transient { message: String },
    /// 429 and the like; `retry_after` when the API says how long to wait.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after: Option<Duration>,
    },
    /// A quota for the day is used up (Salesforce `REQUEST_LIMIT_EXCEEDED`, HubSpot's
    /// `DAILY` policy): stop here, keep what is committed, and start no run before
    /// `resets_at`, when the quota is expected back (the provider's rule, or the
    /// connector's estimate where the provider does not say; see docs/sync.md).
    #[error("{message}")]
    LimitReached {
        message: String,
        resets_at: chrono::DateTime<chrono::Utc>,
    },
    /// Credentials rejected even after a refresh.
    #[error("{message}")]
    Auth { message: String },
    /// 400s, malformed responses, bad settings: retrying would not help.
    #[error("{message}")]
    Permanent { message: String },
}

impl ConnectorError {
    /// The message, whatever the kind.
    pub fn message_mut(&mut self) -> &mut String {
        match self {
            ConnectorError::Transient { message, .. }
            | ConnectorError::RateLimited { message, .. }
            | ConnectorError::LimitReached { message, .. }
            | ConnectorError::Auth { message, .. }
            | ConnectorError::Permanent { message, .. } => message,
        }
    }

    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ConnectorError::Transient { .. } | ConnectorError::RateLimited { .. }
        )
    }
}

/// One external system.
#[async_trait::async_trait]
pub trait Connector: Send + Sync {
    /// The integration id it serves (`salesforce`, `hubspot`, `google-news`, `rss`,
    /// `rest`, `files`).
    fn name(&self) -> &'static str;
    fn capabilities(&self) -> &'static [Capability];
    /// The cursor of a new read. `watermark` is the last completed run's, `None` on the
    /// first run and when `req.full`.
    fn start(&self, req: &ReadRequest, watermark: Option<&Value>) -> Result<Value, ConnectorError>;
    /// Reads the page at `cursor`.
    async fn next_page(&self, req: &ReadRequest, cursor: &Value) -> Result<Page, ConnectorError>;
    /// The origins the connection's credentials may be sent to, from its settings (the
    /// API base URL it is configured with, or the API's default one). The OAuth2
    /// instance URL is added by [`http::Client`] as it becomes known.
    fn origins(&self, settings: &Settings) -> Vec<url::Url>;
}

/// Reads the page at `cursor` through `connector`, with every secret the request's auth
/// has sent masked in the page (records, deletes, cursor, watermark, invalid records)
/// or the error. What the engine calls instead of [`Connector::next_page`].
pub async fn read_page(
    connector: &dyn Connector,
    req: &ReadRequest,
    cursor: &Value,
) -> Result<Page, ConnectorError> {
    let result = connector.next_page(req, cursor).await;
    // Built after the read: an OAuth2 token refreshed during it is known by now.
    let redactor = redactor(req);
    if redactor.is_empty() {
        return result;
    }
    match result {
        Ok(mut page) => {
            redact_page(&redactor, &mut page);
            Ok(page)
        }
        Err(mut e) => {
            redactor.string(e.message_mut());
            Err(e)
        }
    }
}

/// The redactor of a request's auth (one that changes nothing without credentials).
pub fn redactor(req: &ReadRequest) -> crate::redact::Redactor {
    match &req.http {
        Some(http) => redactor_of(&*http.auth),
        None => crate::redact::Redactor::none(),
    }
}

/// The redactor of the secrets an auth sends.
pub fn redactor_of(auth: &dyn auth::Auth) -> crate::redact::Redactor {
    let secrets = auth.secrets();
    crate::redact::Redactor::new(secrets.iter().map(|s| match s {
        auth::SentSecret::Value(v) => crate::redact::Known::Value(v.expose()),
        auth::SentSecret::Basic { user, password } => crate::redact::Known::Basic {
            user,
            password: password.expose(),
        },
    }))
}

fn redact_page(redactor: &crate::redact::Redactor, page: &mut Page) {
    for record in &mut page.records {
        redactor.value(record);
    }
    for id in &mut page.deleted {
        redactor.string(id);
    }
    for value in page.next.iter_mut().chain(page.watermark.iter_mut()) {
        redactor.value(value);
    }
    for invalid in &mut page.invalid {
        redactor.string(&mut invalid.raw);
        redactor.string(&mut invalid.message);
    }
}

/// The start of an incremental window: `watermark` minus `seconds` (a task's
/// `lookbackSeconds`), or a `Permanent` error naming `key` when that falls outside the
/// dates cmap can represent.
pub fn lookback_start(
    watermark: chrono::DateTime<chrono::Utc>,
    seconds: u32,
    key: &str,
) -> Result<chrono::DateTime<chrono::Utc>, ConnectorError> {
    chrono::TimeDelta::try_seconds(i64::from(seconds))
        .and_then(|lookback| watermark.checked_sub_signed(lookback))
        .ok_or_else(|| ConnectorError::Permanent {
            message: format!(
                "task config `{key}`: {seconds} seconds before the watermark {watermark} is \
                 before the earliest date cmap can represent; use a smaller value"
            ),
        })
}

/// The error of a request whose settings or task config are another connector's: a bug
/// (`check` types them by the integration that picks the connector), never a user's.
fn mismatch(connector: &str, what: &str) -> ConnectorError {
    ConnectorError::Permanent {
        message: format!(
            "the {what} given to the `{connector}` connector are another connector's (a bug: please report it)"
        ),
    }
}

/// The connector for an integration id.
pub fn for_integration(integration: &str) -> Option<Box<dyn Connector>> {
    match integration {
        "google-news" => Some(Box::new(rss::Rss {
            flavor: rss::Flavor::GoogleNews,
        })),
        "rss" => Some(Box::new(rss::Rss {
            flavor: rss::Flavor::Feed,
        })),
        "rest" => Some(Box::new(rest::Rest)),
        "files" => Some(Box::new(files::Files)),
        "salesforce" => Some(Box::new(salesforce::Salesforce)),
        "hubspot" => Some(Box::new(hubspot::HubSpot)),
        _ => None,
    }
}
