//! Why a `.crate` file is refused ([`TarballError`], [`EntryKind`]) and how
//! text taken from the archive is shown in those messages ([`shown`]):
//! control characters escaped, long values cut. Imports nothing of the crate.

use std::fmt;

use tar::EntryType;

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
    pub(crate) fn of(kind: EntryType) -> Self {
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

/// Makes archive-supplied text safe to embed in a one-line message: control
/// characters are escaped and anything past 200 characters is cut off.
pub(crate) fn shown(text: &str) -> String {
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
