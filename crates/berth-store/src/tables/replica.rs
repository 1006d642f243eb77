//! Replication: a registry's change feed, read from the audit log, and a
//! replica's progress through its primary's feed.
//!
//! The feed is the registry's `publish`, `yank` and `unyank` rows that
//! succeeded, by audit id. Audit ids are given under a lock held to commit
//! (`tables/audit.rs`), so they appear in commit order with no gaps among
//! committed rows: a reader that asks for rows after the last id it saw
//! never misses one. A replica writes what it copies through the same
//! publish and yank transactions as any change, as its own user
//! (`replica:NAME`, disabled, no password), so its own feed, log and
//! webhooks follow.

use sqlx::FromRow;

use crate::db::MetaStore;
use crate::domain::AuditAction;
use crate::model::User;
use crate::{now_unix, StoreError};

/// The audit actions a change feed carries.
const FEED_ACTIONS: &str = "('publish', 'yank', 'unyank')";

/// One change of a registry's feed.
#[derive(Debug, Clone, PartialEq, Eq, FromRow, serde::Serialize, serde::Deserialize)]
pub struct ChangeRow {
    /// Its place in the feed (the audit row's id).
    pub seq: i64,
    /// Unix seconds.
    pub at: i64,
    pub action: AuditAction,
    #[sqlx(rename = "crate")]
    #[serde(rename = "crate")]
    pub crate_name: String,
    pub version: String,
}

/// How far a replica has come.
#[derive(Debug, Clone, Default, PartialEq, Eq, FromRow)]
pub struct ReplicaStateRow {
    pub applied_seq: i64,
    pub primary_head: i64,
    pub caught_up_at: Option<i64>,
    pub lease_owner: Option<String>,
    pub lease_until: i64,
    pub last_error: Option<String>,
    pub updated_at: i64,
    /// The newest checkpoint of the primary's transparency log verified:
    /// its tree size (0: none) and root (hex).
    pub log_size: i64,
    pub log_root: Option<String>,
}

impl MetaStore {
    /// Registry `registry`'s changes after `since`, oldest first, at most
    /// `limit`.
    pub async fn changes(
        &self,
        registry: &str,
        since: i64,
        limit: i64,
    ) -> Result<Vec<ChangeRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT id AS seq, at, action, crate, version FROM audit_log \
             WHERE registry = $1 AND id > $2 AND outcome = 'ok' AND action IN {FEED_ACTIONS} \
             AND crate IS NOT NULL AND version IS NOT NULL ORDER BY id LIMIT $3"
        ))
        .bind(registry)
        .bind(since)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The newest sequence of registry `registry`'s feed (0: none yet).
    pub async fn change_head(&self, registry: &str) -> Result<i64, StoreError> {
        let head: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT max(id) FROM audit_log WHERE registry = $1 AND outcome = 'ok' \
             AND action IN {FEED_ACTIONS}"
        ))
        .bind(registry)
        .fetch_one(&self.pool)
        .await?;
        Ok(head.unwrap_or(0))
    }

    /// The user a replica's copies are made as: `replica:NAME`, created
    /// disabled and without a password the first time (no one signs in as
    /// it; a login with `:` is one no person can take).
    pub async fn replica_user(&self, registry: &str) -> Result<User, StoreError> {
        let login = format!("replica:{registry}");
        if let Some(u) = self.user_by_login(&login).await? {
            return Ok(u);
        }
        let made = sqlx::query(
            "INSERT INTO users (login, name, password_hash, is_admin, disabled, created_at) \
             VALUES ($1, $2, NULL, 0, 1, $3)",
        )
        .bind(&login)
        .bind(format!("copies of replica registry {registry}"))
        .bind(now_unix())
        .execute(&self.pool)
        .await;
        match made {
            Ok(_) => {}
            // Another node made it first.
            Err(e) if StoreError::is_unique_violation(&e) => {}
            Err(e) => return Err(e.into()),
        }
        self.user_by_login(&login)
            .await?
            .ok_or(StoreError::UserNotFound(login))
    }

    /// A replica's progress (default when it has none yet).
    pub async fn replica_state(&self, registry_id: i64) -> Result<ReplicaStateRow, StoreError> {
        let row: Option<ReplicaStateRow> = sqlx::query_as(
            "SELECT applied_seq, primary_head, caught_up_at, lease_owner, lease_until, \
             last_error, updated_at, log_size, log_root FROM replica_state \
             WHERE registry_id = $1",
        )
        .bind(registry_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.unwrap_or_default())
    }

    /// Takes or renews the lease on syncing replica `registry_id` for
    /// `node` until `until`; false when another node holds it at `now`
    /// (unless `force`: the caller knows no other node exists).
    pub async fn claim_replica(
        &self,
        registry_id: i64,
        node: &str,
        now: i64,
        until: i64,
        force: bool,
    ) -> Result<bool, StoreError> {
        let mut w = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO replica_state (registry_id, updated_at) VALUES ($1, $2) \
             ON CONFLICT (registry_id) DO NOTHING",
        )
        .bind(registry_id)
        .bind(now)
        .execute(&mut *w.tx)
        .await?;
        let took = sqlx::query(
            "UPDATE replica_state SET lease_owner = $1, lease_until = $2 \
             WHERE registry_id = $3 AND (lease_owner = $1 OR lease_owner IS NULL \
             OR lease_until < $4 OR $5 = 1)",
        )
        .bind(node)
        .bind(until)
        .bind(registry_id)
        .bind(now)
        .bind(i64::from(force))
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        w.tx.commit().await?;
        Ok(took == 1)
    }

    /// Forgets where a replica is in its primary's feed and the primary's
    /// checkpoint it verified (`berth registry replica-resync`); false when
    /// it has no progress yet.
    pub async fn reset_replica(&self, registry_id: i64) -> Result<bool, StoreError> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE replica_state SET applied_seq = 0, log_size = 0, log_root = NULL, \
             last_error = NULL WHERE registry_id = $1",
        )
        .bind(registry_id)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        w.tx.commit().await?;
        Ok(done > 0)
    }

    /// Records a replica's progress: the feed applied up to `applied_seq`,
    /// the primary's head as seen, and, when `caught_up`, that it held
    /// everything at `now`; with `log`, the newest checkpoint of the
    /// primary's log verified (size, root hex). Only the lease holder
    /// `node` writes.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_replica(
        &self,
        registry_id: i64,
        node: &str,
        applied_seq: i64,
        primary_head: i64,
        caught_up: bool,
        error: Option<&str>,
        log: Option<(i64, &str)>,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut w = self.begin_write().await?;
        sqlx::query(
            "UPDATE replica_state SET applied_seq = $1, primary_head = $2, \
             caught_up_at = CASE WHEN $3 = 1 THEN $4 ELSE caught_up_at END, \
             last_error = $5, updated_at = $4, \
             log_size = CASE WHEN $8 = 1 THEN $9 ELSE log_size END, \
             log_root = CASE WHEN $8 = 1 THEN $10 ELSE log_root END \
             WHERE registry_id = $6 AND lease_owner = $7",
        )
        .bind(applied_seq)
        .bind(primary_head)
        .bind(i64::from(caught_up))
        .bind(now)
        .bind(error.map(str::to_string))
        .bind(registry_id)
        .bind(node)
        .bind(i64::from(log.is_some()))
        .bind(log.map_or(0, |(size, _)| size))
        .bind(log.map(|(_, root)| root.to_string()))
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(())
    }
}
