//! What the web UI asks of the services beyond the API's operations: login
//! sessions (password check, session lookup, logout, `berth user passwd`,
//! a user changing their own password)
//! and the read-only views its pages show (a registry's front page and
//! listing, one crate's page with its dependents and downloads per day).
//! Every kind of registry is browsable: a proxy's pages come from what it
//! has cached (its index files, and the README of a `.crate` it holds), and
//! never ask the upstream; a virtual registry's come from the member that
//! owns a name, among the members the viewer may read.
//!
//! A session acts as its user with a read-only identity: it can see what
//! the user may read, and the UI's account pages act on the user's own
//! tokens. Every view checks [`Berth::authorize_read`] before it touches a
//! registry's rows. This module never speaks HTTP (cookies, forms and rate
//! limits are the server's) and never renders anything.

pub use berth_store::{CrateSummary, SearchHit, TokenInfo, VersionPage};

use berth_store::{AuditAction, AuditEntry, AuditOutcome};
use rand::distr::{Alphanumeric, SampleString};

use crate::auth::{hash_password, hash_token, verify_password, Scopes};
use crate::error::ServiceError;
use crate::operations::CrateDetail;
pub use crate::sources::RegistryFront;
use crate::sources::{index_lines, str_of};
use crate::{Berth, Identity, Registry};

/// How long a login lasts.
pub const SESSION_SECS: i64 = 7 * 86_400;

