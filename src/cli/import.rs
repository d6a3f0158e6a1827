//! `cmap import FILE.json`: print the `.cmap` form of a seed-JSON file (already in `fmt`
//! form). The file must parse; its
//! warnings go to stderr.

use std::path::PathBuf;

use super::{load, Global, EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use crate::syntax::{printer, SourceKind};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A seed-JSON file: one ConversionSchema or SyncTask object, or an array of them.
    file: PathBuf,
}

pub fn run(global: &Global, args: Args) -> u8 {
    if SourceKind::of(&args.file) != SourceKind::Json {
        super::print_error(
            &format!("`{}` is not a .json file", args.file.display()),
            Some("`cmap import` reads seed JSON; `cmap export` goes the other way"),
        );
        return EXIT_USAGE;
    }
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
    print!(
        "{}",
        printer::print(
            &ws.documents[file as usize],
            Some(&crate::functions::param_names)
        )
    );
    EXIT_OK
}
