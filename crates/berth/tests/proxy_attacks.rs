//! Attacks on proxy registries through a hostile upstream: the fixture
//! upstream (`berth_testkit::Fixture`) serving chosen index lines, redirects, a chosen
//! `config.json` `dl`, and large index files. The proxy must never serve a
//! blob it has not fetched and verified itself (another registry's private
//! `.crate` named by its checksum), never contact an internal address other than its
//! upstream's (redirects, `dl`), and keep the memory of upstream index
//! bodies in flight within its budget.

use berth_testkit::{
    crate_file, http, index_path, sha256_hex, Answer, Fixture, Launch, PublishBuilder, Server,
    Stores,
};
use reqwest::Method;
use serde_json::json;

/// An index line for `name@vers` with this checksum.
fn line(name: &str, vers: &str, cksum: &str) -> String {
    format!(
        "{}\n",
        json!({"name": name, "vers": vers, "deps": [], "cksum": cksum, "features": {}, "yanked": false})
    )
}

/// A config with a private hosted `vault`, the default hosted `main` and a
/// proxy `public` of `upstream`, plus `extra` top-level settings.
fn config(upstream: &str, extra: &str) -> String {
    format!(
        "{extra}\n\n[[registries]]\nname = \"main\"\n\n[[registries]]\nname = \"vault\"\nprivate = true\n\n\
         [[registries]]\nname = \"public\"\nkind = \"proxy\"\nupstream = \"{upstream}\"\n"
    )
}

/// GETs `path` from the proxy, which must answer 502 (Bad Gateway); the
/// body.
#[track_caller]
fn bad_gateway(proxy: &Server, path: &str) -> String {
    let r = proxy.get(path);
    let status = r.status().as_u16();
    let body = r.text().unwrap();
    assert_eq!(status, 502, "{path}: {body}");
    body
}

#[test]
fn a_hostile_upstream_cannot_name_a_private_crate_by_its_checksum() {
    let upstream = Fixture::on("127.0.0.1");
    let proxy = Server::start_with_config(&config(&upstream.index_url(), ""));
    // `secret` lives in the private hosted registry `vault`.
    let alice = proxy.user_with_token("alice");
    proxy.grant("vault", "alice", "publish");
    let publish = PublishBuilder::new("secret", "1.0.0").lib("pub const KEY: u32 = 0xdead;\n");
    let private = publish.crate_bytes();
    let r = proxy
        .request(Method::PUT, "/r/vault/api/v1/crates/new")
        .header("Authorization", &alice)
        .body(publish.body())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let cksum = sha256_hex(&private);
    // Anonymous callers cannot read it from `vault`.
    assert_eq!(
        proxy
            .get("/r/vault/api/v1/crates/secret/1.0.0/download")
            .status(),
        401
    );

    // The upstream claims a crate `lure` whose checksum is the secret's
    // (checksums are in every Cargo.lock), once with other bytes behind
    // `dl`, once with nothing there.
    upstream.set_dl(&format!("{}/dl/{{crate}}/{{version}}", upstream.url));
    for (name, dl) in [("lure", Some(b"other bytes".to_vec())), ("bait", None)] {
        upstream.answer_index(name, Answer::ok(line(name, "1.0.0", &cksum)));
        if let Some(bytes) = dl {
            upstream.answer(&format!("/dl/{name}/1.0.0"), Answer::ok(bytes));
        }
        let r = proxy.get(&format!("/r/public/api/v1/crates/{name}/1.0.0/download"));
        let status = r.status().as_u16();
        let body = r.bytes().unwrap().to_vec();
        assert_ne!(body, private, "{name}: the private crate was served");
        assert_eq!(status, 502, "{name}: {}", String::from_utf8_lossy(&body));
        let text = String::from_utf8_lossy(&body);
        assert!(
            text.contains(&format!("could not get {name}@1.0.0 from its upstream")),
            "{name}: {text}"
        );
        assert!(
            upstream.asked().contains(&format!("/dl/{name}/1.0.0")),
            "{name}: the proxy fetched from its upstream to compare"
        );
        // Asked again: still refused (nothing was recorded for the proxy).
        let r = proxy.get(&format!("/r/public/api/v1/crates/{name}/1.0.0/download"));
        assert_eq!(r.status(), 502);
    }

    // A crate the upstream really serves with the same bytes as a hosted
    // crate is fetched, compared, and then served.
    let shared = crate_file("shared", "1.0.0", "pub fn s() {}\n");
    let r = proxy.publish(
        Some(&alice),
        PublishBuilder::new("shared", "1.0.0")
            .tarball(shared.clone())
            .body(),
    );
    assert!(r.ok(), "{}", r.text);
    upstream.answer_index(
        "shared",
        Answer::ok(line("shared", "1.0.0", &sha256_hex(&shared))),
    );
    upstream.answer("/dl/shared/1.0.0", Answer::ok(shared.clone()));
    let r = proxy.get("/r/public/api/v1/crates/shared/1.0.0/download");
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().unwrap().to_vec(), shared);
    assert!(upstream.asked().contains(&"/dl/shared/1.0.0".to_string()));
}

