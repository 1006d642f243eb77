//! Toolchains registries, end to end: the real rustup, pointed at a real
//! `berth serve` (`RUSTUP_DIST_SERVER=…/t/rust`), installs and updates
//! from a fixture dist server that Berth mirrors. The fixture's manifests
//! name their archives under rustup's own default dist server (read from
//! rustup itself, never written here), as a real upstream's do, so rustup
//! asks Berth for them; Berth fetches them from the fixture by path.
//!
//! Proven: an install goes through Berth, each archive fetched upstream
//! once, a second rustup home served by Berth alone; `rustup update`
//! moves to a newer release once the channel manifest's TTL has passed
//! (the injected clock); a pinned channel stays on its date; with the
//! upstream stopped a fresh home still installs, also after the TTL (the
//! held manifests served stale); a corrupted archive is refused with a 502,
//! never stored, and rustup fails without leaving a toolchain; concurrent
//! requests for one archive make one upstream request; `allowed_cidrs` and
//! `private` refuse before anything is fetched.

use std::time::Instant;

use berth_testkit::rustdist::TARGET;
use berth_testkit::{default_dist_server, sha256_hex, RustDist, Rustup, Server};

const DATE: &str = "2026-11-01";
const VERSION: &str = "1.96.0";
const NEXT_DATE: &str = "2026-12-11";
const NEXT_VERSION: &str = "1.97.0";

/// The archives a minimal-profile install fetches.
const MINIMAL: [&str; 3] = ["rustc", "cargo", "rust-std"];

const INSTALL: [&str; 6] = [
    "toolchain",
    "install",
    "stable",
    "--profile",
    "minimal",
    "--no-self-update",
];

/// A fixture upstream (its manifests naming rustup's default server) and a
/// Berth whose toolchains registry `rust` mirrors it, with `extra` keys.
fn mirror(extra: &str) -> (RustDist, Server) {
    let dist = RustDist::start_as(&default_dist_server());
    let server = Server::start_with_config(&format!(
        "[[registries]]\nname = \"main\"\n\n[[registries]]\nname = \"rust\"\n\
         kind = \"toolchains\"\nupstream = \"{}\"\n{extra}",
        dist.url()
    ));
    (dist, server)
}

fn through(server: &Server) -> Rustup {
    Rustup::new(&format!("{}/t/rust", server.url))
}

fn archives_asked(dist: &RustDist) -> Vec<String> {
    dist.asked()
        .into_iter()
        .filter(|p| p.ends_with(".tar.gz"))
        .collect()
}

fn rustc_version(rustup: &Rustup) -> String {
    rustup
        .tool("stable", "rustc", &["--version"])
        .trim()
        .to_string()
}

#[test]
fn rustup_installs_through_berth_each_archive_fetched_once() {
    let (dist, server) = mirror("");
    let release = dist.publish("stable", DATE, VERSION);

    // For the figures: the same install straight from the fixture.
    let direct = Rustup::new(&dist.url());
    let t = Instant::now();
    direct.ok(&INSTALL);
    let direct_time = t.elapsed();
    dist.clear_asked();

    let first = through(&server);
    let t = Instant::now();
    first.ok(&INSTALL);
    let cold = t.elapsed();
    assert_eq!(rustc_version(&first), release.rustc_version());
    assert_eq!(first.toolchain_dirs(), vec![format!("stable-{TARGET}")]);
    for pkg in MINIMAL {
        assert_eq!(
            dist.count(release.archive(pkg)),
            1,
            "{pkg}'s archive fetched upstream once; asked: {:?}",
            dist.asked()
        );
    }
    assert_eq!(archives_asked(&dist).len(), MINIMAL.len());

    dist.clear_asked();
    let second = through(&server);
    let t = Instant::now();
    second.ok(&INSTALL);
    let warm = t.elapsed();
    assert_eq!(rustc_version(&second), release.rustc_version());
    assert_eq!(
        dist.asked(),
        Vec::<String>::new(),
        "a second home is served by Berth alone (manifest within its TTL)"
    );
    eprintln!(
        "minimal install: direct from the fixture {direct_time:?}, through Berth cold \
         {cold:?}, warm {warm:?}"
    );

    // Crate questions to a toolchains registry name where it serves.
    let r = server.get("/r/rust/index/se/rd/serde");
    assert_eq!(r.status().as_u16(), 400);
    let body = r.text().unwrap();
    assert!(
        body.contains(
            "registry rust is a toolchains registry: it serves rustup's distribution at /t/rust"
        ),
        "{body}"
    );
}

#[test]
fn concurrent_requests_for_one_archive_make_one_upstream_request() {
    let (dist, server) = mirror("");
    let release = dist.publish("stable", DATE, VERSION);
    let r = server.get("/t/rust/dist/channel-rust-stable.toml");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().unwrap(), release.manifest, "byte for byte");
    let rustc = release.archive("rustc").to_string();
    let want = dist.file(&rustc).unwrap();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| server.get(&format!("/t/rust{rustc}")).bytes().unwrap()))
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap().as_ref(), want.as_slice());
        }
    });
    assert_eq!(dist.count(&rustc), 1, "asked: {:?}", dist.asked());
    // An archive no held manifest lists is not fetched.
    let r = server.get(&format!("/t/rust/dist/{DATE}/other-1.0.0-{TARGET}.tar.gz"));
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(archives_asked(&dist).len(), 1);
}

