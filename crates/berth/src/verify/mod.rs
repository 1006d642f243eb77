//! `berth verify`: a client of a registry's transparency log, run where
//! crates are used (a developer's machine, CI), never on the server. For a
//! `Cargo.lock` (or one `.crate` file) it proves that every version cargo
//! resolved from the registry is in the registry's public log with the
//! checksum cargo insists on, under a checkpoint signed by a key the user
//! trusts; and that the log only grew since this client last looked (the
//! newest checkpoint it verified is kept per log, see `state.rs`).
//!
//! Layout: `index.rs` the index URL taken apart (log URLs, origins,
//! sources); `keys.rs` the trusted keys; `lockfile.rs` and `crate_file.rs`
//! what to check; `http.rs` the one HTTP client and the log endpoints;
//! `entry.rs` one package against its lookup answer; `consistency.rs` one
//! log's checkpoints against each other and the stored one; `state.rs` the
//! stored checkpoints; `report.rs` what is printed. This module runs them:
//! lookups concurrently (at most [`LOOKUPS_AT_ONCE`]), then each log's
//! proofs. It opens no Berth data dir and prints nothing itself.

mod consistency;
mod crate_file;
mod entry;
mod http;
mod index;
mod keys;
mod lockfile;
mod report;
mod state;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use berth_log::VerifierKey;
use futures::StreamExt;

use consistency::{Fork, Outcome, Seen};
use entry::Logged;
use http::LogClient;
pub use index::IndexUrl;
use lockfile::{Skipped, Wanted};
pub use report::Report;
use report::{CheckpointView, LogReport, LogStatus, PackageReport, Status, Summary};

/// Lookups in flight at once.
pub const LOOKUPS_AT_ONCE: usize = 16;

/// What one run checks, and with what.
pub struct Options {
    pub index: IndexUrl,
    /// `--key` arguments: keys, or files of them.
    pub keys: Vec<String>,
    pub token: Option<String>,
    /// Original ids of sources the index replaces.
    pub sources: Vec<String>,
    /// `--state-dir`, if given.
    pub state_dir: Option<PathBuf>,
    /// The `Cargo.lock` or `.crate` file.
    pub file: PathBuf,
}

/// What is to be checked, read from the file given.
struct Targets {
    wanted: Vec<Wanted>,
    skipped: Vec<Skipped>,
    /// The `.crate` file's path, in crate mode.
    crate_file: Option<String>,
}

