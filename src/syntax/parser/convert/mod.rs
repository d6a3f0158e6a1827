//! pest pairs -> AST nodes, with exact spans.
//!
//! Every pair comes from one `CmapParser::parse` call over a slice of the file that
//! starts at byte `base` ([`Conv::base`]), so spans are `base + pair offset`. The
//! recovering parser parses items and statements one by one, hence the builders: a
//! [`Block`] is opened from an item's head and fed statements one at a time.
//!
//! This file holds what every item shares (names, strings, literals, paths) and the
//! block machinery; each kind of item has its own file, in parallel with the JSON decoder
//! (`json/decode/`), the JSON encoder (`json/encode/`) and the printer (`printer/`):
//! `schema`, `mapping` (a schema's field mappings and relationships), `test_case`,
//! `task`, `connection`, `integration`, `table` (lookup and rate tables) and `type_def`.

mod connection;
mod integration;
mod mapping;
mod schema;
mod table;
mod task;
mod test_case;
mod type_def;

use pest::iterators::Pair;
use serde_json::{Map, Number, Value};

use super::Rule;
use crate::diagnostics::{Code, Diagnostic};
use crate::syntax::ast::*;

/// Converts the pairs of one parse call.
pub(super) struct Conv<'d> {
    pub file: FileId,
    /// Byte offset of the parsed slice in the file.
    pub base: usize,
    pub diags: &'d mut Vec<Diagnostic>,
}

/// Punctuation rules carry no data; they exist for error messages.
fn is_punct(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::eq_sign
            | Rule::arrow
            | Rule::fat_arrow
            | Rule::lbrace
            | Rule::rbrace
            | Rule::lparen
            | Rule::rparen
            | Rule::rbracket
            | Rule::colon
    )
}

/// The children of a pair that carry data.
fn parts<'i>(pair: &Pair<'i, Rule>) -> Vec<Pair<'i, Rule>> {
    pair.clone()
        .into_inner()
        .filter(|p| !is_punct(p.as_rule()))
        .collect()
}

fn first<'i>(pair: &Pair<'i, Rule>, rule: Rule) -> Option<Pair<'i, Rule>> {
    pair.clone().into_inner().find(|p| p.as_rule() == rule)
}

fn all<'i>(pair: &Pair<'i, Rule>, rule: Rule) -> Vec<Pair<'i, Rule>> {
    pair.clone()
        .into_inner()
        .filter(|p| p.as_rule() == rule)
        .collect()
}

/// A keyword's spelling, for messages (`kw_source` -> `source`).
fn clause_word(rule: Rule) -> String {
    let name = format!("{rule:?}");
    name.strip_prefix("kw_").unwrap_or(&name).to_string()
}

