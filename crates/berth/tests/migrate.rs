//! `berth migrate`: a filled SQLite + directory registry is copied to the
//! suite's backend pair (PostgreSQL + S3 under BERTH_TEST_BACKEND=postgres-s3,
//! another SQLite + directory otherwise), interrupted, resumed, and served:
//! cargo resolves the same crates with the same checksums from the new place.
//! Then it is copied back to a fresh SQLite + directory.

use berth_testkit::{berth_bin, index_path, Cargo, Server, Stores};

/// `(name, version, checksum)` of every registry package in a lock file.
fn locked(dir: &std::path::Path) -> Vec<(String, String, String)> {
    let lock: toml::Table = std::fs::read_to_string(dir.join("Cargo.lock"))
        .unwrap()
        .parse()
        .unwrap();
    let mut out: Vec<_> = lock["package"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| {
            Some((
                p["name"].as_str()?.to_string(),
                p["version"].as_str()?.to_string(),
                p.get("checksum")?.as_str()?.to_string(),
            ))
        })
        .collect();
    out.sort();
    out
}

fn consumer(cargo: &Cargo) -> std::path::PathBuf {
    let app = cargo.work.path().join("app");
    std::fs::create_dir_all(app.join("src")).unwrap();
    std::fs::write(
        app.join("Cargo.toml"),
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n\
         top = { version = \"1\", registry = \"main\" }\nleaf = { version = \"0.2\", registry = \"main\" }\n",
    )
    .unwrap();
    std::fs::write(app.join("src/main.rs"), "fn main() {}\n").unwrap();
    app
}

/// Runs `berth migrate` from `src` (its data dir, SQLite defaults or its
/// env) to the config file `to`; returns the exit code and stdout.
fn migrate(src: &Stores, to: &std::path::Path, extra: &[&str]) -> (i32, String) {
    // The source's own env (none for SQLite) names its stores; the caller's
    // BERTH_DATABASE_URL/BERTH_STORAGE_URL must not.
    let mut cmd = src.command(&berth_bin(), None);
    cmd.args(["migrate", "--to"]).arg(to).args(extra);
    if src.env.is_empty() {
        cmd.env_remove("BERTH_DATABASE_URL")
            .env_remove("BERTH_STORAGE_URL");
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(3),
        "migrate failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), stdout)
}

#[test]
fn migrate_there_and_back_with_interruptions() {
    // A filled SQLite + directory registry.
    let src_stores = Stores::sqlite();
    let mut src = Server::start_on(src_stores.clone(), "");
    let token = src.user_with_token("alice");
    src.add_user("bob", false);
    let cargo = Cargo::new(&src).with_token(&token);
    for (name, vers, deps) in [
        ("leaf", "0.1.0", ""),
        ("leaf", "0.2.0", ""),
        ("leaf", "0.2.1", ""),
        (
            "mid",
            "0.5.0",
            "leaf = { version = \"0.2\", registry = \"main\" }",
        ),
        (
            "top",
            "1.0.0",
            "mid = { version = \"0.5\", registry = \"main\" }",
        ),
        (
            "top",
            "1.1.0",
            "mid = { version = \"0.5\", registry = \"main\" }",
        ),
    ] {
        let dir = cargo.package(name, vers, deps, "");
        cargo.publish(&dir);
    }
    cargo.ok(
        cargo.work.path(),
        &["yank", "--registry", "main", "--version", "0.2.1", "leaf"],
    );
    cargo.ok(
        cargo.work.path(),
        &["owner", "--registry", "main", "--add", "bob", "top"],
    );
    let app = consumer(&cargo);
    cargo.ok(&app, &["fetch"]);
    let before = locked(&app);
    assert_eq!(before.len(), 3, "{before:?}");
    // (`top` is three letters: its index file is at 3/t/top.)
    let top_path = format!("/r/main/index/{}", index_path("top"));
    let index_before = src.get(&top_path).text().unwrap();
    assert!(index_before.contains(r#""name":"top""#), "{index_before}");
    src.kill(); // writes stop for the migration

    // Copy to the suite's backend pair, interrupted twice.
    let dst_stores = Stores::new();
    let dst_config = src_stores.data_dir.path().join("to.toml");
    std::fs::write(&dst_config, dst_stores.toml()).unwrap();
    let (code, out) = migrate(&src_stores, &dst_config, &["--max-items", "4"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("incomplete"), "{out}");
    // Chunked runs: each copies at most 5 blobs or changed rows and moves
    // on from where the last one stopped, until the copy is complete.
    let mut runs = 0;
    loop {
        runs += 1;
        assert!(runs <= 30, "chunked migration does not finish");
        let (code, out) = migrate(&src_stores, &dst_config, &["--max-items", "5"]);
        if code == 0 {
            assert!(out.contains("migration complete"), "{out}");
            break;
        }
    }
    assert!(runs > 2, "expected several chunks, got {runs}");
    // A hard kill part-way through a run leaves nothing half done.
    let mut child = std::process::Command::new(berth_bin())
        .arg("--data-dir")
        .arg(src_stores.data_dir.path())
        .args(["migrate", "--to"])
        .arg(&dst_config)
        .env_remove("BERTH_DATABASE_URL")
        .env_remove("BERTH_STORAGE_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(150));
    let _ = child.kill();
    let _ = child.wait();
    // Running again finds everything in place and duplicates nothing.
    let (code, out) = migrate(&src_stores, &dst_config, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("blobs: 0 copied, 6 already present, 6 referenced"),
        "{out}"
    );
    assert!(
        out.contains("versions: 0 rows copied (source 6, destination 6)"),
        "{out}"
    );
    assert!(
        out.contains("crates: 0 rows copied (source 3, destination 3)"),
        "{out}"
    );

    // The new place serves the same crates with the same checksums.
    let dst = Server::start_on(dst_stores.clone(), "");
    dst.verify_blobs();
    assert_eq!(dst.get(&top_path).text().unwrap(), index_before);
    let cargo2 = Cargo::new(&dst).with_token(&token);
    let app2 = consumer(&cargo2);
    cargo2.ok(&app2, &["fetch"]);
    assert_eq!(locked(&app2), before);
    // Users, tokens and owners came along: alice's token still publishes,
    // and bob still owns `top`.
    cargo2.published("after-move", "0.1.0");
    let owners = cargo2.ok(
        cargo2.work.path(),
        &["owner", "--registry", "main", "--list", "top"],
    );
    assert!(
        owners.contains("alice") && owners.contains("bob"),
        "{owners}"
    );
    // The audit chain came along whole, and new entries extend it.
    let audit = dst.try_berth(&["audit", "verify"]).unwrap();
    assert!(audit.contains("audit log intact"), "{audit}");
    drop(dst);

    // And back to a fresh SQLite + directory.
    let back_stores = Stores::sqlite();
    let back_config = back_stores.data_dir.path().join("back.toml");
    std::fs::write(&back_config, back_stores.toml()).unwrap();
    let (code, out) = migrate(&dst_stores, &back_config, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("versions: 7 rows copied (source 7, destination 7)"),
        "{out}"
    );
    let back = Server::start_on(back_stores, "");
    back.verify_blobs();
    assert_eq!(back.get(&top_path).text().unwrap(), index_before);
    let cargo3 = Cargo::new(&back);
    let app3 = consumer(&cargo3);
    cargo3.ok(&app3, &["fetch"]);
    assert_eq!(locked(&app3), before);
    let audit = back.try_berth(&["audit", "verify"]).unwrap();
    assert!(audit.contains("audit log intact"), "{audit}");
}
