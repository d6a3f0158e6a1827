//! Benchmark: the runtime (selective reader + interpreter + writer) against a
//! hand-written serde_json mapping of the spec's Contact schema (Example 1).
//!
//! The schema is compiled from its `.cmap` text by the parser and compiler, then checked
//! against the spec's seed JSON and the example's tests. The cmap path reads with
//! [`ReadPlan::for_schema`]: only the keys the schema reads, down to
//! `MailingAddress.street`.
//!
//! `cargo bench --bench map` generates `BENCH_RECORDS` (default 200000) Salesforce-like
//! contacts with `../shared/data/gen_records.py` (`BENCH_GENERATOR` overrides the
//! script), checks that the IR matches the spec's example and that both paths write the
//! same bytes, then times `BENCH_ROUNDS` (default 5) alternating rounds of each path in
//! thread CPU time and prints records/s, the CPU ratio cmap/baseline (target <= 1.0,
//! aim 0.5) and the peak RSS after streaming N and 2N records (it must not grow with N).
//!
//! Then the same as whole processes (start-up, standard library, compile, read, write
//! included): `cmap map` (the release binary) against this bench's own binary re-run as
//! the hand-written program (`BENCH_PROCESS=baseline`), `BENCH_ROUNDS` alternating
//! rounds, CPU time (user + system) from `wait4`; the ratio's target is <= 0.5. And the
//! start-up of `cmap map` on a one-record input (median wall time of 15 runs; target
//! under 20 ms).
//!
//! `BENCH_ONLY=cmap` (or `baseline`) runs one path alone, for a profiler.
//!
//! Exits non-zero when a correctness check fails; the ratio is reported, not enforced,
//! since a shared machine makes timings noisy.

use std::error::Error;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path as FsPath, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::Instant;

use cmap::compile::ir::{Expr, FieldPlan, Schema, TemplatePart};
use cmap::compile::{compile, Options};
use cmap::runtime::{
    map_record, write_error, write_mapped, Context, NoShards, Outcome, ReadPlan, RecordReader,
};
use cmap::syntax::{self, SourceMap};
use serde_json::{json, Map, Value};

type Res<T> = Result<T, Box<dyn Error>>;

/// The spec's Example 1 as seed JSON (integrations-spec.md, "Conversion Schema Examples").
const SPEC_EXAMPLE: &str = r#"{
  "id": "sf-contact-to-contact",
  "name": "Salesforce Contact to Contact",
  "source": { "entity": "Contact", "filters": [ { "field": "IsDeleted", "operator": "eq", "value": false } ] },
  "target": { "shardTypeId": "c_contact", "createIfMissing": true, "updateIfExists": true, "deleteIfRemoved": false },
  "fieldMappings": [
    { "targetField": "email", "mappingType": "direct", "config": { "type": "direct", "sourceField": "Email" }, "required": true },
    { "targetField": "name", "mappingType": "composite",
      "config": { "type": "composite", "sourceFields": ["FirstName", "LastName"], "template": "${FirstName} ${LastName}" } },
    { "targetField": "phone", "mappingType": "transform",
      "config": { "type": "transform", "sourceField": "Phone",
                  "transformations": [ { "type": "replace", "config": { "search": " ", "replace": "" } } ] } },
    { "targetField": "street", "mappingType": "flatten",
      "config": { "type": "flatten", "sourceField": "MailingAddress", "path": "street" } },
    { "targetField": "source", "mappingType": "default", "config": { "type": "default", "value": "salesforce" } }
  ],
  "deduplication": { "strategy": "external_id", "externalIdField": "Id" },
  "isActive": true
}"#;

