//! Connections: the spec's IntegrationConnection as a pipeline declares it, checked and
//! lowered to [`ir::Connection`]; and the checks that tie tasks to connections.
//!
//! The rule that matters most: a secret is never written in a pipeline file. Each
//! credential of an auth type is either secret (`clientSecret`, `password`, ...) or
//! plain (`clientId`, `tokenUrl`, ...); a secret must come from `env("VAR")` or
//! `stored`, and the diagnostic that says so never repeats the value it found.

use std::collections::HashMap;

use serde_json::Value;

use super::config::INTEGRATIONS;
use super::ir::{self, AuthType, ConnectionScope, CredentialValue};
use super::types::Ty;
use super::Cx;
use crate::diagnostics::{did_you_mean, Code, Diagnostic};
use crate::syntax::ast::{self, Credential, Name, Span};

const AUTH_TYPES: &[&str] = &["none", "api_key", "basic", "oauth2", "custom"];
const SCOPES: &[&str] = &["system", "tenant"];

/// A credential key of an auth type: its name and whether its value is a secret.
type KeySpec = (&'static str, bool);

const SECRET: bool = true;
const PLAIN: bool = false;

/// The keys each auth type reads. `custom` takes any key, every value secret.
fn key_specs(auth: AuthType) -> &'static [KeySpec] {
    match auth {
        AuthType::None | AuthType::Custom => &[],
        AuthType::ApiKey => &[("apiKey", SECRET), ("header", PLAIN), ("prefix", PLAIN)],
        AuthType::Basic => &[("username", PLAIN), ("password", SECRET)],
        // `clientAuth` and `expiresAt` are read by the OAuth2 client
        // (`connectors::oauth::OAuth2Config::from_credentials`); the URLs, `scopes` and
        // `redirectUri` by the connect flow.
        AuthType::OAuth2 => &[
            ("clientId", PLAIN),
            ("clientSecret", SECRET),
            ("refreshToken", SECRET),
            ("accessToken", SECRET),
            ("expiresAt", PLAIN),
            ("tokenUrl", PLAIN),
            ("clientAuth", PLAIN),
            ("authorizationUrl", PLAIN),
            ("revokeUrl", PLAIN),
            ("scopes", PLAIN),
            ("redirectUri", PLAIN),
        ],
    }
}

/// Keys each auth type needs; an inner slice is "one of these".
fn required(auth: AuthType) -> &'static [&'static [&'static str]] {
    match auth {
        AuthType::None | AuthType::Custom => &[],
        AuthType::ApiKey => &[&["apiKey"]],
        AuthType::Basic => &[&["username"], &["password"]],
        AuthType::OAuth2 => &[
            &["clientId"],
            &["clientSecret"],
            &["tokenUrl"],
            &["refreshToken", "accessToken"],
        ],
    }
}

/// A key whose value is a secret by its name (E0701); one definition with the audit
/// log's scrub ([`crate::redact::looks_secret`]).
pub(super) use crate::redact::looks_secret;

