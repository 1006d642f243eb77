//! Read-only listings for the web UI: a registry's recently updated and most
//! downloaded crates, a page of its crates by name, and one version's stored
//! metadata and README.
//!
//! Every query is bounded by a limit the caller passes (clamped here too)
//! and walks an index or one crate's rows; nothing here writes or decides
//! who may read a registry (berth-core checks that first).

use crate::db::MetaStore;
use crate::model::{CrateSummary, VersionPage};
use crate::StoreError;

/// Most rows one listing returns.
const MAX_LISTING: i64 = 100;

/// The columns of a [`CrateSummary`].
const SUMMARY_COLUMNS: &str = "name, max_version, description, downloads, updated_at";

impl MetaStore {
    /// A registry's crates, most recently updated first.
    pub async fn recent_crates(
        &self,
        registry_id: i64,
        limit: i64,
    ) -> Result<Vec<CrateSummary>, StoreError> {
        self.crate_listing(registry_id, "updated_at DESC, id DESC", limit, 0)
            .await
    }

    /// A registry's crates, most downloaded first.
    pub async fn top_crates(
        &self,
        registry_id: i64,
        limit: i64,
    ) -> Result<Vec<CrateSummary>, StoreError> {
        self.crate_listing(registry_id, "downloads DESC, canon_name", limit, 0)
            .await
    }

    /// A page of a registry's crates by name, and how many it has.
    pub async fn crates_by_name(
        &self,
        registry_id: i64,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<CrateSummary>, i64), StoreError> {
        let rows = self
            .crate_listing(registry_id, "canon_name", limit, offset)
            .await?;
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM crates WHERE registry_id = $1 AND revision > 0",
        )
        .bind(registry_id)
        .fetch_one(&self.pool)
        .await?;
        Ok((rows, total))
    }

    async fn crate_listing(
        &self,
        registry_id: i64,
        order: &'static str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<CrateSummary>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM crates \
             WHERE registry_id = $1 AND revision > 0 \
             ORDER BY {order} LIMIT $2 OFFSET $3"
        ))
        .bind(registry_id)
        .bind(limit.clamp(0, MAX_LISTING))
        .bind(offset.max(0))
        .fetch_all(&self.pool)
        .await?)
    }

    /// One version's stored metadata and README, by canonical version.
    pub async fn version_page(
        &self,
        crate_id: i64,
        canon_vers: &str,
    ) -> Result<Option<VersionPage>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT vers, metadata, readme FROM versions WHERE crate_id = $1 AND canon_vers = $2",
        )
        .bind(crate_id)
        .bind(canon_vers)
        .fetch_optional(&self.pool)
        .await?)
    }
}
