//! The bounds one inspection works within ([`Limits`]) and the longest path
//! component any archive may carry. Plain data: no I/O, imports nothing of
//! the crate.

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
    /// [`TarballError::ReadmeTooLarge`](crate::TarballError::ReadmeTooLarge) (never truncated). Default 1 MiB.
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
