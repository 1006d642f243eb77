//! What a policy leaves of an index file, and the cache of it.
//!
//! A registry whose policy (or, through a virtual registry, whose owning
//! member's policy) blocks versions serves index files without their
//! lines, so that cargo resolves the newest allowed version; the blocked
//! versions are kept beside the file with the rule and sentence that
//! blocked them, for the download refusal. The filtered file is cached by
//! registry and crate, valid while the source's file (its ETag), the
//! supply generation (advisory set, lists) and the clock (until the next
//! cooldown ends or exception expires) stay as they were: a hot hit adds
//! no database round trip. Files with nothing blocked are the source's own.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use berth_policy::{Candidate, License, Policy, Rule, Verdict};
use bytes::Bytes;
use semver::Version;
use sha2::{Digest, Sha256};

use crate::crates::index::IndexFile;
use crate::error::ServiceError;
use crate::sources::At;
use crate::{Berth, Registry};

/// Why one version is not served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// The registry whose policy blocked it.
    pub registry: String,
    pub rule: Rule,
    /// The sentence cargo shows.
    pub reason: String,
    /// The advisory id, for the advisory rules.
    pub advisory: Option<String>,
}

/// An index file as a policy leaves it.
#[derive(Debug)]
pub(crate) struct Policed {
    source_etag: String,
    generation: u64,
    /// Unix seconds from which the answer may differ (a cooldown ends, an
    /// exception expires).
    until: i64,
    pub file: Arc<IndexFile>,
    /// The versions left out, by version without build metadata (as
    /// downloads find them): read it with [`Policed::blocked_for`].
    pub blocked: HashMap<String, Blocked>,
    /// The versions the file serves, the same way (empty when no policy
    /// applies).
    served: std::collections::HashSet<String>,
}

impl Policed {
    /// Why `vers` (any spelling a download accepts: build metadata is not
    /// compared) is left out, if it is.
    pub(crate) fn blocked_for(&self, vers: &str) -> Option<&Blocked> {
        if self.blocked.is_empty() {
            return None;
        }
        let version = berth_protocol::validate_version(vers).ok()?;
        self.blocked
            .get(&berth_protocol::canonical_version(&version))
    }

    /// What the entry keeps alive: its file (counted even when shared
    /// with the source's cache, which may drop its copy first), the
    /// reasons, and a little for the entry itself.
    fn bytes(&self) -> u64 {
        let reasons: usize = self.blocked.values().map(|b| b.reason.len() + 64).sum();
        let served: usize = self.served.iter().map(|v| v.len() + 32).sum();
        (self.file.body.len() + self.source_etag.len() + reasons + served + 128) as u64
    }
}

/// By registry id, then the crate's folded name (a look-up borrows it when
/// it is folded already). foldhash, seeded per process: a hit is on the
/// hot path, and only names a registry has are ever keys.
type Fast = foldhash::fast::RandomState;
type PolicedFiles = HashMap<i64, HashMap<String, Arc<Policed>, Fast>, Fast>;

/// Filtered files by registry and crate name, at most `budget` bytes; past
/// it, arbitrary files are forgotten until half is free (they are rebuilt
/// on demand).
pub(crate) struct FilterCache {
    /// The files, and the bytes they hold.
    map: RwLock<(PolicedFiles, u64)>,
    budget: u64,
}

impl FilterCache {
    pub(crate) fn new(budget: u64) -> Self {
        Self {
            map: RwLock::new((HashMap::default(), 0)),
            budget,
        }
    }

    /// The cached file of `name` in registry `reg`, if it is still valid
    /// for `source` (the source's file now) at `generation` and `now`.
    pub(crate) fn hit(
        &self,
        reg: i64,
        name: &str,
        source: &IndexFile,
        generation: u64,
        now: i64,
    ) -> Option<Arc<Policed>> {
        let name = fold(name);
        let map = self.map.read().ok()?;
        let hit = map.0.get(&reg)?.get(name.as_ref())?;
        (hit.generation == generation && now < hit.until && hit.source_etag == source.etag)
            .then(|| hit.clone())
    }

    /// The versions left out of the files cached for registry `reg` that
    /// are still valid at `generation` and `now` (what this node keeps from
    /// cargo), by crate then version, at most `limit`.
    pub(crate) fn blocked_in(
        &self,
        reg: i64,
        generation: u64,
        now: i64,
        limit: usize,
    ) -> Vec<(String, String, Blocked)> {
        let Ok(map) = self.map.read() else {
            return Vec::new();
        };
        let mut out: Vec<(String, String, Blocked)> = map
            .0
            .get(&reg)
            .into_iter()
            .flat_map(|files| files.iter())
            .filter(|(_, p)| p.generation == generation && now < p.until)
            .flat_map(|(name, p)| {
                p.blocked
                    .iter()
                    .map(move |(vers, b)| (name.clone(), vers.clone(), b.clone()))
            })
            .collect();
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        out.truncate(limit);
        out
    }

