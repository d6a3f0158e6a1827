//! Seed JSON (as read by `reader`, with spans) -> AST, reporting every wrong shape and
//! every unknown key, and going on after each.
//!
//! What is checked here is only what the AST cannot hold: a string where a string
//! belongs, required keys of nested objects (`config.sourceField`), a mappingType that
//! contradicts `config.type`. What the AST can hold (unknown mapping types, operators,
//! transformations, a missing `source` clause, a wrongly typed interval) is left to
//! `compile`, so that `.cmap` and JSON get the same diagnostics.
//!
//! Keys whose absence has an obvious default (the target flags, `isActive`, the
//! notification flags) are optional; keys that carry content (ids, fields, types) are
//! required, and a nested node without them is dropped after the report. A schema or
//! task without `id` is kept with an empty id so its contents are still checked.

use crate::diagnostics::{did_you_mean, Code, Diagnostic};
use crate::syntax::ast::*;

use super::reader::{JEntry, JKind, JVal};

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

const TASK_KEYS: &[&str] = &[
    "$kind",
    "id",
    "tenantIntegrationId",
    "name",
    "description",
    "conversionSchemaId",
    "connectionId",
    "direction",
    "schedule",
    "config",
    "status",
    "retryConfig",
    "notifications",
];
/// Spec keys of a SyncTask kept in `meta` (execution tracking, statistics, audit).
const TASK_META: &[&str] = &[
    "lastRunAt",
    "lastRunStatus",
    "nextRunAt",
    "stats",
    "lastError",
    "createdBy",
    "createdAt",
    "updatedAt",
];

const CONNECTION_KEYS: &[&str] = &[
    "$kind",
    "id",
    "integrationId",
    "displayName",
    "scope",
    "tenantId",
    "authType",
    "credentials",
    "settings",
];
/// Spec keys of an IntegrationConnection kept in `meta` (runtime state and audit).
const CONNECTION_META: &[&str] = &[
    "status",
    "lastValidatedAt",
    "createdBy",
    "createdAt",
    "updatedAt",
];

/// Keys that make an object without `$kind` a schema, or a task.
pub(super) const SCHEMA_MARKERS: &[&str] = &["fieldMappings", "source", "target"];
pub(super) const TASK_MARKERS: &[&str] = &["conversionSchemaId", "schedule"];
/// A connection is recognised by both of these keys.
pub(super) const CONNECTION_MARKERS: &[&str] = &["integrationId", "authType"];

const KINDS: &[&str] = &[
    "schema",
    "task",
    "connection",
    "lookup",
    "rates",
    "shardtype",
    "entity",
];

/// Decodes one JSON tree; its spans already carry the file.
#[derive(Default)]
pub(super) struct Decoder {
    pub diags: Vec<Diagnostic>,
}

/// An object being decoded, with the key path that names it in messages.
struct Obj<'j> {
    span: Span,
    entries: &'j [JEntry],
    /// `fieldMappings[2].config`; empty for a top-level object.
    path: String,
    /// How messages name the object: its path, or `the schema` at the top level.
    what: String,
}

impl<'j> Obj<'j> {
    fn get(&self, key: &str) -> Option<&'j JVal> {
        self.entries.iter().find(|e| e.key == key).map(|e| &e.value)
    }
    fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
    fn path_of(&self, key: &str) -> String {
        child(&self.path, key)
    }
    /// The opening brace: where "missing key" diagnostics point (the whole object may
    /// span the file).
    fn open(&self) -> Span {
        Span {
            end: self.span.start + 1,
            ..self.span
        }
    }
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

fn literal(v: &JVal) -> Literal {
    Literal::new(v.to_value(), v.span)
}

/// A JSON rendering of a value for help texts, shortened when long.
fn show(v: &JVal) -> String {
    let text = v.to_value().to_string();
    if text.chars().count() > 40 {
        let short: String = text.chars().take(37).collect();
        format!("{short}...")
    } else {
        text
    }
}

impl Decoder {
    // ---- reporting -------------------------------------------------------------------

    fn shape(&mut self, span: Span, message: String, help: impl Into<String>) {
        self.diags
            .push(Diagnostic::new(Code::JsonShape, span, message).with_help(help));
    }

