//! Content-addressed blob storage for `.crate` files.
//!
//! A blob's key is derived from the sha256 of its bytes, so one content is
//! stored once and every read can be checked against its key. Writes are
//! whole-object puts (atomic in every backend object_store supports), so a
//! crash never leaves a partial blob under a real key. This module never
//! touches SQL: whether a blob is referenced is the metadata store's concern.

use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::{local::LocalFileSystem, path::Path, ObjectStore, PutPayload};

use crate::StoreError;

/// The object key for a sha256 hex digest: `crates/ab/cd/abcd…`.
pub fn blob_key(sha256_hex: &str) -> Path {
    let h = sha256_hex;
    if h.len() >= 4 {
        Path::from(format!("crates/{}/{}/{h}", &h[..2], &h[2..4]))
    } else {
        Path::from(format!("crates/{h}"))
    }
}

/// A place to keep blobs.
#[derive(Clone)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
    description: String,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

impl BlobStore {
    /// Opens a blob store from a URL: `file:///abs/dir` (or a plain path),
    /// or `s3://BUCKET[/PREFIX]` for any S3-compatible store, configured by
    /// the standard `AWS_*` variables (`AWS_ENDPOINT`, `AWS_REGION`,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, ...). Requests use path
    /// style unless `AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true`, which is what
    /// self-hosted stores (Garage, MinIO, Ceph) expect.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        if let Some(rest) = url.strip_prefix("s3://") {
            return Self::open_s3(url, rest);
        }
        let dir = if let Some(rest) = url.strip_prefix("file://") {
            rest
        } else if url.contains("://") {
            return Err(StoreError::BlobConfig(format!(
                "unsupported storage URL `{url}`: use file:///path or s3://bucket/prefix"
            )));
        } else {
            url
        };
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::BlobConfig(format!("cannot create blob directory `{dir}`: {e}"))
        })?;
        let fs = LocalFileSystem::new_with_prefix(dir)?;
        Ok(Self {
            inner: Arc::new(fs),
            description: format!("file://{dir}"),
        })
    }

    fn open_s3(url: &str, rest: &str) -> Result<Self, StoreError> {
        use object_store::aws::AmazonS3Builder;
        use object_store::prefix::PrefixStore;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_matches('/');
        if bucket.is_empty() {
            return Err(StoreError::BlobConfig(format!(
                "storage URL `{url}` names no bucket"
            )));
        }
        let s3 = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_allow_http(true)
            .build()
            .map_err(|e| StoreError::BlobConfig(format!("S3 store for `{url}`: {e}")))?;
        let inner: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(PrefixStore::new(s3, prefix))
        };
        Ok(Self {
            inner,
            description: url.to_string(),
        })
    }

    /// Wraps any object store (tests, other backends).
    pub fn from_object_store(inner: Arc<dyn ObjectStore>, description: String) -> Self {
        Self { inner, description }
    }

    /// Where blobs live, for logs.
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// Stores `bytes` under its sha256. An existing blob is written again:
    /// the bytes are the same, and the fresh modification time tells the
    /// garbage collector that a publish is using it right now.
    pub async fn put(&self, sha256_hex: &str, bytes: Bytes) -> Result<(), StoreError> {
        self.inner
            .put(&blob_key(sha256_hex), PutPayload::from_bytes(bytes))
            .await?;
        Ok(())
    }

    /// Size and modification time (Unix seconds) of a blob, if it exists.
    pub async fn head(&self, sha256_hex: &str) -> Result<Option<(u64, i64)>, StoreError> {
        match self.inner.head(&blob_key(sha256_hex)).await {
            Ok(meta) => Ok(Some((meta.size, meta.last_modified.timestamp()))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Streams a blob. `None` when it is missing.
    pub async fn get_stream(
        &self,
        sha256_hex: &str,
    ) -> Result<Option<(u64, BoxStream<'static, object_store::Result<Bytes>>)>, StoreError> {
        match self.inner.get(&blob_key(sha256_hex)).await {
            Ok(res) => {
                let size = res.meta.size;
                Ok(Some((size, res.into_stream())))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads a whole blob into memory (verification, migration).
    pub async fn get(&self, sha256_hex: &str) -> Result<Option<Bytes>, StoreError> {
        match self.inner.get(&blob_key(sha256_hex)).await {
            Ok(res) => Ok(Some(res.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether the blob exists.
    pub async fn exists(&self, sha256_hex: &str) -> Result<bool, StoreError> {
        match self.inner.head(&blob_key(sha256_hex)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Lists every stored blob digest with its last-modified time (Unix s).
    pub async fn list(&self) -> Result<Vec<(String, i64)>, StoreError> {
        use futures::TryStreamExt;
        let prefix = Path::from("crates");
        let metas: Vec<_> = self.inner.list(Some(&prefix)).try_collect().await?;
        Ok(metas
            .into_iter()
            .filter_map(|m| {
                let name = m.location.filename()?.to_string();
                (name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()))
                    .then(|| (name, m.last_modified.timestamp()))
            })
            .collect())
    }

    /// Deletes a blob (garbage collection of unreferenced blobs only).
    pub async fn delete(&self, sha256_hex: &str) -> Result<(), StoreError> {
        match self.inner.delete(&blob_key(sha256_hex)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether the store answers (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self.inner.head(&Path::from("crates/.ping")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
