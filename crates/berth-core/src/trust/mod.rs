//! Trusted publishing (issue 30): a CI job exchanges its own OIDC token for
//! a publish token valid 30 minutes (`POST /r/REG/api/v1/trusted_publishing/
//! tokens`, the public registry's API, so its CI actions work when pointed
//! here), and crates say which CI identities may publish them (`berth trust
//! add|list|remove`).
//!
//! The exchanged token is an ordinary token of the user who made the
//! matching configuration (an owner, or an admin for a crate that does not
//! exist yet), limited to the matched crates, the registry, the publish
//! scopes and 30 minutes, and carrying the CI claims, which the versions it
//! publishes record. So it can do no more than that user, and stops
//! working when they may no longer publish the crate or are disabled.
//!
//! This module decides which crates a verified token may publish and who
//! may configure that; the token's signature and times are `verify.rs`'s.

pub(crate) mod verify;

use std::net::IpAddr;

use berth_store::{
    AuditAction, AuditEntry, AuditOutcome, NewToken, NewTrustConfig, StoredList, TrustConfigRow,
};
use serde::Serialize;

use crate::accounts::auth::{generate_token, hash_token, Scope, Scopes};
use crate::error::ServiceError;
use crate::text::clip;
use crate::{Berth, Identity};
pub use verify::CiClaims;

/// How long an exchanged token is valid, in seconds.
pub const TOKEN_TTL: i64 = 30 * 60;

/// A trust configuration to add (`berth trust add`).
#[derive(Debug, Clone)]
pub struct TrustRequest {
    pub registry: String,
    pub krate: String,
    /// A configured issuer's name.
    pub issuer: String,
    /// `OWNER/REPO`.
    pub repository: String,
    /// The workflow's file name.
    pub workflow: String,
    pub environment: Option<String>,
    /// The user the configuration acts for; the crate's first owner when
    /// left out (required for a crate that does not exist yet).
    pub user: Option<String>,
}

/// How recent a sign-in must be to change a crate's `trusted_only`, in
/// seconds.
pub const FRESH_SIGN_IN: i64 = 10 * 60;

/// What the crate page shows an owner about trusted publishing.
#[derive(Debug, Clone, Serialize)]
pub struct TrustPanel {
    pub configs: Vec<TrustView>,
    pub trusted_only: bool,
    /// The configured issuers' names, to choose from.
    pub issuers: Vec<String>,
}

/// A trust configuration as listed.
#[derive(Debug, Clone, Serialize)]
pub struct TrustView {
    pub id: i64,
    #[serde(rename = "crate")]
    pub krate: String,
    pub issuer: String,
    pub repository: String,
    pub workflow: String,
    pub environment: Option<String>,
    /// The login the exchanged tokens belong to.
    pub acts_for: String,
    pub created_at: String,
}

/// What an exchange answers (the public registry's shape).
#[derive(Debug, Clone, Serialize)]
pub struct ExchangedToken {
    pub token: String,
}

