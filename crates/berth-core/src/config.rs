//! Berth's configuration: one typed struct, loaded once at start.
//!
//! Sources, later ones winning: built-in defaults, the TOML file
//! (`--config`), `BERTH_*` environment variables (each key's dotted path in
//! upper case with `_` for `.`, e.g. `BERTH_DATABASE_URL` for `database.url`),
//! then command-line flags. Unknown keys in the file are errors. This module
//! only reads and checks configuration; it never opens stores or sockets.

pub use crate::config_values::{parse_networks, ConfigError};
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// Every setting, with defaults that give a working single-node server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the SQLite database and blob directory live by default.
    pub data_dir: PathBuf,
    /// Address to listen on.
    pub listen: String,
    /// The URL cargo uses to reach this server; defaults to `http://{listen}`.
    pub public_url: String,
    /// Reverse proxies (CIDR ranges, e.g. `10.0.0.5/32`) whose
    /// `X-Forwarded-For` / `Forwarded: for=` headers are believed: for a
    /// connection from one of them, the client is the right-most address of
    /// the header that is not itself a trusted proxy. From anyone else the
    /// headers are ignored. Empty (the default): the TCP peer is the client.
    pub trusted_proxies: Vec<String>,
    /// Which header the trusted proxies write: `x-forwarded-for` (nginx,
    /// HAProxy, most load balancers) or `forwarded` (RFC 7239). Only that
    /// one is read, so a client cannot slip in the other.
    pub forwarded_header: String,
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
    /// The registries this server holds. `main` (hosted) when none are given.
    pub registries: Vec<RegistryConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://...`; defaults to `{data_dir}/berth.db`.
    pub url: String,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `file:///dir` or `s3://BUCKET[/PREFIX]`; defaults to `{data_dir}/blobs`.
    pub url: String,
    /// S3 access key id (else `AWS_ACCESS_KEY_ID`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// S3 secret access key (else `AWS_SECRET_ACCESS_KEY`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<String>,
    /// With no S3 credentials configured, ask the cloud instance's metadata
    /// service for them; otherwise start-up fails and says what to set.
    pub instance_credentials: bool,
}

