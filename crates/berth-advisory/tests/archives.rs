//! Input forms and their bounds: a directory, a `.tar.gz`, a `.tar` and a
//! `.zip` of the same database give the same set and digest; corrupt
//! archives, unsafe member paths and inputs past the limits are refused
//! whole; the digest is stable and follows the content.

mod common;

use berth_advisory::{import_bytes, import_path, Advisory, AdvisorySet, ImportError, Limits};
use common::*;

/// One way of importing the same database, under the limits given.
type Import<'a> = dyn Fn(&Limits) -> Result<AdvisorySet, ImportError> + 'a;

fn from_dir(files: &[(String, String)]) -> AdvisorySet {
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path(), files);
    import_path(dir.path(), &Limits::default()).unwrap()
}

#[test]
fn every_input_form_gives_the_same_set() {
    let db = small_db();
    let dir_set = from_dir(&db);
    assert_eq!(dir_set.len(), 4);
    let forms = [
        ("tar.gz with top folder", tar_gz("advisory-db-main", &db)),
        ("tar.gz without", tar_gz("", &db)),
        ("tar", tar("advisory-db-main", &db)),
        ("zip with top folder", zip("advisory-db-main", &db)),
        ("zip without", zip("", &db)),
    ];
    for (what, bytes) in &forms {
        let set = import_bytes(bytes, &Limits::default()).unwrap();
        assert_eq!(set, dir_set, "{what}");
        assert_eq!(set.digest(), dir_set.digest(), "{what}");
    }
    // The same archives as files, whatever their names.
    let work = tempfile::tempdir().unwrap();
    for (i, (what, bytes)) in forms.iter().enumerate() {
        let path = work.path().join(format!("input-{i}.bin"));
        std::fs::write(&path, bytes).unwrap();
        let set = import_path(&path, &Limits::default()).unwrap();
        assert_eq!(set.digest(), dir_set.digest(), "{what} from a file");
    }
}

#[test]
fn digest_is_stable_and_follows_content() {
    let db = small_db();
    let first = from_dir(&db);
    let again = from_dir(&db);
    assert_eq!(first.digest(), again.digest());
    assert_eq!(first.digest().len(), 64);
    assert!(first.digest().bytes().all(|b| b.is_ascii_hexdigit()));

    // Order of construction does not matter.
    let mut reversed: Vec<Advisory> = first.iter().cloned().collect();
    reversed.reverse();
    assert_eq!(
        AdvisorySet::from_advisories(reversed).digest(),
        first.digest()
    );

    // Any change of content changes it: a requirement, a withdrawal, a
    // title, one more advisory.
    let changed = |from: &str, to: &str| {
        let files: Vec<(String, String)> = db
            .iter()
            .map(|(p, t)| (p.clone(), t.replacen(from, to, 1)))
            .collect();
        from_dir(&files).digest().to_owned()
    };
    let digests = [
        changed("\">= 1.3.1\"", "\">= 1.3.2\""),
        changed("informational = \"unsound\"", "withdrawn = \"2024-01-01\""),
        changed("Buffer overflow", "Heap overflow"),
        changed("keywords = [\"test\"]", "keywords = [\"test\", \"more\"]"),
    ];
    for d in &digests {
        assert_ne!(d, first.digest());
    }
    let mut more = db.clone();
    more.push((
        md_path("extra", "RUSTSEC-2023-0050"),
        rustsec_md("RUSTSEC-2023-0050", "extra", "", "patched = []", "Extra"),
    ));
    assert_ne!(from_dir(&more).digest(), first.digest());
    assert_ne!(AdvisorySet::default().digest(), first.digest());
    assert!(AdvisorySet::default().is_empty());
}

