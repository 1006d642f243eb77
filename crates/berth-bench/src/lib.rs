//! Shared pieces of Berth's benchmarks: starting a real `berth serve` on a
//! backend pair (through the test kit's harness, the same one the tests
//! use) and its memory, and synthetic `.crate` files and publish bodies (through
//! the test kit's builders). Measuring tools only: nothing here asserts
//! anything about speed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use berth_testkit::{Backend, Compression, Launch, PublishBuilder, Stores, TarballBuilder};
use rand::RngCore;

pub use berth_testkit::Server;

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
    let backend = Backend::parse(backend).map_err(|e| anyhow!(e))?;
    let stores = Stores::try_new(backend).map_err(|e| anyhow!(e))?;
    let launch = Launch {
        bin: Some(berth.to_path_buf()),
        log_filter: "warn".into(),
        ready_timeout,
    };
    Server::launch(stores, "", launch).map_err(|log| anyhow!("berth serve did not start: {log}"))
}

/// Runs the berth CLI on the server's stores; its stdout.
pub fn cli(server: &Server, args: &[&str]) -> Result<String> {
    server.try_berth(args).map_err(|e| anyhow!(e))
}

/// Resident memory of the server now, and its peak, in MiB.
pub fn rss_mib(server: &Server) -> (f64, f64) {
    let (rss, peak) = server.memory_kib();
    (rss as f64 / 1024.0, peak as f64 / 1024.0)
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
