//! The integration catalogue (issue 9, "The integration catalogue"; spec "Integration
//! Types", "Access Control & Visibility"): the standard library's `integration`
//! definitions layered with the super admin's entries kept in the store.
//!
//! Layering, by id: a stored definition replaces the stdlib's of the same id whole (an
//! override) or adds a new integration; a stored `Disabled` entry withdraws the stdlib's.
//! Nothing is edited in place. Stored definitions are seed-JSON text, checked when they
//! are written ([`DefinitionChecker::check`], the very checks of `cmap check`) and again
//! whenever the catalogue is built, against the stdlib of the day: one that no longer
//! checks (its entity was removed from stdlib/) is left out and listed in
//! [`Catalogue::broken`], never deleted.
//!
//! Visibility: a `superadmin_only` definition exists only for super admins; for everyone
//! else [`Catalogue::get`] answers `None`, so the API says 404, as for an unknown id.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use crate::compile::{self, ir};
use crate::diagnostics::{render, Code, Diagnostic};
use crate::span::{SourceKind, SourceMap, Span};
use crate::store::identity::Role;
use crate::store::{IntegrationDefEntry, Store, StoreError};
use crate::syntax::{self, ast};

/// How a submitted definition is written: `.cmap` text or seed JSON.
pub type DefinitionFormat = SourceKind;

/// A definition that checks.
#[derive(Clone, Debug)]
pub struct Accepted {
    pub definition: ir::IntegrationDefinition,
    /// The definition as seed JSON text: what the store keeps
    /// ([`IntegrationDefEntry::Definition`]).
    pub seed_json: String,
    /// The warnings, as `cmap check --format json` gives them (`{ "diagnostics": [..],
    /// "errors": 0, "warnings": n }`).
    pub warnings: Value,
}

/// A definition that does not check: every diagnostic, and the text they point into.
#[derive(Clone, Debug)]
pub struct Rejected {
    /// Errors and warnings, by position.
    pub diagnostics: Vec<Diagnostic>,
    sources: SourceMap,
}

impl Rejected {
    /// The `cmap check --format json` document of the diagnostics:
    /// `{ "diagnostics": [{ "code", "severity", "message", "file", "line", "column",
    /// "endLine", "endColumn", "label", "help", "related" }], "errors": n, "warnings": n }`.
    /// `file` is `definition.cmap` or `definition.json` (the submitted text).
    pub fn to_json(&self) -> Value {
        render::json(&self.diagnostics, &self.sources)
    }
}

/// Checks submitted integration definitions exactly as `cmap check` checks a file: the
/// same parser, the same compile, against the standard library's documents (so that
/// `availableEntities` resolve). The stdlib's own `integration` items are left out of
/// the check, so a definition may carry a stdlib id (an override).
#[derive(Clone, Debug)]
pub struct DefinitionChecker {
    /// The stdlib files; the submitted text is added after them.
    sources: SourceMap,
    /// One per stdlib file, without its `integration` items.
    docs: Vec<ast::Document>,
    /// Syntax errors of the stdlib itself (reported with every check: a broken stdlib
    /// must not pass unnoticed).
    stdlib_diagnostics: Vec<Diagnostic>,
}

impl DefinitionChecker {
    /// Reads `(file name, text)` stdlib files, as [`crate::stdlib::EMBEDDED`] lists them.
    pub fn new(stdlib: &[(&str, &str)]) -> DefinitionChecker {
        let mut sources = SourceMap::default();
        let mut docs = Vec::new();
        let mut stdlib_diagnostics = Vec::new();
        for (name, text) in stdlib {
            let id = sources.add(PathBuf::from(format!("<stdlib>/{name}")), text.to_string());
            let (mut doc, diags) = syntax::parse(id, sources.get(id));
            doc.items
                .retain(|item| !matches!(item, ast::Item::Integration(_)));
            docs.push(doc);
            stdlib_diagnostics.extend(diags);
        }
        DefinitionChecker {
            sources,
            docs,
            stdlib_diagnostics,
        }
    }

