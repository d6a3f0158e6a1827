//! Google News searches and any RSS 2.0, RSS 1.0 (RDF) or Atom feed, read into records
//! shaped as stdlib/news.cmap's `google-news.article`.
//!
//! A feed is one page: the whole document comes in one response, so the cursor is
//! done after it. Records:
//!
//! | field         | RSS 2.0                                         | Atom                                   |
//! |---------------|-------------------------------------------------|----------------------------------------|
//! | `title`       | `title`                                         | `title`                                |
//! | `link`        | `link` (else a permalink `guid`)                | `link rel="alternate"` (or no `rel`)   |
//! | `guid`        | `guid`, else the link                           | `id`, else the link                    |
//! | `description` | `description`, else `content:encoded`           | `summary`, else `content`              |
//! | `publishedAt` | `pubDate` as written (RFC 2822), else `dc:date` | `published`, else `updated` (RFC 3339) |
//! | `author`      | `author`, else `dc:creator`                     | `author/name`                          |
//! | `imageUrl`    | `media:content`/`media:thumbnail`/`enclosure` with an image type | the same, or `link rel="enclosure"` |
//! | `categories`  | every `category`                                | every `category@term`                  |
//! | `source`      | `<source url="U">Name</source>`, else the channel's title and link | the entry's `source`, else the feed's title and link |
//!
//! The external id is the guid, else the link: `guid` always holds it, so a schema's
//! `dedupe external_id(guid)` works on every feed, and `external_id(link)` too.
//! Items with neither title nor link are not records: they come back in
//! [`Page::invalid`] with the reason. Optional fields the feed lacks are left out.
//!
//! Incremental reads (task config `incrementalSync: true`): the watermark is the newest
//! `publishedAt` seen (kept as RFC 3339); the next run leaves out items published
//! strictly before it. Items published at the watermark itself are kept (the schema's
//! dedupe drops the repeat), and so are items whose date cannot be read.
//!
//! Google News (`google-news`) builds its search URL from the task config:
//! `https://news.google.com/rss/search?q=QUERY&hl=LANG-COUNTRY&gl=COUNTRY&ceid=COUNTRY:LANG`
//! (`language` default `en`, `country` default `US`; without `query`, the top stories
//! at `/rss`); the connection setting `baseUrl` replaces `https://news.google.com`. A
//! plain feed (`rss`) reads the `url` of the task config, else of the settings.
//! `maxResults` (1 to 100,000) caps the records taken, in feed order. Every key is
//! checked by `cmap check` (`crate::compile::config::rss`) and reaches the connector
//! typed.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;
use serde_json::{json, Map, Value};

use super::auth::NoAuth;
use super::http::{self, Client};
use super::{Capability, Connector, ConnectorError, InvalidRecord, Page, ReadRequest};
use crate::compile::config::{rss, Settings, Source};

const ATOM: &str = "http://www.w3.org/2005/Atom";
const MEDIA: &str = "http://search.yahoo.com/mrss/";
const DC: &str = "http://purl.org/dc/elements/1.1/";
const CONTENT: &str = "http://purl.org/rss/1.0/modules/content/";
const RSS1: &str = "http://purl.org/rss/1.0/";

const GOOGLE_NEWS: &str = "https://news.google.com";

/// Which integration a [`Rss`] serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// `google-news`: the feed URL is a search built from the task config.
    GoogleNews,
    /// `rss`: the feed URL is given.
    Feed,
}

/// The Google News and RSS/Atom connector.
pub struct Rss {
    pub flavor: Flavor,
}

