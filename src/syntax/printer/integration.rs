//! `integration ID "Display name" { .. }`: one clause per line in the order of
//! [`INTEGRATION_CLAUSES`], `auth` with one `oauthConfig` key per line.

use super::connection::credential;
use super::{dotted, ident, inline, is_name, object_key, string, Layout, Printer};
use crate::syntax::ast::*;

impl Layout {
    pub(super) fn integration(&mut self, k: &Integration) {
        self.anchors.push(k.span);
        self.containers.push(k.span);
        for (w, _) in INTEGRATION_CLAUSES {
            self.anchors.extend(clause(k, w).map(|(_, span)| span));
        }
        if let Some(a) = &k.auth {
            self.anchors.push(a.span);
            if let Some(b) = &a.oauth {
                self.containers.push(a.span);
                self.anchors
                    .extend(b.fields.iter().map(|(key, _)| key.span));
            }
        }
    }
}

/// A word value: bare when it reads back as one name, else a string.
fn word(n: &Name) -> String {
    if is_name(&n.node) && !["true", "false", "null"].contains(&n.node.as_str()) {
        n.node.clone()
    } else {
        string(&n.node)
    }
}

/// An entity id (`salesforce.Contact`), each part a name.
fn entity(n: &Name) -> String {
    match n.node.split_once('.') {
        Some((a, b)) => dotted(Some(a), b),
        None => ident(&n.node, &[]),
    }
}

fn list(l: &NameList, item: fn(&Name) -> String) -> String {
    if l.items.is_empty() {
        "[]".to_string()
    } else {
        l.items.iter().map(item).collect::<Vec<_>>().join(", ")
    }
}

/// The clause `w` (not `auth`) printed, with its anchor, when it is written.
fn clause(k: &Integration, w: &str) -> Option<(String, Span)> {
    let text = match w {
        "name" => k.name.as_ref().map(|n| (word(n), n.span)),
        "category" => k.category.as_ref().map(|n| (word(n), n.span)),
        "visibility" => k.visibility.as_ref().map(|n| (word(n), n.span)),
        "scope" => k.scope.as_ref().map(|n| (word(n), n.span)),
        "status" => k.status.as_ref().map(|n| (word(n), n.span)),
        "description" => k.description.as_ref().map(|n| (string(&n.node), n.span)),
        "icon" => k.icon.as_ref().map(|n| (string(&n.node), n.span)),
        "color" => k.color.as_ref().map(|n| (string(&n.node), n.span)),
        "plan" => k.plan.as_ref().map(|n| (string(&n.node), n.span)),
        "version" => k.version.as_ref().map(|n| (string(&n.node), n.span)),
        "premium" => k.premium.as_ref().map(|l| (inline(&l.node), l.span)),
        "realtime" => k.realtime.as_ref().map(|l| (inline(&l.node), l.span)),
        "webhooks" => k.webhooks.as_ref().map(|l| (inline(&l.node), l.span)),
        "capabilities" => k
            .capabilities
            .as_ref()
            .map(|l| (list(l, |n| ident(&n.node, &[])), l.span)),
        "directions" => k
            .directions
            .as_ref()
            .map(|l| (list(l, |n| ident(&n.node, &[])), l.span)),
        "entities" => k.entities.as_ref().map(|l| (list(l, entity), l.span)),
        // `auth` has a block of its own: see `Printer::auth_clause`.
        _ => None,
    };
    text.map(|(t, span)| (format!("{w} {t}"), span))
}

impl Printer<'_> {
    pub(super) fn integration(&mut self, k: &Integration) {
        let mut head = format!("integration {}", ident(&k.id.node, &[]));
        if let Some(n) = &k.display_name {
            head.push_str(&format!(" {}", string(&n.node)));
        }
        self.line(0, &format!("{head} {{"), Some(k.span));
        for (w, _) in INTEGRATION_CLAUSES {
            if *w == "auth" {
                self.auth_clause(k);
            } else if let Some((text, span)) = clause(k, w) {
                self.line(1, &text, Some(span));
            }
        }
        self.close(0, k.span, "");
    }

    fn auth_clause(&mut self, k: &Integration) {
        let Some(a) = &k.auth else { return };
        let head = format!("auth {}", word(&a.kind));
        match &a.oauth {
            None => self.line(1, &head, Some(a.span)),
            Some(b) => {
                // One key per line, as a connection's credentials: a changed URL or
                // secret source is a one-line diff.
                self.line(1, &format!("{head} {{"), Some(a.span));
                for (name, value) in &b.fields {
                    let text = format!("{}: {}", object_key(&name.node), credential(value));
                    self.line(2, &text, Some(name.span));
                }
                self.close(1, a.span, "");
            }
        }
    }
}
