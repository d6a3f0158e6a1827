//! pest errors -> syntax diagnostics in words: what was expected (named as the user
//! writes it, never by rule name), what was found, and a fix where one is likely.

use pest::error::{ErrorVariant, InputLocation};

use super::{lex, Rule};
use crate::diagnostics::{did_you_mean, Code, Diagnostic};
use crate::syntax::ast::{FileId, Span};

/// Clause keywords by block, for "did you mean" on a misspelt clause.
const SCHEMA_CLAUSES: &[&str] = &[
    "description",
    "source",
    "target",
    "dedupe",
    "inactive",
    "meta",
    "lookup",
    "test",
];
const TASK_CLAUSES: &[&str] = &[
    "description",
    "schema",
    "integration",
    "direction",
    "schedule",
    "config",
    "status",
    "retry",
    "notify",
    "connection",
    "meta",
];
const CONNECTION_CLAUSES: &[&str] = &["integration", "scope", "tenant", "auth", "settings", "meta"];
const ITEMS: &[&str] = &[
    "schema",
    "task",
    "connection",
    "integration",
    "lookup",
    "rates",
    "shardtype",
    "entity",
];
const TEST_CLAUSES: &[&str] = &["input", "task", "expect"];

/// How a rule is written, for "expected ..."; `None` for rules not worth naming
/// (optional markers, whose absence is never the problem).
fn describe(rule: Rule) -> Option<String> {
    let text = match rule {
        Rule::required_mark
        | Rule::optional_mark
        | Rule::task_ref
        | Rule::path_field
        | Rule::path_index => return None,
        Rule::EOI => "a line break",
        Rule::item | Rule::item_head => {
            "`schema`, `task`, `connection`, `integration`, `lookup`, `rates`, `shardtype` or `entity`"
        }
        Rule::integration_stmt | Rule::integration_prop => {
            "an integration clause (`category`, `visibility`, `auth`, `entities`, `version`, ...)"
        }
        Rule::prop_value | Rule::prop_words => "a value or a name",
        Rule::schema_stmt => "a field mapping (`target = expression`) or a schema clause",
        Rule::task_stmt => "a task clause (`schema`, `direction`, `schedule`, ...)",
        Rule::connection_stmt => {
            "a connection clause (`integration`, `scope`, `tenant`, `auth`, `settings`, `meta`)"
        }
        Rule::credential => "a credential (`key: \"value\"`, `key: env(\"VAR\")` or `key: stored`)",
        Rule::cred_value => "a credential value (`\"value\"`, `env(\"VAR\")` or `stored`)",
        Rule::env_ref => "`env(\"VAR\")`",
        Rule::test_stmt => "`input`, `task` or `expect`",
        Rule::eq_sign => "`=`",
        Rule::arrow => "`->`",
        Rule::fat_arrow => "`=>`",
        Rule::lbrace | Rule::object | Rule::target_flags | Rule::object_type => "`{`",
        Rule::rbrace => "`}`",
        Rule::lparen => "`(`",
        Rule::rparen => "`)`",
        Rule::rbracket => "`]`",
        Rule::colon => "`:`",
        Rule::array | Rule::array_type => "`[`",
        Rule::ident | Rule::quoted_ident | Rule::dotted | Rule::lookup_table_ref => "a name",
        Rule::path | Rule::chain => "a field name",
        Rule::string | Rule::template => "a string",
        Rule::number | Rule::seconds => "a number",
        Rule::literal => "a value",
        Rule::entry | Rule::rate_entry => "an entry (`key: value`)",
        Rule::key => "a key",
        Rule::expr => {
            "an expression (a field, a value, `match`, `when`, `lookup`, `join` or `flatten`)"
        }
        Rule::step => "`|`",
        Rule::transformation => "a transformation name",
        Rule::arg | Rule::arg_name => "an argument",
        Rule::validate => "`validate`",
        Rule::validation_rule => "a validation rule",
        Rule::rule_args => "a rule value or `message:`",
        Rule::rule_message => "`message:`",
        Rule::condition => "a condition (`Field == value`)",
        Rule::cmp_op | Rule::word_op => {
            "an operator (`==`, `!=`, `>`, `in`, `contains`, `exists`, ...)"
        }
        Rule::pattern => "a pattern (a value, or an operator and a value)",
        Rule::match_arm => "a rule (`value => result`) or `_ => default`",
        Rule::when_arm => "a rule (`condition => result`) or `_ => default`",
        Rule::default_arm => "`_ => value`",
        Rule::then => "a value or a field",
        Rule::mapping_id => "`@id(\"...\")`",
        Rule::lookup_entry => "an entry (`\"key\" => value`)",
        Rule::field_def | Rule::field_item => "a field (`name: type`)",
        Rule::type_expr | Rule::named_type | Rule::enum_type => "a type",
        Rule::test_case => "`test`",
        _ => {
            let name = format!("{rule:?}");
            return Some(match name.strip_prefix("kw_") {
                Some(kw) => format!("`{kw}`"),
                None => name.replace('_', " "),
            });
        }
    };
    Some(text.to_string())
}

