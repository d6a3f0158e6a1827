//! Applying one page: map each record, decide create / update / skip against the store,
//! resolve relationships (or keep them pending), and collect every write in one
//! [`Batch`] that the caller commits together with the checkpoint.
//!
//! Reads go through an overlay of this page's own writes first, so two records of one
//! page that touch the same shard (or one that references another arriving later in the
//! page) see each other before anything is committed.
//!
//! Other writers (webhook deliveries, other tasks) may commit between this page's reads
//! and its commit. Every shard write therefore carries what the page read
//! ([`Expect`]), and [`commit_page`] applies the page again against the fresh store
//! when the commit reports a conflict, so two writers never create two shards for one
//! external id or dedupe key and never overwrite each other's update.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::compile::ir::{DedupeStrategy, Schema};
use crate::connectors::InvalidRecord;
use crate::runtime::{self, Outcome, Reference};
use crate::store::{
    Batch, DeadLetter, ExecutionResults, Expect, ExternalRelationship, ExternalSyncStatus, Op,
    PendingReference, Shard, SourceKey, Store, StoreError, SyncError,
};

use super::lookup::StoreLookup;
use super::EngineError;

/// How many times [`commit_page`] applies a page that keeps conflicting with other
/// writers before it gives up. Each conflict means another writer committed a change to
/// a shard this page touches, so the bound is reached only under sustained contention
/// on the same shards.
pub const MAX_ATTEMPTS: u32 = 8;

/// What a page is applied with.
pub struct PageContext<'a> {
    pub store: &'a dyn Store,
    pub tenant: &'a str,
    pub schema: &'a Schema,
    /// The integration the records come from (the connection's).
    pub integration: &'a str,
    pub task_id: &'a str,
    /// The task's config as written (`TaskConfig::values`): what `{{task.KEY}}` and a
    /// `custom` script's `task` read.
    pub task_config: &'a Map<String, Value>,
    pub execution_id: &'a str,
    /// Set during a full sync of a schema that deletes removed records: every shard
    /// seen is marked with it.
    pub sweep_mark: Option<&'a str>,
    pub now: DateTime<Utc>,
}

/// The result of applying a page.
#[derive(Debug, Default)]
pub struct PageOutcome {
    pub batch: Batch,
    /// This page's counts (`fetched = created + updated + skipped + failed`; `deleted`:
    /// shards deleted because the source reported their record deleted).
    pub results: ExecutionResults,
    /// One per failed record (the execution keeps the first ones).
    pub errors: Vec<SyncError>,
    /// References left pending, and pending ones resolved, by this page.
    pub pending_added: u64,
    pub pending_resolved: u64,
    /// The next dead-letter sequence number.
    pub next_seq: u64,
    /// What became of each of `records`, in order: a caller that applies several webhook
    /// deliveries as one page splits the counts back per delivery.
    pub per_record: Vec<RecordOutcome>,
}

/// What became of one record of a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordOutcome {
    Created,
    Updated,
    Skipped,
    Failed,
}

/// A shard written by this page, with the keys that index it.
#[derive(Clone)]
struct Written {
    shard: Shard,
    /// The source this page knows the shard by (for the overlay's lookups).
    source: SourceKey,
    /// Whether the write (re)indexes the shard under `source` and `dedupe_key`; a write
    /// that only fills in a resolved reference leaves its stored index entries alone.
    indexed: bool,
    dedupe_key: Option<(String, String)>,
    /// What the store held when this page read the shard and its keys.
    expect: Expect,
}

/// This page's writes, consulted before the store.
#[derive(Default)]
struct Overlay {
    /// By shard id, in first-write order (`order`), so the batch is deterministic.
    written: HashMap<String, Written>,
    order: Vec<String>,
    by_type: HashMap<(String, String), String>,
    by_source: HashMap<(String, String), String>,
    by_dedupe: HashMap<(String, String), String>,
    pending: Vec<PendingReference>,
}

