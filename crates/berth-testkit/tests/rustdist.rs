//! The fixture dist server against the real rustup: a toolchain installs
//! from it (minimal profile), runs, updates to a newer release, takes
//! renamed and every-target components, and a corrupted archive fails the
//! install with a checksum error and leaves no toolchain behind. No rustup
//! run reaches anything but loopback fixtures, nor the machine's own rustup
//! home. Plus the fixture's own promises (deterministic archives, the
//! manifest's hashes and URLs, ranges, corruption, stop) without rustup.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use berth_testkit::rustdist::TARGET;
use berth_testkit::{http, sha256_hex, RustDist, Rustup};

const DATE: &str = "2026-11-01";
const VERSION: &str = "1.96.0";
const NEXT_DATE: &str = "2026-12-11";
const NEXT_VERSION: &str = "1.97.0";

/// What can be seen of the machine's own rustup home without changing it:
/// its toolchains' names and its update hashes.
fn real_rustup_state() -> BTreeMap<String, String> {
    let root = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".rustup")));
    let mut seen = BTreeMap::new();
    let Some(root) = root else { return seen };
    for dir in ["toolchains", "update-hashes"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            let body = std::fs::read_to_string(e.path()).unwrap_or_default();
            seen.insert(format!("{dir}/{}", e.file_name().to_string_lossy()), body);
        }
    }
    seen
}

/// The entries of a `.tar.gz`: path, mode and contents.
fn untar(gz: &[u8]) -> BTreeMap<String, (u32, Vec<u8>)> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gz));
    let mut out = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mode = entry.header().mode().unwrap();
        let mut body = Vec::new();
        entry.read_to_end(&mut body).unwrap();
        out.insert(path, (mode, body));
    }
    out
}

#[test]
fn rustup_installs_runs_and_updates_from_the_fixture() {
    let before = real_rustup_state();
    let (dist, first) = RustDist::with("stable", DATE, VERSION);
    let rustup = Rustup::new(&dist.url());

    let out = rustup.ok(&[
        "toolchain",
        "install",
        "stable",
        "--profile",
        "minimal",
        "--no-self-update",
    ]);
    assert!(
        out.contains(&first.rustc_version()),
        "install output: {out}"
    );
    assert_eq!(
        rustup.toolchain_dirs(),
        vec![format!("stable-{TARGET}")],
        "one toolchain, under the test's own RUSTUP_HOME"
    );

    // The fixture's rustc, through rustup and straight from the bin dir.
    let through = rustup.ok(&["run", "stable", "rustc", "--version"]);
    assert_eq!(through.trim(), format!("rustc {VERSION} (fixture {DATE})"));
    assert_eq!(
        rustup.tool("stable", "rustc", &["--version"]).trim(),
        first.rustc_version()
    );
    let verbose = rustup.tool("stable", "rustc", &["-vV"]);
    for line in [
        "binary: rustc".to_string(),
        format!("host: {TARGET}"),
        format!("release: {VERSION}"),
        format!("commit-date: {DATE}"),
    ] {
        assert!(verbose.lines().any(|l| l == line), "{line} in {verbose}");
    }
    assert_eq!(
        rustup.tool("stable", "cargo", &["--version"]).trim(),
        first.cargo_version()
    );
    // The minimal profile: rustc, cargo, rust-std and nothing else fetched.
    let installed = rustup.ok(&["component", "list", "--installed", "--toolchain", "stable"]);
    let mut installed: Vec<&str> = installed.lines().collect();
    installed.sort();
    assert_eq!(
        installed,
        ["cargo", "rust-std", "rustc"].map(|c| format!("{c}-{TARGET}"))
    );
    for pkg in ["rustc", "cargo", "rust-std"] {
        assert_eq!(
            dist.count(first.archive(pkg)),
            1,
            "{pkg}: {:?}",
            dist.asked()
        );
    }
    for pkg in ["rust-docs", "rust-src", "clippy-preview", "rust"] {
        assert_eq!(
            dist.count(first.archive(pkg)),
            0,
            "{pkg}: {:?}",
            dist.asked()
        );
    }
    assert_eq!(dist.count("/dist/channel-rust-stable.toml.sha256"), 1);
    assert_eq!(dist.count("/dist/channel-rust-stable.toml"), 1);

    // Nothing new: only the hash is asked, nothing downloaded.
    dist.clear_asked();
    rustup.ok(&["update", "stable", "--no-self-update"]);
    assert_eq!(
        dist.asked(),
        vec!["/dist/channel-rust-stable.toml.sha256".to_string()]
    );

    // A newer release: `rustup update` moves to it.
    let next = dist.publish("stable", NEXT_DATE, NEXT_VERSION);
    let out = rustup.ok(&["update", "stable", "--no-self-update"]);
    assert!(out.contains(&next.rustc_version()), "update output: {out}");
    let through = rustup.ok(&["run", "stable", "rustc", "--version"]);
    assert_eq!(through.trim(), next.rustc_version());
    assert_eq!(
        rustup.tool("stable", "cargo", &["--version"]).trim(),
        next.cargo_version()
    );
    for pkg in ["rustc", "cargo", "rust-std"] {
        assert_eq!(
            dist.count(next.archive(pkg)),
            1,
            "{pkg}: {:?}",
            dist.asked()
        );
    }

    // Components by their old names (renamed in the manifest) and one
    // built for every target.
    rustup.ok(&[
        "component",
        "add",
        "clippy",
        "rust-src",
        "--toolchain",
        "stable",
    ]);
    let toolchain = rustup.toolchain_dir("stable");
    assert_eq!(
        rustup.tool("stable", "cargo-clippy", &["--version"]).trim(),
        format!("clippy {NEXT_VERSION} (fixture {NEXT_DATE})")
    );
    assert!(toolchain
        .join("lib/rustlib/src/rust/library/core/src/lib.rs")
        .is_file());
    assert_eq!(dist.count(next.archive("clippy-preview")), 1);
    assert_eq!(dist.count(next.archive("rust-src")), 1);
    assert_eq!(dist.count(next.archive("rustfmt-preview")), 0);

    // Every request went to the dist fixture, under /dist/; none to the
    // update root; the machine's own rustup home is as it was.
    assert!(
        dist.asked().iter().all(|p| p.starts_with("/dist/")),
        "{:?}",
        dist.asked()
    );
    assert!(
        rustup.update_root.asked().is_empty(),
        "self-update asked: {:?}",
        rustup.update_root.asked()
    );
    assert_eq!(real_rustup_state(), before);
}

