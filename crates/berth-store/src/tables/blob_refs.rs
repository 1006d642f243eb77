//! Which blobs the metadata refers to: the checksums in `versions.cksum`
//! and `proxy_crates.cksum`, for garbage collection and `migrate`.
//!
//! Read-only, and it never touches the blob store: deciding what to delete
//! (and how old a blob must be first) is berth-core's `gc`.

use std::collections::HashSet;

use crate::db::MetaStore;
use crate::StoreError;

impl MetaStore {
    /// Whether any version or proxy cache entry refers to a blob.
    pub async fn blob_referenced(&self, cksum: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM versions WHERE cksum = $1 \
                 UNION ALL SELECT 1 FROM proxy_crates WHERE cksum = $1 LIMIT 1",
        )
        .bind(cksum)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// Every checksum a version of any registry refers to (`migrate`).
    pub async fn version_blobs(&self) -> Result<HashSet<String>, StoreError> {
        let sums: Vec<String> = sqlx::query_scalar("SELECT DISTINCT cksum FROM versions")
            .fetch_all(&self.pool)
            .await?;
        Ok(sums.into_iter().collect())
    }

    /// Every checksum a version of one registry refers to (garbage
    /// collection asks each registry).
    pub async fn referenced_blobs(&self, registry_id: i64) -> Result<HashSet<String>, StoreError> {
        let sums: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT v.cksum FROM versions v JOIN crates c ON c.id = v.crate_id \
             WHERE c.registry_id = $1",
        )
        .bind(registry_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(sums.into_iter().collect())
    }
}