fn main() -> ExitCode {
    // The hand-written program as a process of its own: INPUT in, mapped lines out.
    if std::env::var("BENCH_PROCESS").as_deref() == Ok("baseline") {
        let input = std::env::args().nth(1).unwrap_or_default();
        let stdout = io::stdout();
        return match baseline_pass(FsPath::new(&input), &mut stdout.lock()) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("baseline process: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench map: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Res<bool> {
    let n: usize = env_number("BENCH_RECORDS", 200_000)?;
    let rounds: usize = env_number("BENCH_ROUNDS", 5)?.max(1);
    // The shared data directory sits beside the repository (`../shared`).
    let generator = std::env::var("BENCH_GENERATOR").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/gen_records.py").into()
    });
    let mut ok = true;

    let schema = contact_schema()?;
    let schema = &*schema;
    // `BENCH_ONLY=cmap|baseline`: run that path alone, for a profiler.
    if let Ok(only) = std::env::var("BENCH_ONLY") {
        let dir = tempfile::tempdir()?;
        let input = generate(&generator, n, dir.path())?;
        for _ in 0..rounds {
            let mut sink = Counter::default();
            let (_, cpu) = match only.as_str() {
                "cmap" => timed(|| cmap_pass(&input, schema, &mut sink))?,
                "baseline" => timed(|| baseline_pass(&input, &mut sink))?,
                other => {
                    return Err(format!("BENCH_ONLY={other}: expected cmap or baseline").into())
                }
            };
            println!(
                "{only}: {:.1} ms thread CPU, {} bytes out",
                cpu as f64 / 1e6,
                sink.bytes
            );
        }
        return Ok(true);
    }
    let spec: Value = serde_json::from_str(SPEC_EXAMPLE)?;
    let problems = ir_vs_spec(schema, &spec);
    for p in &problems {
        println!("IR differs from the spec example: {p}");
    }
    ok &= problems.is_empty();
    let problems = spec_tests(schema);
    for p in &problems {
        println!("spec example test: {p}");
    }
    ok &= problems.is_empty();
    println!("IR: matches the spec's Example 1; its tests pass");

    let dir = tempfile::tempdir()?;
    let input = generate(&generator, n, dir.path())?;
    let size = std::fs::metadata(&input)?.len();
    println!(
        "input: {n} records, {:.1} MB ({})",
        size as f64 / 1e6,
        input.display()
    );

    // Same output on the first 1000 records, byte for byte.
    let head = dir.path().join("head.jsonl");
    {
        let mut w = BufWriter::new(File::create(&head)?);
        for line in BufReader::new(File::open(&input)?).lines().take(1000) {
            writeln!(w, "{}", line?)?;
        }
        w.flush()?;
    }
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let counts = cmap_pass(&head, schema, &mut ours)?;
    baseline_pass(&head, &mut theirs)?;
    if ours == theirs {
        println!("output: identical bytes on the first 1000 records ({counts})");
    } else {
        ok = false;
        let first = ours
            .split(|b| *b == b'\n')
            .zip(theirs.split(|b| *b == b'\n'))
            .position(|(a, b)| a != b);
        println!("output: DIFFERS from the baseline (first differing line: {first:?})");
    }

    // Peak RSS: stream N, then 2N records; the high-water mark must not follow N.
    cmap_pass(&input, schema, &mut Counter::default())?;
    let rss_n = peak_rss_kb()?;
    let double = generate(&generator, 2 * n, dir.path())?;
    cmap_pass(&double, schema, &mut Counter::default())?;
    let rss_2n = peak_rss_kb()?;
    std::fs::remove_file(&double)?;

    // Alternating rounds, thread CPU time.
    let (mut cmap_ns, mut base_ns) = (Vec::new(), Vec::new());
    let (mut cmap_wall, mut base_wall) = (Vec::new(), Vec::new());
    let (mut cmap_bytes, mut base_bytes) = (0, 0);
    for _ in 0..rounds {
        let mut sink = Counter::default();
        let (wall, cpu) = timed(|| cmap_pass(&input, schema, &mut sink))?;
        cmap_ns.push(cpu);
        cmap_wall.push(wall);
        cmap_bytes = sink.bytes;
        let mut sink = Counter::default();
        let (wall, cpu) = timed(|| baseline_pass(&input, &mut sink))?;
        base_ns.push(cpu);
        base_wall.push(wall);
        base_bytes = sink.bytes;
    }
    if cmap_bytes != base_bytes {
        ok = false;
        println!("output size differs: cmap {cmap_bytes} bytes, baseline {base_bytes} bytes");
    }
    let (c, b) = (median(&mut cmap_ns), median(&mut base_ns));
    let rate = |ns: u64| n as f64 / (ns as f64 / 1e9);
    println!("cmap:     {:>10.0} records/s  (median thread CPU {:.1} ms, wall {:.1} ms, {rounds} rounds)", rate(c), c as f64 / 1e6, median(&mut cmap_wall) as f64 / 1e6);
    println!("baseline: {:>10.0} records/s  (median thread CPU {:.1} ms, wall {:.1} ms, {rounds} rounds)", rate(b), b as f64 / 1e6, median(&mut base_wall) as f64 / 1e6);
    let ratio = c as f64 / b as f64;
    let verdict = if ratio <= 0.5 {
        "meets the aim (<= 0.5)"
    } else if ratio <= 1.0 {
        "meets the target (<= 1.0)"
    } else {
        "MISSES the target (<= 1.0)"
    };
    println!("ratio cmap/baseline CPU: {ratio:.2} ({verdict})");
    println!(
        "peak RSS (VmHWM): {rss_n} kB after {n} records, {rss_2n} kB after {} records",
        2 * n
    );
    // Allow slack for allocator noise; a reader that held records would double.
    if rss_2n > rss_n + rss_n / 5 + 4096 {
        ok = false;
        println!("peak RSS GREW with the input size");
    }
    ok &= whole_process(&input, n, rounds, dir.path())?;
    Ok(ok)
}

