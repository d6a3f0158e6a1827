//! The engine prints and knows the command line.

pub struct Engine;

pub fn run() {
    println!("running");
    crate::cli::main();
}

use std::io;

/// Through a name brought into scope.
pub fn write() {
    let _ = io::stdout();
}
