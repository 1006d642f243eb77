//! Crate names, sparse-index paths and versions on arbitrary text (lossy
//! UTF-8 of the input, so every input is used).
//!
//! Invariants: nothing panics; `canonical_name` is idempotent and keeps the
//! length; a valid name's index path maps back to its lowercased self, also
//! with a leading `/` or in another case; any path that maps to a name is
//! exactly that name's path; a valid version's canonical form is a valid
//! version without build metadata and is a fixed point.
#![no_main]

use berth_protocol::index::crate_from_index_path;
use berth_protocol::names::MAX_NAME_LEN;
use berth_protocol::{
    canonical_name, canonical_version, index_path, validate_crate_name, validate_version,
};
use libfuzzer_sys::fuzz_target;

fn names(s: &str) {
    let canon = canonical_name(s);
    assert_eq!(
        canonical_name(&canon),
        canon,
        "canonical_name not idempotent"
    );
    assert_eq!(canon.len(), s.len());
    assert!(!canon.contains('-'));

    if validate_crate_name(s).is_ok() {
        assert!(!s.is_empty() && s.len() <= MAX_NAME_LEN && s.is_ascii());
        assert!(s.as_bytes()[0].is_ascii_alphabetic());
        // A valid name's canonical spelling is valid too unless it starts
        // differently (it cannot: the first byte is a letter).
        assert!(
            validate_crate_name(&canon).is_ok(),
            "canonical of valid `{s}` refused"
        );

        let lower = s.to_ascii_lowercase();
        let path = index_path(s);
        assert_eq!(path, index_path(&lower));
        assert_eq!(
            crate_from_index_path(&path).as_deref(),
            Some(lower.as_str()),
            "{path}"
        );
        assert_eq!(
            crate_from_index_path(&format!("/{path}")).as_deref(),
            Some(lower.as_str())
        );
        assert_eq!(
            crate_from_index_path(&path.to_ascii_uppercase()).as_deref(),
            Some(lower.as_str())
        );
    }

    // Any request path: if it names a crate, it is exactly that crate's path.
    if let Some(name) = crate_from_index_path(s) {
        assert!(!name.is_empty() && name.is_ascii());
        assert_eq!(name, name.to_ascii_lowercase());
        assert_eq!(
            index_path(&name),
            s.trim_start_matches('/').to_ascii_lowercase(),
            "`{s}` maps to `{name}`"
        );
        assert!(!name.contains('/'));
    }
    // Any string gives a path without panicking (a regression: byte slicing
    // once split a multi-byte character).
    let p = index_path(s);
    assert_eq!(p.is_empty(), s.is_empty());
}

fn versions(s: &str) {
    let Ok(v) = validate_version(s) else {
        return;
    };
    assert!(s.len() <= berth_protocol::version::MAX_VERSION_LEN);
    let canon = canonical_version(&v);
    let cv = validate_version(&canon)
        .unwrap_or_else(|e| panic!("canonical `{canon}` of `{s}` is invalid: {e}"));
    assert!(cv.build.is_empty());
    assert_eq!(canonical_version(&cv), canon);
    assert_eq!((cv.major, cv.minor, cv.patch), (v.major, v.minor, v.patch));
    assert_eq!(cv.pre, v.pre);
    if v.build.is_empty() {
        assert_eq!(canon, v.to_string());
    }
}

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    names(&s);
    versions(&s);
    // Also each line on its own, so one input covers several short strings.
    if s.contains('\n') {
        for line in s.split('\n') {
            names(line);
            versions(line);
        }
    }
});
