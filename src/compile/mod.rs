//! Compile: AST -> IR. Name resolution, type and config checks, schema-aware checks
//! against stdlib/ types. No I/O, no tokio: it takes documents and returns the IR or
//! every diagnostic.

pub mod ir;
pub mod path;
