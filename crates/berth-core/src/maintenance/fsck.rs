//! `berth fsck`: the metadata and the blob store checked against each
//! other. Every version's blob exists and has the row's size and sha256;
//! every stored index line parses and agrees with its row (name, version,
//! checksum, yanked); owners, roles and tokens refer to users, crates and
//! registries that exist; blobs nothing refers to are listed. The
//! transparency log: every hosted version and every proxy's cached
//! `.crate` has a record with its sha256, every hosted record its version
//! row (a proxy's may outlive its evicted copy), and each log is checked
//! against itself and its signed checkpoints (`log_check.rs`).
//!
//! Read-only: it reports, it never repairs (`berth gc` deletes orphans).

use std::collections::HashMap;

use berth_protocol::IndexEntry;
use futures::StreamExt;
use serde::Serialize;

use berth_store::LogDisagreement;

pub use crate::maintenance::finding::Finding;
use crate::maintenance::log_check::{check_log, Verifiers};
use crate::{Berth, ServiceError};

/// Version rows read per query.
const PAGE: i64 = 500;
/// Blobs read and hashed at once.
const CONCURRENT_BLOBS: usize = 8;

/// What `fsck` looked at and found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FsckReport {
    pub versions: u64,
    pub blobs_checked: u64,
    pub blobs_stored: u64,
    /// Transparency-log records and stored checkpoints checked.
    pub log_records: u64,
    pub log_checkpoints: u64,
    pub findings: Vec<Finding>,
}

/// A blob's state, checked once however many versions share it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BlobState {
    Missing,
    Sized(u64, String),
}

