//! What the crate pages and the crate detail say of supply-chain control:
//! per version, the advisories in force that affect it and whether a
//! policy keeps it from cargo, and by which rule; for the version a page
//! shows, the facts its banners state (a vulnerability in the version
//! shown or in the newest, the crate unmaintained) and the dependencies
//! whose newest version cargo could pick is affected.
//!
//! Blocked versions come from the policed index file (`supply/filter.rs`,
//! the file and cache entry cargo's requests use): no rule is re-derived
//! here. Everything is asked only of what is stored, so a proxy's page
//! never makes it ask its upstream; a dependency the proxy has not cached
//! says nothing.

use std::collections::HashSet;

use berth_advisory::{Advisory, Informational, Kind};
use berth_protocol::{DependencyKind, PublishDependency};
use semver::{Version, VersionReq};

use crate::crates::pages::{
    AffectedDependency, BlockedView, CrateDetail, SupplyFacts, VersionJson,
};
use crate::error::ServiceError;
use crate::supply::advisories::AdvisoryView;
use crate::{Berth, Identity, Registry};

/// `vers` as a version, when it is one.
fn version_of(vers: &str) -> Option<Version> {
    Version::parse(vers).ok()
}

fn views<'a>(advisories: impl Iterator<Item = &'a Advisory>) -> Vec<AdvisoryView> {
    advisories.map(AdvisoryView::from).collect()
}

/// The newest version of an index file's lines that is not yanked and
/// matches `req`.
fn newest_matching(body: &[u8], req: &VersionReq) -> Option<Version> {
    #[derive(serde::Deserialize)]
    struct Line {
        vers: String,
        #[serde(default)]
        yanked: bool,
    }
    body.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| serde_json::from_slice::<Line>(l).ok())
        .filter(|l| !l.yanked)
        .filter_map(|l| version_of(&l.vers))
        .filter(|v| req.matches(v))
        .max()
}

impl Berth {
    /// Whether a policy applies to what `asked` serves (its own, or, for a
    /// virtual registry, a member's).
    fn policed_anywhere(&self, asked: &Registry) -> bool {
        asked.policy.is_some()
            || asked
                .source
                .members()
                .iter()
                .any(|m| self.registry(m).is_ok_and(|r| r.policy.is_some()))
    }

    /// Fills in each version's advisories and, when a policy applies to
    /// `asked` (the registry the caller asked; who may read it), whether it
    /// blocks the version.
    pub(crate) async fn annotate_versions(
        &self,
        asked: &Registry,
        who: Option<&Identity>,
        name: &str,
        versions: &mut [VersionJson],
    ) -> Result<(), ServiceError> {
        let set = self.supply.set();
        for v in versions.iter_mut() {
            v.advisories = match version_of(&v.vers) {
                Some(version) => views(set.set.affecting(name, &version)),
                None => Vec::new(),
            };
        }
        if !self.policed_anywhere(asked) {
            return Ok(());
        }
        let lname = name.to_ascii_lowercase();
        let Some((_, policed)) = self.stored_policed(self.at_for(asked, who), &lname).await? else {
            return Ok(());
        };
        for v in versions.iter_mut() {
            v.blocked = policed.blocked_for(&v.vers).map(BlockedView::from);
        }
        Ok(())
    }

