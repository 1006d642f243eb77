//! Reading the tar files the command line is handed (`berth restore`'s
//! backups, `berth mirror import`'s bundles) with the records the tar crate
//! buffers whole bounded.
//!
//! Before handing out an entry, the tar crate reads GNU long-name and
//! long-link records and PAX extended headers into memory in full, whatever
//! size their header claims, before any per-member cap of the caller can
//! apply. [`entries`] puts a reader under it that knows when the tar crate
//! is between entries and allows it only [`MAX_HEADER_BYTES`] there, so
//! such a record is refused after at most that many bytes. Members' data
//! are the caller's to bound. This module never writes anything.

use std::cell::Cell;
use std::io::{self, Read};

/// Most bytes the tar crate may read between two entries: the entry's
/// header block, the padding of the previous entry, and long-name, long-link
/// and PAX records. Berth writes none of those records longer than a path.
pub const MAX_HEADER_BYTES: u64 = 64 * 1024;

/// The reader under the tar crate: counts what it reads between entries.
pub struct HeaderBound<'c, R> {
    inner: R,
    /// `Some(bytes read since the last entry was handed out)` while the tar
    /// crate looks for the next entry; `None` while the caller reads data.
    between: &'c Cell<Option<u64>>,
    exceeded: &'c Cell<bool>,
}

impl<R: Read> Read for HeaderBound<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(read) = self.between.get() else {
            return self.inner.read(buf);
        };
        // One byte past the limit, so that reaching it is seen.
        let allowed = MAX_HEADER_BYTES.saturating_sub(read).saturating_add(1);
        let len = usize::try_from(allowed).map_or(buf.len(), |a| a.min(buf.len()));
        let n = self.inner.read(&mut buf[..len])?;
        let read = read.saturating_add(n as u64);
        self.between.set(Some(read));
        if read > MAX_HEADER_BYTES {
            self.exceeded.set(true);
            return Err(io::Error::other(too_long()));
        }
        Ok(n)
    }
}

fn too_long() -> String {
    format!(
        "a tar header record (a long name, long link or PAX header) is longer than \
         {MAX_HEADER_BYTES} bytes"
    )
}

/// Walks the tar stream `reader`, giving each entry to `each` (which reads
/// its data, or not: what it leaves unread is skipped, and counted towards
/// the header bound, so read what you accept). Stops at the first error,
/// with a message that names an oversized header record as such.
pub fn entries<R: Read>(
    reader: R,
    mut each: impl FnMut(&mut tar::Entry<'_, HeaderBound<'_, R>>) -> Result<(), String>,
) -> Result<(), String> {
    let between = Cell::new(Some(0));
    let exceeded = Cell::new(false);
    let bounded = HeaderBound {
        inner: reader,
        between: &between,
        exceeded: &exceeded,
    };
    let mut archive = tar::Archive::new(bounded);
    let explain = |e: io::Error| {
        if exceeded.get() {
            too_long()
        } else {
            e.to_string()
        }
    };
    let mut iter = archive.entries().map_err(explain)?;
    loop {
        between.set(Some(0));
        let Some(entry) = iter.next() else {
            return Ok(());
        };
        let mut entry = entry.map_err(explain)?;
        between.set(None);
        each(&mut entry)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar stream of one GNU long-name record claiming `len` bytes
    /// (zeros), then a regular file: the reader refuses the record after
    /// the bound, without reading (or holding) the rest.
    #[test]
    fn a_long_name_record_is_refused_at_the_bound() {
        let mut tar = Vec::new();
        let mut h = tar::Header::new_gnu();
        h.set_path("././@LongLink").unwrap();
        h.set_entry_type(tar::EntryType::GNULongName);
        h.set_size(1 << 30);
        h.set_cksum();
        tar.extend_from_slice(h.as_bytes());
        // An endless source of zeros stands for the 1 GiB record.
        let reader = io::Read::chain(&tar[..], io::repeat(0));
        let counted = Cell::new(0u64);
        let err = entries(CountingReader(reader, &counted), |_| Ok(())).unwrap_err();
        assert!(err.contains("longer than 65536 bytes"), "{err}");
        assert!(counted.get() < 2 * MAX_HEADER_BYTES, "{}", counted.get());
    }

    #[test]
    fn ordinary_members_pass() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_cksum();
        let long = format!("dir/{}", "n".repeat(300));
        b.append_data(&mut h, &long, &b"abc"[..]).unwrap();
        let bytes = b.into_inner().unwrap();
        let mut seen = Vec::new();
        entries(&bytes[..], |e| {
            let mut data = Vec::new();
            e.read_to_end(&mut data).map_err(|e| e.to_string())?;
            seen.push((e.path().unwrap().display().to_string(), data));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, [(long, b"abc".to_vec())]);
    }

    struct CountingReader<'c, R>(R, &'c Cell<u64>);

    impl<R: Read> Read for CountingReader<'_, R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.read(buf)?;
            self.1.set(self.1.get() + n as u64);
            Ok(n)
        }
    }
}
