//! `berth backup` and `berth restore`: one consistent backup file of the
//! registry, and its restore into empty stores (after its transparency log
//! verified), with phase progress and the per-table counts.

use std::path::Path;

use anyhow::Result;
use berth_core::maintenance::backup::Report;
use berth_core::Config;

use crate::output::{phase_bar, plural, show_phase};

pub async fn backup(config: &Config, out: &Path) -> Result<()> {
    let bar = phase_bar();
    let report = berth_core::maintenance::backup::backup(config, out, &show_phase(&bar)).await;
    bar.finish_and_clear();
    print_transfer(&report?);
    println!("wrote {}", out.display());
    Ok(())
}

pub async fn restore(config: &Config, file: &Path, force: bool) -> Result<()> {
    let bar = phase_bar();
    let report =
        berth_core::maintenance::backup::restore(config, file, force, &show_phase(&bar)).await;
    bar.finish_and_clear();
    let report = report?;
    print_transfer(&report);
    if report.log_records > 0 {
        println!(
            "transparency log: {} and {} verified",
            plural(report.log_records, "record", "records"),
            plural(report.log_checkpoints, "checkpoint", "checkpoints")
        );
    }
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    println!("restored {}", file.display());
    Ok(())
}

fn print_transfer(report: &Report) {
    for (table, rows) in &report.tables {
        println!("{table}: {}", plural(*rows, "row", "rows"));
    }
    println!(
        "blobs: {} ({})",
        report.blobs,
        plural(report.bytes, "byte", "bytes")
    );
}