/// `cmap map` against the hand-written program, each a whole process; then the start-up
/// of `cmap map` on one record. Returns whether both wrote the same bytes.
fn whole_process(input: &FsPath, n: usize, rounds: usize, dir: &FsPath) -> Res<bool> {
    let pipeline = dir.join("contact.cmap");
    std::fs::write(&pipeline, CMAP_TEXT)?;
    let cmap = |input: &FsPath, out: &FsPath| -> Res<(u64, u64)> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cmap"));
        cmd.current_dir(dir)
            .arg("map")
            .arg(&pipeline)
            .arg("--input")
            .arg(input);
        process_cpu(cmd, out)
    };
    let baseline = |input: &FsPath, out: &FsPath| -> Res<(u64, u64)> {
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.env("BENCH_PROCESS", "baseline").arg(input);
        process_cpu(cmd, out)
    };
    let (ours, theirs) = (dir.join("cmap.out"), dir.join("baseline.out"));
    let (mut cmap_ns, mut base_ns) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        cmap_ns.push(cmap(input, &ours)?.0);
        base_ns.push(baseline(input, &theirs)?.0);
    }
    let same = std::fs::read(&ours)? == std::fs::read(&theirs)?;
    let (c, b) = (median(&mut cmap_ns), median(&mut base_ns));
    let rate = |ns: u64| n as f64 / (ns as f64 / 1e9);
    println!(
        "whole process, cmap map: {:>10.0} records/s (median CPU {:.1} ms)",
        rate(c),
        c as f64 / 1e6
    );
    println!(
        "whole process, baseline: {:>10.0} records/s (median CPU {:.1} ms)",
        rate(b),
        b as f64 / 1e6
    );
    println!(
        "ratio cmap map/baseline whole-process CPU: {:.2} (target <= 0.50); outputs identical: {same}",
        c as f64 / b as f64
    );

    let one = dir.join("one.jsonl");
    let first = BufReader::new(File::open(input)?)
        .lines()
        .next()
        .transpose()?
        .unwrap_or_default();
    std::fs::write(&one, format!("{first}\n"))?;
    let mut walls = Vec::new();
    for _ in 0..15 {
        walls.push(cmap(&one, &dir.join("one.out"))?.1);
    }
    println!(
        "start-up, cmap map on one record: {:.1} ms median wall (target < 20 ms)",
        median(&mut walls) as f64 / 1e6
    );
    Ok(same)
}

/// Runs `cmd` with its stdout into `out`; its CPU time (user + system) and wall time,
/// in nanoseconds, from `wait4`.
fn process_cpu(mut cmd: Command, out: &FsPath) -> Res<(u64, u64)> {
    cmd.stdout(File::create(out)?).stderr(Stdio::null());
    let started = Instant::now();
    let child = cmd.spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for this child only.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed().as_nanos() as u64;
    if rc < 0 || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!("{cmd:?} failed").into());
    }
    let ns = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1000;
    Ok((ns(usage.ru_utime) + ns(usage.ru_stime), wall))
}