/// `sf-prod` + `clientSecret` -> `SF_PROD_CLIENT_SECRET`: the variable a help suggests.
pub(super) fn env_name(connection: &str, key: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in connection.chars().chain(['_']).chain(key.chars()) {
        if c.is_ascii_uppercase() && prev_lower {
            out.push('_');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        out.push(if c.is_ascii_alphanumeric() {
            c.to_ascii_uppercase()
        } else {
            '_'
        });
    }
    out
}

/// E0701, pointing at the value; the value itself is never part of the message.
pub(super) fn plain_secret(connection: &str, key: &str, at: Span, in_settings: bool) -> Diagnostic {
    let var = env_name(connection, key);
    let (message, help) = if in_settings {
        (
            format!("`{key}` looks like a secret and is written in plain text in `settings`"),
            format!(
                "move it into the `auth` block as `{key}: env(\"{var}\")` or `{key}: stored` \
                 (set with `cmap connections set`), and keep the value out of the file"
            ),
        )
    } else {
        (
            format!("`{key}` is a secret and is written in plain text"),
            format!(
                "write `{key}: env(\"{var}\")` and set the variable, or `{key}: stored` and \
                 set it with `cmap connections set`; then remove the value from the file's history"
            ),
        )
    };
    Diagnostic::new(Code::PlainSecret, at, message)
        .with_label("a secret value is written here")
        .with_help(help)
}

fn auth_type(cx: &mut Cx<'_>, kind: &Name) -> Option<AuthType> {
    const TYPES: [AuthType; 5] = [
        AuthType::None,
        AuthType::ApiKey,
        AuthType::Basic,
        AuthType::OAuth2,
        AuthType::Custom,
    ];
    if let Some(i) = AUTH_TYPES.iter().position(|t| *t == kind.node) {
        return TYPES.get(i).copied();
    }
    // Common spellings of the spec's names.
    let alias = match kind.node.to_ascii_lowercase().replace('-', "_").as_str() {
        "apikey" | "api_key" | "key" => Some("api_key"),
        "oauth" | "oauth_2" | "oauth2" => Some("oauth2"),
        "basic_auth" | "password" => Some("basic"),
        _ => None,
    };
    let d = Diagnostic::new(
        Code::UnknownAuthType,
        kind.span,
        format!("unknown auth type `{}`", kind.node),
    );
    cx.push(
        match alias.or_else(|| did_you_mean(&kind.node, AUTH_TYPES.iter().copied())) {
            Some(s) => d
                .with_label(format!("did you mean `{s}`?"))
                .with_help(format!("write `auth {s}`")),
            None => d.with_label("not an auth type").with_help(
                "use one of `none`, `api_key`, `basic`, `oauth2`, `custom` (`none` for public sources)",
            ),
        },
    );
    None
}

/// Checks and lowers one connection. Every problem is reported; `None` when any is an
/// error.
pub(super) fn lower(cx: &mut Cx<'_>, c: &ast::Connection) -> Option<ir::Connection> {
    let id = &c.id.node;
    let mut ok = true;

    if id.starts_with(ir::TASK_TOKEN_PREFIX) {
        // The store keeps realtime tasks' stored tokens as connection records named so.
        cx.push(
            Diagnostic::new(
                Code::DuplicateId,
                c.id.span,
                format!(
                    "connection ids starting with `{}` are reserved",
                    ir::TASK_TOKEN_PREFIX
                ),
            )
            .with_label("the data directory keeps realtime tasks' tokens under these ids")
            .with_help(format!(
                "rename the connection, e.g. `{}`",
                id.trim_start_matches(ir::TASK_TOKEN_PREFIX)
            )),
        );
        ok = false;
    }

    let integration = match &c.integration {
        None => {
            cx.push(
                Diagnostic::new(
                    Code::MissingClause,
                    c.id.span,
                    format!("connection `{id}` names no integration"),
                )
                .with_label("`integration` is required")
                .with_help(format!(
                    "add `integration NAME`, one of {}",
                    list(INTEGRATIONS)
                )),
            );
            ok = false;
            None
        }
        Some(n) => {
            if !INTEGRATIONS.contains(&n.node.as_str()) {
                let d = Diagnostic::new(
                    Code::UnknownIntegration,
                    n.span,
                    format!("unknown integration `{}`", n.node),
                );
                cx.push(match did_you_mean(&n.node, INTEGRATIONS.iter().copied()) {
                    Some(s) => d
                        .with_label(format!("did you mean `{s}`?"))
                        .with_help(format!("write `integration {s}`")),
                    None => d
                        .with_label("cmap has no connector for it")
                        .with_help(format!(
                            "use one of {}; `rest` reads any JSON API",
                            list(INTEGRATIONS)
                        )),
                });
            }
            Some(n.node.clone())
        }
    };

    let scope = match &c.scope {
        None => Some(ConnectionScope::Tenant),
        Some(n) => super::task::keyword(
            cx,
            n,
            "connection scope",
            SCOPES,
            &[ConnectionScope::System, ConnectionScope::Tenant],
        ),
    };
    let tenant = match (scope, &c.tenant) {
        (Some(ConnectionScope::System), Some(t)) => {
            cx.push(
                Diagnostic::new(
                    Code::TenantOnSystemConnection,
                    t.span,
                    format!("connection `{id}` is system-wide: its tenant is ignored"),
                )
                .with_label("ignored: `scope system` serves every tenant")
                .with_help("remove `tenant`, or write `scope tenant` for one tenant's connection"),
            );
            None
        }
        (Some(ConnectionScope::System), None) => None,
        (_, t) => Some(
            t.as_ref()
                .map_or_else(|| "default".to_string(), |t| t.node.clone()),
        ),
    };

    let auth = match &c.auth {
        None => {
            cx.push(
                Diagnostic::new(
                    Code::MissingClause,
                    c.id.span,
                    format!("connection `{id}` says nothing about authentication"),
                )
                .with_label("`auth` is required")
                .with_help(
                    "add `auth none` for a public source, or e.g. `auth api_key { apiKey: env(\"API_KEY\") }`",
                ),
            );
            None
        }
        Some(a) => auth(cx, id, a),
    };

    let settings = super::config::settings(
        cx,
        id,
        integration.as_deref(),
        c.settings.as_ref(),
        c.id.span,
    );

    ok &= scope.is_some() && settings.is_some();
    let auth = auth?;
    if !ok {
        return None;
    }
    Some(ir::Connection {
        id: id.clone(),
        name: c.name.as_ref().map(|n| n.node.clone()),
        integration: integration?,
        scope: scope?,
        tenant,
        auth,
        settings: settings?,
    })
}

fn auth(cx: &mut Cx<'_>, id: &str, a: &ast::Auth) -> Option<ir::AuthConfig> {
    let auth_type = auth_type(cx, &a.kind)?;
    let specs = key_specs(auth_type);
    let mut ok = true;
    let mut fields: Vec<(String, CredentialValue)> = Vec::new();
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for (key, value) in &a.fields {
        if let Some(first) = seen.get(key.node.as_str()) {
            cx.push(
                Diagnostic::new(
                    Code::DuplicateId,
                    key.span,
                    format!(
                        "credential `{}` is given twice in connection `{id}`",
                        key.node
                    ),
                )
                .with_label("given again here")
                .with_related(*first, "first given here")
                .with_help("remove one of the two; a credential has one source"),
            );
            ok = false;
            continue;
        }
        seen.insert(&key.node, key.span);

        let spec = specs.iter().find(|(k, _)| *k == key.node);
        if auth_type == AuthType::Custom {
            // Each key of `custom` is sent as a header name.
            if let Some(why) = header_name_problem(&key.node) {
                cx.push(
                    Diagnostic::new(
                        Code::InvalidValue,
                        key.span,
                        format!("`{}` cannot be a header name (connection `{id}`)", key.node),
                    )
                    .with_label(why)
                    .with_help("`auth custom` sends each key as a header: name it as HTTP allows, e.g. `\"X-Api-Token\": env(\"TOKEN\")`"),
                );
                ok = false;
            }
        }
        let secret = match (auth_type, spec) {
            (AuthType::Custom, _) => true,
            (_, Some((_, secret))) => *secret,
            (_, None) => {
                unknown_key(cx, id, auth_type, key, specs);
                // An unknown key is ignored, but a secret written in it is still a
                // secret in the file.
                if looks_secret(&key.node) && matches!(value, Credential::Plain(_)) {
                    cx.push(plain_secret(id, &key.node, value.span(), false));
                    ok = false;
                }
                continue;
            }
        };
        match credential(cx, id, &key.node, value, secret, auth_type) {
            Some(v) => fields.push((key.node.clone(), v)),
            None => ok = false,
        }
    }

    for one_of in required(auth_type) {
        if one_of.iter().any(|k| seen.contains_key(k)) {
            continue;
        }
        ok = false;
        cx.push(missing(id, auth_type, a, one_of, specs));
    }
    if auth_type == AuthType::Custom && a.fields.is_empty() {
        ok = false;
        cx.push(
            Diagnostic::new(
                Code::MissingCredential,
                a.kind.span,
                format!("custom connection `{id}` has no credential"),
            )
            .with_label("`custom` sends each credential as a header")
            .with_help(format!(
                "add e.g. `auth custom {{ \"X-Api-Token\": env(\"{}\") }}`, or write `auth none`",
                env_name(id, "token")
            )),
        );
    }
    ok.then_some(ir::AuthConfig { auth_type, fields })
}

/// One credential's value: a string where plain values are allowed, `env("VAR")` or
/// `stored` everywhere.
fn credential(
    cx: &mut Cx<'_>,
    id: &str,
    key: &str,
    value: &Credential,
    secret: bool,
    auth_type: AuthType,
) -> Option<CredentialValue> {
    match value {
        Credential::Stored(_) => Some(CredentialValue::Stored),
        Credential::Env { var, .. } => {
            let rewrite = format!("{key}: env(\"{}\")", env_name(id, key));
            env_var(cx, var, &format!("`{key}`"), &rewrite)?;
            Some(CredentialValue::Env(var.node.clone()))
        }
        Credential::Plain(l) if secret => {
            let mut d = plain_secret(id, key, l.span, false);
            if auth_type == AuthType::Custom {
                d = d.with_label("every `custom` value is a secret: it is written here");
            }
            cx.push(d);
            None
        }
        Credential::Plain(ast::Literal {
            node: Value::String(s),
            span,
        }) => {
            plain_value(cx, id, key, s, *span)?;
            Some(CredentialValue::Plain(s.clone()))
        }
        Credential::Plain(l) => {
            cx.push(
                Diagnostic::new(
                    Code::ConfigType,
                    l.span,
                    format!("credential `{key}` must be a string"),
                )
                .with_label(format!("this is {}", Ty::of_value(&l.node).describe()))
                .with_help(match &l.node {
                    Value::Array(items) => format!(
                        "write the values in one string, separated by spaces: `{key}: \"{}\"`",
                        items
                            .iter()
                            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                    v => format!(
                        "write it as a string: `{key}: \"{}\"`",
                        v.to_string().trim_matches('"')
                    ),
                }),
            );
            None
        }
    }
}

/// A realtime task's verification token: `env("VAR")` or `stored`. A literal is E0701,
/// and its message, like every E0701, never repeats the value.
pub(super) fn webhook_token(
    cx: &mut Cx<'_>,
    task: &str,
    token: &Credential,
) -> Option<ir::SecretSource> {
    let var = env_name(task, "webhookToken");
    match token {
        Credential::Stored(_) => Some(ir::SecretSource::Stored),
        Credential::Env { var: name, .. } => {
            env_var(
                cx,
                name,
                &format!("the token of task `{task}`"),
                &format!("token env(\"{var}\")"),
            )?;
            Some(ir::SecretSource::Env(name.node.clone()))
        }
        Credential::Plain(l) => {
            cx.push(
                Diagnostic::new(
                    Code::PlainSecret,
                    l.span,
                    format!("the webhook token of task `{task}` is written in plain text"),
                )
                .with_label("a secret value is written here")
                .with_help(format!(
                    "write `token env(\"{var}\")` and set the variable for `cmap serve`, or \
                     `token stored` and set it with `cmap tokens set {task}` (or `generate`); \
                     then remove the value from the file's history"
                )),
            );
            None
        }
    }
}

/// `Some` when the name in `env("NAME")` (the source of `what`) is a variable name
/// (letters, digits and `_`, not starting with a digit); else the diagnostic, whose help
/// suggests `rewrite`.
pub(super) fn env_var(cx: &mut Cx<'_>, var: &Name, what: &str, rewrite: &str) -> Option<()> {
    let Some(why) = super::config::env_name_problem(&var.node) else {
        return Some(());
    };
    cx.push(
        Diagnostic::new(
            Code::InvalidValue,
            var.span,
            format!("`env` needs the name of an environment variable for {what}"),
        )
        .with_label(if var.node.is_empty() {
            "empty".to_string()
        } else {
            format!("`{}` {why}", var.node)
        })
        .with_help(format!("write `{rewrite}`")),
    );
    None
}

/// Checks a plain (non-secret) credential's value where the client that reads it would
/// refuse it: URLs, `clientAuth`, `expiresAt`, a header name or prefix, a user name.
/// Values from `env(..)` or `stored` are only known when the connection is used.
fn plain_value(cx: &mut Cx<'_>, id: &str, key: &str, value: &str, span: Span) -> Option<()> {
    let (why, help) = match key {
        "tokenUrl" | "authorizationUrl" | "revokeUrl" | "redirectUri" => {
            match super::config::parse_url(value) {
                Ok(_) => return Some(()),
                Err(why) => (
                    why,
                    format!("write an absolute http(s) URL, e.g. `{key}: \"https://login.example.com/oauth2/token\"`"),
                ),
            }
        }
        "clientAuth" => {
            if matches!(value, "body" | "basic") {
                return Some(());
            }
            let d = Diagnostic::new(
                Code::UnknownKeyword,
                span,
                format!("unknown `clientAuth` value `{value}` (connection `{id}`)"),
            )
            .with_label("not `body` or `basic`")
            .with_help("`body` sends the client id and secret in the token request's form (the default), `basic` in its Authorization header");
            cx.push(d);
            return None;
        }
        "expiresAt" => match crate::date::parse(value) {
            Ok(_) => return Some(()),
            Err(e) => (
                e.to_string(),
                "write when the access token expires, e.g. `expiresAt: \"2026-01-01T00:00:00Z\"`".to_string(),
            ),
        },
        "header" => match header_name_problem(value) {
            None => return Some(()),
            Some(why) => (why, "name the header as HTTP allows, e.g. `header: \"X-Api-Key\"`".to_string()),
        },
        "prefix" if value.chars().any(char::is_control) => (
            "holds a control character".to_string(),
            "write the text sent before the key, e.g. `prefix: \"Bearer \"`".to_string(),
        ),
        "username" if value.contains(':') || value.chars().any(char::is_control) => (
            "holds `:` or a control character, which basic auth cannot send (RFC 7617)".to_string(),
            "write the user name alone".to_string(),
        ),
        _ => return Some(()),
    };
    cx.push(
        Diagnostic::new(
            Code::InvalidValue,
            span,
            format!("`{key}` of connection `{id}` cannot be used"),
        )
        .with_label(why)
        .with_help(help),
    );
    None
}

/// Why `name` cannot be an HTTP header name (RFC 9110 token characters), if it cannot.
fn header_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("is empty".into());
    }
    name.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(*c)))
        .map(|c| format!("holds `{}`, which a header name cannot", c.escape_debug()))
}

