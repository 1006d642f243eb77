//! A fixture upstream registry for proxy tests: a tiny HTTP/1.1 server on
//! a loopback address that answers fixed paths with canned [`Answer`]s
//! (sparse index files under exactly the name each crate is given, as a
//! public registry keeps them, with no folding of `-`/`_`; `.crate` files;
//! redirects; a chosen `config.json`), and can be told to go down, stall,
//! answer 5xx or serve corrupted `.crate` files. It records every path
//! asked, so a test can tell that a host was never contacted.

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
    /// Serves `.crate` files (paths under `/dl/`) with one byte flipped.
    Corrupt,
}

/// One canned answer.
#[derive(Clone)]
pub struct Answer {
    status: &'static str,
    headers: Vec<(String, String)>,
    body: Arc<Vec<u8>>,
    /// No `Content-Length`: the body ends when the connection closes.
    undeclared: bool,
    /// Waited before answering.
    delay: Duration,
}

impl Answer {
    /// 200 with this body.
    pub fn ok(body: impl Into<Vec<u8>>) -> Self {
        Self {
            status: "200 OK",
            headers: Vec::new(),
            body: Arc::new(body.into()),
            undeclared: false,
            delay: Duration::ZERO,
        }
    }

    /// 200 with this body and no `Content-Length`.
    pub fn undeclared(body: impl Into<Vec<u8>>) -> Self {
        Self {
            undeclared: true,
            ..Self::ok(body)
        }
    }

    /// 302 to `to`.
    pub fn redirect(to: &str) -> Self {
        Self {
            status: "302 Found",
            headers: vec![("Location".into(), to.into())],
            ..Self::ok(Vec::new())
        }
    }

    /// 404, as for a crate the upstream does not have (or deleted).
    pub fn not_found() -> Self {
        Self {
            status: "404 Not Found",
            ..Self::ok(b"not found".to_vec())
        }
    }

    /// `status` (e.g. `"400 Bad Request"`) with a JSON body.
    pub fn json(status: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            ..Self::ok(body)
        }
    }

    /// The same answer after `delay`.
    pub fn after(self, delay: Duration) -> Self {
        Self { delay, ..self }
    }
}

/// The fixture server; stops when dropped.
pub struct Fixture {
    pub url: String,
    answers: Arc<Mutex<HashMap<String, Answer>>>,
    mode: Arc<Mutex<Mode>>,
    asked: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Fixture {
    /// An upstream on 127.0.0.1 serving crates `(name, vers, bytes)`: their
    /// index files, a `config.json` whose `dl` uses cargo's markers, and
    /// each `.crate` at `/dl/NAME/VERS/SHA256` (after 300 ms, so that
    /// concurrent misses overlap).
    pub fn start(crates: &[(&str, &str, Vec<u8>)]) -> Fixture {
        let fixture = Fixture::on("127.0.0.1");
        fixture.set_dl(&format!(
            "{}/dl/{{crate}}/{{version}}/{{sha256-checksum}}",
            fixture.url
        ));
        let mut index: HashMap<String, String> = HashMap::new();
        for (name, vers, bytes) in crates {
            let line = json!({"name": name, "vers": vers, "deps": [], "cksum": sha256_hex(bytes),
                              "features": {}, "yanked": false});
            index
                .entry(format!("/index/{}", index_path(name)))
                .or_default()
                .push_str(&format!("{line}\n"));
            fixture.answer(
                &format!("/dl/{name}/{vers}/{}", sha256_hex(bytes)),
                Answer::ok(bytes.clone()).after(Duration::from_millis(300)),
            );
        }
        for (path, body) in index {
            fixture.answer(&path, Answer::ok(body));
        }
        fixture
    }

    /// An empty upstream on `ip` (everything 404 until answers are set).
    pub fn on(ip: &str) -> Fixture {
        let listener = TcpListener::bind(format!("{ip}:0")).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let fixture = Fixture {
            url,
            answers: Arc::default(),
            mode: Arc::new(Mutex::new(Mode::Normal)),
            asked: Arc::default(),
            stop: Arc::default(),
        };
        let (answers, mode, asked, stop) = (
            fixture.answers.clone(),
            fixture.mode.clone(),
            fixture.asked.clone(),
            fixture.stop.clone(),
        );
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (answers, mode, asked) = (answers.clone(), mode.clone(), asked.clone());
                std::thread::spawn(move || serve(conn, &answers, &mode, &asked));
            }
        });
        fixture
    }

    /// Answers `path` with `answer` from now on.
    pub fn answer(&self, path: &str, answer: Answer) {
        self.answers.lock().unwrap().insert(path.into(), answer);
    }

    /// Answers the index file of `name` (at cargo's path for it under
    /// `/index/`) with `answer` from now on.
    pub fn answer_index(&self, name: &str, answer: Answer) {
        self.answer(
            &format!("/index/{}", berth_protocol::index_path(name)),
            answer,
        );
    }

    /// A `config.json` under `/index/` with this `dl`.
    pub fn set_dl(&self, dl: &str) {
        self.answer(
            "/index/config.json",
            Answer::ok(json!({"dl": dl, "api": self.url}).to_string()),
        );
    }

    /// Behaves as `mode` says from now on.
    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// Every path asked, in order.
    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }

    /// How many requests asked for paths starting with `prefix`.
    pub fn hits(&self, prefix: &str) -> usize {
        self.asked
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.starts_with(prefix))
            .count()
    }

    /// The sparse index URL to configure a proxy with.
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
    answers: &Mutex<HashMap<String, Answer>>,
    mode: &Mutex<Mode>,
    asked: &Mutex<Vec<String>>,
) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    // A request's body (a form posted to a token endpoint) is read, so
    // that closing the connection does not reset it before the answer.
    let mut body = vec![0u8; length.min(1 << 20)];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    asked.lock().unwrap().push(path.clone());
    let mode = *mode.lock().unwrap();
    let answer = match mode {
        Mode::Down => return,
        Mode::Stall => {
            let mut sink = [0u8; 1];
            let _ = conn.set_read_timeout(Some(Duration::from_secs(60)));
            let _ = conn.read(&mut sink);
            return;
        }
        Mode::Error => Answer {
            status: "500 Internal Server Error",
            ..Answer::ok(b"boom".to_vec())
        },
        Mode::Normal | Mode::Corrupt => {
            let found = answers.lock().unwrap().get(&path).cloned();
            let mut answer = found.unwrap_or_else(Answer::not_found);
            if mode == Mode::Corrupt && path.starts_with("/dl/") && !answer.body.is_empty() {
                let mut body = answer.body.to_vec();
                let last = body.len() - 1;
                body[last] ^= 0xff;
                answer.body = Arc::new(body);
            }
            answer
        }
    };
    std::thread::sleep(answer.delay);
    let mut head = format!("HTTP/1.1 {}\r\nConnection: close\r\n", answer.status);
    if !answer.undeclared {
        head.push_str(&format!("Content-Length: {}\r\n", answer.body.len()));
    }
    for (k, v) in &answer.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(&answer.body);
}
