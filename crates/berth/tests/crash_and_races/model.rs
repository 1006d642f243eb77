//! The serial-order model of `crash_consistency_under_sigkill`: each client
//! runs a random script of publishes, yanks, unyanks and owner changes on its
//! own crates and logs what was acknowledged and what was in flight at the
//! kill; after the restart, every crate must be in the state of its
//! acknowledged operations, or of those plus its one unacknowledged one, and
//! the models take the state found.
//!
//! It only reads the server through HTTP (index files, owners, downloads,
//! search) and `berth blobs verify`; it never opens the stores.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use berth_testkit::{crate_file, sha256_hex, Reply, Server};

use super::{
    change_owner, client, download_sha, get_json, index_file, publish, search, set_yanked, Rng,
};

pub(super) const CRASH_THREADS: usize = 4;
pub(super) const CRATES_PER_THREAD: usize = 2;
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
pub(super) struct CrateModel {
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
pub(super) struct CrateBytes(Vec<u8>);

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
pub(super) enum Op {
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
    pub(super) fn krate(&self) -> usize {
        match self {
            Op::Publish { krate, .. } | Op::SetYanked { krate, .. } | Op::Owner { krate, .. } => {
                *krate
            }
        }
    }

    pub(super) fn kind(&self) -> &'static str {
        match self {
            Op::Publish { .. } => "publish",
            Op::SetYanked { yanked: true, .. } => "yank",
            Op::SetYanked { yanked: false, .. } => "unyank",
            Op::Owner { add: true, .. } => "owner-add",
            Op::Owner { add: false, .. } => "owner-remove",
        }
    }

    /// The op's effect on a serial model.
    pub(super) fn apply(&self, m: &mut CrateModel) {
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
pub(super) struct ClientLog {
    pub(super) acked: Vec<Op>,
    /// The op whose request failed without an answer, and whether the
    /// failure was to connect (then it was surely never sent).
    pub(super) in_flight: Option<(Op, bool, String)>,
    /// Answers that were not 2xx (never expected).
    pub(super) refused: Vec<(Op, Reply)>,
}

pub(super) fn run_client(
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
    let v = get_json(server, &format!("/r/main/api/v1/crates/{name}/owners"));
    let owners = v["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["login"].as_str().unwrap().to_string())
        .collect();
    CrateView { versions, owners }
}

#[derive(Default)]
pub(super) struct CrashStats {
    pub(super) acked: BTreeMap<&'static str, usize>,
    pub(super) in_flight: BTreeMap<&'static str, usize>,
    pub(super) in_flight_unsent: usize,
    in_flight_applied: BTreeMap<&'static str, usize>,
    /// (crate, seq, cksum) of every version downloaded after a crash.
    downloaded: BTreeSet<(usize, u32, String)>,
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

/// After a restart: every crate is in the state after its acknowledged ops,
/// or after those plus its client's one unacknowledged op; the models take
/// the state found.
pub(super) fn check_recovered(
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
