//! `audit_log`: the append-only record of changes and refused attempts.
//!
//! Every change writes its row with [`insert_audit`] inside the transaction
//! that makes the change, so the row exists exactly when the change does;
//! refused attempts append theirs on their own. Rows are only ever inserted:
//! nothing here (or anywhere) updates or deletes them.

use sqlx::AnyConnection;

use crate::db::{MetaStore, WriteTx};
use crate::model::{AuditEntry, AuditRow};
use crate::{now_unix, StoreError};

/// Appends one audit row on `conn` (inside the caller's transaction).
pub(crate) async fn insert_audit(
    conn: &mut AnyConnection,
    e: &AuditEntry,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, registry, crate, version, outcome, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(now_unix())
    .bind(e.actor.clone())
    .bind(e.action.as_str())
    .bind(e.registry.clone())
    .bind(e.crate_name.clone())
    .bind(e.version.clone())
    .bind(e.outcome.as_str())
    .bind(e.detail.clone())
    .execute(conn)
    .await?;
    Ok(())
}

impl WriteTx<'_> {
    /// Appends the audit row of the change this transaction made and
    /// commits both.
    pub(crate) async fn commit_audited(mut self, entry: &AuditEntry) -> Result<(), sqlx::Error> {
        insert_audit(&mut self.tx, entry).await?;
        self.tx.commit().await
    }
}

impl MetaStore {
    /// Appends one audit row (refused attempts; changes write their own).
    pub async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.begin_write().await?.commit_audited(entry).await?;
        Ok(())
    }

    /// The newest audit rows, newest first.
    pub async fn recent_audit(&self, limit: i64) -> Result<Vec<AuditRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, at, actor, action, registry, crate, version, outcome, detail \
             FROM audit_log ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}
