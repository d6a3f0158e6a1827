//! A sled tree whose reads are counted: every key a read returns or probes adds one to
//! the store's count ([`super::SledStore::keys_read`]), so a test can show that a page
//! of a list reads O(limit) keys however many the store holds. One relaxed atomic add
//! per key: nothing next to the read itself.

use std::ops::RangeBounds;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub(super) struct Tree {
    inner: sled::Tree,
    reads: Arc<AtomicU64>,
}

impl Tree {
    pub(super) fn new(inner: sled::Tree, reads: Arc<AtomicU64>) -> Tree {
        Tree { inner, reads }
    }

    fn count(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn get(&self, k: impl AsRef<[u8]>) -> sled::Result<Option<sled::IVec>> {
        self.count();
        self.inner.get(k)
    }

    pub(super) fn contains_key(&self, k: impl AsRef<[u8]>) -> sled::Result<bool> {
        self.count();
        self.inner.contains_key(k)
    }

    /// The entries under `prefix`, in key order (`.rev()` for the reverse).
    pub(super) fn scan_prefix(&self, prefix: impl AsRef<[u8]>) -> Counted<'_> {
        Counted {
            inner: self.inner.scan_prefix(prefix),
            reads: &self.reads,
        }
    }

    /// The entries in `range`, in key order (`.rev()` for the reverse).
    pub(super) fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Counted<'_> {
        Counted {
            inner: self.inner.range(range),
            reads: &self.reads,
        }
    }

    /// The tree itself, for tests that write around the store.
    #[cfg(test)]
    pub(super) fn raw(&self) -> &sled::Tree {
        &self.inner
    }

    pub(super) fn apply_batch(&self, batch: sled::Batch) -> sled::Result<()> {
        self.inner.apply_batch(batch)
    }
}

/// A sled iterator that counts the entries it yields.
pub(super) struct Counted<'a> {
    inner: sled::Iter,
    reads: &'a AtomicU64,
}

impl Iterator for Counted<'_> {
    type Item = sled::Result<(sled::IVec, sled::IVec)>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.inner.next()?;
        self.reads.fetch_add(1, Ordering::Relaxed);
        Some(item)
    }
}

impl DoubleEndedIterator for Counted<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let item = self.inner.next_back()?;
        self.reads.fetch_add(1, Ordering::Relaxed);
        Some(item)
    }
}
