//! Tests for `berth_tarball::inspect` against archives built in memory with
//! the test kit's `TarballBuilder`, including hand-crafted hostile headers the
//! tar crate would refuse to write. These tests own no production behaviour
//! and must never touch disk.

use std::io::{self, Read};
use std::time::Instant;

use berth_tarball::{inspect, CrateInfo, EntryKind, Limits, TarballError};
use berth_testkit::{gzip, manifest, Compression, EntryType, TarballBuilder};

const NAME: &str = "foo";
const VERSION: &str = "1.0.0";
const README: &[u8] = b"# foo\n\nA crate.\n";

/// Cargo.toml and src/lib.rs for foo 1.0.0.
fn base() -> TarballBuilder {
    TarballBuilder::new()
        .file("foo-1.0.0/Cargo.toml", manifest(NAME, VERSION).as_bytes())
        .file("foo-1.0.0/src/lib.rs", b"pub fn f() {}\n")
}

fn good() -> TarballBuilder {
    base().file("foo-1.0.0/README.md", README)
}

fn check(bytes: &[u8]) -> Result<CrateInfo, TarballError> {
    inspect(bytes, NAME, VERSION, Some("README.md"), &Limits::default())
}

fn check_err(bytes: &[u8]) -> TarballError {
    match check(bytes) {
        Ok(info) => panic!("expected an error, got {info:?}"),
        Err(e) => e,
    }
}

/// Inspects `bytes`, fails the test unless the refusal matches `pattern`,
/// and gives the error.
macro_rules! refused {
    ($bytes:expr, $pattern:pat $(if $guard:expr)?) => {{
        let err = check_err($bytes);
        assert!(matches!(err, $pattern $(if $guard)?), "{err:?}");
        err
    }};
}

fn assert_mentions(err: &TarballError, needle: &str) {
    let message = err.to_string();
    assert!(
        message.contains(needle),
        "message {message:?} should mention {needle:?}"
    );
}

#[test]
fn good_crate_is_accepted() {
    let info = check(&good().gz()).unwrap();
    assert_eq!(info.manifest_name, "foo");
    assert_eq!(info.manifest_version, "1.0.0");
    assert_eq!(info.readme.as_deref(), Some("# foo\n\nA crate.\n"));
    assert_eq!(info.files, 3);
    assert_eq!(info.unpacked_size, good().tar().len() as u64);
}

#[test]
fn readme_lookup_variants() {
    let bytes = good()
        .dir("foo-1.0.0/docs/")
        .file("foo-1.0.0/docs/GUIDE.md", b"guide \xff")
        .gz();
    let with = |p: Option<&str>| {
        inspect(&bytes, NAME, VERSION, p, &Limits::default())
            .unwrap()
            .readme
    };
    assert_eq!(with(None), None);
    assert_eq!(
        with(Some("./README.md")).as_deref(),
        Some("# foo\n\nA crate.\n")
    );
    assert_eq!(
        with(Some("docs/GUIDE.md")).as_deref(),
        Some("guide \u{fffd}")
    );
    assert_eq!(with(Some("docs/../README.md")), None);
    assert_eq!(with(Some("MISSING.md")), None);
    assert_eq!(with(Some("docs")), None, "a directory is not a README");
}

#[test]
fn long_gnu_names_and_directories_are_fine() {
    let long = format!("foo-1.0.0/{}/lib.rs", "d".repeat(150));
    let info = check(
        &good()
            .dir("foo-1.0.0/")
            .dir("foo-1.0.0/src")
            .file(&long, b"x")
            .gz(),
    )
    .unwrap();
    assert_eq!(info.files, 4);
}

#[test]
fn global_pax_header_is_skipped() {
    let bytes = TarballBuilder::new()
        .raw(
            b"pax_global_header",
            EntryType::XGlobalHeader,
            b"52 comment=0123456789012345678901234567890123456789\n",
        )
        .file("foo-1.0.0/Cargo.toml", manifest(NAME, VERSION).as_bytes())
        .gz();
    assert_eq!(check(&bytes).unwrap().files, 1);
}

#[test]
fn paths_outside_the_root_are_refused() {
    let hostile: &[&[u8]] = &[
        b"../x",
        b"/etc/passwd",
        b"other-1.0.0/x",
        b"foo-1.0.0/../x",
        b"foo-1.0.0/src/../../x",
        b"foo-1.0.0x/y",
    ];
    for path in hostile {
        let err = check_err(&good().raw(path, EntryType::Regular, b"x").gz());
        let shown = std::str::from_utf8(path).unwrap();
        assert!(
            matches!(&err, TarballError::OutsideRoot { path, root } if path == shown && root == "foo-1.0.0"),
            "{shown}: {err:?}"
        );
        assert_mentions(&err, &format!("`{shown}`"));
        assert_mentions(&err, "outside `foo-1.0.0/`");
    }
}

