//! Seed JSON (the spec's ConversionSchema / SyncTask objects) <-> AST.
//!
//! `decode` reads a seed-JSON file into the same AST the `.cmap` parser builds, with
//! every name and literal spanned on the JSON value it came from; `encode` writes an
//! AST back in the spec's exact shapes and key order. Together with the `.cmap` parser
//! and printer they make `cmap import` / `cmap export` lossless.
//!
//! The layers: `reader` (text -> JSON tree with spans; syntax errors), `decode`
//! (tree -> AST; shape errors and unknown keys), `encode` (AST -> `serde_json::Value`).
//!
//! Extensions beyond the spec (documented in docs/language.md, "Seed JSON"):
//! a schema's `lookupTables` and `tests`, the `lookup` mapping type, and items carrying
//! `"$kind"`. Type definitions (`"$kind": "shardtype" | "entity"`) write a field as
//! `{ "type": T, "optional": true }` where `T` is a type name (`"string"`), a
//! one-element array for an array type (`["string"]`), `{ "fields": {..} }` for an
//! object type, or `{ "enum": ["a", "b"] }` for a string enum. A test's `expectFailed`
//! is `true` or the name of the target field expected to fail.

mod decode;
mod encode;
mod reader;
#[cfg(test)]
mod tests;

use crate::diagnostics::Diagnostic;
use crate::syntax::ast::{Document, FileId};

pub use encode::encode;

/// Decodes a seed-JSON document: one object or an array of objects. Invalid JSON gives
/// an empty document and the one syntax error; otherwise every shape problem is
/// reported and whatever is well formed is kept.
pub fn decode(file: FileId, text: &str) -> (Document, Vec<Diagnostic>) {
    match reader::read(file, text) {
        Err(d) => (Document::default(), vec![d]),
        Ok((root, mut diags)) => {
            let mut decoder = decode::Decoder::default();
            let doc = decoder.document(&root);
            diags.append(&mut decoder.diags);
            // Decoding follows the spec's key order; people read in source order.
            diags.sort_by_key(|d| d.span.start);
            (doc, diags)
        }
    }
}