impl StorageConfig {
    /// The S3 credentials this configuration gives.
    pub fn s3_credentials(&self) -> berth_store::S3Credentials {
        berth_store::S3Credentials {
            access_key_id: self.access_key_id.clone().filter(|k| !k.is_empty()),
            secret_access_key: self.secret_access_key.clone().filter(|k| !k.is_empty()),
            instance_credentials: self.instance_credentials,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest `.crate` file accepted, in bytes.
    pub max_crate_size: u64,
    /// Largest publish metadata JSON accepted, in bytes (it carries the README).
    pub max_metadata_size: u64,
    /// Largest total size a `.crate` may unpack to, in bytes.
    pub max_unpacked_size: u64,
    /// Most entries a `.crate` may hold.
    pub max_crate_entries: u64,
    /// Seconds a request may take before it is cut off.
    pub request_timeout_secs: u64,
    /// Publishes whose bodies are read and checked at once; more wait.
    pub max_concurrent_publishes: usize,
    /// Memory for cached index files, in bytes.
    pub index_cache_bytes: u64,
    /// Memory for cached small `.crate` files, in bytes (0 turns it off).
    pub blob_cache_bytes: u64,
    /// Open connections at most; more wait in the kernel's accept queue.
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers; also how long a
    /// connection with no request in flight is kept (HTTP/1 keep-alive and
    /// HTTP/2 alike: an idle HTTP/2 connection is sent GOAWAY).
    pub header_read_timeout_secs: u64,
    /// Open connections from one client address at most; more are closed
    /// at once, so that one client cannot hold every connection slot.
    pub max_connections_per_ip: usize,
    /// Client addresses (CIDR, e.g. `10.0.0.5/32`) whose connections are
    /// not counted per address: your reverse proxy or load balancer, which
    /// carries many users over its own address.
    pub connections_per_ip_exempt: Vec<String>,
    /// Seconds a response write may stall (a client that stops reading)
    /// before the connection is closed.
    pub write_timeout_secs: u64,
    /// Slowest average rate, in bytes per second, at which an upload's body
    /// must arrive once `upload_grace_secs` have passed; slower uploads are
    /// cut off (408). Uploads are read before a publish slot is taken.
    pub min_upload_bytes_per_sec: u64,
    /// Seconds an upload may take before the minimum rate applies.
    pub upload_grace_secs: u64,
    /// Uploads one user may have in flight at once; more wait their turn
    /// (up to 30 s, then 429).
    pub max_uploads_per_user: usize,
    /// Memory for upload bodies being read, in bytes, over all uploads;
    /// an upload reserves its declared size and waits when it does not fit.
    pub upload_buffer_bytes: u64,
    /// Searches answered at once; more are refused with 429 and
    /// `Retry-After`. 0: half the database pool, so that index, download
    /// and publish traffic never waits behind searches.
    pub max_concurrent_searches: usize,
    /// Most dependencies one version may declare.
    pub max_dependencies: usize,
    /// Most features one version may declare (`web-sys` has 1,727).
    pub max_features: usize,
    /// Most entries one feature may enable.
    pub max_feature_values: usize,
    /// Longest index line (one version) in bytes (`web-sys`: 58 KB).
    pub max_index_line_bytes: u64,
    /// Largest index file (all versions of one crate) in bytes; a publish
    /// that would grow it past this is refused, and so is a larger index
    /// file from a proxy's upstream.
    pub max_index_file_bytes: u64,
    /// Memory for upstream index files that proxy registries are reading
    /// and storing, in bytes, over all proxies: a file reserves three times
    /// its declared size (or `max_index_file_bytes` when it declares none)
    /// before its body is read, and waits when that does not fit.
    pub proxy_index_buffer_bytes: u64,
    /// Failed authentications (an unknown, revoked, expired or malformed
    /// token) from one client address within `auth_failure_window_secs`
    /// before that address is answered 429 for `auth_cooldown_secs` when it
    /// presents a token. Counted per node, in memory.
    pub auth_failures_per_address: u32,
    /// Failed authentications with one token prefix (the first 12
    /// characters of the presented secret), from any address, within the
    /// window before that prefix is answered 429 for the cooling period.
    pub auth_failures_per_prefix: u32,
    /// Seconds over which failed authentications are counted.
    pub auth_failure_window_secs: u64,
    /// Seconds a throttled address or prefix is refused (its `Retry-After`).
    pub auth_cooldown_secs: u64,
    /// Tokens one user may create through `/api/v1/me/tokens` and the
    /// account page in an hour (429 beyond). Counted per node, in memory;
    /// `berth token create` is not limited.
    pub token_creations_per_hour: u32,
}

impl Config {
    /// [`Config::trusted_proxies`], parsed.
    pub fn trusted_networks(&self) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        parse_networks("trusted_proxies", &self.trusted_proxies)
    }
}

impl LimitsConfig {
    /// [`LimitsConfig::connections_per_ip_exempt`], parsed.
    pub fn exempt_networks(&self) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        parse_networks(
            "limits.connections_per_ip_exempt",
            &self.connections_per_ip_exempt,
        )
    }

    /// Searches answered at once (`max_concurrent_searches`, or half the
    /// database pool when it is 0).
    pub fn search_slots(&self, pool: u32) -> usize {
        match self.max_concurrent_searches {
            0 => (pool as usize / 2).max(1),
            n => n,
        }
    }

