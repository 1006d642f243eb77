//! A toolchains registry's `[[registries]]` keys ([`ToolchainsConfig`])
//! and their checked form ([`ToolchainsSettings`]). Only reads
//! configuration.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::paths::{is_channel_name, is_date, split_dated};
use crate::config::values::ConfigError;

/// Seconds an undated channel manifest is trusted before it is revalidated.
const DEFAULT_MANIFEST_TTL_SECS: u64 = 300;

/// A toolchains registry's own settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ToolchainsConfig {
    /// The distribution server mirrored (its root: the value rustup's
    /// `RUSTUP_DIST_SERVER` would take to use it directly).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// Serve only what is held; never contact the upstream.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub offline: bool,
    /// The channels served (`stable`, `1.95.0`, `nightly-2026-11-01`: a
    /// channel name for every release of it, or a name and a date for that
    /// release only); empty: any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    /// Channels answered with one dated release (`stable = "2026-11-01"`):
    /// the channel's undated manifest is that date's.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub pin: BTreeMap<String, String>,
    /// Seconds an undated channel manifest is trusted before it is
    /// revalidated with the upstream (default 300).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_ttl_secs: Option<u64>,
    /// Seconds to connect to the upstream (default 5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_timeout_secs: Option<u64>,
    /// Seconds an upstream request may take, body included (default 600:
    /// archives are large).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_timeout_secs: Option<u64>,
}

/// A toolchains registry's settings, checked.
#[derive(Debug, Clone)]
pub struct ToolchainsSettings {
    /// The upstream's root, without a trailing `/`.
    pub upstream: String,
    pub offline: bool,
    pub channels: Vec<String>,
    pub pin: BTreeMap<String, String>,
    pub manifest_ttl_secs: u64,
    pub connect_timeout_secs: u64,
    pub upstream_timeout_secs: u64,
}

impl ToolchainsConfig {
    /// The checked settings of toolchains registry `name`.
    pub fn resolve(&self, name: &str) -> Result<ToolchainsSettings, ConfigError> {
        let upstream = self.upstream.as_deref().ok_or_else(|| {
            ConfigError(format!(
                "toolchains registry `{name}` needs `upstream`, the root of the distribution \
                 server it mirrors (http:// or https://)"
            ))
        })?;
        let url = reqwest::Url::parse(upstream).map_err(|e| {
            ConfigError(format!(
                "toolchains registry `{name}`: upstream `{}` is not a URL ({e})",
                berth_store::redact(upstream)
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
            return Err(ConfigError(format!(
                "toolchains registry `{name}`: upstream `{}` must be an http:// or https:// \
                 URL without a query",
                berth_store::redact(upstream)
            )));
        }
        for c in &self.channels {
            let plain = is_channel_name(c);
            let dated = split_dated(c).is_some();
            if !plain && !dated {
                return Err(ConfigError(format!(
                    "toolchains registry `{name}`: `{c}` in channels is not a channel \
                     (stable, beta, nightly, 1.95.0, or one of them and a date: \
                     nightly-2026-11-01)"
                )));
            }
        }
        for (channel, date) in &self.pin {
            if !is_channel_name(channel) || !is_date(date) {
                return Err(ConfigError(format!(
                    "toolchains registry `{name}`: pin `{channel} = \"{date}\"` must name a \
                     channel and a date (stable = \"2026-11-01\")"
                )));
            }
        }
        if self.manifest_ttl_secs == Some(0) {
            return Err(ConfigError(format!(
                "toolchains registry `{name}`: manifest_ttl_secs must be at least 1"
            )));
        }
        Ok(ToolchainsSettings {
            upstream: upstream.trim_end_matches('/').to_string(),
            offline: self.offline,
            channels: self.channels.clone(),
            pin: self.pin.clone(),
            manifest_ttl_secs: self.manifest_ttl_secs.unwrap_or(DEFAULT_MANIFEST_TTL_SECS),
            connect_timeout_secs: self.connect_timeout_secs.unwrap_or(5).max(1),
            upstream_timeout_secs: self.upstream_timeout_secs.unwrap_or(600).max(1),
        })
    }
}
