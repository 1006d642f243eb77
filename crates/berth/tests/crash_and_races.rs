//! Crashes and races against a real `berth serve`: SIGKILL in the middle of
//! concurrent writes (every acknowledged change survives, nothing is half
//! there), racing first publishes of one name under different spellings,
//! many crates at once, a yank/unyank storm on one version, and a blob store
//! that runs out of space.
//!
//! Randomness comes from a small splitmix64 generator seeded from the clock
//! (or `BERTH_TEST_CRASH_SEED`); the seed is printed so a failing script can be
//! replayed (the kill timing itself cannot be).
//!
//! Not checked here: the audit log. It has no HTTP endpoint, and reading it
//! would mean opening the database behind the server's back.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use common::{crate_file, index_lines, sha256_hex, Server, Stores};
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
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// What the server answered.
#[derive(Debug)]
struct Reply {
    status: u16,
    content_type: String,
    text: String,
}

impl Reply {
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The `detail` of cargo's `{"errors":[{"detail":..}]}`, if the body has
    /// that shape.
    fn detail(&self) -> Option<String> {
        let v: Value = serde_json::from_str(&self.text).ok()?;
        v["errors"][0]["detail"].as_str().map(str::to_string)
    }
}

fn send(req: reqwest::blocking::RequestBuilder) -> Result<Reply, reqwest::Error> {
    let r = req.send()?;
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = r.text()?;
    Ok(Reply {
        status,
        content_type,
        text,
    })
}

/// The body of `PUT /api/v1/crates/new` for `name@vers` with these bytes.
fn publish_body(name: &str, vers: &str, krate: &[u8]) -> Vec<u8> {
    let meta = json!({
        "name": name, "vers": vers, "deps": [], "features": {}, "authors": [],
        "description": format!("{name} for tests"), "license": "MIT", "keywords": [],
        "categories": [], "badges": {}, "links": null, "rust_version": null,
    });
    berth_protocol::body::encode_publish_body(meta.to_string().as_bytes(), krate)
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
            .body(publish_body(name, vers, krate)),
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
    let path = berth_protocol::index_path(name);
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

/// Search results for `q`: (total, name -> max_version).
fn search(server: &Server, q: &str) -> (i64, BTreeMap<String, Option<String>>) {
    let r = server.get(&format!("/r/main/api/v1/crates?q={q}&per_page=100"));
    assert_eq!(r.status().as_u16(), 200, "search {q}");
    let v: Value = r.json().unwrap();
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

// ------------------------------------------------- crash consistency model

const CRASH_THREADS: usize = 4;
const CRATES_PER_THREAD: usize = 2;
/// Per client and round: at most this many operations, for at most this
/// long (the kill normally comes first).
const MAX_OPS_PER_ROUND: usize = 400;
const MAX_CLIENT_TIME: Duration = Duration::from_secs(10);

fn crash_crate_name(k: usize) -> String {
    format!(
        "crash-t{}-c{}",
        k / CRATES_PER_THREAD,
        k % CRATES_PER_THREAD
    )
}

/// Version number `seq` of a crash crate.
fn crash_vers(seq: u32) -> String {
    format!("1.{seq}.0")
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct VersionState {
    cksum: String,
    yanked: bool,
}

/// What one crate must look like after a serial run of acknowledged ops.
#[derive(Clone, Debug, Default)]
struct CrateModel {
    /// Versions by `seq` (`1.{seq}.0`).
    versions: BTreeMap<u32, VersionState>,
    bob_owns: bool,
}

/// What the server shows of a crate (index lines and owners).
#[derive(Debug, PartialEq, Eq)]
struct CrateView {
    versions: BTreeMap<String, VersionState>,
    owners: BTreeSet<String>,
}

impl std::fmt::Debug for CrashStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrashStats")
            .field("acked", &self.acked)
            .field("in_flight", &self.in_flight)
            .field("in_flight_unsent", &self.in_flight_unsent)
            .field("in_flight_applied", &self.in_flight_applied)
            .field("versions_downloaded", &self.downloaded.len())
            .finish()
    }
}

impl CrateModel {
    fn view(&self) -> CrateView {
        let mut owners = BTreeSet::new();
        if !self.versions.is_empty() {
            owners.insert("alice".to_string());
            if self.bob_owns {
                owners.insert("bob".to_string());
            }
        }
        CrateView {
            versions: self
                .versions
                .iter()
                .map(|(s, v)| (crash_vers(*s), v.clone()))
                .collect(),
            owners,
        }
    }

    /// `max_version` as `recompute_max_version` defines it: the highest
    /// version not yanked, or the highest of all when all are yanked.
    fn max_version(&self) -> Option<String> {
        let live = self.versions.iter().rev().find(|(_, v)| !v.yanked);
        live.or_else(|| self.versions.iter().next_back())
            .map(|(s, _)| crash_vers(*s))
    }
}

/// The `.crate` bytes of one publish (never shown in full by `Debug`).
#[derive(Clone)]
struct CrateBytes(Vec<u8>);

impl std::fmt::Debug for CrateBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "<{} bytes, sha256 {}>",
            self.0.len(),
            sha256_hex(&self.0)
        )
    }
}

