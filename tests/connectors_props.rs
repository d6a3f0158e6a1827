//! Property tests: every connector is fed random mutations of real pages from the mocks
//! (Salesforce, HubSpot, RSS/Atom/Google News, REST, the OAuth2 token endpoint) and every
//! read must end in a defined status: pages, or a typed [`ConnectorError`]; never a
//! panic, never a hang. Along the way: the connection's secret, echoed by the server in
//! any page, never comes out of [`connectors::read_page`], and never reaches another
//! origin. Through the engine, `cmap run` ends every mutated read as an execution that
//! is success, partial or failed.
//!
//! Mutations: truncation, type changes of fields, huge and negative numbers, deep
//! nesting, wrong encodings, missing and extra fields, cursors pointing nowhere, next
//! pages and redirects to another host, and error statuses with odd headers.
//!
//! The seed is fixed (CI reproducible); a failure is kept in
//! `proptest-regressions/connectors_props.txt` and replayed first on the next run (the
//! one there is `expires_in: u64::MAX`, which panicked before the fix).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use cmap::connectors::auth::{ApiKey, Auth, Secret};
use cmap::connectors::oauth::{OAuth2, OAuth2Config};
use cmap::connectors::{self, for_integration, Connector, ConnectorError, Page, ReadRequest};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed, TestRunner};
use serde_json::{json, Value};

use crate::support::mock_elsewhere::{self, Elsewhere};
use crate::support::mock_pages::{self, Answer, Script};
use crate::support::{mock_feeds, mock_hubspot as hs, mock_salesforce as sf};

/// The connection's secret, as the scripted server may echo it back.
const SECRET: &str = "propSecretKey7Hq2ZpX9";

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime")
    })
}

/// A few dozen cases per connector from a fixed seed; failures kept for replay.
fn runner(cases: u32, seed: u64) -> TestRunner {
    TestRunner::new(Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        max_shrink_iters: 64,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/connectors_props.txt",
        ))),
        ..Config::default()
    })
}

// ---------------------------------------------------------------------------------------
// Mutations

/// Numbers at the edges.
fn edge_number(i: usize) -> Value {
    let numbers = [
        json!(u64::MAX),
        json!(i64::MIN),
        json!(-1),
        json!(1.5),
        json!(1e308),
        json!(18_446_744_073_709_551_616.0),
    ];
    numbers[i % numbers.len()].clone()
}

/// Strings that break things: dates out of range, cursors nowhere, other hosts, the
/// secret echoed back.
fn edge_text(i: usize, world: &World) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(SECRET);
    let texts = [
        String::new(),
        "x".to_string(),
        "ünïcødé ✓ \u{0}\u{7}".to_string(),
        format!("{}/services/data/v59.0/query/01g-2", world.elsewhere_url),
        format!("//{}/next", world.elsewhere_host),
        format!("@{}/next", world.elsewhere_host),
        "/services/data/v59.0/query/nowhere-9".to_string(),
        "zzz-no-such-cursor".to_string(),
        format!("Bearer {SECRET}"),
        format!("invalid key {b64}"),
        "not a date".to_string(),
        "9999-99-99T99:99:99Z".to_string(),
        "+262143-12-31T23:59:59Z".to_string(),
        "Fri, 31 Dec 9999 23:59:59 +9999".to_string(),
        "-1".to_string(),
        "18446744073709551616".to_string(),
        "1e400".to_string(),
        "x".repeat(20_000),
    ];
    texts[i % texts.len()].clone()
}

/// One change to a JSON page. `at` picks the value: when even, among the values of
/// the keys a connector reads (`HOT_KEYS`), else among all values (pre-order).
#[derive(Clone, Debug)]
enum Edit {
    Remove(usize),
    Null(usize),
    Retype(usize),
    Number(usize, usize),
    Text(usize, usize),
    Nest(usize, usize),
    Extra(usize, usize),
}

/// The keys connectors read, where a mutation finds the most to break.
const HOT_KEYS: &[&str] = &[
    // OAuth2 token responses
    "expires_in",
    "access_token",
    "refresh_token",
    "instance_url",
    "token_type",
    "scope",
    // Salesforce
    "nextRecordsUrl",
    "totalSize",
    "done",
    "records",
    "Id",
    "SystemModstamp",
    "IsDeleted",
    // HubSpot
    "after",
    "total",
    "results",
    "paging",
    "id",
    "updatedAt",
    "lastmodifieddate",
    // REST
    "next_cursor",
    "total_pages",
    "next",
    "data",
    "items",
];

