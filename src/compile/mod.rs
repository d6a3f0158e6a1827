//! Compile: AST -> IR. Name resolution, type and config checks, schema-aware checks
//! against stdlib/ types. No I/O, no tokio: it takes documents and returns the IR or
//! every diagnostic.
//!
//! The stdlib is just more documents (types, rates, lookup tables, reusable schemas);
//! [`Options::stdlib_docs`] only says which ones, so that pipeline rate tables replace
//! the stdlib's whatever the order of the rest.
//!
//! Every check runs on every item even after an error, so one `check` reports
//! everything; the [`ir::Program`] is built only when no error was found.

pub mod config;
mod connection;
mod integration;
pub mod ir;
pub mod path;
mod schema;
mod task;
mod tenant;
pub mod types;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::Value;

use crate::diagnostics::{Code, Diagnostic};
use crate::functions::Rates;
use crate::sandbox::Sandbox;
use crate::syntax::ast::{self, Document, Item, Span};
pub use tenant::Owner;
pub use types::{FieldType, Ty, TypeInfo, Types};

/// How to compile.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// How many leading documents of `docs` are the stdlib. When the pipeline declares
    /// rate tables, they replace the stdlib's whole (W0112).
    pub stdlib_docs: usize,
    /// Whose each document is, by index (the workspace loader reads it from the file's
    /// folder, `tenants/ID/`). A document past the end is the stdlib's when it is one of
    /// the first `stdlib_docs`, else a top-level file's.
    pub owners: Vec<Owner>,
}

/// The outcome of a compile: the program when there is no error, and every diagnostic
/// (warnings included), sorted by position.
#[derive(Debug)]
pub struct Compilation {
    /// `Some` only when no diagnostic is an error.
    pub program: Option<ir::Program>,
    pub diagnostics: Vec<Diagnostic>,
    /// The declared shard types and entities, for later stages (`--explain`, docs).
    pub types: Types,
    /// The currency rate table the program was compiled with.
    pub rates: Rates,
}

impl Compilation {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// A lookup table, ready for the IR.
#[derive(Debug)]
struct Table {
    span: Span,
    entries: Arc<HashMap<String, Value>>,
}

/// What every check may consult, and where diagnostics go.
struct Cx<'a> {
    diags: Vec<Diagnostic>,
    types: &'a Types,
    rates: &'a Rates,
    sandbox: &'a Sandbox,
    /// Top-level lookup tables.
    tables: &'a IndexMap<String, Table>,
}

impl Cx<'_> {
    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }
}

