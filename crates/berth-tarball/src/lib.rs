//! Bounded inspection of an uploaded `.crate` file (a gzip-compressed tar).
//!
//! This crate owns the decision "is this archive an acceptable package for
//! `{name}-{version}`?" and the extraction of the few facts the registry keeps
//! from it: the manifest's name and version, the README text, and size counts.
//! The archive is hostile input. This crate must never panic on it, never let
//! it allocate or decompress beyond the caller's [`Limits`], never touch the
//! filesystem, network or clock, and never unpack anything: it reads the
//! in-memory bytes once, front to back, and keeps nothing but `Cargo.toml` and
//! the README.
//!
//! Memory note: the tar crate buffers GNU long-name and long-link records and
//! PAX extended headers in full before the entry they describe. The reader
//! under it knows when the tar crate is between entries and refuses to give
//! it more than [`Limits::max_header_bytes`] there, so such a record is
//! refused after at most that many bytes, whatever size its header claims.
//! Paths are bounded by [`Limits::max_path_len`] and each path component by
//! [`MAX_COMPONENT_LEN`], beyond which no file system cargo unpacks onto
//! could store the file.
//!
//! Layout: [`inspect`] here drives one pass; `limits.rs` the bounds,
//! `reader.rs` the byte-counting reader under the tar parser, `scan.rs` the
//! walk over the entries, `paths.rs` what an entry's path may be,
//! `manifest.rs` the `Cargo.toml` fields, `error.rs` the refusals.

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod error;
mod limits;
mod manifest;
mod paths;
mod reader;
mod scan;

use std::cell::Cell;

use flate2::bufread::GzDecoder;

pub use error::{EntryKind, TarballError};
pub use limits::{Limits, MAX_COMPONENT_LEN};

use error::shown;
use manifest::parse_manifest;
use paths::readme_key;
use reader::Bounded;
use scan::{drain_tail, scan, Wanted};

/// What the registry learns from an accepted `.crate` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrateInfo {
    /// package.name from the Cargo.toml inside the archive
    pub manifest_name: String,
    /// package.version from the Cargo.toml inside the archive
    pub manifest_version: String,
    /// The README text, if `readme_path` was given and that file is in the
    /// archive (UTF-8; invalid UTF-8 replaced lossily)
    pub readme: Option<String>,
    /// Number of regular files in the archive (for logs/metrics).
    pub files: u64,
    /// Total decompressed bytes of the tar stream, headers and padding
    /// included (the quantity bounded by [`Limits::max_unpacked_size`]).
    pub unpacked_size: u64,
}

/// Inspects a `.crate` file held in memory.
///
/// `name` and `version` are the crate name and version exactly as in the
/// publish metadata (the archive's root directory must be exactly
/// `{name}-{version}/`). `readme_path` is the `readme_file` from the publish
/// metadata, relative to the package root; a leading `./` is ignored and any
/// other path is looked up literally (so one containing `..` is never found).
pub fn inspect(
    bytes: &[u8],
    name: &str,
    version: &str,
    readme_path: Option<&str>,
    limits: &Limits,
) -> Result<CrateInfo, TarballError> {
    let root = format!("{name}-{version}");
    let wanted = Wanted {
        manifest: format!("{root}/Cargo.toml"),
        readme: readme_path.and_then(|p| readme_key(&root, p)),
    };
    let fault = Cell::new(None);
    let between = Cell::new(Some(0));
    let mut reader = Bounded {
        inner: GzDecoder::new(bytes),
        read: 0,
        limit: limits.max_unpacked_size,
        between: &between,
        header_limit: limits.max_header_bytes,
        fault: &fault,
    };

    let found = scan(&mut reader, &between, &root, &wanted, limits)
        .and_then(|found| {
            // Zero padding after the end marker is streamed, never buffered.
            between.set(None);
            drain_tail(&mut reader).map(|()| found)
        })
        .map_err(|failure| failure.resolve(fault.take(), limits))?;
    if !reader.inner.get_ref().is_empty() {
        return Err(TarballError::TrailingGzipData);
    }

    let manifest = found
        .manifest
        .ok_or_else(|| TarballError::MissingManifest {
            path: shown(&wanted.manifest),
        })?;
    let (manifest_name, manifest_version) = parse_manifest(&manifest)?;
    if manifest_name != name {
        return Err(TarballError::NameMismatch {
            found: shown(&manifest_name),
            expected: shown(name),
        });
    }
    if manifest_version != version {
        return Err(TarballError::VersionMismatch {
            found: shown(&manifest_version),
            expected: shown(version),
        });
    }

    Ok(CrateInfo {
        manifest_name,
        manifest_version,
        readme: found
            .readme
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        files: found.files,
        unpacked_size: reader.read,
    })
}