    /// `path must be a string, found number`, with the rewrite when there is one.
    fn wrong_type(&mut self, v: &JVal, path: &str, expected: &str) {
        let found = v.kind.type_name();
        let help = match (&v.kind, expected) {
            (JKind::Number(_) | JKind::Bool(_), "a string") => {
                format!("write it as a string: \"{}\"", show(v))
            }
            (JKind::String(s), "a number") if s.trim().parse::<f64>().is_ok() => {
                format!("remove the quotes: {}", s.trim())
            }
            (JKind::String(s), "a boolean") if s == "true" || s == "false" => {
                format!("remove the quotes: {s}")
            }
            (JKind::String(_) | JKind::Number(_) | JKind::Bool(_), "an array")
            | (JKind::String(_), "an array of strings") => {
                format!("wrap it in an array: [{}]", show(v))
            }
            (JKind::Null, _) => format!("give {expected}, or remove the key"),
            _ => format!("replace it with {expected}"),
        };
        let what = if path.is_empty() {
            "the document"
        } else {
            path
        };
        self.shape(
            v.span,
            format!("{what} must be {expected}, found {found}"),
            help,
        );
    }

    fn missing(&mut self, o: &Obj<'_>, key: &str, example: &str) {
        let d = Diagnostic::new(
            Code::JsonShape,
            o.open(),
            format!("{} is missing `{key}`", o.what),
        )
        .with_label("in this object")
        .with_help(format!("add \"{key}\": {example}"));
        self.diags.push(d);
    }

    /// Warns about keys outside `allowed`, suggesting the nearest allowed one.
    fn keys(&mut self, o: &Obj<'_>, allowed: &[&str]) {
        for e in o.entries {
            if !allowed.contains(&e.key.as_str()) {
                self.unknown_key(o, e, allowed, "it is ignored");
            }
        }
    }

    fn unknown_key(&mut self, o: &Obj<'_>, e: &JEntry, allowed: &[&str], fate: &str) {
        let listed: Vec<&str> = allowed.iter().copied().filter(|k| *k != "$kind").collect();
        let d = Diagnostic::new(
            Code::UnknownKey,
            e.key_span,
            format!("unknown key `{}` in {}", e.key, o.what),
        );
        // A close match is the likely fix; the whole list only helps when none is close.
        let d = match did_you_mean(&e.key, listed.iter().copied()) {
            Some(s) => d
                .with_label(format!("did you mean `{s}`?"))
                .with_help(format!(
                    "{fate}; rename it to \"{s}\" if that is what you meant"
                )),
            None => {
                let list: Vec<String> = listed.iter().map(|k| format!("`{k}`")).collect();
                d.with_help(format!("{fate}; the known keys are {}", list.join(", ")))
            }
        };
        self.diags.push(d);
    }

    // ---- typed access ----------------------------------------------------------------

