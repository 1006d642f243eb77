//! `berth-bench`: the performance harness. In one run it starts real
//! `berth serve` processes on each backend pair and a reference static
//! server (nginx, Debian's package) serving the same index file and `.crate`
//! from disk, drives both with the same load generator (wrk) over loopback,
//! and prints a table: requests per second and p50/p99 latency for a hot
//! index file, 304 revalidations and downloads (MiB/s), each with its ratio
//! to the reference; publishes per second at several concurrencies; Berth's
//! memory idle and under load. The results are written as JSON too.
//! `--index-nodes N` measures instead hot index requests on single-node
//! SQLite against PostgreSQL with N nodes running, and prints the ratio.
//! `--download-redirect N` measures the node's CPU per download answered
//! with a presigned redirect against sent as bytes (`redirect.rs`).
//!
//! It is a measuring tool, not a test: it asserts nothing about speed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use berth_bench::nginx::Nginx;
use berth_bench::wrk::{Wrk, WrkResult};
use berth_bench::{
    cpu_seconds, make_crate, publish_body, rss_mib, start_server, start_server_under, user_token,
    Pin, Server,
};
use clap::Parser;

/// Measure Berth against nginx on the same files, and its publishes.
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
    #[arg(long, default_value_t = 300)]
    publishes: usize,
    /// Concurrency levels for publishes.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    publish_concurrency: Vec<usize>,
    /// Size of each published .crate, in KiB (incompressible content).
    #[arg(long, default_value_t = 50)]
    crate_kib: usize,
    /// Seconds per read measurement.
    #[arg(long, default_value_t = 5)]
    seconds: u32,
    /// wrk threads for read measurements (at most one per connection).
    #[arg(long, default_value_t = 2)]
    threads: u32,
    /// wrk connections for read measurements: each read is measured at
    /// each of these, Berth and nginx one after the other.
    #[arg(long, value_delimiter = ',', default_value = "1,32,256")]
    connections: Vec<u32>,
    /// Rounds of each read measurement per server, alternating which server
    /// goes first (Berth, nginx; nginx, Berth; ...): each figure printed is
    /// the server's median round, so that one noisy window on a shared
    /// machine does not decide a ratio.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Write the results as JSON here too.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Instead of the run against nginx: hot index requests on single-node
    /// SQLite against PostgreSQL with this many nodes running (wrk against
    /// a node that did not publish), and their ratio.
    #[arg(long)]
    index_nodes: Option<usize>,
    /// Measure instead hot index requests through a hosted registry with a
    /// supply-chain policy (and this many generated advisories imported)
    /// against the same registry without one, on one server with one
    /// worker, alternating rounds; prints the ratio and the import's time.
    #[arg(long, value_name = "ADVISORIES")]
    policy: Option<usize>,
    /// Measure instead publishes per second of this binary against another
    /// `berth` binary (e.g. the release before the transparency log), on
    /// fresh servers of each backend, rounds alternating which goes first;
    /// prints each median and the ratio.
    #[arg(long, value_name = "BERTH")]
    publish_reference: Option<PathBuf>,
    /// Measure instead publishes per second with this many webhooks
    /// subscribed to publishes (a receiver on loopback answering each
    /// delivery) against none, same binary, alternating rounds.
    #[arg(long, value_name = "WEBHOOKS")]
    publish_webhooks: Option<usize>,
    /// Measure instead requests per second of a docs page against a cached
    /// download of the same size (`--crate-kib`), over this many
    /// connections, `--rounds` runs of `--seconds` each, on SQLite
    /// (`--pin` to give the server and wrk a core each).
    #[arg(long, value_name = "CONNECTIONS")]
    docs_pages: Option<u32>,
    /// Measure instead the server's CPU time per download over this many
    /// downloads of one `.crate` of `--crate-kib` KiB, answered with a 302
    /// to a presigned URL against sent as bytes (from memory, and streamed
    /// from S3), on PostgreSQL + S3; prints the ratios.
    #[arg(long, value_name = "DOWNLOADS")]
    download_redirect: Option<usize>,
    /// Measure instead a replica's lag behind its primary while the
    /// primary takes this many publishes a second (for `--seconds`, crates
    /// of `--crate-kib` KiB) on each backend pair; prints p50/p99/max.
    #[arg(long, value_name = "PUBLISHES_PER_S")]
    replica_lag: Option<u32>,
    /// With --replica-lag: the replica also checks every copy against the
    /// primary's transparency log (`primary_log_keys`).
    #[arg(long)]
    replica_log_keys: bool,
    /// Pinned mode for the hot paths against nginx: each server alone on
    /// core SERVER (Berth started under `taskset -c SERVER`, so it runs one
    /// runtime thread; nginx with one worker, under the same mask) and wrk
    /// alone on core LOAD (`taskset -c LOAD`, one thread). Every read row
    /// reports the server's CPU time per request, pinned or not. With
    /// --publish-webhooks: each server alone on SERVER, the publishing
    /// client and the receiver on LOAD.
    #[arg(long, value_name = "SERVER,LOAD")]
    pin: Option<String>,
    /// Measure instead user-space instructions per request on the hot paths
    /// (index 200, 304, download of a `--crate-kib` KiB `.crate`), Berth on
    /// SQLite against nginx, both under callgrind, wrk with this many
    /// connections for `--seconds` per path: a count that does not move
    /// with the machine's noise.
    #[arg(long, value_name = "CONNECTIONS")]
    instructions: Option<u32>,
}

