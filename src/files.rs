//! Finding pipeline files: walk paths for `.cmap` and `.json` files, sorted, hidden
//! entries skipped, each file once. A leaf module (it uses nothing else of the crate),
//! shared by the workspace loader (`cmap check` and friends, `cmap serve`) and `cmap fmt`.
//!
//! The walk follows symbolic links (to files and to directories) with `walkdir`, which
//! detects cycles: a link back to a directory being walked is skipped, since everything
//! under that directory is read once already and reading it again could only define
//! every item twice. A file reached twice (named twice, or through a second link) is
//! listed once, at its first place in walk order.
//!
//! [`place`] says where a file sits with respect to the tenant folders
//! (`<pipelines>/tenants/<TENANT_ID>/`, docs/serve.md "Tenants of pipeline files"); what
//! that means (a tenant id, who may reference what) is the loader's and `compile`'s.

use std::collections::HashSet;
use std::fs;
use std::path::{Component, Path, PathBuf};

use walkdir::WalkDir;

/// A path that cannot be listed or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read `{}`: {message}", path.display())]
pub struct WalkError {
    pub path: PathBuf,
    pub message: String,
    /// How to fix it.
    pub help: String,
}

/// What a walk found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// The pipeline files, in walk order (sorted by name within each directory).
    pub files: Vec<PathBuf>,
    /// Entries inside a walked directory that cannot be read: a subdirectory that
    /// cannot be listed, a dangling or looping symbolic link or a special file (a named
    /// pipe, a socket) with a pipeline file's name. The walk went on without them.
    pub unreadable: Vec<WalkError>,
}

/// The files under `paths`: directories are walked for `.cmap` and `.json` files,
/// sorted, hidden entries (`.name`) skipped; paths named directly are kept whatever their
/// name. Errors when a named path cannot be read at all (it does not exist, or it is a
/// directory that cannot be listed); what cannot be read inside a directory is in
/// [`Found::unreadable`].
pub fn walk(paths: &[PathBuf]) -> Result<Found, WalkError> {
    let mut found = Found::default();
    let mut seen: HashSet<PathBuf> = HashSet::new();
    for root in paths {
        let entries = WalkDir::new(root)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.depth() == 0 || !hidden(e.path()));
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    if e.depth() == 0 {
                        return Err(WalkError {
                            path: e.path().unwrap_or(root).to_path_buf(),
                            message: io_message(&e),
                            help: "pass a .cmap or .json file, or a directory of them".into(),
                        });
                    }
                    // A cycle: its target is an ancestor, walked already (module docs).
                    if e.loop_ancestor().is_some() {
                        continue;
                    }
                    let Some(path) = e.path() else { continue };
                    if hidden(path) {
                        continue;
                    }
                    if fs::metadata(path).is_ok_and(|m| m.is_dir()) {
                        found.unreadable.push(WalkError {
                            path: path.to_path_buf(),
                            message: io_message(&e),
                            help: "make the directory readable, or move it out of the pipelines"
                                .into(),
                        });
                    } else if pipeline_file(path) {
                        let message = match fs::read_link(path) {
                            Ok(target) => format!(
                                "it is a symbolic link to `{}`, which cannot be read: {}",
                                target.display(),
                                io_message(&e)
                            ),
                            Err(_) => io_message(&e),
                        };
                        found.unreadable.push(WalkError {
                            path: path.to_path_buf(),
                            message,
                            help: "check that the file exists and is readable".into(),
                        });
                    }
                    continue;
                }
            };
            let kind = entry.file_type();
            if kind.is_dir() {
                continue;
            }
            let path = entry.path();
            if entry.depth() > 0 {
                if !pipeline_file(path) {
                    continue;
                }
                // Reading a named pipe would block until someone writes to it.
                if !kind.is_file() {
                    found.unreadable.push(WalkError {
                        path: path.to_path_buf(),
                        message: "not a regular file".into(),
                        help: "pipeline files are regular files (or symbolic links to them)".into(),
                    });
                    continue;
                }
            }
            let identity = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
            if seen.insert(identity) {
                found.files.push(path.to_path_buf());
            }
        }
    }
    Ok(found)
}

