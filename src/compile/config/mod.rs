//! Connector settings and task config, typed at check time.
//!
//! Each connector declares what it reads in one file here, the struct beside the code
//! that reads it from the pipeline (`salesforce`, `hubspot`, `rss` for Google News and
//! feeds, `rest`, `files`); the engine and the server declare theirs in `engine`. A
//! connection's `settings` and a task's `config` are read against those declarations
//! ([`keys::Keys`]): every value is checked (type, range, closed set, URL, variable
//! name) with a diagnostic at the key or the value, and a key nothing declares is an
//! error with a did-you-mean (E0801, E0802). What comes out is the typed
//! [`Settings`] of an [`ir::Connection`](super::ir::Connection) and the
//! [`TaskConfig`] of an [`ir::Task`](super::ir::Task): connectors, the engine and the
//! server read those, never a JSON map, so check and runtime cannot disagree about a
//! key.
//!
//! A task's own keys, those a schema reads through `{{task.KEY}}` (or `task.KEY` in a
//! `custom` script), are allowed too; they are kept, with every other key, in
//! [`TaskConfig::values`] for the runtime.

pub mod engine;
pub mod files;
pub mod hubspot;
mod keys;
pub mod rest;
pub mod rss;
pub mod salesforce;

#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

pub use engine::{ConflictResolution, EngineConfig, MissedRuns};
pub use keys::{env_name_problem, parse_url};

use self::keys::Keys;
use super::ir::{Direction, Schedule};
use super::Cx;
use crate::diagnostics::{did_you_mean, Code, Diagnostic};
use crate::syntax::ast::{self, Span, Tree};

/// A connection's settings, typed by its connector.
// The REST settings are the largest by far; there is one value per connection, built
// once per load: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Settings {
    Salesforce(salesforce::Settings),
    HubSpot(hubspot::Settings),
    GoogleNews(rss::NewsSettings),
    Rss(rss::FeedSettings),
    Rest(rest::Settings),
    Files(files::Read),
    /// An integration cmap has no connector for (W0705): nothing can read through it.
    None,
}

/// What a task's config says to the connector it reads through.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    Salesforce(salesforce::Query),
    HubSpot(hubspot::Query),
    GoogleNews(rss::NewsQuery),
    Rss(rss::FeedQuery),
    Rest(rest::Read),
    Files(files::Read),
    /// The task reads through no connector cmap has (its integration is unknown, or it
    /// names none): it sets no connector key.
    None,
}

/// A task's config, typed.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskConfig {
    /// The engine's and the server's keys.
    pub engine: EngineConfig,
    /// The connector's keys.
    pub source: Source,
    /// Every key as written: what `{{task.KEY}}` and a `custom` script's `task` read.
    pub values: Map<String, Value>,
}

impl Default for TaskConfig {
    fn default() -> TaskConfig {
        TaskConfig {
            engine: EngineConfig {
                delete_guard: None,
                missed_runs: MissedRuns::RunOnce,
                signature_secret_env: None,
                conflict_resolution: None,
                push_changes_from: None,
                pull_changes_from: None,
            },
            source: Source::None,
            values: Map::new(),
        }
    }
}

/// The integrations cmap has a connector for.
pub const INTEGRATIONS: &[&str] = &[
    "salesforce",
    "hubspot",
    "google-news",
    "rss",
    "rest",
    "files",
];

/// The settings of an `integration` connection, read from a JSON object exactly as
/// `check` reads a pipeline's (tools and tests build requests with it). `Err`: the
/// messages of the diagnostics, one per line.
pub fn settings_from_json(integration: &str, value: &Value) -> Result<Settings, String> {
    let tree = Tree::from_value(value, Span::default());
    let mut k = Keys::of(
        Some(&tree),
        "the settings".into(),
        Span::default(),
        "settings",
    );
    k.id = "connection".into();
    let settings = read_settings(&mut k, Some(integration));
    unknown(
        &mut k,
        &format!("a setting of the `{integration}` connector"),
        &format!("the `{integration}` connector's settings are"),
    );
    verdict(k, settings)
}

