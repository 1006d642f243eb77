//! Each kind's own `[[registries]]` settings: [`KindSettings`], one variant
//! per kind, and what reading, checking and printing an entry asks of the
//! kind (its keys, one key's value, its checks against the other entries).
//!
//! A new kind adds a variant here with its settings struct (serde-derived,
//! `deny_unknown_fields`); the entry's reader in `config/registry_entry.rs` learns
//! its keys from serde. Only reads configuration; never opens anything.

use serde::de::{self, Deserializer, MapAccess};
use serde::{Deserialize, Serialize};

use crate::config::values::ConfigError;
use crate::RegistryKind;

/// A registry's kind with the settings only that kind has.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum KindSettings {
    /// Crates are published (or promoted) to it.
    Hosted(HostedConfig),
    Proxy(ProxyConfig),
    Virtual(VirtualConfig),
    Replica(ReplicaConfig),
    Toolchains(ToolchainsConfig),
}

impl KindSettings {
    /// The kind of an entry that does not say (`kind` left out).
    pub(crate) const DEFAULT_KIND: RegistryKind = RegistryKind::Hosted;

    /// Every kind, in the order their keys are listed.
    pub(crate) const KINDS: &'static [RegistryKind] = RegistryKind::ALL;

    pub fn kind(&self) -> RegistryKind {
        match self {
            KindSettings::Hosted(_) => RegistryKind::Hosted,
            KindSettings::Proxy(_) => RegistryKind::Proxy,
            KindSettings::Virtual(_) => RegistryKind::Virtual,
            KindSettings::Replica(_) => RegistryKind::Replica,
            KindSettings::Toolchains(_) => RegistryKind::Toolchains,
        }
    }

    /// The keys of `kind`'s own settings, as serde reads them, in order.
    pub(crate) fn keys_of(kind: RegistryKind) -> &'static [&'static str] {
        match kind {
            RegistryKind::Hosted => fields_of::<HostedConfig>(),
            RegistryKind::Proxy => fields_of::<ProxyConfig>(),
            RegistryKind::Virtual => fields_of::<VirtualConfig>(),
            RegistryKind::Replica => fields_of::<ReplicaConfig>(),
            RegistryKind::Toolchains => fields_of::<ToolchainsConfig>(),
        }
    }

    /// Reads the value of `kind`'s setting `key` from `value`, as a map of
    /// the non-default settings it gives (empty when the value is the
    /// default).
    pub(crate) fn read_key<'de, D: Deserializer<'de>>(
        kind: RegistryKind,
        key: &str,
        value: D,
    ) -> Result<serde_json::Map<String, serde_json::Value>, D::Error> {
        match kind {
            RegistryKind::Hosted => read_one::<HostedConfig, D>(key, value),
            RegistryKind::Proxy => read_one::<ProxyConfig, D>(key, value),
            RegistryKind::Virtual => read_one::<VirtualConfig, D>(key, value),
            RegistryKind::Replica => read_one::<ReplicaConfig, D>(key, value),
            RegistryKind::Toolchains => read_one::<ToolchainsConfig, D>(key, value),
        }
    }

    /// `kind`'s settings from the values [`KindSettings::read_key`] read.
    pub(crate) fn from_keys(
        kind: RegistryKind,
        keys: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, serde_json::Error> {
        let keys = serde_json::Value::Object(keys);
        Ok(match kind {
            RegistryKind::Hosted => KindSettings::Hosted(serde_json::from_value(keys)?),
            RegistryKind::Proxy => KindSettings::Proxy(serde_json::from_value(keys)?),
            RegistryKind::Virtual => KindSettings::Virtual(serde_json::from_value(keys)?),
            RegistryKind::Replica => KindSettings::Replica(serde_json::from_value(keys)?),
            RegistryKind::Toolchains => KindSettings::Toolchains(serde_json::from_value(keys)?),
        })
    }

    /// Checks the kind's own settings of registry `name`.
    pub(crate) fn check(&self, name: &str) -> Result<(), ConfigError> {
        match self {
            KindSettings::Hosted(_) => Ok(()),
            KindSettings::Proxy(p) => p.resolve(name).map(|_| ()),
            KindSettings::Virtual(v) => v.check(name),
            KindSettings::Replica(r) => r.resolve(name).map(|_| ()),
            KindSettings::Toolchains(t) => t.resolve(name).map(|_| ()),
        }
    }

    /// Whether crates are published to it (a virtual registry's
    /// `publish_to` must be such a member).
    pub(crate) fn holds_publishes(&self) -> bool {
        matches!(self, KindSettings::Hosted(_))
    }

    /// Where publishes through it go, when it forwards them.
    pub(crate) fn publish_to(&self) -> Option<&String> {
        match self {
            KindSettings::Virtual(v) => v.publish_to.as_ref(),
            KindSettings::Hosted(_)
            | KindSettings::Proxy(_)
            | KindSettings::Replica(_)
            | KindSettings::Toolchains(_) => None,
        }
    }

    /// The registries whose crates this kind serves besides its own (a
    /// virtual registry's members): whose address lists its callers must
    /// pass too.
    pub(crate) fn serves_from(&self) -> &[String] {
        match self {
            KindSettings::Virtual(v) => &v.members,
            KindSettings::Hosted(_)
            | KindSettings::Proxy(_)
            | KindSettings::Replica(_)
            | KindSettings::Toolchains(_) => &[],
        }
    }

    /// The environment variable the settings name as holding a secret
    /// that is unset or empty in this process (a replica's token for its
    /// primary), which `berth serve` needs.
    pub fn missing_secret(&self) -> Option<&str> {
        match self {
            KindSettings::Replica(r) => r
                .primary_token_env
                .as_deref()
                .filter(|var| std::env::var(var).map_or(true, |v| v.is_empty())),
            KindSettings::Hosted(_)
            | KindSettings::Proxy(_)
            | KindSettings::Virtual(_)
            | KindSettings::Toolchains(_) => None,
        }
    }

    /// Masks the secrets among the settings, for printing.
    pub(crate) fn mask(&mut self) {
        match self {
            KindSettings::Proxy(p) => {
                if let Some(u) = &p.upstream {
                    p.upstream = Some(berth_store::redact(u));
                }
            }
            KindSettings::Replica(r) => {
                if let Some(u) = &r.primary {
                    r.primary = Some(berth_store::redact(u));
                }
            }
            KindSettings::Toolchains(t) => {
                if let Some(u) = &t.upstream {
                    t.upstream = Some(berth_store::redact(u));
                }
            }
            KindSettings::Hosted(_) | KindSettings::Virtual(_) => {}
        }
    }
}

