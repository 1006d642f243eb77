//! Documentation uploaded from CI and served beside the crate. Real cargo
//! publishes a crate and another that depends on it; real `cargo doc`
//! builds their docs as CI would; the archive of `target/doc` is uploaded
//! with the owner's token and its pages are served, with rustdoc's search
//! index, links to the dependency's pages, a sandboxing content security
//! policy and no cookie. Another user, an archive that escapes its
//! directory, a bomb and an archive without the crate's pages are
//! refused, each leaving the served set alone; a new upload replaces the
//! set; a private registry's docs need its read role, and open in a
//! browser with a pass that its reader's sign-in gets from the crate page.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use berth_testkit::{Cargo, Reply, Server};

#[path = "support/browser.rs"]
mod browser;
use browser::{csrf, users_with_passwords, Browser};

/// A `.tar.gz` of `doc_dir` under `doc/`, as `tar czf x -C target doc`.
fn archive_of(doc_dir: &Path) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    tar.follow_symlinks(false);
    tar.append_dir_all("doc", doc_dir).unwrap();
    tar.into_inner().unwrap().finish().unwrap()
}

/// A `.tar.gz` of these (path, bytes) entries, written raw, so that a
/// path may be anything.
fn raw_archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (path, bytes) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        // Written into the header's name field as it is (`append_data`
        // would refuse `..`).
        let name = &mut header.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_cksum();
        tar.append(&header, *bytes).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// The test's registry, with a small bound on what a set unpacks to.
const CONFIG: &str = "[docs]\nmax_unpacked_mib = 16\n";