#[test]
fn a_corrupted_archive_fails_the_install_and_leaves_no_toolchain() {
    let before = real_rustup_state();
    let (dist, release) = RustDist::with("stable", DATE, VERSION);
    let rustup = Rustup::new(&dist.url());
    dist.corrupt(release.archive("rust-std"));

    let err = rustup.fails(&[
        "toolchain",
        "install",
        "stable",
        "--profile",
        "minimal",
        "--no-self-update",
    ]);
    assert!(err.contains("checksum failed"), "stderr: {err}");
    assert!(err.contains(release.archive("rust-std")), "stderr: {err}");
    assert_eq!(rustup.toolchain_dirs(), Vec::<String>::new());
    assert!(!rustup.toolchain_dir("stable").exists());
    let list = rustup.ok(&["toolchain", "list"]);
    assert!(!list.contains("stable"), "toolchain list: {list}");
    assert!(
        !rustup
            .rustup_home
            .join("update-hashes")
            .join(format!("stable-{TARGET}"))
            .exists(),
        "no update hash for a failed install"
    );

    // Served right again, the same install succeeds (rustup's leftover
    // partial download is resumed past its end, refused, and fetched anew).
    dist.restore(release.archive("rust-std"));
    rustup.ok(&[
        "toolchain",
        "install",
        "stable",
        "--profile",
        "minimal",
        "--no-self-update",
    ]);
    assert_eq!(
        rustup.tool("stable", "rustc", &["--version"]).trim(),
        release.rustc_version()
    );
    assert!(rustup.update_root.asked().is_empty());
    assert_eq!(real_rustup_state(), before);
}

