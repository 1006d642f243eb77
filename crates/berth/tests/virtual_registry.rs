//! Virtual registries: one endpoint for private and public crates, safe from
//! dependency confusion. The public upstream is another Berth on loopback.

use std::path::{Path, PathBuf};

use berth_testkit::{Cargo, Server};

/// Writes a library package (or a binary when `main` is given).
fn package(cargo: &Cargo, name: &str, vers: &str, deps: &str, code: &str, main: bool) -> PathBuf {
    let dir = cargo.manifest(
        &format!("{name}-{vers}"),
        &format!(
            "[package]\nname = \"{name}\"\nversion = \"{vers}\"\nedition = \"2021\"\n\
             description = \"{name}\"\nlicense = \"MIT\"\n\n[dependencies]\n{deps}\n"
        ),
    );
    let file = if main { "src/main.rs" } else { "src/lib.rs" };
    std::fs::write(dir.join(file), code).unwrap();
    dir
}

/// Writes a binary `name` 0.1.0 that prints `acme_app::app()`, with these
/// dependencies, and runs it: the private core and the public leaf it
/// prints must both be there. Returns its directory.
fn run_acme_app(cargo: &Cargo, name: &str, deps: &str) -> PathBuf {
    let code = "fn main() { println!(\"{}\", acme_app::app()); }\n";
    let bin = package(cargo, name, "0.1.0", deps, code, true);
    let out = cargo.ok(&bin, &["run", "--quiet"]);
    assert!(out.contains("private core + public leaf"), "{out}");
    bin
}

/// An index file of one line, as JSON.
fn single_line(server: &Server, path: &str) -> serde_json::Value {
    serde_json::from_str(server.get(path).text().unwrap().trim()).unwrap()
}

/// Writes a library package without dependencies.
fn library(cargo: &Cargo, name: &str, vers: &str, code: &str) -> PathBuf {
    package(cargo, name, vers, "", code, false)
}

fn lock_version(dir: &Path, name: &str) -> (String, String) {
    let lock: toml::Value =
        toml::from_str(&std::fs::read_to_string(dir.join("Cargo.lock")).unwrap()).unwrap();
    let p = lock["package"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("{name} not in the lockfile"));
    (
        p["version"].as_str().unwrap().to_string(),
        p.get("source")
            .and_then(|s| s.as_str())
            .unwrap_or("")
            .to_string(),
    )
}

fn company_config(upstream: &str, alias: Option<&str>) -> String {
    let alias = alias
        .map(|a| format!("upstream_aliases = [\"{a}\"]\n"))
        .unwrap_or_default();
    format!(
        "[[registries]]\nname = \"main\"\n\n\
         [[registries]]\nname = \"public\"\nkind = \"proxy\"\nupstream = \"{upstream}\"\nindex_ttl_secs = 1\n{alias}\n\
         [[registries]]\nname = \"company\"\nkind = \"virtual\"\nmembers = [\"main\", \"public\"]\nclaims = [\"acme-*\"]\n"
    )
}

/// A cargo home that replaces the public source with `company` and also
/// declares it as a registry to publish to.
fn company_cargo(server: &Server, token: &str) -> Cargo {
    let url = server.index_url("company");
    let mut cargo = Cargo::with_registries(
        &[("company", url.clone())],
        &format!(
            "\n[source.crates-io]\nreplace-with = \"company-src\"\n\n[source.company-src]\nregistry = \"{url}\"\n"
        ),
    );
    cargo.set_token(None);
    cargo.set_registry_token("company", Some(token));
    cargo
}

/// An upstream Berth whose `main` has `leaf` 1.0.0 (published by
/// `publicist`), and that user's cargo.
fn upstream_with_leaf() -> (Server, Cargo) {
    let upstream = Server::start();
    let up_cargo = Cargo::for_new_user(&upstream, "publicist");
    let leaf = library(
        &up_cargo,
        "leaf",
        "1.0.0",
        "pub fn leaf() -> &'static str { \"public leaf\" }\n",
    );
    up_cargo.publish(&leaf);
    (upstream, up_cargo)
}

