//! The transparency log as a server keeps it, checked from outside with
//! nothing but HTTP and `berth-log`: versions published with the real
//! cargo are logged in publish order, each lookup's inclusion proof holds
//! against a checkpoint signed by the key the server serves, checkpoints
//! taken as the log grows are consistent, a yank changes nothing, and a
//! proxy whose upstream changes a logged version's bytes refuses them and
//! reports it (metric, log, audit). A mirror bundle carries the source's
//! checkpoint and proofs, and `mirror import --key` refuses one signed by
//! another key, altered on its way or without them, writing nothing.
//! `berth verify` is tested in `transparency.rs`; fsck and restore in
//! `operations.rs`.

use berth_log::merkle::{verify_consistency, verify_inclusion};
use berth_log::{Checkpoint, Hash, Record, VerifierKey};
use berth_testkit::{crate_file, sha256_hex, Answer, Cargo, Fixture, Server};

fn served_key(server: &Server, registry: &str) -> VerifierKey {
    let text = server
        .get(&format!("/r/{registry}/log/key"))
        .text()
        .unwrap();
    VerifierKey::parse(text.trim()).unwrap()
}

fn checkpoint(server: &Server, registry: &str, key: &VerifierKey) -> Checkpoint {
    let r = server.get(&format!("/r/{registry}/log/checkpoint"));
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["cache-control"].to_str().unwrap(),
        "public, no-cache"
    );
    let note = r.text().unwrap();
    Checkpoint::open(note.as_bytes(), std::slice::from_ref(key))
        .unwrap()
        .checkpoint
}

fn hashes(v: &serde_json::Value) -> Vec<Hash> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| Hash::from_base64(h.as_str().unwrap()).unwrap())
        .collect()
}

/// Looks a version up and checks everything the answer claims; returns
/// the record and its index.
fn proved(
    server: &Server,
    registry: &str,
    name: &str,
    vers: &str,
    key: &VerifierKey,
) -> (Record, u64) {
    let reply = server.get_as(&format!("/r/{registry}/log/lookup/{name}/{vers}"), None);
    assert_eq!(reply.status, 200, "{:?}", reply.detail());
    let v = reply.json();
    let line = v["record"].as_str().unwrap();
    let record = Record::parse(line.as_bytes()).unwrap();
    let cp = Checkpoint::open(
        v["checkpoint"].as_str().unwrap().as_bytes(),
        std::slice::from_ref(key),
    )
    .unwrap()
    .checkpoint;
    assert_eq!(
        cp.origin,
        format!("{}/r/{}", server.addr(), v["registry"].as_str().unwrap())
    );
    let (index, size) = (
        v["index"].as_u64().unwrap(),
        v["tree_size"].as_u64().unwrap(),
    );
    assert_eq!(cp.size, size);
    verify_inclusion(
        index,
        size,
        &record.leaf_hash().unwrap(),
        &hashes(&v["inclusion"]),
        &cp.root,
    )
    .expect("the inclusion proof holds");
    (record, index)
}

fn consistent(server: &Server, registry: &str, old: &Checkpoint, new: &Checkpoint) {
    let v = server
        .get_as(
            &format!(
                "/r/{registry}/log/consistency?from={}&to={}",
                old.size, new.size
            ),
            None,
        )
        .json();
    verify_consistency(
        old.size,
        new.size,
        &old.root,
        &new.root,
        &hashes(&v["proof"]),
    )
    .expect("the consistency proof holds");
}

