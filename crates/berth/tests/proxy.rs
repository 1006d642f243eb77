//! Proxy registries: a pull-through cache of an upstream sparse registry.
//! Upstreams are processes these tests start on loopback: another Berth
//! with a hosted registry, and a small fixture server that can be told to
//! go down, stall, answer 5xx or serve a corrupted `.crate`.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use berth_testkit::{crate_file, http, sha256_hex, Cargo, Fixture, Mode, Server};
use serde_json::json;

/// A config with the default hosted registry and a proxy `public` of
/// `upstream` (a sparse index URL), plus extra proxy settings.
fn proxy_config(upstream: &str, extra: &str) -> String {
    format!(
        "[[registries]]\nname = \"main\"\n\n[[registries]]\nname = \"public\"\nkind = \"proxy\"\n\
         upstream = \"{upstream}\"\n{extra}\n"
    )
}

/// A cargo home whose crates-io source is replaced by the proxy.
fn mirror_cargo(proxy: &Server) -> Cargo {
    Cargo::mirroring(&proxy.index_url("public"))
}

/// A binary project `app` depending on `mid` (no `registry` key: it comes
/// from the replaced public source) and printing what it says.
fn mid_app(cargo: &Cargo, dir_name: &str) -> std::path::PathBuf {
    let dir = cargo.manifest(
        dir_name,
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n\
         [dependencies]\nmid = \"1\"\n",
    );
    std::fs::write(
        dir.join("src/main.rs"),
        "fn main() { println!(\"{}\", mid::mid()); }\n",
    )
    .unwrap();
    dir
}

/// Runs `app` (`cargo run --quiet` and `extra` arguments): it prints what
/// `mid` says, over the upstream's `leaf`.
fn run_mid_app(cargo: &Cargo, dir: &Path, extra: &[&str]) {
    let args = [&["run", "--quiet"], extra].concat();
    let out = cargo.ok(dir, &args);
    assert!(out.contains("mid 1.0.0 over leaf 1.0.0"), "{out}");
}

/// `name -> cksum` of every package in a lockfile that has a checksum.
fn lock_checksums(dir: &Path) -> HashMap<String, String> {
    let lock: toml::Value =
        toml::from_str(&std::fs::read_to_string(dir.join("Cargo.lock")).unwrap()).unwrap();
    lock["package"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| {
            Some((
                format!("{}@{}", p["name"].as_str()?, p["version"].as_str()?),
                p.get("checksum")?.as_str()?.to_string(),
            ))
        })
        .collect()
}

