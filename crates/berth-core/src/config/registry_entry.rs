//! How a `[[registries]]` entry reads and writes: the keys every entry has
//! (`name`, `kind`, `private`, `allowed_cidrs`), then its kind's own,
//! exactly as the file spells them. Keys are learnt from serde's derives
//! (no list of them is written by hand): a key no kind has is refused with
//! every key allowed there; a key of another kind than the entry's is kept
//! aside for [`RegistryConfig::check`] to name. `allowed_cidrs` is decoded
//! here, once the entry's name (which its refusal names) is known. Only
//! reads configuration.

use std::sync::LazyLock;

use berth_policy::PolicyConfig;
use ipnet::IpNet;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::config::registry::{check_name, KindSettings, RegistryConfig, RegistryKind};
use crate::config::values::{parse_networks, refusal, write_networks};
use crate::sources::{fields_of, read_one};

/// What every entry has, whatever its kind; each value read alone.
#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Common {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<RegistryKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    private: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    allowed_cidrs: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<PolicyConfig>,
}

/// Every key an entry may have: the common ones, then each kind's.
static KEYS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut keys = fields_of::<Common>().to_vec();
    for kind in KindSettings::KINDS {
        for key in KindSettings::keys_of(*kind) {
            // A key several kinds have is listed once.
            if !keys.contains(key) {
                keys.push(key);
            }
        }
    }
    keys
});

/// Whose key it is: `None` for a common key, else the kind's.
type Owner = Option<RegistryKind>;

/// Reads a key, refusing one that no kind has.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = (String, Owner);

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let key = String::deserialize(d)?;
        let owner = if fields_of::<Common>().contains(&key.as_str()) {
            None
        } else {
            let kind = KindSettings::KINDS
                .iter()
                .find(|k| KindSettings::keys_of(**k).contains(&key.as_str()))
                .ok_or_else(|| <D::Error as de::Error>::unknown_field(&key, &KEYS))?;
            Some(*kind)
        };
        Ok((key, owner))
    }
}

/// Reads the value of one key, as the map of what it sets.
struct ValueSeed<'a>(&'a str, Owner);

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = serde_json::Map<String, serde_json::Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        match self.1 {
            None => read_one::<Common, D>(self.0, d),
            Some(kind) => KindSettings::read_key(kind, self.0, d),
        }
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = RegistryConfig;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("struct RegistryConfig")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RegistryConfig, A::Error> {
        let mut common = serde_json::Map::new();
        let mut own: Vec<(RegistryKind, serde_json::Map<String, serde_json::Value>)> = Vec::new();
        while let Some((key, owner)) = map.next_key_seed(KeySeed)? {
            let set = map.next_value_seed(ValueSeed(&key, owner))?;
            match owner {
                None => common.extend(set),
                Some(kind) => match own.iter_mut().find(|(k, _)| *k == kind) {
                    Some((_, keys)) => keys.extend(set),
                    None => own.push((kind, set)),
                },
            }
        }
        let fail = <A::Error as de::Error>::custom;
        let common: Common =
            serde_json::from_value(serde_json::Value::Object(common)).map_err(fail)?;
        let name = common
            .name
            .ok_or_else(|| <A::Error as de::Error>::missing_field("name"))?;
        let kind = common.kind.unwrap_or(KindSettings::DEFAULT_KIND);
        let keys_of = |k: RegistryKind| own.iter().find(|(o, _)| *o == k).map(|(_, m)| m);
        // A key several kinds have (`upstream`, `offline`) was read as the
        // first such kind's; it is this kind's too.
        let ours = KindSettings::keys_of(kind);
        let mut mine = keys_of(kind).cloned().unwrap_or_default();
        for (_, set) in own.iter().filter(|(k, _)| *k != kind) {
            for (key, value) in set {
                if ours.contains(&key.as_str()) && !mine.contains_key(key) {
                    mine.insert(key.clone(), value.clone());
                }
            }
        }
        let settings = KindSettings::from_keys(kind, mine).map_err(fail)?;
        // The first setting another kind has, in the order the keys are
        // listed; an entry that sets it is refused by `check`.
        let misplaced = KindSettings::KINDS
            .iter()
            .filter(|k| **k != kind)
            .find_map(|k| {
                let set = keys_of(*k)?;
                let key = KindSettings::keys_of(*k)
                    .iter()
                    .find(|key| set.contains_key(**key) && !ours.contains(*key))?;
                Some((*key, *k))
            });
        // The addresses' refusal names the entry, so a bad name comes first.
        check_name(&name).map_err(refusal)?;
        let allowed_cidrs = parse_networks(
            &format!("registry `{name}`: allowed_cidrs"),
            &common.allowed_cidrs,
        )
        .map_err(refusal)?;
        Ok(RegistryConfig {
            name,
            private: common.private,
            allowed_cidrs,
            settings,
            policy: common.policy.unwrap_or_default(),
            misplaced,
        })
    }
}

impl<'de> Deserialize<'de> for RegistryConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_struct("RegistryConfig", &KEYS, EntryVisitor)
    }
}

