//! [`Berth::toolchain_file`]: one file of a toolchains registry's
//! distribution layout for a caller the registry lets read: a manifest's
//! bytes as the upstream served them (a pinned channel's undated pair is
//! its date's), or an archive from the blob store.

use std::borrow::Cow;

use bytes::Bytes;
use futures::stream::BoxStream;

use super::paths::{manifest_path, serves, DistPath};
use crate::error::ServiceError;
use crate::{Berth, Identity, Registry};

/// A file ready to send.
pub struct ToolchainFile {
    pub body: ToolchainBody,
    pub size: u64,
    pub content_type: &'static str,
    /// Its `Cache-Control`.
    pub cache_control: Cow<'static, str>,
    /// A strong validator (the sha256 of an archive), when there is one.
    pub etag: Option<String>,
}

/// The bytes of a [`ToolchainFile`].
pub enum ToolchainBody {
    Whole(Bytes),
    Stream(BoxStream<'static, Result<Bytes, std::io::Error>>),
}

/// How long a client's cache may keep an undated manifest.
const CHANNEL_MAX_AGE_SECS: u64 = 60;

impl Berth {
    /// The file at `path` (below `/t/REGISTRY/`) of toolchains registry
    /// `registry`, for `who`.
    pub async fn toolchain_file(
        &self,
        registry: &str,
        who: Option<&Identity>,
        path: &str,
    ) -> Result<ToolchainFile, ServiceError> {
        let reg = self.registry(registry)?;
        self.authorize_read(reg, who)?;
        let Some(tc) = reg.source.as_toolchains() else {
            return Err(ServiceError::NotFound(format!(
                "registry `{registry}` is not a toolchains registry: its crates are at /r/{registry}/"
            )));
        };
        let not_here = || {
            ServiceError::NotFound(format!(
                "toolchains registry `{registry}` serves no `{path}`"
            ))
        };
        let scope = if reg.restricted { "private" } else { "public" };
        match DistPath::parse(path).ok_or_else(not_here)? {
            DistPath::Manifest {
                date,
                channel,
                sha256,
            } => {
                let s = &tc.settings;
                if !serves(&s.channels, &s.pin, &channel, date.as_deref()) {
                    return Err(ServiceError::NotFound(format!(
                        "toolchains registry `{registry}` does not serve the channel `{channel}`{}",
                        date.as_deref()
                            .map(|d| format!(" of {d}"))
                            .unwrap_or_default()
                    )));
                }
                // A pinned channel's undated manifest is its date's.
                let date = date.or_else(|| s.pin.get(&channel).cloned());
                let immutable = date.is_some();
                if tc
                    .manifest(self, reg, date.as_deref(), &channel)
                    .await?
                    .is_none()
                {
                    return Err(not_here());
                }
                let name = manifest_path(date.as_deref(), &channel, sha256);
                let body = self
                    .meta
                    .proxy_index_get(reg.id, &name)
                    .await?
                    .and_then(|r| r.body)
                    .ok_or_else(not_here)?;
                let cache_control = if immutable && !s.pin.contains_key(&channel) {
                    Cow::Owned(format!("{scope}, max-age=31536000, immutable"))
                } else {
                    Cow::Owned(format!("{scope}, max-age={CHANNEL_MAX_AGE_SECS}"))
                };
                let bytes = Bytes::from(body.into_bytes());
                Ok(ToolchainFile {
                    size: bytes.len() as u64,
                    body: ToolchainBody::Whole(bytes),
                    content_type: "text/plain; charset=utf-8",
                    cache_control,
                    etag: None,
                })
            }
            DistPath::Archive { .. } => self.toolchain_archive(reg, path, scope).await,
        }
    }

    async fn toolchain_archive(
        &self,
        reg: &Registry,
        path: &str,
        scope: &str,
    ) -> Result<ToolchainFile, ServiceError> {
        let not_here = || {
            ServiceError::NotFound(format!(
                "toolchains registry `{}` serves no `{path}`: it serves the archives the \
                 manifests it holds list (ask for the channel's manifest first)",
                reg.name
            ))
        };
        let tc = reg.source.as_toolchains().ok_or_else(not_here)?;
        let want = tc.hash_of(self, reg, path).await?.ok_or_else(not_here)?;
        tc.archive(self, reg, path, &want)
            .await?
            .ok_or_else(not_here)?;
        let (size, stream) = self.blobs.get_stream(&want).await?.ok_or_else(|| {
            ServiceError::Internal(format!(
                "the blob {want} of toolchains registry `{}`'s {path} is missing from the blob store",
                reg.name
            ))
        })?;
        let content_type = if path.ends_with(".tar.gz") {
            "application/gzip"
        } else if path.ends_with(".tar.xz") {
            "application/x-xz"
        } else {
            "application/octet-stream"
        };
        use futures::{StreamExt, TryStreamExt};
        let stream = stream
            .map_err(|e| std::io::Error::other(e.to_string()))
            .boxed();
        Ok(ToolchainFile {
            body: ToolchainBody::Stream(stream),
            size,
            content_type,
            cache_control: Cow::Owned(format!("{scope}, max-age=31536000, immutable")),
            etag: Some(want),
        })
    }
}
