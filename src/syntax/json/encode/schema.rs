//! A schema -> a ConversionSchema object, with the lookup tables it uses inlined.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::super::decode::{CONNECTION_MARKERS, INTEGRATION_MARKERS, TASK_MARKERS};
use super::mapping::{condition, field_mapping, relationship};
use super::table::table;
use super::test_case::test;
use super::{insert_meta, kind_if_ambiguous, s};
use crate::syntax::ast::*;
use crate::syntax::ParamNames;

/// The top-level tables a schema reads that it does not declare itself, in document order.
pub(super) fn used_tables<'a>(schema: &Schema, tables: &[&'a LookupTable]) -> Vec<&'a LookupTable> {
    let local: HashSet<&str> = schema.lookups.iter().map(|t| t.id.node.as_str()).collect();
    let used: HashSet<&str> = schema
        .body
        .iter()
        .filter_map(|item| match item {
            MappingItem::Field(FieldMapping {
                expr:
                    MappingExpr::Lookup(Lookup {
                        from: LookupFrom::Table(t),
                        ..
                    }),
                ..
            }) => Some(t.node.as_str()),
            _ => None,
        })
        .filter(|t| !local.contains(t))
        .collect();
    tables
        .iter()
        .copied()
        .filter(|t| used.contains(t.id.node.as_str()))
        .collect()
}

pub(super) fn schema(sc: &Schema, tables: &[&LookupTable], params: ParamNames<'_>) -> Value {
    let mut m = kind_if_ambiguous(
        &sc.meta,
        &[TASK_MARKERS, CONNECTION_MARKERS, INTEGRATION_MARKERS],
        "schema",
    );
    m.insert("id".into(), s(&sc.id));
    if let Some(i) = sc.source.as_ref().and_then(|src| src.integration.as_ref()) {
        m.insert("tenantIntegrationId".into(), s(i));
    }
    if let Some(n) = &sc.name {
        m.insert("name".into(), s(n));
    }
    if let Some(d) = &sc.description {
        m.insert("description".into(), s(d));
    }
    if let Some(src) = &sc.source {
        let mut o = Map::new();
        o.insert("entity".into(), s(&src.entity));
        if !src.filters.is_empty() {
            o.insert(
                "filters".into(),
                src.filters.iter().map(condition).collect(),
            );
        }
        m.insert("source".into(), Value::Object(o));
    }
    if let Some(t) = &sc.target {
        let on = |flag: &str, default: bool| match &t.flags {
            None => default,
            Some(flags) => flags.iter().any(|f| f.node == flag),
        };
        let mut o = Map::new();
        o.insert("shardTypeId".into(), s(&t.shard_type));
        o.insert(
            "createIfMissing".into(),
            on("create_if_missing", true).into(),
        );
        o.insert("updateIfExists".into(), on("update_if_exists", true).into());
        o.insert(
            "deleteIfRemoved".into(),
            on("delete_if_removed", false).into(),
        );
        m.insert("target".into(), Value::Object(o));
    }
    let fields: Vec<Value> = sc
        .body
        .iter()
        .filter_map(|i| match i {
            MappingItem::Field(f) => Some(field_mapping(f, params)),
            MappingItem::Relationship(_) => None,
        })
        .collect();
    m.insert("fieldMappings".into(), Value::Array(fields));
    let relationships: Vec<Value> = sc
        .body
        .iter()
        .filter_map(|i| match i {
            MappingItem::Relationship(r) => Some(relationship(r)),
            MappingItem::Field(_) => None,
        })
        .collect();
    if !relationships.is_empty() {
        m.insert("relationshipMappings".into(), Value::Array(relationships));
    }
    if let Some(d) = &sc.dedupe {
        let mut o = Map::new();
        o.insert("strategy".into(), s(&d.strategy));
        match (d.strategy.node.as_str(), d.fields.first()) {
            ("external_id", Some(f)) => {
                o.insert("externalIdField".into(), s(f));
            }
            ("external_id", None) => {}
            _ => {
                o.insert("matchFields".into(), d.fields.iter().map(s).collect());
            }
        }
        m.insert("deduplication".into(), Value::Object(o));
    }
    m.insert(
        "isActive".into(),
        sc.active.as_ref().is_none_or(|a| a.node).into(),
    );
    insert_meta(&mut m, &sc.meta);
    let inlined = used_tables(sc, tables);
    if !sc.lookups.is_empty() || !inlined.is_empty() {
        let all = sc.lookups.iter().chain(inlined);
        let o: Map<String, Value> = all
            .map(|t| (t.id.node.clone(), Value::Object(table(&t.entries))))
            .collect();
        m.insert("lookupTables".into(), Value::Object(o));
    }
    if !sc.tests.is_empty() {
        m.insert("tests".into(), sc.tests.iter().map(test).collect());
    }
    Value::Object(m)
}
