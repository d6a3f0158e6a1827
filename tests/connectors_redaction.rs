//! Secrets echoed back by an upstream API never reach the data directory, the output of
//! `cmap run`, `cmap executions` and `cmap logs`, nor `GET /api/executions` of `cmap
//! serve`, in any encoding: for every auth type (api_key as a bearer token and in its
//! own header, basic, oauth2 with its client secret, refresh and access tokens, custom
//! headers), against a mock that repeats the credentials in 400 and 500 bodies, in
//! records (stored as shards), in records without an id (invalid records) and in records
//! that fail mapping (dead letters), and in the token endpoint's refusals.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use serde_json::Value;

use crate::support::mock_echo;

/// A variant: the connection's `auth` block, its environment, and the secrets in it
/// (with the basic user, for the `user:password` forms).
struct Variant {
    name: &'static str,
    auth: String,
    env: Vec<(&'static str, &'static str)>,
    secrets: Vec<&'static str>,
    basic_user: Option<&'static str>,
}

const API_KEY: &str = "sk/live+Key=42&Zq";
const HEADER_KEY: &str = "hk_9f/Qw+e=Rt&y";
const PASSWORD: &str = "pa:ss/wörd+1=&";
const CLIENT_SECRET: &str = "cs/Secret+9=&Kq";
const REFRESH_TOKEN: &str = "rt/Refresh+5=&Wp";
const CUSTOM_ONE: &str = "c1-Tok en/+=9x";
const CUSTOM_TWO: &str = "c2%2Fraw+Tok=";

fn variant(name: &str) -> Variant {
    let all = [
        Variant {
            name: "bearer",
            auth: r#"auth api_key { apiKey: env("CMAP_ECHO_KEY") }"#.into(),
            env: vec![("CMAP_ECHO_KEY", API_KEY)],
            secrets: vec![API_KEY],
            basic_user: None,
        },
        Variant {
            name: "api_key",
            auth: r#"auth api_key { apiKey: env("CMAP_ECHO_KEY"), header: "X-Api-Key" }"#.into(),
            env: vec![("CMAP_ECHO_KEY", HEADER_KEY)],
            secrets: vec![HEADER_KEY],
            basic_user: None,
        },
        Variant {
            name: "basic",
            auth: r#"auth basic { username: "ada", password: env("CMAP_ECHO_PASSWORD") }"#.into(),
            env: vec![("CMAP_ECHO_PASSWORD", PASSWORD)],
            secrets: vec![PASSWORD],
            basic_user: Some("ada"),
        },
        Variant {
            name: "oauth2",
            auth: r#"auth oauth2 { clientId: "cmap-client", clientSecret: env("CMAP_ECHO_CLIENT_SECRET"), refreshToken: env("CMAP_ECHO_REFRESH"), tokenUrl: "BASE/oauth/token" }"#.into(),
            env: vec![
                ("CMAP_ECHO_CLIENT_SECRET", CLIENT_SECRET),
                ("CMAP_ECHO_REFRESH", REFRESH_TOKEN),
            ],
            secrets: vec![CLIENT_SECRET, REFRESH_TOKEN],
            basic_user: None,
        },
        Variant {
            name: "custom",
            auth: r#"auth custom { X-Tenant-Token: env("CMAP_ECHO_ONE"), X-Other: env("CMAP_ECHO_TWO") }"#.into(),
            env: vec![("CMAP_ECHO_ONE", CUSTOM_ONE), ("CMAP_ECHO_TWO", CUSTOM_TWO)],
            secrets: vec![CUSTOM_ONE, CUSTOM_TWO],
            basic_user: None,
        },
    ];
    all.into_iter()
        .find(|v| v.name == name)
        .expect("a known variant")
}

const PIPELINE: &str = r#"
connection api {
  integration rest
  AUTH
  settings { baseUrl: "BASE/api", path: "/people", recordsPath: "results" }
}

schema people {
  source rest.people
  target c_contact
  dedupe external_id(id)
  name = name
  email! = email
}

task people-sync { schema people  connection api  retry 1 times every 0s }
"#;

/// Every form a secret could be written in.
fn forms(secret: &str, basic_user: Option<&str>) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let engines = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD];
    let mut all = vec![secret.to_string()];
    for engine in &engines {
        all.push(engine.encode(secret));
        if let Some(user) = basic_user {
            all.push(engine.encode(format!("{user}:{secret}")));
        }
    }
    all.push(url::form_urlencoded::byte_serialize(secret.as_bytes()).collect());
    all.push(
        secret
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect(),
    );
    let json = serde_json::to_string(secret).unwrap_or_default();
    all.push(json.trim_matches('"').to_string());
    all.push(json.trim_matches('"').replace('/', "\\/"));
    all.sort();
    all.dedup();
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
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

fn cmap(dir: &Path, variant: &Variant, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cmap"));
    command
        .current_dir(dir)
        .args(["--color", "never"])
        .args(args)
        .args(["--data", "data", "--pipelines", "pipelines"])
        .env("NO_COLOR", "1")
        .env_remove("CMAP_STDLIB");
    for (key, value) in &variant.env {
        command.env(key, value);
    }
    command.output().expect("cmap runs")
}

