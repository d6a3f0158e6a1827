//! The input reader: JSON lines in, one record at a time, parsing only what is read.
//!
//! Memory stays flat: one line buffer, reused. With a [`ReadPlan`] (the schema's
//! [`reads`](crate::compile::ir::Schema::reads) top-level keys, or
//! [`ReadPlan::for_schema`] down to nested keys) each line is parsed with a serde
//! visitor that builds [`Value`]s for the wanted keys only and skips every other value
//! with [`IgnoredAny`], which checks its syntax but allocates nothing. On wide records
//! (Salesforce objects carry dozens of fields) that is most of the parsing cost saved.
//! The record yielded then holds only those keys (in the plan's order);
//! [`RecordReader::raw_line`] still gives the whole line for error output.
//!
//! [`RecordReader::read_into`] reads each record into the caller's, reusing its
//! allocations: a planned record with the same keys as the last one keeps the last one's
//! keys and has its values replaced, so a run of like records allocates only their
//! values. `cmap map` reads that way; the iterator yields a fresh record each time.

use std::borrow::Cow;
use std::fmt;
use std::io::BufRead;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::plan::{Need, ReadPlan};
use super::{ErrorCode, RecordError};

/// A line that is not a record, or a failure to read the input at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    /// 1-based line number.
    pub line: usize,
    pub message: String,
    /// The input itself could not be read (not one bad line): reading stops here.
    pub io: bool,
}

