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

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::Cell;
use std::collections::HashSet;
use std::fmt;
use std::hash::BuildHasher;
use std::io::{self, Read};
use std::path::{Component, Path};

use flate2::bufread::GzDecoder;
use tar::EntryType;

/// Upper bounds applied while inspecting one `.crate` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Max total bytes after decompression (sum of entry sizes + headers). Default 512 MiB.
    pub max_unpacked_size: u64,
    /// Max number of entries in the archive. Default 50_000.
    pub max_entries: u64,
    /// Max bytes of Cargo.toml read. Default 1 MiB.
    pub max_manifest_size: u64,
    /// Max bytes of README accepted; a larger README is refused with
    /// [`TarballError::ReadmeTooLarge`] (never truncated). Default 1 MiB.
    pub max_readme_size: u64,
    /// Max bytes of an entry's path (GNU long names and PAX `path` records
    /// included). Default 1024: macOS's `PATH_MAX`, which also has to hold
    /// the directory cargo unpacks into, so a longer path is one cargo
    /// cannot unpack there (nor store on Windows), and no crate needs it.
    pub max_path_len: u64,
    /// Max bytes the tar reader may consume between two entries: header
    /// blocks, GNU long-name and long-link records, PAX extended headers and
    /// padding. A record claiming more is refused once this many bytes have
    /// been read, before it is buffered. Global PAX headers are held to the
    /// same bound. Default 64 KiB (a cargo-built entry needs at most ~2 KiB).
    pub max_header_bytes: u64,
}

/// Longest path component (file or directory name) accepted, in bytes: the
/// `NAME_MAX` of every file system cargo unpacks onto (ext4, APFS, NTFS).
pub const MAX_COMPONENT_LEN: usize = 255;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_unpacked_size: 512 * 1024 * 1024,
            max_entries: 50_000,
            max_manifest_size: 1024 * 1024,
            max_readme_size: 1024 * 1024,
            max_path_len: 1024,
            max_header_bytes: 64 * 1024,
        }
    }
}

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

/// The kind of a tar entry that a `.crate` file may not contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Symlink,
    HardLink,
    CharDevice,
    BlockDevice,
    Fifo,
    Sparse,
    /// Any other tar type flag, given as its raw byte.
    Other(u8),
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryKind::Symlink => f.write_str("symbolic link"),
            EntryKind::HardLink => f.write_str("hard link"),
            EntryKind::CharDevice => f.write_str("character device"),
            EntryKind::BlockDevice => f.write_str("block device"),
            EntryKind::Fifo => f.write_str("FIFO (named pipe)"),
            EntryKind::Sparse => f.write_str("sparse file"),
            EntryKind::Other(b) if b.is_ascii_graphic() => {
                write!(f, "tar entry of unsupported type `{}`", char::from(*b))
            }
            EntryKind::Other(b) => write!(f, "tar entry of unsupported type 0x{b:02x}"),
        }
    }
}

impl EntryKind {
    fn of(kind: EntryType) -> Self {
        match kind {
            EntryType::Symlink => EntryKind::Symlink,
            EntryType::Link => EntryKind::HardLink,
            EntryType::Char => EntryKind::CharDevice,
            EntryType::Block => EntryKind::BlockDevice,
            EntryType::Fifo => EntryKind::Fifo,
            EntryType::GNUSparse => EntryKind::Sparse,
            other => EntryKind::Other(other.as_byte()),
        }
    }
}