fn edit() -> impl Strategy<Value = Edit> {
    let at = any::<usize>();
    prop_oneof![
        2 => at.prop_map(Edit::Remove),
        1 => at.prop_map(Edit::Null),
        2 => at.prop_map(Edit::Retype),
        3 => (at, any::<usize>()).prop_map(|(a, n)| Edit::Number(a, n)),
        3 => (at, any::<usize>()).prop_map(|(a, t)| Edit::Text(a, t)),
        1 => (at, 0usize..4).prop_map(|(a, d)| Edit::Nest(a, d)),
        1 => (at, any::<usize>()).prop_map(|(a, t)| Edit::Extra(a, t)),
    ]
}

/// A change to the bytes of a body.
#[derive(Clone, Debug)]
enum Bytes {
    Keep,
    Truncate(usize),
    Garbage(usize),
    Latin1,
    Bom,
    Empty,
    Html,
}

fn bytes() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        6 => Just(Bytes::Keep),
        2 => any::<usize>().prop_map(Bytes::Truncate),
        1 => any::<usize>().prop_map(Bytes::Garbage),
        1 => Just(Bytes::Latin1),
        1 => Just(Bytes::Bom),
        1 => Just(Bytes::Empty),
        1 => Just(Bytes::Html),
    ]
}

/// The answer's status and headers.
#[derive(Clone, Debug)]
enum Status {
    Ok,
    /// A redirect to the other origin.
    Elsewhere,
    /// An error status, with a `Retry-After` of this shape.
    Error(u16, usize),
}

fn status() -> impl Strategy<Value = Status> {
    prop_oneof![
        8 => Just(Status::Ok),
        1 => Just(Status::Elsewhere),
        2 => (
            prop::sample::select(vec![400u16, 401, 403, 404, 408, 429, 500, 503]),
            0usize..4
        )
            .prop_map(|(s, r)| Status::Error(s, r)),
    ]
}

/// One mutated answer: which seed page, the edits, the bytes, the status.
#[derive(Clone, Debug)]
struct Mutation {
    seed: usize,
    edits: Vec<Edit>,
    bytes: Bytes,
    status: Status,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    (
        any::<usize>(),
        prop::collection::vec(edit(), 0..5),
        bytes(),
        status(),
    )
        .prop_map(|(seed, edits, bytes, status)| Mutation {
            seed,
            edits,
            bytes,
            status,
        })
}

/// A read's answers: the first page mutated, then up to three more answers (mutated
/// pages, or the seed's terminal page), then the terminal page for any later request.
fn script() -> impl Strategy<Value = (Mutation, Vec<Option<Mutation>>)> {
    (
        mutation(),
        prop::collection::vec(prop::option::of(mutation()), 0..4),
    )
}