#[async_trait::async_trait]
impl Connector for Rss {
    fn name(&self) -> &'static str {
        match self.flavor {
            Flavor::GoogleNews => "google-news",
            Flavor::Feed => "rss",
        }
    }

    fn capabilities(&self) -> &'static [Capability] {
        &[Capability::Read]
    }

    /// `{}` or `{"since": RFC3339}` on an incremental read with a watermark.
    fn start(&self, req: &ReadRequest, watermark: Option<&Value>) -> Result<Value, ConnectorError> {
        // Build the URL now, so that a read without a feed fails before fetching anything.
        feed_url(self.flavor, req)?;
        let mut cursor = Map::new();
        if query(self.flavor, req)?.incremental && !req.full {
            if let Some(since) = watermark.and_then(Value::as_str) {
                cursor.insert("since".into(), Value::String(since.to_string()));
            }
        }
        Ok(Value::Object(cursor))
    }

    /// Google News: the `baseUrl` setting, else `https://news.google.com`. A feed: the
    /// `url` setting (a task's own `url` is not the connection's origin).
    fn origins(&self, settings: &Settings) -> Vec<url::Url> {
        match settings {
            Settings::GoogleNews(s) => match &s.base_url {
                Some(url) => Some(url.clone()),
                None => url::Url::parse(GOOGLE_NEWS).ok(),
            },
            Settings::Rss(s) => s.url.clone(),
            _ => None,
        }
        .into_iter()
        .collect()
    }

    async fn next_page(&self, req: &ReadRequest, cursor: &Value) -> Result<Page, ConnectorError> {
        let url = feed_url(self.flavor, req)?;
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
                c.get(url.clone()).header(
                    reqwest::header::ACCEPT,
                    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.8",
                )
            })
            .await?;
        http::classify(&response)?;
        let since = cursor
            .get("since")
            .and_then(Value::as_str)
            .and_then(parse_date);
        let feed = parse_feed(&response.body)?;
        let query = query(self.flavor, req)?;
        let mut page = select(feed, since, query.max_results);
        if query.incremental {
            let newest = page
                .records
                .iter()
                .filter_map(|r| r.get("publishedAt").and_then(Value::as_str))
                .filter_map(parse_date)
                .chain(since)
                .max();
            page.watermark = newest.map(|d| Value::String(d.to_rfc3339()));
        }
        Ok(page)
    }
}

/// Items of a parsed feed: each a record, or why it is not one.
pub struct Feed {
    pub items: Vec<Result<Value, InvalidRecord>>,
}

/// Keeps the items published at or after `since`, up to `max` records.
fn select(feed: Feed, since: Option<DateTime<Utc>>, max: Option<usize>) -> Page {
    let mut page = Page::default();
    for item in feed.items {
        match item {
            Ok(record) => {
                if max.is_some_and(|max| page.records.len() >= max) {
                    break;
                }
                let published = record
                    .get("publishedAt")
                    .and_then(Value::as_str)
                    .and_then(parse_date);
                if let (Some(since), Some(published)) = (since, published) {
                    if published < since {
                        continue;
                    }
                }
                page.records.push(record);
            }
            Err(invalid) => page.invalid.push(invalid),
        }
    }
    page.total = Some(page.records.len() as u64);
    page
}

/// What a read takes from the task's config, whatever the flavour.
struct Query {
    max_results: Option<usize>,
    incremental: bool,
}

fn query(flavor: Flavor, req: &ReadRequest) -> Result<Query, ConnectorError> {
    let (max, incremental) = match (flavor, &req.source) {
        (Flavor::GoogleNews, Source::GoogleNews(q)) => (q.max_results, q.incremental),
        (Flavor::Feed, Source::Rss(q)) => (q.max_results, q.incremental),
        (_, Source::None) => (None, false),
        _ => return Err(super::mismatch(flavor_name(flavor), "task config")),
    };
    Ok(Query {
        max_results: max.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        incremental,
    })
}

fn flavor_name(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::GoogleNews => "google-news",
        Flavor::Feed => "rss",
    }
}

