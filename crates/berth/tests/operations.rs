//! What operators rely on when something goes wrong, through the real
//! binary: request ids that tie a user's error report to the server's log
//! lines, start-up that fails at once when S3 credentials are missing,
//! `config check`, `fsck` and `gc` on a deliberately broken store, and a
//! backup taken during publishes, restored elsewhere byte for byte, the
//! transparency log checked by fsck and by restore, and
//! cargo over built-in HTTPS with a certificate renewed while it runs.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/seed.rs"]
mod seed;

use berth_testkit::{
    berth_bin, crate_file, feed_through_fifo, http, publish_raw, sha256_hex, EntryType, Server,
    Stores, TarballBuilder,
};

/// Waits until the server's log has a line containing `needle`.
#[track_caller]
fn log_lines_with(server: &Server, needle: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines: Vec<String> = server
            .log()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect();
        if !lines.is_empty() || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Asks for the owners of a crate that does not exist, with this
/// `X-Request-Id`.
fn missing_owners(server: &Server, request_id: &str) -> reqwest::blocking::Response {
    server
        .request(reqwest::Method::GET, "/r/main/api/v1/crates/nothere/owners")
        .header("X-Request-Id", request_id)
        .send()
        .unwrap()
}

#[test]
fn a_request_id_reaches_the_response_the_error_body_and_the_log() {
    let server = Server::start();

    // The client's id is kept: in the header, at the end of the detail
    // cargo prints, and on the server's log lines for the request.
    let r = missing_owners(&server, "ci-run-42.step:7");
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["x-request-id"], "ci-run-42.step:7");
    assert_eq!(
        r.text().unwrap(),
        r#"{"errors":[{"detail":"crate `nothere` does not exist (request id: ci-run-42.step:7)"}]}"#
    );
    let lines = log_lines_with(&server, "ci-run-42.step:7");
    assert!(
        lines.iter().any(|l| l.contains("404")
            && l.contains("request{request_id=ci-run-42.step:7 client=127.0.0.1}:")),
        "no log line with the id, the client and the status:\n{}",
        server.log()
    );

    // An id that is not sane (spaces, too long) is replaced by one the
    // server makes, used the same way.
    for bad in ["has spaces", &"x".repeat(129), "quote\"d"] {
        let r = missing_owners(&server, bad);
        let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
        assert_eq!(id.len(), 16, "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        let body = r.text().unwrap();
        assert!(
            body.ends_with(&format!(" (request id: {id})\"}}]}}")),
            "{body}"
        );
        assert!(!body.contains(bad), "{body}");
        assert!(!log_lines_with(&server, &id).is_empty(), "{}", server.log());
        assert!(!server.log().contains(bad));
    }

    // Successes carry an id too; their bodies are untouched.
    let r = http()
        .get(format!("{}/r/main/index/config.json", server.url))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-request-id"].len(), 16);
    assert!(!r.text().unwrap().contains("request id"));
}

#[test]
fn json_log_lines_carry_the_request_span() {
    let server = Server::start_with_config("[log]\nformat = \"json\"\n");
    let r = missing_owners(&server, "json-run-1");
    assert_eq!(r.status(), 404);
    let lines = log_lines_with(&server, "json-run-1");
    let line: serde_json::Value = lines
        .iter()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON line with the id:\n{}", server.log()));
    assert_eq!(line["fields"]["status"], 404, "{line}");
    assert_eq!(
        line["span"],
        serde_json::json!({"name": "request", "request_id": "json-run-1", "client": "127.0.0.1"}),
        "{line}"
    );
}

/// `berth` on SQLite stores with a blob store on S3 and no credentials
/// anywhere: none in the environment, none in the configuration.
fn berth_without_credentials(stores: &Stores, config: &std::path::Path) -> std::process::Command {
    let mut cmd = stores.command(&berth_bin(), Some(config));
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_SKIP_SIGNATURE",
        "BERTH_STORAGE_URL",
        "BERTH_DATABASE_URL",
    ] {
        cmd.env_remove(var);
    }
    // Nothing leaves this machine: the S3 endpoint is a closed port.
    cmd.env("AWS_ENDPOINT", "http://127.0.0.1:9");
    cmd
}

/// A stand-in for the cloud's instance metadata service that only counts
/// who knocks.
fn metadata_service() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

