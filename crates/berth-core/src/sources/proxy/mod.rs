//! A proxy registry: a pull-through cache of an upstream sparse registry.
//!
//! Index files are fetched on demand, kept in `proxy_index` with the
//! upstream's validators, trusted for `index_ttl_secs`, then revalidated with
//! a conditional request; lines pass through untouched. A `.crate` is
//! fetched at most once, verified against the checksum of the upstream
//! index before it is stored or served, and then served from the blob store
//! like a hosted crate. Concurrent misses for one file wait on one upstream
//! request. When the upstream fails, what is cached keeps being served
//! (counted as stale); what is not fails fast with a 502 that says why.
//!
//! The proxy contacts its upstream's host and the operator's
//! `upstream_allowed_hosts` at any address, and other hosts an upstream
//! names (a download host, a redirect) only at public addresses
//! (`reach.rs`): a redirect or `dl` to an internal address is not
//! followed, and nothing another host says is echoed.
//!
//! An index body is read only after it has its share
//! of `limits.proxy_index_buffer_bytes` (over all proxies), and at most
//! `limits.max_index_file_bytes` of it; it is parsed and stored without
//! copies.
//!
//! This module never writes a hosted registry's rows, never serves bytes it
//! has not verified itself (a blob another registry stored is reused only
//! when this proxy's own records name it), and never logs the upstream
//! token.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use berth_protocol::LineSummary;
use berth_store::{ProxyIndexRow, ProxyIndexWrite};
use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::{
    HeaderMap, HeaderValue, AUTHORIZATION, IF_MODIFIED_SINCE, IF_NONE_MATCH, LOCATION,
};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use super::flight::KeyedLocks;
use super::SearchResults;
use super::{Answer, At, BlobRef, Found, SearchPage};
use crate::config::LimitsConfig;
use crate::error::ServiceError;
use crate::index::IndexFile;
use crate::registry_config::{ProxySettings, UpstreamHost};
use crate::{Berth, Registry};

/// The name under which the upstream's `config.json` is kept in
/// `proxy_index` (no crate can have it: crate names have no `.`).
const CONFIG_KEY: &str = "config.json";

/// After an upstream failure, a stale file is served for this long (or the
/// TTL, when shorter) before the upstream is asked again, so a dead
/// upstream is not asked per request.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// Memory an upstream index file costs while it is read, checked, stored
/// and built, per byte of its body (the body, the database's copy of it
/// while it is written, the gzip variant).
const INDEX_COST_FACTOR: u64 = 3;

/// Index memory is counted in KiB so that a large budget fits the
/// semaphore's `u32` permit counts.
const BUDGET_UNIT: u64 = 1024;

/// The first share of the budget an index body without a declared size
/// reserves; it grows as the body arrives.
const UNDECLARED_FIRST: u64 = 256 * 1024;

/// Declared index bodies from this size on are read into a mapping of
/// their own (few files are this large, so few mappings exist at once).
const MAP_INDEX_FROM: u64 = 1024 * 1024;

/// Redirects followed within the upstream's hosts.
const MAX_REDIRECTS: usize = 5;

/// Upstream requests in flight at once per proxy.
const MAX_UPSTREAM_REQUESTS: usize = 32;

/// `.crate` downloads from the upstream at once per proxy: each is held in
/// memory (at most `MAX_CRATE_BYTES`) until it is verified and stored, so
/// this bounds a proxy's fetch memory to 8 x 64 MiB.
const MAX_CRATE_FETCHES: usize = 8;

/// Largest upstream `.crate` accepted.
const MAX_CRATE_BYTES: u64 = 64 * 1024 * 1024;

/// Cached `.crate` uses are written back at most this often per crate.
const TOUCH_EVERY_SECS: i64 = 3600;

/// What the upstream's `config.json` says.
#[derive(Debug, Clone)]
struct UpstreamConfig {
    dl: String,
    auth_required: bool,
}

/// An index file in memory: `None` when the crate does not exist upstream.
#[derive(Clone)]
struct Memo {
    file: Option<Arc<IndexFile>>,
    /// Until when it is served without asking again.
    fresh_until: Instant,
}

/// Memory for upstream index bodies in flight, shared by every proxy of
/// the server (`limits.proxy_index_buffer_bytes`).
pub(crate) struct IndexBudget {
    memory: tokio::sync::Semaphore,
    units: u32,
    /// `limits.max_index_file_bytes`: the largest body read.
    max_file: u64,
}

impl IndexBudget {
    pub(crate) fn new(limits: &LimitsConfig) -> Self {
        let units = (limits.proxy_index_buffer_bytes / BUDGET_UNIT)
            .clamp(1, u64::from(u32::MAX >> 4)) as u32;
        Self {
            memory: tokio::sync::Semaphore::new(units as usize),
            units,
            max_file: limits.max_index_file_bytes,
        }
    }

