//! The shipped pipelines: their tests pass, they are formatted, and `cmap test` reports
//! failures with a diff.

use crate::support::{cmap, cmap_in};

#[test]
fn shipped_pipeline_tests_pass() {
    let run = cmap(&["test"], None);
    run.code(0);
    let last = run.stdout.lines().last().unwrap_or_default().to_string();
    assert!(last.ends_with(" passed, 0 failed"), "{}", run.stdout);
    let passed: usize = last
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(passed >= 10, "expected the shipped tests to run: {last}");
}

#[test]
fn shipped_files_are_formatted() {
    cmap(&["fmt", "--check", "pipelines", "stdlib"], None).code(0);
}

#[test]
fn a_failing_test_shows_a_diff() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("t.cmap"),
        r#"schema s {
  source salesforce.Contact
  target c_contact
  dedupe external_id(Id)
  name = LastName | uppercase
  email = Email

  test "upper" {
    input { Id: "1", LastName: "Hopper", Email: "g@example.com" }
    expect { name: "Hopper", email: "g@example.com" }
  }
  test "fails on purpose" {
    input { Id: "2", LastName: "X" }
    expect skipped
  }
}
"#,
    )
    .expect("write");
    let run = cmap_in(dir.path(), &["test", "t.cmap"], None);
    run.code(1);
    assert!(
        run.stdout.contains("test s › upper ... FAILED"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("-   \"name\": \"Hopper\""),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("+   \"name\": \"HOPPER\""),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("expected the record to be skipped"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.trim_end().ends_with("0 passed, 2 failed"),
        "{}",
        run.stdout
    );
}

#[test]
fn fmt_rewrites_in_place_keeps_comments_and_is_idempotent() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("messy.cmap");
    std::fs::write(
        &path,
        "// leading comment\nschema   s   {\nsource salesforce.Contact   where IsDeleted==false\n      target c_contact\ndedupe external_id( Id )\n  name=LastName|truncate(maxLength:10) // trailing\n  // before email\n email ! = Email\n}\n",
    )
    .expect("write");
    cmap_in(dir.path(), &["fmt", "--check", "messy.cmap"], None).code(1);
    cmap_in(dir.path(), &["fmt", "messy.cmap"], None).code(0);
    let once = std::fs::read_to_string(&path).expect("read");
    for comment in ["// leading comment", "// trailing", "// before email"] {
        assert!(once.contains(comment), "{comment} lost:\n{once}");
    }
    cmap_in(dir.path(), &["fmt", "--check", "messy.cmap"], None).code(0);
    cmap_in(dir.path(), &["fmt", "messy.cmap"], None).code(0);
    assert_eq!(std::fs::read_to_string(&path).expect("read"), once);
    // And the formatted file still means the same.
    cmap_in(dir.path(), &["check", "messy.cmap"], None).code(0);
}

#[test]
fn fmt_refuses_a_file_that_does_not_parse() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("broken.cmap");
    let text = "schema s {\n  name = = LastName\n}\n";
    std::fs::write(&path, text).expect("write");
    let run = cmap_in(dir.path(), &["fmt", "broken.cmap"], None);
    run.code(1);
    assert!(run.stderr.contains("E0001"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        text,
        "a broken file must not be rewritten"
    );
}