/// Compiles stdlib and pipeline documents together.
pub fn compile(docs: &[Document], options: &Options) -> Compilation {
    let mut diags = Vec::new();
    let types = types::collect(docs, &mut diags);
    let rates = merge_rates(docs, options, &mut diags);
    let tables = global_tables(docs, &mut diags);
    let sandbox = Sandbox::new();
    let mut cx = Cx {
        diags,
        types: &types,
        rates: &rates,
        sandbox: &sandbox,
        tables: &tables,
    };

    let items = || docs.iter().flat_map(|d| &d.items);
    let owners = tenant::Owners::new(options);
    tenant::check_definitions(&mut cx, &owners, docs);

    // Schemas: every one is checked, the first of each id is kept.
    let mut first_schema: HashMap<&str, Span> = HashMap::new();
    let mut schemas: Vec<(&ast::Schema, schema::Out)> = Vec::new();
    for item in items() {
        let Item::Schema(s) = item else { continue };
        let duplicate = match first_schema.get(s.id.node.as_str()) {
            Some(first) => {
                let d = tenant::duplicate(&owners, "schema", &s.id.node, s.id.span, *first);
                cx.push(d);
                true
            }
            None => {
                first_schema.insert(&s.id.node, s.id.span);
                false
            }
        };
        let out = schema::lower(&mut cx, s);
        if !duplicate {
            schemas.push((s, out));
        }
    }

    let known: Vec<&str> = schemas.iter().map(|(s, _)| s.id.node.as_str()).collect();
    let lowered: HashMap<&str, Arc<ir::Schema>> = schemas
        .iter()
        .filter_map(|(s, out)| Some((s.id.node.as_str(), out.schema.clone()?)))
        .collect();

    // Connections: every one is checked, the first of each id is kept.
    let mut first_connection: HashMap<&str, Span> = HashMap::new();
    let mut connection_asts: Vec<&ast::Connection> = Vec::new();
    let mut connections: Vec<Arc<ir::Connection>> = Vec::new();
    for item in items() {
        let Item::Connection(c) = item else { continue };
        let duplicate = match first_connection.get(c.id.node.as_str()) {
            Some(first) => {
                let d = tenant::duplicate(&owners, "connection", &c.id.node, c.id.span, *first);
                cx.push(d);
                true
            }
            None => {
                first_connection.insert(&c.id.node, c.id.span);
                false
            }
        };
        let lowered = connection::lower(&mut cx, c);
        let lowered = tenant::connection(&mut cx, &owners, c, lowered);
        if !duplicate {
            connection_asts.push(c);
            connections.extend(lowered.map(Arc::new));
        }
    }
    // Integrations: every one is checked, the first of each id is kept.
    let mut first_integration: HashMap<&str, Span> = HashMap::new();
    let mut integrations: Vec<Arc<ir::IntegrationDefinition>> = Vec::new();
    for item in items() {
        let Item::Integration(k) = item else { continue };
        let duplicate = match first_integration.get(k.id.node.as_str()) {
            Some(first) => {
                cx.push(types::duplicate(
                    "integration",
                    &k.id.node,
                    k.id.span,
                    *first,
                ));
                true
            }
            None => {
                first_integration.insert(&k.id.node, k.id.span);
                false
            }
        };
        let lowered = integration::lower(&mut cx, k);
        if !duplicate {
            integrations.extend(lowered.map(Arc::new));
        }
    }

    let known_connections = task::Connections {
        known: connection_asts.iter().map(|c| c.id.node.as_str()).collect(),
        integrations: connection_asts
            .iter()
            .map(|c| {
                (
                    c.id.node.as_str(),
                    c.integration.as_ref().map(|i| i.node.as_str()),
                )
            })
            .collect(),
        lowered: connections
            .iter()
            .map(|c| (c.id.as_str(), c.clone()))
            .collect(),
    };

    let schema_facts: HashMap<&str, task::SchemaFacts<'_>> = schemas
        .iter()
        .map(|(s, out)| {
            (
                s.id.node.as_str(),
                task::SchemaFacts {
                    integration: s
                        .source
                        .as_ref()
                        .and_then(|src| src.integration.as_ref())
                        .map(|i| i.node.as_str()),
                    task_keys: out.task_keys.iter().map(|k| k.key.clone()).collect(),
                    whole_task: out.whole_task,
                    deletes: out.schema.as_ref().map(|s| s.target.delete_if_removed),
                },
            )
        })
        .collect();

    let mut first_task: HashMap<&str, Span> = HashMap::new();
    let mut tasks = Vec::new();
    let mut task_asts: Vec<&ast::Task> = Vec::new();
    for item in items() {
        let Item::Task(t) = item else { continue };
        if let Some(first) = first_task.get(t.id.node.as_str()) {
            cx.push(tenant::duplicate(
                &owners, "task", &t.id.node, t.id.span, *first,
            ));
        } else {
            first_task.insert(&t.id.node, t.id.span);
        }
        task_asts.push(t);
        let tenant = tenant::of_task(&owners, t, &known_connections, &lowered);
        let defined = tenant::Defined {
            schemas: &first_schema,
            connections: &first_connection,
        };
        tenant::check_task(
            &mut cx,
            &owners,
            t,
            &tenant,
            &defined,
            &known_connections,
            &lowered,
        );
        if let Some(task) = task::lower(
            &mut cx,
            t,
            tenant,
            &known,
            &lowered,
            &schema_facts,
            &known_connections,
        ) {
            tasks.push(Arc::new(task));
        }
    }

    for (s, out) in &schemas {
        task::check_task_keys(&mut cx, s, &out.task_keys, &task_asts);
    }
    let schema_integration: HashMap<&str, &str> = schemas
        .iter()
        .filter_map(|(s, _)| {
            let integration = s.source.as_ref()?.integration.as_ref()?;
            Some((s.id.node.as_str(), integration.node.as_str()))
        })
        .collect();
    connection::check_ambiguous(
        &mut cx,
        &task_asts,
        &known_connections,
        &first_connection,
        &schema_integration,
        &owners,
    );

    let mut diagnostics = cx.diags;
    diagnostics.sort_by_key(|d| (d.span.file, d.span.start));
    let failed = diagnostics.iter().any(Diagnostic::is_error);
    let program = (!failed).then(|| ir::Program {
        schemas: schemas
            .into_iter()
            .filter_map(|(_, out)| out.schema)
            .collect(),
        tasks,
        connections,
        integrations,
    });
    Compilation {
        program,
        diagnostics,
        types,
        rates,
    }
}

