//! AST -> canonical `.cmap` text (`cmap fmt`, `cmap import`).
//!
//! One clause or mapping per line, 2-space indentation, a blank line between top-level
//! items, literals in the relaxed syntax on one line while the line stays within
//! [`WIDTH`] columns. Comments are placed by position: every line-level node (item,
//! clause, mapping, rule, entry, ...) is an *anchor*, every braced block a *container*;
//! a comment on its own line goes before the next anchor of its container (or at the
//! container's end), a trailing comment at the end of the line of the anchor it follows.
//! Printing is idempotent, and `parse(print(doc))` equals `doc` up to spans.

use std::collections::HashMap;

use serde_json::Value;

use crate::syntax::ast::*;
use crate::syntax::parser::{is_name, lexes_as, Rule};
use crate::syntax::ParamNames;

/// The column limit for literals printed on one line.
pub const WIDTH: usize = 100;

/// Words that start an expression: a field with one of these names is backticked.
const EXPR_WORDS: &[&str] = &[
    "true", "false", "null", "task", "match", "when", "lookup", "join", "flatten", "_",
];
/// Words that read as a value where a statement may follow a condition
/// (`where A exists` then `true = ...`): targets with these names are backticked.
const VALUE_WORDS: &[&str] = &["true", "false", "null"];
/// Words that end `expect failed FIELD` (the next test clause).
const TEST_WORDS: &[&str] = &["expect", "input", "task"];

/// Prints a document. With `params`, named transformation arguments that are exactly
/// the first parameters in order print positionally.
pub fn print(doc: &Document, params: Option<ParamNames<'_>>) -> String {
    let mut p = Printer {
        out: String::new(),
        params,
        places: place_comments(doc),
        used: HashMap::new(),
    };
    p.document(doc);
    // A comment that found no place is still never dropped.
    let rest: Vec<&Comment> = doc
        .comments
        .iter()
        .filter(|c| !p.used.contains_key(&key(c.span)))
        .collect();
    for c in rest {
        p.out.push_str(&format!("//{}\n", c.text));
    }
    p.out
}

type Key = (u32, u32);

fn key(span: Span) -> Key {
    (span.start, span.end)
}

/// Where a comment goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Place {
    Before(Key),
    Trailing(Key),
    End(Key),
}

const ROOT: Key = (0, u32::MAX);

/// The anchors and containers of a document, by span.
#[derive(Default)]
struct Layout {
    anchors: Vec<Span>,
    containers: Vec<Span>,
}

impl Layout {
    fn walk(&mut self, doc: &Document) {
        for item in &doc.items {
            match item {
                Item::Schema(s) => {
                    self.anchors.push(s.span);
                    self.containers.push(s.span);
                    self.anchors.extend(s.description.as_ref().map(|d| d.span));
                    self.anchors.extend(s.source.as_ref().map(|x| x.span));
                    self.anchors.extend(s.target.as_ref().map(|x| x.span));
                    self.anchors.extend(s.dedupe.as_ref().map(|x| x.span));
                    self.anchors.extend(s.active.as_ref().map(|x| x.span));
                    self.anchors.extend(s.meta.first().map(|(k, _)| k.span));
                    for m in &s.body {
                        match m {
                            MappingItem::Field(f) => {
                                self.anchors.push(f.span);
                                if let MappingExpr::Conditional(c) = &f.expr {
                                    self.containers.push(c.span);
                                    self.anchors.extend(c.arms.iter().map(arm_span));
                                }
                            }
                            MappingItem::Relationship(r) => self.anchors.push(r.span),
                        }
                    }
                    for t in &s.lookups {
                        self.table(t);
                    }
                    for t in &s.tests {
                        self.anchors.push(t.span);
                        self.containers.push(t.span);
                        self.anchors.extend(t.input.as_ref().map(|l| l.span));
                        self.anchors.extend(t.task.as_ref().map(|l| l.span));
                        self.anchors.extend(t.expect.iter().map(expect_span));
                    }
                }
                Item::Task(t) => {
                    self.anchors.push(t.span);
                    self.containers.push(t.span);
                    let names = [
                        &t.description,
                        &t.schema,
                        &t.integration,
                        &t.connection,
                        &t.direction,
                        &t.status,
                    ];
                    self.anchors
                        .extend(names.iter().filter_map(|n| n.as_ref().map(|n| n.span)));
                    self.anchors.extend(t.schedule.as_ref().map(schedule_span));
                    self.anchors.extend(t.config.as_ref().map(|l| l.span));
                    self.anchors.extend(t.retry.as_ref().map(|r| r.span));
                    self.anchors.extend(t.notify.as_ref().map(|n| n.span));
                    self.anchors.extend(t.meta.first().map(|(k, _)| k.span));
                }
                Item::Connection(k) => {
                    self.anchors.push(k.span);
                    self.containers.push(k.span);
                    let names = [&k.integration, &k.scope, &k.tenant];
                    self.anchors
                        .extend(names.iter().filter_map(|n| n.as_ref().map(|n| n.span)));
                    if let Some(a) = &k.auth {
                        self.anchors.push(a.span);
                        self.containers.push(a.span);
                        self.anchors
                            .extend(a.fields.iter().map(|(key, _)| key.span));
                    }
                    self.anchors.extend(k.settings.as_ref().map(|l| l.span));
                    self.anchors.extend(k.meta.first().map(|(key, _)| key.span));
                }
                Item::Lookup(t) => self.table(t),
                Item::Rates(r) => {
                    self.anchors.push(r.span);
                    self.containers.push(r.span);
                    self.anchors.extend(r.rates.iter().map(|(k, _)| k.span));
                }
                Item::Type(t) => {
                    self.anchors.push(t.span);
                    self.containers.push(t.span);
                    self.fields(&t.fields);
                }
            }
        }
    }

