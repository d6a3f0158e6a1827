//! A small span-tracking JSON reader: every value and every object key keeps its byte
//! span, so seed-JSON diagnostics can point at the exact line and column of a value.
//!
//! serde_json forgets positions once a value is built, hence this reader. It accepts
//! exactly RFC 8259 JSON (no comments, no trailing commas), and explains the usual slips
//! (single quotes, bare keys, trailing commas, comments) in its messages. Numbers are
//! converted by serde_json itself so literals compare equal to what serde_json reads.

use serde_json::{Map, Number, Value};

use crate::diagnostics::{Code, Diagnostic};
use crate::syntax::ast::{FileId, Span};

/// Deeper nesting is refused rather than risking the stack (serde_json's limit too).
const MAX_DEPTH: usize = 128;

/// A JSON value with the span of its text.
#[derive(Clone, Debug, PartialEq)]
pub struct JVal {
    pub span: Span,
    pub kind: JKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum JKind {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<JVal>),
    /// Entries in source order; a key given twice keeps its last value (as serde_json
    /// does) at the position of its first occurrence.
    Object(Vec<JEntry>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct JEntry {
    pub key: String,
    pub key_span: Span,
    pub value: JVal,
}

impl JKind {
    /// The JSON type, as messages name it (`found number`).
    pub fn type_name(&self) -> &'static str {
        match self {
            JKind::Null => "null",
            JKind::Bool(_) => "boolean",
            JKind::Number(_) => "number",
            JKind::String(_) => "string",
            JKind::Array(_) => "array",
            JKind::Object(_) => "object",
        }
    }
}

impl JVal {
    /// The plain serde_json value (for literals).
    pub fn to_value(&self) -> Value {
        match &self.kind {
            JKind::Null => Value::Null,
            JKind::Bool(b) => Value::Bool(*b),
            JKind::Number(n) => Value::Number(n.clone()),
            JKind::String(s) => Value::String(s.clone()),
            JKind::Array(items) => Value::Array(items.iter().map(JVal::to_value).collect()),
            JKind::Object(entries) => {
                let mut map = Map::new();
                for e in entries {
                    map.insert(e.key.clone(), e.value.to_value());
                }
                Value::Object(map)
            }
        }
    }
}

/// Reads one JSON document. A syntax error stops the reader (JSON has no reliable
/// resynchronisation point) and is the `Err`; duplicate keys are reported in the `Ok`
/// list and reading goes on.
pub fn read(file: FileId, text: &str) -> Result<(JVal, Vec<Diagnostic>), Diagnostic> {
    let mut r = Reader {
        file,
        text,
        bytes: text.as_bytes(),
        pos: 0,
        depth: 0,
        diags: Vec::new(),
    };
    // A UTF-8 byte order mark is tolerated, as editors on Windows write one.
    if text.starts_with('\u{feff}') {
        r.pos = '\u{feff}'.len_utf8();
    }
    let value = r.value()?;
    r.skip_ws();
    if r.pos < r.bytes.len() {
        let span = r.char_span(r.pos);
        return Err(Diagnostic::new(
            Code::InvalidJson,
            span,
            "unexpected text after the JSON value",
        )
        .with_label("the document should end before this")
        .with_help(
            "a seed-JSON file holds one value: wrap several objects in an array `[ {..}, {..} ]`",
        ));
    }
    Ok((value, r.diags))
}

struct Reader<'t> {
    file: FileId,
    text: &'t str,
    bytes: &'t [u8],
    pos: usize,
    depth: usize,
    diags: Vec<Diagnostic>,
}

