//! End to end: a real `berth serve` driven by the real `cargo`.

use berth_testkit::{
    backend, crate_file, http, index_lines, publish_raw, redact_json, redact_request_ids,
    sha256_hex, Backend, Cargo, Server, Stores,
};
use insta::{assert_json_snapshot, assert_snapshot};

#[test]
fn publish_depend_build_and_run() {
    let server = Server::start();
    let cargo = Cargo::for_new_user(&server, "alice");

    cargo.published("alpha", "1.0.0");
    let beta = cargo.package(
        "beta",
        "0.2.0",
        "alpha = { version = \"1\", registry = \"main\" }",
        "",
    );
    std::fs::write(
        beta.join("src/lib.rs"),
        "pub fn greet() -> String { format!(\"beta uses {}\", alpha::name()) }\n",
    )
    .unwrap();
    // Full publish, with cargo's own verification build against the registry.
    cargo.ok(&beta, &["publish", "--registry", "main", "--allow-dirty"]);

    let app = cargo.work.path().join("app");
    std::fs::create_dir_all(app.join("src")).unwrap();
    std::fs::write(
        app.join("Cargo.toml"),
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n\
         [dependencies]\nalpha = { version = \"1\", registry = \"main\" }\nbeta = { version = \"0.2\", registry = \"main\" }\n",
    )
    .unwrap();
    std::fs::write(
        app.join("src/main.rs"),
        "fn main() { println!(\"{} / {}\", alpha::name(), beta::greet()); }\n",
    )
    .unwrap();
    let out = cargo.ok(&app, &["run", "-q"]);
    assert!(out.contains("alpha 1.0.0 / beta uses alpha 1.0.0"), "{out}");

    // The lock file's checksums are the sha256 of the .crate files served.
    let lock = std::fs::read_to_string(app.join("Cargo.lock")).unwrap();
    for (name, vers, path) in [
        ("alpha", "1.0.0", "al/ph/alpha"),
        ("beta", "0.2.0", "be/ta/beta"),
    ] {
        let bytes = server
            .get(&format!("/r/main/api/v1/crates/{name}/{vers}/download"))
            .bytes()
            .unwrap();
        let sum = sha256_hex(&bytes);
        assert!(
            lock.contains(&format!("checksum = \"{sum}\"")),
            "{name}: {sum} not in\n{lock}"
        );
        let lines = index_lines(&server, "main", path);
        assert_eq!(lines[0]["cksum"], sum.as_str());
    }
}

/// The version of `name` that a fresh lock file resolves to.
fn resolved_version(cargo: &Cargo, dir: &std::path::Path, name: &str) -> String {
    let _ = std::fs::remove_file(dir.join("Cargo.lock"));
    cargo.ok(dir, &["generate-lockfile"]);
    let lock: toml::Table = std::fs::read_to_string(dir.join("Cargo.lock"))
        .unwrap()
        .parse()
        .unwrap();
    lock["package"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str() == Some(name))
        .and_then(|p| p["version"].as_str())
        .unwrap_or_else(|| panic!("{name} not in lock file"))
        .to_string()
}

#[test]
fn publish_workspace_of_interdependent_crates() {
    let server = Server::start();
    let cargo = Cargo::for_new_user(&server, "alice");
    let ws = cargo.work.path().join("ws");
    let member = |name: &str, deps: &str| {
        let dir = ws.join(name);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(
            dir.join("Cargo.toml"),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\nlicense = \"MIT\"\n\
                 description = \"member {name}\"\npublish = [\"main\"]\n\n[dependencies]\n{deps}\n"
            ),
        )
        .unwrap();
        std::fs::write(dir.join("src/lib.rs"), "pub fn f() {}\n").unwrap();
    };
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(
        ws.join("Cargo.toml"),
        "[workspace]\nresolver = \"2\"\nmembers = [\"ws-core\", \"ws-util\", \"ws-app\"]\n",
    )
    .unwrap();
    member("ws-core", "");
    member(
        "ws-util",
        "ws-core = { path = \"../ws-core\", version = \"0.1.0\", registry = \"main\" }",
    );
    member(
        "ws-app",
        "ws-core = { path = \"../ws-core\", version = \"0.1.0\", registry = \"main\" }\n\
         ws-util = { path = \"../ws-util\", version = \"0.1.0\", registry = \"main\" }",
    );
    cargo.ok(
        &ws,
        &[
            "publish",
            "--workspace",
            "--registry",
            "main",
            "--allow-dirty",
            "--no-verify",
        ],
    );
    for path in ["ws/-c/ws-core", "ws/-u/ws-util", "ws/-a/ws-app"] {
        let lines = index_lines(&server, "main", path);
        assert_eq!(lines.len(), 1, "{path}");
        assert_eq!(lines[0]["vers"], "0.1.0");
    }
    let app = index_lines(&server, "main", "ws/-a/ws-app");
    let dep_names: Vec<&str> = app[0]["deps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(dep_names, ["ws-core", "ws-util"]);
}

#[test]
fn republishing_a_version_is_refused() {
    let server = Server::start();
    let cargo = Cargo::for_new_user(&server, "alice");
    let dir = cargo.published("dup", "1.0.0");
    let err = cargo.publish_refused(&dir, "main");
    assert!(
        err.contains("already uploaded") || err.contains("already exists"),
        "{err}"
    );
    // Build metadata does not make a new version. (cargo itself sees the
    // version in the index and stops; the server's own refusal of the same
    // upload is pinned by the raw-HTTP tests in bad_input.rs.)
    let dir2 = cargo.package("dup", "1.0.0+rebuild", "", "");
    let err = cargo.publish_refused(&dir2, "main");
    assert!(
        err.contains("already uploaded") || err.contains("already exists"),
        "{err}"
    );
    assert_eq!(index_lines(&server, "main", "3/d/dup").len(), 1);
}

#[test]
fn yank_changes_resolution_and_unyank_restores_it() {
    let server = Server::start();
    let cargo = Cargo::for_new_user(&server, "alice");
    for v in ["1.0.0", "1.0.1"] {
        cargo.published("yanky", v);
    }
    let app = cargo.consumer(
        "yank-app",
        "yanky = { version = \"1\", registry = \"main\" }",
    );
    assert_eq!(resolved_version(&cargo, &app, "yanky"), "1.0.1");
    let validators = || {
        let r = server.get("/r/main/index/ya/nk/yanky");
        (
            r.headers()["etag"].clone(),
            r.headers()["last-modified"].clone(),
        )
    };
    let (etag_before, modified_before) = validators();

    cargo.ok(
        &app,
        &["yank", "--registry", "main", "--version", "1.0.1", "yanky"],
    );
    let lines = index_lines(&server, "main", "ya/nk/yanky");
    assert_eq!(lines[1]["yanked"], true);
    let (etag_yanked, modified_yanked) = validators();
    assert_ne!(etag_before, etag_yanked);
    // Last-Modified has whole seconds, yet every change moves it forward, so
    // a client revalidating by date alone never keeps a stale file.
    assert_ne!(modified_before, modified_yanked);
    let stale = http()
        .get(format!("{}/r/main/index/ya/nk/yanky", server.url))
        .header("If-Modified-Since", modified_before.clone())
        .send()
        .unwrap();
    assert_eq!(stale.status(), 200);
    assert_eq!(resolved_version(&cargo, &app, "yanky"), "1.0.0");

    cargo.ok(
        &app,
        &[
            "yank",
            "--registry",
            "main",
            "--version",
            "1.0.1",
            "--undo",
            "yanky",
        ],
    );
    let (etag_unyanked, modified_unyanked) = validators();
    assert_ne!(modified_unyanked, modified_yanked);
    assert_ne!(etag_unyanked, etag_yanked);
    assert_ne!(etag_unyanked, etag_before);
    assert_eq!(resolved_version(&cargo, &app, "yanky"), "1.0.1");

    // Yanking a version that does not exist is a clear error.
    let err = cargo.fails(
        &app,
        &["yank", "--registry", "main", "--version", "9.9.9", "yanky"],
    );
    assert!(err.contains("has no version `9.9.9`"), "{err}");
}

#[test]
fn owners_add_list_remove_and_non_owners_are_refused() {
    let (server, [alice, bob, carol]) = Server::with_users(["alice", "bob", "carol"]);
    let mut cargo = Cargo::new(&server).with_token(&alice);
    let dir = cargo.published("owned", "0.1.0");

    let list = cargo.ok(&dir, &["owner", "--registry", "main", "--list", "owned"]);
    assert!(list.contains("alice") && !list.contains("bob"), "{list}");

    // A non-owner can neither publish a new version nor yank nor add owners.
    cargo.set_token(Some(&carol));
    let v2 = cargo.package("owned", "0.2.0", "", "");
    let err = cargo.publish_refused(&v2, "main");
    assert!(err.contains("not an owner"), "{err}");
    let err = cargo.fails(
        &dir,
        &["yank", "--registry", "main", "--version", "0.1.0", "owned"],
    );
    assert!(err.contains("not an owner"), "{err}");
    let err = cargo.fails(
        &dir,
        &["owner", "--registry", "main", "--add", "carol", "owned"],
    );
    assert!(err.contains("not an owner"), "{err}");

    cargo.set_token(Some(&alice));
    let out = cargo.ok(
        &dir,
        &["owner", "--registry", "main", "--add", "bob", "owned"],
    );
    assert!(out.contains("bob"), "{out}");
    let list = cargo.ok(&dir, &["owner", "--registry", "main", "--list", "owned"]);
    assert!(list.contains("alice") && list.contains("bob"), "{list}");
    let err = cargo.fails(
        &dir,
        &["owner", "--registry", "main", "--add", "nobody", "owned"],
    );
    assert!(err.contains("nobody"), "{err}");

    // Bob is now an owner and may publish.
    cargo.set_token(Some(&bob));
    cargo.publish(&v2);
    cargo.ok(
        &dir,
        &["owner", "--registry", "main", "--remove", "alice", "owned"],
    );
    let list = cargo.ok(&dir, &["owner", "--registry", "main", "--list", "owned"]);
    assert!(!list.contains("alice") && list.contains("bob"), "{list}");
    // The last owner cannot be removed.
    let err = cargo.fails(
        &dir,
        &["owner", "--registry", "main", "--remove", "bob", "owned"],
    );
    assert!(err.contains("cannot remove the last user owner"), "{err}");

    // Alice, no longer an owner, is refused.
    cargo.set_token(Some(&alice));
    let v3 = cargo.package("owned", "0.3.0", "", "");
    let err = cargo.publish_refused(&v3, "main");
    assert!(err.contains("not an owner"), "{err}");
}

#[test]
fn search_finds_crates_by_name_and_description() {
    let server = Server::start();
    let cargo = Cargo::for_new_user(&server, "alice");
    for (name, v) in [
        ("search-me", "0.1.0"),
        ("search-me", "0.3.0"),
        ("search-you", "1.0.0"),
        ("other", "2.0.0"),
    ] {
        cargo.published(name, v);
    }
    let out = cargo.ok(
        cargo.work.path(),
        &["search", "--registry", "main", "search"],
    );
    for want in [
        "search-me = \"0.3.0\"",
        "search-you = \"1.0.0\"",
        "The search-me crate",
    ] {
        assert!(out.contains(want), "{out}");
    }
    assert!(!out.contains("other ="), "{out}");
    // The exact name ranks first, and the total is reported.
    let r: serde_json::Value = server
        .get("/r/main/api/v1/crates?q=search-you&per_page=1")
        .json()
        .unwrap();
    assert_eq!(r["crates"][0]["name"], "search-you");
    assert_eq!(r["meta"]["total"], 1);
    assert_json_snapshot!(r, @r#"
    {
      "crates": [
        {
          "description": "The search-you crate",
          "downloads": 0,
          "max_version": "1.0.0",
          "name": "search-you"
        }
      ],
      "meta": {
        "total": 1
      }
    }
    "#);
    let r: serde_json::Value = server
        .get("/r/main/api/v1/crates?q=SEARCH_&per_page=1")
        .json()
        .unwrap();
    assert_eq!(r["crates"].as_array().unwrap().len(), 1);
    assert_eq!(r["meta"]["total"], 2);
    // One- and two-character queries match name prefixes.
    let r: serde_json::Value = server.get("/r/main/api/v1/crates?q=se").json().unwrap();
    assert_eq!(r["meta"]["total"], 2, "{r}");
    let r: serde_json::Value = server.get("/r/main/api/v1/crates?q=o").json().unwrap();
    assert_eq!(r["crates"][0]["name"], "other", "{r}");
    // Query syntax of the search engines underneath is just text here.
    for q in [
        "%22%20OR%20%22",
        "a%22b",
        "NEAR(se",
        "*",
        "%25",
        "__",
        "se%5C",
        "canon_name%20%3A%20x",
    ] {
        let r = server.get(&format!("/r/main/api/v1/crates?q={q}"));
        assert_eq!(r.status(), 200, "{q}");
        let v: serde_json::Value = r.json().unwrap();
        assert!(v["meta"]["total"].as_i64().unwrap() <= 4, "{q}: {v}");
    }
    // Descriptions match too.
    let r: serde_json::Value = server
        .get("/r/main/api/v1/crates?q=the%20other")
        .json()
        .unwrap();
    assert_eq!(r["crates"][0]["name"], "other");
}

#[test]
fn cargo_info_add_and_login() {
    let (server, [token]) = Server::with_users(["alice"]);
    let mut cargo = Cargo::new(&server);
    // `cargo login` stores the token; later commands use it without the
    // environment variable.
    let mut login = cargo.cmd(cargo.work.path(), &["login", "--registry", "main"]);
    login
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = login.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{token}").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "login: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let creds = std::fs::read_to_string(cargo.home.path().join("credentials.toml")).unwrap();
    assert!(creds.contains(&token));

    cargo.set_token(None);
    cargo.published("infoable", "0.4.2");

    let info = cargo.ok(
        cargo.work.path(),
        &["info", "--registry", "main", "infoable"],
    );
    for want in ["infoable", "0.4.2", "The infoable crate"] {
        assert!(info.contains(want), "{info}");
    }

    let app = cargo.consumer("add-app", "");
    cargo.ok(&app, &["add", "--registry", "main", "infoable"]);
    let manifest = std::fs::read_to_string(app.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("infoable = { version = \"0.4.2\", registry = \"main\" }"),
        "{manifest}"
    );
}

#[test]
fn a_bad_token_is_refused() {
    let server = Server::start();
    server.add_user("alice", false);
    // An expired token is refused with a message that says so.
    let expired = server.token("alice", &["--expires-in", "1s"]);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let cargo = Cargo::new(&server).with_token(&expired);
    let dir = cargo.package("late", "0.1.0", "", "");
    let err = cargo.publish_refused(&dir, "main");
    assert!(err.contains("has expired"), "{err}");
    assert_eq!(server.get("/r/main/index/la/te/late").status(), 404);

    let cargo = Cargo::new(&server).with_token("berth_not-a-real-token");
    let dir = cargo.package("nope", "0.1.0", "", "");
    let err = cargo.publish_refused(&dir, "main");
    assert!(err.contains("token is not valid"), "{err}");
    assert_eq!(server.get("/r/main/index/no/pe/nope").status(), 404);
    assert!(server.blob_files().is_empty());

    // A revoked token stops working at once.
    let token = server.token("alice", &[]);
    let cargo = Cargo::new(&server).with_token(&token);
    let out = server.berth(&["token", "list", "--user", "alice"]);
    let listing = String::from_utf8_lossy(&out.stdout).to_string();
    let id = listing
        .lines()
        .last()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert!(server
        .berth(&["token", "revoke", "--user", "alice", "--id", &id])
        .status
        .success());
    let err = cargo.publish_refused(&dir, "main");
    assert!(err.contains("token is not valid"), "{err}");
}

#[test]
fn private_registry_requires_a_token_for_everything() {
    let server = Server::start_with_config("[[registries]]\nname = \"main\"\nprivate = true\n");
    let token = server.user_with_token("alice");
    let role = |user: &str, role: &str| {
        let out = server.berth(&[
            "role",
            "grant",
            "--registry",
            "main",
            "--user",
            user,
            "--role",
            role,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // A valid token without a role in the private registry reads nothing.
    let no_role = http()
        .get(format!("{}/r/main/index/config.json", server.url))
        .header("Authorization", &token)
        .send()
        .unwrap();
    assert_eq!(no_role.status(), 403);
    let detail = no_role.text().unwrap();
    assert!(
        detail.contains("berth role grant --registry main --user alice --role read"),
        "{detail}"
    );
    assert_snapshot!(redact_request_ids(&detail), @r#"{"errors":[{"detail":"user `alice` does not have the `read` role in registry `main`; an operator can grant it with `berth role grant --registry main --user alice --role read` (request id: [REQUEST_ID])"}]}"#);
    role("alice", "publish");
    let cfg: serde_json::Value = {
        let r = server.get("/r/main/index/config.json");
        assert_eq!(r.status(), 401);
        let hint = r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(hint.starts_with("Cargo login_url="), "{hint}");
        assert_snapshot!(server.redact(&hint), @r#"Cargo login_url="http://[HOST]/r/main/me""#);
        // The login URL cargo shows leads a browser to the account page
        // (through the login form), where tokens are made.
        let me = server.get("/r/main/me");
        assert_eq!((me.status().as_u16(), me.url().path()), (200, "/login"));
        assert_snapshot!(redact_request_ids(&r.text().unwrap()), @r#"{"errors":[{"detail":"registry `main` is private: a token is required; run `cargo login --registry main` (request id: [REQUEST_ID])"}]}"#);
        http()
            .get(format!("{}/r/main/index/config.json", server.url))
            .header("Authorization", &token)
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    assert_eq!(cfg["auth-required"], true);

    let cargo = Cargo::new(&server).with_token(&token);
    cargo.published("secret", "1.0.0");
    let app = cargo.consumer(
        "secret-app",
        "secret = { version = \"1\", registry = \"main\" }",
    );
    cargo.ok(&app, &["fetch"]);
    assert_eq!(server.get("/r/main/index/se/cr/secret").status(), 401);
    assert_eq!(
        server
            .get("/r/main/api/v1/crates/secret/1.0.0/download")
            .status(),
        401
    );
    assert_eq!(server.get("/r/main/api/v1/crates?q=secret").status(), 401);

    // A reader resolves and fetches, but cannot publish new crates.
    let reader = server.user_with_token("rita");
    role("rita", "read");
    let rcargo = Cargo::new(&server).with_token(&reader);
    let rapp = rcargo.consumer(
        "reader-app",
        "secret = { version = \"1\", registry = \"main\" }",
    );
    rcargo.ok(&rapp, &["fetch"]);
    let rdir = rcargo.package("rita-crate", "0.1.0", "", "");
    let err = rcargo.publish_refused(&rdir, "main");
    assert!(err.contains("does not have the `publish` role"), "{err}");
    // A registry admin acts as an owner of every crate.
    let boss = server.user_with_token("boss");
    role("boss", "admin");
    let bcargo = Cargo::new(&server).with_token(&boss);
    bcargo.ok(
        bcargo.work.path(),
        &["yank", "--registry", "main", "--version", "1.0.0", "secret"],
    );
    // Revoking takes access away at once.
    let out = server.berth(&["role", "revoke", "--registry", "main", "--user", "rita"]);
    assert!(out.status.success());
    let err = rcargo.fails(&rapp, &["generate-lockfile"]);
    assert!(err.contains("403") || err.contains("role"), "{err}");
    let list =
        String::from_utf8(server.berth(&["role", "list", "--registry", "main"]).stdout).unwrap();
    assert!(
        list.contains("alice\tpublish") && list.contains("boss\tadmin") && !list.contains("rita"),
        "{list}"
    );
    // The front page does not advertise a private registry.
    assert!(!server.get("/").text().unwrap().contains("/r/main/index"));

    // Without a token, cargo cannot even resolve.
    let anon = Cargo::new(&server);
    let app2 = anon.consumer(
        "anon-app",
        "secret = { version = \"1\", registry = \"main\" }",
    );
    let err = anon.fails(&app2, &["generate-lockfile"]);
    assert!(
        err.contains("no token found for `main`") && err.contains("cargo login --registry main"),
        "{err}"
    );
}

#[test]
fn downloads_are_counted() {
    let server = Server::start();
    let cargo = Cargo::for_new_user(&server, "alice");
    cargo.published("counted", "0.1.0");
    // HEAD requests are not downloads.
    for _ in 0..2 {
        let r = http()
            .head(format!(
                "{}/r/main/api/v1/crates/counted/0.1.0/download",
                server.url
            ))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    for _ in 0..3 {
        let r = server.get("/r/main/api/v1/crates/counted/0.1.0/download");
        assert_eq!(r.status(), 200);
        let len: usize = r.headers()["content-length"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(r.bytes().unwrap().len(), len);
    }
    // Counts are written in batches every two seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let r: serde_json::Value = server
            .get("/r/main/api/v1/crates?q=counted")
            .json()
            .unwrap();
        if r["crates"][0]["downloads"] == 3 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "downloads not counted: {r}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(
        server
            .get("/r/main/api/v1/crates/counted/9.0.0/download")
            .status(),
        404
    );
    assert_eq!(
        server
            .get("/r/main/api/v1/crates/nothere/0.1.0/download")
            .status(),
        404
    );
}

#[test]
fn readme_is_extracted_and_versions_are_listed() {
    let server = Server::start();
    let cargo = Cargo::for_new_user(&server, "alice");
    let dir = cargo.package("readable", "1.0.0", "", "");
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        manifest.replace(
            "license = \"MIT\"",
            "license = \"MIT\"\nreadme = \"docs/README.md\"",
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("docs")).unwrap();
    std::fs::write(
        dir.join("docs/README.md"),
        "# Readable\n\nHello from the README.\n",
    )
    .unwrap();
    cargo.publish(&dir);
    cargo.published("readable", "1.1.0");

    let r = server.get("/api/v1/registries/main/crates/readable/1.0.0/readme");
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().unwrap(), "# Readable\n\nHello from the README.\n");
    assert_eq!(
        server
            .get("/api/v1/registries/main/crates/readable/1.1.0/readme")
            .status(),
        404
    );

    let d: serde_json::Value = server
        .get("/api/v1/registries/main/crates/Readable")
        .json()
        .unwrap();
    // Times, and the checksums and sizes of what this cargo packaged, vary.
    let stable = redact_json(
        d.clone(),
        &["created_at", "updated_at", "published_at", "cksum", "size"],
    );
    assert_json_snapshot!(stable, @r#"
    {
      "created_at": "[created_at]",
      "description": "The readable crate",
      "downloads": 0,
      "max_version": "1.1.0",
      "name": "readable",
      "owners": [
        {
          "id": 367788900,
          "kind": "user",
          "login": "alice",
          "name": null
        }
      ],
      "updated_at": "[updated_at]",
      "versions": [
        {
          "advisories": [],
          "blocked": null,
          "cksum": "[cksum]",
          "downloads": 0,
          "has_readme": true,
          "published_at": "[published_at]",
          "published_by": "alice",
          "size": "[size]",
          "vers": "1.0.0",
          "yanked": false
        },
        {
          "advisories": [],
          "blocked": null,
          "cksum": "[cksum]",
          "downloads": 0,
          "has_readme": false,
          "published_at": "[published_at]",
          "published_by": "alice",
          "size": "[size]",
          "vers": "1.1.0",
          "yanked": false
        }
      ]
    }
    "#);
    assert_eq!(d["name"], "readable");
    assert_eq!(d["max_version"], "1.1.0");
    assert_eq!(d["owners"][0]["login"], "alice");
    let versions: Vec<(&str, bool)> = d["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["vers"].as_str().unwrap(),
                v["has_readme"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(versions, [("1.0.0", true), ("1.1.0", false)]);
}

#[test]
fn users_and_tokens_can_be_made_before_the_server_starts() {
    let stores = Stores::new();
    let run = |args: &[&str]| stores.run(args);
    run(&["user", "add", "early", "--admin"]);
    let token = run(&["token", "create", "--user", "early", "--name", "boot"])
        .lines()
        .last()
        .unwrap()
        .to_string();
    assert!(token.starts_with("berth_"), "{token}");
    // Only the hash is stored: the secret appears nowhere in the data dir.
    if backend() == Backend::Sqlite {
        for entry in std::fs::read_dir(stores.data_dir.path()).unwrap().flatten() {
            if entry.path().is_file() {
                let bytes = std::fs::read(entry.path()).unwrap();
                assert!(
                    !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
                    "token found in {}",
                    entry.path().display()
                );
            }
        }
    }
    let server = Server::start_on(stores.clone(), "");
    let cargo = Cargo::new(&server).with_token(&token);
    cargo.published("early-bird", "0.1.0");
    // And while it runs, the CLI keeps working on the same data dir.
    let second = server.token("early", &["--scope", "yank"]);
    assert_ne!(second, token);
    let cargo = Cargo::new(&server).with_token(&second);
    cargo.ok(
        cargo.work.path(),
        &[
            "yank",
            "--registry",
            "main",
            "--version",
            "0.1.0",
            "early-bird",
        ],
    );
}

#[test]
fn index_files_are_served_gzip_compressed_to_clients_that_ask() {
    let (server, [token]) = Server::with_users(["alice"]);
    for i in 0..12 {
        let vers = format!("0.{i}.0");
        let krate = crate_file("zipped", &vers, "pub fn f() {}\n");
        assert_eq!(
            publish_raw(&server.url, &token, "zipped", &vers, &krate),
            Some(200)
        );
    }
    let url = format!("{}/r/main/index/zi/pp/zipped", server.url);
    let plain = http().get(&url).send().unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.headers()["vary"], "Accept-Encoding");
    let plain_etag = plain.headers()["etag"].to_str().unwrap().to_string();
    let plain_body = plain.bytes().unwrap();
    assert!(plain_body.len() > 1024);

    let gz = http()
        .get(&url)
        .header("Accept-Encoding", "gzip")
        .send()
        .unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    let gz_etag = gz.headers()["etag"].to_str().unwrap().to_string();
    assert_ne!(gz_etag, plain_etag, "each representation has its own ETag");
    let compressed = gz.bytes().unwrap();
    assert!(
        compressed.len() < plain_body.len() / 2,
        "{} vs {}",
        compressed.len(),
        plain_body.len()
    );
    let mut unzipped = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&compressed[..]),
        &mut unzipped,
    )
    .unwrap();
    assert_eq!(unzipped, plain_body);

    // Either ETag revalidates either representation.
    for etag in [&plain_etag, &gz_etag] {
        for accept in ["gzip", "identity"] {
            let r = http()
                .get(&url)
                .header("Accept-Encoding", accept)
                .header("If-None-Match", etag.as_str())
                .send()
                .unwrap();
            assert_eq!(r.status(), 304, "{etag} with {accept}");
        }
    }
    // cargo reads it either way.
    let cargo = Cargo::new(&server);
    let app = cargo.consumer(
        "zip-app",
        "zipped = { version = \"0.11\", registry = \"main\" }",
    );
    assert_eq!(resolved_version(&cargo, &app, "zipped"), "0.11.0");
}
