//! Realtime tasks' tokens end to end, through the real binary: `token env("VAR")` read
//! when `cmap serve` loads the pipelines (unset: every delivery refused with 503 naming
//! the variable, logged once), `token stored` set or generated with `cmap tokens` and
//! kept encrypted in the data directory.

use std::io::{BufRead, BufReader, Lines};
use std::path::Path;
use std::process::{Child, ChildStderr, Command, Stdio};

use serde_json::Value;

use crate::support::cmap_in;

const VAR: &str = "CMAP_E2E_HOOK_TOKEN";
const SIGNING: &str = "CMAP_E2E_SIGNING";

fn pipeline(token: &str, config: &str) -> String {
    format!(
        r#"
schema contacts {{
  source salesforce.Contact
  target c_contact
  dedupe external_id(Id)
  name = LastName
}}

task hook {{ schema contacts  schedule realtime token {token}  config {config} }}
"#
    )
}

fn workspace(token: &str) -> tempfile::TempDir {
    workspace_with(token, "{}")
}

fn workspace_with(token: &str, config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("pipelines")).expect("mkdir");
    std::fs::write(dir.path().join("pipelines/p.cmap"), pipeline(token, config)).expect("write");
    dir
}

/// A running `cmap serve` in `dir`, its address, and the log lines up to "listening".
struct Serve {
    child: Child,
    addr: String,
    log: Vec<String>,
    rest: Lines<BufReader<ChildStderr>>,
}

fn serve(dir: &Path, token: Option<&str>) -> Serve {
    serve_with(dir, token, None)
}

/// [`serve`], with the signing secret variable `CMAP_E2E_SIGNING` set or not.
fn serve_with(dir: &Path, token: Option<&str>, signing: Option<&str>) -> Serve {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cmap"));
    cmd.current_dir(dir)
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .env_remove("CMAP_STDLIB")
        .env_remove("CMAP_MASTER_KEY")
        .stderr(Stdio::piped())
        .stdout(Stdio::null());
    match token {
        Some(t) => cmd.env(VAR, t),
        None => cmd.env_remove(VAR),
    };
    match signing {
        Some(t) => cmd.env(SIGNING, t),
        None => cmd.env_remove(SIGNING),
    };
    let mut child = cmd.spawn().expect("cmap serve runs");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut log = Vec::new();
    let mut addr = None;
    for line in lines.by_ref() {
        let Ok(line) = line else { break };
        let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        log.push(line);
        if v["fields"]["message"] == "listening" {
            addr = v["fields"]["addr"].as_str().map(str::to_string);
            break;
        }
    }
    let addr = addr.unwrap_or_else(|| panic!("cmap serve did not start:\n{}", log.join("\n")));
    Serve {
        child,
        addr,
        log,
        rest: lines,
    }
}

impl Serve {
    /// One delivery with `token` in X-Cmap-Token (none: no header): status and body.
    fn deliver(&self, token: Option<&str>) -> (u16, Value) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let mut req = reqwest::Client::new()
                .post(format!("http://{}/webhooks/hook", self.addr))
                .body(r#"{"Id": "003A", "LastName": "Lovelace"}"#);
            if let Some(t) = token {
                req = req.header("X-Cmap-Token", t);
            }
            let r = req.send().await.expect("answered");
            let status = r.status().as_u16();
            let body = r.json().await.unwrap_or(Value::Null);
            (status, body)
        })
    }

    /// Stops the server (SIGTERM) and returns its whole log.
    fn stop(mut self) -> Vec<String> {
        // SAFETY: sending a signal to our own child process.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let mut log = self.log;
        log.extend(self.rest.by_ref().map_while(Result::ok));
        let status = self.child.wait().expect("exits");
        assert!(status.success(), "{status:?}\n{}", log.join("\n"));
        log
    }
}

#[test]
fn an_env_token_refuses_deliveries_until_the_variable_is_set_and_says_so_once() {
    let dir = workspace(&format!("env(\"{VAR}\")"));

    // Unset: every delivery is refused (fail closed) with 503 naming the variable.
    let s = serve(dir.path(), None);
    for token in [None, Some("anything"), Some("")] {
        let (status, body) = s.deliver(token);
        assert_eq!(status, 503, "{body}");
        let error = body["detail"].as_str().unwrap_or_default();
        assert!(error.contains(VAR), "{body}");
        assert!(
            body["help"].as_str().unwrap_or_default().contains(VAR),
            "{body}"
        );
    }
    let log = s.stop();
    let told: Vec<&String> = log.iter().filter(|l| l.contains(VAR)).collect();
    assert_eq!(
        told.len(),
        1,
        "the missing variable is logged once: {told:#?}"
    );
    assert!(told[0].contains("\"ERROR\""), "{}", told[0]);

    // Set: the right token is accepted, a wrong or missing one is 401.
    let s = serve(dir.path(), Some("e2e-token-value"));
    assert_eq!(s.deliver(Some("e2e-token-value")).0, 200);
    assert_eq!(s.deliver(Some("e2e-token-valuf")).0, 401);
    assert_eq!(s.deliver(None).0, 401);
    let log = s.stop();
    assert!(
        log.iter().all(|l| !l.contains("e2e-token-value")),
        "the token reached the log"
    );
}

