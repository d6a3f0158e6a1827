//! Tenant integrations, pipeline documents and the audit log in the sled store (keys in
//! the module docs of `sled_store`). Each write reads what it depends on (the version it
//! compares, the record it names) and applies its keys, with its audit entry, in one
//! atomic batch under the commit lock: the sled form of one SQL transaction.

use std::ops::Bound;

use chrono::{DateTime, Utc};

use super::identity::TENANT_RECORD;
use super::keys::{self, key};
use super::{backend, decode, SledStore, Writes, SYSTEM};
use crate::store::audit::{AuditCursor, AuditEntry, AuditFilter, AuditRetention, AuditScope};
use crate::store::pipeline_doc::{DocumentCursor, DocumentFilter, DocumentKind, PipelineDocument};
use crate::store::tenant_integration::{TenantIntegration, TenantIntegrationCursor};
use crate::store::{Page, PageRequest, Result, StoreError};

const TENANT_INTEGRATION: &[u8] = b"tenant-integration";
const PIPELINE_DOC: &[u8] = b"pipeline-doc";
const PIPELINE_DOC_BY_TI: &[u8] = b"pipeline-doc-by-ti";
const AUDIT: &[u8] = b"audit";
const AUDIT_ALL: &[u8] = b"audit-all";
const AUDIT_COUNT: &[u8] = b"audit-count";

/// Keys an audit list may visit past the entries it returns before it stops with a
/// cursor (a filter that matches little must not read the whole log in one request).
pub(super) const AUDIT_SKIP_BUDGET: usize = 1000;

fn invalid(message: String) -> StoreError {
    StoreError::Invalid(message)
}

fn integration_key(tenant: &str, id: &str) -> Vec<u8> {
    key(&[tenant.as_bytes(), TENANT_INTEGRATION, id.as_bytes()])
}

fn doc_key(tenant: &str, kind: DocumentKind, id: &str) -> Vec<u8> {
    key(&[
        tenant.as_bytes(),
        PIPELINE_DOC,
        kind.as_str().as_bytes(),
        id.as_bytes(),
    ])
}

fn doc_index_key(tenant: &str, ti: &str, kind: DocumentKind, id: &str) -> Vec<u8> {
    key(&[
        tenant.as_bytes(),
        PIPELINE_DOC_BY_TI,
        ti.as_bytes(),
        kind.as_str().as_bytes(),
        id.as_bytes(),
    ])
}

/// The tenant segment of an audit scope: the tenant, or the system namespace for
/// global entries.
fn scope_bytes(tenant: Option<&str>) -> &[u8] {
    tenant.map_or(SYSTEM, str::as_bytes)
}

fn audit_key(scope: &[u8], at: [u8; 8], id: &str) -> Vec<u8> {
    key(&[scope, AUDIT, &at, id.as_bytes()])
}

fn audit_all_key(at: [u8; 8], id: &str) -> Vec<u8> {
    key(&[SYSTEM, AUDIT_ALL, &at, id.as_bytes()])
}

fn audit_count_key(scope: &[u8]) -> Vec<u8> {
    key(&[SYSTEM, AUDIT_COUNT, scope])
}

/// An audit entry written with a record must be of the record's tenant.
fn check_audit_of(tenant: &str, audit: Option<&AuditEntry>) -> Result<()> {
    match audit {
        Some(entry) if entry.tenant_id.as_deref() != Some(tenant) => Err(invalid(format!(
            "an audit entry of tenant {:?} with a record of tenant `{tenant}`",
            entry.tenant_id
        ))),
        _ => Ok(()),
    }
}

