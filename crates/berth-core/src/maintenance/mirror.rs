//! Mirrors for air-gapped sites: filling a proxy registry ahead of time,
//! exporting what some lockfiles need into one bundle file, and importing a
//! bundle on a machine with no network; and purging what a proxy cached
//! (`berth proxy purge`).
//!
//! A fill takes the versions some lockfiles or a crate list name, or, with
//! `--all` over an upstream that is another Berth, every version its
//! change feed says was published (`mirror_feed_versions`).
//!
//! A fill asks the upstream again about every crate it does not hold
//! (a remembered "not found" or an index file within `index_ttl_secs` is
//! not trusted), so that it reports what the upstream has now.
//!
//! A bundle is a tar file: `berth-mirror.json` (a manifest with the sha256
//! of every member) first, then `index/<name>` (upstream index files as
//! cached) and `crates/<sha256>.crate`. The manifest also carries the
//! source registry's transparency log (when the exporting Berth has a
//! signing key): its signed checkpoint and, per crate, the record, its
//! index and its inclusion proof in that checkpoint's tree. Import verifies
//! every member against the manifest and every `.crate` against the
//! checksum its index line gives before it writes anything; given keys
//! (`--key`), also the checkpoint's signature by one of them, each
//! record's name, version and sha256 against the bundled crate, and each
//! inclusion proof against the checkpoint's root, so that a bundle altered
//! on its way (bytes, index lines and manifest together) is refused.
//! Importing the same bundle twice changes nothing. This module never
//! writes a hosted registry's data.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Write};
use std::path::Path;

use berth_log::VerifierKey;
use berth_protocol::LineSummary;
use berth_store::{now_unix, ProxyIndexRow};
use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ServiceError;
use crate::maintenance::mirror_log::{verify_log, BundleLog, Bundled};
pub use crate::maintenance::mirror_log::{ExportLog, Verified};
use crate::{Berth, Registry};

/// Most bytes of one bundle member read into memory.
const MAX_MEMBER: u64 = 256 * 1024 * 1024;

/// One crate a mirror should hold: a version, or the newest ones.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Wanted {
    pub name: String,
    /// `None`: the newest versions (see `newest`).
    pub version: Option<String>,
}

/// Reads the registry packages (those with a checksum) of Cargo.lock files.
pub fn wanted_from_lockfile(path: &Path) -> Result<Vec<Wanted>, ServiceError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ServiceError::BadRequest(format!("cannot read {}: {e}", path.display())))?;
    let lock: toml::Value = toml::from_str(&text).map_err(|e| {
        ServiceError::BadRequest(format!("{} is not a Cargo.lock: {e}", path.display()))
    })?;
    let packages = lock
        .get("package")
        .and_then(|p| p.as_array())
        .cloned()
        .unwrap_or_default();
    Ok(packages
        .iter()
        .filter(|p| p.get("checksum").is_some())
        .filter_map(|p| {
            Some(Wanted {
                name: p.get("name")?.as_str()?.to_string(),
                version: Some(p.get("version")?.as_str()?.to_string()),
            })
        })
        .collect())
}

/// Reads a list of crates, one per line: `NAME`, `NAME@VERSION` or
/// `NAME VERSION`; `#` starts a comment.
pub fn wanted_from_list(path: &Path) -> Result<Vec<Wanted>, ServiceError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ServiceError::BadRequest(format!("cannot read {}: {e}", path.display())))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut parts = line.splitn(2, ['@', ' ']).map(str::trim);
        let name = parts.next().unwrap_or_default();
        berth_protocol::validate_crate_name(name)
            .map_err(|e| ServiceError::BadRequest(format!("{}:{}: {e}", path.display(), i + 1)))?;
        out.push(Wanted {
            name: name.to_string(),
            version: parts.next().filter(|v| !v.is_empty()).map(str::to_string),
        });
    }
    Ok(out)
}

/// What happened to one crate version during a fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FillOutcome {
    /// It was cached already.
    Present,
    /// It was fetched from the upstream now.
    Fetched,
    /// The upstream has no such crate or version.
    NotFound,
    /// Fetching failed (the message says why).
    Failed(String),
    /// Left out: the registry's policy blocks it (the reason says why).
    Blocked(String),
}