/// The URL of the feed a request reads.
pub fn feed_url(flavor: Flavor, req: &ReadRequest) -> Result<url::Url, ConnectorError> {
    match (flavor, &req.settings) {
        (Flavor::GoogleNews, Settings::GoogleNews(settings)) => {
            let defaults = rss::NewsQuery::default();
            let q = match &req.source {
                Source::GoogleNews(q) => q,
                Source::None => &defaults,
                _ => return Err(super::mismatch("google-news", "task config")),
            };
            let mut url = match &settings.base_url {
                Some(url) => url.clone(),
                None => url::Url::parse(GOOGLE_NEWS).map_err(|e| ConnectorError::Permanent {
                    message: format!("{GOOGLE_NEWS} is not a URL: {e}"),
                })?,
            };
            let (language, country) = (&q.language, &q.country);
            let prefix = url.path().trim_end_matches('/').to_string();
            url.set_path(&format!(
                "{prefix}/rss{}",
                if q.query.is_some() { "/search" } else { "" }
            ));
            {
                let mut pairs = url.query_pairs_mut();
                if let Some(query) = &q.query {
                    pairs.append_pair("q", query);
                }
                pairs
                    .append_pair("hl", &format!("{language}-{country}"))
                    .append_pair("gl", country)
                    .append_pair("ceid", &format!("{country}:{language}"));
            }
            Ok(url)
        }
        (Flavor::Feed, Settings::Rss(settings)) => {
            let own = match &req.source {
                Source::Rss(q) => q.url.as_ref(),
                Source::None => None,
                _ => return Err(super::mismatch("rss", "task config")),
            };
            own.or(settings.url.as_ref())
                .cloned()
                .ok_or_else(|| ConnectorError::Permanent {
                    message:
                        "an rss read needs the feed's `url` (task config or connection settings)"
                            .into(),
                })
        }
        _ => Err(super::mismatch(flavor_name(flavor), "settings")),
    }
}

/// A feed date: RFC 2822 (RSS, with any zone name feeds write), RFC 3339 (Atom,
/// `dc:date`); read by the one date reader, [`crate::date::parse`].
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    crate::date::parse(s).ok()
}

// ---------------------------------------------------------------------------------------
// XML: the document becomes a small tree (a feed is a few hundred kilobytes at most and
// comes whole in one response), then fields are picked from it.

/// The deepest element nesting read. Feeds nest a few levels (Atom's XHTML content a few
/// more); the limit keeps a hostile document from building a tree whose recursive drop
/// overflows the stack.
pub const MAX_DEPTH: usize = 256;

/// The most elements read. A large real feed has a few thousand; each element costs
/// about 150 bytes, so the limit bounds the tree to tens of megabytes whatever the body.
pub const MAX_ELEMENTS: usize = 500_000;

/// The namespaces the reader knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ns {
    /// No namespace: RSS 2.0.
    None,
    Atom,
    Media,
    Dc,
    Content,
    Rss1,
    Other,
}

impl Ns {
    fn of(resolved: &ResolveResult<'_>) -> Ns {
        match resolved {
            ResolveResult::Unbound => Ns::None,
            ResolveResult::Bound(ns) => match ns.0 {
                ATOM => Ns::Atom,
                MEDIA => Ns::Media,
                DC => Ns::Dc,
                CONTENT => Ns::Content,
                RSS1 => Ns::Rss1,
                _ => Ns::Other,
            },
            // An undeclared prefix: lenient, the element is just not one we know.
            ResolveResult::Unknown(_) => Ns::Other,
        }
    }
}

#[derive(Debug)]
struct Element {
    ns: Ns,
    name: String,
    /// Local name (prefix dropped) and value.
    attrs: Vec<(String, String)>,
    text: String,
    children: Vec<Element>,
}