/// Why a `.crate` file was refused. Every message is meant to be shown to the
/// person running `cargo publish`. Paths and names taken from the archive are
/// shown with control characters escaped and very long values shortened.
#[derive(Debug, thiserror::Error)]
pub enum TarballError {
    #[error("the .crate file is not a valid gzip stream: {message}")]
    InvalidGzip { message: String },
    #[error("the .crate file has data after the end of its gzip stream")]
    TrailingGzipData,
    #[error("the .crate file is not a valid tar archive: {message}")]
    InvalidTar { message: String },
    #[error("the .crate file has data after the end of its tar archive")]
    TrailingTarData,
    #[error("the .crate file unpacks to more than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the .crate file has more than {limit} entries")]
    TooManyEntries { limit: u64 },
    #[error("entry `{path}` in the .crate file is outside `{root}/`")]
    OutsideRoot { path: String, root: String },
    #[error("entry `{path}` in the .crate file has an invalid path: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    #[error("entry `{path}` in the .crate file has a path of {len} bytes, more than the {limit} allowed")]
    PathTooLong {
        path: String,
        len: usize,
        limit: u64,
    },
    #[error(
        "the .crate file has more than {limit} bytes of tar header records (long names, long links \
         or PAX extended headers) before one entry"
    )]
    HeaderTooLarge { limit: u64 },
    #[error("`{path}` is a {kind}; .crate files may only contain regular files and directories")]
    UnsupportedEntry { path: String, kind: EntryKind },
    #[error("duplicate entry `{path}` in the .crate file")]
    DuplicateEntry { path: String },
    #[error("the .crate file has no `{path}`")]
    MissingManifest { path: String },
    #[error("`{path}` in the .crate file is larger than {limit} bytes")]
    ManifestTooLarge { path: String, limit: u64 },
    #[error("the Cargo.toml in the .crate file is not valid TOML: {message}")]
    InvalidManifest { message: String },
    #[error("the Cargo.toml in the .crate file has no string `package.{field}`")]
    ManifestMissingField { field: &'static str },
    #[error(
        "the Cargo.toml in the .crate file names package `{found}`, but the upload is for `{expected}`"
    )]
    NameMismatch { found: String, expected: String },
    #[error(
        "the Cargo.toml in the .crate file has version `{found}`, but the upload is for version `{expected}`"
    )]
    VersionMismatch { found: String, expected: String },
    #[error("the README `{path}` in the .crate file is larger than {limit} bytes")]
    ReadmeTooLarge { path: String, limit: u64 },
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

/// Archive paths (normalised, no trailing slash) whose contents we keep.
struct Wanted {
    manifest: String,
    readme: Option<String>,
}

/// What one pass over the tar stream collected.
struct Found {
    manifest: Option<Vec<u8>>,
    readme: Option<Vec<u8>>,
    files: u64,
}

/// Something the decompressing reader observed before it returned an error.
/// The tar crate passes reader errors through as plain `io::Error`s, so the
/// reader records the real cause here for [`Failure::resolve`].
enum Fault {
    Gzip(String),
    TooLarge,
    HeaderTooLarge,
}

/// An error inside the scan: either already a verdict, or an I/O error whose
/// cause must be looked up in the recorded [`Fault`].
enum Failure {
    Io(io::Error),
    Refused(TarballError),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Io(e)
    }
}

impl From<TarballError> for Failure {
    fn from(e: TarballError) -> Self {
        Failure::Refused(e)
    }
}

impl Failure {
    fn resolve(self, fault: Option<Fault>, limits: &Limits) -> TarballError {
        match (self, fault) {
            (Failure::Refused(e), _) => e,
            (Failure::Io(_), Some(Fault::TooLarge)) => TarballError::TooLarge {
                limit: limits.max_unpacked_size,
            },
            (Failure::Io(_), Some(Fault::HeaderTooLarge)) => TarballError::HeaderTooLarge {
                limit: limits.max_header_bytes,
            },
            (Failure::Io(_), Some(Fault::Gzip(message))) => TarballError::InvalidGzip { message },
            (Failure::Io(e), None) => TarballError::InvalidTar {
                message: shown(&e.to_string()),
            },
        }
    }
}

/// Counts decompressed bytes and fails once more than `limit` have come out:
/// the gzip-bomb defence. It never asks the decoder for more than one byte
/// past the limit, so the work done is bounded by the limit too.
///
/// While the tar crate is between entries (`between` holds the bytes read
/// since the last entry was handed out) it reads header blocks and the
/// records it buffers whole (GNU long names and links, PAX extended
/// headers); there the reader allows only `header_limit` bytes, so a record
/// that claims 500 MiB costs at most that much memory before it is refused.
struct Bounded<'f, R> {
    inner: R,
    read: u64,
    limit: u64,
    between: &'f Cell<Option<u64>>,
    header_limit: u64,
    fault: &'f Cell<Option<Fault>>,
}

impl<R> Bounded<'_, R> {
    fn record(&self, fault: Fault) {
        let first = self.fault.take().unwrap_or(fault);
        self.fault.set(Some(first));
    }
}

impl<R: Read> Read for Bounded<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut allowed = self.limit.saturating_sub(self.read).saturating_add(1);
        if let Some(header_read) = self.between.get() {
            allowed = allowed.min(
                self.header_limit
                    .saturating_sub(header_read)
                    .saturating_add(1),
            );
        }
        let len = usize::try_from(allowed).map_or(buf.len(), |a| a.min(buf.len()));
        let Some(window) = buf.get_mut(..len) else {
            return Ok(0);
        };
        let n = match self.inner.read(window) {
            Ok(n) => n,
            Err(e) => {
                self.record(Fault::Gzip(e.to_string()));
                return Err(e);
            }
        };
        self.read = self.read.saturating_add(n as u64);
        if self.read > self.limit {
            self.record(Fault::TooLarge);
            return Err(io::Error::other("decompressed size limit exceeded"));
        }
        if let Some(header_read) = self.between.get() {
            let header_read = header_read.saturating_add(n as u64);
            self.between.set(Some(header_read));
            if header_read > self.header_limit {
                self.record(Fault::HeaderTooLarge);
                return Err(io::Error::other("tar header record limit exceeded"));
            }
        }
        Ok(n)
    }
}