/// The result of a fill.
#[derive(Debug, Clone, Default)]
pub struct FillReport {
    /// `(name, version, outcome)` for each version asked for.
    pub items: Vec<(String, String, FillOutcome)>,
}

impl FillReport {
    pub fn count(&self, f: impl Fn(&FillOutcome) -> bool) -> usize {
        self.items.iter().filter(|(_, _, o)| f(o)).count()
    }
}

/// Manifest of a bundle.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct Manifest {
    format: u32,
    pub(super) registry: String,
    created_at: i64,
    /// index file name -> sha256 of its body.
    index: BTreeMap<String, String>,
    /// `.crate` files: `(name, vers, sha256, size)`.
    pub(super) crates: Vec<(String, String, String, u64)>,
    /// The source registry's transparency log, for `import --key`; absent
    /// when the exporting Berth had no signing key (or predates the log).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) log: Option<BundleLog>,
}

const MANIFEST: &str = "berth-mirror.json";

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub index_files_written: usize,
    pub index_files_unchanged: usize,
    pub crates_written: usize,
    pub crates_present: usize,
    /// Crates of the bundle the registry's policy blocks now (stored, not
    /// served while blocked).
    pub crates_blocked: usize,
    /// What was verified against the source's transparency log: the
    /// checkpoint's origin and size and the key that signed it; `None`
    /// when no key was given (nothing was verified against a log).
    pub verified: Option<Verified>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn bad_bundle(why: impl std::fmt::Display) -> ServiceError {
    ServiceError::BadRequest(format!(
        "the bundle is not usable: {why}; nothing was imported"
    ))
}

/// What `berth proxy purge` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Index answers (files and "no such crate") forgotten.
    pub index_answers: u64,
    /// Cached crates forgotten (their blobs go at the next `berth gc`
    /// unless something else refers to them).
    pub crates: u64,
    /// How long another node (or a running server) may still answer from
    /// its in-memory copy: the proxy's `index_ttl_secs`.
    pub memo_ttl_secs: u64,
}

impl Berth {
    /// Makes a proxy forget what it cached of `name` (every spelling) or of
    /// every crate: index files and "not found" answers, and with `crates`
    /// which `.crate` blobs it holds. Audited (`proxy.purge`). Safe while
    /// servers run: their next look-up asks the upstream once their
    /// in-memory copy (at most `index_ttl_secs` old) expires; this process's
    /// own copies go at once.
    pub async fn proxy_purge(
        &self,
        registry: &str,
        name: Option<&str>,
        crates: bool,
    ) -> Result<PurgeReport, ServiceError> {
        let (reg, proxy) = self.proxy_registry(registry)?;
        let folded = match name {
            Some(n) => {
                let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
                if n.is_empty() || n.len() > 64 || !n.chars().all(plain) {
                    return Err(ServiceError::BadRequest(format!(
                        "`{n}` is not a crate name (ASCII letters, digits, `-` and `_`)"
                    )));
                }
                Some(n.to_ascii_lowercase().replace('_', "-"))
            }
            None => None,
        };
        let (index_answers, crates) = self
            .meta
            .proxy_purge((reg.id, &reg.name), folded.as_deref(), crates)
            .await?;
        proxy.forget(name);
        Ok(PurgeReport {
            index_answers,
            crates,
            memo_ttl_secs: proxy.ttl().as_secs(),
        })
    }

    fn proxy_registry(
        &self,
        name: &str,
    ) -> Result<(&Registry, &crate::sources::Proxy), ServiceError> {
        let reg = self.registry(name)?;
        match reg.source.as_proxy() {
            Some(p) => Ok((reg, p)),
            None => Err(ServiceError::BadRequest(format!(
                "registry `{name}` is a {} registry; mirrors are filled into proxy registries",
                reg.kind()
            ))),
        }
    }

