//! `berth user`: add, list, and change users (password, administrator,
//! disabled, removed). A password is only ever read from standard input.

use std::io::Read;

use anyhow::{bail, Result};

use crate::cli::UserCommand;
use crate::stores::Setup;

pub async fn run(setup: Setup, command: UserCommand) -> Result<()> {
    setup
        .with_berth(async |berth| {
            match command {
                UserCommand::Add {
                    name,
                    admin,
                    password_stdin,
                } => {
                    let password = if password_stdin {
                        Some(read_password()?)
                    } else {
                        None
                    };
                    let user = berth.add_user(&name, password.as_deref(), admin).await?;
                    println!(
                        "added user `{}` (id {}){}",
                        user.login,
                        user.id,
                        if admin { " as an administrator" } else { "" }
                    );
                }
                UserCommand::Passwd { name, .. } => {
                    let password = read_password()?;
                    berth.set_password(&name, &password).await?;
                    println!("password of user `{name}` set; their web sessions are ended");
                }
                UserCommand::List => {
                    for u in berth.list_users().await? {
                        // How they sign in, when it is not only a password
                        // kept here: `sign-in=ldap`, `sign-in=oidc`.
                        let sources = berth.user_sign_in_sources(u.id).await?;
                        println!(
                            "{}\t{}{}{}{}",
                            u.id,
                            u.login,
                            if u.is_admin { "\tadmin" } else { "" },
                            if u.disabled { "\tdisabled" } else { "" },
                            if sources.is_empty() {
                                String::new()
                            } else {
                                format!("\tsign-in={}", sources.join(","))
                            }
                        );
                    }
                }
                UserCommand::Admin { name } => {
                    berth.set_user_admin(None, &name, true).await?;
                    println!("user `{name}` is a server administrator");
                }
                UserCommand::Unadmin { name } => {
                    berth.set_user_admin(None, &name, false).await?;
                    println!("user `{name}` is no longer a server administrator");
                }
                UserCommand::Disable { name } => {
                    berth.set_user_disabled(None, &name, true).await?;
                    println!("user `{name}` is disabled: sessions ended, tokens refused");
                }
                UserCommand::Enable { name } => {
                    berth.set_user_disabled(None, &name, false).await?;
                    println!("user `{name}` is enabled");
                }
                UserCommand::Remove { name } => {
                    berth.remove_user(None, &name).await?;
                    println!("user `{name}` removed");
                }
                UserCommand::ResetPassword { name, .. } => {
                    let password = read_password()?;
                    berth.reset_password(None, &name, &password).await?;
                    println!("password of user `{name}` reset; their web sessions are ended");
                }
            }
            Ok(())
        })
        .await
}

/// A password from standard input (one line; the newline is not part of it).
fn read_password() -> Result<String> {
    let mut p = String::new();
    std::io::stdin().take(4096).read_to_string(&mut p)?;
    let p = p.trim_end_matches(['\n', '\r']).to_string();
    if p.is_empty() {
        bail!("no password on standard input");
    }
    Ok(p)
}