/// Walks every tar entry once, validating it and reading its data through.
/// `between` tells the reader whether the tar crate is reading an entry's
/// data (`None`) or the headers before the next entry (`Some(bytes)`).
fn scan<R: Read>(
    reader: &mut R,
    between: &Cell<Option<u64>>,
    root: &str,
    wanted: &Wanted,
    limits: &Limits,
) -> Result<Found, Failure> {
    let mut archive = tar::Archive::new(reader);
    // Paths seen so far, as keyed 128-bit hashes: a few bytes per entry
    // whatever the paths' length. Equal paths always collide, so no
    // duplicate is missed; two different paths colliding (and the archive
    // being refused as a duplicate) is a 2^-100 chance.
    let keys = (std::hash::RandomState::new(), std::hash::RandomState::new());
    let mut seen: HashSet<u128> = HashSet::new();
    let mut found = Found {
        manifest: None,
        readme: None,
        files: 0,
    };
    let mut entries_seen: u64 = 0;

    let mut entries = archive.entries()?;
    loop {
        between.set(Some(0));
        let Some(entry) = entries.next() else {
            break;
        };
        let mut entry = entry?;
        between.set(None);
        entries_seen += 1;
        if entries_seen > limits.max_entries {
            return Err(TarballError::TooManyEntries {
                limit: limits.max_entries,
            }
            .into());
        }
        let size = entry.size();
        let kind = entry.header().entry_type();
        if kind == EntryType::XGlobalHeader {
            // Global PAX headers carry no file; the tar crate (like cargo)
            // does not apply them to later entries. They are header records
            // all the same, held to the same bound.
            if size > limits.max_header_bytes {
                return Err(TarballError::HeaderTooLarge {
                    limit: limits.max_header_bytes,
                }
                .into());
            }
            skip_data(&mut entry, size, "pax_global_header")?;
            continue;
        }

        let (path, trailing_slash) = check_path(&entry.path_bytes(), root, limits)?;
        let is_dir = match kind {
            EntryType::Directory => true,
            // Old tar writers mark directories with a trailing slash only;
            // the tar crate unpacks those as directories, so do we.
            EntryType::Regular | EntryType::Continuous => trailing_slash,
            other => {
                return Err(TarballError::UnsupportedEntry {
                    path: shown(&path),
                    kind: EntryKind::of(other),
                }
                .into())
            }
        };
        if !is_dir && !path.contains('/') {
            return Err(TarballError::InvalidPath {
                path: shown(&path),
                reason: "the package root must be a directory",
            }
            .into());
        }

        // A file and a directory at the same path also collide here.
        let key = (u128::from(keys.0.hash_one(&path)) << 64) | u128::from(keys.1.hash_one(&path));
        if !seen.insert(key) {
            return Err(TarballError::DuplicateEntry { path: shown(&path) }.into());
        }

        let is_manifest = !is_dir && path == wanted.manifest;
        let is_readme = !is_dir && wanted.readme.as_deref() == Some(path.as_str());
        if is_manifest && size > limits.max_manifest_size {
            return Err(TarballError::ManifestTooLarge {
                path: shown(&path),
                limit: limits.max_manifest_size,
            }
            .into());
        }
        if is_readme && size > limits.max_readme_size {
            return Err(TarballError::ReadmeTooLarge {
                path: shown(&path),
                limit: limits.max_readme_size,
            }
            .into());
        }

        if is_manifest || is_readme {
            let data = read_data(&mut entry, size, &path)?;
            if is_readme {
                found.readme = Some(data.clone());
            }
            if is_manifest {
                found.manifest = Some(data);
            }
        } else {
            skip_data(&mut entry, size, &path)?;
        }
        if !is_dir {
            found.files += 1;
        }
    }
    Ok(found)
}

/// Reads an entry's data to nowhere, checking it is as long as its header says.
fn skip_data<R: Read>(entry: &mut R, size: u64, path: &str) -> Result<(), Failure> {
    let n = io::copy(entry, &mut io::sink())?;
    if n == size {
        Ok(())
    } else {
        Err(truncated(path))
    }
}