    fn put(&self, reg: i64, name: &str, value: Arc<Policed>) {
        let Ok(mut guard) = self.map.write() else {
            return;
        };
        let (map, bytes) = &mut *guard;
        let size = value.bytes();
        if size > self.budget / 2 {
            return;
        }
        if *bytes + size > self.budget {
            // Forget arbitrary files until half the budget is free.
            let target = self.budget / 2;
            for files in map.values_mut() {
                files.retain(|_, p| {
                    if *bytes <= target {
                        return true;
                    }
                    *bytes -= p.bytes().min(*bytes);
                    false
                });
            }
        }
        let key = fold(name).into_owned();
        if let Some(old) = map.entry(reg).or_default().insert(key, value) {
            *bytes -= old.bytes().min(*bytes);
        }
        *bytes += size;
    }
}

/// A crate name folded as crate names fold (`Foo-Bar` is `foo_bar`), so
/// that every spelling of one crate is one entry; borrowed (no allocation)
/// when it is folded already, as cargo's requests mostly are.
fn fold(name: &str) -> std::borrow::Cow<'_, str> {
    if name.bytes().any(|b| b == b'-' || b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(berth_protocol::canonical_name(name))
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

/// The fields of an index line a policy reads.
#[derive(serde::Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    vers: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    pubtime: Option<std::borrow::Cow<'a, str>>,
}

/// `pubtime` (`YYYY-MM-DDTHH:MM:SSZ`) in Unix seconds.
pub(crate) fn pubtime(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// The registries whose policies decide what `reg` serves of a name that
/// `owner` holds (the owner's first, then the registry's own), with them.
pub(crate) fn chain<'a>(reg: &'a Registry, owner: &'a Registry) -> Vec<(&'a Registry, &'a Policy)> {
    let mut out = Vec::with_capacity(2);
    for r in [owner, reg] {
        if let Some(p) = &r.policy {
            if !out.iter().any(|(o, _): &(&Registry, &Policy)| o.id == r.id) {
                out.push((r, &**p));
            }
        }
    }
    out
}

impl Berth {
    /// `file` (`owner`'s index file of `name`, served through `reg`) as the
    /// policies that apply leave it, from the cache when still valid.
    pub(crate) async fn police(
        &self,
        reg: &Registry,
        owner: &Registry,
        name: &str,
        file: Arc<IndexFile>,
    ) -> Result<Arc<Policed>, ServiceError> {
        if reg.policy.is_none() && owner.policy.is_none() {
            return Ok(Arc::new(Policed {
                source_etag: String::new(),
                generation: 0,
                until: i64::MAX,
                file,
                blocked: HashMap::new(),
                served: Default::default(),
            }));
        }
        let now = self.clock.now_unix();
        let generation = self.supply.generation();
        if let Some(hit) = self
            .supply
            .filtered
            .hit(reg.id, name, &file, generation, now)
        {
            return Ok(hit);
        }
        let policed = Arc::new(
            self.build_policed(reg, owner, name, file, now, generation)
                .await?,
        );
        self.supply.filtered.put(reg.id, name, policed.clone());
        Ok(policed)
    }

