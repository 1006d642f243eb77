//! `berth config check`: a configuration checked as a start would check it
//! (without opening the database or reaching any network), and the effective
//! configuration printed with its secrets masked.
//!
//! Also keeps `docs/berth.example.toml` in step with the configuration
//! structs (see the tests). Never opens stores or sockets.

use crate::config::file::Config;
use crate::config::values::ConfigError;

/// What a masked secret reads as.
pub const MASK: &str = "********";

impl Config {
    /// Checks what a start checks beyond [`Config::finish`] without touching
    /// the network: that an S3 blob store has credentials to use.
    pub fn check_storage(&self) -> Result<(), ConfigError> {
        if self.storage.url.starts_with("s3://") {
            berth_store::BlobStore::open_with(&self.storage.url, &self.storage.s3_credentials())
                .map_err(|e| ConfigError(format!("storage: {e}")))?;
        }
        Ok(())
    }

    /// The configuration with every secret masked: passwords in URLs, the
    /// S3 secret key, the metrics token. For printing and logging.
    pub fn masked(&self) -> Config {
        let mut c = self.clone();
        c.database.url = berth_store::redact(&c.database.url);
        if c.storage
            .secret_access_key
            .as_ref()
            .is_some_and(|s| !s.is_empty())
        {
            c.storage.secret_access_key = Some(MASK.into());
        }
        if !c.metrics.token.is_empty() {
            c.metrics.token = MASK.into();
        }
        for r in &mut c.registries {
            r.mask();
        }
        c
    }

    /// [`Config::masked`] as TOML.
    pub fn masked_toml(&self) -> Result<String, ConfigError> {
        toml::to_string_pretty(&self.masked())
            .map_err(|e| ConfigError(format!("rendering the configuration: {e}")))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::registry::{KindSettings, ProxyConfig, RegistryConfig, VirtualConfig};

    fn example_path() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/berth.example.toml")
    }

