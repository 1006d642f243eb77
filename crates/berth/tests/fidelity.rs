//! Index fidelity: the lines Berth writes for packages published by the real
//! cargo are exactly what cargo expects, field by field; a consumer's
//! Cargo.lock checksums match the `.crate` files served; and index files
//! carry validators that answer conditional requests.

use std::path::{Path, PathBuf};

use berth_testkit::{http, index_lines, sha256_hex, Cargo, Server};
use insta::assert_snapshot;
use reqwest::header::{ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The raw text of an index file.
fn raw_index(server: &Server, registry: &str, path: &str) -> String {
    let r = server.get(&format!("/r/{registry}/index/{path}"));
    assert_eq!(r.status(), StatusCode::OK, "index {path}");
    r.text().unwrap()
}

/// The bytes served at a version's download URL.
fn download(server: &Server, name: &str, vers: &str) -> Vec<u8> {
    let r = server.get(&format!("/r/main/api/v1/crates/{name}/{vers}/download"));
    assert_eq!(r.status(), StatusCode::OK, "download {name} {vers}");
    r.bytes().unwrap().to_vec()
}

/// Whether `s` is `YYYY-MM-DDTHH:MM:SSZ`.
fn is_pubtime(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// Writes a package with this full manifest, a library and maybe a build
/// script; returns its directory.
fn write_package(cargo: &Cargo, dir_name: &str, manifest: &str, build_rs: bool) -> PathBuf {
    let dir = cargo.work.path().join(dir_name);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(dir.join("src/lib.rs"), "pub fn hello() {}\n").unwrap();
    if build_rs {
        std::fs::write(dir.join("build.rs"), "fn main() {}\n").unwrap();
    }
    dir
}

/// Files named `file_name` anywhere under `dir`.
fn find_files(dir: &Path, file_name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(find_files(&path, file_name));
        } else if path.file_name().is_some_and(|n| n == file_name) {
            out.push(path);
        }
    }
    out
}

fn header(r: &reqwest::blocking::Response, name: reqwest::header::HeaderName) -> String {
    r.headers()
        .get(&name)
        .unwrap_or_else(|| panic!("no `{name}` header; headers: {:?}", r.headers()))
        .to_str()
        .unwrap()
        .to_string()
}

fn get_with(
    server: &Server,
    path: &str,
    headers: &[(reqwest::header::HeaderName, &str)],
) -> reqwest::blocking::Response {
    let mut req = http().get(format!("{}{path}", server.url));
    for (k, v) in headers {
        req = req.header(k, *v);
    }
    req.send().unwrap()
}

