//! `berth-scale`: does the cost of a request grow with the registry?
//!
//! Builds a synthetic registry shaped like the public one (by default
//! 200,000 crates, 2,000,000 versions) through the store's bulk path, then
//! starts a real `berth serve` on it and measures start-up time, memory,
//! index-file and search latency with wrk; does the same on a 100-crate
//! registry in the same run and prints the ratios. Prints a table and
//! writes JSON. A measuring tool: it asserts nothing about speed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use berth_bench::scale::{search_kinds, search_queries, write_lua, Plan};
use berth_bench::wrk::{Wrk, WrkResult};
use berth_bench::{cli, make_crate, rss_mib, start_server, Server};
use berth_store::{BlobStore, MetaStore};
use clap::Parser;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde_json::json;
use sha2::{Digest, Sha256};

/// Measure Berth on a registry the size of the public one against a small one.
#[derive(Parser, Debug)]
struct Args {
    /// The berth binary [default: `berth` next to this executable].
    #[arg(long)]
    berth: Option<PathBuf>,
    /// sqlite or postgres-s3 (the latter needs PostgreSQL at
    /// BERTH_TEST_PG_URL and the variables scripts/garage.sh prints).
    #[arg(long, default_value = "sqlite")]
    backend: String,
    /// Crates in the large registry.
    #[arg(long, default_value_t = 200_000)]
    crates: usize,
    /// Versions in the large registry.
    #[arg(long, default_value_t = 2_000_000)]
    versions: u64,
    /// Crates in the small registry (shaped like the large one's: its
    /// quantiles of versions per crate).
    #[arg(long, default_value_t = 100)]
    small_crates: usize,
    /// Seconds per wrk measurement.
    #[arg(long, default_value_t = 10)]
    seconds: u32,
    /// wrk threads.
    #[arg(long, default_value_t = 2)]
    threads: u32,
    /// Rounds of each steady-state index measurement: the round with the
    /// median p99 is the one reported (each round is printed), so that one
    /// noisy window on a shared machine does not decide a ratio.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// wrk connections for index files.
    #[arg(long, default_value_t = 16)]
    connections: u32,
    /// wrk connections for searches (fewer: a slow search must finish
    /// within wrk's 2 s timeout to be counted).
    #[arg(long, default_value_t = 4)]
    search_connections: u32,
    /// Distinct index files requested at random on the large registry.
    #[arg(long, default_value_t = 10_000)]
    index_paths: usize,
    /// Crates per bulk-load transaction.
    #[arg(long, default_value_t = 2_000)]
    batch: usize,
    /// Seed of the generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write the results as JSON here too.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Measure only searches (by kind, one at a time and concurrently),
    /// not index files.
    #[arg(long)]
    search_only: bool,
    /// Distinct versions looked up in the transparency log (with their
    /// inclusion proofs), at random over the whole log.
    #[arg(long, default_value_t = 2_000)]
    log_lookups: usize,
    /// Measure only transparency-log lookups, not index files or searches.
    #[arg(long)]
    log_only: bool,
    /// Concurrent clients of the per-kind search run.
    #[arg(long, default_value_t = 8)]
    search_clients: usize,
    /// Seconds per kind and concurrency of the per-kind search run.
    #[arg(long, default_value_t = 4)]
    search_seconds: u64,
    /// Publishes of new crates into each registry after the reads (0: none).
    #[arg(long, default_value_t = 2_000)]
    publishes: usize,
    /// Concurrent publishing clients.
    #[arg(long, default_value_t = 8)]
    publish_clients: usize,
    /// Size of each published .crate, in KiB (incompressible content).
    #[arg(long, default_value_t = 24)]
    publish_kib: usize,
}

/// Everything measured on one registry.
struct Run {
    label: String,
    crates: usize,
    versions: u64,
    spread: String,
    load_secs: f64,
    store_secs: f64,
    generate_secs: f64,
    finish_secs: f64,
    rows: u64,
    shape: Shape,
    db_mib: f64,
    listen_ms: f64,
    ready_ms: f64,
    rss_idle: f64,
    rss_after_index: f64,
    rss_after: f64,
    rss_peak: f64,
    /// `(what, distinct paths, result)`.
    reads: Vec<(String, usize, WrkResult)>,
    checks: Vec<String>,
}

