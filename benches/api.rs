//! Benchmark: the authenticated platform API on loopback, `cmap serve` in this process
//! (the real router, token checks, tenant scoping, the sled store).
//!
//! `BENCH_CLIENTS` (default 16) clients send requests back to back for
//! `BENCH_SECONDS` (default 5) per scenario; each scenario reports requests/s and the
//! p50/p99 latency, and its ratio against the baseline measured in the same run (these
//! machines are shared and noisy, so only ratios compare across runs):
//!
//! - baseline: `GET /healthz` (no token, no store): what the HTTP stack itself costs;
//! - read: `GET /api/executions?limit=20` as a tenant admin (token check, tenant
//!   resolution, a store page of 20 executions);
//! - schema write: `PATCH /api/tenant/integrations/rest/schemas/{id}` (`.cmap` text) as a
//!   tenant admin, each client on a schema of its own: checked like `cmap check`, stored
//!   with its audit entry, and live when answered (a reload compiles the workspace and
//!   swaps it in), so writes are serialised and each costs a compile.

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cmap::engine::{Engine, Options as EngineOptions};
use cmap::serve::server::{self, Options};
use cmap::store::identity::{Role, Tenant, User};
use cmap::store::{Batch, Op, SledStore, Store};

/// The allocator `cmap serve` runs with (`src/main.rs`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Res<T> = Result<T, Box<dyn Error>>;

const PIPELINE: &str = r#"
schema people {
  source rest.people
  target c_contact
  dedupe external_id(id)
  name = name
}
"#;

const TENANT_PIPELINE: &str = r#"
connection acme-api {
  integration rest
  auth none
  settings { baseUrl: "http://127.0.0.1:9", path: "/people" }
}
task acme-sync { schema people  connection acme-api }
"#;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What one scenario measured.
struct Figures {
    requests: usize,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
}