impl Overlay {
    fn write(&mut self, w: Written) {
        let id = w.shard.id.clone();
        self.by_type.insert(
            (w.source.shard_type.clone(), w.source.external_id.clone()),
            id.clone(),
        );
        self.by_source.insert(
            (w.source.external_type.clone(), w.source.external_id.clone()),
            id.clone(),
        );
        if let Some(k) = &w.dedupe_key {
            self.by_dedupe.insert(k.clone(), id.clone());
        }
        if self.written.insert(id.clone(), w).is_none() {
            self.order.push(id);
        }
    }
}

/// Maps and applies `records`, the source's `deleted` ids, and the `invalid` records the
/// connector could not read (dead-lettered as `invalid_record`).
pub fn apply_page(
    ctx: &PageContext<'_>,
    records: &[Value],
    deleted: &[String],
    invalid: &[InvalidRecord],
    seq: u64,
) -> Result<PageOutcome, StoreError> {
    let mut out = PageOutcome {
        batch: Batch::new(ctx.tenant),
        next_seq: seq,
        ..PageOutcome::default()
    };
    for bad in invalid {
        out.results.fetched += 1;
        out.results.failed += 1;
        out.errors.push(SyncError {
            timestamp: ctx.now,
            phase: "fetching".into(),
            record_id: None,
            external_id: None,
            error: format!("invalid_record: {}", bad.message),
            details: None,
            recoverable: false,
        });
        out.batch.push(Op::PutDeadLetter(DeadLetter {
            tenant_id: ctx.tenant.to_string(),
            task_id: ctx.task_id.to_string(),
            execution_id: ctx.execution_id.to_string(),
            seq: out.next_seq,
            record: serde_json::from_str(&bad.raw)
                .unwrap_or_else(|_| Value::String(bad.raw.clone())),
            external_id: None,
            code: crate::runtime::ErrorCode::InvalidRecord
                .as_str()
                .to_string(),
            field: None,
            message: bad.message.clone(),
            created_at: ctx.now,
        }));
        out.next_seq += 1;
    }
    let mut overlay = Overlay::default();
    let lookup = StoreLookup {
        store: ctx.store,
        tenant: ctx.tenant,
        default_integration: ctx.integration,
    };
    let rctx = runtime::Context {
        task: ctx.task_config,
        shards: &lookup,
        explain: false,
    };
    let target = &ctx.schema.target;
    // Whether references already wait for shards of this type (one read per page, not
    // one per record). One that another writer stores later is caught at commit: the
    // store refuses a batch that stores a shard while references still wait for it, and
    // the page is applied again.
    let stored_waiting = ctx
        .store
        .pending_any(ctx.tenant, ctx.integration, &target.shard_type)?;

    let mut before = out.results;
    for record in records {
        note_outcome(&mut out, &mut before);
        out.results.fetched += 1;
        let mapped = match runtime::map_record(ctx.schema, record, &rctx) {
            Outcome::Mapped(m) => m,
            Outcome::Skipped(_) => {
                out.results.skipped += 1;
                continue;
            }
            Outcome::Failed(err) => {
                out.results.failed += 1;
                let external_id = external_id_of(ctx.schema, record);
                out.errors.push(SyncError {
                    timestamp: ctx.now,
                    phase: "transforming".into(),
                    record_id: None,
                    external_id: external_id.clone(),
                    error: err.to_string(),
                    details: Some(
                        serde_json::json!({ "code": err.code.as_str(), "field": err.field }),
                    ),
                    recoverable: true,
                });
                out.batch.push(Op::PutDeadLetter(DeadLetter {
                    tenant_id: ctx.tenant.to_string(),
                    task_id: ctx.task_id.to_string(),
                    execution_id: ctx.execution_id.to_string(),
                    seq: out.next_seq,
                    record: record.clone(),
                    external_id,
                    code: err.code.as_str().to_string(),
                    field: err.field.clone(),
                    message: err.message.clone(),
                    created_at: ctx.now,
                }));
                out.next_seq += 1;
                continue;
            }
        };

        let source = SourceKey {
            integration: ctx.integration.to_string(),
            external_type: ctx.schema.entity.clone(),
            shard_type: target.shard_type.clone(),
            external_id: mapped.external_id.clone(),
        };
        let dedupe_key = match ctx.schema.dedupe.strategy {
            DedupeStrategy::ExternalId => None,
            DedupeStrategy::FieldMatch | DedupeStrategy::Composite => {
                Some((target.shard_type.clone(), mapped.external_id.clone()))
            }
        };
        if let Some(shard_id) = unchanged(ctx, &overlay, &source, dedupe_key.as_ref(), &mapped)? {
            out.results.skipped += 1;
            if let Some(mark) = ctx.sweep_mark {
                out.batch.push(Op::Mark {
                    integration: source.integration.clone(),
                    external_type: source.external_type.clone(),
                    shard_id: shard_id.clone(),
                    mark: mark.to_string(),
                });
            }
            out.pending_resolved += resolve_waiting(
                ctx,
                stored_waiting,
                &mut overlay,
                &mut out.batch,
                &source.shard_type,
                &source.external_id,
                &shard_id,
            )?;
            continue;
        }
        let (existing, expect) = find_existing(ctx, &overlay, &source, dedupe_key.as_ref())?;

        // The new content: the mapped fields over whatever the shard already holds (other
        // sources may have written other fields), with resolved relationship fields.
        let mut data = existing
            .as_ref()
            .map(|s| s.structured_data.clone())
            .unwrap_or_default();
        for (k, v) in &mapped.structured_data {
            data.insert(k.clone(), v.clone());
        }
        let mut pending = Vec::new();
        for r in &mapped.relationships {
            match resolve_reference(ctx, &overlay, r)? {
                Some(id) => {
                    data.insert(r.target_field.clone(), Value::String(id));
                }
                None => pending.push(r),
            }
        }

        let (shard, changed) = match existing {
            None if !target.create_if_missing => {
                out.results.skipped += 1;
                continue;
            }
            None => {
                out.results.created += 1;
                let shard = Shard {
                    // Time-ordered ids: new shards append to the store's B-tree instead of
                    // landing on random pages, which keeps a large initial sync fast.
                    id: uuid::Uuid::now_v7().to_string(),
                    tenant_id: ctx.tenant.to_string(),
                    shard_type_id: target.shard_type.clone(),
                    structured_data: data,
                    external_relationships: vec![relationship(&source, ctx.now)],
                    created_at: ctx.now,
                    updated_at: ctx.now,
                    // Set when the batch is assembled (one more than the stored one).
                    version: 1,
                };
                (shard, true)
            }
            Some(mut shard) => {
                let knows_source = shard.external_relationships.iter().any(|e| {
                    e.integration_id == source.integration
                        && e.external_id == source.external_id
                        && e.external_type.as_deref() == Some(source.external_type.as_str())
                });
                if shard.structured_data == data && knows_source {
                    // Unchanged content writes nothing.
                    out.results.skipped += 1;
                    (shard, false)
                } else if !target.update_if_exists {
                    out.results.skipped += 1;
                    (shard, false)
                } else {
                    out.results.updated += 1;
                    shard.structured_data = data;
                    if !knows_source {
                        shard
                            .external_relationships
                            .push(relationship(&source, ctx.now));
                    }
                    for e in shard.external_relationships.iter_mut().filter(|e| {
                        e.integration_id == source.integration
                            && e.external_id == source.external_id
                    }) {
                        e.last_synced_at = ctx.now;
                        e.sync_status = ExternalSyncStatus::Synced;
                    }
                    shard.updated_at = ctx.now;
                    (shard, true)
                }
            }
        };

        if let Some(mark) = ctx.sweep_mark {
            out.batch.push(Op::Mark {
                integration: source.integration.clone(),
                external_type: source.external_type.clone(),
                shard_id: shard.id.clone(),
                mark: mark.to_string(),
            });
        }
        for r in pending {
            let p = PendingReference {
                tenant_id: ctx.tenant.to_string(),
                source_shard_id: shard.id.clone(),
                target_field: r.target_field.clone(),
                relationship_type: r.relationship_type.clone(),
                integration_id: ctx.integration.to_string(),
                shard_type_id: r.shard_type_id.clone(),
                external_id: r.external_id.clone(),
            };
            if !overlay.pending.contains(&p) {
                out.pending_added += 1;
                overlay.pending.push(p.clone());
                out.batch.push(Op::PutPending(p));
            }
        }
        let shard_id = shard.id.clone();
        // References wait under the key the shard is indexed by (the store refuses a
        // write that indexes it while references still wait there).
        let shard_type = source.shard_type.clone();
        if changed {
            overlay.write(Written {
                shard,
                source: source.clone(),
                indexed: true,
                dedupe_key,
                expect,
            });
        }
        // References waiting for this shard can now point at it.
        out.pending_resolved += resolve_waiting(
            ctx,
            stored_waiting,
            &mut overlay,
            &mut out.batch,
            &shard_type,
            &source.external_id,
            &shard_id,
        )?;
    }

    note_outcome(&mut out, &mut before);

    if ctx.schema.target.delete_if_removed {
        for external_id in deleted {
            // With the version the store holds (none: this page created it).
            let found = match overlay
                .by_source
                .get(&(ctx.schema.entity.clone(), external_id.clone()))
            {
                Some(id) => overlay
                    .written
                    .get(id)
                    .map(|w| (w.shard.clone(), w.expect.version)),
                None => ctx
                    .store
                    .shard_by_source(ctx.tenant, ctx.integration, &ctx.schema.entity, external_id)?
                    .map(|s| {
                        let v = s.version;
                        (s, Some(v))
                    }),
            };
            if let Some((shard, expect_version)) = found {
                let source = SourceKey {
                    integration: ctx.integration.to_string(),
                    external_type: ctx.schema.entity.clone(),
                    shard_type: shard.shard_type_id.clone(),
                    external_id: external_id.clone(),
                };
                overlay.written.remove(&shard.id);
                overlay.order.retain(|id| id != &shard.id);
                let dedupe_key = dedupe_key_of(ctx.schema, &shard, external_id);
                out.batch.push(Op::DeleteShard {
                    shard,
                    source: Some(source),
                    dedupe_key,
                    expect_version,
                });
                out.results.deleted += 1;
            }
        }
    }

    // One write per shard, in first-write order, ahead of the marks and pending entries
    // already in the batch (the batch is applied atomically, so order only matters for
    // readability of the log).
    let mut writes: Vec<Op> = Vec::with_capacity(overlay.order.len());
    for id in &overlay.order {
        if let Some(mut w) = overlay.written.remove(id) {
            // One version per commit, however many times the page changed the shard.
            w.shard.version = w.expect.version.map_or(1, |v| v.saturating_add(1));
            writes.push(Op::PutShard {
                shard: w.shard,
                source: w.indexed.then_some(w.source),
                dedupe_key: w.dedupe_key.filter(|_| w.indexed),
                expect: w.expect,
            });
        }
    }
    writes.append(&mut out.batch.ops);
    out.batch.ops = writes;
    Ok(out)
}

