//! What the web UI asks of the services beyond the API's operations: login
//! sessions (password check, session lookup, logout, `berth user passwd`,
//! a user changing their own password)
//! and the read-only views its pages show (a registry's front page and
//! listing, one crate's page with its dependents and downloads per day).
//!
//! A session acts as its user with a read-only identity: it can see what
//! the user may read, and the UI's account pages act on the user's own
//! tokens. Every view checks [`Berth::authorize_read`] before it touches a
//! registry's rows. This module never speaks HTTP (cookies, forms and rate
//! limits are the server's) and never renders anything.

pub use berth_store::{CrateSummary, TokenInfo, VersionPage};

use berth_store::{now_unix, AuditAction, AuditEntry, AuditOutcome};
use rand::distr::{Alphanumeric, SampleString};

use crate::auth::{hash_password, hash_token, verify_password, Scopes};
use crate::error::ServiceError;
use crate::operations::CrateDetail;
use crate::{Berth, Identity, Registry, RegistryKind};

/// How long a login lasts.
pub const SESSION_SECS: i64 = 7 * 86_400;

/// A live login: who, and the CSRF token its forms must carry.
#[derive(Debug, Clone)]
pub struct Session {
    pub identity: Identity,
    pub csrf: String,
}

/// What a registry's front shows: recently updated and most downloaded
/// crates (hosted registries only; other kinds have no rows of their own).
#[derive(Debug, Clone, Default)]
pub struct RegistryFront {
    pub recent: Vec<CrateSummary>,
    pub top: Vec<CrateSummary>,
}

/// One crate's page: the hosted registry that holds it, its details, the
/// version shown and that version's publish metadata.
#[derive(Debug, Clone)]
pub struct CratePage {
    /// The hosted registry holding the crate (for a virtual registry, the
    /// member that owns the name).
    pub holder: String,
    pub detail: CrateDetail,
    pub version: VersionPage,
    /// The publish metadata of `version` as cargo sent it (JSON object).
    pub metadata: serde_json::Value,
    /// Crates of the holder registry whose newest live version depends on
    /// this crate, most downloaded first (at most [`DEPENDENTS_SHOWN`]).
    pub dependents: Vec<CrateSummary>,
    /// How many such crates there are.
    pub dependents_total: i64,
    /// Downloads per day over the last [`CHART_DAYS`] days, oldest first,
    /// one entry per day (zero included): `(Unix day number, count)`.
    pub daily_downloads: Vec<(i64, i64)>,
}

/// Dependents one crate page lists.
pub const DEPENDENTS_SHOWN: i64 = 50;
/// Days of the crate page's downloads chart (today included).
pub const CHART_DAYS: i64 = 90;