impl Conv<'_> {
    /// The span of a pair, without the whitespace and comments pest lets a rule end
    /// with when its last part is optional and absent.
    pub fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        let len = super::lex::trim_trivia_end(pair.as_str());
        Span::new(
            self.file,
            self.base + s.start(),
            self.base + s.start() + len,
        )
    }

    fn error(&mut self, span: Span, message: impl Into<String>) {
        self.diags
            .push(Diagnostic::new(Code::Syntax, span, message));
    }

    fn duplicate(&mut self, what: &str, owner: &str, again: Span, first: Span) {
        self.diags.push(
            Diagnostic::new(
                Code::DuplicateClause,
                again,
                format!("`{what}` is given twice in {owner}"),
            )
            .with_label("given again here")
            .with_related(first, "first given here")
            .with_help(format!("keep one `{what}` clause; the first one is used")),
        );
    }

    // -----------------------------------------------------------------------------------
    // Lexical
    // -----------------------------------------------------------------------------------

    /// `ident` or `` `quoted ident` `` -> its name.
    pub fn name(&mut self, pair: &Pair<'_, Rule>) -> Name {
        let text = pair.as_str();
        let value = match pair.as_rule() {
            Rule::quoted_ident => text
                .get(1..text.len().saturating_sub(1))
                .unwrap_or_default()
                .to_string(),
            Rule::string => self.string_value(pair),
            _ => text.to_string(),
        };
        Name::new(value, self.span(pair))
    }

    /// A string token's value (JSON escapes plus `\$`).
    pub fn string_value(&mut self, pair: &Pair<'_, Rule>) -> String {
        let (value, _) = self.decode(pair, false);
        value
    }

    fn string(&mut self, pair: &Pair<'_, Rule>) -> Name {
        let value = self.string_value(pair);
        Name::new(value, self.span(pair))
    }

    /// Decodes a string token. With `placeholders`, also returns the `${Field}`
    /// placeholders written without a `\` before the `$`, with the span of each field name.
    fn decode(&mut self, pair: &Pair<'_, Rule>, placeholders: bool) -> (String, Vec<Name>) {
        let raw = pair.as_str();
        let start = self.base + pair.as_span().start();
        let inner = raw.get(1..raw.len().saturating_sub(1)).unwrap_or_default();
        let mut out = String::with_capacity(inner.len());
        let mut fields = Vec::new();
        let mut chars = inner.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    let Some((_, e)) = chars.next() else { break };
                    match e {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'u' => {
                            let code = self.hex4(&mut chars);
                            let c = match code {
                                // A surrogate pair is two `\u` escapes in a row.
                                Some(hi @ 0xD800..=0xDBFF) => {
                                    let lo = if inner.get(i + 6..i + 8) == Some("\\u") {
                                        chars.next();
                                        chars.next();
                                        self.hex4(&mut chars)
                                    } else {
                                        None
                                    };
                                    lo.filter(|lo| (0xDC00..=0xDFFF).contains(lo))
                                        .and_then(|lo| {
                                            char::from_u32(
                                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00),
                                            )
                                        })
                                }
                                Some(c) => char::from_u32(c),
                                None => None,
                            };
                            match c {
                                Some(c) => out.push(c),
                                None => {
                                    let at = Span::new(
                                        self.file,
                                        start + 1 + i,
                                        start + 1 + (i + 6).min(inner.len()),
                                    );
                                    self.diags.push(
                                        Diagnostic::new(Code::Syntax, at, "invalid unicode escape")
                                            .with_help("write `\\uXXXX` with a valid code point (surrogates in pairs)"),
                                    );
                                    out.push('\u{FFFD}');
                                }
                            }
                        }
                        other => out.push(other),
                    }
                }
                '$' if placeholders && chars.peek().map(|(_, c)| *c) == Some('{') => {
                    out.push('$');
                    let open = i + 2;
                    // `${` without a `}` names no field; the template keeps it as text.
                    if let Some(len) = inner.get(open..).and_then(|rest| rest.find('}')) {
                        let field = inner.get(open..open + len).unwrap_or_default();
                        fields.push(Name::new(
                            field.to_string(),
                            Span::new(self.file, start + 1 + open, start + 1 + open + len),
                        ));
                    }
                }
                c => out.push(c),
            }
        }
        (out, fields)
    }

    fn hex4(&mut self, chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>) -> Option<u32> {
        let mut code = 0;
        for _ in 0..4 {
            let (_, c) = chars.next()?;
            code = code * 16 + c.to_digit(16)?;
        }
        Some(code)
    }

    // -----------------------------------------------------------------------------------
    // Literals
    // -----------------------------------------------------------------------------------

    pub fn literal(&mut self, pair: &Pair<'_, Rule>) -> Literal {
        let span = self.span(pair);
        Literal::new(self.value(pair), span)
    }

    fn value(&mut self, pair: &Pair<'_, Rule>) -> Value {
        match pair.as_rule() {
            Rule::literal => match pair.clone().into_inner().next() {
                Some(inner) => self.value(&inner),
                None => Value::Null,
            },
            Rule::string => Value::String(self.string_value(pair)),
            Rule::number => self.number(pair),
            Rule::kw_true => Value::Bool(true),
            Rule::kw_false => Value::Bool(false),
            Rule::kw_null => Value::Null,
            Rule::array => Value::Array(
                all(pair, Rule::literal)
                    .iter()
                    .map(|p| self.value(p))
                    .collect(),
            ),
            Rule::object => {
                let mut map = Map::new();
                for (k, v) in self.entries(pair) {
                    map.insert(k.node, v.node);
                }
                Value::Object(map)
            }
            _ => Value::Null,
        }
    }

    /// A `literal` pair as a [`Tree`]: every key and nested value with its own span.
    pub fn tree(&mut self, pair: &Pair<'_, Rule>) -> Tree {
        let span = self.span(pair);
        let inner = match pair.as_rule() {
            Rule::literal => match pair.clone().into_inner().next() {
                Some(inner) => inner,
                None => {
                    return Tree {
                        span,
                        node: TreeNode::Scalar(Value::Null),
                    }
                }
            },
            _ => pair.clone(),
        };
        let node = match inner.as_rule() {
            Rule::array => TreeNode::Array(
                all(&inner, Rule::literal)
                    .iter()
                    .map(|p| self.tree(p))
                    .collect(),
            ),
            Rule::object => {
                let mut entries = Vec::new();
                for entry in all(&inner, Rule::entry) {
                    let key = first(&entry, Rule::key).and_then(|k| k.into_inner().next());
                    let value = first(&entry, Rule::literal);
                    if let (Some(key), Some(value)) = (key, value) {
                        entries.push((self.name(&key), self.tree(&value)));
                    }
                }
                TreeNode::Object(entries)
            }
            _ => TreeNode::Scalar(self.value(&inner)),
        };
        Tree { span, node }
    }

    fn number(&mut self, pair: &Pair<'_, Rule>) -> Value {
        let text = pair.as_str();
        // Integers stay integers; anything else is an f64 (JSON numbers are f64 too).
        if let Ok(i) = text.parse::<i64>() {
            return Value::Number(i.into());
        }
        if let Ok(u) = text.parse::<u64>() {
            return Value::Number(u.into());
        }
        match text.parse::<f64>().ok().and_then(Number::from_f64) {
            Some(n) if n.as_f64().is_some_and(f64::is_finite) => Value::Number(n),
            _ => {
                let span = self.span(pair);
                self.error(span, format!("number `{text}` is out of range"));
                Value::Null
            }
        }
    }

    /// The entries of an `object` pair, with the span of each key and value.
    pub fn entries(&mut self, pair: &Pair<'_, Rule>) -> Vec<(Name, Literal)> {
        let mut out: Vec<(Name, Literal)> = Vec::new();
        for entry in all(pair, Rule::entry) {
            if let Some(e) = self.entry(&entry) {
                out.push(e);
            }
        }
        out
    }

    fn entry(&mut self, entry: &Pair<'_, Rule>) -> Option<(Name, Literal)> {
        let key = first(entry, Rule::key)?.into_inner().next()?;
        let value = first(entry, Rule::literal)?;
        Some((self.name(&key), self.literal(&value)))
    }

    // -----------------------------------------------------------------------------------
    // Paths
    // -----------------------------------------------------------------------------------

    /// The segments of a `path` pair: (text as a path segment, name, is index).
    fn segments(&mut self, pair: &Pair<'_, Rule>) -> Vec<(String, Name)> {
        let mut out = Vec::new();
        for (i, seg) in pair.clone().into_inner().enumerate() {
            match seg.as_rule() {
                Rule::ident | Rule::quoted_ident => out.push(self.segment(&seg, i == 0)),
                Rule::path_field => {
                    if let Some(inner) = seg.clone().into_inner().next() {
                        let (text, name) = self.segment(&inner, false);
                        out.push((format!(".{text}"), name));
                    }
                }
                Rule::path_index => out.push((
                    seg.as_str().to_string(),
                    Name::new(seg.as_str().to_string(), self.span(&seg)),
                )),
                _ => {}
            }
        }
        out
    }

    /// A key segment written in path syntax: a backticked key holding `.`, `[` or `]`
    /// becomes `['key']` so `compile::path` reads it as one key.
    fn segment(&mut self, pair: &Pair<'_, Rule>, _head: bool) -> (String, Name) {
        let name = self.name(pair);
        let text = if pair.as_rule() == Rule::quoted_ident && name.node.contains(['.', '[', ']']) {
            if name.node.contains('\'') {
                format!(
                    "[{}]",
                    serde_json::to_string(&name.node).unwrap_or_default()
                )
            } else {
                format!("['{}']", name.node)
            }
        } else {
            name.node.clone()
        };
        (text, name)
    }

    /// A path as one field name: `Email`, `MailingAddress.street`, or a backticked name
    /// as written (`` `Account.Name` `` -> `Account.Name`).
    pub fn path_name(&mut self, pair: &Pair<'_, Rule>) -> Name {
        let span = self.span(pair);
        let segs = self.segments(pair);
        match segs.as_slice() {
            [(_, only)] => Name::new(only.node.clone(), span),
            _ => Name::new(segs.iter().map(|(t, _)| t.as_str()).collect(), span),
        }
    }

    /// A mapping expression that is a bare path: `Email` (direct), `` `Account.Name` ``
    /// (direct, the whole name), `MailingAddress.street` (flatten).
    fn path_expr(&mut self, pair: &Pair<'_, Rule>) -> MappingExpr {
        let segs = self.segments(pair);
        let mut it = segs.into_iter();
        let Some((_, field)) = it.next() else {
            return MappingExpr::Direct {
                field: Name::new(String::new(), self.span(pair)),
            };
        };
        let rest: Vec<(String, Name)> = it.collect();
        match (rest.first(), rest.last()) {
            (Some((_, a)), Some((_, b))) => {
                let text: String = rest.iter().map(|(t, _)| t.as_str()).collect();
                let text = text.strip_prefix('.').map(str::to_string).unwrap_or(text);
                // The path span starts after the dot of the first tail segment (the
                // segment names carry the spans without their dots).
                let span = Span {
                    file: self.file,
                    start: a.span.start,
                    end: b.span.end,
                };
                MappingExpr::Flatten {
                    field,
                    path: Name::new(text, span),
                }
            }
            _ => MappingExpr::Direct { field },
        }
    }
}