/// Notes the outcome of the record applied since `before` (the one counter that moved).
fn note_outcome(out: &mut PageOutcome, before: &mut ExecutionResults) {
    let r = out.results;
    if r.fetched == before.fetched {
        return;
    }
    out.per_record.push(if r.created > before.created {
        RecordOutcome::Created
    } else if r.updated > before.updated {
        RecordOutcome::Updated
    } else if r.failed > before.failed {
        RecordOutcome::Failed
    } else {
        RecordOutcome::Skipped
    });
    *before = r;
}

fn relationship(source: &SourceKey, now: DateTime<Utc>) -> ExternalRelationship {
    ExternalRelationship {
        integration_id: source.integration.clone(),
        external_id: source.external_id.clone(),
        external_type: Some(source.external_type.clone()),
        last_synced_at: now,
        sync_status: ExternalSyncStatus::Synced,
        metadata: None,
    }
}

/// The id of the stored shard `mapped` would leave as it is, told from its content
/// fingerprint without reading the shard ([`Store::shard_fingerprint`]); `None` sends
/// the record down the full path (find, merge, compare).
///
/// Taken only where the full path could not do better: the record is matched by
/// external id alone (no dedupe key), has no relationships to resolve, and this page
/// has not written its shard. Equal fingerprints then mean the stored content is
/// exactly the mapped fields, so merging them over it changes nothing, and the shard
/// already knows this source (its external id leads to it).
fn unchanged(
    ctx: &PageContext<'_>,
    overlay: &Overlay,
    source: &SourceKey,
    dedupe_key: Option<&(String, String)>,
    mapped: &runtime::Mapped,
) -> Result<Option<String>, StoreError> {
    if dedupe_key.is_some() || !mapped.relationships.is_empty() {
        return Ok(None);
    }
    let key = (source.external_type.clone(), source.external_id.clone());
    if overlay.by_source.contains_key(&key) {
        return Ok(None);
    }
    let Some(found) = ctx.store.shard_fingerprint(
        ctx.tenant,
        &source.integration,
        &source.external_type,
        &source.external_id,
    )?
    else {
        return Ok(None);
    };
    if overlay.written.contains_key(&found.shard_id)
        || found.content != crate::store::content_hash(&mapped.structured_data)
    {
        return Ok(None);
    }
    Ok(Some(found.shard_id))
}

