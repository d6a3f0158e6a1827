//! Tidy: ARCHITECTURE.md's import rules, enforced (rust-analyzer's `xtask/src/tidy.rs`
//! and its "Architecture Invariant" lines are the model).
//!
//! The rules are read from ARCHITECTURE.md itself, so the document and the test cannot
//! drift: under each code-map heading naming a module (`### \`src/syntax/\``), a line
//! `**Architecture invariant:**` followed by one of
//!
//! - `uses only \`crate::a\`, \`crate::b\` and leaf modules` (the module may use these
//!   modules of the crate, leaf modules, and nothing else of the crate);
//! - `uses nothing else of the crate`;
//! - `never uses \`crate::a\`, \`std::fs\`, \`tokio\`, \`println!\`` (paths of the crate or
//!   of other crates, and macros);
//! - `only \`cli\` and \`serve\` use \`println!\`, ...` (every other module never uses them).
//!
//! Other invariant lines are prose, not read. A leaf module is one file `src/NAME.rs` that
//! uses nothing else of the crate; every module may use a leaf. Every module that is not
//! a leaf must have a rule. Test code (`tests.rs` files and `#[cfg(test)]` items) is
//! exempt: tests may read golden files and build inputs with any layer.
//!
//! The checker scans every `.rs` file under `src/` (comments and string literals blanked)
//! for `use` trees and inline paths (`crate::engine::Engine`, `super::super::serve`,
//! `std::fs::read`, `tokio::spawn`, `println!`) and reports each forbidden edge with its
//! file, line and the rule it breaks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::support::{golden, root};

/// A rule read from ARCHITECTURE.md.
#[derive(Debug)]
struct Rule {
    /// The module it governs (for `Only`, the module it is stated under).
    module: String,
    kind: Kind,
    /// Where it is stated: `ARCHITECTURE.md:LINE`.
    at: String,
}

#[derive(Debug)]
enum Kind {
    /// Modules of the crate it may use, besides leaf modules and itself.
    UsesOnly(BTreeSet<String>),
    /// Uses no other module of the crate.
    Nothing,
    /// Paths and macros it never uses.
    Never(Vec<String>),
    /// Only these modules use these paths and macros.
    Only {
        modules: BTreeSet<String>,
        tokens: Vec<String>,
    },
}

/// One path or macro a file uses, on a line.
#[derive(Debug)]
struct Reference {
    line: usize,
    /// `crate::engine::Engine`, `std::fs`, `println!`; `super` chains already resolved
    /// to `crate::` when they leave the module.
    path: String,
}

/// A source file of a module.
#[derive(Debug)]
struct SourceFile {
    /// Relative to the scanned root (`src/engine/mod.rs`).
    rel: String,
    /// The top-level module (`engine`).
    module: String,
    references: Vec<Reference>,
}

const INVARIANT: &str = "**Architecture invariant:**";

/// The backticked words of `text`.
fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The clause after `keyword`: up to the first of `stops` outside backticks.
fn clause<'t>(text: &'t str, keyword: &str, stops: &[char]) -> Option<&'t str> {
    let start = text.find(keyword)? + keyword.len();
    let rest = &text[start..];
    let mut in_tick = false;
    for (i, c) in rest.char_indices() {
        match c {
            '`' => in_tick = !in_tick,
            c if !in_tick && stops.contains(&c) => return Some(&rest[..i]),
            _ => {}
        }
    }
    Some(rest)
}

/// The module of a code-map heading: `### \`src/syntax/\`` or `### \`src/span.rs\``.
fn heading_modules(line: &str) -> Vec<String> {
    backticked(line)
        .iter()
        .filter_map(|w| {
            let rest = w.strip_prefix("src/")?;
            let name = rest
                .strip_suffix('/')
                .or_else(|| rest.strip_suffix(".rs"))?;
            (!name.contains('/')).then(|| name.to_string())
        })
        .collect()
}

/// The crate module a rule names (`crate::engine` -> `engine`).
fn crate_module(word: &str) -> Option<String> {
    let rest = word.strip_prefix("crate::")?;
    Some(rest.split("::").next().unwrap_or_default().to_string())
}

