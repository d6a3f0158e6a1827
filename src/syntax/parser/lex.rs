//! Small scanners over `.cmap` text for what the grammar cannot do: collect comments,
//! find block ends and statement boundaries to recover after an error, and name the
//! token at an error. They agree with the grammar on strings, backticks and comments.

use super::{CmapParser, Rule};
use crate::syntax::ast::{Comment, FileId, Span};
use pest::Parser as _;

/// Calls `f` with every character of `text[from..to]` that is code (not inside a string,
/// a backticked name or a comment; the newline ending a comment is code). Stops when `f`
/// returns false.
pub(super) fn scan(text: &str, from: usize, to: usize, mut f: impl FnMut(usize, char) -> bool) {
    let Some(slice) = text.get(from..to.min(text.len())) else {
        return;
    };
    let mut it = slice.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        match c {
            '"' | '`' => {
                // Strings and backticked names end at their closing quote or the line end.
                let close = c;
                while let Some(&(_, d)) = it.peek() {
                    if d == '\n' {
                        break;
                    }
                    it.next();
                    if d == '\\' && close == '"' {
                        if it.peek().is_some_and(|&(_, e)| e != '\n') {
                            it.next();
                        }
                    } else if d == close {
                        break;
                    }
                }
            }
            '/' if it.peek().is_some_and(|&(_, d)| d == '/') => {
                while it.peek().is_some_and(|&(_, d)| d != '\n') {
                    it.next();
                }
            }
            c => {
                if !f(from + i, c) {
                    return;
                }
            }
        }
    }
}

/// Whether the line after the one `rest` ends is blank (`rest` starts at a line's end).
fn next_line_blank(rest: &str) -> bool {
    let Some(after) = rest
        .strip_prefix("\r\n")
        .or_else(|| rest.strip_prefix('\n'))
    else {
        return false;
    };
    let line = after.split('\n').next().unwrap_or_default();
    // The end of the file is not a blank line before anything.
    line.trim().is_empty() && after.len() > line.len()
}

/// Every `//` comment of the file, in order.
pub(super) fn comments(file: FileId, text: &str) -> Vec<Comment> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut line_has_code = false;
    // Whether the current line has a comment, the last line was blank, and anything
    // (code or comment) came before it.
    let mut line_has_comment = false;
    let mut last_blank = false;
    let mut seen_any = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                let blank = !line_has_code && !line_has_comment;
                seen_any |= !blank;
                last_blank = blank;
                line_has_code = false;
                line_has_comment = false;
                i += 1;
            }
            b'"' | b'`' => {
                let close = bytes[i];
                line_has_code = true;
                i += 1;
                while i < bytes.len() && bytes[i] != b'\n' {
                    if bytes[i] == b'\\'
                        && close == b'"'
                        && i + 1 < bytes.len()
                        && bytes[i + 1] != b'\n'
                    {
                        i += 2;
                        continue;
                    }
                    i += 1;
                    if bytes[i - 1] == close {
                        break;
                    }
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let end = text[i..].find('\n').map_or(text.len(), |n| i + n);
                let body = text.get(i + 2..end).unwrap_or_default();
                out.push(Comment {
                    span: Span::new(file, i, end),
                    text: body.strip_suffix('\r').unwrap_or(body).to_string(),
                    trailing: line_has_code,
                    blank_before: !line_has_code && last_blank && seen_any,
                    blank_after: !line_has_code && next_line_blank(&text[end..]),
                });
                line_has_comment = true;
                i = end;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            _ => {
                line_has_code = true;
                i += 1;
            }
        }
    }
    out
}

/// The first position at or after `pos` that is not whitespace or a comment.
pub(super) fn skip_trivia(text: &str, mut pos: usize, end: usize) -> usize {
    let end = end.min(text.len());
    while pos < end {
        let rest = &text[pos..end];
        if rest.starts_with("//") {
            pos += rest.find('\n').unwrap_or(rest.len());
        } else if let Some(c) = rest.chars().next().filter(|c| c.is_whitespace()) {
            pos += c.len_utf8();
        } else {
            break;
        }
    }
    pos
}

/// The length of `text` without trailing whitespace and `//` comments.
pub(super) fn trim_trivia_end(text: &str) -> usize {
    let mut len = text.trim_end().len();
    loop {
        let line_start = text[..len].rfind('\n').map_or(0, |i| i + 1);
        match comment_start(text, line_start, len) {
            Some(at) => len = text[..at].trim_end().len(),
            None => return len,
        }
    }
}

/// Where a `//` comment starts in `text[from..to]` (one line), outside strings and
/// backticked names: `"https://x"` holds no comment.
fn comment_start(text: &str, from: usize, to: usize) -> Option<usize> {
    let slice = text.get(from..to)?;
    let mut it = slice.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        match c {
            '"' | '`' => {
                // Strings and backticked names end at their closing quote or the line end.
                while let Some((_, d)) = it.next() {
                    if d == '\\' && c == '"' {
                        it.next();
                    } else if d == c {
                        break;
                    }
                }
            }
            '/' if it.peek().is_some_and(|&(_, d)| d == '/') => return Some(from + i),
            _ => {}
        }
    }
    None
}

