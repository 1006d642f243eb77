//! Memory the kernel can send from without a copy.
//!
//! Cached `.crate` bytes live in an [`Arena`]: an anonymous in-memory file
//! (`memfd`) mapped into the process. A download served from the cache is
//! an ordinary [`Bytes`] pointing into that mapping, so HTTP/2 and TLS
//! connections send it as they send anything else; a plain connection
//! recognises it with [`find`] and hands the kernel the file's pages with
//! `sendfile` instead of copying them into the socket (the connection
//! wrapper in `berth-server`'s `sendfile.rs`).
//!
//! An arena is filled front to back and never written twice: each cached
//! blob is copied in once at a fresh offset, and only then handed out. The
//! file is sealed against shrinking, so no mapped page can vanish. An arena
//! lives as long as the cache or any download of its bytes still holds it.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, RwLock, Weak};

use bytes::Bytes;

/// One memfd, mapped read-only, filled front to back.
pub struct Arena {
    file: File,
    map: memmap2::Mmap,
}

/// Live arenas by mapped address range, for [`find`].
static LIVE: RwLock<Vec<(usize, usize, Weak<Arena>)>> = RwLock::new(Vec::new());

impl Arena {
    /// An arena of `capacity` bytes (pages are taken only as they are
    /// written). Fails where memfds are not available; callers then keep
    /// their bytes on the heap.
    pub fn new(capacity: u64) -> std::io::Result<Arc<Self>> {
        use rustix::fs::{MemfdFlags, SealFlags};
        if capacity == 0 || capacity > isize::MAX as u64 {
            return Err(std::io::Error::other("arena capacity out of range"));
        }
        let fd = rustix::fs::memfd_create(
            "berth-crate-cache",
            MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
        )?;
        let file = File::from(fd);
        file.set_len(capacity)?;
        rustix::fs::fcntl_add_seals(&file, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)?;
        // SAFETY: the file is this process's own memfd, sealed against
        // shrinking (no mapped page can disappear), and only written by
        // `copy_in` at offsets no `Bytes` has been handed out for yet.
        let map = unsafe { memmap2::MmapOptions::new().map(&file)? };
        let arena = Arc::new(Self { file, map });
        let start = arena.map.as_ptr() as usize;
        LIVE.write().unwrap_or_else(|e| e.into_inner()).push((
            start,
            start + arena.map.len(),
            Arc::downgrade(&arena),
        ));
        Ok(arena)
    }

    /// Copies `bytes` in at `offset` (a range never written before) and
    /// returns them as `Bytes` backed by the arena. None when they do not
    /// fit or the write fails.
    pub fn copy_in(self: &Arc<Self>, offset: u64, bytes: &[u8]) -> Option<Bytes> {
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(bytes.len())?;
        if end > self.map.len() {
            return None;
        }
        self.file.write_all_at(bytes, offset).ok()?;
        Some(Bytes::from_owner(Slice {
            arena: self.clone(),
            start,
            end,
        }))
    }

    /// The file to send from.
    pub fn file(&self) -> &File {
        &self.file
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        let start = self.map.as_ptr() as usize;
        LIVE.write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(s, _, _)| *s != start);
    }
}

/// A written range of an arena: the owner behind a cached blob's `Bytes`.
struct Slice {
    arena: Arc<Arena>,
    start: usize,
    end: usize,
}

impl AsRef<[u8]> for Slice {
    fn as_ref(&self) -> &[u8] {
        &self.arena.map[self.start..self.end]
    }
}

/// The arena holding `bytes` and their offset in its file, if they lie in
/// one. A connection asks this of each large buffer it is about to write.
pub fn find(bytes: &[u8]) -> Option<(Arc<Arena>, u64)> {
    let at = bytes.as_ptr() as usize;
    let end = at.checked_add(bytes.len())?;
    let live = LIVE.read().unwrap_or_else(|e| e.into_inner());
    live.iter()
        .find(|(s, e, _)| *s <= at && end <= *e)
        .and_then(|(s, _, arena)| Some((arena.upgrade()?, (at - s) as u64)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_copied_in_are_found_at_their_offset_until_the_arena_goes() {
        let arena = Arena::new(1 << 20).unwrap();
        let a = arena.copy_in(0, b"hello").unwrap();
        let b = arena.copy_in(5, &[7u8; 4096]).unwrap();
        assert_eq!(&a[..], b"hello");
        assert_eq!(&b[..], &[7u8; 4096][..]);
        let (found, at) = find(&b).unwrap();
        assert!(Arc::ptr_eq(&found, &arena));
        assert_eq!(at, 5);
        // A slice inside a blob is found at its own offset.
        let (_, at) = find(&b[100..200]).unwrap();
        assert_eq!(at, 105);
        // The file holds what the mapping shows.
        let mut read = vec![0u8; 5];
        found.file().read_exact_at(&mut read, 0).unwrap();
        assert_eq!(read, b"hello");
        // Heap bytes are not in an arena.
        assert!(find(&vec![7u8; 4096]).is_none());
        // Past the end: refused.
        assert!(arena.copy_in((1 << 20) - 2, b"abc").is_none());
        let start = arena.map.as_ptr() as usize;
        let registered = || LIVE.read().unwrap().iter().any(|(s, _, _)| *s == start);
        drop((found, arena));
        // The cache let go, but a blob still out keeps its arena alive.
        assert!(find(&b).is_some());
        assert!(registered());
        drop((a, b));
        assert!(!registered(), "a dropped arena is still registered");
    }

    #[test]
    fn sizes_no_arena_can_have_are_refused() {
        assert!(Arena::new(0).is_err());
        assert!(Arena::new(u64::MAX).is_err());
    }
}
