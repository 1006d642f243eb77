//! `berth-bench`: starts real `berth serve` processes on each backend pair
//! and measures, in one run, publishes per second at several concurrencies
//! and the hot read paths (index files, 304 revalidations, downloads), with
//! p50/p99 latencies and the server's memory. Prints a table and writes JSON.
//!
//! It is a measuring tool, not a test: it asserts nothing about speed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use berth_bench::{make_crate, publish_body, Server};
use clap::Parser;

/// Measure Berth on SQLite + files and on PostgreSQL + S3.
#[derive(Parser, Debug)]
struct Args {
    /// The berth binary [default: `berth` next to this executable].
    #[arg(long)]
    berth: Option<PathBuf>,
    /// Backend pairs to measure: sqlite, postgres-s3 (the latter needs
    /// PostgreSQL at BERTH_TEST_PG_URL and the AWS_* / BERTH_TEST_S3_BUCKET
    /// variables that scripts/garage.sh prints).
    #[arg(long, value_delimiter = ',', default_value = "sqlite")]
    backends: Vec<String>,
    /// Publishes per concurrency level.
    #[arg(long, default_value_t = 200)]
    publishes: usize,
    /// Concurrency levels for publishes.
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    publish_concurrency: Vec<usize>,
    /// Size of each published .crate, in KiB (incompressible content).
    #[arg(long, default_value_t = 50)]
    crate_kib: usize,
    /// Requests per read measurement.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Concurrent connections for read measurements.
    #[arg(long, default_value_t = 16)]
    read_concurrency: usize,
    /// Write the results as JSON here too.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, Clone)]
struct Measurement {
    backend: String,
    what: String,
    concurrency: usize,
    requests: usize,
    errors: usize,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    mib_per_second: Option<f64>,
}

impl Measurement {
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "backend": self.backend, "what": self.what, "concurrency": self.concurrency,
            "requests": self.requests, "errors": self.errors, "per_second": self.per_second,
            "p50_ms": self.p50_ms, "p99_ms": self.p99_ms, "mib_per_second": self.mib_per_second,
        })
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx].as_secs_f64() * 1000.0
}

/// Runs `total` requests made by `make` over `concurrency` workers.
async fn drive<F, Fut>(
    total: usize,
    concurrency: usize,
    make: F,
) -> (Vec<Duration>, usize, Duration, u64)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<u64>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let make = Arc::new(make);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (next, make) = (next.clone(), make.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            let mut bytes = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let t = Instant::now();
                match make(i).await {
                    Ok(n) => {
                        bytes += n;
                        lat.push(t.elapsed());
                    }
                    Err(_) => errors += 1,
                }
            }
            (lat, errors, bytes)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    let mut bytes = 0;
    for t in tasks {
        let (l, e, b) = t.await.expect("worker");
        all.extend(l);
        errors += e;
        bytes += b;
    }
    let elapsed = start.elapsed();
    all.sort();
    (all, errors, elapsed, bytes)
}

fn summarize(
    backend: &str,
    what: &str,
    concurrency: usize,
    total: usize,
    run: (Vec<Duration>, usize, Duration, u64),
) -> Measurement {
    let (lat, errors, elapsed, bytes) = run;
    let secs = elapsed.as_secs_f64();
    Measurement {
        backend: backend.to_string(),
        what: what.to_string(),
        concurrency,
        requests: total,
        errors,
        per_second: lat.len() as f64 / secs,
        p50_ms: percentile(&lat, 0.50),
        p99_ms: percentile(&lat, 0.99),
        mib_per_second: (bytes > 0 && what == "download").then(|| bytes as f64 / 1048576.0 / secs),
    }
}

