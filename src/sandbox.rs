//! The rhai sandbox for `custom` expressions, built in exactly one constructor.

/// A configured rhai engine.
#[derive(Clone, Debug, Default)]
pub struct Sandbox {}
