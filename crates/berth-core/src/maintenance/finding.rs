//! One problem `berth fsck` (or a restore's check of a backup's log)
//! found: a leaf that the checks of the stores and of the transparency log
//! both write.

use serde::Serialize;

/// One problem `fsck` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `missing_blob`, `blob_size`, `blob_checksum`, `index_line_unparseable`,
    /// `index_line_mismatch`, `dangling_reference`, `orphan_blob`; of the
    /// transparency log: `log_unlogged` (a stored version without a
    /// record), `log_checksum` (a record with another sha256),
    /// `log_orphan_record` (a hosted record without its version),
    /// `log_record_invalid`, `log_gap`, `log_leaf`, `log_node`,
    /// `log_checkpoint_signature`, `log_checkpoint_root`.
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    #[serde(rename = "crate", skip_serializing_if = "Option::is_none")]
    pub crate_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
    /// The transparency-log index (leaf) the finding is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
    pub detail: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:", self.kind)?;
        match (&self.registry, &self.crate_name, &self.version) {
            (Some(r), Some(c), Some(v)) => write!(f, " {r}/{c}@{v}:")?,
            (Some(r), _, _) => write!(f, " registry {r}:")?,
            _ => {}
        }
        write!(f, " {}", self.detail)
    }
}
