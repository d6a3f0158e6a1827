//! `connection ID "Name" { .. }`: integration, scope, tenant, auth (one credential per
//! line), settings.

use super::{ident, inline, key, object_key, pad, string, tree_at, Layout, Place, Printer};
use crate::syntax::ast::*;

impl Layout {
    pub(super) fn connection(&mut self, k: &Connection) {
        self.anchors.push(k.span);
        self.containers.push(k.span);
        let names = [&k.integration, &k.scope, &k.tenant];
        self.anchors
            .extend(names.iter().filter_map(|n| n.as_ref().map(|n| n.span)));
        if let Some(a) = &k.auth {
            self.anchors.push(a.span);
            self.containers.push(a.span);
            self.anchors
                .extend(a.fields.iter().map(|(key, _)| key.span));
        }
        self.anchors.extend(k.settings.as_ref().map(|l| l.span));
        self.anchors.extend(k.meta.first().map(|(key, _)| key.span));
    }
}

impl Printer<'_> {
    pub(super) fn connection(&mut self, k: &Connection) {
        let mut head = format!("connection {}", ident(&k.id.node, &[]));
        if let Some(n) = &k.name {
            head.push_str(&format!(" {}", string(&n.node)));
        }
        self.line(0, &format!("{head} {{"), Some(k.span));
        for (word, n) in [("integration", &k.integration), ("scope", &k.scope)] {
            if let Some(n) = n {
                self.line(1, &format!("{word} {}", ident(&n.node, &[])), Some(n.span));
            }
        }
        if let Some(t) = &k.tenant {
            self.line(1, &format!("tenant {}", string(&t.node)), Some(t.span));
        }
        if let Some(a) = &k.auth {
            let head = format!("auth {}", ident(&a.kind.node, &[]));
            if a.fields.is_empty() {
                self.line(1, &head, Some(a.span));
                // `auth x {}` with comments inside prints them after the clause.
                for c in self.take(Place::End(key(a.span))) {
                    self.out.push_str(&format!("{}//{}\n", pad(1), c.text));
                }
            } else {
                // One credential per line: each is a decision worth a line (and a
                // comment), and a diff of a changed secret source stays one line.
                self.line(1, &format!("{head} {{"), Some(a.span));
                for (name, value) in &a.fields {
                    let text = format!("{}: {}", object_key(&name.node), credential(value));
                    self.line(2, &text, Some(name.span));
                }
                self.close(1, a.span, "");
            }
        }
        if let Some(l) = &k.settings {
            self.line(1, &format!("settings {}", tree_at(l, 1, 11)), Some(l.span));
        }
        if !k.meta.is_empty() {
            self.meta(1, &k.meta);
        }
        self.close(0, k.span, "");
    }
}

pub(super) fn credential(c: &Credential) -> String {
    match c {
        Credential::Plain(l) => inline(&l.node),
        Credential::Env { var, .. } => format!("env({})", string(&var.node)),
        Credential::Stored(_) => "stored".to_string(),
    }
}
