//! pest pairs -> AST nodes, with exact spans.
//!
//! Every pair comes from one `CmapParser::parse` call over a slice of the file that
//! starts at byte `base` ([`Conv::base`]), so spans are `base + pair offset`. The
//! recovering parser parses items and statements one by one, hence the builders: a
//! [`Block`] is opened from an item's head and fed statements one at a time.

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

    // -----------------------------------------------------------------------------------
    // Mappings
    // -----------------------------------------------------------------------------------

    pub fn field_mapping(&mut self, pair: &Pair<'_, Rule>) -> FieldMapping {
        let span = self.span(pair);
        let mut m = FieldMapping {
            span,
            id: None,
            target: Name::new(String::new(), span),
            required: None,
            expr: MappingExpr::Default {
                value: Literal::new(Value::Null, span),
            },
            validation: Vec::new(),
        };
        for p in parts(pair) {
            match p.as_rule() {
                Rule::mapping_id => m.id = first(&p, Rule::string).map(|s| self.string(&s)),
                Rule::ident | Rule::quoted_ident => m.target = self.name(&p),
                Rule::required_mark => m.required = Some(self.span(&p)),
                Rule::expr => m.expr = self.expr(&p),
                Rule::validate => {
                    m.validation = all(&p, Rule::validation_rule)
                        .iter()
                        .map(|r| self.validation(r))
                        .collect()
                }
                _ => {}
            }
        }
        m
    }

    fn expr(&mut self, pair: &Pair<'_, Rule>) -> MappingExpr {
        let span = self.span(pair);
        let Some(inner) = pair.clone().into_inner().next() else {
            return MappingExpr::Default {
                value: Literal::new(Value::Null, span),
            };
        };
        match inner.as_rule() {
            Rule::match_expr | Rule::when_expr => {
                MappingExpr::Conditional(self.conditional(&inner))
            }
            Rule::lookup_expr => MappingExpr::Lookup(self.lookup(&inner)),
            Rule::join_call => {
                let span = self.span(&inner);
                let fields = all(&inner, Rule::path)
                    .iter()
                    .map(|p| self.path_name(p))
                    .collect();
                let separator = first(&inner, Rule::string).map(|s| self.string(&s));
                MappingExpr::Composite(Composite {
                    span,
                    fields,
                    separator,
                    template: None,
                })
            }
            Rule::flatten_call => {
                let ps = parts(&inner);
                let field = ps
                    .iter()
                    .find(|p| matches!(p.as_rule(), Rule::ident | Rule::quoted_ident));
                let path = first(&inner, Rule::string);
                match (field, path) {
                    (Some(f), Some(p)) => MappingExpr::Flatten {
                        field: self.name(f),
                        path: self.string(&p),
                    },
                    _ => MappingExpr::Default {
                        value: Literal::new(Value::Null, span),
                    },
                }
            }
            Rule::task_ref => {
                let key = inner.as_str().strip_prefix("task.").unwrap_or_default();
                let value = Value::String(format!("{{{{task.{key}}}}}"));
                MappingExpr::Default {
                    value: Literal::new(value, self.span(&inner)),
                }
            }
            Rule::template => {
                let Some(s) = inner.clone().into_inner().next() else {
                    return MappingExpr::Default {
                        value: Literal::new(Value::Null, span),
                    };
                };
                let (text, fields) = self.decode(&s, true);
                let span = self.span(&s);
                if has_placeholder(s.as_str()) {
                    MappingExpr::Composite(Composite {
                        span,
                        fields,
                        separator: None,
                        template: Some(Name::new(text, span)),
                    })
                } else {
                    MappingExpr::Default {
                        value: Literal::new(Value::String(text), span),
                    }
                }
            }
            Rule::literal => MappingExpr::Default {
                value: self.literal(&inner),
            },
            Rule::chain => {
                let steps: Vec<Transformation> = all(&inner, Rule::step)
                    .iter()
                    .filter_map(|s| first(s, Rule::transformation))
                    .map(|t| self.transformation(&t))
                    .collect();
                let Some(path) = first(&inner, Rule::path) else {
                    return MappingExpr::Default {
                        value: Literal::new(Value::Null, span),
                    };
                };
                if steps.is_empty() {
                    self.path_expr(&path)
                } else {
                    MappingExpr::Transform {
                        field: self.path_name(&path),
                        steps,
                    }
                }
            }
            _ => MappingExpr::Default {
                value: Literal::new(Value::Null, span),
            },
        }
    }

    fn transformation(&mut self, pair: &Pair<'_, Rule>) -> Transformation {
        let span = self.span(pair);
        let name = first(pair, Rule::ident)
            .map(|n| self.name(&n))
            .unwrap_or_else(|| Name::new(String::new(), span));
        let args = all(pair, Rule::arg)
            .iter()
            .map(|a| Arg {
                name: first(a, Rule::arg_name)
                    .and_then(|n| first(&n, Rule::ident))
                    .map(|n| self.name(&n)),
                value: first(a, Rule::literal)
                    .map(|l| self.literal(&l))
                    .unwrap_or_else(|| Literal::new(Value::Null, span)),
            })
            .collect();
        Transformation { span, name, args }
    }

    fn validation(&mut self, pair: &Pair<'_, Rule>) -> Validation {
        let span = self.span(pair);
        let rule = first(pair, Rule::ident)
            .map(|n| self.name(&n))
            .unwrap_or_else(|| Name::new(String::new(), span));
        let mut v = Validation {
            span,
            rule,
            value: None,
            message: None,
        };
        if let Some(args) = first(pair, Rule::rule_args) {
            v.value = first(&args, Rule::literal).map(|l| self.literal(&l));
            v.message = first(&args, Rule::rule_message)
                .and_then(|m| first(&m, Rule::string))
                .map(|s| self.string(&s));
        }
        v
    }

    fn conditional(&mut self, pair: &Pair<'_, Rule>) -> Conditional {
        let span = self.span(pair);
        let mut arms = Vec::new();
        if pair.as_rule() == Rule::match_expr {
            let field = first(pair, Rule::path)
                .map(|p| self.path_name(&p))
                .unwrap_or_else(|| Name::new(String::new(), span));
            for arm in all(pair, Rule::match_arm) {
                let arm_span = self.span(&arm);
                if let Some(d) = first(&arm, Rule::default_arm) {
                    arms.push(self.default_arm(&d));
                    continue;
                }
                let (Some(pat), Some(then)) = (first(&arm, Rule::pattern), first(&arm, Rule::then))
                else {
                    continue;
                };
                let pat_span = self.span(&pat);
                let value = first(&pat, Rule::literal).map(|l| self.literal(&l));
                let op = if let Some(op) =
                    first(&pat, Rule::cmp_op).or_else(|| first(&pat, Rule::word_op))
                {
                    Name::new(normalise_op(op.as_str()), self.span(&op))
                } else {
                    // A bare value means `==`; the operator has no text of its own.
                    Name::new("eq".to_string(), pat_span)
                };
                let condition = Condition {
                    span: pat_span,
                    field: field.clone(),
                    op,
                    value,
                };
                arms.push(Arm::Rule {
                    span: arm_span,
                    condition,
                    then: self.then(&then),
                });
            }
            Conditional {
                span,
                style: CondStyle::Match { field },
                arms,
            }
        } else {
            for arm in all(pair, Rule::when_arm) {
                let arm_span = self.span(&arm);
                if let Some(d) = first(&arm, Rule::default_arm) {
                    arms.push(self.default_arm(&d));
                    continue;
                }
                let (Some(cond), Some(then)) =
                    (first(&arm, Rule::condition), first(&arm, Rule::then))
                else {
                    continue;
                };
                let condition = self.condition(&cond);
                arms.push(Arm::Rule {
                    span: arm_span,
                    condition,
                    then: self.then(&then),
                });
            }
            Conditional {
                span,
                style: CondStyle::When,
                arms,
            }
        }
    }

    fn default_arm(&mut self, pair: &Pair<'_, Rule>) -> Arm {
        let span = self.span(pair);
        let value = first(pair, Rule::literal)
            .map(|l| self.literal(&l))
            .unwrap_or_else(|| Literal::new(Value::Null, span));
        Arm::Default { span, value }
    }

    fn then(&mut self, pair: &Pair<'_, Rule>) -> Then {
        let span = self.span(pair);
        if let Some(l) = first(pair, Rule::literal) {
            return Then::Value(self.literal(&l));
        }
        let Some(chain) = first(pair, Rule::chain) else {
            return Then::Value(Literal::new(Value::Null, span));
        };
        let steps: Vec<Transformation> = all(&chain, Rule::step)
            .iter()
            .filter_map(|s| first(s, Rule::transformation))
            .map(|t| self.transformation(&t))
            .collect();
        let field = first(&chain, Rule::path)
            .map(|p| self.path_name(&p))
            .unwrap_or_else(|| Name::new(String::new(), span));
        if steps.is_empty() {
            Then::Field(field)
        } else {
            Then::Transform { field, steps }
        }
    }

    pub fn condition(&mut self, pair: &Pair<'_, Rule>) -> Condition {
        let span = self.span(pair);
        let field = first(pair, Rule::path)
            .map(|p| self.path_name(&p))
            .unwrap_or_else(|| Name::new(String::new(), span));
        let op = first(pair, Rule::cmp_op)
            .or_else(|| first(pair, Rule::word_op))
            .map(|op| Name::new(normalise_op(op.as_str()), self.span(&op)))
            .unwrap_or_else(|| Name::new(String::new(), span));
        let value = first(pair, Rule::literal).map(|l| self.literal(&l));
        Condition {
            span,
            field,
            op,
            value,
        }
    }

    fn lookup(&mut self, pair: &Pair<'_, Rule>) -> Lookup {
        let span = self.span(pair);
        let field = first(pair, Rule::path)
            .map(|p| self.path_name(&p))
            .unwrap_or_else(|| Name::new(String::new(), span));
        let from = if let Some(shard) = first(pair, Rule::lookup_shard) {
            let names = first(&shard, Rule::dotted)
                .map(|d| parts(&d))
                .unwrap_or_default();
            let mut names = names.iter().map(|n| self.name(n));
            let shard_type = names
                .next()
                .unwrap_or_else(|| Name::new(String::new(), span));
            LookupFrom::Shard {
                shard_type,
                return_field: names.next(),
            }
        } else {
            let table = first(pair, Rule::lookup_table_ref)
                .and_then(|t| t.into_inner().next())
                .map(|n| self.name(&n))
                .unwrap_or_else(|| Name::new(String::new(), span));
            LookupFrom::Table(table)
        };
        let default = first(pair, Rule::literal).map(|l| self.literal(&l));
        Lookup {
            span,
            field,
            from,
            default,
        }
    }

    fn relationship(&mut self, pair: &Pair<'_, Rule>) -> RelationshipMapping {
        let span = self.span(pair);
        let empty = Name::new(String::new(), span);
        let names: Vec<Pair<'_, Rule>> = pair
            .clone()
            .into_inner()
            .filter(|p| matches!(p.as_rule(), Rule::ident | Rule::quoted_ident))
            .collect();
        let mut names = names.iter().map(|n| self.name(n));
        let target = names.next().unwrap_or_else(|| empty.clone());
        let kind = names.next().unwrap_or_else(|| empty.clone());
        let shard_type = names.next().unwrap_or_else(|| empty.clone());
        let by_external_id = first(pair, Rule::kw_external_id).is_some();
        let field = first(pair, Rule::path)
            .map(|p| self.path_name(&p))
            .unwrap_or(empty);
        RelationshipMapping {
            span,
            target,
            kind,
            shard_type,
            by_external_id,
            field,
        }
    }

    pub fn lookup_entry(&mut self, pair: &Pair<'_, Rule>) -> Option<(Name, Literal)> {
        let key = pair.clone().into_inner().next()?;
        let key = match key.as_rule() {
            Rule::string => self.string(&key),
            _ => Name::new(key.as_str().to_string(), self.span(&key)),
        };
        let value = first(pair, Rule::literal)?;
        Some((key, self.literal(&value)))
    }

    fn test_case(&mut self, pair: &Pair<'_, Rule>) -> TestCase {
        let span = self.span(pair);
        let name = first(pair, Rule::string)
            .map(|s| self.string(&s))
            .unwrap_or_else(|| Name::new(String::new(), span));
        let mut t = TestCase {
            span,
            name,
            input: None,
            task: None,
            expect: Vec::new(),
        };
        let owner = format!("test \"{}\"", t.name.node);
        for stmt in all(pair, Rule::test_stmt) {
            let Some(inner) = stmt.clone().into_inner().next() else {
                continue;
            };
            let stmt_span = self.span(&stmt);
            match inner.as_rule() {
                Rule::test_input | Rule::test_task => {
                    let Some(l) = first(&inner, Rule::literal) else {
                        continue;
                    };
                    let value = self.literal(&l);
                    let (slot, word) = if inner.as_rule() == Rule::test_input {
                        (&mut t.input, "input")
                    } else {
                        (&mut t.task, "task")
                    };
                    match slot {
                        Some(prev) => {
                            let first_span = prev.span;
                            self.duplicate(word, &owner, stmt_span, first_span);
                        }
                        None => *slot = Some(value),
                    }
                }
                Rule::test_expect => {
                    if let Some(e) = self.expect(&inner) {
                        t.expect.push(e);
                    }
                }
                _ => {}
            }
        }
        t
    }

    fn expect(&mut self, pair: &Pair<'_, Rule>) -> Option<Expect> {
        let span = self.span(pair);
        let inner = parts(pair)
            .into_iter()
            .find(|p| p.as_rule() != Rule::kw_expect)?;
        Some(match inner.as_rule() {
            Rule::object => Expect::Data(self.literal(&inner)),
            Rule::expect_external_id => {
                Expect::ExternalId(self.literal(&first(&inner, Rule::literal)?))
            }
            Rule::expect_relationships => {
                Expect::Relationships(self.literal(&first(&inner, Rule::literal)?))
            }
            Rule::expect_skipped => Expect::Skipped(span),
            Rule::expect_failed => {
                let field = parts(&inner)
                    .into_iter()
                    .find(|p| matches!(p.as_rule(), Rule::ident | Rule::quoted_ident))
                    .map(|n| self.name(&n));
                Expect::Failed { span, field }
            }
            _ => return None,
        })
    }

    fn type_expr(&mut self, pair: &Pair<'_, Rule>) -> TypeExpr {
        let span = self.span(pair);
        let Some(inner) = pair.clone().into_inner().next() else {
            return TypeExpr::Named(Name::new(String::new(), span));
        };
        match inner.as_rule() {
            Rule::enum_type => TypeExpr::Enum(
                all(&inner, Rule::string)
                    .iter()
                    .map(|s| self.string(s))
                    .collect(),
            ),
            Rule::array_type => match first(&inner, Rule::type_expr) {
                Some(t) => TypeExpr::Array(Box::new(self.type_expr(&t))),
                None => TypeExpr::Named(Name::new(String::new(), span)),
            },
            Rule::object_type => TypeExpr::Object(
                all(&inner, Rule::field_def)
                    .iter()
                    .map(|f| self.field_def(f))
                    .collect(),
            ),
            _ => {
                let name = first(&inner, Rule::ident)
                    .map(|n| self.name(&n))
                    .unwrap_or_else(|| Name::new(String::new(), span));
                TypeExpr::Named(name)
            }
        }
    }

    pub fn field_def(&mut self, pair: &Pair<'_, Rule>) -> FieldDef {
        let span = self.span(pair);
        let name = parts(pair)
            .into_iter()
            .find(|p| matches!(p.as_rule(), Rule::ident | Rule::quoted_ident))
            .map(|n| self.name(&n))
            .unwrap_or_else(|| Name::new(String::new(), span));
        let optional = first(pair, Rule::optional_mark).is_some();
        let ty = first(pair, Rule::type_expr)
            .map(|t| self.type_expr(&t))
            .unwrap_or_else(|| TypeExpr::Named(Name::new(String::new(), span)));
        FieldDef {
            span,
            name,
            optional,
            ty,
        }
    }
}