/// The currency rate table the program converts with: the pipeline's own `rates`
/// tables when it declares any (W0112 says what of the standard library's they
/// replace), else the standard library's. A pipeline's table wins whole: merged entry by
/// entry with the standard library's table in another base, `rates EUR { USD: 1.5 }`
/// dropped its own USD rate and converted its other rates through the stdlib's EUR rate
/// (150 USD gave 138 EUR instead of 100), and a mix of a pipeline's live rates with the
/// stdlib's reference rates has no consistent cross rates.
fn merge_rates(docs: &[Document], options: &Options, diags: &mut Vec<Diagnostic>) -> Rates {
    let split = options.stdlib_docs.min(docs.len());
    let (stdlib, pipeline) = docs.split_at(split);
    let standard = merge_tables(&rate_tables(stdlib), diags);
    let own = merge_tables(&rate_tables(pipeline), diags);
    match (standard, own) {
        (Some(standard), Some(own)) => {
            diags.push(replaced_stdlib_rates(&standard, &own));
            own.rates
        }
        (_, Some(one)) | (Some(one), None) => one.rates,
        (None, None) => Rates::default(),
    }
}

fn rate_tables(docs: &[Document]) -> Vec<&ast::RateTable> {
    docs.iter()
        .flat_map(|d| &d.items)
        .filter_map(|item| match item {
            Item::Rates(t) => Some(t),
            _ => None,
        })
        .collect()
}

/// Rate tables merged into one, on the first table's base.
struct Merged {
    rates: Rates,
    base_span: Span,
    /// Where each currency's rate comes from, for conflicts.
    set_at: HashMap<String, Span>,
}

