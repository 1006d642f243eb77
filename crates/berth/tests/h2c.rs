//! HTTP/2 for plain-HTTP clients that ask for it: cargo (through libcurl)
//! sends `Upgrade: h2c` on each new `http://` connection, and Berth switches
//! that connection to HTTP/2, answering the upgraded request on stream 1.
//! Driven by the real cargo and the real curl, plus raw sockets for what no
//! well-behaved client sends.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use berth_testkit::{dependency, http, Cargo, PublishBuilder, Server};

/// Publishes `chain-0` .. `chain-{n-1}`, each depending on the one before
/// it and on the one at half its position.
fn publish_chain(server: &Server, token: &str, n: usize) {
    for i in 0..n {
        let mut krate = PublishBuilder::new(&format!("chain-{i}"), "1.0.0");
        if i > 0 {
            krate = krate.dependency(dependency(&format!("chain-{}", i - 1), "^1"));
        }
        if i > 2 {
            krate = krate.dependency(dependency(&format!("chain-{}", i / 2), "^1"));
        }
        let r = http()
            .put(format!("{}/r/main/api/v1/crates/new", server.url))
            .header("Authorization", token)
            .body(krate.body())
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "publish chain-{i}: {}", r.text().unwrap());
    }
}

/// Runs cargo with libcurl's own trace on (`CARGO_HTTP_DEBUG`): its output.
fn cargo_traced(cargo: &Cargo, dir: &std::path::Path, args: &[&str]) -> String {
    let out = cargo
        .cmd(dir, args)
        .env("CARGO_HTTP_DEBUG", "true")
        .env("CARGO_LOG", "network=debug")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "cargo {args:?} failed:\n{text}");
    text
}

/// How many responses of each HTTP version libcurl's trace shows.
fn responses(trace: &str) -> (usize, usize) {
    let h1 = trace.matches("< HTTP/1.1 ").count();
    let h2 = trace.matches("< HTTP/2 ").count();
    (h1, h2)
}

#[test]
fn cargo_resolves_and_fetches_over_http2_after_upgrading() {
    let server = Server::start();
    let token = server.user_with_token("alice");
    publish_chain(&server, &token, 12);
    let cargo = Cargo::new(&server);
    let app = cargo.consumer("app", "chain-11 = { version = \"1\", registry = \"main\" }");

    let lock_trace = cargo_traced(&cargo, &app, &["generate-lockfile"]);
    let lock = std::fs::read_to_string(app.join("Cargo.lock")).unwrap();
    for i in 0..12 {
        assert!(
            lock.contains(&format!("name = \"chain-{i}\"")),
            "chain-{i} not locked:\n{lock}"
        );
    }
    let fetch_trace = cargo_traced(&cargo, &app, &["fetch"]);
    let cached: Vec<_> = walk(&cargo.home.path().join("registry/cache"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "crate"))
        .collect();
    assert_eq!(cached.len(), 12, "downloaded: {cached:?}");

    // Each of cargo's two connections (index, then downloads) was switched
    // on its first request; every answer after the `101` came over HTTP/2.
    for (what, trace, at_least) in [("resolve", &lock_trace, 13), ("fetch", &fetch_trace, 12)] {
        let (h1, h2) = responses(trace);
        assert!(
            trace.contains("< HTTP/1.1 101 Switching Protocols"),
            "{what}: no switch:\n{trace}"
        );
        assert_eq!(h1, 1, "{what}: HTTP/1.1 answers besides the 101:\n{trace}");
        assert!(h2 >= at_least, "{what}: {h2} HTTP/2 answers:\n{trace}");
    }
    assert!(server.metric("berth_h2c_upgrades_total") >= 2.0);
}

