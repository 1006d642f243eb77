//! What operators run beside serving: backup and restore, copying a
//! registry between store pairs, the consistency check, the blob store's
//! verification and garbage collection, and mirrors for air-gapped sites;
//! the transparency log checked in all of them where data moves
//! (`log_check.rs`: fsck and restore; mirror bundles carry proofs).

pub mod backup;
mod blobs;
mod finding;
pub mod fsck;
mod log_check;
pub mod migrate;
pub mod mirror;
mod mirror_log;
mod tar_input;

pub use blobs::BlobCheck;