fn knocked_within(listener: &TcpListener, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        if listener.accept().is_ok() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn s3_without_credentials_fails_at_start_and_says_what_to_set() {
    let stores = Stores::sqlite();
    let config = stores.data_dir.path().join("s3.toml");
    std::fs::write(
        &config,
        "[storage]\nurl = \"s3://berth-test/no-credentials\"\n",
    )
    .unwrap();
    let (imds, imds_url) = metadata_service();
    let expect_message = |what: &str, out: &std::process::Output, took: Duration| {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what} started without credentials");
        assert!(took < Duration::from_secs(10), "{what} took {took:?}");
        for needle in [
            "no S3 credentials are configured",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "storage.access_key_id",
            "storage.secret_access_key",
            "storage.instance_credentials = true",
        ] {
            assert!(
                stderr.contains(needle),
                "{what}: no `{needle}` in:\n{stderr}"
            );
        }
    };

    let started = Instant::now();
    let out = berth_without_credentials(&stores, &config)
        .env("AWS_METADATA_ENDPOINT", &imds_url)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    expect_message("serve", &out, started.elapsed());

    // `berth migrate` to such a destination fails the same way, at once.
    let dst = stores.data_dir.path().join("dst.toml");
    std::fs::write(
        &dst,
        format!(
            "[database]\nurl = \"sqlite://{}?mode=rwc\"\n[storage]\nurl = \"s3://berth-test/dst\"\n",
            stores.data_dir.path().join("dst.db").display()
        ),
    )
    .unwrap();
    let plain = stores.data_dir.path().join("plain.toml");
    std::fs::write(&plain, "").unwrap();
    let started = Instant::now();
    let out = berth_without_credentials(&stores, &plain)
        .env("AWS_METADATA_ENDPOINT", &imds_url)
        .args(["migrate", "--to"])
        .arg(&dst)
        .output()
        .unwrap();
    expect_message("migrate", &out, started.elapsed());
    assert!(
        !knocked_within(&imds, Duration::from_millis(200)),
        "the metadata service was asked without storage.instance_credentials"
    );

    // Half a key pair names the missing half.
    let out = berth_without_credentials(&stores, &config)
        .env("AWS_ACCESS_KEY_ID", "GKonlyhalf")
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("no secret: set AWS_SECRET_ACCESS_KEY or storage.secret_access_key"),
        "{stderr}"
    );

    // Asked for, the instance's metadata service is where credentials come
    // from.
    std::fs::write(
        &config,
        "[storage]\nurl = \"s3://berth-test/no-credentials\"\ninstance_credentials = true\n",
    )
    .unwrap();
    let mut child = berth_without_credentials(&stores, &config)
        .env("AWS_METADATA_ENDPOINT", &imds_url)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = berth_testkit::listening_url(child.stdout.take().unwrap());
    // Readiness touches the blob store, which needs credentials.
    std::thread::spawn(move || {
        let _ = berth_testkit::http_with_timeout(Duration::from_secs(30))
            .get(format!("{url}/ready"))
            .send();
    });
    let knocked = knocked_within(&imds, Duration::from_secs(30));
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        knocked,
        "with storage.instance_credentials = true the metadata service was never asked"
    );
}

#[test]
fn config_check_validates_a_file_and_masks_its_secrets() {
    let stores = Stores::sqlite();
    let dir = stores.data_dir.path();
    let check = |file: &std::path::Path| {
        outcome(
            berth_without_credentials(&stores, &dir.join("unused.toml"))
                .args(["config", "check"])
                .arg(file),
        )
    };

    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "[database]\nurl = \"postgres://berth:hunter2@db.internal:5432/berth\"\n\
         [storage]\nurl = \"s3://crates/prod\"\naccess_key_id = \"GKexample\"\n\
         secret_access_key = \"s3cr3t-key\"\n",
    )
    .unwrap();
    let (ok, stdout, stderr) = check(&good);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("the configuration is valid"), "{stderr}");
    for shown in [
        "url = \"postgres://berth:***@db.internal:5432/berth\"",
        "secret_access_key = \"********\"",
        "access_key_id = \"GKexample\"",
        "max_crate_size = 10485760",
        "name = \"main\"",
    ] {
        assert!(stdout.contains(shown), "no `{shown}` in:\n{stdout}");
    }
    for secret in ["hunter2", "s3cr3t-key"] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret));
    }

    // The documented example is valid as it stands.
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/berth.example.toml");
    let (ok, stdout, stderr) = check(&example);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("kind = \"virtual\""), "{stdout}");

    // Each problem is named; nothing is printed as if it were valid.
    for (toml, needle) in [
        ("[limits]\nmax_crate_sise = 1\n", "max_crate_sise"),
        (
            "[limits]\nrequest_timeout_secs = 0\n",
            "limits.request_timeout_secs",
        ),
        ("listen = \"0.0.0.0:7878\"\n", "needs public_url"),
        (
            "[storage]\nurl = \"s3://crates/prod\"\n",
            "AWS_ACCESS_KEY_ID",
        ),
        (
            "[tls]\ncert_file = \"/nonexistent/cert.pem\"\nkey_file = \"/nonexistent/key.pem\"\n",
            "tls.cert_file /nonexistent/cert.pem",
        ),
        (
            "[tls]\ncert_file = \"/x.pem\"\n",
            "tls.cert_file and tls.key_file go together",
        ),
    ] {
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, toml).unwrap();
        let (ok, stdout, stderr) = check(&bad);
        assert!(!ok, "{toml} passed:\n{stdout}");
        assert!(
            stderr.contains(needle),
            "{toml}: no `{needle}` in:\n{stderr}"
        );
        assert!(stdout.is_empty(), "{stdout}");
    }
    let (ok, _, stderr) = check(&dir.join("missing.toml"));
    assert!(!ok && stderr.contains("does not exist"), "{stderr}");
}

/// `berth fsck --json` on the server's stores: exit code and report.
fn fsck(server: &Server) -> (Option<i32>, serde_json::Value) {
    let out = server.berth(&["fsck", "--json"]);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "fsck --json printed no JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), report)
}

