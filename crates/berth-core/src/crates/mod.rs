//! Crates: publishing (the one write path that takes untrusted archives,
//! with the dependency-confusion rules), yanks, owners, search, the index
//! files and downloads cargo fetches, and the read-only pages of crates.

pub(crate) mod changes;
pub(crate) mod checks;
pub(crate) mod confusion;
pub(crate) mod downloads;
pub(crate) mod index;
mod owners;
pub(crate) mod page_supply;
pub(crate) mod pages;
pub mod promote;
mod proxied_page;
pub(crate) mod publish;
mod search;
mod yank;

pub use crate::sources::RegistryFront;
pub use berth_store::{CrateSummary, SearchHit, TokenInfo, VersionPage};
pub use changes::ChangePage;
pub use downloads::{Download, DownloadBody};
pub use index::IndexFile;
pub use owners::{OwnerJson, OwnerList};
pub use pages::{
    AffectedDependency, BlockedView, CrateDetail, CratePage, PageLog, SupplyFacts, VersionJson,
    CHART_DAYS, DEPENDENTS_SHOWN,
};
pub use publish::PublishWarnings;
pub use search::MAX_SEARCH_DEPTH;
