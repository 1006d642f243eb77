//! The transparency log as a service: every hosted or proxy registry keeps
//! an append-only Merkle tree of one record per version (the store appends
//! it in the transaction that makes the version exist: a publish, a proxy's
//! first verified copy), and this module signs its checkpoints and answers
//! the proofs clients check (`/r/NAME/log/...`, `berth verify`).
//!
//! - Checkpoints (origin, size, root) are signed with the server's key
//!   (`keys.rs`) when first asked for, kept in `log_checkpoints` (so fsck
//!   can check the log against every checkpoint ever handed out) and
//!   cached per registry until the tree grows.
//! - A lookup reads the record first and the tree after, so the tree it is
//!   proved in always holds it; proofs read their `O(log n)` nodes in one
//!   query.
//! - A virtual registry has no log: a lookup through it answers from the
//!   member that owns the name (the record names that registry), as index
//!   files do.
//!
//! The origin of a registry's log is its public URL without the scheme,
//! then `/r/NAME`, so a checkpoint of one registry is never taken for
//! another's.

pub mod keys;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use berth_log::merkle::{self, ProofPlan};
use berth_log::{Checkpoint, Hash, SignerKey, VerifierKey};
use berth_store::LogRecordRow;

use crate::accounts::auth::Identity;
use crate::error::ServiceError;
use crate::{Berth, Registry};

/// Most records one `records` page returns.
pub const MAX_RECORDS_PAGE: u64 = 1000;

/// How long a lookup may prove against the newest checkpoint this node
/// signed without reading the tree's size again (when the record is in
/// it). `/log/checkpoint` always reads it.
const HEAD_FRESH: std::time::Duration = std::time::Duration::from_secs(1);

/// The signing key and what was signed, per node.
pub(crate) struct LogState {
    signer: RwLock<Option<Arc<SignerKey>>>,
    retired: Vec<(VerifierKey, String)>,
    /// The newest checkpoint signed, per registry id.
    signed: Mutex<HashMap<i64, Arc<SignedHead>>>,
}

impl LogState {
    pub(crate) fn new(signer: Option<SignerKey>, retired: Vec<(VerifierKey, String)>) -> Self {
        Self {
            signer: RwLock::new(signer.map(Arc::new)),
            retired,
            signed: Mutex::new(HashMap::new()),
        }
    }

    fn signer(&self) -> Option<Arc<SignerKey>> {
        self.signer.read().ok().and_then(|s| s.clone())
    }
}

/// A signed checkpoint.
#[derive(Debug, Clone)]
pub struct SignedHead {
    pub size: u64,
    pub root: Hash,
    /// The signed note, as served.
    pub note: Arc<str>,
    /// When this node read the tree it signed.
    pub read_at: std::time::Instant,
}

/// One key of the server's key list.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LogKey {
    /// The verifier key, `NAME+HASH+BASE64`.
    pub key: String,
    /// Whether it signs new checkpoints.
    pub current: bool,
    /// Until when a retired key signed.
    pub until: Option<String>,
}

/// A version's record, where it is, and the proof.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LogLookup {
    /// The registry whose log holds it.
    pub registry: String,
    /// The record's canonical line (the leaf).
    pub record: String,
    pub index: u64,
    pub tree_size: u64,
    /// The inclusion proof, base64 hashes.
    pub inclusion: Vec<String>,
    /// The signed checkpoint of `tree_size`.
    pub checkpoint: String,
}

/// A consistency proof between two sizes.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LogConsistency {
    pub from: u64,
    pub to: u64,
    pub proof: Vec<String>,
}

fn proof_failed(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(format!("transparency log proof: {e}"))
}

/// The record's canonical line.
pub fn record_line(registry: &str, row: &LogRecordRow) -> Result<String, ServiceError> {
    let record = berth_log::Record {
        registry: registry.to_string(),
        name: row.name.clone(),
        version: row.vers.clone(),
        sha256: Hash::from_hex(&row.sha256).map_err(proof_failed)?,
        pubtime: row.pubtime.clone(),
    };
    let bytes = record.encode().map_err(proof_failed)?;
    String::from_utf8(bytes).map_err(proof_failed)
}

impl Berth {
    /// The origin line of a registry's checkpoints.
    pub fn log_origin(&self, reg: &Registry) -> String {
        let url = self.config.public_url.trim_end_matches('/');
        let bare = url.split_once("://").map_or(url, |(_, rest)| rest);
        format!("{bare}/r/{}", reg.name)
    }