/// Publishes the private `acme-core` and `acme-app` (which depends on it
/// and on the public `leaf`, with no registry keys) through `company`;
/// checks that the app's index line records `acme-core` as this registry's,
/// and returns the `registry` it records for `leaf`.
fn publish_core_and_app(cargo: &Cargo, company: &Server) -> serde_json::Value {
    let core = library(
        cargo,
        "acme-core",
        "1.0.0",
        "pub fn core() -> &'static str { \"private core\" }\n",
    );
    cargo.publish_to(&core, "company");
    let app_lib = package(
        cargo,
        "acme-app",
        "1.0.0",
        "acme-core = \"1\"\nleaf = \"1\"",
        "pub fn app() -> String { format!(\"{} + {}\", acme_core::core(), leaf::leaf()) }\n",
        false,
    );
    cargo.publish_to(&app_lib, "company");
    let line = single_line(company, "/r/main/index/ac/me/acme-app");
    let deps = line["deps"].as_array().unwrap();
    let dep = |n: &str| deps.iter().find(|d| d["name"] == n).unwrap().clone();
    assert!(
        dep("acme-core").get("registry").is_none(),
        "hosted name recorded as this registry: {line}"
    );
    dep("leaf")["registry"].clone()
}

/// A project that uses the hosted registry `main` directly, with the
/// public source replaced by the proxy `public` alone, builds and runs the
/// acme app: its `acme-core` is the private 1.0.0 from `main`. Returns the
/// cargo home and the project's directory.
fn direct_user_of_main(company: &Server, token: &str) -> (Cargo, PathBuf) {
    let mut direct = Cargo::with_registries(
        &[("main", company.index_url("main"))],
        &format!(
            "\n[source.crates-io]\nreplace-with = \"pub\"\n\n[source.pub]\nregistry = \"{}\"\n",
            company.index_url("public")
        ),
    );
    direct.set_token(Some(token));
    let bin = run_acme_app(
        &direct,
        "direct-app",
        "acme-app = { version = \"1\", registry = \"main\" }",
    );
    let (v, src) = lock_version(&bin, "acme-core");
    assert_eq!(v, "1.0.0");
    assert!(src.contains("/r/main/index/"), "{src}");
    (direct, bin)
}

