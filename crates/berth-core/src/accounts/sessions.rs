//! Web sign-in sessions: the password check (with the same cost whether or
//! not the login exists), the session behind a cookie, logout, and a user
//! changing their own password. A session acts as its user with a
//! read-only identity; cookies, forms and rate limits are the server's.

use berth_store::{AuditAction, AuditEntry, AuditOutcome};
use rand::distr::{Alphanumeric, SampleString};

use crate::accounts::auth::{hash_password, hash_token, verify_password, Scopes};
use crate::accounts::users::check_password_rule;
use crate::error::ServiceError;
use crate::{Berth, Identity};

/// How long a login lasts.
pub const SESSION_SECS: i64 = 7 * 86_400;
/// How often a directory user's sessions ask the directory whether the
/// account still exists.
pub const DIRECTORY_RECHECK_SECS: i64 = 300;

/// When each directory user's account was last asked about, per node.
#[derive(Default)]
pub(crate) struct DirectoryChecks(std::sync::Mutex<std::collections::HashMap<i64, i64>>);

impl DirectoryChecks {
    /// Whether `user` is due a check at `now`; if so, it counts as checked.
    fn due(&self, user: i64, now: i64) -> bool {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, at| now - *at < DIRECTORY_RECHECK_SECS);
        }
        match map.get(&user) {
            Some(at) if now - at < DIRECTORY_RECHECK_SECS => false,
            _ => {
                map.insert(user, now);
                true
            }
        }
    }
}

/// A live login: who, and the CSRF token its forms must carry.
#[derive(Debug, Clone)]
pub struct Session {
    pub identity: Identity,
    pub csrf: String,
}

/// The one refusal of a wrong login, a wrong password or a user without a
/// password, so that the answer never tells which.
fn bad_login() -> ServiceError {
    ServiceError::Unauthorized("wrong login or password".into())
}

/// A valid argon2id hash of a password nobody knows: checked against when
/// the login does not exist, so that both cases cost the same time.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Vx3hkgZ5o4fkaY0U3HLTtpPZlWcUZ9eC1mBRAK8oM+c";

impl Berth {
    /// Checks a login and password; on success opens a session and returns
    /// its secret (for the cookie) and its CSRF token.
    /// Each attempt writes a `session.login` row (`denied` ones within the
    /// refusal budget).
    pub async fn login_password(
        &self,
        login: &str,
        password: &str,
        origin: &berth_store::Origin,
    ) -> Result<(String, String), ServiceError> {
        if let Some(directory) = self.directory_for(login).await? {
            return self
                .login_directory(directory, login, password, origin)
                .await;
        }
        let result = self.check_login(login, password).await;
        let entry = match &result {
            Ok((user, _, _)) => AuditEntry {
                actor: Some(user.clone()),
                client_addr: origin.client_addr.clone(),
                user_agent: origin.user_agent.clone(),
                ..AuditEntry::done(AuditAction::SessionLogin, "web sign-in".into())
            },
            Err((known, e)) => self.login_refusal(login, *known, origin, &e.to_string()),
        };
        if entry.outcome == AuditOutcome::Ok {
            self.meta
                .append_audit_at(&entry, self.clock.now_unix())
                .await?;
        } else {
            self.audit_refusal(&entry).await;
        }
        result
            .map(|(_, secret, csrf)| (secret, csrf))
            .map_err(|(_, e)| e)
    }

    /// The directory to ask about a login: `[auth.ldap]`'s, unless the
    /// login names a user who signs in with a password Berth keeps (so
    /// that local accounts, an operator's break-glass administrator among
    /// them, work while the directory is down).
    async fn directory_for(
        &self,
        login: &str,
    ) -> Result<Option<&crate::accounts::ldap::Directory>, ServiceError> {
        let Some(directory) = &self.directory else {
            return Ok(None);
        };
        if login.is_empty() || login.len() > 64 {
            return Ok(None);
        }
        let local = match self.meta.user_by_login(login).await? {
            Some(u) => {
                !self
                    .meta
                    .external_identities(u.id)
                    .await?
                    .iter()
                    .any(|(source, _)| source == "ldap")
                    && self.meta.password_hash(u.id).await?.is_some()
            }
            None => false,
        };
        Ok((!local).then_some(directory))
    }