#[test]
fn pax_path_outside_the_root_is_refused() {
    let bytes = good()
        .pax_path(b"foo-1.0.0/../../etc/cron.d/x")
        .raw(b"foo-1.0.0/innocent", EntryType::Regular, b"x")
        .gz();
    let err = refused!(&bytes, TarballError::OutsideRoot { .. });
    assert_mentions(&err, "`foo-1.0.0/../../etc/cron.d/x`");
}

#[test]
fn malformed_paths_are_refused() {
    let cases: &[(&[u8], &str)] = &[
        (b"foo-1.0.0/a\\b", "backslash"),
        (b"foo-1.0.0/./x", "`.` component"),
        (b"foo-1.0.0//x", "empty component"),
        (b"foo-1.0.0/\xff\xfe", "not valid UTF-8"),
        (b"foo-1.0.0", "root must be a directory"),
    ];
    for (path, reason) in cases {
        let err = refused!(
            &good().raw(path, EntryType::Regular, b"x").gz(),
            TarballError::InvalidPath { .. }
        );
        assert_mentions(&err, reason);
        assert_mentions(&err, &String::from_utf8_lossy(path));
    }
}

#[test]
fn special_entries_are_refused() {
    let cases = [
        (EntryType::Symlink, EntryKind::Symlink, "symbolic link"),
        (EntryType::Link, EntryKind::HardLink, "hard link"),
        (EntryType::Char, EntryKind::CharDevice, "character device"),
        (EntryType::Block, EntryKind::BlockDevice, "block device"),
        (EntryType::Fifo, EntryKind::Fifo, "FIFO"),
        (
            EntryType::new(b'V'),
            EntryKind::Other(b'V'),
            "unsupported type `V`",
        ),
    ];
    for (tar_kind, kind, words) in cases {
        let bytes = good()
            .raw_with(b"foo-1.0.0/link", tar_kind, b"", |h| {
                h.set_link_name("foo-1.0.0/src/lib.rs").unwrap();
            })
            .gz();
        let err = check_err(&bytes);
        assert!(
            matches!(&err, TarballError::UnsupportedEntry { path, kind: k } if path == "foo-1.0.0/link" && *k == kind),
            "{err:?}"
        );
        assert_mentions(&err, "`foo-1.0.0/link` is a");
        assert_mentions(&err, words);
        assert_mentions(&err, "only contain regular files and directories");
    }
}

#[test]
fn duplicates_are_refused() {
    let err = refused!(
        &good().file("foo-1.0.0/src/lib.rs", b"again").gz(),
        TarballError::DuplicateEntry { .. }
    );
    assert_mentions(&err, "duplicate entry `foo-1.0.0/src/lib.rs`");

    let err = refused!(
        &good().dir("foo-1.0.0/src/lib.rs").gz(),
        TarballError::DuplicateEntry { .. }
    );
    assert_mentions(&err, "`foo-1.0.0/src/lib.rs`");

    refused!(
        &good().dir("foo-1.0.0/src").dir("foo-1.0.0/src/").gz(),
        TarballError::DuplicateEntry { .. }
    );
}

#[test]
fn missing_manifest_is_refused() {
    let bytes = TarballBuilder::new()
        .file("foo-1.0.0/src/lib.rs", b"")
        .file("foo-1.0.0/cargo.toml", manifest(NAME, VERSION).as_bytes())
        .gz();
    let err = refused!(&bytes, TarballError::MissingManifest { .. });
    assert_mentions(&err, "has no `foo-1.0.0/Cargo.toml`");

    refused!(
        &TarballBuilder::new().gz(),
        TarballError::MissingManifest { .. }
    );
}

#[test]
fn manifest_name_and_version_must_match() {
    let bytes = TarballBuilder::new()
        .file("foo-1.0.0/Cargo.toml", manifest("bar", VERSION).as_bytes())
        .gz();
    let err = refused!(&bytes, TarballError::NameMismatch { .. });
    assert_mentions(&err, "names package `bar`, but the upload is for `foo`");

    let bytes = TarballBuilder::new()
        .file("foo-1.0.0/Cargo.toml", manifest(NAME, "1.0.1").as_bytes())
        .gz();
    let err = refused!(&bytes, TarballError::VersionMismatch { .. });
    assert_mentions(&err, "`1.0.1`");
    assert_mentions(&err, "`1.0.0`");
}

