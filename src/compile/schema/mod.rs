//! Conversion schemas: every check on a schema (names, transformation configs,
//! operators, paths, placeholders, types against stdlib/) and its lowering to
//! [`ir::Schema`].
//!
//! Each piece lowers to `Option`: `None` means an error was reported, and the checks of
//! the other pieces still run, so one pass reports everything.
//!
//! This file checks the schema as a whole and its clauses (source, target, dedupe) and
//! resolves field paths; the parts of a schema have their own files, as in the front
//! ends (`syntax/parser/convert/`, `syntax/json/`, `syntax/printer/`): `mapping` (field
//! and relationship mappings), `transform` (transformation chains), `condition`
//! (conditions and conditional mappings), `validation` and `test_case`.

mod condition;
mod mapping;
mod test_case;
mod transform;
mod validation;

use std::collections::BTreeSet;
use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::Value;

use super::ir::{self, DedupeStrategy, Expr};
use super::path::Path;
use super::types::{EntityLookup, Ty, TypeInfo};
use super::{table, Cx, Table};
use crate::diagnostics::{did_you_mean, Code, Diagnostic};
use crate::syntax::ast::{self, MappingItem, Name, Span};

const TARGET_FLAGS: &[&str] = &["create_if_missing", "update_if_exists", "delete_if_removed"];
const DEDUPE_STRATEGIES: &[&str] = &["external_id", "field_match", "composite"];

/// A `{{task.KEY}}` (or `task.KEY` in a custom script) a schema reads.
#[derive(Clone, Debug)]
pub(super) struct TaskKey {
    pub key: String,
    pub span: Span,
}

pub(super) struct Out {
    pub schema: Option<Arc<ir::Schema>>,
    pub task_keys: Vec<TaskKey>,
    /// A `custom` script reads `task` other than as `task.KEY` / `task["KEY"]` (passes it
    /// on, indexes it with a variable): which keys it reads cannot be told.
    pub whole_task: bool,
}

/// The state of one schema's checks.
struct Sx<'c, 'a> {
    cx: &'c mut Cx<'a>,
    /// The source entity, when stdlib declares it.
    entity: Option<&'a TypeInfo>,
    /// The target shard type, when stdlib declares it.
    shard: Option<&'a TypeInfo>,
    /// Lookup tables declared in the schema; they shadow top-level ones.
    locals: IndexMap<String, Table>,
    /// Top-level source keys read.
    reads: BTreeSet<String>,
    /// A custom script reads `record`: the whole record is needed.
    whole_record: bool,
    task_keys: Vec<TaskKey>,
    /// A script reads `task` whole (see [`Out::whole_task`]).
    whole_task: bool,
}

/// What a mapping expression lowers to.
struct Lowered {
    expr: Option<Expr>,
    ty: Ty,
    describe: String,
}

pub(super) fn lower(cx: &mut Cx<'_>, s: &ast::Schema) -> Out {
    let mut sx = Sx {
        cx,
        entity: None,
        shard: None,
        locals: IndexMap::new(),
        reads: BTreeSet::new(),
        whole_record: false,
        task_keys: Vec::new(),
        whole_task: false,
    };
    let schema = sx.schema(s);
    Out {
        schema: schema.map(Arc::new),
        task_keys: sx.task_keys,
        whole_task: sx.whole_task,
    }
}

fn missing_clause(s: &ast::Schema, clause: &str, help: &str) -> Diagnostic {
    Diagnostic::new(
        Code::MissingClause,
        s.id.span,
        format!("schema `{}` has no `{clause}`", s.id.node),
    )
    .with_label(format!("`{clause}` is required"))
    .with_help(help.to_string())
}

/// `a`, `b` and `c` for help lines.
fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A short rendering of a literal for `describe` and help lines.
fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(39).collect::<String>())
    } else {
        s
    }
}

fn unknown_name(code: Code, span: Span, what: &str, name: &str, known: &[&str]) -> Diagnostic {
    let d = Diagnostic::new(code, span, format!("unknown {what} `{name}`"));
    match did_you_mean(name, known.iter().copied()) {
        Some(s) => d
            .with_label(format!("did you mean `{s}`?"))
            .with_help(format!("write `{s}`")),
        None => d
            .with_label(format!("not a known {what}"))
            .with_help(format!("use one of {}", list(known))),
    }
}

