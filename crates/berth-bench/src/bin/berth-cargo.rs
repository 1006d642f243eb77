//! `berth-cargo`: what cargo feels. Publishes a synthetic dependency
//! closure (by default 300 crates in a DAG, 1-4 versions each, caret
//! requirements, small `.crate` files) to a real `berth serve` on fresh
//! stores, copies the same index files and `.crate` files to disk for nginx
//! (the reference static server), then times the real `cargo` on a project
//! whose dependencies close over every crate: `cargo generate-lockfile`
//! with an empty cargo home, then `cargo fetch` with the index cached but no
//! crate downloaded. Rounds alternate between Berth and nginx (B N N B B
//! N ..., so that a drift over the run weighs on both alike), each on a
//! fresh cargo home after a `sync`, and each is checked (every crate locked
//! at its newest version, every `.crate` downloaded): a broken round stops
//! the run. Prints each round, the medians and their ratio (nginx time /
//! Berth time), and the CPU time the server used in each round (a figure
//! less shaken by a busy machine than wall time), and writes JSON.
//!
//! It is a measuring tool, not a test: it asserts nothing about speed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use berth_bench::nginx::Nginx;
use berth_bench::{cpu_seconds, start_server_under, Pin, Server};
use berth_testkit::{dependency, PublishBuilder, TarballBuilder};
use clap::Parser;
use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};
use serde_json::json;

/// The registry's name in the cargo config of every round.
const REGISTRY: &str = "bench";

/// Time `cargo generate-lockfile` and `cargo fetch` against Berth and nginx.
#[derive(Parser, Debug)]
struct Args {
    /// The berth binary [default: `berth` next to this executable].
    #[arg(long)]
    berth: Option<PathBuf>,
    /// The cargo binary [default: $CARGO, else the toolchain's own cargo
    /// (`rustup which cargo`), else `cargo` on the PATH].
    #[arg(long)]
    cargo: Option<PathBuf>,
    /// sqlite or postgres-s3 (the latter needs PostgreSQL at
    /// BERTH_TEST_PG_URL and the variables scripts/garage.sh prints).
    #[arg(long, default_value = "sqlite")]
    backend: String,
    /// Crates in the dependency closure.
    #[arg(long, default_value_t = 300)]
    crates: usize,
    /// Crates the project depends on directly (the newest ones; every other
    /// crate has a dependent, so the closure is every crate).
    #[arg(long, default_value_t = 20)]
    roots: usize,
    /// Most dependencies of one crate (each has 0 to this many, on earlier
    /// crates, plus any needed to give every crate a dependent).
    #[arg(long, default_value_t = 6)]
    max_deps: usize,
    /// Most versions of one crate (each has 1 to this many).
    #[arg(long, default_value_t = 4)]
    max_versions: usize,
    /// Incompressible data in each `.crate`, in KiB.
    #[arg(long, default_value_t = 3)]
    crate_kib: usize,
    /// Rounds on each server (alternating: Berth, nginx, nginx, Berth,
    /// Berth, nginx, ...). A round takes well under a second; with five,
    /// one slow round on a shared VM still moved a median by 5%.
    #[arg(long, default_value_t = 9)]
    rounds: usize,
    /// Seed of the generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write the results as JSON here too.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Where each round's cargo home is made [default: /dev/shm when it is
    /// a writable directory, else the system's temporary directory].
    /// `cargo fetch` unpacks every crate into the cargo home; on a disk,
    /// creating files grows slower from round to round as earlier rounds'
    /// files are deleted (seen on ext4 with online discard, with no server
    /// involved), which weighs on whichever rounds come later.
    #[arg(long)]
    homes_in: Option<PathBuf>,
    /// Pinned mode: each server alone on core SERVER (Berth started under
    /// `taskset -c SERVER`, so it runs one runtime thread; nginx with one
    /// worker under the same mask) and cargo alone on core LOAD.
    #[arg(long, value_name = "SERVER,LOAD")]
    pin: Option<String>,
}

