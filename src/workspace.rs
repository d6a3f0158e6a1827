//! Reading a workspace: the pipeline files under some paths and the standard library,
//! walked, read, parsed and compiled, with every diagnostic. The one loader of the
//! command line (`check`, `test`, `map`, `run`, ...) and of `cmap serve`, so what `check`
//! accepts is what the server serves.
//!
//! The same decisions for every caller:
//! - A file that cannot be read (no permission, a dangling or looping symbolic link, a
//!   named pipe, a directory that cannot be listed) is an E0006 diagnostic naming it,
//!   and every other file is still read and checked; a file that is not UTF-8 is an
//!   E0006 at its first invalid byte. A version with either does not check.
//! - A path the caller names that cannot be read at all (it does not exist) is a
//!   [`WalkError`]: there is nothing to check.
//! - A file removed between the walk and the read is gone, not an error (an editor
//!   saving by rename; the server's watcher reloads again once the save lands).
//! - Each file is read once, however it is reached (see [`crate::files`]), and the
//!   standard library is read from a directory when one is given, else from the copy
//!   embedded in the binary; a standard library file the caller also names is read once,
//!   as the caller's (so `cmap check stdlib` does not define every type twice).
//! - Each file's owner comes from its folder ([`files::place`]): a file under
//!   `<pipelines>/tenants/ID/` is tenant ID's, any other of the caller's files is a
//!   top-level one (tenant `default`), the standard library is no one's. A folder name
//!   that is not a tenant id, or a file directly in `tenants/`, is an E1001 naming it
//!   (once per folder, on its first file). Compile gets the owners as data and checks
//!   what may reference what (docs/serve.md, "Tenants of pipeline files").

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::compile::{self, ir::Program, Owner};
use crate::diagnostics::{Code, Diagnostic};
use crate::files::{self, Place, WalkError};
use crate::span::{FileId, SourceMap, Span};
use crate::syntax::{self, ast::Document};

/// Files read and parsed.
pub struct Workspace {
    /// The standard library's files first, then the caller's.
    pub sources: SourceMap,
    /// One per file of `sources`, same index (empty for a file that cannot be read).
    pub documents: Vec<Document>,
    /// Whose each file of `sources` is (same index): its tenant folder's, top-level, or
    /// the standard library's.
    pub owners: Vec<Owner>,
    /// How many leading files of `sources` are the standard library.
    pub stdlib_files: usize,
    /// The caller's files (every file after the standard library), in order.
    pub user_files: Vec<FileId>,
    /// SHA-256 (hex) of the bytes read of each of the caller's files: what tells two
    /// loads apart (the server's file statuses).
    pub content_hashes: BTreeMap<PathBuf, String>,
    /// Syntax and I/O diagnostics of every file.
    pub diagnostics: Vec<Diagnostic>,
}