#[test]
fn with_h2c_off_cargo_stays_on_http1() {
    let server = Server::start_with_config("h2c = false\n");
    let token = server.user_with_token("alice");
    publish_chain(&server, &token, 4);
    let cargo = Cargo::new(&server);
    let app = cargo.consumer("app", "chain-3 = { version = \"1\", registry = \"main\" }");
    let trace = cargo_traced(&cargo, &app, &["fetch"]);
    let (h1, h2) = responses(&trace);
    assert_eq!(h2, 0, "HTTP/2 with h2c off:\n{trace}");
    assert!(h1 >= 8, "{h1} HTTP/1.1 answers:\n{trace}");
    assert!(
        trace.contains("Upgrade: h2c"),
        "cargo did not ask:\n{trace}"
    );
    assert_eq!(server.metric("berth_h2c_upgrades_total"), 0.0);
}

/// `curl --http2` on `path` with these extra headers: (HTTP version,
/// status, body).
fn curl_http2(server: &Server, path: &str, headers: &[&str]) -> (String, u16, Vec<u8>) {
    let body = tempfile::NamedTempFile::new().unwrap();
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--http2", "--max-time", "20", "-o"])
        .arg(body.path())
        .args(["-w", "%{http_version} %{http_code}"]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd
        .arg(format!("{}{path}", server.url))
        .output()
        .expect("curl is installed (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (version, status) = text.split_once(' ').unwrap();
    (
        version.to_string(),
        status.parse().unwrap(),
        std::fs::read(body.path()).unwrap(),
    )
}

#[test]
fn the_upgraded_request_keeps_its_headers() {
    let server = Server::start_with_config("[[registries]]\nname = \"main\"\nprivate = true\n");
    let token = server.user_with_token("alice");
    server.berth(&[
        "role",
        "grant",
        "--registry",
        "main",
        "--user",
        "alice",
        "--role",
        "publish",
    ]);
    publish_chain(&server, &token, 1);
    let auth = format!("Authorization: {token}");

    // The token rides on the request that is answered on stream 1.
    let (version, status, _) = curl_http2(&server, "/r/main/index/config.json", &[]);
    assert_eq!((version.as_str(), status), ("2", 401));
    let (version, status, body) = curl_http2(&server, "/r/main/index/config.json", &[&auth]);
    assert_eq!((version.as_str(), status), ("2", 200));
    let config: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(config["auth-required"], true, "{config}");

    // So does a conditional request's validator.
    let index = server
        .request(reqwest::Method::GET, "/r/main/index/ch/ai/chain-0")
        .header("Authorization", &token)
        .send()
        .unwrap();
    let etag = index.headers()["etag"].to_str().unwrap().to_string();
    let lines = index.bytes().unwrap();
    let (version, status, body) = curl_http2(&server, "/r/main/index/ch/ai/chain-0", &[&auth]);
    assert_eq!((version.as_str(), status), ("2", 200));
    assert_eq!(body, lines);
    let if_none_match = format!("If-None-Match: {etag}");
    let (version, status, body) = curl_http2(
        &server,
        "/r/main/index/ch/ai/chain-0",
        &[&auth, &if_none_match],
    );
    assert_eq!((version.as_str(), status), ("2", 304));
    assert!(body.is_empty());

    // A download, bytes for bytes.
    let krate = PublishBuilder::new("chain-0", "1.0.0").crate_bytes();
    let (version, status, body) = curl_http2(
        &server,
        "/r/main/api/v1/crates/chain-0/1.0.0/download",
        &[&auth],
    );
    assert_eq!((version.as_str(), status), ("2", 200));
    assert_eq!(body, krate);
}

/// Sends `request` on a new connection; the status line of the answer and
/// the connection.
fn status_line(server: &Server, request: &str) -> (String, TcpStream) {
    let mut conn = TcpStream::connect(server.addr()).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(request.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n") {
        assert_eq!(conn.read(&mut byte).unwrap(), 1, "closed: {got:?}");
        got.push(byte[0]);
    }
    (String::from_utf8(got).unwrap().trim_end().to_string(), conn)
}

/// An upgrade request for `path` with these header lines, and a Host
/// unless they give one.
fn upgrade_request(method: &str, path: &str, lines: &[&str]) -> String {
    let mut r = format!("{method} {path} HTTP/1.1\r\n");
    if !lines.iter().any(|l| l.starts_with("Host:")) {
        r.push_str("Host: berth.test\r\n");
    }
    for l in lines {
        r.push_str(l);
        r.push_str("\r\n");
    }
    r.push_str("\r\n");
    r
}

const ASKS: [&str; 3] = [
    "Connection: Upgrade, HTTP2-Settings",
    "Upgrade: h2c",
    "HTTP2-Settings: AAMAAABkAAQAAQAAAAIAAAAA",
];

/// Reads whole HTTP/2 frames until `stop` says so or the connection
/// closes or stalls: `(type, flags, stream, payload)` of each.
fn read_frames(
    conn: &mut TcpStream,
    stop: impl Fn(&[(u8, u8, u32, Vec<u8>)]) -> bool,
) -> Vec<(u8, u8, u32, Vec<u8>)> {
    let mut frames = Vec::new();
    let mut header = [0u8; 9];
    while !stop(&frames) {
        if conn.read_exact(&mut header).is_err() {
            break;
        }
        let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        let stream = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        conn.read_exact(&mut payload).unwrap();
        frames.push((header[3], header[4], stream, payload));
    }
    frames
}

#[test]
fn requests_that_may_not_switch_are_answered_over_http1() {
    let server = Server::start();
    let token = server.user_with_token("alice");
    publish_chain(&server, &token, 1);
    let path = "/r/main/index/config.json";
    let cases = [
        (
            "GET",
            vec![ASKS[1], ASKS[2]],
            "Connection does not name the upgrade",
        ),
        (
            "GET",
            vec!["Connection: Upgrade", ASKS[1], ASKS[2]],
            "Connection does not name HTTP2-Settings",
        ),
        ("GET", vec![ASKS[0], ASKS[1]], "no HTTP2-Settings"),
        (
            "GET",
            vec![ASKS[0], ASKS[1], "HTTP2-Settings: not*base64"],
            "HTTP2-Settings is not base64url",
        ),
        (
            "GET",
            vec![ASKS[0], ASKS[1], "HTTP2-Settings: AAMAAA"],
            "HTTP2-Settings is not whole settings",
        ),
        (
            "GET",
            vec![ASKS[0], ASKS[1], ASKS[2], ASKS[2]],
            "two HTTP2-Settings",
        ),
        (
            "GET",
            vec![ASKS[0], "Upgrade: websocket", ASKS[2]],
            "another protocol",
        ),
        (
            "GET",
            vec!["Host: a b", ASKS[0], ASKS[1], ASKS[2]],
            "a Host that HTTP/2 would refuse",
        ),
        (
            "POST",
            vec![ASKS[0], ASKS[1], ASKS[2], "Content-Length: 2"],
            "a request with a body",
        ),
    ];
    for (method, lines, why) in cases {
        let mut request = upgrade_request(method, path, &lines);
        if method == "POST" {
            request.push_str("{}");
        }
        let (line, _) = status_line(&server, &request);
        assert!(
            line.starts_with("HTTP/1.1 ") && !line.starts_with("HTTP/1.1 101"),
            "{why}: {line}"
        );
    }
}

/// Sends an upgrade request for `path` and reads the whole `101` head.
fn switched(server: &Server, path: &str) -> TcpStream {
    switched_with(server, path, &ASKS)
}

/// [`switched`], asking with these header lines.
fn switched_with(server: &Server, path: &str, asks: &[&str]) -> TcpStream {
    let (line, mut conn) = status_line(server, &upgrade_request("GET", path, asks));
    assert_eq!(line, "HTTP/1.1 101 Switching Protocols");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head != b"\r\n" {
        conn.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
    assert!(head.contains("upgrade: h2c"), "{head}");
    conn
}

#[test]
fn a_switched_connection_answers_the_upgraded_request_on_stream_one() {
    let server = Server::start();
    let token = server.user_with_token("alice");
    publish_chain(&server, &token, 1);
    let mut conn = switched(&server, "/r/main/index/ch/ai/chain-0");
    conn.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .unwrap();
    let frames = read_frames(&mut conn, |f| {
        f.iter()
            .any(|(kind, flags, stream, _)| *kind == 0x0 && *stream == 1 && flags & 0x1 != 0)
    });
    let kinds: Vec<_> = frames.iter().map(|f| (f.0, f.2)).collect();
    assert_eq!(frames[0].0, 0x4, "the server's SETTINGS first: {kinds:?}");
    let headers = frames
        .iter()
        .find(|f| f.0 == 0x1)
        .unwrap_or_else(|| panic!("no HEADERS: {kinds:?}"));
    assert_eq!(headers.2, 1, "answered on stream {}", headers.2);
    // `:status: 200` is entry 8 of HPACK's static table.
    assert_eq!(headers.3[0], 0x88, "status not 200: {:?}", headers.3);
    let body: Vec<u8> = frames
        .iter()
        .filter(|f| f.0 == 0x0 && f.2 == 1)
        .flat_map(|f| f.3.clone())
        .collect();
    let line: serde_json::Value =
        serde_json::from_slice(body.split(|&b| b == b'\n').next().unwrap()).unwrap();
    assert_eq!(line["name"], "chain-0");
}

#[test]
fn a_client_that_switches_and_then_stalls_or_lies_is_dropped() {
    let server = Server::start_with_config("[limits]\nheader_read_timeout_secs = 2\n");
    for (then, what) in [
        (&b""[..], "sends nothing"),
        (&b"GET / HTTP/1.1\r\n\r\n"[..], "speaks HTTP/1.1 again"),
        (
            &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\x01\0\0\0\0"[..],
            "starts with a SETTINGS ACK",
        ),
        (
            &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\x07\x04\0\0\0\0\0"[..],
            "sends half a setting",
        ),
    ] {
        let started = Instant::now();
        let mut conn = switched(&server, "/r/main/index/config.json");
        conn.write_all(then).unwrap();
        // Closed, with nothing of HTTP/2 sent to it, within the header
        // deadline (2 s here).
        let mut rest = Vec::new();
        let closed = conn.read_to_end(&mut rest);
        assert!(closed.is_ok(), "{what}: {closed:?}");
        assert!(rest.is_empty(), "{what}: answered {rest:?}");
        let took = started.elapsed();
        assert!(took < Duration::from_secs(8), "{what}: open for {took:?}");
    }
    // The server goes on serving.
    assert_eq!(server.get("/health").status(), 200);
}

/// An empty SETTINGS frame after the preface, or one with these settings.
fn preface(settings: &[(u16, u32)]) -> Vec<u8> {
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend_from_slice(&((settings.len() * 6) as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&[0x4, 0, 0, 0, 0, 0]);
    for (id, value) in settings {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&value.to_be_bytes());
    }
    out
}

#[test]
fn the_settings_the_upgrade_carries_are_in_force_from_the_start() {
    let server = Server::start();
    let token = server.user_with_token("alice");
    publish_chain(&server, &token, 1);
    // INITIAL_WINDOW_SIZE = 1 in HTTP2-Settings only; the first SETTINGS
    // frame is empty. The answer on stream 1 may send one byte at a time.
    let asks = [ASKS[0], ASKS[1], "HTTP2-Settings: AAQAAAAB"];
    let mut conn = switched_with(&server, "/r/main/index/ch/ai/chain-0", &asks);
    conn.write_all(&preface(&[])).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let frames = read_frames(&mut conn, |f| {
        f.iter()
            .filter(|(kind, _, stream, _)| *kind == 0x0 && *stream == 1)
            .count()
            >= 1
    });
    let kinds: Vec<_> = frames.iter().map(|f| (f.0, f.2, f.3.len())).collect();
    assert!(
        frames.iter().any(|f| f.0 == 0x1 && f.2 == 1),
        "no answer on stream 1: {kinds:?}"
    );
    for (kind, _, stream, payload) in &frames {
        if *kind == 0x0 && *stream == 1 {
            assert!(payload.len() <= 1, "DATA past the window: {kinds:?}");
        }
    }
    // One acknowledgement: of the client's one SETTINGS frame.
    let acks = frames
        .iter()
        .filter(|f| f.0 == 0x4 && f.1 & 0x1 != 0)
        .count();
    assert_eq!(acks, 1, "{kinds:?}");
}

#[test]
fn a_client_that_takes_nothing_is_dropped() {
    // Idle and write deadlines short, so that either one shows.
    let server = Server::start_with_config(
        "[limits]\nheader_read_timeout_secs = 3\nwrite_timeout_secs = 2\n",
    );
    let token = server.user_with_token("alice");
    publish_chain(&server, &token, 1);
    // A window of zero: the answer's body can never be sent, and the
    // socket never blocks (so no write ever times out). The response stays
    // in flight and makes no progress for the write deadline: closed.
    for path in ["/health", "/r/main/api/v1/crates/chain-0/1.0.0/download"] {
        let started = Instant::now();
        let mut conn = switched(&server, path);
        conn.write_all(&preface(&[(0x4, 0)])).unwrap();
        let mut rest = Vec::new();
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let closed = conn.read_to_end(&mut rest);
        let took = started.elapsed();
        assert!(closed.is_ok(), "{path}: {closed:?} after {took:?}");
        assert!(
            took < Duration::from_secs(10),
            "{path}: closed after {took:?}"
        );
    }
    // Both by the progress watch (hyper held the bodies back).
    let cut = server.log().matches("a response made no progress").count();
    assert_eq!(cut, 2, "{}", server.log());
    assert_eq!(server.get("/health").status(), 200);
}

#[test]
fn a_connection_idle_before_it_switches_is_not_cut_as_it_switches() {
    let server = Server::start_with_config("[limits]\nheader_read_timeout_secs = 3\n");
    let token = server.user_with_token("alice");
    publish_chain(&server, &token, 1);
    // A request, then quiet for most of the idle deadline, then the
    // upgrade, then quiet again before the preface: the switch counts as
    // activity, so the answer on stream 1 is not preceded by a GOAWAY.
    for _ in 0..4 {
        let mut conn = TcpStream::connect(server.addr()).unwrap();
        conn.write_all(b"GET /health HTTP/1.1\r\nHost: berth.test\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 1024];
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert!(conn.read(&mut buf).unwrap() > 0);
        std::thread::sleep(Duration::from_millis(2000));
        conn.write_all(upgrade_request("GET", "/r/main/index/ch/ai/chain-0", &ASKS).as_bytes())
            .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            conn.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        assert!(head.starts_with(b"HTTP/1.1 101"), "{head:?}");
        std::thread::sleep(Duration::from_millis(1500));
        conn.write_all(&preface(&[])).unwrap();
        let frames = read_frames(&mut conn, |f| {
            f.iter()
                .any(|(kind, flags, stream, _)| *kind == 0x0 && *stream == 1 && flags & 0x1 != 0)
        });
        let kinds: Vec<_> = frames.iter().map(|f| (f.0, f.2)).collect();
        assert!(
            !frames.iter().any(|f| f.0 == 0x7),
            "GOAWAY on a fresh switch: {kinds:?}"
        );
        assert!(
            frames
                .iter()
                .any(|f| f.0 == 0x0 && f.2 == 1 && f.1 & 0x1 != 0),
            "stream 1 not answered: {kinds:?}"
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
