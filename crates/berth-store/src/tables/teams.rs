//! `teams`, `team_members`, `team_roles` and `crate_owner_teams`: named
//! groups of users, their roles in registries and the crates they own.
//!
//! This file records membership and team roles, lists the teams that own
//! a crate (their rows are written with user owners' in `owners.rs`), and
//! answers "may this user act as an owner of this crate" for both kinds of
//! owner ([`is_owner`]). What a team's ownership allows (publish and yank,
//! never owner changes) is decided where the check is called; every change
//! here writes its audit row in the same transaction.

use sqlx::AnyConnection;

use crate::db::MetaStore;
use crate::domain::{AuditAction, Role};
use crate::error::OrTaken;
use crate::model::{AuditEntry, Team, TeamInfo};
use crate::tables::roles::{role_entry, write_role, Holder};
use crate::tables::users::require_user;
use crate::{now_unix, StoreError};

/// Whether a user owns a crate, directly or through a team.
pub(crate) async fn is_owner(
    conn: &mut AnyConnection,
    crate_id: i64,
    user_id: i64,
) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM crate_owners WHERE crate_id = $1 AND user_id = $2 \
         UNION ALL \
         SELECT 1 FROM crate_owner_teams o JOIN team_members m ON m.team_id = o.team_id \
         WHERE o.crate_id = $1 AND m.user_id = $2 LIMIT 1",
    )
    .bind(crate_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

/// A team by name inside a transaction; [`StoreError::TeamNotFound`] when
/// there is none.
pub(crate) async fn require_team(conn: &mut AnyConnection, name: &str) -> Result<Team, StoreError> {
    sqlx::query_as("SELECT id, name FROM teams WHERE name = $1")
        .bind(name)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| StoreError::TeamNotFound(name.to_string()))
}

impl MetaStore {
    /// Adds a team. Fails with [`StoreError::TeamExists`] on a taken name.
    pub async fn create_team(&self, name: &str) -> Result<Team, StoreError> {
        let mut w = self.begin_write().await?;
        let res =
            sqlx::query_scalar("INSERT INTO teams (name, created_at) VALUES ($1, $2) RETURNING id")
                .bind(name)
                .bind(now_unix())
                .fetch_one(&mut *w.tx)
                .await;
        let id: i64 = res.or_taken(|| StoreError::TeamExists(name.to_string()))?;
        w.commit_audited(&AuditEntry::done(
            AuditAction::TeamCreate,
            format!("team={name}"),
        ))
        .await?;
        Ok(Team {
            id,
            name: name.to_string(),
        })
    }

    /// Adds (`add = true`) or removes a user from a team.
    pub async fn set_team_member(
        &self,
        team: &str,
        login: &str,
        add: bool,
    ) -> Result<bool, StoreError> {
        let mut w = self.begin_write().await?;
        let team = require_team(&mut w.tx, team).await?;
        let user = require_user(&mut w.tx, login).await?;
        let changed = if add {
            sqlx::query(
                "INSERT INTO team_members (team_id, user_id, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (team_id, user_id) DO NOTHING",
            )
            .bind(team.id)
            .bind(user.id)
            .bind(now_unix())
            .execute(&mut *w.tx)
            .await?
        } else {
            sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND user_id = $2")
                .bind(team.id)
                .bind(user.id)
                .execute(&mut *w.tx)
                .await?
        }
        .rows_affected()
            > 0;
        let action = if add {
            AuditAction::TeamMemberAdd
        } else {
            AuditAction::TeamMemberRemove
        };
        w.commit_audited(&AuditEntry::done(
            action,
            format!("team={} login={login} changed={changed}", team.name),
        ))
        .await?;
        Ok(changed)
    }

    /// Every team with its members' logins, by name.
    pub async fn list_teams(&self) -> Result<Vec<TeamInfo>, StoreError> {
        let teams: Vec<Team> = sqlx::query_as("SELECT id, name FROM teams ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        let members: Vec<(i64, String)> = sqlx::query_as(
            "SELECT m.team_id, u.login FROM team_members m JOIN users u ON u.id = m.user_id \
             ORDER BY u.login",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(teams
            .into_iter()
            .map(|team| TeamInfo {
                members: members
                    .iter()
                    .filter(|(id, _)| *id == team.id)
                    .map(|(_, login)| login.clone())
                    .collect(),
                team,
            })
            .collect())
    }

    /// Grants (`Some(role)`) or revokes (`None`) a team's role in a registry.
    pub async fn set_team_role(
        &self,
        registry_id: i64,
        registry: &str,
        team: &str,
        role: Option<Role>,
    ) -> Result<(), StoreError> {
        let mut w = self.begin_write().await?;
        let team = require_team(&mut w.tx, team).await?;
        write_role(&mut w.tx, Holder::Team, registry_id, team.id, role).await?;
        w.commit_audited(&role_entry(registry, format!("team={}", team.name), role))
            .await?;
        Ok(())
    }

    /// `(team, role)` of every team with a role in a registry.
    pub async fn registry_team_roles(
        &self,
        registry_id: i64,
    ) -> Result<Vec<(String, Role)>, StoreError> {
        self.role_holders(Holder::Team, registry_id).await
    }

    /// The teams that own a crate.
    pub async fn list_owner_teams(&self, crate_id: i64) -> Result<Vec<Team>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT t.id, t.name FROM crate_owner_teams o JOIN teams t ON t.id = o.team_id \
             WHERE o.crate_id = $1 ORDER BY t.name",
        )
        .bind(crate_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Whether a user may act as an owner of a crate: a user owner, or a
    /// member of an owning team.
    pub async fn is_crate_owner(&self, crate_id: i64, user_id: i64) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Ok(is_owner(&mut conn, crate_id, user_id).await?)
    }
}
