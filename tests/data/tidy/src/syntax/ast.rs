//! The AST.

pub struct Span;