    fn table(&mut self, t: &LookupTable) {
        self.anchors.push(t.span);
        self.containers.push(t.span);
        self.anchors.extend(t.entries.iter().map(|(k, _)| k.span));
    }

    fn fields(&mut self, fields: &[FieldDef]) {
        for f in fields {
            self.anchors.push(f.span);
            if let TypeExpr::Object(inner) = &f.ty {
                self.containers.push(f.span);
                self.fields(inner);
            }
        }
    }
}

fn arm_span(a: &Arm) -> Span {
    match a {
        Arm::Rule { span, .. } | Arm::Default { span, .. } => *span,
    }
}

fn expect_span(e: &Expect) -> Span {
    match e {
        Expect::Data(l) | Expect::ExternalId(l) | Expect::Relationships(l) => l.span,
        Expect::Skipped(span) | Expect::Failed { span, .. } => *span,
    }
}

fn schedule_span(s: &Schedule) -> Span {
    match s {
        Schedule::Manual { span }
        | Schedule::Interval { span, .. }
        | Schedule::Cron { span, .. }
        | Schedule::Realtime { span, .. }
        | Schedule::Unknown { span, .. } => *span,
    }
}

/// Decides where each comment of the document goes.
fn place_comments(doc: &Document) -> HashMap<Place, Vec<Comment>> {
    let mut places: HashMap<Place, Vec<Comment>> = HashMap::new();
    if doc.comments.is_empty() {
        return places;
    }
    let mut layout = Layout::default();
    layout.walk(doc);
    for c in &doc.comments {
        // The innermost container holding the comment.
        let container = layout
            .containers
            .iter()
            .filter(|k| k.start <= c.span.start && c.span.end <= k.end)
            .min_by_key(|k| k.end - k.start)
            .map_or(ROOT, |k| key(*k));
        let preceding = layout
            .anchors
            .iter()
            .filter(|a| a.start < c.span.start)
            .max_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
        let place = match preceding {
            Some(a) if c.trailing => Place::Trailing(key(*a)),
            _ => {
                let next = layout
                    .anchors
                    .iter()
                    .filter(|a| a.start >= c.span.end && a.start < container.1)
                    .min_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
                match next {
                    Some(a) => Place::Before(key(*a)),
                    None => Place::End(container),
                }
            }
        };
        places.entry(place).or_default().push(c.clone());
    }
    places
}

struct Printer<'p> {
    out: String,
    params: Option<ParamNames<'p>>,
    places: HashMap<Place, Vec<Comment>>,
    /// Comments already printed (by span).
    used: HashMap<Key, ()>,
}

fn pad(indent: usize) -> String {
    "  ".repeat(indent)
}

