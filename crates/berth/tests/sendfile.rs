//! Cached downloads leave plain HTTP/1.1 connections by `sendfile` from the
//! memory file the cache keeps them in: every byte must arrive as published,
//! whatever the client's pace, pipelined with other answers or over HTTP/2,
//! and a client that stops reading is still cut off by the write deadline.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use berth_testkit::{
    assert_cut_off, connect_with_window, noise, sha256_hex, stalled_readers, Bystander,
    PublishBuilder, Server, TarballBuilder,
};

/// Reads from `conn` up to the end of a response head; returns the head.
fn read_head(conn: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        conn.read_exact(&mut byte).expect("a response head");
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// Publishes `name@1.0.0` with `kib` KiB of noise; returns its `.crate`.
fn publish(server: &Server, token: &str, name: &str, kib: usize, seed: u64) -> Vec<u8> {
    let krate = TarballBuilder::package(name, "1.0.0")
        .package_file("src/lib.rs", b"")
        .package_file("data.bin", &noise(kib * 1024, seed))
        .gz();
    let r = server.publish(
        Some(token),
        PublishBuilder::new(name, "1.0.0")
            .tarball(krate.clone())
            .body(),
    );
    assert!(r.ok(), "{r:?}");
    krate
}

fn download_request(name: &str) -> String {
    format!("GET /r/main/api/v1/crates/{name}/1.0.0/download HTTP/1.1\r\nHost: x\r\n\r\n")
}

/// The value of `berth_sendfile_bytes_total`, or 0 before the first.
fn sendfile_bytes(server: &Server) -> u64 {
    server.metric("berth_sendfile_bytes_total") as u64
}

/// Reads one HTTP/1.1 response with a `Content-Length` from `conn`, `pace`
/// bytes at a time (sleeping `pause` between reads); returns its status and
/// body.
fn read_response(conn: &mut TcpStream, pace: usize, pause: Duration) -> (u16, Vec<u8>) {
    let head = read_head(conn);
    let status = head[9..12].parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().unwrap())
        })
        .expect("a Content-Length");
    let mut body = vec![0u8; len];
    let mut at = 0;
    while at < len {
        let end = (at + pace).min(len);
        let n = conn.read(&mut body[at..end]).unwrap();
        assert!(n > 0, "closed after {at} of {len} bytes");
        at += n;
        if !pause.is_zero() {
            std::thread::sleep(pause);
        }
    }
    (status, body)
}

#[test]
fn pipelined_downloads_arrive_byte_for_byte_by_sendfile() {
    let server = Server::start();
    let token = server.user_with_token("alice");
    let small = publish(&server, &token, "small", 4, 1);
    let medium = publish(&server, &token, "medium", 40, 2);
    let large = publish(&server, &token, "large", 2048, 3);
    assert!(small.len() < 16 * 1024 && medium.len() > 16 * 1024);
    let before = sendfile_bytes(&server);

    // One connection, everything asked at once: each answer's head, and an
    // index file between downloads, must come out in order around the
    // bodies sent from the file. Twice: the first asks fill the cache.
    for round in 0..2 {
        let mut conn = TcpStream::connect(server.addr()).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let asks = [
            download_request("medium"),
            "GET /r/main/index/me/di/medium HTTP/1.1\r\nHost: x\r\n\r\n".to_string(),
            download_request("large"),
            download_request("small"),
            download_request("large"),
            download_request("medium"),
        ];
        conn.write_all(asks.concat().as_bytes()).unwrap();
        let expect: [Option<&Vec<u8>>; 6] = [
            Some(&medium),
            None,
            Some(&large),
            Some(&small),
            Some(&large),
            Some(&medium),
        ];
        for (i, want) in expect.into_iter().enumerate() {
            let (status, body) = read_response(&mut conn, 64 * 1024, Duration::ZERO);
            assert_eq!(status, 200, "round {round}, answer {i}");
            match want {
                Some(krate) => assert!(
                    body == *krate,
                    "round {round}, answer {i}: {} bytes, sha256 {}, where {} bytes were published",
                    body.len(),
                    sha256_hex(&body),
                    krate.len()
                ),
                None => {
                    let line: serde_json::Value =
                        serde_json::from_slice(body.split(|b| *b == b'\n').next().unwrap())
                            .unwrap();
                    assert_eq!(line["cksum"], sha256_hex(&medium));
                }
            }
        }
    }
    // The large bodies went out by sendfile (all but, at most, a short tail
    // of each under the size worth a system call); the small one was
    // written.
    let sent = sendfile_bytes(&server) - before;
    let bodies = 2 * (2 * large.len() + 2 * medium.len());
    assert!(
        sent as usize <= bodies && sent as usize + 8 * 16 * 1024 >= bodies,
        "{sent} bytes by sendfile for {bodies} bytes of large bodies"
    );
}

