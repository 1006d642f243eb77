//! The transparency log checked the way a client would, from what the
//! store keeps: every record's leaf hash against the stored leaf, every
//! stored internal node against its children, indices without a gap, and
//! every stored checkpoint's signature (by the server's keys, a retired
//! one only for checkpoints signed before its `until`) and root (against
//! the root the records themselves give at that size). `berth fsck` runs
//! it on the live stores, `berth restore` on a backup's log before it
//! writes anything.
//!
//! Streaming: records and nodes are read a page at a time and the roots
//! folded from the tree's frontier (`merkle::append_leaf`), so memory does
//! not grow with the log; the checkpoints' rows are read whole (a few
//! hashes each).
//!
//! Read-only; it reports [`Finding`]s, it never repairs.

use std::collections::{BTreeMap, VecDeque};

use berth_log::merkle::{self, NodeId};
use berth_log::{Checkpoint, Hash, Note, Record, VerifierKey};
use berth_store::{LogCheckpointRow, LogRecordRow, MetaStore};

use crate::error::ServiceError;
use crate::maintenance::finding::Finding;

/// Records (leaves) read per query; a power of two, so a page's internal
/// nodes are few per level.
const PAGE: u64 = 1024;
/// Findings about internal nodes reported per registry before the rest
/// are only counted (one bad leaf makes every node above it disagree).
const NODE_FINDINGS: usize = 20;

/// The keys checkpoints are checked with: the current one, and retired
/// ones with the time (Unix seconds) until which they signed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Verifiers {
    current: Option<VerifierKey>,
    retired: Vec<(VerifierKey, i64)>,
}

impl Verifiers {
    /// From the current key and the retired keys with their `until`
    /// (RFC 3339, checked when the configuration was loaded; one that does
    /// not read verifies nothing).
    pub(crate) fn new(current: Option<VerifierKey>, retired: &[(VerifierKey, String)]) -> Self {
        let retired = retired
            .iter()
            .filter_map(|(k, until)| {
                let t = time::OffsetDateTime::parse(
                    until,
                    &time::format_description::well_known::Rfc3339,
                )
                .ok()?;
                Some((k.clone(), t.unix_timestamp()))
            })
            .collect();
        Verifiers { current, retired }
    }

    /// The keys of a running server (`Berth::log_keys`).
    pub(crate) fn of(berth: &crate::Berth) -> Self {
        let retired: Vec<(VerifierKey, String)> = berth
            .log_keys()
            .into_iter()
            .filter(|k| !k.current)
            .filter_map(|k| Some((VerifierKey::parse(&k.key).ok()?, k.until?)))
            .collect();
        Verifiers::new(berth.log_verifier(), &retired)
    }

    fn is_empty(&self) -> bool {
        self.current.is_none() && self.retired.is_empty()
    }

    /// The keys that may have signed at `signed_at`.
    fn valid_at(&self, signed_at: i64) -> Vec<VerifierKey> {
        self.current
            .iter()
            .cloned()
            .chain(
                self.retired
                    .iter()
                    .filter(|(_, until)| signed_at <= *until)
                    .map(|(k, _)| k.clone()),
            )
            .collect()
    }
}

fn pubtime(unix: i64) -> String {
    berth_store::pubtime_of(unix)
}

/// What checking one registry's log read.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Checked {
    pub records: u64,
    pub checkpoints: u64,
}

/// One registry's log, being checked.
struct TreeCheck<'a> {
    registry: &'a str,
    findings: Vec<Finding>,
    nodes_reported: usize,
    nodes_unreported: u64,
}