fn unknown_key(cx: &mut Cx<'_>, id: &str, auth_type: AuthType, key: &Name, specs: &[KeySpec]) {
    let kind = auth_type.as_str();
    let d = Diagnostic::new(
        Code::UnknownCredentialKey,
        key.span,
        format!(
            "`{}` is not a credential of `auth {kind}` (connection `{id}`)",
            key.node
        ),
    );
    let names = specs.iter().map(|(k, _)| *k);
    if key.node == "instanceUrl" {
        // The OAuth2 token response names it, and a Salesforce connection may fix it.
        cx.push(
            d.with_label("ignored")
                .with_help("the token response names the instance; to fix it, write `settings { instanceUrl: \"https://...\" }`"),
        );
        return;
    }
    cx.push(match did_you_mean(&key.node, names) {
        Some(s) => d
            .with_label(format!("did you mean `{s}`?"))
            .with_help(format!("write `{s}`; as it is, this key is ignored")),
        None if specs.is_empty() => d
            .with_label("ignored")
            .with_help("`auth none` takes no credentials: remove the block, or choose an auth type that uses them"),
        None => {
            let known: Vec<&str> = specs.iter().map(|(k, _)| *k).collect();
            d.with_label("ignored")
                .with_help(format!("`auth {kind}` reads {}", list(&known)))
        }
    });
}

