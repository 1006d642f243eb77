//! The advisory set: imported (`berth advisories import`), kept with the
//! data as one row so that every node loads the same set, and listed
//! (`berth advisories list`, `GET /api/v1/advisories`). An import is all
//! or nothing: a refused input leaves the set in force as it was.

use std::path::PathBuf;

use berth_advisory::{Advisory, Limits};
use berth_store::{AdvisorySetInfo, AuditAction, AuditEntry, NewAdvisorySet};
use serde::Serialize;

use crate::config::AdvisorySource;
use crate::error::ServiceError;
use crate::Berth;

/// What an import reads.
#[derive(Debug)]
pub enum AdvisoryInput {
    /// A checkout of the database, a directory of OSV files, or an archive
    /// of either (`.tar.gz`, `.tar`, `.zip`).
    Path(PathBuf),
    /// An archive held in memory.
    Bytes(Vec<u8>),
}

/// What an import did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// The set in force afterwards.
    pub set: SetView,
    /// False when the same set was already in force (nothing written).
    pub changed: bool,
    pub vulnerabilities: usize,
    pub informational: usize,
    pub withdrawn: usize,
}

/// The set in force, as answers show it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SetView {
    pub digest: String,
    pub source: String,
    pub advisories: i64,
    pub crates: i64,
    /// Unix seconds.
    pub imported_at: i64,
}

impl From<&AdvisorySetInfo> for SetView {
    fn from(i: &AdvisorySetInfo) -> Self {
        SetView {
            digest: i.digest.clone(),
            source: i.source.clone(),
            advisories: i.advisories,
            crates: i.crates,
            imported_at: i.imported_at,
        }
    }
}

/// One advisory, as answers show it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AdvisoryView {
    pub id: String,
    #[serde(rename = "crate")]
    pub krate: String,
    pub title: String,
    pub description: String,
    /// `vulnerability`, `unmaintained`, `unsound`, `notice`, ...
    pub kind: String,
    /// `YYYY-MM-DD`.
    pub date: String,
    pub url: Option<String>,
    pub aliases: Vec<String>,
    pub categories: Vec<String>,
    pub cvss: Option<String>,
    /// Version requirements that carry the fix.
    pub patched: Vec<String>,
    /// Version requirements never affected.
    pub unaffected: Vec<String>,
    /// `YYYY-MM-DD` when withdrawn (it then affects nothing).
    pub withdrawn: Option<String>,
}

impl From<&Advisory> for AdvisoryView {
    fn from(a: &Advisory) -> Self {
        AdvisoryView {
            id: a.id.clone(),
            krate: a.package.clone(),
            title: a.title.clone(),
            description: a.description.clone(),
            kind: a.kind.as_str().to_string(),
            date: a.date.to_string(),
            url: a.url.clone(),
            aliases: a.aliases.clone(),
            categories: a.categories.clone(),
            cvss: a.cvss.clone(),
            patched: a.patched.iter().map(|r| r.to_string()).collect(),
            unaffected: a.unaffected.iter().map(|r| r.to_string()).collect(),
            withdrawn: a.withdrawn.map(|d| d.to_string()),
        }
    }
}

/// `GET /api/v1/advisories`: the set in force and its advisories.
#[derive(Debug, Clone, Serialize)]
pub struct AdvisoryList {
    /// `None` until a set is imported.
    pub set: Option<SetView>,
    pub advisories: Vec<AdvisoryView>,
}

impl Berth {
    /// Reads `input` into an advisory set and puts it in force in place of
    /// the previous one (one audited transaction), on this node at once and
    /// on the others at their next refresh. The same set again changes
    /// nothing. A refused input (corrupt archive, a malformed advisory)
    /// leaves the previous set in force.
    pub async fn import_advisories(
        &self,
        input: AdvisoryInput,
        source: &str,
    ) -> Result<ImportReport, ServiceError> {
        let set = tokio::task::spawn_blocking(move || {
            let limits = Limits::default();
            match input {
                AdvisoryInput::Path(path) => berth_advisory::import_path(&path, &limits),
                AdvisoryInput::Bytes(bytes) => berth_advisory::import_bytes(&bytes, &limits),
            }
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("advisory import task: {e}")))?
        .map_err(|e| {
            ServiceError::BadRequest(format!(
                "advisory import refused, the set in force is unchanged: {e}"
            ))
        })?;
        let (mut vulnerabilities, mut informational, mut withdrawn) = (0, 0, 0);
        for a in set.iter() {
            match (a.withdrawn.is_some(), a.kind.is_vulnerability()) {
                (true, _) => withdrawn += 1,
                (false, true) => vulnerabilities += 1,
                (false, false) => informational += 1,
            }
        }
        let body = String::from_utf8(set.to_stored())
            .map_err(|e| ServiceError::Internal(format!("stored advisory set: {e}")))?;
        let now = self.clock.now_unix();
        let new = NewAdvisorySet {
            digest: set.digest(),
            body: &body,
            source,
            advisories: set.len() as i64,
            crates: set.crate_count() as i64,
            imported_at: now,
        };
        let entry = AuditEntry::done(
            AuditAction::AdvisoriesImport,
            format!(
                "digest={} advisories={} crates={} source={source}",
                set.digest(),
                set.len(),
                set.crate_count()
            ),
        );
        let stored = self.meta.replace_advisory_set(&new, &entry).await?;
        let changed = stored.is_some();
        let info = match stored {
            Some(info) => info,
            None => self.meta.advisory_set_info().await?.ok_or_else(|| {
                ServiceError::Internal("the advisory set in force vanished".into())
            })?,
        };
        let view = SetView::from(&info);
        if changed || self.supply.set().info.as_ref() != Some(&info) {
            self.supply.put_set(super::LoadedSet {
                set,
                info: Some(info),
            });
        }
        Ok(ImportReport {
            set: view,
            changed,
            vulnerabilities,
            informational,
            withdrawn,
        })
    }

