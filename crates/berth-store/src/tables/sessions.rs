//! `sessions`: the web UI's logins. A session row holds the sha256 of the
//! cookie's random secret (never the secret), its user, the per-session
//! CSRF token and when it expires.
//!
//! Rows are created at login, read on every page request and deleted at
//! logout, on a password change and once expired. This file never sees a
//! password or a cookie's secret, and never decides whether a session may
//! do something (that is berth-core's and the server's).
//!
//! `docs_passes`: a session's passes to one crate's docs (a private
//! registry's docs opened in a browser, whose docs path carries no
//! cookie). A pass lives no longer than its session: every read joins the
//! session.

use crate::db::MetaStore;
use crate::model::{DocsPassRecord, SessionRecord};
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

    /// Stores a new docs pass of a session, live until `expires_at`: drops
    /// expired passes on the way, and the session's oldest beyond `keep`
    /// (one user opening docs in a loop holds a bounded number of rows).
    #[allow(clippy::too_many_arguments)]
    pub async fn create_docs_pass(
        &self,
        id_hash: &str,
        session_hash: &str,
        registry: &str,
        crate_name: &str,
        now: i64,
        expires_at: i64,
        keep: i64,
    ) -> Result<(), StoreError> {
        let mut w = self.begin_write().await?;
        sqlx::query("DELETE FROM docs_passes WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *w.tx)
            .await?;
        sqlx::query(
            "DELETE FROM docs_passes WHERE session_hash = $1 AND id_hash NOT IN \
             (SELECT id_hash FROM docs_passes WHERE session_hash = $1 \
              ORDER BY created_at DESC, id_hash LIMIT $2)",
        )
        .bind(session_hash)
        .bind((keep - 1).max(0))
        .execute(&mut *w.tx)
        .await?;
        sqlx::query(
            "INSERT INTO docs_passes \
             (id_hash, session_hash, registry, crate_name, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id_hash)
        .bind(session_hash)
        .bind(registry)
        .bind(crate_name)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// The docs pass with this hash live at `now`, its session live too,
    /// with the session's user.
    pub async fn docs_pass(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<DocsPassRecord>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT p.registry, p.crate_name, s.csrf, s.expires_at, s.created_at, {USER_COLUMNS} \
             FROM docs_passes p JOIN sessions s ON s.id_hash = p.session_hash \
             JOIN users u ON u.id = s.user_id \
             WHERE p.id_hash = $1 AND p.expires_at > $2 AND s.expires_at > $2"
        ))
        .bind(id_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Ends one session (logout). Ending a missing one is not an error.
    pub async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        let mut w = self.begin_write().await?;
        for table in [
            "DELETE FROM docs_passes WHERE session_hash = $1",
            "DELETE FROM sessions WHERE id_hash = $1",
        ] {
            sqlx::query(table).bind(id_hash).execute(&mut *w.tx).await?;
        }
        w.tx.commit().await?;
        Ok(())
    }

    /// Ends every session of a user (their directory account is gone).
    pub async fn delete_user_sessions(&self, user_id: i64) -> Result<(), StoreError> {
        self.write_one(sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id))
            .await
    }
}
