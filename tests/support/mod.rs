//! Helpers: run the binary, compare with golden files.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository root (tests run with it as working directory).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `cmap ARGS` in the repository root without colours; `stdin` is fed when given.
pub fn cmap(args: &[&str], stdin: Option<&str>) -> Run {
    cmap_in(&root(), args, stdin)
}

pub fn cmap_in(dir: &Path, args: &[&str], stdin: Option<&str>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cmap"));
    cmd.current_dir(dir)
        .args(["--color", "never"])
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("CMAP_STDLIB");
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the cmap binary runs");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        // cmap may exit before reading all of its input (a file that does not check is
        // refused before stdin is read): the pipe is then closed, which is no failure of
        // the test; what cmap said is asserted by the caller.
        if let Err(e) = pipe.write_all(input.as_bytes()) {
            assert_eq!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe,
                "writing stdin: {e}"
            );
        }
    }
    let out: Output = child.wait_with_output().expect("cmap exits");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts the exit code, showing both streams when it differs.
    #[track_caller]
    pub fn code(&self, expected: i32) -> &Run {
        assert_eq!(
            self.code, expected,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Compares `actual` with the golden file at `tests/data/<rel>`; with `UPDATE_EXPECT=1`
/// writes it instead.
#[track_caller]
pub fn golden(rel: &str, actual: &str) {
    let path = root().join("tests/data").join(rel);
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("golden directory");
        }
        std::fs::write(&path, actual).expect("golden file written");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing golden file {} (run with UPDATE_EXPECT=1)",
            path.display()
        )
    });
    if expected != actual {
        let diff = similar::TextDiff::from_lines(expected.as_str(), actual);
        panic!(
            "{} differs (UPDATE_EXPECT=1 to accept):\n{}",
            path.display(),
            diff.unified_diff().header("expected", "actual")
        );
    }
}

pub mod logs;
pub mod mock_echo;
pub mod mock_elsewhere;
pub mod mock_feeds;
pub mod mock_hubspot;
pub mod mock_oauth;
pub mod mock_pages;
pub mod mock_salesforce;

/// The variable the in-process servers' realtime test tasks read their token from
/// (`token env("CMAP_TEST_WEBHOOK_TOKEN")`).
pub const WEBHOOK_TOKEN_ENV: &str = "CMAP_TEST_WEBHOOK_TOKEN";
/// Its value.
pub const WEBHOOK_TOKEN: &str = "t0k3n";

/// Sets [`WEBHOOK_TOKEN_ENV`] in this process, once (always to [`WEBHOOK_TOKEN`]), for
/// tests that serve in-process: the server reads tokens from its own environment.
pub fn webhook_token_env() -> &'static str {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::env::set_var(WEBHOOK_TOKEN_ENV, WEBHOOK_TOKEN));
    WEBHOOK_TOKEN
}

/// The settings and task config of a read through `integration`, typed as `check` types
/// them (only the keys the connector reads are taken from `settings`, so one JSON object
/// can serve connectors that share a mock). A test's request that does not check is a
/// bug of the test: it panics with the diagnostics.
pub fn typed(
    integration: &str,
    settings: &serde_json::Value,
    task: &serde_json::Value,
) -> (
    cmap::compile::config::Settings,
    cmap::compile::config::Source,
) {
    use cmap::compile::config::{declared_settings, settings_from_json, source_from_json};
    let declared = declared_settings(integration);
    let settings: serde_json::Map<String, serde_json::Value> = settings
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| declared.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let settings = settings_from_json(integration, &serde_json::Value::Object(settings))
        .unwrap_or_else(|e| panic!("the test's {integration} settings do not check: {e}"));
    let source = source_from_json(integration, task)
        .unwrap_or_else(|e| panic!("the test's {integration} task config does not check: {e}"));
    (settings, source)
}

/// A read as the engine sets it up: the settings typed as `check` types them, the
/// client's origins the connector's, pages of 2, an HTTP timeout of `timeout`.
pub fn read_request(
    connector: &dyn cmap::connectors::Connector,
    entity: &str,
    settings: serde_json::Value,
    task: serde_json::Value,
    auth: std::sync::Arc<dyn cmap::connectors::auth::Auth>,
    timeout: std::time::Duration,
) -> cmap::connectors::ReadRequest {
    let (settings, source) = typed(connector.name(), &settings, &task);
    let origins = connector.origins(&settings);
    cmap::connectors::ReadRequest {
        entity: entity.to_string(),
        source,
        settings,
        full: false,
        page_size: 2,
        http: Some(std::sync::Arc::new(
            cmap::connectors::http::Client::new(auth, origins, timeout).expect("client"),
        )),
        base_dir: std::env::temp_dir(),
    }
}

/// A new user of `role` (in `tenant`, which is created when missing; `None` for a super
/// admin) with one API token, stored in `store`: the token, to send as
/// `Authorization: Bearer TOKEN`.
pub fn api_user(
    store: &dyn cmap::store::Store,
    email: &str,
    role: cmap::store::identity::Role,
    tenant: Option<&str>,
) -> String {
    use cmap::store::identity::{Tenant, User};
    let now = chrono::Utc::now();
    if let Some(t) = tenant {
        if store.tenant_record(t).expect("read tenant").is_none() {
            store
                .add_tenant(&Tenant {
                    id: t.to_string(),
                    name: t.to_string(),
                    created_at: now,
                })
                .expect("add tenant");
        }
    }
    let user = User {
        id: uuid::Uuid::now_v7().to_string(),
        email: email.to_string(),
        role,
        tenant_id: tenant.map(str::to_string),
        created_at: now,
    };
    let (record, token) = cmap::store::api_token::mint(&user, now, None).expect("mint");
    store.add_user(&user, &record).expect("add user");
    token.expose().to_string()
}

/// A super admin's token in `store` (see [`api_user`]).
pub fn admin_token(store: &dyn cmap::store::Store) -> String {
    let email = format!("root-{}@example.com", uuid::Uuid::now_v7().simple());
    api_user(store, &email, cmap::store::identity::Role::SuperAdmin, None)
}

/// A new super admin's API token, made with the binary in `dir` (`data`: the
/// `--data` directory serve will use, or `None` for the default). Run before the server
/// starts: one process holds a data directory.
pub fn cli_admin_token(dir: &Path, data: Option<&str>) -> String {
    let email = format!("root-{}@example.com", uuid::Uuid::now_v7().simple());
    let mut args = vec!["users", "add", email.as_str(), "--role", "super_admin"];
    if let Some(d) = data {
        args.extend(["--data", d]);
    }
    let run = cmap_in(dir, &args, None);
    run.code(0);
    run.stdout.trim().to_string()
}

/// An HTTP client that sends `Authorization: Bearer TOKEN` with every request.
pub fn api_client(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
        .expect("a token is header text");
    headers.insert(reqwest::header::AUTHORIZATION, value);
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("client")
}