impl Berth {
    /// Runs every check; `progress` is called with what is being checked
    /// (`versions`, `log records of REGISTRY`) and how many so far.
    pub async fn fsck(
        &self,
        progress: &(dyn Fn(&str, u64) + Sync),
    ) -> Result<FsckReport, ServiceError> {
        let mut report = FsckReport::default();
        let mut blobs: HashMap<String, BlobState> = HashMap::new();
        let mut after = 0;
        loop {
            let rows = self.meta.fsck_versions(after, PAGE).await?;
            let Some(last) = rows.last() else {
                break;
            };
            after = last.id;
            // Read and hash the page's blobs not seen yet, a few at a time.
            let mut wanted: Vec<String> = rows
                .iter()
                .map(|r| r.cksum.clone())
                .filter(|c| !blobs.contains_key(c))
                .collect();
            wanted.sort();
            wanted.dedup();
            let states: Vec<(String, Result<BlobState, ServiceError>)> =
                futures::stream::iter(wanted)
                    .map(|digest| async move {
                        let state = self.blob_state(&digest).await;
                        (digest, state)
                    })
                    .buffer_unordered(CONCURRENT_BLOBS)
                    .collect()
                    .await;
            for (digest, state) in states {
                blobs.insert(digest, state?);
                report.blobs_checked += 1;
            }
            for row in &rows {
                let at = |kind: &'static str, detail: String| Finding {
                    kind,
                    registry: Some(row.registry.clone()),
                    crate_name: Some(row.crate_name.clone()),
                    version: Some(row.vers.clone()),
                    blob: Some(row.cksum.clone()),
                    log_index: None,
                    detail,
                };
                match blobs.get(&row.cksum) {
                    Some(BlobState::Missing) | None => report
                        .findings
                        .push(at("missing_blob", format!("blob {} is missing", row.cksum))),
                    Some(BlobState::Sized(size, sha)) => {
                        if *size != row.size as u64 {
                            report.findings.push(at(
                                "blob_size",
                                format!(
                                    "blob {} is {size} bytes; the version row says {}",
                                    row.cksum, row.size
                                ),
                            ));
                        }
                        if *sha != row.cksum {
                            report.findings.push(at(
                                "blob_checksum",
                                format!("blob {} hashes to {sha}", row.cksum),
                            ));
                        }
                    }
                }
                match IndexEntry::from_line(&row.index_line) {
                    Err(e) => report.findings.push(at(
                        "index_line_unparseable",
                        format!("the stored index line does not parse: {e}"),
                    )),
                    Ok(entry) => {
                        let mut differs = Vec::new();
                        if entry.name != row.crate_name {
                            differs.push(format!("name `{}`", entry.name));
                        }
                        if entry.vers != row.vers {
                            differs.push(format!("vers `{}`", entry.vers));
                        }
                        if entry.cksum != row.cksum {
                            differs.push(format!("cksum `{}`", entry.cksum));
                        }
                        if entry.yanked != row.yanked {
                            differs.push(format!("yanked {}", entry.yanked));
                        }
                        if row.index_line.contains('\n') {
                            differs.push("a line break".to_string());
                        }
                        if !differs.is_empty() {
                            report.findings.push(at(
                                "index_line_mismatch",
                                format!(
                                    "the stored index line disagrees with its row: it has {}",
                                    differs.join(", ")
                                ),
                            ));
                        }
                    }
                }
            }
            report.versions += rows.len() as u64;
            progress("versions", report.versions);
        }
        self.fsck_logs(&mut report, progress).await?;
        for d in self.meta.fsck_dangling().await? {
            report.findings.push(Finding {
                kind: "dangling_reference",
                registry: None,
                crate_name: None,
                version: None,
                blob: None,
                log_index: None,
                detail: format!("{}: {}", d.table_name, d.detail),
            });
        }
        let referenced = self.referenced_blobs().await?;
        let stored = self.blobs.list().await?;
        report.blobs_stored = stored.len() as u64;
        let now = berth_store::now_unix();
        let mut orphans: Vec<_> = stored
            .into_iter()
            .filter(|(digest, _)| !referenced.contains(digest))
            .collect();
        orphans.sort();
        for (digest, modified) in orphans {
            report.findings.push(Finding {
                kind: "orphan_blob",
                registry: None,
                crate_name: None,
                version: None,
                blob: Some(digest.clone()),
                log_index: None,
                detail: format!(
                    "blob {digest} is referred to by nothing (stored {} s ago; `berth gc` deletes it)",
                    (now - modified).max(0)
                ),
            });
        }
        Ok(report)
    }

    /// The transparency logs: stored versions against records, then each
    /// log against itself and its checkpoints.
    async fn fsck_logs(
        &self,
        report: &mut FsckReport,
        progress: &(dyn Fn(&str, u64) + Sync),
    ) -> Result<(), ServiceError> {
        let keys = Verifiers::of(self);
        for reg in self.registries() {
            let traits = reg.traits();
            if !traits.holds_publishes && !traits.caches_upstream {
                continue; // a virtual registry has no log
            }
            let at = |kind: &'static str, d: &LogDisagreement, detail: String| Finding {
                kind,
                registry: Some(reg.name.clone()),
                crate_name: Some(d.crate_name.clone()),
                version: Some(d.vers.clone()),
                blob: (!d.cksum.is_empty()).then(|| d.cksum.clone()),
                log_index: d.logged_idx.map(|i| i as u64),
                detail,
            };
            let disagreements = if traits.holds_publishes {
                self.meta.fsck_versions_unlogged(reg.id).await?
            } else {
                self.meta.fsck_proxy_crates_unlogged(reg.id).await?
            };
            let stored = if traits.holds_publishes {
                "version row"
            } else {
                "cached .crate"
            };
            for mut d in disagreements {
                if d.logged_idx.is_none() && traits.caches_upstream {
                    // Looked up again without build metadata.
                    if let Some(r) = self.meta.log_record(reg.id, &d.crate_name, &d.vers).await? {
                        if r.sha256 == d.cksum {
                            continue;
                        }
                        (d.logged_idx, d.logged_sha256) = (Some(r.idx), Some(r.sha256));
                    }
                }
                let finding = match (&d.logged_idx, &d.logged_sha256) {
                    (Some(idx), Some(logged)) => at(
                        "log_checksum",
                        &d,
                        format!(
                            "log record #{idx} has sha256 {logged}; the {stored} has {}: the \
                             stored bytes are not the ones logged",
                            d.cksum
                        ),
                    ),
                    _ => at(
                        "log_unlogged",
                        &d,
                        format!(
                            "the {stored} (sha256 {}) has no record in the transparency log",
                            d.cksum
                        ),
                    ),
                };
                report.findings.push(finding);
            }
            if traits.holds_publishes {
                for d in self.meta.fsck_records_without_version(reg.id).await? {
                    let detail = format!(
                        "log record #{} (sha256 {}) has no version row: a published version \
                         was deleted",
                        d.logged_idx.unwrap_or_default(),
                        d.logged_sha256.clone().unwrap_or_default()
                    );
                    report.findings.push(at("log_orphan_record", &d, detail));
                }
            }
            let phase = format!("log records of {}", reg.name);
            let (found, checked) = check_log(&self.meta, reg.id, &reg.name, Some(&keys), &|n| {
                progress(&phase, n)
            })
            .await?;
            report.findings.extend(found);
            report.log_records += checked.records;
            report.log_checkpoints += checked.checkpoints;
        }
        Ok(())
    }

    async fn blob_state(&self, digest: &str) -> Result<BlobState, ServiceError> {
        use sha2::{Digest, Sha256};
        let Some((_, mut stream)) = self.blobs.get_stream(digest).await? else {
            return Ok(BlobState::Missing);
        };
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk
                .map_err(|e| ServiceError::Unavailable(format!("reading blob {digest}: {e}")))?;
            size += chunk.len() as u64;
            hasher.update(&chunk);
        }
        Ok(BlobState::Sized(size, hex::encode(hasher.finalize())))
    }
}
