//! Index files ready to serve (body, gzip copy, validators), the bounded
//! in-memory cache of them, and the one entry point that finds a registry's
//! file through its [`Source`](crate::sources::Source).
//!
//! The cache is keyed by registry and crate and validated by a revision the
//! source supplies; it never holds more than `limits.index_cache_bytes`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::error::ServiceError;
use crate::{Berth, Identity};

/// An index file ready to serve.
#[derive(Debug, Clone)]
pub struct IndexFile {
    pub body: Bytes,
    /// The body gzip-compressed once, for clients that accept it (files
    /// under a kilobyte are not worth it).
    pub gzip: Option<Bytes>,
    /// A strong validator: changes with every change to the crate.
    pub etag: String,
    /// Unix seconds of the last change.
    pub last_modified: i64,
    /// `last_modified` as an HTTP date, formatted once.
    pub last_modified_http: String,
    /// The ETag of the gzip representation.
    pub gzip_etag: String,
}

struct Cached {
    revision: i64,
    /// `None` marks a crate changed by this node: nothing older than
    /// `revision` may be cached for it again.
    file: Option<Arc<IndexFile>>,
}

impl Cached {
    fn bytes(&self) -> u64 {
        self.file.as_ref().map_or(0, |f| f.body.len() as u64)
    }
}

pub(crate) struct IndexCache {
    files: RwLock<Cache>,
    /// Most bytes of index files kept.
    budget: u64,
}

#[derive(Default)]
struct Cache {
    /// foldhash, seeded per process: looked up on every index request
    /// (SipHash was a fortieth of a cached hit's instructions), and only
    /// names a registry serves are ever keys.
    map: HashMap<(i64, String), Cached, foldhash::fast::RandomState>,
    bytes: u64,
    /// Bumped by [`IndexCache::clear`]: a file read before it is refused.
    epoch: u64,
}

impl IndexCache {
    pub(crate) fn new(budget: u64) -> Self {
        Self {
            files: RwLock::new(Cache::default()),
            budget,
        }
    }

    /// The cached file if it is at `revision` (or at any revision when
    /// `None`: only for a node that sees every change itself).
    pub(crate) fn get(&self, key: &(i64, String), revision: Option<i64>) -> Option<Arc<IndexFile>> {
        let files = self.files.read().ok()?;
        let c = files.map.get(key)?;
        if revision.is_some_and(|r| r != c.revision) {
            return None;
        }
        c.file.clone()
    }

    /// Forgets a crate's file after a change committed through this node,
    /// and refuses any older file a concurrent reader may still bring.
    pub(crate) fn invalidate(&self, key: (i64, String), revision: i64) {
        let Ok(mut cache) = self.files.write() else {
            return;
        };
        if cache.map.get(&key).is_some_and(|c| c.revision > revision) {
            return;
        }
        if let Some(old) = cache.map.insert(
            key,
            Cached {
                revision,
                file: None,
            },
        ) {
            cache.bytes -= old.bytes();
        }
    }

    /// The epoch to pass to [`put`](Self::put): read it before reading the
    /// file from the database.
    pub(crate) fn epoch(&self) -> u64 {
        self.files.read().map_or(0, |c| c.epoch)
    }

    /// Forgets every file and tombstone, and refuses any file read before
    /// (for a node that may have missed changes).
    pub(crate) fn clear(&self) {
        if let Ok(mut cache) = self.files.write() {
            cache.map.clear();
            cache.bytes = 0;
            cache.epoch += 1;
        }
    }

    /// Caches `file`, read from the database at `revision` after
    /// [`epoch`](Self::epoch) answered `epoch`, unless something newer is
    /// known.
    pub(crate) fn put(&self, key: (i64, String), revision: i64, file: Arc<IndexFile>, epoch: u64) {
        let size = file.body.len() as u64;
        if size > self.budget / 2 {
            // Larger than half the budget: kept nowhere, built per request
            // (one at a time per crate). `limits.max_index_file_bytes` keeps
            // files under a quarter of the default budget.
            return;
        }
        let Ok(mut cache) = self.files.write() else {
            return;
        };
        if cache.epoch != epoch || cache.map.get(&key).is_some_and(|c| c.revision > revision) {
            return;
        }
        if let Some(old) = cache.map.remove(&key) {
            cache.bytes -= old.bytes();
        }
        if cache.bytes + size > self.budget {
            // Evict arbitrary files until half the budget is free. Tombstones
            // (no bytes) stay: they refuse older files still being read.
            let target = self.budget / 2;
            let victims: Vec<(i64, String)> = cache
                .map
                .iter()
                .filter(|(_, c)| c.file.is_some())
                .scan(cache.bytes, |bytes, (k, c)| {
                    (*bytes > target).then(|| {
                        *bytes -= c.bytes();
                        k.clone()
                    })
                })
                .collect();
            for k in victims {
                if let Some(c) = cache.map.remove(&k) {
                    cache.bytes -= c.bytes();
                }
            }
        }
        cache.bytes += size;
        cache.map.insert(
            key,
            Cached {
                revision,
                file: Some(file),
            },
        );
    }
}

