//! Hostile and malformed publish requests against a real `berth serve`.
//!
//! Every refused request must get the right status, cargo's JSON error shape
//! with a detail that names the problem, and leave the registry unchanged:
//! no index file, no crate in search, no new blob.

mod common;

use std::io::{Read, Write};
use std::sync::{Arc, Barrier};

use berth_protocol::body::encode_publish_body;
use common::{http, index_lines, sha256_hex, Server};
use serde_json::{json, Value};
use tar::{EntryType, Header};

// ---------------------------------------------------------------- helpers

/// What the server answered.
struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

/// `PUT /r/main/api/v1/crates/new` with this raw body.
fn publish_raw(server: &Server, token: Option<&str>, body: Vec<u8>) -> Reply {
    let mut req = http()
        .put(format!("{}/r/main/api/v1/crates/new", server.url))
        .body(body);
    if let Some(t) = token {
        req = req.header("Authorization", t);
    }
    reply(req.send().expect("publish request"))
}

fn reply(r: reqwest::blocking::Response) -> Reply {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().unwrap();
    Reply {
        status,
        headers,
        text,
    }
}

/// Publishes `meta` with these `.crate` bytes.
fn publish(server: &Server, token: &str, meta: &Value, krate: &[u8]) -> Reply {
    let body = encode_publish_body(meta.to_string().as_bytes(), krate);
    publish_raw(server, Some(token), body)
}

/// Checks a refusal: the status, cargo's `{"errors":[{"detail":...}]}`
/// shape, and that the detail contains `needle`. Returns the detail.
#[track_caller]
fn assert_error(r: &Reply, status: u16, needle: &str) -> String {
    assert_eq!(
        r.status, status,
        "expected {status} mentioning {needle:?}, got: {}",
        r.text
    );
    let ct = r
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
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
    let detail = errors[0]["detail"]
        .as_str()
        .unwrap_or_else(|| panic!("no string detail: {}", r.text));
    assert!(
        detail.contains(needle),
        "detail {detail:?} does not mention {needle:?}"
    );
    detail.to_string()
}

/// The sparse index path of a crate name.
fn index_path(name: &str) -> String {
    let n = name.to_ascii_lowercase();
    match n.len() {
        1 => format!("1/{n}"),
        2 => format!("2/{n}"),
        3 => format!("3/{}/{n}", &n[..1]),
        _ => format!("{}/{}/{n}", &n[..2], &n[2..4]),
    }
}

/// How many crates the registry's search knows (an empty query matches all).
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

/// Minimal valid publish metadata.
fn meta(name: &str, vers: &str) -> Value {
    json!({
        "name": name, "vers": vers, "deps": [], "features": {}, "authors": [],
        "description": null, "documentation": null, "homepage": null, "readme": null,
        "readme_file": null, "keywords": [], "categories": [], "license": "MIT",
        "license_file": null, "repository": null, "badges": {}, "links": null,
        "rust_version": null
    })
}

/// One tar entry written with a raw (unchecked) path.
struct Entry {
    path: Vec<u8>,
    kind: EntryType,
    data: Vec<u8>,
    link: Option<&'static str>,
}

fn file(path: &str, data: &[u8]) -> Entry {
    Entry {
        path: path.as_bytes().to_vec(),
        kind: EntryType::Regular,
        data: data.to_vec(),
        link: None,
    }
}

fn manifest(root: &str, name: &str, vers: &str) -> Entry {
    file(
        &format!("{root}/Cargo.toml"),
        format!("[package]\nname = \"{name}\"\nversion = \"{vers}\"\n").as_bytes(),
    )
}

