//! The web UI over HTTP against a real `berth serve`: every page's status
//! and content for anonymous, ordinary, member and admin users; a private
//! registry's crate pages identical whether the crate exists or not; the
//! security headers on every page; CSRF refusals; the login brute-force
//! limit; tokens made on the account page used and revoked; a hostile
//! README that reaches the page without anything active.

use berth_testkit::{PublishBuilder, Reply, Server, TarballBuilder};
use reqwest::blocking::Client;
use reqwest::Method;
use serde_json::json;

#[path = "support/browser.rs"]
mod browser;
use browser::{assert_security_headers, csrf, users_with_passwords, Browser};

/// Publishes `name@vers` to `registry` with a README and rich metadata.
fn publish(
    server: &Server,
    token: &str,
    registry: &str,
    name: &str,
    readme: &str,
    extra: serde_json::Value,
) {
    let krate = TarballBuilder::package(name, "1.0.0")
        .lib("pub fn f() {}\n")
        .package_file("README.md", readme.as_bytes())
        .gz();
    let mut b = PublishBuilder::new(name, "1.0.0")
        .set("readme_file", "README.md")
        .tarball(krate);
    if let Some(m) = extra.as_object() {
        for (k, v) in m {
            b = b.set(k, v.clone());
        }
    }
    let r = Reply::read(
        server
            .request(Method::PUT, &format!("/r/{registry}/api/v1/crates/new"))
            .header("Authorization", token)
            .body(b.body())
            .send()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(r.status, 200, "publish {name}: {}", r.text);
}

const CONFIG: &str =
    "[[registries]]\nname = \"main\"\n\n[[registries]]\nname = \"secret\"\nprivate = true\n";

#[test]
fn every_page_for_anonymous_ordinary_member_and_admin_users() {
    let server = Server::start_with_config(CONFIG);
    users_with_passwords(
        &server,
        &[("alice", true), ("bob", false), ("carol", false)],
    );
    server.grant("secret", "carol", "read");
    let admin = server.token("alice", &[]);
    publish(
        &server,
        &admin,
        "main",
        "hello",
        "# Hello\n\nSay *hello* to everyone.\n",
        json!({
            "repository": "https://example.org/hello",
            "rust_version": "1.70",
            "keywords": ["greeting"],
            "features": {"default": ["loud"], "loud": []},
        }),
    );
    publish(
        &server,
        &admin,
        "main",
        "world",
        "World",
        json!({"deps": [{"name": "hello", "version_req": "^1", "features": [], "optional": false,
                         "default_features": true, "target": null, "kind": "normal", "registry": null,
                         "explicit_name_in_toml": null}]}),
    );
    publish(&server, &admin, "secret", "hidden", "# Hidden\n", json!({}));

    // Anonymous.
    let mut anon = Browser::new(&server);
    let home = anon.get("/", 200);
    home.assert_has(&[
        "<a href=\"/r/main/crates/hello\"><strong>hello</strong></a>",
        "[registries.main]",
    ]);
    assert!(
        !home.text.contains("secret") && !home.text.contains("crates/hidden"),
        "{}",
        home.text
    );
    let page = anon.get("/crates/hello", 200);
    page.assert_has(&[
        "<h1>Hello</h1>",
        "<em>hello</em>",
        "cargo add hello --registry main",
        "<dt>MSRV</dt><dd>Rust 1.70</dd>",
        "<dt>License</dt><dd>MIT</dd>",
        "href=\"https://example.org/hello\"",
        "<dt>loud</dt>",
        "alice",
    ]);
    // Its entry in the transparency log, and the command that checks a
    // downloaded file against it with the key the server serves.
    let key = server.get("/r/main/log/key").text().unwrap();
    page.assert_has(&[
        "transparency log\">log #0</span>",
        "1.0.0 is entry <strong>#0</strong> of main's transparency log",
        &format!(
            "<pre id=\"verify-cmd\" class=\"wrap\"><code>berth verify --index sparse+{}/r/main/index/ \
             --key {} hello-1.0.0.crate</code></pre>",
            server.url,
            key.trim()
        ),
    ]);
    let world = anon.get("/r/main/crates/world", 200);
    world.assert_has(&["log #1</span>"]);
    world.assert_has(&["<a href=\"/r/main/crates/hello\">hello</a> <code>^1</code>"]);
    anon.get("/r/main/crates/hello/1.0.0", 200);
    anon.get("/r/main/crates/hello/9.9.9", 404);
    let search = anon.get("/search?q=hel", 200);
    search.assert_has(&["/r/main/crates/hello"]);
    let json = anon.get("/search.json?q=hel&r=main", 200).json();
    assert_eq!(json["total"], 1);
    assert_eq!(json["hits"][0]["url"], "/r/main/crates/hello");
    let listing = anon.get("/r/main", 200);
    listing.assert_has(&["2 crates"]);
    anon.get("/login", 200);
    assert_eq!(anon.get("/account", 303).header("location"), Some("/login"));
    assert_eq!(anon.get("/admin", 303).header("location"), Some("/login"));
    // A private registry: the same 404 for a crate that exists and one
    // that does not, and for the registry itself.
    let hidden = anon.get("/r/secret/crates/hidden", 404);
    let missing = anon.get("/r/secret/crates/nothing", 404);
    assert_eq!(hidden.text, missing.text);
    hidden.assert_lacks(&["Hidden"]);
    anon.get("/r/secret", 404);
    anon.get("/search?r=secret&q=hid", 404);
    anon.get("/search.json?r=secret&q=hid", 404);
    // Compressed when asked.
    let gz = anon.send(
        anon.client
            .get(format!("{}/", server.url))
            .header("Accept-Encoding", "gzip"),
    );
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    let css = home
        .text
        .split("href=\"/static/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let asset = anon.get(&format!("/static/{css}"), 200);
    assert_eq!(
        asset.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(asset.content_type(), "text/css; charset=utf-8");
    anon.get("/static/app.0000.css", 404);

    // An ordinary user: no admin pages, no private registry.
    let mut bob = Browser::signed_in(&server, "bob");
    let account = bob.get("/account", 200);
    account.assert_has(&["Account: bob"]);
    account.assert_lacks(&["href=\"/admin\""]);
    bob.get("/admin", 403);
    bob.get("/admin/audit", 403);
    bob.get("/admin/registries", 403);
    let hidden_bob = bob.get("/r/secret/crates/hidden", 404);
    assert_eq!(hidden_bob.text, missing.text);

    // A member of the private registry reads it.
    let mut carol = Browser::signed_in(&server, "carol");
    assert!(carol.get("/", 200).text.contains("/r/secret/crates/hidden"));
    let page = carol.get("/r/secret/crates/hidden", 200);
    page.assert_has(&["<h1>Hidden</h1>"]);
    carol.get("/admin", 403);

    // The administrator.
    let mut alice = Browser::signed_in(&server, "alice");
    let users = alice.get("/admin", 200);
    assert!(
        users.text.contains("<td>bob</td>") && users.text.contains("secret: read"),
        "{}",
        users.text
    );
    let regs = alice.get("/admin/registries", 200);
    regs.assert_has(&["<td>carol</td><td>read</td>"]);
    let audit = alice.get("/admin/audit?action=publish&crate=hidden", 200);
    audit.assert_has(&["<td>hidden</td>"]);
    audit.assert_lacks(&["<td>hello</td>"]);
    alice.get("/admin/audit?since=yesterday-ish", 400);
    alice.get("/r/secret/crates/hidden", 200);
}

#[test]
fn forms_need_their_csrf_token_and_logins_are_rate_limited() {
    let server = Server::start();
    users_with_passwords(&server, &[("bob", false)]);
    let mut b = Browser::new(&server);
    // Login without, and with a wrong, double-submit token.
    b.get("/login", 200);
    b.post(
        "/login",
        &[("login", "bob"), ("password", "bob-password")],
        403,
    );
    b.post(
        "/login",
        &[
            ("csrf", "wrong"),
            ("login", "bob"),
            ("password", "bob-password"),
        ],
        403,
    );
    b.login("bob", "bob-password");
    let page = b.get("/account", 200);
    let token = csrf(&page.text);
    // A token form without, and with a wrong, CSRF token.
    b.post(
        "/account/tokens",
        &[("name", "t"), ("scope", "publish-new")],
        403,
    );
    b.post("/account/tokens", &[("csrf", "x"), ("name", "t")], 403);
    b.post("/logout", &[], 403);
    // The right one: the secret is shown once and works.
    let made = b.post(
        "/account/tokens",
        &[
            ("csrf", &token),
            ("name", "laptop"),
            ("scope", "publish-new"),
            ("expires_days", "30"),
        ],
        200,
    );
    let secret = made
        .text
        .split("<code>berth_")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap();
    let secret = format!("berth_{secret}");
    let me = |t: &str| {
        server
            .request(Method::GET, "/r/main/api/v1/crates?q=x")
            .header("Authorization", t)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(me(&secret), 200);
    let listed = b.get("/account", 200);
    listed.assert_has(&["<td>laptop</td><td>read,publish-new</td>"]);
    assert!(!listed.text.contains(&secret), "the secret is shown once");
    let id = listed
        .text
        .split("name=\"id\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    b.post("/account/tokens/revoke", &[("id", id)], 403);
    b.post(
        "/account/tokens/revoke",
        &[("csrf", &token), ("id", id)],
        303,
    );
    assert_eq!(me(&secret), 401);
    // Crate patterns and a registry narrow a token made on the page; what
    // the user typed wrong is said on the page.
    b.post(
        "/account/tokens",
        &[
            ("csrf", &token),
            ("name", "narrow"),
            ("scope", "publish-update"),
            ("crates", "acme-* tool"),
            ("registry", "main"),
        ],
        200,
    );
    let listed = b.get("/account", 200);
    listed.assert_has(&[
        "<td>narrow</td><td>read,publish-update</td><td>acme-*, tool; registry main</td>",
    ]);
    let refused = b.post(
        "/account/tokens",
        &[("csrf", &token), ("name", "bad"), ("crates", "no/slash")],
        400,
    );
    refused.assert_has(&["role=\"alert\""]);
    // A token's name follows the one rule of the API and the command line.
    let misnamed = b.post(
        "/account/tokens",
        &[("csrf", &token), ("name", "my laptop")],
        400,
    );
    misnamed.assert_has(&["invalid token name `my laptop`"]);
    // Logout ends the session for good.
    let session = b.cookies.get("berth_session").cloned().unwrap();
    b.post("/logout", &[("csrf", &token)], 303);
    let mut replay = Browser::new(&server);
    replay.cookies.insert("berth_session".into(), session);
    replay.get("/account", 303);

    // Brute force: five wrong passwords for one login, then even the right
    // one is refused for a while.
    let mut m = Browser::new(&server);
    for _ in 0..5 {
        let page = m.get("/login", 200);
        let c = csrf(&page.text);
        let r = m.post(
            "/login",
            &[("csrf", &c), ("login", "bob"), ("password", "guess")],
            401,
        );
        r.assert_has(&["wrong login or password"]);
    }
    let page = m.get("/login", 200);
    let c = csrf(&page.text);
    let r = m.post(
        "/login",
        &[("csrf", &c), ("login", "bob"), ("password", "bob-password")],
        429,
    );
    r.assert_has(&["Too many failed logins"]);
    assert!(r.header("retry-after").is_some());
}

#[test]
fn a_hostile_readme_reaches_the_page_without_anything_active() {
    let server = Server::start();
    let token = server.user_with_token("mallory");
    let readme = "# Innocent\n\n<script>alert('script')</script>\n\n\
                  <img src=\"x\" onerror=\"alert('onerror')\">\n\n\
                  [click me](javascript:alert('link'))\n\n\
                  <a href=\"javascript:alert('raw')\" onclick=\"alert('click')\">raw</a>\n\n\
                  <iframe src=\"https://example.org/\"></iframe>\n\n\
                  <object data=\"x\"></object><embed src=\"x\">\n\n\
                  <div style=\"position:fixed\" onmouseover=\"alert('over')\">hover</div>\n\n\
                  <form action=\"https://example.org/\"><input name=\"pw\"></form>\n\n\
                  <svg onload=\"alert('svg')\"></svg><meta http-equiv=\"refresh\" content=\"0\">\n";
    publish(&server, &token, "main", "innocent", readme, json!({}));
    let mut b = Browser::new(&server);
    let page = b.get("/crates/innocent", 200);
    let readme_html = page
        .text
        .split("<article class=\"readme\" id=\"readme\" aria-label=\"README\">")
        .nth(1)
        .unwrap()
        .split("</article>")
        .next()
        .unwrap();
    assert!(readme_html.contains("<h1>Innocent</h1>"), "{readme_html}");
    for bad in [
        "<script",
        "alert",
        "onerror",
        "onclick",
        "onmouseover",
        "onload",
        "javascript:",
        "<iframe",
        "<object",
        "<embed",
        "style=",
        "<form",
        "<input",
        "<svg",
        "<meta",
    ] {
        assert!(
            !readme_html.contains(bad),
            "{bad} reached the page: {readme_html}"
        );
    }
    // The only scripts on the page are the one external file.
    assert_eq!(page.text.matches("<script").count(), 1);
}

/// The page-weight benchmark: the crate page of a crate with a 100 KB
/// README and 500 versions, fetched compressed. Prints the time per page
/// (as the client sees it, so an upper bound of the server's render time)
/// and the compressed weight, and holds the weight under 150 KB.
#[test]
fn crate_page_weight_and_time_with_a_large_readme_and_500_versions() {
    let server = Server::start();
    let token = server.user_with_token("big");
    for i in 0..499 {
        let b = PublishBuilder::new("big", &format!("1.0.{i}"));
        assert_eq!(server.publish(Some(&token), b.body()).status, 200);
    }
    let mut readme = String::from("# Big\n\n");
    let mut n = 0;
    while readme.len() < 100 * 1024 {
        n += 1;
        readme.push_str(&format!(
            "## Section {n}\n\nSome *prose* with `code`, a [link](https://example.org/{n}) and a list:\n\n\
             - one item\n- another item\n\n```rust\nfn f{n}() -> u32 {{ {n} }}\n```\n\n"
        ));
    }
    let krate = TarballBuilder::package("big", "2.0.0")
        .lib("pub fn f() {}\n")
        .package_file("README.md", readme.as_bytes())
        .gz();
    let b = PublishBuilder::new("big", "2.0.0")
        .set("readme_file", "README.md")
        .tarball(krate);
    assert_eq!(server.publish(Some(&token), b.body()).status, 200);

    let client = Client::new();
    let mut times = Vec::new();
    let mut weights = Vec::new();
    for encoding in ["br", "gzip", "identity"] {
        for _ in 0..10 {
            let start = std::time::Instant::now();
            let r = client
                .get(format!("{}/crates/big", server.url))
                .header("Accept-Encoding", encoding)
                .send()
                .unwrap();
            assert_eq!(r.status(), 200);
            let bytes = r.bytes().unwrap().len();
            times.push(start.elapsed());
            weights.push((encoding, bytes));
        }
    }
    times.sort();
    let median = times[times.len() / 2];
    let weight = |e: &str| weights.iter().find(|(w, _)| *w == e).unwrap().1;
    println!(
        "crate page (README {} KB, 500 versions): median {:.1} ms per page; \
         {:.1} KB brotli, {:.1} KB gzip, {:.1} KB uncompressed",
        readme.len() / 1024,
        median.as_secs_f64() * 1000.0,
        weight("br") as f64 / 1024.0,
        weight("gzip") as f64 / 1024.0,
        weight("identity") as f64 / 1024.0
    );
    assert!(weight("br") < 150 * 1024 && weight("gzip") < 150 * 1024);
    assert!(
        weight("identity") > weight("gzip"),
        "the page is compressed"
    );
}

/// The management API's OpenAPI description names every route of
/// `mgmt.rs`, and the routes it names answer as it says.
#[test]
fn the_openapi_description_matches_the_management_api() {
    let server = Server::start();
    let mut b = Browser::new(&server);
    let doc = b.get("/api/openapi.json", 200).json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for p in [
        "/api/v1/registries/{registry}/crates/{name}",
        "/api/v1/registries/{registry}/crates/{name}/{version}/readme",
        "/api/v1/audit",
    ] {
        assert!(paths.contains(&p), "{p} missing from {paths:?}");
    }
    // As described: the audit log needs a token, a missing crate is 404.
    let status = |path: &str| {
        server
            .request(Method::GET, path)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(status("/api/v1/audit"), 401);
    assert_eq!(status("/api/v1/registries/main/crates/nothing"), 404);
}

/// Polls `path` (as `browser`) until its page contains `want`, for up to
/// 15 s (download counts are flushed every 2 s).
#[track_caller]
fn wait_for_page(browser: &mut Browser<'_>, path: &str, want: &str) -> Reply {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let page = browser.get(path, 200);
        if page.text.contains(want) || std::time::Instant::now() > deadline {
            assert!(page.text.contains(want), "{want} missing: {}", page.text);
            return page;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

#[test]
fn dependents_downloads_per_day_and_teams_on_the_pages() {
    let server = Server::start_with_config(CONFIG);
    users_with_passwords(
        &server,
        &[("alice", true), ("carol", false), ("dave", false)],
    );
    server.grant("secret", "dave", "read");
    let admin = server.token("alice", &[]);
    let on_base = || json!({"deps": [berth_testkit::dependency("base", "^1")]});
    publish(&server, &admin, "main", "base", "# Base\n", json!({}));
    publish(&server, &admin, "main", "app", "# App\n", on_base());
    // A dev dependency, renamed: still one dependent.
    publish(
        &server,
        &admin,
        "main",
        "tool",
        "# Tool\n",
        json!({"deps": [{"name": "base", "version_req": "^1", "features": [], "optional": false,
                         "default_features": true, "target": null, "kind": "dev", "registry": null,
                         "explicit_name_in_toml": "b"}]}),
    );
    // The private registry has its own `base` and a dependent of it.
    publish(
        &server,
        &admin,
        "secret",
        "base",
        "# Secret base\n",
        json!({}),
    );
    publish(&server, &admin, "secret", "spy", "# Spy\n", on_base());

    // Anonymous: main's dependents, linked; nothing of the private one.
    let mut anon = Browser::new(&server);
    let page = anon.get("/r/main/crates/base", 200);
    page.assert_has(&["<h2 id=\"dependents\">Dependents (2)</h2>",
        "<a href=\"/r/main/crates/app\">app</a> <span class=\"meta\">1.0.0 · 0 downloads</span>",
        "<a href=\"/r/main/crates/tool\">tool</a>",
        "<figcaption id=\"chart-summary\" class=\"meta\">0 downloads in the last 14 days, 0 today</figcaption>",]);
    page.assert_lacks(&["spy"]);
    // A new crate: its chart starts a fortnight back, not 90 days.
    assert_eq!(page.text.matches("<rect class=\"bar zero\"").count(), 14);
    let app = anon.get("/r/main/crates/app", 200);
    app.assert_has(&["<h2 id=\"dependents\">Dependents (0)</h2>"]);
    // The private registry's page (and its dependents) is not shown to a
    // viewer who cannot read it, signed in or not.
    let hidden = anon.get("/r/secret/crates/base", 404);
    hidden.assert_lacks(&["spy"]);
    let mut carol = Browser::signed_in(&server, "carol");
    let hidden = carol.get("/r/secret/crates/base", 404);
    hidden.assert_lacks(&["spy"]);
    // A reader of the private registry sees its dependents, and only its.
    let mut dave = Browser::signed_in(&server, "dave");
    let secret = dave.get("/r/secret/crates/base", 200);
    secret.assert_has(&["<a href=\"/r/secret/crates/spy\">spy</a>"]);
    assert!(
        secret
            .text
            .contains("<h2 id=\"dependents\">Dependents (1)</h2>")
            && !secret.text.contains("crates/app\""),
        "{}",
        secret.text
    );

    // Downloads: today's bar and the summary count them once flushed. Days
    // are UTC days: a run just before midnight waits for the new day, so
    // that the three fall on one.
    let into_day = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 86_400;
    if into_day > 86_400 - 30 {
        std::thread::sleep(std::time::Duration::from_secs(86_400 - into_day + 1));
    }
    for _ in 0..3 {
        let dl = server.get("/r/main/api/v1/crates/base/1.0.0/download");
        assert_eq!(dl.status(), 200);
        dl.bytes().unwrap();
    }
    let page = wait_for_page(
        &mut anon,
        "/r/main/crates/base",
        "3 downloads in the last 14 days, 3 today; busiest day ",
    );
    assert_eq!(page.text.matches("<rect class=\"bar zero\"").count(), 13);
    let today = page
        .text
        .split("<rect class=\"bar\" ")
        .nth(1)
        .expect("one bar with downloads");
    assert!(
        today.contains("y=\"8\" width=\"20.7\" height=\"92\"><title>")
            && today.contains(": 3 downloads</title>"),
        "{today}"
    );

    // Teams: on the admin page with members and roles, and as owners on
    // the crate page.
    server.try_berth(&["team", "add", "core"]).unwrap();
    server
        .try_berth(&["team", "member", "add", "core", "carol"])
        .unwrap();
    server.try_berth(&["team", "add", "idle"]).unwrap();
    server
        .try_berth(&[
            "role",
            "grant",
            "--registry",
            "main",
            "--team",
            "core",
            "--role",
            "publish",
        ])
        .unwrap();
    let r = Reply::read(
        server
            .request(Method::PUT, "/r/main/api/v1/crates/base/owners")
            .header("Authorization", &admin)
            .json(&json!({"users": ["team:core"]}))
            .send()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    let mut alice = Browser::signed_in(&server, "alice");
    let users = alice.get("/admin", 200);
    users.assert_has(&[
        "<h2 id=\"teams\">Teams</h2>",
        "<tr><td>core</td><td>carol</td><td>main: publish</td></tr>",
        "<tr><td>idle</td><td><span class=\"empty\">none</span></td><td></td></tr>",
    ]);
    let registries = alice.get("/admin/registries", 200);
    registries.assert_has(&["<tr><td>team:core</td><td>publish</td></tr>"]);
    // Ordinary users still get no admin page.
    carol.get("/admin", 403);
    let page = anon.get("/r/main/crates/base", 200);
    page.assert_has(&["<li>alice</li><li>team:core <span class=\"tag\">team</span></li>"]);
}

/// The account page says how to log cargo in to each registry the user can
/// read (proxies through source replacement), when each token was last
/// used, and lets the user change their own password: the current one
/// required, CSRF-checked, audited, their other sessions ended (issue 26).
#[test]
fn the_account_page_logs_cargo_in_shows_token_use_and_changes_the_password() {
    let server = Server::start_with_config(
        "[[registries]]\nname = \"main\"\n\n[[registries]]\nname = \"secret\"\nprivate = true\n\n\
         [[registries]]\nname = \"hidden\"\nprivate = true\n",
    );
    users_with_passwords(&server, &[("bob", false)]);
    server.grant("secret", "bob", "read");
    let mut bob = Browser::signed_in(&server, "bob");
    let mut elsewhere = Browser::signed_in(&server, "bob");

    let page = bob.get("/account", 200);
    for r in ["main", "secret"] {
        let index = format!(
            "[registries.{r}]\nindex = \"sparse+{}/r/{r}/index/\"",
            server.url
        );
        assert!(page.text.contains(&index), "{r}: {}", page.text);
        page.assert_has(&[&format!("cargo login --registry {r}</code>")]);
    }
    page.assert_lacks(&["registries.hidden"]);

    // A new token: the commands to give it to cargo; its last use.
    let csrf_token = csrf(&page.text);
    let made = bob.post(
        "/account/tokens",
        &[
            ("csrf", &csrf_token),
            ("name", "laptop"),
            ("scope", "publish-new"),
            ("registry", "secret"),
            ("expires_days", "30"),
        ],
        200,
    );
    made.assert_has(&[
        "<pre><code>cargo login --registry secret\n</code></pre>",
        "<td>never</td>",
    ]);
    let at = made.text.find("<pre id=\"new-token\"><code>").unwrap() + 26;
    let secret = made.text[at..].split('<').next().unwrap().to_string();
    let r = server
        .request(Method::GET, "/r/secret/index/config.json")
        .header("Authorization", &secret)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = bob.get("/account", 200);
    page.assert_lacks(&["<td>never</td>"]);
    assert!(page.text.contains("<th scope=\"col\">Last used</th>"));

    // The password: the CSRF token, the current password and a matching
    // repetition are required; nothing changes otherwise.
    let change = |current: &str, new: &str, repeat: &str, csrf: &str| {
        vec![
            ("csrf".to_string(), csrf.to_string()),
            ("current".to_string(), current.to_string()),
            ("new".to_string(), new.to_string()),
            ("repeat".to_string(), repeat.to_string()),
        ]
    };
    let post = |b: &mut Browser, form: Vec<(String, String)>, status: u16| {
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        b.post("/account/password", &pairs, status)
    };
    let csrf_token = csrf(&page.text);
    post(
        &mut bob,
        change("bob-password", "new-password", "new-password", "forged"),
        403,
    );
    let r = post(
        &mut bob,
        change(
            "wrong-password",
            "new-password",
            "new-password",
            &csrf_token,
        ),
        403,
    );
    r.assert_has(&["the current password is wrong"]);
    let r = post(
        &mut bob,
        change(
            "bob-password",
            "new-password",
            "other-password",
            &csrf_token,
        ),
        400,
    );
    r.assert_has(&["differ"]);
    let r = post(
        &mut bob,
        change("bob-password", "short", "short", &csrf_token),
        400,
    );
    assert!(
        r.text.contains("at least 8") || r.text.contains("8 characters"),
        "{}",
        r.text
    );
    elsewhere.get("/account", 200);
    let r = post(
        &mut bob,
        change("bob-password", "new-password", "new-password", &csrf_token),
        200,
    );
    r.assert_has(&["Your password was changed"]);
    // This session stays; the other one ended; the new password signs in.
    bob.get("/account", 200);
    let r = elsewhere.get("/account", 303);
    assert_eq!(r.header("location"), Some("/login"));
    let mut again = Browser::new(&server);
    again.login("bob", "new-password");

    let audit = server
        .try_berth(&["audit", "--json", "--action", "user.password"])
        .unwrap();
    let rows: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seen: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["actor"].as_str().unwrap_or("-").to_string(),
                r["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let last_two = &seen[seen.len() - 2..];
    assert_eq!(
        last_two,
        [
            ("bob".to_string(), "denied".to_string()),
            ("bob".to_string(), "ok".to_string())
        ],
        "{audit}"
    );
    assert_eq!(rows.last().unwrap()["client_addr"], "127.0.0.1");
}

/// A server administrator manages a user from its page (issue 26): roles,
/// administrator rights, disabling (sessions end, sign-in and tokens
/// refused), a password reset, revoking a token and removal, every form
/// CSRF-checked, the destructive ones confirmed, each audited with the
/// administrator as actor; nobody else may post them.
#[test]
fn administrators_manage_users_from_the_admin_pages() {
    let server = Server::start_with_config(
        "[[registries]]\nname = \"main\"\n\n[[registries]]\nname = \"secret\"\nprivate = true\n",
    );
    users_with_passwords(
        &server,
        &[("alice", true), ("bob", false), ("carol", false)],
    );
    let bob_token = server.token("bob", &[]);
    let body = PublishBuilder::new("bobs", "1.0.0").body();
    assert_eq!(server.publish(Some(&bob_token), body).status, 200);
    let mut alice = Browser::signed_in(&server, "alice");
    let mut bob = Browser::signed_in(&server, "bob");
    let mut carol = Browser::signed_in(&server, "carol");

    let list = alice.get("/admin", 200);
    list.assert_has(&["<a href=\"/admin/users/bob\""]);
    let page = alice.get("/admin/users/bob", 200);
    let token = csrf(&page.text);
    let act = |b: &mut Browser, fields: &[(&str, &str)], status: u16| {
        let mut form = vec![("csrf", token.as_str())];
        form.extend_from_slice(fields);
        b.post("/admin/users/bob", &form, status)
    };
    // Nobody else posts them; no form without its CSRF token.
    let carol_csrf = csrf(&carol.get("/account", 200).text);
    carol.post(
        "/admin/users/bob",
        &[("csrf", &carol_csrf), ("action", "admin")],
        403,
    );
    alice.post("/admin/users/bob", &[("action", "admin")], 403);

    // Roles.
    let r = act(
        &mut alice,
        &[
            ("action", "grant"),
            ("registry", "secret"),
            ("role", "read"),
        ],
        200,
    );
    r.assert_has(&["<td>secret</td><td>read</td>"]);
    let r = act(
        &mut alice,
        &[("action", "revoke-role"), ("registry", "secret")],
        200,
    );
    r.assert_lacks(&["<td>secret</td><td>read</td>"]);

    // Administrator rights; taking them needs the confirmation.
    let r = act(&mut alice, &[("action", "admin")], 200);
    r.assert_has(&["<span class=\"tag\">administrator</span>"]);
    let r = act(&mut alice, &[("action", "unadmin")], 400);
    r.assert_has(&["Tick the confirmation"]);
    act(
        &mut alice,
        &[("action", "unadmin"), ("confirm", "yes")],
        200,
    );

    // Disabling ends bob's session and refuses his token and sign-in.
    act(&mut alice, &[("action", "disable")], 400);
    let r = act(
        &mut alice,
        &[("action", "disable"), ("confirm", "yes")],
        200,
    );
    r.assert_has(&["<span class=\"tag\">disabled</span>"]);
    assert_eq!(bob.get("/account", 303).header("location"), Some("/login"));
    let api = |token: &str| {
        berth_testkit::send(
            server
                .request(Method::GET, "/r/main/api/v1/crates?q=x")
                .header("Authorization", token),
        )
        .unwrap()
        .status
    };
    assert_eq!(api(&bob_token), 401);
    let page = bob.get("/login", 200);
    let r = bob.post(
        "/login",
        &[
            ("csrf", &csrf(&page.text)),
            ("login", "bob"),
            ("password", "bob-password"),
        ],
        403,
    );
    r.assert_has(&["this account is disabled"]);
    act(&mut alice, &[("action", "enable")], 200);
    assert_eq!(api(&bob_token), 200);

    // A password reset; bob signs in with the new one.
    act(
        &mut alice,
        &[("action", "reset-password"), ("password", "short")],
        400,
    );
    act(
        &mut alice,
        &[
            ("action", "reset-password"),
            ("password", "reset-password-1"),
        ],
        200,
    );
    let mut bob = Browser::new(&server);
    bob.login("bob", "reset-password-1");

    // Revoking one of bob's tokens.
    let id = server
        .try_berth(&["token", "list", "--user", "bob", "--json"])
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].to_string())
        .next()
        .unwrap();
    act(&mut alice, &[("action", "revoke-token"), ("id", &id)], 400);
    act(
        &mut alice,
        &[("action", "revoke-token"), ("id", &id), ("confirm", "yes")],
        200,
    );
    assert_eq!(api(&bob_token), 401);

    // Removal: typed login; not while bob is the last owner of `bobs`; not
    // oneself.
    let r = act(&mut alice, &[("action", "remove"), ("confirm", "yes")], 400);
    r.assert_has(&["Type the login `bob`"]);
    let r = act(&mut alice, &[("action", "remove"), ("confirm", "bob")], 400);
    r.assert_has(&["user `bob` is the last user owner of main/bobs"]);
    let own = alice.get("/admin/users/alice", 200);
    let r = alice.post(
        "/admin/users/alice",
        &[
            ("csrf", &csrf(&own.text)),
            ("action", "remove"),
            ("confirm", "alice"),
        ],
        400,
    );
    r.assert_has(&["your own account"]);
    let r = server.try_berth(&["user", "remove", "carol"]).unwrap();
    assert_eq!(r, "user `carol` removed\n");
    alice.get("/admin/users/carol", 404);

    let audit = server.try_berth(&["audit", "--json"]).unwrap();
    let by_alice: Vec<String> = audit
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["actor"] == "alice" && r["action"] != "session.login")
        .map(|r| {
            format!(
                "{} {}",
                r["action"].as_str().unwrap(),
                r["detail"].as_str().unwrap_or("-")
            )
        })
        .collect();
    assert_eq!(
        by_alice,
        [
            "role.grant login=bob role=read",
            "role.revoke login=bob role=-",
            "user.admin login=bob admin=true",
            "user.admin login=bob admin=false",
            "user.disable login=bob",
            "user.enable login=bob",
            "user.password login=bob password=set",
            &format!("token.revoke user_id=2 token_id={id}"),
        ],
        "{audit}"
    );
}

/// GETs a page as a browser asks for it (`Accept: text/html`).
fn get_html(browser: &mut Browser<'_>, path: &str) -> Reply {
    let url = format!("{}{path}", browser.server.url);
    browser.send(
        browser
            .client
            .get(url)
            .header("Accept", "text/html,application/xhtml+xml,*/*;q=0.8"),
    )
}

#[test]
fn proxy_and_virtual_crates_are_browsable() {
    // The upstream: another Berth whose `main` has `leftpad` with a README.
    let upstream = Server::start();
    let token = upstream.user_with_token("alice");
    publish(
        &upstream,
        &token,
        "main",
        "leftpad",
        "# Leftpad upstream\n\nPads on the left.\n",
        json!({"keywords": ["pad"]}),
    );
    let server = Server::start_with_config(&format!(
        "[[registries]]\nname = \"main\"\n\n[[registries]]\nname = \"public\"\nkind = \"proxy\"\n\
         upstream = \"{}\"\n\n[[registries]]\nname = \"company\"\nkind = \"virtual\"\n\
         members = [\"main\", \"public\"]\n",
        upstream.index_url("main")
    ));
    server.add_user("bob", false);
    let bob = server.token("bob", &[]);
    publish(&server, &bob, "main", "inhouse", "# In house\n", json!({}));
    let mut anon = Browser::new(&server);
    // Before anything is cached the proxy lists nothing, and says why.
    let home = anon.get("/", 200);
    home.assert_has(&["Nothing cached yet"]);
    // cargo fetches the index file and the crate through the proxy.
    let r = server.get("/r/public/index/le/ft/leftpad");
    assert_eq!(r.status(), 200);
    let r = server.get("/r/public/api/v1/crates/leftpad/1.0.0/download");
    assert_eq!(r.status(), 200);

    // Search through the proxy and the virtual registry links to pages
    // that exist.
    let found = anon.get("/search.json?q=leftpad&r=public", 200).json();
    assert_eq!(found["hits"][0]["url"], "/r/public/crates/leftpad");
    let found = anon.get("/search.json?q=leftpad&r=company", 200).json();
    assert_eq!(found["hits"][0]["url"], "/r/company/crates/leftpad");
    for path in ["/r/public/crates/leftpad", "/r/company/crates/leftpad"] {
        let page = anon.get(path, 200);
        for want in [
            "leftpad <span class=\"ver\">1.0.0</span>",
            "<h1>Leftpad upstream</h1>",
            "Served through the proxy <a href=\"/r/public\">public</a>",
        ] {
            assert!(
                page.text.contains(want),
                "{path}: {want} missing: {}",
                page.text
            );
        }
    }
    let page = anon.get("/r/public/crates/leftpad/1.0.0", 200);
    page.assert_has(&["cargo add leftpad</code>", "leftpad = &#34;1.0.0&#34;"]);
    // The proxy logged what it stored; through the virtual registry the
    // command names the log that holds the crate.
    let key = server.get("/r/main/log/key").text().unwrap();
    let verify = |registry: &str, file: &str| {
        format!(
            "<code>berth verify --index sparse+{}/r/{registry}/index/ --key {} {file}</code>",
            server.url,
            key.trim()
        )
    };
    page.assert_has(&["log #0</span>", &verify("public", "leftpad-1.0.0.crate")]);
    anon.get("/r/public/crates/leftpad/9.9.9", 404);
    // Not cached: not fetched for a page, one 404.
    anon.get("/r/public/crates/rightpad", 404);
    // The hosted member's crate through the virtual registry.
    let page = anon.get("/r/company/crates/inhouse", 200);
    page.assert_has(&[
        "<h1>In house</h1>",
        "log #0</span>",
        &verify("main", "inhouse-1.0.0.crate"),
    ]);

    // Listings and counts.
    let listing = anon.get("/r/public", 200);
    listing.assert_has(&[
        "1 crate cached",
        "<a href=\"/r/public/crates/leftpad\">",
        "[source.crates-io]\nreplace-with = &#34;public&#34;",
        "[source.public]\nregistry = &#34;sparse+",
    ]);
    listing.assert_lacks(&["[registries.public]"]);
    let listing = anon.get("/r/company", 200);
    // A virtual registry stands in for the public source too, with the
    // named registry that publishes through it go to.
    for want in [
        "[source.crates-io]\nreplace-with = &#34;company-src&#34;",
        "[source.company-src]\nregistry = &#34;sparse+",
        "[registries.company]\nindex = &#34;sparse+",
    ] {
        assert!(listing.text.contains(want), "{want}: {}", listing.text);
    }
    listing.assert_has(&[
        "2 crates",
        "/r/company/crates/leftpad",
        "/r/company/crates/inhouse",
    ]);
    let home = anon.get("/", 200);
    home.assert_has(&["/r/public/crates/leftpad", "/r/company/crates/inhouse"]);
    home.assert_lacks(&["[registries.public]"]);
}

#[test]
fn browsers_get_html_404s_redirects_a_favicon_and_robots_txt() {
    let server = Server::start();
    let token = server.user_with_token("alice");
    publish(&server, &token, "main", "hello", "# Hello\n", json!({}));
    let mut b = Browser::new(&server);
    for path in [
        "/crates/hello/versions",
        "/nothing/here",
        "/r/main/crates/hello/9.9.9",
        "/crates/hello/9.9.9",
    ] {
        let r = get_html(&mut b, path);
        assert!(r.status == 404 || r.status == 303, "{path}: {}", r.status);
        if r.status == 404 {
            assert!(
                r.content_type().starts_with("text/html"),
                "{path}: {}",
                r.content_type()
            );
            assert!(
                r.text.contains("<title>Not Found · Berth</title>"),
                "{path}: {}",
                r.text
            );
            assert_security_headers(path, &r);
        }
    }
    // `/crates/NAME/versions` is the crate page's version table.
    let r = b.get("/crates/hello/versions", 303);
    assert_eq!(r.header("location"), Some("/crates/hello#versions"));
    // Trailing slashes go to the page's URL.
    for (from, to) in [
        ("/r/main/", "/r/main"),
        ("/crates/hello/", "/crates/hello"),
        ("/search/?q=he", "/search?q=he"),
    ] {
        let r = get_html(&mut b, from);
        assert_eq!(r.status, 308, "{from}");
        assert_eq!(r.header("location"), Some(to), "{from}");
    }
    b.get("/crates/hello/1.0.0", 200);
    // cargo and API clients keep the JSON error.
    let r = server.get("/r/main/api/v1/crates/nothing/owners/x");
    assert_eq!(r.status(), 404);
    assert!(r.text().unwrap().contains("\"errors\""));
    let r = server.get("/nothing/here");
    assert_eq!(r.status(), 404);
    assert!(r.text().unwrap().contains("no such endpoint"));
    let r = server
        .request(Method::GET, "/r/main/index/no/ne/nonesuch/")
        .header("Accept", "text/html")
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().unwrap().contains("\"errors\""));
    // The icon and robots.txt.
    let icon = b.get("/favicon.ico", 200);
    assert_eq!(icon.content_type(), "image/x-icon");
    let robots = b.get("/robots.txt", 200);
    assert_eq!(robots.content_type(), "text/plain; charset=utf-8");
    robots.assert_has(&["Disallow: /r/*/api/", "Disallow: /r/*/index/", "Allow: /"]);
}

#[test]
fn crate_page_versions_words_dates_install_lines_and_highlighting() {
    let server = Server::start();
    let token = server.user_with_token("alice");
    let readme = "# Tool\n\n```rust\nfn main() { println!(\"hi\"); }\n```\n\n- [x] done\n\n> quoted\n\nNote[^a].\n\n[^a]: Footnote.\n";
    publish(
        &server,
        &token,
        "main",
        "tool",
        readme,
        json!({"keywords": ["cli"], "categories": ["command-line-utilities"],
               "repository": "https://example.org/someone/tool.git"}),
    );
    let r = server
        .request(Method::DELETE, "/r/main/api/v1/crates/tool/1.0.0/yank")
        .header("Authorization", &token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut b = Browser::new(&server);
    let page = b.get("/crates/tool/1.0.0", 200);
    page.assert_has(&["<span class=\"hl-kw\">fn</span>",
        "<span class=\"hl-mac\">println!</span>",
        "<li class=\"task\">",
        "<blockquote>",
        "id=\"user-content-a\"",
        "This version has been yanked.",
        "<a class=\"tag category\" href=\"/search?q=command-line-utilities\">command-line-utilities</a>",
        "<a class=\"tag\" href=\"/search?q=cli\">#cli</a>",
        "tool = { version = &#34;1.0.0&#34;, registry = &#34;main&#34; }",
        "cargo add tool --registry main",
        ">example.org/someone/tool</a>",
        "<a href=\"#readme\">Readme</a>",
        "<a href=\"#versions\">Versions",
        "<a href=\"#deps\">Dependencies",
        "<a href=\"#dependents\">Dependents",
        "<table class=\"dense\">",
        ">just now</time>",]);
    // The README comes before the sidebar in the page (first on a phone).
    let readme_at = page.text.find("id=\"readme\"").unwrap();
    let side_at = page.text.find("<aside").unwrap();
    assert!(readme_at < side_at);
}

#[test]
fn search_sorts_merges_registries_and_numbers_pages() {
    let server = Server::start_with_config(
        "[[registries]]\nname = \"main\"\n\n[[registries]]\nname = \"other\"\n",
    );
    let token = server.user_with_token("alice");
    for name in ["foo10", "foo2", "foo1"] {
        publish(
            &server,
            &token,
            "main",
            name,
            "x",
            json!({"keywords": ["bar", "baz"]}),
        );
    }
    publish(&server, &token, "other", "foo3", "x", json!({}));
    let mut b = Browser::new(&server);
    // No registry chosen: every readable registry, each hit named.
    let all = b.get("/search.json?q=foo&sort=name", 200).json();
    let names: Vec<&str> = all["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["foo1", "foo2", "foo3", "foo10"]);
    assert_eq!(all["hits"][2]["registry"], "other");
    assert_eq!(all["hits"][2]["url"], "/r/other/crates/foo3");
    assert_eq!(all["total"], 4);
    assert_eq!(all["hits"][0]["keywords"], json!(["bar", "baz"]));
    let one = b.get("/search.json?q=foo&r=main&sort=name", 200).json();
    assert_eq!(one["total"], 3);
    assert_eq!(one["hits"][2]["name"], "foo10");
    b.get("/search.json?q=foo&sort=sideways", 400);
    let page = b.get("/search?q=foo&sort=recent", 200);
    page.assert_has(&[
        "<option value=\"recent\" selected>",
        "<option value=\"\" selected>All registries</option>",
        "<span class=\"tag\">other</span>",
        "updated <time",
        "<a class=\"tag\" href=\"/search?q=bar\">#bar</a>",
    ]);
}

#[test]
fn searching_every_registry_shows_a_virtual_registrys_crates_once() {
    let server = Server::start_with_config(
        "[[registries]]\nname = \"main\"\n\n[[registries]]\nname = \"company\"\nkind = \"virtual\"\n\
         members = [\"main\"]\n",
    );
    let token = server.user_with_token("alice");
    publish(&server, &token, "main", "only-once", "x", json!({}));
    let mut b = Browser::new(&server);
    let all = b.get("/search.json?q=only", 200).json();
    assert_eq!(all["total"], 1, "{all}");
    assert_eq!(all["hits"][0]["url"], "/r/main/crates/only-once");
    let one = b.get("/search.json?q=only&r=company", 200).json();
    assert_eq!(one["hits"][0]["url"], "/r/company/crates/only-once");
}

/// The trailing-slash redirect stays on this site: browsers read `\` in a
/// `Location` as `/`, so `/\host/` must not become `Location: /\host`
/// (a redirect to another site). The request is written by hand: HTTP
/// clients would normalize the backslash before sending it.
#[test]
fn trailing_slash_redirect_never_names_another_host() {
    use std::io::{Read, Write};
    let server = Server::start();
    for path in [
        "/\\evil.example/",
        "/\\/evil.example/",
        "/%5C/x/\\evil.example/",
    ] {
        let mut conn = std::net::TcpStream::connect(server.addr()).unwrap();
        write!(
            conn,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: text/html\r\nConnection: close\r\n\r\n",
            server.addr()
        )
        .unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        let head = answer.split("\r\n\r\n").next().unwrap_or_default();
        assert!(
            !head.to_ascii_lowercase().contains("\r\nlocation:"),
            "{path} redirected: {head}"
        );
        assert!(head.starts_with("HTTP/1.1 404"), "{path}: {head}");
    }
}

/// Advisories imported with the command line show on the crate page (each
/// version's, the banner of an affected version, the rule that blocks one,
/// the dependency on an affected version), their text from the database
/// escaped; the administrators' policies page lists the set in force, each
/// policy and its exceptions, and is theirs alone.
#[test]
fn advisories_show_on_crate_pages_escaped_and_on_the_policies_page() {
    let server = Server::start_with_config(
        "[[registries]]\nname = \"main\"\n\n[registries.policy]\nblock_advisories = true\n\n\
         [[registries]]\nname = \"open\"\n",
    );
    users_with_passwords(&server, &[("alice", true), ("bob", false)]);
    let token = server.token("alice", &[]);
    let put = |registry: &str, b: PublishBuilder| {
        let r = server
            .request(Method::PUT, &format!("/r/{registry}/api/v1/crates/new"))
            .header("Authorization", &token)
            .body(b.body())
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    };
    for registry in ["main", "open"] {
        for vers in ["1.0.0", "1.1.0"] {
            put(registry, PublishBuilder::new("leaky", vers));
        }
    }
    put(
        "open",
        PublishBuilder::new("app", "1.0.0").dependency(berth_testkit::dependency("leaky", "^1")),
    );
    let db = tempfile::tempdir().unwrap();
    let mut advisory =
        berth_testkit::AdvisoryFile::vulnerability("RUSTSEC-2026-0601", "leaky", &[">= 2"]);
    advisory.title = "<script>alert(1)</script> in leaky".into();
    berth_testkit::write_advisory_db(db.path(), &[advisory]);
    server
        .try_berth(&["advisories", "import", db.path().to_str().unwrap()])
        .unwrap();
    let mut alice = Browser::signed_in(&server, "alice");
    let leaky = wait_for_page(&mut alice, "/r/open/crates/leaky", "id=\"vulnerable\"");
    leaky.assert_has(&[
        "RUSTSEC-2026-0601",
        "&#60;script&#62;alert(1)&#60;/script&#62; in leaky",
        "href=\"https://example.invalid/advisories/RUSTSEC-2026-0601\"",
        "id=\"advisories\"",
    ]);
    leaky.assert_lacks(&["<script>alert", "id=\"blocked\""]);
    let blocked = alice.get("/r/main/crates/leaky/1.0.0", 200);
    blocked.assert_has(&[
        "id=\"blocked\"",
        "blocked: advisory",
        "Blocked by the policy of main",
    ]);
    let app = alice.get("/r/open/crates/app", 200);
    app.assert_has(&[
        "id=\"affected-deps\"",
        "leaky 1.1.0",
        "affected: 1.1.0 (RUSTSEC-2026-0601)",
    ]);

    // The policies page: administrators only.
    let mut bob = Browser::signed_in(&server, "bob");
    bob.get("/admin/policies", 403);
    server
        .try_berth(&[
            "policy",
            "allow",
            "leaky@1.0.0",
            "--registry",
            "main",
            "--reason",
            "<b>pinned</b> by 4.2",
            "--expires-in",
            "30d",
        ])
        .unwrap();
    let digest = server
        .get("/api/v1/advisories")
        .json::<serde_json::Value>()
        .unwrap()["set"]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let page = wait_for_page(&mut alice, "/admin/policies", "by 4.2");
    page.assert_has(&[
        &digest,
        "1 advisory about 1 crate",
        "block advisories",
        "&#60;b&#62;pinned&#60;/b&#62; by 4.2",
        "Without a policy: open.",
        "href=\"/admin/policies\"",
    ]);
    page.assert_lacks(&["<b>pinned"]);
    // What this node keeps from cargo: once cargo's index file is read
    // again, 1.1.0 only (1.0.0 has its exception).
    let index = server.get("/r/main/index/le/ak/leaky").text().unwrap();
    assert!(
        index.contains("\"1.0.0\"") && !index.contains("\"1.1.0\""),
        "{index}"
    );
    let page = alice.get("/admin/policies", 200);
    page.assert_has(&["<code>leaky@1.1.0</code></td><td>advisory</td>"]);
    page.assert_lacks(&["<code>leaky@1.0.0</code></td><td>advisory</td>"]);
}

#[test]
fn owners_manage_trusted_publishing_on_the_crate_page() {
    let issuer = berth_testkit::TestIssuer::start(&[]);
    let mut server = Server::start_with_config(&format!(
        "[[trusted_publishing.issuers]]\nname = \"ci\"\nissuer = \"{}\"\naudience = \"berth\"\n",
        issuer.url()
    ));
    users_with_passwords(&server, &[("olga", false), ("bob", false)]);
    let olga = server.token("olga", &[]);
    publish(&server, &olga, "main", "tool", "# tool\n", json!({}));
    let cookies = {
        // Someone else sees no trusted-publishing section, and cannot post
        // to it.
        let mut bob = Browser::signed_in(&server, "bob");
        let page = bob.get("/r/main/crates/tool", 200);
        assert!(!page.text.contains("Trusted publishing"));
        let token = csrf(&page.text);
        let refused = bob.post(
            "/r/main/crates/tool/trust",
            &[
                ("csrf", &token),
                ("op", "add"),
                ("issuer", "ci"),
                ("repository", "acme/tool"),
                ("workflow", "release.yml"),
            ],
            403,
        );
        assert!(
            refused.text.contains("only the owners of crate"),
            "{}",
            refused.text
        );

        // The owner adds a configuration, which acts for her.
        let mut olga = Browser::signed_in(&server, "olga");
        let page = olga.get("/r/main/crates/tool", 200);
        assert!(page.text.contains("No CI identity may publish it."));
        let token = csrf(&page.text);
        let done = olga.post(
            "/r/main/crates/tool/trust",
            &[
                ("csrf", &token),
                ("op", "add"),
                ("issuer", "ci"),
                ("repository", "Acme/Tool"),
                ("workflow", "release.yml"),
                ("environment", "prod"),
            ],
            303,
        );
        assert_eq!(done.header("location"), Some("/r/main/crates/tool#trust"));
        let page = olga.get("/r/main/crates/tool", 200);
        assert!(
            page.text
                .contains("acme/tool, workflow release.yml, environment prod"),
            "{}",
            page.text
        );
        assert!(page.text.contains("acts for olga"));
        // A fresh sign-in may make the crate CI-only.
        olga.post(
            "/r/main/crates/tool/trust",
            &[("csrf", &token), ("op", "only")],
            303,
        );
        let page = olga.get("/r/main/crates/tool", 200);
        assert!(page.text.contains("Only CI publishes this crate"));
        olga.cookies.clone()
    };
    let listed = server.json_lines(&["trust", "list", "tool", "--registry", "main", "--json"]);
    assert_eq!(listed.len(), 1);
    let audit = server.audit_json(&["--action", "trust.add"]);
    assert_eq!(audit[0]["actor"], "olga");

    // An hour later, the same session may not change the flag back.
    server.restart_with_env("BERTH_TEST_CLOCK_OFFSET_SECS", "3600");
    let mut olga = Browser::new(&server);
    olga.cookies = cookies;
    let page = olga.get("/r/main/crates/tool", 200);
    let csrf_token = csrf(&page.text);
    let stale = olga.post(
        "/r/main/crates/tool/trust",
        &[("csrf", &csrf_token), ("op", "any")],
        403,
    );
    assert!(
        stale.text.contains("needs a fresh sign-in"),
        "{}",
        stale.text
    );
    // Signed in again, it may; and removes the configuration.
    let mut olga = Browser::signed_in(&server, "olga");
    let page = olga.get("/r/main/crates/tool", 200);
    let csrf_token = csrf(&page.text);
    olga.post(
        "/r/main/crates/tool/trust",
        &[("csrf", &csrf_token), ("op", "any")],
        303,
    );
    let id = listed[0]["id"].as_i64().unwrap().to_string();
    olga.post(
        "/r/main/crates/tool/trust",
        &[("csrf", &csrf_token), ("op", "remove"), ("id", &id)],
        303,
    );
    let page = olga.get("/r/main/crates/tool", 200);
    assert!(!page.text.contains("Only CI publishes this crate"));
    assert!(page.text.contains("No CI identity may publish it."));
    let flags: Vec<_> = server
        .audit_json(&["--action", "trust.only"])
        .iter()
        .map(|e| e["detail"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(flags, ["trusted_only=true", "trusted_only=false"]);
}

#[test]
fn owners_rebuild_a_versions_docs_from_the_crate_page() {
    let server = Server::start();
    users_with_passwords(&server, &[("olga", false), ("bob", false)]);
    let olga = server.token("olga", &[]);
    publish(
        &server,
        &olga,
        "main",
        "documented",
        "# documented\n",
        json!({}),
    );
    let build = |server: &Server| -> serde_json::Value {
        server
            .get("/api/v1/registries/main/crates/documented/1.0.0/docs-build")
            .json()
            .unwrap()
    };
    assert_eq!(build(&server)["state"], "queued");
    assert!(server.audit_json(&["--action", "docs.rebuild"]).is_empty());

    // Someone else sees no button, and may not post its form.
    let mut bob = Browser::signed_in(&server, "bob");
    let page = bob.get("/r/main/crates/documented", 200);
    assert!(!page.text.contains("Rebuild the docs"));
    let token = csrf(&page.text);
    bob.post(
        "/r/main/crates/documented/docs-rebuild",
        &[("csrf", &token), ("version", "1.0.0")],
        403,
    );
    // The refusal is audited, as any refused change is.
    let audit = server.audit_json(&["--action", "docs.rebuild"]);
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(
        (&audit[0]["actor"], &audit[0]["outcome"]),
        (&json!("bob"), &json!("denied"))
    );

    // The owner does, for the version shown; her build is queued again.
    let mut owner = Browser::signed_in(&server, "olga");
    let page = owner.get("/r/main/crates/documented", 200);
    assert!(
        page.text.contains("Rebuild the docs of 1.0.0"),
        "{}",
        page.text
    );
    let token = csrf(&page.text);
    // Without the form's token: refused.
    owner.post(
        "/r/main/crates/documented/docs-rebuild",
        &[("csrf", "forged"), ("version", "1.0.0")],
        403,
    );
    let done = owner.post(
        "/r/main/crates/documented/docs-rebuild",
        &[("csrf", &token), ("version", "1.0.0")],
        303,
    );
    assert_eq!(
        done.header("location"),
        Some("/r/main/crates/documented/1.0.0#docs-build")
    );
    assert_eq!(build(&server)["state"], "queued");
    let audit: Vec<_> = server
        .audit_json(&["--action", "docs.rebuild"])
        .into_iter()
        .filter(|e| e["outcome"] == "ok")
        .collect();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["actor"], "olga");
    assert_eq!(audit[0]["version"], "1.0.0");
    // A version that does not exist: a clear 404.
    let missing = owner.post(
        "/r/main/crates/documented/docs-rebuild",
        &[("csrf", &token), ("version", "9.9.9")],
        404,
    );
    assert!(missing.text.contains("has no version"), "{}", missing.text);
}
