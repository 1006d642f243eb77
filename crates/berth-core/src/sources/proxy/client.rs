//! How a proxy contacts its upstream: which hosts it may reach (its
//! upstream's and `upstream_allowed_hosts` at any address, others only at
//! public ones, never by plain HTTP when the upstream is HTTPS), the
//! token it sends and where, conditional requests for cached index files,
//! and one GET within the proxy's concurrency bound that follows redirects
//! by hand, within the permitted hosts.
//!
//! This module never reads a body (`body.rs` does), never carries the
//! token to another host, and never logs it.

use berth_store::ProxyIndexRow;
use reqwest::header::{
    HeaderMap, HeaderValue, AUTHORIZATION, IF_MODIFIED_SINCE, IF_NONE_MATCH, LOCATION,
};
use reqwest::StatusCode;

use super::error::UpstreamError;
use super::state::{count, Proxy};
use crate::config::registry::UpstreamHost;
use crate::sources::reach;
use crate::Registry;

/// Redirects followed within the upstream's hosts.
const MAX_REDIRECTS: usize = 5;

impl Proxy {
    pub(super) fn auth_headers(&self, send_token: bool) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let (true, Some(token)) = (send_token, &self.settings.token) {
            if let Ok(mut v) = HeaderValue::from_str(token) {
                v.set_sensitive(true);
                h.insert(AUTHORIZATION, v);
            }
        }
        h
    }

    /// Whether the proxy may contact `url`, never by plain HTTP when the
    /// upstream is HTTPS: the upstream's host or an allowed one (host and
    /// port), or any other host at a public address (an IP literal must be
    /// one; a name is resolved to its public addresses only, by
    /// `reach::PublicUnlessTrusted`). Another port of a trusted name is
    /// not another host's public service, so it is refused.
    pub(super) fn permitted(&self, url: &reqwest::Url) -> bool {
        let downgrade = self.settings.index_url.starts_with("https://") && url.scheme() != "https";
        if downgrade {
            return false;
        }
        if self.settings.hosts.iter().any(|h| h.matches(url)) {
            return true;
        }
        let Some(host) = url.host_str() else {
            return false;
        };
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<std::net::IpAddr>() {
            Ok(ip) => !reach::is_internal(ip),
            Err(_) => {
                let name = host.to_ascii_lowercase();
                !self.settings.hosts.iter().any(|h| h.host == name)
            }
        }
    }

    /// How a URL's host is named in messages (`host` or `host:port`).
    pub(super) fn host_of(url: &reqwest::Url) -> String {
        UpstreamHost::of(url).map_or_else(|| url.to_string(), |h| h.to_string())
    }

    /// The headers of a request for an index file: the token (it goes to
    /// the index host, as cargo sends it there), and the validators of a
    /// cached body, so that an unchanged file costs a 304.
    pub(super) fn index_request_headers(&self, stored: Option<&ProxyIndexRow>) -> HeaderMap {
        let mut headers = self.auth_headers(true);
        if let Some(row) = stored.filter(|r| r.body.is_some()) {
            if let Some(v) = row
                .etag
                .as_deref()
                .and_then(|e| HeaderValue::from_str(e).ok())
            {
                headers.insert(IF_NONE_MATCH, v);
            }
            if let Some(v) = row
                .last_modified
                .as_deref()
                .and_then(|e| HeaderValue::from_str(e).ok())
            {
                headers.insert(IF_MODIFIED_SINCE, v);
            }
        }
        headers
    }

    /// One GET to the upstream, within the proxy's concurrency bound.
    /// Redirects are followed only within the permitted hosts (the token
    /// is not carried to another host); nothing is ever asked of another
    /// host, so nothing another host says is ever read.
    pub(super) async fn get(
        &self,
        reg: &Registry,
        url: &str,
        mut headers: HeaderMap,
    ) -> Result<reqwest::Response, UpstreamError> {
        let mut url = reqwest::Url::parse(url).map_err(|source| UpstreamError::BadUrl {
            url: url.to_string(),
            source,
        })?;
        if !self.permitted(&url) {
            count("berth_proxy_upstream_errors_total", &reg.name);
            return Err(UpstreamError::NotPermitted {
                host: Self::host_of(&url),
            });
        }
        let _slot = self.upstream_slots.acquire().await?;
        for _ in 0..=MAX_REDIRECTS {
            count("berth_proxy_upstream_requests_total", &reg.name);
            let resp = self
                .client
                .get(url.clone())
                .headers(headers.clone())
                .send()
                .await
                .map_err(|source| {
                    count("berth_proxy_upstream_errors_total", &reg.name);
                    UpstreamError::Unreachable { source }
                })?;
            let status = resp.status();
            let redirect = matches!(
                status,
                StatusCode::MOVED_PERMANENTLY
                    | StatusCode::FOUND
                    | StatusCode::SEE_OTHER
                    | StatusCode::TEMPORARY_REDIRECT
                    | StatusCode::PERMANENT_REDIRECT
            );
            if !redirect {
                return Ok(resp);
            }
            let next = resp
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| url.join(l).ok());
            drop(resp);
            let Some(next) = next else {
                count("berth_proxy_upstream_errors_total", &reg.name);
                return Err(UpstreamError::RedirectWithoutLocation { status });
            };
            if !self.permitted(&next) {
                count("berth_proxy_upstream_errors_total", &reg.name);
                tracing::warn!(
                    registry = %reg.name, to = %Self::host_of(&next),
                    "upstream redirect off its host refused"
                );
                return Err(UpstreamError::RedirectNotPermitted {
                    host: Self::host_of(&next),
                });
            }
            if Self::host_of(&next) != Self::host_of(&url) {
                headers.remove(AUTHORIZATION);
            }
            url = next;
        }
        count("berth_proxy_upstream_errors_total", &reg.name);
        Err(UpstreamError::TooManyRedirects { max: MAX_REDIRECTS })
    }
}
