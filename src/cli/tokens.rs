//! `cmap tokens set TASK` and `cmap tokens generate TASK`: the verification token of a
//! realtime task declared `token stored` (a webhook token), kept encrypted in the data
//! directory like connection secrets. (`cmap tokens create|revoke` are about users' API
//! tokens: `users.rs`.) `set` reads the value from stdin (hidden on a terminal), never
//! from the command line; `generate` draws 32 random bytes and prints the token once.
//! `cmap serve` reads the token when the pipelines load: set it before starting the
//! server (the store is the server's while it runs).

use std::io::{BufRead, IsTerminal};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::Generate;

use super::out::Out;
use super::state::{self, StateArgs};
use super::{Global, EXIT_OK, EXIT_USAGE};
use crate::compile::ir::{Program, Schedule, SecretSource, Task};
use crate::connectors::auth::Secret;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    state: StateArgs,
}

/// Webhook tokens (`set`, `generate`) verify deliveries to a realtime task; API tokens
/// (`create`, `revoke`) let a user call the API.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Webhook token: stores the token of a realtime task (`token stored`), encrypted.
    /// The value is read from stdin (hidden on a terminal), never from the command line.
    Set {
        /// The task id.
        task: String,
    },
    /// Webhook token: generates a random token for a realtime task (`token stored`),
    /// stores it encrypted, and prints it once: give it to the sender now.
    Generate {
        /// The task id.
        task: String,
    },
    /// API token: creates another token for a user and prints it alone on stdout, once.
    Create {
        /// The user's e-mail address.
        email: String,
        /// Expires after this long: `90d`, `12h` or `30m` (default: never).
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
    },
    /// API token: revokes a user's token, at once and for good.
    Revoke {
        /// The token's id: the 16 hex digits after `cmap_`.
        #[arg(value_name = "PREFIX")]
        id: String,
    },
}

pub fn run(global: &Global, args: Args) -> u8 {
    let (id, generate) = match &args.command {
        Command::Set { task } => (task, false),
        Command::Generate { task } => (task, true),
        Command::Create { email, expires } => {
            return super::users::create_token(&args.state, email, expires.as_deref())
        }
        Command::Revoke { id } => return super::users::revoke_token(&args.state, id),
    };
    let program = match state::program(&args.state, global) {
        Ok(p) => p,
        Err(f) => return f.print(),
    };
    let task = match stored_token_task(&program, id) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let token = if generate {
        // 256 random bits from the operating system, URL-safe so it fits a header as is.
        Secret::new(URL_SAFE_NO_PAD.encode(<[u8; 32]>::generate()))
    } else {
        match read_value(&task.id) {
            Ok(v) => v,
            Err(code) => return code,
        }
    };
    let engine = match state::engine(&args.state) {
        Ok(e) => e,
        Err(f) => return f.print(),
    };
    if generate {
        // The only time the token is shown: on stdout, so it can be piped to where the
        // sender keeps it. Shown before it is stored: a token nobody saw (stdout closed
        // or failing) would lock the task's senders out, so then nothing is stored.
        let mut out = Out::stdout();
        let shown = outln!(out, "{}", token.expose());
        if !shown || out.finish(EXIT_OK) != EXIT_OK {
            errln!(
                "error: the generated token of task `{}` could not be written to stdout; nothing was stored",
                task.id
            );
            errln!(
                "  help: run `cmap tokens generate {}` again with stdout open",
                task.id
            );
            return EXIT_USAGE;
        }
    }
    let record = match engine.save_webhook_token(task, &token) {
        Ok(r) => r,
        Err(e) => {
            if generate {
                errln!("the token printed above was not stored: it is not valid");
            }
            return state::Failure::usage(e.to_string(), None).print();
        }
    };
    if generate {
        errln!(
            "generated and stored the token of task `{}` (encrypted with key {}); it is not shown again",
            task.id, record.credentials.key_id
        );
    } else {
        errln!(
            "stored the token of task `{}` (encrypted with key {})",
            task.id,
            record.credentials.key_id
        );
    }
    errln!("`cmap serve` reads it when the pipelines load (restart, or POST /api/reload)");
    EXIT_OK
}

/// The task `id`, when it is a realtime task whose token is `stored`.
fn stored_token_task<'p>(program: &'p Program, id: &str) -> Result<&'p Task, u8> {
    let Some(task) = program.task(id) else {
        let realtime: Vec<&str> = program
            .tasks
            .iter()
            .filter(|t| matches!(t.schedule, Schedule::Realtime { .. }))
            .map(|t| t.id.as_str())
            .collect();
        super::print_error(
            &format!("no task `{id}` is declared"),
            Some(&if realtime.is_empty() {
                "no task has `schedule realtime`".to_string()
            } else {
                format!("realtime tasks: {}", realtime.join(", "))
            }),
        );
        return Err(EXIT_USAGE);
    };
    match &task.schedule {
        Schedule::Realtime {
            token: SecretSource::Stored,
            ..
        } => Ok(task),
        Schedule::Realtime {
            token: SecretSource::Env(var),
            ..
        } => {
            super::print_error(
                &format!("task `{id}` reads its token from the environment variable `{var}`"),
                Some(&format!(
                    "set {var} for `cmap serve`; or write `token stored` in the task to keep it in the data directory"
                )),
            );
            Err(EXIT_USAGE)
        }
        _ => {
            super::print_error(
                &format!("task `{id}` is not a realtime task: it takes no webhook deliveries"),
                Some("a token belongs to a task with `schedule realtime token stored`"),
            );
            Err(EXIT_USAGE)
        }
    }
}

/// The token from stdin: prompted without echo on a terminal, else the first line.
fn read_value(task: &str) -> Result<Secret, u8> {
    let value = if std::io::stdin().is_terminal() {
        match rpassword::prompt_password(format!("token for task {task}: ")) {
            Ok(v) => v,
            Err(e) => {
                return Err(
                    state::Failure::usage(format!("cannot read the token: {e}"), None).print(),
                )
            }
        }
    } else {
        let mut line = String::new();
        if let Err(e) = std::io::stdin().lock().read_line(&mut line) {
            return Err(state::Failure::usage(
                format!("cannot read the token from stdin: {e}"),
                None,
            )
            .print());
        }
        line.trim_end_matches(['\n', '\r']).to_string()
    };
    if value.is_empty() {
        super::print_error(
            "the token is empty; nothing stored",
            Some("or let cmap make one: `cmap tokens generate TASK`"),
        );
        return Err(EXIT_USAGE);
    }
    Ok(Secret::new(value))
}
