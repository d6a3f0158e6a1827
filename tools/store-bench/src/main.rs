//! store-bench: simulate cmap's initial-sync write pattern and an unchanged re-run
//! against sled / redb / fjall with two key layouts.
//!
//! usage: store-bench ENGINE LAYOUT N [DIR]
//!   ENGINE: sled16 | sled64 | redb | fjall | serialize
//!   LAYOUT: five | two
//! prints one JSON line.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use serde::Serialize;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Instant;
use redb::{ReadableDatabase, ReadableTable};

const BATCH: usize = 2_000;
const MIB: usize = 1024 * 1024;

// ---------------------------------------------------------------- data model

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StructuredData<'a> {
    email: String,
    name: String,
    phone: String,
    street: String,
    source: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExtRel<'a> {
    integration_id: &'a str,
    external_id: &'a str,
    external_type: &'a str,
    last_synced_at: &'a str,
    sync_status: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Meta<'a> {
    shard_id: &'a str,
    integration_id: &'a str,
    content_hash: String,
    version: u64,
    last_synced_at: &'a str,
    sync_status: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Shard<'a> {
    id: &'a str,
    tenant_id: &'a str,
    shard_type_id: &'a str,
    structured_data: StructuredData<'a>,
    external_relationships: Vec<ExtRel<'a>>,
    created_at: &'a str,
    updated_at: &'a str,
    version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    meta: Option<Meta<'a>>, // only in the "two" layout (meta folded in)
}

const TENANT: &str = "0191a7b2-5c3e-7d4f-8a9b-1c2d3e4f5a6b";

fn ext_id(i: usize) -> String {
    // "003000000000000000" + counter, zero-padded to 18 chars, increasing
    format!("003{:015}", i)
}

fn ts(i: usize) -> String {
    let s = i % 60;
    let m = (i / 60) % 60;
    let h = (i / 3600) % 24;
    format!("2025-03-14T{:02}:{:02}:{:02}.{:03}Z", h, m, s, i % 1000)
}

fn hash16(bytes: &[u8]) -> [u8; 16] {
    let mut a = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut a);
    let x = a.finish();
    let mut b = std::collections::hash_map::DefaultHasher::new();
    (x, bytes.len()).hash(&mut b);
    let y = b.finish();
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&x.to_le_bytes());
    out[8..].copy_from_slice(&y.to_le_bytes());
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{:02x}", x)).collect()
}

/// One generated record: all keys/values to write plus the keys to probe.
struct Rec {
    writes: Vec<(Vec<u8>, Vec<u8>)>,
    probes: Vec<Vec<u8>>, // point reads (all miss) done before insert
}

fn key(parts: &[&str]) -> Vec<u8> {
    let mut k = Vec::with_capacity(64);
    for p in parts {
        k.extend_from_slice(p.as_bytes());
        k.push(0);
    }
    k
}

fn shard_key(id: &str) -> Vec<u8> {
    key(&["T", "shard", id])
}
fn meta_key(id: &str) -> Vec<u8> {
    key(&["T", "meta", id])
}
fn ext_key(ext: &str) -> Vec<u8> {
    key(&["T", "ext", "salesforce", "Contact", ext])
}
fn ref_key(ext: &str) -> Vec<u8> {
    key(&["T", "ref", "salesforce", "c_contact", ext])
}
fn type_key(id: &str) -> Vec<u8> {
    key(&["T", "type", "c_contact", id])
}