/// Writes `entry`, its `audit-all` entry, and its scope's count (what pruning reads).
pub(super) fn put_audit(w: &mut Writes<'_>, entry: &AuditEntry) -> Result<()> {
    entry.check().map_err(invalid)?;
    let scope = scope_bytes(entry.tenant_id.as_deref());
    let at = keys::sortable_micros(entry.at.timestamp_micros());
    let k = audit_key(scope, at, &entry.id);
    if w.get(&k)?.is_some() {
        return Err(StoreError::Exists(format!("audit entry `{}`", entry.id)));
    }
    w.put_json(k, entry)?;
    w.put_json(audit_all_key(at, &entry.id), &entry.tenant_id)?;
    let ck = audit_count_key(scope);
    let n: u64 = w.get_json(&ck)?.unwrap_or(0);
    w.put_json(ck, &n.saturating_add(1))
}

fn put_audit_opt(w: &mut Writes<'_>, audit: Option<&AuditEntry>) -> Result<()> {
    match audit {
        Some(entry) => put_audit(w, entry),
        None => Ok(()),
    }
}

fn stale(what: String, expected: u64, found: u64) -> StoreError {
    StoreError::Stale {
        what,
        expected,
        found,
    }
}

fn integration_name(tenant: &str, id: &str) -> String {
    format!("tenant integration `{id}` of tenant `{tenant}`")
}

fn doc_name(tenant: &str, kind: DocumentKind, id: &str) -> String {
    format!("{kind} `{id}` of tenant `{tenant}`")
}

/// A page of the entries under `prefix` after the key `after` (exclusive; the start of
/// `prefix` when `None` or before it), in key order, each made by `item` from its key and
/// value: `limit` items, and whether more follow. Reads `limit` entries and one more.
fn range_page<T>(
    store: &SledStore,
    prefix: &[u8],
    after: Option<Vec<u8>>,
    limit: usize,
    item: impl Fn(&[u8], &[u8]) -> Result<T>,
) -> Result<(Vec<T>, bool)> {
    let start = match after {
        Some(k) if k.as_slice() >= prefix => Bound::Excluded(k),
        _ => Bound::Included(prefix.to_vec()),
    };
    let end = Bound::Excluded(keys::prefix_end(prefix));
    let mut items = Vec::with_capacity(limit);
    for entry in store.state.range::<Vec<u8>, _>((start, end)) {
        let (k, v) = entry.map_err(backend)?;
        if items.len() == limit {
            return Ok((items, true));
        }
        items.push(item(&k, &v)?);
    }
    Ok((items, false))
}

/// [`range_page`] of the decoded values.
fn id_page<T: serde::de::DeserializeOwned>(
    store: &SledStore,
    prefix: &[u8],
    after: Option<Vec<u8>>,
    limit: usize,
) -> Result<(Vec<T>, bool)> {
    range_page(store, prefix, after, limit, |k, v| decode(k, v))
}

pub(super) fn create_tenant_integration(
    store: &SledStore,
    record: &TenantIntegration,
    audit: Option<&AuditEntry>,
) -> Result<TenantIntegration> {
    record.check().map_err(invalid)?;
    let tenant = record.tenant_id.as_str();
    check_audit_of(tenant, audit)?;
    store.identity_commit(|w| {
        if w.get(&key(&[SYSTEM, TENANT_RECORD, tenant.as_bytes()]))?
            .is_none()
        {
            return Err(StoreError::NotFound(format!("tenant `{tenant}`")));
        }
        let k = integration_key(tenant, &record.id);
        if w.get(&k)?.is_some() {
            return Err(StoreError::Exists(integration_name(tenant, &record.id)));
        }
        let stored = TenantIntegration {
            version: 1,
            ..record.clone()
        };
        w.put_json(k, &stored)?;
        put_audit_opt(w, audit)?;
        Ok(stored)
    })
}

pub(super) fn tenant_integration(
    store: &SledStore,
    tenant: &str,
    id: &str,
) -> Result<Option<TenantIntegration>> {
    store.get_json(&integration_key(tenant, id))
}