#[derive(Debug, Clone)]
struct Measurement {
    backend: String,
    server: String,
    what: String,
    concurrency: usize,
    requests: u64,
    errors: u64,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    mib_per_second: Option<f64>,
    /// The server's CPU time (user and system, from /proc) per request
    /// while the load ran, in microseconds; reads only.
    cpu_us: Option<f64>,
}

impl Measurement {
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "backend": self.backend, "server": self.server, "what": self.what,
            "concurrency": self.concurrency, "requests": self.requests, "errors": self.errors,
            "per_second": self.per_second, "p50_ms": self.p50_ms, "p99_ms": self.p99_ms,
            "mib_per_second": self.mib_per_second,
            "cpu_us_per_request": self.cpu_us,
            "requests_per_core_second": self.cpu_us.filter(|&c| c > 0.0).map(|c| 1e6 / c),
        })
    }

    fn from_wrk(backend: &str, server: &str, what: &str, connections: u32, r: &WrkResult) -> Self {
        Measurement {
            backend: backend.into(),
            server: server.into(),
            what: what.into(),
            concurrency: connections as usize,
            requests: r.requests,
            errors: r.errors,
            per_second: r.per_second,
            p50_ms: r.p50_ms,
            p99_ms: r.p99_ms,
            mib_per_second: (what == "download").then_some(r.mib_per_second),
            cpu_us: None,
        }
    }

    /// With the server's CPU seconds spent during the run.
    fn with_cpu(mut self, cpu_seconds: f64) -> Self {
        if self.requests > 0 {
            self.cpu_us = Some(cpu_seconds * 1e6 / self.requests as f64);
        }
        self
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

/// Publishes `n` crates with `c` concurrent clients; returns the measurement.
async fn publishes(
    client: &reqwest::Client,
    server: &Server,
    token: &str,
    backend: &str,
    n: usize,
    c: usize,
    kib: usize,
) -> Measurement {
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..n)
            .map(|i| {
                let name = format!("bench-c{c}-{i}");
                publish_body(&name, "1.0.0", &make_crate(&name, "1.0.0", kib))
            })
            .collect(),
    );
    let (client, url, token) = (client.clone(), server.url.clone(), token.to_string());
    let (lat, errors, elapsed, _) = drive(n, c, move |i| {
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
    Measurement {
        backend: backend.into(),
        server: "berth".into(),
        what: "publish".into(),
        concurrency: c,
        requests: n as u64,
        errors: errors as u64,
        per_second: lat.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: percentile(&lat, 0.50),
        p99_ms: percentile(&lat, 0.99),
        mib_per_second: None,
        cpu_us: None,
    }
}

/// One server under measurement: its URL, the ETag it gives the hot index
/// file, and its processes (whose CPU time is read from /proc).
struct Target<'a> {
    name: &'a str,
    base: &'a str,
    etag: &'a str,
    pids: Vec<u32>,
}

