//! Test harness: a real `berth serve` on a free loopback port with its own
//! data dir, and a real `cargo` with its own CARGO_HOME pointed at it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Path to the `berth` binary under test.
pub fn berth_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_berth"))
}

/// The backend pair the suite runs on, from `BERTH_TEST_BACKEND`:
/// `sqlite` (default: SQLite + local directory) or `postgres-s3`
/// (PostgreSQL at `BERTH_TEST_PG_URL` + the S3 bucket `BERTH_TEST_S3_BUCKET`,
/// with the standard `AWS_*` variables; `scripts/test.sh` starts both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    PostgresS3,
}

pub fn backend() -> Backend {
    match std::env::var("BERTH_TEST_BACKEND").as_deref() {
        Ok("postgres-s3") => Backend::PostgresS3,
        Ok("sqlite") | Err(_) => Backend::Sqlite,
        Ok(other) => panic!("unknown BERTH_TEST_BACKEND `{other}`: use sqlite or postgres-s3"),
    }
}

fn psql(admin_url: &str, sql: &str) {
    let out = Command::new("psql")
        .arg(admin_url)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .expect("run psql (the PostgreSQL client is needed for postgres-s3 tests)");
    assert!(
        out.status.success(),
        "psql `{sql}` failed (is PostgreSQL running at {admin_url}?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The stores one or more server nodes share: a data dir, and for
/// `postgres-s3` a fresh database and a fresh bucket prefix, dropped at the end.
pub struct Stores {
    pub data_dir: TempDir,
    /// Environment for every `berth` process on these stores.
    pub env: Vec<(String, String)>,
    pg: Option<(String, String)>,
}

impl Stores {
    /// SQLite + a local directory, whatever the suite's backend.
    pub fn sqlite() -> Arc<Stores> {
        let data_dir = tempfile::Builder::new()
            .prefix("berth-test-")
            .tempdir()
            .unwrap();
        Arc::new(Stores {
            data_dir,
            env: Vec::new(),
            pg: None,
        })
    }

    /// The `[database]` and `[storage]` TOML for these stores.
    pub fn toml(&self) -> String {
        let get = |k: &str| {
            self.env
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        };
        let db = get("BERTH_DATABASE_URL").unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.path().join("berth.db").display()
            )
        });
        let blobs = get("BERTH_STORAGE_URL")
            .unwrap_or_else(|| format!("file://{}", self.data_dir.path().join("blobs").display()));
        format!("[database]\nurl = \"{db}\"\n\n[storage]\nurl = \"{blobs}\"\n")
    }

    pub fn new() -> Arc<Stores> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let data_dir = tempfile::Builder::new()
            .prefix("berth-test-")
            .tempdir()
            .unwrap();
        match backend() {
            Backend::Sqlite => Arc::new(Stores {
                data_dir,
                env: Vec::new(),
                pg: None,
            }),
            Backend::PostgresS3 => {
                let base = std::env::var("BERTH_TEST_PG_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
                let bucket =
                    std::env::var("BERTH_TEST_S3_BUCKET").unwrap_or_else(|_| "berth-test".into());
                let unique = format!(
                    "berth_t_{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::SeqCst),
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .subsec_nanos()
                );
                for var in ["AWS_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
                    assert!(
                        std::env::var_os(var).is_some(),
                        "{var} is not set: the postgres-s3 tests need the S3 server that \
                         scripts/test.sh starts (or `eval \"$(scripts/garage.sh start DIR)\"`)"
                    );
                }
                let admin = format!("{base}/postgres");
                psql(&admin, &format!("CREATE DATABASE {unique}"));
                let env = vec![
                    // Never let the S3 client look for cloud instance
                    // credentials off this machine.
                    (
                        "AWS_METADATA_ENDPOINT".to_string(),
                        "http://127.0.0.1:9".to_string(),
                    ),
                    ("BERTH_DATABASE_URL".to_string(), format!("{base}/{unique}")),
                    (
                        "BERTH_STORAGE_URL".to_string(),
                        format!("s3://{bucket}/{unique}"),
                    ),
                ];
                Arc::new(Stores {
                    data_dir,
                    env,
                    pg: Some((admin, unique)),
                })
            }
        }
    }
}