impl TreeCheck<'_> {
    fn finding(&mut self, kind: &'static str, index: Option<u64>, detail: String) -> &mut Finding {
        self.findings.push(Finding {
            kind,
            registry: Some(self.registry.to_string()),
            crate_name: None,
            version: None,
            blob: None,
            log_index: index,
            detail,
        });
        self.findings.last_mut().expect("just pushed")
    }

    fn record_finding(&mut self, kind: &'static str, row: &LogRecordRow, detail: String) {
        let f = self.finding(kind, Some(row.idx as u64), detail);
        f.crate_name = Some(row.name.clone());
        f.version = Some(row.vers.clone());
    }

    fn node_finding(&mut self, detail: String) {
        if self.nodes_reported < NODE_FINDINGS {
            self.nodes_reported += 1;
            self.finding("log_node", None, detail);
        } else {
            self.nodes_unreported += 1;
        }
    }

    /// The record's leaf hash, or why it has none.
    fn leaf_of(&self, row: &LogRecordRow) -> Result<Hash, String> {
        let sha256 = Hash::from_hex(&row.sha256)
            .map_err(|e| format!("its sha256 `{}` is not a hash: {e}", row.sha256))?;
        let record = Record {
            registry: self.registry.to_string(),
            name: row.name.clone(),
            version: row.vers.clone(),
            sha256,
            pubtime: row.pubtime.clone(),
        };
        record
            .leaf_hash()
            .map_err(|e| format!("it is not a valid record: {e}"))
    }
}

/// A tree's frontier as it grows: the hashes of `merkle::frontier(size)`.
#[derive(Default)]
struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

impl Frontier {
    /// Appends a leaf; returns the internal nodes it completes.
    fn push(&mut self, leaf: Hash) -> Result<Vec<(NodeId, Hash)>, ServiceError> {
        let nodes = merkle::append_leaf(self.size, &self.hashes, leaf)
            .map_err(|e| ServiceError::Internal(format!("folding the log: {e}")))?;
        let merged = nodes.len() - 1;
        self.hashes.truncate(self.hashes.len() - merged);
        self.hashes.push(nodes.last().expect("the leaf at least").1);
        self.size += 1;
        Ok(nodes.into_iter().skip(1).collect())
    }

    fn root(&self) -> Hash {
        merkle::root_from_frontier(&self.hashes)
    }
}