#[test]
fn one_endpoint_for_private_and_public_crates_without_dependency_confusion() {
    let (upstream, up_cargo) = upstream_with_leaf();

    // What cargo calls the public source (it is recorded in lockfiles and
    // sent in publish metadata): learned from cargo itself, never written
    // here.
    let probe_server =
        Server::start_with_config(&company_config(&upstream.index_url("main"), None));
    let token = probe_server.user_with_token("alice");
    let probe = company_cargo(&probe_server, &token);
    let dir = probe.consumer("probe", "leaf = \"1\"");
    probe.ok(&dir, &["generate-lockfile"]);
    let (_, source) = lock_version(&dir, "leaf");
    let alias = source
        .strip_prefix("registry+")
        .unwrap_or(&source)
        .to_string();
    let stores = probe_server.stores.clone();
    drop(probe_server);
    let company = Server::start_on(
        stores,
        &company_config(&upstream.index_url("main"), Some(&alias)),
    );
    let cargo = company_cargo(&company, &token);

    // A private crate, published through the virtual registry (to `main`),
    // and one that depends on it and on a public crate, with no registry
    // keys.
    let leaf_registry = publish_core_and_app(&cargo, &company);
    assert_eq!(company.get("/r/main/index/ac/me/acme-core").status(), 200);
    assert_eq!(
        leaf_registry,
        alias.as_str(),
        "public dep keeps the public identifier"
    );

    // A project with no registry keys builds through the one endpoint.
    let bin = run_acme_app(
        &cargo,
        "user-app",
        "acme-app = \"1\"\nacme-core = \"1\"\nleaf = \"1\"",
    );

    // Upstream now gets acme-core 99.0.0 and acme-new (a claimed name).
    let evil_core = library(
        &up_cargo,
        "acme-core",
        "99.0.0",
        "pub fn core() -> &'static str { \"EVIL\" }\n",
    );
    up_cargo.publish(&evil_core);
    let evil_new = library(&up_cargo, "acme-new", "1.0.0", "pub fn x() {}\n");
    up_cargo.publish(&evil_new);
    std::thread::sleep(std::time::Duration::from_millis(1100)); // past the proxy's TTL
    cargo.ok(&bin, &["update"]);
    assert_eq!(lock_version(&bin, "acme-core").0, "1.0.0");
    let out = cargo.ok(&bin, &["run", "--quiet"]);
    assert!(
        out.contains("private core") && !out.contains("EVIL"),
        "{out}"
    );
    assert_eq!(
        company
            .get("/r/company/index/ac/me/acme-core")
            .text()
            .unwrap(),
        company.get("/r/main/index/ac/me/acme-core").text().unwrap()
    );
    assert_eq!(company.get("/r/company/index/ac/me/acme-new").status(), 404);
    assert!(company
        .get("/metrics")
        .text()
        .unwrap()
        .contains("berth_virtual_claimed_refusals_total"));

    // Using the hosted registry directly (public source replaced by the
    // proxy alone): acme-app's acme-core is still the private one.
    direct_user_of_main(&company, &token);

    // Yank, owners and search act on the owning member.
    let yank = |name: &'static str, undo: bool| {
        let mut args = vec!["yank", "--registry", "company", "--version", "1.0.0", name];
        if undo {
            args.insert(3, "--undo");
        }
        args
    };
    cargo.ok(&bin, &yank("acme-app", false));
    let line = single_line(&company, "/r/main/index/ac/me/acme-app");
    assert_eq!(line["yanked"], true);
    cargo.ok(&bin, &yank("acme-app", true));
    let owners = cargo.ok(
        &bin,
        &["owner", "--registry", "company", "--list", "acme-core"],
    );
    assert!(owners.contains("alice"), "{owners}");
    let out = cargo.fails(&bin, &yank("leaf", false));
    assert!(out.contains("is a proxy registry"), "{out}");
    let hits: serde_json::Value = company
        .get("/r/company/api/v1/crates?q=acme")
        .json()
        .unwrap();
    let names: Vec<(&str, &str)> = hits["crates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["registry"].as_str().unwrap()))
        .collect();
    assert!(
        names.contains(&("acme-core", "main")) && names.contains(&("acme-app", "main")),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|(_, r)| *r == "public"),
        "claimed names never from upstream: {names:?}"
    );

    // A new private crate whose name exists upstream is refused, with why;
    // a claimed name is the company's to publish.
    let shadow = library(&cargo, "leaf", "2.0.0", "pub fn leaf() {}\n");
    let out = cargo.publish_refused(&shadow, "company");
    assert!(
        out.contains("already exists upstream of registry `public`")
            && out.contains("allow_upstream_names"),
        "{out}"
    );
    let claimed = library(&cargo, "acme-new", "0.1.0", "pub fn ours() {}\n");
    cargo.publish_to(&claimed, "company");
    assert!(company
        .get("/r/company/index/ac/me/acme-new")
        .text()
        .unwrap()
        .contains("\"0.1.0\""));
}

/// With no `upstream_aliases` (what a new operator writes), a private crate
/// published through the virtual registry that depends on another private
/// crate, whose name the upstream also has, records that dependency as the
/// hosted registry's: a project using the hosted registry directly gets the
/// private crate, not the upstream's namesake. A first publish that depends
/// on a public crate works as before (issue 26).
#[test]
fn without_upstream_aliases_direct_users_of_the_hosted_registry_get_the_private_dependency() {
    let (upstream, up_cargo) = upstream_with_leaf();
    // The upstream has a namesake of the private core, in range of `1`.
    let evil_core = library(
        &up_cargo,
        "acme-core",
        "1.0.5",
        "pub fn core() -> &'static str { \"EVIL\" }\n",
    );
    up_cargo.publish(&evil_core);

    let company = Server::start_with_config(&company_config(&upstream.index_url("main"), None));
    let token = company.user_with_token("alice");
    let cargo = company_cargo(&company, &token);
    // A newcomer's first publish: a private crate on a public one.
    let first = package(
        &cargo,
        "acme-first",
        "1.0.0",
        "leaf = \"1\"",
        "pub fn first() -> &'static str { leaf::leaf() }\n",
        false,
    );
    cargo.publish_to(&first, "company");
    let line = single_line(&company, "/r/main/index/ac/me/acme-first");
    let leaf_dep = &line["deps"][0];
    assert_eq!(leaf_dep["name"], "leaf", "{line}");
    let public_id = leaf_dep["registry"]
        .as_str()
        .unwrap_or_else(|| panic!("a public dependency keeps cargo's identifier: {line}"))
        .to_string();

    // The private core (a claimed name) and a crate that depends on it.
    let leaf_registry = publish_core_and_app(&cargo, &company);
    assert_eq!(leaf_registry, public_id.as_str());

    // A project that uses the hosted registry directly, with the public
    // source replaced by the proxy (the upstream's acme-core 1.0.5 in reach).
    let (direct, bin) = direct_user_of_main(&company, &token);
    let out = direct.ok(&bin, &["run", "--quiet"]);
    assert!(!out.contains("EVIL"), "{out}");
}