    /// The key that signs checkpoints, made in the data directory when none
    /// is configured or made yet (`berth serve` calls it at start). Returns
    /// its verifier and whether it was made now.
    pub fn ensure_log_key(&self) -> Result<(VerifierKey, keys::KeySource, bool), ServiceError> {
        let source = keys::key_source(&self.config);
        if let Some(signer) = self.log.signer() {
            return Ok((signer.verifier(), source, false));
        }
        let keys::KeySource::DataDir(path) = &source else {
            return Err(ServiceError::BadRequest(format!(
                "the transparency log's signing key ({source}) could not be read"
            )));
        };
        let made = keys::generate(&keys::default_key_name(&self.config.public_url))?;
        let made = match keys::write_new_key_file(path, &made) {
            Ok(()) => made,
            // Another process made it first: use that one.
            Err(ServiceError::Conflict(_)) => keys::read_key(&self.config)?
                .ok_or_else(|| ServiceError::Internal(format!("{} vanished", path.display())))?,
            Err(e) => return Err(e),
        };
        let verifier = made.verifier();
        if let Ok(mut slot) = self.log.signer.write() {
            *slot = Some(Arc::new(made));
        }
        Ok((verifier, source, true))
    }

    /// The key that verifies this server's checkpoints now, if it has one.
    pub fn log_verifier(&self) -> Option<VerifierKey> {
        self.log.signer().map(|s| s.verifier())
    }

    /// The current key and the retired ones, for `/r/NAME/log/keys`.
    pub fn log_keys(&self) -> Vec<LogKey> {
        let current = self.log_verifier().map(|k| LogKey {
            key: k.to_string(),
            current: true,
            until: None,
        });
        current
            .into_iter()
            .chain(self.log.retired.iter().map(|(k, until)| LogKey {
                key: k.to_string(),
                current: false,
                until: Some(until.clone()),
            }))
            .collect()
    }

    /// Every key that verifies checkpoints this server signed (current and
    /// retired).
    pub fn log_verifiers(&self) -> Vec<VerifierKey> {
        self.log_verifier()
            .into_iter()
            .chain(self.log.retired.iter().map(|(k, _)| k.clone()))
            .collect()
    }

    /// The registry a log request names, which must have a log of its own.
    fn log_registry(
        &self,
        registry: &str,
        who: Option<&Identity>,
    ) -> Result<&Registry, ServiceError> {
        let reg = self.registry(registry)?;
        self.authorize_read(reg, who)?;
        if reg.source.as_virtual().is_some() {
            return Err(ServiceError::NotFound(format!(
                "registry `{registry}` is virtual and has no log of its own: each member's log \
                 is at /r/MEMBER/log/, and a lookup here answers from the member that owns the \
                 name"
            )));
        }
        Ok(reg)
    }

    /// The newest signed checkpoint of a registry's log.
    pub async fn log_checkpoint(
        &self,
        registry: &str,
        who: Option<&Identity>,
    ) -> Result<Arc<SignedHead>, ServiceError> {
        let reg = self.log_registry(registry, who)?;
        self.signed_head(reg).await
    }

    /// The newest checkpoint this node signed if it is recent and holds
    /// leaf `index`, else a fresh one: a lookup's proof is valid against any
    /// checkpoint that holds the record, and this spares it two queries.
    async fn head_holding(
        &self,
        reg: &Registry,
        index: u64,
    ) -> Result<Arc<SignedHead>, ServiceError> {
        let cached = self
            .log
            .signed
            .lock()
            .ok()
            .and_then(|m| m.get(&reg.id).cloned());
        match cached {
            Some(head) if head.size > index && head.read_at.elapsed() < HEAD_FRESH => Ok(head),
            _ => self.signed_head(reg).await,
        }
    }

