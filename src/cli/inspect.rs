//! Reading the store: `cmap shards`, `cmap executions`, `cmap logs`.

use super::out::Out;
use super::state::{self, StateArgs};
use super::{Global, EXIT_OK, EXIT_USAGE};
use crate::store::{Store, SyncExecution};

#[derive(Debug, clap::Args)]
pub struct ShardsArgs {
    /// Only shards of this type (`c_contact`).
    #[arg(long = "type", value_name = "SHARD_TYPE")]
    shard_type: Option<String>,
    /// Only this tenant's shards (default: every tenant).
    #[arg(long)]
    tenant: Option<String>,
    #[command(flatten)]
    state: StateArgs,
}

/// `cmap shards`: stored shards as JSON lines.
pub fn shards(_global: &Global, args: ShardsArgs) -> u8 {
    let store = match state::open_store(&args.state.data) {
        Ok(s) => s,
        Err(f) => return f.print(),
    };
    let tenants = match &args.tenant {
        Some(t) => vec![t.clone()],
        None => match store.tenants() {
            Ok(t) => t,
            Err(e) => return state::Failure::usage(e.to_string(), None).print(),
        },
    };
    let mut out = Out::buffered();
    for tenant in tenants {
        for shard in store.shards(&tenant, args.shard_type.as_deref()) {
            match shard {
                Ok(s) => {
                    if !out.json_line(&s) {
                        return out.finish(EXIT_OK);
                    }
                }
                Err(e) => return state::Failure::usage(e.to_string(), None).print(),
            }
        }
    }
    out.finish(EXIT_OK)
}

#[derive(Debug, clap::Args)]
pub struct ExecutionsArgs {
    /// Only executions of this task.
    #[arg(long)]
    task: Option<String>,
    /// The tenant (default: every tenant).
    #[arg(long)]
    tenant: Option<String>,
    /// `human` (a table) or `json` (one SyncExecution per line).
    #[arg(long, value_enum, default_value_t = super::check::Format::Human)]
    format: super::check::Format,
    #[command(flatten)]
    state: StateArgs,
}

/// `cmap executions`: newest first.
pub fn executions(_global: &Global, args: ExecutionsArgs) -> u8 {
    let store = match state::open_store(&args.state.data) {
        Ok(s) => s,
        Err(f) => return f.print(),
    };
    let mut all = Vec::new();
    for tenant in tenants(&*store, args.tenant.as_deref()) {
        match store.executions(&tenant, args.task.as_deref()) {
            Ok(list) => all.extend(list),
            Err(e) => return state::Failure::usage(e.to_string(), None).print(),
        }
    }
    all.sort_by_key(|e| std::cmp::Reverse(e.started_at));
    let mut out = Out::stdout();
    if args.format == super::check::Format::Json {
        for e in &all {
            if !out.json_line(e) {
                break;
            }
        }
        return out.finish(EXIT_OK);
    }
    outln!(
        out,
        "{:<36}  {:<24}  {:<9}  {:<20}  {:>8}  {:>7}  {:>7}  {:>7}  {:>7}  {:>7}  {:>7}",
        "EXECUTION",
        "TASK",
        "STATUS",
        "STARTED",
        "SECONDS",
        "FETCHED",
        "CREATED",
        "UPDATED",
        "SKIPPED",
        "FAILED",
        "DELETED"
    );
    for e in &all {
        let r = &e.results;
        let written = outln!(
            out,
            "{:<36}  {:<24}  {:<9}  {:<20}  {:>8.1}  {:>7}  {:>7}  {:>7}  {:>7}  {:>7}  {:>7}",
            e.id,
            e.sync_task_id,
            e.status.as_str(),
            e.started_at.format("%Y-%m-%d %H:%M:%S"),
            e.duration_ms.unwrap_or(0) as f64 / 1000.0,
            r.fetched,
            r.created,
            r.updated,
            r.skipped,
            r.failed,
            r.deleted
        );
        if !written {
            break;
        }
    }
    out.finish(EXIT_OK)
}

#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// The execution id (see `cmap executions`).
    execution: String,
    #[arg(long)]
    tenant: Option<String>,
    #[arg(long, value_enum, default_value_t = super::check::Format::Human)]
    format: super::check::Format,
    #[command(flatten)]
    state: StateArgs,
}

/// `cmap logs EXECUTION`.
pub fn logs(_global: &Global, args: LogsArgs) -> u8 {
    let store = match state::open_store(&args.state.data) {
        Ok(s) => s,
        Err(f) => return f.print(),
    };
    let Some(execution) = find_execution(&*store, &args.execution, args.tenant.as_deref()) else {
        super::print_error(
            &format!(
                "no execution `{}` in `{}`",
                args.execution,
                args.state.data.display()
            ),
            Some("list them with `cmap executions`"),
        );
        return EXIT_USAGE;
    };
    let logs = match store.logs(&execution.tenant_id, &execution.id) {
        Ok(l) => l,
        Err(e) => return state::Failure::usage(e.to_string(), None).print(),
    };
    let mut out = Out::stdout();
    for l in logs {
        let written = if args.format == super::check::Format::Json {
            out.json_line(&l)
        } else {
            let data = l
                .data
                .map(|d| format!(" {}", serde_json::Value::Object(d)))
                .unwrap_or_default();
            outln!(
                out,
                "{} {:<5} {}{data}",
                l.timestamp.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                format!("{:?}", l.level).to_uppercase(),
                l.message
            )
        };
        if !written {
            break;
        }
    }
    out.finish(EXIT_OK)
}

/// The tenants to look in.
pub fn tenants(store: &dyn Store, only: Option<&str>) -> Vec<String> {
    if let Some(t) = only {
        return vec![t.to_string()];
    }
    let mut list = store.tenants().unwrap_or_default();
    for t in [crate::engine::DEFAULT_TENANT] {
        if !list.iter().any(|x| x == t) {
            list.push(t.to_string());
        }
    }
    list
}

/// An execution of any tenant (or the given one).
pub fn find_execution(store: &dyn Store, id: &str, tenant: Option<&str>) -> Option<SyncExecution> {
    tenants(store, tenant)
        .into_iter()
        .find_map(|t| store.execution(&t, id).ok().flatten())
}
