//! `berth keys generate`: a new signing key for the transparency log. Opens
//! no store.

use anyhow::Result;
use berth_core::transparency::keys;
use berth_core::Config;

use crate::cli::KeysCommand;

pub fn run(config: &Config, command: KeysCommand) -> Result<()> {
    match command {
        KeysCommand::Generate { out, name } => {
            let name = name.unwrap_or_else(|| keys::default_key_name(&config.public_url));
            let key = keys::generate(&name)?;
            keys::write_new_key_file(&out, &key)?;
            eprintln!(
                "wrote the secret key to {} (mode 0600); give every node this file \
                 ([transparency] key_file) and keep a copy offline",
                out.display()
            );
            eprintln!("the public key, for `berth verify --key`:");
            println!("{}", key.verifier());
            Ok(())
        }
    }
}
