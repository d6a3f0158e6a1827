//! Loading a version of the pipelines for the server: the workspace loader
//! ([`crate::workspace`], the one `cmap check` uses) reads, parses and compiles them
//! with the standard library; this module adds what the server keeps on top, the
//! content hash and status of each file. A version that does not check is refused with
//! its errors rendered as `cmap check` renders them.
//!
//! Schemas and tasks stored through the API ([`PipelineDocument`]) load with the files:
//! each is one more source, at a virtual path ([`document_path`]) and owned by its
//! tenant, exactly as if it were a file of that tenant's folder (`tenants/ID/`). So they
//! are checked, compiled, scheduled and served by the same rules, and a version in
//! which one fails is refused like one in which a file fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::state::FileStatus;
use crate::compile::ir::Program;
use crate::compile::Owner;
use crate::diagnostics::{render, Diagnostic};
use crate::store::{DocumentKind, PipelineDocument, Store};
use crate::workspace::Extra;

/// The prefix of every stored document's virtual path: no file path starts with it.
pub const DOCUMENT_PREFIX: &str = "api:";

/// The virtual path of a tenant's stored document, e.g.
/// `api:tenants/acme/schemas/people.cmap` (`ext`: `cmap`, or `json` for a seed-JSON
/// body being checked). It appears in diagnostics and in `GET /api/pipelines`.
pub fn document_path(tenant: &str, kind: DocumentKind, id: &str, ext: &str) -> PathBuf {
    PathBuf::from(format!(
        "{DOCUMENT_PREFIX}tenants/{tenant}/{}s/{id}.{ext}",
        kind.as_str()
    ))
}

/// Whether `path` is a stored document's ([`document_path`]) rather than a file's.
pub fn is_document_path(path: &Path) -> bool {
    path.to_str()
        .is_some_and(|p| p.starts_with(DOCUMENT_PREFIX))
}

/// A stored document as a source of the workspace: its tenant's.
pub fn document_source(doc: &PipelineDocument) -> Extra {
    Extra {
        path: document_path(&doc.tenant_id, doc.kind, &doc.id, "cmap"),
        text: doc.text.clone(),
        owner: Owner::Tenant(doc.tenant_id.clone()),
    }
}

/// A version that checks.
pub struct Version {
    pub program: Program,
    pub files: BTreeMap<PathBuf, FileStatus>,
}

/// A version that does not check.
#[derive(Debug)]
pub struct Refused {
    /// The diagnostics, rendered without colours.
    pub rendered: String,
    /// The files with an error.
    pub failing: Vec<PathBuf>,
    /// Every file read, with its content hash.
    pub hashes: BTreeMap<PathBuf, String>,
}

/// Reads, hashes, parses and compiles `pipelines` (and `stdlib`, the directory when
/// given, else the embedded copy). Blocking: call it off the async runtime.
pub fn load(
    pipelines: &Path,
    stdlib: Option<&Path>,
    now: DateTime<Utc>,
) -> Result<Version, Refused> {
    load_with(pipelines, stdlib, &[], now)
}

