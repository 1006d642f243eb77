//! `berth-bench --instructions`: user-space instructions per request on the
//! hot paths, Berth against nginx, counted by callgrind (`valgrind
//! --tool=callgrind`, Debian's `valgrind` package). Unlike requests per
//! second or CPU time, the count is the same from run to run whatever else
//! the machine does, so it tells whether a change to the request path made
//! it cheaper. The kernel's share (TCP over loopback, about half of a hot
//! request's CPU) is not counted.
//!
//! Both servers run under callgrind (nginx as one process with no master,
//! so that one counter sees every request); for each path the counters are
//! zeroed after a warm-up, wrk runs, the counters are dumped, and the total
//! is divided by the requests wrk saw answered.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::nginx::Nginx;
use crate::wrk::Wrk;
use crate::{make_crate, publish_body, start_server_under, user_token};

/// `valgrind --tool=callgrind` writing its dumps into `dir` as
/// `NAME.PID[.N]`.
fn callgrind(dir: &Path, name: &str) -> Vec<String> {
    vec![
        "valgrind".into(),
        "--tool=callgrind".into(),
        "--quiet".into(),
        format!("--callgrind-out-file={}/{name}.%p", dir.display()),
    ]
}

fn control(pid: u32, flag: &str) -> Result<()> {
    let out = Command::new("callgrind_control")
        .arg(flag)
        .arg(pid.to_string())
        .output()
        .context("running callgrind_control (install Debian's `valgrind` package)")?;
    if !out.status.success() {
        bail!(
            "callgrind_control {flag} {pid}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// The instructions counted in the newest dump of process `pid` named
/// `name` in `dir` (its `summary:` or `totals:` line).
fn newest_total(dir: &Path, name: &str, pid: u32) -> Result<u64> {
    let prefix = format!("{name}.{pid}.");
    let newest: Option<(u32, PathBuf)> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let file = e.file_name().to_string_lossy().into_owned();
            let n: u32 = file.strip_prefix(&prefix)?.parse().ok()?;
            Some((n, e.path()))
        })
        .max_by_key(|(n, _)| *n);
    let (_, file) = newest.with_context(|| format!("no callgrind dump {prefix}* in {dir:?}"))?;
    let text = std::fs::read_to_string(&file)?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .with_context(|| format!("no totals in {file:?}"))
}

/// Instructions per request of the process `pid` (dumps named `name`) over
/// a wrk run of `seconds` against `url` with `connections` connections.
fn per_request(
    dir: &Path,
    name: &str,
    pid: u32,
    url: &str,
    headers: &[String],
    connections: u32,
    seconds: u32,
) -> Result<(f64, u64)> {
    let client = reqwest::blocking::Client::new();
    for _ in 0..20 {
        let mut r = client.get(url);
        for h in headers {
            if let Some((k, v)) = h.split_once(": ") {
                r = r.header(k, v);
            }
        }
        let status = r.send()?.status();
        if !status.is_success() && status != 304 {
            bail!("{url}: {status}");
        }
    }
    control(pid, "-z")?;
    let r = Wrk {
        url,
        threads: 1,
        connections,
        seconds,
        headers: headers.to_vec(),
        script: None,
        under: Vec::new(),
    }
    .run()?;
    control(pid, "-d")?;
    if r.errors > 0 || r.requests == 0 {
        bail!("{url}: {} errors in {} requests", r.errors, r.requests);
    }
    let total = newest_total(dir, name, pid)?;
    Ok((total as f64 / r.requests as f64, r.requests))
}

/// Measures and prints instructions per request on each hot path, Berth
/// (SQLite) and nginx, over `connections` connections for `seconds` each.
pub fn measure(berth: &Path, seconds: u32, connections: u32, kib: usize) -> Result<()> {
    // Kept, for `callgrind_annotate`: one dump per path and server.
    let dir = tempfile::Builder::new()
        .prefix("berth-bench-callgrind-")
        .tempdir()?
        .keep();
    eprintln!("starting berth under callgrind...");
    let server = start_server_under(
        berth,
        "sqlite",
        Duration::from_secs(180),
        "",
        &callgrind(&dir, "berth"),
    )?;
    let token = user_token(&server, "bench")?;
    let name = "bench-ir";
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    let r = client
        .put(format!("{}/r/main/api/v1/crates/new", server.url))
        .header("Authorization", &token)
        .body(publish_body(name, "1.0.0", &make_crate(name, "1.0.0", kib)))
        .send()?;
    if !r.status().is_success() {
        bail!("publish: {}", r.status());
    }
    let index = format!("/r/main/index/{}", berth_protocol::index_path(name));
    let dl = format!("/r/main/api/v1/crates/{name}/1.0.0/download");
    let root = tempfile::Builder::new()
        .prefix("berth-bench-root-")
        .tempdir()?;
    let mut etags = Vec::new();
    for path in [&index, &dl] {
        let r = client.get(format!("{}{path}", server.url)).send()?;
        if path == &index {
            etags.push(
                r.headers()
                    .get("etag")
                    .context("no etag")?
                    .to_str()?
                    .to_string(),
            );
        }
        let file = root.path().join(path.trim_start_matches('/'));
        std::fs::create_dir_all(file.parent().context("path")?)?;
        std::fs::write(&file, r.bytes()?)?;
    }
    eprintln!("starting nginx under callgrind...");
    let nginx = Nginx::start_single(root.path(), &callgrind(&dir, "nginx"))?;
    let nginx_pid = *nginx.pids().first().context("nginx has no process")?;
    let r = client.get(format!("{}{index}", nginx.url)).send()?;
    etags.push(
        r.headers()
            .get("etag")
            .context("nginx sent no etag")?
            .to_str()?
            .to_string(),
    );

    println!(
        "user-space instructions per request (callgrind), {connections} connections, {seconds} s of wrk each"
    );
    println!(
        "{:<12} {:>12} {:>9} {:>12} {:>9} {:>7}",
        "what", "berth_ir", "requests", "nginx_ir", "requests", "ratio"
    );
    for (what, path) in [
        ("index (hot)", &index),
        ("index 304", &index),
        ("download", &dl),
    ] {
        // The 304 row revalidates with each server's own ETag.
        let headers = |etag: &str| match what {
            "index 304" => vec![format!("If-None-Match: {etag}")],
            _ => vec![],
        };
        let (bi, br) = per_request(
            &dir,
            "berth",
            server.pid(),
            &format!("{}{path}", server.url),
            &headers(&etags[0]),
            connections,
            seconds,
        )?;
        let (ni, nr) = per_request(
            &dir,
            "nginx",
            nginx_pid,
            &format!("{}{path}", nginx.url),
            &headers(&etags[1]),
            connections,
            seconds,
        )?;
        println!(
            "{what:<12} {bi:>12.0} {br:>9} {ni:>12.0} {nr:>9} {:>6.2}x",
            bi / ni
        );
    }
    println!(
        "callgrind's dumps (for callgrind_annotate): {}",
        dir.display()
    );
    Ok(())
}
