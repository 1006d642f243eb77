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
//! deflate stream.
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
};

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
                let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
                gz.write_all(rest).expect("writing to a Vec");
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