#[derive(Clone, Debug)]
enum Op {
    Publish {
        krate: usize,
        seq: u32,
        bytes: CrateBytes,
    },
    SetYanked {
        krate: usize,
        seq: u32,
        yanked: bool,
    },
    Owner {
        krate: usize,
        add: bool,
    },
}

impl Op {
    fn krate(&self) -> usize {
        match self {
            Op::Publish { krate, .. } | Op::SetYanked { krate, .. } | Op::Owner { krate, .. } => {
                *krate
            }
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Op::Publish { .. } => "publish",
            Op::SetYanked { yanked: true, .. } => "yank",
            Op::SetYanked { yanked: false, .. } => "unyank",
            Op::Owner { add: true, .. } => "owner-add",
            Op::Owner { add: false, .. } => "owner-remove",
        }
    }

    /// The op's effect on a serial model.
    fn apply(&self, m: &mut CrateModel) {
        match self {
            Op::Publish { seq, bytes, .. } => {
                m.versions.insert(
                    *seq,
                    VersionState {
                        cksum: sha256_hex(&bytes.0),
                        yanked: false,
                    },
                );
            }
            Op::SetYanked { seq, yanked, .. } => {
                m.versions
                    .get_mut(seq)
                    .expect("yank of a known version")
                    .yanked = *yanked;
            }
            Op::Owner { add, .. } => m.bob_owns = *add,
        }
    }

    fn send(
        &self,
        c: &reqwest::blocking::Client,
        url: &str,
        token: &str,
    ) -> Result<Reply, reqwest::Error> {
        let name = crash_crate_name(self.krate());
        match self {
            Op::Publish { seq, bytes, .. } => {
                publish(c, url, token, &name, &crash_vers(*seq), &bytes.0)
            }
            Op::SetYanked { seq, yanked, .. } => {
                set_yanked(c, url, token, &name, &crash_vers(*seq), *yanked)
            }
            Op::Owner { add, .. } => change_owner(c, url, token, &name, "bob", *add),
        }
    }
}

/// The next op of a client's script, from its model of its own crates.
fn next_op(models: &BTreeMap<usize, CrateModel>, rng: &mut Rng, round: usize) -> Op {
    let mine: Vec<usize> = models.keys().copied().collect();
    let krate = mine[rng.below(mine.len() as u64) as usize];
    let m = &models[&krate];
    let publish_next = |rng: &mut Rng| {
        let seq = m.versions.keys().next_back().map_or(0, |s| s + 1);
        let name = crash_crate_name(krate);
        let body = format!(
            "pub const ROUND: usize = {round};\npub const NOISE: u64 = {};\n",
            rng.next_u64()
        );
        Op::Publish {
            krate,
            seq,
            bytes: CrateBytes(crate_file(&name, &crash_vers(seq), &body)),
        }
    };
    if m.versions.is_empty() {
        return publish_next(rng);
    }
    let pick = |rng: &mut Rng, yanked: bool| -> Option<u32> {
        let candidates: Vec<u32> = m
            .versions
            .iter()
            .filter(|(_, v)| v.yanked == yanked)
            .map(|(s, _)| *s)
            .collect();
        (!candidates.is_empty()).then(|| candidates[rng.below(candidates.len() as u64) as usize])
    };
    match rng.below(10) {
        0..=3 => publish_next(rng),
        4..=7 => {
            // Yank a live version or unyank a yanked one, as drawn; the
            // other when there is none of the first kind.
            let want_yank = rng.below(2) == 0;
            let (seq, yanked) = match pick(rng, !want_yank) {
                Some(s) => (s, want_yank),
                None => (pick(rng, want_yank).unwrap(), !want_yank),
            };
            Op::SetYanked { krate, seq, yanked }
        }
        _ => Op::Owner {
            krate,
            add: !m.bob_owns,
        },
    }
}

/// What one client did in a round.
#[derive(Debug, Default)]
struct ClientLog {
    acked: Vec<Op>,
    /// The op whose request failed without an answer, and whether the
    /// failure was to connect (then it was surely never sent).
    in_flight: Option<(Op, bool, String)>,
    /// Answers that were not 2xx (never expected).
    refused: Vec<(Op, Reply)>,
}

