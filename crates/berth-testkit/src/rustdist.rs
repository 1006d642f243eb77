//! A fixture Rust toolchain distribution server, for the tests of a
//! toolchain mirror: a tiny HTTP/1.1 server on a loopback address laid out
//! as rustup expects a dist server to be (`RUSTUP_DIST_SERVER` names its
//! [`RustDist::url`]), serving small generated releases that the real
//! `rustup` installs, updates and rejects as it would real ones; and
//! [`Rustup`], the real `rustup` with its own homes, pointed at it.
//!
//! A release ([`RustDist::publish`]) is a channel name, a date and a
//! version. It serves, for the one [`TARGET`]:
//!
//! - `/dist/DATE/channel-rust-CHANNEL.toml`: a v2 channel manifest (the
//!   packages `rustc`, `cargo`, `rust-std`, `rust-docs`, `rust-src` for
//!   every target (`"*"`), `clippy-preview` and `rustfmt-preview` (renamed
//!   from `clippy` and `rustfmt`, as public channels do), and the `rust`
//!   aggregate; the profiles `minimal`, `default` and `complete`), whose
//!   URLs name the fixture itself, and `…toml.sha256` beside it
//!   (`HASH  channel-rust-CHANNEL.toml`);
//! - the same two at `/dist/channel-rust-CHANNEL.toml[.sha256]`, for the
//!   channel's latest release (the one published last);
//! - each package's `.tar.gz` at `/dist/DATE/NAME-VERSION-TARGET.tar.gz`
//!   (`rust-src-VERSION.tar.gz` for the one built for every target, and
//!   `clippy`/`rustfmt` for the renamed tools, as public releases name
//!   them), in rust-installer's format (version 3): a top directory, its
//!   `rust-installer-version` and `components` files, and per component a
//!   directory with a `manifest.in` of `file:`/`dir:` lines and the files.
//!
//! `bin/rustc` and `bin/cargo` are shell scripts that answer `--version`
//! and `-vV` for the release and refuse anything else; the other packages
//! ship a small file or two each. Archives are deterministic (fixed mtimes,
//! owners and modes; gzip without a name or time), so a release's hashes
//! are the same on every run. Only gzip is offered (`url`/`hash`, no
//! `xz_url`), which rustup accepts.
//!
//! The server answers `GET` and `HEAD`, honours `Range: bytes=N-` (206, or
//! 416 past the end), as rustup asks when it resumes a partial download,
//! and records every path asked ([`RustDist::asked`]), so a test can tell
//! whether a mirror went upstream. [`RustDist::corrupt`] serves other bytes
//! than the manifest's hash for a path; [`RustDist::stop`] (or dropping it)
//! closes the listener.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tempfile::TempDir;

use crate::upstream::Fixture;
use crate::{gzip, sha256_hex};

/// The one target the fixture builds releases for (the test machines').
pub const TARGET: &str = "x86_64-unknown-linux-gnu";

/// The mtime of every archive entry (2023-11-14T22:13:20Z).
const MTIME: u64 = 1_700_000_000;

/// One package of a release.
struct Piece {
    /// Its `[pkg.NAME]` in the manifest.
    pkg: &'static str,
    /// How its archive's name starts (public releases name the renamed
    /// tools' archives by their short names).
    file: &'static str,
    /// Built for [`TARGET`]; else for every target (`"*"`).
    targeted: bool,
    /// Listed in the `rust` package's `components`; else its `extensions`.
    required: bool,
}

const PIECES: [Piece; 7] = [
    Piece {
        pkg: "rustc",
        file: "rustc",
        targeted: true,
        required: true,
    },
    Piece {
        pkg: "cargo",
        file: "cargo",
        targeted: true,
        required: true,
    },
    Piece {
        pkg: "rust-std",
        file: "rust-std",
        targeted: true,
        required: true,
    },
    Piece {
        pkg: "rust-docs",
        file: "rust-docs",
        targeted: true,
        required: true,
    },
    Piece {
        pkg: "rust-src",
        file: "rust-src",
        targeted: false,
        required: false,
    },
    Piece {
        pkg: "clippy-preview",
        file: "clippy",
        targeted: true,
        required: false,
    },
    Piece {
        pkg: "rustfmt-preview",
        file: "rustfmt",
        targeted: true,
        required: false,
    },
];

