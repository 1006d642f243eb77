//! `berth docs rebuild`, `berth docs status` and `berth docs worker`: a
//! version's docs build queued again or shown, and queued builds built on
//! a machine that does not serve (`berth_core::docs` decides and writes).

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
        DocsCommand::Worker { workers } => {
            setup
                .with_berth(async |berth| {
                    let n = workers.unwrap_or(berth.config.docs.workers).max(1);
                    if n > 64 {
                        anyhow::bail!("--workers is at most 64");
                    }
                    if !std::path::Path::new(berth_core::docs::BWRAP).exists() {
                        anyhow::bail!(
                            "bubblewrap is not installed ({}): docs builds run in its sandbox \
                             (apt-get install bubblewrap)",
                            berth_core::docs::BWRAP
                        );
                    }
                    // Unique among the workers of every machine: the lease owner.
                    let started = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap_or_default()
                        .as_nanos();
                    let host = format!("worker-{}-{started:x}", std::process::id());
                    let names: Vec<String> =
                        (0..n).map(|i| format!("{host}-docs-{i}")).collect();
                    let tasks: Vec<_> = names
                        .iter()
                        .map(|w| tokio::spawn(berth.clone().run_docs_worker(w.clone())))
                        .collect();
                    tracing::info!(workers = n, toolchain = %berth.config.docs.toolchain, "docs worker started");
                    eprintln!("building docs with {n} worker(s); Ctrl-C or SIGTERM stops");
                    crate::commands::serve::shutdown_signal().await;
                    for t in tasks {
                        t.abort();
                    }
                    berth.release_docs_builds(&names).await;
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
