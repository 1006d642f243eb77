//! Helpers for tests that attack a running server: connections from other
//! loopback addresses (each standing for another client), and the
//! bystander, an ordinary user who checks that the service stays healthy
//! for everyone while an attack runs.

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::http::publish_raw;
use crate::server::Server;
use crate::tarball::crate_file;

/// A TCP connection to `server` from the loopback address `from`
/// (`127.0.0.2`, ...), or the error the kernel or server gave.
pub fn connect_from(from: &str, server: &Server) -> std::io::Result<TcpStream> {
    connect_with_window(from, server, None)
}

/// [`connect_from`], with the socket's receive buffer set to `window`
/// bytes first (the kernel doubles it): a client whose reads the server's
/// writes soon wait for.
pub fn connect_with_window(
    from: &str,
    server: &Server,
    window: Option<usize>,
) -> std::io::Result<TcpStream> {
    let local: SocketAddr = format!("{from}:0").parse().expect("a loopback address");
    let remote: SocketAddr = server.addr().parse().expect("the server's address");
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    if let Some(bytes) = window {
        socket.set_recv_buffer_size(bytes)?;
    }
    socket.bind(&local.into())?;
    socket.connect_timeout(&remote.into(), Duration::from_secs(5))?;
    Ok(socket.into())
}

/// A blocking HTTP client whose connections come from the loopback
/// address `from` (`127.0.0.2`, ...): another client, as the server sees it.
pub fn http_from(from: &str) -> reqwest::blocking::Client {
    let local: std::net::IpAddr = from.parse().expect("a loopback address");
    reqwest::blocking::Client::builder()
        .local_address(local)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("build an HTTP client")
}

/// What an ordinary user saw while an attack ran.
#[derive(Debug, Default)]
pub struct Bystander {
    /// The slowest `/health` answer.
    pub worst_health: Duration,
    /// The slowest publish of a small crate, then a fetch of its index file.
    pub worst_publish: Duration,
    /// How many rounds of health, publish and index fetch ran.
    pub rounds: usize,
}

impl Bystander {
    /// Repeats, for `duration`: `/health`, a publish of a new version of
    /// `krate` with `token`, and a fetch of its index file, from 127.0.0.1.
    /// Every one must succeed; their worst latencies are returned.
    pub fn watch(server: &Server, token: &str, krate: &str, duration: Duration) -> Bystander {
        let mut seen = Bystander::default();
        let end = Instant::now() + duration;
        let client = crate::http::http_with_timeout(Duration::from_secs(30));
        while Instant::now() < end {
            let t = Instant::now();
            let r = client
                .get(format!("{}/health", server.url))
                .send()
                .expect("/health answers");
            assert_eq!(r.status(), 200, "/health during the attack");
            seen.worst_health = seen.worst_health.max(t.elapsed());

            let t = Instant::now();
            let vers = format!("0.1.{}", seen.rounds);
            let status = publish_raw(
                &server.url,
                token,
                krate,
                &vers,
                &crate_file(krate, &vers, "pub fn o() {}\n"),
            );
            assert_eq!(status, Some(200), "an ordinary publish during the attack");
            let path = berth_protocol::index_path(krate);
            let r = client
                .get(format!("{}/r/main/index/{path}", server.url))
                .send()
                .expect("the index file answers");
            assert_eq!(r.status(), 200, "an index fetch during the attack");
            let body = r.text().expect("index body");
            assert!(body.contains(&format!("\"{vers}\"")), "{body}");
            seen.worst_publish = seen.worst_publish.max(t.elapsed());
            seen.rounds += 1;
            std::thread::sleep(Duration::from_millis(100));
        }
        seen
    }

    /// Fails the test unless `/health` always answered within a second and
    /// every publish with its index fetch within `publish_bound`.
    pub fn assert_healthy(&self, publish_bound: Duration) {
        println!("bystander: {self:?}");
        assert!(self.rounds > 0, "the bystander never ran");
        assert!(
            self.worst_health < Duration::from_secs(1),
            "/health took {:?} during the attack",
            self.worst_health
        );
        assert!(
            self.worst_publish < publish_bound,
            "a publish took {:?} during the attack",
            self.worst_publish
        );
    }
}

/// Reads from `conn` until the server closes it (or `limit` passes);
/// returns the bytes read and whether it was closed.
pub fn read_until_closed(conn: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    use std::io::Read;
    let end = Instant::now() + limit;
    let mut seen = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    while Instant::now() < end {
        conn.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        match conn.read(&mut buf) {
            Ok(0) => return (seen, true),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return (seen, true),
        }
    }
    (seen, false)
}