// ---- the schema ---------------------------------------------------------------------

/// Example 1 in `.cmap` (as pipelines/salesforce.cmap writes it).
const CMAP_TEXT: &str = r#"
schema sf-contact-to-contact "Salesforce Contact to Contact" {
  source salesforce.Contact where IsDeleted == false
  target c_contact
  dedupe external_id(Id)

  email! = Email
  name = "${FirstName} ${LastName}"
  phone = Phone | replace(" ", "")
  street = MailingAddress.street
  source = "salesforce"
}
"#;

/// The IR of [`CMAP_TEXT`], from the parser and compiler.
fn contact_schema() -> Res<Arc<Schema>> {
    let mut sources = SourceMap::default();
    let id = sources.add(PathBuf::from("contact.cmap"), CMAP_TEXT.to_string());
    let (doc, diagnostics) = syntax::parse(id, sources.get(id));
    if !diagnostics.is_empty() {
        return Err(format!("the schema does not parse: {diagnostics:?}").into());
    }
    let compilation = compile(&[doc], &Options::default());
    let Some(program) = compilation.program else {
        return Err(format!("the schema does not compile: {:?}", compilation.diagnostics).into());
    };
    let schema = program
        .schema("sf-contact-to-contact")
        .ok_or("no schema sf-contact-to-contact")?;
    Ok(Arc::clone(schema))
}

