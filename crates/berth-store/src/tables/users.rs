//! `users`: accounts, their password hashes and the admin flag.
//!
//! Every read of a [`User`] selects [`USER_COLUMNS`] from `users u`, here or
//! in a join elsewhere. This file stores a password hash it is given and
//! hands it back; it never hashes, compares or logs one (that is
//! berth-core's `auth`).

use sqlx::{Any, AnyConnection, Executor};

use crate::db::MetaStore;
use crate::domain::AuditAction;
use crate::model::{AuditEntry, User};
use crate::{now_unix, StoreError};

/// The columns of a [`User`], from `users` aliased `u`.
pub(crate) const USER_COLUMNS: &str = "u.id, u.login, u.name, u.is_admin";

/// A user by login.
async fn find_user<'c>(
    e: impl Executor<'c, Database = Any>,
    login: &str,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users u WHERE u.login = $1"
    ))
    .bind(login)
    .fetch_optional(e)
    .await
}

/// A user by login inside a transaction; [`StoreError::UserNotFound`] when
/// there is none.
pub(crate) async fn require_user(
    conn: &mut AnyConnection,
    login: &str,
) -> Result<User, StoreError> {
    find_user(conn, login)
        .await?
        .ok_or_else(|| StoreError::UserNotFound(login.to_string()))
}

impl MetaStore {
    /// Adds a user. Fails with [`StoreError::UserExists`] on a taken login.
    pub async fn create_user(
        &self,
        login: &str,
        name: Option<&str>,
        password_hash: Option<&str>,
        is_admin: bool,
    ) -> Result<User, StoreError> {
        let mut w = self.begin_write().await?;
        let res = sqlx::query_scalar(
            "INSERT INTO users (login, name, password_hash, is_admin, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(login)
        .bind(name.map(str::to_string))
        .bind(password_hash.map(str::to_string))
        .bind(i64::from(is_admin))
        .bind(now_unix())
        .fetch_one(&mut *w.tx)
        .await;
        let id: i64 = match res {
            Ok(id) => id,
            Err(e) if StoreError::is_unique_violation(&e) => {
                return Err(StoreError::UserExists(login.to_string()))
            }
            Err(e) => return Err(e.into()),
        };
        w.commit_audited(&AuditEntry::done(
            AuditAction::UserCreate,
            format!("login={login} admin={is_admin}"),
        ))
        .await?;
        Ok(User {
            id,
            login: login.to_string(),
            name: name.map(str::to_string),
            is_admin,
        })
    }

    /// Looks a user up by login.
    pub async fn user_by_login(&self, login: &str) -> Result<Option<User>, StoreError> {
        Ok(find_user(&self.pool, login).await?)
    }

    /// The password hash of a user, if one is set.
    pub async fn password_hash(&self, user_id: i64) -> Result<Option<String>, StoreError> {
        let hash: Option<Option<String>> =
            sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(hash.flatten())
    }

    /// Every user, by login.
    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users u ORDER BY u.login"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Sets (or with `None` clears) a user's password hash and ends every
    /// session the user has, in one transaction. Returns whether the user
    /// exists.
    pub async fn set_password_hash(
        &self,
        login: &str,
        password_hash: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.set_password_hash_by(
            login,
            password_hash,
            None,
            AuditEntry::done(AuditAction::UserPassword, String::new()),
        )
        .await
    }

    /// As [`MetaStore::set_password_hash`], recorded with `audit` (its
    /// actor and origin; the detail is filled in), keeping the session whose
    /// hash is `keep` (the one that changed its own password).
    pub async fn set_password_hash_by(
        &self,
        login: &str,
        password_hash: Option<&str>,
        keep: Option<&str>,
        audit: AuditEntry,
    ) -> Result<bool, StoreError> {
        let mut w = self.begin_write().await?;
        let Some(user) = find_user(&mut *w.tx, login).await? else {
            return Ok(false);
        };
        sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
            .bind(user.id)
            .bind(password_hash.map(str::to_string))
            .execute(&mut *w.tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
            .bind(user.id)
            .bind(keep.unwrap_or("").to_string())
            .execute(&mut *w.tx)
            .await?;
        let what = if password_hash.is_some() {
            "set"
        } else {
            "cleared"
        };
        w.commit_audited(&AuditEntry {
            detail: Some(format!("login={login} password={what}")),
            ..audit
        })
        .await?;
        Ok(true)
    }
}
