//! `berth token`: create a token with its limits (printed once, as the last
//! line of standard output), list a user's tokens as a table or JSON lines,
//! revoke one by id or name.

use anyhow::Result;
use berth_core::tokens::{format_time, TokenRef, TokenRequest, TokenView};

use crate::cli::TokenCommand;
use crate::stores::Setup;

pub async fn run(setup: Setup, command: TokenCommand) -> Result<()> {
    match command {
        TokenCommand::Create {
            user,
            name,
            scopes,
            crates,
            registry,
            expires_in,
            expires_at,
            expires_in_days,
            allow_cidrs,
        } => {
            let scopes: Vec<String> = scopes.iter().map(|s| s.to_request()).collect();
            let request = TokenRequest {
                name,
                scopes: (!scopes.is_empty()).then_some(scopes),
                crates,
                registry,
                expires_in: expires_in.or(expires_in_days.map(|d| format!("{d}d"))),
                expires_at,
                allowed_cidrs: allow_cidrs,
            };
            let created = setup
                .with_berth(async |berth| Ok(berth.create_token(&user, &request).await?))
                .await?;
            let t = &created.token;
            let mut limits = vec![format!("scopes {}", t.scopes.join(","))];
            if !t.crates.is_empty() {
                limits.push(format!("crates {}", t.crates.join(",")));
            }
            if let Some(r) = &t.registry {
                limits.push(format!("registry {r}"));
            }
            if !t.allowed_cidrs.is_empty() {
                limits.push(format!("addresses {}", t.allowed_cidrs.join(",")));
            }
            if let Some(at) = t.expires_at {
                limits.push(format!("expiring {}", format_time(at)));
            }
            eprintln!(
                "created token {} `{}` for user `{user}` with {}; it is shown only once:",
                t.id,
                t.name,
                limits.join(", ")
            );
            println!("{}", created.secret);
        }
        TokenCommand::List { user, json } => {
            let tokens: Vec<TokenView> = setup
                .with_berth(async |berth| Ok(berth.list_tokens(&user).await?))
                .await?
                .into_iter()
                .map(Into::into)
                .collect();
            if json {
                for t in &tokens {
                    println!("{}", serde_json::to_string(t)?);
                }
            } else {
                print!("{}", token_table(&tokens));
            }
        }
        TokenCommand::Revoke { user, id, name } => {
            let which = match (id, name) {
                (Some(id), _) => TokenRef::Id(id),
                (None, Some(name)) => TokenRef::Name(name),
                (None, None) => anyhow::bail!("give the token's --id or --name"),
            };
            let id = setup
                .with_berth(async |berth| Ok(berth.revoke_token(&user, &which).await?))
                .await?;
            println!("revoked token {id} of user `{user}`");
        }
    }
    Ok(())
}

/// The rows of `berth token list` as an aligned table.
fn token_table(tokens: &[TokenView]) -> String {
    let time = |t: Option<i64>| t.map_or_else(|| "-".to_string(), format_time);
    let list = |l: &[String]| {
        if l.is_empty() {
            "-".to_string()
        } else {
            l.join(",")
        }
    };
    let mut rows = vec![[
        "ID",
        "NAME",
        "SCOPES",
        "CRATES",
        "REGISTRY",
        "CIDRS",
        "CREATED",
        "EXPIRES",
        "LAST USED",
        "STATE",
    ]
    .map(str::to_string)];
    for t in tokens {
        rows.push([
            t.id.to_string(),
            t.name.clone(),
            list(&t.scopes),
            list(&t.crates),
            t.registry.clone().unwrap_or_else(|| "-".into()),
            list(&t.allowed_cidrs),
            format_time(t.created_at),
            time(t.expires_at),
            time(t.last_used_at),
            if t.revoked { "revoked" } else { "active" }.to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..10)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let line = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect::<Vec<_>>()
            .join("  ");
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