/// What a task's config says to the `integration` connector, read from a JSON object
/// of the connector's keys as `check` reads them. `Err`: the diagnostics' messages.
pub fn source_from_json(integration: &str, value: &Value) -> Result<Source, String> {
    let tree = Tree::from_value(value, Span::default());
    let mut k = Keys::of(
        Some(&tree),
        "the task's config".into(),
        Span::default(),
        "config",
    );
    k.id = "task".into();
    let source = read_source(&mut k, Some(integration));
    unknown(
        &mut k,
        &format!("a task config key of the `{integration}` connector"),
        &format!("the `{integration}` connector's task config keys are"),
    );
    verdict(k, Some(source))
}

fn verdict<T>(k: Keys<'_>, value: Option<T>) -> Result<T, String> {
    let errors: Vec<String> = k
        .diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.message.clone())
        .collect();
    match value {
        Some(v) if errors.is_empty() => Ok(v),
        _ => Err(errors.join("\n")),
    }
}

/// Reads `settings` of connection `id` against its integration's connector. `None` when
/// an error was reported.
pub(super) fn settings(
    cx: &mut Cx<'_>,
    id: &str,
    integration: Option<&str>,
    tree: Option<&Tree>,
    at: Span,
) -> Option<Settings> {
    let mut k = Keys::of(
        tree,
        format!("the settings of connection `{id}`"),
        at,
        "settings",
    );
    k.id = id.to_string();
    let settings = read_settings(&mut k, integration);
    match integration.filter(|i| INTEGRATIONS.contains(i)) {
        Some(i) => {
            // A task's key written in the connection: say where it goes.
            let task_keys = declared_task_keys(Some(i));
            let settings_keys = k.declared().to_vec();
            for (key, _) in k.leftovers() {
                if task_keys.contains(&key.node.as_str()) {
                    let help = if key.node == "modifiedSinceField"
                        && settings_keys.contains(&"updatedField")
                    {
                        "a connection's settings call it `updatedField`".to_string()
                    } else {
                        format!(
                            "move it into the `config` of the tasks that read through connection `{id}`"
                        )
                    };
                    let d = Diagnostic::new(
                        Code::UnknownSetting,
                        key.span,
                        format!("`{}` is not a setting of the `{i}` connector", key.node),
                    )
                    .with_label("a task's config key")
                    .with_help(help);
                    k.take(&key.node);
                    k.error(d);
                }
            }
            unknown(
                &mut k,
                &format!("a setting of the `{i}` connector"),
                &format!("the `{i}` connector's settings are"),
            );
        }
        // No connector to hold the keys against (W0705 says so); secrets still count.
        None => secrets_only(&mut k),
    }
    let ok = k.ok;
    for d in k.diags {
        cx.push(d);
    }
    ok.then_some(settings).flatten()
}

fn read_settings(k: &mut Keys<'_>, integration: Option<&str>) -> Option<Settings> {
    Some(match integration {
        Some("salesforce") => Settings::Salesforce(salesforce::settings(k)),
        Some("hubspot") => Settings::HubSpot(hubspot::settings(k)),
        Some("google-news") => Settings::GoogleNews(rss::news_settings(k)),
        Some("rss") => Settings::Rss(rss::feed_settings(k)),
        Some("rest") => Settings::Rest(rest::settings(k)?),
        Some("files") => Settings::Files(files::settings(k)),
        _ => Settings::None,
    })
}

/// The settings each connector declares, in the order it reads them (for docs and
/// help lines).
pub fn declared_settings(integration: &str) -> Vec<&'static str> {
    let mut k = Keys::of(None, String::new(), Span::default(), "");
    read_settings(&mut k, Some(integration));
    k.declared().to_vec()
}

/// The task config keys each connector declares, and the engine's (`None`).
pub fn declared_task_keys(integration: Option<&str>) -> Vec<&'static str> {
    let mut k = Keys::of(None, String::new(), Span::default(), "");
    match integration {
        None => {
            engine::read(&mut k, None, None, None);
        }
        Some(i) => {
            read_source(&mut k, Some(i));
        }
    }
    k.declared().to_vec()
}

fn read_source(k: &mut Keys<'_>, integration: Option<&str>) -> Source {
    match integration {
        Some("salesforce") => Source::Salesforce(salesforce::query(k)),
        Some("hubspot") => Source::HubSpot(hubspot::query(k)),
        Some("google-news") => Source::GoogleNews(rss::news_query(k)),
        Some("rss") => Source::Rss(rss::feed_query(k)),
        Some("rest") => Source::Rest(rest::task(k)),
        Some("files") => Source::Files(files::task(k)),
        _ => Source::None,
    }
}

