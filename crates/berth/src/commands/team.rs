//! `berth team`: add teams, list them with their members, add and remove
//! members.

use anyhow::Result;

use crate::cli::{TeamCommand, TeamMemberCommand};
use crate::stores::Setup;

pub async fn run(setup: Setup, command: TeamCommand) -> Result<()> {
    setup
        .with_berth(async |berth| {
            match command {
                TeamCommand::Add { name } => {
                    berth.add_team(&name).await?;
                    println!(
                        "added team `{name}`; add members with `berth team member add {name} LOGIN`"
                    );
                }
                TeamCommand::List { json } => {
                    for t in berth.list_teams().await? {
                        if json {
                            println!(
                                "{}",
                                serde_json::json!({"team": t.team.name, "members": t.members})
                            );
                        } else {
                            println!("{}\t{}", t.team.name, t.members.join(","));
                        }
                    }
                }
                TeamCommand::Member(m) => {
                    let (team, user, add) = match m {
                        TeamMemberCommand::Add { team, user } => (team, user, true),
                        TeamMemberCommand::Remove { team, user } => (team, user, false),
                    };
                    let changed = berth.set_team_member(&team, &user, add).await?;
                    let state = if add { "a member" } else { "not a member" };
                    let note = if changed { "" } else { " (unchanged)" };
                    println!("user `{user}` is {state} of team `{team}`{note}");
                }
            }
            Ok(())
        })
        .await
}
