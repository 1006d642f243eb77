//! Promotion from a staging registry to production, end to end: refused
//! while production lacks a dependency (naming it), done with
//! `--with-deps` (dependencies first), byte-identical `.crate` files, the
//! index line's dependencies on the target's own crates, owners carried
//! over, audited; real cargo resolves and fetches from production; the API
//! lets a user with the target's promote role promote and refuses anyone
//! else; production takes promotions only, refusing cargo's publish.

use berth_testkit::{dependency, Cargo, PublishBuilder, Server};
use serde_json::{json, Value};

const CONFIG: &str = "[[registries]]\nname = \"staging\"\n\n[[registries]]\nname = \"prod\"\n\
                      accept = \"promotion-only\"\n";

fn publish_to(server: &Server, token: &str, registry: &str, b: PublishBuilder) {
    let r = server
        .request(
            reqwest::Method::PUT,
            &format!("/r/{registry}/api/v1/crates/new"),
        )
        .header("Authorization", token)
        .body(b.body())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap());
}

fn download(server: &Server, registry: &str, name: &str, vers: &str) -> Vec<u8> {
    let r = server.get(&format!(
        "/r/{registry}/api/v1/crates/{name}/{vers}/download"
    ));
    assert_eq!(r.status().as_u16(), 200, "{registry} {name}@{vers}");
    r.bytes().unwrap().to_vec()
}

#[test]
fn versions_move_from_staging_to_prod_with_their_dependencies() {
    let server = Server::start_with_config(CONFIG);
    let alice = server.user_with_token("alice");
    server.add_user("carol", false);
    publish_to(
        &server,
        &alice,
        "staging",
        PublishBuilder::new("base", "1.0.0"),
    );
    publish_to(
        &server,
        &alice,
        "staging",
        PublishBuilder::new("base", "1.1.0"),
    );
    publish_to(
        &server,
        &alice,
        "staging",
        PublishBuilder::new("app", "1.0.0").dependency(dependency("base", "^1")),
    );
    let mut staging_owner = Cargo::with_registries(&[("staging", server.index_url("staging"))], "");
    staging_owner.set_registry_token("staging", Some(&alice));
    let dir = staging_owner.consumer("owner-tool", "");
    staging_owner.ok(
        &dir,
        &["owner", "--registry", "staging", "--add", "carol", "app"],
    );

    // Production lacks `base`: refused, naming what to promote first.
    let e = server
        .try_berth(&["promote", "app@1.0.0", "--from", "staging", "--to", "prod"])
        .unwrap_err();
    assert!(
        e.contains("registry `prod` lacks dependencies of `app@1.0.0`")
            && e.contains("`base@1.1.0` (for `base ^1`)")
            && e.contains("--with-deps"),
        "{e}"
    );
    assert_eq!(
        server.get("/r/prod/index/ap/p/app").status().as_u16(),
        404,
        "nothing was copied"
    );

    // With its dependencies: `base` first.
    let out = server
        .try_berth(&[
            "promote",
            "app@1.0.0",
            "--from",
            "staging",
            "--to",
            "prod",
            "--with-deps",
        ])
        .unwrap();
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "promoted base@1.1.0 from `staging` to `prod`",
            "promoted app@1.0.0 from `staging` to `prod`"
        ]
    );
    for (name, vers) in [("app", "1.0.0"), ("base", "1.1.0")] {
        assert_eq!(
            download(&server, "prod", name, vers),
            download(&server, "staging", name, vers),
            "{name}@{vers} is byte-identical"
        );
    }
    let line: Value = serde_json::from_str(
        server
            .get("/r/prod/index/ap/p/app")
            .text()
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let staging_line: Value =
        serde_json::from_str(&server.get("/r/staging/index/ap/p/app").text().unwrap()).unwrap();
    assert_eq!(line["cksum"], staging_line["cksum"]);
    assert_eq!(line["deps"], staging_line["deps"]);
    assert!(line["deps"][0].get("registry").is_none_or(Value::is_null));
    // Promoting it again copies nothing.
    let again = server
        .try_berth(&["promote", "app@1.0.0", "--from", "staging", "--to", "prod"])
        .unwrap();
    assert!(again.contains("app@1.0.0 is in `prod` already"), "{again}");

    // cargo resolves and fetches both from production.
    let mut cargo = Cargo::with_registries(&[("prod", server.index_url("prod"))], "");
    cargo.set_registry_token("prod", Some(&alice));
    let project = cargo.consumer("uses-app", "app = { version = \"1\", registry = \"prod\" }");
    cargo.ok(&project, &["generate-lockfile"]);
    let lock = std::fs::read_to_string(project.join("Cargo.lock")).unwrap();
    assert!(
        lock.contains("name = \"app\"") && lock.contains("name = \"base\""),
        "{lock}"
    );
    assert!(lock.contains("version = \"1.1.0\""), "{lock}");
    cargo.ok(&project, &["fetch"]);

    // The owners came along; the promotion is audited.
    let owners = cargo.ok(&project, &["owner", "--registry", "prod", "--list", "app"]);
    assert!(
        owners.contains("alice") && owners.contains("carol"),
        "{owners}"
    );
    let rows: Vec<Value> = server
        .audit_json(&[])
        .into_iter()
        .filter(|r| r["action"] == "promote")
        .collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1]["registry"], "prod");
    assert_eq!(rows[1]["crate"], "app");
    assert!(rows[1]["detail"]
        .as_str()
        .unwrap()
        .contains("from registry `staging`"));

    // Through the API: only an admin of the target promotes.
    let bob = server.user_with_token("bob");
    let promote = |token: &str| {
        server
            .request(
                reqwest::Method::POST,
                "/r/staging/api/v1/crates/base/1.0.0/promote",
            )
            .header("Authorization", token)
            .json(&json!({"to": "prod"}))
            .send()
            .unwrap()
    };
    let r = promote(&bob);
    assert_eq!(r.status().as_u16(), 403);
    let body: Value = r.json().unwrap();
    assert!(
        body["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("needs its promote (or admin) role"),
        "{body}"
    );
    // The publish role is not enough; the promote role is.
    server.grant("prod", "bob", "publish");
    assert_eq!(promote(&bob).status().as_u16(), 403);
    server.grant("prod", "bob", "promote");
    let r = promote(&bob);
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().unwrap();
    assert_eq!(
        body["promoted"],
        json!([{"krate": "base", "version": "1.0.0", "copied": true}])
    );
    assert_eq!(
        download(&server, "prod", "base", "1.0.0"),
        download(&server, "staging", "base", "1.0.0")
    );
}

