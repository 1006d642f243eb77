//! What the sparse index serves: a crate's state (id, revision, updated_at)
//! and its index lines, read from `crates` and `versions`.
//!
//! Read-only. The lines are served exactly as stored (written at publish,
//! rewritten only by a yank); nothing here parses or rebuilds them.

use sqlx::{Any, Executor};

use crate::db::MetaStore;
use crate::model::IndexState;
use crate::StoreError;

/// A crate's [`IndexState`] by canonical name.
async fn state<'c>(
    e: impl Executor<'c, Database = Any>,
    registry_id: i64,
    canon_name: &str,
) -> Result<Option<IndexState>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id AS crate_id, revision, updated_at FROM crates \
         WHERE registry_id = $1 AND canon_name = $2",
    )
    .bind(registry_id)
    .bind(canon_name)
    .fetch_optional(e)
    .await
}

impl MetaStore {
    /// The revision of a crate's index file, to validate a cached copy.
    pub async fn index_state(
        &self,
        registry_id: i64,
        canon_name: &str,
    ) -> Result<Option<IndexState>, StoreError> {
        Ok(state(&self.pool, registry_id, canon_name).await?)
    }

    /// A crate's index file: its state and every line, in publish order, read
    /// in one transaction so the lines match the state.
    pub async fn index_file(
        &self,
        registry_id: i64,
        canon_name: &str,
    ) -> Result<Option<(IndexState, Vec<String>)>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let Some(state) = state(&mut *tx, registry_id, canon_name).await? else {
            return Ok(None);
        };
        let lines =
            sqlx::query_scalar("SELECT index_line FROM versions WHERE crate_id = $1 ORDER BY id")
                .bind(state.crate_id)
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(Some((state, lines)))
    }

    /// Bytes of a crate's index file (its lines and their newlines).
    pub async fn index_file_bytes(&self, crate_id: i64) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(OCTET_LENGTH(index_line) + 1), 0) AS BIGINT) \
             FROM versions WHERE crate_id = $1",
        )
        .bind(crate_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n.max(0) as u64)
    }
}
