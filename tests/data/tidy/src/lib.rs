//! A bad crate: each module breaks one rule of its ARCHITECTURE.md.

pub mod cli;
pub mod compile;
pub mod diagnostics;
pub mod engine;
pub mod helper;
pub mod leafish;
pub mod orphan;
pub mod serve;
pub mod span;
pub mod syntax;
