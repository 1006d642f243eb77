//! The `[[registries]]` entries of the configuration: what each registry is
//! and its kind's settings, checked once at start. Only reads and checks
//! configuration; never opens stores or sockets.

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;
pub use berth_store::RegistryKind;

/// One `[[registries]]` entry. Settings of other kinds than the entry's
/// are refused, so a misplaced key never goes unnoticed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    pub name: String,
    #[serde(default = "hosted")]
    pub kind: RegistryKind,
    /// A private registry refuses every request without a valid token
    /// (unset: public; a virtual registry with a private member must say
    /// which it is, see [`check_registry_set`]). Read it with
    /// [`RegistryConfig::is_private`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private: Option<bool>,
    /// Client addresses (CIDR ranges) that may reach this registry at all:
    /// its index, downloads and API, and its management API routes. Others
    /// are answered 403. Empty (the default): every address. A virtual
    /// registry is reachable only from addresses that its own list and
    /// every member's list allow.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_cidrs: Vec<String>,

    /// proxy: the upstream's sparse index URL (`sparse+https://.../`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// proxy: other identifiers cargo uses for the upstream in a
    /// dependency's `registry` field (for the public registry, its
    /// historical git index URL rather than its sparse URL).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upstream_aliases: Vec<String>,
    /// proxy: the name of an environment variable holding a token for the
    /// upstream (for proxying a private registry). Never logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_token_env: Option<String>,
    /// proxy: seconds an index file is trusted before it is revalidated
    /// with the upstream (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_ttl_secs: Option<u64>,
    /// proxy: serve only what is cached; never contact the upstream.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub offline: bool,
    /// proxy: most bytes of cached `.crate` files; the least recently used
    /// are evicted beyond it (default: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_max_bytes: Option<u64>,
    /// proxy: other hosts (`host` or `host:port`) the proxy may fetch
    /// from at any address, as it does from the upstream's host: a `dl`
    /// host or redirect target inside the network. Any other host an
    /// upstream names is contacted only at public addresses (no loopback,
    /// private, link-local or reserved ones). Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upstream_allowed_hosts: Vec<String>,
    /// proxy: seconds to connect to the upstream (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout_secs: Option<u64>,
    /// proxy: seconds an upstream request may take, body included
    /// (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_timeout_secs: Option<u64>,

    /// virtual: the member registries, in order. A name belongs to the
    /// first hosted member that has it, else the first proxy that has it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    /// virtual: name patterns (`acme-*`, folded like crate names) only ever
    /// served from hosted members.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<String>,
    /// virtual: the hosted member that publishes through this registry go
    /// to (default: the first hosted member).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_to: Option<String>,
    /// virtual: names that may be published privately although a proxy
    /// member's upstream has them (refused by default).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_upstream_names: Vec<String>,
}

fn hosted() -> RegistryKind {
    RegistryKind::Hosted
}

/// A proxy's settings, resolved with their defaults.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// The upstream index URL without `sparse+`, ending in `/`.
    pub index_url: String,
    /// Every identifier of the upstream cargo may send (its sparse URL with
    /// and without `sparse+`, and the configured aliases).
    pub identifiers: Vec<String>,
    pub token: Option<String>,
    pub index_ttl_secs: u64,
    pub offline: bool,
    pub cache_max_bytes: Option<u64>,
    pub connect_timeout_secs: u64,
    pub upstream_timeout_secs: u64,
    /// The hosts the proxy may contact: the upstream's own (first) and the
    /// configured `upstream_allowed_hosts`.
    pub hosts: Vec<UpstreamHost>,
}

/// A host a proxy may contact: a name (or address) and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamHost {
    pub host: String,
    /// `None`: the scheme's default port (80 or 443).
    pub port: Option<u16>,
}

impl UpstreamHost {
    /// The host of a URL (`None` without one).
    pub fn of(url: &reqwest::Url) -> Option<Self> {
        Some(Self {
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port(),
        })
    }

    /// Parses `host` or `host:port` (an IPv6 address in brackets).
    fn parse(entry: &str) -> Option<Self> {
        if entry.is_empty() || entry.contains(['/', '@', '?', '#']) {
            return None;
        }
        let url = reqwest::Url::parse(&format!("http://{entry}/")).ok()?;
        let host = Self::of(&url)?;
        // The URL forgets a port that is its scheme's default.
        let port = if entry.ends_with(":80") {
            Some(80)
        } else {
            host.port
        };
        Some(Self { port, ..host })
    }

