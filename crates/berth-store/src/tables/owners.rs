//! `crate_owners`: who may publish new versions of a crate, yank it and
//! change its owners.
//!
//! Ownership is checked (`teams::is_owner`, [`is_user_owner`] for owner
//! changes) inside the transaction that makes
//! the change, and an owner change holds the crate's row, so two owners
//! removing each other at once cannot leave a crate with none: a change
//! that would is refused ([`StoreError::LastOwner`]) and rolled back.

use sqlx::AnyConnection;

use crate::db::MetaStore;
use crate::domain::AuditAction;
use crate::model::{Actor, AuditEntry, User};
use crate::tables::crates::lock_crate;
use crate::tables::teams::{add_owner_team, remove_owner_team, require_team};
use crate::tables::users::{require_user, USER_COLUMNS};
use crate::{now_unix, StoreError};

/// Whether a user is a user owner of a crate (team ownership does not
/// count: only user owners change owners).
pub(crate) async fn is_user_owner(
    conn: &mut AnyConnection,
    crate_id: i64,
    user_id: i64,
) -> Result<bool, sqlx::Error> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM crate_owners WHERE crate_id = $1 AND user_id = $2")
            .bind(crate_id)
            .bind(user_id)
            .fetch_optional(conn)
            .await?;
    Ok(found.is_some())
}

/// Makes a user an owner (nothing when it already is one).
pub(crate) async fn add_owner(
    conn: &mut AnyConnection,
    crate_id: i64,
    user_id: i64,
    added_by: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO crate_owners (crate_id, user_id, added_by, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (crate_id, user_id) DO NOTHING",
    )
    .bind(crate_id)
    .bind(user_id)
    .bind(added_by)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes an owner row (nothing when there is none). Callers check that
/// the crate keeps an owner.
pub(crate) async fn remove_owner(
    conn: &mut AnyConnection,
    crate_id: i64,
    user_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM crate_owners WHERE crate_id = $1 AND user_id = $2")
        .bind(crate_id)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// How an owner change names a team: `team:NAME` (as `cargo owner --add
/// team:NAME` sends it).
pub const TEAM_PREFIX: &str = "team:";

impl MetaStore {
    /// The user owners of a crate (teams: [`MetaStore::list_owner_teams`]).
    pub async fn list_owners(&self, crate_id: i64) -> Result<Vec<User>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM crate_owners o JOIN users u ON u.id = o.user_id \
             WHERE o.crate_id = $1 ORDER BY u.login"
        ))
        .bind(crate_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Adds (`add = true`) or removes owners: user logins, and teams as
    /// `team:NAME`. The actor must be a user owner of the crate unless an
    /// admin (a team's members publish and yank, they do not change
    /// owners); removing the last user owner is refused.
    pub async fn change_owners(
        &self,
        registry: &str,
        crate_id: i64,
        crate_name: &str,
        logins: &[String],
        add: bool,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let mut w = self.begin_write().await?;
        // Serialize owner changes of one crate (two owners removing each
        // other at once must not leave it with none).
        lock_crate(&mut w.tx, crate_id, self.lock_rows()).await?;
        if !actor.is_admin && !is_user_owner(&mut w.tx, crate_id, actor.user_id).await? {
            return Err(StoreError::NotOwner(crate_name.to_string()));
        }
        let now = now_unix();
        for login in logins {
            if let Some(team) = login.strip_prefix(TEAM_PREFIX) {
                let team = require_team(&mut w.tx, team).await?;
                if add {
                    add_owner_team(&mut w.tx, crate_id, team.id, actor.user_id, now).await?;
                } else {
                    remove_owner_team(&mut w.tx, crate_id, team.id).await?;
                }
                continue;
            }
            let user = require_user(&mut w.tx, login).await?;
            if add {
                add_owner(&mut w.tx, crate_id, user.id, actor.user_id, now).await?;
            } else {
                remove_owner(&mut w.tx, crate_id, user.id).await?;
            }
        }
        let remaining: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM crate_owners WHERE crate_id = $1")
                .bind(crate_id)
                .fetch_one(&mut *w.tx)
                .await?;
        if remaining == 0 {
            return Err(StoreError::LastOwner);
        }
        w.commit_audited(&AuditEntry {
            detail: Some(logins.join(",")),
            ..AuditEntry::crate_change(actor, AuditAction::owners(add), registry, crate_name)
        })
        .await?;
        Ok(())
    }
}
