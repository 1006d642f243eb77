//! `PUT /api/v1/crates/new` body splitting: `u32` LE length, metadata, `u32`
//! LE length, `.crate` bytes. The whole input is the request body.
//!
//! Invariants beyond "never panics": a successful split covers the body
//! exactly (`metadata + crate + 8 == body`), re-encodes to the same bytes,
//! respects the limits it was given, and raising the limits never turns a
//! success into a failure; a size error names a length above its limit.
#![no_main]

use berth_protocol::body::encode_publish_body;
use berth_protocol::{parse_publish_body, BodyError};
use libfuzzer_sys::fuzz_target;

/// (max_metadata, max_crate) pairs: unlimited, the server's defaults, the
/// configured minimum for metadata, tiny, and zero.
const LIMITS: &[(u64, u64)] = &[
    (u64::MAX, u64::MAX),
    (10 * 1024 * 1024, 10 * 1024 * 1024),
    (1024, 1),
    (16, 16),
    (0, 0),
];

fn check(data: &[u8], max_meta: u64, max_crate: u64) -> Result<(usize, usize), ()> {
    match parse_publish_body(data, max_meta, max_crate) {
        Ok(body) => {
            let (m, c) = (body.metadata.len(), body.crate_file.len());
            assert_eq!(m + c + 8, data.len(), "split does not cover the body");
            assert!(
                m as u64 <= max_meta && c as u64 <= max_crate,
                "limit ignored"
            );
            assert_eq!(&data[..4], &(m as u32).to_le_bytes());
            assert_eq!(body.metadata, &data[4..4 + m]);
            assert_eq!(&data[4 + m..8 + m], &(c as u32).to_le_bytes());
            assert_eq!(body.crate_file, &data[8 + m..]);
            assert_eq!(encode_publish_body(body.metadata, body.crate_file), data);
            Ok((m, c))
        }
        Err(e) => {
            match &e {
                BodyError::MetadataTooLarge { len, max } => {
                    assert!(len > max && *max == max_meta, "{e}")
                }
                BodyError::CrateTooLarge { len, max } => {
                    assert!(len > max && *max == max_crate, "{e}")
                }
                BodyError::Truncated {
                    expected, found, ..
                } => assert!(found < expected, "{e}"),
                BodyError::TrailingBytes(n) => assert!(*n > 0 && *n < data.len() as u64, "{e}"),
            }
            // The message is shown to cargo users: it must render.
            assert!(!e.to_string().is_empty());
            Err(())
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let unlimited = check(data, u64::MAX, u64::MAX);
    for &(max_meta, max_crate) in &LIMITS[1..] {
        let limited = check(data, max_meta, max_crate);
        if limited.is_ok() {
            // Lower limits may only refuse more, never split differently.
            assert_eq!(limited, unlimited);
        }
        if let Ok((m, c)) = unlimited {
            if m as u64 <= max_meta && c as u64 <= max_crate {
                assert_eq!(limited, unlimited, "a body within the limits was refused");
            }
        }
    }
});
