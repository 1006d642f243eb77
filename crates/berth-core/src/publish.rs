//! Publishing a version: the one write path that takes untrusted archives.
//!
//! Order matters and is the invariant "no index entry without its blob":
//! authenticate, split and validate the body, check the metadata against the
//! registry (ownership, dependencies), inspect the archive, store the blob,
//! and only then record the version in one SQL transaction. A failure at any
//! step before the transaction leaves at most an unreferenced blob, which
//! `berth gc` removes. This module never writes SQL or blob keys itself.

use berth_protocol::{parse_publish_body, BodyError, MetadataError, PublishMetadata};
use berth_store::{AuditEntry, NewVersion};
use bytes::Bytes;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::ServiceError;
use crate::{Berth, Identity, RegistryKind};

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

/// Longest index line a version may have: cargo reads whole index files, and
/// every node caches them.
pub const MAX_INDEX_LINE: usize = 512 * 1024;

/// Seconds-precision RFC 3339 UTC time, as the index's `pubtime`.
fn pubtime_now() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl Berth {
    /// The checks a publish can pass before its body is read: the registry
    /// takes publishes, and the caller has a token with a publish scope.
    pub fn precheck_publish(
        &self,
        registry: &str,
        who: Option<&Identity>,
    ) -> Result<(), ServiceError> {
        let reg = self.registry(registry)?;
        if reg.kind != RegistryKind::Hosted {
            return Err(ServiceError::BadRequest(format!(
                "registry `{}` does not accept publishes",
                reg.name
            )));
        }
        let who = who.ok_or_else(|| {
            ServiceError::Unauthorized(format!(
                "publishing requires a token: run `cargo login --registry {}`",
                reg.name
            ))
        })?;
        if !(who.scopes.publish_new || who.scopes.publish_update) {
            return Err(ServiceError::Forbidden(
                "this token has neither the `publish-new` nor the `publish-update` scope".into(),
            ));
        }
        self.authorize_registry(reg, who, crate::Role::Publish)
    }

    /// Waits for one of the `limits.max_concurrent_publishes` slots.
    pub async fn publish_slot(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.publish_slots.acquire().await.ok()
    }

    /// Publishes the body of a `PUT /api/v1/crates/new`.
    pub async fn publish(
        &self,
        registry: &str,
        who: Option<&Identity>,
        body: Bytes,
    ) -> Result<PublishWarnings, ServiceError> {
        self.precheck_publish(registry, who)?;
        let reg = self.registry(registry)?.clone();
        let Some(who) = who else {
            return Err(ServiceError::Unauthorized(
                "publishing requires a token".into(),
            ));
        };
        let limits = &self.config.limits;
        let parts = parse_publish_body(&body, limits.max_metadata_size, limits.max_crate_size)?;
        let valid = PublishMetadata::from_json(parts.metadata)?.validate()?;
        let meta = &valid.meta;
        let deny = |detail: String| AuditEntry {
            actor: Some(who.user.login.clone()),
            action: "publish".into(),
            registry: Some(reg.name.clone()),
            crate_name: Some(meta.name.clone()),
            version: Some(meta.vers.clone()),
            outcome: "denied".into(),
            detail: Some(detail),
        };

        // Scope and ownership first, so that a refused caller learns nothing
        // about the archive and costs no inspection work.
        let existing = self.meta.find_crate(reg.id, &valid.canon_name).await?;
        let scope_ok = match &existing {
            Some(_) => who.scopes.publish_update,
            None => who.scopes.publish_new,
        };
        if !scope_ok {
            let scope = if existing.is_some() {
                "publish-update"
            } else {
                "publish-new"
            };
            self.meta
                .append_audit(&deny(format!("token lacks {scope}")))
                .await?;
            who.require(false, scope)?;
        }
        if let Some(krate) = &existing {
            if krate.name != meta.name {
                return Err(ServiceError::BadRequest(format!(
                    "crate was previously named `{}`; publish it under that exact name",
                    krate.name
                )));
            }
            if !who.is_admin_of(reg.id) {
                let owners = self.meta.list_owners(krate.id).await?;
                if !owners.iter().any(|o| o.id == who.user.id) {
                    self.meta.append_audit(&deny("not an owner".into())).await?;
                    return Err(ServiceError::Forbidden(format!(
                        "this token's user `{}` is not an owner of crate `{}`; ask an owner to run \
                         `cargo owner --add {} {}`",
                        who.user.login, krate.name, who.user.login, krate.name
                    )));
                }
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

        // Dependencies: this registry's must exist; others must be allowed.
        for dep in &meta.deps {
            match &dep.registry {
                None => {
                    let canon = berth_protocol::canonical_name(&dep.name);
                    if canon != valid.canon_name && !self.meta.crate_exists(reg.id, &canon).await? {
                        return Err(ServiceError::BadRequest(format!(
                            "dependency `{}` does not exist in registry `{}`; publish it first",
                            dep.name, reg.name
                        )));
                    }
                }
                Some(other) => {
                    let allowed = &self.config.publish.allowed_registries;
                    if !allowed
                        .iter()
                        .any(|a| a.trim_end_matches('/') == other.trim_end_matches('/'))
                    {
                        return Err(ServiceError::BadRequest(format!(
                            "dependency `{}` comes from registry `{other}`, which this registry does not \
                             allow; an operator can add it to `publish.allowed_registries`",
                            dep.name
                        )));
                    }
                }
            }
        }

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

        self.blobs.put(&cksum, crate_bytes.clone()).await?;

        let index_line = valid.index_entry(&cksum, &pubtime_now()).to_line();
        if index_line.len() > MAX_INDEX_LINE {
            return Err(ServiceError::BadRequest(format!(
                "the index entry of this version would be {} bytes, more than the {MAX_INDEX_LINE} allowed; \
                 it declares too many or too large dependencies and features",
                index_line.len()
            )));
        }
        let readme = info.readme.or_else(|| meta.readme.clone());
        let mut stored_meta = meta.clone();
        stored_meta.readme = None;
        let new_version = NewVersion {
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
        if let Err(berth_store::StoreError::NotOwner(_)) = &outcome {
            self.meta
                .append_audit(&deny("not an owner (at commit)".into()))
                .await?;
        }
        let outcome = outcome?;
        self.index_cache
            .invalidate((reg.id, valid.canon_name.clone()), outcome.revision);
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
