#![no_main]
//! The advisory database reader (`berth_advisory::import_bytes`) on archive
//! bytes from elsewhere: a `.tar.gz`, a `.tar` or a `.zip`, told by their
//! first bytes, holding RustSec Markdown/TOML advisories or OSV JSON.
//!
//! Input: if the first byte is 0x00, the rest is a raw tar that the harness
//! gzips first, so that mutations reach tar headers, member paths and the
//! advisory text instead of breaking the deflate stream; otherwise the whole
//! input is the archive as given (real archives are seeds as they are).
//!
//! Invariants: nothing panics, however the archive lies (sizes, paths,
//! compression, truncation); the small limits bound the work; an accepted
//! set's digest is 64 hex digits.

use std::io::Write;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = berth_advisory::Limits {
        max_files: 64,
        max_file_bytes: 64 * 1024,
        max_total_bytes: 1 << 20,
    };
    let owned;
    let bytes = match data.split_first() {
        Some((0, tar)) => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(tar).unwrap();
            owned = gz.finish().unwrap();
            &owned[..]
        }
        _ => data,
    };
    if let Ok(set) = berth_advisory::import_bytes(bytes, &limits) {
        assert_eq!(set.digest().len(), 64);
    }
});
