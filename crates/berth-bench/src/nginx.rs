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
    let mut cmd = Command::new("nginx");
    cmd.arg("-c").arg(dir.join("nginx.conf")).arg("-p").arg(dir);
    cmd
}

impl Nginx {
    /// Serves `root` with as many workers as Berth has runtime threads.
    pub fn start(root: &Path) -> Result<Nginx> {
        let dir = tempfile::Builder::new()
            .prefix("berth-bench-nginx-")
            .tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        std::fs::write(
            dir.path().join("nginx.conf"),
            format!(
                "worker_processes {workers};\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\ndaemon off;\n\
                 events {{ worker_connections 4096; }}\n\
                 http {{\n  access_log off;\n  default_type application/octet-stream;\n  sendfile on;\n  tcp_nopush on;\n\
                 keepalive_requests 1000000;\n  etag on;\n\
                 server {{\n    listen 127.0.0.1:{port};\n    root {root};\n  }}\n}}\n",
                d = dir.path().display(),
                root = root.display()
            ),
        )?;
        let mut child = nginx_command(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting nginx (install Debian's `nginx-light` package)")?;
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                let nginx = Nginx { child, url, dir };
                nginx.wait_for_workers(workers);
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