    /// The checker of the standard library embedded in the binary, built once.
    pub fn embedded() -> &'static DefinitionChecker {
        static CHECKER: OnceLock<DefinitionChecker> = OnceLock::new();
        CHECKER.get_or_init(|| DefinitionChecker::new(crate::stdlib::EMBEDDED))
    }

    /// Checks one definition: the text must hold exactly one `integration` item (one
    /// seed-JSON object) and check without error.
    pub fn check(&self, text: &str, format: DefinitionFormat) -> Result<Accepted, Rejected> {
        let mut sources = self.sources.clone();
        let name = match format {
            SourceKind::Cmap => "definition.cmap",
            SourceKind::Json => "definition.json",
        };
        let file = sources.add_kind(PathBuf::from(name), text.to_string(), format);
        let (doc, mut diagnostics) = syntax::parse(file, sources.get(file));
        diagnostics.extend(self.stdlib_diagnostics.iter().cloned());
        one_integration(&doc, file, format, text.len(), &mut diagnostics);

        let mut docs = self.docs.clone();
        let stdlib_docs = docs.len();
        docs.push(doc);
        let compilation = compile::compile(
            &docs,
            &compile::Options {
                stdlib_docs,
                ..compile::Options::default()
            },
        );
        diagnostics.extend(compilation.diagnostics);
        diagnostics.sort_by_key(|d| (d.span.file, d.span.start, d.code));
        diagnostics.dedup();

        let definition = compilation
            .program
            .as_ref()
            .and_then(|p| p.integrations.first())
            .filter(|_| !diagnostics.iter().any(Diagnostic::is_error));
        let (Some(definition), Some(doc)) = (definition, docs.last()) else {
            return Err(Rejected {
                diagnostics,
                sources,
            });
        };
        let seed = syntax::json::encode(doc, &crate::functions::param_names);
        Ok(Accepted {
            definition: (**definition).clone(),
            seed_json: serde_json::to_string_pretty(&seed).unwrap_or_default(),
            warnings: render::json(&diagnostics, &sources),
        })
    }
}

/// Checks a definition against the embedded standard library
/// ([`DefinitionChecker::embedded`]).
pub fn check_definition(text: &str, format: DefinitionFormat) -> Result<Accepted, Rejected> {
    DefinitionChecker::embedded().check(text, format)
}

/// Reports a document that is not exactly one integration (the API takes one at a
/// time): another kind of item, several, or none.
fn one_integration(
    doc: &ast::Document,
    file: crate::span::FileId,
    format: DefinitionFormat,
    len: usize,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let code = match format {
        SourceKind::Cmap => Code::Syntax,
        SourceKind::Json => Code::JsonShape,
    };
    let help = match format {
        SourceKind::Cmap => "send one `integration ID \"Name\" { .. }` block",
        SourceKind::Json => "send one IntegrationDefinition object (it has `category`, or \"$kind\": \"integration\")",
    };
    let integrations = doc
        .items
        .iter()
        .filter(|i| matches!(i, ast::Item::Integration(_)))
        .count();
    if let Some(other) = doc
        .items
        .iter()
        .find(|i| !matches!(i, ast::Item::Integration(_)))
    {
        diagnostics.push(
            Diagnostic::new(
                code,
                item_span(other),
                "a catalogue entry holds one integration definition and nothing else",
            )
            .with_label("not an integration")
            .with_help(help),
        );
    } else if integrations > 1 {
        let second = doc.items.get(1).map_or(Span::new(file, 0, 0), item_span);
        diagnostics.push(
            Diagnostic::new(
                code,
                second,
                "a catalogue entry holds one integration definition",
            )
            .with_label("a second one")
            .with_help(help),
        );
    } else if integrations == 0 && !diagnostics.iter().any(Diagnostic::is_error) {
        diagnostics.push(
            Diagnostic::new(code, Span::new(file, 0, len), "no integration definition")
                .with_label("nothing to add")
                .with_help(help),
        );
    }
}

fn item_span(item: &ast::Item) -> Span {
    match item {
        ast::Item::Schema(s) => s.id.span,
        ast::Item::Task(t) => t.id.span,
        ast::Item::Connection(c) => c.id.span,
        ast::Item::Integration(k) => k.id.span,
        ast::Item::Lookup(t) => t.id.span,
        ast::Item::Rates(r) => r.base.span,
        ast::Item::Type(t) => t.id.span,
    }
}

/// Where a catalogue definition comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// stdlib/ (or a pipeline file), as shipped.
    Stdlib,
    /// A stored entry at `version`; `overrides` when it replaces a stdlib definition.
    Stored { version: u64, overrides: bool },
}

