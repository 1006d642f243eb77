//! `advisory_sets`, `policy_exceptions`, `policy_approvals` and
//! `registries.policy_revision`: what supply-chain control keeps with the
//! data (issue 28).
//!
//! The advisory set in force is one row, replaced whole in one transaction
//! by an import; nodes poll its id and digest ([`MetaStore::advisory_set_info`])
//! and read the body only when it changed. A registry's exceptions and
//! approvals are rows whose every change bumps the registry's
//! `policy_revision` in the same audited transaction, so that a node polling
//! [`MetaStore::policy_revisions`] reloads exactly the lists that changed.
//! Nothing here decides what a policy allows.

use crate::db::MetaStore;
use crate::model::{
    AdvisorySetInfo, AuditEntry, NewAdvisorySet, NewPolicyApproval, NewPolicyException,
    PolicyListRows,
};
use crate::StoreError;

/// The PostgreSQL advisory lock an advisory set replacement holds.
const ADVISORY_SET_LOCK: i64 = 0x6265_7274_6861_6473; // "berthads"

const SET_INFO: &str =
    "SELECT id, digest, source, advisories, crates, imported_at FROM advisory_sets";

/// Bumps a registry's `policy_revision` inside a change to its lists.
async fn bump(conn: &mut sqlx::AnyConnection, registry_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE registries SET policy_revision = policy_revision + 1 WHERE id = $1")
        .bind(registry_id)
        .execute(conn)
        .await?;
    Ok(())
}

