//! Users, passwords and API tokens: creating them, and turning the secret in
//! an `Authorization` header into an [`Identity`].
//!
//! Tokens are random, shown once, and stored only as their sha256; the
//! lookup is by that hash and the final comparison is constant-time. This
//! module decides who a caller is and what their token allows (its scopes,
//! and the limits of [`crate::tokens`]: an address outside the token's
//! CIDR ranges is refused here, at authentication); it never decides what a
//! given crate permits (that is the services' and the store's ownership
//! check).

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use std::net::IpAddr;

use berth_store::{AuditAction, AuditEntry, AuditOutcome, MetaStore, User};
use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ServiceError;
use crate::tokens::limits::TokenLimits;

pub use berth_store::{Role, Scope};

/// The set of [`Scope`]s a token holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scopes(u8);

impl Scopes {
    pub const ALL: Scopes = Scopes((1 << Scope::ALL.len()) - 1);

    fn bit(scope: Scope) -> u8 {
        1 << (scope as u8)
    }

    /// Whether the set holds `scope`.
    pub fn has(self, scope: Scope) -> bool {
        self.0 & Self::bit(scope) != 0
    }

    /// Parses a comma-separated list of scope names. Every token can read
    /// what its user can read, so `read` is always included.
    pub fn parse(list: &str) -> Result<Scopes, String> {
        let mut set = Self::bit(Scope::Read);
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            set |= Self::bit(name.parse::<Scope>()?);
        }
        Ok(Scopes(set))
    }

    /// Whether every scope of `self` is in `other`.
    pub fn within(self, other: Scopes) -> bool {
        self.0 & !other.0 == 0
    }

    /// The canonical comma-separated form stored with the token.
    pub fn to_list(self) -> String {
        Scope::ALL
            .iter()
            .filter(|s| self.has(**s))
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user: User,
    pub token_id: i64,
    pub token_name: String,
    pub scopes: Scopes,
    /// What else limits the token: crate patterns, registry, addresses,
    /// expiry.
    pub limits: TokenLimits,
    /// Roles by registry id.
    pub roles: Vec<(i64, Role)>,
    /// Token id, client address and user agent, for audit rows (the
    /// server fills in the last two).
    pub origin: berth_store::Origin,
    /// The CI claims (JSON) of a trusted-publishing token: the versions it
    /// publishes record them.
    pub trust_claims: Option<String>,
    /// When the web UI session was signed in (none for a token).
    pub signed_in_at: Option<i64>,
}

impl Identity {
    /// The caller's role in a registry, if any.
    pub fn role(&self, registry_id: i64) -> Option<Role> {
        self.roles
            .iter()
            .find(|(id, _)| *id == registry_id)
            .map(|(_, r)| *r)
    }

    /// Whether the caller may act as any crate's owner in a registry.
    pub fn is_admin_of(&self, registry_id: i64) -> bool {
        self.user.is_admin || self.role(registry_id) == Some(Role::Admin)
    }

    /// The actor recorded for changes this identity makes in a registry.
    pub fn actor(&self, registry_id: i64) -> berth_store::Actor {
        berth_store::Actor {
            user_id: self.user.id,
            login: self.user.login.clone(),
            is_admin: self.is_admin_of(registry_id),
            origin: self.origin.clone(),
        }
    }

    /// Fails with 403 unless the token has the scope.
    pub fn require(&self, scope: Scope) -> Result<(), ServiceError> {
        if self.scopes.has(scope) {
            Ok(())
        } else {
            Err(missing_scope(scope))
        }
    }
}

/// The one refusal for a token without a scope it needs.
pub use crate::error::missing_scope;

/// Prefix of every Berth token, so that leaked tokens are recognisable by
/// secret scanners.
pub const TOKEN_PREFIX: &str = "berth_";

/// Generates a new token secret.
pub fn generate_token() -> String {
    format!(
        "{TOKEN_PREFIX}{}",
        Alphanumeric.sample_string(&mut rand::rng(), 40)
    )
}

/// The stored form of a token secret.
pub fn hash_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Hashes a password with argon2id.
pub fn hash_password(password: &str) -> Result<String, ServiceError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ServiceError::Internal(format!("hashing password: {e}")))
}

/// Checks a password against its stored hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Extracts the token from an `Authorization` header value: cargo sends the
/// raw token; `Bearer TOKEN` is accepted for other clients.
pub fn token_from_header(value: &str) -> &str {
    let v = value.trim();
    v.strip_prefix("Bearer ").map(str::trim).unwrap_or(v)
}