/// `(old name, package)`: the manifest's `[renames]`.
const RENAMES: [(&str, &str); 2] = [("clippy", "clippy-preview"), ("rustfmt", "rustfmt-preview")];

const MINIMAL: [&str; 3] = ["rustc", "cargo", "rust-std"];
const DEFAULT: [&str; 6] = [
    "rustc",
    "cargo",
    "rust-std",
    "rust-docs",
    "rustfmt-preview",
    "clippy-preview",
];

/// A published release: what it is and where its files are served.
#[derive(Clone, Debug)]
pub struct Release {
    pub channel: String,
    pub date: String,
    /// The rustc version, e.g. `1.96.0`.
    pub version: String,
    /// The manifest's text.
    pub manifest: String,
    /// Paths of the archives, by manifest package name (`rust` included).
    pub archives: BTreeMap<String, String>,
}

impl Release {
    /// The server path of the dated manifest.
    pub fn manifest_path(&self) -> String {
        format!("/dist/{}/channel-rust-{}.toml", self.date, self.channel)
    }

    /// The server path of the channel's undated manifest (this release's
    /// while it is the channel's latest).
    pub fn channel_path(&self) -> String {
        format!("/dist/channel-rust-{}.toml", self.channel)
    }

    /// The server path of `pkg`'s archive (a manifest package name:
    /// `rustc`, `clippy-preview`, `rust`, …).
    pub fn archive(&self, pkg: &str) -> &str {
        self.archives
            .get(pkg)
            .unwrap_or_else(|| panic!("a fixture release has no package {pkg}"))
    }

    /// What `rustc --version` prints for this release.
    pub fn rustc_version(&self) -> String {
        format!("rustc {} (fixture {})", self.version, self.date)
    }

    /// What `cargo --version` prints for this release.
    pub fn cargo_version(&self) -> String {
        format!("cargo {} (fixture)", self.version)
    }
}

#[derive(Default)]
struct State {
    files: HashMap<String, Arc<Vec<u8>>>,
    corrupted: HashSet<String>,
    asked: Vec<String>,
}

