//! The connect flow of tenant integrations (`engine::connect`), driven through the
//! engine API against a mock OAuth provider: the OAuth2 code flow with PKCE and its
//! failures (each storing nothing), single use under concurrency, disconnect with
//! revocation, and credentials given in a body. No secret of a flow may reach an error
//! message or a log line.

use std::sync::{Arc, Barrier};

use chrono::{DateTime, Duration, Utc};
use cmap::compile::ir::{AuthType, Connection, Program};
use cmap::connectors::auth::Secret;
use cmap::engine::connect::{
    self, Callback, Completed, ConnectError, ConnectTarget, OAuthEndpoints, Revocation, Revoked,
};
use cmap::store::crypto::Keyring;
use cmap::store::{ConnectionRecord, OAuthState, SledStore, Store, StoreError};
use serde_json::{json, Value};
use url::Url;

use crate::support::logs::logged;
use crate::support::mock_oauth::{self, RevokeMode, TokenMode, CLIENT_ID, CLIENT_SECRET};

const RETURN_URL: &str = "https://app.example.com/integrations/salesforce?tab=connection";
const CALLBACK_URL: &str =
    "https://cmap.example.com/api/tenant/integrations/salesforce/oauth/callback";
const USER: &str = "user-7";

/// A data directory with a store and a keyring, the mock provider, and pipelines whose
/// connections read what the flow stores (the path `engine::credentials` takes).
struct Env {
    dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    keyring: Arc<Keyring>,
    provider: mock_oauth::Handle,
    program: Program,
}

async fn env() -> Env {
    let provider = mock_oauth::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let pipelines = dir.path().join("pipelines");
    std::fs::create_dir_all(&pipelines).expect("mkdir");
    std::fs::write(
        pipelines.join("p.cmap"),
        format!(
            r#"
connection sf {{
  integration salesforce
  auth oauth2 {{ clientId: "{CLIENT_ID}", clientSecret: stored, accessToken: stored, refreshToken: stored, tokenUrl: "{}" }}
}}
connection api {{
  integration rest
  auth api_key {{ apiKey: stored, header: stored, prefix: stored }}
  settings {{ baseUrl: "http://127.0.0.1:9" }}
}}
connection intranet {{
  integration rest
  auth basic {{ username: stored, password: stored }}
  settings {{ baseUrl: "http://127.0.0.1:9" }}
}}
"#,
            provider.token_url()
        ),
    )
    .expect("write");
    let program = cmap::serve::loader::load(&pipelines, None, Utc::now())
        .unwrap_or_else(|r| panic!("the pipeline checks:\n{}", r.rendered))
        .program;
    let data = dir.path().join("data");
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&data).expect("store"));
    let keyring = Arc::new(Keyring::load(&data, None).expect("keyring"));
    Env {
        dir,
        store,
        keyring,
        provider,
        program,
    }
}

impl Env {
    fn endpoints(&self) -> OAuthEndpoints {
        OAuthEndpoints {
            authorization_url: Url::parse(&self.provider.authorize_url()).expect("url"),
            token_url: Url::parse(&self.provider.token_url()).expect("url"),
            revoke_url: Some(Url::parse(&self.provider.revoke_url()).expect("url")),
            scopes: vec!["api".into(), "refresh_token".into()],
            client_id: CLIENT_ID.into(),
            client_secret: Secret::new(CLIENT_SECRET),
            pkce: true,
        }
    }

    fn connection(&self, id: &str) -> Arc<Connection> {
        self.program
            .connections
            .iter()
            .find(|c| c.id == id)
            .cloned()
            .expect("the connection is declared")
    }

    fn begin(&self, now: DateTime<Utc>) -> Result<Url, ConnectError> {
        connect::begin(
            &*self.store,
            &self.keyring,
            &self.endpoints(),
            &target("sf"),
            USER,
            RETURN_URL,
            &Url::parse(CALLBACK_URL).expect("url"),
            now,
        )
    }

    async fn complete(
        &self,
        state: &str,
        callback: Callback,
        now: DateTime<Utc>,
    ) -> Result<Completed, ConnectError> {
        let endpoints = self.endpoints();
        connect::complete(
            &self.store,
            &self.keyring,
            |pending| {
                assert_eq!(pending.target, target("sf"), "the state names its flow");
                Ok(endpoints)
            },
            state,
            callback,
            now,
        )
        .await
    }

