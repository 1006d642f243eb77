//! Downloads: finding the blob behind a version and adding up counts in
//! `versions.downloads`, `crates.downloads` and the per-day
//! `version_downloads` (the crate page's chart).
//!
//! Counts are only ever added to (never overwritten), so that nodes that
//! buffer their own counts never lose each other's. Nothing here reads or
//! writes blobs; it answers which blob and how big.

use crate::db::MetaStore;
use crate::model::DownloadInfo;
use crate::StoreError;

impl MetaStore {
    /// The blob behind a version.
    pub async fn download_info(
        &self,
        registry_id: i64,
        canon_name: &str,
        canon_vers: &str,
    ) -> Result<Option<DownloadInfo>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT v.id AS version_id, v.crate_id, v.cksum, v.size \
             FROM versions v JOIN crates c ON c.id = v.crate_id \
             WHERE c.registry_id = $1 AND c.canon_name = $2 AND v.canon_vers = $3",
        )
        .bind(registry_id)
        .bind(canon_name)
        .bind(canon_vers)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Adds download counts: `(crate_id, version_id, count)` triples, all
    /// counted on `day` (a Unix day number: Unix seconds / 86400).
    pub async fn add_downloads(
        &self,
        counts: &[(i64, i64, i64)],
        day: i64,
    ) -> Result<(), StoreError> {
        if counts.is_empty() {
            return Ok(());
        }
        // Rows are locked in the order every writer takes them: a crate's
        // row before its versions' (a yank or publish holds the crate row
        // while it changes a version), crates and versions by id. Versions
        // first here met a yank's crate-then-version on PostgreSQL as a
        // deadlock, and the yank failed with a 500.
        let mut ordered = counts.to_vec();
        ordered.sort_unstable();
        let mut w = self.begin_write().await?;
        for (crate_id, version_id, n) in &ordered {
            sqlx::query("UPDATE crates SET downloads = downloads + $2 WHERE id = $1")
                .bind(*crate_id)
                .bind(*n)
                .execute(&mut *w.tx)
                .await?;
            sqlx::query("UPDATE versions SET downloads = downloads + $2 WHERE id = $1")
                .bind(*version_id)
                .bind(*n)
                .execute(&mut *w.tx)
                .await?;
            sqlx::query(
                "INSERT INTO version_downloads (version_id, day, count) VALUES ($1, $2, $3) \
                 ON CONFLICT (version_id, day) \
                 DO UPDATE SET count = version_downloads.count + excluded.count",
            )
            .bind(*version_id)
            .bind(day)
            .bind(*n)
            .execute(&mut *w.tx)
            .await?;
        }
        w.tx.commit().await?;
        Ok(())
    }

    /// A crate's downloads per day (all versions) for the days `from..=to`
    /// (Unix day numbers), oldest first; days without downloads are absent.
    pub async fn daily_downloads(
        &self,
        crate_id: i64,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT g.day, CAST(SUM(g.count) AS BIGINT) FROM version_downloads g \
             JOIN versions v ON v.id = g.version_id \
             WHERE v.crate_id = $1 AND g.day >= $2 AND g.day <= $3 \
             GROUP BY g.day ORDER BY g.day",
        )
        .bind(crate_id)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Download count of a version (tests and the UI).
    pub async fn version_downloads(&self, version_id: i64) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT downloads FROM versions WHERE id = $1")
                .bind(version_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }
}
