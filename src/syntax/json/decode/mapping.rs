//! Field mappings (`fieldMappings[]`: each mapping type's `config`, transformations,
//! conditions, lookups, validation rules) and `relationshipMappings[]`.

use super::super::reader::JVal;
use super::{index, literal, Decoder, Obj};
use crate::diagnostics::{did_you_mean, Code, Diagnostic};
use crate::syntax::ast::*;

/// The mapping types of the spec, plus `lookup` (an extension).
pub(super) const MAPPING_TYPES: &[&str] = &[
    "direct",
    "transform",
    "conditional",
    "default",
    "composite",
    "lookup",
    "flatten",
];

impl Decoder {
    pub(super) fn field_mapping(&mut self, v: &JVal, path: String) -> Option<FieldMapping> {
        let o = self.object(v, path, "field mapping")?;
        self.keys(
            &o,
            &[
                "id",
                "targetField",
                "mappingType",
                "config",
                "required",
                "validation",
            ],
        );
        let id = self.str_opt(&o, "id");
        let target = self.str_req(&o, "targetField");
        let mapping_type = self.str_req(&o, "mappingType");
        let required = self
            .bool_opt(&o, "required")
            .filter(|b| b.node)
            .map(|b| b.span);
        let mut validation = Vec::new();
        if let Some(items) = self.arr_opt(&o, "validation") {
            let path = o.path_of("validation");
            for (i, v) in items.iter().enumerate() {
                validation.extend(self.validation(v, index(&path, i)));
            }
        }
        let config = self.obj_req(&o, "config");
        let expr = match (mapping_type, config) {
            (Some(t), Some(c)) => self.mapping_expr(t, &c),
            (Some(t), None) if !MAPPING_TYPES.contains(&t.node.as_str()) => {
                Some(MappingExpr::Unknown { mapping_type: t })
            }
            _ => None,
        };
        Some(FieldMapping {
            span: o.span,
            id,
            target: target?,
            required,
            expr: expr?,
            validation,
        })
    }

    fn mapping_expr(&mut self, mapping_type: Name, c: &Obj<'_>) -> Option<MappingExpr> {
        let mt = mapping_type.node.as_str();
        if !MAPPING_TYPES.contains(&mt) {
            // compile reports it, with a suggestion; the config cannot be interpreted.
            return Some(MappingExpr::Unknown { mapping_type });
        }
        if let Some(ty) = self.str_req(c, "type") {
            if ty.node != mt {
                self.diags.push(
                    Diagnostic::new(
                        Code::JsonShape,
                        ty.span,
                        format!("{}.type is `{}` but mappingType is `{mt}`", c.path, ty.node),
                    )
                    .with_label("does not match mappingType")
                    .with_related(mapping_type.span, "mappingType given here")
                    .with_help(format!("make them agree: \"type\": \"{mt}\"")),
                );
            }
        }
        match mt {
            "direct" => {
                self.keys(c, &["type", "sourceField"]);
                Some(MappingExpr::Direct {
                    field: self.str_req(c, "sourceField")?,
                })
            }
            "transform" => {
                self.keys(c, &["type", "sourceField", "transformations"]);
                let field = self.str_req(c, "sourceField");
                let steps = self.transformations(c, true);
                Some(MappingExpr::Transform {
                    field: field?,
                    steps: steps?,
                })
            }
            "conditional" => Some(MappingExpr::Conditional(self.conditional(c)?)),
            "default" => {
                self.keys(c, &["type", "value"]);
                Some(MappingExpr::Default {
                    value: self.lit_req(c, "value")?,
                })
            }
            "composite" => Some(MappingExpr::Composite(self.composite(c)?)),
            "lookup" => Some(MappingExpr::Lookup(self.lookup(c)?)),
            _ => {
                self.keys(c, &["type", "sourceField", "path"]);
                let field = self.str_req(c, "sourceField");
                let path = self.str_req(c, "path");
                Some(MappingExpr::Flatten {
                    field: field?,
                    path: path?,
                })
            }
        }
    }