    /// A sign-in the directory decides; every outcome audited.
    async fn login_directory(
        &self,
        directory: &crate::accounts::ldap::Directory,
        login: &str,
        password: &str,
        origin: &berth_store::Origin,
    ) -> Result<(String, String), ServiceError> {
        use crate::accounts::ldap::DirectoryAnswer;
        let answer = if password.len() > 1024 {
            Ok(DirectoryAnswer::WrongPassword)
        } else {
            directory.check(login, password).await
        };
        let refuse = async |why: &str, e: ServiceError| {
            let known = matches!(self.meta.user_by_login(login).await, Ok(Some(_)));
            let entry = self.login_refusal(login, known, origin, why);
            self.audit_refusal(&entry).await;
            Err(e)
        };
        match answer {
            Ok(DirectoryAnswer::Person(person)) => {
                let config = directory.config();
                let done = self
                    .sign_in_external(
                        person,
                        &config.mapping(),
                        config.link_existing_users,
                        origin,
                    )
                    .await?;
                Ok((done.secret, done.csrf))
            }
            Ok(DirectoryAnswer::WrongPassword) => {
                refuse("directory sign-in: wrong password", bad_login()).await
            }
            Ok(DirectoryAnswer::NotFound) => {
                refuse(
                    "directory sign-in: the directory has no such account (or it was removed \
                     or disabled there)",
                    bad_login(),
                )
                .await
            }
            Err(e) => {
                tracing::warn!(error = %e, "directory sign-in failed");
                let why = e.to_string();
                refuse(&why, e).await
            }
        }
    }

    /// The `denied` row of a refused sign-in: the actor when the login
    /// names a user, else the login tried (clipped) in the detail.
    pub fn login_refusal(
        &self,
        login: &str,
        known: bool,
        origin: &berth_store::Origin,
        why: &str,
    ) -> AuditEntry {
        let tried: String = login.chars().take(64).collect();
        AuditEntry {
            actor: known.then(|| tried.clone()),
            detail: Some(if known {
                why.to_string()
            } else {
                format!("{why} (login `{}`)", tried.escape_default())
            }),
            client_addr: origin.client_addr.clone(),
            user_agent: origin.user_agent.clone(),
            ..AuditEntry::new(AuditAction::SessionLogin, AuditOutcome::Denied)
        }
    }

    /// The check behind [`Berth::login_password`]: `(login, secret, csrf)`,
    /// or whether the login names a user and the refusal.
    async fn check_login(
        &self,
        login: &str,
        password: &str,
    ) -> Result<(String, String, String), (bool, ServiceError)> {
        if login.is_empty() || login.len() > 64 {
            return Err((false, bad_login()));
        }
        if !self.config.auth.password_login {
            return Err((
                false,
                ServiceError::Forbidden(
                    "signing in with a password is turned off on this server; use single \
                     sign-on"
                        .into(),
                ),
            ));
        }
        let user = self
            .meta
            .user_by_login(login)
            .await
            .map_err(|e| (false, e.into()))?;
        let known = user.is_some();
        self.open_session(user, password)
            .await
            .map_err(|e| (known, e))
    }

