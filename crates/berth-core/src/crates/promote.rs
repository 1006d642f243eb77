//! Promotion: a version copied from one hosted registry into another
//! (staging to production) exactly as it is: the same `.crate` bytes and
//! checksum (the blob is shared), the same metadata and README, the same
//! index line but for dependencies that named the target registry, which
//! become its own. A dependency on the source registry's own crates must
//! already be in the target at a matching version, else the promotion is
//! refused with the list of what to promote first (or, `with_deps`, they
//! are promoted first, in order). A new crate in the target gets the
//! source crate's owners. Each promoted version writes its `publish` row
//! and a `promote` row (who promoted it, from where), and so reaches
//! webhooks and the target's transparency log like any publish.
//!
//! Who may promote: the command line's operator, or a user with the
//! `promote` (or `admin`) role in the target registry (or a server
//! administrator) who may read the source.

use berth_store::{canon_name, canon_vers, AuditAction, AuditEntry, NewVersion, RegistryKind};

use crate::error::ServiceError;
use crate::{Berth, Identity, Registry};

/// A promotion asked for.
#[derive(Debug, Clone)]
pub struct PromoteRequest {
    pub krate: String,
    pub version: String,
    pub from: String,
    pub to: String,
    /// Promote missing dependencies of the source registry first.
    pub with_deps: bool,
}

/// One version a promotion looked at: copied now, or found there already.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Promoted {
    pub krate: String,
    pub version: String,
    /// False when the target held the same bytes already.
    pub copied: bool,
}

/// A dependency the target lacks.
struct Missing {
    name: String,
    req: String,
    /// The newest version of the source that matches, if any.
    found: Option<String>,
}

impl Berth {
    /// Promotes `req.krate@req.version` from one hosted registry into
    /// another; the versions copied (dependencies first), or a refusal.
    pub async fn promote(
        &self,
        by: Option<&Identity>,
        req: &PromoteRequest,
    ) -> Result<Vec<Promoted>, ServiceError> {
        let from = self.registry(&req.from)?;
        let to = self.registry(&req.to)?;
        for r in [from, to] {
            if r.kind() != RegistryKind::Hosted {
                return Err(ServiceError::BadRequest(format!(
                    "registry `{}` is a {} registry; promotion copies between hosted registries",
                    r.name,
                    r.kind()
                )));
            }
        }
        if from.id == to.id {
            return Err(ServiceError::BadRequest(
                "the source and the target are the same registry".into(),
            ));
        }
        if let Some(who) = by {
            // A token that may publish, new crates and new versions.
            who.require(crate::Scope::PublishNew)?;
            who.require(crate::Scope::PublishUpdate)?;
            self.authorize_registry(from, who, crate::Role::Read)?;
            if self
                .authorize_registry(to, who, crate::Role::Promote)
                .is_err()
            {
                return Err(ServiceError::Forbidden(format!(
                    "promoting into registry `{}` needs its promote (or admin) role (`berth role \
                     grant --registry {} --user {} --role promote`)",
                    to.name, to.name, who.user.login
                )));
            }
        }
        let mut done = Vec::new();
        self.promote_one(
            by,
            from,
            to,
            &req.krate,
            &req.version,
            req.with_deps,
            &mut done,
        )
        .await?;
        Ok(done)
    }

