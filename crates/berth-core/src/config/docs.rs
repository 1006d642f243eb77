//! `[docs]`: the bounds of documentation uploaded from CI, and how this
//! node builds docs. Only reads configuration; uploading, building and
//! serving are `docs/`.

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
    /// Docs builds this node runs at once (each a `cargo doc` in a
    /// bubblewrap sandbox); 0, the default: this node builds none (the
    /// queue waits for a node that does).
    pub workers: u32,
    /// The toolchain builds use: a rustup toolchain name, or a directory
    /// holding `bin/cargo`, `bin/rustc` and `bin/rustdoc`.
    pub toolchain: String,
    /// The registry of this server that serves public crates (a proxy or
    /// a virtual registry) to builds whose crates depend on them; none:
    /// such builds fail, as the sandbox reaches nothing else.
    pub public_registry: Option<String>,
    /// The environment variable holding a token builds read private
    /// registries with (a user with `read` roles).
    pub token_env: Option<String>,
    /// A build's wall-clock limit, in seconds.
    pub build_secs: u64,
    /// A build process's memory limit (address space), in MiB.
    pub build_memory_mib: u64,
    /// The docs bytes each registry may keep, in MiB; 0, the default: no
    /// limit. Over it, the docs of the oldest versions are dropped first,
    /// never a crate's latest (what `/docs/NAME/latest/` shows).
    pub budget_mib: u64,
    /// A budget of its own for some registries (`{ internal = 2048 }`),
    /// over `budget_mib`; 0: no limit for that registry.
    pub registry_budget_mib: std::collections::BTreeMap<String, u64>,
    /// How long a docs link opened from a private registry's crate page
    /// works, in seconds (no longer than the sign-in it was opened from).
    pub pass_secs: u64,
}

impl Default for DocsConfig {
    fn default() -> Self {
        Self {
            max_upload_mib: 100,
            max_unpacked_mib: 1024,
            max_files: 100_000,
            workers: 0,
            toolchain: "stable".into(),
            public_registry: None,
            token_env: None,
            build_secs: 900,
            build_memory_mib: 4096,
            budget_mib: 0,
            registry_budget_mib: Default::default(),
            pass_secs: 12 * 3600,
        }
    }
}

impl DocsConfig {
    /// Registry `name`'s docs budget in bytes; `None`: no limit.
    pub fn budget_bytes(&self, name: &str) -> Option<u64> {
        let mib = *self
            .registry_budget_mib
            .get(name)
            .unwrap_or(&self.budget_mib);
        (mib > 0).then(|| mib.saturating_mul(crate::config::MIB))
    }

    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("max_upload_mib", self.max_upload_mib),
            ("max_unpacked_mib", self.max_unpacked_mib),
            ("max_files", self.max_files),
            ("build_secs", self.build_secs),
            ("build_memory_mib", self.build_memory_mib),
            ("pass_secs", self.pass_secs),
        ] {
            if value == 0 {
                return Err(ConfigError(format!("docs.{key} must be at least 1")));
            }
        }
        if self.toolchain.trim().is_empty() {
            return Err(ConfigError(
                "docs.toolchain names a rustup toolchain or a directory".into(),
            ));
        }
        if self.workers > 64 {
            return Err(ConfigError("docs.workers is at most 64".into()));
        }
        if self.max_upload_mib > 4096 {
            return Err(ConfigError(
                "docs.max_upload_mib is at most 4096 (4 GiB)".into(),
            ));
        }
        Ok(())
    }
}
