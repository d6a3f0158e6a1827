//! A module with no rule that is not a leaf.

use crate::syntax::parse;
