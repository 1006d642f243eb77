//! What every question to a source is asked in and answered with: on whose
//! behalf ([`At`]), a page of a search and its results, where a version's
//! bytes are. Imports no kind.

use crate::error::ServiceError;
use crate::{Berth, Identity, Registry};

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

/// Where a version's bytes are.
#[derive(Debug, Clone)]
pub(crate) struct BlobRef {
    /// sha256 hex of the `.crate` (the index `cksum`), the blob's key.
    pub cksum: String,
    pub size: u64,
    /// `(crate_id, version_id)` when downloads of it are counted.
    pub counted: Option<(i64, i64)>,
}
