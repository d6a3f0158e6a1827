//! cmap: the integrations engine of Castiel.
//!
//! Data flows one way: [`syntax`] (text -> AST) -> [`compile`] (AST -> IR) ->
//! [`runtime`] (IR x records -> shards). See ARCHITECTURE.md.

pub mod cli;
pub mod compile;
pub mod connectors;
pub mod date;
pub mod diagnostics;
pub mod engine;
pub mod files;
pub mod functions;
pub mod object_shape;
pub mod redact;
pub mod runtime;
pub mod sandbox;
pub mod serve;
pub mod span;
pub mod stdlib;
pub mod store;
pub mod syntax;
pub mod tenant_id;
pub mod workspace;