/// The fixture dist server; stops when dropped.
pub struct RustDist {
    addr: SocketAddr,
    /// What the manifests' archive URLs start with: the fixture's own
    /// [`RustDist::url`], or another dist server's root
    /// ([`RustDist::start_as`]).
    base: Option<String>,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RustDist {
    /// A server on a free port of 127.0.0.1 with no releases (everything
    /// 404 until [`RustDist::publish`]).
    pub fn start() -> RustDist {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a dist server");
        let addr = listener.local_addr().expect("its address");
        let state: Arc<Mutex<State>> = Arc::default();
        let stop: Arc<AtomicBool> = Arc::default();
        let (s, st) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || serve(conn, &s));
            }
        });
        RustDist {
            addr,
            base: None,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// A server on a free port of 127.0.0.1 whose manifests name their
    /// archives under `base` (a dist server's root, such as rustup's own
    /// default, [`default_dist_server`]) rather than under the fixture's
    /// address, as a mirrored upstream's manifests do; the files are still
    /// served at the fixture's own address, by path.
    pub fn start_as(base: &str) -> RustDist {
        let mut dist = RustDist::start();
        dist.base = Some(base.trim_end_matches('/').to_string());
        dist
    }

    /// A server with one release published.
    pub fn with(channel: &str, date: &str, version: &str) -> (RustDist, Release) {
        let dist = RustDist::start();
        let release = dist.publish(channel, date, version);
        (dist, release)
    }

    /// The dist server's root, the value for `RUSTUP_DIST_SERVER`
    /// (`http://127.0.0.1:PORT`, no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Builds and serves a release of `channel` dated `date` (`YYYY-MM-DD`)
    /// with rustc `version`; it becomes the channel's latest (the undated
    /// manifest is its), whatever the dates of those published before.
    pub fn publish(&self, channel: &str, date: &str, version: &str) -> Release {
        let base = self.base.clone().unwrap_or_else(|| self.url());
        let label = format!("{version} (fixture {date})");
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        let mut archives = BTreeMap::new();
        // (pkg, target key, url, hash) of every package.
        let mut entries: Vec<(&str, &str, String, String)> = Vec::new();
        for piece in &PIECES {
            let stem = piece_stem(piece, version);
            let bytes = installer(&stem, &[component(piece.pkg, version, date)]);
            let path = format!("/dist/{date}/{stem}.tar.gz");
            let target = if piece.targeted { TARGET } else { "*" };
            entries.push((
                piece.pkg,
                target,
                format!("{base}{path}"),
                sha256_hex(&bytes),
            ));
            archives.insert(piece.pkg.to_string(), path.clone());
            files.push((path, bytes));
        }
        // The aggregate: every package built for the target, in one archive.
        let stem = format!("rust-{version}-{TARGET}");
        let parts: Vec<Component> = PIECES
            .iter()
            .filter(|p| p.targeted)
            .map(|p| component(p.pkg, version, date))
            .collect();
        let bytes = installer(&stem, &parts);
        let path = format!("/dist/{date}/{stem}.tar.gz");
        entries.push(("rust", TARGET, format!("{base}{path}"), sha256_hex(&bytes)));
        archives.insert("rust".to_string(), path.clone());
        files.push((path, bytes));

        let manifest = channel_manifest(date, &label, &entries);
        let name = format!("channel-rust-{channel}.toml");
        let hash_line = format!("{}  {name}\n", sha256_hex(manifest.as_bytes()));
        for dir in [format!("/dist/{date}"), "/dist".to_string()] {
            files.push((format!("{dir}/{name}"), manifest.clone().into_bytes()));
            files.push((
                format!("{dir}/{name}.sha256"),
                hash_line.clone().into_bytes(),
            ));
        }
        let mut state = self.state.lock().unwrap();
        for (path, bytes) in files {
            state.files.insert(path, Arc::new(bytes));
        }
        Release {
            channel: channel.to_string(),
            date: date.to_string(),
            version: version.to_string(),
            manifest,
            archives,
        }
    }

    /// Serves `path` (which must be served) with its last byte flipped from
    /// now on: same length, another sha256.
    pub fn corrupt(&self, path: &str) {
        let mut state = self.state.lock().unwrap();
        assert!(
            state.files.contains_key(path),
            "the fixture dist server serves no {path}"
        );
        state.corrupted.insert(path.to_string());
    }

    /// Serves `path` as published again.
    pub fn restore(&self, path: &str) {
        self.state.lock().unwrap().corrupted.remove(path);
    }

    /// The bytes served at `path` as published (not corrupted), if any.
    pub fn file(&self, path: &str) -> Option<Vec<u8>> {
        let state = self.state.lock().unwrap();
        state.files.get(path).map(|b| b.to_vec())
    }

    /// Every path asked, in order (queries stripped).
    pub fn asked(&self) -> Vec<String> {
        self.state.lock().unwrap().asked.clone()
    }

    /// How many requests asked for exactly `path`.
    pub fn count(&self, path: &str) -> usize {
        let state = self.state.lock().unwrap();
        state.asked.iter().filter(|p| *p == path).count()
    }

    /// How many requests asked for paths starting with `prefix`.
    pub fn hits(&self, prefix: &str) -> usize {
        let state = self.state.lock().unwrap();
        state.asked.iter().filter(|p| p.starts_with(prefix)).count()
    }

    /// Forgets the paths asked so far.
    pub fn clear_asked(&self) {
        self.state.lock().unwrap().asked.clear();
    }

    /// Closes the listener (connections are refused from now on; answers
    /// under way finish). Idempotent.
    pub fn stop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accepting thread, which sees the flag and drops the
        // listener.
        let _ = TcpStream::connect(self.addr);
        let _ = thread.join();
    }
}