impl Element {
    fn new(ns: Ns, start: &BytesStart<'_>) -> Result<Element, String> {
        let mut attrs = Vec::new();
        for attr in start.attributes() {
            let attr = attr.map_err(|e| format!("bad attribute: {e}"))?;
            let key = attr.key.local_name().as_ref().to_string();
            // An entity the XML does not define (`&nbsp;` in an attribute) keeps its
            // raw text rather than losing the feed.
            let value = attr
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map(|v| v.into_owned())
                .unwrap_or_else(|_| attr.value.clone().into_owned());
            attrs.push((key, value));
        }
        Ok(Element {
            ns,
            name: start.local_name().as_ref().to_string(),
            attrs,
            text: String::new(),
            children: Vec::new(),
        })
    }

    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    fn children<'a, 'n>(
        &'a self,
        ns: Ns,
        name: &'n str,
    ) -> impl Iterator<Item = &'a Element> + use<'a, 'n> {
        self.children
            .iter()
            .filter(move |c| c.ns == ns && c.name == name)
    }

    fn child(&self, ns: Ns, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.ns == ns && c.name == name)
    }

    /// The trimmed text of a child, when not empty.
    fn text_of(&self, ns: Ns, name: &str) -> Option<String> {
        self.children(ns, name).find_map(Element::content)
    }

    fn content(&self) -> Option<String> {
        let text = self.text.trim();
        (!text.is_empty()).then(|| text.to_string())
    }
}

/// Parses an RSS 2.0, RSS 1.0 or Atom document. Malformed XML and a document that is
/// no feed are `Permanent` errors saying where.
pub fn parse_feed(body: &[u8]) -> Result<Feed, ConnectorError> {
    let root = parse_tree(body)?;
    match (root.ns, root.name.as_str()) {
        (Ns::None, "rss") => {
            let channel = root
                .child(Ns::None, "channel")
                .ok_or_else(|| not_feed("<rss> has no <channel>"))?;
            Ok(rss_items(channel, channel.children(Ns::None, "item")))
        }
        (_, "RDF") => {
            // RSS 1.0: the items are siblings of the channel.
            let channel = root
                .child(Ns::Rss1, "channel")
                .ok_or_else(|| not_feed("<rdf:RDF> has no <channel>"))?;
            Ok(rss_items(channel, root.children(Ns::Rss1, "item")))
        }
        (Ns::Atom, "feed") => Ok(atom_entries(&root)),
        (_, name) => Err(not_feed(&format!(
            "the document is not an RSS or Atom feed: its root element is <{name}>"
        ))),
    }
}

fn not_feed(message: &str) -> ConnectorError {
    ConnectorError::Permanent {
        message: message.to_string(),
    }
}

fn parse_tree(body: &[u8]) -> Result<Element, ConnectorError> {
    let mut reader = NsReader::from_reader(body);
    let mut buf = Vec::new();
    let mut stack: Vec<Element> = Vec::new();
    let mut root = None;
    let mut elements = 0usize;
    loop {
        // The resolved namespace borrows the reader: turn it into an `Ns` at once, so the
        // reader is free again to say where an error is.
        let step = match reader.read_resolved_event_into(&mut buf) {
            Ok((ns, event)) => Ok((Ns::of(&ns), event)),
            Err(e) => Err(e),
        };
        let (ns, event) =
            step.map_err(|e| malformed(body, reader.error_position(), &e.to_string()))?;
        let at = reader.buffer_position();
        if matches!(event, Event::Start(_) | Event::Empty(_)) {
            elements += 1;
            if elements > MAX_ELEMENTS {
                return Err(too_big(&format!(
                    "the feed has more than {MAX_ELEMENTS} elements"
                )));
            }
        }
        match event {
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(too_big(&format!(
                        "the feed nests elements deeper than {MAX_DEPTH} levels"
                    )));
                }
                let element = Element::new(ns, &start).map_err(|m| malformed(body, at, &m))?;
                stack.push(element);
            }
            Event::Empty(start) => {
                let element = Element::new(ns, &start).map_err(|m| malformed(body, at, &m))?;
                attach(&mut stack, &mut root, element, body, at)?;
            }
            Event::End(_) => {
                // The reader checks that end tags match their start tags.
                if let Some(element) = stack.pop() {
                    attach(&mut stack, &mut root, element, body, at)?;
                }
            }
            Event::Text(text) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&text.xml10_content());
                }
            }
            Event::CData(data) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&data.xml10_content());
                }
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => {
                        let name = reference.xml10_content();
                        match quick_xml::escape::resolve_predefined_entity(&name) {
                            Some(s) => s.to_string(),
                            // An HTML entity the document does not declare: kept as written.
                            None => format!("&{name};"),
                        }
                    }
                    Err(e) => return Err(malformed(body, at, &e.to_string())),
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if let Some(open) = stack.last() {
        return Err(malformed(
            body,
            body.len() as u64,
            &format!("the document ends inside <{}>", open.name),
        ));
    }
    root.ok_or_else(|| not_feed("the response is empty, not a feed"))
}