    /// `transformations` of `o`: every well-formed step (a wrong one is reported and left
    /// out, so the mapping still runs through the others at check time).
    pub(super) fn transformations(
        &mut self,
        o: &Obj<'_>,
        required: bool,
    ) -> Option<Vec<Transformation>> {
        let items = if required {
            self.arr_req(o, "transformations")?
        } else {
            self.arr_opt(o, "transformations")?
        };
        let path = o.path_of("transformations");
        let mut steps = Vec::new();
        for (i, v) in items.iter().enumerate() {
            let Some(t) = self.object(v, index(&path, i), "transformation") else {
                continue;
            };
            self.keys(&t, &["type", "config"]);
            let name = self.str_req(&t, "type");
            let mut args = Vec::new();
            if let Some(config) = self.obj_opt(&t, "config") {
                for e in config.entries {
                    args.push(Arg {
                        name: Some(Name::new(e.key.clone(), e.key_span)),
                        value: literal(&e.value),
                    });
                }
            }
            if let Some(name) = name {
                steps.push(Transformation {
                    span: t.span,
                    name,
                    args,
                });
            }
        }
        Some(steps)
    }

    pub(super) fn conditional(&mut self, c: &Obj<'_>) -> Option<Conditional> {
        self.keys(c, &["type", "conditions", "default"]);
        let rules = self.arr_req(c, "conditions");
        let path = c.path_of("conditions");
        let mut arms = Vec::new();
        for (i, v) in rules.unwrap_or_default().iter().enumerate() {
            let Some(r) = self.object(v, index(&path, i), "rule") else {
                continue;
            };
            self.keys(&r, &["condition", "then"]);
            let condition = self
                .obj_req(&r, "condition")
                .and_then(|o| self.condition(&o));
            let then = self.obj_req(&r, "then").and_then(|o| self.then(&o));
            if let (Some(condition), Some(then)) = (condition, then) {
                arms.push(Arm::Rule {
                    span: r.span,
                    condition,
                    then,
                });
            }
        }
        // Rules that all test one field read best as `match F { .. }` in `.cmap`.
        let mut fields = arms.iter().filter_map(|a| match a {
            Arm::Rule { condition, .. } => Some(&condition.field),
            Arm::Default { .. } => None,
        });
        let style = match fields.next() {
            Some(first) if fields.all(|f| f.node == first.node) => CondStyle::Match {
                field: first.clone(),
            },
            _ => CondStyle::When,
        };
        if let Some(v) = c.get("default") {
            arms.push(Arm::Default {
                span: v.span,
                value: literal(v),
            });
        }
        rules?;
        Some(Conditional {
            span: c.span,
            style,
            arms,
        })
    }

    /// A condition or a source filter: `{ field, operator, value }`.
    pub(super) fn condition(&mut self, o: &Obj<'_>) -> Option<Condition> {
        self.keys(o, &["field", "operator", "value"]);
        let field = self.str_req(o, "field");
        let op = self.str_req(o, "operator");
        let mut value = o.get("value").map(literal);
        // `exists` takes no value; a null one is what the spec's `value: any` forces.
        if let (Some(op), Some(v)) = (&op, &value) {
            if matches!(op.node.as_str(), "exists" | "not_exists") && v.node.is_null() {
                value = None;
            }
        }
        Some(Condition {
            span: o.span,
            field: field?,
            op: op?,
            value,
        })
    }

    pub(super) fn then(&mut self, o: &Obj<'_>) -> Option<Then> {
        const TYPES: [&str; 3] = ["value", "field", "transform"];
        let ty = self.str_req(o, "type")?;
        match ty.node.as_str() {
            "value" => {
                self.keys(o, &["type", "value"]);
                Some(Then::Value(self.lit_req(o, "value")?))
            }
            "field" => {
                self.keys(o, &["type", "sourceField"]);
                Some(Then::Field(self.str_req(o, "sourceField")?))
            }
            "transform" => {
                self.keys(o, &["type", "sourceField", "transformations"]);
                let field = self.str_req(o, "sourceField");
                let steps = self.transformations(o, true);
                Some(Then::Transform {
                    field: field?,
                    steps: steps?,
                })
            }
            other => {
                let mut d = Diagnostic::new(
                    Code::JsonShape,
                    ty.span,
                    format!("{}.type must be `value`, `field` or `transform`, found `{other}`", o.path),
                )
                .with_help("`value` gives a literal, `field` copies a source field, `transform` transforms one");
                if let Some(s) = did_you_mean(other, TYPES) {
                    d = d.with_label(format!("did you mean `{s}`?"));
                }
                self.diags.push(d);
                None
            }
        }
    }