impl Drop for RustDist {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `NAME-VERSION-TARGET` (or `NAME-VERSION` for a package of every target):
/// an archive's name without `.tar.gz`, and its top directory.
fn piece_stem(piece: &Piece, version: &str) -> String {
    if piece.targeted {
        format!("{}-{version}-{TARGET}", piece.file)
    } else {
        format!("{}-{version}", piece.file)
    }
}

/// The v2 manifest for packages `(pkg, target key, url, hash)`.
fn channel_manifest(date: &str, label: &str, entries: &[(&str, &str, String, String)]) -> String {
    let mut m = format!("manifest-version = \"2\"\ndate = \"{date}\"\n");
    let key = |t: &str| {
        if t == "*" {
            "\"*\"".to_string()
        } else {
            t.to_string()
        }
    };
    for (pkg, target, url, hash) in entries {
        m.push_str(&format!(
            "\n[pkg.{pkg}]\nversion = \"{label}\"\n\n[pkg.{pkg}.target.{}]\n\
             available = true\nurl = \"{url}\"\nhash = \"{hash}\"\n",
            key(target)
        ));
        if *pkg == "rust" {
            for (list, required) in [("components", true), ("extensions", false)] {
                for piece in PIECES.iter().filter(|p| p.required == required) {
                    let t = if piece.targeted { TARGET } else { "*" };
                    m.push_str(&format!(
                        "[[pkg.rust.target.{TARGET}.{list}]]\npkg = \"{}\"\ntarget = \"{t}\"\n",
                        piece.pkg
                    ));
                }
            }
        }
    }
    m.push('\n');
    for (from, to) in RENAMES {
        m.push_str(&format!("[renames.{from}]\nto = \"{to}\"\n\n"));
    }
    let list = |names: &[&str]| {
        let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
        format!("[{}]", quoted.join(", "))
    };
    let complete: Vec<&str> = PIECES.iter().map(|p| p.pkg).collect();
    m.push_str(&format!(
        "[profiles]\nminimal = {}\ndefault = {}\ncomplete = {}\n",
        list(&MINIMAL),
        list(&DEFAULT),
        list(&complete)
    ));
    m
}

/// One rust-installer component: its name in the `components` file, its
/// `manifest.in` lines, and its files `(path, bytes, executable)` relative
/// to its directory.
struct Component {
    name: String,
    manifest_in: Vec<String>,
    files: Vec<(String, Vec<u8>, bool)>,
}

/// The component of manifest package `pkg` for a release.
fn component(pkg: &str, version: &str, date: &str) -> Component {
    let text = |s: String| s.into_bytes();
    let (name, manifest_in, files) = match pkg {
        "rustc" => (
            "rustc".to_string(),
            vec!["file:bin/rustc".to_string()],
            vec![("bin/rustc".to_string(), rustc_script(version, date), true)],
        ),
        "cargo" => (
            "cargo".to_string(),
            vec!["file:bin/cargo".to_string()],
            vec![("bin/cargo".to_string(), cargo_script(version, date), true)],
        ),
        "rust-std" => {
            let dir = format!("lib/rustlib/{TARGET}/lib");
            (
                format!("rust-std-{TARGET}"),
                vec![format!("dir:{dir}")],
                vec![(
                    format!("{dir}/libstd-fixture.rlib"),
                    text(format!("fixture std {version} {date}\n")),
                    false,
                )],
            )
        }
        "rust-docs" => (
            "rust-docs".to_string(),
            vec!["dir:share/doc/rust/html".to_string()],
            vec![(
                "share/doc/rust/html/index.html".to_string(),
                text(format!(
                    "<!doctype html><title>Rust {version}</title><p>fixture docs, {date}</p>\n"
                )),
                false,
            )],
        ),
        "rust-src" => (
            "rust-src".to_string(),
            vec!["dir:lib/rustlib/src/rust".to_string()],
            vec![(
                "lib/rustlib/src/rust/library/core/src/lib.rs".to_string(),
                text(format!("//! fixture core source, {version} {date}\n")),
                false,
            )],
        ),
        "clippy-preview" => (
            "clippy-preview".to_string(),
            vec![
                "file:bin/cargo-clippy".to_string(),
                "file:bin/clippy-driver".to_string(),
            ],
            vec![
                (
                    "bin/cargo-clippy".to_string(),
                    version_script("clippy", version, date),
                    true,
                ),
                (
                    "bin/clippy-driver".to_string(),
                    version_script("clippy", version, date),
                    true,
                ),
            ],
        ),
        "rustfmt-preview" => (
            "rustfmt-preview".to_string(),
            vec![
                "file:bin/rustfmt".to_string(),
                "file:bin/cargo-fmt".to_string(),
            ],
            vec![
                (
                    "bin/rustfmt".to_string(),
                    version_script("rustfmt", version, date),
                    true,
                ),
                (
                    "bin/cargo-fmt".to_string(),
                    version_script("rustfmt", version, date),
                    true,
                ),
            ],
        ),
        other => panic!("no fixture contents for package {other}"),
    };
    Component {
        name,
        manifest_in,
        files,
    }
}

/// A made-up but stable 40-hex commit for a release.
fn commit(version: &str, date: &str) -> String {
    sha256_hex(format!("{version} {date}").as_bytes())[..40].to_string()
}

/// A shell script that answers `--version`/`-V` with `first` and the
/// verbose forms (`-vV` and its spellings) with `first` and `verbose`,
/// and refuses anything else.
fn answering_script(tool: &str, first: &str, verbose: &str) -> Vec<u8> {
    let lines = [
        "#!/bin/sh".to_string(),
        format!("# A fixture {tool}: it answers version queries and does nothing else."),
        "case \"$*\" in".to_string(),
        "  --version|-V)".to_string(),
        format!("    echo '{first}' ;;"),
        "  -vV|-Vv|'-V -v'|'-v -V'|'--version --verbose'|'--verbose --version')".to_string(),
        format!("    echo '{first}'"),
        format!("    printf '%s\\n' {verbose} ;;"),
        "  *)".to_string(),
        format!("    echo 'fixture {tool}: only --version and -vV are answered' >&2"),
        "    exit 1 ;;".to_string(),
        "esac".to_string(),
    ];
    let mut script = lines.join("\n");
    script.push('\n');
    script.into_bytes()
}

fn rustc_script(version: &str, date: &str) -> Vec<u8> {
    let verbose = format!(
        "'binary: rustc' 'commit-hash: {}' 'commit-date: {date}' 'host: {TARGET}' \
         'release: {version}' 'LLVM version: 0.0.0'",
        commit(version, date)
    );
    answering_script(
        "rustc",
        &format!("rustc {version} (fixture {date})"),
        &verbose,
    )
}

fn cargo_script(version: &str, date: &str) -> Vec<u8> {
    let verbose = format!(
        "'release: {version}' 'commit-hash: {}' 'commit-date: {date}' 'host: {TARGET}'",
        commit(version, date)
    );
    answering_script("cargo", &format!("cargo {version} (fixture)"), &verbose)
}

fn version_script(tool: &str, version: &str, date: &str) -> Vec<u8> {
    answering_script(
        tool,
        &format!("{tool} {version} (fixture {date})"),
        &format!("'release: {version}'"),
    )
}

/// A `.tar.gz` in rust-installer's format: `stem/` with the version file,
/// the `components` list and each component's directory.
fn installer(stem: &str, components: &[Component]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut dirs = BTreeSet::new();
    add_dir(&mut tar, &mut dirs, stem);
    add_file(
        &mut tar,
        &mut dirs,
        &format!("{stem}/rust-installer-version"),
        b"3\n",
        false,
    );
    let list: String = components.iter().map(|c| format!("{}\n", c.name)).collect();
    add_file(
        &mut tar,
        &mut dirs,
        &format!("{stem}/components"),
        list.as_bytes(),
        false,
    );
    for c in components {
        let root = format!("{stem}/{}", c.name);
        add_dir(&mut tar, &mut dirs, &root);
        let manifest_in: String = c.manifest_in.iter().map(|l| format!("{l}\n")).collect();
        add_file(
            &mut tar,
            &mut dirs,
            &format!("{root}/manifest.in"),
            manifest_in.as_bytes(),
            false,
        );
        for (path, bytes, exec) in &c.files {
            add_file(&mut tar, &mut dirs, &format!("{root}/{path}"), bytes, *exec);
        }
    }
    gzip(&tar.into_inner().expect("in-memory tar"))
}

/// A directory entry for `path` (and any parent not yet written).
fn add_dir(tar: &mut tar::Builder<Vec<u8>>, dirs: &mut BTreeSet<String>, path: &str) {
    if dirs.contains(path) {
        return;
    }
    if let Some((parent, _)) = path.rsplit_once('/') {
        add_dir(tar, dirs, parent);
    }
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_size(0);
    header.set_mode(0o755);
    header.set_mtime(MTIME);
    header.set_uid(0);
    header.set_gid(0);
    tar.append_data(&mut header, format!("{path}/"), std::io::empty())
        .expect("in-memory tar");
    dirs.insert(path.to_string());
}

/// A regular file (after its parent directories), mode 0755 or 0644.
fn add_file(
    tar: &mut tar::Builder<Vec<u8>>,
    dirs: &mut BTreeSet<String>,
    path: &str,
    bytes: &[u8],
    exec: bool,
) {
    if let Some((parent, _)) = path.rsplit_once('/') {
        add_dir(tar, dirs, parent);
    }
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(bytes.len() as u64);
    header.set_mode(if exec { 0o755 } else { 0o644 });
    header.set_mtime(MTIME);
    header.set_uid(0);
    header.set_gid(0);
    tar.append_data(&mut header, path, bytes)
        .expect("in-memory tar");
}

/// Answers one request (the connection is closed after it).
fn serve(conn: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(match conn.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            if name.trim().eq_ignore_ascii_case("range") {
                range = Some(value.trim().to_string());
            }
        }
    }
    let mut words = request_line.split_whitespace();
    let method = words.next().unwrap_or("GET").to_string();
    let target = words.next().unwrap_or("/");
    let path = target.split('?').next().unwrap_or("/").to_string();

