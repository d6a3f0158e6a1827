//! The interpreter: one record through one schema.
//!
//! Order: source filters (the first that fails skips the record), the dedupe key, the
//! field mappings in order (each checked for `required` and its validations as soon as
//! it is computed), then the relationships. Any failure fails the record: the first is
//! its error (code and field), and the message of that error lists the others.
//!
//! Rules of the data, beyond the spec's:
//!
//! - A missing or null value flows through transformations as null: `apply` is never
//!   called on null, and a step that yields null ends the chain with null.
//! - Keys (dedupe, lookups, relationships) are a value as text: a string as it is, a
//!   number or boolean as its JSON text (`42`, `1.5`, `true`). An array or object is not
//!   a key.
//! - A lookup (table or shard) whose source value is missing, null or empty yields its
//!   default, as does a key that is not found. A shard lookup yields the found shard's
//!   id, or with a return field that field of its structuredData (null when absent).
//! - Templates render a missing or null field as `""`, a string as it is and any other
//!   value as its JSON text. A join skips null, `""` and `[]` and yields a string (`""`
//!   when every value is empty).
//! - `{{task.KEY}}`: a default that is exactly one placeholder takes the config value as
//!   it is (a number stays a number); inside text it is rendered like a template field.
//!   A key the task config lacks is null (alone) or `""` (in text).

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::Value;

use super::{
    condition, validate, Context, ErrorCode, Explanation, Mapped, Outcome, RecordError, Reference,
    Skipped,
};
use crate::compile::ir::{DedupeStrategy, Expr, FieldPlan, Path, Schema, Step, TemplatePart, Then};
use crate::functions::Env;

/// Maps one record. Never panics on any record; bad data gives [`Outcome::Failed`].
pub fn map_record(schema: &Schema, record: &Value, ctx: &Context<'_>) -> Outcome {
    // A record is an object; anything else (a webhook's `[1, "x"]`, a connector's odd
    // page) is an invalid record, as `cmap map` says of such a line, whatever a filter
    // over it would say.
    if !record.is_object() {
        return Outcome::Failed(RecordError {
            code: ErrorCode::InvalidRecord,
            field: None,
            message: super::reader::not_a_record(record),
        });
    }
    for (index, filter) in schema.filters.iter().enumerate() {
        if !condition::holds(filter, record) {
            return Outcome::Skipped(Skipped {
                filter: index,
                description: condition::describe(filter),
            });
        }
    }
    match map_kept(schema, record, ctx) {
        Ok(mapped) => Outcome::Mapped(mapped),
        Err(error) => Outcome::Failed(error),
    }
}