    pub(super) fn composite(&mut self, c: &Obj<'_>) -> Option<Composite> {
        self.keys(c, &["type", "sourceFields", "separator", "template"]);
        let template = self.str_opt(c, "template");
        let separator = self.str_opt(c, "separator");
        // With a template, its placeholders are the fields: `sourceFields` may be left out.
        if template.is_none() && !c.has("sourceFields") {
            self.missing(c, "sourceFields", "[\"FirstName\", \"LastName\"]");
        }
        let fields = self.names(c, "sourceFields").unwrap_or_default();
        Some(Composite {
            span: c.span,
            fields,
            separator,
            template,
        })
    }

    pub(super) fn lookup(&mut self, c: &Obj<'_>) -> Option<Lookup> {
        if c.has("table") && c.has("shardTypeId") {
            // Reported below as a contradiction; no key is unknown.
        } else if c.has("table") {
            self.keys(c, &["type", "sourceField", "table", "default"]);
        } else {
            self.keys(
                c,
                &[
                    "type",
                    "sourceField",
                    "shardTypeId",
                    "returnField",
                    "byExternalId",
                    "default",
                ],
            );
        }
        let field = self.str_req(c, "sourceField");
        let table = self.str_opt(c, "table");
        let shard_type = self.str_opt(c, "shardTypeId");
        let return_field = self.str_opt(c, "returnField");
        if let Some(by) = self.bool_opt(c, "byExternalId") {
            if !by.node && table.is_none() {
                self.shape(
                    by.span,
                    format!("{}.byExternalId must be true", c.path),
                    "a shard lookup finds the shard by its external id; set \"byExternalId\": true",
                );
            }
        }
        let default = c.get("default").map(literal);
        let from = match (table, shard_type) {
            (Some(t), None) => LookupFrom::Table(t),
            (None, Some(s)) => LookupFrom::Shard {
                shard_type: s,
                return_field,
            },
            (Some(t), Some(_)) => {
                self.shape(
                    t.span,
                    format!("{} has both `table` and `shardTypeId`", c.path),
                    "a lookup reads either a lookup table (`table`) or another shard (`shardTypeId`): remove one",
                );
                return None;
            }
            (None, None) => {
                self.missing(
                    c,
                    "table",
                    "\"countries\" (or \"shardTypeId\" to look up another shard)",
                );
                return None;
            }
        };
        Some(Lookup {
            span: c.span,
            field: field?,
            from,
            default,
        })
    }

    pub(super) fn validation(&mut self, v: &JVal, path: String) -> Option<Validation> {
        let o = self.object(v, path, "validation rule")?;
        self.keys(&o, &["type", "value", "message"]);
        let rule = self.str_req(&o, "type");
        let value = o.get("value").map(literal);
        let message = self.str_opt(&o, "message");
        Some(Validation {
            span: o.span,
            rule: rule?,
            value,
            message,
        })
    }

    pub(super) fn relationship(&mut self, v: &JVal, path: String) -> Option<RelationshipMapping> {
        let o = self.object(v, path, "relationship mapping")?;
        self.keys(
            &o,
            &[
                "relationshipType",
                "targetField",
                "sourceField",
                "lookupShardType",
                "lookupByExternalId",
            ],
        );
        let kind = self.str_req(&o, "relationshipType");
        let target = self.str_req(&o, "targetField");
        let field = self.str_req(&o, "sourceField");
        let shard_type = self.str_req(&o, "lookupShardType");
        let by = self.bool_req(&o, "lookupByExternalId");
        Some(RelationshipMapping {
            span: o.span,
            target: target?,
            kind: kind?,
            shard_type: shard_type?,
            by_external_id: by?.node,
            field: field?,
        })
    }
}