/// The findings of a report as `kind crate detail` lines, sorted.
fn findings(report: &serde_json::Value) -> Vec<String> {
    let mut lines: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {} {}",
                f["kind"].as_str().unwrap(),
                f["crate"].as_str().unwrap_or("-"),
                f["detail"].as_str().unwrap()
            )
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn fsck_finds_what_was_broken_and_gc_removes_only_the_orphan() {
    // Blobs are edited as files and rows with sqlite3: SQLite + files.
    let server = Server::start_on(Stores::sqlite(), "[limits]\nrequest_timeout_secs = 5\n");
    let token = server.user_with_token("alice");
    server.add_user("bob", false);
    let mut sums = Vec::new();
    for name in ["gone", "flipped", "edited", "fine"] {
        let krate = crate_file(name, "1.0.0", "pub fn f() {}\n");
        assert_eq!(
            publish_raw(&server.url, &token, name, "1.0.0", &krate),
            Some(200)
        );
        sums.push(sha256_hex(&krate));
    }
    let r = server
        .request(reqwest::Method::PUT, "/r/main/api/v1/crates/fine/owners")
        .header("Authorization", &token)
        .body(r#"{"users":["bob"]}"#)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);

    let (code, report) = fsck(&server);
    assert_eq!(findings(&report), Vec::<String>::new());
    assert_eq!(code, Some(0));
    assert_eq!(report["versions"], 4);

    let blob = |sum: &str| {
        server
            .data_dir
            .join(format!("blobs/crates/{}/{}/{sum}", &sum[..2], &sum[2..4]))
    };
    std::fs::remove_file(blob(&sums[0])).unwrap();
    let mut bytes = std::fs::read(blob(&sums[1])).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(blob(&sums[1]), &bytes).unwrap();
    let sqlite = |sql: &str| {
        berth_testkit::run_ok(
            Command::new("sqlite3")
                .arg(server.data_dir.join("berth.db"))
                .arg(sql),
        );
    };
    sqlite(
        "UPDATE versions SET index_line = replace(index_line, '\"yanked\":false', '\"yanked\":true') \
         WHERE crate_id = (SELECT id FROM crates WHERE name = 'edited')",
    );
    sqlite("DELETE FROM users WHERE login = 'bob'");
    let orphan = b"left by a publish that died before it committed".to_vec();
    let orphan_sum = sha256_hex(&orphan);
    std::fs::create_dir_all(blob(&orphan_sum).parent().unwrap()).unwrap();
    std::fs::write(blob(&orphan_sum), &orphan).unwrap();
    // Old enough for gc (whose minimum age is the request timeout).
    let old = std::process::Command::new("touch")
        .args(["-d", "1 hour ago"])
        .arg(blob(&orphan_sum))
        .status()
        .unwrap();
    assert!(old.success());

    let (code, report) = fsck(&server);
    assert_eq!(code, Some(1));
    let found = findings(&report);
    let kinds: Vec<&str> = found.iter().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "blob_checksum",
            "dangling_reference",
            "index_line_mismatch",
            "missing_blob",
            "orphan_blob"
        ],
        "{found:#?}"
    );
    assert!(found[0].starts_with("blob_checksum flipped "), "{found:#?}");
    assert!(found[1].contains("crate_owners"), "{found:#?}");
    assert!(
        found[2].starts_with("index_line_mismatch edited ") && found[2].ends_with("yanked true"),
        "{found:#?}"
    );
    assert!(found[3].starts_with("missing_blob gone "), "{found:#?}");
    assert!(found[4].contains(&orphan_sum), "{found:#?}");

    // The text report says the same, one line per finding.
    let out = server.berth(&["fsck"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("5 findings"), "{text}");

    // gc deletes the orphan and nothing else.
    assert_eq!(
        server
            .try_berth(&["gc", "--min-age-secs", "5"])
            .unwrap()
            .trim(),
        "deleted 1 unreferenced blob"
    );
    assert!(!blob(&orphan_sum).exists());
    assert!(blob(&sums[1]).exists() && blob(&sums[2]).exists() && blob(&sums[3]).exists());
    let (code, report) = fsck(&server);
    assert_eq!(code, Some(1));
    let after: Vec<String> = findings(&report);
    assert_eq!(after, found[..4].to_vec());
}

/// Tokens came along with a restore: a publish with one succeeds, and the
/// audit chain, restored whole, verifies with it appended.
fn publish_extends_the_restored_chain(restored: &Server, token: &str) {
    let krate = crate_file("after", "1.0.0", "");
    assert_eq!(
        publish_raw(&restored.url, token, "after", "1.0.0", &krate),
        Some(200)
    );
    // The audit chain was restored whole, and the publish extends it.
    let audit = restored.try_berth(&["audit", "verify"]).unwrap();
    assert!(audit.contains("audit log intact"), "{audit}");
}

/// `berth backup` of `server` into a new temporary directory (kept alive by
/// the returned guard), as `name`.
fn backup_of(server: &Server, name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    berth_testkit::run_ok(server.stores.command(&berth_bin(), None).args([
        "backup",
        "--out",
        file.to_str().unwrap(),
    ]));
    (dir, file)
}

/// `berth restore FILE` on `stores`: success, stdout, stderr.
fn restore(stores: &Stores, file: &std::path::Path) -> (bool, String, String) {
    outcome(stores.command(&berth_bin(), None).arg("restore").arg(file))
}

/// `berth restore --force FILE` on `stores`.
fn restore_forced(stores: &Stores, file: &std::path::Path) -> (bool, String, String) {
    outcome(
        stores
            .command(&berth_bin(), None)
            .args(["restore", "--force"])
            .arg(file),
    )
}

