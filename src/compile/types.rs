//! The type registry (stdlib `shardtype` and `entity` definitions) and the small type
//! lattice the schema-aware checks (W05xx) infer and compare.
//!
//! Types only ever produce warnings: a pipeline without stdlib types checks, it is just
//! checked less.

use indexmap::IndexMap;
use serde_json::Value;

use super::path::{Path, Segment};
use crate::diagnostics::{did_you_mean, Code, Diagnostic};
use crate::functions::Returns;
use crate::syntax::ast::{Document, FieldDef, Item, Span, TypeDefKind, TypeExpr};

/// A value type as declared in stdlib/ or inferred for a mapping.
#[derive(Clone, Debug, PartialEq)]
pub enum Ty {
    /// Unknown or anything: assignable both ways.
    Any,
    /// The `null` literal: fits every field.
    Null,
    String,
    Number,
    Integer,
    Boolean,
    /// Written as an RFC 3339 string.
    Date,
    /// `object` (fields unknown) or `{ a: T }` (fields known).
    Object(Option<IndexMap<String, FieldType>>),
    Array(Box<Ty>),
    /// `"positive" | "negative"`: a string with known values.
    Enum(Vec<String>),
}

/// The names `TypeExpr::Named` accepts.
pub const NAMED_TYPES: &[&str] = &[
    "string", "number", "integer", "boolean", "date", "object", "any",
];

impl Ty {
    /// For messages: `a number`, `a date`, `an array of string`.
    pub fn describe(&self) -> String {
        match self {
            Ty::Any => "any value".into(),
            Ty::Null => "null".into(),
            Ty::String => "a string".into(),
            Ty::Number => "a number".into(),
            Ty::Integer => "an integer".into(),
            Ty::Boolean => "a boolean".into(),
            Ty::Date => "a date".into(),
            Ty::Object(_) => "an object".into(),
            Ty::Array(e) => match **e {
                Ty::Any => "an array".into(),
                ref e => format!("an array of {}", e.name()),
            },
            Ty::Enum(_) => "a string enum".into(),
        }
    }

    /// For "is a X field": `number`, `[string]`, `"a" | "b"`.
    pub fn name(&self) -> String {
        match self {
            Ty::Any => "any".into(),
            Ty::Null => "null".into(),
            Ty::String => "string".into(),
            Ty::Number => "number".into(),
            Ty::Integer => "integer".into(),
            Ty::Boolean => "boolean".into(),
            Ty::Date => "date".into(),
            Ty::Object(_) => "object".into(),
            Ty::Array(e) => format!("[{}]", e.name()),
            Ty::Enum(vs) => vs
                .iter()
                .map(|v| format!("\"{v}\""))
                .collect::<Vec<_>>()
                .join(" | "),
        }
    }

    /// The JSON type of a literal.
    pub fn of_value(v: &Value) -> Ty {
        match v {
            Value::Null => Ty::Null,
            Value::Bool(_) => Ty::Boolean,
            Value::Number(n) if n.is_i64() || n.is_u64() => Ty::Integer,
            Value::Number(_) => Ty::Number,
            Value::String(_) => Ty::String,
            Value::Array(items) => Ty::Array(Box::new(Ty::common(items.iter().map(Ty::of_value)))),
            Value::Object(_) => Ty::Object(None),
        }
    }

    /// What a transformation declared as `returns` yields from `input`.
    pub fn of_returns(returns: Returns, input: Ty) -> Ty {
        match returns {
            Returns::String => Ty::String,
            Returns::Number => Ty::Number,
            Returns::Boolean => Ty::Boolean,
            Returns::Date => Ty::Date,
            Returns::Array => match input {
                Ty::Array(e) => Ty::Array(e),
                Ty::Any | Ty::Null => Ty::Array(Box::new(Ty::Any)),
                other => Ty::Array(Box::new(other)),
            },
            Returns::Same => input,
            Returns::Any => Ty::Any,
        }
    }

    /// The common type of several branches: nulls are ignored, integers widen to
    /// numbers, enums to strings, and anything else disagreeing gives `Any`.
    pub fn common(tys: impl IntoIterator<Item = Ty>) -> Ty {
        let mut acc: Option<Ty> = None;
        for t in tys {
            if t == Ty::Null {
                continue;
            }
            acc = Some(match acc {
                None => t,
                Some(a) if a == t => a,
                Some(Ty::Integer | Ty::Number) if matches!(t, Ty::Integer | Ty::Number) => {
                    Ty::Number
                }
                Some(Ty::String | Ty::Enum(_)) if matches!(t, Ty::String | Ty::Enum(_)) => {
                    Ty::String
                }
                Some(Ty::Array(_)) if matches!(t, Ty::Array(_)) => Ty::Array(Box::new(Ty::Any)),
                Some(Ty::Object(_)) if matches!(t, Ty::Object(_)) => Ty::Object(None),
                Some(_) => return Ty::Any,
            });
        }
        acc.unwrap_or(Ty::Null)
    }

