//! The stores a test's servers and CLI runs share, on one backend pair
//! (SQLite + a local directory, or PostgreSQL + S3 with a fresh database and
//! bucket prefix, dropped with the last reference), the `berth` binary under
//! test, and the CLI run on those stores without a server.
//!
//! Processes only: it never links the server, so what the tests see is what
//! an operator runs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tempfile::TempDir;

/// The `berth` binary under test: `CARGO_BIN_EXE_berth` when cargo sets it
/// at run time, else `BERTH_TEST_BIN`, else `berth` in the target directory
/// of the running test (`target/debug/deps/..`) or beside it.
pub fn berth_bin() -> PathBuf {
    for var in ["CARGO_BIN_EXE_berth", "BERTH_TEST_BIN"] {
        if let Some(p) = std::env::var_os(var) {
            return PathBuf::from(p);
        }
    }
    let exe = std::env::current_exe().expect("the test's own path");
    let mut dir = exe.parent();
    while let Some(d) = dir {
        let candidate = d.join(format!("berth{}", std::env::consts::EXE_SUFFIX));
        if candidate.is_file() {
            return candidate;
        }
        if d.file_name().is_some_and(|n| n == "target") {
            break;
        }
        dir = d.parent();
    }
    panic!(
        "no `berth` binary near {}: run the tests of the `berth` package \
         (cargo builds its binary first), or set BERTH_TEST_BIN",
        exe.display()
    )
}

/// A backend pair: `sqlite` (SQLite + local directory, the embedded
/// defaults) or `postgres-s3` (PostgreSQL at `BERTH_TEST_PG_URL` + the S3
/// bucket `BERTH_TEST_S3_BUCKET`, with the standard `AWS_*` variables;
/// `scripts/test.sh` starts both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    PostgresS3,
}

impl Backend {
    /// `sqlite` or `postgres-s3`.
    pub fn parse(s: &str) -> Result<Backend, String> {
        match s {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres-s3" => Ok(Backend::PostgresS3),
            other => Err(format!(
                "unknown backend `{other}`: use sqlite or postgres-s3"
            )),
        }
    }
}

/// The suite's backend pair, from `BERTH_TEST_BACKEND` (default `sqlite`).
pub fn backend() -> Backend {
    match std::env::var("BERTH_TEST_BACKEND") {
        Err(_) => Backend::Sqlite,
        Ok(v) => Backend::parse(&v).unwrap_or_else(|e| panic!("BERTH_TEST_BACKEND: {e}")),
    }
}

fn psql(admin_url: &str, sql: &str) -> Result<(), String> {
    let out = Command::new("psql")
        .arg(admin_url)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .map_err(|e| format!("run psql (the PostgreSQL client is needed for postgres-s3): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "psql `{sql}` failed (is PostgreSQL running at {admin_url}?): {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The stores one or more server nodes share: a data dir, and for
/// `postgres-s3` a fresh database and a fresh bucket prefix. The data dir
/// and the database are dropped with the last reference.
pub struct Stores {
    pub data_dir: TempDir,
    /// Environment for every `berth` process on these stores.
    pub env: Vec<(String, String)>,
    backend: Backend,
    pg: Option<(String, String)>,
}

impl Stores {
    /// Fresh stores on the suite's backend pair ([`backend`]).
    pub fn new() -> Arc<Stores> {
        Self::try_new(backend()).unwrap_or_else(|e| panic!("{e}"))
    }

    /// SQLite + a local directory, whatever the suite's backend.
    pub fn sqlite() -> Arc<Stores> {
        Self::try_new(Backend::Sqlite).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Fresh stores on `backend`, or why they could not be made.
    pub fn try_new(backend: Backend) -> Result<Arc<Stores>, String> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let data_dir = tempfile::Builder::new()
            .prefix("berth-test-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        if backend == Backend::Sqlite {
            return Ok(Arc::new(Stores {
                data_dir,
                env: Vec::new(),
                backend,
                pg: None,
            }));
        }
        let base = std::env::var("BERTH_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let bucket = std::env::var("BERTH_TEST_S3_BUCKET").unwrap_or_else(|_| "berth-test".into());
        let unique = format!(
            "berth_t_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        );
        for var in ["AWS_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            if std::env::var_os(var).is_none() {
                return Err(format!(
                    "{var} is not set: postgres-s3 needs the S3 server that \
                     scripts/test.sh starts (or `eval \"$(scripts/garage.sh start DIR)\"`)"
                ));
            }
        }
        let admin = format!("{base}/postgres");
        psql(&admin, &format!("CREATE DATABASE {unique}"))?;
        let env = vec![
            // Never let the S3 client look for cloud instance credentials
            // off this machine.
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
        Ok(Arc::new(Stores {
            data_dir,
            env,
            backend,
            pg: Some((admin, unique)),
        }))
    }

    /// The backend pair these stores are on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    fn env_value(&self, key: &str) -> Option<String> {
        self.env
            .iter()
            .find(|(n, _)| n == key)
            .map(|(_, v)| v.clone())
    }

    /// The database URL `berth` uses on these stores.
    pub fn database_url(&self) -> String {
        self.env_value("BERTH_DATABASE_URL").unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.path().join("berth.db").display()
            )
        })
    }

    /// The blob store URL `berth` uses on these stores.
    pub fn storage_url(&self) -> String {
        self.env_value("BERTH_STORAGE_URL")
            .unwrap_or_else(|| format!("file://{}", self.data_dir.path().join("blobs").display()))
    }

    /// The `[database]` and `[storage]` TOML for these stores.
    pub fn toml(&self) -> String {
        format!(
            "[database]\nurl = \"{}\"\n\n[storage]\nurl = \"{}\"\n",
            self.database_url(),
            self.storage_url()
        )
    }

    /// A `berth` command on these stores (and the config file, if any),
    /// with none of the caller's `BERTH_CONFIG`/`BERTH_DATA_DIR`.
    pub fn command(&self, bin: &Path, config_file: Option<&Path>) -> Command {
        self.command_under(&[], bin, config_file)
    }

    /// [`Stores::command`] run under `under` (a command and its arguments
    /// that run the rest, such as `taskset -c 0`), when not empty.
    pub fn command_under(
        &self,
        under: &[String],
        bin: &Path,
        config_file: Option<&Path>,
    ) -> Command {
        let mut cmd = command_under(under, bin);
        cmd.arg("--data-dir").arg(self.data_dir.path());
        if let Some(c) = config_file {
            cmd.arg("--config").arg(c);
        }
        cmd.env_remove("BERTH_CONFIG")
            .env_remove("BERTH_DATA_DIR")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Runs `berth ARGS` on these stores (no server needed), failing the
    /// test unless it succeeds; its standard output.
    pub fn run(&self, args: &[&str]) -> String {
        run_ok(self.command(&berth_bin(), None).args(args))
    }
}

/// `program` run under `under` (a command and its arguments that run the
/// rest, such as `taskset -c 0`), or by itself when `under` is empty.
pub fn command_under(under: &[String], program: impl AsRef<std::ffi::OsStr>) -> Command {
    match under.split_first() {
        Some((first, rest)) => {
            let mut cmd = Command::new(first);
            cmd.args(rest).arg(program);
            cmd
        }
        None => Command::new(program),
    }
}

/// Runs a command to its end, failing the test (with its stderr) unless it
/// succeeds; its standard output.
pub fn run_ok(command: &mut Command) -> String {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("run {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
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
