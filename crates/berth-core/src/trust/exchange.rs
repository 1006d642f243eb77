//! The exchange: a CI job's OIDC token, verified (`verify.rs`) and matched
//! against the trust configurations, becomes a 30-minute publish token of
//! the user a configuration acts for; and that token's revocation by
//! itself. Every exchange is audited, refusals with their reason.

use std::net::IpAddr;

use berth_store::{AuditAction, AuditEntry, AuditOutcome, NewToken, StoredList, TrustConfigRow};

use super::{admits, verify, ExchangedToken, TOKEN_TTL};
use crate::accounts::auth::{generate_token, hash_token, Scope, Scopes};
use crate::error::ServiceError;
use crate::text::clip;
use crate::{Berth, Identity};

impl Berth {
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