impl Run {
    /// The run with its reads and the server's memory at their end.
    fn finished(mut self, server: &Server, reads: Vec<(String, usize, WrkResult)>) -> Run {
        (self.rss_after, self.rss_peak) = rss_mib(server);
        self.reads = reads;
        self
    }
}

fn wrk_json(r: &WrkResult) -> serde_json::Value {
    json!({ "requests": r.requests, "per_second": r.per_second, "p50_ms": r.p50_ms,
            "p99_ms": r.p99_ms, "mib_per_second": r.mib_per_second, "errors": r.errors })
}

impl Run {
    fn to_json(&self) -> serde_json::Value {
        json!({
            "label": self.label, "crates": self.crates, "versions": self.versions,
            "versions_spread": self.spread,
            "load": { "wall_secs": self.load_secs, "store_secs": self.store_secs,
                      "generate_secs": self.generate_secs, "finish_secs": self.finish_secs,
                      "rows": self.rows, "rows_per_sec": self.rows as f64 / self.load_secs,
                      "versions_per_sec": self.versions as f64 / self.load_secs,
                      "index_line_mib": self.shape.bytes as f64 / 1048576.0,
                      "database_mib": self.db_mib },
            "shape": self.shape.to_json(self.versions),
            "startup": { "listening_ms": self.listen_ms, "ready_ms": self.ready_ms },
            "memory_mib": { "idle": self.rss_idle, "after_index": self.rss_after_index,
                            "after_all": self.rss_after, "peak": self.rss_peak },
            "reads": self.reads.iter().map(|(w, n, r)| {
                let mut v = wrk_json(r);
                v["what"] = json!(w);
                v["distinct_paths"] = json!(n);
                v
            }).collect::<Vec<_>>(),
            "checks": self.checks,
        })
    }

    fn read(&self, what: &str) -> Option<&WrkResult> {
        self.reads
            .iter()
            .find(|(w, _, _)| w == what)
            .map(|(_, _, r)| r)
    }
}

fn client() -> Result<reqwest::blocking::Client> {
    Ok(reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?)
}

fn database_mib(server: &Server, url: &str) -> f64 {
    if url.starts_with("sqlite:") {
        ["berth.db", "berth.db-wal", "berth.db-shm"]
            .iter()
            .filter_map(|f| std::fs::metadata(server.data_dir.join(f)).ok())
            .map(|m| m.len() as f64)
            .sum::<f64>()
            / 1048576.0
    } else {
        Command::new("psql")
            .arg(url)
            .args(["-tAc", "SELECT pg_database_size(current_database())"])
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .map_or(0.0, |b| b / 1048576.0)
    }
}

struct Loaded {
    load: Duration,
    store: Duration,
    generate: Duration,
    finish: Duration,
    rows: u64,
    shape: Shape,
}

/// What the generated index lines look like, summed over all versions.
#[derive(Default)]
struct Shape {
    bytes: u64,
    max_line: u64,
    deps: u64,
    max_deps: u64,
    v2: u64,
    yanked: u64,
}

impl Shape {
    fn add(&mut self, v: &berth_store::BulkVersion) {
        let len = v.index_line.len() as u64;
        let deps = v.index_line.matches("\"req\":").count() as u64;
        self.bytes += len;
        self.max_line = self.max_line.max(len);
        self.deps += deps;
        self.max_deps = self.max_deps.max(deps);
        self.v2 += u64::from(v.index_line.ends_with("\"v\":2}"));
        self.yanked += u64::from(v.yanked);
    }

    fn to_json(&self, versions: u64) -> serde_json::Value {
        let n = versions.max(1) as f64;
        json!({ "avg_line_bytes": self.bytes as f64 / n, "max_line_bytes": self.max_line,
                "avg_deps": self.deps as f64 / n, "max_deps": self.max_deps,
                "v2_share": self.v2 as f64 / n, "yanked_share": self.yanked as f64 / n })
    }

