//! Credentials go only to the connection's own origin: next-page URLs (Salesforce
//! `nextRecordsUrl`, HubSpot `paging.next.link`, REST next links and `Link` headers) and
//! redirects that point at another host are refused (and logged) when the connection
//! has credentials, and nothing reaches the other host.

use std::sync::Arc;
use std::time::Duration;

use cmap::connectors::auth::{ApiKey, Auth, Basic, NoAuth, Secret};
use cmap::connectors::hubspot::HubSpot;
use cmap::connectors::oauth::{OAuth2, OAuth2Config};
use cmap::connectors::salesforce::Salesforce;
use cmap::connectors::{for_integration, Connector, ConnectorError, Page, ReadRequest};
use serde_json::{json, Value};

use crate::support::mock_elsewhere::{self, Elsewhere};
use crate::support::mock_feeds::{self, State};
use crate::support::mock_hubspot as hs;
use crate::support::mock_salesforce as sf;

fn request(
    connector: &dyn Connector,
    entity: &str,
    settings: Value,
    task: Value,
    auth: Arc<dyn Auth>,
) -> ReadRequest {
    crate::support::read_request(
        connector,
        entity,
        settings,
        task,
        auth,
        Duration::from_secs(10),
    )
}

/// Reads to the end (at most 20 pages): the pages, and the error that ended the read.
async fn read(connector: &dyn Connector, req: &ReadRequest) -> (Vec<Page>, Option<ConnectorError>) {
    let mut cursor = match connector.start(req, None) {
        Ok(c) => c,
        Err(e) => return (Vec::new(), Some(e)),
    };
    let mut pages = Vec::new();
    for _ in 0..20 {
        match cmap::connectors::read_page(connector, req, &cursor).await {
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
    panic!("the read did not end after 20 pages");
}

/// The read failed refusing `elsewhere`, and nothing reached it.
#[track_caller]
fn refused(error: Option<ConnectorError>, base: &str, elsewhere: &Elsewhere) {
    let Some(ConnectorError::Permanent { message }) = &error else {
        panic!("expected a refusal, got {error:?}");
    };
    assert!(
        message.contains(base) && message.contains("refused"),
        "{message}"
    );
    assert!(
        elsewhere.seen().is_empty(),
        "a request reached the other origin: {:?}",
        elsewhere.seen()
    );
}

/// What was logged while `f` ran (on this thread).
async fn warnings<F: std::future::Future>(f: F) -> (F::Output, String) {
    crate::support::logs::logged(f).await
}

fn sf_auth(handle: &sf::Handle) -> Arc<dyn Auth> {
    let mut config = OAuth2Config::new(sf::CLIENT_ID, handle.token_url());
    config.client_secret = Some(Secret::new(sf::CLIENT_SECRET));
    config.refresh_token = Some(Secret::new(sf::REFRESH_TOKEN));
    Arc::new(OAuth2::new(config, None).expect("oauth2"))
}

#[tokio::test]
async fn salesforce_next_records_urls_and_redirects_elsewhere_are_refused() {
    let records = vec![sf::contact(
        "003A",
        "Lovelace",
        "2024-01-15T10:00:00.000+0000",
    )];
    let (_, handle) = sf::start(sf::Config {
        objects: [("Contact".to_string(), records)].into_iter().collect(),
        ..sf::Config::default()
    })
    .await;
    let (base, elsewhere) = mock_elsewhere::start().await;
    let other_port = base.rsplit(':').next().unwrap_or("");
    let batch = |next: &str| {
        json!({
            "totalSize": 2, "done": false, "nextRecordsUrl": next,
            "records": [sf::contact("003A", "Lovelace", "2024-01-15T10:00:00.000+0000")],
        })
        .to_string()
    };
    // The instance comes from the token response (no `instanceUrl` setting).
    for next in [
        format!("{base}/services/data/v59.0/query/01g-2"),
        format!("//127.0.0.1:{other_port}/services/data/v59.0/query/01g-2"),
        format!("@127.0.0.1:{other_port}/services/data/v59.0/query/01g-2"),
    ] {
        handle.fail_next(200, &batch(&next));
        let req = request(
            &Salesforce,
            "Contact",
            json!({}),
            json!({}),
            sf_auth(&handle),
        );
        let ((pages, error), logged) = warnings(read(&Salesforce, &req)).await;
        assert_eq!(pages.len(), 1, "{next}: the first batch is read");
        let Some(ConnectorError::Permanent { message }) = &error else {
            panic!("{next}: expected a refusal, got {error:?}");
        };
        assert!(
            message.contains("nextRecordsUrl") && message.contains("refused"),
            "{message}"
        );
        assert!(logged.contains("WARN"), "{next}: not logged: {logged}");
        assert!(elsewhere.seen().is_empty(), "{:?}", elsewhere.seen());
    }

    // A redirect to another host, with the instance named in the settings.
    handle.fail_next(307, &format!("{base}/services/data/v59.0/query"));
    let settings = json!({"instanceUrl": handle.base_url()});
    let req = request(
        &Salesforce,
        "Contact",
        settings,
        json!({}),
        sf_auth(&handle),
    );
    let ((_, error), logged) = warnings(read(&Salesforce, &req)).await;
    refused(error, &base, &elsewhere);
    assert!(logged.contains("refused to send"), "{logged}");
}

#[tokio::test]
async fn hubspot_next_links_elsewhere_are_not_followed_and_redirects_are_refused() {
    let handle = hs::start(hs::Config {
        objects: [(
            "contacts".to_string(),
            vec![hs::contact(1, "a@example.com", "2024-03-01T10:00:00.000Z")],
        )]
        .into_iter()
        .collect(),
        ..hs::Config::default()
    })
    .await
    .1;
    let (base, elsewhere) = mock_elsewhere::start().await;
    let auth: Arc<dyn Auth> = Arc::new(ApiKey {
        header: "Authorization".into(),
        prefix: "Bearer ".into(),
        key: Secret::new(hs::TOKEN),
    });
    let settings = json!({"baseUrl": handle.base_url()});

    // `paging.next.link` points elsewhere: the read pages by `after` on its own origin.
    handle.fail_next(
        200,
        &json!({"results": [hs::contact(1, "a@example.com", "2024-03-01T10:00:00.000Z")],
                "paging": {"next": {"after": "1", "link": format!("{base}/crm/v3/objects/contacts?after=1")}}})
        .to_string(),
    );
    let req = request(
        &HubSpot,
        "contacts",
        settings.clone(),
        json!({}),
        auth.clone(),
    );
    let (pages, error) = read(&HubSpot, &req).await;
    assert_eq!(error, None);
    assert!(pages.len() >= 2);
    assert!(elsewhere.seen().is_empty(), "{:?}", elsewhere.seen());
    // (The injected first answer is not in the mock's list log.)
    assert_eq!(
        handle.lists()[0].get("after").map(String::as_str),
        Some("1")
    );

    handle.fail_next(302, &format!("{base}/crm/v3/objects/contacts"));
    let req = request(&HubSpot, "contacts", settings, json!({}), auth);
    let (_, error) = read(&HubSpot, &req).await;
    refused(error, &base, &elsewhere);
}

fn people(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"id": format!("{i}"), "updatedAt": "2024-01-01T00:00:00Z"}))
        .collect()
}

