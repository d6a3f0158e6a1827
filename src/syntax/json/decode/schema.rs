//! A ConversionSchema object: its keys, source, target and deduplication; its mappings,
//! tables and tests are read by their own files.

use super::{index, Decoder, Obj};
use crate::syntax::ast::*;

const SCHEMA_KEYS: &[&str] = &[
    "$kind",
    "id",
    "tenantIntegrationId",
    "name",
    "description",
    "source",
    "target",
    "fieldMappings",
    "relationshipMappings",
    "deduplication",
    "isActive",
    "lookupTables",
    "tests",
];
/// Spec keys of a ConversionSchema that the model keeps in `meta` without interpreting.
const SCHEMA_META: &[&str] = &["createdAt", "updatedAt", "createdBy"];

impl Decoder {
    pub(super) fn schema(&mut self, o: &Obj<'_>) -> Schema {
        let id = self
            .str_req(o, "id")
            .unwrap_or_else(|| Name::new(String::new(), o.open()));
        let integration = self.str_opt(o, "tenantIntegrationId");
        let name = self.str_opt(o, "name");
        let description = self.str_opt(o, "description");
        let source = self
            .obj_opt(o, "source")
            .and_then(|s| self.source(&s, integration));
        let target = self.obj_opt(o, "target").and_then(|t| self.target(&t));
        let dedupe = self
            .obj_opt(o, "deduplication")
            .and_then(|d| self.dedupe(&d));
        let active = self.bool_opt(o, "isActive");
        let mut body = Vec::new();
        if let Some(items) = self.arr_opt(o, "fieldMappings") {
            let path = o.path_of("fieldMappings");
            for (i, v) in items.iter().enumerate() {
                body.extend(
                    self.field_mapping(v, index(&path, i))
                        .map(MappingItem::Field),
                );
            }
        }
        if let Some(items) = self.arr_opt(o, "relationshipMappings") {
            let path = o.path_of("relationshipMappings");
            for (i, v) in items.iter().enumerate() {
                body.extend(
                    self.relationship(v, index(&path, i))
                        .map(MappingItem::Relationship),
                );
            }
        }
        let lookups = self
            .obj_opt(o, "lookupTables")
            .map(|t| self.lookup_tables(&t))
            .unwrap_or_default();
        let tests = match self.arr_opt(o, "tests") {
            Some(items) => {
                let path = o.path_of("tests");
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| self.test(v, index(&path, i)))
                    .collect()
            }
            None => Vec::new(),
        };
        let meta = self.meta(o, SCHEMA_KEYS, SCHEMA_META);
        Schema {
            span: o.span,
            id,
            name,
            description,
            source,
            target,
            dedupe,
            active,
            body,
            lookups,
            tests,
            meta,
        }
    }

    pub(super) fn source(&mut self, o: &Obj<'_>, integration: Option<Name>) -> Option<Source> {
        self.keys(o, &["entity", "filters"]);
        let entity = self.str_req(o, "entity");
        let mut filters = Vec::new();
        if let Some(items) = self.arr_opt(o, "filters") {
            let path = o.path_of("filters");
            for (i, v) in items.iter().enumerate() {
                if let Some(f) = self.object(v, index(&path, i), "filter") {
                    filters.extend(self.condition(&f));
                }
            }
        }
        Some(Source {
            span: o.span,
            integration,
            entity: entity?,
            filters,
        })
    }

    pub(super) fn target(&mut self, o: &Obj<'_>) -> Option<Target> {
        const FLAGS: [(&str, &str, bool); 3] = [
            ("createIfMissing", "create_if_missing", true),
            ("updateIfExists", "update_if_exists", true),
            ("deleteIfRemoved", "delete_if_removed", false),
        ];
        self.keys(
            o,
            &[
                "shardTypeId",
                "createIfMissing",
                "updateIfExists",
                "deleteIfRemoved",
            ],
        );
        let shard_type = self.str_req(o, "shardTypeId");
        let mut set = Vec::new();
        let mut defaults = true;
        for (key, flag, default) in FLAGS {
            let value = self.bool_opt(o, key);
            let on = value.as_ref().map_or(default, |b| b.node);
            defaults &= on == default;
            if on {
                // An absent flag that defaults to true points at the target object.
                let span = value.map_or(o.open(), |b| b.span);
                set.push(Name::new(flag.to_string(), span));
            }
        }
        let flags = if defaults { None } else { Some(set) };
        Some(Target {
            span: o.span,
            shard_type: shard_type?,
            flags,
        })
    }

    pub(super) fn dedupe(&mut self, o: &Obj<'_>) -> Option<Dedupe> {
        let strategy = self.str_req(o, "strategy")?;
        let fields = match strategy.node.as_str() {
            "external_id" => {
                self.keys(o, &["strategy", "externalIdField"]);
                vec![self.str_req(o, "externalIdField")?]
            }
            "field_match" | "composite" => {
                self.keys(o, &["strategy", "matchFields"]);
                if !o.has("matchFields") {
                    self.missing(o, "matchFields", "[\"Email\"]");
                }
                self.names(o, "matchFields")?
            }
            // Unknown strategies are compile's to report; keep whichever fields are given.
            _ => {
                self.keys(o, &["strategy", "externalIdField", "matchFields"]);
                match self.str_opt(o, "externalIdField") {
                    Some(f) => vec![f],
                    None => self.names(o, "matchFields").unwrap_or_default(),
                }
            }
        };
        Some(Dedupe {
            span: o.span,
            strategy,
            fields,
        })
    }
}
