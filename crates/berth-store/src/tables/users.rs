//! `users`: accounts, their password hashes, the admin and disabled flags,
//! and removing a user with what hangs on it.
//!
//! Every read of a [`User`] selects [`USER_COLUMNS`] from `users u`, here or
//! in a join elsewhere. This file stores a password hash it is given and
//! hands it back; it never hashes, compares or logs one (that is
//! berth-core's `auth`).

use sqlx::{Any, AnyConnection, Executor};

use crate::db::MetaStore;
use crate::domain::AuditAction;
use crate::error::OrTaken;
use crate::model::{AuditEntry, User, UserFlag};
use crate::{now_unix, StoreError};

/// The columns of a [`User`], from `users` aliased `u`.
pub(crate) const USER_COLUMNS: &str = "u.id, u.login, u.name, u.is_admin, u.disabled";

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
        let id: i64 = res.or_taken(|| StoreError::UserExists(login.to_string()))?;
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
            disabled: false,
        })
    }

    /// Looks a user up by login.
    pub async fn user_by_login(&self, login: &str) -> Result<Option<User>, StoreError> {
        Ok(find_user(&self.pool, login).await?)
    }

    /// A user by id.
    pub async fn user_by_id(&self, id: i64) -> Result<Option<User>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
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

    /// Sets a user's flag (`is_admin`, or `disabled`, which also ends the
    /// user's sessions) with its audit row (`audit`'s actor and origin; the
    /// action and detail are filled in).
    pub async fn set_user_flag(
        &self,
        login: &str,
        flag: UserFlag,
        on: bool,
        audit: AuditEntry,
    ) -> Result<(), StoreError> {
        let mut w = self.begin_write().await?;
        let user = require_user(&mut w.tx, login).await?;
        let (column, action) = match (flag, on) {
            (UserFlag::Admin, _) => ("is_admin", AuditAction::UserAdmin),
            (UserFlag::Disabled, true) => ("disabled", AuditAction::UserDisable),
            (UserFlag::Disabled, false) => ("disabled", AuditAction::UserEnable),
        };
        sqlx::query(&format!("UPDATE users SET {column} = $2 WHERE id = $1"))
            .bind(user.id)
            .bind(i64::from(on))
            .execute(&mut *w.tx)
            .await?;
        if flag == UserFlag::Disabled && on {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user.id)
                .execute(&mut *w.tx)
                .await?;
        }
        let detail = match flag {
            UserFlag::Admin => format!("login={login} admin={on}"),
            UserFlag::Disabled => format!("login={login}"),
        };
        w.commit_audited(&AuditEntry {
            action,
            detail: Some(detail),
            ..audit
        })
        .await?;
        Ok(())
    }

    /// Removes a user with their tokens, sessions, roles, team memberships
    /// and crate ownerships; versions they published and owners they added
    /// keep no reference to them (the audit log keeps their login). Refused
    /// with [`StoreError::LastOwnerOf`] while they are the last user owner
    /// of a crate.
    pub async fn remove_user(&self, login: &str, audit: AuditEntry) -> Result<(), StoreError> {
        let mut w = self.begin_write().await?;
        let user = require_user(&mut w.tx, login).await?;
        let last: Vec<(String, String)> = sqlx::query_as(
            "SELECT r.name, c.name FROM crate_owners o JOIN crates c ON c.id = o.crate_id \
             JOIN registries r ON r.id = c.registry_id WHERE o.user_id = $1 AND NOT EXISTS \
             (SELECT 1 FROM crate_owners o2 WHERE o2.crate_id = o.crate_id AND o2.user_id <> $1) \
             ORDER BY r.name, c.name",
        )
        .bind(user.id)
        .fetch_all(&mut *w.tx)
        .await?;
        if !last.is_empty() {
            return Err(StoreError::LastOwnerOf {
                login: login.to_string(),
                crates: last.into_iter().map(|(r, c)| format!("{r}/{c}")).collect(),
            });
        }
        for statement in [
            "DELETE FROM sessions WHERE user_id = $1",
            "UPDATE tokens SET parent_id = NULL WHERE parent_id IN \
             (SELECT id FROM tokens WHERE user_id = $1)",
            "DELETE FROM tokens WHERE user_id = $1",
            "DELETE FROM registry_roles WHERE user_id = $1",
            "DELETE FROM team_members WHERE user_id = $1",
            "DELETE FROM crate_owners WHERE user_id = $1",
            "UPDATE crate_owners SET added_by = NULL WHERE added_by = $1",
            "UPDATE crate_owner_teams SET added_by = NULL WHERE added_by = $1",
            "UPDATE versions SET published_by = NULL WHERE published_by = $1",
            // Trust configurations act for their user: they end with them.
            "DELETE FROM trust_configs WHERE created_by = $1",
            "DELETE FROM external_identities WHERE user_id = $1",
            "DELETE FROM users WHERE id = $1",
        ] {
            sqlx::query(statement)
                .bind(user.id)
                .execute(&mut *w.tx)
                .await?;
        }
        w.commit_audited(&AuditEntry {
            action: AuditAction::UserRemove,
            detail: Some(format!("login={login}")),
            ..audit
        })
        .await?;
        Ok(())
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
