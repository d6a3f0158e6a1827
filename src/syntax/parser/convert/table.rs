//! Lookup tables (`lookup ID { "key" => value }`, top level or inside a schema) and
//! rate tables (`rates USD { EUR: 0.92 }`).

use pest::iterators::Pair;

use super::{all, first, Block, Conv};
use crate::syntax::ast::*;
use crate::syntax::parser::Rule;

impl Conv<'_> {
    pub fn lookup_entry(&mut self, pair: &Pair<'_, Rule>) -> Option<(Name, Literal)> {
        let key = pair.clone().into_inner().next()?;
        let key = match key.as_rule() {
            Rule::string => self.string(&key),
            _ => Name::new(key.as_str().to_string(), self.span(&key)),
        };
        let value = first(pair, Rule::literal)?;
        Some((key, self.literal(&value)))
    }
}

/// Converts a whole lookup table pair (inside a schema).
pub(super) fn lookup_table(c: &mut Conv<'_>, pair: &Pair<'_, Rule>) -> Option<LookupTable> {
    let head = first(pair, Rule::lookup_head)?;
    let mut block = Block::open(c, &head)?;
    for e in all(pair, Rule::lookup_entry) {
        block.add(c, &e);
    }
    match block.finish(c.base + pair.as_span().end()) {
        Item::Lookup(t) => Some(t),
        _ => None,
    }
}
