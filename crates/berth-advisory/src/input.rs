//! Reading the files of an import, bounded: a directory (a checkout of the
//! advisory database, or a folder of OSV files), a `.tar.gz` or `.tar`, or a
//! `.zip`. Archives are hostile input: every member path is checked (an
//! absolute path or a `..` refuses the whole archive), nothing is unpacked,
//! links are never followed, and entries, bytes per file and total bytes
//! (decompressed) are counted against [`Limits`].
//!
//! Which files are advisories: `crates/NAME/ID.md` and `crates/NAME/ID.toml`
//! (RustSec; optionally under one top-level folder, as in an archive of a
//! checkout; the `RUSTSEC-0000-0000` draft is skipped), and any `.json` file
//! (OSV). Hidden files and folders (`.git`, `.github`) are skipped whole.
//! Everything else is skipped.

use std::cell::Cell;
use std::fs;
use std::io::{self, Read, Seek};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::error::ImportError;

/// Bounds on what one import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most directory entries or archive members looked at, advisories or
    /// not (hidden folders are not entered). Default 100,000.
    pub max_files: u64,
    /// Largest advisory file. Default 1 MiB (the largest real advisory is
    /// about 10 KiB).
    pub max_file_bytes: u64,
    /// Most bytes read in all: advisory files from a directory; everything
    /// decompressed from a tar; the advisory files and the archive itself
    /// for a zip. Default 128 MiB (the whole database is under 10 MiB).
    pub max_total_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_files: 100_000,
            max_file_bytes: 1 << 20,
            max_total_bytes: 128 << 20,
        }
    }
}

/// Folders deeper than this below the root of a directory input are not
/// entered (the database is three deep).
const MAX_DEPTH: usize = 8;

/// What an advisory file is, by its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// RustSec Markdown, filed under `crates/{dir}/`.
    Markdown { dir: String },
    /// RustSec TOML (the older format), filed under `crates/{dir}/`.
    Toml { dir: String },
    /// An OSV record.
    Osv,
}

/// One advisory file read from the input.
pub(crate) struct InputFile {
    /// Its path inside the input, `/`-separated.
    pub path: String,
    pub kind: FileKind,
    pub bytes: Vec<u8>,
}

/// What a path names, from its components (already checked to be safe).
pub(crate) fn classify(parts: &[&str]) -> Option<FileKind> {
    if parts.iter().any(|p| p.starts_with('.')) {
        return None;
    }
    let name = *parts.last()?;
    if name.ends_with(".json") {
        return Some(FileKind::Osv);
    }
    let tail = match parts {
        [_, "crates", _, _] => &parts[1..],
        ["crates", _, _] => parts,
        _ => return None,
    };
    let dir = tail[1].to_owned();
    if name.starts_with("RUSTSEC-0000-0000.") {
        return None;
    }
    if name.ends_with(".md") {
        Some(FileKind::Markdown { dir })
    } else if name.ends_with(".toml") {
        Some(FileKind::Toml { dir })
    } else {
        None
    }
}

/// Splits an archive member's path into its components, refusing an
/// absolute path, a drive prefix or a `..`. Empty and `.` components drop.
fn safe_parts(path: &str) -> Result<Vec<&str>, ImportError> {
    let unsafe_path = || ImportError::UnsafePath {
        path: path.to_owned(),
    };
    if path.starts_with(['/', '\\']) {
        return Err(unsafe_path());
    }
    let parts: Vec<&str> = path
        .split(['/', '\\'])
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.contains(&"..") || parts.first().is_some_and(|p| p.contains(':')) {
        return Err(unsafe_path());
    }
    Ok(parts)
}

/// The running count against the limits.
struct Budget {
    limits: Limits,
    files: u64,
    bytes: u64,
}

impl Budget {
    fn new(limits: &Limits) -> Self {
        Budget {
            limits: *limits,
            files: 0,
            bytes: 0,
        }
    }

    fn entry(&mut self) -> Result<(), ImportError> {
        self.files += 1;
        if self.files > self.limits.max_files {
            return Err(ImportError::TooManyFiles {
                limit: self.limits.max_files,
            });
        }
        Ok(())
    }

    fn add_bytes(&mut self, n: u64) -> Result<(), ImportError> {
        self.bytes = self.bytes.saturating_add(n);
        if self.bytes > self.limits.max_total_bytes {
            return Err(ImportError::TooManyBytes {
                limit: self.limits.max_total_bytes,
            });
        }
        Ok(())
    }
}

