//! The whole configuration as one typed struct, [`Config`]: its top-level
//! keys, one field per section, and the defaults that give a working
//! single-node server; with the small sections that have no file of their
//! own (`[publish]`, `[metrics]`). Only reads configuration.

use std::net::SocketAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::config::advisories::AdvisoriesConfig;
use crate::config::auth::AuthConfig;
use crate::config::docs::DocsConfig;
use crate::config::downloads::DownloadsConfig;
use crate::config::limits::LimitsConfig;
use crate::config::log::LogConfig;
use crate::config::registry::RegistryConfig;
use crate::config::server::{
    read_listen, read_trusted_proxies, write_listen, ForwardedHeader, DEFAULT_LISTEN,
};
use crate::config::storage::{DatabaseConfig, StorageConfig};
use crate::config::tls::TlsConfig;
use crate::config::transparency::TransparencyConfig;
use crate::config::trusted_publishing::TrustedPublishingConfig;
use crate::config::values::write_networks;
use crate::config::webhooks::WebhooksConfig;

/// Every setting, with defaults that give a working single-node server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the SQLite database and blob directory live by default.
    pub data_dir: PathBuf,
    /// Address to listen on.
    #[serde(deserialize_with = "read_listen", serialize_with = "write_listen")]
    pub listen: SocketAddr,
    /// The URL cargo uses to reach this server; defaults to `http://{listen}`.
    pub public_url: String,
    /// Reverse proxies (CIDR ranges, e.g. `10.0.0.5/32`) whose
    /// `X-Forwarded-For` / `Forwarded: for=` headers are believed: for a
    /// connection from one of them, the client is the right-most address of
    /// the header that is not itself a trusted proxy. From anyone else the
    /// headers are ignored. Empty (the default): the TCP peer is the client.
    #[serde(
        deserialize_with = "read_trusted_proxies",
        serialize_with = "write_networks"
    )]
    pub trusted_proxies: Vec<IpNet>,
    /// Which header the trusted proxies write: `x-forwarded-for` (nginx,
    /// HAProxy, most load balancers) or `forwarded` (RFC 7239). Only that
    /// one is read, so a client cannot slip in the other.
    pub forwarded_header: ForwardedHeader,
    /// Threads that serve HTTP, each with its own event loop; a connection
    /// stays on the thread it was given (the one with the fewest open
    /// connections). 0 (the default): one per CPU core.
    pub workers: usize,
    /// Answer a plain-HTTP request's `Upgrade: h2c` by switching its
    /// connection to HTTP/2. cargo asks on every new `http://` connection;
    /// switched, it sends all its requests at once over that one
    /// connection instead of one at a time over two. Turn it off only
    /// behind a proxy that passes `Upgrade` on but cannot carry HTTP/2.
    pub h2c: bool,
    pub database: DatabaseConfig,
    pub storage: StorageConfig,
    pub limits: LimitsConfig,
    pub publish: PublishConfig,
    pub log: LogConfig,
    pub metrics: MetricsConfig,
    pub tls: TlsConfig,
    pub advisories: AdvisoriesConfig,
    pub transparency: TransparencyConfig,
    pub trusted_publishing: TrustedPublishingConfig,
    pub auth: AuthConfig,
    pub webhooks: WebhooksConfig,
    pub downloads: DownloadsConfig,
    /// Documentation uploaded from CI.
    pub docs: DocsConfig,
    /// The registries this server holds. `main` (hosted) when none are given.
    pub registries: Vec<RegistryConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PublishConfig {
    /// When set, the only other registries that published crates may depend
    /// on: index URLs exactly as cargo sends them in publish metadata (the
    /// `registry` field of a dependency). Unset (the default): any other
    /// registry, as other alternative registries allow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_registries: Option<Vec<String>>,
    /// Other registries that published crates may never depend on (checked
    /// before `allowed_registries`).
    pub denied_registries: Vec<String>,
}

impl PublishConfig {
    /// Whether a dependency may come from another registry, identified as
    /// cargo sends it. Trailing slashes are not significant.
    pub fn allows_registry(&self, registry: &str) -> bool {
        let same = |a: &String| a.trim_end_matches('/') == registry.trim_end_matches('/');
        !self.denied_registries.iter().any(same)
            && self
                .allowed_registries
                .as_ref()
                .is_none_or(|list| list.iter().any(same))
    }
}

/// Who may read `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// When set, `/metrics` answers only requests that carry
    /// `Authorization: Bearer TOKEN`; unset, anyone who can reach the
    /// listener may read it (bind a private address, or set this).
    pub token: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("berth-data"),
            listen: DEFAULT_LISTEN,
            public_url: String::new(),
            trusted_proxies: Vec::new(),
            forwarded_header: ForwardedHeader::default(),
            workers: 0,
            h2c: true,
            database: DatabaseConfig::default(),
            storage: StorageConfig::default(),
            limits: LimitsConfig::default(),
            publish: PublishConfig::default(),
            log: LogConfig::default(),
            metrics: MetricsConfig::default(),
            tls: TlsConfig::default(),
            advisories: AdvisoriesConfig::default(),
            transparency: TransparencyConfig::default(),
            trusted_publishing: TrustedPublishingConfig::default(),
            auth: AuthConfig::default(),
            webhooks: WebhooksConfig::default(),
            downloads: DownloadsConfig::default(),
            docs: DocsConfig::default(),
            registries: Vec::new(),
        }
    }
}
