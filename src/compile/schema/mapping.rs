//! Field mappings: each mapping type's expression (direct, flatten, default with
//! `{{task.KEY}}` placeholders, composite templates and joins, lookups) with the type it
//! yields against the target shard type, and relationship mappings.

use std::sync::{Arc, LazyLock};

use regex::Regex;
use serde_json::Value;

use super::{short, unknown_name, Lowered, Sx, TaskKey};
use crate::compile::ir::{self, Expr, TemplatePart};
use crate::compile::path::Path;
use crate::compile::types::Ty;
use crate::diagnostics::{did_you_mean, Code, Diagnostic};
use crate::syntax::ast::{self, Literal, LookupFrom, MappingExpr, Name, Span};

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
/// Relationship kinds: the spec shows `belongs_to`; the others are the usual cardinalities.
pub(super) const RELATIONSHIP_KINDS: &[&str] =
    &["belongs_to", "has_one", "has_many", "many_to_many"];

impl Sx<'_, '_> {
    pub(super) fn field(&mut self, m: &ast::FieldMapping) -> Option<ir::FieldPlan> {
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

    pub(super) fn expr(&mut self, e: &MappingExpr) -> Lowered {
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

    pub(super) fn composite(&mut self, c: &ast::Composite) -> Lowered {
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

    pub(super) fn lookup(&mut self, l: &ast::Lookup) -> Lowered {
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

    pub(super) fn relationship(
        &mut self,
        r: &ast::RelationshipMapping,
    ) -> Option<ir::Relationship> {
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
}

fn article(name: &str) -> String {
    if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {name}")
    } else {
        format!("a {name}")
    }
}

/// The span of a mapping's expression, for messages about what it yields.
fn expr_span(e: &MappingExpr) -> Span {
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
