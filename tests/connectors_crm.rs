//! The Salesforce and HubSpot connectors and OAuth2 auth against their mock servers:
//! paging, incremental reads, resumes, deletes, refreshes, rate limits, failures.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use cmap::connectors::auth::{ApiKey, Auth, Secret};
use cmap::connectors::hubspot::HubSpot;
use cmap::connectors::oauth::{OAuth2, OAuth2Config, Persist, TokenUpdate};
use cmap::connectors::salesforce::Salesforce;
use cmap::connectors::{http, Connector, ConnectorError, Page, ReadRequest};
use serde_json::{json, Value};

use crate::support::mock_hubspot as hs;
use crate::support::mock_salesforce as sf;

// ---- helpers ----

fn sf_config(handle: &sf::Handle) -> OAuth2Config {
    let mut config = OAuth2Config::new(sf::CLIENT_ID, handle.token_url());
    config.client_secret = Some(Secret::new(sf::CLIENT_SECRET));
    config.refresh_token = Some(Secret::new(sf::REFRESH_TOKEN));
    config
}

/// A client sending `auth` to `origin` (and to the instance URL a token response names).
fn client(auth: Arc<dyn Auth>, origin: Option<&str>) -> Arc<http::Client> {
    let origins = origin.map(|o| url::Url::parse(o).expect("origin URL"));
    Arc::new(
        http::Client::new(auth, origins.into_iter().collect(), Duration::from_secs(30))
            .expect("client"),
    )
}

/// A read through a client as the engine builds it: `auth` goes to the origins the
/// settings name (`instanceUrl`, `baseUrl`) and to the instance a token response names.
/// The connector is told by the entity: Salesforce objects are capitalised (`Contact`),
/// HubSpot's are not (`contacts`).
fn request(entity: &str, task_config: Value, settings: Value, auth: Arc<dyn Auth>) -> ReadRequest {
    let origins = ["instanceUrl", "baseUrl"]
        .iter()
        .filter_map(|key| settings.get(key).and_then(Value::as_str))
        .map(|url| url::Url::parse(url).expect("a URL setting"))
        .collect();
    let http = Arc::new(http::Client::new(auth, origins, Duration::from_secs(30)).expect("client"));
    let integration = if entity.starts_with(|c: char| c.is_ascii_uppercase()) {
        "salesforce"
    } else {
        "hubspot"
    };
    let (settings, source) = crate::support::typed(integration, &settings, &task_config);
    ReadRequest {
        entity: entity.to_string(),
        source,
        settings,
        full: false,
        page_size: 100,
        http: Some(http),
        base_dir: std::path::PathBuf::from("."),
    }
}

/// Reads from `cursor` to the end; the pages, or the pages before the error and the error.
async fn read_from(
    connector: &dyn Connector,
    req: &ReadRequest,
    mut cursor: Value,
) -> (Vec<Page>, Option<ConnectorError>) {
    let mut pages = Vec::new();
    for _ in 0..1000 {
        match connector.next_page(req, &cursor).await {
            Ok(page) => {
                let next = page.next.clone();
                pages.push(page);
                match next {
                    Some(next) => cursor = next,
                    None => return (pages, None),
                }
            }
            Err(e) => return (pages, Some(e)),
        }
    }
    panic!("the read did not end after 1000 pages");
}

async fn read_all(
    connector: &dyn Connector,
    req: &ReadRequest,
    watermark: Option<Value>,
) -> Vec<Page> {
    let cursor = connector.start(req, watermark.as_ref()).expect("start");
    let (pages, error) = read_from(connector, req, cursor).await;
    assert_eq!(error, None, "the read failed");
    pages
}

/// One line per page: `ids | deleted: ids | watermark`.
fn summary(pages: &[Page], id_key: &str) -> String {
    pages
        .iter()
        .map(|p| {
            let ids: Vec<&str> = p
                .records
                .iter()
                .map(|r| r.get(id_key).and_then(Value::as_str).unwrap_or("?"))
                .collect();
            let mut line = ids.join(" ");
            if !p.deleted.is_empty() {
                line.push_str(&format!(" | deleted: {}", p.deleted.join(" ")));
            }
            if let Some(w) = &p.watermark {
                line.push_str(&format!(" | watermark: {}", w.as_str().unwrap_or("null")));
            }
            if let Some(t) = p.total {
                line.push_str(&format!(" | total: {t}"));
            }
            line.push('\n');
            line
        })
        .collect()
}

fn contacts(rows: &[(&str, &str)]) -> BTreeMap<String, Vec<Value>> {
    let records = rows
        .iter()
        .map(|(id, stamp)| sf::contact(id, &format!("Name{id}"), stamp))
        .collect();
    BTreeMap::from([("Contact".to_string(), records)])
}

const FIVE: &[(&str, &str)] = &[
    ("003A", "2024-01-15T10:00:00.000+0000"),
    ("003B", "2024-01-15T10:30:00.000+0000"),
    ("003C", "2024-01-15T10:30:00.000+0000"),
    ("003D", "2024-01-15T10:40:00.000+0000"),
    ("003E", "2024-01-15T10:27:00.000+0000"),
];

async fn sf_start(config: sf::Config) -> (sf::Handle, Arc<OAuth2>) {
    let (_, handle) = sf::start(config).await;
    let auth = Arc::new(OAuth2::new(sf_config(&handle), None).expect("oauth2"));
    (handle, auth)
}

// ---- Salesforce ----

