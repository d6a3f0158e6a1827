//! The output writer: one JSON line per mapped record or per failure, serialized
//! straight into the writer (no `Value` tree is built for the line).
//!
//! A mapped record:
//!
//! ```text
//! {"shardTypeId":"c_contact","externalId":"003A","structuredData":{...},
//!  "relationships":[{"relationshipType":"belongs_to","targetField":"companyId",
//!                    "shardTypeId":"c_company","externalId":"001A"}],
//!  "explain":{"email":"direct Email"}}
//! ```
//!
//! `relationships` is written only when the schema has relationship mappings (then
//! always, `[]` when the record has none), `explain` only when asked. A reference by
//! shard id (`by id(F)`) carries `"shardId"` in place of `"externalId"`.
//!
//! A failure: `{"line":12,"record":{...},"code":"required","field":"email","message":"..."}`
//! (`field` is null when the failure concerns no one field).

use std::io::{self, Write};

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::Value;

use super::{Explanation, Mapped, RecordError, Reference};

/// Writes one mapped record as a JSON line.
pub fn write_mapped(
    out: &mut impl Write,
    m: &Mapped,
    explain: bool,
    has_relationships: bool,
) -> io::Result<()> {
    serde_json::to_writer(
        &mut *out,
        &MappedLine {
            m,
            explain,
            has_relationships,
        },
    )?;
    out.write_all(b"\n")
}

/// Writes one failed record as a JSON line: its 1-based input line, the record as read,
/// and the error.
pub fn write_error(
    out: &mut impl Write,
    line_no: usize,
    record: &Value,
    err: &RecordError,
) -> io::Result<()> {
    serde_json::to_writer(
        &mut *out,
        &ErrorLine {
            line_no,
            record,
            err,
        },
    )?;
    out.write_all(b"\n")
}

struct MappedLine<'a> {
    m: &'a Mapped,
    explain: bool,
    has_relationships: bool,
}

impl Serialize for MappedLine<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let m = self.m;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("shardTypeId", &m.shard_type_id)?;
        map.serialize_entry("externalId", &m.external_id)?;
        map.serialize_entry("structuredData", &m.structured_data)?;
        if self.has_relationships {
            map.serialize_entry("relationships", &References(&m.relationships))?;
        }
        if self.explain {
            if let Some(explain) = &m.explain {
                map.serialize_entry("explain", &Explain(explain))?;
            }
        }
        map.end()
    }
}

struct References<'a>(&'a [Reference]);

impl Serialize for References<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for r in self.0 {
            seq.serialize_element(&ReferenceLine(r))?;
        }
        seq.end()
    }
}

struct ReferenceLine<'a>(&'a Reference);

impl Serialize for ReferenceLine<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut map = s.serialize_map(Some(4))?;
        map.serialize_entry("relationshipType", &r.relationship_type)?;
        map.serialize_entry("targetField", &r.target_field)?;
        map.serialize_entry("shardTypeId", &r.shard_type_id)?;
        let key = if r.by_external_id {
            "externalId"
        } else {
            "shardId"
        };
        map.serialize_entry(key, &r.external_id)?;
        map.end()
    }
}

struct Explain<'a>(&'a [Explanation]);

impl Serialize for Explain<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for e in self.0 {
            map.serialize_entry(&e.field, &e.text)?;
        }
        map.end()
    }
}

struct ErrorLine<'a> {
    line_no: usize,
    record: &'a Value,
    err: &'a RecordError,
}

impl Serialize for ErrorLine<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(5))?;
        map.serialize_entry("line", &self.line_no)?;
        map.serialize_entry("record", self.record)?;
        map.serialize_entry("code", self.err.code.as_str())?;
        map.serialize_entry("field", &self.err.field)?;
        map.serialize_entry("message", &self.err.message)?;
        map.end()
    }
}
