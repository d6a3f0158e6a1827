//! JSON lines and CSV files, read page by page from a byte offset, so that a resumed
//! read continues exactly where the last committed page ended and a file of any size is
//! read in memory bounded by one page.
//!
//! Connection settings (a task's config may give its own of each; all checked by `cmap
//! check`, `crate::compile::config::files`):
//!
//! - `path`: the file, relative to the pipelines directory (`--pipelines`); `{entity}` is replaced
//!   by the source entity (`data/{entity}.jsonl`).
//! - `format`: `jsonl` or `csv`; by default from the extension (`.jsonl`, `.ndjson`;
//!   `.csv`; `.tsv` is CSV with tabs).
//! - `delimiter` (CSV): one character, default `,` (`\t` or `tab` for tabs).
//! - `updatedField` (in a task's config also `modifiedSinceField`): the record's
//!   modification time. With it the read keeps a watermark (the newest value seen) and
//!   the next run leaves out records strictly older than it. The whole file is still
//!   read: a file has no index.
//!
//! JSON lines: one JSON object per line; blank lines are skipped. A line that does not
//! parse, or is not an object, comes back in [`Page::invalid`] with its line number, and
//! the read goes on. CSV: the header row gives the keys; every value is a string as
//! written (an empty cell is `""`): convert in the schema (`to_number`, `to_date`, ...).
//! A row whose field count differs from the header's, or that is not UTF-8, is invalid.
//!
//! The cursor is `{"offset": BYTES, "line": NEXT_LINE}` (plus `since`/`high` on
//! incremental reads): the position right after the page. A CSV page re-reads the header
//! row (one line), nothing else before its offset.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::PathBuf;

use serde_json::{Map, Value};

use super::rest::{compare, newest, path as value_at};
use super::{Capability, Connector, ConnectorError, InvalidRecord, Page, ReadRequest};
use crate::compile::config::{files, Settings, Source};

/// The files connector.
pub struct Files;

/// A file's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    JsonLines,
    Csv { delimiter: u8 },
}

/// Where a page starts: a byte offset and the line number there (1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub offset: u64,
    pub line: u64,
}

impl Position {
    pub const START: Position = Position { offset: 0, line: 1 };
}

/// One page read from a file.
#[derive(Clone, Debug, PartialEq)]
pub struct Chunk {
    pub records: Vec<Value>,
    pub invalid: Vec<InvalidRecord>,
    /// The position after the page.
    pub next: Position,
    /// Nothing follows the page.
    pub done: bool,
}

/// The settings of a files read, checked.
#[derive(Clone, Debug)]
pub struct Config {
    pub path: PathBuf,
    pub format: Format,
    pub updated_field: Option<String>,
}

fn permanent(message: String) -> ConnectorError {
    ConnectorError::Permanent { message }
}

impl Config {
    /// The read's settings, from what `check` typed: the connection's `settings` and the
    /// task's config over them. `check` has made sure a path and a format are given
    /// when it can tell the task's connection (always, but for a task whose connection
    /// is only found at run time); otherwise this says what is missing.
    pub fn from_request(req: &ReadRequest) -> Result<Config, ConnectorError> {
        let Settings::Files(shared) = &req.settings else {
            return Err(super::mismatch("files", "settings"));
        };
        let read = match &req.source {
            Source::Files(own) => shared.or(own),
            Source::None => shared.clone(),
            _ => return Err(super::mismatch("files", "task config")),
        };
        let file = read
            .path
            .as_deref()
            .ok_or_else(|| permanent("a files read needs the setting `path`".into()))?
            .replace("{entity}", &req.entity);
        let (format, delimiter) = read
            .resolved_format()
            .map_err(|why| permanent(format!("{why}: set `format` to jsonl or csv")))?;
        let format = match format {
            files::Format::JsonLines => Format::JsonLines,
            files::Format::Csv => Format::Csv { delimiter },
        };
        Ok(Config {
            path: req.base_dir.join(&file),
            format,
            updated_field: read.updated_field,
        })
    }
}