#[tokio::test]
async fn salesforce_full_read_across_pages() {
    let (handle, auth) = sf_start(sf::Config {
        objects: contacts(FIVE),
        page_size: 2,
        ..sf::Config::default()
    })
    .await;
    // No instanceUrl: the token response's instance_url is used.
    let req = request("Contact", json!({}), json!({}), auth.clone());
    let pages = read_all(&Salesforce, &req, None).await;
    expect_test::expect![[r#"
        003A 003B | total: 5
        003C 003D | total: 5
        003E | total: 5
    "#]]
    .assert_eq(&summary(&pages, "Id"));
    assert_eq!(auth.instance_url(), Some(handle.base_url()));
    assert_eq!(
        handle.queries(),
        ["SELECT FIELDS(STANDARD) FROM Contact ORDER BY Id ASC"]
    );
    // Records keep their attributes and nested compound fields.
    assert_eq!(pages[0].records[0]["attributes"]["type"], "Contact");
    assert_eq!(pages[0].records[0]["MailingAddress"]["city"], "London");
    assert_eq!(handle.token_calls(), 1);
}

#[tokio::test]
async fn salesforce_incremental_read_from_a_watermark_rereads_ties() {
    let (handle, auth) = sf_start(sf::Config {
        objects: contacts(FIVE),
        ..sf::Config::default()
    })
    .await;
    let task = json!({"incrementalSync": true, "fields": ["LastName"]});
    let settings = json!({"instanceUrl": handle.base_url(), "apiVersion": "60.0"});
    let req = request("Contact", task, settings, auth);
    // The last run reached 10:30 (003B and 003C share it): they are read again, and so is
    // 003E, committed late inside the 300 s lookback; 003A is older.
    let pages = read_all(&Salesforce, &req, Some(json!("2024-01-15T10:30:00.000Z"))).await;
    expect_test::expect![[r#"
        003E 003B 003C 003D | watermark: 2024-01-15T10:40:00.000Z | total: 4
    "#]]
    .assert_eq(&summary(&pages, "Id"));
    expect_test::expect![[r#"
        [
            "SELECT LastName, Id, SystemModstamp FROM Contact WHERE SystemModstamp >= 2024-01-15T10:25:00Z ORDER BY SystemModstamp ASC, Id ASC",
        ]
    "#]]
    .assert_debug_eq(&handle.queries());

    // Nothing changed since: the watermark holds (the lookback re-reads, the engine skips).
    let pages = read_all(&Salesforce, &req, Some(json!("2024-01-15T10:40:00.000Z"))).await;
    expect_test::expect![[r#"
        003D | watermark: 2024-01-15T10:40:00.000Z | total: 1
    "#]]
    .assert_eq(&summary(&pages, "Id"));

    // A record modified since shows up in the next incremental read.
    let mut records: Vec<Value> = FIVE
        .iter()
        .map(|(id, stamp)| sf::contact(id, &format!("Name{id}"), stamp))
        .collect();
    records.push(sf::contact("003F", "NameF", "2024-01-15T11:00:00.000+0000"));
    handle.set_records("Contact", records);
    let pages = read_all(&Salesforce, &req, Some(json!("2024-01-15T10:40:00.000Z"))).await;
    expect_test::expect![[r#"
        003D 003F | watermark: 2024-01-15T11:00:00.000Z | total: 2
    "#]]
    .assert_eq(&summary(&pages, "Id"));

    // A full read of the incremental task ignores the watermark and sets a new one.
    let mut full = req.clone();
    full.full = true;
    let pages = read_all(&Salesforce, &full, Some(json!("2024-01-15T10:40:00.000Z"))).await;
    expect_test::expect![[r#"
        003A 003E 003B 003C 003D 003F | watermark: 2024-01-15T11:00:00.000Z | total: 6
    "#]]
    .assert_eq(&summary(&pages, "Id"));
}

#[tokio::test]
async fn salesforce_resumes_from_a_mid_read_cursor() {
    let (handle, auth) = sf_start(sf::Config {
        objects: contacts(FIVE),
        page_size: 2,
        ..sf::Config::default()
    })
    .await;
    let task = json!({"incrementalSync": true, "lookbackSeconds": 0});
    let settings = json!({"instanceUrl": handle.base_url()});
    let req = request("Contact", task, settings.clone(), auth);
    let cursor = Salesforce
        .start(&req, Some(&json!("2024-01-15T09:00:00Z")))
        .expect("start");
    let first = Salesforce.next_page(&req, &cursor).await.expect("page 1");
    let resume = first.next.clone().expect("more pages");

    // A new process (fresh auth, no token) resumes from the committed cursor.
    let auth = Arc::new(OAuth2::new(sf_config(&handle), None).expect("oauth2"));
    let req = request("Contact", json!({}), settings, auth);
    let (rest, error) = read_from(&Salesforce, &req, resume.clone()).await;
    assert_eq!(error, None);
    expect_test::expect![[r#"
        003A 003E | watermark: 2024-01-15T10:27:00.000Z | total: 5
        003B 003C | watermark: 2024-01-15T10:30:00.000Z | total: 5
        003D | watermark: 2024-01-15T10:40:00.000Z | total: 5
    "#]]
    .assert_eq(&summary(&[vec![first], rest].concat(), "Id"));

    // Much later the query locator has expired: the read queries again from the last
    // key read, without re-reading or skipping anything.
    handle.expire_locators();
    let (rest, error) = read_from(&Salesforce, &req, resume).await;
    assert_eq!(error, None);
    expect_test::expect![[r#"
        003B 003C | watermark: 2024-01-15T10:30:00.000Z | total: 3
        003D | watermark: 2024-01-15T10:40:00.000Z | total: 3
    "#]]
    .assert_eq(&summary(&rest, "Id"));
    let queries = handle.queries();
    expect_test::expect![[r#"
        "SELECT FIELDS(STANDARD) FROM Contact WHERE SystemModstamp >= 2024-01-15T09:00:00Z AND (SystemModstamp > 2024-01-15T10:27:00.000Z OR (SystemModstamp = 2024-01-15T10:27:00.000Z AND Id > '003E')) ORDER BY SystemModstamp ASC, Id ASC"
    "#]]
    .assert_debug_eq(queries.last().expect("a query"));
}

#[tokio::test]
async fn salesforce_deleted_records_become_deletes() {
    let mut objects = contacts(&FIVE[..3]);
    if let Some(records) = objects.get_mut("Contact") {
        records[1]["IsDeleted"] = json!(true);
    }
    let (handle, auth) = sf_start(sf::Config {
        objects,
        ..sf::Config::default()
    })
    .await;
    let settings = json!({"instanceUrl": handle.base_url()});
    // Without includeDeleted the query endpoint hides them.
    let req = request("Contact", json!({}), settings.clone(), auth.clone());
    let pages = read_all(&Salesforce, &req, None).await;
    expect_test::expect![[r#"
        003A 003C | total: 2
    "#]]
    .assert_eq(&summary(&pages, "Id"));

    let task = json!({"includeDeleted": true, "fields": ["LastName"]});
    let req = request("Contact", task, settings, auth);
    let pages = read_all(&Salesforce, &req, None).await;
    expect_test::expect![[r#"
        003A 003C | deleted: 003B | total: 3
    "#]]
    .assert_eq(&summary(&pages, "Id"));
    assert_eq!(
        handle.queries().last().map(String::as_str),
        Some("SELECT LastName, Id, IsDeleted FROM Contact ORDER BY Id ASC")
    );
}

#[tokio::test]
async fn salesforce_expired_sessions_refresh_once_each() {
    let (handle, auth) = sf_start(sf::Config {
        objects: contacts(FIVE),
        page_size: 1,
        session_requests: Some(2),
        ..sf::Config::default()
    })
    .await;
    let req = request("Contact", json!({}), json!({}), auth);
    let pages = read_all(&Salesforce, &req, None).await;
    assert_eq!(pages.len(), 5);
    // Token 1 serves calls 1-2, the 401 on call 3 refreshes (token 2: calls 3-4), the
    // 401 on call 5 refreshes again.
    assert_eq!((handle.token_calls(), handle.unauthorized()), (3, 2));

    // A session revoked between runs: the next read's first call refreshes, and the
    // two-call sessions expire twice more during its five calls.
    handle.expire_session();
    let pages = read_all(&Salesforce, &req, None).await;
    assert_eq!(pages.len(), 5);
    assert_eq!((handle.token_calls(), handle.unauthorized()), (6, 5));
}

#[tokio::test]
async fn oauth_concurrent_rejections_refresh_once() {
    let (_, handle) = sf::start(sf::Config::default()).await;
    let mut config = sf_config(&handle);
    config.access_token = Some(Secret::new("stale-token"));
    let auth = Arc::new(OAuth2::new(config, None).expect("oauth2"));
    // Eight requests rejected with the same token ask for a refresh at once.
    let generation = auth.generation();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let auth = auth.clone();
        tasks.spawn(async move { auth.refresh(generation).await });
    }
    while let Some(result) = tasks.join_next().await {
        assert_eq!(result.expect("task"), Ok(true));
    }
    assert_eq!(handle.token_calls(), 1);
    assert_eq!(auth.generation(), generation + 1);

    // Through HTTP: eight concurrent queries with a stale stored token all succeed after
    // one refresh, however their 401s interleave with it.
    let (_, handle) = sf::start(sf::Config {
        objects: contacts(FIVE),
        ..sf::Config::default()
    })
    .await;
    let mut config = sf_config(&handle);
    config.access_token = Some(Secret::new("stale-token"));
    let http = client(
        Arc::new(OAuth2::new(config, None).expect("oauth2")),
        Some(&handle.base_url()),
    );
    let url = format!("{}/services/data/v59.0/query", handle.base_url());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (http, url) = (http.clone(), url.clone());
        tasks.spawn(async move {
            let response = http
                .execute(&|c: &reqwest::Client| {
                    c.get(&url).query(&[("q", "SELECT Id FROM Contact")])
                })
                .await;
            response.map(|r| r.status.as_u16())
        });
    }
    while let Some(result) = tasks.join_next().await {
        assert_eq!(result.expect("task"), Ok(200));
    }
    assert_eq!(handle.token_calls(), 1);
    assert!(handle.unauthorized() >= 1);
}

/// Each persisted update, with the API calls made before it and the server's refresh token then.
type Seen = Arc<Mutex<Vec<(TokenUpdate, u64, String)>>>;

/// A persist callback that records each update with the API calls made before it.
fn recorder(handle: &sf::Handle, fail: bool) -> (Persist, Seen) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (sink, handle) = (seen.clone(), handle.clone());
    let persist: Persist = Arc::new(move |update: TokenUpdate| {
        sink.lock()
            .expect("lock")
            .push((update, handle.api_calls(), handle.refresh_token()));
        if fail {
            Err("the data directory is read-only".to_string())
        } else {
            Ok(())
        }
    });
    (persist, seen)
}

#[tokio::test]
async fn oauth_rotated_refresh_tokens_are_persisted_before_use() {
    let (_, handle) = sf::start(sf::Config {
        objects: contacts(FIVE),
        page_size: 2,
        rotate_refresh_tokens: true,
        session_requests: Some(2),
        ..sf::Config::default()
    })
    .await;
    let (persist, seen) = recorder(&handle, false);
    let auth = Arc::new(OAuth2::new(sf_config(&handle), Some(persist)).expect("oauth2"));
    let req = request("Contact", json!({}), json!({}), auth);
    let pages = read_all(&Salesforce, &req, None).await;
    assert_eq!(pages.len(), 3);
    // The second refresh only works with the first rotated token (the server invalidates
    // the old one), so each rotated token was installed; each was persisted before any
    // API call used it.
    let seen = seen.lock().expect("lock");
    let summary: Vec<(Option<String>, u64, bool)> = seen
        .iter()
        .map(|(update, calls, server_token)| {
            (
                update
                    .refresh_token
                    .as_ref()
                    .map(|t| t.expose().to_string()),
                *calls,
                update.refresh_token.as_ref().map(|t| t.expose()) == Some(server_token.as_str()),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (Some("5Aep861mockRefresh1".to_string()), 0, true),
            (Some("5Aep861mockRefresh2".to_string()), 2, true),
        ]
    );
    assert_eq!(seen[0].0.instance_url, Some(handle.base_url()));
    // The token in use is the last one persisted.
    assert_eq!(
        seen[1].0.access_token.expose(),
        handle.access_token().as_deref().unwrap_or("")
    );
}

/// Saving a token fsyncs: it runs on a blocking thread, never on the async worker that
/// refreshes (here the test's own thread: `#[tokio::test]` is a current-thread runtime).
#[tokio::test]
async fn oauth_tokens_are_saved_off_the_async_workers() {
    let (_, handle) = sf::start(sf::Config {
        objects: contacts(FIVE),
        rotate_refresh_tokens: true,
        ..sf::Config::default()
    })
    .await;
    let threads = Arc::new(Mutex::new(Vec::new()));
    let sink = threads.clone();
    let persist: Persist = Arc::new(move |_: TokenUpdate| {
        sink.lock().expect("lock").push(std::thread::current().id());
        Ok(())
    });
    let auth = Arc::new(OAuth2::new(sf_config(&handle), Some(persist)).expect("oauth2"));
    let req = request("Contact", json!({}), json!({}), auth);
    read_all(&Salesforce, &req, None).await;
    let threads = threads.lock().expect("lock");
    assert!(!threads.is_empty(), "a token was saved");
    assert!(
        threads.iter().all(|t| *t != std::thread::current().id()),
        "saved on the async worker"
    );
}

#[tokio::test]
async fn oauth_a_rotated_token_that_cannot_be_saved_is_not_used() {
    let (_, handle) = sf::start(sf::Config {
        objects: contacts(FIVE),
        rotate_refresh_tokens: true,
        ..sf::Config::default()
    })
    .await;
    let (persist, seen) = recorder(&handle, true);
    let auth = Arc::new(OAuth2::new(sf_config(&handle), Some(persist)).expect("oauth2"));
    let req = request("Contact", json!({}), json!({}), auth);
    let cursor = Salesforce.start(&req, None).expect("start");
    let error = Salesforce
        .next_page(&req, &cursor)
        .await
        .expect_err("no page");
    expect_test::expect![[r#"
        Permanent {
            message: "the token endpoint rotated the refresh token but it could not be saved, so it is not used: the data directory is read-only",
        }
    "#]]
    .assert_debug_eq(&error);
    assert_eq!(seen.lock().expect("lock").len(), 1);
    assert_eq!(
        handle.api_calls(),
        0,
        "no request went out with the unsaved token"
    );
}

#[tokio::test]
async fn oauth_salesforce_token_response_without_expiry() {
    let (_, handle) = sf::start(sf::Config::default()).await;
    let (persist, seen) = recorder(&handle, false);
    let auth = OAuth2::new(sf_config(&handle), Some(persist)).expect("oauth2");
    let _unsent = auth
        .apply(reqwest::Client::new().get("http://127.0.0.1/"))
        .await
        .expect("token");
    let update = seen.lock().expect("lock")[0].0.clone();
    expect_test::expect![[r#"
        TokenUpdate {
            access_token: ***,
            refresh_token: None,
            expires_at: None,
            instance_url: Some(
                "http://127.0.0.1:PORT",
            ),
            token_type: "bearer",
            scope: Some(
                [
                    "refresh_token",
                    "api",
                ],
            ),
        }"#]]
    .assert_eq(&format!("{update:#?}").replace(&handle.base_url(), "http://127.0.0.1:PORT"));
    // Without an expiry the token is used until rejected: no more refreshes.
    for _ in 0..3 {
        let _unsent = auth
            .apply(reqwest::Client::new().get("http://127.0.0.1/"))
            .await
            .expect("token");
    }
    assert_eq!(handle.token_calls(), 1);
}

#[tokio::test]
async fn oauth_an_unchanged_refresh_token_is_not_a_rotation() {
    // HubSpot-style answers: `expires_in`, and the same refresh token sent back.
    let (_, handle) = sf::start(sf::Config {
        echo_refresh_token: true,
        expires_in: Some(json!(1800)),
        ..sf::Config::default()
    })
    .await;
    let start = Utc
        .with_ymd_and_hms(2024, 1, 15, 10, 0, 0)
        .single()
        .expect("date");
    let (_, clock) = manual_clock(start);
    // Saving fails, but only an access token is lost: it is used, and the next run
    // refreshes again.
    let (persist, seen) = recorder(&handle, true);
    let mut config = sf_config(&handle);
    config.clock = clock;
    let auth = OAuth2::new(config, Some(persist)).expect("oauth2");
    let _unsent = auth
        .apply(reqwest::Client::new().get("http://127.0.0.1/"))
        .await
        .expect("the token is used");
    let update = seen.lock().expect("lock")[0].0.clone();
    assert_eq!(update.refresh_token, None);
    assert_eq!(
        update.expires_at,
        Some(start + chrono::Duration::seconds(1800))
    );
}

/// A clock the test moves by hand.
fn manual_clock(
    start: DateTime<Utc>,
) -> (Arc<Mutex<DateTime<Utc>>>, cmap::connectors::oauth::Clock) {
    let now = Arc::new(Mutex::new(start));
    let read = now.clone();
    (now, Arc::new(move || *read.lock().expect("clock")))
}

#[tokio::test]
async fn oauth_refreshes_before_expiry() {
    let (_, handle) = sf::start(sf::Config {
        expires_in: Some(json!(3600)),
        ..sf::Config::default()
    })
    .await;
    let start = Utc
        .with_ymd_and_hms(2024, 1, 15, 10, 0, 0)
        .single()
        .expect("date");
    let (now, clock) = manual_clock(start);
    let mut config = sf_config(&handle);
    config.clock = clock;
    let auth = OAuth2::new(config, None).expect("oauth2");
    let apply = || auth.apply(reqwest::Client::new().get("http://127.0.0.1/"));
    // (seconds after the first token, token calls after a request then)
    let mut seen = Vec::new();
    for secs in [0, 3000, 3539, 3541, 3600, 7140, 7142] {
        *now.lock().expect("clock") = start + chrono::Duration::seconds(secs);
        let _unsent = apply().await.expect("token");
        seen.push((secs, handle.token_calls()));
    }
    // The margin is 60 s: the token of 0 s (3600 s) is renewed from 3540 s on; the one of
    // 3541 s from 7081 s on.
    assert_eq!(
        seen,
        [
            (0, 1),
            (3000, 1),
            (3539, 1),
            (3541, 2),
            (3600, 2),
            (7140, 3),
            (7142, 3)
        ]
    );

    // A configured default lifetime stands in for a missing expires_in.
    let (_, handle) = sf::start(sf::Config::default()).await;
    let (persist, seen) = recorder(&handle, false);
    let (_, clock) = manual_clock(start);
    let mut config = sf_config(&handle);
    config.clock = clock;
    config.default_lifetime = Some(Duration::from_secs(7200));
    let auth = OAuth2::new(config, Some(persist)).expect("oauth2");
    let _unsent = auth
        .apply(reqwest::Client::new().get("http://127.0.0.1/"))
        .await
        .expect("token");
    assert_eq!(
        seen.lock().expect("lock")[0].0.expires_at,
        Some(start + chrono::Duration::hours(2))
    );
}

#[tokio::test]
async fn oauth_invalid_grant_is_an_auth_error_without_secrets() {
    let (_, handle) = sf::start(sf::Config::default()).await;
    let mut config = sf_config(&handle);
    config.refresh_token = Some(Secret::new("5Aep861revokedRefreshToken"));
    let auth = OAuth2::new(config, None).expect("oauth2");
    let error = auth
        .apply(reqwest::Client::new().get("http://127.0.0.1/"))
        .await
        .expect_err("refused");
    expect_test::expect![[r#"
        Auth {
            message: "the token endpoint refused the refresh token (invalid_grant): expired access/refresh token",
        }
    "#]]
    .assert_debug_eq(&error);
    let text = format!("{error} {error:?}");
    for secret in ["5Aep861revokedRefreshToken", sf::CLIENT_SECRET] {
        assert!(!text.contains(secret), "{text}");
    }
}

#[tokio::test]
async fn salesforce_request_limit_ends_the_read() {
    let (handle, auth) = sf_start(sf::Config {
        objects: contacts(FIVE),
        page_size: 1,
        request_limit: Some(2),
        ..sf::Config::default()
    })
    .await;
    let req = request("Contact", json!({}), json!({}), auth);
    let cursor = Salesforce.start(&req, None).expect("start");
    let before = Utc::now();
    let (pages, error) = read_from(&Salesforce, &req, cursor).await;
    let after = Utc::now();
    assert_eq!(pages.len(), 2);
    let Some(ConnectorError::LimitReached { message, resets_at }) = error else {
        panic!("expected the request limit, got {error:?}");
    };
    assert_eq!(
        message,
        "Salesforce REQUEST_LIMIT_EXCEEDED (403 Forbidden): TotalRequests Limit exceeded."
    );
    // A rolling 24-hour allocation: tried again an hour later (an estimate).
    let hour = chrono::TimeDelta::hours(1);
    assert!(
        before + hour <= resets_at && resets_at <= after + hour,
        "{resets_at}"
    );
    assert_eq!(handle.api_calls(), 3);
}

#[tokio::test]
async fn salesforce_failures_are_classified() {
    let (handle, auth) = sf_start(sf::Config {
        objects: contacts(FIVE),
        ..sf::Config::default()
    })
    .await;
    let http: Arc<dyn Auth> = auth;
    let check = |fault: Option<(u16, &'static str)>, task: Value, expect: expect_test::Expect| {
        let handle = handle.clone();
        let req = request("Contact", task, json!({}), http.clone());
        async move {
            if let Some((status, body)) = fault {
                handle.fail_next(status, body);
            }
            let cursor = Salesforce.start(&req, None);
            let got = match cursor {
                Ok(cursor) => Salesforce.next_page(&req, &cursor).await.map(|_| ()),
                Err(e) => Err(e),
            };
            expect.assert_debug_eq(&got);
        }
    };
    check(
        None,
        json!({"fields": ["LastName", "Nickname__c"]}),
        expect_test::expect![[r#"
            Err(
                Permanent {
                    message: "Salesforce INVALID_FIELD (400 Bad Request): No such column 'Nickname__c' on entity 'Contact'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name.",
                },
            )
        "#]],
    )
    .await;
    check(
        Some((400, r#"[{"message":"unexpected token: 'FORM'","errorCode":"MALFORMED_QUERY"}]"#)),
        json!({}),
        expect_test::expect![[r#"
            Err(
                Permanent {
                    message: "Salesforce MALFORMED_QUERY (400 Bad Request): unexpected token: 'FORM'",
                },
            )
        "#]],
    )
    .await;
    check(
        Some((503, r#"[{"message":"Server is unavailable","errorCode":"SERVER_UNAVAILABLE"}]"#)),
        json!({}),
        expect_test::expect![[r#"
            Err(
                Transient {
                    message: "Salesforce SERVER_UNAVAILABLE (503 Service Unavailable): Server is unavailable",
                },
            )
        "#]],
    )
    .await;
    check(
        Some((502, "<html><body>Bad Gateway</body></html>")),
        json!({}),
        expect_test::expect![[r#"
            Err(
                Transient {
                    message: "HTTP 502 Bad Gateway: <html><body>Bad Gateway</body></html>",
                },
            )
        "#]],
    )
    .await;
    check(
        Some((200, "<html>Maintenance</html>")),
        json!({}),
        expect_test::expect![[r#"
            Err(
                Permanent {
                    message: "the query response is not one Salesforce sends (expected value at line 1 column 1): <html>Maintenance</html>",
                },
            )
        "#]],
    )
    .await;
    check(
        Some((200, r#"{"totalSize": 1, "done": false, "records": []}"#)),
        json!({}),
        expect_test::expect![[r#"
            Err(
                Permanent {
                    message: "the query response says it is not done but has no nextRecordsUrl",
                },
            )
        "#]],
    )
    .await;
    // A field list that would inject SOQL never reaches a read: `check` refuses it.
    let injected = cmap::compile::config::source_from_json(
        "salesforce",
        &json!({"fields": ["Name FROM User --"]}),
    );
    expect_test::expect![[r#"
        Err(
            "a name in `fields` of the task's config is not a Salesforce field or object name",
        )
    "#]]
    .assert_debug_eq(&injected);
}

// ---- HubSpot ----

fn hubspot_auth() -> Arc<dyn Auth> {
    Arc::new(ApiKey {
        header: "Authorization".into(),
        prefix: "Bearer ".into(),
        key: Secret::new(hs::TOKEN),
    })
}

async fn hs_start(config: hs::Config) -> hs::Handle {
    hs::start(config).await.1
}

fn hs_contacts(records: Vec<Value>) -> BTreeMap<String, Vec<Value>> {
    BTreeMap::from([("contacts".to_string(), records)])
}

#[tokio::test]
async fn hubspot_full_read_with_archived_records() {
    let handle = hs_start(hs::Config {
        objects: hs_contacts(vec![
            hs::contact(101, "a@example.com", "2024-03-01T10:00:00.000Z"),
            hs::contact(102, "b@example.com", "2024-03-01T11:00:00.000Z"),
            hs::archived_contact(103, "c@example.com", "2024-03-01T12:00:00.000Z"),
            hs::contact(104, "d@example.com", "2024-03-01T09:00:00.000Z"),
            hs::contact(105, "e@example.com", "2024-03-01T10:00:00.000Z"),
        ]),
        page_size: 2,
        ..hs::Config::default()
    })
    .await;
    let task = json!({"incrementalSync": true});
    let req = request(
        "contacts",
        task,
        json!({"baseUrl": handle.base_url()}),
        hubspot_auth(),
    );
    let pages = read_all(&HubSpot, &req, None).await;
    expect_test::expect![[r#"
        101 102 | watermark: 2024-03-01T11:00:00.000Z
        104 105 | watermark: 2024-03-01T11:00:00.000Z
         | deleted: 103 | watermark: 2024-03-01T11:00:00.000Z
    "#]]
    .assert_eq(&summary(&pages, "id"));
    // Property values stay strings; unrequested properties are not asked for.
    let first = &pages[0].records[0];
    assert_eq!(first["properties"]["hs_object_id"], "101");
    assert_eq!(first["properties"].get("numemployees"), None);
    assert_eq!(first["createdAt"], "2023-01-10T09:00:00.000Z");
    let lists = handle.lists();
    assert_eq!(lists[0]["archived"], "false");
    assert_eq!(lists.last().map(|l| l["archived"].as_str()), Some("true"));
    assert!(lists[0]["properties"].contains("lastmodifieddate"));
}

#[tokio::test]
async fn hubspot_incremental_read_through_search() {
    let handle = hs_start(hs::Config {
        objects: hs_contacts(vec![
            hs::contact(101, "a@example.com", "2024-03-01T10:00:00.000Z"),
            hs::contact(102, "b@example.com", "2024-03-01T11:00:00.000Z"),
            hs::contact(103, "c@example.com", "2024-03-01T11:00:00.000Z"),
            hs::contact(104, "d@example.com", "2024-03-01T12:00:00.000Z"),
            hs::contact(105, "e@example.com", "2024-03-01T10:58:00.000Z"),
        ]),
        page_size: 2,
        ..hs::Config::default()
    })
    .await;
    let task = json!({"incrementalSync": true, "properties": ["email"]});
    let req = request(
        "contacts",
        task,
        json!({"baseUrl": handle.base_url()}),
        hubspot_auth(),
    );
    let pages = read_all(&HubSpot, &req, Some(json!("2024-03-01T11:00:00.000Z"))).await;
    expect_test::expect![[r#"
        105 102 | watermark: 2024-03-01T11:00:00.000Z | total: 4
        103 104 | watermark: 2024-03-01T12:00:00.000Z | total: 4
    "#]]
    .assert_eq(&summary(&pages, "id"));
    expect_test::expect![[r#"
        {
          "filterGroups": [
            {
              "filters": [
                {
                  "propertyName": "lastmodifieddate",
                  "operator": "GTE",
                  "value": "1709290500000"
                }
              ]
            }
          ],
          "sorts": [
            {
              "propertyName": "lastmodifieddate",
              "direction": "ASCENDING"
            }
          ],
          "limit": 100,
          "properties": [
            "email",
            "lastmodifieddate"
          ]
        }"#]]
    .assert_eq(&serde_json::to_string_pretty(&handle.searches()[0]).expect("json"));

    // Companies and deals follow hs_lastmodifieddate.
    let req = request(
        "companies",
        json!({"incrementalSync": true}),
        json!({"baseUrl": handle.base_url()}),
        hubspot_auth(),
    );
    handle.set_records("companies", Vec::new());
    read_all(&HubSpot, &req, Some(json!("2024-03-01T11:00:00.000Z"))).await;
    let search = handle.searches().last().cloned().expect("a search");
    assert_eq!(search["sorts"][0]["propertyName"], "hs_lastmodifieddate");
}

#[tokio::test]
async fn hubspot_search_window_splits_at_the_10k_cap() {
    // 10,250 contacts, three per modification instant.
    let base = Utc
        .with_ymd_and_hms(2024, 3, 1, 0, 0, 0)
        .single()
        .expect("date");
    let records: Vec<Value> = (0..10_250u64)
        .map(|i| {
            let at = base + chrono::Duration::seconds((i / 3) as i64);
            hs::contact(
                1000 + i,
                &format!("c{i}@example.com"),
                &at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            )
        })
        .collect();
    let handle = hs_start(hs::Config {
        objects: hs_contacts(records),
        ..hs::Config::default()
    })
    .await;
    let task = json!({"incrementalSync": true, "lookbackSeconds": 0, "properties": ["email"]});
    let req = request(
        "contacts",
        task,
        json!({"baseUrl": handle.base_url()}),
        hubspot_auth(),
    );
    let pages = read_all(&HubSpot, &req, Some(json!("2024-02-29T00:00:00.000Z"))).await;
    let ids: BTreeSet<String> = pages
        .iter()
        .flat_map(|p| &p.records)
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(ids.len(), 10_250, "every record read");
    // Two windows: the second starts at the newest instant of the first (its last page),
    // so the records sharing that instant are read twice and none is lost.
    let windows: Vec<String> = handle
        .searches()
        .iter()
        .filter(|s| s.get("after").is_none())
        .map(|s| {
            s["filterGroups"][0]["filters"][0]["value"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    let second = (base + chrono::Duration::seconds(9_999 / 3)).timestamp_millis();
    assert_eq!(windows, ["1709164800000".to_string(), second.to_string()]);
    let read: usize = pages.iter().map(|p| p.records.len()).sum();
    assert_eq!(
        read,
        10_250 + 1,
        "one record of the split instant read twice"
    );
    let last = pages.last().and_then(|p| p.watermark.clone());
    let newest = base + chrono::Duration::seconds(10_249 / 3);
    assert_eq!(
        last,
        Some(json!(
            newest.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        ))
    );
}

#[tokio::test]
async fn hubspot_rate_limits() {
    let check = |limit: hs::RateLimit, expect: expect_test::Expect| async move {
        let handle = hs_start(hs::Config {
            objects: hs_contacts(vec![hs::contact(
                101,
                "a@example.com",
                "2024-03-01T10:00:00.000Z",
            )]),
            rate_limit: Some(limit),
            ..hs::Config::default()
        })
        .await;
        let req = request(
            "contacts",
            json!({}),
            json!({"baseUrl": handle.base_url()}),
            hubspot_auth(),
        );
        let cursor = HubSpot.start(&req, None).expect("start");
        let before = Utc::now();
        let mut error = HubSpot.next_page(&req, &cursor).await.expect_err("429");
        // The daily limit resets at midnight in the account's zone, which HubSpot does
        // not say: tried again at the next full hour (an estimate). Shown as the epoch.
        if let ConnectorError::LimitReached { resets_at, .. } = &mut error {
            use chrono::Timelike;
            let wait = *resets_at - before;
            assert!(wait > chrono::TimeDelta::zero() && wait <= chrono::TimeDelta::hours(1));
            assert_eq!(
                (resets_at.minute(), resets_at.second()),
                (0, 0),
                "{resets_at}"
            );
            *resets_at = DateTime::UNIX_EPOCH;
        }
        expect.assert_debug_eq(&error);
        // Retrying the same cursor later works.
        let page = HubSpot.next_page(&req, &cursor).await.expect("retry");
        assert_eq!(page.records.len(), 1);
        assert_eq!(handle.calls(), 2);
    };
    let limit = hs::RateLimit {
        after_calls: 0,
        times: 1,
        retry_after: Some(7),
        policy: "SECONDLY",
        interval_ms: 1000,
    };
    check(
        limit.clone(),
        expect_test::expect![[r#"
            RateLimited {
                message: "HubSpot rate limit (SECONDLY): You have reached your secondly limit.",
                retry_after: Some(
                    7s,
                ),
            }
        "#]],
    )
    .await;
    check(
        hs::RateLimit {
            retry_after: None,
            policy: "TEN_SECONDLY_ROLLING",
            interval_ms: 10_000,
            ..limit.clone()
        },
        expect_test::expect![[r#"
            RateLimited {
                message: "HubSpot rate limit (TEN_SECONDLY_ROLLING): You have reached your secondly limit.",
                retry_after: Some(
                    10s,
                ),
            }
        "#]],
    )
    .await;
    check(
        hs::RateLimit {
            retry_after: None,
            policy: "DAILY",
            ..limit
        },
        expect_test::expect![[r#"
            LimitReached {
                message: "HubSpot rate limit (DAILY): You have reached your daily limit.",
                resets_at: 1970-01-01T00:00:00Z,
            }
        "#]],
    )
    .await;
}

#[tokio::test]
async fn hubspot_failures_are_classified() {
    let handle = hs_start(hs::Config {
        objects: hs_contacts(vec![hs::contact(
            101,
            "a@example.com",
            "2024-03-01T10:00:00.000Z",
        )]),
        ..hs::Config::default()
    })
    .await;
    let settings = json!({"baseUrl": handle.base_url()});
    let check = |fault: Option<(u16, &'static str)>,
                 entity: &str,
                 http: Arc<dyn Auth>,
                 expect: expect_test::Expect| {
        let req = request(entity, json!({}), settings.clone(), http);
        let handle = handle.clone();
        async move {
            if let Some((status, body)) = fault {
                handle.fail_next(status, body);
            }
            let got = match HubSpot.start(&req, None) {
                Ok(cursor) => HubSpot.next_page(&req, &cursor).await.map(|_| ()),
                Err(e) => Err(e),
            };
            expect.assert_debug_eq(&got);
        }
    };
    let wrong_key: Arc<dyn Auth> = Arc::new(ApiKey {
        header: "Authorization".into(),
        prefix: "Bearer ".into(),
        key: Secret::new("pat-na1-revoked"),
    });
    check(
        None,
        "contacts",
        wrong_key,
        expect_test::expect![[r#"
            Err(
                Auth {
                    message: "HubSpot INVALID_AUTHENTICATION (401 Unauthorized): Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                },
            )
        "#]],
    )
    .await;
    check(
        None,
        "widgets",
        hubspot_auth(),
        expect_test::expect![[r#"
            Err(
                Permanent {
                    message: "HubSpot VALIDATION_ERROR (400 Bad Request): Unable to infer object type from: widgets",
                },
            )
        "#]],
    )
    .await;
    // A record without its id is a record-level failure: the page goes on.
    handle.fail_next(
        200,
        r#"{"results": [{"properties": {}}, {"id": "7", "properties": {}}], "total": -1}"#,
    );
    let req = request("contacts", json!({}), settings.clone(), hubspot_auth());
    let cursor = HubSpot.start(&req, None).expect("start");
    let page = HubSpot.next_page(&req, &cursor).await.expect("a page");
    expect_test::expect![[r#"
        (
            [
                Object {
                    "id": String("7"),
                    "properties": Object {},
                },
            ],
            [
                InvalidRecord {
                    raw: "{\"properties\":{}}",
                    message: "a HubSpot record has no `id` string",
                },
            ],
            None,
        )
    "#]]
    .assert_debug_eq(&(&page.records, &page.invalid, page.total));
    check(
        Some((200, r#"{"data": []}"#)),
        "contacts",
        hubspot_auth(),
        expect_test::expect![[r#"
            Err(
                Permanent {
                    message: "the response is not one HubSpot sends (missing field `results` at line 1 column 12): {\"data\": []}",
                },
            )
        "#]],
    )
    .await;
    check(
        Some((504, "")),
        "contacts",
        hubspot_auth(),
        expect_test::expect![[r#"
            Err(
                Transient {
                    message: "HTTP 504 Gateway Timeout: ",
                },
            )
        "#]],
    )
    .await;
}

// ---- values from outside at the edges ----

#[tokio::test]
async fn oauth_token_lifetimes_of_any_shape_never_panic() {
    let start = Utc
        .with_ymd_and_hms(2024, 1, 15, 10, 0, 0)
        .single()
        .expect("date");
    let end_of_time = DateTime::<Utc>::MAX_UTC;
    // (`expires_in` as the server sends it, the clock, the expiry cmap keeps)
    let cases = [
        (
            json!(3600),
            start,
            Some(start + chrono::Duration::seconds(3600)),
        ),
        (
            json!("3599"),
            start,
            Some(start + chrono::Duration::seconds(3599)),
        ),
        (
            json!(" 600 "),
            start,
            Some(start + chrono::Duration::seconds(600)),
        ),
        (
            json!(3600.9),
            start,
            Some(start + chrono::Duration::seconds(3600)),
        ),
        (
            json!("1.5e3"),
            start,
            Some(start + chrono::Duration::seconds(1500)),
        ),
        // Past the end of time, or nonsense: no expiry, used until refused.
        (json!(u64::MAX), start, None),
        (json!(i64::MAX), start, None),
        (json!(3600), end_of_time, None),
        (json!(1e300), start, None),
        (json!(-5), start, None),
        (json!(-0.5), start, None),
        (json!("soon"), start, None),
        (json!(true), start, None),
        (json!([3600]), start, None),
        (json!(null), start, None),
    ];
    for (expires_in, now, expect) in cases {
        let (_, handle) = sf::start(sf::Config {
            expires_in: Some(expires_in.clone()),
            ..sf::Config::default()
        })
        .await;
        let (persist, seen) = recorder(&handle, false);
        let mut config = sf_config(&handle);
        config.clock = manual_clock(now).1;
        let auth = OAuth2::new(config, Some(persist)).expect("oauth2");
        let applied = auth
            .apply(reqwest::Client::new().get("http://127.0.0.1/"))
            .await;
        assert!(
            applied.is_ok(),
            "expires_in {expires_in}: {:?}",
            applied.err()
        );
        assert_eq!(
            seen.lock().expect("lock")[0].0.expires_at,
            expect,
            "expires_in {expires_in} at {now}"
        );
        // The token in use needs no refresh on the next request.
        let _unsent = auth
            .apply(reqwest::Client::new().get("http://127.0.0.1/"))
            .await
            .expect("token");
        assert_eq!(handle.token_calls(), 1, "expires_in {expires_in}");
    }

    // A margin or a default lifetime past the end of time: no panic either.
    let (_, handle) = sf::start(sf::Config::default()).await;
    let mut config = sf_config(&handle);
    config.refresh_margin = Duration::MAX;
    config.default_lifetime = Some(Duration::MAX);
    config.expires_at = Some(start);
    config.access_token = Some(Secret::new("stored-token"));
    let auth = OAuth2::new(config, None).expect("oauth2");
    for _ in 0..2 {
        let _unsent = auth
            .apply(reqwest::Client::new().get("http://127.0.0.1/"))
            .await
            .expect("token");
    }
}

/// A lookback is bounded at check time (3650 days), so the window's arithmetic cannot
/// overflow; a window that would start before the earliest date cmap represents (a
/// watermark at its very start) is still a clean error, never a panic.
#[test]
fn lookbacks_are_bounded_and_windows_before_the_earliest_date_are_errors() {
    for integration in ["salesforce", "hubspot"] {
        for lookback in [json!(i64::MAX), json!(9_000_000_000_000i64), json!(-1)] {
            let task = json!({"incrementalSync": true, "lookbackSeconds": lookback});
            let refused = cmap::compile::config::source_from_json(integration, &task)
                .expect_err("out of range");
            assert!(
                refused.contains("`lookbackSeconds`") && refused.contains("from 0 to 315360000"),
                "{integration}: {refused}"
            );
        }
    }
    let earliest = chrono::DateTime::<chrono::Utc>::MIN_UTC;
    let error = cmap::connectors::lookback_start(earliest, 300, "lookbackSeconds")
        .expect_err("before the earliest date");
    let ConnectorError::Permanent { message } = &error else {
        panic!("{error:?}");
    };
    assert!(
        message.contains("lookbackSeconds") && message.contains("smaller value"),
        "{message}"
    );
}

#[tokio::test]
async fn salesforce_odd_batches_are_read_record_by_record() {
    let (handle, auth) = sf_start(sf::Config {
        objects: contacts(FIVE),
        ..sf::Config::default()
    })
    .await;
    // A negative total, a record without an Id (a record-level failure) and one with a
    // numeric Id past i64.
    handle.fail_next(
        200,
        r#"{"totalSize": -1, "done": true, "records": [
            {"Name": "no id"},
            {"Id": 18446744073709551616, "Name": "numeric id"},
            {"Id": "003Z", "Name": "fine"}
        ]}"#,
    );
    let req = request("Contact", json!({}), json!({}), auth);
    let pages = read_all(&Salesforce, &req, None).await;
    expect_test::expect![[r#"
        [
            (
                [
                    Object {
                        "Id": String("003Z"),
                        "Name": String("fine"),
                    },
                ],
                [
                    "a Contact record has no `Id` string | {\"Name\":\"no id\"}",
                    "a Contact record has no `Id` string | {\"Id\":1.8446744073709552e+19,\"Name\":\"numeric id\"}",
                ],
                None,
            ),
        ]
    "#]]
    .assert_debug_eq(
        &pages
            .iter()
            .map(|p| {
                (
                    &p.records,
                    p.invalid
                        .iter()
                        .map(|i| format!("{} | {}", i.message, i.raw))
                        .collect::<Vec<_>>(),
                    p.total,
                )
            })
            .collect::<Vec<_>>(),
    );
}
