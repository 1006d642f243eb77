//! `[log]`: the filter and the form of the server's log lines, the form
//! decoded once when the file is read. Only reads configuration; the
//! logger itself is set up by the binary.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::values::{refusal, ConfigError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter, e.g. `info` or `berth=debug,tower_http=info`.
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// `name=value` fields after the message.
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

impl LogFormat {
    /// The word the file uses.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

impl Serialize for LogFormat {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for LogFormat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        [LogFormat::Text, LogFormat::Json]
            .into_iter()
            .find(|f| f.as_str() == text)
            .ok_or_else(|| {
                refusal(ConfigError(format!(
                    "log.format `{text}` must be `text` or `json`"
                )))
            })
    }
}