    fn describe(&self, versions: u64) -> String {
        let n = versions.max(1) as f64;
        format!(
            "index lines: {:.0} MiB, avg {:.0} B (max {} B), deps avg {:.1} (max {}), v:2 {:.1}%, yanked {:.1}%",
            self.bytes as f64 / 1048576.0,
            self.bytes as f64 / n,
            self.max_line,
            self.deps as f64 / n,
            self.max_deps,
            100.0 * self.v2 as f64 / n,
            100.0 * self.yanked as f64 / n
        )
    }
}

/// Creates the owner and the blobs, then loads every planned crate in
/// batches generated on another thread while the previous one is stored.
async fn load(
    plan: std::sync::Arc<Plan>,
    db_url: &str,
    storage: &str,
    batch: usize,
) -> Result<Loaded> {
    let meta = MetaStore::connect(db_url, 4).await?;
    let blobs = BlobStore::open(storage)?;
    let registry_id = meta
        .ensure_registry("main", berth_store::RegistryKind::Hosted)
        .await?;
    let owner = meta
        .create_user("scale-owner", Some("Scale Owner"), None, false)
        .await?;
    // 64 real .crate files: versions refer to them round-robin, so that
    // `berth blobs verify` and downloads mean something.
    let mut stored = Vec::new();
    for i in 0..64 {
        let bytes = make_crate(&format!("scale-blob-{i}"), "1.0.0", 1);
        let sha = hex::encode(Sha256::digest(&bytes));
        let size = bytes.len() as i64;
        blobs.put(&sha, bytes::Bytes::from(bytes)).await?;
        stored.push((sha, size));
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    let n = plan.names.len();
    let gen_plan = plan.clone();
    let generator = std::thread::spawn(move || {
        let mut busy = Duration::ZERO;
        let mut start = 0;
        while start < n {
            let end = (start + batch).min(n);
            let t = Instant::now();
            let crates = gen_plan.batch(start..end, &stored);
            busy += t.elapsed();
            if tx.blocking_send(crates).is_err() {
                break;
            }
            start = end;
        }
        busy
    });
    let t = Instant::now();
    let mut store_time = Duration::ZERO;
    let (mut rows, mut done_crates, mut shape) = (0u64, 0usize, Shape::default());
    let mut last_report = Instant::now();
    while let Some(crates) = rx.recv().await {
        crates
            .iter()
            .flat_map(|c| &c.versions)
            .for_each(|v| shape.add(v));
        let s = Instant::now();
        let versions = meta.bulk_load(registry_id, owner.id, &crates).await?;
        store_time += s.elapsed();
        rows += versions + 2 * crates.len() as u64;
        done_crates += crates.len();
        if last_report.elapsed() > Duration::from_secs(15) {
            last_report = Instant::now();
            eprintln!(
                "  loaded {done_crates}/{n} crates, {rows} rows in {:.0} s ({:.0} rows/s)",
                t.elapsed().as_secs_f64(),
                rows as f64 / t.elapsed().as_secs_f64()
            );
        }
    }
    let generate = generator.join().expect("generator thread");
    let load = t.elapsed();
    let f = Instant::now();
    meta.finish_bulk_load().await?;
    let finish = f.elapsed();
    meta.close().await;
    Ok(Loaded {
        load,
        store: store_time,
        generate,
        finish,
        rows,
        shape,
    })
}

/// `n` lookup paths of versions at random places of the main registry's
/// transparency log.
async fn lookup_paths(db_url: &str, n: usize, seed: u64) -> Result<Vec<String>> {
    use rand::Rng;
    let meta = MetaStore::connect(db_url, 2).await?;
    let reg = meta
        .ensure_registry("main", berth_store::RegistryKind::Hosted)
        .await?;
    let size = meta.log_tree(reg).await?.size;
    if size == 0 {
        bail!("the log is empty");
    }
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let mut paths = Vec::with_capacity(n);
    for _ in 0..n {
        let at = rng.random_range(0..size);
        for row in meta.log_records(reg, at, 1).await? {
            paths.push(format!("/r/main/log/lookup/{}/{}", row.name, row.vers));
        }
    }
    meta.close().await;
    Ok(paths)
}

/// Latency percentiles of `lat` (ms) over `elapsed`.
fn summarize(mut lat: Vec<f64>, errors: u64, elapsed: Duration) -> WrkResult {
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        lat.get(((lat.len().max(1) - 1) as f64 * p).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    WrkResult {
        requests: lat.len() as u64,
        per_second: lat.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        mib_per_second: 0.0,
        errors,
    }
}

/// How long a run of clients lasts.
#[derive(Clone, Copy)]
enum Until {
    /// Until the budget has passed, and at least this many requests.
    Budget(Duration, usize),
    /// Until request number `n` has been made (each index once).
    Count(usize),
}

/// Runs `clients` threads, each with its own HTTP client, making one
/// request at a time with `request(client, i)` (false or an error: counted
/// as an error) until `until`: latency percentiles over every request.
/// Client `c` starts at `i = c * 7919` under a budget, so that clients
/// spread over the paths; under a count the clients share one sequence.
fn drive<F>(clients: usize, until: Until, request: F) -> Result<WrkResult>
where
    F: Fn(&reqwest::blocking::Client, usize) -> Result<bool> + Sync,
{
    let start = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<(Vec<f64>, u64)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let (next, request) = (&next, &request);
                scope.spawn(move || -> Result<(Vec<f64>, u64)> {
                    let http = client()?;
                    let (mut lat, mut errors) = (Vec::new(), 0u64);
                    let mut own = c * 7919;
                    loop {
                        let i = match until {
                            Until::Budget(budget, min) => {
                                let made = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                if start.elapsed() >= budget && made >= min {
                                    break;
                                }
                                own += 1;
                                own - 1
                            }
                            Until::Count(n) => {
                                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                if i >= n {
                                    break;
                                }
                                i
                            }
                        };
                        let t = Instant::now();
                        match request(&http, i) {
                            Ok(true) => lat.push(t.elapsed().as_secs_f64() * 1000.0),
                            _ => errors += 1,
                        }
                    }
                    Ok((lat, errors))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("client thread panicked")))
            })
            .collect()
    });
    let elapsed = start.elapsed();
    let (mut lat, mut errors) = (Vec::new(), 0);
    for r in results {
        let (l, e) = r?;
        lat.extend(l);
        errors += e;
    }
    Ok(summarize(lat, errors, elapsed))
}

