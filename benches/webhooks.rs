//! Benchmark: webhook ingestion on loopback.
//!
//! 1. Throughput: concurrent clients POST batches of records to `/webhooks/{task}` of the
//!    real router (token check, mapping through the schema, durable sled commits) and
//!    the run reports records/s and the p50/p99 request latency. Target: >= 5,000
//!    records/s on a 2-core machine. `BENCH_RECORDS` (default 20000), `BENCH_BATCH`
//!    (100), `BENCH_CLIENTS` (4).
//! 2. Burst: the release binary (`cmap serve`) takes `BENCH_BURST` (default 1000)
//!    concurrent one-record deliveries; the run samples its peak RSS (VmHWM) and thread
//!    count, counts 200s and 503s (a 503 is retried after its Retry-After, as senders
//!    do), and checks every delivery is stored once. Targets: peak RSS < 300 MB, threads
//!    bounded (not one per delivery). `BENCH_BURST=0` skips it.
//!
//! Figures (before and after the bounded webhook queue) are in docs/serve.md, "Webhook
//! bursts".

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

/// The allocator `cmap serve` runs with (`src/main.rs`): the throughput part runs the
/// router in this process, so it measures what users get only with the same allocator
/// (with glibc's, a third of this benchmark's time was spent in malloc and free).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    throughput().await?;
    let burst_size = env("BENCH_BURST", 1000);
    if burst_size > 0 {
        burst(burst_size).await?;
    }
    Ok(())
}

async fn throughput() -> Res<()> {
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

/// Peak RSS (kB) and thread count of process `pid`, from /proc.
fn proc_status(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmHWM:")?, field("Threads:")?))
}

/// Kills the server if the burst fails half-way.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn burst(n: usize) -> Res<()> {
    use std::io::BufRead;
    let dir = tempfile::tempdir()?;
    let pipelines = dir.path().join("pipelines");
    std::fs::create_dir_all(&pipelines)?;
    std::fs::write(pipelines.join("bench.cmap"), PIPELINE)?;
    let mut child = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_cmap"))
            .current_dir(dir.path())
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .env("CMAP_LOG", "warn,cmap::serve::server=info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()?,
    );
    let pid = child.0.id();
    let stderr = child.0.stderr.take().ok_or("no stderr")?;
    let mut lines = std::io::BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines.next().ok_or("the server ended before listening")??;
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
            if v["fields"]["message"] == "listening" {
                break v["fields"]["addr"].as_str().unwrap_or_default().to_string();
            }
        }
    };
    // Drain the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let url = format!("http://{addr}/webhooks/bench-hook");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let (_, threads_before) = proc_status(pid).ok_or("no /proc status")?;

    // Sample the server while the burst runs.
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        std::thread::spawn(move || {
            let mut peak_threads = 0;
            let mut peak_rss = 0;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some((rss, threads)) = proc_status(pid) {
                    peak_threads = peak_threads.max(threads);
                    peak_rss = peak_rss.max(rss);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            (peak_rss, peak_threads)
        })
    };
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..n {
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let body = serde_json::json!({
                "Id": format!("003U{i:08}"), "Email": format!("burst{i}@example.com"),
                "FirstName": "Burst", "LastName": format!("{i}"), "Phone": "+1 555 0100",
            })
            .to_string();
            let mut refused = 0u32;
            // A sender retries 503 after Retry-After; bounded here.
            for _ in 0..120 {
                let resp = client
                    .post(&url)
                    .header("x-cmap-token", "bench")
                    .header("x-cmap-event-id", format!("burst-{i}"))
                    .body(body.clone())
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                match resp.status().as_u16() {
                    200 => return Ok(refused),
                    503 => {
                        refused += 1;
                        let wait = resp
                            .headers()
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.parse::<u64>().ok())
                            .ok_or("503 without Retry-After")?;
                        tokio::time::sleep(Duration::from_secs(wait)).await;
                    }
                    s => return Err(format!("status {s}")),
                }
            }
            Err("still refused after 120 tries".to_string())
        }));
    }
    let mut refused = 0;
    for t in tasks {
        refused += t.await?.map_err(|e| e.to_string())?;
    }
    let elapsed = started.elapsed();
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let (peak_rss, peak_threads) = sampler.join().map_err(|_| "sampler panicked")?;
    // Stop the server gracefully, then count what it stored.
    // SAFETY: a signal to our own child process.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
    let status = child.0.wait()?;
    if !status.success() {
        return Err(format!("the server exited with {status}").into());
    }
    let store = open_when_released(&dir.path().join("data"))?;
    let stored = store.shards("default", Some("c_contact")).count();
    println!(
        "burst: {n} concurrent one-record deliveries to the release binary in {:.2}s: peak RSS {:.0} MB, peak threads {peak_threads} ({threads_before} idle), {refused} answers 503 (retried); {stored} shards stored",
        elapsed.as_secs_f64(),
        peak_rss as f64 / 1024.0,
    );
    if stored != n {
        return Err(format!("stored {stored} of {n}").into());
    }
    Ok(())
}

/// The store of an exited server (sled may hold its lock a moment longer in a child that
/// just exited: bounded retries).
fn open_when_released(path: &std::path::Path) -> Res<SledStore> {
    let mut last = None;
    for _ in 0..100 {
        match SledStore::open(path) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(last.map(|e| e.to_string()).unwrap_or_default().into())
}
