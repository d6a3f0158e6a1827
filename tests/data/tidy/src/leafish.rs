//! One file, but not a leaf: it uses the engine, and it has no rule.

use crate::engine::Engine;

pub fn run(_: Engine) {}
