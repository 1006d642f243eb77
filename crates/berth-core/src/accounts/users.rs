//! Users: adding them, passwords (the one rule a new password meets, the
//! operator's `berth user passwd`), and what server administrators do to
//! them from the command line and the admin pages (make and unmake
//! administrators, disable, remove, reset a password; each audited with
//! who did it: the operator, or the administrator's session).

use berth_store::{AuditAction, AuditEntry, AuditOutcome, User, UserFlag};

use crate::accounts::auth::hash_password;
use crate::error::ServiceError;
use crate::Berth;

/// The refusal of a disabled account's sign-in.
pub(crate) fn disabled() -> ServiceError {
    ServiceError::Forbidden("this account is disabled; ask a server administrator".into())
}

/// The one rule a new password meets.
pub(crate) fn check_password_rule(password: &str) -> Result<(), ServiceError> {
    if password.chars().count() < 8 || password.len() > 1024 {
        return Err(ServiceError::BadRequest(
            "a password must have between 8 characters and 1024 bytes".into(),
        ));
    }
    Ok(())
}

impl Berth {
    /// Adds a user. `password` is hashed with argon2id when given.
    pub async fn add_user(
        &self,
        login: &str,
        password: Option<&str>,
        admin: bool,
    ) -> Result<User, ServiceError> {
        if !crate::accounts::teams::valid_name(login) {
            return Err(ServiceError::BadRequest(format!(
                "invalid login `{login}`: use 1-64 ASCII letters, digits, `-`, `_` or `.`"
            )));
        }
        let hash = password.map(hash_password).transpose()?;
        Ok(self
            .meta
            .create_user(login, None, hash.as_deref(), admin)
            .await?)
    }

    /// Every user.
    pub async fn list_users(&self) -> Result<Vec<User>, ServiceError> {
        Ok(self.meta.list_users().await?)
    }

    /// How a user signs in besides a password Berth keeps: `oidc`,
    /// `ldap`, or nothing.
    pub async fn user_sign_in_sources(&self, user_id: i64) -> Result<Vec<String>, ServiceError> {
        Ok(self
            .meta
            .external_identities(user_id)
            .await?
            .into_iter()
            .map(|(source, _)| source)
            .collect())
    }

    /// A user by login, or 404 naming the command that adds one.
    pub(crate) async fn user_named(&self, login: &str) -> Result<User, ServiceError> {
        self.meta.user_by_login(login).await?.ok_or_else(|| {
            ServiceError::NotFound(format!(
                "no user `{login}`; add one with `berth user add {login}`"
            ))
        })
    }

    /// Whether a login names a user.
    pub async fn user_exists(&self, login: &str) -> Result<bool, ServiceError> {
        Ok(login.len() <= 64 && self.meta.user_by_login(login).await?.is_some())
    }

    /// The audit row of an administrator's change: by `by` (a session), or
    /// with no actor (the CLI's operator is filled in by the store).
    pub(crate) fn admin_audit(by: Option<&crate::Identity>, action: AuditAction) -> AuditEntry {
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
        crate::accounts::users::check_password_rule(password)?;
        let hash = crate::accounts::auth::hash_password(password)?;
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

    /// Sets a user's web UI password (argon2id) and ends their sessions.
    pub async fn set_password(&self, login: &str, password: &str) -> Result<(), ServiceError> {
        check_password_rule(password)?;
        let hash = hash_password(password)?;
        if self.meta.set_password_hash(login, Some(&hash)).await? {
            Ok(())
        } else {
            Err(ServiceError::NotFound(format!(
                "no user `{login}`; add one with `berth user add {login} --password-stdin`"
            )))
        }
    }
}
