//! `cmap run` against mock APIs: credentials stored encrypted (and never in plaintext on
//! disk, in logs or in errors), key rotation, retries, OAuth2 tokens rotated by the
//! server and persisted before use.

use std::path::Path;

use serde_json::{json, Value};

use crate::support::{cmap_in, mock_feeds, mock_salesforce, Run};

fn run(dir: &Path, args: &[&str], stdin: Option<&str>) -> Run {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--data", "data", "--pipelines", "pipelines"]);
    cmap_in(dir, &all, stdin)
}

fn execution(r: &Run) -> Value {
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("JSON execution ({e}):\n{}\n{}", r.stdout, r.stderr))
}

/// Every byte of every file under `dir`.
fn bytes_under(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return all;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            all.extend(bytes_under(&p));
        } else if let Ok(b) = std::fs::read(&p) {
            all.extend(b);
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn workspace(pipeline: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("pipelines")).expect("mkdir");
    std::fs::write(dir.path().join("pipelines/p.cmap"), pipeline).expect("write");
    dir
}

fn people(n: usize) -> Vec<Value> {
    (0..n).map(|i| json!({"id": format!("u{i}"), "name": format!("User {i}"), "email": format!("u{i}@example.com"), "updatedAt": "2026-11-01T00:00:00Z"})).collect()
}

const REST_PIPELINE: &str = r#"
connection api {
  integration rest
  auth api_key { apiKey: stored }
  settings {
    baseUrl: "BASE"
    path: "/api/offset/{entity}"
    recordsPath: "results"
    pagination: { type: "offset", totalPath: "total" }
  }
}

schema people {
  source rest.people
  target c_contact
  dedupe external_id(id)
  name = name
  email = email
}

task people-sync { schema people  connection api  retry 3 times every 0s }
"#;

#[test]
fn stored_secrets_are_encrypted_never_printed_and_survive_key_rotation() {
    const KEY: &str = "sk-live-7Hq2ZpX9vLmN3";
    const WRONG: &str = "sk-wrong-Q4w8RtY1uIo0";
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (addr, _state) = rt.block_on(mock_feeds::start(mock_feeds::State {
        api_key: Some(KEY.into()),
        ..mock_feeds::State::with_records(people(5))
    }));
    let dir = workspace(&REST_PIPELINE.replace("BASE", &format!("http://{addr}")));

    // Not stored yet: a clear error naming the fix.
    let r = run(dir.path(), &["run", "people-sync"], None);
    r.code(1);
    assert!(
        r.stderr.contains("cmap connections set api apiKey"),
        "{}",
        r.stderr
    );

    // A wrong key: the run fails, and the key appears nowhere.
    run(
        dir.path(),
        &["connections", "set", "api", "apiKey"],
        Some(&format!("{WRONG}\n")),
    )
    .code(0);
    let r = run(
        dir.path(),
        &["run", "people-sync", "--format", "json"],
        None,
    );
    r.code(1);
    let e = execution(&r);
    assert_eq!(e["status"], "failed");
    assert!(e["errors"].to_string().contains("401"), "{}", e["errors"]);
    let id = e["id"].as_str().expect("id").to_string();
    let logs = run(dir.path(), &["logs", &id], None);
    for text in [&r.stdout, &r.stderr, &logs.stdout, &logs.stderr] {
        assert!(
            !text.contains(WRONG),
            "the secret leaked into output:\n{text}"
        );
    }

    // The right key: the run succeeds.
    run(
        dir.path(),
        &["connections", "set", "api", "apiKey"],
        Some(&format!("{KEY}\n")),
    )
    .code(0);
    let r = run(
        dir.path(),
        &["run", "people-sync", "--format", "json"],
        None,
    );
    r.code(0);
    assert_eq!(execution(&r)["results"]["created"], 5);

    let tested = run(dir.path(), &["connections", "test", "api"], None);
    tested.code(0);
    assert!(
        tested
            .stdout
            .contains("connection `api` works: read 5 records"),
        "{}",
        tested.stdout
    );

    let listed = run(dir.path(), &["connections", "list"], None);
    listed.code(0);
    assert!(
        listed.stdout.contains("apiKey: stored (encrypted)"),
        "{}",
        listed.stdout
    );
    assert!(!listed.stdout.contains(KEY));

    // Rotation re-encrypts under a new key; the connection still works.
    let rotated = run(dir.path(), &["keys", "rotate"], None);
    rotated.code(0);
    assert!(
        rotated.stderr.contains("re-encrypted 1 connection"),
        "{}",
        rotated.stderr
    );
    run(dir.path(), &["run", "people-sync"], None).code(0);

    let disk = bytes_under(&dir.path().join("data"));
    assert!(!disk.is_empty());
    for secret in [KEY, WRONG] {
        assert!(
            !contains(&disk, secret),
            "`{secret}` is in plaintext in the data directory"
        );
    }
    let key_file = std::fs::metadata(dir.path().join("data/master.key")).expect("key file");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(key_file.permissions().mode() & 0o777, 0o600);
}