    /// Every dotted key of a TOML value; the entries of an array of tables
    /// are merged under `key[]`.
    pub(crate) fn keys(
        prefix: &str,
        v: &toml::Value,
        out: &mut std::collections::BTreeSet<String>,
    ) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    match v {
                        toml::Value::Table(_) => keys(&key, v, out),
                        toml::Value::Array(items)
                            if items.first().is_some_and(toml::Value::is_table) =>
                        {
                            for item in items {
                                keys(&format!("{key}[]"), item, out);
                            }
                        }
                        _ => {
                            out.insert(key);
                        }
                    }
                }
            }
            _ => {
                out.insert(prefix.to_string());
            }
        }
    }

    /// A configuration with every optional setting present, so that
    /// serializing it shows every key the structs know.
    fn every_key() -> Config {
        let mut c = Config::default();
        c.publish.allowed_registries = Some(Vec::new());
        c.storage.access_key_id = Some("k".into());
        c.storage.secret_access_key = Some("s".into());
        c.advisories.source = Some(crate::config::AdvisorySource::Path(
            "/srv/advisory-db".into(),
        ));
        c.transparency.key_file = Some("/etc/berth/transparency.key".into());
        c.transparency.key = Some("PRIVATE+KEY+...".into());
        c.downloads.base_url = Some("https://cdn.example.internal".into());
        c.docs.public_registry = Some("public".into());
        c.docs.token_env = Some("DOCS_BUILD_TOKEN".into());
        c.docs.registry_budget_mib = [("main".to_string(), 10240)].into();
        // Struct literals, as below.
        c.auth.oidc = Some(crate::config::OidcConfig {
            issuer: "https://i".into(),
            client_id: "berth".into(),
            client_secret_env: "S".into(),
            scopes: vec!["openid".into()],
            login_claim: "preferred_username".into(),
            groups_claim: "groups".into(),
            admin_groups: vec!["a".into()],
            teams: [("platform-eng".to_string(), "platform".to_string())].into(),
            link_existing_users: false,
            label: "SSO".into(),
        });
        c.auth.ldap = Some(crate::config::LdapConfig {
            url: "ldaps://d".into(),
            starttls: true,
            ca_file: Some("/etc/ssl/ca.pem".into()),
            bind_dn: "cn=r".into(),
            bind_password_env: "P".into(),
            user_base: "ou=p".into(),
            user_filter: "(uid={login})".into(),
            login_attribute: "uid".into(),
            group_base: Some("ou=g".into()),
            group_filter: "(member={dn})".into(),
            group_attribute: "cn".into(),
            admin_groups: vec!["a".into()],
            teams: [("platform-eng".to_string(), "platform".to_string())].into(),
            link_existing_users: false,
            timeout_secs: 5,
        });
        // A struct literal: a new field fails to compile here until it is
        // given a value, and then the example must show it.
        let mut proxy = RegistryConfig::new(
            "all",
            KindSettings::Proxy(ProxyConfig {
                upstream: Some("u".into()),
                upstream_aliases: vec!["a".into()],
                upstream_token_env: Some("T".into()),
                index_ttl_secs: Some(1),
                offline: true,
                cache_max_bytes: Some(1),
                upstream_allowed_hosts: vec!["h".into()],
                connect_timeout_secs: Some(1),
                upstream_timeout_secs: Some(1),
            }),
        );
        proxy.private = Some(true);
        proxy.allowed_cidrs = vec!["10.0.0.0/8".parse().unwrap()];
        proxy.policy = berth_policy::PolicyConfig {
            block_advisories: true,
            block_informational: vec!["unsound".into()],
            min_age: Some("72h".into()),
            min_age_unknown: berth_policy::MinAgeUnknown::Allow,
            licenses: Some(vec!["MIT".into()]),
            deny: vec!["evil".into()],
            approved_only: true,
        };
        let every_virtual = RegistryConfig::new(
            "virt",
            KindSettings::Virtual(VirtualConfig {
                members: vec!["m".into()],
                claims: vec!["c".into()],
                publish_to: Some("p".into()),
                allow_upstream_names: vec!["n".into()],
            }),
        );
        let every_replica = RegistryConfig::new(
            "copy",
            KindSettings::Replica(crate::config::registry::ReplicaConfig {
                primary: Some("https://primary.example/r/main/".into()),
                primary_token_env: Some("T".into()),
                max_lag_secs: Some(30),
                primary_log_keys: vec!["k".into()],
            }),
        );
        let every_hosted = RegistryConfig::new(
            "prod",
            KindSettings::Hosted(crate::sources::settings::HostedConfig {
                accept: crate::sources::settings::Accept::PromotionOnly,
            }),
        );
        let every_toolchains = RegistryConfig::new(
            "rust",
            KindSettings::Toolchains(crate::sources::settings::ToolchainsConfig {
                upstream: Some("https://dist.example.internal".into()),
                offline: true,
                channels: vec!["stable".into()],
                pin: [("stable".to_string(), "2026-11-01".to_string())].into(),
                manifest_ttl_secs: Some(1),
                connect_timeout_secs: Some(1),
                upstream_timeout_secs: Some(1),
            }),
        );
        c.registries = vec![
            every_hosted,
            proxy,
            every_virtual,
            every_replica,
            every_toolchains,
        ];
        c
    }

    #[test]
    fn the_example_file_shows_every_key_and_is_valid() {
        let text = std::fs::read_to_string(example_path()).unwrap();
        // `#? key = value` shows a setting left out by default.
        let every: String = text
            .lines()
            .map(|l| l.strip_prefix("#? ").unwrap_or(l))
            .map(|l| format!("{l}\n"))
            .collect();
        let mut known = std::collections::BTreeSet::new();
        keys("", &toml::Value::try_from(every_key()).unwrap(), &mut known);
        let mut shown = std::collections::BTreeSet::new();
        keys("", &every.parse::<toml::Value>().unwrap(), &mut shown);
        let missing: Vec<_> = known.difference(&shown).collect();
        assert!(
            missing.is_empty(),
            "docs/berth.example.toml lacks {missing:?}"
        );
        let unknown: Vec<_> = shown.difference(&known).collect();
        assert!(
            unknown.is_empty(),
            "docs/berth.example.toml has unknown {unknown:?}"
        );
        // As it is, the file is a valid configuration; with every optional
        // line, each value has its key's type.
        let config = Config::load_file_only(&example_path()).unwrap();
        config.check_storage().unwrap();
        let _: Config = toml::from_str(&every).unwrap();
    }

    #[test]
    fn secrets_are_masked() {
        let mut c = every_key();
        c.database.url = "postgres://berth:hunter2@db.internal/berth".into();
        c.storage.secret_access_key = Some("s3cr3t-key".into());
        c.metrics.token = "m3trics".into();
        if let KindSettings::Proxy(p) = &mut c.registries[0].settings {
            p.upstream = Some("sparse+https://u:tok3n@up.internal/index/".into());
        }
        let text = c.masked_toml().unwrap();
        for secret in ["hunter2", "s3cr3t-key", "tok3n", "m3trics"] {
            assert!(!text.contains(secret), "{secret} in:\n{text}");
        }
        assert!(text.contains(MASK), "{text}");
        assert!(text.contains("access_key_id = \"k\""), "{text}");
    }
}
