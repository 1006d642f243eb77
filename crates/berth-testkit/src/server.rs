//! The server harness: a real `berth serve` on a free loopback port, on
//! [`Stores`] of one backend pair, its CLI for users, tokens and roles,
//! SIGKILL and restart.
//!
//! Processes only: it never links the server, so what the tests see is what
//! an operator runs.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::http::{http, http_with_timeout, redact, Reply};
use crate::stores::{berth_bin, Stores};

/// Reads the first line `berth serve` prints on `stdout` and returns the
/// URL it listens on; the rest of its output is drained in the background,
/// so that the server never blocks on a full pipe.
pub fn listening_url(stdout: std::process::ChildStdout) -> String {
    let mut lines = BufReader::new(stdout).lines();
    let first = match lines.next() {
        Some(Ok(line)) => line,
        other => panic!("berth serve printed nothing: {other:?}"),
    };
    std::thread::spawn(move || for _ in lines.by_ref() {});
    first
        .strip_prefix("Berth is listening on ")
        .unwrap_or_else(|| panic!("serve did not start: {first}"))
        .to_string()
}

/// How `berth serve` is started.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The binary; [`berth_bin`] when None.
    pub bin: Option<PathBuf>,
    /// `RUST_LOG` of the server.
    pub log_filter: String,
    /// How long to wait for `/ready` to answer 200.
    pub ready_timeout: Duration,
    /// More environment variables of the server.
    pub env: Vec<(String, String)>,
    /// The address to listen on; a free port of 127.0.0.1 when None.
    pub listen: Option<String>,
    /// A command the server runs under, e.g. `["taskset", "-c", "0"]` to
    /// pin it to one core (the benchmarks' pinned mode); empty for none.
    pub under: Vec<String>,
}

impl Default for Launch {
    fn default() -> Self {
        Launch {
            bin: None,
            log_filter: "info,berth=debug".into(),
            ready_timeout: Duration::from_secs(30),
            env: Vec::new(),
            listen: None,
            under: Vec::new(),
        }
    }
}

impl Launch {
    fn bin(&self) -> PathBuf {
        self.bin.clone().unwrap_or_else(berth_bin)
    }
}

/// How long a start took, from the spawn: until the server printed its
/// address, and until `/ready` answered 200.
#[derive(Debug, Clone, Copy)]
pub struct Startup {
    pub listening: Duration,
    pub ready: Duration,
}

/// A running `berth serve`. Killed (SIGKILL) on drop; its log is printed
/// when the test is panicking.
pub struct Server {
    child: Child,
    pub url: String,
    pub stores: Arc<Stores>,
    pub data_dir: PathBuf,
    pub config_file: Option<PathBuf>,
    stderr_log: PathBuf,
    launch: Launch,
    startup: Startup,
}

impl Server {
    /// Starts a server on embedded defaults.
    pub fn start() -> Server {
        Self::start_with_config("")
    }

    /// Starts a server on embedded defaults with these users (not admins),
    /// and a token of each, in order.
    pub fn with_users<const N: usize>(logins: [&str; N]) -> (Server, [String; N]) {
        let server = Self::start();
        let tokens = logins.map(|login| server.user_with_token(login));
        (server, tokens)
    }

    /// Starts a server with this TOML configuration (may be empty).
    pub fn start_with_config(toml: &str) -> Server {
        Self::start_on(Stores::new(), toml)
    }

    /// Starts a server (a node) on the given stores.
    pub fn start_on(stores: Arc<Stores>, toml: &str) -> Server {
        Self::try_start_on(stores, toml)
            .unwrap_or_else(|log| panic!("berth serve did not start; log:\n{log}"))
    }

    /// Starts a node on the given stores, or returns its log if it exits
    /// before it listens.
    pub fn try_start_on(stores: Arc<Stores>, toml: &str) -> Result<Server, String> {
        Self::launch(stores, toml, Launch::default())
    }

    /// Starts a node on the given stores as `launch` says, or returns why it
    /// did not start (its log, when it exited).
    pub fn launch(stores: Arc<Stores>, toml: &str, launch: Launch) -> Result<Server, String> {
        let data_dir = stores.data_dir.path().to_path_buf();
        let config_file = if toml.is_empty() {
            None
        } else {
            let p = data_dir.join("berth.toml");
            std::fs::write(&p, toml).map_err(|e| format!("write {}: {e}", p.display()))?;
            Some(p)
        };
        let (child, url, stderr_log, startup) = spawn(&stores, config_file.as_deref(), &launch)?;
        Ok(Server {
            child,
            url,
            stores,
            data_dir,
            config_file,
            stderr_log,
            launch,
            startup,
        })
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
            .map(std::fs::read_to_string)
            .transpose()
            .map_err(|e| format!("read the config file: {e}"))?
            .unwrap_or_default();
        Self::launch(self.stores.clone(), &toml, self.launch.clone())
    }

