//! The parser and the checker never panic: random and mutated pipeline files, both
//! `.cmap` and seed JSON, go through parse and compile (proptest).

use std::path::PathBuf;

use cmap::compile;
use cmap::syntax::{self, SourceKind, SourceMap};
use proptest::prelude::*;

use crate::support::root;

/// Every pipeline file the repository ships or tests with: the seeds of mutation.
fn corpus() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    for dir in [
        "pipelines",
        "stdlib",
        "tests/data/diagnostics",
        "tests/data/seed",
        "tests/data/cli",
    ] {
        let Ok(entries) = std::fs::read_dir(root().join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("cmap" | "json")
            ) {
                if let Ok(text) = std::fs::read_to_string(&p) {
                    files.push((p, text));
                }
            }
        }
    }
    files.sort();
    files
}

/// Parses `text` as `kind` beside the real stdlib and compiles everything.
fn parse_and_compile(text: String, kind: SourceKind) {
    let mut sources = SourceMap::default();
    let mut docs = Vec::new();
    for (name, std_text) in cmap::stdlib::EMBEDDED {
        let id = sources.add(PathBuf::from(name), std_text.to_string());
        docs.push(syntax::parse(id, sources.get(id)).0);
    }
    // Half the inputs as a tenant folder's file, so the checks between tenants see them.
    let owner = if text.len() % 2 == 0 {
        compile::Owner::Tenant("acme".into())
    } else {
        compile::Owner::Top
    };
    let id = sources.add_kind(PathBuf::from("fuzz"), text, kind);
    let (doc, diags) = syntax::parse(id, sources.get(id));
    docs.push(doc);
    let mut owners = vec![compile::Owner::Stdlib; docs.len() - 1];
    owners.push(owner);
    let options = compile::Options {
        owners,
        ..compile::Options::default()
    };
    let compiled = compile::compile(&docs, &options);
    // Rendering must not panic either, whatever the spans.
    let mut all = diags;
    all.extend(compiled.diagnostics);
    let _ =
        cmap::diagnostics::render::human(&all, &sources, cmap::diagnostics::render::Style::Plain);
    let _ = cmap::diagnostics::render::json(&all, &sources);
}

/// Syntax-significant fragments to splice in.
const FRAGMENTS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "\"",
    "\\",
    "=",
    "==",
    "!",
    "->",
    "|",
    ",",
    ":",
    ".",
    "$",
    "${",
    "{{task.",
    "}}",
    "_ =>",
    "match",
    "when",
    "schema",
    "task",
    "lookup",
    "test",
    "expect",
    "input",
    "where",
    "in",
    "not",
    "exists",
    "source",
    "target",
    "dedupe",
    "-1",
    "1e999",
    "0",
    "null",
    "true",
    "\n",
    " ",
    "//",
    "é",
    "\u{1F600}",
    "\0",
    "`",
    "'",
    "custom(\"loop {}\")",
    "regex_replace(\"(\", \"\")",
];

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, usize),
    Duplicate(usize, usize),
    Swap(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0usize..40).prop_map(|(a, n)| Mutation::Delete(a, n)),
        (any::<usize>(), 0..FRAGMENTS.len()).prop_map(|(a, f)| Mutation::Insert(a, f)),
        (any::<usize>(), 0usize..80).prop_map(|(a, n)| Mutation::Duplicate(a, n)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
    ]
}

/// Applies a mutation at char boundaries.
fn apply(text: &str, m: &Mutation) -> String {
    let bounds: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect();
    let at = |n: usize| bounds[n % bounds.len()];
    match *m {
        Mutation::Delete(a, n) => {
            let s = at(a);
            let e = bounds
                .iter()
                .copied()
                .find(|&b| b >= s + n)
                .unwrap_or(text.len());
            format!("{}{}", &text[..s], &text[e..])
        }
        Mutation::Insert(a, f) => {
            let s = at(a);
            format!("{}{}{}", &text[..s], FRAGMENTS[f], &text[s..])
        }
        Mutation::Duplicate(a, n) => {
            let s = at(a);
            let e = bounds
                .iter()
                .copied()
                .find(|&b| b >= s + n)
                .unwrap_or(text.len());
            format!("{}{}", &text[..e], &text[s..])
        }
        Mutation::Swap(a, b) => {
            let (x, y) = (at(a).min(at(b)), at(a).max(at(b)));
            let (cx, cy) = (text[x..].chars().next(), text[y..].chars().next());
            match (cx, cy) {
                (Some(cx), Some(cy)) if x != y => {
                    format!(
                        "{}{}{}{}{}",
                        &text[..x],
                        cy,
                        &text[x + cx.len_utf8()..y],
                        cx,
                        &text[y + cy.len_utf8()..]
                    )
                }
                _ => text.to_string(),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_files_never_panic(seed in any::<usize>(), mutations in proptest::collection::vec(mutation(), 1..6)) {
        let files = corpus();
        let (path, text) = &files[seed % files.len()];
        let mut text = text.clone();
        for m in &mutations {
            text = apply(&text, m);
        }
        parse_and_compile(text, SourceKind::of(path));
    }

    #[test]
    fn random_text_never_panics(text in "\\PC{0,300}", json in any::<bool>()) {
        parse_and_compile(text, if json { SourceKind::Json } else { SourceKind::Cmap });
    }

    #[test]
    fn random_fragments_never_panic(parts in proptest::collection::vec(0..FRAGMENTS.len(), 0..60), json in any::<bool>()) {
        let text: String = parts.iter().map(|&i| FRAGMENTS[i]).collect::<Vec<_>>().join(" ");
        parse_and_compile(text, if json { SourceKind::Json } else { SourceKind::Cmap });
    }
}
