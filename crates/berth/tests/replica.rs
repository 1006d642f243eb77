//! Replicas, end to end: a second `berth serve` follows a private primary
//! through its change feed. Publishes, yanks and unyanks appear on the
//! replica within seconds (the time each took is printed); writes to the
//! replica are refused naming the primary; a killed replica catches up on
//! 100 publishes from where it stopped, and `/ready` waits for that; a
//! `.crate` whose bytes do not match the primary's index line is refused;
//! cargo resolves and fetches from the replica with the primary stopped.
//! With the primary's log key, every copy must be in its signed log, and
//! a primary whose log was rewritten (restored from an older backup) is
//! refused.

use std::time::{Duration, Instant};

use berth_testkit::{index_path, Cargo, Launch, PublishBuilder, Server, Stores};
use serde_json::Value;

fn publish(server: &Server, token: &str, name: &str, vers: &str) {
    let r = server
        .request(reqwest::Method::PUT, "/r/main/api/v1/crates/new")
        .header("Authorization", token)
        .body(PublishBuilder::new(name, vers).body())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap());
}

fn yank(server: &Server, token: &str, name: &str, vers: &str, yanked: bool) -> (u16, String) {
    let (method, what) = if yanked {
        (reqwest::Method::DELETE, "yank")
    } else {
        (reqwest::Method::PUT, "unyank")
    };
    let r = server
        .request(
            method,
            &format!("/r/{}/api/v1/crates/{name}/{vers}/{what}", "main"),
        )
        .header("Authorization", token)
        .send()
        .unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

/// The replica's index lines of `name` (empty when it has none).
fn lines(replica: &Server, token: &str, name: &str) -> Vec<Value> {
    let r = replica.get_as(
        &format!("/r/nearby/index/{}", index_path(name)),
        Some(token),
    );
    if r.status == 404 {
        return Vec::new();
    }
    assert_eq!(r.status, 200, "{}", r.text);
    r.text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Waits (at most 30 s) until `done` holds; how long it took.
fn until(what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "not within 30 s: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

fn replica_config(primary: &Server, extra: &str) -> String {
    format!(
        "[[registries]]\nname = \"nearby\"\nkind = \"replica\"\nprivate = true\n\
         primary = \"{}/r/main/\"\nprimary_token_env = \"PRIMARY_TOKEN\"\n{extra}",
        primary.url
    )
}

fn start_replica(stores: std::sync::Arc<Stores>, primary: &Server, token: &str) -> Server {
    let launch = Launch {
        env: vec![("PRIMARY_TOKEN".into(), token.into())],
        ..Launch::default()
    };
    Server::launch(
        stores,
        &replica_config(primary, "max_lag_secs = 60\n"),
        launch,
    )
    .unwrap_or_else(|log| panic!("the replica did not start: {log}"))
}

#[test]
fn a_replica_follows_its_primary_and_serves_cargo_without_it() {
    let mut primary =
        Server::start_with_config("[[registries]]\nname = \"main\"\nprivate = true\n");
    let alice = primary.user_with_token("alice");
    primary.grant("main", "alice", "publish");
    // The replica reads the primary with a token of a reader.
    primary.add_user("mirror", false);
    primary.grant("main", "mirror", "read");
    let mirror = primary.token("mirror", &[]);
    publish(&primary, &alice, "first", "1.0.0");

    let replica_stores = Stores::new();
    let mut replica = start_replica(replica_stores.clone(), &primary, &mirror);
    let reader = replica.user_with_token("reader");
    replica.grant("nearby", "reader", "read");
    // Ready only once caught up: `first` is there at once.
    assert_eq!(lines(&replica, &reader, "first").len(), 1);

    // Publishes, yanks and unyanks arrive within seconds.
    let mut took = Vec::new();
    for i in 0..5 {
        let name = format!("live{i}");
        publish(&primary, &alice, &name, "1.0.0");
        took.push(until(&format!("{name} on the replica"), || {
            lines(&replica, &reader, &name).len() == 1
        }));
    }
    assert_eq!(yank(&primary, &alice, "live0", "1.0.0", true).0, 200);
    took.push(until("the yank on the replica", || {
        lines(&replica, &reader, "live0")[0]["yanked"] == true
    }));
    assert_eq!(yank(&primary, &alice, "live0", "1.0.0", false).0, 200);
    took.push(until("the unyank on the replica", || {
        lines(&replica, &reader, "live0")[0]["yanked"] == false
    }));
    took.sort();
    println!(
        "replica delay (publish/yank/unyank to served), {} changes: median {:?}, max {:?}",
        took.len(),
        took[took.len() / 2],
        took[took.len() - 1]
    );
    // The replica's lines are the primary's, byte for byte.
    let primary_file = primary.get_as("/r/main/index/li/ve/live1", Some(&alice));
    let replica_file = replica.get_as("/r/nearby/index/li/ve/live1", Some(&reader));
    assert_eq!(replica_file.text, primary_file.text);
    // And so are the bytes.
    let bytes = |server: &Server, path: &str, token: &str| {
        let r = server
            .request(reqwest::Method::GET, path)
            .header("Authorization", token)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
        r.bytes().unwrap()
    };
    assert_eq!(
        bytes(
            &replica,
            "/r/nearby/api/v1/crates/live1/1.0.0/download",
            &reader
        ),
        bytes(
            &primary,
            "/r/main/api/v1/crates/live1/1.0.0/download",
            &alice
        )
    );

    // Writes are refused, naming the primary.
    replica.add_user("root", true);
    let admin = replica.token("root", &[]);
    let r = replica
        .request(reqwest::Method::PUT, "/r/nearby/api/v1/crates/new")
        .header("Authorization", &admin)
        .body(PublishBuilder::new("mine", "1.0.0").body())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let text = r.text().unwrap();
    assert!(
        text.contains("is a replica of") && text.contains(&primary.url),
        "{text}"
    );
    let r = replica
        .request(
            reqwest::Method::DELETE,
            "/r/nearby/api/v1/crates/live1/1.0.0/yank",
        )
        .header("Authorization", &admin)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().unwrap().contains("is a replica of"));

    // The replica is killed; the primary takes 100 more publishes; the
    // replica restarts, is ready only once caught up, and has them all.
    replica.kill();
    for i in 0..100 {
        publish(&primary, &alice, &format!("later{i}"), "1.0.0");
    }
    let restart = Instant::now();
    replica.restart();
    println!(
        "replica restarted and caught up on 100 publishes in {:?}",
        restart.elapsed()
    );
    for i in 0..100 {
        assert_eq!(
            lines(&replica, &reader, &format!("later{i}")).len(),
            1,
            "later{i}"
        );
    }
    let status = replica
        .try_berth(&["registry", "replica-status", "nearby"])
        .unwrap();
    assert!(
        status.contains("(0 sequences behind)") && status.contains("last error: none"),
        "{status}"
    );
    let ready = replica.get("/ready");
    assert_eq!(ready.status().as_u16(), 200);
    assert!(replica.metric("berth_replica_lag_seconds{registry=\"nearby\"}") <= 1.0);
    // The replica's own feed carries what it copied.
    let feed: Value = serde_json::from_str(
        &replica
            .get_as("/r/nearby/api/v1/changes?since=0&limit=1000", Some(&reader))
            .text,
    )
    .unwrap();
    assert_eq!(feed["changes"].as_array().unwrap().len(), 1 + 5 + 2 + 100);

    // cargo resolves and fetches from the replica with the primary gone.
    primary.kill();
    let mut cargo = Cargo::with_registries(&[("nearby", replica.index_url("nearby"))], "");
    cargo.set_registry_token("nearby", Some(&reader));
    let project = cargo.consumer(
        "uses-replica",
        "live1 = { version = \"1\", registry = \"nearby\" }\n\
         later99 = { version = \"1\", registry = \"nearby\" }",
    );
    cargo.ok(&project, &["generate-lockfile"]);
    cargo.ok(&project, &["build"]);
    // With the primary away, the replica says so in its lag, not by failing.
    assert_eq!(lines(&replica, &reader, "first").len(), 1);
}

#[test]
fn a_replica_refuses_bytes_that_do_not_match_the_primary_index() {
    // The primary keeps no blob in memory, so that it streams what its
    // store holds, corrupted or not (on local files, which the test edits).
    let primary = Server::start_on(
        Stores::sqlite(),
        "[limits]\nblob_cache_bytes = 0\n\n[[registries]]\nname = \"main\"\n",
    );
    let alice = primary.user_with_token("alice");
    publish(&primary, &alice, "good", "1.0.0");
    publish(&primary, &alice, "evil", "1.0.0");
    let line: Value =
        serde_json::from_str(&primary.get_as("/r/main/index/ev/il/evil", None).text).unwrap();
    let cksum = line["cksum"].as_str().unwrap();
    let blob = primary
        .data_dir
        .join("blobs/crates")
        .join(&cksum[..2])
        .join(&cksum[2..4])
        .join(cksum);
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&blob, &bytes).unwrap();

    let launch = Launch {
        env: vec![("PRIMARY_TOKEN".into(), alice.clone())],
        ..Launch::default()
    };
    // No lag bound: it never catches up past `evil`.
    let replica = Server::launch(Stores::new(), &replica_config(&primary, ""), launch)
        .unwrap_or_else(|log| panic!("the replica did not start: {log}"));
    let reader = replica.user_with_token("reader");
    replica.grant("nearby", "reader", "read");
    until("`good` on the replica", || {
        lines(&replica, &reader, "good").len() == 1
    });
    until("the refusal counted", || {
        replica.metric("berth_replica_refused_total{registry=\"nearby\"}") >= 1.0
    });
    assert!(lines(&replica, &reader, "evil").is_empty());
    let log = replica.log();
    assert!(
        log.contains("does not match its index line") && log.contains(cksum),
        "{log}"
    );
    let status = replica
        .try_berth(&["registry", "replica-status", "nearby"])
        .unwrap();
    assert!(
        status.contains("last error: the primary's .crate of `evil@1.0.0`"),
        "{status}"
    );
    // Nothing of it was stored, and the replica does not call itself caught up.
    assert_eq!(replica.blob_files().len(), 1, "only `good`'s blob");
    assert!(replica.metric("berth_replica_lag_seconds{registry=\"nearby\"}") != 0.0);
}

/// The primary's log key, as it serves it.
fn log_key(server: &Server) -> String {
    let r = server.get_as("/r/main/log/key", None);
    assert_eq!(r.status, 200, "{}", r.text);
    r.text.trim().to_string()
}

fn start_checking_replica(primary: &Server, token: &str, key: &str) -> Server {
    let launch = Launch {
        env: vec![("PRIMARY_TOKEN".into(), token.into())],
        ..Launch::default()
    };
    Server::launch(
        Stores::new(),
        &replica_config(primary, &format!("primary_log_keys = [\"{key}\"]\n")),
        launch,
    )
    .unwrap_or_else(|log| panic!("the replica did not start: {log}"))
}

fn status(replica: &Server) -> String {
    replica
        .try_berth(&["registry", "replica-status", "nearby"])
        .unwrap()
}

#[test]
fn a_replica_with_the_primary_log_key_copies_only_what_the_log_vouches_for() {
    let mut primary = Server::start_with_config("[[registries]]\nname = \"main\"\n");
    let alice = primary.user_with_token("alice");
    publish(&primary, &alice, "early", "1.0.0");
    let backup = primary.data_dir.join("early.backup");
    primary
        .try_berth(&["backup", "--out", backup.to_str().unwrap()])
        .unwrap();
    publish(&primary, &alice, "second", "1.0.0");
    let key = log_key(&primary);

    // With the primary's key: copies, and keeps the checkpoint it verified.
    let replica = start_checking_replica(&primary, &alice, &key);
    let reader = replica.user_with_token("reader");
    replica.grant("nearby", "reader", "read");
    until("`second` on the checking replica", || {
        lines(&replica, &reader, "second").len() == 1
    });
    publish(&primary, &alice, "third", "1.0.0");
    until("`third` on the checking replica", || {
        lines(&replica, &reader, "third").len() == 1
    });
    let s = status(&replica);
    assert!(
        s.contains("transparency log: verified up to 3 records") && s.contains("last error: none"),
        "{s}"
    );

    // With another Berth's key: nothing is copied, and the status says why.
    let other = Server::start_with_config("[[registries]]\nname = \"main\"\n");
    let wrong = start_checking_replica(&primary, &alice, &log_key(&other));
    drop(other);
    let wrong_reader = wrong.user_with_token("reader");
    wrong.grant("nearby", "reader", "read");
    until("the wrong key's refusal", || {
        wrong.metric("berth_replica_refused_total{registry=\"nearby\"}") >= 1.0
    });
    assert!(lines(&wrong, &wrong_reader, "early").is_empty());
    assert!(wrong.blob_files().is_empty(), "nothing stored");
    let s = status(&wrong);
    assert!(
        s.contains("not signed by a key of primary_log_keys")
            && s.contains("no checkpoint verified"),
        "{s}"
    );
    drop(wrong);

    // The primary is restored from a backup older than what the replica
    // verified, and takes other publishes: its log no longer extends the
    // replica's checkpoint, and the replica stops copying, saying so.
    let addr = primary.addr().to_string();
    let key_file = primary.data_dir.join("transparency.key");
    primary.kill();
    let restored = Stores::new();
    let out = restored
        .command(&berth_testkit::berth_bin(), None)
        .arg("restore")
        .arg(&backup)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The same signing key, at the same address: only the history differs.
    std::fs::copy(&key_file, restored.data_dir.path().join("transparency.key")).unwrap();
    let launch = Launch {
        listen: Some(addr),
        ..Launch::default()
    };
    let primary = Server::launch(restored, "[[registries]]\nname = \"main\"\n", launch)
        .unwrap_or_else(|log| panic!("the restored primary did not start: {log}"));
    // Its log now holds 2 records, fewer than the 3 verified: it shrank.
    publish(&primary, &alice, "rewritten", "1.0.0");
    until("the rewritten history noticed", || {
        replica.metric("berth_replica_log_forks_total{registry=\"nearby\"}") >= 1.0
    });
    assert!(lines(&replica, &reader, "rewritten").is_empty());
    assert_eq!(
        lines(&replica, &reader, "second").len(),
        1,
        "what was copied stays"
    );
    let s = status(&replica);
    assert!(
        s.contains("history was rewritten") && s.contains("verified up to 3 records"),
        "{s}"
    );
    assert!(replica.log().contains("its history was rewritten"));
    assert!(s.contains("berth registry replica-resync nearby"), "{s}");

    // Grown past what was verified, it is still not an extension of it:
    // the consistency proof from 3 to 5 records fails.
    for i in 0..3 {
        publish(&primary, &alice, &format!("grown{i}"), "1.0.0");
    }
    until("the longer rewritten log refused", || {
        status(&replica).contains("transparency log at 5 records")
    });
    let s = status(&replica);
    assert!(
        s.contains("does not extend the checkpoint of 3 records")
            && s.contains("verified up to 3 records"),
        "{s}"
    );
    for i in 0..3 {
        assert!(lines(&replica, &reader, &format!("grown{i}")).is_empty());
    }

    // The operator accepts the restore: the replica reads the primary's
    // feed again from the start and trusts its log as it is now.
    replica
        .try_berth(&["registry", "replica-resync", "nearby"])
        .unwrap();
    until("`rewritten` after the resync", || {
        lines(&replica, &reader, "rewritten").len() == 1
    });
    let s = status(&replica);
    assert!(
        s.contains("verified up to 5 records") && s.contains("last error: none"),
        "{s}"
    );
    assert_eq!(lines(&replica, &reader, "grown2").len(), 1);
}
