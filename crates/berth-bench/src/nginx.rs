//! The reference static server: nginx (Debian's `nginx-light` package)
//! serving a directory from disk on a free loopback port, configured for
//! throughput the way a static mirror would be.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// nginx serving a directory on a free loopback port; stopped on drop.
pub struct Nginx {
    child: Child,
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub url: String,
    /// Its configuration, pid file and error log.
    dir: tempfile::TempDir,
}

impl Drop for Nginx {
    /// Asks the master to stop (it stops its workers first: killing the
    /// master alone would leave them serving); kills it if it has not
    /// stopped within five seconds.
    fn drop(&mut self) {
        let _ = nginx_command(self.dir.path())
            .args(["-s", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Nginx {
    /// Waits (at most five seconds) until the master has started its
    /// workers: it listens before it forks them.
    fn wait_for_workers(&self, workers: usize) {
        for _ in 0..100 {
            if self.pids().len() > workers {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The master's process id and its workers'.
    pub fn pids(&self) -> Vec<u32> {
        let master = self.child.id();
        let children = std::fs::read_to_string(format!("/proc/{master}/task/{master}/children"))
            .unwrap_or_default();
        std::iter::once(master)
            .chain(children.split_whitespace().filter_map(|p| p.parse().ok()))
            .collect()
    }
}

/// `nginx` with the configuration and prefix in `dir`.
fn nginx_command(dir: &Path) -> Command {
    nginx_command_under(&[], dir)
}

/// [`nginx_command`] run under `under` when not empty.
fn nginx_command_under(under: &[String], dir: &Path) -> Command {
    let mut cmd = berth_testkit::stores::command_under(under, "nginx");
    cmd.arg("-c").arg(dir.join("nginx.conf")).arg("-p").arg(dir);
    cmd
}

impl Nginx {
    /// Serves `root` with as many workers as Berth has runtime threads.
    pub fn start(root: &Path) -> Result<Nginx> {
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Self::start_under(root, workers, &[])
    }

    /// Serves `root` with `workers` workers, nginx run under `under` (a
    /// command such as `taskset -c 0`, whose mask the workers inherit).
    pub fn start_under(root: &Path, workers: usize, under: &[String]) -> Result<Nginx> {
        Self::start_conf(root, workers, true, under)
    }

    /// Serves `root` from one process with no master (`master_process
    /// off`), run under `under`: what an instruction counter that follows
    /// one process (callgrind) can measure.
    pub fn start_single(root: &Path, under: &[String]) -> Result<Nginx> {
        Self::start_conf(root, 1, false, under)
    }

    fn start_conf(root: &Path, workers: usize, master: bool, under: &[String]) -> Result<Nginx> {
        let dir = tempfile::Builder::new()
            .prefix("berth-bench-nginx-")
            .tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        std::fs::write(
            dir.path().join("nginx.conf"),
            format!(
                "worker_processes {workers};\nmaster_process {master};\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\ndaemon off;\n\
                 events {{ worker_connections 4096; }}\n\
                 http {{\n  access_log off;\n  default_type application/octet-stream;\n  sendfile on;\n  tcp_nopush on;\n\
                 keepalive_requests 1000000;\n  etag on;\n\
                 server {{\n    listen 127.0.0.1:{port};\n    root {root};\n  }}\n}}\n",
                d = dir.path().display(),
                master = if master { "on" } else { "off" },
                root = root.display()
            ),
        )?;
        let mut child = nginx_command_under(under, dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting nginx (install Debian's `nginx-light` package)")?;
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..600 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                let nginx = Nginx { child, url, dir };
                if master {
                    nginx.wait_for_workers(workers);
                }
                return Ok(nginx);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
        bail!("nginx did not start; its error log:\n{log}")
    }
}