fn run_client(
    url: &str,
    token: &str,
    mut models: BTreeMap<usize, CrateModel>,
    mut rng: Rng,
    round: usize,
    start: &Barrier,
) -> ClientLog {
    let c = client();
    let mut log = ClientLog::default();
    start.wait();
    let deadline = Instant::now() + MAX_CLIENT_TIME;
    for _ in 0..MAX_OPS_PER_ROUND {
        if Instant::now() > deadline {
            break;
        }
        let op = next_op(&models, &mut rng, round);
        match op.send(&c, url, token) {
            Ok(reply) if reply.ok() => {
                op.apply(models.get_mut(&op.krate()).unwrap());
                log.acked.push(op);
            }
            Ok(reply) => {
                log.refused.push((op, reply));
                break;
            }
            Err(e) => {
                log.in_flight = Some((op, e.is_connect(), e.to_string()));
                break;
            }
        }
    }
    log
}

/// What the server shows of crash crate `k`; checks every index line's
/// `name`.
fn observe(server: &Server, k: usize) -> CrateView {
    let name = crash_crate_name(k);
    let Some(lines) = index_file(server, &name) else {
        let r = server.get(&format!("/r/main/api/v1/crates/{name}/owners"));
        assert_eq!(
            r.status().as_u16(),
            404,
            "{name} has no index file but its owners answer {}",
            r.text().unwrap()
        );
        return CrateView {
            versions: BTreeMap::new(),
            owners: BTreeSet::new(),
        };
    };
    let mut versions = BTreeMap::new();
    for l in &lines {
        assert_eq!(l["name"], name.as_str(), "{l}");
        let vers = l["vers"].as_str().unwrap().to_string();
        let state = VersionState {
            cksum: l["cksum"].as_str().unwrap().to_string(),
            yanked: l["yanked"].as_bool().unwrap(),
        };
        assert!(
            versions.insert(vers.clone(), state).is_none(),
            "{name}@{vers} twice in the index"
        );
    }
    let r = server.get(&format!("/r/main/api/v1/crates/{name}/owners"));
    assert_eq!(r.status().as_u16(), 200, "owners of {name}");
    let v: Value = r.json().unwrap();
    let owners = v["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["login"].as_str().unwrap().to_string())
        .collect();
    CrateView { versions, owners }
}

#[derive(Default)]
struct CrashStats {
    acked: BTreeMap<&'static str, usize>,
    in_flight: BTreeMap<&'static str, usize>,
    in_flight_unsent: usize,
    in_flight_applied: BTreeMap<&'static str, usize>,
    /// (crate, seq, cksum) of every version downloaded after a crash.
    downloaded: BTreeSet<(usize, u32, String)>,
}

/// After a restart: every crate is in the state after its acknowledged ops,
/// or after those plus its client's one unacknowledged op; the models take
/// the state found.
fn check_recovered(
    server: &Server,
    models: &mut [CrateModel],
    in_flight: &BTreeMap<usize, Op>,
    stats: &mut CrashStats,
    round: usize,
) {
    for (k, model) in models.iter_mut().enumerate() {
        let name = crash_crate_name(k);
        let seen = observe(server, k);
        let before = model.clone();
        let after = in_flight.get(&k).map(|op| {
            let mut m = model.clone();
            op.apply(&mut m);
            (op, m)
        });
        if seen == before.view() {
            // The in-flight op, if any, did not happen.
        } else if let Some((op, m)) = after.as_ref().filter(|(_, m)| seen == m.view()) {
            *model = m.clone();
            *stats.in_flight_applied.entry(op.kind()).or_default() += 1;
        } else {
            panic!(
                "after crash {round}, crate {name} is in no serial state.\n\
                 found: {seen:#?}\n\
                 after the acknowledged ops: {:#?}\n\
                 unacknowledged op: {:?}\n\
                 after it too: {:#?}",
                before.view(),
                after.as_ref().map(|(op, _)| op),
                after.as_ref().map(|(_, m)| m.view()),
            );
        }
        // Every version the crate has (acknowledged, or unacknowledged but
        // present) downloads with the bytes its index line names. Each is
        // downloaded after the first crash it lived through; later rounds
        // rely on its unchanged index cksum and `berth blobs verify`.
        for (seq, v) in &model.versions {
            if !stats.downloaded.insert((k, *seq, v.cksum.clone())) {
                continue;
            }
            let vers = crash_vers(*seq);
            assert_eq!(
                download_sha(server, &name, &vers),
                v.cksum,
                "after crash {round}: {name}@{vers} downloads other bytes than its cksum"
            );
        }
    }
    // Search agrees: the crates that exist, each with the max_version the
    // serial state gives.
    let (total, hits) = search(server, "crash-t");
    let existing: BTreeMap<String, Option<String>> = models
        .iter()
        .enumerate()
        .filter(|(_, m)| !m.versions.is_empty())
        .map(|(k, m)| (crash_crate_name(k), m.max_version()))
        .collect();
    assert_eq!(
        total,
        existing.len() as i64,
        "after crash {round}: {hits:?}"
    );
    assert_eq!(hits, existing, "after crash {round}: search max_version");
    // Every index entry has its blob, with the right checksum.
    server.verify_blobs();
}

#[test]
fn crash_consistency_under_sigkill() {
    let rounds = crash_rounds();
    let mut rng = Rng::new(seed("crash_consistency_under_sigkill"));
    let stores = Stores::new();
    let mut models = vec![CrateModel::default(); CRASH_THREADS * CRATES_PER_THREAD];
    let mut in_flight: BTreeMap<usize, Op> = BTreeMap::new();
    let mut stats = CrashStats::default();
    let mut token = String::new();
    let started = Instant::now();
    for round in 0..=rounds {
        let mut server = Server::start_on(stores.clone(), "");
        if round == 0 {
            token = server.user_with_token("alice");
            server.add_user("bob", false);
        } else {
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
        drop(server);
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
    let server = Server::start();
    let token = server.user_with_token("alice");
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
                r.content_type.starts_with("application/json"),
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
        let lines = index_lines(&server, "main", &berth_protocol::index_path(winner));
        assert_eq!(lines.len(), 1, "round {round}: {lines:?}");
        assert_eq!(lines[0]["name"], winner.as_str());
        assert_eq!(lines[0]["vers"], "1.0.0");
        assert_eq!(lines[0]["cksum"], sha256_hex(&krates[w]).as_str());
        // A loser's spelling never shows its own line: its index path (the
        // other separator) is absent or serves the winner's file.
        let winner_body = server
            .get(&format!(
                "/r/main/index/{}",
                berth_protocol::index_path(winner)
            ))
            .text()
            .unwrap();
        for name in &names {
            let r = server.get(&format!(
                "/r/main/index/{}",
                berth_protocol::index_path(name)
            ));
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
    let server = Server::start();
    let token = server.user_with_token("alice");
    let barrier = Barrier::new(THREADS);
    let published: Vec<(String, String, Reply)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (url, token, barrier) = (&server.url, &token, &barrier);
                s.spawn(move || {
                    let c = client();
                    let krates: Vec<(String, Vec<u8>)> = (0..PER_THREAD)
                        .map(|i| {
                            let name = format!("many-t{t}-n{i}");
                            let krate = crate_file(&name, "0.1.0", &format!("// {t} {i}\n"));
                            (name, krate)
                        })
                        .collect();
                    barrier.wait();
                    krates
                        .into_iter()
                        .map(|(name, krate)| {
                            let r = publish(&c, url, token, &name, "0.1.0", &krate)
                                .expect("publish request");
                            (name, sha256_hex(&krate), r)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(published.len(), THREADS * PER_THREAD);
    for (name, _, r) in &published {
        assert_eq!(r.status, 200, "{name}: {r:?}");
    }
    let (total, _) = search(&server, "");
    assert_eq!(total, (THREADS * PER_THREAD) as i64);
    for (name, sum, _) in &published {
        let lines = index_lines(&server, "main", &berth_protocol::index_path(name));
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
    let r = server.get(&format!(
        "/r/main/index/{}",
        berth_protocol::index_path(name)
    ));
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
    let server = Server::start();
    let token = server.user_with_token("alice");
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
    let barrier = Barrier::new(THREADS);
    let t0 = Instant::now();
    let results: Vec<(TimedOp, Reply)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let mut rng = Rng::new(rng.next_u64());
                let (url, token, barrier, targets) = (&server.url, &token, &barrier, &targets);
                s.spawn(move || {
                    let c = client();
                    barrier.wait();
                    (0..OPS)
                        .map(|_| {
                            let target = rng.below(2) as usize;
                            let yanked = rng.below(2) == 0;
                            let start = t0.elapsed();
                            let r = set_yanked(&c, url, token, targets[target].0, "1.0.0", yanked)
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
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
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
        let r = common::http()
            .get(format!(
                "{}/r/main/index/{}",
                server.url,
                berth_protocol::index_path(name)
            ))
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
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let mut add = |path: &str, bytes: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, format!("{name}-{vers}/{path}"), bytes)
            .unwrap();
    };
    add(
        "Cargo.toml",
        format!("[package]\nname = \"{name}\"\nversion = \"{vers}\"\nedition = \"2021\"\n")
            .as_bytes(),
    );
    add(
        "src/lib.rs",
        b"pub const DATA: &[u8] = include_bytes!(\"../data.bin\");\n",
    );
    add("data.bin", data);
    tar.into_inner().unwrap().finish().unwrap()
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
    assert!(r.content_type.starts_with("application/json"), "{r:?}");
    let detail = r
        .detail()
        .unwrap_or_else(|| panic!("no error detail: {r:?}"));
    assert!(detail.contains("temporarily unavailable"), "{detail}");
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
        let lines = index_lines(&server, "main", &berth_protocol::index_path(name));
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