impl MetaStore {
    /// The advisory set in force (without its body), if one was imported.
    pub async fn advisory_set_info(&self) -> Result<Option<AdvisorySetInfo>, StoreError> {
        Ok(
            sqlx::query_as(&format!("{SET_INFO} ORDER BY id DESC LIMIT 1"))
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// The advisory set in force with its body (the stored form), read in
    /// one statement.
    pub async fn advisory_set(&self) -> Result<Option<(AdvisorySetInfo, String)>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct WithBody {
            #[sqlx(flatten)]
            info: AdvisorySetInfo,
            body: String,
        }
        let row: Option<WithBody> = sqlx::query_as(
            "SELECT id, digest, source, advisories, crates, imported_at, body \
             FROM advisory_sets ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| (r.info, r.body)))
    }

    /// Puts `set` in force in place of any earlier one, with its audit row,
    /// in one transaction. Returns `None`, changing nothing, when the same
    /// set (digest and stored body) is already in force.
    pub async fn replace_advisory_set(
        &self,
        set: &NewAdvisorySet<'_>,
        entry: &AuditEntry,
    ) -> Result<Option<AdvisorySetInfo>, StoreError> {
        let mut w = self.begin_write().await?;
        if self.backend() == crate::Backend::Postgres {
            // Nodes importing one source at once take turns, so the second
            // sees the first's digest (SQLite's write lock does this).
            sqlx::query("SELECT count(*) FROM (SELECT pg_advisory_xact_lock($1)) AS l")
                .bind(ADVISORY_SET_LOCK)
                .execute(&mut *w.tx)
                .await?;
        }
        // Unchanged only when the stored body is this set's too (a body
        // damaged in place is written again).
        let same: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM advisory_sets WHERE digest = $1 AND body = $2 \
             AND id = (SELECT MAX(id) FROM advisory_sets)",
        )
        .bind(set.digest)
        .bind(set.body)
        .fetch_optional(&mut *w.tx)
        .await?;
        if same.is_some() {
            return Ok(None);
        }
        sqlx::query("DELETE FROM advisory_sets")
            .execute(&mut *w.tx)
            .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO advisory_sets (digest, body, source, advisories, crates, imported_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(set.digest)
        .bind(set.body)
        .bind(set.source)
        .bind(set.advisories)
        .bind(set.crates)
        .bind(set.imported_at)
        .fetch_one(&mut *w.tx)
        .await?;
        w.commit_audited(entry).await?;
        Ok(Some(AdvisorySetInfo {
            id,
            digest: set.digest.to_string(),
            source: set.source.to_string(),
            advisories: set.advisories,
            crates: set.crates,
            imported_at: set.imported_at,
        }))
    }

    /// Every registry's `policy_revision`, by registry id.
    pub async fn policy_revisions(&self) -> Result<Vec<(i64, i64)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT id, policy_revision FROM registries ORDER BY id")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// A registry's exceptions and approvals, and the revision they are at,
    /// read in one transaction.
    pub async fn policy_lists(
        &self,
        registry_id: i64,
    ) -> Result<(i64, PolicyListRows), StoreError> {
        let mut tx = self.pool.begin().await?;
        let revision: i64 =
            sqlx::query_scalar("SELECT policy_revision FROM registries WHERE id = $1")
                .bind(registry_id)
                .fetch_one(&mut *tx)
                .await?;
        let exceptions = sqlx::query_as(
            "SELECT id, name, vers, reason, expires_at, created_by, created_at \
             FROM policy_exceptions WHERE registry_id = $1 ORDER BY id",
        )
        .bind(registry_id)
        .fetch_all(&mut *tx)
        .await?;
        let approvals = sqlx::query_as(
            "SELECT id, name, req, created_by, created_at \
             FROM policy_approvals WHERE registry_id = $1 ORDER BY id",
        )
        .bind(registry_id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((
            revision,
            PolicyListRows {
                exceptions,
                approvals,
            },
        ))
    }

    /// Adds an exception (replacing any for the same version), audited.
    pub async fn add_policy_exception(
        &self,
        new: &NewPolicyException<'_>,
        entry: &AuditEntry,
    ) -> Result<i64, StoreError> {
        let NewPolicyException {
            registry_id,
            name,
            canon_name,
            vers,
            reason,
            expires_at,
            created_by,
            created_at,
        } = *new;
        let mut w = self.begin_write().await?;
        sqlx::query(
            "DELETE FROM policy_exceptions WHERE registry_id = $1 AND canon_name = $2 AND vers = $3",
        )
        .bind(registry_id)
        .bind(canon_name)
        .bind(vers)
        .execute(&mut *w.tx)
        .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO policy_exceptions \
             (registry_id, name, canon_name, vers, reason, expires_at, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(registry_id)
        .bind(name)
        .bind(canon_name)
        .bind(vers)
        .bind(reason)
        .bind(expires_at)
        .bind(created_by)
        .bind(created_at)
        .fetch_one(&mut *w.tx)
        .await?;
        bump(&mut w.tx, registry_id).await?;
        w.commit_audited(entry).await?;
        Ok(id)
    }

    /// Adds a crate (with an optional requirement) to the approved list,
    /// replacing an entry with the same requirement, audited.
    pub async fn add_policy_approval(
        &self,
        new: &NewPolicyApproval<'_>,
        entry: &AuditEntry,
    ) -> Result<i64, StoreError> {
        let NewPolicyApproval {
            registry_id,
            name,
            canon_name,
            req,
            created_by,
            created_at,
        } = *new;
        let mut w = self.begin_write().await?;
        sqlx::query(
            "DELETE FROM policy_approvals WHERE registry_id = $1 AND canon_name = $2 \
             AND COALESCE(req, '') = COALESCE($3, '')",
        )
        .bind(registry_id)
        .bind(canon_name)
        .bind(req)
        .execute(&mut *w.tx)
        .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO policy_approvals (registry_id, name, canon_name, req, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(registry_id)
        .bind(name)
        .bind(canon_name)
        .bind(req)
        .bind(created_by)
        .bind(created_at)
        .fetch_one(&mut *w.tx)
        .await?;
        bump(&mut w.tx, registry_id).await?;
        w.commit_audited(entry).await?;
        Ok(id)
    }

    /// Removes a registry's exceptions for a version (`vers` given) or its
    /// approvals of a crate (`vers` `None`), audited when any was removed.
    /// Returns how many rows went.
    pub async fn remove_policy_entries(
        &self,
        registry_id: i64,
        canon_name: &str,
        vers: Option<&str>,
        entry: &AuditEntry,
    ) -> Result<u64, StoreError> {
        let mut w = self.begin_write().await?;
        let removed = match vers {
            Some(vers) => sqlx::query(
                "DELETE FROM policy_exceptions \
                 WHERE registry_id = $1 AND canon_name = $2 AND vers = $3",
            )
            .bind(registry_id)
            .bind(canon_name)
            .bind(vers),
            None => sqlx::query(
                "DELETE FROM policy_approvals WHERE registry_id = $1 AND canon_name = $2",
            )
            .bind(registry_id)
            .bind(canon_name),
        }
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        if removed == 0 {
            return Ok(0);
        }
        bump(&mut w.tx, registry_id).await?;
        w.commit_audited(entry).await?;
        Ok(removed)
    }

    /// The license of each version of a hosted crate (from its publish
    /// metadata), by version as published; `None` without one.
    pub async fn version_licenses(
        &self,
        registry_id: i64,
        canon_name: &str,
    ) -> Result<Vec<(String, Option<String>)>, StoreError> {
        let license = match self.backend() {
            crate::Backend::Sqlite => "json_extract(v.metadata, '$.license')",
            crate::Backend::Postgres => "(v.metadata::json ->> 'license')",
        };
        Ok(sqlx::query_as(&format!(
            "SELECT v.vers, {license} FROM versions v JOIN crates c ON c.id = v.crate_id \
             WHERE c.registry_id = $1 AND c.canon_name = $2 ORDER BY v.id"
        ))
        .bind(registry_id)
        .bind(canon_name)
        .fetch_all(&self.pool)
        .await?)
    }
}
