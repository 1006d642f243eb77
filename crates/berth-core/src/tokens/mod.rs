//! Fine-grained tokens: what limits a token beyond its scopes (crate-name
//! patterns, one registry, CIDR ranges, expiry), parsing those limits from
//! the command line and the management API, and creating, listing and
//! revoking tokens, by an operator (`berth token`) or by a user for
//! themselves (`/api/v1/me/tokens`, where a token never makes, nor revokes,
//! a token with more rights than its own, and the tokens a token made are
//! revoked with it).
//!
//! This module decides what a token's limits are and whether a request is
//! inside them; it never reads a secret back (secrets are generated and
//! hashed in [`crate::accounts::auth`]) and never builds SQL.

mod expiry;
pub(crate) mod limits;

use berth_store::{AuditAction, AuditEntry, AuditOutcome, NewToken, TokenInfo, User};
use serde::{Deserialize, Serialize};

use crate::accounts::auth::{generate_token, hash_token, Scope, Scopes};
use crate::crates::checks::Change;
use crate::error::ServiceError;
use crate::text::clip;
use crate::{Berth, Identity};

pub use crate::text::format_time;
pub use expiry::parse_expiry;
use ipnet::IpNet;
pub use limits::{check_token_name, parse_cidr, CratePattern, TokenLimits, MAX_LIST, MAX_NAME};
use limits::{quoted, split_list};
/// A token to create, as asked for (`berth token create` or
/// `POST /api/v1/me/tokens`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// A label, unique among the user's active tokens; `token-ID` when
    /// left out.
    pub name: Option<String>,
    /// Scope names; every scope (or, through the API, the creating token's
    /// scopes) when left out.
    pub scopes: Option<Vec<String>>,
    /// Crate-name patterns; every crate when left out.
    #[serde(default)]
    pub crates: Vec<String>,
    /// The one registry the token works on.
    pub registry: Option<String>,
    /// A duration (`90d`); exclusive with `expires_at`.
    pub expires_in: Option<String>,
    /// A date or RFC 3339 time.
    pub expires_at: Option<String>,
    /// CIDR ranges the token may be used from.
    #[serde(default)]
    pub allowed_cidrs: Vec<String>,
}

/// A token as listed (never its secret): for `berth token list --json`
/// and `GET /api/v1/me/tokens`.
#[derive(Debug, Clone, Serialize)]
pub struct TokenView {
    pub id: i64,
    pub name: String,
    pub scopes: Vec<String>,
    pub crates: Vec<String>,
    pub registry: Option<String>,
    pub allowed_cidrs: Vec<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked: bool,
}

impl From<TokenInfo> for TokenView {
    fn from(t: TokenInfo) -> Self {
        let list = |s: &str| split_list(s).map(str::to_string).collect();
        TokenView {
            id: t.id,
            scopes: list(&t.scopes),
            crates: t.crate_patterns.0,
            allowed_cidrs: t.allowed_cidrs.0.iter().map(IpNet::to_string).collect(),
            name: t.name,
            registry: t.registry,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            revoked: t.revoked,
        }
    }
}

/// A token just created: what it is, and its secret (shown once).
#[derive(Debug, Clone, Serialize)]
pub struct CreatedToken {
    pub token: TokenView,
    pub secret: String,
}

/// Which of a user's tokens: by id or by (active) name.
#[derive(Debug, Clone)]
pub enum TokenRef {
    Id(i64),
    Name(String),
}

/// A request checked and parsed: scopes, limits and name.
struct Parsed {
    name: Option<String>,
    scopes: Option<Scopes>,
    limits: TokenLimits,
}

impl Berth {
    /// A user's tokens (never their secrets).
    pub async fn list_tokens(&self, login: &str) -> Result<Vec<TokenInfo>, ServiceError> {
        let user = self.user_named(login).await?;
        Ok(self.meta.list_tokens(user.id).await?)
    }