fn too_big(what: &str) -> ConnectorError {
    ConnectorError::Permanent {
        message: format!("{what}, more than a feed holds: it is not read"),
    }
}

fn attach(
    stack: &mut [Element],
    root: &mut Option<Element>,
    element: Element,
    body: &[u8],
    at: u64,
) -> Result<(), ConnectorError> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None if root.is_none() => *root = Some(element),
        None => {
            return Err(malformed(
                body,
                at,
                &format!("a second root element <{}>", element.name),
            ))
        }
    }
    Ok(())
}

/// "the feed is not well-formed XML at line L, column C: ...".
fn malformed(body: &[u8], position: u64, message: &str) -> ConnectorError {
    let position = usize::try_from(position)
        .unwrap_or(usize::MAX)
        .min(body.len());
    let before = &body[..position];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    ConnectorError::Permanent {
        message: format!(
            "the feed is not well-formed XML at line {line}, column {column} (byte {position}): {message}"
        ),
    }
}

fn rss_items<'a>(channel: &Element, items: impl Iterator<Item = &'a Element>) -> Feed {
    let feed_source = source(
        channel
            .text_of(Ns::None, "title")
            .or_else(|| channel.text_of(Ns::Rss1, "title")),
        channel
            .text_of(Ns::None, "link")
            .or_else(|| channel.text_of(Ns::Rss1, "link")),
    );
    let items = items
        .enumerate()
        .map(|(i, item)| {
            // RSS 1.0 items use the RSS 1.0 namespace for the same element names.
            let ns = item.ns;
            let title = item.text_of(ns, "title");
            let guid_element = item.child(ns, "guid");
            let guid = guid_element.and_then(Element::content);
            let permalink = guid_element.and_then(|g| g.attr("isPermaLink")) != Some("false");
            let link = item.text_of(ns, "link").or_else(|| {
                guid.clone().filter(|g| {
                    permalink && (g.starts_with("http://") || g.starts_with("https://"))
                })
            });
            let description = item
                .text_of(ns, "description")
                .or_else(|| item.text_of(Ns::Content, "encoded"));
            let published = item
                .text_of(ns, "pubDate")
                .or_else(|| item.text_of(Ns::Dc, "date"));
            let author = item
                .text_of(ns, "author")
                .or_else(|| item.text_of(Ns::Dc, "creator"));
            let image = media_image(item).or_else(|| {
                item.children(ns, "enclosure")
                    .find(|e| is_image(e.attr("type")))
                    .and_then(|e| e.attr("url"))
                    .map(str::to_string)
            });
            let categories: Vec<String> = item
                .children(ns, "category")
                .chain(item.children(Ns::Dc, "subject"))
                .filter_map(Element::content)
                .collect();
            let item_source = item
                .child(ns, "source")
                .map(|s| source(s.content(), s.attr("url").map(str::to_string)))
                .unwrap_or_else(|| feed_source.clone());
            record(
                i,
                Fields {
                    title,
                    link,
                    guid,
                    description,
                    published,
                    author,
                    image,
                    categories,
                    source: item_source,
                },
            )
        })
        .collect();
    Feed { items }
}