    async fn build_policed(
        &self,
        reg: &Registry,
        owner: &Registry,
        name: &str,
        file: Arc<IndexFile>,
        now: i64,
        generation: u64,
    ) -> Result<Policed, ServiceError> {
        let chain = chain(reg, owner);
        let set = self.supply.set();
        let lists: Vec<_> = chain.iter().map(|(r, _)| self.supply.lists(r.id)).collect();
        let licenses = if chain.iter().any(|(_, p)| p.checks_licenses()) {
            self.known_licenses(owner, name).await?
        } else {
            None
        };
        let mut until = i64::MAX;
        for l in &lists {
            if let Some(at) = l.lists.next_expiry(now) {
                until = until.min(at);
            }
        }
        let mut blocked = HashMap::new();
        let mut served = std::collections::HashSet::new();
        let mut kept = Vec::with_capacity(file.body.len());
        for raw in file.body.split(|b| *b == b'\n') {
            if raw.is_empty() {
                continue;
            }
            let mut listed = None;
            let verdict = serde_json::from_slice::<Line>(raw).ok().and_then(|line| {
                let version = Version::parse(&line.vers).ok()?;
                listed = Some(berth_protocol::canonical_version(&version));
                let published_at = line.pubtime.as_deref().and_then(pubtime);
                let license = match &licenses {
                    None => License::Unknown,
                    Some(map) => License::of(map.get(&*line.vers).and_then(|l| l.as_deref())),
                };
                let candidate = Candidate {
                    name,
                    version: &version,
                    published_at,
                    license,
                };
                for ((r, policy), l) in chain.iter().zip(&lists) {
                    if let Some(at) = berth_policy::becomes_allowed_at(policy, &candidate) {
                        if at > now {
                            until = until.min(at);
                        }
                    }
                    if let Verdict::Blocked(b) =
                        berth_policy::evaluate(policy, &set.set, &l.lists, &candidate, now)
                    {
                        return Some((
                            berth_protocol::canonical_version(&version),
                            Blocked {
                                registry: r.name.clone(),
                                rule: b.rule,
                                reason: b.reason,
                                advisory: b.advisory,
                            },
                        ));
                    }
                }
                None
            });
            match verdict {
                Some((vers, why)) => {
                    blocked.insert(vers, why);
                }
                None => {
                    served.extend(listed);
                    kept.extend_from_slice(raw);
                    kept.push(b'\n');
                }
            }
        }
        let source_etag = file.etag.clone();
        let file = if blocked.is_empty() {
            file
        } else {
            let mut inputs = Sha256::new();
            inputs.update(set.set.digest());
            for ((_, policy), l) in chain.iter().zip(&lists) {
                inputs.update(policy.digest());
                inputs.update(l.lists.digest());
            }
            let inputs = hex::encode(&inputs.finalize()[..4]);
            let seed = format!("{}-p{inputs}", source_etag.trim_matches('"'));
            // Last-Modified moves when the policy's answer changes, for
            // clients that revalidate by date alone.
            Arc::new(IndexFile::build(Bytes::from(kept), &seed, file.last_modified.max(now)).await?)
        };
        Ok(Policed {
            source_etag,
            generation,
            until,
            file,
            blocked,
            served,
        })
    }

    /// The license of each version of `name` by `vers`, when `owner` knows
    /// them: a registry that holds publishes has their metadata; an
    /// upstream's index lines carry none (`None`).
    pub(crate) async fn known_licenses(
        &self,
        owner: &Registry,
        name: &str,
    ) -> Result<Option<HashMap<String, Option<String>>>, ServiceError> {
        if !owner.traits().holds_publishes {
            return Ok(None);
        }
        let canon = berth_protocol::canonical_name(name);
        let rows = self.meta.version_licenses(owner.id, &canon).await?;
        Ok(Some(rows.into_iter().collect()))
    }