/// A GET of `base` + `path`, the body read: whether it succeeded.
fn get(http: &reqwest::blocking::Client, base: &str, path: &str) -> Result<bool> {
    let r = http.get(format!("{base}{path}")).send()?;
    let ok = r.status().is_success();
    r.bytes()?;
    Ok(ok)
}

/// Requests `paths` one at a time (no timeout, unlike wrk's 2 s) for
/// `budget`, and at least `min` times: the cost of one request alone.
fn sequential(base: &str, paths: &[String], budget: Duration, min: usize) -> Result<WrkResult> {
    drive(1, Until::Budget(budget, min), |http, i| {
        get(http, base, &paths[i % paths.len()])
    })
}

/// Requests `paths` from `clients` threads at once, each one request at a
/// time, for `budget`: latency percentiles over every request.
fn concurrent(base: &str, paths: &[String], clients: usize, budget: Duration) -> Result<WrkResult> {
    drive(clients, Until::Budget(budget, 0), |http, i| {
        get(http, base, &paths[i % paths.len()])
    })
}

/// Requests each of `paths` exactly once, from `clients` threads: the
/// first fetch of each file, before the server has it at hand.
fn each_once(base: &str, paths: &[String], clients: usize) -> Result<WrkResult> {
    drive(clients, Until::Count(paths.len()), |http, i| {
        get(http, base, &paths[i])
    })
}

