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
    let local: SocketAddr = format!("{from}:0").parse().expect("a loopback address");
    let remote: SocketAddr = server.addr().parse().expect("the server's address");
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
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
