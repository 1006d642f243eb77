//! A toolchains registry's state (settings, upstream client, keyed locks,
//! the archive hashes of the manifests it holds) and what it does with the
//! upstream: manifests fetched, checked against their `.sha256` and kept;
//! archives fetched, verified and stored. Serves nothing itself
//! (`serve.rs` does) and never decides who may ask.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;
use std::time::Duration;

use berth_store::ProxyIndexRow;
use bytes::Bytes;
use futures::StreamExt;
use sha2::{Digest, Sha256};

use super::paths::{archive_hashes, manifest_path, sha256_of_file};
use super::settings::ToolchainsSettings;
use crate::error::ServiceError;
use crate::sources::flight::KeyedLocks;
use crate::{Berth, Registry};

/// Largest manifest or `.sha256` accepted from the upstream.
const MAX_MANIFEST_BYTES: usize = 16 * 1024 * 1024;

/// Largest archive accepted from the upstream (held in memory until it is
/// verified and stored; the largest components are a few hundred MiB).
const MAX_ARCHIVE_BYTES: usize = 512 * 1024 * 1024;

/// Archives a toolchains registry fetches from its upstream at once: with
/// [`MAX_ARCHIVE_BYTES`], what bounds the memory uncached archives take,
/// however many clients ask for however many archives (the rest wait
/// their turn; cached archives are served meanwhile).
const ARCHIVE_FETCH_SLOTS: usize = 2;

/// Most archive hashes remembered in memory (they are found again in the
/// held manifests).
const MAX_HASHES: usize = 100_000;

/// One toolchains registry.
pub(crate) struct Toolchains {
    pub(crate) settings: ToolchainsSettings,
    client: reqwest::Client,
    flights: KeyedLocks,
    /// [`ARCHIVE_FETCH_SLOTS`].
    fetch_slots: tokio::sync::Semaphore,
    /// sha256 by archive dist path, from the manifests held.
    hashes: RwLock<HashMap<String, String>>,
    /// The held manifests (name, when their body changed) read into
    /// `hashes` after a miss, so that a miss does not parse them again.
    learned: RwLock<HashSet<(String, i64)>>,
}

/// Why an upstream answer could not be used; every message says what
/// failed and never echoes what the upstream sent.
fn bad_gateway(reg: &Registry, path: &str, why: impl std::fmt::Display) -> ServiceError {
    ServiceError::BadGateway(format!(
        "toolchains registry `{}`: the upstream's {path}: {why}",
        reg.name
    ))
}

fn count(what: &'static str, registry: &str) {
    metrics::counter!(what, "registry" => registry.to_string()).increment(1);
}

/// A held manifest pair's fate after a look at the upstream.
pub(crate) enum Held {
    /// Fresh (or confirmed just now, or offline).
    Fresh,
    /// The upstream failed; what is held stands in.
    Stale,
}

