//! A schema's `test` blocks: input, task config and expectations checked and lowered.

use serde_json::{Map, Value};

use super::Sx;
use crate::compile::ir;
use crate::diagnostics::{did_you_mean, Code, Diagnostic};
use crate::syntax::ast::{self, Literal, Span};

impl Sx<'_, '_> {
    pub(super) fn test(&mut self, t: &ast::TestCase, targets: &[&str]) -> Option<ir::Test> {
        let mut ok = true;
        let mut bad = |sx: &mut Self, span: Span, message: String, label: &str, help: String| {
            ok = false;
            sx.push(
                Diagnostic::new(Code::InvalidTest, span, message)
                    .with_label(label.to_string())
                    .with_help(help),
            );
        };
        let name = &t.name.node;
        let input = match &t.input {
            None => {
                bad(
                    self,
                    t.name.span,
                    format!("test `{name}` has no input"),
                    "no `input`",
                    "add `input { Field: value }`".into(),
                );
                Value::Null
            }
            Some(l) if !l.node.is_object() => {
                bad(
                    self,
                    l.span,
                    "a test input must be an object".into(),
                    "not an object",
                    "write `input { Field: value }`".into(),
                );
                Value::Null
            }
            Some(l) => l.node.clone(),
        };
        let task = match &t.task {
            None => Map::new(),
            Some(Literal {
                node: Value::Object(m),
                ..
            }) => m.clone(),
            Some(l) => {
                bad(
                    self,
                    l.span,
                    "a test's task config must be an object".into(),
                    "not an object",
                    "write `task { key: value }`".into(),
                );
                Map::new()
            }
        };
        if t.expect.is_empty() {
            bad(
                self,
                t.name.span,
                format!("test `{name}` expects nothing"),
                "checks nothing",
                "add `expect { field: value }`, `expect skipped` or `expect failed`".into(),
            );
        }
        let mut expect = Vec::new();
        for e in &t.expect {
            expect.push(match e {
                ast::Expect::Data(l) => {
                    if !l.node.is_object() {
                        bad(
                            self,
                            l.span,
                            "`expect` data must be an object".into(),
                            "not an object",
                            "write `expect { field: value }`".into(),
                        );
                    }
                    ir::TestExpect::Data(l.node.clone())
                }
                ast::Expect::ExternalId(l) => ir::TestExpect::ExternalId(l.node.clone()),
                ast::Expect::Relationships(l) => {
                    if !l.node.is_array() {
                        bad(
                            self,
                            l.span,
                            "`expect relationships` must be an array".into(),
                            "not an array",
                            "write `expect relationships [ { .. } ]`".into(),
                        );
                    }
                    ir::TestExpect::Relationships(l.node.clone())
                }
                ast::Expect::Skipped(_) => ir::TestExpect::Skipped,
                ast::Expect::Failed { field, .. } => {
                    if let Some(f) = field {
                        if !targets.contains(&f.node.as_str()) {
                            let help = match did_you_mean(&f.node, targets.iter().copied()) {
                                Some(s) => format!("write `expect failed {s}`"),
                                None => "name a mapped target field, or write `expect failed`"
                                    .to_string(),
                            };
                            bad(
                                self,
                                f.span,
                                format!("no mapping writes `{}`", f.node),
                                "not a target field",
                                help,
                            );
                        }
                    }
                    ir::TestExpect::Failed {
                        field: field.as_ref().map(|f| f.node.clone()),
                    }
                }
            });
        }
        ok.then(|| ir::Test {
            name: name.clone(),
            input,
            task,
            expect,
        })
    }
}
