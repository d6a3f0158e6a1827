//! Rendering diagnostics: miette's graphical report for people, one JSON document for
//! machines (`check --format json`).

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};
use serde_json::{json, Value};

use super::{Diagnostic, Severity};
use crate::span::{SourceMap, Span};

/// How to draw reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Unicode box drawing with colours (a terminal).
    Color,
    /// Unicode, no colours (pipes, golden tests).
    Plain,
}

/// Renders every diagnostic, then a summary line (`2 errors, 1 warning`), as `check` prints
/// them.
pub fn human(diagnostics: &[Diagnostic], sources: &SourceMap, style: Style) -> String {
    let theme = match style {
        Style::Color => GraphicalTheme::unicode(),
        Style::Plain => GraphicalTheme::unicode_nocolor(),
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false);
    let mut out = String::new();
    for d in diagnostics {
        let report = Report::new(d, sources);
        if handler.render_report(&mut out, &report).is_err() {
            // Rendering into a String cannot fail but for a broken span; fall back to one line.
            let (line, col) = sources.line_col(d.span);
            out.push_str(&format!(
                "{} [{}]: {} at {}:{line}:{col}\n",
                d.severity().as_str(),
                d.code.as_str(),
                d.message,
                sources.get(d.span.file).path.display()
            ));
        }
        out.push('\n');
    }
    out
}

/// `1 error, 2 warnings`; empty when there is nothing.
pub fn summary(diagnostics: &[Diagnostic]) -> String {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    match (errors, warnings) {
        (0, 0) => String::new(),
        (e, 0) => plural(e, "error"),
        (0, w) => plural(w, "warning"),
        (e, w) => format!("{}, {}", plural(e, "error"), plural(w, "warning")),
    }
}

/// The `--format json` document: `{ "diagnostics": [..], "errors": n, "warnings": n }`.
pub fn json(diagnostics: &[Diagnostic], sources: &SourceMap) -> Value {
    let list: Vec<Value> = diagnostics
        .iter()
        .map(|d| {
            let file = sources.get(d.span.file);
            let (line, column) = file.line_col(d.span.start as usize);
            let (end_line, end_column) = file.line_col(d.span.end as usize);
            json!({
                "code": d.code.as_str(),
                "severity": d.severity().as_str(),
                "message": d.message,
                "file": file.path.display().to_string(),
                "line": line,
                "column": column,
                "endLine": end_line,
                "endColumn": end_column,
                "label": d.label,
                "help": d.help,
                "related": d.related.iter().map(|(span, label)| {
                    let f = sources.get(span.file);
                    let (line, column) = f.line_col(span.start as usize);
                    json!({ "file": f.path.display().to_string(), "line": line, "column": column, "label": label })
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    json!({ "diagnostics": list, "errors": errors, "warnings": diagnostics.len() - errors })
}

/// Adapts a [`Diagnostic`] to miette. Related spans in the same file become secondary
/// labels; spans in other files become related reports with their own snippet.
struct Report {
    /// `None` for a note attached to another report.
    code: Option<&'static str>,
    /// `None`: a note (miette's advice).
    severity: Option<Severity>,
    message: String,
    help: Option<String>,
    source: NamedSource<String>,
    labels: Vec<LabeledSpan>,
    related: Vec<Report>,
}

impl Report {
    fn new(d: &Diagnostic, sources: &SourceMap) -> Report {
        let mut labels = vec![LabeledSpan::new_primary_with_span(
            d.label.clone(),
            source_span(d.span, sources),
        )];
        let mut related = Vec::new();
        for (span, label) in &d.related {
            if span.file == d.span.file {
                labels.push(LabeledSpan::new_with_span(
                    Some(label.clone()),
                    source_span(*span, sources),
                ));
            } else {
                related.push(Report {
                    code: None,
                    severity: None,
                    message: label.clone(),
                    help: None,
                    source: named_source(span.file, sources),
                    labels: vec![LabeledSpan::new_primary_with_span(
                        None,
                        source_span(*span, sources),
                    )],
                    related: Vec::new(),
                });
            }
        }
        Report {
            code: Some(d.code.as_str()),
            severity: Some(d.severity()),
            message: d.message.clone(),
            help: d.help.clone(),
            source: named_source(d.span.file, sources),
            labels,
            related,
        }
    }
}

fn named_source(file: u32, sources: &SourceMap) -> NamedSource<String> {
    let f = sources.get(file);
    NamedSource::new(f.path.display().to_string(), f.text.clone())
}

/// Clamps a span to its file, so a stale or synthetic span never breaks rendering.
fn source_span(span: Span, sources: &SourceMap) -> SourceSpan {
    let len = sources.get(span.file).text.len();
    let start = (span.start as usize).min(len);
    let end = (span.end as usize).clamp(start, len);
    SourceSpan::from(start..end)
}

impl fmt::Debug for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.code.map(|c| Box::new(c) as Box<dyn fmt::Display>)
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Some(Severity::Error) => miette::Severity::Error,
            Some(Severity::Warning) => miette::Severity::Warning,
            None => miette::Severity::Advice,
        })
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(
                self.related.iter().map(|r| r as &dyn miette::Diagnostic),
            ))
        }
    }
}
