//! Security advisories for crates, read offline: the RustSec advisory
//! database (a checkout of its repository, or a `.tar.gz`, `.tar` or `.zip`
//! of one) and OSV records (a directory or archive of `.json` files), into
//! an [`AdvisorySet`] indexed by crate name that answers "which advisories
//! affect this version?".
//!
//! This crate owns the formats and the affected-version test. It never
//! writes, never opens a socket, never reads a clock and never touches a
//! database: it reads the directory or archive it is handed, bounded by
//! [`Limits`], and returns a value. An import is all or nothing (a corrupt
//! archive, an unsafe member path or one malformed advisory fails it, so the
//! caller keeps its previous set) and deterministic (the same input gives
//! the same set and [`AdvisorySet::digest`]).
//!
//! Timing an import of a large set: `cargo run --release -p berth-advisory
//! --example time_import` generates 1,200 advisories in the real format,
//! packs them as a directory, a `.tar.gz` and a `.zip`, and times each import.

#![forbid(unsafe_code)]

mod error;
mod input;
mod model;
mod osv;
mod rustsec;
mod set;

use std::io::{BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::Path;

pub use error::ImportError;
pub use input::Limits;
pub use model::{
    Advisory, Informational, Kind, OsvAffected, OsvEvent, OsvRange, MAX_DESCRIPTION_CHARS,
};
pub use osv::OSV_ECOSYSTEM;
pub use set::AdvisorySet;

use input::{ArchiveKind, FileKind, InputFile};

/// Imports a directory, or an archive file (recognised by its first bytes,
/// whatever its name).
pub fn import_path(path: &Path, limits: &Limits) -> Result<AdvisorySet, ImportError> {
    let io_err = |source| ImportError::Io {
        path: path.display().to_string(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io_err)?;
    if meta.is_dir() {
        return build(input::read_dir(path, limits)?);
    }
    let mut file = std::fs::File::open(path).map_err(io_err)?;
    let mut head = Vec::with_capacity(512);
    (&mut file)
        .take(512)
        .read_to_end(&mut head)
        .map_err(io_err)?;
    file.seek(SeekFrom::Start(0)).map_err(io_err)?;
    let kind = input::sniff(&head).ok_or_else(|| ImportError::UnknownInput {
        path: path.display().to_string(),
    })?;
    read_archive(kind, BufReader::new(file), meta.len(), limits)
}

/// Imports an archive held in memory (a `.tar.gz`, `.tar` or `.zip`,
/// recognised by its first bytes).
pub fn import_bytes(bytes: &[u8], limits: &Limits) -> Result<AdvisorySet, ImportError> {
    let kind = input::sniff(bytes).ok_or_else(|| ImportError::UnknownInput {
        path: "(archive bytes)".to_owned(),
    })?;
    read_archive(kind, Cursor::new(bytes), bytes.len() as u64, limits)
}

fn read_archive(
    kind: ArchiveKind,
    reader: impl Read + Seek,
    len: u64,
    limits: &Limits,
) -> Result<AdvisorySet, ImportError> {
    let files = match kind {
        // Every gzip member, as gunzip reads them: trailing bytes that are
        // not one make the archive corrupt.
        ArchiveKind::Gzip => input::read_tar(flate2::read::MultiGzDecoder::new(reader), limits)?,
        ArchiveKind::Tar => input::read_tar(reader, limits)?,
        ArchiveKind::Zip => input::read_zip(reader, len, limits)?,
    };
    build(files)
}

/// Parses every file (in path order) and builds the set; a duplicate id for
/// one crate fails the import.
fn build(mut files: Vec<InputFile>) -> Result<AdvisorySet, ImportError> {
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut seen: std::collections::HashMap<(String, String), String> = Default::default();
    let mut all = Vec::new();
    for file in &files {
        let parsed = match &file.kind {
            FileKind::Osv => osv::parse(&file.path, &file.bytes)?,
            FileKind::Markdown { dir } => {
                vec![rustsec::parse_markdown(&file.path, dir, utf8(file)?)?]
            }
            FileKind::Toml { dir } => vec![rustsec::parse_toml(&file.path, dir, utf8(file)?)?],
        };
        for advisory in parsed {
            let key = (
                berth_protocol::canonical_name(&advisory.package),
                advisory.id.clone(),
            );
            if let Some(first) = seen.get(&key) {
                return Err(ImportError::Duplicate {
                    path: file.path.clone(),
                    id: advisory.id,
                    package: advisory.package,
                    first: first.clone(),
                });
            }
            seen.insert(key, file.path.clone());
            all.push(advisory);
        }
    }
    Ok(AdvisorySet::from_advisories(all))
}

fn utf8(file: &InputFile) -> Result<&str, ImportError> {
    std::str::from_utf8(&file.bytes)
        .map_err(|_| ImportError::malformed(&file.path, "not UTF-8 text"))
}