/// Reads one advisory file of at most `max_file_bytes`, whatever its
/// header claims.
fn read_bounded(
    reader: impl Read,
    path: &str,
    limits: &Limits,
) -> io::Result<Result<Vec<u8>, ImportError>> {
    let mut bytes = Vec::new();
    reader
        .take(limits.max_file_bytes.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limits.max_file_bytes {
        return Ok(Err(ImportError::FileTooLarge {
            path: path.to_owned(),
            limit: limits.max_file_bytes,
        }));
    }
    Ok(Ok(bytes))
}

/// Reads the advisory files of a directory tree.
pub(crate) fn read_dir(root: &Path, limits: &Limits) -> Result<Vec<InputFile>, ImportError> {
    let io_err = |path: &Path, source| ImportError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut budget = Budget::new(limits);
    let mut out = Vec::new();
    let mut stack: Vec<(PathBuf, Vec<String>)> = vec![(root.to_path_buf(), Vec::new())];
    while let Some((dir, rel)) = stack.pop() {
        let mut entries = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| io_err(&dir, e))? {
            budget.entry()?;
            entries.push(entry.map_err(|e| io_err(&dir, e))?);
        }
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let Ok(name) = entry.file_name().into_string() else {
                continue; // not UTF-8: no advisory is named so
            };
            if name.starts_with('.') {
                continue;
            }
            let full = entry.path();
            let kind = entry.file_type().map_err(|e| io_err(&full, e))?;
            let mut parts = rel.clone();
            parts.push(name);
            if kind.is_dir() {
                if parts.len() <= MAX_DEPTH {
                    stack.push((full, parts));
                }
                continue;
            }
            if !kind.is_file() {
                continue; // links are never followed
            }
            let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
            let Some(file_kind) = classify(&refs) else {
                continue;
            };
            let path = refs.join("/");
            let file = fs::File::open(&full).map_err(|e| io_err(&full, e))?;
            let bytes = read_bounded(file, &path, limits).map_err(|e| io_err(&full, e))??;
            budget.add_bytes(bytes.len() as u64)?;
            out.push(InputFile {
                path,
                kind: file_kind,
                bytes,
            });
        }
    }
    Ok(out)
}

/// What an input file's first bytes say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArchiveKind {
    Gzip,
    Tar,
    Zip,
}

/// Recognises gzip (`1f 8b`), zip (`PK\3\4`, or `PK\5\6` when empty) and
/// tar (`ustar` at offset 257, or an older header whose checksum holds) by
/// their first bytes, whatever the name.
pub(crate) fn sniff(head: &[u8]) -> Option<ArchiveKind> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Some(ArchiveKind::Gzip)
    } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Some(ArchiveKind::Zip)
    } else if head.get(257..262) == Some(b"ustar") || old_tar_header(head) {
        Some(ArchiveKind::Tar)
    } else {
        None
    }
}

/// Whether the first 512 bytes are a pre-POSIX tar header: a name, and a
/// header checksum (octal, bytes 148..156) that matches the header's bytes
/// summed with the checksum field read as spaces.
fn old_tar_header(head: &[u8]) -> bool {
    let Some(header) = head.get(..512) else {
        return false;
    };
    if header[0] == 0 {
        return false;
    }
    let field = &header[148..156];
    let digits: String = field
        .iter()
        .map(|&b| b as char)
        .filter(|c| !matches!(c, ' ' | '\0'))
        .collect();
    let Ok(stored) = u32::from_str_radix(&digits, 8) else {
        return false;
    };
    let sum: u32 = header
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(b)
            }
        })
        .sum();
    !digits.is_empty() && sum == stored
}

/// Counts the bytes a tar reader pulls and fails past the limit, so that
/// nothing (a member, a long-name record, a bomb) reads beyond it.
struct Counting<R> {
    inner: R,
    read: u64,
    limit: u64,
    exceeded: Rc<Cell<bool>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read = self.read.saturating_add(n as u64);
        if self.read > self.limit {
            self.exceeded.set(true);
            return Err(io::Error::other("read limit exceeded"));
        }
        Ok(n)
    }
}

/// Reads the advisory files of a tar stream (already decompressed by the
/// caller's reader, if it was compressed), then drains the stream so that a
/// compressed input's trailing checksum is verified too.
pub(crate) fn read_tar(reader: impl Read, limits: &Limits) -> Result<Vec<InputFile>, ImportError> {
    let exceeded = Rc::new(Cell::new(false));
    let counting = Counting {
        inner: reader,
        read: 0,
        limit: limits.max_total_bytes,
        exceeded: Rc::clone(&exceeded),
    };
    let failed = |e: io::Error| {
        if exceeded.get() {
            ImportError::TooManyBytes {
                limit: limits.max_total_bytes,
            }
        } else {
            ImportError::corrupt(e)
        }
    };
    let mut budget = Budget::new(limits);
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(counting);
    for entry in archive.entries().map_err(failed)? {
        let entry = entry.map_err(failed)?;
        budget.entry()?;
        let raw = entry.path_bytes();
        let Ok(name) = std::str::from_utf8(&raw) else {
            // Not UTF-8: no advisory is named so, but it may still climb out.
            if raw.split(|b| *b == b'/').any(|c| c == b"..") || raw.starts_with(b"/") {
                let path = String::from_utf8_lossy(&raw).into_owned();
                return Err(ImportError::UnsafePath { path });
            }
            continue;
        };
        let parts = safe_parts(name)?;
        let regular = matches!(
            entry.header().entry_type(),
            tar::EntryType::Regular | tar::EntryType::Continuous
        );
        let Some(kind) = classify(&parts).filter(|_| regular) else {
            continue;
        };
        let path = parts.join("/");
        if entry.size() > limits.max_file_bytes {
            return Err(ImportError::FileTooLarge {
                path,
                limit: limits.max_file_bytes,
            });
        }
        let bytes = read_bounded(entry, &path, limits).map_err(failed)??;
        out.push(InputFile { path, kind, bytes });
    }
    io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(failed)?;
    Ok(out)
}

