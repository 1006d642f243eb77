//! The one `.crate` tarball builder: regular files and directories written the
//! normal way; entries, header records (GNU long names, PAX headers) and
//! lying headers whose bytes are written verbatim (for hostile archives the
//! tar crate would refuse to write); and gzip, in memory or streamed (for
//! bombs larger than memory should hold).
//!
//! It builds bytes only: it never touches the filesystem and never checks
//! that what it writes is a valid package. That is the point of the hostile
//! cases; the checks belong to `berth-tarball` and the server.

use std::io::{self, Read, Write};

use flate2::write::GzEncoder;
pub use flate2::Compression;
pub use tar::{EntryType, Header};

/// A minimal manifest for `name@vers` (edition 2021).
pub fn manifest(name: &str, vers: &str) -> String {
    format!("[package]\nname = \"{name}\"\nversion = \"{vers}\"\nedition = \"2021\"\n")
}

/// A minimal valid `.crate` for `name@vers` with `lib` as `src/lib.rs`.
pub fn crate_file(name: &str, vers: &str, lib: &str) -> Vec<u8> {
    TarballBuilder::package(name, vers).lib(lib).gz()
}

/// Where the tar stream goes: kept whole (so it can be returned or gzipped
/// later) or compressed as it is written.
enum Sink {
    Plain(Vec<u8>),
    Gzip(GzEncoder<Vec<u8>>),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(v) => v.write(buf),
            Sink::Gzip(g) => g.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(v) => v.flush(),
            Sink::Gzip(g) => g.flush(),
        }
    }
}

/// A tar archive under construction, in the style of the public registry's
/// `TarballBuilder`:
///
/// ```
/// use berth_testkit::{EntryType, TarballBuilder};
/// let good = TarballBuilder::package("foo", "1.0.0").lib("pub fn f() {}\n").gz();
/// let hostile = TarballBuilder::package("foo", "1.0.0")
///     .raw(b"../x", EntryType::Regular, b"evil")
///     .gz();
/// # assert!(!good.is_empty() && !hostile.is_empty());
/// ```
pub struct TarballBuilder {
    tar: tar::Builder<Sink>,
    /// `NAME-VERS` for [`TarballBuilder::package`], else empty.
    root: String,
    level: Compression,
}

impl Default for TarballBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl TarballBuilder {
    /// An empty archive, kept whole in memory (see [`TarballBuilder::tar`]).
    pub fn new() -> Self {
        TarballBuilder {
            tar: tar::Builder::new(Sink::Plain(Vec::new())),
            root: String::new(),
            level: Compression::default(),
        }
    }

    /// An empty archive gzipped as it is written, so that gigabytes of
    /// zeros never sit in memory; [`TarballBuilder::tar`] is then refused.
    pub fn streaming(level: Compression) -> Self {
        TarballBuilder {
            tar: tar::Builder::new(Sink::Gzip(GzEncoder::new(Vec::new(), level))),
            root: String::new(),
            level,
        }
    }

    /// The start of a package's archive: `NAME-VERS/Cargo.toml` holding
    /// [`manifest`]. Names are written verbatim (a hostile name reaches the
    /// server as given); see [`TarballBuilder::package_file`].
    pub fn package(name: &str, vers: &str) -> Self {
        let root = format!("{name}-{vers}");
        let mut b = Self::new();
        b.root = root;
        b.package_file("Cargo.toml", manifest(name, vers).as_bytes())
    }

    /// The gzip level [`TarballBuilder::gz`] uses (default: flate2's default).
    pub fn compression(mut self, level: Compression) -> Self {
        self.level = level;
        self
    }

    /// `NAME-VERS` of a [`TarballBuilder::package`] archive.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// A file under the package root (`NAME-VERS/{path}`). Paths of up to 100
    /// bytes are written verbatim into the header; longer ones through the tar
    /// crate, as a GNU long name.
    pub fn package_file(self, path: &str, data: &[u8]) -> Self {
        assert!(
            !self.root.is_empty(),
            "package_file needs a TarballBuilder::package"
        );
        let full = format!("{}/{path}", self.root);
        if full.len() <= 100 {
            self.raw_file(full.as_bytes(), data)
        } else {
            self.file(&full, data)
        }
    }

    /// `src/lib.rs` under the package root.
    pub fn lib(self, body: &str) -> Self {
        self.package_file("src/lib.rs", body.as_bytes())
    }

    /// A regular file written the normal way (the tar crate checks the path;
    /// GNU long names when needed).
    pub fn file(self, path: &str, data: &[u8]) -> Self {
        self.file_from_reader(path, data.len() as u64, data)
    }

    /// A regular file of `size` bytes read from `data`, written the normal
    /// way: with [`TarballBuilder::streaming`], a bomb that never sits in
    /// memory (`std::io::repeat(0).take(size)`).
    pub fn file_from_reader(mut self, path: &str, size: u64, data: impl Read) -> Self {
        let mut header = Header::new_gnu();
        header.set_size(size);
        header.set_mode(0o644);
        header.set_entry_type(EntryType::Regular);
        self.tar
            .append_data(&mut header, path, data)
            .expect("in-memory tar");
        self
    }

    /// A directory written the normal way.
    pub fn dir(mut self, path: &str) -> Self {
        let mut header = Header::new_gnu();
        header.set_size(0);
        header.set_mode(0o755);
        header.set_entry_type(EntryType::Directory);
        self.tar
            .append_data(&mut header, path, io::empty())
            .expect("in-memory tar");
        self
    }

