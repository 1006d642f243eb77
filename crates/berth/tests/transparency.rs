//! The transparency log end to end: crates published with the real cargo
//! are logged; `berth verify` (run as a user runs it: the binary, no data
//! dir, HTTP only) proves a project's `Cargo.lock` and a `.crate` file
//! against the log, keeps the newest checkpoint it verified, proves the
//! next run's log grew from it, and fails on an altered `.crate`, a key it
//! does not trust, and a log that was rewritten or shrank.

use std::path::{Path, PathBuf};
use std::process::Command;

use berth_log::{Checkpoint, SignerKey};
use berth_testkit::{berth_bin, Cargo, Server};
use tempfile::TempDir;

/// `berth verify` as a user runs it: a home and a state dir of its own,
/// nothing of the caller's environment that it reads.
struct Verifier {
    home: TempDir,
    state: TempDir,
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Verifier {
    fn new() -> Verifier {
        Verifier {
            home: tempfile::tempdir().unwrap(),
            state: tempfile::tempdir().unwrap(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(berth_bin());
        cmd.arg("verify")
            .args(args)
            .env("HOME", self.home.path())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("BERTH_VERIFY_TOKEN")
            .env_remove("CARGO_REGISTRY_TOKEN")
            .env_remove("BERTH_DATA_DIR")
            .env_remove("BERTH_CONFIG")
            .env("BERTH_VERIFY_STATE_DIR", self.state.path());
        cmd
    }

    fn run(&self, args: &[&str]) -> Run {
        let out = self.command(args).output().expect("run berth verify");
        Run {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `berth verify --index INDEX --key KEY FILE`, which must succeed.
    fn ok(&self, server: &Server, key: &str, file: &Path, extra: &[&str]) -> String {
        let r = self.verify(server, key, file, extra);
        assert!(r.ok, "berth verify failed:\n{}{}", r.stdout, r.stderr);
        r.stdout
    }

    /// The same, which must fail; stdout and stderr.
    fn fails(&self, server: &Server, key: &str, file: &Path, extra: &[&str]) -> String {
        let r = self.verify(server, key, file, extra);
        assert!(
            !r.ok,
            "berth verify should have failed:\n{}{}",
            r.stdout, r.stderr
        );
        format!("{}{}", r.stdout, r.stderr)
    }

    fn verify(&self, server: &Server, key: &str, file: &Path, extra: &[&str]) -> Run {
        let index = server.index_url("main");
        let mut args = vec!["--index", &index, "--key", key];
        args.extend_from_slice(extra);
        args.push(file.to_str().unwrap());
        self.run(&args)
    }

    /// The state files (one per log).
    fn state_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.state.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "checkpoint"))
            .collect();
        files.sort();
        files
    }

    /// The one stored checkpoint.
    fn stored(&self) -> (PathBuf, Checkpoint) {
        let files = self.state_files();
        assert_eq!(files.len(), 1, "{files:?}");
        let text = std::fs::read_to_string(&files[0]).unwrap();
        let note = berth_log::Note::parse(text.as_bytes()).unwrap();
        (
            files[0].clone(),
            Checkpoint::parse_body(note.text()).unwrap(),
        )
    }
}

/// The server's verifier key, as a user fetches it (and then compares it
/// with the one the operator published).
fn server_key(server: &Server) -> String {
    let r = server.get("/r/main/log/key");
    assert!(
        r.status().is_success(),
        "GET /r/main/log/key: {}",
        r.status()
    );
    r.text().unwrap().trim().to_string()
}

/// The origin of `main`'s log: the server's address, /r/main.
fn origin(server: &Server) -> String {
    let bare = server.url.split_once("://").unwrap().1;
    format!("{bare}/r/main")
}

/// A project depending on `deps` (each `NAME = "REQ"` from `main`), its
/// lockfile made and its packages fetched by cargo.
fn project(cargo: &Cargo, name: &str, deps: &[(&str, &str)]) -> PathBuf {
    let deps: String = deps
        .iter()
        .map(|(n, req)| format!("{n} = {{ version = \"{req}\", registry = \"main\" }}\n"))
        .collect();
    let dir = cargo.consumer(name, &deps);
    cargo.ok(&dir, &["generate-lockfile"]);
    cargo.ok(&dir, &["fetch"]);
    dir
}

/// `krate` with one byte of one file's contents changed (the archive still
/// reads: a tar checksum covers headers only).
fn altered(krate: &[u8], find: &str, replace: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    assert_eq!(find.len(), replace.len());
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(krate)
        .read_to_end(&mut tar)
        .unwrap();
    let at = tar
        .windows(find.len())
        .position(|w| w == find.as_bytes())
        .expect("the text to alter");
    tar[at..at + find.len()].copy_from_slice(replace.as_bytes());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

#[test]
fn a_lockfile_verifies_and_the_client_follows_the_log() {
    let server = Server::start();
    let cargo = Cargo::for_new_user(&server, "alice");
    cargo.published("base", "1.0.0");
    let top = cargo.package(
        "top",
        "1.0.0",
        "base = { version = \"1\", registry = \"main\" }",
        "",
    );
    cargo.publish(&top);
    let app = project(&cargo, "app", &[("top", "1")]);
    let lock = app.join("Cargo.lock");
    let key = server_key(&server);
    let v = Verifier::new();

    // Every package from the registry is in the log; the path package is
    // skipped; the checkpoint is stored.
    let out = v.ok(&server, &key, &lock, &[]);
    let origin = origin(&server);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "ok   base 1.0.0  log #0",
            "ok   top 1.0.0  log #1",
            "skip app 0.1.0  a path package (no source)",
        ],
        "{out}"
    );
    let (file, stored) = v.stored();
    assert_eq!(stored.origin, origin);
    assert_eq!(stored.size, 2);
    assert_eq!(
        lines[3],
        format!(
            "log  {origin}  tree size 2, first seen by this client; stored in {}",
            file.display()
        )
    );
    assert_eq!(
        lines[4],
        "2 verified, 0 failed, 1 skipped; 1 log consistent"
    );
    assert_eq!(lines.len(), 5, "{out}");
    // The stored note is the server's checkpoint of the time.
    let served = server.get("/r/main/log/checkpoint").text().unwrap();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), served);

    // The .crate file `cargo package` makes (the bytes cargo published).
    cargo.ok(
        &top,
        &[
            "package",
            "--registry",
            "main",
            "--no-verify",
            "--allow-dirty",
        ],
    );
    let krate = cargo.target.join("package/top-1.0.0.crate");
    let published = server
        .get("/r/main/api/v1/crates/top/1.0.0/download")
        .bytes()
        .unwrap();
    assert_eq!(std::fs::read(&krate).unwrap(), published.as_ref());
    let out = v.ok(&server, &key, &krate, &[]);
    assert!(out.starts_with("ok   top 1.0.0  log #1\n"), "{out}");
    // The same name and version, other bytes: the log says otherwise.
    let bad = v.home.path().join("top-1.0.0.crate");
    std::fs::write(
        &bad,
        altered(&std::fs::read(&krate).unwrap(), "top 1.0.0", "top 1.0.1"),
    )
    .unwrap();
    let out = v.fails(&server, &key, &bad, &[]);
    assert!(
        out.contains("FAIL top 1.0.0  CHECKSUM MISMATCH for top 1.0.0: the log holds sha256"),
        "{out}"
    );
    assert!(out.contains("0 verified, 1 failed"), "{out}");

    // Another publish; the next run proves the log grew from the stored
    // checkpoint, and stores the new one. JSON this time.
    cargo.published("third", "2.0.0");
    let app2 = project(&cargo, "app2", &[("top", "1"), ("third", "2")]);
    let out = v.ok(&server, &key, &app2.join("Cargo.lock"), &["--json"]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["index"], server.index_url("main"));
    let statuses: Vec<String> = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{} {} {} #{}",
                p["status"].as_str().unwrap(),
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap(),
                p["log_index"]
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            "ok base 1.0.0 #0",
            "ok third 2.0.0 #2",
            "ok top 1.0.0 #1",
            "skip app2 0.1.0 #null"
        ]
    );
    let log = &report["checkpoints"][0];
    assert_eq!(log["origin"], origin.as_str());
    assert_eq!(log["status"], "ok");
    assert_eq!(log["previous"]["size"], 2);
    assert_eq!(log["latest"]["size"], 3);
    assert_eq!(log["proved"], serde_json::json!([[2, 3]]));
    assert_eq!(log["stored"], true);
    assert_eq!(
        report["summary"],
        serde_json::json!({"ok": 3, "failed": 0, "skipped": 1, "logs_failed": 0})
    );
    assert_eq!(v.stored().1.size, 3);

    // A key the user does not trust: every package fails, naming the key
    // that signed, and the state stays.
    let stranger = SignerKey::generate(&origin, [9; 32]).unwrap().verifier();
    let before = std::fs::read_to_string(v.stored().0).unwrap();
    let out = v.fails(&server, &stranger.to_string(), &lock, &[]);
    assert!(
        out.contains("FAIL base 1.0.0  the checkpoint's signature: the note has no signature by a known key (it is signed by"),
        "{out}"
    );
    assert!(out.contains("0 verified, 2 failed, 1 skipped"), "{out}");
    assert_eq!(std::fs::read_to_string(v.stored().0).unwrap(), before);
    // Both keys (a rotation): fine again.
    v.ok(&server, &stranger.to_string(), &lock, &["--key", &key]);
}

