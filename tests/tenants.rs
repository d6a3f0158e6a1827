//! Tenants of pipeline files (docs/serve.md, "Tenants of pipeline files"): what `cmap
//! check` says of a layout of `tenants/ID/` folders (a table of cases, each with its
//! golden rendering under `tests/data/tenants/`), and that the folder is where a task's
//! records go: a webhook delivery, a pull run through a system-wide connection, and the
//! serve API, which shows a tenant's task to that tenant only.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cmap::compile::ir::Program;
use cmap::engine::{Delivery, Engine, Ingested, Options as EngineOptions};
use cmap::serve::server::{self, Options};
use cmap::store::identity::Role;
use cmap::store::{SledStore, Store};
use serde_json::json;

use crate::support::{api_user, cmap_in, golden};

/// Writes `files` (path under `dir`, text).
fn write(dir: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("directories");
        }
        std::fs::write(path, text).expect("write");
    }
}

const PEOPLE: &str = r#"schema people {
  source salesforce.Contact
  target c_contact
  dedupe external_id(Id)
  name = LastName
}
"#;

/// A connection of `rest` (nothing listens at port 9: nothing here runs it).
fn rest(id: &str, extra: &str) -> String {
    format!(
        "connection {id} {{\n  integration rest\n{extra}  auth none\n  settings {{ baseUrl: \"http://127.0.0.1:9\", path: \"/people\" }}\n}}\n"
    )
}

struct Case {
    name: &'static str,
    files: Vec<(&'static str, String)>,
    /// The exit code of `cmap check pipelines`.
    code: i32,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "folders_check_clean",
            files: vec![
                ("pipelines/shared.cmap", PEOPLE.to_string() + &*rest("everyone", "  scope system\n")),
                (
                    "pipelines/tenants/acme/crm.cmap",
                    rest("acme-api", "")
                        + "task acme-sync { schema people  connection acme-api }\n"
                        + "task acme-shared { schema people  connection everyone }\n",
                ),
                (
                    "pipelines/tenants/acme/eu/more.cmap",
                    "task acme-eu { schema people  connection acme-api }\n".into(),
                ),
                (
                    "pipelines/tenants/globex/crm.cmap",
                    rest("globex-api", "  tenant \"globex\"\n")
                        + "task globex-sync { schema people  connection globex-api }\n",
                ),
            ],
            code: 0,
        },
        Case {
            name: "top_level_tenant_clause_kept",
            files: vec![(
                "pipelines/acme.cmap",
                PEOPLE.to_string()
                    + &*rest("acme-api", "  tenant \"acme\"\n")
                    + "task acme-sync { schema people  connection acme-api }\n",
            )],
            code: 0,
        },
        Case {
            name: "bad_folders",
            files: vec![
                ("pipelines/shared.cmap", PEOPLE.into()),
                ("pipelines/tenants/Acme Corp/a.cmap", "task a { schema people }\n".into()),
                ("pipelines/tenants/Acme Corp/b.cmap", "task b { schema people }\n".into()),
                ("pipelines/tenants/acme_eu/c.cmap", "task c { schema people }\n".into()),
                ("pipelines/tenants/loose.cmap", "task d { schema people }\n".into()),
                ("pipelines/tenants/ok/e.cmap", "task e { schema people }\n".into()),
            ],
            code: 1,
        },
        Case {
            name: "clauses_against_the_folder",
            files: vec![
                ("pipelines/shared.cmap", rest("bad-id", "  tenant \"Acme Corp\"\n")),
                (
                    "pipelines/tenants/acme/crm.cmap",
                    rest("theirs", "  tenant \"globex\"\n")
                        + &*rest("everyone", "  scope system\n")
                        + &*rest("mine", "  tenant \"acme\"\n"),
                ),
            ],
            code: 1,
        },
        Case {
            name: "foreign_connections",
            files: vec![
                (
                    "pipelines/shared.cmap",
                    PEOPLE.to_string()
                        + &*rest("default-api", "")
                        + &*rest("everyone", "  scope system\n")
                        + "task top { schema people  connection acme-api }\n",
                ),
                (
                    "pipelines/tenants/acme/crm.cmap",
                    rest("acme-api", "")
                        + "task uses-default { schema people  connection default-api }\n"
                        + "task uses-globex { schema people  connection globex-api }\n"
                        + "task uses-system { schema people  connection everyone }\n",
                ),
                ("pipelines/tenants/globex/crm.cmap", rest("globex-api", "")),
            ],
            code: 1,
        },
        Case {
            name: "foreign_implicit_connection",
            files: vec![
                (
                    "pipelines/shared.cmap",
                    "schema contacts {\n  source salesforce.Contact\n  target c_contact\n  dedupe external_id(Id)\n  name = LastName\n}\n\nconnection sf {\n  integration salesforce\n  auth oauth2 { clientId: \"id\", clientSecret: env(\"S\"), refreshToken: stored, tokenUrl: \"https://login.salesforce.com/services/oauth2/token\" }\n}\n".to_string(),
                ),
                (
                    "pipelines/tenants/acme/sync.cmap",
                    "task contacts { schema contacts }\n".into(),
                ),
            ],
            code: 1,
        },
        Case {
            name: "foreign_schemas",
            files: vec![
                (
                    "pipelines/shared.cmap",
                    rest("everyone", "  scope system\n")
                        + "task top { schema acme-people  connection everyone }\n",
                ),
                (
                    "pipelines/tenants/acme/people.cmap",
                    PEOPLE.replace("schema people", "schema acme-people"),
                ),
                (
                    "pipelines/tenants/globex/sync.cmap",
                    "task globex-sync { schema acme-people  connection everyone }\n".into(),
                ),
            ],
            code: 1,
        },
        Case {
            name: "workspace_wide_definitions",
            files: vec![
                (
                    "pipelines/tenants/acme/defs.cmap",
                    "rates EUR { USD: 1.08 }\nlookup regions { \"FR\" => \"EMEA\" }\nshardtype c_region { name: string }\nentity rest.region { name: string }\nintegration acme-crm \"Acme CRM\" { category crm  auth api_key  scope tenant  status active  version \"1.0.0\" }\n".into(),
                ),
                (
                    "pipelines/shared.cmap",
                    "lookup shared-regions { \"FR\" => \"EMEA\" }\n".into(),
                ),
            ],
            code: 1,
        },
        Case {
            name: "duplicates_across_tenants",
            files: vec![
                ("pipelines/shared.cmap", PEOPLE.into()),
                (
                    "pipelines/tenants/acme/sync.cmap",
                    rest("api", "") + "task sync { schema people  connection api }\n",
                ),
                (
                    "pipelines/tenants/globex/sync.cmap",
                    PEOPLE.to_string()
                        + &*rest("api", "")
                        + "task sync { schema people  connection api }\n",
                ),
            ],
            code: 1,
        },
    ]
}

