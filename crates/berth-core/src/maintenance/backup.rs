//! `berth backup` and `berth restore`: a whole registry (every table
//! `migrate` copies, and every blob a version refers to) in one tar file,
//! taken from a running registry without stopping writes.
//!
//! The tables are read in one read transaction (one committed state); the
//! blobs of that state exist and stay (blobs are stored before the
//! transaction that refers to them commits, and `gc` never deletes a
//! referenced blob), so a backup holds everything acknowledged before it
//! began and nothing half-written. Layout: `tables/NN-NAME.jsonl` (one JSON
//! array of cells per row, in foreign-key order), `blobs/SHA256`, and last
//! `berth-backup.json`, the manifest with the sha256 and size of every
//! member; a file without it is truncated. It is written as `FILE.partial`
//! and renamed when complete.
//!
//! Restore checks that the target is empty, then reads the whole file and
//! verifies all of it before it writes anything: every member once, against
//! the manifest, every blob against its name, every row parsed, every
//! table's parts and rows against the manifest; then the transparency log
//! the backup holds is checked as `fsck` checks one (records, nodes,
//! checkpoints; signatures with the target's keys, when it has one),
//! from the log's tables loaded into a scratch SQLite database, so that a
//! log of millions of records is never held in memory; then it writes
//! blobs, then tables in order. Tar header records are bounded
//! (`tar_input`).
//! Proxy caches are not backed up (they refill from their upstreams), as
//! with `migrate`.

use std::collections::BTreeMap;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use berth_store::{BlobStore, MetaStore};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ServiceError;
use crate::Config;

/// The manifest's name; the archive's last member.
pub const MANIFEST: &str = "berth-backup.json";
/// The manifest's format version.
const FORMAT: u32 = 2;
/// Most bytes of one member read into memory.
const MAX_MEMBER: u64 = 2 * 1024 * 1024 * 1024;
/// Rows imported per transaction.
const IMPORT_CHUNK: usize = 500;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Member {
    sha256: String,
    size: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TableEntry {
    name: String,
    /// Its rows' members, in order, each at most `SNAPSHOT_CHUNK` rows.
    parts: Vec<String>,
    rows: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    created_at: i64,
    tables: Vec<TableEntry>,
    blobs: u64,
    members: BTreeMap<String, Member>,
}

/// What a backup or restore moved.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub tables: Vec<(String, u64)>,
    pub blobs: u64,
    pub bytes: u64,
    /// Restore: the transparency log's records and checkpoints verified.
    pub log_records: u64,
    pub log_checkpoints: u64,
    /// Restore: what the operator should know (signatures not checked).
    pub notes: Vec<String>,
}

/// Tables a backup's transparency log is checked from.
const LOG_TABLES: [&str; 4] = ["registries", "log_records", "log_nodes", "log_checkpoints"];
/// Findings a refused restore lists before it only counts.
const FINDINGS_SHOWN: usize = 10;

/// Progress: a phase name, done, total.
pub type Progress<'a> = &'a (dyn Fn(&str, u64, u64) + Sync);

fn io_err(what: &str, path: &Path, e: impl std::fmt::Display) -> ServiceError {
    ServiceError::BadRequest(format!("{what} {}: {e}", path.display()))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn append(
    tar: &mut tar::Builder<BufWriter<std::fs::File>>,
    path: &str,
    bytes: &[u8],
    members: &mut BTreeMap<String, Member>,
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, path, bytes)?;
    members.insert(
        path.to_string(),
        Member {
            sha256: sha256_hex(bytes),
            size: bytes.len() as u64,
        },
    );
    Ok(())
}

