//! Compile: AST -> IR. Name resolution, type and config checks, schema-aware checks
//! against stdlib/ types. No I/O, no tokio: it takes documents and returns the IR or
//! every diagnostic.
//!
//! The stdlib is just more documents (types, rates, lookup tables, reusable schemas);
//! [`Options::stdlib_docs`] only says which ones, so that pipeline rate tables override
//! the stdlib's whatever the order of the rest.
//!
//! Every check runs on every item even after an error, so one `check` reports
//! everything; the [`ir::Program`] is built only when no error was found.

mod connection;
pub mod ir;
pub mod path;
mod schema;
mod task;
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
pub use types::{FieldType, Ty, TypeInfo, Types};

/// How to compile.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// How many leading documents of `docs` are the stdlib. Their rate tables are read
    /// first and the pipeline's override them entry by entry.
    pub stdlib_docs: usize,
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
    /// The merged currency rate table the program was compiled with.
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

    // Schemas: every one is checked, the first of each id is kept.
    let mut first_schema: HashMap<&str, Span> = HashMap::new();
    let mut schemas: Vec<(&ast::Schema, schema::Out)> = Vec::new();
    for item in items() {
        let Item::Schema(s) = item else { continue };
        let duplicate = match first_schema.get(s.id.node.as_str()) {
            Some(first) => {
                cx.push(types::duplicate("schema", &s.id.node, s.id.span, *first));
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
                cx.push(types::duplicate(
                    "connection",
                    &c.id.node,
                    c.id.span,
                    *first,
                ));
                true
            }
            None => {
                first_connection.insert(&c.id.node, c.id.span);
                false
            }
        };
        let lowered = connection::lower(&mut cx, c);
        if !duplicate {
            connection_asts.push(c);
            connections.extend(lowered.map(Arc::new));
        }
    }
    let known_connections = task::Connections {
        known: connection_asts.iter().map(|c| c.id.node.as_str()).collect(),
        lowered: connections
            .iter()
            .map(|c| (c.id.as_str(), c.clone()))
            .collect(),
    };

    let mut first_task: HashMap<&str, Span> = HashMap::new();
    let mut tasks = Vec::new();
    let mut task_asts: Vec<&ast::Task> = Vec::new();
    for item in items() {
        let Item::Task(t) = item else { continue };
        if let Some(first) = first_task.get(t.id.node.as_str()) {
            cx.push(types::duplicate("task", &t.id.node, t.id.span, *first));
        } else {
            first_task.insert(&t.id.node, t.id.span);
        }
        task_asts.push(t);
        if let Some(task) = task::lower(&mut cx, t, &known, &lowered, &known_connections) {
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
    connection::check_ambiguous(&mut cx, &task_asts, &connection_asts, &schema_integration);

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
    });
    Compilation {
        program,
        diagnostics,
        types,
        rates,
    }
}

/// The rate tables of every document merged into one, stdlib first: a later table's
/// entries override earlier ones. A table on another base is converted through the
/// rate of its base.
fn merge_rates(docs: &[Document], options: &Options, diags: &mut Vec<Diagnostic>) -> Rates {
    let split = options.stdlib_docs.min(docs.len());
    let (stdlib, pipeline) = docs.split_at(split);
    let mut out = Rates {
        base: String::new(),
        rates: BTreeMap::new(),
    };
    let mut base_span: Option<Span> = None;
    for item in stdlib.iter().chain(pipeline).flat_map(|d| &d.items) {
        let Item::Rates(table) = item else { continue };
        let mut entries = Vec::new();
        for (currency, lit) in &table.rates {
            match lit.node.as_f64() {
                Some(r) if r > 0.0 && r.is_finite() => entries.push((currency.node.clone(), r)),
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
        let base = table.base.node.clone();
        let factor = if out.base.is_empty() || out.base == base {
            out.base = base.clone();
            base_span = Some(table.base.span);
            1.0
        } else if let Some(r) = out.rates.get(&base) {
            *r
        } else {
            let mut d = Diagnostic::new(
                Code::UnknownCurrency,
                table.base.span,
                format!(
                    "rates on `{base}` cannot be related to the base currency `{}`",
                    out.base
                ),
            )
            .with_label(format!("no `{}` -> `{base}` rate is known", out.base))
            .with_help(format!(
                "add `{base}: RATE` to the `rates {}` table, or write this table on `{}`",
                out.base, out.base
            ));
            if let Some(s) = base_span {
                d = d.with_related(s, "the base currency is set here");
            }
            diags.push(d);
            continue;
        };
        for (currency, rate) in entries {
            if currency != out.base {
                out.rates.insert(currency, rate * factor);
            }
        }
    }
    out
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
