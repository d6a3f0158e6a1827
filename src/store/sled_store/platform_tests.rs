//! Tests of tenant integrations, pipeline documents and the audit log in the sled store:
//! compare-and-set, tenant isolation, paging, audit entries committed with their
//! change, and retention.

use std::num::NonZeroU32;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde_json::{json, Map};
use tempfile::TempDir;

use super::tests::reopen;
use super::SledStore;
use crate::redact::Redactor;
use crate::store::audit::{action, Actor, Details, Outcome, Target};
use crate::store::{
    AuditCursor, AuditEntry, AuditFilter, AuditRetention, AuditScope, Batch, Cursor,
    DocumentFilter, DocumentKind, IntegrationStatus, Limit, Op, PageRequest, PipelineDocument,
    Store, StoreError, Tenant, TenantIntegration,
};

fn open() -> (TempDir, SledStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = reopen(dir.path());
    for t in ["acme", "globex"] {
        store
            .add_tenant(&Tenant {
                id: t.into(),
                name: t.into(),
                created_at: at(0),
            })
            .expect("tenant");
    }
    (dir, store)
}

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
        .single()
        .expect("a valid time")
        + TimeDelta::minutes(minute)
}

fn integration(tenant: &str, id: &str) -> TenantIntegration {
    TenantIntegration {
        id: id.into(),
        tenant_id: tenant.into(),
        integration_id: id.into(),
        status: IntegrationStatus::Pending,
        enabled_at: at(1),
        enabled_by: "u-1".into(),
        connection_id: None,
        last_connected_at: None,
        connection_error: None,
        settings: Map::new(),
        authorization_url: None,
        token_url: None,
        created_at: at(1),
        updated_at: at(1),
        version: 0,
    }
}

fn doc(tenant: &str, kind: DocumentKind, id: &str, ti: &str) -> PipelineDocument {
    PipelineDocument {
        tenant_id: tenant.into(),
        kind,
        id: id.into(),
        tenant_integration_id: ti.into(),
        text: format!("{kind} {id} {{}}\n"),
        version: 0,
        created_by: "u-1".into(),
        created_at: at(2),
        updated_by: "u-1".into(),
        updated_at: at(2),
    }
}

fn entry(tenant: Option<&str>, act: &str, minute: i64) -> AuditEntry {
    AuditEntry::new(
        at(minute),
        tenant,
        Actor::operator(),
        act,
        Target::new("thing", format!("t-{minute}")),
        Outcome::Success,
        Details::none(),
    )
}

fn first<C>(n: usize) -> PageRequest<C> {
    PageRequest::first(Limit::new(n).expect("a limit"))
}

fn audit_actions(store: &SledStore, filter: &AuditFilter) -> Vec<String> {
    let page = store
        .audit_entries(filter, &first(1000))
        .expect("audit entries");
    page.items.into_iter().map(|e| e.action).collect()
}

#[test]
fn tenant_integrations_compare_and_set() {
    let (_dir, store) = open();
    let created = store
        .create_tenant_integration(&integration("acme", "salesforce"), None)
        .expect("create");
    assert_eq!(created.version, 1);

    let again = store.create_tenant_integration(&integration("acme", "salesforce"), None);
    assert!(matches!(again, Err(StoreError::Exists(ref w)) if w.contains("salesforce")));

    let mut change = created.clone();
    change.status = IntegrationStatus::Connected;
    change.created_at = at(50);
    // Each case: the version the writer read, and whether the write goes through.
    // Ok: the new version; Err: (expected, found) of the Stale error.
    type Want = Result<u64, (u64, u64)>;
    let cases: &[(u64, Want)] = &[
        (1, Ok(2)),
        (1, Err((1, 2))),
        (3, Err((3, 2))),
        (0, Err((0, 2))),
        (2, Ok(3)),
    ];
    for (read, want) in cases {
        let got = store.update_tenant_integration(&change, *read, None);
        match (got, want) {
            (Ok(r), Ok(v)) => {
                assert_eq!(r.version, *v);
                assert_eq!(r.created_at, at(1), "createdAt is the store's");
                assert_eq!(r.status, IntegrationStatus::Connected);
            }
            (
                Err(StoreError::Stale {
                    expected, found, ..
                }),
                Err((e, f)),
            ) => assert_eq!((expected, found), (*e, *f)),
            (got, want) => panic!("read {read}: got {got:?}, want {want:?}"),
        }
    }
    let stored = store
        .tenant_integration("acme", "salesforce")
        .expect("get")
        .expect("stored");
    assert_eq!(stored.version, 3);

    let missing = store.update_tenant_integration(&integration("acme", "hubspot"), 1, None);
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
    let stale = store.delete_tenant_integration("acme", "salesforce", Some(2), None);
    assert!(
        matches!(stale, Err(StoreError::Stale { found: 3, .. })),
        "{stale:?}"
    );
    store
        .delete_tenant_integration("acme", "salesforce", Some(3), None)
        .expect("delete");
    assert_eq!(
        store.tenant_integration("acme", "salesforce").expect("get"),
        None
    );
}