/// Writes a backup of the registry `config` describes to `out`.
/// A backup that fails leaves no `FILE.partial` behind.
pub async fn backup(
    config: &Config,
    out: &Path,
    progress: Progress<'_>,
) -> Result<Report, ServiceError> {
    let partial = PathBuf::from(format!("{}.partial", out.display()));
    let result = backup_to(config, out, &partial, progress).await;
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

async fn backup_to(
    config: &Config,
    out: &Path,
    partial: &Path,
    progress: Progress<'_>,
) -> Result<Report, ServiceError> {
    let (meta, blobs) = crate::open_stores(config, |store| format!("the registry {store}")).await?;
    // 0600: a backup holds password and token hashes and private crates.
    let file = create_private(partial).map_err(|e| io_err("cannot create", partial, e))?;
    let mut tar = tar::Builder::new(BufWriter::new(file));
    let mut members = BTreeMap::new();
    let mut tables = Vec::new();
    let mut digests = std::collections::BTreeSet::new();
    let mut report = Report::default();
    let write_err = |e: std::io::Error| io_err("cannot write", partial, e);
    // One read transaction: the tables as of one commit.
    let mut failed: Option<std::io::Error> = None;
    meta.snapshot_tables(|table, rows| {
        if table == "versions" {
            for row in &rows {
                if let Some(sum) = MetaStore::text_cell("versions", row, "cksum")? {
                    digests.insert(sum.to_string());
                }
            }
        }
        let mut body = Vec::new();
        for row in &rows {
            body.extend_from_slice(berth_store::row_to_json(row).to_string().as_bytes());
            body.push(b'\n');
        }
        if tables.last().is_none_or(|t: &TableEntry| t.name != table) {
            tables.push(TableEntry {
                name: table.to_string(),
                parts: Vec::new(),
                rows: 0,
            });
            report.tables.push((table.to_string(), 0));
        }
        let index = tables.len() - 1;
        let entry = &mut tables[index];
        let path = format!("tables/{index:02}-{table}-{:05}.jsonl", entry.parts.len());
        if failed.is_none() {
            if let Err(e) = append(&mut tar, &path, &body, &mut members) {
                failed = Some(e);
            }
        }
        entry.parts.push(path);
        entry.rows += rows.len() as u64;
        if let Some(counted) = report.tables.last_mut() {
            counted.1 = entry.rows;
        }
        progress(table, entry.rows, entry.rows);
        Ok(())
    })
    .await?;
    if let Some(e) = failed {
        return Err(write_err(e));
    }
    let total = digests.len() as u64;
    for (i, digest) in digests.iter().enumerate() {
        let bytes = blobs.get(digest).await?.ok_or_else(|| {
            ServiceError::Unavailable(format!(
                "blob {digest} of a version is missing from the blob store; run `berth fsck`"
            ))
        })?;
        if sha256_hex(&bytes) != *digest {
            return Err(ServiceError::Unavailable(format!(
                "blob {digest} does not match its checksum; run `berth fsck`"
            )));
        }
        append(&mut tar, &format!("blobs/{digest}"), &bytes, &mut members).map_err(write_err)?;
        report.blobs += 1;
        report.bytes += bytes.len() as u64;
        progress("blobs", i as u64 + 1, total);
    }
    let manifest = Manifest {
        format: FORMAT,
        created_at: berth_store::now_unix(),
        tables,
        blobs: report.blobs,
        members,
    };
    let text = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| ServiceError::Internal(format!("manifest: {e}")))?;
    let mut header = tar::Header::new_gnu();
    header.set_size(text.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, MANIFEST, &text[..])
        .map_err(write_err)?;
    let mut writer = tar.into_inner().map_err(write_err)?;
    writer.flush().map_err(write_err)?;
    writer
        .into_inner()
        .map_err(|e| write_err(e.into_error()))?
        .sync_all()
        .map_err(write_err)?;
    std::fs::rename(partial, out).map_err(|e| io_err("cannot rename to", out, e))?;
    meta.close().await;
    Ok(report)
}

/// Reads a member whole (bounded).
fn read_member(entry: &mut impl Read, size: u64, path: &str) -> Result<Vec<u8>, String> {
    if size > MAX_MEMBER {
        return Err(format!(
            "member {path} is {size} bytes, more than a backup member may be"
        ));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    entry
        .take(size)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("reading {path}: {e}"))?;
    if bytes.len() as u64 != size {
        return Err(format!("{path} ends early"));
    }
    Ok(bytes)
}