#[test]
fn a_promotion_only_registry_refuses_direct_publishes() {
    let server = Server::start_with_config(CONFIG);
    let alice = server.user_with_token("alice");
    server.grant("prod", "alice", "admin");
    let mut cargo = Cargo::with_registries(
        &[
            ("prod", server.index_url("prod")),
            ("staging", server.index_url("staging")),
        ],
        "",
    );
    cargo.set_registry_token("prod", Some(&alice));
    cargo.set_registry_token("staging", Some(&alice));
    let dir = cargo.manifest(
        "direct",
        "[package]\nname = \"direct\"\nversion = \"1.0.0\"\nedition = \"2021\"\n\
         description = \"d\"\nlicense = \"MIT\"\n",
    );
    std::fs::write(dir.join("src/lib.rs"), "pub fn f() {}\n").unwrap();
    let e = cargo.fails(&dir, &["publish", "--registry", "prod", "--no-verify"]);
    assert!(
        e.contains("registry `prod` takes promoted versions only") && e.contains("berth promote"),
        "{e}"
    );
    assert_eq!(
        server.get("/r/prod/index/di/re/direct").status().as_u16(),
        404
    );
    // The same crate goes to staging and is promoted.
    cargo.ok(&dir, &["publish", "--registry", "staging", "--no-verify"]);
    server
        .try_berth(&[
            "promote",
            "direct@1.0.0",
            "--from",
            "staging",
            "--to",
            "prod",
        ])
        .unwrap();
    assert_eq!(
        server.get("/r/prod/index/di/re/direct").status().as_u16(),
        200
    );
}
