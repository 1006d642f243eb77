//! The transactions that change a crate's index: publish and yank/unyank.
//!
//! Each runs in one write transaction that holds the crate's row, checks
//! ownership at the moment of the change, writes the version and its dependency rows,
//! appends the version's transparency-log record,
//! bumps the crate's revision and appends the audit row, so either all of it happens
//! or none does. This file composes the table helpers; it writes no SQL of
//! its own, and never touches blobs (the blob is stored before a publish
//! starts).

use berth_protocol::IndexEntry;

use crate::db::MetaStore;
use crate::domain::AuditAction;
use crate::error::OrTaken;
use crate::model::{Actor, AuditEntry, NewVersion, PublishOutcome};
use crate::tables::crates::{bump_revision, crate_by_name, insert_crate};
use crate::tables::dependencies::insert_dependencies;
use crate::tables::log::{append_record, pubtime_of, LogEntry};
use crate::tables::owners::add_owner;
use crate::tables::roles::Holder;
use crate::tables::teams::is_owner;
use crate::tables::versions::{
    insert_version, max_version, set_version_yanked, stored_version, yank_target,
};
use crate::{now_unix, StoreError};

impl MetaStore {
    /// Records a published version, creating the crate (owned by the
    /// publisher) on its first version. When `actor` is not an admin and the
    /// crate exists, the actor must own it at the moment of the change.
    pub async fn publish(
        &self,
        v: &NewVersion,
        actor: &Actor,
        registry: &str,
    ) -> Result<PublishOutcome, StoreError> {
        // Two first publishes of one crate (any versions) may race to create
        // the crate row; the loser retries and then sees an existing crate.
        for _ in 0..3 {
            match self.publish_once(v, actor, registry).await {
                Err(StoreError::Contention(_)) => continue,
                other => return other,
            }
        }
        Err(StoreError::Contention(format!(
            "crate `{}` is being changed by other requests; try again",
            v.name
        )))
    }

    async fn publish_once(
        &self,
        v: &NewVersion,
        actor: &Actor,
        registry: &str,
    ) -> Result<PublishOutcome, StoreError> {
        let now = now_unix();
        let mut w = self.begin_write().await?;
        let existing =
            crate_by_name(&mut *w.tx, v.registry_id, &v.canon_name, self.lock_rows()).await?;
        let (crate_id, new_crate) = match existing {
            Some(krate) => {
                if krate.name != v.name {
                    return Err(StoreError::NameMismatch {
                        existing: krate.name,
                    });
                }
                if v.new_crate_only {
                    return Err(StoreError::NotNewCrate(krate.name));
                }
                if !actor.is_admin && !is_owner(&mut w.tx, krate.id, actor.user_id).await? {
                    return Err(StoreError::NotOwner(krate.name));
                }
                (krate.id, false)
            }
            None => {
                // Another request created it first: retry, and then see it
                // as an existing crate.
                let id = insert_crate(&mut w.tx, v, now)
                    .await
                    .or_taken(|| StoreError::Contention(v.name.clone()))?;
                add_owner(
                    &mut w.tx,
                    id,
                    Holder::User,
                    actor.user_id,
                    actor.user_id,
                    now,
                )
                .await?;
                (id, true)
            }
        };
        let version_id = match insert_version(&mut w.tx, crate_id, v, actor.user_id, now).await {
            Ok(id) => id,
            Err(e) if StoreError::is_unique_violation(&e) => {
                // On PostgreSQL the failed INSERT aborted the transaction and
                // this read fails too; the message then names the new
                // spelling.
                let existing = stored_version(&mut *w.tx, crate_id, &v.canon_vers)
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| v.vers.clone());
                return Err(StoreError::VersionExists {
                    name: v.name.clone(),
                    vers: existing,
                });
            }
            Err(e) => return Err(e.into()),
        };
        let entry = IndexEntry::from_line(&v.index_line).map_err(|e| {
            StoreError::Corrupt(format!("index line of {}@{}: {e}", v.name, v.vers))
        })?;
        insert_dependencies(&mut w.tx, version_id, v.registry_id, &entry).await?;
        let max_version = max_version(&mut w.tx, crate_id).await?;
        // The description shown for a crate is that of its newest version.
        let is_max = max_version.as_deref() == Some(v.vers.as_str());
        let description = is_max.then(|| v.description.clone());
        let revision = bump_revision(&mut w.tx, crate_id, now, max_version, description).await?;
        // The version enters the transparency log in the transaction that
        // makes it exist, last before the audit row: the log's lock is held
        // for as short a time as it can be.
        let pubtime = entry.pubtime.clone().unwrap_or_else(|| pubtime_of(now));
        append_record(
            &mut w.tx,
            &LogEntry {
                registry_id: v.registry_id,
                registry,
                name: &v.name,
                vers: &v.vers,
                sha256: &v.cksum,
                pubtime: &pubtime,
            },
        )
        .await?;
        // Its docs build, queued with it (a worker takes it when one runs).
        crate::tables::docs::queue_build(&mut w.tx, version_id, now).await?;
        w.commit_audited(&AuditEntry {
            version: Some(v.vers.clone()),
            detail: Some(format!("cksum={} size={}", v.cksum, v.size)),
            ..AuditEntry::crate_change(actor, AuditAction::Publish, registry, &v.name)
        })
        .await?;
        Ok(PublishOutcome {
            crate_id,
            version_id,
            new_crate,
            revision,
        })
    }

    /// Yanks or unyanks a version, rewriting its index line. Returns the
    /// crate's new revision, or `None` when nothing changed (yanking a
    /// yanked version is a no-op).
    pub async fn set_yanked(
        &self,
        registry_id: i64,
        registry: &str,
        canon_name: &str,
        canon_vers: &str,
        yanked: bool,
        actor: &Actor,
    ) -> Result<Option<i64>, StoreError> {
        let mut w = self.begin_write().await?;
        let krate = crate_by_name(&mut *w.tx, registry_id, canon_name, self.lock_rows())
            .await?
            .ok_or_else(|| StoreError::CrateNotFound(canon_name.to_string()))?;
        if !actor.is_admin && !is_owner(&mut w.tx, krate.id, actor.user_id).await? {
            return Err(StoreError::NotOwner(krate.name));
        }
        let target = yank_target(&mut w.tx, krate.id, canon_vers)
            .await?
            .ok_or_else(|| StoreError::VersionNotFound {
                name: krate.name.clone(),
                vers: canon_vers.to_string(),
            })?;
        if target.yanked == yanked {
            return Ok(None);
        }
        let mut entry = IndexEntry::from_line(&target.index_line).map_err(|e| {
            StoreError::Corrupt(format!("index line of {}@{}: {e}", krate.name, target.vers))
        })?;
        entry.yanked = yanked;
        set_version_yanked(&mut w.tx, target.id, yanked, &entry.to_line()).await?;
        let max_version = max_version(&mut w.tx, krate.id).await?;
        let revision = bump_revision(&mut w.tx, krate.id, now_unix(), max_version, None).await?;
        w.commit_audited(&AuditEntry {
            version: Some(target.vers),
            ..AuditEntry::crate_change(actor, AuditAction::yank(yanked), registry, &krate.name)
        })
        .await?;
        Ok(Some(revision))
    }
}