impl Figures {
    fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// `clients` loops of `request(client index, n)` for `seconds`; each answer must be
/// 2xx.
async fn measure<F, Fut>(clients: usize, seconds: u64, request: F) -> Res<Figures>
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<reqwest::Response, reqwest::Error>> + Send,
{
    let request = Arc::new(request);
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0;
            while Instant::now() < until {
                let t = Instant::now();
                let resp = request(c, n).await.map_err(|e| e.to_string())?;
                if !resp.status().is_success() {
                    let status = resp.status();
                    let body = resp.text().await.unwrap_or_default();
                    return Err(format!("status {status}: {body}"));
                }
                let _ = resp.bytes().await;
                latencies.push(t.elapsed());
                n += 1;
            }
            Ok::<_, String>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    if latencies.is_empty() {
        return Err("no request finished".into());
    }
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    Ok(Figures {
        requests: latencies.len(),
        elapsed,
        p50: pct(0.50),
        p99: pct(0.99),
    })
}

fn report(name: &str, f: &Figures, baseline: Option<&Figures>) {
    let ratio = baseline
        .map(|b| {
            format!(
                ", {:.2}x of the baseline's requests/s",
                f.per_second() / b.per_second()
            )
        })
        .unwrap_or_default();
    println!(
        "api {name}: {} requests in {:.1}s: {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms{ratio}",
        f.requests,
        f.elapsed.as_secs_f64(),
        f.per_second(),
        f.p50.as_secs_f64() * 1000.0,
        f.p99.as_secs_f64() * 1000.0,
    );
}

#[tokio::main]
async fn main() -> Res<()> {
    let clients = env("BENCH_CLIENTS", 16).max(1);
    let seconds = env("BENCH_SECONDS", 5).max(1) as u64;

    let dir = tempfile::tempdir()?;
    let pipelines = dir.path().join("pipelines");
    std::fs::create_dir_all(pipelines.join("tenants/acme"))?;
    std::fs::write(pipelines.join("people.cmap"), PIPELINE)?;
    std::fs::write(pipelines.join("tenants/acme/sync.cmap"), TENANT_PIPELINE)?;
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&dir.path().join("data"))?);
    let now = chrono::Utc::now();
    store.add_tenant(&Tenant {
        id: "acme".into(),
        name: "Acme".into(),
        created_at: now,
    })?;
    let admin = User {
        id: uuid::Uuid::now_v7().to_string(),
        email: "admin@acme.test".into(),
        role: Role::TenantAdmin,
        tenant_id: Some("acme".into()),
        created_at: now,
    };
    let (record, token) = cmap::store::api_token::mint(&admin, now, None)?;
    store.add_user(&admin, &record)?;
    let token = token.expose().to_string();
    // A page of executions to read.
    let mut batch = Batch::new("acme");
    for i in 0..200 {
        batch.push(Op::PutExecution(serde_json::from_value(
            serde_json::json!({
                "id": format!("e{i:04}"), "tenantId": "acme", "syncTaskId": "acme-sync",
                "tenantIntegrationId": "rest", "startedAt": now, "completedAt": now,
                "durationMs": 10, "triggeredBy": "schedule", "status": "success",
                "progress": {"phase": "complete", "processedRecords": 0, "percentage": 100.0},
                "results": {"fetched": 0, "created": 0, "updated": 0, "skipped": 0, "failed": 0},
                "errors": [], "retryCount": 0
            }),
        )?));
    }
    store.commit(batch)?;

    // `rest` enabled for acme: the schemas written live under it.
    store.create_tenant_integration(
        &serde_json::from_value(serde_json::json!({
            "id": "rest", "tenantId": "acme", "integrationId": "rest", "status": "connected",
            "enabledAt": now, "enabledBy": "bench",
            "settings": {"baseUrl": "http://127.0.0.1:9", "path": "/people"},
            "createdAt": now, "updatedAt": now, "version": 0
        }))?,
        None,
    )?;
    let engine = Arc::new(Engine::new(store, None, EngineOptions::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let options = Options {
        pipelines,
        watch: false,
        ..Options::default()
    };
    tokio::spawn(server::run(
        options,
        engine,
        listener,
        None,
        std::future::pending(),
    ));
    let client = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..1000 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                ready = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if !ready {
        return Err("the server never became ready".into());
    }

    let baseline = {
        let (client, base) = (client.clone(), base.clone());
        measure(clients, seconds, move |_, _| {
            client.get(format!("{base}/healthz")).send()
        })
        .await?
    };
    report("baseline GET /healthz", &baseline, None);
    let read = {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        measure(clients, seconds, move |_, _| {
            client
                .get(format!("{base}/api/executions?limit=20"))
                .bearer_auth(&token)
                .send()
        })
        .await?
    };
    report("read GET /api/executions?limit=20", &read, Some(&baseline));
    let schema = |c: usize, n: usize| {
        format!(
            "schema bench-{c} {{\n  source rest.people\n  target c_contact\n  dedupe external_id(id)\n  name = name\n  source = \"v{n}\"\n}}\n"
        )
    };
    for c in 0..clients {
        let r = client
            .post(format!("{base}/api/tenant/integrations/rest/schemas"))
            .bearer_auth(&token)
            .header("content-type", "text/x-cmap")
            .body(schema(c, 0))
            .send()
            .await?;
        if r.status() != 201 {
            return Err(format!("creating schema {c}: {} {}", r.status(), r.text().await?).into());
        }
    }
    let write = {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        measure(clients, seconds, move |c, n| {
            client
                .patch(format!(
                    "{base}/api/tenant/integrations/rest/schemas/bench-{c}"
                ))
                .bearer_auth(&token)
                .header("content-type", "text/x-cmap")
                .body(schema(c, n + 1))
                .send()
        })
        .await?
    };
    report(
        "schema write PATCH /api/tenant/integrations/rest/schemas/{id}",
        &write,
        Some(&baseline),
    );
    Ok(())
}
