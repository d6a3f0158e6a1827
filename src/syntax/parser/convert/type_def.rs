//! `shardtype` and `entity` definitions (stdlib/): their fields and type expressions.

use pest::iterators::Pair;

use super::{all, first, parts, Conv};
use crate::syntax::ast::*;
use crate::syntax::parser::Rule;

impl Conv<'_> {
    fn type_expr(&mut self, pair: &Pair<'_, Rule>) -> TypeExpr {
        let span = self.span(pair);
        let Some(inner) = pair.clone().into_inner().next() else {
            return TypeExpr::Named(Name::new(String::new(), span));
        };
        match inner.as_rule() {
            Rule::enum_type => TypeExpr::Enum(
                all(&inner, Rule::string)
                    .iter()
                    .map(|s| self.string(s))
                    .collect(),
            ),
            Rule::array_type => match first(&inner, Rule::type_expr) {
                Some(t) => TypeExpr::Array(Box::new(self.type_expr(&t))),
                None => TypeExpr::Named(Name::new(String::new(), span)),
            },
            Rule::object_type => TypeExpr::Object(
                all(&inner, Rule::field_def)
                    .iter()
                    .map(|f| self.field_def(f))
                    .collect(),
            ),
            _ => {
                let name = first(&inner, Rule::ident)
                    .map(|n| self.name(&n))
                    .unwrap_or_else(|| Name::new(String::new(), span));
                TypeExpr::Named(name)
            }
        }
    }

    pub fn field_def(&mut self, pair: &Pair<'_, Rule>) -> FieldDef {
        let span = self.span(pair);
        let name = parts(pair)
            .into_iter()
            .find(|p| matches!(p.as_rule(), Rule::ident | Rule::quoted_ident))
            .map(|n| self.name(&n))
            .unwrap_or_else(|| Name::new(String::new(), span));
        let optional = first(pair, Rule::optional_mark).is_some();
        let ty = first(pair, Rule::type_expr)
            .map(|t| self.type_expr(&t))
            .unwrap_or_else(|| TypeExpr::Named(Name::new(String::new(), span)));
        FieldDef {
            span,
            name,
            optional,
            ty,
        }
    }
}
