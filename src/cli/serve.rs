//! `cmap serve [--listen ADDR] [--pipelines DIR] [--data DIR] [--log-format human|json]
//! [--max-concurrent N]`: the production runner on the embedded defaults (sled in
//! `./data`, the shipped pipelines). Exit 0 after a graceful shutdown (SIGTERM, SIGINT),
//! 1 when the pipelines do not check, 2 when the address or data directory is unusable.

use std::sync::Arc;

use clap::ValueEnum;

use super::state::{self, RetentionArgs, StateArgs};
use super::{Global, EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use crate::serve::server::{self, Options, ServeError};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The address to serve HTTP on (webhooks, control API, health, metrics).
    #[arg(
        long,
        env = "CMAP_LISTEN",
        default_value = "127.0.0.1:8080",
        value_name = "ADDR"
    )]
    listen: String,
    #[command(flatten)]
    state: StateArgs,
    #[command(flatten)]
    retention: RetentionArgs,
    /// `human` logs for people, `json` (one object per line) for machines.
    #[arg(long, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    /// At most this many executions at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=256))]
    max_concurrent: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

pub fn run(global: &Global, args: Args) -> u8 {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CMAP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && global.style == crate::diagnostics::render::Style::Color;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let _ = match args.log_format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    let engine = match state::engine(&args.state) {
        Ok(e) => Arc::new(e),
        Err(f) => return f.print(),
    };
    let runtime = match state::runtime() {
        Ok(r) => r,
        Err(f) => return f.print(),
    };
    let options = Options {
        pipelines: args.state.pipelines.clone(),
        stdlib: super::load::stdlib_dir(global),
        max_concurrent: args.max_concurrent as usize,
        retention: args.retention.retention(),
        ..Options::default()
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(&args.listen).await {
            Ok(l) => l,
            Err(e) => {
                super::print_error(
                    &format!("cannot listen on `{}`: {e}", args.listen),
                    Some("pass another address with --listen (port 0 picks a free one)"),
                );
                return EXIT_USAGE;
            }
        };
        let notifier = crate::serve::notify::Notifier::from_env();
        let on_finished = notifier.is_active().then(|| notifier.finished());
        match server::run(
            options,
            engine,
            listener,
            on_finished,
            std::future::pending(),
        )
        .await
        {
            Ok(()) => EXIT_OK,
            Err(ServeError::Pipelines(rendered)) => {
                eprint!("{rendered}");
                eprintln!("\nnot serving: fix the pipelines (`cmap check`) and start again");
                EXIT_FAILURE
            }
            Err(ServeError::Io(e)) => {
                super::print_error(&e, None);
                EXIT_USAGE
            }
        }
    })
}
