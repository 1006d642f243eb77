//! `berth registry visibility` (the stored private/public setting) and
//! `berth proxy purge` (what a proxy registry forgets of its cache).

use anyhow::Result;

use crate::cli::{ProxyCommand, RegistryCommand, Visibility};
use crate::output::plural;
use crate::stores::Setup;

pub async fn registry(setup: Setup, command: RegistryCommand) -> Result<()> {
    let RegistryCommand::Visibility {
        registry,
        visibility,
    } = command;
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
