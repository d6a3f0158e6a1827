//! `cmap export FILE`: print the seed-JSON form of a pipeline file: one object when the
//! file declares one schema or task, else an array. The file must parse.

use std::path::PathBuf;

use super::{load, Global, EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use crate::syntax::json;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A .cmap (or seed-JSON) pipeline file.
    file: PathBuf,
}

pub fn run(global: &Global, args: Args) -> u8 {
    let ws = match load::read(std::slice::from_ref(&args.file), global) {
        Ok(c) => c,
        Err(e) => {
            e.print();
            return EXIT_USAGE;
        }
    };
    // Only the syntax must be sound: a task file alone names a schema declared elsewhere,
    // and converting it is still useful. `check` is the place for the rest.
    let Some(&file) = ws.user_files.first() else {
        return EXIT_USAGE;
    };
    let errors: Vec<_> = ws
        .diagnostics
        .iter()
        .filter(|d| d.span.file == file)
        .cloned()
        .collect();
    if !errors.is_empty() {
        eprint!(
            "{}",
            crate::diagnostics::render::human(&errors, &ws.sources, global.style)
        );
        eprintln!("{}", crate::diagnostics::render::summary(&errors));
        if errors.iter().any(|d| d.is_error()) {
            return EXIT_FAILURE;
        }
    }
    let value = json::encode(&ws.documents[file as usize], &crate::functions::param_names);
    println!(
        "{}",
        serde_json::to_string_pretty(&value).unwrap_or_default()
    );
    EXIT_OK
}
