//! Supply-chain control with the real cargo: a proxy over an upstream
//! Berth hosting a crate whose newest version is affected by an advisory.
//! Once the advisory is imported (`berth advisories import`, while the
//! proxy serves), cargo resolves the newest unaffected version, a lockfile
//! pinned to the affected one fails, its download is refused naming the
//! advisory, `berth check` reports it (exit 1, JSON pinned), and after
//! `berth policy allow` the pinned build works and the exception is in the
//! audit log. Cooldowns and every other rule are covered in process
//! (berth-core's `tests/supply.rs`), where the clock can move.

use std::path::Path;
use std::time::{Duration, Instant};

use berth_testkit::{write_advisory_db, AdvisoryFile, Cargo, Server};

const ID: &str = "RUSTSEC-2026-0042";

/// Polls `done` every 100 ms for at most 15 s (a running server loads the
/// command line's changes within its 2 s refresh).
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "{what}: not within 15 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn mirror_cargo(proxy: &Server) -> Cargo {
    Cargo::mirroring(&proxy.index_url("public"))
}

/// A binary project depending on `leaky = "1"` (from the replaced source).
fn app(cargo: &Cargo, dir_name: &str) -> std::path::PathBuf {
    app_on(cargo, dir_name, "leaky")
}

/// A binary project depending on `dep = "1"` (from the replaced source).
fn app_on(cargo: &Cargo, dir_name: &str, dep: &str) -> std::path::PathBuf {
    let dir = cargo.manifest(
        dir_name,
        &format!(
            "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n\
             [dependencies]\n{dep} = \"1\"\n"
        ),
    );
    std::fs::write(dir.join("src/main.rs"), "fn main() {}\n").unwrap();
    dir
}

fn locked_version(dir: &Path, name: &str) -> String {
    let lock: toml::Value =
        toml::from_str(&std::fs::read_to_string(dir.join("Cargo.lock")).unwrap()).unwrap();
    lock["package"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str() == Some(name))
        .and_then(|p| p["version"].as_str())
        .unwrap()
        .to_string()
}

