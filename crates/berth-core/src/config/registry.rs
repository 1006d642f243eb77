//! The `[[registries]]` entries of the configuration: what each registry is
//! and its kind's settings, checked once at start. Only reads and checks
//! configuration; never opens stores or sockets.

use std::collections::HashMap;

use berth_policy::{Policy, PolicyConfig};
use ipnet::IpNet;

use crate::config::values::ConfigError;
pub use crate::sources::settings::{KindSettings, ProxyConfig, ReplicaConfig, VirtualConfig};
pub use berth_store::RegistryKind;

/// One `[[registries]]` entry: what every registry has (a name, whether it
/// is private, who may reach it) and its kind with that kind's own
/// settings. Read and written with the same keys as the file (see
/// `registry_entry`); a setting of another kind than the entry's is
/// refused by [`RegistryConfig::check`], so a misplaced key never goes
/// unnoticed.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryConfig {
    pub name: String,
    /// A private registry refuses every request without a valid token
    /// (unset: public; a virtual registry with a private member must say
    /// which it is, see [`check_registry_set`]). Read it with
    /// [`RegistryConfig::is_private`].
    pub private: Option<bool>,
    /// Client addresses (CIDR ranges) that may reach this registry at all:
    /// its index, downloads and API, and its management API routes. Others
    /// are answered 403. Empty (the default): every address. A virtual
    /// registry is reachable only from addresses that its own list and
    /// every member's list allow.
    pub allowed_cidrs: Vec<IpNet>,
    /// The kind (`kind`, hosted by default) and its own settings.
    pub settings: KindSettings,
    /// The supply-chain policy (`[registries.policy]`), as written; checked
    /// by [`RegistryConfig::check`], applied as [`RegistryConfig::checked_policy`].
    pub policy: PolicyConfig,
    /// The first setting of another kind the entry gave, with that kind.
    pub(crate) misplaced: Option<(&'static str, RegistryKind)>,
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
    /// A registry of the kind `settings` says, with default common settings.
    pub fn new(name: &str, settings: KindSettings) -> Self {
        Self {
            name: name.into(),
            private: None,
            allowed_cidrs: Vec::new(),
            settings,
            policy: PolicyConfig::default(),
            misplaced: None,
        }
    }

    /// A hosted registry with default settings.
    pub fn hosted(name: &str) -> Self {
        Self::new(name, KindSettings::Hosted(Default::default()))
    }

    /// The registry's kind.
    pub fn kind(&self) -> RegistryKind {
        self.settings.kind()
    }

    /// Whether the registry is private (needs a token for everything).
    pub fn is_private(&self) -> bool {
        self.private.unwrap_or(false)
    }

    /// Checks the entry: a valid name, and exactly its kind's settings.
    pub fn check(&self) -> Result<(), ConfigError> {
        check_name(&self.name)?;
        if let Some((key, kind)) = self.misplaced {
            return Err(ConfigError(format!(
                "registry `{}`: `{key}` is a setting of {kind} registries, and this one is `{}`",
                self.name,
                self.kind()
            )));
        }
        self.checked_policy()?;
        self.settings.check(&self.name)
    }

    /// The policy in force: `[registries.policy]` checked.
    pub fn checked_policy(&self) -> Result<Policy, ConfigError> {
        Policy::from_config(&self.policy)
            .map_err(|e| ConfigError(format!("registry `{}`: {e}", self.name)))
    }

    /// Masks the secrets of the entry's settings, for printing.
    pub(crate) fn mask(&mut self) {
        self.settings.mask();
    }
}

/// Checks a registry's name: 1-64 ASCII letters, digits, `-` or `_`.
pub(crate) fn check_name(name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        return Err(ConfigError(format!(
            "registry name `{name}` must be 1-64 ASCII letters, digits, `-` or `_`"
        )));
    }
    Ok(())
}