impl InputError {
    /// The failure as a record error (`invalid_record`), for error output.
    pub fn to_record_error(&self) -> RecordError {
        RecordError {
            code: ErrorCode::InvalidRecord,
            field: None,
            message: self.message.clone(),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for InputError {}

/// Reads JSON lines: yields each non-blank line as a record (a JSON object), or an
/// [`InputError`] for that line alone (not JSON, not an object, not UTF-8), and goes
/// on. An I/O error is yielded once and ends the iteration. As an iterator it yields
/// owned records; [`RecordReader::read_into`] reads the same items into one record.
pub struct RecordReader<R> {
    input: R,
    /// `None`: whole records.
    plan: Option<ReadPlan>,
    buf: Vec<u8>,
    /// Lines read so far.
    lines_read: usize,
    /// The line number of the last item yielded.
    line: usize,
    done: bool,
}

/// A buffer grown by one huge line is given back once it exceeds this.
const KEEP_CAPACITY: usize = 1 << 20;

impl<R: BufRead> RecordReader<R> {
    /// `reads`: the top-level keys to keep (`None`: whole records).
    pub fn new(input: R, reads: Option<&[String]>) -> RecordReader<R> {
        RecordReader::with_plan(input, reads.map(ReadPlan::top_level))
    }

    /// Reads what `plan` names, down to nested keys ([`ReadPlan::for_schema`]); `None`:
    /// whole records.
    pub fn with_plan(input: R, plan: Option<ReadPlan>) -> RecordReader<R> {
        RecordReader {
            input,
            plan,
            buf: Vec::with_capacity(4096),
            lines_read: 0,
            line: 0,
            done: false,
        }
    }

    /// The 1-based line number of the item `next` last yielded (0 before the first).
    pub fn line(&self) -> usize {
        self.line
    }

    /// The text of the line `next` last yielded, without its line ending (lossy when the
    /// line is not UTF-8): for error output that wants the whole record even when only
    /// some keys were parsed.
    pub fn raw_line(&self) -> Cow<'_, str> {
        let text = String::from_utf8_lossy(&self.buf);
        match text {
            Cow::Borrowed(s) => Cow::Borrowed(s.trim_end_matches(['\n', '\r'])),
            Cow::Owned(s) => Cow::Owned(s.trim_end_matches(['\n', '\r']).to_string()),
        }
    }

    /// Reads the next record into `record`, reusing its allocations (as
    /// `BufRead::read_line` reuses its `String`): with a plan, a record of the same keys
    /// as the one `record` holds keeps those keys, and only its values are replaced.
    /// The items are those of the iterator, record for record.
    ///
    /// `Some(Ok(()))`: `record` holds the next record. `Some(Err(_))`: the line is not a
    /// record, or the input cannot be read (then it is the last item). `None`: the end
    /// of the input. After an error and at the end, `record` is null.
    pub fn read_into(&mut self, record: &mut Value) -> Option<Result<(), InputError>> {
        let reuse = std::mem::take(record);
        if self.done {
            return None;
        }
        loop {
            if self.buf.capacity() > KEEP_CAPACITY {
                self.buf = Vec::with_capacity(4096);
            }
            self.buf.clear();
            self.lines_read += 1;
            match self.input.read_until(b'\n', &mut self.buf) {
                Ok(0) => {
                    self.done = true;
                    return None;
                }
                Ok(_) => {}
                Err(e) => {
                    self.done = true;
                    self.line = self.lines_read;
                    return Some(Err(InputError {
                        line: self.line,
                        message: format!("cannot read the input: {e}"),
                        io: true,
                    }));
                }
            }
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            self.line = self.lines_read;
            return Some(match self.parse(reuse) {
                Ok(value) => {
                    *record = value;
                    Ok(())
                }
                Err(message) => Err(InputError {
                    line: self.line,
                    message,
                    io: false,
                }),
            });
        }
    }

    /// The record on the line in `buf`; `reuse` is the last record, whose allocations
    /// the new one may take.
    fn parse(&self, reuse: Value) -> Result<Value, String> {
        let text =
            std::str::from_utf8(&self.buf).map_err(|e| format!("the line is not UTF-8: {e}"))?;
        let text = text.trim_end_matches(['\n', '\r']);
        let mut de = serde_json::Deserializer::from_str(text);
        let value = match &self.plan {
            Some(plan) => {
                let reuse = match reuse {
                    Value::Object(object) => Some(object),
                    _ => None,
                };
                Value::Object(
                    Record { plan, reuse }
                        .deserialize(&mut de)
                        .map_err(|e| describe(&e))?,
                )
            }
            None => {
                let value: Value =
                    serde::Deserialize::deserialize(&mut de).map_err(|e| describe(&e))?;
                if !value.is_object() {
                    return Err(not_a_record(&value));
                }
                value
            }
        };
        de.end().map_err(|e| describe(&e))?;
        Ok(value)
    }
}

impl<R: BufRead> Iterator for RecordReader<R> {
    type Item = Result<Value, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut record = Value::Null;
        Some(self.read_into(&mut record)?.map(|()| record))
    }
}

/// serde_json's message, with its position given as a column: its "line 1" would
/// contradict the input line number the error carries.
fn describe(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let text = full.strip_suffix(&suffix).unwrap_or(&full);
    let prefix = match e.classify() {
        serde_json::error::Category::Data => "not a record",
        _ => "invalid JSON",
    };
    match e.column() {
        0 => format!("{prefix}: {text}"),
        column => format!("{prefix}: {text} at column {column}"),
    }
}

/// What is said of a value that is not a record (a JSON object), wherever it comes from:
/// an input line, a webhook body, a connector page.
pub(super) fn not_a_record(value: &Value) -> String {
    format!(
        "not a record: expected a JSON object, found {}",
        kind(value)
    )
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

/// Deserializes a record (an object) keeping what the plan names.
struct Record<'p> {
    plan: &'p ReadPlan,
    /// An object to build the record in (the last record read).
    reuse: Option<Map<String, Value>>,
}

impl<'de> DeserializeSeed<'de> for Record<'_> {
    type Value = Map<String, Value>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Record<'_> {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let plan = self.plan;
        // A key the line repeats keeps its last value, as a map insert would.
        let mut out = match self.reuse {
            Some(object) => plan.shape.rebuild(object),
            None => plan.shape.builder(),
        };
        while let Some(KeyRef(key)) = map.next_key()? {
            match plan.get(&key) {
                Some((i, Need::Whole)) => out.set(i, map.next_value()?),
                Some((i, Need::Part(plan))) => out.set(i, map.next_value_seed(Part(plan))?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(out.finish())
    }
}

/// A value of which only some keys are read: an object is read by the plan, anything
/// else (which no path can look into) becomes null.
struct Part<'p>(&'p ReadPlan);

impl<'de> DeserializeSeed<'de> for Part<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Part<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let record = Record {
            plan: self.0,
            reuse: None,
        };
        record.visit_map(map).map(Value::Object)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_str<E>(self, _: &str) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// An object key, borrowed from the line when it has no escapes.
struct KeyRef<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for KeyRef<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = KeyRef<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(KeyRef(Cow::Borrowed(v)))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(KeyRef(Cow::Owned(v.to_string())))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(KeyRef(Cow::Owned(v)))
    }
}