impl Drop for Stores {
    fn drop(&mut self) {
        if let Some((admin, db)) = &self.pg {
            let _ = Command::new("psql")
                .arg(admin)
                .args([
                    "-q",
                    "-c",
                    &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
                ])
                .output();
        }
    }
}

/// A running server. Killed on drop.
pub struct Server {
    child: Child,
    pub url: String,
    pub stores: Arc<Stores>,
    pub data_dir: PathBuf,
    pub config_file: Option<PathBuf>,
    stderr_log: PathBuf,
}

impl Server {
    /// Starts a server on embedded defaults.
    pub fn start() -> Server {
        Self::start_with_config("")
    }

    /// Starts a server with this TOML configuration (may be empty).
    pub fn start_with_config(toml: &str) -> Server {
        Self::start_on(Stores::new(), toml)
    }

    /// Starts another node on the same stores and configuration as `self`.
    pub fn another_node(&self) -> Server {
        self.try_another_node()
            .unwrap_or_else(|log| panic!("second node did not start; log:\n{log}"))
    }

    /// Like [`Server::another_node`], returning the log of a node that
    /// refused to start.
    pub fn try_another_node(&self) -> Result<Server, String> {
        let toml = self
            .config_file
            .as_ref()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .unwrap_or_default();
        Self::try_start_on(self.stores.clone(), &toml)
    }

    /// Starts a server (a node) on the given stores.
    pub fn start_on(stores: Arc<Stores>, toml: &str) -> Server {
        Self::try_start_on(stores, toml)
            .unwrap_or_else(|log| panic!("berth serve did not start; log:\n{log}"))
    }