/// A hosted registry's own settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostedConfig {
    /// What it takes: publishes and promotions (`any`, the default), or
    /// only versions promoted from another registry (`promotion-only`).
    #[serde(skip_serializing_if = "Accept::is_any")]
    pub accept: Accept,
}

/// How versions may enter a hosted registry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Accept {
    /// Publishes and promotions.
    #[default]
    Any,
    /// Promotions only (`berth promote`): direct publishes are refused.
    PromotionOnly,
}

impl Accept {
    fn is_any(&self) -> bool {
        *self == Accept::Any
    }
}

/// A proxy registry's own settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    /// The upstream's sparse index URL (`sparse+https://.../`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// Other identifiers cargo uses for the upstream in a dependency's
    /// `registry` field (for the public registry, its historical git index
    /// URL rather than its sparse URL).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub upstream_aliases: Vec<String>,
    /// The name of an environment variable holding a token for the
    /// upstream (for proxying a private registry). Never logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_token_env: Option<String>,
    /// Seconds an index file is trusted before it is revalidated with the
    /// upstream (default 300).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index_ttl_secs: Option<u64>,
    /// Serve only what is cached; never contact the upstream.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub offline: bool,
    /// Most bytes of cached `.crate` files; the least recently used are
    /// evicted beyond it (default: no limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_max_bytes: Option<u64>,
    /// Other hosts (`host` or `host:port`) the proxy may fetch from at any
    /// address, as it does from the upstream's host: a `dl` host or
    /// redirect target inside the network. Any other host an upstream names
    /// is contacted only at public addresses (no loopback, private,
    /// link-local or reserved ones). Default: none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub upstream_allowed_hosts: Vec<String>,
    /// Seconds to connect to the upstream (default 5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_timeout_secs: Option<u64>,
    /// Seconds an upstream request may take, body included (default 30).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_timeout_secs: Option<u64>,
}

/// A virtual registry's own settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VirtualConfig {
    /// The member registries, in order. A name belongs to the first hosted
    /// member that has it, else the first proxy that has it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    /// Name patterns (`acme-*`, folded like crate names) only ever served
    /// from hosted members.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<String>,
    /// The hosted member that publishes through this registry go to
    /// (default: the first hosted member).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish_to: Option<String>,
    /// Names that may be published privately although a proxy member's
    /// upstream has them (refused by default).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow_upstream_names: Vec<String>,
}

