//! What an operator meets on the command line: the commands the start
//! message prints work as printed, the CLI finds the configuration the
//! server was started with, read-only commands never create data where
//! there is none, and configuration mistakes are named as the file spells
//! them.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use berth_testkit::stores::berth_bin;
use berth_testkit::{Server, Stores};
use insta::assert_snapshot;

/// A child process killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `berth` with none of the caller's settings, in `cwd`.
fn bare_berth(cwd: &Path) -> Command {
    let mut cmd = Command::new(berth_bin());
    cmd.current_dir(cwd)
        .env_remove("BERTH_CONFIG")
        .env_remove("BERTH_DATA_DIR")
        .env("RUST_BACKTRACE", "0")
        .env("RUST_LIB_BACKTRACE", "0");
    cmd
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_commands_the_start_message_prints_work_as_printed() {
    let stores = Stores::new();
    // Spaces in both paths: the printed commands must quote them.
    let root = tempfile::tempdir().unwrap();
    let conf_dir = root.path().join("my conf");
    let data_dir = root.path().join("my data");
    std::fs::create_dir_all(&conf_dir).unwrap();
    std::fs::create_dir_all(&data_dir).unwrap();
    let config = conf_dir.join("berth.toml");
    std::fs::write(&config, "[[registries]]\nname = \"company\"\n").unwrap();
    let elsewhere = tempfile::tempdir().unwrap();

    let mut serve = bare_berth(elsewhere.path());
    serve
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .envs(stores.env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = Killed(serve.spawn().expect("spawn berth serve"));
    let stdout = child.0.stdout.take().unwrap();
    let mut printed = Vec::new();
    let mut verify = None;
    let mut all = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        all.push_str(&line);
        all.push('\n');
        // `berth verify` runs in a project, on its lockfile (tests/transparency.rs).
        if let Some(command) = line.strip_prefix("  berth verify ") {
            verify = Some(command.to_string());
        } else if let Some(command) = line.strip_prefix("  berth ") {
            printed.push(format!("berth {command}"));
            if command.contains("user passwd") {
                break;
            }
        }
    }
    assert_eq!(printed.len(), 3, "{all}");
    let verify = verify.expect("the start message says how to verify a lockfile");
    assert!(
        verify.starts_with("--index sparse+http://127.0.0.1:")
            && verify.contains("/index/ --key berth-127.0.0.1-")
            && verify.ends_with(" Cargo.lock"),
        "{verify}"
    );

    // Run each as a shell would, from another directory, with `berth` on
    // the PATH.
    let bin_dir = berth_bin().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut outputs = Vec::new();
    for line in &printed {
        let mut sh = Command::new("sh");
        sh.arg("-c")
            .arg(line)
            .current_dir(elsewhere.path())
            .env("PATH", &path)
            .env_remove("BERTH_CONFIG")
            .env_remove("BERTH_DATA_DIR")
            .envs(stores.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut run = sh.spawn().unwrap();
        run.stdin
            .take()
            .unwrap()
            .write_all(b"correct horse battery staple\n")
            .unwrap();
        let out = run.wait_with_output().unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "`{line}` failed: {stderr}\n{all}");
        outputs.push(stdout);
    }
    assert!(outputs[0].contains("added user `alice`"), "{}", outputs[0]);
    assert!(outputs[1].trim().lines().last().unwrap().len() > 20);

    // Without --config, a command on that data dir finds the file the
    // server was started with (recorded owner-only), and says so.
    let record = data_dir.join("config-path");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&record).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let out = bare_berth(elsewhere.path())
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["user", "list"])
        .envs(stores.env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("alice"), "{stdout}");
    assert!(
        stderr.contains(&config.display().to_string()) && stderr.contains("config-path"),
        "{stderr}"
    );
}

