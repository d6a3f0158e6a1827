//! AST -> seed JSON in the spec's exact shapes and key order (`cmap export`).
//!
//! Runs on documents that check, so every name is known; where something could still be
//! missing (a positional argument of an unknown transformation) it falls back rather
//! than fail. Values the spec requires but `.cmap` may leave to their defaults
//! (`isActive`, the target flags, a task's direction, schedule, config and status) are
//! always written, so JSON -> `.cmap` -> JSON gives back what was read.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::decode::{CONNECTION_MARKERS, SCHEMA_MARKERS, TASK_MARKERS};
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
                used_tables(s, &tables)
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
                out.push(schema(s, &tables, params));
            }
            Item::Task(t) => {
                main_objects += 1;
                out.push(task(t));
            }
            Item::Connection(k) => {
                main_objects += 1;
                out.push(connection(k));
            }
            Item::Lookup(t) if inlined.contains(t.id.node.as_str()) => {}
            Item::Lookup(t) => {
                let mut m = kind("lookup");
                m.insert("id".into(), t.id.node.clone().into());
                m.insert("entries".into(), Value::Object(table(&t.entries)));
                out.push(Value::Object(m));
            }
            Item::Rates(r) => {
                let mut m = kind("rates");
                m.insert("base".into(), r.base.node.clone().into());
                m.insert("rates".into(), Value::Object(table(&r.rates)));
                out.push(Value::Object(m));
            }
            Item::Type(t) => out.push(type_def(t)),
        }
    }
    if out.len() == 1 && main_objects == 1 {
        out.pop().unwrap_or(Value::Null)
    } else {
        Value::Array(out)
    }
}

fn kind(name: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("$kind".into(), name.into());
    m
}

/// `$kind` only when a meta key would make the object read as another kind.
fn kind_if_ambiguous(
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

fn s(name: &Name) -> Value {
    Value::String(name.node.clone())
}

fn table(entries: &[(Name, Literal)]) -> Map<String, Value> {
    entries
        .iter()
        .map(|(k, v)| (k.node.clone(), v.node.clone()))
        .collect()
}

/// The top-level tables a schema reads that it does not declare itself, in document order.
fn used_tables<'a>(schema: &Schema, tables: &[&'a LookupTable]) -> Vec<&'a LookupTable> {
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

