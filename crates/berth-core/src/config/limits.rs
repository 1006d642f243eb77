//! `[limits]`: every bound the server keeps (sizes, counts, deadlines,
//! memory budgets, the brute-force thresholds), their defaults, and the
//! range each must fall in. Only reads and checks configuration.

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize};

use crate::config::storage::DatabaseConfig;
use crate::config::values::{read_networks, write_networks, ConfigError};

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
    #[serde(deserialize_with = "read_exempt", serialize_with = "write_networks")]
    pub connections_per_ip_exempt: Vec<IpNet>,
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

impl LimitsConfig {
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

    /// Checks that every limit, and the database pool's size, is within
    /// its range.
    pub(crate) fn check(&self, database: &DatabaseConfig) -> Result<(), ConfigError> {
        let l = self;
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
                u64::from(database.max_connections),
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
        Ok(())
    }
}

/// Decodes `limits.connections_per_ip_exempt`.
fn read_exempt<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    read_networks(d, "limits.connections_per_ip_exempt")
}

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
