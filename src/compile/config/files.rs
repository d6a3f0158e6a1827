//! JSON lines and CSV files: the connection's settings, each of which a task's config may
//! give instead (`crate::connectors::files` runs the read).

use super::keys::Keys;

/// A file's format, as a setting names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `jsonl` (or `ndjson`): one JSON object per line.
    JsonLines,
    /// `csv`: a header row, then rows (the delimiter is `delimiter`, default `,`).
    Csv,
}

/// What shapes a file read. A connection's settings give each; a task's config may give
/// its own, which wins.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Read {
    /// `path`: the file, relative to the pipelines directory; `{entity}` is the source
    /// entity.
    pub path: Option<String>,
    /// `format`; `None`: from the file's extension (`.jsonl`, `.ndjson`, `.csv`, `.tsv`).
    pub format: Option<Format>,
    /// `delimiter` (CSV): one ASCII character (`tab` or `\t` for a tab).
    pub delimiter: Option<u8>,
    /// `updatedField` (a task may say `modifiedSinceField`): the record's modification
    /// time; with it, reads keep a watermark.
    pub updated_field: Option<String>,
}

impl Read {
    /// This read's keys, each given by `over` when it gives it.
    pub fn or(&self, over: &Read) -> Read {
        Read {
            path: over.path.clone().or_else(|| self.path.clone()),
            format: over.format.or(self.format),
            delimiter: over.delimiter.or(self.delimiter),
            updated_field: over
                .updated_field
                .clone()
                .or_else(|| self.updated_field.clone()),
        }
    }

    /// The format: the one named, else the one `path`'s extension says (`{entity}`
    /// is not in the extension). `Err`: why it cannot be told.
    pub fn resolved_format(&self) -> Result<(Format, u8), String> {
        let extension = self
            .path
            .as_deref()
            .and_then(|p| std::path::Path::new(p).extension())
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let format = match (self.format, extension.as_deref()) {
            (Some(f), _) => f,
            (None, Some("jsonl" | "ndjson")) => Format::JsonLines,
            (None, Some("csv" | "tsv")) => Format::Csv,
            (None, _) => {
                return Err(format!(
                    "cannot tell the format of `{}` from its name",
                    self.path.as_deref().unwrap_or_default()
                ))
            }
        };
        let default = if extension.as_deref() == Some("tsv") {
            b'\t'
        } else {
            b','
        };
        Ok((format, self.delimiter.unwrap_or(default)))
    }
}

/// `delimiter`: one ASCII character, as written (a tab or a space is one), or `tab`.
fn delimiter(k: &mut Keys<'_>) -> Option<u8> {
    use crate::syntax::ast::TreeNode;
    use serde_json::Value;
    let v = k.value("delimiter")?;
    let TreeNode::Scalar(Value::String(d)) = &v.node else {
        k.wrong_type("delimiter", v, "one character", "\";\"");
        return None;
    };
    match d.as_str() {
        "\\t" | "tab" => Some(b'\t'),
        d if d.len() == 1 && d.is_ascii() => d.as_bytes().first().copied(),
        _ => {
            k.invalid(
                v.span,
                format!("`delimiter` in {} is not one ASCII character", k.owner),
                format!("`{}`", d.escape_debug()),
                "write one character, e.g. `delimiter: \";\"`, or `\"tab\"`".into(),
            );
            None
        }
    }
}

pub(super) fn settings(k: &mut Keys<'_>) -> Read {
    read(k, false)
}

pub(super) fn task(k: &mut Keys<'_>) -> Read {
    read(k, true)
}

fn read(k: &mut Keys<'_>, task: bool) -> Read {
    let path = k.string("path", "\"data/{entity}.jsonl\"").map(|s| s.node);
    let format = k.keyword(
        "format",
        &[
            ("jsonl", Format::JsonLines),
            ("ndjson", Format::JsonLines),
            ("csv", Format::Csv),
        ],
    );
    let delimiter = delimiter(k);
    let mut updated_field = k.dot_path("updatedField", "\"updated_at\"");
    if task {
        let both = k.has("updatedField") && k.has("modifiedSinceField");
        let modified = k.dot_path("modifiedSinceField", "\"updated_at\"");
        if both {
            k.not_here(
                "modifiedSinceField",
                "`updatedField` is given too, and says the same",
                "keep one of the two",
            );
        }
        updated_field = updated_field.or(modified);
    }
    if format == Some(Format::JsonLines) {
        k.not_here(
            "delimiter",
            "a JSON-lines file has no delimiter",
            "remove it, or write `format: \"csv\"`",
        );
    }
    Read {
        path,
        format,
        delimiter,
        updated_field,
    }
}
