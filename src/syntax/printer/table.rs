//! `lookup ID { "key" => value }` (top level or in a schema) and `rates BASE { .. }`
//! (on one line when it fits).

use super::{
    ident, inline, key, object, object_key, string, value_at, Layout, Place, Printer, WIDTH,
};
use crate::syntax::ast::*;

impl Layout {
    pub(super) fn table(&mut self, t: &LookupTable) {
        self.anchors.push(t.span);
        self.containers.push(t.span);
        self.anchors.extend(t.entries.iter().map(|(k, _)| k.span));
    }

    pub(super) fn rates(&mut self, r: &RateTable) {
        self.anchors.push(r.span);
        self.containers.push(r.span);
        self.anchors.extend(r.rates.iter().map(|(k, _)| k.span));
    }
}

impl Printer<'_> {
    pub(super) fn lookup_table(&mut self, indent: usize, t: &LookupTable) {
        self.line(
            indent,
            &format!("lookup {} {{", ident(&t.id.node, &[])),
            Some(t.span),
        );
        for (k, v) in &t.entries {
            let text = format!("{} => ", string(&k.node));
            let col = (indent + 1) * 2 + text.chars().count();
            self.line(
                indent + 1,
                &format!("{text}{}", value_at(&v.node, indent + 1, col)),
                Some(k.span),
            );
        }
        self.close(indent, t.span, "");
    }

    pub(super) fn rates(&mut self, r: &RateTable) {
        let head = format!("rates {} ", ident(&r.base.node, &[]));
        let one_line = object(
            r.rates.iter().map(|(k, v)| (k.node.as_str(), &v.node)),
            0,
            0,
        );
        if !self.has_inner_comments(r.span)
            && head.len() + one_line.chars().count() <= WIDTH
            && !one_line.contains('\n')
        {
            self.line(0, &format!("{head}{one_line}"), Some(r.span));
            self.take(Place::End(key(r.span)));
            return;
        }
        self.line(0, &format!("{head}{{"), Some(r.span));
        for (k, v) in &r.rates {
            self.line(
                1,
                &format!("{}: {}", object_key(&k.node), inline(&v.node)),
                Some(k.span),
            );
        }
        self.close(0, r.span, "");
    }
}