    /// Validates a token request: name, scopes, patterns (folded, at most
    /// [`MAX_LIST`]), the registry (it must exist), expiry and ranges.
    fn parse_request(&self, req: &TokenRequest) -> Result<Parsed, ServiceError> {
        if let Some(name) = &req.name {
            check_token_name(name)?;
        }
        if req.crates.len() > MAX_LIST || req.allowed_cidrs.len() > MAX_LIST {
            return Err(ServiceError::BadRequest(format!(
                "a token takes at most {MAX_LIST} crate patterns and {MAX_LIST} CIDR ranges"
            )));
        }
        let scopes = match &req.scopes {
            None => None,
            Some(list) if list.len() > Scope::ALL.len() * 2 => {
                return Err(ServiceError::BadRequest("too many scopes".into()))
            }
            Some(list) => Some(Scopes::parse(&list.join(",")).map_err(ServiceError::BadRequest)?),
        };
        if let Some(r) = &req.registry {
            self.registry(r)?;
        }
        let mut crates: Vec<CratePattern> = Vec::new();
        for p in &req.crates {
            let p = p.parse::<CratePattern>()?;
            if !crates.contains(&p) {
                crates.push(p);
            }
        }
        let mut cidrs: Vec<IpNet> = Vec::new();
        for c in &req.allowed_cidrs {
            let c = parse_cidr(c)?;
            if !cidrs.contains(&c) {
                cidrs.push(c);
            }
        }
        Ok(Parsed {
            name: req.name.clone(),
            scopes,
            limits: TokenLimits {
                crates,
                registry: req.registry.clone(),
                cidrs,
                expires_at: parse_expiry(
                    req.expires_in.as_deref(),
                    req.expires_at.as_deref(),
                    self.clock.now_unix(),
                )?,
            },
        })
    }

    async fn store_token(
        &self,
        user: &User,
        parsed: &Parsed,
        scopes: Scopes,
        parent_id: Option<i64>,
        audit: AuditEntry,
    ) -> Result<CreatedToken, ServiceError> {
        let secret = generate_token();
        let hash = hash_token(&secret);
        let id = self
            .meta
            .create_token(NewToken {
                user_id: user.id,
                name: parsed.name.as_deref(),
                token_hash: &hash,
                scopes: &scopes.to_list(),
                crate_patterns: parsed.limits.crates_to_store(),
                registry: parsed.limits.registry.as_deref(),
                allowed_cidrs: parsed.limits.cidrs_to_store(),
                expires_at: parsed.limits.expires_at,
                parent_id,
                trust_claims: None,
                audit,
            })
            .await?;
        let info = self
            .meta
            .list_tokens(user.id)
            .await?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or_else(|| ServiceError::Internal(format!("token {id} vanished")))?;
        Ok(CreatedToken {
            token: info.into(),
            secret,
        })
    }

    /// Creates a token for a user (the operator's `berth token create`);
    /// every scope when none is asked for.
    pub async fn create_token(
        &self,
        login: &str,
        req: &TokenRequest,
    ) -> Result<CreatedToken, ServiceError> {
        let user = self.user_named(login).await?;
        let parsed = self.parse_request(req)?;
        let scopes = parsed.scopes.unwrap_or(Scopes::ALL);
        let audit = AuditEntry::new(AuditAction::TokenCreate, AuditOutcome::Ok);
        self.store_token(&user, &parsed, scopes, None, audit).await
    }

    /// Creates a token for the user of a web UI session (the account page):
    /// as `berth token create`, within `limits.token_creations_per_hour`.
    pub async fn create_token_on_page(
        &self,
        who: &Identity,
        req: &TokenRequest,
    ) -> Result<CreatedToken, ServiceError> {
        let parsed = self.parse_request(req)?;
        let scopes = parsed.scopes.unwrap_or(Scopes::ALL);
        self.admit_token_creation(&who.user)?;
        let audit = AuditEntry {
            actor: Some(who.user.login.clone()),
            ..AuditEntry::new(AuditAction::TokenCreate, AuditOutcome::Ok)
        };
        self.store_token(&who.user, &parsed, scopes, None, audit)
            .await
    }

    /// The audit row of a token change `who` makes through the API.
    fn token_audit(who: &Identity, action: AuditAction, outcome: AuditOutcome) -> AuditEntry {
        AuditEntry {
            actor: Some(who.user.login.clone()),
            token_id: Some(who.token_id),
            client_addr: who.origin.client_addr.clone(),
            user_agent: who.origin.user_agent.clone(),
            ..AuditEntry::new(action, outcome)
        }
    }

