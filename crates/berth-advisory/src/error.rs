//! The one error of an import. Every variant names the input or the file in
//! it (a path relative to the directory or archive root) and what is wrong:
//! an import that fails leaves the caller's previous set in force.

use std::io;

/// Why an import was refused. Paths are those inside the input (relative to
/// the directory or archive), except for [`ImportError::Io`] and
/// [`ImportError::UnknownInput`], which name the input itself.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The input or a file in it could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    /// The input is neither a directory nor a `.tar.gz`, `.tar` or `.zip`.
    #[error("{path}: not a directory, a .tar.gz, a .tar or a .zip archive")]
    UnknownInput { path: String },
    /// The archive's bytes are not a readable archive (truncated, bad
    /// checksum, bad compressed stream, an entry that cannot be decoded).
    #[error("corrupt archive: {reason}")]
    CorruptArchive { reason: String },
    /// An entry whose path is absolute or climbs out with `..`.
    #[error("{path}: entry path is absolute or contains `..`")]
    UnsafePath { path: String },
    /// More directory entries or archive members than the limits allow.
    #[error("more than {limit} files or archive entries")]
    TooManyFiles { limit: u64 },
    /// One advisory file larger than the limits allow.
    #[error("{path}: larger than {limit} bytes")]
    FileTooLarge { path: String, limit: u64 },
    /// More bytes read (decompressed, for an archive) than the limits allow.
    #[error("more than {limit} bytes read in total")]
    TooManyBytes { limit: u64 },
    /// An advisory file that is not a valid advisory.
    #[error("{path}: {reason}")]
    Malformed { path: String, reason: String },
    /// Two files describe the same advisory for the same crate.
    #[error("{path}: advisory {id} for crate `{package}` is also in {first}")]
    Duplicate {
        path: String,
        id: String,
        package: String,
        first: String,
    },
}

impl ImportError {
    pub(crate) fn malformed(path: &str, reason: impl Into<String>) -> Self {
        ImportError::Malformed {
            path: path.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn corrupt(reason: impl std::fmt::Display) -> Self {
        ImportError::CorruptArchive {
            reason: reason.to_string(),
        }
    }
}
