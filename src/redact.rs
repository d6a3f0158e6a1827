//! Redaction of known secrets, in every encoding an upstream might echo them in.
//!
//! An API that rejects a request often repeats it: an error body quoting the
//! `Authorization` header, a token endpoint's `error_description` naming the client
//! secret, a record built from the request. Whatever such an upstream says is stored
//! (executions, logs, dead letters, shards) and shown (`cmap executions`, `GET
//! /api/executions`), so every known secret is replaced by [`MASK`] before it leaves the
//! connector layer.
//!
//! A secret is looked for in each of these forms (ASCII case ignored, so that `%2f` and
//! `%2F`, upper- and lower-case hex all match):
//!
//! - as it is;
//! - base64, standard and URL-safe alphabets, with and without padding (RFC 4648);
//! - percent-encoded (RFC 3986, every byte outside the unreserved set) and
//!   form-urlencoded (`+` for spaces);
//! - hex;
//! - JSON-escaped, also with every non-ASCII character as `\uXXXX`;
//! - XML/HTML-escaped (`&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;`, `&#39;`);
//! - each form containing `/` also with `\/` (as PHP's `json_encode` writes it);
//! - for HTTP basic credentials, base64 of `user:password` in the four alphabets
//!   (RFC 7617);
//! - inside a longer text that was base64-encoded whole (`base64("Bearer KEY")`, a
//!   request line echoed in base64): the secret's bytes then start at any of three
//!   alignments, and the characters that encode only the secret's bits are looked for
//!   at each, in both alphabets, when they are at least [`MIN_BASE64_CORE`] long.
//!
//! A secret cut short by a truncated message (`Bearer sk-live-12...`) is caught too: a
//! prefix of a form, at least [`MIN_LEN`] bytes long, right before `...` or `…`.
//!
//! Forms shorter than [`MIN_LEN`] bytes are not looked for: masking every `abc` in the
//! data would destroy it and protect next to nothing.
//!
//! This module is a leaf: it knows no other part of cmap, so any layer may use it.

use std::borrow::Cow;

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine as _;
use serde_json::{Map, Value};

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// The shortest form (in bytes) looked for, and the shortest truncated prefix.
pub const MIN_LEN: usize = 4;

/// The shortest run of base64 characters (a secret's bits alone, at some alignment
/// inside a longer encoded text) looked for: 8 characters are 48 bits, which data does
/// not hit by chance, where a 4-byte secret's 4 or 5 characters would be.
pub const MIN_BASE64_CORE: usize = 8;

/// A secret to redact, as it was sent.
#[derive(Clone, Copy, Debug)]
pub enum Known<'a> {
    /// A value sent as it is (after a prefix such as `Bearer `, perhaps).
    Value(&'a str),
    /// HTTP basic credentials: `Authorization: Basic base64(user:password)`.
    Basic { user: &'a str, password: &'a str },
}

/// A key whose value is a secret by its name, where no auth type says otherwise
/// (connection `settings`, unknown credential keys, audit details): `token`, `apiKey`,
/// `clientSecret`, `password`, ... but not `tokenUrl`. Case, `_` and `-` are ignored.
/// What `cmap check` refuses as E0701 and the audit log replaces with `[redacted]`.
pub fn looks_secret(key: &str) -> bool {
    let k: String = key
        .chars()
        .filter(|c| !matches!(c, '_' | '-'))
        .flat_map(char::to_lowercase)
        .collect();
    k == "key"
        || [
            "secret",
            "password",
            "passwd",
            "token",
            "apikey",
            "privatekey",
            "credentials",
        ]
        .iter()
        .any(|s| k.ends_with(s))
}

/// Replaces known secrets, in their encoded forms, with [`MASK`].
pub struct Redactor {
    /// Every form of every secret, longest first.
    patterns: Vec<String>,
    /// One automaton for all of them; `None` when there is nothing to find, or when the
    /// automaton could not be built (then the patterns are replaced one by one).
    matcher: Option<AhoCorasick>,
}

