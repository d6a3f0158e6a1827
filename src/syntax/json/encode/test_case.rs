//! A schema's test case -> its `tests[]` object.

use serde_json::{Map, Value};

use super::s;
use crate::syntax::ast::*;

pub(super) fn test(t: &TestCase) -> Value {
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
