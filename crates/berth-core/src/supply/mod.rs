//! Supply-chain control (issue 28): the advisory set in force, each
//! registry's policy with its exceptions and approved list, and what they
//! decide for cargo: index files without the blocked versions
//! ([`filter`]), downloads refused with the rule that blocked them, the
//! answers of `berth policy explain` and `berth check`.
//!
//! The rules themselves are `berth-policy`'s and the advisory formats
//! `berth-advisory`'s; this module keeps their inputs in force on every
//! node. What is kept with the data (the set, the lists) is loaded at open
//! and reloaded by [`Berth::refresh_supply`], which every serving node runs
//! every [`REFRESH_SECS`] seconds: it reads two small rows and reloads only
//! what changed, so an import or an exception made through any node, or by
//! the command line, is in force everywhere within that time (at once on
//! the node that made it). Every change bumps a generation that the
//! filtered index files are keyed by.

pub mod advisories;
pub mod check;
pub(crate) mod filter;
pub mod lists;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use berth_advisory::AdvisorySet;
use berth_policy::{Approval, Exception, Lists};
use berth_store::{AdvisorySetInfo, PolicyListRows};

use crate::error::ServiceError;
use crate::Berth;

/// How often a serving node looks for a new advisory set or changed lists.
pub const REFRESH_SECS: u64 = 2;

/// The advisory set in force, as loaded.
#[derive(Debug, Default)]
pub struct LoadedSet {
    pub set: AdvisorySet,
    /// `None` until a set is imported.
    pub info: Option<AdvisorySetInfo>,
}

/// A registry's exceptions and approved list at a revision.
#[derive(Debug, Default)]
pub(crate) struct LoadedLists {
    pub revision: i64,
    pub lists: Lists,
    pub rows: PolicyListRows,
}

/// What one node holds of supply-chain control.
pub(crate) struct SupplyState {
    set: RwLock<Arc<LoadedSet>>,
    lists: RwLock<HashMap<i64, Arc<LoadedLists>>>,
    /// Bumped by every change of the set or of any lists.
    generation: AtomicU64,
    pub(crate) filtered: filter::FilterCache,
    /// The client that reads `[advisories] source` when it is a URL.
    pub(crate) http: reqwest::Client,
    /// The ETag of the source's last answer.
    source_etag: std::sync::Mutex<Option<String>>,
    /// Whether a refresh has loaded everything once: until then policed
    /// registries answer 503 rather than serve without their inputs.
    complete: std::sync::atomic::AtomicBool,
    /// `GET /api/v1/advisories` of the whole set, as JSON, by set digest.
    pub(crate) list_json: std::sync::Mutex<Option<(Option<String>, bytes::Bytes)>>,
}