#[test]
fn rich_index_line_and_consumer_lockfile() {
    let other = Server::start();
    let other_url = other.index_url("main");
    // No configuration: a dependency on another registry is allowed by
    // default.
    let main = Server::start();
    let main_url = main.index_url("main");
    let main_token = main.user_with_token("alice");
    let other_token = other.user_with_token("alice");
    let mut cargo = Cargo::with_registries(
        &[("main", main_url.clone()), ("other", other_url.clone())],
        "",
    )
    .with_token(&main_token);

    // `ext` lives on the other registry.
    let ext = write_package(
        &cargo,
        "ext-1.2.0",
        "[package]\nname = \"ext\"\nversion = \"1.2.0\"\nedition = \"2021\"\n\
         description = \"From another registry\"\nlicense = \"MIT\"\npublish = [\"other\"]\n",
        false,
    );
    // With the other registry's token for this one command only.
    cargo.set_registry_token("other", Some(&other_token));
    cargo.publish_to(&ext, "other");
    cargo.set_registry_token("other", None);

    // Plain dependencies on main.
    for vers in ["0.1.0", "0.2.0"] {
        let d = cargo.package("dep-a", vers, "", "[features]\nx = []\ny = []\n");
        cargo.publish(&d);
    }
    for (name, vers, extra) in [
        ("dep_b", "1.0.0", "[features]\nsomething = []\n"),
        ("build-helper", "0.3.0", ""),
        ("dev-helper", "0.4.0", ""),
        ("winonly", "1.0.0", ""),
    ] {
        let d = cargo.package(name, vers, "", extra);
        cargo.publish(&d);
    }

    // Lines with plain features only have no `features2` and no `v`.
    let dep_a = index_lines(&main, "main", "de/p-/dep-a");
    assert_eq!(dep_a.len(), 2, "{dep_a:?}");
    for l in &dep_a {
        assert!(is_pubtime(l["pubtime"].as_str().unwrap_or_default()), "{l}");
    }
    let dep_a_want: Vec<Value> = ["0.1.0", "0.2.0"]
        .iter()
        .zip(&dep_a)
        .map(|(vers, got)| {
            json!({
                "name": "dep-a", "vers": vers, "deps": [],
                "cksum": sha256_hex(&download(&main, "dep-a", vers)),
                "features": {"x": [], "y": []}, "yanked": false, "pubtime": got["pubtime"],
            })
        })
        .collect();
    assert_eq!(dep_a, dep_a_want);

    let rich = write_package(
        &cargo,
        "rich-2.0.0-beta.1",
        r#"[package]
name = "rich"
version = "2.0.0-beta.1"
edition = "2021"
description = "Every kind of dependency and feature"
license = "MIT"
links = "rich"
rust-version = "1.70"
publish = ["main"]

[dependencies]
renamed = { package = "dep-a", version = "0.2", registry = "main", features = ["x"], default-features = false }
dep_b = { version = "1.0.0", registry = "main", optional = true }
ext = { version = "1.2", registry = "other" }

[target.'cfg(windows)'.dependencies]
winonly = { version = "1", registry = "main" }

[build-dependencies]
build-helper = { version = "0.3", registry = "main" }

[dev-dependencies]
dev-helper = { version = "0.4", registry = "main" }

[features]
default = ["std"]
std = []
with-b = ["dep:dep_b"]
weak = ["dep_b?/something"]
full = ["std", "with-b"]
"#,
        true,
    );

    // Package locally first; cargo's archives are reproducible, so the one
    // `cargo publish` uploads must be byte for byte the same.
    cargo.ok(
        &rich,
        &[
            "package",
            "--registry",
            "main",
            "--no-verify",
            "--allow-dirty",
        ],
    );
    let local = std::fs::read(cargo.target.join("package/rich-2.0.0-beta.1.crate")).unwrap();
    cargo.publish(&rich);
    let served = download(&main, "rich", "2.0.0-beta.1");
    let cksum = sha256_hex(&served);
    assert_eq!(
        sha256_hex(&local),
        cksum,
        "the served .crate differs from `cargo package`'s"
    );

    let lines = index_lines(&main, "main", "ri/ch/rich");
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    let pubtime = line["pubtime"].as_str().unwrap_or_default().to_string();
    assert!(
        is_pubtime(&pubtime),
        "pubtime `{pubtime}` is not YYYY-MM-DDTHH:MM:SSZ"
    );
    let expected = json!({
        "name": "rich",
        "vers": "2.0.0-beta.1",
        "deps": [
            {"name": "build-helper", "req": "^0.3", "features": [], "optional": false,
             "default_features": true, "target": null, "kind": "build"},
            {"name": "dep_b", "req": "^1.0.0", "features": [], "optional": true,
             "default_features": true, "target": null, "kind": "normal"},
            {"name": "dev-helper", "req": "^0.4", "features": [], "optional": false,
             "default_features": true, "target": null, "kind": "dev"},
            {"name": "ext", "req": "^1.2", "features": [], "optional": false,
             "default_features": true, "target": null, "kind": "normal",
             "registry": other_url},
            {"name": "renamed", "req": "^0.2", "features": ["x"], "optional": false,
             "default_features": false, "target": null, "kind": "normal", "package": "dep-a"},
            {"name": "winonly", "req": "^1", "features": [], "optional": false,
             "default_features": true, "target": "cfg(windows)", "kind": "normal"},
        ],
        "cksum": cksum,
        // Cargo sends the `[features]` table as written: no implicit feature
        // for `dep_b`, since `dep:dep_b` names it.
        "features": {"default": ["std"], "std": []},
        "features2": {
            "full": ["std", "with-b"],
            "weak": ["dep_b?/something"],
            "with-b": ["dep:dep_b"],
        },
        "yanked": false,
        "links": "rich",
        "rust_version": "1.70",
        "pubtime": pubtime,
        "v": 2,
    });
    // Field by field first, for readable failures, then as a whole so that
    // an unexpected extra field fails too.
    for (k, v) in expected.as_object().unwrap() {
        if k == "deps" {
            let got = line["deps"].as_array().cloned().unwrap_or_default();
            let want = v.as_array().unwrap();
            for (i, w) in want.iter().enumerate() {
                assert_eq!(got.get(i), Some(w), "deps[{i}]");
            }
        }
        assert_eq!(&line[k.as_str()], v, "field `{k}`");
    }
    assert_eq!(line, &expected);
    // A dependency on this registry carries no `registry` key at all.
    for d in line["deps"].as_array().unwrap() {
        if d["name"] != "ext" {
            assert!(d.get("registry").is_none(), "{d}");
        }
    }

    // A consumer, with a CARGO_HOME of its own so everything is downloaded.
    let consumer_env = Cargo::with_registries(
        &[("main", main_url.clone()), ("other", other_url.clone())],
        "",
    );
    let consumer = write_package(
        &consumer_env,
        "consumer",
        "[package]\nname = \"consumer\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n\
         [dependencies]\nrich = { version = \"=2.0.0-beta.1\", registry = \"main\", features = [\"weak\", \"with-b\"] }\n",
        false,
    );
    consumer_env.ok(&consumer, &["generate-lockfile"]);
    consumer_env.ok(&consumer, &["fetch"]);
    let lock: toml::Value = std::fs::read_to_string(consumer.join("Cargo.lock"))
        .unwrap()
        .parse()
        .unwrap();
    let mut seen = Vec::new();
    for pkg in lock["package"].as_array().unwrap() {
        let name = pkg["name"].as_str().unwrap();
        let vers = pkg["version"].as_str().unwrap();
        let Some(source) = pkg.get("source").and_then(|s| s.as_str()) else {
            assert_eq!(name, "consumer", "only the consumer has no source: {pkg}");
            continue;
        };
        let (server, url) = if name == "ext" {
            (&other, &other_url)
        } else {
            (&main, &main_url)
        };
        assert_eq!(source, url.as_str(), "lock source of {name}");
        let sum = sha256_hex(&download(server, name, vers));
        assert_eq!(
            pkg.get("checksum").and_then(|c| c.as_str()),
            Some(sum.as_str()),
            "{name} {vers}"
        );
        // `cargo fetch` stored exactly those bytes.
        let cached = find_files(
            &consumer_env.home.path().join("registry/cache"),
            &format!("{name}-{vers}.crate"),
        );
        assert_eq!(
            cached.len(),
            1,
            "{name} {vers} in cargo's cache: {cached:?}"
        );
        assert_eq!(
            sha256_hex(&std::fs::read(&cached[0]).unwrap()),
            sum,
            "cached {name} {vers}"
        );
        seen.push(format!("{name} {vers}"));
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "build-helper 0.3.0",
            "dep-a 0.2.0",
            "dep_b 1.0.0",
            "ext 1.2.0",
            "rich 2.0.0-beta.1",
            "winonly 1.0.0",
        ]
    );
}

