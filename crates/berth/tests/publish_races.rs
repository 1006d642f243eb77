//! Races that scopes and ownership must settle inside the publish
//! transaction, not only in the checks before it.

use std::sync::{Arc, Barrier};

use berth_testkit::{crate_file, index_lines, index_path, publish_raw, Server};

/// A token that may only create new crates, racing two first publishes of
/// one crate (different versions): exactly one version is added, however
/// the race falls, and the other is refused for the missing scope.
#[test]
fn a_publish_new_only_token_never_adds_a_version() {
    let server = Server::start();
    server.add_user("newbie", false);
    let token = server.token("newbie", &["--scope", "publish-new"]);
    for round in 0..6 {
        let name = format!("race-new-{round}");
        let barrier = Arc::new(Barrier::new(2));
        let threads: Vec<_> = ["1.0.0", "1.0.1"]
            .into_iter()
            .map(|vers| {
                let (url, token, name, barrier) = (
                    server.url.clone(),
                    token.clone(),
                    name.clone(),
                    barrier.clone(),
                );
                std::thread::spawn(move || {
                    let krate = crate_file(&name, vers, "pub fn x() {}\n");
                    barrier.wait();
                    publish_raw(&url, &token, &name, vers, &krate)
                })
            })
            .collect();
        let mut statuses: Vec<u16> = threads
            .into_iter()
            .map(|t| t.join().unwrap().expect("publish answered"))
            .collect();
        statuses.sort();
        assert_eq!(statuses, vec![200, 403], "{name}");
        let lines = index_lines(&server, "main", &index_path(&name));
        assert_eq!(lines.len(), 1, "{name}: {lines:?}");
    }
}

/// Publishes `krate` as `name@vers` to `registry`; the status.
fn publish_to(
    server: &Server,
    registry: &str,
    token: &str,
    name: &str,
    vers: &str,
    krate: &[u8],
) -> u16 {
    berth_testkit::http()
        .put(format!("{}/r/{registry}/api/v1/crates/new", server.url))
        .header("Authorization", token)
        .body(
            berth_testkit::PublishBuilder::new(name, vers)
                .tarball(krate.to_vec())
                .body(),
        )
        .send()
        .unwrap()
        .status()
        .as_u16()
}

/// `berth gc` running while a publish stores bytes identical to an old
/// orphan blob (left by an earlier lost race): whichever way the race
/// falls, the published version keeps its bytes.
#[test]
fn gc_racing_a_publish_of_identical_bytes_keeps_them() {
    let server = Server::start_with_config(
        "[limits]\nrequest_timeout_secs = 5\n\n\
         [[registries]]\nname = \"main\"\n\n[[registries]]\nname = \"other\"\n",
    );
    let token = server.user_with_token("alice");
    // Old orphans: racing publishes of one version leave the losers' blobs.
    let mut orphans: Vec<(String, Vec<u8>)> = Vec::new();
    for round in 0..8 {
        let name = format!("orphan-{round}");
        let crates: Vec<Vec<u8>> = (0..4)
            .map(|i| crate_file(&name, "1.0.0", &format!("pub const I: u32 = {i};\n")))
            .collect();
        let barrier = Arc::new(Barrier::new(crates.len()));
        std::thread::scope(|s| {
            for krate in &crates {
                let (url, token, name, barrier) = (&server.url, &token, &name, barrier.clone());
                s.spawn(move || {
                    barrier.wait();
                    publish_raw(url, token, name, "1.0.0", krate)
                });
            }
        });
        let stored = server.blob_files();
        let winner = index_lines(&server, "main", &index_path(&name))[0]["cksum"]
            .as_str()
            .unwrap()
            .to_string();
        for krate in crates {
            let sum = berth_testkit::sha256_hex(&krate);
            // One per name: each is published once more below.
            if sum != winner && stored.contains(&sum) {
                orphans.push((name.clone(), krate));
                break;
            }
        }
        if orphans.len() >= 3 {
            break;
        }
    }
    assert!(!orphans.is_empty(), "no racing publish left an orphan blob");
    std::thread::sleep(std::time::Duration::from_secs(6));

    // gc runs over and over while the orphans' exact bytes are published to
    // another registry.
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        // The publishes start as the first gc does, and gc runs until they
        // are done: at least one run, however the threads are scheduled.
        let (started, first_gc) = std::sync::mpsc::channel();
        let (until, on) = (&stop, &server);
        let collector = s.spawn(move || {
            let mut runs = 0;
            loop {
                if runs == 0 {
                    started.send(()).unwrap();
                }
                let out = on.berth(&["gc", "--min-age-secs", "5"]);
                assert!(out.status.success(), "{out:?}");
                runs += 1;
                if until.load(std::sync::atomic::Ordering::Relaxed) {
                    return runs;
                }
            }
        });
        first_gc.recv().unwrap();
        let statuses: Vec<u16> = orphans
            .iter()
            .map(|(name, krate)| publish_to(&server, "other", &token, name, "1.0.0", krate))
            .collect();
        // Stopped before asserting, so a failure cannot leave gc looping.
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        collector.join().unwrap();
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    });
    // One last collection: only what nothing refers to may go.
    assert!(server
        .berth(&["gc", "--min-age-secs", "5"])
        .status
        .success());
    for (name, krate) in &orphans {
        let r = server.get(&format!("/r/other/api/v1/crates/{name}/1.0.0/download"));
        assert_eq!(r.status(), 200, "{name}");
        assert_eq!(r.bytes().unwrap().as_ref(), krate.as_slice(), "{name}");
    }
    server.verify_blobs();
}
