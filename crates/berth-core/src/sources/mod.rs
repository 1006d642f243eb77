//! The seam between a registry's kind and what it serves.
//!
//! Every registry answers the same questions (an index file, the blob
//! behind a version, a search, the blobs it still needs) from a
//! [`Source`]: `hosted` answers from its own version rows, `proxy` from an
//! upstream it caches, `virtual` from the member that owns a name. What
//! else kinds differ in is a `Source` method too (`describe.rs`,
//! `listing.rs`), and each kind's settings are a [`KindSettings`] variant
//! (`settings.rs`): a new kind is one more variant and one more module
//! here (plus its word in the store's `RegistryKind`), and nothing above
//! this module matches on the kind. Authorization, download counting and
//! blob streaming stay in the services that call a source; a source never
//! decides who may ask. A question carries on whose behalf it is asked
//! ([`At`]), so that a virtual registry serves a caller only the members
//! that `Berth::authorize_read` lets it read.

mod describe;
mod flight;
mod hosted;
mod listing;
mod proxy;
mod reach;
pub(crate) mod settings;
mod virtual_registry;

use std::collections::HashSet;
use std::sync::Arc;

use crate::crates::index::IndexFile;
use crate::error::ServiceError;
use crate::registry_config::RegistryConfig;
use crate::{Berth, Config, Identity, Registry, RegistryKind};
use settings::KindSettings;

pub use describe::KindTraits;
pub(crate) use hosted::{Hosted, HostedShared};
pub use listing::RegistryFront;
pub(crate) use listing::{index_lines, str_of};
pub(crate) use proxy::{IndexBudget, Proxy};
pub(crate) use settings::{fields_of, read_one};
pub(crate) use virtual_registry::Virtual;

/// A source's answer.
pub(crate) type Answer<T> = Result<T, ServiceError>;
/// A source's answer about something the registry may not have.
pub(crate) type Found<T> = Answer<Option<T>>;

/// What every question to a source is asked in: the application, the
/// registry asked, and on whose behalf.
#[derive(Clone, Copy)]
pub(crate) struct At<'a> {
    pub berth: &'a Berth,
    pub reg: &'a Registry,
    asker: Asker<'a>,
}

/// On whose behalf a source is asked.
#[derive(Clone, Copy)]
enum Asker<'a> {
    /// The server itself (garbage collection, mirroring, publish-time
    /// guards): every registry is open to it.
    Server,
    /// A request's caller, already authorized to read the registry asked;
    /// a virtual registry serves it only the members it may read too.
    Caller(Option<&'a Identity>),
}

impl Berth {
    /// A question to `reg`'s source on the server's own behalf.
    pub(crate) fn at<'a>(&'a self, reg: &'a Registry) -> At<'a> {
        At {
            berth: self,
            reg,
            asker: Asker::Server,
        }
    }

    /// A question to `reg`'s source on behalf of `who` (who may read `reg`:
    /// the caller checks that first).
    pub(crate) fn at_for<'a>(&'a self, reg: &'a Registry, who: Option<&'a Identity>) -> At<'a> {
        At {
            berth: self,
            reg,
            asker: Asker::Caller(who),
        }
    }
}

impl<'a> At<'a> {
    /// The same question to another registry (a virtual registry's member),
    /// on the same behalf.
    pub(crate) fn member(&self, reg: &'a Registry) -> At<'a> {
        At { reg, ..*self }
    }

    /// The caller asked for (`None` for the server, or an anonymous one).
    pub(crate) fn caller(&self) -> Option<&'a Identity> {
        match self.asker {
            Asker::Server => None,
            Asker::Caller(who) => who,
        }
    }

    /// Whether the asker may read `reg` (`Berth::authorize_read` decides;
    /// a source only asks).
    pub(crate) fn may_read(&self, reg: &Registry) -> bool {
        match self.asker {
            Asker::Server => true,
            Asker::Caller(who) => self.berth.may_read(reg, who),
        }
    }
}

