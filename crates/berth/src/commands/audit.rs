//! `berth audit`: list the audit log (filtered, as text or JSON lines) and
//! `berth audit verify`, the check of its hash chain.

use anyhow::{bail, Result};
use berth_core::audit::{audit_json, rfc3339, AuditQuery};
use berth_core::Berth;

use crate::cli::{AuditArgs, AuditCommand};
use crate::stores::Setup;

pub async fn run(setup: Setup, args: AuditArgs) -> Result<()> {
    setup
        .with_berth(async |berth| list(berth, args).await)
        .await
}

async fn list(berth: &Berth, args: AuditArgs) -> Result<()> {
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
