//! The key that signs checkpoints: read from `[transparency] key` or
//! `key_file`, else from `DATA_DIR/transparency.key`, which `berth serve`
//! makes on its first start (so one command still gives a working, signing
//! registry). Retired keys come from the configuration.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use berth_log::{SignerKey, VerifierKey};

use crate::config::Config;
use crate::error::ServiceError;

/// The default key file's name under the data directory.
pub const DEFAULT_KEY_FILE: &str = "transparency.key";

/// Where the signing key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `[transparency] key` (or `BERTH_TRANSPARENCY_KEY`).
    Inline,
    /// `[transparency] key_file`.
    File(PathBuf),
    /// The data directory's key, made on the first start.
    DataDir(PathBuf),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Inline => write!(f, "transparency.key"),
            KeySource::File(p) => write!(f, "{}", p.display()),
            KeySource::DataDir(p) => write!(f, "{} (made by this server)", p.display()),
        }
    }
}

/// Where `config` says the key is.
pub fn key_source(config: &Config) -> KeySource {
    match (&config.transparency.key, &config.transparency.key_file) {
        (Some(_), _) => KeySource::Inline,
        (None, Some(path)) => KeySource::File(path.clone()),
        (None, None) => KeySource::DataDir(config.data_dir.join(DEFAULT_KEY_FILE)),
    }
}

fn bad_key(at: &KeySource, e: impl std::fmt::Display) -> ServiceError {
    ServiceError::BadRequest(format!("the transparency log's signing key ({at}): {e}"))
}

/// Reads the signing key; `Ok(None)` when it is the data directory's and
/// that was not made yet.
pub fn read_key(config: &Config) -> Result<Option<SignerKey>, ServiceError> {
    let at = key_source(config);
    let text = match &at {
        KeySource::Inline => config.transparency.key.clone().unwrap_or_default(),
        KeySource::File(path) => std::fs::read_to_string(path).map_err(|e| bad_key(&at, e))?,
        KeySource::DataDir(path) => match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(bad_key(&at, e)),
        },
    };
    SignerKey::parse(text.trim()).map(Some).map_err(|e| {
        bad_key(
            &at,
            format!("{e} (make one with `berth keys generate --out FILE`)"),
        )
    })
}

/// A new key named `name` from the operating system's random source.
pub fn generate(name: &str) -> Result<SignerKey, ServiceError> {
    let seed: [u8; 32] = rand::random();
    SignerKey::generate(name, seed).map_err(|e| {
        ServiceError::BadRequest(format!(
            "key name `{name}`: {e} (a name has no spaces and no `+`)"
        ))
    })
}

/// Writes a key's secret text to a new file, mode 0600; an existing file is
/// never replaced (it may be the only copy of a key clients trust).
pub fn write_new_key_file(path: &Path, key: &SignerKey) -> Result<(), ServiceError> {
    let fail = |e: std::io::Error| {
        ServiceError::BadRequest(format!(
            "cannot write the key file `{}`: {e}",
            path.display()
        ))
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                ServiceError::Conflict(format!(
                    "`{}` exists; a key file is never overwritten (move it away first)",
                    path.display()
                ))
            } else {
                fail(e)
            }
        })?;
    file.write_all(format!("{}\n", key.to_secret_text()).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(fail)
}

/// The name a made key gets: the public URL's host, `:` as `-`.
pub fn default_key_name(public_url: &str) -> String {
    let host = public_url
        .split("://")
        .nth(1)
        .unwrap_or(public_url)
        .split('/')
        .next()
        .unwrap_or_default()
        .replace(':', "-");
    if host.is_empty() {
        "berth".into()
    } else {
        format!("berth-{host}")
    }
}

/// The retired keys of the configuration (checked when it was loaded).
pub fn retired_keys(config: &Config) -> Vec<(VerifierKey, String)> {
    config
        .transparency
        .retired_keys
        .iter()
        .filter_map(|r| {
            VerifierKey::parse(&r.key)
                .ok()
                .map(|k| (k, r.until.clone()))
        })
        .collect()
}