/// The hot read paths on one server over `connections` connections: index
/// file, its 304, the `.crate`; each with the server's CPU time per request.
fn reads(
    args: &Args,
    pin: Option<Pin>,
    backend: &str,
    target: &Target,
    index: &str,
    dl: &str,
    connections: u32,
) -> Result<Vec<Measurement>> {
    // Pinned, wrk has one core to itself: one thread.
    let threads = if pin.is_some() {
        1
    } else {
        args.threads.min(connections)
    };
    let wrk = |what: &str, url: &str, headers: Vec<String>| -> Result<Measurement> {
        let before = cpu_seconds(&target.pids);
        let r = Wrk {
            url,
            threads,
            connections,
            seconds: args.seconds,
            headers,
            script: None,
            under: Pin::load_under(pin),
        }
        .run()?;
        let cpu = cpu_seconds(&target.pids) - before;
        Ok(Measurement::from_wrk(backend, target.name, what, connections, &r).with_cpu(cpu))
    };
    let index_url = format!("{}{index}", target.base);
    Ok(vec![
        wrk("index (hot)", &index_url, vec![])?,
        wrk(
            "index 304",
            &index_url,
            vec![format!("If-None-Match: {}", target.etag)],
        )?,
        wrk("download", &format!("{}{dl}", target.base), vec![])?,
    ])
}

async fn bench_backend(
    args: &Args,
    pin: Option<Pin>,
    berth: &Path,
    backend: &str,
) -> Result<(Vec<Measurement>, serde_json::Value)> {
    // The harness polls `/ready` with a blocking client: not on a runtime
    // thread.
    // wrk opens 256 connections per run, the default limit of one client
    // address: a run that starts while the server is still closing the
    // last run's would see some refused.
    let server = tokio::task::block_in_place(|| {
        start_server_under(
            berth,
            backend,
            Duration::from_secs(30),
            "[limits]\nmax_connections_per_ip = 4096\n",
            &Pin::server_under(pin),
        )
    })?;
    let token = user_token(&server, "bench")?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (idle_rss, _) = rss_mib(&server);
    let mut out = Vec::new();
    for &c in &args.publish_concurrency {
        out.push(
            publishes(
                &client,
                &server,
                &token,
                backend,
                args.publishes,
                c,
                args.crate_kib,
            )
            .await,
        );
    }

    // The same hot files on disk for the reference server.
    let first = format!(
        "bench-c{}-0",
        args.publish_concurrency.first().copied().unwrap_or(1)
    );
    let index_path = format!("/r/main/index/{}", berth_protocol::index_path(&first));
    let dl_path = format!("/r/main/api/v1/crates/{first}/1.0.0/download");
    let index_body = client
        .get(format!("{}{index_path}", server.url))
        .send()
        .await?;
    let berth_etag = index_body
        .headers()
        .get("etag")
        .context("no etag")?
        .to_str()?
        .to_string();
    let index_body = index_body.bytes().await?;
    let crate_body = client
        .get(format!("{}{dl_path}", server.url))
        .send()
        .await?
        .bytes()
        .await?;
    let root = tempfile::Builder::new()
        .prefix("berth-bench-root-")
        .tempdir()?;
    for (path, body) in [(&index_path, &index_body), (&dl_path, &crate_body)] {
        let file = root.path().join(path.trim_start_matches('/'));
        std::fs::create_dir_all(file.parent().context("path")?)?;
        std::fs::write(&file, body)?;
    }
    let nginx = match pin {
        Some(_) => Nginx::start_under(root.path(), 1, &Pin::server_under(pin))?,
        None => Nginx::start(root.path())?,
    };
    let nginx_etag = client
        .get(format!("{}{index_path}", nginx.url))
        .send()
        .await?
        .headers()
        .get("etag")
        .context("nginx sent no etag")?
        .to_str()?
        .to_string();
    let mut peak = 0.0f64;
    for &c in &args.connections {
        let mut rounds: Vec<Measurement> = Vec::new();
        for round in 0..args.rounds.max(1) {
            let order = if round % 2 == 0 {
                ["berth", "nginx"]
            } else {
                ["nginx", "berth"]
            };
            for name in order {
                let target = match name {
                    "berth" => Target {
                        name,
                        base: &server.url,
                        etag: &berth_etag,
                        pids: vec![server.pid()],
                    },
                    _ => Target {
                        name,
                        base: &nginx.url,
                        etag: &nginx_etag,
                        pids: nginx.pids(),
                    },
                };
                let measured = tokio::task::block_in_place(|| {
                    reads(args, pin, backend, &target, &index_path, &dl_path, c)
                })?;
                rounds.extend(measured);
                if name == "berth" {
                    peak = peak.max(rss_mib(&server).1);
                }
            }
        }
        out.extend(median_rounds(rounds));
    }
    let (rss, _) = rss_mib(&server);
    let memory = serde_json::json!({ "backend": backend, "idle_rss_mib": idle_rss, "rss_after_mib": rss, "peak_rss_mib": peak });
    Ok((out, memory))
}