/// [`walk`], where anything unreadable is an error (for `fmt`, which rewrites files).
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, WalkError> {
    let found = walk(paths)?;
    match found.unreadable.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(found.files),
    }
}

/// The folder under the pipelines whose subfolders are tenants': `<pipelines>/tenants/`.
pub const TENANTS_DIR: &str = "tenants";

/// Where a pipeline file sits with respect to the tenant folders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// Outside `tenants/`: the `default` tenant's file.
    Top,
    /// Under `folder` = `.../tenants/NAME/`, at any depth. `name` is the folder's name as
    /// written (not UTF-8 bytes replaced), not yet checked to be a tenant id.
    Tenant { folder: PathBuf, name: String },
    /// Directly in `folder` = `.../tenants/`, in no tenant's folder.
    Loose { folder: PathBuf },
}

/// Where `file`, found by walking one of `roots` (the paths the caller named), sits.
///
/// The rule is read on the path below the root that reached the file (the first of
/// `roots` it lies under, as [`walk`] lists it): `tenants/NAME/...` there is tenant NAME's.
/// When that part does not start with `tenants/`, the root itself may lie inside a tenant
/// folder (`cmap check pipelines/tenants/acme`, `cmap run pipelines/tenants/acme/a.cmap`):
/// the last `tenants/NAME` of the root's own path (made absolute, `.` and `..` resolved
/// lexically, symbolic links not followed) then decides, so a file means the same tenant
/// however it is named. (A directory called `tenants` above the pipelines reads as a tenant
/// folder when a path below it is named that way: name the pipelines directory instead.)
pub fn place(roots: &[PathBuf], file: &Path) -> Place {
    let root = roots
        .iter()
        .find(|r| file.starts_with(r))
        .map(PathBuf::as_path)
        .unwrap_or(file);
    let below: Vec<&std::ffi::OsStr> = file
        .strip_prefix(root)
        .map(|rel| names(rel.components()))
        .unwrap_or_default();
    if below.first().is_some_and(|c| *c == TENANTS_DIR) {
        return below_root(root, &below);
    }
    // The root's own path: absolute, so `.` inside a tenant folder still says which.
    let absolute = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let mut full: Vec<&std::ffi::OsStr> = Vec::new();
    for c in absolute.components() {
        match c {
            Component::Normal(n) => full.push(n),
            Component::ParentDir => {
                full.pop();
            }
            _ => {}
        }
    }
    let root_len = full.len();
    full.extend(below);
    let Some(at) = full[..root_len].iter().rposition(|c| *c == TENANTS_DIR) else {
        return Place::Top;
    };
    // The folder is `full[..count]`, shown as the caller named it: the named root's
    // ancestor (or child) that it is, when lexically so, else the absolute path.
    let shown = |count: usize| -> PathBuf {
        let lexical = if count <= root_len {
            root.ancestors()
                .nth(root_len - count)
                .map(Path::to_path_buf)
        } else {
            Some(root.join(full[root_len]))
        };
        lexical
            .filter(|p| p.file_name() == Some(full[count - 1]))
            .unwrap_or_else(|| {
                std::iter::once(Component::RootDir.as_os_str())
                    .chain(full[..count].iter().copied())
                    .collect()
            })
    };
    // `tenants/NAME/FILE` at least: NAME is a folder, not the file itself.
    if full.len() > at + 2 {
        Place::Tenant {
            folder: shown(at + 2),
            name: full[at + 1].to_string_lossy().into_owned(),
        }
    } else {
        Place::Loose {
            folder: shown(at + 1),
        }
    }
}

/// `parts[0]` is `tenants` under `base`: the place of the file `parts` ends with.
fn below_root(base: &Path, parts: &[&std::ffi::OsStr]) -> Place {
    let tenants = base.join(TENANTS_DIR);
    if parts.len() > 2 {
        Place::Tenant {
            folder: tenants.join(parts[1]),
            name: parts[1].to_string_lossy().into_owned(),
        }
    } else {
        Place::Loose { folder: tenants }
    }
}

fn names<'a>(components: std::path::Components<'a>) -> Vec<&'a std::ffi::OsStr> {
    components
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect()
}

