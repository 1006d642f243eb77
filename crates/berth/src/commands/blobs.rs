//! The checks and cleaning of stored data: `berth fsck` (metadata against
//! blobs and the transparency log; exit status 1 on any finding), `berth gc` (unreferenced blobs),
//! `berth blobs list` and `berth blobs verify`.

use anyhow::{bail, Context, Result};
use berth_core::BlobCheck;

use crate::cli::BlobsCommand;
use crate::output::plural;
use crate::stores::Setup;

pub async fn fsck(setup: Setup, json: bool) -> Result<()> {
    let report = setup
        .with_berth(async |berth| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_message("checking versions");
            let report = berth
                .fsck(&|what, n| bar.set_message(format!("{what}: {n} checked")))
                .await;
            bar.finish_and_clear();
            Ok(report?)
        })
        .await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).context("rendering the report")?
        );
    } else {
        for f in &report.findings {
            println!("{f}");
        }
        println!(
            "{}, {} read, {} stored, {} and {} of the transparency log: {}",
            plural(report.versions, "version", "versions"),
            plural(report.blobs_checked, "blob", "blobs"),
            plural(report.blobs_stored, "blob", "blobs"),
            plural(report.log_records, "record", "records"),
            plural(report.log_checkpoints, "checkpoint", "checkpoints"),
            plural(report.findings.len() as u64, "finding", "findings")
        );
    }
    if !report.findings.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}

pub async fn gc(setup: Setup, min_age_secs: i64) -> Result<()> {
    let (n, docs) = setup
        .with_berth(async |berth| {
            let n = berth.collect_garbage(min_age_secs).await?;
            Ok((n, berth.tidy_docs(min_age_secs).await?))
        })
        .await?;
    println!(
        "deleted {}",
        plural(n as u64, "unreferenced blob", "unreferenced blobs")
    );
    if docs == berth_core::docs::DocsTidy::default() {
        return Ok(());
    }
    println!(
        "documentation: {} dropped for the docs budget, {} and {} deleted",
        plural(docs.dropped as u64, "version's docs", "versions' docs"),
        plural(docs.retired_deleted as u64, "retired set", "retired sets"),
        plural(docs.orphans_deleted as u64, "orphan set", "orphan sets")
    );
    Ok(())
}

pub async fn blobs(setup: Setup, command: BlobsCommand) -> Result<()> {
    setup
        .with_berth(async |berth| {
            match command {
                BlobsCommand::List => {
                    let mut blobs = berth.list_blobs().await?;
                    blobs.sort();
                    for (digest, _) in blobs {
                        println!("{digest}");
                    }
                }
                BlobsCommand::Verify => {
                    let BlobCheck { problems, checked } = berth.verify_blobs().await?;
                    for p in &problems {
                        println!("{p}");
                    }
                    if !problems.is_empty() {
                        bail!("{} of {checked} blobs have problems", problems.len());
                    }
                    println!("all {checked} blobs present and verified");
                }
            }
            Ok(())
        })
        .await
}