#[test]
fn a_lockfile_with_nothing_from_the_registry_says_which_sources_it_has() {
    let server = Server::start();
    let cargo = Cargo::for_new_user(&server, "alice");
    cargo.published("base", "1.0.0");
    let app = project(&cargo, "app", &[("base", "1")]);
    let v = Verifier::new();
    let other = Server::start();
    let r = v.run(&[
        "--index",
        &other.index_url("main"),
        "--key",
        &server_key(&other),
        app.join("Cargo.lock").to_str().unwrap(),
    ]);
    assert!(!r.ok);
    assert!(
        r.stderr.contains(&format!(
            "no package of {} with a checksum comes from {}",
            app.join("Cargo.lock").display(),
            other.index_url("main")
        )) && r
            .stderr
            .contains(&format!("\n  {} (1)", server.index_url("main"))),
        "{}",
        r.stderr
    );
    // Named as a replaced source, its packages are checked against the
    // other server's log, where they are not.
    let r = v.run(&[
        "--index",
        &other.index_url("main"),
        "--key",
        &server_key(&other),
        "--source",
        &server.index_url("main"),
        app.join("Cargo.lock").to_str().unwrap(),
    ]);
    assert!(!r.ok);
    assert!(
        r.stdout.contains("FAIL base 1.0.0  not in the log: GET ") && r.stdout.contains("HTTP 404"),
        "{}",
        r.stdout
    );
}