#[test]
fn check_reports_what_the_tenant_folders_forbid() {
    for case in cases() {
        let dir = tempfile::tempdir().expect("temp dir");
        let files: Vec<(&str, &str)> = case.files.iter().map(|(p, t)| (*p, t.as_str())).collect();
        write(dir.path(), &files);
        let run = cmap_in(dir.path(), &["check", "pipelines"], None);
        assert_eq!(
            run.code, case.code,
            "{}: exit code\n{}",
            case.name, run.stderr
        );
        golden(&format!("tenants/{}.stderr", case.name), &run.stderr);
    }
}

/// The program of the pipelines under `dir` (embedded stdlib); panics with the
/// diagnostics when it does not check.
fn program(dir: &Path) -> Program {
    let checked = cmap::workspace::check(&[dir.to_path_buf()], None).expect("walks");
    checked
        .program
        .unwrap_or_else(|| panic!("the test pipeline checks: {:#?}", checked.diagnostics))
}

const HOOK: &str = r#"schema hook-contacts {
  source salesforce.Contact
  target c_contact
  dedupe external_id(Id)
  name = Name
}

task hook { schema hook-contacts  schedule realtime token env("CMAP_TEST_WEBHOOK_TOKEN") }
"#;

#[test]
fn a_delivery_to_a_task_of_a_tenant_folder_is_stored_in_that_tenant() {
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), &[("pipelines/tenants/acme/hook.cmap", HOOK)]);
    let program = program(&dir.path().join("pipelines"));
    let task = program.task("hook").expect("task");
    assert_eq!(task.tenant, "acme");
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&dir.path().join("data")).expect("store"));
    let engine = Engine::new(store.clone(), None, EngineOptions::default());
    let delivery = Delivery {
        records: vec![json!({"Id": "c1", "Name": "Ada"})],
        event_id: Some("e1".into()),
    };
    let got = engine
        .ingest_batch(task, &program.connections, vec![delivery])
        .expect("stored");
    let [Ingested::Stored(execution)] = got.as_slice() else {
        panic!("one stored delivery: {got:?}")
    };
    assert_eq!(execution.tenant_id, "acme");
    let count = |tenant: &str| store.shards(tenant, None).count();
    assert_eq!((count("acme"), count("default")), (1, 0));
}

