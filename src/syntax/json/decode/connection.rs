//! An IntegrationConnection object: its keys, auth type and credentials, settings.

use super::super::reader::{JKind, JVal};
use super::{literal, Decoder, Obj};
use crate::syntax::ast::*;

const CONNECTION_KEYS: &[&str] = &[
    "$kind",
    "id",
    "integrationId",
    "displayName",
    "scope",
    "tenantId",
    "authType",
    "credentials",
    "settings",
];
/// Spec keys of an IntegrationConnection kept in `meta` (runtime state and audit).
const CONNECTION_META: &[&str] = &[
    "status",
    "lastValidatedAt",
    "createdBy",
    "createdAt",
    "updatedAt",
];

impl Decoder {
    pub(super) fn connection(&mut self, o: &Obj<'_>) -> Connection {
        let id = self
            .str_req(o, "id")
            .unwrap_or_else(|| Name::new(String::new(), o.open()));
        let integration = self.str_opt(o, "integrationId");
        let name = self.str_opt(o, "displayName");
        // `tenant` is the default scope: kept implicit, as `.cmap` writes it.
        let scope = self.str_opt(o, "scope").filter(|s| s.node != "tenant");
        let tenant = self.str_opt(o, "tenantId");
        let kind = self.str_opt(o, "authType");
        let fields = self
            .obj_opt(o, "credentials")
            .map(|c| self.credentials(&c))
            .unwrap_or_default();
        // The auth clause exists when `authType` does; credentials without it are
        // reported (they would be lost otherwise).
        let auth = match kind {
            Some(kind) => Some(Auth {
                span: kind.span,
                kind,
                fields,
            }),
            None => {
                if !fields.is_empty() {
                    self.missing(o, "authType", "\"oauth2\"");
                }
                None
            }
        };
        let settings = self.tree_opt(o, "settings");
        let meta = self.meta(o, CONNECTION_KEYS, CONNECTION_META);
        Connection {
            span: o.span,
            id,
            name,
            integration,
            scope,
            tenant,
            auth,
            settings,
            meta,
        }
    }

    /// `{ "clientId": "..", "clientSecret": { "env": "VAR" }, "refreshToken": { "stored": true } }`.
    pub(super) fn credentials(&mut self, o: &Obj<'_>) -> Vec<(Name, Credential)> {
        let mut out = Vec::new();
        for e in o.entries {
            let key = Name::new(e.key.clone(), e.key_span);
            let cred = self.credential_value(&e.value, &o.path_of(&e.key));
            out.extend(cred.map(|c| (key, c)));
        }
        out
    }

    /// Where a secret comes from: `"plain"`, `{ "env": "VAR" }` or `{ "stored": true }`
    /// (a credential's value, a realtime task's `verificationToken`). `path` names it.
    pub(super) fn credential_value(&mut self, v: &JVal, path: &str) -> Option<Credential> {
        let JKind::Object(entries) = &v.kind else {
            // A string is the valid plain value; other literals are kept so that
            // `compile` reports them the way it does for `.cmap`.
            return Some(Credential::Plain(literal(v)));
        };
        let span = v.span;
        let source = Obj {
            span,
            entries,
            what: path.to_string(),
            path: path.to_string(),
        };
        match entries.as_slice() {
            [only] if only.key == "env" => self
                .name(&only.value, &source.path_of("env"))
                .map(|var| Credential::Env { span, var }),
            [only] if only.key == "stored" => match only.value.kind {
                JKind::Bool(true) => Some(Credential::Stored(span)),
                _ => {
                    self.shape(
                        only.value.span,
                        format!("{path}.stored must be true"),
                        "write { \"stored\": true }, or give the value another way",
                    );
                    None
                }
            },
            _ => {
                self.shape(
                    span,
                    format!("{path} must be a string, {{ \"env\": \"VAR\" }} or {{ \"stored\": true }}"),
                    "name where the secret comes from: { \"env\": \"VAR\" } reads an environment variable, { \"stored\": true } a value set with `cmap connections set` (a task's token: `cmap tokens set`)",
                );
                None
            }
        }
    }
}
