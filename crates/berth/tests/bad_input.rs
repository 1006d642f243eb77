//! Hostile and malformed publish requests against a real `berth serve`.
//!
//! Every refused request must get the right status, cargo's JSON error shape
//! with a detail that names the problem, and leave the registry unchanged:
//! no index file, no crate in search, no new blob. Whole error bodies are
//! pinned with inline snapshots (`cargo insta review` after a deliberate
//! change of wording); sizes that depend on gzip output are redacted.

use std::io::{Read, Write};
use std::sync::{Arc, Barrier};

use berth_testkit::{
    crate_file, dependency, gzip, http, index_lines, index_path, manifest, publish_raw,
    redact_number, redact_request_ids, sha256_hex, Compression, EntryType, PublishBuilder, Reply,
    Server, TarballBuilder, DEFAULT_LIB as LIB,
};
use insta::assert_snapshot;
use serde_json::{json, Value};

// ---------------------------------------------------------------- helpers

/// Publishes this request with `token`.
fn publish(server: &Server, token: &str, p: &PublishBuilder) -> Reply {
    server.publish(Some(token), p.body())
}

/// A publish of `foo@vers` with a valid `.crate`.
fn foo(vers: &str) -> PublishBuilder {
    PublishBuilder::new("foo", vers)
}

/// Checks a refusal: the status, a JSON content type, and cargo's
/// `{"errors":[{"detail":...}]}` shape with exactly one string detail.
/// Returns the whole body, for a snapshot.
#[track_caller]
fn assert_error(r: &Reply, status: u16) -> String {
    assert_eq!(r.status, status, "expected {status}, got: {}", r.text);
    let ct = r.content_type();
    assert!(
        ct.starts_with("application/json"),
        "content-type {ct:?} for {}",
        r.text
    );
    let v: Value = serde_json::from_str(&r.text)
        .unwrap_or_else(|e| panic!("error body is not JSON ({e}): {}", r.text));
    let errors = v["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors array: {}", r.text));
    assert_eq!(errors.len(), 1, "{}", r.text);
    assert!(
        errors[0]["detail"].is_string(),
        "no string detail: {}",
        r.text
    );
    assert_eq!(
        v,
        json!({"errors": [{"detail": errors[0]["detail"]}]}),
        "nothing but the detail: {}",
        r.text
    );
    r.text.clone()
}

/// One line of a table of refusals: `what: STATUS BODY`.
#[track_caller]
fn refusal(what: &str, r: &Reply, status: u16) -> String {
    format!("{what}: {status} {}\n", assert_error(r, status))
}

/// How many crates the registry's search knows (an empty query matches all).
/// How a refused input is named in a snapshot: quoted, or by a
/// description when it is the (too long to show) `long` one.
fn snapshot_name(input: &str, (long, described): (&str, &str)) -> String {
    if input == long {
        described.to_string()
    } else {
        format!("{input:?}")
    }
}

/// The index file at `path` of `main`, as served.
fn index_file(server: &Server, path: &str) -> String {
    http()
        .get(format!("{}/r/main/index/{path}", server.url))
        .send()
        .unwrap()
        .text()
        .unwrap()
}

fn crate_total(server: &Server) -> i64 {
    let r = server.get("/r/main/api/v1/crates?q=&per_page=100");
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().unwrap();
    v["meta"]["total"].as_i64().unwrap()
}

fn sorted_blobs(server: &Server) -> Vec<String> {
    let mut b = server.blob_files();
    b.sort();
    b
}

/// Asserts the registry holds nothing: no index file for `names`, no crate,
/// no blob.
#[track_caller]
fn assert_empty_registry(server: &Server, names: &[&str]) {
    for name in names {
        let path = index_path(name);
        let r = server.get(&format!("/r/main/index/{path}"));
        assert_eq!(r.status().as_u16(), 404, "index file {path} exists");
    }
    assert_eq!(crate_total(server), 0, "a crate was recorded");
    assert_eq!(
        server.blob_files(),
        Vec::<String>::new(),
        "a blob was stored"
    );
}

/// `NAME-VERS/Cargo.toml` for `name@vers`, written verbatim under `root`.
fn with_manifest(t: TarballBuilder, root: &str, name: &str, vers: &str) -> TarballBuilder {
    t.raw_file(
        format!("{root}/Cargo.toml").as_bytes(),
        manifest(name, vers).as_bytes(),
    )
}

// ---------------------------------------------------------------- tests

#[test]
fn valid_publish_is_accepted() {
    let (server, [token]) = Server::with_users(["alice"]);
    assert_empty_registry(&server, &["foo"]);

    let p = foo("1.0.0");
    let krate = p.crate_bytes();
    let r = publish(&server, &token, &p);
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.content_type().starts_with("application/json"), "{r:?}");
    assert_snapshot!(r.text, @r#"{"warnings":{"invalid_badges":[],"invalid_categories":[],"other":[]}}"#);

    let sum = sha256_hex(&krate);
    let lines = index_lines(&server, "main", "3/f/foo");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["name"], "foo");
    assert_eq!(lines[0]["vers"], "1.0.0");
    assert_eq!(lines[0]["cksum"], sum.as_str());
    assert_eq!(lines[0]["yanked"], false);

    let blobs = server.blob_files();
    assert_eq!(blobs.len(), 1, "{blobs:?}");
    assert_eq!(blobs[0], sum);
    let dl = server.get("/r/main/api/v1/crates/foo/1.0.0/download");
    assert_eq!(dl.status().as_u16(), 200);
    assert_eq!(dl.bytes().unwrap().as_ref(), krate.as_slice());
    assert_eq!(crate_total(&server), 1);
}