/// `PUT /r/REG/api/v1/crates/new` of `name@1.0.0` with a description.
fn try_publish_to(
    server: &Server,
    registry: &str,
    token: &str,
    name: &str,
    description: &str,
) -> berth_testkit::Reply {
    let body = berth_testkit::PublishBuilder::new(name, "1.0.0")
        .description(description)
        .tarball(berth_testkit::crate_file(name, "1.0.0", "pub fn f() {}\n"))
        .body();
    berth_testkit::send(
        server
            .request(
                reqwest::Method::PUT,
                &format!("/r/{registry}/api/v1/crates/new"),
            )
            .header("Authorization", token)
            .body(body),
    )
    .unwrap()
}

fn publish_to(server: &Server, registry: &str, token: &str, name: &str, description: &str) {
    let r = try_publish_to(server, registry, token, name, description);
    assert_eq!(r.status, 200, "{name}: {}", r.text);
}

/// A private name that differs from an upstream one only in `-`/`_` is
/// refused: hosted registries fold the two, so it would answer for the
/// upstream crate (issue 25, finding 3).
#[test]
fn another_spelling_of_an_upstream_name_is_refused() {
    // An upstream that keeps each crate under its exact spelling, as the
    // public registry does.
    let upstream = berth_testkit::Fixture::start(&[
        (
            "json_thing",
            "1.0.0",
            berth_testkit::crate_file("json_thing", "1.0.0", ""),
        ),
        (
            "a-b-c_d",
            "1.0.0",
            berth_testkit::crate_file("a-b-c_d", "1.0.0", ""),
        ),
    ]);
    let server = Server::start_with_config(&company_config(&upstream.index_url(), None));
    let mallory = server.user_with_token("mallory");
    let before = server
        .get("/r/company/index/js/on/json_thing")
        .text()
        .unwrap();
    assert!(before.contains("\"name\":\"json_thing\""), "{before}");
    for (registry, name, found) in [
        ("company", "json-thing", "json_thing"),
        ("main", "JSON-thing", "json_thing"),
        ("company", "a_b-c-d", "a-b-c_d"),
    ] {
        let r = try_publish_to(&server, registry, &mallory, name, "a shadow");
        assert_eq!(r.status, 403, "{name} through {registry}: {}", r.text);
        assert!(
            r.text.contains(&format!(
                "crate `{name}` already exists upstream of registry `public` (as `{found}`)"
            )),
            "{}",
            r.text
        );
    }
    // Too many separators to try every spelling: refused, saying why.
    let r = try_publish_to(&server, "company", &mallory, "a-b-c-d-e-f-g-h", "x");
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("too many spellings to check"), "{}", r.text);
    // The upstream's crate is served as before.
    assert_eq!(
        server
            .get("/r/company/index/js/on/json_thing")
            .text()
            .unwrap(),
        before
    );
    assert_eq!(
        server.get("/r/company/index/js/on/json-thing").status(),
        404
    );
    // The spelling as given is found too (and named without `as`).
    let r = try_publish_to(&server, "company", &mallory, "json_thing", "x");
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(
        r.text
            .contains("crate `json_thing` already exists upstream of registry `public`;"),
        "{}",
        r.text
    );
    // Names the upstream has in no spelling publish as before.
    publish_to(&server, "company", &mallory, "json-things", "mine");
}