/// Checks one registry's log (records, nodes, checkpoints). `keys`: `None`
/// checks no signature (a restore into stores with no key yet); `Some` of
/// no key reports every checkpoint as unverifiable. `progress` gets the
/// records read so far.
pub(crate) async fn check_log(
    meta: &MetaStore,
    registry_id: i64,
    registry: &str,
    keys: Option<&Verifiers>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(Vec<Finding>, Checked), ServiceError> {
    let mut check = TreeCheck {
        registry,
        findings: Vec::new(),
        nodes_reported: 0,
        nodes_unreported: 0,
    };
    let mut checkpoints = Checkpoints {
        meta,
        registry_id,
        keys,
        after: -1,
        done: false,
        buffer: VecDeque::new(),
        read: 0,
    };
    // The tree from the records (whose roots the checkpoints must have),
    // and from the stored leaves (whose nodes must be the stored ones).
    let mut from_records = Frontier::default();
    let mut from_leaves = Frontier::default();
    let mut roots_differ: Vec<u64> = Vec::new();
    let mut complete = true;
    settle(
        &mut check,
        &mut checkpoints,
        &from_records,
        &mut roots_differ,
    )
    .await?;
    let mut next = 0u64;
    loop {
        let rows = meta.log_records(registry_id, next, PAGE).await?;
        if rows.is_empty() {
            break;
        }
        let first = rows[0].idx.max(0) as u64;
        let leaves: BTreeMap<u64, String> = meta
            .log_node_range(registry_id, 0, first, first + rows.len() as u64)
            .await?
            .into_iter()
            .collect();
        // Internal nodes the page completes, computed from stored leaves.
        let mut completed: BTreeMap<u8, Vec<(u64, Hash)>> = BTreeMap::new();
        for row in &rows {
            let idx = row.idx.max(0) as u64;
            if idx != next {
                check.finding(
                    "log_gap",
                    Some(next),
                    format!(
                        "the log has no record at index {next} (the next one is {}): records \
                         were deleted; the tree and checkpoints past index {next} cannot be \
                         checked",
                        row.idx
                    ),
                );
                complete = false;
                break;
            }
            let computed = match check.leaf_of(row) {
                Ok(h) => Some(h),
                Err(why) => {
                    check.record_finding(
                        "log_record_invalid",
                        row,
                        format!("log record #{idx} has no leaf hash: {why}"),
                    );
                    None
                }
            };
            if row.canon_name != berth_store::canon_name(&row.name)
                || row.canon_vers != berth_store::canon_vers(&row.vers)
            {
                check.record_finding(
                    "log_record_invalid",
                    row,
                    format!(
                        "log record #{idx} is filed under `{}@{}`, not under its own name and \
                         version: lookups of it fail",
                        row.canon_name, row.canon_vers
                    ),
                );
            }
            let stored = match leaves.get(&idx).map(|h| Hash::from_hex(h)) {
                Some(Ok(h)) => Some(h),
                Some(Err(e)) => {
                    check.record_finding(
                        "log_leaf",
                        row,
                        format!("the stored leaf hash of log record #{idx} is not a hash: {e}"),
                    );
                    None
                }
                None => {
                    check.record_finding(
                        "log_leaf",
                        row,
                        format!("log record #{idx} has no stored leaf hash"),
                    );
                    None
                }
            };
            if let (Some(c), Some(s)) = (computed, stored) {
                if c != s {
                    check.record_finding(
                        "log_leaf",
                        row,
                        format!(
                            "log record #{idx} (sha256 {}) hashes to {}; the stored leaf is {}: \
                             the record was changed after it was logged",
                            row.sha256,
                            c.to_hex(),
                            s.to_hex()
                        ),
                    );
                }
            }
            let (Some(for_roots), Some(for_nodes)) = (computed.or(stored), stored.or(computed))
            else {
                check.finding(
                    "log_gap",
                    Some(idx),
                    format!(
                        "log record #{idx} has neither a valid record nor a stored leaf: the \
                         tree and checkpoints past index {idx} cannot be checked"
                    ),
                );
                complete = false;
                break;
            };
            from_records.push(for_roots)?;
            for (id, hash) in from_leaves.push(for_nodes)? {
                completed
                    .entry(id.level)
                    .or_default()
                    .push((id.index, hash));
            }
            next = idx + 1;
            settle(
                &mut check,
                &mut checkpoints,
                &from_records,
                &mut roots_differ,
            )
            .await?;
        }
        for (level, nodes) in &completed {
            let (lo, hi) = (nodes[0].0, nodes[nodes.len() - 1].0 + 1);
            let stored: BTreeMap<u64, String> = meta
                .log_node_range(registry_id, *level, lo, hi)
                .await?
                .into_iter()
                .collect();
            for (index, hash) in nodes {
                let id = NodeId {
                    level: *level,
                    index: *index,
                };
                match stored.get(index).map(|h| Hash::from_hex(h)) {
                    Some(Ok(s)) if s == *hash => {}
                    Some(Ok(s)) => check.node_finding(format!(
                        "the stored node at level {level}, index {index} (leaves {}..{}) is \
                             {}; its leaves give {}",
                        id.start(),
                        id.start() + id.width(),
                        s.to_hex(),
                        hash.to_hex()
                    )),
                    Some(Err(e)) => check.node_finding(format!(
                        "the stored node at level {level}, index {index} is not a hash: {e}"
                    )),
                    None => check.node_finding(format!(
                        "the node at level {level}, index {index} (leaves {}..{}) is \
                             missing: proofs through it fail",
                        id.start(),
                        id.start() + id.width()
                    )),
                }
            }
        }
        progress(next);
        if !complete || (rows.len() as u64) < PAGE {
            break;
        }
    }
    let size = from_records.size;
    if complete {
        let records = meta.log_record_count(registry_id).await?;
        if records != size {
            check.finding(
                "log_gap",
                None,
                format!(
                    "the log holds {records} records but its indices run 0..{size}: records \
                     with indices outside the tree"
                ),
            );
        }
        check_head(meta, registry_id, &from_leaves, &mut check).await?;
        let nodes = meta.log_node_count(registry_id).await?;
        let expected = 2 * size - u64::from(size.count_ones());
        if nodes != expected {
            check.finding(
                "log_node",
                None,
                format!(
                    "the tree keeps {nodes} nodes; a tree of {size} leaves has {expected} \
                     (nodes outside the tree were written, or some are missing)"
                ),
            );
        }
    }
    if check.nodes_unreported > 0 {
        check.finding(
            "log_node",
            None,
            format!(
                "{} more stored nodes disagree with their leaves",
                check.nodes_unreported
            ),
        );
    }
    if roots_differ.len() > 1 {
        check.finding(
            "log_checkpoint_root",
            None,
            format!(
                "{} later checkpoints (sizes {}..={}) disagree with the records too",
                roots_differ.len() - 1,
                roots_differ[1],
                roots_differ[roots_differ.len() - 1]
            ),
        );
    }
    // Past a gap the rest cannot be compared; else what is left is beyond
    // the records.
    if complete {
        while let Some((row, _)) = checkpoints.reached(&mut check, u64::MAX).await? {
            check.finding(
                "log_checkpoint_root",
                None,
                format!(
                    "the checkpoint of size {} (signed at {}) is beyond the log's {size} \
                     records: records it covered were removed",
                    row.size,
                    pubtime(row.signed_at)
                ),
            );
        }
    }
    Ok((
        check.findings,
        Checked {
            records: size,
            checkpoints: checkpoints.read,
        },
    ))
}

/// The registry's `log_heads` row (where the next append starts) against
/// the tree of the stored leaves. A head the log has grown past since its
/// records were read is left alone; one ahead of the records, behind them,
/// or with other hashes makes the next append fail or fork the tree.
async fn check_head(
    meta: &MetaStore,
    registry_id: i64,
    tree: &Frontier,
    check: &mut TreeCheck<'_>,
) -> Result<(), ServiceError> {
    let Some(head) = meta.log_head(registry_id).await? else {
        // Made from the records at the next append.
        return Ok(());
    };
    let size = tree.size;
    let detail = if head.size == size {
        if head.frontier == tree.hashes {
            return Ok(());
        }
        format!(
            "the log's head (where the next append starts) has other hashes than the tree of \
             its {size} leaves: the next append would fork the log"
        )
    } else if head.size < size {
        format!(
            "the log's head says {} leaves but the log has {size} records: the next append \
             would be refused",
            head.size
        )
    } else if meta.log_record_count(registry_id).await? >= head.size {
        // Appended while the records were read.
        return Ok(());
    } else {
        format!(
            "the log's head says {} leaves but the log has {size} records: records it covered \
             were removed",
            head.size
        )
    };
    check.finding("log_head", None, detail);
    Ok(())
}

/// Checkpoints per query.
const CHECKPOINT_PAGE: u64 = 1000;

/// A log's stored checkpoints, read a page at a time in size order, each
/// note checked as it is read.
struct Checkpoints<'a> {
    meta: &'a MetaStore,
    registry_id: i64,
    keys: Option<&'a Verifiers>,
    /// The largest size read.
    after: i64,
    done: bool,
    buffer: VecDeque<(LogCheckpointRow, Option<Hash>)>,
    read: u64,
}