#[test]
fn a_stored_token_is_generated_or_set_with_cmap_tokens_and_kept_encrypted() {
    let dir = workspace("stored");

    // Before one is stored: refused, saying how to store one.
    let s = serve(dir.path(), None);
    let (status, body) = s.deliver(Some("guess"));
    assert_eq!(status, 503, "{body}");
    assert!(
        body["help"]
            .as_str()
            .unwrap_or_default()
            .contains("cmap tokens generate hook"),
        "{body}"
    );
    s.stop();

    let generated = cmap_in(dir.path(), &["tokens", "generate", "hook"], None);
    generated.code(0);
    let token = generated.stdout.trim().to_string();
    assert_eq!(token.len(), 43, "32 random bytes, base64url: {token}");
    assert!(
        generated.stderr.contains("not shown again"),
        "{}",
        generated.stderr
    );
    let s = serve(dir.path(), None);
    assert_eq!(s.deliver(Some(&token)).0, 200);
    assert_eq!(s.deliver(Some("guess")).0, 401);
    s.stop();

    // `set` replaces it with a value read from stdin, never from the command line.
    let set = cmap_in(
        dir.path(),
        &["tokens", "set", "hook"],
        Some("my-own-token\n"),
    );
    set.code(0);
    assert!(!set.stdout.contains("my-own-token") && !set.stderr.contains("my-own-token"));
    // Key rotation re-encrypts it with the connections' secrets.
    let rotated = cmap_in(dir.path(), &["keys", "rotate"], None);
    rotated.code(0);
    assert!(
        rotated.stderr.contains("re-encrypted 1 connection"),
        "{}",
        rotated.stderr
    );
    let s = serve(dir.path(), None);
    assert_eq!(s.deliver(Some("my-own-token")).0, 200);
    assert_eq!(
        s.deliver(Some(&token)).0,
        401,
        "the generated token is replaced"
    );
    s.stop();

    // Encrypted at rest: neither token is in any file of the data directory.
    for entry in walk(&dir.path().join("data")) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        for secret in [token.as_bytes(), b"my-own-token".as_slice()] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret),
                "{} holds a token in plain text",
                entry.display()
            );
        }
    }
}

/// `cmap tokens generate` whose stdout is closed (`| head -c0`, a reader that died) shows
/// the token to no one: it must store nothing, say so, and exit 2, never panic (it
/// printed with `println!`, which panics on a closed pipe, after storing the token).
#[test]
fn a_generated_token_nobody_saw_is_not_stored() {
    let dir = workspace("stored");
    let out = Command::new(env!("CARGO_BIN_EXE_cmap"))
        .current_dir(dir.path())
        .args(["--color", "never", "tokens", "generate", "hook"])
        .env_remove("CMAP_STDLIB")
        .stdin(Stdio::null())
        .stdout(crate::cli_pipes::closed_pipe())
        .stderr(Stdio::piped())
        .output()
        .expect("cmap tokens runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("nothing was stored"), "{stderr}");
    // Still none stored: the server refuses deliveries, saying how to store one.
    let s = serve(dir.path(), None);
    let (status, body) = s.deliver(Some("guess"));
    assert_eq!(status, 503, "{body}");
    s.stop();
}

#[test]
fn cmap_tokens_refuses_tasks_whose_token_is_not_stored() {
    let dir = workspace(&format!("env(\"{VAR}\")"));
    let run = cmap_in(dir.path(), &["tokens", "generate", "hook"], None);
    run.code(2);
    assert!(run.stderr.contains(VAR), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "nothing generated: {}", run.stdout);
    let run = cmap_in(dir.path(), &["tokens", "set", "nope"], Some("x\n"));
    run.code(2);
    assert!(
        run.stderr.contains("realtime tasks: hook"),
        "{}",
        run.stderr
    );
    let run = cmap_in(dir.path(), &["tokens", "set", "hook"], Some("\n"));
    run.code(2);
}

/// A signed task whose signing secret is missing refuses deliveries the same way (503
/// naming the variable, logged once at load), even with the right token.
#[test]
fn a_missing_signing_secret_refuses_deliveries_and_says_so_once() {
    let dir = workspace_with(
        &format!("env(\"{VAR}\")"),
        &format!("{{ signatureSecretEnv: \"{SIGNING}\" }}"),
    );
    let s = serve_with(dir.path(), Some("tok"), None);
    let (status, body) = s.deliver(Some("tok"));
    assert_eq!(status, 503, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains(SIGNING),
        "{body}"
    );
    assert_eq!(s.deliver(Some("tok")).0, 503);
    let log = s.stop();
    let told = log.iter().filter(|l| l.contains(SIGNING)).count();
    assert_eq!(told, 1, "logged once: {log:#?}");

    // Set: a delivery without a signature is refused, as before.
    let s = serve_with(dir.path(), Some("tok"), Some("signing-key"));
    assert_eq!(s.deliver(Some("tok")).0, 401);
    s.stop();
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