/// A gzip-compressed tar of these entries, names written verbatim.
fn targz(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for e in entries {
        let mut header = Header::new_gnu();
        let name = &mut header.as_old_mut().name;
        assert!(
            e.path.len() <= name.len(),
            "path too long for a raw tar name"
        );
        name[..e.path.len()].copy_from_slice(&e.path);
        header.set_entry_type(e.kind);
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        header.set_size(e.data.len() as u64);
        if let Some(link) = e.link {
            header.set_link_name(link).unwrap();
        }
        header.set_cksum();
        builder.append(&header, e.data.as_slice()).unwrap();
    }
    gzip(&builder.into_inner().unwrap())
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// A valid `.crate` for `name` `vers`; `lib` is the content of src/lib.rs.
fn valid_crate(name: &str, vers: &str, lib: &str) -> Vec<u8> {
    let root = format!("{name}-{vers}");
    targz(&[
        manifest(&root, name, vers),
        file(&format!("{root}/src/lib.rs"), lib.as_bytes()),
    ])
}

const LIB: &str = "pub fn hello() -> u32 { 42 }\n";

// ---------------------------------------------------------------- tests

#[test]
fn valid_publish_is_accepted() {
    let server = Server::start();
    let token = server.user_with_token("alice");
    assert_empty_registry(&server, &["foo"]);

    let krate = valid_crate("foo", "1.0.0", LIB);
    let r = publish(&server, &token, &meta("foo", "1.0.0"), &krate);
    assert_eq!(r.status, 200, "{}", r.text);
    let v: Value = serde_json::from_str(&r.text).unwrap();
    assert!(
        v.get("warnings").is_some_and(Value::is_object),
        "{}",
        r.text
    );

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
    let server = Server::start();
    let token = server.user_with_token("alice");
    let metadata = meta("foo", "1.0.0").to_string().into_bytes();
    let krate = valid_crate("foo", "1.0.0", LIB);
    let full = encode_publish_body(&metadata, &krate);

    // Cut in the middle of the metadata.
    let cut = 4 + metadata.len() / 2;
    let r = publish_raw(&server, Some(&token), full[..cut].to_vec());
    let d = assert_error(&r, 400, "ends early");
    assert!(
        d.contains(&format!(
            "expected {} more bytes for the metadata",
            metadata.len()
        )),
        "{d}"
    );

    // Cut in the middle of the .crate bytes.
    let cut = 8 + metadata.len() + krate.len() / 2;
    let r = publish_raw(&server, Some(&token), full[..cut].to_vec());
    let d = assert_error(&r, 400, "ends early");
    assert!(
        d.contains(&format!(
            "expected {} more bytes for the .crate file",
            krate.len()
        )),
        "{d}"
    );

    // Cut right after the metadata: the .crate length is missing.
    let r = publish_raw(&server, Some(&token), full[..4 + metadata.len()].to_vec());
    assert_error(&r, 400, "for the .crate length, found 0");

    // Empty, and only two bytes.
    let r = publish_raw(&server, Some(&token), Vec::new());
    assert_error(
        &r,
        400,
        "expected 4 more bytes for the metadata length, found 0",
    );
    let r = publish_raw(&server, Some(&token), vec![2, 0]);
    assert_error(
        &r,
        400,
        "expected 4 more bytes for the metadata length, found 2",
    );

    assert_empty_registry(&server, &["foo"]);
}

#[test]
fn lying_length_fields_and_trailing_bytes_are_refused() {
    let server = Server::start();
    let token = server.user_with_token("alice");
    let metadata = meta("foo", "1.0.0").to_string().into_bytes();
    let krate = valid_crate("foo", "1.0.0", LIB);

    // A metadata length of ~4 GiB with a short body: refused on the length
    // alone (over `max_metadata_size`), without waiting for the bytes.
    let mut body = 0xFFFF_FFF0u32.to_le_bytes().to_vec();
    body.extend_from_slice(&metadata);
    let r = publish_raw(&server, Some(&token), body);
    assert_error(
        &r,
        413,
        "the publish metadata is 4294967280 bytes, more than the 10485760 bytes allowed",
    );

    // A metadata length within the limit but beyond the body: truncated.
    let mut body = 5_000u32.to_le_bytes().to_vec();
    body.extend_from_slice(&metadata);
    let r = publish_raw(&server, Some(&token), body);
    assert_error(
        &r,
        400,
        &format!(
            "expected 5000 more bytes for the metadata, found {}",
            metadata.len()
        ),
    );

    // The same two cases for the .crate length.
    let mut body = (metadata.len() as u32).to_le_bytes().to_vec();
    body.extend_from_slice(&metadata);
    body.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    body.extend_from_slice(&krate);
    let r = publish_raw(&server, Some(&token), body);
    assert_error(
        &r,
        413,
        "the .crate file is 4294967280 bytes, more than the 10485760 bytes allowed",
    );

    let mut body = (metadata.len() as u32).to_le_bytes().to_vec();
    body.extend_from_slice(&metadata);
    body.extend_from_slice(&((krate.len() + 1000) as u32).to_le_bytes());
    body.extend_from_slice(&krate);
    let r = publish_raw(&server, Some(&token), body);
    assert_error(
        &r,
        400,
        &format!(
            "expected {} more bytes for the .crate file",
            krate.len() + 1000
        ),
    );

    // Bytes after the .crate file.
    let mut body = encode_publish_body(&metadata, &krate);
    body.extend_from_slice(b"xyz");
    let r = publish_raw(&server, Some(&token), body);
    assert_error(&r, 400, "3 unexpected bytes after the .crate file");

    assert_empty_registry(&server, &["foo"]);
}

#[test]
fn malformed_metadata_is_refused() {
    let server = Server::start();
    let token = server.user_with_token("alice");
    let krate = valid_crate("foo", "1.0.0", LIB);
    let send =
        |metadata: &[u8]| publish_raw(&server, Some(&token), encode_publish_body(metadata, &krate));

    let r = send(b"{\"name\": \"foo\", \"vers\": ");
    assert_error(&r, 400, "invalid publish metadata");
    let r = send(b"not json at all");
    assert_error(&r, 400, "invalid publish metadata");
    let r = send(b"");
    assert_error(&r, 400, "invalid publish metadata");

    // JSON, but not an object (arrays: see `metadata_array_is_refused`).
    let r = send(b"\"foo\"");
    assert_error(&r, 400, "invalid publish metadata");
    let r = send(b"42");
    assert_error(&r, 400, "invalid publish metadata");
    let r = send(b"null");
    assert_error(&r, 400, "invalid publish metadata");
    let r = send(b"[]");
    assert_error(&r, 400, "invalid publish metadata");

    // An object without `vers`.
    let mut m = meta("foo", "1.0.0");
    m.as_object_mut().unwrap().remove("vers");
    let r = send(m.to_string().as_bytes());
    assert_error(&r, 400, "missing field `vers`");

    // A field of the wrong type.
    let mut m = meta("foo", "1.0.0");
    m["deps"] = json!("serde");
    let r = send(m.to_string().as_bytes());
    assert_error(&r, 400, "invalid publish metadata");

    // 100k nested arrays: bounded recursion, no stack overflow.
    let deep = "[".repeat(100_000);
    let r = send(deep.as_bytes());
    assert_error(&r, 400, "invalid publish metadata");
    // ... and inside a free-form field, where the parser must descend.
    let deep_arr = format!(
        "{{\"name\":\"foo\",\"vers\":\"1.0.0\",\"badges\":{}",
        "[".repeat(100_000)
    );
    let r = send(deep_arr.as_bytes());
    assert_error(&r, 400, "recursion limit");
    let deep_obj = format!(
        "{{\"name\":\"foo\",\"vers\":\"1.0.0\",\"badges\":{}",
        "{\"a\":".repeat(100_000)
    );
    let r = send(deep_obj.as_bytes());
    assert_error(&r, 400, "recursion limit");

    assert_empty_registry(&server, &["foo"]);
    assert_eq!(server.get("/health").status().as_u16(), 200);
}

/// Cargo's metadata is a JSON object. A JSON array whose elements happen to
/// be in the struct's field order must not be taken for one.
#[test]
fn metadata_array_is_refused() {
    let server = Server::start();
    let token = server.user_with_token("alice");
    let krate = valid_crate("foo", "1.0.0", LIB);
    let body = encode_publish_body(b"[\"foo\", \"1.0.0\"]", &krate);
    let r = publish_raw(&server, Some(&token), body);
    assert_eq!(
        r.status, 400,
        "SERVER BUG: publish metadata that is a JSON array, not an object, was accepted \
         (serde maps the elements to fields by position): {}",
        r.text
    );
    assert_error(&r, 400, "invalid publish metadata");
    assert_empty_registry(&server, &["foo"]);
}

#[test]
fn invalid_crate_names_are_refused() {
    let server = Server::start();
    let token = server.user_with_token("alice");
    let long = "a".repeat(65);
    let cases: &[(&str, &str)] = &[
        ("", "the crate name is empty"),
        ("1abc", "must start with an ASCII letter, not `1`"),
        ("_abc", "must start with an ASCII letter"),
        ("a/b", "invalid character `/`"),
        ("../evil", "invalid character `.`"),
        ("a b", "invalid character ` `"),
        ("nul", "`nul` is reserved"),
        ("NUL", "`NUL` is reserved"),
        ("std", "`std` is reserved"),
        ("proc-macro", "is reserved"),
        (&long, "is too long: at most 64 characters"),
        ("café", "invalid character `é`"),
    ];
    for (name, needle) in cases {
        // The archive matches the metadata, so only the name is wrong.
        let root = format!("{name}-1.0.0");
        let krate = targz(&[
            manifest(&root, name, "1.0.0"),
            file(&format!("{root}/src/lib.rs"), LIB.as_bytes()),
        ]);
        let r = publish(&server, &token, &meta(name, "1.0.0"), &krate);
        assert_error(&r, 400, needle);
    }
    assert_empty_registry(&server, &["abc", "nul", "std", "cafe", "evil"]);
}

#[test]
fn invalid_versions_are_refused() {
    let server = Server::start();
    let token = server.user_with_token("alice");
    let long = format!("1.0.0-{}", "a".repeat(194));
    assert_eq!(long.len(), 200);
    for (vers, needle) in [
        ("1.0", "`1.0` is not a valid semver version"),
        ("01.0.0", "`01.0.0` is not a valid semver version"),
        ("1.0.0-", "`1.0.0-` is not a valid semver version"),
        ("", "is not a valid semver version"),
        ("v1.0.0", "`v1.0.0` is not a valid semver version"),
        (
            long.as_str(),
            "the version is too long: at most 150 characters",
        ),
    ] {
        let krate = if vers.len() < 60 {
            valid_crate("foo", vers, LIB)
        } else {
            valid_crate("foo", "1.0.0", LIB)
        };
        let r = publish(&server, &token, &meta("foo", vers), &krate);
        assert_error(&r, 400, needle);
    }
    assert_empty_registry(&server, &["foo"]);
}

#[test]
fn invalid_dependencies_are_refused() {
    let server = Server::start();
    let token = server.user_with_token("alice");
    let krate = valid_crate("foo", "1.0.0", LIB);
    let dep = |name: &str, req: &str, registry: Option<&str>| {
        json!({
            "name": name, "version_req": req, "features": [], "optional": false,
            "default_features": true, "target": null, "kind": "normal",
            "registry": registry, "explicit_name_in_toml": null
        })
    };
    let with_deps = |deps: Value| {
        let mut m = meta("foo", "1.0.0");
        m["deps"] = deps;
        m
    };

    let r = publish(
        &server,
        &token,
        &with_deps(json!([dep("bar", "*", None)])),
        &krate,
    );
    assert_error(
        &r,
        400,
        "wildcard (`*`) dependency constraints are not allowed",
    );

    let r = publish(
        &server,
        &token,
        &with_deps(json!([dep("bar", "not a req", None)])),
        &krate,
    );
    assert_error(
        &r,
        400,
        "dependency `bar` has an invalid version requirement `not a req`",
    );

    let r = publish(
        &server,
        &token,
        &with_deps(json!([dep("../bar", "^1", None)])),
        &krate,
    );
    assert_error(&r, 400, "invalid dependency name `../bar`");

    let r = publish(
        &server,
        &token,
        &with_deps(json!([dep("bar", "^1", None)])),
        &krate,
    );
    assert_error(
        &r,
        400,
        "dependency `bar` does not exist in registry `main`",
    );

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
    let with_dep = |vers: &str, registry: &str| {
        let mut m = meta("foo", vers);
        m["deps"] = json!([{
            "name": "serde", "version_req": "^1", "features": [], "optional": false,
            "default_features": true, "target": null, "kind": "normal",
            "registry": registry, "explicit_name_in_toml": null
        }]);
        m
    };
    for refused in [other, denied] {
        let r = publish(
            &server,
            &token,
            &with_dep("1.0.0", refused),
            &valid_crate("foo", "1.0.0", LIB),
        );
        let d = assert_error(&r, 400, "publish.allowed_registries");
        assert!(
            d.contains(refused) && d.contains("publish.denied_registries"),
            "{d}"
        );
    }
    assert_empty_registry(&server, &["foo"]);
    let r = publish(
        &server,
        &token,
        &with_dep("1.0.0", allowed),
        &valid_crate("foo", "1.0.0", LIB),
    );
    assert_eq!(r.status, 200, "{}", r.text);
}

#[test]
fn hostile_tarballs_are_refused() {
    let server = Server::start();
    let token = server.user_with_token("alice");
    let m = meta("foo", "1.0.0");
    let root = "foo-1.0.0";
    let good_manifest = || manifest(root, "foo", "1.0.0");
    let lib = || file("foo-1.0.0/src/lib.rs", LIB.as_bytes());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "parent path",
            targz(&[good_manifest(), lib(), file("../x", b"evil")]),
            "entry `../x` in the .crate file is outside `foo-1.0.0/`",
        ),
        (
            "parent path inside the root",
            targz(&[good_manifest(), lib(), file("foo-1.0.0/../../x", b"evil")]),
            "entry `foo-1.0.0/../../x` in the .crate file is outside `foo-1.0.0/`",
        ),
        (
            "absolute path",
            targz(&[
                good_manifest(),
                lib(),
                file("/etc/passwd", b"root::0:0::/:/bin/sh\n"),
            ]),
            "entry `/etc/passwd` in the .crate file is outside `foo-1.0.0/`",
        ),
        (
            "symlink",
            targz(&[
                good_manifest(),
                lib(),
                Entry {
                    path: b"foo-1.0.0/src/link.rs".to_vec(),
                    kind: EntryType::Symlink,
                    data: Vec::new(),
                    link: Some("/etc/passwd"),
                },
            ]),
            "`foo-1.0.0/src/link.rs` is a symbolic link",
        ),
        (
            "hard link",
            targz(&[
                good_manifest(),
                lib(),
                Entry {
                    path: b"foo-1.0.0/src/hard.rs".to_vec(),
                    kind: EntryType::Link,
                    data: Vec::new(),
                    link: Some("foo-1.0.0/src/lib.rs"),
                },
            ]),
            "`foo-1.0.0/src/hard.rs` is a hard link",
        ),
        (
            "entry outside the package root",
            targz(&[
                good_manifest(),
                lib(),
                file("bar-1.0.0/src/lib.rs", LIB.as_bytes()),
            ]),
            "entry `bar-1.0.0/src/lib.rs` in the .crate file is outside `foo-1.0.0/`",
        ),
        (
            "file at the top level",
            targz(&[good_manifest(), lib(), file("README.md", b"hi")]),
            "outside `foo-1.0.0/`",
        ),
        (
            "Cargo.toml names another package",
            targz(&[manifest(root, "bar", "1.0.0"), lib()]),
            "names package `bar`, but the upload is for `foo`",
        ),
        (
            "Cargo.toml has another version",
            targz(&[manifest(root, "foo", "1.0.1"), lib()]),
            "has version `1.0.1`, but the upload is for version `1.0.0`",
        ),
        (
            "no Cargo.toml",
            targz(&[lib()]),
            "the .crate file has no `foo-1.0.0/Cargo.toml`",
        ),
        (
            "Cargo.toml is not TOML",
            targz(&[file("foo-1.0.0/Cargo.toml", b"[package\nname = "), lib()]),
            "the Cargo.toml in the .crate file is not valid TOML",
        ),
        (
            "duplicate entry",
            targz(&[good_manifest(), lib(), lib()]),
            "duplicate entry `foo-1.0.0/src/lib.rs`",
        ),
        (
            "not gzip",
            b"this is not a gzip stream, just text".to_vec(),
            "the .crate file is not a valid gzip stream",
        ),
        ("empty .crate", Vec::new(), "not a valid"),
        (
            "gzip of garbage",
            gzip(b"definitely not a tar archive"),
            "the .crate file is not a valid tar archive",
        ),
    ];
    for (what, krate, needle) in cases {
        let r = publish(&server, &token, &m, &krate);
        assert_eq!(r.status, 400, "{what}: {}", r.text);
        assert_error(&r, 400, needle);
    }
    assert_empty_registry(&server, &["foo", "bar"]);
}

