//! Shard type and entity definitions -> `"$kind": "shardtype" | "entity"` objects.

use serde_json::{Map, Value};

use super::{kind, s};
use crate::syntax::ast::*;

pub(super) fn type_def(t: &TypeDef) -> Value {
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