    /// The units a body of `size` bytes costs; a body costing more than
    /// the whole budget takes all of it.
    fn units_for(&self, size: u64) -> u32 {
        size.saturating_mul(INDEX_COST_FACTOR)
            .div_ceil(BUDGET_UNIT)
            .clamp(1, u64::from(self.units)) as u32
    }

    /// Waits (at most `wait`) for the memory a body of `size` bytes costs.
    async fn reserve(
        &self,
        size: u64,
        wait: Duration,
    ) -> Result<tokio::sync::SemaphorePermit<'_>, String> {
        self.acquire(self.units_for(size), wait).await
    }

    /// Grows `held` to what a body of `size` bytes costs (a body whose
    /// size was not declared, as it arrives).
    async fn grow<'a>(
        &'a self,
        held: &mut tokio::sync::SemaphorePermit<'a>,
        size: u64,
        wait: Duration,
    ) -> Result<(), String> {
        let want = self.units_for(size) as usize;
        if want > held.num_permits() {
            let more = (want - held.num_permits()) as u32;
            held.merge(self.acquire(more, wait).await?);
        }
        Ok(())
    }

    async fn acquire(
        &self,
        units: u32,
        wait: Duration,
    ) -> Result<tokio::sync::SemaphorePermit<'_>, String> {
        match tokio::time::timeout(wait, self.memory.acquire_many(units)).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                metrics::counter!("berth_refused_total", "reason" => "proxy_index_buffer")
                    .increment(1);
                Err(
                    "the server is reading as many upstream index files as its memory allows \
                     (limits.proxy_index_buffer_bytes); try again shortly"
                        .into(),
                )
            }
        }
    }
}

pub(crate) struct Proxy {
    settings: ProxySettings,
    budget: Arc<IndexBudget>,
    client: reqwest::Client,
    ttl: Duration,
    memo: RwLock<HashMap<String, Memo>>,
    memo_budget: u64,
    upstream_config: RwLock<Option<(UpstreamConfig, Instant)>>,
    index_flights: KeyedLocks,
    crate_flights: KeyedLocks,
    upstream_slots: tokio::sync::Semaphore,
    crate_fetch_slots: tokio::sync::Semaphore,
    /// `(name, version) -> (sha256, size)` of cached crates, when nothing
    /// is ever evicted (no `cache_max_bytes`): a stored crate never changes,
    /// so a hot download needs no database round trip. With a budget every
    /// download reads (and touches) its row instead.
    located: RwLock<HashMap<(String, String), (String, u64)>>,
}

/// Most cached-crate locations remembered.
const MAX_LOCATED: usize = 200_000;

/// Which metric a proxy event counts.
fn count(what: &'static str, registry: &str) {
    metrics::counter!(what, "registry" => registry.to_string()).increment(1);
}

fn count_bytes(what: &'static str, registry: &str, n: u64) {
    metrics::counter!(what, "registry" => registry.to_string()).increment(n);
}

/// cargo's `{prefix}` for a crate name: `1`, `2`, `3/a`, `ab/cd`.
fn dl_prefix(name: &str) -> String {
    match name.len() {
        0 => String::new(),
        1 => "1".into(),
        2 => "2".into(),
        3 => format!("3/{}", &name[..1]),
        _ => format!("{}/{}", &name[..2], &name[2..4]),
    }
}