/// A virtual registry over a private member: it must say whether it is
/// private, and when it is public on purpose, the private member's crates
/// are served (index files, downloads, search, pages, owners) only to users
/// who may read that member, never replaced by another member's namesake
/// (issue 25, finding 2).
#[test]
fn a_public_virtual_registry_serves_a_private_member_only_to_its_readers() {
    let upstream = Server::start();
    let publicist = upstream.user_with_token("publicist");
    for name in ["leaf", "shadow"] {
        publish_to(&upstream, "main", &publicist, name, "an upstream crate");
    }
    let config = |private: &str| {
        format!(
            "[[registries]]\nname = \"vault\"\nprivate = true\n\n\
             [[registries]]\nname = \"public\"\nkind = \"proxy\"\nupstream = \"{}\"\n\n\
             [[registries]]\nname = \"company\"\nkind = \"virtual\"\nmembers = [\"vault\", \"public\"]\n\
             allow_upstream_names = [\"shadow\"]\n{private}",
            upstream.index_url("main")
        )
    };
    // Unsaid, the virtual registry would be a public face of `vault`.
    let stores = berth_testkit::Stores::new();
    let refused = Server::try_start_on(stores.clone(), &config(""))
        .err()
        .expect("a node that does not say whether `company` is private must not start");
    assert!(
        refused.contains(
            "virtual registry `company` does not say whether it is private, and its member \
             `vault` is private. Set `private = true` on `company`"
        ),
        "{refused}"
    );
    let server = Server::start_on(stores, &config("private = false\n"));
    // What it cannot protect direct users of `vault` from is said at start.
    let log = server.log();
    assert!(
        log.contains("WARN")
            && log.contains("virtual registry `company` allows private crates named like upstream ones (shadow)"),
        "{log}"
    );
    let alice = server.user_with_token("alice");
    let bob = server.user_with_token("bob");
    server.grant("vault", "alice", "publish");
    publish_to(
        &server,
        "vault",
        &alice,
        "secret-sauce",
        "the top secret recipe",
    );
    publish_to(&server, "vault", &alice, "shadow", "the private shadow");

    let get = |path: &str, token: Option<&str>| server.get_as(path, token);
    // Alice reads vault: its crates through `company`, and its `shadow`.
    let r = get("/r/vault/index/se/cr/secret-sauce", Some(&alice));
    assert_eq!(r.status, 200, "vault itself: {}", r.text);
    let r = get("/r/company/index/se/cr/secret-sauce", Some(&alice));
    assert_eq!(r.status, 200, "{}", r.text);
    let r = get("/r/company/index/sh/ad/shadow", Some(&alice));
    assert!(r.text.contains("\"cksum\""), "{}", r.text);
    let private_shadow = r.text;
    let r = get("/r/company/api/v1/crates?q=secret", Some(&alice));
    assert!(r.text.contains("secret-sauce"), "{}", r.text);
    // Anonymous users and bob (no role in vault): nothing of vault, and
    // not the upstream's `shadow` in its place; public members as before.
    for token in [None, Some(bob.as_str())] {
        for path in [
            "/r/company/index/se/cr/secret-sauce",
            "/r/company/api/v1/crates/secret-sauce/1.0.0/download",
            "/r/company/api/v1/crates/secret-sauce/owners",
            "/r/company/crates/secret-sauce",
            "/r/company/crates/secret-sauce/1.0.0",
            "/api/v1/registries/company/crates/secret-sauce",
            "/api/v1/registries/company/crates/secret-sauce/1.0.0/readme",
            "/r/company/index/sh/ad/shadow",
            "/r/company/api/v1/crates/shadow/1.0.0/download",
        ] {
            let r = get(path, token);
            assert_eq!(r.status, 404, "{path} as {token:?}: {}", r.text);
            assert!(!r.text.contains("recipe"), "{path}: {}", r.text);
        }
        for path in [
            "/r/company/api/v1/crates?q=secret",
            "/r/company/api/v1/crates?q=shadow",
            "/search.json?q=secret&r=company",
            "/search?q=secret&r=company",
            "/search.json?q=shadow&r=company",
        ] {
            let r = get(path, token);
            assert_eq!(r.status, 200, "{path}: {}", r.text);
            for hidden in [
                "secret-sauce",
                "recipe",
                "private shadow",
                "an upstream crate",
            ] {
                assert!(
                    !r.text.contains(hidden),
                    "{path} as {token:?} shows `{hidden}`: {}",
                    r.text
                );
            }
        }
        let r = get("/r/company/index/le/af/leaf", token);
        assert_eq!(r.status, 200, "{}", r.text);
        let r = get("/r/company/api/v1/crates?q=leaf", token);
        assert!(r.text.contains("\"leaf\""), "{}", r.text);
    }
    // Nothing changed for alice meanwhile.
    assert_eq!(
        get("/r/company/index/sh/ad/shadow", Some(&alice)).text,
        private_shadow
    );
}
