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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};

use bytes::Bytes;

/// One memfd, mapped read-only, filled front to back.
pub struct Arena {
    file: File,
    map: memmap2::MmapRaw,
    /// The next offset not yet reserved: ranges are handed out once.
    next: AtomicU64,
}

/// Live arenas by mapped address range, for [`find`].
static LIVE: RwLock<Vec<(usize, usize, Weak<Arena>)>> = RwLock::new(Vec::new());

/// The capacity of every arena still alive, held by a cache or by a
/// download still being sent.
static LIVE_BYTES: AtomicU64 = AtomicU64::new(0);

impl Arena {
    /// An arena of `capacity` bytes (pages are taken only as they are
    /// written). Fails where memfds are not available; callers then keep
    /// their bytes on the heap.
    pub fn new(capacity: u64) -> std::io::Result<Arc<Self>> {
        use rustix::fs::{MemfdFlags, SealFlags};
        if capacity == 0 || capacity > isize::MAX as u64 {
            return Err(std::io::Error::other("arena capacity out of range"));
        }
        let name = "berth-crate-cache";
        let flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
        // Not executable, where the kernel knows the flag (6.3 and later;
        // needed where `vm.memfd_noexec` asks for it).
        let fd = rustix::fs::memfd_create(name, flags | MemfdFlags::NOEXEC_SEAL)
            .or_else(|_| rustix::fs::memfd_create(name, flags))?;
        let file = File::from(fd);
        file.set_len(capacity)?;
        rustix::fs::fcntl_add_seals(&file, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)?;
        let map = memmap2::MmapOptions::new().map_raw_read_only(&file)?;
        let arena = Arc::new(Self {
            file,
            map,
            next: AtomicU64::new(0),
        });
        LIVE_BYTES.fetch_add(capacity, Ordering::Relaxed);
        let start = arena.map.as_ptr() as usize;
        LIVE.write().unwrap_or_else(|e| e.into_inner()).push((
            start,
            start + arena.map.len(),
            Arc::downgrade(&arena),
        ));
        Ok(arena)
    }

    /// Copies `bytes` in at the next free offset and returns them as
    /// `Bytes` backed by the arena. None when they do not fit (nor will
    /// anything after them) or the write fails.
    pub fn copy_in(self: &Arc<Self>, bytes: &[u8]) -> Option<Bytes> {
        let len = bytes.len() as u64;
        let offset = self.next.fetch_add(len, Ordering::Relaxed);
        let end = offset.checked_add(len)?;
        if end > self.map.len() as u64 {
            return None;
        }
        // The range [offset, end) was reserved above for this call alone,
        // and no `Bytes` over it exists before this write is done.
        self.file.write_all_at(bytes, offset).ok()?;
        Some(Bytes::from_owner(Slice {
            arena: self.clone(),
            start: offset as usize,
            len: bytes.len(),
        }))
    }

    /// The file to send from.
    pub fn file(&self) -> &File {
        &self.file
    }
}

/// Bytes of arenas alive now: those caches hold, and retired ones that a
/// download being sent still holds.
pub fn live_bytes() -> u64 {
    LIVE_BYTES.load(Ordering::Relaxed)
}

impl Drop for Arena {
    fn drop(&mut self) {
        let start = self.map.as_ptr() as usize;
        LIVE.write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(s, _, _)| *s != start);
        LIVE_BYTES.fetch_sub(self.map.len() as u64, Ordering::Relaxed);
    }
}

/// A written range of an arena: the owner behind a cached blob's `Bytes`.
struct Slice {
    arena: Arc<Arena>,
    start: usize,
    len: usize,
}

impl AsRef<[u8]> for Slice {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `start..start + len` lies in the mapping (`copy_in`
        // checked it) and was written before this `Slice` existed; the
        // arena hands each range out once, so nothing writes it again; the
        // file is sealed against shrinking, so the pages stay; and the
        // mapping lives as long as `self.arena`. No reference to the rest
        // of the mapping, which `copy_in` may still be writing, is made.
        unsafe { std::slice::from_raw_parts(self.arena.map.as_ptr().add(self.start), self.len) }
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
        let a = arena.copy_in(b"hello").unwrap();
        let b = arena.copy_in(&[7u8; 4096]).unwrap();
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
        // Past the end: refused, and so is all after it.
        assert!(arena.copy_in(&vec![1u8; 1 << 20]).is_none());
        assert!(arena.copy_in(b"abc").is_none());
        assert!(live_bytes() >= 1 << 20);
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
