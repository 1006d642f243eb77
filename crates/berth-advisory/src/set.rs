//! The imported set: advisories sorted by canonical crate name then id,
//! indexed by canonical crate name, with a digest of the whole content so
//! that callers can change ETags and caches when the set changes.

use std::collections::HashMap;
use std::ops::Range;

use berth_protocol::canonical_name;
use semver::Version;
use sha2::{Digest, Sha256};

use crate::error::ImportError;
use crate::model::Advisory;

/// The version of [`AdvisorySet::to_stored`]'s form.
const STORED_FORMAT: u32 = 1;

#[derive(serde::Serialize)]
struct StoredRef<'a> {
    format: u32,
    advisories: &'a [Advisory],
}

#[derive(serde::Deserialize)]
struct Stored {
    format: u32,
    advisories: Vec<Advisory>,
}

/// An immutable set of advisories. Two sets built from the same advisories
/// (in any order, from any input form) are equal and have the same digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvisorySet {
    /// Sorted by (canonical crate name, id).
    advisories: Vec<Advisory>,
    /// Canonical crate name -> its advisories' positions.
    index: HashMap<String, Range<usize>>,
    digest: String,
}

impl Default for AdvisorySet {
    fn default() -> Self {
        AdvisorySet::from_advisories(Vec::new())
    }
}

impl AdvisorySet {
    /// Builds a set. Advisories with the same id for the same crate (after
    /// name folding) are kept once: the first given.
    pub fn from_advisories(advisories: Vec<Advisory>) -> AdvisorySet {
        let mut keyed: Vec<(String, Advisory)> = advisories
            .into_iter()
            .map(|a| (canonical_name(&a.package), a))
            .collect();
        // Stable: of two equal keys the first given stays first.
        keyed.sort_by(|(ca, a), (cb, b)| ca.cmp(cb).then_with(|| a.id.cmp(&b.id)));
        keyed.dedup_by(|(cb, b), (ca, a)| ca == cb && a.id == b.id);

        let mut index: HashMap<String, Range<usize>> = HashMap::new();
        let mut hasher = Sha256::new();
        hasher.update(b"berth-advisory set v1\n");
        hasher.update((keyed.len() as u64).to_le_bytes());
        for (pos, (canon, advisory)) in keyed.iter().enumerate() {
            advisory.feed(&mut hasher);
            index
                .entry(canon.clone())
                .and_modify(|r| r.end = pos + 1)
                .or_insert(pos..pos + 1);
        }
        AdvisorySet {
            advisories: keyed.into_iter().map(|(_, a)| a).collect(),
            index,
            digest: hex::encode(hasher.finalize()),
        }
    }

    /// The advisories filed against a crate, withdrawn ones included, by id.
    /// `name` is folded as crate names fold (`Foo-Bar` is `foo_bar`).
    pub fn for_crate(&self, name: &str) -> &[Advisory] {
        match self.index.get(&canonical_name(name)) {
            Some(range) => &self.advisories[range.clone()],
            None => &[],
        }
    }

    /// The advisories that affect `version` of a crate (never a withdrawn
    /// one), by id. Informational ones included: see [`Advisory::kind`].
    pub fn affecting<'a, 'v>(
        &'a self,
        name: &str,
        version: &'v Version,
    ) -> impl Iterator<Item = &'a Advisory> + 'v
    where
        'a: 'v,
    {
        self.for_crate(name)
            .iter()
            .filter(move |a| a.affects(version))
    }

    /// Every advisory, by canonical crate name then id.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Advisory> {
        self.advisories.iter()
    }

    /// How many advisories (withdrawn ones included).
    pub fn len(&self) -> usize {
        self.advisories.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.advisories.is_empty()
    }

    /// How many crates have at least one advisory.
    pub fn crate_count(&self) -> usize {
        self.index.len()
    }

    /// The set in Berth's own stored form (JSON, versioned), for a caller
    /// that keeps an imported set and reads it back with
    /// [`AdvisorySet::from_stored`] (the digest survives the round trip).
    pub fn to_stored(&self) -> Vec<u8> {
        serde_json::to_vec(&StoredRef {
            format: STORED_FORMAT,
            advisories: &self.advisories,
        })
        .expect("an advisory always serializes")
    }

    /// Reads back what [`AdvisorySet::to_stored`] wrote.
    pub fn from_stored(bytes: &[u8]) -> Result<AdvisorySet, ImportError> {
        let bad = |reason: String| ImportError::malformed("(stored advisory set)", reason);
        let stored: Stored = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if stored.format != STORED_FORMAT {
            return Err(bad(format!(
                "stored form {} is not the form {STORED_FORMAT} this version of Berth reads",
                stored.format
            )));
        }
        Ok(AdvisorySet::from_advisories(stored.advisories))
    }

    /// The SHA-256 of the set's content, as 64 lowercase hex digits: equal
    /// for equal sets, different when any field of any advisory differs.
    pub fn digest(&self) -> &str {
        &self.digest
    }
}