/// Runs a command to its end: success, stdout, stderr.
fn outcome(command: &mut Command) -> (bool, String, String) {
    let out = command.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Whether the stores hold no user and no blob.
fn untouched(stores: &Stores) -> bool {
    stores.run(&["user", "list"]).trim().is_empty()
        && stores.run(&["blobs", "list"]).trim().is_empty()
}

/// Every index file of `names` and their 1.0.0 and 1.1.0 `.crate` files, as
/// cargo reads them.
fn served(server: &Server, names: &[String]) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for name in names {
        let path = format!("/r/main/index/{}", berth_testkit::index_path(name));
        let r = server.get(&path);
        assert_eq!(r.status(), 200, "{path}");
        files.push((path, r.bytes().unwrap().to_vec()));
        for vers in ["1.0.0", "1.1.0"] {
            let path = format!("/r/main/api/v1/crates/{name}/{vers}/download");
            let r = server.get(&path);
            assert_eq!(r.status(), 200, "{path}");
            files.push((path, r.bytes().unwrap().to_vec()));
        }
    }
    files
}

/// A registry larger than one chunk of rows is backed up and restored in
/// parts (memory holds one part at a time), and comes back whole.
#[test]
fn a_registry_of_many_parts_is_backed_up_and_restored_whole() {
    let server = Server::start();
    let token = server.user_with_token("alice");
    let krate = crate_file("first", "1.0.0", "pub fn f() {}\n");
    assert_eq!(
        publish_raw(&server.url, &token, "first", "1.0.0", &krate),
        Some(200)
    );
    // 12,000 versions: three parts of the versions table.
    seed::crates(&server, "alice", 12_000, &sha256_hex(&krate));
    let sample: Vec<String> = [0, 4_999, 5_000, 11_999]
        .iter()
        .map(|i| {
            format!(
                "/r/main/index/{}",
                berth_testkit::index_path(&format!("seeded-crate-{i:06}"))
            )
        })
        .collect();
    let before: Vec<Vec<u8>> = sample
        .iter()
        .map(|p| server.get(p).bytes().unwrap().to_vec())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.backup");
    berth_testkit::run_ok(server.stores.command(&berth_bin(), None).args([
        "backup",
        "--out",
        file.to_str().unwrap(),
    ]));
    let listing = berth_testkit::run_ok(Command::new("tar").arg("tf").arg(&file));
    let version_parts = listing
        .lines()
        .filter(|l| l.starts_with("tables/") && l.contains("-versions-"))
        .count();
    assert_eq!(version_parts, 3, "{listing}");

    let target = Stores::new();
    let (ok, _, err) = restore(&target, &file);
    assert!(ok, "{err}");
    let restored = Server::start_on(target, "");
    for (path, bytes) in sample.iter().zip(&before) {
        let r = restored.get(path);
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(&r.bytes().unwrap().to_vec(), bytes, "{path}");
    }
    let dl = restored.get("/r/main/api/v1/crates/first/1.0.0/download");
    assert_eq!(dl.bytes().unwrap().as_ref(), krate.as_slice());
}

