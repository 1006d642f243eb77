//! Documentation beside the crate: rustdoc output for a version, uploaded
//! from CI ([`Berth::upload_docs`]) and served to the registry's readers
//! ([`Berth::docs_file`]).
//!
//! A set of files is written whole to the blob store under a fresh set id
//! (`docs/SET/PATH`), then recorded as the version's in one statement,
//! which retires the set it replaced (its files are deleted after a grace
//! period, by `tidy`): a reader sees the old set or the new one, never a
//! mix, and a failed upload leaves the old one serving (its partial files
//! deleted). This module owns who may upload (a token
//! with `publish-update` of an owner) and read (the registry's read rule)
//! and which file a path means. It never decides how a page is sent (the
//! server sets the content security policy and caching) and never runs
//! anything from the archive. Docs are derived data: neither backups nor
//! `migrate` carry them.

mod archive;
mod build;
mod pass;
mod tidy;

pub use berth_docs::BWRAP;
pub use build::MAX_ATTEMPTS;
pub use tidy::{DocsTidy, GRACE_SECS, TIDY_EVERY_SECS};

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::TryStreamExt;

use berth_store::{AuditAction, AuditEntry, AuditOutcome, NewDocsSet, StoreError};
pub use berth_store::{DocsBuild, DocsSet};

use crate::accounts::auth::Scope;
use crate::config::MIB;
use crate::crates::checks::{need_token, Change};
use crate::error::ServiceError;
use crate::{Berth, Identity};

use archive::{ArchiveError, Bounds};

/// The largest single file of a set (rustdoc's search index of a very
/// large crate stays far below).
const MAX_FILE_BYTES: u64 = 64 * MIB;
/// Files written to the blob store at once per upload.
const WRITES_IN_FLIGHT: usize = 4;

/// How long a node serves a crate's docs sets as it last read them: an
/// upload, build or drop on another node shows here within this time (on
/// this node at once). A set's files never change, and a replaced set's
/// stay for an hour, so a page served from a set just replaced is whole.
const SETS_FRESH: std::time::Duration = std::time::Duration::from_secs(5);
/// Crates whose sets a node keeps at most (then it starts over).
const SETS_KEPT: usize = 10_000;

/// Which docs sets each crate has, as read at most [`SETS_FRESH`] ago:
/// a docs page needs them, and reading them for every page (and every
/// script, style and font it loads) cost more than sending the page.
/// A crate's sets and when they were read, by registry id and canonical
/// crate name.
type SetsByCrate =
    std::collections::HashMap<(i64, String), (std::time::Instant, std::sync::Arc<Vec<DocsSet>>)>;

#[derive(Default)]
pub(crate) struct SetsCache {
    map: std::sync::RwLock<SetsByCrate>,
}

impl SetsCache {
    fn get(&self, key: &(i64, String)) -> Option<std::sync::Arc<Vec<DocsSet>>> {
        let map = self.map.read().ok()?;
        let (at, sets) = map.get(key)?;
        (at.elapsed() < SETS_FRESH).then(|| sets.clone())
    }

    fn put(&self, key: (i64, String), sets: std::sync::Arc<Vec<DocsSet>>) {
        if let Ok(mut map) = self.map.write() {
            if map.len() >= SETS_KEPT {
                map.clear();
            }
            map.insert(key, (std::time::Instant::now(), sets));
        }
    }

    /// Forgets what a registry's crate has (its docs changed here).
    pub(crate) fn forget(&self, registry_id: i64, canon_name: &str) {
        if let Ok(mut map) = self.map.write() {
            map.remove(&(registry_id, canon_name.to_string()));
        }
    }
}

/// What an upload stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DocsUploaded {
    pub files: u64,
    pub bytes: u64,
    /// Where the docs are served (a path on this server).
    pub url: String,
}

/// A file of a version's documentation, or where a directory's page is.
pub enum DocsAnswer {
    File {
        size: u64,
        body: DocsBody,
        content_type: &'static str,
        /// rustdoc names these files by their content's hash.
        immutable: bool,
        /// Of a registry not everyone may read (private, or limited to
        /// addresses): no shared cache, no cross-origin reads.
        restricted: bool,
        /// The bytes are the file's gzip variant (`Content-Encoding: gzip`).
        gzipped: bool,
        /// The answer depends on the client's `Accept-Encoding` (a text
        /// file, which has a gzip variant).
        varies: bool,
        /// Names these bytes: a set's files never change, so its id (and
        /// the variant) does.
        etag: String,
    },
    /// A path to redirect to (relative to the version's docs).
    Redirect(String),
}

