//! `test "name" { input {..} task {..} expect .. }` blocks inside a schema.

use pest::iterators::Pair;

use super::{all, first, parts, Conv};
use crate::syntax::ast::*;
use crate::syntax::parser::Rule;

impl Conv<'_> {
    pub(super) fn test_case(&mut self, pair: &Pair<'_, Rule>) -> TestCase {
        let span = self.span(pair);
        let name = first(pair, Rule::string)
            .map(|s| self.string(&s))
            .unwrap_or_else(|| Name::new(String::new(), span));
        let mut t = TestCase {
            span,
            name,
            input: None,
            task: None,
            expect: Vec::new(),
        };
        let owner = format!("test \"{}\"", t.name.node);
        for stmt in all(pair, Rule::test_stmt) {
            let Some(inner) = stmt.clone().into_inner().next() else {
                continue;
            };
            let stmt_span = self.span(&stmt);
            match inner.as_rule() {
                Rule::test_input | Rule::test_task => {
                    let Some(l) = first(&inner, Rule::literal) else {
                        continue;
                    };
                    let value = self.literal(&l);
                    let (slot, word) = if inner.as_rule() == Rule::test_input {
                        (&mut t.input, "input")
                    } else {
                        (&mut t.task, "task")
                    };
                    match slot {
                        Some(prev) => {
                            let first_span = prev.span;
                            self.duplicate(word, &owner, stmt_span, first_span);
                        }
                        None => *slot = Some(value),
                    }
                }
                Rule::test_expect => {
                    if let Some(e) = self.expect(&inner) {
                        t.expect.push(e);
                    }
                }
                _ => {}
            }
        }
        t
    }

    fn expect(&mut self, pair: &Pair<'_, Rule>) -> Option<Expect> {
        let span = self.span(pair);
        let inner = parts(pair)
            .into_iter()
            .find(|p| p.as_rule() != Rule::kw_expect)?;
        Some(match inner.as_rule() {
            Rule::object => Expect::Data(self.literal(&inner)),
            Rule::expect_external_id => {
                Expect::ExternalId(self.literal(&first(&inner, Rule::literal)?))
            }
            Rule::expect_relationships => {
                Expect::Relationships(self.literal(&first(&inner, Rule::literal)?))
            }
            Rule::expect_skipped => Expect::Skipped(span),
            Rule::expect_failed => {
                let field = parts(&inner)
                    .into_iter()
                    .find(|p| matches!(p.as_rule(), Rule::ident | Rule::quoted_ident))
                    .map(|n| self.name(&n));
                Expect::Failed { span, field }
            }
            _ => return None,
        })
    }
}
