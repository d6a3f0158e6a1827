//! One loader: `cmap check` and the server's loader read the same trees the same way.
//! Each case builds a tree, runs `cmap check` on it (the binary) and loads it as
//! `cmap serve` does (`serve::loader::load`), and expects the same outcome from both:
//! the same files loaded, or the same errors on the same files.

use std::collections::BTreeSet;
use std::os::unix::fs::symlink;
use std::path::Path;

use crate::support::{cmap_in, root};

/// A schema that checks clean against the standard library.
const VALID: &str = "schema a {\n  source salesforce.Contact\n  target c_contact\n  dedupe external_id(Id)\n  name = LastName\n}\n";
const OTHER: &str = "schema b {\n  source salesforce.Contact\n  target c_contact\n  dedupe external_id(Id)\n  name = LastName\n}\n";

#[derive(Debug, PartialEq)]
enum Outcome {
    /// The version checks; this many pipeline files were read.
    Accepted { files: usize },
    /// The version does not check: these error codes, on these files (by name).
    Refused {
        codes: BTreeSet<String>,
        files: BTreeSet<String>,
    },
}

fn refused(codes: &[&str], files: &[&str]) -> Outcome {
    Outcome::Refused {
        codes: codes.iter().map(|c| c.to_string()).collect(),
        files: files.iter().map(|f| f.to_string()).collect(),
    }
}

struct Case {
    name: &'static str,
    /// Builds the tree under `dir` (the pipelines are `dir/p`).
    build: fn(&Path),
    /// The standard library: `None` is the embedded copy, `Some(rel)` a directory
    /// under `dir` holding a copy of the repository's `stdlib/`.
    stdlib: Option<&'static str>,
    /// The pipelines directory, under `dir`.
    pipelines: &'static str,
    expect: Outcome,
}

fn write(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("directories");
    }
    std::fs::write(path, bytes).expect("write");
}

fn copy_stdlib(to: &Path) {
    std::fs::create_dir_all(to).expect("stdlib directory");
    for entry in std::fs::read_dir(root().join("stdlib")).expect("the repository's stdlib") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "a valid file",
            build: |d| write(&d.join("p/a.cmap"), VALID.as_bytes()),
            stdlib: None,
            pipelines: "p",
            expect: Outcome::Accepted { files: 1 },
        },
        Case {
            name: "a file that is not UTF-8, beside a valid one",
            build: |d| {
                write(&d.join("p/a.cmap"), VALID.as_bytes());
                write(&d.join("p/bad.cmap"), b"schema x {\xff}");
            },
            stdlib: None,
            pipelines: "p",
            expect: refused(&["E0006"], &["bad.cmap"]),
        },
        Case {
            name: "an unreadable file: a dangling symbolic link",
            build: |d| {
                write(&d.join("p/a.cmap"), VALID.as_bytes());
                symlink("nowhere.cmap", d.join("p/gone.cmap")).expect("symlink");
            },
            stdlib: None,
            pipelines: "p",
            expect: refused(&["E0006"], &["gone.cmap"]),
        },
        Case {
            name: "an unreadable file: a symbolic link to itself",
            build: |d| {
                write(&d.join("p/a.cmap"), VALID.as_bytes());
                symlink("self.cmap", d.join("p/self.cmap")).expect("symlink");
            },
            stdlib: None,
            pipelines: "p",
            expect: refused(&["E0006"], &["self.cmap"]),
        },
        Case {
            name: "an unreadable file: a named pipe",
            build: |d| {
                write(&d.join("p/a.cmap"), VALID.as_bytes());
                let fifo = std::ffi::CString::new(
                    d.join("p/pipe.cmap").into_os_string().into_encoded_bytes(),
                )
                .expect("a path without NUL");
                // SAFETY: `fifo` is a valid NUL-terminated path for the call's duration.
                let made = unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) };
                assert_eq!(made, 0, "mkfifo");
            },
            stdlib: None,
            pipelines: "p",
            expect: refused(&["E0006"], &["pipe.cmap"]),
        },
        Case {
            name: "a symbolic link back to the root (a cycle)",
            build: |d| {
                write(&d.join("p/a.cmap"), VALID.as_bytes());
                std::fs::create_dir_all(d.join("p/sub")).expect("sub");
                symlink("..", d.join("p/sub/back")).expect("symlink");
            },
            stdlib: None,
            pipelines: "p",
            expect: Outcome::Accepted { files: 1 },
        },
        Case {
            name: "a symbolic link to a file outside the tree",
            build: |d| {
                write(&d.join("p/a.cmap"), VALID.as_bytes());
                write(&d.join("outside/b.cmap"), OTHER.as_bytes());
                symlink("../outside/b.cmap", d.join("p/link.cmap")).expect("symlink");
            },
            stdlib: None,
            pipelines: "p",
            expect: Outcome::Accepted { files: 2 },
        },
        Case {
            name: "one file reached twice (a symbolic link beside it)",
            build: |d| {
                write(&d.join("p/a.cmap"), VALID.as_bytes());
                symlink("a.cmap", d.join("p/alias.cmap")).expect("symlink");
            },
            stdlib: None,
            pipelines: "p",
            expect: Outcome::Accepted { files: 1 },
        },
        Case {
            name: "one directory reached twice (a symbolic link beside it)",
            build: |d| {
                write(&d.join("p/real/a.cmap"), VALID.as_bytes());
                symlink("real", d.join("p/again")).expect("symlink");
            },
            stdlib: None,
            pipelines: "p",
            expect: Outcome::Accepted { files: 1 },
        },
        Case {
            name: "the standard library directory named as the pipelines",
            build: |d| copy_stdlib(&d.join("std")),
            stdlib: Some("std"),
            pipelines: "std",
            expect: Outcome::Accepted {
                files: cmap::stdlib::EMBEDDED.len(),
            },
        },
        Case {
            name: "a copy of an embedded standard library file among the pipelines",
            build: |d| {
                write(&d.join("p/a.cmap"), VALID.as_bytes());
                let (_, text) = cmap::stdlib::EMBEDDED
                    .iter()
                    .find(|(name, _)| *name == "shardtypes.cmap")
                    .expect("shardtypes.cmap is embedded");
                write(&d.join("p/shardtypes.cmap"), text.as_bytes());
            },
            stdlib: None,
            pipelines: "p",
            expect: Outcome::Accepted { files: 2 },
        },
    ]
}

