//! `schema ID "Name" { .. }`: the schema's clauses (description, source, target,
//! dedupe, inactive, meta) and where its mappings, tables and tests go.

use pest::iterators::Pair;

use super::{all, first, parts, set_once, table, Conv};
use crate::syntax::ast::*;
use crate::syntax::parser::Rule;

/// A schema opened from its head, its clauses still to come.
pub(super) fn new(span: Span, id: Name, name: Option<Name>) -> Schema {
    Schema {
        span,
        id,
        name,
        description: None,
        source: None,
        target: None,
        dedupe: None,
        active: None,
        body: Vec::new(),
        lookups: Vec::new(),
        tests: Vec::new(),
        meta: Vec::new(),
    }
}

/// Adds one statement of the schema.
pub(super) fn stmt(
    c: &mut Conv<'_>,
    s: &mut Schema,
    meta_at: &mut Option<Span>,
    stmt: &Pair<'_, Rule>,
) {
    let Some(inner) = stmt.clone().into_inner().next() else {
        return;
    };
    let at = c.span(&inner);
    let owner = format!("schema `{}`", s.id.node);
    match inner.as_rule() {
        Rule::field_mapping => s.body.push(MappingItem::Field(c.field_mapping(&inner))),
        Rule::relationship => s
            .body
            .push(MappingItem::Relationship(c.relationship(&inner))),
        Rule::description => {
            if let Some(d) = first(&inner, Rule::string).map(|p| c.string(&p)) {
                set_once(
                    c,
                    &mut s.description,
                    d,
                    |n| n.span,
                    "description",
                    &owner,
                    at,
                );
            }
        }
        Rule::source_clause => {
            let names = first(&inner, Rule::dotted)
                .map(|d| parts(&d))
                .unwrap_or_default();
            let mut names: Vec<Name> = names.iter().map(|n| c.name(n)).collect();
            let entity = names.pop().unwrap_or_else(|| Name::new(String::new(), at));
            let integration = names.pop();
            let filters = all(&inner, Rule::condition)
                .iter()
                .map(|p| c.condition(p))
                .collect();
            let source = Source {
                span: at,
                integration,
                entity,
                filters,
            };
            set_once(c, &mut s.source, source, |x| x.span, "source", &owner, at);
        }
        Rule::target_clause => {
            let shard_type = parts(&inner)
                .into_iter()
                .find(|p| matches!(p.as_rule(), Rule::ident | Rule::quoted_ident))
                .map(|n| c.name(&n))
                .unwrap_or_else(|| Name::new(String::new(), at));
            let flags = first(&inner, Rule::target_flags)
                .map(|f| all(&f, Rule::ident).iter().map(|n| c.name(n)).collect());
            set_once(
                c,
                &mut s.target,
                Target {
                    span: at,
                    shard_type,
                    flags,
                },
                |x| x.span,
                "target",
                &owner,
                at,
            );
        }
        Rule::dedupe_clause => {
            let strategy = first(&inner, Rule::ident)
                .map(|n| c.name(&n))
                .unwrap_or_else(|| Name::new(String::new(), at));
            let fields = all(&inner, Rule::path)
                .iter()
                .map(|p| c.path_name(p))
                .collect();
            set_once(
                c,
                &mut s.dedupe,
                Dedupe {
                    span: at,
                    strategy,
                    fields,
                },
                |x| x.span,
                "dedupe",
                &owner,
                at,
            );
        }
        Rule::inactive => set_once(
            c,
            &mut s.active,
            Spanned::new(false, at),
            |x| x.span,
            "inactive",
            &owner,
            at,
        ),
        Rule::meta => match meta_at {
            Some(f) => {
                let f = *f;
                c.duplicate("meta", &owner, at, f);
            }
            None => {
                *meta_at = Some(at);
                s.meta = first(&inner, Rule::object)
                    .map(|o| c.entries(&o))
                    .unwrap_or_default();
            }
        },
        Rule::lookup_table => s.lookups.extend(table::lookup_table(c, &inner)),
        Rule::test_case => s.tests.push(c.test_case(&inner)),
        _ => {}
    }
}
