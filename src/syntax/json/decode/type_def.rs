//! `"$kind": "shardtype"` and `"$kind": "entity"` items: fields and type expressions.

use super::super::reader::{JKind, JVal};
use super::{index, Decoder, Obj};
use crate::syntax::ast::*;

impl Decoder {
    pub(super) fn type_def(&mut self, o: &Obj<'_>, kind: TypeDefKind) -> Option<TypeDef> {
        self.keys(o, &["$kind", "id", "name", "fields"]);
        let id = self.str_req(o, "id");
        let name = self.str_opt(o, "name");
        let fields = self.obj_req(o, "fields").map(|f| self.field_defs(&f));
        Some(TypeDef {
            span: o.span,
            kind,
            id: id?,
            name,
            fields: fields?,
        })
    }

    /// `{ name: { "type": T, "optional": true } }`.
    pub(super) fn field_defs(&mut self, o: &Obj<'_>) -> Vec<FieldDef> {
        let mut defs = Vec::new();
        for e in o.entries {
            let Some(f) = self.object(&e.value, o.path_of(&e.key), "field") else {
                continue;
            };
            self.keys(&f, &["type", "optional"]);
            let optional = self.bool_opt(&f, "optional").is_some_and(|b| b.node);
            let ty = match f.get("type") {
                Some(t) => self.type_expr(t, f.path_of("type")),
                None => {
                    self.missing(&f, "type", "\"string\"");
                    None
                }
            };
            if let Some(ty) = ty {
                defs.push(FieldDef {
                    span: e.key_span.to(e.value.span),
                    name: Name::new(e.key.clone(), e.key_span),
                    optional,
                    ty,
                });
            }
        }
        defs
    }

    /// `"string"`, `["string"]` (an array of), `{ "fields": {..} }`, `{ "enum": [..] }`.
    pub(super) fn type_expr(&mut self, v: &JVal, path: String) -> Option<TypeExpr> {
        match &v.kind {
            JKind::String(s) => Some(TypeExpr::Named(Name::new(s.clone(), v.span))),
            JKind::Array(items) if items.len() == 1 => {
                let inner = items.first()?;
                Some(TypeExpr::Array(Box::new(
                    self.type_expr(inner, index(&path, 0))?,
                )))
            }
            JKind::Object(entries) if entries.len() == 1 => {
                let o = Obj {
                    span: v.span,
                    entries,
                    what: path.clone(),
                    path,
                };
                if o.has("enum") {
                    Some(TypeExpr::Enum(self.names(&o, "enum")?))
                } else if let Some(fields) = self.obj_opt(&o, "fields") {
                    Some(TypeExpr::Object(self.field_defs(&fields)))
                } else {
                    self.keys(&o, &["fields", "enum"]);
                    None
                }
            }
            _ => {
                self.wrong_type(
                    v,
                    &path,
                    "a type: \"string\", [\"string\"], { \"fields\": {..} } or { \"enum\": [..] }",
                );
                None
            }
        }
    }
}
