//! Berth's storage layer: SQL metadata and content-addressed blobs.
//!
//! This crate owns every byte Berth persists. [`MetaStore`] speaks SQL to
//! SQLite or PostgreSQL through one set of queries, one file per table in
//! `tables/` (the dialects differ only in the migration files under
//! `migrations/`, in search and in row locks), and [`BlobStore`] keeps
//! `.crate` files addressed by their sha256 in a local directory or an object
//! store. Multi-row changes happen in one transaction that also enforces the
//! invariants that must hold under concurrency (unique versions, ownership at
//! the moment of change, never removing the last owner). It never decides
//! policy (who is an admin, which registries are allowed): callers pass those
//! decisions in.

mod blobs;
mod bulk;
mod db;
mod domain;
mod error;
mod model;
mod tables;
#[cfg(test)]
mod test_db;
mod transfer;
mod watch;

pub use blobs::{blob_key, BlobStore, S3Credentials, NO_S3_CREDENTIALS};
pub use bulk::{BulkCrate, BulkVersion};
pub use db::{redact, sqlite_path, Backend, MetaStore};
pub use domain::{AuditAction, AuditOutcome, RegistryKind, Role, Scope, UnknownWord};
pub use error::StoreError;
pub use model::*;
/// Re-exported so that callers can inspect database errors.
pub use sqlx;
pub use tables::fsck::{DanglingRef, FsckVersion, LogDisagreement};
pub use tables::log::{
    canon_name, canon_vers, pubtime_of, Appended, Head as LogHead, LogEntry, LogTree,
};
pub use tables::proxy::{
    EvictedCrate, ProxyCrateRow, ProxyIndexRow, ProxyIndexWrite, StoredRegistry,
};
pub use tables::{
    address_key, operator, set_operator, webhook_event_of, ChangeRow, Delivery, DocsBuild, DocsJob,
    DocsSet, ExternalAccount, ExternalRefusal, ExternalSignIn, HeldDocs, NewDocsSet,
    ReplicaStateRow, Webhook, WebhookAttempt, REFUSALS_PER_CALLER_MINUTE, REFUSALS_PER_MINUTE,
    TEAM_PREFIX,
};
pub use transfer::{row_from_json, row_to_json, table_names, Cell};
pub use watch::{IndexEvent, IndexListener, CHANNEL as INDEX_CHANNEL};

/// Current time as Unix seconds; stores use it for timestamps they write.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