    /// The per-version declaration limits, for metadata validation.
    pub fn metadata(&self) -> berth_protocol::MetadataLimits {
        berth_protocol::MetadataLimits {
            max_dependencies: self.max_dependencies,
            max_features: self.max_features,
            max_feature_values: self.max_feature_values,
        }
    }
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter, e.g. `info` or `berth=debug,tower_http=info`.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

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

pub use crate::registry_config::{reach_lists, RegistryConfig, RegistryKind};

pub const MIB: u64 = 1024 * 1024;

/// Memory for index files by default: a sixteenth of the machine's memory,
/// between 128 MiB and 1 GiB, so that a large working set stays cached
/// without an operator sizing it.
fn default_index_cache_bytes() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kib| kib * 1024);
    total.map_or(128 * MIB, |t| (t / 16).clamp(128 * MIB, 1024 * MIB))
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("berth-data"),
            listen: "127.0.0.1:7878".into(),
            public_url: String::new(),
            trusted_proxies: Vec::new(),
            forwarded_header: "x-forwarded-for".into(),
            workers: 0,
            h2c: true,
            database: DatabaseConfig::default(),
            storage: StorageConfig::default(),
            limits: LimitsConfig::default(),
            publish: PublishConfig::default(),
            log: LogConfig::default(),
            metrics: MetricsConfig::default(),
            tls: TlsConfig::default(),
            registries: Vec::new(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            max_connections: 8,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let defaults = berth_protocol::MetadataLimits::default();
        Self {
            max_crate_size: 10 * MIB,
            max_metadata_size: 10 * MIB,
            max_unpacked_size: 512 * MIB,
            max_crate_entries: 50_000,
            request_timeout_secs: 300,
            max_concurrent_publishes: 8,
            index_cache_bytes: default_index_cache_bytes(),
            blob_cache_bytes: 64 * MIB,
            max_connections: 4096,
            header_read_timeout_secs: 30,
            max_connections_per_ip: 256,
            connections_per_ip_exempt: Vec::new(),
            write_timeout_secs: 30,
            min_upload_bytes_per_sec: 16 * 1024,
            upload_grace_secs: 10,
            max_uploads_per_user: 4,
            upload_buffer_bytes: 256 * MIB,
            max_concurrent_searches: 0,
            max_dependencies: defaults.max_dependencies,
            max_features: defaults.max_features,
            max_feature_values: defaults.max_feature_values,
            max_index_line_bytes: MIB,
            max_index_file_bytes: 32 * MIB,
            proxy_index_buffer_bytes: 128 * MIB,
            auth_failures_per_address: 30,
            auth_failures_per_prefix: 30,
            auth_failure_window_secs: 600,
            auth_cooldown_secs: 300,
            token_creations_per_hour: 30,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

/// Keys that environment variables may set: `BERTH_` + the key in upper
/// case with `.` as `_`. Lists (`registries`, `publish.allowed_registries`)
/// take TOML syntax, e.g. `BERTH_PUBLISH_ALLOWED_REGISTRIES='["sparse+http://..."]'`.
pub const ENV_KEYS: &[&str] = &[
    "data_dir",
    "listen",
    "public_url",
    "trusted_proxies",
    "forwarded_header",
    "workers",
    "h2c",
    "database.url",
    "database.max_connections",
    "storage.url",
    "storage.access_key_id",
    "storage.secret_access_key",
    "storage.instance_credentials",
    "limits.max_crate_size",
    "limits.max_metadata_size",
    "limits.max_unpacked_size",
    "limits.max_crate_entries",
    "limits.request_timeout_secs",
    "limits.max_concurrent_publishes",
    "limits.index_cache_bytes",
    "limits.blob_cache_bytes",
    "limits.max_connections",
    "limits.header_read_timeout_secs",
    "limits.max_connections_per_ip",
    "limits.connections_per_ip_exempt",
    "limits.write_timeout_secs",
    "limits.min_upload_bytes_per_sec",
    "limits.upload_grace_secs",
    "limits.max_uploads_per_user",
    "limits.upload_buffer_bytes",
    "limits.max_concurrent_searches",
    "limits.max_dependencies",
    "limits.max_features",
    "limits.max_feature_values",
    "limits.max_index_line_bytes",
    "limits.max_index_file_bytes",
    "limits.proxy_index_buffer_bytes",
    "limits.auth_failures_per_address",
    "limits.auth_failures_per_prefix",
    "limits.auth_failure_window_secs",
    "limits.auth_cooldown_secs",
    "limits.token_creations_per_hour",
    "publish.allowed_registries",
    "publish.denied_registries",
    "log.level",
    "log.format",
    "metrics.token",
    "tls.cert_file",
    "tls.key_file",
    "tls.reload_secs",
    "registries",
];

/// Values given on the command line; `None` leaves the setting alone.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
}

/// Figment's errors in the words of the file: each problem's key as its
/// dotted path (`database.url`, `registries[0].kind`; figment's profile
/// prefix is not part of it), what was wanted, and which file or variable
/// said it. One line per problem.
fn explain(e: figment::Error) -> ConfigError {
    let lines: Vec<String> = e
        .into_iter()
        .map(|e| {
            let mut key = String::new();
            for part in &e.path {
                if part.parse::<usize>().is_ok() {
                    key.push_str(&format!("[{part}]"));
                } else {
                    if !key.is_empty() {
                        key.push('.');
                    }
                    key.push_str(part);
                }
            }
            let from = match e.metadata.as_ref() {
                Some(md) => match &md.source {
                    Some(figment::Source::File(path)) => format!(" in {}", path.display()),
                    Some(other) => format!(" in {other}"),
                    None => format!(" in {}", md.name),
                },
                None => String::new(),
            };
            match &e.kind {
                figment::error::Kind::UnknownField(_, known) => {
                    let known: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
                    format!(
                        "unknown key `{key}`{from}; the keys allowed there are {}",
                        known.join(", ")
                    )
                }
                kind if key.is_empty() => format!("{kind}{from}"),
                kind => format!("`{key}`{from}: {kind}"),
            }
        })
        .collect();
    ConfigError(lines.join("\n"))
}

fn env_name(key: &str) -> String {
    key.replace('.', "_").to_ascii_uppercase()
}

impl Config {
    /// Loads defaults, then `file`, then the environment, then `overrides`.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError(format!(
                    "config file `{}` does not exist",
                    path.display()
                )));
            }
            fig = fig.merge(Toml::file_exact(path));
        }
        // A misspelt variable (BERTH_DATABSE_URL) would silently start a
        // node on the defaults; refuse it instead.
        for (name, _) in std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v))) {
            let Some(key) = name.strip_prefix("BERTH_") else {
                continue;
            };
            let known = ENV_KEYS.iter().any(|k| env_name(k) == key)
                || matches!(key, "CONFIG" | "DATA_DIR")
                || key.starts_with("TEST_")
                || key.starts_with("BENCH_");
            if !known {
                return Err(ConfigError(format!(
                    "unknown environment variable `{name}`; settings are BERTH_ + a key such as \
                     BERTH_DATABASE_URL (see `berth --help`)"
                )));
            }
        }
        let env = Env::prefixed("BERTH_").filter_map(|k| {
            let k = k.as_str().to_ascii_uppercase();
            ENV_KEYS
                .iter()
                .find(|key| env_name(key) == k)
                .map(|key| (*key).into())
        });
        fig = fig.merge(env).merge(Serialized::defaults(overrides));
        let mut config: Config = fig.extract().map_err(explain)?;
        config.finish()?;
        Ok(config)
    }

    /// Loads defaults then `file` only: no environment, no flags. For a
    /// second configuration next to the running one (`berth migrate --to`).
    pub fn load_file_only(file: &Path) -> Result<Self, ConfigError> {
        if !file.exists() {
            return Err(ConfigError(format!(
                "config file `{}` does not exist",
                file.display()
            )));
        }
        let mut config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file_exact(file))
            .extract()
            .map_err(explain)?;
        config.finish()?;
        Ok(config)
    }

    /// Fills derived defaults and checks cross-field rules.
    pub fn finish(&mut self) -> Result<(), ConfigError> {
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError(format!(
                "listen address `{}` is not an IP:PORT socket address",
                self.listen
            )));
        }
        if self.public_url.is_empty() {
            let addr: std::net::SocketAddr = self
                .listen
                .parse()
                .map_err(|_| ConfigError("listen".into()))?;
            if addr.ip().is_unspecified() {
                return Err(ConfigError(format!(
                    "listening on {} needs public_url (--public-url): the URL cargo uses to reach this \
                     server, e.g. https://crates.example.internal",
                    self.listen
                )));
            }
            let scheme = if self.tls.enabled() { "https" } else { "http" };
            self.public_url = format!("{scheme}://{}", self.listen);
        }
        while self.public_url.ends_with('/') {
            self.public_url.pop();
        }
        if !(self.public_url.starts_with("http://") || self.public_url.starts_with("https://")) {
            return Err(ConfigError(format!(
                "public_url `{}` must start with http:// or https://",
                self.public_url
            )));
        }
        let data_dir = std::path::absolute(&self.data_dir)
            .map_err(|e| ConfigError(format!("data_dir `{}`: {e}", self.data_dir.display())))?;
        self.data_dir = data_dir;
        if self.database.url.is_empty() {
            self.database.url = format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("berth.db").display()
            );
        }
        if self.storage.url.is_empty() {
            self.storage.url = format!("file://{}", self.data_dir.join("blobs").display());
        }
        if self.registries.is_empty() {
            self.registries.push(RegistryConfig::hosted("main"));
        }
        let mut seen = std::collections::HashSet::new();
        for r in &self.registries {
            r.check()?;
            if !seen.insert(r.name.clone()) {
                return Err(ConfigError(format!(
                    "registry `{}` is configured twice",
                    r.name
                )));
            }
        }
        crate::registry_config::check_registry_set(&self.registries)?;
        let l = &self.limits;
        let u32_max = u64::from(u32::MAX);
        for (key, value, min, max) in [
            ("limits.max_crate_size", l.max_crate_size, 1, u32_max),
            (
                "limits.max_metadata_size",
                l.max_metadata_size,
                1024,
                u32_max,
            ),
            (
                "limits.max_unpacked_size",
                l.max_unpacked_size,
                1024,
                u64::MAX / 2,
            ),
            (
                "limits.max_crate_entries",
                l.max_crate_entries,
                1,
                100_000_000,
            ),
            (
                "limits.request_timeout_secs",
                l.request_timeout_secs,
                5,
                86_400,
            ),
            (
                "limits.max_concurrent_publishes",
                l.max_concurrent_publishes as u64,
                1,
                10_000,
            ),
            (
                "limits.index_cache_bytes",
                l.index_cache_bytes,
                0,
                u64::MAX / 2,
            ),
            (
                "limits.blob_cache_bytes",
                l.blob_cache_bytes,
                0,
                u64::MAX / 2,
            ),
            (
                "limits.max_connections",
                l.max_connections as u64,
                1,
                1_000_000,
            ),
            (
                "limits.header_read_timeout_secs",
                l.header_read_timeout_secs,
                1,
                3600,
            ),
            (
                "limits.max_connections_per_ip",
                l.max_connections_per_ip as u64,
                1,
                1_000_000,
            ),
            ("limits.write_timeout_secs", l.write_timeout_secs, 1, 3600),
            (
                "limits.min_upload_bytes_per_sec",
                l.min_upload_bytes_per_sec,
                0,
                u64::MAX / 2,
            ),
            ("limits.upload_grace_secs", l.upload_grace_secs, 1, 3600),
            (
                "limits.max_uploads_per_user",
                l.max_uploads_per_user as u64,
                1,
                10_000,
            ),
            (
                "limits.upload_buffer_bytes",
                l.upload_buffer_bytes,
                MIB,
                u64::MAX / 2,
            ),
            (
                "limits.max_concurrent_searches",
                l.max_concurrent_searches as u64,
                0,
                10_000,
            ),
            (
                "limits.max_dependencies",
                l.max_dependencies as u64,
                1,
                1_000_000,
            ),
            ("limits.max_features", l.max_features as u64, 1, 1_000_000),
            (
                "limits.max_feature_values",
                l.max_feature_values as u64,
                1,
                1_000_000,
            ),
            (
                "limits.max_index_line_bytes",
                l.max_index_line_bytes,
                1024,
                u64::from(u32::MAX),
            ),
            (
                "limits.max_index_file_bytes",
                l.max_index_file_bytes,
                1024,
                u64::MAX / 2,
            ),
            (
                "limits.proxy_index_buffer_bytes",
                l.proxy_index_buffer_bytes,
                MIB,
                u64::MAX / 2,
            ),
            (
                "limits.auth_failures_per_address",
                u64::from(l.auth_failures_per_address),
                1,
                1_000_000,
            ),
            (
                "limits.auth_failures_per_prefix",
                u64::from(l.auth_failures_per_prefix),
                1,
                1_000_000,
            ),
            (
                "limits.auth_failure_window_secs",
                l.auth_failure_window_secs,
                1,
                86_400,
            ),
            ("limits.auth_cooldown_secs", l.auth_cooldown_secs, 1, 86_400),
            (
                "limits.token_creations_per_hour",
                u64::from(l.token_creations_per_hour),
                1,
                1_000_000,
            ),
            (
                "database.max_connections",
                u64::from(self.database.max_connections),
                1,
                10_000,
            ),
        ] {
            if value < min || value > max {
                return Err(ConfigError(format!(
                    "{key} is {value}; it must be between {min} and {max}"
                )));
            }
        }
        if self.tls.cert_file.is_empty() != self.tls.key_file.is_empty() {
            return Err(ConfigError(
                "tls.cert_file and tls.key_file go together: give both to serve HTTPS, or neither"
                    .into(),
            ));
        }
        if !(1..=86_400).contains(&self.tls.reload_secs) {
            return Err(ConfigError(format!(
                "tls.reload_secs is {}; it must be between 1 and 86400",
                self.tls.reload_secs
            )));
        }
        self.limits.exempt_networks()?;
        self.trusted_networks()?;
        if !matches!(
            self.forwarded_header.as_str(),
            "x-forwarded-for" | "forwarded"
        ) {
            return Err(ConfigError(format!(
                "forwarded_header `{}` must be `x-forwarded-for` or `forwarded`",
                self.forwarded_header
            )));
        }
        if self.workers > 256 {
            return Err(ConfigError(format!(
                "workers is {}; at most 256 (0, the default, is one per CPU core)",
                self.workers
            )));
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(ConfigError(format!(
                "log.format `{}` must be `text` or `json`",
                self.log.format
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_error(toml: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("berth.toml");
        std::fs::write(&file, toml).unwrap();
        let e = Config::load_file_only(&file).unwrap_err().to_string();
        e.replace(&file.display().to_string(), "[FILE]")
    }

    #[test]
    fn an_unknown_key_is_named_as_the_file_spells_it() {
        assert_eq!(
            load_error("[database]\nurll = \"x\"\n"),
            "configuration error: unknown key `database.urll` in [FILE]; the keys allowed there \
             are `url`, `max_connections`"
        );
        assert_eq!(
            load_error("[[registries]]\nname = \"a\"\nkind = \"hosted\"\nprivat = true\n"),
            "configuration error: unknown key `registries[0].privat` in [FILE]; the keys allowed \
             there are `name`, `kind`, `private`, `allowed_cidrs`, `upstream`, \
             `upstream_aliases`, `upstream_token_env`, `index_ttl_secs`, `offline`, \
             `cache_max_bytes`, `upstream_allowed_hosts`, `connect_timeout_secs`, `upstream_timeout_secs`, `members`, \
             `claims`, `publish_to`, `allow_upstream_names`"
        );
        assert_eq!(
            load_error("[limits]\nmax_crate_size = \"big\"\n"),
            "configuration error: `limits.max_crate_size` in [FILE]: invalid type: found \
             string \"big\", expected u64"
        );
    }

    #[test]
    fn env_keys_cover_every_setting() {
        let mut config = Config::default();
        // Optional settings are left out when unset; set them to see them.
        config.publish.allowed_registries = Some(Vec::new());
        config.storage.access_key_id = Some(String::new());
        config.storage.secret_access_key = Some(String::new());
        let value = toml::Value::try_from(config).unwrap();
        let mut keys = std::collections::BTreeSet::new();
        crate::config_check::tests::keys("", &value, &mut keys);
        let keys: Vec<String> = keys.into_iter().collect();
        let mut listed: Vec<String> = ENV_KEYS.iter().map(|s| s.to_string()).collect();
        listed.sort();
        assert_eq!(keys, listed);
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's test jail fixes the closure's type
    fn file_env_and_flags_layer_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("berth.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\n[limits]\nmax_crate_size = 1000\n[[registries]]\nname = \"corp\"\nprivate = true\n",
        )
        .unwrap();
        figment::Jail::expect_with(|jail| {
            jail.set_env("BERTH_LIMITS_MAX_CRATE_SIZE", "2000");
            let overrides = Overrides {
                data_dir: Some(dir.path().into()),
                ..Default::default()
            };
            let c = Config::load(Some(&file), &overrides).unwrap();
            assert_eq!(c.listen, "127.0.0.1:9000");
            assert_eq!(c.public_url, "http://127.0.0.1:9000");
            assert_eq!(c.limits.max_crate_size, 2000);
            assert_eq!(c.registries.len(), 1);
            assert!(c.registries[0].is_private());
            assert!(c.database.url.starts_with("sqlite://"));
            let o = Overrides {
                listen: Some("127.0.0.1:9100".into()),
                ..overrides.clone()
            };
            assert_eq!(
                Config::load(Some(&file), &o).unwrap().listen,
                "127.0.0.1:9100"
            );
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's test jail fixes the closure's type
    fn misspelt_environment_variables_are_errors() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("BERTH_DATABSE_URL", "postgres://x/y");
            let err = Config::load(None, &Overrides::default()).unwrap_err();
            assert!(err.to_string().contains("BERTH_DATABSE_URL"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn bad_values_are_refused_at_start() {
        let bad = |toml: &str| {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("berth.toml");
            std::fs::write(&file, toml).unwrap();
            Config::load_file_only(&file).unwrap_err().to_string()
        };
        assert!(bad("listen = \"0.0.0.0:7878\"\n").contains("needs public_url"));
        assert!(bad("workers = 100000\n").contains("at most 256"));
        assert!(bad("[limits]\nmax_metadata_size = 0\n").contains("limits.max_metadata_size"));
        assert!(bad("[limits]\nmax_crate_size = 99999999999\n").contains("limits.max_crate_size"));
        assert!(bad("[limits]\nrequest_timeout_secs = 0\n").contains("request_timeout_secs"));
        assert!(bad("[[registries]]\nname = \"a/b\"\n").contains("registry name"));
        assert!(bad("[log]\nformat = \"xml\"\n").contains("log.format"));
    }

    #[test]
    fn unknown_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("berth.toml");
        std::fs::write(&file, "[limits]\nmax_crate_sise = 1\n").unwrap();
        let err = Config::load(Some(&file), &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("max_crate_sise"), "{err}");
    }
}
