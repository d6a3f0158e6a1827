//! `cmap test [PATHS…]`: runs the `test` blocks of the schemas in the given files,
//! shows a diff for each failure, and ends with `N passed, M failed`.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde_json::{json, Map, Value};

use super::{load, Global, EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use crate::compile::ir::{Schema, Test, TestExpect};
use crate::runtime::{self, Context, Mapped, NoShards, Outcome};
use crate::syntax::ast::Item;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Pipeline files or directories (default: `pipelines/`).
    paths: Vec<PathBuf>,
}

pub fn run(global: &Global, args: Args) -> u8 {
    let checked = match load::default_paths(args.paths).and_then(|p| load::check(&p, global)) {
        Ok(c) => c,
        Err(e) => {
            e.print();
            return EXIT_USAGE;
        }
    };
    load::report(&checked, global);
    let Some(program) = checked.program.as_ref().filter(|_| !checked.has_errors()) else {
        errln!("tests not run: the pipeline does not check");
        return EXIT_FAILURE;
    };
    let ids: Vec<&str> = checked
        .workspace
        .user_files
        .iter()
        .flat_map(|&f| checked.workspace.documents[f as usize].items.iter())
        .filter_map(|item| match item {
            Item::Schema(s) => Some(s.id.node.as_str()),
            _ => None,
        })
        .collect();

    let mut out = super::out::Out::stdout();
    let (mut passed, mut failed) = (0, 0);
    let mut failures = String::new();
    for schema in ids.iter().filter_map(|id| program.schema(id)) {
        for test in &schema.tests {
            match run_test(schema, test) {
                Ok(()) => {
                    passed += 1;
                    outln!(out, "test {} › {} ... ok", schema.id, test.name);
                }
                Err(why) => {
                    failed += 1;
                    outln!(out, "test {} › {} ... FAILED", schema.id, test.name);
                    let _ = writeln!(failures, "\n---- {} › {} ----\n{why}", schema.id, test.name);
                }
            }
        }
    }
    if failed > 0 {
        outln!(out, "\nfailures:{failures}");
    }
    outln!(out, "\n{passed} passed, {failed} failed");
    out.finish(if failed > 0 { EXIT_FAILURE } else { EXIT_OK })
}

/// Runs one test; `Err` says every expectation that does not hold.
pub fn run_test(schema: &Schema, test: &Test) -> Result<(), String> {
    let ctx = Context {
        task: &test.task,
        shards: &NoShards,
        explain: false,
    };
    let outcome = runtime::map_record(schema, &test.input, &ctx);
    let mut problems = Vec::new();
    for expect in &test.expect {
        if let Err(p) = check_one(&outcome, expect) {
            problems.push(p);
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

fn check_one(outcome: &Outcome, expect: &TestExpect) -> Result<(), String> {
    let mapped = |what: &str| -> Result<&Mapped, String> {
        match outcome {
            Outcome::Mapped(m) => Ok(m),
            Outcome::Skipped(s) => Err(format!(
                "expected {what}, but the record was skipped by filter `{}`",
                s.description
            )),
            Outcome::Failed(e) => Err(format!("expected {what}, but the record failed: {e}")),
        }
    };
    match expect {
        TestExpect::Data(want) => {
            let got = Value::Object(mapped("structuredData")?.structured_data.clone());
            same("structuredData", want, &got)
        }
        TestExpect::ExternalId(want) => {
            let got = Value::String(mapped("an external id")?.external_id.clone());
            let want = match want {
                Value::String(_) => want.clone(),
                other => Value::String(other.to_string()),
            };
            same("externalId", &want, &got)
        }
        TestExpect::Relationships(want) => {
            let m = mapped("relationships")?;
            let got = Value::Array(
                m.relationships
                    .iter()
                    .map(|r| {
                        json!({
                            "relationshipType": r.relationship_type,
                            "targetField": r.target_field,
                            "shardTypeId": r.shard_type_id,
                            "externalId": r.external_id,
                        })
                    })
                    .collect(),
            );
            same("relationships", want, &got)
        }
        TestExpect::Skipped => match outcome {
            Outcome::Skipped(_) => Ok(()),
            Outcome::Mapped(m) => Err(format!(
                "expected the record to be skipped, but it was mapped to {}",
                compact(&Value::Object(m.structured_data.clone()))
            )),
            Outcome::Failed(e) => Err(format!(
                "expected the record to be skipped, but it failed: {e}"
            )),
        },
        TestExpect::Failed { field } => match outcome {
            Outcome::Failed(e) => match field {
                Some(f) if e.field.as_deref() != Some(f.as_str()) => Err(format!(
                    "expected a failure on `{f}`, but it failed on {}: {e}",
                    e.field
                        .as_deref()
                        .map_or("no field".into(), |x| format!("`{x}`"))
                )),
                _ => Ok(()),
            },
            Outcome::Mapped(m) => Err(format!(
                "expected the record to fail{}, but it was mapped to {}",
                field
                    .as_deref()
                    .map(|f| format!(" on `{f}`"))
                    .unwrap_or_default(),
                compact(&Value::Object(m.structured_data.clone()))
            )),
            Outcome::Skipped(s) => Err(format!(
                "expected the record to fail, but it was skipped by filter `{}`",
                s.description
            )),
        },
    }
}

/// Equal, or a line diff of the pretty JSON (`-` expected, `+` actual).
fn same(what: &str, want: &Value, got: &Value) -> Result<(), String> {
    if want == got {
        return Ok(());
    }
    let (w, g) = (pretty(want), pretty(got));
    let mut out = format!("{what} differs (- expected, + actual):\n");
    for change in similar::TextDiff::from_lines(&w, &g).iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Delete => '-',
            similar::ChangeTag::Insert => '+',
            similar::ChangeTag::Equal => ' ',
        };
        let _ = write!(out, "{sign} {change}");
    }
    Err(out.trim_end().to_string())
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(&sorted(v)).unwrap_or_default();
    s.push('\n');
    s
}

/// Keys sorted, so a diff shows values, not ordering.
fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&m[k])))
                    .collect::<Map<_, _>>(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}
