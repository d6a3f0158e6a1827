//! AST -> canonical `.cmap` text (`cmap fmt`, `cmap import`).
//!
//! One clause or mapping per line, 2-space indentation, a blank line between top-level
//! items, literals in the relaxed syntax on one line while the line stays within
//! [`WIDTH`] columns. Comments are placed by position: every line-level node (item,
//! clause, mapping, rule, entry, ...) is an *anchor*, every braced block a *container*;
//! a comment on its own line goes before the next anchor of its container (or at the
//! container's end), a trailing comment at the end of the line of the anchor it follows.
//! Printing is idempotent, and `parse(print(doc))` equals `doc` up to spans.
//!
//! This file holds the line and comment machinery and how names and literals are
//! written; each kind of item has its own file, in parallel with the `.cmap` parser
//! (`parser/convert/`), the JSON decoder and encoder (`json/decode/`, `json/encode/`):
//! `schema`, `mapping`, `test_case`, `task`, `connection`, `integration`, `table` and
//! `type_def`.

mod connection;
mod integration;
mod mapping;
mod schema;
mod table;
mod task;
mod test_case;
mod type_def;

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
                Item::Schema(s) => self.schema(s),
                Item::Task(t) => self.task(t),
                Item::Connection(k) => self.connection(k),
                Item::Integration(k) => self.integration(k),
                Item::Lookup(t) => self.table(t),
                Item::Rates(r) => self.rates(r),
                Item::Type(t) => self.type_def(t),
            }
        }
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
                Item::Integration(k) => self.integration(k),
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

/// A [`Tree`] on one line; every entry is kept, a key written twice included (`check`
/// reports it; `fmt` does not silently drop one of the two).
fn inline_tree(t: &Tree) -> String {
    match &t.node {
        TreeNode::Scalar(v) => inline(v),
        TreeNode::Array(items) => format!(
            "[{}]",
            items.iter().map(inline_tree).collect::<Vec<_>>().join(", ")
        ),
        TreeNode::Object(entries) if entries.is_empty() => "{}".to_string(),
        TreeNode::Object(entries) => {
            let entries: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}: {}", object_key(&k.node), inline_tree(v)))
                .collect();
            format!("{{ {} }}", entries.join(", "))
        }
    }
}

/// [`value_at`] for a [`Tree`] (`settings`, `config`): the same layout, every entry kept.
fn tree_at(t: &Tree, indent: usize, col: usize) -> String {
    let flat = inline_tree(t);
    if col + flat.chars().count() <= WIDTH {
        return flat;
    }
    let inner = indent + 1;
    match &t.node {
        TreeNode::Object(entries) if !entries.is_empty() => {
            let mut out = "{\n".to_string();
            for (k, v) in entries {
                let key = format!("{}: ", object_key(&k.node));
                let col = inner * 2 + key.chars().count();
                out.push_str(&format!("{}{key}{}\n", pad(inner), tree_at(v, inner, col)));
            }
            out.push_str(&format!("{}}}", pad(indent)));
            out
        }
        TreeNode::Array(items) if !items.is_empty() => {
            let mut out = "[\n".to_string();
            for item in items {
                out.push_str(&format!(
                    "{}{},\n",
                    pad(inner),
                    tree_at(item, inner, inner * 2)
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
