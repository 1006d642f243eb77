//! The seam between a registry's kind and what it serves.
//!
//! Every registry answers the same questions (an index file, the blob
//! behind a version, a search, the blobs it still needs) from a
//! [`Source`]: `hosted` answers from its own version rows, `proxy` from an
//! upstream it caches, `virtual` from the member that owns a name; a new
//! kind is one more variant and one more module here, and nothing above
//! this module changes. Authorization, download counting and
//! blob streaming stay in the services that call a source; a source never
//! decides who may ask.

mod flight;
mod hosted;
mod proxy;
mod virtual_registry;

use std::collections::HashSet;
use std::sync::Arc;

use crate::error::ServiceError;
use crate::index::IndexFile;
use crate::operations::SearchResults;
use crate::{Berth, Registry, RegistryKind};

pub(crate) use hosted::Hosted;
pub(crate) use proxy::Proxy;
pub(crate) use virtual_registry::Virtual;

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

impl Source {
    pub(crate) fn kind(&self) -> RegistryKind {
        match self {
            Source::Hosted(_) => RegistryKind::Hosted,
            Source::Proxy(_) => RegistryKind::Proxy,
            Source::Virtual(_) => RegistryKind::Virtual,
        }
    }

    /// The index file of a crate, by the lowercased name cargo asks for;
    /// `Ok(None)` when the registry has no such crate.
    pub(crate) async fn index_file(
        &self,
        berth: &Berth,
        reg: &Registry,
        name: &str,
    ) -> Result<Option<Arc<IndexFile>>, ServiceError> {
        match self {
            Source::Hosted(h) => h.index_file(berth, reg, name).await,
            Source::Proxy(p) => p.index_file(berth, reg, name).await,
            Source::Virtual(v) => Box::pin(v.index_file(berth, reg, name)).await,
        }
    }

    /// The blob of one version, by the name and version in the download
    /// URL; `Ok(None)` when the registry has no such version.
    pub(crate) async fn locate(
        &self,
        berth: &Berth,
        reg: &Registry,
        name: &str,
        vers: &str,
    ) -> Result<Option<BlobRef>, ServiceError> {
        match self {
            Source::Hosted(h) => h.locate(berth, reg, name, vers).await,
            Source::Proxy(p) => p.locate(berth, reg, name, vers).await,
            Source::Virtual(v) => Box::pin(v.locate(berth, reg, name, vers)).await,
        }
    }

    /// A page of search results.
    pub(crate) async fn search(
        &self,
        berth: &Berth,
        reg: &Registry,
        query: &str,
        per_page: i64,
        offset: i64,
    ) -> Result<SearchResults, ServiceError> {
        match self {
            Source::Hosted(h) => h.search(berth, reg, query, per_page, offset).await,
            Source::Proxy(p) => p.search(berth, reg, query, per_page, offset).await,
            Source::Virtual(v) => Box::pin(v.search(berth, reg, query, per_page, offset)).await,
        }
    }

    /// Every blob this registry still needs; garbage collection deletes
    /// only blobs that no registry's source names.
    pub(crate) async fn referenced_blobs(
        &self,
        berth: &Berth,
        reg: &Registry,
    ) -> Result<HashSet<String>, ServiceError> {
        match self {
            Source::Hosted(h) => h.referenced_blobs(berth, reg).await,
            Source::Proxy(p) => p.referenced_blobs(berth, reg).await,
            // Its members hold its blobs.
            Source::Virtual(_) => Ok(HashSet::new()),
        }
    }
}
