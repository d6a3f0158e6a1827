//! The integration catalogue: stdlib definitions layered with stored entries, who sees
//! what, and the check of a submitted definition (the same diagnostics as `cmap check`).

use cmap::compile::{self, ir};
use cmap::engine::catalogue::{check_definition, Catalogue, DefinitionChecker, Origin};
use cmap::span::{SourceKind, SourceMap};
use cmap::store::{IntegrationDefEntry, Role, SledStore, Store};
use serde_json::Value;

use crate::support::{cmap_in, golden};

/// The embedded standard library, compiled.
fn stdlib_program() -> ir::Program {
    let mut sources = SourceMap::default();
    let docs: Vec<_> = cmap::stdlib::EMBEDDED
        .iter()
        .map(|(name, text)| {
            let id = sources.add(format!("<stdlib>/{name}").into(), text.to_string());
            let (doc, diags) = cmap::syntax::parse(id, sources.get(id));
            assert!(diags.is_empty(), "{name}: {diags:?}");
            doc
        })
        .collect();
    let options = compile::Options {
        stdlib_docs: docs.len(),
        ..compile::Options::default()
    };
    let compiled = compile::compile(&docs, &options);
    compiled.program.expect("the stdlib checks")
}

fn ids(list: &[&ir::IntegrationDefinition]) -> Vec<String> {
    list.iter().map(|d| d.id.clone()).collect()
}

fn store() -> (tempfile::TempDir, SledStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SledStore::open(dir.path()).expect("open store");
    (dir, store)
}

#[test]
fn the_stdlib_catalogue_in_the_spec_shape() {
    let program = stdlib_program();
    let (_dir, store) = store();
    let catalogue =
        Catalogue::build(&program, &store, DefinitionChecker::embedded()).expect("build");
    let all = catalogue.list(Role::SuperAdmin);
    assert_eq!(
        ids(&all),
        [
            "anthropic",
            "azure-openai",
            "google-ai",
            "google-news",
            "hubspot",
            "openai",
            "rest",
            "rss",
            "salesforce"
        ]
    );
    // Every AI provider as the spec's "AI Provider Integrations" describes them.
    for d in all
        .iter()
        .filter(|d| d.category == ir::IntegrationCategory::AiProvider)
    {
        assert_eq!(d.connection_scope, ir::IntegrationScope::Both, "{}", d.id);
        assert_eq!(d.auth_type, ir::IntegrationAuthType::ApiKey, "{}", d.id);
        assert_eq!(d.capabilities, [ir::Capability::Read], "{}", d.id);
        assert!(d.available_entities.is_empty(), "{}", d.id);
    }
    let json = serde_json::to_string_pretty(&all).expect("serialises");
    golden("catalogue/stdlib.json", &format!("{json}\n"));
}

#[test]
fn superadmin_only_definitions_exist_only_for_super_admins() {
    let program = stdlib_program();
    let (_dir, store) = store();
    let catalogue =
        Catalogue::build(&program, &store, DefinitionChecker::embedded()).expect("build");
    // (role, id, visible)
    let cases = [
        (Role::User, "salesforce", true),
        (Role::TenantAdmin, "salesforce", true),
        (Role::SuperAdmin, "salesforce", true),
        (Role::User, "google-news", false),
        (Role::TenantAdmin, "google-news", false),
        (Role::SuperAdmin, "google-news", true),
        (Role::SuperAdmin, "nope", false),
    ];
    for (role, id, visible) in cases {
        assert_eq!(catalogue.get(id, role).is_some(), visible, "{role:?} {id}");
        assert_eq!(
            ids(&catalogue.list(role)).contains(&id.to_string()),
            visible,
            "{role:?} lists {id}"
        );
    }
}

const ACME: &str = r##"integration acme "Acme CRM" {
  description "Contacts from Acme"
  category crm
  icon "acme"
  color "#123456"
  capabilities read
  directions pull
  auth api_key
  entities salesforce.Contact
  version "1.0.0"
}
"##;