    fn need_user_token(who: Option<&Identity>) -> Result<&Identity, ServiceError> {
        who.ok_or_else(|| {
            ServiceError::Unauthorized(
                "managing your tokens requires a token: send it in the Authorization header".into(),
            )
        })
    }

    /// Creates a token for the caller's own user. What the request leaves
    /// out is inherited from the caller's token (scopes, patterns,
    /// registry, expiry, ranges); what it asks for may not exceed the
    /// caller's token (403, audited, saying why).
    pub async fn create_own_token(
        &self,
        who: Option<&Identity>,
        req: &TokenRequest,
    ) -> Result<CreatedToken, ServiceError> {
        let who = Self::need_user_token(who)?;
        let mut parsed = self.parse_request(req)?;
        let scopes = parsed.scopes.unwrap_or(who.scopes);
        let mine = &who.limits;
        if parsed.limits.crates.is_empty() {
            parsed.limits.crates = mine.crates.clone();
        }
        if parsed.limits.registry.is_none() {
            parsed.limits.registry = mine.registry.clone();
        }
        if parsed.limits.expires_at.is_none() {
            parsed.limits.expires_at = mine.expires_at;
        }
        if parsed.limits.cidrs.is_empty() {
            parsed.limits.cidrs = mine.cidrs.clone();
        }
        let why = if !scopes.within(who.scopes) {
            Some(format!(
                "the new token would have scopes ({}) that this token ({}) lacks",
                scopes.to_list(),
                who.scopes.to_list()
            ))
        } else {
            mine.widened_by(&parsed.limits, None)
        };
        if let Some(why) = why {
            let entry = AuditEntry {
                detail: Some(clip(&why, 512)),
                ..Self::token_audit(who, AuditAction::TokenCreate, AuditOutcome::Denied)
            };
            if let Err(e) = self
                .meta
                .append_audit_at(&entry, self.clock.now_unix())
                .await
            {
                tracing::warn!(error = %e, "could not write audit entry for a refused token");
            }
            return Err(ServiceError::Forbidden(format!(
                "a token cannot create a token with more rights than its own: {why}"
            )));
        }
        self.admit_token_creation(&who.user)?;
        let audit = Self::token_audit(who, AuditAction::TokenCreate, AuditOutcome::Ok);
        self.store_token(&who.user, &parsed, scopes, Some(who.token_id), audit)
            .await
    }

    /// The caller's own tokens (never their secrets).
    pub async fn own_tokens(&self, who: Option<&Identity>) -> Result<Vec<TokenView>, ServiceError> {
        let who = Self::need_user_token(who)?;
        Ok(self
            .meta
            .list_tokens(who.user.id)
            .await?
            .into_iter()
            .map(TokenView::from)
            .collect())
    }

    /// Revokes one of the caller's own tokens, and the tokens it made;
    /// another user's (or no) token of that id is 404. A token revokes
    /// only tokens no wider than itself (itself included): 403, audited,
    /// saying why.
    pub async fn revoke_own_token(
        &self,
        who: Option<&Identity>,
        token_id: i64,
    ) -> Result<(), ServiceError> {
        let who = Self::need_user_token(who)?;
        let missing =
            || ServiceError::NotFound(format!("you have no active token with id {token_id}"));
        let target = match self.meta.token_of_user(who.user.id, token_id).await? {
            Some(t) if !t.revoked => t,
            _ => return Err(missing()),
        };
        let scopes = Scopes::parse(&target.scopes)
            .map_err(|e| ServiceError::Internal(format!("stored token scopes: {e}")))?;
        let limits = TokenLimits::from_stored(
            &target.crate_patterns,
            target.registry.clone(),
            &target.allowed_cidrs,
            target.expires_at,
        )?;
        let why = if !scopes.within(who.scopes) {
            Some(format!(
                "token {token_id} has scopes ({}) that this token ({}) lacks",
                scopes.to_list(),
                who.scopes.to_list()
            ))
        } else {
            who.limits
                .widened_by(&limits, Some(&format!("token {token_id}")))
        };
        if let Some(why) = why {
            let entry = AuditEntry {
                detail: Some(clip(&format!("token_id={token_id}: {why}"), 512)),
                ..Self::token_audit(who, AuditAction::TokenRevoke, AuditOutcome::Denied)
            };
            if let Err(e) = self
                .meta
                .append_audit_at(&entry, self.clock.now_unix())
                .await
            {
                tracing::warn!(error = %e, "could not write audit entry for a refused revocation");
            }
            return Err(ServiceError::Forbidden(format!(
                "a token can only revoke tokens with no more rights than its own: {why}; revoke \
                 it with a token that has those rights, on the account page, or with \
                 `berth token revoke`"
            )));
        }
        let audit = Self::token_audit(who, AuditAction::TokenRevoke, AuditOutcome::Ok);
        if self.meta.revoke_token(who.user.id, token_id, audit).await? {
            Ok(())
        } else {
            Err(missing())
        }
    }