fn valid_repository(r: &str) -> bool {
    let mut parts = r.split('/');
    let ok = |p: Option<&str>| {
        p.is_some_and(|p| {
            !p.is_empty()
                && p.len() <= 100
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
    };
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

fn valid_workflow(w: &str) -> bool {
    (w.ends_with(".yml") || w.ends_with(".yaml"))
        && w.len() <= 128
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Whether a configuration admits a verified job's claims (the issuer and
/// repository were matched by the query).
pub(crate) fn admits(config: &TrustConfigRow, claims: &CiClaims) -> bool {
    config.workflow == claims.workflow
        && match &config.environment {
            None => true,
            Some(env) => claims
                .environment
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(env)),
        }
}

impl Berth {
    fn trusted_issuer(&self, name: &str) -> Result<&crate::config::TrustedIssuer, ServiceError> {
        self.config.trusted_publishing.issuer(name).ok_or_else(|| {
            let known: Vec<&str> = self
                .config
                .trusted_publishing
                .issuers
                .iter()
                .map(|i| i.name.as_str())
                .collect();
            ServiceError::BadRequest(if known.is_empty() {
                format!(
                    "no OIDC issuer `{name}` is configured: add one under \
                     [[trusted_publishing.issuers]]"
                )
            } else {
                format!(
                    "no OIDC issuer `{name}` is configured; the configured ones are {}",
                    known.join(", ")
                )
            })
        })
    }

    /// Adds a trust configuration: by the operator (`berth trust add`,
    /// `by` = `None`), or by a signed-in owner or registry admin for
    /// themselves (the crate page), whom it then acts for.
    pub async fn trust_add(
        &self,
        by: Option<&Identity>,
        req: &TrustRequest,
    ) -> Result<TrustView, ServiceError> {
        let req = &TrustRequest {
            user: by.map_or_else(|| req.user.clone(), |w| Some(w.user.login.clone())),
            ..req.clone()
        };
        let (reg, _) = self.publish_target(&req.registry)?;
        self.trusted_issuer(&req.issuer)?;
        berth_protocol::validate_crate_name(&req.krate)
            .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
        if !valid_repository(&req.repository) {
            return Err(ServiceError::BadRequest(format!(
                "repository `{}` is not OWNER/REPO",
                clip(&req.repository, 64)
            )));
        }
        if !valid_workflow(&req.workflow) {
            return Err(ServiceError::BadRequest(format!(
                "workflow `{}` is not a workflow file name (`release.yml`: the file under \
                 .github/workflows)",
                clip(&req.workflow, 64)
            )));
        }
        if req
            .environment
            .as_deref()
            .is_some_and(|e| e.is_empty() || e.len() > 255)
        {
            return Err(ServiceError::BadRequest(
                "the environment must be 1-255 characters".into(),
            ));
        }
        let canon = berth_protocol::canonical_name(&req.krate);
        let existing = self.meta.find_crate(reg.id, &canon).await?;
        if let Some(who) = by {
            self.may_manage_trust(who, reg, existing.as_ref(), &req.krate)
                .await?;
        }
        let user = match (&req.user, &existing) {
            (Some(login), _) => self.user_named(login).await?,
            (None, Some(krate)) => self
                .meta
                .list_owners(krate.id)
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    ServiceError::BadRequest(format!(
                        "crate `{}` has no user owner: name the user the configuration acts \
                         for with --user",
                        krate.name
                    ))
                })?,
            (None, None) => {
                return Err(ServiceError::BadRequest(format!(
                    "crate `{}` does not exist in registry `{}` yet: a pending configuration \
                     needs the registry admin it acts for (--user LOGIN)",
                    req.krate, reg.name
                )))
            }
        };
        let roles = self.meta.user_roles(user.id).await?;
        let admin = user.is_admin
            || roles
                .iter()
                .any(|(id, r)| *id == reg.id && *r == crate::Role::Admin);
        let allowed = match &existing {
            Some(krate) => admin || self.meta.is_crate_owner(krate.id, user.id).await?,
            None => admin,
        };
        if !allowed {
            return Err(ServiceError::Forbidden(match &existing {
                Some(krate) => format!(
                    "user `{}` is not an owner of crate `{}`: a configuration acts for an owner \
                     (or an admin of registry `{}`)",
                    user.login, krate.name, reg.name
                ),
                None => format!(
                    "user `{}` is not an admin of registry `{}`: only a registry admin may \
                     trust a CI identity with a crate that does not exist yet",
                    user.login, reg.name
                ),
            }));
        }
        let config = NewTrustConfig {
            registry_id: reg.id,
            crate_name: existing
                .as_ref()
                .map_or_else(|| req.krate.clone(), |k| k.name.clone()),
            canon_name: canon,
            issuer: req.issuer.clone(),
            repository: req.repository.to_ascii_lowercase(),
            workflow: req.workflow.clone(),
            environment: req.environment.clone(),
            created_by: user.id,
        };
        let audit = AuditEntry {
            registry: Some(reg.name.clone()),
            crate_name: Some(config.crate_name.clone()),
            detail: Some(clip(
                &format!(
                    "issuer={} repository={} workflow={} environment={} acts_for={}",
                    config.issuer,
                    config.repository,
                    config.workflow,
                    config.environment.as_deref().unwrap_or("*"),
                    user.login
                ),
                512,
            )),
            ..Self::trust_audit_entry(by, AuditAction::TrustAdd)
        };
        let id = self.meta.trust_config_add(&config, &audit).await?;
        let row = self
            .meta
            .trust_configs_of(reg.id, &config.canon_name)
            .await?
            .into_iter()
            .find(|c| c.id == id)
            .ok_or_else(|| ServiceError::Internal(format!("trust configuration {id} vanished")))?;
        self.trust_view(row).await
    }

    async fn trust_view(&self, row: TrustConfigRow) -> Result<TrustView, ServiceError> {
        let acts_for = self
            .meta
            .user_by_id(row.created_by)
            .await?
            .map_or_else(|| format!("user {}", row.created_by), |u| u.login);
        Ok(TrustView {
            id: row.id,
            krate: row.crate_name,
            issuer: row.issuer,
            repository: row.repository,
            workflow: row.workflow,
            environment: row.environment,
            acts_for,
            created_at: crate::text::format_time(row.created_at),
        })
    }

    /// A crate's trust configurations (`berth trust list`).
    pub async fn trust_list(
        &self,
        registry: &str,
        krate: &str,
    ) -> Result<Vec<TrustView>, ServiceError> {
        let (reg, _) = self.publish_target(registry)?;
        let canon = berth_protocol::canonical_name(krate);
        let mut out = Vec::new();
        for row in self.meta.trust_configs_of(reg.id, &canon).await? {
            out.push(self.trust_view(row).await?);
        }
        Ok(out)
    }

    /// An audit entry of a trust change by `by` (none: the operator).
    fn trust_audit_entry(by: Option<&Identity>, action: AuditAction) -> AuditEntry {
        AuditEntry {
            actor: by.map(|w| w.user.login.clone()),
            token_id: by.and_then(|w| w.origin.token_id),
            client_addr: by.and_then(|w| w.origin.client_addr.clone()),
            user_agent: by.and_then(|w| w.origin.user_agent.clone()),
            ..AuditEntry::new(action, AuditOutcome::Ok)
        }
    }

    /// Refuses `who` unless they own the crate (`None`: not made yet) or
    /// administer the registry.
    async fn may_manage_trust(
        &self,
        who: &Identity,
        reg: &crate::Registry,
        krate: Option<&berth_store::CrateRow>,
        name: &str,
    ) -> Result<(), ServiceError> {
        if who.is_admin_of(reg.id) {
            return Ok(());
        }
        if let Some(k) = krate {
            if self.meta.is_crate_owner(k.id, who.user.id).await? {
                return Ok(());
            }
        }
        Err(ServiceError::Forbidden(format!(
            "only the owners of crate `{}` and the admins of registry `{}` manage its trusted \
             publishing",
            clip(name, 64),
            reg.name
        )))
    }

    /// A crate's trust configurations and flag, for the crate page of a
    /// viewer who may change them (`None` for anyone else).
    pub async fn trust_panel(
        &self,
        who: Option<&Identity>,
        registry: &str,
        krate: &str,
    ) -> Result<Option<TrustPanel>, ServiceError> {
        let Some(who) = who else { return Ok(None) };
        let Ok((reg, _)) = self.publish_target(registry) else {
            return Ok(None);
        };
        let canon = berth_protocol::canonical_name(krate);
        let Some(found) = self.meta.find_crate(reg.id, &canon).await? else {
            return Ok(None);
        };
        if self
            .may_manage_trust(who, reg, Some(&found), krate)
            .await
            .is_err()
        {
            return Ok(None);
        }
        Ok(Some(TrustPanel {
            configs: self.trust_list(registry, krate).await?,
            trusted_only: found.trusted_only,
            issuers: self
                .config
                .trusted_publishing
                .issuers
                .iter()
                .map(|i| i.name.clone())
                .collect(),
        }))
    }

    /// Removes one of a crate's trust configurations (`berth trust remove`,
    /// or an owner or registry admin on the crate page).
    pub async fn trust_remove(
        &self,
        by: Option<&Identity>,
        registry: &str,
        krate: &str,
        id: i64,
    ) -> Result<(), ServiceError> {
        let (reg, _) = self.publish_target(registry)?;
        let canon = berth_protocol::canonical_name(krate);
        if let Some(who) = by {
            let found = self.meta.find_crate(reg.id, &canon).await?;
            self.may_manage_trust(who, reg, found.as_ref(), krate)
                .await?;
        }
        let audit = AuditEntry {
            registry: Some(reg.name.clone()),
            crate_name: Some(clip(krate, 64)),
            detail: Some(format!("id={id}")),
            ..Self::trust_audit_entry(by, AuditAction::TrustRemove)
        };
        if self
            .meta
            .trust_config_remove(reg.id, &canon, id, &audit)
            .await?
        {
            Ok(())
        } else {
            Err(ServiceError::NotFound(format!(
                "crate `{}` of registry `{}` has no trust configuration {id} (`berth trust list` \
                 shows them)",
                clip(krate, 64),
                reg.name
            )))
        }
    }

    /// Sets whether only trusted publishing may publish a crate (`berth
    /// trust only`, or an owner or registry admin on the crate page, who
    /// must have signed in within [`FRESH_SIGN_IN`] seconds); with it on,
    /// publishes with ordinary tokens are refused.
    pub async fn set_trusted_only(
        &self,
        by: Option<&Identity>,
        registry: &str,
        krate: &str,
        on: bool,
    ) -> Result<(), ServiceError> {
        let (reg, _) = self.publish_target(registry)?;
        let found = self
            .meta
            .find_crate(reg.id, &berth_protocol::canonical_name(krate))
            .await?
            .ok_or_else(|| {
                ServiceError::NotFound(format!(
                    "crate `{}` does not exist in registry `{}`",
                    clip(krate, 64),
                    reg.name
                ))
            })?;
        if let Some(who) = by {
            self.may_manage_trust(who, reg, Some(&found), krate).await?;
            let fresh = who
                .signed_in_at
                .is_some_and(|at| self.clock.now_unix() - at <= FRESH_SIGN_IN);
            if !fresh {
                return Err(ServiceError::Forbidden(format!(
                    "changing whether crate `{}` accepts only trusted publishing needs a fresh \
                     sign-in: sign out and in again, then change it within {} minutes",
                    found.name,
                    FRESH_SIGN_IN / 60
                )));
            }
        }
        let audit = AuditEntry {
            registry: Some(reg.name.clone()),
            crate_name: Some(found.name.clone()),
            detail: Some(format!("trusted_only={on}")),
            ..Self::trust_audit_entry(by, AuditAction::TrustOnly)
        };
        self.meta.set_trusted_only(found.id, on, &audit).await?;
        Ok(())
    }

    async fn audit_exchange(
        &self,
        registry: &str,
        outcome: AuditOutcome,
        client: Option<IpAddr>,
        detail: String,
    ) {
        let entry = AuditEntry {
            registry: Some(registry.to_string()),
            client_addr: client.map(|a| a.to_string()),
            detail: Some(clip(&detail, 512)),
            ..AuditEntry::new(AuditAction::TrustExchange, outcome)
        };
        if let Err(e) = self
            .meta
            .append_audit_at(&entry, self.clock.now_unix())
            .await
        {
            tracing::warn!(error = %e, "could not write the audit entry of a token exchange");
        }
    }

    /// Exchanges a CI job's OIDC token for a 30-minute publish token of
    /// the crates whose configurations admit it. Every outcome is audited.
    pub async fn exchange_trusted_token(
        &self,
        registry: &str,
        jwt: &str,
        client: Option<IpAddr>,
    ) -> Result<ExchangedToken, ServiceError> {
        let result = self.exchange(registry, jwt).await;
        match &result {
            Ok((_, detail)) => {
                self.audit_exchange(registry, AuditOutcome::Ok, client, detail.clone())
                    .await
            }
            Err(e) => {
                self.audit_exchange(registry, AuditOutcome::Denied, client, e.to_string())
                    .await
            }
        }
        result.map(|(token, _)| token)
    }

    async fn exchange(
        &self,
        registry: &str,
        jwt: &str,
    ) -> Result<(ExchangedToken, String), ServiceError> {
        let (reg, via) = self.publish_target(registry)?;
        let asked = via.unwrap_or(reg);
        if self.config.trusted_publishing.issuers.is_empty() {
            return Err(ServiceError::NotFound(
                "trusted publishing is not configured on this server \
                 ([[trusted_publishing.issuers]])"
                    .into(),
            ));
        }
        let jwt = jwt.trim();
        if jwt.is_empty() || jwt.len() > verify::MAX_TOKEN {
            return Err(ServiceError::BadRequest(format!(
                "`jwt` must be an OIDC token of at most {} bytes",
                verify::MAX_TOKEN
            )));
        }
        let iss = verify::unverified_issuer(jwt)?;
        let issuer = self
            .config
            .trusted_publishing
            .issuers
            .iter()
            .find(|i| i.issuer == iss)
            .ok_or_else(|| {
                ServiceError::Unauthorized(format!(
                    "the OIDC token was refused: its issuer `{}` is not trusted by this server",
                    clip(&iss, 128)
                ))
            })?;
        let now = self.clock.now_unix();
        let verified = self.trust_keys.verify(issuer, jwt, now).await?;
        let claims = &verified.claims;
        let repository = claims.repository.to_ascii_lowercase();
        let configs: Vec<TrustConfigRow> = self
            .meta
            .trust_configs_for(reg.id, &issuer.name, &repository)
            .await?
            .into_iter()
            .filter(|c| admits(c, claims))
            .collect();
        let Some(first) = configs.first() else {
            return Err(ServiceError::Forbidden(format!(
                "no crate of registry `{}` trusts repository `{}`, workflow `{}`{} of issuer \
                 `{}`: an owner adds one with `berth trust add CRATE --registry {} --issuer {} \
                 --repository {} --workflow {}`",
                reg.name,
                claims.repository,
                claims.workflow,
                claims
                    .environment
                    .as_deref()
                    .map_or_else(String::new, |e| format!(", environment `{e}`")),
                issuer.name,
                reg.name,
                issuer.name,
                claims.repository,
                claims.workflow
            )));
        };
        if !self
            .meta
            .trust_jti_once(
                &issuer.name,
                &verified.jti,
                verified.exp + verify::LEEWAY,
                now,
            )
            .await?
        {
            return Err(ServiceError::Unauthorized(
                "the OIDC token was refused: it was exchanged before (each token's `jti` is \
                 accepted once)"
                    .into(),
            ));
        }
        let user = self
            .meta
            .user_by_id(first.created_by)
            .await?
            .ok_or_else(|| {
                ServiceError::Internal("a trust configuration's user vanished".into())
            })?;
        if user.disabled {
            return Err(ServiceError::Forbidden(format!(
                "the trust configuration acts for user `{}`, who is disabled: an owner adds a \
                 new configuration",
                user.login
            )));
        }
        let crates: Vec<String> = configs
            .iter()
            .filter(|c| c.created_by == first.created_by)
            .map(|c| c.crate_name.clone())
            .collect();
        let claims_json = serde_json::to_string(claims)
            .map_err(|e| ServiceError::Internal(format!("encoding claims: {e}")))?;
        let secret = generate_token();
        let hash = hash_token(&secret);
        let scopes = Scopes::parse(&format!(
            "{},{}",
            Scope::PublishNew.as_str(),
            Scope::PublishUpdate.as_str()
        ))
        .map_err(ServiceError::Internal)?;
        let detail = format!(
            "repository={} workflow={} ref={} sha={} run={} crates={} acts_for={}",
            claims.repository,
            claims.workflow,
            claims.git_ref.as_deref().unwrap_or("-"),
            claims.sha.as_deref().unwrap_or("-"),
            claims.run_id.as_deref().unwrap_or("-"),
            crates.join(","),
            user.login
        );
        let audit = AuditEntry {
            actor: Some(user.login.clone()),
            registry: Some(asked.name.clone()),
            detail: Some(clip(&format!("trusted publishing: {detail}"), 512)),
            ..AuditEntry::new(AuditAction::TokenCreate, AuditOutcome::Ok)
        };
        let name = format!("trusted-publishing-{}", &hash[..12]);
        self.meta
            .create_token(NewToken {
                user_id: user.id,
                name: Some(&name),
                token_hash: &hash,
                scopes: &scopes.to_list(),
                crate_patterns: StoredList(crates),
                registry: Some(&asked.name),
                allowed_cidrs: StoredList::default(),
                expires_at: Some(now + TOKEN_TTL),
                parent_id: None,
                trust_claims: Some(claims_json),
                audit,
            })
            .await?;
        Ok((ExchangedToken { token: secret }, detail))
    }

    /// Revokes the trusted-publishing token the request carries (`DELETE`
    /// on the exchange's path).
    pub async fn revoke_trusted_token(&self, who: Option<&Identity>) -> Result<(), ServiceError> {
        let who = who.ok_or_else(|| {
            ServiceError::Unauthorized(
                "send the trusted-publishing token to revoke in the Authorization header".into(),
            )
        })?;
        if who.trust_claims.is_none() {
            return Err(ServiceError::BadRequest(
                "this is not a trusted-publishing token; revoke other tokens with \
                 `berth token revoke` or on the account page"
                    .into(),
            ));
        }
        let audit = AuditEntry {
            actor: Some(who.user.login.clone()),
            token_id: Some(who.token_id),
            detail: Some("trusted-publishing token revoked by itself".into()),
            ..AuditEntry::new(AuditAction::TokenRevoke, AuditOutcome::Ok)
        };
        self.meta
            .revoke_token(who.user.id, who.token_id, audit)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(workflow: &str, environment: Option<&str>) -> TrustConfigRow {
        TrustConfigRow {
            id: 1,
            registry_id: 1,
            crate_name: "tool".into(),
            canon_name: "tool".into(),
            issuer: "ci".into(),
            repository: "acme/tool".into(),
            workflow: workflow.into(),
            environment: environment.map(str::to_string),
            created_by: 1,
            created_at: 0,
        }
    }

    fn claims(workflow: &str, environment: Option<&str>) -> CiClaims {
        CiClaims {
            repository: "acme/tool".into(),
            workflow: workflow.into(),
            environment: environment.map(str::to_string),
            git_ref: None,
            sha: None,
            run_id: None,
            issuer: "ci".into(),
        }
    }

    #[test]
    fn a_configuration_admits_its_workflow_and_environment_only() {
        assert!(admits(
            &config("release.yml", None),
            &claims("release.yml", None)
        ));
        assert!(admits(
            &config("release.yml", None),
            &claims("release.yml", Some("prod"))
        ));
        assert!(!admits(
            &config("release.yml", None),
            &claims("ci.yml", None)
        ));
        assert!(admits(
            &config("release.yml", Some("prod")),
            &claims("release.yml", Some("PROD"))
        ));
        assert!(!admits(
            &config("release.yml", Some("prod")),
            &claims("release.yml", None)
        ));
        assert!(!admits(
            &config("release.yml", Some("prod")),
            &claims("release.yml", Some("staging"))
        ));
    }

    #[test]
    fn repositories_and_workflows_are_checked() {
        assert!(valid_repository("acme/tool"));
        assert!(valid_repository("Acme-Org/tool.rs"));
        assert!(!valid_repository("acme"));
        assert!(!valid_repository("acme/tool/x"));
        assert!(!valid_repository("acme/"));
        assert!(!valid_repository("ac me/tool"));
        assert!(valid_workflow("release.yml"));
        assert!(valid_workflow("publish.yaml"));
        assert!(!valid_workflow("release"));
        assert!(!valid_workflow("../release.yml"));
        assert!(!valid_workflow("a/release.yml"));
    }
}