/// Reads the advisory files of a zip archive. Only advisory members are
/// decompressed (and their checksums verified).
pub(crate) fn read_zip(
    reader: impl Read + Seek,
    archive_len: u64,
    limits: &Limits,
) -> Result<Vec<InputFile>, ImportError> {
    let mut budget = Budget::new(limits);
    budget.add_bytes(archive_len)?;
    let mut archive = zip::ZipArchive::new(reader).map_err(ImportError::corrupt)?;
    if archive.len() as u64 > limits.max_files {
        return Err(ImportError::TooManyFiles {
            limit: limits.max_files,
        });
    }
    let mut out = Vec::new();
    for index in 0..archive.len() {
        budget.entry()?;
        let (path, kind) = {
            let member = archive.by_index_raw(index).map_err(ImportError::corrupt)?;
            let name = member.name().map_err(ImportError::corrupt)?;
            let parts = safe_parts(&name)?;
            if !member.is_file() {
                continue;
            }
            let Some(kind) = classify(&parts) else {
                continue;
            };
            let path = parts.join("/");
            if member.size() > limits.max_file_bytes {
                return Err(ImportError::FileTooLarge {
                    path,
                    limit: limits.max_file_bytes,
                });
            }
            (path, kind)
        };
        let member = archive.by_index(index).map_err(ImportError::corrupt)?;
        let bytes = read_bounded(member, &path, limits).map_err(ImportError::corrupt)??;
        budget.add_bytes(bytes.len() as u64)?;
        out.push(InputFile { path, kind, bytes });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_by_path() {
        let md = |d: &str| Some(FileKind::Markdown { dir: d.to_owned() });
        assert_eq!(
            classify(&["crates", "foo", "RUSTSEC-2020-0001.md"]),
            md("foo")
        );
        assert_eq!(
            classify(&["advisory-db-main", "crates", "foo", "RUSTSEC-2020-0001.md"]),
            md("foo")
        );
        assert_eq!(
            classify(&["crates", "foo", "RUSTSEC-2020-0001.toml"]),
            Some(FileKind::Toml { dir: "foo".into() })
        );
        assert_eq!(classify(&["crates", "foo", "RUSTSEC-0000-0000.md"]), None);
        assert_eq!(classify(&["rust", "std", "CVE-2021-1.md"]), None);
        assert_eq!(classify(&["README.md"]), None);
        assert_eq!(classify(&["EXAMPLE_ADVISORY.md"]), None);
        assert_eq!(classify(&["a", "b", "crates", "foo", "X.md"]), None);
        assert_eq!(classify(&["support.toml"]), None);
        assert_eq!(classify(&["x", "GHSA-1.json"]), Some(FileKind::Osv));
        assert_eq!(classify(&[".git", "x.json"]), None);
    }

    #[test]
    fn unsafe_paths_refused() {
        for bad in [
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/..",
            "\\x",
            "C:/x",
            "a\\..\\b",
        ] {
            assert!(
                matches!(safe_parts(bad), Err(ImportError::UnsafePath { .. })),
                "{bad}"
            );
        }
        assert_eq!(safe_parts("./a//b/").unwrap(), vec!["a", "b"]);
    }

    #[test]
    fn sniffs_magic() {
        assert_eq!(sniff(&[0x1f, 0x8b, 8]), Some(ArchiveKind::Gzip));
        assert_eq!(sniff(b"PK\x03\x04rest"), Some(ArchiveKind::Zip));
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(sniff(&tar), Some(ArchiveKind::Tar));
        assert_eq!(sniff(b"hello"), None);
        assert_eq!(sniff(&[b'x'; 600]), None);
        let mut old = vec![0u8; 512];
        old[..5].copy_from_slice(b"a.txt");
        old[148..156].copy_from_slice(b"        ");
        let sum: u32 = old.iter().map(|&b| u32::from(b)).sum();
        old[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        assert_eq!(sniff(&old), Some(ArchiveKind::Tar));
    }
}
