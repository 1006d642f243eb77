//! Crashes and races against a real `berth serve`: SIGKILL in the middle of
//! concurrent writes (every acknowledged change survives, nothing is half
//! there), racing first publishes of one name under different spellings,
//! many crates at once, a yank/unyank storm on one version, and a blob store
//! that runs out of space.
//!
//! The serial-order model that judges the crash rounds is in
//! `crash_and_races/model.rs`.
//!
//! Randomness comes from a small splitmix64 generator seeded from the clock
//! (or `BERTH_TEST_CRASH_SEED`); the seed is printed so a failing script can be
//! replayed (the kill timing itself cannot be).
//!
//! Not checked here: the audit log. It has no HTTP endpoint, and reading it
//! would mean opening the database behind the server's back.

#[path = "crash_and_races/model.rs"]
mod model;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use berth_testkit::{
    crate_file, http, http_with_timeout, index_lines, index_path, send, sha256_hex, Compression,
    PublishBuilder, Reply, Server, Stores, TarballBuilder,
};
use insta::assert_snapshot;
use model::{check_recovered, run_client, ClientLog, CrashStats, CrateModel, Op};
use model::{CRASH_THREADS, CRATES_PER_THREAD};
use serde_json::{json, Value};

// ---------------------------------------------------------------- helpers

/// Crash rounds of `crash_consistency_under_sigkill` (`BERTH_TEST_CRASH_ROUNDS`;
/// the `BERTH_TEST_` prefix matters: `berth serve` inherits the test's
/// environment and refuses other unknown `BERTH_*` variables).
const DEFAULT_CRASH_ROUNDS: usize = 8;