pub(super) fn tenant_integrations(
    store: &SledStore,
    tenant: &str,
    page: &PageRequest<TenantIntegrationCursor>,
) -> Result<Page<TenantIntegration, TenantIntegrationCursor>> {
    let prefix = key(&[tenant.as_bytes(), TENANT_INTEGRATION]);
    let after = page.after.as_ref().map(|c| integration_key(tenant, &c.id));
    let (items, more) = id_page::<TenantIntegration>(store, &prefix, after, page.limit.get())?;
    let next = more
        .then(|| {
            items
                .last()
                .map(|r| TenantIntegrationCursor { id: r.id.clone() })
        })
        .flatten();
    Ok(Page { items, next })
}

pub(super) fn update_tenant_integration(
    store: &SledStore,
    record: &TenantIntegration,
    expected_version: u64,
    audit: Option<&AuditEntry>,
) -> Result<TenantIntegration> {
    record.check().map_err(invalid)?;
    let tenant = record.tenant_id.as_str();
    check_audit_of(tenant, audit)?;
    store.identity_commit(|w| {
        let k = integration_key(tenant, &record.id);
        let Some(old) = w.get_json::<TenantIntegration>(&k)? else {
            return Err(StoreError::NotFound(integration_name(tenant, &record.id)));
        };
        if old.version != expected_version {
            return Err(stale(
                integration_name(tenant, &record.id),
                expected_version,
                old.version,
            ));
        }
        let stored = TenantIntegration {
            version: old.version.saturating_add(1),
            created_at: old.created_at,
            ..record.clone()
        };
        w.put_json(k, &stored)?;
        put_audit_opt(w, audit)?;
        Ok(stored)
    })
}

pub(super) fn delete_tenant_integration(
    store: &SledStore,
    tenant: &str,
    id: &str,
    expected_version: Option<u64>,
    audit: Option<&AuditEntry>,
) -> Result<()> {
    check_audit_of(tenant, audit)?;
    store.identity_commit(|w| {
        let k = integration_key(tenant, id);
        let Some(old) = w.get_json::<TenantIntegration>(&k)? else {
            return Err(StoreError::NotFound(integration_name(tenant, id)));
        };
        if let Some(expected) = expected_version.filter(|v| *v != old.version) {
            return Err(stale(integration_name(tenant, id), expected, old.version));
        }
        let index = key(&[tenant.as_bytes(), PIPELINE_DOC_BY_TI, id.as_bytes()]);
        // The first few names are enough to say what to remove first.
        let users: Vec<String> = store
            .state
            .scan_prefix(&index)
            .take(4)
            .map(|item| {
                let (k, _) = item.map_err(backend)?;
                let segments = keys::segments(&k).unwrap_or_default();
                Ok(match segments.as_slice() {
                    [.., kind, doc] => format!(
                        "{} `{}`",
                        String::from_utf8_lossy(kind),
                        String::from_utf8_lossy(doc)
                    ),
                    _ => keys::display(&k),
                })
            })
            .collect::<Result<_>>()?;
        if !users.is_empty() {
            return Err(StoreError::InUse(format!(
                "{} still has {}{}: delete them first",
                integration_name(tenant, id),
                users.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
                if users.len() > 3 { ", ..." } else { "" }
            )));
        }
        w.remove(k);
        put_audit_opt(w, audit)
    })
}

pub(super) fn create_pipeline_document(
    store: &SledStore,
    doc: &PipelineDocument,
    audit: Option<&AuditEntry>,
) -> Result<PipelineDocument> {
    doc.check().map_err(invalid)?;
    let tenant = doc.tenant_id.as_str();
    check_audit_of(tenant, audit)?;
    store.identity_commit(|w| {
        let ti = &doc.tenant_integration_id;
        if w.get(&integration_key(tenant, ti))?.is_none() {
            return Err(StoreError::NotFound(integration_name(tenant, ti)));
        }
        let k = doc_key(tenant, doc.kind, &doc.id);
        if w.get(&k)?.is_some() {
            return Err(StoreError::Exists(doc_name(tenant, doc.kind, &doc.id)));
        }
        let stored = PipelineDocument {
            version: 1,
            ..doc.clone()
        };
        w.put_json(k, &stored)?;
        w.put_json(doc_index_key(tenant, ti, doc.kind, &doc.id), &true)?;
        put_audit_opt(w, audit)?;
        Ok(stored)
    })
}