// ---------------------------------------------------------------------------------------
// Blocks: an item opened from its head and fed statements one by one
// ---------------------------------------------------------------------------------------

/// An item being read. Statements are added in source order; the first of a clause
/// given twice is kept (`DuplicateClause`).
pub(super) enum Block {
    // Boxed: a schema or task is much larger than the other blocks.
    Schema {
        schema: Box<Schema>,
        meta_at: Option<Span>,
    },
    Task {
        task: Box<Task>,
        meta_at: Option<Span>,
    },
    Connection {
        connection: Box<Connection>,
        meta_at: Option<Span>,
    },
    Integration(Box<Integration>),
    Lookup(LookupTable),
    Rates(RateTable),
    Type(TypeDef),
}

impl Block {
    /// Opens a block from an `item_head` pair (or one of its alternatives).
    pub fn open(c: &mut Conv<'_>, head: &Pair<'_, Rule>) -> Option<Block> {
        let head = if head.as_rule() == Rule::item_head {
            head.clone().into_inner().next()?
        } else {
            head.clone()
        };
        let span = c.span(&head);
        let names: Vec<Pair<'_, Rule>> = head
            .clone()
            .into_inner()
            .filter(|p| matches!(p.as_rule(), Rule::ident | Rule::quoted_ident))
            .collect();
        let id = names.first().map(|n| c.name(n));
        let display = first(&head, Rule::string).map(|s| c.string(&s));
        let empty = || Name::new(String::new(), span);
        Some(match head.as_rule() {
            Rule::schema_head => Block::Schema {
                schema: Box::new(schema::new(span, id.unwrap_or_else(empty), display)),
                meta_at: None,
            },
            Rule::task_head => Block::Task {
                task: Box::new(task::new(span, id.unwrap_or_else(empty), display)),
                meta_at: None,
            },
            Rule::connection_head => Block::Connection {
                connection: Box::new(connection::new(span, id.unwrap_or_else(empty), display)),
                meta_at: None,
            },
            Rule::integration_head => Block::Integration(Box::new(integration::new(
                span,
                id.unwrap_or_else(empty),
                display,
            ))),
            Rule::lookup_head => Block::Lookup(LookupTable {
                span,
                id: id.unwrap_or_else(empty),
                entries: Vec::new(),
            }),
            Rule::rates_head => Block::Rates(RateTable {
                span,
                base: id.unwrap_or_else(empty),
                rates: Vec::new(),
            }),
            Rule::type_head => {
                let kind = if first(&head, Rule::kw_entity).is_some() {
                    TypeDefKind::Entity
                } else {
                    TypeDefKind::ShardType
                };
                let id = first(&head, Rule::dotted).map(|d| {
                    let segs: Vec<String> = parts(&d).iter().map(|n| c.name(n).node).collect();
                    Name::new(segs.join("."), c.span(&d))
                });
                Block::Type(TypeDef {
                    span,
                    kind,
                    id: id.unwrap_or_else(empty),
                    name: display,
                    fields: Vec::new(),
                })
            }
            _ => return None,
        })
    }

