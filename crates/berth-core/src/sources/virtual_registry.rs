//! A virtual registry: one endpoint over several member registries, safe
//! from dependency confusion.
//!
//! A name belongs to exactly one member: the first hosted member that has
//! it, else (unless a claim pattern reserves it for hosted members) the
//! first proxy that has it. Versions of one name are never merged across
//! members, so an upstream that gains `acme-core 99.0.0` changes nothing for
//! a name a hosted member has. Index files and downloads are the owning
//! member's, byte for byte. This module never merges two members' lines and
//! never asks an upstream about a claimed name.

use std::collections::HashSet;
use std::sync::Arc;

use super::question::SearchResults;
use super::question::{Answer, At, BlobRef, Found, SearchPage};
use super::settings::VirtualConfig;
use crate::config::registry::claim_matches;
use crate::config::ConfigError;
use crate::crates::index::IndexFile;
use crate::{Registry, RegistryKind};

pub(crate) struct Virtual {
    /// Member names, hosted ones first (in configured order), then proxies.
    hosted: Vec<String>,
    proxies: Vec<String>,
    claims: Vec<String>,
    pub(crate) publish_to: Option<String>,
    pub(crate) allow_upstream_names: Vec<String>,
}

impl Virtual {
    pub(crate) fn new(
        members: &[(String, RegistryKind)],
        claims: Vec<String>,
        publish_to: Option<String>,
        allow_upstream_names: Vec<String>,
    ) -> Self {
        let of = |kind: RegistryKind| {
            members
                .iter()
                .filter(|(_, k)| *k == kind)
                .map(|(n, _)| n.clone())
                .collect::<Vec<_>>()
        };
        // Replicas hold version rows as hosted registries do, and are
        // asked as they are; publishes go only to a hosted one.
        let publish_to = publish_to.or_else(|| of(RegistryKind::Hosted).first().cloned());
        let hosted = members
            .iter()
            .filter(|(_, k)| matches!(k, RegistryKind::Hosted | RegistryKind::Replica))
            .map(|(n, _)| n.clone())
            .collect();
        Self {
            publish_to,
            hosted,
            proxies: of(RegistryKind::Proxy),
            claims,
            allow_upstream_names,
        }
    }

    /// Whether a claim pattern reserves the name for hosted members.
    pub(crate) fn claimed(&self, name: &str) -> bool {
        self.claims.iter().any(|p| claim_matches(p, name))
    }

    pub(crate) fn hosted_members(&self) -> &[String] {
        &self.hosted
    }

    pub(crate) fn proxy_members(&self) -> &[String] {
        &self.proxies
    }

    /// The member that owns a name, with its index file; `None` when no
    /// member has it, or when the member that owns it is one the asker may
    /// not read (it is never given another member's namesake instead).
    pub(crate) async fn resolve<'b>(
        &self,
        at: At<'b>,
        name: &str,
    ) -> Found<(&'b Registry, Arc<IndexFile>)> {
        Ok(self
            .owner(at, name)
            .await?
            .filter(|(member, _)| at.may_read(member)))
    }

    /// The member that owns a name, whoever asks.
    async fn owner<'b>(&self, at: At<'b>, name: &str) -> Found<(&'b Registry, Arc<IndexFile>)> {
        let (berth, reg) = (at.berth, at.reg);
        for m in &self.hosted {
            let member = berth.registry(m)?;
            if let Some(file) = member.source.index_file(at.member(member), name).await? {
                return Ok(Some((member, file)));
            }
        }
        if self.claimed(name) {
            // Reserved for hosted members: whatever an upstream has under
            // this name is never looked at.
            metrics::counter!("berth_virtual_claimed_refusals_total", "registry" => reg.name.clone())
                .increment(1);
            tracing::debug!(registry = %reg.name, krate = %name, "claimed name not in a hosted member");
            return Ok(None);
        }
        for m in &self.proxies {
            let member = berth.registry(m)?;
            if let Some(file) = member.source.index_file(at.member(member), name).await? {
                return Ok(Some((member, file)));
            }
        }
        Ok(None)
    }

    pub(crate) async fn index_file(&self, at: At<'_>, name: &str) -> Found<Arc<IndexFile>> {
        Ok(self.resolve(at, name).await?.map(|(_, f)| f))
    }

    pub(crate) async fn locate(&self, at: At<'_>, name: &str, vers: &str) -> Found<BlobRef> {
        let lname = name.to_ascii_lowercase();
        match self.resolve(at, &lname).await? {
            Some((member, _)) => member.source.locate(at.member(member), name, vers).await,
            None => Ok(None),
        }
    }

    /// Merged search: each member's hits, a name shown only from the member
    /// that owns it (hosted names hide proxies' namesakes), the member named.
    /// Members the asker may not read show nothing, but their names still
    /// hide later members' namesakes (as [`Virtual::resolve`] never serves
    /// those either).
    pub(crate) async fn search(&self, at: At<'_>, page: SearchPage<'_>) -> Answer<SearchResults> {
        let berth = at.berth;
        let mut seen = HashSet::new();
        let mut hits = Vec::new();
        let mut total = 0;
        // Enough of each member's hits to fill this page after merging.
        let want = SearchPage {
            query: page.query,
            per_page: (page.offset + page.per_page).max(0),
            offset: 0,
        };
        for m in self.hosted.iter().chain(&self.proxies) {
            let member = berth.registry(m)?;
            let is_proxy = member.kind() == RegistryKind::Proxy;
            let readable = at.may_read(member);
            let found = member.source.search(at.member(member), want).await?;
            if readable {
                total += found.total;
            }
            for hit in found.hits {
                let canon = berth_protocol::canonical_name(&hit.name);
                if is_proxy && self.claimed(&hit.name) {
                    continue;
                }
                if seen.insert(canon) && readable {
                    hits.push(berth_store::SearchHit {
                        member: Some(member.name.clone()),
                        ..hit
                    });
                }
            }
        }
        Ok(SearchResults::of(page.window(hits).collect(), total))
    }
}

impl VirtualConfig {
    /// Checks a virtual registry's own settings: claims are crate names or
    /// prefixes, and it has members.
    pub(crate) fn check(&self, name: &str) -> Result<(), ConfigError> {
        for pattern in &self.claims {
            let stem = pattern.strip_suffix('*').unwrap_or(pattern);
            if stem.is_empty()
                || stem.contains('*')
                || berth_protocol::validate_crate_name(&format!(
                    "{}x",
                    stem.trim_end_matches(['-', '_'])
                ))
                .is_err()
            {
                return Err(ConfigError(format!(
                    "registry `{name}`: claim `{pattern}` must be a crate name or a prefix ending in `*`"
                )));
            }
        }
        if self.members.is_empty() {
            return Err(ConfigError(format!(
                "virtual registry `{name}` needs `members`, the registries it serves, in order"
            )));
        }
        Ok(())
    }
}