#[test]
fn a_slow_reader_with_a_small_window_gets_every_byte() {
    let server = Server::start();
    let token = server.user_with_token("alice");
    let large = publish(&server, &token, "large", 1536, 4);
    // Cached first, so that the slow download below is sent from the file.
    let first = server.get("/r/main/api/v1/crates/large/1.0.0/download");
    assert_eq!(first.bytes().unwrap().as_ref(), &large[..]);
    let before = sendfile_bytes(&server);

    // A small receive buffer and a reader that takes 16 KiB every 2 ms: the
    // server's sends stop and resume many times, each from where the last
    // one ended.
    let mut conn = connect_with_window("127.0.0.1", &server, Some(4096)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    conn.write_all(download_request("large").as_bytes())
        .unwrap();
    let (status, body) = read_response(&mut conn, 16 * 1024, Duration::from_millis(2));
    assert_eq!(status, 200);
    assert_eq!(sha256_hex(&body), sha256_hex(&large));
    assert!(sendfile_bytes(&server) - before >= large.len() as u64 - 16 * 1024);

    // The same bytes over h2c, which h2 frames itself.
    let out = tempfile::NamedTempFile::new().unwrap();
    let curl = Command::new("curl")
        .args(["-sS", "--http2", "--max-time", "20", "-o"])
        .arg(out.path())
        .args(["-w", "%{http_version} %{http_code}"])
        .arg(format!(
            "{}/r/main/api/v1/crates/large/1.0.0/download",
            server.url
        ))
        .output()
        .expect("curl is installed (scripts/test.sh installs it)");
    assert_eq!(String::from_utf8_lossy(&curl.stdout), "2 200");
    assert_eq!(
        sha256_hex(&std::fs::read(out.path()).unwrap()),
        sha256_hex(&large)
    );
}

#[test]
fn clients_that_stop_reading_a_cached_download_are_cut_off() {
    let server = Server::start_with_config("[limits]\nwrite_timeout_secs = 2\n");
    let token = server.user_with_token("alice");
    let krate = publish(&server, &token, "big", 1024, 5);
    let warm = server.get("/r/main/api/v1/crates/big/1.0.0/download");
    assert_eq!(warm.bytes().unwrap().len(), krate.len());
    let before = sendfile_bytes(&server);
    // 6 connections from 127.0.0.3 ask for the 1 MiB crate 40 times each
    // and never read an answer.
    let path = "/r/main/api/v1/crates/big/1.0.0/download";
    let mut conns = stalled_readers(&server, "127.0.0.3", path, 6, 40);
    Bystander::watch(&server, &token, "ordinary", Duration::from_secs(4))
        .assert_healthy(Duration::from_secs(5));
    // Each was closed when its sends stalled, having been sent what the
    // kernel would buffer, far less than the 40 answers asked for.
    assert_cut_off(&mut conns, 40 * krate.len());
    // And what they were sent went by sendfile.
    assert!(sendfile_bytes(&server) > before);
}

/// A cached download still being sent keeps its cache segment's memory
/// file alive after the cache has dropped that segment. Clients that ask
/// for many different crates and stop reading must not pin such files
/// beyond twice the cache's budget: past that, new segments keep their
/// bytes on the heap, and every download is still served whole.
#[test]
fn stalled_downloads_pin_at_most_twice_the_download_cache() {
    const BUDGET: u64 = 2 << 20;
    const SEGMENT: u64 = BUDGET / 16;
    let server = Server::start_with_config(&format!(
        "[limits]\nblob_cache_bytes = {BUDGET}\nwrite_timeout_secs = 120\n"
    ));
    let token = server.user_with_token("alice");
    // 40 crates of more than half a segment each: each fills a segment of
    // its own, two and a half times round the cache's sixteen.
    let crates: Vec<Vec<u8>> = (0..40u64)
        .map(|i| publish(&server, &token, &format!("c{i}"), 112, 100 + i))
        .collect();
    for c in &crates {
        assert!(c.len() as u64 > SEGMENT / 2 && c.len() as u64 <= SEGMENT);
    }

    // One client at 127.0.0.4 with a connection per crate, in turn: a small
    // receive window, the crate asked for 48 times at once (more than the
    // kernel buffers), the first answer's head read, and nothing more.
    let mut stalled = Vec::new();
    for i in 0..crates.len() {
        let mut conn = connect_with_window("127.0.0.4", &server, Some(4096)).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        conn.write_all(download_request(&format!("c{i}")).repeat(48).as_bytes())
            .unwrap();
        let head = read_head(&mut conn);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        stalled.push(conn);
    }

    // Without the bound, the 40 stalled answers would pin 40 segments'
    // files (2.5 times the budget); with it, files stop at twice the
    // budget, and the cache itself keeps at most the budget.
    let files = server.metric("berth_download_cache_file_bytes") as u64;
    let kept = server.metric("berth_download_cache_bytes") as u64;
    assert!(
        files > BUDGET && files <= 2 * BUDGET,
        "{files} bytes of memory files alive for a budget of {BUDGET}"
    );
    assert!(kept > 0 && kept <= BUDGET, "{kept} bytes kept");

    // Meanwhile another client downloads crates kept on the heap and in
    // files, and crates the cache had dropped: each whole.
    for i in [39, 30, 20, 0] {
        let r = server.get(&format!("/r/main/api/v1/crates/c{i}/1.0.0/download"));
        assert_eq!(r.status(), 200);
        assert!(r.bytes().unwrap().as_ref() == &crates[i][..], "c{i}");
    }

    // The stalled client goes away: the files its answers held are freed,
    // and new segments get files again (their downloads go by sendfile).
    drop(stalled);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let files = loop {
        let files = server.metric("berth_download_cache_file_bytes") as u64;
        if files <= BUDGET || std::time::Instant::now() > deadline {
            break files;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(files <= BUDGET, "{files} bytes of memory files still alive");
    let before = sendfile_bytes(&server);
    for (i, krate) in crates.iter().enumerate().take(20) {
        let r = server.get(&format!("/r/main/api/v1/crates/c{i}/1.0.0/download"));
        assert!(r.bytes().unwrap().as_ref() == &krate[..], "c{i}");
    }
    assert!(
        sendfile_bytes(&server) > before,
        "no download went by sendfile once the stalled client left"
    );
}
