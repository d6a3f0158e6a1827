//! A closed stdout or stderr (`cmap … | head -1`) is not an error: every command that
//! writes ends quietly, with no panic text, and with the exit code its work gives
//! (README.md, "Exit codes"). SIGPIPE stays ignored (Rust's default), so a write to a
//! closed pipe comes back as `BrokenPipe`, which each command must take as the end.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::root;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).expect("copy");
        }
    }
}

fn cmap(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cmap"));
    cmd.current_dir(dir)
        .args(["--color", "never"])
        .env("NO_COLOR", "1")
        .env_remove("CMAP_STDLIB")
        .env_remove("CMAP_DATA")
        .env_remove("CMAP_PIPELINES")
        .stdin(Stdio::null());
    cmd
}

/// The demo workspace with both file tasks run once (shards, executions, logs, dead
/// letters exist), plus `big.jsonl` (its mapped output fills a pipe several times)
/// and an unformatted file; the id of the contacts execution.
fn workspace() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_dir(
        &root().join("pipelines/demo"),
        &dir.path().join("pipelines/demo"),
    );
    let mut big = String::new();
    for i in 0..3000 {
        big.push_str(&format!(
            "{{\"Id\":\"003B{i:08}\",\"IsDeleted\":false,\"FirstName\":\"Person\",\"LastName\":\"Number {i}\",\"Email\":\"p{i}@example.com\",\"AccountId\":\"001D{i}\"}}\n"
        ));
    }
    std::fs::write(dir.path().join("big.jsonl"), big).expect("write");
    std::fs::write(
        dir.path().join("ugly.cmap"),
        "schema   ugly {source salesforce.Contact target c_contact dedupe external_id(Id) name=LastName}",
    )
    .expect("write");
    for task in ["demo-companies", "demo-contacts"] {
        let out = cmap(dir.path())
            .args(["run", task])
            .output()
            .expect("cmap run");
        assert!(out.status.success(), "{task}: {out:?}");
    }
    let out = cmap(dir.path())
        .args(["executions", "--format", "json", "--task", "demo-contacts"])
        .output()
        .expect("cmap executions");
    let first = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(str::to_string)
        .expect("one execution");
    let v: serde_json::Value = serde_json::from_str(&first).expect("json");
    let id = v["id"].as_str().expect("id").to_string();
    (dir, id)
}

/// Every command that writes to stdout, and the code it ends with when its stdout is
/// closed before it writes anything: the code of its work (`fmt --check` found an
/// unformatted file, `check` of a file with errors), else 0.
fn commands(execution: &str) -> Vec<(Vec<String>, i32)> {
    let seed = root().join("tests/data/seed/sf-contact-daily.json");
    let seed = seed.to_str().expect("utf-8 path");
    let cases: Vec<(Vec<&str>, i32)> = vec![
        (vec!["shards"], 0),
        (vec!["executions"], 0),
        (vec!["executions", "--format", "json"], 0),
        (vec!["logs", execution], 0),
        (vec!["logs", execution, "--format", "json"], 0),
        (
            vec![
                "map",
                "pipelines/demo/demo.cmap",
                "--schema",
                "demo-contact",
                "--input",
                "big.jsonl",
            ],
            0,
        ),
        (vec!["check", "--format", "json"], 0),
        (vec!["export", "pipelines/demo/demo.cmap"], 0),
        (vec!["import", seed], 0),
        (vec!["test"], 0),
        (vec!["fmt", "--check", "ugly.cmap"], 1),
        (vec!["schedule", "demo-contacts"], 0),
        (vec!["connections"], 0),
        (vec!["connections", "test", "demo-accounts-file"], 0),
        (vec!["run", "demo-companies", "--format", "json"], 0),
        (vec!["replay", execution, "--format", "json"], 0),
        (vec!["tenants", "list"], 0),
        (vec!["tenants", "list", "--format", "json"], 0),
        (vec!["users", "list"], 0),
    ];
    cases
        .into_iter()
        .map(|(args, code)| (args.into_iter().map(str::to_string).collect(), code))
        .collect()
}