pub(super) fn pipeline_document(
    store: &SledStore,
    tenant: &str,
    kind: DocumentKind,
    id: &str,
) -> Result<Option<PipelineDocument>> {
    store.get_json(&doc_key(tenant, kind, id))
}

pub(super) fn pipeline_documents(
    store: &SledStore,
    tenant: &str,
    filter: &DocumentFilter,
    page: &PageRequest<DocumentCursor>,
) -> Result<Page<PipelineDocument, DocumentCursor>> {
    let t = tenant.as_bytes();
    let limit = page.limit.get();
    // The keys of both indexes end in KIND/ID, as the cursor does: `base` is what comes
    // before them, `prefix` narrows it to one kind when asked.
    let base = match &filter.tenant_integration {
        Some(ti) => key(&[t, PIPELINE_DOC_BY_TI, ti.as_bytes()]),
        None => key(&[t, PIPELINE_DOC]),
    };
    let mut prefix = base.clone();
    if let Some(kind) = filter.kind {
        prefix.extend(key(&[kind.as_str().as_bytes()]));
    }
    let after = page.after.as_ref().map(|c| {
        let mut k = base.clone();
        k.extend(key(&[c.kind.as_str().as_bytes(), c.id.as_bytes()]));
        k
    });
    let (items, more) = match &filter.tenant_integration {
        None => id_page::<PipelineDocument>(store, &prefix, after, limit)?,
        Some(_) => {
            // The index holds `true`; each entry's document is read by its key.
            let (marks, more) = index_page(store, &prefix, after, limit)?;
            let mut docs = Vec::with_capacity(marks.len());
            for (index_key, kind, id) in marks {
                let doc = pipeline_document(store, tenant, kind, &id)?.ok_or_else(|| {
                    StoreError::Corrupt {
                        key: keys::display(&index_key),
                        message: format!("points to {kind} `{id}`, which does not exist"),
                    }
                })?;
                docs.push(doc);
            }
            (docs, more)
        }
    };
    let next = more
        .then(|| {
            items.last().map(|d| DocumentCursor {
                kind: d.kind,
                id: d.id.clone(),
            })
        })
        .flatten();
    Ok(Page { items, next })
}

/// A `pipeline-doc-by-ti` entry: its key, and the kind and id of its document.
type IndexMark = (Vec<u8>, DocumentKind, String);

/// [`id_page`] over the `pipeline-doc-by-ti` index: each key with its kind and id.
fn index_page(
    store: &SledStore,
    prefix: &[u8],
    after: Option<Vec<u8>>,
    limit: usize,
) -> Result<(Vec<IndexMark>, bool)> {
    range_page(store, prefix, after, limit, |k, _| {
        let segments = keys::segments(k).unwrap_or_default();
        let parsed = match segments.as_slice() {
            [.., kind, id] => std::str::from_utf8(kind)
                .ok()
                .and_then(DocumentKind::parse)
                .zip(String::from_utf8(id.clone()).ok()),
            _ => None,
        };
        let (kind, id) = parsed.ok_or_else(|| StoreError::Corrupt {
            key: keys::display(k),
            message: "not a document index key".into(),
        })?;
        Ok((k.to_vec(), kind, id))
    })
}

