//! `berth trust`: which CI identities may publish a crate through trusted
//! publishing (add, list, remove; `berth_core::trust` decides).

use anyhow::Result;
use berth_core::trust::TrustRequest;

use crate::cli::TrustCommand;
use crate::stores::Setup;

pub async fn run(setup: Setup, command: TrustCommand) -> Result<()> {
    setup
        .with_berth(async |berth| {
            match command {
                TrustCommand::Add {
                    krate,
                    registry,
                    issuer,
                    repository,
                    workflow,
                    environment,
                    user,
                } => {
                    let view = berth
                        .trust_add(
                            None,
                            &TrustRequest {
                                registry: registry.clone(),
                                krate,
                                issuer,
                                repository,
                                workflow,
                                environment,
                                user,
                            },
                        )
                        .await?;
                    println!(
                        "crate `{}` of registry `{registry}` now trusts {} workflow `{}` of \
                         issuer `{}`{} (id {}; tokens act for `{}`)",
                        view.krate,
                        view.repository,
                        view.workflow,
                        view.issuer,
                        view.environment
                            .as_deref()
                            .map_or_else(String::new, |e| format!(" in environment `{e}`")),
                        view.id,
                        view.acts_for
                    );
                }
                TrustCommand::List {
                    krate,
                    registry,
                    json,
                } => {
                    let views = berth.trust_list(&registry, &krate).await?;
                    if views.is_empty() && !json {
                        println!("crate `{krate}` of registry `{registry}` trusts no CI identity");
                    }
                    for v in views {
                        if json {
                            println!("{}", serde_json::to_string(&v)?);
                        } else {
                            println!(
                                "{}\t{}\t{}\t{}\t{}\t{}",
                                v.id,
                                v.issuer,
                                v.repository,
                                v.workflow,
                                v.environment.as_deref().unwrap_or("*"),
                                v.acts_for
                            );
                        }
                    }
                }
                TrustCommand::Only {
                    krate,
                    registry,
                    off,
                } => {
                    berth
                        .set_trusted_only(None, &registry, &krate, !off)
                        .await?;
                    if off {
                        println!("crate `{krate}` accepts ordinary tokens again");
                    } else {
                        println!(
                            "crate `{krate}` is now published only through trusted publishing"
                        );
                    }
                }
                TrustCommand::Remove {
                    krate,
                    registry,
                    id,
                } => {
                    berth.trust_remove(None, &registry, &krate, id).await?;
                    println!("removed trust configuration {id} of crate `{krate}`");
                }
            }
            Ok(())
        })
        .await
}
