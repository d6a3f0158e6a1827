//! Dates from the field, end to end: a feed whose dates carry the zone names feeds use
//! (`UTC` above all, as Google News writes it) is read, mapped and stored whole by
//! `cmap run`, and its incremental watermark moves.

use std::path::Path;

use serde_json::Value;

use crate::support::{cmap_in, mock_feeds, Run};

fn run(dir: &Path, args: &[&str]) -> Run {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--data", "data", "--pipelines", "pipelines"]);
    cmap_in(dir, &all, None)
}

const PIPELINE: &str = r#"
connection feed {
  integration rss
  scope system
  auth none
}

schema articles {
  source google-news.article
  target c_news { create_if_missing }
  dedupe external_id(link)
  name = title
  url = link
  source = title
  publishedAt = publishedAt | to_date
}

task news { schema articles  connection feed  config { url: "FEED", incrementalSync: true } }
"#;

/// One RSS item per `(link, pubDate)`.
fn feed(items: &[(&str, &str)]) -> String {
    let items: String = items
        .iter()
        .map(|(link, date)| {
            format!("<item><title>{link}</title><link>https://news.example.com/{link}</link><pubDate>{date}</pubDate></item>")
        })
        .collect();
    format!(
        r#"<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>{items}</channel></rss>"#
    )
}

/// `(external id, publishedAt)` of every stored shard, sorted.
fn published(dir: &Path) -> Vec<(String, String)> {
    let r = run(dir, &["shards"]);
    r.code(0);
    let mut out: Vec<(String, String)> = r
        .stdout
        .lines()
        .map(|line| {
            let s: Value = serde_json::from_str(line).expect("a shard per line");
            (
                s["externalRelationships"][0]["externalId"]
                    .as_str()
                    .unwrap_or_default()
                    .trim_start_matches("https://news.example.com/")
                    .to_string(),
                s["structuredData"]["publishedAt"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_feed_dated_in_utc_and_other_zone_names_is_stored_whole() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (addr, state) = rt.block_on(mock_feeds::start(mock_feeds::State::default()));
    state.set_feed(&feed(&[
        // Google News' form: the case that failed every record.
        ("a", "Tue, 31 Mar 2026 08:00:00 UTC"),
        ("b", "Tue, 31 Mar 2026 09:00:00 EST"),
        ("c", "31 Mar 2026 10:30 +0200"),
        ("d", "Tue, 31 Mar 26 07:00:00 Z"),
    ]));
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("pipelines")).expect("mkdir");
    std::fs::write(
        dir.path().join("pipelines/p.cmap"),
        PIPELINE.replace("FEED", &format!("http://{addr}/feeds/custom")),
    )
    .expect("write");

    let r = run(dir.path(), &["run", "news", "--format", "json"]);
    r.code(0);
    let e: Value = serde_json::from_str(&r.stdout).expect("a JSON execution");
    assert_eq!(e["status"], "success", "{e}");
    assert_eq!(e["results"]["created"], 4, "{e}");
    assert_eq!(e["results"]["failed"], 0, "{e}");
    assert_eq!(
        published(dir.path()),
        [
            ("a", "2026-03-31T08:00:00.000Z"),
            ("b", "2026-03-31T14:00:00.000Z"),
            ("c", "2026-03-31T08:30:00.000Z"),
            ("d", "2026-03-31T07:00:00.000Z"),
        ]
        .map(|(id, at)| (id.to_string(), at.to_string()))
    );

    // The watermark moved to the newest item: an older item added to the feed is left
    // out, a newer one comes in.
    state.set_feed(&feed(&[
        ("old", "Mon, 30 Mar 2026 08:00:00 UTC"),
        ("new", "Wed, 01 Apr 2026 08:00:00 UTC"),
        ("a", "Tue, 31 Mar 2026 08:00:00 UTC"),
    ]));
    let r = run(dir.path(), &["run", "news", "--format", "json"]);
    r.code(0);
    let e: Value = serde_json::from_str(&r.stdout).expect("a JSON execution");
    assert_eq!(e["results"]["created"], 1, "{e}");
    let ids: Vec<String> = published(dir.path())
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids, ["a", "b", "c", "d", "new"]);
}

/// `Retry-After` as seconds or an HTTP date in any of RFC 9110's three forms (section
/// 5.6.7), in any zone name: `None` only when it is neither.
#[test]
fn retry_after_reads_every_http_date_form() {
    use cmap::connectors::http::retry_after;
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
    use std::time::Duration;

    let wait = |value: &str| {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(value).expect("a header"));
        retry_after(&headers)
    };
    let past = Some(Duration::ZERO);
    assert_eq!(wait("120"), Some(Duration::from_secs(120)));
    assert_eq!(wait("Sun, 06 Nov 1994 08:49:37 GMT"), past);
    assert_eq!(wait("Sunday, 06-Nov-94 08:49:37 GMT"), past);
    assert_eq!(wait("Sun Nov  6 08:49:37 1994"), past);
    assert_eq!(wait("Sun, 06 Nov 1994 08:49:37 UTC"), past);
    let far = wait("Fri, 31 Dec 9999 23:59:59 UTC").expect("a date in the future");
    assert!(far > Duration::from_secs(100 * 365 * 24 * 3600), "{far:?}");
    assert_eq!(wait("soon"), None);
}

/// A stored token expiry in the forms providers and older cmap versions wrote.
#[test]
fn oauth_expiry_reads_the_forms_providers_write() {
    use cmap::connectors::auth::Secret;
    use cmap::connectors::oauth::OAuth2Config;

    let expiry = |at: &str| {
        let fields: Vec<(String, Secret)> = [
            ("clientId", "id"),
            ("tokenUrl", "http://127.0.0.1:1/token"),
            ("refreshToken", "r"),
            ("expiresAt", at),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), Secret::new(*v)))
        .collect();
        match OAuth2Config::from_credentials(&fields) {
            Ok(c) => c.expires_at.map(|at| at.to_rfc3339()).unwrap_or_default(),
            Err(e) => e.to_string(),
        }
    };
    assert_eq!(
        expiry("2026-03-31T08:00:00+00:00"),
        "2026-03-31T08:00:00+00:00"
    );
    assert_eq!(
        expiry("2026-03-31T08:00:00.000+0000"),
        "2026-03-31T08:00:00+00:00"
    );
    assert_eq!(expiry("1774944000000"), "2026-03-31T08:00:00+00:00");
    let refused = expiry("next tuesday");
    assert!(refused.contains("`expiresAt` is not a date"), "{refused}");
    assert!(!refused.contains("next tuesday"), "{refused}");
}