fn schema(sc: &Schema, tables: &[&LookupTable], params: ParamNames<'_>) -> Value {
    let mut m = kind_if_ambiguous(&sc.meta, &[TASK_MARKERS, CONNECTION_MARKERS], "schema");
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

/// Meta keys never overwrite an interpreted key of the same name.
fn insert_meta(m: &mut Map<String, Value>, meta: &[(Name, Literal)]) {
    for (k, v) in meta {
        m.entry(k.node.clone()).or_insert_with(|| v.node.clone());
    }
}

fn condition(c: &Condition) -> Value {
    let mut o = Map::new();
    o.insert("field".into(), s(&c.field));
    o.insert("operator".into(), s(&c.op));
    if let Some(v) = &c.value {
        o.insert("value".into(), v.node.clone());
    }
    Value::Object(o)
}

fn field_mapping(f: &FieldMapping, params: ParamNames<'_>) -> Value {
    let mut m = Map::new();
    if let Some(id) = &f.id {
        m.insert("id".into(), s(id));
    }
    m.insert("targetField".into(), s(&f.target));
    let (ty, config) = mapping_config(&f.expr, params);
    m.insert("mappingType".into(), ty.into());
    m.insert("config".into(), Value::Object(config));
    if f.required.is_some() {
        m.insert("required".into(), true.into());
    }
    if !f.validation.is_empty() {
        m.insert(
            "validation".into(),
            f.validation.iter().map(validation).collect(),
        );
    }
    Value::Object(m)
}

/// The mapping type and its `config` object (which opens with the same `type`).
fn mapping_config(expr: &MappingExpr, params: ParamNames<'_>) -> (String, Map<String, Value>) {
    let ty = match expr {
        MappingExpr::Direct { .. } => "direct",
        MappingExpr::Transform { .. } => "transform",
        MappingExpr::Conditional(_) => "conditional",
        MappingExpr::Default { .. } => "default",
        MappingExpr::Composite(_) => "composite",
        MappingExpr::Lookup(_) => "lookup",
        MappingExpr::Flatten { .. } => "flatten",
        MappingExpr::Unknown { mapping_type } => mapping_type.node.as_str(),
    };
    let mut c = Map::new();
    c.insert("type".into(), ty.into());
    match expr {
        MappingExpr::Direct { field } => {
            c.insert("sourceField".into(), s(field));
        }
        MappingExpr::Transform { field, steps } => {
            c.insert("sourceField".into(), s(field));
            c.insert("transformations".into(), transformations(steps, params));
        }
        MappingExpr::Conditional(cond) => {
            let mut rules = Vec::new();
            let mut default = None;
            // The first catch-all ends the list: rules after it can never be chosen, and
            // JSON's `default` is only consulted after every rule.
            for arm in &cond.arms {
                match arm {
                    Arm::Rule {
                        condition: cnd,
                        then,
                        ..
                    } => {
                        let mut r = Map::new();
                        r.insert("condition".into(), condition(cnd));
                        r.insert("then".into(), then_value(then, params));
                        rules.push(Value::Object(r));
                    }
                    Arm::Default { value, .. } => {
                        default = Some(value.node.clone());
                        break;
                    }
                }
            }
            c.insert("conditions".into(), Value::Array(rules));
            if let Some(d) = default {
                c.insert("default".into(), d);
            }
        }
        MappingExpr::Default { value } => {
            c.insert("value".into(), value.node.clone());
        }
        MappingExpr::Composite(comp) => {
            let fields: Vec<Value> = match &comp.template {
                Some(t) => placeholders(&t.node).into_iter().map(Value::from).collect(),
                None => comp.fields.iter().map(s).collect(),
            };
            c.insert("sourceFields".into(), Value::Array(fields));
            if let Some(sep) = &comp.separator {
                c.insert("separator".into(), s(sep));
            }
            if let Some(t) = &comp.template {
                c.insert("template".into(), s(t));
            }
        }
        MappingExpr::Lookup(l) => {
            c.insert("sourceField".into(), s(&l.field));
            match &l.from {
                LookupFrom::Table(t) => {
                    c.insert("table".into(), s(t));
                }
                LookupFrom::Shard {
                    shard_type,
                    return_field,
                } => {
                    c.insert("shardTypeId".into(), s(shard_type));
                    if let Some(r) = return_field {
                        c.insert("returnField".into(), s(r));
                    }
                    c.insert("byExternalId".into(), true.into());
                }
            }
            if let Some(d) = &l.default {
                c.insert("default".into(), d.node.clone());
            }
        }
        MappingExpr::Flatten { field, path } => {
            c.insert("sourceField".into(), s(field));
            c.insert("path".into(), s(path));
        }
        MappingExpr::Unknown { .. } => {}
    }
    (ty.to_string(), c)
}

/// The distinct `${Field}` placeholders of a template, in order of appearance.
pub(super) fn placeholders(template: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let after = rest.get(start + 2..).unwrap_or("");
        let Some(end) = after.find('}') else { break };
        let name = after.get(..end).unwrap_or("");
        if !name.is_empty() && !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
        rest = after.get(end + 1..).unwrap_or("");
    }
    out
}

fn then_value(then: &Then, params: ParamNames<'_>) -> Value {
    let mut o = Map::new();
    match then {
        Then::Value(v) => {
            o.insert("type".into(), "value".into());
            o.insert("value".into(), v.node.clone());
        }
        Then::Field(f) => {
            o.insert("type".into(), "field".into());
            o.insert("sourceField".into(), s(f));
        }
        Then::Transform { field, steps } => {
            o.insert("type".into(), "transform".into());
            o.insert("sourceField".into(), s(field));
            o.insert("transformations".into(), transformations(steps, params));
        }
    }
    Value::Object(o)
}

/// `[{ type, config? }]`; positional arguments get their parameter's name (`arg1`, ...
/// when the transformation is unknown).
fn transformations(steps: &[Transformation], params: ParamNames<'_>) -> Value {
    steps
        .iter()
        .map(|t| {
            let mut o = Map::new();
            o.insert("type".into(), s(&t.name));
            if !t.args.is_empty() {
                let names = params(&t.name.node).unwrap_or_default();
                let mut config = Map::new();
                let mut position = 0;
                for arg in &t.args {
                    let key = match &arg.name {
                        Some(n) => n.node.clone(),
                        None => {
                            position += 1;
                            names
                                .get(position - 1)
                                .map_or_else(|| format!("arg{position}"), |n| n.to_string())
                        }
                    };
                    config.insert(key, arg.value.node.clone());
                }
                o.insert("config".into(), Value::Object(config));
            }
            Value::Object(o)
        })
        .collect()
}

