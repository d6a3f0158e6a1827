//! The command line: argument parsing, one module per subcommand, exit codes.
//!
//! Exit codes (a contract, documented in README.md):
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (warnings alone are success) |
//! | 1 | the pipeline does not check, a test failed, or `fmt --check` found unformatted files |
//! | 2 | usage or I/O error (bad arguments, unreadable input) |
//! | 3 | `map`: some records failed (the others were written); `run`/`replay`: the execution was partial |
//!
//! A closed stdout (`cmap shards | head -1`) is not an error: the command stops writing,
//! quietly, with the code of the work it did (see [`out`]).

/// `outln!(out, "{x}")`: one line to an [`out::Out`]; false once stdout is closed.
macro_rules! outln {
    ($out:expr) => {
        $out.line(format_args!(""))
    };
    ($out:expr, $($arg:tt)*) => {
        $out.line(format_args!($($arg)*))
    };
}

/// `errln!("{x}")`: `errln!` that never panics (a closed stderr is ignored).
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::out::stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `errprint!("{x}")`: `errprint!` that never panics.
macro_rules! errprint {
    ($($arg:tt)*) => {
        $crate::cli::out::stderr(format_args!($($arg)*))
    };
}

mod check;
mod connections;
mod export;
mod fmt;
mod import;
mod inspect;
pub mod load;
mod map;
pub mod out;
mod prune;
mod replay;
mod run;
mod schedule;
mod serve;
mod state;
mod test;
mod tokens;
mod users;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::diagnostics::render::Style;

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_PARTIAL: u8 = 3;

#[derive(Debug, Parser)]
#[command(
    name = "cmap",
    version,
    about = "Castiel's integrations engine: check, test and run .cmap pipelines"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Directory of the standard library (types, rates); default `./stdlib` when it
    /// exists, else the copy built into the binary.
    #[arg(long, global = true, env = "CMAP_STDLIB", value_name = "DIR")]
    stdlib: Option<PathBuf>,
    /// When to use colours.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    color: Color,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check pipeline files and report every problem at once.
    Check(check::Args),
    /// Map JSON-lines records through a schema, one output line per record.
    Map(map::Args),
    /// Format .cmap files canonically, in place.
    Fmt(fmt::Args),
    /// Run the `test` blocks of schemas.
    Test(test::Args),
    /// Print the .cmap form of a seed-JSON file.
    Import(import::Args),
    /// Print the seed-JSON form of a pipeline file.
    Export(export::Args),
    /// Run one execution of a sync task: fetch, map, store.
    Run(run::Args),
    /// Print stored shards as JSON lines.
    Shards(inspect::ShardsArgs),
    /// List executions, newest first.
    Executions(inspect::ExecutionsArgs),
    /// Print the log of an execution.
    Logs(inspect::LogsArgs),
    /// Re-run the records an execution could not map, after a fix.
    Replay(replay::Args),
    /// Remove executions, logs, dead letters and event ids past their retention.
    Prune(prune::Args),
    /// List connections, store their secrets, test them.
    Connections(connections::Args),
    /// Manage the master key that encrypts credentials.
    Keys(connections::KeysArgs),
    /// Webhook tokens of realtime tasks (set, generate) and users' API tokens (create,
    /// revoke).
    Tokens(tokens::Args),
    /// Add and list tenants (who owns pipelines, connections and users).
    Tenants(users::TenantsArgs),
    /// Add and list the users of the API, with their roles; `add` prints a first token.
    Users(users::UsersArgs),
    /// Run the server: schedules, webhooks, hot reload, control API, health and metrics.
    Serve(serve::Args),
    /// Print a task's schedule in words and its next run times.
    Schedule(schedule::Args),
}

/// Settings every command shares.
pub struct Global {
    pub stdlib: Option<PathBuf>,
    pub style: Style,
}

pub fn main() -> ExitCode {
    // SIGPIPE stays ignored (Rust's default): see `out` for why, and how a closed
    // stdout ends a command instead.
    let cli = Cli::parse();
    let style = match cli.color {
        Color::Always => Style::Color,
        Color::Never => Style::Plain,
        Color::Auto => {
            if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
                Style::Color
            } else {
                Style::Plain
            }
        }
    };
    let global = Global {
        stdlib: cli.stdlib,
        style,
    };
    let code = match cli.command {
        Command::Check(args) => check::run(&global, args),
        Command::Map(args) => map::run(&global, args),
        Command::Fmt(args) => fmt::run(&global, args),
        Command::Test(args) => test::run(&global, args),
        Command::Import(args) => import::run(&global, args),
        Command::Export(args) => export::run(&global, args),
        Command::Run(args) => run::run(&global, args),
        Command::Shards(args) => inspect::shards(&global, args),
        Command::Executions(args) => inspect::executions(&global, args),
        Command::Logs(args) => inspect::logs(&global, args),
        Command::Replay(args) => replay::run(&global, args),
        Command::Prune(args) => prune::run(&global, args),
        Command::Connections(args) => connections::run(&global, args),
        Command::Keys(args) => connections::keys(&global, args),
        Command::Tokens(args) => tokens::run(&global, args),
        Command::Tenants(args) => users::tenants(args),
        Command::Users(args) => users::users(args),
        Command::Serve(args) => serve::run(&global, args),
        Command::Schedule(args) => schedule::run(&global, args),
    };
    ExitCode::from(code)
}

/// Prints an error that is not a diagnostic (I/O, usage) the way miette would.
pub fn print_error(message: &str, help: Option<&str>) {
    errln!("error: {message}");
    if let Some(help) = help {
        errln!("  help: {help}");
    }
}
