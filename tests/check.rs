//! `cmap check`: the shipped pipelines and stdlib check clean; exit codes; JSON output.

use crate::support::{cmap, cmap_in, root};

#[test]
fn shipped_pipelines_and_stdlib_check_clean() {
    let run = cmap(&["check", "pipelines", "stdlib"], None);
    run.code(0);
    assert!(
        !run.stderr.contains("warning"),
        "warnings in shipped files:\n{}",
        run.stderr
    );
}

#[test]
fn check_defaults_to_pipelines() {
    let run = cmap(&["check"], None);
    run.code(0);
    assert!(run.stderr.contains("checked"), "{}", run.stderr);
}

#[test]
fn every_error_is_reported_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("many.cmap"),
        "schema a {\n  source salesforce.Contact\n  target c_contact\n  dedupe external_id(Id)\n  name = LastName | upcase\n  email = Email | truncate(\"x\")\n}\n\ntask t {\n  schema nope\n  schedule cron \"61 * * * *\"\n}\n",
    )
    .expect("write");
    let run = cmap_in(
        dir.path(),
        &["check", "--format", "json", "many.cmap"],
        None,
    );
    run.code(1);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let codes: Vec<&str> = doc["diagnostics"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|d| d["code"].as_str())
        .collect();
    for code in ["E0102", "E0202", "E0107", "E0401"] {
        assert!(codes.contains(&code), "{code} missing from {codes:?}");
    }
    assert_eq!(
        doc["errors"],
        codes.iter().filter(|c| c.starts_with('E')).count()
    );
}

#[test]
fn json_diagnostics_point_at_the_json_value() {
    let run = cmap(
        &[
            "check",
            "--format",
            "json",
            "tests/data/diagnostics/E0003.json",
        ],
        None,
    );
    run.code(1);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let d = doc["diagnostics"]
        .as_array()
        .expect("list")
        .iter()
        .find(|d| d["code"] == "E0003")
        .expect("an E0003");
    // `"sourceField": 42` is on line 7; the value 42 starts at its column.
    assert_eq!(d["line"], 7);
    let line =
        std::fs::read_to_string(root().join("tests/data/diagnostics/E0003.json")).expect("read");
    let text = line.lines().nth(6).expect("line 7");
    let col = text.find("42").expect("42 on line 7") + 1;
    assert_eq!(d["column"], col);
    for key in ["severity", "message", "file", "help"] {
        assert!(d.get(key).is_some(), "{key} missing");
    }
}

#[test]
fn warnings_alone_exit_zero() {
    cmap(&["check", "tests/data/diagnostics/W0501.cmap"], None).code(0);
}

#[test]
fn a_missing_path_is_a_usage_error() {
    let run = cmap(&["check", "no/such/dir"], None);
    run.code(2);
    assert!(run.stderr.contains("no/such/dir"), "{}", run.stderr);
}