/// What the task's schema reads of the task's config.
pub(super) enum Reads<'a> {
    /// These keys (`{{task.KEY}}`, `task.KEY` in a script).
    Keys(&'a [String]),
    /// Any key: a script reads `task` whole, or the schema is unknown (its own error).
    Any,
}

/// What [`task`] needs to know of the task besides its config.
pub(super) struct TaskFacts<'a> {
    /// The integration of the connector the task reads through: its connection's, else
    /// its schema's source's.
    pub integration: Option<&'a str>,
    /// `None` when it did not check.
    pub schedule: Option<&'a Schedule>,
    pub direction: Option<Direction>,
    /// Whether its schema deletes removed records (`None`: unknown).
    pub deletes: Option<bool>,
    pub reads: Reads<'a>,
}

/// Reads task `t`'s config: the engine's keys, its connector's, and the keys its schema
/// reads; anything else is E0802. `None` when an error was reported.
pub(super) fn task(cx: &mut Cx<'_>, t: &ast::Task, facts: &TaskFacts<'_>) -> Option<TaskConfig> {
    let id = &t.id.node;
    let mut k = Keys::of(
        t.config.as_ref(),
        format!("the config of task `{id}`"),
        t.id.span,
        "config",
    );
    k.id = id.to_string();
    let engine = engine::read(&mut k, facts.schedule, facts.direction, facts.deletes);
    let known = facts.integration.filter(|i| INTEGRATIONS.contains(i));
    let source = read_source(&mut k, known);
    if known.is_none() {
        // No connector to hold the keys against (the task cannot read until it names
        // one): a key some connector reads passes, unchecked.
        for i in INTEGRATIONS {
            for key in declared_task_keys(Some(i)) {
                k.take(key);
            }
        }
    }
    let declared = k.declared().to_vec();
    let connector = facts
        .integration
        .filter(|i| INTEGRATIONS.contains(i))
        .map(|i| (i, declared_settings(i)));
    for (key, value) in k.leftovers() {
        let read = match &facts.reads {
            Reads::Any => true,
            Reads::Keys(keys) => keys.contains(&key.node),
        };
        if read {
            continue;
        }
        if super::connection::looks_secret(&key.node) && !value.to_value().is_null() {
            k.error(secret_in_config(id, &key.node, value.span));
            continue;
        }
        let read_keys: Vec<&str> = match &facts.reads {
            Reads::Keys(keys) => keys.iter().map(String::as_str).collect(),
            Reads::Any => Vec::new(),
        };
        let d = Diagnostic::new(
            Code::UnknownTaskConfigKey,
            key.span,
            format!("task `{id}` does not use `{}`", key.node),
        );
        let candidates = declared.iter().copied().chain(read_keys.iter().copied());
        let hinted = facts.integration.and_then(|i| hint(i, &key.node));
        let d = match (hinted, did_you_mean(&key.node, candidates)) {
            (Some(hint), _) => d
                .with_label("the connector does not read it")
                .with_help(hint.to_string()),
            (None, Some(s)) => d
                .with_label(format!("did you mean `{s}`?"))
                .with_help(format!("write `{s}`; as it is, nothing reads this key")),
            (None, None) => {
                let mut help = String::new();
                if let Some((i, settings)) = &connector {
                    if settings.contains(&key.node.as_str()) {
                        help = format!(
                            "`{}` is a setting of the `{i}` connection: move it into the connection's `settings`; ",
                            key.node
                        );
                    }
                }
                let connector_keys = match &connector {
                    Some((i, _)) => {
                        let own: Vec<&str> = declared_task_keys(Some(i));
                        format!("the `{i}` connector reads {}; ", list(&own))
                    }
                    None => "it reads through no connector cmap has; ".to_string(),
                };
                help.push_str(&format!(
                    "{connector_keys}the engine reads {}; a schema reads its own keys as `{{{{task.{}}}}}`",
                    list(&declared_task_keys(None)),
                    key.node
                ));
                d.with_label("neither the engine, its connector nor its schema reads it")
                    .with_help(help)
            }
        };
        k.error(d);
    }
    let ok = k.ok;
    for d in k.diags {
        cx.push(d);
    }
    let values = t
        .config
        .as_ref()
        .map(Tree::to_value)
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default();
    ok.then_some(TaskConfig {
        engine,
        source,
        values,
    })
}

