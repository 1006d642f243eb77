//! Resource exhaustion by one anonymous client or one ordinary user: each
//! test reproduces an attack at a scale these machines run in seconds, from
//! other loopback addresses standing for other clients, while a bystander
//! on 127.0.0.1 checks that `/health`, a publish and an index fetch stay
//! prompt, and the server's peak memory stays bounded.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

#[path = "support/seed.rs"]
mod seed;

use berth_testkit::{
    assert_cut_off, connect_from, http, http_from, noise, read_until_closed, stalled_readers,
    Bystander, PublishBuilder, Server, TarballBuilder,
};

/// The attacks run one at a time: each bystander's bounds are for one
/// attack on these two cores, not for several in parallel.
static ONE_ATTACK_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_attack_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    // A failed attack must not fail the others.
    ONE_ATTACK_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// cargo's HTTP/2 preface followed by an empty SETTINGS frame: what an h2c
/// client sends before its first request.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";

/// The HTTP/2 frame types in `bytes`, a stream of whole frames.
fn h2_frame_types(bytes: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    let mut at = 0;
    while at + 9 <= bytes.len() {
        let len = u32::from_be_bytes([0, bytes[at], bytes[at + 1], bytes[at + 2]]) as usize;
        types.push(bytes[at + 3]);
        at += 9 + len;
    }
    types
}

#[test]
fn one_address_cannot_hold_every_connection_and_idle_http2_is_closed() {
    let _attack = one_attack_at_a_time();
    let server = Server::start_with_config(
        "[limits]\nmax_connections = 64\nmax_connections_per_ip = 16\nheader_read_timeout_secs = 2\n\
         connections_per_ip_exempt = [\"127.0.0.4/32\"]\n",
    );
    let token = server.user_with_token("alice");
    let rss_before = server.peak_rss_kib();
    // One client (127.0.0.2) opens 100 HTTP/2 connections that send the
    // preface and then nothing: before, they held every slot for good.
    let opened = Instant::now();
    let mut conns: Vec<TcpStream> = (0..100)
        .filter_map(|_| {
            let mut c = connect_from("127.0.0.2", &server).ok()?;
            c.write_all(H2_PREFACE).ok()?;
            Some(c)
        })
        .collect();
    assert!(conns.len() >= 64, "only {} connections opened", conns.len());
    // Everyone else is served meanwhile.
    Bystander::watch(&server, &token, "ordinary", Duration::from_secs(2))
        .assert_healthy(Duration::from_secs(5));

    // Past 16 from one address, connections are closed at once, unanswered;
    // the 16 admitted are sent GOAWAY once idle for the header deadline,
    // then closed.
    let mut admitted = 0;
    for conn in &mut conns {
        let (bytes, closed) = read_until_closed(conn, Duration::from_secs(10));
        assert!(
            closed,
            "a connection was still open after {:?}",
            opened.elapsed()
        );
        if !bytes.is_empty() {
            admitted += 1;
            let types = h2_frame_types(&bytes);
            assert!(types.contains(&0x7), "no GOAWAY before close: {types:?}");
        }
    }
    let took = opened.elapsed();
    println!("16 idle HTTP/2 connections closed after {took:?}");
    assert_eq!(admitted, 16, "connections served from one address");
    assert!(took < Duration::from_secs(15), "closing took {took:?}");
    let rss_after = server.peak_rss_kib();
    assert!(
        rss_after < rss_before + 64 * 1024,
        "peak RSS grew from {rss_before} to {rss_after} KiB"
    );
    // A reverse proxy's address, declared exempt, carries more than 16.
    let mut proxied: Vec<TcpStream> = (0..24)
        .map(|_| {
            let mut c = connect_from("127.0.0.4", &server).unwrap();
            c.write_all(H2_PREFACE).unwrap();
            c
        })
        .collect();
    for conn in &mut proxied {
        let (bytes, _) = read_until_closed(conn, Duration::from_secs(10));
        assert!(
            !bytes.is_empty(),
            "a connection from the exempt address was refused"
        );
    }
    // The address may connect again once its connections are gone.
    let mut again = connect_from("127.0.0.2", &server).unwrap();
    again
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (bytes, _) = read_until_closed(&mut again, Duration::from_secs(5));
    assert!(
        bytes.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&bytes)
    );
}

