//! `cmap check [PATHS…] [--format human|json]`: every diagnostic at once.

use std::path::PathBuf;

use clap::ValueEnum;

use super::{load, Global, EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use crate::diagnostics::render;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Pipeline files or directories (default: `pipelines/`).
    paths: Vec<PathBuf>,
    /// `human` (miette reports on stderr) or `json` (one document on stdout).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

pub fn run(global: &Global, args: Args) -> u8 {
    let checked = match load::default_paths(args.paths).and_then(|p| load::check(&p, global)) {
        Ok(c) => c,
        Err(e) => {
            e.print();
            return EXIT_USAGE;
        }
    };
    let mut out = super::out::Out::stdout();
    match args.format {
        Format::Json => {
            let doc = render::json(&checked.diagnostics, &checked.workspace.sources);
            outln!(
                out,
                "{}",
                serde_json::to_string_pretty(&doc).unwrap_or_default()
            );
        }
        Format::Human => {
            load::report(&checked, global);
            if !checked.has_errors() {
                let files = checked.workspace.user_files.len();
                let program = checked.program.as_ref();
                let schemas = program.map_or(0, |p| p.schemas.len());
                let tasks = program.map_or(0, |p| p.tasks.len());
                let plural =
                    |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
                errln!(
                    "checked {}: {}, {}",
                    plural(files, "file"),
                    plural(schemas, "schema"),
                    plural(tasks, "task")
                );
            }
        }
    }
    out.finish(if checked.has_errors() {
        EXIT_FAILURE
    } else {
        EXIT_OK
    })
}