/// Two rates agree when they differ only by rounding (a rebased rate is a product).
fn agree(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// Merges tables in order, exactly: a table on another base is related through a rate
/// the earlier tables give its base, or through its own rate for the first base; every
/// rate it implies must agree with the rates already known (E0113), a currency listed
/// twice in one table is E0106, a table that cannot be related is E0109. Codes are ISO
/// 4217, compared without regard to case.
fn merge_tables(tables: &[&ast::RateTable], diags: &mut Vec<Diagnostic>) -> Option<Merged> {
    let mut merged: Option<Merged> = None;
    for table in tables {
        let base = table.base.node.trim().to_ascii_uppercase();
        // (currency, rate, where) of the valid entries.
        let mut entries: Vec<(String, f64, Span)> = Vec::new();
        let mut seen: HashMap<String, Span> = HashMap::new();
        for (currency, lit) in &table.rates {
            let code = currency.node.trim().to_ascii_uppercase();
            if let Some(first) = seen.get(&code) {
                diags.push(
                    Diagnostic::new(
                        Code::DuplicateId,
                        currency.span,
                        format!("`{code}` appears twice in `rates {base}`"),
                    )
                    .with_label("listed again here")
                    .with_related(*first, "first listed here")
                    .with_help("give each currency one rate: remove one of the two entries"),
                );
                continue;
            }
            seen.insert(code.clone(), currency.span);
            match lit.node.as_f64() {
                Some(r) if r > 0.0 && r.is_finite() => entries.push((code, r, lit.span)),
                _ => diags.push(
                    Diagnostic::new(
                        Code::ConfigType,
                        lit.span,
                        format!("the rate of `{}` must be a positive number", currency.node),
                    )
                    .with_label(format!("this is {}", Ty::of_value(&lit.node).describe()))
                    .with_help(format!(
                        "write how much {} one {} buys, e.g. `{}: 0.92`",
                        currency.node, table.base.node, currency.node
                    )),
                ),
            }
        }
        let m = merged.get_or_insert_with(|| Merged {
            rates: Rates {
                base: base.clone(),
                rates: BTreeMap::new(),
            },
            base_span: table.base.span,
            set_at: HashMap::new(),
        });
        let first_base = m.rates.base.clone();
        // How much of this table's base one unit of the merged base buys.
        let factor = if base == first_base {
            Some(1.0)
        } else if let Some(r) = m.rates.rates.get(&base) {
            Some(*r)
        } else {
            // The table prices the merged base: 1 BASE buys r FIRST_BASE.
            let via_own = entries
                .iter()
                .find(|(c, _, _)| *c == first_base)
                .map(|(_, r, _)| 1.0 / r);
            if let Some(f) = via_own {
                m.rates.rates.insert(base.clone(), f);
                m.set_at.insert(base.clone(), table.base.span);
            }
            via_own
        };
        let Some(factor) = factor else {
            diags.push(
                Diagnostic::new(
                    Code::UnknownCurrency,
                    table.base.span,
                    format!("rates on `{base}` cannot be related to the base currency `{first_base}`"),
                )
                .with_label(format!("no `{first_base}` -> `{base}` rate is known"))
                .with_help(format!(
                    "add `{base}: RATE` to the `rates {first_base}` table, or `{first_base}: RATE` to this one, or write this table on `{first_base}`"
                ))
                .with_related(m.base_span, "the base currency is set here"),
            );
            continue;
        };
        for (code, r, span) in entries {
            // One FIRST_BASE buys `factor` BASE, each of which buys `r` CODE.
            let value = r * factor;
            let known = if code == first_base {
                Some(1.0)
            } else {
                m.rates.rates.get(&code).copied()
            };
            match known {
                Some(k) if !agree(k, value) => {
                    // Said in the table's own terms: 1 BASE = r CODE here, k / factor
                    // by the rates before it.
                    let d = if code == base {
                        Diagnostic::new(
                            Code::ConflictingRates,
                            span,
                            format!(
                                "`rates {base}` gives its own base the rate {}",
                                round_rate(r)
                            ),
                        )
                        .with_label(format!("1 {base} is 1 {base}"))
                        .with_help(format!("write `{base}: 1`, or remove the entry"))
                    } else {
                        let mut d = Diagnostic::new(
                            Code::ConflictingRates,
                            span,
                            format!("conflicting rates for `{code}`"),
                        )
                        .with_label(format!("here 1 {base} = {} {code}", round_rate(r)))
                        .with_help(format!(
                            "the tables before say 1 {base} = {} {code}; give each currency one rate: make them agree or remove one",
                            round_rate(k / factor)
                        ));
                        let other = m
                            .set_at
                            .get(&code)
                            .or((code == first_base).then_some(&m.base_span));
                        if let Some(at) = other {
                            d = d.with_related(*at, "the other rate comes from here");
                        }
                        d
                    };
                    diags.push(d);
                }
                Some(_) => {}
                None => {
                    m.rates.rates.insert(code.clone(), value);
                    m.set_at.insert(code, span);
                }
            }
        }
    }
    merged
}

/// A rate for a message: up to 6 significant decimals, no float noise.
fn round_rate(r: f64) -> String {
    let s = format!("{r:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// W0112: the pipeline's rate tables replace the standard library's.
fn replaced_stdlib_rates(standard: &Merged, own: &Merged) -> Diagnostic {
    let known = |m: &Merged, c: &str| c == m.rates.base || m.rates.rates.contains_key(c);
    let all = |m: &Merged| -> Vec<String> {
        std::iter::once(m.rates.base.clone())
            .chain(m.rates.rates.keys().cloned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    let dropped: Vec<String> = all(standard)
        .into_iter()
        .filter(|c| !known(own, c))
        .collect();
    let repriced: Vec<String> = all(own)
        .into_iter()
        .filter(|c| known(standard, c))
        .collect();
    let help = if dropped.is_empty() {
        format!(
            "its rates are used as written; the standard library's {} are not",
            plural(repriced.len(), "rate")
        )
    } else {
        format!(
            "currencies only the standard library lists are unknown now: {}; add the ones you convert to this table",
            dropped.join(", ")
        )
    };
    Diagnostic::new(
        Code::PipelineRatesReplaceStdlib,
        own.base_span,
        format!(
            "the pipeline's rates replace the standard library's `rates {}` ({} currencies)",
            standard.rates.base,
            all(standard).len()
        ),
    )
    .with_label(format!(
        "{} on `{}` used instead",
        plural(all(own).len(), "currency"),
        own.rates.base
    ))
    .with_help(help)
    .with_related(standard.base_span, "the standard library's table")
}

fn plural(n: usize, what: &str) -> String {
    match (n, what) {
        (1, w) => format!("1 {w}"),
        (n, "currency") => format!("{n} currencies"),
        (n, w) => format!("{n} {w}s"),
    }
}

/// Top-level lookup tables (E0106 for a duplicate id or key).
fn global_tables(docs: &[Document], diags: &mut Vec<Diagnostic>) -> IndexMap<String, Table> {
    let mut tables: IndexMap<String, Table> = IndexMap::new();
    for item in docs.iter().flat_map(|d| &d.items) {
        let Item::Lookup(t) = item else { continue };
        let table = table(t, diags);
        match tables.get(&t.id.node) {
            Some(first) => diags.push(types::duplicate(
                "lookup table",
                &t.id.node,
                t.id.span,
                first.span,
            )),
            None => {
                tables.insert(t.id.node.clone(), table);
            }
        }
    }
    tables
}

fn table(t: &ast::LookupTable, diags: &mut Vec<Diagnostic>) -> Table {
    let mut entries = HashMap::new();
    let mut spans: HashMap<&str, Span> = HashMap::new();
    for (key, value) in &t.entries {
        if let Some(first) = spans.get(key.node.as_str()) {
            diags.push(
                Diagnostic::new(
                    Code::DuplicateId,
                    key.span,
                    format!("key `{}` appears twice in lookup `{}`", key.node, t.id.node),
                )
                .with_label("listed again here")
                .with_related(*first, "first listed here")
                .with_help("remove one of the two entries: the first one wins"),
            );
            continue;
        }
        spans.insert(&key.node, key.span);
        entries.insert(key.node.clone(), value.node.clone());
    }
    Table {
        span: t.id.span,
        entries: Arc::new(entries),
    }
}