#[test]
fn the_fixture_serves_deterministic_releases_as_its_manifest_says() {
    let (a, first) = RustDist::with("stable", DATE, VERSION);
    let (b, _) = RustDist::with("stable", DATE, VERSION);
    let client = http();
    let get = |dist: &RustDist, path: &str| {
        let r = client.get(format!("{}{path}", dist.url())).send().unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.bytes().unwrap().to_vec()
    };

    // Same release, same bytes, on another server (the manifest differs only
    // in the address its URLs name).
    for path in first.archives.values() {
        assert_eq!(get(&a, path), get(&b, path), "{path}");
    }
    let manifest = String::from_utf8(get(&a, "/dist/channel-rust-stable.toml")).unwrap();
    assert_eq!(manifest, first.manifest);
    assert_eq!(
        manifest.replace(&a.url(), "URL"),
        String::from_utf8(get(&b, "/dist/channel-rust-stable.toml"))
            .unwrap()
            .replace(&b.url(), "URL")
    );
    assert_eq!(
        get(&a, &first.manifest_path()),
        manifest.as_bytes(),
        "the dated manifest is the channel's"
    );
    for path in [first.channel_path(), first.manifest_path()] {
        let line = String::from_utf8(get(&a, &format!("{path}.sha256"))).unwrap();
        assert_eq!(
            line,
            format!(
                "{}  channel-rust-stable.toml\n",
                sha256_hex(manifest.as_bytes())
            )
        );
    }

    // Every url/hash pair names a served archive with that hash.
    let mut url = None;
    let mut pairs = 0;
    for line in manifest.lines() {
        if let Some(u) = line.strip_prefix("url = ") {
            url = Some(u.trim_matches('"').to_string());
        }
        if let Some(h) = line.strip_prefix("hash = ") {
            let u = url.take().expect("url before hash");
            let path = u
                .strip_prefix(&a.url())
                .expect("a URL of the fixture's own");
            assert_eq!(sha256_hex(&get(&a, path)), h.trim_matches('"'), "{u}");
            pairs += 1;
        }
    }
    assert_eq!(pairs, first.archives.len());
    assert_eq!(pairs, 8);

    // The installer format.
    let rustc = untar(&get(&a, first.archive("rustc")));
    let root = format!("rustc-{VERSION}-{TARGET}");
    assert_eq!(rustc[&format!("{root}/rust-installer-version")].1, b"3\n");
    assert_eq!(rustc[&format!("{root}/components")].1, b"rustc\n");
    assert_eq!(
        rustc[&format!("{root}/rustc/manifest.in")].1,
        b"file:bin/rustc\n"
    );
    let (mode, script) = &rustc[&format!("{root}/rustc/bin/rustc")];
    assert_eq!(mode & 0o777, 0o755);
    assert!(String::from_utf8_lossy(script).starts_with("#!/bin/sh\n"));
    let aggregate = untar(&get(&a, first.archive("rust")));
    let root = format!("rust-{VERSION}-{TARGET}");
    let components = String::from_utf8(aggregate[&format!("{root}/components")].1.clone()).unwrap();
    assert_eq!(components.lines().count(), 6, "{components}");
    assert!(components.contains(&format!("rust-std-{TARGET}\n")));
    let src = untar(&get(&a, first.archive("rust-src")));
    assert!(src.contains_key(&format!("rust-src-{VERSION}/rust-src/manifest.in")));

    // Ranges, as rustup asks when it resumes.
    let path = first.archive("cargo");
    let whole = get(&a, path);
    let r = client
        .get(format!("{}{path}", a.url()))
        .header("Range", "bytes=10-")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 206);
    assert_eq!(r.bytes().unwrap().to_vec(), whole[10..].to_vec());
    let r = client
        .get(format!("{}{path}", a.url()))
        .header("Range", format!("bytes={}-", whole.len()))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 416);

    // Corrupt: same length, another hash; restore: as published.
    a.corrupt(path);
    let bad = get(&a, path);
    assert_eq!(bad.len(), whole.len());
    assert_ne!(sha256_hex(&bad), sha256_hex(&whole));
    a.restore(path);
    assert_eq!(get(&a, path), whole);

    // Missing paths are 404; every request is logged.
    let r = client
        .get(format!("{}/dist/channel-rust-nightly.toml", a.url()))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(a.count("/dist/channel-rust-nightly.toml"), 1);
    assert!(a.hits("/dist/") >= 10);

    // Stopped: refused.
    let url = a.url();
    let mut a = a;
    a.stop();
    assert!(client.get(format!("{url}{path}")).send().is_err());
    a.stop();
}