impl Toolchains {
    pub(crate) fn new(settings: ToolchainsSettings) -> Result<Self, ServiceError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(settings.connect_timeout_secs))
            .timeout(Duration::from_secs(settings.upstream_timeout_secs))
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ServiceError::Internal(format!("upstream client: {e}")))?;
        Ok(Self {
            settings,
            client,
            flights: KeyedLocks::default(),
            fetch_slots: tokio::sync::Semaphore::new(ARCHIVE_FETCH_SLOTS),
            hashes: RwLock::default(),
            learned: RwLock::default(),
        })
    }

    /// The refusal of a crate question (index, download, search, publish)
    /// to toolchains registry `reg`.
    pub(crate) fn crate_question(reg: &Registry) -> ServiceError {
        ServiceError::BadRequest(format!(
            "registry {0} is a toolchains registry: it serves rustup's distribution at /t/{0}",
            reg.name
        ))
    }

    /// GETs `path` from the upstream, at most `max` bytes of body; `None`
    /// when it answers 404.
    async fn get(
        &self,
        reg: &Registry,
        path: &str,
        max: usize,
    ) -> Result<Option<Bytes>, ServiceError> {
        let url = format!("{}/{path}", self.settings.upstream);
        let resp = self.client.get(&url).send().await.map_err(|e| {
            bad_gateway(
                reg,
                path,
                format!("unreachable ({})", error_chain(&e.without_url())),
            )
        })?;
        match resp.status() {
            reqwest::StatusCode::OK => {}
            reqwest::StatusCode::NOT_FOUND => return Ok(None),
            status => return Err(bad_gateway(reg, path, format!("answered {status}"))),
        }
        if resp.content_length().is_some_and(|n| n > max as u64) {
            return Err(bad_gateway(reg, path, format!("larger than {max} bytes")));
        }
        let mut body = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| bad_gateway(reg, path, format!("cut short ({e})")))?;
            if body.len() + chunk.len() > max {
                return Err(bad_gateway(reg, path, format!("larger than {max} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Some(Bytes::from(body)))
    }

    /// Makes sure a manifest and its `.sha256` are held: a dated pair once,
    /// an undated one revalidated after the TTL. `Ok(None)` when neither is
    /// held and the upstream has no such manifest (or the registry is
    /// offline).
    pub(crate) async fn manifest(
        &self,
        berth: &Berth,
        reg: &Registry,
        date: Option<&str>,
        channel: &str,
    ) -> Result<Option<Held>, ServiceError> {
        let toml_name = manifest_path(date, channel, false);
        let sha_name = manifest_path(date, channel, true);
        let fresh = |sha: &ProxyIndexRow| {
            date.is_some()
                || self.settings.offline
                || berth.clock.now_unix() - sha.fetched_at < self.settings.manifest_ttl_secs as i64
        };
        if let Some((_, sha)) = held_pair(berth, reg, &toml_name, &sha_name).await? {
            if fresh(&sha) {
                return Ok(Some(Held::Fresh));
            }
        } else if self.settings.offline {
            return Ok(None);
        }
        let _flight = self.flights.lock(&toml_name).await;
        let before = held_pair(berth, reg, &toml_name, &sha_name).await?;
        if let Some((_, sha)) = &before {
            if fresh(sha) {
                return Ok(Some(Held::Fresh));
            }
        }
        match self
            .refresh(berth, reg, &toml_name, &sha_name, before.as_ref())
            .await
        {
            Ok(found) => Ok(found.then_some(Held::Fresh)),
            Err(e) if before.is_some() => {
                count("berth_toolchains_stale_total", &reg.name);
                tracing::warn!(registry = %reg.name, manifest = %toml_name, error = %e,
                    "upstream failed; serving the manifest held");
                Ok(Some(Held::Stale))
            }
            Err(e) => Err(e),
        }
    }

    /// Asks the upstream for a manifest pair, the `.sha256` first (an
    /// unchanged one only confirms what is held); stores the pair when the
    /// manifest matches it. `Ok(false)`: the upstream has no such manifest.
    async fn refresh(
        &self,
        berth: &Berth,
        reg: &Registry,
        toml_name: &str,
        sha_name: &str,
        before: Option<&(ProxyIndexRow, ProxyIndexRow)>,
    ) -> Result<bool, ServiceError> {
        let now = berth.clock.now_unix();
        let Some(sha_body) = self.get(reg, sha_name, 4096).await? else {
            return Ok(false);
        };
        let sha_text = std::str::from_utf8(&sha_body)
            .map_err(|_| bad_gateway(reg, sha_name, "is not text"))?;
        let want = sha256_of_file(sha_text)
            .ok_or_else(|| bad_gateway(reg, sha_name, "does not start with a sha256"))?;
        if let Some((toml, sha)) = before {
            if sha.body.as_deref() == Some(sha_text) {
                for (name, row) in [(toml_name, toml), (sha_name, sha)] {
                    let row = ProxyIndexRow {
                        fetched_at: now,
                        ..row.clone()
                    };
                    berth.meta.proxy_index_put(reg.id, name, &row).await?;
                }
                return Ok(true);
            }
        }
        let Some(toml_body) = self.get(reg, toml_name, MAX_MANIFEST_BYTES).await? else {
            return Err(bad_gateway(reg, toml_name, "is missing beside its .sha256"));
        };
        let actual = hex::encode(Sha256::digest(&toml_body));
        if actual != want {
            count("berth_toolchains_checksum_mismatches_total", &reg.name);
            return Err(bad_gateway(
                reg,
                toml_name,
                format!("does not match its .sha256 ({want}); refused, not cached"),
            ));
        }
        let toml_text = String::from_utf8(toml_body.to_vec())
            .map_err(|_| bad_gateway(reg, toml_name, "is not UTF-8"))?;
        self.learn(&toml_text);
        berth
            .meta
            .proxy_index_put(
                reg.id,
                toml_name,
                &ProxyIndexRow::received(Some(toml_text), now),
            )
            .await?;
        berth
            .meta
            .proxy_index_put(
                reg.id,
                sha_name,
                &ProxyIndexRow::received(Some(sha_text.to_string()), now),
            )
            .await?;
        count("berth_toolchains_manifest_fetches_total", &reg.name);
        Ok(true)
    }

    /// Remembers the archive hashes a manifest gives.
    fn learn(&self, manifest: &str) {
        let found = archive_hashes(manifest);
        if let Ok(mut m) = self.hashes.write() {
            if m.len() + found.len() > MAX_HASHES {
                m.clear();
            }
            m.extend(found);
        }
    }

    /// The sha256 a held manifest gives for archive `path`.
    pub(crate) async fn hash_of(
        &self,
        berth: &Berth,
        reg: &Registry,
        path: &str,
    ) -> Result<Option<String>, ServiceError> {
        let known = |s: &Self| s.hashes.read().ok().and_then(|m| m.get(path).cloned());
        if let Some(h) = known(self) {
            return Ok(Some(h));
        }
        // Not learned on this node (a restart, or another node fetched
        // the manifest): read the held manifests that can list it, the
        // archive's date's and the undated ones, each version once.
        let Some(date) = path.strip_prefix("dist/").and_then(|r| r.split_once('/')) else {
            return Ok(None);
        };
        let dated = format!("dist/{}/", date.0);
        for name in berth.meta.toolchain_manifest_names(reg.id).await? {
            let undated = name.strip_prefix("dist/").is_some_and(|r| !r.contains('/'));
            if !undated && !name.starts_with(&dated) {
                continue;
            }
            let Some(row) = berth.meta.proxy_index_get(reg.id, &name).await? else {
                continue;
            };
            let seen = (name, row.changed_at);
            if self.learned.read().is_ok_and(|l| l.contains(&seen)) {
                continue;
            }
            if let Some(body) = &row.body {
                self.learn(body);
            }
            if let Ok(mut l) = self.learned.write() {
                if l.len() >= MAX_HASHES {
                    l.clear();
                }
                l.insert(seen);
            }
        }
        Ok(known(self))
    }

    /// Makes sure archive `path` (with sha256 `want`) is in the blob store
    /// and recorded; its size.
    pub(crate) async fn archive(
        &self,
        berth: &Berth,
        reg: &Registry,
        path: &str,
        want: &str,
    ) -> Result<Option<u64>, ServiceError> {
        if let Some(row) = berth.meta.proxy_crate_get(reg.id, path, "").await? {
            count("berth_toolchains_archive_hits_total", &reg.name);
            return Ok(Some(row.size.max(0) as u64));
        }
        if self.settings.offline {
            return Ok(None);
        }
        let _flight = self.flights.lock(path).await;
        if let Some(row) = berth.meta.proxy_crate_get(reg.id, path, "").await? {
            return Ok(Some(row.size.max(0) as u64));
        }
        count("berth_toolchains_archive_misses_total", &reg.name);
        let _slot = self
            .fetch_slots
            .acquire()
            .await
            .map_err(|e| ServiceError::Internal(format!("archive fetch slots: {e}")))?;
        let Some(bytes) = self.get(reg, path, MAX_ARCHIVE_BYTES).await? else {
            return Ok(None);
        };
        let check = bytes.clone();
        let actual = tokio::task::spawn_blocking(move || hex::encode(Sha256::digest(&check)))
            .await
            .map_err(|e| ServiceError::Internal(format!("hashing task: {e}")))?;
        if actual != want {
            count("berth_toolchains_checksum_mismatches_total", &reg.name);
            tracing::error!(registry = %reg.name, path = %path, expected = %want,
                actual = %actual, "upstream archive does not match its manifest; refused, not cached");
            return Err(bad_gateway(
                reg,
                path,
                format!(
                    "does not match the sha256 its manifest gives ({want}); refused, not cached"
                ),
            ));
        }
        let size = bytes.len() as u64;
        if berth.blobs.head(want).await?.is_none() {
            berth.blobs.put(want, bytes).await?;
        }
        berth
            .meta
            .toolchain_archive_put(reg.id, path, want, size as i64, berth.clock.now_unix())
            .await?;
        Ok(Some(size))
    }
}

/// A held manifest and its `.sha256`, when both are held.
async fn held_pair(
    berth: &Berth,
    reg: &Registry,
    toml_name: &str,
    sha_name: &str,
) -> Result<Option<(ProxyIndexRow, ProxyIndexRow)>, ServiceError> {
    let toml = berth.meta.proxy_index_get(reg.id, toml_name).await?;
    let sha = berth.meta.proxy_index_get(reg.id, sha_name).await?;
    Ok(toml
        .zip(sha)
        .filter(|(t, s)| t.body.is_some() && s.body.is_some()))
}

/// A reqwest error with its causes, for a message.
fn error_chain(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
