//! `berth docs rebuild` and `berth docs status`: a version's docs build
//! queued again, or shown (`berth_core::docs` decides and writes).

use anyhow::Result;

use crate::cli::DocsCommand;
use crate::commands::supply::split_target;
use crate::stores::Setup;

pub async fn run(setup: Setup, command: DocsCommand) -> Result<()> {
    match command {
        DocsCommand::Rebuild { target, registry } => {
            let (krate, version) = split_target(&target, "CRATE@VERSION")?;
            setup
                .with_berth(async |berth| {
                    berth.rebuild_docs(None, &registry, krate, version).await?;
                    println!(
                        "queued the docs build of {krate}@{version} in `{registry}`; a node \
                         with `[docs] workers` takes it"
                    );
                    Ok(())
                })
                .await
        }
        DocsCommand::Status { target, registry } => {
            let (krate, version) = split_target(&target, "CRATE@VERSION")?;
            setup
                .with_berth(async |berth| {
                    match berth.docs_build_status(&registry, krate, version).await? {
                        None => println!("no docs build of {krate}@{version} was ever queued"),
                        Some(b) => {
                            println!("state: {} (attempts: {})", b.state, b.attempts);
                            if let Some(log) = b.log.filter(|l| !l.is_empty()) {
                                println!("log:\n{log}");
                            }
                        }
                    }
                    Ok(())
                })
                .await
        }
    }
}
