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
//!
//! This file holds the typed access every item shares and the dispatch on the kind of
//! item; each kind has its own file, in parallel with the `.cmap` parser
//! (`parser/convert/`), the JSON encoder (`encode/`) and the printer (`printer/`).

mod connection;
mod integration;
mod mapping;
mod schema;
mod table;
mod task;
mod test_case;
mod type_def;

use crate::diagnostics::{did_you_mean, Code, Diagnostic};
use crate::syntax::ast::*;

use super::reader::{JEntry, JKind, JVal};

/// Keys that make an object without `$kind` a schema, or a task.
pub(super) const SCHEMA_MARKERS: &[&str] = &["fieldMappings", "source", "target"];
pub(super) const TASK_MARKERS: &[&str] = &["conversionSchemaId", "schedule"];
/// A connection is recognised by both of these keys.
pub(super) const CONNECTION_MARKERS: &[&str] = &["integrationId", "authType"];
/// Keys that make an object without `$kind` an IntegrationDefinition.
pub(super) const INTEGRATION_MARKERS: &[&str] = &["category", "connectionScope"];

const KINDS: &[&str] = &[
    "schema",
    "task",
    "connection",
    "integration",
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

/// A JSON value as a [`Tree`], keeping every key's and value's span.
fn tree(v: &JVal) -> Tree {
    let node = match &v.kind {
        JKind::Array(items) => TreeNode::Array(items.iter().map(tree).collect()),
        JKind::Object(entries) => TreeNode::Object(
            entries
                .iter()
                .map(|e| (Name::new(e.key.clone(), e.key_span), tree(&e.value)))
                .collect(),
        ),
        _ => TreeNode::Scalar(v.to_value()),
    };
    Tree { span: v.span, node }
}

/// An object-valued key as a [`Tree`] (`config`, `settings`); another type is reported.
impl Decoder {
    fn tree_opt(&mut self, o: &Obj<'_>, key: &str) -> Option<Tree> {
        match o.get(key) {
            Some(
                v @ JVal {
                    kind: JKind::Object(_),
                    ..
                },
            ) => Some(tree(v)),
            Some(v) => {
                self.wrong_type(v, &o.path_of(key), "an object");
                None
            }
            None => None,
        }
    }
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
                        .with_help("`$kind` is one of `schema`, `task`, `connection`, `integration`, `lookup`, `rates`, `shardtype`, `entity`");
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
                let integration_key = INTEGRATION_MARKERS.iter().find(|k| probe.has(k));
                let what = if path.is_empty() {
                    "the top-level object".to_string()
                } else {
                    path.clone()
                };
                let found: Vec<(&str, &str)> = [
                    ("schema", schema_key),
                    ("task", task_key),
                    ("connection", connection_key),
                    ("integration", integration_key),
                ]
                .into_iter()
                .filter_map(|(kind, key)| Some((kind, *key?)))
                .collect();
                match found.as_slice() {
                    [(kind, _)] => kind.to_string(),
                    [] => {
                        self.diags.push(
                            Diagnostic::new(Code::JsonShape, probe.open(), format!("cannot tell what {what} is"))
                                .with_label("neither a schema, a task, a connection nor an integration")
                                .with_help(
                                    "a ConversionSchema has `fieldMappings`, `source` and `target`; a SyncTask has \
                                     `conversionSchemaId` and `schedule`; an IntegrationConnection has \
                                     `integrationId` and `authType`; an IntegrationDefinition has `category` \
                                     or `connectionScope`; other items carry \"$kind\": \"lookup\", \
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
            "integration" => Item::Integration(self.integration(&o)),
            "lookup" => Item::Lookup(self.lookup_item(&o)?),
            "rates" => Item::Rates(self.rates_item(&o)?),
            "shardtype" => Item::Type(self.type_def(&o, TypeDefKind::ShardType)?),
            _ => Item::Type(self.type_def(&o, TypeDefKind::Entity)?),
        })
    }
}