#[async_trait::async_trait]
impl Connector for Files {
    fn name(&self) -> &'static str {
        "files"
    }

    fn capabilities(&self) -> &'static [Capability] {
        &[Capability::Read]
    }

    fn start(&self, req: &ReadRequest, watermark: Option<&Value>) -> Result<Value, ConnectorError> {
        let config = Config::from_request(req)?;
        let mut cursor = Map::new();
        cursor.insert("offset".into(), Value::from(0));
        cursor.insert("line".into(), Value::from(1));
        if let (Some(_), Some(watermark), false) = (&config.updated_field, watermark, req.full) {
            cursor.insert("since".into(), watermark.clone());
        }
        Ok(Value::Object(cursor))
    }

    /// None: a file has no origin, and the files connector sends nothing anywhere.
    fn origins(&self, _settings: &Settings) -> Vec<url::Url> {
        Vec::new()
    }

    async fn next_page(&self, req: &ReadRequest, cursor: &Value) -> Result<Page, ConnectorError> {
        let config = Config::from_request(req)?;
        let empty = Map::new();
        let cursor = cursor.as_object().unwrap_or(&empty);
        let at = Position {
            offset: cursor.get("offset").and_then(Value::as_u64).unwrap_or(0),
            line: cursor.get("line").and_then(Value::as_u64).unwrap_or(1),
        };
        let since = cursor.get("since").filter(|v| !v.is_null());
        let page_size = req.page_size.max(1);
        let path = config.path.clone();
        let format = config.format;
        // File reads block: run them off the async workers.
        let chunk = tokio::task::spawn_blocking(move || -> io::Result<Chunk> {
            let mut file = File::open(&path)?;
            let len = file.metadata()?.len();
            if at.offset > len {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the file is {len} bytes, shorter than the read's position ({}): it changed since the read began",
                        at.offset
                    ),
                ));
            }
            read_chunk(&mut file, format, at, page_size)
        })
        .await
        .map_err(|e| permanent(format!("the file reader stopped: {e}")))?
        .map_err(|e| permanent(format!("cannot read {}: {e}", config.path.display())))?;

        let mut page = Page {
            invalid: chunk.invalid,
            ..Page::default()
        };
        let mut high = cursor.get("high").filter(|v| !v.is_null()).cloned();
        for record in chunk.records {
            if let Some(field) = &config.updated_field {
                if let Some(updated) = value_at(&record, field).filter(|v| !v.is_null()) {
                    if since.is_some_and(|since| compare(updated, since).is_lt()) {
                        continue;
                    }
                    high = Some(newest(high, updated));
                }
            }
            page.records.push(record);
        }
        if config.updated_field.is_some() {
            page.watermark = high.clone().or_else(|| since.cloned());
        }
        if !chunk.done {
            let mut next = Map::new();
            next.insert("offset".into(), Value::from(chunk.next.offset));
            next.insert("line".into(), Value::from(chunk.next.line));
            if let Some(since) = since {
                next.insert("since".into(), since.clone());
            }
            if let Some(high) = high {
                next.insert("high".into(), high);
            }
            page.next = Some(Value::Object(next));
        }
        Ok(page)
    }
}

/// Reads up to `page_size` records (valid or not) from `at`. Reads nothing before `at`
/// but, for CSV, the header row.
pub fn read_chunk<R: Read + Seek>(
    source: &mut R,
    format: Format,
    at: Position,
    page_size: usize,
) -> io::Result<Chunk> {
    match format {
        Format::JsonLines => read_jsonl(source, at, page_size),
        Format::Csv { delimiter } => read_csv(source, delimiter, at, page_size),
    }
}

fn read_jsonl<R: Read + Seek>(source: &mut R, at: Position, page_size: usize) -> io::Result<Chunk> {
    source.seek(SeekFrom::Start(at.offset))?;
    let mut reader = BufReader::with_capacity(64 * 1024, source);
    let mut chunk = Chunk {
        records: Vec::new(),
        invalid: Vec::new(),
        next: at,
        done: false,
    };
    let mut line = Vec::new();
    let mut taken = 0;
    while taken < page_size {
        line.clear();
        let (read, whole) = read_line(&mut reader, &mut line)?;
        if read == 0 {
            chunk.done = true;
            return Ok(chunk);
        }
        let number = chunk.next.line;
        let first = chunk.next.offset == 0;
        chunk.next.offset = chunk.next.offset.saturating_add(read);
        chunk.next.line += 1;
        if !whole {
            taken += 1;
            chunk.invalid.push(InvalidRecord {
                raw: format!("{}...", String::from_utf8_lossy(&line[..line.len().min(200)])),
                message: format!(
                    "line {number}: longer than {MAX_LINE} bytes, the longest record a file may hold"
                ),
            });
            continue;
        }
        let mut text: &[u8] = &line;
        if first {
            text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
        }
        let text = text.trim_ascii();
        if text.is_empty() {
            continue;
        }
        taken += 1;
        match serde_json::from_slice::<Value>(text) {
            Ok(record @ Value::Object(_)) => chunk.records.push(record),
            Ok(other) => chunk.invalid.push(InvalidRecord {
                raw: String::from_utf8_lossy(text).into_owned(),
                message: format!("line {number}: {} is not a JSON object", kind(&other)),
            }),
            Err(e) => chunk.invalid.push(InvalidRecord {
                raw: String::from_utf8_lossy(text).into_owned(),
                message: format!("line {number}: {e}"),
            }),
        }
    }
    // A full page at the very end of the file: say so now rather than with an empty page.
    chunk.done = reader.fill_buf()?.is_empty();
    Ok(chunk)
}

/// The longest JSON line read (16 MiB): a longer one is an invalid record, skipped
/// without being held in memory.
pub const MAX_LINE: usize = 16 * 1024 * 1024;

