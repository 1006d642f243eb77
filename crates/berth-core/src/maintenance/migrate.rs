//! Copying a whole registry (metadata and blobs) from one configuration to
//! another: SQLite + files to PostgreSQL + S3 and back.
//!
//! Blobs go first, each verified against its sha256 before it is written,
//! then the tables in foreign-key order as id-keyed upserts, so the
//! destination never holds a version whose blob it lacks, and a run that is
//! interrupted (or stopped by `max_items`) can be re-run to finish without
//! duplicating anything. This module never changes the source.

use std::collections::HashSet;

use berth_store::{table_names, BlobStore, Cell, MetaStore};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::error::ServiceError;

/// What a migration run did.
#[derive(Debug, Clone, Default)]
pub struct MigrateReport {
    pub blobs_total: usize,
    pub blobs_copied: usize,
    pub blobs_already_present: usize,
    pub tables: Vec<TableReport>,
    /// The run stopped at `max_items` before finishing; run it again.
    pub incomplete: bool,
}

/// What a migration run did to one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    pub table: String,
    /// Rows inserted or updated in the destination by this run.
    pub copied: u64,
    /// Rows in the source and the destination after the table was done;
    /// `None` when the run stopped (at `max_items`) inside this table.
    pub counts: Option<(i64, i64)>,
}

/// The two ends of a migration.
pub struct Endpoints {
    pub src_meta: MetaStore,
    pub src_blobs: BlobStore,
    pub dst_meta: MetaStore,
    pub dst_blobs: BlobStore,
}

async fn open(config: &Config, what: &str) -> Result<(MetaStore, BlobStore), ServiceError> {
    crate::open_stores(config, |store| format!("the {what} {store}")).await
}

impl Endpoints {
    /// Opens both ends (creating the destination schema if needed).
    pub async fn open(src: &Config, dst: &Config) -> Result<Self, ServiceError> {
        if src.database.url == dst.database.url {
            return Err(ServiceError::BadRequest(
                "the source and destination databases are the same".into(),
            ));
        }
        let (src_meta, src_blobs) = open(src, "source").await?;
        let (dst_meta, dst_blobs) = open(dst, "destination").await?;
        Ok(Self {
            src_meta,
            src_blobs,
            dst_meta,
            dst_blobs,
        })
    }

