//! `crate_owners` and `crate_owner_teams`: who may publish new versions of
//! a crate, yank it and change its owners (user owners), and which teams
//! own it (their members publish and yank).
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
use crate::tables::roles::Holder;
use crate::tables::teams::require_team;
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

/// The table of a kind of owner and its owner column.
fn owner_table(holder: Holder) -> (&'static str, &'static str) {
    match holder {
        Holder::User => ("crate_owners", "user_id"),
        Holder::Team => ("crate_owner_teams", "team_id"),
    }
}

/// Makes a user or a team an owner (nothing when it already is one).
pub(crate) async fn add_owner(
    conn: &mut AnyConnection,
    crate_id: i64,
    holder: Holder,
    owner_id: i64,
    added_by: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    let (table, column) = owner_table(holder);
    sqlx::query(&format!(
        "INSERT INTO {table} (crate_id, {column}, added_by, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (crate_id, {column}) DO NOTHING"
    ))
    .bind(crate_id)
    .bind(owner_id)
    .bind(added_by)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes a user's or a team's owner row (nothing when there is none).
/// Callers check that the crate keeps a user owner.
pub(crate) async fn remove_owner(
    conn: &mut AnyConnection,
    crate_id: i64,
    holder: Holder,
    owner_id: i64,
) -> Result<(), sqlx::Error> {
    let (table, column) = owner_table(holder);
    sqlx::query(&format!(
        "DELETE FROM {table} WHERE crate_id = $1 AND {column} = $2"
    ))
    .bind(crate_id)
    .bind(owner_id)
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
            let (holder, owner_id) = match login.strip_prefix(TEAM_PREFIX) {
                Some(team) => (Holder::Team, require_team(&mut w.tx, team).await?.id),
                None => (Holder::User, require_user(&mut w.tx, login).await?.id),
            };
            if add {
                add_owner(&mut w.tx, crate_id, holder, owner_id, actor.user_id, now).await?;
            } else {
                remove_owner(&mut w.tx, crate_id, holder, owner_id).await?;
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
