//! Test code may use any layer.

use crate::engine::Engine;
use std::fs;