/// Where cargo homes are made: see [`Args::homes_in`].
fn homes_dir(given: Option<&Path>) -> PathBuf {
    if let Some(p) = given {
        return p.to_path_buf();
    }
    let shm = Path::new("/dev/shm");
    let writable = tempfile::Builder::new()
        .prefix("berth-cargo-probe-")
        .tempdir_in(shm)
        .is_ok();
    if writable {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// One crate of the closure.
struct Krate {
    name: String,
    /// Published in this order; the last is the newest.
    versions: Vec<String>,
    /// Earlier crates (by position) and the caret requirement on each.
    deps: Vec<(usize, String)>,
}

impl Krate {
    fn newest(&self) -> &str {
        self.versions.last().expect("at least one version")
    }
}

/// The closure, in publish order: each crate depends only on earlier ones.
struct Closure {
    crates: Vec<Krate>,
    /// What the project depends on directly.
    roots: Vec<usize>,
}

impl Closure {
    /// A random DAG of `args.crates` crates whose last `args.roots` crates
    /// reach every other one.
    fn generate(args: &Args) -> Result<Closure> {
        let n = args.crates;
        if n == 0 || args.roots == 0 || args.roots > n || args.max_versions == 0 {
            bail!("need 1 <= --roots <= --crates and --max-versions >= 1");
        }
        let mut rng = SmallRng::seed_from_u64(args.seed);
        let versions: Vec<usize> = (0..n)
            .map(|_| rng.random_range(1..=args.max_versions))
            .collect();
        let mut deps: Vec<Vec<usize>> = vec![Vec::new(); n];
        // Every crate below the roots gets a later dependent.
        for j in 0..n - args.roots {
            let parent = pick_parent(&mut rng, &deps, j, args.max_deps);
            deps[parent].push(j);
        }
        for (i, list) in deps.iter_mut().enumerate() {
            let want = rng.random_range(0..=args.max_deps).min(i);
            while list.len() < want {
                let d = rng.random_range(0..i);
                if !list.contains(&d) {
                    list.push(d);
                }
            }
            list.sort_unstable();
        }
        let crates = (0..n)
            .map(|i| Krate {
                name: format!("feel-{i:04}"),
                versions: (0..versions[i]).map(|m| format!("1.{m}.0")).collect(),
                deps: deps[i]
                    .iter()
                    .map(|&d| (d, format!("^1.{}", rng.random_range(0..versions[d]))))
                    .collect(),
            })
            .collect();
        Ok(Closure {
            crates,
            roots: (n - args.roots..n).collect(),
        })
    }

    fn versions(&self) -> usize {
        self.crates.iter().map(|k| k.versions.len()).sum()
    }

    fn edges(&self) -> usize {
        self.crates.iter().map(|k| k.deps.len()).sum()
    }

    /// `(name, newest version)` of every crate: what cargo must lock.
    fn expected_lock(&self) -> BTreeSet<(String, String)> {
        self.crates
            .iter()
            .map(|k| (k.name.clone(), k.newest().to_string()))
            .collect()
    }
}

/// A crate after `j` to depend on `j`: one at random with room for another
/// dependency if there is one, else any.
fn pick_parent(rng: &mut SmallRng, deps: &[Vec<usize>], j: usize, max_deps: usize) -> usize {
    let n = deps.len();
    for _ in 0..16 {
        let p = rng.random_range(j + 1..n);
        if deps[p].len() < max_deps {
            return p;
        }
    }
    (j + 1..n)
        .find(|&p| deps[p].len() < max_deps)
        .unwrap_or_else(|| rng.random_range(j + 1..n))
}

/// The `Cargo.toml` inside a `.crate`: its dependencies as the index lists
/// them (the same registry, so no `registry` key).
fn manifest(closure: &Closure, k: &Krate, vers: &str) -> String {
    let mut s = format!(
        "[package]\nname = \"{}\"\nversion = \"{vers}\"\nedition = \"2021\"\n\
         description = \"benchmark crate\"\nlicense = \"MIT\"\n\n[dependencies]\n",
        k.name
    );
    for (d, req) in &k.deps {
        s.push_str(&format!("{} = \"{req}\"\n", closure.crates[*d].name));
    }
    s
}

/// A valid package: its manifest, `src/lib.rs` and `kib` KiB of random
/// data.
fn crate_file(closure: &Closure, k: &Krate, vers: &str, kib: usize, rng: &mut SmallRng) -> Vec<u8> {
    let root = format!("{}-{vers}", k.name);
    let mut data = vec![0u8; kib * 1024];
    rng.fill_bytes(&mut data);
    TarballBuilder::new()
        .file(
            &format!("{root}/Cargo.toml"),
            manifest(closure, k, vers).as_bytes(),
        )
        .file(
            &format!("{root}/src/lib.rs"),
            b"pub fn answer() -> u32 {\n    42\n}\n",
        )
        .file(&format!("{root}/data.bin"), &data)
        .gz()
}

/// A published `.crate`: where nginx serves it from, and its bytes.
struct Published {
    name: String,
    vers: String,
    bytes: Vec<u8>,
}

/// Publishes every version of every crate, in order; the `.crate` files.
fn publish_all(
    server: &Server,
    token: &str,
    closure: &Closure,
    args: &Args,
) -> Result<Vec<Published>> {
    let client = reqwest::blocking::Client::new();
    let mut rng = SmallRng::seed_from_u64(args.seed.wrapping_add(1));
    let mut out = Vec::with_capacity(closure.versions());
    for k in &closure.crates {
        for vers in &k.versions {
            let bytes = crate_file(closure, k, vers, args.crate_kib, &mut rng);
            let mut body = PublishBuilder::new(&k.name, vers).description("benchmark crate");
            for (d, req) in &k.deps {
                body = body.dependency(dependency(&closure.crates[*d].name, req));
            }
            let r = client
                .put(format!("{}/r/main/api/v1/crates/new", server.url))
                .header("Authorization", token)
                .body(body.tarball(bytes.clone()).body())
                .send()?;
            if !r.status().is_success() {
                bail!("publish {}@{vers}: {} {}", k.name, r.status(), r.text()?);
            }
            out.push(Published {
                name: k.name.clone(),
                vers: vers.clone(),
                bytes,
            });
        }
    }
    Ok(out)
}

/// GETs `url`; its body, or an error unless 200.
fn get(client: &reqwest::blocking::Client, url: &str) -> Result<Vec<u8>> {
    let r = client.get(url).send()?;
    if r.status() != 200 {
        bail!("GET {url}: {}", r.status());
    }
    Ok(r.bytes()?.to_vec())
}

/// Lays out under `root` what Berth serves, for a static server: each index
/// file at `index/<path>` (fetched from Berth) and each `.crate` at
/// `crates/<name>/<name>-<version>.crate` (downloaded from Berth, and
/// checked to be the bytes published).
fn mirror(server: &Server, closure: &Closure, published: &[Published], root: &Path) -> Result<()> {
    let client = reqwest::blocking::Client::new();
    for k in &closure.crates {
        let path = berth_protocol::index_path(&k.name);
        let body = get(&client, &format!("{}/r/main/index/{path}", server.url))?;
        if String::from_utf8_lossy(&body).contains(&server.url) {
            bail!("the index file of {} names the server itself", k.name);
        }
        write_file(&root.join("index").join(path), &body)?;
    }
    for p in published {
        let url = format!(
            "{}/r/main/api/v1/crates/{}/{}/download",
            server.url, p.name, p.vers
        );
        let body = get(&client, &url)?;
        if body != p.bytes {
            bail!(
                "{}@{} downloads other bytes than were published",
                p.name,
                p.vers
            );
        }
        write_file(&static_crate_path(root, &p.name, &p.vers), &body)?;
    }
    Ok(())
}

/// The directory a copy of what Berth serves is laid out in (see
/// [`mirror`]), and nginx serving it (bind them in this order, so that nginx
/// stops before the directory is removed).
fn static_copy(
    server: &Server,
    closure: &Closure,
    published: &[Published],
    pin: Option<Pin>,
) -> Result<(tempfile::TempDir, Nginx)> {
    let root = tempfile::Builder::new()
        .prefix("berth-cargo-static-")
        .tempdir()?;
    mirror(server, closure, published, root.path())?;
    let nginx = match pin {
        Some(_) => Nginx::start_under(root.path(), 1, &Pin::server_under(pin))?,
        None => Nginx::start(root.path())?,
    };
    write_static_config(root.path(), &nginx.url)?;
    Ok((root, nginx))
}

/// Where the static copy keeps a `.crate` (the `dl` template of
/// [`write_static_config`] names the same place).
fn static_crate_path(root: &Path, name: &str, vers: &str) -> PathBuf {
    root.join("crates")
        .join(name)
        .join(format!("{name}-{vers}.crate"))
}

/// The static index's `config.json`, its downloads on the static server.
fn write_static_config(root: &Path, base: &str) -> Result<()> {
    let config = json!({ "dl": format!("{base}/crates/{{crate}}/{{crate}}-{{version}}.crate") });
    write_file(
        &root.join("index/config.json"),
        config.to_string().as_bytes(),
    )
}

fn write_file(path: &Path, body: &[u8]) -> Result<()> {
    std::fs::create_dir_all(path.parent().context("no parent")?)?;
    std::fs::write(path, body).with_context(|| format!("write {}", path.display()))
}

/// The project: a library depending on the roots of the closure, from the
/// registry [`REGISTRY`] (whichever server a round's config names).
fn write_project(dir: &Path, closure: &Closure) -> Result<()> {
    let mut toml = String::from(
        "[package]\nname = \"feel-project\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\
         publish = false\n\n[workspace]\n\n[dependencies]\n",
    );
    for &r in &closure.roots {
        toml.push_str(&format!(
            "{} = {{ version = \"^1\", registry = \"{REGISTRY}\" }}\n",
            closure.crates[r].name
        ));
    }
    write_file(&dir.join("Cargo.toml"), toml.as_bytes())?;
    write_file(&dir.join("src/lib.rs"), b"")
}

/// A fresh cargo home whose config names `index_url` as [`REGISTRY`].
fn cargo_home(index_url: &str, homes: &Path) -> Result<tempfile::TempDir> {
    let home = tempfile::Builder::new()
        .prefix("berth-cargo-home-")
        .tempdir_in(homes)?;
    let config = format!(
        "[registries.{REGISTRY}]\nindex = \"{index_url}\"\ncredential-provider = [\"cargo:token\"]\n\n\
         [net]\nretry = 0\n\n[term]\ncolor = \"never\"\n"
    );
    write_file(&home.path().join("config.toml"), config.as_bytes())?;
    Ok(home)
}

/// The cargo binary to run: see [`Args::cargo`].
fn cargo_binary(given: Option<&Path>) -> PathBuf {
    if let Some(p) = given {
        return p.to_path_buf();
    }
    if let Some(c) = std::env::var_os("CARGO") {
        return c.into();
    }
    let rustup = Command::new("rustup").args(["which", "cargo"]).output();
    match rustup {
        Ok(out) if out.status.success() => {
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
        }
        _ => "cargo".into(),
    }
}

/// Runs `cargo <args>` in `project` with only `home`'s configuration (no
/// registry, HTTP or network settings from the environment, no retries);
/// how long it took. Fails, with cargo's output, unless cargo succeeds.
fn time_cargo(
    cargo: &Path,
    under: &[String],
    project: &Path,
    home: &Path,
    args: &[&str],
) -> Result<Duration> {
    let mut cmd = berth_testkit::stores::command_under(under, cargo);
    cmd.current_dir(project)
        .args(args)
        .env("CARGO_HOME", home)
        .env("CARGO_TARGET_DIR", project.join("target"))
        .env("CARGO_TERM_COLOR", "never")
        .stdin(std::process::Stdio::null());
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if ["CARGO_REGISTR", "CARGO_HTTP_", "CARGO_NET_", "CARGO_BUILD_"]
            .iter()
            .any(|p| k.starts_with(p))
        {
            cmd.env_remove(&*k);
        }
    }
    cmd.env("CARGO_NET_RETRY", "0");
    let start = Instant::now();
    let out = cmd.output().context("running cargo")?;
    let took = start.elapsed();
    if !out.status.success() {
        bail!(
            "cargo {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(took)
}

/// The registry packages `Cargo.lock` locks from `source`: `(name, version)`.
fn locked(project: &Path, source: &str) -> Result<BTreeSet<(String, String)>> {
    let lock = std::fs::read_to_string(project.join("Cargo.lock")).context("no Cargo.lock")?;
    let value = |block: &str, key: &str| {
        block.lines().find_map(|l| {
            l.strip_prefix(&format!("{key} = \""))
                .and_then(|v| v.strip_suffix('"'))
                .map(str::to_string)
        })
    };
    let mut out = BTreeSet::new();
    for block in lock.split("[[package]]").skip(1) {
        match value(block, "source") {
            Some(s) if s == source => {}
            Some(s) => bail!("Cargo.lock names another source: {s}"),
            None => continue,
        }
        let name = value(block, "name").context("a package without a name")?;
        let vers = value(block, "version").context("a package without a version")?;
        out.insert((name, vers));
    }
    Ok(out)
}

/// `.crate` files in the cargo home's download cache.
fn cached_crates(home: &Path) -> Result<usize> {
    let cache = home.join("registry/cache");
    if !cache.exists() {
        return Ok(0);
    }
    let mut n = 0;
    for dir in std::fs::read_dir(cache)? {
        for f in std::fs::read_dir(dir?.path())? {
            if f?.path().extension().is_some_and(|e| e == "crate") {
                n += 1;
            }
        }
    }
    Ok(n)
}

/// Registries the cargo home has an index cache for.
fn indexes(home: &Path) -> Result<usize> {
    Ok(std::fs::read_dir(home.join("registry/index"))?.count())
}

/// One server to measure: its name, sparse index URL and processes.
struct Target {
    server: &'static str,
    index_url: String,
    pids: Vec<u32>,
    /// What cargo runs under (see `--pin`).
    cargo_under: Vec<String>,
}

/// One round on one server.
struct Round {
    server: &'static str,
    round: usize,
    lockfile: Duration,
    fetch: Duration,
    /// CPU seconds the server used during both commands.
    server_cpu: f64,
}

impl Round {
    /// Seconds: generate-lockfile, fetch, both, the server's CPU.
    fn figures(&self) -> [f64; 4] {
        let (l, f) = (self.lockfile.as_secs_f64(), self.fetch.as_secs_f64());
        [l, f, l + f, self.server_cpu]
    }
}

/// One round: a fresh cargo home, no `Cargo.lock`, the disks synced;
/// `cargo generate-lockfile` then `cargo fetch`, each checked.
fn run_round(
    cargo: &Path,
    project: &Path,
    homes: &Path,
    closure: &Closure,
    t: &Target,
    round: usize,
) -> Result<Round> {
    let home = cargo_home(&t.index_url, homes)?;
    for stale in ["Cargo.lock", "target"] {
        let p = project.join(stale);
        if p.is_dir() {
            std::fs::remove_dir_all(&p)?;
        } else if p.exists() {
            std::fs::remove_file(&p)?;
        }
    }
    // Nothing of the previous round (its cargo home, removed) left to write.
    let _ = Command::new("sync").status();
    let cpu_before = cpu_seconds(&t.pids);
    let lockfile = time_cargo(
        cargo,
        &t.cargo_under,
        project,
        home.path(),
        &["generate-lockfile"],
    )?;
    let want = closure.expected_lock();
    let got = locked(project, &t.index_url)?;
    if got != want {
        let missing: Vec<_> = want.difference(&got).take(5).collect();
        let extra: Vec<_> = got.difference(&want).take(5).collect();
        bail!(
            "{} round {round}: Cargo.lock locks {} packages, not the {} expected \
             (missing e.g. {missing:?}, unexpected e.g. {extra:?})",
            t.server,
            got.len(),
            want.len()
        );
    }
    let before = cached_crates(home.path())?;
    if before != 0 {
        bail!(
            "{} round {round}: generate-lockfile downloaded {before} crates",
            t.server
        );
    }
    let fetch = time_cargo(cargo, &t.cargo_under, project, home.path(), &["fetch"])?;
    let server_cpu = cpu_seconds(&t.pids) - cpu_before;
    let fetched = cached_crates(home.path())?;
    if fetched != closure.crates.len() {
        bail!(
            "{} round {round}: cargo fetch left {fetched} .crate files, not {}",
            t.server,
            closure.crates.len()
        );
    }
    let registries = indexes(home.path())?;
    if registries != 1 {
        bail!(
            "{} round {round}: cargo used {registries} registries, not 1",
            t.server
        );
    }
    Ok(Round {
        server: t.server,
        round,
        lockfile,
        fetch,
        server_cpu,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Medians of one server's [`Round::figures`].
fn medians(rounds: &[Round], server: &str) -> [f64; 4] {
    let of_server: Vec<[f64; 4]> = rounds
        .iter()
        .filter(|r| r.server == server)
        .map(Round::figures)
        .collect();
    std::array::from_fn(|i| median(of_server.iter().map(|f| f[i]).collect()))
}

fn print_row(label: &str, server: &str, v: [f64; 4]) {
    println!(
        "{label:<8} {server:<6} {:>18.3} {:>10.3} {:>10.3} {:>11.3}",
        v[0], v[1], v[2], v[3]
    );
}

/// Prints the rounds, medians and ratios; the JSON summary.
fn report(rounds: &[Round]) -> serde_json::Value {
    println!(
        "{:<8} {:<6} {:>18} {:>10} {:>10} {:>11}",
        "round", "server", "generate-lockfile", "fetch", "both", "server-cpu"
    );
    for r in rounds {
        print_row(&r.round.to_string(), r.server, r.figures());
    }
    let berth = medians(rounds, "berth");
    let nginx = medians(rounds, "nginx");
    print_row("median", "berth", berth);
    print_row("median", "nginx", nginx);
    let ratio: [f64; 4] = std::array::from_fn(|i| nginx[i] / berth[i]);
    println!(
        "{:<15} {:>17.2}x {:>9.2}x {:>9.2}x {:>10.2}x   (>= 1.0: Berth no slower)",
        "nginx / berth", ratio[0], ratio[1], ratio[2], ratio[3]
    );
    let seconds = |v: [f64; 4]| named(v, "_s");
    json!({
        "rounds": rounds.iter().map(|r| {
            let mut o = seconds(r.figures());
            o["server"] = json!(r.server);
            o["round"] = json!(r.round);
            o
        }).collect::<Vec<_>>(),
        "median": { "berth": seconds(berth), "nginx": seconds(nginx) },
        "ratio_nginx_over_berth": named(ratio, ""),
    })
}

/// A JSON object of [`Round::figures`]-shaped values, keys ending in
/// `suffix`.
fn named(v: [f64; 4], suffix: &str) -> serde_json::Value {
    let keys = ["generate_lockfile", "fetch", "both", "server_cpu"];
    serde_json::Value::Object(
        keys.iter()
            .zip(v)
            .map(|(k, x)| (format!("{k}{suffix}"), json!(x)))
            .collect(),
    )
}

fn main() -> Result<()> {
    let args = Args::parse();
    let berth = berth_bench::berth_binary(args.berth.as_deref())?;
    let cargo = cargo_binary(args.cargo.as_deref());
    let closure = Closure::generate(&args)?;
    let pin = args.pin.as_deref().map(Pin::parse).transpose()?;
    let server = start_server_under(
        &berth,
        &args.backend,
        Duration::from_secs(30),
        "",
        &Pin::server_under(pin),
    )?;
    let token = berth_bench::user_token(&server, "bench")?;
    eprintln!(
        "publishing {} crates ({} versions, {} dependency edges) to berth ({})...",
        closure.crates.len(),
        closure.versions(),
        closure.edges(),
        args.backend
    );
    let start = Instant::now();
    let published = publish_all(&server, &token, &closure, &args)?;
    let crate_bytes: usize = published.iter().map(|p| p.bytes.len()).sum();
    eprintln!("published in {:.1} s", start.elapsed().as_secs_f64());

    let (_static_root, nginx) = static_copy(&server, &closure, &published, pin)?;
    let project = tempfile::Builder::new()
        .prefix("berth-cargo-project-")
        .tempdir()?;
    write_project(project.path(), &closure)?;
    let targets = [
        Target {
            server: "berth",
            index_url: server.index_url("main"),
            pids: vec![server.pid()],
            cargo_under: Pin::load_under(pin),
        },
        Target {
            server: "nginx",
            index_url: format!("sparse+{}/index/", nginx.url),
            pids: nginx.pids(),
            cargo_under: Pin::load_under(pin),
        },
    ];
    println!(
        "berth ({}) and nginx; {} crates ({} versions, {} edges, {:.1} MiB of .crate files), \
         {} direct dependencies; {}; seconds",
        args.backend,
        closure.crates.len(),
        closure.versions(),
        closure.edges(),
        crate_bytes as f64 / (1024.0 * 1024.0),
        closure.roots.len(),
        cargo.display(),
    );
    let homes = homes_dir(args.homes_in.as_deref());
    eprintln!("cargo homes in {}", homes.display());
    let mut rounds = Vec::new();
    for round in 1..=args.rounds {
        // Berth first in odd rounds, nginx first in even ones (B N N B B N
        // ...): a drift over the run weighs on both alike.
        let mut order: Vec<&Target> = targets.iter().collect();
        if round % 2 == 0 {
            order.reverse();
        }
        for t in order {
            eprintln!("round {round}: {}...", t.server);
            rounds.push(run_round(
                &cargo,
                project.path(),
                &homes,
                &closure,
                t,
                round,
            )?);
        }
    }
    let mut json = report(&rounds);
    json["setup"] = json!({
        "backend": args.backend, "crates": closure.crates.len(), "versions": closure.versions(),
        "edges": closure.edges(), "roots": closure.roots.len(), "crate_kib": args.crate_kib,
        "crate_bytes_total": crate_bytes, "seed": args.seed, "cargo": cargo.display().to_string(),
        "cargo_homes_in": homes.display().to_string(),
        "pin": pin.map(|p| json!({ "server_core": p.server, "load_core": p.load })),
    });
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&json)?)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
