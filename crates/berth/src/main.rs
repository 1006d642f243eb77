//! The `berth` command: serve the registry and administer it.
//!
//! This is the binary's edge: it parses the command line (`cli.rs`), loads
//! the configuration (`stores.rs`), sets up logging (`logging.rs`), and
//! hands the command to `commands/`, which calls into the services. It
//! holds no registry logic of its own. An error ends the process with exit
//! status 1 and `Error: ` and its message on stderr, followed by the
//! database the command looked in when it had opened one.

mod cli;
mod commands;
mod logging;
mod output;
mod stores;
mod verify;

use anyhow::Result;
use clap::Parser;

use crate::cli::{Cli, Command, ConfigCommand};
use crate::stores::Setup;

#[tokio::main]
async fn main() -> Result<()> {
    let result = run(Cli::parse()).await;
    match (result, stores::looked_in()) {
        (Err(e), Some(place)) => Err(anyhow::anyhow!(
            "{e:#}\n(berth looked in the database {place})"
        )),
        (result, _) => result,
    }
}

async fn run(cli: Cli) -> Result<()> {
    // What needs no configuration and no data.
    match &cli.command {
        Command::Completions { shell } => return commands::docs::completions(*shell),
        // A client of a registry's log: no configuration, no data dir.
        Command::Verify(args) => return commands::verify::run(args).await,
        Command::Man => return commands::docs::man(),
        Command::Config {
            action: Some(ConfigCommand::Check { file }),
        } => {
            let overrides = stores::overrides(&cli.global, &cli.command)?;
            return commands::config::check(file, &overrides);
        }
        _ => {}
    }
    let setup = Setup::resolve(&cli.global, &cli.command)?;
    logging::init(&setup.config);
    if !matches!(cli.command, Command::Serve { .. }) {
        // Changes made from the command line are the operator's: name the
        // operating-system user in their audit rows.
        let user = ["USER", "LOGNAME"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
            .unwrap_or_else(|| "unknown".into());
        berth_core::set_operator(format!("cli:{user}"));
    }
    commands::run(cli.command, setup).await
}