/// Walks the archive, giving each member's path and bytes to `each`; the
/// manifest is returned, not given. Any tar error, an oversized header
/// record (see [`crate::maintenance::tar_input`]), or a member after the manifest, is an
/// error.
fn walk(
    file: &Path,
    mut each: impl FnMut(&str, Vec<u8>) -> Result<(), String>,
) -> Result<Manifest, String> {
    let f =
        std::fs::File::open(file).map_err(|e| format!("cannot open {}: {e}", file.display()))?;
    let mut manifest: Option<Manifest> = None;
    crate::maintenance::tar_input::entries(BufReader::new(f), |entry| {
        let path = entry
            .path()
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .into_owned();
        if manifest.is_some() {
            return Err(format!("member {path} after the manifest"));
        }
        let size = entry.size();
        let bytes = read_member(entry, size, &path)?;
        if path == MANIFEST {
            manifest = Some(
                serde_json::from_slice(&bytes)
                    .map_err(|e| format!("the manifest is not valid: {e}"))?,
            );
        } else {
            each(&path, bytes)?;
        }
        Ok(())
    })?;
    manifest
        .ok_or_else(|| "it has no manifest (it is truncated, or not a Berth backup)".to_string())
}

/// The table a part's path names (`tables/NN-NAME-PPPPP.jsonl`).
fn table_of_part(path: &str) -> Option<&str> {
    let stem = path.strip_prefix("tables/")?.strip_suffix(".jsonl")?;
    let mut fields = stem.split('-');
    let (_index, name, _part) = (fields.next()?, fields.next()?, fields.next()?);
    fields.next().is_none().then_some(name)
}

/// Parses every row of a table part, as restore will import them.
fn parse_part(table: &str, bytes: &[u8]) -> Result<Vec<Vec<berth_store::Cell>>, String> {
    let mut rows = Vec::new();
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_slice(line)
            .map_err(|e| format!("line {} of a part of {table} is not JSON: {e}", i + 1))?;
        let row = berth_store::row_from_json(table, &value)
            .map_err(|e| format!("line {} of a part of {table}: {e}", i + 1))?;
        rows.push(row);
    }
    Ok(rows)
}