fn metric(server: &Server, name: &str) -> f64 {
    let text = server.get("/metrics").text().unwrap();
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains("registry=\"public\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Publishes `leaf 1.0.0` and `mid 1.0.0` (which depends on leaf) to the
/// upstream's `main`.
fn publish_upstream_crates(upstream: &Server) {
    let token = upstream.user_with_token("alice");
    let cargo = Cargo::new(upstream).with_token(&token);
    let leaf = cargo.package("leaf", "1.0.0", "", "");
    std::fs::write(
        leaf.join("src/lib.rs"),
        "pub fn leaf() -> &'static str { \"leaf 1.0.0\" }\n",
    )
    .unwrap();
    cargo.publish(&leaf);
    let mid = cargo.package(
        "mid",
        "1.0.0",
        "leaf = { version = \"1\", registry = \"main\" }",
        "",
    );
    std::fs::write(
        mid.join("src/lib.rs"),
        "pub fn mid() -> String { format!(\"mid 1.0.0 over {}\", leaf::leaf()) }\n",
    )
    .unwrap();
    cargo.publish(&mid);
}

#[test]
fn cargo_builds_through_the_proxy_and_after_the_upstream_goes_down() {
    let mut upstream = Server::start();
    publish_upstream_crates(&upstream);
    let proxy = Server::start_with_config(&proxy_config(
        &upstream.index_url("main"),
        "index_ttl_secs = 1",
    ));

    // The proxy's own config.json: its own dl and api.
    let cfg: serde_json::Value = proxy.get("/r/public/index/config.json").json().unwrap();
    assert_eq!(
        cfg,
        json!({"dl": format!("{}/r/public/api/v1/crates", proxy.url), "api": format!("{}/r/public", proxy.url)})
    );
    // Lines pass through untouched.
    let up = upstream.get("/r/main/index/3/m/mid").text().unwrap();
    let through = proxy.get("/r/public/index/3/m/mid").text().unwrap();
    assert_eq!(through, up);
    // A crate the upstream does not have is 404, as upstream says.
    assert_eq!(proxy.get("/r/public/index/no/ne/nonesuch").status(), 404);

    let cargo = mirror_cargo(&proxy);
    let dir = mid_app(&cargo, "app");
    run_mid_app(&cargo, &dir, &[]);
    // Lockfile checksums are the upstream's.
    let sums = lock_checksums(&dir);
    for (name, path) in [("leaf", "4/le/af"), ("mid", "3/m/mid")] {
        let path = path.replace("4/le/af", "le/af/leaf");
        let line: serde_json::Value = serde_json::from_str(
            upstream
                .get(&format!("/r/main/index/{path}"))
                .text()
                .unwrap()
                .trim(),
        )
        .unwrap();
        assert_eq!(
            sums[&format!("{name}@1.0.0")],
            line["cksum"].as_str().unwrap()
        );
    }
    let fetched = metric(&proxy, "berth_proxy_crate_misses_total");
    assert_eq!(fetched, 2.0, "each crate fetched from upstream once");

    // The upstream goes away; a fresh cargo (empty cache) still builds, the
    // index being revalidated (TTL 1 s), failing, and served stale.
    upstream.kill();
    std::thread::sleep(Duration::from_millis(1100));
    let cargo2 = mirror_cargo(&proxy);
    let dir2 = mid_app(&cargo2, "app2");
    run_mid_app(&cargo2, &dir2, &[]);
    assert_eq!(lock_checksums(&dir2), sums);
    assert!(metric(&proxy, "berth_proxy_stale_served_total") >= 1.0);
    assert_eq!(metric(&proxy, "berth_proxy_crate_misses_total"), 2.0);
    // A crate never fetched fails fast with a clear error, not a hang.
    let start = Instant::now();
    let r = proxy.get("/r/public/index/ne/ve/never");
    assert_eq!(r.status(), 502);
    let body = r.text().unwrap();
    assert!(
        body.contains("could not get `never` from its upstream"),
        "{body}"
    );
    assert!(start.elapsed() < Duration::from_secs(20));
}

#[test]
fn corrupt_crates_are_refused_and_not_cached_then_fetched_once_fixed() {
    let bytes = crate_file("fixed", "1.0.0", "pub fn f() {}\n");
    let fixture = Fixture::start(&[("fixed", "1.0.0", bytes.clone())]);
    let proxy = Server::start_with_config(&proxy_config(&fixture.index_url(), ""));
    let dl = "/r/public/api/v1/crates/fixed/1.0.0/download";

    fixture.set(Mode::Corrupt);
    let r = proxy.get(dl);
    assert_eq!(r.status(), 502);
    let body = r.text().unwrap();
    assert!(
        body.contains("refused and not cached") && body.contains(&sha256_hex(&bytes)),
        "{body}"
    );
    assert!(proxy.log().contains("does not match the index checksum"));
    assert_eq!(metric(&proxy, "berth_proxy_checksum_mismatches_total"), 1.0);
    assert!(proxy.blob_files().is_empty(), "nothing was stored");

    fixture.set(Mode::Normal);
    let r = proxy.get(dl);
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().unwrap().as_ref(), bytes.as_slice());
    assert_eq!(proxy.blob_files(), vec![sha256_hex(&bytes)]);
}

#[test]
fn concurrent_misses_make_one_upstream_request() {
    let bytes = crate_file("popular", "2.0.0", "pub fn p() {}\n");
    let fixture = Fixture::start(&[("popular", "2.0.0", bytes.clone())]);
    let proxy = Server::start_with_config(&proxy_config(&fixture.index_url(), ""));
    let url = format!(
        "{}/r/public/api/v1/crates/popular/2.0.0/download",
        proxy.url
    );
    let threads: Vec<_> = (0..50)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let r = http().get(&url).send().unwrap();
                (r.status().as_u16(), r.bytes().unwrap().to_vec())
            })
        })
        .collect();
    for t in threads {
        let (status, body) = t.join().unwrap();
        assert_eq!(status, 200);
        assert_eq!(body, bytes);
    }
    assert_eq!(
        fixture.hits("/dl/"),
        1,
        "one upstream download for 50 clients"
    );
    assert_eq!(fixture.hits("/index/po/pu/popular"), 1, "one index fetch");
}