fn missing(
    id: &str,
    auth_type: AuthType,
    a: &ast::Auth,
    one_of: &[&str],
    specs: &[KeySpec],
) -> Diagnostic {
    let kind = auth_type.as_str();
    let example = |k: &str| {
        let secret = specs.iter().any(|(name, s)| *name == k && *s);
        if secret {
            format!("`{k}: env(\"{}\")` (or `{k}: stored`)", env_name(id, k))
        } else {
            format!("`{k}: \"...\"`")
        }
    };
    let (what, help) = match one_of {
        [one] => (format!("`{one}`"), format!("add {}", example(one))),
        several => (
            several
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(" or "),
            format!(
                "add {}",
                example(several.first().copied().unwrap_or_default())
            ),
        ),
    };
    Diagnostic::new(
        Code::MissingCredential,
        a.kind.span,
        format!("`auth {kind}` of connection `{id}` needs {what}"),
    )
    .with_label(format!("{what} missing"))
    .with_help(format!("{help} to its `auth {kind}` block"))
}

fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// W0707 for each task that names no connection while several serve its schema's
/// integration for its tenant (its folder's connections, else the system ones; every
/// serving one for a top-level task: [`ir::serving_connection`]): the engine would
/// refuse to guess.
pub(super) fn check_ambiguous(
    cx: &mut Cx<'_>,
    tasks: &[&ast::Task],
    connections: &super::task::Connections<'_>,
    declared: &HashMap<&str, Span>,
    schema_integration: &HashMap<&str, &str>,
    owners: &super::tenant::Owners<'_>,
) {
    for t in tasks {
        if t.connection.is_some() {
            continue;
        }
        let integration = t.integration.as_ref().map(|n| n.node.as_str()).or_else(|| {
            let schema = t.schema.as_ref()?;
            schema_integration.get(schema.node.as_str()).copied()
        });
        let Some(integration) = integration else {
            continue;
        };
        let folder = owners.of(t.id.span).folder();
        let mut serving =
            match ir::serving_connection(connections.lowered.values(), integration, folder) {
                Ok(_) => continue,
                Err(candidates) => candidates,
            };
        if serving.len() < 2 {
            continue;
        }
        serving.sort_by(|a, b| a.id.cmp(&b.id));
        let ids: Vec<&str> = serving.iter().map(|c| c.id.as_str()).collect();
        let mut d = Diagnostic::new(
            Code::AmbiguousConnection,
            t.id.span,
            format!(
                "task `{}` names no connection and {} connections serve `{integration}`",
                t.id.node,
                serving.len()
            ),
        )
        .with_label(format!("which of {} does it read through?", list(&ids)))
        .with_help(format!(
            "add `connection {}` (or another of them) to the task",
            ids.first().copied().unwrap_or_default()
        ));
        for c in serving {
            if let Some(at) = declared.get(c.id.as_str()) {
                d = d.with_related(*at, format!("connection `{}` serves `{integration}`", c.id));
            }
        }
        cx.push(d);
    }
}

#[cfg(test)]
mod tests {
    use super::{env_name, looks_secret};

    #[test]
    fn secret_looking_keys() {
        let secret: Vec<&str> = [
            "token",
            "apiKey",
            "api_key",
            "clientSecret",
            "password",
            "accessToken",
            "X-Api-Token",
            "key",
            "tokenUrl",
            "instanceUrl",
            "apiVersion",
            "keyField",
            "path",
        ]
        .into_iter()
        .filter(|k| looks_secret(k))
        .collect();
        assert_eq!(
            secret,
            [
                "token",
                "apiKey",
                "api_key",
                "clientSecret",
                "password",
                "accessToken",
                "X-Api-Token",
                "key"
            ]
        );
    }

    #[test]
    fn suggested_variable_names() {
        let names: Vec<String> = [
            ("sf-prod", "clientSecret"),
            ("hubspot", "apiKey"),
            ("a1", "password"),
        ]
        .iter()
        .map(|(c, k)| env_name(c, k))
        .collect();
        assert_eq!(
            names,
            ["SF_PROD_CLIENT_SECRET", "HUBSPOT_API_KEY", "A1_PASSWORD"]
        );
    }
}