impl Printer<'_> {
    fn take(&mut self, place: Place) -> Vec<Comment> {
        let cs = self.places.remove(&place).unwrap_or_default();
        for c in &cs {
            self.used.insert(key(c.span), ());
        }
        cs
    }

    /// True when some comment must be printed inside `span` (so it cannot be one line).
    fn has_inner_comments(&self, span: Span) -> bool {
        self.places.iter().any(|(place, cs)| {
            let k = match place {
                Place::Before(k) | Place::Trailing(k) | Place::End(k) => *k,
            };
            !cs.is_empty() && k != key(span) && span.start <= k.0 && k.1 <= span.end
        })
    }

    /// Prints one line-level node: the comments before it, its text (the trailing
    /// comment at the end of its first line), then extra trailing comments.
    fn line(&mut self, indent: usize, text: &str, anchor: Option<Span>) {
        let (before, trailing) = match anchor {
            Some(a) => (
                self.take(Place::Before(key(a))),
                self.take(Place::Trailing(key(a))),
            ),
            None => (Vec::new(), Vec::new()),
        };
        for c in &before {
            // Keep a paragraph break the author put above a comment, unless the
            // comment opens a block or the file (where no blank line belongs).
            if c.blank_before
                && !self.out.is_empty()
                && !self.out.ends_with("{\n")
                && !self.out.ends_with("\n\n")
            {
                self.out.push('\n');
            }
            self.out.push_str(&format!("{}//{}\n", pad(indent), c.text));
        }
        // A comment block separated from its node by a blank line (a file header, a
        // section title) stays separated.
        if before.last().is_some_and(|c| c.blank_after) {
            self.out.push('\n');
        }
        self.out.push_str(&pad(indent));
        let mut trailing = trailing.into_iter();
        match (text.split_once('\n'), trailing.next()) {
            (Some((head, rest)), Some(c)) => {
                self.out.push_str(&format!("{head} //{}\n{rest}\n", c.text));
            }
            (None, Some(c)) => self.out.push_str(&format!("{text} //{}\n", c.text)),
            (_, None) => {
                self.out.push_str(text);
                self.out.push('\n');
            }
        }
        // A line holds one trailing comment; the others follow on lines of their own.
        for c in trailing {
            self.out.push_str(&format!("{}//{}\n", pad(indent), c.text));
        }
    }

    /// Closes a container: its end comments, one level in, then `}` and `suffix`.
    fn close(&mut self, indent: usize, container: Span, suffix: &str) {
        for c in self.take(Place::End(key(container))) {
            self.out
                .push_str(&format!("{}//{}\n", pad(indent + 1), c.text));
        }
        self.out.push_str(&format!("{}}}{suffix}\n", pad(indent)));
    }

    fn document(&mut self, doc: &Document) {
        for (i, item) in doc.items.iter().enumerate() {
            if i > 0 {
                self.out.push('\n');
            }
            match item {
                Item::Schema(s) => self.schema(s),
                Item::Task(t) => self.task(t),
                Item::Connection(k) => self.connection(k),
                Item::Lookup(t) => self.lookup_table(0, t),
                Item::Rates(r) => self.rates(r),
                Item::Type(t) => self.type_def(t),
            }
        }
        let end = self.take(Place::End(ROOT));
        if !end.is_empty() && !doc.items.is_empty() {
            self.out.push('\n');
        }
        for c in end {
            self.out.push_str(&format!("//{}\n", c.text));
        }
    }

    // -----------------------------------------------------------------------------------
    // Schemas
    // -----------------------------------------------------------------------------------

    fn schema(&mut self, s: &Schema) {
        let mut head = format!("schema {}", ident(&s.id.node, &[]));
        if let Some(n) = &s.name {
            head.push_str(&format!(" {}", string(&n.node)));
        }
        self.line(0, &format!("{head} {{"), Some(s.span));
        let mut clauses = false;
        if let Some(d) = &s.description {
            self.line(1, &format!("description {}", string(&d.node)), Some(d.span));
            clauses = true;
        }
        if let Some(src) = &s.source {
            let mut text = format!(
                "source {}",
                dotted(
                    src.integration.as_ref().map(|n| n.node.as_str()),
                    &src.entity.node
                )
            );
            for (i, f) in src.filters.iter().enumerate() {
                text.push_str(if i == 0 { " where " } else { " and " });
                text.push_str(&condition(f));
            }
            self.line(1, &text, Some(src.span));
            clauses = true;
        }
        if let Some(t) = &s.target {
            let mut text = format!("target {}", ident(&t.shard_type.node, &[]));
            if let Some(flags) = &t.flags {
                let flags: Vec<String> = flags.iter().map(|f| f.node.clone()).collect();
                text.push_str(&if flags.is_empty() {
                    " {}".to_string()
                } else {
                    format!(" {{ {} }}", flags.join(", "))
                });
            }
            self.line(1, &text, Some(t.span));
            clauses = true;
        }
        if let Some(d) = &s.dedupe {
            let fields: Vec<String> = d.fields.iter().map(|f| path(&f.node)).collect();
            self.line(
                1,
                &format!("dedupe {}({})", d.strategy.node, fields.join(", ")),
                Some(d.span),
            );
            clauses = true;
        }
        if let Some(a) = s.active.as_ref().filter(|a| !a.node) {
            self.line(1, "inactive", Some(a.span));
            clauses = true;
        }
        if !s.meta.is_empty() {
            self.meta(1, &s.meta);
            clauses = true;
        }
        let mut sections = clauses;
        if !s.body.is_empty() {
            if sections {
                self.out.push('\n');
            }
            for m in &s.body {
                match m {
                    MappingItem::Field(f) => self.field_mapping(1, f),
                    MappingItem::Relationship(r) => {
                        let text = format!(
                            "{} -> {} {} by {}({})",
                            ident(&r.target.node, VALUE_WORDS),
                            r.kind.node,
                            ident(&r.shard_type.node, &[]),
                            if r.by_external_id {
                                "external_id"
                            } else {
                                "id"
                            },
                            path(&r.field.node)
                        );
                        self.line(1, &text, Some(r.span));
                    }
                }
            }
            sections = true;
        }
        for t in &s.lookups {
            if sections {
                self.out.push('\n');
            }
            self.lookup_table(1, t);
            sections = true;
        }
        for t in &s.tests {
            if sections {
                self.out.push('\n');
            }
            self.test(1, t);
            sections = true;
        }
        self.close(0, s.span, "");
    }

    fn meta(&mut self, indent: usize, entries: &[(Name, Literal)]) {
        let text = format!(
            "meta {}",
            object(
                entries.iter().map(|(k, v)| (k.node.as_str(), &v.node)),
                indent,
                5
            )
        );
        self.line(indent, &text, entries.first().map(|(k, _)| k.span));
    }

    fn field_mapping(&mut self, indent: usize, f: &FieldMapping) {
        let mut head = String::new();
        if let Some(id) = &f.id {
            head.push_str(&format!("@id({}) ", string(&id.node)));
        }
        head.push_str(&ident(&f.target.node, VALUE_WORDS));
        if f.required.is_some() {
            head.push('!');
        }
        head.push_str(" = ");
        let validate = if f.validation.is_empty() {
            String::new()
        } else {
            let rules: Vec<String> = f.validation.iter().map(validation).collect();
            format!(" validate {}", rules.join(", "))
        };
        match &f.expr {
            MappingExpr::Conditional(c) => {
                let (word, field) = match &c.style {
                    CondStyle::Match { field }
                        if c.arms.iter().all(|a| match a {
                            Arm::Rule { condition, .. } => condition.field.node == field.node,
                            Arm::Default { .. } => true,
                        }) =>
                    {
                        (format!("match {}", path(&field.node)), true)
                    }
                    _ => ("when".to_string(), false),
                };
                self.line(indent, &format!("{head}{word} {{"), Some(f.span));
                for arm in &c.arms {
                    let text = match arm {
                        Arm::Default { value, .. } => format!("_ => {}", inline(&value.node)),
                        Arm::Rule {
                            condition: cond,
                            then,
                            ..
                        } => {
                            let test = if field {
                                pattern(cond)
                            } else {
                                condition(cond)
                            };
                            format!("{test} => {}", self.then(then))
                        }
                    };
                    self.line(indent + 1, &text, Some(arm_span(arm)));
                }
                self.close(indent, c.span, &validate);
            }
            expr => {
                let col = indent * 2 + head.chars().count();
                let text = format!("{head}{}{validate}", self.expr(expr, indent, col));
                self.line(indent, &text, Some(f.span));
            }
        }
    }

    fn expr(&self, e: &MappingExpr, indent: usize, col: usize) -> String {
        match e {
            MappingExpr::Direct { field } => ident(&field.node, EXPR_WORDS),
            MappingExpr::Transform { field, steps } => {
                format!("{}{}", path(&field.node), self.steps(steps))
            }
            MappingExpr::Default { value } => match &value.node {
                Value::String(s) => match task_key(s) {
                    Some(k) => format!("task.{k}"),
                    None => string(s).replace("${", "\\${"),
                },
                v => value_at(v, indent, col),
            },
            MappingExpr::Composite(c) => match &c.template {
                Some(t) => string(&t.node),
                None => {
                    let mut args: Vec<String> = c.fields.iter().map(|f| path(&f.node)).collect();
                    if let Some(sep) = &c.separator {
                        args.push(format!("sep: {}", string(&sep.node)));
                    }
                    format!("join({})", args.join(", "))
                }
            },
            MappingExpr::Lookup(l) => {
                let from = match &l.from {
                    LookupFrom::Table(t) => ident(&t.node, &["shard"]),
                    LookupFrom::Shard {
                        shard_type,
                        return_field,
                    } => {
                        let field = return_field
                            .as_ref()
                            .map(|r| format!(".{}", ident(&r.node, &[])));
                        format!(
                            "shard {}{}",
                            ident(&shard_type.node, &["else"]),
                            field.unwrap_or_default()
                        )
                    }
                };
                let default = l
                    .default
                    .as_ref()
                    .map(|d| format!(" else {}", inline(&d.node)))
                    .unwrap_or_default();
                format!("lookup {} in {from}{default}", path(&l.field.node))
            }
            MappingExpr::Flatten { field, path: p } => {
                let head = ident(&field.node, EXPR_WORDS);
                if is_path_tail(&p.node) {
                    let sep = if p.node.starts_with('[') { "" } else { "." };
                    format!("{head}{sep}{}", p.node)
                } else {
                    format!("flatten({}, {})", ident(&field.node, &[]), string(&p.node))
                }
            }
            // Not expressible in `.cmap`: kept visible so `check` reports it.
            MappingExpr::Unknown { mapping_type } => string(&mapping_type.node),
            MappingExpr::Conditional(_) => String::new(),
        }
    }

    fn steps(&self, steps: &[Transformation]) -> String {
        steps
            .iter()
            .map(|t| format!(" | {}", self.transformation(t)))
            .collect()
    }

    fn transformation(&self, t: &Transformation) -> String {
        if t.args.is_empty() {
            return t.name.node.clone();
        }
        // Named arguments that are the first parameters, in order, print positionally.
        let names = self.params.and_then(|f| f(&t.name.node));
        let positional = names.is_some_and(|names| {
            t.args.len() <= names.len()
                && t.args
                    .iter()
                    .zip(&names)
                    .all(|(a, n)| a.name.as_ref().is_none_or(|an| an.node == *n))
        });
        let args: Vec<String> = t
            .args
            .iter()
            .map(|a| match (&a.name, positional) {
                (Some(n), false) => format!("{}: {}", n.node, inline(&a.value.node)),
                _ => inline(&a.value.node),
            })
            .collect();
        format!("{}({})", t.name.node, args.join(", "))
    }

    fn then(&self, t: &Then) -> String {
        match t {
            Then::Value(v) => inline(&v.node),
            Then::Field(f) => path(&f.node),
            Then::Transform { field, steps } => {
                format!("{}{}", path(&field.node), self.steps(steps))
            }
        }
    }

    fn lookup_table(&mut self, indent: usize, t: &LookupTable) {
        self.line(
            indent,
            &format!("lookup {} {{", ident(&t.id.node, &[])),
            Some(t.span),
        );
        for (k, v) in &t.entries {
            let text = format!("{} => ", string(&k.node));
            let col = (indent + 1) * 2 + text.chars().count();
            self.line(
                indent + 1,
                &format!("{text}{}", value_at(&v.node, indent + 1, col)),
                Some(k.span),
            );
        }
        self.close(indent, t.span, "");
    }

    fn test(&mut self, indent: usize, t: &TestCase) {
        self.line(
            indent,
            &format!("test {} {{", string(&t.name.node)),
            Some(t.span),
        );
        let inner = indent + 1;
        if let Some(i) = &t.input {
            self.line(
                inner,
                &format!("input {}", value_at(&i.node, inner, inner * 2 + 6)),
                Some(i.span),
            );
        }
        if let Some(k) = &t.task {
            self.line(
                inner,
                &format!("task {}", value_at(&k.node, inner, inner * 2 + 5)),
                Some(k.span),
            );
        }
        for e in &t.expect {
            let text = match e {
                Expect::Data(v) => format!("expect {}", value_at(&v.node, inner, inner * 2 + 7)),
                Expect::ExternalId(v) => format!(
                    "expect external_id {}",
                    value_at(&v.node, inner, inner * 2 + 19)
                ),
                Expect::Relationships(v) => format!(
                    "expect relationships {}",
                    value_at(&v.node, inner, inner * 2 + 21)
                ),
                Expect::Skipped(_) => "expect skipped".to_string(),
                Expect::Failed { field: None, .. } => "expect failed".to_string(),
                Expect::Failed { field: Some(f), .. } => {
                    format!("expect failed {}", ident(&f.node, TEST_WORDS))
                }
            };
            self.line(inner, &text, Some(expect_span(e)));
        }
        self.close(indent, t.span, "");
    }

    // -----------------------------------------------------------------------------------
    // Tasks, rates, types
    // -----------------------------------------------------------------------------------

    fn task(&mut self, t: &Task) {
        let mut head = format!("task {}", ident(&t.id.node, &[]));
        if let Some(n) = &t.name {
            head.push_str(&format!(" {}", string(&n.node)));
        }
        self.line(0, &format!("{head} {{"), Some(t.span));
        if let Some(d) = &t.description {
            self.line(1, &format!("description {}", string(&d.node)), Some(d.span));
        }
        for (word, n) in [
            ("schema", &t.schema),
            ("integration", &t.integration),
            ("connection", &t.connection),
            ("direction", &t.direction),
        ] {
            if let Some(n) = n {
                self.line(1, &format!("{word} {}", ident(&n.node, &[])), Some(n.span));
            }
        }
        if let Some(s) = &t.schedule {
            let text = match s {
                Schedule::Manual { .. } => "manual".to_string(),
                Schedule::Interval { interval, unit, .. } => {
                    format!("every {} {}", inline(&interval.node), unit.node)
                }
                Schedule::Cron {
                    expression,
                    timezone,
                    ..
                } => {
                    let zone = timezone
                        .as_ref()
                        .map(|z| format!(" in {}", string(&z.node)))
                        .unwrap_or_default();
                    format!("cron {}{zone}", string(&expression.node))
                }
                Schedule::Realtime {
                    webhook_url,
                    verification_token,
                    ..
                } => {
                    let mut text = "realtime".to_string();
                    if let Some(u) = webhook_url {
                        text.push_str(&format!(" {}", string(&u.node)));
                    }
                    if let Some(v) = verification_token {
                        text.push_str(&format!(" token {}", string(&v.node)));
                    }
                    text
                }
                Schedule::Unknown { kind, .. } => ident(&kind.node, &[]),
            };
            self.line(1, &format!("schedule {text}"), Some(schedule_span(s)));
        }
        if let Some(c) = &t.config {
            self.line(
                1,
                &format!("config {}", value_at(&c.node, 1, 9)),
                Some(c.span),
            );
        }
        if let Some(n) = &t.status {
            self.line(1, &format!("status {}", ident(&n.node, &[])), Some(n.span));
        }
        if let Some(r) = &t.retry {
            let delay = match &r.delay_seconds.node {
                Value::Number(n) => format!("{n}s"),
                v => inline(v),
            };
            let exp = if r.exponential.as_ref().is_some_and(|e| e.node) {
                " exponential"
            } else {
                ""
            };
            self.line(
                1,
                &format!(
                    "retry {} times every {delay}{exp}",
                    inline(&r.max_retries.node)
                ),
                Some(r.span),
            );
        }
        if let Some(n) = &t.notify {
            let events: Vec<&str> = n.events.iter().map(|e| e.node.as_str()).collect();
            let mut text = format!("notify on {}", events.join(", "));
            if !n.recipients.is_empty() {
                let to: Vec<String> = n.recipients.iter().map(|r| string(&r.node)).collect();
                text.push_str(&format!(" -> {}", to.join(", ")));
            }
            self.line(1, &text, Some(n.span));
        }
        if !t.meta.is_empty() {
            self.meta(1, &t.meta);
        }
        self.close(0, t.span, "");
    }

    fn connection(&mut self, k: &Connection) {
        let mut head = format!("connection {}", ident(&k.id.node, &[]));
        if let Some(n) = &k.name {
            head.push_str(&format!(" {}", string(&n.node)));
        }
        self.line(0, &format!("{head} {{"), Some(k.span));
        for (word, n) in [("integration", &k.integration), ("scope", &k.scope)] {
            if let Some(n) = n {
                self.line(1, &format!("{word} {}", ident(&n.node, &[])), Some(n.span));
            }
        }
        if let Some(t) = &k.tenant {
            self.line(1, &format!("tenant {}", string(&t.node)), Some(t.span));
        }
        if let Some(a) = &k.auth {
            let head = format!("auth {}", ident(&a.kind.node, &[]));
            if a.fields.is_empty() {
                self.line(1, &head, Some(a.span));
                // `auth x {}` with comments inside prints them after the clause.
                for c in self.take(Place::End(key(a.span))) {
                    self.out.push_str(&format!("{}//{}\n", pad(1), c.text));
                }
            } else {
                // One credential per line: each is a decision worth a line (and a
                // comment), and a diff of a changed secret source stays one line.
                self.line(1, &format!("{head} {{"), Some(a.span));
                for (name, value) in &a.fields {
                    let text = format!("{}: {}", object_key(&name.node), credential(value));
                    self.line(2, &text, Some(name.span));
                }
                self.close(1, a.span, "");
            }
        }
        if let Some(l) = &k.settings {
            self.line(
                1,
                &format!("settings {}", value_at(&l.node, 1, 11)),
                Some(l.span),
            );
        }
        if !k.meta.is_empty() {
            self.meta(1, &k.meta);
        }
        self.close(0, k.span, "");
    }

    fn rates(&mut self, r: &RateTable) {
        let head = format!("rates {} ", ident(&r.base.node, &[]));
        let one_line = object(
            r.rates.iter().map(|(k, v)| (k.node.as_str(), &v.node)),
            0,
            0,
        );
        if !self.has_inner_comments(r.span)
            && head.len() + one_line.chars().count() <= WIDTH
            && !one_line.contains('\n')
        {
            self.line(0, &format!("{head}{one_line}"), Some(r.span));
            self.take(Place::End(key(r.span)));
            return;
        }
        self.line(0, &format!("{head}{{"), Some(r.span));
        for (k, v) in &r.rates {
            self.line(
                1,
                &format!("{}: {}", object_key(&k.node), inline(&v.node)),
                Some(k.span),
            );
        }
        self.close(0, r.span, "");
    }

    fn type_def(&mut self, t: &TypeDef) {
        let word = match t.kind {
            TypeDefKind::ShardType => "shardtype",
            TypeDefKind::Entity => "entity",
        };
        let (first, rest) = match t.id.node.split_once('.') {
            Some((a, b)) if t.kind == TypeDefKind::Entity => (Some(a), b),
            _ => (None, t.id.node.as_str()),
        };
        let mut head = format!("{word} {}", dotted(first, rest));
        if let Some(n) = &t.name {
            head.push_str(&format!(" {}", string(&n.node)));
        }
        self.line(0, &format!("{head} {{"), Some(t.span));
        self.field_defs(1, &t.fields);
        self.close(0, t.span, "");
    }

    fn field_defs(&mut self, indent: usize, fields: &[FieldDef]) {
        for f in fields {
            let head = format!(
                "{}{}: ",
                ident(&f.name.node, &[]),
                if f.optional { "?" } else { "" }
            );
            match &f.ty {
                TypeExpr::Object(inner) => {
                    let one = type_expr(&f.ty);
                    if !self.has_inner_comments(f.span)
                        && indent * 2 + head.len() + one.chars().count() <= WIDTH
                    {
                        self.line(indent, &format!("{head}{one}"), Some(f.span));
                    } else {
                        self.line(indent, &format!("{head}{{"), Some(f.span));
                        self.field_defs(indent + 1, inner);
                        self.close(indent, f.span, "");
                    }
                }
                ty => self.line(indent, &format!("{head}{}", type_expr(ty)), Some(f.span)),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Names, conditions, literals
// ---------------------------------------------------------------------------------------

/// A name: bare when it is a plain identifier not in `reserved`, else backticked.
fn ident(name: &str, reserved: &[&str]) -> String {
    if is_name(name) && !reserved.contains(&name) {
        name.to_string()
    } else {
        format!("`{name}`")
    }
}

/// `integration.entity` / `shard.field`, each part a name.
fn dotted(first: Option<&str>, second: &str) -> String {
    match first {
        Some(f) => format!("{}.{}", ident(f, &[]), ident(second, &[])),
        None => ident(second, &[]),
    }
}

/// A field path (`Email`, `MailingAddress.street`, `items[0].name`): bare when it reads
/// back as the same path, else the whole text backticked.
fn path(p: &str) -> String {
    let head = p.split(['.', '[']).next().unwrap_or_default();
    if !p.contains('`') && lexes_as(Rule::path, p) && !EXPR_WORDS.contains(&head) {
        p.to_string()
    } else {
        format!("`{p}`")
    }
}

/// True when a flatten path can follow its field bare (`street`, `[0].name`).
fn is_path_tail(p: &str) -> bool {
    if p.starts_with('[') {
        lexes_as(Rule::path, &format!("x{p}")) && !p.contains('`')
    } else {
        lexes_as(Rule::path, p) && !p.contains('`')
    }
}

/// `{{task.KEY}}` -> `KEY`, when KEY is a plain identifier.
fn task_key(s: &str) -> Option<&str> {
    let k = s.strip_prefix("{{task.")?.strip_suffix("}}")?;
    is_name(k).then_some(k)
}

fn op_symbol(op: &str) -> &str {
    match op {
        "eq" => "==",
        "neq" => "!=",
        "gt" => ">",
        "gte" => ">=",
        "lt" => "<",
        "lte" => "<=",
        "not_in" => "not in",
        "not_exists" => "not exists",
        other => other,
    }
}

fn condition(c: &Condition) -> String {
    let field = path(&c.field.node);
    match &c.value {
        Some(v) => format!("{field} {} {}", op_symbol(&c.op.node), inline(&v.node)),
        None => format!("{field} {}", op_symbol(&c.op.node)),
    }
}

/// A `match` pattern: the condition without its field; `==` is implied.
fn pattern(c: &Condition) -> String {
    match (&c.value, c.op.node.as_str()) {
        (Some(v), "eq") => inline(&v.node),
        (Some(v), op) => format!("{} {}", op_symbol(op), inline(&v.node)),
        (None, op) => op_symbol(op).to_string(),
    }
}

fn validation(v: &Validation) -> String {
    let mut args = Vec::new();
    if let Some(value) = &v.value {
        args.push(inline(&value.node));
    }
    if let Some(m) = &v.message {
        args.push(format!("message: {}", string(&m.node)));
    }
    if args.is_empty() {
        v.rule.node.clone()
    } else {
        format!("{}({})", v.rule.node, args.join(", "))
    }
}

fn type_expr(t: &TypeExpr) -> String {
    match t {
        TypeExpr::Named(n) => n.node.clone(),
        TypeExpr::Array(inner) => format!("[{}]", type_expr(inner)),
        TypeExpr::Enum(items) => items
            .iter()
            .map(|s| string(&s.node))
            .collect::<Vec<_>>()
            .join(" | "),
        TypeExpr::Object(fields) if fields.is_empty() => "{}".to_string(),
        TypeExpr::Object(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .map(|f| {
                    format!(
                        "{}{}: {}",
                        ident(&f.name.node, &[]),
                        if f.optional { "?" } else { "" },
                        type_expr(&f.ty)
                    )
                })
                .collect();
            format!("{{ {} }}", fields.join(", "))
        }
    }
}

/// A JSON string literal.
fn string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

fn object_key(k: &str) -> String {
    if is_name(k) {
        k.to_string()
    } else {
        string(k)
    }
}

fn credential(c: &Credential) -> String {
    match c {
        Credential::Plain(l) => inline(&l.node),
        Credential::Env { var, .. } => format!("env({})", string(&var.node)),
        Credential::Stored(_) => "stored".to_string(),
    }
}

/// A literal on one line.
fn inline(v: &Value) -> String {
    match v {
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(inline).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) if map.is_empty() => "{}".to_string(),
        Value::Object(map) => {
            let entries: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", object_key(k), inline(v)))
                .collect();
            format!("{{ {} }}", entries.join(", "))
        }
        Value::String(s) => string(s),
        other => other.to_string(),
    }
}

/// A literal that starts at column `col` of a line indented `indent` levels: on one
/// line when it fits in [`WIDTH`], else one entry per line.
fn value_at(v: &Value, indent: usize, col: usize) -> String {
    let flat = inline(v);
    if col + flat.chars().count() <= WIDTH {
        return flat;
    }
    match v {
        Value::Object(map) if !map.is_empty() => {
            object(map.iter().map(|(k, v)| (k.as_str(), v)), indent, col)
        }
        Value::Array(items) if !items.is_empty() => {
            let mut out = "[\n".to_string();
            for item in items {
                let inner = indent + 1;
                out.push_str(&format!(
                    "{}{},\n",
                    pad(inner),
                    value_at(item, inner, inner * 2)
                ));
            }
            out.push_str(&format!("{}]", pad(indent)));
            out
        }
        _ => flat,
    }
}

/// An object from its entries, at column `col` of a line indented `indent` levels.
fn object<'v>(
    entries: impl Iterator<Item = (&'v str, &'v Value)>,
    indent: usize,
    col: usize,
) -> String {
    let entries: Vec<(&str, &Value)> = entries.collect();
    if entries.is_empty() {
        return "{}".to_string();
    }
    let flat: Vec<String> = entries
        .iter()
        .map(|(k, v)| format!("{}: {}", object_key(k), inline(v)))
        .collect();
    let flat = format!("{{ {} }}", flat.join(", "));
    if col + flat.chars().count() <= WIDTH {
        return flat;
    }
    let inner = indent + 1;
    let mut out = "{\n".to_string();
    for (k, v) in entries {
        let key = format!("{}: ", object_key(k));
        let col = inner * 2 + key.chars().count();
        // One entry per line needs no comma: the grammar reads line-separated entries,
        // and objects then read like the rest of a .cmap file.
        out.push_str(&format!("{}{key}{}\n", pad(inner), value_at(v, inner, col)));
    }
    out.push_str(&format!("{}}}", pad(indent)));
    out
}

#[cfg(test)]
mod tests;
