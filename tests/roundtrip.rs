//! `.cmap ⇄ seed JSON`: import and export keep the meaning exactly.

use std::path::PathBuf;

use serde_json::Value;

use crate::support::{cmap, cmap_in, root};

fn seed_fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("tests/data/seed"))
        .expect("tests/data/seed")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "the spec's examples are fixtures");
    files
}

#[test]
fn json_to_cmap_to_json_keeps_the_meaning() {
    for file in seed_fixtures() {
        let original: Value = serde_json::from_str(&std::fs::read_to_string(&file).expect("read"))
            .expect("fixture is JSON");
        let imported = cmap(&["import", file.to_str().expect("utf-8 path")], None);
        imported.code(0);
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("x.cmap"), &imported.stdout).expect("write");
        // Import output is already formatted.
        cmap_in(dir.path(), &["fmt", "--check", "x.cmap"], None).code(0);
        let exported = cmap_in(
            dir.path(),
            &[
                "--stdlib",
                root().join("stdlib").to_str().expect("utf-8"),
                "export",
                "x.cmap",
            ],
            None,
        );
        exported.code(0);
        let back: Value = serde_json::from_str(&exported.stdout).expect("export prints JSON");
        assert_eq!(
            back,
            original,
            "{} changed meaning through .cmap:\n{}",
            file.display(),
            imported.stdout
        );
    }
}

#[test]
fn cmap_to_json_to_cmap_keeps_the_meaning() {
    for name in [
        "pipelines/salesforce.cmap",
        "pipelines/google-news.cmap",
        "pipelines/demo/demo.cmap",
        "tests/data/connections.cmap",
        "tests/data/integrations.cmap",
    ] {
        let exported = cmap(&["export", name], None);
        exported.code(0);
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("x.json"), &exported.stdout).expect("write");
        let stdlib = root().join("stdlib");
        let stdlib = stdlib.to_str().expect("utf-8");
        let imported = cmap_in(dir.path(), &["--stdlib", stdlib, "import", "x.json"], None);
        imported.code(0);
        std::fs::write(dir.path().join("y.cmap"), &imported.stdout).expect("write");
        let again = cmap_in(dir.path(), &["--stdlib", stdlib, "export", "y.cmap"], None);
        again.code(0);
        let a: Value = serde_json::from_str(&exported.stdout).expect("JSON");
        let b: Value = serde_json::from_str(&again.stdout).expect("JSON");
        assert_eq!(
            a, b,
            "{name}: export -> import -> export changed the meaning"
        );
        // The imported file's tests still pass.
        cmap_in(dir.path(), &["--stdlib", stdlib, "test", "y.cmap"], None).code(0);
    }
}

#[test]
fn export_of_one_schema_is_one_object_and_of_many_an_array() {
    let many = cmap(&["export", "pipelines/salesforce.cmap"], None);
    many.code(0);
    assert!(serde_json::from_str::<Value>(&many.stdout)
        .expect("JSON")
        .is_array());
    let one = cmap(&["export", "tests/data/diagnostics/W0501.cmap"], None);
    one.code(0);
    assert!(serde_json::from_str::<Value>(&one.stdout)
        .expect("JSON")
        .is_object());
}

#[test]
fn the_spec_examples_as_seed_json_check_clean() {
    let run = cmap(&["check", "tests/data/seed"], None);
    run.code(0);
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
}