fn gzip(bytes: &[u8]) -> Option<Bytes> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4),
        flate2::Compression::default(),
    );
    enc.write_all(bytes).ok()?;
    enc.finish().ok().map(Bytes::from)
}

/// Bodies above this are hashed and compressed on the blocking pool, off the
/// async workers.
const INLINE_BUILD_BYTES: usize = 64 * 1024;

impl IndexFile {
    /// Makes a file ready to serve: a strong ETag from `seed` (what changes
    /// with every change, e.g. a revision) and a hash of the body, the gzip
    /// copy, and Last-Modified from `updated_at` (Unix seconds).
    pub(crate) async fn build(
        body: Bytes,
        seed: &str,
        updated_at: i64,
    ) -> Result<IndexFile, ServiceError> {
        let seed = seed.to_string();
        let small = body.len() <= INLINE_BUILD_BYTES;
        let make = move || {
            let digest = hex::encode(&Sha256::digest(&body)[..8]);
            let gzip = (body.len() >= 1024).then(|| gzip(&body)).flatten();
            let etag = format!("\"{seed}-{digest}\"");
            IndexFile {
                gzip,
                body,
                gzip_etag: format!("{}-gz\"", etag.trim_end_matches('"')),
                etag,
                last_modified: updated_at,
                last_modified_http: httpdate::fmt_http_date(
                    std::time::UNIX_EPOCH
                        + std::time::Duration::from_secs(updated_at.max(0) as u64),
                ),
            }
        };
        if small {
            return Ok(make());
        }
        tokio::task::spawn_blocking(make)
            .await
            .map_err(|e| ServiceError::Internal(format!("index build task failed: {e}")))
    }
}

impl Berth {
    /// The index file at `path` (cargo's path rules) in a registry.
    pub async fn index_file(
        &self,
        registry: &str,
        who: Option<&Identity>,
        path: &str,
    ) -> Result<Arc<IndexFile>, ServiceError> {
        let reg = self.registry(registry)?;
        self.authorize_read(reg, who)?;
        let not_found = || ServiceError::NotFound(format!("no crate at index path `{path}`"));
        let name = berth_protocol::index::crate_from_index_path(path).ok_or_else(not_found)?;
        let at = self.at_for(reg, who);
        if reg.policed {
            self.supply.require_complete()?;
        }
        if reg.policed && reg.policy.is_some() && reg.source.as_virtual().is_none() {
            // The registry's own file under its own policy: a hit in the
            // filtered cache costs one map look-up.
            let file = reg
                .source
                .index_file(at, &name)
                .await?
                .ok_or_else(not_found)?;
            let now = self.clock.now_unix();
            let generation = self.supply.generation();
            if let Some(hit) = self
                .supply
                .filtered
                .hit(reg.id, &name, &file, generation, now)
            {
                return Ok(hit.file.clone());
            }
            // Boxed: what only a miss needs.
            let policed = Box::pin(self.police(reg, reg, &name, file)).await?;
            return Ok(policed.file.clone());
        }
        if reg.policed {
            // A virtual registry over a policed member.
            let policed = Box::pin(self.policed_file(at, &name)).await?;
            return Ok(policed.ok_or_else(not_found)?.file.clone());
        }
        reg.source
            .index_file(at, &name)
            .await?
            .ok_or_else(not_found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn file(body: &'static str) -> Arc<IndexFile> {
        Arc::new(IndexFile::build(Bytes::from(body), "1", 0).await.unwrap())
    }

    #[tokio::test]
    async fn reads_begun_before_a_clear_or_a_newer_change_are_refused() {
        let cache = IndexCache::new(1 << 20);
        let key = (1, "a".to_string());
        let before = cache.epoch();
        cache.clear();
        cache.put(key.clone(), 1, file("old\n").await, before);
        assert!(cache.get(&key, None).is_none(), "read before the clear");
        let now = cache.epoch();
        cache.invalidate(key.clone(), 2);
        cache.put(key.clone(), 1, file("old\n").await, now);
        assert!(cache.get(&key, None).is_none(), "older than the tombstone");
        cache.put(key.clone(), 2, file("new\n").await, now);
        assert_eq!(&cache.get(&key, None).unwrap().body[..], b"new\n");
    }

    #[tokio::test]
    async fn eviction_keeps_tombstones() {
        let cache = IndexCache::new(64);
        let epoch = cache.epoch();
        cache.invalidate((1, "gone".into()), 5);
        for i in 0..20 {
            cache.put((1, format!("c{i}")), 1, file("0123456789\n").await, epoch);
        }
        cache.put((1, "gone".into()), 4, file("stale\n").await, epoch);
        assert!(cache.get(&(1, "gone".into()), None).is_none());
    }
}
