//! Reading a `settings` or `config` object key by key.
//!
//! Each read *declares* a key (what a connector or the engine accepts), checks its value
//! (type, range, closed set, URL, variable name) and reports a problem at the key's or
//! the value's own span, with a help line. What no read took is then unknown, and
//! reported with a did-you-mean over what was declared. Because the declarations are the
//! reads themselves, the keys `check` accepts are exactly the keys the IR carries: there
//! is no second list to drift from the first.
//!
//! A key whose value is `null` counts as absent (seed JSON writes optional keys so).
//! [`Keys`] collects its diagnostics; the caller hands them to the compile context.

use std::ops::RangeInclusive;

use serde_json::Value;

use crate::compile::types::Ty;
use crate::diagnostics::{did_you_mean, Code, Diagnostic};
use crate::syntax::ast::{Name, Span, Spanned, Tree, TreeNode};

/// An object being read.
pub struct Keys<'t> {
    /// How messages name the object: `the settings of connection `api``.
    pub owner: String,
    /// The connection or task the object belongs to (for the variable names a help
    /// suggests).
    pub id: String,
    /// The object's span (or its owner's, when the object is absent): where a missing
    /// key is reported.
    pub span: Span,
    entries: &'t [(Name, Tree)],
    /// The keys declared so far, in order.
    declared: Vec<&'static str>,
    /// Entries read (by index).
    taken: Vec<bool>,
    /// False once an error was reported.
    pub ok: bool,
    /// The value is not an object (reported): no key is missing from it.
    not_object: bool,
    pub diags: Vec<Diagnostic>,
}

const EMPTY: &[(Name, Tree)] = &[];

impl<'t> Keys<'t> {
    /// The keys of `tree` (none when absent). A value that is not an object is E0202;
    /// a key written twice is E0106 (the first is read).
    pub fn of(tree: Option<&'t Tree>, owner: String, span: Span, what: &str) -> Keys<'t> {
        let mut keys = Keys {
            owner,
            id: String::new(),
            span: tree.map_or(span, |t| t.span),
            entries: EMPTY,
            declared: Vec::new(),
            taken: Vec::new(),
            ok: true,
            not_object: false,
            diags: Vec::new(),
        };
        match tree.map(|t| (t, &t.node)) {
            None => {}
            Some((_, TreeNode::Object(entries))) => keys.entries = entries,
            Some((t, _)) => {
                keys.not_object = true;
                keys.error(
                    Diagnostic::new(
                        Code::ConfigType,
                        t.span,
                        format!("{} must be an object", keys.owner),
                    )
                    .with_label(format!("this is {}", describe(t)))
                    .with_help(format!("write `{what} {{ key: value }}`")),
                );
            }
        }
        keys.taken = vec![false; keys.entries.len()];
        for (i, (k, _)) in keys.entries.iter().enumerate() {
            if let Some((first, _)) = keys.entries[..i].iter().find(|(f, _)| f.node == k.node) {
                let d = Diagnostic::new(
                    Code::DuplicateId,
                    k.span,
                    format!("`{}` is given twice in {}", k.node, keys.owner),
                )
                .with_label("given again here")
                .with_related(first.span, "first given here")
                .with_help("remove one of the two: a key has one value");
                keys.error(d);
            }
        }
        keys
    }

    pub fn error(&mut self, d: Diagnostic) {
        self.ok &= !d.is_error();
        self.diags.push(d);
    }

    fn declare(&mut self, key: &'static str) {
        if !self.declared.contains(&key) {
            self.declared.push(key);
        }
    }

    /// The keys declared so far.
    pub fn declared(&self) -> &[&'static str] {
        &self.declared
    }

    /// The entry of `key`, declared and taken (every occurrence); `None` when absent.
    fn entry(&mut self, key: &'static str) -> Option<&'t (Name, Tree)> {
        self.declare(key);
        let mut found = None;
        for (i, e) in self.entries.iter().enumerate() {
            if e.0.node == key {
                if let Some(t) = self.taken.get_mut(i) {
                    *t = true;
                }
                found = found.or(Some(e));
            }
        }
        found
    }

    /// Whether `key` is written (with any value, `null` included).
    pub fn has(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, _)| k.node == key)
    }