/// The JSON pointers of every value of `value`, pre-order.
fn pointers(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![(String::new(), value)];
    while let Some((at, v)) = stack.pop() {
        match v {
            Value::Object(map) => {
                for (k, child) in map.iter().rev() {
                    let key = k.replace('~', "~0").replace('/', "~1");
                    stack.push((format!("{at}/{key}"), child));
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate().rev() {
                    stack.push((format!("{at}/{i}"), child));
                }
            }
            _ => {}
        }
        out.push(at);
    }
    out
}

fn apply_edit(page: &mut Value, edit: &Edit, world: &World) {
    let all = pointers(page);
    let hot: Vec<&String> = all
        .iter()
        .filter(|p| {
            p.rsplit('/')
                .next()
                .is_some_and(|key| HOT_KEYS.contains(&key))
        })
        .collect();
    let pick = |at: usize| {
        if at % 2 == 0 && !hot.is_empty() {
            hot[(at / 2) % hot.len()].clone()
        } else {
            all[at % all.len()].clone()
        }
    };
    // Numbers and strings at the edges go first where numbers and strings are.
    let of_kind = |at: usize, kind: fn(&Value) -> bool| {
        let fitting: Vec<&String> = all
            .iter()
            .filter(|p| page.pointer(p).is_some_and(kind))
            .collect();
        if at % 3 != 0 && !fitting.is_empty() {
            fitting[(at / 3) % fitting.len()].clone()
        } else {
            pick(at)
        }
    };
    match edit {
        Edit::Remove(at) => {
            let pointer = pick(*at);
            let Some((parent, key)) = pointer.rsplit_once('/') else {
                return;
            };
            let key = key.replace("~1", "/").replace("~0", "~");
            match page.pointer_mut(parent) {
                Some(Value::Object(map)) => {
                    map.shift_remove(&key);
                }
                Some(Value::Array(items)) => {
                    if let Ok(i) = key.parse::<usize>() {
                        if i < items.len() {
                            items.remove(i);
                        }
                    }
                }
                _ => {}
            }
        }
        Edit::Null(at) => set(page, &pick(*at), Value::Null),
        Edit::Retype(at) => {
            let pointer = pick(*at);
            let Some(current) = page.pointer(&pointer).cloned() else {
                return;
            };
            let changed = match current {
                Value::String(s) => s
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(json!(42), Value::Number),
                Value::Number(n) => Value::String(n.to_string()),
                Value::Bool(b) => Value::String(b.to_string()),
                Value::Object(map) => Value::Array(map.into_iter().map(|(_, v)| v).collect()),
                Value::Array(items) => json!({ "items": items }),
                Value::Null => json!(false),
            };
            set(page, &pointer, changed);
        }
        Edit::Number(at, n) => {
            let pointer = of_kind(*at, Value::is_number);
            set(page, &pointer, edge_number(*n));
        }
        Edit::Text(at, t) => {
            let pointer = of_kind(*at, Value::is_string);
            set(page, &pointer, Value::String(edge_text(*t, world)));
        }
        Edit::Nest(at, depth) => {
            let pointer = pick(*at);
            let Some(mut value) = page.pointer(&pointer).cloned() else {
                return;
            };
            // Below and above serde_json's recursion limit of 128.
            for i in 0..[3usize, 100, 126, 300][*depth] {
                value = if i % 2 == 0 {
                    Value::Array(vec![value])
                } else {
                    json!({ "n": value })
                };
            }
            set(page, &pointer, value);
        }
        Edit::Extra(at, t) => {
            if let Some(Value::Object(map)) = page.pointer_mut(&pick(*at)) {
                map.insert(format!("extra{t}"), Value::String(edge_text(*t, world)));
            }
        }
    }
}

fn set(page: &mut Value, pointer: &str, value: Value) {
    if let Some(slot) = page.pointer_mut(pointer) {
        *slot = value;
    }
}

fn apply_bytes(mut body: Vec<u8>, bytes: &Bytes) -> Vec<u8> {
    match bytes {
        Bytes::Keep => body,
        Bytes::Truncate(at) => {
            body.truncate(at % (body.len() + 1));
            body
        }
        Bytes::Garbage(at) => {
            let at = at % (body.len() + 1);
            body.splice(at..at, [0xFF, 0xFE, 0xC3, 0x28, 0x00]);
            body
        }
        Bytes::Latin1 => String::from_utf8_lossy(&body)
            .chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
            .collect(),
        Bytes::Bom => {
            let mut with = vec![0xEF, 0xBB, 0xBF];
            with.extend(body);
            with
        }
        Bytes::Empty => Vec::new(),
        Bytes::Html => b"<html><body><h1>502 Bad Gateway</h1></body></html>".to_vec(),
    }
}

fn apply_status(mut answer: Answer, status: &Status, world: &World) -> Answer {
    match status {
        Status::Ok => {}
        Status::Elsewhere => {
            answer.status = 307;
            answer
                .headers
                .push(("Location".into(), format!("{}/moved", world.elsewhere_url)));
        }
        Status::Error(code, retry) => {
            answer.status = *code;
            let after = [
                "7",
                "18446744073709551616",
                "soon",
                "Fri, 31 Dec 9999 23:59:59 GMT",
            ];
            answer.headers.push((
                "Retry-After".into(),
                after[*retry % after.len()].to_string(),
            ));
        }
    }
    answer
}

/// A seed page: a JSON body, or text (feeds), with its headers.
#[derive(Clone)]
struct Seed {
    body: SeedBody,
    headers: Vec<(String, String)>,
}

#[derive(Clone)]
enum SeedBody {
    Json(Value),
    Xml(String),
}

/// XML snippets inserted into feeds.
fn xml_snippet(i: usize, world: &World) -> String {
    let snippets = [
        "<".to_string(),
        "&bogus;".to_string(),
        "&#xFFFFFF;".to_string(),
        "&#0;".to_string(),
        "<![CDATA[".to_string(),
        format!("{}{}", "<a>".repeat(300), "</a>".repeat(300)),
        "<item></item>".to_string(),
        format!(
            "<item><title>Bearer {SECRET}</title><link>{}/x</link></item>",
            world.elsewhere_url
        ),
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>".to_string(),
        "<pubDate>Fri, 31 Dec 9999 23:59:59 +9999</pubDate>".to_string(),
        "<updated>+262143-12-31T23:59:59Z</updated>".to_string(),
        "<a b=c>".to_string(),
        "</channel>".to_string(),
        "<entry><title>t</title></entry>".to_string(),
        "<media:content url=\"x\" medium=\"image\"/>".to_string(),
    ];
    snippets[i % snippets.len()].clone()
}

fn mutate(seed: &Seed, m: &Mutation, world: &World) -> Answer {
    let body = match &seed.body {
        SeedBody::Json(page) => {
            let mut page = page.clone();
            for edit in &m.edits {
                apply_edit(&mut page, edit, world);
            }
            serde_json::to_vec(&page).unwrap_or_default()
        }
        SeedBody::Xml(text) => {
            let mut text = text.clone();
            for edit in &m.edits {
                // The same edits, read as text positions and snippets.
                let (at, n) = match edit {
                    Edit::Remove(a) | Edit::Null(a) | Edit::Retype(a) => (*a, *a),
                    Edit::Number(a, n)
                    | Edit::Text(a, n)
                    | Edit::Nest(a, n)
                    | Edit::Extra(a, n) => (*a, *n),
                };
                let mut at = at % (text.len() + 1);
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                match edit {
                    Edit::Remove(_) => {
                        // Drop the tag starting at or after `at`.
                        if let Some(open) = text[at..].find('<').map(|i| at + i) {
                            if let Some(close) = text[open..].find('>').map(|i| open + i + 1) {
                                text.replace_range(open..close, "");
                            }
                        }
                    }
                    _ => text.insert_str(at, &xml_snippet(n, world)),
                }
            }
            text.into_bytes()
        }
    };
    let answer = Answer {
        status: 200,
        headers: seed.headers.clone(),
        body: apply_bytes(body, &m.bytes),
    };
    apply_status(answer, &m.status, world)
}

// ---------------------------------------------------------------------------------------
// The harness

struct World {
    script: Arc<Script>,
    script_url: String,
    elsewhere: Arc<Elsewhere>,
    elsewhere_url: String,
    elsewhere_host: String,
}

async fn world() -> World {
    let (script_url, script) = mock_pages::start().await;
    let (elsewhere_url, elsewhere) = mock_elsewhere::start().await;
    let elsewhere_host = elsewhere_url.trim_start_matches("http://").to_string();
    World {
        script,
        script_url,
        elsewhere,
        elsewhere_url,
        elsewhere_host,
    }
}

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
        Duration::from_secs(5),
    )
}