#[test]
fn a_backup_taken_during_publishes_restores_what_was_acknowledged_byte_for_byte() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;

    let server = Server::start();
    let token = server.user_with_token("alice");
    let mut names = Vec::new();
    for i in 0..10 {
        let name = format!("before-{i}");
        for vers in ["1.0.0", "1.1.0"] {
            let krate = crate_file(&name, vers, &format!("pub fn f{i}() {{}}\n"));
            assert_eq!(
                publish_raw(&server.url, &token, &name, vers, &krate),
                Some(200)
            );
        }
        names.push(name);
    }
    let r = server
        .request(
            reqwest::Method::DELETE,
            "/r/main/api/v1/crates/before-3/1.0.0/yank",
        )
        .header("Authorization", &token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    // What was acknowledged before the backup began, as cargo reads it.
    let acknowledged = served(&server, &names);

    // Publishes keep coming while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (url, token) = (server.url.clone(), token.clone());
            let (stop, published) = (stop.clone(), published.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    let name = format!("during-{w}-{n}");
                    let krate = crate_file(&name, "1.0.0", "pub fn g() {}\n");
                    if publish_raw(&url, &token, &name, "1.0.0", &krate) == Some(200) {
                        published.fetch_add(1, Ordering::SeqCst);
                    }
                    n += 1;
                }
            })
        })
        .collect();
    while published.load(Ordering::SeqCst) < 2 {
        std::thread::sleep(Duration::from_millis(20));
    }
    let (dir, file) = backup_of(&server, "registry.backup");
    let during = published.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.join().unwrap();
    }
    assert!(
        published.load(Ordering::SeqCst) > during,
        "no publish ran while the backup did"
    );
    assert!(!dir.path().join("registry.backup.partial").exists());

    // Restored elsewhere: byte for byte what was acknowledged, and nothing
    // half-written (every version has its blob, every line its row).
    let target = Stores::new();
    let (ok, stdout, stderr) = restore(&target, &file);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("versions: "), "{stdout}");
    let restored = Server::start_on(target.clone(), "");
    let again = served(&restored, &names);
    assert_eq!(again.len(), acknowledged.len());
    for ((path, want), (_, got)) in acknowledged.iter().zip(&again) {
        assert!(want == got, "{path} differs after restore");
    }
    let fsck = restored.berth(&["fsck"]);
    assert!(
        fsck.status.success(),
        "{}",
        String::from_utf8_lossy(&fsck.stdout)
    );
    publish_extends_the_restored_chain(&restored, &token);

    // A non-empty target is refused.
    let (ok, _, stderr) = restore(&target, &file);
    assert!(!ok);
    assert!(
        stderr.contains("the target is not empty") && stderr.contains("--force"),
        "{stderr}"
    );
    // And by force too, since it went further than the backup (the publish
    // above): its log would keep a record past the restored head. Nothing
    // is written, and it goes on taking publishes.
    let (ok, _, stderr) = restore_forced(&target, &file);
    assert!(!ok);
    assert!(
        stderr.contains("the target went further than the backup")
            && stderr.contains("transparency log holds")
            && stderr.contains("Nothing was restored"),
        "{stderr}"
    );
    let krate = crate_file("after-force", "1.0.0", "pub fn h() {}\n");
    assert_eq!(
        publish_raw(&restored.url, &token, "after-force", "1.0.0", &krate),
        Some(200)
    );
    // Over a target that holds what the backup holds, it restores.
    let same = Stores::new();
    assert!(restore(&same, &file).0);
    let (ok, _, stderr) = restore_forced(&same, &file);
    assert!(ok, "{stderr}");

    // A damaged backup is refused before anything is written.
    let bytes = std::fs::read(&file).unwrap();
    let krate = &acknowledged[1].1;
    let at = bytes
        .windows(krate.len())
        .position(|w| w == &krate[..])
        .expect("the crate's bytes are in the backup");
    let mut flipped = bytes.clone();
    flipped[at + krate.len() / 2] ^= 0x20;
    for (what, damaged) in [
        ("truncated", bytes[..bytes.len() / 2].to_vec()),
        (
            "truncated at the manifest",
            bytes[..bytes.len() - 2048].to_vec(),
        ),
        ("a flipped byte in a blob", flipped),
    ] {
        let bad = dir.path().join("damaged.backup");
        std::fs::write(&bad, &damaged).unwrap();
        let fresh = Stores::new();
        let (ok, _, stderr) = restore(&fresh, &bad);
        assert!(!ok, "{what} restored");
        assert!(
            stderr.contains("is damaged, nothing was restored"),
            "{what}: {stderr}"
        );
        assert!(untouched(&fresh), "{what}: the target was written to");
    }
}

/// A copy of the backup `file` at `out` whose `tables/..-log_records-..`
/// part has record `idx` claim another sha256, its manifest entry
/// rewritten to match (as someone who rewrites a backup would).
fn with_log_record_changed(file: &std::path::Path, out: &std::path::Path, idx: i64, sha256: &str) {
    let mut archive = tar::Archive::new(std::fs::File::open(file).unwrap());
    let mut members: Vec<(String, Vec<u8>)> = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        members.push((path, bytes));
    }
    let (_, manifest) = members.pop().unwrap();
    let mut manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let mut changed = 0;
    for (path, bytes) in &mut members {
        if !path.contains("-log_records-") {
            continue;
        }
        let text = String::from_utf8(bytes.clone()).unwrap();
        let mut lines = Vec::new();
        for line in text.lines() {
            let mut row: serde_json::Value = serde_json::from_str(line).unwrap();
            // Columns: registry_id, idx, name, canon_name, vers, canon_vers, sha256, ...
            if row[1] == idx {
                row[6] = sha256.into();
                changed += 1;
            }
            lines.push(format!("{row}\n"));
        }
        *bytes = lines.concat().into_bytes();
        manifest["members"][path.as_str()] =
            serde_json::json!({"sha256": sha256_hex(bytes), "size": bytes.len()});
    }
    assert_eq!(changed, 1, "record {idx} is in the backup once");
    let mut tar = tar::Builder::new(std::fs::File::create(out).unwrap());
    let manifest = serde_json::to_vec_pretty(&manifest).unwrap();
    for (path, bytes) in members
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .chain([("berth-backup.json", manifest.as_slice())])
    {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, path, bytes).unwrap();
    }
    tar.finish().unwrap();
}