impl Checkpoints<'_> {
    /// The next checkpoint of at most `size` leaves, with the root its note
    /// gives; `None` when the next one is larger, or there is none.
    async fn reached(
        &mut self,
        check: &mut TreeCheck<'_>,
        size: u64,
    ) -> Result<Option<(LogCheckpointRow, Option<Hash>)>, ServiceError> {
        if self.buffer.is_empty() && !self.done {
            let rows = self
                .meta
                .log_checkpoints_after(self.registry_id, self.after, CHECKPOINT_PAGE)
                .await?;
            self.done = (rows.len() as u64) < CHECKPOINT_PAGE;
            for row in rows {
                self.after = row.size;
                self.read += 1;
                let root = check_note(check, &row, self.keys);
                self.buffer.push_back((row, root));
            }
        }
        match self.buffer.front() {
            Some((row, _)) if row.size as u64 <= size => Ok(self.buffer.pop_front()),
            _ => Ok(None),
        }
    }
}

/// Compares the checkpoints the tree has reached with its root.
async fn settle(
    check: &mut TreeCheck<'_>,
    checkpoints: &mut Checkpoints<'_>,
    tree: &Frontier,
    roots_differ: &mut Vec<u64>,
) -> Result<(), ServiceError> {
    while let Some((row, note_root)) = checkpoints.reached(check, tree.size).await? {
        let root = tree.root();
        let stored = Hash::from_hex(&row.root).ok().or(note_root);
        let Some(stored) = stored.filter(|s| *s != root) else {
            continue;
        };
        if roots_differ.is_empty() {
            check.finding(
                "log_checkpoint_root",
                None,
                format!(
                    "the checkpoint of size {} (signed at {}) has root {}; the log's records \
                     give {} at that size: records before index {} (or the stored checkpoint) \
                     were changed after it was signed",
                    row.size,
                    pubtime(row.signed_at),
                    stored.to_hex(),
                    root.to_hex(),
                    row.size
                ),
            );
        }
        roots_differ.push(row.size as u64);
    }
    Ok(())
}

