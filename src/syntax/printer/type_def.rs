//! `shardtype` and `entity` definitions: one field per line, an object type inline when
//! it fits.

use super::{dotted, ident, string, Layout, Printer, WIDTH};
use crate::syntax::ast::*;

impl Layout {
    pub(super) fn type_def(&mut self, t: &TypeDef) {
        self.anchors.push(t.span);
        self.containers.push(t.span);
        self.fields(&t.fields);
    }

    pub(super) fn fields(&mut self, fields: &[FieldDef]) {
        for f in fields {
            self.anchors.push(f.span);
            if let TypeExpr::Object(inner) = &f.ty {
                self.containers.push(f.span);
                self.fields(inner);
            }
        }
    }
}

impl Printer<'_> {
    pub(super) fn type_def(&mut self, t: &TypeDef) {
        let word = match t.kind {
            TypeDefKind::ShardType => "shardtype",
            TypeDefKind::Entity => "entity",
        };
        let (first, rest) = match t.id.node.split_once('.') {
            Some((a, b)) if t.kind == TypeDefKind::Entity => (Some(a), b),
            _ => (None, t.id.node.as_str()),
        };
        let mut head = format!("{word} {}", dotted(first, rest));
        if let Some(n) = &t.name {
            head.push_str(&format!(" {}", string(&n.node)));
        }
        self.line(0, &format!("{head} {{"), Some(t.span));
        self.field_defs(1, &t.fields);
        self.close(0, t.span, "");
    }

    fn field_defs(&mut self, indent: usize, fields: &[FieldDef]) {
        for f in fields {
            let head = format!(
                "{}{}: ",
                ident(&f.name.node, &[]),
                if f.optional { "?" } else { "" }
            );
            match &f.ty {
                TypeExpr::Object(inner) => {
                    let one = type_expr(&f.ty);
                    if !self.has_inner_comments(f.span)
                        && indent * 2 + head.len() + one.chars().count() <= WIDTH
                    {
                        self.line(indent, &format!("{head}{one}"), Some(f.span));
                    } else {
                        self.line(indent, &format!("{head}{{"), Some(f.span));
                        self.field_defs(indent + 1, inner);
                        self.close(indent, f.span, "");
                    }
                }
                ty => self.line(indent, &format!("{head}{}", type_expr(ty)), Some(f.span)),
            }
        }
    }
}

fn type_expr(t: &TypeExpr) -> String {
    match t {
        TypeExpr::Named(n) => n.node.clone(),
        TypeExpr::Array(inner) => format!("[{}]", type_expr(inner)),
        TypeExpr::Enum(items) => items
            .iter()
            .map(|s| string(&s.node))
            .collect::<Vec<_>>()
            .join(" | "),
        TypeExpr::Object(fields) if fields.is_empty() => "{}".to_string(),
        TypeExpr::Object(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .map(|f| {
                    format!(
                        "{}{}: {}",
                        ident(&f.name.node, &[]),
                        if f.optional { "?" } else { "" },
                        type_expr(&f.ty)
                    )
                })
                .collect();
            format!("{{ {} }}", fields.join(", "))
        }
    }
}
