//! The blob store as a whole: listing it, checking every referenced blob
//! against its checksum (`berth blobs verify`) and deleting blobs nothing
//! refers to (`berth blobs gc`), asked of each registry's source.

use berth_store::now_unix;

use crate::error::ServiceError;
use crate::Berth;

/// What `berth blobs verify` found.
#[derive(Debug, Clone, Default)]
pub struct BlobCheck {
    /// One line per problem; empty when all is well.
    pub problems: Vec<String>,
    /// Blobs checked.
    pub checked: usize,
}

impl Berth {
    /// Every blob in the blob store, with its size.
    pub async fn list_blobs(&self) -> Result<Vec<(String, i64)>, ServiceError> {
        Ok(self.blobs.list().await?)
    }

    /// Where blobs are kept, for the start-up log.
    pub fn describe_blobs(&self) -> &str {
        self.blobs.describe()
    }

    /// Every blob some registry still needs, asked of each registry's source.
    pub(crate) async fn referenced_blobs(
        &self,
    ) -> Result<std::collections::HashSet<String>, ServiceError> {
        let mut all = std::collections::HashSet::new();
        for reg in self.registries() {
            all.extend(reg.source.referenced_blobs(self.at(reg)).await?);
        }
        Ok(all)
    }

    /// Checks that every version's blob exists and hashes to its checksum.
    /// Returns one line per problem (empty when all is well) and the number
    /// of versions checked.
    pub async fn verify_blobs(&self) -> Result<BlobCheck, ServiceError> {
        use sha2::{Digest, Sha256};
        let referenced = self.referenced_blobs().await?;
        let mut problems = Vec::new();
        for digest in &referenced {
            match self.blobs.get(digest).await? {
                None => problems.push(format!("missing blob {digest}")),
                Some(bytes) => {
                    let actual = hex::encode(Sha256::digest(&bytes));
                    if &actual != digest {
                        problems.push(format!("blob {digest} has checksum {actual}"));
                    }
                }
            }
        }
        Ok(BlobCheck {
            problems,
            checked: referenced.len(),
        })
    }

    /// Deletes blobs no version refers to and older than `min_age_secs`
    /// (younger ones may belong to a publish in progress; the age may not be
    /// less than the request timeout). Each candidate's age and references
    /// are checked again right before it is deleted, and a publish re-checks
    /// its blob after committing, so a publish that reuses an old orphan's
    /// bytes keeps them. Returns how many blobs were deleted.
    pub async fn collect_garbage(&self, min_age_secs: i64) -> Result<usize, ServiceError> {
        let floor = self.config.limits.request_timeout_secs as i64;
        if min_age_secs < floor {
            return Err(ServiceError::BadRequest(format!(
                "the minimum age must be at least the request timeout ({floor} s), so that no \
                 publish in progress loses its blob"
            )));
        }
        let referenced = self.referenced_blobs().await?;
        let mut deleted = 0;
        for (digest, _) in self.blobs.list().await? {
            if referenced.contains(&digest) {
                continue;
            }
            let cutoff = now_unix() - min_age_secs;
            match self.blobs.head(&digest).await? {
                Some((_, modified)) if modified <= cutoff => {}
                _ => continue,
            }
            // Asked again right before deleting: a publish may have
            // committed it since the listing. The store checks every table
            // that refers to blobs.
            if self.meta.blob_referenced(&digest).await? {
                continue;
            }
            self.blobs.delete(&digest).await?;
            tracing::info!(blob = %digest, "deleted unreferenced blob");
            deleted += 1;
        }
        Ok(deleted)
    }
}
