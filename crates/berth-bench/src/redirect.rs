//! `--download-redirect N`: the node's CPU time per download when it
//! answers with a 302 to a presigned URL (`downloads.redirect =
//! "presigned"`) against when it sends the bytes: from its memory cache
//! (the default for a small crate) and streamed from the object store
//! (`limits.blob_cache_bytes = 0`, what a crate too big to cache gets).
//! Each on a fresh server over PostgreSQL + S3 (the only pair that can
//! presign), rounds alternating the order; the server's user and system
//! time from /proc over N downloads of one `.crate`, the client not
//! following the redirect (the object store's work is not the node's).
//! Prints each mode's median and the ratios. Asserts nothing.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{cpu_seconds, make_crate, publish_body, start_server_with, user_token, Server};

/// How a download leaves the node.
#[derive(Clone, Copy, Debug)]
enum Mode {
    Redirect,
    Cached,
    Streamed,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Redirect => "302 presigned",
            Mode::Cached => "bytes, memory",
            Mode::Streamed => "bytes, from S3",
        }
    }

    fn config(self) -> &'static str {
        match self {
            Mode::Redirect => "[downloads]\nredirect = \"presigned\"\n",
            Mode::Cached => "",
            Mode::Streamed => "[limits]\nblob_cache_bytes = 0\n",
        }
    }
}

/// Runs the comparison: `downloads` downloads of a `kib` KiB crate per
/// round and mode, `concurrency` at once.
pub fn ratio(berth: &Path, downloads: usize, rounds: usize, kib: usize) -> Result<()> {
    let rt = crate::runtime()?;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(64)
        .build()?;
    let krate = Arc::new(make_crate("fat", "1.0.0", kib));
    let modes = [Mode::Redirect, Mode::Cached, Mode::Streamed];
    let mut per_download: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
    for round in 0..rounds.max(1) {
        let mut order: Vec<usize> = (0..modes.len()).collect();
        order.rotate_left(round % modes.len());
        for i in order {
            let mode = modes[i];
            let server =
                start_server_with(berth, "postgres-s3", Duration::from_secs(30), mode.config())?;
            let token = user_token(&server, "bench")?;
            let (cpu, secs) =
                rt.block_on(measure(&client, &server, &token, &krate, mode, downloads))?;
            let each = cpu / downloads as f64;
            eprintln!(
                "[round {}] {}: {:.1} µs CPU per download ({:.2} s CPU, {:.0} downloads/s)",
                round + 1,
                mode.label(),
                each * 1e6,
                cpu,
                downloads as f64 / secs
            );
            per_download[i].push(each);
        }
    }
    let medians: Vec<f64> = per_download
        .iter_mut()
        .map(|v| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        })
        .collect();
    println!(
        "node CPU per download of a {kib} KiB crate (median of {} rounds of {downloads}):",
        rounds.max(1)
    );
    for (mode, m) in modes.iter().zip(&medians) {
        println!("  {:<16} {:>9.1} µs", mode.label(), m * 1e6);
    }
    println!(
        "  redirect / bytes from S3: {:.3}; redirect / bytes from memory: {:.3}",
        medians[0] / medians[2],
        medians[0] / medians[1]
    );
    Ok(())
}

/// Publishes the crate, warms the node up, then times `n` downloads: the
/// server's CPU seconds and the wall time.
async fn measure(
    client: &reqwest::Client,
    server: &Server,
    token: &str,
    krate: &[u8],
    mode: Mode,
    n: usize,
) -> Result<(f64, f64)> {
    let put = client
        .put(format!("{}/r/main/api/v1/crates/new", server.url))
        .header("Authorization", token)
        .body(publish_body("fat", "1.0.0", krate))
        .send()
        .await?;
    if !put.status().is_success() {
        bail!("publish: {}", put.status());
    }
    let url = format!("{}/r/main/api/v1/crates/fat/1.0.0/download", server.url);
    let get = |url: String| async move {
        let r = client.get(&url).send().await?;
        let status = r.status().as_u16();
        let len = r.bytes().await?.len();
        match (mode, status) {
            (Mode::Redirect, 302) => Ok(len),
            (Mode::Cached | Mode::Streamed, 200) if len == krate.len() => Ok(len),
            _ => bail!("{} answered {status} with {len} bytes", mode.label()),
        }
    };
    for _ in 0..20 {
        get(url.clone()).await.context("warm-up")?;
    }
    let pid = [server.pid()];
    let cpu = cpu_seconds(&pid);
    let start = Instant::now();
    // Eight at once, as cargo downloads.
    let mut next = 0;
    while next < n {
        let batch: Vec<_> = (next..n.min(next + 8)).map(|_| get(url.clone())).collect();
        for r in futures::future::join_all(batch).await {
            r?;
        }
        next += 8;
    }
    let secs = start.elapsed().as_secs_f64();
    Ok((cpu_seconds(&pid) - cpu, secs))
}
