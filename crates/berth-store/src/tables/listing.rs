//! Read-only listings for the web UI: a registry's recently updated and most
//! downloaded crates, a page of its crates by name, one version's stored
//! metadata and README, the stored metadata of a few crates' newest
//! versions (for the keywords search results show), and what a proxy
//! registry holds (its cached index
//! files by name or by when they changed, the `.crate` files it has of one
//! crate).
//!
//! Every query is bounded by a limit the caller passes (clamped here too)
//! and walks an index or one crate's rows; nothing here writes or decides
//! who may read a registry (berth-core checks that first).

use crate::db::MetaStore;
use crate::model::{CrateSummary, VersionPage};
use crate::tables::proxy::ProxyCrateRow;
use crate::StoreError;

/// The key under which a proxy keeps its upstream's `config.json` in
/// `proxy_index` (not a crate: crate names have no `.`).
const PROXY_CONFIG: &str = "config.json";

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

    /// A page of the index files a proxy holds (crates the upstream has),
    /// `(name, body, changed_at)`, by name or most recently changed first,
    /// and how many it holds.
    pub async fn proxy_listing(
        &self,
        registry_id: i64,
        recent_first: bool,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<(String, String, i64)>, i64), StoreError> {
        let order = if recent_first {
            "changed_at DESC, name"
        } else {
            "name"
        };
        let rows: Vec<(String, String, i64)> = sqlx::query_as(&format!(
            "SELECT name, body, changed_at FROM proxy_index \
             WHERE registry_id = $1 AND body IS NOT NULL AND name <> '{PROXY_CONFIG}' \
             ORDER BY {order} LIMIT $2 OFFSET $3"
        ))
        .bind(registry_id)
        .bind(limit.clamp(0, MAX_LISTING))
        .bind(offset.max(0))
        .fetch_all(&self.pool)
        .await?;
        let total: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM proxy_index \
             WHERE registry_id = $1 AND body IS NOT NULL AND name <> '{PROXY_CONFIG}'"
        ))
        .bind(registry_id)
        .fetch_one(&self.pool)
        .await?;
        Ok((rows, total))
    }

    /// The `.crate` files a proxy holds of one crate (by the lowercased
    /// name its cache is keyed by), `(vers, row)`.
    pub async fn proxy_cached_versions(
        &self,
        registry_id: i64,
        name: &str,
    ) -> Result<Vec<(String, ProxyCrateRow)>, StoreError> {
        let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT vers, cksum, size, last_used_at FROM proxy_crates \
             WHERE registry_id = $1 AND name = $2 LIMIT 10000",
        )
        .bind(registry_id)
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(vers, cksum, size, last_used_at)| {
                (
                    vers,
                    ProxyCrateRow {
                        cksum,
                        size,
                        last_used_at,
                    },
                )
            })
            .collect())
    }

    /// The stored publish metadata of the newest version of each named
    /// crate (by canonical name; at most [`MAX_LISTING`] names),
    /// `(name, metadata)`.
    pub async fn newest_metadata(
        &self,
        registry_id: i64,
        canon_names: &[String],
    ) -> Result<Vec<(String, String)>, StoreError> {
        let names = &canon_names[..canon_names.len().min(MAX_LISTING as usize)];
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let marks = (0..names.len())
            .map(|i| format!("${}", i + 2))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT c.name, v.metadata FROM crates AS c \
             JOIN versions AS v ON v.crate_id = c.id AND v.vers = c.max_version \
             WHERE c.registry_id = $1 AND c.canon_name IN ({marks})"
        );
        let mut query = sqlx::query_as(&sql).bind(registry_id);
        for n in names {
            query = query.bind(n);
        }
        Ok(query.fetch_all(&self.pool).await?)
    }
}
