//! `[transparency]`: the key that signs the transparency log's checkpoints,
//! and the earlier keys that still verify the checkpoints they signed. Only
//! reads configuration; the key itself is read by `log/keys.rs`.

use serde::{Deserialize, Serialize};

use crate::config::values::ConfigError;

/// The `[transparency]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TransparencyConfig {
    /// A file holding the signing key (`berth keys generate --out FILE`).
    /// Every node of one deployment must have the same key. Unset (and no
    /// `key`): `DATA_DIR/transparency.key`, made at the first `berth serve`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<std::path::PathBuf>,
    /// The signing key's text itself (`PRIVATE+KEY+...`), for a secret
    /// passed as `BERTH_TRANSPARENCY_KEY`; not both this and `key_file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Keys that signed earlier checkpoints (rotation): the verifier key
    /// text and until when it signed (RFC 3339). Served at
    /// `/r/NAME/log/keys`; `berth fsck` checks stored checkpoints with them.
    pub retired_keys: Vec<RetiredKey>,
}

/// A key that no longer signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetiredKey {
    /// The verifier key, `NAME+HASH+BASE64`.
    pub key: String,
    /// When it stopped signing, `YYYY-MM-DDTHH:MM:SSZ`.
    pub until: String,
}

impl TransparencyConfig {
    /// The section is consistent: one way to give the key, and retired keys
    /// that are keys with real times.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        if self.key.is_some() && self.key_file.is_some() {
            return Err(ConfigError(
                "transparency.key and transparency.key_file are both set: give the signing key \
                 one way"
                    .into(),
            ));
        }
        for (i, r) in self.retired_keys.iter().enumerate() {
            berth_log::VerifierKey::parse(&r.key)
                .map_err(|e| ConfigError(format!("transparency.retired_keys[{i}].key: {e}")))?;
            time::OffsetDateTime::parse(&r.until, &time::format_description::well_known::Rfc3339)
                .map_err(|e| {
                ConfigError(format!(
                    "transparency.retired_keys[{i}].until `{}` is not an RFC 3339 time \
                         (YYYY-MM-DDTHH:MM:SSZ): {e}",
                    r.until
                ))
            })?;
        }
        Ok(())
    }
}
