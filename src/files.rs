//! Finding pipeline files: walk paths for `.cmap` and `.json` files, sorted, hidden
//! entries skipped. Shared by the command line and the server.

use std::fs;
use std::path::{Path, PathBuf};

/// A path that cannot be listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkError {
    pub path: PathBuf,
    pub message: String,
}

/// The files under `paths` (directories walked for `.cmap` and `.json`, sorted; files
/// named directly are kept whatever their extension).
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, WalkError> {
    let mut files = Vec::new();
    for path in paths {
        let meta = fs::metadata(path).map_err(|e| WalkError {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if meta.is_dir() {
            walk(path, &mut files)?;
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), WalkError> {
    let entries = fs::read_dir(dir).map_err(|e| WalkError {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            walk(&path, files)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("cmap" | "json")
        ) {
            files.push(path);
        }
    }
    Ok(())
}
