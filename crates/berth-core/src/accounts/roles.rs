//! Roles of users in registries: granting and revoking them (the
//! operator's `berth role`, an administrator's page) and listing who holds
//! one.

use crate::error::ServiceError;
use crate::{Berth, Identity, Role};

impl Berth {
    /// Grants or revokes (`role = None`) a user's role in a registry.
    pub async fn set_role(
        &self,
        registry: &str,
        login: &str,
        role: Option<Role>,
    ) -> Result<(), ServiceError> {
        let reg = self.registry(registry)?;
        Ok(self.meta.set_role(reg.id, &reg.name, login, role).await?)
    }

    /// As [`Berth::set_role`], by a server administrator's session.
    pub async fn set_role_by(
        &self,
        by: &Identity,
        registry: &str,
        login: &str,
        role: Option<Role>,
    ) -> Result<(), ServiceError> {
        let reg = self.registry(registry)?;
        let entry = berth_store::AuditEntry {
            actor: Some(by.user.login.clone()),
            client_addr: by.origin.client_addr.clone(),
            user_agent: by.origin.user_agent.clone(),
            ..berth_store::AuditEntry::new(
                berth_store::AuditAction::RoleGrant,
                berth_store::AuditOutcome::Ok,
            )
        };
        Ok(self
            .meta
            .set_role_by(reg.id, &reg.name, login, role, entry)
            .await?)
    }

    /// `(login, role)` of everyone with a role in a registry.
    pub async fn registry_members(
        &self,
        registry: &str,
    ) -> Result<Vec<(String, Role)>, ServiceError> {
        let reg = self.registry(registry)?;
        Ok(self.meta.registry_members(reg.id).await?)
    }
}