#[test]
fn rustup_update_moves_to_a_newer_release_after_the_manifest_ttl() {
    let (dist, mut server) = mirror("manifest_ttl_secs = 600\n");
    let old = dist.publish("stable", DATE, VERSION);
    let mut rustup = through(&server);
    rustup.ok(&INSTALL);
    assert_eq!(rustc_version(&rustup), old.rustc_version());

    let new = dist.publish("stable", NEXT_DATE, NEXT_VERSION);
    // Within the TTL the channel manifest held is still the answer.
    rustup.ok(&["update", "stable", "--no-self-update"]);
    assert_eq!(rustc_version(&rustup), old.rustc_version());

    // Past it (the injected clock), it is revalidated.
    server.restart_with_env("BERTH_TEST_CLOCK_OFFSET_SECS", "700");
    rustup.dist_server = format!("{}/t/rust", server.url);
    rustup.ok(&["update", "stable", "--no-self-update"]);
    assert_eq!(rustc_version(&rustup), new.rustc_version());
    for pkg in MINIMAL {
        assert_eq!(dist.count(new.archive(pkg)), 1, "{pkg}");
    }
}

#[test]
fn a_pinned_channel_stays_on_its_date() {
    let (dist, server) = mirror(&format!("pin = {{ stable = \"{DATE}\" }}\n"));
    let old = dist.publish("stable", DATE, VERSION);
    dist.publish("stable", NEXT_DATE, NEXT_VERSION);

    let rustup = through(&server);
    rustup.ok(&INSTALL);
    assert_eq!(rustc_version(&rustup), old.rustc_version());
    rustup.ok(&["update", "stable", "--no-self-update"]);
    assert_eq!(rustc_version(&rustup), old.rustc_version());
    assert_eq!(
        dist.count("/dist/channel-rust-stable.toml"),
        0,
        "the pinned channel's undated manifest is never asked upstream"
    );
    // A channel the registry does not serve is refused.
    let (_dist, limited) = mirror("channels = [\"1.95.0\"]\n");
    assert_eq!(
        limited
            .get("/t/rust/dist/channel-rust-stable.toml.sha256")
            .status()
            .as_u16(),
        404
    );
}

#[test]
fn with_the_upstream_stopped_a_fresh_home_installs_from_the_cache() {
    let (mut dist, mut server) = mirror("");
    let release = dist.publish("stable", DATE, VERSION);
    through(&server).ok(&INSTALL);
    dist.stop();

    let fresh = through(&server);
    fresh.ok(&INSTALL);
    assert_eq!(rustc_version(&fresh), release.rustc_version());

    // Past the manifest's TTL the upstream is asked, fails, and the
    // manifest held is served.
    server.restart_with_env("BERTH_TEST_CLOCK_OFFSET_SECS", "3600");
    let later = through(&server);
    later.ok(&INSTALL);
    assert_eq!(rustc_version(&later), release.rustc_version());
    assert!(
        server.log().contains("serving the manifest held"),
        "{}",
        server.log()
    );
}

#[test]
fn a_corrupted_archive_is_refused_and_never_stored() {
    let (dist, server) = mirror("");
    let release = dist.publish("stable", DATE, VERSION);
    let rustc = release.archive("rustc").to_string();
    let good = sha256_hex(&dist.file(&rustc).unwrap());
    dist.corrupt(&rustc);

    let rustup = through(&server);
    let err = rustup.fails(&INSTALL);
    assert!(
        err.contains("could not download") || err.contains("error"),
        "{err}"
    );
    assert!(
        !rustup
            .toolchain_dirs()
            .contains(&format!("stable-{TARGET}")),
        "no broken toolchain: {:?}",
        rustup.toolchain_dirs()
    );
    assert!(!server.blob_files().contains(&good));

    let r = server.get(&format!("/t/rust{rustc}"));
    assert_eq!(r.status().as_u16(), 502);
    let body = r.text().unwrap();
    assert!(
        body.contains("does not match the sha256 its manifest gives")
            && body.contains("refused, not cached"),
        "{body}"
    );
    assert!(!server.blob_files().contains(&good));

    // Once the upstream serves the right bytes, the install succeeds.
    dist.restore(&rustc);
    rustup.ok(&INSTALL);
    assert_eq!(rustc_version(&rustup), release.rustc_version());
    assert!(server.blob_files().contains(&good));
}

#[test]
fn access_rules_apply_to_a_toolchains_registry() {
    let path = "/t/rust/dist/channel-rust-stable.toml.sha256";
    let (dist, outside) = mirror("allowed_cidrs = [\"10.0.0.0/8\"]\n");
    dist.publish("stable", DATE, VERSION);
    assert_eq!(outside.get(path).status().as_u16(), 403);
    let (dist, private) = mirror("private = true\n");
    dist.publish("stable", DATE, VERSION);
    assert_eq!(private.get(path).status().as_u16(), 401);
    assert_eq!(
        dist.asked(),
        Vec::<String>::new(),
        "refused before any upstream request"
    );
}