#[test]
fn clients_that_never_read_are_cut_off_by_the_write_deadline() {
    let _attack = one_attack_at_a_time();
    let server = Server::start_with_config("[limits]\nwrite_timeout_secs = 2\n");
    let token = server.user_with_token("alice");
    let krate = TarballBuilder::package("big", "1.0.0")
        .package_file("src/lib.rs", b"")
        .package_file("data.bin", &noise(4 << 20, 7))
        .gz();
    let size = krate.len();
    assert!(size > 4_000_000);
    let r = server.publish(
        Some(&token),
        PublishBuilder::new("big", "1.0.0").tarball(krate).body(),
    );
    assert!(r.ok(), "{r:?}");
    // 8 connections from 127.0.0.3 ask for the 4 MB crate 20 times each and
    // never read an answer.
    let path = "/r/main/api/v1/crates/big/1.0.0/download";
    let mut conns = stalled_readers(&server, "127.0.0.3", path, 8, 20);
    Bystander::watch(&server, &token, "ordinary", Duration::from_secs(4))
        .assert_healthy(Duration::from_secs(5));
    // Each was closed when its writes stalled: what reached the client is
    // what the kernel buffered, far less than the 20 answers asked for.
    assert_cut_off(&mut conns, 20 * size);
}

/// Sends a publish request's headers and `sent` bytes of a body that claims
/// `declared` bytes, then waits for the answer's status line.
fn trickle_publish(server: &Server, from: &str, token: &str, declared: usize) -> TcpStream {
    let mut conn = connect_from(from, server).unwrap();
    let head = format!(
        "PUT /r/main/api/v1/crates/new HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n\
         Content-Length: {declared}\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).unwrap();
    conn.write_all(&[0u8; 16]).unwrap();
    conn
}

#[test]
fn slow_uploads_never_hold_publish_slots() {
    let _attack = one_attack_at_a_time();
    let server = Server::start_with_config(
        "[limits]\nmax_concurrent_publishes = 2\nupload_grace_secs = 2\n\
         min_upload_bytes_per_sec = 16384\nmax_uploads_per_user = 4\n",
    );
    let token = server.user_with_token("alice");
    let mallory = [
        server.user_with_token("mallory1"),
        server.user_with_token("mallory2"),
    ];
    let started = Instant::now();
    // Eight uploads, four per user, trickle in far below the minimum rate:
    // before, they held every publish slot until the request timeout.
    let mut slow: Vec<TcpStream> = mallory
        .iter()
        .flat_map(|t| (0..4).map(move |_| t.clone()))
        .map(|t| trickle_publish(&server, "127.0.0.2", &t, 100_000))
        .collect();
    // Time for the server to take in all eight (half the upload grace: a
    // loaded machine needs more than a few hundred milliseconds).
    std::thread::sleep(Duration::from_millis(1000));
    // A fifth upload from a user with four in flight waits its turn,
    // holding no publish slot.
    let fifth = {
        let (url, token) = (server.url.clone(), mallory[0].clone());
        std::thread::spawn(move || {
            let r = berth_testkit::publish_raw(
                &url,
                &token,
                "fifth",
                "1.0.0",
                &berth_testkit::crate_file("fifth", "1.0.0", "pub fn f() {}\n"),
            );
            (r, started.elapsed())
        })
    };
    // Everyone else publishes meanwhile.
    Bystander::watch(&server, &token, "ordinary", Duration::from_secs(3))
        .assert_healthy(Duration::from_secs(2));
    // The slow uploads were cut off with 408 once the grace had passed.
    for conn in &mut slow {
        let (bytes, _) = read_until_closed(conn, Duration::from_secs(10));
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(text.contains("min_upload_bytes_per_sec"), "{text}");
    }
    assert!(started.elapsed() < Duration::from_secs(15));
    // Her fifth went through once her slow ones were cut off.
    let (status, took) = fifth.join().unwrap();
    assert_eq!(status, Some(200));
    assert!(
        took >= Duration::from_secs(2),
        "the fifth upload did not wait: {took:?}"
    );
}

#[test]
fn search_floods_are_bounded_and_deep_pages_refused() {
    let _attack = one_attack_at_a_time();
    let server = Server::start_with_config("[limits]\nmax_concurrent_searches = 1\n");
    let token = server.user_with_token("alice");
    seed::crates(&server, "alice", 50_000, &"0".repeat(64));
    let search = "/r/main/api/v1/crates?q=crate&per_page=100";
    let r = server.get(search);
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(body["crates"].as_array().unwrap().len(), 100);
    assert_eq!(body["meta"]["total"], 1_000, "the count stops at 1,000");

    // Deep pages would sort every match: refused with a reason.
    let deep = server.get("/r/main/api/v1/crates?q=crate&per_page=100&page=11");
    assert_eq!(deep.status(), 400);
    assert!(deep.text().unwrap().contains("narrow the query"));

    // Anonymous clients on 16 addresses search in a loop, for the deepest
    // page served (the costliest search: every shallow one is a short walk,
    // over before the next client waits long). A search waits up to 250 ms
    // for the one slot (`SEARCH_WAIT` in berth-core's throttle.rs), so the
    // flood must queue more than that: it starts with as many clients as
    // fill three times the wait with searches of the speed this machine
    // has (a fast machine once answered 24 clients' queue in 160 ms and
    // refused none), and adds 32 more each half second until a search is
    // refused, at most 512 clients in all.
    let search = "/r/main/api/v1/crates?q=crate&per_page=100&page=10";
    let url = format!("{}{search}", server.url);
    let alone = http();
    let mut solo: Vec<Duration> = (0..5)
        .map(|_| {
            let t = Instant::now();
            assert_eq!(alone.get(&url).send().unwrap().status(), 200);
            t.elapsed()
        })
        .collect();
    solo.sort();
    let one = solo[2].max(Duration::from_micros(100));
    let first = (3 * 250_000 / one.as_micros()).clamp(24, 128) as usize;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let refused = std::sync::Arc::new(AtomicUsize::new(0));
    // One client per address; each thread gets a connection of its own.
    let addresses: Vec<_> = (0..16)
        .map(|i| http_from(&format!("127.0.0.{}", 2 + i)))
        .collect();
    let mut flood = Vec::new();
    let wave = |n: usize, flood: &mut Vec<std::thread::JoinHandle<(usize, usize)>>| {
        for _ in 0..n {
            let client = addresses[flood.len() % addresses.len()].clone();
            let (url, stop, refused) = (url.clone(), stop.clone(), refused.clone());
            flood.push(std::thread::spawn(move || {
                let (mut ok, mut busy) = (0, 0);
                while !stop.load(Ordering::Relaxed) {
                    let r = client.get(&url).send().unwrap();
                    match r.status().as_u16() {
                        200 => ok += 1,
                        429 => {
                            assert_eq!(r.headers()["retry-after"], "1");
                            assert!(r.text().unwrap().contains("too many searches"));
                            busy += 1;
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                        s => panic!("a search answered {s}"),
                    }
                }
                (ok, busy)
            }));
        }
    };
    wave(first, &mut flood);
    std::thread::sleep(Duration::from_millis(300));
    while refused.load(Ordering::Relaxed) == 0 && flood.len() < 512 {
        wave(32, &mut flood);
        std::thread::sleep(Duration::from_millis(500));
    }
    println!(
        "one search alone takes {one:?}: {first} clients flood, {} once the first was refused",
        flood.len()
    );
    let seen = Bystander::watch(&server, &token, "ordinary", Duration::from_secs(3));
    // Owners of a crate answer promptly too.
    let t = Instant::now();
    let owners = server.get("/r/main/api/v1/crates/ordinary/owners");
    assert_eq!(owners.status(), 200);
    let owners_took = t.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (ok, busy) = flood
        .into_iter()
        .map(|t| t.join().unwrap())
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    println!("searches: {ok} answered, {busy} refused with 429; owners took {owners_took:?}");
    seen.assert_healthy(Duration::from_secs(2));
    assert!(
        owners_took < Duration::from_secs(1),
        "owners took {owners_took:?}"
    );
    assert!(busy > 0, "no search was ever refused: nothing bounds them");
    assert!(ok > 0, "no search was answered");
}

#[test]
fn small_leaks_are_closed_and_audit_rows_are_clipped() {
    let server = Server::start_with_config("[metrics]\ntoken = \"metrics-secret-for-tests\"\n");
    // Several users before the owner, so a row id would show.
    for login in ["u1", "u2", "u3", "u4"] {
        server.add_user(login, false);
    }
    let token = server.user_with_token("alice");
    let r = server.publish(Some(&token), PublishBuilder::new("owned", "1.0.0").body());
    assert!(r.ok(), "{r:?}");

    // /metrics needs its token.
    assert_eq!(server.get("/metrics").status(), 401);
    let m = http()
        .get(format!("{}/metrics", server.url))
        .header("Authorization", "Bearer metrics-secret-for-tests")
        .send()
        .unwrap();
    assert_eq!(m.status(), 200);
    assert!(m.text().unwrap().contains("berth_http_requests_total"));

    // Owner ids say nothing about how many users the server has: not the
    // row id (5), and the same for the same login on any server.
    let owners: serde_json::Value = server
        .get("/r/main/api/v1/crates/owned/owners")
        .json()
        .unwrap();
    let id = owners["users"][0]["id"].as_i64().unwrap();
    assert_ne!(id, 5);
    let other = Server::start();
    let other_token = other.user_with_token("alice");
    assert!(other
        .publish(
            Some(&other_token),
            PublishBuilder::new("owned", "1.0.0").body()
        )
        .ok());
    let other_owners: serde_json::Value = other
        .get("/r/main/api/v1/crates/owned/owners")
        .json()
        .unwrap();
    assert_eq!(other_owners["users"][0]["id"].as_i64(), Some(id));

    // A refused yank with a 30,000-character name and version in its path
    // is recorded clipped.
    let publish_only = server.token("alice", &["--scope", "publish-new"]);
    let (name, vers) = ("a".repeat(30_000), "1".repeat(30_000));
    let path = format!("/r/main/api/v1/crates/{name}/{vers}/yank");
    let r = server.request(reqwest::Method::DELETE, &path);
    let r = r.header("Authorization", &publish_only).send().unwrap();
    assert_eq!(r.status(), 403);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rows = rt.block_on(async {
        let meta = berth_store::MetaStore::connect(&server.stores.database_url(), 1)
            .await
            .unwrap();
        let rows = meta.recent_audit(5).await.unwrap();
        meta.close().await;
        rows
    });
    let denied = rows
        .iter()
        .find(|r| {
            r.entry
                .crate_name
                .as_deref()
                .is_some_and(|n| n.starts_with("aaaa"))
        })
        .expect("the refused yank is in the audit log");
    let name = denied.entry.crate_name.as_deref().unwrap();
    let vers = denied.entry.version.as_deref().unwrap();
    assert!(
        name.len() < 200 && name.contains("30000 bytes in all"),
        "{name}"
    );
    assert!(
        vers.len() < 200 && vers.contains("30000 bytes in all"),
        "{vers}"
    );
}
