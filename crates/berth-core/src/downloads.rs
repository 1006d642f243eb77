//! Serving `.crate` files and counting downloads.
//!
//! Counts are buffered in memory and written in batches, so a download never
//! waits on a database write. A version's blob never changes, so which blob
//! a version has and the bytes of small hot blobs are cached in memory
//! (bounded, verified against their sha256 when read); other blobs stream
//! straight from the blob store without being read whole into memory.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};

use berth_store::MetaStore;
use bytes::Bytes;
use futures::stream::BoxStream;

use crate::error::ServiceError;
use crate::{Berth, Identity};

/// A `.crate` ready to send.
pub struct Download {
    pub size: u64,
    /// sha256 hex of the bytes (the index `cksum`).
    pub cksum: String,
    pub body: DownloadBody,
}

/// The bytes of a download.
pub enum DownloadBody {
    /// Already in memory (a small blob, cached): sent in one piece with
    /// the headers.
    Whole(Bytes),
    /// Read from the blob store as it is sent.
    Stream(BoxStream<'static, Result<Bytes, std::io::Error>>),
}

/// Immutable facts kept in memory: version -> blob, and small hot blobs.
pub(crate) struct DownloadCache {
    infos: RwLock<HashMap<(i64, String, String), berth_store::DownloadInfo>>,
    blobs: RwLock<Blobs>,
    /// Most bytes of blobs kept.
    budget: u64,
}

/// The small blobs kept, by sha256, and where their bytes live.
#[derive(Default)]
struct Blobs {
    map: HashMap<String, Bytes>,
    /// Bytes kept since the last clear: also the next free offset in
    /// `arena`.
    total: u64,
    /// Where kept bytes are copied (Linux): memory a plain connection sends
    /// with `sendfile`. None before the first blob, or where no arena can be
    /// made (the bytes then stay on the heap).
    #[cfg(target_os = "linux")]
    arena: Option<std::sync::Arc<crate::sendable::Arena>>,
    /// Set once making an arena failed: not tried again.
    #[cfg(target_os = "linux")]
    no_arena: bool,
}

const MAX_CACHED_INFOS: usize = 200_000;

impl DownloadCache {
    pub(crate) fn new(budget: u64) -> Self {
        Self {
            infos: RwLock::new(HashMap::new()),
            blobs: RwLock::new(Blobs::default()),
            budget,
        }
    }

    pub(crate) fn info(&self, key: &(i64, String, String)) -> Option<berth_store::DownloadInfo> {
        self.infos.read().ok()?.get(key).cloned()
    }

    pub(crate) fn put_info(&self, key: (i64, String, String), info: berth_store::DownloadInfo) {
        if let Ok(mut infos) = self.infos.write() {
            if infos.len() >= MAX_CACHED_INFOS {
                infos.clear();
            }
            infos.insert(key, info);
        }
    }

    fn blob(&self, digest: &str) -> Option<Bytes> {
        self.blobs.read().ok()?.map.get(digest).cloned()
    }

    /// Whether a blob of `size` bytes is small enough to keep.
    fn keeps(&self, size: u64) -> bool {
        size <= self.budget / 16
    }

    /// Keeps a small blob and returns the bytes to serve it from: the
    /// kept copy (in the arena where there is one) or `bytes` themselves.
    fn put_blob(&self, digest: String, bytes: Bytes) -> Bytes {
        let size = bytes.len() as u64;
        if !self.keeps(size) {
            return bytes;
        }
        let Ok(mut guard) = self.blobs.write() else {
            return bytes;
        };
        let blobs = &mut *guard;
        if let Some(kept) = blobs.map.get(&digest) {
            return kept.clone();
        }
        if blobs.total + size > self.budget {
            // Full: start again (a blob still being sent keeps its bytes,
            // and its arena, until it is sent).
            blobs.map.clear();
            blobs.total = 0;
            #[cfg(target_os = "linux")]
            {
                blobs.arena = None;
            }
        }
        #[cfg(target_os = "linux")]
        let bytes = self.copy_to_arena(blobs, bytes);
        blobs.map.insert(digest, bytes.clone());
        blobs.total += size;
        bytes
    }

