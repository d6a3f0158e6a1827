//! A shard's content fingerprint: what lets an unchanged record be recognised without
//! reading and decoding its shard (docs/performance.md).
//!
//! The fingerprint is the first 128 bits of SHA-256 over the JSON of the shard's
//! `structuredData`, in its field order. Equal fingerprints mean equal content (a
//! collision of 128 bits of SHA-256 is not a practical concern); different ones only
//! send the caller to the full comparison, so an order change is slow, never wrong.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The content fingerprint of a shard's `structuredData` (16 bytes).
pub fn content_hash(data: &Map<String, Value>) -> [u8; 16] {
    let mut hasher = Sha256::new();
    // Serialising a `Map` of JSON values to a writer cannot fail.
    let _ = serde_json::to_writer(HashWriter(&mut hasher), data);
    let digest = hasher.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// Feeds the serialiser's output to the hash without building the JSON text.
struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What the store holds under a source key, without the shard itself
/// ([`super::Store::shard_fingerprint`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    pub shard_id: String,
    /// The shard's version.
    pub version: u64,
    /// [`content_hash`] of its `structuredData` at that version.
    pub content: [u8; 16],
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn equal_content_equal_hash_and_any_change_shows() {
        let a = map(json!({"email": "ada@example.com", "name": "Ada", "n": 1}));
        assert_eq!(content_hash(&a), content_hash(&a.clone()));
        for changed in [
            json!({"email": "ada@example.com", "name": "Ada", "n": 2}),
            json!({"email": "ada@example.com", "name": "Ada"}),
            json!({"email": "ada@example.com", "name": "Ada", "n": 1, "x": null}),
            json!({"email": "ada@example.com", "name": "Ada", "n": "1"}),
        ] {
            assert_ne!(content_hash(&a), content_hash(&map(changed)));
        }
        // Known value: the fingerprint is stored, so it must never drift between builds.
        assert_eq!(
            hex::encode(content_hash(&map(json!({"a": 1})))),
            hex::encode(&Sha256::digest(br#"{"a":1}"#)[..16])
        );
    }
}
