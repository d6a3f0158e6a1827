//! AST -> seed JSON in the spec's exact shapes and key order (`cmap export`).
//!
//! Runs on documents that check, so every name is known; where something could still be
//! missing (a positional argument of an unknown transformation) it falls back rather
//! than fail. Values the spec requires but `.cmap` may leave to their defaults
//! (`isActive`, the target flags, a task's direction, schedule, config and status) are
//! always written, so JSON -> `.cmap` -> JSON gives back what was read.
//!
//! This file writes the document and what every item shares; each kind of item has its
//! own file, in parallel with the `.cmap` parser (`parser/convert/`), the JSON decoder
//! (`decode/`) and the printer (`printer/`).

mod connection;
mod integration;
mod mapping;
mod schema;
mod table;
mod task;
mod test_case;
mod type_def;

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::syntax::ast::*;
use crate::syntax::ParamNames;

pub fn encode(doc: &Document, params: ParamNames<'_>) -> Value {
    let tables: Vec<&LookupTable> = doc
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Lookup(t) => Some(t),
            _ => None,
        })
        .collect();
    // Top-level tables a schema uses travel inside that schema's `lookupTables`; only
    // unused ones need an object of their own.
    let mut inlined: HashSet<&str> = HashSet::new();
    for item in &doc.items {
        if let Item::Schema(s) = item {
            inlined.extend(
                schema::used_tables(s, &tables)
                    .into_iter()
                    .map(|t| t.id.node.as_str()),
            );
        }
    }
    let mut out = Vec::new();
    let mut main_objects = 0;
    for item in &doc.items {
        match item {
            Item::Schema(s) => {
                main_objects += 1;
                out.push(schema::schema(s, &tables, params));
            }
            Item::Task(t) => {
                main_objects += 1;
                out.push(task::task(t));
            }
            Item::Connection(k) => {
                main_objects += 1;
                out.push(connection::connection(k));
            }
            Item::Integration(k) => {
                main_objects += 1;
                out.push(integration::integration(k));
            }
            Item::Lookup(t) if inlined.contains(t.id.node.as_str()) => {}
            Item::Lookup(t) => out.push(table::lookup_item(t)),
            Item::Rates(r) => out.push(table::rates_item(r)),
            Item::Type(t) => out.push(type_def::type_def(t)),
        }
    }
    if out.len() == 1 && main_objects == 1 {
        out.pop().unwrap_or(Value::Null)
    } else {
        Value::Array(out)
    }
}

pub(super) fn kind(name: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("$kind".into(), name.into());
    m
}

/// `$kind` only when a meta key would make the object read as another kind.
pub(super) fn kind_if_ambiguous(
    meta: &[(Name, Literal)],
    others: &[&[&str]],
    name: &str,
) -> Map<String, Value> {
    if meta
        .iter()
        .any(|(k, _)| others.iter().any(|o| o.contains(&k.node.as_str())))
    {
        kind(name)
    } else {
        Map::new()
    }
}

pub(super) fn s(name: &Name) -> Value {
    Value::String(name.node.clone())
}

/// Meta keys never overwrite an interpreted key of the same name.
pub(super) fn insert_meta(m: &mut Map<String, Value>, meta: &[(Name, Literal)]) {
    for (k, v) in meta {
        m.entry(k.node.clone()).or_insert_with(|| v.node.clone());
    }
}