#[test]
fn refused_writes_change_nothing() {
    let (_dir, store) = open();
    let no_tenant = store.create_tenant_integration(&integration("initech", "salesforce"), None);
    assert!(matches!(no_tenant, Err(StoreError::NotFound(ref w)) if w.contains("initech")));
    let mut bad = integration("acme", "salesforce");
    bad.integration_id = "hubspot".into();
    assert!(matches!(
        store.create_tenant_integration(&bad, None),
        Err(StoreError::Invalid(_))
    ));
    // An audit entry of another tenant: neither the record nor the entry is stored.
    let foreign = entry(Some("globex"), action::INTEGRATION_ENABLE, 3);
    let refused =
        store.create_tenant_integration(&integration("acme", "salesforce"), Some(&foreign));
    assert!(
        matches!(refused, Err(StoreError::Invalid(_))),
        "{refused:?}"
    );
    assert_eq!(
        store.tenant_integration("acme", "salesforce").expect("get"),
        None
    );
    assert!(audit_actions(&store, &AuditFilter::default()).is_empty());

    let no_ti =
        store.create_pipeline_document(&doc("acme", DocumentKind::Schema, "s", "salesforce"), None);
    assert!(matches!(no_ti, Err(StoreError::NotFound(ref w)) if w.contains("salesforce")));
}

#[test]
fn a_tenants_records_are_invisible_to_another() {
    let (_dir, store) = open();
    store
        .create_tenant_integration(&integration("acme", "salesforce"), None)
        .expect("create");
    store
        .create_pipeline_document(&doc("acme", DocumentKind::Schema, "s", "salesforce"), None)
        .expect("create doc");

    // globex asks for acme's records by their ids: every read and write misses.
    assert_eq!(
        store
            .tenant_integration("globex", "salesforce")
            .expect("get"),
        None
    );
    let list = store
        .tenant_integrations("globex", &first(10))
        .expect("list");
    assert!(list.items.is_empty());
    let update = store.update_tenant_integration(&integration("globex", "salesforce"), 1, None);
    assert!(matches!(update, Err(StoreError::NotFound(_))), "{update:?}");
    let delete = store.delete_tenant_integration("globex", "salesforce", None, None);
    assert!(matches!(delete, Err(StoreError::NotFound(_))), "{delete:?}");

    assert_eq!(
        store
            .pipeline_document("globex", DocumentKind::Schema, "s")
            .expect("get"),
        None
    );
    let docs = store
        .pipeline_documents("globex", &DocumentFilter::default(), &first(10))
        .expect("list");
    assert!(docs.items.is_empty());
    let replace = store.replace_pipeline_document(
        &doc("globex", DocumentKind::Schema, "s", "salesforce"),
        1,
        None,
    );
    assert!(
        matches!(replace, Err(StoreError::NotFound(_))),
        "{replace:?}"
    );
    let delete = store.delete_pipeline_document("globex", DocumentKind::Schema, "s", 1, None);
    assert!(matches!(delete, Err(StoreError::NotFound(_))), "{delete:?}");
    // globex may use the same ids for its own records.
    store
        .create_tenant_integration(&integration("globex", "salesforce"), None)
        .expect("globex's own");

    // acme's are untouched.
    let acme = store
        .tenant_integration("acme", "salesforce")
        .expect("get")
        .expect("stored");
    assert_eq!(acme.version, 1);
    let acme_doc = store
        .pipeline_document("acme", DocumentKind::Schema, "s")
        .expect("get")
        .expect("stored");
    assert_eq!(acme_doc.version, 1);

    // The audit log of one tenant holds none of another's entries.
    store
        .append_audit(&entry(Some("acme"), action::SCHEMA_CREATE, 5))
        .expect("append");
    let globex = AuditFilter {
        scope: AuditScope::Tenant("globex".into()),
        ..AuditFilter::default()
    };
    assert!(audit_actions(&store, &globex).is_empty());
}