/// The one refusal of a wrong login, a wrong password or a user without a
/// password, so that the answer never tells which.
fn bad_login() -> ServiceError {
    ServiceError::Unauthorized("wrong login or password".into())
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
            self.meta.append_audit(&entry).await?;
        } else {
            self.audit_refusal(&entry).await;
        }
        result
            .map(|(_, secret, csrf)| (secret, csrf))
            .map_err(|(_, e)| e)
    }

    /// Whether a login names a user.
    pub async fn user_exists(&self, login: &str) -> Result<bool, ServiceError> {
        Ok(login.len() <= 64 && self.meta.user_by_login(login).await?.is_some())
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
            return Err(ServiceError::Forbidden(
                "this account is disabled; ask a server administrator".into(),
            ));
        }
        let secret = Alphanumeric.sample_string(&mut rand::rng(), 43);
        let csrf = Alphanumeric.sample_string(&mut rand::rng(), 32);
        self.meta
            .create_session(
                &hash_token(&secret),
                user.id,
                &csrf,
                now_unix() + SESSION_SECS,
            )
            .await?;
        tracing::info!(user = %user.login, "web login");
        Ok((user.login, secret, csrf))
    }

    /// The live session behind a cookie's secret, if any.
    pub async fn session(&self, secret: &str) -> Result<Option<Session>, ServiceError> {
        if secret.is_empty() || secret.len() > 128 {
            return Ok(None);
        }
        let Some(record) = self.meta.session_by_hash(&hash_token(secret)).await? else {
            return Ok(None);
        };
        if record.user.disabled {
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
            },
            csrf: record.csrf,
        }))
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

    /// The registries `who` may read, by name.
    pub fn readable_registries<'a>(
        &'a self,
        who: Option<&'a Identity>,
    ) -> impl Iterator<Item = &'a Registry> + 'a {
        self.registries().filter(move |r| self.may_read(r, who))
    }

    /// The registry `/crates/NAME` means: the first one configured.
    pub fn default_registry(&self) -> Option<&Registry> {
        self.config
            .registries
            .first()
            .and_then(|r| self.registry(&r.name).ok())
    }

    /// A registry's front: its newest and most downloaded crates.
    pub async fn registry_front(
        &self,
        reg: &Registry,
        who: Option<&Identity>,
        limit: i64,
    ) -> Result<RegistryFront, ServiceError> {
        self.authorize_read(reg, who)?;
        if reg.kind != RegistryKind::Hosted {
            return Ok(RegistryFront::default());
        }
        Ok(RegistryFront {
            recent: self.meta.recent_crates(reg.id, limit).await?,
            top: self.meta.top_crates(reg.id, limit).await?,
        })
    }

    /// A page of a hosted registry's crates by name, and how many it has.
    pub async fn list_crates(
        &self,
        registry: &str,
        who: Option<&Identity>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<CrateSummary>, i64), ServiceError> {
        let reg = self.registry(registry)?;
        self.authorize_read(reg, who)?;
        if reg.kind != RegistryKind::Hosted {
            return Ok((Vec::new(), 0));
        }
        Ok(self.meta.crates_by_name(reg.id, limit, offset).await?)
    }

    /// One crate's page, at `vers` or its newest version.
    pub async fn crate_page(
        &self,
        registry: &str,
        who: Option<&Identity>,
        name: &str,
        vers: Option<&str>,
    ) -> Result<CratePage, ServiceError> {
        let reg = self.hosted_for(registry, who, name).await?;
        let detail = self.crate_detail(&reg.name, who, name).await?;
        let missing = || ServiceError::NotFound(format!("crate `{name}` does not exist"));
        let canon_name = berth_protocol::canonical_name(name);
        let krate = self
            .meta
            .find_crate(reg.id, &canon_name)
            .await?
            .ok_or_else(missing)?;
        let shown = match vers {
            Some(v) => v.to_string(),
            None => detail
                .max_version
                .clone()
                .or_else(|| detail.versions.last().map(|v| v.vers.clone()))
                .ok_or_else(missing)?,
        };
        let version = berth_protocol::validate_version(&shown).map_err(|_| {
            ServiceError::NotFound(format!("crate `{name}` has no version `{shown}`"))
        })?;
        let version = self
            .meta
            .version_page(krate.id, &berth_protocol::canonical_version(&version))
            .await?
            .ok_or_else(|| {
                ServiceError::NotFound(format!("crate `{name}` has no version `{shown}`"))
            })?;
        let metadata = serde_json::from_str(&version.metadata).unwrap_or(serde_json::Value::Null);
        // The holder was authorized above: its dependents are readable too.
        let (dependents, dependents_total) = self
            .meta
            .dependents(reg.id, &canon_name, DEPENDENTS_SHOWN)
            .await?;
        let today = now_unix() / 86_400;
        let from = today - (CHART_DAYS - 1);
        let counts = self.meta.daily_downloads(krate.id, from, today).await?;
        let daily_downloads = (from..=today)
            .map(|day| {
                let n = counts
                    .iter()
                    .find(|(d, _)| *d == day)
                    .map_or(0, |(_, n)| *n);
                (day, n)
            })
            .collect();
        Ok(CratePage {
            holder: reg.name.clone(),
            detail,
            version,
            metadata,
            dependents,
            dependents_total,
            daily_downloads,
        })
    }
}

impl Berth {
    /// Bytes of crate files a proxy registry holds in its cache (`None`
    /// for other kinds), for the admin pages.
    pub async fn proxy_cache_bytes(&self, reg: &Registry) -> Result<Option<u64>, ServiceError> {
        if reg.kind != RegistryKind::Proxy {
            return Ok(None);
        }
        Ok(Some(self.meta.proxy_cache_bytes(reg.id).await?))
    }
}

/// Every audit action's word, for the audit page's filter.
pub fn audit_actions() -> Vec<&'static str> {
    berth_store::AuditAction::ALL
        .iter()
        .map(|a| a.as_str())
        .collect()
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
