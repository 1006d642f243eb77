//! Where the configuration comes from and how it is finished: built-in
//! defaults, the TOML file, `BERTH_*` environment variables, then
//! command-line flags ([`Overrides`]); figment's errors in the words of
//! the file; the derived defaults and the checks across keys
//! ([`Config::finish`]). Never opens stores or sockets.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::Serialize;

use crate::config::file::Config;
use crate::config::registry::{check_registry_set, RegistryConfig};
use crate::config::server::{check_public_url, check_workers, default_public_url};
use crate::config::values::{whole, ConfigError};

/// Keys that environment variables may set: `BERTH_` + the key in upper
/// case with `.` as `_`. Lists (`registries`, `publish.allowed_registries`)
/// take TOML syntax, e.g. `BERTH_PUBLISH_ALLOWED_REGISTRIES='["sparse+http://..."]'`.
pub const ENV_KEYS: &[&str] = &[
    "data_dir",
    "listen",
    "public_url",
    "trusted_proxies",
    "forwarded_header",
    "workers",
    "h2c",
    "database.url",
    "database.max_connections",
    "storage.url",
    "storage.access_key_id",
    "storage.secret_access_key",
    "storage.instance_credentials",
    "limits.max_crate_size",
    "limits.max_metadata_size",
    "limits.max_unpacked_size",
    "limits.max_crate_entries",
    "limits.request_timeout_secs",
    "limits.max_concurrent_publishes",
    "limits.index_cache_bytes",
    "limits.blob_cache_bytes",
    "limits.max_connections",
    "limits.header_read_timeout_secs",
    "limits.max_connections_per_ip",
    "limits.connections_per_ip_exempt",
    "limits.write_timeout_secs",
    "limits.min_upload_bytes_per_sec",
    "limits.upload_grace_secs",
    "limits.max_uploads_per_user",
    "limits.upload_buffer_bytes",
    "limits.max_concurrent_searches",
    "limits.max_dependencies",
    "limits.max_features",
    "limits.max_feature_values",
    "limits.max_index_line_bytes",
    "limits.max_index_file_bytes",
    "limits.proxy_index_buffer_bytes",
    "limits.auth_failures_per_address",
    "limits.auth_failures_per_prefix",
    "limits.auth_failure_window_secs",
    "limits.auth_cooldown_secs",
    "limits.token_creations_per_hour",
    "publish.allowed_registries",
    "publish.denied_registries",
    "log.level",
    "log.format",
    "metrics.token",
    "tls.cert_file",
    "tls.key_file",
    "tls.reload_secs",
    "advisories.source",
    "advisories.refresh_secs",
    "transparency.key_file",
    "transparency.key",
    "transparency.retired_keys",
    "trusted_publishing.issuers",
    "auth.password_login",
    "webhooks.allowed_targets",
    "webhooks.retry_for_secs",
    "downloads.redirect",
    "downloads.presign_ttl_secs",
    "downloads.private_presign_ttl_secs",
    "downloads.base_url",
    "docs.max_upload_mib",
    "docs.max_unpacked_mib",
    "docs.max_files",
    "docs.workers",
    "docs.toolchain",
    "docs.public_registry",
    "docs.token_env",
    "docs.build_secs",
    "docs.build_memory_mib",
    "docs.budget_mib",
    "docs.pass_secs",
    "registries",
];

/// Values given on the command line; `None` leaves the setting alone.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
}

/// Figment's errors in the words of the file: each problem's key as its
/// dotted path (`database.url`, `registries[0].kind`; figment's profile
/// prefix is not part of it), what was wanted, and which file or variable
/// said it; a value refused when it was decoded, in its own words, which
/// name its key. One line per problem.
fn explain(e: figment::Error) -> ConfigError {
    let lines: Vec<String> = e
        .into_iter()
        .map(|e| {
            if let figment::error::Kind::Message(m) = &e.kind {
                if let Some(sentence) = whole(m) {
                    return sentence.to_string();
                }
            }
            let mut key = String::new();
            for part in &e.path {
                if part.parse::<usize>().is_ok() {
                    key.push_str(&format!("[{part}]"));
                } else {
                    if !key.is_empty() {
                        key.push('.');
                    }
                    key.push_str(part);
                }
            }
            let from = match e.metadata.as_ref() {
                Some(md) => match &md.source {
                    Some(figment::Source::File(path)) => format!(" in {}", path.display()),
                    Some(other) => format!(" in {other}"),
                    None => format!(" in {}", md.name),
                },
                None => String::new(),
            };
            match &e.kind {
                figment::error::Kind::UnknownField(_, known) => {
                    let known: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
                    format!(
                        "unknown key `{key}`{from}; the keys allowed there are {}",
                        known.join(", ")
                    )
                }
                kind if key.is_empty() => format!("{kind}{from}"),
                kind => format!("`{key}`{from}: {kind}"),
            }
        })
        .collect();
    ConfigError(lines.join("\n"))
}

