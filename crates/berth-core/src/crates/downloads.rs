//! Serving `.crate` files and counting downloads.
//!
//! Counts are buffered in memory and written in batches, so a download never
//! waits on a database write. A version's blob never changes, so which blob
//! a version has and the bytes of small hot blobs are cached in memory
//! (bounded, verified against their sha256 when read); other blobs stream
//! straight from the blob store without being read whole into memory. With
//! `downloads.redirect = "presigned"` the node never touches the bytes: a
//! download, checked and counted as any other, is a presigned URL of the
//! blob, signed by this clock. Also says what a cache may keep of either
//! answer (`Cache-Control`): never a private registry's, never a URL
//! beyond its life.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Mutex, RwLock};

use berth_store::MetaStore;
use bytes::Bytes;
use futures::stream::BoxStream;

use crate::config::Redirect;
use crate::error::ServiceError;
use crate::{Berth, Identity, Registry};

/// A `.crate` ready to send.
pub struct Download {
    pub size: u64,
    /// sha256 hex of the bytes (the index `cksum`).
    pub cksum: String,
    pub body: DownloadBody,
    /// What a cache may keep of the answer: its `Cache-Control`.
    pub cache_control: Cow<'static, str>,
}

/// The bytes of a download, or where they are.
pub enum DownloadBody {
    /// Already in memory (a small blob, cached): sent in one piece with
    /// the headers.
    Whole(Bytes),
    /// Read from the blob store as it is sent.
    Stream(BoxStream<'static, Result<Bytes, std::io::Error>>),
    /// Not sent by this node: a presigned URL of the blob, answered with
    /// `302 Found` (`downloads.redirect = "presigned"`).
    Redirect(reqwest::Url),
}

/// How long a shared cache may keep a policed registry's download, so that
/// a version a policy blocks later stops being served from a CDN soon
/// (`POLICED_BYTES` says it too).
const POLICED_MAX_AGE_SECS: u64 = 60;

/// `Cache-Control` of a version's bytes, which never change (a yank changes
/// the index, not the bytes): kept for a year by any cache, or by the
/// reader's own only.
const SHARED_IMMUTABLE: &str = "public, max-age=31536000, immutable";
const PRIVATE_IMMUTABLE: &str = "private, max-age=31536000, immutable";
const POLICED_BYTES: &str = "public, max-age=60";
/// A restricted registry's redirect: no cache keeps the URL at all.
const NO_STORE: &str = "private, no-store";

/// Immutable facts kept in memory: version -> blob, and small hot blobs.
pub(crate) struct DownloadCache {
    infos: RwLock<HashMap<(i64, String, String), berth_store::DownloadInfo>>,
    blobs: RwLock<Blobs>,
    /// Most bytes of blobs kept.
    budget: u64,
}

/// The small blobs kept, by sha256, and where their bytes live.
///
/// They are kept in [`SEGMENTS`] segments of a sixteenth of the budget
/// each, filled one after the other; when a new one is needed, the oldest
/// is dropped with its blobs. On Linux each segment's bytes live in an
/// arena (`sendable.rs`), which a plain connection sends with `sendfile`.
/// A download still being sent keeps its segment's arena alive: so that
/// such downloads cannot hold more than the budget again in retired arenas,
/// a new segment gets an arena only while all arenas alive stay within
/// twice the budget, and keeps its bytes on the heap otherwise.
#[derive(Default)]
struct Blobs {
    map: HashMap<String, Bytes>,
    /// Oldest first.
    segments: std::collections::VecDeque<Segment>,
    /// The id the next segment gets.
    next_id: u64,
    /// When making an arena failed, when to try again.
    #[cfg(target_os = "linux")]
    arena_retry_at: Option<std::time::Instant>,
}

/// One segment of kept blobs.
struct Segment {
    id: u64,
    /// The blobs it holds (dropped with it).
    digests: Vec<String>,
    /// Bytes reserved in it.
    used: u64,
    #[cfg(target_os = "linux")]
    arena: Option<std::sync::Arc<crate::sendable::Arena>>,
}

/// How many segments the blob cache's budget is split into; also the
/// largest blob kept, as a share of the budget.
const SEGMENTS: u64 = 16;

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