async fn bench_backend(
    args: &Args,
    berth: &Path,
    backend: &str,
) -> Result<(Vec<Measurement>, serde_json::Value)> {
    let server = Server::start(berth, backend)?;
    server.cli(&["user", "add", "bench"])?;
    let token = server
        .cli(&["token", "create", "--user", "bench"])?
        .lines()
        .last()
        .context("no token")?
        .to_string();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    // Warm up and wait for readiness.
    for _ in 0..100 {
        if client
            .get(format!("{}/ready", server.url))
            .send()
            .await
            .map(|r| r.status().is_success())
            .unwrap_or(false)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (idle_rss, _) = server.rss_mib();
    let mut out = Vec::new();

    for &c in &args.publish_concurrency {
        let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
            (0..args.publishes)
                .map(|i| {
                    let name = format!("bench-c{c}-{i}");
                    publish_body(&name, "1.0.0", &make_crate(&name, "1.0.0", args.crate_kib))
                })
                .collect(),
        );
        let (client, url, token) = (client.clone(), server.url.clone(), token.clone());
        let run = drive(args.publishes, c, move |i| {
            let (client, url, token, bodies) =
                (client.clone(), url.clone(), token.clone(), bodies.clone());
            async move {
                let r = client
                    .put(format!("{url}/r/main/api/v1/crates/new"))
                    .header("Authorization", token)
                    .body(bodies[i].clone())
                    .send()
                    .await?;
                if !r.status().is_success() {
                    bail!("publish: {}", r.status());
                }
                Ok(0)
            }
        })
        .await;
        out.push(summarize(backend, "publish", c, args.publishes, run));
    }

    // Hot reads: one crate's index file, its 304, and its .crate.
    let index = format!("{}/r/main/index/be/nc/bench-c1-0", server.url);
    let etag = client
        .get(&index)
        .send()
        .await?
        .headers()
        .get("etag")
        .context("no etag")?
        .to_str()?
        .to_string();
    let c = args.read_concurrency;
    let (cl, ix) = (client.clone(), index.clone());
    let run = drive(args.requests, c, move |_| {
        let (cl, ix) = (cl.clone(), ix.clone());
        async move {
            let r = cl.get(&ix).send().await?;
            if !r.status().is_success() {
                bail!("index: {}", r.status());
            }
            Ok(r.bytes().await?.len() as u64)
        }
    })
    .await;
    out.push(summarize(backend, "index (hot)", c, args.requests, run));
    let (cl, ix, et) = (client.clone(), index.clone(), etag.clone());
    let run = drive(args.requests, c, move |_| {
        let (cl, ix, et) = (cl.clone(), ix.clone(), et.clone());
        async move {
            let r = cl.get(&ix).header("If-None-Match", et).send().await?;
            if r.status() != 304 {
                bail!("expected 304, got {}", r.status());
            }
            Ok(0)
        }
    })
    .await;
    out.push(summarize(backend, "index 304", c, args.requests, run));
    let dl = format!(
        "{}/r/main/api/v1/crates/bench-c1-0/1.0.0/download",
        server.url
    );
    let downloads = (args.requests / 10).max(100);
    let cl = client.clone();
    let run = drive(downloads, c, move |_| {
        let (cl, dl) = (cl.clone(), dl.clone());
        async move {
            let r = cl.get(&dl).send().await?;
            if !r.status().is_success() {
                bail!("download: {}", r.status());
            }
            Ok(r.bytes().await?.len() as u64)
        }
    })
    .await;
    out.push(summarize(backend, "download", c, downloads, run));
    let (rss, peak) = server.rss_mib();
    let memory = serde_json::json!({ "backend": backend, "idle_rss_mib": idle_rss, "rss_after_mib": rss, "peak_rss_mib": peak });
    Ok((out, memory))
}

fn main() -> Result<()> {
    let args = Args::parse();
    let berth = match &args.berth {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("berth"),
    };
    if !berth.exists() {
        bail!(
            "no berth binary at {} (build it, or pass --berth)",
            berth.display()
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut all = Vec::new();
    let mut memory = Vec::new();
    for backend in &args.backends {
        eprintln!("measuring {backend}...");
        let (m, mem) = rt.block_on(bench_backend(&args, &berth, backend))?;
        all.extend(m);
        memory.push(mem);
    }
    println!(
        "{:<12} {:<12} {:>5} {:>8} {:>6} {:>10} {:>9} {:>9} {:>9}",
        "backend", "what", "conc", "requests", "errors", "per_sec", "p50_ms", "p99_ms", "MiB/s"
    );
    for m in &all {
        println!(
            "{:<12} {:<12} {:>5} {:>8} {:>6} {:>10.0} {:>9.2} {:>9.2} {:>9}",
            m.backend,
            m.what,
            m.concurrency,
            m.requests,
            m.errors,
            m.per_second,
            m.p50_ms,
            m.p99_ms,
            m.mib_per_second
                .map(|v| format!("{v:.1}"))
                .unwrap_or_else(|| "-".into())
        );
    }
    for mem in &memory {
        println!(
            "{:<12} memory: idle {:.1} MiB, after load {:.1} MiB, peak {:.1} MiB",
            mem["backend"].as_str().unwrap_or("?"),
            mem["idle_rss_mib"].as_f64().unwrap_or(0.0),
            mem["rss_after_mib"].as_f64().unwrap_or(0.0),
            mem["peak_rss_mib"].as_f64().unwrap_or(0.0)
        );
    }
    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "measurements": all.iter().map(Measurement::to_json).collect::<Vec<_>>(),
            "memory": memory,
            "crate_kib": args.crate_kib,
        });
        std::fs::write(path, serde_json::to_string_pretty(&json)?)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