#[test]
fn corrupt_archives_are_refused() {
    let db = small_db();
    let good = tar_gz("advisory-db-main", &db);
    let corrupt = |bytes: &[u8]| {
        let err = import_bytes(bytes, &Limits::default()).unwrap_err();
        assert!(matches!(err, ImportError::CorruptArchive { .. }), "{err}");
        err
    };
    // A flipped byte in the compressed stream, a cut stream, a bad CRC.
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x55;
    corrupt(&flipped);
    corrupt(&good[..good.len() * 2 / 3]);
    let mut bad_crc = good.clone();
    let at = bad_crc.len() - 8;
    bad_crc[at] ^= 0xff;
    corrupt(&bad_crc);
    // Bytes after the gzip stream that are not another gzip member.
    let mut trailing = good.clone();
    trailing.extend_from_slice(b"trailing bytes");
    corrupt(&trailing);
    // A damaged tar header (checksum) inside a valid gzip stream.
    let mut raw = tar("", &db);
    raw[10] ^= 0x01;
    corrupt(&gzip(&raw));

    let zipped = zip("advisory-db-main", &db);
    corrupt(&zipped[..zipped.len() - 30]);
    // A damaged advisory member (its CRC no longer matches).
    let mut damaged = zipped.clone();
    let needle = b"crates/multi-range/RUSTSEC-2023-0001.md";
    let at = damaged
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    damaged[at + needle.len() + 40] ^= 0x20;
    corrupt(&damaged);

    let err = import_bytes(b"plain text, not an archive", &Limits::default()).unwrap_err();
    assert!(matches!(err, ImportError::UnknownInput { .. }), "{err}");
}

#[test]
fn unsafe_member_paths_are_refused() {
    let body = osv_json("X-1", "c", "[]", "");
    for name in [
        "../escape.json",
        "advisory-db/../../escape.json",
        "/abs/crates/c/X.md",
    ] {
        let err =
            import_bytes(&gzip(&tar_with_raw_name(name, &body)), &Limits::default()).unwrap_err();
        assert!(
            matches!(err, ImportError::UnsafePath { .. }),
            "{name}: {err}"
        );
        assert!(err.to_string().contains(name), "{err}");

        let err =
            import_bytes(&zip("", &[(name.into(), body.clone())]), &Limits::default()).unwrap_err();
        assert!(
            matches!(err, ImportError::UnsafePath { .. }),
            "zip {name}: {err}"
        );
    }
    // Even a member that is not an advisory refuses the archive.
    let err =
        import_bytes(&tar_with_raw_name("../notes.txt", "x"), &Limits::default()).unwrap_err();
    assert!(matches!(err, ImportError::UnsafePath { .. }), "{err}");
}

#[test]
fn limits_are_enforced() {
    let db = small_db();
    let few_files = Limits {
        max_files: 3,
        ..Limits::default()
    };
    let small_files = Limits {
        max_file_bytes: 200,
        ..Limits::default()
    };
    let few_bytes = Limits {
        max_total_bytes: 4_000,
        ..Limits::default()
    };
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path(), &db);
    let inputs: Vec<Box<Import<'_>>> = vec![
        Box::new(|l| import_path(dir.path(), l)),
        Box::new(|l| import_bytes(&tar_gz("top", &db), l)),
        Box::new(|l| import_bytes(&zip("top", &db), l)),
    ];
    for (i, input) in inputs.iter().enumerate() {
        let err = input(&few_files).unwrap_err();
        assert!(
            matches!(err, ImportError::TooManyFiles { limit: 3 }),
            "{i}: {err}"
        );
        let err = input(&small_files).unwrap_err();
        assert!(
            matches!(err, ImportError::FileTooLarge { limit: 200, .. }),
            "{i}: {err}"
        );
        assert!(
            err.to_string().starts_with("crates/") || err.to_string().starts_with("top/"),
            "{err}"
        );
        assert!(input(&Limits::default()).is_ok());
    }
    // A bomb: a small gzip that inflates past the total, in a file that is
    // not even an advisory.
    let mut bomb = db.clone();
    bomb.push(("padding.bin".into(), "\0".repeat(64 * 1024)));
    let bytes = tar_gz("", &bomb);
    assert!(bytes.len() < 4_000);
    let err = import_bytes(&bytes, &few_bytes).unwrap_err();
    assert!(
        matches!(err, ImportError::TooManyBytes { limit: 4_000 }),
        "{err}"
    );
}

#[test]
fn hidden_folders_and_non_advisories_are_skipped() {
    let mut db = small_db();
    db.push((".git/objects/junk.json".into(), "{ broken".into()));
    db.push(("rust/std/CVE-2099-0001.md".into(), "not parsed".into()));
    db.push(("crates/x/notes.txt".into(), "not parsed".into()));
    assert_eq!(from_dir(&db).len(), 4);
    assert_eq!(
        import_bytes(&tar_gz("top", &db), &Limits::default())
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn missing_input_names_the_path() {
    let err = import_path(
        std::path::Path::new("/nonexistent/advisory-db"),
        &Limits::default(),
    )
    .unwrap_err();
    assert!(matches!(err, ImportError::Io { .. }), "{err}");
    assert!(
        err.to_string().contains("/nonexistent/advisory-db"),
        "{err}"
    );
}