/// `cmap serve` over the workspace: the bodies of `GET /api/executions` and of each
/// execution and its logs, then its own log once stopped.
fn served(dir: &Path, variant: &Variant, ids: &[String]) -> Vec<u8> {
    let token = crate::support::cli_admin_token(dir, Some("data"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_cmap"));
    command
        .current_dir(dir)
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .args(["--data", "data", "--pipelines", "pipelines"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null());
    for (key, value) in &variant.env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("cmap serve runs");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut log: Vec<u8> = Vec::new();
    let mut addr = None;
    for line in lines.by_ref() {
        let Ok(line) = line else { break };
        log.extend(line.as_bytes());
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if v["fields"]["message"] == "listening" {
            addr = v["fields"]["addr"].as_str().map(str::to_string);
            break;
        }
    }
    let addr = addr.expect("the server logs the address it listens on");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut bodies = rt.block_on(async {
        let client = crate::support::api_client(&token);
        let mut paths = vec!["/api/executions".to_string()];
        for id in ids {
            paths.push(format!("/api/executions/{id}"));
            paths.push(format!("/api/executions/{id}/logs"));
        }
        let mut all = Vec::new();
        for path in paths {
            let response = client
                .get(format!("http://{addr}{path}"))
                .send()
                .await
                .expect("the API answers");
            assert_eq!(response.status(), 200, "{path}");
            all.extend(response.bytes().await.expect("a body"));
        }
        all
    });
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    for line in lines.map_while(Result::ok) {
        log.extend(line.as_bytes());
    }
    let _ = child.wait();
    bodies.extend(log);
    bodies
}

#[test]
fn echoed_bearer_keys_are_redacted() {
    check(variant("bearer"), 400);
}

#[test]
fn echoed_api_key_headers_are_redacted() {
    check(variant("api_key"), 500);
}

#[test]
fn echoed_basic_credentials_are_redacted() {
    check(variant("basic"), 400);
}

#[test]
fn echoed_oauth2_secrets_and_tokens_are_redacted() {
    check(variant("oauth2"), 500);
}

#[test]
fn echoed_custom_headers_are_redacted() {
    check(variant("custom"), 400);
}

/// Runs the variant's task against the echoing mock (records, then `status`), then
/// looks for every form of every secret everywhere.
fn check(variant: Variant, status: u16) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (base, echo) = rt.block_on(mock_echo::start());
    {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::create_dir_all(dir.path().join("pipelines")).expect("mkdir");
        let auth = variant.auth.replace("BASE", &base);
        std::fs::write(
            dir.path().join("pipelines/p.cmap"),
            PIPELINE.replace("AUTH", &auth).replace("BASE", &base),
        )
        .expect("write the pipeline");

        let mut outputs: Vec<u8> = Vec::new();
        let mut ids = Vec::new();
        let mut run = |expect: i32, what: &str| {
            let out = cmap(
                dir.path(),
                &variant,
                &["run", "people-sync", "--format", "json"],
            );
            assert_eq!(
                out.status.code(),
                Some(expect),
                "{} {what}: {}\n{}",
                variant.name,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            if let Ok(e) = serde_json::from_slice::<Value>(&out.stdout) {
                ids.extend(e["id"].as_str().map(str::to_string));
            }
            outputs.extend(out.stdout);
            outputs.extend(out.stderr);
        };
        if variant.name == "oauth2" {
            // The token endpoint refuses, quoting the form (client secret, refresh
            // token) and the headers.
            echo.refuse_tokens(true);
            run(1, "token refused");
            echo.refuse_tokens(false);
        }
        // Records quoting the request: one stored, one without id, one failing.
        run(3, "records");
        // An error body quoting it (a 500 after a retry).
        echo.fail_with(status);
        run(1, "an error status");
        assert!(ids.len() >= 2, "{}: {ids:?}", variant.name);

        for args in [vec!["executions"], vec!["executions", "--format", "json"]] {
            let out = cmap(dir.path(), &variant, &args);
            outputs.extend(out.stdout);
            outputs.extend(out.stderr);
        }
        for id in &ids {
            for format in ["human", "json"] {
                let out = cmap(dir.path(), &variant, &["logs", id, "--format", format]);
                outputs.extend(out.stdout);
                outputs.extend(out.stderr);
            }
        }
        let shards = cmap(dir.path(), &variant, &["shards"]);
        assert!(
            String::from_utf8_lossy(&shards.stdout).contains("\"name\":\"fine ")
                && String::from_utf8_lossy(&shards.stdout).contains("***"),
            "{}: the echo in a record is stored masked: {}",
            variant.name,
            String::from_utf8_lossy(&shards.stdout)
        );
        outputs.extend(shards.stdout);
        let served = served(dir.path(), &variant, &ids);
        let disk = bytes_under(&dir.path().join("data"));

        let mut secrets: Vec<String> = variant.secrets.iter().map(|s| s.to_string()).collect();
        if variant.name == "oauth2" {
            let tokens = echo.access_tokens();
            assert!(!tokens.is_empty(), "tokens were issued");
            secrets.extend(tokens);
        }
        for secret in &secrets {
            for form in forms(secret, variant.basic_user) {
                for (place, bytes) in [
                    ("the data directory", &disk),
                    ("the command output", &outputs),
                    ("cmap serve's API and log", &served),
                ] {
                    assert!(
                        !contains(bytes, &form),
                        "{}: `{form}` (a form of a secret) is in {place}",
                        variant.name
                    );
                }
            }
        }
        // What was said is still there, masked: the message names the status.
        let text = String::from_utf8_lossy(&outputs);
        assert!(text.contains("rejected"), "{}: {text}", variant.name);
        assert!(text.contains("***"), "{}", variant.name);
    }
}
