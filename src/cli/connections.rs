//! `cmap connections [list|set|test]` and `cmap keys rotate`: connections as declared,
//! their secrets (stored encrypted), and the master key.

use std::io::{BufRead, IsTerminal};
use std::sync::Arc;

use super::state::{self, StateArgs};
use super::{Global, EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use crate::compile::ir::{Connection, CredentialValue};
use crate::store::crypto;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    state: StateArgs,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Every declared connection, and whether each credential is available.
    List,
    /// Stores one credential of a connection, encrypted. The value is read from stdin
    /// (hidden on a terminal), never from the command line.
    Set {
        /// The connection id.
        connection: String,
        /// The credential key (`apiKey`, `password`, `clientSecret`, `refreshToken`, ...).
        key: String,
    },
    /// Resolves the credentials and reads the first page of a task using the connection.
    Test { connection: String },
}

pub fn run(global: &Global, args: Args) -> u8 {
    let program = match state::program(&args.state, global) {
        Ok(p) => p,
        Err(f) => return f.print(),
    };
    let find = |id: &str| -> Result<Arc<Connection>, u8> {
        program
            .connections
            .iter()
            .find(|c| c.id == id)
            .cloned()
            .ok_or_else(|| {
                let ids: Vec<&str> = program.connections.iter().map(|c| c.id.as_str()).collect();
                super::print_error(
                    &format!("no connection `{id}` is declared"),
                    Some(&format!("connections: {}", ids.join(", "))),
                );
                EXIT_USAGE
            })
    };
    match args.command.unwrap_or(Command::List) {
        Command::List => list(&args.state, &program.connections),
        Command::Set { connection, key } => match find(&connection) {
            Ok(c) => set(&args.state, &c, &key),
            Err(code) => code,
        },
        Command::Test { connection } => match find(&connection) {
            Ok(c) => test(&args.state, &program, &c),
            Err(code) => code,
        },
    }
}

fn list(state: &StateArgs, connections: &[Arc<Connection>]) -> u8 {
    let engine = match state::engine(state) {
        Ok(e) => e,
        Err(f) => return f.print(),
    };
    let mut out = super::out::Out::stdout();
    for c in connections {
        let tenant = c
            .tenant
            .clone()
            .unwrap_or_else(|| crate::engine::DEFAULT_TENANT.into());
        let stored =
            crate::engine::load_stored(c, &tenant, &*engine.store, engine.keyring.as_deref())
                .unwrap_or_default();
        outln!(
            out,
            "{} ({}, {} auth{})",
            c.id,
            c.integration,
            c.auth.auth_type.as_str(),
            c.name
                .as_deref()
                .map(|n| format!(", \"{n}\""))
                .unwrap_or_default()
        );
        for (key, value) in &c.auth.fields {
            let status = match value {
                CredentialValue::Plain(_) => "in the pipeline file".to_string(),
                CredentialValue::Env(name) if std::env::var_os(name).is_some() => {
                    format!("from ${name}: set")
                }
                CredentialValue::Env(name) => format!("from ${name}: NOT SET"),
                CredentialValue::Stored if stored.contains_key(key) => {
                    "stored (encrypted)".to_string()
                }
                CredentialValue::Stored => {
                    format!("NOT STORED: run `cmap connections set {} {key}`", c.id)
                }
            };
            outln!(out, "  {key}: {status}");
        }
        if !out.is_open() {
            break;
        }
    }
    out.finish(EXIT_OK)
}