#[test]
fn read_only_commands_in_a_directory_without_data_create_nothing() {
    let empty = tempfile::tempdir().unwrap();
    let looked = empty.path().join("berth-data");
    for args in [
        &["user", "list"][..],
        &["fsck"],
        &["audit"],
        &["audit", "verify"],
        &["token", "list", "--user", "alice"],
        &["role", "list"],
        &["team", "list"],
        &["blobs", "list"],
        &["blobs", "verify"],
        &["gc"],
        &["backup", "--out", "backup.tar"],
    ] {
        let out = bare_berth(empty.path()).args(args).output().unwrap();
        let (_, stderr) = text(&out);
        assert!(!out.status.success(), "berth {args:?} succeeded");
        assert!(
            stderr.contains(&format!(
                "no Berth data in {} (give --data-dir or BERTH_DATA_DIR",
                looked.display()
            )),
            "berth {args:?}: {stderr}"
        );
        let created: Vec<_> = std::fs::read_dir(empty.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(created.is_empty(), "berth {args:?} created {created:?}");
    }
}

#[test]
fn a_missing_user_names_the_database_looked_in() {
    let server = Server::start();
    let out = server.berth(&["token", "list", "--user", "nobody"]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("no user `nobody`") && stderr.contains("berth looked in the database"),
        "{stderr}"
    );
    if server.stores.backend() == berth_testkit::stores::Backend::Sqlite {
        let db = server.data_dir.join("berth.db");
        assert!(stderr.contains(&db.display().to_string()), "{stderr}");
    }
}

#[test]
fn an_unknown_config_key_is_named_as_the_file_spells_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("berth.toml"),
        "[database]\nurll = \"sqlite://x.db\"\n",
    )
    .unwrap();
    let out = bare_berth(dir.path())
        .args(["--config", "berth.toml", "config"])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert_snapshot!(stderr.trim(), @"Error: configuration error: unknown key `database.urll` in berth.toml; the keys allowed there are `url`, `max_connections`");
}

#[test]
fn a_missing_certificate_stops_the_start_before_it_is_announced() {
    let stores = Stores::new();
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("missing-cert.pem");
    let key = dir.path().join("missing-key.pem");
    std::fs::write(
        dir.path().join("berth.toml"),
        format!(
            "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
            cert.display(),
            key.display()
        ),
    )
    .unwrap();
    let out = bare_berth(dir.path())
        .arg("--data-dir")
        .arg(stores.data_dir.path())
        .args(["--config", "berth.toml", "serve", "--listen", "127.0.0.1:0"])
        .envs(stores.env.iter().map(|(k, v)| (k, v)))
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(!stdout.contains("listening"), "{stdout}");
    assert!(!stderr.contains("berth is serving"), "{stderr}");
    assert!(
        stderr.contains(&format!("tls.cert_file {} does not exist", cert.display())),
        "{stderr}"
    );
}

fn proxy_config(upstream: &str) -> String {
    format!(
        "[[registries]]\nname = \"main\"\n\n[[registries]]\nname = \"public\"\nkind = \"proxy\"\n\
         upstream = \"{upstream}\"\nindex_ttl_secs = 3600\n"
    )
}

