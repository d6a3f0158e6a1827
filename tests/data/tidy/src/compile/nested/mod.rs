//! Nested modules reach out through `super` chains.

pub mod deep;

use super::super::syntax;