/// Every difference between the IR and the spec's seed JSON.
fn ir_vs_spec(schema: &Schema, spec: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut same = |what: &str, got: Value, want: &Value| {
        if got != *want {
            problems.push(format!("{what}: IR has {got}, spec has {want}"));
        }
    };
    same("id", json!(schema.id), &spec["id"]);
    same("name", json!(schema.name), &spec["name"]);
    same(
        "source.entity",
        json!(schema.entity),
        &spec["source"]["entity"],
    );
    let filters: Vec<Value> = schema
        .filters
        .iter()
        .map(|c| json!({"field": c.field.raw, "operator": c.op.as_str(), "value": c.value}))
        .collect();
    same("source.filters", json!(filters), &spec["source"]["filters"]);
    let t = &schema.target;
    same(
        "target",
        json!({"shardTypeId": t.shard_type, "createIfMissing": t.create_if_missing, "updateIfExists": t.update_if_exists, "deleteIfRemoved": t.delete_if_removed}),
        &spec["target"],
    );
    let key: Vec<&str> = schema
        .dedupe
        .fields
        .iter()
        .map(|p| p.raw.as_str())
        .collect();
    same(
        "deduplication",
        json!({"strategy": schema.dedupe.strategy.as_str(), "externalIdField": key.join(",")}),
        &spec["deduplication"],
    );
    same("isActive", json!(schema.active), &spec["isActive"]);
    let mappings: Vec<Value> = schema.fields.iter().map(seed_mapping).collect();
    let want = spec["fieldMappings"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    same(
        "fieldMappings count",
        json!(mappings.len()),
        &json!(want.len()),
    );
    for (got, want) in mappings.into_iter().zip(&want) {
        let mut want = want.clone();
        if let Some(m) = want.as_object_mut() {
            m.entry("required").or_insert(json!(false));
        }
        if let Some(steps) = want
            .pointer_mut("/config/transformations")
            .and_then(Value::as_array_mut)
        {
            for step in steps.iter_mut().filter_map(Value::as_object_mut) {
                step.remove("config");
            }
        }
        let what = format!("mapping {}", want["targetField"]);
        same(&what, got, &want);
    }
    problems
}

/// A field plan back as the spec's FieldMapping (only the shapes Example 1 uses).
fn seed_mapping(f: &FieldPlan) -> Value {
    let (kind, config) = match &f.expr {
        Expr::Direct(p) => ("direct", json!({"sourceField": p.raw})),
        Expr::Template(parts) => {
            let mut template = String::new();
            let mut fields = Vec::new();
            for part in parts {
                match part {
                    TemplatePart::Lit(s) => template.push_str(s),
                    TemplatePart::Field(p) => {
                        template.push_str(&format!("${{{}}}", p.raw));
                        fields.push(p.raw.clone());
                    }
                    TemplatePart::TaskKey(k) => template.push_str(&format!("{{{{task.{k}}}}}")),
                }
            }
            (
                "composite",
                json!({"sourceFields": fields, "template": template}),
            )
        }
        Expr::Transform(p, steps) => {
            // A compiled step keeps no config to compare; `spec_tests` checks what it does.
            let steps: Vec<Value> = steps.iter().map(|s| json!({"type": s.name})).collect();
            (
                "transform",
                json!({"sourceField": p.raw, "transformations": steps}),
            )
        }
        Expr::Flatten { field, path } => (
            "flatten",
            json!({"sourceField": field.raw, "path": path.raw}),
        ),
        Expr::Value(v) => ("default", json!({"value": v})),
        other => ("unexpected", json!(format!("{other:?}"))),
    };
    let mut typed = Map::new();
    typed.insert("type".into(), json!(kind));
    if let Value::Object(m) = config {
        typed.extend(m);
    }
    let config = Value::Object(typed);
    json!({"targetField": f.target, "mappingType": kind, "config": config, "required": f.required})
}

/// The tests of Example 1 in pipelines/salesforce.cmap.
fn spec_tests(schema: &Schema) -> Vec<String> {
    let ctx = Context {
        task: &Map::new(),
        shards: &NoShards,
        explain: false,
    };
    let cases = [
        (
            json!({"Id": "003A000001", "IsDeleted": false, "FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com",
                   "Phone": "+1 555 010 0199", "MailingAddress": {"street": "12 St James's Square", "city": "London"}}),
            "mapped 003A000001 {\"email\":\"ada@example.com\",\"name\":\"Ada Lovelace\",\"phone\":\"+15550100199\",\"street\":\"12 St James's Square\",\"source\":\"salesforce\"}",
        ),
        (
            json!({"Id": "003A000002", "IsDeleted": false, "FirstName": "Grace", "LastName": "Hopper", "Email": "grace@example.com"}),
            "mapped 003A000002 {\"email\":\"grace@example.com\",\"name\":\"Grace Hopper\",\"phone\":null,\"street\":null,\"source\":\"salesforce\"}",
        ),
        (json!({"Id": "003A000003", "IsDeleted": true, "LastName": "Gone", "Email": "gone@example.com"}), "skipped"),
        (json!({"Id": "003A000004", "IsDeleted": false, "FirstName": "Alan", "LastName": "Turing"}), "failed email"),
    ];
    let mut problems = Vec::new();
    for (input, want) in cases {
        let got = match map_record(schema, &input, &ctx) {
            Outcome::Mapped(m) => format!(
                "mapped {} {}",
                m.external_id,
                Value::Object(m.structured_data)
            ),
            Outcome::Skipped(_) => "skipped".into(),
            Outcome::Failed(e) => format!("failed {}", e.field.unwrap_or_default()),
        };
        if got != want {
            problems.push(format!("{input}: got `{got}`, want `{want}`"));
        }
    }
    problems
}

// ---- the two paths ------------------------------------------------------------------

#[derive(Default)]
struct Counts {
    mapped: usize,
    skipped: usize,
    failed: usize,
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} mapped, {} skipped, {} failed",
            self.mapped, self.skipped, self.failed
        )
    }
}

