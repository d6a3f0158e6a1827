//! `test "name" { input .. task .. expect .. }` inside a schema.

use super::{ident, string, value_at, Layout, Printer};
use crate::syntax::ast::*;

/// Words that end `expect failed FIELD` (the next test clause).
const TEST_WORDS: &[&str] = &["expect", "input", "task"];

impl Layout {
    pub(super) fn test_case(&mut self, t: &TestCase) {
        self.anchors.push(t.span);
        self.containers.push(t.span);
        self.anchors.extend(t.input.as_ref().map(|l| l.span));
        self.anchors.extend(t.task.as_ref().map(|l| l.span));
        self.anchors.extend(t.expect.iter().map(expect_span));
    }
}

impl Printer<'_> {
    pub(super) fn test(&mut self, indent: usize, t: &TestCase) {
        self.line(
            indent,
            &format!("test {} {{", string(&t.name.node)),
            Some(t.span),
        );
        let inner = indent + 1;
        if let Some(i) = &t.input {
            self.line(
                inner,
                &format!("input {}", value_at(&i.node, inner, inner * 2 + 6)),
                Some(i.span),
            );
        }
        if let Some(k) = &t.task {
            self.line(
                inner,
                &format!("task {}", value_at(&k.node, inner, inner * 2 + 5)),
                Some(k.span),
            );
        }
        for e in &t.expect {
            let text = match e {
                Expect::Data(v) => format!("expect {}", value_at(&v.node, inner, inner * 2 + 7)),
                Expect::ExternalId(v) => format!(
                    "expect external_id {}",
                    value_at(&v.node, inner, inner * 2 + 19)
                ),
                Expect::Relationships(v) => format!(
                    "expect relationships {}",
                    value_at(&v.node, inner, inner * 2 + 21)
                ),
                Expect::Skipped(_) => "expect skipped".to_string(),
                Expect::Failed { field: None, .. } => "expect failed".to_string(),
                Expect::Failed { field: Some(f), .. } => {
                    format!("expect failed {}", ident(&f.node, TEST_WORDS))
                }
            };
            self.line(inner, &text, Some(expect_span(e)));
        }
        self.close(indent, t.span, "");
    }
}

fn expect_span(e: &Expect) -> Span {
    match e {
        Expect::Data(l) | Expect::ExternalId(l) | Expect::Relationships(l) => l.span,
        Expect::Skipped(span) | Expect::Failed { span, .. } => *span,
    }
}
