//! Trust configurations: which CI identities may publish a crate, added,
//! listed and removed by the operator (`berth trust`) or by a crate's
//! owners and its registry's admins (the crate page), and the crate's
//! `trusted_only` flag. Decides who may change them; never verifies a
//! token (`verify.rs`) nor makes one (`exchange.rs`).

use berth_store::{AuditAction, AuditEntry, AuditOutcome, NewTrustConfig, TrustConfigRow};

use super::{valid_repository, valid_workflow, TrustPanel, TrustRequest, TrustView, FRESH_SIGN_IN};
use crate::error::ServiceError;
use crate::text::clip;
use crate::{Berth, Identity};

impl Berth {
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
                "repository `{}` is not OWNER/REPO (GitHub) or GROUP[/SUBGROUP]/PROJECT (GitLab)",
                clip(&req.repository, 64)
            )));
        }
        if !valid_workflow(&req.workflow) {
            return Err(ServiceError::BadRequest(format!(
                "workflow `{}` is not a workflow file (`release.yml`, the file under \
                 .github/workflows; or a GitLab pipeline file's path, `.gitlab-ci.yml`)",
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
}
