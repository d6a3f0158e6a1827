//! Google News and RSS/Atom feeds: the connections' settings and what a task's config
//! asks of a read (`crate::connectors::rss` runs both).

use super::keys::Keys;

/// The most records a task may ask of one feed read. A feed holds at most some
/// thousands of items (the reader stops at 500,000 elements); the bound keeps the count
/// a small number.
pub const MAX_RESULTS: u64 = 100_000;

/// A Google News connection's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct NewsSettings {
    /// `baseUrl`, replacing `https://news.google.com`; `None`: Google News itself.
    pub base_url: Option<url::Url>,
}

/// An RSS connection's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedSettings {
    /// `url`: the feed (a task may name its own).
    pub url: Option<url::Url>,
}

/// What a task's config asks of a Google News search.
#[derive(Clone, Debug, PartialEq)]
pub struct NewsQuery {
    /// `query`; `None`: the top stories.
    pub query: Option<String>,
    /// `language` (`hl`), default `en`.
    pub language: String,
    /// `country` (`gl`), upper case, default `US`.
    pub country: String,
    /// `maxResults`: the most records taken, in feed order.
    pub max_results: Option<u32>,
    /// `incrementalSync`: leave out items published before the watermark.
    pub incremental: bool,
}

impl Default for NewsQuery {
    fn default() -> NewsQuery {
        NewsQuery {
            query: None,
            language: "en".into(),
            country: "US".into(),
            max_results: None,
            incremental: false,
        }
    }
}

/// What a task's config asks of a feed read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FeedQuery {
    /// `url`: the task's own feed, instead of the connection's.
    pub url: Option<url::Url>,
    pub max_results: Option<u32>,
    pub incremental: bool,
}

pub(super) fn news_settings(k: &mut Keys<'_>) -> NewsSettings {
    NewsSettings {
        base_url: k.url("baseUrl", "https://news.google.com"),
    }
}

pub(super) fn feed_settings(k: &mut Keys<'_>) -> FeedSettings {
    FeedSettings {
        url: k.url("url", "https://example.com/feed.xml"),
    }
}

pub(super) fn news_query(k: &mut Keys<'_>) -> NewsQuery {
    let query = k.string("query", "\"banking industry\"").map(|s| s.node);
    let language = k.checked("language", "\"en\"", |s| {
        language_problem(s).map_or(Ok(()), |why| {
            Err((
                why,
                "write a language code, e.g. `language: \"en\"` or `\"pt-BR\"`".into(),
            ))
        })
    });
    let country = k.checked("country", "\"US\"", |s| {
        let ok = s.len() == 2 && s.chars().all(|c| c.is_ascii_alphabetic());
        if ok {
            Ok(())
        } else {
            Err((
                "is not a two-letter country code".into(),
                "write an ISO 3166 code, e.g. `country: \"US\"`".into(),
            ))
        }
    });
    let max_results = max_results(k);
    let incremental = k.boolean("incrementalSync");
    let d = NewsQuery::default();
    NewsQuery {
        query,
        language: language.unwrap_or(d.language),
        country: country.map_or(d.country, |c| c.to_ascii_uppercase()),
        max_results,
        incremental: incremental.unwrap_or(d.incremental),
    }
}

pub(super) fn feed_query(k: &mut Keys<'_>) -> FeedQuery {
    FeedQuery {
        url: k.url("url", "https://example.com/feed.xml"),
        max_results: max_results(k),
        incremental: k.boolean("incrementalSync").unwrap_or(false),
    }
}

fn max_results(k: &mut Keys<'_>) -> Option<u32> {
    k.whole("maxResults", 1..=MAX_RESULTS, "records")
        .and_then(|n| u32::try_from(n).ok())
}

/// Why `s` is not a language code (`en`, `pt-BR`, `zh-Hant`), if it is not.
fn language_problem(s: &str) -> Option<String> {
    let mut parts = s.split('-');
    let primary = parts.next().unwrap_or_default();
    let primary_ok =
        (2..=3).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_alphabetic());
    let rest_ok =
        parts.all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    (!(primary_ok && rest_ok)).then(|| "is not a language code".to_string())
}