#[test]
fn upstream_failures_serve_what_is_cached_and_fail_fast_otherwise() {
    let a = crate_file("cached", "1.0.0", "pub fn a() {}\n");
    let b = crate_file("uncached", "1.0.0", "pub fn b() {}\n");
    let fixture = Fixture::start(&[("cached", "1.0.0", a.clone()), ("uncached", "1.0.0", b)]);
    let proxy = Server::start_with_config(&proxy_config(
        &fixture.index_url(),
        "index_ttl_secs = 1\nconnect_timeout_secs = 2\nupstream_timeout_secs = 2",
    ));
    assert_eq!(
        proxy
            .get("/r/public/api/v1/crates/cached/1.0.0/download")
            .status(),
        200
    );

    for mode in [Mode::Error, Mode::Stall, Mode::Down] {
        fixture.set(mode);
        std::thread::sleep(Duration::from_millis(1100)); // past the TTL
        let start = Instant::now();
        let r = proxy.get("/r/public/index/ca/ch/cached");
        assert_eq!(r.status(), 200, "{mode:?}: cached index served stale");
        let r = proxy.get("/r/public/api/v1/crates/cached/1.0.0/download");
        assert_eq!(r.status(), 200, "{mode:?}");
        assert_eq!(r.bytes().unwrap().as_ref(), a.as_slice());
        let r = proxy.get("/r/public/index/un/ca/uncached");
        assert_eq!(r.status(), 502, "{mode:?}: nothing cached to stand in");
        let body = r.text().unwrap();
        assert!(
            body.contains("could not get `uncached` from its upstream"),
            "{body}"
        );
        // Bounded by the configured timeouts (2 s each), never a hang.
        assert!(start.elapsed() < Duration::from_secs(15), "{mode:?}");
    }
    assert!(metric(&proxy, "berth_proxy_stale_served_total") >= 3.0);
    assert!(metric(&proxy, "berth_proxy_upstream_errors_total") >= 3.0);
}

#[test]
fn offline_proxy_serves_only_what_is_cached() {
    let a = crate_file("kept", "1.0.0", "pub fn a() {}\n");
    let fixture = Fixture::start(&[("kept", "1.0.0", a.clone())]);
    let online = Server::start_with_config(&proxy_config(&fixture.index_url(), ""));
    assert_eq!(
        online
            .get("/r/public/api/v1/crates/kept/1.0.0/download")
            .status(),
        200
    );
    let stores = online.stores.clone();
    drop(online);
    let before = fixture.hits("");
    let offline = Server::start_on(
        stores,
        &proxy_config(&fixture.index_url(), "offline = true"),
    );
    assert_eq!(offline.get("/r/public/index/ke/pt/kept").status(), 200);
    let r = offline.get("/r/public/api/v1/crates/kept/1.0.0/download");
    assert_eq!(r.bytes().unwrap().as_ref(), a.as_slice());
    assert_eq!(offline.get("/r/public/index/ot/he/other").status(), 404);
    assert_eq!(
        fixture.hits(""),
        before,
        "an offline proxy never asks upstream"
    );
}