/// Runs the checks. `progress` is called with the number of lookups once,
/// then once per lookup done. An error is a run that could not be made
/// (bad arguments, no package to check); what was checked and failed is in
/// the report.
pub async fn run(options: Options, progress: &dyn Fn(Progress)) -> Result<Report> {
    let keys = keys::load(&options.keys)?;
    let state_dir = state::dir(options.state_dir.clone())?;
    let targets = targets(&options)?;
    let client = LogClient::new(options.index.clone(), options.token.clone())?;

    progress(Progress::Start(targets.wanted.len()));
    let mut checked: Vec<(usize, Result<Logged, String>)> =
        futures::stream::iter(targets.wanted.iter().enumerate())
            .map(|(i, w)| {
                let (client, keys) = (&client, &keys);
                async move {
                    let result = look_up(client, keys, w).await;
                    progress(Progress::Done);
                    (i, result)
                }
            })
            .buffer_unordered(LOOKUPS_AT_ONCE)
            .collect()
            .await;
    checked.sort_by_key(|(i, _)| *i);
    progress(Progress::Finish);

    let mut packages = Vec::new();
    let mut by_origin: BTreeMap<String, (String, Vec<Seen>)> = BTreeMap::new();
    for ((_, result), w) in checked.into_iter().zip(&targets.wanted) {
        let source = targets
            .crate_file
            .clone()
            .or_else(|| Some(options.index.source.clone()));
        let mut p = PackageReport {
            name: w.name.clone(),
            version: w.version.clone(),
            status: Status::Ok,
            reason: None,
            source,
            sha256: Some(w.sha256.clone()),
            log: None,
            log_index: None,
            tree_size: None,
        };
        match result {
            Ok(logged) => {
                let origin = options.index.origin_of(&logged.registry);
                p.log = Some(origin.clone());
                p.log_index = Some(logged.index);
                p.tree_size = Some(logged.checkpoint.size);
                by_origin
                    .entry(origin)
                    .or_insert_with(|| (logged.registry.clone(), Vec::new()))
                    .1
                    .push(Seen {
                        checkpoint: logged.checkpoint,
                        note: logged.note,
                    });
            }
            Err(reason) => {
                p.status = Status::Fail;
                p.reason = Some(reason);
            }
        }
        packages.push(p);
    }
    for s in &targets.skipped {
        packages.push(PackageReport {
            name: s.name.clone(),
            version: s.version.clone(),
            status: Status::Skip,
            reason: Some(s.why.clone()),
            source: s.source.clone(),
            sha256: None,
            log: None,
            log_index: None,
            tree_size: None,
        });
    }

    let mut checkpoints = Vec::new();
    for (origin, (registry, received)) in by_origin {
        let log = LogCheck {
            client: &client,
            keys: &keys,
            state_dir: &state_dir,
            origin: &origin,
            registry: &registry,
        };
        if let Some(report) = log.check(&received).await {
            checkpoints.push(report);
        }
    }

    let count = |s: Status| packages.iter().filter(|p| p.status == s).count();
    let summary = Summary {
        ok: count(Status::Ok),
        failed: count(Status::Fail),
        skipped: count(Status::Skip),
        logs_failed: checkpoints
            .iter()
            .filter(|c| c.status != LogStatus::Ok)
            .count(),
    };
    Ok(Report {
        index: options.index.source.clone(),
        ok: summary.failed == 0 && summary.logs_failed == 0,
        packages,
        checkpoints,
        summary,
    })
}

/// How far the lookups are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Start(usize),
    Done,
    Finish,
}

async fn look_up(client: &LogClient, keys: &[VerifierKey], w: &Wanted) -> Result<Logged, String> {
    entry::askable(w)?;
    let answer = client
        .lookup(&w.name, &w.version)
        .await
        .map_err(|e| match e {
            http::FetchError::Status { status: 404, .. } => format!("not in the log: {e}"),
            e => e.to_string(),
        })?;
    entry::check(w, &answer, keys, client.index())
}

fn targets(options: &Options) -> Result<Targets> {
    let path = &options.file;
    if path.extension().is_some_and(|e| e == "crate") {
        let wanted = crate_file::read(path)?;
        return Ok(Targets {
            wanted: vec![wanted],
            skipped: Vec::new(),
            crate_file: Some(path.display().to_string()),
        });
    }
    let text = read_lockfile(path)?;
    let locked = lockfile::read(&text, &options.index, &options.sources)
        .with_context(|| format!("{}", path.display()))?;
    if locked.wanted.is_empty() {
        let present = lockfile::sources_present(&locked.skipped);
        let listed = if present.is_empty() {
            "none".to_string()
        } else {
            present
                .iter()
                .map(|(s, n)| format!("\n  {s} ({n})"))
                .collect::<String>()
        };
        bail!(
            "no package of {} with a checksum comes from {} (give --source SOURCE for a source \
             the registry replaces); the sources present: {listed}",
            path.display(),
            options.index.source
        );
    }
    Ok(Targets {
        wanted: locked.wanted,
        skipped: locked.skipped,
        crate_file: None,
    })
}

fn read_lockfile(path: &Path) -> Result<String> {
    use std::io::Read;
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut text = String::new();
    file.take(lockfile::MAX_LOCKFILE_BYTES + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read {} as text", path.display()))?;
    if text.len() as u64 > lockfile::MAX_LOCKFILE_BYTES {
        bail!(
            "{} is larger than {} bytes",
            path.display(),
            lockfile::MAX_LOCKFILE_BYTES
        );
    }
    Ok(text)
}

/// One log's checkpoints, checked and (when consistent) stored.
struct LogCheck<'a> {
    client: &'a LogClient,
    keys: &'a [VerifierKey],
    state_dir: &'a Path,
    origin: &'a str,
    registry: &'a str,
}