/// The shard a record belongs to (this page's version first, then the store's), by
/// dedupe key, then by external id; with what the store holds under those keys, which
/// the commit checks is still so.
fn find_existing(
    ctx: &PageContext<'_>,
    overlay: &Overlay,
    source: &SourceKey,
    dedupe_key: Option<&(String, String)>,
) -> Result<(Option<Shard>, Expect), StoreError> {
    let stored_by_dedupe = match dedupe_key {
        Some(key) => ctx.store.shard_by_dedupe_key(ctx.tenant, &key.0, &key.1)?,
        None => None,
    };
    // The put re-indexes the external id too, so its owner is read even when the
    // dedupe key already found the shard.
    let stored_by_source = ctx.store.shard_by_source(
        ctx.tenant,
        &source.integration,
        &source.external_type,
        &source.external_id,
    )?;
    // A shard this page already wrote is taken as the page left it, with the version
    // the store had when the page first read it.
    let written = |id: &String| {
        overlay
            .written
            .get(id)
            .map(|w| (w.shard.clone(), w.expect.version))
    };
    let stored = |s: &Option<Shard>| {
        s.as_ref()
            .map(|s| written(&s.id).unwrap_or_else(|| (s.clone(), Some(s.version))))
    };
    let by_source_key = (source.external_type.clone(), source.external_id.clone());
    let found = dedupe_key
        .and_then(|k| overlay.by_dedupe.get(k))
        .and_then(written)
        .or_else(|| stored(&stored_by_dedupe))
        .or_else(|| overlay.by_source.get(&by_source_key).and_then(written))
        .or_else(|| stored(&stored_by_source));
    let (shard, version) = match found {
        Some((shard, v)) => (Some(shard), v),
        None => (None, None),
    };
    let expect = Expect {
        version,
        source_owner: stored_by_source.map(|s| s.id),
        dedupe_owner: stored_by_dedupe.map(|s| s.id),
    };
    Ok((shard, expect))
}