/// A docs file's bytes: whole (kept in memory, sent as the downloads
/// kept there are), or streamed from the blob store.
pub enum DocsBody {
    Whole(Bytes),
    Stream(BoxStream<'static, Result<Bytes, std::io::Error>>),
}

/// The name of the directory rustdoc writes a crate's pages to.
pub fn docs_root(name: &str) -> String {
    name.replace('-', "_")
}

/// The content type of a file of rustdoc's output, by its extension.
fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext.to_ascii_lowercase().as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ttf" => "font/ttf",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Whether a file of this type is worth sending compressed (text: pages,
/// scripts, styles, rustdoc's search index; fonts and images are
/// compressed already).
fn compressible(path: &str) -> bool {
    let t = content_type(path);
    t.starts_with("text/") || t == "application/json" || t == "image/svg+xml"
}

/// Where a file's gzip variant is kept beside it: a name no servable path
/// can have (`!` is not among their characters).
fn gz_key(path: &str) -> String {
    format!("{path}!gz")
}

/// Stores one file of a set, and beside it, for a text file, its gzip
/// variant (made once here, on a blocking thread, so that serving a
/// compressed page costs nothing more than serving it plain).
pub(crate) async fn put_file(
    blobs: &berth_store::BlobStore,
    set: &str,
    path: &str,
    bytes: Bytes,
) -> Result<(), ServiceError> {
    if compressible(path) {
        let plain = bytes.clone();
        let gz = tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
            gz.write_all(&plain)?;
            gz.finish()
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("compressing a docs file: {e}")))?
        .map_err(|e| ServiceError::Internal(format!("compressing a docs file: {e}")))?;
        blobs.put_docs_file(set, &gz_key(path), gz.into()).await?;
    }
    blobs.put_docs_file(set, path, bytes).await?;
    Ok(())
}

/// A version whose docs a caller may replace ([`Berth::docs_upload_target`]).
#[derive(Debug, Clone)]
pub struct DocsTarget {
    registry: String,
    version_id: i64,
    /// The crate's name as published.
    krate: String,
    vers: String,
}

impl Berth {
    /// Checks that the caller may replace a version's documentation (a
    /// token with `publish-update` of an owner of the crate, or an
    /// administrator; the version exists), before the archive is read.
    pub async fn docs_upload_target(
        &self,
        registry: &str,
        who: Option<&Identity>,
        name: &str,
        vers: &str,
    ) -> Result<DocsTarget, ServiceError> {
        self.docs_owner_target(registry, who, name, vers, AuditAction::DocsUpload)
            .await
    }

    /// An owner's rebuild of a version's docs (the crate page's button):
    /// queued again, audited, as `berth docs rebuild` does. Who may: as
    /// for an upload.
    pub async fn rebuild_docs_as_owner(
        &self,
        who: &Identity,
        registry: &str,
        name: &str,
        vers: &str,
    ) -> Result<(), ServiceError> {
        let target = self
            .docs_owner_target(registry, Some(who), name, vers, AuditAction::DocsRebuild)
            .await?;
        let audit = AuditEntry {
            actor: Some(who.user.login.clone()),
            registry: Some(target.registry.clone()),
            crate_name: Some(target.krate.clone()),
            version: Some(target.vers.clone()),
            ..AuditEntry::new(AuditAction::DocsRebuild, AuditOutcome::Ok)
        };
        self.meta
            .queue_docs_rebuild(target.version_id, &audit)
            .await?;
        Ok(())
    }

