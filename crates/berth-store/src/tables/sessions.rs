//! `sessions`: the web UI's logins. A session row holds the sha256 of the
//! cookie's random secret (never the secret), its user, the per-session
//! CSRF token and when it expires.
//!
//! Rows are created at login, read on every page request and deleted at
//! logout, on a password change and once expired. This file never sees a
//! password or a cookie's secret, and never decides whether a session may
//! do something (that is berth-core's and the server's).

use crate::db::MetaStore;
use crate::model::SessionRecord;
use crate::tables::users::USER_COLUMNS;
use crate::StoreError;

impl MetaStore {
    /// Stores a new session signed in at `now` (the caller's clock), and
    /// drops expired ones on the way.
    pub async fn create_session(
        &self,
        id_hash: &str,
        user_id: i64,
        csrf: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let mut w = self.begin_write().await?;
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *w.tx)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, csrf, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id_hash)
        .bind(user_id)
        .bind(csrf)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// The session with this hash live at `now` (Unix seconds), with its
    /// user.
    pub async fn session_by_hash(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT s.csrf, s.expires_at, s.created_at, {USER_COLUMNS} \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id_hash = $1 AND s.expires_at > $2"
        ))
        .bind(id_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Ends one session (logout). Ending a missing one is not an error.
    pub async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        self.write_one(sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash))
            .await
    }

    /// Ends every session of a user (their directory account is gone).
    pub async fn delete_user_sessions(&self, user_id: i64) -> Result<(), StoreError> {
        self.write_one(sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id))
            .await
    }
}
