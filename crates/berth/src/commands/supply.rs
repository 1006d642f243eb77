//! `berth advisories import|list`, `berth policy
//! allow|disallow|approve|unapprove|list|explain` and `berth check`:
//! supply-chain control from the command line. Changes are made in the
//! stores; running servers load them within seconds.

use std::path::Path;

use anyhow::{Context, Result};
use berth_core::audit::rfc3339;
use berth_core::supply::advisories::AdvisoryInput;

use crate::cli::{AdvisoriesCommand, PolicyCommand};
use crate::output::plural;
use crate::stores::Setup;

/// `CRATE@VERSION` split.
pub(crate) fn split_target<'a>(target: &'a str, what: &str) -> Result<(&'a str, &'a str)> {
    target
        .split_once('@')
        .filter(|(n, v)| !n.is_empty() && !v.is_empty())
        .with_context(|| format!("`{target}` is not {what}"))
}

fn when(unix: i64) -> String {
    rfc3339(unix)
}

pub async fn advisories(setup: Setup, command: AdvisoriesCommand) -> Result<()> {
    match command {
        AdvisoriesCommand::Import { path } => {
            // Recorded as the operator will look for it later.
            let source = std::fs::canonicalize(&path)
                .unwrap_or_else(|_| path.clone())
                .display()
                .to_string();
            let report = setup
                .with_berth(async |berth| {
                    Ok(berth
                        .import_advisories(AdvisoryInput::Path(path), &source)
                        .await?)
                })
                .await?;
            let set = &report.set;
            if report.changed {
                println!(
                    "advisory set {} in force: {} about {} ({}, {} informational, {} withdrawn)",
                    &set.digest[..12],
                    plural(set.advisories as u64, "advisory", "advisories"),
                    plural(set.crates as u64, "crate", "crates"),
                    plural(
                        report.vulnerabilities as u64,
                        "vulnerability",
                        "vulnerabilities"
                    ),
                    report.informational,
                    report.withdrawn,
                );
                println!("running servers load it within seconds");
            } else {
                println!(
                    "advisory set {} is already in force ({}); nothing changed",
                    &set.digest[..12],
                    plural(set.advisories as u64, "advisory", "advisories"),
                );
            }
        }
        AdvisoriesCommand::List { krate, json } => {
            let list = setup
                .with_berth(async |berth| Ok(berth.advisories(krate.as_deref())))
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            match &list.set {
                None => println!("no advisory set imported (berth advisories import PATH)"),
                Some(set) => println!(
                    "advisory set {} from {}, imported {}: {}",
                    &set.digest[..12],
                    set.source,
                    when(set.imported_at),
                    plural(set.advisories as u64, "advisory", "advisories")
                ),
            }
            for a in &list.advisories {
                let patched = if a.patched.is_empty() {
                    "no patched versions".to_string()
                } else {
                    format!("patched: {}", a.patched.join(", "))
                };
                let withdrawn = a
                    .withdrawn
                    .as_ref()
                    .map_or(String::new(), |d| format!(" [withdrawn {d}]"));
                println!(
                    "{}  {}  {}  {}; {patched}{withdrawn}",
                    a.id, a.krate, a.kind, a.title
                );
            }
        }
    }
    Ok(())
}

