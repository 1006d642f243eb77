//! `berth mirror`: fill a proxy registry ahead of time from lockfiles, a
//! crate list or (`--all`) an upstream Berth's change feed, export what was filled as one bundle file (with the
//! transparency log's checkpoint and proofs), import a bundle (on an
//! air-gapped Berth, verified with `--key`); the per-crate report and its
//! exit status.

use anyhow::{bail, Context, Result};
use berth_core::maintenance::mirror::{self, FillOutcome, FillReport};
use berth_core::Berth;

use crate::cli::{MirrorCommand, MirrorSelection};
use crate::output::{plural, progress_bar};
use crate::stores::Setup;

pub async fn run(setup: Setup, command: MirrorCommand) -> Result<()> {
    setup
        .with_berth(async |berth| match command {
            MirrorCommand::Fill {
                select,
                concurrency,
            } => {
                let (versions, unresolved) = mirror_versions(berth, &select).await?;
                let bar = progress_bar(versions.len(), "filling");
                let mut report = berth
                    .mirror_fill(&select.registry, &versions, concurrency, &|_, _| bar.inc(1))
                    .await?;
                bar.finish_and_clear();
                report.items.extend(unresolved.items);
                print_fill(&report, &select.registry)
            }
            MirrorCommand::Export { select, out } => {
                let (versions, unresolved) = mirror_versions(berth, &select).await?;
                let bar = progress_bar(versions.len(), "exporting");
                let (mut report, log) = berth
                    .mirror_export(&select.registry, &versions, &out, &|_, _| bar.inc(1))
                    .await?;
                bar.finish_and_clear();
                println!("wrote {}", out.display());
                match (&log.checkpoint, &log.warning) {
                    (Some((size, origin)), _) => println!(
                        "with the signed checkpoint of {origin} (size {size}) and {}",
                        plural(log.proofs as u64, "inclusion proof", "inclusion proofs")
                    ),
                    (None, Some(warning)) => eprintln!("warning: {warning}"),
                    (None, None) => {}
                }
                report.items.extend(unresolved.items);
                print_fill(&report, &select.registry)
            }
            MirrorCommand::Import {
                file,
                registry,
                keys,
            } => {
                let keys = keys
                    .iter()
                    .map(|k| verifier_key(k))
                    .collect::<Result<Vec<_>>>()?;
                let spinner = indicatif::ProgressBar::new_spinner().with_style(
                    indicatif::ProgressStyle::with_template("{msg:>12} {spinner} ({elapsed})")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                );
                spinner.set_message(format!("verifying and importing {}", file.display()));
                spinner.enable_steady_tick(std::time::Duration::from_millis(200));
                let report = berth.mirror_import(&registry, &file, &keys).await;
                spinner.finish_and_clear();
                let report = report?;
                match &report.verified {
                    Some(v) => println!(
                        "verified {} against the checkpoint of {} (size {}) signed by {}",
                        plural(v.crates as u64, "crate", "crates"),
                        v.origin,
                        v.size,
                        v.key
                    ),
                    None => eprintln!(
                        "warning: nothing was verified against a transparency log (give --key \
                         with the source registry's key to check every crate against it)"
                    ),
                }
                println!(
                    "index files: {} written, {} unchanged; crates: {} written, {} already present \
                     ({} blocked by the registry's policy for now)",
                    report.index_files_written,
                    report.index_files_unchanged,
                    report.crates_written,
                    report.crates_present,
                    report.crates_blocked
                );
                Ok(())
            }
        })
        .await
}

/// A `--key`: the verifier key's text, or a file holding it.
fn verifier_key(given: &str) -> Result<berth_log::VerifierKey> {
    let path = std::path::Path::new(given);
    let text = if path.is_file() {
        std::fs::read_to_string(path).with_context(|| format!("reading the key file {given}"))?
    } else {
        given.to_string()
    };
    berth_log::VerifierKey::parse(text.trim()).with_context(|| {
        format!(
            "--key `{given}` is neither a verifier key (NAME+HASH+BASE64, as /r/NAME/log/key \
             serves) nor a file holding one"
        )
    })
}

/// The versions a mirror command asks for.
async fn mirror_versions(
    berth: &Berth,
    select: &MirrorSelection,
) -> Result<(Vec<(String, String)>, FillReport)> {
    let newest: usize = select
        .versions
        .strip_prefix("newest:")
        .and_then(|n| n.parse().ok())
        .filter(|n| *n >= 1)
        .with_context(|| format!("--versions `{}`: expected newest:N", select.versions))?;
    if select.all {
        let (versions, seq) = berth.mirror_feed_versions(&select.registry).await?;
        eprintln!(
            "the upstream's change feed, read to sequence {seq}, lists {}",
            plural(versions.len() as u64, "version", "versions")
        );
        return Ok((versions, FillReport::default()));
    }
    let mut wanted = Vec::new();
    for lock in &select.lockfile {
        wanted.extend(mirror::wanted_from_lockfile(lock)?);
    }
    if let Some(list) = &select.crates {
        wanted.extend(mirror::wanted_from_list(list)?);
    }
    if wanted.is_empty() {
        bail!("nothing to mirror: give --lockfile FILE, --crates FILE or --all");
    }
    let (versions, report) = berth
        .mirror_versions(&select.registry, &wanted, newest)
        .await?;
    Ok((versions, report))
}

/// One line per crate that is missing or failed, then the totals; an error
/// (exit 1) when any crate asked for is missing or could not be fetched.
fn print_fill(report: &FillReport, registry: &str) -> Result<()> {
    let spelled = |n: &str, v: &str| {
        if v == "*" {
            format!("{n} (no version of it)")
        } else {
            format!("{n}@{v}")
        }
    };
    let mut missing = 0usize;
    let mut failed = 0usize;
    let mut blocked = 0usize;
    for (n, v, o) in &report.items {
        match o {
            FillOutcome::NotFound => {
                missing += 1;
                eprintln!("not on the upstream: {}", spelled(n, v));
            }
            FillOutcome::Failed(e) => {
                failed += 1;
                eprintln!("failed: {}: {e}", spelled(n, v));
            }
            FillOutcome::Blocked(why) => {
                blocked += 1;
                eprintln!(
                    "skipped, the registry's policy blocks it: {}: {why}",
                    spelled(n, v)
                );
            }
            FillOutcome::Fetched | FillOutcome::Present => {}
        }
    }
    let fetched = report.count(|o| *o == FillOutcome::Fetched);
    let present = report.count(|o| *o == FillOutcome::Present);
    println!(
        "{fetched} fetched, {present} already cached, {blocked} blocked by policy, {missing} not on \
         the upstream, {failed} failed"
    );
    match (missing, failed) {
        (0, 0) => Ok(()),
        (m, 0) => bail!(
            "{} asked for not on the upstream of registry `{registry}` (private crates, or a \
             misspelt name or version?)",
            plural(m as u64, "crate was", "crates were"),
        ),
        (_, f) => bail!(
            "{} could not be fetched; run the same command again to retry",
            plural(f as u64, "crate", "crates"),
        ),
    }
}
