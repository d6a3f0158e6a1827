//! An integration -> an IntegrationDefinition object, every key of the spec written
//! (defaults included) in the spec's order.

use serde_json::{Map, Value};

use super::connection::credential;
use super::s;
use crate::syntax::ast::*;

/// The spec's IntegrationDefinition. Keys `.cmap` may leave implicit get their
/// defaults: `name` the id, `visibility` public, `isPremium`, `supportsRealtime` and
/// `supportsWebhooks` false, empty lists, `connectionScope` tenant, `status` active.
/// Required keys a broken document lacks are left out rather than invented.
pub(super) fn integration(k: &Integration) -> Value {
    let mut m = Map::new();
    let opt = |m: &mut Map<String, Value>, key: &str, n: &Option<Name>| {
        if let Some(n) = n {
            m.insert(key.into(), s(n));
        }
    };
    let or = |n: &Option<Name>, default: &str| n.as_ref().map_or_else(|| default.into(), s);
    let flag = |l: &Option<Literal>| l.as_ref().map_or(Value::Bool(false), |l| l.node.clone());
    let list =
        |l: &Option<NameList>| Value::Array(l.iter().flat_map(|l| &l.items).map(s).collect());
    m.insert("id".into(), s(&k.id));
    m.insert("name".into(), or(&k.name, &k.id.node));
    opt(&mut m, "displayName", &k.display_name);
    opt(&mut m, "description", &k.description);
    opt(&mut m, "category", &k.category);
    opt(&mut m, "icon", &k.icon);
    opt(&mut m, "color", &k.color);
    m.insert("visibility".into(), or(&k.visibility, "public"));
    m.insert("isPremium".into(), flag(&k.premium));
    opt(&mut m, "requiredPlan", &k.plan);
    m.insert("capabilities".into(), list(&k.capabilities));
    m.insert("supportedSyncDirections".into(), list(&k.directions));
    m.insert("supportsRealtime".into(), flag(&k.realtime));
    m.insert("supportsWebhooks".into(), flag(&k.webhooks));
    if let Some(a) = &k.auth {
        m.insert("authType".into(), s(&a.kind));
        if let Some(b) = &a.oauth {
            let config: Map<String, Value> = b
                .fields
                .iter()
                .map(|(key, value)| (key.node.clone(), credential(value)))
                .collect();
            m.insert("oauthConfig".into(), Value::Object(config));
        }
    }
    m.insert("availableEntities".into(), list(&k.entities));
    m.insert("connectionScope".into(), or(&k.scope, "tenant"));
    m.insert("status".into(), or(&k.status, "active"));
    opt(&mut m, "version", &k.version);
    Value::Object(m)
}