/// The keywords the user may have misspelt, given what was expected.
fn keywords(positives: &[Rule]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for r in positives {
        match r {
            Rule::item | Rule::item_head => out.extend(ITEMS),
            Rule::task_stmt => out.extend(TASK_CLAUSES),
            Rule::connection_stmt => out.extend(CONNECTION_CLAUSES),
            Rule::test_stmt => out.extend(TEST_CLAUSES),
            Rule::schedule_manual => out.push("manual"),
            Rule::schedule_every => out.push("every"),
            Rule::schedule_cron => out.push("cron"),
            Rule::schedule_realtime => out.push("realtime"),
            _ => {
                let name = format!("{r:?}");
                if let Some(kw) = name.strip_prefix("kw_") {
                    if let Some(k) = KEYWORDS.iter().find(|k| **k == kw) {
                        out.push(k);
                    }
                }
            }
        }
    }
    out
}

/// Every keyword of the grammar, so `keywords` can hand out `'static` strings.
const KEYWORDS: &[&str] = &[
    "true",
    "false",
    "null",
    "schema",
    "task",
    "lookup",
    "rates",
    "shardtype",
    "entity",
    "description",
    "source",
    "where",
    "and",
    "target",
    "dedupe",
    "inactive",
    "meta",
    "validate",
    "message",
    "match",
    "when",
    "in",
    "else",
    "shard",
    "join",
    "sep",
    "flatten",
    "by",
    "external_id",
    "id",
    "test",
    "input",
    "expect",
    "relationships",
    "skipped",
    "failed",
    "integration",
    "direction",
    "schedule",
    "manual",
    "every",
    "cron",
    "realtime",
    "token",
    "config",
    "status",
    "retry",
    "times",
    "exponential",
    "notify",
    "on",
    "connection",
    "scope",
    "tenant",
    "auth",
    "settings",
    "env",
    "stored",
];