#[test]
fn tenant_integrations_page_in_id_order() {
    let (_dir, store) = open();
    let ids = ["a", "b", "c", "d", "e"];
    for id in ids.iter().rev() {
        store
            .create_tenant_integration(&integration("acme", id), None)
            .expect("create");
    }
    store
        .create_tenant_integration(&integration("globex", "a0"), None)
        .expect("create");
    for size in 1..=6 {
        let mut seen = Vec::new();
        let mut request = first(size);
        loop {
            let page = store.tenant_integrations("acme", &request).expect("page");
            assert!(page.items.len() <= size);
            seen.extend(page.items.iter().map(|r| r.id.clone()));
            match page.next {
                // The cursor goes out as text and comes back.
                Some(next) => {
                    let text = next.encode();
                    request.after = Some(Cursor::decode(&text).expect("a cursor"));
                }
                None => break,
            }
        }
        assert_eq!(seen, ids, "pages of {size}");
    }
}

#[test]
fn pipeline_documents_compare_and_set_and_page() {
    let (_dir, store) = open();
    for ti in ["hubspot", "salesforce"] {
        store
            .create_tenant_integration(&integration("acme", ti), None)
            .expect("create");
    }
    let docs = [
        (DocumentKind::Schema, "s1", "salesforce"),
        (DocumentKind::Schema, "s2", "hubspot"),
        (DocumentKind::Schema, "s3", "salesforce"),
        (DocumentKind::Task, "t1", "salesforce"),
        (DocumentKind::Task, "t2", "hubspot"),
    ];
    for (kind, id, ti) in docs {
        let stored = store
            .create_pipeline_document(&doc("acme", kind, id, ti), None)
            .expect("create");
        assert_eq!(stored.version, 1);
    }
    let dup =
        store.create_pipeline_document(&doc("acme", DocumentKind::Schema, "s1", "hubspot"), None);
    assert!(matches!(dup, Err(StoreError::Exists(_))), "{dup:?}");

    // Filters, each read in pages of every size.
    let sf = Some("salesforce".to_string());
    let cases: Vec<(DocumentFilter, Vec<&str>)> = vec![
        (
            DocumentFilter::default(),
            vec!["s1", "s2", "s3", "t1", "t2"],
        ),
        (
            DocumentFilter {
                tenant_integration: sf.clone(),
                kind: None,
            },
            vec!["s1", "s3", "t1"],
        ),
        (
            DocumentFilter {
                tenant_integration: None,
                kind: Some(DocumentKind::Task),
            },
            vec!["t1", "t2"],
        ),
        (
            DocumentFilter {
                tenant_integration: sf,
                kind: Some(DocumentKind::Schema),
            },
            vec!["s1", "s3"],
        ),
    ];
    for (filter, want) in &cases {
        for size in 1..=4 {
            let mut seen = Vec::new();
            let mut request = first(size);
            loop {
                let page = store
                    .pipeline_documents("acme", filter, &request)
                    .expect("page");
                seen.extend(page.items.iter().map(|d| d.id.clone()));
                match page.next {
                    Some(next) => request.after = Some(next),
                    None => break,
                }
            }
            assert_eq!(&seen, want, "{filter:?} in pages of {size}");
        }
    }

    // Replace: CAS on the version, creation fields kept, no moving between integrations.
    let mut edit = doc("acme", DocumentKind::Schema, "s1", "salesforce");
    edit.text = "schema s1 { changed }\n".into();
    edit.updated_by = "u-2".into();
    edit.created_by = "someone-else".into();
    let cases: &[(u64, Result<u64, u64>)] = &[(2, Err(1)), (1, Ok(2)), (1, Err(2)), (2, Ok(3))];
    for (read, want) in cases {
        match (store.replace_pipeline_document(&edit, *read, None), want) {
            (Ok(d), Ok(v)) => {
                assert_eq!(d.version, *v);
                assert_eq!(d.created_by, "u-1");
                assert_eq!(d.updated_by, "u-2");
            }
            (Err(StoreError::Stale { found, .. }), Err(f)) => assert_eq!(found, *f),
            (got, want) => panic!("read {read}: got {got:?}, want {want:?}"),
        }
    }
    let mut moved = edit.clone();
    moved.tenant_integration_id = "hubspot".into();
    assert!(matches!(
        store.replace_pipeline_document(&moved, 3, None),
        Err(StoreError::Invalid(_))
    ));

    // A tenant integration with documents is not deleted.
    let in_use = store.delete_tenant_integration("acme", "hubspot", None, None);
    assert!(
        matches!(in_use, Err(StoreError::InUse(ref w)) if w.contains("schema `s2`") && w.contains("task `t2`")),
        "{in_use:?}"
    );
    let stale = store.delete_pipeline_document("acme", DocumentKind::Schema, "s2", 2, None);
    assert!(matches!(stale, Err(StoreError::Stale { .. })), "{stale:?}");
    for (kind, id) in [(DocumentKind::Schema, "s2"), (DocumentKind::Task, "t2")] {
        store
            .delete_pipeline_document("acme", kind, id, 1, None)
            .expect("delete");
    }
    store
        .delete_tenant_integration("acme", "hubspot", None, None)
        .expect("no documents left");

    // Every tenant's, for the loader.
    store
        .create_tenant_integration(&integration("globex", "rss"), None)
        .expect("create");
    store
        .create_pipeline_document(&doc("globex", DocumentKind::Task, "feed", "rss"), None)
        .expect("create");
    let all: Vec<(String, String, u64)> = store
        .all_pipeline_documents()
        .expect("all")
        .into_iter()
        .map(|d| (d.tenant_id, d.id, d.version))
        .collect();
    let want = [
        ("acme", "s1", 3),
        ("acme", "s3", 1),
        ("acme", "t1", 1),
        ("globex", "feed", 1),
    ];
    let want: Vec<(String, String, u64)> = want
        .iter()
        .map(|(t, i, v)| (t.to_string(), i.to_string(), *v))
        .collect();
    assert_eq!(all, want);
}

