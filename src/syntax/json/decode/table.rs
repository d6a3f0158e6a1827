//! Lookup tables (`"$kind": "lookup"` items and a schema's `lookupTables`) and rate
//! tables (`"$kind": "rates"`).

use super::{literal, Decoder, Obj};
use crate::syntax::ast::*;

impl Decoder {
    pub(super) fn lookup_tables(&mut self, o: &Obj<'_>) -> Vec<LookupTable> {
        let mut tables = Vec::new();
        for e in o.entries {
            if let Some(t) = self.object(&e.value, o.path_of(&e.key), "lookup table") {
                tables.push(LookupTable {
                    span: t.span,
                    id: Name::new(e.key.clone(), e.key_span),
                    entries: entries(&t),
                });
            }
        }
        tables
    }

    pub(super) fn lookup_item(&mut self, o: &Obj<'_>) -> Option<LookupTable> {
        self.keys(o, &["$kind", "id", "entries"]);
        let id = self.str_req(o, "id");
        let table = self.obj_req(o, "entries");
        Some(LookupTable {
            span: o.span,
            id: id?,
            entries: entries(&table?),
        })
    }

    pub(super) fn rates_item(&mut self, o: &Obj<'_>) -> Option<RateTable> {
        self.keys(o, &["$kind", "base", "rates"]);
        let base = self.str_req(o, "base");
        let rates = self.obj_req(o, "rates");
        Some(RateTable {
            span: o.span,
            base: base?,
            rates: entries(&rates?),
        })
    }
}

/// The entries of a lookup or rate table, spans on the keys and values.
fn entries(o: &Obj<'_>) -> Vec<(Name, Literal)> {
    o.entries
        .iter()
        .map(|e| (Name::new(e.key.clone(), e.key_span), literal(&e.value)))
        .collect()
}