#[test]
fn published_versions_are_logged_in_order_and_proved_against_signed_checkpoints() {
    let server = Server::start();
    let token = server.user_with_token("alice");
    let cargo = Cargo::new(&server).with_token(&token);
    let key = served_key(&server, "main");
    assert_eq!(checkpoint(&server, "main", &key).size, 0);

    cargo.published("first", "1.0.0");
    let one = checkpoint(&server, "main", &key);
    assert_eq!(one.size, 1);
    cargo.published("second", "0.1.0");
    cargo.published("first", "1.1.0");
    let three = checkpoint(&server, "main", &key);
    assert_eq!(three.size, 3);
    consistent(&server, "main", &one, &three);

    // In publish order, each bound to the checksum the index serves.
    let index_line = |name: &str| {
        server
            .get(&format!(
                "/r/main/index/{}",
                berth_testkit::index_path(name)
            ))
            .text()
            .unwrap()
    };
    for (i, (name, vers)) in [("first", "1.0.0"), ("second", "0.1.0"), ("first", "1.1.0")]
        .into_iter()
        .enumerate()
    {
        let (record, index) = proved(&server, "main", name, vers, &key);
        assert_eq!(index, i as u64);
        assert_eq!(
            (
                record.registry.as_str(),
                record.name.as_str(),
                record.version.as_str()
            ),
            ("main", name, vers)
        );
        let cksum = index_line(name)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|l| l["vers"] == vers)
            .unwrap()["cksum"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(record.sha256.to_hex(), cksum);
    }
    // Names fold as crate names do.
    assert_eq!(proved(&server, "main", "FIRST", "1.0.0", &key).1, 0);

    // A yank changes no record.
    let dir = cargo.consumer("yanker", "");
    cargo.ok(&dir, &["yank", "--registry", "main", "first@1.0.0"]);
    assert_eq!(checkpoint(&server, "main", &key), three);
    assert_eq!(proved(&server, "main", "first", "1.0.0", &key).1, 0);

    // What is not logged, and what cannot be proved, is a clear 4xx.
    let missing = server.get_as("/r/main/log/lookup/first/9.9.9", None);
    assert_eq!(missing.status, 404);
    assert!(missing
        .detail()
        .unwrap()
        .contains("not in registry `main`'s transparency log"));
    let beyond = server.get_as("/r/main/log/consistency?from=1&to=4", None);
    assert_eq!(beyond.status, 400);
    assert!(
        beyond
            .detail()
            .unwrap()
            .contains("<= 3 (the log's size now)"),
        "{:?}",
        beyond.detail()
    );

    // The records page is the leaves themselves.
    let records = server
        .get("/r/main/log/records?start=1&limit=5")
        .text()
        .unwrap();
    let lines: Vec<&str> = records.split_inclusive('\n').collect();
    assert_eq!(lines.len(), 2);
    assert!(
        lines[0].starts_with("berth-record/1 main second 0.1.0 "),
        "{records}"
    );

    // The key made on the first start is kept, and so is the log.
    let mut server = server;
    server.restart();
    let key_after = served_key(&server, "main");
    assert_eq!(key_after, key, "the key made on the first start is kept");
    let after = checkpoint(&server, "main", &key);
    assert_eq!((after.size, after.root), (three.size, three.root));
}

#[test]
fn a_proxy_logs_what_it_first_stores_and_refuses_changed_upstream_bytes() {
    let original = crate_file("steady", "1.0.0", "pub fn a() {}\n");
    let fixture = Fixture::start(&[("steady", "1.0.0", original.clone())]);
    let mut proxy = Server::start_with_config(&format!(
        "[[registries]]\nname = \"main\"\n\n[[registries]]\nname = \"public\"\nkind = \"proxy\"\n\
         upstream = \"{}\"\ncache_max_bytes = 1000000000\n",
        fixture.index_url()
    ));
    let key = served_key(&proxy, "public");
    let dl = "/r/public/api/v1/crates/steady/1.0.0/download";
    assert_eq!(proxy.get(dl).bytes().unwrap().as_ref(), original.as_slice());
    let (record, index) = proved(&proxy, "public", "steady", "1.0.0", &key);
    assert_eq!((index, record.sha256.to_hex()), (0, sha256_hex(&original)));

    // The upstream replaces the version's bytes and checksum; the proxy's
    // copy is purged (index answer and crate), so the next download
    // must fetch both again.
    let changed = crate_file("steady", "1.0.0", "pub fn b() {}\n");
    let line = serde_json::json!({"name": "steady", "vers": "1.0.0", "deps": [],
        "cksum": sha256_hex(&changed), "features": {}, "yanked": false});
    fixture.answer_index("steady", Answer::ok(format!("{line}\n")));
    fixture.answer(
        &format!("/dl/steady/1.0.0/{}", sha256_hex(&changed)),
        Answer::ok(changed.clone()),
    );
    proxy.berth(&[
        "proxy",
        "purge",
        "--registry",
        "public",
        "--crates",
        "steady",
    ]);
    // (A restart forgets what the serving process holds in memory.)
    proxy.restart();
    let refused = proxy.get_as(dl, None);
    assert_eq!(refused.status, 502);
    let detail = refused.detail().unwrap();
    assert!(
        detail.contains(&format!("logged sha256 {}", sha256_hex(&original)))
            && detail.contains("bytes never change"),
        "{detail}"
    );
    assert_eq!(
        fixture.hits(&format!("/dl/steady/1.0.0/{}", sha256_hex(&changed))),
        0,
        "never fetched"
    );
    assert_eq!(
        proxy.metric("berth_log_upstream_changed_total{registry=\"public\"}"),
        1.0
    );
    assert!(proxy
        .log()
        .contains("the upstream changed the bytes of a logged version"));
    let audit = proxy.audit_json(&["--action", "log.upstream_changed"]);
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["outcome"], "denied");
    // The log did not move.
    assert_eq!(checkpoint(&proxy, "public", &key).size, 1);

    // cargo shows the refusal.
    let cargo = Cargo::mirroring(&proxy.index_url("public"));
    let dir = cargo.consumer("consumer", "steady = \"1\"\n");
    let err = cargo.fails(&dir, &["fetch"]);
    assert!(err.contains("bytes never change"), "{err}");
}