/// Reads one line (with its `\n`) into `line`, at most [`MAX_LINE`] bytes of it. Returns
/// the bytes consumed, and whether the line was whole: for a longer one, the rest up to
/// its end is consumed but not kept.
fn read_line<R: BufRead>(reader: &mut R, line: &mut Vec<u8>) -> io::Result<(u64, bool)> {
    let limit = u64::try_from(MAX_LINE).unwrap_or(u64::MAX);
    let kept = reader.take(limit).read_until(b'\n', line)?;
    let mut consumed = u64::try_from(kept).unwrap_or(u64::MAX);
    if kept < MAX_LINE || line.last() == Some(&b'\n') {
        return Ok((consumed, true));
    }
    if reader.fill_buf()?.is_empty() {
        // Exactly the limit, at the end of the file.
        return Ok((consumed, true));
    }
    // Too long: skip to the end of the line, a buffer at a time.
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok((consumed, false));
        }
        let (used, end) = match buffer.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buffer.len(), false),
        };
        reader.consume(used);
        consumed = consumed.saturating_add(u64::try_from(used).unwrap_or(u64::MAX));
        if end {
            return Ok((consumed, false));
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn read_csv<R: Read + Seek>(
    source: &mut R,
    delimiter: u8,
    at: Position,
    page_size: usize,
) -> io::Result<Chunk> {
    source.seek(SeekFrom::Start(0))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(LineLimit {
            inner: source,
            since_newline: 0,
        });
    let mut chunk = Chunk {
        records: Vec::new(),
        invalid: Vec::new(),
        next: at,
        done: false,
    };
    let mut header = csv::ByteRecord::new();
    if !reader.read_byte_record(&mut header).map_err(csv_error)? {
        chunk.done = true;
        return Ok(chunk);
    }
    let keys: Vec<String> = header
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let key = if i == 0 {
                key.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(key)
            } else {
                key
            };
            String::from_utf8_lossy(key).trim().to_string()
        })
        .collect();
    let after_header = reader.position().clone();
    if at.offset > after_header.byte() {
        // Resume: jump straight to the page (the reader's buffer is dropped).
        let mut position = csv::Position::new();
        position.set_byte(at.offset).set_line(at.line);
        reader.seek(position).map_err(csv_error)?;
    }
    let mut row = csv::ByteRecord::new();
    let mut taken = 0;
    loop {
        let here = reader.position().clone();
        chunk.next = Position {
            offset: here.byte(),
            line: here.line(),
        };
        if taken == page_size {
            break;
        }
        if !reader.read_byte_record(&mut row).map_err(csv_error)? {
            chunk.done = true;
            break;
        }
        taken += 1;
        let line = row.position().map_or(here.line(), csv::Position::line);
        let raw = || {
            row.iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect::<Vec<_>>()
                .join(&char::from(delimiter).to_string())
        };
        if row.len() != keys.len() {
            chunk.invalid.push(InvalidRecord {
                raw: raw(),
                message: format!(
                    "line {line}: {} fields, the header has {}",
                    row.len(),
                    keys.len()
                ),
            });
            continue;
        }
        let mut record = Map::new();
        let mut bad = None;
        for (key, field) in keys.iter().zip(row.iter()) {
            match std::str::from_utf8(field) {
                Ok(value) => {
                    record.insert(key.clone(), Value::String(value.to_string()));
                }
                Err(e) => {
                    bad = Some(format!("line {line}: the field `{key}` is not UTF-8 ({e})"));
                    break;
                }
            }
        }
        match bad {
            None => chunk.records.push(Value::Object(record)),
            Some(message) => chunk.invalid.push(InvalidRecord {
                raw: raw(),
                message,
            }),
        }
    }
    if !chunk.done {
        // A full page at the very end of the file: say so now rather than with an empty page.
        chunk.done = !reader.read_byte_record(&mut row).map_err(csv_error)?;
    }
    Ok(chunk)
}

/// A reader that fails on a line longer than [`MAX_LINE`]: the CSV reader holds a
/// whole record in memory, and a file with no line end must not be read whole.
struct LineLimit<R> {
    inner: R,
    since_newline: usize,
}

impl<R: Read> Read for LineLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let read = buf.get(..n).unwrap_or(&[]);
        // The line running into this buffer ends at its first line end; the one running
        // out of it starts after its last. A line wholly inside one buffer is shorter
        // than the buffer, so far shorter than the limit.
        let running = match read.iter().position(|b| *b == b'\n') {
            Some(first) => {
                let ended = self.since_newline.saturating_add(first);
                self.since_newline = read
                    .iter()
                    .rposition(|b| *b == b'\n')
                    .map_or(0, |last| n - last - 1);
                ended
            }
            None => {
                self.since_newline = self.since_newline.saturating_add(n);
                self.since_newline
            }
        };
        if running.max(self.since_newline) > MAX_LINE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a line is longer than {MAX_LINE} bytes, the longest a file may hold"),
            ));
        }
        Ok(n)
    }
}

impl<R: Seek> Seek for LineLimit<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        // The CSV reader seeks to the start of a record, so to the start of a line.
        self.since_newline = 0;
        self.inner.seek(to)
    }
}

fn csv_error(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::new(io::ErrorKind::InvalidData, format!("{other:?}")),
    }
}