pub(super) fn replace_pipeline_document(
    store: &SledStore,
    doc: &PipelineDocument,
    expected_version: u64,
    audit: Option<&AuditEntry>,
) -> Result<PipelineDocument> {
    doc.check().map_err(invalid)?;
    let tenant = doc.tenant_id.as_str();
    check_audit_of(tenant, audit)?;
    store.identity_commit(|w| {
        let k = doc_key(tenant, doc.kind, &doc.id);
        let name = || doc_name(tenant, doc.kind, &doc.id);
        let Some(old) = w.get_json::<PipelineDocument>(&k)? else {
            return Err(StoreError::NotFound(name()));
        };
        if old.version != expected_version {
            return Err(stale(name(), expected_version, old.version));
        }
        if old.tenant_integration_id != doc.tenant_integration_id {
            return Err(invalid(format!(
                "{} belongs to tenant integration `{}`, not `{}`: a document does not move",
                name(),
                old.tenant_integration_id,
                doc.tenant_integration_id
            )));
        }
        let stored = PipelineDocument {
            version: old.version.saturating_add(1),
            created_by: old.created_by,
            created_at: old.created_at,
            ..doc.clone()
        };
        w.put_json(k, &stored)?;
        put_audit_opt(w, audit)?;
        Ok(stored)
    })
}

pub(super) fn delete_pipeline_document(
    store: &SledStore,
    tenant: &str,
    kind: DocumentKind,
    id: &str,
    expected_version: u64,
    audit: Option<&AuditEntry>,
) -> Result<()> {
    check_audit_of(tenant, audit)?;
    store.identity_commit(|w| {
        let k = doc_key(tenant, kind, id);
        let Some(old) = w.get_json::<PipelineDocument>(&k)? else {
            return Err(StoreError::NotFound(doc_name(tenant, kind, id)));
        };
        if old.version != expected_version {
            return Err(stale(
                doc_name(tenant, kind, id),
                expected_version,
                old.version,
            ));
        }
        w.remove(k);
        w.remove(doc_index_key(tenant, &old.tenant_integration_id, kind, id));
        put_audit_opt(w, audit)
    })
}

pub(super) fn all_pipeline_documents(store: &SledStore) -> Result<Vec<PipelineDocument>> {
    let mut out = Vec::new();
    for tenant in super::identity::tenant_records(store)? {
        out.extend(
            store.scan::<PipelineDocument>(
                &store.state,
                &key(&[tenant.id.as_bytes(), PIPELINE_DOC]),
            )?,
        );
    }
    Ok(out)
}

pub(super) fn append_audit(store: &SledStore, entry: &AuditEntry) -> Result<()> {
    entry.check().map_err(invalid)?;
    store.identity_commit(|w| put_audit(w, entry))
}