    /// Whether a value of type `self` may be written to a field of type `field`.
    ///
    /// Only clear mismatches fail: a date is written as a string, so it fits a string
    /// field; a string may hold a date or an enum value, so it fits those; integers are
    /// numbers and numbers may well be whole.
    pub fn fits(&self, field: &Ty) -> bool {
        use Ty::*;
        match (self, field) {
            (Any | Null, _) | (_, Any) => true,
            (String | Enum(_), String | Enum(_) | Date) => true,
            (Date, Date | String) => true,
            (Number | Integer, Number | Integer) => true,
            (Boolean, Boolean) => true,
            (Object(_), Object(_)) => true,
            (Array(a), Array(b)) => a.fits(b),
            _ => false,
        }
    }

    /// The transformation that converts `self` into `field`, for help lines.
    pub fn conversion_to(&self, field: &Ty) -> Option<&'static str> {
        match (self, field) {
            (_, Ty::String | Ty::Enum(_)) => Some("to_string"),
            (Ty::Date, Ty::Number | Ty::Integer) => Some("to_timestamp"),
            (_, Ty::Number | Ty::Integer) => Some("to_number"),
            (_, Ty::Boolean) => Some("to_boolean"),
            (_, Ty::Date) => Some("to_date"),
            (_, Ty::Array(_)) => Some("to_array"),
            _ => None,
        }
    }
}

/// One declared field.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldType {
    pub ty: Ty,
    pub optional: bool,
    pub span: Span,
}

/// A declared shard type or source entity.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeInfo {
    /// `c_contact`, or `salesforce.Contact`.
    pub id: String,
    pub name: Option<String>,
    pub span: Span,
    pub fields: IndexMap<String, FieldType>,
}

/// Why a path does not resolve in a type.
#[derive(Clone, Debug, PartialEq)]
pub struct UnknownField {
    /// The missing key.
    pub key: String,
    /// The object it was looked up in (`None`: the top level).
    pub parent: Option<String>,
    /// The keys that object does declare.
    pub candidates: Vec<String>,
}

impl TypeInfo {
    /// The type at `path`, or the first key the declarations do not know. Untyped
    /// objects, `any` and arrays read by key end the walk with `Any`.
    pub fn type_at(&self, path: &Path) -> Result<Ty, UnknownField> {
        walk(&self.fields, &path.segments)
    }
}

fn walk(fields: &IndexMap<String, FieldType>, segments: &[Segment]) -> Result<Ty, UnknownField> {
    let mut current: Option<Ty> = None;
    let mut parent: Option<String> = None;
    for seg in segments {
        let scope = match &current {
            None => Some(fields),
            Some(Ty::Object(Some(f))) => Some(f),
            _ => None,
        };
        current = Some(match (seg, scope, current.clone()) {
            (Segment::Key(k), Some(f), _) => match f.get(k) {
                Some(ft) => ft.ty.clone(),
                None => {
                    return Err(UnknownField {
                        key: k.clone(),
                        parent,
                        candidates: f.keys().cloned().collect(),
                    });
                }
            },
            (Segment::Index(_), _, Some(Ty::Array(e))) => *e,
            _ => return Ok(Ty::Any),
        });
        if let Segment::Key(k) = seg {
            parent = Some(k.clone());
        }
    }
    Ok(current.unwrap_or(Ty::Any))
}

/// Every declared shard type and entity.
#[derive(Clone, Debug, Default)]
pub struct Types {
    /// Keyed by id (`c_contact`).
    pub shard_types: IndexMap<String, TypeInfo>,
    /// Keyed by `integration.Entity`.
    pub entities: IndexMap<String, TypeInfo>,
}

/// The result of resolving a schema's source entity.
#[derive(Debug)]
pub enum EntityLookup<'a> {
    Found(&'a TypeInfo),
    /// No entity declared at all: nothing to check against.
    NoTypes,
    Unknown {
        suggestion: Option<&'a str>,
    },
    /// An unqualified name several integrations declare.
    Ambiguous(Vec<&'a str>),
}

impl Types {
    pub fn shard_type(&self, id: &str) -> Option<&TypeInfo> {
        self.shard_types.get(id)
    }

    /// Resolves `integration.Entity`, or a bare `Entity` when one integration declares it.
    pub fn entity(&self, integration: Option<&str>, entity: &str) -> EntityLookup<'_> {
        if self.entities.is_empty() {
            return EntityLookup::NoTypes;
        }
        let ids = self.entities.keys().map(String::as_str);
        match integration {
            Some(i) => {
                let id = format!("{i}.{entity}");
                match self.entities.get(&id) {
                    Some(t) => EntityLookup::Found(t),
                    None => EntityLookup::Unknown {
                        suggestion: did_you_mean(&id, ids),
                    },
                }
            }
            None => {
                let matches: Vec<&TypeInfo> = self
                    .entities
                    .values()
                    .filter(|t| t.id.rsplit('.').next() == Some(entity))
                    .collect();
                match matches.as_slice() {
                    [one] => EntityLookup::Found(one),
                    [] => EntityLookup::Unknown {
                        suggestion: did_you_mean(
                            entity,
                            self.entities.keys().filter_map(|k| k.rsplit('.').next()),
                        )
                        .and_then(|short| {
                            self.entities
                                .keys()
                                .map(String::as_str)
                                .find(|k| k.ends_with(&format!(".{short}")))
                        }),
                    },
                    many => EntityLookup::Ambiguous(many.iter().map(|t| t.id.as_str()).collect()),
                }
            }
        }
    }
}