    /// Revokes one of a user's tokens by id or name (`berth token revoke`).
    /// Returns the revoked token's id.
    pub async fn revoke_token(&self, login: &str, which: &TokenRef) -> Result<i64, ServiceError> {
        self.revoke_token_by(None, login, which).await
    }

    /// As [`Berth::revoke_token`], recorded as done by `by` (a web UI
    /// session: the user themself, or a server administrator).
    pub async fn revoke_token_by(
        &self,
        by: Option<&Identity>,
        login: &str,
        which: &TokenRef,
    ) -> Result<i64, ServiceError> {
        let user = self.user_named(login).await?;
        let missing = || {
            ServiceError::NotFound(match which {
                TokenRef::Id(id) => format!("user `{login}` has no active token with id {id}"),
                TokenRef::Name(name) => {
                    format!("user `{login}` has no active token named `{name}`")
                }
            })
        };
        let id = match which {
            TokenRef::Id(id) => *id,
            TokenRef::Name(name) => {
                self.meta
                    .active_token_by_name(user.id, name)
                    .await?
                    .ok_or_else(missing)?
                    .id
            }
        };
        let audit = AuditEntry {
            actor: by.map(|w| w.user.login.clone()),
            client_addr: by.and_then(|w| w.origin.client_addr.clone()),
            user_agent: by.and_then(|w| w.origin.user_agent.clone()),
            ..AuditEntry::new(AuditAction::TokenRevoke, AuditOutcome::Ok)
        };
        if self.meta.revoke_token(user.id, id, audit).await? {
            Ok(id)
        } else {
            Err(missing())
        }
    }

    /// Fails with 403 (audited) when the caller's token is limited to
    /// crate patterns that `krate` does not match. For changes only
    /// (publish, yank, owners); reads are never limited by patterns.
    pub(crate) async fn require_crate_pattern(
        &self,
        who: &Identity,
        change: Change<'_>,
    ) -> Result<(), ServiceError> {
        let krate = change.krate;
        if who.limits.allows_crate(krate) {
            return Ok(());
        }
        let patterns = quoted(&who.limits.crates);
        let why = format!("token limited to crates {patterns}");
        self.audit_denied(who, change, &why).await;
        Err(ServiceError::Forbidden(format!(
            "this token may only publish, yank and change owners of crates matching {patterns}; \
             `{}` does not match; create a token with `berth token create --crates`",
            clip(krate, MAX_NAME)
        )))
    }

    /// Fails with 403 (audited) when the caller's token is restricted to
    /// another registry than `registry`, the one named in the request's
    /// URL (a virtual registry's requests act on its members, and still
    /// match the virtual registry).
    pub async fn require_token_registry(
        &self,
        who: &Identity,
        registry: &str,
    ) -> Result<(), ServiceError> {
        let Some(mine) = &who.limits.registry else {
            return Ok(());
        };
        if mine == registry {
            return Ok(());
        }
        let entry = AuditEntry {
            registry: Some(clip(registry, MAX_NAME)),
            detail: Some(format!("token restricted to registry {mine}")),
            ..Self::token_audit(who, AuditAction::TokenRestricted, AuditOutcome::Denied)
        };
        if let Err(e) = self
            .meta
            .append_audit_at(&entry, self.clock.now_unix())
            .await
        {
            tracing::warn!(error = %e, "could not write audit entry for a restricted token");
        }
        Err(ServiceError::Forbidden(format!(
            "the token `{}` is restricted to registry `{mine}`; use a token for registry `{}`",
            who.token_name,
            clip(registry, MAX_NAME)
        )))
    }
}

#[cfg(test)]
mod tests;