pub(super) fn audit_entries(
    store: &SledStore,
    filter: &AuditFilter,
    page: &PageRequest<AuditCursor>,
) -> Result<Page<AuditEntry, AuditCursor>> {
    let (prefix, across) = match &filter.scope {
        AuditScope::All => (key(&[SYSTEM, AUDIT_ALL]), true),
        AuditScope::Global => (key(&[SYSTEM, AUDIT]), false),
        AuditScope::Tenant(t) if t.is_empty() => {
            return Err(invalid("the audit log of the empty tenant".into()))
        }
        AuditScope::Tenant(t) => (key(&[t.as_bytes(), AUDIT]), false),
    };
    // Newest first: backwards from the cursor's key (exclusive) or the end, down to the
    // `since` time (inclusive) or the start. Keys end in AT/ID, as the cursor does.
    let lower = match filter.since {
        Some(since) => {
            let mut k = prefix.clone();
            k.extend(key(&[&keys::sortable_micros(since.timestamp_micros())]));
            k
        }
        None => prefix.clone(),
    };
    let upper = match &page.after {
        Some(c) => {
            let mut k = prefix.clone();
            k.extend(key(&[&keys::sortable_micros(c.at_micros), c.id.as_bytes()]));
            k
        }
        None => keys::prefix_end(&prefix),
    };
    if lower >= upper {
        return Ok(Page {
            items: Vec::new(),
            next: None,
        });
    }
    let limit = page.limit.get();
    let mut items: Vec<AuditEntry> = Vec::with_capacity(limit);
    let mut skipped = 0;
    let mut last_visited: Option<AuditCursor> = None;
    for item in store.state.range(lower..upper).rev() {
        let (k, v) = item.map_err(backend)?;
        if items.len() == limit {
            return Ok(Page {
                next: items.last().map(AuditCursor::at),
                items,
            });
        }
        if skipped == AUDIT_SKIP_BUDGET {
            // Stop where the scan is; the next page goes on from there.
            return Ok(Page {
                items,
                next: last_visited,
            });
        }
        let position = audit_position(&k)?;
        let entry: AuditEntry = if across {
            let tenant: Option<String> = decode(&k, &v)?;
            let (at, id) = (&position.0, &position.1);
            let entry_key = audit_key(scope_bytes(tenant.as_deref()), *at, id);
            store
                .get_json(&entry_key)?
                .ok_or_else(|| StoreError::Corrupt {
                    key: keys::display(&k),
                    message: format!("points to audit entry `{id}`, which does not exist"),
                })?
        } else {
            decode(&k, &v)?
        };
        last_visited = Some(AuditCursor::at(&entry));
        let wanted = filter
            .action_prefix
            .as_deref()
            .is_none_or(|p| entry.action.starts_with(p));
        if wanted {
            items.push(entry);
        } else {
            skipped += 1;
        }
    }
    Ok(Page { items, next: None })
}

/// The time (as stored) and id an audit key ends in.
fn audit_position(k: &[u8]) -> Result<([u8; 8], String)> {
    let segments = keys::segments(k).unwrap_or_default();
    let parsed = match segments.as_slice() {
        [.., at, id] => <[u8; 8]>::try_from(at.as_slice())
            .ok()
            .zip(String::from_utf8(id.clone()).ok()),
        _ => None,
    };
    parsed.ok_or_else(|| StoreError::Corrupt {
        key: keys::display(k),
        message: "not an audit key (TIME/ID)".into(),
    })
}

pub(super) fn prune_audit(
    store: &SledStore,
    retention: &AuditRetention,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<u64> {
    let cutoff = retention
        .cutoff(now)
        .map(|c| keys::sortable_micros(c.timestamp_micros()));
    let keep = u64::from(retention.per_scope.get());
    store.identity_commit(|w| {
        let mut removed = 0usize;
        let counts: Vec<(Vec<u8>, u64)> = store
            .state
            .scan_prefix(key(&[SYSTEM, AUDIT_COUNT]))
            .map(|item| {
                let (k, v) = item.map_err(backend)?;
                Ok((k.to_vec(), decode(&k, &v)?))
            })
            .collect::<Result<_>>()?;
        for (count_key, count) in counts {
            if removed >= limit {
                break;
            }
            let scope = keys::segments(&count_key)
                .and_then(|mut s| s.pop())
                .ok_or_else(|| StoreError::Corrupt {
                    key: keys::display(&count_key),
                    message: "not an audit count key".into(),
                })?;
            let mut left = count;
            // Oldest first: an entry goes while it is past the cutoff or the scope holds
            // more than it keeps; the first that is neither ends the scope's walk.
            for item in store.state.scan_prefix(key(&[&scope, AUDIT])) {
                if removed >= limit {
                    break;
                }
                let (k, _) = item.map_err(backend)?;
                let (at, id) = audit_position(&k)?;
                let expired = cutoff.is_some_and(|c| at < c);
                if !expired && left <= keep {
                    break;
                }
                w.remove(k.to_vec());
                w.remove(audit_all_key(at, &id));
                left = left.saturating_sub(1);
                removed += 1;
            }
            if left != count {
                w.put_json(count_key, &left)?;
            }
        }
        Ok(removed as u64)
    })
}