    fn object<'j>(&mut self, v: &'j JVal, path: String, what: &str) -> Option<Obj<'j>> {
        match &v.kind {
            JKind::Object(entries) => {
                let what = if path.is_empty() {
                    format!("the {what}")
                } else {
                    path.clone()
                };
                Some(Obj {
                    span: v.span,
                    entries,
                    path,
                    what,
                })
            }
            _ => {
                self.wrong_type(v, &path, "an object");
                None
            }
        }
    }

    fn name(&mut self, v: &JVal, path: &str) -> Option<Name> {
        match &v.kind {
            JKind::String(s) => Some(Name::new(s.clone(), v.span)),
            _ => {
                self.wrong_type(v, path, "a string");
                None
            }
        }
    }

    fn str_opt(&mut self, o: &Obj<'_>, key: &str) -> Option<Name> {
        let v = o.get(key)?;
        self.name(v, &o.path_of(key))
    }

    fn str_req(&mut self, o: &Obj<'_>, key: &str) -> Option<Name> {
        if !o.has(key) {
            self.missing(o, key, "\"...\"");
            return None;
        }
        self.str_opt(o, key)
    }

    fn bool_opt(&mut self, o: &Obj<'_>, key: &str) -> Option<Spanned<bool>> {
        let v = o.get(key)?;
        match v.kind {
            JKind::Bool(b) => Some(Spanned::new(b, v.span)),
            _ => {
                self.wrong_type(v, &o.path_of(key), "a boolean");
                None
            }
        }
    }

    fn bool_req(&mut self, o: &Obj<'_>, key: &str) -> Option<Spanned<bool>> {
        if !o.has(key) {
            self.missing(o, key, "true");
            return None;
        }
        self.bool_opt(o, key)
    }

    fn lit_req(&mut self, o: &Obj<'_>, key: &str) -> Option<Literal> {
        match o.get(key) {
            Some(v) => Some(literal(v)),
            None => {
                self.missing(o, key, "<a JSON value>");
                None
            }
        }
    }

    fn array<'j>(&mut self, v: &'j JVal, path: &str) -> Option<&'j [JVal]> {
        match &v.kind {
            JKind::Array(items) => Some(items),
            _ => {
                self.wrong_type(v, path, "an array");
                None
            }
        }
    }

    fn arr_opt<'j>(&mut self, o: &Obj<'j>, key: &str) -> Option<&'j [JVal]> {
        let v = o.get(key)?;
        self.array(v, &o.path_of(key))
    }

    fn arr_req<'j>(&mut self, o: &Obj<'j>, key: &str) -> Option<&'j [JVal]> {
        if !o.has(key) {
            self.missing(o, key, "[...]");
            return None;
        }
        self.arr_opt(o, key)
    }

    fn obj_opt<'j>(&mut self, o: &Obj<'j>, key: &str) -> Option<Obj<'j>> {
        let v = o.get(key)?;
        self.object(v, o.path_of(key), key)
    }

    fn obj_req<'j>(&mut self, o: &Obj<'j>, key: &str) -> Option<Obj<'j>> {
        if !o.has(key) {
            self.missing(o, key, "{ ... }");
            return None;
        }
        self.obj_opt(o, key)
    }

    /// An array of strings; wrong elements are reported and left out.
    fn names(&mut self, o: &Obj<'_>, key: &str) -> Option<Vec<Name>> {
        let v = o.get(key)?;
        let path = o.path_of(key);
        let JKind::Array(items) = &v.kind else {
            self.wrong_type(v, &path, "an array of strings");
            return None;
        };
        Some(
            items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| self.name(item, &index(&path, i)))
                .collect(),
        )
    }

    /// Keys outside `known`: spec keys in `meta` silently, others with a warning. Both
    /// are kept so an import loses nothing.
    fn meta(&mut self, o: &Obj<'_>, known: &[&str], meta: &[&str]) -> Vec<(Name, Literal)> {
        let mut out = Vec::new();
        for e in o.entries {
            if known.contains(&e.key.as_str()) {
                continue;
            }
            if !meta.contains(&e.key.as_str()) {
                let all: Vec<&str> = known.iter().chain(meta).copied().collect();
                self.unknown_key(o, e, &all, "it is kept as `meta` and not interpreted");
            }
            out.push((Name::new(e.key.clone(), e.key_span), literal(&e.value)));
        }
        out
    }

    // ---- documents and items ---------------------------------------------------------

    pub fn document(&mut self, root: &JVal) -> Document {
        let mut items = Vec::new();
        match &root.kind {
            JKind::Object(_) => items.extend(self.item(root, String::new())),
            JKind::Array(values) => {
                for (i, v) in values.iter().enumerate() {
                    items.extend(self.item(v, index("", i)));
                }
            }
            _ => {
                let found = root.kind.type_name();
                self.shape(
                    root.span,
                    format!("a seed-JSON document must be an object or an array of objects, found {found}"),
                    "write a ConversionSchema or SyncTask object, or an array of them",
                );
            }
        }
        Document {
            items,
            comments: Vec::new(),
        }
    }

    fn item(&mut self, v: &JVal, path: String) -> Option<Item> {
        let JKind::Object(entries) = &v.kind else {
            self.wrong_type(v, &path, "an object");
            return None;
        };
        let probe = Obj {
            span: v.span,
            entries,
            path: path.clone(),
            what: String::new(),
        };
        let kind = match probe.get("$kind") {
            Some(k) => {
                let name = self.name(k, &child(&path, "$kind"))?;
                if !KINDS.contains(&name.node.as_str()) {
                    let mut d = Diagnostic::new(Code::JsonShape, name.span, format!("unknown $kind `{}`", name.node))
                        .with_help("`$kind` is one of `schema`, `task`, `connection`, `lookup`, `rates`, `shardtype`, `entity`");
                    if let Some(s) = did_you_mean(&name.node, KINDS.iter().copied()) {
                        d = d.with_label(format!("did you mean `{s}`?"));
                    }
                    self.diags.push(d);
                    return None;
                }
                name.node
            }
            None => {
                let schema_key = SCHEMA_MARKERS.iter().find(|k| probe.has(k));
                let task_key = TASK_MARKERS.iter().find(|k| probe.has(k));
                let connection_key = CONNECTION_MARKERS
                    .iter()
                    .all(|k| probe.has(k))
                    .then_some(&"integrationId");
                let what = if path.is_empty() {
                    "the top-level object".to_string()
                } else {
                    path.clone()
                };
                let found: Vec<(&str, &str)> = [
                    ("schema", schema_key),
                    ("task", task_key),
                    ("connection", connection_key),
                ]
                .into_iter()
                .filter_map(|(kind, key)| Some((kind, *key?)))
                .collect();
                match found.as_slice() {
                    [(kind, _)] => kind.to_string(),
                    [] => {
                        self.diags.push(
                            Diagnostic::new(Code::JsonShape, probe.open(), format!("cannot tell what {what} is"))
                                .with_label("neither a schema, a task nor a connection")
                                .with_help(
                                    "a ConversionSchema has `fieldMappings`, `source` and `target`; a SyncTask has \
                                     `conversionSchemaId` and `schedule`; an IntegrationConnection has \
                                     `integrationId` and `authType`; other items carry \"$kind\": \"lookup\", \
                                     \"rates\", \"shardtype\" or \"entity\"",
                                ),
                        );
                        return None;
                    }
                    several => {
                        let label = several
                            .iter()
                            .enumerate()
                            .map(|(i, (kind, key))| match i {
                                0 => format!("`{key}` belongs to a {kind}"),
                                _ => format!("`{key}` to a {kind}"),
                            })
                            .collect::<Vec<_>>()
                            .join(", ");
                        let kinds = several
                            .iter()
                            .map(|(kind, _)| format!("\"$kind\": \"{kind}\""))
                            .collect::<Vec<_>>()
                            .join(" or ");
                        let names = several
                            .iter()
                            .map(|(kind, _)| format!("a {kind}"))
                            .collect::<Vec<_>>();
                        let names = match names.split_last() {
                            Some((last, init)) if !init.is_empty() => {
                                format!("{} and {last}", init.join(", "))
                            }
                            _ => names.join(""),
                        };
                        self.diags.push(
                            Diagnostic::new(
                                Code::JsonShape,
                                probe.open(),
                                format!("{what} has keys of both {names}"),
                            )
                            .with_label(label)
                            .with_help(format!("say which it is: {kinds}")),
                        );
                        return None;
                    }
                }
            }
        };
        let what = match kind.as_str() {
            "shardtype" => "shard type",
            "lookup" => "lookup table",
            "rates" => "rate table",
            other => other,
        };
        let o = self.object(v, path, what)?;
        Some(match kind.as_str() {
            "schema" => Item::Schema(self.schema(&o)),
            "task" => Item::Task(self.task(&o)),
            "connection" => Item::Connection(self.connection(&o)),
            "lookup" => Item::Lookup(self.lookup_item(&o)?),
            "rates" => Item::Rates(self.rates_item(&o)?),
            "shardtype" => Item::Type(self.type_def(&o, TypeDefKind::ShardType)?),
            _ => Item::Type(self.type_def(&o, TypeDefKind::Entity)?),
        })
    }

    // ---- schemas ---------------------------------------------------------------------

    fn schema(&mut self, o: &Obj<'_>) -> Schema {
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

    fn source(&mut self, o: &Obj<'_>, integration: Option<Name>) -> Option<Source> {
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

    fn target(&mut self, o: &Obj<'_>) -> Option<Target> {
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

    fn dedupe(&mut self, o: &Obj<'_>) -> Option<Dedupe> {
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

    fn field_mapping(&mut self, v: &JVal, path: String) -> Option<FieldMapping> {
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
    fn transformations(&mut self, o: &Obj<'_>, required: bool) -> Option<Vec<Transformation>> {
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

    fn conditional(&mut self, c: &Obj<'_>) -> Option<Conditional> {
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
    fn condition(&mut self, o: &Obj<'_>) -> Option<Condition> {
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

    fn then(&mut self, o: &Obj<'_>) -> Option<Then> {
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

    fn composite(&mut self, c: &Obj<'_>) -> Option<Composite> {
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

    fn lookup(&mut self, c: &Obj<'_>) -> Option<Lookup> {
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

    fn validation(&mut self, v: &JVal, path: String) -> Option<Validation> {
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

    fn relationship(&mut self, v: &JVal, path: String) -> Option<RelationshipMapping> {
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

    /// `lookupTables: { countries: { "US": "United States" } }`.
    fn lookup_tables(&mut self, o: &Obj<'_>) -> Vec<LookupTable> {
        let mut tables = Vec::new();
        for e in o.entries {
            if let Some(t) = self.object(&e.value, o.path_of(&e.key), "lookup table") {
                tables.push(LookupTable {
                    span: t.span,
                    id: Name::new(e.key.clone(), e.key_span),
                    entries: entries(&t),
                });
            }
        }
        tables
    }

    fn test(&mut self, v: &JVal, path: String) -> Option<TestCase> {
        let o = self.object(v, path, "test")?;
        self.keys(
            &o,
            &[
                "name",
                "input",
                "task",
                "expect",
                "expectExternalId",
                "expectRelationships",
                "expectSkipped",
                "expectFailed",
            ],
        );
        let name = self.str_req(&o, "name");
        let mut expect = Vec::new();
        // In key order, so `.cmap` prints the expectations as the JSON lists them.
        for e in o.entries {
            let v = &e.value;
            match e.key.as_str() {
                "expect" => expect.push(Expect::Data(literal(v))),
                "expectExternalId" => expect.push(Expect::ExternalId(literal(v))),
                "expectRelationships" => expect.push(Expect::Relationships(literal(v))),
                "expectSkipped" => match v.kind {
                    JKind::Bool(true) => expect.push(Expect::Skipped(v.span)),
                    JKind::Bool(false) => {}
                    _ => self.wrong_type(v, &o.path_of(&e.key), "a boolean"),
                },
                "expectFailed" => match &v.kind {
                    JKind::Bool(true) => expect.push(Expect::Failed {
                        span: v.span,
                        field: None,
                    }),
                    JKind::Bool(false) => {}
                    JKind::String(f) => expect.push(Expect::Failed {
                        span: v.span,
                        field: Some(Name::new(f.clone(), v.span)),
                    }),
                    _ => self.wrong_type(
                        v,
                        &o.path_of(&e.key),
                        "true or the name of the failing target field",
                    ),
                },
                _ => {}
            }
        }
        let input = o.get("input").map(literal);
        let task = o.get("task").map(literal);
        Some(TestCase {
            span: o.span,
            name: name?,
            input,
            task,
            expect,
        })
    }

    // ---- tasks -----------------------------------------------------------------------

    fn task(&mut self, o: &Obj<'_>) -> Task {
        let id = self
            .str_req(o, "id")
            .unwrap_or_else(|| Name::new(String::new(), o.open()));
        let integration = self.str_opt(o, "tenantIntegrationId");
        let name = self.str_opt(o, "name");
        let description = self.str_opt(o, "description");
        let schema = self.str_opt(o, "conversionSchemaId");
        let connection = self.str_opt(o, "connectionId");
        let direction = self.str_opt(o, "direction");
        let schedule = self.obj_opt(o, "schedule").and_then(|s| self.schedule(&s));
        let config = match o.get("config") {
            Some(
                v @ JVal {
                    kind: JKind::Object(_),
                    ..
                },
            ) => Some(literal(v)),
            Some(v) => {
                self.wrong_type(v, &o.path_of("config"), "an object");
                None
            }
            None => None,
        };
        let status = self.str_opt(o, "status");
        let retry = self.obj_opt(o, "retryConfig").and_then(|r| {
            self.keys(
                &r,
                &["maxRetries", "retryDelaySeconds", "exponentialBackoff"],
            );
            let max_retries = self.lit_req(&r, "maxRetries");
            let delay_seconds = self.lit_req(&r, "retryDelaySeconds");
            let exponential = self.bool_opt(&r, "exponentialBackoff");
            Some(Retry {
                span: r.span,
                max_retries: max_retries?,
                delay_seconds: delay_seconds?,
                exponential,
            })
        });
        let notify = self.obj_opt(o, "notifications").map(|n| {
            self.keys(&n, &["onSuccess", "onFailure", "onPartial", "recipients"]);
            let mut events = Vec::new();
            for (key, event) in [
                ("onSuccess", "success"),
                ("onFailure", "failure"),
                ("onPartial", "partial"),
            ] {
                if let Some(b) = self.bool_opt(&n, key).filter(|b| b.node) {
                    events.push(Name::new(event.to_string(), b.span));
                }
            }
            let recipients = self.names(&n, "recipients").unwrap_or_default();
            Notify {
                span: n.span,
                events,
                recipients,
            }
        });
        let meta = self.meta(o, TASK_KEYS, TASK_META);
        Task {
            span: o.span,
            id,
            name,
            description,
            integration,
            schema,
            connection,
            direction,
            schedule,
            config,
            status,
            retry,
            notify,
            meta,
        }
    }

    fn schedule(&mut self, o: &Obj<'_>) -> Option<Schedule> {
        self.keys(o, &["type", "config"]);
        let kind = self.str_req(o, "type")?;
        let span = o.span;
        let known = ["manual", "interval", "cron", "realtime"];
        if !known.contains(&kind.node.as_str()) {
            return Some(Schedule::Unknown { span, kind });
        }
        let config = if kind.node == "manual" {
            self.obj_opt(o, "config")
        } else {
            self.obj_req(o, "config")
        };
        let Some(c) = config else {
            return (kind.node == "manual").then_some(Schedule::Manual { span });
        };
        if let Some(ty) = self.str_req(&c, "type") {
            if ty.node != kind.node {
                self.diags.push(
                    Diagnostic::new(
                        Code::JsonShape,
                        ty.span,
                        format!(
                            "{}.type is `{}` but the schedule type is `{}`",
                            c.path, ty.node, kind.node
                        ),
                    )
                    .with_label("does not match the schedule type")
                    .with_related(kind.span, "schedule type given here")
                    .with_help(format!("make them agree: \"type\": \"{}\"", kind.node)),
                );
            }
        }
        match kind.node.as_str() {
            "manual" => {
                self.keys(&c, &["type"]);
                Some(Schedule::Manual { span })
            }
            "interval" => {
                self.keys(&c, &["type", "interval", "unit"]);
                let interval = self.lit_req(&c, "interval");
                let unit = self.str_req(&c, "unit");
                Some(Schedule::Interval {
                    span,
                    interval: interval?,
                    unit: unit?,
                })
            }
            "cron" => {
                self.keys(&c, &["type", "expression", "timezone"]);
                let expression = self.str_req(&c, "expression");
                let timezone = self.str_opt(&c, "timezone");
                Some(Schedule::Cron {
                    span,
                    expression: expression?,
                    timezone,
                })
            }
            _ => {
                self.keys(&c, &["type", "webhookUrl", "verificationToken"]);
                let webhook_url = self.str_opt(&c, "webhookUrl");
                let verification_token = self.str_opt(&c, "verificationToken");
                Some(Schedule::Realtime {
                    span,
                    webhook_url,
                    verification_token,
                })
            }
        }
    }

    // ---- connections -----------------------------------------------------------------

    fn connection(&mut self, o: &Obj<'_>) -> Connection {
        let id = self
            .str_req(o, "id")
            .unwrap_or_else(|| Name::new(String::new(), o.open()));
        let integration = self.str_opt(o, "integrationId");
        let name = self.str_opt(o, "displayName");
        // `tenant` is the default scope: kept implicit, as `.cmap` writes it.
        let scope = self.str_opt(o, "scope").filter(|s| s.node != "tenant");
        let tenant = self.str_opt(o, "tenantId");
        let kind = self.str_opt(o, "authType");
        let fields = self
            .obj_opt(o, "credentials")
            .map(|c| self.credentials(&c))
            .unwrap_or_default();
        // The auth clause exists when `authType` does; credentials without it are
        // reported (they would be lost otherwise).
        let auth = match kind {
            Some(kind) => Some(Auth {
                span: kind.span,
                kind,
                fields,
            }),
            None => {
                if !fields.is_empty() {
                    self.missing(o, "authType", "\"oauth2\"");
                }
                None
            }
        };
        let settings = match o.get("settings") {
            Some(
                v @ JVal {
                    kind: JKind::Object(_),
                    ..
                },
            ) => Some(literal(v)),
            Some(v) => {
                self.wrong_type(v, &o.path_of("settings"), "an object");
                None
            }
            None => None,
        };
        let meta = self.meta(o, CONNECTION_KEYS, CONNECTION_META);
        Connection {
            span: o.span,
            id,
            name,
            integration,
            scope,
            tenant,
            auth,
            settings,
            meta,
        }
    }

    /// `{ "clientId": "..", "clientSecret": { "env": "VAR" }, "refreshToken": { "stored": true } }`.
    fn credentials(&mut self, o: &Obj<'_>) -> Vec<(Name, Credential)> {
        let mut out = Vec::new();
        for e in o.entries {
            let key = Name::new(e.key.clone(), e.key_span);
            let path = o.path_of(&e.key);
            let JKind::Object(entries) = &e.value.kind else {
                // A string is the valid plain value; other literals are kept so that
                // `compile` reports them the way it does for `.cmap`.
                out.push((key, Credential::Plain(literal(&e.value))));
                continue;
            };
            let span = e.value.span;
            let source = Obj {
                span,
                entries,
                what: path.clone(),
                path: path.clone(),
            };
            let cred = match entries.as_slice() {
                [only] if only.key == "env" => self
                    .name(&only.value, &source.path_of("env"))
                    .map(|var| Credential::Env { span, var }),
                [only] if only.key == "stored" => match only.value.kind {
                    JKind::Bool(true) => Some(Credential::Stored(span)),
                    _ => {
                        self.shape(
                            only.value.span,
                            format!("{}.stored must be true", path),
                            "write { \"stored\": true }, or give the value another way",
                        );
                        None
                    }
                },
                _ => {
                    self.shape(
                        span,
                        format!("{path} must be a string, {{ \"env\": \"VAR\" }} or {{ \"stored\": true }}"),
                        "name where the secret comes from: { \"env\": \"VAR\" } reads an environment variable, { \"stored\": true } a value set with `cmap connections set`",
                    );
                    None
                }
            };
            out.extend(cred.map(|c| (key, c)));
        }
        out
    }

    // ---- other items -----------------------------------------------------------------

    fn lookup_item(&mut self, o: &Obj<'_>) -> Option<LookupTable> {
        self.keys(o, &["$kind", "id", "entries"]);
        let id = self.str_req(o, "id");
        let table = self.obj_req(o, "entries");
        Some(LookupTable {
            span: o.span,
            id: id?,
            entries: entries(&table?),
        })
    }

    fn rates_item(&mut self, o: &Obj<'_>) -> Option<RateTable> {
        self.keys(o, &["$kind", "base", "rates"]);
        let base = self.str_req(o, "base");
        let rates = self.obj_req(o, "rates");
        Some(RateTable {
            span: o.span,
            base: base?,
            rates: entries(&rates?),
        })
    }

    fn type_def(&mut self, o: &Obj<'_>, kind: TypeDefKind) -> Option<TypeDef> {
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
    fn field_defs(&mut self, o: &Obj<'_>) -> Vec<FieldDef> {
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
    fn type_expr(&mut self, v: &JVal, path: String) -> Option<TypeExpr> {
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

/// The entries of a lookup or rate table, spans on the keys and values.
fn entries(o: &Obj<'_>) -> Vec<(Name, Literal)> {
    o.entries
        .iter()
        .map(|e| (Name::new(e.key.clone(), e.key_span), literal(&e.value)))
        .collect()
}