/// `n` publishes of new `kib`-KiB crates from `clients` threads at once.
fn publishes(
    server: &Server,
    label: &str,
    n: usize,
    clients: usize,
    kib: usize,
) -> Result<WrkResult> {
    let token = berth_bench::user_token(server, "scale-publisher")?;
    let bodies: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let name = format!("scale-pub-{label}-{i}");
            berth_bench::publish_body(&name, "1.0.0", &make_crate(&name, "1.0.0", kib))
        })
        .collect();
    let url = format!("{}/r/main/api/v1/crates/new", server.url);
    drive(clients, Until::Count(n), |http, i| {
        let r = http
            .put(&url)
            .header("Authorization", &token)
            .body(bodies[i].clone())
            .send()?;
        Ok(r.status().is_success())
    })
}

/// Search latency by kind of query, one client and then
/// `args.search_clients` at once: reads named `search-KIND-1` and
/// `search-KIND-N`.
fn search_by_kind(
    args: &Args,
    label: &str,
    base: &str,
    plan: &Plan,
) -> Result<Vec<(String, usize, WrkResult)>> {
    let mut out = Vec::new();
    let budget = Duration::from_secs(args.search_seconds);
    for (kind, queries) in search_kinds(&plan.names, 500, args.seed + 31) {
        let paths: Vec<String> = queries
            .iter()
            .map(|q| format!("/r/main/api/v1/crates?q={q}&per_page=10"))
            .collect();
        for clients in [1, args.search_clients] {
            let r = concurrent(base, &paths, clients, budget)?;
            eprintln!(
                "[{label}] search {kind} x{clients}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, errors {}",
                r.per_second, r.p50_ms, r.p99_ms, r.errors
            );
            out.push((format!("search-{kind}-{clients}"), paths.len(), r));
        }
    }
    Ok(out)
}

/// Checks a few answers against the plan (not timed).
fn checks(server: &Server, http: &reqwest::blocking::Client, plan: &Plan) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let (biggest, &count) = plan
        .version_counts
        .iter()
        .enumerate()
        .max_by_key(|(_, &c)| c)
        .context("empty plan")?;
    let name = &plan.names[biggest];
    let url = format!(
        "{}/r/main/index/{}",
        server.url,
        berth_protocol::index_path(name)
    );
    let t = Instant::now();
    let r = http.get(&url).send()?;
    let status = r.status();
    let body = r.text()?;
    let first_ms = t.elapsed().as_secs_f64() * 1000.0;
    let lines = body.lines().count();
    let v2 = body.lines().filter(|l| l.contains("\"v\":2")).count();
    if !status.is_success() || lines != count as usize {
        bail!("index file of {name}: {status}, {lines} lines, expected {count}");
    }
    out.push(format!(
        "largest index file {name}: {lines} lines, {} KiB, {v2} lines with v:2, first fetch {first_ms:.1} ms",
        body.len() / 1024
    ));
    let r: serde_json::Value = http
        .get(format!(
            "{}/r/main/api/v1/crates?q={name}&per_page=10",
            server.url
        ))
        .send()?
        .json()?;
    let first = r["crates"][0]["name"].as_str().unwrap_or_default();
    if first != name {
        bail!("search for {name} found {first} first");
    }
    out.push(format!(
        "search `{name}`: exact match first, {} matches in all",
        r["meta"]["total"]
    ));
    let verify = cli(server, &["blobs", "verify"])?;
    out.push(format!("berth blobs verify: {}", verify.trim()));
    Ok(out)
}

