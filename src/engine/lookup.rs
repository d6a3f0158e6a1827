//! `lookup X in shard T` backed by stored shards.

use crate::runtime::{LookupError, ShardLookup, StoredShard};
use crate::store::Store;

/// Finds shards of one tenant in the store.
pub struct StoreLookup<'a> {
    pub store: &'a dyn Store,
    pub tenant: &'a str,
    /// The integration to look under when the schema names none.
    pub default_integration: &'a str,
}

impl ShardLookup for StoreLookup<'_> {
    fn find(
        &self,
        shard_type: &str,
        integration: Option<&str>,
        external_id: &str,
    ) -> Result<Option<StoredShard>, LookupError> {
        let integration = integration.unwrap_or(self.default_integration);
        match self
            .store
            .shard_by_type(self.tenant, integration, shard_type, external_id)
        {
            Ok(found) => Ok(found.map(|s| StoredShard {
                id: s.id,
                structured_data: s.structured_data,
            })),
            Err(e) => Err(LookupError {
                message: e.to_string(),
            }),
        }
    }
}
