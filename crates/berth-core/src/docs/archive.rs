//! Reading an uploaded documentation archive (a `.tar.gz` of `target/doc`):
//! one file at a time, every path and size checked before a byte of it is
//! passed on. Runs on a blocking thread; never writes anything itself.

use std::io::Read;

use bytes::Bytes;

/// The bounds of one archive.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    /// Bytes of all files together, unpacked.
    pub total: u64,
    /// Bytes of one file.
    pub file: u64,
    /// Files.
    pub files: u64,
}

/// Why an archive is refused; each says what to fix.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ArchiveError {
    #[error("the archive is not a readable .tar.gz: {0}")]
    Unreadable(String),
    #[error("the archive's entry `{0}` is {1}; documentation holds only files and directories")]
    NotAFile(String, &'static str),
    #[error(
        "the archive's path `{0}` is not allowed: paths are relative, without `..`, made of \
         letters, digits and `-_.~+@=,%`"
    )]
    BadPath(String),
    #[error("the archive unpacks to more than {0} bytes (`[docs] max_unpacked_mib`)")]
    TooBig(u64),
    #[error("the archive's file `{0}` is larger than {1} bytes")]
    FileTooBig(String, u64),
    #[error("the archive holds more than {0} files (`[docs] max_files`)")]
    TooMany(u64),
}

/// A path as stored: `doc/` (from `tar -C target doc`) or `./` (from
/// `tar -C target/doc .`) taken off; `None` for the top directory itself.
pub(crate) fn clean_path(raw: &str) -> Result<Option<String>, ArchiveError> {
    let mut path = raw.trim_start_matches("./");
    if let Some(rest) = path.strip_prefix("doc/") {
        path = rest;
    } else if path == "doc" || path == "." || path.is_empty() {
        return Ok(None);
    }
    let path = path.trim_end_matches('/');
    if path.is_empty() {
        return Ok(None);
    }
    if servable(path) {
        Ok(Some(path.to_string()))
    } else {
        Err(ArchiveError::BadPath(raw.chars().take(200).collect()))
    }
}

/// Whether a relative path may name a file of a set: segments of
/// letters, digits and `-_.~+@=,%`, none empty, `.` or `..`.
pub(crate) fn servable(path: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "-_.~+@=,%".contains(c);
    path.len() <= 1024
        && path
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != ".." && seg.chars().all(ok_char))
}

/// Reads `archive`, handing each file (path, bytes) to `each` in the
/// archive's order; stops at the first refusal, or when `each` returns
/// false (the receiver gave up). Returns the files and bytes passed on.
pub(crate) fn read(
    archive: &[u8],
    bounds: Bounds,
    mut each: impl FnMut(String, Bytes) -> bool,
) -> Result<(u64, u64), ArchiveError> {
    let gz = flate2::read::GzDecoder::new(archive);
    let mut tar = tar::Archive::new(gz);
    let entries = tar
        .entries()
        .map_err(|e| ArchiveError::Unreadable(e.to_string()))?;
    let (mut files, mut total) = (0u64, 0u64);
    for entry in entries {
        let entry = entry.map_err(|e| ArchiveError::Unreadable(e.to_string()))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        let what = match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => None,
            tar::EntryType::Directory => {
                clean_path(&raw)?;
                continue;
            }
            tar::EntryType::Symlink => Some("a symbolic link"),
            tar::EntryType::Link => Some("a hard link"),
            // Metadata records of pax and GNU tar are read by the tar
            // crate itself and never reach here as entries.
            _ => Some("a special file"),
        };
        if let Some(what) = what {
            return Err(ArchiveError::NotAFile(
                raw.chars().take(200).collect(),
                what,
            ));
        }
        let Some(path) = clean_path(&raw)? else {
            return Err(ArchiveError::BadPath(raw));
        };
        files += 1;
        if files > bounds.files {
            return Err(ArchiveError::TooMany(bounds.files));
        }
        // Read one byte more than allowed, whatever the header claims.
        let limit = bounds.file.min(bounds.total - total);
        let mut bytes = Vec::new();
        entry
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| ArchiveError::Unreadable(e.to_string()))?;
        let len = bytes.len() as u64;
        if len > limit {
            return Err(if len > bounds.file {
                ArchiveError::FileTooBig(path, bounds.file)
            } else {
                ArchiveError::TooBig(bounds.total)
            });
        }
        total += len;
        if !each(path, Bytes::from(bytes)) {
            break;
        }
    }
    Ok((files, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_lose_their_doc_prefix_and_keep_rustdoc_names() {
        assert_eq!(
            clean_path("doc/my_crate/index.html").unwrap().as_deref(),
            Some("my_crate/index.html")
        );
        assert_eq!(
            clean_path("./static.files/rustdoc-0123abcd.css")
                .unwrap()
                .as_deref(),
            Some("static.files/rustdoc-0123abcd.css")
        );
        assert_eq!(
            clean_path("search.desc/a/a-desc-0-.js").unwrap().as_deref(),
            Some("search.desc/a/a-desc-0-.js")
        );
        assert_eq!(clean_path("doc/").unwrap(), None);
        assert_eq!(clean_path("./").unwrap(), None);
    }

    #[test]
    fn escaping_paths_are_refused() {
        for bad in [
            "../etc/passwd",
            "doc/../../x",
            "/etc/passwd",
            "a//b",
            "a/./b",
            "a b.html",
            "a\\b",
            "ünï.html",
        ] {
            assert!(clean_path(bad).is_err(), "{bad}");
        }
    }
}