/// The secret as a bearer token, or in a custom header (which, unlike `Authorization`,
/// an HTTP client does not drop on its own when a redirect leaves the host).
fn api_key(custom: bool) -> Arc<dyn Auth> {
    let (header, prefix) = if custom {
        ("X-Api-Key", "")
    } else {
        ("Authorization", "Bearer ")
    };
    Arc::new(ApiKey {
        header: header.into(),
        prefix: prefix.into(),
        key: Secret::new(SECRET),
    })
}

/// Reads through [`connectors::read_page`] (as the engine does) to the end, at most
/// six pages.
async fn read(
    connector: &dyn Connector,
    req: &ReadRequest,
    watermark: Option<&Value>,
) -> Result<Vec<Page>, ConnectorError> {
    let mut cursor = connector.start(req, watermark)?;
    let mut pages = Vec::new();
    for _ in 0..6 {
        let page = connectors::read_page(connector, req, &cursor).await?;
        let next = page.next.clone();
        pages.push(page);
        match next {
            Some(next) => cursor = next,
            None => break,
        }
    }
    Ok(pages)
}

/// Serves a mutated script and reads: the read ends within its time, its output holds
/// no form of the secret, and the other origin saw no credentials.
fn check_read(
    world: &World,
    seeds: &[Seed],
    terminal: &Answer,
    (first, rest): &(Mutation, Vec<Option<Mutation>>),
    read_with: impl FnOnce() -> (Arc<dyn Connector>, ReadRequest, Option<Value>),
) -> Result<(), TestCaseError> {
    let pick = |m: &Mutation| mutate(&seeds[m.seed % seeds.len()], m, world);
    let mut answers = vec![pick(first)];
    answers.extend(
        rest.iter()
            .map(|m| m.as_ref().map_or_else(|| terminal.clone(), pick)),
    );
    world.script.set(answers, terminal.clone());
    let (connector, req, watermark) = read_with();
    let result = runtime().block_on(async {
        tokio::time::timeout(
            Duration::from_secs(20),
            read(connector.as_ref(), &req, watermark.as_ref()),
        )
        .await
    });
    let Ok(result) = result else {
        return Err(TestCaseError::fail(format!(
            "the read did not end; requests: {:?}",
            world.script.requests()
        )));
    };
    let shown = format!("{result:?}");
    let b64 = base64::engine::general_purpose::STANDARD.encode(SECRET);
    prop_assert!(
        !shown.contains(SECRET) && !shown.contains(&b64),
        "the secret came out of the read: {}",
        shown.chars().take(2000).collect::<String>()
    );
    for seen in world.elsewhere.seen() {
        prop_assert!(
            !seen.headers.iter().any(|h| h.contains(SECRET)),
            "credentials reached the other origin: {seen:?}"
        );
    }
    Ok(())
}

