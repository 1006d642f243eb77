//! Checking copies against the primary's transparency log (when the
//! replica has `primary_log_keys`): before a version's bytes are stored,
//! the primary's lookup must show its record (this registry, this name and
//! version, the sha256 of the bytes received) in the tree of a checkpoint
//! signed by one of the keys, for the primary's registry; and every
//! checkpoint seen must extend the newest one verified before (a
//! consistency proof), which is kept in `replica_state` so that a
//! restarted replica, or another node, still catches a primary whose log
//! was rewritten. Shrinking or forking is refused like a wrong checksum:
//! nothing is stored, and the feed goes no further.

use berth_log::merkle::{verify_consistency, verify_inclusion};
use berth_log::{leaf_hash, Checkpoint, Hash, Record};
use serde::Deserialize;

use super::Replica;
use crate::error::ServiceError;

/// The newest checkpoint of the primary's log this replica verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Trusted {
    pub(crate) size: u64,
    pub(crate) root: Hash,
}

impl Trusted {
    /// As `replica_state` keeps it (size 0: none yet); a row that holds no
    /// readable root is an error, never a fresh start.
    pub(crate) fn from_row(size: i64, root: Option<&str>) -> Result<Option<Trusted>, ServiceError> {
        if size <= 0 {
            return Ok(None);
        }
        let root = root.and_then(|r| Hash::from_hex(r).ok()).ok_or_else(|| {
            ServiceError::Internal(format!(
                "replica_state holds a verified checkpoint of {size} records without a readable \
                 root hash; run `berth fsck`"
            ))
        })?;
        Ok(Some(Trusted {
            size: size as u64,
            root,
        }))
    }

    fn of(checkpoint: &Checkpoint) -> Trusted {
        Trusted {
            size: checkpoint.size,
            root: checkpoint.root,
        }
    }
}

/// The primary's answer to `log/lookup/NAME/VERSION`.
#[derive(Deserialize)]
struct Lookup {
    registry: String,
    record: String,
    index: u64,
    inclusion: Vec<String>,
    checkpoint: String,
}

/// The primary's answer to `log/consistency`.
#[derive(Deserialize)]
struct Consistency {
    proof: Vec<String>,
}

/// A copy refused on the log's word: counted, logged, and the error the
/// replica's status shows.
fn refused(registry: &str, what: &str, why: impl std::fmt::Display) -> ServiceError {
    metrics::counter!("berth_replica_refused_total", "registry" => registry.to_string())
        .increment(1);
    tracing::warn!(
        registry,
        what,
        why = %why,
        "the primary's transparency log does not vouch for a copy: refused"
    );
    ServiceError::BadGateway(format!(
        "the primary's transparency log does not vouch for {what}: {why}; refused, and the \
         replica goes no further in the feed"
    ))
}

fn hashes(list: &[String]) -> Result<Vec<Hash>, String> {
    list.iter()
        .map(|h| Hash::from_base64(h).map_err(|e| e.to_string()))
        .collect()
}

impl Replica {
    /// The primary registry's name (the last segment of its URL).
    fn primary_registry(&self) -> &str {
        self.settings
            .primary
            .path()
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("")
    }

    /// Checks that `name@vers` with sha256 `cksum` is in the primary's log
    /// (see the module's header); moves the trusted checkpoint forward.
    /// Does nothing without `primary_log_keys`.
    pub(crate) async fn prove_logged(
        &self,
        registry: &str,
        name: &str,
        vers: &str,
        cksum: &str,
    ) -> Result<(), ServiceError> {
        if self.settings.log_keys.is_empty() {
            return Ok(());
        }
        let what = format!("`{name}@{vers}`");
        let url = self.url(&format!("log/lookup/{name}/{vers}"))?;
        let Some(body) = self
            .get_text_if_any(url, &format!("the log lookup of {what}"))
            .await?
        else {
            return Err(refused(
                registry,
                &what,
                "the primary lists it, but its log has no record of it",
            ));
        };
        let answer: Lookup = serde_json::from_str(&body).map_err(|e| {
            refused(
                registry,
                &what,
                format!("its lookup answer does not read: {e}"),
            )
        })?;
        let checkpoint = self.open_checkpoint(registry, &what, &answer.checkpoint)?;
        let record = Record::parse(answer.record.as_bytes())
            .map_err(|e| refused(registry, &what, format!("its record does not read: {e}")))?;
        let own = self.primary_registry();
        if answer.registry != own
            || record.registry != own
            || berth_store::canon_name(&record.name) != berth_store::canon_name(name)
            || berth_store::canon_vers(&record.version) != berth_store::canon_vers(vers)
        {
            return Err(refused(
                registry,
                &what,
                format!(
                    "the lookup answered with the record of {}/{}@{}",
                    record.registry, record.name, record.version
                ),
            ));
        }
        if record.sha256.to_hex() != cksum {
            return Err(refused(
                registry,
                &what,
                format!(
                    "the log records sha256 {}, the primary served {cksum}",
                    record.sha256.to_hex()
                ),
            ));
        }
        let path = hashes(&answer.inclusion).map_err(|e| {
            refused(
                registry,
                &what,
                format!("its inclusion proof does not read: {e}"),
            )
        })?;
        verify_inclusion(
            answer.index,
            checkpoint.size,
            &leaf_hash(answer.record.as_bytes()),
            &path,
            &checkpoint.root,
        )
        .map_err(|e| {
            refused(
                registry,
                &what,
                format!(
                    "its record is not at index {} of the signed tree of {} records: {e}",
                    answer.index, checkpoint.size
                ),
            )
        })?;
        self.extend_trust(registry, Trusted::of(&checkpoint), false)
            .await
    }

