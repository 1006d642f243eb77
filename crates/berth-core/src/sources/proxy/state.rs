//! A proxy's state and identity: its settings, upstream client, in-memory
//! memo of index answers (with a TTL and a byte budget), keyed locks so
//! that concurrent misses make one upstream request, request slots, and
//! where its cached crates are; what it answers to as an upstream
//! identifier, and what it forgets when told.
//!
//! What the proxy does with this state lives beside it: `client.rs`
//! (contacting the upstream), `body.rs` (reading its answers),
//! `upstream_config.rs`, `index.rs` and `crates.rs`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::budget::IndexBudget;
use crate::config::registry::ProxySettings;
use crate::crates::index::IndexFile;
use crate::error::ServiceError;
use crate::sources::flight::KeyedLocks;
use crate::sources::question::At;
use crate::sources::reach::PublicUnlessTrusted;

/// Upstream requests in flight at once per proxy.
const MAX_UPSTREAM_REQUESTS: usize = 32;

/// `.crate` downloads from the upstream at once per proxy: each is held in
/// memory (at most `crates::MAX_CRATE_BYTES`) until it is verified and
/// stored, so this bounds a proxy's fetch memory to 8 x 64 MiB.
const MAX_CRATE_FETCHES: usize = 8;

/// What the upstream's `config.json` says.
#[derive(Debug, Clone)]
pub(super) struct UpstreamConfig {
    pub(super) dl: String,
    pub(super) auth_required: bool,
}

/// An index file in memory: `None` when the crate does not exist upstream.
#[derive(Clone)]
pub(super) struct Memo {
    pub(super) file: Option<Arc<IndexFile>>,
    /// Until when it is served without asking again.
    fresh_until: Instant,
}

/// One proxy registry (a `Source::Proxy`).
pub(crate) struct Proxy {
    pub(super) settings: ProxySettings,
    pub(super) budget: Arc<IndexBudget>,
    pub(super) client: reqwest::Client,
    pub(super) ttl: Duration,
    memo: RwLock<HashMap<String, Memo>>,
    memo_budget: u64,
    pub(super) upstream_config: RwLock<Option<(UpstreamConfig, Instant)>>,
    pub(super) index_flights: KeyedLocks,
    pub(super) crate_flights: KeyedLocks,
    pub(super) upstream_slots: tokio::sync::Semaphore,
    pub(super) crate_fetch_slots: tokio::sync::Semaphore,
    /// `(name, version) -> (sha256, size)` of cached crates, when nothing
    /// is ever evicted (no `cache_max_bytes`): a stored crate never changes,
    /// so a hot download needs no database round trip. With a budget every
    /// download reads (and touches) its row instead.
    pub(super) located: RwLock<HashMap<(String, String), (String, u64)>>,
}

/// Which metric a proxy event counts.
pub(super) fn count(what: &'static str, registry: &str) {
    metrics::counter!(what, "registry" => registry.to_string()).increment(1);
}

pub(super) fn count_bytes(what: &'static str, registry: &str, n: u64) {
    metrics::counter!(what, "registry" => registry.to_string()).increment(n);
}

impl Proxy {
    pub(crate) fn new(
        settings: ProxySettings,
        memo_budget: u64,
        budget: Arc<IndexBudget>,
    ) -> Result<Self, ServiceError> {
        let trusted_names = settings.hosts.iter().map(|h| h.host.clone()).collect();
        let client = reqwest::Client::builder()
            // Redirects are followed by `get`, within the permitted hosts.
            .redirect(reqwest::redirect::Policy::none())
            // Hosts other than the upstream's and the allowed ones are
            // reached at public addresses only, decided at connect time.
            .dns_resolver(PublicUnlessTrusted::new(trusted_names))
            .connect_timeout(Duration::from_secs(settings.connect_timeout_secs))
            .timeout(Duration::from_secs(settings.upstream_timeout_secs))
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION"), " (proxy)"))
            .build()
            .map_err(|e| {
                ServiceError::Internal(format!("cannot build the upstream client: {e}"))
            })?;
        Ok(Self {
            ttl: Duration::from_secs(settings.index_ttl_secs),
            settings,
            budget,
            client,
            memo: RwLock::new(HashMap::new()),
            memo_budget,
            upstream_config: RwLock::new(None),
            index_flights: KeyedLocks::default(),
            crate_flights: KeyedLocks::default(),
            upstream_slots: tokio::sync::Semaphore::new(MAX_UPSTREAM_REQUESTS),
            crate_fetch_slots: tokio::sync::Semaphore::new(MAX_CRATE_FETCHES),
            located: RwLock::new(HashMap::new()),
        })
    }

    /// The identifier a dependency on this upstream is recorded with: the
    /// first configured alias (what cargo sends for it), else its sparse URL.
    pub(crate) fn canonical_identifier(&self) -> &str {
        self.settings
            .identifiers
            .get(2)
            .unwrap_or(&self.settings.identifiers[0])
    }

    /// Whether the operator said what cargo calls this upstream
    /// (`upstream_aliases`).
    pub(crate) fn has_aliases(&self) -> bool {
        self.settings.identifiers.len() > 2
    }

    /// Whether cargo's `registry` field names this upstream.
    pub(crate) fn is_identifier(&self, sent: &str) -> bool {
        self.settings
            .identifiers
            .iter()
            .any(|i| i.trim_end_matches('/') == sent.trim_end_matches('/'))
    }

    pub(super) fn memo_get(&self, name: &str, now: Instant) -> Option<Memo> {
        let memo = self.memo.read().ok()?;
        memo.get(name).filter(|m| m.fresh_until > now).cloned()
    }

    pub(super) fn memo_put(
        &self,
        name: &str,
        file: Option<Arc<IndexFile>>,
        now: Instant,
        fresh_for: Duration,
    ) {
        let Ok(mut memo) = self.memo.write() else {
            return;
        };
        let held: u64 = memo
            .values()
            .filter_map(|m| m.file.as_ref())
            .map(|f| (f.body.len() + f.gzip.as_ref().map_or(0, Bytes::len)) as u64)
            .sum();
        if held > self.memo_budget || memo.len() > 100_000 {
            memo.clear();
        }
        memo.insert(
            name.to_string(),
            Memo {
                file,
                fresh_until: now + fresh_for,
            },
        );
    }

    /// Forgets this node's in-memory copies (index answers and where
    /// cached crates are) of one crate in every spelling, or of all.
    pub(crate) fn forget(&self, name: Option<&str>) {
        let folded = name.map(|n| n.to_ascii_lowercase().replace('_', "-"));
        let matches = |n: &str| {
            folded
                .as_deref()
                .is_none_or(|f| n.to_ascii_lowercase().replace('_', "-") == f)
        };
        if let Ok(mut memo) = self.memo.write() {
            memo.retain(|n, _| !matches(n));
        }
        if let Ok(mut located) = self.located.write() {
            located.retain(|(n, _), _| !matches(n));
        }
    }

    /// Makes the next look-up of `name` ask the upstream again: a cached
    /// "no such crate" is dropped and a cached file revalidated (a
    /// conditional request). For `berth mirror fill`, which must not trust a
    /// "not found" remembered for `index_ttl_secs`. Nothing changes for an
    /// offline proxy, which never asks.
    pub(crate) async fn recheck(&self, at: At<'_>, name: &str) -> Result<(), ServiceError> {
        if self.settings.offline {
            return Ok(());
        }
        self.forget(Some(name));
        at.berth.meta.proxy_index_expire(at.reg.id, name).await?;
        Ok(())
    }

    /// How long this node trusts an index answer it holds in memory.
    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }
}