    /// A regular file whose name bytes go straight into the header.
    pub fn raw_file(self, name: &[u8], data: &[u8]) -> Self {
        self.raw(name, EntryType::Regular, data)
    }

    /// An entry whose name bytes (at most 100) go straight into the header,
    /// unchecked.
    pub fn raw(self, name: &[u8], kind: EntryType, data: &[u8]) -> Self {
        self.raw_with(name, kind, data, |_| {})
    }

    /// Like [`TarballBuilder::raw`], with a last change to the header (a
    /// link name, a mode) before its checksum is computed.
    pub fn raw_with(
        mut self,
        name: &[u8],
        kind: EntryType,
        data: &[u8],
        tweak: impl FnOnce(&mut Header),
    ) -> Self {
        let mut header = raw_header(name, kind, data.len() as u64);
        tweak(&mut header);
        header.set_cksum();
        self.tar.append(&header, data).expect("in-memory tar");
        self
    }

    /// An entry whose header (name bytes verbatim) claims `size` bytes, with
    /// the data read from `data` (with [`TarballBuilder::streaming`], a
    /// record far larger than memory should hold).
    pub fn raw_from_reader(
        mut self,
        name: &[u8],
        kind: EntryType,
        size: u64,
        data: impl Read,
    ) -> Self {
        let mut header = raw_header(name, kind, size);
        header.set_cksum();
        self.tar.append(&header, data).expect("in-memory tar");
        self
    }

    /// A header alone (name bytes verbatim) that claims `size` bytes of data
    /// which do not follow: a lying header.
    pub fn raw_header(mut self, name: &[u8], kind: EntryType, size: u64) -> Self {
        let mut header = raw_header(name, kind, size);
        header.set_cksum();
        self.tar
            .get_mut()
            .write_all(header.as_bytes())
            .expect("in-memory tar");
        self
    }

    /// Bytes with no header, padded with zeros to a whole 512-byte block.
    pub fn raw_blocks(mut self, bytes: &[u8]) -> Self {
        let pad = (512 - bytes.len() % 512) % 512;
        let sink = self.tar.get_mut();
        sink.write_all(bytes).expect("in-memory tar");
        sink.write_all(&vec![0; pad]).expect("in-memory tar");
        self
    }

    /// A GNU long-name record (`././@LongLink`, type `L`) giving the next
    /// entry's path.
    pub fn gnu_long_name(self, path: &[u8]) -> Self {
        let mut record = path.to_vec();
        record.push(0);
        self.raw(b"././@LongLink", EntryType::GNULongName, &record)
    }

    /// A PAX extended header (type `x`) with these `key=value` records, for
    /// the next entry.
    pub fn pax(self, records: &[(&str, &[u8])]) -> Self {
        let mut body = Vec::new();
        for (key, value) in records {
            // `LEN KEY=VALUE\n`, where LEN counts itself.
            let rest = key.len() + value.len() + 3;
            let mut len = rest + 1;
            while len != rest + len.to_string().len() {
                len = rest + len.to_string().len();
            }
            body.extend_from_slice(format!("{len} {key}=").as_bytes());
            body.extend_from_slice(value);
            body.push(b'\n');
        }
        self.raw(b"PaxHeaders/x", EntryType::XHeader, &body)
    }

    /// A PAX extended header giving the next entry's path.
    pub fn pax_path(self, path: &[u8]) -> Self {
        self.pax(&[("path", path)])
    }

    /// The uncompressed tar stream as written so far, without the
    /// end-of-archive marker: a truncated archive (not for a streaming
    /// builder).
    pub fn tar_unfinished(mut self) -> Vec<u8> {
        match self.tar.get_mut() {
            // The builder still writes its marker when dropped, into the
            // emptied buffer.
            Sink::Plain(v) => std::mem::take(v),
            Sink::Gzip(_) => panic!("a streaming TarballBuilder keeps no plain tar"),
        }
    }

    /// The uncompressed tar stream (not for a streaming builder).
    pub fn tar(self) -> Vec<u8> {
        match self.tar.into_inner().expect("in-memory tar") {
            Sink::Plain(v) => v,
            Sink::Gzip(_) => panic!("a streaming TarballBuilder keeps no plain tar"),
        }
    }

    /// The gzip-compressed archive: the `.crate` file.
    pub fn gz(self) -> Vec<u8> {
        let level = self.level;
        match self.tar.into_inner().expect("in-memory tar") {
            Sink::Plain(v) => gzip_with(&v, level),
            Sink::Gzip(g) => g.finish().expect("in-memory gzip"),
        }
    }
}

/// A GNU header with these name bytes (at most 100) written verbatim, the
/// claimed size, mode 0644 and the entry type; no checksum yet.
fn raw_header(name: &[u8], kind: EntryType, size: u64) -> Header {
    let mut header = Header::new_gnu();
    let slot = &mut header.as_old_mut().name;
    assert!(
        name.len() <= slot.len(),
        "a raw tar name holds at most {} bytes, not {}",
        slot.len(),
        name.len()
    );
    slot[..name.len()].copy_from_slice(name);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_entry_type(kind);
    header
}

/// `bytes` gzip-compressed at the default level.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    gzip_with(bytes, Compression::default())
}

fn gzip_with(bytes: &[u8], level: Compression) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), level);
    gz.write_all(bytes).expect("in-memory gzip");
    gz.finish().expect("in-memory gzip")
}