#[test]
fn truncated_and_short_bodies_are_refused() {
    let (server, [token]) = Server::with_users(["alice"]);
    let p = foo("1.0.0");
    let metadata = p.metadata_bytes();
    let krate = p.crate_bytes();
    let full = p.body();
    let mut seen = String::new();

    // Cut in the middle of the metadata.
    let cut = 4 + metadata.len() / 2;
    let r = server.publish(Some(&token), full[..cut].to_vec());
    seen += &refusal("metadata cut", &r, 400);

    // Cut in the middle of the .crate bytes.
    let cut = 8 + metadata.len() + krate.len() / 2;
    let r = server.publish(Some(&token), full[..cut].to_vec());
    seen += &refusal(".crate cut", &r, 400);

    // Cut right after the metadata: the .crate length is missing.
    let r = server.publish(Some(&token), full[..4 + metadata.len()].to_vec());
    seen += &refusal("no .crate length", &r, 400);

    // Empty, and only two bytes.
    let r = server.publish(Some(&token), Vec::new());
    seen += &refusal("empty", &r, 400);
    let r = server.publish(Some(&token), vec![2, 0]);
    seen += &refusal("two bytes", &r, 400);

    let seen = redact_number(&seen, metadata.len(), "[METADATA_LEN]");
    let seen = redact_number(&seen, metadata.len() / 2, "[METADATA_LEN/2]");
    let seen = redact_number(&seen, krate.len(), "[CRATE_LEN]");
    let seen = redact_number(&seen, krate.len() / 2, "[CRATE_LEN/2]");
    assert_snapshot!(seen, @r#"
    metadata cut: 400 {"errors":[{"detail":"the publish request body ends early: expected [METADATA_LEN] more bytes for the metadata, found [METADATA_LEN/2] (request id: [REQUEST_ID])"}]}
    .crate cut: 400 {"errors":[{"detail":"the publish request body ends early: expected [CRATE_LEN] more bytes for the .crate file, found [CRATE_LEN/2] (request id: [REQUEST_ID])"}]}
    no .crate length: 400 {"errors":[{"detail":"the publish request body ends early: expected 4 more bytes for the .crate length, found 0 (request id: [REQUEST_ID])"}]}
    empty: 400 {"errors":[{"detail":"the publish request body ends early: expected 4 more bytes for the metadata length, found 0 (request id: [REQUEST_ID])"}]}
    two bytes: 400 {"errors":[{"detail":"the publish request body ends early: expected 4 more bytes for the metadata length, found 2 (request id: [REQUEST_ID])"}]}
    "#);
    assert_empty_registry(&server, &["foo"]);
}

#[test]
fn lying_length_fields_and_trailing_bytes_are_refused() {
    let (server, [token]) = Server::with_users(["alice"]);
    let p = foo("1.0.0");
    let metadata = p.metadata_bytes();
    let krate = p.crate_bytes();
    let mut seen = String::new();

    // A metadata length of ~4 GiB with a short body: refused on the length
    // alone (over `max_metadata_size`), without waiting for the bytes.
    let mut body = 0xFFFF_FFF0u32.to_le_bytes().to_vec();
    body.extend_from_slice(&metadata);
    let r = server.publish(Some(&token), body);
    seen += &refusal("metadata length 4 GiB", &r, 413);

    // A metadata length within the limit but beyond the body: truncated.
    let mut body = 5_000u32.to_le_bytes().to_vec();
    body.extend_from_slice(&metadata);
    let r = server.publish(Some(&token), body);
    seen += &refusal("metadata length 5000", &r, 400);

    // The same two cases for the .crate length.
    let mut body = (metadata.len() as u32).to_le_bytes().to_vec();
    body.extend_from_slice(&metadata);
    body.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    body.extend_from_slice(&krate);
    let r = server.publish(Some(&token), body);
    seen += &refusal(".crate length 4 GiB", &r, 413);

    let mut body = (metadata.len() as u32).to_le_bytes().to_vec();
    body.extend_from_slice(&metadata);
    body.extend_from_slice(&((krate.len() + 1000) as u32).to_le_bytes());
    body.extend_from_slice(&krate);
    let r = server.publish(Some(&token), body);
    seen += &refusal(".crate length + 1000", &r, 400);

    // Bytes after the .crate file.
    let mut body = p.body();
    body.extend_from_slice(b"xyz");
    let r = server.publish(Some(&token), body);
    seen += &refusal("trailing bytes", &r, 400);

    let seen = redact_number(&seen, metadata.len(), "[METADATA_LEN]");
    let seen = redact_number(&seen, krate.len() + 1000, "[CRATE_LEN+1000]");
    let seen = redact_number(&seen, krate.len(), "[CRATE_LEN]");
    assert_snapshot!(seen, @r#"
    metadata length 4 GiB: 413 {"errors":[{"detail":"the publish metadata is 4294967280 bytes, more than the 10485760 bytes allowed (request id: [REQUEST_ID])"}]}
    metadata length 5000: 400 {"errors":[{"detail":"the publish request body ends early: expected 5000 more bytes for the metadata, found [METADATA_LEN] (request id: [REQUEST_ID])"}]}
    .crate length 4 GiB: 413 {"errors":[{"detail":"the .crate file is 4294967280 bytes, more than the 10485760 bytes allowed (request id: [REQUEST_ID])"}]}
    .crate length + 1000: 400 {"errors":[{"detail":"the publish request body ends early: expected [CRATE_LEN+1000] more bytes for the .crate file, found [CRATE_LEN] (request id: [REQUEST_ID])"}]}
    trailing bytes: 400 {"errors":[{"detail":"the publish request body has 3 unexpected bytes after the .crate file (request id: [REQUEST_ID])"}]}
    "#);
    assert_empty_registry(&server, &["foo"]);
}

#[test]
fn malformed_metadata_is_refused() {
    let (server, [token]) = Server::with_users(["alice"]);
    let mut seen = String::new();
    let mut send = |what: &str, p: PublishBuilder| {
        let r = publish(&server, &token, &p);
        seen += &refusal(what, &r, 400);
    };

    send(
        "cut JSON",
        foo("1.0.0").raw_metadata(b"{\"name\": \"foo\", \"vers\": "),
    );
    send("not JSON", foo("1.0.0").raw_metadata(b"not json at all"));
    send("empty", foo("1.0.0").raw_metadata(b""));

    // JSON, but not an object (arrays: see `metadata_array_is_refused`).
    send("string", foo("1.0.0").raw_metadata(b"\"foo\""));
    send("number", foo("1.0.0").raw_metadata(b"42"));
    send("null", foo("1.0.0").raw_metadata(b"null"));
    send("empty array", foo("1.0.0").raw_metadata(b"[]"));

    // An object without `vers`.
    send("no vers", foo("1.0.0").remove("vers"));

    // A field of the wrong type.
    send("deps a string", foo("1.0.0").set("deps", "serde"));

    // 100k nested arrays: bounded recursion, no stack overflow.
    let deep = "[".repeat(100_000);
    send("100k arrays", foo("1.0.0").raw_metadata(deep.as_bytes()));
    // ... and inside a free-form field, where the parser must descend.
    for (what, open) in [
        ("100k arrays in badges", "["),
        ("100k objects in badges", "{\"a\":"),
    ] {
        let deep = format!(
            "{{\"name\":\"foo\",\"vers\":\"1.0.0\",\"badges\":{}",
            open.repeat(100_000)
        );
        send(what, foo("1.0.0").raw_metadata(deep.as_bytes()));
    }

    assert_snapshot!(seen, @r#"
    cut JSON: 400 {"errors":[{"detail":"invalid publish metadata: EOF while parsing a value at line 1 column 24 (request id: [REQUEST_ID])"}]}
    not JSON: 400 {"errors":[{"detail":"invalid publish metadata: expected a JSON object (request id: [REQUEST_ID])"}]}
    empty: 400 {"errors":[{"detail":"invalid publish metadata: expected a JSON object (request id: [REQUEST_ID])"}]}
    string: 400 {"errors":[{"detail":"invalid publish metadata: expected a JSON object (request id: [REQUEST_ID])"}]}
    number: 400 {"errors":[{"detail":"invalid publish metadata: expected a JSON object (request id: [REQUEST_ID])"}]}
    null: 400 {"errors":[{"detail":"invalid publish metadata: expected a JSON object (request id: [REQUEST_ID])"}]}
    empty array: 400 {"errors":[{"detail":"invalid publish metadata: expected a JSON object (request id: [REQUEST_ID])"}]}
    no vers: 400 {"errors":[{"detail":"invalid publish metadata: missing field `vers` at line 1 column 280 (request id: [REQUEST_ID])"}]}
    deps a string: 400 {"errors":[{"detail":"invalid publish metadata: invalid type: string \"serde\", expected a sequence at line 1 column 56 (request id: [REQUEST_ID])"}]}
    100k arrays: 400 {"errors":[{"detail":"invalid publish metadata: expected a JSON object (request id: [REQUEST_ID])"}]}
    100k arrays in badges: 400 {"errors":[{"detail":"invalid publish metadata: recursion limit exceeded at line 1 column 165 (request id: [REQUEST_ID])"}]}
    100k objects in badges: 400 {"errors":[{"detail":"invalid publish metadata: recursion limit exceeded at line 1 column 669 (request id: [REQUEST_ID])"}]}
    "#);
    assert_empty_registry(&server, &["foo"]);
    assert_eq!(server.get("/health").status().as_u16(), 200);
}

/// Cargo's metadata is a JSON object. A JSON array whose elements happen to
/// be in the struct's field order must not be taken for one.
#[test]
fn metadata_array_is_refused() {
    let (server, [token]) = Server::with_users(["alice"]);
    let r = publish(
        &server,
        &token,
        &foo("1.0.0").raw_metadata(b"[\"foo\", \"1.0.0\"]"),
    );
    assert_eq!(
        r.status, 400,
        "SERVER BUG: publish metadata that is a JSON array, not an object, was accepted \
         (serde maps the elements to fields by position): {}",
        r.text
    );
    assert_snapshot!(assert_error(&r, 400), @r#"{"errors":[{"detail":"invalid publish metadata: expected a JSON object (request id: [REQUEST_ID])"}]}"#);
    assert_empty_registry(&server, &["foo"]);
}

#[test]
fn invalid_crate_names_are_refused() {
    let (server, [token]) = Server::with_users(["alice"]);
    let long = "a".repeat(65);
    let mut seen = String::new();
    for name in [
        "",
        "1abc",
        "_abc",
        "a/b",
        "../evil",
        "a b",
        "nul",
        "NUL",
        "std",
        "proc-macro",
        &long,
        "café",
    ] {
        // The archive matches the metadata, so only the name is wrong.
        let r = publish(&server, &token, &PublishBuilder::new(name, "1.0.0"));
        let what = snapshot_name(name, (&long, "65 times `a`"));
        seen += &refusal(&what, &r, 400);
    }
    assert_snapshot!(seen, @r#"
    "": 400 {"errors":[{"detail":"the crate name is empty (request id: [REQUEST_ID])"}]}
    "1abc": 400 {"errors":[{"detail":"the crate name `1abc` must start with an ASCII letter, not `1` (request id: [REQUEST_ID])"}]}
    "_abc": 400 {"errors":[{"detail":"the crate name `_abc` must start with an ASCII letter, not `_` (request id: [REQUEST_ID])"}]}
    "a/b": 400 {"errors":[{"detail":"invalid character `/` in crate name `a/b`: only ASCII letters, digits, `-` and `_` are allowed (request id: [REQUEST_ID])"}]}
    "../evil": 400 {"errors":[{"detail":"invalid character `.` in crate name `../evil`: only ASCII letters, digits, `-` and `_` are allowed (request id: [REQUEST_ID])"}]}
    "a b": 400 {"errors":[{"detail":"invalid character ` ` in crate name `a b`: only ASCII letters, digits, `-` and `_` are allowed (request id: [REQUEST_ID])"}]}
    "nul": 400 {"errors":[{"detail":"the crate name `nul` is reserved and cannot be published (request id: [REQUEST_ID])"}]}
    "NUL": 400 {"errors":[{"detail":"the crate name `NUL` is reserved and cannot be published (request id: [REQUEST_ID])"}]}
    "std": 400 {"errors":[{"detail":"the crate name `std` is reserved and cannot be published (request id: [REQUEST_ID])"}]}
    "proc-macro": 400 {"errors":[{"detail":"the crate name `proc-macro` is reserved and cannot be published (request id: [REQUEST_ID])"}]}
    65 times `a`: 400 {"errors":[{"detail":"the crate name `aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...` is too long: at most 64 characters are allowed (request id: [REQUEST_ID])"}]}
    "café": 400 {"errors":[{"detail":"invalid character `é` in crate name `café`: only ASCII letters, digits, `-` and `_` are allowed (request id: [REQUEST_ID])"}]}
    "#);
    assert_empty_registry(&server, &["abc", "nul", "std", "cafe", "evil"]);
}

#[test]
fn invalid_versions_are_refused() {
    let (server, [token]) = Server::with_users(["alice"]);
    let long = format!("1.0.0-{}", "a".repeat(194));
    assert_eq!(long.len(), 200);
    let mut seen = String::new();
    for vers in ["1.0", "01.0.0", "1.0.0-", "", "v1.0.0", long.as_str()] {
        let mut p = foo(vers);
        if vers.len() >= 60 {
            p = p.tarball(crate_file("foo", "1.0.0", LIB));
        }
        let r = publish(&server, &token, &p);
        let what = snapshot_name(vers, (&long, "`1.0.0-` and 194 times `a`"));
        seen += &refusal(&what, &r, 400);
    }
    assert_snapshot!(seen, @r#"
    "1.0": 400 {"errors":[{"detail":"`1.0` is not a valid semver version: unexpected end of input while parsing minor version number (request id: [REQUEST_ID])"}]}
    "01.0.0": 400 {"errors":[{"detail":"`01.0.0` is not a valid semver version: invalid leading zero in major version number (request id: [REQUEST_ID])"}]}
    "1.0.0-": 400 {"errors":[{"detail":"`1.0.0-` is not a valid semver version: empty identifier segment in pre-release identifier (request id: [REQUEST_ID])"}]}
    "": 400 {"errors":[{"detail":"`` is not a valid semver version: empty string, expected a semver version (request id: [REQUEST_ID])"}]}
    "v1.0.0": 400 {"errors":[{"detail":"`v1.0.0` is not a valid semver version: unexpected character 'v' while parsing major version number (request id: [REQUEST_ID])"}]}
    `1.0.0-` and 194 times `a`: 400 {"errors":[{"detail":"the version is too long: at most 150 characters are allowed (request id: [REQUEST_ID])"}]}
    "#);
    assert_empty_registry(&server, &["foo"]);
}

#[test]
fn invalid_dependencies_are_refused() {
    let (server, [token]) = Server::with_users(["alice"]);
    let mut seen = String::new();
    for (what, dep) in [
        ("wildcard", dependency("bar", "*")),
        ("bad requirement", dependency("bar", "not a req")),
        ("bad name", dependency("../bar", "^1")),
        ("missing here", dependency("bar", "^1")),
    ] {
        let r = publish(&server, &token, &foo("1.0.0").dependency(dep));
        seen += &refusal(what, &r, 400);
    }
    assert_snapshot!(seen, @r#"
    wildcard: 400 {"errors":[{"detail":"wildcard (`*`) dependency constraints are not allowed; give `bar` a version requirement (request id: [REQUEST_ID])"}]}
    bad requirement: 400 {"errors":[{"detail":"dependency `bar` has an invalid version requirement `not a req`: unexpected character 'n' while parsing major version number (request id: [REQUEST_ID])"}]}
    bad name: 400 {"errors":[{"detail":"invalid dependency name `../bar`: invalid character `.` in crate name `../bar`: only ASCII letters, digits, `-` and `_` are allowed (request id: [REQUEST_ID])"}]}
    missing here: 400 {"errors":[{"detail":"dependency `bar` does not exist in registry `main`; publish it first (request id: [REQUEST_ID])"}]}
    "#);
    assert_empty_registry(&server, &["foo", "bar"]);
}

/// Any other registry is allowed by default; configuration narrows it with an
/// allow-list or a deny-list, and the refusal names the registry and the keys.
#[test]
fn other_registries_can_be_narrowed_by_configuration() {
    let allowed = "sparse+http://127.0.0.1:9/r/allowed/index/";
    let other = "sparse+http://127.0.0.1:9/r/elsewhere/index/";
    let denied = "sparse+http://127.0.0.1:9/r/denied/index/";
    let server = Server::start_with_config(&format!(
        "[publish]\nallowed_registries = [\"{allowed}\", \"{denied}\"]\ndenied_registries = [\"{denied}\"]\n"
    ));
    let token = server.user_with_token("alice");
    let with_dep = |registry: &str| {
        let mut dep = dependency("serde", "^1");
        dep["registry"] = json!(registry);
        foo("1.0.0").dependency(dep)
    };
    let mut seen = String::new();
    for refused in [other, denied] {
        let r = publish(&server, &token, &with_dep(refused));
        seen += &refusal(refused, &r, 400);
    }
    assert_snapshot!(seen, @r#"
    sparse+http://127.0.0.1:9/r/elsewhere/index/: 400 {"errors":[{"detail":"dependency `serde` comes from registry `sparse+http://127.0.0.1:9/r/elsewhere/index/`, which this server's configuration does not allow (`publish.allowed_registries` / `publish.denied_registries`) (request id: [REQUEST_ID])"}]}
    sparse+http://127.0.0.1:9/r/denied/index/: 400 {"errors":[{"detail":"dependency `serde` comes from registry `sparse+http://127.0.0.1:9/r/denied/index/`, which this server's configuration does not allow (`publish.allowed_registries` / `publish.denied_registries`) (request id: [REQUEST_ID])"}]}
    "#);
    assert_empty_registry(&server, &["foo"]);
    let r = publish(&server, &token, &with_dep(allowed));
    assert_eq!(r.status, 200, "{}", r.text);
}

#[test]
fn hostile_tarballs_are_refused() {
    let (server, [token]) = Server::with_users(["alice"]);
    let root = "foo-1.0.0";
    // The manifest and src/lib.rs of foo 1.0.0, names written verbatim.
    let good = || TarballBuilder::package("foo", "1.0.0").lib(LIB);
    let lib_only = || TarballBuilder::new().raw_file(b"foo-1.0.0/src/lib.rs", LIB.as_bytes());
    let link = |path: &[u8], kind: EntryType, target: &str| {
        good()
            .raw_with(path, kind, b"", |h| h.set_link_name(target).unwrap())
            .gz()
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("parent path", good().raw_file(b"../x", b"evil").gz()),
        (
            "parent path inside the root",
            good().raw_file(b"foo-1.0.0/../../x", b"evil").gz(),
        ),
        (
            "absolute path",
            good()
                .raw_file(b"/etc/passwd", b"root::0:0::/:/bin/sh\n")
                .gz(),
        ),
        (
            "symlink",
            link(b"foo-1.0.0/src/link.rs", EntryType::Symlink, "/etc/passwd"),
        ),
        (
            "hard link",
            link(
                b"foo-1.0.0/src/hard.rs",
                EntryType::Link,
                "foo-1.0.0/src/lib.rs",
            ),
        ),
        (
            "entry outside the package root",
            good()
                .raw_file(b"bar-1.0.0/src/lib.rs", LIB.as_bytes())
                .gz(),
        ),
        (
            "file at the top level",
            good().raw_file(b"README.md", b"hi").gz(),
        ),
        (
            "Cargo.toml names another package",
            with_manifest(TarballBuilder::new(), root, "bar", "1.0.0")
                .raw_file(b"foo-1.0.0/src/lib.rs", LIB.as_bytes())
                .gz(),
        ),
        (
            "Cargo.toml has another version",
            with_manifest(TarballBuilder::new(), root, "foo", "1.0.1")
                .raw_file(b"foo-1.0.0/src/lib.rs", LIB.as_bytes())
                .gz(),
        ),
        ("no Cargo.toml", lib_only().gz()),
        (
            "Cargo.toml is not TOML",
            TarballBuilder::new()
                .raw_file(b"foo-1.0.0/Cargo.toml", b"[package\nname = ")
                .raw_file(b"foo-1.0.0/src/lib.rs", LIB.as_bytes())
                .gz(),
        ),
        ("duplicate entry", good().lib(LIB).gz()),
        ("not gzip", b"this is not a gzip stream, just text".to_vec()),
        ("empty .crate", Vec::new()),
        ("gzip of garbage", gzip(b"definitely not a tar archive")),
    ];
    let mut seen = String::new();
    for (what, krate) in cases {
        let r = publish(&server, &token, &foo("1.0.0").tarball(krate));
        assert_eq!(r.status, 400, "{what}: {}", r.text);
        seen += &refusal(what, &r, 400);
    }
    assert_snapshot!(seen, @r#"
    parent path: 400 {"errors":[{"detail":"entry `../x` in the .crate file is outside `foo-1.0.0/` (request id: [REQUEST_ID])"}]}
    parent path inside the root: 400 {"errors":[{"detail":"entry `foo-1.0.0/../../x` in the .crate file is outside `foo-1.0.0/` (request id: [REQUEST_ID])"}]}
    absolute path: 400 {"errors":[{"detail":"entry `/etc/passwd` in the .crate file is outside `foo-1.0.0/` (request id: [REQUEST_ID])"}]}
    symlink: 400 {"errors":[{"detail":"`foo-1.0.0/src/link.rs` is a symbolic link; .crate files may only contain regular files and directories (request id: [REQUEST_ID])"}]}
    hard link: 400 {"errors":[{"detail":"`foo-1.0.0/src/hard.rs` is a hard link; .crate files may only contain regular files and directories (request id: [REQUEST_ID])"}]}
    entry outside the package root: 400 {"errors":[{"detail":"entry `bar-1.0.0/src/lib.rs` in the .crate file is outside `foo-1.0.0/` (request id: [REQUEST_ID])"}]}
    file at the top level: 400 {"errors":[{"detail":"entry `README.md` in the .crate file is outside `foo-1.0.0/` (request id: [REQUEST_ID])"}]}
    Cargo.toml names another package: 400 {"errors":[{"detail":"the Cargo.toml in the .crate file names package `bar`, but the upload is for `foo` (request id: [REQUEST_ID])"}]}
    Cargo.toml has another version: 400 {"errors":[{"detail":"the Cargo.toml in the .crate file has version `1.0.1`, but the upload is for version `1.0.0` (request id: [REQUEST_ID])"}]}
    no Cargo.toml: 400 {"errors":[{"detail":"the .crate file has no `foo-1.0.0/Cargo.toml` (request id: [REQUEST_ID])"}]}
    Cargo.toml is not TOML: 400 {"errors":[{"detail":"the Cargo.toml in the .crate file is not valid TOML: invalid table header\\nexpected `.`, `]` (line 1) (request id: [REQUEST_ID])"}]}
    duplicate entry: 400 {"errors":[{"detail":"duplicate entry `foo-1.0.0/src/lib.rs` in the .crate file (request id: [REQUEST_ID])"}]}
    not gzip: 400 {"errors":[{"detail":"the .crate file is not a valid gzip stream: invalid gzip header (request id: [REQUEST_ID])"}]}
    empty .crate: 400 {"errors":[{"detail":"the .crate file is not a valid gzip stream: unexpected end of file (request id: [REQUEST_ID])"}]}
    gzip of garbage: 400 {"errors":[{"detail":"the .crate file is not a valid tar archive: failed to read entire block (request id: [REQUEST_ID])"}]}
    "#);
    assert_empty_registry(&server, &["foo", "bar"]);
}

#[test]
fn oversized_crate_section_is_413() {
    let server = Server::start_with_config("[limits]\nmax_crate_size = 20000\n");
    let token = server.user_with_token("alice");
    let krate: Vec<u8> = (0..30_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let r = publish(&server, &token, &foo("1.0.0").tarball(krate));
    assert_snapshot!(assert_error(&r, 413), @r#"{"errors":[{"detail":"the .crate file is 30000 bytes, more than the 20000 bytes allowed (request id: [REQUEST_ID])"}]}"#);
    assert_empty_registry(&server, &["foo"]);

    // A real crate just under the limit still goes through.
    let ok = foo("1.0.0");
    assert!(ok.crate_bytes().len() < 20_000);
    let r = publish(&server, &token, &ok);
    assert_eq!(r.status, 200, "{}", r.text);
}

/// Sends a request head with a huge Content-Length but (almost) no body and
/// returns the raw response text.
fn raw_put_with_content_length(server: &Server, token: &str, content_length: u64) -> String {
    let addr = server.url.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "PUT /r/main/api/v1/crates/new HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {token}\r\n\
         Content-Length: {content_length}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    stream.write_all(&[0u8; 64]).unwrap();
    let mut out = Vec::new();
    // The server may reset the connection after answering; keep what came.
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn oversized_request_body_is_413() {
    // Body limit = max_crate_size + max_metadata_size + 8 = 30008.
    let server =
        Server::start_with_config("[limits]\nmax_crate_size = 20000\nmax_metadata_size = 10000\n");
    let token = server.user_with_token("alice");
    let mut seen = String::new();

    // A Content-Length far above the limit is refused before any body is read.
    let raw = raw_put_with_content_length(&server, &token, 1_000_000_000);
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    let json_start = raw
        .find("{\"errors\"")
        .unwrap_or_else(|| panic!("no error body: {raw}"));
    let v: Value = serde_json::from_str(raw[json_start..].trim()).unwrap();
    seen += &redact_request_ids(&format!("lying Content-Length: 413 {v}\n"));

    // A real body over the limit, with its Content-Length.
    let body = vec![7u8; 40_000];
    let r = server.publish(Some(&token), body.clone());
    seen += &refusal("40000 bytes", &r, 413);

    // The same body chunked (no Content-Length): cut off by the byte count.
    let r = Reply::read(
        http()
            .put(format!("{}/r/main/api/v1/crates/new", server.url))
            .header("Authorization", &token)
            .body(reqwest::blocking::Body::new(std::io::Cursor::new(body)))
            .send()
            .unwrap(),
    )
    .unwrap();
    seen += &refusal("40000 bytes chunked", &r, 413);

    // Metadata over its own limit inside a body under the total limit.
    let p = foo("1.0.0").description(&"d".repeat(12_000));
    let r = publish(&server, &token, &p);
    seen += &refusal("metadata over its limit", &r, 413);

    let seen = redact_number(&seen, p.metadata_bytes().len(), "[METADATA_LEN]");
    assert_snapshot!(seen, @r#"
    lying Content-Length: 413 {"errors":[{"detail":"the request body is 1000000000 bytes, more than the 30008 bytes allowed (request id: [REQUEST_ID])"}]}
    40000 bytes: 413 {"errors":[{"detail":"the request body is 40000 bytes, more than the 30008 bytes allowed (request id: [REQUEST_ID])"}]}
    40000 bytes chunked: 413 {"errors":[{"detail":"the request body is larger than the 30008 bytes allowed (request id: [REQUEST_ID])"}]}
    metadata over its limit: 413 {"errors":[{"detail":"the publish metadata is [METADATA_LEN] bytes, more than the 10000 bytes allowed (request id: [REQUEST_ID])"}]}
    "#);
    assert_empty_registry(&server, &["foo"]);
    assert_eq!(server.get("/health").status().as_u16(), 200);
}

#[test]
fn gzip_bomb_is_413() {
    let server = Server::start_with_config("[limits]\nmax_unpacked_size = 1000000\n");
    let token = server.user_with_token("alice");

    let bomb_size = 20_000_000u64;
    let krate = TarballBuilder::streaming(Compression::default())
        .file("foo-1.0.0/Cargo.toml", manifest("foo", "1.0.0").as_bytes())
        .file("foo-1.0.0/src/lib.rs", LIB.as_bytes())
        .file_from_reader(
            "foo-1.0.0/zeros.bin",
            bomb_size,
            std::io::repeat(0).take(bomb_size),
        )
        .gz();
    assert!(
        krate.len() < 300_000,
        "bomb is {} bytes compressed",
        krate.len()
    );

    let r = publish(&server, &token, &foo("1.0.0").tarball(krate));
    assert_snapshot!(assert_error(&r, 413), @r#"{"errors":[{"detail":"the .crate file unpacks to more than 1000000 bytes (request id: [REQUEST_ID])"}]}"#);

    assert_eq!(server.get("/health").status().as_u16(), 200);
    assert_empty_registry(&server, &["foo"]);

    // Still serving publishes afterwards.
    let r = publish(&server, &token, &foo("1.0.0"));
    assert_eq!(r.status, 200, "{}", r.text);
}

#[test]
fn missing_wrong_and_underscoped_tokens_are_refused() {
    let (server, [token]) = Server::with_users(["alice"]);
    let body = || foo("1.0.0").body();
    let mut seen = String::new();
    // Each 401 with its `WWW-Authenticate` value, the server's address
    // redacted.
    let mut unauthorized = |what: &str, r: &Reply| {
        seen += &server.redact(&refusal(what, r, 401));
        let www = r
            .header("www-authenticate")
            .unwrap_or_else(|| panic!("no www-authenticate on 401: {:?}", r.headers));
        assert!(www.starts_with("Cargo login_url="), "{what}: {www}");
        seen += &format!("  WWW-Authenticate: {}\n", server.redact(www));
    };

    let r = server.publish(None, body());
    unauthorized("no token", &r);
    for bad in [
        "berth_0000000000000000000000000000000000",
        "nonsense",
        "Bearer x",
        "",
    ] {
        let r = server.publish(Some(bad), body());
        unauthorized(&format!("{bad:?}"), &r);
    }
    // A token with a character that is not visible ASCII.
    let r = Reply::read(
        http()
            .put(format!("{}/r/main/api/v1/crates/new", server.url))
            .header(
                "Authorization",
                reqwest::header::HeaderValue::from_bytes(b"berth_\xe9").unwrap(),
            )
            .body(body())
            .send()
            .unwrap(),
    )
    .unwrap();
    seen += &refusal("not visible ASCII", &r, 401);
    seen += &format!(
        "  WWW-Authenticate: {:?}\n",
        r.header("www-authenticate").map(|w| server.redact(w))
    );

    let yank_only = server.token("alice", &["--scope", "yank"]);
    let r = server.publish(Some(&yank_only), body());
    seen += &refusal("yank scope only", &r, 403);

    assert_empty_registry(&server, &["foo"]);

    // The full token still works; then a publish-new-only token may not
    // publish a new version of the now existing crate.
    let r = server.publish(Some(&token), body());
    assert_eq!(r.status, 200, "{}", r.text);
    let new_only = server.token("alice", &["--scope", "publish-new"]);
    let r = publish(&server, &new_only, &foo("1.0.1"));
    seen += &refusal("publish-new scope, existing crate", &r, 403);
    assert_snapshot!(seen, @r#"
    no token: 401 {"errors":[{"detail":"this operation requires a token: run `cargo login --registry main` (request id: [REQUEST_ID])"}]}
      WWW-Authenticate: Cargo login_url="http://[HOST]/r/main/me"
    "berth_0000000000000000000000000000000000": 401 {"errors":[{"detail":"the token is not valid: it is unknown, revoked or expired; create a new one with `berth token create` and run `cargo login` (request id: [REQUEST_ID])"}]}
      WWW-Authenticate: Cargo login_url="http://[HOST]/r/main/me"
    "nonsense": 401 {"errors":[{"detail":"the token is not valid: it is unknown, revoked or expired; create a new one with `berth token create` and run `cargo login` (request id: [REQUEST_ID])"}]}
      WWW-Authenticate: Cargo login_url="http://[HOST]/r/main/me"
    "Bearer x": 401 {"errors":[{"detail":"the token is not valid: it is unknown, revoked or expired; create a new one with `berth token create` and run `cargo login` (request id: [REQUEST_ID])"}]}
      WWW-Authenticate: Cargo login_url="http://[HOST]/r/main/me"
    "": 401 {"errors":[{"detail":"the token is not valid: it is unknown, revoked or expired; create a new one with `berth token create` and run `cargo login` (request id: [REQUEST_ID])"}]}
      WWW-Authenticate: Cargo login_url="http://[HOST]/r/main/me"
    not visible ASCII: 401 {"errors":[{"detail":"the Authorization header is not valid text (request id: [REQUEST_ID])"}]}
      WWW-Authenticate: Some("Cargo login_url=\"http://[HOST]/r/main/me\"")
    yank scope only: 403 {"errors":[{"detail":"this token has neither the `publish-new` nor the `publish-update` scope (request id: [REQUEST_ID])"}]}
    publish-new scope, existing crate: 403 {"errors":[{"detail":"this token does not have the `publish-update` scope; create a token with it (request id: [REQUEST_ID])"}]}
    "#);
    assert_eq!(index_lines(&server, "main", "3/f/foo").len(), 1);
    assert_eq!(server.blob_files().len(), 1);
}

#[test]
fn duplicate_versions_are_refused() {
    let (server, [token]) = Server::with_users(["alice"]);
    let p = foo("1.0.0");
    let krate = p.crate_bytes();
    let r = publish(&server, &token, &p);
    assert_eq!(r.status, 200, "{}", r.text);
    let blobs = sorted_blobs(&server);
    assert_eq!(blobs.len(), 1);
    let line = || {
        let lines = index_lines(&server, "main", "3/f/foo");
        assert_eq!(lines.len(), 1, "{lines:?}");
        lines[0].clone()
    };
    let first_line = line();
    assert_eq!(first_line["cksum"], sha256_hex(&krate).as_str());
    let mut seen = String::new();

    // The very same upload again.
    let r = publish(&server, &token, &p);
    seen += &refusal("same bytes", &r, 409);
    assert_eq!(sorted_blobs(&server), blobs, "same bytes: blob set changed");
    assert_eq!(line(), first_line);

    // Same version, different bytes.
    let r = publish(&server, &token, &foo("1.0.0").lib("pub fn other() {}\n"));
    seen += &refusal("other bytes", &r, 409);
    let after_other = sorted_blobs(&server);
    assert_eq!(line(), first_line);

    // Build metadata does not make a new version.
    let r = publish(&server, &token, &foo("1.0.0+build2"));
    seen += &refusal("build metadata", &r, 409);
    let after_build2 = sorted_blobs(&server);
    assert_eq!(line(), first_line);

    // Another spelling of the name is the same crate.
    for name in ["Foo", "FOO"] {
        let r = publish(&server, &token, &PublishBuilder::new(name, "1.0.1"));
        seen += &refusal(name, &r, 400);
    }
    assert_snapshot!(seen, @r#"
    same bytes: 409 {"errors":[{"detail":"crate version `foo@1.0.0` is already uploaded (request id: [REQUEST_ID])"}]}
    other bytes: 409 {"errors":[{"detail":"crate version `foo@1.0.0` is already uploaded (request id: [REQUEST_ID])"}]}
    build metadata: 409 {"errors":[{"detail":"crate version `foo@1.0.0` is already uploaded (request id: [REQUEST_ID])"}]}
    Foo: 400 {"errors":[{"detail":"crate was previously named `foo`; publish it under that exact name (request id: [REQUEST_ID])"}]}
    FOO: 400 {"errors":[{"detail":"crate was previously named `foo`; publish it under that exact name (request id: [REQUEST_ID])"}]}
    "#);
    assert_eq!(line(), first_line);
    assert_eq!(crate_total(&server), 1);
    let download = server.get("/r/main/api/v1/crates/foo/1.0.0/download");
    assert_eq!(download.bytes().unwrap().as_ref(), krate.as_slice());

    // A refused duplicate must not leave its bytes behind (see the report:
    // the server stores the blob before the commit finds the duplicate).
    assert_eq!(
        (after_other, after_build2),
        (blobs.clone(), blobs),
        "SERVER BUG: a publish refused with 409 (version already uploaded) stored its .crate \
         as an unreferenced blob"
    );
}

#[test]
fn concurrent_publishes_of_one_version_have_one_winner() {
    let (server, [token]) = Server::with_users(["alice"]);
    let n = 8;
    let publishes: Vec<PublishBuilder> = (0..n)
        .map(|i| foo("1.0.0").lib(&format!("pub fn which() -> u32 {{ {i} }}\n")))
        .collect();
    let crates: Vec<Vec<u8>> = publishes.iter().map(PublishBuilder::crate_bytes).collect();
    let barrier = Arc::new(Barrier::new(n));
    let url = server.url.clone();
    let handles: Vec<_> = publishes
        .iter()
        .map(|p| {
            let barrier = barrier.clone();
            let url = url.clone();
            let token = token.clone();
            let body = p.body();
            std::thread::spawn(move || {
                let client = http();
                barrier.wait();
                let r = client
                    .put(format!("{url}/r/main/api/v1/crates/new"))
                    .header("Authorization", token)
                    .body(body)
                    .send()
                    .unwrap();
                Reply::read(r).unwrap()
            })
        })
        .collect();
    let replies: Vec<Reply> = handles.into_iter().map(|h| h.join().unwrap()).collect();

    let winners: Vec<usize> = (0..n).filter(|&i| replies[i].status == 200).collect();
    let statuses: Vec<(u16, &str)> = replies
        .iter()
        .map(|r| (r.status, r.text.as_str()))
        .collect();
    assert_eq!(winners.len(), 1, "{statuses:?}");
    // Every loser got the very same refusal.
    let mut refusals = std::collections::BTreeSet::new();
    for (i, r) in replies.iter().enumerate() {
        if i != winners[0] {
            refusals.insert(refusal("loser", r, 409));
        }
    }
    assert_snapshot!(refusals.into_iter().collect::<String>(), @r#"loser: 409 {"errors":[{"detail":"crate version `foo@1.0.0` is already uploaded (request id: [REQUEST_ID])"}]}"#);
    let winner = &crates[winners[0]];
    let lines = index_lines(&server, "main", "3/f/foo");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["cksum"], sha256_hex(winner).as_str());
    let download = server.get("/r/main/api/v1/crates/foo/1.0.0/download");
    assert_eq!(download.bytes().unwrap().as_ref(), winner.as_slice());
    // The winner's blob is stored; any other blob is one of the uploads.
    let sums: Vec<String> = crates.iter().map(|c| sha256_hex(c)).collect();
    let blob_names: Vec<String> = server.blob_files();
    assert!(blob_names.contains(&sha256_hex(winner)), "{blob_names:?}");
    assert!(
        blob_names.iter().all(|b| sums.contains(b)),
        "{blob_names:?}"
    );
}

#[test]
fn garbage_collection_removes_only_orphans() {
    // Racing publishes of one version leave the losers' blobs behind.
    let server = Server::start_with_config("[limits]\nrequest_timeout_secs = 5\n");
    let token = server.user_with_token("alice");
    let crates: Vec<Vec<u8>> = (0..4)
        .map(|i| crate_file("gcme", "1.0.0", &format!("pub const I: u32 = {i};\n")))
        .collect();
    std::thread::scope(|s| {
        for krate in &crates {
            let (url, token) = (&server.url, &token);
            s.spawn(move || publish_raw(url, token, "gcme", "1.0.0", krate));
        }
    });
    let before = server.blob_files();
    assert!(!before.is_empty());
    let too_young = server.berth(&["gc", "--min-age-secs", "1"]);
    assert!(
        !too_young.status.success(),
        "a minimum age under the request timeout is refused"
    );
    assert!(String::from_utf8_lossy(&too_young.stderr).contains("request timeout"));
    // Young orphans are kept; once old enough they go, and only they.
    let out = server.berth(&["gc", "--min-age-secs", "5"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("deleted 0"),
        "{out:?}"
    );
    std::thread::sleep(std::time::Duration::from_secs(6));
    let out = server.berth(&["gc", "--min-age-secs", "5"]);
    assert!(out.status.success());
    let after = server.blob_files();
    assert_eq!(after.len(), 1, "{after:?}");
    let line = &index_lines(&server, "main", "gc/me/gcme")[0];
    assert_eq!(line["cksum"], after[0].as_str());
    server.verify_blobs();
}

#[test]
fn a_tar_of_tens_of_thousands_of_tiny_entries_is_refused_quickly() {
    // The default limit is 50,000 entries; 60,000 empty files compress to a
    // small upload that would otherwise cost a lot of bookkeeping.
    let (server, [token]) = Server::with_users(["alice"]);
    let mut tarball = TarballBuilder::package("foo", "1.0.0");
    for i in 0..60_000 {
        tarball = tarball.package_file(&format!("f/{i}"), b"");
    }
    let krate = tarball.gz();
    assert!(krate.len() < 10 * 1024 * 1024, "{} bytes", krate.len());
    let start = std::time::Instant::now();
    let r = publish(&server, &token, &foo("1.0.0").tarball(krate));
    assert_snapshot!(assert_error(&r, 400), @r#"{"errors":[{"detail":"the .crate file has more than 50000 entries (request id: [REQUEST_ID])"}]}"#);
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    assert_empty_registry(&server, &["foo"]);
}

#[test]
fn invalid_utf8_confusables_and_huge_lists_are_refused() {
    let (server, [token]) = Server::with_users(["alice"]);
    let mut seen = String::new();

    // Metadata that is not UTF-8.
    let mut bad = foo("1.0.0").metadata_bytes();
    let at = bad.windows(3).position(|w| w == b"MIT").unwrap();
    bad[at] = 0xff;
    let r = publish(&server, &token, &foo("1.0.0").raw_metadata(&bad));
    seen += &refusal("metadata not UTF-8", &r, 400);

    // A Cyrillic look-alike of an ASCII name (the archive matches it).
    let confusable = "s\u{0435}rde";
    let r = publish(&server, &token, &PublishBuilder::new(confusable, "1.0.0"));
    seen += &refusal("confusable name", &r, 400);

    // Tens of thousands of features, thousands of dependencies: far past
    // any real crate (the defaults, 10,000 and 2,000, are several times the
    // largest real ones).
    let features: serde_json::Map<String, Value> =
        (0..10_001).map(|i| (format!("f{i}"), json!([]))).collect();
    let r = publish(
        &server,
        &token,
        &foo("1.0.0").set("features", Value::Object(features)),
    );
    seen += &refusal("10,001 features", &r, 400);

    let deps: Vec<Value> = (0..2_001)
        .map(|i| {
            let mut d = dependency(&format!("d{i}"), "^1");
            d.as_object_mut().unwrap().remove("explicit_name_in_toml");
            d
        })
        .collect();
    let r = publish(&server, &token, &foo("1.0.0").set("deps", deps));
    seen += &refusal("2,001 dependencies", &r, 400);
    assert_snapshot!(seen, @r#"
    metadata not UTF-8: 400 {"errors":[{"detail":"invalid publish metadata: invalid unicode code point at line 1 column 159 (request id: [REQUEST_ID])"}]}
    confusable name: 400 {"errors":[{"detail":"invalid character `е` in crate name `sеrde`: only ASCII letters, digits, `-` and `_` are allowed (request id: [REQUEST_ID])"}]}
    10,001 features: 400 {"errors":[{"detail":"too many features: 10001, at most 10000 are allowed (request id: [REQUEST_ID])"}]}
    2,001 dependencies: 400 {"errors":[{"detail":"too many dependencies: 2001, at most 2000 are allowed (request id: [REQUEST_ID])"}]}
    "#);
    assert_empty_registry(&server, &["foo"]);
}

/// Crates shaped like the largest real ones publish with the default limits:
/// `web-sys` (1,727 features whose values name other features, a 58 KB index
/// line), `windows-sys` (278 features) and `reqwest` (64 dependencies, some
/// from another registry, renamed, optional, per target).
#[test]
fn crates_shaped_like_the_largest_real_ones_publish() {
    let (server, [token]) = Server::with_users(["alice"]);
    let elsewhere = "sparse+http://127.0.0.1:9/r/upstream/index/";

    // web-sys: features named after Web APIs, each enabling a few others.
    let names: Vec<String> = (0..1_727)
        .map(|i| format!("HtmlElementInterface{i:04}"))
        .collect();
    let features: serde_json::Map<String, Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let deps: Vec<Value> = (1..=3)
                .map(|k| json!(names[(i + k * 7) % names.len()]))
                .collect();
            (n.clone(), Value::Array(deps))
        })
        .collect();
    let mut js_sys = dependency("js-sys", "^0.3.77");
    js_sys["registry"] = json!(elsewhere);
    let web = PublishBuilder::new("web-sys", "0.3.77")
        .set("features", Value::Object(features))
        .dependency(js_sys);
    let r = publish(&server, &token, &web);
    assert_eq!(r.status, 200, "{}", r.text);

    // windows-sys: 278 features.
    let win = PublishBuilder::new("windows-sys", "0.59.0").set(
        "features",
        Value::Object(
            (0..278)
                .map(|i| (format!("Win32_Module{i}"), json!([])))
                .collect(),
        ),
    );
    let r = publish(&server, &token, &win);
    assert_eq!(r.status, 200, "{}", r.text);

    // reqwest: 64 dependencies from another registry, with renames,
    // optional ones, target-specific ones and dev-dependencies.
    let deps: Vec<Value> = (0..64)
        .map(|i| {
            json!({
                "name": format!("dep-{i}"), "version_req": "^1.2",
                "features": ["std", "alloc"], "optional": i % 3 == 0,
                "default_features": i % 2 == 0,
                "target": if i % 5 == 0 { json!("cfg(not(target_arch = \"wasm32\"))") } else { Value::Null },
                "kind": if i % 7 == 0 { "dev" } else { "normal" },
                "registry": elsewhere,
                "explicit_name_in_toml": if i % 11 == 0 { json!(format!("renamed_{i}")) } else { Value::Null },
            })
        })
        .collect();
    let req = PublishBuilder::new("reqwest", "0.12.9").set("deps", deps);
    let r = publish(&server, &token, &req);
    assert_eq!(r.status, 200, "{}", r.text);

    // Their index lines are served whole.
    let line = index_file(&server, "we/b-/web-sys");
    assert!(line.len() > 58_000, "web-sys line is {} bytes", line.len());
    let entry: Value = serde_json::from_str(line.trim_end()).unwrap();
    assert_eq!(entry["features"].as_object().unwrap().len(), 1_727);
    let line = index_file(&server, "re/qw/reqwest");
    let entry: Value = serde_json::from_str(line.trim_end()).unwrap();
    assert_eq!(entry["deps"].as_array().unwrap().len(), 64);
}