    /// The value of `key` (declared); `None` when absent or `null`.
    pub fn value(&mut self, key: &'static str) -> Option<&'t Tree> {
        self.entry(key)
            .map(|(_, v)| v)
            .filter(|v| !matches!(v.node, TreeNode::Scalar(Value::Null)))
    }

    /// The span of `key`'s name, when it is written.
    pub fn key_span(&self, key: &str) -> Option<Span> {
        self.entries
            .iter()
            .find(|(k, _)| k.node == key)
            .map(|(k, _)| k.span)
    }

    /// E0202: `key`'s value has the wrong type.
    pub fn wrong_type(&mut self, key: &str, v: &Tree, expected: &str, example: &str) {
        let d = Diagnostic::new(
            Code::ConfigType,
            v.span,
            format!("`{key}` in {} must be {expected}", self.owner),
        )
        .with_label(format!("this is {}", describe(v)))
        .with_help(format!("write e.g. `{key}: {example}`"));
        self.error(d);
    }

    /// E0804: `key`'s value is of the right type but not valid.
    pub fn invalid(&mut self, span: Span, message: String, label: String, help: String) {
        self.error(
            Diagnostic::new(Code::InvalidValue, span, message)
                .with_label(label)
                .with_help(help),
        );
    }

    /// A non-empty string (surrounding spaces removed).
    pub fn string(&mut self, key: &'static str, example: &str) -> Option<Spanned<String>> {
        let v = self.value(key)?;
        match &v.node {
            TreeNode::Scalar(Value::String(s)) if !s.trim().is_empty() => {
                Some(Spanned::new(s.trim().to_string(), v.span))
            }
            TreeNode::Scalar(Value::String(_)) => {
                self.invalid(
                    v.span,
                    format!("`{key}` in {} is empty", self.owner),
                    "empty".into(),
                    format!("write e.g. `{key}: {example}`, or remove the key"),
                );
                None
            }
            _ => {
                self.wrong_type(key, v, "a string", example);
                None
            }
        }
    }

    /// A string that passes `check` (which says what is wrong and how to write it).
    pub fn checked(
        &mut self,
        key: &'static str,
        example: &str,
        check: impl Fn(&str) -> Result<(), (String, String)>,
    ) -> Option<String> {
        let s = self.string(key, example)?;
        match check(&s.node) {
            Ok(()) => Some(s.node),
            Err((why, help)) => {
                self.invalid(
                    s.span,
                    format!("`{key}` in {} {why}", self.owner),
                    format!("`{}`", s.node),
                    help,
                );
                None
            }
        }
    }

    /// A dot path into a JSON document (`data.items`): no empty segment.
    pub fn dot_path(&mut self, key: &'static str, example: &str) -> Option<String> {
        self.checked(key, example, |s| {
            if s.split('.').any(|seg| seg.trim().is_empty()) {
                Err((
                    "is not a dot path".into(),
                    format!("name the keys joined by dots, with nothing empty between them, e.g. `{key}: {example}`"),
                ))
            } else {
                Ok(())
            }
        })
    }

    pub fn boolean(&mut self, key: &'static str) -> Option<bool> {
        let v = self.value(key)?;
        match v.node {
            TreeNode::Scalar(Value::Bool(b)) => Some(b),
            _ => {
                let example = match &v.node {
                    TreeNode::Scalar(Value::String(s)) if s == "false" => "false",
                    _ => "true",
                };
                self.wrong_type(key, v, "`true` or `false`", example);
                None
            }
        }
    }

    /// A whole number in `range` (E0202 for another type or a fraction, E0803 outside).
    pub fn whole(
        &mut self,
        key: &'static str,
        range: RangeInclusive<u64>,
        unit: &str,
    ) -> Option<u64> {
        let v = self.value(key)?;
        let example = format!("{}", (*range.start()).max(1).min(*range.end()));
        let TreeNode::Scalar(Value::Number(n)) = &v.node else {
            self.wrong_type(key, v, "a whole number", &example);
            return None;
        };
        let fits = n.as_u64().filter(|n| range.contains(n));
        if fits.is_some() {
            return fits;
        }
        if n.as_f64().is_some_and(|f| f.fract() != 0.0) {
            self.wrong_type(key, v, "a whole number", &example);
            return None;
        }
        let unit = if unit.is_empty() {
            String::new()
        } else {
            format!(" {unit}")
        };
        let d = Diagnostic::new(
            Code::ValueOutOfRange,
            v.span,
            format!(
                "`{key}` in {} must be from {} to {}{unit}",
                self.owner,
                range.start(),
                range.end()
            ),
        )
        .with_label(format!("this is {n}"))
        .with_help(format!(
            "write a value in the range, e.g. `{key}: {}`",
            if n.as_i64().is_some_and(|n| n < 0) || n.as_u64().is_some_and(|n| n < *range.start()) {
                range.start()
            } else {
                range.end()
            }
        ));
        self.error(d);
        None
    }

    /// A share from 0 to 1 (`0.8` is 80%).
    pub fn share(&mut self, key: &'static str, meaning: &str) -> Option<f64> {
        let v = self.value(key)?;
        let TreeNode::Scalar(Value::Number(n)) = &v.node else {
            self.wrong_type(key, v, "a number from 0 to 1", "0.8");
            return None;
        };
        match n.as_f64() {
            Some(f) if (0.0..=1.0).contains(&f) => Some(f),
            _ => {
                let d = Diagnostic::new(
                    Code::ValueOutOfRange,
                    v.span,
                    format!("`{key}` in {} must be from 0 to 1", self.owner),
                )
                .with_label(format!("this is {n}"))
                .with_help(format!(
                    "a share: {meaning}; write e.g. `{key}: 0.8` for 80%"
                ));
                self.error(d);
                None
            }
        }
    }

    /// One of a closed set of words (E0110 for another word).
    pub fn keyword<T: Copy>(
        &mut self,
        key: &'static str,
        choices: &[(&'static str, T)],
    ) -> Option<T> {
        let first = choices.first().map_or("", |c| c.0);
        let s = self.string(key, &format!("\"{first}\""))?;
        if let Some((_, t)) = choices.iter().find(|(w, _)| *w == s.node) {
            return Some(*t);
        }
        let words = choices.iter().map(|(w, _)| *w);
        let list = choices
            .iter()
            .map(|(w, _)| format!("`\"{w}\"`"))
            .collect::<Vec<_>>()
            .join(", ");
        let d = Diagnostic::new(
            Code::UnknownKeyword,
            s.span,
            format!("unknown `{key}` value `{}` in {}", s.node, self.owner),
        );
        let d = match did_you_mean(&s.node, words) {
            Some(w) => d
                .with_label(format!("did you mean `{w}`?"))
                .with_help(format!("write `{key}: \"{w}\"`; `{key}` is one of {list}")),
            None => d
                .with_label(format!("not a `{key}` value"))
                .with_help(format!("`{key}` is one of {list}")),
        };
        self.error(d);
        None
    }

    /// An absolute `http` or `https` URL.
    pub fn url(&mut self, key: &'static str, example: &str) -> Option<url::Url> {
        let s = self.string(key, &format!("\"{example}\""))?;
        match parse_url(&s.node) {
            Ok(url) => Some(url),
            Err(why) => {
                self.invalid(
                    s.span,
                    format!("`{key}` in {} is not a URL cmap can call", self.owner),
                    why,
                    format!("write an absolute http(s) URL, e.g. `{key}: \"{example}\"`"),
                );
                None
            }
        }
    }

    /// The name of an environment variable (letters, digits and `_`, not starting with a
    /// digit).
    pub fn env_name(&mut self, key: &'static str, example: &str) -> Option<String> {
        self.checked(key, &format!("\"{example}\""), |s| {
            env_name_problem(s).map_or(Ok(()), |why| {
                Err((
                    why,
                    format!(
                        "name a variable: letters, digits and `_`, e.g. `{key}: \"{example}\"`"
                    ),
                ))
            })
        })
    }

    /// A non-empty array of strings, each passing `check`.
    pub fn names(
        &mut self,
        key: &'static str,
        example: &str,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> Option<Vec<String>> {
        let v = self.value(key)?;
        let TreeNode::Array(items) = &v.node else {
            self.wrong_type(key, v, "an array of names", example);
            return None;
        };
        if items.is_empty() {
            self.invalid(
                v.span,
                format!("`{key}` in {} is empty", self.owner),
                "no name listed".into(),
                format!(
                    "list at least one, e.g. `{key}: {example}`, or remove the key for the default"
                ),
            );
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            match &item.node {
                TreeNode::Scalar(Value::String(s)) => match check(s) {
                    Ok(()) => out.push(s.clone()),
                    Err(why) => {
                        ok = false;
                        self.invalid(
                            item.span,
                            format!("a name in `{key}` of {} {why}", self.owner),
                            format!("`{s}`"),
                            format!("list names such as {example}"),
                        );
                    }
                },
                _ => {
                    ok = false;
                    self.wrong_type(key, item, "an array of names (strings)", example);
                }
            }
        }
        ok.then_some(out)
    }

    /// E0805 when `key` is not written.
    pub fn require(&mut self, key: &'static str, example: &str, help: &str) {
        self.declare(key);
        if self.has(key) || self.not_object {
            return;
        }
        let d = Diagnostic::new(
            Code::MissingSetting,
            self.span,
            format!("`{key}` is missing from {}", self.owner),
        )
        .with_label(format!("`{key}` is required"))
        .with_help(format!("add `{key}: {example}`{help}"));
        self.error(d);
    }

    /// Marks `key` read without declaring it; its first entry, when written.
    pub fn take(&mut self, key: &str) -> Option<&'t (Name, Tree)> {
        let mut found = None;
        for (i, e) in self.entries.iter().enumerate() {
            if e.0.node == key {
                if let Some(t) = self.taken.get_mut(i) {
                    *t = true;
                }
                found = found.or(Some(e));
            }
        }
        found
    }

    /// E0806 when `key` is written: it does nothing here, for the reason given. (This
    /// alone does not declare the key: it is not suggested for a misspelt one.)
    pub fn not_here(&mut self, key: &'static str, why: &str, help: &str) {
        if let Some((k, _)) = self.take(key) {
            let d = Diagnostic::new(
                Code::KeyDoesNotApply,
                k.span,
                format!("`{key}` does nothing in {}", self.owner),
            )
            .with_label(why.to_string())
            .with_help(help.to_string());
            self.error(d);
        }
    }

    /// The entries no read took, in order.
    pub fn leftovers(&self) -> Vec<&'t (Name, Tree)> {
        self.entries
            .iter()
            .zip(&self.taken)
            .filter(|(_, taken)| !**taken)
            .map(|(e, _)| e)
            .collect()
    }

    /// Nested keys of an object value (the entries of `pagination`).
    pub fn nested(&self, tree: &'t Tree, owner: String) -> Keys<'t> {
        let mut nested = Keys::of(Some(tree), owner, tree.span, "");
        nested.id = self.id.clone();
        nested
    }

    /// Takes a nested reader's diagnostics (and its verdict).
    pub fn absorb(&mut self, nested: Keys<'_>) {
        self.ok &= nested.ok;
        self.diags.extend(nested.diags);
    }
}

/// How a value is described in labels: `a string`, `an array of number`, `null`.
pub fn describe(t: &Tree) -> String {
    Ty::of_value(&t.to_value()).describe()
}

/// An absolute http(s) URL with a host, or why not.
pub fn parse_url(s: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(s.trim()).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{}:` is not http or https", url.scheme()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("no host".into());
    }
    Ok(url)
}

/// Why `name` cannot name an environment variable, if it cannot: letters, digits and
/// `_`, not starting with a digit (the portable form every shell and service manager
/// sets).
pub fn env_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("is empty".into());
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        return Some("starts with a digit".into());
    }
    name.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
        .map(|c| {
            format!(
                "holds `{}`, which is not a letter, a digit or `_`",
                c.escape_debug()
            )
        })
}
