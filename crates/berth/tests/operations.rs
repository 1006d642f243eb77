//! What operators rely on when something goes wrong, through the real
//! binary: request ids that tie a user's error report to the server's log
//! lines, start-up that fails at once when S3 credentials are missing,
//! `config check`, and `fsck` and `gc` on a deliberately broken store.

use std::net::TcpListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

use berth_testkit::{berth_bin, http, Server, Stores};

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

#[test]
fn a_request_id_reaches_the_response_the_error_body_and_the_log() {
    let server = Server::start();

    // The client's id is kept: in the header, at the end of the detail
    // cargo prints, and on the server's log lines for the request.
    let r = server
        .request(reqwest::Method::GET, "/r/main/api/v1/crates/nothere/owners")
        .header("X-Request-Id", "ci-run-42.step:7")
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["x-request-id"], "ci-run-42.step:7");
    assert_eq!(
        r.text().unwrap(),
        r#"{"errors":[{"detail":"crate `nothere` does not exist (request id: ci-run-42.step:7)"}]}"#
    );
    let lines = log_lines_with(&server, "ci-run-42.step:7");
    assert!(
        lines.iter().any(|l| l.contains("404")),
        "no log line with the id and the status:\n{}",
        server.log()
    );

    // An id that is not sane (spaces, too long) is replaced by one the
    // server makes, used the same way.
    for bad in ["has spaces", &"x".repeat(129), "quote\"d"] {
        let r = server
            .request(reqwest::Method::GET, "/r/main/api/v1/crates/nothere/owners")
            .header("X-Request-Id", bad)
            .send()
            .unwrap();
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
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    // Keep reading: a closed pipe would end the server at its next line.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let url = first
        .trim()
        .strip_prefix("Berth is listening on ")
        .unwrap_or_else(|| panic!("serve did not start: {first}"))
        .to_string();
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
        let out = berth_without_credentials(&stores, &dir.join("unused.toml"))
            .args(["config", "check"])
            .arg(file)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
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