    /// Whether `url` is on this host and port.
    pub fn matches(&self, url: &reqwest::Url) -> bool {
        let port_ok = match self.port {
            Some(p) => url.port_or_known_default() == Some(p),
            None => url.port().is_none(),
        };
        port_ok
            && url
                .host_str()
                .is_some_and(|h| h.eq_ignore_ascii_case(&self.host))
    }
}

impl std::fmt::Display for UpstreamHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}:{p}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

impl RegistryConfig {
    /// A hosted registry with default settings.
    pub fn hosted(name: &str) -> Self {
        Self {
            name: name.into(),
            kind: RegistryKind::Hosted,
            private: None,
            allowed_cidrs: Vec::new(),
            upstream: None,
            upstream_aliases: Vec::new(),
            upstream_token_env: None,
            index_ttl_secs: None,
            offline: false,
            cache_max_bytes: None,
            upstream_allowed_hosts: Vec::new(),
            connect_timeout_secs: None,
            upstream_timeout_secs: None,
            members: Vec::new(),
            claims: Vec::new(),
            publish_to: None,
            allow_upstream_names: Vec::new(),
        }
    }

    /// Whether the registry is private (needs a token for everything).
    pub fn is_private(&self) -> bool {
        self.private.unwrap_or(false)
    }

    /// Checks the entry: a valid name, and exactly its kind's settings.
    pub fn check(&self) -> Result<(), ConfigError> {
        let ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(ConfigError(format!(
                "registry name `{}` must be 1-64 ASCII letters, digits, `-` or `_`",
                self.name
            )));
        }
        self.allowed_networks()?;
        let proxy_keys = [
            ("upstream", self.upstream.is_some()),
            ("upstream_aliases", !self.upstream_aliases.is_empty()),
            ("upstream_token_env", self.upstream_token_env.is_some()),
            ("index_ttl_secs", self.index_ttl_secs.is_some()),
            ("offline", self.offline),
            ("cache_max_bytes", self.cache_max_bytes.is_some()),
            (
                "upstream_allowed_hosts",
                !self.upstream_allowed_hosts.is_empty(),
            ),
            ("connect_timeout_secs", self.connect_timeout_secs.is_some()),
            (
                "upstream_timeout_secs",
                self.upstream_timeout_secs.is_some(),
            ),
        ];
        let virtual_keys = [
            ("members", !self.members.is_empty()),
            ("claims", !self.claims.is_empty()),
            ("publish_to", self.publish_to.is_some()),
            (
                "allow_upstream_names",
                !self.allow_upstream_names.is_empty(),
            ),
        ];
        for (kind, keys) in [
            (RegistryKind::Proxy, &proxy_keys[..]),
            (RegistryKind::Virtual, &virtual_keys[..]),
        ] {
            if self.kind != kind {
                if let Some((key, _)) = keys.iter().find(|(_, set)| *set) {
                    return Err(ConfigError(format!(
                        "registry `{}`: `{key}` is a setting of {kind} registries, and this one is `{}`",
                        self.name, self.kind
                    )));
                }
            }
        }
        for pattern in &self.claims {
            let stem = pattern.strip_suffix('*').unwrap_or(pattern);
            if stem.is_empty()
                || stem.contains('*')
                || berth_protocol::validate_crate_name(&format!(
                    "{}x",
                    stem.trim_end_matches(['-', '_'])
                ))
                .is_err()
            {
                return Err(ConfigError(format!(
                    "registry `{}`: claim `{pattern}` must be a crate name or a prefix ending in `*`",
                    self.name
                )));
            }
        }
        match self.kind {
            RegistryKind::Proxy => self.proxy_settings().map(|_| ()),
            RegistryKind::Virtual if self.members.is_empty() => Err(ConfigError(format!(
                "virtual registry `{}` needs `members`, the registries it serves, in order",
                self.name
            ))),
            _ => Ok(()),
        }
    }

    /// [`RegistryConfig::allowed_cidrs`], parsed.
    pub fn allowed_networks(&self) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        crate::config::parse_networks(
            &format!("registry `{}`: allowed_cidrs", self.name),
            &self.allowed_cidrs,
        )
    }

    /// A proxy's resolved settings (reads the token's variable).
    pub fn proxy_settings(&self) -> Result<ProxySettings, ConfigError> {
        let name = &self.name;
        let upstream = self.upstream.as_deref().ok_or_else(|| {
            ConfigError(format!(
                "proxy registry `{name}` needs `upstream`, the upstream's sparse index URL \
                 (sparse+https://HOST/PATH/)"
            ))
        })?;
        let index_url = upstream.strip_prefix("sparse+").unwrap_or_default();
        if !(index_url.starts_with("http://") || index_url.starts_with("https://")) {
            return Err(ConfigError(format!(
                "proxy registry `{name}`: upstream `{upstream}` must be a sparse index URL, \
                 sparse+http:// or sparse+https://"
            )));
        }
        let index_url = format!("{}/", index_url.trim_end_matches('/'));
        let own = reqwest::Url::parse(&index_url)
            .ok()
            .as_ref()
            .and_then(UpstreamHost::of)
            .ok_or_else(|| {
                ConfigError(format!(
                    "proxy registry `{name}`: upstream `{upstream}` is not a URL with a host"
                ))
            })?;
        let mut hosts = vec![own];
        for entry in &self.upstream_allowed_hosts {
            hosts.push(UpstreamHost::parse(entry).ok_or_else(|| {
                ConfigError(format!(
                    "proxy registry `{name}`: upstream_allowed_hosts entry `{entry}` must be \
                     a host name or address, optionally with `:port` (no scheme, no path)"
                ))
            })?);
        }
        let token = match &self.upstream_token_env {
            None => None,
            Some(var) => Some(std::env::var(var).map_err(|_| {
                ConfigError(format!(
                    "proxy registry `{name}`: upstream_token_env names `{var}`, which is not set"
                ))
            })?),
        };
        let ttl = self.index_ttl_secs.unwrap_or(300);
        let connect = self.connect_timeout_secs.unwrap_or(5);
        let timeout = self.upstream_timeout_secs.unwrap_or(30);
        for (key, value, max) in [
            ("index_ttl_secs", ttl, 30 * 86_400),
            ("connect_timeout_secs", connect, 600),
            ("upstream_timeout_secs", timeout, 3600),
        ] {
            if value > max || (value == 0 && key != "index_ttl_secs") {
                return Err(ConfigError(format!(
                    "proxy registry `{name}`: {key} = {value} is out of range"
                )));
            }
        }
        let mut identifiers = vec![format!("sparse+{index_url}"), index_url.clone()];
        identifiers.extend(self.upstream_aliases.iter().cloned());
        Ok(ProxySettings {
            index_url,
            identifiers,
            token,
            index_ttl_secs: ttl,
            offline: self.offline,
            cache_max_bytes: self.cache_max_bytes,
            connect_timeout_secs: connect,
            upstream_timeout_secs: timeout,
            hosts,
        })
    }
}

