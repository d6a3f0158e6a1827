//! Reading pipeline files for the command line: the workspace loader
//! ([`crate::workspace`]) with the CLI's defaults (`pipelines/`, `./stdlib` when it
//! exists) and its printing (diagnostics on stderr, exit codes).

use std::path::{Path, PathBuf};

use crate::diagnostics::{render, Diagnostic};
use crate::files::WalkError;
use crate::syntax::ast::FileId;
pub use crate::workspace::{Checked, Workspace};

use super::Global;

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

impl From<WalkError> for LoadError {
    fn from(e: WalkError) -> LoadError {
        LoadError {
            message: e.to_string(),
            help: Some(e.help),
        }
    }
}

/// The standard library directory: `--stdlib` (or `CMAP_STDLIB`), else `./stdlib` when it
/// exists; `None` means the copy embedded in the binary.
pub fn stdlib_dir(global: &Global) -> Option<PathBuf> {
    global
        .stdlib
        .clone()
        .or_else(|| Some(PathBuf::from("stdlib")).filter(|d| d.is_dir()))
}

/// The files under `paths` (directories walked for `.cmap` and `.json`, sorted); anything
/// unreadable is an error.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    Ok(crate::files::collect(paths)?)
}

/// Reads and parses the standard library and the files under `paths`.
pub fn read(paths: &[PathBuf], global: &Global) -> Result<Workspace, LoadError> {
    Ok(crate::workspace::read(
        paths,
        stdlib_dir(global).as_deref(),
    )?)
}

/// Reads, parses and compiles.
pub fn check(paths: &[PathBuf], global: &Global) -> Result<Checked, LoadError> {
    Ok(crate::workspace::check(
        paths,
        stdlib_dir(global).as_deref(),
    )?)
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
