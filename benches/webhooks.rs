//! Benchmark: webhook ingestion on loopback. A few concurrent clients POST batches of
//! records to `/webhooks/{task}` of the real router (token check, mapping through the
//! schema, one durable sled commit per request) and the run reports records/s and the
//! p50/p99 request latency. Target: >= 5,000 records/s on a 2-core machine.
//!
//! `BENCH_RECORDS` (default 20000), `BENCH_BATCH` (100), `BENCH_CLIENTS` (4).

use std::collections::BTreeMap;
use std::error::Error;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use cmap::cli::{load, Global};
use cmap::diagnostics::render::Style;
use cmap::engine::{Engine, Options};
use cmap::serve::metrics::Metrics;
use cmap::serve::runner::Runner;
use cmap::serve::state::{Loaded, Shared};
use cmap::store::{SledStore, Store};

type Res<T> = Result<T, Box<dyn Error>>;

const PIPELINE: &str = r#"
schema bench-contacts {
  source salesforce.Contact
  target c_contact
  dedupe external_id(Id)
  email! = Email | lowercase validate email
  name = "${FirstName} ${LastName}"
  phone = Phone | replace(" ", "")
  source = "salesforce"
}
task bench-hook { schema bench-contacts  schedule realtime token env("CMAP_BENCH_WEBHOOK_TOKEN") }
"#;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> Res<()> {
    let total = env("BENCH_RECORDS", 20_000);
    let batch = env("BENCH_BATCH", 100).max(1);
    let clients = env("BENCH_CLIENTS", 4).max(1);

    let dir = tempfile::tempdir()?;
    let pipelines = dir.path().join("pipelines");
    std::fs::create_dir_all(&pipelines)?;
    std::fs::write(pipelines.join("bench.cmap"), PIPELINE)?;
    let global = Global {
        stdlib: None,
        style: Style::Plain,
    };
    let program = load::check(std::slice::from_ref(&pipelines), &global)
        .map_err(|e| format!("{e:?}"))?
        .program
        .ok_or("the bench pipeline does not check")?;
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&dir.path().join("data"))?);
    // The bench task reads its token from here; set before any thread reads the
    // environment.
    std::env::set_var("CMAP_BENCH_WEBHOOK_TOKEN", "bench");
    let engine = Arc::new(Engine::new(store.clone(), None, Options::default()));
    let (events, _rx) = tokio::sync::mpsc::channel(4);
    let shared = Arc::new(Shared {
        current: RwLock::new(Arc::new(Loaded::new(Arc::new(program), 1, &engine))),
        files: RwLock::new(BTreeMap::new()),
        engine,
        pipelines_dir: pipelines,
        events,
    });
    let metrics = Arc::new(Metrics::default());
    let runner = Runner::new(shared.clone(), metrics.clone(), 4, None);
    let app = cmap::serve::http::router(shared, runner, metrics);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/webhooks/bench-hook", listener.local_addr()?);
    tokio::spawn(async move {
        // Serves until the benchmark ends.
        let _ = axum::serve(listener, app).await;
    });

    // The bodies, built before timing starts.
    let bodies: Vec<String> = (0..total.div_ceil(batch))
        .map(|b| {
            let records: Vec<serde_json::Value> = (b * batch..((b + 1) * batch).min(total))
                .map(|i| {
                    serde_json::json!({
                        "Id": format!("003B{i:08}"), "Email": format!("Person{i}@Example.com"),
                        "FirstName": "Person", "LastName": format!("{i}"), "Phone": "+1 555 0100",
                    })
                })
                .collect();
            serde_json::to_string(&records).unwrap_or_default()
        })
        .collect();
    let bodies = Arc::new(bodies);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (bodies, next, client, url) =
            (bodies.clone(), next.clone(), client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                let t = Instant::now();
                let resp = client
                    .post(&url)
                    .header("x-cmap-token", "bench")
                    .body(body.clone())
                    .send()
                    .await;
                match resp {
                    Ok(r) if r.status().is_success() => latencies.push(t.elapsed()),
                    Ok(r) => return Err(format!("status {}", r.status())),
                    Err(e) => return Err(e.to_string()),
                }
            }
            Ok(latencies)
        }));
    }
    let mut latencies: Vec<Duration> = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let stored = store.shards("default", Some("c_contact")).count();
    println!(
        "webhooks: {total} records in {} requests of {batch} from {clients} clients: {:.2}s, {:.0} records/s, p50 {:.1} ms, p99 {:.1} ms; {stored} shards stored",
        latencies.len(),
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
    );
    if stored != total {
        return Err(format!("stored {stored} of {total}").into());
    }
    Ok(())
}