/// True when the code at `pos` continues the statement before it rather than starting
/// a new one (`| step`, `validate`, `where`, `and`, `,`, `=>`, `else`, ...).
pub(super) fn continues(text: &str, pos: usize, end: usize) -> bool {
    let rest = text.get(pos..end).unwrap_or_default();
    ["|", ",", "=>", "->", "."]
        .iter()
        .any(|p| rest.starts_with(p))
        || [
            "validate",
            "where",
            "and",
            "else",
            "in",
            "by",
            "times",
            "every",
            "exponential",
            "token",
        ]
        .iter()
        .any(|k| rest.starts_with(k) && !rest[k.len()..].starts_with(is_ident_char))
}

/// A `(` or `[` opened between `from` and `to` on an earlier line than `to` and still
/// open at `to`: the outermost one, with its character.
pub(super) fn unclosed_bracket(text: &str, from: usize, to: usize) -> Option<(usize, char)> {
    let mut open: Vec<(usize, char)> = Vec::new();
    scan(text, from, to, |i, c| {
        match c {
            '(' | '[' => open.push((i, c)),
            ')' | ']' => {
                open.pop();
            }
            _ => {}
        }
        true
    });
    let (at, c) = *open.first()?;
    text.get(at..to)?.contains('\n').then_some((at, c))
}

/// The byte index of the `}` matching the `{` at `open`, if any.
pub(super) fn matching_brace(text: &str, open: usize) -> Option<usize> {
    let mut depth = 0i32;
    let mut found = None;
    scan(text, open, text.len(), |i, c| {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    found = Some(i);
                    return false;
                }
            }
            _ => {}
        }
        true
    });
    found
}

/// The start of the first line after `from` (and before `end`) that begins, at column 0,
/// with the head of a top-level item: where a block that was never closed is cut off.
pub(super) fn next_item_line(text: &str, from: usize, end: usize) -> Option<usize> {
    let mut pos = from;
    while let Some(n) = text.get(pos..end).and_then(|r| r.find('\n')) {
        let line = pos + n + 1;
        if line >= end {
            return None;
        }
        let starts_item = [
            "schema",
            "task",
            "connection",
            "integration",
            "lookup",
            "rates",
            "shardtype",
            "entity",
        ]
        .iter()
        .any(|k| text[line..].starts_with(k));
        if starts_item && CmapParser::parse(Rule::item_head, &text[line..]).is_ok() {
            return Some(line);
        }
        pos = line;
    }
    None
}

/// Where the statement starting at `pos` ends, to skip one that does not parse: the
/// first line end outside brackets whose next line does not continue the statement
/// (`| step`, `validate`, `where`, `and`, `,`, `=>`, `else`).
pub(super) fn skip_statement(text: &str, pos: usize, end: usize) -> usize {
    let mut depth = 0i32;
    let mut stop = end;
    scan(text, pos, end, |i, c| {
        match c {
            // A `(` left open is the likely error itself: it does not hold the next
            // lines in the statement the way an open `{` or `[` does.
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            '\n' if depth <= 0 => {
                let next = skip_trivia(text, i + 1, end);
                let continues = continues(text, next, end);
                if !continues {
                    stop = i + 1;
                    return false;
                }
            }
            _ => {}
        }
        true
    });
    stop.max(pos + 1).min(end)
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// True for a plain identifier (`[A-Za-z_][A-Za-z0-9_-]*`).
pub(crate) fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(is_ident_char)
}

/// The token at `pos`, for "found `...`": a word, a string (up to 30 characters), an
/// operator, or one character.
pub(super) fn token_at(text: &str, pos: usize) -> &str {
    let rest = text.get(pos..).unwrap_or_default();
    let Some(c) = rest.chars().next() else {
        return "";
    };
    let len = if is_ident_char(c) || c == '.' && rest[1..].starts_with(|d: char| d.is_ascii_digit())
    {
        rest.find(|d: char| !(is_ident_char(d) || d == '.'))
            .unwrap_or(rest.len())
    } else if c == '"' || c == '\'' || c == '`' {
        let line = rest.find('\n').unwrap_or(rest.len());
        let close = rest[1..line].find(c).map_or(line, |n| n + 2);
        // Long strings are cut at a character boundary.
        let mut cut = close.min(30);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        cut
    } else if ["==", "!=", ">=", "<=", "=>", "->", "//"]
        .iter()
        .any(|op| rest.starts_with(op))
    {
        2
    } else {
        c.len_utf8()
    };
    &rest[..len]
}

/// The word just before `pos` (skipping whitespace), if it is a name or a backticked one.
pub(super) fn token_before(text: &str, pos: usize) -> Option<String> {
    let before = text.get(..pos)?.trim_end();
    if let Some(inner) = before.strip_suffix('`') {
        let open = inner.rfind('`')?;
        return Some(inner[open + 1..].to_string());
    }
    let start = before
        .char_indices()
        .rev()
        .find(|(_, c)| !is_ident_char(*c))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let word = &before[start..];
    (!word.is_empty()).then(|| word.to_string())
}