/// Rewrites a mirror bundle (manifest first, as export writes it): `edit`
/// gets the manifest and the other members, as someone altering a bundle
/// on its way would.
fn rewrite_bundle(
    from: &std::path::Path,
    to: &std::path::Path,
    edit: impl FnOnce(&mut serde_json::Value, &mut Vec<(String, Vec<u8>)>),
) {
    let mut archive = tar::Archive::new(std::fs::File::open(from).unwrap());
    let mut members: Vec<(String, Vec<u8>)> = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        members.push((path, bytes));
    }
    let (first, manifest) = members.remove(0);
    assert_eq!(first, "berth-mirror.json");
    let mut manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    edit(&mut manifest, &mut members);
    let mut tar = tar::Builder::new(std::fs::File::create(to).unwrap());
    let manifest = serde_json::to_vec(&manifest).unwrap();
    for (path, bytes) in std::iter::once((first.as_str(), manifest.as_slice()))
        .chain(members.iter().map(|(p, b)| (p.as_str(), b.as_slice())))
    {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, path, bytes).unwrap();
    }
    tar.finish().unwrap();
}

#[test]
fn a_mirror_bundle_carries_proofs_that_import_checks_with_the_source_key() {
    let alpha = crate_file("alpha", "1.0.0", "pub fn a() {}\n");
    let beta = crate_file("beta", "0.2.0", "pub fn b() {}\n");
    let fixture = Fixture::start(&[
        ("alpha", "1.0.0", alpha.clone()),
        ("beta", "0.2.0", beta.clone()),
    ]);
    let proxy_of = |upstream: &str, extra: &str| {
        format!(
            "[[registries]]\nname = \"main\"\n\n[[registries]]\nname = \"public\"\n\
             kind = \"proxy\"\nupstream = \"{upstream}\"\n{extra}\n"
        )
    };
    let online = Server::start_with_config(&proxy_of(&fixture.index_url(), ""));
    let key = served_key(&online, "public");
    let list = online.data_dir.join("crates.txt");
    std::fs::write(&list, "alpha@1.0.0\nbeta@0.2.0\n").unwrap();
    let bundle = online.data_dir.join("bundle.tar");
    let exported = online
        .try_berth(&[
            "mirror",
            "export",
            "--registry",
            "public",
            "--crates",
            list.to_str().unwrap(),
            "--out",
            bundle.to_str().unwrap(),
        ])
        .unwrap();
    // (The command line signs with the configuration's public URL.)
    assert!(
        exported.contains("with the signed checkpoint of ")
            && exported.contains("/r/public (size 2) and 2 inclusion proofs"),
        "{exported}"
    );

    // The air-gapped side, which knows the source's key.
    let dead = "sparse+http://127.0.0.1:9/r/main/index/";
    let gapped = Server::start_with_config(&proxy_of(dead, "offline = true"));
    let key_file = gapped.data_dir.join("source.pub");
    std::fs::write(&key_file, format!("{key}\n")).unwrap();
    let import = |file: &std::path::Path, keys: &[&str]| {
        let mut args = vec![
            "mirror",
            "import",
            file.to_str().unwrap(),
            "--registry",
            "public",
        ];
        for k in keys {
            args.extend(["--key", k]);
        }
        let out = gapped.berth(&args);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let untouched = || {
        gapped.blob_files().is_empty()
            && gapped
                .get(&format!(
                    "/r/public/index/{}",
                    berth_testkit::index_path("alpha")
                ))
                .status()
                == 404
    };
    let refused = |file: &std::path::Path, keys: &[&str], why: &str| {
        let (ok, _, err) = import(file, keys);
        assert!(!ok, "imported: {why}");
        assert!(
            err.contains("the bundle does not verify against the transparency log: ")
                && err.contains(why)
                && err.contains("nothing was imported"),
            "{err}"
        );
        assert!(untouched(), "written to: {why}");
    };

    // Another key (the gapped server's own) verifies nothing.
    let own = served_key(&gapped, "public").to_string();
    refused(
        &bundle,
        &[&own],
        "its checkpoint is not signed by a key given",
    );

    // beta's bytes swapped, its index line and the manifest made to agree:
    // the checksums hold, the log does not.
    let evil = crate_file("beta", "0.2.0", "pub fn b() { /* evil */ }\n");
    let (good_sum, evil_sum) = (sha256_hex(&beta), sha256_hex(&evil));
    let swapped = gapped.data_dir.join("swapped.tar");
    let swap = |manifest: &mut serde_json::Value, members: &mut Vec<(String, Vec<u8>)>| {
        for (path, bytes) in members.iter_mut() {
            if path == &format!("crates/{good_sum}.crate") {
                *path = format!("crates/{evil_sum}.crate");
                *bytes = evil.clone();
            } else if path == "index/beta" {
                *bytes = String::from_utf8(bytes.clone())
                    .unwrap()
                    .replace(&good_sum, &evil_sum)
                    .into_bytes();
                manifest["index"]["beta"] = sha256_hex(bytes).into();
            }
        }
        for c in manifest["crates"].as_array_mut().unwrap() {
            if c[0] == "beta" {
                c[2] = evil_sum.clone().into();
                c[3] = evil.len().into();
            }
        }
    };
    rewrite_bundle(&bundle, &swapped, swap);
    refused(
        &swapped,
        &[key_file.to_str().unwrap()],
        &format!(
            "beta@0.2.0: the bundled .crate has sha256 {evil_sum}, the log records {good_sum}"
        ),
    );
    // ... and with its record rewritten to match, the proof fails.
    let rerecorded = gapped.data_dir.join("rerecorded.tar");
    rewrite_bundle(&bundle, &rerecorded, |manifest, members| {
        swap(manifest, members);
        for p in manifest["log"]["proofs"].as_array_mut().unwrap() {
            if p["name"] == "beta" {
                p["record"] = p["record"]
                    .as_str()
                    .unwrap()
                    .replace(&good_sum, &evil_sum)
                    .into();
            }
        }
    });
    let (_, _, err) = import(&rerecorded, &[key_file.to_str().unwrap()]);
    assert!(
        err.contains("beta@0.2.0: its record is not at index "),
        "{err}"
    );
    refused(
        &rerecorded,
        &[key_file.to_str().unwrap()],
        // (Filled concurrently: beta is at index 0 or 1.)
        "of the signed tree of 2 records: the inclusion proof does not lead from the leaf to \
         the root",
    );
    // A bundle without log data cannot be checked with a key.
    let bare = gapped.data_dir.join("bare.tar");
    rewrite_bundle(&bundle, &bare, |manifest, _| {
        manifest.as_object_mut().unwrap().remove("log");
    });
    refused(
        &bare,
        &[&key.to_string()],
        "it carries no checkpoint or proofs",
    );

    // The source's key (as a file, beside another key): every crate is
    // verified, then imported and served.
    let (ok, out, err) = import(&bundle, &[&own, key_file.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(
        out.contains("verified 2 crates against the checkpoint of ")
            && out.contains(&format!("/r/public (size 2) signed by {}", key.name())),
        "{out}"
    );
    assert!(!err.contains("warning"), "{err}");
    let dl = gapped.get("/r/public/api/v1/crates/beta/0.2.0/download");
    assert_eq!(dl.bytes().unwrap().as_ref(), beta.as_slice());

    // Without a key it imports as before, and says nothing was verified.
    let (ok, out, err) = import(&bundle, &[]);
    assert!(ok, "{err}");
    assert!(
        out.contains("crates: 0 written, 2 already present"),
        "{out}"
    );
    assert!(
        err.contains("warning: nothing was verified against a transparency log"),
        "{err}"
    );
}