    /// Bytes of blobs kept now.
    fn kept_bytes(&self) -> u64 {
        self.blobs
            .read()
            .map_or(0, |b| b.segments.iter().map(|s| s.used).sum())
    }

    pub(crate) fn blob(&self, digest: &str) -> Option<Bytes> {
        self.blobs.read().ok()?.map.get(digest).cloned()
    }

    /// Whether a blob of `size` bytes is small enough to keep.
    pub(crate) fn keeps(&self, size: u64) -> bool {
        size > 0 && size <= self.segment_bytes()
    }

    fn segment_bytes(&self) -> u64 {
        self.budget / SEGMENTS
    }

    /// Keeps a small blob and returns the bytes to serve it from: the
    /// kept copy (in an arena where there is one) or `bytes` themselves.
    pub(crate) fn put_blob(&self, digest: String, bytes: Bytes) -> Bytes {
        let size = bytes.len() as u64;
        if !self.keeps(size) {
            return bytes;
        }
        // Room is reserved under the lock; the bytes are copied outside it,
        // so that lookups never wait for a copy.
        let (id, arena) = {
            let Ok(mut guard) = self.blobs.write() else {
                return bytes;
            };
            let blobs = &mut *guard;
            if let Some(kept) = blobs.map.get(&digest) {
                return kept.clone();
            }
            let full = blobs
                .segments
                .back()
                .is_none_or(|s| s.used + size > self.segment_bytes());
            if full {
                self.start_segment(blobs);
            }
            let Some(segment) = blobs.segments.back_mut() else {
                return bytes;
            };
            segment.used += size;
            #[cfg(target_os = "linux")]
            let arena = segment.arena.clone();
            #[cfg(not(target_os = "linux"))]
            let arena = ();
            (segment.id, arena)
        };
        #[cfg(target_os = "linux")]
        let bytes = match arena {
            Some(arena) => arena.copy_in(&bytes).unwrap_or(bytes),
            None => bytes,
        };
        #[cfg(not(target_os = "linux"))]
        let () = arena;
        let Ok(mut guard) = self.blobs.write() else {
            return bytes;
        };
        let blobs = &mut *guard;
        if let Some(kept) = blobs.map.get(&digest) {
            // Kept meanwhile by another download of the same blob.
            return kept.clone();
        }
        let Some(first) = blobs.segments.front().map(|s| s.id) else {
            return bytes;
        };
        // Its segment may have been dropped meanwhile: then it is served,
        // not kept.
        if let Some(segment) = id
            .checked_sub(first)
            .and_then(|i| blobs.segments.get_mut(i as usize))
        {
            segment.digests.push(digest.clone());
            blobs.map.insert(digest, bytes.clone());
        }
        bytes
    }

    /// Starts a new segment, dropping the oldest (and its blobs) beyond
    /// [`SEGMENTS`].
    fn start_segment(&self, blobs: &mut Blobs) {
        while blobs.segments.len() as u64 >= SEGMENTS {
            let Some(old) = blobs.segments.pop_front() else {
                break;
            };
            for d in &old.digests {
                blobs.map.remove(d);
            }
        }
        let id = blobs.next_id;
        blobs.next_id += 1;
        #[cfg(target_os = "linux")]
        let arena = self.new_arena(blobs);
        blobs.segments.push_back(Segment {
            id,
            digests: Vec::new(),
            used: 0,
            #[cfg(target_os = "linux")]
            arena,
        });
    }

