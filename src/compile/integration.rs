//! Integrations: the spec's IntegrationDefinition (the catalogue), checked and lowered
//! to [`ir::IntegrationDefinition`].
//!
//! Every value is checked against what the spec allows, and everything is reported: an
//! unknown word, a wrongly typed value, a missing required clause, an `authType` and an
//! `oauthConfig` that disagree, an OAuth URL that is not `https`, an available entity no
//! `entity` declares. The client secret follows the connections' rule (E0701): never
//! written, only named (`env("VAR")`, `stored`).

use std::collections::HashMap;

use serde_json::Value;

use super::connection::{env_name, env_var, plain_secret};
use super::ir::{self, CredentialValue};
use super::types::{EntityLookup, Ty};
use super::Cx;
use crate::diagnostics::{did_you_mean, Code, Diagnostic};
use crate::syntax::ast::{self, Credential, Literal, Name, NameList, Span};

/// The keys of `oauthConfig` (spec "OAuth Flow"), and whether each is required.
const OAUTH_KEYS: &[(&str, bool)] = &[
    ("authorizationUrl", true),
    ("tokenUrl", true),
    ("revokeUrl", false),
    ("scopes", false),
    ("clientId", true),
    ("clientSecret", true),
    ("redirectUri", false),
    ("pkce", false),
];

/// Checks and lowers one integration. Every problem is reported; `None` when any is an
/// error.
pub(super) fn lower(cx: &mut Cx<'_>, k: &ast::Integration) -> Option<ir::IntegrationDefinition> {
    let mut l = Lower {
        cx,
        id: k.id.node.clone(),
        span: k.id.span,
        ok: true,
    };
    l.identifier(&k.id, "id");
    if let Some(n) = &k.name {
        l.identifier(n, "name");
    }
    let display_name = l.required_text(
        &k.display_name,
        "displayName",
        "integration ID \"Display name\" {",
    );
    let description = l.required_text(
        &k.description,
        "description",
        "description \"What it syncs\"",
    );
    let category = l
        .required(&k.category, "category", "category crm")
        .and_then(|n| {
            l.word(
                n,
                "category",
                ir::IntegrationCategory::parse,
                ir::IntegrationCategory::ALL.iter().map(|c| c.as_str()),
            )
        });
    let icon = l.required_text(&k.icon, "icon", "icon \"salesforce\"");
    let color = l
        .required(&k.color, "color", "color \"#00A1E0\"")
        .and_then(|n| l.color(n));
    let visibility = match &k.visibility {
        Some(n) => l.word(
            n,
            "visibility",
            ir::Visibility::parse,
            ir::Visibility::ALL.iter().map(|v| v.as_str()),
        ),
        None => Some(ir::Visibility::Public),
    };
    let is_premium = l.flag(&k.premium, "premium");
    let required_plan = k.plan.as_ref().and_then(|p| l.text(p, "plan"));
    let capabilities = l.words(
        &k.capabilities,
        "capability",
        ir::Capability::parse,
        ir::Capability::ALL.iter().map(|c| c.as_str()),
    );
    let directions = l.words(
        &k.directions,
        "sync direction",
        ir::SyncDirection::parse,
        ir::SyncDirection::ALL.iter().map(|d| d.as_str()),
    );
    let supports_realtime = l.flag(&k.realtime, "realtime");
    let supports_webhooks = l.flag(&k.webhooks, "webhooks");
    let auth = match &k.auth {
        Some(a) => l.auth(a),
        None => {
            l.missing("auth", "auth oauth2 { .. }` or `auth api_key");
            None
        }
    };
    let entities = l.entities(&k.entities);
    let connection_scope = match &k.scope {
        Some(n) => l.word(
            n,
            "connectionScope",
            ir::IntegrationScope::parse,
            ir::IntegrationScope::ALL.iter().map(|s| s.as_str()),
        ),
        None => Some(ir::IntegrationScope::Tenant),
    };
    let status = match &k.status {
        Some(n) => l.word(
            n,
            "status",
            ir::IntegrationStatus::parse,
            ir::IntegrationStatus::ALL.iter().map(|s| s.as_str()),
        ),
        None => Some(ir::IntegrationStatus::Active),
    };
    let version = l
        .required(&k.version, "version", "version \"1.0.0\"")
        .and_then(|n| l.version(n));

    if !l.ok {
        return None;
    }
    let (auth_type, oauth_config) = auth?;
    Some(ir::IntegrationDefinition {
        id: k.id.node.clone(),
        name: k
            .name
            .as_ref()
            .map_or_else(|| k.id.node.clone(), |n| n.node.clone()),
        display_name: display_name?,
        description: description?,
        category: category?,
        icon: icon?,
        color: color?,
        visibility: visibility?,
        is_premium: is_premium?,
        required_plan,
        capabilities: capabilities?,
        supported_sync_directions: directions?,
        supports_realtime: supports_realtime?,
        supports_webhooks: supports_webhooks?,
        auth_type,
        oauth_config,
        available_entities: entities?,
        connection_scope: connection_scope?,
        status: status?,
        version: version?,
    })
}

