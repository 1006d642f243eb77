//! Index files: the concatenated lines of a crate's versions, with their
//! validators, cached in memory.
//!
//! The cache is keyed by crate. On PostgreSQL (many nodes) each hit is
//! checked against the crate's revision in the database, so a node never
//! serves a file older than the last committed change, whichever node made
//! it. On SQLite the serving process is the only writer (a lock file makes
//! sure), so it invalidates entries itself when a change commits and a hit
//! costs no database round trip. It never holds more
//! than `limits.index_cache_bytes` of files.

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
    map: HashMap<(i64, String), Cached>,
    bytes: u64,
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
    fn get(&self, key: &(i64, String), revision: Option<i64>) -> Option<Arc<IndexFile>> {
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

    fn put(&self, key: (i64, String), revision: i64, file: Arc<IndexFile>) {
        let size = file.body.len() as u64;
        if size > self.budget / 4 {
            return; // too large to be worth keeping
        }
        let Ok(mut cache) = self.files.write() else {
            return;
        };
        if cache.map.get(&key).is_some_and(|c| c.revision > revision) {
            return;
        }
        if let Some(old) = cache.map.remove(&key) {
            cache.bytes -= old.bytes();
        }
        if cache.bytes + size > self.budget {
            // Evict arbitrary entries until half the budget is free.
            let target = self.budget / 2;
            let victims: Vec<(i64, String)> = cache
                .map
                .iter()
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
        let canon = berth_protocol::canonical_name(&name);
        let key = (reg.id, canon);
        if self.sole_writer {
            // Every change goes through this process, which invalidates the
            // cache before acknowledging it: a hit needs no database.
            if let Some(file) = self.index_cache.get(&key, None) {
                return Ok(file);
            }
        } else {
            let state = self
                .meta
                .index_state(reg.id, &key.1)
                .await?
                .ok_or_else(not_found)?;
            if let Some(file) = self.index_cache.get(&key, Some(state.revision)) {
                return Ok(file);
            }
        }
        let (state, lines) = self
            .meta
            .index_file(reg.id, &key.1)
            .await?
            .ok_or_else(not_found)?;
        let mut body = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for line in &lines {
            body.push_str(line);
            body.push('\n');
        }
        let digest = hex::encode(&Sha256::digest(body.as_bytes())[..8]);
        let gzip = (body.len() >= 1024)
            .then(|| gzip(body.as_bytes()))
            .flatten();
        let etag = format!("\"{:x}-{:x}-{digest}\"", state.crate_id, state.revision);
        let file = Arc::new(IndexFile {
            gzip,
            body: Bytes::from(body),
            gzip_etag: format!("{}-gz\"", etag.trim_end_matches('"')),
            etag,
            last_modified: state.updated_at,
            last_modified_http: httpdate::fmt_http_date(
                std::time::UNIX_EPOCH
                    + std::time::Duration::from_secs(state.updated_at.max(0) as u64),
            ),
        });
        self.index_cache.put(key, state.revision, file.clone());
        Ok(file)
    }
}
