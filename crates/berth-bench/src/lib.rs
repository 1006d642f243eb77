//! Shared pieces of Berth's benchmarks: starting a real `berth serve` on a
//! backend pair, its CLI and memory, and synthetic `.crate` files. Measuring
//! tools only: nothing here asserts anything about speed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context, Result};
use rand::RngCore;

pub mod scale;
pub mod wrk;

/// A running `berth serve` on its own data dir (and, for `postgres-s3`, its
/// own database and bucket prefix). Killed, and its database dropped, on drop.
pub struct Server {
    pub child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
    pub data_dir: PathBuf,
    berth: PathBuf,
    pg_db: Option<(String, String)>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some((admin, db)) = &self.pg_db {
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

impl Server {
    /// Starts a server on `backend` (`sqlite` or `postgres-s3`).
    pub fn start(berth: &Path, backend: &str) -> Result<Server> {
        let dir = tempfile::Builder::new().prefix("berth-bench-").tempdir()?;
        let data_dir = dir.path().to_path_buf();
        let mut env = Vec::new();
        let mut pg_db = None;
        if backend == "postgres-s3" {
            let base = std::env::var("BERTH_TEST_PG_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
            let bucket = std::env::var("BERTH_TEST_S3_BUCKET")
                .context("BERTH_TEST_S3_BUCKET is not set: start Garage with scripts/garage.sh")?;
            let db = format!("berth_bench_{}", std::process::id());
            let admin = format!("{base}/postgres");
            let out = Command::new("psql")
                .arg(&admin)
                .args(["-q", "-c", &format!("CREATE DATABASE {db}")])
                .output()?;
            if !out.status.success() {
                bail!(
                    "creating the benchmark database: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            env.push(("BERTH_DATABASE_URL".to_string(), format!("{base}/{db}")));
            env.push((
                "BERTH_STORAGE_URL".to_string(),
                format!("s3://{bucket}/{db}"),
            ));
            pg_db = Some((admin, db));
        } else if backend != "sqlite" {
            bail!("unknown backend `{backend}`");
        }
        let mut child = Command::new(berth)
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(data_dir.join("server.log"))?)
            .spawn()
            .context("starting berth serve")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
        let first = lines.next().context("berth serve printed nothing")??;
        let url = first
            .strip_prefix("Berth is listening on ")
            .context("unexpected first line")?
            .to_string();
        std::thread::spawn(move || for _ in lines.by_ref() {});
        Ok(Server {
            child,
            url,
            _dir: dir,
            env,
            data_dir,
            berth: berth.to_path_buf(),
            pg_db,
        })
    }

    /// Runs the berth CLI on this server's stores.
    pub fn cli(&self, args: &[&str]) -> Result<String> {
        let out = Command::new(&self.berth)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()?;
        if !out.status.success() {
            bail!("berth {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8(out.stdout)?)
    }

    /// Resident memory of the server now, and its peak, in MiB.
    pub fn rss_mib(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .map(|kb| kb / 1024.0)
                .unwrap_or(0.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

/// A `.crate` with `kib` KiB of random (incompressible) data.
pub fn make_crate(name: &str, vers: &str, kib: usize) -> Vec<u8> {
    let mut data = vec![0u8; kib * 1024];
    rand::rng().fill_bytes(&mut data);
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let mut add = |path: &str, bytes: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, format!("{name}-{vers}/{path}"), bytes)
            .expect("in-memory tar");
    };
    add(
        "Cargo.toml",
        format!("[package]\nname = \"{name}\"\nversion = \"{vers}\"\nedition = \"2021\"\n")
            .as_bytes(),
    );
    add("src/lib.rs", b"pub fn f() {}\n");
    add("data.bin", &data);
    tar.into_inner()
        .and_then(|gz| gz.finish())
        .expect("in-memory gzip")
}

/// The body of a publish request for `krate`.
pub fn publish_body(name: &str, vers: &str, krate: &[u8]) -> Vec<u8> {
    let meta = serde_json::json!({
        "name": name, "vers": vers, "deps": [], "features": {}, "authors": [],
        "description": "benchmark crate", "license": "MIT", "keywords": [], "categories": [], "badges": {},
    });
    berth_protocol::body::encode_publish_body(meta.to_string().as_bytes(), krate)
}