    /// Every connection record: compared before and after what must store nothing.
    fn connections(&self) -> Vec<ConnectionRecord> {
        self.store.connections().expect("connections")
    }

    /// The stored secrets of a connection, read as a sync reads them.
    fn stored(&self, id: &str) -> serde_json::Map<String, Value> {
        cmap::engine::load_stored(
            &self.connection(id),
            "default",
            &*self.store,
            Some(&self.keyring),
        )
        .expect("the stored credentials open")
    }

    /// Every file of the data directory, as bytes (secrets must be in none in clear).
    fn data_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut dirs = vec![self.dir.path().join("data")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("read dir").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    out.extend(std::fs::read(&path).unwrap_or_default());
                }
            }
        }
        out
    }

    /// Every secret the provider handed out or knows: none may appear in an error or log.
    fn secrets(&self) -> Vec<String> {
        let mut out = vec![CLIENT_SECRET.to_string()];
        out.extend(self.provider.tokens());
        out.extend(self.provider.codes());
        out
    }
}

fn target(connection: &str) -> ConnectTarget {
    ConnectTarget {
        tenant: "default".into(),
        integration_id: "salesforce".into(),
        connection_id: connection.into(),
    }
}

/// Follows the authorization URL as a browser would, up to the redirect back: the state
/// and what the provider says (code or error).
async fn consent(url: &Url) -> (String, Callback) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let answer = client.get(url.clone()).send().await.expect("authorize");
    assert_eq!(answer.status(), 302, "the provider redirects back");
    let location = answer
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("a Location");
    let back = Url::parse(location).expect("the redirect is a URL");
    assert!(
        back.as_str().starts_with(CALLBACK_URL),
        "back to the callback URL: {back}"
    );
    let get = |k: &str| {
        back.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    let state = get("state").expect("the state comes back");
    let callback = match (get("code"), get("error")) {
        (Some(code), _) => Callback::Code(Secret::new(code)),
        (None, Some(error)) => Callback::Error {
            error,
            description: get("error_description"),
        },
        (None, None) => panic!("neither code nor error: {back}"),
    };
    (state, callback)
}

fn query(url: &Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(n, _)| n == key)
        .map(|(_, v)| v.into_owned())
}

/// Asserts that no secret is in `text`.
#[track_caller]
fn no_secret(secrets: &[String], extra: &[&str], text: &str) {
    for secret in secrets
        .iter()
        .map(String::as_str)
        .chain(extra.iter().copied())
    {
        assert!(
            secret.len() < 4 || !text.contains(secret),
            "a secret (`{secret}`) leaked into:\n{text}"
        );
    }
}