    /// The index file of `name` in the registry asked, with the registry
    /// that holds it (a virtual registry's owning member, else itself).
    pub(crate) async fn owned_file<'a>(
        &self,
        at: At<'a>,
        name: &str,
    ) -> Result<Option<(&'a Registry, Arc<IndexFile>)>, ServiceError> {
        let reg = at.reg;
        Ok(match reg.source.as_virtual() {
            Some(v) => v.resolve(at, name).await?,
            None => reg.source.index_file(at, name).await?.map(|f| (reg, f)),
        })
    }

    /// The policed index file of `name` in the registry asked; `None` when
    /// it has no such crate.
    pub(crate) async fn policed_file(
        &self,
        at: At<'_>,
        name: &str,
    ) -> Result<Option<Arc<Policed>>, ServiceError> {
        let Some((owner, file)) = self.owned_file(at, name).await? else {
            return Ok(None);
        };
        Ok(Some(self.police(at.reg, owner, name, file).await?))
    }

    /// Why the registry asked does not serve `name@vers`, if its policy
    /// (or its owning member's) blocks it. A version its index file does
    /// not list (an upstream that deleted it, an offline proxy's stale
    /// answer, a name no member has) is judged on what is known of it: no
    /// publish time, no license. Under a policy, a version that does not
    /// parse is no version (404).
    pub(crate) async fn blocked_version(
        &self,
        at: At<'_>,
        name: &str,
        vers: &str,
    ) -> Result<Option<Blocked>, ServiceError> {
        if !at.reg.policed {
            return Ok(None);
        }
        self.supply.require_complete()?;
        let Ok(version) = berth_protocol::validate_version(vers) else {
            return Err(ServiceError::NotFound(format!(
                "crate `{name}` has no version `{vers}`"
            )));
        };
        let canon = berth_protocol::canonical_version(&version);
        let lname = name.to_ascii_lowercase();
        let owner = match self.owned_file(at, &lname).await? {
            Some((owner, file)) => {
                if chain(at.reg, owner).is_empty() {
                    return Ok(None);
                }
                let policed = self.police(at.reg, owner, &lname, file).await?;
                if let Some(b) = policed.blocked.get(&canon) {
                    return Ok(Some(b.clone()));
                }
                if policed.served.contains(&canon) {
                    return Ok(None);
                }
                Some(owner)
            }
            None => None,
        };
        Ok(self.judge_unlisted(at.reg, owner, name, &version))
    }

    /// The verdict on a version no index file lists: by the policies that
    /// apply (every member's, when the owner is unknown), knowing neither
    /// its publish time nor its license.
    fn judge_unlisted(
        &self,
        reg: &Registry,
        owner: Option<&Registry>,
        name: &str,
        version: &Version,
    ) -> Option<Blocked> {
        let policies: Vec<(&Registry, &Policy)> = match owner {
            Some(owner) => chain(reg, owner),
            None => std::iter::once(reg)
                .chain(
                    reg.source
                        .members()
                        .iter()
                        .filter_map(|m| self.registry(m).ok()),
                )
                .filter_map(|r| Some((r, &**r.policy.as_ref()?)))
                .collect(),
        };
        let candidate = Candidate {
            name,
            version,
            published_at: None,
            license: License::Unknown,
        };
        let set = self.supply.set();
        let now = self.clock.now_unix();
        policies.into_iter().find_map(|(r, policy)| {
            let lists = self.supply.lists(r.id);
            match berth_policy::evaluate(policy, &set.set, &lists.lists, &candidate, now) {
                Verdict::Blocked(b) => Some(Blocked {
                    registry: r.name.clone(),
                    rule: b.rule,
                    reason: b.reason,
                    advisory: b.advisory,
                }),
                Verdict::Allowed => None,
            }
        })
    }

    /// The policed index file of `name` as the registry asked holds it
    /// (`Source::stored_file`: never an upstream request), with the
    /// registry holding it; `None` when nothing is stored there. For the
    /// pages, which say what is blocked and why: the same file (and cache
    /// entry) the index and download paths use.
    pub(crate) async fn stored_policed<'a>(
        &self,
        at: At<'a>,
        name: &str,
    ) -> Result<Option<(&'a Registry, Arc<Policed>)>, ServiceError> {
        let Some((owner, file)) = at.reg.source.stored_file(at, name).await? else {
            return Ok(None);
        };
        let policed = self.police(at.reg, owner, name, file).await?;
        Ok(Some((owner, policed)))
    }

    /// Refuses the download of a version the registry's policy blocks
    /// (403, naming the rule and any advisory), counting and logging it.
    pub(crate) async fn check_download_policy(
        &self,
        at: At<'_>,
        name: &str,
        vers: &str,
    ) -> Result<(), ServiceError> {
        let Some(blocked) = self.blocked_version(at, name, vers).await? else {
            return Ok(());
        };
        metrics::counter!(
            "berth_policy_blocked_total",
            "registry" => blocked.registry.clone(),
            "rule" => blocked.rule.as_str(),
        )
        .increment(1);
        tracing::warn!(
            registry = %at.reg.name,
            policy_of = %blocked.registry,
            krate = %name,
            version = %vers,
            rule = blocked.rule.as_str(),
            advisory = blocked.advisory.as_deref().unwrap_or(""),
            "download refused by policy"
        );
        Err(ServiceError::Forbidden(blocked.reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn policed(body: &'static str) -> Arc<Policed> {
        let file = IndexFile::build(Bytes::from(body), "1", 0).await.unwrap();
        Arc::new(Policed {
            source_etag: file.etag.clone(),
            generation: 1,
            until: i64::MAX,
            file: Arc::new(file),
            blocked: HashMap::new(),
            served: Default::default(),
        })
    }

    #[tokio::test]
    async fn every_spelling_is_one_entry_and_the_budget_holds() {
        let cache = FilterCache::new(4096);
        let p = policed("{\"vers\":\"1.0.0\"}\n").await;
        cache.put(1, "Foo-Bar", p.clone());
        for spelling in ["foo_bar", "foo-bar", "FOO_bar"] {
            assert!(
                cache.hit(1, spelling, &p.file, 1, 0).is_some(),
                "{spelling}"
            );
        }
        assert!(
            cache.hit(2, "foo_bar", &p.file, 1, 0).is_none(),
            "another registry"
        );
        assert!(
            cache.hit(1, "foo_bar", &p.file, 2, 0).is_none(),
            "another generation"
        );
        // Many names: the bytes kept never pass the budget, and the newest
        // entry is kept.
        for i in 0..200 {
            cache.put(1, &format!("crate{i}"), p.clone());
            let kept = cache.map.read().unwrap().1;
            assert!(kept <= 4096, "{kept}");
        }
        assert!(cache.hit(1, "crate199", &p.file, 1, 0).is_some());
    }
}