impl SupplyState {
    pub(crate) fn new(filter_budget: u64) -> Self {
        Self {
            set: RwLock::new(Arc::default()),
            lists: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            filtered: filter::FilterCache::new(filter_budget),
            http: reqwest::Client::builder()
                .connect_timeout(std::time::Duration::from_secs(10))
                .timeout(std::time::Duration::from_secs(120))
                .build()
                .unwrap_or_default(),
            source_etag: std::sync::Mutex::new(None),
            list_json: std::sync::Mutex::new(None),
            complete: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub(crate) fn source_etag(&self) -> Option<String> {
        self.source_etag.lock().ok().and_then(|e| e.clone())
    }

    pub(crate) fn set_source_etag(&self, etag: Option<String>) {
        if let Ok(mut e) = self.source_etag.lock() {
            *e = etag;
        }
    }

    pub(crate) fn set(&self) -> Arc<LoadedSet> {
        self.set.read().map(|s| s.clone()).unwrap_or_default()
    }

    pub(crate) fn lists(&self, registry_id: i64) -> Arc<LoadedLists> {
        self.lists
            .read()
            .ok()
            .and_then(|l| l.get(&registry_id).cloned())
            .unwrap_or_default()
    }

    /// 503 until the set and every list have been loaded once (a stored
    /// set that does not read back leaves a node serving no policed
    /// registry, rather than serving it without its advisories).
    pub(crate) fn require_complete(&self) -> Result<(), ServiceError> {
        if self.complete.load(Ordering::Acquire) {
            return Ok(());
        }
        Err(ServiceError::Unavailable(
            "this registry's policy inputs (the advisory set, its exceptions) could not be \
             loaded; see the server log"
                .into(),
        ))
    }

    /// Marks the end of the load at open: generation 0 is only ever seen
    /// while a `Berth` opens.
    pub(crate) fn opened(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn put_set(&self, loaded: LoadedSet) {
        if let Ok(mut s) = self.set.write() {
            *s = Arc::new(loaded);
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn put_lists(&self, registry_id: i64, loaded: LoadedLists) {
        if let Ok(mut l) = self.lists.write() {
            l.insert(registry_id, Arc::new(loaded));
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// Rows made the lists `berth-policy` reads. A row that no longer parses
/// (written by hand) is an error, not a silently missing exception.
fn lists_of(rows: &PolicyListRows) -> Result<Lists, ServiceError> {
    let corrupt = |what: &str, value: &str, e: semver::Error| {
        ServiceError::Internal(format!(
            "stored policy {what} `{value}` does not parse: {e}"
        ))
    };
    let exceptions = rows
        .exceptions
        .iter()
        .map(|r| {
            Ok(Exception {
                name: r.name.clone(),
                version: semver::Version::parse(&r.vers)
                    .map_err(|e| corrupt("exception version", &r.vers, e))?,
                expires_at: r.expires_at,
                reason: r.reason.clone(),
            })
        })
        .collect::<Result<_, ServiceError>>()?;
    let approved = rows
        .approvals
        .iter()
        .map(|r| {
            Ok(Approval {
                name: r.name.clone(),
                req: r
                    .req
                    .as_deref()
                    .map(|q| semver::VersionReq::parse(q).map_err(|e| corrupt("approval", q, e)))
                    .transpose()?,
            })
        })
        .collect::<Result<_, ServiceError>>()?;
    Ok(Lists {
        exceptions,
        approved,
    })
}

impl Berth {
    /// Loads what changed since the last call: the advisory set in force
    /// (read whole only when its digest changed) and the exceptions and
    /// approvals of each registry whose revision moved. Returns whether
    /// anything changed. Safe to run on every node at once.
    pub async fn refresh_supply(&self) -> Result<bool, ServiceError> {
        // Each part on its own: a set that cannot be read does not keep a
        // registry's new exceptions out, nor one registry's bad row the
        // others' changes. The first error is returned after all.
        let mut changed = false;
        let mut failed = None;
        let loaded = self.supply.set();
        let loaded_digest = loaded.info.as_ref().map(|i| i.digest.clone());
        let set = match self.meta.advisory_set_info().await {
            Ok(info) if info.as_ref().map(|i| &i.digest) != loaded_digest.as_ref() => {
                self.load_set().await.map(|()| true)
            }
            Ok(_) => Ok(false),
            Err(e) => Err(e.into()),
        };
        match set {
            Ok(c) => changed |= c,
            Err(e) => {
                tracing::error!(error = %e, "the advisory set could not be loaded; the previous one stays");
                failed.get_or_insert(e);
            }
        }
        for (registry_id, revision) in self.meta.policy_revisions().await? {
            if self.supply.lists(registry_id).revision == revision {
                continue;
            }
            match self.load_lists(registry_id).await {
                Ok(()) => changed = true,
                Err(e) => {
                    tracing::error!(registry_id, error = %e, "a registry's policy lists could not be loaded");
                    failed.get_or_insert(e);
                }
            }
        }
        match failed {
            Some(e) => Err(e),
            None => {
                self.supply.complete.store(true, Ordering::Release);
                Ok(changed)
            }
        }
    }

    /// Reads the set in force whole and puts it in force on this node.
    async fn load_set(&self) -> Result<(), ServiceError> {
        let Some((info, body)) = self.meta.advisory_set().await? else {
            self.supply.put_set(LoadedSet::default());
            return Ok(());
        };
        let set = tokio::task::spawn_blocking(move || AdvisorySet::from_stored(body.as_bytes()))
            .await
            .map_err(|e| ServiceError::Internal(format!("advisory set task: {e}")))?
            .map_err(|e| ServiceError::Internal(format!("the stored advisory set: {e}")))?;
        if set.digest() != info.digest {
            return Err(ServiceError::Internal(format!(
                "the stored advisory set reads back with digest {}, not its recorded {}",
                set.digest(),
                info.digest
            )));
        }
        // At open (a command, or a node starting: generation 0) this is
        // routine; a running node taking a new set says so.
        if self.supply.generation() == 0 {
            tracing::debug!(digest = %info.digest, advisories = info.advisories, "advisory set loaded");
        } else {
            tracing::info!(
                digest = %info.digest,
                advisories = info.advisories,
                crates = info.crates,
                source = %info.source,
                "advisory set in force"
            );
        }
        self.supply.put_set(LoadedSet {
            set,
            info: Some(info),
        });
        Ok(())
    }

    /// Reads a registry's exceptions and approvals and puts them in force.
    async fn load_lists(&self, registry_id: i64) -> Result<(), ServiceError> {
        let (revision, rows) = self.meta.policy_lists(registry_id).await?;
        let lists = lists_of(&rows)?;
        self.supply.put_lists(
            registry_id,
            LoadedLists {
                revision,
                lists,
                rows,
            },
        );
        Ok(())
    }
}