#[test]
fn an_advisory_keeps_the_affected_version_out_of_cargo_builds_until_allowed() {
    let upstream = Server::start();
    let token = upstream.user_with_token("alice");
    let publisher = Cargo::new(&upstream).with_token(&token);
    publisher.published("leaky", "1.0.0");
    publisher.published("leaky", "1.1.0");
    let proxy = Server::start_with_config(&format!(
        "[[registries]]\nname = \"main\"\n\n[[registries]]\nname = \"public\"\nkind = \"proxy\"\n\
         upstream = \"{}\"\nindex_ttl_secs = 1\n\n[registries.policy]\nblock_advisories = true\n",
        upstream.index_url("main")
    ));

    // Before any advisory: cargo takes the newest, and the lockfile pins it.
    let cargo = mirror_cargo(&proxy);
    let pinned = app(&cargo, "pinned");
    cargo.ok(&pinned, &["generate-lockfile"]);
    assert_eq!(locked_version(&pinned, "leaky"), "1.1.0");

    // 1.1.0 brought the bug: versions before it are unaffected.
    let db = tempfile::tempdir().unwrap();
    let mut advisory = AdvisoryFile::vulnerability(ID, "leaky", &[]);
    advisory.title = "Out-of-bounds write in leaky".into();
    let (path, text) = advisory.render();
    let text = text.replace("patched = []", "patched = []\nunaffected = [\"< 1.1.0\"]");
    std::fs::create_dir_all(db.path().join(&path).parent().unwrap()).unwrap();
    std::fs::write(db.path().join(&path), text).unwrap();
    write_advisory_db(db.path(), &[]);
    let out = proxy
        .try_berth(&["advisories", "import", db.path().to_str().unwrap()])
        .unwrap();
    assert!(out.contains("in force: 1 advisory about 1 crate"), "{out}");
    eventually("the server loads the imported set", || {
        let list: serde_json::Value = proxy.get("/api/v1/advisories?crate=leaky").json().unwrap();
        list["advisories"][0]["id"] == ID
    });

    // A fresh resolution takes the newest unaffected version.
    let fresh_cargo = mirror_cargo(&proxy);
    let fresh = app(&fresh_cargo, "fresh");
    fresh_cargo.ok(&fresh, &["generate-lockfile"]);
    assert_eq!(locked_version(&fresh, "leaky"), "1.0.0");
    // The pinned lockfile cannot be built. A cargo that cached the index
    // before the import goes for the download and shows why it is refused;
    // one that reads the index afresh does not find the version.
    let err = cargo.fails(&pinned, &["fetch", "--locked"]);
    assert!(err.contains("got 403") && err.contains(ID), "{err}");
    let repinned = app(&fresh_cargo, "repinned");
    std::fs::copy(pinned.join("Cargo.lock"), repinned.join("Cargo.lock")).unwrap();
    let err = fresh_cargo.fails(&repinned, &["fetch", "--locked"]);
    assert!(
        err.contains("failed to select a version") && err.contains("(locked to 1.1.0)"),
        "{err}"
    );
    // Its download is refused, naming the advisory.
    let r = proxy.get("/r/public/api/v1/crates/leaky/1.1.0/download");
    assert_eq!(r.status(), 403);
    let body = r.text().unwrap();
    assert!(
        body.contains(ID) && body.contains("blocked by policy"),
        "{body}"
    );
    assert!(
        proxy.metric("berth_policy_blocked_total{registry=\"public\",rule=\"advisory\"}") >= 1.0
    );
    assert!(proxy.log().contains("download refused by policy"));

    // `berth check` reports the pinned lockfile; its JSON is pinned here.
    let lockfile = pinned.join("Cargo.lock");
    let out = proxy.berth(&[
        "check",
        "--registry",
        "public",
        "--json",
        lockfile.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stdout), @r#"
    {
      "registry": "public",
      "checked": 1,
      "skipped": 1,
      "ok": false,
      "findings": [
        {
          "name": "leaky",
          "version": "1.1.0",
          "status": "blocked",
          "rule": "advisory",
          "reason": "blocked by policy: `leaky@1.1.0` is affected by RUSTSEC-2026-0042 (Out-of-bounds write in leaky); no patched version is known",
          "advisories": [
            "RUSTSEC-2026-0042"
          ]
        }
      ]
    }
    "#);
    // The same through the API, for CI without the CLI: a token needed.
    let post = |token: Option<&str>| {
        let mut req = proxy
            .request(reqwest::Method::POST, "/api/v1/registries/public/check")
            .body(std::fs::read(&lockfile).unwrap());
        if let Some(t) = token {
            req = req.header("Authorization", t);
        }
        req.send().unwrap()
    };
    assert_eq!(post(None).status(), 401);
    let ci = proxy.user_with_token("ci");
    let r = post(Some(&ci));
    assert_eq!(r.status(), 200);
    let report: serde_json::Value = r.json().unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["findings"][0]["advisories"][0], ID);
    let fresh_lock = fresh.join("Cargo.lock");
    let out = proxy
        .try_berth(&[
            "check",
            "--registry",
            "public",
            fresh_lock.to_str().unwrap(),
        ])
        .unwrap();
    assert!(out.contains("0 findings"), "{out}");

    // An audited exception lets the pinned build through.
    proxy
        .try_berth(&[
            "policy",
            "allow",
            "leaky@1.1.0",
            "--registry",
            "public",
            "--reason",
            "release branch pinned; fix under review",
            "--expires-in",
            "7d",
        ])
        .unwrap();
    eventually("the server applies the exception", || {
        proxy
            .get("/r/public/index/le/ak/leaky")
            .text()
            .unwrap()
            .contains("1.1.0")
    });
    cargo.ok(&pinned, &["fetch", "--locked"]);
    let explain = proxy
        .try_berth(&["policy", "explain", "leaky@1.1.0", "--registry", "public"])
        .unwrap();
    assert!(explain.contains("served"), "{explain}");
    let lists: serde_json::Value = serde_json::from_str(
        &proxy
            .try_berth(&["policy", "list", "--registry", "public", "--json"])
            .unwrap(),
    )
    .unwrap();
    assert_eq!(lists["exceptions"][0]["vers"], "1.1.0");
    assert_eq!(
        lists["exceptions"][0]["reason"],
        "release branch pinned; fix under review"
    );
    let listed = proxy
        .try_berth(&["advisories", "list", "--crate", "Leaky"])
        .unwrap();
    assert!(
        listed.contains(ID) && listed.contains("Out-of-bounds write in leaky"),
        "{listed}"
    );
    // Removing the exception blocks the version again.
    proxy
        .try_berth(&["policy", "disallow", "leaky@1.1.0", "--registry", "public"])
        .unwrap();
    eventually("the server drops the exception", || {
        proxy
            .get("/r/public/api/v1/crates/leaky/1.1.0/download")
            .status()
            == 403
    });
    let rows = proxy.audit_json(&["--action", "policy.allow"]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["crate"], "leaky");
    assert_eq!(rows[0]["version"], "1.1.0");
}

