//! `berth registry visibility` (the stored private/public setting),
//! `berth registry replica-status` (how far a replica has followed),
//! `berth registry replica-resync` (a replica starting over) and
//! `berth proxy purge` (what a proxy registry forgets of its cache).

use anyhow::Result;

use crate::cli::{ProxyCommand, RegistryCommand, Visibility};
use berth_core::tokens::format_time;

use crate::output::plural;
use crate::stores::Setup;

pub async fn registry(setup: Setup, command: RegistryCommand) -> Result<()> {
    let (registry, visibility) = match command {
        RegistryCommand::Visibility {
            registry,
            visibility,
        } => (registry, visibility),
        RegistryCommand::ReplicaStatus { registry } => {
            return replica_status(setup, &registry).await
        }
        RegistryCommand::ReplicaResync { registry } => {
            setup
                .with_berth(async |berth| Ok(berth.replica_resync(&registry).await?))
                .await?;
            println!(
                "replica `{registry}` reads its primary's feed from the start at its next step                  (within seconds on a running server) and trusts the primary's transparency log                  as it is then"
            );
            return Ok(());
        }
    };
    setup
        .with_berth(async |berth| {
            let private = visibility == Visibility::Private;
            Ok(berth.set_registry_visibility(&registry, private).await?)
        })
        .await?;
    println!("registry `{registry}` is now {}", visibility.as_str());
    Ok(())
}

pub async fn proxy(setup: Setup, command: ProxyCommand) -> Result<()> {
    let ProxyCommand::Purge {
        registry,
        name,
        crates,
    } = command;
    let report = setup
        .with_berth(async |berth| {
            Ok(berth
                .proxy_purge(&registry, name.as_deref(), crates)
                .await?)
        })
        .await?;
    let what = name.map_or_else(|| "every crate".to_string(), |n| format!("`{n}`"));
    println!(
        "registry `{registry}` forgot {} and {} of {what}",
        plural(
            report.index_answers,
            "cached index answer",
            "cached index answers"
        ),
        plural(report.crates, "cached crate", "cached crates"),
    );
    if report.crates > 0 {
        println!("`berth gc` deletes the blobs that nothing else refers to");
    }
    println!(
        "running servers answer from memory for at most {} more (index_ttl_secs), then ask the upstream",
        plural(report.memo_ttl_secs, "second", "seconds")
    );
    Ok(())
}

async fn replica_status(setup: Setup, registry: &str) -> Result<()> {
    let state = setup
        .with_berth(async |berth| Ok(berth.replica_status(registry).await?))
        .await?;
    let time = |t: Option<i64>| t.map_or_else(|| "never".to_string(), format_time);
    println!(
        "replica `{registry}`: applied sequence {} of the primary's {} ({} behind)",
        state.applied_seq,
        state.primary_head,
        plural(
            (state.primary_head - state.applied_seq).max(0) as u64,
            "sequence",
            "sequences"
        )
    );
    println!("last caught up: {}", time(state.caught_up_at));
    println!(
        "followed by: {} (lease until {})",
        state.lease_owner.as_deref().unwrap_or("no node yet"),
        time(Some(state.lease_until).filter(|t| *t > 0))
    );
    match &state.log_root {
        Some(root) if state.log_size > 0 => println!(
            "primary's transparency log: verified up to {} (root {root})",
            plural(state.log_size as u64, "record", "records")
        ),
        _ => println!(
            "primary's transparency log: no checkpoint verified (without primary_log_keys, \
             copies are checked against the primary's index lines only)"
        ),
    }
    println!(
        "last error: {}",
        state.last_error.as_deref().unwrap_or("none")
    );
    Ok(())
}
