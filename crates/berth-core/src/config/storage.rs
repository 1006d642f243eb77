//! `[database]` and `[storage]`: where the metadata and the blobs live, and
//! the blob store's credentials. Only reads configuration; never opens a
//! store.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://...`; defaults to `{data_dir}/berth.db`.
    pub url: String,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `file:///dir` or `s3://BUCKET[/PREFIX]`; defaults to `{data_dir}/blobs`.
    pub url: String,
    /// S3 access key id (else `AWS_ACCESS_KEY_ID`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// S3 secret access key (else `AWS_SECRET_ACCESS_KEY`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<String>,
    /// With no S3 credentials configured, ask the cloud instance's metadata
    /// service for them; otherwise start-up fails and says what to set.
    pub instance_credentials: bool,
}

impl StorageConfig {
    /// The S3 credentials this configuration gives.
    pub fn s3_credentials(&self) -> berth_store::S3Credentials {
        berth_store::S3Credentials {
            access_key_id: self.access_key_id.clone().filter(|k| !k.is_empty()),
            secret_access_key: self.secret_access_key.clone().filter(|k| !k.is_empty()),
            instance_credentials: self.instance_credentials,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            max_connections: 8,
        }
    }
}