/// A pipe whose read end is already closed: every write to it fails with EPIPE.
pub(crate) fn closed_pipe() -> Stdio {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills `fds` with two new descriptors (close-on-exec, so no other
    // child started meanwhile inherits them).
    let made = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(made, 0, "pipe2");
    // SAFETY: both descriptors were just created and are owned here alone.
    let (reader, writer) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(reader);
    Stdio::from(writer)
}

// One test, one workspace: building it (three `cmap run`s) is the slow part.
#[test]
fn a_closed_stdout_or_stderr_ends_every_command_quietly() {
    let (dir, execution) = workspace();
    closed_stdout(dir.path(), &execution);
    closed_stderr(dir.path(), &execution);
    head_takes_one_line(dir.path());
}

fn closed_stdout(dir: &Path, execution: &str) {
    // Commands that open the data directory run one at a time (the store is locked by
    // its user); the others all at once.
    let uses_store = |args: &[String]| {
        matches!(
            args[0].as_str(),
            "shards"
                | "executions"
                | "logs"
                | "connections"
                | "run"
                | "replay"
                | "tenants"
                | "users"
        )
    };
    let run = |args: &[String]| {
        cmap(dir)
            .args(args)
            .stdout(closed_pipe())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cmap runs")
    };
    let cases = commands(execution);
    let mut children = Vec::new();
    for (args, want) in cases.iter().filter(|(a, _)| !uses_store(a)) {
        children.push((args, *want, run(args)));
    }
    let mut outputs = Vec::new();
    for (args, want) in cases.iter().filter(|(a, _)| uses_store(a)) {
        outputs.push((args, *want, run(args).wait_with_output().expect("exits")));
    }
    for (args, want, child) in children {
        outputs.push((args, want, child.wait_with_output().expect("exits")));
    }
    let mut wrong = Vec::new();
    for (args, want, out) in outputs {
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Killed by a signal: no code at all.
        let code = out.status.code();
        if code != Some(want) || stderr.contains("panicked") || stderr.contains("Broken pipe") {
            wrong.push(format!(
                "cmap {}: {:?}\n{stderr}",
                args.join(" "),
                out.status
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The commands that talk on stderr: diagnostics, progress, summaries.
fn closed_stderr(dir: &Path, execution: &str) {
    let mut wrong = Vec::new();
    let cases: [(&[&str], i32); 5] = [
        (&["run", "demo-contacts"], 0),
        (&["check", "ugly.cmap", "pipelines"], 0),
        (&["fmt", "--check", "ugly.cmap"], 1),
        (
            &[
                "map",
                "pipelines/demo/demo.cmap",
                "--schema",
                "demo-contact",
                "--input",
                "big.jsonl",
            ],
            0,
        ),
        (&["replay", execution], 0),
    ];
    for (args, want) in cases {
        let out = cmap(dir)
            .args(args)
            .stdout(Stdio::null())
            .stderr(closed_pipe())
            .output()
            .expect("cmap runs");
        if out.status.code() != Some(want) {
            wrong.push(format!("cmap {}: {:?}", args.join(" "), out.status));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// `cmap map … | head -1` and `cmap shards | head -1`: one line read, then the reader
/// goes away while the command is still writing.
fn head_takes_one_line(dir: &Path) {
    // Both outputs outgrow a pipe's buffer (64 KiB) and what one read takes from it
    // (8 KiB), so the command is still writing when the reader goes.
    let shards = cmap(dir).arg("shards").output().expect("shards");
    assert!(shards.stdout.len() > 96 << 10, "{}", shards.stdout.len());
    let out = cmap(dir)
        .args([
            "map",
            "pipelines/demo/demo.cmap",
            "--schema",
            "demo-contact",
            "--input",
            "big.jsonl",
        ])
        .output()
        .expect("map");
    assert!(out.stdout.len() > 1 << 18, "the output outgrows a pipe");
    for args in [
        vec![
            "map",
            "pipelines/demo/demo.cmap",
            "--schema",
            "demo-contact",
            "--input",
            "big.jsonl",
        ],
        vec!["shards"],
    ] {
        let mut child = cmap(dir)
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cmap runs");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("one line");
        assert!(line.starts_with('{'), "{args:?}: {line}");
        drop(stdout);
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut stderr)
            .expect("stderr");
        let status = child.wait().expect("exits");
        assert_eq!(status.code(), Some(0), "{args:?}: {status:?}\n{stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// Nothing in the crate prints with `println!`/`eprintln!`/`print!`/`eprint!`: they panic
/// when the reader of stdout or stderr has gone away (`cmap tokens generate` did). Output
/// goes through `cli::out` (`outln!`, `errln!`), logs through `tracing`.
#[test]
fn no_code_prints_with_the_panicking_macros() {
    let mut files = Vec::new();
    let mut dirs = vec![root().join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        // Unit tests may print; they sit after `#[cfg(test)]`.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (n, line) in code.lines().enumerate() {
            let line = line.trim_start();
            if line.starts_with("//") {
                continue;
            }
            for mac in ["println!(", "eprintln!(", "print!(", "eprint!("] {
                let hit = line.match_indices(mac).any(|(at, _)| {
                    // `errprint!(` and `outprint!(` are ours; `print!` must stand alone.
                    !line[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                });
                if hit {
                    found.push(format!("{}:{}: {line}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "panicking print macros:\n{}",
        found.join("\n")
    );
}