/// A config with proxies of `upstream`: `public` under `policy`, and
/// `plain` without one (each with `extra` settings).
fn mirror_config(upstream: &str, extra: &str, policy: &str) -> String {
    format!(
        "[[registries]]\nname = \"main\"\n\n\
         [[registries]]\nname = \"plain\"\nkind = \"proxy\"\nupstream = \"{upstream}\"\n{extra}\n\n\
         [[registries]]\nname = \"public\"\nkind = \"proxy\"\nupstream = \"{upstream}\"\n{extra}\n\n\
         [registries.policy]\n{policy}\n"
    )
}

#[test]
fn mirrors_leave_out_what_the_policy_blocks() {
    let mut upstream = Server::start();
    let token = upstream.user_with_token("alice");
    let publisher = Cargo::new(&upstream).with_token(&token);
    publisher.published("leaky", "1.0.0");
    publisher.published("leaky", "1.1.0");
    let deny = "deny = [\"leaky@>=1.1\"]";
    let online = Server::start_with_config(&mirror_config(&upstream.index_url("main"), "", deny));

    // The newest version the policy serves, and a named blocked one skipped.
    let list = online.data_dir.join("crates.txt");
    std::fs::write(&list, "leaky\nleaky@1.1.0\n").unwrap();
    let out = online.berth(&[
        "mirror",
        "fill",
        "--registry",
        "public",
        "--crates",
        list.to_str().unwrap(),
    ]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("1 fetched, 0 already cached, 1 blocked by policy"),
        "{stdout}"
    );
    assert!(
        stderr.contains("skipped, the registry's policy blocks it: leaky@1.1.0: blocked by policy"),
        "{stderr}"
    );

    // A bundle of both versions, from the proxy without a policy.
    std::fs::write(&list, "leaky@1.0.0\nleaky@1.1.0\n").unwrap();
    let bundle = online.data_dir.join("bundle.tar");
    online
        .try_berth(&[
            "mirror",
            "export",
            "--registry",
            "plain",
            "--crates",
            list.to_str().unwrap(),
            "--out",
            bundle.to_str().unwrap(),
        ])
        .unwrap();
    upstream.kill();

    // Imported into an air-gapped proxy under the same policy: the blocked
    // crate is stored but not served, and cargo gets only what the policy
    // allows.
    let dead = "sparse+http://127.0.0.1:9/r/main/index/";
    let gapped = Server::start_with_config(&mirror_config(dead, "offline = true", deny));
    let out = gapped
        .try_berth(&[
            "mirror",
            "import",
            bundle.to_str().unwrap(),
            "--registry",
            "public",
        ])
        .unwrap();
    assert!(
        out.contains(
            "crates: 2 written, 0 already present (1 blocked by the registry's policy for now)"
        ),
        "{out}"
    );
    let r = gapped.get("/r/public/api/v1/crates/leaky/1.1.0/download");
    assert_eq!(r.status(), 403, "stored, not served");
    let file = gapped.get("/r/public/index/le/ak/leaky").text().unwrap();
    assert!(
        file.contains("\"1.0.0\"") && !file.contains("\"1.1.0\""),
        "{file}"
    );
    let cargo = Cargo::mirroring(&gapped.index_url("public"));
    let dir = app(&cargo, "gapped");
    cargo.ok(&dir, &["generate-lockfile"]);
    assert_eq!(locked_version(&dir, "leaky"), "1.0.0");
    cargo.ok(&dir, &["fetch", "--locked"]);
}

