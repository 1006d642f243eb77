//! Content-addressed blob storage for `.crate` files.
//!
//! A blob's key is derived from the sha256 of its bytes, so one content is
//! stored once and every read can be checked against its key. Writes are
//! whole-object puts (atomic in every backend object_store supports), so a
//! crash never leaves a partial blob under a real key. An S3 store also
//! presigns GET URLs of its blobs, signed at the time the caller gives (its
//! clock), so that downloads can bypass the node. This module never
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

/// Where an S3 store's credentials may come from, beyond the standard
/// `AWS_*` variables.
#[derive(Clone, Default)]
pub struct S3Credentials {
    /// Wins over `AWS_ACCESS_KEY_ID`.
    pub access_key_id: Option<String>,
    /// Wins over `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: Option<String>,
    /// With no credentials configured, ask the cloud instance's metadata
    /// service for them. Off by default: a node that lacks its keys fails at
    /// start instead of waiting on an endpoint that is not there.
    pub instance_credentials: bool,
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "***"),
            )
            .field("instance_credentials", &self.instance_credentials)
            .finish()
    }
}

/// What to set when an S3 store has no credentials.
pub const NO_S3_CREDENTIALS: &str = "no S3 credentials are configured: set AWS_ACCESS_KEY_ID and \
     AWS_SECRET_ACCESS_KEY (or the configuration keys storage.access_key_id and \
     storage.secret_access_key, also as BERTH_STORAGE_ACCESS_KEY_ID and \
     BERTH_STORAGE_SECRET_ACCESS_KEY); to use the cloud instance's own credentials from its \
     metadata service instead, set storage.instance_credentials = true";

/// A place to keep blobs.
#[derive(Clone)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
    description: String,
    /// What presigns URLs of the blobs: an S3 store that signs its
    /// requests; `None` for a local directory.
    presigner: Option<Presigner>,
}

/// An S3 store's client, the prefix its blobs are under and its region:
/// what a presigned URL is made of.
#[derive(Clone)]
struct Presigner {
    s3: Arc<object_store::aws::AmazonS3>,
    prefix: Path,
    region: String,
    /// The URL of the blobs' folder (`.../PREFIX/crates`), as object_store
    /// requests it, once asked.
    base: Arc<tokio::sync::OnceCell<url::Url>>,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

impl Presigner {
    /// The URL object_store requests the blobs' folder at (endpoint,
    /// bucket, addressing style, prefix, encoding): object_store signs
    /// only at the system's now, so its URL's query is dropped and the
    /// URL of each blob is signed again at the caller's time.
    async fn folder_url(&self) -> Result<url::Url, StoreError> {
        use object_store::signer::Signer;
        let folder: Path = self
            .prefix
            .parts()
            .chain(Path::from("crates").parts())
            .collect();
        let mut url = self
            .s3
            .signed_url(
                http::Method::GET,
                &folder,
                std::time::Duration::from_secs(1),
            )
            .await?;
        url.set_query(None);
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(StoreError::BlobConfig(format!(
                "the S3 store's object URL `{url}` is not an http(s) URL with a host"
            )));
        }
        Ok(url)
    }
}

