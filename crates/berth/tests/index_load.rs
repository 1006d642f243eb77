//! Index amplification: one user publishes a crate with a very large index
//! file; anonymous readers then ask for it many times at once. The file is
//! built once per change and shared, off the async workers, so `/health`,
//! a normal publish and other index fetches stay prompt and memory stays
//! bounded.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_testkit::{crate_file, http, publish_raw, PublishBuilder, Server};
use serde_json::{json, Value};

#[test]
fn a_huge_index_file_is_built_once_and_shared() {
    let (server, [token]) = Server::with_users(["mallory"]);
    // 40 versions of ~250 KB index lines each: a 10 MB index file.
    let features: serde_json::Map<String, Value> = (0..2_000)
        .map(|i| {
            let values: Vec<Value> = (0..4)
                .map(|k| {
                    json!(format!(
                        "feature-with-a-long-name-{:05}",
                        (i + k + 1) % 2_000
                    ))
                })
                .collect();
            (
                format!("feature-with-a-long-name-{i:05}"),
                Value::Array(values),
            )
        })
        .collect();
    for v in 0..40 {
        let vers = format!("1.0.{v}");
        let body = PublishBuilder::new("amplified", &vers)
            .set("features", features.clone())
            .description("big")
            .lib("pub fn a() {}\n")
            .body();
        let r = http()
            .put(format!("{}/r/main/api/v1/crates/new", server.url))
            .header("Authorization", &token)
            .body(body)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    }
    let url = format!("{}/r/main/index/am/pl/amplified", server.url);
    let size = http().get(&url).send().unwrap().bytes().unwrap().len();
    assert!(size > 9_000_000, "index file is {size} bytes");
    let rss_before = server.peak_rss_kib();

    // 16 anonymous readers loop for a few seconds (bounded in time).
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..16)
        .map(|_| {
            let (url, stop) = (url.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let r = http().get(&url).send().unwrap();
                    assert_eq!(r.status(), 200);
                    assert_eq!(r.bytes().unwrap().len(), size);
                    n += 1;
                }
                n
            })
        })
        .collect();
    // Meanwhile: /health within a second, a normal publish and index fetch.
    let deadline = Instant::now() + Duration::from_secs(4);
    let mut worst = Duration::ZERO;
    let mut published = 0;
    while Instant::now() < deadline {
        let t = Instant::now();
        let r = http()
            .get(format!("{}/health", server.url))
            .timeout(Duration::from_secs(5))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        worst = worst.max(t.elapsed());
        let vers = format!("0.1.{published}");
        let status = publish_raw(
            &server.url,
            &token,
            "ordinary",
            &vers,
            &crate_file("ordinary", &vers, "pub fn o() {}\n"),
        );
        assert_eq!(status, Some(200));
        published += 1;
        let r = server.get("/r/main/index/or/di/ordinary");
        assert_eq!(r.status(), 200);
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    let served: usize = readers.into_iter().map(|t| t.join().unwrap()).sum();
    let rss_after = server.peak_rss_kib();
    println!(
        "index file {size} B served {served} times; worst /health {worst:?}; \
         peak RSS {rss_before} KiB before, {rss_after} KiB after"
    );
    assert!(worst < Duration::from_secs(1), "/health took {worst:?}");
    // The body is shared, not copied per request: the peak grows by far
    // less than one copy per concurrent reader (16 x 10 MB).
    assert!(
        rss_after < rss_before + 100 * 1024,
        "peak RSS grew from {rss_before} to {rss_after} KiB"
    );
}

/// Index file and download requests are answered without the router
/// (`App::call`); the same request spelled with a percent-escape goes
/// through the router. Both must give the same answer, for every kind of
/// caller and outcome.
#[test]
fn index_files_and_downloads_answer_the_same_with_and_without_the_router() {
    // Failed authentications are part of the comparison: not throttled.
    let server = Server::start_with_config(
        "[limits]\nauth_failures_per_address = 100000\nauth_failures_per_prefix = 100000\n\n\
         [[registries]]\nname = \"main\"\n\n[[registries]]\nname = \"corp\"\nprivate = true\n",
    );
    server.add_user("alice", false);
    server
        .try_berth(&[
            "role",
            "grant",
            "--registry",
            "corp",
            "--user",
            "alice",
            "--role",
            "publish",
        ])
        .unwrap();
    let token = server.token("alice", &[]);
    // Scoped to one registry and to other crates: refused elsewhere.
    let corp_only = server.token("alice", &["--name", "corp", "--registry", "corp"]);
    let other_crates = server.token("alice", &["--name", "zz", "--crates", "zzz-*"]);
    for registry in ["main", "corp"] {
        let body = PublishBuilder::new("direct", "1.0.0").body();
        let r = http()
            .put(format!("{}/r/{registry}/api/v1/crates/new", server.url))
            .header("Authorization", &token)
            .body(body)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    }
    // What a response says, without what differs per request.
    let seen = |path: &str, auth: Option<&str>, etag: Option<&str>| {
        let mut req = http().get(format!("{}{path}", server.url));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        if let Some(e) = etag {
            req = req.header("If-None-Match", e);
        }
        let r = req.send().unwrap();
        let mut headers: Vec<String> = r
            .headers()
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "date" | "x-request-id"))
            .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap()))
            .collect();
        headers.sort();
        let status = r.status().as_u16();
        let body = berth_testkit::redact_request_ids(&r.text().unwrap());
        (status, headers, body)
    };
    let etag = http()
        .get(format!("{}/r/main/index/di/re/direct", server.url))
        .send()
        .unwrap()
        .headers()["etag"]
        .to_str()
        .unwrap()
        .to_string();
    let mut statuses = std::collections::BTreeSet::new();
    for registry in ["main", "corp", "nope"] {
        for (direct, routed) in [
            ("index/di/re/direct", "index/di/re/direc%74"),
            ("index/di/re/missing", "index/di/re/missin%67"),
            ("index/xx/re/direct", "index/xx/re/direc%74"),
            (
                "api/v1/crates/direct/1.0.0/download",
                "api/v1/crates/direc%74/1.0.0/download",
            ),
            (
                "api/v1/crates/direct/9.9.9/download",
                "api/v1/crates/direct/9.9.%39/download",
            ),
            (
                "api/v1/crates/missing/1.0.0/download",
                "api/v1/crates/missin%67/1.0.0/download",
            ),
        ] {
            let tokens = [&token, &corp_only, &other_crates].map(|t| Some(t.as_str()));
            for auth in [None, Some("berth_bogus"), Some("")]
                .into_iter()
                .chain(tokens)
            {
                for etag in [None, Some(etag.as_str())] {
                    let a = seen(&format!("/r/{registry}/{direct}"), auth, etag);
                    let b = seen(&format!("/r/{registry}/{routed}"), auth, etag);
                    assert_eq!(a, b, "{registry} {direct} auth {auth:?} etag {etag:?}");
                    statuses.insert(a.0);
                }
            }
        }
    }
    // Every outcome was compared: found, not modified, refused, missing.
    for status in [200, 304, 401, 403, 404] {
        assert!(statuses.contains(&status), "no {status} among {statuses:?}");
    }
}