/// A workspace compiled.
pub struct Checked {
    pub workspace: Workspace,
    /// Present when nothing is an error.
    pub program: Option<Program>,
    /// Syntax, I/O and compile diagnostics, by file and position.
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// A source that is not a file: a schema or task stored through the API
/// ([`crate::store::PipelineDocument`]), read with the files as if it were one file of
/// its owner's folder. `path` is virtual (`api:tenants/acme/schemas/ID.cmap`); its
/// extension says how to parse it (`.json`: seed JSON, else `.cmap`).
#[derive(Clone, Debug)]
pub struct Extra {
    pub path: PathBuf,
    pub text: String,
    pub owner: Owner,
}

/// Reads and parses the standard library (`stdlib`: a directory, or `None` for the
/// embedded copy) and the pipeline files under `paths`. Blocking file I/O: the server
/// calls it off its async workers.
pub fn read(paths: &[PathBuf], stdlib: Option<&Path>) -> Result<Workspace, WalkError> {
    read_with(paths, stdlib, Vec::new())
}

/// [`read`], then `extra` sources after the files (in order), each with its owner and
/// the SHA-256 of its text in `content_hashes`.
pub fn read_with(
    paths: &[PathBuf],
    stdlib: Option<&Path>,
    extra: Vec<Extra>,
) -> Result<Workspace, WalkError> {
    let user = files::walk(paths)?;
    let user_texts: Vec<(PathBuf, Read)> = user
        .files
        .into_iter()
        .map(|path| {
            let read = read_file(&path);
            (path, read)
        })
        .collect();

    let mut ws = Workspace {
        sources: SourceMap::default(),
        documents: Vec::new(),
        owners: Vec::new(),
        stdlib_files: 0,
        user_files: Vec::new(),
        content_hashes: BTreeMap::new(),
        diagnostics: Vec::new(),
    };

    match stdlib {
        Some(dir) => {
            let named: HashSet<PathBuf> = user_texts
                .iter()
                .filter_map(|(p, _)| p.canonicalize().ok())
                .collect();
            let found = files::walk(&[dir.to_path_buf()])?;
            for path in found.files {
                if path.canonicalize().is_ok_and(|c| named.contains(&c)) {
                    continue;
                }
                let read = read_file(&path);
                ws.add(path, read, Owner::Stdlib);
            }
            for e in found.unreadable {
                ws.add_unreadable(e, Owner::Stdlib);
            }
        }
        None => {
            // The embedded files have no path to compare: a caller's file with the same
            // text is the same file.
            let named: HashSet<&str> = user_texts
                .iter()
                .filter_map(|(_, r)| match r {
                    Read::Text { text, .. } => Some(text.as_str()),
                    _ => None,
                })
                .collect();
            for (name, text) in crate::stdlib::EMBEDDED {
                if !named.contains(text) {
                    let read = Read::Text {
                        text: text.to_string(),
                        hash: None,
                    };
                    ws.add(
                        PathBuf::from(format!("<stdlib>/{name}")),
                        read,
                        Owner::Stdlib,
                    );
                }
            }
        }
    }
    ws.stdlib_files = ws.sources.files.len();

    // E1001 once per folder: the first file of each bad folder.
    let mut bad_folders: HashSet<PathBuf> = HashSet::new();
    for (path, read) in user_texts {
        let place = files::place(paths, &path);
        let owner = Workspace::owner(&place);
        if let Some(id) = ws.add(path, read, owner) {
            ws.check_place(id, place, &mut bad_folders);
        }
    }
    for e in user.unreadable {
        let place = files::place(paths, &e.path);
        let owner = Workspace::owner(&place);
        ws.add_unreadable(e, owner);
    }
    for source in extra {
        let hash = hex::encode(Sha256::digest(source.text.as_bytes()));
        let read = Read::Text {
            text: source.text,
            hash: Some(hash),
        };
        ws.add(source.path, read, source.owner);
    }
    ws.user_files = (ws.stdlib_files..ws.sources.files.len())
        .map(|i| i as FileId)
        .collect();
    Ok(ws)
}

/// Reads, parses and compiles: [`read`], then [`compile::compile`] over every file.
pub fn check(paths: &[PathBuf], stdlib: Option<&Path>) -> Result<Checked, WalkError> {
    Ok(check_read(read(paths, stdlib)?))
}

/// Compiles a workspace already read ([`read_with`]): what [`check`] does after reading.
pub fn check_read(workspace: Workspace) -> Checked {
    let options = compile::Options {
        stdlib_docs: workspace.stdlib_files,
        owners: workspace.owners.clone(),
    };
    let compilation = compile::compile(&workspace.documents, &options);
    let mut diagnostics = workspace.diagnostics.clone();
    diagnostics.extend(compilation.diagnostics);
    diagnostics.sort_by_key(|d| (d.span.file, d.span.start, d.code));
    diagnostics.dedup();
    Checked {
        workspace,
        program: compilation.program,
        diagnostics,
    }
}

/// A file as read.
enum Read {
    Text {
        text: String,
        /// SHA-256 of the bytes; `None` for the embedded standard library.
        hash: Option<String>,
    },
    /// Not UTF-8: what can be shown of it, and where the first invalid byte is.
    NotUtf8 {
        lossy: String,
        offset: usize,
        hash: String,
    },
    /// Exists but cannot be read.
    Failed(String),
    /// Removed since the walk.
    Gone,
}

fn read_file(path: &Path) -> Read {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == ErrorKind::NotFound => return Read::Gone,
        Err(e) => return Read::Failed(e.to_string()),
    };
    let hash = hex::encode(Sha256::digest(&bytes));
    match String::from_utf8(bytes) {
        Ok(text) => Read::Text {
            text,
            hash: Some(hash),
        },
        Err(e) => Read::NotUtf8 {
            offset: e.utf8_error().valid_up_to(),
            lossy: String::from_utf8_lossy(e.as_bytes()).into_owned(),
            hash,
        },
    }
}