    /// The set in force on this node and its advisories (of one crate, any
    /// spelling, when `krate` is given), withdrawn ones included.
    pub fn advisories(&self, krate: Option<&str>) -> AdvisoryList {
        let loaded = self.supply.set();
        let all: Box<dyn Iterator<Item = &Advisory>> = match krate {
            Some(name) => Box::new(loaded.set.for_crate(name).iter()),
            None => Box::new(loaded.set.iter()),
        };
        AdvisoryList {
            set: loaded.info.as_ref().map(SetView::from),
            advisories: all.map(AdvisoryView::from).collect(),
        }
    }

    /// [`Berth::advisories`] as JSON; the whole set's is made once per set
    /// (it is large) and shared by every request.
    pub fn advisories_json(&self, krate: Option<&str>) -> bytes::Bytes {
        let encode = |list: &AdvisoryList| {
            bytes::Bytes::from(serde_json::to_vec(list).expect("an advisory list serializes"))
        };
        if krate.is_some() {
            return encode(&self.advisories(krate));
        }
        let digest = self.supply.set().info.as_ref().map(|i| i.digest.clone());
        if let Ok(cached) = self.supply.list_json.lock() {
            if let Some((d, body)) = cached.as_ref() {
                if *d == digest {
                    return body.clone();
                }
            }
        }
        let list = self.advisories(None);
        let body = encode(&list);
        if let Ok(mut cached) = self.supply.list_json.lock() {
            *cached = Some((list.set.map(|s| s.digest), body.clone()));
        }
        body
    }

    /// The advisories that affect `version` of `name` (withdrawn ones never).
    pub fn advisories_affecting(&self, name: &str, version: &semver::Version) -> Vec<AdvisoryView> {
        let loaded = self.supply.set();
        loaded
            .set
            .affecting(name, version)
            .map(AdvisoryView::from)
            .collect()
    }

    /// Reads `[advisories] source` again and imports it (nothing is written
    /// when the set is unchanged; a URL answering 304 to the ETag of the
    /// last read is not read at all). `None` without a source or on a 304.
    /// A failure leaves the set in force.
    pub async fn refresh_advisory_source(&self) -> Result<Option<ImportReport>, ServiceError> {
        let Some(source) = &self.config.advisories.source else {
            return Ok(None);
        };
        let (input, etag) = match source {
            AdvisorySource::Path(path) => (AdvisoryInput::Path(path.clone()), None),
            AdvisorySource::Url(url) => match self.fetch_advisory_archive(url).await? {
                Some((bytes, etag)) => (AdvisoryInput::Bytes(bytes), etag),
                None => return Ok(None),
            },
        };
        let report = self.import_advisories(input, &source.to_string()).await?;
        // Only an imported answer is not asked for again.
        self.supply.set_source_etag(etag);
        Ok(Some(report))
    }

    /// The archive at `url` and its ETag, read within the import's byte
    /// limit; `None` when it answers 304 to the last import's ETag.
    async fn fetch_advisory_archive(
        &self,
        url: &reqwest::Url,
    ) -> Result<Option<(Vec<u8>, Option<String>)>, ServiceError> {
        let shown = crate::redact_url(url.as_str());
        let failed = |why: String| {
            ServiceError::BadGateway(format!(
                "advisory source {shown}: {why}; the set in force is unchanged"
            ))
        };
        let mut request = self.supply.http.get(url.clone());
        let last = self.supply.source_etag();
        if let Some(etag) = &last {
            request = request.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        let mut response = request.send().await.map_err(|e| failed(e.to_string()))?;
        if response.status() == reqwest::StatusCode::NOT_MODIFIED && last.is_some() {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(failed(format!("answered {}", response.status())));
        }
        let etag = response
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let limit = Limits::default().max_total_bytes;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| failed(e.to_string()))? {
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(failed(format!("larger than {limit} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Some((body, etag)))
    }

    /// The set in force on this node (empty until one is imported).
    pub fn advisory_set(&self) -> std::sync::Arc<super::LoadedSet> {
        self.supply.set()
    }
}
