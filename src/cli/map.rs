//! `cmap map FILE [--schema ID] --input RECORDS [--task KEY=VALUE]… [--errors FILE] [--explain]`:
//! maps JSON-lines records through one schema, streaming: one output line per mapped
//! record on stdout, failed records to the `--errors` file, a summary on stderr.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;

use serde_json::{Map, Value};

use super::{load, Global, EXIT_FAILURE, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE};
use crate::runtime::{self, Context, NoShards, Outcome, RecordReader};
use crate::syntax::ast::Item;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The pipeline file declaring the schema (.cmap or seed JSON).
    file: PathBuf,
    /// The schema to run; needed when the file declares more than one.
    #[arg(long, value_name = "ID")]
    schema: Option<String>,
    /// JSON-lines records, or `-` for stdin.
    #[arg(long, value_name = "RECORDS")]
    input: PathBuf,
    /// Task config for `{{task.KEY}}` and custom scripts; VALUE is JSON when it parses
    /// as JSON, else a string. Repeatable.
    #[arg(long = "task", value_name = "KEY=VALUE", value_parser = parse_task_entry)]
    task: Vec<(String, Value)>,
    /// Write each failed record, with its code, field and message, to this file (JSON lines).
    #[arg(long, value_name = "FILE")]
    errors: Option<PathBuf>,
    /// Add, per output field, the mapping or rule that produced it.
    #[arg(long)]
    explain: bool,
}

fn parse_task_entry(s: &str) -> Result<(String, Value), String> {
    let (key, value) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))?;
    if key.is_empty() {
        return Err(format!("`{s}` has an empty key"));
    }
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()));
    Ok((key.to_string(), value))
}

/// Failures shown on stderr when there is no `--errors` file.
const SHOWN_FAILURES: usize = 10;

