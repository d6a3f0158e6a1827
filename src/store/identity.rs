//! Who may use the API: tenants, users and their roles, and the records of their API
//! tokens (spec: "Access Control & Visibility"). The records the store keeps and the
//! checks made where their values enter (tenant ids, e-mail addresses); minting and
//! checking tokens is [`super::api_token`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::tenant_id::DEFAULT_TENANT;
/// The longest e-mail address (RFC 5321's path limit, 256, less the angle brackets).
const MAX_EMAIL: usize = 254;

/// A tenant (spec: the `tenantId` every record carries).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    /// A [`valid_tenant_id`].
    pub id: String,
    /// A name for people; the id when none was given.
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// The three roles of the spec's permission matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Views integrations and the logs of their own syncs, in their tenant.
    User,
    /// Administers one tenant: its integrations, credentials, schemas and tasks.
    TenantAdmin,
    /// Administers every tenant, the catalogue and the system-wide connections.
    SuperAdmin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::TenantAdmin => "tenant_admin",
            Role::SuperAdmin => "super_admin",
        }
    }

    /// Whether a user of this role belongs to one tenant (a super admin belongs to none
    /// and acts in any).
    pub fn has_tenant(self) -> bool {
        self != Role::SuperAdmin
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user. `tenant_id` is present exactly when the role [`Role::has_tenant`]; the store
/// refuses any other combination.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// A UUID (v7: ids sort by creation).
    pub id: String,
    /// Lower case ([`normalize_email`]); unique across tenants.
    pub email: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl User {
    /// Checks that the role and the tenant go together: `Err` says what is wrong.
    pub fn check_tenant(&self) -> std::result::Result<(), String> {
        match (self.role.has_tenant(), &self.tenant_id) {
            (true, None) => Err(format!(
                "a {} belongs to a tenant: give one (`--tenant ID`)",
                self.role
            )),
            (false, Some(t)) => Err(format!(
                "a super_admin belongs to no tenant (it acts in any), but tenant `{t}` was given"
            )),
            (true, Some(t)) => valid_tenant_id(t),
            (false, None) => Ok(()),
        }
    }
}

/// The stored part of an API token (`cmap_<id>_<secret>`, see [`super::api_token`]):
/// its public id and the SHA-256 of its secret, never the secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiToken {
    /// The public id (the token's prefix, what `cmap tokens revoke` takes).
    pub id: String,
    /// Hex of the SHA-256 of the secret part.
    pub secret_hash: String,
    pub user_id: String,
    /// The user's tenant (absent for a super admin): the token's user is found without
    /// a scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

// By hand: a hash of a 256-bit random secret cannot be reversed, but it has no business
// in a log line either.
impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiToken")
            .field("id", &self.id)
            .field("secret_hash", &"<redacted>")
            .field("user_id", &self.user_id)
            .field("tenant_id", &self.tenant_id)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("last_used_at", &self.last_used_at)
            .field("revoked_at", &self.revoked_at)
            .finish()
    }
}

/// What [`super::Store::revoke_api_token`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// Revoked now.
    Revoked,
    /// It was revoked already, at this time; nothing changed.
    AlreadyRevoked(DateTime<Utc>),
    /// No token has this id.
    Unknown,
}

pub use crate::tenant_id::valid_tenant_id;

