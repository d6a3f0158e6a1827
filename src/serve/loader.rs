//! Loading a version of the pipelines for the server: every file read and hashed,
//! parsed and compiled together with the standard library. A version that does not
//! check is refused with its diagnostics rendered as `cmap check` renders them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::state::FileStatus;
use crate::compile::{self, ir::Program};
use crate::diagnostics::{render, Diagnostic};
use crate::syntax::{self, SourceMap};

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
    let mut sources = SourceMap::default();
    let mut docs = Vec::new();
    let mut diagnostics: Vec<Diagnostic> = Vec::new();
    let mut hashes = BTreeMap::new();
    let refused = |message: String, hashes: BTreeMap<PathBuf, String>| Refused {
        rendered: message,
        failing: Vec::new(),
        hashes,
    };

    let stdlib_files: Vec<(PathBuf, String)> = match stdlib {
        Some(dir) => {
            let files = crate::files::collect(&[dir.to_path_buf()]).map_err(|e| {
                refused(
                    format!("cannot read `{}`: {}", e.path.display(), e.message),
                    BTreeMap::new(),
                )
            })?;
            let mut out = Vec::new();
            for f in files {
                let text = std::fs::read_to_string(&f).map_err(|e| {
                    refused(
                        format!("cannot read `{}`: {e}", f.display()),
                        BTreeMap::new(),
                    )
                })?;
                out.push((f, text));
            }
            out
        }
        None => crate::stdlib::EMBEDDED
            .iter()
            .map(|(n, t)| (PathBuf::from(format!("<stdlib>/{n}")), t.to_string()))
            .collect(),
    };
    let stdlib_count = stdlib_files.len();
    for (path, text) in stdlib_files {
        let id = sources.add(path, text);
        let (doc, d) = syntax::parse(id, sources.get(id));
        docs.push(doc);
        diagnostics.extend(d);
    }
    let files = crate::files::collect(&[pipelines.to_path_buf()]).map_err(|e| {
        refused(
            format!("cannot read `{}`: {}", e.path.display(), e.message),
            BTreeMap::new(),
        )
    })?;
    for path in files {
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            // A file removed between the listing and the read: it is simply gone.
            Err(_) => continue,
        };
        hashes.insert(path.clone(), hex::encode(Sha256::digest(&bytes)));
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let id = sources.add(path, text);
        let (doc, d) = syntax::parse(id, sources.get(id));
        docs.push(doc);
        diagnostics.extend(d);
    }
    let compiled = compile::compile(
        &docs,
        &compile::Options {
            stdlib_docs: stdlib_count,
        },
    );
    diagnostics.extend(compiled.diagnostics);
    let errors: Vec<Diagnostic> = diagnostics
        .into_iter()
        .filter(Diagnostic::is_error)
        .collect();
    match compiled.program {
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
            let mut failing: Vec<PathBuf> = errors
                .iter()
                .map(|d| sources.get(d.span.file).path.clone())
                .collect();
            failing.sort();
            failing.dedup();
            let rendered = format!(
                "{}{}",
                render::human(&errors, &sources, render::Style::Plain),
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
