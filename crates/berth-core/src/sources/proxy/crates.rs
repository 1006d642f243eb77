//! A proxy's `.crate` files: where a cached version's blob is (remembered
//! in memory when nothing is ever evicted), else fetched from the upstream
//! at most once per checksum at a time, verified against the checksum the
//! upstream's index gives before it is stored or served, and then served
//! from the blob store like a hosted crate. Uses are recorded and the least
//! recently used crates evicted beyond `cache_max_bytes`.
//!
//! A blob another registry stored is reused only when this proxy's own
//! records name it: a hosted crate's checksum is no proof of what the
//! upstream has. Nothing a failed upstream sent is echoed.

use std::collections::HashSet;

use berth_protocol::LineSummary;
use berth_store::{AuditAction, AuditEntry, AuditOutcome, StoreError};
use bytes::Bytes;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use super::error::UpstreamError;
use super::state::{count, count_bytes, Proxy};
use super::upstream_config::dl_url;
use crate::error::ServiceError;
use crate::sources::question::{Answer, At, BlobRef, Found};
use crate::{Berth, Registry};

/// Largest upstream `.crate` accepted.
const MAX_CRATE_BYTES: u64 = 64 * 1024 * 1024;

/// Cached `.crate` uses are written back at most this often per crate.
const TOUCH_EVERY_SECS: i64 = 3600;

/// Most cached-crate locations remembered.
const MAX_LOCATED: usize = 200_000;

impl Proxy {
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
        let text = std::str::from_utf8(&file.body).map_err(|_| UpstreamError::NotUtf8)?;
        let mut found = None;
        for l in LineSummary::lines(text) {
            let l = l.map_err(UpstreamError::BadLine)?;
            if l.vers == vers {
                found = Some(l);
                break;
            }
        }
        let Some(line) = found else {
            return Ok(None);
        };
        // First seen wins: an upstream that now gives other bytes for a
        // version this proxy logged is refused before they are fetched.
        if let Some(logged) = berth.meta.log_record(reg.id, &line.name, vers).await? {
            if logged.sha256 != line.cksum {
                return Err(self.refuse_changed(berth, reg, &line, logged.sha256).await);
            }
        }
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
        let put = berth
            .meta
            .proxy_crate_put(
                reg.id,
                &reg.name,
                &line.name,
                vers,
                &line.cksum,
                size as i64,
                berth.clock.now_unix(),
            )
            .await;
        match put {
            Err(StoreError::LogConflict { logged, .. }) => {
                return Err(self.refuse_changed(berth, reg, &line, logged).await)
            }
            other => other?,
        }
        self.enforce_budget(berth, reg).await;
        Ok(Some(BlobRef {
            cksum: line.cksum,
            size,
            counted: None,
        }))
    }

    /// Reports an upstream that changed a logged version's bytes (metric,
    /// error log, audit row) and gives the refusal cargo shows.
    async fn refuse_changed(
        &self,
        berth: &Berth,
        reg: &Registry,
        line: &LineSummary,
        logged: String,
    ) -> ServiceError {
        count("berth_log_upstream_changed_total", &reg.name);
        tracing::error!(
            registry = %reg.name, krate = %line.name, version = %line.vers,
            logged = %logged, offered = %line.cksum,
            "the upstream changed the bytes of a logged version; refused"
        );
        berth
            .audit_refusal(&AuditEntry {
                registry: Some(reg.name.clone()),
                crate_name: Some(line.name.clone()),
                version: Some(line.vers.clone()),
                detail: Some(format!(
                    "logged sha256={logged} upstream sha256={}",
                    line.cksum
                )),
                ..AuditEntry::new(AuditAction::LogUpstreamChanged, AuditOutcome::Denied)
            })
            .await;
        UpstreamError::CrateFile {
            registry: reg.name.clone(),
            name: line.name.clone(),
            vers: line.vers.clone(),
            why: Box::new(UpstreamError::Changed {
                logged,
                offered: line.cksum.clone(),
            }),
        }
        .into()
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
        let fail = |why: UpstreamError| -> ServiceError {
            UpstreamError::CrateFile {
                registry: reg.name.clone(),
                name: line.name.clone(),
                vers: line.vers.clone(),
                why: Box::new(why),
            }
            .into()
        };
        let resp = self
            .get(reg, &url, self.auth_headers(cfg.auth_required))
            .await
            .map_err(fail)?;
        if resp.status() != StatusCode::OK {
            count("berth_proxy_upstream_errors_total", &reg.name);
            return Err(fail(UpstreamError::Status {
                status: resp.status(),
            }));
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
            return Err(fail(UpstreamError::Mismatch {
                expected: line.cksum.clone(),
            }));
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

    pub(crate) async fn referenced_blobs(&self, at: At<'_>) -> Answer<HashSet<String>> {
        Ok(at.berth.meta.proxy_blobs(at.reg.id).await?)
    }
}
