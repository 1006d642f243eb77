//! `berth webhook`: receivers of change events (add, list, remove, test)
//! and their deliveries (list, redeliver); `berth_core::webhooks` decides
//! and the running servers send.

use anyhow::Result;
use berth_core::tokens::format_time;

use crate::cli::WebhookCommand;
use crate::stores::Setup;

pub async fn run(setup: Setup, command: WebhookCommand) -> Result<()> {
    setup
        .with_berth(async |berth| {
            match command {
                WebhookCommand::Add {
                    url,
                    events,
                    registry,
                    secret_env,
                } => {
                    let hook = berth
                        .add_webhook(
                            None,
                            &url,
                            &events,
                            registry.as_deref(),
                            secret_env.as_deref(),
                        )
                        .await?;
                    println!(
                        "webhook {} added: {} gets {} of {}{}",
                        hook.id,
                        hook.url,
                        hook.events,
                        hook.registry
                            .as_deref()
                            .map_or("every registry".to_string(), |r| format!("registry `{r}`")),
                        hook.secret_env
                            .as_deref()
                            .map_or(", unsigned".to_string(), |v| format!(
                                ", signed with the secret in ${v}"
                            ))
                    );
                }
                WebhookCommand::List { json } => {
                    for h in berth.list_webhooks().await? {
                        if json {
                            println!("{}", serde_json::to_string(&h)?);
                        } else {
                            println!(
                                "{}\t{}\t{}\t{}\t{}",
                                h.id,
                                h.url,
                                h.events,
                                h.registry.as_deref().unwrap_or("*"),
                                h.secret_env.as_deref().unwrap_or("-")
                            );
                        }
                    }
                }
                WebhookCommand::Remove { id } => {
                    berth.remove_webhook(None, id).await?;
                    println!("webhook {id} removed, with its deliveries");
                }
                WebhookCommand::Test { id } => {
                    berth.ping_webhook(id).await?;
                    println!("a ping to webhook {id} is queued; a running server sends it");
                }
                WebhookCommand::Deliveries {
                    failed,
                    limit,
                    json,
                } => {
                    for d in berth
                        .webhook_deliveries(failed, limit.clamp(1, 10_000))
                        .await?
                    {
                        if json {
                            println!("{}", serde_json::to_string(&d)?);
                        } else {
                            println!(
                                "{}\twebhook {}\t{}\t{}\t{}\tattempts {}\t{}\t{}",
                                d.id,
                                d.webhook_id,
                                d.event,
                                d.subject,
                                d.state,
                                d.attempts,
                                format_time(d.created_at),
                                d.last_error.as_deref().unwrap_or("")
                            );
                        }
                    }
                }
                WebhookCommand::Redeliver { id } => {
                    berth.redeliver(id).await?;
                    println!("delivery {id} is queued again");
                }
            }
            Ok(())
        })
        .await
}
