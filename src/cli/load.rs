//! Reading pipeline files: walk the given paths, add the standard library, parse
//! everything, compile. Shared by every subcommand that takes pipeline files.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::compile::{self, ir::Program};
use crate::diagnostics::{render, Code, Diagnostic};
use crate::syntax::ast::{Document, FileId, Span};
use crate::syntax::{self, SourceMap};

use super::Global;

/// Files read and parsed.
pub struct Workspace {
    pub sources: SourceMap,
    /// One per file of `sources`, same index.
    pub documents: Vec<Document>,
    /// The files the user named (not the standard library), in order.
    pub user_files: Vec<FileId>,
    /// Syntax diagnostics of every file.
    pub diagnostics: Vec<Diagnostic>,
}

/// A workspace compiled.
pub struct Checked {
    pub workspace: Workspace,
    /// Present when nothing is an error.
    pub program: Option<Program>,
    /// Syntax and compile diagnostics, by file and position.
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// A path that cannot be read: exit code 2.
#[derive(Debug)]
pub struct LoadError {
    pub message: String,
    pub help: Option<String>,
}

impl LoadError {
    pub fn print(&self) {
        super::print_error(&self.message, self.help.as_deref());
    }
}

/// The files under `paths` (directories walked for `.cmap` and `.json`, sorted).
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    crate::files::collect(paths).map_err(|e| LoadError {
        message: format!("cannot read `{}`: {}", e.path.display(), e.message),
        help: Some("pass a .cmap or .json file, or a directory of them".into()),
    })
}

/// Reads and parses the standard library and the files under `paths`.
pub fn read(paths: &[PathBuf], global: &Global) -> Result<Workspace, LoadError> {
    let user_paths = collect(paths)?;
    let mut user_texts = Vec::new();
    for path in &user_paths {
        user_texts.push((path.clone(), read_text(path)));
    }

    // The standard library, unless the user named its files themselves (checking
    // stdlib/ must not define every type twice).
    let named: HashSet<PathBuf> = user_paths
        .iter()
        .filter_map(|p| p.canonicalize().ok())
        .collect();
    let named_texts: HashSet<&str> = user_texts
        .iter()
        .filter_map(|(_, t)| t.as_ref().ok().map(String::as_str))
        .collect();
    let mut stdlib_texts = Vec::new();
    let dir = global
        .stdlib
        .clone()
        .or_else(|| Some(PathBuf::from("stdlib")).filter(|d| d.is_dir()));
    match dir {
        Some(dir) => {
            for path in collect(std::slice::from_ref(&dir))? {
                if path.canonicalize().is_ok_and(|c| named.contains(&c)) {
                    continue;
                }
                let text = read_text(&path);
                stdlib_texts.push((path, text));
            }
        }
        None => {
            for (name, text) in crate::stdlib::EMBEDDED {
                if !named_texts.contains(text) {
                    stdlib_texts.push((
                        PathBuf::from(format!("<stdlib>/{name}")),
                        Ok(text.to_string()),
                    ));
                }
            }
        }
    }

    let mut ws = Workspace {
        sources: SourceMap::default(),
        documents: Vec::new(),
        user_files: Vec::new(),
        diagnostics: Vec::new(),
    };
    let stdlib_count = stdlib_texts.len();
    for (i, (path, text)) in stdlib_texts.into_iter().chain(user_texts).enumerate() {
        let (doc, diags) = match text {
            Ok(text) => {
                let id = ws.sources.add(path, text);
                syntax::parse(id, ws.sources.get(id))
            }
            Err(unreadable) => {
                // Kept as a file with a diagnostic, so every other file is still checked.
                let id = ws.sources.add(path, unreadable.lossy);
                let span = Span::new(id, unreadable.offset, unreadable.offset);
                let d = Diagnostic::new(Code::Io, span, unreadable.message)
                    .with_label("here")
                    .with_help(unreadable.help);
                (Document::default(), vec![d])
            }
        };
        ws.documents.push(doc);
        ws.diagnostics.extend(diags);
        if i >= stdlib_count {
            ws.user_files.push((ws.sources.files.len() - 1) as FileId);
        }
    }
    Ok(ws)
}

