//! Header records a `.crate` carries between its entries (GNU long names and
//! long links, PAX extended and global headers) and the paths they give:
//! each is bounded, and a record that claims more than the bound is refused
//! before it is buffered. A counting allocator measures what inspecting a
//! bomb costs, so the tests in this file run one at a time.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use berth_tarball::{inspect, CrateInfo, Limits, TarballError, MAX_COMPONENT_LEN};
use berth_testkit::{gzip, manifest, Compression, EntryType, TarballBuilder};

/// Counts live heap bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// One test at a time, so that the allocator's peak is this test's.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const NAME: &str = "foo";
const VERSION: &str = "1.0.0";

/// The two pieces of archive these tests repeat, on the test kit's builder
/// (whose raw headers and blocks let a header claim sizes its data does not
/// have).
trait Pieces {
    /// A file whose path is given by a GNU long-name record.
    fn long_file(self, path: &str, data: &[u8]) -> Self;
    /// `foo-1.0.0/Cargo.toml`.
    fn manifest(self) -> Self;
}

impl Pieces for TarballBuilder {
    fn long_file(self, path: &str, data: &[u8]) -> Self {
        self.gnu_long_name(path.as_bytes())
            .raw_file(b"foo-1.0.0/placeholder", data)
    }

    fn manifest(self) -> Self {
        self.raw_file(b"foo-1.0.0/Cargo.toml", manifest(NAME, VERSION).as_bytes())
    }
}

fn check_with(tar: &[u8], limits: &Limits) -> Result<CrateInfo, TarballError> {
    inspect(&gzip(tar), NAME, VERSION, None, limits)
}

fn check(tar: &[u8]) -> Result<CrateInfo, TarballError> {
    check_with(tar, &Limits::default())
}

fn header_too_large(result: Result<CrateInfo, TarballError>) {
    match result {
        Err(TarballError::HeaderTooLarge { limit }) => {
            assert_eq!(limit, Limits::default().max_header_bytes)
        }
        other => panic!("expected HeaderTooLarge, got {other:?}"),
    }
}

/// The attack as found: a long-name record claiming 500 MiB, compressed to
/// about half a megabyte. It is refused, and inspecting it allocates a few
/// hundred kilobytes, not the record.
#[test]
fn a_500_mib_long_name_is_refused_without_buffering_it() {
    let _one = serial();
    const CLAIMED: usize = 500 << 20;
    // Compress the record as it is written, never holding it whole.
    let bomb = TarballBuilder::streaming(Compression::default())
        .manifest()
        .raw_from_reader(
            b"././@LongLink",
            EntryType::GNULongName,
            CLAIMED as u64,
            std::io::repeat(b'a').take(CLAIMED as u64),
        )
        .gz();
    assert!(bomb.len() < 600 << 10, "{} bytes", bomb.len());

    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let result = inspect(&bomb, NAME, VERSION, None, &Limits::default());
    let peak = PEAK.load(Ordering::Relaxed) - before;
    header_too_large(result);
    assert!(
        peak < 1 << 20,
        "inspecting the bomb allocated {peak} bytes at its peak"
    );
}

/// A record is refused as soon as the bound is passed, whatever follows: a
/// reader that buffered the whole claimed record would report the archive
/// as truncated instead.
#[test]
fn oversized_records_are_refused_before_their_end() {
    let _one = serial();
    let claim = 500 << 20;
    let some = vec![b'a'; 100 << 10];
    for kind in [
        EntryType::GNULongName,
        EntryType::GNULongLink,
        EntryType::XHeader,
    ] {
        let tar = TarballBuilder::new()
            .manifest()
            .raw_header(b"././@LongLink", kind, claim)
            .raw_blocks(&some)
            .tar_unfinished();
        header_too_large(check(&tar));
    }
}

#[test]
fn oversized_global_pax_headers_are_refused() {
    let _one = serial();
    let limit = Limits::default().max_header_bytes as usize;
    let mut body = b"99999 comment=".to_vec();
    body.resize(limit + 1, b'x');
    let tar = TarballBuilder::new()
        .raw(b"pax_global_header", EntryType::XGlobalHeader, &body)
        .manifest()
        .tar();
    header_too_large(check(&tar));
    // At the bound it is skipped as before.
    body.truncate(limit);
    let tar = TarballBuilder::new()
        .raw(b"pax_global_header", EntryType::XGlobalHeader, &body)
        .manifest()
        .tar();
    assert_eq!(check(&tar).unwrap().files, 1);
}