/// The local id a reference points at, when its target is here.
fn resolve_reference(
    ctx: &PageContext<'_>,
    overlay: &Overlay,
    r: &Reference,
) -> Result<Option<String>, StoreError> {
    if !r.by_external_id {
        // `by id(F)`: the source already holds the shard id.
        return Ok(Some(r.external_id.clone()));
    }
    if let Some(id) = overlay
        .by_type
        .get(&(r.shard_type_id.clone(), r.external_id.clone()))
    {
        return Ok(Some(id.clone()));
    }
    Ok(ctx
        .store
        .shard_by_type(
            ctx.tenant,
            ctx.integration,
            &r.shard_type_id,
            &r.external_id,
        )?
        .map(|s| s.id))
}

/// Points every reference waiting for `(shard_type, external_id)` at `shard_id`.
fn resolve_waiting(
    ctx: &PageContext<'_>,
    stored_waiting: bool,
    overlay: &mut Overlay,
    batch: &mut Batch,
    shard_type: &str,
    external_id: &str,
    shard_id: &str,
) -> Result<u64, StoreError> {
    // The store is asked only when the page began with references waiting for this
    // shard type; references this page added wait in the overlay.
    let mut waiting = if stored_waiting {
        ctx.store
            .pending_for(ctx.tenant, ctx.integration, shard_type, external_id)?
    } else {
        Vec::new()
    };
    let (here, rest): (Vec<_>, Vec<_>) = overlay
        .pending
        .drain(..)
        .partition(|p| p.shard_type_id == shard_type && p.external_id == external_id);
    overlay.pending = rest;
    for p in here {
        if !waiting.contains(&p) {
            waiting.push(p);
        }
    }
    let mut resolved = 0;
    for p in waiting {
        // The referring shard as this page last wrote it, else as stored. Filling in the
        // reference changes one field: the shard keeps the index entries it has (a write
        // this page already indexes stays indexed).
        let referring = match overlay.written.get(&p.source_shard_id) {
            Some(w) => Some(w.clone()),
            None => ctx
                .store
                .shard(ctx.tenant, &p.source_shard_id)?
                .and_then(|s| {
                    let source = source_key_of(&s, ctx.integration)?;
                    let expect = Expect {
                        version: Some(s.version),
                        ..Expect::default()
                    };
                    Some(Written {
                        shard: s,
                        source,
                        indexed: false,
                        dedupe_key: None,
                        expect,
                    })
                }),
        };
        batch.push(Op::RemovePending(p.clone()));
        // A source shard deleted meanwhile has nothing left to point.
        let Some(mut w) = referring else {
            continue;
        };
        let target = Value::String(shard_id.to_string());
        if w.shard.structured_data.get(&p.target_field) != Some(&target) {
            w.shard
                .structured_data
                .insert(p.target_field.clone(), target);
            w.shard.updated_at = ctx.now;
            overlay.write(w);
        }
        resolved += 1;
    }
    Ok(resolved)
}

