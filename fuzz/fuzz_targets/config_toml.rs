//! The configuration file: TOML text -> `Config`, both as `toml::from_str`
//! and the way `Config::load_file_only` reads it (figment defaults merged
//! with the file), then `Config::finish`.
//!
//! Invariants: nothing panics; a finished config has an http(s) public URL
//! without a trailing slash, an absolute data dir, store URLs, at least one
//! registry with unique names; `finish` is idempotent; the config renders as
//! TOML (what `berth config` prints) and that TOML reads back to the same
//! config.
#![no_main]

use std::collections::HashSet;

use berth_core::config::Config;
use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use libfuzzer_sys::fuzz_target;

fn check_finished(mut config: Config) {
    if config.finish().is_err() {
        return;
    }
    assert!(config.public_url.starts_with("http://") || config.public_url.starts_with("https://"));
    assert!(!config.public_url.ends_with('/'));
    assert!(config.data_dir.is_absolute());
    assert!(!config.database.url.is_empty() && !config.storage.url.is_empty());
    assert!(!config.registries.is_empty());
    let names: HashSet<&str> = config.registries.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names.len(), config.registries.len());

    let mut again = config.clone();
    again.finish().expect("finish refused its own output");
    assert_eq!(again, config, "finish is not idempotent");

    let rendered = toml::to_string_pretty(&config).expect("a finished config renders as TOML");
    let back: Config = toml::from_str(&rendered)
        .unwrap_or_else(|e| panic!("rendered config does not read back: {e}\n{rendered}"));
    assert_eq!(
        back, config,
        "rendered config reads back differently:\n{rendered}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = toml::from_str::<Config>(text) {
        check_finished(config);
    }
    let loaded = Figment::from(Serialized::defaults(Config::default()))
        .merge(Toml::string(text))
        .extract::<Config>();
    if let Ok(config) = loaded {
        check_finished(config);
    }
});