/// A page of search results.
#[derive(Debug, Clone)]
pub struct SearchResults {
    /// The hits of this page (for a virtual registry, each names the
    /// member it comes from: [`berth_store::SearchHit::member`]).
    pub hits: Vec<berth_store::SearchHit>,
    pub total: i64,
}

/// Largest `per_page` a search may ask for.
pub const MAX_PER_PAGE: i64 = 100;

/// One page of a search: the query, at most `per_page` hits, after
/// skipping `offset`.
#[derive(Clone, Copy)]
pub(crate) struct SearchPage<'a> {
    pub query: &'a str,
    pub per_page: i64,
    pub offset: i64,
}

impl SearchPage<'_> {
    /// The items of this page, out of all the results in order.
    pub(crate) fn window<T>(&self, all: impl IntoIterator<Item = T>) -> impl Iterator<Item = T> {
        all.into_iter()
            .skip(self.offset.max(0) as usize)
            .take(self.per_page.max(0) as usize)
    }
}

impl SearchResults {
    pub(crate) fn of(hits: Vec<berth_store::SearchHit>, total: i64) -> Self {
        Self { hits, total }
    }
}

/// Asks the source of whichever kind: `each_kind!(source, s => s.call(..))`.
/// A virtual registry asks its members, so its future is boxed.
macro_rules! each_kind {
    ($source:expr, $s:ident => $call:expr) => {
        match $source {
            Source::Hosted($s) => $call.await,
            // Boxed: hosted registries' reads are the hot paths, and their
            // futures stay as small as hosted work needs.
            Source::Proxy($s) => Box::pin($call).await,
            Source::Virtual($s) => Box::pin($call).await,
        }
    };
}

/// Where a version's bytes are.
#[derive(Debug, Clone)]
pub(crate) struct BlobRef {
    /// sha256 hex of the `.crate` (the index `cksum`), the blob's key.
    pub cksum: String,
    pub size: u64,
    /// `(crate_id, version_id)` when downloads of it are counted.
    pub counted: Option<(i64, i64)>,
}

/// One registry's content, by kind.
pub(crate) enum Source {
    Hosted(Hosted),
    Proxy(Box<Proxy>),
    Virtual(Virtual),
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
            KindSettings::Hosted => Source::Hosted(Hosted::new(shared.hosted.clone())),
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
        })
    }

    /// Crate `canon_name` of registry `reg` changed at `revision` (a
    /// publish, yank or unyank committed; `created` when it made the
    /// crate): what the source remembers older than that is void.
    pub(crate) fn changed(&self, reg: &Registry, canon_name: &str, revision: i64, created: bool) {
        match self {
            Source::Hosted(h) => h.changed(reg, canon_name, revision, created),
            // Their content is other registries': nothing to forget.
            Source::Proxy(_) | Source::Virtual(_) => {}
        }
    }

    pub(crate) fn kind(&self) -> RegistryKind {
        match self {
            Source::Hosted(_) => RegistryKind::Hosted,
            Source::Proxy(_) => RegistryKind::Proxy,
            Source::Virtual(_) => RegistryKind::Virtual,
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
        }
    }

    /// The blob of one version, by the name and version in the download
    /// URL; `Ok(None)` when the registry has no such version.
    pub(crate) async fn locate(&self, at: At<'_>, name: &str, vers: &str) -> Found<BlobRef> {
        each_kind!(self, s => s.locate(at, name, vers))
    }

    /// A page of search results.
    pub(crate) async fn search(&self, at: At<'_>, page: SearchPage<'_>) -> Answer<SearchResults> {
        each_kind!(self, s => s.search(at, page))
    }

    /// Every blob this registry still needs; garbage collection deletes
    /// only blobs that no registry's source names.
    pub(crate) async fn referenced_blobs(&self, at: At<'_>) -> Answer<HashSet<String>> {
        match self {
            Source::Hosted(h) => h.referenced_blobs(at).await,
            Source::Proxy(p) => p.referenced_blobs(at).await,
            // Its members hold its blobs.
            Source::Virtual(_) => Ok(HashSet::new()),
        }
    }
}