    /// The rule of one statement of this block.
    pub fn stmt_rule(&self) -> Rule {
        match self {
            Block::Schema { .. } => Rule::schema_stmt,
            Block::Task { .. } => Rule::task_stmt,
            Block::Connection { .. } => Rule::connection_stmt,
            Block::Integration(_) => Rule::integration_stmt,
            Block::Lookup(_) => Rule::lookup_entry,
            Block::Rates(_) => Rule::rate_entry,
            Block::Type(_) => Rule::field_item,
        }
    }

    /// One statement followed by the end of the text (for error messages).
    pub fn stmt_end_rule(&self) -> Rule {
        match self {
            Block::Schema { .. } => Rule::schema_stmt_end,
            Block::Task { .. } => Rule::task_stmt_end,
            Block::Connection { .. } => Rule::connection_stmt_end,
            Block::Integration(_) => Rule::integration_stmt_end,
            Block::Lookup(_) => Rule::lookup_entry_end,
            Block::Rates(_) => Rule::rate_entry_end,
            Block::Type(_) => Rule::field_item_end,
        }
    }

    /// Adds one statement (a pair of [`Block::stmt_rule`]).
    pub fn add(&mut self, c: &mut Conv<'_>, stmt: &Pair<'_, Rule>) {
        match self {
            Block::Schema { schema, meta_at } => schema::stmt(c, schema, meta_at, stmt),
            Block::Task { task, meta_at } => task::stmt(c, task, meta_at, stmt),
            Block::Connection {
                connection,
                meta_at,
            } => connection::stmt(c, connection, meta_at, stmt),
            Block::Integration(k) => integration::stmt(c, k, stmt),
            Block::Lookup(t) => t.entries.extend(c.lookup_entry(stmt)),
            Block::Rates(r) => {
                if let Some(e) = first(stmt, Rule::entry).and_then(|e| c.entry(&e)) {
                    r.rates.push(e);
                }
            }
            Block::Type(t) => {
                if let Some(f) = first(stmt, Rule::field_def) {
                    t.fields.push(c.field_def(&f));
                }
            }
        }
    }

