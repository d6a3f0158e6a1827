//! Connector settings and task config checked at check time: one table per kind of
//! object, each case a small pipeline and what `check` says of it (every diagnostic,
//! with its line:column, label, help). `UPDATE_EXPECT=1` regenerates.

use std::fmt::Write as _;

use expect_test::{expect, Expect};

use super::super::tests::{compile_src, render};
use super::{settings_from_json, source_from_json, Settings, Source};

/// A schema of each source the cases read (the stdlib of compile's tests declares
/// `salesforce.Contact`; the others need no entity to check).
const SCHEMAS: &str = r#"entity hubspot.contacts { id: string, email?: string }
entity google-news.article { link: string, title?: string }
entity rss.item { guid: string, title?: string }
entity rest.people { id: string, email?: string }
entity files.people { id: string, email?: string }
schema sf { source salesforce.Contact target c_contact dedupe external_id(Id) email = Email }
schema sf-deleting { source salesforce.Contact target c_contact { create_if_missing, delete_if_removed } dedupe external_id(Id) email = Email }
schema hs { source hubspot.contacts target c_contact dedupe external_id(id) email = email }
schema news { source google-news.article target c_contact dedupe external_id(link) email = title name = task.industry }
schema feed { source rss.item target c_contact dedupe external_id(guid) email = title }
schema api { source rest.people target c_contact dedupe external_id(id) email = email }
schema api-deleting { source rest.people target c_contact { delete_if_removed } dedupe external_id(id) email = email }
schema file { source files.people target c_contact dedupe external_id(id) email = email }
schema scripted { source rest.people target c_contact dedupe external_id(id) email = email | custom("value + task.suffix") }
schema dynamic { source rest.people target c_contact dedupe external_id(id) email = email | custom("let k = \"suffix\"; value + task[k]") }
"#;

/// Each case on its own (after the schemas): its diagnostics, or `ok`.
fn table(cases: &[(&str, &str)], expect: Expect) {
    let mut out = String::new();
    for (name, src) in cases {
        // The case first, so that its lines are numbered from 1.
        let (map, c) = compile_src(&format!("{src}\n{SCHEMAS}"), |_| {});
        let rendered = render(&map, &c);
        let _ = writeln!(out, "## {name}");
        let mut any = false;
        for line in rendered.lines().filter(|l| !l.starts_with("program:")) {
            any = true;
            let _ = writeln!(out, "{line}");
        }
        if !any {
            let _ = writeln!(out, "ok");
        }
    }
    expect.assert_eq(&out);
}