    /// Turns wanted crates into exact versions: each named version, or the
    /// `newest` non-yanked versions of a crate named without one.
    pub async fn mirror_versions(
        &self,
        registry: &str,
        wanted: &[Wanted],
        newest: usize,
    ) -> Result<(Vec<(String, String)>, FillReport), ServiceError> {
        let (reg, proxy) = self.proxy_registry(registry)?;
        let mut exact = BTreeSet::new();
        let mut report = FillReport::default();
        for w in wanted {
            match &w.version {
                Some(v) => {
                    exact.insert((w.name.clone(), v.clone()));
                }
                None => {
                    let lname = w.name.to_ascii_lowercase();
                    proxy.recheck(self.at(reg), &lname).await?;
                    // Under a policy, the newest versions it serves.
                    let file = match self.policed_file(self.at(reg), &lname).await {
                        Ok(Some(f)) => f.file.clone(),
                        Ok(None) => {
                            report
                                .items
                                .push((w.name.clone(), "*".into(), FillOutcome::NotFound));
                            continue;
                        }
                        Err(e) => {
                            report.items.push((
                                w.name.clone(),
                                "*".into(),
                                FillOutcome::Failed(e.to_string()),
                            ));
                            continue;
                        }
                    };
                    let lines = LineSummary::read_file(&String::from_utf8_lossy(&file.body))
                        .map_err(ServiceError::BadGateway)?;
                    let mut versions: Vec<(semver::Version, String)> = lines
                        .into_iter()
                        .filter(|l| !l.yanked)
                        .filter_map(|l| Some((semver::Version::parse(&l.vers).ok()?, l.vers)))
                        .collect();
                    versions.sort();
                    for (_, v) in versions.into_iter().rev().take(newest.max(1)) {
                        exact.insert((w.name.clone(), v));
                    }
                }
            }
        }
        Ok((exact.into_iter().collect(), report))
    }

    /// Every version the proxy's upstream has published, walking its change
    /// feed from the start (the upstream must be a Berth; see
    /// `sources/proxy/feed.rs`), in publish order, each once; and the
    /// feed's sequence read up to. Yanked versions are included (a
    /// lockfile may still pin one); what the policy blocks is left to
    /// the fill to skip.
    pub async fn mirror_feed_versions(
        &self,
        registry: &str,
    ) -> Result<(Vec<(String, String)>, i64), ServiceError> {
        let (reg, proxy) = self.proxy_registry(registry)?;
        let mut seen = std::collections::HashSet::new();
        let mut versions = Vec::new();
        let mut since = 0;
        loop {
            let page = proxy.upstream_feed(reg, since).await?;
            let Some(last) = page.changes.last().map(|c| c.seq) else {
                return Ok((versions, since));
            };
            if last <= since {
                return Err(ServiceError::BadGateway(format!(
                    "the upstream of registry `{registry}` answered changes after sequence \
                     {since} with sequence {last}: not a change feed"
                )));
            }
            for c in page.changes {
                let key = (
                    berth_store::canon_name(&c.crate_name),
                    berth_store::canon_vers(&c.version).to_string(),
                );
                if c.action == berth_store::AuditAction::Publish && seen.insert(key) {
                    versions.push((c.crate_name, c.version));
                }
            }
            since = last;
            if since >= page.head {
                return Ok((versions, since));
            }
        }
    }

    /// Makes sure a proxy holds each version, fetching what it lacks with at
    /// most `concurrency` upstream fetches at once. Safe to interrupt and
    /// run again: what is cached is not fetched twice. `progress` is called
    /// after each version.
    pub async fn mirror_fill(
        &self,
        registry: &str,
        versions: &[(String, String)],
        concurrency: usize,
        progress: &(dyn Fn(&str, &FillOutcome) + Sync),
    ) -> Result<FillReport, ServiceError> {
        let (reg, proxy) = self.proxy_registry(registry)?;
        let results: Vec<(String, String, FillOutcome)> =
            futures::stream::iter(versions.iter().cloned())
                .map(|(name, vers)| async move {
                    let outcome = self
                        .fill_one(reg, proxy, &name, &vers)
                        .await
                        .unwrap_or_else(|e| FillOutcome::Failed(e.to_string()));
                    progress(&format!("{name}@{vers}"), &outcome);
                    (name, vers, outcome)
                })
                .buffer_unordered(concurrency.clamp(1, 64))
                .collect()
                .await;
        Ok(FillReport { items: results })
    }