/// Of each server's rounds of one read, the median one (by requests per
/// second; the upper one of an even count), in the order first seen.
fn median_rounds(rounds: Vec<Measurement>) -> Vec<Measurement> {
    let mut groups: Vec<Vec<Measurement>> = Vec::new();
    for m in rounds {
        match groups
            .iter_mut()
            .find(|g| g[0].server == m.server && g[0].what == m.what)
        {
            Some(g) => g.push(m),
            None => groups.push(vec![m]),
        }
    }
    groups.sort_by_key(|g| g[0].server != "berth");
    groups
        .into_iter()
        .map(|mut g| {
            g.sort_by(|a, b| a.per_second.total_cmp(&b.per_second));
            let mid = g.len() / 2;
            g.swap_remove(mid)
        })
        .collect()
}

fn ratio(all: &[Measurement], m: &Measurement) -> String {
    if m.server != "berth" {
        return "".into();
    }
    let Some(reference) = all.iter().find(|r| {
        r.server == "nginx"
            && r.what == m.what
            && r.backend == m.backend
            && r.concurrency == m.concurrency
    }) else {
        return "".into();
    };
    let rps = m.per_second / reference.per_second;
    let p99 = if reference.p99_ms > 0.0 {
        m.p99_ms / reference.p99_ms
    } else {
        0.0
    };
    // Requests per core-second over nginx's: nginx's CPU per request over
    // Berth's.
    let per_core = match (m.cpu_us, reference.cpu_us) {
        (Some(b), Some(n)) if b > 0.0 => format!(", {:.2}x per core", n / b),
        _ => String::new(),
    };
    format!("{rps:.2}x rps, {p99:.2}x p99{per_core}")
}

/// Hot index requests on one node of `backend` with `nodes` nodes running:
/// one crate published through the first node, wrk against the last one
/// once its cache is warm (and, on PostgreSQL, its index listener proven).
fn index_on_nodes(args: &Args, berth: &Path, backend: &str, nodes: usize) -> Result<Measurement> {
    let first = start_server(berth, backend, Duration::from_secs(30))?;
    let mut others = Vec::new();
    for _ in 1..nodes {
        others.push(
            first
                .try_another_node()
                .map_err(|log| anyhow::anyhow!("node: {log}"))?,
        );
    }
    let token = user_token(&first, "bench")?;
    let name = "bench-hot";
    let body = publish_body(name, "1.0.0", &make_crate(name, "1.0.0", 1));
    let client = reqwest::blocking::Client::new();
    let r = client
        .put(format!("{}/r/main/api/v1/crates/new", first.url))
        .header("Authorization", token)
        .body(body)
        .send()?;
    if !r.status().is_success() {
        bail!("publish: {}", r.status());
    }
    let target = others.last().unwrap_or(&first);
    let url = format!(
        "{}/r/main/index/{}",
        target.url,
        berth_protocol::index_path(name)
    );
    // Heartbeats prove the listener within a second; then warm the cache.
    std::thread::sleep(Duration::from_secs(2));
    for _ in 0..3 {
        let r = client.get(&url).send()?;
        if r.status() != 200 {
            bail!("index: {}", r.status());
        }
    }
    // One figure: the largest concurrency up to 32 asked for.
    let connections = args
        .connections
        .iter()
        .copied()
        .filter(|&c| c <= 32)
        .max()
        .unwrap_or(32);
    let r = Wrk {
        url: &url,
        threads: args.threads.min(connections),
        connections,
        seconds: args.seconds,
        headers: vec![],
        script: None,
        under: Vec::new(),
    }
    .run()?;
    let label = format!("{backend}x{nodes}");
    Ok(Measurement::from_wrk(
        &label,
        "berth",
        "index (hot)",
        connections,
        &r,
    ))
}