#[test]
fn oversized_crate_section_is_413() {
    let server = Server::start_with_config("[limits]\nmax_crate_size = 20000\n");
    let token = server.user_with_token("alice");
    let krate: Vec<u8> = (0..30_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let r = publish(&server, &token, &meta("foo", "1.0.0"), &krate);
    assert_error(
        &r,
        413,
        "the .crate file is 30000 bytes, more than the 20000 bytes allowed",
    );
    assert_empty_registry(&server, &["foo"]);

    // A real crate just under the limit still goes through.
    let ok = valid_crate("foo", "1.0.0", LIB);
    assert!(ok.len() < 20_000);
    let r = publish(&server, &token, &meta("foo", "1.0.0"), &ok);
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

    // A Content-Length far above the limit is refused before any body is read.
    let raw = raw_put_with_content_length(&server, &token, 1_000_000_000);
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    let json_start = raw
        .find("{\"errors\"")
        .unwrap_or_else(|| panic!("no error body: {raw}"));
    let v: Value = serde_json::from_str(raw[json_start..].trim()).unwrap();
    let detail = v["errors"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("the request body is 1000000000 bytes, more than the 30008 bytes allowed"),
        "{detail}"
    );

    // A real body over the limit, with its Content-Length.
    let body = vec![7u8; 40_000];
    let r = publish_raw(&server, Some(&token), body.clone());
    assert_error(
        &r,
        413,
        "the request body is 40000 bytes, more than the 30008 bytes allowed",
    );

    // The same body chunked (no Content-Length): cut off by the byte count.
    let r = reply(
        http()
            .put(format!("{}/r/main/api/v1/crates/new", server.url))
            .header("Authorization", &token)
            .body(reqwest::blocking::Body::new(std::io::Cursor::new(body)))
            .send()
            .unwrap(),
    );
    assert_error(
        &r,
        413,
        "the request body is larger than the 30008 bytes allowed",
    );

    // Metadata over its own limit inside a body under the total limit.
    let mut m = meta("foo", "1.0.0");
    m["description"] = json!("d".repeat(12_000));
    let r = publish(&server, &token, &m, &valid_crate("foo", "1.0.0", LIB));
    assert_error(&r, 413, "more than the 10000 bytes allowed");

    assert_empty_registry(&server, &["foo"]);
    assert_eq!(server.get("/health").status().as_u16(), 200);
}

#[test]
fn gzip_bomb_is_413() {
    let server = Server::start_with_config("[limits]\nmax_unpacked_size = 1000000\n");
    let token = server.user_with_token("alice");

    let root = "foo-1.0.0";
    let mut builder = tar::Builder::new(Vec::new());
    for e in [
        manifest(root, "foo", "1.0.0"),
        file("foo-1.0.0/src/lib.rs", LIB.as_bytes()),
    ] {
        let mut h = Header::new_gnu();
        h.set_path(std::str::from_utf8(&e.path).unwrap()).unwrap();
        h.set_size(e.data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        builder.append(&h, e.data.as_slice()).unwrap();
    }
    let bomb_size = 20_000_000u64;
    let mut h = Header::new_gnu();
    h.set_path("foo-1.0.0/zeros.bin").unwrap();
    h.set_size(bomb_size);
    h.set_mode(0o644);
    h.set_cksum();
    builder
        .append(&h, std::io::repeat(0).take(bomb_size))
        .unwrap();
    let tar_bytes = builder.into_inner().unwrap();
    let krate = gzip(&tar_bytes);
    assert!(
        krate.len() < 300_000,
        "bomb is {} bytes compressed",
        krate.len()
    );

    let r = publish(&server, &token, &meta("foo", "1.0.0"), &krate);
    assert_error(
        &r,
        413,
        "the .crate file unpacks to more than 1000000 bytes",
    );

    assert_eq!(server.get("/health").status().as_u16(), 200);
    assert_empty_registry(&server, &["foo"]);

    // Still serving publishes afterwards.
    let r = publish(
        &server,
        &token,
        &meta("foo", "1.0.0"),
        &valid_crate("foo", "1.0.0", LIB),
    );
    assert_eq!(r.status, 200, "{}", r.text);
}

#[test]
fn missing_wrong_and_underscoped_tokens_are_refused() {
    let server = Server::start();
    let token = server.user_with_token("alice");
    let body = || {
        encode_publish_body(
            meta("foo", "1.0.0").to_string().as_bytes(),
            &valid_crate("foo", "1.0.0", LIB),
        )
    };

    let r = publish_raw(&server, None, body());
    assert_error(&r, 401, "this operation requires a token");
    let www = r
        .headers
        .get("www-authenticate")
        .unwrap_or_else(|| panic!("no www-authenticate on 401: {:?}", r.headers))
        .to_str()
        .unwrap();
    assert!(www.starts_with("Cargo login_url="), "{www}");
    assert!(www.contains("/r/main/me"), "{www}");

    for bad in [
        "berth_0000000000000000000000000000000000",
        "nonsense",
        "Bearer x",
        "",
    ] {
        let r = publish_raw(&server, Some(bad), body());
        let detail = assert_error(&r, 401, "token");
        assert!(
            detail.contains("not valid") || detail.contains("requires a token"),
            "{bad:?}: {detail}"
        );
        let www = r
            .headers
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_string());
        assert!(
            www.as_deref()
                .is_some_and(|w| w.starts_with("Cargo login_url=")),
            "{bad:?}: {www:?}"
        );
    }
    // A token with a character that is not visible ASCII.
    let r = reply(
        http()
            .put(format!("{}/r/main/api/v1/crates/new", server.url))
            .header(
                "Authorization",
                reqwest::header::HeaderValue::from_bytes(b"berth_\xe9").unwrap(),
            )
            .body(body())
            .send()
            .unwrap(),
    );
    assert_error(&r, 401, "the Authorization header is not valid text");

    let yank_only = server.token("alice", &["--scope", "yank"]);
    let r = publish_raw(&server, Some(&yank_only), body());
    assert_error(
        &r,
        403,
        "has neither the `publish-new` nor the `publish-update` scope",
    );

    assert_empty_registry(&server, &["foo"]);

    // The full token still works; then a publish-new-only token may not
    // publish a new version of the now existing crate.
    let r = publish_raw(&server, Some(&token), body());
    assert_eq!(r.status, 200, "{}", r.text);
    let new_only = server.token("alice", &["--scope", "publish-new"]);
    let r = publish(
        &server,
        &new_only,
        &meta("foo", "1.0.1"),
        &valid_crate("foo", "1.0.1", LIB),
    );
    assert_error(&r, 403, "does not have the `publish-update` scope");
    assert_eq!(index_lines(&server, "main", "3/f/foo").len(), 1);
    assert_eq!(server.blob_files().len(), 1);
}

#[test]
fn duplicate_versions_are_refused() {
    let server = Server::start();
    let token = server.user_with_token("alice");
    let krate = valid_crate("foo", "1.0.0", LIB);
    let r = publish(&server, &token, &meta("foo", "1.0.0"), &krate);
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

    // The very same upload again.
    let r = publish(&server, &token, &meta("foo", "1.0.0"), &krate);
    assert_error(&r, 409, "crate version `foo@1.0.0` is already uploaded");
    assert_eq!(sorted_blobs(&server), blobs, "same bytes: blob set changed");
    assert_eq!(line(), first_line);

    // Same version, different bytes.
    let other = valid_crate("foo", "1.0.0", "pub fn other() {}\n");
    let r = publish(&server, &token, &meta("foo", "1.0.0"), &other);
    assert_error(&r, 409, "already uploaded");
    let after_other = sorted_blobs(&server);
    assert_eq!(line(), first_line);

    // Build metadata does not make a new version.
    let build2 = valid_crate("foo", "1.0.0+build2", LIB);
    let r = publish(&server, &token, &meta("foo", "1.0.0+build2"), &build2);
    assert_error(&r, 409, "crate version `foo@1.0.0` is already uploaded");
    let after_build2 = sorted_blobs(&server);
    assert_eq!(line(), first_line);

    // Another spelling of the name is the same crate.
    for name in ["Foo", "FOO"] {
        let r = publish(
            &server,
            &token,
            &meta(name, "1.0.1"),
            &valid_crate(name, "1.0.1", LIB),
        );
        assert_error(&r, 400, "crate was previously named `foo`");
    }
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
    let server = Server::start();
    let token = server.user_with_token("alice");
    let n = 8;
    let crates: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            valid_crate(
                "foo",
                "1.0.0",
                &format!("pub fn which() -> u32 {{ {i} }}\n"),
            )
        })
        .collect();
    let barrier = Arc::new(Barrier::new(n));
    let url = server.url.clone();
    let handles: Vec<_> = crates
        .iter()
        .cloned()
        .map(|krate| {
            let barrier = barrier.clone();
            let url = url.clone();
            let token = token.clone();
            std::thread::spawn(move || {
                let body = encode_publish_body(meta("foo", "1.0.0").to_string().as_bytes(), &krate);
                let client = http();
                barrier.wait();
                let r = client
                    .put(format!("{url}/r/main/api/v1/crates/new"))
                    .header("Authorization", token)
                    .body(body)
                    .send()
                    .unwrap();
                reply(r)
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
    for (i, r) in replies.iter().enumerate() {
        if i != winners[0] {
            assert_error(r, 409, "crate version `foo@1.0.0` is already uploaded");
        }
    }
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
        .map(|i| common::crate_file("gcme", "1.0.0", &format!("pub const I: u32 = {i};\n")))
        .collect();
    std::thread::scope(|s| {
        for krate in &crates {
            let (url, token) = (&server.url, &token);
            s.spawn(move || common::publish_raw(url, token, "gcme", "1.0.0", krate));
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
    let line = &common::index_lines(&server, "main", "gc/me/gcme")[0];
    assert_eq!(line["cksum"], after[0].as_str());
    server.verify_blobs();
}

#[test]
fn a_tar_of_tens_of_thousands_of_tiny_entries_is_refused_quickly() {
    // The default limit is 50,000 entries; 60,000 empty files compress to a
    // small upload that would otherwise cost a lot of bookkeeping.
    let server = Server::start();
    let token = server.user_with_token("alice");
    let root = "foo-1.0.0";
    let mut entries = vec![manifest(root, "foo", "1.0.0")];
    for i in 0..60_000 {
        entries.push(file(&format!("{root}/f/{i}"), b""));
    }
    let krate = targz(&entries);
    assert!(krate.len() < 10 * 1024 * 1024, "{} bytes", krate.len());
    let start = std::time::Instant::now();
    let r = publish(&server, &token, &meta("foo", "1.0.0"), &krate);
    assert_error(&r, 400, "entries");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    assert_empty_registry(&server, &["foo"]);
}

#[test]
fn invalid_utf8_confusables_and_huge_lists_are_refused() {
    let server = Server::start();
    let token = server.user_with_token("alice");
    let krate = valid_crate("foo", "1.0.0", LIB);

    // Metadata that is not UTF-8.
    let mut bad = meta("foo", "1.0.0").to_string().into_bytes();
    let at = bad.windows(3).position(|w| w == b"MIT").unwrap();
    bad[at] = 0xff;
    let r = publish_raw(
        &server,
        Some(&token),
        berth_protocol::body::encode_publish_body(&bad, &krate),
    );
    assert_error(&r, 400, "invalid publish metadata");

    // A Cyrillic look-alike of an ASCII name.
    let confusable = "s\u{0435}rde";
    let root = format!("{confusable}-1.0.0");
    let spoof = targz(&[
        manifest(&root, confusable, "1.0.0"),
        file(&format!("{root}/src/lib.rs"), LIB.as_bytes()),
    ]);
    let r = publish(&server, &token, &meta(confusable, "1.0.0"), &spoof);
    assert_error(&r, 400, "invalid character");

    // Tens of thousands of features, thousands of dependencies: far past
    // any real crate (the defaults, 10,000 and 2,000, are several times the
    // largest real ones).
    let mut many_features = meta("foo", "1.0.0");
    let features: serde_json::Map<String, Value> =
        (0..10_001).map(|i| (format!("f{i}"), json!([]))).collect();
    many_features["features"] = Value::Object(features);
    let r = publish(&server, &token, &many_features, &krate);
    assert_error(&r, 400, "too many features");

    let mut many_deps = meta("foo", "1.0.0");
    many_deps["deps"] = Value::Array(
        (0..2_001)
            .map(|i| {
                json!({"name": format!("d{i}"), "version_req": "^1", "features": [],
                       "optional": false, "default_features": true, "target": null,
                       "kind": "normal", "registry": null})
            })
            .collect(),
    );
    let r = publish(&server, &token, &many_deps, &krate);
    assert_error(&r, 400, "too many dependencies");
    assert_empty_registry(&server, &["foo"]);
}

/// Crates shaped like the largest real ones publish with the default limits:
/// `web-sys` (1,727 features whose values name other features, a 58 KB index
/// line), `windows-sys` (278 features) and `reqwest` (64 dependencies, some
/// from another registry, renamed, optional, per target).
#[test]
fn crates_shaped_like_the_largest_real_ones_publish() {
    let server = Server::start();
    let token = server.user_with_token("alice");
    let elsewhere = "sparse+http://127.0.0.1:9/r/upstream/index/";

    // web-sys: features named after Web APIs, each enabling a few others.
    let mut web = meta("web-sys", "0.3.77");
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
    web["features"] = Value::Object(features);
    web["deps"] = json!([{
        "name": "js-sys", "version_req": "^0.3.77", "features": [], "optional": false,
        "default_features": true, "target": null, "kind": "normal",
        "registry": elsewhere, "explicit_name_in_toml": null
    }]);
    let r = publish(
        &server,
        &token,
        &web,
        &valid_crate("web-sys", "0.3.77", LIB),
    );
    assert_eq!(r.status, 200, "{}", r.text);

    // windows-sys: 278 features.
    let mut win = meta("windows-sys", "0.59.0");
    win["features"] = Value::Object(
        (0..278)
            .map(|i| (format!("Win32_Module{i}"), json!([])))
            .collect(),
    );
    let r = publish(
        &server,
        &token,
        &win,
        &valid_crate("windows-sys", "0.59.0", LIB),
    );
    assert_eq!(r.status, 200, "{}", r.text);

    // reqwest: 64 dependencies from another registry, with renames,
    // optional ones, target-specific ones and dev-dependencies.
    let mut req = meta("reqwest", "0.12.9");
    req["deps"] = Value::Array(
        (0..64)
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
            .collect(),
    );
    let r = publish(
        &server,
        &token,
        &req,
        &valid_crate("reqwest", "0.12.9", LIB),
    );
    assert_eq!(r.status, 200, "{}", r.text);

    // Their index lines are served whole.
    let line = http()
        .get(format!("{}/r/main/index/we/b-/web-sys", server.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(line.len() > 58_000, "web-sys line is {} bytes", line.len());
    let entry: Value = serde_json::from_str(line.trim_end()).unwrap();
    assert_eq!(entry["features"].as_object().unwrap().len(), 1_727);
    let line = http()
        .get(format!("{}/r/main/index/re/qw/reqwest", server.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let entry: Value = serde_json::from_str(line.trim_end()).unwrap();
    assert_eq!(entry["deps"].as_array().unwrap().len(), 64);
}
