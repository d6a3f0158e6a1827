//! Reading the store: `cmap shards`, `cmap executions`, `cmap logs` (the lists a page at
//! a time, `--limit` and `--cursor`, or `--all` of them one page after the other).

use super::out::Out;
use super::state::{self, PageArgs, StateArgs};
use super::{Global, EXIT_OK};
use crate::store::{Cursor, ExecutionCursor, LogCursor, Page, PageRequest, Store, SyncExecution};

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
    let store = match state::open_store(&args.state) {
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
    page: PageArgs,
    #[command(flatten)]
    state: StateArgs,
}

/// `cmap executions`: a page of executions, newest first (`--all`: every page); when
/// more follow, stderr says how to get them.
pub fn executions(_global: &Global, args: ExecutionsArgs) -> u8 {
    match list_executions(&args) {
        Ok(code) => code,
        Err(f) => f.print(),
    }
}

fn list_executions(args: &ExecutionsArgs) -> Result<u8, state::Failure> {
    let mut after = args.page.after("cmap executions", "the newest")?;
    let store = state::open_store(&args.state)?;
    let tenants = tenants(&*store, args.tenant.as_deref());
    let json = args.format == super::check::Format::Json;
    let mut out = Out::stdout();
    if !json {
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
    }
    loop {
        let request = PageRequest {
            limit: args.page.limit,
            after: after.take(),
        };
        let page = tenants_page(&*store, &tenants, args.task.as_deref(), &request)
            .map_err(|e| state::Failure::usage(e.to_string(), None))?;
        for e in &page.items {
            let written = if json {
                out.json_line(e)
            } else {
                let r = &e.results;
                outln!(
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
                )
            };
            if !written {
                // The reader went away: stop quietly.
                return Ok(out.finish(EXIT_OK));
            }
        }
        match page.next {
            Some(next) if args.page.all => after = Some(next),
            Some(next) => {
                more("cmap executions", &next.encode());
                return Ok(out.finish(EXIT_OK));
            }
            None => return Ok(out.finish(EXIT_OK)),
        }
    }
}

/// One page of the executions of several tenants, merged newest first: each tenant's
/// page from the same position, the newest `limit` of them all. The position is a start
/// time and an id, the same in every tenant, so the next page continues every tenant.
fn tenants_page(
    store: &dyn Store,
    tenants: &[String],
    task: Option<&str>,
    request: &PageRequest<ExecutionCursor>,
) -> crate::store::Result<Page<SyncExecution, ExecutionCursor>> {
    let mut items = Vec::new();
    let mut more = false;
    for tenant in tenants {
        let page = store.executions(tenant, task, request)?;
        more |= page.next.is_some();
        items.extend(page.items);
    }
    // The store's order: start time in microseconds, then id, both descending.
    items.sort_by(|a, b| {
        let key = |e: &SyncExecution| (e.started_at.timestamp_micros(), e.id.clone());
        key(b).cmp(&key(a))
    });
    if items.len() > request.limit.get() {
        items.truncate(request.limit.get());
        more = true;
    }
    let next = if more {
        items.last().map(ExecutionCursor::at)
    } else {
        None
    };
    Ok(Page { items, next })
}

/// Says, on stderr, how to get the next page.
fn more(command: &str, cursor: &str) {
    errln!("more: `{command} ... --cursor {cursor}` for the next page, or --all");
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
    page: PageArgs,
    #[command(flatten)]
    state: StateArgs,
}

/// `cmap logs EXECUTION`: a page of its log, in order (`--all`: every page).
pub fn logs(_global: &Global, args: LogsArgs) -> u8 {
    match print_logs(&args) {
        Ok(code) => code,
        Err(f) => f.print(),
    }
}

fn print_logs(args: &LogsArgs) -> Result<u8, state::Failure> {
    let mut after = args
        .page
        .after::<LogCursor>("cmap logs", "the first line")?;
    let store = state::open_store(&args.state)?;
    let Some(execution) = find_execution(&*store, &args.execution, args.tenant.as_deref()) else {
        return Err(state::Failure::usage(
            format!(
                "no execution `{}` in `{}`",
                args.execution,
                args.state.data.display()
            ),
            Some("list them with `cmap executions`".into()),
        ));
    };
    let mut out = Out::stdout();
    loop {
        let request = PageRequest {
            limit: args.page.limit,
            after: after.take(),
        };
        let page = store
            .logs(&execution.tenant_id, &execution.id, &request)
            .map_err(|e| state::Failure::usage(e.to_string(), None))?;
        for l in page.items {
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
                return Ok(out.finish(EXIT_OK));
            }
        }
        match page.next {
            Some(next) if args.page.all => after = Some(next),
            Some(next) => {
                more("cmap logs", &next.encode());
                return Ok(out.finish(EXIT_OK));
            }
            None => return Ok(out.finish(EXIT_OK)),
        }
    }
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
