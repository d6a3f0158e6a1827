//! Field mappings (each mapping type's `config`), conditions, transformations, validation
//! rules and relationship mappings -> their spec objects.

use serde_json::{Map, Value};

use super::s;
use crate::syntax::ast::*;
use crate::syntax::ParamNames;

pub(super) fn condition(c: &Condition) -> Value {
    let mut o = Map::new();
    o.insert("field".into(), s(&c.field));
    o.insert("operator".into(), s(&c.op));
    if let Some(v) = &c.value {
        o.insert("value".into(), v.node.clone());
    }
    Value::Object(o)
}

pub(super) fn field_mapping(f: &FieldMapping, params: ParamNames<'_>) -> Value {
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
fn placeholders(template: &str) -> Vec<String> {
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

pub(super) fn relationship(r: &RelationshipMapping) -> Value {
    let mut o = Map::new();
    o.insert("relationshipType".into(), s(&r.kind));
    o.insert("targetField".into(), s(&r.target));
    o.insert("sourceField".into(), s(&r.field));
    o.insert("lookupShardType".into(), s(&r.shard_type));
    o.insert("lookupByExternalId".into(), r.by_external_id.into());
    Value::Object(o)
}
