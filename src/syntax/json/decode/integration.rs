//! An IntegrationDefinition object: its keys, `authType` and `oauthConfig` (credential
//! values as a connection's: `"plain"`, `{ "env": "VAR" }`, `{ "stored": true }`).
//!
//! Unlike other items, an integration keeps no `meta`: an unknown key is an error
//! (E0901), since a misspelt `visibility` kept aside would make a definition public.
//! Values equal to their default (`visibility: "public"`, `isPremium: false`, `[]`, ...)
//! are left implicit, as `.cmap` writes them.

use serde_json::Value;

use super::super::reader::JVal;
use super::{literal, Decoder, Obj};
use crate::diagnostics::{did_you_mean, Code, Diagnostic};
use crate::syntax::ast::*;

/// Every key of an IntegrationDefinition (spec "Integration Types").
pub(in crate::syntax::json) const INTEGRATION_KEYS: &[&str] = &[
    "$kind",
    "id",
    "name",
    "displayName",
    "description",
    "category",
    "icon",
    "color",
    "visibility",
    "isPremium",
    "requiredPlan",
    "capabilities",
    "supportedSyncDirections",
    "supportsRealtime",
    "supportsWebhooks",
    "authType",
    "oauthConfig",
    "availableEntities",
    "connectionScope",
    "status",
    "version",
];

impl Decoder {
    pub(super) fn integration(&mut self, o: &Obj<'_>) -> Integration {
        for e in o.entries {
            if !INTEGRATION_KEYS.contains(&e.key.as_str()) {
                let listed = INTEGRATION_KEYS.iter().copied().filter(|k| *k != "$kind");
                let d = Diagnostic::new(
                    Code::UnknownIntegrationKey,
                    e.key_span,
                    format!("unknown key `{}` in {}", e.key, o.what),
                );
                self.diags.push(match did_you_mean(&e.key, listed.clone()) {
                    Some(s) => d
                        .with_label(format!("did you mean `{s}`?"))
                        .with_help(format!("rename it to \"{s}\"")),
                    None => {
                        let list: Vec<String> = listed.map(|k| format!("`{k}`")).collect();
                        d.with_label("not a key of an IntegrationDefinition")
                            .with_help(format!("the keys are {}", list.join(", ")))
                    }
                });
            }
        }
        let id = self
            .str_req(o, "id")
            .unwrap_or_else(|| Name::new(String::new(), o.open()));
        let not = |default: &'static str| move |n: &Name| n.node != default;
        let name = self.str_opt(o, "name").filter(|n| n.node != id.node);
        let display_name = self.str_opt(o, "displayName");
        let description = self.str_opt(o, "description");
        let category = self.str_opt(o, "category");
        let icon = self.str_opt(o, "icon");
        let color = self.str_opt(o, "color");
        let visibility = self.str_opt(o, "visibility").filter(not("public"));
        let premium = flag(o.get("isPremium"));
        let plan = self.str_opt(o, "requiredPlan");
        let capabilities = self.name_list(o, "capabilities");
        let directions = self.name_list(o, "supportedSyncDirections");
        let realtime = flag(o.get("supportsRealtime"));
        let webhooks = flag(o.get("supportsWebhooks"));
        let kind = self.str_opt(o, "authType");
        let oauth = self.obj_opt(o, "oauthConfig").map(|c| OAuthBlock {
            span: c.span,
            fields: self.credentials(&c),
        });
        let auth = match kind {
            Some(kind) => Some(IntegrationAuth {
                span: kind.span,
                kind,
                oauth,
            }),
            None => {
                // Reported rather than dropped in silence.
                self.missing(o, "authType", "\"oauth2\"");
                None
            }
        };
        let entities = self.name_list(o, "availableEntities");
        let scope = self.str_opt(o, "connectionScope").filter(not("tenant"));
        let status = self.str_opt(o, "status").filter(not("active"));
        let version = self.str_opt(o, "version");
        Integration {
            span: o.span,
            id,
            display_name,
            name,
            description,
            category,
            icon,
            color,
            visibility,
            premium,
            plan,
            capabilities,
            directions,
            realtime,
            webhooks,
            auth,
            entities,
            scope,
            status,
            version,
        }
    }

    /// An array of strings; `[]` is the default (left implicit).
    fn name_list(&mut self, o: &Obj<'_>, key: &str) -> Option<NameList> {
        let span = o.get(key)?.span;
        let items = self.names(o, key)?;
        (!items.is_empty()).then_some(NameList { span, items })
    }
}

/// A boolean key as a literal (`compile` reports another type, as for `.cmap`); `false`,
/// the default, is left implicit.
fn flag(v: Option<&JVal>) -> Option<Literal> {
    v.map(literal).filter(|l| l.node != Value::Bool(false))
}
