//! `docs_sets`: which set of rustdoc files each version's documentation
//! is, where its pages start, and where it came from.
//!
//! A set's files are in the blob store (berth-core's `docs` writes and
//! deletes them); this file only records which set is a version's, and
//! swaps it in one statement, so a reader sees the old set or the new one
//! whole. It never decides who may upload: the caller checks ownership
//! through [`MetaStore::docs_target`] first.

use sqlx::FromRow;

use crate::db::MetaStore;
use crate::model::{Actor, AuditEntry};
use crate::tables::crates::crate_by_name;
use crate::tables::teams::is_owner;
use crate::{now_unix, StoreError};

/// A version's documentation.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct DocsSet {
    /// The version as published.
    pub vers: String,
    #[sqlx(try_from = "crate::tables::Flag")]
    pub yanked: bool,
    pub set_id: String,
    pub root: String,
    pub source: String,
    pub files: i64,
    pub bytes: i64,
    pub created_by: Option<String>,
    pub created_at: i64,
}

/// A set about to replace a version's documentation.
#[derive(Debug, Clone)]
pub struct NewDocsSet {
    pub set_id: String,
    pub root: String,
    pub source: &'static str,
    pub files: i64,
    pub bytes: i64,
}

impl MetaStore {
    /// The id of a version whose documentation `actor` may replace: an
    /// owner of its crate (a user owner or a member of an owning team) or
    /// an administrator. [`StoreError::CrateNotFound`],
    /// [`StoreError::VersionNotFound`] or [`StoreError::NotOwner`] else.
    pub async fn docs_target(
        &self,
        registry_id: i64,
        canon_name: &str,
        canon_vers: &str,
        actor: &Actor,
    ) -> Result<i64, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let krate = crate_by_name(&mut *conn, registry_id, canon_name, "")
            .await?
            .ok_or_else(|| StoreError::CrateNotFound(canon_name.to_string()))?;
        let id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM versions WHERE crate_id = $1 AND canon_vers = $2")
                .bind(krate.id)
                .bind(canon_vers)
                .fetch_optional(&mut *conn)
                .await?;
        let id = id.ok_or_else(|| StoreError::VersionNotFound {
            name: krate.name.clone(),
            vers: canon_vers.to_string(),
        })?;
        if !actor.is_admin && !is_owner(&mut conn, krate.id, actor.user_id).await? {
            return Err(StoreError::NotOwner(krate.name));
        }
        Ok(id)
    }

    /// Makes `set` version `version_id`'s documentation, audited; returns
    /// the set it replaced, whose files the caller deletes.
    pub async fn put_docs_set(
        &self,
        version_id: i64,
        set: &NewDocsSet,
        audit: &AuditEntry,
    ) -> Result<Option<String>, StoreError> {
        let mut w = self.begin_write().await?;
        let old: Option<String> =
            sqlx::query_scalar("SELECT set_id FROM docs_sets WHERE version_id = $1")
                .bind(version_id)
                .fetch_optional(&mut *w.tx)
                .await?;
        sqlx::query(
            "INSERT INTO docs_sets \
             (version_id, set_id, root, source, files, bytes, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (version_id) DO UPDATE SET set_id = excluded.set_id, \
             root = excluded.root, source = excluded.source, files = excluded.files, \
             bytes = excluded.bytes, created_by = excluded.created_by, \
             created_at = excluded.created_at",
        )
        .bind(version_id)
        .bind(&set.set_id)
        .bind(&set.root)
        .bind(set.source)
        .bind(set.files)
        .bind(set.bytes)
        .bind(audit.actor.clone())
        .bind(now_unix())
        .execute(&mut *w.tx)
        .await?;
        w.commit_audited(audit).await?;
        Ok(old)
    }

    /// Every version of a crate that has documentation, in publish order.
    pub async fn docs_sets(
        &self,
        registry_id: i64,
        canon_name: &str,
    ) -> Result<Vec<DocsSet>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT v.vers, v.yanked, d.set_id, d.root, d.source, d.files, d.bytes, \
                    d.created_by, d.created_at \
             FROM docs_sets d JOIN versions v ON v.id = d.version_id \
             JOIN crates c ON c.id = v.crate_id \
             WHERE c.registry_id = $1 AND c.canon_name = $2 ORDER BY v.id",
        )
        .bind(registry_id)
        .bind(canon_name)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Whether a set is some version's documentation (a set written but
    /// not recorded is an orphan).
    pub async fn docs_set_in_use(&self, set_id: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM docs_sets WHERE set_id = $1")
            .bind(set_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }
}
