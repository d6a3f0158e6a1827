//! `cmap map`: streaming output, failures to `--errors`, exit codes, `--explain`.

use serde_json::Value;

use crate::support::{cmap, root};

const FILE: &str = "tests/data/cli/contacts.cmap";

const INPUT: &str = r#"{"Id":"1","IsDeleted":false,"FirstName":"Ada","LastName":"Lovelace","Email":"ADA@Example.com","AccountId":"001X","Unused":{"big":[1,2,3]}}
{"Id":"2","IsDeleted":true,"FirstName":"Gone","LastName":"Away","Email":"gone@example.com"}
{"Id":"3","IsDeleted":false,"FirstName":"No","LastName":"Email"}
not json at all
{"Id":4,"IsDeleted":false,"LastName":"Hopper","Email":"grace@example.com"}
"#;

fn lines(s: &str) -> Vec<Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

#[test]
fn maps_skips_and_fails_records_with_the_right_exit_code() {
    let dir = tempfile::tempdir().expect("temp dir");
    let errors = dir.path().join("errors.jsonl");
    let run = cmap(
        &[
            "map",
            FILE,
            "--schema",
            "contacts",
            "--input",
            "-",
            "--task",
            "defaultTitle=Engineer",
            "--errors",
            errors.to_str().expect("utf-8"),
        ],
        Some(INPUT),
    );
    run.code(3);
    let out = lines(&run.stdout);
    assert_eq!(out.len(), 2, "{}", run.stdout);
    assert_eq!(
        out[0],
        serde_json::json!({
            "shardTypeId": "c_contact",
            "externalId": "1",
            "structuredData": {"email": "ada@example.com", "name": "Ada Lovelace", "source": "salesforce", "title": "Engineer"},
            "relationships": [{"relationshipType": "belongs_to", "targetField": "companyId", "shardTypeId": "c_company", "externalId": "001X"}]
        })
    );
    // A numeric id is written as text; a missing first name leaves its place empty.
    assert_eq!(out[1]["externalId"], "4");
    assert_eq!(out[1]["structuredData"]["name"], " Hopper");
    assert_eq!(out[1]["relationships"], serde_json::json!([]));
    assert!(
        run.stderr
            .contains("5 records: 2 mapped, 1 skipped, 2 failed"),
        "{}",
        run.stderr
    );

    let errs = lines(&std::fs::read_to_string(&errors).expect("errors file"));
    assert_eq!(errs.len(), 2);
    assert_eq!(errs[0]["line"], 3);
    assert_eq!(errs[0]["code"], "required");
    assert_eq!(errs[0]["field"], "email");
    assert_eq!(
        errs[0]["record"]["LastName"], "Email",
        "the whole record is kept"
    );
    assert_eq!(errs[1]["line"], 4);
    assert_eq!(errs[1]["code"], "invalid_record");
}

#[test]
fn all_mapped_exits_zero_and_omits_relationships_when_the_schema_has_none() {
    let run = cmap(
        &["map", FILE, "--schema", "plain", "--input", "-"],
        Some("{\"Id\":\"9\",\"LastName\":\"Knuth\"}\n\n"),
    );
    run.code(0);
    assert_eq!(run.stdout, "{\"shardTypeId\":\"c_contact\",\"externalId\":\"9\",\"structuredData\":{\"name\":\"Knuth\"}}\n");
}

#[test]
fn explain_says_which_mapping_produced_each_field() {
    let run = cmap(
        &[
            "map",
            FILE,
            "--schema",
            "contacts",
            "--input",
            "-",
            "--explain",
        ],
        Some(INPUT.lines().next().expect("a line")),
    );
    run.code(0);
    let out = lines(&run.stdout);
    let explain = out[0]["explain"].as_object().expect("explain object");
    for field in ["email", "name", "source", "title"] {
        assert!(
            explain
                .get(field)
                .and_then(Value::as_str)
                .is_some_and(|t| !t.is_empty()),
            "no explanation for {field}: {explain:?}"
        );
    }
}

#[test]
fn failures_without_an_errors_file_are_shown_on_stderr() {
    let run = cmap(
        &["map", FILE, "--schema", "contacts", "--input", "-"],
        Some(INPUT),
    );
    run.code(3);
    assert!(run.stderr.contains("line 3: required"), "{}", run.stderr);
}

#[test]
fn usage_errors() {
    // Two schemas and no --schema.
    let run = cmap(&["map", FILE, "--input", "-"], Some(""));
    run.code(2);
    assert!(run.stderr.contains("--schema"), "{}", run.stderr);
    // Unknown schema.
    cmap(&["map", FILE, "--schema", "nope", "--input", "-"], Some("")).code(2);
    // Unreadable input.
    cmap(
        &[
            "map",
            FILE,
            "--schema",
            "plain",
            "--input",
            "no/such/file.jsonl",
        ],
        None,
    )
    .code(2);
    // Bad --task.
    cmap(
        &[
            "map", FILE, "--schema", "plain", "--input", "-", "--task", "novalue",
        ],
        Some(""),
    )
    .code(2);
}

#[test]
fn a_file_that_does_not_check_exits_one() {
    let run = cmap(
        &["map", "tests/data/diagnostics/E0102.cmap", "--input", "-"],
        Some("{}\n"),
    );
    run.code(1);
    assert!(run.stdout.is_empty());
}

#[test]
fn maps_the_generated_salesforce_records() {
    let gen = root().join("../shared/data/gen_records.py");
    if !gen.exists() {
        // The generator is shared data outside the repository; CI has it beside the clone.
        return;
    }
    let out = std::process::Command::new("python3")
        .arg(&gen)
        .arg("500")
        .output()
        .expect("python3 runs");
    let input = String::from_utf8(out.stdout).expect("utf-8");
    let run = cmap(
        &[
            "map",
            "pipelines/salesforce.cmap",
            "--schema",
            "sf-contact-to-contact",
            "--input",
            "-",
        ],
        Some(&input),
    );
    run.code(0);
    let mapped = lines(&run.stdout);
    let deleted = input
        .lines()
        .filter(|l| l.contains("\"IsDeleted\":true"))
        .count();
    assert_eq!(mapped.len(), 500 - deleted);
    assert!(mapped.iter().all(|m| !m["structuredData"]["phone"]
        .as_str()
        .unwrap_or(" ")
        .contains(' ')));
}
