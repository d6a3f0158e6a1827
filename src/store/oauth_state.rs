//! The pending OAuth connect flows (spec: "OAuth Flow", `OAuthState`): what a provider's
//! callback needs to finish a flow, kept under the SHA-256 of the flow's `state`.
//!
//! The store never holds the `state` itself: whoever reads the store cannot answer a
//! callback. The PKCE verifier is a secret too, so it is stored sealed with the keyring
//! (see `engine::connect`). States are global (the callback knows no tenant before it
//! reads one), single-use ([`crate::store::Store::take_oauth_state`] removes what it
//! returns) and expire; expired ones are pruned as new ones are stored.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{EncryptedCredentials, StoreError};

/// How many expired states [`crate::store::Store::put_oauth_state`] removes at most per
/// call: bounded work per call, and more than one, so expired states cannot pile up
/// faster than new ones arrive.
pub const PRUNE_PER_PUT: usize = 16;

/// One pending connect flow (spec: `OAuthState`; its `nonce` is the key's hash).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthState {
    /// The tenant whose connection the flow connects (empty: a system-scope connection).
    pub tenant_id: String,
    /// Who started the flow.
    pub user_id: String,
    pub integration_id: String,
    /// The connection id the tokens are stored under.
    pub connection_id: String,
    /// Where the user's browser goes once the flow ends (an absolute http(s) URL).
    pub return_url: String,
    /// The `redirect_uri` sent to the provider: the token request repeats it exactly
    /// (RFC 6749 section 4.1.3).
    pub callback_url: String,
    /// The PKCE code verifier (RFC 7636), sealed by the keyring; `None` without PKCE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkce_verifier: Option<EncryptedCredentials>,
    pub created_at: DateTime<Utc>,
    /// After this instant the state is refused (and removed).
    pub expires_at: DateTime<Utc>,
}

/// Refuses a key that is not a SHA-256 in lower-case hex (64 digits): what the engine
/// hashes a state into, and nothing a caller could use to reach other keys.
pub fn check_hash(hash: &str) -> Result<(), StoreError> {
    if hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(StoreError::Invalid(
            "an OAuth state key must be a SHA-256 in lower-case hex (64 digits)".into(),
        ))
    }
}