/// The download URL of a version by the upstream's `dl` template, with all
/// of cargo's markers (without any, cargo appends `/{crate}/{version}/download`).
fn dl_url(template: &str, name: &str, vers: &str, cksum: &str) -> String {
    const MARKERS: [&str; 5] = [
        "{crate}",
        "{version}",
        "{prefix}",
        "{lowerprefix}",
        "{sha256-checksum}",
    ];
    if !MARKERS.iter().any(|m| template.contains(m)) {
        return format!("{}/{name}/{vers}/download", template.trim_end_matches('/'));
    }
    let prefix = dl_prefix(name);
    template
        .replace("{crate}", name)
        .replace("{version}", vers)
        .replace("{lowerprefix}", &prefix.to_ascii_lowercase())
        .replace("{prefix}", &prefix)
        .replace("{sha256-checksum}", cksum)
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
            .dns_resolver(super::reach::PublicUnlessTrusted::new(trusted_names))
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

    fn memo_get(&self, name: &str, now: Instant) -> Option<Memo> {
        let memo = self.memo.read().ok()?;
        memo.get(name).filter(|m| m.fresh_until > now).cloned()
    }

    fn memo_put(
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

    fn auth_headers(&self, send_token: bool) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let (true, Some(token)) = (send_token, &self.settings.token) {
            if let Ok(mut v) = HeaderValue::from_str(token) {
                v.set_sensitive(true);
                h.insert(AUTHORIZATION, v);
            }
        }
        h
    }

    /// Whether the proxy may contact `url`, never by plain HTTP when the
    /// upstream is HTTPS: the upstream's host or an allowed one (host and
    /// port), or any other host at a public address (an IP literal must be
    /// one; a name is resolved to its public addresses only, by
    /// `reach::PublicUnlessTrusted`). Another port of a trusted name is
    /// not another host's public service, so it is refused.
    fn permitted(&self, url: &reqwest::Url) -> bool {
        let downgrade = self.settings.index_url.starts_with("https://") && url.scheme() != "https";
        if downgrade {
            return false;
        }
        if self.settings.hosts.iter().any(|h| h.matches(url)) {
            return true;
        }
        let Some(host) = url.host_str() else {
            return false;
        };
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<std::net::IpAddr>() {
            Ok(ip) => !super::reach::is_internal(ip),
            Err(_) => {
                let name = host.to_ascii_lowercase();
                !self.settings.hosts.iter().any(|h| h.host == name)
            }
        }
    }

    /// How a URL's host is named in messages (`host` or `host:port`).
    fn host_of(url: &reqwest::Url) -> String {
        UpstreamHost::of(url).map_or_else(|| url.to_string(), |h| h.to_string())
    }

    /// One GET to the upstream, within the proxy's concurrency bound.
    /// Redirects are followed only within the permitted hosts (the token
    /// is not carried to another host); nothing is ever asked of another
    /// host, so nothing another host says is ever read.
    async fn get(
        &self,
        reg: &Registry,
        url: &str,
        mut headers: HeaderMap,
    ) -> Result<reqwest::Response, String> {
        let mut url =
            reqwest::Url::parse(url).map_err(|e| format!("`{url}` is not a usable URL: {e}"))?;
        if !self.permitted(&url) {
            count("berth_proxy_upstream_errors_total", &reg.name);
            return Err(format!(
                "`{}` is neither the upstream's host nor a public address; not contacted (list \
                 it in the proxy's `upstream_allowed_hosts` if you trust it)",
                Self::host_of(&url)
            ));
        }
        let _slot = self
            .upstream_slots
            .acquire()
            .await
            .map_err(|e| e.to_string())?;
        for _ in 0..=MAX_REDIRECTS {
            count("berth_proxy_upstream_requests_total", &reg.name);
            let resp = self
                .client
                .get(url.clone())
                .headers(headers.clone())
                .send()
                .await
                .map_err(|e| {
                    count("berth_proxy_upstream_errors_total", &reg.name);
                    // reqwest's message names the URL, never the headers;
                    // its causes say why (a refused name, a timeout).
                    let mut why = e.to_string();
                    let mut cause = std::error::Error::source(&e);
                    while let Some(c) = cause {
                        why = format!("{why}: {c}");
                        cause = c.source();
                    }
                    why
                })?;
            let status = resp.status();
            let redirect = matches!(
                status,
                StatusCode::MOVED_PERMANENTLY
                    | StatusCode::FOUND
                    | StatusCode::SEE_OTHER
                    | StatusCode::TEMPORARY_REDIRECT
                    | StatusCode::PERMANENT_REDIRECT
            );
            if !redirect {
                return Ok(resp);
            }
            let next = resp
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| url.join(l).ok());
            drop(resp);
            let Some(next) = next else {
                count("berth_proxy_upstream_errors_total", &reg.name);
                return Err(format!(
                    "the upstream answered {status} without a usable Location"
                ));
            };
            if !self.permitted(&next) {
                count("berth_proxy_upstream_errors_total", &reg.name);
                tracing::warn!(
                    registry = %reg.name, to = %Self::host_of(&next),
                    "upstream redirect off its host refused"
                );
                return Err(format!(
                    "the upstream redirected to another host `{}`, which is not a public address; \
                     not followed (list it in the proxy's `upstream_allowed_hosts` if you trust it)",
                    Self::host_of(&next)
                ));
            }
            if Self::host_of(&next) != Self::host_of(&url) {
                headers.remove(AUTHORIZATION);
            }
            url = next;
        }
        count("berth_proxy_upstream_errors_total", &reg.name);
        Err(format!(
            "the upstream redirected more than {MAX_REDIRECTS} times; not followed"
        ))
    }

    /// Reads a response body of at most `max` bytes, into one buffer of
    /// the declared size when there is one.
    async fn read_body(resp: reqwest::Response, max: u64) -> Result<Vec<u8>, String> {
        let too_large = || format!("the upstream's answer is larger than {max} bytes");
        let declared = resp.content_length();
        if declared.is_some_and(|n| n > max) {
            return Err(too_large());
        }
        let mut out = Vec::with_capacity(declared.unwrap_or(0) as usize);
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| format!("reading the upstream's answer: {e}"))?;
            if (out.len() + chunk.len()) as u64 > max {
                return Err(too_large());
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// Reads an index body of at most `limits.max_index_file_bytes`, into
    /// one buffer of its declared size when it declares one (no growing,
    /// no copies); the buffer becomes the served file's body. A large
    /// declared body gets memory of its own (an anonymous mapping), given
    /// back to the system when the file is dropped rather than kept by the
    /// allocator in some thread's arena.
    ///
    /// The body's share of the budget is reserved before it is read: its
    /// declared size, or, without one, a first slice that grows as the
    /// body arrives. It is held (in `memory`) until the file is stored and
    /// built; when `memory` already holds the share of a stored body of
    /// `held_for` bytes, the new body's share is added to it.
    async fn read_index_body<'a>(
        &'a self,
        resp: reqwest::Response,
        memory: &mut Option<tokio::sync::SemaphorePermit<'a>>,
        held_for: u64,
    ) -> Result<Bytes, String> {
        let max = self.budget.max_file;
        let too_large = || {
            format!(
                "the upstream's index file is larger than {max} bytes (limits.max_index_file_bytes)"
            )
        };
        let declared = resp.content_length();
        if declared.is_some_and(|n| n > max) {
            return Err(too_large());
        }
        let wait = Duration::from_secs(self.settings.upstream_timeout_secs);
        let mut reserved = declared.unwrap_or(UNDECLARED_FIRST.min(max));
        // What `memory` already holds (a stored body's share) stays held:
        // the new body's share is added to it.
        let held = match memory {
            Some(held) => {
                self.budget
                    .grow(held, held_for.saturating_add(reserved), wait)
                    .await?;
                held
            }
            None => memory.insert(self.budget.reserve(reserved, wait).await?),
        };
        let mut mapped = match declared {
            Some(n) if n >= MAP_INDEX_FROM => Some(
                memmap2::MmapMut::map_anon(n as usize)
                    .map_err(|e| format!("no memory for the upstream's index file: {e}"))?,
            ),
            _ => None,
        };
        let mut out = Vec::with_capacity(match mapped {
            Some(_) => 0,
            None => declared.unwrap_or(0) as usize,
        });
        let mut len = 0usize;
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| format!("reading the upstream's answer: {e}"))?;
            let end = len + chunk.len();
            if end as u64 > max {
                return Err(too_large());
            }
            if end as u64 > reserved {
                // Room for the buffer doubling as it grows.
                reserved = (end as u64).saturating_mul(2).min(max);
                self.budget
                    .grow(held, held_for.saturating_add(reserved), wait)
                    .await?;
            }
            match mapped.as_mut() {
                Some(map) => map
                    .get_mut(len..end)
                    .ok_or("the upstream sent more than it declared")?
                    .copy_from_slice(&chunk),
                None => out.extend_from_slice(&chunk),
            }
            len = end;
        }
        match mapped {
            Some(map) => {
                let map = map
                    .make_read_only()
                    .map_err(|e| format!("keeping the upstream's index file: {e}"))?;
                Ok(Bytes::from_owner(map).slice(..len))
            }
            None => {
                // A grown buffer gives back what it does not use.
                out.shrink_to_fit();
                Ok(Bytes::from(out))
            }
        }
    }

    /// The upstream's `config.json` (cached for the index TTL, and kept in
    /// the database for other nodes and restarts).
    async fn upstream_config(
        &self,
        berth: &Berth,
        reg: &Registry,
    ) -> Result<UpstreamConfig, ServiceError> {
        if let Ok(guard) = self.upstream_config.read() {
            if let Some((cfg, at)) = guard.as_ref() {
                if berth.clock.instant().saturating_duration_since(*at) < self.ttl {
                    return Ok(cfg.clone());
                }
            }
        }
        let parse = |body: &str| -> Result<UpstreamConfig, String> {
            let v: serde_json::Value = serde_json::from_str(body)
                .map_err(|e| format!("the upstream's config.json is not JSON: {e}"))?;
            let dl = v["dl"]
                .as_str()
                .filter(|d| d.starts_with("http://") || d.starts_with("https://"))
                .ok_or("the upstream's config.json has no http(s) `dl`")?;
            // Downloads go only to the upstream's host or an allowed one.
            let sample = dl_url(dl, "a", "0.0.0", &"0".repeat(64));
            let sample = reqwest::Url::parse(&sample)
                .map_err(|e| format!("the upstream's config.json has an unusable `dl`: {e}"))?;
            if !self.permitted(&sample) {
                return Err(format!(
                    "the upstream's config.json names the download host `{}`, which is neither \
                     the upstream's host nor a public address; not used (list it in \
                     `upstream_allowed_hosts` of registry `{}` if you trust it)",
                    Self::host_of(&sample),
                    reg.name
                ));
            }
            Ok(UpstreamConfig {
                dl: dl.to_string(),
                auth_required: v["auth-required"].as_bool().unwrap_or(false),
            })
        };
        let stored = berth.meta.proxy_index_get(reg.id, CONFIG_KEY).await?;
        let fresh = stored.as_ref().is_some_and(|r| {
            berth.clock.now_unix() - r.fetched_at < self.settings.index_ttl_secs as i64
        });
        let body = if fresh || self.settings.offline {
            stored.and_then(|r| r.body)
        } else {
            let url = format!("{}config.json", self.settings.index_url);
            // The token goes to the index host, as cargo sends it there.
            let fetched = match self.get(reg, &url, self.auth_headers(true)).await {
                Ok(resp) if resp.status() == StatusCode::OK => {
                    Self::read_body(resp, 64 * 1024).await.map(Bytes::from)
                }
                Ok(resp) => Err(format!("the upstream answered {}", resp.status())),
                Err(e) => Err(e),
            };
            match fetched
                .and_then(|b| String::from_utf8(b.to_vec()).map_err(|e| e.to_string()))
                .and_then(|s| parse(&s).map(|_| s))
            {
                Ok(body) => {
                    let now = berth.clock.now_unix();
                    berth
                        .meta
                        .proxy_index_put(
                            reg.id,
                            CONFIG_KEY,
                            &ProxyIndexRow::received(Some(body.clone()), now),
                        )
                        .await?;
                    Some(body)
                }
                Err(e) => {
                    tracing::warn!(registry = %reg.name, error = %e, "upstream config.json unavailable");
                    match stored.and_then(|r| r.body) {
                        Some(body) => Some(body),
                        None => {
                            return Err(ServiceError::BadGateway(format!(
                                "registry `{}` cannot reach its upstream: {e}",
                                reg.name
                            )))
                        }
                    }
                }
            }
        };
        let body = body.ok_or_else(|| {
            ServiceError::NotFound(format!(
                "registry `{}` is offline and has not cached its upstream's configuration",
                reg.name
            ))
        })?;
        let cfg = parse(&body).map_err(ServiceError::BadGateway)?;
        if let Ok(mut guard) = self.upstream_config.write() {
            *guard = Some((cfg.clone(), berth.clock.instant()));
        }
        Ok(cfg)
    }

    /// The served file of a stored row; the body moves, it is not copied.
    async fn file_from_row(row: ProxyIndexRow) -> Result<Option<Arc<IndexFile>>, ServiceError> {
        let Some(body) = row.body else {
            return Ok(None);
        };
        let seed = format!("p{:x}", row.changed_at);
        Ok(Some(Arc::new(
            IndexFile::build(Bytes::from(body.into_bytes()), &seed, row.changed_at).await?,
        )))
    }

    /// The index file of a crate by the lowercased name cargo asks for.
    pub(crate) async fn index_file(&self, at: At<'_>, name: &str) -> Found<Arc<IndexFile>> {
        let At { berth, reg, .. } = at;
        if let Some(m) = self.memo_get(name, berth.clock.instant()) {
            count("berth_proxy_index_hits_total", &reg.name);
            return Ok(m.file);
        }
        // One refresh per file at a time; who waited finds it fresh.
        let _flight = self.index_flights.lock(name).await;
        if let Some(m) = self.memo_get(name, berth.clock.instant()) {
            count("berth_proxy_index_hits_total", &reg.name);
            return Ok(m.file);
        }
        // A stored body's share of the memory budget, reserved before it is
        // loaded and held while it is built, refreshed or served stale (a
        // refresh grows it for the new body): loading stored files is
        // bounded as reading them from the upstream is.
        let mut memory = None;
        if let Some(len) = berth.meta.proxy_index_body_len(reg.id, name).await? {
            let wait = Duration::from_secs(self.settings.upstream_timeout_secs);
            memory = Some(
                self.budget
                    .reserve(len, wait)
                    .await
                    .map_err(ServiceError::Unavailable)?,
            );
        }
        let stored = berth.meta.proxy_index_get(reg.id, name).await?;
        let now = berth.clock.now_unix();
        let ttl = self.settings.index_ttl_secs as i64;
        let mut stored = match stored {
            Some(row) if now - row.fetched_at < ttl || self.settings.offline => {
                // Fresh (another node may have fetched it), or all we have.
                let age = now - row.fetched_at;
                let file = Self::file_from_row(row).await?;
                let left = Duration::from_secs((ttl - age).clamp(1, ttl.max(1)) as u64);
                self.memo_put(name, file.clone(), berth.clock.instant(), left);
                count("berth_proxy_index_hits_total", &reg.name);
                return Ok(file);
            }
            None if self.settings.offline => return Ok(None),
            other => other,
        };
        match self
            .fetch_index(berth, reg, name, &mut stored, &mut memory)
            .await
        {
            Ok(file) => {
                self.memo_put(name, file.clone(), berth.clock.instant(), self.ttl);
                Ok(file)
            }
            Err(e) => match stored {
                Some(row) => {
                    tracing::warn!(
                        registry = %reg.name, krate = %name, error = %e,
                        "upstream unavailable; serving the cached index file"
                    );
                    count("berth_proxy_stale_served_total", &reg.name);
                    let file = Self::file_from_row(row).await?;
                    self.memo_put(
                        name,
                        file.clone(),
                        berth.clock.instant(),
                        RETRY_AFTER_FAILURE.min(self.ttl),
                    );
                    Ok(file)
                }
                None => Err(ServiceError::BadGateway(format!(
                    "registry `{}` could not get `{name}` from its upstream: {e}",
                    reg.name
                ))),
            },
        }
    }

    /// Asks the upstream for an index file (conditionally when one is
    /// cached) and stores the answer. A confirmed `stored` row is taken
    /// (served without a copy); on failure it is left for the caller.
    async fn fetch_index<'a>(
        &'a self,
        berth: &Berth,
        reg: &Registry,
        name: &str,
        stored: &mut Option<ProxyIndexRow>,
        memory: &mut Option<tokio::sync::SemaphorePermit<'a>>,
    ) -> Result<Option<Arc<IndexFile>>, String> {
        let url = format!(
            "{}{}",
            self.settings.index_url,
            berth_protocol::index_path(name)
        );
        let mut headers = self.auth_headers(true);
        if let Some(row) = stored.as_ref().filter(|r| r.body.is_some()) {
            if let Some(v) = row
                .etag
                .as_deref()
                .and_then(|e| HeaderValue::from_str(e).ok())
            {
                headers.insert(IF_NONE_MATCH, v);
            }
            if let Some(v) = row
                .last_modified
                .as_deref()
                .and_then(|e| HeaderValue::from_str(e).ok())
            {
                headers.insert(IF_MODIFIED_SINCE, v);
            }
        }
        let resp = self.get(reg, &url, headers).await?;
        let now = berth.clock.now_unix();
        let store_err = |e: berth_store::StoreError| format!("storing the answer: {e}");
        match resp.status() {
            StatusCode::NOT_MODIFIED if stored.as_ref().is_some_and(|r| r.body.is_some()) => {
                count("berth_proxy_revalidations_total", &reg.name);
                berth
                    .meta
                    .proxy_index_confirm(reg.id, name, now)
                    .await
                    .map_err(store_err)?;
                match stored.take() {
                    Some(row) => Self::file_from_row(row).await.map_err(|e| e.to_string()),
                    None => Ok(None),
                }
            }
            StatusCode::OK => {
                let validator = |h: reqwest::header::HeaderName| {
                    resp.headers()
                        .get(h)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                let etag = validator(reqwest::header::ETAG);
                let last_modified = validator(reqwest::header::LAST_MODIFIED);
                // The body's share of the memory budget (added to the
                // stored body's), for as long as it is read, checked, stored
                // and built; then the memo holds it.
                let stored_len = stored
                    .as_ref()
                    .and_then(|r| r.body.as_ref())
                    .map_or(0, |b| b.len() as u64);
                let body = self.read_index_body(resp, memory, stored_len).await?;
                count_bytes(
                    "berth_proxy_bytes_from_upstream_total",
                    &reg.name,
                    body.len() as u64,
                );
                let text = std::str::from_utf8(&body)
                    .map_err(|_| "the upstream's index file is not UTF-8".to_string())?;
                for l in LineSummary::lines(text) {
                    let l = l.map_err(|e| format!("the upstream's index file is unusable: {e}"))?;
                    if !l.name.eq_ignore_ascii_case(name) && !folded_eq(&l.name, name) {
                        return Err("the upstream's index file is for another crate".into());
                    }
                }
                count("berth_proxy_index_misses_total", &reg.name);
                let changed_at = match stored {
                    Some(row) if row.body.as_deref() == Some(text) => row.changed_at,
                    _ => now,
                };
                // The old body is not needed any more.
                *stored = None;
                let row = ProxyIndexWrite {
                    body: Some(text),
                    etag: etag.as_deref(),
                    last_modified: last_modified.as_deref(),
                    fetched_at: now,
                    changed_at,
                };
                berth
                    .meta
                    .proxy_index_write(reg.id, name, row)
                    .await
                    .map_err(store_err)?;
                // Served from the same memory it was read into.
                let seed = format!("p{changed_at:x}");
                let file = IndexFile::build(body, &seed, changed_at)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Some(Arc::new(file)))
            }
            StatusCode::NOT_FOUND
            | StatusCode::GONE
            | StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS => {
                count("berth_proxy_index_misses_total", &reg.name);
                let row = ProxyIndexRow::received(None, now);
                berth
                    .meta
                    .proxy_index_put(reg.id, name, &row)
                    .await
                    .map_err(store_err)?;
                Ok(None)
            }
            status => {
                count("berth_proxy_upstream_errors_total", &reg.name);
                Err(match status {
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => format!(
                        "the upstream refused the request ({status}); check the proxy's upstream_token_env"
                    ),
                    _ => format!("the upstream answered {status}"),
                })
            }
        }
    }

    pub(crate) async fn locate(&self, at: At<'_>, name: &str, vers: &str) -> Found<BlobRef> {
        let At { berth, reg, .. } = at;
        let lname = name.to_ascii_lowercase();
        let key = (lname.clone(), vers.to_string());
        if let Some((cksum, size)) = self.located.read().ok().and_then(|m| m.get(&key).cloned()) {
            count("berth_proxy_crate_hits_total", &reg.name);
            return Ok(Some(BlobRef {
                cksum,
                size,
                counted: None,
            }));
        }
        if let Some(row) = berth.meta.proxy_crate_get(reg.id, &lname, vers).await? {
            count("berth_proxy_crate_hits_total", &reg.name);
            self.touch(berth, reg, &lname, vers, row.last_used_at);
            let size = row.size.max(0) as u64;
            self.remember(key, &row.cksum, size);
            return Ok(Some(BlobRef {
                cksum: row.cksum,
                size,
                counted: None,
            }));
        }
        if self.settings.offline {
            return Ok(None);
        }
        // The checksum the bytes must have comes from the upstream's index.
        let Some(file) = self.index_file(at, &lname).await? else {
            return Ok(None);
        };
        let text = std::str::from_utf8(&file.body).map_err(|_| {
            ServiceError::BadGateway("the upstream's index file is not UTF-8".into())
        })?;
        let mut found = None;
        for l in LineSummary::lines(text) {
            let l = l.map_err(ServiceError::BadGateway)?;
            if l.vers == vers {
                found = Some(l);
                break;
            }
        }
        let Some(line) = found else {
            return Ok(None);
        };
        let _flight = self.crate_flights.lock(&line.cksum).await;
        if let Some(row) = berth.meta.proxy_crate_get(reg.id, &lname, vers).await? {
            count("berth_proxy_crate_hits_total", &reg.name);
            return Ok(Some(BlobRef {
                cksum: row.cksum,
                size: row.size.max(0) as u64,
                counted: None,
            }));
        }
        // A blob is reused only when this proxy fetched and verified it
        // itself (another version with the same bytes). A blob that only
        // another registry holds (a private hosted crate, whose checksum
        // is in every Cargo.lock that uses it) is not proof that the
        // upstream has these bytes: fetch them and compare.
        let reuse = match berth.blobs.head(&line.cksum).await? {
            Some((size, _)) if berth.meta.proxy_holds_blob(reg.id, &line.cksum).await? => {
                Some(size)
            }
            _ => None,
        };
        let size = match reuse {
            Some(size) => size,
            None => self.fetch_crate(berth, reg, &line).await?,
        };
        berth
            .meta
            .proxy_crate_put(
                reg.id,
                &lname,
                vers,
                &line.cksum,
                size as i64,
                berth.clock.now_unix(),
            )
            .await?;
        self.enforce_budget(berth, reg).await;
        Ok(Some(BlobRef {
            cksum: line.cksum,
            size,
            counted: None,
        }))
    }

    /// Remembers where a cached crate is, when nothing is ever evicted.
    fn remember(&self, key: (String, String), cksum: &str, size: u64) {
        if self.settings.cache_max_bytes.is_some() {
            return;
        }
        if let Ok(mut m) = self.located.write() {
            if m.len() >= MAX_LOCATED {
                m.clear();
            }
            m.insert(key, (cksum.to_string(), size));
        }
    }

    /// Fetches a `.crate` from the upstream, verifies it and stores it.
    async fn fetch_crate(
        &self,
        berth: &Berth,
        reg: &Registry,
        line: &LineSummary,
    ) -> Result<u64, ServiceError> {
        count("berth_proxy_crate_misses_total", &reg.name);
        let _slot = self
            .crate_fetch_slots
            .acquire()
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let cfg = self.upstream_config(berth, reg).await?;
        let url = dl_url(&cfg.dl, &line.name, &line.vers, &line.cksum);
        let what = format!("{}@{}", line.name, line.vers);
        let fail = |e: String| {
            ServiceError::BadGateway(format!(
                "registry `{}` could not get {what} from its upstream: {e}",
                reg.name
            ))
        };
        let resp = self
            .get(reg, &url, self.auth_headers(cfg.auth_required))
            .await
            .map_err(fail)?;
        if resp.status() != StatusCode::OK {
            count("berth_proxy_upstream_errors_total", &reg.name);
            return Err(fail(format!("the upstream answered {}", resp.status())));
        }
        let bytes = Bytes::from(Self::read_body(resp, MAX_CRATE_BYTES).await.map_err(fail)?);
        count_bytes(
            "berth_proxy_bytes_from_upstream_total",
            &reg.name,
            bytes.len() as u64,
        );
        let check = bytes.clone();
        let actual = tokio::task::spawn_blocking(move || hex::encode(Sha256::digest(&check)))
            .await
            .map_err(|e| ServiceError::Internal(format!("hashing task: {e}")))?;
        if actual != line.cksum {
            count("berth_proxy_checksum_mismatches_total", &reg.name);
            tracing::error!(
                registry = %reg.name, krate = %line.name, version = %line.vers,
                expected = %line.cksum, actual = %actual,
                "upstream .crate does not match the index checksum; refused, not cached"
            );
            // What the upstream sent is not echoed (the log has its sha256).
            return Err(fail(format!(
                "the .crate does not match the sha256 {} the index gives; it was refused and \
                 not cached",
                line.cksum
            )));
        }
        let size = bytes.len() as u64;
        // The same bytes may be stored already (another registry's).
        if berth.blobs.head(&line.cksum).await?.is_none() {
            berth.blobs.put(&line.cksum, bytes).await?;
        }
        Ok(size)
    }

    /// Records a cached crate's use, at most once an hour, off the request.
    fn touch(&self, berth: &Berth, reg: &Registry, name: &str, vers: &str, last: i64) {
        let now = berth.clock.now_unix();
        if now - last < TOUCH_EVERY_SECS || self.settings.cache_max_bytes.is_none() {
            return;
        }
        let meta = berth.meta.clone();
        let (id, name, vers) = (reg.id, name.to_string(), vers.to_string());
        tokio::spawn(async move {
            if let Err(e) = meta.proxy_crate_touch(id, &name, &vers, now).await {
                tracing::debug!(error = %e, "could not record a cached crate's use");
            }
        });
    }

    /// Evicts the least recently used crates beyond the byte budget.
    async fn enforce_budget(&self, berth: &Berth, reg: &Registry) {
        let Some(budget) = self.settings.cache_max_bytes else {
            return;
        };
        let result = async {
            let held = berth.meta.proxy_cache_bytes(reg.id).await?;
            if held <= budget {
                return Ok::<_, ServiceError>(0);
            }
            // Down to 90% of the budget, so eviction is not per fetch.
            let evicted = berth
                .meta
                .proxy_evict(reg.id, held - budget + budget / 10)
                .await?;
            for e in &evicted {
                if !berth.meta.blob_referenced(&e.cksum).await? {
                    berth.blobs.delete(&e.cksum).await?;
                }
            }
            Ok(evicted.len())
        }
        .await;
        match result {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(registry = %reg.name, evicted = n, "proxy cache over budget");
                metrics::counter!("berth_proxy_evictions_total", "registry" => reg.name.clone())
                    .increment(n as u64);
            }
            Err(e) => tracing::warn!(registry = %reg.name, error = %e, "proxy eviction failed"),
        }
    }

    /// Search over the names this proxy has cached (works offline and
    /// costs the upstream nothing).
    pub(crate) async fn search(&self, at: At<'_>, page: SearchPage<'_>) -> Answer<SearchResults> {
        let At { berth, reg, .. } = at;
        let q = page.query.to_ascii_lowercase().replace('_', "-");
        let names: Vec<String> = berth
            .meta
            .proxy_index_names(reg.id)
            .await?
            .into_iter()
            // The upstream's `config.json` is kept beside the crates.
            .filter(|n| n != CONFIG_KEY && n.replace('_', "-").contains(&q))
            .collect();
        let total = names.len() as i64;
        let mut hits = Vec::new();
        for name in page.window(names) {
            let Some(row) = berth.meta.proxy_index_get(reg.id, &name).await? else {
                continue;
            };
            let lines = row
                .body
                .as_deref()
                .and_then(|b| LineSummary::read_file(b).ok())
                .unwrap_or_default();
            let max_version = lines
                .iter()
                .filter(|l| !l.yanked)
                .filter_map(|l| semver::Version::parse(&l.vers).ok())
                .max()
                .map(|v| v.to_string());
            hits.push(berth_store::SearchHit {
                name: lines.first().map_or(name, |l| l.name.clone()),
                max_version,
                description: None,
                downloads: 0,
                updated_at: row.changed_at,
            });
        }
        Ok(SearchResults::of(hits, total))
    }

    pub(crate) async fn referenced_blobs(&self, at: At<'_>) -> Answer<HashSet<String>> {
        Ok(at.berth.meta.proxy_blobs(at.reg.id).await?)
    }
}

/// Whether two crate names are the same after folding case and `-`/`_`.
fn folded_eq(a: &str, b: &str) -> bool {
    berth_protocol::canonical_name(a) == berth_protocol::canonical_name(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_urls_follow_cargo_markers() {
        let ck = "ab".repeat(32);
        assert_eq!(
            dl_url("https://up.example/api/v1/crates", "Serde", "1.0.0", &ck),
            "https://up.example/api/v1/crates/Serde/1.0.0/download"
        );
        assert_eq!(
            dl_url(
                "https://up.example/{prefix}/{lowerprefix}/{crate}/{crate}-{version}.crate?sum={sha256-checksum}",
                "Serde",
                "1.0.0",
                &ck
            ),
            format!("https://up.example/Se/rd/se/rd/Serde/Serde-1.0.0.crate?sum={ck}")
        );
        assert_eq!(dl_prefix("a"), "1");
        assert_eq!(dl_prefix("ab"), "2");
        assert_eq!(dl_prefix("Abc"), "3/A");
    }
}