    let body = {
        let mut state = state.lock().unwrap();
        state.asked.push(path.clone());
        state.files.get(&path).map(|bytes| {
            if state.corrupted.contains(&path) && !bytes.is_empty() {
                let mut changed = bytes.to_vec();
                let last = changed.len() - 1;
                changed[last] ^= 0xff;
                Arc::new(changed)
            } else {
                bytes.clone()
            }
        })
    };
    let head_only = method.eq_ignore_ascii_case("HEAD");
    let mut conn = conn;
    let Some(body) = body else {
        respond(&mut conn, "404 Not Found", &[], b"not found\n", head_only);
        return;
    };
    let len = body.len();
    // `bytes=N-` or `bytes=N-M`; anything else is ignored (the whole file).
    let wanted = range.as_deref().and_then(|r| {
        let (from, to) = r.strip_prefix("bytes=")?.split_once('-')?;
        let from: usize = from.trim().parse().ok()?;
        let to = match to.trim() {
            "" => None,
            t => Some(t.parse::<usize>().ok()?),
        };
        Some((from, to))
    });
    match wanted {
        None => respond(&mut conn, "200 OK", &[], &body, head_only),
        Some((from, _)) if from >= len => {
            let cr = format!("bytes */{len}");
            respond(
                &mut conn,
                "416 Range Not Satisfiable",
                &[("Content-Range", &cr)],
                b"",
                head_only,
            );
        }
        Some((from, to)) => {
            let last = to.unwrap_or(len - 1).min(len - 1);
            let cr = format!("bytes {from}-{last}/{len}");
            let part = if from <= last {
                &body[from..=last]
            } else {
                &body[0..0]
            };
            respond(
                &mut conn,
                "206 Partial Content",
                &[("Content-Range", &cr)],
                part,
                head_only,
            );
        }
    }
}

