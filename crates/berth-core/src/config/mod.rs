//! Berth's configuration: one typed struct, loaded once at start.
//!
//! Sources, later ones winning: built-in defaults, the TOML file
//! (`--config`), `BERTH_*` environment variables (each key's dotted path in
//! upper case with `_` for `.`, e.g. `BERTH_DATABASE_URL` for `database.url`),
//! then command-line flags. Unknown keys in the file are errors. This module
//! only reads and checks configuration; it never opens stores or sockets.
//!
//! One file per concern: [`Config`] itself (`file.rs`), its sections
//! (`storage.rs`, `limits.rs`, `log.rs`, `tls.rs`), the `[[registries]]`
//! entries (`registry.rs`, read and written by `registry_entry.rs`), where it
//! is loaded from and how it is finished (`load.rs`), `berth config check`
//! (`check.rs`), and the words they all share (`values.rs`).

mod check;
mod file;
mod limits;
mod load;
mod log;
pub(crate) mod registry;
mod registry_entry;
mod storage;
mod tls;
pub(crate) mod values;

pub use file::{Config, MetricsConfig, PublishConfig};
pub use limits::{LimitsConfig, MIB};
pub use load::{Overrides, ENV_KEYS};
pub use log::LogConfig;
pub use registry::{reach_lists, RegistryConfig, RegistryKind};
pub use storage::{DatabaseConfig, StorageConfig};
pub use tls::TlsConfig;
pub use values::{parse_networks, ConfigError};
