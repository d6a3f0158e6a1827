//! A leaf: uses nothing else of the crate.

pub struct Span;
