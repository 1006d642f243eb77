//! A hosted registry's content: the version rows that publishes write.
//!
//! Index files are the concatenation of the stored lines, cached in memory
//! by crate and validated by the crate's revision. On SQLite the serving
//! process is the only writer (a lock file makes sure), so it invalidates
//! entries itself when a change commits and a hit costs no database round
//! trip. On PostgreSQL (many nodes) every change notifies every node at
//! commit and [`crate::watch`] applies it; while that listener is proven
//! healthy by heartbeats a hit costs no database round trip either, and
//! otherwise each hit checks the revision in the database.
//!
//! Staleness bound on PostgreSQL: a change committed through any node at
//! time T is served by every node by T + [`crate::watch::DEADLINE`] (1.5 s)
//! at the latest, normally within milliseconds; the node that made the
//! change serves it at once. Nothing but a publish, yank, unyank or bulk
//! load changes a hosted registry's lines, and all of them notify, so that
//! shortcut holds for hosted registries only; other kinds keep their own
//! validity.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

use std::sync::atomic::AtomicU64;

use super::flight::KeyedLocks;
use super::question::SearchResults;
use super::question::{Answer, At, BlobRef, Found, SearchPage};
use crate::crates::index::{IndexCache, IndexFile};
use crate::error::ServiceError;
use crate::watch::IndexWatch;
use crate::{Berth, Registry};

/// What a node's hosted registries share: one cache of index files (within
/// `limits.index_cache_bytes`), the count of crates created, and on
/// PostgreSQL the index watch's trust (see [`crate::watch`]).
pub(crate) struct HostedShared {
    /// This process makes every change to the metadata (single-node
    /// SQLite), so cached index files stay valid until it invalidates them.
    /// Otherwise they are while the node's index watch is trusted.
    sole_writer: bool,
    index_cache: IndexCache,
    /// Crates this process has created or heard of; bumped before a new
    /// crate's publish is acknowledged, so "no such crate" answers
    /// remembered before it are void.
    crates_created: AtomicU64,
    /// PostgreSQL: whether cached files are current without a database
    /// check.
    pub(crate) watch: IndexWatch,
    /// Woken by every change heard (here or from another node): change
    /// feed readers waiting for one ask again.
    pub(crate) feed_wake: tokio::sync::Notify,
    /// Change feed readers that may wait at once on this node; more are
    /// answered at once (see `crates/changes.rs`).
    pub(crate) feed_waiters: tokio::sync::Semaphore,
}

impl HostedShared {
    pub(crate) fn new(sole_writer: bool, index_cache_bytes: u64) -> Self {
        Self {
            sole_writer,
            index_cache: IndexCache::new(index_cache_bytes),
            crates_created: AtomicU64::new(0),
            watch: IndexWatch::new(),
            feed_wake: tokio::sync::Notify::new(),
            feed_waiters: tokio::sync::Semaphore::new(crate::crates::changes::MAX_WAITING),
        }
    }

    /// Crate `canon_name` of registry `registry_id` changed at `revision`
    /// (here or, heard through the watch, on another node): its cached
    /// file is void, and so are "no such crate" memos when `created`.
    pub(crate) fn changed(&self, registry_id: i64, canon_name: &str, revision: i64, created: bool) {
        if created {
            self.crates_created.fetch_add(1, Ordering::AcqRel);
        }
        self.index_cache
            .invalidate((registry_id, canon_name.to_string()), revision);
        self.feed_wake.notify_waiters();
    }

    /// This process makes every change to the metadata (single-node
    /// SQLite).
    pub(crate) fn sole_writer(&self) -> bool {
        self.sole_writer
    }

    /// Forgets every cached index file and "no such crate" memo.
    pub(crate) fn forget_all(&self) {
        self.index_cache.clear();
        self.crates_created.fetch_add(1, Ordering::AcqRel);
    }
}

pub(crate) struct Hosted {
    shared: Arc<HostedShared>,
    /// One build per crate at a time: concurrent misses wait for it and
    /// share the result instead of each reading and hashing every line.
    builds: KeyedLocks,
    /// Names known not to exist, with the value of `crates_created` when
    /// that was seen (a new crate here, or any change heard from another
    /// node, voids them); consulted only when the cache is trusted.
    /// Virtual registries ask hosted members first for every name.
    absent: RwLock<HashMap<(i64, String), u64>>,
    /// `accept = "promotion-only"`: versions come by promotion only.
    promotion_only: bool,
}

/// Most names remembered as absent.
const MAX_ABSENT: usize = 100_000;

enum Cached {
    Hit(Arc<IndexFile>),
    Miss,
    NoCrate,
}

impl Hosted {
    pub(crate) fn new(shared: Arc<HostedShared>) -> Self {
        Self {
            shared,
            builds: KeyedLocks::default(),
            absent: RwLock::new(HashMap::new()),
            promotion_only: false,
        }
    }

    /// Takes versions by promotion only (`accept = "promotion-only"`).
    pub(crate) fn promotion_only(mut self, only: bool) -> Self {
        self.promotion_only = only;
        self
    }

    /// Why a direct publish is refused, when it is.
    pub(crate) fn refuses_publish(&self, registry: &str) -> Option<ServiceError> {
        self.promotion_only.then(|| {
            ServiceError::Forbidden(format!(
                "registry `{registry}` takes promoted versions only (accept = \"promotion-only\"): \
                 publish to the registry it promotes from, then `berth promote CRATE@VERSION \
                 --from THAT --to {registry}`"
            ))
        })
    }

    /// Crate `canon_name` of `reg` changed at `revision`.
    pub(crate) fn changed(&self, reg: &Registry, canon_name: &str, revision: i64, created: bool) {
        self.shared.changed(reg.id, canon_name, revision, created);
    }

