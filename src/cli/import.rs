//! `cmap import FILE.json`: print the `.cmap` form of a seed-JSON file (already in `fmt`
//! form). The file must parse; its
//! warnings go to stderr.

use std::path::PathBuf;

use super::{load, Global, EXIT_OK, EXIT_USAGE};
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
    let (ws, file) = match load::parse_one(&args.file, global) {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    let mut out = super::out::Out::stdout();
    out.text(&printer::print(
        &ws.documents[file as usize],
        Some(&crate::functions::param_names),
    ));
    out.finish(EXIT_OK)
}