fn env_name(key: &str) -> String {
    key.replace('.', "_").to_ascii_uppercase()
}

impl Config {
    /// Loads defaults, then `file`, then the environment, then `overrides`.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError(format!(
                    "config file `{}` does not exist",
                    path.display()
                )));
            }
            fig = fig.merge(Toml::file_exact(path));
        }
        // A misspelt variable (BERTH_DATABSE_URL) would silently start a
        // node on the defaults; refuse it instead. Variables the file names
        // as holding secrets (`auth.oidc.client_secret_env`, ...) are known.
        let unknown: Vec<String> = std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .filter(|name| {
                name.strip_prefix("BERTH_").is_some_and(|key| {
                    !(ENV_KEYS.iter().any(|k| env_name(k) == key)
                        || matches!(key, "CONFIG" | "DATA_DIR")
                        || key.starts_with("TEST_")
                        || key.starts_with("BENCH_"))
                })
            })
            .collect();
        let refuse_unknown = |name: &str| {
            ConfigError(format!(
                "unknown environment variable `{name}`; settings are BERTH_ + a key such as \
                 BERTH_DATABASE_URL (see `berth --help`)"
            ))
        };
        let env = Env::prefixed("BERTH_").filter_map(|k| {
            let k = k.as_str().to_ascii_uppercase();
            ENV_KEYS
                .iter()
                .find(|key| env_name(key) == k)
                .map(|key| (*key).into())
        });
        fig = fig.merge(env).merge(Serialized::defaults(overrides));
        let mut config: Config = match fig.extract() {
            Ok(config) => config,
            Err(e) => {
                return Err(unknown
                    .first()
                    .map_or_else(|| explain(e), |n| refuse_unknown(n)))
            }
        };
        let secrets = config.auth.secret_variables();
        if let Some(name) = unknown.iter().find(|n| !secrets.contains(&n.as_str())) {
            return Err(refuse_unknown(name));
        }
        config.finish()?;
        Ok(config)
    }

    /// Loads defaults then `file` only: no environment, no flags. For a
    /// second configuration next to the running one (`berth migrate --to`).
    pub fn load_file_only(file: &Path) -> Result<Self, ConfigError> {
        if !file.exists() {
            return Err(ConfigError(format!(
                "config file `{}` does not exist",
                file.display()
            )));
        }
        let mut config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file_exact(file))
            .extract()
            .map_err(explain)?;
        config.finish()?;
        Ok(config)
    }

    /// Fills derived defaults and checks ranges and cross-field rules (each
    /// value's form, an address, a CIDR range or a word, was checked when
    /// the file was decoded).
    pub fn finish(&mut self) -> Result<(), ConfigError> {
        if self.public_url.is_empty() {
            self.public_url = default_public_url(self.listen, self.tls.files.is_some())?;
        }
        while self.public_url.ends_with('/') {
            self.public_url.pop();
        }
        check_public_url(&self.public_url)?;
        let data_dir = std::path::absolute(&self.data_dir)
            .map_err(|e| ConfigError(format!("data_dir `{}`: {e}", self.data_dir.display())))?;
        self.data_dir = data_dir;
        if self.database.url.is_empty() {
            self.database.url = format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("berth.db").display()
            );
        }
        if self.storage.url.is_empty() {
            self.storage.url = format!("file://{}", self.data_dir.join("blobs").display());
        }
        if self.registries.is_empty() {
            self.registries.push(RegistryConfig::hosted("main"));
        }
        let mut seen = std::collections::HashSet::new();
        for r in &self.registries {
            r.check()?;
            if !seen.insert(r.name.clone()) {
                return Err(ConfigError(format!(
                    "registry `{}` is configured twice",
                    r.name
                )));
            }
        }
        check_registry_set(&self.registries)?;
        self.limits.check(&self.database)?;
        self.tls.check()?;
        self.advisories.check()?;
        self.transparency.check()?;
        self.trusted_publishing.check()?;
        self.auth.check()?;
        self.webhooks.check()?;
        self.docs.check()?;
        if let Some(name) = &self.docs.public_registry {
            if !self.registries.iter().any(|r| &r.name == name) {
                return Err(ConfigError(format!(
                    "docs.public_registry: no registry named `{name}` is configured"
                )));
            }
        }
        for name in self.docs.registry_budget_mib.keys() {
            if !self.registries.iter().any(|r| &r.name == name) {
                return Err(ConfigError(format!(
                    "docs.registry_budget_mib: no registry named `{name}` is configured"
                )));
            }
        }
        self.downloads.finish(&self.storage.url)?;
        check_workers(self.workers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_error(toml: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("berth.toml");
        std::fs::write(&file, toml).unwrap();
        let e = Config::load_file_only(&file).unwrap_err().to_string();
        e.replace(&file.display().to_string(), "[FILE]")
    }

    #[test]
    fn an_unknown_key_is_named_as_the_file_spells_it() {
        assert_eq!(
            load_error("[database]\nurll = \"x\"\n"),
            "configuration error: unknown key `database.urll` in [FILE]; the keys allowed there \
             are `url`, `max_connections`"
        );
        assert_eq!(
            load_error("[[registries]]\nname = \"a\"\nkind = \"hosted\"\nprivat = true\n"),
            "configuration error: unknown key `registries[0].privat` in [FILE]; the keys allowed \
             there are `name`, `kind`, `private`, `allowed_cidrs`, `policy`, `accept`, `upstream`, \
             `upstream_aliases`, `upstream_token_env`, `index_ttl_secs`, `offline`, \
             `cache_max_bytes`, `upstream_allowed_hosts`, `connect_timeout_secs`, `upstream_timeout_secs`, `members`, \
             `claims`, `publish_to`, `allow_upstream_names`, `primary`, `primary_token_env`, \
             `max_lag_secs`, `primary_log_keys`, `channels`, `pin`, `manifest_ttl_secs`"
        );
        assert_eq!(
            load_error("[limits]\nmax_crate_size = \"big\"\n"),
            "configuration error: `limits.max_crate_size` in [FILE]: invalid type: found \
             string \"big\", expected u64"
        );
    }

    #[test]
    fn env_keys_cover_every_setting() {
        let mut config = Config::default();
        // Optional settings are left out when unset; set them to see them.
        config.publish.allowed_registries = Some(Vec::new());
        config.storage.access_key_id = Some(String::new());
        config.storage.secret_access_key = Some(String::new());
        config.advisories.source = Some(crate::config::AdvisorySource::Path("/db".into()));
        config.transparency.key = Some(String::new());
        config.transparency.key_file = Some("/k".into());
        config.downloads.base_url = Some(String::new());
        config.docs.public_registry = Some(String::new());
        config.docs.token_env = Some(String::new());
        let value = toml::Value::try_from(config).unwrap();
        let mut keys = std::collections::BTreeSet::new();
        crate::config::check::tests::keys("", &value, &mut keys);
        let keys: Vec<String> = keys.into_iter().collect();
        let mut listed: Vec<String> = ENV_KEYS.iter().map(|s| s.to_string()).collect();
        listed.sort();
        assert_eq!(keys, listed);
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's test jail fixes the closure's type
    fn file_env_and_flags_layer_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("berth.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\n[limits]\nmax_crate_size = 1000\n[[registries]]\nname = \"corp\"\nprivate = true\n",
        )
        .unwrap();
        figment::Jail::expect_with(|jail| {
            jail.set_env("BERTH_LIMITS_MAX_CRATE_SIZE", "2000");
            let overrides = Overrides {
                data_dir: Some(dir.path().into()),
                ..Default::default()
            };
            let c = Config::load(Some(&file), &overrides).unwrap();
            assert_eq!(c.listen.to_string(), "127.0.0.1:9000");
            assert_eq!(c.public_url, "http://127.0.0.1:9000");
            assert_eq!(c.limits.max_crate_size, 2000);
            assert_eq!(c.registries.len(), 1);
            assert!(c.registries[0].is_private());
            assert!(c.database.url.starts_with("sqlite://"));
            let o = Overrides {
                listen: Some("127.0.0.1:9100".parse().unwrap()),
                ..overrides.clone()
            };
            assert_eq!(
                Config::load(Some(&file), &o).unwrap().listen.to_string(),
                "127.0.0.1:9100"
            );
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's test jail fixes the closure's type
    fn misspelt_environment_variables_are_errors() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("BERTH_DATABSE_URL", "postgres://x/y");
            let err = Config::load(None, &Overrides::default()).unwrap_err();
            assert!(err.to_string().contains("BERTH_DATABSE_URL"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn bad_values_are_refused_at_start() {
        let bad = |toml: &str| {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("berth.toml");
            std::fs::write(&file, toml).unwrap();
            Config::load_file_only(&file).unwrap_err().to_string()
        };
        assert!(bad("listen = \"0.0.0.0:7878\"\n").contains("needs public_url"));
        assert!(bad("workers = 100000\n").contains("at most 256"));
        assert!(bad("[limits]\nmax_metadata_size = 0\n").contains("limits.max_metadata_size"));
        assert!(bad("[limits]\nmax_crate_size = 99999999999\n").contains("limits.max_crate_size"));
        assert!(bad("[limits]\nrequest_timeout_secs = 0\n").contains("request_timeout_secs"));
        assert!(bad("[[registries]]\nname = \"a/b\"\n").contains("registry name"));
        assert!(bad("[log]\nformat = \"xml\"\n").contains("log.format"));
    }

    #[test]
    fn unknown_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("berth.toml");
        std::fs::write(&file, "[limits]\nmax_crate_sise = 1\n").unwrap();
        let err = Config::load(Some(&file), &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("max_crate_sise"), "{err}");
    }
}