#[tokio::test]
async fn oauth_connect_stores_tokens_that_the_connection_reads() {
    let env = env().await;
    // The client secret was stored earlier (`cmap connections set sf clientSecret`):
    // connecting keeps it beside the tokens.
    let mut secret = serde_json::Map::new();
    secret.insert("clientSecret".into(), json!(CLIENT_SECRET));
    cmap::engine::save_stored(
        &env.connection("sf"),
        "default",
        &*env.store,
        &env.keyring,
        secret,
        None,
    )
    .expect("stored");
    let now = Utc::now();
    let ((completed, state), logs) = logged(async {
        let url = env.begin(now).expect("begin");
        let (state, callback) = consent(&url).await;
        (env.complete(&state, callback, now).await, (state, url))
    })
    .await;
    let (state, url) = state;
    let completed = completed.expect("the flow completes");
    assert_eq!(completed.target, target("sf"));
    assert_eq!(completed.return_url.as_str(), RETURN_URL);

    // The authorization request: PKCE S256, the exact callback, 256 bits of state.
    assert!(
        url.as_str().starts_with(&env.provider.authorize_url()),
        "{url}"
    );
    assert_eq!(query(&url, "client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(query(&url, "redirect_uri").as_deref(), Some(CALLBACK_URL));
    assert_eq!(query(&url, "response_type").as_deref(), Some("code"));
    assert_eq!(
        query(&url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(query(&url, "scope").as_deref(), Some("api refresh_token"));
    assert_eq!(state.len(), 43, "32 bytes in base64url");

    // Stored as a refresh stores them, read through the connection's declared fields.
    let tokens = env.provider.tokens();
    let stored = env.stored("sf");
    assert_eq!(stored["clientSecret"], json!(CLIENT_SECRET), "kept");
    assert_eq!(stored["accessToken"], json!(tokens[0]));
    assert_eq!(stored["refreshToken"], json!(tokens[1]));
    assert_eq!(stored["instanceUrl"], json!(env.provider.instance_url()));
    let expires: DateTime<Utc> = stored["expiresAt"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("expiresAt is a date");
    assert_eq!(expires, now + Duration::seconds(3600));
    let auth = cmap::engine::resolve_auth(
        &env.connection("sf"),
        "default",
        env.store.clone(),
        Some(Arc::new(
            Keyring::load(&env.dir.path().join("data"), None).expect("keyring"),
        )),
    )
    .expect("the connection's auth builds from the stored tokens");
    assert_eq!(auth.instance_url(), Some(env.provider.instance_url()));
    let request = auth
        .apply(reqwest::Client::new().get("http://127.0.0.1:9/"))
        .await
        .expect("apply")
        .build()
        .expect("request");
    assert_eq!(
        request.headers()["authorization"],
        format!("Bearer {}", tokens[0]).as_str()
    );

    let record = env
        .store
        .connection("default", "sf")
        .expect("read")
        .expect("stored");
    assert_eq!(record.auth_type, "oauth2");
    assert_eq!(record.integration_id, "salesforce");
    assert_eq!(
        record.created_by, "cmap",
        "the record existed: its author stays"
    );
    let meta = record.oauth.expect("OAuth metadata");
    assert_eq!(meta.token_type, "bearer");
    assert_eq!(meta.scope, vec!["api", "refresh_token"]);
    assert_eq!(meta.instance_url, Some(env.provider.instance_url()));

    // Neither the state nor a token is in any file, nor in the logs.
    let bytes = env.data_bytes();
    for secret in tokens.iter().chain([&state]) {
        let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
        assert!(!found, "`{secret}` is in the data directory in clear");
    }
    assert!(logs.contains("OAuth connection stored"), "{logs}");
    no_secret(&env.secrets(), &[&state], &logs);

    // Single use: the same callback again is refused and changes nothing.
    let before = env.connections();
    let code = env.provider.codes().pop().expect("a code");
    let again = env
        .complete(&state, Callback::Code(Secret::new(code)), now)
        .await
        .expect_err("a replay is refused");
    assert_eq!(again.code(), "state_unknown", "{again}");
    assert_eq!(env.connections(), before);
}

/// One failure of the callback: how to provoke it and the code it must end with.
struct Case {
    name: &'static str,
    setup: fn(&mock_oauth::Handle),
    /// Alters the state and callback the provider sent back, and the time of the callback.
    alter: fn(&mut String, &mut Callback, &mut DateTime<Utc>),
    code: &'static str,
    /// Words the message must hold.
    says: &'static str,
}

fn keep(_: &mut String, _: &mut Callback, _: &mut DateTime<Utc>) {}
fn normal(_: &mock_oauth::Handle) {}

#[tokio::test]
async fn oauth_callback_failures_store_nothing_and_leak_nothing() {
    let cases = [
        Case {
            name: "forged state",
            setup: normal,
            alter: |state, _, _| *state = "A".repeat(43),
            code: "state_unknown",
            says: "unknown or was used already",
        },
        Case {
            name: "altered state",
            setup: normal,
            alter: |state, _, _| state.push('x'),
            code: "state_unknown",
            says: "unknown",
        },
        Case {
            name: "empty state",
            setup: normal,
            alter: |state, _, _| state.clear(),
            code: "state_unknown",
            says: "unknown",
        },
        Case {
            name: "expired state",
            setup: normal,
            alter: |_, _, now| *now += Duration::minutes(10) + Duration::seconds(1),
            code: "state_expired",
            says: "expired",
        },
        Case {
            name: "denied consent",
            setup: |p| p.deny_consent(true),
            alter: keep,
            code: "consent_denied",
            says: "access was denied",
        },
        Case {
            name: "another error from the provider",
            setup: normal,
            alter: |_, callback, _| {
                *callback = Callback::Error {
                    error: "temporarily_unavailable".into(),
                    description: Some("try later".into()),
                }
            },
            code: "provider_error",
            says: "temporarily_unavailable",
        },
        Case {
            name: "no code",
            setup: normal,
            alter: |_, callback, _| *callback = Callback::Code(Secret::new("")),
            code: "provider_error",
            says: "neither a code nor an error",
        },
        Case {
            name: "a code the provider never issued",
            setup: normal,
            alter: |_, callback, _| *callback = Callback::Code(Secret::new("code-forged-1234")),
            code: "token_exchange_failed",
            says: "invalid_grant",
        },
        Case {
            name: "token endpoint 400 invalid_grant (echoing the code and secret)",
            setup: |p| p.token_mode(TokenMode::InvalidGrant),
            alter: keep,
            code: "token_exchange_failed",
            says: "invalid_grant",
        },
        Case {
            name: "token endpoint 500",
            setup: |p| p.token_mode(TokenMode::ServerError),
            alter: keep,
            code: "provider_unavailable",
            says: "HTTP 500",
        },
        Case {
            name: "token endpoint redirects",
            setup: |p| p.token_mode(TokenMode::Redirect),
            alter: keep,
            code: "token_exchange_failed",
            says: "not followed",
        },
    ];
    for case in cases {
        let env = env().await;
        // A connection stored before: a failure must leave it exactly as it was.
        connect::store_credentials(
            &*env.store,
            &env.keyring,
            &target("api"),
            AuthType::ApiKey,
            json!({"apiKey": "sk-live-earlier-key-0001"}),
        )
        .expect("stored");
        let before = env.connections();
        (case.setup)(&env.provider);
        let now = Utc::now();
        let (result, logs) = logged(async {
            let url = env.begin(now).expect("begin");
            let (mut state, mut callback) = consent(&url).await;
            let issued = state.clone();
            let mut at = now;
            (case.alter)(&mut state, &mut callback, &mut at);
            (env.complete(&state, callback, at).await, issued)
        })
        .await;
        let (result, issued) = result;
        let error = result.expect_err(case.name);
        assert_eq!(error.code(), case.code, "{}: {error}", case.name);
        let message = error.to_string();
        assert!(message.contains(case.says), "{}: {message}", case.name);
        assert_eq!(env.connections(), before, "{}: nothing stored", case.name);
        assert_eq!(
            env.provider.stolen(),
            0,
            "{}: a redirect was followed",
            case.name
        );
        no_secret(&env.secrets(), &[&issued], &format!("{message}\n{logs}"));
    }
}

#[tokio::test]
async fn a_code_redeemed_with_another_flows_verifier_is_refused_by_the_provider() {
    let env = env().await;
    let now = Utc::now();
    let (state_a, _) = consent(&env.begin(now).expect("begin")).await;
    let (_, code_b) = consent(&env.begin(now).expect("begin")).await;
    let before = env.connections();
    // Flow A's state with flow B's code: A's verifier does not match B's challenge.
    let error = env
        .complete(&state_a, code_b, now)
        .await
        .expect_err("wrong verifier");
    assert_eq!(error.code(), "token_exchange_failed", "{error}");
    assert_eq!(env.provider.refusals(), vec!["invalid_grant"]);
    assert!(error.to_string().contains("PKCE"), "{error}");
    assert_eq!(env.connections(), before);
}

#[tokio::test(start_paused = true)]
async fn a_token_endpoint_that_does_not_answer_times_out() {
    let env = env().await;
    env.provider.token_mode(TokenMode::Slow);
    let now = Utc::now();
    let (state, callback) = consent(&env.begin(now).expect("begin")).await;
    let error = env
        .complete(&state, callback, now)
        .await
        .expect_err("times out");
    assert_eq!(error.code(), "provider_unavailable", "{error}");
    assert!(
        error.to_string().contains("no answer within 30 s"),
        "{error}"
    );
    assert!(env.connections().is_empty());
}

#[test]
fn concurrent_callbacks_with_one_state_one_proceeds() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let env = Arc::new(runtime.block_on(env()));
    let now = Utc::now();
    let (state, callback) =
        runtime.block_on(async { consent(&env.begin(now).expect("begin")).await });
    let barrier = Arc::new(Barrier::new(2));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (env, barrier, state, callback) = (
                env.clone(),
                barrier.clone(),
                state.clone(),
                callback.clone(),
            );
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                barrier.wait();
                runtime.block_on(env.complete(&state, callback, now))
            })
        })
        .collect();
    let results: Vec<_> = threads
        .into_iter()
        .map(|t| t.join().expect("no panic"))
        .collect();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let unknown = results
        .iter()
        .filter(|r| matches!(r, Err(ConnectError::StateUnknown)))
        .count();
    assert_eq!((ok, unknown), (1, 1), "{results:?}");
    assert_eq!(env.provider.tokens().len(), 2, "one exchange only");
    drop(runtime);
}