    /// The cached file, if it is current.
    async fn cached(
        &self,
        berth: &Berth,
        reg: &Registry,
        key: &(i64, String),
    ) -> Result<Cached, ServiceError> {
        match self.cached_in_memory(key) {
            Some(cached) => Ok(cached),
            None => self.cached_by_revision(berth, reg, key).await,
        }
    }

    /// The answer from memory alone, when a hit needs no database: every
    /// change goes through this process, which invalidates the cache before
    /// acknowledging it, or every change made elsewhere has reached this
    /// node's cache within the staleness bound.
    fn cached_in_memory(&self, key: &(i64, String)) -> Option<Cached> {
        let shared = &*self.shared;
        if !(shared.sole_writer || shared.watch.trusted()) {
            return None;
        }
        if let Some(file) = shared.index_cache.get(key, None) {
            return Some(Cached::Hit(file));
        }
        let created = shared.crates_created.load(Ordering::Acquire);
        let known_absent = self
            .absent
            .read()
            .is_ok_and(|a| a.get(key) == Some(&created));
        Some(if known_absent {
            Cached::NoCrate
        } else {
            Cached::Miss
        })
    }

    /// The answer checked against the crate's revision in the database.
    async fn cached_by_revision(
        &self,
        berth: &Berth,
        reg: &Registry,
        key: &(i64, String),
    ) -> Result<Cached, ServiceError> {
        let Some(state) = berth.meta.index_state(reg.id, &key.1).await? else {
            return Ok(Cached::NoCrate);
        };
        Ok(
            match self.shared.index_cache.get(key, Some(state.revision)) {
                Some(file) => Cached::Hit(file),
                None => Cached::Miss,
            },
        )
    }

    pub(crate) async fn index_file(&self, at: At<'_>, name: &str) -> Found<Arc<IndexFile>> {
        let At { berth, reg, .. } = at;
        let canon = berth_protocol::canonical_name(name);
        let key = (reg.id, canon);
        let cached = match self.cached_in_memory(&key) {
            Some(cached) => cached,
            // A database round trip: its future is boxed, so that a hit
            // served from memory does not carry (and copy) its state.
            None => Box::pin(self.cached_by_revision(berth, reg, &key)).await?,
        };
        match cached {
            Cached::Hit(file) => Ok(Some(file)),
            Cached::NoCrate => Ok(None),
            Cached::Miss => Box::pin(self.build_index_file(berth, reg, key)).await,
        }
    }

    /// Builds a crate's index file from the database (one build at a time
    /// per crate) and caches it.
    async fn build_index_file(
        &self,
        berth: &Berth,
        reg: &Registry,
        key: (i64, String),
    ) -> Found<Arc<IndexFile>> {
        let canon_name = key.1.as_str();
        let _build = self.builds.lock(&format!("{}/{canon_name}", reg.id)).await;
        // Whoever held the build before us may have cached it.
        match self.cached(berth, reg, &key).await? {
            Cached::Hit(file) => return Ok(Some(file)),
            Cached::NoCrate => return Ok(None),
            Cached::Miss => {}
        }
        // Both read before the database: a change heard after them voids
        // what this read finds.
        let created = self.shared.crates_created.load(Ordering::Acquire);
        let epoch = self.shared.index_cache.epoch();
        let Some((state, lines)) = berth.meta.index_file(reg.id, canon_name).await? else {
            if let Ok(mut absent) = self.absent.write() {
                if absent.len() >= MAX_ABSENT {
                    absent.clear();
                }
                absent.insert(key, created);
            }
            return Ok(None);
        };
        let mut body = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for line in &lines {
            body.push_str(line);
            body.push('\n');
        }
        // Per-registry validators: the crate id is not shown, so that a
        // reader of one registry cannot count what others hold.
        let seed = format!("{:x}", state.revision);
        let file = Arc::new(IndexFile::build(body.into(), &seed, state.updated_at).await?);
        self.shared
            .index_cache
            .put(key, state.revision, file.clone(), epoch);
        Ok(Some(file))
    }

    pub(crate) async fn locate(&self, at: At<'_>, name: &str, vers: &str) -> Found<BlobRef> {
        let At { berth, reg, .. } = at;
        let canon_name = berth_protocol::canonical_name(name);
        let Ok(version) = berth_protocol::validate_version(vers) else {
            return Ok(None);
        };
        let canon_vers = berth_protocol::canonical_version(&version);
        let key = (reg.id, canon_name, canon_vers);
        let info = match berth.download_cache.info(&key) {
            Some(info) => info,
            None => {
                let found = Box::pin(berth.meta.download_info(reg.id, &key.1, &key.2)).await?;
                let Some(info) = found else {
                    return Ok(None);
                };
                berth.download_cache.put_info(key, info.clone());
                info
            }
        };
        Ok(Some(BlobRef {
            cksum: info.cksum,
            size: info.size.max(0) as u64,
            counted: Some((info.crate_id, info.version_id)),
        }))
    }

    pub(crate) async fn search(&self, at: At<'_>, page: SearchPage<'_>) -> Answer<SearchResults> {
        let SearchPage {
            query,
            per_page,
            offset,
        } = page;
        let (hits, total) = at
            .berth
            .meta
            .search(at.reg.id, query, per_page, offset)
            .await?;
        Ok(SearchResults::of(hits, total))
    }

    pub(crate) async fn referenced_blobs(&self, at: At<'_>) -> Answer<HashSet<String>> {
        Ok(at.berth.meta.referenced_blobs(at.reg.id).await?)
    }
}
