//! `registry_roles` and `team_roles`: a user's or a team's role (read <
//! publish < admin) in one registry.
//!
//! This file records and reads roles; what a role allows is decided by
//! berth-core's `authorize_*`, never here. Every grant and revocation writes
//! its audit row in the same transaction.

use sqlx::AnyConnection;

use crate::db::MetaStore;
use crate::domain::{AuditAction, Role};
use crate::model::AuditEntry;
use crate::tables::users::require_user;
use crate::{now_unix, StoreError};

/// Who holds a role in a registry (`registry_roles` for a user,
/// `team_roles` for a team), or owns a crate (`crate_owners`,
/// `crate_owner_teams`: see `owners.rs`).
#[derive(Clone, Copy)]
pub(crate) enum Holder {
    User,
    Team,
}

impl Holder {
    /// The table and its holder column.
    fn table(self) -> (&'static str, &'static str) {
        match self {
            Holder::User => ("registry_roles", "user_id"),
            Holder::Team => ("team_roles", "team_id"),
        }
    }
}

/// Grants (`Some(role)`) or revokes (`None`) a holder's role in a registry,
/// inside the caller's transaction.
pub(crate) async fn write_role(
    conn: &mut AnyConnection,
    holder: Holder,
    registry_id: i64,
    holder_id: i64,
    role: Option<Role>,
) -> Result<(), sqlx::Error> {
    let (table, column) = holder.table();
    match role {
        Some(role) => {
            sqlx::query(&format!(
                "INSERT INTO {table} (registry_id, {column}, role, created_at) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (registry_id, {column}) DO UPDATE SET role = excluded.role"
            ))
            .bind(registry_id)
            .bind(holder_id)
            .bind(role.as_str())
            .bind(now_unix())
            .execute(conn)
            .await?;
        }
        None => {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE registry_id = $1 AND {column} = $2"
            ))
            .bind(registry_id)
            .bind(holder_id)
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}

/// The audit row of a role grant or revocation; `who` is `login=..` or
/// `team=..`.
pub(crate) fn role_entry(registry: &str, who: String, role: Option<Role>) -> AuditEntry {
    let action = if role.is_some() {
        AuditAction::RoleGrant
    } else {
        AuditAction::RoleRevoke
    };
    AuditEntry {
        registry: Some(registry.to_string()),
        ..AuditEntry::done(
            action,
            format!("{who} role={}", role.map_or("-", Role::as_str)),
        )
    }
}

impl MetaStore {
    /// Every `(registry_id, role)` a user holds, its own or through a
    /// team: the highest of them per registry.
    pub async fn user_roles(&self, user_id: i64) -> Result<Vec<(i64, Role)>, StoreError> {
        let rows: Vec<(i64, Role)> = sqlx::query_as(
            "SELECT registry_id, role FROM registry_roles WHERE user_id = $1 \
             UNION ALL \
             SELECT r.registry_id, r.role FROM team_roles r \
             JOIN team_members m ON m.team_id = r.team_id WHERE m.user_id = $1",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        let mut best = std::collections::BTreeMap::new();
        for (registry_id, role) in rows {
            let held = best.entry(registry_id).or_insert(role);
            *held = (*held).max(role);
        }
        Ok(best.into_iter().collect())
    }

    /// Whether a user owns a crate of a registry, itself or through a team
    /// (an owner publishes new versions of it with any role that reads).
    pub async fn owns_crate_in(&self, registry_id: i64, user_id: i64) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM crate_owners o JOIN crates c ON c.id = o.crate_id \
             WHERE c.registry_id = $1 AND o.user_id = $2 \
             UNION ALL \
             SELECT 1 FROM crate_owner_teams o JOIN team_members m ON m.team_id = o.team_id \
             JOIN crates c ON c.id = o.crate_id WHERE c.registry_id = $1 AND m.user_id = $2 \
             LIMIT 1",
        )
        .bind(registry_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// Grants (`Some(role)`) or revokes (`None`) a user's role in a registry.
    pub async fn set_role(
        &self,
        registry_id: i64,
        registry: &str,
        login: &str,
        role: Option<Role>,
    ) -> Result<(), StoreError> {
        self.set_role_by(
            registry_id,
            registry,
            login,
            role,
            AuditEntry::new(AuditAction::RoleGrant, crate::domain::AuditOutcome::Ok),
        )
        .await
    }

    /// As [`MetaStore::set_role`], with the actor and origin of `by`.
    pub async fn set_role_by(
        &self,
        registry_id: i64,
        registry: &str,
        login: &str,
        role: Option<Role>,
        by: AuditEntry,
    ) -> Result<(), StoreError> {
        let mut w = self.begin_write().await?;
        let user = require_user(&mut w.tx, login).await?;
        write_role(&mut w.tx, Holder::User, registry_id, user.id, role).await?;
        let entry = role_entry(registry, format!("login={login}"), role);
        w.commit_audited(&AuditEntry {
            actor: by.actor,
            client_addr: by.client_addr,
            user_agent: by.user_agent,
            ..entry
        })
        .await?;
        Ok(())
    }

    /// `(login, role)` of every user with a role in a registry.
    pub async fn registry_members(
        &self,
        registry_id: i64,
    ) -> Result<Vec<(String, Role)>, StoreError> {
        self.role_holders(Holder::User, registry_id).await
    }

    /// `(login or team name, role)` of every holder of one kind with a role
    /// in a registry, by name.
    pub(crate) async fn role_holders(
        &self,
        holder: Holder,
        registry_id: i64,
    ) -> Result<Vec<(String, Role)>, StoreError> {
        let (table, column) = holder.table();
        let (holders, name) = match holder {
            Holder::User => ("users", "login"),
            Holder::Team => ("teams", "name"),
        };
        Ok(sqlx::query_as(&format!(
            "SELECT h.{name}, r.role FROM {table} r JOIN {holders} h ON h.id = r.{column} \
             WHERE r.registry_id = $1 ORDER BY h.{name}"
        ))
        .bind(registry_id)
        .fetch_all(&self.pool)
        .await?)
    }
}