/// Reads an entry's data into memory; `size` has already been checked
/// against the relevant limit.
fn read_data<R: Read>(entry: &mut R, size: u64, path: &str) -> Result<Vec<u8>, Failure> {
    let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    entry.read_to_end(&mut data)?;
    if data.len() as u64 == size {
        Ok(data)
    } else {
        Err(truncated(path))
    }
}

fn truncated(path: &str) -> Failure {
    Failure::Refused(TarballError::InvalidTar {
        message: format!("entry `{}` is truncated", shown(path)),
    })
}

/// After the tar end-of-archive marker only zero padding may follow; anything
/// else could be read differently by another unpacker.
fn drain_tail<R: Read>(reader: &mut R) -> Result<(), Failure> {
    let mut buf = [0u8; 8192];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        if buf.iter().take(n).any(|b| *b != 0) {
            return Err(TarballError::TrailingTarData.into());
        }
    }
}

/// Validates an entry path and returns it without any trailing slash, plus
/// whether it had one. The path must be `{root}` followed by plain names, no
/// longer than the limits.
fn check_path(raw: &[u8], root: &str, limits: &Limits) -> Result<(String, bool), TarballError> {
    if raw.len() as u64 > limits.max_path_len {
        return Err(TarballError::PathTooLong {
            path: shown(&String::from_utf8_lossy(raw)),
            len: raw.len(),
            limit: limits.max_path_len,
        });
    }
    let Ok(text) = std::str::from_utf8(raw) else {
        return Err(TarballError::InvalidPath {
            path: shown(&String::from_utf8_lossy(raw)),
            reason: "it is not valid UTF-8",
        });
    };
    let invalid = |reason| TarballError::InvalidPath {
        path: shown(text),
        reason,
    };
    let outside = || TarballError::OutsideRoot {
        path: shown(text),
        root: shown(root),
    };
    if text.contains('\\') {
        return Err(invalid("it contains a backslash"));
    }
    if text.contains('\0') {
        return Err(invalid("it contains a NUL byte"));
    }
    let (body, trailing_slash) = match text.strip_suffix('/') {
        Some(body) => (body, true),
        None => (text, false),
    };
    let mut segments = body.split('/');
    if segments.next() != Some(root) {
        return Err(outside());
    }
    for segment in segments {
        match segment {
            ".." => return Err(outside()),
            "" => return Err(invalid("it contains an empty component")),
            "." => return Err(invalid("it contains a `.` component")),
            long if long.len() > MAX_COMPONENT_LEN => {
                return Err(invalid(
                    "a component is longer than 255 bytes, which no file system cargo unpacks onto can store",
                ))
            }
            _ => {}
        }
    }
    // Cross-check with std's parser so no root, prefix or parent component
    // can slip through on any platform.
    let mut components = Path::new(body).components();
    let first_ok = matches!(components.next(), Some(Component::Normal(first)) if first == root);
    if !first_ok || !components.all(|c| matches!(c, Component::Normal(_))) {
        return Err(outside());
    }
    Ok((body.to_owned(), trailing_slash))
}

/// The archive path under which the README is expected, if any.
fn readme_key(root: &str, readme_path: &str) -> Option<String> {
    let mut path = readme_path;
    while let Some(rest) = path.strip_prefix("./") {
        path = rest;
    }
    if path.is_empty() {
        None
    } else {
        Some(format!("{root}/{path}"))
    }
}

/// Extracts `package.name` and `package.version` from manifest bytes.
fn parse_manifest(bytes: &[u8]) -> Result<(String, String), TarballError> {
    let text = std::str::from_utf8(bytes).map_err(|_| TarballError::InvalidManifest {
        message: "it is not valid UTF-8".to_owned(),
    })?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let line = e
            .span()
            .and_then(|span| text.get(..span.start))
            .map(|before| before.matches('\n').count() + 1);
        let message = shown(e.message().trim());
        TarballError::InvalidManifest {
            message: match line {
                Some(line) => format!("{message} (line {line})"),
                None => message,
            },
        }
    })?;
    let package = table.get("package").and_then(toml::Value::as_table);
    let field = |field: &'static str| {
        package
            .and_then(|p| p.get(field))
            .and_then(toml::Value::as_str)
            .map(str::to_owned)
            .ok_or(TarballError::ManifestMissingField { field })
    };
    Ok((field("name")?, field("version")?))
}

/// Makes archive-supplied text safe to embed in a one-line message: control
/// characters are escaped and anything past 200 characters is cut off.
fn shown(text: &str) -> String {
    const MAX_CHARS: usize = 200;
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == MAX_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