    /// One version of a fill: skipped when the policy blocks it, else
    /// present, fetched now, or not on the upstream.
    async fn fill_one(
        &self,
        reg: &Registry,
        proxy: &crate::sources::Proxy,
        name: &str,
        vers: &str,
    ) -> Result<FillOutcome, ServiceError> {
        if let Some(b) = self.blocked_version(self.at(reg), name, vers).await? {
            return Ok(FillOutcome::Blocked(b.reason));
        }
        let lname = name.to_ascii_lowercase();
        if self
            .meta
            .proxy_crate_get(reg.id, &lname, vers)
            .await?
            .is_some()
        {
            return Ok(FillOutcome::Present);
        }
        proxy.recheck(self.at(reg), &lname).await?;
        Ok(match proxy.locate(self.at(reg), name, vers).await? {
            Some(_) => FillOutcome::Fetched,
            None => FillOutcome::NotFound,
        })
    }

    /// Fills the proxy with `versions`, then writes them (index files and
    /// crates, with the proxy's signed checkpoint and each crate's
    /// inclusion proof) into a bundle at `out` (written whole, then
    /// renamed).
    pub async fn mirror_export(
        &self,
        registry: &str,
        versions: &[(String, String)],
        out: &Path,
        progress: &(dyn Fn(&str, &FillOutcome) + Sync),
    ) -> Result<(FillReport, ExportLog), ServiceError> {
        let report = self.mirror_fill(registry, versions, 8, progress).await?;
        let (reg, _) = self.proxy_registry(registry)?;
        let mut manifest = Manifest {
            format: 1,
            registry: reg.name.clone(),
            created_at: now_unix(),
            index: BTreeMap::new(),
            crates: Vec::new(),
            log: None,
        };
        let mut index_bodies: BTreeMap<String, String> = BTreeMap::new();
        let mut crates: Vec<(String, String, String, u64)> = Vec::new();
        for (name, vers, outcome) in &report.items {
            if !matches!(outcome, FillOutcome::Present | FillOutcome::Fetched) {
                continue;
            }
            let lname = name.to_ascii_lowercase();
            if !index_bodies.contains_key(&lname) {
                if let Some(body) = self
                    .meta
                    .proxy_index_get(reg.id, &lname)
                    .await?
                    .and_then(|r| r.body)
                {
                    index_bodies.insert(lname.clone(), body);
                }
            }
            if let Some(row) = self.meta.proxy_crate_get(reg.id, &lname, vers).await? {
                crates.push((lname, vers.clone(), row.cksum, row.size.max(0) as u64));
            }
        }
        crates.sort();
        crates.dedup();
        for (name, body) in &index_bodies {
            manifest
                .index
                .insert(name.clone(), sha256_hex(body.as_bytes()));
        }
        manifest.crates = crates.clone();
        let (log, exported) = self.bundle_log(reg, &crates).await?;
        manifest.log = log;

        let partial = out.with_extension("partial");
        // 0600: an authenticated upstream's crates may be private.
        let file = crate::maintenance::backup::create_private(&partial).map_err(|e| {
            ServiceError::BadRequest(format!("cannot write {}: {e}", partial.display()))
        })?;
        let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
        let io = |e: std::io::Error| ServiceError::Internal(format!("writing the bundle: {e}"));
        let append = |tar: &mut tar::Builder<_>, path: &str, bytes: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(manifest.created_at.max(0) as u64);
            h.set_cksum();
            tar.append_data(&mut h, path, bytes)
        };
        let manifest_json = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        append(&mut tar, MANIFEST, &manifest_json).map_err(io)?;
        for (name, body) in &index_bodies {
            append(&mut tar, &format!("index/{name}"), body.as_bytes()).map_err(io)?;
        }
        for (_, _, cksum, _) in &crates {
            let bytes = self.blobs.get(cksum).await?.ok_or_else(|| {
                ServiceError::Internal(format!("blob {cksum} is missing from the blob store"))
            })?;
            if sha256_hex(&bytes) != *cksum {
                return Err(ServiceError::Internal(format!(
                    "blob {cksum} in the blob store is corrupt"
                )));
            }
            append(&mut tar, &format!("crates/{cksum}.crate"), &bytes).map_err(io)?;
        }
        let mut w = tar.into_inner().map_err(io)?;
        w.flush().map_err(io)?;
        w.get_ref().sync_all().map_err(io)?;
        drop(w);
        std::fs::rename(&partial, out).map_err(io)?;
        Ok((report, exported))
    }

    /// Loads a bundle into a proxy registry after verifying all of it:
    /// with `keys`, also against the source's transparency log (see the
    /// module's header).
    pub async fn mirror_import(
        &self,
        registry: &str,
        bundle: &Path,
        keys: &[VerifierKey],
    ) -> Result<ImportReport, ServiceError> {
        let (reg, _) = self.proxy_registry(registry)?;
        let path = bundle.to_path_buf();
        let keys = keys.to_vec();
        // Pass 1, off the async workers: read and verify everything.
        let (index, crates, verified) =
            tokio::task::spawn_blocking(move || read_bundle(&path, &keys))
                .await
                .map_err(|e| ServiceError::Internal(format!("bundle task: {e}")))??;
        // Pass 2: write what is not there yet.
        let mut report = ImportReport {
            verified,
            ..ImportReport::default()
        };
        let now = self.clock.now_unix();
        for (name, body) in &index {
            let stored = self.meta.proxy_index_get(reg.id, name).await?;
            if stored.as_ref().and_then(|r| r.body.as_deref()) == Some(body.as_str()) {
                report.index_files_unchanged += 1;
                continue;
            }
            self.meta
                .proxy_index_put(
                    reg.id,
                    name,
                    &ProxyIndexRow::received(Some(body.clone()), now),
                )
                .await?;
            report.index_files_written += 1;
        }
        for (name, vers, cksum, bytes) in crates {
            // Stored all the same (verified bytes; the download check keeps
            // a blocked version from cargo, and a block that lifts later,
            // a cooldown ending, needs no new bundle): counted and logged.
            if let Ok(Some(b)) = self.blocked_version(self.at(reg), &name, &vers).await {
                tracing::info!(registry = %reg.name, krate = %name, version = %vers, reason = %b.reason,
                    "mirror import: the registry's policy blocks this version for now");
                report.crates_blocked += 1;
            }
            if self
                .meta
                .proxy_crate_get(reg.id, &name, &vers)
                .await?
                .is_some()
            {
                report.crates_present += 1;
                continue;
            }
            let size = bytes.len() as i64;
            if self.blobs.head(&cksum).await?.is_none() {
                self.blobs.put(&cksum, bytes).await?;
            }
            self.meta
                .proxy_crate_put(reg.id, &reg.name, &name, &vers, &cksum, size, now)
                .await?;
            report.crates_written += 1;
        }
        Ok(report)
    }
}

