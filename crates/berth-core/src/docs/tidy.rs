//! Keeping documentation's storage in bounds: each registry's docs
//! budget (`[docs] budget_mib`), the files of sets no version serves any
//! more (retired when replaced or dropped, deleted after a grace period),
//! and orphan sets (written by an upload or a build that died before
//! swapping its set in). Every node tidies now and then
//! ([`TIDY_EVERY_SECS`]); `berth gc` tidies at once.

use std::collections::BTreeMap;

use berth_store::{AuditAction, AuditEntry, AuditOutcome, HeldDocs};

use crate::error::ServiceError;
use crate::{Berth, Registry};

/// How often a node tidies.
pub const TIDY_EVERY_SECS: u64 = 600;
/// How long a retired set's files stay (a page being read when its set
/// was replaced still finds its files), and how old an orphan set's
/// newest file must be before it is deleted.
pub const GRACE_SECS: i64 = 3600;

/// What one tidying did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DocsTidy {
    /// Versions whose docs the budget dropped.
    pub dropped: usize,
    /// Retired sets whose files were deleted.
    pub retired_deleted: usize,
    /// Orphan sets whose files were deleted.
    pub orphans_deleted: usize,
}

impl Berth {
    /// Keeps every registry within its docs budget, then deletes the
    /// files of sets retired at least `grace_secs` ago and of orphan sets
    /// whose newest file is that old.
    pub async fn tidy_docs(&self, grace_secs: i64) -> Result<DocsTidy, ServiceError> {
        let mut done = DocsTidy::default();
        for reg in self.registries() {
            done.dropped += self.keep_docs_budget(reg).await?;
        }
        let cutoff = self.clock.now_unix() - grace_secs;
        for set in self.meta.retired_docs_sets(cutoff).await? {
            let files = self.blobs.delete_docs_set(&set).await?;
            self.meta.forget_retired_docs_set(&set).await?;
            tracing::info!(set = %set, files, "deleted a retired documentation set");
            done.retired_deleted += 1;
        }
        // Listed before asking which sets rows name, and asked again right
        // before deleting: a set swapped in meanwhile is kept.
        for set in self.blobs.docs_set_ids().await? {
            if self.meta.docs_set_known(&set).await? {
                continue;
            }
            match self.blobs.docs_set_written(&set).await? {
                Some(written) if written <= cutoff => {}
                _ => continue,
            }
            if self.meta.docs_set_known(&set).await? {
                continue;
            }
            let files = self.blobs.delete_docs_set(&set).await?;
            tracing::info!(set = %set, files, "deleted an orphan documentation set (its writer stopped before it was swapped in)");
            done.orphans_deleted += 1;
        }
        Ok(done)
    }

    /// Drops the docs of `reg`'s oldest versions (never a crate's latest)
    /// until its docs fit its budget; how many were dropped.
    pub(crate) async fn keep_docs_budget(&self, reg: &Registry) -> Result<usize, ServiceError> {
        let Some(budget) = self.config.docs.budget_bytes(&reg.name) else {
            return Ok(0);
        };
        let held = self.meta.registry_docs_sets(reg.id).await?;
        let drop = over_budget(&held, budget);
        let mut dropped = 0;
        for h in drop {
            let audit = AuditEntry {
                registry: Some(reg.name.clone()),
                crate_name: Some(h.name.clone()),
                version: Some(h.set.vers.clone()),
                detail: Some(format!(
                    "{} bytes, over the registry's docs budget of {budget} bytes",
                    h.set.bytes
                )),
                ..AuditEntry::new(AuditAction::DocsDrop, AuditOutcome::Ok)
            };
            if self
                .meta
                .drop_docs_set(h.version_id, &h.set.set_id, &audit)
                .await?
            {
                self.docs_sets
                    .forget(reg.id, &berth_protocol::canonical_name(&h.name));
                tracing::info!(registry = %reg.name, krate = %h.name, version = %h.set.vers, bytes = h.set.bytes, budget, "dropped a version's docs to keep the registry within its docs budget");
                dropped += 1;
            }
        }
        Ok(dropped)
    }
}

/// Which of a registry's docs to drop so that the rest fit `budget`
/// bytes: the oldest versions first (publish order), never a crate's
/// latest (what `latest` serves). When the latest alone exceed the
/// budget, every other version's docs go and the latest stay.
fn over_budget(held: &[HeldDocs], budget: u64) -> Vec<&HeldDocs> {
    let total: u64 = held.iter().map(|h| h.set.bytes.max(0) as u64).sum();
    if total <= budget {
        return Vec::new();
    }
    let mut by_crate: BTreeMap<&str, Vec<berth_store::DocsSet>> = BTreeMap::new();
    for h in held {
        by_crate.entry(&h.name).or_default().push(h.set.clone());
    }
    let latest: std::collections::HashSet<String> = by_crate
        .values()
        .filter_map(|sets| super::pick(sets, "latest").map(|s| s.set_id.clone()))
        .collect();
    let mut candidates: Vec<&HeldDocs> = held
        .iter()
        .filter(|h| !latest.contains(&h.set.set_id))
        .collect();
    candidates.sort_by_key(|h| h.version_id);
    let mut left = total;
    candidates
        .into_iter()
        .take_while(|h| {
            let over = left > budget;
            left = left.saturating_sub(h.set.bytes.max(0) as u64);
            over
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(name: &str, version_id: i64, vers: &str, bytes: i64) -> HeldDocs {
        HeldDocs {
            name: name.into(),
            version_id,
            set: berth_store::DocsSet {
                vers: vers.into(),
                yanked: false,
                set_id: format!("{name}-{vers}"),
                root: name.into(),
                source: "upload".into(),
                files: 1,
                bytes,
                created_by: None,
                created_at: 0,
            },
        }
    }

    fn ids(v: Vec<&HeldDocs>) -> Vec<String> {
        v.into_iter().map(|h| h.set.set_id.clone()).collect()
    }

    #[test]
    fn the_oldest_versions_go_first_and_never_a_latest() {
        let all = [
            held("a", 1, "1.0.0", 10),
            held("b", 2, "0.1.0", 10),
            held("a", 3, "1.1.0", 10),
            held("a", 4, "2.0.0", 10),
            held("b", 5, "0.2.0", 10),
        ];
        // Within the budget: nothing.
        assert!(over_budget(&all, 50).is_empty());
        // 10 over: the oldest version that is not a latest.
        assert_eq!(ids(over_budget(&all, 40)), ["a-1.0.0"]);
        assert_eq!(
            ids(over_budget(&all, 25)),
            ["a-1.0.0", "b-0.1.0", "a-1.1.0"]
        );
        // Only the latest of each crate fit nowhere: they stay anyway.
        assert_eq!(ids(over_budget(&all, 1)), ["a-1.0.0", "b-0.1.0", "a-1.1.0"]);
    }

    #[test]
    fn a_newer_prerelease_is_not_the_latest() {
        let all = [held("a", 1, "1.0.0", 10), held("a", 2, "2.0.0-rc.1", 10)];
        assert_eq!(ids(over_budget(&all, 10)), ["a-2.0.0-rc.1"]);
    }
}
