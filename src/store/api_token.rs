//! API tokens: minting them, and [`authenticate`], which turns a presented token into
//! the [`Principal`] it stands for (issue 9, "Identity, tenants, roles").
//!
//! A token reads `cmap_<id>_<secret>`: `id` is 16 lower-case hex digits (64 random bits),
//! public, the key under which the store finds the token and what `cmap tokens revoke`
//! takes; `secret` is 64 lower-case hex digits (256 random bits from the operating
//! system). The store keeps only the SHA-256 of the secret ([`ApiToken::secret_hash`]).
//! A fast hash is enough here: slow hashes (argon2, bcrypt) exist to make guessing a
//! low-entropy password costly, and nobody guesses 256 random bits, from the hash or
//! otherwise; a fast one keeps every request's check cheap.
//!
//! The secret never reaches a log, an error or a `Debug` output: [`IssuedToken`] shows
//! only its id and is wiped from memory when dropped, and [`AuthError`] says nothing
//! about the token.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::identity::{ApiToken, Role, User};
use super::{Store, StoreError};

/// What every token starts with: recognisable in a leaked file or a secret scanner.
pub const PREFIX: &str = "cmap_";
/// Random bytes of the public id (16 hex digits).
const ID_BYTES: usize = 8;
/// Random bytes of the secret (64 hex digits): 256 bits.
const SECRET_BYTES: usize = 32;
/// The length of every token: `cmap_`, the id, `_`, the secret.
pub const TOKEN_LEN: usize = PREFIX.len() + 2 * ID_BYTES + 1 + 2 * SECRET_BYTES;
/// `lastUsedAt` is written at most this often per token, so a busy client does not
/// cost a durable write per request.
pub const LAST_USED_EVERY: Duration = Duration::seconds(60);

/// A token just minted: the only time its secret exists outside the client. `Debug`
/// shows the id alone; the text is wiped when dropped.
pub struct IssuedToken {
    text: Zeroizing<String>,
    id: String,
}

impl IssuedToken {
    /// The whole token (`cmap_<id>_<secret>`), to give to its user once.
    pub fn expose(&self) -> &str {
        &self.text
    }
    /// The public id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IssuedToken({PREFIX}{}_***)", self.id)
    }
}

/// Mints a token for `user`: the record to store and the token to hand over. Draws
/// from the operating system's random source (as the credential store's nonces do);
/// [`StoreError::Crypto`] when it has none to give.
pub fn mint(
    user: &User,
    now: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<(ApiToken, IssuedToken), StoreError> {
    use chacha20poly1305::aead::Generate;
    let no_random = |e: &dyn std::fmt::Display| {
        StoreError::Crypto(format!("the operating system gave no random bytes: {e}"))
    };
    let id = hex::encode(<[u8; ID_BYTES]>::try_generate().map_err(|e| no_random(&e))?);
    let secret = Zeroizing::new(<[u8; SECRET_BYTES]>::try_generate().map_err(|e| no_random(&e))?);
    let secret_hex = Zeroizing::new(hex::encode(*secret));
    let record = ApiToken {
        id: id.clone(),
        secret_hash: hex::encode(hash(&secret_hex)),
        user_id: user.id.clone(),
        tenant_id: user.tenant_id.clone(),
        created_at: now,
        expires_at,
        last_used_at: None,
        revoked_at: None,
    };
    let text = Zeroizing::new(format!("{PREFIX}{id}_{}", secret_hex.as_str()));
    Ok((record, IssuedToken { text, id }))
}

fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Who a request acts as: what [`authenticate`] returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub email: String,
    pub role: Role,
    /// The user's tenant; `None` for a super admin (who names one per request).
    pub tenant_id: Option<String>,
    /// The public id of the token used.
    pub token_id: String,
}

/// Why [`authenticate`] failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The token is not one that may be used. Says nothing about why (the answer to a
    /// client is the same for every reason: HTTP 401); [`Refused::reason`] tells the
    /// log.
    #[error("invalid API token")]
    Refused(Refused),
    /// The store could not be read: not the client's fault (HTTP 500).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A refused token, with the reason for the log only.
#[derive(Debug)]
pub struct Refused {
    reason: Reason,
}

impl Refused {
    /// Why, for a log line: never the token or any part of its secret; the public id
    /// only when a stored token has it.
    pub fn reason(&self) -> &Reason {
        &self.reason
    }
}

/// The reasons a token is refused. Carries no part of the presented text except the
/// id of a stored token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    #[error("not a cmap API token (cmap_<16 hex>_<64 hex>)")]
    Malformed,
    #[error("no token has this id")]
    UnknownId,
    #[error("token `{0}`: the secret does not match")]
    WrongSecret(String),
    #[error("token `{id}` was revoked at {at}")]
    Revoked { id: String, at: DateTime<Utc> },
    #[error("token `{id}` expired at {at}")]
    Expired { id: String, at: DateTime<Utc> },
    #[error("token `{id}`: its user `{user}` does not exist")]
    UserMissing { id: String, user: String },
}