#[test]
fn simple_line_is_exact() {
    let server = Server::start();
    let cargo = Cargo::for_new_user(&server, "alice");
    cargo.published("simple", "0.1.0");

    let sum = sha256_hex(&download(&server, "simple", "0.1.0"));
    let text = raw_index(&server, "main", "si/mp/simple");
    let line = text
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("no final newline: {text:?}"));
    assert!(!line.contains('\n'), "{text:?}");
    let value: Value = serde_json::from_str(line).unwrap();
    let pubtime = value["pubtime"].as_str().unwrap_or_default();
    assert!(is_pubtime(pubtime), "pubtime `{pubtime}`");
    assert_eq!(
        line,
        format!(
            r#"{{"name":"simple","vers":"0.1.0","deps":[],"cksum":"{sum}","features":{{}},"yanked":false,"pubtime":"{pubtime}"}}"#
        )
    );
}

#[test]
fn index_validators_and_conditional_requests() {
    let server = Server::start();
    let cargo = Cargo::for_new_user(&server, "alice");
    let path = "/r/main/index/ta/gg/tagged";

    let v1 = cargo.published("tagged", "1.0.0");
    let r = server.get(path);
    assert_eq!(r.status(), StatusCode::OK);
    let etag1 = header(&r, ETAG);
    let modified1 = header(&r, LAST_MODIFIED);
    let body1 = r.text().unwrap();
    assert_eq!(body1.lines().count(), 1);

    // Unchanged: 304 with an empty body, by ETag and by date alone.
    let r = get_with(&server, path, &[(IF_NONE_MATCH, &etag1)]);
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&r, ETAG), etag1);
    assert!(r.bytes().unwrap().is_empty());
    let r = get_with(&server, path, &[(IF_MODIFIED_SINCE, &modified1)]);
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert!(r.bytes().unwrap().is_empty());

    // A new version: the old ETag no longer matches.
    cargo.published("tagged", "1.1.0");
    let r = get_with(&server, path, &[(IF_NONE_MATCH, &etag1)]);
    assert_eq!(r.status(), StatusCode::OK);
    let etag2 = header(&r, ETAG);
    let body2 = r.text().unwrap();
    assert_eq!(body2.lines().count(), 2, "{body2}");
    assert!(
        body2.starts_with(&body1),
        "lines stay in publish order:\n{body1}\n{body2}"
    );
    assert_ne!(etag2, etag1);

    // Yank and unyank each change the file and its ETag.
    cargo.ok(
        &v1,
        &["yank", "--registry", "main", "--version", "1.0.0", "tagged"],
    );
    let r = get_with(&server, path, &[(IF_NONE_MATCH, &etag2)]);
    assert_eq!(r.status(), StatusCode::OK);
    let etag3 = header(&r, ETAG);
    let lines: Vec<Value> = r
        .text()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["yanked"], true);
    assert_eq!(lines[1]["yanked"], false);

    cargo.ok(
        &v1,
        &[
            "yank",
            "--undo",
            "--registry",
            "main",
            "--version",
            "1.0.0",
            "tagged",
        ],
    );
    let r = get_with(&server, path, &[(IF_NONE_MATCH, &etag3)]);
    assert_eq!(r.status(), StatusCode::OK);
    let etag4 = header(&r, ETAG);
    assert_eq!(r.text().unwrap(), body2, "unyank restores the file");
    let tags = [&etag1, &etag2, &etag3, &etag4];
    for (i, a) in tags.iter().enumerate() {
        for b in &tags[i + 1..] {
            assert_ne!(a, b, "ETags must all differ: {tags:?}");
        }
    }
    let r = get_with(&server, path, &[(IF_NONE_MATCH, &etag4)]);
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);

    // config.json too.
    let r = server.get("/r/main/index/config.json");
    assert_eq!(r.status(), StatusCode::OK);
    let etag = header(&r, ETAG);
    let text = r.text().unwrap();
    let config: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(config["dl"], format!("{}/r/main/api/v1/crates", server.url));
    // The whole file, the server's address redacted.
    assert_snapshot!(server.redact(&text), @r#"{"api":"http://[HOST]/r/main","dl":"http://[HOST]/r/main/api/v1/crates"}"#);
    let r = get_with(
        &server,
        "/r/main/index/config.json",
        &[(IF_NONE_MATCH, &etag)],
    );
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert!(r.bytes().unwrap().is_empty());
}