    /// An arena for a new segment, unless arenas alive already hold twice
    /// the budget (downloads in flight keep retired ones) or none can be
    /// made (tried again a minute later).
    #[cfg(target_os = "linux")]
    fn new_arena(&self, blobs: &mut Blobs) -> Option<std::sync::Arc<crate::sendable::Arena>> {
        use std::time::{Duration, Instant};
        let bytes = self.segment_bytes();
        if crate::sendable::live_bytes() + bytes > 2 * self.budget {
            return None;
        }
        if blobs.arena_retry_at.is_some_and(|at| Instant::now() < at) {
            return None;
        }
        match crate::sendable::Arena::new(bytes) {
            Ok(arena) => {
                blobs.arena_retry_at = None;
                Some(arena)
            }
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    "cached .crate files stay on the heap (sent without sendfile): \
                     no memory file could be made; trying again in a minute"
                );
                blobs.arena_retry_at = Some(Instant::now() + Duration::from_secs(60));
                None
            }
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

/// Refuses a configuration whose downloads are to be redirected to a blob
/// store that cannot presign (configuration already refused a local
/// directory; an S3 store that signs no requests is found only here).
pub(crate) fn check_redirect(
    config: &crate::Config,
    blobs: &berth_store::BlobStore,
) -> Result<(), ServiceError> {
    if config.downloads.redirect == Redirect::Presigned && !blobs.presigns() {
        return Err(ServiceError::BadRequest(format!(
            "downloads.redirect = \"presigned\" needs a blob store that signs its requests; \
             {} does not (AWS_SKIP_SIGNATURE?): set downloads.redirect = \"none\"",
            blobs.describe()
        )));
    }
    Ok(())
}

impl Berth {
    /// Writes buffered download counts; call periodically and at shutdown.
    pub async fn flush_downloads(&self) -> Result<(), ServiceError> {
        self.downloads.flush(&self.meta).await
    }

    /// What the download cache holds now, for the metrics: bytes of
    /// `.crate` files kept, and bytes of the memory files alive (retired
    /// ones too, while a download from them is still being sent; none
    /// off Linux).
    pub fn download_cache_bytes(&self) -> (u64, u64) {
        #[cfg(target_os = "linux")]
        let files = crate::sendable::live_bytes();
        #[cfg(not(target_os = "linux"))]
        let files = 0;
        (self.download_cache.kept_bytes(), files)
    }

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
        if reg.policed {
            Box::pin(self.check_download_policy(self.at_for(reg, who), name, vers)).await?;
        }
        let info = reg
            .source
            .locate(self.at_for(reg, who), name, vers)
            .await?
            .ok_or_else(not_found)?;
        if let (true, Some((crate_id, version_id))) = (count, info.counted) {
            self.downloads.record(crate_id, version_id);
        }
        let restricted = reg.restricted;
        if self.config.downloads.redirect == Redirect::Presigned {
            // Boxed, as below.
            return Box::pin(self.presigned(reg, restricted, info)).await;
        }
        let cache_control = Cow::Borrowed(if restricted {
            PRIVATE_IMMUTABLE
        } else if reg.policed {
            POLICED_BYTES
        } else {
            SHARED_IMMUTABLE
        });
        if let Some(bytes) = self.download_cache.blob(&info.cksum) {
            return Ok(Download {
                size: bytes.len() as u64,
                cksum: info.cksum,
                body: DownloadBody::Whole(bytes),
                cache_control,
            });
        }
        // Boxed: a download served from memory does not carry the blob
        // store's state.
        Box::pin(self.download_from_store(name, vers, info, cache_control)).await
    }

    /// A download answered with a presigned URL of its blob, valid for
    /// the registry's TTL from now by this clock. A shared cache may keep
    /// an open registry's redirect for half the URL's life at most (so a
    /// client it hands the URL to has the other half), and must not serve
    /// it stale; a restricted registry's is kept by none.
    async fn presigned(
        &self,
        reg: &Registry,
        restricted: bool,
        info: crate::sources::BlobRef,
    ) -> Result<Download, ServiceError> {
        let ttl = self.config.downloads.presign_ttl(restricted);
        let url = self
            .blobs
            .presigned_get(
                &info.cksum,
                std::time::Duration::from_secs(ttl),
                self.clock.now_unix(),
            )
            .await?
            .ok_or_else(|| {
                ServiceError::Internal(format!(
                    "downloads.redirect = \"presigned\", but the blob store {} cannot presign \
                     URLs",
                    self.blobs.describe()
                ))
            })?;
        metrics::counter!("berth_download_redirects_total").increment(1);
        let cache_control = if restricted {
            Cow::Borrowed(NO_STORE)
        } else {
            let mut age = ttl / 2;
            if reg.policed {
                age = age.min(POLICED_MAX_AGE_SECS);
            }
            Cow::Owned(format!("public, max-age={age}, must-revalidate"))
        };
        Ok(Download {
            size: info.size,
            cksum: info.cksum,
            body: DownloadBody::Redirect(url),
            cache_control,
        })
    }

