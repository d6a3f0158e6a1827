//! Syntax: `.cmap` text and seed JSON in, one [`ast::Document`] out, with every
//! diagnostic; and the two printers back (`printer` for `.cmap`, `json::encode` for JSON).
//!
//! This stage knows nothing of what names mean: it does not know which transformations
//! exist (callers pass [`ParamNames`] where positional arguments must be named).

pub mod ast;
pub mod json;
pub mod parser;
pub mod printer;

use std::path::{Path, PathBuf};

use crate::diagnostics::Diagnostic;
use ast::{Document, FileId, Span};

/// Names a transformation's parameters in positional order, or `None` when the
/// transformation is unknown. The CLI passes `functions::param_names`.
pub type ParamNames<'a> = &'a dyn Fn(&str) -> Option<Vec<&'static str>>;

/// The two input forms of a pipeline file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    Cmap,
    Json,
}

impl SourceKind {
    /// `.json` files are seed JSON; everything else is `.cmap`.
    pub fn of(path: &Path) -> SourceKind {
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => SourceKind::Json,
            _ => SourceKind::Cmap,
        }
    }
}

#[derive(Clone, Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
    pub kind: SourceKind,
    /// Byte offset of the start of each line.
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(path: PathBuf, text: String, kind: SourceKind) -> SourceFile {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile {
            path,
            text,
            kind,
            line_starts,
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let col = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line + 1, col + 1)
    }
}

/// Every file of a check, addressed by [`FileId`].
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    pub files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn add(&mut self, path: PathBuf, text: String) -> FileId {
        let kind = SourceKind::of(&path);
        self.add_kind(path, text, kind)
    }

    pub fn add_kind(&mut self, path: PathBuf, text: String, kind: SourceKind) -> FileId {
        self.files.push(SourceFile::new(path, text, kind));
        (self.files.len() - 1) as FileId
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id as usize]
    }

    pub fn line_col(&self, span: Span) -> (usize, usize) {
        self.get(span.file).line_col(span.start as usize)
    }
}

/// Parses one file of either kind.
pub fn parse(file: FileId, source: &SourceFile) -> (Document, Vec<Diagnostic>) {
    match source.kind {
        SourceKind::Cmap => parser::parse(file, &source.text),
        SourceKind::Json => json::decode(file, &source.text),
    }
}