#[test]
fn stored_entries_override_add_and_disable_stdlib_definitions() {
    let program = stdlib_program();
    let (_dir, store) = store();
    let def = |text: &str| {
        let accepted = check_definition(text, SourceKind::Cmap)
            .unwrap_or_else(|r| panic!("checks: {}", r.to_json()));
        IntegrationDefEntry::Definition {
            seed_json: accepted.seed_json,
        }
    };
    // An override: Salesforce becomes a premium, super-admin-only integration.
    let stdlib_sf = program
        .integration("salesforce")
        .expect("stdlib salesforce");
    let mut sf_json = serde_json::to_value(stdlib_sf.as_ref()).expect("json");
    sf_json["visibility"] = "superadmin_only".into();
    sf_json["isPremium"] = true.into();
    let sf = check_definition(&sf_json.to_string(), SourceKind::Json)
        .unwrap_or_else(|r| panic!("override checks: {}", r.to_json()));
    store
        .put_integration_def(
            "salesforce",
            &IntegrationDefEntry::Definition {
                seed_json: sf.seed_json,
            },
        )
        .expect("put");
    store.put_integration_def("acme", &def(ACME)).expect("put");
    store
        .put_integration_def("hubspot", &IntegrationDefEntry::Disabled)
        .expect("put");
    // Entries that cannot apply: kept in the store, left out, reported.
    store
        .put_integration_def("zzz", &IntegrationDefEntry::Disabled)
        .expect("put");
    store
        .put_integration_def("elsewhere", &def(ACME))
        .expect("put");
    let broken = r##"{"id": "gone", "displayName": "Gone", "description": "d", "category": "crm",
        "icon": "g", "color": "#000", "authType": "custom", "version": "1.0",
        "availableEntities": ["salesforce.Lead"]}"##;
    store
        .put_integration_def(
            "gone",
            &IntegrationDefEntry::Definition {
                seed_json: broken.into(),
            },
        )
        .expect("put");

    let catalogue =
        Catalogue::build(&program, &store, DefinitionChecker::embedded()).expect("build");
    let admin = ids(&catalogue.list(Role::SuperAdmin));
    assert!(admin.contains(&"acme".to_string()));
    assert!(!admin.contains(&"hubspot".to_string()), "disabled");
    let sf = catalogue
        .entry("salesforce", Role::SuperAdmin)
        .expect("override");
    assert!(sf.definition.is_premium);
    assert_eq!(
        sf.origin,
        Origin::Stored {
            version: 1,
            overrides: true
        }
    );
    assert_eq!(
        catalogue.get("salesforce", Role::TenantAdmin),
        None,
        "now superadmin_only"
    );
    assert_eq!(
        catalogue
            .entry("acme", Role::User)
            .map(|e| e.origin.clone()),
        Some(Origin::Stored {
            version: 1,
            overrides: false
        })
    );
    assert_eq!(catalogue.disabled.keys().collect::<Vec<_>>(), ["hubspot"]);
    let mut broken: Vec<(String, String)> = catalogue
        .broken
        .iter()
        .map(|b| {
            let first = &b.problems["diagnostics"][0];
            let what = first["code"].as_str().map_or_else(
                || first["message"].as_str().unwrap_or("").to_string(),
                str::to_string,
            );
            (b.id.clone(), what)
        })
        .collect();
    broken.sort();
    assert_eq!(
        broken,
        [
            (
                "elsewhere".to_string(),
                "is stored under `elsewhere` but defines `acme`".to_string()
            ),
            ("gone".to_string(), "E0904".to_string()),
            (
                "zzz".to_string(),
                "disables `zzz`, which the standard library does not define".to_string()
            ),
        ]
    );
}

/// Definitions with errors, in both formats: `check_definition` reports exactly what
/// `cmap check --format json` reports for the same text.
#[test]
fn check_definition_gives_the_diagnostics_of_check() {
    let cases: &[(&str, &str)] = &[
        (
            "definition.cmap",
            r##"integration acme "Acme" {
  description ""
  category crmm
  color "red"
  visiblity public
  auth oauth2 {
    authorizationUrl: "http://acme.example/authorize"
    tokenUrl: "https://acme.example/token"
    clientId: "id"
    clientSecret: "s3cr3t-value"
  }
  entities salesforce.Contactz
  version "1"
}
"##,
        ),
        (
            "definition.json",
            r##"{ "$kind": "integration", "id": "acme", "displayName": "Acme", "description": "d",
  "category": "crm", "icon": "a", "color": "#abc", "authType": "api_key",
  "oauthConfig": { "authorizationUrl": "https://a.example/x", "tokenUrl": "https://a.example/t",
                   "clientId": "x", "clientSecret": { "env": "ACME_SECRET" } },
  "capabilities": ["read", "reed"], "isPremium": "no", "connectionScope": "all", "version": "1.0.0",
  "extra": 1 }
"##,
        ),
    ];
    for (name, text) in cases {
        let format = if name.ends_with(".json") {
            SourceKind::Json
        } else {
            SourceKind::Cmap
        };
        let rejected = match check_definition(text, format) {
            Ok(_) => panic!("{name} checks"),
            Err(r) => r,
        };
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join(name), text).expect("write");
        let run = cmap_in(dir.path(), &["check", "--format", "json", name], None);
        assert_eq!(run.code, 1, "{name}: {}", run.stderr);
        let expected: Value = serde_json::from_str(&run.stdout).expect("check prints JSON");
        assert_eq!(rejected.to_json(), expected, "{name}");
        assert!(expected["errors"].as_u64() >= Some(5), "{name}: {expected}");
        // No secret in any encoding of the answer.
        assert!(!rejected.to_json().to_string().contains("s3cr3t-value"));
        golden(
            &format!("catalogue/{name}.rejected.json"),
            &format!(
                "{}\n",
                serde_json::to_string_pretty(&expected).expect("json")
            ),
        );
    }
}

