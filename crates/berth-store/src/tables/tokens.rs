//! `tokens`: API tokens, stored as the sha256 of their secret.
//!
//! A token is created, looked up by its hash, touched on use and revoked
//! (with the tokens it made, and theirs, in the same transaction); it is
//! never deleted (its audit rows name it) and its secret never reaches
//! this file. Which scopes a token needs is berth-core's decision.

use sqlx::FromRow;

use crate::db::MetaStore;
use crate::error::OrTaken;
use crate::model::{AuditEntry, NewToken, TokenInfo, TokenRecord};
use crate::tables::insert_audit;
use crate::tables::users::USER_COLUMNS;
use crate::{now_unix, StoreError};

/// The columns of a [`TokenInfo`].
const TOKEN_INFO_COLUMNS: &str = "id, name, scopes, crate_patterns, registry, allowed_cidrs, \
                                  created_at, expires_at, last_used_at, revoked, parent_id";

/// A [`TokenRecord`] with the stored hash it was found by.
#[derive(FromRow)]
struct HashedToken {
    token_hash: String,
    #[sqlx(flatten)]
    record: TokenRecord,
}

impl MetaStore {
    /// Stores a new token (its hash only) with the audit row of its
    /// creation. An active token of the same user and name is
    /// [`StoreError::TokenNameExists`].
    pub async fn create_token(&self, t: NewToken<'_>) -> Result<i64, StoreError> {
        let mut w = self.begin_write().await?;
        // Without a name, the token is named after its id: inserted under
        // its (unique) hash first, renamed once the id is known.
        let inserted = sqlx::query_scalar(
            "INSERT INTO tokens (user_id, name, token_hash, scopes, created_at, expires_at, \
                                 crate_patterns, registry, allowed_cidrs, parent_id, \
                                 trust_claims) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(t.user_id)
        .bind(t.name.unwrap_or(t.token_hash))
        .bind(t.token_hash)
        .bind(t.scopes)
        .bind(now_unix())
        .bind(t.expires_at)
        .bind(t.crate_patterns.to_string())
        .bind(t.registry)
        .bind(t.allowed_cidrs.to_string())
        .bind(t.parent_id)
        .bind(t.trust_claims.as_deref())
        .fetch_one(&mut *w.tx)
        .await;
        let id: i64 = inserted
            .or_taken(|| StoreError::TokenNameExists(t.name.unwrap_or_default().to_string()))?;
        let name = match t.name {
            Some(name) => name.to_string(),
            None => {
                let name = format!("token-{id}");
                let renamed = sqlx::query("UPDATE tokens SET name = $2 WHERE id = $1")
                    .bind(id)
                    .bind(&name)
                    .execute(&mut *w.tx)
                    .await;
                renamed.or_taken(|| StoreError::TokenNameExists(name.clone()))?;
                name
            }
        };
        let mut detail = format!(
            "user_id={} token_id={id} name={name} scopes={}",
            t.user_id, t.scopes
        );
        for (key, value) in [
            ("crates", t.crate_patterns.to_string()),
            ("registry", t.registry.unwrap_or_default().to_string()),
            ("cidrs", t.allowed_cidrs.to_string()),
        ] {
            if !value.is_empty() {
                detail.push_str(&format!(" {key}={value}"));
            }
        }
        if let Some(at) = t.expires_at {
            detail.push_str(&format!(" expires_at={at}"));
        }
        if let Some(parent) = t.parent_id {
            detail.push_str(&format!(" parent_id={parent}"));
        }
        w.commit_audited(&AuditEntry {
            detail: Some(detail),
            ..t.audit
        })
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
                    t.crate_patterns, t.registry AS token_registry, t.allowed_cidrs, \
                    t.expires_at, t.last_used_at, t.revoked, t.trust_claims, {USER_COLUMNS} \
             FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.map(|t| (t.token_hash, t.record)))
    }

    /// Records that a token was used now.
    pub async fn touch_token(&self, token_id: i64) -> Result<(), StoreError> {
        self.write_one(
            sqlx::query("UPDATE tokens SET last_used_at = $2 WHERE id = $1")
                .bind(token_id)
                .bind(now_unix()),
        )
        .await
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

    /// A user's active (not revoked) token of a name.
    pub async fn active_token_by_name(
        &self,
        user_id: i64,
        name: &str,
    ) -> Result<Option<TokenInfo>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {TOKEN_INFO_COLUMNS} FROM tokens \
             WHERE user_id = $1 AND name = $2 AND revoked = 0"
        ))
        .bind(user_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// A user's token by id, revoked or not.
    pub async fn token_of_user(
        &self,
        user_id: i64,
        token_id: i64,
    ) -> Result<Option<TokenInfo>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {TOKEN_INFO_COLUMNS} FROM tokens WHERE id = $1 AND user_id = $2"
        ))
        .bind(token_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Revokes a token of a user, and every active token it made (and
    /// they made, ...), with `audit` as the row of each change (the store
    /// fills in its detail). Returns whether the token was revoked.
    pub async fn revoke_token(
        &self,
        user_id: i64,
        token_id: i64,
        audit: AuditEntry,
    ) -> Result<bool, StoreError> {
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
                &AuditEntry {
                    detail: Some(format!("user_id={user_id} token_id={token_id}")),
                    ..audit.clone()
                },
            )
            .await?;
            // The descendants, through revoked ones too (their children
            // died with them, unless made before parents were recorded).
            let children: Vec<(i64, i64)> = sqlx::query_as(
                "WITH RECURSIVE tree (id, parent_id) AS ( \
                     SELECT id, parent_id FROM tokens WHERE parent_id = $1 \
                     UNION \
                     SELECT t.id, t.parent_id FROM tokens t JOIN tree ON t.parent_id = tree.id \
                 ) \
                 SELECT k.id, k.parent_id FROM tokens k JOIN tree ON tree.id = k.id \
                 WHERE k.revoked = 0 AND k.user_id = $2 ORDER BY k.id",
            )
            .bind(token_id)
            .bind(user_id)
            .fetch_all(&mut *w.tx)
            .await?;
            for (child, parent) in children {
                sqlx::query("UPDATE tokens SET revoked = 1 WHERE id = $1")
                    .bind(child)
                    .execute(&mut *w.tx)
                    .await?;
                insert_audit(
                    &mut w.tx,
                    &AuditEntry {
                        detail: Some(format!(
                            "user_id={user_id} token_id={child}: made by token {parent}, \
                             revoked with token {token_id}"
                        )),
                        ..audit.clone()
                    },
                )
                .await?;
            }
        }
        w.tx.commit().await?;
        Ok(n > 0)
    }
}
