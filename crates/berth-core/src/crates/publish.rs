//! Publishing a version: the one write path that takes untrusted archives.
//!
//! Order matters and is the invariant "no index entry without its blob":
//! authenticate, split and validate the body, check the metadata against the
//! registry (ownership, dependencies), inspect the archive, store the blob,
//! and only then record the version in one SQL transaction. A failure at any
//! step before the transaction leaves at most an unreferenced blob, which
//! `berth gc` removes. This module never writes SQL or blob keys itself.

use berth_protocol::{parse_publish_body, BodyError, MetadataError, PublishMetadata};
use berth_store::{AuditAction, NewVersion};
use bytes::Bytes;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::accounts::auth::Scope;
use crate::crates::checks::Change;
use crate::error::ServiceError;
use crate::{Berth, Identity};

/// The success body cargo expects.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PublishWarnings {
    pub invalid_categories: Vec<String>,
    pub invalid_badges: Vec<String>,
    pub other: Vec<String>,
}

impl From<BodyError> for ServiceError {
    fn from(e: BodyError) -> Self {
        if e.is_too_large() {
            ServiceError::TooLarge(e.to_string())
        } else {
            ServiceError::BadRequest(e.to_string())
        }
    }
}

impl From<MetadataError> for ServiceError {
    fn from(e: MetadataError) -> Self {
        ServiceError::BadRequest(e.to_string())
    }
}

impl From<berth_tarball::TarballError> for ServiceError {
    fn from(e: berth_tarball::TarballError) -> Self {
        match e {
            berth_tarball::TarballError::TooLarge { .. } => ServiceError::TooLarge(e.to_string()),
            _ => ServiceError::BadRequest(e.to_string()),
        }
    }
}

