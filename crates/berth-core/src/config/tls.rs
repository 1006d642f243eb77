//! `[tls]`: the certificate and key files the server speaks HTTPS with, and
//! how often it looks at them again. Only reads configuration; the files
//! are loaded by the server.

use serde::{Deserialize, Serialize};

/// Built-in TLS: HTTPS (HTTP/1.1 and HTTP/2) when both files are given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert_file: String,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: String,
    /// Seconds between looks at the files; a changed pair is loaded and
    /// served to new connections without a restart.
    pub reload_secs: u64,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            cert_file: String::new(),
            key_file: String::new(),
            reload_secs: 10,
        }
    }
}

impl TlsConfig {
    /// Whether the server speaks TLS itself.
    pub fn enabled(&self) -> bool {
        !self.cert_file.is_empty()
    }
}