/// Reads the rules of ARCHITECTURE.md.
fn rules(doc: &str) -> Result<Vec<Rule>, String> {
    let mut out = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let lines: Vec<&str> = doc.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let at = format!("ARCHITECTURE.md:{}", i + 1);
        if line.starts_with('#') {
            current = if line.starts_with("### ") {
                heading_modules(line)
            } else {
                Vec::new()
            };
            continue;
        }
        let Some(first) = line.trim().strip_prefix(INVARIANT) else {
            continue;
        };
        // The rule is the whole paragraph (it wraps).
        let mut text = first.to_string();
        for more in lines[i + 1..].iter().take_while(|l| !l.trim().is_empty()) {
            text.push(' ');
            text.push_str(more.trim());
        }
        let text = text.as_str();
        let kind =
            if let Some(c) = clause(text, "uses only", &[':', '.']) {
                let mut allowed = BTreeSet::new();
                for w in backticked(c) {
                    allowed.insert(crate_module(&w).ok_or_else(|| {
                        format!("{at}: `uses only` names `{w}`, not `crate::NAME`")
                    })?);
                }
                if !c.contains("leaf modules") {
                    return Err(format!(
                        "{at}: `uses only` must end with `and leaf modules`"
                    ));
                }
                Kind::UsesOnly(allowed)
            } else if text.contains("uses nothing else of the crate") {
                Kind::Nothing
            } else if let Some(c) = clause(text, "never uses", &[':', '.']) {
                Kind::Never(backticked(c))
            } else if text.trim_start().starts_with("only ") {
                let (who, what) = text
                    .split_once(" use ")
                    .ok_or_else(|| format!("{at}: `only .. use ..` without ` use `"))?;
                Kind::Only {
                    modules: backticked(who).into_iter().collect(),
                    tokens: backticked(clause(what, "", &['.']).unwrap_or(what)),
                }
            } else {
                // Prose: not a rule the test reads.
                continue;
            };
        if current.is_empty() {
            return Err(format!(
                "{at}: an import rule outside a code-map heading naming a module"
            ));
        }
        for module in &current {
            out.push(Rule {
                module: module.clone(),
                kind: match &kind {
                    Kind::UsesOnly(a) => Kind::UsesOnly(a.clone()),
                    Kind::Nothing => Kind::Nothing,
                    Kind::Never(t) => Kind::Never(t.clone()),
                    Kind::Only { modules, tokens } => Kind::Only {
                        modules: modules.clone(),
                        tokens: tokens.clone(),
                    },
                },
                at: at.clone(),
            });
        }
    }
    Ok(out)
}