    /// Promotes one version, its missing dependencies first when
    /// `with_deps`; appends what it did to `done`.
    #[allow(clippy::too_many_arguments)]
    fn promote_one<'a>(
        &'a self,
        by: Option<&'a Identity>,
        from: &'a Registry,
        to: &'a Registry,
        name: &'a str,
        version: &'a str,
        with_deps: bool,
        done: &'a mut Vec<Promoted>,
    ) -> futures::future::BoxFuture<'a, Result<(), ServiceError>> {
        Box::pin(async move {
            let canon = canon_name(name);
            let not_found = || {
                ServiceError::NotFound(format!(
                    "registry `{}` has no version `{name}@{version}`",
                    from.name
                ))
            };
            let source = self
                .meta
                .find_crate(from.id, &canon)
                .await?
                .ok_or_else(not_found)?;
            let copy = self
                .meta
                .version_copy(source.id, canon_vers(version))
                .await?
                .ok_or_else(not_found)?;
            if copy.yanked {
                return Err(ServiceError::BadRequest(format!(
                    "`{}@{}` is yanked in registry `{}`: yanked versions are not promoted",
                    source.name, copy.vers, from.name
                )));
            }
            // Reached twice through two dependents: once is enough.
            if done
                .iter()
                .any(|p| canon_name(&p.krate) == canon && p.version == copy.vers)
            {
                return Ok(());
            }
            let target = self.meta.find_crate(to.id, &canon).await?;
            if let Some(t) = &target {
                if let Some(there) = self.meta.version_copy(t.id, &copy.canon_vers).await? {
                    if there.cksum == copy.cksum {
                        done.push(Promoted {
                            krate: source.name.clone(),
                            version: copy.vers.clone(),
                            copied: false,
                        });
                        return Ok(());
                    }
                    return Err(ServiceError::Conflict(format!(
                        "registry `{}` has `{}@{}` already, with other contents (checksum {}, \
                         not {}): it cannot be promoted over",
                        to.name, source.name, copy.vers, there.cksum, copy.cksum
                    )));
                }
            }
            // The index line: dependencies that named the target become its
            // own; those on the source's own crates must be in the target.
            let mut line: serde_json::Value = serde_json::from_str(&copy.index_line)
                .map_err(|e| ServiceError::Internal(format!("stored index line: {e}")))?;
            let target_urls = [self.index_url(to), format!("sparse+{}", self.index_url(to))];
            let mut missing = Vec::new();
            let deps = line["deps"]
                .as_array_mut()
                .map(std::mem::take)
                .unwrap_or_default();
            let mut kept = Vec::with_capacity(deps.len());
            for mut dep in deps {
                let registry = dep
                    .get("registry")
                    .and_then(|r| r.as_str())
                    .map(str::to_string);
                match registry {
                    Some(r)
                        if target_urls
                            .iter()
                            .any(|u| u.trim_end_matches('/') == r.trim_end_matches('/')) =>
                    {
                        if let Some(obj) = dep.as_object_mut() {
                            obj.remove("registry");
                        }
                    }
                    Some(_) => {}
                    None => {
                        let dep_name = dep
                            .get("package")
                            .or_else(|| dep.get("name"))
                            .and_then(|n| n.as_str())
                            .unwrap_or("")
                            .to_string();
                        let dep_req = dep["req"].as_str().unwrap_or("*").to_string();
                        if self.match_in(to, &dep_name, &dep_req).await?.is_none() {
                            let found = self.match_in(from, &dep_name, &dep_req).await?;
                            missing.push(Missing {
                                name: dep_name,
                                req: dep_req,
                                found,
                            });
                        }
                    }
                }
                kept.push(dep);
            }
            line["deps"] = serde_json::Value::Array(kept);
            if !missing.is_empty() {
                let unpromotable: Vec<&Missing> =
                    missing.iter().filter(|m| m.found.is_none()).collect();
                if with_deps && unpromotable.is_empty() {
                    for m in &missing {
                        let v = m.found.as_deref().unwrap_or_default();
                        self.promote_one(by, from, to, &m.name, v, true, done)
                            .await?;
                    }
                } else {
                    let list = missing
                        .iter()
                        .map(|m| match &m.found {
                            Some(v) => format!("`{}@{v}` (for `{} {}`)", m.name, m.name, m.req),
                            None => format!(
                                "`{} {}` (which registry `{}` does not have either)",
                                m.name, m.req, from.name
                            ),
                        })
                        .collect::<Vec<_>>()
                        .join(", ");
                    return Err(ServiceError::BadRequest(format!(
                        "registry `{}` lacks dependencies of `{}@{}`; promote them first: \
                         {list}{}",
                        to.name,
                        source.name,
                        copy.vers,
                        if unpromotable.is_empty() {
                            " (or promote with --with-deps)"
                        } else {
                            ""
                        }
                    )));
                }
            }
            self.copy_version(by, from, to, &source, copy, &line)
                .await?;
            done.push(Promoted {
                krate: source.name.clone(),
                version: version_of(&line),
                copied: true,
            });
            Ok(())
        })
    }

    /// Writes the copy into the target: as published by the source crate's
    /// first owner (the new crate's owner), its other owners added, and a
    /// `promote` audit row naming who promoted it.
    async fn copy_version(
        &self,
        by: Option<&Identity>,
        from: &Registry,
        to: &Registry,
        source: &berth_store::CrateRow,
        copy: berth_store::VersionCopy,
        line: &serde_json::Value,
    ) -> Result<(), ServiceError> {
        let owners = self.meta.list_owners(source.id).await?;
        let teams = self.meta.list_owner_teams(source.id).await?;
        let first = owners.first().ok_or_else(|| {
            ServiceError::BadRequest(format!(
                "crate `{}` of registry `{}` has no user owner to own its copy",
                source.name, from.name
            ))
        })?;
        let origin = by.map(|w| w.origin.clone()).unwrap_or_default();
        let actor = berth_store::Actor {
            user_id: first.id,
            login: first.login.clone(),
            is_admin: true,
            origin: origin.clone(),
        };
        let canon = canon_name(&source.name);
        let nv = NewVersion {
            registry_id: to.id,
            name: source.name.clone(),
            canon_name: canon.clone(),
            vers: copy.vers.clone(),
            canon_vers: copy.canon_vers.clone(),
            index_line: line.to_string(),
            cksum: copy.cksum.clone(),
            size: copy.size,
            metadata_json: copy.metadata,
            readme: copy.readme,
            description: copy.description,
            new_crate_only: false,
            trust_claims: copy.trust_claims,
        };
        let outcome = self.meta.publish(&nv, &actor, &to.name).await?;
        to.source
            .changed(to, &canon, outcome.revision, outcome.new_crate);
        if outcome.new_crate {
            let others: Vec<String> = owners
                .iter()
                .skip(1)
                .map(|u| u.login.clone())
                .chain(
                    teams
                        .iter()
                        .map(|t| format!("{}{}", berth_store::TEAM_PREFIX, t.name)),
                )
                .collect();
            if !others.is_empty() {
                if let Some(krate) = self.meta.find_crate(to.id, &canon).await? {
                    self.meta
                        .change_owners(&to.name, krate.id, &source.name, &others, true, &actor)
                        .await?;
                }
            }
        }
        let promoter = by.map_or_else(
            || {
                berth_store::operator()
                    .unwrap_or("the operator")
                    .to_string()
            },
            |w| w.user.login.clone(),
        );
        let entry = AuditEntry {
            actor: Some(promoter.clone()),
            registry: Some(to.name.clone()),
            crate_name: Some(source.name.clone()),
            version: Some(copy.vers.clone()),
            detail: Some(format!(
                "from registry `{}` (checksum {})",
                from.name, copy.cksum
            )),
            token_id: origin.token_id,
            client_addr: origin.client_addr,
            user_agent: origin.user_agent,
            ..AuditEntry::new(AuditAction::Promote, berth_store::AuditOutcome::Ok)
        };
        self.meta
            .append_audit_at(&entry, self.clock.now_unix())
            .await?;
        tracing::info!(
            krate = %source.name,
            version = %copy.vers,
            from = %from.name,
            to = %to.name,
            by = %promoter,
            "promoted"
        );
        Ok(())
    }

    /// The newest live version of `name` in a registry matching `req`.
    async fn match_in(
        &self,
        reg: &Registry,
        name: &str,
        req: &str,
    ) -> Result<Option<String>, ServiceError> {
        let Ok(req) = semver::VersionReq::parse(req) else {
            return Ok(None);
        };
        let Some(krate) = self.meta.find_crate(reg.id, &canon_name(name)).await? else {
            return Ok(None);
        };
        Ok(self
            .meta
            .crate_versions(krate.id)
            .await?
            .into_iter()
            .filter(|v| !v.yanked)
            .filter_map(|v| semver::Version::parse(&v.vers).ok().map(|p| (p, v.vers)))
            .filter(|(p, _)| req.matches(p))
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, v)| v))
    }
}

/// The version an index line names.
fn version_of(line: &serde_json::Value) -> String {
    line["vers"].as_str().unwrap_or_default().to_string()
}
