//! Connector settings and task config through `cmap check --format json`: each
//! diagnostic points at the offending key or value, in `.cmap` and in seed JSON alike.
//! One table: the file, the code, and the text the diagnostic's line and column point
//! at.

use serde_json::Value;

use crate::support::cmap_in;

const SCHEMA_CMAP: &str = r#"schema people {
  source rest.people
  target c_contact { create_if_missing, update_if_exists, delete_if_removed }
  dedupe external_id(id)
  name = name
  email = email
}
"#;

const SCHEMA_JSON: &str = r#"{ "$kind": "schema", "id": "people", "tenantIntegrationId": "rest",
  "source": { "entity": "people" },
  "target": { "shardTypeId": "c_contact", "createIfMissing": true, "updateIfExists": true, "deleteIfRemoved": true },
  "fieldMappings": [
    { "targetField": "name", "mappingType": "direct", "config": { "type": "direct", "sourceField": "name" } },
    { "targetField": "email", "mappingType": "direct", "config": { "type": "direct", "sourceField": "email" } }
  ],
  "deduplication": { "strategy": "external_id", "externalIdField": "id" } }"#;

fn cmap_file(settings: &str, config: &str) -> String {
    format!(
        "{SCHEMA_CMAP}\nconnection api {{\n  integration rest\n  auth none\n  settings {settings}\n}}\n\ntask people-hourly {{\n  schema people\n  connection api\n  schedule every 1 hours\n  config {config}\n}}\n"
    )
}

fn json_file(settings: &str, config: &str) -> String {
    format!(
        "[\n{SCHEMA_JSON},\n{{ \"id\": \"api\", \"integrationId\": \"rest\", \"authType\": \"none\",\n  \"settings\": {settings} }},\n{{ \"id\": \"people-hourly\", \"conversionSchemaId\": \"people\", \"connectionId\": \"api\",\n  \"schedule\": {{ \"type\": \"interval\", \"config\": {{ \"type\": \"interval\", \"interval\": 1, \"unit\": \"hours\" }} }},\n  \"config\": {config} }}\n]\n"
    )
}

/// (what, code, settings, config, the text the diagnostic points at) in both syntaxes:
/// `.cmap` reads JSON objects as they are, so both files hold the same text.
const CASES: &[(&str, &str, &str, &str, &str)] = &[
    (
        "an unknown setting: its key",
        "E0801",
        r#"{ "baseUrl": "https://api.example.com", "recordPath": "data" }"#,
        "{}",
        r#""recordPath""#,
    ),
    (
        "the issue's page size without a type: the pagination object",
        "E0805",
        r#"{ "baseUrl": "https://api.example.com", "pagination": { "pageSize": 1000 } }"#,
        "{}",
        r#"{ "pageSize": 1000 }"#,
    ),
    (
        "an option of another pagination type: its key",
        "E0806",
        r#"{ "baseUrl": "https://api.example.com", "pagination": { "type": "offset", "cursorPath": "next" } }"#,
        "{}",
        r#""cursorPath""#,
    ),
    (
        "a URL that is none: the value",
        "E0804",
        r#"{ "baseUrl": "api.example.com" }"#,
        "{}",
        r#""api.example.com""#,
    ),
    (
        "a page size out of range: the value",
        "E0803",
        r#"{ "baseUrl": "https://api.example.com", "pagination": { "type": "offset", "pageSize": 0 } }"#,
        "{}",
        "0 }",
    ),
    (
        "a closed set: the value",
        "E0110",
        r#"{ "baseUrl": "https://api.example.com" }"#,
        r#"{ "missedRuns": "sometimes" }"#,
        r#""sometimes""#,
    ),
    (
        "an unknown task key: its key",
        "E0802",
        r#"{ "baseUrl": "https://api.example.com" }"#,
        r#"{ "deleteGuard": 0.5, "recordPath": "x" }"#,
        r#""recordPath""#,
    ),
    (
        "a share out of range: the value",
        "E0803",
        r#"{ "baseUrl": "https://api.example.com" }"#,
        r#"{ "deleteGuard": 1.5 }"#,
        "1.5 }",
    ),
    (
        "a wrong type: the value",
        "E0202",
        r#"{ "baseUrl": "https://api.example.com" }"#,
        r#"{ "recordsPath": ["data"] }"#,
        r#"["data"]"#,
    ),
    (
        "a secret in the settings: the value, never repeated",
        "E0701",
        r#"{ "baseUrl": "https://api.example.com", "apiToken": "hunter2-token" }"#,
        "{}",
        r#""hunter2-token""#,
    ),
];

#[test]
fn settings_and_config_diagnostics_point_at_the_key_or_value() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (what, code, settings, config, at) in CASES {
        for (name, text) in [
            ("p.cmap", cmap_file(settings, config)),
            ("p.json", json_file(settings, config)),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, &text).expect("write");
            let run = cmap_in(dir.path(), &["check", "--format", "json", name], None);
            let doc: Value = serde_json::from_str(&run.stdout)
                .unwrap_or_else(|_| panic!("{what} ({name}): JSON expected:\n{}", run.stdout));
            let diags = doc["diagnostics"].as_array().cloned().unwrap_or_default();
            let d = diags
                .iter()
                .find(|d| d["code"] == *code)
                .unwrap_or_else(|| panic!("{what} ({name}): no {code} in {diags:#?}\n{text}"));
            // Only the case's own problem is reported.
            let errors: Vec<&Value> = diags.iter().filter(|d| d["severity"] == "error").collect();
            assert_eq!(errors.len(), 1, "{what} ({name}): {errors:#?}");
            let line = d["line"].as_u64().unwrap_or(0) as usize;
            let column = d["column"].as_u64().unwrap_or(0) as usize;
            let source_line = text.lines().nth(line.saturating_sub(1)).unwrap_or_default();
            let from: String = source_line.chars().skip(column.saturating_sub(1)).collect();
            assert!(
                from.starts_with(at),
                "{what} ({name}): {code} points at line {line} column {column}, `{from}`; expected `{at}`"
            );
            if *code == "E0701" {
                assert!(
                    !run.stdout.contains("hunter2"),
                    "{what}: the secret is repeated"
                );
            }
        }
    }
}

/// docs/sync.md lists every setting and task key a connector (or the engine) declares:
/// the declarations are the checks, so a key added to one is documented or this fails.
#[test]
fn docs_list_every_declared_key() {
    use cmap::compile::config::{declared_settings, declared_task_keys, INTEGRATIONS};
    let doc = std::fs::read_to_string(crate::support::root().join("docs/sync.md")).expect("docs");
    let connectors = doc
        .split("## Connectors")
        .nth(1)
        .expect("a Connectors section");
    let mut missing = Vec::new();
    for integration in INTEGRATIONS {
        let keys = declared_settings(integration)
            .into_iter()
            .chain(declared_task_keys(Some(integration)));
        for key in keys {
            if !connectors.contains(&format!("`{key}`")) {
                missing.push(format!("{integration}: {key}"));
            }
        }
    }
    for key in declared_task_keys(None) {
        if !connectors.contains(&format!("`{key}`")) {
            missing.push(format!("engine: {key}"));
        }
    }
    assert!(
        missing.is_empty(),
        "undocumented in docs/sync.md: {missing:?}"
    );
}