impl Reader<'_> {
    fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, start, end)
    }

    /// The span of the character at `pos` (empty at the end of the text).
    fn char_span(&self, pos: usize) -> Span {
        let len = self
            .text
            .get(pos..)
            .and_then(|s| s.chars().next())
            .map_or(0, char::len_utf8);
        self.span(pos, pos + len)
    }

    /// How messages name the character at `pos`.
    fn found(&self, pos: usize) -> String {
        match self.text.get(pos..).and_then(|s| s.chars().next()) {
            None => "the end of the file".to_string(),
            Some(c) if c.is_control() => format!("the control character U+{:04X}", c as u32),
            Some(c) => format!("`{c}`"),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn error(&self, pos: usize, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Code::InvalidJson, self.char_span(pos), message)
    }

    /// "expected X, found Y" at the current position, with a hint for the usual slips.
    /// A bare word is shown whole (`True`, `undefined`), not by its first letter.
    fn expected(&self, what: &str) -> Diagnostic {
        let pos = self.pos;
        let rest = self.text.get(pos..).unwrap_or("");
        let word_len = rest
            .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .unwrap_or(rest.len());
        let word = rest.get(..word_len).unwrap_or("");
        let starts_word = rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
        let d = if starts_word {
            Diagnostic::new(
                Code::InvalidJson,
                self.span(pos, pos + word_len),
                format!("expected {what}, found `{word}`"),
            )
        } else {
            self.error(pos, format!("expected {what}, found {}", self.found(pos)))
        };
        let lower = word.to_ascii_lowercase();
        let help = if rest.starts_with('\'') {
            "JSON strings use double quotes: \"text\"".to_string()
        } else if rest.starts_with(',') {
            "something is missing before this `,`, or the `,` is one too many".to_string()
        } else if rest.starts_with("//") || rest.starts_with("/*") {
            "JSON has no comments; remove it (a `.cmap` file may have `//` comments)".to_string()
        } else if word == "NaN" || word == "Infinity" {
            "JSON has no NaN or Infinity; use null or a number".to_string()
        } else if ["true", "false", "null"].contains(&lower.as_str()) {
            format!("JSON literals are lower case: {lower}")
        } else if starts_word {
            format!("text must be a double-quoted string: \"{word}\"")
        } else {
            return d;
        };
        d.with_help(help)
    }

    fn value(&mut self) -> Result<JVal, Diagnostic> {
        self.skip_ws();
        let start = self.pos;
        match self.peek() {
            Some(b'{') => self.nested(start, Reader::object),
            Some(b'[') => self.nested(start, Reader::array),
            Some(b'"') => {
                let s = self.string()?;
                Ok(JVal {
                    span: self.span(start, self.pos),
                    kind: JKind::String(s),
                })
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.word("true", JKind::Bool(true)),
            Some(b'f') => self.word("false", JKind::Bool(false)),
            Some(b'n') => self.word("null", JKind::Null),
            _ => Err(self.expected("a JSON value")),
        }
    }

    fn nested(
        &mut self,
        start: usize,
        read: fn(&mut Self) -> Result<JKind, Diagnostic>,
    ) -> Result<JVal, Diagnostic> {
        if self.depth >= MAX_DEPTH {
            return Err(self
                .error(
                    start,
                    format!("values are nested more than {MAX_DEPTH} levels deep"),
                )
                .with_help("flatten the data; seed JSON never needs this depth"));
        }
        self.depth += 1;
        let kind = read(self)?;
        self.depth -= 1;
        Ok(JVal {
            span: self.span(start, self.pos),
            kind,
        })
    }

    fn word(&mut self, word: &str, kind: JKind) -> Result<JVal, Diagnostic> {
        let start = self.pos;
        let rest = self.text.get(start..).unwrap_or("");
        // The whole run of letters, so `nullx` or `True` is reported as one word.
        let len = rest
            .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .unwrap_or(rest.len());
        if rest.get(..len) == Some(word) {
            self.pos += len;
            return Ok(JVal {
                span: self.span(start, self.pos),
                kind,
            });
        }
        Err(self.expected("a JSON value"))
    }

    /// `{` entries `}`; the reader stands on the `{`.
    fn object(&mut self) -> Result<JKind, Diagnostic> {
        let open = self.pos;
        self.pos += 1;
        let mut entries: Vec<JEntry> = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(JKind::Object(entries));
        }
        loop {
            self.skip_ws();
            let key_start = self.pos;
            if self.peek() != Some(b'"') {
                let d = if self.peek() == Some(b'}') {
                    self.error(self.pos, "expected a key after `,`, found `}`")
                        .with_help("JSON allows no trailing comma: remove the last `,`")
                } else if self
                    .peek()
                    .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'$')
                {
                    let rest = self.text.get(self.pos..).unwrap_or("");
                    let len = rest
                        .find(|c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '$')
                        .unwrap_or(rest.len());
                    let word = rest.get(..len).unwrap_or("");
                    Diagnostic::new(
                        Code::InvalidJson,
                        self.span(self.pos, self.pos + len),
                        format!("object keys must be strings, found `{word}`"),
                    )
                    .with_help(format!("quote the key: \"{word}\""))
                } else {
                    self.expected("a string key")
                };
                return Err(self.unclosed(d, open, "object"));
            }
            let key = self.string()?;
            let key_span = self.span(key_start, self.pos);
            self.skip_ws();
            if self.peek() != Some(b':') {
                let d = self.expected(&format!("`:` after the key \"{key}\""));
                return Err(d);
            }
            self.pos += 1;
            let value = self.value()?;
            match entries.iter_mut().find(|e| e.key == key) {
                Some(first) => {
                    self.diags.push(
                        Diagnostic::new(
                            Code::DuplicateClause,
                            key_span,
                            format!("the key \"{key}\" is given twice"),
                        )
                        .with_label("given again here")
                        .with_related(first.key_span, "first given here")
                        .with_help("remove one of them; the last one is used"),
                    );
                    first.value = value;
                }
                None => entries.push(JEntry {
                    key,
                    key_span,
                    value,
                }),
            }
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(JKind::Object(entries));
                }
                _ => {
                    let d = self.expected("`,` or `}` after an object entry");
                    return Err(self.unclosed(d, open, "object"));
                }
            }
        }
    }

    /// `[` values `]`; the reader stands on the `[`.
    fn array(&mut self) -> Result<JKind, Diagnostic> {
        let open = self.pos;
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(JKind::Array(items));
        }
        loop {
            self.skip_ws();
            if self.peek() == Some(b']') {
                return Err(self
                    .error(self.pos, "expected a value after `,`, found `]`")
                    .with_help("JSON allows no trailing comma: remove the last `,`"));
            }
            items.push(self.value()?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(JKind::Array(items));
                }
                _ => {
                    let d = self.expected("`,` or `]` after an array element");
                    return Err(self.unclosed(d, open, "array"));
                }
            }
        }
    }

    /// At the end of the file, also points at the bracket that was never closed.
    fn unclosed(&self, d: Diagnostic, open: usize, what: &str) -> Diagnostic {
        if self.pos >= self.bytes.len() {
            d.with_related(
                self.span(open, open + 1),
                format!("this {what} is never closed"),
            )
        } else {
            d
        }
    }

    /// A string; the reader stands on the opening quote and ends after the closing one.
    fn string(&mut self) -> Result<String, Diagnostic> {
        let open = self.pos;
        self.pos += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return Err(Diagnostic::new(
                    Code::InvalidJson,
                    self.span(open, open + 1),
                    "unterminated string",
                )
                .with_label("this string is never closed")
                .with_help("end the string with `\"`"));
            };
            match b {
                b'"' => {
                    self.pos += 1;
                    break;
                }
                b'\\' => {
                    let esc = self.pos;
                    self.pos += 1;
                    let c = match self.peek() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.pos += 1;
                            let c = self.unicode_escape(esc)?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                            continue;
                        }
                        _ => {
                            let end = self.char_span(self.pos).end as usize;
                            return Err(Diagnostic::new(Code::InvalidJson, self.span(esc, end.max(esc + 1)), "invalid escape in a string")
                                .with_help("the escapes are \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX; write a backslash as \\\\"));
                        }
                    };
                    self.pos += 1;
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                0x00..=0x1f => {
                    let name = match b {
                        b'\n' => "a line break",
                        b'\t' => "a tab",
                        _ => "a control character",
                    };
                    return Err(self
                        .error(self.pos, format!("{name} inside a string"))
                        .with_related(self.span(open, open + 1), "the string starts here")
                        .with_help("escape it (\\n, \\t, \\u00XX) or close the string with `\"`"));
                }
                _ => {
                    out.push(b);
                    self.pos += 1;
                }
            }
        }
        // Only whole UTF-8 sequences of valid `&str` text and encoded chars were copied.
        String::from_utf8(out).map_err(|_| self.error(open, "invalid UTF-8 in a string"))
    }

    /// The 4 hex digits after `\u` (and a following low surrogate when needed).
    fn unicode_escape(&mut self, esc: usize) -> Result<char, Diagnostic> {
        let high = self.hex4(esc)?;
        let code = if (0xD800..0xDC00).contains(&high) {
            let rest = self.text.get(self.pos..).unwrap_or("");
            if !rest.starts_with("\\u") {
                return Err(self.surrogate_error(esc));
            }
            self.pos += 2;
            let low = self.hex4(esc)?;
            if !(0xDC00..0xE000).contains(&low) {
                return Err(self.surrogate_error(esc));
            }
            0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00..0xE000).contains(&high) {
            return Err(self.surrogate_error(esc));
        } else {
            high
        };
        char::from_u32(code).ok_or_else(|| self.surrogate_error(esc))
    }

    fn hex4(&mut self, esc: usize) -> Result<u32, Diagnostic> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()));
        match digits.and_then(|d| u32::from_str_radix(d, 16).ok()) {
            Some(v) => {
                self.pos += 4;
                Ok(v)
            }
            None => Err(Diagnostic::new(
                Code::InvalidJson,
                self.span(esc, self.pos),
                "invalid unicode escape",
            )
            .with_help("\\u takes exactly 4 hex digits: \\u00e9")),
        }
    }

    fn surrogate_error(&self, esc: usize) -> Diagnostic {
        Diagnostic::new(
            Code::InvalidJson,
            self.span(esc, self.pos),
            "unpaired surrogate in a unicode escape",
        )
        .with_help("a character above U+FFFF is written as a pair: \\ud83d\\ude00")
    }

    /// A number by the JSON grammar, converted by serde_json.
    fn number(&mut self) -> Result<JVal, Diagnostic> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    return Err(self
                        .error(start, "numbers cannot have leading zeros")
                        .with_help(
                            "remove the leading zeros, or quote the value if it is a code: \"007\"",
                        ));
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.expected("a digit")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
                return Err(self.expected("a digit after the decimal point"));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
                return Err(self.expected("a digit in the exponent"));
            }
            self.digits();
        }
        let span = self.span(start, self.pos);
        let slice = self.text.get(start..self.pos).unwrap_or("");
        match serde_json::from_str::<Number>(slice) {
            Ok(n) => Ok(JVal {
                span,
                kind: JKind::Number(n),
            }),
            Err(_) => Err(Diagnostic::new(
                Code::InvalidJson,
                span,
                format!("the number {slice} is out of range"),
            )
            .with_help("numbers must fit a 64-bit float; quote it to keep it as text")),
        }
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
    }
}