impl Redactor {
    /// A redactor for `known` secrets. Empty secrets are ignored.
    pub fn new<'a>(known: impl IntoIterator<Item = Known<'a>>) -> Redactor {
        let mut patterns = Vec::new();
        for secret in known {
            match secret {
                Known::Value(value) => forms(value, &mut patterns),
                Known::Basic { user, password } => {
                    if !password.is_empty() {
                        basic_forms(user, password, &mut patterns);
                        base64_cores(password.as_bytes(), &mut patterns);
                    }
                }
            }
        }
        patterns.retain(|p| p.len() >= MIN_LEN);
        // Longest first: the naive fallback then replaces `abc==` before `abc`.
        patterns.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        patterns.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        let matcher = if patterns.is_empty() {
            None
        } else {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .ascii_case_insensitive(true)
                .build(&patterns)
                .ok()
        };
        Redactor { patterns, matcher }
    }

    /// A redactor that changes nothing.
    pub fn none() -> Redactor {
        Redactor {
            patterns: Vec::new(),
            matcher: None,
        }
    }

    /// Whether there is no secret to look for.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// `text` with every secret masked.
    pub fn text<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if self.is_empty() {
            return Cow::Borrowed(text);
        }
        let whole: Cow<'t, str> = match &self.matcher {
            Some(matcher) => {
                if matcher.is_match(text) {
                    let mut out = String::with_capacity(text.len());
                    matcher.replace_all_with(text, &mut out, |_, _, dst| {
                        dst.push_str(MASK);
                        true
                    });
                    Cow::Owned(out)
                } else {
                    Cow::Borrowed(text)
                }
            }
            None => {
                let mut out = Cow::Borrowed(text);
                for pattern in &self.patterns {
                    if let Some(replaced) = replace_ignoring_case(&out, pattern) {
                        out = Cow::Owned(replaced);
                    }
                }
                out
            }
        };
        match self.mask_truncated(&whole) {
            Some(masked) => Cow::Owned(masked),
            None => whole,
        }
    }

    /// Masks secrets in a string in place.
    pub fn string(&self, s: &mut String) {
        if let Cow::Owned(masked) = self.text(s) {
            *s = masked;
        }
    }

    /// Masks secrets in every string of a JSON value, object keys included.
    pub fn value(&self, value: &mut Value) {
        if self.is_empty() {
            return;
        }
        // A stack rather than recursion: the depth of a value is the upstream's choice.
        let mut stack = vec![value];
        while let Some(value) = stack.pop() {
            match value {
                Value::String(s) => self.string(s),
                Value::Array(items) => stack.extend(items.iter_mut()),
                Value::Object(map) => {
                    if map.keys().any(|k| matches!(self.text(k), Cow::Owned(_))) {
                        let old = std::mem::take(map);
                        *map = old
                            .into_iter()
                            .map(|(k, v)| (self.text(&k).into_owned(), v))
                            .collect::<Map<String, Value>>();
                    }
                    stack.extend(map.values_mut());
                }
                Value::Null | Value::Bool(_) | Value::Number(_) => {}
            }
        }
    }

    /// Masks a form cut short right before an ellipsis (a truncated message).
    fn mask_truncated(&self, text: &str) -> Option<String> {
        let mut out: Option<String> = None;
        let mut search_from = 0;
        loop {
            let current = out.as_deref().unwrap_or(text);
            let Some((at, ellipsis)) = next_ellipsis(current, search_from) else {
                return out;
            };
            let before = &current.as_bytes()[..at];
            let longest = self
                .patterns
                .iter()
                .filter_map(|p| {
                    let p = p.as_bytes();
                    (MIN_LEN..p.len()).rev().find(|&k| {
                        before.len() >= k
                            && before[before.len() - k..].eq_ignore_ascii_case(&p[..k])
                    })
                })
                .max();
            match longest {
                Some(k) => {
                    let mut masked = String::with_capacity(current.len());
                    // `before[at - k..]` equals the prefix of a valid UTF-8 pattern
                    // byte for byte, so `at - k` is a character boundary.
                    masked.push_str(current.get(..at - k).unwrap_or(""));
                    masked.push_str(MASK);
                    let resume = masked.len();
                    masked.push_str(current.get(at..).unwrap_or(""));
                    search_from = resume + ellipsis;
                    out = Some(masked);
                }
                None => search_from = at + ellipsis,
            }
        }
    }
}

