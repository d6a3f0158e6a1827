//! Syntax: `.cmap` text and seed JSON in, one [`ast::Document`] out, with every
//! diagnostic; and the two printers back (`printer` for `.cmap`, `json::encode` for JSON).
//!
//! This stage knows nothing of what names mean: it does not know which transformations
//! exist (callers pass [`ParamNames`] where positional arguments must be named).

pub mod ast;
pub mod json;
pub mod parser;
pub mod printer;

use crate::diagnostics::Diagnostic;
use ast::{Document, FileId};
// The source files live in the leaf module `crate::span` with the spans that point into
// them; these paths stay valid.
pub use crate::span::{SourceFile, SourceKind, SourceMap};

/// Names a transformation's parameters in positional order, or `None` when the
/// transformation is unknown. The CLI passes `functions::param_names`.
pub type ParamNames<'a> = &'a dyn Fn(&str) -> Option<Vec<&'static str>>;

/// Parses one file of either kind.
pub fn parse(file: FileId, source: &SourceFile) -> (Document, Vec<Diagnostic>) {
    match source.kind {
        SourceKind::Cmap => parser::parse(file, &source.text),
        SourceKind::Json => json::decode(file, &source.text),
    }
}
