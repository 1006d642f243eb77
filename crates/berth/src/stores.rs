//! Where a command's data is, and the one way a command opens it: the
//! configuration (file, then environment, then flags; for commands other
//! than `serve`, the file `berth serve` recorded in the data dir, which
//! `serve` keeps up to date), the refusal of a data dir without a database
//! for commands that only read, and the stores opened for one command and
//! closed after it. Commands never call `Berth::open` themselves.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use anyhow::{bail, Context, Result};
use berth_core::config::{parse_listen, ConfigError};
use berth_core::{Berth, Config, Overrides};

use crate::cli::{Command, Global};

/// What a command runs on: its configuration and how it was found.
pub struct Setup {
    pub config: Config,
    /// The configuration file: given, or recorded by `berth serve`.
    pub config_file: Option<PathBuf>,
    /// Whether the data dir was given (`--data-dir` or `BERTH_DATA_DIR`).
    pub data_dir_given: bool,
}

/// The flags that override the configuration file and the environment
/// (`--listen` read as the `listen` key is, refused in the same words).
pub fn overrides(global: &Global, command: &Command) -> Result<Overrides, ConfigError> {
    let mut overrides = Overrides {
        data_dir: global.data_dir.clone(),
        ..Default::default()
    };
    if let Command::Serve { listen, public_url } = command {
        overrides.listen = listen.as_deref().map(parse_listen).transpose()?;
        overrides.public_url = public_url.clone();
    }
    Ok(overrides)
}

impl Setup {
    /// Loads the configuration `command` runs on, refusing (for commands
    /// that only read) a data dir without a database.
    pub fn resolve(global: &Global, command: &Command) -> Result<Setup> {
        let overrides = overrides(global, command)?;
        let config_file = match &global.config {
            Some(file) => Some(file.clone()),
            // `serve` runs on what it is given; the other commands find the
            // file the server was started with.
            None if !matches!(command, Command::Serve { .. }) => {
                let data_dir =
                    (overrides.data_dir.clone()).unwrap_or_else(|| Config::default().data_dir);
                recorded_config(&data_dir)?
            }
            None => None,
        };
        let config = Config::load(config_file.as_deref(), &overrides)?;
        if command.needs_existing_data() {
            require_data(&config)?;
        }
        Ok(Setup {
            config,
            config_file,
            data_dir_given: global.data_dir.is_some(),
        })
    }

    /// Opens the stores, runs `command` on them and closes them, whether
    /// or not it succeeded.
    pub async fn with_berth<T>(
        self,
        command: impl AsyncFnOnce(&Arc<Berth>) -> Result<T>,
    ) -> Result<T> {
        let berth = open(self.config).await?;
        let result = command(&berth).await;
        berth.close().await;
        result
    }
}

/// Where the command looked for the data, once it has opened it: named
/// under any error that follows ("no user `alice`" says where).
static LOOKED_IN: OnceLock<String> = OnceLock::new();

/// The database (its URL, password masked) the command opened, if it did.
pub fn looked_in() -> Option<&'static str> {
    LOOKED_IN.get().map(String::as_str)
}

async fn open(config: Config) -> Result<Arc<Berth>> {
    let _ = LOOKED_IN.set(berth_core::redact_url(&config.database.url));
    Ok(Berth::open_with_clock(config, berth_core::Clock::for_process()).await?)
}

/// The file in the data dir where `berth serve` records the configuration
/// file it was started with.
const CONFIG_RECORD: &str = "config-path";

/// The configuration file `berth serve` recorded in the data dir, for a
/// command given neither `--config` nor `BERTH_CONFIG`.
fn recorded_config(data_dir: &Path) -> Result<Option<PathBuf>> {
    let record = std::path::absolute(data_dir.join(CONFIG_RECORD))?;
    let text = match std::fs::read_to_string(&record) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", record.display())),
    };
    let file = PathBuf::from(text.trim_end_matches(['\n', '\r']));
    if !file.is_file() {
        bail!(
            "`berth serve` was last started with the configuration file {}, which no longer \
             exists (recorded in {}); give --config FILE",
            file.display(),
            record.display()
        );
    }
    eprintln!(
        "using the configuration file {} that `berth serve` was started with (recorded in {}; \
         --config FILE overrides it)",
        file.display(),
        record.display()
    );
    Ok(Some(file))
}

/// Records (or, when the server runs without one, forgets) the
/// configuration file `berth serve` was started with, owner-only.
pub fn record_config(data_dir: &Path, file: Option<&Path>) -> Result<()> {
    let record = data_dir.join(CONFIG_RECORD);
    let Some(file) = file else {
        match std::fs::remove_file(&record) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", record.display()))
            }
            _ => return Ok(()),
        }
    };
    if !data_dir.is_dir() {
        // Stores elsewhere (PostgreSQL, S3): no data dir to record in.
        return Ok(());
    }
    let file = std::path::absolute(file)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options
        .open(&record)
        .with_context(|| format!("writing {}", record.display()))?;
    std::io::Write::write_all(&mut out, format!("{}\n", file.display()).as_bytes())
        .with_context(|| format!("writing {}", record.display()))?;
    Ok(())
}

/// Refuses to go on when the SQLite database a command reads is missing
/// (opening it would create an empty one).
fn require_data(config: &Config) -> Result<()> {
    let Some(db) = berth_core::sqlite_path(&config.database.url) else {
        return Ok(());
    };
    if db.exists() {
        return Ok(());
    }
    if db == config.data_dir.join("berth.db") {
        bail!(
            "no Berth data in {} (give --data-dir or BERTH_DATA_DIR, or --config FILE)",
            config.data_dir.display()
        );
    }
    bail!(
        "no Berth database at {} (database.url; give --config FILE)",
        db.display()
    );
}