fn state_record(expires_at: DateTime<Utc>) -> OAuthState {
    OAuthState {
        tenant_id: "default".into(),
        user_id: USER.into(),
        integration_id: "salesforce".into(),
        connection_id: "sf".into(),
        return_url: RETURN_URL.into(),
        callback_url: CALLBACK_URL.into(),
        pkce_verifier: None,
        created_at: expires_at - Duration::minutes(10),
        expires_at,
    }
}

#[test]
fn the_store_takes_a_state_once_among_many_threads() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(SledStore::open(dir.path()).expect("store"));
    let now = Utc::now();
    for round in 0..10 {
        let hash = connect::state_hash(&format!("state-{round}"));
        store
            .put_oauth_state(&hash, &state_record(now + Duration::minutes(10)), now)
            .expect("put");
        let barrier = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (store, barrier, hash) = (store.clone(), barrier.clone(), hash.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    store.take_oauth_state(&hash).expect("take")
                })
            })
            .collect();
        let taken = threads
            .into_iter()
            .filter_map(|t| t.join().expect("no panic"))
            .count();
        assert_eq!(taken, 1, "round {round}");
    }
    // Only hashes are keys.
    let error = store
        .take_oauth_state("../api-token/x")
        .expect_err("not a hash");
    assert!(matches!(error, StoreError::Invalid(_)), "{error}");
}

