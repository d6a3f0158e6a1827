//! Tenants, users and API tokens through the real binary (docs/api.md,
//! "Authentication"): `cmap tenants`, `cmap users`, `cmap tokens create|revoke`, their
//! errors and exit codes, a token alone on stdout, and no secret in the data directory.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::{cmap_in, Run};

/// `cmap ARGS --data DIR/data` in `dir`.
fn cmap(dir: &Path, args: &[&str]) -> Run {
    let mut all = args.to_vec();
    all.extend(["--data", "data"]);
    cmap_in(dir, &all, None)
}

/// The one line of stdout, which must be an API token and nothing else.
fn token_of(run: &Run) -> String {
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stdout: {run:?}");
    let token = lines[0];
    assert_eq!(token.len(), 5 + 16 + 1 + 64, "{token}");
    assert!(token.starts_with("cmap_"), "{token}");
    token.to_string()
}

fn json_lines(run: &Run) -> Vec<Value> {
    run.stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Every byte of every file under `dir`.
fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path.display().to_string(), bytes));
        }
    }
    out
}

#[test]
fn tenants_users_and_tokens_round_trip_and_no_secret_is_stored_in_clear() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();

    let added = cmap(d, &["tenants", "add", "acme", "--name", "Acme Inc"]);
    added.code(0);
    assert_eq!(added.stdout, "", "nothing on stdout");
    let listed = cmap(d, &["tenants", "list", "--format", "json"]);
    listed.code(0);
    let tenants = json_lines(&listed);
    let ids: Vec<&str> = tenants.iter().filter_map(|t| t["id"].as_str()).collect();
    assert_eq!(ids, ["acme", "default"], "{listed:?}");
    assert_eq!(tenants[0]["name"], "Acme Inc");
    let table = cmap(d, &["tenants", "list"]);
    table.code(0);
    assert!(table.stdout.starts_with("TENANT"), "{table:?}");
    assert!(table.stdout.contains("Acme Inc"), "{table:?}");

    let admin = cmap(
        d,
        &[
            "users",
            "add",
            "Ada@Acme.IO",
            "--role",
            "tenant_admin",
            "--tenant",
            "acme",
        ],
    );
    admin.code(0);
    let first = token_of(&admin);
    let root = cmap(
        d,
        &["users", "add", "root@castiel.io", "--role", "super_admin"],
    );
    root.code(0);
    let root_token = token_of(&root);

    let users = cmap(d, &["users", "list", "--format", "json"]);
    users.code(0);
    let users = json_lines(&users);
    let shown: Vec<(&str, &str, Option<&str>)> = users
        .iter()
        .map(|u| {
            (
                u["email"].as_str().unwrap_or(""),
                u["role"].as_str().unwrap_or(""),
                u["tenantId"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("root@castiel.io", "super_admin", None),
            ("ada@acme.io", "tenant_admin", Some("acme")),
        ]
    );
    let table = cmap(d, &["users", "list"]);
    table.code(0);
    assert!(table.stdout.contains("ada@acme.io"), "{table:?}");

    let second = cmap(d, &["tokens", "create", "ada@acme.io", "--expires", "90d"]);
    second.code(0);
    let second = token_of(&second);
    assert_ne!(second, first);
    let prefix = &second[5..21];
    let revoked = cmap(d, &["tokens", "revoke", prefix]);
    revoked.code(0);
    assert!(revoked.stderr.contains("revoked API token"), "{revoked:?}");
    let again = cmap(d, &["tokens", "revoke", prefix]);
    again.code(0);
    assert!(again.stderr.contains("was revoked already"), "{again:?}");

    // No secret, in any form the store could write it, is in the data directory; the
    // public ids are (the store works).
    let files = files_under(&d.join("data"));
    assert!(!files.is_empty());
    for token in [&first, &second, &root_token] {
        let secret = &token[22..];
        for (path, bytes) in &files {
            let found = [secret.as_bytes(), token.as_bytes()]
                .iter()
                .any(|needle| bytes.windows(needle.len()).any(|w| w == *needle));
            assert!(!found, "a token's secret is in {path}");
        }
    }
    let id_stored = files
        .iter()
        .any(|(_, b)| b.windows(16).any(|w| w == &first.as_bytes()[5..21]));
    assert!(id_stored, "the store holds the token's id");
}

#[test]
fn refused_commands_say_why_and_exit_2_storing_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    cmap(d, &["tenants", "add", "acme"]).code(0);
    token_of(&cmap(
        d,
        &[
            "users",
            "add",
            "ada@acme.io",
            "--role",
            "user",
            "--tenant",
            "acme",
        ],
    ));

    // (arguments, what stderr says)
    let cases: &[(&[&str], &str)] = &[
        (&["tenants", "add", "acme"], "tenant `acme` exists already"),
        (
            &["tenants", "add", "default"],
            "tenant `default` exists already",
        ),
        (
            &["tenants", "add", "Acme_1"],
            "tenant id `Acme_1` holds `A`",
        ),
        (
            &[
                "users",
                "add",
                "bob@acme.io",
                "--role",
                "user",
                "--tenant",
                "nope",
            ],
            "tenant `nope` does not exist",
        ),
        (
            &[
                "users",
                "add",
                "ADA@acme.io",
                "--role",
                "user",
                "--tenant",
                "acme",
            ],
            "a user with e-mail `ada@acme.io` exists already",
        ),
        (
            &[
                "users",
                "add",
                "bob@acme.io",
                "--role",
                "super_admin",
                "--tenant",
                "acme",
            ],
            "a super_admin belongs to no tenant",
        ),
        (
            &["users", "add", "bob@acme.io", "--role", "tenant_admin"],
            "a tenant_admin belongs to a tenant",
        ),
        (
            &["users", "add", "bob@acme.io", "--role", "user"],
            "a user belongs to a tenant",
        ),
        (
            &[
                "users",
                "add",
                "bob@acme.io",
                "--role",
                "owner",
                "--tenant",
                "acme",
            ],
            "invalid value 'owner' for '--role <ROLE>'",
        ),
        (
            &["users", "add", "bob", "--role", "user", "--tenant", "acme"],
            "`bob` is not an e-mail address",
        ),
        (
            &["tokens", "create", "nobody@acme.io"],
            "no user has the e-mail `nobody@acme.io`",
        ),
        (
            &["tokens", "create", "ada@acme.io", "--expires", "90"],
            "--expires: `90` has no unit (d, h or m)",
        ),
        (
            &["tokens", "create", "ada@acme.io", "--expires", "0d"],
            "would expire the token at once",
        ),
        (
            &["tokens", "create", "ada@acme.io", "--expires", "soon"],
            "has no unit",
        ),
        (
            &["tokens", "revoke", "0123456789abcdef"],
            "no API token has the id `0123456789abcdef`",
        ),
        (&["tokens", "revoke", "nope"], "that is not a token id"),
    ];
    for (args, want) in cases {
        let run = cmap(d, args);
        run.code(2);
        assert!(run.stderr.contains(want), "{args:?}: {run:?}");
        assert_eq!(run.stdout, "", "{args:?}: nothing on stdout");
    }
    let users = json_lines(&cmap(d, &["users", "list", "--format", "json"]));
    assert_eq!(users.len(), 1, "{users:?}");
    let tenants = json_lines(&cmap(d, &["tenants", "list", "--format", "json"]));
    assert_eq!(tenants.len(), 2, "{tenants:?}");
}

#[test]
fn a_whole_token_given_to_revoke_is_not_repeated() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let token = token_of(&cmap(
        d,
        &["users", "add", "root@castiel.io", "--role", "super_admin"],
    ));
    let run = cmap(d, &["tokens", "revoke", &token]);
    run.code(2);
    assert!(run.stderr.contains("looks like a whole token"), "{run:?}");
    assert!(!run.stderr.contains(&token[22..]), "{run:?}");
}

#[test]
fn a_token_nobody_could_read_is_not_stored() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let out = Command::new(env!("CARGO_BIN_EXE_cmap"))
        .current_dir(d)
        .args(["users", "add", "root@castiel.io", "--role", "super_admin"])
        .args(["--data", "data"])
        .env_remove("CMAP_STDLIB")
        .stdout(crate::cli_pipes::closed_pipe())
        .output()
        .expect("cmap runs");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nothing was stored"), "{stderr}");
    let users = json_lines(&cmap(d, &["users", "list", "--format", "json"]));
    assert!(users.is_empty(), "{users:?}");
}