#[test]
fn an_index_redirect_to_another_host_is_not_followed() {
    let upstream = Fixture::on("127.0.0.1");
    let other = Fixture::on("127.0.0.2");
    let cksum = "ab".repeat(32);
    other.answer_index("moved", Answer::ok(line("moved", "6.6.6", &cksum)));
    upstream.answer_index(
        "moved",
        Answer::redirect(&format!("{}/index/{}", other.url, index_path("moved"))),
    );
    // A redirect within the upstream's own host is followed.
    upstream.answer_index(
        "local",
        Answer::redirect(&format!("{}/elsewhere/local", upstream.url)),
    );
    upstream.answer(
        "/elsewhere/local",
        Answer::ok(line("local", "1.0.0", &cksum)),
    );
    let proxy = Server::start_with_config(&config(&upstream.index_url(), ""));

    let body = bad_gateway(&proxy, &format!("/r/public/index/{}", index_path("moved")));
    assert!(
        !body.contains("6.6.6"),
        "the foreign index was served: {body}"
    );
    let host = other.url.trim_start_matches("http://");
    assert!(
        body.contains(&format!("redirected to another host `{host}`"))
            && body.contains("not followed"),
        "{body}"
    );
    assert!(other.asked().is_empty(), "the other host was contacted");

    let r = proxy.get(&format!("/r/public/index/{}", index_path("local")));
    assert_eq!(r.status(), 200);
    assert!(r.text().unwrap().contains("\"local\""));
}

