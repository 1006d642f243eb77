//! `[webhooks]`: where receivers may be (so that no registry user makes the
//! server call an arbitrary internal address) and how long a delivery is
//! retried. Only reads configuration; the deliveries are `webhooks/`.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::config::values::ConfigError;

/// The `[webhooks]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Host names (exactly) and CIDR ranges (for addresses written in the
    /// URL) a receiver's URL may name. Empty (the default): no webhook may
    /// be added.
    pub allowed_targets: Vec<String>,
    /// How long a delivery is retried, with backoff, before it is given up.
    pub retry_for_secs: u64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            allowed_targets: Vec::new(),
            retry_for_secs: 86_400,
        }
    }
}

impl WebhooksConfig {
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        for t in &self.allowed_targets {
            if t.contains('/') && t.parse::<IpNet>().is_err() {
                return Err(ConfigError(format!(
                    "webhooks.allowed_targets: `{t}` is neither a host name nor a CIDR range"
                )));
            }
        }
        if self.retry_for_secs == 0 {
            return Err(ConfigError(
                "webhooks.retry_for_secs must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// Whether a URL's host is an allowed target: a name listed exactly
    /// (case aside), or an address within a listed range (a bare address
    /// is its own range).
    pub fn allows(&self, url: &reqwest::Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let ip = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .ok();
        self.allowed_targets.iter().any(|t| match ip {
            Some(ip) => t
                .parse::<IpNet>()
                .map(|n| n.contains(&ip))
                .or_else(|_| t.parse::<std::net::IpAddr>().map(|a| a == ip))
                .unwrap_or(false),
            None => host.eq_ignore_ascii_case(t),
        })
    }
}
