//! Berth's configuration: one typed struct, loaded once at start.
//!
//! Sources, later ones winning: built-in defaults, the TOML file
//! (`--config`), `BERTH_*` environment variables (each key's dotted path in
//! upper case with `_` for `.`, e.g. `BERTH_DATABASE_URL` for `database.url`),
//! then command-line flags. Unknown keys in the file are errors. This module
//! only reads and checks configuration; it never opens stores or sockets.
//!
//! Each value is decoded once, when the file is read, into its type (an
//! address, CIDR ranges, a word of a few, a pair of files), and a bad one
//! is refused then in words that name its key; [`Config::finish`] derives
//! defaults and checks ranges and what keys say about each other.
//!
//! One file per concern: [`Config`] itself (`file.rs`), the keys about how
//! the server is reached (`server.rs`), its sections (`storage.rs`,
//! `limits.rs`, `log.rs`, `tls.rs`, `advisories.rs`, `transparency.rs`,
//! `trusted_publishing.rs`, `auth.rs`, `webhooks.rs`, `downloads.rs`, `docs.rs`), the
//! `[[registries]]`
//! entries (`registry.rs`, read and written by `registry_entry.rs`), where it
//! is loaded from and how it is finished (`load.rs`), `berth config check`
//! (`check.rs`), and the words they all share (`values.rs`).

mod advisories;
mod auth;
mod check;
mod docs;
mod downloads;
mod file;
mod limits;
mod load;
mod log;
pub(crate) mod registry;
mod registry_entry;
mod server;
mod storage;
#[cfg(test)]
mod tests;
mod tls;
mod transparency;
mod trusted_publishing;
pub(crate) mod values;
mod webhooks;

pub use advisories::{AdvisoriesConfig, AdvisorySource};
pub use auth::{AuthConfig, GroupMapping, LdapConfig, OidcConfig};
pub use docs::DocsConfig;
pub use downloads::{DownloadsConfig, Redirect, MAX_PRESIGN_TTL_SECS};
pub use file::{Config, MetricsConfig, PublishConfig};
pub use limits::{LimitsConfig, MIB};
pub use load::{Overrides, ENV_KEYS};
pub use log::{LogConfig, LogFormat};
pub use registry::{reach_lists, RegistryConfig, RegistryKind};
pub use server::{parse_listen, ForwardedHeader};
pub use storage::{DatabaseConfig, StorageConfig};
pub use tls::{TlsConfig, TlsFiles};
pub use transparency::{RetiredKey, TransparencyConfig};
pub use trusted_publishing::{TrustedIssuer, TrustedPublishingConfig};
pub use values::ConfigError;
pub use webhooks::WebhooksConfig;