/// RFC 3339 UTC (what an index line's `pubtime` holds) of `unix`.
fn pubtime(unix: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix as i64)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[test]
fn a_cooldown_hides_a_fresh_version_from_cargo_until_the_clock_passes_it() {
    use berth_testkit::{crate_file, sha256_hex, Answer, Fixture, DEFAULT_LIB};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let old = crate_file("fresh", "1.0.0", DEFAULT_LIB);
    let new = crate_file("fresh", "1.1.0", DEFAULT_LIB);
    let up = Fixture::start(&[
        ("fresh", "1.0.0", old.clone()),
        ("fresh", "1.1.0", new.clone()),
    ]);
    let line = |vers: &str, bytes: &[u8], at: u64| {
        format!(
            "{}\n",
            serde_json::json!({"name": "fresh", "vers": vers, "deps": [], "cksum": sha256_hex(bytes),
                               "features": {}, "yanked": false, "pubtime": pubtime(at)})
        )
    };
    // 1.0.0 a month old, 1.1.0 an hour old.
    up.answer_index(
        "fresh",
        Answer::ok(format!(
            "{}{}",
            line("1.0.0", &old, now - 30 * 86_400),
            line("1.1.0", &new, now - 3600)
        )),
    );
    let mut proxy = Server::start_with_config(&format!(
        "[[registries]]\nname = \"main\"\n\n[[registries]]\nname = \"public\"\nkind = \"proxy\"\n\
         upstream = \"{}\"\nindex_ttl_secs = 0\n\n[registries.policy]\nmin_age = \"72h\"\n",
        up.index_url()
    ));
    let resolve = |proxy: &Server, dir_name: &str| {
        let cargo = mirror_cargo(proxy);
        let dir = app_on(&cargo, dir_name, "fresh");
        cargo.ok(&dir, &["generate-lockfile"]);
        cargo.ok(&dir, &["fetch", "--locked"]);
        locked_version(&dir, "fresh")
    };
    assert_eq!(
        resolve(&proxy, "now"),
        "1.0.0",
        "1.1.0 is inside the cooldown"
    );
    let r = proxy.get("/r/public/api/v1/crates/fresh/1.1.0/download");
    assert_eq!(r.status(), 403);
    assert!(r.text().unwrap().contains("only 3d after it is published"));
    // One minute short of the end of 1.1.0's cooldown: still hidden.
    proxy.restart_with_env(
        "BERTH_TEST_CLOCK_OFFSET_SECS",
        &(71 * 3600 - 60).to_string(),
    );
    assert_eq!(resolve(&proxy, "almost"), "1.0.0");
    // Past it: cargo resolves and fetches 1.1.0.
    proxy.restart_with_env(
        "BERTH_TEST_CLOCK_OFFSET_SECS",
        &(71 * 3600 + 60).to_string(),
    );
    assert_eq!(resolve(&proxy, "later"), "1.1.0");
}