impl ProxyConfig {
    /// The resolved settings of proxy registry `name` (reads the token's
    /// variable).
    pub fn resolve(&self, name: &str) -> Result<ProxySettings, ConfigError> {
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

/// Checks what each registry says about the others: the registries a
/// virtual registry serves (its members) exist and serve no others
/// themselves, its `publish_to` is a member that holds publishes, and over
/// a private member it says whether it is private itself (it is the
/// private member's face to its users: left unset, it would be public by
/// default, and that is refused).
pub fn check_registry_set(registries: &[RegistryConfig]) -> Result<(), ConfigError> {
    let find = |name: &str| registries.iter().find(|r| r.name == name);
    for r in registries {
        let members = r.settings.serves_from();
        if members.is_empty() {
            continue;
        }
        for m in members {
            match find(m) {
                None => {
                    return Err(ConfigError(format!(
                        "virtual registry `{}`: member `{m}` is not a registry of this server",
                        r.name
                    )))
                }
                Some(member) if !member.settings.serves_from().is_empty() => {
                    return Err(ConfigError(format!(
                        "virtual registry `{}`: member `{m}` is itself virtual; list its members instead",
                        r.name
                    )))
                }
                Some(member) if member.settings.kind() == crate::RegistryKind::Toolchains => {
                    return Err(ConfigError(format!(
                        "virtual registry `{}`: member `{m}` is a toolchains registry: it serves \
                         rustup's distribution at /t/{m}, not crates",
                        r.name
                    )))
                }
                Some(_) => {}
            }
        }
        if r.private.is_none() {
            if let Some(m) = members
                .iter()
                .find(|m| find(m).is_some_and(|m| m.is_private()))
            {
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
        if let Some(target) = r.settings.publish_to() {
            let holds = find(target).is_some_and(|t| t.settings.holds_publishes());
            if !members.contains(target) || !holds {
                return Err(ConfigError(format!(
                    "virtual registry `{}`: publish_to `{target}` must be one of its hosted members",
                    r.name
                )));
            }
        }
    }
    Ok(())
}

/// The address lists a caller must pass to reach one registry, each with
/// the registry whose `allowed_cidrs` it is.
pub type ReachList = Vec<(String, Vec<IpNet>)>;

/// The address lists a caller must pass to reach each registry, by name:
/// its own `allowed_cidrs` and, for a kind that serves other registries'
/// crates, each of theirs (it is no way around theirs), as `(whose, list)`.
/// Registries that every address may reach are left out.
pub fn reach_lists(registries: &[RegistryConfig]) -> HashMap<String, ReachList> {
    let own: HashMap<&str, &Vec<IpNet>> = registries
        .iter()
        .map(|r| (r.name.as_str(), &r.allowed_cidrs))
        .collect();
    let mut lists = HashMap::new();
    for r in registries {
        let needed: ReachList = std::iter::once(&r.name)
            .chain(r.settings.serves_from())
            .filter_map(|n| Some((n.clone(), (*own.get(n.as_str())?).clone())))
            .filter(|(_, nets)| !nets.is_empty())
            .collect();
        if !needed.is_empty() {
            lists.insert(r.name.clone(), needed);
        }
    }
    lists
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
    fn a_toolchains_registry_is_no_virtual_registrys_member() {
        let rust = RegistryConfig::new(
            "rust",
            KindSettings::Toolchains(
                serde_json::from_value(serde_json::json!({
                    "upstream": "http://127.0.0.1:9"
                }))
                .unwrap(),
            ),
        );
        let company = RegistryConfig::new(
            "company",
            KindSettings::Virtual(VirtualConfig {
                members: vec!["main".into(), "rust".into()],
                ..VirtualConfig::default()
            }),
        );
        let err = check_registry_set(&[RegistryConfig::hosted("main"), rust, company])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("member `rust` is a toolchains registry"),
            "{err}"
        );
    }

    #[test]
    fn a_virtual_registry_over_a_private_member_says_whether_it_is_private() {
        let mut vault = RegistryConfig::hosted("vault");
        vault.private = Some(true);
        let virt = |members: &[&str]| {
            KindSettings::Virtual(VirtualConfig {
                members: members.iter().map(|m| m.to_string()).collect(),
                ..VirtualConfig::default()
            })
        };
        let mut company = RegistryConfig::new("company", virt(&["main", "vault"]));
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
        company.settings = virt(&["main"]);
        assert!(set(&company).is_ok());
        assert!(!company.is_private());
    }

    #[test]
    fn a_proxy_contacts_its_upstream_host_and_the_allowed_ones_only() {
        let mut r = ProxyConfig {
            upstream: Some("sparse+https://index.up.internal/".into()),
            upstream_allowed_hosts: vec!["dl.up.internal".into(), "127.0.0.2:8080".into()],
            ..ProxyConfig::default()
        };
        let hosts = r.resolve("up").unwrap().hosts;
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
            let e = r.resolve("up").unwrap_err().to_string();
            assert!(e.contains("upstream_allowed_hosts"), "{bad}: {e}");
        }
    }
}