pub fn run(global: &Global, args: Args) -> u8 {
    let checked = match load::check(std::slice::from_ref(&args.file), global) {
        Ok(c) => c,
        Err(e) => {
            e.print();
            return EXIT_USAGE;
        }
    };
    load::report(&checked, global);
    let Some(program) = checked.program.as_ref().filter(|_| !checked.has_errors()) else {
        return EXIT_FAILURE;
    };

    // The schemas the file itself declares (the standard library's are reachable by id).
    let declared: Vec<&str> = checked
        .workspace
        .user_files
        .iter()
        .flat_map(|&f| checked.workspace.documents[f as usize].items.iter())
        .filter_map(|item| match item {
            Item::Schema(s) => Some(s.id.node.as_str()),
            _ => None,
        })
        .collect();
    let schema = match (&args.schema, declared.as_slice()) {
        (Some(id), _) => match program.schema(id) {
            Some(s) => s,
            None => {
                super::print_error(
                    &format!("no schema `{id}` in `{}`", args.file.display()),
                    Some(&format!("schemas declared there: {}", declared.join(", "))),
                );
                return EXIT_USAGE;
            }
        },
        (None, [one]) => match program.schema(one) {
            Some(s) => s,
            None => return EXIT_FAILURE,
        },
        (None, []) => {
            super::print_error(
                &format!("`{}` declares no schema", args.file.display()),
                Some("pass the file that declares the schema to run"),
            );
            return EXIT_USAGE;
        }
        (None, many) => {
            super::print_error(
                &format!("`{}` declares {} schemas", args.file.display(), many.len()),
                Some(&format!("choose one with --schema: {}", many.join(", "))),
            );
            return EXIT_USAGE;
        }
    };

    let input: Box<dyn BufRead> = if args.input.as_os_str() == "-" {
        Box::new(BufReader::with_capacity(1 << 16, io::stdin()))
    } else {
        match File::open(&args.input) {
            Ok(f) => Box::new(BufReader::with_capacity(1 << 16, f)),
            Err(e) => {
                super::print_error(
                    &format!("cannot read `{}`: {e}", args.input.display()),
                    None,
                );
                return EXIT_USAGE;
            }
        }
    };
    let mut errors_out = match &args.errors {
        Some(path) => match File::create(path) {
            Ok(f) => Some(BufWriter::new(f)),
            Err(e) => {
                super::print_error(&format!("cannot write `{}`: {e}", path.display()), None);
                return EXIT_USAGE;
            }
        },
        None => None,
    };

    let task: Map<String, Value> = args.task.into_iter().collect();
    let ctx = Context {
        task: &task,
        shards: &NoShards,
        explain: args.explain,
    };
    let has_relationships = !schema.relationships.is_empty();
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut counts = Counts::default();
    let mut reader = RecordReader::with_plan(input, runtime::ReadPlan::for_schema(schema));
    // One record, read into again and again: each reuses the last one's allocations.
    let mut record = Value::Null;

    while let Some(item) = reader.read_into(&mut record) {
        counts.records += 1;
        let failure = match item {
            Ok(()) => match runtime::map_record(schema, &record, &ctx) {
                Outcome::Mapped(m) => {
                    counts.mapped += 1;
                    if let Err(e) =
                        runtime::write_mapped(&mut out, &m, args.explain, has_relationships)
                    {
                        return output_error(&e, &counts);
                    }
                    continue;
                }
                Outcome::Skipped(_) => {
                    counts.skipped += 1;
                    continue;
                }
                Outcome::Failed(err) => err,
            },
            Err(input_error) if input_error.io => {
                // Not a bad line: the input itself cannot be read.
                super::print_error(
                    &format!(
                        "cannot read `{}`: {}",
                        args.input.display(),
                        input_error.message
                    ),
                    None,
                );
                return EXIT_USAGE;
            }
            Err(input_error) => input_error.to_record_error(),
        };
        counts.failed += 1;
        let line = reader.line();
        // The whole record, even when only some keys were parsed for mapping.
        let record: Value = serde_json::from_str(&reader.raw_line())
            .unwrap_or_else(|_| Value::String(reader.raw_line().into_owned()));
        match errors_out.as_mut() {
            Some(w) => {
                if let Err(e) = runtime::write_error(w, line, &record, &failure) {
                    super::print_error(&format!("cannot write the errors file: {e}"), None);
                    return EXIT_USAGE;
                }
            }
            None if counts.failed <= SHOWN_FAILURES as u64 => errln!("line {line}: {failure}"),
            None => {}
        }
    }
    if let Err(e) = out.flush() {
        return output_error(&e, &counts);
    }
    if let Some(Err(e)) = errors_out.as_mut().map(Write::flush) {
        super::print_error(&format!("cannot write the errors file: {e}"), None);
        return EXIT_USAGE;
    }
    if errors_out.is_none() && counts.failed > SHOWN_FAILURES as u64 {
        errln!(
            "... and {} more failures (use --errors FILE to keep them all)",
            counts.failed - SHOWN_FAILURES as u64
        );
    }
    errln!(
        "{} records: {} mapped, {} skipped, {} failed{}",
        counts.records,
        counts.mapped,
        counts.skipped,
        counts.failed,
        match (&args.errors, counts.failed) {
            (Some(path), 1..) => format!(" (see {})", path.display()),
            _ => String::new(),
        }
    );
    counts.code()
}

#[derive(Default)]
struct Counts {
    records: u64,
    mapped: u64,
    skipped: u64,
    failed: u64,
}

impl Counts {
    /// 3 when a record failed, else 0.
    fn code(&self) -> u8 {
        if self.failed > 0 {
            EXIT_PARTIAL
        } else {
            EXIT_OK
        }
    }
}

/// A closed stdout (`cmap map … | head`) is not an error: stop quietly, with the code
/// of the records mapped so far.
fn output_error(e: &io::Error, counts: &Counts) -> u8 {
    super::out::write_failed(e).unwrap_or_else(|| counts.code())
}