fn measure(
    args: &Args,
    berth: &Path,
    rt: &tokio::runtime::Runtime,
    label: &str,
    plan: Plan,
) -> Result<Run> {
    let http = client()?;
    let crates = plan.names.len();
    let plan = std::sync::Arc::new(plan);
    eprintln!("[{label}] {crates} crates: {}", plan.spread());
    // The first start creates the schema and the registry; then the server
    // stops so that the bulk load is the only writer.
    let mut server = start_server(berth, &args.backend, Duration::from_secs(300))?;
    server.kill();
    let db_url = server.stores.database_url();
    eprintln!(
        "[{label}] bulk loading into {}...",
        berth_store::redact(&db_url)
    );
    let loaded = rt.block_on(load(
        plan.clone(),
        &db_url,
        &server.stores.storage_url(),
        args.batch,
    ))?;
    eprintln!(
        "[{label}] loaded {} rows in {:.1} s (store {:.1} s, generator {:.1} s), finish {:.1} s",
        loaded.rows,
        loaded.load.as_secs_f64(),
        loaded.store.as_secs_f64(),
        loaded.generate.as_secs_f64(),
        loaded.finish.as_secs_f64()
    );
    eprintln!("[{label}] {}", loaded.shape.describe(plan.total_versions));
    let db_mib = database_mib(&server, &db_url);

    let startup = server
        .respawn()
        .map_err(|log| anyhow!("berth serve did not start: {log}"))?;
    let (listening, ready) = (startup.listening, startup.ready);
    std::thread::sleep(Duration::from_millis(500));
    let (rss_idle, _) = rss_mib(&server);
    eprintln!(
        "[{label}] serving at {} after {:.0} ms (ready {:.0} ms), idle RSS {rss_idle:.1} MiB",
        server.url,
        listening.as_secs_f64() * 1000.0,
        ready.as_secs_f64() * 1000.0
    );
    let checks = checks(&server, &http, &plan)?;
    for c in &checks {
        eprintln!("[{label}] {c}");
    }
    let mut run = Run {
        label: label.to_string(),
        crates,
        versions: plan.total_versions,
        spread: plan.spread(),
        load_secs: loaded.load.as_secs_f64(),
        store_secs: loaded.store.as_secs_f64(),
        generate_secs: loaded.generate.as_secs_f64(),
        finish_secs: loaded.finish.as_secs_f64(),
        rows: loaded.rows,
        shape: loaded.shape,
        db_mib,
        listen_ms: listening.as_secs_f64() * 1000.0,
        ready_ms: ready.as_secs_f64() * 1000.0,
        rss_idle,
        rss_after_index: rss_idle,
        rss_after: 0.0,
        rss_peak: 0.0,
        reads: Vec::new(),
        checks,
    };

    let mut rng = rand::rngs::SmallRng::seed_from_u64(args.seed + 17);
    let mut order: Vec<usize> = (0..crates).collect();
    order.shuffle(&mut rng);
    let index_paths = |n: usize| -> Vec<String> {
        order[..n.min(crates)]
            .iter()
            .map(|&i| {
                format!(
                    "/r/main/index/{}",
                    berth_protocol::index_path(&plan.names[i])
                )
            })
            .collect()
    };
    let dir = tempfile::Builder::new().prefix("berth-scale-").tempdir()?;
    let mut reads = Vec::new();
    if args.search_only {
        reads.extend(search_by_kind(args, label, &server.url, &plan)?);
        return Ok(run.finished(&server, reads));
    }
    let run_wrk_rounds = |what: &str,
                          paths: Vec<String>,
                          connections: u32,
                          rounds: usize|
     -> Result<(String, usize, WrkResult)> {
        let script = dir.path().join(format!("{what}.lua"));
        write_lua(&script, &paths)?;
        eprintln!("[{label}] wrk {what} ({} distinct paths)...", paths.len());
        let mut results = Vec::new();
        for round in 1..=rounds.max(1) {
            let r = Wrk {
                url: &server.url,
                threads: args.threads.min(connections),
                connections,
                seconds: args.seconds,
                headers: vec![],
                script: Some(&script),
                under: Vec::new(),
            }
            .run()?;
            let of = if rounds > 1 {
                format!(" (round {round} of {rounds})")
            } else {
                String::new()
            };
            eprintln!(
                "[{label}]   {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, errors {}{of}",
                r.per_second, r.p50_ms, r.p99_ms, r.errors
            );
            results.push(r);
        }
        results.sort_by(|a, b| a.p99_ms.total_cmp(&b.p99_ms));
        let median = results.swap_remove(results.len() / 2);
        Ok((what.to_string(), paths.len(), median))
    };
    let run_wrk = |what: &str, paths: Vec<String>, connections: u32| {
        run_wrk_rounds(what, paths, connections, 1)
    };
    // Lookups with proofs at random places of the log, one client and
    // many.
    let log_reads = || -> Result<Vec<(String, usize, WrkResult)>> {
        let paths = rt.block_on(lookup_paths(&db_url, args.log_lookups, args.seed + 41))?;
        Ok(vec![
            run_wrk_rounds("log-lookup-1conn", paths.clone(), 1, args.rounds)?,
            run_wrk_rounds("log-lookup", paths, args.connections, args.rounds)?,
        ])
    };
    if args.log_only {
        reads.extend(log_reads()?);
        return Ok(run.finished(&server, reads));
    }
    // The working set's first fetches, which read each file from the
    // database; then the working set in steady state, served from memory.
    let working_set = index_paths(args.index_paths);
    eprintln!(
        "[{label}] first fetch of each of {} index files ({} clients)...",
        working_set.len(),
        args.connections
    );
    let first = each_once(&server.url, &working_set, args.connections as usize)?;
    eprintln!(
        "[{label}]   {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, errors {}",
        first.per_second, first.p50_ms, first.p99_ms, first.errors
    );
    reads.push(("index-first".to_string(), working_set.len(), first));
    reads.push(run_wrk_rounds(
        "index",
        working_set,
        args.connections,
        args.rounds,
    )?);
    if crates > args.small_crates {
        // The small registry's working set on the large registry.
        reads.push(run_wrk_rounds(
            "index-small-set",
            index_paths(args.small_crates),
            args.connections,
            args.rounds,
        )?);
    }
    let (rss_after_index, _) = rss_mib(&server);
    let queries: Vec<String> = search_queries(&plan.names, 1000, args.seed + 29)
        .into_iter()
        .map(|q| format!("/r/main/api/v1/crates?q={q}&per_page=10"))
        .collect();
    eprintln!("[{label}] searches one at a time...");
    let r = sequential(
        &server.url,
        &queries,
        Duration::from_secs(args.seconds.into()),
        20,
    )?;
    eprintln!(
        "[{label}]   {:.1} req/s, p50 {:.2} ms, p99 {:.2} ms, errors {}",
        r.per_second, r.p50_ms, r.p99_ms, r.errors
    );
    reads.push(("search-sequential".to_string(), queries.len(), r));
    reads.push(run_wrk("search", queries, args.search_connections)?);
    reads.extend(log_reads()?);
    reads.extend(search_by_kind(args, label, &server.url, &plan)?);
    if args.publishes > 0 {
        eprintln!(
            "[{label}] {} publishes of {} KiB crates, {} clients...",
            args.publishes, args.publish_kib, args.publish_clients
        );
        let r = publishes(
            &server,
            label,
            args.publishes,
            args.publish_clients,
            args.publish_kib,
        )?;
        eprintln!(
            "[{label}]   {:.0} publishes/s, p50 {:.2} ms, p99 {:.2} ms, errors {}",
            r.per_second, r.p50_ms, r.p99_ms, r.errors
        );
        reads.push(("publish".to_string(), args.publishes, r));
    }
    run.rss_after_index = rss_after_index;
    Ok(run.finished(&server, reads))
}