fn hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

fn pipeline_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("cmap" | "json")
    )
}

/// The I/O error alone (the path is shown separately).
fn io_message(e: &walkdir::Error) -> String {
    match e.io_error() {
        Some(io) => io.to_string(),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn touch(path: &Path) {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("directories");
        }
        fs::write(path, "").expect("write");
    }

    /// The walk of `named` (relative to `dir`), each path shown relative to `dir`.
    fn show(dir: &Path, named: &[&str]) -> (Vec<String>, Vec<String>) {
        let paths: Vec<PathBuf> = named.iter().map(|n| dir.join(n)).collect();
        let found = walk(&paths).expect("walks");
        let rel = |p: &Path| {
            p.strip_prefix(dir)
                .unwrap_or(p)
                .to_string_lossy()
                .into_owned()
        };
        (
            found.files.iter().map(|p| rel(p)).collect(),
            found.unreadable.iter().map(|e| rel(&e.path)).collect(),
        )
    }

    struct Case {
        name: &'static str,
        build: fn(&Path),
        /// The paths walked.
        named: &'static [&'static str],
        files: &'static [&'static str],
        unreadable: &'static [&'static str],
    }

    #[test]
    fn what_a_walk_keeps() {
        let cases = [
            Case {
                name: "sorted by name in each directory, directories in place",
                build: |d| {
                    for f in ["p/b.cmap", "p/a/z.json", "p/a.cmap", "p/c/x.cmap"] {
                        touch(&d.join(f));
                    }
                },
                named: &["p"],
                files: &["p/a/z.json", "p/a.cmap", "p/b.cmap", "p/c/x.cmap"],
                unreadable: &[],
            },
            Case {
                name: "hidden entries skipped, other extensions skipped in directories",
                build: |d| {
                    for f in ["p/.hidden.cmap", "p/.git/x.cmap", "p/notes.md", "p/a.cmap"] {
                        touch(&d.join(f));
                    }
                },
                named: &["p"],
                files: &["p/a.cmap"],
                unreadable: &[],
            },
            Case {
                name: "files named directly kept whatever their name",
                build: |d| {
                    touch(&d.join("notes.txt"));
                    touch(&d.join(".hidden.cmap"));
                },
                named: &["notes.txt", ".hidden.cmap"],
                files: &["notes.txt", ".hidden.cmap"],
                unreadable: &[],
            },
            Case {
                name: "a symbolic link cycle is walked once",
                build: |d| {
                    touch(&d.join("p/a.cmap"));
                    touch(&d.join("p/sub/b.cmap"));
                    symlink("..", d.join("p/sub/up")).expect("symlink");
                    symlink(".", d.join("p/self")).expect("symlink");
                },
                named: &["p"],
                files: &["p/a.cmap", "p/sub/b.cmap"],
                unreadable: &[],
            },
            Case {
                name: "a symbolic link to a file is followed",
                build: |d| {
                    touch(&d.join("elsewhere/real.cmap"));
                    fs::create_dir_all(d.join("p")).expect("p");
                    symlink("../elsewhere/real.cmap", d.join("p/link.cmap")).expect("symlink");
                },
                named: &["p"],
                files: &["p/link.cmap"],
                unreadable: &[],
            },
            Case {
                name: "a file reached twice is listed once",
                build: |d| {
                    touch(&d.join("p/a.cmap"));
                    symlink("a.cmap", d.join("p/b.cmap")).expect("symlink");
                },
                named: &["p", "p/a.cmap", "p/b.cmap"],
                files: &["p/a.cmap"],
                unreadable: &[],
            },
            Case {
                name: "broken entries with a pipeline name are unreadable, others ignored",
                build: |d| {
                    touch(&d.join("p/a.cmap"));
                    symlink("nowhere", d.join("p/gone.cmap")).expect("symlink");
                    symlink("loop.json", d.join("p/loop.json")).expect("symlink");
                    symlink("nowhere", d.join("p/gone.txt")).expect("symlink");
                    symlink("nowhere", d.join("p/.gone.cmap")).expect("symlink");
                },
                named: &["p"],
                files: &["p/a.cmap"],
                unreadable: &["p/gone.cmap", "p/loop.json"],
            },
        ];
        for case in cases {
            let dir = tempfile::tempdir().expect("temp dir");
            (case.build)(dir.path());
            let (files, unreadable) = show(dir.path(), case.named);
            assert_eq!(files, case.files, "{}: files", case.name);
            assert_eq!(unreadable, case.unreadable, "{}: unreadable", case.name);
        }
    }

    #[test]
    fn where_a_file_sits() {
        let tenant = |folder: &str, name: &str| Place::Tenant {
            folder: PathBuf::from(folder),
            name: name.to_string(),
        };
        let loose = |folder: &str| Place::Loose {
            folder: PathBuf::from(folder),
        };
        // (what, the roots named, the file, where it sits)
        let cases: &[(&str, &[&str], &str, Place)] = &[
            ("top level", &["p"], "p/a.cmap", Place::Top),
            ("in a subfolder", &["p"], "p/crm/a.cmap", Place::Top),
            (
                "a tenant folder",
                &["p"],
                "p/tenants/acme/a.cmap",
                tenant("p/tenants/acme", "acme"),
            ),
            (
                "any depth below it",
                &["p"],
                "p/tenants/acme/crm/eu/a.json",
                tenant("p/tenants/acme", "acme"),
            ),
            (
                "the name as written, checked later",
                &["p"],
                "p/tenants/Acme Corp/a.cmap",
                tenant("p/tenants/Acme Corp", "Acme Corp"),
            ),
            (
                "directly in tenants/",
                &["p"],
                "p/tenants/a.cmap",
                loose("p/tenants"),
            ),
            (
                "tenants/ counts only at the top of the pipelines",
                &["p"],
                "p/crm/tenants/acme/a.cmap",
                Place::Top,
            ),
            (
                "the first root that holds the file decides",
                &["p/tenants/acme", "p"],
                "p/tenants/acme/a.cmap",
                tenant("p/tenants/acme", "acme"),
            ),
            (
                "a tenant folder named",
                &["p/tenants/acme"],
                "p/tenants/acme/sub/a.cmap",
                tenant("p/tenants/acme", "acme"),
            ),
            (
                "a file of a tenant folder named",
                &["p/tenants/acme/sub/a.cmap"],
                "p/tenants/acme/sub/a.cmap",
                tenant("p/tenants/acme", "acme"),
            ),
            (
                "tenants/ named",
                &["p/tenants"],
                "p/tenants/acme/a.cmap",
                tenant("p/tenants/acme", "acme"),
            ),
            (
                "a loose file named",
                &["p/tenants/a.cmap"],
                "p/tenants/a.cmap",
                loose("p/tenants"),
            ),
            (
                "dot segments of a named path resolved",
                &["p/tenants/acme/../globex/a.cmap"],
                "p/tenants/acme/../globex/a.cmap",
                tenant("p/tenants/acme/../globex", "globex"),
            ),
        ];
        for (what, roots, file, want) in cases {
            let roots: Vec<PathBuf> = roots.iter().map(PathBuf::from).collect();
            assert_eq!(&place(&roots, Path::new(file)), want, "{what}");
        }
    }

    #[test]
    fn a_named_pipe_in_a_directory_is_unreadable_not_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        touch(&dir.path().join("p/a.cmap"));
        let fifo = std::ffi::CString::new(
            dir.path()
                .join("p/pipe.cmap")
                .into_os_string()
                .into_encoded_bytes(),
        )
        .expect("a path without NUL");
        // SAFETY: `fifo` is a valid NUL-terminated path for the call's duration.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0, "mkfifo");
        let (files, unreadable) = show(dir.path(), &["p"]);
        assert_eq!(files, ["p/a.cmap"]);
        assert_eq!(unreadable, ["p/pipe.cmap"]);
    }

    #[test]
    fn a_missing_named_path_is_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("nope");
        let e = walk(std::slice::from_ref(&missing)).expect_err("missing");
        assert_eq!(e.path, missing);
        assert!(e.to_string().starts_with("cannot read `"), "{e}");
    }
}