#[test]
fn a_dl_on_another_host_is_not_fetched() {
    let upstream = Fixture::on("127.0.0.1");
    let other = Fixture::on("127.0.0.2");
    let inside = b"internal answer".to_vec();
    other.answer("/dl/far/1.0.0", Answer::ok(inside.clone()));
    upstream.set_dl(&format!("{}/dl/{{crate}}/{{version}}", other.url));
    let cksum = "cd".repeat(32);
    upstream.answer_index("far", Answer::ok(line("far", "1.0.0", &cksum)));
    // A download redirected off the upstream's host is not followed either.
    let near = crate_file("near", "1.0.0", "pub fn n() {}\n");
    upstream.answer_index(
        "near",
        Answer::ok(line("near", "1.0.0", &sha256_hex(&near))),
    );
    other.answer("/dl/near/1.0.0", Answer::ok(near.clone()));
    let proxy = Server::start_with_config(&config(&upstream.index_url(), ""));

    let body = bad_gateway(&proxy, "/r/public/api/v1/crates/far/1.0.0/download");
    assert!(
        !body.contains(&sha256_hex(&inside)),
        "the foreign answer's checksum was echoed: {body}"
    );
    let host = other.url.trim_start_matches("http://");
    assert!(
        body.contains(&format!("`{host}`")) && body.contains("upstream_allowed_hosts"),
        "{body}"
    );
    assert!(other.asked().is_empty(), "the other host was contacted");

    // A download host named by a name that resolves to internal addresses
    // only is not contacted either: names are resolved at connect time,
    // keeping public addresses (a public download host, as the public
    // registry's, needs no configuration).
    let third = Fixture::on("127.0.0.1");
    third.answer("/dl/far/1.0.0", Answer::ok(inside.clone()));
    let port = third.url.rsplit(':').next().unwrap();
    upstream.set_dl(&format!("http://localhost:{port}/dl/{{crate}}/{{version}}"));
    let proxy = Server::start_with_config(&config(&upstream.index_url(), ""));
    let body = bad_gateway(&proxy, "/r/public/api/v1/crates/far/1.0.0/download");
    assert!(
        body.contains("`localhost` resolves only to internal addresses"),
        "{body}"
    );
    assert!(!body.contains(&sha256_hex(&inside)), "{body}");
    assert!(third.asked().is_empty(), "localhost was contacted");

    upstream.set_dl(&format!("{}/dl/{{crate}}/{{version}}", upstream.url));
    upstream.answer(
        "/dl/near/1.0.0",
        Answer::redirect(&format!("{}/dl/near/1.0.0", other.url)),
    );
    // The proxy caches config.json for the index TTL; ask a fresh proxy.
    let proxy = Server::start_with_config(&config(&upstream.index_url(), ""));
    let body = bad_gateway(&proxy, "/r/public/api/v1/crates/near/1.0.0/download");
    assert!(
        body.contains(&format!("redirected to another host `{host}`")),
        "{body}"
    );
    assert!(other.asked().is_empty(), "the other host was contacted");

    // With the other host allowed by the operator, both are fetched.
    let proxy = Server::start_with_config(&format!(
        "{}upstream_allowed_hosts = [\"{host}\"]\n",
        config(&upstream.index_url(), "")
    ));
    let r = proxy.get("/r/public/api/v1/crates/near/1.0.0/download");
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().unwrap().to_vec(), near);
}

/// An index file for `name` of about `size` bytes (one long line per
/// version).
fn big_index_file(name: &str, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 4096);
    let pad = "x".repeat(3000);
    let mut v = 0;
    while out.len() < size {
        let l = json!({"name": name, "vers": format!("0.0.{v}"), "deps": [],
                       "cksum": "ef".repeat(32), "features": {"pad": [pad]}, "yanked": false});
        out.extend_from_slice(l.to_string().as_bytes());
        out.push(b'\n');
        v += 1;
    }
    out
}

/// The memory tests' sizes: each large index file, the proxies' budget
/// for index bodies in flight, and their index cache.
const SIZE: usize = 4 << 20;
const BUDGET: u64 = 16 << 20;
const CACHE: u64 = 4 << 20;

/// An upstream with `files` index files of about [`SIZE`] bytes, named
/// `{prefix}NN`, and a proxy of it held to [`BUDGET`] and [`CACHE`],
/// started with two malloc arenas: glibc keeps what each thread's arena
/// freed, and with many arenas the peak counts every arena's largest past
/// use, whatever was live at once; with two, the peak measures what the
/// server held at once.
fn proxy_of_large_files(prefix: &str, files: usize) -> (Fixture, Server, Vec<String>) {
    let upstream = Fixture::on("127.0.0.1");
    let names: Vec<String> = (0..files).map(|i| format!("{prefix}{i:02}")).collect();
    for name in &names {
        upstream.answer_index(name, Answer::ok(big_index_file(name, SIZE)));
    }
    let toml = config(
        &upstream.index_url(),
        &format!(
            "[limits]\nmax_index_file_bytes = {}\nindex_cache_bytes = {CACHE}\n\
             proxy_index_buffer_bytes = {BUDGET}",
            8 << 20
        ),
    );
    let launch = Launch {
        env: vec![("MALLOC_ARENA_MAX".into(), "2".into())],
        ..Launch::default()
    };
    let proxy = Server::launch(Stores::new(), &toml, launch)
        .unwrap_or_else(|log| panic!("berth serve did not start: {log}"));
    (upstream, proxy, names)
}