    async fn open_session(
        &self,
        user: Option<berth_store::User>,
        password: &str,
    ) -> Result<(String, String, String), ServiceError> {
        if password.len() > 1024 {
            return Err(bad_login());
        }
        let hash = match &user {
            Some(u) => self.meta.password_hash(u.id).await?,
            None => None,
        };
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| DUMMY_HASH.to_string());
        let password = password.to_string();
        // argon2 takes tens of milliseconds of CPU: off the async workers.
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .map_err(|e| ServiceError::Internal(format!("password check: {e}")))?;
        let user = match user {
            Some(u) if ok && known => u,
            _ => return Err(bad_login()),
        };
        if user.disabled {
            return Err(crate::accounts::users::disabled());
        }
        let (secret, csrf) = self.start_session(&user).await?;
        tracing::info!(user = %user.login, "web login");
        Ok((user.login, secret, csrf))
    }

    /// Opens a session for a user whose sign-in was checked: its secret
    /// (for the cookie) and its CSRF token.
    pub(crate) async fn start_session(
        &self,
        user: &berth_store::User,
    ) -> Result<(String, String), ServiceError> {
        let secret = Alphanumeric.sample_string(&mut rand::rng(), 43);
        let csrf = Alphanumeric.sample_string(&mut rand::rng(), 32);
        let now = self.clock.now_unix();
        self.meta
            .create_session(
                &hash_token(&secret),
                user.id,
                &csrf,
                now,
                now + SESSION_SECS,
            )
            .await?;
        Ok((secret, csrf))
    }

    /// The live session behind a cookie's secret, if any.
    pub async fn session(&self, secret: &str) -> Result<Option<Session>, ServiceError> {
        if secret.is_empty() || secret.len() > 128 {
            return Ok(None);
        }
        let Some(record) = self
            .meta
            .session_by_hash(&hash_token(secret), self.clock.now_unix())
            .await?
        else {
            return Ok(None);
        };
        self.live_session(record).await
    }

    /// The session of a stored row, unless its user was disabled or left
    /// the directory since.
    pub(crate) async fn live_session(
        &self,
        record: berth_store::SessionRecord,
    ) -> Result<Option<Session>, ServiceError> {
        if record.user.disabled || !self.directory_still_knows(&record.user).await? {
            return Ok(None);
        }
        let roles = self.meta.user_roles(record.user.id).await?;
        Ok(Some(Session {
            identity: Identity {
                user: record.user,
                token_id: 0,
                token_name: "web session".into(),
                // A session reads; changes go through the user's tokens.
                scopes: Scopes::parse("").unwrap_or(Scopes::ALL),
                limits: crate::tokens::TokenLimits::default(),
                roles,
                origin: berth_store::Origin::default(),
                trust_claims: None,
                signed_in_at: Some(record.created_at),
            },
            csrf: record.csrf,
        }))
    }

    /// For a user who signs in through the directory: whether the
    /// directory still has their account, asked at most once per
    /// [`DIRECTORY_RECHECK_SECS`] per user and node. An account removed or
    /// disabled there ends the user's sessions; a directory that cannot be
    /// asked keeps them (and is logged).
    async fn directory_still_knows(&self, user: &berth_store::User) -> Result<bool, ServiceError> {
        let Some(directory) = &self.directory else {
            return Ok(true);
        };
        let now = self.clock.now_unix();
        if !self.directory_checks.due(user.id, now) {
            return Ok(true);
        }
        let identities = self.meta.external_identities(user.id).await?;
        let Some((_, dn)) = identities.iter().find(|(source, _)| source == "ldap") else {
            return Ok(true);
        };
        match directory.still_there(dn, &user.login).await {
            Ok(true) => Ok(true),
            Ok(false) => {
                tracing::info!(user = %user.login, "the directory no longer has this account: its sessions end");
                self.meta.delete_user_sessions(user.id).await?;
                self.audit_refusal(&AuditEntry {
                    actor: Some(user.login.clone()),
                    detail: Some(
                        "the directory no longer has this account (removed or disabled): its \
                         sessions ended"
                            .into(),
                    ),
                    ..AuditEntry::new(AuditAction::SessionLogin, AuditOutcome::Denied)
                })
                .await;
                Ok(false)
            }
            Err(e) => {
                tracing::warn!(user = %user.login, error = %e, "could not ask the directory about a session's user; keeping the session");
                Ok(true)
            }
        }
    }

    /// Ends the session behind a cookie's secret.
    pub async fn logout(&self, secret: &str) -> Result<(), ServiceError> {
        if secret.is_empty() || secret.len() > 128 {
            return Ok(());
        }
        Ok(self.meta.delete_session(&hash_token(secret)).await?)
    }

    /// Changes the password of a session's own user: the current password
    /// is required; the user's other sessions end, this one (`secret`, the
    /// cookie's) stays; recorded as `user.password` with the user as actor
    /// (a wrong current password as `denied`).
    pub async fn change_own_password(
        &self,
        who: &Identity,
        secret: &str,
        current: &str,
        new: &str,
    ) -> Result<(), ServiceError> {
        check_password_rule(new)?;
        let audit = |outcome| AuditEntry {
            actor: Some(who.user.login.clone()),
            client_addr: who.origin.client_addr.clone(),
            user_agent: who.origin.user_agent.clone(),
            ..AuditEntry::new(AuditAction::UserPassword, outcome)
        };
        let hash = self.meta.password_hash(who.user.id).await?;
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| DUMMY_HASH.to_string());
        let given = current.chars().take(1024).collect::<String>();
        let ok = tokio::task::spawn_blocking(move || verify_password(&given, &hash))
            .await
            .map_err(|e| ServiceError::Internal(format!("password check: {e}")))?;
        if !(ok && known) {
            self.audit_refusal(&AuditEntry {
                detail: Some("the current password given is wrong".into()),
                ..audit(AuditOutcome::Denied)
            })
            .await;
            return Err(ServiceError::Forbidden(
                "the current password is wrong; nothing was changed".into(),
            ));
        }
        let new_hash = hash_password(new)?;
        self.meta
            .set_password_hash_by(
                &who.user.login,
                Some(&new_hash),
                Some(&hash_token(secret)),
                audit(AuditOutcome::Ok),
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_parses_and_matches_nothing_guessable() {
        assert!(!verify_password("", DUMMY_HASH));
        assert!(!verify_password("password", DUMMY_HASH));
        assert!(argon2::PasswordHash::new(DUMMY_HASH).is_ok());
    }
}
