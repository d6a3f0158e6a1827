//! `connection ID "Name" { .. }`: integration, scope, tenant, auth with its credentials,
//! settings.

use pest::iterators::Pair;

use super::{all, clause_word, first, parts, set_once, Conv};
use crate::syntax::ast::*;
use crate::syntax::parser::Rule;

/// A connection opened from its head, its clauses still to come.
pub(super) fn new(span: Span, id: Name, name: Option<Name>) -> Connection {
    Connection {
        span,
        id,
        name,
        integration: None,
        scope: None,
        tenant: None,
        auth: None,
        settings: None,
        meta: Vec::new(),
    }
}

/// Adds one statement of the connection.
pub(super) fn stmt(
    c: &mut Conv<'_>,
    k: &mut Connection,
    meta_at: &mut Option<Span>,
    stmt: &Pair<'_, Rule>,
) {
    let Some(inner) = stmt.clone().into_inner().next() else {
        return;
    };
    let at = c.span(&inner);
    let owner = format!("connection `{}`", k.id.node);
    let word = inner
        .clone()
        .into_inner()
        .next()
        .map(|k| clause_word(k.as_rule()))
        .unwrap_or_default();
    match inner.as_rule() {
        Rule::task_integration | Rule::scope => {
            let Some(name) = parts(&inner)
                .into_iter()
                .find(|p| matches!(p.as_rule(), Rule::ident | Rule::quoted_ident))
                .map(|n| c.name(&n))
            else {
                return;
            };
            let slot = match inner.as_rule() {
                Rule::task_integration => &mut k.integration,
                _ => &mut k.scope,
            };
            set_once(c, slot, name, |n| n.span, &word, &owner, at);
        }
        Rule::tenant => {
            if let Some(t) = first(&inner, Rule::string).map(|p| c.string(&p)) {
                set_once(c, &mut k.tenant, t, |n| n.span, "tenant", &owner, at);
            }
        }
        Rule::auth => {
            let kind = parts(&inner)
                .into_iter()
                .find(|p| matches!(p.as_rule(), Rule::ident | Rule::quoted_ident))
                .map(|n| c.name(&n))
                .unwrap_or_else(|| Name::new(String::new(), at));
            let fields = first(&inner, Rule::auth_block)
                .map(|b| {
                    all(&b, Rule::credential)
                        .iter()
                        .filter_map(|e| c.credential(e))
                        .collect()
                })
                .unwrap_or_default();
            let auth = Auth {
                span: at,
                kind,
                fields,
            };
            set_once(c, &mut k.auth, auth, |a| a.span, "auth", &owner, at);
        }
        Rule::settings => {
            if let Some(l) = first(&inner, Rule::literal) {
                let l = c.tree(&l);
                set_once(c, &mut k.settings, l, |l| l.span, "settings", &owner, at);
            }
        }
        Rule::meta => match meta_at {
            Some(f) => {
                let f = *f;
                c.duplicate("meta", &owner, at, f);
            }
            None => {
                *meta_at = Some(at);
                k.meta = first(&inner, Rule::object)
                    .map(|o| c.entries(&o))
                    .unwrap_or_default();
            }
        },
        _ => {}
    }
}

impl Conv<'_> {
    /// `key: "plain"`, `key: env("VAR")` or `key: stored`.
    pub(super) fn credential(&mut self, pair: &Pair<'_, Rule>) -> Option<(Name, Credential)> {
        let key = first(pair, Rule::key)?.into_inner().next()?;
        let key = self.name(&key);
        let value = first(pair, Rule::cred_value)?;
        Some((key, self.cred_value(&value)?))
    }

    /// A `cred_value` pair: `"plain"`, `env("VAR")` or `stored` (a credential's value, a
    /// realtime task's token).
    pub(super) fn cred_value(&mut self, value: &Pair<'_, Rule>) -> Option<Credential> {
        let span = self.span(value);
        let inner = value.clone().into_inner().next()?;
        Some(match inner.as_rule() {
            Rule::env_ref => {
                let var = first(&inner, Rule::string).map(|s| self.string(&s))?;
                Credential::Env { span, var }
            }
            Rule::kw_stored => Credential::Stored(span),
            _ => Credential::Plain(self.literal(&inner)),
        })
    }
}