#[test]
fn a_write_and_its_audit_entry_commit_together() {
    let (dir, store) = open();
    let enable = entry(Some("acme"), action::INTEGRATION_ENABLE, 1);
    store
        .create_tenant_integration(&integration("acme", "salesforce"), Some(&enable))
        .expect("create");
    // A stale update writes neither the record nor its entry.
    let update = entry(Some("acme"), action::INTEGRATION_UPDATE, 2);
    let stale =
        store.update_tenant_integration(&integration("acme", "salesforce"), 9, Some(&update));
    assert!(matches!(stale, Err(StoreError::Stale { .. })));
    // A batch carries an entry with its other writes; one of another tenant is refused.
    let mut batch = Batch::new("acme");
    batch.push(Op::PutAudit(entry(Some("acme"), action::TASK_UPDATE, 3)));
    store.commit(batch).expect("commit");
    let mut foreign = Batch::new("acme");
    foreign.push(Op::PutAudit(entry(None, action::DEFINITION_ADD, 4)));
    assert!(matches!(store.commit(foreign), Err(StoreError::Invalid(_))));
    drop(store);

    let store = reopen(dir.path());
    assert_eq!(
        audit_actions(&store, &AuditFilter::default()),
        [action::TASK_UPDATE, action::INTEGRATION_ENABLE]
    );
}