/// A replica registry's own settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicaConfig {
    /// The primary: a hosted registry on another Berth, by its registry URL
    /// (`https://HOST/r/NAME/`); its change feed and index are read there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
    /// The name of an environment variable holding a token that may read
    /// the primary (a private primary). Never logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_token_env: Option<String>,
    /// The most seconds the replica may lag behind its primary for the
    /// node's `/ready` to answer 200 (default: lag never fails readiness).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_lag_secs: Option<u64>,
    /// Keys the primary's transparency log is signed with (its
    /// `/r/NAME/log/key`, Go's verifier-key text). When given, every copied
    /// version must be in the primary's log under a checkpoint one of them
    /// signed, and each checkpoint must extend the last one seen; when
    /// empty, copies are checked against the primary's index lines only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub primary_log_keys: Vec<String>,
}

/// A replica's settings, checked and with its token read.
#[derive(Clone)]
pub struct ReplicaSettings {
    /// The primary's registry URL, ending in `/`.
    pub primary: reqwest::Url,
    pub token: Option<String>,
    pub max_lag_secs: Option<u64>,
    /// The primary's log keys (`primary_log_keys`), read.
    pub log_keys: Vec<berth_log::VerifierKey>,
}

impl std::fmt::Debug for ReplicaSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicaSettings")
            .field("primary", &berth_store::redact(self.primary.as_str()))
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("max_lag_secs", &self.max_lag_secs)
            .field(
                "log_keys",
                &self.log_keys.iter().map(|k| k.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl ReplicaConfig {
    /// The checked settings of replica registry `name` (reads the token's
    /// variable).
    pub fn resolve(&self, name: &str) -> Result<ReplicaSettings, ConfigError> {
        let primary = self.primary.as_deref().ok_or_else(|| {
            ConfigError(format!(
                "replica registry `{name}` needs `primary`, the URL of the registry it copies                  on another Berth (https://HOST/r/NAME/)"
            ))
        })?;
        let bad = |why: &str| {
            ConfigError(format!(
                "replica registry `{name}`: primary `{}` {why}; expected https://HOST/r/NAME/",
                berth_store::redact(primary)
            ))
        };
        let url = reqwest::Url::parse(&format!("{}/", primary.trim_end_matches('/')))
            .map_err(|e| bad(&format!("is not a URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("must be http:// or https://"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("must have no query or fragment"));
        }
        if !url.path().contains("/r/") {
            return Err(bad("must name a registry (its path ends in /r/NAME/)"));
        }
        // Unset for commands other than `berth serve`, which refuses to
        // start without it (`KindSettings::missing_secret`).
        let token = self
            .primary_token_env
            .as_ref()
            .and_then(|var| std::env::var(var).ok())
            .filter(|t| !t.is_empty());
        if self.max_lag_secs == Some(0) {
            return Err(ConfigError(format!(
                "replica registry `{name}`: max_lag_secs must be at least 1"
            )));
        }
        let log_keys = self
            .primary_log_keys
            .iter()
            .map(|text| {
                berth_log::VerifierKey::parse(text.trim()).map_err(|e| {
                    ConfigError(format!(
                        "replica registry `{name}`: `{text}` in primary_log_keys is not a \
                         verifier key (the text the primary serves at /r/NAME/log/key): {e}"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ReplicaSettings {
            primary: url,
            token,
            max_lag_secs: self.max_lag_secs,
            log_keys,
        })
    }
}

pub use super::toolchains::ToolchainsConfig;

/// Reads one setting `key` of a `T`, from `value`, as the map of what it
/// sets. The value is read straight from the file's deserializer, so its
/// errors name the key (and any position inside it) as the file does.
pub(crate) fn read_one<'de, T, D>(
    key: &str,
    value: D,
) -> Result<serde_json::Map<String, serde_json::Value>, D::Error>
where
    T: Deserialize<'de> + Serialize,
    D: Deserializer<'de>,
{
    let one = T::deserialize(de::value::MapAccessDeserializer::new(OneEntry {
        key: Some(key),
        value: Some(value),
    }))?;
    match serde_json::to_value(one) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Ok(serde_json::Map::new()),
        Err(e) => Err(de::Error::custom(e)),
    }
}

/// A map of one entry: `key` and the deserializer of its value.
struct OneEntry<'a, D> {
    key: Option<&'a str>,
    value: Option<D>,
}

impl<'de, D: Deserializer<'de>> MapAccess<'de> for OneEntry<'_, D> {
    type Error = D::Error;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, D::Error> {
        match self.key.take() {
            Some(key) => seed
                .deserialize(de::value::StrDeserializer::<D::Error>::new(key))
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, D::Error> {
        match self.value.take() {
            Some(value) => seed.deserialize(value),
            None => Err(de::Error::custom("a setting's value was read twice")),
        }
    }
}

/// The field names serde reads for struct `T`, as its derive declares them.
pub(crate) fn fields_of<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    struct Grab<'a>(&'a mut &'static [&'static str]);
    impl<'de> Deserializer<'de> for Grab<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: de::Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("fields read"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Grab(&mut fields));
    fields
}