fn refuse(reason: Reason) -> AuthError {
    AuthError::Refused(Refused { reason })
}

/// Whether `text` is a token id: 16 lower-case hex digits.
pub fn is_id(text: &str) -> bool {
    text.len() == 2 * ID_BYTES && lower_hex(text)
}

fn lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The id and the secret of a well-formed token (see the module docs), else `None`.
/// Reads at most [`TOKEN_LEN`] bytes of anything.
fn parse(presented: &str) -> Option<(&str, &str)> {
    if presented.len() != TOKEN_LEN {
        return None;
    }
    let rest = presented.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_at_checked(2 * ID_BYTES)?;
    let secret = secret.strip_prefix('_')?;
    (is_id(id) && secret.len() == 2 * SECRET_BYTES && lower_hex(secret)).then_some((id, secret))
}

/// The principal `presented` (the text after `Bearer `) stands for at `now`; refused
/// when it is malformed, unknown, of the wrong secret, revoked, expired (at or before
/// `now`), or its user is gone. The secret is compared in
/// constant time. Records the token's use (`lastUsedAt`) at most once per
/// [`LAST_USED_EVERY`]; a failure to record it is logged, not fatal (the token is good).
pub fn authenticate(
    store: &dyn Store,
    presented: &str,
    now: DateTime<Utc>,
) -> Result<Principal, AuthError> {
    let (id, secret) = parse(presented).ok_or_else(|| refuse(Reason::Malformed))?;
    let presented_hash = hash(secret);
    // Ids are public (they name tokens in lists and revocations), so that an unknown
    // one is refused sooner than a wrong secret tells nothing worth hiding.
    let Some(token) = store.api_token(id)? else {
        return Err(refuse(Reason::UnknownId));
    };
    // A stored hash that is not 32 bytes of hex matches nothing.
    let stored: [u8; 32] = hex::decode(&token.secret_hash)
        .ok()
        .and_then(|b| b.try_into().ok())
        .unwrap_or([0u8; 32]);
    let matches: bool = presented_hash.ct_eq(&stored).into();
    if !matches {
        return Err(refuse(Reason::WrongSecret(token.id)));
    }
    // Revoked is revoked, whatever the clocks of the revoker and this process say.
    if let Some(at) = token.revoked_at {
        return Err(refuse(Reason::Revoked { id: token.id, at }));
    }
    if let Some(at) = token.expires_at.filter(|at| *at <= now) {
        return Err(refuse(Reason::Expired { id: token.id, at }));
    }
    let Some(user) = store.user(token.tenant_id.as_deref(), &token.user_id)? else {
        return Err(refuse(Reason::UserMissing {
            id: token.id,
            user: token.user_id,
        }));
    };
    let due = now - LAST_USED_EVERY;
    if token.last_used_at.is_none_or(|last| last <= due) {
        // The store checks again under its lock: of a burst, one request writes.
        if let Err(e) = store.touch_api_token(&token.id, now, due + Duration::microseconds(1)) {
            tracing::warn!(token = %token.id, error = %e, "cannot record the API token's last use");
        }
    }
    Ok(Principal {
        user_id: user.id,
        email: user.email,
        role: user.role,
        tenant_id: user.tenant_id,
        token_id: token.id,
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::store::{SledStore, Tenant};

    fn at(minute: u32, second: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, minute, second)
            .single()
            .expect("a valid time")
    }

    /// A store with tenant `acme`, its admin Ada, and Ada's first token.
    fn setup() -> (tempfile::TempDir, SledStore, User, IssuedToken) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SledStore::open(dir.path()).expect("open");
        store
            .add_tenant(&Tenant {
                id: "acme".into(),
                name: "Acme".into(),
                created_at: at(0, 0),
            })
            .expect("tenant");
        let ada = User {
            id: "u-ada".into(),
            email: "ada@acme.io".into(),
            role: Role::TenantAdmin,
            tenant_id: Some("acme".into()),
            created_at: at(0, 0),
        };
        let (record, issued) = mint(&ada, at(0, 0), None).expect("mint");
        store.add_user(&ada, &record).expect("user");
        (dir, store, ada, issued)
    }

    fn reason(result: Result<Principal, AuthError>) -> Reason {
        match result {
            Err(AuthError::Refused(r)) => r.reason().clone(),
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn minted_tokens_have_the_documented_shape_and_differ() {
        let (_dir, _store, ada, issued) = setup();
        let text = issued.expose();
        assert_eq!(text.len(), TOKEN_LEN);
        assert_eq!(parse(text).map(|(id, _)| id), Some(issued.id()));
        let (_, other) = mint(&ada, at(0, 0), None).expect("mint");
        assert_ne!(other.expose(), text);
        assert_ne!(other.id(), issued.id());
        let (record, _) = mint(&ada, at(0, 0), None).expect("mint");
        let shown = format!("{issued:?} {record:?}");
        let secret = &text[PREFIX.len() + 2 * ID_BYTES + 1..];
        assert!(!shown.contains(secret), "{shown}");
        assert!(shown.contains(issued.id()), "{shown}");
    }

    #[test]
    fn a_valid_token_gives_its_user_role_and_tenant() {
        let (_dir, store, ada, issued) = setup();
        let principal = authenticate(&store, issued.expose(), at(1, 0)).expect("valid");
        assert_eq!(
            principal,
            Principal {
                user_id: ada.id,
                email: ada.email,
                role: Role::TenantAdmin,
                tenant_id: Some("acme".into()),
                token_id: issued.id().into(),
            }
        );
    }

    #[test]
    fn malformed_tokens_of_many_shapes_are_refused() {
        let (_dir, store, _ada, issued) = setup();
        let good = issued.expose();
        let (id, secret) = parse(good).expect("well formed");
        let upper = good.to_uppercase();
        let cases = [
            String::new(),
            "cmap_".into(),
            "Bearer x".into(),
            good[1..].into(),
            format!("{good}0"),
            good[..good.len() - 1].into(),
            format!("cmap-{id}_{secret}"),
            format!("xmap_{id}_{secret}"),
            format!("cmap_{id}-{secret}"),
            format!("cmap_{id}{secret}_"),
            format!("cmap__{id}{secret}"),
            upper,
            format!("CMAP_{id}_{secret}"),
            format!("cmap_{}_{secret}", "g".repeat(16)),
            format!("cmap_{id}_{}", "z".repeat(64)),
            format!("cmap_{id}_{}é", &secret[..62]),
            format!("cmap_{id}_{} ", &secret[..63]),
            format!("cmap_{id}_{}\n", &secret[..63]),
            format!(" {}", &good[..good.len() - 1]),
            "\0".repeat(TOKEN_LEN),
            "a".repeat(100_000),
        ];
        for case in cases {
            assert_eq!(
                reason(authenticate(&store, &case, at(1, 0))),
                Reason::Malformed,
                "{case:?}"
            );
        }
    }

    #[test]
    fn refusals_say_nothing_about_why_and_log_no_secret() {
        let (_dir, store, ada, issued) = setup();
        let good = issued.expose();
        let (id, secret) = parse(good).expect("well formed");
        let mut wrong = secret.to_owned().into_bytes();
        wrong[0] = if wrong[0] == b'0' { b'1' } else { b'0' };
        let wrong = format!("cmap_{id}_{}", String::from_utf8(wrong).expect("ascii"));
        let unknown = format!("cmap_{}_{secret}", "0".repeat(16));

        let (expiring, expiring_token) = mint(&ada, at(0, 0), Some(at(5, 0))).expect("mint");
        store.add_api_token(&expiring).expect("add");
        let (revoked, revoked_token) = mint(&ada, at(0, 0), None).expect("mint");
        store.add_api_token(&revoked).expect("add");
        store
            .revoke_api_token(&revoked.id, at(2, 0))
            .expect("revoke");

        // (token, when, the reason for the log)
        let cases = [
            (wrong.as_str(), at(1, 0), Reason::WrongSecret(id.into())),
            (unknown.as_str(), at(1, 0), Reason::UnknownId),
            (
                revoked_token.expose(),
                at(3, 0),
                Reason::Revoked {
                    id: revoked.id.clone(),
                    at: at(2, 0),
                },
            ),
            (
                expiring_token.expose(),
                at(5, 0),
                Reason::Expired {
                    id: expiring.id.clone(),
                    at: at(5, 0),
                },
            ),
            (
                expiring_token.expose(),
                at(9, 0),
                Reason::Expired {
                    id: expiring.id.clone(),
                    at: at(5, 0),
                },
            ),
        ];
        for (token, now, want) in cases {
            let err = authenticate(&store, token, now).expect_err("refused");
            assert_eq!(err.to_string(), "invalid API token");
            let debug = format!("{err:?}");
            let logged = format!("{debug} {}", reason(Err(err)));
            assert!(!logged.contains(&token[PREFIX.len() + 17..]), "{logged}");
            assert_eq!(reason(authenticate(&store, token, now)), want);
        }
        // Before its expiry, the expiring token is good.
        assert!(authenticate(&store, expiring_token.expose(), at(4, 59)).is_ok());
    }

    #[test]
    fn last_use_is_recorded_at_most_once_a_minute() {
        let (_dir, store, _ada, issued) = setup();
        let last_used = || {
            store
                .api_token(issued.id())
                .expect("read")
                .expect("stored")
                .last_used_at
        };
        assert_eq!(last_used(), None);
        // (now, lastUsedAt after the request)
        let cases = [
            (at(1, 0), at(1, 0)),
            (at(1, 1), at(1, 0)),
            (at(1, 59), at(1, 0)),
            (at(2, 0), at(2, 0)),
            (at(2, 30), at(2, 0)),
            (at(4, 0), at(4, 0)),
            // A clock that went back writes nothing.
            (at(3, 0), at(4, 0)),
        ];
        for (now, want) in cases {
            authenticate(&store, issued.expose(), now).expect("valid");
            assert_eq!(last_used(), Some(want), "at {now}");
        }
    }
}