/// What `cmap map` does: read only the keys the schema reads, interpret, write.
fn cmap_pass(input: &FsPath, schema: &Schema, out: &mut impl Write) -> Res<Counts> {
    let task = Map::new();
    let ctx = Context {
        task: &task,
        shards: &NoShards,
        explain: false,
    };
    let has_relationships = !schema.relationships.is_empty();
    let mut out = BufWriter::with_capacity(1 << 16, out);
    let plan = ReadPlan::for_schema(schema);
    let mut reader =
        RecordReader::with_plan(BufReader::with_capacity(1 << 16, File::open(input)?), plan);
    let mut counts = Counts::default();
    // As `cmap map`: one record read into again and again, reusing its allocations.
    let mut record = Value::Null;
    while let Some(item) = reader.read_into(&mut record) {
        match item {
            Ok(()) => match map_record(schema, &record, &ctx) {
                Outcome::Mapped(m) => {
                    counts.mapped += 1;
                    write_mapped(&mut out, &m, false, has_relationships)?;
                }
                Outcome::Skipped(_) => counts.skipped += 1,
                Outcome::Failed(e) => {
                    counts.failed += 1;
                    write_error(&mut io::sink(), reader.line(), &record, &e)?;
                }
            },
            Err(e) => {
                counts.failed += 1;
                write_error(&mut io::sink(), e.line, &Value::Null, &e.to_record_error())?;
            }
        }
    }
    out.flush()?;
    Ok(counts)
}

/// The same mapping written by hand over whole `serde_json::Value` records.
fn baseline_pass(input: &FsPath, out: &mut impl Write) -> Res<Counts> {
    let mut out = BufWriter::with_capacity(1 << 16, out);
    let mut reader = BufReader::with_capacity(1 << 16, File::open(input)?);
    let mut line = String::new();
    let mut counts = Counts::default();
    let text = |v: Option<&Value>| match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        let record: Value = match serde_json::from_str(&line) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                counts.failed += 1;
                continue;
            }
        };
        if record.get("IsDeleted") != Some(&Value::Bool(false)) {
            counts.skipped += 1;
            continue;
        }
        let id = match record.get("Id") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                counts.failed += 1;
                continue;
            }
        };
        let email = record.get("Email").cloned().unwrap_or(Value::Null);
        if email.is_null() || email == json!("") {
            counts.failed += 1;
            continue;
        }
        let name = format!(
            "{} {}",
            text(record.get("FirstName")),
            text(record.get("LastName"))
        );
        let phone = match record.get("Phone") {
            Some(Value::String(s)) => Value::String(s.replace(' ', "")),
            None | Some(Value::Null) => Value::Null,
            Some(_) => {
                counts.failed += 1;
                continue;
            }
        };
        let street = record
            .get("MailingAddress")
            .and_then(|a| a.get("street"))
            .cloned()
            .unwrap_or(Value::Null);
        let output = json!({
            "shardTypeId": "c_contact",
            "externalId": id,
            "structuredData": { "email": email, "name": name, "phone": phone, "street": street, "source": "salesforce" },
        });
        serde_json::to_writer(&mut out, &output)?;
        out.write_all(b"\n")?;
        counts.mapped += 1;
    }
    out.flush()?;
    Ok(counts)
}

// ---- measuring ----------------------------------------------------------------------

/// Counts the bytes written and drops them.
#[derive(Default)]
struct Counter {
    bytes: u64,
}

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// (wall ns, thread CPU ns) of `f`.
fn timed<T>(f: impl FnOnce() -> Res<T>) -> Res<(u64, u64)> {
    let wall = Instant::now();
    let cpu = thread_cpu_ns()?;
    f()?;
    let cpu = thread_cpu_ns()? - cpu;
    Ok((wall.elapsed().as_nanos() as u64, cpu))
}

fn thread_cpu_ns() -> Res<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Err(format!("clock_gettime: {}", io::Error::last_os_error()).into());
    }
    Ok(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

fn median(v: &mut [u64]) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// VmHWM from /proc/self/status, in kB.
fn peak_rss_kb() -> Res<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .ok_or("no VmHWM in /proc/self/status")?;
    Ok(line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?)
}

fn generate(script: &str, n: usize, dir: &FsPath) -> Res<PathBuf> {
    let path = dir.join(format!("contacts-{n}.jsonl"));
    let file = File::create(&path)?;
    let status = Command::new("python3")
        .arg(script)
        .arg(n.to_string())
        .stdout(Stdio::from(file))
        .status()?;
    if !status.success() {
        return Err(format!("{script} {n} failed: {status}").into());
    }
    Ok(path)
}

fn env_number(name: &str, default: usize) -> Res<usize> {
    match std::env::var(name) {
        Ok(v) => Ok(v.trim().parse().map_err(|e| format!("{name}={v}: {e}"))?),
        Err(_) => Ok(default),
    }
}