/// A verified bundle: index files by name, `(name, vers, sha256, bytes)`
/// of its crates, and what was verified against a log.
type Bundle = (
    BTreeMap<String, String>,
    Vec<(String, String, String, Bytes)>,
    Option<Verified>,
);

/// Reads and verifies a whole bundle: every member against the manifest,
/// every `.crate` against its index line, and with `keys` every crate
/// against the source's log.
fn read_bundle(path: &Path, keys: &[VerifierKey]) -> Result<Bundle, ServiceError> {
    let file = std::fs::File::open(path)
        .map_err(|e| ServiceError::BadRequest(format!("cannot read {}: {e}", path.display())))?;
    let mut manifest: Option<Manifest> = None;
    let mut index: BTreeMap<String, String> = BTreeMap::new();
    let mut blobs: HashMap<String, Bytes> = HashMap::new();
    // Long names and PAX records are bounded under the tar reader.
    let mut refused: Option<ServiceError> = None;
    let walked = crate::maintenance::tar_input::entries(std::io::BufReader::new(file), |entry| {
        read_member(entry, &mut manifest, &mut index, &mut blobs).map_err(|e| {
            let message = e.to_string();
            refused = Some(e);
            message
        })
    });
    if let Err(e) = walked {
        return Err(refused.unwrap_or_else(|| bad_bundle(e)));
    }
    let manifest = manifest.ok_or_else(|| bad_bundle("it has no manifest"))?;
    if manifest.format != 1 {
        return Err(bad_bundle(format!(
            "format {} is not known",
            manifest.format
        )));
    }
    if index.len() != manifest.index.len() {
        return Err(bad_bundle("index files are missing (truncated?)"));
    }
    let mut crates = Vec::new();
    for (name, vers, cksum, size) in &manifest.crates {
        let bytes = blobs
            .get(cksum)
            .ok_or_else(|| bad_bundle(format!("{name}@{vers} is missing (truncated?)")))?;
        if bytes.len() as u64 != *size {
            return Err(bad_bundle(format!("{name}@{vers} has the wrong size")));
        }
        // The checksum the index gives this version, not just the file name.
        let listed = index
            .get(name)
            .and_then(|b| LineSummary::read_file(b).ok())
            .and_then(|lines| lines.into_iter().find(|l| &l.vers == vers))
            .ok_or_else(|| bad_bundle(format!("{name}@{vers} has no index line")))?;
        if &listed.cksum != cksum {
            return Err(bad_bundle(format!(
                "{name}@{vers} does not match the checksum of its index line"
            )));
        }
        crates.push((name.clone(), vers.clone(), cksum.clone(), bytes.clone()));
    }
    let verified = if keys.is_empty() {
        None
    } else {
        Some(verify_log(
            &Bundled {
                registry: &manifest.registry,
                crates: &manifest.crates,
                log: manifest.log.as_ref(),
            },
            keys,
        )?)
    };
    Ok((index, crates, verified))
}

