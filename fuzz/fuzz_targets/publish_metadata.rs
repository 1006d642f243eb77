//! Publish metadata JSON (as cargo sends it) -> validation -> the index line
//! derived from it -> that line parsed back. The whole input is the JSON.
//!
//! Invariants: nothing panics; a validated publish yields an index line that
//! is non-empty JSON, parses back to the same `IndexEntry` and re-serialises
//! byte for byte; the canonical name/version agree with the protocol's
//! functions; features are split without losing or duplicating any.
#![no_main]

use berth_protocol::{
    canonical_name, canonical_version, validate_crate_name, validate_version, IndexEntry,
    PublishMetadata,
};
use libfuzzer_sys::fuzz_target;

const CKSUM: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const PUBTIME: &str = "2026-01-02T03:04:05Z";

fuzz_target!(|data: &[u8]| {
    // Stored index lines are ours, but parsing one must not panic either.
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(entry) = IndexEntry::from_line(text) {
            let line = entry.to_line();
            assert_eq!(IndexEntry::from_line(&line).ok().as_ref(), Some(&entry));
        }
    }

    let Ok(meta) = PublishMetadata::from_json(data) else {
        return;
    };
    let features_in: Vec<String> = meta.features.keys().cloned().collect();
    let Ok(valid) = meta.validate() else {
        return;
    };
    let m = &valid.meta;
    assert!(validate_crate_name(&m.name).is_ok());
    assert_eq!(valid.canon_name, canonical_name(&m.name));
    let version = validate_version(&m.vers).expect("validated version re-parses");
    assert_eq!(version, valid.version);
    assert_eq!(valid.canon_vers, canonical_version(&valid.version));

    let entry = valid.index_entry(CKSUM, PUBTIME);
    assert_eq!(entry.name, m.name);
    assert_eq!(entry.vers, m.vers);
    assert_eq!(entry.deps.len(), m.deps.len());
    assert!(!entry.yanked);
    // Every feature lands in exactly one of the two maps.
    let mut features_out: Vec<String> = entry.features.keys().cloned().collect();
    if let Some(f2) = &entry.features2 {
        assert!(!f2.is_empty(), "empty features2 must be omitted");
        assert_eq!(entry.v, Some(2));
        features_out.extend(f2.keys().cloned());
    } else {
        assert_eq!(entry.v, None);
    }
    features_out.sort();
    assert_eq!(features_out, features_in);

    let line = entry.to_line();
    assert!(
        line.starts_with('{') && !line.contains('\n'),
        "bad line: {line}"
    );
    let back = IndexEntry::from_line(&line)
        .unwrap_or_else(|e| panic!("index line does not parse back ({e}): {line}"));
    assert_eq!(back, entry, "index line does not round-trip: {line}");
    assert_eq!(back.to_line(), line, "index line is not stable");
});
