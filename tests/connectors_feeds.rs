//! The Google News/RSS/Atom, REST and files connectors against the feeds mock and
//! files on disk: record shapes, every pagination style, resuming from a cursor,
//! incremental reads, record-level problems and failures.

use std::io::{Read, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cmap::connectors::auth::{ApiKey, NoAuth, Secret};
use cmap::connectors::files::{self, Format, Position};
use cmap::connectors::http::Client;
use cmap::connectors::{for_integration, Connector, ConnectorError, Page, ReadRequest};
use expect_test::{expect, Expect};
use serde_json::{json, Map, Value};

use crate::support::mock_feeds::{self, State};

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A read of `entity` (`article`: an RSS feed when a `url` is given, else Google News;
/// anything else: the REST connector).
fn request(entity: &str, settings: Value, task: Value, page_size: usize) -> ReadRequest {
    let integration = match entity {
        "article" if settings.get("url").is_some() || task.get("url").is_some() => "rss",
        "article" => "google-news",
        _ => "rest",
    };
    let (settings, source) = crate::support::typed(integration, &settings, &task);
    ReadRequest {
        entity: entity.to_string(),
        source,
        settings,
        full: false,
        page_size,
        http: Some(Arc::new(
            Client::new(Arc::new(NoAuth), Vec::new(), Duration::from_secs(10))
                .expect("an HTTP client"),
        )),
        base_dir: std::env::temp_dir(),
    }
}

fn connector(integration: &str) -> Box<dyn Connector> {
    for_integration(integration).expect("the integration has a connector")
}

/// Every page of a read, from `start` to the end (at most 1000 pages).
async fn read_all(
    connector: &dyn Connector,
    req: &ReadRequest,
    watermark: Option<&Value>,
) -> Result<Vec<Page>, ConnectorError> {
    let mut cursor = connector.start(req, watermark)?;
    let mut pages = Vec::new();
    for _ in 0..1000 {
        let page = connector.next_page(req, &cursor).await?;
        let next = page.next.clone();
        pages.push(page);
        match next {
            Some(next) => cursor = next,
            None => return Ok(pages),
        }
    }
    panic!("the read did not end after 1000 pages");
}

fn records(pages: &[Page]) -> Vec<Value> {
    pages.iter().flat_map(|p| p.records.clone()).collect()
}

fn ids(pages: &[Page]) -> Vec<String> {
    records(pages)
        .iter()
        .map(|r| match &r["id"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

fn pretty(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).expect("JSON prints")
}

/// The invalid records of pages, one `message | raw` line each.
fn invalid(pages: &[Page]) -> String {
    pages
        .iter()
        .flat_map(|p| &p.invalid)
        .map(|i| format!("{} | {}\n", i.message, i.raw))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Google News, RSS, Atom

async fn feed(
    integration: &str,
    settings: Value,
    task: Value,
) -> (Result<Vec<Page>, ConnectorError>, Arc<State>) {
    let (addr, state) = mock_feeds::start(State::default()).await;
    let settings = with_addr(settings, addr);
    let task = with_addr(task, addr);
    let req = request("article", settings, task, 100);
    (
        read_all(connector(integration).as_ref(), &req, None).await,
        state,
    )
}

/// Replaces `ADDR` in string values by the mock's address.
fn with_addr(value: Value, addr: SocketAddr) -> Value {
    serde_json::from_str(&value.to_string().replace("ADDR", &addr.to_string()))
        .expect("JSON stays JSON")
}

#[tokio::test]
async fn google_news_search_gives_articles_with_their_publisher() {
    let (pages, state) = feed(
        "google-news",
        json!({"baseUrl": "http://ADDR"}),
        json!({"query": "banking industry", "language": "en", "country": "us", "maxResults": 50}),
    )
    .await;
    let pages = pages.expect("the feed reads");
    assert_eq!(
        state.requests(),
        ["/rss/search?q=banking+industry&hl=en-US&gl=US&ceid=US%3Aen"]
    );
    assert_eq!(pages.len(), 1, "a feed is one page");
    assert_eq!(pages[0].next, None);
    assert_eq!(pages[0].watermark, None, "not incremental");
    expect![[r##"
        [
          {
            "title": "Banks brace for new capital rules - Reuters",
            "link": "https://news.google.com/rss/articles/CBMiWGh0dHBzOi8vd3d3LnJldXRlcnMuY29t?oc=5",
            "guid": "CBMiWGh0dHBzOi8vd3d3LnJldXRlcnMuY29t",
            "description": "<a href=\"https://news.google.com/rss/articles/CBMiWGh0dHBzOi8vd3d3LnJldXRlcnMuY29t?oc=5\" target=\"_blank\">Banks brace for new capital rules</a>&nbsp;&nbsp;<font color=\"#6f6f6f\">Reuters</font>",
            "publishedAt": "Mon, 03 Jun 2024 13:00:00 GMT",
            "source": {
              "name": "Reuters",
              "url": "https://www.reuters.com"
            }
          },
          {
            "title": "Regional lenders & the deposit squeeze - Financial Times",
            "link": "https://news.google.com/rss/articles/CBMiTWh0dHBzOi8vd3d3LmZ0LmNvbQ?oc=5",
            "guid": "CBMiTWh0dHBzOi8vd3d3LmZ0LmNvbQ",
            "description": "<a href=\"https://news.google.com/rss/articles/CBMiTWh0dHBzOi8vd3d3LmZ0LmNvbQ?oc=5\" target=\"_blank\">Regional lenders &amp; the deposit squeeze</a>&nbsp;&nbsp;<font color=\"#6f6f6f\">Financial Times</font>",
            "publishedAt": "Mon, 03 Jun 2024 09:30:00 GMT",
            "imageUrl": "https://i.example.com/ft.jpg",
            "source": {
              "name": "Financial Times",
              "url": "https://www.ft.com"
            }
          },
          {
            "title": "Fintech partnerships reshape retail banking - Bloomberg",
            "link": "https://news.google.com/rss/articles/CBMiQmh0dHBzOi8vd3d3LmJsb29tYmVyZy5jb20?oc=5",
            "guid": "CBMiQmh0dHBzOi8vd3d3LmJsb29tYmVyZy5jb20",
            "description": "<a href=\"https://news.google.com/rss/articles/CBMiQmh0dHBzOi8vd3d3LmJsb29tYmVyZy5jb20?oc=5\" target=\"_blank\">Fintech partnerships reshape retail banking</a>&nbsp;&nbsp;<font color=\"#6f6f6f\">Bloomberg</font>",
            "publishedAt": "Sun, 02 Jun 2024 18:45:00 GMT",
            "source": {
              "name": "Bloomberg",
              "url": "https://www.bloomberg.com"
            }
          }
        ]"##]].assert_eq(&pretty(&records(&pages)));
}

#[tokio::test]
async fn google_news_defaults_country_and_reads_top_stories_without_query() {
    let (pages, state) = feed(
        "google-news",
        json!({"baseUrl": "http://ADDR/"}),
        json!({"language": "fr"}),
    )
    .await;
    assert_eq!(records(&pages.expect("the feed reads")).len(), 3);
    assert_eq!(state.requests(), ["/rss?hl=fr-US&gl=US&ceid=US%3Afr"]);
}

#[tokio::test]
async fn max_results_caps_the_items_taken() {
    let (pages, _) = feed(
        "google-news",
        json!({"baseUrl": "http://ADDR"}),
        json!({"query": "\"XYZ Corporation\"", "maxResults": 2}),
    )
    .await;
    let titles: Vec<Value> = records(&pages.expect("the feed reads"))
        .iter()
        .map(|r| r["title"].clone())
        .collect();
    assert_eq!(
        titles,
        [
            json!("Banks brace for new capital rules - Reuters"),
            json!("Regional lenders & the deposit squeeze - Financial Times")
        ]
    );
}

#[tokio::test]
async fn atom_entries_become_articles() {
    let (pages, _) = feed("rss", json!({"url": "http://ADDR/feeds/atom"}), json!({})).await;
    expect![[r#"
        [
          {
            "title": "Cobots move into <small> factories",
            "link": "https://automation.example.com/cobots",
            "guid": "tag:automation.example.com,2024:cobots",
            "description": "<p>Collaborative robots&hellip;</p>",
            "publishedAt": "2024-06-03T08:00:00+02:00",
            "author": "Ada Lovelace",
            "imageUrl": "https://automation.example.com/cobots.png",
            "categories": [
              "robotics",
              "manufacturing"
            ],
            "source": {
              "name": "Automation Weekly",
              "url": "https://automation.example.com/"
            }
          },
          {
            "title": "PLC vendors agree on an open runtime",
            "link": "https://automation.example.com/plc",
            "guid": "tag:automation.example.com,2024:plc",
            "description": "<p>The <b>IEC 61499</b> runtime...</p>",
            "publishedAt": "2024-05-30T16:20:00Z",
            "imageUrl": "https://automation.example.com/plc-thumb.jpg",
            "source": {
              "name": "Control Engineering",
              "url": "https://controleng.example.com/"
            }
          }
        ]"#]]
    .assert_eq(&pretty(&records(&pages.expect("the feed reads"))));
}

/// Reads a feed body through the `rss` connector.
async fn custom_feed(body: &str, task: Value) -> Result<Vec<Page>, ConnectorError> {
    let (addr, state) = mock_feeds::start(State::default()).await;
    state.set_feed(body);
    let mut task = object(task);
    task.insert("url".into(), json!(format!("http://{addr}/feeds/custom")));
    let req = request("article", json!({}), Value::Object(task), 100);
    read_all(connector("rss").as_ref(), &req, None).await
}

#[tokio::test]
async fn rss_entities_guidless_items_and_items_that_are_no_articles() {
    let body = r#"<?xml version="1.0"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel>
  <title>Caf&#233; &amp; Bank News</title>
  <link>https://cafe.example.com/</link>
  <item>
    <title>Rates &lt;up&gt; &#x2014; again &quot;soon&quot;</title>
    <link>https://cafe.example.com/rates?a=1&amp;b=2</link>
    <dc:creator>J. Doe</dc:creator>
    <dc:date>2024-06-01T10:00:00Z</dc:date>
    <category>rates</category><category><![CDATA[central banks]]></category>
    <content:encoded><![CDATA[<p>Full <i>text</i> &amp; more</p>]]></content:encoded>
    <enclosure url="https://cafe.example.com/a.mp3" type="audio/mpeg" length="1"/>
    <enclosure url="https://cafe.example.com/rates.jpg" type="image/jpeg" length="1"/>
  </item>
  <item>
    <description>no title, no link: not an article</description>
    <pubDate>Sat, 01 Jun 2024 08:00:00 +0000</pubDate>
  </item>
  <item>
    <guid>https://cafe.example.com/permalink-only</guid>
    <title>Only a permalink guid</title>
    <description>The unknown &nbsp; entity stays as written</description>
  </item>
</channel>
</rss>"#;
    let pages = custom_feed(body, json!({})).await.expect("the feed reads");
    expect![[r#"
        [
          {
            "title": "Rates <up> — again \"soon\"",
            "link": "https://cafe.example.com/rates?a=1&b=2",
            "guid": "https://cafe.example.com/rates?a=1&b=2",
            "description": "<p>Full <i>text</i> &amp; more</p>",
            "publishedAt": "2024-06-01T10:00:00Z",
            "author": "J. Doe",
            "imageUrl": "https://cafe.example.com/rates.jpg",
            "categories": [
              "rates",
              "central banks"
            ],
            "source": {
              "name": "Café & Bank News",
              "url": "https://cafe.example.com/"
            }
          },
          {
            "title": "Only a permalink guid",
            "link": "https://cafe.example.com/permalink-only",
            "guid": "https://cafe.example.com/permalink-only",
            "description": "The unknown &nbsp; entity stays as written",
            "source": {
              "name": "Café & Bank News",
              "url": "https://cafe.example.com/"
            }
          }
        ]"#]]
    .assert_eq(&pretty(&records(&pages)));
    expect![[r#"
        item 2 has neither a title nor a link | {"description":"no title, no link: not an article","publishedAt":"Sat, 01 Jun 2024 08:00:00 +0000","source":{"name":"Café & Bank News","url":"https://cafe.example.com/"}}
    "#]].assert_eq(&invalid(&pages));
}

#[tokio::test]
async fn rss_1_0_items_are_siblings_of_the_channel() {
    let body = r#"<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:media="http://search.yahoo.com/mrss/">
  <channel rdf:about="https://old.example.org/">
    <title>Old School</title>
    <link>https://old.example.org/</link>
  </channel>
  <item rdf:about="https://old.example.org/1">
    <title>First</title>
    <link>https://old.example.org/1</link>
    <dc:date>2024-06-02T10:00:00Z</dc:date>
    <dc:subject>history</dc:subject>
    <media:group><media:content url="https://old.example.org/1.gif" type="image/gif"/></media:group>
  </item>
</rdf:RDF>"#;
    let pages = custom_feed(body, json!({})).await.expect("the feed reads");
    expect![[r#"
        [
          {
            "title": "First",
            "link": "https://old.example.org/1",
            "guid": "https://old.example.org/1",
            "publishedAt": "2024-06-02T10:00:00Z",
            "imageUrl": "https://old.example.org/1.gif",
            "categories": [
              "history"
            ],
            "source": {
              "name": "Old School",
              "url": "https://old.example.org/"
            }
          }
        ]"#]]
    .assert_eq(&pretty(&records(&pages)));
}

#[tokio::test]
async fn malformed_xml_is_permanent_and_says_where() {
    let check = |body: &'static str, expect: Expect| async move {
        let error = custom_feed(body, json!({}))
            .await
            .expect_err("the feed is malformed");
        assert!(!error.is_retryable());
        expect.assert_eq(&error.to_string());
    };
    check(
        "<rss><channel>\n<item><title>A</titel></item>\n</channel></rss>",
        expect!["the feed is not well-formed XML at line 2, column 15 (byte 29): ill-formed document: expected `</title>`, but `</titel>` was found"],
    )
    .await;
    check("<rss><channel>\n<item><title>A", expect!["the feed is not well-formed XML at line 2, column 15 (byte 29): the document ends inside <title>"]).await;
    check(
        "<html><body>Sign in</body></html>",
        expect!["the document is not an RSS or Atom feed: its root element is <html>"],
    )
    .await;
    check("", expect!["the response is empty, not a feed"]).await;
}

#[tokio::test]
async fn incremental_feeds_leave_out_items_older_than_the_watermark() {
    let (addr, _) = mock_feeds::start(State::default()).await;
    let req = request(
        "article",
        json!({"baseUrl": format!("http://{addr}")}),
        json!({"query": "banking", "incrementalSync": true}),
        100,
    );
    let rss = connector("google-news");
    let first = read_all(rss.as_ref(), &req, None)
        .await
        .expect("the feed reads");
    assert_eq!(records(&first).len(), 3);
    let watermark = first[0]
        .watermark
        .clone()
        .expect("an incremental read has a watermark");
    assert_eq!(watermark, json!("2024-06-03T13:00:00+00:00"));

    // The item published at the watermark is kept (dedupe drops it), older ones are not.
    let since = json!("2024-06-03T09:30:00+00:00");
    let second = read_all(rss.as_ref(), &req, Some(&since))
        .await
        .expect("the feed reads");
    assert_eq!(records(&second).len(), 2);
    assert_eq!(second[0].watermark, Some(watermark.clone()));

    // A full read ignores the watermark.
    let full = ReadRequest {
        full: true,
        ..req.clone()
    };
    assert_eq!(
        records(
            &read_all(rss.as_ref(), &full, Some(&since))
                .await
                .expect("reads")
        )
        .len(),
        3
    );
}

#[tokio::test]
async fn feed_failures_are_classified() {
    let (addr, state) = mock_feeds::start(State::default()).await;
    let req = request(
        "article",
        json!({"url": format!("http://{addr}/feeds/atom")}),
        json!({}),
        100,
    );
    let rss = connector("rss");
    state.fail_next(&[503, 429, 404]);
    let cursor = rss.start(&req, None).expect("a cursor");
    let errors: Vec<ConnectorError> = [
        rss.next_page(&req, &cursor).await,
        rss.next_page(&req, &cursor).await,
        rss.next_page(&req, &cursor).await,
    ]
    .into_iter()
    .filter_map(Result::err)
    .collect();
    expect![[r#"
        [
            Transient {
                message: "HTTP 503 Service Unavailable: mock failure 503",
            },
            RateLimited {
                message: "HTTP 429 Too Many Requests: mock failure 429",
                retry_after: Some(
                    7s,
                ),
            },
            Permanent {
                message: "HTTP 404 Not Found: mock failure 404",
            },
        ]
    "#]]
    .assert_debug_eq(&errors);
    assert_eq!(
        rss.next_page(&req, &cursor)
            .await
            .expect("then it reads")
            .records
            .len(),
        2
    );
}

/// A feed's URL and a search's limits are checked by `check`; a read whose connection
/// gives no feed (only known at run time, when the task names no connection) fails
/// before fetching anything.
#[tokio::test]
async fn feed_settings_are_checked_before_any_fetch() {
    let req = request("article", json!({}), json!({"url": null}), 100);
    let req = ReadRequest {
        settings: cmap::compile::config::settings_from_json("rss", &json!({})).expect("settings"),
        ..req
    };
    let error = connector("rss").start(&req, None).expect_err("no feed");
    expect!["an rss read needs the feed's `url` (task config or connection settings)"]
        .assert_eq(&error.to_string());
    let refused = |integration: &str, settings: Value, task: Value| {
        let settings = cmap::compile::config::settings_from_json(integration, &settings);
        let task = cmap::compile::config::source_from_json(integration, &task);
        format!("{:?} {:?}", settings.err(), task.err())
    };
    expect![[r#"Some("`url` in the settings is not a URL cmap can call") None"#]]
        .assert_eq(&refused("rss", json!({"url": "not a url"}), json!({})));
    expect![[r#"None Some("`maxResults` in the task's config must be from 1 to 100000 records")"#]]
        .assert_eq(&refused(
            "google-news",
            json!({}),
            json!({"query": "x", "maxResults": 0}),
        ));
}

// ---------------------------------------------------------------------------------------
// REST

fn people(n: usize) -> Vec<Value> {
    (1..=n)
        .map(|i| json!({"id": i, "name": format!("P{i}"), "updatedAt": format!("2024-06-{i:02}T00:00:00Z")}))
        .collect()
}

#[tokio::test]
async fn rest_reads_every_pagination_style() {
    let (addr, state) = mock_feeds::start(State::with_records(people(5))).await;
    let rest = connector("rest");
    let check = |settings: Value, expect: Expect| {
        let rest = &rest;
        let state = &state;
        async move {
            let mut settings = object(settings);
            settings.insert("baseUrl".into(), json!(format!("http://{addr}/api")));
            let req = request("people", Value::Object(settings), json!({}), 2);
            let before = state.requests().len();
            let pages = read_all(rest.as_ref(), &req, None)
                .await
                .expect("the API reads");
            let requests = state.requests()[before..].join("\n");
            expect.assert_eq(&format!("ids {:?}\n{requests}", ids(&pages)));
        }
    };
    check(
        json!({"path": "/cursor/{entity}", "pagination": {"type": "cursor", "cursorPath": "meta.next_cursor", "limitParam": "limit"}}),
        expect![[r#"
            ids ["1", "2", "3", "4", "5"]
            /api/cursor/people?limit=2
            /api/cursor/people?limit=2&cursor=c2
            /api/cursor/people?limit=2&cursor=c4"#]],
    )
    .await;
    check(
        json!({"path": "/offset/{entity}", "pagination": {"type": "offset", "totalPath": "total"}}),
        expect![[r#"
            ids ["1", "2", "3", "4", "5"]
            /api/offset/people?limit=2&offset=0
            /api/offset/people?limit=2&offset=2
            /api/offset/people?limit=2&offset=4"#]],
    )
    .await;
    // The connection's own page size wins over the engine's (2 here).
    check(
        json!({"path": "/offset/{entity}", "pagination": {"type": "offset", "totalPath": "total", "pageSize": 3}}),
        expect![[r#"
            ids ["1", "2", "3", "4", "5"]
            /api/offset/people?limit=3&offset=0
            /api/offset/people?limit=3&offset=3"#]],
    )
    .await;
    check(
        json!({"path": "/page/{entity}", "pagination": {"type": "page", "limitParam": "per_page", "totalPagesPath": "total_pages"}}),
        expect![[r#"
            ids ["1", "2", "3", "4", "5"]
            /api/page/people?per_page=2&page=1
            /api/page/people?per_page=2&page=2
            /api/page/people?per_page=2&page=3"#]],
    )
    .await;
    check(
        json!({"path": "/link/{entity}", "pagination": "link"}),
        expect![[r#"
            ids ["1", "2", "3", "4", "5"]
            /api/link/people
            /api/link/people?page=2
            /api/link/people?page=3"#]],
    )
    .await;
    check(
        json!({"path": "/next/{entity}", "recordsPath": "data.items", "pagination": {"type": "next_url", "nextUrlPath": "links.next"}}),
        expect![[r#"
            ids ["1", "2", "3", "4", "5"]
            /api/next/people
            /api/next/people?page=2
            /api/next/people?page=3"#]],
    )
    .await;
    check(
        json!({"path": "/plain/{entity}"}),
        expect![[r#"
        ids ["1", "2", "3", "4", "5"]
        /api/plain/people"#]],
    )
    .await;
    // Offset without a total stops on the first empty page; page numbers likewise.
    check(
        json!({"path": "/offset/{entity}", "pagination": "offset"}),
        expect![[r#"
            ids ["1", "2", "3", "4", "5"]
            /api/offset/people?limit=2&offset=0
            /api/offset/people?limit=2&offset=2
            /api/offset/people?limit=2&offset=4
            /api/offset/people?limit=2&offset=5"#]],
    )
    .await;
    check(
        json!({"path": "/page/{entity}", "pagination": {"type": "page", "limitParam": "per_page"}}),
        expect![[r#"
            ids ["1", "2", "3", "4", "5"]
            /api/page/people?per_page=2&page=1
            /api/page/people?per_page=2&page=2
            /api/page/people?per_page=2&page=3
            /api/page/people?per_page=2&page=4"#]],
    )
    .await;
}

#[tokio::test]
async fn rest_resumes_from_a_cursor_without_refetching() {
    let (addr, state) = mock_feeds::start(State::with_records(people(5))).await;
    let rest = connector("rest");
    for (path, pagination) in [
        (
            "/cursor/{entity}",
            json!({"type": "cursor", "cursorPath": "meta.next_cursor", "limitParam": "limit"}),
        ),
        (
            "/offset/{entity}",
            json!({"type": "offset", "totalPath": "total"}),
        ),
        ("/link/{entity}", json!("link")),
        (
            "/next/{entity}",
            json!({"type": "next_url", "nextUrlPath": "links.next"}),
        ),
    ] {
        let mut settings = object(
            json!({"baseUrl": format!("http://{addr}/api"), "path": path, "pagination": pagination}),
        );
        if path.starts_with("/next") {
            settings.insert("recordsPath".into(), json!("data.items"));
        }
        let req = request("people", Value::Object(settings), json!({}), 2);
        let cursor = rest.start(&req, None).expect("a cursor");
        let first = rest.next_page(&req, &cursor).await.expect("page 1");
        let checkpoint = first.next.clone().expect("more pages");
        // A new process: only the committed cursor survives, as JSON.
        let checkpoint: Value = serde_json::from_str(&checkpoint.to_string()).expect("JSON");
        let before = state.requests().len();
        let mut rest_pages = Vec::new();
        let mut cursor = checkpoint;
        loop {
            let page = rest.next_page(&req, &cursor).await.expect("a page");
            let next = page.next.clone();
            rest_pages.push(page);
            match next {
                Some(next) => cursor = next,
                None => break,
            }
        }
        assert_eq!(ids(&[first]), ["1", "2"], "{path}");
        assert_eq!(ids(&rest_pages), ["3", "4", "5"], "{path}");
        assert_eq!(
            state.requests().len() - before,
            2,
            "{path}: two more pages, nothing refetched"
        );
    }
}

#[tokio::test]
async fn rest_incremental_sends_the_watermark_and_keeps_the_newest() {
    let (addr, state) = mock_feeds::start(State::with_records(people(4))).await;
    let rest = connector("rest");
    let req = request(
        "people",
        json!({
            "baseUrl": format!("http://{addr}/api"), "path": "/offset/{entity}",
            "pagination": {"type": "offset", "totalPath": "total"},
            "incrementalParam": "updated_since", "updatedField": "updatedAt",
        }),
        json!({}),
        3,
    );
    let first = read_all(rest.as_ref(), &req, None)
        .await
        .expect("first run");
    assert_eq!(ids(&first), ["1", "2", "3", "4"]);
    let watermark = first
        .last()
        .and_then(|p| p.watermark.clone())
        .expect("a watermark");
    assert_eq!(watermark, json!("2024-06-04T00:00:00Z"));
    assert_eq!(
        first[0].watermark,
        Some(json!("2024-06-03T00:00:00Z")),
        "the newest so far"
    );

    state
        .records
        .lock()
        .expect("records")
        .extend(people(6).into_iter().skip(4));
    let before = state.requests().len();
    let second = read_all(rest.as_ref(), &req, Some(&watermark))
        .await
        .expect("second run");
    assert_eq!(ids(&second), ["4", "5", "6"], "at the watermark and newer");
    assert_eq!(
        second.last().and_then(|p| p.watermark.clone()),
        Some(json!("2024-06-06T00:00:00Z"))
    );
    expect!["/api/offset/people?limit=3&offset=0&updated_since=2024-06-04T00%3A00%3A00Z"]
        .assert_eq(&state.requests()[before..].join("\n"));

    // Without a filtering API, records older than the watermark are left out here.
    let plain = request(
        "people",
        json!({"baseUrl": format!("http://{addr}/api"), "path": "/plain/{entity}", "updatedField": "updatedAt"}),
        json!({}),
        3,
    );
    let pages = read_all(rest.as_ref(), &plain, Some(&json!("2024-06-05T00:00:00Z")))
        .await
        .expect("reads");
    assert_eq!(ids(&pages), ["5", "6"]);
}

/// A task's config gives its own read of the connection's API: its keys win over the
/// connection's settings (the documented "overrides", which the connector used to ignore
/// but for `modifiedSinceField`).
#[tokio::test]
async fn rest_task_config_overrides_the_connections_read() {
    let (addr, state) = mock_feeds::start(State::with_records(people(3))).await;
    let req = request(
        "people",
        json!({"baseUrl": format!("http://{addr}/api"), "path": "/nowhere/{entity}", "idField": "missing"}),
        json!({"path": "/plain/{entity}", "idField": "id", "pagination": {"type": "none", "limitParam": "n", "pageSize": 7}}),
        2,
    );
    let pages = read_all(connector("rest").as_ref(), &req, None)
        .await
        .expect("the task's path reads");
    assert_eq!(ids(&pages), ["1", "2", "3"]);
    assert_eq!(state.requests(), ["/api/plain/people?n=7"]);
}

#[tokio::test]
async fn rest_records_without_id_or_not_objects_are_invalid() {
    let records = vec![
        json!({"id": "a"}),
        json!({"name": "no id"}),
        json!(42),
        json!({"id": "b"}),
    ];
    let (addr, _) = mock_feeds::start(State::with_records(records)).await;
    let req = request(
        "x",
        json!({"baseUrl": format!("http://{addr}/api/plain")}),
        json!({}),
        10,
    );
    let pages = read_all(connector("rest").as_ref(), &req, None)
        .await
        .expect("reads");
    assert_eq!(ids(&pages), ["a", "b"]);
    expect![[r#"
        the record has no `id` (the setting `idField`) | {"name":"no id"}
        the record is not a JSON object | 42
    "#]]
    .assert_eq(&invalid(&pages));
}

#[tokio::test]
async fn rest_auth_and_failures() {
    let state = State {
        api_key: Some("k-123".into()),
        ..State::with_records(people(2))
    };
    let (addr, state) = mock_feeds::start(state).await;
    let rest = connector("rest");
    let settings = json!({"baseUrl": format!("http://{addr}/api"), "path": "/plain/{entity}"});
    let anonymous = request("people", settings.clone(), json!({}), 10);
    let error = read_all(rest.as_ref(), &anonymous, None)
        .await
        .expect_err("no key");
    assert!(matches!(error, ConnectorError::Auth { .. }), "{error:?}");

    let keyed = ReadRequest {
        http: Some(Arc::new(
            Client::new(
                Arc::new(ApiKey {
                    header: "Authorization".into(),
                    prefix: "Bearer ".into(),
                    key: Secret::new("k-123"),
                }),
                vec![url::Url::parse(&format!("http://{addr}")).expect("origin")],
                Duration::from_secs(10),
            )
            .expect("a client"),
        )),
        ..anonymous
    };
    assert_eq!(
        ids(&read_all(rest.as_ref(), &keyed, None).await.expect("reads")),
        ["1", "2"]
    );

    state.fail_next(&[500, 429]);
    let first = read_all(rest.as_ref(), &keyed, None)
        .await
        .expect_err("500");
    assert!(
        matches!(first, ConnectorError::Transient { .. }),
        "{first:?}"
    );
    let second = read_all(rest.as_ref(), &keyed, None)
        .await
        .expect_err("429");
    assert_eq!(
        second,
        ConnectorError::RateLimited {
            message: "HTTP 429 Too Many Requests: mock failure 429".into(),
            retry_after: Some(Duration::from_secs(7)),
        }
    );
}

#[tokio::test]
async fn rest_bad_settings_and_responses() {
    let (addr, state) = mock_feeds::start(State::with_records(people(1))).await;
    state.set_feed("<rss/>");
    let check = |settings: Value, expect: Expect| async move {
        let req = request("people", with_addr(settings, addr), json!({}), 10);
        let error = read_all(connector("rest").as_ref(), &req, None)
            .await
            .expect_err("fails");
        assert!(!error.is_retryable());
        expect.assert_eq(&error.to_string());
    };
    // Settings that cannot work are refused by `check`, before any read.
    let refused = |settings: Value| {
        cmap::compile::config::settings_from_json("rest", &settings).expect_err("refused")
    };
    expect!["`baseUrl` is missing from the settings"].assert_eq(&refused(json!({})));
    expect!["unknown `type` value `scroll` in `pagination` of the settings"].assert_eq(&refused(
        json!({"baseUrl": "http://127.0.0.1/api", "pagination": {"type": "scroll"}}),
    ));
    check(
        json!({"baseUrl": "http://ADDR/api/offset", "recordsPath": "results.0"}),
        expect![[r#"`results.0` in the response is not an array: {"id":1,"name":"P1","updatedAt":"2024-06-01T00:00:00Z"}"#]],
    )
    .await;
    check(
        json!({"baseUrl": "http://ADDR/api/next"}),
        expect!["the response has no records array (no `data`, `results` or `items`; its keys: data, links): set the setting `recordsPath`"],
    )
    .await;
    check(
        json!({"baseUrl": "http://ADDR", "path": "/feeds/custom"}),
        expect!["the response is not JSON (expected value at line 1 column 1): <rss/>"],
    )
    .await;
}

#[test]
fn link_headers_follow_rfc_8288() {
    let check = |header: &str, expect: Expect| {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::LINK,
            header.parse().expect("a header value"),
        );
        let base = url::Url::parse("https://api.example.com/v1/items?page=1").expect("a URL");
        expect.assert_eq(&format!(
            "{:?}",
            cmap::connectors::rest::next_link(&headers, &base)
        ));
    };
    check(
        r#"<https://api.example.com/v1/items?page=2>; rel="next", <https://api.example.com/v1/items?page=9>; rel="last""#,
        expect![[r#"Ok(Some("https://api.example.com/v1/items?page=2"))"#]],
    );
    check(
        r#"</v1/items?page=1>; rel="prev"; title="a, b", <?page=3>; rel="next""#,
        expect![[r#"Ok(Some("https://api.example.com/v1/items?page=3"))"#]],
    );
    check(
        r#"<https://x.example/2>; rel="last next""#,
        expect![[r#"Ok(Some("https://x.example/2"))"#]],
    );
    check(r#"<https://x.example/9>; rel="last""#, expect!["Ok(None)"]);
}

// ---------------------------------------------------------------------------------------
// Files

fn write(dir: &Path, name: &str, content: &str) {
    std::fs::write(dir.join(name), content).expect("the file is written");
}

fn file_request(dir: &Path, settings: Value, page_size: usize) -> ReadRequest {
    let (settings, source) = crate::support::typed("files", &settings, &json!({}));
    ReadRequest {
        entity: "people".to_string(),
        source,
        settings,
        full: false,
        page_size,
        http: None,
        base_dir: dir.to_path_buf(),
    }
}

/// Each page as `[ids] -> next cursor`, then the invalid records.
async fn file_pages(req: &ReadRequest) -> String {
    let pages = read_all(connector("files").as_ref(), req, None)
        .await
        .expect("the file reads");
    let mut out: String = pages
        .iter()
        .map(|p| {
            format!(
                "{:?} -> {}\n",
                ids(std::slice::from_ref(p)),
                p.next.clone().unwrap_or(Value::Null)
            )
        })
        .collect();
    out.push_str(&invalid(&pages));
    out
}

#[tokio::test]
async fn jsonl_pages_resume_by_offset_and_report_bad_lines() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    write(
        dir.path(),
        "people.jsonl",
        "\u{feff}{\"id\": 1}\n{\"id\": 2}\r\n\n{\"id\": 3, oops}\n[4]\n{\"id\": 5}\n{\"id\": 6}",
    );
    let req = file_request(dir.path(), json!({"path": "{entity}.jsonl"}), 2);
    expect![[r#"
        ["1", "2"] -> {"offset":24,"line":3}
        [] -> {"offset":45,"line":6}
        ["5", "6"] -> null
        line 4: key must be a string at line 1 column 11 | {"id": 3, oops}
        line 5: an array is not a JSON object | [4]
    "#]]
    .assert_eq(&file_pages(&req).await);

    // Resume from the second page's cursor: the bytes before it are not read again (they
    // are garbage now, of the same length).
    let files = connector("files");
    let cursor = files.start(&req, None).expect("a cursor");
    let first = files.next_page(&req, &cursor).await.expect("page 1");
    let checkpoint = first.next.expect("more");
    let offset = checkpoint["offset"].as_u64().expect("an offset") as usize;
    let path = dir.path().join("people.jsonl");
    let mut bytes = std::fs::read(&path).expect("read back");
    bytes[..offset].fill(b'#');
    std::fs::write(&path, &bytes).expect("rewritten");
    let resumed = files.next_page(&req, &checkpoint).await.expect("page 2");
    assert!(
        resumed.invalid.len() == 2 && resumed.records.is_empty(),
        "{resumed:?}"
    );
    let last = files
        .next_page(&req, resumed.next.as_ref().expect("more"))
        .await
        .expect("page 3");
    assert_eq!(ids(&[last]), ["5", "6"]);
}

#[tokio::test]
async fn csv_pages_with_quotes_and_bad_rows() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    write(
        dir.path(),
        "people.csv",
        "id,name,note\n1,Ada,\"likes, commas\"\n2,\"Bob \"\"B\"\"\",\"two\nlines\"\n3,short\n4,Dee,\n5,Eve,x\n",
    );
    let req = file_request(dir.path(), json!({"path": "people.csv"}), 2);
    expect![[r#"
        ["1", "2"] -> {"offset":61,"line":5}
        ["4"] -> {"offset":76,"line":7}
        ["5"] -> null
        line 5: 2 fields, the header has 3 | 3,short
    "#]]
    .assert_eq(&file_pages(&req).await);
    let pages = read_all(connector("files").as_ref(), &req, None)
        .await
        .expect("reads");
    expect![[r#"
        [
          {
            "id": "1",
            "name": "Ada",
            "note": "likes, commas"
          },
          {
            "id": "2",
            "name": "Bob \"B\"",
            "note": "two\nlines"
          }
        ]"#]]
    .assert_eq(&pretty(&records(&pages)[..2].to_vec()));

    // Resume from the second page's cursor with the first rows overwritten.
    let files = connector("files");
    let checkpoint = pages[0].next.clone().expect("more");
    let path = dir.path().join("people.csv");
    let mut bytes = std::fs::read(&path).expect("read back");
    let header_end = bytes.iter().position(|b| *b == b'\n').expect("a header") + 1;
    let offset = checkpoint["offset"].as_u64().expect("an offset") as usize;
    bytes[header_end..offset - 1].fill(b'~');
    std::fs::write(&path, &bytes).expect("rewritten");
    let resumed = files.next_page(&req, &checkpoint).await.expect("page 2");
    assert_eq!(ids(std::slice::from_ref(&resumed)), ["4"]);
    assert_eq!(resumed.invalid.len(), 1);
}

#[tokio::test]
async fn csv_delimiters_and_formats() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    write(dir.path(), "a.txt", "id;name\n1;Ann\n");
    write(dir.path(), "b.tsv", "id\tname\n2\tBo\n");
    write(dir.path(), "c.data", "{\"id\": 3}\n");
    let read = |settings: Value| {
        let req = file_request(dir.path(), settings, 10);
        async move {
            read_all(connector("files").as_ref(), &req, None)
                .await
                .map(|p| records(&p))
        }
    };
    assert_eq!(
        read(json!({"path": "a.txt", "format": "csv", "delimiter": ";"})).await,
        Ok(vec![json!({"id": "1", "name": "Ann"})])
    );
    assert_eq!(
        read(json!({"path": "b.tsv"})).await,
        Ok(vec![json!({"id": "2", "name": "Bo"})])
    );
    assert_eq!(
        read(json!({"path": "c.data", "format": "jsonl"})).await,
        Ok(vec![json!({"id": 3})])
    );
    let dir_text = dir.path().display().to_string();
    let error = |settings: Value| {
        let (read, dir_text) = (&read, &dir_text);
        async move {
            read(settings)
                .await
                .expect_err("fails")
                .to_string()
                .replace(dir_text.as_str(), "DIR")
        }
    };
    expect!["cannot tell the format of `c.data` from its name: set `format` to jsonl or csv"]
        .assert_eq(&error(json!({"path": "c.data"})).await);
    expect!["cannot read DIR/missing.csv: No such file or directory (os error 2)"]
        .assert_eq(&error(json!({"path": "missing.csv"})).await);
    expect!["Err(\"`delimiter` in the settings is not one ASCII character\")"].assert_eq(&format!(
        "{:?}",
        cmap::compile::config::settings_from_json(
            "files",
            &json!({"path": "a.txt", "format": "csv", "delimiter": ";;"})
        )
        .map(|_| ())
    ));
}

#[tokio::test]
async fn files_incremental_by_updated_field() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let lines: String = people(5).iter().map(|p| format!("{p}\n")).collect();
    write(dir.path(), "people.jsonl", &lines);
    let req = file_request(
        dir.path(),
        json!({"path": "people.jsonl", "updatedField": "updatedAt"}),
        2,
    );
    let files = connector("files");
    let first = read_all(files.as_ref(), &req, None).await.expect("reads");
    let watermark = first
        .last()
        .and_then(|p| p.watermark.clone())
        .expect("a watermark");
    assert_eq!(watermark, json!("2024-06-05T00:00:00Z"));
    let since = json!("2024-06-04T00:00:00Z");
    let second = read_all(files.as_ref(), &req, Some(&since))
        .await
        .expect("reads");
    assert_eq!(ids(&second), ["4", "5"]);
}

/// Counts the bytes read from a source.
struct Counting<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

impl<R: Seek> Seek for Counting<R> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

#[tokio::test]
async fn a_large_file_is_read_a_page_at_a_time() {
    const LINES: usize = 200_000;
    const PAGE: usize = 1_000;
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (name, header) in [
        ("big.jsonl", None),
        ("big.csv", Some("id,name,updatedAt\n")),
    ] {
        let path = dir.path().join(name);
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).expect("created"));
        if let Some(header) = header {
            out.write_all(header.as_bytes()).expect("written");
        }
        for i in 0..LINES {
            let line = if header.is_some() {
                format!("{i},name {i},2024-01-01T00:00:00Z\n")
            } else {
                format!(
                    "{{\"id\":{i},\"name\":\"name {i}\",\"updatedAt\":\"2024-01-01T00:00:00Z\"}}\n"
                )
            };
            out.write_all(line.as_bytes()).expect("written");
        }
        drop(out);
        let size = std::fs::metadata(&path).expect("metadata").len();
        let format = if header.is_some() {
            Format::Csv { delimiter: b',' }
        } else {
            Format::JsonLines
        };

        // Each page reads its own bytes plus at most a buffer ahead (and, for CSV, the
        // header): what the reader holds never grows with the file.
        let mut at = Position::START;
        let mut total = 0;
        let mut pages = 0;
        loop {
            let mut source = Counting {
                inner: std::fs::File::open(&path).expect("opened"),
                read: 0,
            };
            let chunk = files::read_chunk(&mut source, format, at, PAGE).expect("a chunk");
            assert!(chunk.invalid.is_empty());
            assert!(chunk.records.len() <= PAGE);
            let span = chunk.next.offset - at.offset;
            assert!(
                source.read <= span + 2 * 64 * 1024,
                "{name}: page at {at:?} read {} bytes for a {span}-byte page",
                source.read
            );
            total += chunk.records.len();
            pages += 1;
            at = chunk.next;
            if chunk.done {
                break;
            }
        }
        assert_eq!((total, pages), (LINES, LINES / PAGE), "{name}");
        assert_eq!(
            at.offset, size,
            "{name}: the last page ends at the end of the file"
        );
        assert_eq!(
            at.line,
            LINES as u64 + 1 + u64::from(header.is_some()),
            "{name}"
        );

        // Through the connector: the same pages, each of at most a page of records.
        let req = file_request(dir.path(), json!({"path": name}), PAGE);
        let pages = read_all(connector("files").as_ref(), &req, None)
            .await
            .expect("reads");
        assert_eq!(pages.len(), LINES / PAGE);
        assert!(pages.iter().all(|p| p.records.len() == PAGE));
        assert_eq!(
            pages[199].records[999]["id"].to_string().trim_matches('"'),
            (LINES - 1).to_string()
        );
    }
}

// ---------------------------------------------------------------------------------------
// Values from outside at the edges

#[tokio::test]
async fn feeds_too_deep_or_too_large_are_refused_without_a_crash() {
    // 100,000 levels: a tree that deep would overflow the stack when dropped.
    let deep = format!(
        "<rss><channel><title>t</title><item><title>x</title>{}{}</item></channel></rss>",
        "<a>".repeat(100_000),
        "</a>".repeat(100_000)
    );
    let many = format!(
        "<rss><channel><title>t</title>{}</channel></rss>",
        "<i/>".repeat(cmap::connectors::rss::MAX_ELEMENTS + 1)
    );
    for (what, body, expect) in [
        ("deep", deep, "the feed nests elements deeper than 256 levels, more than a feed holds: it is not read"),
        ("many", many, "the feed has more than 500000 elements, more than a feed holds: it is not read"),
    ] {
        let error = custom_feed(&body, json!({})).await.expect_err(what);
        assert_eq!(
            error,
            ConnectorError::Permanent {
                message: expect.to_string()
            },
            "{what}"
        );
    }
    // As deep as a feed may be is fine.
    let nested = format!(
        "<rss><channel><item><title>x</title>{}{}</item></channel></rss>",
        "<a>".repeat(250),
        "</a>".repeat(250)
    );
    let pages = custom_feed(&nested, json!({})).await.expect("reads");
    assert_eq!(pages[0].records.len(), 1);
}

#[tokio::test]
async fn response_bodies_are_bounded() {
    let (addr, state) = mock_feeds::start(State::default()).await;
    state.set_feed(&format!(
        "<rss><channel><item><title>{}</title></item></channel></rss>",
        "x".repeat(4096)
    ));
    let mut client =
        Client::new(Arc::new(NoAuth), Vec::new(), Duration::from_secs(10)).expect("client");
    client.max_body = 1024;
    let req = ReadRequest {
        http: Some(Arc::new(client)),
        ..request(
            "article",
            json!({}),
            json!({"url": format!("http://{addr}/feeds/custom")}),
            10,
        )
    };
    let error = read_all(connector("rss").as_ref(), &req, None)
        .await
        .expect_err("too large");
    assert_eq!(
        error,
        ConnectorError::Permanent {
            message: format!(
                "the response of http://{addr} is larger than 1024 bytes, the most a connector reads: ask for smaller pages"
            )
        }
    );
}

#[tokio::test]
async fn rest_page_numbers_at_the_end_of_u64_stop_cleanly() {
    // `startPage` is bounded at check time; a cursor is stored data, and one holding the
    // last page number is read without overflowing.
    let (addr, _state) = mock_feeds::start(State::with_records(people(3))).await;
    let settings = json!({"baseUrl": format!("http://{addr}/api"), "path": "/plain/{entity}",
                          "pagination": {"type": "page"}});
    let req = request("people", settings, json!({}), 10);
    let error = connector("rest")
        .next_page(&req, &json!({"page": u64::MAX}))
        .await
        .expect_err("no page after u64::MAX");
    assert_eq!(
        error,
        ConnectorError::Permanent {
            message: format!("the page number passed {}", u64::MAX)
        }
    );
}

#[tokio::test]
async fn file_lines_longer_than_the_limit_are_refused() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let long = format!(
        "{{\"id\": \"big\", \"pad\": \"{}\"}}",
        "x".repeat(files::MAX_LINE)
    );
    write(
        dir.path(),
        "people.jsonl",
        &format!("{{\"id\": \"1\"}}\n{long}\n{{\"id\": \"2\"}}\n"),
    );
    let req = file_request(dir.path(), json!({"path": "people.jsonl"}), 10);
    let out = file_pages(&req).await;
    let (head, tail) = out.split_once("line 2:").expect("an invalid line 2");
    assert_eq!(head, "[\"1\", \"2\"] -> null\n");
    assert!(
        tail.starts_with(" longer than 16777216 bytes, the longest record a file may hold | {\"id\": \"big\", \"pad\": \"xxx"),
        "{}",
        &tail[..200]
    );
    assert!(tail.len() < 400, "the long line is not kept whole");

    // A CSV record is held whole by the CSV reader: a line past the limit stops the read.
    write(
        dir.path(),
        "people.csv",
        &format!("id,pad\n1,x\n2,{}\n", "x".repeat(files::MAX_LINE)),
    );
    let req = file_request(dir.path(), json!({"path": "people.csv"}), 10);
    let error = read_all(connector("files").as_ref(), &req, None)
        .await
        .err();
    let Some(ConnectorError::Permanent { message }) = &error else {
        panic!(
            "expected a Permanent error, got {:?}",
            error.map(|e| e.to_string())
        );
    };
    assert!(
        message.ends_with("a line is longer than 16777216 bytes, the longest a file may hold"),
        "{message}"
    );
}