fn respond(
    conn: &mut TcpStream,
    status: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    head_only: bool,
) {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nConnection: close\r\nAccept-Ranges: bytes\r\n\
         Content-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = conn.write_all(head.as_bytes());
    if !head_only {
        let _ = conn.write_all(body);
    }
    let _ = conn.flush();
}

/// The real `rustup` with its own HOME, RUSTUP_HOME and CARGO_HOME (all in
/// one temporary directory), pointed at a dist server, with self-update
/// turned off and `RUSTUP_UPDATE_ROOT` at a loopback fixture that answers
/// 404 to everything and records what it is asked ([`Rustup::update_root`]).
/// Nothing of the caller's environment reaches it but `PATH` (without
/// cargo's bin directories) and `TMPDIR`: no proxies, no toolchain
/// overrides, no real `~/.rustup`. It runs in its own work directory, so no
/// `rust-toolchain` file of the caller's applies.
pub struct Rustup {
    pub home: TempDir,
    pub rustup_home: PathBuf,
    pub cargo_home: PathBuf,
    /// Where rustup runs.
    pub work: PathBuf,
    /// The value of `RUSTUP_DIST_SERVER`.
    pub dist_server: String,
    /// Where self-update checks would go; a test asserts it was not asked.
    pub update_root: Fixture,
    bin: PathBuf,
}

