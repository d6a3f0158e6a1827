//! `cmap serve [--listen ADDR] [--public-url URL] [--metrics-listen ADDR] [--pipelines DIR] [--data DIR] [--log-format human|json]
//! [--max-concurrent N] [--webhook-tolerance S] [--max-connections N] [--header-timeout S]
//! [--body-timeout S] [--webhook-queue N]`: the production runner on the embedded defaults (sled in
//! `./data`, the shipped pipelines). Exit 0 after a graceful shutdown (SIGTERM, SIGINT),
//! 1 when the pipelines do not check, 2 when the address or data directory is unusable.

use std::sync::Arc;

use clap::ValueEnum;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{DefaultFields, Writer};
use tracing_subscriber::fmt::FormatFields;

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
    /// The URL users, browsers and providers reach the server at (e.g.
    /// https://cmap.example.com, behind a proxy): requests naming another host are
    /// refused, and so are state changes from pages of other origins (docs/serve.md,
    /// "Origins"). Without it the server answers to IP addresses and localhost only.
    #[arg(long, env = "CMAP_PUBLIC_URL", value_name = "URL", value_parser = parse_public_url)]
    public_url: Option<crate::serve::origin::PublicUrl>,
    /// Serve `/metrics` on this address instead of the main one (a private interface
    /// for the scraper; docs/serve.md, "Metrics").
    #[arg(long, env = "CMAP_METRICS_LISTEN", value_name = "ADDR")]
    metrics_listen: Option<String>,
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
    /// Seconds a signed webhook's timestamp may be from the server's clock, either way.
    #[arg(
        long,
        env = "CMAP_WEBHOOK_TOLERANCE",
        default_value_t = crate::serve::http::DEFAULT_SIGNATURE_TOLERANCE_SECS,
        value_parser = clap::value_parser!(u64).range(1..=86_400),
        value_name = "SECONDS"
    )]
    webhook_tolerance: u64,
    /// At most this many HTTP connections at once; more wait to be accepted.
    #[arg(
        long,
        env = "CMAP_MAX_CONNECTIONS",
        default_value_t = crate::serve::http::DEFAULT_MAX_CONNECTIONS as u64,
        value_parser = clap::value_parser!(u64).range(1..=65_536),
        value_name = "N"
    )]
    max_connections: u64,
    /// Seconds a connection has to send a request head (also bounds idle keep-alive).
    #[arg(
        long,
        env = "CMAP_HEADER_TIMEOUT",
        default_value_t = crate::serve::http::DEFAULT_HEADER_READ_TIMEOUT.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..=3600),
        value_name = "SECONDS"
    )]
    header_timeout: u64,
    /// Seconds a request body has to arrive whole.
    #[arg(
        long,
        env = "CMAP_BODY_TIMEOUT",
        default_value_t = crate::serve::http::DEFAULT_BODY_READ_TIMEOUT.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..=3600),
        value_name = "SECONDS"
    )]
    body_timeout: u64,
    /// Webhook deliveries in flight per task; more are answered 503 with Retry-After.
    #[arg(
        long,
        env = "CMAP_WEBHOOK_QUEUE",
        default_value_t = crate::serve::http::DEFAULT_WEBHOOK_QUEUE as u64,
        value_parser = clap::value_parser!(u64).range(1..=65_536),
        value_name = "N"
    )]
    webhook_queue: u64,
}

fn parse_public_url(text: &str) -> Result<crate::serve::origin::PublicUrl, String> {
    crate::serve::origin::PublicUrl::parse(text)
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
        .with_ansi(ansi)
        // A log line that cannot be written (stderr closed: `cmap serve 2>&1 | head`, a
        // log shipper that died) is dropped. By default tracing-subscriber reports the
        // failed write with `eprintln!`, which panics on that same closed stderr and
        // killed the server at its next log line.
        .log_internal_errors(false);
    let _ = match args.log_format {
        // Every field and message of the human log goes through `Escaped`; JSON escapes
        // control characters itself (each event is one JSON line).
        LogFormat::Human => builder.fmt_fields(Escaped).try_init(),
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
    first_run_hint(&*engine.store, &args.state.data);
    let options = Options {
        pipelines: args.state.pipelines.clone(),
        stdlib: super::load::stdlib_dir(global),
        max_concurrent: args.max_concurrent as usize,
        http: crate::serve::http::Config {
            signature_tolerance_secs: args.webhook_tolerance,
            max_connections: args.max_connections as usize,
            webhook_queue: args.webhook_queue as usize,
            header_read_timeout: std::time::Duration::from_secs(args.header_timeout),
            body_read_timeout: std::time::Duration::from_secs(args.body_timeout),
            public_url: args.public_url.clone(),
            ..crate::serve::http::Config::default()
        },
        retention: args.retention.retention(),
        metrics_listen: args.metrics_listen.clone(),
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
                errprint!("{rendered}");
                errln!("\nnot serving: fix the pipelines (`cmap check`) and start again");
                EXIT_FAILURE
            }
            Err(ServeError::Io(e)) => {
                super::print_error(&e, None);
                EXIT_USAGE
            }
        }
    })
}

/// On a data directory with no super admin yet (a first run), says how to make one:
/// the API answers only API tokens, and the first one comes from the CLI.
fn first_run_hint(store: &dyn crate::store::Store, data: &std::path::Path) {
    use crate::store::identity::Role;
    match store.users() {
        Ok(users) if users.iter().any(|u| u.role == Role::SuperAdmin) => {}
        Ok(_) => tracing::warn!(
            hint = %format!(
                "stop the server, run `cmap users add YOU@EXAMPLE.COM --role super_admin --data {}` (it prints the first API token), and start it again; docs/api.md, Authentication",
                data.display()
            ),
            "no super admin yet: the API (everything but health and webhooks) needs an API token"
        ),
        Err(e) => tracing::error!(error = %e, "cannot read the users"),
    }
}

/// Formats the fields (message included) of the human log as tracing does by default,
/// with every control character escaped (`\n`, `\r`, `\t`, `\u{1b}`, ...): values from
/// outside (a webhook path with `%0A`, an event id, an upstream's error text) must
/// neither forge log lines nor send escape sequences to a terminal. Spans' fields go
/// through it too (`add_fields` formats with `format_fields`).
pub struct Escaped;

impl<'writer> FormatFields<'writer> for Escaped {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> std::fmt::Result {
        // Formatted without ANSI styling: escaping would mangle its escape codes, and the
        // level and timestamp keep theirs (the event formatter writes them).
        let mut plain = String::new();
        DefaultFields::new().format_fields(Writer::new(&mut plain), fields)?;
        write_escaped(&mut writer, &plain)
    }
}

/// Writes `text` with control characters (and the Unicode line and paragraph
/// separators) escaped as Rust escapes them.
fn write_escaped(out: &mut impl std::fmt::Write, text: &str) -> std::fmt::Result {
    for c in text.chars() {
        if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
            write!(out, "{}", c.escape_default())?;
        } else {
            out.write_char(c)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::write_escaped;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        let cases = [
            ("plain text, ünïcode", "plain text, ünïcode"),
            ("a\nb\r\n", "a\\nb\\r\\n"),
            ("\u{1b}[31mred\u{7}", "\\u{1b}[31mred\\u{7}"),
            ("tab\there", "tab\\there"),
            ("nel\u{85}sep\u{2028}", "nel\\u{85}sep\\u{2028}"),
        ];
        for (input, want) in cases {
            let mut got = String::new();
            write_escaped(&mut got, input).expect("writes");
            assert_eq!(got, want, "{input:?}");
        }
    }
}
