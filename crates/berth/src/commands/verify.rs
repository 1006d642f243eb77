//! `berth verify`: the command line made [`crate::verify::Options`], the
//! run's progress on stderr (a bar when there are many lookups and stderr
//! is a terminal), and the report on stdout: lines, or one JSON document.
//! Exits 1 when anything failed; a fork or a shrink is also said on
//! stderr, where a pipeline reading the JSON leaves it in view.

use std::io::IsTerminal;

use anyhow::Result;

use crate::cli::VerifyArgs;
use crate::verify::{self, IndexUrl, Options, Progress};

/// Lookups below this many get no progress bar.
const BAR_FROM: usize = 50;

pub async fn run(args: &VerifyArgs) -> Result<()> {
    let token = args
        .token
        .clone()
        .or_else(|| std::env::var("CARGO_REGISTRY_TOKEN").ok())
        .filter(|t| !t.trim().is_empty());
    let options = Options {
        index: IndexUrl::parse(&args.index)?,
        keys: args.keys.clone(),
        token,
        sources: args.sources.clone(),
        state_dir: args.state_dir.clone(),
        file: args.file.clone(),
    };
    let bar = std::cell::OnceCell::new();
    let progress = |p: Progress| match p {
        Progress::Start(n) if n >= BAR_FROM && std::io::stderr().is_terminal() => {
            let _ = bar.set(crate::output::progress_bar(n, "verifying"));
        }
        Progress::Start(_) => {}
        Progress::Done => {
            if let Some(b) = bar.get() {
                b.inc(1);
            }
        }
        Progress::Finish => {
            if let Some(b) = bar.get() {
                b.finish_and_clear();
            }
        }
    };
    let report = verify::run(options, &progress).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        for log in &report.checkpoints {
            if let Some(reason) = log.reason.as_deref().filter(|_| log.status.is_alarm()) {
                eprintln!("{reason}");
            }
        }
    } else {
        for line in report.lines() {
            println!("{line}");
        }
    }
    if !report.ok {
        std::process::exit(1);
    }
    Ok(())
}