/// `unix` as the index's `pubtime`: seconds-precision RFC 3339 UTC.
fn pubtime_at(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

impl Berth {
    /// The checks a publish can pass before its body is read: the registry
    /// takes publishes, and the caller has a token with a publish scope and
    /// may publish something there (the `publish` role, or read access and
    /// a crate it owns, itself or through a team). Each refusal of a caller
    /// with a token writes a `denied` row.
    pub async fn precheck_publish(
        &self,
        registry: &str,
        who: Option<&Identity>,
    ) -> Result<(), ServiceError> {
        let (reg, via) = self.publish_target(registry)?;
        if let Some(via) = via {
            self.authorize_read(via, who)?;
        }
        let who = crate::crates::checks::need_token(who, via.unwrap_or(reg))?;
        if !(who.scopes.has(Scope::PublishNew) || who.scopes.has(Scope::PublishUpdate)) {
            self.audit_publish_refused(who, reg, "token lacks publish-new and publish-update")
                .await;
            return Err(ServiceError::Forbidden(
                "this token has neither the `publish-new` nor the `publish-update` scope".into(),
            ));
        }
        let Err(no_publish_role) = self.authorize_registry(reg, who, crate::Role::Publish) else {
            return Ok(());
        };
        // Owners publish new versions of what they own with any role that
        // reads; the `publish` role is for new names.
        let refused = match self.authorize_registry(reg, who, crate::Role::Read) {
            Err(e) => Some(e),
            Ok(()) if self.meta.owns_crate_in(reg.id, who.user.id).await? => None,
            Ok(()) => Some(no_publish_role),
        };
        match refused {
            None => Ok(()),
            Some(e) => {
                self.audit_publish_refused(who, reg, "no publish role and no crate owned")
                    .await;
                Err(e)
            }
        }
    }

    /// A crate's owners as `cargo owner --list` names them: user logins,
    /// then `team:NAME`, comma-separated.
    async fn owner_names(&self, crate_id: i64) -> Result<String, ServiceError> {
        let mut names: Vec<String> = self
            .meta
            .list_owners(crate_id)
            .await?
            .into_iter()
            .map(|u| u.login)
            .collect();
        names.extend(
            self.meta
                .list_owner_teams(crate_id)
                .await?
                .into_iter()
                .map(|t| format!("team:{}", t.name)),
        );
        Ok(names.join(", "))
    }

    /// The `denied` row of a publish refused before its body (so its crate)
    /// is known.
    async fn audit_publish_refused(&self, who: &Identity, reg: &crate::Registry, why: &str) {
        let entry = berth_store::AuditEntry {
            actor: Some(who.user.login.clone()),
            registry: Some(reg.name.clone()),
            detail: Some(why.to_string()),
            token_id: Some(who.token_id),
            client_addr: who.origin.client_addr.clone(),
            user_agent: who.origin.user_agent.clone(),
            ..berth_store::AuditEntry::new(AuditAction::Publish, berth_store::AuditOutcome::Denied)
        };
        self.audit_refusal(&entry).await;
    }

    /// Publishes the body of a `PUT /api/v1/crates/new`.
    pub async fn publish(
        &self,
        registry: &str,
        who: Option<&Identity>,
        body: Bytes,
    ) -> Result<PublishWarnings, ServiceError> {
        self.precheck_publish(registry, who).await?;
        let (target, via) = self.publish_target(registry)?;
        let (reg, via) = (target.clone(), via.cloned());
        let who = crate::crates::checks::need_token(who, via.as_ref().unwrap_or(&reg))?;
        let limits = &self.config.limits;
        let parts = parse_publish_body(&body, limits.max_metadata_size, limits.max_crate_size)?;
        let mut valid =
            PublishMetadata::from_json(parts.metadata)?.validate_with(&limits.metadata())?;
        let meta = &valid.meta;
        let (audit_name, audit_vers) = (meta.name.clone(), meta.vers.clone());
        let refused = Change::of(AuditAction::Publish, &reg, &audit_name, Some(&audit_vers));
        let deny = |why: &'static str| self.audit_denied(who, refused, why);

        // Scope and ownership first, so that a refused caller learns nothing
        // about the archive and costs no inspection work.
        let existing = self.meta.find_crate(reg.id, &valid.canon_name).await?;
        let scope = match &existing {
            Some(_) => Scope::PublishUpdate,
            None => Scope::PublishNew,
        };
        let change = Change {
            krate: &meta.name,
            vers: Some(&meta.vers),
            ..refused
        };
        self.require_scope(who, scope, change).await?;
        if existing.is_none() {
            if let Err(e) = self.authorize_registry(&reg, who, crate::Role::Publish) {
                deny("no publish role for a new crate").await;
                return Err(e);
            }
        }
        if let Some(krate) = existing.as_ref().filter(|k| k.trusted_only) {
            if who.trust_claims.is_none() {
                deny("crate accepts only trusted publishing").await;
                return Err(ServiceError::Forbidden(format!(
                    "crate `{}` is published only through trusted publishing: publish it from \
                     its CI workflow (`berth trust list {} --registry {}` shows which), or have \
                     an operator run `berth trust only {} --registry {} --off`",
                    krate.name, krate.name, reg.name, krate.name, reg.name
                )));
            }
        }
        if let Some(krate) = &existing {
            let owner =
                who.is_admin_of(reg.id) || self.meta.is_crate_owner(krate.id, who.user.id).await?;
            if !owner {
                // Whom to ask, whatever spelling was sent.
                let owners = self.owner_names(krate.id).await?;
                deny("not an owner").await;
                let login = &who.user.login;
                return Err(ServiceError::Forbidden(if krate.name != meta.name {
                    format!(
                        "crate `{sent}` is the existing crate `{name}` (names that differ only in \
                         case or `-`/`_` are one crate), and this token's user `{login}` is not \
                         one of its owners ({owners}); ask one of them to run `cargo owner --add \
                         {login} {name}` and publish it as `{name}`, or choose another name",
                        sent = meta.name,
                        name = krate.name,
                    )
                } else {
                    format!(
                        "this token's user `{login}` is not an owner of crate `{name}` (nor a \
                         member of an owning team); its owners are {owners}: ask one of them to \
                         run `cargo owner --add {login} {name}`",
                        name = krate.name,
                    )
                }));
            }
            if krate.name != meta.name {
                return Err(ServiceError::BadRequest(format!(
                    "crate was previously named `{}`; publish it under that exact name",
                    krate.name
                )));
            }
        }

        // A version that exists is refused before the archive is inspected or
        // stored, so re-running `cargo publish` costs no work and no disk.
        // (Two racing publishes both pass here; the unique constraint at
        // commit decides, and the loser's blob is left for `berth gc`.)
        if let Some(krate) = &existing {
            if let Some(vers) = self
                .meta
                .existing_version(krate.id, &valid.canon_vers)
                .await?
            {
                return Err(ServiceError::Conflict(format!(
                    "crate version `{}@{vers}` is already uploaded",
                    krate.name
                )));
            }
        }

        // A new name that a proxy member's upstream has would be served
        // differently to different users of a virtual registry.
        if existing.is_none() {
            if let Err(e) = self.check_new_name_upstream(&reg, &meta.name).await {
                if matches!(e, ServiceError::Forbidden(_)) {
                    deny("name exists upstream (dependency confusion guard)").await;
                }
                return Err(e);
            }
        }

        // Dependencies: this registry's must exist; others must be allowed;
        // names hosted here are recorded as this registry's (see
        // `confusion.rs`).
        let mut recorded = Vec::with_capacity(meta.deps.len());
        for dep in &meta.deps {
            recorded.push(
                self.dependency_registry(&reg, via.as_ref(), &valid.canon_name, dep)
                    .await?,
            );
        }
        for (dep, registry) in valid.meta.deps.iter_mut().zip(recorded) {
            dep.registry = registry;
        }
        let meta = &valid.meta;

        // The archive: CPU-bound, so off the async workers.
        let crate_bytes = body.slice_ref(parts.crate_file);
        let tar_limits = berth_tarball::Limits {
            max_unpacked_size: limits.max_unpacked_size,
            max_entries: limits.max_crate_entries,
            ..Default::default()
        };
        let (name, vers, readme_file) = (
            meta.name.clone(),
            meta.vers.clone(),
            meta.readme_file.clone(),
        );
        let inspect_bytes = crate_bytes.clone();
        let (info, cksum) = tokio::task::spawn_blocking(move || {
            let info = berth_tarball::inspect(
                &inspect_bytes,
                &name,
                &vers,
                readme_file.as_deref(),
                &tar_limits,
            )?;
            let cksum = hex::encode(Sha256::digest(&inspect_bytes));
            Ok::<_, ServiceError>((info, cksum))
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("archive inspection task failed: {e}")))??;

        // Every check runs before the blob is written, so a refused publish
        // leaves nothing behind.
        let index_line = valid
            .index_entry(&cksum, &pubtime_at(self.clock.now_unix()))
            .to_line();
        let max_line = limits.max_index_line_bytes;
        if index_line.len() as u64 > max_line {
            return Err(ServiceError::BadRequest(format!(
                "the index entry of this version would be {} bytes, more than the {max_line} allowed \
                 (limits.max_index_line_bytes); it declares too many or too large dependencies and features",
                index_line.len()
            )));
        }
        if let Some(krate) = &existing {
            let max_file = limits.max_index_file_bytes;
            let now = self.meta.index_file_bytes(krate.id).await?;
            if now + index_line.len() as u64 + 1 > max_file {
                return Err(ServiceError::BadRequest(format!(
                    "crate `{}` has {now} bytes of index entries; this version would take it past the \
                     {max_file} allowed (limits.max_index_file_bytes)",
                    krate.name
                )));
            }
        }
        self.blobs.put(&cksum, crate_bytes.clone()).await?;

        let readme = info.readme.or_else(|| meta.readme.clone());
        let mut stored_meta = meta.clone();
        stored_meta.readme = None;
        let new_version = NewVersion {
            new_crate_only: !who.scopes.has(Scope::PublishUpdate),
            trust_claims: who.trust_claims.clone(),
            registry_id: reg.id,
            name: meta.name.clone(),
            canon_name: valid.canon_name.clone(),
            vers: meta.vers.clone(),
            canon_vers: valid.canon_vers.clone(),
            index_line,
            cksum: cksum.clone(),
            size: crate_bytes.len() as i64,
            metadata_json: serde_json::to_string(&stored_meta)
                .map_err(|e| ServiceError::Internal(e.to_string()))?,
            readme,
            description: meta.description.clone(),
        };
        let outcome = self
            .meta
            .publish(&new_version, &who.actor(reg.id), &reg.name)
            .await;
        match &outcome {
            Err(berth_store::StoreError::NotOwner(_)) => deny("not an owner (at commit)").await,
            Err(berth_store::StoreError::NotNewCrate(_)) => {
                deny("token lacks publish-update (crate created at commit)").await
            }
            _ => {}
        }
        let outcome = outcome?;
        reg.source
            .changed(&reg, &valid.canon_name, outcome.revision, outcome.new_crate);
        // Should a garbage collection have removed an identical orphan blob
        // between our write and our commit, put the bytes back.
        if !self.blobs.exists(&cksum).await? {
            tracing::warn!(blob = %cksum, "blob vanished during publish; writing it again");
            self.blobs.put(&cksum, crate_bytes.clone()).await?;
        }
        tracing::info!(
            registry = %reg.name,
            krate = %meta.name,
            version = %meta.vers,
            user = %who.user.login,
            cksum = %cksum,
            size = crate_bytes.len(),
            new_crate = outcome.new_crate,
            "published"
        );
        Ok(PublishWarnings::default())
    }
}