#[test]
fn audit_lists_newest_first_with_filters_and_pages() {
    let (_dir, store) = open();
    let log = [
        (Some("acme"), action::SCHEMA_CREATE, 1),
        (None, action::DEFINITION_ADD, 2),
        (Some("globex"), action::SCHEMA_UPDATE, 3),
        (Some("acme"), action::TOKEN_CREATE, 4),
        (Some("acme"), action::SCHEMA_UPDATE, 5),
        (None, action::USER_ADD, 6),
    ];
    for (tenant, act, minute) in log {
        store
            .append_audit(&entry(tenant, act, minute))
            .expect("append");
    }
    let filter = |scope: AuditScope, prefix: Option<&str>, since: Option<i64>| AuditFilter {
        scope,
        action_prefix: prefix.map(str::to_owned),
        since: since.map(at),
    };
    let acme = || AuditScope::Tenant("acme".into());
    let cases: Vec<(AuditFilter, Vec<&str>)> = vec![
        (
            filter(AuditScope::All, None, None),
            vec![
                "user.add",
                "schema.update",
                "token.create",
                "schema.update",
                "definition.add",
                "schema.create",
            ],
        ),
        (
            filter(acme(), None, None),
            vec!["schema.update", "token.create", "schema.create"],
        ),
        (
            filter(AuditScope::Global, None, None),
            vec!["user.add", "definition.add"],
        ),
        (
            filter(AuditScope::All, Some("schema."), None),
            vec!["schema.update", "schema.update", "schema.create"],
        ),
        (
            filter(acme(), Some("schema."), Some(4)),
            vec!["schema.update"],
        ),
        (
            filter(acme(), None, Some(4)),
            vec!["schema.update", "token.create"],
        ),
        (filter(AuditScope::All, None, Some(7)), vec![]),
        (
            filter(AuditScope::Tenant("initech".into()), None, None),
            vec![],
        ),
    ];
    for (f, want) in &cases {
        for size in 1..=3 {
            let mut seen = Vec::new();
            let mut request = first(size);
            loop {
                let page = store.audit_entries(f, &request).expect("page");
                assert!(page.items.len() <= size);
                seen.extend(page.items.into_iter().map(|e| e.action));
                match page.next {
                    Some(next) => {
                        let text = next.encode();
                        request.after = Some(AuditCursor::decode(&text).expect("a cursor"));
                    }
                    None => break,
                }
            }
            assert_eq!(&seen, want, "{f:?} in pages of {size}");
        }
    }
    let empty = AuditFilter {
        scope: AuditScope::Tenant(String::new()),
        ..AuditFilter::default()
    };
    assert!(matches!(
        store.audit_entries(&empty, &first(1)),
        Err(StoreError::Invalid(_))
    ));
}