#[test]
fn an_unset_environment_secret_is_named_not_guessed() {
    let dir = workspace(
        &REST_PIPELINE
            .replace("BASE", "http://127.0.0.1:9")
            .replace("apiKey: stored", "apiKey: env(\"CMAP_TEST_UNSET_KEY_0\")"),
    );
    let r = run(dir.path(), &["run", "people-sync"], None);
    r.code(1);
    assert!(r.stderr.contains("CMAP_TEST_UNSET_KEY_0"), "{}", r.stderr);
}

#[test]
fn transient_failures_retry_and_permanent_ones_do_not() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (addr, state) = rt.block_on(mock_feeds::start(mock_feeds::State {
        api_key: Some("k".into()),
        ..mock_feeds::State::with_records(people(3))
    }));
    let dir = workspace(&REST_PIPELINE.replace("BASE", &format!("http://{addr}")));
    run(
        dir.path(),
        &["connections", "set", "api", "apiKey"],
        Some("k\n"),
    )
    .code(0);

    state.fail_next(&[503, 502]);
    let r = run(
        dir.path(),
        &["run", "people-sync", "--format", "json"],
        None,
    );
    r.code(0);
    let e = execution(&r);
    assert_eq!(e["retryCount"], 2);
    assert_eq!(e["results"]["created"], 3);

    state.fail_next(&[400]);
    let r = run(
        dir.path(),
        &["run", "people-sync", "--format", "json"],
        None,
    );
    r.code(1);
    let e = execution(&r);
    assert_eq!(e["status"], "failed");
    assert_eq!(e["retryCount"], 0, "a 400 is not retried");
}

#[test]
fn oauth_tokens_rotated_by_the_server_are_persisted_encrypted_before_use() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let contacts: Vec<Value> = (0..3)
        .map(|i| {
            mock_salesforce::contact(
                &format!("003X{i}"),
                &format!("Name{i}"),
                "2026-11-01T10:00:00.000+0000",
            )
        })
        .collect();
    let config = mock_salesforce::Config {
        objects: [("Contact".to_string(), contacts)].into_iter().collect(),
        rotate_refresh_tokens: true,
        ..mock_salesforce::Config::default()
    };
    let (_addr, handle) = rt.block_on(mock_salesforce::start(config));
    let first_refresh = handle.refresh_token();
    let pipeline = format!(
        r#"
connection sf {{
  integration salesforce
  auth oauth2 {{ clientId: "{}", clientSecret: stored, refreshToken: stored, tokenUrl: "{}" }}
  settings {{ instanceUrl: "{}" }}
}}

schema contacts {{
  source salesforce.Contact where IsDeleted == false
  target c_contact
  dedupe external_id(Id)
  name = "${{FirstName}} ${{LastName}}"
  email = Email
}}

task sf-sync {{ schema contacts  connection sf }}
"#,
        mock_salesforce::CLIENT_ID,
        handle.token_url(),
        handle.base_url()
    );
    let dir = workspace(&pipeline);
    run(
        dir.path(),
        &["connections", "set", "sf", "clientSecret"],
        Some(&format!("{}\n", mock_salesforce::CLIENT_SECRET)),
    )
    .code(0);
    run(
        dir.path(),
        &["connections", "set", "sf", "refreshToken"],
        Some(&format!("{first_refresh}\n")),
    )
    .code(0);

    let r = run(dir.path(), &["run", "sf-sync", "--format", "json"], None);
    r.code(0);
    assert_eq!(execution(&r)["results"]["created"], 3);
    let rotated = handle.refresh_token();
    assert_ne!(rotated, first_refresh, "the mock rotated the refresh token");

    // The old refresh token is now invalid: a second run works only if the rotated one
    // was stored.
    handle.expire_session();
    let r = run(dir.path(), &["run", "sf-sync", "--format", "json"], None);
    r.code(0);
    assert_eq!(execution(&r)["results"]["skipped"], 3);

    let disk = bytes_under(&dir.path().join("data"));
    let mut secrets = vec![
        first_refresh,
        rotated,
        handle.refresh_token(),
        mock_salesforce::CLIENT_SECRET.to_string(),
    ];
    secrets.extend(handle.access_token());
    for secret in secrets {
        assert!(
            !contains(&disk, &secret),
            "`{secret}` is in plaintext in the data directory"
        );
    }
}
