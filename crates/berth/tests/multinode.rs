//! Several `berth serve` nodes over one PostgreSQL database and one S3
//! bucket (BERTH_TEST_BACKEND=postgres-s3). On the SQLite backend a second
//! node on the same database must be refused with a clear error: its index
//! cache relies on being the only writer.

use berth_testkit::{
    backend, crate_file, index_lines, index_path, publish_raw, sha256_hex, Backend, Cargo, Server,
};

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
fn changes_through_one_node_are_served_by_every_node_at_once() {
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

    // Every raw publish acknowledged by one node is in every node's index
    // immediately, with its checksum.
    for i in 0..12 {
        let name = format!("multi{i}");
        let krate = crate_file(&name, "0.1.0", &format!("pub const N: u32 = {i};\n"));
        let via = nodes[i % 3];
        assert_eq!(
            publish_raw(&via.url, &token, &name, "0.1.0", &krate),
            Some(200)
        );
        for node in nodes {
            let lines = index_lines(node, "main", &index_path(&name));
            assert_eq!(
                lines[0]["cksum"],
                sha256_hex(&krate).as_str(),
                "{name} on {}",
                node.url
            );
        }
    }

    // Yank through node 3 with cargo: node 1's index changes, with a new ETag.
    let etag = |node: &Server| n1_etag(node, "sh/ar/shared");
    let before = etag(&n1);
    let c3 = Cargo::new(&n3).with_token(&token);
    c3.ok(
        c3.work.path(),
        &["yank", "--registry", "main", "--version", "1.0.0", "shared"],
    );
    assert_eq!(index_lines(&n1, "main", "sh/ar/shared")[0]["yanked"], true);
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
        let lines = index_lines(&n3, "main", &index_path(&name));
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["cksum"], sha256_hex(winner).as_str());
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
            let lines = index_lines(node, "main", &index_path(name));
            assert_eq!(lines.len(), 1, "{name}");
            assert_eq!(&lines[0]["cksum"], sum.as_str(), "{name}");
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
