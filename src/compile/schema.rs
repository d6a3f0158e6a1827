//! Conversion schemas: every check on a schema (names, transformation configs,
//! operators, paths, placeholders, types against stdlib/) and its lowering to
//! [`ir::Schema`].
//!
//! Each piece lowers to `Option`: `None` means an error was reported, and the checks of
//! the other pieces still run, so one pass reports everything.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, LazyLock};

use indexmap::IndexMap;
use regex::Regex;
use serde_json::{Map, Value};

use super::ir::{self, DedupeStrategy, Expr, Op, TemplatePart};
use super::path::Path;
use super::types::{EntityLookup, Ty, TypeInfo};
use super::{table, Cx, Table};
use crate::diagnostics::{did_you_mean, Code, Diagnostic};
use crate::functions::{self, CompileContext};
use crate::syntax::ast::{
    self, Arm, CondStyle, Literal, LookupFrom, MappingExpr, MappingItem, Name, Span,
};

/// The spec's seven mapping types.
const MAPPING_TYPES: &[&str] = &[
    "direct",
    "transform",
    "conditional",
    "default",
    "composite",
    "lookup",
    "flatten",
];
const TARGET_FLAGS: &[&str] = &["create_if_missing", "update_if_exists", "delete_if_removed"];
const DEDUPE_STRATEGIES: &[&str] = &["external_id", "field_match", "composite"];
const VALIDATION_RULES: &[&str] = &[
    "required",
    "pattern",
    "min",
    "max",
    "min_length",
    "max_length",
    "one_of",
    "email",
    "url",
];
/// Relationship kinds: the spec shows `belongs_to`; the others are the usual cardinalities.
pub(super) const RELATIONSHIP_KINDS: &[&str] =
    &["belongs_to", "has_one", "has_many", "many_to_many"];

/// A `{{task.KEY}}` (or `task.KEY` in a custom script) a schema reads.
#[derive(Clone, Debug)]
pub(super) struct TaskKey {
    pub key: String,
    pub span: Span,
}