impl<'a> Sx<'_, 'a> {
    fn push(&mut self, d: Diagnostic) {
        self.cx.push(d);
    }

    fn schema(&mut self, s: &ast::Schema) -> Option<ir::Schema> {
        // Name scopes first: the entity and shard type decide the field checks, local
        // tables the lookups.
        for t in &s.lookups {
            let table = table(t, &mut self.cx.diags);
            match self.locals.get(&t.id.node) {
                Some(first) => {
                    let d =
                        super::types::duplicate("lookup table", &t.id.node, t.id.span, first.span);
                    self.push(d);
                }
                None => {
                    self.locals.insert(t.id.node.clone(), table);
                }
            }
        }

        let source = match &s.source {
            None => {
                self.push(missing_clause(
                    s,
                    "source",
                    "add a source clause: `source INTEGRATION.Entity`, e.g. `source salesforce.Contact`",
                ));
                None
            }
            Some(src) => {
                self.resolve_entity(src);
                let filters: Vec<Option<ir::Condition>> =
                    src.filters.iter().map(|c| self.condition(c)).collect();
                Some((src, filters.into_iter().collect::<Option<Vec<_>>>()))
            }
        };

        let target = match &s.target {
            None => {
                self.push(missing_clause(
                    s,
                    "target",
                    "add a target clause: `target SHARD_TYPE`, e.g. `target c_contact`",
                ));
                None
            }
            Some(t) => self.target(t),
        };

        let dedupe = match &s.dedupe {
            None => {
                self.push(missing_clause(
                    s,
                    "dedupe",
                    "add a dedupe clause naming the source id, e.g. `dedupe external_id(Id)`",
                ));
                None
            }
            Some(d) => self.dedupe(d),
        };

        // Mappings and relationships share the target namespace.
        let mut targets: IndexMap<&str, Span> = IndexMap::new();
        let mut fields = Vec::new();
        let mut relationships = Vec::new();
        let mut body_ok = true;
        for item in &s.body {
            let name = match item {
                MappingItem::Field(m) => &m.target,
                MappingItem::Relationship(r) => &r.target,
            };
            if let Some(first) = targets.get(name.node.as_str()) {
                self.push(
                    Diagnostic::new(
                        Code::DuplicateTarget,
                        name.span,
                        format!("`{}` is mapped twice", name.node),
                    )
                    .with_label("mapped again here")
                    .with_related(*first, "first mapped here")
                    .with_help(
                        "remove one of the two mappings, or write this one to another field",
                    ),
                );
                body_ok = false;
            } else {
                targets.insert(&name.node, name.span);
            }
            self.check_target_field(name);
            match item {
                MappingItem::Field(m) => match self.field(m) {
                    Some(f) => fields.push(f),
                    None => body_ok = false,
                },
                MappingItem::Relationship(r) => match self.relationship(r) {
                    Some(r) => relationships.push(r),
                    None => body_ok = false,
                },
            }
        }
        if s.body.is_empty() {
            self.push(
                Diagnostic::new(
                    Code::EmptySchema,
                    s.id.span,
                    format!("schema `{}` maps no field", s.id.node),
                )
                .with_label("every output would be empty")
                .with_help("add a field mapping, e.g. `email = Email`"),
            );
        }
        if let (Some(shard), Some(t)) = (self.shard, &s.target) {
            for (name, ft) in &shard.fields {
                if !ft.optional && !targets.contains_key(name.as_str()) {
                    self.push(
                        Diagnostic::new(
                            Code::RequiredFieldUnmapped,
                            t.shard_type.span,
                            format!("required field `{name}` of `{}` is never mapped", shard.id),
                        )
                        .with_label(format!("`{}` requires `{name}`", shard.id))
                        .with_related(ft.span, "declared here")
                        .with_help(format!("map it: `{name} = SourceField`")),
                    );
                }
            }
        }

        let target_names: Vec<&str> = targets.keys().copied().collect();
        let tests: Vec<Option<ir::Test>> = s
            .tests
            .iter()
            .map(|t| self.test(t, &target_names))
            .collect();
        let tests = tests.into_iter().collect::<Option<Vec<_>>>();

        let (src, filters) = source?;
        let reads =
            (!self.whole_record).then(|| std::mem::take(&mut self.reads).into_iter().collect());
        Some(ir::Schema {
            id: s.id.node.clone(),
            name: s.name.as_ref().map(|n| n.node.clone()),
            description: s.description.as_ref().map(|n| n.node.clone()),
            integration: src.integration.as_ref().map(|n| n.node.clone()),
            entity: src.entity.node.clone(),
            filters: filters?,
            target: target?,
            dedupe: dedupe?,
            fields: if body_ok {
                ir::Fields::new(fields)
            } else {
                return None;
            },
            relationships,
            active: s.active.as_ref().is_none_or(|a| a.node),
            tests: tests?,
            reads,
        })
    }

    fn resolve_entity(&mut self, src: &ast::Source) {
        let types = self.cx.types;
        let integration = src.integration.as_ref().map(|n| n.node.as_str());
        let shown = match integration {
            Some(i) => format!("{i}.{}", src.entity.node),
            None => src.entity.node.clone(),
        };
        let span = match &src.integration {
            Some(i) => i.span.to(src.entity.span),
            None => src.entity.span,
        };
        match types.entity(integration, &src.entity.node) {
            EntityLookup::Found(t) => self.entity = Some(t),
            EntityLookup::NoTypes => {}
            EntityLookup::Unknown { suggestion } => {
                let d = Diagnostic::new(
                    Code::UnknownEntity,
                    span,
                    format!("unknown source entity `{shown}`"),
                );
                self.push(match suggestion {
                    Some(s) => d.with_label(format!("did you mean `{s}`?")).with_help(format!("write `source {s}`")),
                    None => d.with_label("no stdlib `entity` declares it").with_help(format!(
                        "declare it (`entity {shown} {{ .. }}`) to check its fields, or check the spelling"
                    )),
                });
            }
            EntityLookup::Ambiguous(ids) => self.push(
                Diagnostic::new(
                    Code::UnknownEntity,
                    span,
                    format!("source entity `{shown}` is ambiguous"),
                )
                .with_label(format!("declared by {}", list(&ids)))
                .with_help(format!(
                    "name the integration: `source {}`",
                    ids.first().copied().unwrap_or_default()
                )),
            ),
        }
    }

    fn target(&mut self, t: &ast::Target) -> Option<ir::Target> {
        let types = self.cx.types;
        match types.shard_type(&t.shard_type.node) {
            Some(info) => self.shard = Some(info),
            None if !types.shard_types.is_empty() => {
                let known: Vec<&str> = types.shard_types.keys().map(String::as_str).collect();
                let d = Diagnostic::new(
                    Code::UnknownShardType,
                    t.shard_type.span,
                    format!("unknown shard type `{}`", t.shard_type.node),
                );
                self.push(match did_you_mean(&t.shard_type.node, known.iter().copied()) {
                    Some(s) => d.with_label(format!("did you mean `{s}`?")).with_help(format!("write `target {s}`")),
                    None => d.with_label("no stdlib `shardtype` declares it").with_help(format!(
                        "declare it (`shardtype {} {{ .. }}`) to check the mapped fields, or check the spelling",
                        t.shard_type.node
                    )),
                });
            }
            None => {}
        }
        let mut target = ir::Target {
            shard_type: t.shard_type.node.clone(),
            create_if_missing: true,
            update_if_exists: true,
            delete_if_removed: false,
        };
        let mut ok = true;
        if let Some(flags) = &t.flags {
            target.create_if_missing = false;
            target.update_if_exists = false;
            for flag in flags {
                match flag.node.as_str() {
                    "create_if_missing" => target.create_if_missing = true,
                    "update_if_exists" => target.update_if_exists = true,
                    "delete_if_removed" => target.delete_if_removed = true,
                    other => {
                        ok = false;
                        self.push(unknown_name(
                            Code::UnknownTargetFlag,
                            flag.span,
                            "target flag",
                            other,
                            TARGET_FLAGS,
                        ));
                    }
                }
            }
        }
        ok.then_some(target)
    }

    fn dedupe(&mut self, d: &ast::Dedupe) -> Option<ir::Dedupe> {
        let strategy = match d.strategy.node.as_str() {
            "external_id" => Some(DedupeStrategy::ExternalId),
            "field_match" => Some(DedupeStrategy::FieldMatch),
            "composite" => Some(DedupeStrategy::Composite),
            other => {
                self.push(unknown_name(
                    Code::UnknownDedupeStrategy,
                    d.strategy.span,
                    "deduplication strategy",
                    other,
                    DEDUPE_STRATEGIES,
                ));
                None
            }
        };
        let paths: Vec<Option<Path>> = d.fields.iter().map(|f| self.source(f).0).collect();
        let mut ok = true;
        match (strategy, d.fields.len()) {
            (Some(_), 0) => {
                ok = false;
                self.push(
                    Diagnostic::new(
                        Code::MissingConfig,
                        d.span,
                        format!("`{}` names no field", d.strategy.node),
                    )
                    .with_label("the key of each output is missing")
                    .with_help(format!(
                        "name the key field: `dedupe {}(Id)`",
                        d.strategy.node
                    )),
                );
            }
            (Some(DedupeStrategy::ExternalId), n) if n > 1 => {
                ok = false;
                let names: Vec<&str> = d.fields.iter().map(|f| f.node.as_str()).collect();
                self.push(
                    Diagnostic::new(
                        Code::ConfigType,
                        d.span,
                        format!("`external_id` takes one field, not {n}"),
                    )
                    .with_label("several fields given")
                    .with_help(format!(
                        "to match on several fields write `dedupe composite({})`",
                        names.join(", ")
                    )),
                );
            }
            _ => {}
        }
        let fields = paths.into_iter().collect::<Option<Vec<_>>>()?;
        if !ok {
            return None;
        }
        Some(ir::Dedupe {
            strategy: strategy?,
            fields,
        })
    }

    /// W0501 when the shard type is declared and lacks the field.
    fn check_target_field(&mut self, name: &Name) {
        let Some(shard) = self.shard else { return };
        let top = name.node.split('.').next().unwrap_or_default();
        if shard.fields.contains_key(top) {
            return;
        }
        let d = Diagnostic::new(
            Code::UnknownTargetField,
            name.span,
            format!("`{}` has no field `{top}`", shard.id),
        );
        self.push(
            match did_you_mean(top, shard.fields.keys().map(String::as_str)) {
                Some(s) => d
                    .with_label(format!("did you mean `{s}`?"))
                    .with_help(format!("write `{s} = ...`")),
                None => d
                    .with_label(format!("not a field of `{}`", shard.id))
                    .with_help(format!(
                        "declare `{top}` in `shardtype {}`, or map to one of its fields",
                        shard.id
                    )),
            },
        );
    }

    /// Parses a source path (E0208), checks it against the entity (W0502), records its
    /// root as read, and gives its declared type.
    fn source(&mut self, name: &Name) -> (Option<Path>, Ty) {
        match self.path(name) {
            None => (None, Ty::Any),
            Some(p) => {
                let ty = self.typed(&p, &|_| name.span);
                (Some(p), ty)
            }
        }
    }

    /// Parses a path, reporting E0208.
    fn path(&mut self, name: &Name) -> Option<Path> {
        self.parse_path(&name.node, name.span)
    }

    fn parse_path(&mut self, text: &str, span: Span) -> Option<Path> {
        match Path::parse(text) {
            Ok(p) => Some(p),
            Err(e) => {
                self.push(
                    Diagnostic::new(Code::InvalidPath, span, format!("invalid field path: {e}"))
                        .with_label("this path")
                        .with_help("write a dot path (`Address.street`, `items[0].name`) or a JSONPath (`$.owner.name`)"),
                );
                None
            }
        }
    }

    /// Records the root of `p` as read and gives its type; W0502 when the entity is
    /// declared and lacks a key. `span_of(depth)` locates the segment at that depth.
    fn typed(&mut self, p: &Path, span_of: &dyn Fn(usize) -> Span) -> Ty {
        if let Some(root) = p.root() {
            self.reads.insert(root.to_string());
        }
        let Some(entity) = self.entity else {
            return Ty::Any;
        };
        match entity.type_at(p) {
            Ok(ty) => ty,
            Err(unknown) => {
                let depth = p
                    .segments
                    .iter()
                    .position(|s| matches!(s, super::path::Segment::Key(k) if *k == unknown.key))
                    .unwrap_or(0);
                let message = match &unknown.parent {
                    None => format!("unknown source field `{}` on `{}`", unknown.key, entity.id),
                    Some(parent) => format!(
                        "unknown field `{}` in `{parent}` of `{}`",
                        unknown.key, entity.id
                    ),
                };
                let d = Diagnostic::new(Code::UnknownSourceField, span_of(depth), message);
                let suggestion =
                    did_you_mean(&unknown.key, unknown.candidates.iter().map(String::as_str));
                self.push(match suggestion {
                    Some(s) => d
                        .with_label(format!("did you mean `{s}`?"))
                        .with_help(format!("write `{s}`")),
                    None => d
                        .with_label(format!("`{}` declares no such field", entity.id))
                        .with_help(format!(
                            "declare `{}` in `entity {}`, or check the spelling",
                            unknown.key, entity.id
                        )),
                });
                Ty::Any
            }
        }
    }
}