/// The address `email` stands for, trimmed and in lower case; `Err` says why it is not
/// one. Deliberately simple (one `@`, something before it, a dotted domain after it, no
/// spaces or control characters, at most 254 bytes): the address is an account name
/// here, never mailed to.
pub fn normalize_email(email: &str) -> std::result::Result<String, String> {
    let email = email.trim().to_lowercase();
    let shown = email.escape_default();
    if email.len() > MAX_EMAIL {
        return Err(format!(
            "the e-mail address is {} bytes long; at most {MAX_EMAIL}",
            email.len()
        ));
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "`{shown}` is not an e-mail address: it holds spaces or control characters"
        ));
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(format!("`{shown}` is not an e-mail address: it has no `@`"));
    };
    if local.is_empty() || domain.contains('@') {
        return Err(format!(
            "`{shown}` is not an e-mail address: write it as NAME@DOMAIN"
        ));
    }
    let labels_ok = domain.split('.').all(|l| !l.is_empty());
    if !domain.contains('.') || !labels_ok {
        return Err(format!(
            "`{shown}` is not an e-mail address: its domain `{}` is not a dotted name",
            domain.escape_default()
        ));
    }
    Ok(email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids() {
        let long = "a".repeat(63);
        let too_long = "a".repeat(64);
        let cases: &[(&str, Option<&str>)] = &[
            ("default", None),
            ("acme", None),
            ("a", None),
            ("0", None),
            ("acme-eu-2", None),
            (&long, None),
            ("", Some("a tenant id is empty")),
            (&too_long, Some("is 64 characters long; at most 63")),
            ("Acme", Some("holds `A`")),
            ("acme_eu", Some("holds `_`")),
            ("acme/eu", Some("holds `/`")),
            ("acme eu", Some("holds ` `")),
            ("acme\0", Some("holds `\\u{0}`")),
            ("ac\u{e9}me", Some("holds `\\u{e9}`")),
            ("-acme", Some("starts with `-`")),
            ("..", Some("holds `.`")),
        ];
        for (id, want) in cases {
            match (valid_tenant_id(id), want) {
                (Ok(()), None) => {}
                (Err(e), Some(w)) => assert!(e.contains(w), "{id:?}: {e}"),
                (got, want) => panic!("{id:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn emails() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("ada@example.com", Ok("ada@example.com")),
            ("  Ada@Example.COM\n", Ok("ada@example.com")),
            ("a.b+c@mail.example.org", Ok("a.b+c@mail.example.org")),
            ("", Err("has no `@`")),
            ("ada", Err("has no `@`")),
            ("@example.com", Err("NAME@DOMAIN")),
            ("ada@b@example.com", Err("NAME@DOMAIN")),
            ("ada@localhost", Err("not a dotted name")),
            ("ada@example.", Err("not a dotted name")),
            ("ada@.com", Err("not a dotted name")),
            ("ada lovelace@example.com", Err("spaces or control")),
            ("ada\u{7}@example.com", Err("spaces or control")),
        ];
        for (input, want) in cases {
            match (normalize_email(input), want) {
                (Ok(got), Ok(w)) => assert_eq!(&got, w, "{input:?}"),
                (Err(e), Err(w)) => assert!(e.contains(w), "{input:?}: {e}"),
                (got, want) => panic!("{input:?}: got {got:?}, want {want:?}"),
            }
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(normalize_email(&long).is_err_and(|e| e.contains("at most 254")));
    }

    #[test]
    fn roles_and_tenants() {
        let user = |role, tenant: Option<&str>| User {
            id: "u".into(),
            email: "a@b.c".into(),
            role,
            tenant_id: tenant.map(str::to_owned),
            created_at: DateTime::UNIX_EPOCH,
        };
        let cases = [
            (Role::User, Some("acme"), true),
            (Role::TenantAdmin, Some("acme"), true),
            (Role::SuperAdmin, None, true),
            (Role::User, None, false),
            (Role::TenantAdmin, None, false),
            (Role::SuperAdmin, Some("acme"), false),
            (Role::User, Some("Bad"), false),
        ];
        for (role, tenant, ok) in cases {
            assert_eq!(
                user(role, tenant).check_tenant().is_ok(),
                ok,
                "{role} {tenant:?}"
            );
        }
    }

    #[test]
    fn token_debug_hides_the_hash() {
        let token = ApiToken {
            id: "0123456789abcdef".into(),
            secret_hash: "feedface".repeat(8),
            user_id: "u".into(),
            tenant_id: None,
            created_at: DateTime::UNIX_EPOCH,
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
        };
        let shown = format!("{token:?}");
        assert!(!shown.contains("feedface"), "{shown}");
        assert!(shown.contains("0123456789abcdef"), "{shown}");
    }
}
