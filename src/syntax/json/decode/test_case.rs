//! A schema's `tests[]`: input, task config and the expectations.

use super::super::reader::{JKind, JVal};
use super::{literal, Decoder};
use crate::syntax::ast::*;

impl Decoder {
    pub(super) fn test(&mut self, v: &JVal, path: String) -> Option<TestCase> {
        let o = self.object(v, path, "test")?;
        self.keys(
            &o,
            &[
                "name",
                "input",
                "task",
                "expect",
                "expectExternalId",
                "expectRelationships",
                "expectSkipped",
                "expectFailed",
            ],
        );
        let name = self.str_req(&o, "name");
        let mut expect = Vec::new();
        // In key order, so `.cmap` prints the expectations as the JSON lists them.
        for e in o.entries {
            let v = &e.value;
            match e.key.as_str() {
                "expect" => expect.push(Expect::Data(literal(v))),
                "expectExternalId" => expect.push(Expect::ExternalId(literal(v))),
                "expectRelationships" => expect.push(Expect::Relationships(literal(v))),
                "expectSkipped" => match v.kind {
                    JKind::Bool(true) => expect.push(Expect::Skipped(v.span)),
                    JKind::Bool(false) => {}
                    _ => self.wrong_type(v, &o.path_of(&e.key), "a boolean"),
                },
                "expectFailed" => match &v.kind {
                    JKind::Bool(true) => expect.push(Expect::Failed {
                        span: v.span,
                        field: None,
                    }),
                    JKind::Bool(false) => {}
                    JKind::String(f) => expect.push(Expect::Failed {
                        span: v.span,
                        field: Some(Name::new(f.clone(), v.span)),
                    }),
                    _ => self.wrong_type(
                        v,
                        &o.path_of(&e.key),
                        "true or the name of the failing target field",
                    ),
                },
                _ => {}
            }
        }
        let input = o.get("input").map(literal);
        let task = o.get("task").map(literal);
        Some(TestCase {
            span: o.span,
            name: name?,
            input,
            task,
            expect,
        })
    }
}
