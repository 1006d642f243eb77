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
mod question;
mod reach;
mod replica;
pub(crate) mod settings;
mod source;
mod toolchains;
mod virtual_registry;

pub use describe::KindTraits;
pub use listing::RegistryFront;
pub(crate) use listing::{index_lines, str_of};
pub(crate) use proxy::Proxy;
pub(crate) use question::{At, BlobRef, SearchPage};
pub use question::{SearchResults, MAX_PER_PAGE};
pub use replica::ReplicaStep;
pub(crate) use settings::{fields_of, read_one};
pub(crate) use source::{Shared, Source};
pub use toolchains::{ToolchainBody, ToolchainFile};
pub(crate) use virtual_registry::Virtual;