/// Build the shard JSON (and meta) for record i. Returns (shard_json, meta_json?, hash)
fn build(i: usize, id: &str, ext: &str, fold_meta: bool) -> (Vec<u8>, Option<Vec<u8>>, [u8; 16]) {
    let t = ts(i);
    let sd = StructuredData {
        email: format!("firstname.lastname.{}@example-corporation-holdings{}.com", i, i % 97),
        name: format!("Contact Number {} Lastname{}", i, i % 1013),
        phone: format!("+1-555-{:03}-{:04}", (i / 10000) % 1000, i % 10000),
        street: format!("{} Market Street, Suite {}, San Francisco, CA 94105", 100 + i % 9000, i % 500),
        source: "salesforce",
    };
    let rel = vec![ExtRel {
        integration_id: "salesforce",
        external_id: ext,
        external_type: "Contact",
        last_synced_at: &t,
        sync_status: "synced",
    }];
    let mut shard = Shard {
        id,
        tenant_id: TENANT,
        shard_type_id: "c_contact",
        structured_data: sd,
        external_relationships: rel,
        created_at: &t,
        updated_at: &t,
        version: 1,
        meta: None,
    };
    let body = serde_json::to_vec(&shard).unwrap();
    let h = hash16(&body);
    let meta = Meta {
        shard_id: id,
        integration_id: "salesforce",
        content_hash: hex(&h),
        version: 1,
        last_synced_at: &t,
        sync_status: "synced",
    };
    if fold_meta {
        shard.meta = Some(meta);
        (serde_json::to_vec(&shard).unwrap(), None, h)
    } else {
        let m = serde_json::to_vec(&meta).unwrap();
        (body, Some(m), h)
    }
}

fn make_rec(i: usize, two: bool) -> Rec {
    let id = uuid::Uuid::now_v7().to_string();
    let ext = ext_id(i);
    let q = |s: &str| serde_json::to_vec(s).unwrap();
    if two {
        let (shard, _, h) = build(i, &id, &ext, true);
        let mut extv = Vec::with_capacity(36 + 16 + 8);
        extv.extend_from_slice(id.as_bytes());
        extv.extend_from_slice(&h);
        extv.extend_from_slice(&1u64.to_le_bytes());
        Rec {
            probes: vec![shard_key(&id), ext_key(&ext)],
            writes: vec![(shard_key(&id), shard), (ext_key(&ext), extv)],
        }
    } else {
        let (shard, meta, _) = build(i, &id, &ext, false);
        Rec {
            probes: vec![meta_key(&id), ext_key(&ext), ref_key(&ext)],
            writes: vec![
                (shard_key(&id), shard),
                (meta_key(&id), meta.unwrap()),
                (type_key(&id), q(&id)),
                (ext_key(&ext), q(&id)),
                (ref_key(&ext), q(&id)),
            ],
        }
    }
}

/// From an ext value, extract the shard id (as string) for the re-run.
fn id_from_ext(v: &[u8], two: bool) -> String {
    if two {
        String::from_utf8(v[..36].to_vec()).unwrap()
    } else {
        serde_json::from_slice::<String>(v).unwrap()
    }
}

// ---------------------------------------------------------------- engines

trait Engine {
    fn get(&self, k: &[u8]) -> Option<Vec<u8>>;
    /// apply one page atomically + durably; `probes` are done first (all miss).
    /// returns seconds spent in [probe reads, stage+apply, durability(fsync/commit)]
    fn apply_page(&mut self, recs: &[Rec]) -> [f64; 3];
    /// run the re-run for one page of external indices; returns hits
    fn rerun_page(&self, range: std::ops::Range<usize>, two: bool) -> usize {
        let mut hits = 0;
        for i in range {
            let ek = ext_key(&ext_id(i));
            let v = self.get(&ek).expect("ext missing");
            let id = id_from_ext(&v, two);
            let mk = if two { shard_key(&id) } else { meta_key(&id) };
            if self.get(&mk).is_some() {
                hits += 1;
            }
        }
        hits
    }
    fn finish(&mut self) {}
}

struct Sled {
    db: sled::Db,
}
impl Engine for Sled {
    fn get(&self, k: &[u8]) -> Option<Vec<u8>> {
        self.db.get(k).unwrap().map(|v| v.to_vec())
    }
    fn apply_page(&mut self, recs: &[Rec]) -> [f64; 3] {
        let t0 = Instant::now();
        for r in recs {
            for p in &r.probes {
                assert!(self.db.get(p).unwrap().is_none());
            }
        }
        let t1 = Instant::now();
        let mut b = sled::Batch::default();
        for r in recs {
            for (k, v) in &r.writes {
                b.insert(k.as_slice(), v.as_slice());
            }
        }
        self.db.apply_batch(b).unwrap();
        let t2 = Instant::now();
        self.db.flush().unwrap();
        let t3 = Instant::now();
        [(t1 - t0).as_secs_f64(), (t2 - t1).as_secs_f64(), (t3 - t2).as_secs_f64()]
    }
}