/// Collects the `shardtype` and `entity` items of every document, reporting duplicate
/// ids (E0106) and unknown type names (E0110).
pub fn collect(docs: &[Document], diags: &mut Vec<Diagnostic>) -> Types {
    let mut types = Types::default();
    for item in docs.iter().flat_map(|d| &d.items) {
        let Item::Type(def) = item else { continue };
        let fields = fields(&def.fields, diags);
        let info = TypeInfo {
            id: def.id.node.clone(),
            name: def.name.as_ref().map(|n| n.node.clone()),
            span: def.id.span,
            fields,
        };
        let (map, what) = match def.kind {
            TypeDefKind::ShardType => (&mut types.shard_types, "shard type"),
            TypeDefKind::Entity => (&mut types.entities, "entity"),
        };
        if let Some(first) = map.get(&info.id) {
            diags.push(duplicate(what, &info.id, def.id.span, first.span));
        } else {
            map.insert(info.id.clone(), info);
        }
    }
    types
}

/// E0106 for any kind of id.
pub fn duplicate(what: &str, id: &str, span: Span, first: Span) -> Diagnostic {
    Diagnostic::new(
        Code::DuplicateId,
        span,
        format!("{what} `{id}` is defined twice"),
    )
    .with_label("defined again here")
    .with_related(first, "first defined here")
    .with_help(format!(
        "rename one of the two {what}s or remove the duplicate"
    ))
}

fn fields(defs: &[FieldDef], diags: &mut Vec<Diagnostic>) -> IndexMap<String, FieldType> {
    let mut out = IndexMap::new();
    for def in defs {
        let ty = ty(&def.ty, diags);
        if let Some(first) = out.get(&def.name.node).map(|f: &FieldType| f.span) {
            diags.push(duplicate("field", &def.name.node, def.name.span, first));
            continue;
        }
        out.insert(
            def.name.node.clone(),
            FieldType {
                ty,
                optional: def.optional,
                span: def.name.span,
            },
        );
    }
    out
}

fn ty(expr: &TypeExpr, diags: &mut Vec<Diagnostic>) -> Ty {
    match expr {
        TypeExpr::Named(n) => match n.node.as_str() {
            "string" => Ty::String,
            "number" => Ty::Number,
            "integer" => Ty::Integer,
            "boolean" => Ty::Boolean,
            "date" => Ty::Date,
            "object" => Ty::Object(None),
            "any" => Ty::Any,
            other => {
                let mut d = Diagnostic::new(
                    Code::UnknownKeyword,
                    n.span,
                    format!("unknown type `{other}`"),
                );
                d = match did_you_mean(other, NAMED_TYPES.iter().copied()) {
                    Some(s) => d
                        .with_label(format!("did you mean `{s}`?"))
                        .with_help(format!("write `{s}`")),
                    None => d.with_label("not a type").with_help(format!(
                        "use one of {}, `[T]`, `{{ field: T }}` or a string enum",
                        NAMED_TYPES
                            .iter()
                            .map(|t| format!("`{t}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                };
                diags.push(d);
                Ty::Any
            }
        },
        TypeExpr::Array(inner) => Ty::Array(Box::new(ty(inner, diags))),
        TypeExpr::Object(defs) => Ty::Object(Some(fields(defs, diags))),
        TypeExpr::Enum(values) => Ty::Enum(values.iter().map(|v| v.node.clone()).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_only_rejects_clear_mismatches() {
        let cases = [
            (Ty::Date, Ty::String, true),
            (Ty::String, Ty::Date, true),
            (Ty::Integer, Ty::Number, true),
            (Ty::Null, Ty::Boolean, true),
            (Ty::Any, Ty::Number, true),
            (Ty::Date, Ty::Number, false),
            (Ty::String, Ty::Number, false),
            (Ty::Number, Ty::Boolean, false),
            (
                Ty::Array(Box::new(Ty::String)),
                Ty::Array(Box::new(Ty::Number)),
                false,
            ),
            (Ty::String, Ty::Array(Box::new(Ty::String)), false),
        ];
        let got: Vec<String> = cases
            .iter()
            .map(|(a, b, _)| format!("{} -> {}: {}", a.name(), b.name(), a.fits(b)))
            .collect();
        let want: Vec<String> = cases
            .iter()
            .map(|(a, b, w)| format!("{} -> {}: {}", a.name(), b.name(), w))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn common_type_of_branches() {
        assert_eq!(Ty::common([Ty::Integer, Ty::Number, Ty::Null]), Ty::Number);
        assert_eq!(
            Ty::common([Ty::String, Ty::Enum(vec!["a".into()])]),
            Ty::String
        );
        assert_eq!(Ty::common([Ty::String, Ty::Boolean]), Ty::Any);
        assert_eq!(Ty::common([]), Ty::Null);
    }
}