    /// A version whose docs `who` may replace or rebuild (`action`, what
    /// a refusal is audited as).
    async fn docs_owner_target(
        &self,
        registry: &str,
        who: Option<&Identity>,
        name: &str,
        vers: &str,
        action: AuditAction,
    ) -> Result<DocsTarget, ServiceError> {
        let reg = self.writable_for(registry, who, name).await?;
        let who = need_token(who, reg)?;
        let change = Change::of(action, reg, name, Some(vers));
        // A token needs `publish-update`; the crate page's rebuild button
        // is the owner's own web session, which scopes do not limit.
        let from_session = action == AuditAction::DocsRebuild && who.signed_in_at.is_some();
        if !from_session {
            self.require_scope(who, Scope::PublishUpdate, change)
                .await?;
        }
        let version = berth_protocol::validate_version(vers).map_err(|_| {
            ServiceError::NotFound(format!("crate `{name}` has no version `{vers}`"))
        })?;
        let canon_vers = berth_protocol::canonical_version(&version);
        let canon_name = berth_protocol::canonical_name(name);
        let version_id = match self
            .meta
            .docs_target(reg.id, &canon_name, &canon_vers, &who.actor(reg.id))
            .await
        {
            Ok(id) => id,
            Err(e @ StoreError::NotOwner(_)) => {
                return Err(self.refused_by_store(who, change, e).await)
            }
            Err(StoreError::CrateNotFound(_)) => {
                return Err(ServiceError::NotFound(format!(
                    "crate `{name}` does not exist"
                )))
            }
            Err(StoreError::VersionNotFound { .. }) => {
                return Err(ServiceError::NotFound(format!(
                    "crate `{name}` has no version `{vers}`; publish it before its documentation"
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let krate = self.existing_crate(reg, name).await?;
        Ok(DocsTarget {
            registry: reg.name.clone(),
            version_id,
            krate: krate.name,
            vers: vers.to_string(),
        })
    }

    /// Replaces `target`'s documentation with the `.tar.gz` of
    /// `target/doc` in `body`, uploaded by `who`.
    pub async fn upload_docs(
        &self,
        target: &DocsTarget,
        who: &Identity,
        body: Bytes,
    ) -> Result<DocsUploaded, ServiceError> {
        let max_upload = self.config.docs.max_upload_mib * MIB;
        if body.len() as u64 > max_upload {
            return Err(ServiceError::TooLarge(format!(
                "the documentation archive is larger than {} MiB (`[docs] max_upload_mib`)",
                self.config.docs.max_upload_mib
            )));
        }
        let DocsTarget {
            registry,
            version_id,
            krate,
            vers,
        } = target;
        // Two uploads at a time per node unpack (each holds a few files
        // in memory); a third waits 30 s at most.
        let _slot = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            self.docs_uploads.acquire(),
        )
        .await
        .map_err(|_| {
            ServiceError::Busy(
                "this node is unpacking as many documentation uploads as it allows; try again \
                 shortly"
                    .into(),
            )
        })?
        .map_err(|e| ServiceError::Internal(format!("docs upload slots: {e}")))?;
        let set_id = hex::encode(rand::random::<[u8; 16]>());
        let written = self.write_set(&set_id, &docs_root(krate), body).await;
        let (root, files, bytes) = match written {
            Ok(counts) => counts,
            Err(e) => {
                self.forget_set(&set_id).await;
                return Err(e);
            }
        };
        let audit = AuditEntry {
            actor: Some(who.user.login.clone()),
            registry: Some(registry.clone()),
            crate_name: Some(krate.clone()),
            version: Some(vers.clone()),
            detail: Some(format!("files={files} bytes={bytes} set={set_id}")),
            token_id: (who.token_id != 0).then_some(who.token_id),
            client_addr: who.origin.client_addr.clone(),
            user_agent: who.origin.user_agent.clone(),
            ..AuditEntry::new(AuditAction::DocsUpload, AuditOutcome::Ok)
        };
        let new = NewDocsSet {
            set_id: set_id.clone(),
            root,
            source: "upload",
            files: files as i64,
            bytes: bytes as i64,
        };
        if let Err(e) = self.meta.put_docs_set(*version_id, &new, &audit).await {
            self.forget_set(&set_id).await;
            return Err(e.into());
        }
        self.docs_changed(registry, krate);
        self.keep_budget_of(registry).await;
        tracing::info!(registry = %registry, krate = %krate, version = %vers, files, bytes, user = %who.user.login, "documentation uploaded");
        Ok(DocsUploaded {
            files,
            bytes,
            url: format!("/r/{registry}/docs/{krate}/{vers}/"),
        })
    }

    /// Unpacks `body` into set `set_id` of the blob store, a few files in
    /// flight at a time; returns the directory of the crate's own pages
    /// (`root`, or the only top directory with an `index.html` when the
    /// library is named otherwise), the files and the bytes.
    async fn write_set(
        &self,
        set_id: &str,
        root: &str,
        body: Bytes,
    ) -> Result<(String, u64, u64), ServiceError> {
        let bounds = Bounds {
            total: self.config.docs.max_unpacked_mib * MIB,
            file: MAX_FILE_BYTES.min(self.config.docs.max_unpacked_mib * MIB),
            files: self.config.docs.max_files,
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(String, Bytes)>(WRITES_IN_FLIGHT);
        let reader = tokio::task::spawn_blocking(move || {
            archive::read(&body, bounds, |path, bytes| {
                tx.blocking_send((path, bytes)).is_ok()
            })
        });
        let mut tops: Vec<String> = Vec::new();
        let want = format!("{root}/index.html");
        let mut failed = None;
        let mut writes = futures::stream::FuturesUnordered::new();
        use futures::StreamExt;
        loop {
            tokio::select! {
                next = rx.recv(), if writes.len() < WRITES_IN_FLIGHT && failed.is_none() => {
                    let Some((path, bytes)) = next else { break };
                    if let Some(top) = path.strip_suffix("/index.html").filter(|t| !t.contains('/')) {
                        tops.push(top.to_string());
                    }
                    let blobs = self.blobs.clone();
                    let set = set_id.to_string();
                    writes.push(async move { put_file(&blobs, &set, &path, bytes).await });
                }
                Some(done) = writes.next(), if !writes.is_empty() => {
                    if let Err(e) = done {
                        failed.get_or_insert(e);
                    }
                }
                else => break,
            }
            if failed.is_some() {
                break;
            }
        }
        drop(rx);
        while let Some(done) = writes.next().await {
            if let Err(e) = done {
                failed.get_or_insert(e);
            }
        }
        let read = reader
            .await
            .map_err(|e| ServiceError::Internal(format!("reading the archive: {e}")))?;
        if let Some(e) = failed {
            return Err(e);
        }
        let counts = read.map_err(|e| match e {
            ArchiveError::TooBig(_) | ArchiveError::FileTooBig(..) | ArchiveError::TooMany(_) => {
                ServiceError::TooLarge(e.to_string())
            }
            _ => ServiceError::BadRequest(e.to_string()),
        })?;
        let found = if tops.iter().any(|t| t == root) {
            Some(root.to_string())
        } else if tops.len() == 1 {
            tops.pop()
        } else {
            None
        };
        let Some(found) = found else {
            return Err(ServiceError::BadRequest(format!(
                "the archive has no `{want}`: upload the output of `cargo doc` for this crate \
                 (`tar czf docs.tar.gz -C target doc`)"
            )));
        };
        Ok((found, counts.0, counts.1))
    }

    /// Forgets the docs sets this node read for a crate (they changed).
    pub(crate) fn docs_changed(&self, registry: &str, name: &str) {
        if let Some(reg) = self.registries.get(registry) {
            self.docs_sets
                .forget(reg.id, &berth_protocol::canonical_name(name));
        }
    }

    /// Keeps registry `name` within its docs budget after a set was
    /// stored; a failure is logged (the next tidying tries again).
    async fn keep_budget_of(&self, name: &str) {
        let Some(reg) = self.registries.get(name) else {
            return;
        };
        if let Err(e) = self.keep_docs_budget(reg).await {
            tracing::warn!(registry = %name, error = %e, "could not keep the registry within its docs budget; the next tidying tries again");
        }
    }

    /// Deletes a set's files; a failure is logged (the files stay, unused).
    async fn forget_set(&self, set_id: &str) {
        if let Err(e) = self.blobs.delete_docs_set(set_id).await {
            tracing::warn!(set = %set_id, error = %e, "could not delete a documentation set's files; they stay unused");
        }
    }

    /// The build of a version's docs, if one was ever queued, for a
    /// reader of the registry.
    pub async fn docs_build_of(
        &self,
        registry: &str,
        who: Option<&Identity>,
        name: &str,
        vers: &str,
    ) -> Result<Option<DocsBuild>, ServiceError> {
        let reg = self.hosted_for(registry, who, name).await?;
        let Some(version_id) = self.version_id(reg, name, vers).await? else {
            return Ok(None);
        };
        Ok(self.meta.docs_build(version_id).await?)
    }

    /// The build of a version's docs, for the operator (`berth docs
    /// status`: no read rule).
    pub async fn docs_build_status(
        &self,
        registry: &str,
        name: &str,
        vers: &str,
    ) -> Result<Option<DocsBuild>, ServiceError> {
        let reg = self.registry(registry)?;
        let Some(version_id) = self.version_id(reg, name, vers).await? else {
            return Ok(None);
        };
        Ok(self.meta.docs_build(version_id).await?)
    }

    /// Queues a version's docs build again (`berth docs rebuild`),
    /// audited.
    pub async fn rebuild_docs(
        &self,
        by: Option<&Identity>,
        registry: &str,
        name: &str,
        vers: &str,
    ) -> Result<(), ServiceError> {
        let reg = self.registry(registry)?;
        let version_id = self.version_id(reg, name, vers).await?.ok_or_else(|| {
            ServiceError::NotFound(format!(
                "crate `{name}` has no version `{vers}` in registry `{registry}`"
            ))
        })?;
        let audit = AuditEntry {
            registry: Some(reg.name.clone()),
            crate_name: Some(name.to_string()),
            version: Some(vers.to_string()),
            ..Self::admin_audit(by, AuditAction::DocsRebuild)
        };
        self.meta.queue_docs_rebuild(version_id, &audit).await?;
        Ok(())
    }

    /// The id of a version of a hosted crate, if it exists.
    async fn version_id(
        &self,
        reg: &crate::Registry,
        name: &str,
        vers: &str,
    ) -> Result<Option<i64>, ServiceError> {
        let Ok(version) = berth_protocol::validate_version(vers) else {
            return Ok(None);
        };
        Ok(self
            .meta
            .download_info(
                reg.id,
                &berth_protocol::canonical_name(name),
                &berth_protocol::canonical_version(&version),
            )
            .await?
            .map(|v| v.version_id))
    }

    /// Every version of a crate that has documentation (crate pages), if
    /// the caller may read the registry.
    pub async fn docs_of(
        &self,
        registry: &str,
        who: Option<&Identity>,
        name: &str,
    ) -> Result<Vec<DocsSet>, ServiceError> {
        let reg = self.hosted_for(registry, who, name).await?;
        Ok(self
            .meta
            .docs_sets(reg.id, &berth_protocol::canonical_name(name))
            .await?)
    }

    /// File `path` of version `vers`'s documentation (`latest`: the
    /// newest version with documentation that is not yanked), for a
    /// reader of the registry; its gzip variant when `gzip` (the client
    /// takes it) and the file is text. The version's top (`path` empty) redirects
    /// to the crate's own page; a directory path means its `index.html`.
    pub async fn docs_file(
        &self,
        registry: &str,
        who: Option<&Identity>,
        name: &str,
        vers: &str,
        path: &str,
        gzip: bool,
    ) -> Result<DocsAnswer, ServiceError> {
        let reg = self.hosted_for(registry, who, name).await?;
        let key = (reg.id, berth_protocol::canonical_name(name));
        let sets = match self.docs_sets.get(&key) {
            Some(sets) => sets,
            None => {
                let sets = std::sync::Arc::new(self.meta.docs_sets(reg.id, &key.1).await?);
                self.docs_sets.put(key, sets.clone());
                sets
            }
        };
        let none = || {
            ServiceError::NotFound(format!(
                "crate `{name}` has no documentation for version `{vers}` in registry `{}`",
                reg.name
            ))
        };
        let set = pick(&sets, vers).ok_or_else(none)?;
        if path.is_empty() {
            return Ok(DocsAnswer::Redirect(format!("{}/index.html", set.root)));
        }
        let trimmed = path.trim_end_matches('/');
        if !archive::servable(trimmed) {
            return Err(ServiceError::NotFound(format!(
                "no file `{path}` in the docs"
            )));
        }
        let mut file = trimmed.to_string();
        if path.ends_with('/') {
            file.push_str("/index.html");
        }
        // A text file is sent compressed to a client that takes gzip, from
        // the variant stored beside it (a set stored before variants were
        // made has none: it is sent plain).
        let text = compressible(&file);
        let variant = match gzip && text {
            true => self.docs_bytes(&set.set_id, &gz_key(&file)).await?,
            false => None,
        };
        let gzipped = variant.is_some();
        let found = match variant {
            Some(v) => Some(v),
            None => self.docs_bytes(&set.set_id, &file).await?,
        };
        let Some((size, body)) = found else {
            return Err(ServiceError::NotFound(format!(
                "no file `{path}` in the docs of `{name}` {}",
                set.vers
            )));
        };
        Ok(DocsAnswer::File {
            size,
            body,
            content_type: content_type(&file),
            immutable: file.starts_with("static.files/"),
            restricted: reg.restricted,
            gzipped,
            varies: text,
            etag: format!("\"{}{}\"", set.set_id, if gzipped { "-gz" } else { "" }),
        })
    }

    /// One stored file of a set (`None` when it is missing). A set's
    /// files never change: small ones are kept in memory with the small
    /// `.crate`s, under the same budget, and sent whole.
    async fn docs_bytes(
        &self,
        set_id: &str,
        file: &str,
    ) -> Result<Option<(u64, DocsBody)>, ServiceError> {
        let kept_as = format!("docs/{set_id}/{file}");
        if let Some(bytes) = self.download_cache.blob(&kept_as) {
            return Ok(Some((bytes.len() as u64, DocsBody::Whole(bytes))));
        }
        let Some((size, stream)) = self.blobs.get_docs_file(set_id, file).await? else {
            return Ok(None);
        };
        if !self.download_cache.keeps(size) {
            let stream = Box::pin(stream.map_err(std::io::Error::other));
            return Ok(Some((size, DocsBody::Stream(stream))));
        }
        let bytes: Vec<Bytes> = stream
            .try_collect()
            .await
            .map_err(|e| ServiceError::Internal(format!("reading a docs file: {e}")))?;
        let bytes = self.download_cache.put_blob(kept_as, bytes.concat().into());
        Ok(Some((size, DocsBody::Whole(bytes))))
    }
}

/// The set `vers` names: an exact version (build metadata aside), or
/// `latest`, the newest not yanked (stable before pre-releases), else the
/// newest.
fn pick<'a>(sets: &'a [DocsSet], vers: &str) -> Option<&'a DocsSet> {
    let parse = |s: &DocsSet| semver::Version::parse(&s.vers).ok();
    if vers == "latest" {
        let best = |only_stable: bool| {
            sets.iter()
                .filter(|s| !s.yanked)
                .filter_map(|s| parse(s).map(|v| (v, s)))
                .filter(|(v, _)| !only_stable || v.pre.is_empty())
                .max_by(|a, b| a.0.cmp_precedence(&b.0))
                .map(|(_, s)| s)
        };
        return best(true).or_else(|| best(false)).or_else(|| sets.last());
    }
    let want = semver::Version::parse(vers).ok()?;
    sets.iter()
        .find(|s| parse(s).is_some_and(|v| v.cmp_precedence(&want).is_eq()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(vers: &str, yanked: bool) -> DocsSet {
        DocsSet {
            vers: vers.into(),
            yanked,
            set_id: format!("s{vers}"),
            root: "a".into(),
            source: "upload".into(),
            files: 1,
            bytes: 1,
            created_by: None,
            created_at: 0,
        }
    }

    #[test]
    fn latest_is_the_newest_stable_version_not_yanked() {
        let sets = [
            set("1.0.0", false),
            set("1.2.0", true),
            set("1.1.0", false),
            set("2.0.0-rc.1", false),
        ];
        assert_eq!(pick(&sets, "latest").unwrap().vers, "1.1.0");
        assert_eq!(pick(&sets, "1.2.0").unwrap().vers, "1.2.0");
        assert_eq!(pick(&sets, "1.2.0+build").unwrap().vers, "1.2.0");
        assert!(pick(&sets, "3.0.0").is_none());
        let pre = [set("2.0.0-rc.1", false), set("2.0.0-rc.2", false)];
        assert_eq!(pick(&pre, "latest").unwrap().vers, "2.0.0-rc.2");
    }

    #[test]
    fn rustdoc_files_get_their_types() {
        assert_eq!(content_type("a/index.html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type("static.files/main-1234.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("static.files/x.woff2"), "font/woff2");
        assert_eq!(content_type("x.bin"), "application/octet-stream");
    }
}
