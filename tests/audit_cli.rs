//! The audit log of the identity commands, through the real binary (docs/api.md, "Audit
//! log"): `cmap tenants add`, `cmap users add` and `cmap tokens create|revoke` each leave
//! one entry by the operator, and no token reaches the log, the data directory or
//! stderr.

use std::path::Path;

use cmap::store::audit::{ActorRole, Outcome};
use cmap::store::{AuditFilter, AuditScope, Limit, PageRequest, SledStore, Store};
use serde_json::json;

use crate::support::{cmap_in, Run};

fn cmap(dir: &Path, args: &[&str]) -> Run {
    let mut all = args.to_vec();
    all.extend(["--data", "data"]);
    cmap_in(dir, &all, None)
}

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
fn identity_commands_leave_audit_entries_without_the_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let mut runs = Vec::new();

    let tenant = cmap(d, &["tenants", "add", "acme"]);
    tenant.code(0);
    let user = cmap(
        d,
        &[
            "users",
            "add",
            "ada@acme.io",
            "--role",
            "tenant_admin",
            "--tenant",
            "acme",
        ],
    );
    user.code(0);
    let first = user.stdout.trim().to_string();
    let created = cmap(d, &["tokens", "create", "ada@acme.io", "--expires", "30d"]);
    created.code(0);
    let second = created.stdout.trim().to_string();
    let admin = cmap(d, &["users", "add", "root@ops.io", "--role", "super_admin"]);
    admin.code(0);
    let third = admin.stdout.trim().to_string();
    // The public id: the 16 hex digits after `cmap_`.
    let second_id = &second[5..21];
    let revoked = cmap(d, &["tokens", "revoke", second_id]);
    revoked.code(0);
    // A refused change leaves no entry.
    cmap(
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
    )
    .code(2);
    runs.extend([tenant, user, created, admin, revoked]);

    let tokens = [&first, &second, &third];
    for token in tokens {
        assert_eq!(token.len(), 86, "a token on stdout: {token}");
    }
    // Neither whole tokens nor their secret parts, on stderr or in any file.
    let needles: Vec<&str> = tokens.iter().flat_map(|t| [t.as_str(), &t[22..]]).collect();
    for run in &runs {
        for needle in &needles {
            assert!(!run.stderr.contains(needle), "a token on stderr: {run:?}");
        }
    }
    for (path, bytes) in files_under(&d.join("data")) {
        for needle in &needles {
            let found = bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
            assert!(!found, "a token in {path}");
        }
    }

    let store = SledStore::open(&d.join("data")).expect("the data directory opens");
    let page = store
        .audit_entries(
            &AuditFilter::default(),
            &PageRequest::first(Limit::new(100).expect("a limit")),
        )
        .expect("the audit log");
    for entry in &page.items {
        assert_eq!(entry.actor.user_id, "cli");
        assert_eq!(entry.actor.role, ActorRole::Operator);
        assert_eq!(entry.outcome, Outcome::Success);
        let text = serde_json::to_string(entry).expect("encodes");
        for needle in &needles {
            assert!(!text.contains(needle), "a token in {text}");
        }
    }
    let seen: Vec<(Option<&str>, &str, &str)> = page
        .items
        .iter()
        .map(|e| {
            let id = e.target.id.as_str();
            (e.tenant_id.as_deref(), e.action.as_str(), id)
        })
        .collect();
    let users = store.users().expect("users");
    let ada = users
        .iter()
        .find(|u| u.email == "ada@acme.io")
        .expect("ada");
    let root = users
        .iter()
        .find(|u| u.email == "root@ops.io")
        .expect("root");
    // Newest first.
    assert_eq!(
        seen,
        [
            (Some("acme"), "token.revoke", second_id),
            (None, "user.add", root.id.as_str()),
            (Some("acme"), "token.create", second_id),
            (Some("acme"), "user.add", ada.id.as_str()),
            (Some("acme"), "tenant.add", "acme"),
        ]
    );
    assert_eq!(
        page.items[3].details.as_value(),
        &json!({"email": "ada@acme.io", "role": "tenant_admin", "tokenId": &first[5..21]})
    );
    let global = store
        .audit_entries(
            &AuditFilter {
                scope: AuditScope::Global,
                ..AuditFilter::default()
            },
            &PageRequest::first(Limit::new(10).expect("a limit")),
        )
        .expect("the global log");
    assert_eq!(global.items.len(), 1, "the super admin's entry alone");
}

#[test]
fn prune_keeps_the_newest_audit_entries_per_scope() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    for tenant in ["acme", "globex", "initech"] {
        cmap(d, &["tenants", "add", tenant]).code(0);
    }
    cmap(d, &["users", "add", "root@ops.io", "--role", "super_admin"]).code(0);
    cmap(d, &["tokens", "create", "root@ops.io"]).code(0);

    // Each case: the settings, the entries removed, the entries left (newest first).
    let cases: &[(&[&str], u64, &[&str])] = &[
        (
            &[],
            0,
            &[
                "token.create",
                "user.add",
                "tenant.add",
                "tenant.add",
                "tenant.add",
            ],
        ),
        (
            &["--keep-audit-days", "36500"],
            0,
            &[
                "token.create",
                "user.add",
                "tenant.add",
                "tenant.add",
                "tenant.add",
            ],
        ),
        (
            &["--keep-audit-entries", "1"],
            1,
            &["token.create", "tenant.add", "tenant.add", "tenant.add"],
        ),
    ];
    for (settings, removed, left) in cases {
        let mut args = vec!["prune", "--format", "json"];
        args.extend_from_slice(settings);
        let run = cmap(d, &args);
        run.code(0);
        let out: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("JSON");
        assert_eq!(out["auditEntries"], json!(removed), "{settings:?}: {run:?}");
        let store = SledStore::open(&d.join("data")).expect("the data directory opens");
        let page = store
            .audit_entries(
                &AuditFilter::default(),
                &PageRequest::first(Limit::new(100).expect("a limit")),
            )
            .expect("the audit log");
        let actions: Vec<&str> = page.items.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(&actions, left, "{settings:?}");
    }
    let refused = cmap(d, &["prune", "--keep-audit-entries", "0"]);
    refused.code(2);
    assert!(refused.stderr.contains("would keep nothing"), "{refused:?}");
}