/// Whether a crate name matches a claim pattern (`acme-*` or an exact
/// name), folding case and `-`/`_` like crate names.
pub fn claim_matches(pattern: &str, name: &str) -> bool {
    let name = berth_protocol::canonical_name(name);
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(&berth_protocol::canonical_name(prefix)),
        None => name == berth_protocol::canonical_name(pattern),
    }
}

/// Checks what one registry says about the others: a virtual registry's
/// members exist, are not virtual, and its `publish_to` is a hosted member;
/// a virtual registry over a private member says whether it is private
/// itself (it is the private member's face to its users: left unset, it
/// would be public by default, and that is refused).
pub fn check_registry_set(registries: &[RegistryConfig]) -> Result<(), ConfigError> {
    let kind_of = |name: &str| registries.iter().find(|r| r.name == name).map(|r| r.kind);
    let private = |name: &str| registries.iter().any(|r| r.name == name && r.is_private());
    for r in registries
        .iter()
        .filter(|r| r.kind == RegistryKind::Virtual)
    {
        for m in &r.members {
            match kind_of(m) {
                None => {
                    return Err(ConfigError(format!(
                        "virtual registry `{}`: member `{m}` is not a registry of this server",
                        r.name
                    )))
                }
                Some(RegistryKind::Virtual) => {
                    return Err(ConfigError(format!(
                        "virtual registry `{}`: member `{m}` is itself virtual; list its members instead",
                        r.name
                    )))
                }
                Some(_) => {}
            }
        }
        if r.private.is_none() {
            if let Some(m) = r.members.iter().find(|m| private(m)) {
                return Err(ConfigError(format!(
                    "virtual registry `{name}` does not say whether it is private, and its member \
                     `{m}` is private. Set `private = true` on `{name}` (the usual choice: every \
                     request needs a token, and each user is served only the members they may \
                     read), or `private = false` to keep it public on purpose (anonymous users and \
                     users without a role in `{m}` are then served only the other members' crates)",
                    name = r.name
                )));
            }
        }
        if let Some(target) = &r.publish_to {
            if !r.members.contains(target) || kind_of(target) != Some(RegistryKind::Hosted) {
                return Err(ConfigError(format!(
                    "virtual registry `{}`: publish_to `{target}` must be one of its hosted members",
                    r.name
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_fold_like_crate_names() {
        assert!(claim_matches("acme-*", "acme-core"));
        assert!(claim_matches("acme-*", "Acme_Core"));
        assert!(claim_matches("acme_*", "acme-new"));
        assert!(!claim_matches("acme-*", "acmecore"));
        assert!(claim_matches("exact", "EXACT"));
        assert!(!claim_matches("exact", "exactly"));
    }

    #[test]
    fn a_virtual_registry_over_a_private_member_says_whether_it_is_private() {
        let mut vault = RegistryConfig::hosted("vault");
        vault.private = Some(true);
        let mut company = RegistryConfig::hosted("company");
        company.kind = RegistryKind::Virtual;
        company.members = vec!["main".into(), "vault".into()];
        let set = |company: &RegistryConfig| {
            check_registry_set(&[
                RegistryConfig::hosted("main"),
                vault.clone(),
                company.clone(),
            ])
        };
        let err = set(&company).unwrap_err().to_string();
        assert!(
            err.contains(
                "virtual registry `company` does not say whether it is private, and its \
                 member `vault` is private"
            ),
            "{err}"
        );
        for said in [true, false] {
            company.private = Some(said);
            assert!(set(&company).is_ok());
        }
        // Over public members only, unsaid is public.
        company.private = None;
        company.members = vec!["main".into()];
        assert!(set(&company).is_ok());
        assert!(!company.is_private());
    }

    #[test]
    fn a_proxy_contacts_its_upstream_host_and_the_allowed_ones_only() {
        let mut r = RegistryConfig::hosted("up");
        r.kind = RegistryKind::Proxy;
        r.upstream = Some("sparse+https://index.up.internal/".into());
        r.upstream_allowed_hosts = vec!["dl.up.internal".into(), "127.0.0.2:8080".into()];
        let hosts = r.proxy_settings().unwrap().hosts;
        let ok = |u: &str| {
            let url = reqwest::Url::parse(u).unwrap();
            hosts.iter().any(|h| h.matches(&url))
        };
        assert!(ok("https://index.up.internal/ab/cd/abcd"));
        assert!(ok("https://INDEX.up.internal:443/x"));
        assert!(ok("https://dl.up.internal/crates/x"));
        assert!(ok("http://127.0.0.2:8080/dl"));
        assert!(!ok("https://index.up.internal:8443/x"), "another port");
        assert!(!ok("https://evil.internal/x"));
        assert!(!ok("https://up.internal/x"));
        assert!(!ok("http://127.0.0.2/dl"), "another port");
        assert!(!ok("https://dl.up.internal.evil/x"));
        for bad in ["https://dl.up.internal", "dl/x", "", "u@dl"] {
            r.upstream_allowed_hosts = vec![bad.into()];
            let e = r.proxy_settings().unwrap_err().to_string();
            assert!(e.contains("upstream_allowed_hosts"), "{bad}: {e}");
        }
    }

    #[test]
    fn allowed_cidrs_are_ranges_or_addresses() {
        let mut r = RegistryConfig::hosted("corp");
        r.allowed_cidrs = vec!["10.1.2.3/8".into(), "192.0.2.7".into(), "fd00::/8".into()];
        let nets: Vec<String> = r
            .allowed_networks()
            .unwrap()
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(nets, ["10.0.0.0/8", "192.0.2.7/32", "fd00::/8"]);
        r.allowed_cidrs = vec!["10.0.0.0/33".into()];
        assert_eq!(
            r.check().unwrap_err().to_string(),
            "configuration error: registry `corp`: allowed_cidrs: `10.0.0.0/33` is not an address \
             or a CIDR range (such as 10.0.0.5/32 or fd00::/64)"
        );
    }
}
