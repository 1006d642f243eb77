//! `[docs]`: the bounds of documentation uploaded from CI. Only reads
//! configuration; uploading and serving are `docs/`.

use serde::{Deserialize, Serialize};

use crate::config::values::ConfigError;

/// The `[docs]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DocsConfig {
    /// The largest upload (the `.tar.gz` as sent), in MiB.
    pub max_upload_mib: u64,
    /// The most a set may hold once unpacked, in MiB (a compression bomb
    /// stops here).
    pub max_unpacked_mib: u64,
    /// The most files a set may hold.
    pub max_files: u64,
}

impl Default for DocsConfig {
    fn default() -> Self {
        Self {
            max_upload_mib: 100,
            max_unpacked_mib: 1024,
            max_files: 100_000,
        }
    }
}

impl DocsConfig {
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("max_upload_mib", self.max_upload_mib),
            ("max_unpacked_mib", self.max_unpacked_mib),
            ("max_files", self.max_files),
        ] {
            if value == 0 {
                return Err(ConfigError(format!("docs.{key} must be at least 1")));
            }
        }
        if self.max_upload_mib > 4096 {
            return Err(ConfigError(
                "docs.max_upload_mib is at most 4096 (4 GiB)".into(),
            ));
        }
        Ok(())
    }
}