#[test]
fn mirror_fill_counts_missing_crates_rechecks_them_and_purge_forgets() {
    use berth_testkit::PublishBuilder;
    // The upstream: another Berth, where `late` is published between fills.
    let upstream = Server::start();
    let token = upstream.user_with_token("alice");
    let publish = |name: &str| {
        let reply = upstream.publish(Some(&token), PublishBuilder::new(name, "1.0.0").body());
        assert_eq!(reply.status, 200, "{}", reply.text);
    };
    publish("present");
    let server = Server::start_with_config(&proxy_config(&upstream.index_url("main")));
    let list = server.data_dir.join("crates.txt");
    std::fs::write(&list, "present\nlate\nno-such-crate-anywhere@1.0.0\n").unwrap();
    let fill = |config: &Path| {
        server
            .stores
            .command(&berth_bin(), Some(config))
            .args(["mirror", "fill", "--registry", "public", "--crates"])
            .arg(&list)
            .env("RUST_BACKTRACE", "0")
            .env("RUST_LIB_BACKTRACE", "0")
            .output()
            .unwrap()
    };

    let out = fill(server.config_file.as_ref().unwrap());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains(
            "1 fetched, 0 already cached, 0 blocked by policy, 2 not on the upstream, 0 failed"
        ),
        "{stdout}"
    );
    assert!(
        stderr.contains("not on the upstream: late (no version of it)")
            && stderr.contains("not on the upstream: no-such-crate-anywhere@1.0.0")
            && stderr.contains("2 crates were asked for not on the upstream of registry `public`")
            && !stderr.contains("NotFound"),
        "{stderr}"
    );

    // The upstream now has `late`: a fill asks again although "not found"
    // was remembered for an hour.
    publish("late");
    let later = server.config_file.clone().unwrap();
    let out = fill(&later);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains(
            "1 fetched, 1 already cached, 0 blocked by policy, 1 not on the upstream, 0 failed"
        ),
        "{stdout}"
    );
    assert!(
        stderr.contains("1 crate was asked for not on the upstream"),
        "{stderr}"
    );

    // Purge while the server runs: what it has not read yet it asks the
    // upstream for again.
    assert_eq!(server.get("/r/public/index/pr/es/present").status(), 200);
    let upstream_asked = || upstream.log().matches("/r/main/index/la/te/late").count();
    let asked = upstream_asked();
    let purge = |args: &[&str]| {
        let out = server.berth(&[&["proxy", "purge", "--registry", "public"], args].concat());
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}");
        stdout
    };
    let out = purge(&["no_such-crate-anywhere"]);
    assert!(
        out.contains(
            "registry `public` forgot 1 cached index answer and 0 cached crates of \
             `no_such-crate-anywhere`"
        ) && out.contains("at most 3600 seconds more"),
        "{out}"
    );
    // Every crate: `present`, `late` and the upstream's `config.json`.
    let out = purge(&["--crates"]);
    assert!(
        out.contains("forgot 3 cached index answers and 2 cached crates of every crate"),
        "{out}"
    );
    assert_eq!(server.get("/r/public/index/la/te/late").status(), 200);
    assert!(
        upstream_asked() > asked,
        "the running server did not ask its upstream again"
    );
    let audit = server.berth(&["audit", "--action", "proxy.purge"]);
    let (audit, _) = text(&audit);
    assert_eq!(audit.lines().count(), 2, "{audit}");
    assert!(audit.contains("\tno-such-crate-anywhere\t"), "{audit}");
}

#[test]
fn refused_requests_are_logged_with_their_reason_and_index_probes_at_debug() {
    let server = Server::start();
    let r = server
        .request(reqwest::Method::GET, "/r/main/api/v1/crates/nothere/owners")
        .header("X-Request-Id", "refused-1")
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = server
        .request(reqwest::Method::GET, "/r/main/index/no/th/nothere")
        .header("X-Request-Id", "probe-1")
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let line = |id: &str| loop {
        let found = server
            .log()
            .lines()
            .find(|l| l.contains(id) && l.contains("request refused"))
            .map(str::to_string);
        match found {
            Some(line) => return line,
            None if std::time::Instant::now() > deadline => panic!("no line for {id}"),
            None => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    };
    let refused = line("refused-1");
    assert!(
        refused.contains("INFO") && refused.contains("reason=") && refused.contains("nothere"),
        "{refused}"
    );
    let probe = line("probe-1");
    assert!(
        probe.contains("DEBUG") && probe.contains("reason="),
        "{probe}"
    );
}

#[test]
fn completions_and_the_manual_page_need_no_data() {
    let empty = tempfile::tempdir().unwrap();
    for (args, expect, newest) in [
        (&["completions", "bash"][..], "_berth()", "purge"),
        (&["completions", "zsh"], "#compdef berth", "purge"),
        (&["completions", "fish"], "complete -c berth", "purge"),
        (&["man"], ".TH berth 1", "proxy"),
    ] {
        let out = bare_berth(empty.path()).args(args).output().unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "berth {args:?}: {stderr}");
        assert!(stdout.contains(expect), "berth {args:?}: {stdout}");
        // Every subcommand is offered, including the newest.
        assert!(stdout.contains(newest), "berth {args:?}");
    }
    let created: Vec<_> = std::fs::read_dir(empty.path()).unwrap().collect();
    assert!(created.is_empty());
}
