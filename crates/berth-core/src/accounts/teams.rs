//! Teams: named groups of users that hold roles in registries and own
//! crates. What operators do with them (`berth team ...`, `berth role
//! grant --team`) goes through here. A member acts with the highest of its
//! own and its teams' roles (folded by the store when a token is
//! identified), and may publish and yank its teams' crates; only user
//! owners change owners. This module never checks ownership itself: the
//! store does, inside the transaction that makes the change.

use berth_store::{Role, TeamInfo};

use crate::error::ServiceError;
use crate::Berth;

/// Whether `name` is a valid user login or team name: 1-64 ASCII letters,
/// digits, `-`, `_` or `.`.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

impl Berth {
    /// Adds a team.
    pub async fn add_team(&self, name: &str) -> Result<(), ServiceError> {
        if !valid_name(name) {
            return Err(ServiceError::BadRequest(format!(
                "invalid team name `{name}`: use 1-64 ASCII letters, digits, `-`, `_` or `.`"
            )));
        }
        self.meta.create_team(name).await?;
        Ok(())
    }

    /// Adds (`add = true`) or removes a user from a team. Returns whether
    /// anything changed.
    pub async fn set_team_member(
        &self,
        team: &str,
        login: &str,
        add: bool,
    ) -> Result<bool, ServiceError> {
        Ok(self.meta.set_team_member(team, login, add).await?)
    }

    /// Every team with its members.
    pub async fn list_teams(&self) -> Result<Vec<TeamInfo>, ServiceError> {
        Ok(self.meta.list_teams().await?)
    }

    /// Grants or revokes (`role = None`) a team's role in a registry.
    pub async fn set_team_role(
        &self,
        registry: &str,
        team: &str,
        role: Option<Role>,
    ) -> Result<(), ServiceError> {
        let reg = self.registry(registry)?;
        Ok(self
            .meta
            .set_team_role(reg.id, &reg.name, team, role)
            .await?)
    }

    /// `(team, role)` of every team with a role in a registry.
    pub async fn registry_team_roles(
        &self,
        registry: &str,
    ) -> Result<Vec<(String, Role)>, ServiceError> {
        let reg = self.registry(registry)?;
        Ok(self.meta.registry_team_roles(reg.id).await?)
    }
}
