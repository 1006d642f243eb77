//! What a toolchains registry keeps in the proxy tables: its manifests in
//! `proxy_index` (named by their dist path, `dist/…`, which no crate name
//! can be) and its component archives in `proxy_crates` (the dist path as
//! the name, an empty version), so that garbage collection and `fsck`
//! count its blobs as any proxy's. Archives are not crate versions: they
//! are never written to the transparency log.
//!
//! Stores what the service verified; never talks to an upstream.

use crate::db::MetaStore;
use crate::StoreError;

impl MetaStore {
    /// Records that a toolchains registry holds the archive at dist path
    /// `path`, whose bytes (verified against its manifest) are blob
    /// `cksum`. A second record of one path keeps the first.
    pub async fn toolchain_archive_put(
        &self,
        registry_id: i64,
        path: &str,
        cksum: &str,
        size: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        self.write_one(
            sqlx::query(super::proxy::PROXY_CRATE_INSERT)
                .bind(registry_id)
                .bind(path)
                .bind("")
                .bind(cksum)
                .bind(size)
                .bind(now),
        )
        .await
    }

    /// The dist paths of the manifests a toolchains registry holds
    /// (`proxy_index` names ending in `.toml`), for finding an archive's
    /// hash after a restart.
    pub async fn toolchain_manifest_names(
        &self,
        registry_id: i64,
    ) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT name FROM proxy_index WHERE registry_id = $1 AND name LIKE 'dist/%.toml' \
             AND body IS NOT NULL ORDER BY name",
        )
        .bind(registry_id)
        .fetch_all(&self.pool)
        .await?)
    }
}
