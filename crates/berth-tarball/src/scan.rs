//! One pass over the tar entries: each path checked, each kind allowed,
//! duplicates refused, the manifest and README read into memory and every
//! other entry's data read through to nowhere; then the zero padding after
//! the end marker. Keeps nothing else of the archive.

use std::cell::Cell;
use std::collections::HashSet;
use std::hash::BuildHasher;
use std::io::{self, Read};

use tar::EntryType;

use crate::error::{shown, EntryKind, TarballError};
use crate::limits::Limits;
use crate::paths::check_path;
use crate::reader::Failure;

/// Archive paths (normalised, no trailing slash) whose contents we keep.
pub(crate) struct Wanted {
    pub(crate) manifest: String,
    pub(crate) readme: Option<String>,
}

/// What one pass over the tar stream collected.
pub(crate) struct Found {
    pub(crate) manifest: Option<Vec<u8>>,
    pub(crate) readme: Option<Vec<u8>>,
    pub(crate) files: u64,
}

/// Walks every tar entry once, validating it and reading its data through.
/// `between` tells the reader whether the tar crate is reading an entry's
/// data (`None`) or the headers before the next entry (`Some(bytes)`).
pub(crate) fn scan<R: Read>(
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
pub(crate) fn drain_tail<R: Read>(reader: &mut R) -> Result<(), Failure> {
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