impl LogCheck<'_> {
    async fn check(&self, received: &[Seen]) -> Option<LogReport> {
        let state_file = self.state_dir.join(state::file_name(self.origin));
        let stored = state::load(self.state_dir, self.origin);
        let previous = stored
            .as_ref()
            .ok()
            .and_then(|s| s.as_ref())
            .map(|s| CheckpointView::from(&s.checkpoint));
        let stored_seen = stored.as_ref().ok().and_then(|s| s.as_ref()).map(|s| Seen {
            checkpoint: s.checkpoint.clone(),
            note: s.note.clone(),
        });
        let largest = received.iter().max_by_key(|s| s.checkpoint.size)?;
        let mut report = LogReport {
            origin: self.origin.to_string(),
            status: LogStatus::Ok,
            latest: CheckpointView::from(&largest.checkpoint),
            previous,
            proved: Vec::new(),
            state_file: state_file.display().to_string(),
            stored: false,
            evidence: None,
            reason: None,
        };
        if let Err(e) = stored {
            report.status = LogStatus::Error;
            report.reason = Some(format!("{e:#}"));
            return Some(report);
        }
        let outcome = match consistency::plan(received, stored_seen.as_ref()) {
            Ok(Some(plan)) => {
                consistency::execute(
                    plan,
                    stored_seen.as_ref(),
                    self.client,
                    self.registry,
                    self.keys,
                    self.origin,
                )
                .await
            }
            Ok(None) => return None,
            Err(fork) => Outcome::Fork(*fork),
        };
        match outcome {
            Outcome::Consistent {
                newest,
                proved,
                store,
            } => {
                report.proved = proved.into_iter().map(|(a, b)| [a, b]).collect();
                if store {
                    match state::store(self.state_dir, &newest.checkpoint, &newest.note) {
                        Ok(_) => report.stored = true,
                        Err(e) => {
                            report.status = LogStatus::Error;
                            report.reason = Some(format!("{e:#}"));
                        }
                    }
                }
            }
            Outcome::Fork(fork) => {
                report.status = LogStatus::Fork;
                let (reason, evidence) = self.fork(&fork, stored_seen.as_ref(), &state_file);
                report.reason = Some(reason);
                report.evidence = evidence;
            }
            Outcome::Shrink { stored, current } => {
                report.status = LogStatus::Shrink;
                report.reason = Some(format!(
                    "SHRINK: the log {} has {} entries now, fewer than the checkpoint of size {} \
                     (root {}) it signed before. A log never shrinks: it was rolled back or \
                     rewritten. That checkpoint is kept in {}",
                    self.origin,
                    current.checkpoint.size,
                    stored.checkpoint.size,
                    stored.checkpoint.root.to_base64(),
                    state_file.display()
                ));
            }
            Outcome::Unproved(why) => {
                report.status = LogStatus::Error;
                report.reason = Some(format!(
                    "the log's consistency is not proved, the stored checkpoint is left as it \
                     was: {why}"
                ));
            }
        }
        Some(report)
    }

    /// The words for a fork, and where its evidence was kept.
    fn fork(
        &self,
        fork: &Fork,
        stored: Option<&Seen>,
        state_file: &Path,
    ) -> (String, Option<String>) {
        let evidence = state::keep_evidence(
            self.state_dir,
            self.origin,
            &fork.old.note,
            &fork.new.note,
            &fork.why,
        );
        let kept = match stored {
            Some(s) => format!(
                "the checkpoint this client had (size {}) is kept in {}",
                s.checkpoint.size,
                state_file.display()
            ),
            None => "this client had no checkpoint of it stored".to_string(),
        };
        let (evidence, where_) = match evidence {
            Ok(path) => (
                Some(path.display().to_string()),
                format!("; both checkpoints are in {}", path.display()),
            ),
            Err(e) => (None, format!("; the evidence could not be kept: {e:#}")),
        };
        (
            format!(
                "FORK: the log {} was rewritten (or different clients are shown different logs): \
                 {}. Do not trust it until its operator explains; {kept}{where_}",
                self.origin, fork.why
            ),
            evidence,
        )
    }
}