    /// How long this server's last start took.
    pub fn startup(&self) -> Startup {
        self.startup
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resident memory now and its peak so far, in KiB
    /// (`VmRSS`, `VmHWM`; zeros where /proc does not tell).
    pub fn memory_kib(&self) -> (u64, u64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// The server's peak resident memory so far, in KiB (VmHWM).
    pub fn peak_rss_kib(&self) -> u64 {
        self.memory_kib().1
    }

    /// Kills the server now (SIGKILL).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Restarts the server (as [`Server::restart`]) with `key` set to
    /// `value` in its environment.
    pub fn restart_with_env(&mut self, key: &str, value: &str) {
        self.launch.env.retain(|(k, _)| k != key);
        self.launch.env.push((key.to_string(), value.to_string()));
        self.restart();
    }

    /// Kills the server (SIGKILL) and starts it again on the same stores and
    /// configuration, on a new port ([`Server::url`] changes).
    pub fn restart(&mut self) {
        if let Err(log) = self.respawn() {
            panic!("berth serve did not start again; log:\n{log}");
        }
    }

    /// Restarts the server on the address it listens on now, so that its
    /// URL (and every URL derived from it, such as its log's origin) stays.
    pub fn restart_at_same_address(&mut self) {
        self.launch.listen = Some(self.addr().to_string());
        self.restart();
    }

    /// Like [`Server::restart`], returning how long the start took, or why
    /// it failed.
    pub fn respawn(&mut self) -> Result<Startup, String> {
        self.kill();
        let (child, url, stderr_log, startup) =
            spawn(&self.stores, self.config_file.as_deref(), &self.launch)?;
        self.child = child;
        self.url = url;
        self.stderr_log = stderr_log;
        self.startup = startup;
        Ok(startup)
    }

    /// The log of the server's current process so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    /// `host:port` of the server.
    pub fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// `text` with this server's address as `[HOST]` and its data dir as
    /// `[DATA_DIR]`, for snapshots.
    pub fn redact(&self, text: &str) -> String {
        redact(
            text,
            &[
                (self.addr(), "[HOST]"),
                (&self.data_dir.display().to_string(), "[DATA_DIR]"),
            ],
        )
    }

    /// The sparse index URL of a registry, as cargo writes it.
    pub fn index_url(&self, registry: &str) -> String {
        format!("sparse+{}/r/{registry}/index/", self.url)
    }

    /// Runs the `berth` CLI on this server's stores and configuration.
    pub fn berth(&self, args: &[&str]) -> Output {
        self.stores
            .command(&self.launch.bin(), self.config_file.as_deref())
            .args(args)
            .output()
            .expect("run berth")
    }

    /// The `berth` CLI on this server's stores and configuration, with its
    /// public URL, not yet run (for a process a test starts and stops).
    pub fn berth_command(&self) -> std::process::Command {
        let mut command = self
            .stores
            .command(&self.launch.bin(), self.config_file.as_deref());
        command.env("BERTH_PUBLIC_URL", &self.url);
        command
    }

    /// Runs the `berth` CLI and returns its stdout, or why it failed.
    pub fn try_berth(&self, args: &[&str]) -> Result<String, String> {
        let out = self.berth(args);
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "berth {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Runs the `berth` CLI, failing the test unless it succeeds, and reads
    /// each line it prints as JSON.
    pub fn json_lines(&self, args: &[&str]) -> Vec<serde_json::Value> {
        let out = self.try_berth(args).unwrap_or_else(|e| panic!("{e}"));
        out.lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    /// `berth audit --json FILTERS`: the audit rows, one object each.
    pub fn audit_json(&self, filters: &[&str]) -> Vec<serde_json::Value> {
        self.json_lines(&[&["audit", "--json"], filters].concat())
    }

    /// Sets a user's web UI password through the CLI
    /// (`berth user passwd LOGIN --password-stdin`).
    pub fn set_password(&self, login: &str, password: &str) {
        use std::io::Write;
        let mut child = self
            .stores
            .command(&self.launch.bin(), self.config_file.as_deref())
            .args(["user", "passwd", login, "--password-stdin"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run berth user passwd");
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(format!("{password}\n").as_bytes())
                .expect("write the password");
        }
        let out = child.wait_with_output().expect("berth user passwd");
        assert!(
            out.status.success(),
            "berth user passwd {login}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Adds a user through the CLI.
    pub fn add_user(&self, login: &str, admin: bool) {
        let mut args = vec!["user", "add", login];
        if admin {
            args.push("--admin");
        }
        if let Err(e) = self.try_berth(&args) {
            panic!("user add failed: {e}");
        }
    }

    /// Creates a token through the CLI; it is the last line of stdout.
    pub fn token(&self, login: &str, extra: &[&str]) -> String {
        let mut args = vec!["token", "create", "--user", login];
        args.extend_from_slice(extra);
        let out = self
            .try_berth(&args)
            .unwrap_or_else(|e| panic!("token create failed: {e}"));
        out.lines()
            .last()
            .expect("token create printed the token")
            .trim()
            .to_string()
    }

    /// `berth role grant --registry REGISTRY --user LOGIN --role ROLE`
    /// (fails the test if refused).
    pub fn grant(&self, registry: &str, login: &str, role: &str) {
        let args = [
            "role",
            "grant",
            "--registry",
            registry,
            "--user",
            login,
            "--role",
            role,
        ];
        if let Err(e) = self.try_berth(&args) {
            panic!("berth role grant {registry} {login} {role}: {e}");
        }
    }

    /// A user with a fresh token.
    pub fn user_with_token(&self, login: &str) -> String {
        self.add_user(login, false);
        self.token(login, &[])
    }

    /// The sha256 of every stored blob, sorted (through `berth blobs list`,
    /// so it works on every blob backend).
    pub fn blob_files(&self) -> Vec<String> {
        let out = self
            .try_berth(&["blobs", "list"])
            .unwrap_or_else(|e| panic!("blobs list: {e}"));
        out.lines().map(str::to_string).collect()
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

    /// GET a path on the server with a token when one is given; the answer
    /// read whole.
    pub fn get_as(&self, path: &str, token: Option<&str>) -> Reply {
        let mut req = self.request(reqwest::Method::GET, path);
        if let Some(t) = token {
            req = req.header("Authorization", t);
        }
        Reply::read(req.send().expect("GET request")).expect("read the answer")
    }

    /// The value of the `/metrics` line whose name and labels are `line`
    /// exactly (`berth_x_total` or `berth_x_total{key="v"}`), or 0 before
    /// the metric has one.
    pub fn metric(&self, line: &str) -> f64 {
        let text = self.get("/metrics").text().unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(line)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// A request for a path on the server, to add headers and a body to.
    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::blocking::RequestBuilder {
        http().request(method, format!("{}{path}", self.url))
    }

    /// `PUT /r/main/api/v1/crates/new` with this body and, if given, token.
    pub fn publish(&self, token: Option<&str>, body: Vec<u8>) -> Reply {
        let mut req = self
            .request(reqwest::Method::PUT, "/r/main/api/v1/crates/new")
            .body(body);
        if let Some(t) = token {
            req = req.header("Authorization", t);
        }
        Reply::read(req.send().expect("publish request")).expect("read the publish answer")
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

/// Spawns `berth serve` on `stores`, waits until it listens and is ready;
/// returns the child, its URL, its log file and how long that took.
fn spawn(
    stores: &Stores,
    config_file: Option<&Path>,
    launch: &Launch,
) -> Result<(Child, String, PathBuf, Startup), String> {
    static NODE: AtomicUsize = AtomicUsize::new(0);
    let stderr_log = stores.data_dir.path().join(format!(
        "server-{}.log",
        NODE.fetch_add(1, Ordering::SeqCst)
    ));
    let log_file =
        std::fs::File::create(&stderr_log).map_err(|e| format!("create the server log: {e}"))?;
    let started = Instant::now();
    let mut child = stores
        .command_under(&launch.under, &launch.bin(), config_file)
        .args([
            "serve",
            "--listen",
            launch.listen.as_deref().unwrap_or("127.0.0.1:0"),
        ])
        .env("RUST_LOG", &launch.log_filter)
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("spawn berth serve: {e}"))?;
    let log = || std::fs::read_to_string(&stderr_log).unwrap_or_default();
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let Some(Ok(first)) = lines.next() else {
        let _ = child.wait();
        return Err(log());
    };
    let listening = started.elapsed();
    let Some(url) = first.strip_prefix("Berth is listening on ") else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("unexpected first line: {first}\n{}", log()));
    };
    let url = url.to_string();
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    let client = http_with_timeout(Duration::from_secs(10));
    let deadline = started + launch.ready_timeout;
    loop {
        if let Ok(r) = client.get(format!("{url}/ready")).send() {
            if r.status().is_success() {
                break;
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{url}/ready did not answer 200 within {:?}; log:\n{}",
                launch.ready_timeout,
                log()
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let startup = Startup {
        listening,
        ready: started.elapsed(),
    };
    Ok((child, url, stderr_log, startup))
}