/// SQLite single node against PostgreSQL with `nodes` nodes: hot index.
fn index_ratio(args: &Args, berth: &Path, nodes: usize) -> Result<()> {
    eprintln!("measuring sqlite (one node)...");
    let sqlite = index_on_nodes(args, berth, "sqlite", 1)?;
    eprintln!("measuring postgres-s3 ({nodes} nodes)...");
    let pg = index_on_nodes(args, berth, "postgres-s3", nodes)?;
    println!(
        "{:<16} {:<12} {:>9} {:>6} {:>10} {:>8} {:>8}",
        "backend", "what", "requests", "errors", "per_sec", "p50_ms", "p99_ms"
    );
    for m in [&sqlite, &pg] {
        println!(
            "{:<16} {:<12} {:>9} {:>6} {:>10.0} {:>8.2} {:>8.2}",
            m.backend, m.what, m.requests, m.errors, m.per_second, m.p50_ms, m.p99_ms
        );
    }
    println!(
        "postgres-s3 with {nodes} nodes / sqlite: {:.2}x rps, {:.2}x p99",
        pg.per_second / sqlite.per_second,
        if sqlite.p99_ms > 0.0 {
            pg.p99_ms / sqlite.p99_ms
        } else {
            0.0
        }
    );
    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "measurements": [sqlite.to_json(), pg.to_json()],
            "ratio_rps": pg.per_second / sqlite.per_second,
            "wrk": { "threads": args.threads, "connections": args.connections, "seconds": args.seconds, "rounds": args.rounds },
        });
        std::fs::write(path, serde_json::to_string_pretty(&json)?)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Publishes per second of `berth` against `reference`: per backend and
/// concurrency, `rounds` fresh servers of each (alternating which goes
/// first), each figure the median round.
fn publish_ratio(args: &Args, berth: &Path, reference: &Path) -> Result<()> {
    let start = |is_this: bool, backend: &str| {
        let bin = if is_this { berth } else { reference };
        start_server(bin, backend, Duration::from_secs(30))
    };
    compare_publishes(args, ("this", "reference"), start)
}

/// Publishes per second with `hooks` webhooks subscribed to publishes
/// against none.
/// With `pin`, each server runs alone on its core and this process (the
/// publishing client and the receiver, which stand for machines of their
/// own) on the other, so that the ratio is one of the server's core.
fn webhook_ratio(args: &Args, pin: Option<Pin>, berth: &Path, hooks: usize) -> Result<()> {
    if let Some(p) = pin {
        Pin::this_process_on(p.load)?;
        eprintln!(
            "pinned: each server on core {} (one runtime thread), the client and the receiver on core {}",
            p.server, p.load
        );
    }
    let under = Pin::server_under(pin);
    let receiver = berth_testkit::Receiver::start();
    let start = |with_hooks: bool, backend: &str| {
        let toml = if with_hooks {
            "[webhooks]\nallowed_targets = [\"127.0.0.1\"]\n"
        } else {
            ""
        };
        let server =
            berth_bench::start_server_under(berth, backend, Duration::from_secs(30), toml, &under)?;
        if !with_hooks {
            return Ok(server);
        }
        for i in 0..hooks {
            let url = receiver.url(&format!("/hook-{i}"));
            berth_bench::cli(
                &server,
                &["webhook", "add", "--url", &url, "--events", "publish"],
            )?;
        }
        Ok(server)
    };
    compare_publishes(args, ("webhooks", "none"), start)?;
    eprintln!("the receiver got {} deliveries", receiver.received().len());
    Ok(())
}