/// The index key of a stored shard for `integration` (its first matching external
/// relationship).
fn source_key_of(shard: &Shard, integration: &str) -> Option<SourceKey> {
    let e = shard
        .external_relationships
        .iter()
        .find(|e| e.integration_id == integration)?;
    Some(SourceKey {
        integration: e.integration_id.clone(),
        external_type: e.external_type.clone().unwrap_or_default(),
        shard_type: shard.shard_type_id.clone(),
        external_id: e.external_id.clone(),
    })
}

fn dedupe_key_of(schema: &Schema, shard: &Shard, external_id: &str) -> Option<(String, String)> {
    match schema.dedupe.strategy {
        DedupeStrategy::ExternalId => None,
        DedupeStrategy::FieldMatch | DedupeStrategy::Composite => {
            Some((shard.shard_type_id.clone(), external_id.to_string()))
        }
    }
}

/// A page's input: what the connector read (or a webhook delivered).
pub struct PageInput<'a> {
    pub records: &'a [Value],
    /// External ids the source reports deleted.
    pub deleted: &'a [String],
    pub invalid: &'a [InvalidRecord],
    /// The first dead-letter sequence number of the page.
    pub seq: u64,
}

/// Applies a page ([`apply_page`]) and commits its batch together with what `finish`
/// adds to it (the caller's log lines, checkpoint, execution), in one atomic commit.
/// `finish` sees each attempt's outcome and returns what the caller keeps of it.
///
/// When the commit reports a conflict (another writer committed a change to a shard or
/// key this page read, after it read it), nothing was stored: the page is applied again
/// against the fresh store, up to [`MAX_ATTEMPTS`] times, then
/// [`EngineError::Contended`]. Blocks on the store: async callers run it on a blocking
/// thread.
pub fn commit_page<T>(
    ctx: &PageContext<'_>,
    input: &PageInput<'_>,
    mut finish: impl FnMut(&mut PageOutcome) -> T,
) -> Result<(PageOutcome, T), EngineError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut outcome = apply_page(ctx, input.records, input.deleted, input.invalid, input.seq)?;
        let kept = finish(&mut outcome);
        let batch = std::mem::take(&mut outcome.batch);
        match ctx.store.commit(batch) {
            Ok(()) => return Ok((outcome, kept)),
            Err(StoreError::Conflict(conflict)) if attempt < MAX_ATTEMPTS => {
                tracing::debug!(task = ctx.task_id, attempt, %conflict, "page conflicted with another writer; applying it again");
            }
            Err(StoreError::Conflict(last)) => {
                return Err(EngineError::Contended {
                    attempts: attempt,
                    last,
                })
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The record's external id for error reports, when the dedupe fields are readable.
fn external_id_of(schema: &Schema, record: &Value) -> Option<String> {
    let parts: Vec<String> = schema
        .dedupe
        .fields
        .iter()
        .map(|p| match p.get(record) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    Some(parts.join("|"))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::store::{SledStore, Store};

    fn schema() -> Arc<Schema> {
        let src = "schema people {\n source salesforce.Contact\n target c_contact { create_if_missing, update_if_exists, delete_if_removed }\n dedupe external_id(Id)\n name = LastName\n}\n";
        let mut sources = crate::syntax::SourceMap::default();
        let id = sources.add("p.cmap".into(), src.into());
        let (doc, _) = crate::syntax::parse(id, sources.get(id));
        let program = crate::compile::compile(&[doc], &crate::compile::Options::default())
            .program
            .expect("compiles");
        program.schema("people").expect("schema").clone()
    }

    fn apply(
        store: &SledStore,
        schema: &Schema,
        records: &[Value],
        deleted: &[&str],
    ) -> PageOutcome {
        let config = Map::new();
        let ctx = PageContext {
            store,
            tenant: "default",
            schema,
            integration: "salesforce",
            task_id: "t",
            task_config: &config,
            execution_id: "e",
            sweep_mark: None,
            now: Utc::now(),
        };
        let deleted: Vec<String> = deleted.iter().map(|s| s.to_string()).collect();
        let mut outcome = apply_page(&ctx, records, &deleted, &[], 0).expect("applied");
        store
            .commit(std::mem::take(&mut outcome.batch))
            .expect("committed");
        outcome
    }

    /// The fingerprint shortcut ([`unchanged`]) answers "unchanged" only when the stored
    /// content is exactly the mapped fields; every other case goes the full way.
    #[test]
    fn unchanged_records_are_told_by_fingerprint_and_nothing_else_is() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let schema = schema();
        let first = apply(
            &store,
            &schema,
            &[json!({"Id": "p1", "LastName": "A"})],
            &[],
        );
        assert_eq!(first.results.created, 1);
        let stored = store
            .shard_by_source("default", "salesforce", "Contact", "p1")
            .unwrap()
            .expect("stored");

        let config = Map::new();
        let ctx = PageContext {
            store: &store,
            tenant: "default",
            schema: &schema,
            integration: "salesforce",
            task_id: "t",
            task_config: &config,
            execution_id: "e",
            sweep_mark: None,
            now: Utc::now(),
        };
        let source = |id: &str| SourceKey {
            integration: "salesforce".into(),
            external_type: "Contact".into(),
            shard_type: "c_contact".into(),
            external_id: id.into(),
        };
        let mapped = |id: &str, data: Value| runtime::Mapped {
            shard_type_id: "c_contact".into(),
            external_id: id.into(),
            structured_data: data.as_object().cloned().unwrap_or_default(),
            relationships: Vec::new(),
            explain: None,
        };
        let same = mapped("p1", json!({"name": "A"}));
        let none = Overlay::default();
        assert_eq!(
            unchanged(&ctx, &none, &source("p1"), None, &same).unwrap(),
            Some(stored.id.clone())
        );
        // A changed, added or missing field; another external id; a dedupe key; a shard
        // this page already wrote: each takes the full path.
        for other in [
            json!({"name": "B"}),
            json!({"name": "A", "x": 1}),
            json!({}),
        ] {
            let m = mapped("p1", other);
            assert_eq!(
                unchanged(&ctx, &none, &source("p1"), None, &m).unwrap(),
                None
            );
        }
        assert_eq!(
            unchanged(
                &ctx,
                &none,
                &source("p2"),
                None,
                &mapped("p2", json!({"name": "A"}))
            )
            .unwrap(),
            None
        );
        let key = ("c_contact".to_string(), "p1".to_string());
        assert_eq!(
            unchanged(&ctx, &none, &source("p1"), Some(&key), &same).unwrap(),
            None
        );
        let mut written = Overlay::default();
        written.write(Written {
            shard: stored.clone(),
            source: source("p1"),
            indexed: true,
            dedupe_key: None,
            expect: Expect::default(),
        });
        assert_eq!(
            unchanged(&ctx, &written, &source("p1"), None, &same).unwrap(),
            None
        );

        // After another writer changes the shard, the fingerprint follows it.
        let mut changed = stored.clone();
        changed.structured_data.insert("name".into(), json!("Z"));
        let mut batch = Batch::new("default");
        batch.push(Op::PutShard {
            shard: Shard {
                version: stored.version + 1,
                ..changed
            },
            source: None,
            dedupe_key: None,
            expect: Expect {
                version: Some(stored.version),
                ..Expect::default()
            },
        });
        store.commit(batch).unwrap();
        assert_eq!(
            unchanged(&ctx, &none, &source("p1"), None, &same).unwrap(),
            None
        );
        let again = apply(
            &store,
            &schema,
            &[json!({"Id": "p1", "LastName": "A"})],
            &[],
        );
        assert_eq!(again.results.updated, 1, "the full path writes it back");
        assert_eq!(
            unchanged(&ctx, &none, &source("p1"), None, &same).unwrap(),
            Some(stored.id)
        );
    }

    #[test]
    fn source_reported_deletes_are_counted_apart_from_records() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let schema = schema();
        let people = [
            json!({"Id": "p1", "LastName": "A"}),
            json!({"Id": "p2", "LastName": "B"}),
        ];
        let first = apply(&store, &schema, &people, &[]);
        assert_eq!(first.results.created, 2);

        // p1 deleted at the source, and an id the store never had: one shard deleted.
        let second = apply(&store, &schema, &[], &["p1", "p-unknown"]);
        assert_eq!(
            second.results,
            ExecutionResults {
                deleted: 1,
                ..ExecutionResults::default()
            }
        );
        assert!(store
            .shard_by_source("default", "salesforce", "Contact", "p1")
            .unwrap()
            .is_none());

        // A record created and deleted by the same page: counted both ways, nothing stays.
        let third = apply(
            &store,
            &schema,
            &[json!({"Id": "p3", "LastName": "C"})],
            &["p3"],
        );
        assert_eq!((third.results.created, third.results.deleted), (1, 1));
        assert_eq!(store.shards("default", None).count(), 1);
    }
}
