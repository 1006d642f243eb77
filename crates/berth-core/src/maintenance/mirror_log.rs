//! A mirror bundle's transparency-log data: what `mirror export` writes
//! (the source registry's signed checkpoint and, per crate, its record,
//! index and inclusion proof in that checkpoint's tree) and how `mirror
//! import --key` verifies it before anything is written (the signature by
//! one of the keys given, each record's registry, name, version and sha256
//! against the bundled crate, each proof against the signed root). Pure
//! but for reading the exporting registry's log.

use std::collections::HashMap;

use berth_log::{Checkpoint, Hash, Record, VerifierKey};
use serde::{Deserialize, Serialize};

use crate::error::ServiceError;
use crate::{Berth, Registry};

/// What a bundle carries of its source's transparency log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct BundleLog {
    /// The signed checkpoint (note text) every proof leads to.
    checkpoint: String,
    /// One per crate of the manifest.
    proofs: Vec<BundleProof>,
}

/// One crate's record and its inclusion proof.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct BundleProof {
    name: String,
    vers: String,
    /// The record's canonical line (the leaf).
    record: String,
    index: u64,
    /// RFC 9162 inclusion path, base64 hashes.
    inclusion: Vec<String>,
}

/// What an export wrote of the source's transparency log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportLog {
    /// The checkpoint's tree size and origin; `None` when the bundle
    /// carries no log (see `warning`).
    pub checkpoint: Option<(u64, String)>,
    /// Crates with an inclusion proof.
    pub proofs: usize,
    /// Why the bundle carries no log, when it does not.
    pub warning: Option<String>,
}

/// A bundle's log data as verified by `import --key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub origin: String,
    pub size: u64,
    /// The key (name) that signed the checkpoint.
    pub key: String,
    /// Crates whose record and inclusion proof held.
    pub crates: usize,
}

impl Berth {
    /// The registry's signed checkpoint and each crate's record and
    /// inclusion proof in its tree; none (and why) when this Berth has no
    /// signing key.
    pub(super) async fn bundle_log(
        &self,
        reg: &Registry,
        crates: &[(String, String, String, u64)],
    ) -> Result<(Option<BundleLog>, ExportLog), ServiceError> {
        if self.log_verifier().is_none() {
            return Ok((
                None,
                ExportLog {
                    warning: Some(format!(
                        "this Berth has no transparency key yet (`berth serve` makes one at \
                         start, or set [transparency] key_file), so the bundle carries no \
                         checkpoint or proofs of registry `{}` and `mirror import --key` will \
                         refuse it",
                        reg.name
                    )),
                    ..ExportLog::default()
                },
            ));
        }
        // Every record read below was committed before this checkpoint.
        let head = self.signed_head(reg).await?;
        let mut proofs = Vec::with_capacity(crates.len());
        for (name, vers, cksum, _) in crates {
            let row = self
                .meta
                .log_record(reg.id, name, vers)
                .await?
                .filter(|r| (r.idx as u64) < head.size)
                .ok_or_else(|| {
                    ServiceError::Conflict(format!(
                        "{name}@{vers} is cached but not in registry `{}`'s transparency log; \
                         run `berth fsck`",
                        reg.name
                    ))
                })?;
            if &row.sha256 != cksum {
                return Err(ServiceError::Conflict(format!(
                    "the cached {name}@{vers} has sha256 {cksum} but its log record says {}; \
                     run `berth fsck`",
                    row.sha256
                )));
            }
            let index = row.idx as u64;
            let plan = berth_log::merkle::inclusion_plan(index, head.size)
                .map_err(|e| ServiceError::Internal(format!("transparency log proof: {e}")))?;
            proofs.push(BundleProof {
                name: name.clone(),
                vers: vers.clone(),
                record: crate::transparency::record_line(&reg.name, &row)?,
                index,
                inclusion: self.proof(reg, &plan).await?,
            });
        }
        let exported = ExportLog {
            checkpoint: Some((head.size, self.log_origin(reg))),
            proofs: proofs.len(),
            warning: None,
        };
        Ok((
            Some(BundleLog {
                checkpoint: head.note.to_string(),
                proofs,
            }),
            exported,
        ))
    }
}

fn unverified(why: impl std::fmt::Display) -> ServiceError {
    ServiceError::BadRequest(format!(
        "the bundle does not verify against the transparency log: {why}; nothing was imported"
    ))
}

/// What of a bundle's manifest its log data is checked against.
pub(super) struct Bundled<'a> {
    pub(super) registry: &'a str,
    /// `.crate` files: `(name, vers, sha256, size)`.
    pub(super) crates: &'a [(String, String, String, u64)],
    pub(super) log: Option<&'a BundleLog>,
}

/// Checks a bundle's log data with `keys`: the checkpoint is signed by one
/// of them and names the bundle's registry, and every crate's record
/// (name, version, sha256) is the bundled crate's and is in the
/// checkpoint's tree.
pub(super) fn verify_log(
    manifest: &Bundled<'_>,
    keys: &[VerifierKey],
) -> Result<Verified, ServiceError> {
    let log = manifest.log.ok_or_else(|| {
        unverified(
            "it carries no checkpoint or proofs (exported by a Berth without a transparency key \
             or from before the log); without --key it is imported on the strength of its \
             checksums alone",
        )
    })?;
    let signed = Checkpoint::open(log.checkpoint.as_bytes(), keys)
        .map_err(|e| unverified(format!("its checkpoint is not signed by a key given: {e}")))?;
    let cp = &signed.checkpoint;
    let own = format!("/r/{}", manifest.registry);
    if !cp.origin.ends_with(&own) {
        return Err(unverified(format!(
            "its checkpoint is of log `{}`, not of registry `{}`",
            cp.origin, manifest.registry
        )));
    }
    let proofs: HashMap<(String, String), &BundleProof> = log
        .proofs
        .iter()
        .map(|p| ((p.name.clone(), p.vers.clone()), p))
        .collect();
    for (name, vers, cksum, _) in manifest.crates {
        let at = format!("{name}@{vers}");
        let proof = proofs
            .get(&(name.clone(), vers.clone()))
            .ok_or_else(|| unverified(format!("{at} has no log record in the bundle")))?;
        let record = Record::parse(proof.record.as_bytes())
            .map_err(|e| unverified(format!("{at}: its record does not read: {e}")))?;
        if record.registry != manifest.registry
            || berth_store::canon_name(&record.name) != berth_store::canon_name(name)
            || berth_store::canon_vers(&record.version) != berth_store::canon_vers(vers)
        {
            return Err(unverified(format!(
                "{at}: its record is of {}/{}@{}",
                record.registry, record.name, record.version
            )));
        }
        if record.sha256.to_hex() != *cksum {
            return Err(unverified(format!(
                "{at}: the bundled .crate has sha256 {cksum}, the log records {}",
                record.sha256.to_hex()
            )));
        }
        let path = proof
            .inclusion
            .iter()
            .map(|h| Hash::from_base64(h))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| unverified(format!("{at}: its inclusion proof does not read: {e}")))?;
        berth_log::merkle::verify_inclusion(
            proof.index,
            cp.size,
            &berth_log::leaf_hash(proof.record.as_bytes()),
            &path,
            &cp.root,
        )
        .map_err(|e| {
            unverified(format!(
                "{at}: its record is not at index {} of the signed tree of {} records: {e}",
                proof.index, cp.size
            ))
        })?;
    }
    Ok(Verified {
        origin: cp.origin.clone(),
        size: cp.size,
        key: signed
            .verified
            .first()
            .map(|s| s.name.clone())
            .unwrap_or_default(),
        crates: manifest.crates.len(),
    })
}
