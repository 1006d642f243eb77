//! `docs_sets`: which set of rustdoc files each version's documentation
//! is, where its pages start, and where it came from.
//!
//! A set's files are in the blob store (berth-core's `docs` writes and
//! deletes them); this file only records which set is a version's, and
//! swaps it in one statement (and keeps the build queue: a job per
//! version, queued with its publish, taken under a lease), so a reader sees the old set or the new one
//! whole. It never decides who may upload: the caller checks ownership
//! through [`MetaStore::docs_target`] first.

use sqlx::{AnyConnection, FromRow};

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

/// A version's documentation among a registry's.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct HeldDocs {
    /// The crate's name as published.
    pub name: String,
    pub version_id: i64,
    #[sqlx(flatten)]
    pub set: DocsSet,
}

/// A build a worker took.
#[derive(Debug, Clone)]
pub struct DocsJob {
    pub version_id: i64,
    /// This one included.
    pub attempts: i64,
    pub registry: String,
    pub name: String,
    pub vers: String,
    /// The `.crate`'s sha256 (its blob).
    pub cksum: String,
}

/// A version's build: `queued`, `building`, `ok` or `failed`.
#[derive(Debug, Clone, PartialEq, Eq, FromRow, serde::Serialize)]
pub struct DocsBuild {
    pub state: String,
    pub attempts: i64,
    pub log: Option<String>,
    pub queued_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// Queues a version's docs build (again: a finished one starts over), on
/// `conn`, inside the transaction that publishes the version.
pub(crate) async fn queue_build(
    conn: &mut AnyConnection,
    version_id: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO docs_builds (version_id, state, attempts, lease_until, queued_at) \
         VALUES ($1, 'queued', 0, 0, $2) \
         ON CONFLICT (version_id) DO UPDATE SET state = 'queued', attempts = 0, \
         lease_owner = NULL, lease_until = 0, log = NULL, queued_at = excluded.queued_at, \
         started_at = NULL, finished_at = NULL",
    )
    .bind(version_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Holds a version's row until the transaction ends (on PostgreSQL; on
/// SQLite the write lock already holds everything), so that two writers
/// of its docs go one after the other.
async fn lock_version(conn: &mut AnyConnection, version_id: i64) -> Result<(), sqlx::Error> {
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT id FROM versions WHERE id = $1 FOR UPDATE")
            .bind(version_id)
            .fetch_optional(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Keeps `set_id`, which no version serves any more, for its grace
/// period (`docs_retired`).
async fn retire(conn: &mut AnyConnection, set_id: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO docs_retired (set_id, retired_at) VALUES ($1, $2) \
         ON CONFLICT (set_id) DO NOTHING",
    )
    .bind(set_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Makes `set` a version's docs; the set it replaced is retired (its
/// files stay for the grace period).
async fn upsert_set(
    conn: &mut AnyConnection,
    version_id: i64,
    set: &NewDocsSet,
    by: Option<String>,
) -> Result<(), sqlx::Error> {
    lock_version(conn, version_id).await?;
    let old: Option<String> =
        sqlx::query_scalar("SELECT set_id FROM docs_sets WHERE version_id = $1")
            .bind(version_id)
            .fetch_optional(&mut *conn)
            .await?;
    if let Some(old) = &old {
        retire(conn, old, now_unix()).await?;
    }
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
    .bind(by)
    .bind(now_unix())
    .execute(conn)
    .await?;
    Ok(())
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

    /// Makes `set` version `version_id`'s documentation, audited; the set
    /// it replaced is retired (`docs_retired`).
    pub async fn put_docs_set(
        &self,
        version_id: i64,
        set: &NewDocsSet,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut w = self.begin_write().await?;
        upsert_set(&mut w.tx, version_id, set, audit.actor.clone()).await?;
        w.commit_audited(audit).await?;
        Ok(())
    }

    /// Sets every version's docs aside (before a forced restore, whose
    /// rows may give a version id to another version): each set is
    /// retired (its files deleted after the grace), and the sets and the
    /// build queue forgotten. Returns how many sets were retired.
    pub async fn retire_all_docs(&self, now: i64) -> Result<u64, StoreError> {
        let mut w = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO docs_retired (set_id, retired_at) SELECT set_id, $1 FROM docs_sets \
             WHERE true ON CONFLICT (set_id) DO NOTHING",
        )
        .bind(now)
        .execute(&mut *w.tx)
        .await?;
        let retired = sqlx::query("DELETE FROM docs_sets")
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM docs_builds")
            .execute(&mut *w.tx)
            .await?;
        w.tx.commit().await?;
        Ok(retired)
    }

    /// Takes the oldest queued build (or one whose worker's lease ran
    /// out, fewer than `max_attempts` times tried) for `owner` until
    /// `lease_until`; first gives up, as failed, those tried
    /// `max_attempts` times whose lease ran out.
    pub async fn claim_docs_build(
        &self,
        owner: &str,
        now: i64,
        lease_until: i64,
        max_attempts: i64,
    ) -> Result<Option<DocsJob>, StoreError> {
        // Most polls find nothing: a read says so without a write.
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT version_id FROM docs_builds WHERE state = 'queued' \
             OR (state = 'building' AND lease_until < $1) LIMIT 1",
        )
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        if due.is_none() {
            return Ok(None);
        }
        let mut w = self.begin_write().await?;
        sqlx::query(
            "UPDATE docs_builds SET state = 'failed', finished_at = $1, lease_owner = NULL, \
             log = COALESCE(log, '') || $3 \
             WHERE state = 'building' AND lease_until < $1 AND attempts >= $2",
        )
        .bind(now)
        .bind(max_attempts)
        .bind(format!(
            "\nberth: given up after {max_attempts} attempts: each worker stopped before \
             it finished (killed, or its node went away)\n"
        ))
        .execute(&mut *w.tx)
        .await?;
        // Fair between publishers: each one's builds take turns (its
        // running builds count as its earlier turns), oldest first within
        // a turn, so one user's burst of publishes delays nobody else's
        // by more than a turn. The claim checks the row is still free:
        // of two nodes choosing the same build, the second gets none and
        // asks again at its next poll.
        let claimed: Option<(i64, i64)> = sqlx::query_as(
            "UPDATE docs_builds SET state = 'building', lease_owner = $1, lease_until = $3, \
             attempts = attempts + 1, started_at = $2, finished_at = NULL \
             WHERE (state = 'queued' OR (state = 'building' AND lease_until < $2)) \
             AND version_id = (SELECT version_id FROM ( \
               SELECT b.version_id, b.queued_at, b.state, b.lease_until, \
                 ROW_NUMBER() OVER (PARTITION BY v.published_by ORDER BY \
                   CASE WHEN b.state = 'building' AND b.lease_until >= $2 THEN 0 ELSE 1 END, \
                   b.queued_at, b.version_id) AS turn \
               FROM docs_builds b JOIN versions v ON v.id = b.version_id \
               WHERE b.state IN ('queued', 'building')) q \
             WHERE q.state = 'queued' OR q.lease_until < $2 \
             ORDER BY q.turn, q.queued_at, q.version_id LIMIT 1) \
             RETURNING version_id, attempts",
        )
        .bind(owner)
        .bind(now)
        .bind(lease_until)
        .fetch_optional(&mut *w.tx)
        .await?;
        let Some((version_id, attempts)) = claimed else {
            w.tx.commit().await?;
            return Ok(None);
        };
        let job: (String, String, String, String) = sqlx::query_as(
            "SELECT r.name, c.name, v.vers, v.cksum FROM versions v \
             JOIN crates c ON c.id = v.crate_id JOIN registries r ON r.id = c.registry_id \
             WHERE v.id = $1",
        )
        .bind(version_id)
        .fetch_one(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(Some(DocsJob {
            version_id,
            attempts,
            registry: job.0,
            name: job.1,
            vers: job.2,
            cksum: job.3,
        }))
    }

    /// Records how `owner`'s build of a version ended (`set`: the docs it
    /// made, now the version's, the one replaced retired); the set to
    /// delete: `set` itself when docs were uploaded while it built (an
    /// upload from CI is newer than the build). `Ok(Err(()))` when the job is no
    /// longer `owner`'s (its lease ran out and another worker took it):
    /// nothing was written.
    pub async fn finish_docs_build(
        &self,
        version_id: i64,
        owner: &str,
        log: &str,
        set: Option<&NewDocsSet>,
        now: i64,
    ) -> Result<Result<Option<String>, ()>, StoreError> {
        let mut w = self.begin_write().await?;
        lock_version(&mut w.tx, version_id).await?;
        let started: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT started_at FROM docs_builds WHERE version_id = $1 AND lease_owner = $2",
        )
        .bind(version_id)
        .bind(owner)
        .fetch_optional(&mut *w.tx)
        .await?;
        let uploaded_since: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM docs_sets WHERE version_id = $1 AND source = 'upload' \
             AND created_at >= $2",
        )
        .bind(version_id)
        .bind(started.flatten().unwrap_or(i64::MAX))
        .fetch_optional(&mut *w.tx)
        .await?;
        let done = sqlx::query(
            "UPDATE docs_builds SET state = $3, log = $4, finished_at = $5, lease_owner = NULL, \
             lease_until = 0 WHERE version_id = $1 AND lease_owner = $2 AND state = 'building'",
        )
        .bind(version_id)
        .bind(owner)
        .bind(if set.is_some() { "ok" } else { "failed" })
        .bind(log)
        .bind(now)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        if done == 0 {
            return Ok(Err(()));
        }
        let old = match set {
            Some(set) if uploaded_since.is_some() => Some(set.set_id.clone()),
            Some(set) => {
                upsert_set(&mut w.tx, version_id, set, None).await?;
                None
            }
            None => None,
        };
        w.tx.commit().await?;
        Ok(Ok(old))
    }

    /// Puts the build `owner` holds back in the queue, its attempt not
    /// counted (the worker stops); how many.
    pub async fn release_docs_build(&self, owner: &str) -> Result<u64, StoreError> {
        let mut w = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE docs_builds SET state = 'queued', lease_owner = NULL, lease_until = 0, \
             attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, started_at = NULL \
             WHERE lease_owner = $1 AND state = 'building'",
        )
        .bind(owner)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        w.tx.commit().await?;
        Ok(n)
    }

    /// Queues a version's build again (`berth docs rebuild`), audited.
    pub async fn queue_docs_rebuild(
        &self,
        version_id: i64,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut w = self.begin_write().await?;
        queue_build(&mut w.tx, version_id, now_unix()).await?;
        w.commit_audited(audit).await?;
        Ok(())
    }

    /// A version's build, if one was ever queued.
    pub async fn docs_build(&self, version_id: i64) -> Result<Option<DocsBuild>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT state, attempts, log, queued_at, started_at, finished_at \
             FROM docs_builds WHERE version_id = $1",
        )
        .bind(version_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Builds waiting or running (the queue's length, a metric).
    pub async fn docs_queue_length(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM docs_builds WHERE state IN ('queued', 'building')",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    /// Every version of a registry that has documentation, by crate and
    /// in publish order (the docs budget's candidates).
    pub async fn registry_docs_sets(&self, registry_id: i64) -> Result<Vec<HeldDocs>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT c.name, d.version_id, v.vers, v.yanked, d.set_id, d.root, d.source, \
                    d.files, d.bytes, d.created_by, d.created_at \
             FROM docs_sets d JOIN versions v ON v.id = d.version_id \
             JOIN crates c ON c.id = v.crate_id \
             WHERE c.registry_id = $1 ORDER BY c.canon_name, v.id",
        )
        .bind(registry_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Takes `set_id` from version `version_id` (the docs budget dropped
    /// it) and retires it, audited; false when the version no longer
    /// serves that set (a new one came, or another node dropped it).
    pub async fn drop_docs_set(
        &self,
        version_id: i64,
        set_id: &str,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let mut w = self.begin_write().await?;
        lock_version(&mut w.tx, version_id).await?;
        let gone = sqlx::query("DELETE FROM docs_sets WHERE version_id = $1 AND set_id = $2")
            .bind(version_id)
            .bind(set_id)
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        if gone == 0 {
            return Ok(false);
        }
        retire(&mut w.tx, set_id, now_unix()).await?;
        w.commit_audited(audit).await?;
        Ok(true)
    }

    /// Retired sets whose grace ended by `before`, oldest first.
    pub async fn retired_docs_sets(&self, before: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT set_id FROM docs_retired WHERE retired_at <= $1 ORDER BY retired_at",
        )
        .bind(before)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Forgets a retired set whose files are deleted.
    pub async fn forget_retired_docs_set(&self, set_id: &str) -> Result<(), StoreError> {
        let mut w = self.begin_write().await?;
        sqlx::query("DELETE FROM docs_retired WHERE set_id = $1")
            .bind(set_id)
            .execute(&mut *w.tx)
            .await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// Whether a row names `set_id` (a version serves it, or it is
    /// retired): a set in the blob store that none names is an orphan.
    pub async fn docs_set_known(&self, set_id: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM docs_sets WHERE set_id = $1 \
             UNION ALL SELECT 1 FROM docs_retired WHERE set_id = $1",
        )
        .bind(set_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
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
}