/// Reads one bundle member and checks it against the manifest read before
/// it (index files) or its name (crates).
fn read_member(
    entry: &mut tar::Entry<'_, impl Read>,
    manifest: &mut Option<Manifest>,
    index: &mut BTreeMap<String, String>,
    blobs: &mut HashMap<String, Bytes>,
) -> Result<(), ServiceError> {
    let member = entry
        .path()
        .map_err(bad_bundle)?
        .to_string_lossy()
        .to_string();
    if entry.size() > MAX_MEMBER {
        return Err(bad_bundle(format!("member `{member}` is too large")));
    }
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    entry
        .read_to_end(&mut bytes)
        .map_err(|e| bad_bundle(format!("member `{member}` is truncated: {e}")))?;
    if member == MANIFEST {
        *manifest = Some(serde_json::from_slice(&bytes).map_err(bad_bundle)?);
        return Ok(());
    }
    let Some(m) = manifest.as_ref() else {
        return Err(bad_bundle("the manifest is not its first member"));
    };
    if let Some(name) = member.strip_prefix("index/") {
        let want = m
            .index
            .get(name)
            .ok_or_else(|| bad_bundle(format!("`{member}` is not in the manifest")))?;
        if &sha256_hex(&bytes) != want {
            return Err(bad_bundle(format!(
                "`{member}` does not match its checksum"
            )));
        }
        let body = String::from_utf8(bytes).map_err(bad_bundle)?;
        LineSummary::read_file(&body).map_err(bad_bundle)?;
        index.insert(name.to_string(), body);
    } else if let Some(cksum) = member
        .strip_prefix("crates/")
        .and_then(|m| m.strip_suffix(".crate"))
    {
        if sha256_hex(&bytes) != cksum {
            return Err(bad_bundle(format!(
                "`{member}` does not match its checksum"
            )));
        }
        blobs.insert(cksum.to_string(), Bytes::from(bytes));
    } else {
        return Err(bad_bundle(format!("unexpected member `{member}`")));
    }
    Ok(())
}