/// Joins descriptions: "`a`", "`a` or `b`", "`a`, `b` or `c`".
fn one_of(items: &[String]) -> String {
    match items {
        [] => "something else".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Turns a pest error from parsing `text[base..end]` into a diagnostic.
pub(super) fn diagnostic(
    file: FileId,
    text: &str,
    base: usize,
    end: usize,
    err: &pest::error::Error<Rule>,
) -> Diagnostic {
    let pos = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let at = lex::skip_trivia(text, (base + pos).min(text.len()), text.len());
    let positives: Vec<Rule> = match &err.variant {
        ErrorVariant::ParsingError { positives, .. } => positives.clone(),
        ErrorVariant::CustomError { .. } => Vec::new(),
    };

    let mut expected: Vec<String> = Vec::new();
    for r in &positives {
        if let Some(d) = describe(*r) {
            if !expected.contains(&d) {
                expected.push(d);
            }
        }
    }
    // An operator can be a word, but "a name" is not what to suggest there.
    if positives.contains(&Rule::cmp_op) || positives.contains(&Rule::word_op) {
        expected.retain(|e| e != "a name");
    }
    // A list of alternatives that includes "a name" needs no "a field name" as well.
    if expected.iter().any(|e| e == "a name") {
        expected.retain(|e| e != "a field name");
    }

    // What is there: the token at the error, or the end of the block or file.
    // A `(` or `[` left open on an earlier line makes pest read the next lines as
    // arguments; the missing bracket is the error to report.
    if let Some((open, c)) = lex::unclosed_bracket(text, base, at) {
        let close = if c == '(' { ')' } else { ']' };
        return Diagnostic::new(
            Code::Syntax,
            Span::new(file, open, open + 1),
            format!("this `{c}` is never closed"),
        )
        .with_label(format!("expected a `{close}` for this `{c}`"))
        .with_help(format!("add `{close}` at the end of the line"));
    }
    let (found, found_len) = if at >= end.min(text.len()) && text.get(at..at + 1) != Some("}") {
        ("end of file".to_string(), 0)
    } else {
        let tok = lex::token_at(text, at);
        (format!("`{tok}`"), tok.len())
    };
    let found_tok = text.get(at..at + found_len).unwrap_or_default();
    let prev = lex::token_before(text, at);

    let context = if positives.contains(&Rule::eq_sign) && prev.as_deref().is_some_and(lex::is_name)
    {
        format!(
            " after target field `{}`",
            prev.as_deref().unwrap_or_default()
        )
    } else if positives.contains(&Rule::cmp_op) && prev.as_deref().is_some_and(lex::is_name) {
        format!(" after field `{}`", prev.as_deref().unwrap_or_default())
    } else {
        String::new()
    };
    let message = format!("expected {}{context}, found {found}", one_of(&expected));
    let span = Span::new(file, at, at + found_len);
    let mut d = Diagnostic::new(Code::Syntax, span, message);

    let help = if found_tok.starts_with('\'') {
        Some("strings are written in double quotes: `\"...\"`".to_string())
    } else if found_tok == "="
        && (positives.contains(&Rule::cmp_op) || positives.contains(&Rule::word_op))
    {
        Some("to compare, write `==` (a single `=` assigns a field)".to_string())
    } else if found_tok == ":" && positives.contains(&Rule::eq_sign) {
        Some(format!(
            "a field mapping is written `{} = expression`",
            prev.as_deref().unwrap_or("target")
        ))
    } else if found_tok == "==" && positives.contains(&Rule::eq_sign) {
        Some("a field mapping uses a single `=`".to_string())
    } else if found == "end of file" && positives.contains(&Rule::rbrace) {
        Some("a `{` is not closed: add the missing `}`".to_string())
    } else if found == "end of file" && positives.contains(&Rule::rparen) {
        Some("a `(` is not closed: add the missing `)`".to_string())
    } else if found_tok.starts_with('"') && !found_tok.ends_with('"') || found_tok == "\"" {
        Some("this string is not closed: add a `\"` before the end of the line".to_string())
    } else {
        None
    };
    // A misspelt keyword: `schedul every 5 minutes`, `sorce salesforce.Contact`.
    let suggestion = || -> Option<String> {
        let word = if positives.contains(&Rule::eq_sign) {
            prev.clone()?
        } else {
            found_tok.to_string()
        };
        if !lex::is_name(&word) {
            return None;
        }
        let candidates = if positives.contains(&Rule::eq_sign) {
            SCHEMA_CLAUSES.to_vec()
        } else {
            keywords(&positives)
        };
        let hit = did_you_mean(&word, candidates.iter().copied())?;
        (hit != word).then(|| format!("did you mean `{hit}`?"))
    };
    match (help, suggestion()) {
        (Some(h), _) => d = d.with_help(h),
        (None, Some(s)) => d = d.with_help(s),
        (None, None) => {}
    }
    if !expected.is_empty() {
        d = d.with_label(format!("expected {}", one_of(&expected)));
    }
    d
}