#[test]
fn bad_manifests_are_refused() {
    let with = |toml: &[u8]| {
        TarballBuilder::new()
            .file("foo-1.0.0/Cargo.toml", toml)
            .gz()
    };

    let err = refused!(
        &with(b"[package]\nname = \"foo\"\nversion = \n"),
        TarballError::InvalidManifest { .. }
    );
    assert_mentions(&err, "not valid TOML");
    assert_mentions(&err, "line 3");

    refused!(
        &with(b"[package]\nname = \"foo\"\n\xff = 1\n"),
        TarballError::InvalidManifest { .. }
    );

    let err = refused!(
        &with(b"[package]\nname = \"foo\"\n"),
        TarballError::ManifestMissingField { field: "version" }
    );
    assert_mentions(&err, "`package.version`");

    refused!(
        &with(b"[package]\nname = \"foo\"\nversion.workspace = true\n"),
        TarballError::ManifestMissingField { field: "version" }
    );

    refused!(
        &with(b"[lib]\nname = \"foo\"\n"),
        TarballError::ManifestMissingField { field: "name" }
    );
}

#[test]
fn oversized_manifest_is_refused() {
    let mut toml = manifest(NAME, VERSION);
    toml.push_str(&"# padding\n".repeat(200));
    let limits = Limits {
        max_manifest_size: 1024,
        ..Limits::default()
    };
    let bytes = TarballBuilder::new()
        .file("foo-1.0.0/Cargo.toml", toml.as_bytes())
        .gz();
    let err = inspect(&bytes, NAME, VERSION, None, &limits).unwrap_err();
    assert!(
        matches!(err, TarballError::ManifestTooLarge { limit: 1024, .. }),
        "{err:?}"
    );
    assert_mentions(&err, "`foo-1.0.0/Cargo.toml`");
}

#[test]
fn oversized_readme_is_refused() {
    let limits = Limits {
        max_readme_size: 1000,
        ..Limits::default()
    };
    let bytes = base().file("foo-1.0.0/README.md", &[b'a'; 1001]).gz();
    let err = inspect(&bytes, NAME, VERSION, Some("README.md"), &limits).unwrap_err();
    assert!(
        matches!(err, TarballError::ReadmeTooLarge { limit: 1000, .. }),
        "{err:?}"
    );
    assert_mentions(&err, "`foo-1.0.0/README.md`");

    // Exactly at the limit is fine, and the limit only applies to the README.
    let bytes = base().file("foo-1.0.0/README.md", &[b'a'; 1000]).gz();
    let info = inspect(&bytes, NAME, VERSION, Some("README.md"), &limits).unwrap();
    assert_eq!(info.readme.map(|r| r.len()), Some(1000));
    assert!(inspect(&bytes, NAME, VERSION, None, &limits).is_ok());
}

/// A gzip stream of `foo-1.0.0/Cargo.toml` plus one entry of `zeros` zero
/// bytes, built without ever holding the uncompressed data in memory.
fn bomb(zeros: u64) -> Vec<u8> {
    TarballBuilder::streaming(Compression::fast())
        .file("foo-1.0.0/Cargo.toml", manifest(NAME, VERSION).as_bytes())
        .file_from_reader("foo-1.0.0/zeros", zeros, io::repeat(0).take(zeros))
        .gz()
}

#[test]
fn gzip_bomb_small_limit() {
    let bytes = bomb(10 << 20);
    assert!(bytes.len() < 100_000, "bomb is {} bytes", bytes.len());
    let limits = Limits {
        max_unpacked_size: 1 << 20,
        ..Limits::default()
    };
    let err = inspect(&bytes, NAME, VERSION, None, &limits).unwrap_err();
    assert!(
        matches!(err, TarballError::TooLarge { limit } if limit == 1 << 20),
        "{err:?}"
    );
    assert_mentions(&err, "unpacks to more than 1048576 bytes");

    // The same archive passes with the default limit, and with a limit of
    // exactly its unpacked size, but not one byte less.
    let info = inspect(&bytes, NAME, VERSION, None, &Limits::default()).unwrap();
    let exact = Limits {
        max_unpacked_size: info.unpacked_size,
        ..Limits::default()
    };
    assert!(inspect(&bytes, NAME, VERSION, None, &exact).is_ok());
    let short = Limits {
        max_unpacked_size: info.unpacked_size - 1,
        ..Limits::default()
    };
    assert!(matches!(
        inspect(&bytes, NAME, VERSION, None, &short),
        Err(TarballError::TooLarge { .. })
    ));
}