/// Reads the whole backup and checks everything restore will write before
/// it writes anything: every member once (a repeated path is refused),
/// against the manifest (sha256 and size), every blob against its name,
/// every row of every table part parsed as restore imports it, and every
/// table's parts and row count against the manifest.
fn verify(file: &Path) -> Result<Manifest, String> {
    let mut seen: BTreeMap<String, Member> = BTreeMap::new();
    // Rows per table part, as parsed.
    let mut part_rows: BTreeMap<String, u64> = BTreeMap::new();
    let manifest = walk(file, |path, bytes| {
        if seen.contains_key(path) {
            return Err(format!("{path} appears more than once"));
        }
        let sha256 = sha256_hex(&bytes);
        if let Some(name) = path.strip_prefix("blobs/") {
            if name != sha256 {
                return Err(format!("blob {name} has checksum {sha256}"));
            }
        } else if path.starts_with("tables/") {
            let table = table_of_part(path)
                .filter(|t| berth_store::table_names().contains(t))
                .ok_or_else(|| format!("{path} is not a part of a table this build knows"))?;
            let rows = parse_part(table, &bytes).map_err(|e| format!("{path}: {e}"))?;
            part_rows.insert(path.to_string(), rows.len() as u64);
        } else {
            return Err(format!("{path} is not a member a backup has"));
        }
        seen.insert(
            path.to_string(),
            Member {
                sha256,
                size: bytes.len() as u64,
            },
        );
        Ok(())
    })?;
    if manifest.format != FORMAT {
        return Err(format!(
            "format {} is not one this build reads ({FORMAT})",
            manifest.format
        ));
    }
    for (path, want) in &manifest.members {
        match seen.get(path) {
            None => return Err(format!("{path} is missing")),
            Some(got) if got != want => {
                return Err(format!(
                    "{path} has sha256 {} ({} bytes); the manifest says {} ({} bytes)",
                    got.sha256, got.size, want.sha256, want.size
                ))
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = seen.keys().find(|p| !manifest.members.contains_key(*p)) {
        return Err(format!("{extra} is not in the manifest"));
    }
    let mut claimed = std::collections::BTreeSet::new();
    let mut names = std::collections::BTreeSet::new();
    for t in &manifest.tables {
        if !berth_store::table_names().contains(&t.name.as_str()) {
            return Err(format!("table {} is not one this build knows", t.name));
        }
        if !names.insert(t.name.as_str()) {
            return Err(format!("table {} is listed twice", t.name));
        }
        let mut rows = 0;
        for p in &t.parts {
            if table_of_part(p) != Some(t.name.as_str()) || !claimed.insert(p.as_str()) {
                return Err(format!("{p} is not a part of table {} only", t.name));
            }
            rows += part_rows
                .get(p)
                .ok_or_else(|| format!("{p} of table {} is missing", t.name))?;
        }
        if rows != t.rows {
            return Err(format!(
                "table {} has {rows} rows; the manifest says {}",
                t.name, t.rows
            ));
        }
    }
    if let Some(stray) = part_rows.keys().find(|p| !claimed.contains(p.as_str())) {
        return Err(format!("{stray} is a part of no table of the manifest"));
    }
    Ok(manifest)
}

/// What a non-empty target holds, if anything.
async fn contents(meta: &MetaStore, blobs: &BlobStore) -> Result<Option<String>, ServiceError> {
    for table in berth_store::table_names() {
        // Registries are created at start, and `audit_chain` holds its one
        // row from the migrations on: neither makes a target non-empty.
        if table == "registries" || table == "audit_chain" {
            continue;
        }
        let n = meta.count_rows(table).await?;
        if n > 0 {
            return Ok(Some(format!("the database has {n} row(s) in `{table}`")));
        }
    }
    let n = blobs.list().await?.len();
    if n > 0 {
        return Ok(Some(format!("the blob store holds {n} blob(s)")));
    }
    Ok(None)
}

/// The members of a backup whose paths `wanted` accepts, read by a
/// blocking thread one at a time.
struct Members {
    rx: tokio::sync::mpsc::Receiver<(String, Vec<u8>)>,
    reader: tokio::task::JoinHandle<Result<(), String>>,
}

fn read_members(file: &Path, wanted: fn(&str) -> bool) -> Members {
    let (tx, rx) = tokio::sync::mpsc::channel::<(String, Vec<u8>)>(2);
    let path = file.to_path_buf();
    let reader = tokio::task::spawn_blocking(move || {
        walk(&path, |p, bytes| {
            if !wanted(p) {
                return Ok(());
            }
            tx.blocking_send((p.to_string(), bytes))
                .map_err(|_| "stopped".to_string())
        })
        .map(|_| ())
    });
    Members { rx, reader }
}

impl Members {
    /// The next member, checked against the manifest once more (the file
    /// could have changed since it was verified).
    async fn next(
        &mut self,
        manifest: &Manifest,
        file: &Path,
    ) -> Result<Option<(String, Vec<u8>)>, ServiceError> {
        let Some((path, bytes)) = self.rx.recv().await else {
            return Ok(None);
        };
        let want = manifest.members.get(&path);
        if want.is_none_or(|m| m.sha256 != sha256_hex(&bytes)) {
            return Err(ServiceError::BadRequest(format!(
                "the backup {} changed while it was restored ({path}); restore it again",
                file.display()
            )));
        }
        Ok(Some((path, bytes)))
    }

    /// Waits for the reader; its error, if it had one.
    async fn finish(self, file: &Path) -> Result<(), ServiceError> {
        drop(self.rx);
        self.reader
            .await
            .map_err(|e| ServiceError::Internal(format!("reading: {e}")))?
            .map_err(|e| ServiceError::BadRequest(format!("reading {}: {e}", file.display())))
    }
}

/// Restores `file` into the stores `config` describes.
pub async fn restore(
    config: &Config,
    file: &Path,
    force: bool,
    progress: Progress<'_>,
) -> Result<Report, ServiceError> {
    let (meta, blobs) = crate::open_stores(config, |store| format!("the target {store}")).await?;
    if !force {
        if let Some(what) = contents(&meta, &blobs).await? {
            return Err(ServiceError::Conflict(format!(
                "the target is not empty: {what}; restore into an empty data dir (or an empty \
                 database and bucket), or pass --force to restore over it (rows with the same ids \
                 are overwritten)"
            )));
        }
    }
    progress("verifying", 0, 1);
    let mut report = Report::default();
    let path = file.to_path_buf();
    let manifest = tokio::task::spawn_blocking(move || verify(&path))
        .await
        .map_err(|e| ServiceError::Internal(format!("verifying: {e}")))?
        .map_err(|e| {
            ServiceError::BadRequest(format!(
                "the backup {} is damaged, nothing was restored: {e}",
                file.display()
            ))
        })?;
    progress("verifying", 1, 1);
    check_log(
        config,
        file,
        &manifest,
        force.then_some(&meta),
        &mut report,
        progress,
    )
    .await?;
    if force {
        // Docs are not in a backup, and rows restored over these may give
        // a version's id to another version: its docs would be served
        // for it. They are set aside (deleted after the grace).
        let retired = meta
            .retire_all_docs(crate::clock::Clock::for_process().now_unix())
            .await?;
        if retired > 0 {
            report.notes.push(format!(
                "the docs of {retired} version(s) were set aside (a backup holds no docs, and \
                 restored rows may reuse their versions' ids); `berth docs rebuild` or an upload \
                 makes them again"
            ));
        }
    }
    // Everything checked; now write, reading the file twice so that only
    // one member is in memory at a time: blobs first, then the rows that
    // refer to them, each member re-checked as it passes.
    let mut members = read_members(file, |p| p.starts_with("blobs/"));
    while let Some((path, bytes)) = members.next(&manifest, file).await? {
        let digest = path.trim_start_matches("blobs/");
        report.bytes += bytes.len() as u64;
        blobs.put(digest, Bytes::from(bytes)).await?;
        report.blobs += 1;
        progress("blobs", report.blobs, manifest.blobs);
    }
    members.finish(file).await?;
    let table_of: BTreeMap<&str, &TableEntry> = manifest
        .tables
        .iter()
        .flat_map(|t| t.parts.iter().map(move |p| (p.as_str(), t)))
        .collect();
    let mut members = read_members(file, |p| p.starts_with("tables/"));
    let mut done: BTreeMap<String, u64> = BTreeMap::new();
    while let Some((path, bytes)) = members.next(&manifest, file).await? {
        let Some(t) = table_of.get(path.as_str()) else {
            continue;
        };
        // Parsed once already when the backup was verified.
        let rows = parse_part(&t.name, &bytes).map_err(ServiceError::BadRequest)?;
        let count = done.entry(t.name.clone()).or_insert(0);
        for chunk in rows.chunks(IMPORT_CHUNK) {
            meta.import_rows(&t.name, chunk).await?;
            *count += chunk.len() as u64;
            progress(&t.name, *count, t.rows);
        }
    }
    members.finish(file).await?;
    for t in &manifest.tables {
        report
            .tables
            .push((t.name.clone(), done.get(&t.name).copied().unwrap_or(0)));
    }
    if !manifest.tables.iter().any(|t| t.name == "audit_chain") {
        // A backup from before the audit chain's start was recorded: record
        // it from the restored rows, as that migration did.
        meta.record_audit_chain_start().await?;
    }
    meta.reset_id_sequences().await?;
    meta.close().await;
    Ok(report)
}

/// Checks the transparency log a verified backup holds before anything is
/// restored: its log tables are loaded into a scratch SQLite database
/// (beside the target's data, removed after) and checked as `fsck` checks
/// a log. Checkpoint signatures are checked with the target's keys when
/// it has any; otherwise `report` says they were not. Restoring over a
/// target (`forced_over`), every log the target holds must be a prefix of
/// the backup's ([`check_target_logs`]).
async fn check_log(
    config: &Config,
    file: &Path,
    manifest: &Manifest,
    forced_over: Option<&MetaStore>,
    report: &mut Report,
    progress: Progress<'_>,
) -> Result<(), ServiceError> {
    use crate::maintenance::log_check::{check_logs, Verifiers};
    use crate::transparency::keys;
    let rows: u64 = manifest
        .tables
        .iter()
        .filter(|t| LOG_TABLES[1..].contains(&t.name.as_str()))
        .map(|t| t.rows)
        .sum();
    if rows == 0 {
        if let Some(target) = forced_over {
            check_target_logs(target, None, file).await?;
        }
        return Ok(());
    }
    let signer = keys::read_key(config)?;
    let retired = keys::retired_keys(config);
    let keys = match (&signer, retired.is_empty()) {
        (None, true) => {
            report.notes.push(format!(
                "the transparency log's checkpoints were not checked against a key: the target \
                 has none yet ({}); copy the source's key there (or set [transparency] \
                 key_file) before `berth serve` makes a new one, or clients that trust the old \
                 key will refuse the new checkpoints",
                keys::key_source(config)
            ));
            None
        }
        _ => Some(Verifiers::new(
            signer.as_ref().map(|s| s.verifier()),
            &retired,
        )),
    };
    let base = if config.data_dir.is_dir() {
        config.data_dir.clone()
    } else {
        std::env::temp_dir()
    };
    let scratch_dir = tempfile::Builder::new()
        .prefix(".berth-restore-log-")
        .tempdir_in(&base)
        .map_err(|e| io_err("cannot make a scratch directory in", &base, e))?;
    let url = format!(
        "sqlite://{}?mode=rwc",
        scratch_dir.path().join("log.db").display()
    );
    let scratch = MetaStore::connect(&url, 1).await.map_err(|e| {
        ServiceError::Unavailable(format!("cannot open a scratch database at {url}: {e}"))
    })?;
    let result = async {
        let mut members = read_members(file, |p| {
            table_of_part(p).is_some_and(|t| LOG_TABLES.contains(&t))
        });
        let mut loaded = 0;
        while let Some((path, bytes)) = members.next(manifest, file).await? {
            let Some(table) = table_of_part(&path) else {
                continue;
            };
            let rows = parse_part(table, &bytes).map_err(ServiceError::BadRequest)?;
            for chunk in rows.chunks(IMPORT_CHUNK) {
                scratch.import_rows(table, chunk).await?;
                loaded += chunk.len() as u64;
                progress("loading the transparency log", loaded, rows_of(manifest));
            }
        }
        members.finish(file).await?;
        progress("checking the transparency log", 0, 1);
        let (findings, checked) = check_logs(&scratch, keys.as_ref()).await?;
        progress("checking the transparency log", 1, 1);
        if !findings.is_empty() {
            let mut lines: Vec<String> = findings
                .iter()
                .take(FINDINGS_SHOWN)
                .map(|f| format!("  {f}"))
                .collect();
            if findings.len() > FINDINGS_SHOWN {
                lines.push(format!("  and {} more", findings.len() - FINDINGS_SHOWN));
            }
            return Err(ServiceError::BadRequest(format!(
                "the backup {} holds a transparency log that does not verify, nothing was \
                 restored:\n{}",
                file.display(),
                lines.join("\n")
            )));
        }
        report.log_records = checked.records;
        report.log_checkpoints = checked.checkpoints;
        if let Some(target) = forced_over {
            check_target_logs(target, Some(&scratch), file).await?;
        }
        Ok(())
    }
    .await;
    scratch.close().await;
    result
}

/// Refuses a restore over a target whose transparency log of some
/// registry went further than the backup's (`backup`: its log tables, or
/// none) or holds other records: rows are upserted and log records are
/// never overwritten, so such a target would keep records beyond the
/// restored head (and its next publish there would fail) or records the
/// restored tree does not hash.
async fn check_target_logs(
    target: &MetaStore,
    backup: Option<&MetaStore>,
    file: &Path,
) -> Result<(), ServiceError> {
    let theirs: BTreeMap<i64, u64> = match backup {
        Some(b) => b
            .log_sizes()
            .await?
            .into_iter()
            .map(|(id, _, n)| (id, n))
            .collect(),
        None => BTreeMap::new(),
    };
    for (id, name, ours) in target.log_sizes().await? {
        let held = theirs.get(&id).copied().unwrap_or(0);
        let why = if ours > held {
            format!(
                "registry `{name}`'s transparency log holds {ours} records there, the backup's \
                 {held}"
            )
        } else {
            let Some(b) = backup else {
                continue;
            };
            if target.log_root_at(id, ours).await? == b.log_root_at(id, ours).await? {
                continue;
            }
            format!(
                "registry `{name}`'s transparency log there is not the start of the backup's \
                 (their first {ours} records differ)"
            )
        };
        return Err(ServiceError::Conflict(format!(
            "the target went further than the backup {} or away from it: {why}; restoring over \
             it would leave records the backup does not hold, and publishes there would fail. \
             Nothing was restored. Restore into an empty data dir (or an empty database and \
             bucket)",
            file.display()
        )));
    }
    Ok(())
}

/// The rows of the tables a log check loads.
fn rows_of(manifest: &Manifest) -> u64 {
    manifest
        .tables
        .iter()
        .filter(|t| LOG_TABLES.contains(&t.name.as_str()))
        .map(|t| t.rows)
        .sum()
}

/// Creates (or truncates) a file only its owner may read and write (0600,
/// whatever the umask): backups and mirror bundles may hold private crates
/// and credential hashes.
pub(crate) fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::os::unix::fs::OpenOptionsExt::mode(
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true),
        0o600,
    )
    .open(path)
}