pub(super) struct Out {
    pub schema: Option<Arc<ir::Schema>>,
    pub task_keys: Vec<TaskKey>,
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
    };
    let schema = sx.schema(s);
    Out {
        schema: schema.map(Arc::new),
        task_keys: sx.task_keys,
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
            fields: if body_ok { fields } else { return None },
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

    fn field(&mut self, m: &ast::FieldMapping) -> Option<ir::FieldPlan> {
        let lowered = self.expr(&m.expr);
        let validations: Vec<Option<ir::Validation>> =
            m.validation.iter().map(|v| self.validation(v)).collect();
        if let Some(shard) = self.shard {
            if let Some(ft) = shard.fields.get(&m.target.node) {
                if !lowered.ty.fits(&ft.ty) {
                    let d = Diagnostic::new(
                        Code::TypeMismatch,
                        expr_span(&m.expr),
                        format!(
                            "`{}` is {} field but this mapping yields {}",
                            m.target.node,
                            article(&ft.ty.name()),
                            lowered.ty.describe()
                        ),
                    )
                    .with_label(format!("this yields {}", lowered.ty.describe()))
                    .with_related(ft.span, format!("declared as `{}` here", ft.ty.name()));
                    let convertible = matches!(
                        m.expr,
                        MappingExpr::Direct { .. }
                            | MappingExpr::Transform { .. }
                            | MappingExpr::Flatten { .. }
                    );
                    self.push(match lowered.ty.conversion_to(&ft.ty) {
                        Some(f) if convertible => d.with_help(format!("convert it: append `| {f}` to the mapping")),
                        _ => d.with_help(format!(
                            "map a value of type `{}`, or change the type of `{}` in `shardtype {}`",
                            ft.ty.name(),
                            m.target.node,
                            shard.id
                        )),
                    });
                }
            }
        }
        let validations = validations.into_iter().collect::<Option<Vec<_>>>()?;
        Some(ir::FieldPlan {
            target: m.target.node.clone(),
            mapping_id: m.id.as_ref().map(|n| n.node.clone()),
            expr: lowered.expr?,
            required: m.required.is_some(),
            validations,
            describe: lowered.describe,
        })
    }

    fn expr(&mut self, e: &MappingExpr) -> Lowered {
        match e {
            MappingExpr::Direct { field } => {
                let (p, ty) = self.source(field);
                Lowered {
                    expr: p.map(Expr::Direct),
                    ty,
                    describe: format!("direct {}", field.node),
                }
            }
            MappingExpr::Transform { field, steps } => {
                let (p, ty) = self.source(field);
                let (steps_ir, ty) = self.steps(steps, ty);
                let describe = std::iter::once(format!("transform {}", field.node))
                    .chain(steps.iter().map(|s| s.name.node.clone()))
                    .collect::<Vec<_>>()
                    .join(" | ");
                let expr = match (p, steps_ir) {
                    (Some(p), Some(s)) => Some(Expr::Transform(p, s)),
                    _ => None,
                };
                Lowered { expr, ty, describe }
            }
            MappingExpr::Conditional(c) => self.conditional(c),
            MappingExpr::Default { value } => self.default_value(value),
            MappingExpr::Composite(c) => self.composite(c),
            MappingExpr::Lookup(l) => self.lookup(l),
            MappingExpr::Flatten { field, path } => {
                let base = self.path(field);
                let inner = self.path(path);
                let (Some(base), Some(inner)) = (base, inner) else {
                    return Lowered {
                        expr: None,
                        ty: Ty::Any,
                        describe: String::new(),
                    };
                };
                let joined = base.join(&inner);
                let split = base.segments.len();
                let ty = self.typed(&joined, &|depth| {
                    if depth < split {
                        field.span
                    } else {
                        path.span
                    }
                });
                Lowered {
                    expr: Some(Expr::Flatten {
                        field: base,
                        path: inner,
                    }),
                    ty,
                    describe: format!("flatten {} at {}", field.node, path.node),
                }
            }
            MappingExpr::Unknown { mapping_type } => {
                self.push(unknown_name(
                    Code::UnknownMappingType,
                    mapping_type.span,
                    "mapping type",
                    &mapping_type.node,
                    MAPPING_TYPES,
                ));
                Lowered {
                    expr: None,
                    ty: Ty::Any,
                    describe: String::new(),
                }
            }
        }
    }

    /// Compiles a transformation chain; gives the type it yields from `ty`.
    fn steps(&mut self, steps: &[ast::Transformation], mut ty: Ty) -> (Option<Vec<ir::Step>>, Ty) {
        let mut out = Some(Vec::new());
        for t in steps {
            let step = self.step(t, &ty);
            ty = step.1;
            match (step.0, out.as_mut()) {
                (Some(s), Some(v)) => v.push(s),
                _ => out = None,
            }
        }
        (out, ty)
    }

    fn step(&mut self, t: &ast::Transformation, input: &Ty) -> (Option<ir::Step>, Ty) {
        let Some(function) = functions::lookup(&t.name.node) else {
            let names: Vec<&str> = functions::all()
                .iter()
                .map(|f| f.signature().name)
                .collect();
            let d = Diagnostic::new(
                Code::UnknownTransformation,
                t.name.span,
                format!("unknown transformation `{}`", t.name.node),
            );
            self.push(match did_you_mean(&t.name.node, names.iter().copied()) {
                Some(s) => d.with_label(format!("did you mean `{s}`?")).with_help(format!("write `| {s}`")),
                None => d
                    .with_label("not a transformation")
                    .with_help("docs/functions.md lists the transformations; `custom(\"...\")` runs an expression"),
            });
            return (None, Ty::Any);
        };
        let sig = function.signature();
        let ty = Ty::of_returns(sig.returns, input.clone());

        // Name the arguments: positional ones by the parameters' order.
        let mut config = Map::new();
        let mut spans: HashMap<&'static str, Span> = HashMap::new();
        let mut ok = true;
        let mut position = 0;
        let params = list(&sig.params.iter().map(|p| p.name).collect::<Vec<_>>());
        for arg in &t.args {
            let param = match &arg.name {
                None => {
                    let p = sig.params.get(position);
                    position += 1;
                    match p {
                        Some(p) => p,
                        None => {
                            ok = false;
                            let takes = match sig.params.len() {
                                0 => "no argument".to_string(),
                                1 => "1 argument".to_string(),
                                n => format!("{n} arguments"),
                            };
                            let help = if sig.params.is_empty() {
                                format!("remove the arguments: `| {}`", sig.name)
                            } else {
                                format!("remove it: `{}` takes {params}", sig.name)
                            };
                            self.push(
                                Diagnostic::new(
                                    Code::ConfigType,
                                    arg.value.span,
                                    format!(
                                        "`{}` takes {takes} but {} given",
                                        sig.name,
                                        match positional(&t.args) {
                                            1 => "1 was".to_string(),
                                            n => format!("{n} were"),
                                        }
                                    ),
                                )
                                .with_label("unexpected argument")
                                .with_help(help),
                            );
                            continue;
                        }
                    }
                }
                Some(n) => match sig.params.iter().find(|p| p.name == n.node) {
                    Some(p) => p,
                    None => {
                        let names = sig.params.iter().map(|p| p.name);
                        let d = Diagnostic::new(
                            Code::UnknownConfigKey,
                            n.span,
                            format!("unknown config key `{}` for `{}`", n.node, sig.name),
                        );
                        self.push(match did_you_mean(&n.node, names) {
                            Some(s) => d
                                .with_label(format!("did you mean `{s}`?"))
                                .with_help(format!("write `{s}: ...`")),
                            None if sig.params.is_empty() => d.with_label("ignored").with_help(
                                format!("`{}` takes no configuration: remove it", sig.name),
                            ),
                            None => d
                                .with_label("ignored")
                                .with_help(format!("`{}` takes {params}", sig.name)),
                        });
                        continue;
                    }
                },
            };
            let span = arg
                .name
                .as_ref()
                .map_or(arg.value.span, |n| n.span.to(arg.value.span));
            if let Some(first) = spans.get(param.name) {
                ok = false;
                self.push(
                    Diagnostic::new(
                        Code::ConfigType,
                        span,
                        format!("`{}` is given twice", param.name),
                    )
                    .with_label("given again here")
                    .with_related(*first, "first given here")
                    .with_help("remove one of the two"),
                );
                continue;
            }
            spans.insert(param.name, span);
            config.insert(param.name.to_string(), arg.value.node.clone());
        }

        if sig.name == "custom" {
            self.scan_script(&config, spans.get("expression").copied().unwrap_or(t.span));
        }

        let ctx = CompileContext {
            rates: self.cx.rates,
            sandbox: self.cx.sandbox,
        };
        match function.compile(&config, &ctx) {
            Ok(transform) if ok => (
                Some(ir::Step {
                    name: sig.name,
                    transform,
                }),
                ty,
            ),
            Ok(_) => (None, ty),
            Err(errors) => {
                for e in errors {
                    let (span, label) = match spans.get(e.param) {
                        Some(s) => (*s, format!("this `{}`", e.param)),
                        None => (t.span, format!("`{}` is missing", e.param)),
                    };
                    let mut d = Diagnostic::new(e.code, span, e.message).with_label(label);
                    d.help = e
                        .help
                        .or_else(|| Some(format!("`{}` takes {params}", sig.name)));
                    self.push(d);
                }
                (None, ty)
            }
        }
    }

    /// A custom script's `task.KEY` / `task["KEY"]` reads and whether it reads `record`.
    fn scan_script(&mut self, config: &Map<String, Value>, span: Span) {
        static TASK_KEY: LazyLock<Option<Regex>> = LazyLock::new(|| {
            Regex::new(r#"\btask\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*"([^"]+)"\s*\])"#).ok()
        });
        let Some(Value::String(expr)) = config.get("expression") else {
            return;
        };
        if let Some(re) = TASK_KEY.as_ref() {
            for c in re.captures_iter(expr) {
                if let Some(k) = c.get(1).or_else(|| c.get(2)) {
                    self.task_keys.push(TaskKey {
                        key: k.as_str().to_string(),
                        span,
                    });
                }
            }
        }
        if self
            .cx
            .sandbox
            .compile(expr)
            .is_ok_and(|s| s.reads_record())
        {
            self.whole_record = true;
        }
    }

    fn condition(&mut self, c: &ast::Condition) -> Option<ir::Condition> {
        let (field, _) = self.source(&c.field);
        let op = Op::from_name(&c.op.node);
        if op.is_none() {
            let names: Vec<&str> = Op::ALL.iter().map(|o| o.as_str()).collect();
            self.push(unknown_name(
                Code::UnknownOperator,
                c.op.span,
                "operator",
                &c.op.node,
                &names,
            ));
        }
        let value = op.and_then(|op| self.operand(c, op));
        Some(ir::Condition {
            field: field?,
            op: op?,
            value: value?,
        })
    }

    /// Checks the value's shape against the operator (E0207).
    fn operand(&mut self, c: &ast::Condition, op: Op) -> Option<Value> {
        let name = op.as_str();
        let value = c.value.as_ref();
        let span = value.map_or(c.span, |v| v.span);
        let this = value.map_or("nothing".to_string(), |v| Ty::of_value(&v.node).describe());
        let bad = |message: String, help: String| {
            Diagnostic::new(Code::OperatorValue, span, message)
                .with_label(format!("this is {this}"))
                .with_help(help)
        };
        let d = match (op, value.map(|v| &v.node)) {
            (Op::Exists | Op::NotExists, None | Some(Value::Null)) => return Some(Value::Null),
            (Op::Exists | Op::NotExists, Some(_)) => bad(
                format!("`{name}` takes no value"),
                format!(
                    "remove the value: `{} {}`",
                    c.field.node,
                    name.replace('_', " ")
                ),
            ),
            (Op::In | Op::NotIn, Some(v @ Value::Array(_))) => return Some(v.clone()),
            (Op::In | Op::NotIn, Some(v)) => bad(
                format!("`{name}` needs an array of values"),
                format!("wrap it in brackets: `[{}]`", short(v)),
            ),
            (
                Op::Gt | Op::Gte | Op::Lt | Op::Lte,
                Some(v @ (Value::Number(_) | Value::String(_))),
            ) => return Some(v.clone()),
            (Op::Gt | Op::Gte | Op::Lt | Op::Lte, _) => bad(
                format!("`{name}` compares with a number, a string or a date"),
                "compare with a number (`100`), a string or a date (`\"2026-01-01\"`)".into(),
            ),
            (Op::StartsWith | Op::EndsWith, Some(v @ Value::String(_))) => return Some(v.clone()),
            (Op::StartsWith | Op::EndsWith, Some(v)) => bad(
                format!("`{name}` needs a string"),
                format!("quote it: `\"{}\"`", v.to_string().trim_matches('"')),
            ),
            (_, Some(v)) => return Some(v.clone()),
            (_, None) => bad(
                format!("`{name}` needs a value"),
                format!(
                    "give the value to compare with, e.g. `{} {name} \"x\"`",
                    c.field.node
                ),
            ),
        };
        self.push(d);
        None
    }

    fn conditional(&mut self, c: &ast::Conditional) -> Lowered {
        let mut default: Option<(Span, Value)> = None;
        let mut rules = Vec::new();
        let mut ok = true;
        let mut tys = Vec::new();
        let mut earlier: Vec<(&ast::Condition, Span, usize)> = Vec::new();
        let mut fields: Vec<&str> = Vec::new();
        for (index, arm) in c.arms.iter().enumerate() {
            let arm_span = match arm {
                Arm::Rule { span, .. } | Arm::Default { span, .. } => *span,
            };
            let after_default = default.as_ref().map(|(s, _)| *s);
            if let Some(dspan) = after_default {
                self.push(
                    Diagnostic::new(
                        Code::UnreachableRule,
                        arm_span,
                        "this arm can never be chosen",
                    )
                    .with_label("unreachable")
                    .with_related(dspan, "`_` matches every record first")
                    .with_help("move it before `_ =>`, or remove it"),
                );
            }
            match arm {
                Arm::Rule {
                    span,
                    condition,
                    then,
                } => {
                    let same = earlier.iter().find(|(e, _, _)| {
                        e.field.node == condition.field.node
                            && e.op.node == condition.op.node
                            && e.value.as_ref().map(|v| &v.node)
                                == condition.value.as_ref().map(|v| &v.node)
                    });
                    let duplicate = same.map(|(_, s, n)| (*s, *n));
                    if let (Some((first, n)), None) = (duplicate, after_default) {
                        self.push(
                            Diagnostic::new(
                                Code::UnreachableRule,
                                *span,
                                format!("this rule repeats rule {n}"),
                            )
                            .with_label("unreachable")
                            .with_related(first, "this identical rule always matches first")
                            .with_help("remove it: the earlier rule always wins"),
                        );
                    }
                    earlier.push((condition, *span, index + 1));
                    if !fields.contains(&condition.field.node.as_str()) {
                        fields.push(&condition.field.node);
                    }
                    let cond = self.condition(condition);
                    let (then, ty) = self.then(then);
                    tys.push(ty);
                    match (cond, then) {
                        (Some(condition), Some(then)) => {
                            // Unreachable rules are checked but not kept: the IR tries
                            // rules before the default, whatever the source order.
                            if after_default.is_none() && duplicate.is_none() {
                                rules.push(ir::Rule { condition, then });
                            }
                        }
                        _ => ok = false,
                    }
                }
                Arm::Default { span, value } => {
                    tys.push(Ty::of_value(&value.node));
                    if default.is_none() {
                        default = Some((*span, value.node.clone()));
                    }
                }
            }
        }
        let on = match &c.style {
            CondStyle::Match { field } => field.node.clone(),
            CondStyle::When => fields.join(", "),
        };
        let describe = format!(
            "conditional on {on}: {} rule{}{}",
            rules.len(),
            if rules.len() == 1 { "" } else { "s" },
            default
                .as_ref()
                .map(|(_, v)| format!(", default {}", short(v)))
                .unwrap_or_default()
        );
        Lowered {
            expr: ok.then(|| Expr::Conditional {
                rules,
                default: default.map(|(_, v)| v),
            }),
            ty: Ty::common(tys),
            describe,
        }
    }

    fn then(&mut self, t: &ast::Then) -> (Option<ir::Then>, Ty) {
        match t {
            ast::Then::Value(v) => (Some(ir::Then::Value(v.node.clone())), Ty::of_value(&v.node)),
            ast::Then::Field(f) => {
                let (p, ty) = self.source(f);
                (p.map(ir::Then::Field), ty)
            }
            ast::Then::Transform { field, steps } => {
                let (p, ty) = self.source(field);
                let (steps, ty) = self.steps(steps, ty);
                match (p, steps) {
                    (Some(p), Some(s)) => (Some(ir::Then::Transform(p, s)), ty),
                    _ => (None, ty),
                }
            }
        }
    }

    fn default_value(&mut self, lit: &Literal) -> Lowered {
        let describe = format!("default {}", short(&lit.node));
        let Value::String(text) = &lit.node else {
            return Lowered {
                expr: Some(Expr::Value(lit.node.clone())),
                ty: Ty::of_value(&lit.node),
                describe,
            };
        };
        match task_template(text) {
            Ok(None) => Lowered {
                expr: Some(Expr::Value(lit.node.clone())),
                ty: Ty::String,
                describe,
            },
            Ok(Some(parts)) => {
                for part in &parts {
                    if let TemplatePart::TaskKey(k) = part {
                        self.task_keys.push(TaskKey {
                            key: k.clone(),
                            span: lit.span,
                        });
                    }
                }
                // A value that is exactly one placeholder takes the config value's type.
                let ty = if matches!(parts.as_slice(), [TemplatePart::TaskKey(_)]) {
                    Ty::Any
                } else {
                    Ty::String
                };
                Lowered {
                    expr: Some(Expr::TaskTemplate(parts)),
                    ty,
                    describe,
                }
            }
            Err(bad) => {
                self.push(
                    Diagnostic::new(
                        Code::DefaultTemplateKey,
                        lit.span,
                        format!("malformed task placeholder `{}`", bad.text),
                    )
                    .with_label(bad.reason)
                    .with_help(match bad.fix {
                        Some(fix) => format!("write `{fix}`"),
                        None => "write `{{task.KEY}}`, e.g. `{{task.industry}}`".to_string(),
                    }),
                );
                Lowered {
                    expr: None,
                    ty: Ty::String,
                    describe,
                }
            }
        }
    }

    fn composite(&mut self, c: &ast::Composite) -> Lowered {
        if let Some(t) = &c.template {
            let describe = format!("template {}", Value::String(t.node.clone()));
            let raw = match template_parts(&t.node) {
                Ok(parts) => parts,
                Err(e) => {
                    self.push(
                        Diagnostic::new(
                            Code::InvalidPath,
                            t.span,
                            format!("invalid template: {e}"),
                        )
                        .with_label("this template")
                        .with_help("close each placeholder: `${Field}`"),
                    );
                    return Lowered {
                        expr: None,
                        ty: Ty::String,
                        describe,
                    };
                }
            };
            let mut parts = Vec::new();
            let mut ok = true;
            for part in raw {
                match part {
                    Raw::Lit(s) => parts.push(TemplatePart::Lit(s)),
                    Raw::Field(f) => match self.parse_path(&f, t.span) {
                        Some(p) => {
                            self.typed(&p, &|_| t.span);
                            parts.push(TemplatePart::Field(p));
                        }
                        None => ok = false,
                    },
                }
            }
            if !parts.iter().any(|p| matches!(p, TemplatePart::Field(_))) {
                self.push(
                    Diagnostic::new(
                        Code::TemplateWithoutPlaceholder,
                        t.span,
                        "this template names no field",
                    )
                    .with_label("the output is always this text")
                    .with_help(format!(
                        "name a field with `${{Field}}`, or make it a default mapping: `= {}`",
                        Value::String(t.node.clone())
                    )),
                );
            }
            return Lowered {
                expr: ok.then_some(Expr::Template(parts)),
                ty: Ty::String,
                describe,
            };
        }
        let separator = c
            .separator
            .as_ref()
            .map_or(" ", |s| s.node.as_str())
            .to_string();
        let describe = format!(
            "join {} with {}",
            c.fields
                .iter()
                .map(|f| f.node.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            Value::String(separator.clone())
        );
        if c.fields.is_empty() {
            self.push(
                Diagnostic::new(Code::MissingConfig, c.span, "this composite names no field")
                    .with_label("nothing to join")
                    .with_help("name the fields: `join(FirstName, LastName)`, or write a template `\"${FirstName} ${LastName}\"`"),
            );
            return Lowered {
                expr: None,
                ty: Ty::String,
                describe,
            };
        }
        let fields: Vec<Option<Path>> = c.fields.iter().map(|f| self.source(f).0).collect();
        let fields = fields.into_iter().collect::<Option<Vec<_>>>();
        Lowered {
            expr: fields.map(|fields| Expr::Join { fields, separator }),
            ty: Ty::String,
            describe,
        }
    }

    fn lookup(&mut self, l: &ast::Lookup) -> Lowered {
        let (field, _) = self.source(&l.field);
        let default = l.default.as_ref().map_or(Value::Null, |d| d.node.clone());
        match &l.from {
            LookupFrom::Table(name) => {
                let describe = format!("lookup {} in {}", l.field.node, name.node);
                let table = self
                    .locals
                    .get(&name.node)
                    .or_else(|| self.cx.tables.get(&name.node));
                let table = table.map(|t| Arc::clone(&t.entries));
                if table.is_none() {
                    let known: Vec<&str> = self
                        .locals
                        .keys()
                        .chain(self.cx.tables.keys())
                        .map(String::as_str)
                        .collect();
                    let d = Diagnostic::new(
                        Code::UnknownLookupTable,
                        name.span,
                        format!("unknown lookup table `{}`", name.node),
                    );
                    let d = match did_you_mean(&name.node, known.iter().copied()) {
                        Some(s) => d
                            .with_label(format!("did you mean `{s}`?"))
                            .with_help(format!("write `in {s}`")),
                        None => d.with_label("no such table").with_help(format!(
                            "declare it: `lookup {} {{ \"key\" => \"value\" }}`",
                            name.node
                        )),
                    };
                    self.push(d);
                }
                let expr = match (field, table) {
                    (Some(field), Some(table)) => Some(Expr::LookupTable {
                        field,
                        table,
                        default,
                    }),
                    _ => None,
                };
                Lowered {
                    expr,
                    ty: Ty::Any,
                    describe,
                }
            }
            LookupFrom::Shard {
                shard_type,
                return_field,
            } => {
                let describe = format!(
                    "lookup {} in shard {}{}",
                    l.field.node,
                    shard_type.node,
                    return_field
                        .as_ref()
                        .map(|r| format!(".{}", r.node))
                        .unwrap_or_default()
                );
                self.check_shard_type(shard_type);
                if let (Some(info), Some(r)) =
                    (self.cx.types.shard_type(&shard_type.node), return_field)
                {
                    if !info.fields.contains_key(&r.node) {
                        let d = Diagnostic::new(
                            Code::UnknownTargetField,
                            r.span,
                            format!("`{}` has no field `{}`", info.id, r.node),
                        );
                        self.push(
                            match did_you_mean(&r.node, info.fields.keys().map(String::as_str)) {
                                Some(s) => d
                                    .with_label(format!("did you mean `{s}`?"))
                                    .with_help(format!("write `{}.{s}`", info.id)),
                                None => d
                                    .with_label(format!("not a field of `{}`", info.id))
                                    .with_help(format!(
                                        "return one of the fields of `shardtype {}`",
                                        info.id
                                    )),
                            },
                        );
                    }
                }
                Lowered {
                    expr: field.map(|field| Expr::LookupShard {
                        field,
                        shard_type: shard_type.node.clone(),
                        return_field: return_field.as_ref().map(|r| r.node.clone()),
                        default,
                    }),
                    ty: Ty::Any,
                    describe,
                }
            }
        }
    }

    /// W0504 when stdlib declares shard types and not this one.
    fn check_shard_type(&mut self, name: &Name) {
        let types = self.cx.types;
        if types.shard_types.is_empty() || types.shard_type(&name.node).is_some() {
            return;
        }
        let d = Diagnostic::new(
            Code::UnknownShardType,
            name.span,
            format!("unknown shard type `{}`", name.node),
        );
        self.push(
            match did_you_mean(&name.node, types.shard_types.keys().map(String::as_str)) {
                Some(s) => d
                    .with_label(format!("did you mean `{s}`?"))
                    .with_help(format!("write `{s}`")),
                None => d
                    .with_label("no stdlib `shardtype` declares it")
                    .with_help(format!(
                        "declare it (`shardtype {} {{ .. }}`), or check the spelling",
                        name.node
                    )),
            },
        );
    }

    fn relationship(&mut self, r: &ast::RelationshipMapping) -> Option<ir::Relationship> {
        let kind_ok = RELATIONSHIP_KINDS.contains(&r.kind.node.as_str());
        if !kind_ok {
            self.push(unknown_name(
                Code::UnknownKeyword,
                r.kind.span,
                "relationship type",
                &r.kind.node,
                RELATIONSHIP_KINDS,
            ));
        }
        self.check_shard_type(&r.shard_type);
        let (field, _) = self.source(&r.field);
        kind_ok.then_some(())?;
        Some(ir::Relationship {
            kind: r.kind.node.clone(),
            target: r.target.node.clone(),
            shard_type: r.shard_type.node.clone(),
            by_external_id: r.by_external_id,
            field: field?,
        })
    }

    fn validation(&mut self, v: &ast::Validation) -> Option<ir::Validation> {
        use ir::ValidationRule as R;
        let rule = v.rule.node.as_str();
        let value = v.value.as_ref().filter(|l| !l.node.is_null());
        let wrong = |expected: &str, example: &str| {
            let d = match value {
                Some(l) => Diagnostic::new(
                    Code::ConfigType,
                    l.span,
                    format!("`{rule}` needs {expected}"),
                )
                .with_label(format!("this is {}", Ty::of_value(&l.node).describe())),
                None => Diagnostic::new(
                    Code::MissingConfig,
                    v.span,
                    format!("`{rule}` needs {expected}"),
                )
                .with_label("no value given"),
            };
            d.with_help(format!("write `{example}`"))
        };
        let parsed = match rule {
            "required" | "email" | "url" => match value {
                None => Ok(match rule {
                    "required" => R::Required,
                    "email" => R::Email,
                    _ => R::Url,
                }),
                Some(l) => Err(Diagnostic::new(
                    Code::ConfigType,
                    l.span,
                    format!("`{rule}` takes no value"),
                )
                .with_label("unexpected value")
                .with_help(format!("write `validate {rule}`"))),
            },
            "pattern" => match value.map(|l| (&l.node, l.span)) {
                Some((Value::String(p), span)) => Regex::new(p).map(R::Pattern).map_err(|e| {
                    Diagnostic::new(
                        Code::InvalidRegex,
                        span,
                        "invalid regular expression in `pattern`",
                    )
                    .with_label(
                        e.to_string()
                            .lines()
                            .last()
                            .unwrap_or("invalid")
                            .trim()
                            .trim_start_matches("error: ")
                            .to_string(),
                    )
                    .with_help(
                        "fix the regex (regex crate syntax); escape special characters with `\\\\`",
                    )
                }),
                _ => Err(wrong("a regular expression string", "pattern(\"^[A-Z]\")")),
            },
            "min" | "max" => match value.and_then(|l| l.node.as_f64()) {
                Some(n) => Ok(if rule == "min" { R::Min(n) } else { R::Max(n) }),
                None => Err(wrong("a number", &format!("{rule}(0)"))),
            },
            "min_length" | "max_length" => match value
                .and_then(|l| l.node.as_u64())
                .and_then(|n| usize::try_from(n).ok())
            {
                Some(n) => Ok(if rule == "min_length" {
                    R::MinLength(n)
                } else {
                    R::MaxLength(n)
                }),
                None => Err(wrong("a non-negative integer", &format!("{rule}(254)"))),
            },
            "one_of" => match value.map(|l| &l.node) {
                Some(Value::Array(items)) => Ok(R::OneOf(items.clone())),
                _ => Err(wrong(
                    "an array of allowed values",
                    "one_of([\"a\", \"b\"])",
                )),
            },
            other => Err(unknown_name(
                Code::UnknownValidation,
                v.rule.span,
                "validation rule",
                other,
                VALIDATION_RULES,
            )),
        };
        match parsed {
            Ok(rule) => Some(ir::Validation {
                rule,
                message: v.message.as_ref().map(|m| m.node.clone()),
            }),
            Err(d) => {
                self.push(d);
                None
            }
        }
    }

    fn test(&mut self, t: &ast::TestCase, targets: &[&str]) -> Option<ir::Test> {
        let mut ok = true;
        let mut bad = |sx: &mut Self, span: Span, message: String, label: &str, help: String| {
            ok = false;
            sx.push(
                Diagnostic::new(Code::InvalidTest, span, message)
                    .with_label(label.to_string())
                    .with_help(help),
            );
        };
        let name = &t.name.node;
        let input = match &t.input {
            None => {
                bad(
                    self,
                    t.name.span,
                    format!("test `{name}` has no input"),
                    "no `input`",
                    "add `input { Field: value }`".into(),
                );
                Value::Null
            }
            Some(l) if !l.node.is_object() => {
                bad(
                    self,
                    l.span,
                    "a test input must be an object".into(),
                    "not an object",
                    "write `input { Field: value }`".into(),
                );
                Value::Null
            }
            Some(l) => l.node.clone(),
        };
        let task = match &t.task {
            None => Map::new(),
            Some(Literal {
                node: Value::Object(m),
                ..
            }) => m.clone(),
            Some(l) => {
                bad(
                    self,
                    l.span,
                    "a test's task config must be an object".into(),
                    "not an object",
                    "write `task { key: value }`".into(),
                );
                Map::new()
            }
        };
        if t.expect.is_empty() {
            bad(
                self,
                t.name.span,
                format!("test `{name}` expects nothing"),
                "checks nothing",
                "add `expect { field: value }`, `expect skipped` or `expect failed`".into(),
            );
        }
        let mut expect = Vec::new();
        for e in &t.expect {
            expect.push(match e {
                ast::Expect::Data(l) => {
                    if !l.node.is_object() {
                        bad(
                            self,
                            l.span,
                            "`expect` data must be an object".into(),
                            "not an object",
                            "write `expect { field: value }`".into(),
                        );
                    }
                    ir::TestExpect::Data(l.node.clone())
                }
                ast::Expect::ExternalId(l) => ir::TestExpect::ExternalId(l.node.clone()),
                ast::Expect::Relationships(l) => {
                    if !l.node.is_array() {
                        bad(
                            self,
                            l.span,
                            "`expect relationships` must be an array".into(),
                            "not an array",
                            "write `expect relationships [ { .. } ]`".into(),
                        );
                    }
                    ir::TestExpect::Relationships(l.node.clone())
                }
                ast::Expect::Skipped(_) => ir::TestExpect::Skipped,
                ast::Expect::Failed { field, .. } => {
                    if let Some(f) = field {
                        if !targets.contains(&f.node.as_str()) {
                            let help = match did_you_mean(&f.node, targets.iter().copied()) {
                                Some(s) => format!("write `expect failed {s}`"),
                                None => "name a mapped target field, or write `expect failed`"
                                    .to_string(),
                            };
                            bad(
                                self,
                                f.span,
                                format!("no mapping writes `{}`", f.node),
                                "not a target field",
                                help,
                            );
                        }
                    }
                    ir::TestExpect::Failed {
                        field: field.as_ref().map(|f| f.node.clone()),
                    }
                }
            });
        }
        ok.then(|| ir::Test {
            name: name.clone(),
            input,
            task,
            expect,
        })
    }
}

fn positional(args: &[ast::Arg]) -> usize {
    args.iter().filter(|a| a.name.is_none()).count()
}

fn article(name: &str) -> String {
    if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {name}")
    } else {
        format!("a {name}")
    }
}

/// The span of a mapping's expression, for messages about what it yields.
pub(super) fn expr_span(e: &MappingExpr) -> Span {
    match e {
        MappingExpr::Direct { field } => field.span,
        MappingExpr::Transform { field, steps } => {
            steps.last().map_or(field.span, |s| field.span.to(s.span))
        }
        MappingExpr::Conditional(c) => c.span,
        MappingExpr::Default { value } => value.span,
        MappingExpr::Composite(c) => c.span,
        MappingExpr::Lookup(l) => l.span,
        MappingExpr::Flatten { field, path } if field.span.file == path.span.file => {
            field.span.to(path.span)
        }
        MappingExpr::Flatten { field, .. } => field.span,
        MappingExpr::Unknown { mapping_type } => mapping_type.span,
    }
}

/// A template piece before its path is parsed.
#[derive(Debug, PartialEq)]
enum Raw {
    Lit(String),
    Field(String),
}

/// Splits `"${A} and ${B}"` into literal text and placeholder paths.
fn template_parts(s: &str) -> Result<Vec<Raw>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        if start > 0 {
            out.push(Raw::Lit(rest[..start].to_string()));
        }
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("`${{` without a closing `}}` in `{s}`"))?;
        out.push(Raw::Field(after[..end].trim().to_string()));
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        out.push(Raw::Lit(rest.to_string()));
    }
    Ok(out)
}