/// Asks for every index file of `names` at once, one thread each, runs
/// `meanwhile`, and checks that each file is served whole.
fn flood_index_files(proxy: &Server, names: &[String], meanwhile: impl FnOnce()) {
    let url = proxy.url.clone();
    let flood: Vec<_> = names
        .iter()
        .map(|name| {
            let u = format!("{url}/r/public/index/{}", index_path(name));
            std::thread::spawn(move || {
                let r = http().get(&u).send().unwrap();
                (r.status().as_u16(), r.bytes().unwrap().len())
            })
        })
        .collect();
    meanwhile();
    for t in flood {
        let (status, len) = t.join().unwrap();
        assert_eq!(status, 200);
        assert!(len >= SIZE);
    }
}

/// Fails the test unless the proxy's peak memory grew from `before` (KiB)
/// by at most the budget (files being read and stored), the memo (the index
/// cache's budget), files whose answers are being written, and 32 MiB for
/// the database's page caches and the rest.
#[track_caller]
fn assert_growth_within_budget(proxy: &Server, before: u64) {
    let peak = proxy.peak_rss_kib();
    let grown_mib = peak.saturating_sub(before) / 1024;
    eprintln!(
        "RSS before the flood {} MiB, peak {} MiB, grown {grown_mib} MiB",
        before / 1024,
        peak / 1024
    );
    let bound = (BUDGET + CACHE + 6 * SIZE as u64) / (1 << 20) + 32;
    assert!(
        grown_mib <= bound,
        "RSS grew by {grown_mib} MiB during the flood (bound {bound} MiB)"
    );
}

#[test]
fn many_large_upstream_index_files_stay_within_the_memory_budget() {
    let (_upstream, proxy, names) = proxy_of_large_files("huge", 16);
    assert_eq!(proxy.get("/r/main/index/config.json").status(), 200);
    let (before, _) = proxy.memory_kib();
    flood_index_files(&proxy, &names, || {
        // A small request answers while the flood runs.
        let r = proxy.get("/r/main/index/config.json");
        assert_eq!(r.status(), 200);
    });
    // Before the budget, all 16 files were read at once, each costing
    // several times its size (165-175 MiB grown here).
    assert_growth_within_budget(&proxy, before);
}

#[test]
fn many_large_stored_index_files_stay_within_the_memory_budget() {
    // The files are fetched once, then served from the database (fresh
    // for the index TTL) after a restart emptied the memo: loading and
    // building them is bounded by the same budget as reading them.
    let (upstream, mut proxy, names) = proxy_of_large_files("kept", 32);
    flood_index_files(&proxy, &names, || {});
    proxy.restart();
    assert_eq!(proxy.get("/r/main/index/config.json").status(), 200);
    let asked = upstream.asked().len();
    let (before, _) = proxy.memory_kib();
    flood_index_files(&proxy, &names, || {});
    assert_eq!(upstream.asked().len(), asked, "served from the database");
    // As for files read from the upstream. Before stored files were
    // bounded, all 32 were loaded and built at once (130 MiB and more
    // grown here).
    assert_growth_within_budget(&proxy, before);
}

#[test]
fn upstream_index_files_over_the_limit_are_refused_declared_or_not() {
    let upstream = Fixture::on("127.0.0.1");
    let fits = big_index_file("fits", 600 << 10);
    upstream.answer_index("fits", Answer::undeclared(fits.clone()));
    for (name, answer) in [
        ("over", Answer::undeclared(big_index_file("over", 2 << 20))),
        ("overt", Answer::ok(big_index_file("overt", 2 << 20))),
    ] {
        upstream.answer_index(name, answer);
    }
    let proxy = Server::start_with_config(&config(
        &upstream.index_url(),
        &format!("[limits]\nmax_index_file_bytes = {}", 1 << 20),
    ));
    // Larger than the first share of the budget, without a declared size.
    let r = proxy.get(&format!("/r/public/index/{}", index_path("fits")));
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().unwrap().to_vec(), fits);
    for name in ["over", "overt"] {
        let body = bad_gateway(&proxy, &format!("/r/public/index/{}", index_path(name)));
        assert!(
            body.contains("larger than 1048576 bytes (limits.max_index_file_bytes)"),
            "{name}: {body}"
        );
    }
}