fn print_table(backend: &str, runs: &[Run]) {
    println!("\nberth-scale on {backend}");
    println!(
        "{:<7} {:>8} {:>9} {:>8} {:>10} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8}",
        "reg",
        "crates",
        "versions",
        "load_s",
        "rows/s",
        "db_MiB",
        "ready_ms",
        "rss_idle",
        "rss_idx",
        "rss_end",
        "rss_peak"
    );
    for r in runs {
        println!(
            "{:<7} {:>8} {:>9} {:>8.1} {:>10.0} {:>9.1} {:>9.0} {:>8.1} {:>8.1} {:>8.1} {:>8.1}",
            r.label,
            r.crates,
            r.versions,
            r.load_secs,
            r.rows as f64 / r.load_secs,
            r.db_mib,
            r.ready_ms,
            r.rss_idle,
            r.rss_after_index,
            r.rss_after,
            r.rss_peak
        );
    }
    println!(
        "\n{:<7} {:<16} {:>7} {:>10} {:>9} {:>9} {:>7}",
        "reg", "what", "paths", "req/s", "p50_ms", "p99_ms", "errors"
    );
    for r in runs {
        for (what, n, w) in &r.reads {
            println!(
                "{:<7} {:<16} {:>7} {:>10.0} {:>9.2} {:>9.2} {:>7}",
                r.label, what, n, w.per_second, w.p50_ms, w.p99_ms, w.errors
            );
        }
    }
}