    /// Starts a node on the given stores, or returns its log if it exits
    /// before it listens.
    pub fn try_start_on(stores: Arc<Stores>, toml: &str) -> Result<Server, String> {
        static NODE: AtomicUsize = AtomicUsize::new(0);
        let data_dir = stores.data_dir.path().to_path_buf();
        let config_file = if toml.is_empty() {
            None
        } else {
            let p = data_dir.join("berth.toml");
            std::fs::write(&p, toml).unwrap();
            Some(p)
        };
        let stderr_log = data_dir.join(format!(
            "server-{}.log",
            NODE.fetch_add(1, Ordering::SeqCst)
        ));
        let mut cmd = Command::new(berth_bin());
        cmd.arg("--data-dir").arg(&data_dir);
        if let Some(c) = &config_file {
            cmd.arg("--config").arg(c);
        }
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .env_remove("BERTH_CONFIG")
            .env_remove("BERTH_DATA_DIR")
            .envs(stores.env.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "info,berth=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_log).unwrap());
        let mut child = cmd.spawn().expect("spawn berth serve");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let Some(Ok(first)) = lines.next() else {
            let _ = child.wait();
            return Err(std::fs::read_to_string(&stderr_log).unwrap_or_default());
        };
        let url = first
            .strip_prefix("Berth is listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .to_string();
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        let server = Server {
            child,
            url,
            stores,
            data_dir,
            config_file,
            stderr_log,
        };
        server.wait_ready();
        Ok(server)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http().get(format!("{}/ready", self.url)).send() {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "server did not become ready; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    /// The sparse index URL of a registry, as cargo writes it.
    pub fn index_url(&self, registry: &str) -> String {
        format!("sparse+{}/r/{registry}/index/", self.url)
    }

    /// Runs the `berth` CLI against this server's data dir.
    pub fn berth(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(berth_bin());
        cmd.arg("--data-dir").arg(&self.data_dir);
        if let Some(c) = &self.config_file {
            cmd.arg("--config").arg(c);
        }
        cmd.args(args)
            .env_remove("BERTH_CONFIG")
            .env_remove("BERTH_DATA_DIR")
            .envs(self.stores.env.iter().map(|(k, v)| (k, v)));
        cmd.output().expect("run berth")
    }

    /// Adds a user through the CLI.
    pub fn add_user(&self, login: &str, admin: bool) {
        let mut args = vec!["user", "add", login];
        if admin {
            args.push("--admin");
        }
        let out = self.berth(&args);
        assert!(
            out.status.success(),
            "user add failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Creates a token through the CLI; it is the last line of stdout.
    pub fn token(&self, login: &str, extra: &[&str]) -> String {
        let mut args = vec!["token", "create", "--user", login];
        args.extend_from_slice(extra);
        let out = self.berth(&args);
        assert!(
            out.status.success(),
            "token create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .last()
            .unwrap()
            .trim()
            .to_string()
    }

    /// A user with a fresh token.
    pub fn user_with_token(&self, login: &str) -> String {
        self.add_user(login, false);
        self.token(login, &[])
    }

    /// The sha256 of every stored blob, sorted (through `berth blobs list`,
    /// so it works on every blob backend).
    pub fn blob_files(&self) -> Vec<String> {
        let out = self.berth(&["blobs", "list"]);
        assert!(
            out.status.success(),
            "blobs list: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Runs `berth blobs verify` and fails the test on any problem.
    pub fn verify_blobs(&self) {
        let out = self.berth(&["blobs", "verify"]);
        assert!(
            out.status.success(),
            "blobs verify: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// GET a path on the server.
    pub fn get(&self, path: &str) -> reqwest::blocking::Response {
        http().get(format!("{}{path}", self.url)).send().unwrap()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's peak resident memory so far, in KiB (VmHWM).
    pub fn peak_rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
            .unwrap_or(0)
    }

    /// Kills the server now.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("---- server log ----\n{}", self.log());
        }
    }
}

/// A blocking HTTP client with a sane timeout.
pub fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A cargo environment: its own CARGO_HOME, target dir and work dir.
pub struct Cargo {
    pub home: TempDir,
    pub work: TempDir,
    pub target: PathBuf,
    token: Option<String>,
    /// Tokens for other registries: `(NAME, token)` as
    /// CARGO_REGISTRIES_NAME_TOKEN.
    pub registry_tokens: Vec<(String, String)>,
}

impl Cargo {
    /// A CARGO_HOME whose config names the server's `main` registry (and
    /// any `extra` config lines).
    pub fn new(server: &Server) -> Cargo {
        Self::with_registries(&[("main", server.index_url("main"))], "")
    }

    pub fn with_registries(registries: &[(&str, String)], extra: &str) -> Cargo {
        let home = tempfile::Builder::new()
            .prefix("cargo-home-")
            .tempdir()
            .unwrap();
        let work = tempfile::Builder::new()
            .prefix("cargo-work-")
            .tempdir()
            .unwrap();
        let mut config = String::new();
        for (name, url) in registries {
            config.push_str(&format!(
                "[registries.{name}]\nindex = \"{url}\"\ncredential-provider = [\"cargo:token\"]\n\n"
            ));
        }
        config.push_str("[net]\nretry = 0\n\n[term]\ncolor = \"never\"\n");
        config.push_str(extra);
        std::fs::write(home.path().join("config.toml"), config).unwrap();
        let target = work.path().join("target");
        Cargo {
            home,
            work,
            target,
            token: None,
            registry_tokens: Vec::new(),
        }
    }

    /// Uses this token for the `main` registry (CARGO_REGISTRIES_MAIN_TOKEN).
    pub fn with_token(mut self, token: &str) -> Self {
        self.token = Some(token.to_string());
        self
    }

    pub fn set_token(&mut self, token: Option<&str>) {
        self.token = token.map(str::to_string);
    }

    /// A `cargo` command in `dir` with this environment.
    pub fn cmd(&self, dir: &Path, args: &[&str]) -> Command {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(dir)
            .args(args)
            .env("CARGO_HOME", self.home.path())
            .env("CARGO_TARGET_DIR", &self.target)
            .env("CARGO_TERM_COLOR", "never")
            .env("CARGO_HTTP_TIMEOUT", "60")
            .env_remove("CARGO_REGISTRIES_MAIN_TOKEN")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .stdin(Stdio::null());
        for (k, _) in std::env::vars() {
            if k.starts_with("CARGO_REGISTRIES_") || k.starts_with("CARGO_REGISTRY_") {
                cmd.env_remove(k);
            }
        }
        if let Some(t) = &self.token {
            cmd.env("CARGO_REGISTRIES_MAIN_TOKEN", t);
        }
        for (name, t) in &self.registry_tokens {
            cmd.env(format!("CARGO_REGISTRIES_{name}_TOKEN"), t);
        }
        cmd
    }

    /// Runs cargo and returns its output.
    pub fn run(&self, dir: &Path, args: &[&str]) -> Output {
        self.cmd(dir, args).output().expect("run cargo")
    }

    /// Runs cargo and fails the test (showing its output) unless it succeeds.
    pub fn ok(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.run(dir, args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "cargo {args:?} failed in {}:\n{text}",
            dir.display()
        );
        text
    }

    /// Runs cargo and fails the test unless it fails; returns stderr.
    pub fn fails(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.run(dir, args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !out.status.success(),
            "cargo {args:?} should have failed:\n{text}"
        );
        text
    }

    /// Writes a package under the work dir and returns its directory.
    /// `deps` is the body of `[dependencies]`; `extra` is appended verbatim.
    pub fn package(&self, name: &str, version: &str, deps: &str, extra: &str) -> PathBuf {
        let dir = self.work.path().join(format!("{name}-{version}"));
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(
            dir.join("Cargo.toml"),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"{version}\"\nedition = \"2021\"\n\
                 description = \"The {name} crate\"\nlicense = \"MIT\"\npublish = [\"main\"]\n\n\
                 [dependencies]\n{deps}\n{extra}"
            ),
        )
        .unwrap();
        let lib = dir.join("src/lib.rs");
        if !lib.exists() {
            std::fs::write(
                lib,
                format!("pub fn name() -> &'static str {{ \"{name} {version}\" }}\n"),
            )
            .unwrap();
        }
        dir
    }

    /// Publishes the package in `dir` to `main` without rebuilding it.
    pub fn publish(&self, dir: &Path) -> String {
        self.ok(
            dir,
            &[
                "publish",
                "--registry",
                "main",
                "--no-verify",
                "--allow-dirty",
            ],
        )
    }
}

/// Reads an index file's lines as JSON.
pub fn index_lines(server: &Server, registry: &str, path: &str) -> Vec<serde_json::Value> {
    let r = server.get(&format!("/r/{registry}/index/{path}"));
    assert!(r.status().is_success(), "index {path}: {}", r.status());
    r.text()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// sha256 hex of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A minimal valid `.crate` for `name@vers`, with `body` in src/lib.rs.
pub fn crate_file(name: &str, vers: &str, body: &str) -> Vec<u8> {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    let mut add = |path: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, format!("{name}-{vers}/{path}"), data)
            .unwrap();
    };
    add(
        "Cargo.toml",
        format!("[package]\nname = \"{name}\"\nversion = \"{vers}\"\nedition = \"2021\"\n")
            .as_bytes(),
    );
    add("src/lib.rs", body.as_bytes());
    tar.into_inner().unwrap().finish().unwrap()
}

/// Publishes `name@vers` with the given `.crate` bytes over raw HTTP.
/// Returns the status (or None when the server could not be reached).
pub fn publish_raw(url: &str, token: &str, name: &str, vers: &str, krate: &[u8]) -> Option<u16> {
    let meta = serde_json::json!({
        "name": name, "vers": vers, "deps": [], "features": {}, "authors": [],
        "description": format!("{name} for tests"), "license": "MIT", "keywords": [], "categories": [],
        "badges": {}, "links": null, "rust_version": null,
    });
    let body = berth_protocol::body::encode_publish_body(meta.to_string().as_bytes(), krate);
    http()
        .put(format!("{url}/r/main/api/v1/crates/new"))
        .header("Authorization", token)
        .body(body)
        .send()
        .ok()
        .map(|r| r.status().as_u16())
}