fn set(state: &StateArgs, connection: &Connection, key: &str) -> u8 {
    if !connection
        .auth
        .fields
        .iter()
        .any(|(k, v)| k == key && *v == CredentialValue::Stored)
    {
        super::print_error(
            &format!(
                "connection `{}` does not declare `{key}` as stored",
                connection.id
            ),
            Some(&format!(
                "declare it in the pipeline: `{key}: stored` in the connection's auth block"
            )),
        );
        return EXIT_USAGE;
    }
    let value = if std::io::stdin().is_terminal() {
        match rpassword::prompt_password(format!("{key} for {}: ", connection.id)) {
            Ok(v) => v,
            Err(e) => {
                return state::Failure::usage(format!("cannot read the value: {e}"), None).print()
            }
        }
    } else {
        let mut line = String::new();
        if let Err(e) = std::io::stdin().lock().read_line(&mut line) {
            return state::Failure::usage(format!("cannot read the value from stdin: {e}"), None)
                .print();
        }
        line.trim_end_matches(['\n', '\r']).to_string()
    };
    if value.is_empty() {
        super::print_error("the value is empty; nothing stored", None);
        return EXIT_USAGE;
    }
    let engine = match state::engine(state) {
        Ok(e) => e,
        Err(f) => return f.print(),
    };
    let Some(keyring) = engine.keyring.clone() else {
        return EXIT_FAILURE;
    };
    let tenant = connection
        .tenant
        .clone()
        .unwrap_or_else(|| crate::engine::DEFAULT_TENANT.into());
    let mut secrets =
        match crate::engine::load_stored(connection, &tenant, &*engine.store, Some(&keyring)) {
            Ok(m) => m,
            Err(e) => return state::Failure::usage(e.to_string(), None).print(),
        };
    secrets.insert(key.to_string(), serde_json::Value::String(value));
    let record = match crate::engine::save_stored(
        connection,
        &tenant,
        &*engine.store,
        &keyring,
        secrets,
        None,
    ) {
        Ok(r) => r,
        Err(e) => return state::Failure::usage(e.to_string(), None).print(),
    };
    errln!(
        "stored `{key}` of connection `{}` (encrypted with key {})",
        connection.id,
        record.credentials.key_id
    );
    EXIT_OK
}

fn test(
    state: &StateArgs,
    program: &crate::compile::ir::Program,
    connection: &Arc<Connection>,
) -> u8 {
    let engine = match state::engine(state) {
        Ok(e) => e,
        Err(f) => return f.print(),
    };
    let Some(task) = program.tasks.iter().find(|t| {
        engine
            .connection_for(t, &program.connections)
            .is_ok_and(|c| c.id == connection.id)
    }) else {
        super::print_error(
            &format!(
                "no task reads through connection `{}`, so there is nothing to read",
                connection.id
            ),
            Some("name the connection in a task: `connection ID`"),
        );
        return EXIT_USAGE;
    };
    let runtime = match state::runtime() {
        Ok(r) => r,
        Err(f) => return f.print(),
    };
    match runtime.block_on(engine.probe(task, &program.connections)) {
        Ok(n) => {
            let mut out = super::out::Out::stdout();
            outln!(
                out,
                "connection `{}` works: read {n} records of `{}` (task `{}`)",
                connection.id,
                task.schema.entity,
                task.id
            );
            out.finish(EXIT_OK)
        }
        Err(message) => {
            super::print_error(
                &format!("connection `{}` failed: {message}", connection.id),
                None,
            );
            EXIT_FAILURE
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
    #[command(flatten)]
    state: StateArgs,
}

#[derive(Debug, clap::Subcommand)]
enum KeysCommand {
    /// Generates a new master key and re-encrypts every stored credential under it.
    Rotate,
}

pub fn keys(_global: &Global, args: KeysArgs) -> u8 {
    let KeysCommand::Rotate = args.command;
    let store = match state::open_store(&args.state) {
        Ok(s) => s,
        Err(f) => return f.print(),
    };
    let env = std::env::var("CMAP_MASTER_KEY").ok();
    match crypto::rotate(&args.state.data, env.as_deref(), &*store) {
        Ok(report) => {
            errln!(
                "rotated the master key: now {}; re-encrypted {} connection{}{}",
                report.new_key_id,
                report.re_encrypted,
                if report.re_encrypted == 1 { "" } else { "s" },
                if report.removed_keys.is_empty() {
                    String::new()
                } else {
                    format!("; retired keys removed: {}", report.removed_keys.join(", "))
                }
            );
            EXIT_OK
        }
        Err(e) => {
            super::print_error(&e.to_string(), None);
            EXIT_FAILURE
        }
    }
}