#[test]
fn audit_entries_never_hold_secrets() {
    let (dir, store) = open();
    let secret = "sk-live-0123456789abcdef";
    let redactor = Redactor::new([crate::redact::Known::Value(secret)]);
    let details = Details::scrubbed(
        json!({
            "apiKey": secret,
            "settings": {"region": "eu", "clientSecret": "cs-1"},
            "message": format!("upstream said: bad key {secret}")
        }),
        &redactor,
    );
    let e = AuditEntry::new(
        at(1),
        Some("acme"),
        Actor::operator(),
        action::CREDENTIALS_SET,
        Target::new("connection", "sf"),
        Outcome::Success,
        details,
    );
    store.append_audit(&e).expect("append");
    drop(store);
    // Nothing of the secrets reaches the disk.
    for file in walk(dir.path()) {
        let bytes = std::fs::read(&file).expect("read");
        for needle in [secret, "cs-1"] {
            let found = bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
            assert!(!found, "{needle} in {}", file.display());
        }
    }
    let store = reopen(dir.path());
    let page = store
        .audit_entries(&AuditFilter::default(), &first(10))
        .expect("list");
    assert_eq!(
        page.items[0].details.as_value(),
        &json!({
            "apiKey": "[redacted]",
            "settings": {"region": "eu", "clientSecret": "[redacted]"},
            "message": "upstream said: bad key ***"
        })
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for item in std::fs::read_dir(&d).expect("read dir") {
            let path = item.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn audit_retention_keeps_the_newest_per_scope_and_drops_the_old() {
    let n = |v: u32| NonZeroU32::new(v).expect("nonzero");
    // Each case: entries per scope (acme and global, one a minute from minute 0), the
    // retention, the call's limit; what each scope keeps (oldest minute first).
    struct Case {
        per_scope: u32,
        days: u32,
        now_minute: i64,
        limit: usize,
        removed: u64,
        acme: Vec<i64>,
        global: Vec<i64>,
    }
    let day = 24 * 60;
    let cases = [
        Case {
            per_scope: 3,
            days: 365,
            now_minute: 10,
            limit: 100,
            removed: 4,
            acme: vec![2, 3, 4],
            global: vec![2, 3, 4],
        },
        // A bounded call removes at most its limit (the global scope sorts first).
        Case {
            per_scope: 3,
            days: 365,
            now_minute: 10,
            limit: 1,
            removed: 1,
            acme: vec![0, 1, 2, 3, 4],
            global: vec![1, 2, 3, 4],
        },
        // By age: entries older than a day are gone, whatever the count.
        Case {
            per_scope: 100,
            days: 1,
            now_minute: day + 3,
            limit: 100,
            removed: 6,
            acme: vec![3, 4],
            global: vec![3, 4],
        },
        Case {
            per_scope: 100,
            days: 365,
            now_minute: 10,
            limit: 100,
            removed: 0,
            acme: vec![0, 1, 2, 3, 4],
            global: vec![0, 1, 2, 3, 4],
        },
    ];
    for case in cases {
        let (_dir, store) = open();
        for minute in 0..5 {
            // The global scope (the empty tenant segment) sorts first.
            store
                .append_audit(&entry(Some("acme"), action::SCHEMA_UPDATE, minute))
                .expect("append");
            store
                .append_audit(&entry(None, action::USER_ADD, minute))
                .expect("append");
        }
        let retention = AuditRetention {
            per_scope: n(case.per_scope),
            days: n(case.days),
        };
        let removed = store
            .prune_audit(&retention, at(case.now_minute), case.limit)
            .expect("prune");
        assert_eq!(removed, case.removed);
        let kept = |scope: AuditScope| -> Vec<i64> {
            let f = AuditFilter {
                scope,
                ..AuditFilter::default()
            };
            let page = store.audit_entries(&f, &first(100)).expect("list");
            let mut minutes: Vec<i64> = page
                .items
                .iter()
                .map(|e| (e.at - at(0)).num_minutes())
                .collect();
            minutes.reverse();
            minutes
        };
        assert_eq!(kept(AuditScope::Tenant("acme".into())), case.acme);
        assert_eq!(kept(AuditScope::Global), case.global);
        // The all-scopes index lost exactly what the scopes lost.
        let all = store
            .audit_entries(&AuditFilter::default(), &first(100))
            .expect("list");
        assert_eq!(all.items.len(), case.acme.len() + case.global.len());
        // The counts follow: a second pass with the same settings removes nothing.
        if case.limit >= 100 {
            let again = store
                .prune_audit(&retention, at(case.now_minute), 100)
                .expect("prune");
            assert_eq!(again, 0);
        }
    }
}

#[test]
fn an_audit_page_over_a_sparse_filter_stops_with_a_cursor() {
    let (_dir, store) = open();
    let total = super::platform::AUDIT_SKIP_BUDGET + 5;
    let base = at(0);
    for i in 0..total {
        let act = if i == 0 {
            action::TOKEN_REVOKE
        } else {
            action::SCHEMA_UPDATE
        };
        let mut e = entry(Some("acme"), act, 0);
        e.at = base + TimeDelta::seconds(i as i64);
        store.append_audit(&e).expect("append");
    }
    let filter = AuditFilter {
        action_prefix: Some("token.".into()),
        ..AuditFilter::default()
    };
    let page = store.audit_entries(&filter, &first(10)).expect("page");
    assert!(page.items.is_empty(), "the match is past the budget");
    let next = page.next.expect("a cursor to go on from");
    let page = store
        .audit_entries(
            &filter,
            &PageRequest {
                limit: Limit::new(10).expect("a limit"),
                after: Some(next),
            },
        )
        .expect("page");
    let actions: Vec<&str> = page.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, [action::TOKEN_REVOKE]);
    assert_eq!(page.next, None);
}