    /// Closes the block; `end` is the byte after its closing `}` (or where it was cut off).
    pub fn finish(self, end: usize) -> Item {
        fn close(span: &mut Span, end: usize) {
            span.end = (end as u32).max(span.start);
        }
        match self {
            Block::Schema { mut schema, .. } => {
                close(&mut schema.span, end);
                Item::Schema(*schema)
            }
            Block::Task { mut task, .. } => {
                close(&mut task.span, end);
                Item::Task(*task)
            }
            Block::Connection { mut connection, .. } => {
                close(&mut connection.span, end);
                Item::Connection(*connection)
            }
            Block::Integration(mut k) => {
                close(&mut k.span, end);
                Item::Integration(*k)
            }
            Block::Lookup(mut t) => {
                close(&mut t.span, end);
                Item::Lookup(t)
            }
            Block::Rates(mut r) => {
                close(&mut r.span, end);
                Item::Rates(r)
            }
            Block::Type(mut t) => {
                close(&mut t.span, end);
                Item::Type(t)
            }
        }
    }
}

/// Stores `value` in `slot` unless a first one is there (then reports the duplicate).
fn set_once<T>(
    c: &mut Conv<'_>,
    slot: &mut Option<T>,
    value: T,
    first_span: impl Fn(&T) -> Span,
    what: &str,
    owner: &str,
    at: Span,
) {
    match slot {
        Some(prev) => {
            let f = first_span(prev);
            c.duplicate(what, owner, at, f);
        }
        None => *slot = Some(value),
    }
}
