//! Every diagnostic code cmap emits, in one list. A code is never reused or renumbered;
//! `docs/diagnostics.md` documents each one and `tests/data/diagnostics/` holds a golden
//! rendering per code.
//!
//! The letter is the severity: `E` codes are errors (the file does not check), `W`
//! codes are warnings (it checks; the output may not be what you meant).

use super::Severity;

macro_rules! codes {
    ($($variant:ident = $code:literal, $title:literal;)*) => {
        /// A stable diagnostic code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code { $($variant,)* }

        impl Code {
            /// Every code, in order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The stable code, e.g. `E0102`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }

            /// A short title for docs and `--format json`.
            pub fn title(self) -> &'static str {
                match self { $(Code::$variant => $title,)* }
            }
        }
    };
}

codes! {
    // 00xx: reading the file
    Syntax = "E0001", "syntax error";
    InvalidJson = "E0002", "invalid JSON";
    JsonShape = "E0003", "seed JSON of the wrong shape";
    DuplicateClause = "E0004", "clause given twice";
    UnknownKey = "W0005", "unknown key in seed JSON";
    Io = "E0006", "file cannot be read";

    // 01xx: names
    UnknownMappingType = "E0101", "unknown mapping type";
    UnknownTransformation = "E0102", "unknown transformation";
    UnknownOperator = "E0103", "unknown operator";
    UnknownValidation = "E0104", "unknown validation rule";
    UnknownDedupeStrategy = "E0105", "unknown deduplication strategy";
    DuplicateId = "E0106", "duplicate id";
    UnknownSchema = "E0107", "task names an unknown schema";
    UnknownLookupTable = "E0108", "unknown lookup table";
    UnknownCurrency = "E0109", "unknown currency";
    UnknownKeyword = "E0110", "unknown keyword value";
    UnknownTargetFlag = "E0111", "unknown target flag";

    // 02xx: transformation and rule configuration
    MissingConfig = "E0201", "missing configuration";
    ConfigType = "E0202", "configuration value of the wrong type";
    InvalidRegex = "E0203", "invalid regular expression";
    InvalidScript = "E0204", "invalid custom expression";
    InvalidDateFormat = "E0205", "invalid date format";
    UnknownConfigKey = "W0206", "unknown configuration key";
    OperatorValue = "E0207", "operator value of the wrong shape";
    InvalidPath = "E0208", "invalid field path";

    // 03xx: schemas
    DuplicateTarget = "E0301", "duplicate target field";
    UnreachableRule = "W0302", "unreachable rule";
    MissingClause = "E0303", "missing clause";
    EmptySchema = "W0304", "schema maps no field";
    TemplateWithoutPlaceholder = "W0305", "template names no field";
    DefaultTemplateKey = "E0306", "malformed task placeholder";

    // 04xx: tasks
    InvalidCron = "E0401", "invalid cron expression";
    UnknownTimezone = "E0402", "unknown IANA timezone";
    NonPositiveInterval = "E0403", "non-positive interval";
    TaskKeyNeverSet = "W0404", "task config key never set";
    InvalidRetry = "E0405", "invalid retry configuration";

    // 05xx: schema-aware checks against stdlib/ types
    UnknownTargetField = "W0501", "unknown target field";
    UnknownSourceField = "W0502", "unknown source field";
    TypeMismatch = "W0503", "type mismatch";
    UnknownShardType = "W0504", "unknown shard type";
    UnknownEntity = "W0505", "unknown source entity";
    RequiredFieldUnmapped = "W0506", "required target field never mapped";

    // 06xx: tests
    InvalidTest = "E0601", "malformed test";
}

impl Code {
    pub fn severity(self) -> Severity {
        if self.as_str().starts_with('W') {
            Severity::Warning
        } else {
            Severity::Error
        }
    }
}