/// A 400-package lockfile verified in one run (one client, 16 lookups at a
/// time); how long it took is printed, not asserted.
#[test]
fn four_hundred_packages_verify_in_one_quick_run() {
    let server = Server::start();
    let token = server.user_with_token("alice");
    let names: Vec<String> = (0..400).map(|i| format!("many-{i:03}")).collect();
    let sums: Vec<String> = std::thread::scope(|s| {
        let chunks: Vec<_> = names
            .chunks(100)
            .map(|chunk| {
                let (server, token) = (&server, &token);
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|name| {
                            let krate = berth_testkit::crate_file(name, "1.0.0", "pub fn f() {}\n");
                            let status = berth_testkit::publish_raw(
                                &server.url,
                                token,
                                name,
                                "1.0.0",
                                &krate,
                            );
                            assert_eq!(status, Some(200), "publish {name}");
                            berth_testkit::sha256_hex(&krate)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        chunks.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut lock = String::from("version = 4\n");
    for (name, sum) in names.iter().zip(&sums) {
        lock.push_str(&format!(
            "\n[[package]]\nname = \"{name}\"\nversion = \"1.0.0\"\nsource = \"{}\"\nchecksum = \"{sum}\"\n",
            server.index_url("main")
        ));
    }
    let v = Verifier::new();
    let file = v.home.path().join("Cargo.lock");
    std::fs::write(&file, lock).unwrap();
    // The state dir by default: berth/verify in the user's config dir.
    let key = server_key(&server);
    let index = server.index_url("main");
    let start = std::time::Instant::now();
    let out = v
        .command(&["--index", &index, "--key", &key, file.to_str().unwrap()])
        .env_remove("BERTH_VERIFY_STATE_DIR")
        .output()
        .unwrap();
    let took = start.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("400 verified, 0 failed, 0 skipped; 1 log consistent"),
        "{stdout}"
    );
    // Measured, not asserted (a shared machine is noisy): the figure is
    // printed for scripts/bench-log.sh.
    eprintln!("berth verify of 400 packages took {took:?}");
    let dir = v.home.path().join(".config/berth/verify");
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(files.len(), 1, "{}", dir.display());
}

/// A checkpoint of `main`'s log that the server never made, signed with
/// its key (what a server that rewrote or rolled back its log would
/// sign), stored as this client's.
fn forge_stored(server: &Server, v: &Verifier, size: u64) -> String {
    let key = std::fs::read_to_string(server.data_dir.join("transparency.key")).unwrap();
    let signer = SignerKey::parse(key.trim()).unwrap();
    let note = Checkpoint {
        origin: origin(server),
        size,
        root: berth_log::leaf_hash(b"another history"),
    }
    .sign(&signer)
    .unwrap();
    let (file, _) = v.stored();
    std::fs::write(&file, &note).unwrap();
    note
}

#[test]
fn a_log_that_does_not_extend_the_stored_checkpoint_is_a_fork_or_a_shrink() {
    let server = Server::start();
    let cargo = Cargo::for_new_user(&server, "alice");
    cargo.published("base", "1.0.0");
    cargo.published("other", "1.0.0");
    let app = project(&cargo, "app", &[("base", "1"), ("other", "1")]);
    let lock = app.join("Cargo.lock");
    let key = server_key(&server);
    let v = Verifier::new();
    v.ok(&server, &key, &lock, &[]);
    let (file, stored) = v.stored();
    assert_eq!(stored.size, 2);

    // The client had seen a tree of 1 the log's tree of 2 does not extend:
    // the log was rewritten. Said loudly, the old checkpoint kept.
    let forged = forge_stored(&server, &v, 1);
    let out = v.fails(&server, &key, &lock, &[]);
    let fork = out
        .lines()
        .find(|l| l.starts_with("FORK: "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        fork.contains(&format!(
            "FORK: the log {} was rewritten (or different clients are shown different logs): \
             the checkpoint of size 1 (root ",
            origin(&server)
        )) && fork.contains("is not a prefix of the checkpoint of size 2")
            && fork.contains(&format!("is kept in {}", file.display())),
        "{fork}"
    );
    assert!(
        out.contains("\n2 verified, 0 failed, 1 skipped; 1 log NOT consistent\n"),
        "{out}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), forged);
    // With --json the alarm is on stderr too.
    let r = v.verify(&server, &key, &lock, &["--json"]);
    assert!(!r.ok);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["checkpoints"][0]["status"], "fork");
    let evidence = report["checkpoints"][0]["evidence"].as_str().unwrap();
    assert!(std::fs::read_to_string(evidence).unwrap().contains(&forged));
    assert!(r.stderr.starts_with("FORK: the log"), "{}", r.stderr);

    // The client had seen a tree of 50; the log has 2: it shrank.
    forge_stored(&server, &v, 50);
    let out = v.fails(&server, &key, &lock, &[]);
    assert!(
        out.contains(&format!(
            "\nSHRINK: the log {} has 2 entries now, fewer than the checkpoint of size 50",
            origin(&server)
        )),
        "{out}"
    );
    assert_eq!(v.stored().1.size, 50);
}

/// A virtual registry over a hosted and a proxy registry, used by cargo
/// in the public source's place: the lockfile names the replaced source,
/// given with --source; each package is proved in the log of the member
/// that holds it (the proxy logs what it first stored), two logs in one
/// run, each with its own state file.
#[test]
fn through_a_virtual_registry_each_package_is_in_its_member_s_log() {
    let upstream = Server::start();
    Cargo::for_new_user(&upstream, "publicist").published("leaf", "1.0.0");
    let company = Server::start_with_config(&format!(
        "[[registries]]\nname = \"main\"\n\n\
         [[registries]]\nname = \"public\"\nkind = \"proxy\"\nupstream = \"{}\"\n\n\
         [[registries]]\nname = \"company\"\nkind = \"virtual\"\nmembers = [\"main\", \"public\"]\n\
         claims = [\"acme-*\"]\n",
        upstream.index_url("main")
    ));
    Cargo::for_new_user(&company, "alice").published("acme-core", "1.0.0");
    let cargo = Cargo::mirroring(&company.index_url("company"));
    let app = cargo.consumer("app", "acme-core = \"1\"\nleaf = \"1\"\n");
    cargo.ok(&app, &["generate-lockfile"]);
    cargo.ok(&app, &["fetch"]);
    let lock = app.join("Cargo.lock");
    let lockfile: toml::Table = std::fs::read_to_string(&lock).unwrap().parse().unwrap();
    let replaced = lockfile["package"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str() == Some("leaf"))
        .and_then(|p| p["source"].as_str())
        .unwrap()
        .to_string();

    let v = Verifier::new();
    let index = company.index_url("company");
    let key = server_key(&company);
    let r = v.run(&[
        "--index",
        &index,
        "--key",
        &key,
        "--source",
        &replaced,
        "--json",
        lock.to_str().unwrap(),
    ]);
    assert!(r.ok, "{}{}", r.stdout, r.stderr);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let bare = company.url.split_once("://").unwrap().1;
    let logs: Vec<(String, String)> = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["status"] == "ok")
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["log"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        logs,
        [
            ("acme-core".to_string(), format!("{bare}/r/main")),
            ("leaf".to_string(), format!("{bare}/r/public")),
        ]
    );
    let origins: Vec<&str> = report["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["origin"].as_str().unwrap())
        .collect();
    assert_eq!(
        origins,
        [format!("{bare}/r/main"), format!("{bare}/r/public")]
    );
    assert_eq!(v.state_files().len(), 2);

    // Without --source, nothing in the lockfile is the index's.
    let r = v.run(&["--index", &index, "--key", &key, lock.to_str().unwrap()]);
    assert!(!r.ok);
    assert!(
        r.stderr.contains(&format!("\n  {replaced} (2)")),
        "{}",
        r.stderr
    );
}

/// A private registry's log is read with a read token, as its index is:
/// without one each lookup fails saying why; BERTH_VERIFY_TOKEN or
/// CARGO_REGISTRY_TOKEN gives it.
#[test]
fn a_private_registry_s_log_needs_a_read_token() {
    let server = Server::start_with_config("[[registries]]\nname = \"main\"\nprivate = true\n");
    let token = server.user_with_token("alice");
    server.grant("main", "alice", "publish");
    let krate = berth_testkit::crate_file("secret", "1.0.0", "pub fn s() {}\n");
    let status = berth_testkit::publish_raw(&server.url, &token, "secret", "1.0.0", &krate);
    assert_eq!(status, Some(200));
    let key = berth_testkit::http()
        .get(format!("{}/r/main/log/key", server.url))
        .header("Authorization", &token)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let v = Verifier::new();
    let lock = v.home.path().join("Cargo.lock");
    std::fs::write(
        &lock,
        format!(
            "version = 4\n\n[[package]]\nname = \"secret\"\nversion = \"1.0.0\"\nsource = \"{}\"\nchecksum = \"{}\"\n",
            server.index_url("main"),
            berth_testkit::sha256_hex(&krate)
        ),
    )
    .unwrap();
    let key = key.trim();
    let out = v.fails(&server, key, &lock, &[]);
    assert!(
        out.contains(&format!(
            "FAIL secret 1.0.0  GET {}/r/main/log/lookup/secret/1.0.0: HTTP 401: ",
            server.url
        )),
        "{out}"
    );
    for var in ["BERTH_VERIFY_TOKEN", "CARGO_REGISTRY_TOKEN"] {
        let index = server.index_url("main");
        let out = v
            .command(&["--index", &index, "--key", key, lock.to_str().unwrap()])
            .env(var, &token)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{var}: {stdout}");
        assert!(
            stdout.starts_with("ok   secret 1.0.0  log #0\n"),
            "{stdout}"
        );
    }
}

/// Runs `sql` (statements separated by `;`) on the server's database, as
/// an attacker with database access would.
fn tamper(server: &Server, sql: &str) {
    use berth_store::sqlx::{self, Connection};
    let url = server.stores.database_url();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            sqlx::query(statement).execute(&mut conn).await.unwrap();
        }
        conn.close().await.unwrap();
    });
}

/// The lockfile's checksum of `name`.
fn locked_checksum(dir: &Path, name: &str) -> String {
    let lock: toml::Value =
        toml::from_str(&std::fs::read_to_string(dir.join("Cargo.lock")).unwrap()).unwrap();
    lock["package"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str() == Some(name))
        .and_then(|p| p["checksum"].as_str())
        .unwrap()
        .to_string()
}

/// An attacker with database access swaps a version's checksum and blob
/// together, so the index agrees with the new bytes: cargo takes them, but
/// `berth verify` of the new lockfile and of the new download fails naming
/// the version (the lockfile made before still verifies: it holds what was
/// published). Then the attacker rewrites the log from the tampered rows
/// and the server signs it with its own key: a client that saw an earlier
/// checkpoint reports a fork.
#[test]
fn an_attacker_with_the_database_is_caught_by_the_log() {
    let mut server = Server::start_with_config(
        "[[registries]]\nname = \"main\"\n\n[[registries]]\nname = \"staging\"\n",
    );
    let token = server.user_with_token("alice");
    let cargo = Cargo::new(&server).with_token(&token);
    cargo.published("victim", "1.0.0");
    let key = server_key(&server);
    let v = Verifier::new();
    let before = project(&cargo, "before", &[("victim", "1")]);
    let genuine = locked_checksum(&before, "victim");
    v.ok(&server, &key, &before.join("Cargo.lock"), &[]);

    // Other bytes for victim 1.0.0 reach the blob store (a second hosted
    // registry takes them; blobs are shared by content) ...
    let mut other = Cargo::with_registries(
        &[
            ("main", server.index_url("main")),
            ("staging", server.index_url("staging")),
        ],
        "",
    );
    other.set_registry_token("staging", Some(&token));
    let evil_dir = other.package("victim", "1.0.0", "", "");
    let manifest = std::fs::read_to_string(evil_dir.join("Cargo.toml")).unwrap();
    std::fs::write(
        evil_dir.join("Cargo.toml"),
        manifest.replace("publish = [\"main\"]", "publish = [\"staging\"]"),
    )
    .unwrap();
    std::fs::write(evil_dir.join("src/lib.rs"), "pub fn evil() {}\n").unwrap();
    other.publish_to(&evil_dir, "staging");
    let evil_bytes = server
        .get("/r/staging/api/v1/crates/victim/1.0.0/download")
        .bytes()
        .unwrap();
    let evil = berth_testkit::sha256_hex(&evil_bytes);
    let size = evil_bytes.len();
    assert_ne!(evil, genuine);
    // ... and main's row is pointed at them, index line included.
    tamper(
        &server,
        &format!(
            "UPDATE versions SET cksum = '{evil}', size = {size}, \
               index_line = REPLACE(index_line, '{genuine}', '{evil}') \
             WHERE crate_id = (SELECT c.id FROM crates c JOIN registries r ON r.id = c.registry_id \
                               WHERE r.name = 'main' AND c.name = 'victim');
             UPDATE crates SET revision = revision + 1 WHERE name = 'victim'"
        ),
    );
    server.restart_at_same_address();

    // A fresh cargo takes the bad bytes without a word.
    let fresh = Cargo::new(&server).with_token(&token);
    let after = project(&fresh, "after", &[("victim", "1")]);
    assert_eq!(locked_checksum(&after, "victim"), evil);

    // berth verify does not.
    let out = v.fails(&server, &key, &after.join("Cargo.lock"), &[]);
    assert!(out.contains("victim 1.0.0"), "{out}");
    assert!(out.contains(&genuine), "names the logged checksum: {out}");
    let download = server
        .get("/r/main/api/v1/crates/victim/1.0.0/download")
        .bytes()
        .unwrap();
    let file = after.join("victim-1.0.0.crate");
    std::fs::write(&file, &download).unwrap();
    let out = v.fails(&server, &key, &file, &[]);
    assert!(out.contains("victim 1.0.0"), "{out}");
    v.ok(&server, &key, &before.join("Cargo.lock"), &[]);

    // The attacker rebuilds main's log from the tampered rows; the server
    // signs the new tree with its key.
    tamper(
        &server,
        "DELETE FROM log_nodes WHERE registry_id = (SELECT id FROM registries WHERE name = 'main');
         DELETE FROM log_records WHERE registry_id = (SELECT id FROM registries WHERE name = 'main');
         DELETE FROM log_checkpoints WHERE registry_id = (SELECT id FROM registries WHERE name = 'main');
         DELETE FROM log_heads WHERE registry_id = (SELECT id FROM registries WHERE name = 'main');
         UPDATE registries SET log_backfilled = 0 WHERE name = 'main'",
    );
    server.restart_at_same_address();
    let r = server
        .get_as("/r/main/log/lookup/victim/1.0.0", None)
        .json();
    assert!(r["record"].as_str().unwrap().contains(&evil), "{r}");
    let out = v.fails(&server, &key, &after.join("Cargo.lock"), &[]);
    assert!(out.contains("FORK"), "{out}");
}