#[test]
fn expired_states_are_pruned_a_bounded_number_per_new_state() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SledStore::open(dir.path()).expect("store");
    let now = Utc::now();
    let expired: Vec<String> = (0..20)
        .map(|i| connect::state_hash(&format!("old-{i}")))
        .collect();
    for (i, hash) in expired.iter().enumerate() {
        let at = now - Duration::minutes(60) + Duration::seconds(i as i64);
        store
            .put_oauth_state(hash, &state_record(at), at - Duration::minutes(10))
            .expect("put");
    }
    let live = connect::state_hash("live");
    store
        .put_oauth_state(
            &live,
            &state_record(now + Duration::minutes(5)),
            now - Duration::minutes(90),
        )
        .expect("put");
    let fresh = |n: &str| connect::state_hash(n);
    let pruned = store
        .put_oauth_state(
            &fresh("new-1"),
            &state_record(now + Duration::minutes(10)),
            now,
        )
        .expect("put");
    assert_eq!(pruned, cmap::store::oauth_state::PRUNE_PER_PUT, "bounded");
    let pruned = store
        .put_oauth_state(
            &fresh("new-2"),
            &state_record(now + Duration::minutes(10)),
            now,
        )
        .expect("put");
    assert_eq!(pruned, 20 - cmap::store::oauth_state::PRUNE_PER_PUT);
    for hash in &expired {
        assert_eq!(store.take_oauth_state(hash).expect("take"), None, "pruned");
    }
    assert!(
        store.take_oauth_state(&live).expect("take").is_some(),
        "a live state stays"
    );
    let again = store
        .put_oauth_state(
            &fresh("new-1"),
            &state_record(now + Duration::minutes(10)),
            now,
        )
        .expect_err("a hash is stored once");
    assert!(matches!(again, StoreError::Exists(_)), "{again}");
}

#[tokio::test]
async fn begin_refuses_return_urls_that_are_not_absolute_http() {
    let env = env().await;
    for url in [
        "/integrations",
        "javascript:alert(1)",
        "data:text/html,hi",
        "ftp://example.com/x",
        "https://user:pass@example.com/",
        "",
    ] {
        let error = connect::begin(
            &*env.store,
            &env.keyring,
            &env.endpoints(),
            &target("sf"),
            USER,
            url,
            &Url::parse(CALLBACK_URL).expect("url"),
            Utc::now(),
        )
        .expect_err(url);
        assert_eq!(error.code(), "bad_return_url", "{url}: {error}");
    }
    let long = format!("https://example.com/{}", "a".repeat(3000));
    let error = env.begin_with_return(&long).expect_err("too long");
    assert_eq!(error.code(), "bad_return_url");
}