/// Checks a stored checkpoint's note: its signature, and that it says the
/// size and root its row does. Returns the root the note gives.
fn check_note(
    check: &mut TreeCheck<'_>,
    row: &LogCheckpointRow,
    keys: Option<&Verifiers>,
) -> Option<Hash> {
    let at = format!(
        "the checkpoint of size {} (signed at {})",
        row.size,
        pubtime(row.signed_at)
    );
    let body = match keys {
        Some(keys) if keys.is_empty() => {
            check.finding(
                "log_checkpoint_signature",
                None,
                format!(
                    "{at} cannot be verified: this server has no transparency key (set \
                     [transparency] key_file, or list the key that signed it in retired_keys)"
                ),
            );
            Note::parse(row.note.as_bytes())
                .ok()
                .map(|n| n.text().to_string())
        }
        Some(keys) => {
            let valid = keys.valid_at(row.signed_at);
            match Checkpoint::open(row.note.as_bytes(), &valid) {
                Ok(signed) => Some(signed.note.text().to_string()),
                Err(e) => {
                    check.finding(
                        "log_checkpoint_signature",
                        None,
                        format!(
                            "{at} does not verify with this server's keys valid then ({}): {e}",
                            if valid.is_empty() {
                                "none".to_string()
                            } else {
                                valid
                                    .iter()
                                    .map(|k| k.to_string())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            }
                        ),
                    );
                    Note::parse(row.note.as_bytes())
                        .ok()
                        .map(|n| n.text().to_string())
                }
            }
        }
        None => match Note::parse(row.note.as_bytes()) {
            Ok(n) => Some(n.text().to_string()),
            Err(e) => {
                check.finding(
                    "log_checkpoint_signature",
                    None,
                    format!("{at} is not a signed note: {e}"),
                );
                None
            }
        },
    };
    let body = body?;
    let parsed = match Checkpoint::parse_body(&body) {
        Ok(c) => c,
        Err(e) => {
            check.finding(
                "log_checkpoint_root",
                None,
                format!("{at} is not a checkpoint: {e}"),
            );
            return None;
        }
    };
    let own = format!("/r/{}", check.registry);
    let row_root = Hash::from_hex(&row.root).ok();
    if parsed.size != row.size as u64
        || row_root != Some(parsed.root)
        || !parsed.origin.ends_with(&own)
    {
        check.finding(
            "log_checkpoint_root",
            None,
            format!(
                "{at}: its note says {} size {} root {}; the stored row says size {} root {}",
                parsed.origin,
                parsed.size,
                parsed.root.to_hex(),
                row.size,
                row.root
            ),
        );
    }
    Some(parsed.root)
}

/// Checks every log of a store that holds no running server (a backup's
/// log, restored into a scratch database): each registry that has one.
pub(crate) async fn check_logs(
    meta: &MetaStore,
    keys: Option<&Verifiers>,
) -> Result<(Vec<Finding>, Checked), ServiceError> {
    let mut registries = meta.name_ids("registries").await?;
    registries.sort_by_key(|(_, id)| *id);
    let mut findings = Vec::new();
    let mut total = Checked::default();
    for (name, id) in registries {
        let (found, checked) = check_log(meta, id, &name, keys, &|_| {}).await?;
        findings.extend(found);
        total.records += checked.records;
        total.checkpoints += checked.checkpoints;
    }
    Ok((findings, total))
}