const RT: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("kv");
struct Redb {
    db: redb::Database,
}
impl Engine for Redb {
    fn get(&self, k: &[u8]) -> Option<Vec<u8>> {
        let tx = self.db.begin_read().unwrap();
        let t = tx.open_table(RT).unwrap();
        t.get(k).unwrap().map(|v| v.value().to_vec())
    }
    fn apply_page(&mut self, recs: &[Rec]) -> [f64; 3] {
        let t0 = Instant::now();
        let tx = self.db.begin_write().unwrap(); // default Durability::Immediate
        let (t1, t2);
        {
            let mut t = tx.open_table(RT).unwrap();
            // probes read through the write txn (they all miss)
            for r in recs {
                for p in &r.probes {
                    assert!(t.get(p.as_slice()).unwrap().is_none());
                }
            }
            t1 = Instant::now();
            for r in recs {
                for (k, v) in &r.writes {
                    t.insert(k.as_slice(), v.as_slice()).unwrap();
                }
            }
            t2 = Instant::now();
        }
        tx.commit().unwrap();
        let t3 = Instant::now();
        [(t1 - t0).as_secs_f64(), (t2 - t1).as_secs_f64(), (t3 - t2).as_secs_f64()]
    }
    fn rerun_page(&self, range: std::ops::Range<usize>, two: bool) -> usize {
        // one read transaction per page
        let tx = self.db.begin_read().unwrap();
        let t = tx.open_table(RT).unwrap();
        let mut hits = 0;
        for i in range {
            let ek = ext_key(&ext_id(i));
            let v = t.get(ek.as_slice()).unwrap().expect("ext missing");
            let id = id_from_ext(v.value(), two);
            let mk = if two { shard_key(&id) } else { meta_key(&id) };
            if t.get(mk.as_slice()).unwrap().is_some() {
                hits += 1;
            }
        }
        hits
    }
}

struct Fjall {
    ks: fjall::Keyspace,
    p: fjall::PartitionHandle,
}
impl Engine for Fjall {
    fn get(&self, k: &[u8]) -> Option<Vec<u8>> {
        self.p.get(k).unwrap().map(|v| v.to_vec())
    }
    fn apply_page(&mut self, recs: &[Rec]) -> [f64; 3] {
        let t0 = Instant::now();
        for r in recs {
            for p in &r.probes {
                assert!(self.p.get(p).unwrap().is_none());
            }
        }
        let t1 = Instant::now();
        let mut b = self.ks.batch();
        for r in recs {
            for (k, v) in &r.writes {
                b.insert(&self.p, k.as_slice(), v.as_slice());
            }
        }
        b.commit().unwrap();
        let t2 = Instant::now();
        self.ks.persist(fjall::PersistMode::SyncAll).unwrap();
        let t3 = Instant::now();
        [(t1 - t0).as_secs_f64(), (t2 - t1).as_secs_f64(), (t3 - t2).as_secs_f64()]
    }
}

// ---------------------------------------------------------------- helpers

fn peak_rss_mb() -> f64 {
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru.ru_maxrss as f64 / 1024.0 // KiB on Linux
    }
}

