//! Downloads that leave the node another way: `downloads.redirect =
//! "presigned"` (a 302 to a presigned URL of the blob in S3, followed by the
//! real cargo), and `downloads.base_url` (a CDN in front of the server,
//! with the cache headers that keep a private registry's crates out of it).
//!
//! Redirects need S3: under `BERTH_TEST_BACKEND=postgres-s3` (Garage) they
//! are driven end to end; under SQLite + a directory each such test proves
//! instead that `berth serve` refuses to presign over a directory.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_testkit::{
    backend, crate_file, http, publish_raw, sha256_hex, Backend, Cargo, Launch, PublishBuilder,
    Server, Stores,
};

/// An HTTP client that shows redirects instead of following them.
fn unfollowing() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// The stores a redirect test runs on: the suite's S3 ones. On SQLite + a
/// directory there is nothing to presign with, so the test proves instead
/// that `berth serve` refuses `redirect = "presigned"` there, and says so.
fn presigning_stores() -> Option<Arc<Stores>> {
    match backend() {
        Backend::PostgresS3 => Some(Stores::new()),
        Backend::Sqlite => {
            let log = match Server::try_start_on(
                Stores::sqlite(),
                "[downloads]\nredirect = \"presigned\"\n",
            ) {
                Ok(_) => panic!("berth serve presigned over a local directory"),
                Err(log) => log,
            };
            assert!(
                log.contains(
                    "downloads.redirect = \"presigned\" needs an S3 blob store (storage.url = \
                     \"s3://BUCKET[/PREFIX]\")"
                ),
                "{log}"
            );
            eprintln!(
                "redirects need S3 (BERTH_TEST_BACKEND=postgres-s3): asserted that serve \
                 refuses them over a local directory"
            );
            None
        }
    }
}

/// GET of a download without following a redirect: the answer read whole.
fn download_answer(
    server: &Server,
    registry: &str,
    name: &str,
    vers: &str,
    token: Option<&str>,
) -> berth_testkit::Reply {
    let mut req = unfollowing().get(format!(
        "{}/r/{registry}/api/v1/crates/{name}/{vers}/download",
        server.url
    ));
    if let Some(t) = token {
        req = req.header("Authorization", t);
    }
    berth_testkit::Reply::read(req.send().unwrap()).unwrap()
}

/// The S3 endpoint the suite's stores use.
fn s3_endpoint() -> String {
    std::env::var("AWS_ENDPOINT").expect("postgres-s3 runs with AWS_ENDPOINT set")
}

/// The presigned URL a 302 points at, checked to be one: on the S3
/// `endpoint`, signed, valid for `ttl` seconds.
fn presigned_location(reply: &berth_testkit::Reply, endpoint: &str, ttl: u64) -> reqwest::Url {
    assert_eq!(reply.status, 302, "{reply:?}");
    assert!(reply.text.is_empty(), "a redirect carries no bytes");
    let location = reqwest::Url::parse(reply.header("location").unwrap()).unwrap();
    let endpoint = reqwest::Url::parse(endpoint).unwrap();
    assert_eq!(
        (location.host_str(), location.port_or_known_default()),
        (endpoint.host_str(), endpoint.port_or_known_default()),
        "{location}"
    );
    let query: std::collections::HashMap<String, String> =
        location.query_pairs().into_owned().collect();
    assert_eq!(query["X-Amz-Algorithm"], "AWS4-HMAC-SHA256", "{location}");
    assert_eq!(query["X-Amz-Expires"], ttl.to_string(), "{location}");
    assert!(query.contains_key("X-Amz-Signature"), "{location}");
    location
}

