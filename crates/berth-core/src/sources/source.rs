//! [`Source`]: one registry's content by kind, built from its settings,
//! and the questions every kind answers, dispatched statically; what the
//! registries of one kind share on a node ([`Shared`]).

use std::collections::HashSet;
use std::sync::Arc;

use super::hosted::{Hosted, HostedShared};
use super::proxy::{IndexBudget, Proxy};
use super::question::{Answer, At, BlobRef, Found, SearchPage, SearchResults};
use super::replica::Replica;
use super::settings::KindSettings;
use super::toolchains::Toolchains;
use super::virtual_registry::Virtual;
use crate::config::registry::RegistryConfig;
use crate::crates::index::IndexFile;
use crate::error::ServiceError;
use crate::{Config, Registry, RegistryKind};

/// Asks the source of whichever kind: `each_kind!(source, at, s => s.call(..))`
/// (a toolchains registry answers no crate question).
/// A virtual registry asks its members, so its future is boxed.
macro_rules! each_kind {
    ($source:expr, $at:expr, $s:ident => $call:expr) => {
        match $source {
            Source::Hosted($s) => $call.await,
            // Boxed: hosted registries' reads are the hot paths, and their
            // futures stay as small as hosted work needs.
            Source::Proxy($s) => Box::pin($call).await,
            Source::Virtual($s) => Box::pin($call).await,
            Source::Replica($s) => {
                Box::pin({
                    let $s = &$s.hosted;
                    $call
                })
                .await
            }
            Source::Toolchains(_) => Err(Toolchains::crate_question($at.reg)),
        }
    };
}

/// One registry's content, by kind.
pub(crate) enum Source {
    Hosted(Hosted),
    Proxy(Box<Proxy>),
    Virtual(Virtual),
    Replica(Box<Replica>),
    Toolchains(Box<Toolchains>),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind().as_str())
    }
}

/// What the registries of one kind share on a node, made once at start.
pub(crate) struct Shared {
    pub(crate) hosted: Arc<HostedShared>,
    /// Memory for upstream index bodies, shared by every proxy.
    index_budget: Arc<IndexBudget>,
}

impl Shared {
    /// `sole_writer`: this process makes every change to the metadata
    /// (single-node SQLite).
    pub(crate) fn new(config: &Config, sole_writer: bool) -> Self {
        Self {
            hosted: Arc::new(HostedShared::new(
                sole_writer,
                config.limits.index_cache_bytes,
            )),
            index_budget: Arc::new(IndexBudget::new(&config.limits)),
        }
    }
}

impl Source {
    /// Builds the source of the configured registry `r`, of its kind.
    pub(crate) fn open(
        config: &Config,
        r: &RegistryConfig,
        shared: &Shared,
    ) -> Result<Self, ServiceError> {
        Ok(match &r.settings {
            KindSettings::Hosted(h) => Source::Hosted(
                Hosted::new(shared.hosted.clone())
                    .promotion_only(h.accept == super::settings::Accept::PromotionOnly),
            ),
            KindSettings::Proxy(p) => {
                let settings = p
                    .resolve(&r.name)
                    .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
                Source::Proxy(Box::new(Proxy::new(
                    settings,
                    config.limits.index_cache_bytes,
                    shared.index_budget.clone(),
                )?))
            }
            KindSettings::Virtual(v) => {
                let members = v
                    .members
                    .iter()
                    .filter_map(|m| {
                        let kind = config.registries.iter().find(|c| &c.name == m)?.kind();
                        Some((m.clone(), kind))
                    })
                    .collect::<Vec<_>>();
                Source::Virtual(Virtual::new(
                    &members,
                    v.claims.clone(),
                    v.publish_to.clone(),
                    v.allow_upstream_names.clone(),
                ))
            }
            KindSettings::Replica(c) => {
                let settings = c
                    .resolve(&r.name)
                    .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
                Source::Replica(Box::new(Replica::new(
                    Hosted::new(shared.hosted.clone()),
                    settings,
                )?))
            }
            KindSettings::Toolchains(t) => {
                let settings = t
                    .resolve(&r.name)
                    .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
                Source::Toolchains(Box::new(Toolchains::new(settings)?))
            }
        })
    }

    /// Crate `canon_name` of registry `reg` changed at `revision` (a
    /// publish, yank or unyank committed; `created` when it made the
    /// crate): what the source remembers older than that is void.
    pub(crate) fn changed(&self, reg: &Registry, canon_name: &str, revision: i64, created: bool) {
        match self {
            Source::Hosted(h) => h.changed(reg, canon_name, revision, created),
            Source::Replica(r) => r.hosted.changed(reg, canon_name, revision, created),
            // Their content is other registries': nothing to forget.
            Source::Proxy(_) | Source::Virtual(_) | Source::Toolchains(_) => {}
        }
    }

    pub(crate) fn kind(&self) -> RegistryKind {
        match self {
            Source::Hosted(_) => RegistryKind::Hosted,
            Source::Proxy(_) => RegistryKind::Proxy,
            Source::Virtual(_) => RegistryKind::Virtual,
            Source::Replica(_) => RegistryKind::Replica,
            Source::Toolchains(_) => RegistryKind::Toolchains,
        }
    }

    /// The index file of a crate, by the lowercased name cargo asks for;
    /// `Ok(None)` when the registry has no such crate.
    pub(crate) async fn index_file(&self, at: At<'_>, name: &str) -> Found<Arc<IndexFile>> {
        // Hosted files are the hot path: the other kinds' larger futures
        // are boxed, so that a hosted hit does not carry their state.
        match self {
            Source::Hosted(s) => s.index_file(at, name).await,
            Source::Proxy(s) => Box::pin(s.index_file(at, name)).await,
            Source::Virtual(s) => Box::pin(s.index_file(at, name)).await,
            Source::Replica(s) => Box::pin(s.hosted.index_file(at, name)).await,
            Source::Toolchains(_) => Err(Toolchains::crate_question(at.reg)),
        }
    }

    /// The blob of one version, by the name and version in the download
    /// URL; `Ok(None)` when the registry has no such version.
    pub(crate) async fn locate(&self, at: At<'_>, name: &str, vers: &str) -> Found<BlobRef> {
        each_kind!(self, at, s => s.locate(at, name, vers))
    }

    /// A page of search results.
    pub(crate) async fn search(&self, at: At<'_>, page: SearchPage<'_>) -> Answer<SearchResults> {
        each_kind!(self, at, s => s.search(at, page))
    }

    /// Every blob this registry still needs; garbage collection deletes
    /// only blobs that no registry's source names.
    pub(crate) async fn referenced_blobs(&self, at: At<'_>) -> Answer<HashSet<String>> {
        match self {
            Source::Hosted(h) => h.referenced_blobs(at).await,
            Source::Replica(r) => r.hosted.referenced_blobs(at).await,
            Source::Proxy(p) => p.referenced_blobs(at).await,
            Source::Toolchains(_) => Ok(at.berth.meta.proxy_blobs(at.reg.id).await?),
            // Its members hold its blobs.
            Source::Virtual(_) => Ok(HashSet::new()),
        }
    }
}
