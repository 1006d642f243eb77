//! What operators do from the command line and server administrators from
//! the admin pages beyond the request paths: listing users, tokens, role
//! holders and blobs; making and unmaking administrators, disabling,
//! enabling and removing users, resetting passwords (each audited with who
//! did it: the operator, or the administrator's session); closing the
//! stores. The CLI and the pages go through these, never around the
//! services to the stores.

use berth_store::{AuditAction, AuditEntry, AuditOutcome, TokenInfo, User, UserFlag};

use crate::error::ServiceError;
use crate::{Berth, Role};

impl Berth {
    /// Every user.
    pub async fn list_users(&self) -> Result<Vec<User>, ServiceError> {
        Ok(self.meta.list_users().await?)
    }

    async fn user(&self, login: &str) -> Result<User, ServiceError> {
        self.meta.user_by_login(login).await?.ok_or_else(|| {
            ServiceError::NotFound(format!(
                "no user `{login}`; add one with `berth user add {login}`"
            ))
        })
    }

    /// The audit row of an administrator's change: by `by` (a session), or
    /// with no actor (the CLI's operator is filled in by the store).
    fn admin_audit(by: Option<&crate::Identity>, action: AuditAction) -> AuditEntry {
        let entry = AuditEntry::new(action, AuditOutcome::Ok);
        match by {
            None => entry,
            Some(who) => AuditEntry {
                actor: Some(who.user.login.clone()),
                client_addr: who.origin.client_addr.clone(),
                user_agent: who.origin.user_agent.clone(),
                ..entry
            },
        }
    }

    /// Refuses an administrator acting on their own account in a way that
    /// would lock them out (unadmin, disable, remove).
    fn not_on_oneself(by: Option<&crate::Identity>, login: &str) -> Result<(), ServiceError> {
        if by.is_some_and(|w| w.user.login == login) {
            return Err(ServiceError::BadRequest(
                "you cannot do that to your own account; ask another administrator".into(),
            ));
        }
        Ok(())
    }

    /// Makes (`admin = true`) or unmakes a server administrator.
    pub async fn set_user_admin(
        &self,
        by: Option<&crate::Identity>,
        login: &str,
        admin: bool,
    ) -> Result<(), ServiceError> {
        if !admin {
            Self::not_on_oneself(by, login)?;
        }
        let audit = Self::admin_audit(by, AuditAction::UserAdmin);
        Ok(self
            .meta
            .set_user_flag(login, UserFlag::Admin, admin, audit)
            .await?)
    }

    /// Disables a user (no sign-in, tokens refused, sessions ended) or
    /// enables it again.
    pub async fn set_user_disabled(
        &self,
        by: Option<&crate::Identity>,
        login: &str,
        disabled: bool,
    ) -> Result<(), ServiceError> {
        if disabled {
            Self::not_on_oneself(by, login)?;
        }
        let audit = Self::admin_audit(by, AuditAction::UserDisable);
        Ok(self
            .meta
            .set_user_flag(login, UserFlag::Disabled, disabled, audit)
            .await?)
    }

    /// Removes a user with their tokens, sessions, roles and ownerships;
    /// refused while they are a crate's last user owner (the message names
    /// the crates).
    pub async fn remove_user(
        &self,
        by: Option<&crate::Identity>,
        login: &str,
    ) -> Result<(), ServiceError> {
        Self::not_on_oneself(by, login)?;
        let audit = Self::admin_audit(by, AuditAction::UserRemove);
        Ok(self.meta.remove_user(login, audit).await?)
    }

    /// Sets another user's password (an administrator's reset): the
    /// user's sessions end.
    pub async fn reset_password(
        &self,
        by: Option<&crate::Identity>,
        login: &str,
        password: &str,
    ) -> Result<(), ServiceError> {
        crate::web::check_password_rule(password)?;
        let hash = crate::auth::hash_password(password)?;
        let audit = Self::admin_audit(by, AuditAction::UserPassword);
        if self
            .meta
            .set_password_hash_by(login, Some(&hash), None, audit)
            .await?
        {
            Ok(())
        } else {
            Err(ServiceError::NotFound(format!("no user `{login}`")))
        }
    }

    /// A user's tokens (never their secrets).
    pub async fn list_tokens(&self, login: &str) -> Result<Vec<TokenInfo>, ServiceError> {
        let user = self.user(login).await?;
        Ok(self.meta.list_tokens(user.id).await?)
    }

    /// `(login, role)` of everyone with a role in a registry.
    pub async fn registry_members(
        &self,
        registry: &str,
    ) -> Result<Vec<(String, Role)>, ServiceError> {
        let reg = self.registry(registry)?;
        Ok(self.meta.registry_members(reg.id).await?)
    }

    /// Every blob in the blob store, with its size.
    pub async fn list_blobs(&self) -> Result<Vec<(String, i64)>, ServiceError> {
        Ok(self.blobs.list().await?)
    }

    /// Where blobs are kept, for the start-up log.
    pub fn describe_blobs(&self) -> &str {
        self.blobs.describe()
    }

    /// Closes the database pool (at shutdown).
    pub async fn close(&self) {
        self.meta.close().await;
    }
}

fn visibility(private: bool) -> &'static str {
    if private {
        "private"
    } else {
        "public"
    }
}

impl Berth {
    /// Checks each registry's visibility against the one kept with the
    /// data, recording it the first time. A serving node calls it before it
    /// listens: a node started without (or with a stale) configuration file
    /// must never serve a private registry openly. (`open` already refused
    /// registries missing from the configuration or of another kind.)
    pub async fn check_stored_registries(&self) -> Result<(), ServiceError> {
        for stored in self.meta.stored_registries().await? {
            let Some(reg) = self.registries.get(&stored.name) else {
                continue; // `open` refused this already
            };
            match stored.private {
                None => {
                    self.meta
                        .set_registry_private(stored.id, reg.private)
                        .await?
                }
                Some(private) if private != reg.private => {
                    return Err(ServiceError::Conflict(format!(
                        "registry `{name}` is stored as {stored} but configured as {configured}; refusing to \
                         start, so that a lost or edited configuration never changes who may read it. To \
                         change it deliberately, run `berth registry visibility {name} {configured}` and \
                         start again",
                        name = reg.name,
                        stored = visibility(private),
                        configured = visibility(reg.private),
                    )));
                }
                Some(_) => {}
            }
        }
        for warning in self.unprotected_virtuals() {
            tracing::warn!("{warning}");
        }
        Ok(())
    }

    /// Changes a registry's recorded visibility (the deliberate way; the
    /// configuration must say the same before a node will serve it).
    pub async fn set_registry_visibility(
        &self,
        registry: &str,
        private: bool,
    ) -> Result<(), ServiceError> {
        let reg = self.registry(registry)?;
        self.meta.set_registry_private(reg.id, private).await?;
        tracing::info!(registry = %reg.name, visibility = visibility(private), "registry visibility changed");
        Ok(())
    }
}
