//! Compile: it does I/O and reaches the engine.

pub mod nested;

use std::{fs, io::Write};

use super::engine::Engine;
use tokio::time;

pub fn lower() {}
