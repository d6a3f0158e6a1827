//! The syntax: it reaches into compile and reads files.

pub mod ast;
#[cfg(test)]
mod tests;

use crate::diagnostics::Diagnostic;
use crate::span::Span;
use crate::{helper, leafish};

// crate::engine in a comment is not an edge.
const NOTE: &str = "crate::serve in a string is not an edge";

pub fn parse(text: &str) -> Vec<Diagnostic> {
    helper::help();
    let _ = std::fs::read_to_string(text);
    crate::compile::lower();
    let _ = (NOTE, Span, leafish::run);
    Vec::new()
}

#[cfg(test)]
mod more_tests {
    use crate::engine::Engine;
}
