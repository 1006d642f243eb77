//! What operators run beside serving: backup and restore, copying a
//! registry between store pairs, the consistency check, the blob store's
//! verification and garbage collection, and mirrors for air-gapped sites.

pub mod backup;
mod blobs;
pub mod fsck;
pub mod migrate;
pub mod mirror;
mod tar_input;

pub use blobs::BlobCheck;