fn upload(
    server: &Server,
    registry: &str,
    krate: &str,
    vers: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> (u16, String) {
    let mut req = server
        .request(
            reqwest::Method::PUT,
            &format!("/r/{registry}/api/v1/crates/{krate}/{vers}/docs"),
        )
        .body(body);
    if let Some(t) = token {
        req = req.header("Authorization", t);
    }
    let r = req.send().unwrap();
    let status = r.status().as_u16();
    (status, r.text().unwrap())
}

#[test]
fn docs_uploaded_from_ci_are_served_beside_the_crate() {
    let server = Server::start_with_config(CONFIG);
    let alice = server.user_with_token("alice");
    let bob = server.user_with_token("bob");
    let mut cargo = Cargo::new(&server);
    cargo.set_token(Some(&alice));

    // A crate and one that depends on it, published with cargo.
    let base = cargo.package("doc-base", "1.0.0", "", "");
    std::fs::write(
        base.join("src/lib.rs"),
        "//! The base of things.\n\n/// Adds two numbers, documented.\npub fn add_numbers(a: u32, b: u32) -> u32 { a + b }\n",
    )
    .unwrap();
    cargo.publish(&base);
    let app = cargo.package(
        "doc-app",
        "0.2.0",
        "doc-base = { version = \"1\", registry = \"main\" }",
        "",
    );
    std::fs::write(
        app.join("src/lib.rs"),
        "//! The app.\n\n/// Doubles through [`doc_base::add_numbers`].\npub fn twice_over(a: u32) -> u32 { doc_base::add_numbers(a, a) }\n",
    )
    .unwrap();
    cargo.publish(&app);

    // CI builds the docs (the dependency's too, so that links resolve)
    // and uploads them.
    cargo.ok(&app, &["doc"]);
    let doc_dir = cargo.target.join("doc");
    assert!(doc_dir.join("doc_app/index.html").exists());
    let archive = archive_of(&doc_dir);
    let (status, text) = upload(
        &server,
        "main",
        "doc-app",
        "0.2.0",
        Some(&alice),
        archive.clone(),
    );
    assert_eq!(status, 200, "{text}");
    let answer: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["url"], "/r/main/docs/doc-app/0.2.0/");
    assert!(answer["files"].as_u64().unwrap() > 5, "{text}");

    // The version's top leads to the crate's page, which documents it.
    let page = server.get("/r/main/docs/doc-app/0.2.0/");
    assert_eq!(
        page.url().path(),
        "/r/main/docs/doc-app/0.2.0/doc_app/index.html"
    );
    let h = page.headers().clone();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().unwrap();
    assert!(html.contains("twice_over"), "{html}");
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'")
            && csp.contains("sandbox allow-scripts")
            && !csp.contains("allow-same-origin"),
        "{csp}"
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h.get("set-cookie").is_none());
    assert_eq!(h["vary"], "accept-encoding");
    assert!(h.get("content-encoding").is_none());
    // A client that takes gzip gets the page compressed (made when the
    // set was stored), the same page once decompressed.
    let gz = server
        .request(
            reqwest::Method::GET,
            "/r/main/docs/doc-app/0.2.0/doc_app/index.html",
        )
        .header("Accept-Encoding", "gzip, br")
        .send()
        .unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert_eq!(gz.headers()["vary"], "accept-encoding");
    let gz_etag = gz.headers()["etag"].to_str().unwrap().to_string();
    let compressed = gz.bytes().unwrap();
    assert!(compressed.len() < html.len(), "{} bytes", compressed.len());
    let mut plain = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(&compressed[..]),
        &mut plain,
    )
    .unwrap();
    assert_eq!(plain, html);
    // Pages are revalidated: the tag the client holds answers 304, the
    // gzip variant having a tag of its own.
    let etag = h["etag"].to_str().unwrap().to_string();
    assert_ne!(etag, gz_etag);
    let again = |tag: &str| {
        server
            .request(
                reqwest::Method::GET,
                "/r/main/docs/doc-app/0.2.0/doc_app/index.html",
            )
            .header("If-None-Match", tag)
            .send()
            .unwrap()
    };
    let not_modified = again(&etag);
    assert_eq!(not_modified.status().as_u16(), 304);
    assert_eq!(not_modified.headers()["etag"].to_str().unwrap(), etag);
    assert!(not_modified.bytes().unwrap().is_empty());
    assert_eq!(again("\"another\"").status().as_u16(), 200);
    // `latest` is the same set.
    let latest = server.get("/r/main/docs/doc-app/latest/doc_app/fn.twice_over.html");
    assert_eq!(latest.status().as_u16(), 200);
    let f = latest.text().unwrap();
    assert!(f.contains("Doubles through"), "{f}");
    // The link to the dependency's page resolves within the set.
    assert!(f.contains("../doc_base/fn.add_numbers.html"), "{f}");
    let dep = server.get("/r/main/docs/doc-app/0.2.0/doc_base/fn.add_numbers.html");
    assert_eq!(dep.status().as_u16(), 200);
    assert!(dep.text().unwrap().contains("Adds two numbers"));
    // rustdoc's search index and hashed assets are there, typed and cached.
    let statics: Vec<String> = std::fs::read_dir(doc_dir.join("static.files"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let js = statics
        .iter()
        .find(|n| n.starts_with("search-") && n.ends_with(".js"))
        .expect("rustdoc's search script");
    let r = server.get(&format!("/r/main/docs/doc-app/0.2.0/static.files/{js}"));
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(r.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    // The sandboxed page's origin is opaque: its font loads are
    // cross-origin, and a public registry's files may be read by anyone.
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let index = ["search-index.js", "search.index/root.js"]
        .iter()
        .find(|p| doc_dir.join(p).exists())
        .expect("rustdoc's search index");
    assert_eq!(
        server
            .get(&format!("/r/main/docs/doc-app/0.2.0/{index}"))
            .status()
            .as_u16(),
        200
    );
    // The crate page links to them; a crate without docs has no link.
    let crate_page = server.get("/r/main/crates/doc-app").text().unwrap();
    assert!(
        crate_page.contains("href=\"/r/main/docs/doc-app/0.2.0/\""),
        "{crate_page}"
    );
    let base_page = server.get("/r/main/crates/doc-base").text().unwrap();
    assert!(!base_page.contains("/docs/"), "{base_page}");
    // A file the set does not hold, and a version without docs: 404.
    assert_eq!(
        server
            .get("/r/main/docs/doc-app/0.2.0/doc_app/nothing.html")
            .status()
            .as_u16(),
        404
    );
    assert_eq!(
        server.get("/r/main/docs/doc-base/1.0.0/").status().as_u16(),
        404
    );

    // Refused, each leaving the served set alone: no token, another user,
    // a version that does not exist, escaping paths, links, a bomb, an
    // archive without the crate's pages.
    assert_eq!(
        upload(&server, "main", "doc-app", "0.2.0", None, archive.clone()).0,
        401
    );
    let (status, text) = upload(
        &server,
        "main",
        "doc-app",
        "0.2.0",
        Some(&bob),
        archive.clone(),
    );
    assert_eq!(status, 403, "{text}");
    assert!(
        text.contains("is not an owner of crate `doc-app`"),
        "{text}"
    );
    let (status, text) = upload(
        &server,
        "main",
        "doc-app",
        "9.9.9",
        Some(&alice),
        archive.clone(),
    );
    assert_eq!(status, 404, "{text}");
    for (what, bad) in [
        (
            "a parent path",
            raw_archive(&[
                ("doc/doc_app/index.html", b"<p>x</p>"),
                ("doc/../../evil.html", b"x"),
            ]),
        ),
        ("an absolute path", raw_archive(&[("/etc/evil", b"x")])),
    ] {
        let (status, text) = upload(&server, "main", "doc-app", "0.2.0", Some(&alice), bad);
        assert_eq!(status, 400, "{what}: {text}");
        assert!(text.contains("is not allowed"), "{what}: {text}");
    }
    let mut linked = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Symlink);
    header.set_size(0);
    linked
        .append_link(&mut header, "doc/doc_app/index.html", "/etc/passwd")
        .unwrap();
    let (status, text) = upload(
        &server,
        "main",
        "doc-app",
        "0.2.0",
        Some(&alice),
        linked.into_inner().unwrap().finish().unwrap(),
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("symbolic link"), "{text}");
    let (status, text) = upload(
        &server,
        "main",
        "doc-app",
        "0.2.0",
        Some(&alice),
        raw_archive(&[("doc/other/page.html", b"x")]),
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("has no `doc_app/index.html`"), "{text}");
    // 40 MiB of zeros in a few kilobytes: more than the 16 MiB a set may
    // unpack to here (`[docs] max_unpacked_mib`).
    let bomb = {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let mut header = tar::Header::new_gnu();
        let size: u64 = 40 * 1024 * 1024;
        header.set_size(size);
        header.set_mode(0o644);
        header.set_path("doc/doc_app/index.html").unwrap();
        header.set_cksum();
        gz.write_all(header.as_bytes()).unwrap();
        let zeros = vec![0u8; 1024 * 1024];
        for _ in 0..(size / zeros.len() as u64) {
            gz.write_all(&zeros).unwrap();
        }
        gz.finish().unwrap()
    };
    assert!(bomb.len() < 256 * 1024, "{}", bomb.len());
    let (status, text) = upload(&server, "main", "doc-app", "0.2.0", Some(&alice), bomb);
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("larger than"), "{text}");
    let still = server.get("/r/main/docs/doc-app/0.2.0/doc_app/index.html");
    assert_eq!(still.status().as_u16(), 200);
    assert!(still.text().unwrap().contains("twice_over"));

    // A new upload replaces the set whole: the old pages are no longer
    // served.
    let (status, text) = upload(
        &server,
        "main",
        "doc-app",
        "0.2.0",
        Some(&alice),
        raw_archive(&[("doc/doc_app/index.html", b"<p>the second edition</p>")]),
    );
    assert_eq!(status, 200, "{text}");
    let again = server
        .get("/r/main/docs/doc-app/0.2.0/doc_app/index.html")
        .text()
        .unwrap();
    assert_eq!(again, "<p>the second edition</p>");
    assert_eq!(
        server
            .get("/r/main/docs/doc-app/0.2.0/doc_app/fn.twice_over.html")
            .status()
            .as_u16(),
        404
    );
    // Audited: both uploads, and bob's refusal.
    let audit = server.audit_json(&["--action", "docs.upload"]);
    let rows: Vec<(&str, &str, &str)> = audit
        .iter()
        .map(|r| {
            (
                r["actor"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
                r["crate"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("alice", "ok", "doc-app"),
            ("bob", "denied", "doc-app"),
            ("alice", "ok", "doc-app")
        ],
        "{audit:?}"
    );
}

#[test]
fn a_private_registrys_docs_need_its_read_role() {
    let server = Server::start_with_config("[[registries]]\nname = \"main\"\nprivate = true\n");
    let alice = server.user_with_token("alice");
    let carol = server.user_with_token("carol");
    server.grant("main", "alice", "publish");
    let mut cargo = Cargo::new(&server);
    cargo.set_token(Some(&alice));
    cargo.published("secret-thing", "1.0.0");
    let (status, text) = upload(
        &server,
        "main",
        "secret-thing",
        "1.0.0",
        Some(&alice),
        raw_archive(&[("doc/secret_thing/index.html", b"<p>secret</p>")]),
    );
    assert_eq!(status, 200, "{text}");
    let path = "/r/main/docs/secret-thing/1.0.0/secret_thing/index.html";
    assert_eq!(server.get_as(path, None).status, 401);
    assert_eq!(server.get_as(path, Some(&carol)).status, 403);
    let reply = server.get_as(path, Some(&alice));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text, "<p>secret</p>");
    assert!(reply.headers["cache-control"]
        .to_str()
        .unwrap()
        .starts_with("private"));
    assert!(reply.headers.get("access-control-allow-origin").is_none());
}

/// A docs GET as a browser sends it (no redirect followed), with the
/// fetch metadata of a navigation, or of a subresource load by a page of
/// this origin when `own_page`.
fn docs_get(b: &mut Browser, path: &str, own_page: bool) -> Reply {
    let (site, mode) = match own_page {
        true => ("same-origin", "no-cors"),
        false => ("cross-site", "navigate"),
    };
    let req = b
        .client
        .get(format!("{}{path}", b.server.url))
        .header("Sec-Fetch-Site", site)
        .header("Sec-Fetch-Mode", mode);
    b.send(req)
}

#[test]
fn a_private_registrys_docs_open_in_a_browser_with_a_pass_from_the_crate_page() {
    let mut server = Server::start_with_config(
        "[[registries]]\nname = \"main\"\nprivate = true\n\
         [[registries]]\nname = \"company\"\nkind = \"virtual\"\nprivate = false\nmembers = [\"main\"]\n\
         [docs]\npass_secs = 600\n",
    );
    users_with_passwords(&server, &[("alice", false), ("carol", false)]);
    let alice = server.token("alice", &[]);
    server.grant("main", "alice", "publish");
    let mut cargo = Cargo::new(&server);
    cargo.set_token(Some(&alice));
    for krate in ["secret-thing", "other-thing"] {
        cargo.published(krate, "1.0.0");
        let page = format!("doc/{}/index.html", krate.replace('-', "_"));
        let body = format!("<p>{krate} docs</p>");
        let archive = raw_archive(&[(page.as_str(), body.as_bytes())]);
        let (status, text) = upload(&server, "main", krate, "1.0.0", Some(&alice), archive);
        assert_eq!(status, 200, "{text}");
    }
    let open = "/r/main/crates/secret-thing/1.0.0/docs";

    let (pass_url, pass) = {
        let mut b = Browser::signed_in(&server, "alice");
        // The crate page links to the docs through the pass opener.
        let page = b.get("/r/main/crates/secret-thing", 200);
        assert!(
            page.text.contains(&format!("href=\"{open}\"")),
            "{}",
            page.text
        );
        let opened = b.get(open, 303);
        let to = opened.header("location").unwrap().to_string();
        let pass = to
            .strip_prefix("/r/main/docs/~")
            .and_then(|rest| rest.strip_suffix("/secret-thing/1.0.0/"))
            .unwrap_or_else(|| panic!("a pass URL: {to}"))
            .to_string();
        assert_eq!(pass.len(), 40);
        // The docs path is read with the pass alone: no cookie reaches it
        // (a browser with none follows it here), and none is set.
        let mut stranger = Browser::new(&server);
        let top = docs_get(&mut stranger, &to, false);
        assert_eq!(top.status, 302, "{}", top.text);
        let index = top.header("location").unwrap().to_string();
        assert_eq!(index, format!("{to}secret_thing/index.html"));
        let served = docs_get(&mut stranger, &index, false);
        assert_eq!(served.status, 200, "{}", served.text);
        assert_eq!(served.text, "<p>secret-thing docs</p>");
        assert!(served.headers.get("set-cookie").is_none());
        assert!(served
            .header("content-security-policy")
            .unwrap()
            .contains("sandbox"));
        assert_eq!(served.header("referrer-policy"), Some("no-referrer"));
        assert!(served
            .header("cache-control")
            .unwrap()
            .starts_with("private"));
        // Its fonts load from the sandbox's opaque origin.
        assert_eq!(served.header("access-control-allow-origin"), Some("*"));
        // The pass reads this crate only.
        let other = format!("/r/main/docs/~{pass}/other-thing/1.0.0/other_thing/index.html");
        let refused = docs_get(&mut stranger, &other, false);
        assert_eq!(refused.status, 403, "{}", refused.text);
        assert!(
            refused.text.contains("for another crate"),
            "{}",
            refused.text
        );
        // A made-up pass reads nothing, and says where to go.
        let forged = format!("/r/main/docs/~{}/secret-thing/1.0.0/", "x".repeat(40));
        let refused = docs_get(&mut stranger, &forged, false);
        assert_eq!(refused.status, 401);
        assert!(
            refused
                .text
                .contains("href=\"/r/main/crates/secret-thing\""),
            "{}",
            refused.text
        );
        // A page of this origin cannot load a docs file as its own script.
        let own = docs_get(&mut stranger, &index, true);
        assert_eq!(own.status, 403, "{}", own.text);
        (index, pass)
    };

    // Through a public virtual registry over the private one, the same:
    // the pass reads as its reader, who may read the member.
    {
        let mut b = Browser::signed_in(&server, "alice");
        let opened = b.get("/r/company/crates/secret-thing/1.0.0/docs", 303);
        let to = opened.header("location").unwrap().to_string();
        assert!(to.starts_with("/r/company/docs/~"), "{to}");
        let page = docs_get(&mut b, &format!("{to}secret_thing/index.html"), false);
        assert_eq!(page.status, 200, "{}", page.text);
        assert_eq!(page.text, "<p>secret-thing docs</p>");
    }

    // A signed-in user without the read role gets no pass; a visitor who
    // is not signed in goes to the plain path, which wants a token.
    let mut carol = Browser::signed_in(&server, "carol");
    let r = carol.get(open, 403);
    assert!(
        r.text.contains("does not have the `read` role"),
        "{}",
        r.text
    );
    let mut visitor = Browser::new(&server);
    let r = visitor.get(open, 303);
    assert_eq!(
        r.header("location"),
        Some("/r/main/docs/secret-thing/1.0.0/")
    );
    assert_eq!(
        docs_get(&mut visitor, "/r/main/docs/secret-thing/1.0.0/", false).status,
        401
    );

    // Sign-out ends the session's passes.
    let mut b = Browser::signed_in(&server, "alice");
    let to = b.get(open, 303).header("location").unwrap().to_string();
    let index = format!("{to}secret_thing/index.html");
    assert_eq!(docs_get(&mut visitor, &index, false).status, 200);
    let token = csrf(&b.get("/account", 200).text);
    b.post("/logout", &[("csrf", &token)], 303);
    assert_eq!(docs_get(&mut visitor, &index, false).status, 401);

    // The first pass (its session still signed in) ends after
    // `pass_secs`, while the session lives on.
    assert_eq!(docs_get(&mut visitor, &pass_url, false).status, 200);
    // No log line holds a pass (the refusals above are logged).
    assert!(
        server.log().contains("/r/main/docs/~…/"),
        "{}",
        server.log()
    );
    assert!(!server.log().contains(&pass), "{}", server.log());
    drop((b, carol, visitor));
    server.restart_with_env("BERTH_TEST_CLOCK_OFFSET_SECS", "700");
    let mut visitor = Browser::new(&server);
    assert_eq!(docs_get(&mut visitor, &pass_url, false).status, 401);
    assert!(!server.log().contains(&pass), "{}", server.log());
}

/// The docs build of a version, once it is no longer queued or building
/// (within two minutes), and how long it took to get there.
fn finished_build(server: &Server, krate: &str, vers: &str) -> (serde_json::Value, Duration) {
    let start = Instant::now();
    loop {
        let build = build_of(server, krate, vers);
        if build["state"] == "ok" || build["state"] == "failed" {
            return (build, start.elapsed());
        }
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "{krate} {vers}: still {build}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_docs_worker_builds_what_cargo_publishes_in_its_sandbox() {
    let server = Server::start_with_config("[docs]\nworkers = 1\n");
    let alice = server.user_with_token("alice");
    let mut cargo = Cargo::new(&server);
    cargo.set_token(Some(&alice));
    let base = cargo.package("built-base", "1.0.0", "", "");
    std::fs::write(
        base.join("src/lib.rs"),
        "/// Adds, in the base crate.\npub fn base_add(a: u32, b: u32) -> u32 { a + b }\n\
         /// A sum, documented in the base crate.\npub struct Sum(pub u32);\n",
    )
    .unwrap();
    cargo.publish(&base);
    // A crate of the same registry depending on the first: its build
    // fetches the dependency through this server.
    let app = cargo.package(
        "built-app",
        "0.3.0",
        "built-base = { version = \"1\", registry = \"main\" }",
        "",
    );
    std::fs::write(
        app.join("src/lib.rs"),
        "/// Triples, built by the registry.\npub fn triple_it(a: u32) -> built_base::Sum { \
         built_base::Sum(built_base::base_add(a, built_base::base_add(a, a))) }\n",
    )
    .unwrap();
    let published = Instant::now();
    cargo.publish(&app);
    let (build, _) = finished_build(&server, "built-app", "0.3.0");
    let served_after = published.elapsed();
    assert_eq!(build["state"], "ok", "{}", build["log"]);
    eprintln!(
        "docs of built-app served {:.1} s after cargo publish returned",
        served_after.as_secs_f64()
    );
    let page = server.get("/r/main/docs/built-app/0.3.0/");
    assert_eq!(
        page.url().path(),
        "/r/main/docs/built-app/0.3.0/built_app/index.html"
    );
    assert!(page.text().unwrap().contains("triple_it"));
    let f = server.get("/r/main/docs/built-app/latest/built_app/fn.triple_it.html");
    assert_eq!(f.status().as_u16(), 200);
    let f = f.text().unwrap();
    assert!(f.contains("Triples, built by the registry."));
    // Its signature links to the dependency's docs, built beside it.
    let link = "../built_base/struct.Sum.html";
    assert!(
        f.contains(&format!("href=\"{link}\"")),
        "{}\n{f}",
        build["log"]
    );
    let sum = server.get("/r/main/docs/built-app/0.3.0/built_base/struct.Sum.html");
    assert_eq!(sum.status().as_u16(), 200);
    assert!(sum
        .text()
        .unwrap()
        .contains("A sum, documented in the base crate."));
    let (build, _) = finished_build(&server, "built-base", "1.0.0");
    assert_eq!(build["state"], "ok", "{}", build["log"]);

    // A build script that fails: the build fails with its log, and the
    // next build runs.
    let bad = cargo.package("built-bad", "0.1.0", "", "");
    std::fs::write(
        bad.join("build.rs"),
        "fn main() { let r = std::net::TcpStream::connect(\"127.0.0.1:9\"); panic!(\"no network in here: {r:?}\"); }\n",
    )
    .unwrap();
    cargo.publish(&bad);
    let (build, _) = finished_build(&server, "built-bad", "0.1.0");
    assert_eq!(build["state"], "failed");
    let log = build["log"].as_str().unwrap();
    assert!(log.contains("no network in here"), "{log}");
    assert_eq!(
        server
            .get("/r/main/docs/built-bad/0.1.0/")
            .status()
            .as_u16(),
        404
    );
    // The crate page says so, linking to the log.
    let crate_page = server.get("/r/main/crates/built-bad").text().unwrap();
    assert!(
        crate_page.contains("failed (see the log)")
            && crate_page.contains("/api/v1/registries/main/crates/built-bad/0.1.0/docs-build"),
        "{crate_page}"
    );
    assert!(server
        .get("/metrics")
        .text()
        .unwrap()
        .contains("berth_docs_builds_total{outcome=\"failed\"} 1"));
    // Queued again by an operator: built again (and failing again).
    server.berth(&["docs", "rebuild", "built-bad@0.1.0", "--registry", "main"]);
    let (build, _) = finished_build(&server, "built-bad", "0.1.0");
    assert_eq!(build["state"], "failed");
    assert_eq!(build["attempts"], 1);
    let audit = server.audit_json(&["--action", "docs.rebuild"]);
    assert_eq!(audit.len(), 1, "{audit:?}");
}

/// The docs build of a version as the API shows it.
fn build_of(server: &Server, krate: &str, vers: &str) -> serde_json::Value {
    let r = server.get(&format!(
        "/api/v1/registries/main/crates/{krate}/{vers}/docs-build"
    ));
    assert_eq!(r.status().as_u16(), 200, "{krate} {vers}: no build queued");
    r.json().unwrap()
}

/// Waits (at most a minute) until the build is `state` with `attempts`.
fn wait_for_build(server: &Server, krate: &str, vers: &str, state: &str, attempts: u64) {
    let start = Instant::now();
    loop {
        let build = build_of(server, krate, vers);
        if build["state"] == state && build["attempts"] == attempts {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the build never became {state} (attempt {attempts}): {build}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_docs_worker_process_hands_back_its_build_and_a_killed_ones_is_taken_again() {
    // The server builds nothing itself (`[docs] workers` is 0): dedicated
    // `berth docs worker` processes do.
    let server = Server::start();
    let alice = server.user_with_token("alice");
    let mut cargo = Cargo::new(&server);
    cargo.set_token(Some(&alice));
    let slow = cargo.package("slow-docs", "0.1.0", "", "");
    std::fs::write(
        slow.join("build.rs"),
        "fn main() { loop { std::thread::sleep(std::time::Duration::from_secs(1)); } }\n",
    )
    .unwrap();
    cargo.publish(&slow);
    assert_eq!(build_of(&server, "slow-docs", "0.1.0")["state"], "queued");
    let worker = |env: &[(&str, &str)]| {
        let mut command = server.berth_command();
        command
            .args(["docs", "worker"])
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        command.spawn().expect("start berth docs worker")
    };

    // Stopped with SIGTERM while building: the build goes back to the
    // queue at once, the attempt not counted.
    let mut first = worker(&[]);
    wait_for_build(&server, "slow-docs", "0.1.0", "building", 1);
    let pid = first.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    assert!(first.wait().unwrap().success());
    wait_for_build(&server, "slow-docs", "0.1.0", "queued", 0);

    // Killed outright while building: its lease holds the build until it
    // runs out (here a worker whose clock is past it), then another
    // worker takes it again, and ends it at its own time limit.
    let mut second = worker(&[]);
    wait_for_build(&server, "slow-docs", "0.1.0", "building", 1);
    second.kill().unwrap();
    second.wait().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(build_of(&server, "slow-docs", "0.1.0")["state"], "building");
    let mut third = worker(&[
        ("BERTH_TEST_CLOCK_OFFSET_SECS", "3600"),
        ("BERTH_DOCS_BUILD_SECS", "3"),
    ]);
    wait_for_build(&server, "slow-docs", "0.1.0", "failed", 2);
    third.kill().unwrap();
    third.wait().unwrap();
    let log = build_of(&server, "slow-docs", "0.1.0")["log"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        log.contains("still running after 3 s of wall time and was killed"),
        "{log}"
    );
}

/// The server's blob store's `docs/` directory when the store is a local
/// directory (`None` on S3).
fn docs_dir(server: &Server) -> Option<std::path::PathBuf> {
    let url = server.stores.storage_url();
    Some(Path::new(url.strip_prefix("file://")?).join("docs"))
}

/// The docs sets in the server's blob store when it is a local directory.
fn docs_set_dirs(server: &Server) -> Option<Vec<String>> {
    let dir = docs_dir(server)?;
    let mut sets: Vec<String> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    sets.sort();
    Some(sets)
}

#[test]
fn the_docs_budget_drops_the_oldest_versions_and_gc_deletes_what_no_version_serves() {
    let server = Server::start_with_config("[docs]\nbudget_mib = 1\n");
    let alice = server.user_with_token("alice");
    let mut cargo = Cargo::new(&server);
    cargo.set_token(Some(&alice));
    // 400 KiB that do not compress, per version's docs.
    let noise = |seed: u64| {
        let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        (0..400 * 1024)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect::<Vec<u8>>()
    };
    for (i, vers) in ["1.0.0", "1.1.0", "1.2.0"].into_iter().enumerate() {
        cargo.published("budgeted", vers);
        let (status, text) = upload(
            &server,
            "main",
            "budgeted",
            vers,
            Some(&alice),
            raw_archive(&[
                (
                    "doc/budgeted/index.html",
                    format!("<p>{vers}</p>").as_bytes(),
                ),
                ("doc/budgeted/blob.bin", &noise(i as u64 + 1)),
            ]),
        );
        assert_eq!(status, 200, "{text}");
    }
    // 1.2 MiB against a budget of 1 MiB: the oldest version's docs went.
    let page = |vers: &str| {
        server
            .get(&format!("/r/main/docs/budgeted/{vers}/budgeted/index.html"))
            .status()
            .as_u16()
    };
    assert_eq!(page("1.0.0"), 404);
    assert_eq!(page("1.1.0"), 200);
    assert_eq!(page("1.2.0"), 200);
    assert_eq!(page("latest"), 200);
    let dropped = server.audit_json(&["--action", "docs.drop"]);
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert_eq!(dropped[0]["version"], "1.0.0");
    // A new upload of 1.2.0 replaces its set; the old one is retired.
    let (status, text) = upload(
        &server,
        "main",
        "budgeted",
        "1.2.0",
        Some(&alice),
        raw_archive(&[("doc/budgeted/index.html", b"<p>again</p>")]),
    );
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        server
            .get("/r/main/docs/budgeted/1.2.0/budgeted/index.html")
            .text()
            .unwrap(),
        "<p>again</p>"
    );
    let before = docs_set_dirs(&server);
    if let Some(sets) = &before {
        // Two served, two retired (dropped and replaced).
        assert_eq!(sets.len(), 4, "{sets:?}");
        // And an orphan: a set a writer left before swapping it in.
        let orphan = docs_dir(&server).unwrap().join("0rphan/budgeted");
        std::fs::create_dir_all(&orphan).unwrap();
        std::fs::write(orphan.join("index.html"), "<p>left</p>").unwrap();
    }
    // Within the grace period gc keeps the retired sets' files.
    let out = server.try_berth(&["gc"]).unwrap();
    assert_eq!(out.trim(), "deleted 0 unreferenced blobs");
    // After it, they go; the served sets stay.
    let out = String::from_utf8(
        server
            .berth_command()
            .env("BERTH_TEST_CLOCK_OFFSET_SECS", "7200")
            .arg("gc")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    if before.is_some() {
        assert!(
            out.contains("2 retired sets and 1 orphan set deleted"),
            "{out}"
        );
        assert_eq!(docs_set_dirs(&server).unwrap().len(), 2);
    } else {
        assert!(
            out.contains("2 retired sets and 0 orphan sets deleted"),
            "{out}"
        );
    }
    assert_eq!(page("1.1.0"), 200);
    assert_eq!(page("1.2.0"), 200);
}