impl Rustup {
    /// Fresh homes whose rustup installs from `dist_server` (a dist
    /// server's root, as in `RUSTUP_DIST_SERVER`).
    pub fn new(dist_server: &str) -> Rustup {
        let home = tempfile::Builder::new()
            .prefix("rustup-home-")
            .tempdir()
            .unwrap();
        let rustup_home = home.path().join("rustup");
        let cargo_home = home.path().join("cargo");
        let work = home.path().join("work");
        for d in [&rustup_home, &cargo_home, &work] {
            std::fs::create_dir_all(d).unwrap();
        }
        let rustup = Rustup {
            home,
            rustup_home,
            cargo_home,
            work,
            dist_server: dist_server.trim_end_matches('/').to_string(),
            update_root: Fixture::on("127.0.0.1"),
            bin: rustup_bin(),
        };
        rustup.ok(&["set", "auto-self-update", "disable"]);
        rustup
    }

    /// `rustup ARGS` with this environment, not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .current_dir(&self.work)
            .env_clear()
            .env("PATH", clean_path())
            .env("HOME", self.home.path())
            .env("RUSTUP_HOME", &self.rustup_home)
            .env("CARGO_HOME", &self.cargo_home)
            .env("RUSTUP_DIST_SERVER", &self.dist_server)
            .env(
                "RUSTUP_UPDATE_ROOT",
                format!("{}/rustup", self.update_root.url),
            )
            .env("RUSTUP_TERM_COLOR", "never")
            .env("NO_PROXY", "*")
            .env("no_proxy", "*")
            .stdin(Stdio::null());
        if let Some(tmp) = std::env::var_os("TMPDIR") {
            cmd.env("TMPDIR", tmp);
        }
        cmd
    }

    /// Runs `rustup ARGS`.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run rustup")
    }

    /// Runs `rustup ARGS`, failing the test unless it succeeds; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "rustup {args:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `rustup ARGS`, failing the test if it succeeds; its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "rustup {args:?} succeeded:\n--- stdout\n{}\n--- stderr\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// The directory of an installed toolchain (`stable` means the host's:
    /// `stable-TARGET`).
    pub fn toolchain_dir(&self, name: &str) -> PathBuf {
        let full = if name.contains(TARGET) {
            name.to_string()
        } else {
            format!("{name}-{TARGET}")
        };
        self.rustup_home.join("toolchains").join(full)
    }

    /// The names in `RUSTUP_HOME/toolchains` (empty if there is none).
    pub fn toolchain_dirs(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.rustup_home.join("toolchains"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Runs `tool ARGS` from an installed toolchain's `bin` directly (not
    /// through rustup); its stdout, failing the test unless it succeeds.
    pub fn tool(&self, toolchain: &str, tool: &str, args: &[&str]) -> String {
        let path = self.toolchain_dir(toolchain).join("bin").join(tool);
        let out = Command::new(&path)
            .args(args)
            .env_clear()
            .env("PATH", clean_path())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", path.display()));
        assert!(
            out.status.success(),
            "{} {args:?} failed: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// rustup's built-in default dist server (`https://HOST`), read from the
/// real rustup's own words: it is asked to install `stable` with its own
/// homes, no `RUSTUP_DIST_SERVER` and every proxy variable at a closed
/// loopback port, so it fails at once without reaching any network, and
/// names the URL it could not fetch (`…/dist/channel-rust-stable.toml.sha256`).
/// Read once per process. No address is written here: it is rustup's.
pub fn default_dist_server() -> String {
    static FOUND: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    FOUND
        .get_or_init(|| {
            let home = tempfile::tempdir().expect("a temp dir");
            let closed = "http://127.0.0.1:1";
            let out = Command::new(rustup_bin())
                .args(["toolchain", "install", "stable", "--profile", "minimal"])
                .arg("--no-self-update")
                .env_clear()
                .env("PATH", clean_path())
                .env("HOME", home.path())
                .env("RUSTUP_HOME", home.path().join("rustup"))
                .env("CARGO_HOME", home.path().join("cargo"))
                .env("RUSTUP_TERM_COLOR", "never")
                .env("https_proxy", closed)
                .env("HTTPS_PROXY", closed)
                .env("http_proxy", closed)
                .env("HTTP_PROXY", closed)
                .env("ALL_PROXY", closed)
                .env("all_proxy", closed)
                .stdin(Stdio::null())
                .output()
                .expect("run rustup");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let tail = "/dist/channel-rust-stable.toml.sha256";
            let at = text
                .find(tail)
                .unwrap_or_else(|| panic!("rustup named no dist URL:\n{text}"));
            let start = text[..at]
                .rfind("https://")
                .unwrap_or_else(|| panic!("rustup named no https dist URL:\n{text}"));
            text[start..at].to_string()
        })
        .clone()
}

/// The real rustup: `BERTH_TEST_RUSTUP`, else `~/.cargo/bin/rustup`, else
/// `rustup` on `PATH`. A test without one fails; it never skips.
pub fn rustup_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_TEST_RUSTUP") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    if let Some(p) = home.map(|h| h.join(".cargo/bin/rustup")) {
        if p.is_file() {
            return p;
        }
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("rustup"))
        .find(|p| p.is_file())
        .expect("the rustup binary (~/.cargo/bin/rustup, or set BERTH_TEST_RUSTUP)")
}

/// The caller's `PATH` without any cargo `bin` directory (where rustup's
/// proxies live), so nothing run under [`Rustup`] reaches the machine's
/// toolchains by accident; `/usr/bin:/bin` if that leaves nothing.
fn clean_path() -> std::ffi::OsString {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let kept: Vec<PathBuf> = std::env::split_paths(&path)
        .filter(|d| !d.ends_with(".cargo/bin") && !is_rustup_toolchain_bin(d))
        .collect();
    if kept.is_empty() {
        return "/usr/bin:/bin".into();
    }
    std::env::join_paths(kept).unwrap_or_else(|_| "/usr/bin:/bin".into())
}

/// A toolchain's `bin` under some rustup home (rustup puts one first on
/// `PATH` for what it runs, cargo test included).
fn is_rustup_toolchain_bin(dir: &Path) -> bool {
    dir.ends_with("bin")
        && dir
            .parent()
            .and_then(|p| p.parent())
            .is_some_and(|p| p.ends_with("toolchains"))
}