    /// Refuses a destination that holds different registries or users under
    /// the same ids or names (it is not empty and not an earlier copy).
    async fn check_compatible(&self) -> Result<(), ServiceError> {
        for table in ["registries", "users"] {
            let src: Vec<(String, i64)> = self.src_meta.name_ids(table).await?;
            let dst: Vec<(String, i64)> = self.dst_meta.name_ids(table).await?;
            for (name, id) in &dst {
                if let Some((_, sid)) = src.iter().find(|(n, _)| n == name) {
                    if sid != id {
                        return Err(ServiceError::Conflict(format!(
                            "the destination already has {table} `{name}` with another id; \
                             migrate into an empty database or a previous copy of this one"
                        )));
                    }
                }
                if let Some((sname, _)) = src.iter().find(|(_, i)| i == id) {
                    if sname != name {
                        return Err(ServiceError::Conflict(format!(
                            "the destination's {table} id {id} is `{name}`, the source's is `{sname}`; \
                             migrate into an empty database or a previous copy of this one"
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// Copies one blob unless the destination has it; verifies the bytes
    /// against the digest first. Returns whether it copied.
    async fn copy_blob(
        &self,
        digest: &str,
        report: &mut MigrateReport,
    ) -> Result<bool, ServiceError> {
        if self.dst_blobs.exists(digest).await? {
            report.blobs_already_present += 1;
            return Ok(false);
        }
        let bytes = self.src_blobs.get(digest).await?.ok_or_else(|| {
            ServiceError::Internal(format!(
                "the source has no blob {digest} though a version refers to it"
            ))
        })?;
        let actual = hex::encode(Sha256::digest(&bytes));
        if actual != digest {
            return Err(ServiceError::Internal(format!(
                "source blob {digest} is corrupt (its sha256 is {actual}); nothing more was copied"
            )));
        }
        self.dst_blobs.put(digest, bytes).await?;
        report.blobs_copied += 1;
        Ok(true)
    }

    /// Copies everything. Stops after `max_items` blobs and changed rows
    /// when given. `progress` hears each phase (`blobs`, then each table)
    /// with its items done and total.
    pub async fn run(
        &self,
        max_items: Option<u64>,
        progress: crate::maintenance::backup::Progress<'_>,
    ) -> Result<MigrateReport, ServiceError> {
        self.check_compatible().await?;
        let mut report = MigrateReport::default();
        let mut budget = max_items.unwrap_or(u64::MAX);

        let mut digests: Vec<String> = self.src_meta.version_blobs().await?.into_iter().collect();
        digests.sort();
        // Blobs known to be in the destination, so the table pass does not
        // ask again.
        let mut in_destination: HashSet<String> = HashSet::new();
        report.blobs_total = digests.len();
        for (i, digest) in digests.iter().enumerate() {
            if budget == 0 {
                report.incomplete = true;
                return Ok(report);
            }
            if self.copy_blob(digest, &mut report).await? {
                budget -= 1;
            }
            in_destination.insert(digest.clone());
            progress("blobs", i as u64 + 1, digests.len() as u64);
            if (i + 1) % 100 == 0 {
                tracing::info!(done = i + 1, total = digests.len(), "blobs");
            }
        }
        tracing::info!(
            copied = report.blobs_copied,
            present = report.blobs_already_present,
            "blobs done"
        );

        let mut owners = HashSet::new();
        for table in table_names() {
            let mut after: Vec<i64> = Vec::new();
            let mut copied = 0u64;
            let total = self.src_meta.count_rows(table).await?.max(0) as u64;
            let mut seen = 0u64;
            progress(table, 0, total);
            loop {
                // Unchanged rows cost nothing, so a re-run with a budget
                // moves past what earlier runs copied.
                let limit = 500;
                if budget == 0 {
                    report.incomplete = true;
                    report.tables.push(TableReport {
                        table: table.to_string(),
                        copied,
                        counts: None,
                    });
                    return Ok(report);
                }
                let rows: Vec<Vec<Cell>> = self.src_meta.export_rows(table, &after, limit).await?;
                if rows.is_empty() {
                    break;
                }
                if let Some(last) = rows.last() {
                    after = MetaStore::row_key(table, last)?;
                }
                if table == "crate_owners" {
                    for r in &rows {
                        let k = MetaStore::row_key(table, r)?;
                        owners.insert((k[0], k[1]));
                    }
                }
                if table == "versions" {
                    // Versions published since the blob pass (a pass over a
                    // live source) bring their blobs first.
                    for r in &rows {
                        if let Some(digest) = MetaStore::text_cell(table, r, "cksum")? {
                            if !in_destination.contains(digest) {
                                self.copy_blob(digest, &mut report).await?;
                                in_destination.insert(digest.to_string());
                            }
                        }
                    }
                }
                let changed = self.dst_meta.import_rows(table, &rows).await?;
                seen += rows.len() as u64;
                progress(table, seen, total);
                copied += changed;
                budget = budget.saturating_sub(changed);
            }
            if table == "crate_owners" {
                self.dst_meta.retain_owners(&owners).await?;
            }
            let src = self.src_meta.count_rows(table).await?;
            let dst = self.dst_meta.count_rows(table).await?;
            tracing::info!(table, copied, source = src, destination = dst, "table done");
            report.tables.push(TableReport {
                table: table.to_string(),
                copied,
                counts: Some((src, dst)),
            });
        }
        self.dst_meta.reset_id_sequences().await?;
        Ok(report)
    }
}
