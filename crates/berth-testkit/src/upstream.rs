//! A fixture upstream registry for proxy tests: a tiny HTTP/1.1 server on
//! loopback that serves fixed sparse index files (each crate under exactly
//! the name it is given, as a public registry keeps them, with no folding
//! of `-`/`_`) and `.crate` files, and can be told to go down, stall,
//! answer 5xx or serve corrupted `.crate` files. It counts requests per
//! path.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::{index_path, sha256_hex};

/// How the fixture upstream behaves.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Normal,
    /// Closes every connection at once.
    Down,
    /// Accepts and never answers.
    Stall,
    /// 500 for everything.
    Error,
    /// Serves `.crate` files with one byte flipped.
    Corrupt,
}

/// A tiny HTTP/1.1 upstream: `GET /index/...` and `GET /dl/NAME/VERS`.
pub struct Fixture {
    pub url: String,
    mode: Arc<Mutex<Mode>>,
    /// Requests per path.
    hits: Arc<Mutex<HashMap<String, usize>>>,
    stop: Arc<AtomicBool>,
}

impl Fixture {
    /// Serves crates `(name, vers, bytes)`; the dl template uses markers.
    pub fn start(crates: &[(&str, &str, Vec<u8>)]) -> Fixture {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut files: HashMap<String, Vec<u8>> = HashMap::new();
        files.insert(
            "/index/config.json".into(),
            json!({"dl": format!("{url}/dl/{{crate}}/{{version}}/{{sha256-checksum}}"), "api": url})
                .to_string()
                .into_bytes(),
        );
        let mut index: HashMap<String, String> = HashMap::new();
        for (name, vers, bytes) in crates {
            let line = json!({"name": name, "vers": vers, "deps": [], "cksum": sha256_hex(bytes),
                              "features": {}, "yanked": false});
            index
                .entry(format!("/index/{}", index_path(name)))
                .or_default()
                .push_str(&format!("{line}\n"));
            files.insert(
                format!("/dl/{name}/{vers}/{}", sha256_hex(bytes)),
                bytes.clone(),
            );
        }
        files.extend(index.into_iter().map(|(k, v)| (k, v.into_bytes())));
        let fixture = Fixture {
            url,
            mode: Arc::new(Mutex::new(Mode::Normal)),
            hits: Arc::default(),
            stop: Arc::default(),
        };
        let (mode, hits, stop) = (
            fixture.mode.clone(),
            fixture.hits.clone(),
            fixture.stop.clone(),
        );
        let files = Arc::new(files);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (mode, hits, files) = (mode.clone(), hits.clone(), files.clone());
                std::thread::spawn(move || serve(conn, &mode, &hits, &files));
            }
        });
        fixture
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn hits(&self, prefix: &str) -> usize {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, n)| n)
            .sum()
    }

    pub fn index_url(&self) -> String {
        format!("sparse+{}/index/", self.url)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
    }
}

fn serve(
    mut conn: TcpStream,
    mode: &Mutex<Mode>,
    hits: &Mutex<HashMap<String, usize>>,
    files: &HashMap<String, Vec<u8>>,
) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    let mode = *mode.lock().unwrap();
    let reply = |conn: &mut TcpStream, status: &str, body: &[u8]| {
        let _ = conn.write_all(
            format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        let _ = conn.write_all(body);
    };
    match mode {
        Mode::Down => {}
        Mode::Stall => {
            let mut sink = [0u8; 1];
            let _ = conn.set_read_timeout(Some(Duration::from_secs(60)));
            let _ = conn.read(&mut sink);
        }
        Mode::Error => reply(&mut conn, "500 Internal Server Error", b"boom"),
        Mode::Normal | Mode::Corrupt => match files.get(&path) {
            None => reply(&mut conn, "404 Not Found", b"not found"),
            Some(body) => {
                let mut body = body.clone();
                if mode == Mode::Corrupt && path.starts_with("/dl/") {
                    let last = body.len() - 1;
                    body[last] ^= 0xff;
                }
                // Slow enough that concurrent misses overlap.
                if path.starts_with("/dl/") {
                    std::thread::sleep(Duration::from_millis(300));
                }
                reply(&mut conn, "200 OK", &body);
            }
        },
    }
}