/// The Unix time a presigned URL was signed at (`X-Amz-Date`).
fn signed_at(url: &reqwest::Url) -> i64 {
    let date = url
        .query_pairs()
        .find(|(k, _)| k == "X-Amz-Date")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let format =
        time::format_description::parse_borrowed::<2>("[year][month][day]T[hour][minute][second]Z")
            .unwrap();
    time::PrimitiveDateTime::parse(&date, &format)
        .unwrap()
        .assume_utc()
        .unix_timestamp()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Waits (for the 2-second batches) until `name` shows `want` downloads in
/// the registry's search, and fails the test if it shows another number
/// first or never gets there.
fn assert_downloads(server: &Server, registry: &str, token: Option<&str>, name: &str, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = server
            .get_as(&format!("/r/{registry}/api/v1/crates?q={name}"), token)
            .json();
        let n = r["crates"][0]["downloads"].as_u64().unwrap_or(0);
        if n == want {
            return;
        }
        assert!(n < want, "{n} downloads counted, expected {want}: {r}");
        assert!(Instant::now() < deadline, "downloads not counted: {r}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The `.crate` cargo keeps of `name-vers` under its home.
fn cached_crate(cargo: &Cargo, name: &str, vers: &str) -> Vec<u8> {
    let cache = cargo.home.path().join("registry/cache");
    for dir in std::fs::read_dir(&cache).unwrap().flatten() {
        let file = dir.path().join(format!("{name}-{vers}.crate"));
        if file.is_file() {
            return std::fs::read(file).unwrap();
        }
    }
    panic!(
        "cargo kept no {name}-{vers}.crate under {}",
        cache.display()
    )
}

#[test]
fn cargo_builds_a_dependency_downloaded_through_a_302_to_the_object_store() {
    let Some(stores) = presigning_stores() else {
        return;
    };
    let server = Server::start_on(stores, "[downloads]\nredirect = \"presigned\"\n");
    let token = server.user_with_token("alice");
    let krate = crate_file("redirected", "1.0.0", "pub fn answer() -> u32 { 42 }\n");
    assert_eq!(
        publish_raw(&server.url, &token, "redirected", "1.0.0", &krate),
        Some(200)
    );

    // A download is a 302 to the blob, signed for the public TTL; a shared
    // cache may keep the redirect for half of it, never stale.
    let reply = download_answer(&server, "main", "redirected", "1.0.0", None);
    let location = presigned_location(&reply, &s3_endpoint(), 300);
    assert_eq!(
        reply.header("cache-control"),
        Some("public, max-age=150, must-revalidate")
    );
    assert!((signed_at(&location) - now()).abs() <= 5, "{location}");
    // The router answers what the direct path does not take (a
    // percent-encoded version) the same way.
    let routed = unfollowing()
        .get(format!(
            "{}/r/main/api/v1/crates/redirected/1%2E0%2E0/download",
            server.url
        ))
        .send()
        .unwrap();
    assert_eq!(routed.status(), 302);
    assert_eq!(
        routed.headers()["cache-control"],
        "public, max-age=150, must-revalidate"
    );
    // HEAD is answered the same way and is not a download.
    for _ in 0..3 {
        let head = unfollowing()
            .head(format!(
                "{}/r/main/api/v1/crates/redirected/1.0.0/download",
                server.url
            ))
            .send()
            .unwrap();
        assert_eq!(head.status(), 302);
    }
    // The URL gives the bytes, without any credential.
    let fetched = http().get(location.clone()).send().unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.bytes().unwrap().as_ref(), krate.as_slice());
    // A missing version is refused by the node, as without redirects.
    assert_eq!(
        download_answer(&server, "main", "redirected", "9.0.0", None).status,
        404
    );

    // cargo follows the redirect, checks the bytes and builds.
    let cargo = Cargo::new(&server);
    let app = cargo.consumer(
        "app",
        "redirected = { version = \"1\", registry = \"main\" }",
    );
    std::fs::write(
        app.join("src/main.rs"),
        "fn main() { println!(\"answer {}\", redirected::answer()); }\n",
    )
    .unwrap();
    let out = cargo.ok(&app, &["run", "-q"]);
    assert!(out.contains("answer 42"), "{out}");
    assert_eq!(cached_crate(&cargo, "redirected", "1.0.0"), krate);
    let lock = std::fs::read_to_string(app.join("Cargo.lock")).unwrap();
    assert!(
        lock.contains(&format!("checksum = \"{}\"", sha256_hex(&krate))),
        "{lock}"
    );

    // Counted as downloads: the two GETs and cargo's, not the HEADs.
    assert_downloads(&server, "main", None, "redirected", 3);
    assert_eq!(server.metric("berth_download_redirects_total"), 6.0);
}

#[test]
fn a_private_registrys_redirect_is_kept_by_no_cache_and_expires() {
    let Some(stores) = presigning_stores() else {
        return;
    };
    // The object store is reached through a forwarder that keeps what each
    // connection asked first, so the test sees what cargo sends there.
    let s3 = Forwarder::start();
    s3.forward_to(s3_endpoint().trim_start_matches("http://"));
    let launch = Launch {
        env: vec![("AWS_ENDPOINT".into(), s3.url())],
        ..Launch::default()
    };
    let toml = "[downloads]\nredirect = \"presigned\"\npresign_ttl_secs = 600\n\
                private_presign_ttl_secs = 30\n\n[[registries]]\nname = \"main\"\nprivate = true\n";
    let mut server = Server::launch(stores, toml, launch).unwrap_or_else(|log| panic!("{log}"));
    server.add_user("admin", true);
    let admin = server.token("admin", &[]);
    let reader = server.user_with_token("reader");
    server.grant("main", "reader", "read");
    let krate = crate_file("secret-sauce", "0.3.0", "pub fn sauce() -> u8 { 7 }\n");
    assert_eq!(
        publish_raw(&server.url, &admin, "secret-sauce", "0.3.0", &krate),
        Some(200)
    );

    // Checked before anything is signed.
    assert_eq!(
        download_answer(&server, "main", "secret-sauce", "0.3.0", None).status,
        401
    );
    let reply = download_answer(&server, "main", "secret-sauce", "0.3.0", Some(&reader));
    let location = presigned_location(&reply, &s3.url(), 30);
    assert_eq!(reply.header("cache-control"), Some("private, no-store"));
    let fetched = http().get(location).send().unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.bytes().unwrap().as_ref(), krate.as_slice());

    // cargo sends its token with a private registry's downloads; it
    // follows the redirect to the object store, without the token, and
    // builds.
    let cargo = Cargo::new(&server).with_token(&reader);
    let app = cargo.consumer(
        "app",
        "secret-sauce = { version = \"0.3\", registry = \"main\" }",
    );
    cargo.ok(&app, &["build", "-q"]);
    assert_eq!(cached_crate(&cargo, "secret-sauce", "0.3.0"), krate);
    let by_cargo: Vec<String> = s3
        .first_requests()
        .into_iter()
        .filter(|r| {
            r.contains("X-Amz-Signature=") && r.to_ascii_lowercase().contains("user-agent: cargo")
        })
        .collect();
    assert_eq!(by_cargo.len(), 1, "{by_cargo:?}");
    assert!(
        !by_cargo[0]
            .to_ascii_lowercase()
            .contains("\nauthorization:")
            && !by_cargo[0].contains(&reader),
        "cargo handed its token to the object store:\n{}",
        by_cargo[0]
    );
    assert_downloads(&server, "main", Some(&reader), "secret-sauce", 2);

    // The same node an hour earlier by its clock signs a URL that expired
    // long ago (30 s after it was signed): the object store refuses it
    // (Garage: 400 "Date is too old", its check that X-Amz-Date +
    // X-Amz-Expires has not passed; AWS: 403 "Request has expired").
    server.restart_with_env("BERTH_TEST_CLOCK_OFFSET_SECS", "-3600");
    let reply = download_answer(&server, "main", "secret-sauce", "0.3.0", Some(&reader));
    let old = presigned_location(&reply, &s3.url(), 30);
    let age = now() - signed_at(&old);
    assert!((3595..=3605).contains(&age), "signed {age} s ago: {old}");
    let refused = http().get(old).send().unwrap();
    let status = refused.status().as_u16();
    let text = refused.text().unwrap();
    assert!(
        status == 403 || (status == 400 && text.contains("Date is too old")),
        "{status}: {text}"
    );
    // And back on time, its URLs work again.
    server.restart_with_env("BERTH_TEST_CLOCK_OFFSET_SECS", "0");
    let reply = download_answer(&server, "main", "secret-sauce", "0.3.0", Some(&reader));
    let fresh = http()
        .get(presigned_location(&reply, &s3.url(), 30))
        .send()
        .unwrap();
    assert_eq!(fresh.status(), 200);
}

/// A stand-in for a CDN (or any hop) in front of a server: each
/// connection forwarded byte for byte to `host:port`, the first bytes the
/// client sent on each (its first request's head) kept.
struct Forwarder {
    port: u16,
    upstream: Arc<Mutex<String>>,
    first_requests: Arc<Mutex<Vec<String>>>,
}

impl Forwarder {
    fn start() -> Forwarder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let upstream = Arc::new(Mutex::new(String::new()));
        let first_requests = Arc::new(Mutex::new(Vec::new()));
        let (to, seen) = (upstream.clone(), first_requests.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let to = to.lock().unwrap().clone();
                let Ok(server) = TcpStream::connect(&to) else {
                    continue;
                };
                let seen = seen.clone();
                std::thread::spawn(move || forward(client, server, &seen));
            }
        });
        Forwarder {
            port,
            upstream,
            first_requests,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Where connections go from now on (`host:port`).
    fn forward_to(&self, addr: &str) {
        *self.upstream.lock().unwrap() = addr.to_string();
    }

    fn first_requests(&self) -> Vec<String> {
        self.first_requests.lock().unwrap().clone()
    }
}

