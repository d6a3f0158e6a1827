//! `cmap export FILE`: print the seed-JSON form of a pipeline file: one object when the
//! file declares one schema or task, else an array. The file must parse.

use std::path::PathBuf;

use super::{load, Global, EXIT_OK};
use crate::syntax::json;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A .cmap (or seed-JSON) pipeline file.
    file: PathBuf,
}

pub fn run(global: &Global, args: Args) -> u8 {
    let (ws, file) = match load::parse_one(&args.file, global) {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    let value = json::encode(&ws.documents[file as usize], &crate::functions::param_names);
    let mut out = super::out::Out::stdout();
    outln!(
        out,
        "{}",
        serde_json::to_string_pretty(&value).unwrap_or_default()
    );
    out.finish(EXIT_OK)
}