impl Workspace {
    /// Adds one file: parsed, or kept with its E0006 so every other file is still
    /// checked. Its id, unless it is gone.
    fn add(&mut self, path: PathBuf, read: Read, owner: Owner) -> Option<FileId> {
        let (text, hash, problem) = match read {
            Read::Gone => return None,
            Read::Text { text, hash } => (text, hash, None),
            Read::NotUtf8 {
                lossy,
                offset,
                hash,
            } => {
                let message = format!(
                    "`{}` is not UTF-8 text (invalid byte at offset {offset})",
                    path.display()
                );
                let help = "save the file as UTF-8".to_string();
                (lossy, Some(hash), Some((offset, message, help)))
            }
            Read::Failed(e) => {
                let message = format!("cannot read `{}`: {e}", path.display());
                let help = "check that the file exists and is readable".to_string();
                (String::new(), None, Some((0, message, help)))
            }
        };
        if let Some(hash) = hash {
            self.content_hashes.insert(path.clone(), hash);
        }
        let id = self.sources.add(path, text);
        self.owners.push(owner);
        match problem {
            None => {
                let (doc, diags) = syntax::parse(id, self.sources.get(id));
                self.documents.push(doc);
                self.diagnostics.extend(diags);
            }
            Some((offset, message, help)) => {
                self.documents.push(Document::default());
                self.diagnostics.push(
                    Diagnostic::new(Code::Io, Span::new(id, offset, offset), message)
                        .with_label("here")
                        .with_help(help),
                );
            }
        }
        Some(id)
    }

    /// Adds an entry the walk could not read, as an empty file with its E0006.
    fn add_unreadable(&mut self, e: WalkError, owner: Owner) {
        let message = e.to_string();
        let id = self.sources.add(e.path, String::new());
        self.owners.push(owner);
        self.documents.push(Document::default());
        self.diagnostics.push(
            Diagnostic::new(Code::Io, Span::new(id, 0, 0), message)
                .with_label("here")
                .with_help(e.help),
        );
    }

    /// The owner of a file at `place`. A folder whose name is not a tenant id still
    /// names its files' owner, so the checks between tenants run too (E1001 already
    /// refuses the version).
    fn owner(place: &Place) -> Owner {
        match place {
            Place::Top | Place::Loose { .. } => Owner::Top,
            Place::Tenant { name, .. } => Owner::Tenant(name.clone()),
        }
    }

    /// E1001 for the file `id` at `place`: directly in `tenants/`, or the first file of a
    /// folder whose name is not a tenant id.
    fn check_place(&mut self, id: FileId, place: Place, bad: &mut HashSet<PathBuf>) {
        let here = Span::new(id, 0, 0);
        let d = match place {
            Place::Top => return,
            Place::Loose { folder } => Diagnostic::new(
                Code::InvalidTenantFolder,
                here,
                format!(
                    "`{}` is directly in `{}`, in no tenant's folder",
                    self.sources.get(id).path.display(),
                    folder.display()
                ),
            )
            .with_label("whose is it?")
            .with_help(format!(
                "move it into `{}/ID/` (ID: the tenant it belongs to), or out of `{}` (top-level files are tenant `default`'s)",
                folder.display(),
                folder.display()
            )),
            Place::Tenant { folder, name } => {
                let Err(why) = crate::tenant_id::valid_tenant_id(&name) else {
                    return;
                };
                if !bad.insert(folder.clone()) {
                    return;
                }
                Diagnostic::new(
                    Code::InvalidTenantFolder,
                    here,
                    format!(
                        "the folder `{}` is not named after a tenant: {why}",
                        folder.display()
                    ),
                )
                .with_label("its files belong to the tenant the folder names")
                .with_help(
                    "rename the folder to the tenant's id: 1 to 63 of `a-z`, `0-9` and `-`, starting with a letter or digit",
                )
            }
        };
        self.diagnostics.push(d);
    }
}
