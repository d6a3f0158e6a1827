//! The cycle: diagnostics use the syntax's spans.

use crate::span::Span as Leaf;
use crate::syntax::ast::Span;

pub struct Diagnostic(Span, Leaf);
