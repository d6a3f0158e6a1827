//! `cmap fmt [--check] [PATHS…]`: canonical formatting of `.cmap` files, in place.
//! Comments are kept; formatting is idempotent. Seed-JSON files are left alone.

use std::fs;
use std::path::PathBuf;

use super::{load, Global, EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use crate::diagnostics::render;
use crate::syntax::{self, printer, SourceKind, SourceMap};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Report files that are not formatted (with a diff) instead of rewriting them.
    #[arg(long)]
    check: bool,
    /// Files or directories (default: `pipelines/`).
    paths: Vec<PathBuf>,
}

pub fn run(global: &Global, args: Args) -> u8 {
    let files = match load::default_paths(args.paths).and_then(|p| load::collect(&p)) {
        Ok(f) => f,
        Err(e) => {
            e.print();
            return EXIT_USAGE;
        }
    };
    let mut out = super::out::Out::stdout();
    let mut failed = false;
    let mut changed = 0;
    for path in files
        .into_iter()
        .filter(|p| SourceKind::of(p) == SourceKind::Cmap)
    {
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                super::print_error(&format!("cannot read `{}`: {e}", path.display()), None);
                return EXIT_USAGE;
            }
        };
        let mut sources = SourceMap::default();
        let id = sources.add(path.clone(), text);
        let (doc, diags) = syntax::parse(id, sources.get(id));
        let errors: Vec<_> = diags.into_iter().filter(|d| d.is_error()).collect();
        if !errors.is_empty() {
            // A file that does not parse is never rewritten: formatting it would lose text.
            errprint!("{}", render::human(&errors, &sources, global.style));
            errln!(
                "not formatted: `{}` has {}",
                path.display(),
                render::summary(&errors)
            );
            failed = true;
            continue;
        }
        let old = &sources.get(id).text;
        let new = printer::print(&doc, Some(&crate::functions::param_names));
        if &new == old {
            continue;
        }
        changed += 1;
        if args.check {
            // A closed stdout stops the diffs, not the check (its code still counts).
            outln!(out, "{} is not formatted:", path.display());
            let diff = similar::TextDiff::from_lines(old.as_str(), new.as_str());
            out.text(
                &diff
                    .unified_diff()
                    .context_radius(2)
                    .header("original", "formatted")
                    .to_string(),
            );
        } else if let Err(e) = fs::write(&path, new) {
            super::print_error(&format!("cannot write `{}`: {e}", path.display()), None);
            return EXIT_USAGE;
        } else {
            errln!("formatted {}", path.display());
        }
    }
    out.finish(if failed || (args.check && changed > 0) {
        EXIT_FAILURE
    } else {
        EXIT_OK
    })
}