#[test]
fn private_proxy_needs_a_token_and_gc_keeps_what_it_caches() {
    let a = crate_file("secret", "1.0.0", "pub fn a() {}\n");
    let fixture = Fixture::start(&[("secret", "1.0.0", a.clone())]);
    let proxy = Server::start_with_config(&format!(
        "[limits]\nrequest_timeout_secs = 5\n\n{}",
        proxy_config(&fixture.index_url(), "private = true")
    ));
    let dl = "/r/public/api/v1/crates/secret/1.0.0/download";
    let r = proxy.get(dl);
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    assert_eq!(
        fixture.hits(""),
        0,
        "a refused caller costs the upstream nothing"
    );
    let token = proxy.user_with_token("reader");
    proxy.grant("public", "reader", "read");
    let get = |path: &str| {
        http()
            .get(format!("{}{path}", proxy.url))
            .header("Authorization", &token)
            .send()
            .unwrap()
    };
    assert_eq!(get(dl).bytes().unwrap().as_ref(), a.as_slice());
    let cfg: serde_json::Value = get("/r/public/index/config.json").json().unwrap();
    assert_eq!(cfg["auth-required"], true);

    // Publishing, yanking and owners belong to hosted registries.
    let r = http()
        .delete(format!(
            "{}/r/public/api/v1/crates/secret/1.0.0/yank",
            proxy.url
        ))
        .header("Authorization", &token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("is a proxy registry"));

    // gc never removes a cached crate the proxy still references.
    std::thread::sleep(Duration::from_secs(6));
    let out = proxy.berth(&["gc", "--min-age-secs", "5"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("deleted 0"));
    assert_eq!(proxy.blob_files(), vec![sha256_hex(&a)]);
    let out = proxy.berth(&["blobs", "verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn the_cache_budget_evicts_the_least_recently_used_crates() {
    let crates: Vec<(String, Vec<u8>)> = (0..4)
        .map(|i| {
            let name = format!("big{i}");
            // Incompressible content, so each .crate is about 20 KB.
            let filler: String = (0..20_000u32)
                .map(|k| char::from(b'a' + ((k.wrapping_mul(2_654_435_761) >> (i + 3)) % 26) as u8))
                .collect();
            let bytes = crate_file(
                &name,
                "1.0.0",
                &format!("pub const X: &str = \"{filler}\";\n"),
            );
            (name, bytes)
        })
        .collect();
    let size = crates[0].1.len() as u64;
    let fixture = Fixture::start(
        &crates
            .iter()
            .map(|(n, b)| (n.as_str(), "1.0.0", b.clone()))
            .collect::<Vec<_>>(),
    );
    let proxy = Server::start_with_config(&proxy_config(
        &fixture.index_url(),
        &format!("cache_max_bytes = {}", size * 5 / 2),
    ));
    for (name, bytes) in &crates {
        let r = proxy.get(&format!("/r/public/api/v1/crates/{name}/1.0.0/download"));
        assert_eq!(r.bytes().unwrap().as_ref(), bytes.as_slice());
    }
    let kept = proxy.blob_files();
    assert!(kept.len() <= 2, "at most 2.5 crates' worth kept: {kept:?}");
    assert!(kept.contains(&sha256_hex(&crates[3].1)), "the newest stays");
    assert!(metric(&proxy, "berth_proxy_evictions_total") >= 2.0);
    // An evicted crate is fetched again on demand.
    let r = proxy.get("/r/public/api/v1/crates/big0/1.0.0/download");
    assert_eq!(r.bytes().unwrap().as_ref(), crates[0].1.as_slice());
    assert_eq!(fixture.hits("/dl/big0/"), 2);
}

#[test]
fn mirror_fill_export_and_import_for_an_air_gapped_build() {
    let mut upstream = Server::start();
    publish_upstream_crates(&upstream);
    let online = Server::start_with_config(&proxy_config(&upstream.index_url("main"), ""));

    // Fill ahead of time from a crate list (newest version of each).
    let list = online.data_dir.join("crates.txt");
    std::fs::write(&list, "# what we need\nmid\nleaf@1.0.0\n").unwrap();
    let fill = || {
        online.berth(&[
            "mirror",
            "fill",
            "--registry",
            "public",
            "--crates",
            list.to_str().unwrap(),
        ])
    };
    let out = fill();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("2 fetched, 0 already cached"), "{text}");
    // Run again: it resumes, fetching nothing twice.
    let out = fill();
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 fetched, 2 already cached"));

    // A project's lockfile, resolved through the online proxy.
    let cargo = mirror_cargo(&online);
    let dir = mid_app(&cargo, "app");
    cargo.ok(&dir, &["generate-lockfile"]);
    let lock = dir.join("Cargo.lock");
    let bundle = online.data_dir.join("bundle.tar");
    let out = online.berth(&[
        "mirror",
        "export",
        "--registry",
        "public",
        "--lockfile",
        lock.to_str().unwrap(),
        "--out",
        bundle.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 fetched, 2 already cached"));
    upstream.kill();

    // The air-gapped side: an offline proxy whose upstream is unreachable.
    let dead = "sparse+http://127.0.0.1:9/r/main/index/";
    let gapped = Server::start_with_config(&proxy_config(dead, "offline = true"));
    let import = |server: &Server, file: &Path| {
        server.berth(&[
            "mirror",
            "import",
            file.to_str().unwrap(),
            "--registry",
            "public",
        ])
    };

    // A damaged bundle is refused whole: nothing is written.
    let bytes = std::fs::read(&bundle).unwrap();
    let truncated = gapped.data_dir.join("truncated.tar");
    std::fs::write(&truncated, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let mut flipped = bytes.clone();
    let at = flipped.len() - 2048; // inside the last member's data
    flipped[at] ^= 0x01;
    let corrupt = gapped.data_dir.join("corrupt.tar");
    std::fs::write(&corrupt, &flipped).unwrap();
    for bad in [&truncated, &corrupt] {
        let out = import(&gapped, bad);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("the bundle is not usable") && err.contains("nothing was imported"),
            "{err}"
        );
        assert!(gapped.blob_files().is_empty());
        assert_eq!(gapped.get("/r/public/index/3/m/mid").status(), 404);
    }

    let out = import(&gapped, &bundle);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("index files: 2 written, 0 unchanged; crates: 2 written, 0 already present"),
        "{text}"
    );
    let blobs = gapped.blob_files();
    let out = import(&gapped, &bundle);
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("index files: 0 written, 2 unchanged; crates: 0 written, 2 already present"));
    assert_eq!(
        gapped.blob_files(),
        blobs,
        "a second import changes nothing"
    );

    // A plain cargo build against the air-gapped Berth.
    let cargo2 = mirror_cargo(&gapped);
    let dir2 = mid_app(&cargo2, "app");
    std::fs::copy(&lock, dir2.join("Cargo.lock")).unwrap();
    run_mid_app(&cargo2, &dir2, &["--locked"]);
}

/// Issue 25: a bundle whose first record is a 256 MiB GNU long name is
/// refused after a few KiB, without holding the name in memory.
#[test]
fn a_huge_long_name_in_a_bundle_is_refused_in_little_memory() {
    let long: u64 = 256 * 1024 * 1024;
    let stores = berth_testkit::Stores::new();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("berth.toml");
    let dead = "sparse+http://127.0.0.1:9/r/main/index/";
    std::fs::write(&config, proxy_config(dead, "offline = true")).unwrap();
    let fifo = dir.path().join("hostile.tar");
    let head = berth_testkit::TarballBuilder::new()
        .raw_header(
            b"././@LongLink",
            berth_testkit::EntryType::GNULongName,
            long,
        )
        .tar_unfinished();
    let fed = berth_testkit::feed_through_fifo(
        stores
            .command(&berth_testkit::berth_bin(), Some(&config))
            .args(["mirror", "import", "--registry", "public"])
            .arg(&fifo),
        &fifo,
        &head,
        long,
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&fed.output.stderr);
    assert!(!fed.took_all, "mirror import read the whole long name");
    assert!(
        fed.peak_rss_kib < 96 * 1024,
        "mirror import peaked at {} KiB",
        fed.peak_rss_kib
    );
    assert!(!fed.output.status.success(), "{stderr}");
    assert!(
        stderr.contains("the bundle is not usable")
            && stderr.contains("a tar header record (a long name, long link or PAX header) is longer than 65536 bytes"),
        "{stderr}"
    );
}

/// Publishes `name@vers` to the upstream's `main` over the API.
fn publish_over_api(upstream: &Server, token: &str, name: &str, vers: &str) {
    let r = upstream
        .request(reqwest::Method::PUT, "/r/main/api/v1/crates/new")
        .header("Authorization", token)
        .body(berth_testkit::PublishBuilder::new(name, vers).body())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap());
}

#[test]
fn mirror_fill_all_takes_every_version_an_upstream_berth_has() {
    let mut upstream = Server::start();
    let token = upstream.user_with_token("alice");
    for (name, vers) in [("one", "1.0.0"), ("one", "1.1.0"), ("two", "0.1.0")] {
        publish_over_api(&upstream, &token, name, vers);
    }
    // A yanked version is still mirrored: a lockfile may pin it.
    let r = upstream
        .request(
            reqwest::Method::DELETE,
            "/r/main/api/v1/crates/one/1.0.0/yank",
        )
        .header("Authorization", &token)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let proxy = Server::start_with_config(&proxy_config(&upstream.index_url("main"), ""));
    let fill_all = || {
        let out = proxy.berth(&["mirror", "fill", "--registry", "public", "--all"]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{text}");
        text
    };
    let text = fill_all();
    assert!(
        text.contains("lists 3 versions") && text.contains("3 fetched, 0 already cached"),
        "{text}"
    );
    // Later publishes are taken by the next run; nothing is fetched twice.
    publish_over_api(&upstream, &token, "three", "2.0.0");
    publish_over_api(&upstream, &token, "one", "1.2.0");
    let text = fill_all();
    assert!(text.contains("2 fetched, 3 already cached"), "{text}");

    // Everything is served with the upstream gone.
    upstream.kill();
    for (name, vers) in [
        ("one", "1.0.0"),
        ("one", "1.1.0"),
        ("one", "1.2.0"),
        ("two", "0.1.0"),
        ("three", "2.0.0"),
    ] {
        let r = proxy.get(&format!("/r/public/api/v1/crates/{name}/{vers}/download"));
        assert_eq!(r.status().as_u16(), 200, "{name}@{vers}");
    }

    // An upstream that is not a Berth has no feed: said plainly.
    let fixture = Fixture::start(&[("plain", "1.0.0", crate_file("plain", "1.0.0", ""))]);
    let other = Server::start_with_config(&proxy_config(&fixture.index_url(), ""));
    let out = other.berth(&["mirror", "fill", "--registry", "public", "--all"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("has no change feed") && err.contains("fill from lockfiles"),
        "{err}"
    );
    // `--all` is a selection of its own.
    let out = other.berth(&[
        "mirror",
        "fill",
        "--registry",
        "public",
        "--all",
        "--crates",
        "x.txt",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
}