    /// Checks the primary's newest checkpoint against the one verified
    /// before: it must extend it (a log that shrank or forked is refused).
    /// Does nothing without `primary_log_keys`.
    pub(crate) async fn check_newest(&self, registry: &str) -> Result<(), ServiceError> {
        if self.settings.log_keys.is_empty() {
            return Ok(());
        }
        let url = self.url("log/checkpoint")?;
        let note = self
            .get_text(url, "its transparency log's checkpoint")
            .await?;
        let checkpoint = self.open_checkpoint(registry, "its newest checkpoint", &note)?;
        self.extend_trust(registry, Trusted::of(&checkpoint), true)
            .await
    }

    /// A checkpoint signed by one of the keys, for the primary's registry.
    fn open_checkpoint(
        &self,
        registry: &str,
        what: &str,
        note: &str,
    ) -> Result<Checkpoint, ServiceError> {
        let signed = Checkpoint::open(note.as_bytes(), &self.settings.log_keys).map_err(|e| {
            refused(
                registry,
                what,
                format!("its checkpoint is not signed by a key of primary_log_keys: {e}"),
            )
        })?;
        let own = format!("/r/{}", self.primary_registry());
        if !signed.checkpoint.origin.ends_with(&own) {
            return Err(refused(
                registry,
                what,
                format!(
                    "its checkpoint is of log `{}`, not of the primary's registry",
                    signed.checkpoint.origin
                ),
            ));
        }
        Ok(signed.checkpoint)
    }

    /// Makes `seen` the trusted checkpoint if it extends the one trusted
    /// now (or keeps the trusted one, if that extends it); one neither way,
    /// or (`newest`: the primary's newest) one smaller than the trusted, is
    /// a rewritten log, refused and counted.
    async fn extend_trust(
        &self,
        registry: &str,
        seen: Trusted,
        newest: bool,
    ) -> Result<(), ServiceError> {
        let mut trusted = self.log_trusted.lock().await;
        let Some(now) = *trusted else {
            *trusted = Some(seen);
            return Ok(());
        };
        let (old, new) = if seen.size >= now.size {
            (now, seen)
        } else {
            (seen, now)
        };
        let consistent = if newest && seen.size < now.size {
            false
        } else if old.size == new.size {
            old.root == new.root
        } else {
            let url = self.url(&format!(
                "log/consistency?from={}&to={}",
                old.size, new.size
            ))?;
            let what = format!(
                "its log's consistency proof from {} to {}",
                old.size, new.size
            );
            let body = self.get_text(url, &what).await?;
            let proof = serde_json::from_str::<Consistency>(&body)
                .map_err(|e| e.to_string())
                .and_then(|c| hashes(&c.proof))
                .map_err(|e| refused(registry, &what, format!("it does not read: {e}")))?;
            verify_consistency(old.size, new.size, &old.root, &new.root, &proof).is_ok()
        };
        if !consistent {
            metrics::counter!("berth_replica_log_forks_total", "registry" => registry.to_string())
                .increment(1);
            tracing::error!(
                registry,
                primary = %berth_store::redact(self.settings.primary.as_str()),
                trusted_size = now.size,
                seen_size = seen.size,
                "the primary's transparency log does not extend the checkpoint this replica \
                 verified before: its history was rewritten; copying stops"
            );
            return Err(ServiceError::Conflict(format!(
                "the primary's transparency log at {} records (root {}) does not extend the \
                 checkpoint of {} records (root {}) this replica verified before: the primary's \
                 history was rewritten (a restore from an older backup, or tampering); nothing \
                 more is copied. If the primary was restored on purpose, `berth registry \
                 replica-resync {registry}` makes this replica trust its log as it is now",
                seen.size,
                seen.root.to_hex(),
                now.size,
                now.root.to_hex()
            )));
        }
        *trusted = Some(new);
        Ok(())
    }

    /// The trusted checkpoint now, to record.
    pub(crate) async fn trusted_log(&self) -> Option<Trusted> {
        *self.log_trusted.lock().await
    }

    /// Takes the stored checkpoint (at a step's start: another node may
    /// have verified further) after checking it against the one this node
    /// verified, if any.
    pub(crate) async fn load_trusted(
        &self,
        registry: &str,
        stored: Option<Trusted>,
    ) -> Result<(), ServiceError> {
        match stored {
            Some(stored) if !self.settings.log_keys.is_empty() => {
                self.extend_trust(registry, stored, false).await
            }
            // Nothing stored although this node verified something: an
            // operator made the replica start over (`replica-resync`).
            None => {
                *self.log_trusted.lock().await = None;
                Ok(())
            }
            Some(_) => Ok(()),
        }
    }
}
