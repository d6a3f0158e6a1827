//! Runtime: the streaming interpreter over the IR, one record at a time.
//!
//! [`RecordReader`] turns JSON lines into records (parsing only the keys the schema
//! reads), [`map_record`] maps one record through a [`Schema`](crate::compile::ir::Schema)
//! into an [`Outcome`], and [`write_mapped`] / [`write_error`] write the result as one JSON
//! line. Nothing is held between records but reusable buffers, so memory stays flat
//! whatever the input size.
//!
//! Records and outputs are made of keys known in advance (the read plan's, the schema's
//! targets): both are built from an [`ObjectShape`](crate::object_shape::ObjectShape),
//! which hashes no key per record.
//!
//! The IR is valid by construction: the interpreter never re-checks names, operators or
//! configs. What can still go wrong is the data, and bad data fails the record (an
//! [`Outcome::Failed`] with a stable [`ErrorCode`]), never the run.

mod condition;
mod interpret;
mod plan;
mod reader;
mod validate;
mod writer;

#[cfg(test)]
mod tests;

use std::fmt;

use serde_json::{Map, Value};

pub use condition::{describe as describe_condition, holds as condition_holds};
pub use interpret::map_record;
pub use plan::ReadPlan;
pub use reader::{InputError, RecordReader};
pub use writer::{write_error, write_mapped};

/// What a mapping may consult besides the record.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// The task's `config`, for `{{task.KEY}}` defaults and `custom` scripts.
    pub task: &'a Map<String, Value>,
    /// Where shard lookups (`lookup X in shard T`) look.
    pub shards: &'a dyn ShardLookup,
    /// Record, per output field, which mapping or rule produced it.
    pub explain: bool,
}

/// A shard found by [`ShardLookup::find`].
#[derive(Clone, Debug, PartialEq)]
pub struct StoredShard {
    pub id: String,
    pub structured_data: Map<String, Value>,
}

/// The store failed (not "not found": that is `Ok(None)`). It fails the record with
/// [`ErrorCode::Lookup`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupError {
    pub message: String,
}

/// Finds stored shards for `lookup X in shard T` mappings. The engine implements it over
/// its store; `cmap map` uses [`NoShards`].
pub trait ShardLookup {
    /// The shard of type `shard_type` that `integration` (the schema's, when it names one)
    /// synced under `external_id`.
    fn find(
        &self,
        shard_type: &str,
        integration: Option<&str>,
        external_id: &str,
    ) -> Result<Option<StoredShard>, LookupError>;
}

/// No store: every shard lookup finds nothing and yields the lookup's default.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoShards;

impl ShardLookup for NoShards {
    fn find(&self, _: &str, _: Option<&str>, _: &str) -> Result<Option<StoredShard>, LookupError> {
        Ok(None)
    }
}

/// The result of mapping one record.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Mapped(Mapped),
    /// A source filter did not hold: the record is not for this schema. Not an error.
    Skipped(Skipped),
    /// The record cannot be mapped; the run goes on.
    Failed(RecordError),
}

/// One output shard.
#[derive(Clone, Debug, PartialEq)]
pub struct Mapped {
    pub shard_type_id: String,
    /// From the schema's dedupe strategy.
    pub external_id: String,
    /// Every mapped field in mapping order; a null final value is written as null.
    pub structured_data: Map<String, Value>,
    /// One per relationship mapping whose source field has a value.
    pub relationships: Vec<Reference>,
    /// Set when [`Context::explain`] is: one entry per output field, in mapping order.
    pub explain: Option<Vec<Explanation>>,
}

/// A relationship to another shard, for the engine to resolve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// `belongs_to`, ...
    pub relationship_type: String,
    /// The field of this shard that will hold the other shard's id.
    pub target_field: String,
    /// The other shard's type.
    pub shard_type_id: String,
    /// The source field's value, as text (numbers without quotes).
    pub external_id: String,
    /// `false` (`by id(F)`): `external_id` is the other shard's id itself, not an
    /// external id to look up.
    pub by_external_id: bool,
}

/// Which mapping or rule produced an output field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    pub field: String,
    /// `conditional rule 4 (StageName in ["Negotiation","Review"])`, `default`,
    /// `transform Phone | replace`, ...
    pub text: String,
}

/// Filter `filter` (0-based, in declaration order) did not hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub filter: usize,
    /// The filter in words: `IsDeleted eq false`.
    pub description: String,
}

/// Why a record failed. When several things are wrong with one record, this is the
/// first (in order: dedupe key, fields in mapping order, relationships) and `message`
/// ends with ` (also: CODE (FIELD): MESSAGE; ...)` for the others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordError {
    pub code: ErrorCode,
    /// The output field concerned (for `dedupe_key`: none; for `relationship`: the
    /// relationship's target field).
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{} ({field}): {}", self.code, self.message),
            None => write!(f, "{}: {}", self.code, self.message),
        }
    }
}

impl std::error::Error for RecordError {}

/// The stable codes of record-level failures. They appear in `cmap map` error lines and
/// sync logs; a code is never renamed or reused.
///
/// | code             | the record failed because                                          |
/// |------------------|--------------------------------------------------------------------|
/// | `required`       | a required field's final value is null, `""` or `[]`               |
/// | `validation`     | a `validate` rule does not hold for a field's final value          |
/// | `transform`      | a transformation cannot convert the value (`to_number` of `"abc"`) |
/// | `lookup`         | the shard store failed during a `lookup ... in shard`              |
/// | `dedupe_key`     | a dedupe field is missing, null, empty, an array or an object      |
/// | `relationship`   | a relationship's source field is an array or an object             |
/// | `invalid_record` | the input line is not a JSON object                                |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    Required,
    Validation,
    Transform,
    Lookup,
    DedupeKey,
    Relationship,
    InvalidRecord,
}

impl ErrorCode {
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::Required,
        ErrorCode::Validation,
        ErrorCode::Transform,
        ErrorCode::Lookup,
        ErrorCode::DedupeKey,
        ErrorCode::Relationship,
        ErrorCode::InvalidRecord,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Required => "required",
            ErrorCode::Validation => "validation",
            ErrorCode::Transform => "transform",
            ErrorCode::Lookup => "lookup",
            ErrorCode::DedupeKey => "dedupe_key",
            ErrorCode::Relationship => "relationship",
            ErrorCode::InvalidRecord => "invalid_record",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