/// A live login: who, and the CSRF token its forms must carry.
#[derive(Debug, Clone)]
pub struct Session {
    pub identity: Identity,
    pub csrf: String,
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
    /// The crate comes from a proxy's cache: versions from its cached index
    /// file, no owners, downloads or dependents of its own, and a README
    /// only when the proxy holds that version's `.crate`.
    pub proxied: bool,
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
                self.clock.now_unix() + SESSION_SECS,
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
        let Some(record) = self
            .meta
            .session_by_hash(&hash_token(secret), self.clock.now_unix())
            .await?
        else {
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

    /// The keywords of the newest version of each named crate of a hosted
    /// registry (other kinds keep no publish metadata: none), by name.
    pub async fn keywords_of(
        &self,
        registry: &str,
        who: Option<&Identity>,
        names: &[String],
    ) -> Result<std::collections::HashMap<String, Vec<String>>, ServiceError> {
        let reg = self.registry(registry)?;
        self.authorize_read(reg, who)?;
        if !reg.traits().holds_publishes {
            return Ok(Default::default());
        }
        let canon: Vec<String> = names
            .iter()
            .map(|n| berth_protocol::canonical_name(n))
            .collect();
        let rows = self.meta.newest_metadata(reg.id, &canon).await?;
        Ok(rows
            .into_iter()
            .map(|(name, metadata)| {
                let words = serde_json::from_str::<serde_json::Value>(&metadata)
                    .ok()
                    .and_then(|m| {
                        m["keywords"].as_array().map(|k| {
                            k.iter()
                                .filter_map(|w| w.as_str().map(str::to_string))
                                .collect()
                        })
                    })
                    .unwrap_or_default();
                (name, words)
            })
            .collect())
    }

    /// A virtual registry's members, hosted ones first (empty for other
    /// kinds).
    pub fn members_of(&self, reg: &Registry) -> Vec<String> {
        reg.source.members()
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
        reg.source.front(self.at_for(reg, who), limit).await
    }

    /// A page of a registry's crates, and how many it has: a hosted
    /// registry's by name, a proxy's cached crates by name, a virtual
    /// registry's as its search with no words lists them (members the
    /// caller may not read left out).
    pub async fn list_crates(
        &self,
        registry: &str,
        who: Option<&Identity>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<CrateSummary>, i64), ServiceError> {
        let reg = self.registry(registry)?;
        self.authorize_read(reg, who)?;
        reg.source.list(self.at_for(reg, who), limit, offset).await
    }

    /// One crate's page, at `vers` or its newest version.
    pub async fn crate_page(
        &self,
        registry: &str,
        who: Option<&Identity>,
        name: &str,
        vers: Option<&str>,
    ) -> Result<CratePage, ServiceError> {
        let asked = self.registry(registry)?;
        self.authorize_read(asked, who)?;
        let reg = match self.page_holder(asked, who, name).await? {
            Some(holder) if holder.traits().caches_upstream => {
                return self.proxied_page(holder, name, vers).await;
            }
            Some(holder) => holder,
            None => {
                return Err(ServiceError::NotFound(format!(
                    "crate `{name}` does not exist"
                )))
            }
        };
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
        let today = self.clock.now_unix() / 86_400;
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
            proxied: false,
        })
    }

    /// The registry whose rows a crate page of `reg` shows (see
    /// `Source::page_holder`), when the caller may read it: the owner
    /// decides, and a reader is never shown another member's namesake
    /// instead.
    async fn page_holder<'a>(
        &'a self,
        reg: &'a Registry,
        who: Option<&'a Identity>,
        name: &str,
    ) -> Result<Option<&'a Registry>, ServiceError> {
        let owner = reg.source.page_holder(self.at_for(reg, who), name).await?;
        Ok(owner.filter(|m| self.authorize_read(m, who).is_ok()))
    }

    /// A crate page from a proxy's cache (see [`CratePage::proxied`]).
    async fn proxied_page(
        &self,
        reg: &Registry,
        name: &str,
        vers: Option<&str>,
    ) -> Result<CratePage, ServiceError> {
        let lname = name.to_ascii_lowercase();
        let missing = || ServiceError::NotFound(format!("crate `{name}` does not exist"));
        let row = self.meta.proxy_index_get(reg.id, &lname).await?;
        let body = row
            .as_ref()
            .and_then(|r| r.body.as_deref())
            .ok_or_else(missing)?;
        let mut lines = index_lines(body);
        if lines.is_empty() {
            return Err(missing());
        }
        lines.sort_by_cached_key(|l| semver::Version::parse(str_of(l, "vers")).ok());
        let real = str_of(&lines[0], "name").to_string();
        let cached: std::collections::HashMap<String, berth_store::ProxyCrateRow> = self
            .meta
            .proxy_cached_versions(reg.id, &lname)
            .await?
            .into_iter()
            .collect();
        let shown = match vers {
            Some(v) => {
                let wanted = semver::Version::parse(v).ok();
                lines
                    .iter()
                    .position(|l| {
                        str_of(l, "vers") == v
                            || (wanted.is_some()
                                && semver::Version::parse(str_of(l, "vers"))
                                    .ok()
                                    .as_ref()
                                    .zip(wanted.as_ref())
                                    .is_some_and(|(a, b)| a.cmp_precedence(b).is_eq()))
                    })
                    .ok_or_else(|| {
                        ServiceError::NotFound(format!("crate `{name}` has no version `{v}`"))
                    })?
            }
            None => lines
                .iter()
                .rposition(|l| !l["yanked"].as_bool().unwrap_or(false))
                .unwrap_or(lines.len() - 1),
        };
        let line = &lines[shown];
        let shown_vers = str_of(line, "vers").to_string();
        let readme = match cached.get(&shown_vers) {
            Some(c) => self.cached_readme(&c.cksum, &real, &shown_vers).await,
            None => None,
        };
        let versions = lines
            .iter()
            .map(|l| {
                let v = str_of(l, "vers").to_string();
                crate::operations::VersionJson {
                    yanked: l["yanked"].as_bool().unwrap_or(false),
                    cksum: str_of(l, "cksum").to_string(),
                    size: cached.get(&v).map_or(0, |c| c.size),
                    published_at: l["pubtime"]
                        .as_str()
                        .and_then(|t| {
                            time::OffsetDateTime::parse(
                                t,
                                &time::format_description::well_known::Rfc3339,
                            )
                            .ok()
                        })
                        .map_or(0, |t| t.unix_timestamp()),
                    published_by: None,
                    downloads: 0,
                    has_readme: false,
                    vers: v,
                }
            })
            .collect::<Vec<_>>();
        let max_version = lines
            .iter()
            .rev()
            .find(|l| !l["yanked"].as_bool().unwrap_or(false))
            .map(|l| str_of(l, "vers").to_string());
        let changed = row.as_ref().map_or(0, |r| r.changed_at);
        Ok(CratePage {
            holder: reg.name.clone(),
            detail: CrateDetail {
                name: real,
                description: None,
                max_version,
                downloads: 0,
                created_at: versions.first().map_or(0, |v| v.published_at),
                updated_at: changed,
                owners: Vec::new(),
                versions,
            },
            version: VersionPage {
                vers: shown_vers,
                metadata: line_metadata(line).to_string(),
                readme,
            },
            metadata: line_metadata(line),
            dependents: Vec::new(),
            dependents_total: 0,
            daily_downloads: Vec::new(),
            proxied: true,
        })
    }

    /// The README of a `.crate` a proxy holds (its `README.md`), read with
    /// the publish limits off the async workers; `None` when it has none or
    /// cannot be read (the page then says it has no README).
    async fn cached_readme(&self, cksum: &str, name: &str, vers: &str) -> Option<String> {
        let bytes = match self.blobs.get(cksum).await {
            Ok(Some(b)) => b,
            Ok(None) => return None,
            Err(e) => {
                tracing::debug!(%cksum, error = %e, "cached crate unreadable for its page");
                return None;
            }
        };
        let (name, vers) = (name.to_string(), vers.to_string());
        let limits = berth_tarball::Limits {
            max_unpacked_size: self.config.limits.max_unpacked_size,
            max_entries: self.config.limits.max_crate_entries,
            ..Default::default()
        };
        tokio::task::spawn_blocking(move || {
            berth_tarball::inspect(&bytes, &name, &vers, Some("README.md"), &limits)
                .ok()
                .and_then(|info| info.readme)
        })
        .await
        .ok()
        .flatten()
    }
}

/// What a crate page reads of publish metadata, from an index line: the
/// dependencies (by their real names), the features (both maps) and the
/// Rust version.
fn line_metadata(line: &serde_json::Value) -> serde_json::Value {
    let deps: Vec<serde_json::Value> = line["deps"]
        .as_array()
        .map(|deps| {
            deps.iter()
                .map(|d| {
                    serde_json::json!({
                        "name": d["package"].as_str().or(d["name"].as_str()),
                        "version_req": d["req"],
                        "kind": d["kind"],
                        "optional": d["optional"],
                        "registry": d["registry"],
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let mut features = line["features"].as_object().cloned().unwrap_or_default();
    if let Some(more) = line["features2"].as_object() {
        features.extend(more.clone());
    }
    serde_json::json!({
        "deps": deps,
        "features": features,
        "rust_version": line["rust_version"],
    })
}

impl Berth {
    /// Bytes of crate files a proxy registry holds in its cache (`None`
    /// for other kinds), for the admin pages.
    pub async fn proxy_cache_bytes(&self, reg: &Registry) -> Result<Option<u64>, ServiceError> {
        if !reg.traits().caches_upstream {
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