/// Resolves a token secret to an identity, for a request from `client`
/// (the client's address; `None` when unknown, which a token limited to
/// some addresses refuses). An unknown, revoked or expired token is a 401;
/// a token used from outside its CIDR ranges is a 403 (and audited).
/// `now` (Unix seconds) decides expiry.
pub async fn authenticate(
    meta: &MetaStore,
    secret: &str,
    client: Option<IpAddr>,
    now: i64,
) -> Result<Identity, ServiceError> {
    let invalid = || {
        ServiceError::Unauthorized(
            "the token is not valid: it is unknown, revoked or expired; create a new one with \
             `berth token create` and run `cargo login`"
                .into(),
        )
    };
    if secret.is_empty() || secret.len() > 256 {
        return Err(invalid());
    }
    let hash = hash_token(secret);
    let Some((stored, record)) = meta.token_by_hash(&hash).await? else {
        return Err(invalid());
    };
    if !bool::from(stored.as_bytes().ct_eq(hash.as_bytes())) || record.revoked {
        return Err(invalid());
    }
    if record.user.disabled {
        return Err(ServiceError::Unauthorized(format!(
            "the token's user `{}` is disabled; ask a server administrator \
             (`berth user enable {}`)",
            record.user.login, record.user.login
        )));
    }
    if record.expires_at.is_some_and(|t| t <= now) {
        return Err(ServiceError::Unauthorized(format!(
            "the token `{}` has expired; create a new one with `berth token create`",
            record.name
        )));
    }
    let scopes = Scopes::parse(&record.scopes)
        .map_err(|e| ServiceError::Internal(format!("stored token scopes: {e}")))?;
    let limits = TokenLimits::from_record(&record)?;
    if !limits.allows_address(client) {
        let addr = client.map_or_else(|| "an unknown address".to_string(), |a| a.to_string());
        let entry = AuditEntry {
            actor: Some(record.user.login.clone()),
            token_id: Some(record.id),
            client_addr: client.map(|a| a.to_string()),
            detail: Some(format!("token `{}` used from {addr}", record.name)),
            ..AuditEntry::new(AuditAction::TokenRestricted, AuditOutcome::Denied)
        };
        if let Err(e) = meta.append_audit_at(&entry, now).await {
            tracing::warn!(error = %e, "could not write audit entry for a refused address");
        }
        return Err(ServiceError::Forbidden(format!(
            "the token `{}` is limited to certain addresses, and this request comes from \
             {addr}; use it from an allowed address or create a token with \
             `berth token create --allow-cidr`",
            record.name
        )));
    }
    // Keep `last_used_at` to the minute, so that use costs at most one write
    // per token per minute.
    if record.last_used_at.is_none_or(|t| t < now - 60) {
        if let Err(e) = meta.touch_token(record.id).await {
            tracing::warn!(error = %e, token_id = record.id, "could not record token use");
        }
    }
    let roles = meta.user_roles(record.user.id).await?;
    let trust_claims = record.trust_claims;
    Ok(Identity {
        user: record.user,
        token_id: record.id,
        token_name: record.name,
        scopes,
        limits,
        roles,
        origin: berth_store::Origin {
            token_id: Some(record.id),
            client_addr: client.map(|a| a.to_string()),
            ..Default::default()
        },
        trust_claims,
        signed_in_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip() {
        assert_eq!(Scopes::parse(&Scopes::ALL.to_list()).unwrap(), Scopes::ALL);
        let s = Scopes::parse("yank").unwrap();
        assert!(s.has(Scope::Yank) && s.has(Scope::Read) && !s.has(Scope::PublishNew));
        assert_eq!(s.to_list(), "read,yank");
        assert!(Scopes::parse("fly").is_err());
        assert!(s.within(Scopes::ALL) && !Scopes::ALL.within(s) && s.within(s));
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 40);
        assert_eq!(hash_token(&a).len(), 64);
        assert_ne!(hash_token(&a), a);
    }

    #[test]
    fn passwords_verify() {
        let h = hash_password("hunter2").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("hunter2", &h));
        assert!(!verify_password("hunter3", &h));
    }

    #[test]
    fn header_forms() {
        assert_eq!(token_from_header("abc"), "abc");
        assert_eq!(token_from_header("Bearer abc "), "abc");
    }
}
