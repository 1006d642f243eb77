//! What each command does, one file per family of commands. Each runs on a
//! [`Setup`] (the resolved configuration) and opens the stores, when it
//! needs them, through [`Setup::with_berth`]; what it prints is its own.

mod audit;
mod backup;
mod blobs;
pub mod config;
pub mod docs;
mod docs_queue;
mod keys;
mod migrate;
mod mirror;
mod promote;
mod registry;
mod role;
mod serve;
mod supply;
mod team;
mod token;
mod trust;
mod user;
pub mod verify;
mod webhook;

use anyhow::Result;

use crate::cli::Command;
use crate::stores::Setup;

/// Runs `command` on `setup`.
pub async fn run(command: Command, setup: Setup) -> Result<()> {
    match command {
        Command::Serve { .. } => serve::run(setup).await,
        Command::Config { .. } => config::show(&setup.config),
        // Answered before any configuration is loaded.
        Command::Completions { .. } | Command::Man | Command::Verify(_) => Ok(()),
        Command::User(command) => user::run(setup, command).await,
        Command::Token(command) => token::run(setup, command).await,
        Command::Trust(command) => trust::run(setup, command).await,
        Command::Webhook(command) => webhook::run(setup, command).await,
        Command::Docs(command) => docs_queue::run(setup, command).await,
        Command::Promote {
            target,
            from,
            to,
            with_deps,
        } => promote::run(setup, &target, from, to, with_deps).await,
        Command::Keys(command) => keys::run(&setup.config, command),
        Command::Role(command) => role::run(setup, command).await,
        Command::Team(command) => team::run(setup, command).await,
        Command::Registry(command) => registry::registry(setup, command).await,
        Command::Proxy(command) => registry::proxy(setup, command).await,
        Command::Advisories(command) => supply::advisories(setup, command).await,
        Command::Policy(command) => supply::policy(setup, command).await,
        Command::Check {
            registry,
            json,
            lockfile,
        } => supply::check(setup, &registry, json, &lockfile).await,
        Command::Mirror(command) => mirror::run(setup, command).await,
        Command::Gc { min_age_secs } => blobs::gc(setup, min_age_secs).await,
        Command::Blobs(command) => blobs::blobs(setup, command).await,
        Command::Fsck { json } => blobs::fsck(setup, json).await,
        Command::Migrate { to, max_items } => migrate::run(&setup.config, &to, max_items).await,
        Command::Backup { out } => backup::backup(&setup.config, &out).await,
        Command::Restore { file, force } => backup::restore(&setup.config, &file, force).await,
        Command::Audit(args) => audit::run(setup, args).await,
    }
}