/// Copies both ways until either side closes; keeps the client's first
/// bytes.
fn forward(mut client: TcpStream, mut server: TcpStream, seen: &Mutex<Vec<String>>) {
    let mut first = [0u8; 8192];
    let Ok(n) = client.read(&mut first) else {
        return;
    };
    seen.lock()
        .unwrap()
        .push(String::from_utf8_lossy(&first[..n]).into_owned());
    if server.write_all(&first[..n]).is_err() {
        return;
    }
    let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut s2, &mut c2);
        let _ = c2.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut client, &mut server);
    let _ = server.shutdown(std::net::Shutdown::Write);
    let _ = back.join();
}

/// Publishes `name@vers` to `registry`; its `.crate` bytes.
fn publish_to(server: &Server, registry: &str, token: &str, name: &str, vers: &str) -> Vec<u8> {
    let krate = crate_file(name, vers, "pub fn f() {}\n");
    let status = http()
        .put(format!("{}/r/{registry}/api/v1/crates/new", server.url))
        .header("Authorization", token)
        .body(
            PublishBuilder::new(name, vers)
                .tarball(krate.clone())
                .body(),
        )
        .send()
        .unwrap()
        .status();
    assert_eq!(status, 200, "publish {name} to {registry}");
    krate
}

#[test]
fn with_a_base_url_cargo_downloads_through_the_cdn_and_only_open_registries_may_be_shared() {
    let cdn = Forwarder::start();
    let server = Server::start_with_config(&format!(
        "[downloads]\nbase_url = \"{}/\"\n\n\
         [[registries]]\nname = \"main\"\n\n\
         [[registries]]\nname = \"corp\"\nprivate = true\n\n\
         [[registries]]\nname = \"office\"\nallowed_cidrs = [\"127.0.0.0/8\"]\n\n\
         [[registries]]\nname = \"vetted\"\n\n[registries.policy]\ndeny = [\"forbidden\"]\n",
        cdn.url()
    ));
    cdn.forward_to(server.addr());
    server.add_user("admin", true);
    let admin = server.token("admin", &[]);

    // `dl` names the CDN; everything else the server itself.
    for registry in ["main", "corp", "office", "vetted"] {
        let config = server
            .get_as(&format!("/r/{registry}/index/config.json"), Some(&admin))
            .json();
        assert_eq!(
            config["dl"],
            format!("{}/r/{registry}/api/v1/crates", cdn.url()),
            "{config}"
        );
        assert_eq!(config["api"], format!("{}/r/{registry}", server.url));
    }

    // A version's bytes never change (a yank changes the index only): an
    // open registry's may be kept by any cache for a year; a private one's,
    // or one limited to some addresses, by the reader's own cache only; a
    // policed one's briefly, so that a version blocked later leaves the CDN.
    for (registry, name, cache_control) in [
        ("main", "shared", "public, max-age=31536000, immutable"),
        ("corp", "hidden", "private, max-age=31536000, immutable"),
        ("office", "local", "private, max-age=31536000, immutable"),
        ("vetted", "checked", "public, max-age=60"),
    ] {
        let krate = publish_to(&server, registry, &admin, name, "1.0.0");
        let path = format!("/r/{registry}/api/v1/crates/{name}/1.0.0/download");
        let reply = server.get_as(&path, Some(&admin));
        assert_eq!(reply.status, 200, "{path}: {reply:?}");
        assert_eq!(reply.header("cache-control"), Some(cache_control), "{path}");
        assert_eq!(
            reply.header("etag"),
            Some(format!("\"{}\"", sha256_hex(&krate)).as_str())
        );
    }
    let yanked = http()
        .delete(format!(
            "{}/r/main/api/v1/crates/shared/1.0.0/yank",
            server.url
        ))
        .header("Authorization", &admin)
        .send()
        .unwrap();
    assert_eq!(yanked.status(), 200);
    let reply = server.get_as("/r/main/api/v1/crates/shared/1.0.0/download", None);
    assert_eq!(
        reply.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );

    // cargo reads `dl` and downloads through the CDN.
    let krate = publish_to(&server, "main", &admin, "fronted", "0.1.0");
    let cargo = Cargo::new(&server);
    let app = cargo.consumer(
        "app",
        "fronted = { version = \"0.1\", registry = \"main\" }",
    );
    cargo.ok(&app, &["fetch"]);
    assert_eq!(cached_crate(&cargo, "fronted", "0.1.0"), krate);
    let seen = cdn.first_requests();
    assert!(
        seen.iter()
            .any(|r| r.starts_with("GET /r/main/api/v1/crates/fronted/0.1.0/download ")),
        "the CDN saw {seen:?}"
    );
}
