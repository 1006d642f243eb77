//! `[tls]`: the certificate and key files the server speaks HTTPS with
//! (both or neither, decoded once when the file is read), and how often it
//! looks at them again. Only reads configuration; the files are loaded by
//! the server.

use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::values::{refusal, ConfigError};

/// Built-in TLS: HTTPS (HTTP/1.1 and HTTP/2) when both files are given.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsConfig {
    /// The certificate and its key; `None`: plain HTTP.
    pub files: Option<TlsFiles>,
    /// Seconds between looks at the files; a changed pair is loaded and
    /// served to new connections without a restart.
    pub reload_secs: u64,
}

/// The files the server speaks HTTPS with.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first (`tls.cert_file`).
    pub cert_file: PathBuf,
    /// PEM private key, PKCS#8, PKCS#1 or SEC1 (`tls.key_file`).
    pub key_file: PathBuf,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            files: None,
            reload_secs: 10,
        }
    }
}

impl TlsConfig {
    /// Checks the reload period's range.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        if !(1..=86_400).contains(&self.reload_secs) {
            return Err(ConfigError(format!(
                "tls.reload_secs is {}; it must be between 1 and 86400",
                self.reload_secs
            )));
        }
        Ok(())
    }
}

/// `[tls]` as the file spells it: a file left out, or `""`, is none.
#[derive(Serialize, Deserialize)]
#[serde(rename = "TlsConfig", deny_unknown_fields, default)]
struct TlsKeys {
    cert_file: String,
    key_file: String,
    reload_secs: u64,
}

impl Default for TlsKeys {
    fn default() -> Self {
        Self::from(&TlsConfig::default())
    }
}

impl From<&TlsConfig> for TlsKeys {
    fn from(tls: &TlsConfig) -> Self {
        let text = |path: Option<&PathBuf>| {
            path.map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        TlsKeys {
            cert_file: text(tls.files.as_ref().map(|f| &f.cert_file)),
            key_file: text(tls.files.as_ref().map(|f| &f.key_file)),
            reload_secs: tls.reload_secs,
        }
    }
}

impl Serialize for TlsConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        TlsKeys::from(self).serialize(s)
    }
}

impl<'de> Deserialize<'de> for TlsConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let keys = TlsKeys::deserialize(d)?;
        let files = match (keys.cert_file.is_empty(), keys.key_file.is_empty()) {
            (true, true) => None,
            (false, false) => Some(TlsFiles {
                cert_file: keys.cert_file.into(),
                key_file: keys.key_file.into(),
            }),
            _ => {
                return Err(refusal(ConfigError(
                    "tls.cert_file and tls.key_file go together: give both to serve HTTPS, or \
                     neither"
                        .into(),
                )))
            }
        };
        Ok(TlsConfig {
            files,
            reload_secs: keys.reload_secs,
        })
    }
}