pub async fn policy(setup: Setup, command: PolicyCommand) -> Result<()> {
    match command {
        PolicyCommand::Allow {
            target,
            registry,
            reason,
            expires_in,
        } => {
            let (name, version) = split_target(&target, "CRATE@VERSION")?;
            let row = setup
                .with_berth(async |berth| {
                    Ok(berth
                        .policy_allow(&registry, name, version, &reason, expires_in.as_deref())
                        .await?)
                })
                .await?;
            let until = row.expires_at.map_or_else(
                || "until removed".to_string(),
                |t| format!("until {}", when(t)),
            );
            println!(
                "{}@{} is allowed in registry `{registry}` whatever its policy says, {until}",
                row.name, row.vers
            );
            println!("running servers apply it within seconds");
        }
        PolicyCommand::Disallow { target, registry } => {
            let (name, version) = split_target(&target, "CRATE@VERSION")?;
            let removed = setup
                .with_berth(async |berth| {
                    Ok(berth.policy_disallow(&registry, name, version).await?)
                })
                .await?;
            println!(
                "removed {} of {name}@{version} in registry `{registry}`",
                plural(removed, "exception", "exceptions")
            );
        }
        PolicyCommand::Approve { target, registry } => {
            let (name, req) = match target.split_once('@') {
                Some((n, r)) => (n, Some(r)),
                None => (target.as_str(), None),
            };
            let row = setup
                .with_berth(async |berth| Ok(berth.policy_approve(&registry, name, req).await?))
                .await?;
            println!(
                "`{}` ({}) is on the approved list of registry `{registry}`",
                row.name,
                row.req
                    .as_deref()
                    .map_or("every version".to_string(), |r| format!("versions {r}"))
            );
        }
        PolicyCommand::Unapprove { name, registry } => {
            let removed = setup
                .with_berth(async |berth| Ok(berth.policy_unapprove(&registry, &name).await?))
                .await?;
            println!(
                "removed {} of `{name}` from the approved list of registry `{registry}`",
                plural(removed, "entry", "entries")
            );
        }
        PolicyCommand::List { registry, json } => {
            let lists = setup
                .with_berth(async |berth| Ok(berth.policy_lists(&registry)?))
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&lists)?);
                return Ok(());
            }
            println!("registry `{}`: {}", lists.registry, lists.policy);
            for e in &lists.exceptions {
                let until = e.expires_at.map_or_else(
                    || "never expires".to_string(),
                    |t| format!("expires {}", when(t)),
                );
                println!(
                    "allowed  {}@{}  {until}  by {}: {}",
                    e.name, e.vers, e.created_by, e.reason
                );
            }
            for a in &lists.approvals {
                println!(
                    "approved {} {}  by {}",
                    a.name,
                    a.req.as_deref().unwrap_or("*"),
                    a.created_by
                );
            }
        }
        PolicyCommand::Explain {
            target,
            registry,
            json,
        } => {
            let (name, version) = split_target(&target, "CRATE@VERSION")?;
            let x = setup
                .with_berth(async |berth| {
                    Ok(berth.policy_explain(&registry, name, version).await?)
                })
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&x)?);
                return Ok(());
            }
            println!(
                "{}@{} in registry `{}` (from `{}`): {}",
                x.krate,
                x.version,
                x.registry,
                x.found_in,
                if x.served { "served" } else { "blocked" }
            );
            if x.policies.is_empty() {
                println!("  no policy applies");
            }
            for p in &x.policies {
                println!(
                    "  policy of `{}`: {}",
                    p.registry,
                    if p.allowed { "allows it" } else { "blocks it" }
                );
                for c in &p.checks {
                    println!("    {:<13} {:<5} {}", c.rule, c.outcome, c.why);
                }
            }
        }
    }
    Ok(())
}

pub async fn check(setup: Setup, registry: &str, json: bool, lockfile: &Path) -> Result<()> {
    let text = std::fs::read_to_string(lockfile)
        .with_context(|| format!("cannot read {}", lockfile.display()))?;
    let report = setup
        .with_berth(async |berth| Ok(berth.check_lockfile_as_operator(registry, &text).await?))
        .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for f in &report.findings {
            println!("{} {}@{}: {}", f.status, f.name, f.version, f.reason);
        }
        println!(
            "{} checked against registry `{}` ({} skipped: path or git): {}",
            plural(report.checked as u64, "package", "packages"),
            report.registry,
            report.skipped,
            plural(report.findings.len() as u64, "finding", "findings")
        );
    }
    if !report.ok {
        std::process::exit(1);
    }
    Ok(())
}
