//! `berth audit`: list the audit log (filtered, as text or JSON lines) and
//! `berth audit verify`, the check of its hash chain.

use anyhow::{bail, Result};
use berth_core::audit::{audit_json, rfc3339, AuditQuery};
use berth_core::Berth;
use clap::{Args, Subcommand};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: Option<AuditCommand>,
    /// Entries at or after this time: YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ
    /// (UTC) or Unix seconds.
    #[arg(long, value_name = "DATE", conflicts_with = "since_secs")]
    since: Option<String>,
    /// Entries of the last N seconds.
    #[arg(long, value_name = "N")]
    since_secs: Option<i64>,
    /// Entries by this user.
    #[arg(long, value_name = "LOGIN")]
    actor: Option<String>,
    /// Entries about this crate.
    #[arg(long = "crate", value_name = "NAME")]
    crate_name: Option<String>,
    /// Entries of this action (publish, yank, unyank, owner.add,
    /// owner.remove, user.create, user.admin, user.disable, user.remove,
    /// session.login, token.create, token.revoke, role.grant, role.revoke,
    /// bulk.load, server.start, ...).
    #[arg(long, value_name = "ACTION")]
    action: Option<String>,
    /// Print one JSON object per line.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Check the hash chain of the whole log; exits non-zero and names the
    /// first bad entry when an entry was changed or removed.
    Verify,
}

pub async fn run(berth: &Berth, args: AuditArgs) -> Result<()> {
    if let Some(AuditCommand::Verify) = args.command {
        return verify(berth).await;
    }
    let query = AuditQuery {
        since: args.since,
        since_secs: args.since_secs,
        actor: args.actor,
        crate_name: args.crate_name,
        action: args.action,
        ..AuditQuery::default()
    };
    for row in berth.audit_log(&query.filter()?).await? {
        if args.json {
            println!("{}", audit_json(&row));
            continue;
        }
        let e = &row.entry;
        let opt = |v: &Option<String>| v.as_deref().map_or_else(|| "-".into(), field);
        let target = match (&e.crate_name, &e.version) {
            (Some(c), Some(v)) => field(&format!("{c}@{v}")),
            (Some(c), None) => field(c),
            _ => "-".into(),
        };
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            row.id,
            rfc3339(row.at),
            opt(&e.actor),
            opt(&e.registry),
            e.action,
            target,
            e.outcome,
            opt(&e.detail)
        );
    }
    Ok(())
}

/// A field of the tab-separated text: one line, tabs and newlines (and the
/// backslash itself) written as `\t`, `\n`, `\r`, `\\`, so that every
/// row is one line of eight fields (a node's start row holds its whole
/// configuration).
fn field(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

async fn verify(berth: &Berth) -> Result<()> {
    let check = berth.verify_audit().await?;
    if let Some((id, problem)) = &check.first_bad {
        bail!("audit entry {id} {problem}");
    }
    let head = check.head.as_deref().unwrap_or("-");
    println!(
        "audit log intact: {} entries ({} from before the chain), head {head}",
        check.entries, check.pre_chain
    );
    Ok(())
}