/// One integration being checked: every method reports what it finds and clears `ok`.
struct Lower<'c, 'a> {
    cx: &'c mut Cx<'a>,
    id: String,
    /// The id's span: where "missing clause" diagnostics point.
    span: Span,
    ok: bool,
}

impl Lower<'_, '_> {
    fn push(&mut self, d: Diagnostic) {
        if d.is_error() {
            self.ok = false;
        }
        self.cx.push(d);
    }

    fn invalid(
        &mut self,
        span: Span,
        message: String,
        label: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.push(
            Diagnostic::new(Code::InvalidIntegrationValue, span, message)
                .with_label(label)
                .with_help(help),
        );
    }

    /// E0303 for a required clause (`rewrite` is how to write it in `.cmap`).
    fn missing(&mut self, what: &str, rewrite: &str) {
        let key = if what == "auth" { "authType" } else { what };
        let d = Diagnostic::new(
            Code::MissingClause,
            self.span,
            format!("integration `{}` has no `{what}`", self.id),
        )
        .with_label("in this integration")
        .with_help(format!("add `{rewrite}` (seed JSON: the key `{key}`)"));
        self.push(d);
    }

    fn required<'n>(&mut self, n: &'n Option<Name>, what: &str, rewrite: &str) -> Option<&'n Name> {
        if n.is_none() {
            self.missing(what, rewrite);
        }
        n.as_ref()
    }

    fn required_text(&mut self, n: &Option<Name>, what: &str, rewrite: &str) -> Option<String> {
        let n = self.required(n, what, rewrite)?;
        self.text(n, what)
    }

    /// A string that says something: not empty, not only spaces.
    fn text(&mut self, n: &Name, what: &str) -> Option<String> {
        if n.node.trim().is_empty() {
            self.invalid(
                n.span,
                format!("`{what}` of integration `{}` is empty", self.id),
                "empty",
                format!("write the {what}, or remove the clause if it is optional"),
            );
            return None;
        }
        Some(n.node.clone())
    }

    /// An id or `name`: 1 to 64 letters, digits, `_` and `-`, starting with a letter or
    /// digit (the id is a URL path segment of the API).
    fn identifier(&mut self, n: &Name, what: &str) {
        let s = &n.node;
        let problem = if s.is_empty() {
            Some("is empty".to_string())
        } else if s.len() > 64 {
            Some(format!("is {} bytes long, more than 64", s.len()))
        } else if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            Some("does not start with a letter or a digit".to_string())
        } else {
            s.chars()
                .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-')))
                .map(|c| format!("holds `{}`", c.escape_debug()))
        };
        if let Some(why) = problem {
            let suggestion: String = s
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '-'
                    }
                })
                .collect::<String>()
                .trim_matches('-')
                .to_string();
            self.invalid(
                n.span,
                format!("the {what} of integration `{}` cannot be used", self.id),
                format!("it {why}"),
                format!(
                    "write letters, digits, `_` and `-` only (at most 64), e.g. `{}`",
                    if suggestion.is_empty() {
                        "my-integration"
                    } else {
                        &suggestion
                    }
                ),
            );
        }
    }

    /// A spec word (E0110 with the nearest word when it is none of them).
    fn word<'w, T>(
        &mut self,
        n: &Name,
        what: &str,
        parse: fn(&str) -> Option<T>,
        words: impl Iterator<Item = &'w str> + Clone,
    ) -> Option<T> {
        if let Some(v) = parse(&n.node) {
            return Some(v);
        }
        let normalised = n.node.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        let d = Diagnostic::new(
            Code::UnknownKeyword,
            n.span,
            format!("unknown {what} `{}` in integration `{}`", n.node, self.id),
        );
        let all: Vec<String> = words.clone().map(|w| format!("`{w}`")).collect();
        let d = match parse(&normalised)
            .and(Some(normalised.as_str()))
            .or_else(|| did_you_mean(&n.node, words))
        {
            Some(s) => d
                .with_label(format!("did you mean `{s}`?"))
                .with_help(format!("write `{s}` (one of {})", all.join(", "))),
            None => d
                .with_label(format!("not a {what}"))
                .with_help(format!("write one of {}", all.join(", "))),
        };
        self.push(d);
        None
    }

    /// A list of spec words, each once.
    fn words<'w, T: PartialEq>(
        &mut self,
        list: &Option<NameList>,
        what: &str,
        parse: fn(&str) -> Option<T>,
        words: impl Iterator<Item = &'w str> + Clone,
    ) -> Option<Vec<T>> {
        let Some(list) = list else {
            return Some(Vec::new());
        };
        let mut out = Vec::new();
        let mut ok = true;
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for n in &list.items {
            if let Some(first) = seen.insert(&n.node, n.span) {
                self.push(
                    Diagnostic::new(
                        Code::InvalidIntegrationValue,
                        n.span,
                        format!("`{}` is listed twice in integration `{}`", n.node, self.id),
                    )
                    .with_label("listed again here")
                    .with_related(first, "first listed here")
                    .with_help("list each value once: remove one of the two"),
                );
                ok = false;
                continue;
            }
            match self.word(n, what, parse, words.clone()) {
                Some(v) => out.push(v),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// A boolean clause (absent: false): `what` is its `.cmap` word.
    fn flag(&mut self, l: &Option<Literal>, what: &str) -> Option<bool> {
        match l {
            None => Some(false),
            Some(Literal {
                node: Value::Bool(b),
                ..
            }) => Some(*b),
            Some(l) => {
                let label = format!("this is {}", Ty::of_value(&l.node).describe());
                let key = ast::INTEGRATION_CLAUSES
                    .iter()
                    .find(|(w, _)| *w == what)
                    .map_or(what, |(_, k)| *k);
                self.invalid(
                    l.span,
                    format!("`{key}` of integration `{}` must be true or false", self.id),
                    label,
                    format!("write `{what} true` or `{what} false` (seed JSON: `\"{key}\": true`)"),
                );
                None
            }
        }
    }

    /// `#RGB` or `#RRGGBB`.
    fn color(&mut self, n: &Name) -> Option<String> {
        let hex = n.node.strip_prefix('#').unwrap_or("");
        if matches!(hex.len(), 3 | 6) && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Some(n.node.clone());
        }
        self.invalid(
            n.span,
            format!("the color of integration `{}` is not a hex color", self.id),
            "not `#RGB` or `#RRGGBB`",
            "write a CSS hex color, e.g. `color \"#00A1E0\"`",
        );
        None
    }

    /// Semver-ish: `MAJOR.MINOR[.PATCH]`, then an optional `-pre` and `+build` of
    /// letters, digits, `.` and `-`.
    fn version(&mut self, n: &Name) -> Option<String> {
        let v = n.node.as_str();
        let (rest, build) = match v.split_once('+') {
            Some((a, b)) => (a, Some(b)),
            None => (v, None),
        };
        let (core, pre) = match rest.split_once('-') {
            Some((a, b)) => (a, Some(b)),
            None => (rest, None),
        };
        let numbers: Vec<&str> = core.split('.').collect();
        let number = |s: &&str| {
            !s.is_empty()
                && s.chars().all(|c| c.is_ascii_digit())
                && (s.len() == 1 || !s.starts_with('0'))
        };
        let tag = |t: Option<&str>| {
            t.is_none_or(|s| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
            })
        };
        if matches!(numbers.len(), 2 | 3) && numbers.iter().all(number) && tag(pre) && tag(build) {
            return Some(v.to_string());
        }
        self.invalid(
            n.span,
            format!("the version of integration `{}` is not like `1.2.3`", self.id),
            "not MAJOR.MINOR[.PATCH]",
            "write two or three numbers without leading zeros, e.g. `version \"1.0.0\"` or `version \"2.1.0-beta.1\"`",
        );
        None
    }

    /// `availableEntities`: each names a declared `entity` (E0904 otherwise).
    fn entities(&mut self, list: &Option<NameList>) -> Option<Vec<String>> {
        let Some(list) = list else {
            return Some(Vec::new());
        };
        let types = self.cx.types;
        let mut out = Vec::new();
        let mut ok = true;
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for n in &list.items {
            if let Some(first) = seen.insert(&n.node, n.span) {
                self.push(
                    Diagnostic::new(
                        Code::InvalidIntegrationValue,
                        n.span,
                        format!(
                            "entity `{}` is listed twice in integration `{}`",
                            n.node, self.id
                        ),
                    )
                    .with_label("listed again here")
                    .with_related(first, "first listed here")
                    .with_help("list each entity once: remove one of the two"),
                );
                ok = false;
                continue;
            }
            let (integration, entity) = match n.node.split_once('.') {
                Some((i, e)) => (Some(i), e),
                None => (None, n.node.as_str()),
            };
            let d =
                |message: String| Diagnostic::new(Code::UnknownAvailableEntity, n.span, message);
            match types.entity(integration, entity) {
                EntityLookup::Found(t) => out.push(t.id.clone()),
                EntityLookup::NoTypes | EntityLookup::Unknown { suggestion: None } => {
                    ok = false;
                    self.push(
                        d(format!("unknown entity `{}` in integration `{}`", n.node, self.id))
                            .with_label("no `entity` declares it")
                            .with_help(format!(
                                "name an `entity` of stdlib/ as `integration.Entity`, or declare it: `entity {} {{ .. }}`",
                                n.node
                            )),
                    );
                }
                EntityLookup::Unknown {
                    suggestion: Some(s),
                } => {
                    ok = false;
                    self.push(
                        d(format!(
                            "unknown entity `{}` in integration `{}`",
                            n.node, self.id
                        ))
                        .with_label(format!("did you mean `{s}`?"))
                        .with_help(format!("write `{s}`")),
                    );
                }
                EntityLookup::Ambiguous(ids) => {
                    ok = false;
                    let first = ids.first().copied().unwrap_or_default().to_string();
                    self.push(
                        d(format!(
                            "entity `{}` is ambiguous in integration `{}`",
                            n.node, self.id
                        ))
                        .with_label(format!("declared by {}", ids.join(", ")))
                        .with_help(format!("name the integration: `{first}`")),
                    );
                }
            }
        }
        ok.then_some(out)
    }

    /// `authType` and `oauthConfig`, which must go together.
    fn auth(
        &mut self,
        a: &ast::IntegrationAuth,
    ) -> Option<(ir::IntegrationAuthType, Option<ir::OAuthConfig>)> {
        let words = ir::IntegrationAuthType::ALL.iter().map(|t| t.as_str());
        let kind = match ir::IntegrationAuthType::parse(&a.kind.node) {
            Some(k) => Some(k),
            None => {
                let alias = match a.kind.node.to_ascii_lowercase().replace('-', "_").as_str() {
                    "apikey" | "key" => Some("api_key"),
                    "oauth" | "oauth_2" => Some("oauth2"),
                    "basic_auth" | "password" => Some("basic"),
                    "none" => Some("custom"),
                    _ => None,
                };
                let all: Vec<String> = words.clone().map(|w| format!("`{w}`")).collect();
                let d = Diagnostic::new(
                    Code::UnknownAuthType,
                    a.kind.span,
                    format!(
                        "unknown authType `{}` in integration `{}`",
                        a.kind.node, self.id
                    ),
                );
                let d = match alias.or_else(|| did_you_mean(&a.kind.node, words)) {
                    Some("custom") if a.kind.node == "none" => {
                        d.with_label("the spec's authType has no `none`").with_help(
                            "an integration without credentials is `auth custom` (with no block)",
                        )
                    }
                    Some(s) => d
                        .with_label(format!("did you mean `{s}`?"))
                        .with_help(format!("write `auth {s}`")),
                    None => d
                        .with_label("not an authType")
                        .with_help(format!("write one of {}", all.join(", "))),
                };
                self.push(d);
                None
            }
        };
        let oauth = match (kind, &a.oauth) {
            (Some(ir::IntegrationAuthType::OAuth2), Some(b)) => Some(self.oauth(b)),
            (Some(ir::IntegrationAuthType::OAuth2), None) => {
                self.push(
                    Diagnostic::new(
                        Code::OAuthConfigMismatch,
                        a.span,
                        format!("integration `{}` is `oauth2` and has no oauthConfig", self.id),
                    )
                    .with_label("no `{ .. }` block")
                    .with_help(
                        "write the block: `auth oauth2 { authorizationUrl: \"https://..\", tokenUrl: \"https://..\", clientId: env(\"..\"), clientSecret: env(\"..\") }`",
                    ),
                );
                None
            }
            (Some(other), Some(b)) => {
                self.push(
                    Diagnostic::new(
                        Code::OAuthConfigMismatch,
                        b.span,
                        format!(
                            "integration `{}` has an oauthConfig but its authType is `{}`",
                            self.id,
                            other.as_str()
                        ),
                    )
                    .with_label("only `oauth2` reads this block")
                    .with_help(format!(
                        "write `auth oauth2 {{ .. }}`, or `auth {}` without the block",
                        other.as_str()
                    )),
                );
                None
            }
            (_, _) => Some(None),
        };
        Some((kind?, oauth?))
    }

    /// The `oauthConfig` block.
    fn oauth(&mut self, b: &ast::OAuthBlock) -> Option<ir::OAuthConfig> {
        let mut given: HashMap<&str, (&Name, &Credential)> = HashMap::new();
        let mut ok = true;
        for (key, value) in &b.fields {
            if !OAUTH_KEYS.iter().any(|(k, _)| *k == key.node) {
                let keys = OAUTH_KEYS.iter().map(|(k, _)| *k);
                let d = Diagnostic::new(
                    Code::UnknownIntegrationKey,
                    key.span,
                    format!(
                        "unknown oauthConfig key `{}` in integration `{}`",
                        key.node, self.id
                    ),
                );
                let all: Vec<String> = keys.clone().map(|k| format!("`{k}`")).collect();
                self.push(match did_you_mean(&key.node, keys) {
                    Some(s) => d
                        .with_label(format!("did you mean `{s}`?"))
                        .with_help(format!("rename it to `{s}`")),
                    None => d
                        .with_label("not a key of OAuthConfig")
                        .with_help(format!("the keys are {}", all.join(", "))),
                });
                ok = false;
                continue;
            }
            if let Some((first, _)) = given.get(key.node.as_str()) {
                self.push(
                    Diagnostic::new(
                        Code::DuplicateId,
                        key.span,
                        format!(
                            "`{}` is given twice in the oauthConfig of integration `{}`",
                            key.node, self.id
                        ),
                    )
                    .with_label("given again here")
                    .with_related(first.span, "first given here")
                    .with_help("keep one of the two"),
                );
                ok = false;
                continue;
            }
            given.insert(&key.node, (key, value));
        }
        for (key, required) in OAUTH_KEYS {
            if *required && !given.contains_key(key) {
                let example = match *key {
                    "clientId" | "clientSecret" => {
                        format!("{key}: env(\"{}\")", env_name(&self.id, key))
                    }
                    _ => format!("{key}: \"https://...\""),
                };
                self.push(
                    Diagnostic::new(
                        Code::MissingClause,
                        b.span,
                        format!(
                            "the oauthConfig of integration `{}` has no `{key}`",
                            self.id
                        ),
                    )
                    .with_label("in this block")
                    .with_help(format!("add `{example}`")),
                );
                ok = false;
            }
        }
        let url = |l: &mut Self, key: &str| -> Option<Option<String>> {
            match given.get(key) {
                None => Some(None),
                Some((_, value)) => l.url(key, value).map(Some),
            }
        };
        let authorization_url = url(self, "authorizationUrl");
        let token_url = url(self, "tokenUrl");
        let revoke_url = url(self, "revokeUrl");
        let redirect_uri = url(self, "redirectUri");
        let scopes = match given.get("scopes") {
            None => Some(Vec::new()),
            Some((_, value)) => self.scopes(value),
        };
        let pkce = match given.get("pkce") {
            None => Some(false),
            Some((
                _,
                Credential::Plain(Literal {
                    node: Value::Bool(b),
                    ..
                }),
            )) => Some(*b),
            Some((key, value)) => {
                self.invalid(
                    value.span(),
                    format!("`pkce` of integration `{}` must be true or false", self.id),
                    format!("`{}` takes a boolean", key.node),
                    "write `pkce: true` (S256, what most providers accept) or `pkce: false`",
                );
                None
            }
        };
        let client_id = given.get("clientId").and_then(|(_, v)| self.client_id(v));
        let client_secret = given
            .get("clientSecret")
            .and_then(|(_, v)| self.client_secret(v));
        if !ok {
            return None;
        }
        Some(ir::OAuthConfig {
            authorization_url: authorization_url??,
            token_url: token_url??,
            revoke_url: revoke_url?,
            scopes: scopes?,
            client_id: client_id?,
            client_secret: client_secret?,
            redirect_uri: redirect_uri?,
            pkce: pkce?,
        })
    }

    /// An OAuth URL: written (not `env`/`stored`), absolute, `https` (or `http` to a
    /// loopback host).
    fn url(&mut self, key: &str, value: &Credential) -> Option<String> {
        let (text, span) = match value {
            Credential::Plain(Literal {
                node: Value::String(s),
                span,
            }) => (s.as_str(), *span),
            other => {
                self.invalid(
                    other.span(),
                    format!(
                        "`{key}` of integration `{}` must be a URL written in the definition",
                        self.id
                    ),
                    "not a string",
                    format!(
                        "write the URL, e.g. `{key}: \"https://login.example.com/oauth2/{}\"`",
                        if key == "tokenUrl" {
                            "token"
                        } else {
                            "authorize"
                        }
                    ),
                );
                return None;
            }
        };
        let why = match super::config::parse_url(text) {
            Err(why) => why,
            Ok(u) if u.scheme() == "https" => return Some(text.trim().to_string()),
            Ok(u) => match u.host() {
                Some(url::Host::Domain("localhost")) => return Some(text.trim().to_string()),
                Some(url::Host::Ipv4(ip)) if ip.is_loopback() => {
                    return Some(text.trim().to_string())
                }
                Some(url::Host::Ipv6(ip)) if ip.is_loopback() => {
                    return Some(text.trim().to_string())
                }
                _ => "plain `http` to a host that is not this machine".to_string(),
            },
        };
        self.push(
            Diagnostic::new(
                Code::InsecureUrl,
                span,
                format!("`{key}` of integration `{}` is not an https URL", self.id),
            )
            .with_label(why)
            .with_help(format!(
                "write an absolute https URL, e.g. `{key}: \"https://login.example.com/oauth2/token\"` (http only to localhost, for a mock provider)"
            )),
        );
        None
    }

    /// `scopes: ["api", "refresh_token"]`: strings without whitespace.
    fn scopes(&mut self, value: &Credential) -> Option<Vec<String>> {
        let items = match value {
            Credential::Plain(Literal {
                node: Value::Array(items),
                ..
            }) => items,
            Credential::Plain(Literal {
                node: Value::String(s),
                span,
            }) => {
                let words: Vec<String> = s.split_whitespace().map(|w| format!("\"{w}\"")).collect();
                self.invalid(
                    *span,
                    format!("`scopes` of integration `{}` must be a list", self.id),
                    "a string",
                    format!(
                        "write one string per scope: `scopes: [{}]`",
                        words.join(", ")
                    ),
                );
                return None;
            }
            other => {
                self.invalid(
                    other.span(),
                    format!(
                        "`scopes` of integration `{}` must be a list of strings",
                        self.id
                    ),
                    "not a list",
                    "write the scopes, e.g. `scopes: [\"api\", \"refresh_token\"]`",
                );
                return None;
            }
        };
        let mut out = Vec::new();
        for item in items {
            match item.as_str() {
                Some(s) if !s.is_empty() && !s.chars().any(char::is_whitespace) => {
                    out.push(s.to_string())
                }
                _ => {
                    self.invalid(
                        value.span(),
                        format!(
                            "a scope of integration `{}` is empty, not a string, or holds a space",
                            self.id
                        ),
                        format!("`{item}`"),
                        "write one scope per string, e.g. `scopes: [\"api\", \"refresh_token\"]`",
                    );
                    return None;
                }
            }
        }
        Some(out)
    }

    /// `clientId`: a non-empty string, `env("VAR")` or `stored`.
    fn client_id(&mut self, value: &Credential) -> Option<CredentialValue> {
        match value {
            Credential::Plain(Literal {
                node: Value::String(s),
                span,
            }) => {
                if s.trim().is_empty() {
                    self.invalid(
                        *span,
                        format!("`clientId` of integration `{}` is empty", self.id),
                        "empty",
                        format!(
                            "write the client id, or `clientId: env(\"{}\")`",
                            env_name(&self.id, "clientId")
                        ),
                    );
                    return None;
                }
                Some(CredentialValue::Plain(s.clone()))
            }
            Credential::Plain(l) => {
                self.invalid(
                    l.span,
                    format!("`clientId` of integration `{}` must be a string", self.id),
                    format!("this is {}", Ty::of_value(&l.node).describe()),
                    format!(
                        "write it as a string, or `clientId: env(\"{}\")`",
                        env_name(&self.id, "clientId")
                    ),
                );
                None
            }
            other => self.named(other, "clientId"),
        }
    }

    /// `clientSecret`: `env("VAR")` or `stored`; a written one is E0701.
    fn client_secret(&mut self, value: &Credential) -> Option<CredentialValue> {
        match value {
            Credential::Plain(l) => {
                let d = plain_secret(&self.id, "clientSecret", l.span, false);
                self.push(d);
                None
            }
            other => self.named(other, "clientSecret"),
        }
    }

    fn named(&mut self, value: &Credential, key: &str) -> Option<CredentialValue> {
        match value {
            Credential::Stored(_) => Some(CredentialValue::Stored),
            Credential::Env { var, .. } => {
                let rewrite = format!("{key}: env(\"{}\")", env_name(&self.id, key));
                if env_var(self.cx, var, &format!("`{key}`"), &rewrite).is_none() {
                    self.ok = false;
                    return None;
                }
                Some(CredentialValue::Env(var.node.clone()))
            }
            Credential::Plain(_) => None,
        }
    }
}