/// The transparency log where data moves: fsck checks it, a restore
/// verifies a backup's log (its checkpoints with the target's key when it
/// has the source's) and refuses one whose records were rewritten, before
/// it writes anything.
#[test]
fn fsck_and_restore_check_the_transparency_log() {
    // The live log is edited with sqlite3: SQLite + files.
    let server = Server::start_on(Stores::sqlite(), "");
    let token = server.user_with_token("alice");
    for name in ["first", "second", "third"] {
        let krate = crate_file(name, "1.0.0", "pub fn f() {}\n");
        assert_eq!(
            publish_raw(&server.url, &token, name, "1.0.0", &krate),
            Some(200)
        );
    }
    assert_eq!(server.get("/r/main/log/checkpoint").status(), 200);
    let (code, report) = fsck(&server);
    assert_eq!(findings(&report), Vec::<String>::new());
    assert_eq!(code, Some(0));
    assert_eq!(
        (
            report["log_records"].as_u64(),
            report["log_checkpoints"].as_u64()
        ),
        (Some(3), Some(1))
    );
    let out = server.berth(&["fsck"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("3 records and 1 checkpoint of the transparency log: 0 findings"),
        "{text}"
    );

    // Restored where there is no key yet: the log is checked, the
    // signatures are not, and the operator is told so.
    let (dir, file) = backup_of(&server, "logged.backup");
    let target = Stores::new();
    let (ok, stdout, stderr) = restore(&target, &file);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("transparency log: 3 records and 1 checkpoint verified"),
        "{stdout}"
    );
    assert!(
        stderr.contains("note: the transparency log's checkpoints were not checked against a key"),
        "{stderr}"
    );
    // Where the source's key is: checked against it, nothing to note.
    let keyed = Stores::new();
    std::fs::copy(
        server.data_dir.join("transparency.key"),
        keyed.data_dir.path().join("transparency.key"),
    )
    .unwrap();
    let (ok, stdout, stderr) = restore(&keyed, &file);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("1 checkpoint verified") && !stderr.contains("note:"),
        "{stdout}{stderr}"
    );

    // A backup whose log record was rewritten (manifest and all) is
    // refused, and nothing is written.
    let tampered = dir.path().join("tampered.backup");
    with_log_record_changed(&file, &tampered, 1, &"ab".repeat(32));
    let fresh = Stores::new();
    let (ok, _, stderr) = restore(&fresh, &tampered);
    assert!(!ok, "a rewritten log restored");
    assert!(
        stderr.contains("holds a transparency log that does not verify, nothing was restored")
            && stderr.contains("log_leaf: main/second@1.0.0: log record #1 (sha256 abab")
            && stderr.contains("log_checkpoint_root: registry main: the checkpoint of size 3"),
        "{stderr}"
    );
    assert!(untouched(&fresh), "the target was written to");

    // The live log's record changed: fsck names it, and the checkpoint.
    berth_testkit::run_ok(
        Command::new("sqlite3")
            .arg(server.data_dir.join("berth.db"))
            .arg(format!(
                "UPDATE log_records SET sha256 = '{}' WHERE idx = 2",
                "cd".repeat(32)
            )),
    );
    let (code, report) = fsck(&server);
    assert_eq!(code, Some(1));
    let found = findings(&report);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(
        found[0].starts_with("log_checkpoint_root - the checkpoint of size 3 "),
        "{found:#?}"
    );
    assert!(
        found[1].starts_with("log_checksum third log record #2 has sha256 cdcd"),
        "{found:#?}"
    );
    assert!(
        found[2].starts_with("log_leaf third log record #2 (sha256 cdcd"),
        "{found:#?}"
    );
    let leaf = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "log_leaf")
        .unwrap();
    assert_eq!(
        (&leaf["registry"], &leaf["version"], &leaf["log_index"]),
        (&"main".into(), &"1.0.0".into(), &2.into())
    );
    let out = server.berth(&["fsck"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("log_leaf: main/third@1.0.0: log record #2 ") && text.contains("3 findings"),
        "{text}"
    );
}

/// A backup of SQLite + files restores into PostgreSQL + S3 (run in the
/// postgres-s3 pass, which has those stores).
#[test]
fn a_backup_of_sqlite_and_files_restores_into_postgres_and_s3() {
    if berth_testkit::backend() != berth_testkit::Backend::PostgresS3 {
        eprintln!("skipped: needs BERTH_TEST_BACKEND=postgres-s3");
        return;
    }
    let server = Server::start_on(Stores::sqlite(), "");
    let token = server.user_with_token("alice");
    let names: Vec<String> = (0..3).map(|i| format!("moved-{i}")).collect();
    for name in &names {
        for vers in ["1.0.0", "1.1.0"] {
            let krate = crate_file(name, vers, "pub fn f() {}\n");
            assert_eq!(
                publish_raw(&server.url, &token, name, vers, &krate),
                Some(200)
            );
        }
    }
    let before = served(&server, &names);
    let (_dir, file) = backup_of(&server, "sqlite.backup");
    let target = Stores::new();
    let (ok, _, stderr) = restore(&target, &file);
    assert!(ok, "{stderr}");
    let restored = Server::start_on(target, "");
    assert!(
        served(&restored, &names) == before,
        "the restored files differ"
    );
    publish_extends_the_restored_chain(&restored, &token);
}

/// The `openssl req` arguments for a new, unencrypted P-256 key.
const NEW_P256_KEY: &[&str] = &[
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
];

/// Runs openssl in `dir`, failing the test on an error.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    berth_testkit::run_ok(Command::new("openssl").current_dir(dir).args(args));
}

/// A certificate for 127.0.0.1 named `cn`, signed by the test's CA
/// (`ca.pem`, `ca.key` in `dir`), written to `cert` and `key` through
/// temporary files, as a renewal tool would.
fn leaf(dir: &std::path::Path, cn: &str, cert: &std::path::Path, key: &std::path::Path) {
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let subject = format!("/CN={cn}");
    let request = ["-keyout", "new.key", "-out", "new.csr", "-subj", &subject];
    openssl(dir, &[&["req"], NEW_P256_KEY, &request].concat());
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "new.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "new.pem",
        ],
    );
    std::fs::rename(dir.join("new.key"), key).unwrap();
    std::fs::rename(dir.join("new.pem"), cert).unwrap();
}