fn map_kept(schema: &Schema, record: &Value, ctx: &Context<'_>) -> Result<Mapped, RecordError> {
    // Every problem of the record is reported (the first as the error, the rest in its
    // message), so one run shows all that is wrong with it.
    let mut errors = Vec::new();
    let external_id = dedupe_key(schema, record).unwrap_or_else(|e| {
        errors.push(e);
        String::new()
    });
    let env = Env {
        record,
        task: ctx.task,
    };
    // Every target is set when the record maps (a failure drops `data`), so the output
    // is the shape's whole template: no key hashed, in mapping order.
    let mut data = schema.fields.output().builder();
    let mut explain = ctx.explain.then(|| Vec::with_capacity(schema.fields.len()));
    for (nth, plan) in schema.fields.iter().enumerate() {
        let (value, how) = match eval(plan, schema, &env, ctx) {
            Ok(done) => done,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        if let Err(e) = check_field(plan, &value) {
            errors.push(e);
            continue;
        }
        if let Some(explain) = explain.as_mut() {
            explain.push(Explanation {
                field: plan.target.clone(),
                text: how.text(plan),
            });
        }
        data.set(nth, value);
    }
    let mut relationships = Vec::new();
    for rel in &schema.relationships {
        let Some(value) = rel.field.get(record) else {
            continue;
        };
        match key_text(value) {
            Key::Text(id) => relationships.push(Reference {
                relationship_type: rel.kind.clone(),
                target_field: rel.target.clone(),
                shard_type_id: rel.shard_type.clone(),
                external_id: id.into_owned(),
                by_external_id: rel.by_external_id,
            }),
            Key::Empty => {}
            Key::NotScalar(kind) => errors.push(RecordError {
                code: ErrorCode::Relationship,
                field: Some(rel.target.clone()),
                message: format!(
                    "`{}` is {kind}; a relationship needs a single id",
                    rel.field.raw
                ),
            }),
        }
    }
    let mut errors = errors.into_iter();
    if let Some(mut first) = errors.next() {
        let rest: Vec<String> = errors.map(|e| e.to_string()).collect();
        if !rest.is_empty() {
            first.message = format!("{} (also: {})", first.message, rest.join("; "));
        }
        return Err(first);
    }
    Ok(Mapped {
        shard_type_id: schema.target.shard_type.clone(),
        external_id,
        structured_data: data.finish(),
        relationships,
        explain,
    })
}

/// The output's `externalId`: the one field's value (external_id), or the match fields'
/// values joined with `|` (field_match, composite).
fn dedupe_key(schema: &Schema, record: &Value) -> Result<String, RecordError> {
    let dedupe = &schema.dedupe;
    let mut key = String::new();
    for (i, path) in dedupe.fields.iter().enumerate() {
        let problem = match path.get(record).map(key_text) {
            Some(Key::Text(text)) => {
                if i > 0 {
                    key.push('|');
                }
                key.push_str(&text);
                continue;
            }
            None | Some(Key::Empty) => "missing or empty".to_string(),
            Some(Key::NotScalar(kind)) => format!("{kind}, not a single value"),
        };
        let what = match dedupe.strategy {
            DedupeStrategy::ExternalId => "the external id field",
            DedupeStrategy::FieldMatch | DedupeStrategy::Composite => "a match field",
        };
        return Err(RecordError {
            code: ErrorCode::DedupeKey,
            field: None,
            message: format!(
                "{what} `{}` ({} dedupe) is {problem}",
                path.raw,
                dedupe.strategy.as_str()
            ),
        });
    }
    Ok(key)
}

fn check_field(plan: &FieldPlan, value: &Value) -> Result<(), RecordError> {
    if plan.required && validate::is_empty(value) {
        let what = if value.is_null() { "null" } else { "empty" };
        return Err(RecordError {
            code: ErrorCode::Required,
            field: Some(plan.target.clone()),
            message: format!(
                "`{}` is required but its value is {what} ({})",
                plan.target, plan.describe
            ),
        });
    }
    for validation in &plan.validations {
        if let Err(message) = validate::check(validation, value) {
            return Err(RecordError {
                code: ErrorCode::Validation,
                field: Some(plan.target.clone()),
                message,
            });
        }
    }
    Ok(())
}

/// How a value came about, turned into words only when explaining.
enum How {
    /// The mapping as the compiler described it.
    Plan,
    /// Conditional rule (0-based).
    Rule(usize),
    ConditionalDefault,
    NoRuleMatched,
    LookupDefault,
}

impl How {
    fn text(&self, plan: &FieldPlan) -> String {
        match (self, &plan.expr) {
            (How::Rule(i), Expr::Conditional { rules, .. }) => match rules.get(*i) {
                Some(rule) => format!(
                    "conditional rule {} ({})",
                    i + 1,
                    condition::describe(&rule.condition)
                ),
                None => format!("conditional rule {}", i + 1),
            },
            (How::ConditionalDefault, _) => "conditional default".to_string(),
            (How::NoRuleMatched, _) => {
                "conditional: no rule matched and no default (null)".to_string()
            }
            (How::LookupDefault, _) => format!("{} (not found: default)", plan.describe),
            _ => plan.describe.clone(),
        }
    }
}

fn eval(
    plan: &FieldPlan,
    schema: &Schema,
    env: &Env<'_>,
    ctx: &Context<'_>,
) -> Result<(Value, How), RecordError> {
    let record = env.record;
    let value = match &plan.expr {
        Expr::Direct(path) => get(path, record),
        Expr::Transform(path, steps) => run_steps(plan, path, steps, env)?,
        Expr::Conditional { rules, default } => {
            for (i, rule) in rules.iter().enumerate() {
                if condition::holds(&rule.condition, record) {
                    let value = match &rule.then {
                        Then::Value(v) => v.clone(),
                        Then::Field(path) => get(path, record),
                        Then::Transform(path, steps) => run_steps(plan, path, steps, env)?,
                    };
                    return Ok((value, How::Rule(i)));
                }
            }
            return Ok(match default {
                Some(v) => (v.clone(), How::ConditionalDefault),
                None => (Value::Null, How::NoRuleMatched),
            });
        }
        Expr::Value(v) => v.clone(),
        Expr::TaskTemplate(parts) => match parts.as_slice() {
            [TemplatePart::TaskKey(key)] => ctx.task.get(key).cloned().unwrap_or(Value::Null),
            parts => Value::String(render(parts, env)),
        },
        Expr::Template(parts) => Value::String(render(parts, env)),
        Expr::Join { fields, separator } => {
            let mut out = String::new();
            let mut first = true;
            for path in fields {
                let Some(v) = path.get(record) else { continue };
                if validate::is_empty(v) {
                    continue;
                }
                if !first {
                    out.push_str(separator);
                }
                first = false;
                push_text(&mut out, v);
            }
            Value::String(out)
        }
        Expr::LookupTable {
            field,
            table,
            default,
        } => {
            let found = match path_key(field, record) {
                Key::Text(key) => table.get(key.as_ref()),
                Key::Empty | Key::NotScalar(_) => None,
            };
            return Ok(match found {
                Some(v) => (v.clone(), How::Plan),
                None => (default.clone(), How::LookupDefault),
            });
        }
        Expr::LookupShard {
            field,
            shard_type,
            return_field,
            default,
        } => {
            let key = match path_key(field, record) {
                Key::Text(key) => key,
                Key::Empty | Key::NotScalar(_) => return Ok((default.clone(), How::LookupDefault)),
            };
            let found = ctx
                .shards
                .find(shard_type, schema.integration.as_deref(), &key)
                .map_err(|e| RecordError {
                    code: ErrorCode::Lookup,
                    field: Some(plan.target.clone()),
                    message: format!("looking up {shard_type} `{key}` failed: {}", e.message),
                })?;
            return Ok(match found {
                None => (default.clone(), How::LookupDefault),
                Some(mut shard) => match return_field {
                    None => (Value::String(shard.id), How::Plan),
                    Some(f) => (
                        shard.structured_data.remove(f).unwrap_or(Value::Null),
                        How::Plan,
                    ),
                },
            });
        }
        Expr::Flatten { field, path } => field
            .get(record)
            .and_then(|v| path.get(v))
            .cloned()
            .unwrap_or(Value::Null),
    };
    Ok((value, How::Plan))
}

fn get(path: &Path, record: &Value) -> Value {
    path.get(record).cloned().unwrap_or(Value::Null)
}

/// The value at `path` through `steps`; null skips the remaining steps.
fn run_steps(
    plan: &FieldPlan,
    path: &Path,
    steps: &[Step],
    env: &Env<'_>,
) -> Result<Value, RecordError> {
    let mut value = get(path, env.record);
    for step in steps {
        if value.is_null() {
            break;
        }
        value = step.transform.apply(value, env).map_err(|e| RecordError {
            code: ErrorCode::Transform,
            field: Some(plan.target.clone()),
            message: format!("{} of `{}` failed: {}", step.name, path.raw, e.message),
        })?;
    }
    Ok(value)
}

fn render(parts: &[TemplatePart], env: &Env<'_>) -> String {
    let mut out = String::new();
    for part in parts {
        match part {
            TemplatePart::Lit(text) => out.push_str(text),
            TemplatePart::Field(path) => {
                if let Some(v) = path.get(env.record) {
                    push_text(&mut out, v);
                }
            }
            TemplatePart::TaskKey(key) => {
                if let Some(v) = env.task.get(key) {
                    push_text(&mut out, v);
                }
            }
        }
    }
    out
}

/// A value inside text: strings as they are, null as nothing, the rest as JSON text.
fn push_text(out: &mut String, value: &Value) {
    match value {
        Value::Null => {}
        Value::String(s) => out.push_str(s),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            // Writing into a String cannot fail.
            let _ = write!(out, "{n}");
        }
        other => out.push_str(&other.to_string()),
    }
}

/// A value as a key (dedupe, lookup, relationship).
enum Key<'v> {
    Text(Cow<'v, str>),
    /// Null or `""`.
    Empty,
    /// `an array`, `an object`.
    NotScalar(&'static str),
}

fn key_text(value: &Value) -> Key<'_> {
    match value {
        Value::Null => Key::Empty,
        Value::String(s) if s.is_empty() => Key::Empty,
        Value::String(s) => Key::Text(Cow::Borrowed(s)),
        Value::Number(n) => Key::Text(Cow::Owned(n.to_string())),
        Value::Bool(b) => Key::Text(Cow::Borrowed(if *b { "true" } else { "false" })),
        Value::Array(_) => Key::NotScalar("an array"),
        Value::Object(_) => Key::NotScalar("an object"),
    }
}

fn path_key<'v>(path: &Path, record: &'v Value) -> Key<'v> {
    match path.get(record) {
        Some(v) => key_text(v),
        None => Key::Empty,
    }
}
