//! Hostile connections: idle sockets, headers sent a byte at a time, and
//! uploads that trickle. Each is cut off after its deadline, and the server
//! keeps serving everyone else meanwhile.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use berth_testkit::{redact_request_ids, Server};
use insta::assert_snapshot;

fn connect(server: &Server) -> TcpStream {
    let addr = server.url.trim_start_matches("http://");
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// Reads until the server closes the connection; returns what it sent and
/// how long that took.
fn read_until_closed(mut s: TcpStream) -> (String, Duration) {
    let start = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the server kept the connection open: {e}"),
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), start.elapsed())
}

#[test]
fn idle_connections_are_closed_and_do_not_starve_others() {
    let server = Server::start_with_config("[limits]\nheader_read_timeout_secs = 2\n");
    // One client (127.0.0.2) opens 300 connections and sends nothing.
    let idle: Vec<TcpStream> = (0..300)
        .map(|_| berth_testkit::connect_from("127.0.0.2", &server).unwrap())
        .collect();
    // Everyone else is still served at once.
    let start = Instant::now();
    assert_eq!(server.get("/health").status(), 200);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    // The idle ones are closed after the header deadline.
    for s in idle.into_iter().step_by(50) {
        let (_, took) = read_until_closed(s);
        assert!(took < Duration::from_secs(10), "{took:?}");
    }
}

#[test]
fn headers_sent_a_byte_at_a_time_are_cut_off() {
    let server = Server::start_with_config("[limits]\nheader_read_timeout_secs = 2\n");
    let mut s = connect(&server);
    let request = b"GET /r/main/index/config.json HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let start = Instant::now();
    let mut cut = false;
    for b in request {
        if s.write_all(&[*b]).is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
        if start.elapsed() > Duration::from_secs(6) {
            break;
        }
    }
    let (reply, _) = read_until_closed(s);
    assert!(
        cut || !reply.contains("200 OK"),
        "a trickled request was answered: {reply}"
    );
    assert!(start.elapsed() < Duration::from_secs(12));
    assert_eq!(server.get("/health").status(), 200);
}

#[test]
fn a_trickling_upload_is_cut_off_with_a_clear_error() {
    let server = Server::start_with_config("[limits]\nrequest_timeout_secs = 5\n");
    let token = server.user_with_token("alice");
    let mut s = connect(&server);
    write!(
        s,
        "PUT /r/main/api/v1/crates/new HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\nContent-Length: 100000\r\n\r\n"
    )
    .unwrap();
    let start = Instant::now();
    let writer = s.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        let mut w = writer;
        for _ in 0..40 {
            if w.write_all(b"x").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    });
    let (reply, _) = read_until_closed(s);
    let took = start.elapsed();
    let _ = trickle.join();
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    let (head, body) = reply
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no body: {reply}"));
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{reply}"
    );
    assert_snapshot!(redact_request_ids(body), @r#"{"errors":[{"detail":"the request took longer than the server's limit (limits.request_timeout_secs); a slow or stalled upload is cut off (request id: [REQUEST_ID])"}]}"#);
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(15),
        "{took:?}"
    );
    // Nothing was stored.
    assert!(server.blob_files().is_empty());
    assert_eq!(server.get("/health").status(), 200);
}