fn crash_rounds() -> usize {
    std::env::var("BERTH_TEST_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CRASH_ROUNDS)
}

/// The seed for this run: `BERTH_TEST_CRASH_SEED`, else the clock.
fn seed(test: &str) -> u64 {
    let seed = std::env::var("BERTH_TEST_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("{test}: BERTH_TEST_CRASH_SEED={seed}");
    seed
}

/// splitmix64: small, fast, good enough to pick operations and delays.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

/// One HTTP client with a bounded timeout (a hung server fails the test
/// instead of hanging it).
fn client() -> reqwest::blocking::Client {
    http_with_timeout(Duration::from_secs(30))
}

fn publish(
    c: &reqwest::blocking::Client,
    url: &str,
    token: &str,
    name: &str,
    vers: &str,
    krate: &[u8],
) -> Result<Reply, reqwest::Error> {
    send(
        c.put(format!("{url}/r/main/api/v1/crates/new"))
            .header("Authorization", token)
            .body(
                PublishBuilder::new(name, vers)
                    .tarball(krate.to_vec())
                    .body(),
            ),
    )
}

fn set_yanked(
    c: &reqwest::blocking::Client,
    url: &str,
    token: &str,
    name: &str,
    vers: &str,
    yanked: bool,
) -> Result<Reply, reqwest::Error> {
    let req = if yanked {
        c.delete(format!("{url}/r/main/api/v1/crates/{name}/{vers}/yank"))
    } else {
        c.put(format!("{url}/r/main/api/v1/crates/{name}/{vers}/unyank"))
    };
    send(req.header("Authorization", token))
}

fn change_owner(
    c: &reqwest::blocking::Client,
    url: &str,
    token: &str,
    name: &str,
    login: &str,
    add: bool,
) -> Result<Reply, reqwest::Error> {
    let u = format!("{url}/r/main/api/v1/crates/{name}/owners");
    let req = if add { c.put(u) } else { c.delete(u) };
    send(
        req.header("Authorization", token)
            .header("Content-Type", "application/json")
            .body(json!({ "users": [login] }).to_string()),
    )
}

/// The index file of `name`: `None` on 404, its lines otherwise.
fn index_file(server: &Server, name: &str) -> Option<Vec<Value>> {
    let path = index_path(name);
    let r = server.get(&format!("/r/main/index/{path}"));
    match r.status().as_u16() {
        404 => None,
        200 => Some(
            r.text()
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
        ),
        s => panic!("index {path}: unexpected status {s}: {}", r.text().unwrap()),
    }
}

/// Downloads `name@vers` and returns the sha256 of the bytes (panics unless
/// the download succeeds).
#[track_caller]
fn download_sha(server: &Server, name: &str, vers: &str) -> String {
    let r = server.get(&format!("/r/main/api/v1/crates/{name}/{vers}/download"));
    assert_eq!(r.status().as_u16(), 200, "download {name}@{vers}");
    sha256_hex(&r.bytes().unwrap())
}

/// GETs `path` as JSON; fails the test unless it is served.
#[track_caller]
fn get_json(server: &Server, path: &str) -> Value {
    let r = server.get(path);
    assert_eq!(r.status().as_u16(), 200, "GET {path}");
    r.json().unwrap()
}

/// Runs `work` on `threads` threads that start it together, each with what
/// `prepare` made for it beforehand (off the clock); every thread's
/// results, in thread order.
fn all_at_once<P: Send, T: Send>(
    threads: usize,
    mut prepare: impl FnMut(usize) -> P,
    work: impl Fn(P) -> Vec<T> + Sync,
) -> Vec<T> {
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let input = prepare(t);
                let (barrier, work) = (&barrier, &work);
                s.spawn(move || {
                    barrier.wait();
                    work(input)
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

/// Search results for `q`: (total, name -> max_version).
fn search(server: &Server, q: &str) -> (i64, BTreeMap<String, Option<String>>) {
    let v = get_json(server, &format!("/r/main/api/v1/crates?q={q}&per_page=100"));
    let hits = v["crates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["name"].as_str().unwrap().to_string(),
                h["max_version"].as_str().map(str::to_string),
            )
        })
        .collect();
    (v["meta"]["total"].as_i64().unwrap(), hits)
}

#[test]
fn crash_consistency_under_sigkill() {
    let rounds = crash_rounds();
    let mut rng = Rng::new(seed("crash_consistency_under_sigkill"));
    let mut server = Server::start_on(Stores::new(), "");
    let mut models = vec![CrateModel::default(); CRASH_THREADS * CRATES_PER_THREAD];
    let mut in_flight: BTreeMap<usize, Op> = BTreeMap::new();
    let mut stats = CrashStats::default();
    let mut token = String::new();
    let started = Instant::now();
    for round in 0..=rounds {
        if round == 0 {
            token = server.user_with_token("alice");
            server.add_user("bob", false);
        } else {
            // Killed at the end of the last round; the same stores again.
            server.restart();
            check_recovered(&server, &mut models, &in_flight, &mut stats, round - 1);
        }
        if round == rounds {
            break;
        }
        in_flight.clear();
        let delay = Duration::from_millis(50 + rng.below(351));
        let barrier = Barrier::new(CRASH_THREADS + 1);
        let logs: Vec<ClientLog> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..CRASH_THREADS)
                .map(|t| {
                    let mine: BTreeMap<usize, CrateModel> = (0..CRATES_PER_THREAD)
                        .map(|i| {
                            let k = t * CRATES_PER_THREAD + i;
                            (k, models[k].clone())
                        })
                        .collect();
                    let client_rng = Rng::new(rng.next_u64());
                    let (url, token, barrier) = (server.url.clone(), &token, &barrier);
                    s.spawn(move || run_client(&url, token, mine, client_rng, round, barrier))
                })
                .collect();
            barrier.wait();
            std::thread::sleep(delay);
            server.kill();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for log in logs {
            assert!(
                log.refused.is_empty(),
                "round {round}: requests refused before the kill: {:#?}",
                log.refused
            );
            for op in &log.acked {
                op.apply(&mut models[op.krate()]);
                *stats.acked.entry(op.kind()).or_default() += 1;
            }
            if let Some((op, unsent, _)) = log.in_flight {
                *stats.in_flight.entry(op.kind()).or_default() += 1;
                stats.in_flight_unsent += usize::from(unsent);
                in_flight.insert(op.krate(), op);
            }
        }
    }
    eprintln!(
        "crash_consistency_under_sigkill: {rounds} rounds in {:.1?}: {stats:?}",
        started.elapsed()
    );
    let acked: usize = stats.acked.values().sum();
    assert!(
        rounds == 0 || acked > 0,
        "no operation was acknowledged in {rounds} rounds: {stats:?}"
    );
}

// ------------------------------------------------------------------- races

/// Eight spellings of one crate name: `-` or `_`, and four casings.
fn spellings(words: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for casing in 0..4 {
        for sep in ["-", "_"] {
            let parts: Vec<String> = words
                .iter()
                .map(|w| match casing {
                    0 => w.to_string(),
                    1 => w[..1].to_uppercase() + &w[1..],
                    2 => w.to_uppercase(),
                    _ => w[..1].to_string() + &w[1..].to_uppercase(),
                })
                .collect();
            out.push(parts.join(sep));
        }
    }
    out
}

#[test]
fn races_same_crate_name_different_spellings() {
    let (server, [token]) = Server::with_users(["alice"]);
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for round in 0..4 {
        let suffix = format!("r{round}");
        let names = spellings(&["foo", "bar", &suffix]);
        assert_eq!(names.iter().collect::<BTreeSet<_>>().len(), 8, "{names:?}");
        let krates: Vec<Vec<u8>> = names
            .iter()
            .map(|n| {
                crate_file(
                    n,
                    "1.0.0",
                    &format!("pub const SPELLING: &str = \"{n}\";\n"),
                )
            })
            .collect();
        let barrier = Barrier::new(names.len());
        let replies: Vec<Reply> = std::thread::scope(|s| {
            let handles: Vec<_> = names
                .iter()
                .zip(&krates)
                .map(|(name, krate)| {
                    let (url, token, barrier) = (&server.url, &token, &barrier);
                    s.spawn(move || {
                        let c = client();
                        barrier.wait();
                        publish(&c, url, token, name, "1.0.0", krate).expect("publish request")
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners: Vec<usize> = (0..names.len()).filter(|i| replies[*i].ok()).collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one spelling must win: {:?}",
            names.iter().zip(&replies).collect::<Vec<_>>()
        );
        let w = winners[0];
        let winner = &names[w];
        assert_eq!(replies[w].status, 200, "{:?}", replies[w]);
        for (i, r) in replies.iter().enumerate() {
            *statuses.entry(r.status).or_default() += 1;
            if i == w {
                continue;
            }
            assert!(
                (400..500).contains(&r.status),
                "round {round}: {} got {r:?} while {winner} won",
                names[i]
            );
            assert!(
                r.content_type().starts_with("application/json"),
                "{} got {r:?}",
                names[i]
            );
            let detail = r
                .detail()
                .unwrap_or_else(|| panic!("{}: no error detail in {r:?}", names[i]));
            assert!(!detail.is_empty(), "{}: empty detail", names[i]);
            if r.status == 400 {
                assert!(
                    detail.contains(&format!("previously named `{winner}`")),
                    "{}: {detail}",
                    names[i]
                );
            }
        }
        // The index holds the winner once, under its spelling.
        let lines = index_lines(&server, "main", &index_path(winner));
        assert_eq!(lines.len(), 1, "round {round}: {lines:?}");
        assert_eq!(lines[0]["name"], winner.as_str());
        assert_eq!(lines[0]["vers"], "1.0.0");
        assert_eq!(lines[0]["cksum"], sha256_hex(&krates[w]).as_str());
        // A loser's spelling never shows its own line: its index path (the
        // other separator) is absent or serves the winner's file.
        let winner_body = server
            .get(&format!("/r/main/index/{}", index_path(winner)))
            .text()
            .unwrap();
        for name in &names {
            let r = server.get(&format!("/r/main/index/{}", index_path(name)));
            let status = r.status().as_u16();
            assert!(
                status == 404 || (status == 200 && r.text().unwrap() == winner_body),
                "round {round}: index path of {name} (winner {winner}) answers {status}"
            );
        }
        assert_eq!(
            download_sha(&server, winner, "1.0.0"),
            sha256_hex(&krates[w])
        );
        let (total, _) = search(&server, "");
        assert_eq!(total, round + 1, "round {round}: one crate per round");
    }
    eprintln!("races_same_crate_name_different_spellings: statuses {statuses:?}");
    server.verify_blobs();
}

#[test]
fn races_many_distinct_crates() {
    const THREADS: usize = 16;
    const PER_THREAD: usize = 10;
    let (server, [token]) = Server::with_users(["alice"]);
    let published: Vec<(String, String, Reply)> = all_at_once(
        THREADS,
        |t| {
            let krates: Vec<(String, Vec<u8>)> = (0..PER_THREAD)
                .map(|i| {
                    let name = format!("many-t{t}-n{i}");
                    let krate = crate_file(&name, "0.1.0", &format!("// {t} {i}\n"));
                    (name, krate)
                })
                .collect();
            (client(), krates)
        },
        |(c, krates)| {
            krates
                .into_iter()
                .map(|(name, krate)| {
                    let r = publish(&c, &server.url, &token, &name, "0.1.0", &krate)
                        .expect("publish request");
                    (name, sha256_hex(&krate), r)
                })
                .collect()
        },
    );
    assert_eq!(published.len(), THREADS * PER_THREAD);
    for (name, _, r) in &published {
        assert_eq!(r.status, 200, "{name}: {r:?}");
    }
    let (total, _) = search(&server, "");
    assert_eq!(total, (THREADS * PER_THREAD) as i64);
    for (name, sum, _) in &published {
        let lines = index_lines(&server, "main", &index_path(name));
        assert_eq!(lines.len(), 1, "{name}");
        assert_eq!(lines[0]["cksum"], sum.as_str(), "{name}");
    }
    server.verify_blobs();
}

// ------------------------------------------------------------ yank storm

/// The revision in an index ETag (`"revision-sha8"`, in hex; no crate id,
/// so that readers cannot count what a registry holds).
fn etag_revision(etag: &str) -> u64 {
    let parts: Vec<&str> = etag.trim_matches('"').split('-').collect();
    assert_eq!(parts.len(), 2, "unexpected index ETag {etag}");
    u64::from_str_radix(parts[0], 16).unwrap()
}

/// The index file of `name`: (ETag, body).
fn index_with_etag(server: &Server, name: &str) -> (String, String) {
    let r = server.get(&format!("/r/main/index/{}", index_path(name)));
    assert_eq!(r.status().as_u16(), 200);
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    (etag, r.text().unwrap())
}

#[derive(Debug, Clone, Copy)]
struct TimedOp {
    target: usize,
    yanked: bool,
    start: Duration,
    end: Duration,
}

#[test]
fn yank_unyank_storm_ends_in_a_serial_order() {
    const THREADS: usize = 8;
    const OPS: usize = 20;
    let (server, [token]) = Server::with_users(["alice"]);
    let c = client();
    // `storm-solo` has only the stormed version; `storm-duo` has 0.9.0 too,
    // so its max_version moves with the storm.
    let solo = crate_file("storm-solo", "1.0.0", "pub fn solo() {}\n");
    let duo_old = crate_file("storm-duo", "0.9.0", "pub fn old() {}\n");
    let duo = crate_file("storm-duo", "1.0.0", "pub fn duo() {}\n");
    for (name, vers, bytes) in [
        ("storm-solo", "1.0.0", &solo),
        ("storm-duo", "0.9.0", &duo_old),
        ("storm-duo", "1.0.0", &duo),
    ] {
        let r = publish(&c, &server.url, &token, name, vers, bytes).unwrap();
        assert_eq!(r.status, 200, "{name}@{vers}: {r:?}");
    }
    let targets = [("storm-solo", &solo), ("storm-duo", &duo)];
    let revisions_before: Vec<u64> = targets
        .iter()
        .map(|(name, _)| etag_revision(&index_with_etag(&server, name).0))
        .collect();

    let mut rng = Rng::new(seed("yank_unyank_storm_ends_in_a_serial_order"));
    let t0 = Instant::now();
    let results: Vec<(TimedOp, Reply)> = all_at_once(
        THREADS,
        |_| (client(), Rng::new(rng.next_u64())),
        |(c, mut rng)| {
            (0..OPS)
                .map(|_| {
                    let target = rng.below(2) as usize;
                    let yanked = rng.below(2) == 0;
                    let start = t0.elapsed();
                    let name = targets[target].0;
                    let r = set_yanked(&c, &server.url, &token, name, "1.0.0", yanked)
                        .expect("yank request");
                    let end = t0.elapsed();
                    let op = TimedOp {
                        target,
                        yanked,
                        start,
                        end,
                    };
                    (op, r)
                })
                .collect()
        },
    );
    assert_eq!(results.len(), THREADS * OPS);
    for (op, r) in &results {
        assert_eq!(r.status, 200, "{op:?}: {r:?}");
    }

    for (t, (name, bytes)) in targets.iter().enumerate() {
        let ops: Vec<TimedOp> = results
            .iter()
            .map(|(op, _)| *op)
            .filter(|op| op.target == t)
            .collect();
        let (etag, body) = index_with_etag(&server, name);
        let lines: Vec<Value> = body
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let line = lines
            .iter()
            .find(|l| l["vers"] == "1.0.0")
            .unwrap_or_else(|| panic!("{name}@1.0.0 missing: {body}"));
        let yanked = line["yanked"].as_bool().unwrap();

        // Some serial order ends with an op asking for this value: an op can
        // come last when no other op started after it had finished.
        let last_start = ops.iter().map(|o| o.start).max().unwrap();
        let could_be_last: Vec<&TimedOp> = ops.iter().filter(|o| o.end >= last_start).collect();
        assert!(
            could_be_last.iter().any(|o| o.yanked == yanked),
            "{name}: yanked = {yanked}, but every op that can come last asked otherwise: \
             {could_be_last:?}"
        );

        // The index is stable and its validator consistent.
        let (etag2, body2) = index_with_etag(&server, name);
        assert_eq!(etag, etag2, "{name}: ETag changed with nothing changing");
        assert_eq!(body, body2, "{name}: body changed with nothing changing");
        let r = http()
            .get(format!("{}/r/main/index/{}", server.url, index_path(name)))
            .header("If-None-Match", &etag)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 304, "{name}: If-None-Match {etag}");
        // Every effective change toggled the flag and bumped the revision
        // once; no-op requests bumped nothing.
        let rev_before = revisions_before[t];
        let rev_after = etag_revision(&etag);
        let changes = rev_after - rev_before;
        assert!(
            changes <= ops.len() as u64,
            "{name}: {changes} revisions for {} requests",
            ops.len()
        );
        assert_eq!(
            changes % 2 == 1,
            yanked,
            "{name}: {changes} toggles from unyanked cannot end yanked = {yanked}"
        );

        // Search's max_version follows the flag: the only version stays the
        // max even yanked; otherwise the highest live version is.
        let (_, hits) = search(&server, name);
        let expected = match (*name, yanked) {
            ("storm-duo", true) => "0.9.0",
            _ => "1.0.0",
        };
        assert_eq!(
            hits.get(*name),
            Some(&Some(expected.to_string())),
            "{name} yanked = {yanked}: {hits:?}"
        );
        if *name == "storm-duo" {
            let old = lines.iter().find(|l| l["vers"] == "0.9.0").unwrap();
            assert_eq!(old["yanked"], false, "0.9.0 was never yanked");
        }
        // Yanked or not, the version still downloads.
        assert_eq!(download_sha(&server, name, "1.0.0"), sha256_hex(bytes));
        assert_eq!(line["cksum"], sha256_hex(bytes).as_str());
        eprintln!(
            "{name}: {} requests, {changes} effective changes, ends yanked = {yanked}",
            ops.len()
        );
    }
    server.verify_blobs();
}

// ------------------------------------------------------ blob store full

/// A tmpfs of `size` mounted on a fresh directory; unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::Builder::new()
            .prefix("berth-tmpfs-")
            .tempdir()
            .unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs -o size={size} tmpfs {}: {}",
                dir.path().display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

/// A `.crate` for `name@vers` carrying `data` as an extra file.
fn crate_with_data(name: &str, vers: &str, data: &[u8]) -> Vec<u8> {
    TarballBuilder::package(name, vers)
        .compression(Compression::fast())
        .lib("pub const DATA: &[u8] = include_bytes!(\"../data.bin\");\n")
        .package_file("data.bin", data)
        .gz()
}

/// Every regular file under `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn publish_fails_cleanly_when_the_blob_store_is_full() {
    // Runs as root in the test container; a machine that cannot mount fails
    // here with mount's own error rather than skipping silently.
    let tmpfs = Tmpfs::mount("1m").unwrap_or_else(|e| {
        panic!("this test needs to mount a 1 MiB tmpfs (root or CAP_SYS_ADMIN): {e}")
    });
    let blob_dir = tmpfs.path().to_path_buf();
    let server = Server::start_on(
        Stores::sqlite(),
        &format!("[storage]\nurl = \"file://{}\"\n", blob_dir.display()),
    );
    let token = server.user_with_token("alice");
    let c = client();
    let mut rng = Rng::new(seed("publish_fails_cleanly_when_the_blob_store_is_full"));
    let mut stored: Vec<(String, String)> = Vec::new();
    let mut failure = None;
    // 1 MiB holds four or five ~200 KiB blobs; twelve tries are plenty.
    for i in 0..12 {
        let name = format!("full-{i}");
        let krate = crate_with_data(&name, "0.1.0", &rng.bytes(200 * 1024));
        assert!(krate.len() > 200 * 1024, "random data must not compress");
        let r = publish(&c, &server.url, &token, &name, "0.1.0", &krate).unwrap();
        if r.ok() {
            stored.push((name, sha256_hex(&krate)));
        } else {
            failure = Some((name, r));
            break;
        }
    }
    let (failed, r) = failure.expect("twelve 200 KiB publishes fitted in a 1 MiB blob store");
    assert!(
        !stored.is_empty(),
        "the first publish already failed: {r:?}"
    );
    assert_eq!(r.status, 503, "{failed}: {r:?}");
    assert!(r.content_type().starts_with("application/json"), "{r:?}");
    let detail = r
        .detail()
        .unwrap_or_else(|| panic!("no error detail: {r:?}"));
    // The whole body: the cause goes to the log, not to the client.
    assert_snapshot!(r.text, @r#"{"errors":[{"detail":"the registry is temporarily unavailable; try again shortly (request id: [REQUEST_ID])"}]}"#);
    assert!(
        server.log().contains("blob store"),
        "the log names the blob store failure"
    );

    // The failed crate is nowhere; the earlier ones are intact.
    assert!(
        index_file(&server, &failed).is_none(),
        "{failed} is indexed"
    );
    let (total, hits) = search(&server, "full-");
    assert_eq!(total, stored.len() as i64, "{hits:?}");
    for (name, sum) in &stored {
        let lines = index_lines(&server, "main", &index_path(name));
        assert_eq!(lines.len(), 1, "{name}");
        assert_eq!(lines[0]["cksum"], sum.as_str(), "{name}");
        assert_eq!(&download_sha(&server, name, "0.1.0"), sum, "{name}");
    }
    server.verify_blobs();
    eprintln!(
        "blob store full after {} publishes of ~200 KiB: {failed} got {}: {detail}",
        stored.len(),
        r.status
    );
    // No partial or staging file is left behind: only whole blobs, one per
    // stored publish.
    let mut files: Vec<String> = files_under(&blob_dir)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut expected: Vec<String> = stored.iter().map(|(_, s)| s.clone()).collect();
    expected.sort();
    assert_eq!(files, expected, "files in the blob store");
    drop(server);
    drop(tmpfs);
}
