//! Lookup and rate tables -> `"$kind": "lookup" | "rates"` objects (a table a schema
//! uses travels inside that schema instead).

use serde_json::{Map, Value};

use super::kind;
use crate::syntax::ast::*;

pub(super) fn table(entries: &[(Name, Literal)]) -> Map<String, Value> {
    entries
        .iter()
        .map(|(k, v)| (k.node.clone(), v.node.clone()))
        .collect()
}

/// A top-level lookup table no schema uses.
pub(super) fn lookup_item(t: &LookupTable) -> Value {
    let mut m = kind("lookup");
    m.insert("id".into(), t.id.node.clone().into());
    m.insert("entries".into(), Value::Object(table(&t.entries)));
    Value::Object(m)
}

pub(super) fn rates_item(r: &RateTable) -> Value {
    let mut m = kind("rates");
    m.insert("base".into(), r.base.node.clone().into());
    m.insert("rates".into(), Value::Object(table(&r.rates)));
    Value::Object(m)
}
