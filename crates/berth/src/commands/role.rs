//! `berth role`: grant a user or a team a role in a registry, revoke it,
//! list who holds roles there.

use anyhow::Result;
use berth_core::{Berth, Role};

use crate::cli::{Grantee, RoleCommand};
use crate::stores::Setup;

pub async fn run(setup: Setup, command: RoleCommand) -> Result<()> {
    setup
        .with_berth(async |berth| {
            match command {
                RoleCommand::Grant {
                    registry,
                    who,
                    role,
                } => {
                    let holder = set_role(berth, &registry, &who, Some(role)).await?;
                    println!(
                        "{holder} has the `{}` role in registry `{registry}`",
                        role.as_str()
                    );
                }
                RoleCommand::Revoke { registry, who } => {
                    let holder = set_role(berth, &registry, &who, None).await?;
                    println!("{holder} has no role in registry `{registry}`");
                }
                RoleCommand::List { registry } => {
                    for (login, role) in berth.registry_members(&registry).await? {
                        println!("{login}\t{role}");
                    }
                    for (team, role) in berth.registry_team_roles(&registry).await? {
                        println!("team:{team}\t{role}");
                    }
                }
            }
            Ok(())
        })
        .await
}

/// Grants or revokes a role of a user or a team; returns how to name the
/// holder in a message.
async fn set_role(
    berth: &Berth,
    registry: &str,
    who: &Grantee,
    role: Option<Role>,
) -> Result<String> {
    match (&who.user, &who.team) {
        (Some(user), _) => {
            berth.set_role(registry, user, role).await?;
            Ok(format!("user `{user}`"))
        }
        (None, Some(team)) => {
            berth.set_team_role(registry, team, role).await?;
            Ok(format!("team `{team}`"))
        }
        (None, None) => anyhow::bail!("give --user LOGIN or --team NAME"),
    }
}