/// Publishes per second on servers `start(true, backend)` makes against
/// servers `start(false, backend)` makes, fresh for each round, rounds
/// alternating which goes first; prints each median and their ratio.
fn compare_publishes(
    args: &Args,
    labels: (&str, &str),
    start: impl Fn(bool, &str) -> Result<Server>,
) -> Result<()> {
    let rt = berth_bench::runtime()?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    println!(
        "{:<12} {:>5} {:>12} {:>12} {:>7}",
        "backend",
        "conc",
        format!("{}_per_s", labels.0),
        format!("{}_per_s", labels.1),
        "ratio"
    );
    let mut json = Vec::new();
    for backend in &args.backends {
        for &c in &args.publish_concurrency {
            let (mut this, mut other) = (Vec::new(), Vec::new());
            // Each round's two servers run back to back: their ratio is
            // spared the drift of a noisy machine across rounds.
            let mut paired = Vec::new();
            for round in 0..args.rounds.max(1) {
                let order = if round % 2 == 0 {
                    [true, false]
                } else {
                    [false, true]
                };
                for is_this in order {
                    let server = start(is_this, backend)?;
                    let token = user_token(&server, "bench")?;
                    let m = rt.block_on(publishes(
                        &client,
                        &server,
                        &token,
                        backend,
                        args.publishes,
                        c,
                        args.crate_kib,
                    ));
                    eprintln!(
                        "[{backend} c={c} round {}] {}: {:.0} publishes/s, p99 {:.1} ms, errors {}",
                        round + 1,
                        if is_this { labels.0 } else { labels.1 },
                        m.per_second,
                        m.p99_ms,
                        m.errors
                    );
                    if is_this { &mut this } else { &mut other }.push(m.per_second);
                    drop(server);
                }
                paired.push(this[round] / other[round]);
            }
            let median = |v: &mut Vec<f64>| {
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            let (a, b) = (median(&mut this), median(&mut other));
            let rounds: Vec<String> = paired.iter().map(|r| format!("{r:.2}")).collect();
            let pair = median(&mut paired);
            println!(
                "{backend:<12} {c:>5} {a:>12.0} {b:>12.0} {:>6.3}x   median of round ratios {pair:.3}x ({})",
                a / b,
                rounds.join(" ")
            );
            json.push(serde_json::json!({
                "backend": backend, "concurrency": c, "this_per_second": a,
                "reference_per_second": b, "ratio": a / b, "median_round_ratio": pair,
            }));
        }
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&json)?)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// A RustSec-format database of `count` generated advisories, filed against
/// `count / 3` crates (none real), one of them against `bench-hot` 1.0.0.
fn advisory_db(root: &Path, count: usize) -> Result<()> {
    for i in 0..count {
        let (package, patched) = if i == 0 {
            ("bench-hot".to_string(), ">= 1.0.1".to_string())
        } else {
            (
                format!("gen-crate-{}", i % (count / 3).max(1)),
                format!(">= {}.0.0", i % 7 + 1),
            )
        };
        let id = format!("RUSTSEC-2026-{i:04}");
        let dir = root.join("crates").join(&package);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join(format!("{id}.md")),
            format!(
                "```toml\n[advisory]\nid = \"{id}\"\npackage = \"{package}\"\ndate = \"2026-01-02\"\n\
                 categories = [\"memory-corruption\"]\n\n[versions]\npatched = [\"{patched}\"]\n```\n\n\
                 # Generated advisory {i}\n\nA paragraph about it.\n"
            ),
        )?;
    }
    Ok(())
}

