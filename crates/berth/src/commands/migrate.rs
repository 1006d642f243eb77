//! `berth migrate`: copy this registry to the stores of another
//! configuration, with phase progress, the per-table counts, and exit
//! status 3 when `--max-items` stopped it early.

use std::path::Path;

use anyhow::Result;
use berth_core::maintenance::migrate::Endpoints;
use berth_core::Config;

use crate::output::{phase_bar, plural, show_phase};

pub async fn run(config: &Config, to: &Path, max_items: Option<u64>) -> Result<()> {
    let dst = Config::load_file_only(to)?;
    let ends = Endpoints::open(config, &dst).await?;
    let bar = phase_bar();
    let report = ends.run(max_items, &show_phase(&bar)).await;
    bar.finish_and_clear();
    let report = report?;
    println!(
        "blobs: {} copied, {} already present, {} referenced",
        report.blobs_copied, report.blobs_already_present, report.blobs_total
    );
    for t in &report.tables {
        match t.counts {
            Some((src, dst)) => println!(
                "{}: {} copied (source {src}, destination {dst})",
                t.table,
                plural(t.copied, "row", "rows")
            ),
            None => println!(
                "{}: {} copied (stopped here)",
                t.table,
                plural(t.copied, "row", "rows")
            ),
        }
    }
    if report.incomplete {
        println!("incomplete: stopped at --max-items; run the same command again to continue");
        std::process::exit(3);
    }
    println!("migration complete");
    Ok(())
}
