//! Serving `.crate` files and counting downloads.
//!
//! Counts are buffered in memory and written in batches, so a download never
//! waits on a database write. This module never reads a whole blob into
//! memory: the body is a stream straight from the blob store.

use std::collections::HashMap;
use std::sync::Mutex;

use berth_store::MetaStore;
use bytes::Bytes;
use futures::stream::BoxStream;

use crate::error::ServiceError;
use crate::{Berth, Identity};

/// A `.crate` ready to stream.
pub struct Download {
    pub size: u64,
    /// sha256 hex of the bytes (the index `cksum`).
    pub cksum: String,
    pub body: BoxStream<'static, Result<Bytes, std::io::Error>>,
}

/// Download counts not yet written: `(crate_id, version_id) -> n`.
#[derive(Default)]
pub(crate) struct DownloadCounter {
    pending: Mutex<HashMap<(i64, i64), i64>>,
}

impl DownloadCounter {
    fn record(&self, crate_id: i64, version_id: i64) {
        if let Ok(mut map) = self.pending.lock() {
            *map.entry((crate_id, version_id)).or_insert(0) += 1;
        }
    }

    pub(crate) async fn flush(&self, meta: &MetaStore) -> Result<(), ServiceError> {
        let mut batch: Vec<(i64, i64, i64)> = match self.pending.lock() {
            Ok(mut map) => map.drain().map(|((c, v), n)| (c, v, n)).collect(),
            Err(_) => return Ok(()),
        };
        // One order for every node, so concurrent flushes never deadlock.
        batch.sort_unstable();
        if let Err(e) = meta.add_downloads(&batch).await {
            // Put the counts back so that a passing failure loses nothing.
            if let Ok(mut map) = self.pending.lock() {
                for (c, v, n) in batch {
                    *map.entry((c, v)).or_insert(0) += n;
                }
            }
            return Err(e.into());
        }
        Ok(())
    }
}

impl Berth {
    /// Opens the `.crate` of `name@vers` for streaming and, when `count`,
    /// counts the download (a HEAD request is not a download).
    pub async fn download(
        &self,
        registry: &str,
        who: Option<&Identity>,
        name: &str,
        vers: &str,
        count: bool,
    ) -> Result<Download, ServiceError> {
        use futures::TryStreamExt;
        let reg = self.registry(registry)?;
        self.authorize_read(reg, who)?;
        let not_found =
            || ServiceError::NotFound(format!("crate `{name}` has no version `{vers}`"));
        let canon_name = berth_protocol::canonical_name(name);
        let Ok(version) = berth_protocol::validate_version(vers) else {
            return Err(not_found());
        };
        let canon_vers = berth_protocol::canonical_version(&version);
        let info = self
            .meta
            .download_info(reg.id, &canon_name, &canon_vers)
            .await?
            .ok_or_else(not_found)?;
        let (size, stream) = self.blobs.get_stream(&info.cksum).await?.ok_or_else(|| {
            ServiceError::Internal(format!(
                "the blob {} of {name}@{vers} is missing from the blob store",
                info.cksum
            ))
        })?;
        if size != info.size as u64 {
            return Err(ServiceError::Internal(format!(
                "the blob {} of {name}@{vers} has {size} bytes, expected {}",
                info.cksum, info.size
            )));
        }
        if count {
            self.downloads.record(info.crate_id, info.version_id);
        }
        Ok(Download {
            size,
            cksum: info.cksum,
            body: Box::pin(stream.map_err(std::io::Error::other)),
        })
    }
}