/// Replaces comments and the contents of string and character literals with spaces,
/// keeping line breaks, so paths are found in code only.
fn blank(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let keep = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(keep(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !chars
                .get(i.wrapping_sub(1))
                .is_some_and(|p| p.is_alphanumeric() || *p == '_')
        {
            // A raw string: r"..", r#".."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            out.push('r');
            for _ in i + 1..=j {
                out.push(' ');
            }
            i = j + 1;
            while i < chars.len() {
                if chars[i] == '"' && (0..hashes).all(|h| chars.get(i + 1 + h) == Some(&'#')) {
                    for _ in 0..=hashes {
                        out.push(' ');
                    }
                    i += 1 + hashes;
                    break;
                }
                out.push(keep(chars[i]));
                i += 1;
            }
        } else if c == '"' {
            out.push('"');
            i += 1;
            while i < chars.len() {
                match chars[i] {
                    '\\' => {
                        out.push(' ');
                        if let Some(&e) = chars.get(i + 1) {
                            out.push(keep(e));
                        }
                        i += 2;
                    }
                    '"' => {
                        out.push('"');
                        i += 1;
                        break;
                    }
                    other => {
                        out.push(keep(other));
                        i += 1;
                    }
                }
            }
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{1F600}', '"') or a lifetime ('a).
            let end = if next == Some('\\') {
                (i + 3..chars.len().min(i + 12)).find(|&j| chars[j] == '\'')
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(end) => {
                    for _ in i..=end {
                        out.push(' ');
                    }
                    i = end + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Blanks `#[cfg(test)]` items (a `mod tests { .. }`, a test-only `use` or `fn`); returns
/// the names of the test modules declared as files (`#[cfg(test)] mod tests;`).
fn strip_test_items(code: &str) -> (String, Vec<String>) {
    let lines: Vec<&str> = code.lines().collect();
    let mut keep = vec![true; lines.len()];
    let mut test_files = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if !lines[i].trim_start().starts_with("#[cfg(test)]") {
            i += 1;
            continue;
        }
        keep[i] = false;
        i += 1;
        // Further attributes, then the item: to its `;`, or its block's closing brace.
        let mut depth = 0i32;
        let mut opened = false;
        while i < lines.len() {
            let line = lines[i];
            keep[i] = false;
            let t = line.trim();
            if !opened && t.starts_with("#[") {
                i += 1;
                continue;
            }
            if !opened {
                if let Some(name) = t
                    .trim_start_matches("pub(crate) ")
                    .trim_start_matches("pub(super) ")
                    .trim_start_matches("pub ")
                    .strip_prefix("mod ")
                    .and_then(|r| r.strip_suffix(';'))
                {
                    test_files.push(name.trim().to_string());
                }
            }
            for c in line.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            i += 1;
            if (opened && depth <= 0) || (!opened && t.ends_with(';')) {
                break;
            }
        }
    }
    let kept: Vec<&str> = lines
        .iter()
        .zip(&keep)
        .map(|(l, k)| if *k { *l } else { "" })
        .collect();
    (kept.join("\n"), test_files)
}

/// Expands a `use` tree (`std::{fs, io::Write}`) into full paths.
fn expand(tree: &str) -> Vec<String> {
    expand_named(tree)
        .into_iter()
        .map(|(path, _)| path)
        .collect()
}

/// Expands a `use` tree into full paths, each with the name it brings into scope
/// (`std::io as sio` -> (`std::io`, `sio`)).
fn expand_named(tree: &str) -> Vec<(String, String)> {
    // `a as b`: mark the renaming before whitespace goes.
    let tree: String = tree
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace(" as ", "@")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let mut out = Vec::new();
    expand_into("", &tree, &mut out);
    out
}

fn expand_into(prefix: &str, tree: &str, out: &mut Vec<(String, String)>) {
    let join = |p: &str, s: &str| {
        if p.is_empty() {
            s.to_string()
        } else if s.is_empty() || s == "self" {
            p.to_string()
        } else {
            format!("{p}::{s}")
        }
    };
    match tree.find('{') {
        None => {
            let mut parts = tree.splitn(2, '@');
            let path = join(prefix, parts.next().unwrap_or(tree).trim_end_matches("::"));
            let name = match parts.next() {
                Some(alias) => alias.to_string(),
                None => path.rsplit("::").next().unwrap_or_default().to_string(),
            };
            out.push((path, name));
        }
        Some(open) => {
            let head = tree[..open].trim_end_matches("::");
            let prefix = join(prefix, head);
            let inner = tree[open + 1..]
                .strip_suffix('}')
                .unwrap_or(&tree[open + 1..]);
            // Split the group on top-level commas.
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        if start < i {
                            expand_into(&prefix, &inner[start..i], out);
                        }
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            if start < inner.len() {
                expand_into(&prefix, &inner[start..], out);
            }
        }
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The paths (`a::b::c`) and macro calls (`name!`) of one line of code.
fn inline_references(line: &str) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !(chars[i].is_ascii_alphabetic() || chars[i] == '_') || (i > 0 && is_ident(chars[i - 1]))
        {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i;
        loop {
            while end < chars.len() && is_ident(chars[end]) {
                end += 1;
            }
            let more = chars.get(end) == Some(&':')
                && chars.get(end + 1) == Some(&':')
                && chars
                    .get(end + 2)
                    .is_some_and(|c| c.is_ascii_alphabetic() || *c == '_');
            if more {
                end += 2;
            } else {
                break;
            }
        }
        let word: String = chars[start..end].iter().collect();
        if word.contains("::") {
            out.push(word);
        } else if chars.get(end) == Some(&'!') && chars.get(end + 1) != Some(&'=') {
            out.push(format!("{word}!"));
        }
        i = end.max(i + 1);
    }
    out
}

/// The module path of a file (`src/serve/loader.rs` -> `[serve, loader]`).
fn module_path(rel_to_src: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel_to_src
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        match last.as_str() {
            "mod.rs" => {}
            other => parts.push(other.trim_end_matches(".rs").to_string()),
        }
    }
    parts
}

/// Resolves a `super::` chain that leaves the top-level module to `crate::`.
fn resolve(path: &str, module_path: &[String]) -> Option<String> {
    let mut rest = path;
    let mut ups = 0;
    while let Some(r) = rest.strip_prefix("super::") {
        ups += 1;
        rest = r;
    }
    if ups == 0 {
        return Some(path.to_string());
    }
    (ups == module_path.len()).then(|| format!("crate::{rest}"))
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// Scans every module file under `root/src` (test code left out).
fn scan(root: &Path) -> Vec<SourceFile> {
    let src = root.join("src");
    let mut files = Vec::new();
    rs_files(&src, &mut files);
    // Pass 1: blank, strip test items, and collect test module files.
    let mut stripped = BTreeMap::new();
    let mut test_roots: Vec<PathBuf> = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let (code, tests) = strip_test_items(&blank(&text));
        let dir = match path.file_name().and_then(|n| n.to_str()) {
            Some("mod.rs" | "lib.rs" | "main.rs") => path.parent().map(Path::to_path_buf),
            _ => Some(path.with_extension("")),
        };
        if let Some(dir) = dir {
            for t in tests {
                test_roots.push(dir.join(format!("{t}.rs")));
                test_roots.push(dir.join(&t));
            }
        }
        stripped.insert(path.clone(), code);
    }
    let mut out = Vec::new();
    for (path, code) in stripped {
        let Ok(rel_to_src) = path.strip_prefix(&src) else {
            continue;
        };
        let mpath = module_path(rel_to_src);
        // The crate root (`lib.rs`, `main.rs`) and test code are not governed.
        if mpath.len() == 1 && matches!(mpath[0].as_str(), "lib" | "main") {
            continue;
        }
        if test_roots.iter().any(|t| path.starts_with(t)) {
            continue;
        }
        let mut references = Vec::new();
        // Names brought into scope by `use` (`io` -> `std::io`), to read `io::stdout()`.
        let mut names: BTreeMap<String, String> = BTreeMap::new();
        let mut inline: Vec<Reference> = Vec::new();
        let lines: Vec<&str> = code.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            let t = lines[i].trim_start();
            let t = t
                .strip_prefix("pub(crate) ")
                .or_else(|| t.strip_prefix("pub(super) "))
                .or_else(|| t.strip_prefix("pub "))
                .unwrap_or(t);
            if let Some(tree) = t.strip_prefix("use ") {
                // A `use` item, possibly over several lines.
                let first = i;
                let mut text = tree.to_string();
                while !text.contains(';') && i + 1 < lines.len() {
                    i += 1;
                    text.push_str(lines[i]);
                }
                let tree = text.split(';').next().unwrap_or_default();
                for (path, name) in expand_named(tree) {
                    names.insert(name, path.clone());
                    references.push(Reference {
                        line: first + 1,
                        path,
                    });
                }
            } else {
                for p in inline_references(lines[i]) {
                    inline.push(Reference {
                        line: i + 1,
                        path: p,
                    });
                }
            }
            i += 1;
        }
        for r in inline {
            let (head, rest) = r.path.split_once("::").unwrap_or((&r.path, ""));
            let path = match names.get(head) {
                Some(full) if !rest.is_empty() => format!("{full}::{rest}"),
                _ => r.path.clone(),
            };
            references.push(Reference { line: r.line, path });
        }
        let references = references
            .into_iter()
            .filter_map(|r| resolve(&r.path, &mpath).map(|path| Reference { line: r.line, path }))
            .collect();
        out.push(SourceFile {
            rel: path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned(),
            module: mpath[0].clone(),
            references,
        });
    }
    out
}

/// True when `reference` is `token` or inside it (`std::fs::read` is in `std::fs`).
fn matches(reference: &str, token: &str) -> bool {
    if token.ends_with('!') {
        return reference == token;
    }
    reference == token
        || reference
            .strip_prefix(token)
            .is_some_and(|rest| rest.starts_with("::"))
}

/// What a rule says, for messages.
fn says(rule: &Rule) -> String {
    let list = |words: &mut dyn Iterator<Item = String>| {
        words
            .map(|w| format!("`{w}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match &rule.kind {
        Kind::UsesOnly(allowed) if allowed.is_empty() => {
            format!("`{}` uses only leaf modules", rule.module)
        }
        Kind::UsesOnly(allowed) => format!(
            "`{}` uses only {} and leaf modules",
            rule.module,
            list(&mut allowed.iter().map(|m| format!("crate::{m}")))
        ),
        Kind::Nothing => format!("`{}` uses nothing else of the crate", rule.module),
        Kind::Never(tokens) => format!(
            "`{}` never uses {}",
            rule.module,
            list(&mut tokens.iter().cloned())
        ),
        Kind::Only { modules, tokens } => format!(
            "only {} use {}",
            list(&mut modules.iter().cloned()),
            list(&mut tokens.iter().cloned())
        ),
    }
}

/// Every broken rule of the crate at `root`, one line each, by file and line.
fn violations(root: &Path) -> Vec<String> {
    let doc = match std::fs::read_to_string(root.join("ARCHITECTURE.md")) {
        Ok(d) => d,
        Err(e) => return vec![format!("cannot read ARCHITECTURE.md: {e}")],
    };
    let rules = match rules(&doc) {
        Ok(r) => r,
        Err(e) => return vec![e],
    };
    let files = scan(root);
    let modules: BTreeSet<String> = files.iter().map(|f| f.module.clone()).collect();
    let single_file = |m: &str| {
        root.join("src").join(format!("{m}.rs")).is_file() && !root.join("src").join(m).is_dir()
    };
    // (place, line, message), sorted by place and line.
    let mut out: Vec<(String, usize, String)> = Vec::new();

    // Leaves: one file `src/NAME.rs`, using nothing else of the crate.
    let leaves: BTreeSet<String> = modules
        .iter()
        .filter(|m| single_file(m))
        .filter(|m| {
            files.iter().filter(|f| &f.module == *m).all(|f| {
                f.references
                    .iter()
                    .all(|r| crate_module(&r.path).is_none_or(|target| target == **m))
            })
        })
        .cloned()
        .collect();

    // The document names only modules that exist, and every other module has a rule.
    for rule in &rules {
        let mut named: Vec<&String> = vec![&rule.module];
        if let Kind::UsesOnly(allowed) = &rule.kind {
            named.extend(allowed);
        }
        if let Kind::Only { modules, .. } = &rule.kind {
            named.extend(modules);
        }
        for m in named {
            if !modules.contains(m) {
                let (place, line) = rule.at.split_once(':').unwrap_or((&rule.at, "0"));
                out.push((
                    place.to_string(),
                    line.parse().unwrap_or(0),
                    format!("names `{m}`, which is not a module of the crate"),
                ));
            }
        }
    }
    for m in &modules {
        if !leaves.contains(m) && !rules.iter().any(|r| &r.module == m) {
            let place = if single_file(m) {
                format!("src/{m}.rs")
            } else {
                format!("src/{m}/")
            };
            out.push((
                place,
                0,
                format!(
                    "`{m}` is not a leaf module and has no import rule: add an \
                     `{INVARIANT}` line under its heading in ARCHITECTURE.md"
                ),
            ));
        }
    }

    for f in &files {
        for r in &f.references {
            let target = crate_module(&r.path).filter(|t| *t != f.module);
            for rule in &rules {
                let broken = match &rule.kind {
                    Kind::UsesOnly(allowed) if rule.module == f.module => target
                        .as_ref()
                        .filter(|t| !allowed.contains(*t) && !leaves.contains(*t))
                        .map(|t| format!("crate::{t}")),
                    Kind::Nothing if rule.module == f.module => {
                        target.as_ref().map(|t| format!("crate::{t}"))
                    }
                    Kind::Never(tokens) if rule.module == f.module => {
                        tokens.iter().find(|t| matches(&r.path, t)).cloned()
                    }
                    Kind::Only { modules, tokens } if !modules.contains(&f.module) => {
                        tokens.iter().find(|t| matches(&r.path, t)).cloned()
                    }
                    _ => None,
                };
                if let Some(edge) = broken {
                    let via = if r.path == edge {
                        String::new()
                    } else {
                        format!(" (`{}`)", r.path)
                    };
                    out.push((
                        f.rel.clone(),
                        r.line,
                        format!(
                            "`{}` uses `{edge}`{via}, but {}: {}",
                            f.module,
                            rule.at,
                            says(rule)
                        ),
                    ));
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out.into_iter()
        .map(|(place, line, message)| match line {
            0 => format!("{place}: {message}"),
            n => format!("{place}:{n}: {message}"),
        })
        .collect()
}

#[test]
fn the_crate_keeps_the_import_rules_of_architecture_md() {
    let found = violations(&root());
    assert!(
        found.is_empty(),
        "forbidden edges (fix the code, or the rule in ARCHITECTURE.md):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_checker_reports_each_forbidden_edge_of_a_bad_crate() {
    // tests/data/tidy/ is a crate that breaks every kind of rule once.
    let found = violations(&root().join("tests/data/tidy"));
    golden("tidy/violations.txt", &format!("{}\n", found.join("\n")));
}

#[test]
fn use_trees_expand_to_paths() {
    assert_eq!(
        expand("crate::{compile, syntax::ast::{self, Span}, files as f}"),
        [
            "crate::compile",
            "crate::syntax::ast",
            "crate::syntax::ast::Span",
            "crate::files"
        ]
    );
    assert_eq!(
        expand("std::{fs, io::Write}"),
        ["std::fs", "std::io::Write"]
    );
    assert_eq!(
        expand_named("std::io::{self as sio, stdout}"),
        [
            ("std::io".to_string(), "sio".to_string()),
            ("std::io::stdout".to_string(), "stdout".to_string())
        ]
    );
    assert_eq!(
        inline_references("let x = crate::engine::Engine::new(); println!(\"{x}\"); a != b"),
        ["crate::engine::Engine::new", "println!"]
    );
    assert_eq!(
        blank("let s = \"crate::engine\"; // crate::serve\nlet c = '\"'; crate::x"),
        "let s = \"             \";                \nlet c =    ; crate::x"
    );
}
