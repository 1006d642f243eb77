//! A proxy's index files: answered from the in-memory memo, else from
//! `proxy_index` while fresh (`index_ttl_secs`), else asked of the
//! upstream (conditionally when a body is cached, one request per file at
//! a time), checked (UTF-8, every line parses and names this crate) and
//! stored with the upstream's validators; lines pass through untouched.
//! When the upstream fails, a cached file is served (counted as stale)
//! and the upstream is asked again after a short pause; without one the
//! caller gets a 502 that says why. Search reads the cached files only.
//!
//! Bodies are loaded and read within the shared memory budget
//! (`budget.rs`). This module never writes a hosted registry's rows.

use std::sync::Arc;
use std::time::Duration;

use berth_protocol::LineSummary;
use berth_store::{ProxyIndexRow, ProxyIndexWrite};
use bytes::Bytes;
use reqwest::StatusCode;

use super::error::UpstreamError;
use super::state::{count, count_bytes, Proxy};
use super::upstream_config::CONFIG_KEY;
use crate::crates::index::IndexFile;
use crate::error::ServiceError;
use crate::sources::question::{Answer, At, Found, SearchPage, SearchResults};
use crate::{Berth, Registry};

/// After an upstream failure, a stale file is served for this long (or the
/// TTL, when shorter) before the upstream is asked again, so a dead
/// upstream is not asked per request.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

impl Proxy {
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

    /// The index file of a crate (lowercased name) as this proxy holds it,
    /// never asking the upstream: the memo while fresh, else the stored
    /// copy whatever its age (built as [`Proxy::index_file`] builds it, so
    /// with the same ETag). For pages that show what is cached.
    pub(crate) async fn stored_file(&self, at: At<'_>, name: &str) -> Found<Arc<IndexFile>> {
        let At { berth, reg, .. } = at;
        if let Some(m) = self.memo_get(name, berth.clock.instant()) {
            return Ok(m.file);
        }
        match berth.meta.proxy_index_get(reg.id, name).await? {
            Some(row) => Self::file_from_row(row).await,
            None => Ok(None),
        }
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
            memory = Some(self.budget.reserve(len, wait).await?);
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
                None => Err(UpstreamError::IndexFile {
                    registry: reg.name.clone(),
                    name: name.to_string(),
                    why: Box::new(e),
                }
                .into()),
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
    ) -> Result<Option<Arc<IndexFile>>, UpstreamError> {
        let url = format!(
            "{}{}",
            self.settings.index_url,
            berth_protocol::index_path(name)
        );
        let headers = self.index_request_headers(stored.as_ref());
        let resp = self.get(reg, &url, headers).await?;
        let now = berth.clock.now_unix();
        match resp.status() {
            StatusCode::NOT_MODIFIED if stored.as_ref().is_some_and(|r| r.body.is_some()) => {
                count("berth_proxy_revalidations_total", &reg.name);
                berth
                    .meta
                    .proxy_index_confirm(reg.id, name, now)
                    .await
                    .map_err(UpstreamError::Storing)?;
                match stored.take() {
                    Some(row) => Self::file_from_row(row)
                        .await
                        .map_err(UpstreamError::Building),
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
                let text = std::str::from_utf8(&body).map_err(|_| UpstreamError::NotUtf8)?;
                for l in LineSummary::lines(text) {
                    let l = l.map_err(UpstreamError::Unusable)?;
                    if !l.name.eq_ignore_ascii_case(name) && !folded_eq(&l.name, name) {
                        return Err(UpstreamError::OtherCrate);
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
                    .map_err(UpstreamError::Storing)?;
                // Served from the same memory it was read into.
                let seed = format!("p{changed_at:x}");
                let file = IndexFile::build(body, &seed, changed_at)
                    .await
                    .map_err(UpstreamError::Building)?;
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
                    .map_err(UpstreamError::Storing)?;
                Ok(None)
            }
            status => {
                count("berth_proxy_upstream_errors_total", &reg.name);
                Err(match status {
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                        UpstreamError::Refused { status }
                    }
                    _ => UpstreamError::Status { status },
                })
            }
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
                member: None,
            });
        }
        Ok(SearchResults::of(hits, total))
    }
}

/// Whether two crate names are the same after folding case and `-`/`_`.
fn folded_eq(a: &str, b: &str) -> bool {
    berth_protocol::canonical_name(a) == berth_protocol::canonical_name(b)
}