/// `len` bytes that do not compress (a xorshift stream from `seed`): a
/// `.crate` of a known size.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// `conns` connections from `from` that each send `asks` pipelined GETs of
/// `path` at once and then read nothing: clients that stall the server's
/// writes.
pub fn stalled_readers(
    server: &Server,
    from: &str,
    path: &str,
    conns: usize,
    asks: usize,
) -> Vec<TcpStream> {
    use std::io::Write;
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    (0..conns)
        .map(|_| {
            let mut c = connect_from(from, server).unwrap();
            c.write_all(request.repeat(asks).as_bytes()).unwrap();
            c
        })
        .collect()
}

/// Asserts that the server closed each of `conns` (within 20 s), having
/// sent each fewer than `most` bytes: what the kernel buffered before the
/// write deadline cut it off, not every answer asked for.
pub fn assert_cut_off(conns: &mut [TcpStream], most: usize) {
    for conn in conns {
        let (bytes, closed) = read_until_closed(conn, Duration::from_secs(20));
        assert!(closed, "a stalled connection was kept open");
        assert!(
            bytes.len() < most,
            "all {} bytes were sent: nothing cut the stalled client off",
            bytes.len()
        );
    }
}

/// What [`feed_through_fifo`] saw of the command it fed.
pub struct Fed {
    /// The command's peak resident memory (VmHWM, KiB) while it read.
    pub peak_rss_kib: u64,
    /// Whether the command took every byte offered.
    pub took_all: bool,
    pub output: std::process::Output,
}

/// Runs `command`, whose last argument should be `fifo` (a path that does
/// not exist yet; made a named pipe here), and writes `head` then `zeros`
/// zero bytes into the pipe, so that a hostile file of any size costs no
/// disk. If the command takes all of it, the pipe is held open (the command
/// waiting for more) while its peak memory is read, then closed; a command
/// that refuses early stops reading and exits. Bounded by `limit`.
pub fn feed_through_fifo(
    command: &mut std::process::Command,
    fifo: &std::path::Path,
    head: &[u8],
    zeros: u64,
    limit: Duration,
) -> Fed {
    use std::io::Write;
    use std::process::Stdio;
    let made = std::process::Command::new("mkfifo")
        .arg(fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success(), "mkfifo {}", fifo.display());
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the command");
    let pid = child.id();
    let peak = || {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    let (done_tx, done_rx) = std::sync::mpsc::channel::<bool>();
    let (close_tx, close_rx) = std::sync::mpsc::channel::<()>();
    let head = head.to_vec();
    let path = fifo.to_path_buf();
    let writer = std::thread::spawn(move || {
        // Blocks until the command opens the pipe (or fails first: then
        // the main thread opens it to let this one go).
        let Ok(mut pipe) = std::fs::OpenOptions::new().write(true).open(&path) else {
            let _ = done_tx.send(false);
            return;
        };
        let chunk = vec![0u8; 1 << 20];
        let mut ok = pipe.write_all(&head).is_ok();
        let mut left = zeros;
        while ok && left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            ok = pipe.write_all(&chunk[..n]).is_ok();
            left -= n as u64;
        }
        let _ = done_tx.send(ok);
        if ok {
            let _ = close_rx.recv_timeout(Duration::from_secs(60));
        }
    });
    let start = Instant::now();
    let mut peak_kib = 0;
    let took_all = loop {
        if let Some(kib) = peak() {
            peak_kib = peak_kib.max(kib);
        }
        match done_rx.recv_timeout(Duration::from_millis(5)) {
            Ok(all) => break all,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break false,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        if matches!(child.try_wait(), Ok(Some(_))) {
            // Exited without opening the pipe, or mid-way: free the writer.
            let _ = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags_nonblocking()
                .open(fifo);
        }
        assert!(start.elapsed() < limit, "the command took over {limit:?}");
    };
    if took_all {
        // Let the command settle on what it read, then read its peak.
        std::thread::sleep(Duration::from_millis(200));
        if let Some(kib) = peak() {
            peak_kib = peak_kib.max(kib);
        }
    }
    let _ = close_tx.send(());
    let _ = writer.join();
    let output = child.wait_with_output().expect("wait for the command");
    Fed {
        peak_rss_kib: peak_kib,
        took_all,
        output,
    }
}

/// Opening a pipe's read end without blocking.
trait Nonblocking {
    fn custom_flags_nonblocking(&mut self) -> &mut Self;
}

impl Nonblocking for std::fs::OpenOptions {
    fn custom_flags_nonblocking(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK on Linux.
        self.custom_flags(0o4000)
    }
}