#[test]
fn rest_settings() {
    table(
        &[
            (
                "a complete connection",
                r#"connection api { integration rest auth none settings { baseUrl: "https://api.example.com/v1", path: "/{entity}", recordsPath: "data.items", idField: "id", updatedField: "updated_at", incrementalParam: "since", pagination: { type: "offset", pageSize: 500, totalPath: "meta.total" } } }"#,
            ),
            (
                "the pagination type alone",
                r#"connection api { integration rest auth none settings { baseUrl: "https://x.example", pagination: "link" } }"#,
            ),
            (
                "a page size and no type (the issue's case)",
                r#"connection api { integration rest auth none settings { baseUrl: "https://x.example", pagination: { pageSize: 1000 } } }"#,
            ),
            (
                "a page size no parameter carries",
                r#"connection api { integration rest auth none settings { baseUrl: "https://x.example", pagination: { type: "cursor", pageSize: 100 } } }"#,
            ),
            (
                "a page size in its parameter",
                r#"connection api { integration rest auth none settings { baseUrl: "https://x.example", pagination: { type: "page", pageSize: 100, limitParam: "per_page", startPage: 0 } } }"#,
            ),
            (
                "an option of another type, a misspelt one, out of range",
                r#"connection api { integration rest auth none settings { baseUrl: "https://x.example", pagination: { type: "page", cursorPath: "next", pagesize: 10, startPage: -1 } } }"#,
            ),
            (
                "page sizes out of range",
                r#"connection a { integration rest auth none settings { baseUrl: "https://x.example", pagination: { type: "offset", pageSize: 0 } } }
connection b { integration rest auth none settings { baseUrl: "https://x.example", pagination: { type: "offset", pageSize: 20000 } } }
connection c { integration rest auth none settings { baseUrl: "https://x.example", pagination: { type: "offset", pageSize: 2.5 } } }"#,
            ),
            (
                "an unknown type",
                r#"connection api { integration rest auth none settings { baseUrl: "https://x.example", pagination: { type: "ofset" } } }"#,
            ),
            (
                "no base URL, a misspelt key",
                r#"connection api { integration rest auth none settings { recordPath: "data" } }"#,
            ),
            (
                "base URLs that are not ones",
                r#"connection a { integration rest auth none settings { baseUrl: "ftp://files.example.com" } }
connection b { integration rest auth none settings { baseUrl: "api.example.com/v1" } }
connection c { integration rest auth none settings { baseUrl: "https://x.example", recordsPath: "data..items", path: "" } }"#,
            ),
            (
                "a secret in the settings",
                r#"connection api { integration rest auth none settings { baseUrl: "https://x.example", apiToken: "hunter2" } }"#,
            ),
            (
                "a key twice, settings that are no object",
                r#"connection a { integration rest auth none settings { baseUrl: "https://x.example", baseUrl: "https://y.example" } }
connection b { integration rest auth none settings ["https://x.example"] }"#,
            ),
        ],
        expect![[r###"
            ## a complete connection
            ok
            ## the pagination type alone
            ok
            ## a page size and no type (the issue's case)
            E0805 1:98 `type` is missing from `pagination` of the settings of connection `api` [`type` is required] (add `type: "offset"` (one of `none`, `cursor`, `offset`, `page`, `link`, `next_url`), e.g. `pagination: { type: "offset", pageSize: 1000 }`)
            ## a page size no parameter carries
            E0806 1:116 `pageSize` does nothing in `pagination` of the settings of connection `api` [no query parameter carries it: this pagination sends no page size] (name the parameter the API reads the page size from, e.g. `limitParam: "per_page"`)
            ## a page size in its parameter
            ok
            ## an option of another type, a misspelt one, out of range
            E0806 1:114 `cursorPath` does nothing in `pagination` of the settings of connection `api` [an option of `cursor` pagination; this one is `page`] (remove it, or write `type: "cursor"`)
            E0801 1:134 `pagesize` is not a `pagination` option (`pagination` of the settings of connection `api`) [did you mean `pageSize`?] (write `pageSize`; as it is, nothing reads this key)
            E0803 1:159 `startPage` in `pagination` of the settings of connection `api` must be from 0 to 1000000 [this is -1] (write a value in the range, e.g. `startPage: 0`)
            ## page sizes out of range
            E0803 1:124 `pageSize` in `pagination` of the settings of connection `a` must be from 1 to 10000 records [this is 0] (write a value in the range, e.g. `pageSize: 1`)
            E0803 2:124 `pageSize` in `pagination` of the settings of connection `b` must be from 1 to 10000 records [this is 20000] (write a value in the range, e.g. `pageSize: 10000`)
            E0202 3:124 `pageSize` in `pagination` of the settings of connection `c` must be a whole number [this is a number] (write e.g. `pageSize: 1`)
            ## an unknown type
            E0110 1:106 unknown `type` value `ofset` in `pagination` of the settings of connection `api` [did you mean `offset`?] (write `type: "offset"`; `type` is one of `"none"`, `"cursor"`, `"offset"`, `"page"`, `"link"`, `"next_url"`)
            ## no base URL, a misspelt key
            E0805 1:54 `baseUrl` is missing from the settings of connection `api` [`baseUrl` is required] (add `baseUrl: "https://api.example.com/v1"`: the API's origin, where the connection's credentials go)
            E0801 1:56 `recordPath` is not a setting of the `rest` connector (the settings of connection `api`) [did you mean `recordsPath`?] (write `recordsPath`; as it is, nothing reads this key)
            ## base URLs that are not ones
            E0804 1:63 `baseUrl` in the settings of connection `a` is not a URL cmap can call [`ftp:` is not http or https] (write an absolute http(s) URL, e.g. `baseUrl: "https://api.example.com/v1"`)
            E0804 2:63 `baseUrl` in the settings of connection `b` is not a URL cmap can call [not a URL: relative URL without a base] (write an absolute http(s) URL, e.g. `baseUrl: "https://api.example.com/v1"`)
            E0804 3:97 `recordsPath` in the settings of connection `c` is not a dot path [`data..items`] (name the keys joined by dots, with nothing empty between them, e.g. `recordsPath: "data.items"`)
            E0804 3:118 `path` in the settings of connection `c` is empty [empty] (write e.g. `path: "/v1/{entity}"`, or remove the key)
            ## a secret in the settings
            E0701 1:96 `apiToken` looks like a secret and is written in plain text in `settings` [a secret value is written here] (move it into the `auth` block as `apiToken: env("API_API_TOKEN")` or `apiToken: stored` (set with `cmap connections set`), and keep the value out of the file)
            ## a key twice, settings that are no object
            E0106 1:84 `baseUrl` is given twice in the settings of connection `a` [given again here] (remove one of the two: a key has one value) {1:54 first given here}
            E0202 2:52 the settings of connection `b` must be an object [this is an array of string] (write `settings { key: value }`)
        "###]],
    );
}

#[test]
fn settings_of_the_other_connectors() {
    table(
        &[
            (
                "salesforce",
                r#"connection sf { integration salesforce auth none settings { instanceUrl: "https://acme.my.salesforce.com", apiVersion: 59 } }"#,
            ),
            (
                "salesforce, wrong",
                r#"connection sf { integration salesforce auth none settings { instanceURL: "https://acme.my.salesforce.com", apiVersion: "latest" } }
connection sf2 { integration salesforce auth none settings { instanceUrl: 42 } }"#,
            ),
            (
                "hubspot and google news",
                r#"connection hs { integration hubspot auth none settings { baseUrl: "api.hubapi.com" } }
connection news { integration google-news auth none settings { baseUrl: "https://news.example.com", region: "US" } }"#,
            ),
            (
                "rss",
                r#"connection feed { integration rss auth none settings { url: "https://example.com/feed.xml", maxResults: 5 } }"#,
            ),
            (
                "files",
                r#"connection a { integration files auth none settings { path: "people.csv", delimiter: "tab", updatedField: "modified" } }
connection b { integration files auth none settings { path: "people.jsonl", format: "xml", delimiter: ";;" } }
connection c { integration files auth none settings { path: "people.jsonl", format: "jsonl", delimiter: ";" } }
connection d { integration files auth none settings { path: "people.jsonl", modifiedSinceField: "updated" } }"#,
            ),
            (
                "an integration cmap has no connector for: only secrets are checked",
                r#"connection x { integration acme auth none settings { anything: 1, password: "hunter2" } }"#,
            ),
            (
                "a reserved id",
                r#"connection `task:hook` { integration rest auth none settings { baseUrl: "https://x.example" } }"#,
            ),
        ],
        expect![[r###"
            ## salesforce
            ok
            ## salesforce, wrong
            E0801 1:61 `instanceURL` is not a setting of the `salesforce` connector (the settings of connection `sf`) [did you mean `instanceUrl`?] (write `instanceUrl`; as it is, nothing reads this key)
            E0804 1:120 `apiVersion` in the settings of connection `sf` is not an API version like 59.0 [`latest`] (write e.g. `apiVersion: "59.0"`)
            E0202 2:75 `instanceUrl` in the settings of connection `sf2` must be a string [this is an integer] (write e.g. `instanceUrl: "https://acme.my.salesforce.com"`)
            ## hubspot and google news
            E0804 1:67 `baseUrl` in the settings of connection `hs` is not a URL cmap can call [not a URL: relative URL without a base] (write an absolute http(s) URL, e.g. `baseUrl: "https://api.hubapi.com"`)
            E0801 2:101 `region` is not a setting of the `google-news` connector (the settings of connection `news`) [nothing reads it] (the `google-news` connector's settings are `baseUrl`)
            ## rss
            E0801 1:93 `maxResults` is not a setting of the `rss` connector [a task's config key] (move it into the `config` of the tasks that read through connection `feed`)
            ## files
            E0110 2:85 unknown `format` value `xml` in the settings of connection `b` [not a `format` value] (`format` is one of `"jsonl"`, `"ndjson"`, `"csv"`)
            E0804 2:103 `delimiter` in the settings of connection `b` is not one ASCII character [`;;`] (write one character, e.g. `delimiter: ";"`, or `"tab"`)
            E0806 3:94 `delimiter` does nothing in the settings of connection `c` [a JSON-lines file has no delimiter] (remove it, or write `format: "csv"`)
            E0801 4:77 `modifiedSinceField` is not a setting of the `files` connector [a task's config key] (a connection's settings call it `updatedField`)
            ## an integration cmap has no connector for: only secrets are checked
            W0705 1:28 unknown integration `acme` [cmap has no connector for it] (use one of `salesforce`, `hubspot`, `google-news`, `rss`, `rest`, `files`; `rest` reads any JSON API)
            E0701 1:77 `password` looks like a secret and is written in plain text in `settings` [a secret value is written here] (move it into the `auth` block as `password: env("X_PASSWORD")` or `password: stored` (set with `cmap connections set`), and keep the value out of the file)
            ## a reserved id
            E0106 1:12 connection ids starting with `task:` are reserved [the data directory keeps realtime tasks' tokens under these ids] (rename the connection, e.g. `hook`)
        "###]],
    );
}

#[test]
fn engine_task_keys() {
    table(
        &[
            (
                "every engine key, where it applies",
                r#"task a { schema sf-deleting schedule every 1 hours config { deleteGuard: 0.8, missedRuns: "skip" } }
task b { schema sf schedule realtime token env("B_TOKEN") config { signatureSecretEnv: "B_SIGNING_SECRET" } }
task c { schema sf direction bidirectional schedule every 15 minutes config { conflictResolution: "newest_wins", pushChangesFrom: "lastSyncTimestamp", pullChangesFrom: "lastSyncTimestamp" } }"#,
            ),
            (
                "out of range, wrong types, unknown words",
                r#"task a { schema sf-deleting schedule every 1 hours config { deleteGuard: 1.5 } }
task b { schema sf-deleting schedule every 1 hours config { deleteGuard: "0.5", missedRuns: "sometimes" } }
task c { schema sf schedule realtime token stored config { signatureSecretEnv: "MY-SECRET" } }
task d { schema sf direction bidirectional config { conflictResolution: "newest" } }"#,
            ),
            (
                "keys that do nothing where they are",
                r#"task a { schema sf config { deleteGuard: 0.5, missedRuns: "skip", signatureSecretEnv: "S" } }
task b { schema sf config { conflictResolution: "manual", pushChangesFrom: "x" } }
task c { schema sf direction push config { pullChangesFrom: "x" } }"#,
            ),
        ],
        expect![[r###"
            ## every engine key, where it applies
            ok
            ## out of range, wrong types, unknown words
            E0803 1:74 `deleteGuard` in the config of task `a` must be from 0 to 1 [this is 1.5] (a share: the most of a shard type a full read may delete; beyond it the sweep is refused; write e.g. `deleteGuard: 0.8` for 80%)
            E0202 2:74 `deleteGuard` in the config of task `b` must be a number from 0 to 1 [this is a string] (write e.g. `deleteGuard: 0.8`)
            E0110 2:93 unknown `missedRuns` value `sometimes` in the config of task `b` [not a `missedRuns` value] (`missedRuns` is one of `"run_once"`, `"skip"`)
            E0804 3:80 `signatureSecretEnv` in the config of task `c` holds `-`, which is not a letter, a digit or `_` [`MY-SECRET`] (name a variable: letters, digits and `_`, e.g. `signatureSecretEnv: "HOOK_SIGNING_SECRET"`)
            E0110 4:73 unknown `conflictResolution` value `newest` in the config of task `d` [did you mean `newest_wins`?] (write `conflictResolution: "newest_wins"`; `conflictResolution` is one of `"newest_wins"`, `"source_wins"`, `"target_wins"`, `"manual"`)
            ## keys that do nothing where they are
            E0806 1:29 `deleteGuard` does nothing in the config of task `a` [the task's schema never deletes: its target has no `delete_if_removed`] (remove it, or add `delete_if_removed` to the schema's target flags)
            E0806 1:47 `missedRuns` does nothing in the config of task `a` [only a task on an interval or a cron misses runs] (remove it, or give the task `schedule every ...` or `schedule cron ...`)
            E0806 1:67 `signatureSecretEnv` does nothing in the config of task `a` [only a realtime task takes webhook deliveries to check signatures of] (remove it, or give the task `schedule realtime token ...`)
            E0806 2:29 `conflictResolution` does nothing in the config of task `b` [conflicts arise only in two-way sync] (remove it, or write `direction bidirectional`)
            E0806 2:59 `pushChangesFrom` does nothing in the config of task `b` [a pull task pushes nothing] (remove it, or write `direction push` or `direction bidirectional`)
            E0806 3:44 `pullChangesFrom` does nothing in the config of task `c` [a push task pulls nothing] (remove it, or write `direction pull` or `direction bidirectional`)
        "###]],
    );
}

#[test]
fn connector_task_keys() {
    table(
        &[
            (
                "salesforce",
                r#"task a { schema sf config { incrementalSync: true, modifiedSinceField: "LastModifiedDate", fields: ["Name", "Email"], lookbackSeconds: 600, includeDeleted: true } }
task b { schema sf config { incrementalSync: "yes", modifiedSinceField: "Last Modified", fields: [], lookbackSeconds: -1 } }
task c { schema sf config { fields: ["Name; DELETE FROM Contact", 3], lookbackSeconds: 99999999999 } }"#,
            ),
            (
                "hubspot",
                r#"task a { schema hs config { incrementalSync: true, modifiedSinceField: "hs_lastmodifieddate", properties: ["email"], lookbackSeconds: 60 } }
task b { schema hs config { properties: ["email"], fields: ["firstname"] } }"#,
            ),
            (
                "google news",
                r#"task a { schema news config { query: "banking", language: "en", country: "us", maxResults: 50, industry: "banking" } }
task b { schema news config { language: "english", country: "usa", maxResults: 0, industy: "banking" } }"#,
            ),
            (
                "rest: a task's own read, and what belongs elsewhere",
                r#"connection api { integration rest auth none settings { baseUrl: "https://x.example" } }
task a { schema api connection api config { path: "/v2/{entity}", recordsPath: "results", pagination: { type: "next_url", nextUrlPath: "links.next" }, modifiedSinceField: "updated" } }
task b { schema api connection api config { baseUrl: "https://y.example", incrementalSync: true, pageSize: 10 } }
task c { schema api connection api config { updatedField: "a", modifiedSinceField: "b" } }"#,
            ),
            (
                "a schema's own keys, a secret, an unknown key",
                r#"connection api { integration rest auth none settings { baseUrl: "https://x.example" } }
task a { schema scripted connection api config { suffix: "!" } }
task b { schema dynamic connection api config { anything: 1 } }
task c { schema scripted connection api config { sufix: "!", apiToken: "hunter2", colour: "red" } }"#,
            ),
            (
                "files: what only the task and its connection together say",
                r#"connection bare { integration files auth none }
connection odd { integration files auth none settings { path: "people.dat" } }
task a { schema file connection bare }
task b { schema file connection bare config { path: "people.jsonl" } }
task c { schema file connection odd }
task d { schema file connection odd config { format: "csv" } }"#,
            ),
            (
                "rss: a feed to read",
                r#"connection bare { integration rss auth none }
task a { schema feed connection bare }
task b { schema feed connection bare config { url: "https://example.com/feed.xml", maxResults: 10, incrementalSync: true } }
task c { schema feed connection bare config { url: "feed.xml" } }"#,
            ),
            (
                "config that is no object",
                r#"task a { schema sf config ["x"] }"#,
            ),
        ],
        expect![[r###"
            ## salesforce
            E0202 2:46 `incrementalSync` in the config of task `b` must be `true` or `false` [this is a string] (write e.g. `incrementalSync: true`)
            E0804 2:73 `modifiedSinceField` in the config of task `b` is not a Salesforce field or object name [`Last Modified`] (name a datetime field, e.g. `modifiedSinceField: "LastModifiedDate"`)
            E0804 2:98 `fields` in the config of task `b` is empty [no name listed] (list at least one, e.g. `fields: ["Id", "Name", "Email"]`, or remove the key for the default)
            E0803 2:119 `lookbackSeconds` in the config of task `b` must be from 0 to 315360000 seconds [this is -1] (write a value in the range, e.g. `lookbackSeconds: 0`)
            E0804 3:38 a name in `fields` of the config of task `c` is not a Salesforce field or object name [`Name; DELETE FROM Contact`] (list names such as ["Id", "Name", "Email"])
            E0202 3:67 `fields` in the config of task `c` must be an array of names (strings) [this is an integer] (write e.g. `fields: ["Id", "Name", "Email"]`)
            E0803 3:88 `lookbackSeconds` in the config of task `c` must be from 0 to 315360000 seconds [this is 99999999999] (write a value in the range, e.g. `lookbackSeconds: 315360000`)
            ## hubspot
            E0806 2:52 `fields` and `properties` are both given in the config of task `b` [`fields` is another name for `properties`] (keep one list: `properties: [..]`)
            ## google news
            E0804 2:41 `language` in the config of task `b` is not a language code [`english`] (write a language code, e.g. `language: "en"` or `"pt-BR"`)
            E0804 2:61 `country` in the config of task `b` is not a two-letter country code [`usa`] (write an ISO 3166 code, e.g. `country: "US"`)
            E0803 2:80 `maxResults` in the config of task `b` must be from 1 to 100000 records [this is 0] (write a value in the range, e.g. `maxResults: 1`)
            E0802 2:83 task `b` does not use `industy` [did you mean `industry`?] (write `industry`; as it is, nothing reads this key)
            ## rest: a task's own read, and what belongs elsewhere
            E0806 3:45 `baseUrl` does nothing in the config of task `b` [the API's base URL belongs to the connection (its credentials go there)] (set `baseUrl` in the connection's settings; a task may set `path`)
            E0802 3:75 task `b` does not use `incrementalSync` [the connector does not read it] (this connector reads incrementally whenever `updatedField` names the records' modification time (in the connection's settings or the task's config))
            E0802 3:98 task `b` does not use `pageSize` [the connector does not read it] (the page size is `pagination: { pageSize: N }`)
            E0806 4:64 `modifiedSinceField` does nothing in the config of task `c` [`updatedField` is given too, and says the same] (keep one of the two)
            ## a schema's own keys, a secret, an unknown key
            E0802 4:50 task `c` does not use `sufix` [did you mean `suffix`?] (write `suffix`; as it is, nothing reads this key)
            E0701 4:72 `apiToken` looks like a secret and is written in plain text in the config of task `c` [a secret value is written here] (pipeline files are committed and shared: keep secrets in a connection's `auth` block, as `env("VAR")` or `stored`, and remove the value from the file's history)
            E0802 4:83 task `c` does not use `colour` [neither the engine, its connector nor its schema reads it] (the `rest` connector reads `path`, `recordsPath`, `pagination`, `idField`, `updatedField`, `modifiedSinceField`, `incrementalParam`; the engine reads `deleteGuard`, `missedRuns`, `signatureSecretEnv`, `conflictResolution`, `pushChangesFrom`, `pullChangesFrom`; a schema reads its own keys as `{{task.colour}}`)
            ## files: what only the task and its connection together say
            E0805 3:6 task `a` names no file to read [neither connection `bare` nor the task's config gives `path`] (add `path: "data/{entity}.jsonl"` to the settings of connection `bare` (or to the task's config))
            E0805 5:6 task `c` reads a file of no known format [cannot tell the format of `people.dat` from its name] (add `format: "jsonl"` or `format: "csv"` to the settings of connection `odd` (or to the task's config))
            ## rss: a feed to read
            E0805 2:6 task `a` names no feed to read [neither connection `bare` nor the task's config gives `url`] (add `url: "https://example.com/feed.xml"` to the settings of connection `bare` (or to the task's config))
            E0804 4:52 `url` in the config of task `c` is not a URL cmap can call [not a URL: relative URL without a base] (write an absolute http(s) URL, e.g. `url: "https://example.com/feed.xml"`)
            ## config that is no object
            E0202 1:27 the config of task `a` must be an object [this is an array of string] (write `config { key: value }`)
        "###]],
    );
}

/// The typed config lands in the IR: defaults applied, overrides kept apart.
#[test]
fn the_ir_holds_typed_config() {
    let src = format!(
        "{SCHEMAS}{}",
        r#"connection api { integration rest auth none settings { baseUrl: "https://x.example/v1", pagination: { type: "offset", pageSize: 250 } } }
task t { schema api-deleting connection api schedule every 1 hours config { deleteGuard: 0.25, missedRuns: "skip", recordsPath: "data" } }
task n { schema news config { query: "q", country: "de", industry: "x" } }
"#
    );
    let (_, c) = compile_src(&src, |_| {});
    let program = c.program.unwrap_or_else(|| panic!("{:#?}", c.diagnostics));
    let t = program.task("t").map(|t| t.config.clone());
    let n = program.task("n").map(|t| t.config.clone());
    let api = program.connection("api").map(|c| c.settings.clone());
    expect![[r#"
        (
            Some(
                Rest(
                    Settings {
                        base_url: Url {
                            scheme: "https",
                            cannot_be_a_base: false,
                            username: "",
                            password: None,
                            host: Some(
                                Domain(
                                    "x.example",
                                ),
                            ),
                            port: None,
                            path: "/v1",
                            query: None,
                            fragment: None,
                        },
                        read: Read {
                            path: None,
                            records_path: None,
                            paging: Some(
                                Paging {
                                    kind: Offset {
                                        param: "offset",
                                    },
                                    limit_param: Some(
                                        "limit",
                                    ),
                                    page_size: Some(
                                        250,
                                    ),
                                    total_path: None,
                                },
                            ),
                            id_field: None,
                            updated_field: None,
                            incremental_param: None,
                        },
                    },
                ),
            ),
            Some(
                TaskConfig {
                    engine: EngineConfig {
                        delete_guard: Some(
                            0.25,
                        ),
                        missed_runs: Skip,
                        signature_secret_env: None,
                        conflict_resolution: None,
                        push_changes_from: None,
                        pull_changes_from: None,
                    },
                    source: Rest(
                        Read {
                            path: None,
                            records_path: Some(
                                "data",
                            ),
                            paging: None,
                            id_field: None,
                            updated_field: None,
                            incremental_param: None,
                        },
                    ),
                    values: {
                        "deleteGuard": Number(0.25),
                        "missedRuns": String("skip"),
                        "recordsPath": String("data"),
                    },
                },
            ),
            Some(
                TaskConfig {
                    engine: EngineConfig {
                        delete_guard: None,
                        missed_runs: RunOnce,
                        signature_secret_env: None,
                        conflict_resolution: None,
                        push_changes_from: None,
                        pull_changes_from: None,
                    },
                    source: GoogleNews(
                        NewsQuery {
                            query: Some(
                                "q",
                            ),
                            language: "en",
                            country: "DE",
                            max_results: None,
                            incremental: false,
                        },
                    ),
                    values: {
                        "query": String("q"),
                        "country": String("de"),
                        "industry": String("x"),
                    },
                },
            ),
        )
    "#]]
    .assert_debug_eq(&(api, t, n));
}

#[test]
fn settings_and_sources_from_json_read_as_check_reads() {
    let ok = settings_from_json(
        "rest",
        &serde_json::json!({"baseUrl": "https://x.example", "pagination": {"type": "cursor"}}),
    );
    assert!(matches!(ok, Ok(Settings::Rest(_))), "{ok:?}");
    let bad = settings_from_json("rest", &serde_json::json!({"pagination": {"pageSize": 10}}));
    expect![[r#"
        Err(
            "`baseUrl` is missing from the settings\n`type` is missing from `pagination` of the settings",
        )
    "#]]
    .assert_debug_eq(&bad);
    let source = source_from_json(
        "google-news",
        &serde_json::json!({"query": "x", "maxResult": 3}),
    );
    expect![[r#"
        Err(
            "`maxResult` is not a task config key of the `google-news` connector (the task's config)",
        )
    "#]]
    .assert_debug_eq(&source);
    assert!(matches!(
        source_from_json("salesforce", &serde_json::json!({})),
        Ok(Source::Salesforce(_))
    ));
}