/// `cmap check` on the tree: exit 0 and "checked N files", or the errors of its JSON.
fn check(dir: &Path, case: &Case) -> Outcome {
    let mut args = Vec::new();
    let stdlib = case.stdlib.map(|s| dir.join(s).display().to_string());
    if let Some(s) = &stdlib {
        args.extend(["--stdlib", s.as_str()]);
    }
    let mut human = args.clone();
    human.extend(["check", case.pipelines]);
    let run = cmap_in(dir, &human, None);
    if run.code == 0 {
        let files = run
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix("checked "))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{}: no file count in\n{}", case.name, run.stderr));
        return Outcome::Accepted { files };
    }
    assert_eq!(run.code, 1, "{}: exit code\n{}", case.name, run.stderr);
    let mut json = args;
    json.extend(["check", "--format", "json", case.pipelines]);
    let run = cmap_in(dir, &json, None);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let errors: Vec<&serde_json::Value> = doc["diagnostics"]
        .as_array()
        .expect("a list")
        .iter()
        .filter(|d| d["severity"] == "error")
        .collect();
    Outcome::Refused {
        codes: errors
            .iter()
            .filter_map(|d| d["code"].as_str().map(str::to_string))
            .collect(),
        files: errors
            .iter()
            .filter_map(|d| d["file"].as_str())
            .map(file_name)
            .collect(),
    }
}

/// The server's loader on the tree.
fn serve(dir: &Path, case: &Case) -> Outcome {
    let stdlib = case.stdlib.map(|s| dir.join(s));
    match cmap::serve::loader::load(
        &dir.join(case.pipelines),
        stdlib.as_deref(),
        chrono::Utc::now(),
    ) {
        Ok(version) => Outcome::Accepted {
            files: version.files.len(),
        },
        Err(refusal) => {
            let codes = refusal
                .rendered
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| {
                    w.len() == 5
                        && w.starts_with(['E', 'W'])
                        && w[1..].bytes().all(|b| b.is_ascii_digit())
                })
                .map(str::to_string)
                .collect();
            let files = refusal
                .failing
                .iter()
                .map(|p| file_name(&p.display().to_string()))
                .collect();
            Outcome::Refused { codes, files }
        }
    }
}

fn file_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[test]
fn check_and_the_server_load_the_same_trees_the_same_way() {
    let mut failures = Vec::new();
    for case in cases() {
        let dir = tempfile::tempdir().expect("temp dir");
        (case.build)(dir.path());
        let by_check = check(dir.path(), &case);
        let by_serve = serve(dir.path(), &case);
        if by_check != case.expect || by_serve != case.expect {
            failures.push(format!(
                "{}:\n  expected {:?}\n  check    {by_check:?}\n  serve    {by_serve:?}",
                case.name, case.expect
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
