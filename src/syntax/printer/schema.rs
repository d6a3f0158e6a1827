//! `schema ID "Name" { .. }`: the schema's clauses, then its mappings, tables and tests,
//! each section after a blank line.

use super::mapping::{condition, relationship};
use super::{dotted, ident, path, string, Layout, Printer};
use crate::syntax::ast::*;

impl Layout {
    /// The schema, its clauses, mappings, tables and tests.
    pub(super) fn schema(&mut self, s: &Schema) {
        self.anchors.push(s.span);
        self.containers.push(s.span);
        self.anchors.extend(s.description.as_ref().map(|d| d.span));
        self.anchors.extend(s.source.as_ref().map(|x| x.span));
        self.anchors.extend(s.target.as_ref().map(|x| x.span));
        self.anchors.extend(s.dedupe.as_ref().map(|x| x.span));
        self.anchors.extend(s.active.as_ref().map(|x| x.span));
        self.anchors.extend(s.meta.first().map(|(k, _)| k.span));
        for m in &s.body {
            self.mapping(m);
        }
        for t in &s.lookups {
            self.table(t);
        }
        for t in &s.tests {
            self.test_case(t);
        }
    }
}

impl Printer<'_> {
    pub(super) fn schema(&mut self, s: &Schema) {
        let mut head = format!("schema {}", ident(&s.id.node, &[]));
        if let Some(n) = &s.name {
            head.push_str(&format!(" {}", string(&n.node)));
        }
        self.line(0, &format!("{head} {{"), Some(s.span));
        let mut clauses = false;
        if let Some(d) = &s.description {
            self.line(1, &format!("description {}", string(&d.node)), Some(d.span));
            clauses = true;
        }
        if let Some(src) = &s.source {
            let mut text = format!(
                "source {}",
                dotted(
                    src.integration.as_ref().map(|n| n.node.as_str()),
                    &src.entity.node
                )
            );
            for (i, f) in src.filters.iter().enumerate() {
                text.push_str(if i == 0 { " where " } else { " and " });
                text.push_str(&condition(f));
            }
            self.line(1, &text, Some(src.span));
            clauses = true;
        }
        if let Some(t) = &s.target {
            let mut text = format!("target {}", ident(&t.shard_type.node, &[]));
            if let Some(flags) = &t.flags {
                let flags: Vec<String> = flags.iter().map(|f| f.node.clone()).collect();
                text.push_str(&if flags.is_empty() {
                    " {}".to_string()
                } else {
                    format!(" {{ {} }}", flags.join(", "))
                });
            }
            self.line(1, &text, Some(t.span));
            clauses = true;
        }
        if let Some(d) = &s.dedupe {
            let fields: Vec<String> = d.fields.iter().map(|f| path(&f.node)).collect();
            self.line(
                1,
                &format!("dedupe {}({})", d.strategy.node, fields.join(", ")),
                Some(d.span),
            );
            clauses = true;
        }
        if let Some(a) = s.active.as_ref().filter(|a| !a.node) {
            self.line(1, "inactive", Some(a.span));
            clauses = true;
        }
        if !s.meta.is_empty() {
            self.meta(1, &s.meta);
            clauses = true;
        }
        let mut sections = clauses;
        if !s.body.is_empty() {
            if sections {
                self.out.push('\n');
            }
            for m in &s.body {
                match m {
                    MappingItem::Field(f) => self.field_mapping(1, f),
                    MappingItem::Relationship(r) => self.line(1, &relationship(r), Some(r.span)),
                }
            }
            sections = true;
        }
        for t in &s.lookups {
            if sections {
                self.out.push('\n');
            }
            self.lookup_table(1, t);
            sections = true;
        }
        for t in &s.tests {
            if sections {
                self.out.push('\n');
            }
            self.test(1, t);
            sections = true;
        }
        self.close(0, s.span, "");
    }
}
