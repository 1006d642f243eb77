//! `berth config` (the effective configuration, secrets masked) and
//! `berth config check FILE` (a file checked as a start would check it,
//! without opening the database or reaching the network).

use std::path::Path;

use anyhow::Result;
use berth_core::{Config, Overrides};

pub fn show(config: &Config) -> Result<()> {
    print!("{}", config.masked_toml()?);
    Ok(())
}

pub fn check(file: &Path, overrides: &Overrides) -> Result<()> {
    let config = Config::load(Some(file), overrides)?;
    config.check_storage()?;
    berth_server::check_tls(&config.tls).map_err(anyhow::Error::msg)?;
    print!("{}", config.masked_toml()?);
    eprintln!("{}: the configuration is valid", file.display());
    Ok(())
}
