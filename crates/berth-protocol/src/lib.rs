//! Cargo's registry protocol as plain data and pure functions.
//!
//! This crate owns the wire formats Berth speaks with cargo: crate-name and
//! version rules, sparse-index paths, index lines, the publish request body and
//! the publish metadata it carries, and the derivation of an index line from
//! that metadata. It must never do I/O, read a clock or spawn tasks: every
//! input arrives as an argument, so it can be fuzzed and tested exhaustively.

pub mod body;
pub mod index;
pub mod metadata;
pub mod names;
pub mod version;

pub use body::{parse_publish_body, BodyError, PublishBody};
pub use index::{index_path, DependencyKind, IndexDependency, IndexEntry, LineSummary};
pub use metadata::{
    MetadataError, MetadataLimits, PublishDependency, PublishMetadata, ValidatedPublish,
};
pub use names::{canonical_name, spellings, validate_crate_name, NameError};
pub use version::{canonical_version, validate_version, VersionError};