fn ratios(runs: &[Run]) -> serde_json::Value {
    let (Some(small), Some(large)) = (
        runs.iter().find(|r| r.label == "small"),
        runs.iter().find(|r| r.label == "large"),
    ) else {
        return json!({});
    };
    let mut out = serde_json::Map::new();
    for (key, large_what) in [
        ("index", "index"),
        ("index_first", "index-first"),
        ("index_small_set", "index-small-set"),
        ("publish", "publish"),
        ("search", "search"),
        ("search_sequential", "search-sequential"),
    ] {
        let small_what = if large_what == "index-small-set" {
            "index"
        } else {
            large_what
        };
        if let (Some(l), Some(s)) = (large.read(large_what), small.read(small_what)) {
            out.insert(
                key.into(),
                json!({ "p50": l.p50_ms / s.p50_ms, "p99": l.p99_ms / s.p99_ms,
                        "rps": l.per_second / s.per_second }),
            );
        }
    }
    for (what, l) in large.reads.iter().map(|(w, _, r)| (w, r)) {
        if let (Some(kind), Some(s)) = (what.strip_prefix("search-"), small.read(what)) {
            if kind.contains('-') {
                out.insert(
                    what.replace('-', "_"),
                    json!({ "p50": l.p50_ms / s.p50_ms, "p99": l.p99_ms / s.p99_ms,
                            "large_p99_ms": l.p99_ms }),
                );
            }
        }
    }
    out.insert("ready_ms".into(), json!(large.ready_ms / small.ready_ms));
    out.insert("rss_idle".into(), json!(large.rss_idle / small.rss_idle));
    out.insert("rss_peak".into(), json!(large.rss_peak / small.rss_peak));
    serde_json::Value::Object(out)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let berth = berth_bench::berth_binary(args.berth.as_deref())?;
    let rt = berth_bench::runtime()?;
    eprintln!(
        "planning {} crates, {} versions...",
        args.crates, args.versions
    );
    let large = Plan::new(args.crates, args.versions, args.seed);
    // The small registry holds crates shaped like the large one's (its
    // quantiles of versions per crate): the two serve files of the same
    // sizes, so that what differs is the size of the registry.
    let small = large.quantile_sample(args.small_crates);
    // One after the other: the two runs should not compete.
    let runs = vec![
        measure(&args, &berth, &rt, "small", small)?,
        measure(&args, &berth, &rt, "large", large)?,
    ];
    print_table(&args.backend, &runs);
    let ratios = ratios(&runs);
    println!("\nlarge / small:");
    for (k, v) in ratios.as_object().into_iter().flatten() {
        println!("  {k:<16} {v}");
    }
    if let Some(path) = &args.json {
        let json = json!({
            "backend": args.backend,
            "seconds": args.seconds,
            "threads": args.threads,
            "connections": args.connections,
            "search_connections": args.search_connections,
            "runs": runs.iter().map(Run::to_json).collect::<Vec<_>>(),
            "ratios": ratios,
        });
        std::fs::write(path, serde_json::to_string_pretty(&json)?)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
