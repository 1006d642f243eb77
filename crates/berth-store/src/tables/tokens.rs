//! `tokens`: API tokens, stored as the sha256 of their secret.
//!
//! A token is created, looked up by its hash, touched on use and revoked;
//! it is never deleted (its audit rows name it) and its secret never reaches
//! this file. Which scopes a token needs is berth-core's decision.

use sqlx::FromRow;

use crate::db::MetaStore;
use crate::domain::AuditAction;
use crate::model::{AuditEntry, TokenInfo, TokenRecord};
use crate::tables::insert_audit;
use crate::tables::users::USER_COLUMNS;
use crate::{now_unix, StoreError};

/// The columns of a [`TokenInfo`].
const TOKEN_INFO_COLUMNS: &str = "id, name, scopes, created_at, expires_at, revoked";

/// A [`TokenRecord`] with the stored hash it was found by.
#[derive(FromRow)]
struct HashedToken {
    token_hash: String,
    #[sqlx(flatten)]
    record: TokenRecord,
}

impl MetaStore {
    /// Stores a new token (its hash only).
    pub async fn create_token(
        &self,
        user_id: i64,
        name: &str,
        token_hash: &str,
        scopes: &str,
        expires_at: Option<i64>,
    ) -> Result<i64, StoreError> {
        let mut w = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO tokens (user_id, name, token_hash, scopes, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(user_id)
        .bind(name)
        .bind(token_hash)
        .bind(scopes)
        .bind(now_unix())
        .bind(expires_at)
        .fetch_one(&mut *w.tx)
        .await?;
        w.commit_audited(&AuditEntry::done(
            AuditAction::TokenCreate,
            format!("user_id={user_id} token_id={id} name={name} scopes={scopes}"),
        ))
        .await?;
        Ok(id)
    }

    /// Finds a token by the hash of its secret.
    pub async fn token_by_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<(String, TokenRecord)>, StoreError> {
        let found: Option<HashedToken> = sqlx::query_as(&format!(
            "SELECT t.id AS token_id, t.name AS token_name, t.token_hash, t.scopes, \
                    t.expires_at, t.last_used_at, t.revoked, {USER_COLUMNS} \
             FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.map(|t| (t.token_hash, t.record)))
    }

    /// Records that a token was used now.
    pub async fn touch_token(&self, token_id: i64) -> Result<(), StoreError> {
        let mut w = self.begin_write().await?;
        sqlx::query("UPDATE tokens SET last_used_at = $2 WHERE id = $1")
            .bind(token_id)
            .bind(now_unix())
            .execute(&mut *w.tx)
            .await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// The tokens of a user (never their secrets).
    pub async fn list_tokens(&self, user_id: i64) -> Result<Vec<TokenInfo>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {TOKEN_INFO_COLUMNS} FROM tokens WHERE user_id = $1 ORDER BY id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Revokes a token of a user. Returns whether a token was revoked.
    pub async fn revoke_token(&self, user_id: i64, token_id: i64) -> Result<bool, StoreError> {
        let mut w = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE tokens SET revoked = 1 WHERE id = $1 AND user_id = $2 AND revoked = 0",
        )
        .bind(token_id)
        .bind(user_id)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        if n > 0 {
            insert_audit(
                &mut w.tx,
                &AuditEntry::done(
                    AuditAction::TokenRevoke,
                    format!("user_id={user_id} token_id={token_id}"),
                ),
            )
            .await?;
        }
        w.tx.commit().await?;
        Ok(n > 0)
    }
}