/// What a TLS client sees at `addr`: the handshake's text from openssl
/// (subject, negotiated ALPN protocol, verification result).
fn handshake(dir: &std::path::Path, addr: &str) -> String {
    let out = std::process::Command::new("openssl")
        .current_dir(dir)
        .args([
            "s_client",
            "-connect",
            addr,
            "-servername",
            "localhost",
            "-alpn",
            "h2,http/1.1",
            "-CAfile",
            "ca.pem",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run openssl s_client");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Kills a spawned server when the test ends, however it ends.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn cargo_publishes_and_fetches_over_https_and_a_renewed_certificate_needs_no_restart() {
    let stores = Stores::new();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(
        d,
        &[
            &["req", "-x509"],
            NEW_P256_KEY,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=berth-test-ca",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        ]
        .concat(),
    );
    let (cert, key) = (d.join("server.pem"), d.join("server.key"));
    leaf(d, "berth-first", &cert, &key);
    let config = d.join("berth.toml");
    std::fs::write(
        &config,
        format!(
            "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\nreload_secs = 1\n",
            cert.display(),
            key.display()
        ),
    )
    .unwrap();
    let berth = |args: &[&str]| {
        berth_testkit::run_ok(stores.command(&berth_bin(), Some(&config)).args(args))
    };
    // `config check` loads the pair as a start would.
    assert!(berth(&["config", "check", config.to_str().unwrap()]).contains("reload_secs = 1"));
    berth(&["user", "add", "alice"]);
    let token = berth(&["token", "create", "--user", "alice"])
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();

    let mut child = stores
        .command(&berth_bin(), Some(&config))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(d.join("server.log")).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = Killed(child);
    let url = berth_testkit::listening_url(stdout);
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let addr = url.trim_start_matches("https://").to_string();

    // The handshake: the configured certificate, verified by the test's CA,
    // HTTP/2 offered and taken.
    let seen = handshake(d, &addr);
    assert!(seen.contains("berth-first"), "{seen}");
    assert!(seen.contains("ALPN protocol: h2"), "{seen}");
    assert!(seen.contains("Verify return code: 0 (ok)"), "{seen}");

    // Real cargo, trusting the test's CA.
    let cargo = berth_testkit::Cargo::with_registries(
        &[("main", format!("sparse+{url}/r/main/index/"))],
        &format!("[http]\ncainfo = \"{}\"\n", d.join("ca.pem").display()),
    )
    .with_token(&token);
    let pkg = cargo.package("tls-lib", "1.0.0", "", "");
    cargo.publish(&pkg);
    let app = cargo.consumer(
        "tls-app",
        "tls-lib = { version = \"1\", registry = \"main\" }",
    );
    cargo.ok(&app, &["fetch"]);

    // A renewed certificate is served without a restart.
    leaf(d, "berth-second", &cert, &key);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let seen = handshake(d, &addr);
        if seen.contains("berth-second") {
            assert!(seen.contains("Verify return code: 0 (ok)"), "{seen}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the renewed certificate was not served:\n{seen}\n{}",
            std::fs::read_to_string(d.join("server.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let pkg = cargo.package("tls-lib", "1.1.0", "", "");
    cargo.publish(&pkg);
    cargo.ok(&app, &["update"]);
    let log = std::fs::read_to_string(d.join("server.log")).unwrap();
    assert!(log.contains("TLS certificate reloaded"), "{log}");
    drop(server);
}

/// The members of a backup file, in order.
fn tar_members(file: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    use std::io::Read;
    let mut archive = tar::Archive::new(std::fs::File::open(file).unwrap());
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().display().to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        out.push((path, bytes));
    }
    out
}

/// Writes `members` as a tar file, as `berth backup` writes them.
fn write_tar(file: &std::path::Path, members: &[(String, Vec<u8>)]) {
    let mut tar = tar::Builder::new(std::fs::File::create(file).unwrap());
    for (path, bytes) in members {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, path, &bytes[..]).unwrap();
    }
    tar.finish().unwrap();
}

/// Replaces the member `path` with `bytes`, and its manifest entry to
/// match (what someone who crafts a backup can do).
fn forge_member(members: &mut [(String, Vec<u8>)], path: &str, bytes: Vec<u8>) {
    let at = members.iter().position(|(p, _)| p == path).unwrap();
    let entry = serde_json::json!({"sha256": sha256_hex(&bytes), "size": bytes.len()});
    members[at].1 = bytes;
    let (_, manifest) = members.last_mut().unwrap();
    let mut m: serde_json::Value = serde_json::from_slice(manifest).unwrap();
    m["members"][path] = entry;
    *manifest = serde_json::to_vec_pretty(&m).unwrap();
}

/// Issue 25: a crafted backup is refused before the first write: a table
/// part given twice (the forged copy first, the manifest matching the real
/// one), and a part that is not rows (with a manifest rewritten to match).
#[test]
fn a_crafted_backup_is_refused_before_anything_is_written() {
    let (server, [alice]) = Server::with_users(["alice"]);
    let krate = crate_file("kept", "1.0.0", "pub fn k() {}\n");
    assert_eq!(
        publish_raw(&server.url, &alice, "kept", "1.0.0", &krate),
        Some(200)
    );
    let (dir, file) = backup_of(&server, "real.backup");
    let real = tar_members(&file);
    assert!(real.iter().any(|(p, _)| p.starts_with("blobs/")));
    let part = |table: &str| {
        real.iter()
            .position(|(p, _)| p.contains(&format!("-{table}-")))
            .unwrap()
    };

    // A forged users part (an administrator `mallory`) before the real one.
    let mut duplicated = real.clone();
    let users = part("users");
    let forged = b"[1,\"mallory\",null,\"x\",1,0,0]\n".to_vec();
    duplicated.insert(users, (real[users].0.clone(), forged));

    // The audit log's part (late in the file, after the blobs' and other
    // tables' members) replaced by something that is not rows.
    let mut malformed = real.clone();
    let audit = real[part("audit_log")].0.clone();
    forge_member(&mut malformed, &audit, b"[1, \"not a row\"\n".to_vec());
    // And one with rows of the wrong shape.
    let mut misshapen = real.clone();
    forge_member(&mut misshapen, &audit, b"[1,2,3]\n".to_vec());

    for (what, members, says) in [
        ("a duplicated part", duplicated, "appears more than once"),
        ("a malformed part", malformed, "is not JSON"),
        ("a misshapen row", misshapen, "is not an array of 14 cells"),
    ] {
        let crafted = dir.path().join("crafted.backup");
        write_tar(&crafted, &members);
        let fresh = Stores::new();
        let (ok, _, stderr) = restore(&fresh, &crafted);
        assert!(!ok, "{what} restored");
        assert!(
            stderr.contains("is damaged, nothing was restored") && stderr.contains(says),
            "{what}: {stderr}"
        );
        assert!(untouched(&fresh), "{what}: the target was written to");
    }
}

/// The size of the GNU long name of the hostile tar files below.
const LONG_NAME: u64 = 256 * 1024 * 1024;

/// A tar stream's first record: a GNU long name that claims
/// [`LONG_NAME`] bytes (the zeros follow through the pipe).
fn long_name_head() -> Vec<u8> {
    TarballBuilder::new()
        .raw_header(b"././@LongLink", EntryType::GNULongName, LONG_NAME)
        .tar_unfinished()
}

/// Issue 25: a 256 MiB GNU long name is refused after a few KiB, without
/// holding it in memory, and nothing is written.
#[test]
fn a_huge_long_name_in_a_backup_is_refused_in_little_memory() {
    let target = Stores::new();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("hostile.backup");
    let fed = feed_through_fifo(
        target.command(&berth_bin(), None).arg("restore").arg(&fifo),
        &fifo,
        &long_name_head(),
        LONG_NAME,
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&fed.output.stderr);
    assert!(!fed.took_all, "restore read the whole long name");
    assert!(
        fed.peak_rss_kib < 96 * 1024,
        "restore peaked at {} KiB",
        fed.peak_rss_kib
    );
    assert!(!fed.output.status.success(), "{stderr}");
    assert!(
        stderr.contains("is damaged, nothing was restored")
            && stderr.contains("a tar header record (a long name, long link or PAX header) is longer than 65536 bytes"),
        "{stderr}"
    );
    assert!(untouched(&target));
}

/// Issue 25: under umask 022, the data directory, the SQLite database (and
/// its -wal/-shm files), the blob directory and a backup are private to
/// the user Berth runs as.
#[test]
fn the_data_dir_database_blobs_and_backups_are_private_under_umask_022() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // `berth` as an operator with the common umask 022 runs it.
    let wrapper = dir.path().join("berth-022");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\numask 022\nexec '{}' \"$@\"\n",
            berth_bin().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.path().join("new").join("data");
    let berth = |args: &[&str]| {
        berth_testkit::run_ok(
            Command::new(&wrapper)
                .arg("--data-dir")
                .arg(&data)
                .args(args)
                .env_remove("BERTH_CONFIG")
                .env_remove("BERTH_DATA_DIR"),
        )
    };
    berth(&["user", "add", "alice"]);
    let backup = dir.path().join("registry.backup");
    berth(&["backup", "--out", backup.to_str().unwrap()]);
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    // The umask applies to what the shell creates: the check is real.
    let probe = dir.path().join("probe");
    run_ok_sh(&format!("umask 022; : > '{}'", probe.display()));
    assert_eq!(mode(&probe), 0o644);

    assert_eq!(mode(&data), 0o700, "the data directory");
    assert_eq!(mode(&data.join("berth.db")), 0o600, "the database");
    for side in ["berth.db-wal", "berth.db-shm"] {
        let p = data.join(side);
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{side}");
        }
    }
    assert_eq!(mode(&data.join("blobs")), 0o700, "the blob directory");
    assert_eq!(mode(&backup), 0o600, "the backup");

    // A newcomer's first command is `berth serve`, which makes the data
    // dir itself (with its lock file) before the store opens.
    let served = dir.path().join("served");
    let mut serve = Command::new(&wrapper)
        .arg("--data-dir")
        .arg(&served)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("BERTH_CONFIG")
        .env_remove("BERTH_DATA_DIR")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = berth_testkit::listening_url(serve.stdout.take().unwrap());
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let modes = [
        (served.clone(), 0o700),
        (served.join("berth.db"), 0o600),
        (served.join("berth.serve-lock"), 0o600),
        (served.join("blobs"), 0o700),
    ];
    let _ = serve.kill();
    let _ = serve.wait();
    for (path, want) in modes {
        assert_eq!(mode(&path), want, "{}", path.display());
    }
}

/// Runs a shell command line, failing the test unless it succeeds.
fn run_ok_sh(line: &str) {
    berth_testkit::run_ok(Command::new("/bin/sh").arg("-c").arg(line));
}