impl BlobStore {
    /// Opens a blob store from a URL: `file:///abs/dir` (or a plain path),
    /// or `s3://BUCKET[/PREFIX]` for any S3-compatible store, configured by
    /// the standard `AWS_*` variables (`AWS_ENDPOINT`, `AWS_REGION`,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, ...). Requests use path
    /// style unless `AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true`, which is what
    /// self-hosted stores (Garage, MinIO, Ceph) expect.
    ///
    /// An S3 store without credentials fails here (see [`S3Credentials`]).
    pub fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, &S3Credentials::default())
    }

    /// Like [`BlobStore::open`], with credentials from configuration.
    pub fn open_with(url: &str, credentials: &S3Credentials) -> Result<Self, StoreError> {
        if let Some(rest) = url.strip_prefix("s3://") {
            return Self::open_s3(url, rest, credentials);
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
        // Private (0700): blobs include private registries' crates.
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
            .create(dir)
            .map_err(|e| {
                StoreError::BlobConfig(format!("cannot create blob directory `{dir}`: {e}"))
            })?;
        // Deleting a blob or a docs set's last file removes the directories
        // it leaves empty.
        let fs = LocalFileSystem::new_with_prefix(dir)?.with_automatic_cleanup(true);
        Ok(Self {
            inner: Arc::new(fs),
            description: format!("file://{dir}"),
            presigner: None,
        })
    }

    fn open_s3(url: &str, rest: &str, credentials: &S3Credentials) -> Result<Self, StoreError> {
        use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
        use object_store::prefix::PrefixStore;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_matches('/');
        if bucket.is_empty() {
            return Err(StoreError::BlobConfig(format!(
                "storage URL `{url}` names no bucket"
            )));
        }
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_allow_http(true);
        if let Some(key) = &credentials.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &credentials.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        let set = |key: AmazonS3ConfigKey| {
            builder
                .get_config_value(&key)
                .is_some_and(|v| !v.is_empty())
        };
        match (
            set(AmazonS3ConfigKey::AccessKeyId),
            set(AmazonS3ConfigKey::SecretAccessKey),
        ) {
            (true, true) => {}
            (true, false) => {
                return Err(StoreError::BlobConfig(format!(
                    "S3 store `{url}`: an access key id is configured but no secret: set \
                     AWS_SECRET_ACCESS_KEY or storage.secret_access_key"
                )))
            }
            (false, true) => {
                return Err(StoreError::BlobConfig(format!(
                    "S3 store `{url}`: a secret access key is configured but no key id: set \
                     AWS_ACCESS_KEY_ID or storage.access_key_id"
                )))
            }
            (false, false) => {
                // Credentials the environment names explicitly: web
                // identity, container credentials, or none at all.
                let explicit = (std::env::var_os("AWS_WEB_IDENTITY_TOKEN_FILE").is_some()
                    && std::env::var_os("AWS_ROLE_ARN").is_some())
                    || set(AmazonS3ConfigKey::ContainerCredentialsRelativeUri)
                    || set(AmazonS3ConfigKey::ContainerCredentialsFullUri)
                    || builder
                        .get_config_value(&AmazonS3ConfigKey::SkipSignature)
                        .is_some_and(|v| v == "true");
                if !explicit && !credentials.instance_credentials {
                    return Err(StoreError::BlobConfig(format!(
                        "S3 store `{url}`: {NO_S3_CREDENTIALS}"
                    )));
                }
            }
        }
        // An unsigned store (a public bucket) has nothing to presign with.
        let signs = builder
            .get_config_value(&AmazonS3ConfigKey::SkipSignature)
            .is_none_or(|v| v != "true");
        // object_store's own default.
        let region = builder
            .get_config_value(&AmazonS3ConfigKey::Region)
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "us-east-1".to_string());
        let s3 = Arc::new(
            builder
                .build()
                .map_err(|e| StoreError::BlobConfig(format!("S3 store for `{url}`: {e}")))?,
        );
        let presigner = signs.then(|| Presigner {
            s3: s3.clone(),
            prefix: Path::from(prefix),
            region,
            base: Arc::default(),
        });
        let inner: Arc<dyn ObjectStore> = if prefix.is_empty() {
            s3
        } else {
            Arc::new(PrefixStore::new(s3 as Arc<dyn ObjectStore>, prefix))
        };
        Ok(Self {
            inner,
            description: url.to_string(),
            presigner,
        })
    }

    /// Wraps any object store (tests, other backends); it presigns nothing.
    pub fn from_object_store(inner: Arc<dyn ObjectStore>, description: String) -> Self {
        Self {
            inner,
            description,
            presigner: None,
        }
    }

    /// Whether [`BlobStore::presigned_get`] gives URLs (an S3 store that
    /// signs its requests).
    pub fn presigns(&self) -> bool {
        self.presigner.is_some()
    }

    /// A URL that lets whoever holds it GET a blob, without credentials,
    /// for `ttl` from `signed_at` (Unix seconds: the caller's clock, so that
    /// a test clock decides when it expires); `None` when this store cannot
    /// presign (a local directory). The blob need not exist. The URL is the
    /// one object_store would request, signed with AWS SigV4 in the query.
    pub async fn presigned_get(
        &self,
        sha256_hex: &str,
        ttl: std::time::Duration,
        signed_at: i64,
    ) -> Result<Option<url::Url>, StoreError> {
        let Some(p) = &self.presigner else {
            return Ok(None);
        };
        let mut url = p.base.get_or_try_init(|| p.folder_url()).await?.clone();
        // The key's parts below `crates/`: hex digits, nothing to encode.
        let added = url
            .path_segments_mut()
            .map(|mut segments| {
                segments.extend(blob_key(sha256_hex).parts().skip(1));
            })
            .is_ok();
        if !added {
            return Err(StoreError::BlobConfig(format!(
                "the S3 store's URL `{url}` cannot have a path"
            )));
        }
        let credential = p.s3.credentials().get_credential().await?;
        let date = time::OffsetDateTime::from_unix_timestamp(signed_at).map_err(|e| {
            StoreError::BlobConfig(format!("cannot sign at Unix time {signed_at}: {e}"))
        })?;
        let none = std::iter::empty::<(&str, &str)>();
        Ok(Some(rusty_s3::signing::sign(
            &date,
            rusty_s3::Method::Get,
            url,
            &credential.key_id,
            &credential.secret_key,
            credential.token.as_deref().filter(|t| !t.is_empty()),
            &p.region,
            ttl.as_secs(),
            none.clone(),
            none,
        )))
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

    /// The key of file `path` of documentation set `set`:
    /// `docs/SET/PATH` (outside `crates/`, so garbage collection of
    /// crate blobs never sees it).
    fn docs_key(set: &str, path: &str) -> Result<Path, StoreError> {
        Path::parse(format!("docs/{set}/{path}"))
            .map_err(|e| StoreError::Corrupt(format!("documentation path `{path}`: {e}")))
    }

    /// Stores one file of a documentation set.
    pub async fn put_docs_file(
        &self,
        set: &str,
        path: &str,
        bytes: Bytes,
    ) -> Result<(), StoreError> {
        self.inner
            .put(&Self::docs_key(set, path)?, PutPayload::from_bytes(bytes))
            .await?;
        Ok(())
    }

    /// Streams one file of a documentation set; `None` when it is missing.
    pub async fn get_docs_file(
        &self,
        set: &str,
        path: &str,
    ) -> Result<Option<(u64, BoxStream<'static, object_store::Result<Bytes>>)>, StoreError> {
        match self.inner.get(&Self::docs_key(set, path)?).await {
            Ok(res) => {
                let size = res.meta.size;
                Ok(Some((size, res.into_stream())))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Every documentation set in the store (the names under `docs/`).
    pub async fn docs_set_ids(&self) -> Result<Vec<String>, StoreError> {
        let listed = self
            .inner
            .list_with_delimiter(Some(&Path::from("docs")))
            .await?;
        Ok(listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect())
    }

    /// When the newest file of a documentation set was written (Unix s);
    /// `None` when it has none.
    pub async fn docs_set_written(&self, set: &str) -> Result<Option<i64>, StoreError> {
        use futures::TryStreamExt;
        let prefix = Path::from(format!("docs/{set}"));
        let metas: Vec<_> = self.inner.list(Some(&prefix)).try_collect().await?;
        Ok(metas.iter().map(|m| m.last_modified.timestamp()).max())
    }

    /// Deletes every file of a documentation set; how many.
    pub async fn delete_docs_set(&self, set: &str) -> Result<usize, StoreError> {
        use futures::TryStreamExt;
        let prefix = Path::from(format!("docs/{set}"));
        let metas: Vec<_> = self.inner.list(Some(&prefix)).try_collect().await?;
        for m in &metas {
            match self.inner.delete(&m.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(metas.len())
    }

    /// Whether the store answers (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self.inner.head(&Path::from("crates/.ping")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "ab12cd34ab12cd34ab12cd34ab12cd34ab12cd34ab12cd34ab12cd34ab12cd34";

    #[tokio::test]
    async fn a_local_directory_presigns_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(&dir.path().display().to_string()).unwrap();
        assert!(!store.presigns());
        let url = store
            .presigned_get(DIGEST, std::time::Duration::from_secs(60), 0)
            .await
            .unwrap();
        assert!(url.is_none());
    }

    #[tokio::test]
    async fn an_s3_url_is_signed_at_the_time_given_for_the_ttl_given() {
        let store = BlobStore::open_with(
            "s3://bucket/some/prefix",
            &S3Credentials {
                access_key_id: Some("GKTESTKEY".into()),
                secret_access_key: Some("secret".into()),
                instance_credentials: false,
            },
        )
        .unwrap();
        assert!(store.presigns());
        let sign = |at: i64| store.presigned_get(DIGEST, std::time::Duration::from_secs(60), at);
        // 2024-01-02T03:04:05Z
        let url = sign(1_704_164_645).await.unwrap().unwrap();
        assert!(
            url.path()
                .ends_with(&format!("/some/prefix/crates/ab/12/{DIGEST}")),
            "{url}"
        );
        // The very URL object_store requests the blob at.
        let p = store.presigner.as_ref().unwrap();
        let path: Path = p.prefix.parts().chain(blob_key(DIGEST).parts()).collect();
        let mut own = object_store::signer::Signer::signed_url(
            p.s3.as_ref(),
            http::Method::GET,
            &path,
            std::time::Duration::from_secs(1),
        )
        .await
        .unwrap();
        own.set_query(None);
        let mut bare = url.clone();
        bare.set_query(None);
        assert_eq!(bare, own);
        let query: std::collections::HashMap<String, String> =
            url.query_pairs().into_owned().collect();
        assert_eq!(query["X-Amz-Algorithm"], "AWS4-HMAC-SHA256");
        assert_eq!(query["X-Amz-Date"], "20240102T030405Z");
        assert_eq!(query["X-Amz-Expires"], "60");
        assert_eq!(query["X-Amz-SignedHeaders"], "host");
        assert!(
            query["X-Amz-Credential"].starts_with("GKTESTKEY/20240102/"),
            "{url}"
        );
        assert!(query["X-Amz-Credential"].ends_with("/s3/aws4_request"));
        assert_eq!(query["X-Amz-Signature"].len(), 64);
        // Signed again at the same time: the same URL; a second later:
        // another signature.
        assert_eq!(sign(1_704_164_645).await.unwrap().unwrap(), url);
        let later = sign(1_704_164_646).await.unwrap().unwrap();
        assert_ne!(later, url);
    }
}