fn validation(v: &Validation) -> Value {
    let mut o = Map::new();
    o.insert("type".into(), s(&v.rule));
    if let Some(value) = &v.value {
        o.insert("value".into(), value.node.clone());
    }
    if let Some(msg) = &v.message {
        o.insert("message".into(), s(msg));
    }
    Value::Object(o)
}

fn relationship(r: &RelationshipMapping) -> Value {
    let mut o = Map::new();
    o.insert("relationshipType".into(), s(&r.kind));
    o.insert("targetField".into(), s(&r.target));
    o.insert("sourceField".into(), s(&r.field));
    o.insert("lookupShardType".into(), s(&r.shard_type));
    o.insert("lookupByExternalId".into(), r.by_external_id.into());
    Value::Object(o)
}

fn test(t: &TestCase) -> Value {
    let mut o = Map::new();
    o.insert("name".into(), s(&t.name));
    if let Some(i) = &t.input {
        o.insert("input".into(), i.node.clone());
    }
    if let Some(task) = &t.task {
        o.insert("task".into(), task.node.clone());
    }
    for e in &t.expect {
        let (key, value) = match e {
            Expect::Data(v) => ("expect", v.node.clone()),
            Expect::ExternalId(v) => ("expectExternalId", v.node.clone()),
            Expect::Relationships(v) => ("expectRelationships", v.node.clone()),
            Expect::Skipped(_) => ("expectSkipped", true.into()),
            Expect::Failed { field: Some(f), .. } => ("expectFailed", s(f)),
            Expect::Failed { field: None, .. } => ("expectFailed", true.into()),
        };
        o.insert(key.into(), value);
    }
    Value::Object(o)
}

fn task(t: &Task) -> Value {
    let mut m = kind_if_ambiguous(&t.meta, &[SCHEMA_MARKERS, CONNECTION_MARKERS], "task");
    m.insert("id".into(), s(&t.id));
    if let Some(i) = &t.integration {
        m.insert("tenantIntegrationId".into(), s(i));
    }
    if let Some(n) = &t.name {
        m.insert("name".into(), s(n));
    }
    if let Some(d) = &t.description {
        m.insert("description".into(), s(d));
    }
    if let Some(sc) = &t.schema {
        m.insert("conversionSchemaId".into(), s(sc));
    }
    if let Some(k) = &t.connection {
        m.insert("connectionId".into(), s(k));
    }
    m.insert(
        "direction".into(),
        t.direction.as_ref().map_or_else(|| "pull".into(), s),
    );
    m.insert("schedule".into(), schedule(t.schedule.as_ref()));
    m.insert(
        "config".into(),
        t.config
            .as_ref()
            .map_or_else(|| Value::Object(Map::new()), |c| c.node.clone()),
    );
    m.insert(
        "status".into(),
        t.status.as_ref().map_or_else(|| "active".into(), s),
    );
    if let Some(r) = &t.retry {
        let mut o = Map::new();
        o.insert("maxRetries".into(), r.max_retries.node.clone());
        o.insert("retryDelaySeconds".into(), r.delay_seconds.node.clone());
        o.insert(
            "exponentialBackoff".into(),
            r.exponential.as_ref().is_some_and(|e| e.node).into(),
        );
        m.insert("retryConfig".into(), Value::Object(o));
    }
    if let Some(n) = &t.notify {
        let on = |event: &str| n.events.iter().any(|e| e.node == event);
        let mut o = Map::new();
        o.insert("onSuccess".into(), on("success").into());
        o.insert("onFailure".into(), on("failure").into());
        o.insert("onPartial".into(), on("partial").into());
        o.insert("recipients".into(), n.recipients.iter().map(s).collect());
        m.insert("notifications".into(), Value::Object(o));
    }
    insert_meta(&mut m, &t.meta);
    Value::Object(m)
}