fn finish(result: Result<(), proptest::test_runner::TestError<impl std::fmt::Debug>>) {
    if let Err(e) = result {
        panic!("{e}");
    }
}

// ---------------------------------------------------------------------------------------
// Connectors

#[test]
fn salesforce_pages_of_any_shape_end_in_a_defined_status() {
    let world = runtime().block_on(world());
    let seeds = runtime().block_on(salesforce_seeds());
    let terminal = Answer::ok(seeds[1].json_bytes());
    let base = world.script_url.clone();
    let mut runner = runner(40, 0x5F_0001);
    finish(runner.run(&(script(), any::<bool>()), |(s, incremental)| {
        check_read(&world, &seeds, &terminal, &s, || {
            let task = if incremental {
                json!({"incrementalSync": true, "includeDeleted": true})
            } else {
                json!({})
            };
            let connector: Arc<dyn Connector> = Arc::new(cmap::connectors::salesforce::Salesforce);
            let req = request(
                connector.as_ref(),
                "Contact",
                json!({"instanceUrl": base}),
                task,
                api_key(s.0.seed % 2 == 1),
            );
            let watermark = incremental.then(|| json!("2024-01-15T10:00:00.000Z"));
            (connector, req, watermark)
        })
    }));
}

impl Seed {
    fn json(value: Value) -> Seed {
        Seed {
            body: SeedBody::Json(value),
            headers: vec![("Content-Type".into(), "application/json".into())],
        }
    }
    fn json_bytes(&self) -> Vec<u8> {
        match &self.body {
            SeedBody::Json(v) => serde_json::to_vec(v).unwrap_or_default(),
            SeedBody::Xml(t) => t.clone().into_bytes(),
        }
    }
}

/// A first batch (with `nextRecordsUrl`) and a last one, as the Salesforce mock sends them.
async fn salesforce_seeds() -> Vec<Seed> {
    let records = (0..3)
        .map(|i| {
            sf::contact(
                &format!("003S{i}"),
                &format!("Name{i}"),
                "2024-01-15T10:30:00.000+0000",
            )
        })
        .collect();
    let (_, handle) = sf::start(sf::Config {
        objects: [("Contact".to_string(), records)].into_iter().collect(),
        page_size: 2,
        ..sf::Config::default()
    })
    .await;
    let client = reqwest::Client::new();
    let token: Value = client
        .post(handle.token_url())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=refresh_token&client_id={}&client_secret={}&refresh_token={}",
            sf::CLIENT_ID,
            sf::CLIENT_SECRET,
            sf::REFRESH_TOKEN
        ))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token JSON");
    let access = token["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let get = |url: String| {
        let client = client.clone();
        let access = access.clone();
        async move {
            client
                .get(url)
                .bearer_auth(access)
                .send()
                .await
                .expect("a batch")
                .json::<Value>()
                .await
                .expect("batch JSON")
        }
    };
    let q = "SELECT Id, SystemModstamp FROM Contact ORDER BY Id ASC";
    let first = get(format!(
        "{}/services/data/v59.0/query?q={}",
        handle.base_url(),
        url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
    ))
    .await;
    let next = first["nextRecordsUrl"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let last = get(format!("{}{next}", handle.base_url())).await;
    vec![Seed::json(first), Seed::json(last), Seed::json(token)]
}