/// True when a string token holds a `${` whose `$` is not escaped.
fn has_placeholder(raw: &str) -> bool {
    let mut escaped = false;
    let mut prev_dollar = false;
    for c in raw.chars() {
        if escaped {
            escaped = false;
            prev_dollar = false;
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                prev_dollar = false;
            }
            '{' if prev_dollar => return true,
            '$' => prev_dollar = true,
            _ => prev_dollar = false,
        }
    }
    false
}

/// `.cmap` operator spellings -> spec operator names; other words are kept as written.
pub(crate) fn normalise_op(op: &str) -> String {
    let words: Vec<&str> = op.split_whitespace().collect();
    match words.as_slice() {
        ["=="] => "eq".into(),
        ["!="] => "neq".into(),
        [">"] => "gt".into(),
        [">="] => "gte".into(),
        ["<"] => "lt".into(),
        ["<="] => "lte".into(),
        ["not", rest] => format!("not_{rest}"),
        _ => op.to_string(),
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
                schema: Box::new(Schema {
                    span,
                    id: id.unwrap_or_else(empty),
                    name: display,
                    description: None,
                    source: None,
                    target: None,
                    dedupe: None,
                    active: None,
                    body: Vec::new(),
                    lookups: Vec::new(),
                    tests: Vec::new(),
                    meta: Vec::new(),
                }),
                meta_at: None,
            },
            Rule::task_head => Block::Task {
                task: Box::new(Task {
                    span,
                    id: id.unwrap_or_else(empty),
                    name: display,
                    description: None,
                    integration: None,
                    schema: None,
                    connection: None,
                    direction: None,
                    schedule: None,
                    config: None,
                    status: None,
                    retry: None,
                    notify: None,
                    meta: Vec::new(),
                }),
                meta_at: None,
            },
            Rule::connection_head => Block::Connection {
                connection: Box::new(Connection {
                    span,
                    id: id.unwrap_or_else(empty),
                    name: display,
                    integration: None,
                    scope: None,
                    tenant: None,
                    auth: None,
                    settings: None,
                    meta: Vec::new(),
                }),
                meta_at: None,
            },
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
            Block::Lookup(_) => Rule::lookup_entry_end,
            Block::Rates(_) => Rule::rate_entry_end,
            Block::Type(_) => Rule::field_item_end,
        }
    }

    /// Adds one statement (a pair of [`Block::stmt_rule`]).
    pub fn add(&mut self, c: &mut Conv<'_>, stmt: &Pair<'_, Rule>) {
        match self {
            Block::Schema { schema, meta_at } => schema_stmt(c, schema, meta_at, stmt),
            Block::Task { task, meta_at } => task_stmt(c, task, meta_at, stmt),
            Block::Connection {
                connection,
                meta_at,
            } => connection_stmt(c, connection, meta_at, stmt),
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

/// Converts a whole lookup table pair (inside a schema).
fn lookup_table(c: &mut Conv<'_>, pair: &Pair<'_, Rule>) -> Option<LookupTable> {
    let head = first(pair, Rule::lookup_head)?;
    let mut block = Block::open(c, &head)?;
    for e in all(pair, Rule::lookup_entry) {
        block.add(c, &e);
    }
    match block.finish(c.base + pair.as_span().end()) {
        Item::Lookup(t) => Some(t),
        _ => None,
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

fn schema_stmt(
    c: &mut Conv<'_>,
    s: &mut Schema,
    meta_at: &mut Option<Span>,
    stmt: &Pair<'_, Rule>,
) {
    let Some(inner) = stmt.clone().into_inner().next() else {
        return;
    };
    let at = c.span(&inner);
    let owner = format!("schema `{}`", s.id.node);
    match inner.as_rule() {
        Rule::field_mapping => s.body.push(MappingItem::Field(c.field_mapping(&inner))),
        Rule::relationship => s
            .body
            .push(MappingItem::Relationship(c.relationship(&inner))),
        Rule::description => {
            if let Some(d) = first(&inner, Rule::string).map(|p| c.string(&p)) {
                set_once(
                    c,
                    &mut s.description,
                    d,
                    |n| n.span,
                    "description",
                    &owner,
                    at,
                );
            }
        }
        Rule::source_clause => {
            let names = first(&inner, Rule::dotted)
                .map(|d| parts(&d))
                .unwrap_or_default();
            let mut names: Vec<Name> = names.iter().map(|n| c.name(n)).collect();
            let entity = names.pop().unwrap_or_else(|| Name::new(String::new(), at));
            let integration = names.pop();
            let filters = all(&inner, Rule::condition)
                .iter()
                .map(|p| c.condition(p))
                .collect();
            let source = Source {
                span: at,
                integration,
                entity,
                filters,
            };
            set_once(c, &mut s.source, source, |x| x.span, "source", &owner, at);
        }
        Rule::target_clause => {
            let shard_type = parts(&inner)
                .into_iter()
                .find(|p| matches!(p.as_rule(), Rule::ident | Rule::quoted_ident))
                .map(|n| c.name(&n))
                .unwrap_or_else(|| Name::new(String::new(), at));
            let flags = first(&inner, Rule::target_flags)
                .map(|f| all(&f, Rule::ident).iter().map(|n| c.name(n)).collect());
            set_once(
                c,
                &mut s.target,
                Target {
                    span: at,
                    shard_type,
                    flags,
                },
                |x| x.span,
                "target",
                &owner,
                at,
            );
        }
        Rule::dedupe_clause => {
            let strategy = first(&inner, Rule::ident)
                .map(|n| c.name(&n))
                .unwrap_or_else(|| Name::new(String::new(), at));
            let fields = all(&inner, Rule::path)
                .iter()
                .map(|p| c.path_name(p))
                .collect();
            set_once(
                c,
                &mut s.dedupe,
                Dedupe {
                    span: at,
                    strategy,
                    fields,
                },
                |x| x.span,
                "dedupe",
                &owner,
                at,
            );
        }
        Rule::inactive => set_once(
            c,
            &mut s.active,
            Spanned::new(false, at),
            |x| x.span,
            "inactive",
            &owner,
            at,
        ),
        Rule::meta => match meta_at {
            Some(f) => {
                let f = *f;
                c.duplicate("meta", &owner, at, f);
            }
            None => {
                *meta_at = Some(at);
                s.meta = first(&inner, Rule::object)
                    .map(|o| c.entries(&o))
                    .unwrap_or_default();
            }
        },
        Rule::lookup_table => s.lookups.extend(lookup_table(c, &inner)),
        Rule::test_case => s.tests.push(c.test_case(&inner)),
        _ => {}
    }
}

fn task_stmt(c: &mut Conv<'_>, t: &mut Task, meta_at: &mut Option<Span>, stmt: &Pair<'_, Rule>) {
    let Some(inner) = stmt.clone().into_inner().next() else {
        return;
    };
    let at = c.span(&inner);
    let owner = format!("task `{}`", t.id.node);
    let name_in = |c: &mut Conv<'_>, p: &Pair<'_, Rule>| {
        parts(p)
            .into_iter()
            .find(|p| matches!(p.as_rule(), Rule::ident | Rule::quoted_ident))
            .map(|n| c.name(&n))
    };
    let word = inner
        .clone()
        .into_inner()
        .next()
        .map(|k| clause_word(k.as_rule()))
        .unwrap_or_default();
    match inner.as_rule() {
        Rule::description => {
            if let Some(d) = first(&inner, Rule::string).map(|p| c.string(&p)) {
                set_once(
                    c,
                    &mut t.description,
                    d,
                    |n| n.span,
                    "description",
                    &owner,
                    at,
                );
            }
        }
        Rule::task_schema
        | Rule::task_integration
        | Rule::task_connection
        | Rule::direction
        | Rule::status => {
            let Some(name) = name_in(c, &inner) else {
                return;
            };
            let slot = match inner.as_rule() {
                Rule::task_schema => &mut t.schema,
                Rule::task_integration => &mut t.integration,
                Rule::task_connection => &mut t.connection,
                Rule::direction => &mut t.direction,
                _ => &mut t.status,
            };
            set_once(c, slot, name, |n| n.span, &word, &owner, at);
        }
        Rule::schedule => {
            let Some(kind) = parts(&inner)
                .into_iter()
                .find(|p| p.as_rule() != Rule::kw_schedule)
            else {
                return;
            };
            let schedule = match kind.as_rule() {
                Rule::schedule_manual => Schedule::Manual { span: at },
                Rule::schedule_every => {
                    let interval = first(&kind, Rule::literal)
                        .map(|l| c.literal(&l))
                        .unwrap_or_else(|| Literal::new(Value::Null, at));
                    let unit = first(&kind, Rule::ident)
                        .map(|n| c.name(&n))
                        .unwrap_or_else(|| Name::new(String::new(), at));
                    Schedule::Interval {
                        span: at,
                        interval,
                        unit,
                    }
                }
                Rule::schedule_cron => {
                    let strings = all(&kind, Rule::string);
                    let mut strings = strings.iter().map(|s| c.string(s));
                    let expression = strings
                        .next()
                        .unwrap_or_else(|| Name::new(String::new(), at));
                    Schedule::Cron {
                        span: at,
                        expression,
                        timezone: strings.next(),
                    }
                }
                Rule::schedule_realtime => {
                    let mut webhook_url = None;
                    let mut verification_token = None;
                    let mut after_token = false;
                    for p in parts(&kind) {
                        match p.as_rule() {
                            Rule::kw_token => after_token = true,
                            Rule::string if after_token => verification_token = Some(c.string(&p)),
                            Rule::string => webhook_url = Some(c.string(&p)),
                            _ => {}
                        }
                    }
                    Schedule::Realtime {
                        span: at,
                        webhook_url,
                        verification_token,
                    }
                }
                _ => {
                    let kind = first(&kind, Rule::ident)
                        .map(|n| c.name(&n))
                        .unwrap_or_else(|| Name::new(String::new(), at));
                    Schedule::Unknown { span: at, kind }
                }
            };
            set_once(
                c,
                &mut t.schedule,
                schedule,
                schedule_span,
                "schedule",
                &owner,
                at,
            );
        }
        Rule::config => {
            if let Some(l) = first(&inner, Rule::literal) {
                let l = c.literal(&l);
                set_once(c, &mut t.config, l, |l| l.span, "config", &owner, at);
            }
        }
        Rule::retry => {
            let literals = all(&inner, Rule::literal);
            let max_retries = literals
                .first()
                .map(|l| c.literal(l))
                .unwrap_or_else(|| Literal::new(Value::Null, at));
            let delay_seconds =
                match first(&inner, Rule::seconds).and_then(|s| first(&s, Rule::number)) {
                    Some(n) => Literal::new(c.number(&n), c.span(&n)),
                    None => literals
                        .get(1)
                        .map(|l| c.literal(l))
                        .unwrap_or_else(|| Literal::new(Value::Null, at)),
                };
            let exponential =
                first(&inner, Rule::kw_exponential).map(|k| Spanned::new(true, c.span(&k)));
            set_once(
                c,
                &mut t.retry,
                Retry {
                    span: at,
                    max_retries,
                    delay_seconds,
                    exponential,
                },
                |r| r.span,
                "retry",
                &owner,
                at,
            );
        }
        Rule::notify => {
            let events = all(&inner, Rule::ident).iter().map(|n| c.name(n)).collect();
            let recipients = all(&inner, Rule::string)
                .iter()
                .map(|s| c.string(s))
                .collect();
            set_once(
                c,
                &mut t.notify,
                Notify {
                    span: at,
                    events,
                    recipients,
                },
                |n| n.span,
                "notify",
                &owner,
                at,
            );
        }
        Rule::meta => match meta_at {
            Some(f) => {
                let f = *f;
                c.duplicate("meta", &owner, at, f);
            }
            None => {
                *meta_at = Some(at);
                t.meta = first(&inner, Rule::object)
                    .map(|o| c.entries(&o))
                    .unwrap_or_default();
            }
        },
        _ => {}
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

fn connection_stmt(
    c: &mut Conv<'_>,
    k: &mut Connection,
    meta_at: &mut Option<Span>,
    stmt: &Pair<'_, Rule>,
) {
    let Some(inner) = stmt.clone().into_inner().next() else {
        return;
    };
    let at = c.span(&inner);
    let owner = format!("connection `{}`", k.id.node);
    let word = inner
        .clone()
        .into_inner()
        .next()
        .map(|k| clause_word(k.as_rule()))
        .unwrap_or_default();
    match inner.as_rule() {
        Rule::task_integration | Rule::scope => {
            let Some(name) = parts(&inner)
                .into_iter()
                .find(|p| matches!(p.as_rule(), Rule::ident | Rule::quoted_ident))
                .map(|n| c.name(&n))
            else {
                return;
            };
            let slot = match inner.as_rule() {
                Rule::task_integration => &mut k.integration,
                _ => &mut k.scope,
            };
            set_once(c, slot, name, |n| n.span, &word, &owner, at);
        }
        Rule::tenant => {
            if let Some(t) = first(&inner, Rule::string).map(|p| c.string(&p)) {
                set_once(c, &mut k.tenant, t, |n| n.span, "tenant", &owner, at);
            }
        }
        Rule::auth => {
            let kind = parts(&inner)
                .into_iter()
                .find(|p| matches!(p.as_rule(), Rule::ident | Rule::quoted_ident))
                .map(|n| c.name(&n))
                .unwrap_or_else(|| Name::new(String::new(), at));
            let fields = first(&inner, Rule::auth_block)
                .map(|b| {
                    all(&b, Rule::credential)
                        .iter()
                        .filter_map(|e| c.credential(e))
                        .collect()
                })
                .unwrap_or_default();
            let auth = Auth {
                span: at,
                kind,
                fields,
            };
            set_once(c, &mut k.auth, auth, |a| a.span, "auth", &owner, at);
        }
        Rule::settings => {
            if let Some(l) = first(&inner, Rule::literal) {
                let l = c.literal(&l);
                set_once(c, &mut k.settings, l, |l| l.span, "settings", &owner, at);
            }
        }
        Rule::meta => match meta_at {
            Some(f) => {
                let f = *f;
                c.duplicate("meta", &owner, at, f);
            }
            None => {
                *meta_at = Some(at);
                k.meta = first(&inner, Rule::object)
                    .map(|o| c.entries(&o))
                    .unwrap_or_default();
            }
        },
        _ => {}
    }
}

impl Conv<'_> {
    /// `key: "plain"`, `key: env("VAR")` or `key: stored`.
    fn credential(&mut self, pair: &Pair<'_, Rule>) -> Option<(Name, Credential)> {
        let key = first(pair, Rule::key)?.into_inner().next()?;
        let key = self.name(&key);
        let value = first(pair, Rule::cred_value)?;
        let span = self.span(&value);
        let inner = value.into_inner().next()?;
        let cred = match inner.as_rule() {
            Rule::env_ref => {
                let var = first(&inner, Rule::string).map(|s| self.string(&s))?;
                Credential::Env { span, var }
            }
            Rule::kw_stored => Credential::Stored(span),
            _ => Credential::Plain(self.literal(&inner)),
        };
        Some((key, cred))
    }
}
