//! Several `berth serve` nodes over one PostgreSQL database and one S3
//! bucket (BERTH_TEST_BACKEND=postgres-s3). On the SQLite backend a second
//! node on the same database must be refused with a clear error: its index
//! cache relies on being the only writer.
//!
//! Across nodes a change is served within the staleness bound
//! (`berth_core::watch::DEADLINE`, 1.5 s; normally milliseconds): nodes
//! serve cached index files while their listener for change notifications
//! is proven healthy. Assertions on another node than the one that made a
//! change poll for it with a deadline of that bound plus slack.

use std::time::{Duration, Instant};

use berth_testkit::{
    backend, crate_file, index_lines, index_path, publish_raw, sha256_hex, Backend, Cargo, Server,
};

/// How long another node may take to serve a change: the staleness bound
/// plus slack for a loaded test machine.
const BOUND: Duration = Duration::from_millis(1500 + 2000);

/// Polls `node`'s index file at `path` until `ok` accepts its lines, for at
/// most [`BOUND`]; panics with the last lines otherwise. Returns how long it
/// took.
fn served_within_bound(
    node: &Server,
    path: &str,
    ok: impl Fn(&[serde_json::Value]) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let r = node.get(&format!("/r/main/index/{path}"));
        let lines: Vec<serde_json::Value> = if r.status() == 200 {
            r.text()
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        } else {
            Vec::new()
        };
        if ok(&lines) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < BOUND,
            "{path} on {} not current after {BOUND:?}: {lines:?}",
            node.url
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `node` has logged `times` proofs that its index listener is
/// healthy (it then serves cached files without database checks).
fn listener_healthy(node: &Server, times: usize) {
    let start = Instant::now();
    while node.log().matches("index listener healthy").count() < times {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{}: index listener not healthy; log:\n{}",
            node.url,
            node.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// On SQLite, checks that a second node is refused and returns true (the
/// caller stops there).
fn sqlite_refuses_a_second_node(n1: &Server) -> bool {
    if backend() != Backend::Sqlite {
        return false;
    }
    let log = match n1.try_another_node() {
        Ok(_) => panic!("a second node started on the same SQLite database"),
        Err(log) => log,
    };
    assert!(
        log.contains("another `berth serve` is already using the SQLite database"),
        "{log}"
    );
    assert!(log.contains("use PostgreSQL"), "{log}");
    // The first node is unharmed.
    assert_eq!(n1.get("/ready").status(), 200);
    true
}

#[test]
fn changes_through_one_node_are_served_by_every_node_within_the_bound() {
    let n1 = Server::start();
    if sqlite_refuses_a_second_node(&n1) {
        return;
    }
    let n2 = n1.another_node();
    let n3 = n1.another_node();
    let nodes = [&n1, &n2, &n3];
    let token = n1.user_with_token("alice");

    // Publish through node 1 with cargo; resolve and fetch through node 2.
    let c1 = Cargo::new(&n1).with_token(&token);
    c1.published("shared", "1.0.0");
    let c2 = Cargo::new(&n2);
    let app = c2.consumer("app", "shared = { version = \"1\", registry = \"main\" }");
    c2.ok(&app, &["fetch"]);
    assert!(std::fs::read_to_string(app.join("Cargo.lock"))
        .unwrap()
        .contains("name = \"shared\""));

    // Every raw publish acknowledged by one node is in its own index at
    // once, and in every node's index within the bound, with its checksum.
    for i in 0..12 {
        let name = format!("multi{i}");
        let krate = crate_file(&name, "0.1.0", &format!("pub const N: u32 = {i};\n"));
        let via = nodes[i % 3];
        assert_eq!(
            publish_raw(&via.url, &token, &name, "0.1.0", &krate),
            Some(200)
        );
        let lines = index_lines(via, "main", &index_path(&name));
        assert_eq!(lines[0]["cksum"], sha256_hex(&krate).as_str());
        for node in nodes {
            served_within_bound(node, &index_path(&name), |lines| {
                lines
                    .first()
                    .is_some_and(|l| l["cksum"] == sha256_hex(&krate).as_str())
            });
        }
    }

    // Yank through node 3 with cargo: node 1's index changes within the
    // bound, with a new ETag.
    let etag = |node: &Server| n1_etag(node, "sh/ar/shared");
    let before = etag(&n1);
    let c3 = Cargo::new(&n3).with_token(&token);
    c3.ok(
        c3.work.path(),
        &["yank", "--registry", "main", "--version", "1.0.0", "shared"],
    );
    for node in nodes {
        served_within_bound(node, "sh/ar/shared", |lines| lines[0]["yanked"] == true);
    }
    let after = etag(&n1);
    assert_ne!(before, after);
    assert_eq!(after, etag(&n2), "nodes agree on the validator");

    // The same version raced through two nodes: exactly one wins.
    for round in 0..5 {
        let name = format!("race{round}");
        let a = crate_file(&name, "1.0.0", "pub fn a() {}\n");
        let b = crate_file(&name, "1.0.0", "pub fn b() {}\n");
        let barrier = std::sync::Barrier::new(2);
        let (ra, rb) = std::thread::scope(|s| {
            let ta = s.spawn(|| {
                barrier.wait();
                publish_raw(&n1.url, &token, &name, "1.0.0", &a)
            });
            let tb = s.spawn(|| {
                barrier.wait();
                publish_raw(&n2.url, &token, &name, "1.0.0", &b)
            });
            (ta.join().unwrap(), tb.join().unwrap())
        });
        let mut statuses = [ra.unwrap(), rb.unwrap()];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "round {round}");
        let winner = if ra == Some(200) { &a } else { &b };
        served_within_bound(&n3, &index_path(&name), |lines| {
            lines.len() == 1 && lines[0]["cksum"] == sha256_hex(winner).as_str()
        });
    }
    n1.verify_blobs();
}

fn n1_etag(node: &Server, path: &str) -> String {
    node.get(&format!("/r/main/index/{path}")).headers()["etag"]
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn killing_a_node_mid_stream_loses_no_acknowledged_publish() {
    let n1 = Server::start();
    if sqlite_refuses_a_second_node(&n1) {
        return;
    }
    let mut n2 = n1.another_node();
    let n3 = n1.another_node();
    let token = n1.user_with_token("alice");
    let urls = [n1.url.clone(), n2.url.clone(), n3.url.clone()];
    let acked = std::sync::Mutex::new(Vec::new());
    let sent = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for worker in 0..3 {
            let (urls, token, acked, sent) = (&urls, &token, &acked, &sent);
            s.spawn(move || {
                for i in 0..20 {
                    let name = format!("stream{worker}x{i}");
                    let krate = crate_file(
                        &name,
                        "0.1.0",
                        &format!("pub const W: u32 = {worker}{i};\n"),
                    );
                    let url = &urls[(worker + i) % 3];
                    sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if publish_raw(url, token, &name, "0.1.0", &krate) == Some(200) {
                        acked.lock().unwrap().push((name, sha256_hex(&krate)));
                    }
                }
            });
        }
        // Kill node 2 with SIGKILL once the stream is under way.
        while sent.load(std::sync::atomic::Ordering::SeqCst) < 15 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        n2.kill();
    });
    let acked = acked.into_inner().unwrap();
    // Node 2 refused everything after its death; the others took their share.
    assert!(
        acked.len() >= 40,
        "only {} publishes acknowledged",
        acked.len()
    );
    for (name, sum) in &acked {
        for node in [&n1, &n3] {
            served_within_bound(node, &index_path(name), |lines| {
                lines.len() == 1 && lines[0]["cksum"] == sum.as_str()
            });
        }
        let bytes = n3
            .get(&format!("/r/main/api/v1/crates/{name}/0.1.0/download"))
            .bytes()
            .unwrap();
        assert_eq!(&sha256_hex(&bytes), sum, "{name}");
    }
    // Nothing unacknowledged is half there: every version has its blob.
    n1.verify_blobs();
    // The survivors keep serving writes.
    let krate = crate_file("after-kill", "0.1.0", "");
    assert_eq!(
        publish_raw(&n3.url, &token, "after-kill", "0.1.0", &krate),
        Some(200)
    );
}

/// Runs `sql` on the nodes' database with psql; returns its unaligned output.
fn psql(node: &Server, sql: &str) -> String {
    let out = std::process::Command::new("psql")
        .arg(node.stores.database_url())
        .args(["-v", "ON_ERROR_STOP=1", "-Atc", sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn cached_files_on_other_nodes_follow_every_change_within_the_bound() {
    let n1 = Server::start();
    if sqlite_refuses_a_second_node(&n1) {
        return;
    }
    let n2 = n1.another_node();
    let n3 = n1.another_node();
    let token = n1.user_with_token("alice");
    for node in [&n1, &n2, &n3] {
        listener_healthy(node, 1);
    }
    // Cached everywhere (hot), then changed through node 1, three times.
    let v1 = crate_file("hot", "1.0.0", "");
    assert_eq!(publish_raw(&n1.url, &token, "hot", "1.0.0", &v1), Some(200));
    for node in [&n2, &n3] {
        served_within_bound(node, "3/h/hot", |l| l.len() == 1);
        // Served from the cache now: several hits, same file.
        for _ in 0..3 {
            assert_eq!(index_lines(node, "main", "3/h/hot").len(), 1);
        }
    }
    let mut slowest = Duration::ZERO;
    for (i, vers) in ["1.1.0", "1.2.0", "1.3.0"].into_iter().enumerate() {
        let krate = crate_file("hot", vers, "");
        assert_eq!(publish_raw(&n1.url, &token, "hot", vers, &krate), Some(200));
        for node in [&n2, &n3] {
            slowest = slowest.max(served_within_bound(node, "3/h/hot", |l| l.len() == i + 2));
        }
    }
    // A yank (no new line, a changed one) through node 2.
    let r = berth_testkit::http()
        .delete(format!("{}/r/main/api/v1/crates/hot/1.0.0/yank", n2.url))
        .header("Authorization", &token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    for node in [&n1, &n3] {
        slowest = slowest.max(served_within_bound(node, "3/h/hot", |l| {
            l[0]["yanked"] == true
        }));
    }
    // A new crate that nodes 2 and 3 had answered 404 for (remembered absent).
    for node in [&n2, &n3] {
        assert_eq!(node.get("/r/main/index/la/te/latecomer").status(), 404);
        assert_eq!(node.get("/r/main/index/la/te/latecomer").status(), 404);
    }
    let late = crate_file("latecomer", "0.1.0", "");
    assert_eq!(
        publish_raw(&n1.url, &token, "latecomer", "0.1.0", &late),
        Some(200)
    );
    for node in [&n2, &n3] {
        slowest = slowest.max(served_within_bound(node, "la/te/latecomer", |l| {
            l.len() == 1
        }));
    }
    // Every node stayed healthy: nothing was served through the fallback.
    for node in [&n1, &n2, &n3] {
        assert!(!node.log().contains("reconnecting"), "{}", node.log());
    }
    eprintln!("slowest propagation: {slowest:?}");
}

#[test]
fn a_node_whose_listener_is_cut_falls_back_and_recovers() {
    let n1 = Server::start();
    if sqlite_refuses_a_second_node(&n1) {
        return;
    }
    let n2 = n1.another_node();
    let token = n1.user_with_token("alice");
    listener_healthy(&n1, 1);
    listener_healthy(&n2, 1);
    let v = |vers: &str| crate_file("cut", vers, "");
    assert_eq!(
        publish_raw(&n1.url, &token, "cut", "1.0.0", &v("1.0.0")),
        Some(200)
    );
    served_within_bound(&n2, "3/c/cut", |l| l.len() == 1);

    // Cut node 2's listener, and change the crate at once through node 1:
    // that notification may never reach node 2.
    let listener = format!("berth-index-listener-{}", n2.pid());
    let cut = psql(
        &n1,
        &format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name = '{listener}' AND datname = current_database()"
        ),
    );
    assert_eq!(cut.trim(), "1", "node 2's listener was found and cut");
    assert_eq!(
        publish_raw(&n1.url, &token, "cut", "1.1.0", &v("1.1.0")),
        Some(200)
    );
    // Node 2 serves the change anyway (checking the database while it has
    // no proven listener), and keeps serving correct files throughout.
    served_within_bound(&n2, "3/c/cut", |l| l.len() == 2);
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(800) {
        assert_eq!(index_lines(&n2, "main", "3/c/cut").len(), 2);
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = n2.log();
    assert!(log.contains("reconnecting"), "{log}");

    // It recovers: a new listener, a fresh heartbeat, and changes again
    // reach it within the bound, cached.
    listener_healthy(&n2, 2);
    let back = psql(
        &n1,
        &format!(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE application_name = '{listener}' AND datname = current_database()"
        ),
    );
    assert_eq!(back.trim(), "1");
    assert_eq!(
        publish_raw(&n1.url, &token, "cut", "1.2.0", &v("1.2.0")),
        Some(200)
    );
    served_within_bound(&n2, "3/c/cut", |l| l.len() == 3);
    assert_eq!(index_lines(&n2, "main", "3/c/cut").len(), 3);
}

/// Concurrent publishes through three nodes: the registry's transparency
/// log ends with exactly one record per version, at indices without a gap,
/// and every checkpoint any node signed meanwhile is consistent with every
/// later one (no fork), all signed by the one key the nodes share.
#[test]
fn concurrent_publishes_on_three_nodes_make_one_log_without_gaps_or_forks() {
    use berth_log::merkle::verify_consistency;
    use berth_log::{Checkpoint, Hash, SignerKey};

    let signer = SignerKey::generate("berth-multinode", [7; 32]).unwrap();
    let n1 = Server::start_with_config(&format!(
        "[transparency]\nkey = \"{}\"\n",
        signer.to_secret_text()
    ));
    if sqlite_refuses_a_second_node(&n1) {
        return;
    }
    let n2 = n1.another_node();
    let n3 = n1.another_node();
    let nodes = [&n1, &n2, &n3];
    let token = n1.user_with_token("alice");
    let key = signer.verifier();
    let open = |note: &str| {
        Checkpoint::open(note.as_bytes(), std::slice::from_ref(&key))
            .unwrap_or_else(|e| panic!("{e}: {note}"))
            .checkpoint
    };
    let seen = std::sync::Mutex::new(Vec::new());
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        for (t, node) in nodes.iter().enumerate() {
            let token = &token;
            s.spawn(move || {
                for i in 0..10 {
                    let name = format!("logged-{t}");
                    let vers = format!("0.{i}.0");
                    let krate = crate_file(&name, &vers, "");
                    assert_eq!(
                        publish_raw(&node.url, token, &name, &vers, &krate),
                        Some(200)
                    );
                }
            });
        }
        s.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                for node in nodes {
                    let note = node.get("/r/main/log/checkpoint").text().unwrap();
                    seen.lock().unwrap().push(open(&note));
                }
            }
        });
        // The publishers finish first (scope joins them in order below).
        while nodes
            .iter()
            .map(|n| open(&n.get("/r/main/log/checkpoint").text().unwrap()).size)
            .min()
            .unwrap()
            < 30
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    });

    let last = open(&n1.get("/r/main/log/checkpoint").text().unwrap());
    assert_eq!(last.size, 30);
    // (Each node's origin names its own test port; a deployment gives all
    // nodes one public URL.)
    for node in nodes {
        let theirs = open(&node.get("/r/main/log/checkpoint").text().unwrap());
        assert_eq!((theirs.size, theirs.root), (last.size, last.root));
        assert_eq!(theirs.origin, format!("{}/r/main", node.addr()));
    }
    // One record per version, indices 0..30 in order.
    let records = n2
        .get("/r/main/log/records?start=0&limit=100")
        .text()
        .unwrap();
    let mut versions: Vec<(String, String)> = records
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[2].to_string(), f[3].to_string())
        })
        .collect();
    assert_eq!(versions.len(), 30);
    versions.sort();
    versions.dedup();
    assert_eq!(versions.len(), 30, "one record per version");
    for (i, name) in ["logged-0", "logged-1", "logged-2"].iter().enumerate() {
        let looked = n3
            .get(&format!("/r/main/log/lookup/{name}/0.9.0"))
            .text()
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&looked).unwrap();
        assert!(v["index"].as_u64().unwrap() < 30, "{i}: {v}");
    }
    // Every checkpoint seen is consistent with the last (and so with every
    // later one); two of one size have one root.
    let mut seen = seen.into_inner().unwrap();
    assert!(seen.len() >= 3);
    seen.sort_by_key(|c| c.size);
    for pair in seen.windows(2) {
        if pair[0].size == pair[1].size {
            assert_eq!(
                pair[0].root, pair[1].root,
                "a fork at size {}",
                pair[0].size
            );
        }
    }
    seen.dedup_by_key(|c| c.size);
    for old in seen.iter().filter(|c| c.size > 0 && c.size < last.size) {
        let v: serde_json::Value = serde_json::from_str(
            &n1.get(&format!(
                "/r/main/log/consistency?from={}&to={}",
                old.size, last.size
            ))
            .text()
            .unwrap(),
        )
        .unwrap();
        let proof: Vec<Hash> = v["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| Hash::from_base64(h.as_str().unwrap()).unwrap())
            .collect();
        verify_consistency(old.size, last.size, &old.root, &last.root, &proof)
            .unwrap_or_else(|e| panic!("size {} is not a prefix of {}: {e}", old.size, last.size));
    }
}