#[tokio::test]
async fn rest_next_pages_and_redirects_elsewhere_carry_no_credentials() {
    let (addr, state) = mock_feeds::start(State {
        api_key: Some("k-123".into()),
        ..State::with_records(people(4))
    })
    .await;
    let (base, elsewhere) = mock_elsewhere::start().await;
    let rest = for_integration("rest").expect("rest");
    let bearer = || -> Arc<dyn Auth> {
        Arc::new(ApiKey {
            header: "Authorization".into(),
            prefix: "Bearer ".into(),
            key: Secret::new("k-123"),
        })
    };
    let settings = |pagination: &str, path: &str| {
        if pagination == "next_url" {
            json!({"baseUrl": format!("http://{addr}/api"), "path": path,
                   "recordsPath": "data.items",
                   "pagination": {"type": pagination, "nextUrlPath": "links.next"}})
        } else {
            json!({"baseUrl": format!("http://{addr}/api"), "path": path,
                   "pagination": {"type": pagination}})
        }
    };

    // A next URL in the body, and a `Link` header, pointing at another host.
    state.set_next_elsewhere(&format!("{base}/api/next/people?page=2"));
    for (pagination, path) in [("next_url", "/next/{entity}"), ("link", "/link/{entity}")] {
        let s = settings(pagination, path);
        let req = request(rest.as_ref(), "people", s, json!({}), bearer());
        let ((pages, error), logged) = warnings(read(rest.as_ref(), &req)).await;
        assert_eq!(pages.len(), 1, "{pagination}: the first page is read");
        refused(error, &base, &elsewhere);
        assert!(logged.contains("refused to send"), "{pagination}: {logged}");
    }

    // Without credentials there is nothing to protect: the next page is read there.
    let (open_addr, open_state) = mock_feeds::start(State::with_records(people(4))).await;
    open_state.set_next_elsewhere(&format!("{base}/api/next/people?page=2"));
    let req = request(
        rest.as_ref(),
        "people",
        json!({"baseUrl": format!("http://{open_addr}/api"), "path": "/next/{entity}",
               "recordsPath": "data.items", "pagination": {"type": "next_url", "nextUrlPath": "links.next"}}),
        json!({}),
        Arc::new(NoAuth),
    );
    let (pages, error) = read(rest.as_ref(), &req).await;
    assert_eq!((pages.len(), error), (2, None));
    let seen = elsewhere.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].line, "GET /api/next/people?page=2");
    assert!(
        !seen[0]
            .headers
            .iter()
            .any(|h| h.starts_with("authorization")),
        "{seen:?}"
    );

    // A redirect elsewhere with a custom key header, which reqwest alone would carry
    // along (it drops only `Authorization`), is refused; one on the same origin is
    // followed with the credentials.
    let (key_addr, key_state) = mock_feeds::start(State::with_records(people(2))).await;
    let custom = || -> Arc<dyn Auth> {
        Arc::new(ApiKey {
            header: "X-Api-Key".into(),
            prefix: String::new(),
            key: Secret::new("k-custom-456"),
        })
    };
    let plain = json!({"baseUrl": format!("http://{key_addr}/api"), "path": "/plain/{entity}"});
    key_state.redirect_next(&format!("{base}/api/plain/people"));
    let req = request(rest.as_ref(), "people", plain.clone(), json!({}), custom());
    let before = elsewhere.seen().len();
    let (_, error) = read(rest.as_ref(), &req).await;
    let Some(ConnectorError::Permanent { message }) = &error else {
        panic!("expected a refusal, got {error:?}");
    };
    assert!(
        message.contains("a redirect goes to") && message.contains(&base),
        "{message}"
    );
    assert_eq!(elsewhere.seen().len(), before, "{:?}", elsewhere.seen());

    key_state.redirect_next("/api/plain/people?moved=1");
    let req = request(rest.as_ref(), "people", plain, json!({}), custom());
    let (pages, error) = read(rest.as_ref(), &req).await;
    assert_eq!((pages.len(), error), (1, None));
    assert!(key_state
        .requests()
        .contains(&"/api/plain/people?moved=1".to_string()));
}