impl Serialize for RegistryConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        /// The entry as the file spells it: common keys, then the kind's.
        #[derive(Serialize)]
        struct Entry<'a> {
            name: &'a str,
            kind: RegistryKind,
            #[serde(skip_serializing_if = "Option::is_none")]
            private: Option<bool>,
            #[serde(
                skip_serializing_if = "<[IpNet]>::is_empty",
                serialize_with = "write_networks"
            )]
            allowed_cidrs: &'a [IpNet],
            #[serde(flatten)]
            settings: &'a KindSettings,
            // Last: a table follows every plain key in TOML.
            #[serde(skip_serializing_if = "is_empty_policy")]
            policy: &'a PolicyConfig,
        }
        fn is_empty_policy(policy: &&PolicyConfig) -> bool {
            **policy == PolicyConfig::default()
        }
        Entry {
            name: &self.name,
            kind: self.kind(),
            private: self.private,
            allowed_cidrs: &self.allowed_cidrs,
            settings: &self.settings,
            policy: &self.policy,
        }
        .serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::tests::load;

    #[test]
    fn a_setting_of_another_kind_is_named_with_both_kinds() {
        let err =
            load("[[registries]]\nname = \"main\"\nupstream = \"sparse+http://u.internal/\"\n");
        assert_eq!(
            err.unwrap_err(),
            "configuration error: registry `main`: `upstream` is a setting of proxy registries, \
             and this one is `hosted`"
        );
        let err = load(
            "[[registries]]\nname = \"up\"\nkind = \"proxy\"\nupstream = \"sparse+http://u.internal/\"\n\
             claims = [\"a-*\"]\n",
        );
        assert_eq!(
            err.unwrap_err(),
            "configuration error: registry `up`: `claims` is a setting of virtual registries, \
             and this one is `proxy`"
        );
        // A setting left at its default is no setting.
        let ok = load("[[registries]]\nname = \"main\"\noffline = false\nmembers = []\n");
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn a_bad_value_is_named_by_its_key_and_position() {
        let err = load(
            "[[registries]]\nname = \"up\"\nkind = \"proxy\"\nupstream = \"sparse+http://u.internal/\"\n\
             index_ttl_secs = \"x\"\n",
        );
        assert_eq!(
            err.unwrap_err(),
            "configuration error: `registries[0].index_ttl_secs` in [FILE]: invalid type: found \
             string \"x\", expected u64"
        );
        let err = load("[[registries]]\nname = \"v\"\nkind = \"virtual\"\nmembers = [\"a\", 1]\n");
        assert_eq!(
            err.unwrap_err(),
            "configuration error: `registries[0].members[1]` in [FILE]: invalid type: found \
             signed int `1`, expected a string"
        );
        let err = load("[[registries]]\nkind = \"hosted\"\n");
        assert_eq!(
            err.unwrap_err(),
            "configuration error: `registries[0]` in [FILE]: missing field `name`"
        );
        let err = load("[[registries]]\nname = \"m\"\nkind = \"mirror\"\n");
        assert_eq!(
            err.unwrap_err(),
            "configuration error: `registries[0].kind` in [FILE]: unknown registry kind \
             `mirror`; expected one of: hosted, proxy, virtual, replica, toolchains"
        );
    }

    #[test]
    fn a_policy_is_checked_when_the_configuration_is_read() {
        let err =
            load("[[registries]]\nname = \"main\"\n[registries.policy]\nmin_age = \"soon\"\n")
                .unwrap_err();
        assert!(
            err.starts_with("configuration error: registry `main`: policy `min_age`: `soon`"),
            "{err}"
        );
        let err = load("[[registries]]\nname = \"main\"\n[registries.policy]\nmin_agee = \"1d\"\n")
            .unwrap_err();
        assert_eq!(
            err,
            "configuration error: unknown key `registries[0].policy.min_agee` in [FILE]; the keys \
             allowed there are `block_advisories`, `block_informational`, `min_age`, \
             `min_age_unknown`, `licenses`, `deny`, `approved_only`"
        );
        let ok = load(
            "[[registries]]\nname = \"main\"\n[registries.policy]\nmin_age = \"3d\"\n\
             licenses = [\"MIT\"]\n",
        )
        .unwrap();
        assert_eq!(
            ok.registries[0].checked_policy().unwrap().min_age_secs(),
            Some(259_200)
        );
    }

    #[test]
    fn an_entry_prints_its_common_keys_then_its_kinds() {
        let config = load(
            "[[registries]]\nname = \"main\"\nprivate = false\n\n\
             [[registries]]\nname = \"up\"\nkind = \"proxy\"\nallowed_cidrs = [\"10.0.0.0/8\"]\n\
             upstream = \"sparse+http://u.internal/\"\noffline = true\n\n\
             [[registries]]\nname = \"all\"\nkind = \"virtual\"\nprivate = true\n\
             members = [\"main\", \"up\"]\npublish_to = \"main\"\n",
        )
        .unwrap();
        #[derive(serde::Serialize)]
        struct File<'a> {
            registries: &'a [crate::RegistryConfig],
        }
        let text = toml::to_string(&File {
            registries: &config.registries,
        })
        .unwrap();
        assert_eq!(
            text,
            "[[registries]]\nname = \"main\"\nkind = \"hosted\"\nprivate = false\n\n\
             [[registries]]\nname = \"up\"\nkind = \"proxy\"\nallowed_cidrs = [\"10.0.0.0/8\"]\n\
             upstream = \"sparse+http://u.internal/\"\noffline = true\n\n\
             [[registries]]\nname = \"all\"\nkind = \"virtual\"\nprivate = true\n\
             members = [\"main\", \"up\"]\npublish_to = \"main\"\n"
        );
    }
}