#[test]
fn hubspot_pages_of_any_shape_end_in_a_defined_status() {
    let world = runtime().block_on(world());
    let seeds = runtime().block_on(hubspot_seeds());
    let terminal = Answer::ok(seeds[1].json_bytes());
    let base = world.script_url.clone();
    let mut runner = runner(40, 0x4B_0002);
    finish(runner.run(&(script(), any::<bool>()), |(s, incremental)| {
        check_read(&world, &seeds, &terminal, &s, || {
            let task = json!({"incrementalSync": incremental});
            let connector: Arc<dyn Connector> = Arc::new(cmap::connectors::hubspot::HubSpot);
            let req = request(
                connector.as_ref(),
                "contacts",
                json!({"baseUrl": base}),
                task,
                api_key(s.0.seed % 2 == 1),
            );
            let watermark = incremental.then(|| json!("2024-03-01T10:00:00.000Z"));
            (connector, req, watermark)
        })
    }));
}

/// A list page with `paging`, the last list page, and a search page, from the HubSpot mock.
async fn hubspot_seeds() -> Vec<Seed> {
    let records = (1..=3)
        .map(|i| hs::contact(i, &format!("p{i}@example.com"), "2024-03-01T10:00:00.000Z"))
        .collect();
    let (_, handle) = hs::start(hs::Config {
        objects: [("contacts".to_string(), records)].into_iter().collect(),
        page_size: 2,
        ..hs::Config::default()
    })
    .await;
    let client = reqwest::Client::new();
    let list = |after: &str| {
        let url = format!(
            "{}/crm/v3/objects/contacts?limit=2&after={after}",
            handle.base_url()
        );
        let client = client.clone();
        async move {
            client
                .get(url)
                .bearer_auth(hs::TOKEN)
                .send()
                .await
                .expect("a page")
                .json::<Value>()
                .await
                .expect("page JSON")
        }
    };
    let first = list("0").await;
    let after = first["paging"]["next"]["after"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    let last = list(&after).await;
    let search: Value = client
        .post(format!("{}/crm/v3/objects/contacts/search", handle.base_url()))
        .bearer_auth(hs::TOKEN)
        .json(&json!({"limit": 2, "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]}))
        .send()
        .await
        .expect("a search")
        .json()
        .await
        .expect("search JSON");
    vec![Seed::json(first), Seed::json(last), Seed::json(search)]
}

#[test]
fn feeds_of_any_shape_end_in_a_defined_status() {
    let world = runtime().block_on(world());
    let rss1 = r#"<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>T</title><link>https://t.example/</link></channel><item><title>One</title><link>https://t.example/1</link><dc:date>2024-06-01T10:00:00Z</dc:date></item></rdf:RDF>"#;
    let feed = |text: &str| Seed {
        body: SeedBody::Xml(text.to_string()),
        headers: vec![("Content-Type".into(), "application/rss+xml".into())],
    };
    let seeds = vec![
        feed(mock_feeds::GOOGLE_NEWS_RSS),
        feed(mock_feeds::ATOM_FEED),
        feed(rss1),
    ];
    let terminal = Answer::ok(mock_feeds::ATOM_FEED);
    let base = world.script_url.clone();
    let mut runner = runner(48, 0x2F_0003);
    finish(
        runner.run(&(script(), any::<bool>(), 0usize..3), |(s, google, max)| {
            check_read(&world, &seeds, &terminal, &s, || {
                let integration = if google { "google-news" } else { "rss" };
                let connector: Arc<dyn Connector> =
                    Arc::from(for_integration(integration).expect("a feed connector"));
                let settings = if google {
                    json!({"baseUrl": base})
                } else {
                    json!({"url": format!("{base}/feed")})
                };
                // The largest page `check` lets a task ask for, and small ones.
                let max_results = [1, 2, cmap::compile::config::rss::MAX_RESULTS][max];
                let task = if google {
                    json!({"incrementalSync": true, "query": "banks", "maxResults": max_results})
                } else {
                    json!({"incrementalSync": true, "maxResults": max_results})
                };
                let req = request(
                    connector.as_ref(),
                    "article",
                    settings,
                    task,
                    api_key(s.0.seed % 2 == 1),
                );
                (connector, req, Some(json!("2024-06-01T00:00:00Z")))
            })
        }),
    );
}

#[test]
fn rest_pages_of_any_shape_end_in_a_defined_status() {
    let world = runtime().block_on(world());
    let styles = runtime().block_on(rest_seeds());
    let base = world.script_url.clone();
    let mut runner = runner(48, 0x7E_0004);
    finish(runner.run(
        &(script(), 0..styles.len(), any::<bool>()),
        |(s, style, incremental)| {
            let (settings, seed, terminal) = &styles[style];
            check_read(&world, std::slice::from_ref(seed), terminal, &s, || {
                let connector: Arc<dyn Connector> =
                    Arc::from(for_integration("rest").expect("rest"));
                let mut settings = settings.clone();
                settings["baseUrl"] = json!(format!("{base}/api"));
                if incremental {
                    settings["updatedField"] = json!("updatedAt");
                    settings["incrementalParam"] = json!("updated_since");
                }
                let req = request(
                    connector.as_ref(),
                    "people",
                    settings,
                    json!({}),
                    api_key(s.0.seed % 2 == 1),
                );
                (
                    connector,
                    req,
                    incremental.then(|| json!("2024-06-02T00:00:00Z")),
                )
            })
        },
    ));
}

/// Per pagination style: the settings, a first page from the feeds mock, and an empty
/// last page.
async fn rest_seeds() -> Vec<(Value, Seed, Answer)> {
    let people = (1..=5)
        .map(|i| json!({"id": i, "name": format!("P{i}"), "updatedAt": format!("2024-06-{i:02}T00:00:00Z")}))
        .collect();
    let (addr, _state) = mock_feeds::start(mock_feeds::State::with_records(people)).await;
    let client = reqwest::Client::new();
    let mut out = Vec::new();
    for (path, settings, empty) in [
        (
            "cursor/people?limit=2",
            json!({"path": "/cursor/{entity}", "pagination": {"type": "cursor", "cursorPath": "meta.next_cursor", "limitParam": "limit"}}),
            r#"{"data": [], "meta": {}}"#,
        ),
        (
            "offset/people?offset=0&limit=2",
            json!({"path": "/offset/{entity}", "pagination": {"type": "offset", "totalPath": "total"}}),
            r#"{"results": [], "total": 0}"#,
        ),
        (
            "page/people?page=1&per_page=2",
            json!({"path": "/page/{entity}", "pagination": {"type": "page", "limitParam": "per_page", "totalPagesPath": "total_pages"}}),
            r#"{"items": [], "total_pages": 1}"#,
        ),
        (
            "link/people?page=1",
            json!({"path": "/link/{entity}", "pagination": "link"}),
            "[]",
        ),
        (
            "next/people?page=1",
            json!({"path": "/next/{entity}", "recordsPath": "data.items", "pagination": {"type": "next_url", "nextUrlPath": "links.next"}}),
            r#"{"data": {"items": []}, "links": {}}"#,
        ),
    ] {
        let response = client
            .get(format!("http://{addr}/api/{path}"))
            .send()
            .await
            .expect("a page");
        let headers = response
            .headers()
            .iter()
            .filter(|(k, _)| *k == "link" || *k == "content-type")
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body: Value = response.json().await.expect("page JSON");
        out.push((
            settings,
            Seed {
                body: SeedBody::Json(body),
                headers,
            },
            Answer::ok(empty),
        ));
    }
    out
}

#[test]
fn oauth_token_responses_of_any_shape_end_in_a_defined_status() {
    let world = runtime().block_on(world());
    let seeds = runtime().block_on(salesforce_seeds());
    // Token responses: Salesforce's (no expiry, an instance URL) and HubSpot's shape.
    let token_seeds = [
        seeds[2].clone(),
        Seed::json(
            json!({"access_token": "at-1", "refresh_token": "rt-1", "expires_in": 1800, "token_type": "bearer"}),
        ),
    ];
    let batch = Answer::ok(seeds[1].json_bytes());
    let base = world.script_url.clone();
    let mut runner = runner(64, 0x0A_0005);
    finish(runner.run(
        &(mutation(), prop::option::of(mutation())),
        |(token, retry)| {
            // The token endpoint answers first (and again after a 401), then the API.
            let pick = |m: &Mutation| mutate(&token_seeds[m.seed % token_seeds.len()], m, &world);
            let mut answers = vec![pick(&token)];
            answers.extend(retry.as_ref().map(pick));
            world.script.set(answers, batch.clone());
            let mut config = OAuth2Config::new("client-id", format!("{base}/token"));
            config.client_secret = Some(Secret::new(SECRET));
            config.refresh_token = Some(Secret::new("refresh-token-1"));
            let auth: Arc<dyn Auth> = Arc::new(OAuth2::new(config, None).expect("oauth2"));
            let connector = cmap::connectors::salesforce::Salesforce;
            let req = request(
                &connector,
                "Contact",
                json!({"instanceUrl": base}),
                json!({}),
                auth,
            );
            let result = runtime().block_on(async {
                tokio::time::timeout(Duration::from_secs(20), read(&connector, &req, None)).await
            });
            prop_assert!(
                result.is_ok(),
                "the read did not end: {:?}",
                world.script.requests()
            );
            let shown = format!("{result:?}");
            prop_assert!(
                !shown.contains(SECRET),
                "the client secret came out: {shown}"
            );
            Ok(())
        },
    ));
}

// ---------------------------------------------------------------------------------------
// Through the engine

const PIPELINE: &str = r#"
connection api {
  integration rest
  auth api_key { apiKey: env("CMAP_PROPS_API_KEY") }
  settings {
    baseUrl: "BASE/api"
    path: "/offset/{entity}"
    recordsPath: "results"
    pagination: { type: "offset", totalPath: "total" }
  }
}

schema people {
  source rest.people
  target c_contact
  dedupe external_id(id)
  name = name
}

task people-sync { schema people  connection api  retry 0 times every 0s }
"#;

#[test]
fn engine_runs_of_mutated_pages_end_as_executions() {
    let world = runtime().block_on(world());
    let styles = runtime().block_on(rest_seeds());
    let (_, seed, terminal) = &styles[1];
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::create_dir_all(dir.path().join("pipelines")).expect("mkdir");
    std::fs::write(
        dir.path().join("pipelines/p.cmap"),
        PIPELINE.replace("BASE", &world.script_url),
    )
    .expect("write the pipeline");
    // One workspace for every case: each run resumes or restarts from what the last
    // one left, as runs of a real task do.
    let mut runner = runner(8, 0xE6_0006);
    finish(runner.run(&script(), |(first, rest)| {
        let pick = |m: &Mutation| mutate(seed, m, &world);
        let mut answers = vec![pick(&first)];
        answers.extend(
            rest.iter()
                .map(|m| m.as_ref().map_or_else(|| terminal.clone(), pick)),
        );
        world.script.set(answers, terminal.clone());
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cmap"))
            .current_dir(dir.path())
            .args(["--color", "never", "run", "people-sync", "--format", "json"])
            .args(["--data", "data", "--pipelines", "pipelines"])
            .env("CMAP_PROPS_API_KEY", SECRET)
            .env("NO_COLOR", "1")
            .env_remove("CMAP_STDLIB")
            .output()
            .expect("cmap runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let code = out.status.code();
        prop_assert!(
            matches!(code, Some(0 | 1 | 3)),
            "exit {code:?} (a panic is 101, a signal none)\n{stdout}\n{stderr}"
        );
        let execution: Value = serde_json::from_str(&stdout)
            .map_err(|e| TestCaseError::fail(format!("no execution ({e}):\n{stdout}\n{stderr}")))?;
        let status = execution["status"].as_str().unwrap_or("?");
        prop_assert!(
            matches!(status, "success" | "partial" | "failed"),
            "status {status}: {stdout}"
        );
        prop_assert!(
            !stdout.contains(SECRET) && !stderr.contains(SECRET),
            "the secret is in the output:\n{stdout}\n{stderr}"
        );
        Ok(())
    }));
}