impl Env {
    fn begin_with_return(&self, return_url: &str) -> Result<Url, ConnectError> {
        connect::begin(
            &*self.store,
            &self.keyring,
            &self.endpoints(),
            &target("sf"),
            USER,
            return_url,
            &Url::parse(CALLBACK_URL).expect("url"),
            Utc::now(),
        )
    }
}

#[tokio::test]
async fn without_pkce_no_challenge_is_sent_and_the_flow_completes() {
    let env = env().await;
    let mut endpoints = env.endpoints();
    endpoints.pkce = false;
    let now = Utc::now();
    let url = connect::begin(
        &*env.store,
        &env.keyring,
        &endpoints,
        &target("sf"),
        USER,
        RETURN_URL,
        &Url::parse(CALLBACK_URL).expect("url"),
        now,
    )
    .expect("begin");
    assert_eq!(query(&url, "code_challenge"), None);
    let (state, callback) = consent(&url).await;
    env.complete(&state, callback, now)
        .await
        .expect("completes");
    assert!(env.stored("sf").contains_key("accessToken"));
    let record = env
        .store
        .connection("default", "sf")
        .expect("read")
        .expect("stored");
    assert_eq!(
        record.created_by, USER,
        "a connection the flow creates is its user's"
    );
}

#[tokio::test]
async fn disconnect_revokes_at_the_provider_then_deletes() {
    let env = env().await;
    let now = Utc::now();
    let (state, callback) = consent(&env.begin(now).expect("begin")).await;
    env.complete(&state, callback, now)
        .await
        .expect("connected");
    let refresh = env.provider.tokens()[1].clone();

    let (revoked, logs) = logged(connect::disconnect(
        &env.store,
        &env.keyring,
        Some(&env.endpoints()),
        &target("sf"),
    ))
    .await;
    assert_eq!(
        revoked.expect("disconnect"),
        Revoked {
            provider: Revocation::Revoked,
            deleted: true
        }
    );
    assert_eq!(
        env.provider.revoked(),
        vec![(refresh, Some("refresh_token".to_string()))]
    );
    assert_eq!(env.store.connection("default", "sf").expect("read"), None);
    no_secret(&env.secrets(), &[], &logs);

    // Nothing stored any more: nothing to revoke, nothing deleted.
    let again = connect::disconnect(
        &env.store,
        &env.keyring,
        Some(&env.endpoints()),
        &target("sf"),
    )
    .await
    .expect("disconnect");
    assert_eq!(
        again,
        Revoked {
            provider: Revocation::NoToken,
            deleted: false
        }
    );
}

#[tokio::test]
async fn disconnect_deletes_whatever_the_provider_says() {
    let env = env().await;
    let now = Utc::now();
    for (mode, revoke_url) in [(RevokeMode::Unavailable, true), (RevokeMode::Normal, false)] {
        let (state, callback) = consent(&env.begin(now).expect("begin")).await;
        env.complete(&state, callback, now)
            .await
            .expect("connected");
        env.provider.revoke_mode(mode);
        let mut endpoints = env.endpoints();
        if !revoke_url {
            endpoints.revoke_url = None;
        }
        let revoked =
            connect::disconnect(&env.store, &env.keyring, Some(&endpoints), &target("sf"))
                .await
                .expect("disconnect");
        assert!(revoked.deleted, "{mode:?}");
        match (revoke_url, &revoked.provider) {
            (true, Revocation::Failed(message)) => {
                assert!(message.contains("503"), "{message}");
                no_secret(&env.secrets(), &[], message);
            }
            (false, Revocation::NotSupported) => {}
            (_, other) => panic!("{mode:?}: {other:?}"),
        }
        assert_eq!(env.store.connection("default", "sf").expect("read"), None);
    }
    assert!(env.provider.revoked().is_empty());
}