#[test]
fn gzip_bomb_default_limit() {
    let bytes = bomb(600 << 20);
    let started = Instant::now();
    refused!(&bytes, TarballError::TooLarge { limit } if limit == 512 << 20);
    let elapsed = started.elapsed();
    assert!(elapsed.as_secs() < 30, "inspection took {elapsed:?}");

    // Sanity check that the data really is there: a roomier limit reads it all.
    let roomy = Limits {
        max_unpacked_size: 700 << 20,
        ..Limits::default()
    };
    let info = inspect(&bytes, NAME, VERSION, None, &roomy).unwrap();
    assert!(info.unpacked_size > 600 << 20, "{info:?}");
}

#[test]
fn too_many_entries_are_refused() {
    let mut tarball = base();
    for i in 0..200 {
        tarball = tarball.file(&format!("foo-1.0.0/src/m{i}.rs"), b"");
    }
    let bytes = tarball.gz();
    let limits = Limits {
        max_entries: 100,
        ..Limits::default()
    };
    let err = inspect(&bytes, NAME, VERSION, None, &limits).unwrap_err();
    assert!(
        matches!(err, TarballError::TooManyEntries { limit: 100 }),
        "{err:?}"
    );
    assert_mentions(&err, "more than 100 entries");

    let limits = Limits {
        max_entries: 202,
        ..Limits::default()
    };
    assert_eq!(
        inspect(&bytes, NAME, VERSION, None, &limits).unwrap().files,
        202
    );
}

#[test]
fn not_gzip_is_refused() {
    for bytes in [&b""[..], b"this is not a gzip stream at all", &good().tar()] {
        let err = refused!(bytes, TarballError::InvalidGzip { .. });
        assert_mentions(&err, "not a valid gzip stream");
    }
}

#[test]
fn truncated_gzip_is_refused() {
    let bytes = good().gz();
    for cut in [bytes.len() / 2, bytes.len() - 4, bytes.len() - 1, 12] {
        let err = check_err(&bytes[..cut]);
        assert!(
            matches!(err, TarballError::InvalidGzip { .. }),
            "cut {cut}: {err:?}"
        );
    }
    let mut corrupt = bytes.clone();
    let at = corrupt.len() - 6;
    corrupt[at] ^= 0xff;
    refused!(&corrupt, TarballError::InvalidGzip { .. });
}

#[test]
fn gzip_of_garbage_is_refused() {
    let err = refused!(
        &gzip(&b"garbage!".repeat(100)),
        TarballError::InvalidTar { .. }
    );
    assert_mentions(&err, "not a valid tar archive");
}

#[test]
fn truncated_tar_is_refused() {
    let tar = good().tar();
    // Cut inside the data of the first entry (after its 512-byte header).
    let err = refused!(&gzip(&tar[..530]), TarballError::InvalidTar { .. });
    assert_mentions(&err, "`foo-1.0.0/Cargo.toml` is truncated");
    // Cut inside a header.
    refused!(&gzip(&tar[..1100]), TarballError::InvalidTar { .. });
}

#[test]
fn trailing_data_is_refused() {
    let mut bytes = good().gz();
    bytes.extend_from_slice(b"extra");
    refused!(&bytes, TarballError::TrailingGzipData);

    let mut two_members = good().gz();
    two_members.extend_from_slice(&good().gz());
    refused!(&two_members, TarballError::TrailingGzipData);

    let mut tar = good().tar();
    tar.extend_from_slice(&TarballBuilder::new().file("foo-1.0.0/hidden", b"x").tar());
    refused!(&gzip(&tar), TarballError::TrailingTarData);

    // Zero padding after the end-of-archive marker is fine.
    let mut tar = good().tar();
    tar.extend_from_slice(&[0; 8192]);
    assert!(check(&gzip(&tar)).is_ok());
}

#[test]
fn hostile_values_are_escaped_in_messages() {
    let err = check_err(
        &good()
            .raw(b"../\x1b[31mred\n", EntryType::Regular, b"x")
            .gz(),
    );
    let message = err.to_string();
    assert!(
        !message.contains('\x1b') && !message.contains('\n'),
        "{message:?}"
    );

    let long_name = "x".repeat(10_000);
    let bytes = TarballBuilder::new()
        .file(
            "foo-1.0.0/Cargo.toml",
            manifest(&long_name, VERSION).as_bytes(),
        )
        .gz();
    let err = refused!(&bytes, TarballError::NameMismatch { .. });
    assert!(err.to_string().len() < 1000);
}