    pub(crate) async fn signed_head(
        &self,
        reg: &Registry,
    ) -> Result<Arc<SignedHead>, ServiceError> {
        let read_at = std::time::Instant::now();
        let tree = self.meta.log_tree(reg.id).await?;
        let cached = self
            .log
            .signed
            .lock()
            .ok()
            .and_then(|m| m.get(&reg.id).cloned());
        if let Some(head) = cached.filter(|h| h.size == tree.size && h.root == tree.root) {
            let head = Arc::new(SignedHead {
                read_at,
                ..(*head).clone()
            });
            if let Ok(mut m) = self.log.signed.lock() {
                m.insert(reg.id, head.clone());
            }
            return Ok(head);
        }
        let signer = self.log.signer().ok_or_else(|| {
            ServiceError::Unavailable(
                "this server has no transparency key yet: `berth serve` makes one at start, or \
                 set [transparency] key_file"
                    .into(),
            )
        })?;
        let checkpoint = Checkpoint {
            origin: self.log_origin(reg),
            size: tree.size,
            root: tree.root,
        };
        let note = checkpoint.sign(&signer).map_err(proof_failed)?;
        self.meta
            .log_checkpoint_put(reg.id, tree.size, &tree.root, &note, self.clock.now_unix())
            .await?;
        let head = Arc::new(SignedHead {
            size: tree.size,
            root: tree.root,
            note: note.into(),
            read_at,
        });
        if let Ok(mut m) = self.log.signed.lock() {
            let newer = m.get(&reg.id).is_some_and(|h| h.size > head.size);
            if !newer {
                m.insert(reg.id, head.clone());
            }
        }
        Ok(head)
    }

    pub(crate) async fn proof(
        &self,
        reg: &Registry,
        plan: &ProofPlan,
    ) -> Result<Vec<String>, ServiceError> {
        let hashes = self.meta.log_nodes(reg.id, plan.nodes()).await?;
        let proof = plan.assemble(&hashes).map_err(proof_failed)?;
        Ok(proof.iter().map(Hash::to_base64).collect())
    }

    /// A version's record with its inclusion proof against the newest
    /// checkpoint. Through a virtual registry, the owning member's.
    pub async fn log_lookup(
        &self,
        registry: &str,
        who: Option<&Identity>,
        name: &str,
        vers: &str,
    ) -> Result<LogLookup, ServiceError> {
        let asked = self.registry(registry)?;
        self.authorize_read(asked, who)?;
        let not_logged = || {
            ServiceError::NotFound(format!(
                "`{name}@{vers}` is not in registry `{registry}`'s transparency log (a proxy logs \
                 a version when it first stores it)"
            ))
        };
        let reg = match asked.source.as_virtual() {
            Some(v) => {
                let at = self.at_for(asked, who);
                let lname = name.to_ascii_lowercase();
                match v.resolve(at, &lname).await? {
                    Some((member, _)) => member,
                    None => return Err(not_logged()),
                }
            }
            None => asked,
        };
        // The record before the tree: the tree then holds it.
        let row = self
            .meta
            .log_record(reg.id, name, vers)
            .await?
            .ok_or_else(not_logged)?;
        let index = row.idx as u64;
        let head = self.head_holding(reg, index).await?;
        let plan = merkle::inclusion_plan(index, head.size).map_err(proof_failed)?;
        Ok(LogLookup {
            registry: reg.name.clone(),
            record: record_line(&reg.name, &row)?,
            index,
            tree_size: head.size,
            inclusion: self.proof(reg, &plan).await?,
            checkpoint: head.note.to_string(),
        })
    }

    /// The consistency proof from the tree of `from` leaves to that of `to`.
    pub async fn log_consistency(
        &self,
        registry: &str,
        who: Option<&Identity>,
        from: u64,
        to: u64,
    ) -> Result<LogConsistency, ServiceError> {
        let reg = self.log_registry(registry, who)?;
        let size = self.meta.log_tree(reg.id).await?.size;
        if from == 0 || from > to || to > size {
            return Err(ServiceError::BadRequest(format!(
                "a consistency proof needs 1 <= from <= to <= {size} (the log's size now); \
                 asked from={from} to={to}"
            )));
        }
        let proof = if from == to {
            Vec::new()
        } else {
            let plan = merkle::consistency_plan(from, to).map_err(proof_failed)?;
            self.proof(reg, &plan).await?
        };
        Ok(LogConsistency { from, to, proof })
    }

    /// Records from index `start`, at most `limit` (up to
    /// [`MAX_RECORDS_PAGE`]), as their canonical lines.
    pub async fn log_records(
        &self,
        registry: &str,
        who: Option<&Identity>,
        start: u64,
        limit: u64,
    ) -> Result<String, ServiceError> {
        let reg = self.log_registry(registry, who)?;
        let rows = self
            .meta
            .log_records(reg.id, start, limit.clamp(1, MAX_RECORDS_PAGE))
            .await?;
        let mut out = String::new();
        for row in &rows {
            out.push_str(&record_line(&reg.name, row)?);
        }
        Ok(out)
    }
}