/// Why a `{{task...}}` placeholder is malformed.
#[derive(Debug, PartialEq)]
struct BadPlaceholder {
    text: String,
    reason: String,
    fix: Option<String>,
}

/// Splits a default string on its `{{task.KEY}}` placeholders; `None` when it has none.
/// Only `{{` followed by `task` is a placeholder: other braces are text.
fn task_template(s: &str) -> Result<Option<Vec<TemplatePart>>, BadPlaceholder> {
    static KEY: LazyLock<Option<Regex>> =
        LazyLock::new(|| Regex::new(r"^[A-Za-z_][A-Za-z0-9_-]*$").ok());
    let is_key = |k: &str| KEY.as_ref().is_some_and(|re| re.is_match(k));
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut rest = s;
    let mut any = false;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        if !after.trim_start().starts_with("task") {
            lit.push_str(&rest[..start + 2]);
            rest = after;
            continue;
        }
        lit.push_str(&rest[..start]);
        let Some(end) = after.find("}}") else {
            let text = rest[start..].to_string();
            let inner = after.trim();
            let fix = inner
                .strip_prefix("task.")
                .filter(|k| is_key(k))
                .map(|k| format!("{{{{task.{k}}}}}"));
            return Err(BadPlaceholder {
                text,
                reason: "`{{` without a closing `}}`".into(),
                fix,
            });
        };
        let inner = after[..end].trim();
        let text = format!("{{{{{}}}}}", &after[..end]);
        match inner.strip_prefix("task.") {
            Some(k) if is_key(k) => {
                if !lit.is_empty() {
                    parts.push(TemplatePart::Lit(std::mem::take(&mut lit)));
                }
                parts.push(TemplatePart::TaskKey(k.to_string()));
                any = true;
            }
            Some(_) => {
                return Err(BadPlaceholder {
                    text,
                    reason: "the key must be an identifier".into(),
                    fix: None,
                })
            }
            None => {
                // `{{tasks.x}}`, `{{task:x}}`, `{{task}}`: say what was probably meant.
                let key = inner
                    .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
                    .filter(|p| !p.is_empty())
                    .nth(1)
                    .unwrap_or_default();
                let fix = is_key(key).then(|| format!("{{{{task.{key}}}}}"));
                return Err(BadPlaceholder {
                    text,
                    reason: "expected `task.KEY`".into(),
                    fix,
                });
            }
        }
        rest = &after[end + 2..];
    }
    if !any {
        return Ok(None);
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        parts.push(TemplatePart::Lit(lit));
    }
    Ok(Some(parts))
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn task_templates() {
        let show = |s: &str| format!("{:?}", task_template(s));
        expect_test::expect![[r#"Ok(None)"#]].assert_eq(&show("plain {{other}}"));
        expect_test::expect![[r#"Ok(Some([TaskKey("industry")]))"#]]
            .assert_eq(&show("{{task.industry}}"));
        expect_test::expect![[r#"Ok(Some([Lit("a-"), TaskKey("x"), Lit(" {{y}}")]))"#]]
            .assert_eq(&show("a-{{ task.x }} {{y}}"));
        expect_test::expect![[r#"Err(BadPlaceholder { text: "{{tasks.x}}", reason: "expected `task.KEY`", fix: Some("{{task.x}}") })"#]]
            .assert_eq(&show("{{tasks.x}}"));
        expect_test::expect![[r#"Err(BadPlaceholder { text: "{{task.x", reason: "`{{` without a closing `}}`", fix: Some("{{task.x}}") })"#]]
            .assert_eq(&show("{{task.x"));
        expect_test::expect![[r#"Err(BadPlaceholder { text: "{{task.}}", reason: "the key must be an identifier", fix: None })"#]]
            .assert_eq(&show("{{task.}}"));
    }

    #[test]
    fn templates() {
        assert_eq!(
            template_parts("${A} and ${ B.c }!"),
            Ok(vec![
                Raw::Field("A".into()),
                Raw::Lit(" and ".into()),
                Raw::Field("B.c".into()),
                Raw::Lit("!".into())
            ])
        );
        assert!(template_parts("${A").is_err());
    }
}
