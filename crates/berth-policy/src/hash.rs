//! The digests' one encoding: SHA-256 over length-prefixed strings, so that
//! two inputs feed the same bytes only when they are equal, as lowercase hex.

use sha2::{Digest, Sha256};

/// A digest being fed.
pub(crate) struct Feed(Sha256);

impl Feed {
    /// Starts a digest with a tag naming what is hashed and its encoding's
    /// version (change it when the encoding changes).
    pub(crate) fn new(tag: &str) -> Feed {
        let mut feed = Feed(Sha256::new());
        feed.put(tag);
        feed
    }

    /// Feeds one string, prefixed by its length.
    pub(crate) fn put(&mut self, s: &str) {
        self.0.update((s.len() as u64).to_le_bytes());
        self.0.update(s.as_bytes());
    }

    /// Feeds a list's length, then each item.
    pub(crate) fn list<S: AsRef<str>>(&mut self, items: &[S]) {
        self.put(&items.len().to_string());
        items.iter().for_each(|s| self.put(s.as_ref()));
    }

    /// The digest as 64 lowercase hex digits.
    pub(crate) fn finish(self) -> String {
        hex::encode(self.0.finalize())
    }
}