fn dir_size(p: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut apparent = 0;
    let mut alloc = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let md = e.metadata().unwrap();
            if md.is_dir() {
                let (a, b) = dir_size(&e.path());
                apparent += a;
                alloc += b;
            } else {
                apparent += md.len();
                alloc += md.blocks() * 512;
            }
        }
    }
    (apparent, alloc)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: store-bench ENGINE LAYOUT N [DIR]");
        std::process::exit(2);
    }
    let engine = args[1].as_str();
    let layout = args[2].as_str();
    let two = match layout {
        "five" => false,
        "two" => true,
        _ => panic!("layout must be five|two"),
    };
    let n: usize = args[3].parse().unwrap();
    let dir = PathBuf::from(args.get(4).cloned().unwrap_or_else(|| "/tmp/store-bench-db".into()));

    if engine == "sizes" {
        let r = make_rec(n, two);
        for (k, v) in &r.writes {
            println!("{:>4} {:>4}  {}  {}", k.len(), v.len(), String::from_utf8_lossy(k).replace('\0', "\\0"), String::from_utf8_lossy(v));
        }
        return;
    }
    if engine == "serialize" {
        // baseline: generate + serde_json-serialise the N shard values (same
        // generator the store runs use), no store.
        let t0 = Instant::now();
        let mut bytes = 0usize;
        for i in 0..n {
            let r = make_rec(i, two);
            bytes += r.writes.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
            std::hint::black_box(&r);
        }
        let s = t0.elapsed().as_secs_f64();
        println!(
            "{{\"engine\":\"serialize\",\"layout\":\"{layout}\",\"n\":{n},\"load_s\":{s:.4},\"load_rps\":{:.0},\"bytes\":{bytes},\"peak_rss_mb\":{:.1}}}",
            n as f64 / s,
            peak_rss_mb()
        );
        return;
    }

    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let mut eng: Box<dyn Engine> = match engine {
        "sled16" | "sled64" => {
            let cap = if engine == "sled16" { 16 * MIB } else { 64 * MIB };
            let db = sled::Config::new()
                .path(&dir)
                .cache_capacity(cap as u64)
                .open()
                .unwrap();
            Box::new(Sled { db })
        }
        "redb" => {
            let db = redb::Builder::new()
                .set_cache_size(16 * MIB)
                .create(dir.join("db.redb"))
                .unwrap();
            // create the table up front
            let tx = db.begin_write().unwrap();
            tx.open_table(RT).unwrap();
            tx.commit().unwrap();
            Box::new(Redb { db })
        }
        "fjall" => {
            let ks = fjall::Config::new(&dir)
                .cache_size(16 * MIB as u64)
                .open()
                .unwrap();
            let p = ks
                .open_partition("kv", fjall::PartitionCreateOptions::default())
                .unwrap();
            Box::new(Fjall { ks, p })
        }
        _ => panic!("unknown engine"),
    };

    // ---- initial load
    let t0 = Instant::now();
    let mut i = 0;
    let mut page = Vec::with_capacity(BATCH);
    let mut gen_s = 0.0;
    let mut ph = [0.0f64; 3];
    while i < n {
        page.clear();
        let end = (i + BATCH).min(n);
        let tg = Instant::now();
        for j in i..end {
            page.push(make_rec(j, two));
        }
        gen_s += tg.elapsed().as_secs_f64();
        let p = eng.apply_page(&page);
        for k in 0..3 {
            ph[k] += p[k];
        }
        i = end;
    }
    drop(page);
    let load_s = t0.elapsed().as_secs_f64();
    let rss_after_load = peak_rss_mb();
    let (disk_apparent, disk_alloc) = dir_size(&dir);

    // ---- unchanged re-run: read ext, then meta (or shard in "two") by id
    let t1 = Instant::now();
    let mut hits = 0;
    let mut i = 0;
    while i < n {
        let end = (i + BATCH).min(n);
        hits += eng.rerun_page(i..end, two);
        i = end;
    }
    let rerun_s = t1.elapsed().as_secs_f64();
    assert_eq!(hits, n);
    eng.finish();
    let peak = peak_rss_mb();
    drop(eng);
    let (disk_closed, _) = dir_size(&dir);

    println!(
        "{{\"engine\":\"{engine}\",\"layout\":\"{layout}\",\"n\":{n},\"load_s\":{load_s:.4},\"load_rps\":{:.0},\"rerun_s\":{rerun_s:.4},\"rerun_rps\":{:.0},\"peak_rss_mb\":{peak:.1},\"rss_after_load_mb\":{rss_after_load:.1},\"disk_mb\":{:.1},\"disk_alloc_mb\":{:.1},\"disk_after_close_mb\":{:.1},\"gen_serialise_s\":{gen_s:.4},\"probe_s\":{:.4},\"apply_s\":{:.4},\"durable_s\":{:.4}}}",
        n as f64 / load_s,
        n as f64 / rerun_s,
        disk_apparent as f64 / MIB as f64,
        disk_alloc as f64 / MIB as f64,
        disk_closed as f64 / MIB as f64,
        ph[0],
        ph[1],
        ph[2],
    );
    let _ = std::fs::remove_dir_all(&dir);
}
