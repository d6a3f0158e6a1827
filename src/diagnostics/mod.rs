//! Diagnostics: what every stage reports, and how `check` renders it (miette for people,
//! one JSON document for machines).
//!
//! Stages never stop at the first problem: they push [`Diagnostic`]s and go on.

pub mod codes;
pub mod render;

pub use codes::Code;

use crate::span::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One problem found in a pipeline file.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub code: Code,
    /// One line, lower case, no trailing period: `unknown transformation \`upcase\``.
    pub message: String,
    /// Where. Spans of seed-JSON files point at the offending JSON value.
    pub span: Span,
    /// The label under the primary span (`did you mean \`uppercase\`?`).
    pub label: Option<String>,
    /// How to fix it, naming the exact rewrite where one exists.
    pub help: Option<String>,
    /// Secondary spans (`first defined here`).
    pub related: Vec<(Span, String)>,
}

impl Diagnostic {
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            message: message.into(),
            span,
            label: None,
            help: None,
            related: Vec::new(),
        }
    }
    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = Some(label.into());
        self
    }
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }
    pub fn with_related(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.related.push((span, label.into()));
        self
    }
    pub fn severity(&self) -> Severity {
        self.code.severity()
    }
    pub fn is_error(&self) -> bool {
        self.severity() == Severity::Error
    }
}

/// The closest candidate to `name` (Jaro-Winkler ≥ 0.8 or edit distance ≤ 2), for
/// "did you mean" labels.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            let cl = c.to_ascii_lowercase();
            let score = strsim::jaro_winkler(&lower, &cl);
            let dist = strsim::levenshtein(&lower, &cl);
            (c, score, dist)
        })
        .filter(|(_, score, dist)| *score >= 0.8 || *dist <= 2)
        .max_by(|a, b| a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal))
        .map(|(c, _, _)| c)
}
