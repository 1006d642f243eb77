//! Shared pieces of Berth's benchmarks: starting a real `berth serve` on a
//! backend pair (through the test kit's harness, the same one the tests
//! use) and its memory, and synthetic `.crate` files and publish bodies (through
//! the test kit's builders), and the reference static server they are
//! compared with (nginx, [`nginx::Nginx`]). Measuring tools only: nothing
//! here asserts anything about speed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use berth_testkit::{Backend, Compression, Launch, PublishBuilder, Stores, TarballBuilder};
use rand::RngCore;

pub use berth_testkit::Server;

pub mod docs_pages;
pub mod instructions;
pub mod nginx;
pub mod redirect;
pub mod replica_lag;
pub mod scale;
pub mod wrk;

/// The berth binary to measure: `given` (a `--berth` flag), else `berth`
/// next to this executable; an error when it is not there.
pub fn berth_binary(given: Option<&Path>) -> Result<PathBuf> {
    let berth = match given {
        Some(p) => p.to_path_buf(),
        None => std::env::current_exe()?.with_file_name("berth"),
    };
    if !berth.exists() {
        bail!(
            "no berth binary at {} (build it, or pass --berth)",
            berth.display()
        );
    }
    Ok(berth)
}

/// The multi-threaded runtime the benchmarks drive their clients on.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Starts a server with the binary `berth` on fresh stores of `backend`
/// (`sqlite` or `postgres-s3`), logging warnings only, and waits until it
/// is ready (for at most `ready_timeout`). Killed, and its database dropped,
/// on drop.
pub fn start_server(berth: &Path, backend: &str, ready_timeout: Duration) -> Result<Server> {
    start_server_with(berth, backend, ready_timeout, "")
}

/// [`start_server`] with this TOML configuration.
pub fn start_server_with(
    berth: &Path,
    backend: &str,
    ready_timeout: Duration,
    toml: &str,
) -> Result<Server> {
    start_server_under(berth, backend, ready_timeout, toml, &[])
}

/// [`start_server_with`], the server run under `under` (a command such as
/// `taskset -c 0`; see [`Pin`]).
pub fn start_server_under(
    berth: &Path,
    backend: &str,
    ready_timeout: Duration,
    toml: &str,
    under: &[String],
) -> Result<Server> {
    let backend = Backend::parse(backend).map_err(|e| anyhow!(e))?;
    let stores = Stores::try_new(backend).map_err(|e| anyhow!(e))?;
    let launch = Launch {
        bin: Some(berth.to_path_buf()),
        log_filter: "warn".into(),
        ready_timeout,
        under: under.to_vec(),
        ..Launch::default()
    };
    Server::launch(stores, toml, launch).map_err(|log| anyhow!("berth serve did not start: {log}"))
}

/// The pinned mode's affinity: the server measured (Berth, or nginx with
/// one worker) on one core and the load generator (wrk, cargo) on another,
/// each started under `taskset -c CORE` so that every thread it makes
/// inherits the mask. Berth sizes its runtime from the cores it may use
/// (`available_parallelism` reads the mask), so it runs one worker thread,
/// as nginx runs one worker process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pin {
    pub server: usize,
    pub load: usize,
}

impl Pin {
    /// `SERVER,LOAD` (`0,1`).
    pub fn parse(s: &str) -> Result<Pin> {
        let (a, b) = s
            .split_once(',')
            .ok_or_else(|| anyhow!("--pin takes SERVER_CORE,LOAD_CORE (e.g. 0,1)"))?;
        let pin = Pin {
            server: a.trim().parse()?,
            load: b.trim().parse()?,
        };
        if pin.server == pin.load {
            bail!("--pin: the server and the load generator need different cores");
        }
        Ok(pin)
    }

    fn taskset(core: usize) -> Vec<String> {
        vec!["taskset".into(), "-c".into(), core.to_string()]
    }

    /// Moves every thread of this process onto `core` (`taskset -a -p`),
    /// so that threads it makes later inherit the mask.
    pub fn this_process_on(core: usize) -> Result<()> {
        let status = std::process::Command::new("taskset")
            .args([
                "-a",
                "-p",
                "-c",
                &core.to_string(),
                &std::process::id().to_string(),
            ])
            .stdout(std::process::Stdio::null())
            .status()?;
        if !status.success() {
            bail!("taskset could not move this process onto core {core}");
        }
        Ok(())
    }

    /// What the measured server runs under.
    pub fn server_under(pin: Option<Pin>) -> Vec<String> {
        pin.map(|p| Self::taskset(p.server)).unwrap_or_default()
    }

    /// What the load generator runs under.
    pub fn load_under(pin: Option<Pin>) -> Vec<String> {
        pin.map(|p| Self::taskset(p.load)).unwrap_or_default()
    }
}

/// Runs the berth CLI on the server's stores; its stdout.
pub fn cli(server: &Server, args: &[&str]) -> Result<String> {
    server.try_berth(args).map_err(|e| anyhow!(e))
}

/// A new user `name` and a token of theirs, through the CLI: what the
/// benchmarks publish with.
pub fn user_token(server: &Server, name: &str) -> Result<String> {
    cli(server, &["user", "add", name])?;
    cli(server, &["token", "create", "--user", name])?
        .lines()
        .last()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("`berth token create` printed no token"))
}

/// Resident memory of the server now, and its peak, in MiB.
pub fn rss_mib(server: &Server) -> (f64, f64) {
    let (rss, peak) = server.memory_kib();
    (rss as f64 / 1024.0, peak as f64 / 1024.0)
}

/// CPU time (user and system) the processes `pids` have used so far, in
/// seconds (what /proc tells, in Linux's 100 ticks a second; processes
/// gone or unknown count nothing).
pub fn cpu_seconds(pids: &[u32]) -> f64 {
    let ticks: u64 = pids
        .iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .map(|stat| {
            // Fields after the command name (which may hold spaces):
            // state is the first, utime and stime the 12th and 13th.
            let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let field = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
            field(11).unwrap_or(0) + field(12).unwrap_or(0)
        })
        .sum();
    ticks as f64 / 100.0
}

/// A `.crate` with `kib` KiB of random (incompressible) data.
pub fn make_crate(name: &str, vers: &str, kib: usize) -> Vec<u8> {
    let mut data = vec![0u8; kib * 1024];
    rand::rng().fill_bytes(&mut data);
    TarballBuilder::package(name, vers)
        .compression(Compression::fast())
        .lib("pub fn f() {}\n")
        .package_file("data.bin", &data)
        .gz()
}

/// The body of a publish request for `krate`.
pub fn publish_body(name: &str, vers: &str, krate: &[u8]) -> Vec<u8> {
    PublishBuilder::new(name, vers)
        .description("benchmark crate")
        .tarball(krate.to_vec())
        .body()
}