#[tokio::test]
async fn credentials_bodies_are_checked_then_stored_as_connections_read_them() {
    let env = env().await;
    // (connection, auth type, body, Ok(expected stored) | Err(field named)).
    type Expect = Result<Value, &'static str>;
    let cases: Vec<(&str, AuthType, Value, Expect)> = vec![
        (
            "api",
            AuthType::ApiKey,
            json!({"apiKey": "sk-live-1111", "header": "X-Api-Key", "prefix": ""}),
            Ok(json!({"apiKey": "sk-live-1111", "header": "X-Api-Key", "prefix": ""})),
        ),
        ("api", AuthType::ApiKey, json!({}), Err("apiKey")),
        (
            "api",
            AuthType::ApiKey,
            json!({"apiKey": ""}),
            Err("apiKey"),
        ),
        (
            "api",
            AuthType::ApiKey,
            json!({"apiKey": 42}),
            Err("apiKey"),
        ),
        (
            "api",
            AuthType::ApiKey,
            json!({"apiKey": "sk-live-2222\r\nX-Evil: 1"}),
            Err("apiKey"),
        ),
        (
            "api",
            AuthType::ApiKey,
            json!({"apiKey": "sk-live-3333", "header": "Bad Header"}),
            Err("header"),
        ),
        (
            "api",
            AuthType::ApiKey,
            json!({"apiKey": "sk-live-4444", "apikey": "sk-live-4444"}),
            Err("apikey"),
        ),
        (
            "api",
            AuthType::ApiKey,
            json!(["sk-live-5555"]),
            Err("body"),
        ),
        (
            "intranet",
            AuthType::Basic,
            json!({"username": "svc", "password": "hunter2-pw"}),
            Ok(json!({"username": "svc", "password": "hunter2-pw"})),
        ),
        (
            "intranet",
            AuthType::Basic,
            json!({"username": "svc:admin", "password": "hunter3-pw"}),
            Err("username"),
        ),
        (
            "intranet",
            AuthType::Basic,
            json!({"username": "svc"}),
            Err("password"),
        ),
        (
            "intranet",
            AuthType::Basic,
            json!({"username": "svc", "password": null}),
            Err("password"),
        ),
        (
            "hdrs",
            AuthType::Custom,
            json!({"X-Tenant": "acme-9999", "X-Token": "tok-6666"}),
            Ok(json!({"X-Tenant": "acme-9999", "X-Token": "tok-6666"})),
        ),
        ("hdrs", AuthType::Custom, json!({}), Err("body")),
        (
            "hdrs",
            AuthType::Custom,
            json!({"X-Token": {"nested": "tok-7777"}}),
            Err("X-Token"),
        ),
        (
            "hdrs",
            AuthType::Custom,
            json!({"tok-8888 in a name": "x"}),
            Err("header name"),
        ),
        (
            "hdrs",
            AuthType::Custom,
            json!({"X-Token": "tok-9999\n"}),
            Err("X-Token"),
        ),
        (
            "sf",
            AuthType::OAuth2,
            json!({"accessToken": "tok-0000"}),
            Err("oauth2"),
        ),
    ];
    for (connection, auth_type, body, expect) in cases {
        let before = env.connections();
        let values: Vec<String> = leaves(&body);
        let result = connect::store_credentials(
            &*env.store,
            &env.keyring,
            &target(connection),
            auth_type,
            body.clone(),
        );
        match (result, expect) {
            (Ok(()), Ok(expected)) => {
                let record = env
                    .store
                    .connection("default", connection)
                    .expect("read")
                    .expect("stored");
                assert_eq!(record.auth_type, auth_type.as_str());
                let stored = if connection == "hdrs" {
                    // No pipeline declares it: read it as the store's owner does.
                    let plain = env
                        .keyring
                        .open(
                            &record.credentials,
                            &cmap::store::crypto::connection_aad(&record),
                        )
                        .expect("opens");
                    serde_json::from_slice(&plain).expect("json")
                } else {
                    Value::Object(env.stored(connection))
                };
                assert_eq!(stored, expected, "{body}");
            }
            (Err(error), Err(field)) => {
                let message = error.to_string();
                assert!(
                    matches!(error.code(), "bad_credentials" | "bad_oauth_config"),
                    "{body}: {message}"
                );
                assert!(message.contains(field), "{body}: {message}");
                no_secret(&values, &[], &message);
                assert_eq!(env.connections(), before, "{body}: nothing stored");
            }
            (got, expected) => panic!("{body}: got {got:?}, expected {expected:?}"),
        }
    }
}

/// The string leaves of a JSON value: the credential values a message must not repeat.
fn leaves(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(leaves).collect(),
        Value::Object(map) => map.values().flat_map(leaves).collect(),
        _ => Vec::new(),
    }
}