#[test]
fn a_run_through_a_system_connection_is_stored_in_the_tasks_tenant() {
    let dir = tempfile::tempdir().expect("temp dir");
    write(
        dir.path(),
        &[
            (
                "pipelines/shared.cmap",
                "connection people-file { integration files  scope system  auth none  settings { path: \"people.jsonl\" } }\n",
            ),
            (
                "pipelines/tenants/acme/people.cmap",
                "schema people {\n  source salesforce.Contact\n  target c_contact\n  dedupe external_id(Id)\n  name = Name\n}\ntask people { schema people  connection people-file }\n",
            ),
            (
                "pipelines/people.jsonl",
                "{\"Id\":\"p1\",\"Name\":\"P 1\"}\n{\"Id\":\"p2\",\"Name\":\"P 2\"}\n",
            ),
        ],
    );
    let run = cmap_in(
        dir.path(),
        &[
            "run",
            "people",
            "--data",
            "data",
            "--pipelines",
            "pipelines",
            "--format",
            "json",
        ],
        None,
    );
    run.code(0);
    let execution: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(execution["tenantId"], "acme", "{execution}");
    let store = SledStore::open(&dir.path().join("data")).expect("store");
    let count = |tenant: &str| store.shards(tenant, None).count();
    assert_eq!((count("acme"), count("default")), (2, 0));
}

#[test]
fn a_tenant_folders_connection_keeps_its_secrets_in_that_tenant() {
    let dir = tempfile::tempdir().expect("temp dir");
    let api = "connection acme-api {\n  integration rest\n  auth api_key { apiKey: stored }\n  settings { baseUrl: \"http://127.0.0.1:9\", path: \"/people\" }\n}\n";
    write(dir.path(), &[("pipelines/tenants/acme/api.cmap", api)]);
    let args = ["--data", "data", "--pipelines", "pipelines"];
    let set = [&["connections", "set", "acme-api", "apiKey"][..], &args].concat();
    cmap_in(dir.path(), &set, Some("k3y\n")).code(0);
    let list = [&["connections", "list"][..], &args].concat();
    let listed = cmap_in(dir.path(), &list, None);
    listed.code(0);
    assert!(listed.stdout.contains("apiKey"), "{}", listed.stdout);
    let store = SledStore::open(&dir.path().join("data")).expect("store");
    let stored = |tenant: &str| {
        store
            .connection(tenant, "acme-api")
            .expect("read")
            .is_some()
    };
    assert_eq!((stored("acme"), stored("default")), (true, false));
}

/// `cmap serve` over a tenant folder each for acme and globex: a tenant admin sees their
/// own folder's task and gets 404 for the other's; a delivery lands in the folder's
/// tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_shows_a_tenant_folders_task_to_that_tenant_only() {
    let token = crate::support::webhook_token_env();
    let dir = tempfile::tempdir().expect("temp dir");
    write(
        dir.path(),
        &[
            ("pipelines/tenants/acme/hook.cmap", HOOK),
            (
                "pipelines/tenants/globex/hook.cmap",
                &HOOK
                    .replace("hook-contacts", "globex-contacts")
                    .replace("task hook", "task globex-hook"),
            ),
        ],
    );
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&dir.path().join("data")).expect("store"));
    let acme = api_user(&*store, "admin@acme.test", Role::TenantAdmin, Some("acme"));
    let globex = api_user(
        &*store,
        "admin@globex.test",
        Role::TenantAdmin,
        Some("globex"),
    );
    let root = api_user(&*store, "root@example.com", Role::SuperAdmin, None);
    let engine = Arc::new(Engine::new(store.clone(), None, EngineOptions::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let options = Options {
        pipelines: dir.path().join("pipelines"),
        watch: false,
        ..Options::default()
    };
    let served = tokio::spawn(server::run(options, engine, listener, None, async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let mut ready = false;
    // Bounded wait for the first load.
    for _ in 0..500 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status() == 200 {
                ready = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(ready, "the server never became ready");

    let ask = |path: &str, token: &str| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(token)
            .send()
    };
    for (who, token, task, want) in [
        ("acme's admin", &acme, "hook", 200),
        ("acme's admin", &acme, "globex-hook", 404),
        ("globex's admin", &globex, "hook", 404),
        ("globex's admin", &globex, "globex-hook", 200),
    ] {
        for action in ["pause", "resume"] {
            let r = ask(&format!("/api/tasks/{task}/{action}"), token)
                .await
                .expect("answered");
            assert_eq!(r.status().as_u16(), want, "{who}: {action} {task}");
        }
    }

    // The operator's view names each task's tenant.
    let pipelines: serde_json::Value = client
        .get(format!("{base}/api/pipelines"))
        .bearer_auth(&root)
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    let tenants: Vec<(String, String)> = pipelines["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            (
                t["id"].as_str().unwrap_or_default().to_string(),
                t["tenantId"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        tenants,
        [
            ("hook".to_string(), "acme".to_string()),
            ("globex-hook".to_string(), "globex".to_string())
        ]
    );

    let r = client
        .post(format!("{base}/webhooks/hook"))
        .header("x-cmap-token", token)
        .json(&json!({"Id": "c1", "Name": "Ada"}))
        .send()
        .await
        .expect("answered");
    assert!(
        r.status().is_success(),
        "{}",
        r.text().await.unwrap_or_default()
    );
    let count = |tenant: &str| store.shards(tenant, None).count();
    assert_eq!(
        (count("acme"), count("globex"), count("default")),
        (1, 0, 0)
    );
    let _ = stop.send(());
    let _ = served.await;
}