/// An IntegrationConnection; `scope` (default `tenant`), `authType` and `credentials`
/// are required by the spec and always written.
fn connection(k: &Connection) -> Value {
    let mut m = kind_if_ambiguous(&k.meta, &[SCHEMA_MARKERS, TASK_MARKERS], "connection");
    m.insert("id".into(), s(&k.id));
    if let Some(i) = &k.integration {
        m.insert("integrationId".into(), s(i));
    }
    if let Some(n) = &k.name {
        m.insert("displayName".into(), s(n));
    }
    m.insert(
        "scope".into(),
        k.scope.as_ref().map_or_else(|| "tenant".into(), s),
    );
    if let Some(t) = &k.tenant {
        m.insert("tenantId".into(), s(t));
    }
    m.insert(
        "authType".into(),
        k.auth
            .as_ref()
            .map_or_else(|| "none".into(), |a| s(&a.kind)),
    );
    let credentials: Map<String, Value> = k
        .auth
        .iter()
        .flat_map(|a| &a.fields)
        .map(|(key, value)| {
            let v = match value {
                Credential::Plain(l) => l.node.clone(),
                Credential::Env { var, .. } => {
                    let mut o = Map::new();
                    o.insert("env".into(), s(var));
                    Value::Object(o)
                }
                Credential::Stored(_) => {
                    let mut o = Map::new();
                    o.insert("stored".into(), true.into());
                    Value::Object(o)
                }
            };
            (key.node.clone(), v)
        })
        .collect();
    m.insert("credentials".into(), Value::Object(credentials));
    if let Some(l) = &k.settings {
        m.insert("settings".into(), l.node.clone());
    }
    insert_meta(&mut m, &k.meta);
    Value::Object(m)
}

/// `{ type, config: { type, ... } }`; no schedule is `manual`.
fn schedule(sched: Option<&Schedule>) -> Value {
    let mut c = Map::new();
    let ty = match sched {
        None | Some(Schedule::Manual { .. }) => "manual".to_string(),
        Some(Schedule::Interval { .. }) => "interval".to_string(),
        Some(Schedule::Cron { .. }) => "cron".to_string(),
        Some(Schedule::Realtime { .. }) => "realtime".to_string(),
        Some(Schedule::Unknown { kind, .. }) => kind.node.clone(),
    };
    c.insert("type".into(), ty.clone().into());
    match sched {
        Some(Schedule::Interval { interval, unit, .. }) => {
            c.insert("interval".into(), interval.node.clone());
            c.insert("unit".into(), s(unit));
        }
        Some(Schedule::Cron {
            expression,
            timezone,
            ..
        }) => {
            c.insert("expression".into(), s(expression));
            c.insert(
                "timezone".into(),
                timezone.as_ref().map_or_else(|| "UTC".into(), s),
            );
        }
        Some(Schedule::Realtime {
            webhook_url,
            verification_token,
            ..
        }) => {
            if let Some(u) = webhook_url {
                c.insert("webhookUrl".into(), s(u));
            }
            if let Some(t) = verification_token {
                c.insert("verificationToken".into(), s(t));
            }
        }
        _ => {}
    }
    let mut o = Map::new();
    o.insert("type".into(), ty.into());
    o.insert("config".into(), Value::Object(c));
    Value::Object(o)
}

fn type_def(t: &TypeDef) -> Value {
    let mut m = kind(match t.kind {
        TypeDefKind::ShardType => "shardtype",
        TypeDefKind::Entity => "entity",
    });
    m.insert("id".into(), s(&t.id));
    if let Some(n) = &t.name {
        m.insert("name".into(), s(n));
    }
    m.insert("fields".into(), field_defs(&t.fields));
    Value::Object(m)
}

fn field_defs(fields: &[FieldDef]) -> Value {
    let o: Map<String, Value> = fields
        .iter()
        .map(|f| {
            let mut d = Map::new();
            d.insert("type".into(), type_expr(&f.ty));
            if f.optional {
                d.insert("optional".into(), true.into());
            }
            (f.name.node.clone(), Value::Object(d))
        })
        .collect();
    Value::Object(o)
}

fn type_expr(t: &TypeExpr) -> Value {
    match t {
        TypeExpr::Named(n) => s(n),
        TypeExpr::Array(inner) => Value::Array(vec![type_expr(inner)]),
        TypeExpr::Object(fields) => {
            let mut o = Map::new();
            o.insert("fields".into(), field_defs(fields));
            Value::Object(o)
        }
        TypeExpr::Enum(values) => {
            let mut o = Map::new();
            o.insert("enum".into(), values.iter().map(s).collect());
            Value::Object(o)
        }
    }
}