/// One definition of the catalogue.
#[derive(Clone, Debug)]
pub struct Entry {
    pub definition: Arc<ir::IntegrationDefinition>,
    pub origin: Origin,
}

/// A stored entry left out of the catalogue: it does not check any more, or it names
/// nothing it could change. Kept in the store; a super admin replaces or deletes it.
#[derive(Clone, Debug)]
pub struct Broken {
    pub id: String,
    pub version: u64,
    /// Why, as `cmap check --format json` says it.
    pub problems: Value,
}

/// The catalogue as one role sees it is [`Catalogue::list`]; [`Catalogue::get`] is one
/// definition.
#[derive(Clone, Debug, Default)]
pub struct Catalogue {
    /// By id.
    entries: BTreeMap<String, Entry>,
    /// Stdlib ids withdrawn by a stored `Disabled` entry (with its version).
    pub disabled: BTreeMap<String, u64>,
    pub broken: Vec<Broken>,
}

/// Who sees `definition`: everyone when it is public, super admins always.
fn visible(definition: &ir::IntegrationDefinition, viewer: Role) -> bool {
    definition.visibility == ir::Visibility::Public || viewer == Role::SuperAdmin
}

impl Catalogue {
    /// The stdlib program's `integrations` layered with the store's entries, each stored
    /// definition checked again by `checker`. Fails only when the store cannot be read.
    pub fn build(
        stdlib: &ir::Program,
        store: &dyn Store,
        checker: &DefinitionChecker,
    ) -> Result<Catalogue, StoreError> {
        let mut catalogue = Catalogue::default();
        for d in &stdlib.integrations {
            catalogue.entries.insert(
                d.id.clone(),
                Entry {
                    definition: d.clone(),
                    origin: Origin::Stdlib,
                },
            );
        }
        for record in store.integration_defs()? {
            let shipped = stdlib.integration(&record.id).is_some();
            let broken = |problems: Value| Broken {
                id: record.id.clone(),
                version: record.version,
                problems,
            };
            match &record.entry {
                IntegrationDefEntry::Disabled if shipped => {
                    catalogue.entries.remove(&record.id);
                    catalogue.disabled.insert(record.id.clone(), record.version);
                }
                IntegrationDefEntry::Disabled => catalogue.broken.push(broken(problem(format!(
                    "disables `{}`, which the standard library does not define",
                    record.id
                )))),
                IntegrationDefEntry::Definition { seed_json } => {
                    match checker.check(seed_json, SourceKind::Json) {
                        Err(rejected) => catalogue.broken.push(broken(rejected.to_json())),
                        Ok(accepted) if accepted.definition.id != record.id => {
                            catalogue.broken.push(broken(problem(format!(
                                "is stored under `{}` but defines `{}`",
                                record.id, accepted.definition.id
                            ))))
                        }
                        Ok(accepted) => {
                            catalogue.entries.insert(
                                record.id.clone(),
                                Entry {
                                    definition: Arc::new(accepted.definition),
                                    origin: Origin::Stored {
                                        version: record.version,
                                        overrides: shipped,
                                    },
                                },
                            );
                        }
                    }
                }
            }
        }
        Ok(catalogue)
    }

    /// The definitions `viewer` may see, in id order.
    pub fn list(&self, viewer: Role) -> Vec<&ir::IntegrationDefinition> {
        self.entries
            .values()
            .map(|e| e.definition.as_ref())
            .filter(|d| visible(d, viewer))
            .collect()
    }

    /// The definition `id` when `viewer` may see it; `None` for an unknown id and for a
    /// `superadmin_only` one asked by anyone else (the API answers 404 to both).
    pub fn get(&self, id: &str, viewer: Role) -> Option<&ir::IntegrationDefinition> {
        self.entry(id, viewer).map(|e| e.definition.as_ref())
    }

    /// [`Catalogue::get`] with where the definition comes from.
    pub fn entry(&self, id: &str, viewer: Role) -> Option<&Entry> {
        self.entries
            .get(id)
            .filter(|e| visible(&e.definition, viewer))
    }
}

/// A problem that is no diagnostic of a text, in the same JSON shape.
fn problem(message: String) -> Value {
    serde_json::json!({
        "diagnostics": [{ "severity": "error", "message": message }],
        "errors": 1,
        "warnings": 0,
    })
}