#[tokio::test]
async fn feeds_with_credentials_stay_on_their_origin() {
    let (addr, state) = mock_feeds::start(State::default()).await;
    state.set_feed(mock_feeds::GOOGLE_NEWS_RSS);
    let (base, elsewhere) = mock_elsewhere::start().await;
    let rss = for_integration("rss").expect("rss");
    let basic = || -> Arc<dyn Auth> {
        Arc::new(Basic {
            username: "reader".into(),
            password: Secret::new("feed-pass-789"),
        })
    };
    let feed = format!("http://{addr}/feeds/custom");
    let settings = json!({"url": feed});

    // A redirect elsewhere is refused.
    state.redirect_next(&format!("{base}/feeds/moved"));
    let req = request(
        rss.as_ref(),
        "article",
        settings.clone(),
        json!({}),
        basic(),
    );
    let (_, error) = read(rss.as_ref(), &req).await;
    refused(error, &base, &elsewhere);

    // A task's own URL on another host is not the connection's origin.
    let task = json!({"url": format!("{base}/feeds/other")});
    let req = request(rss.as_ref(), "article", settings.clone(), task, basic());
    let (_, error) = read(rss.as_ref(), &req).await;
    refused(error, &base, &elsewhere);

    // The connection's own feed reads.
    let req = request(rss.as_ref(), "article", settings, json!({}), basic());
    let (pages, error) = read(rss.as_ref(), &req).await;
    assert_eq!(error, None);
    assert_eq!(pages[0].records.len(), 3);
}