/// [`load_with`] with every document `store` holds: what the server loads, at start
/// and on every reload. A store that cannot be read refuses the version (the one
/// serving keeps serving).
pub fn load_stored(
    pipelines: &Path,
    stdlib: Option<&Path>,
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Result<Version, Refused> {
    let documents = store.all_pipeline_documents().map_err(|e| Refused {
        rendered: format!(
            "error: cannot read the schemas and tasks stored through the API: {e}\n  help: check the data directory; the server log has the details\n"
        ),
        failing: Vec::new(),
        hashes: BTreeMap::new(),
    })?;
    let connections = tenant_connection_sources(store, stdlib).map_err(|e| Refused {
        rendered: format!(
            "error: cannot read the tenants' integrations: {e}\n  help: check the data directory; the server log has the details\n"
        ),
        failing: Vec::new(),
        hashes: BTreeMap::new(),
    })?;
    load_sources(pipelines, stdlib, &documents, connections, now)
}

/// `sources` without those that do not check with the standard library alone, each
/// dropped one logged with its first error. One compile for all: each source is a
/// connection of its own id, so one's errors are its own.
fn checked_alone(sources: Vec<Extra>, stdlib: Option<&Path>) -> Vec<Extra> {
    let Ok(checked) =
        crate::workspace::read_with(&[], stdlib, sources.clone()).map(crate::workspace::check_read)
    else {
        return sources;
    };
    let files = &checked.workspace.sources;
    let mut failing: BTreeMap<PathBuf, String> = BTreeMap::new();
    for d in checked.diagnostics.iter().filter(|d| d.is_error()) {
        let path = files.get(d.span.file).path.clone();
        failing
            .entry(path)
            .or_insert_with(|| format!("{}: {}", d.code.as_str(), d.message));
    }
    sources
        .into_iter()
        .filter(|s| match failing.get(&s.path) {
            None => true,
            Some(problem) => {
                tracing::warn!(
                    connection = %s.path.display(),
                    %problem,
                    "a tenant integration has no connection: its settings do not check"
                );
                false
            }
        })
        .collect()
}

/// The connection of every tenant integration that has one
/// ([`crate::engine::tenant_connection`]), each a seed-JSON source of its tenant at
/// `api:tenants/T/connections/ID.json`: a tenant's task that names no connection reads
/// through its integration's. The definitions are the catalogue's (the standard library
/// with the super admin's entries).
pub fn tenant_connection_sources(
    store: &dyn Store,
    stdlib: Option<&Path>,
) -> Result<Vec<Extra>, crate::store::StoreError> {
    use crate::engine::catalogue::{Catalogue, DefinitionChecker};
    use crate::engine::tenant_connection::{connection_id, connection_seed};
    use crate::store::identity::Role;
    use crate::store::{Limit, PageRequest};
    let mut sources = Vec::new();
    let tenants = store.tenant_records()?;
    if tenants.is_empty() {
        return Ok(sources);
    }
    // The standard library alone: where the shipped definitions come from.
    let Some(shipped) = crate::workspace::check(&[], stdlib)
        .ok()
        .and_then(|checked| checked.program)
    else {
        return Ok(sources);
    };
    let catalogue = Catalogue::build(&shipped, store, DefinitionChecker::embedded())?;
    for tenant in tenants {
        let mut request = PageRequest {
            limit: Limit::MAX,
            after: None,
        };
        loop {
            let page = store.tenant_integrations(&tenant.id, &request)?;
            for ti in &page.items {
                let Some(def) = catalogue.get(&ti.integration_id, Role::SuperAdmin) else {
                    continue;
                };
                let Some(seed) = connection_seed(ti, def) else {
                    continue;
                };
                let source = Extra {
                    path: PathBuf::from(format!(
                        "{DOCUMENT_PREFIX}tenants/{}/connections/{}.json",
                        tenant.id,
                        connection_id(&tenant.id, &ti.integration_id)
                    )),
                    text: serde_json::to_string_pretty(&seed).unwrap_or_default(),
                    owner: Owner::Tenant(tenant.id.clone()),
                };
                sources.push(source);
            }
            match page.next {
                Some(next) => request.after = Some(next),
                None => break,
            }
        }
    }
    // Checked with the standard library first: a tenant integration whose settings do
    // not (or no longer) make a connection its connector accepts (`rest` without a
    // `baseUrl`) gets none, and is said once per load; it never keeps the other
    // tenants' pipelines from loading.
    Ok(checked_alone(sources, stdlib))
}

/// [`load`], with `documents` (stored through the API) compiled as sources of their
/// tenants ([`document_source`]).
pub fn load_with(
    pipelines: &Path,
    stdlib: Option<&Path>,
    documents: &[PipelineDocument],
    now: DateTime<Utc>,
) -> Result<Version, Refused> {
    load_sources(pipelines, stdlib, documents, Vec::new(), now)
}

/// [`load_with`], with more sources (the tenant integrations' connections).
fn load_sources(
    pipelines: &Path,
    stdlib: Option<&Path>,
    documents: &[PipelineDocument],
    more: Vec<Extra>,
    now: DateTime<Utc>,
) -> Result<Version, Refused> {
    let mut extra: Vec<Extra> = documents.iter().map(document_source).collect();
    extra.extend(more);
    let checked = crate::workspace::read_with(&[pipelines.to_path_buf()], stdlib, extra)
        .map(crate::workspace::check_read)
        .map_err(|e| Refused {
            rendered: format!("error: {e}\n  help: {}\n", e.help),
            failing: Vec::new(),
            hashes: BTreeMap::new(),
        })?;
    let hashes = checked.workspace.content_hashes;
    let errors: Vec<Diagnostic> = checked
        .diagnostics
        .into_iter()
        .filter(Diagnostic::is_error)
        .collect();
    match checked.program {
        Some(program) if errors.is_empty() => Ok(Version {
            program,
            files: hashes
                .into_iter()
                .map(|(path, hash)| {
                    (
                        path.clone(),
                        FileStatus {
                            path,
                            hash,
                            loaded_at: now,
                            last_error: None,
                        },
                    )
                })
                .collect(),
        }),
        _ => {
            let sources = &checked.workspace.sources;
            let mut failing: Vec<PathBuf> = errors
                .iter()
                .map(|d| sources.get(d.span.file).path.clone())
                .collect();
            failing.sort();
            failing.dedup();
            let rendered = format!(
                "{}{}",
                render::human(&errors, sources, render::Style::Plain),
                render::summary(&errors)
            );
            Err(Refused {
                rendered,
                failing,
                hashes,
            })
        }
    }
}

/// The file statuses after a version loads: a file whose content did not change keeps
/// the time it was first loaded (`GET /api/pipelines` then says which files a reload
/// really changed); every error is cleared, since the whole version checks.
pub fn loaded(
    previous: &BTreeMap<PathBuf, FileStatus>,
    next: BTreeMap<PathBuf, FileStatus>,
) -> BTreeMap<PathBuf, FileStatus> {
    next.into_iter()
        .map(|(path, mut status)| {
            if let Some(old) = previous.get(&path).filter(|old| old.hash == status.hash) {
                status.loaded_at = old.loaded_at;
            }
            (path, status)
        })
        .collect()
}

/// Records a refused version on the statuses of the version still serving: each failing
/// file carries the diagnostics, and an error left by an earlier refused attempt on a
/// file that no longer fails is cleared (only the newest attempt's errors are true). A
/// failing file that is not loaded yet (new) is listed too, with the hash of the content
/// that failed, so its error can be seen.
pub fn refused(files: &mut BTreeMap<PathBuf, FileStatus>, refused: &Refused, now: DateTime<Utc>) {
    for status in files.values_mut() {
        status.last_error = None;
    }
    for path in &refused.failing {
        let status = files.entry(path.clone()).or_insert_with(|| FileStatus {
            path: path.clone(),
            hash: refused.hashes.get(path).cloned().unwrap_or_default(),
            loaded_at: now,
            last_error: None,
        });
        status.last_error = Some(refused.rendered.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn status(path: &str, hash: &str, at: i64, error: Option<&str>) -> (PathBuf, FileStatus) {
        let path = PathBuf::from(path);
        let status = FileStatus {
            path: path.clone(),
            hash: hash.into(),
            loaded_at: Utc.timestamp_opt(at, 0).single().unwrap_or_default(),
            last_error: error.map(str::to_string),
        };
        (path, status)
    }

    fn document(tenant: &str, kind: DocumentKind, id: &str, text: &str) -> PipelineDocument {
        PipelineDocument {
            tenant_id: tenant.into(),
            kind,
            id: id.into(),
            tenant_integration_id: "rest".into(),
            text: text.into(),
            version: 1,
            created_by: "u".into(),
            created_at: Utc::now(),
            updated_by: "u".into(),
            updated_at: Utc::now(),
        }
    }

    /// A stored document is a source of its tenant: it may use its tenant's connection
    /// and top-level schemas, not another tenant's connection; a failing one refuses the
    /// version and is named by its virtual path.
    #[test]
    fn stored_documents_compile_as_files_of_their_tenant() {
        let dir = tempfile::tempdir().expect("temp dir");
        let connection = |t: &str| {
            format!(
                "connection {t}-api {{\n  integration rest\n  auth none\n  settings {{ baseUrl: \"http://127.0.0.1:9\", path: \"/p\" }}\n}}\n"
            )
        };
        for t in ["acme", "globex"] {
            std::fs::create_dir_all(dir.path().join(format!("tenants/{t}"))).expect("mkdir");
            std::fs::write(
                dir.path().join(format!("tenants/{t}/c.cmap")),
                connection(t),
            )
            .expect("write");
        }
        std::fs::write(
            dir.path().join("shared.cmap"),
            "schema people {\n  source rest.people\n  target c_contact\n  dedupe external_id(id)\n  name = name\n}\n",
        )
        .expect("write");
        let good = document(
            "acme",
            DocumentKind::Task,
            "acme-sync",
            "task acme-sync { schema people  connection acme-api }\n",
        );
        let version = match load_with(dir.path(), None, std::slice::from_ref(&good), Utc::now()) {
            Ok(v) => v,
            Err(r) => panic!("{}", r.rendered),
        };
        let task = version.program.task("acme-sync").expect("compiled");
        assert_eq!(task.tenant, "acme");
        assert!(version
            .files
            .contains_key(&PathBuf::from("api:tenants/acme/tasks/acme-sync.cmap")));
        // Through globex's connection: refused, naming the document.
        let foreign = document(
            "acme",
            DocumentKind::Task,
            "acme-sync",
            "task acme-sync { schema people  connection globex-api }\n",
        );
        let refusal = match load_with(dir.path(), None, &[foreign], Utc::now()) {
            Ok(_) => panic!("another tenant's connection was usable"),
            Err(r) => r,
        };
        assert_eq!(
            refusal.failing,
            [PathBuf::from("api:tenants/acme/tasks/acme-sync.cmap")],
            "{}",
            refusal.rendered
        );
        // With no documents, exactly the files load.
        let files = match load(dir.path(), None, Utc::now()) {
            Ok(v) => v.files.into_keys().collect::<Vec<_>>(),
            Err(r) => panic!("{}", r.rendered),
        };
        assert!(files.iter().all(|p| !is_document_path(p)), "{files:?}");
        assert_eq!(files.len(), 3);
    }

    #[test]
    fn a_file_that_is_not_utf8_is_refused_as_check_refuses_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("bad.cmap"), b"schema x {\xff}").expect("write");
        let refusal = match load(dir.path(), None, Utc::now()) {
            Ok(_) => panic!("a non-UTF-8 file loaded"),
            Err(r) => r,
        };
        assert!(refusal.rendered.contains("E0006"), "{}", refusal.rendered);
        assert!(
            refusal.rendered.contains("offset 10"),
            "{}",
            refusal.rendered
        );
        assert_eq!(refusal.failing, [dir.path().join("bad.cmap")]);
    }

    #[test]
    fn an_unchanged_file_keeps_when_it_was_loaded_and_a_changed_one_gets_the_new_time() {
        let previous = BTreeMap::from([status("a", "h1", 10, None), status("b", "h2", 10, None)]);
        let next = BTreeMap::from([
            status("a", "h1", 20, None),
            status("b", "h3", 20, None),
            status("c", "h4", 20, None),
        ]);
        let merged = loaded(&previous, next);
        let at: Vec<(&str, i64)> = merged
            .iter()
            .map(|(p, s)| (p.to_str().unwrap_or_default(), s.loaded_at.timestamp()))
            .collect();
        assert_eq!(at, [("a", 10), ("b", 20), ("c", 20)]);
    }

    #[test]
    fn a_refusal_marks_the_failing_files_and_clears_errors_of_earlier_attempts() {
        let mut files = BTreeMap::from([
            status("a", "h1", 10, Some("old error")),
            status("b", "h2", 10, None),
        ]);
        let refusal = Refused {
            rendered: "E0001".into(),
            failing: vec![PathBuf::from("b"), PathBuf::from("new")],
            hashes: BTreeMap::from([(PathBuf::from("new"), "h9".to_string())]),
        };
        refused(
            &mut files,
            &refusal,
            Utc.timestamp_opt(30, 0).single().unwrap_or_default(),
        );
        let errors: Vec<(&str, &str, Option<&str>)> = files
            .values()
            .map(|s| {
                (
                    s.path.to_str().unwrap_or_default(),
                    s.hash.as_str(),
                    s.last_error.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            errors,
            [
                ("a", "h1", None),
                ("b", "h2", Some("E0001")),
                ("new", "h9", Some("E0001"))
            ]
        );
    }
}