#[test]
fn a_catalogue_entry_is_one_integration() {
    let cases: &[(SourceKind, &str, &str)] = &[
        (SourceKind::Cmap, "", "no integration definition"),
        (
            SourceKind::Cmap,
            "lookup x { \"a\" => 1 }\n",
            "a catalogue entry holds one integration definition and nothing else",
        ),
        (
            SourceKind::Json,
            "[{\"$kind\": \"lookup\", \"id\": \"x\", \"entries\": {}}]",
            "a catalogue entry holds one integration definition and nothing else",
        ),
    ];
    for (format, text, message) in cases {
        let rejected = check_definition(text, *format).expect_err("rejected");
        let messages: Vec<&str> = rejected
            .diagnostics
            .iter()
            .map(|d| d.message.as_str())
            .collect();
        assert!(messages.contains(message), "{text:?}: {messages:?}");
    }
    let two = format!("{ACME}\n{}", ACME.replace("acme", "acme-two"));
    let rejected = check_definition(&two, SourceKind::Cmap).expect_err("two");
    assert!(rejected
        .diagnostics
        .iter()
        .any(|d| d.message == "a catalogue entry holds one integration definition"));
}

#[test]
fn accepted_seed_json_checks_again_to_the_same_definition() {
    let accepted = check_definition(ACME, SourceKind::Cmap).expect("checks");
    let again = check_definition(&accepted.seed_json, SourceKind::Json).expect("checks again");
    assert_eq!(again.definition, accepted.definition);
    assert_eq!(
        accepted.definition.available_entities,
        ["salesforce.Contact"]
    );
    assert_eq!(accepted.warnings["errors"], 0);
}

/// `acme` with `tokenUrl` and `version` set, written as `.cmap`.
fn with(token_url: &str, version: &str) -> String {
    format!(
        r##"integration acme "Acme" {{
  description "d"
  category crm
  icon "a"
  color "#abc"
  auth oauth2 {{
    authorizationUrl: "https://a.example/authorize"
    tokenUrl: "{token_url}"
    clientId: env("ACME_CLIENT_ID")
    clientSecret: stored
  }}
  version "{version}"
}}
"##
    )
}

/// The codes of the errors a definition gets (empty: it checks).
fn codes(text: &str) -> Vec<String> {
    match check_definition(text, SourceKind::Cmap) {
        Ok(_) => Vec::new(),
        Err(r) => r
            .diagnostics
            .iter()
            .map(|d| d.code.as_str().to_string())
            .collect(),
    }
}

#[test]
fn oauth_urls_are_https_except_to_this_machine() {
    let cases = [
        ("https://login.example.com/token", &[][..]),
        ("http://localhost:8080/token", &[]),
        ("http://127.0.0.1:9/token", &[]),
        ("http://[::1]:9/token", &[]),
        ("http://login.example.com/token", &["E0902"]),
        ("http://10.0.0.1/token", &["E0902"]),
        ("ftp://login.example.com/token", &["E0902"]),
        ("/token", &["E0902"]),
        ("", &["E0902"]),
    ];
    for (url, want) in cases {
        assert_eq!(codes(&with(url, "1.0.0")), want, "{url}");
    }
}

#[test]
fn versions_are_semver_like() {
    let cases = [
        ("1.0.0", true),
        ("1.0", true),
        ("2.1.0-beta.1", true),
        ("1.2.3+build.5", true),
        ("1.2.3-rc1+sha", true),
        ("1", false),
        ("v1.0.0", false),
        ("01.0.0", false),
        ("1.0.0.0", false),
        ("1..0", false),
        ("1.0.0-", false),
        ("1.0 ", false),
    ];
    for (version, ok) in cases {
        let got = codes(&with("https://a.example/token", version));
        assert_eq!(got.is_empty(), ok, "{version}: {got:?}");
        if !ok {
            assert_eq!(got, ["E0905"], "{version}");
        }
    }
}

/// `cmap fmt` puts an integration's clauses in their canonical order, keeps every
/// comment, and is idempotent; the result means the same.
#[test]
fn fmt_orders_integration_clauses_and_keeps_comments() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("messy.cmap");
    std::fs::write(
        &path,
        "// header\nintegration   acme \"Acme\"{\nversion \"1.0.0\" // trailing\n  auth oauth2 {\n // the provider's\n tokenUrl: \"https://a.example/t\", authorizationUrl: \"https://a.example/a\"\nclientId: \"id\"   clientSecret: env(\"ACME_SECRET\")\n scopes: [\"a\",\"b\"]\n}\n  // before the entities\n entities salesforce.Contact,salesforce.Account\ncategory   crm\n  description \"d\" icon \"i\" color \"#abc\" premium true\n  capabilities [\"read\", \"write\"]\n}\n",
    )
    .expect("write");
    cmap_in(dir.path(), &["fmt", "messy.cmap"], None).code(0);
    let once = std::fs::read_to_string(&path).expect("read");
    golden("catalogue/fmt.cmap", &once);
    cmap_in(dir.path(), &["fmt", "--check", "messy.cmap"], None).code(0);
    cmap_in(dir.path(), &["check", "messy.cmap"], None).code(0);
}