    /// A download whose bytes are not in memory: read from the blob store
    /// (small ones kept after their checksum is checked), or streamed.
    async fn download_from_store(
        &self,
        name: &str,
        vers: &str,
        info: crate::sources::BlobRef,
        cache_control: Cow<'static, str>,
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
                cache_control,
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
            cache_control,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policed_download_says_its_max_age() {
        assert_eq!(
            POLICED_BYTES,
            format!("public, max-age={POLICED_MAX_AGE_SECS}")
        );
    }

    fn blob(n: usize, len: usize) -> (String, Bytes) {
        (format!("digest-{n}"), Bytes::from(vec![n as u8; len]))
    }

    #[test]
    fn the_oldest_segment_goes_first_and_kept_bytes_are_the_same() {
        // Segments of 100 bytes: one 60-byte blob each.
        let cache = DownloadCache::new(16 * 100);
        assert!(!cache.keeps(101) && cache.keeps(100) && !cache.keeps(0));
        for n in 0..16 {
            let (d, b) = blob(n, 60);
            let kept = cache.put_blob(d, b.clone());
            assert_eq!(kept, b);
        }
        assert!(cache.blob("digest-0").is_some());
        // The seventeenth drops the first segment, and only it.
        let (d, b) = blob(16, 60);
        cache.put_blob(d, b);
        assert!(cache.blob("digest-0").is_none());
        for n in 1..17 {
            let kept = cache.blob(&format!("digest-{n}")).unwrap();
            assert_eq!(kept, Bytes::from(vec![n as u8; 60]));
        }
        // Too big to keep: served, not kept.
        let (d, b) = blob(99, 101);
        assert_eq!(cache.put_blob(d.clone(), b.clone()), b);
        assert!(cache.blob(&d).is_none());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn where_no_arena_can_be_made_blobs_are_kept_on_the_heap() {
        // Segments of 2^57 bytes: no such mapping fits an address space.
        let cache = DownloadCache::new(1 << 61);
        let (d, b) = blob(1, 100);
        let kept = cache.put_blob(d.clone(), b.clone());
        assert_eq!(kept, b);
        assert!(crate::sendable::find(&kept).is_none());
        assert_eq!(cache.blob(&d), Some(b));
        // Not tried again for a minute.
        let retry = cache.blobs.read().unwrap().arena_retry_at;
        assert!(retry.is_some_and(|at| at > std::time::Instant::now()));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn kept_blobs_live_in_arenas_and_held_ones_cannot_pile_up() {
        let budget = 16 << 20;
        let cache = DownloadCache::new(budget);
        let (d, b) = blob(1, 600 << 10);
        let kept = cache.put_blob(d, b.clone());
        assert_eq!(kept, b);
        assert!(crate::sendable::find(&kept).is_some(), "not in an arena");
        // Downloads "in flight" hold a blob of each of 40 segments, 2.5
        // budgets' worth: retired arenas stay alive for them, but new
        // segments stop getting arenas once arenas alive reach twice the
        // budget.
        let held: Vec<Bytes> = (2..42)
            .map(|n| {
                let (d, b) = blob(n, 1 << 20);
                cache.put_blob(d, b)
            })
            .collect();
        let on_heap = held
            .iter()
            .filter(|b| crate::sendable::find(b).is_none())
            .count();
        assert!(on_heap >= 8, "{on_heap} of 40 on the heap");
        // (Other tests' arenas of at most a few MiB may be alive too.)
        assert!(crate::sendable::live_bytes() <= 2 * budget + (4 << 20));
        drop(held);
    }
}