fn atom_entries(feed: &Element) -> Feed {
    let feed_source = source(feed.text_of(Ns::Atom, "title"), atom_link(feed));
    let items = feed
        .children(Ns::Atom, "entry")
        .enumerate()
        .map(|(i, entry)| {
            let link = atom_link(entry);
            let image = media_image(entry).or_else(|| {
                entry
                    .children(Ns::Atom, "link")
                    .find(|l| l.attr("rel") == Some("enclosure") && is_image(l.attr("type")))
                    .and_then(|l| l.attr("href"))
                    .map(str::to_string)
            });
            let author = entry
                .children(Ns::Atom, "author")
                .find_map(|a| a.text_of(Ns::Atom, "name"));
            let entry_source = entry
                .child(Ns::Atom, "source")
                .map(|s| source(s.text_of(Ns::Atom, "title"), atom_link(s)))
                .unwrap_or_else(|| feed_source.clone());
            record(
                i,
                Fields {
                    title: entry.text_of(Ns::Atom, "title"),
                    guid: entry.text_of(Ns::Atom, "id"),
                    link,
                    description: entry
                        .text_of(Ns::Atom, "summary")
                        .or_else(|| entry.text_of(Ns::Atom, "content")),
                    published: entry
                        .text_of(Ns::Atom, "published")
                        .or_else(|| entry.text_of(Ns::Atom, "updated")),
                    author,
                    image,
                    categories: entry
                        .children(Ns::Atom, "category")
                        .filter_map(|c| c.attr("term").map(str::to_string))
                        .collect(),
                    source: entry_source,
                },
            )
        })
        .collect();
    Feed { items }
}

/// The `alternate` link (a link without `rel` is one).
fn atom_link(element: &Element) -> Option<String> {
    element
        .children(Ns::Atom, "link")
        .find(|l| matches!(l.attr("rel"), None | Some("alternate")))
        .and_then(|l| l.attr("href"))
        .map(str::to_string)
}

fn media_image(item: &Element) -> Option<String> {
    let content = item.children(Ns::Media, "content").find(|m| {
        m.attr("medium") == Some("image")
            || (m.attr("medium").is_none() && is_image(m.attr("type")))
    });
    // A media:group holds the same elements one level down.
    let grouped = || {
        item.children(Ns::Media, "group").find_map(|g| {
            g.children(Ns::Media, "content")
                .find(|m| m.attr("medium") == Some("image") || is_image(m.attr("type")))
        })
    };
    content
        .or_else(grouped)
        .or_else(|| item.child(Ns::Media, "thumbnail"))
        .and_then(|m| m.attr("url"))
        .map(str::to_string)
}

/// No type counts as an image: `media:content` without `type` usually is one.
fn is_image(mime: Option<&str>) -> bool {
    mime.is_none_or(|t| t.starts_with("image/"))
}

fn source(name: Option<String>, url: Option<String>) -> Option<Value> {
    let mut source = Map::new();
    if let Some(name) = name {
        source.insert("name".into(), Value::String(name));
    }
    if let Some(url) = url {
        source.insert("url".into(), Value::String(url));
    }
    (!source.is_empty()).then_some(Value::Object(source))
}

struct Fields {
    title: Option<String>,
    link: Option<String>,
    guid: Option<String>,
    description: Option<String>,
    published: Option<String>,
    author: Option<String>,
    image: Option<String>,
    categories: Vec<String>,
    source: Option<Value>,
}

/// A `google-news.article` record, or why the item is none.
fn record(index: usize, f: Fields) -> Result<Value, InvalidRecord> {
    let mut record = Map::new();
    let mut put = |key: &str, value: Option<String>| {
        if let Some(value) = value {
            record.insert(key.into(), Value::String(value));
        }
    };
    put("title", f.title.clone());
    put("link", f.link.clone());
    // The external id: the guid, else the link.
    put("guid", f.guid.or_else(|| f.link.clone()));
    put("description", f.description);
    put("publishedAt", f.published);
    put("author", f.author);
    put("imageUrl", f.image);
    if !f.categories.is_empty() {
        record.insert("categories".into(), json!(f.categories));
    }
    if let Some(source) = f.source {
        record.insert("source".into(), source);
    }
    if f.title.is_none() && f.link.is_none() {
        return Err(InvalidRecord {
            raw: Value::Object(record).to_string(),
            message: format!("item {} has neither a title nor a link", index + 1),
        });
    }
    Ok(Value::Object(record))
}
