//! The upstream's `config.json`: where its `.crate` files are (`dl`, with
//! cargo's markers) and whether they need the token. Asked once per
//! `index_ttl_secs`, kept in `proxy_index` for other nodes, restarts and
//! offline use, and refused when its `dl` names a host the proxy may not
//! contact.
//!
//! This module never serves the file; it only tells `crates.rs` where a
//! version's bytes are.

use berth_store::ProxyIndexRow;
use reqwest::StatusCode;

use super::error::UpstreamError;
use super::state::{Proxy, UpstreamConfig};
use crate::error::ServiceError;
use crate::{Berth, Registry};

/// The name under which the upstream's `config.json` is kept in
/// `proxy_index` (no crate can have it: crate names have no `.`).
pub(super) const CONFIG_KEY: &str = "config.json";

/// Largest `config.json` read.
const MAX_CONFIG_BYTES: u64 = 64 * 1024;

/// cargo's `{prefix}` for a crate name: `1`, `2`, `3/a`, `ab/cd`.
fn dl_prefix(name: &str) -> String {
    match name.len() {
        0 => String::new(),
        1 => "1".into(),
        2 => "2".into(),
        3 => format!("3/{}", &name[..1]),
        _ => format!("{}/{}", &name[..2], &name[2..4]),
    }
}

/// The download URL of a version by the upstream's `dl` template, with all
/// of cargo's markers (without any, cargo appends `/{crate}/{version}/download`).
pub(super) fn dl_url(template: &str, name: &str, vers: &str, cksum: &str) -> String {
    const MARKERS: [&str; 5] = [
        "{crate}",
        "{version}",
        "{prefix}",
        "{lowerprefix}",
        "{sha256-checksum}",
    ];
    if !MARKERS.iter().any(|m| template.contains(m)) {
        return format!("{}/{name}/{vers}/download", template.trim_end_matches('/'));
    }
    let prefix = dl_prefix(name);
    template
        .replace("{crate}", name)
        .replace("{version}", vers)
        .replace("{lowerprefix}", &prefix.to_ascii_lowercase())
        .replace("{prefix}", &prefix)
        .replace("{sha256-checksum}", cksum)
}

impl Proxy {
    /// What a `config.json` says, when its `dl` is one the proxy may use.
    fn parse_config(&self, reg: &Registry, body: &str) -> Result<UpstreamConfig, UpstreamError> {
        let v: serde_json::Value =
            serde_json::from_str(body).map_err(UpstreamError::ConfigNotJson)?;
        let dl = v["dl"]
            .as_str()
            .filter(|d| d.starts_with("http://") || d.starts_with("https://"))
            .ok_or(UpstreamError::ConfigNoDl)?;
        // Downloads go only to the upstream's host or an allowed one.
        let sample = dl_url(dl, "a", "0.0.0", &"0".repeat(64));
        let sample = reqwest::Url::parse(&sample).map_err(UpstreamError::ConfigBadDl)?;
        if !self.permitted(&sample) {
            return Err(UpstreamError::ConfigDlNotPermitted {
                host: Self::host_of(&sample),
                registry: reg.name.clone(),
            });
        }
        Ok(UpstreamConfig {
            dl: dl.to_string(),
            auth_required: v["auth-required"].as_bool().unwrap_or(false),
        })
    }

    /// The upstream's `config.json` (cached for the index TTL, and kept in
    /// the database for other nodes and restarts).
    pub(super) async fn upstream_config(
        &self,
        berth: &Berth,
        reg: &Registry,
    ) -> Result<UpstreamConfig, ServiceError> {
        if let Ok(guard) = self.upstream_config.read() {
            if let Some((cfg, at)) = guard.as_ref() {
                if berth.clock.instant().saturating_duration_since(*at) < self.ttl {
                    return Ok(cfg.clone());
                }
            }
        }
        let stored = berth.meta.proxy_index_get(reg.id, CONFIG_KEY).await?;
        let fresh = stored.as_ref().is_some_and(|r| {
            berth.clock.now_unix() - r.fetched_at < self.settings.index_ttl_secs as i64
        });
        let body = if fresh || self.settings.offline {
            stored.and_then(|r| r.body)
        } else {
            let url = format!("{}config.json", self.settings.index_url);
            // The token goes to the index host, as cargo sends it there.
            let fetched = match self.get(reg, &url, self.auth_headers(true)).await {
                Ok(resp) if resp.status() == StatusCode::OK => {
                    Self::read_body(resp, MAX_CONFIG_BYTES).await
                }
                Ok(resp) => Err(UpstreamError::Status {
                    status: resp.status(),
                }),
                Err(e) => Err(e),
            };
            match fetched
                .and_then(|b| String::from_utf8(b).map_err(UpstreamError::ConfigNotUtf8))
                .and_then(|s| self.parse_config(reg, &s).map(|_| s))
            {
                Ok(body) => {
                    let now = berth.clock.now_unix();
                    berth
                        .meta
                        .proxy_index_put(
                            reg.id,
                            CONFIG_KEY,
                            &ProxyIndexRow::received(Some(body.clone()), now),
                        )
                        .await?;
                    Some(body)
                }
                Err(e) => {
                    tracing::warn!(registry = %reg.name, error = %e, "upstream config.json unavailable");
                    match stored.and_then(|r| r.body) {
                        Some(body) => Some(body),
                        None => {
                            return Err(UpstreamError::Config {
                                registry: reg.name.clone(),
                                why: Box::new(e),
                            }
                            .into())
                        }
                    }
                }
            }
        };
        let body = body.ok_or_else(|| {
            ServiceError::NotFound(format!(
                "registry `{}` is offline and has not cached its upstream's configuration",
                reg.name
            ))
        })?;
        let cfg = self.parse_config(reg, &body)?;
        if let Ok(mut guard) = self.upstream_config.write() {
            *guard = Some((cfg.clone(), berth.clock.instant()));
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_urls_follow_cargo_markers() {
        let ck = "ab".repeat(32);
        assert_eq!(
            dl_url("https://up.example/api/v1/crates", "Serde", "1.0.0", &ck),
            "https://up.example/api/v1/crates/Serde/1.0.0/download"
        );
        assert_eq!(
            dl_url(
                "https://up.example/{prefix}/{lowerprefix}/{crate}/{crate}-{version}.crate?sum={sha256-checksum}",
                "Serde",
                "1.0.0",
                &ck
            ),
            format!("https://up.example/Se/rd/se/rd/Serde/Serde-1.0.0.crate?sum={ck}")
        );
        assert_eq!(dl_prefix("a"), "1");
        assert_eq!(dl_prefix("ab"), "2");
        assert_eq!(dl_prefix("Abc"), "3/A");
    }
}
