//! `.cmap` text -> AST, through the pest grammar in `grammar/cmap.pest`.
//!
//! A valid file is parsed in one go (`Rule::file`). When that fails, the file is parsed
//! again piece by piece so that every error is reported and the valid rest still
//! reaches the AST: item by item at the top level, and statement by statement inside a
//! block whose head reads (`schema x {`, `task y {`, ...). A statement that does not parse
//! is reported and skipped up to its end (see [`lex::skip_statement`]); a block that is
//! never closed ends where the next top-level item starts at column 0.

mod convert;
mod errors;
mod lex;
#[cfg(test)]
mod tests;

use pest::iterators::Pair;
use pest::Parser as _;

use crate::diagnostics::{Code, Diagnostic};
use crate::syntax::ast::{Document, FileId, Item, Span};
use convert::{Block, Conv};

pub(crate) use lex::is_name;

/// The generated parser; `Rule` has one variant per grammar rule.
#[derive(pest_derive::Parser)]
#[grammar = "grammar/cmap.pest"]
pub(crate) struct CmapParser;

/// Parses a `.cmap` file: the document (with whatever could be read) and every error.
pub fn parse(file: FileId, text: &str) -> (Document, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut doc = Document {
        items: Vec::new(),
        comments: lex::comments(file, text),
    };
    match CmapParser::parse(Rule::file, text) {
        Ok(mut pairs) => {
            let items = pairs
                .next()
                .map(|f| f.into_inner().filter(|p| p.as_rule() == Rule::item));
            let mut c = Conv {
                file,
                base: 0,
                diags: &mut diags,
            };
            for item in items.into_iter().flatten() {
                doc.items.extend(whole_item(&mut c, &item));
            }
        }
        Err(_) => recover(file, text, &mut doc, &mut diags),
    }
    (doc, diags)
}

/// True when `text` is exactly one `rule` (used by the printer to decide whether a name
/// can be written bare).
pub(crate) fn lexes_as(rule: Rule, text: &str) -> bool {
    match CmapParser::parse(rule, text) {
        Ok(mut pairs) => pairs.next().is_some_and(|p| p.as_str().len() == text.len()),
        Err(_) => false,
    }
}

/// An `item` pair -> its AST item.
fn whole_item(c: &mut Conv<'_>, item: &Pair<'_, Rule>) -> Option<Item> {
    let inner = item.clone().into_inner().next()?;
    let mut kids = inner.clone().into_inner();
    let head = kids.next()?;
    let mut block = Block::open(c, &head)?;
    for stmt in kids {
        if stmt.as_rule() == block.stmt_rule() {
            block.add(c, &stmt);
        }
    }
    Some(block.finish(c.base + inner.as_span().end()))
}

/// Parses a file that does not parse as a whole, reporting every error.
fn recover(file: FileId, text: &str, doc: &mut Document, diags: &mut Vec<Diagnostic>) {
    let len = text.len();
    let mut pos = lex::skip_trivia(text, 0, len);
    while pos < len {
        let rest = &text[pos..];
        match CmapParser::parse(Rule::item, rest) {
            Ok(mut pairs) => {
                let Some(item) = pairs.next() else { break };
                let end = pos + item.as_span().end();
                let mut c = Conv {
                    file,
                    base: pos,
                    diags,
                };
                doc.items.extend(whole_item(&mut c, &item));
                pos = end;
            }
            Err(item_err) => match CmapParser::parse(Rule::item_head, rest) {
                Ok(mut heads) => {
                    let Some(head) = heads.next() else { break };
                    pos = recover_block(file, text, pos, &head, doc, diags);
                }
                Err(_) => {
                    diags.push(errors::diagnostic(file, text, pos, len, &item_err));
                    pos = lex::next_item_line(text, pos, len).unwrap_or(len);
                }
            },
        }
        pos = lex::skip_trivia(text, pos, len);
    }
}

/// Reads a block whose head parsed at `start` statement by statement; returns the
/// position after it.
fn recover_block(
    file: FileId,
    text: &str,
    start: usize,
    head: &Pair<'_, Rule>,
    doc: &mut Document,
    diags: &mut Vec<Diagnostic>,
) -> usize {
    let len = text.len();
    let open = start + head.as_span().end() - 1;
    let mut c = Conv {
        file,
        base: start,
        diags,
    };
    let Some(mut block) = Block::open(&mut c, head) else {
        return len;
    };

    // The block ends at its matching `}`, unless a top-level item starts (at column 0)
    // before it: then the `}` is missing and the block stops there.
    let close = lex::matching_brace(text, open);
    let next_item = lex::next_item_line(text, open, close.unwrap_or(len));
    let (end, after) = match (close, next_item) {
        (Some(close), None) => (close, close + 1),
        (_, cut) => {
            let cut = cut.unwrap_or(len);
            let what = head.as_str().split_whitespace().next().unwrap_or("block");
            diags.push(
                Diagnostic::new(
                    Code::Syntax,
                    Span::new(file, open, open + 1),
                    format!("this `{what}` block is never closed"),
                )
                .with_label("this `{` has no matching `}`")
                .with_help(format!("add `}}` at the end of the `{what}` block")),
            );
            (cut, cut)
        }
    };

    let rule = block.stmt_rule();
    let mut pos = lex::skip_trivia(text, open + 1, end);
    while pos < end {
        let slice = &text[pos..end];
        match CmapParser::parse(rule, slice) {
            Ok(mut pairs) => {
                let Some(stmt) = pairs.next() else { break };
                let stmt_end = pos + lex::trim_trivia_end(stmt.as_str());
                // What follows on the same line (or a continuation line) must start a
                // statement; if it does not, this statement is the broken one
                // (`a = X | trim(`, `source X where A = 1`): report its own error.
                let next = lex::skip_trivia(text, stmt_end, end);
                let same_line = !text[stmt_end..next].contains('\n');
                if next < end
                    && (same_line || lex::continues(text, next, end))
                    && CmapParser::parse(rule, &text[next..end]).is_err()
                {
                    if let Err(err) = CmapParser::parse(block.stmt_end_rule(), slice) {
                        diags.push(errors::diagnostic(file, text, pos, end, &err));
                        pos = lex::skip_statement(text, pos, end);
                        pos = lex::skip_trivia(text, pos, end);
                        continue;
                    }
                }
                let mut c = Conv {
                    file,
                    base: pos,
                    diags,
                };
                block.add(&mut c, &stmt);
                // A statement that matched nothing cannot happen (every statement rule
                // consumes a token), but never loop in place.
                pos = stmt_end.max(pos + 1);
            }
            Err(err) => {
                diags.push(errors::diagnostic(file, text, pos, end, &err));
                pos = lex::skip_statement(text, pos, end);
            }
        }
        pos = lex::skip_trivia(text, pos, end);
    }
    doc.items.push(block.finish(after));
    after
}
