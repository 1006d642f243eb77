//! `.crate` inspection (gzip + tar + Cargo.toml) under small limits.
//!
//! Input: if it starts with the gzip magic byte 0x1f, the whole input is the
//! `.crate` for `foo` `1.0.0` with README path `README.md` (so real `.crate`
//! files are seeds as they are). Otherwise the first byte is a flag and a
//! length: its low 7 bits are a length N, the next N bytes are the README
//! path from the publish metadata (lossy UTF-8, hostile too: `../x`, `./`,
//! absolute...; empty means none) and the rest is the `.crate`; with the high
//! bit set the rest is a raw tar that the harness gzips first, so mutations
//! reach tar headers, paths and Cargo.toml directly instead of breaking the
//! deflate stream. In that raw form the harness also recomputes the checksum
//! of every header block it finds by following the size fields, so that a
//! mutated type flag or size (a GNU long-name or long-link record, a PAX
//! extended or global header, a size claiming gigabytes) reaches the parser
//! and the header-record bound instead of stopping at "checksum mismatch"
//! (mismatches stay reachable through the gzip form).
//!
//! Invariants: nothing panics; an accepted archive matches the expected
//! name and version and stayed within every limit; error messages are one
//! bounded line (archive text is escaped and shortened).
#![no_main]

use std::borrow::Cow;
use std::io::Write;

use berth_tarball::{inspect, Limits};
use flate2::write::GzEncoder;
use flate2::Compression;
use libfuzzer_sys::fuzz_target;

const NAME: &str = "foo";
const VERSION: &str = "1.0.0";

/// Small limits so that bombs and long archives hit them quickly.
const LIMITS: Limits = Limits {
    max_unpacked_size: 256 * 1024,
    max_entries: 64,
    max_manifest_size: 16 * 1024,
    max_readme_size: 16 * 1024,
    max_path_len: 512,
    max_header_bytes: 4096,
};

/// Writes a valid checksum into each header block, walking the archive by
/// the blocks' size fields (octal or base-256) until an all-zero block.
fn fix_checksums(tar: &mut [u8]) {
    let mut at = 0usize;
    while let Some(block) = tar.get_mut(at..at.saturating_add(512)) {
        if block.iter().all(|b| *b == 0) {
            break;
        }
        block[148..156].fill(b' ');
        let sum: u32 = block.iter().map(|b| u32::from(*b)).sum();
        block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        let field = &block[124..136];
        let size = if field[0] & 0x80 != 0 {
            field[4..].iter().fold(0u64, |n, b| {
                n.saturating_mul(256).saturating_add(u64::from(*b))
            })
        } else {
            field
                .iter()
                .skip_while(|b| **b == b' ')
                .take_while(|b| (b'0'..=b'7').contains(*b))
                .fold(0u64, |n, b| {
                    n.saturating_mul(8).saturating_add(u64::from(b - b'0'))
                })
        };
        let data = usize::try_from(size.div_ceil(512).saturating_mul(512)).unwrap_or(usize::MAX);
        at = at.saturating_add(512).saturating_add(data);
    }
}

fuzz_target!(|data: &[u8]| {
    let (readme, krate): (Option<String>, Cow<[u8]>) = match data.first() {
        None => (None, Cow::Borrowed(data)),
        Some(0x1f) => (Some("README.md".to_owned()), Cow::Borrowed(data)),
        Some(&flag) => {
            let n = usize::from(flag & 0x7f).min(data.len() - 1);
            let path = &data[1..1 + n];
            // An empty path stands for "no readme_file in the metadata".
            let readme = (!path.is_empty()).then(|| String::from_utf8_lossy(path).into_owned());
            let rest = &data[1 + n..];
            if flag & 0x80 == 0 {
                (readme, Cow::Borrowed(rest))
            } else {
                let mut tar = rest.to_vec();
                fix_checksums(&mut tar);
                let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
                gz.write_all(&tar).expect("writing to a Vec");
                (readme, Cow::Owned(gz.finish().expect("writing to a Vec")))
            }
        }
    };

    match inspect(&krate, NAME, VERSION, readme.as_deref(), &LIMITS) {
        Ok(info) => {
            assert_eq!(info.manifest_name, NAME);
            assert_eq!(info.manifest_version, VERSION);
            assert!(info.unpacked_size <= LIMITS.max_unpacked_size);
            assert!(info.files <= LIMITS.max_entries);
            assert!(info.files >= 1, "accepted without Cargo.toml");
            // Lossy decoding turns each bad byte into one char, so the char
            // count is bounded by the byte limit.
            if let Some(text) = &info.readme {
                assert!(readme.is_some());
                assert!(text.chars().count() as u64 <= LIMITS.max_readme_size);
            }
        }
        Err(e) => {
            let message = e.to_string();
            assert!(
                message.chars().count() <= 2_000,
                "unbounded error message ({} chars): {e:?}",
                message.chars().count()
            );
            assert!(
                !message.chars().any(char::is_control),
                "control character in error message: {message:?}"
            );
        }
    }
});
