//! How a shard and its index entries are encoded as sled values: the layout that lets
//! a new shard cost four keys and an unchanged record one read (docs/performance.md).
//!
//! - A shard's value is its JSON (the spec's `Shard`) with one member more, `_index`:
//!   the [`ShardMeta`] listing the index entries it owns, so that replacing or deleting
//!   it finds them with the read that finds the shard. `Shard`'s decoder ignores the
//!   member, so every reader of shards sees the spec's shape.
//! - An `ext` entry is `{"id": SHARD_ID, "version": N, "content": HEX}`: the shard that
//!   owns the external id, with its version and content fingerprint
//!   ([`crate::store::content_hash`]), so that [`crate::store::Store::shard_fingerprint`]
//!   reads one key.
//! - Every other index entry (`type`, `ref`, `dedupe`) is the JSON string of the id.
//!
//! Stores written before this layout kept the meta in a key of its own
//! (`T/meta/SHARD_ID`) and every index entry as a bare string. Both are still read:
//! [`IndexEntry`] takes either form, and a shard without `_index` has its meta under the
//! old key. A shard's next write moves it to this layout (and removes the old key), so
//! no migration pass reads the whole store at open.
//!
//! ```text
//! acme/shard/S1 -> {"id":"S1",...,"version":2,"_index":{"shardType":"c_contact","sources":[...]}}
//! acme/ext/salesforce/Contact/003A -> {"id":"S1","version":2,"content":"9f86d081884c7d65..."}
//! acme/ref/salesforce/c_contact/003A -> "S1"
//! ```

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::{Shard, ShardMeta};

/// A shard as stored: the shard's own members, then `_index`.
#[derive(Serialize)]
pub(super) struct StoredShard<'a> {
    #[serde(flatten)]
    pub shard: &'a Shard,
    #[serde(rename = "_index")]
    pub index: &'a ShardMeta,
}

/// What a stored shard says about its index entries, read without building its data
/// (the other members are skipped).
#[derive(Deserialize)]
pub(super) struct IndexOf {
    #[serde(rename = "shardTypeId")]
    pub shard_type: String,
    /// Absent in shards written before the meta moved into them.
    #[serde(rename = "_index")]
    pub index: Option<ShardMeta>,
}

/// A shard's version, read without building its data.
#[derive(Deserialize)]
pub(super) struct StoredVersion {
    pub version: u64,
}

/// An `ext` entry as written.
#[derive(Serialize)]
pub(super) struct ExtEntry<'a> {
    pub id: &'a str,
    pub version: u64,
    /// Hex of the 16-byte content fingerprint.
    pub content: String,
}

/// Any index entry as read: the shard it names, and for `ext` entries written in this
/// layout that shard's version and content fingerprint.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct IndexEntry {
    pub id: String,
    pub fingerprint: Option<(u64, [u8; 16])>,
}

impl<'de> Deserialize<'de> for IndexEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<IndexEntry, D::Error> {
        d.deserialize_any(EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = IndexEntry;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a shard id, or an object with id, version and content")
    }

    fn visit_str<E: de::Error>(self, id: &str) -> Result<IndexEntry, E> {
        Ok(IndexEntry {
            id: id.to_owned(),
            fingerprint: None,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<IndexEntry, A::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Fields {
            id: String,
            version: u64,
            content: String,
        }
        let f = Fields::deserialize(de::value::MapAccessDeserializer::new(map))?;
        let content = hex::decode(&f.content)
            .ok()
            .and_then(|bytes| <[u8; 16]>::try_from(bytes).ok())
            .ok_or_else(|| de::Error::custom("content is not 32 hex digits"))?;
        Ok(IndexEntry {
            id: f.id,
            fingerprint: Some((f.version, content)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sled_store::StoredSource;
    use serde_json::json;

    #[test]
    fn index_entries_are_read_in_either_form_and_bad_ones_are_refused() {
        let read = |v: serde_json::Value| serde_json::from_value::<IndexEntry>(v);
        assert_eq!(
            read(json!("S1")).unwrap(),
            IndexEntry {
                id: "S1".into(),
                fingerprint: None
            }
        );
        let hex = "00112233445566778899aabbccddeeff";
        assert_eq!(
            read(json!({"id": "S1", "version": 3, "content": hex})).unwrap(),
            IndexEntry {
                id: "S1".into(),
                fingerprint: Some((
                    3,
                    [
                        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
                        0xcc, 0xdd, 0xee, 0xff
                    ]
                ))
            }
        );
        for bad in [
            json!(3),
            json!({"id": "S1"}),
            json!({"id": "S1", "version": 3, "content": "abc"}),
            json!({"id": "S1", "version": 3, "content": "zz112233445566778899aabbccddeeff"}),
            json!({"id": "S1", "version": -1, "content": hex}),
            json!({"id": "S1", "version": 3, "content": hex, "more": 1}),
        ] {
            assert!(read(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_stored_shard_is_the_spec_shape_plus_its_index_and_reads_back_both_ways() {
        let shard: Shard = serde_json::from_value(json!({
            "id": "S1", "tenantId": "acme", "shardTypeId": "c_contact",
            "structuredData": {"email": "a@x.io"}, "externalRelationships": [],
            "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z",
            "version": 2
        }))
        .unwrap();
        let meta = ShardMeta {
            shard_type: "c_contact".into(),
            sources: vec![StoredSource {
                integration: "salesforce".into(),
                external_type: "Contact".into(),
                shard_type: "c_contact".into(),
                external_id: "003A".into(),
            }],
            ..ShardMeta::default()
        };
        let bytes = serde_json::to_vec(&StoredShard {
            shard: &shard,
            index: &meta,
        })
        .unwrap();
        expect_test::expect![[r#"{"id":"S1","tenantId":"acme","shardTypeId":"c_contact","structuredData":{"email":"a@x.io"},"externalRelationships":[],"createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:00Z","version":2,"_index":{"shardType":"c_contact","sources":[{"integration":"salesforce","externalType":"Contact","shardType":"c_contact","externalId":"003A"}]}}"#]]
        .assert_eq(std::str::from_utf8(&bytes).unwrap());
        assert_eq!(serde_json::from_slice::<Shard>(&bytes).unwrap(), shard);
        let index: IndexOf = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(index.shard_type, "c_contact");
        assert_eq!(index.index.unwrap().sources, meta.sources);
        // A shard written before: no `_index`.
        let old: IndexOf = serde_json::from_slice(&serde_json::to_vec(&shard).unwrap()).unwrap();
        assert!(old.index.is_none());
    }
}