/// A file that exists but cannot be read as text: an E0006 diagnostic, not an abort.
struct Unreadable {
    /// What can be shown of it (the valid prefix of a non-UTF-8 file).
    lossy: String,
    /// Where the problem starts.
    offset: usize,
    message: String,
    help: String,
}

fn read_text(path: &Path) -> Result<String, Unreadable> {
    let bytes = fs::read(path).map_err(|e| Unreadable {
        lossy: String::new(),
        offset: 0,
        message: format!("cannot read `{}`: {e}", path.display()),
        help: "check that the file exists and is readable".into(),
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        Unreadable {
            lossy: String::from_utf8_lossy(e.as_bytes()).into_owned(),
            offset,
            message: format!(
                "`{}` is not UTF-8 text (invalid byte at offset {offset})",
                path.display()
            ),
            help: "save the file as UTF-8".into(),
        }
    })
}

/// Reads, parses and compiles.
pub fn check(paths: &[PathBuf], global: &Global) -> Result<Checked, LoadError> {
    let workspace = read(paths, global)?;
    let options = compile::Options {
        stdlib_docs: workspace.documents.len() - workspace.user_files.len(),
    };
    let compilation = compile::compile(&workspace.documents, &options);
    let mut diagnostics = workspace.diagnostics.clone();
    diagnostics.extend(compilation.diagnostics);
    diagnostics.sort_by_key(|d| (d.span.file, d.span.start, d.code));
    diagnostics.dedup();
    Ok(Checked {
        workspace,
        program: compilation.program,
        diagnostics,
    })
}

/// Prints diagnostics to stderr as `check` renders them, with the summary line.
pub fn report(checked: &Checked, global: &Global) {
    if checked.diagnostics.is_empty() {
        return;
    }
    errprint!(
        "{}",
        render::human(
            &checked.diagnostics,
            &checked.workspace.sources,
            global.style
        )
    );
    errln!("{}", render::summary(&checked.diagnostics));
}

/// The default pipeline directory when no path is given.
pub fn default_paths(paths: Vec<PathBuf>) -> Result<Vec<PathBuf>, LoadError> {
    if !paths.is_empty() {
        return Ok(paths);
    }
    let dir = PathBuf::from("pipelines");
    if dir.is_dir() {
        Ok(vec![dir])
    } else {
        Err(LoadError {
            message: "no paths given and there is no `pipelines/` directory here".into(),
            help: Some("pass pipeline files or directories: `cmap check path/to/pipelines`".into()),
        })
    }
}

/// Reads and parses one file (with the standard library), printing its syntax
/// diagnostics: the workspace and the file's id, or the exit code when it does not
/// parse. Converting a file needs only sound syntax: a task file alone names a schema
/// declared elsewhere, and converting it is still useful; `check` is the place for the
/// rest.
pub fn parse_one(path: &Path, global: &Global) -> Result<(Workspace, FileId), u8> {
    let ws = read(&[path.to_path_buf()], global).map_err(|e| {
        e.print();
        super::EXIT_USAGE
    })?;
    let file = *ws.user_files.first().ok_or(super::EXIT_USAGE)?;
    let own: Vec<Diagnostic> = ws
        .diagnostics
        .iter()
        .filter(|d| d.span.file == file)
        .cloned()
        .collect();
    if !own.is_empty() {
        errprint!("{}", render::human(&own, &ws.sources, global.style));
        errln!("{}", render::summary(&own));
        if own.iter().any(Diagnostic::is_error) {
            return Err(super::EXIT_FAILURE);
        }
    }
    Ok((ws, file))
}