/// Hot index requests through `policed` (a policy, `advisories` imported)
/// against `plain` (no policy) on one server: the median of alternating
/// rounds of each, and their ratio.
fn policy_ratio(args: &Args, berth: &Path, advisories: usize) -> Result<()> {
    let toml =
        "workers = 1\n\n[[registries]]\nname = \"plain\"\n\n[[registries]]\nname = \"policed\"\n\
                [registries.policy]\nblock_advisories = true\nblock_informational = [\"unsound\"]\n\
                min_age = \"1s\"\nlicenses = [\"MIT\", \"Apache-2.0\"]\ndeny = [\"evil\"]\n";
    let stores = berth_testkit::Stores::try_new(berth_testkit::Backend::Sqlite)
        .map_err(|e| anyhow::anyhow!(e))?;
    let launch = berth_testkit::Launch {
        bin: Some(berth.to_path_buf()),
        log_filter: "warn".into(),
        ready_timeout: Duration::from_secs(30),
        ..berth_testkit::Launch::default()
    };
    let server = berth_testkit::Server::launch(stores, toml, launch)
        .map_err(|log| anyhow::anyhow!("berth serve did not start: {log}"))?;
    let token = user_token(&server, "bench")?;
    let client = reqwest::blocking::Client::new();
    let name = "bench-hot";
    for registry in ["plain", "policed"] {
        for vers in ["1.0.0", "1.0.1", "1.1.0"] {
            let body = publish_body(name, vers, &make_crate(name, vers, 1));
            let r = client
                .put(format!("{}/r/{registry}/api/v1/crates/new", server.url))
                .header("Authorization", &token)
                .body(body)
                .send()?;
            if !r.status().is_success() {
                bail!("publish to {registry}: {}", r.status());
            }
        }
    }
    let db = tempfile::tempdir()?;
    advisory_db(db.path(), advisories)?;
    let started = Instant::now();
    berth_bench::cli(
        &server,
        &["advisories", "import", db.path().to_str().unwrap_or("")],
    )?;
    let import_secs = started.elapsed().as_secs_f64();
    // The server loads the set within its 2 s refresh; the cooldown passes.
    let url = |registry: &str| {
        format!(
            "{}/r/{registry}/index/{}",
            server.url,
            berth_protocol::index_path(name)
        )
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let body = client.get(url("policed")).send()?.text()?;
        if !body.contains("\"1.0.0\"") && body.contains("\"1.1.0\"") {
            break;
        }
        if Instant::now() > deadline {
            bail!("the policed registry never left out the affected version: {body}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let connections = args
        .connections
        .iter()
        .copied()
        .filter(|&c| c <= 32)
        .max()
        .unwrap_or(32);
    let mut rounds: [Vec<WrkResult>; 2] = [Vec::new(), Vec::new()];
    for round in 0..args.rounds.max(1) {
        let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let target = url(["plain", "policed"][i]);
            let r = Wrk {
                url: &target,
                threads: 1,
                connections,
                seconds: args.seconds,
                headers: vec![],
                script: None,
                under: Vec::new(),
            }
            .run()?;
            rounds[i].push(r);
        }
    }
    let median = |rs: &mut Vec<WrkResult>| {
        rs.sort_by_key(|r| r.requests);
        rs[rs.len() / 2].clone()
    };
    let plain = median(&mut rounds[0]);
    let policed = median(&mut rounds[1]);
    let m = [
        Measurement::from_wrk("sqlite", "plain", "index (hot)", connections, &plain),
        Measurement::from_wrk("sqlite", "policed", "index (hot)", connections, &policed),
    ];
    println!(
        "{:<10} {:<12} {:>5} {:>9} {:>6} {:>10} {:>8} {:>8}",
        "registry", "what", "conc", "requests", "errors", "per_sec", "p50_ms", "p99_ms"
    );
    for x in &m {
        println!(
            "{:<10} {:<12} {:>5} {:>9} {:>6} {:>10.0} {:>8.2} {:>8.2}",
            x.server, x.what, x.concurrency, x.requests, x.errors, x.per_second, x.p50_ms, x.p99_ms
        );
    }
    let ratio = m[1].per_second / m[0].per_second;
    println!(
        "policed ({advisories} advisories) / plain: {ratio:.3}x rps; import of {advisories} advisories \
         (the whole `berth advisories import` command): {import_secs:.2} s"
    );
    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "measurements": m.iter().map(Measurement::to_json).collect::<Vec<_>>(),
            "ratio_rps": ratio,
            "advisories": advisories,
            "import_secs": import_secs,
            "wrk": { "threads": 1, "connections": connections, "seconds": args.seconds, "rounds": args.rounds },
        });
        std::fs::write(path, serde_json::to_string_pretty(&json)?)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    let berth = berth_bench::berth_binary(args.berth.as_deref())?;
    if let Some(nodes) = args.index_nodes {
        return index_ratio(&args, &berth, nodes.max(1));
    }
    if let Some(advisories) = args.policy {
        return policy_ratio(&args, &berth, advisories);
    }
    if let Some(reference) = &args.publish_reference {
        return publish_ratio(&args, &berth, reference);
    }
    if let Some(rate) = args.replica_lag {
        for backend in &args.backends {
            berth_bench::replica_lag::measure(
                &berth,
                backend,
                rate,
                args.seconds,
                args.crate_kib,
                args.replica_log_keys,
            )?;
        }
        return Ok(());
    }
    if let Some(connections) = args.instructions {
        return berth_bench::instructions::measure(
            &berth,
            args.seconds,
            connections,
            args.crate_kib,
        );
    }
    let pin = args.pin.as_deref().map(Pin::parse).transpose()?;
    if let Some(hooks) = args.publish_webhooks {
        return webhook_ratio(&args, pin, &berth, hooks);
    }
    if let Some(connections) = args.docs_pages {
        return berth_bench::docs_pages::ratio(
            &berth,
            pin,
            args.seconds as u64,
            connections,
            args.rounds,
            args.crate_kib,
        );
    }
    if let Some(downloads) = args.download_redirect {
        return berth_bench::redirect::ratio(&berth, downloads, args.rounds, args.crate_kib);
    }
    if let Some(p) = pin {
        eprintln!(
            "pinned: each server on core {} (Berth with one runtime thread, nginx with one worker), wrk on core {}",
            p.server, p.load
        );
    }
    let rt = berth_bench::runtime()?;
    let mut all = Vec::new();
    let mut memory = Vec::new();
    for backend in &args.backends {
        eprintln!("measuring {backend}...");
        let (m, mem) = rt.block_on(bench_backend(&args, pin, &berth, backend))?;
        all.extend(m);
        memory.push(mem);
    }
    println!(
        "{:<12} {:<6} {:<12} {:>5} {:>9} {:>6} {:>10} {:>8} {:>8} {:>7} {:>7} {:>9}  vs nginx",
        "backend",
        "server",
        "what",
        "conc",
        "requests",
        "errors",
        "per_sec",
        "p50_ms",
        "p99_ms",
        "MiB/s",
        "cpu_us",
        "per_core_s"
    );
    for m in &all {
        let dash = || "-".to_string();
        println!(
            "{:<12} {:<6} {:<12} {:>5} {:>9} {:>6} {:>10.0} {:>8.2} {:>8.2} {:>7} {:>7} {:>9}  {}",
            m.backend,
            m.server,
            m.what,
            m.concurrency,
            m.requests,
            m.errors,
            m.per_second,
            m.p50_ms,
            m.p99_ms,
            m.mib_per_second
                .map(|v| format!("{v:.0}"))
                .unwrap_or_else(dash),
            m.cpu_us.map(|v| format!("{v:.2}")).unwrap_or_else(dash),
            m.cpu_us
                .filter(|&v| v > 0.0)
                .map(|v| format!("{:.0}", 1e6 / v))
                .unwrap_or_else(dash),
            ratio(&all, m)
        );
    }
    for mem in &memory {
        println!(
            "{:<12} berth memory: idle {:.1} MiB, peak under load {:.1} MiB, after {:.1} MiB",
            mem["backend"].as_str().unwrap_or("?"),
            mem["idle_rss_mib"].as_f64().unwrap_or(0.0),
            mem["peak_rss_mib"].as_f64().unwrap_or(0.0),
            mem["rss_after_mib"].as_f64().unwrap_or(0.0)
        );
    }
    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "measurements": all.iter().map(Measurement::to_json).collect::<Vec<_>>(),
            "memory": memory,
            "crate_kib": args.crate_kib,
            "wrk": { "threads": args.threads, "connections": args.connections, "seconds": args.seconds, "rounds": args.rounds },
            "pin": pin.map(|p| serde_json::json!({ "server_core": p.server, "load_core": p.load })),
        });
        std::fs::write(path, serde_json::to_string_pretty(&json)?)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