    /// `bytes` copied into the arena at the next free offset, making the
    /// arena first if there is none; `bytes` as they are where no arena
    /// can be had.
    #[cfg(target_os = "linux")]
    fn copy_to_arena(&self, blobs: &mut Blobs, bytes: Bytes) -> Bytes {
        if blobs.arena.is_none() && !blobs.no_arena && self.budget > 0 {
            match crate::sendable::Arena::new(self.budget) {
                Ok(arena) => blobs.arena = Some(arena),
                Err(e) => {
                    tracing::warn!(
                        error = %e,
                        "cached .crate files stay on the heap: no memory file \
                         for sendfile could be made"
                    );
                    blobs.no_arena = true;
                }
            }
        }
        match &blobs.arena {
            Some(arena) => arena.copy_in(blobs.total, &bytes).unwrap_or(bytes),
            None => bytes,
        }
    }
}

/// Download counts not yet written: `(crate_id, version_id) -> n`.
#[derive(Default)]
pub(crate) struct DownloadCounter {
    pending: Mutex<HashMap<(i64, i64), i64>>,
}

impl DownloadCounter {
    fn record(&self, crate_id: i64, version_id: i64) {
        if let Ok(mut map) = self.pending.lock() {
            *map.entry((crate_id, version_id)).or_insert(0) += 1;
        }
    }

    pub(crate) async fn flush(&self, meta: &MetaStore) -> Result<(), ServiceError> {
        let mut batch: Vec<(i64, i64, i64)> = match self.pending.lock() {
            Ok(mut map) => map.drain().map(|((c, v), n)| (c, v, n)).collect(),
            Err(_) => return Ok(()),
        };
        // One order for every node, so concurrent flushes never deadlock.
        batch.sort_unstable();
        let day = berth_store::now_unix() / 86_400;
        if let Err(e) = meta.add_downloads(&batch, day).await {
            // Put the counts back so that a passing failure loses nothing.
            if let Ok(mut map) = self.pending.lock() {
                for (c, v, n) in batch {
                    *map.entry((c, v)).or_insert(0) += n;
                }
            }
            return Err(e.into());
        }
        Ok(())
    }
}

impl Berth {
    /// Opens the `.crate` of `name@vers` for streaming and, when `count`,
    /// counts the download (a HEAD request is not a download).
    pub async fn download(
        &self,
        registry: &str,
        who: Option<&Identity>,
        name: &str,
        vers: &str,
        count: bool,
    ) -> Result<Download, ServiceError> {
        let reg = self.registry(registry)?;
        self.authorize_read(reg, who)?;
        let not_found =
            || ServiceError::NotFound(format!("crate `{name}` has no version `{vers}`"));
        let info = reg
            .source
            .locate(self.at(reg), name, vers)
            .await?
            .ok_or_else(not_found)?;
        if let (true, Some((crate_id, version_id))) = (count, info.counted) {
            self.downloads.record(crate_id, version_id);
        }
        if let Some(bytes) = self.download_cache.blob(&info.cksum) {
            return Ok(Download {
                size: bytes.len() as u64,
                cksum: info.cksum,
                body: DownloadBody::Whole(bytes),
            });
        }
        // Boxed: a download served from memory does not carry the blob
        // store's state.
        Box::pin(self.download_from_store(name, vers, info)).await
    }

    /// A download whose bytes are not in memory: read from the blob store
    /// (small ones kept after their checksum is checked), or streamed.
    async fn download_from_store(
        &self,
        name: &str,
        vers: &str,
        info: crate::sources::BlobRef,
    ) -> Result<Download, ServiceError> {
        use futures::TryStreamExt;
        if self.download_cache.keeps(info.size) {
            // Small: read it whole once, check it, keep it.
            let bytes = self.blobs.get(&info.cksum).await?.ok_or_else(|| {
                ServiceError::Internal(format!(
                    "the blob {} of {name}@{vers} is missing from the blob store",
                    info.cksum
                ))
            })?;
            let digest = info.cksum.clone();
            let check = bytes.clone();
            let actual = tokio::task::spawn_blocking(move || {
                use sha2::Digest;
                hex::encode(sha2::Sha256::digest(&check))
            })
            .await
            .map_err(|e| ServiceError::Internal(format!("hashing task: {e}")))?;
            if actual != digest {
                return Err(ServiceError::Internal(format!(
                    "the blob {digest} of {name}@{vers} is corrupt: its sha256 is {actual}"
                )));
            }
            let bytes = self.download_cache.put_blob(digest, bytes);
            return Ok(Download {
                size: bytes.len() as u64,
                cksum: info.cksum,
                body: DownloadBody::Whole(bytes),
            });
        }
        let (size, stream) = self.blobs.get_stream(&info.cksum).await?.ok_or_else(|| {
            ServiceError::Internal(format!(
                "the blob {} of {name}@{vers} is missing from the blob store",
                info.cksum
            ))
        })?;
        if size != info.size {
            return Err(ServiceError::Internal(format!(
                "the blob {} of {name}@{vers} has {size} bytes, expected {}",
                info.cksum, info.size
            )));
        }
        Ok(Download {
            size,
            cksum: info.cksum,
            body: DownloadBody::Stream(Box::pin(stream.map_err(std::io::Error::other))),
        })
    }
}