/// E0801 for every key no read took; E0701 for one that looks like a secret (its value
/// is never repeated).
pub(super) fn unknown(k: &mut Keys<'_>, what: &str, listing: &str) {
    let declared = k.declared().to_vec();
    for (key, value) in k.leftovers() {
        if super::connection::looks_secret(&key.node) && !value.to_value().is_null() {
            k.error(super::connection::plain_secret(
                &k.id, &key.node, value.span, true,
            ));
            continue;
        }
        let d = Diagnostic::new(
            Code::UnknownSetting,
            key.span,
            format!("`{}` is not {what} ({})", key.node, k.owner),
        );
        let d = match did_you_mean(&key.node, declared.iter().copied()) {
            Some(s) => d
                .with_label(format!("did you mean `{s}`?"))
                .with_help(format!("write `{s}`; as it is, nothing reads this key")),
            None => d
                .with_label("nothing reads it")
                .with_help(format!("{listing} {}", list(&declared))),
        };
        k.error(d);
    }
}

/// Settings of a connection without a connector: only secrets are reported.
fn secrets_only(k: &mut Keys<'_>) {
    for (key, value) in k.leftovers() {
        if super::connection::looks_secret(&key.node) && !value.to_value().is_null() {
            k.error(super::connection::plain_secret(
                &k.id, &key.node, value.span, true,
            ));
        }
    }
}

/// E0701 for a secret-looking key in a task's config.
fn secret_in_config(task: &str, key: &str, at: Span) -> Diagnostic {
    Diagnostic::new(
        Code::PlainSecret,
        at,
        format!("`{key}` looks like a secret and is written in plain text in the config of task `{task}`"),
    )
    .with_label("a secret value is written here")
    .with_help(
        "pipeline files are committed and shared: keep secrets in a connection's `auth` block, \
         as `env(\"VAR\")` or `stored`, and remove the value from the file's history",
    )
}

/// What a connector says of a key users write for it that it does not read.
fn hint(integration: &str, key: &str) -> Option<&'static str> {
    match (integration, key) {
        ("rest" | "files", "incrementalSync") => Some(
            "this connector reads incrementally whenever `updatedField` names the records' modification time (in the connection's settings or the task's config)",
        ),
        ("rest", "pageSize") => Some("the page size is `pagination: { pageSize: N }`"),
        _ => None,
    }
}

/// `a`, `b`, `c` in backticks.
fn list(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks what only a task and its connection together can say: a file to read (and
/// its format), a feed URL. `connection` is the connection the task reads through, when
/// it is known.
pub(super) fn check_read(
    cx: &mut Cx<'_>,
    t: &ast::Task,
    source: &Source,
    connection: Option<(&str, &Settings)>,
) {
    let Some((cid, settings)) = connection else {
        return;
    };
    let at = t.config.as_ref().map_or(t.id.span, |c| c.span);
    let id = &t.id.node;
    match (source, settings) {
        (Source::Files(own), Settings::Files(shared)) => {
            let read = shared.or(own);
            if read.path.is_none() {
                cx.push(
                    Diagnostic::new(
                        Code::MissingSetting,
                        at,
                        format!("task `{id}` names no file to read"),
                    )
                    .with_label(format!("neither connection `{cid}` nor the task's config gives `path`"))
                    .with_help(format!(
                        "add `path: \"data/{{entity}}.jsonl\"` to the settings of connection `{cid}` (or to the task's config)"
                    )),
                );
            } else if let Err(why) = read.resolved_format() {
                cx.push(
                    Diagnostic::new(Code::MissingSetting, at, format!("task `{id}` reads a file of no known format"))
                        .with_label(why)
                        .with_help(format!(
                            "add `format: \"jsonl\"` or `format: \"csv\"` to the settings of connection `{cid}` (or to the task's config)"
                        )),
                );
            }
        }
        (Source::Rss(own), Settings::Rss(shared)) if own.url.is_none() && shared.url.is_none() => {
            cx.push(
                Diagnostic::new(
                    Code::MissingSetting,
                    at,
                    format!("task `{id}` names no feed to read"),
                )
                .with_label(format!("neither connection `{cid}` nor the task's config gives `url`"))
                .with_help(format!(
                    "add `url: \"https://example.com/feed.xml\"` to the settings of connection `{cid}` (or to the task's config)"
                )),
            );
        }
        _ => {}
    }
}