/// Everything the tar reader consumes between two entries counts: padding,
/// header blocks, the long-name record. At the bound it passes; one block
/// past it, it is refused.
#[test]
fn the_header_bound_counts_every_block_before_an_entry() {
    let _one = serial();
    let d = "d".repeat(200);
    let path = format!("foo-1.0.0/{d}/{d}/{d}/{d}/{}", "d".repeat(86));
    assert_eq!(path.len(), 900);
    let tar = TarballBuilder::new()
        .long_file(&path, b"x")
        .manifest()
        .tar();
    // The long-name header, its 901 bytes padded to 1,024, the file header.
    let exact = Limits {
        max_header_bytes: 512 + 1024 + 512,
        ..Limits::default()
    };
    assert_eq!(check_with(&tar, &exact).unwrap().files, 2);
    let short = Limits {
        max_header_bytes: 512 + 1024 + 511,
        ..Limits::default()
    };
    assert!(matches!(
        check_with(&tar, &short),
        Err(TarballError::HeaderTooLarge { limit }) if limit == short.max_header_bytes
    ));
}

#[test]
fn paths_longer_than_the_limit_are_refused() {
    let _one = serial();
    let limit = Limits::default().max_path_len as usize;
    // Components of 200 bytes, to the exact length.
    let path_of = |len: usize| {
        let mut p = String::from("foo-1.0.0");
        while p.len() < len {
            let room = len - p.len() - 1;
            p.push('/');
            p.push_str(&"p".repeat(room.min(200)));
        }
        p
    };
    assert_eq!(path_of(limit).len(), limit);
    let ok = TarballBuilder::new()
        .long_file(&path_of(limit), b"x")
        .manifest()
        .tar();
    assert_eq!(check(&ok).unwrap().files, 2);

    let long = path_of(limit + 1);
    for tar in [
        TarballBuilder::new()
            .long_file(&long, b"x")
            .manifest()
            .tar(),
        TarballBuilder::new()
            .pax(&[("path", long.as_bytes())])
            .raw_file(b"foo-1.0.0/innocent", b"x")
            .manifest()
            .tar(),
    ] {
        match check(&tar) {
            Err(e @ TarballError::PathTooLong { len, limit: l, .. }) => {
                assert_eq!((len, l), (limit + 1, limit as u64));
                let message = e.to_string();
                assert!(message.contains("more than the 1024 allowed"), "{message}");
                assert!(message.chars().count() < 400, "{message}");
            }
            other => panic!("expected PathTooLong, got {other:?}"),
        }
    }
}

#[test]
fn components_no_file_system_can_store_are_refused() {
    let _one = serial();
    let fits = format!("foo-1.0.0/{}", "n".repeat(MAX_COMPONENT_LEN));
    let tar = TarballBuilder::new()
        .long_file(&fits, b"x")
        .manifest()
        .tar();
    assert_eq!(check(&tar).unwrap().files, 2);

    let too_long = format!("foo-1.0.0/{}/lib.rs", "n".repeat(MAX_COMPONENT_LEN + 1));
    let tar = TarballBuilder::new()
        .long_file(&too_long, b"x")
        .manifest()
        .tar();
    match check(&tar) {
        Err(e @ TarballError::InvalidPath { .. }) => {
            assert!(e.to_string().contains("longer than 255 bytes"), "{e}")
        }
        other => panic!("expected InvalidPath, got {other:?}"),
    }
}

/// What real tools write stays accepted: PAX headers with the usual
/// records, long names and several entries in a row.
#[test]
fn ordinary_header_records_are_accepted() {
    let _one = serial();
    let tar = TarballBuilder::new()
        .pax(&[
            ("mtime", b"1700000000.123456789"),
            ("atime", b"1700000000.123456789"),
            ("SCHILY.xattr.user.note", &[b'v'; 4000]),
            ("path", b"foo-1.0.0/src/lib.rs"),
        ])
        .raw_file(b"foo-1.0.0/src/placeholder", b"pub fn f() {}\n")
        .long_file(&format!("foo-1.0.0/tests/{}.rs", "t".repeat(180)), b"")
        .manifest()
        .tar();
    let info = check(&tar).unwrap();
    assert_eq!(info.files, 3);
}