/// The byte offset of the next `...` or `…` at or after `from`.
fn next_ellipsis(text: &str, from: usize) -> Option<(usize, usize)> {
    let rest = text.get(from..)?;
    let dots = rest.find("...").map(|i| (from + i, 3));
    let char = rest.find('…').map(|i| (from + i, '…'.len_utf8()));
    match (dots, char) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// `haystack` with `pattern` (ASCII case ignored) replaced, or `None` when absent.
fn replace_ignoring_case(haystack: &str, pattern: &str) -> Option<String> {
    let lower_hay = haystack.to_ascii_lowercase();
    let lower_pat = pattern.to_ascii_lowercase();
    if !lower_hay.contains(&lower_pat) {
        return None;
    }
    // ASCII lower-casing keeps byte offsets, so offsets found in the lower-cased copy
    // hold in the original.
    let mut out = String::with_capacity(haystack.len());
    let mut last = 0;
    for (at, _) in lower_hay.match_indices(&lower_pat) {
        out.push_str(haystack.get(last..at).unwrap_or(""));
        out.push_str(MASK);
        last = at + lower_pat.len();
    }
    out.push_str(haystack.get(last..).unwrap_or(""));
    Some(out)
}

const BASE64: [base64::engine::GeneralPurpose; 4] = [
    base64::engine::general_purpose::STANDARD,
    base64::engine::general_purpose::STANDARD_NO_PAD,
    base64::engine::general_purpose::URL_SAFE,
    base64::engine::general_purpose::URL_SAFE_NO_PAD,
];

/// Every form of one secret value.
fn forms(secret: &str, out: &mut Vec<String>) {
    if secret.is_empty() {
        return;
    }
    let mut found = vec![secret.to_string()];
    for engine in &BASE64 {
        found.push(engine.encode(secret));
    }
    found.push(percent(secret));
    found.push(url::form_urlencoded::byte_serialize(secret.as_bytes()).collect());
    found.push(hex::encode(secret));
    found.push(json_escaped(secret, false));
    found.push(json_escaped(secret, true));
    found.push(xml_escaped(secret, "&apos;"));
    found.push(xml_escaped(secret, "&#39;"));
    base64_cores(secret.as_bytes(), &mut found);
    with_escaped_slashes(&mut found);
    out.extend(found);
}

/// The base64 characters that encode `secret`'s bits alone, when it starts at each of
/// the three byte alignments of a longer encoded text, in both alphabets.
///
/// Character `i` of an encoding covers bits `6i..6i+6`; the secret at byte offset `k`
/// covers bits `8k..8k+8n`, so the characters from `ceil(8k/6)` up to `(8k+8n)/6` hold
/// nothing else, whatever surrounds it. Cores shorter than [`MIN_BASE64_CORE`] are
/// left out. (Test: `a_secret_inside_longer_base64_is_masked`.)
fn base64_cores(secret: &[u8], out: &mut Vec<String>) {
    let engines = [
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    let bits = secret.len().saturating_mul(8);
    for offset in 0..3usize {
        let start = (8 * offset).div_ceil(6);
        let end = (8 * offset + bits) / 6;
        if end < start || end - start < MIN_BASE64_CORE {
            continue;
        }
        let mut padded = vec![0u8; offset];
        padded.extend_from_slice(secret);
        for engine in &engines {
            let encoded = engine.encode(&padded);
            if let Some(core) = encoded.get(start..end) {
                out.push(core.to_string());
            }
        }
    }
}

/// The forms of HTTP basic credentials: base64 of `user:password`, and of the
/// form-urlencoded pair (OAuth2 client authentication, RFC 6749 section 2.3.1).
fn basic_forms(user: &str, password: &str, out: &mut Vec<String>) {
    let encoded =
        |s: &str| -> String { url::form_urlencoded::byte_serialize(s.as_bytes()).collect() };
    let pairs = [
        format!("{user}:{password}"),
        format!("{}:{}", encoded(user), encoded(password)),
    ];
    let mut found = Vec::new();
    for pair in &pairs {
        for engine in &BASE64 {
            found.push(engine.encode(pair));
        }
    }
    with_escaped_slashes(&mut found);
    out.extend(found);
}

fn with_escaped_slashes(found: &mut Vec<String>) {
    let escaped: Vec<String> = found
        .iter()
        .filter(|f| f.contains('/'))
        .map(|f| f.replace('/', "\\/"))
        .collect();
    found.extend(escaped);
}

/// RFC 3986 percent-encoding: every byte but `A-Z a-z 0-9 - . _ ~`.
fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for byte in s.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The inside of a JSON string literal; `ascii`: non-ASCII characters as `\uXXXX`.
fn json_escaped(s: &str, ascii: bool) -> String {
    let quoted = serde_json::to_string(s).unwrap_or_default();
    let inner = quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or(&quoted);
    if !ascii {
        return inner.to_string();
    }
    let mut out = String::with_capacity(inner.len());
    for c in inner.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

fn xml_escaped(s: &str, apostrophe: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str(apostrophe),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "sk/live+ké\"y<&>'42 x";

    fn check(known: &[Known<'_>], text: &str, expect: &str) {
        let redactor = Redactor::new(known.iter().copied());
        assert_eq!(redactor.text(text), expect, "in {text:?}");
    }

    #[test]
    fn every_encoded_form_is_masked() {
        let b64 = |e: &base64::engine::GeneralPurpose, s: &str| e.encode(s);
        let mut encoded = vec![
            SECRET.to_string(),
            percent(SECRET),
            percent(SECRET).to_ascii_lowercase(),
            url::form_urlencoded::byte_serialize(SECRET.as_bytes()).collect(),
            hex::encode(SECRET),
            hex::encode_upper(SECRET),
            json_escaped(SECRET, false),
            json_escaped(SECRET, true),
            json_escaped(SECRET, false).replace('/', "\\/"),
            xml_escaped(SECRET, "&apos;"),
            xml_escaped(SECRET, "&#39;"),
        ];
        for engine in &BASE64 {
            encoded.push(b64(engine, SECRET));
            encoded.push(b64(engine, &format!("ada:{SECRET}")));
            encoded.push(b64(engine, &format!("ada:{SECRET}")).replace('/', "\\/"));
        }
        let known = [
            Known::Value(SECRET),
            Known::Basic {
                user: "ada",
                password: SECRET,
            },
        ];
        for form in encoded {
            check(&known, &format!("echo: <{form}>!"), "echo: <***>!");
        }
    }

    /// A secret inside a longer text that was base64-encoded whole (an echo of the
    /// `Authorization` header's value `Bearer KEY`, or of a line ending after the key)
    /// sits at any of three byte alignments; each is found, in both alphabets.
    #[test]
    fn a_secret_inside_longer_base64_is_masked() {
        let secret = "at-Acc3ss+/tok?";
        let known = [Known::Value(secret)];
        let redactor = Redactor::new(known);
        for engine in &BASE64 {
            for before in ["", "B", "Be", "Bearer ", "Bearer  "] {
                for after in ["", "\n", "!", "ab", " trailing"] {
                    let encoded = engine.encode(format!("{before}{secret}{after}"));
                    let masked = redactor.text(&encoded);
                    assert!(
                        masked.contains(MASK),
                        "{before:?}+{after:?}: {encoded} -> {masked}"
                    );
                    // What is left are the characters mixing the secret's bits with its
                    // neighbours': at most 2 before and 3 after (with padding).
                    assert!(
                        masked.len()
                            <= MASK.len() + 2 + 3 + engine.encode(format!("{before}{after}")).len(),
                        "{encoded} -> {masked}"
                    );
                }
            }
        }
        // Too short a secret to look for inside base64: data is not masked by chance.
        let short = Redactor::new([Known::Value("k3y!")]);
        let text = base64::engine::general_purpose::STANDARD.encode("Bearer k3y!");
        assert_eq!(short.text(&text), text.as_str());
    }

    #[test]
    fn json_of_a_secret_stays_json() {
        let redactor = Redactor::new([Known::Value(SECRET)]);
        let body =
            serde_json::json!({"error": format!("bad token Bearer {SECRET}"), SECRET: [SECRET]});
        let mut text = body.to_string();
        redactor.string(&mut text);
        let parsed: Value = serde_json::from_str(&text).expect("still JSON");
        assert_eq!(
            parsed,
            serde_json::json!({"error": "bad token Bearer ***", "***": ["***"]})
        );
        let mut value = body;
        redactor.value(&mut value);
        assert_eq!(
            value,
            serde_json::json!({"error": "bad token Bearer ***", "***": ["***"]})
        );
    }

    #[test]
    fn truncated_secrets_and_short_values() {
        let key = Known::Value("sk-live-7Hq2ZpX9vLmN3");
        check(
            &[key],
            "HTTP 400: Bearer sk-live-7H...",
            "HTTP 400: Bearer ***...",
        );
        check(
            &[key],
            "Bearer sk-l… and sk-live-7Hq2ZpX9vLmN3",
            "Bearer ***… and ***",
        );
        // Too short a prefix to tell from text; too short a secret to look for.
        check(&[key], "sk-...", "sk-...");
        check(&[Known::Value("abc")], "abc abcd", "abc abcd");
        check(&[Known::Value("")], "anything", "anything");
        check(&[], "nothing known", "nothing known");
    }

    #[test]
    fn padded_forms_win_over_unpadded_ones() {
        // base64("secret1") = "c2VjcmV0MQ==": the padding goes with the match.
        check(&[Known::Value("secret1")], "x c2VjcmV0MQ== y", "x *** y");
    }

    #[test]
    fn deep_values_do_not_overflow_the_stack() {
        let redactor = Redactor::new([Known::Value("secret-value")]);
        let mut value = Value::String("secret-value".into());
        for _ in 0..100_000 {
            value = Value::Array(vec![value]);
        }
        redactor.value(&mut value);
        let mut inner = &value;
        while let Value::Array(items) = inner {
            inner = &items[0];
        }
        assert_eq!(inner, &Value::String(MASK.into()));
        // Dropping it must not recurse 100,000 deep either.
        let mut stack = vec![value];
        while let Some(v) = stack.pop() {
            if let Value::Array(items) = v {
                stack.extend(items);
            }
        }
    }
}
