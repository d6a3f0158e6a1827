//! The sled implementation of [`Store`](super::Store).

/// The embedded store in one data directory.
pub struct SledStore {
    _db: sled::Db,
}