    /// What a crate page says of advisories beyond its versions' rows:
    /// `detail` as [`Berth::annotate_versions`] left it, `shown` the version
    /// shown, `deps` its dependencies, `asked` the registry the viewer
    /// asked (and may read).
    pub(crate) async fn supply_facts(
        &self,
        asked: &Registry,
        who: Option<&Identity>,
        detail: &CrateDetail,
        shown: &str,
        deps: &[PublishDependency],
    ) -> Result<SupplyFacts, ServiceError> {
        let set = self.supply.set();
        if set.set.is_empty() {
            return Ok(SupplyFacts::default());
        }
        let name = detail.name.as_str();
        let vulnerabilities = |version: &Version| {
            views(
                set.set
                    .affecting(name, version)
                    .filter(|a| a.kind.is_vulnerability()),
            )
        };
        let live = |v: &&VersionJson| !v.yanked;
        let newest = detail
            .versions
            .iter()
            .filter(live)
            .filter_map(|v| version_of(&v.vers).map(|p| (p, v)))
            .max_by(|a, b| a.0.cmp(&b.0));
        let vulnerable = detail
            .versions
            .iter()
            .filter(live)
            .find(|v| v.vers == shown)
            .and_then(|v| version_of(&v.vers))
            .map(|v| vulnerabilities(&v))
            .unwrap_or_default();
        let newest_vulnerable = newest
            .as_ref()
            .filter(|(_, v)| v.vers != shown)
            .map(|(p, v)| (v.vers.clone(), vulnerabilities(p)))
            .filter(|(_, found)| !found.is_empty());
        let unmaintained = views(set.set.for_crate(name).iter().filter(|a| {
            a.kind == Kind::Informational(Informational::Unmaintained)
                && !a.is_withdrawn()
                && newest.as_ref().is_none_or(|(p, _)| a.affects(p))
        }));
        let affected_deps = self.affected_deps(asked, who, deps).await?;
        Ok(SupplyFacts {
            vulnerable,
            newest_vulnerable,
            unmaintained,
            affected_deps,
        })
    }

    /// The normal dependencies whose newest matching version, in the
    /// registry cargo finds them in, an advisory affects. Only names with
    /// an advisory in force are looked up, each once.
    async fn affected_deps(
        &self,
        asked: &Registry,
        who: Option<&Identity>,
        deps: &[PublishDependency],
    ) -> Result<Vec<AffectedDependency>, ServiceError> {
        let set = self.supply.set();
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for d in deps {
            if d.kind != DependencyKind::Normal
                || set.set.for_crate(&d.name).is_empty()
                || !seen.insert((d.name.to_ascii_lowercase(), d.version_req.clone()))
            {
                continue;
            }
            let Ok(req) = VersionReq::parse(&d.version_req) else {
                continue;
            };
            let Some(reg) = self.registry_of_dependency(asked, d.registry.as_deref()) else {
                continue;
            };
            if reg.id != asked.id && self.authorize_read(reg, who).is_err() {
                continue;
            }
            let lname = d.name.to_ascii_lowercase();
            let Some((_, policed)) = self.stored_policed(self.at_for(reg, who), &lname).await?
            else {
                continue;
            };
            let Some(version) = newest_matching(&policed.file.body, &req) else {
                continue;
            };
            let advisories = views(set.set.affecting(&d.name, &version));
            if !advisories.is_empty() {
                out.push(AffectedDependency {
                    name: d.name.clone(),
                    req: d.version_req.clone(),
                    registry: reg.name.clone(),
                    version: version.to_string(),
                    advisories,
                });
            }
        }
        Ok(out)
    }

    /// Where cargo finds a dependency of a crate served by `asked` that
    /// names `sent` as its registry: `asked` itself when it names none;
    /// this server's registry whose index it names; for an upstream one of
    /// this server's proxies stands for, `asked` when that proxy is its
    /// member (a virtual registry standing in for the upstream), else that
    /// proxy. `None` for any other registry.
    fn registry_of_dependency<'a>(
        &'a self,
        asked: &'a Registry,
        sent: Option<&str>,
    ) -> Option<&'a Registry> {
        let Some(url) = sent else {
            return Some(asked);
        };
        let url = url.trim_end_matches('/');
        let ours = self.registries().find(|r| {
            let index = self.index_url(r);
            let index = index.trim_end_matches('/');
            url == index || url.strip_prefix("sparse+") == Some(index)
        });
        if ours.is_some() {
            return ours;
        }
        let proxy = self
            .registries()
            .find(|r| r.source.as_proxy().is_some_and(|p| p.is_identifier(url)))?;
        if asked.source.members().contains(&proxy.name) {
            Some(asked)
        } else {
            Some(proxy)
        }
    }
}
