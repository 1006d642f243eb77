//! Index files: the concatenated lines of a crate's versions, with their
//! validators, cached in memory.
//!
//! The cache is keyed by crate and checked against the crate's revision in
//! the database on every request, so a node never serves a file older than
//! the last committed change, whichever node made it. It never holds more
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
    /// A strong validator: changes with every change to the crate.
    pub etag: String,
    /// Unix seconds of the last change.
    pub last_modified: i64,
}

struct Cached {
    revision: i64,
    file: Arc<IndexFile>,
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

    fn get(&self, key: &(i64, String), revision: i64) -> Option<Arc<IndexFile>> {
        let files = self.files.read().ok()?;
        files
            .map
            .get(key)
            .filter(|c| c.revision == revision)
            .map(|c| c.file.clone())
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
            cache.bytes -= old.file.body.len() as u64;
        }
        if cache.bytes + size > self.budget {
            // Evict arbitrary entries until half the budget is free.
            let target = self.budget / 2;
            let victims: Vec<(i64, String)> = cache
                .map
                .iter()
                .scan(cache.bytes, |bytes, (k, c)| {
                    (*bytes > target).then(|| {
                        *bytes -= c.file.body.len() as u64;
                        k.clone()
                    })
                })
                .collect();
            for k in victims {
                if let Some(c) = cache.map.remove(&k) {
                    cache.bytes -= c.file.body.len() as u64;
                }
            }
        }
        cache.bytes += size;
        cache.map.insert(key, Cached { revision, file });
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
        let canon = berth_protocol::canonical_name(&name);
        let key = (reg.id, canon);
        let state = self
            .meta
            .index_state(reg.id, &key.1)
            .await?
            .ok_or_else(not_found)?;
        if let Some(file) = self.index_cache.get(&key, state.revision) {
            return Ok(file);
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
        let file = Arc::new(IndexFile {
            body: Bytes::from(body),
            etag: format!("\"{:x}-{:x}-{digest}\"", state.crate_id, state.revision),
            last_modified: state.updated_at,
        });
        self.index_cache.put(key, state.revision, file.clone());
        Ok(file)
    }
}
