//! `[advisories]`: where each node reloads the advisory set from on a
//! schedule (an internal mirror of the advisory database, for sites
//! without internet). Only reads configuration.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::values::ConfigError;

/// Shortest and longest reload period.
const REFRESH_RANGE: std::ops::RangeInclusive<u64> = 60..=7 * 86_400;

/// The `[advisories]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdvisoriesConfig {
    /// A directory or archive on every node (a checkout of the advisory
    /// database, a `.tar.gz`/`.zip` of one, OSV files), or an `http(s)://`
    /// URL of such an archive. Unset (the default): only `berth advisories
    /// import` changes the set.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "read_source",
        serialize_with = "write_source"
    )]
    pub source: Option<AdvisorySource>,
    /// How often each node reads `source` again (seconds, 60 to 604800).
    /// An unchanged set writes nothing.
    pub refresh_secs: u64,
}

impl Default for AdvisoriesConfig {
    fn default() -> Self {
        Self {
            source: None,
            refresh_secs: 3600,
        }
    }
}

/// Where the advisory set comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdvisorySource {
    Path(std::path::PathBuf),
    Url(reqwest::Url),
}

impl std::fmt::Display for AdvisorySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdvisorySource::Path(p) => write!(f, "{}", p.display()),
            AdvisorySource::Url(u) => write!(f, "{}", crate::redact_url(u.as_str())),
        }
    }
}

impl AdvisorySource {
    /// Reads `text`: an `http://` or `https://` URL, else a path.
    pub fn parse(text: &str) -> Result<AdvisorySource, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("is empty".into());
        }
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            let url = reqwest::Url::parse(text).map_err(|e| format!("is not a URL: {e}"))?;
            if url.host_str().is_none() {
                return Err("is a URL without a host".into());
            }
            return Ok(AdvisorySource::Url(url));
        }
        if lower.contains("://") {
            return Err("must be a path, or an http:// or https:// URL".into());
        }
        Ok(AdvisorySource::Path(text.into()))
    }
}

fn read_source<'de, D: Deserializer<'de>>(d: D) -> Result<Option<AdvisorySource>, D::Error> {
    let text = String::deserialize(d)?;
    AdvisorySource::parse(&text)
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("advisories.source `{text}` {e}")))
}

fn write_source<S: Serializer>(source: &Option<AdvisorySource>, s: S) -> Result<S::Ok, S::Error> {
    match source {
        Some(AdvisorySource::Path(p)) => s.serialize_str(&p.display().to_string()),
        Some(AdvisorySource::Url(u)) => s.serialize_str(u.as_str()),
        None => s.serialize_none(),
    }
}

impl AdvisoriesConfig {
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        if !REFRESH_RANGE.contains(&self.refresh_secs) {
            return Err(ConfigError(format!(
                "advisories.refresh_secs = {} is out of range ({} to {})",
                self.refresh_secs,
                REFRESH_RANGE.start(),
                REFRESH_RANGE.end()
            )));
        }
        Ok(())
    }
}
