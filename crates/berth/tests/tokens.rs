//! Fine-grained tokens (issue 12): crate patterns (with the real cargo),
//! a registry restriction, expiry, names, `berth token list --json`, a
//! user's own tokens through `/api/v1/me/tokens` (never wider than the
//! token that makes them), per-token CIDR ranges, and the audit rows of all
//! of it.

use berth_testkit::{send, Cargo, Reply, Server};
use reqwest::Method;
use serde_json::{json, Value};

/// `berth token list --user LOGIN --json`.
fn token_list(server: &Server, login: &str) -> Vec<Value> {
    server.json_lines(&["token", "list", "--user", login, "--json"])
}

/// A request with a token.
fn call(server: &Server, method: Method, path: &str, token: &str, body: Option<Value>) -> Reply {
    let mut req = server.request(method, path).header("Authorization", token);
    if let Some(b) = body {
        req = req
            .header("Content-Type", "application/json")
            .body(b.to_string());
    }
    send(req).unwrap()
}

#[test]
fn crate_patterns_limit_publish_yank_and_owners() {
    let server = Server::start();
    let full = server.user_with_token("alice");
    server.add_user("bob", false);
    let acme = server.token("alice", &["--crates", "acme-*", "--crates", "tool"]);

    // A matching name publishes with cargo, folded like crate names.
    let cargo = Cargo::new(&server).with_token(&acme);
    cargo.published("ACME_core", "0.1.0");
    cargo.published("tool", "0.1.0");
    // Another name is refused, and cargo shows why.
    let other = cargo.package("other", "0.1.0", "", "");
    let err = cargo.publish_refused(&other, "main");
    assert!(
        err.contains(
            "this token may only publish, yank and change owners of crates matching `acme-*`, \
             `tool`; `other` does not match"
        ),
        "{err}"
    );
    // An update of a crate the token cannot touch: published with the full
    // token, refused with the pattern token.
    Cargo::new(&server).with_token(&full).publish(&other);
    let other2 = cargo.package("other", "0.2.0", "", "");
    let err = cargo.publish_refused(&other2, "main");
    assert!(err.contains("`other` does not match"), "{err}");

    // Yank and owner changes too.
    let err = cargo.fails(
        &other,
        &["yank", "--registry", "main", "--version", "0.1.0", "other"],
    );
    assert!(err.contains("`other` does not match"), "{err}");
    let err = cargo.fails(
        &other,
        &["owner", "--registry", "main", "--add", "bob", "other"],
    );
    assert!(err.contains("`other` does not match"), "{err}");
    cargo.ok(
        &other,
        &[
            "yank",
            "--registry",
            "main",
            "--version",
            "0.1.0",
            "acme-core",
        ],
    );
    cargo.ok(
        &other,
        &["owner", "--registry", "main", "--add", "bob", "tool"],
    );
    // Reads are not limited by patterns.
    let owners = call(
        &server,
        Method::GET,
        "/r/main/api/v1/crates/other/owners",
        &acme,
        None,
    );
    assert_eq!(owners.status, 200, "{}", owners.text);

    // The refusals are audited, with the patterns.
    let denied: Vec<(String, String)> = server
        .audit_json(&[])
        .iter()
        .filter(|r| r["outcome"] == "denied")
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_string(),
                r["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let why = "token limited to crates `acme-*`, `tool`".to_string();
    assert_eq!(
        denied,
        vec![
            ("publish".to_string(), why.clone()),
            ("publish".to_string(), why.clone()),
            ("yank".to_string(), why.clone()),
            ("owner.add".to_string(), why),
        ]
    );

    // Bad patterns are refused at creation.
    let err = server
        .try_berth(&["token", "create", "--user", "alice", "--crates", "a*b*"])
        .unwrap_err();
    assert!(err.contains("invalid crate pattern `a*b*`"), "{err}");
}

/// A library package that may be published to every registry of
/// [`TWO_REGISTRIES`].
fn package_for_all(cargo: &Cargo, name: &str, version: &str) -> std::path::PathBuf {
    let dir = cargo.manifest(
        &format!("{name}-{version}"),
        &format!(
            "[package]\nname = \"{name}\"\nversion = \"{version}\"\nedition = \"2021\"\n\
             description = \"The {name} crate\"\nlicense = \"MIT\"\n\
             publish = [\"main\", \"other\", \"company\"]\n"
        ),
    );
    std::fs::write(dir.join("src/lib.rs"), "pub fn f() {}\n").unwrap();
    dir
}

const TWO_REGISTRIES: &str = "[[registries]]\nname = \"main\"\n\n\
     [[registries]]\nname = \"other\"\n\n\
     [[registries]]\nname = \"company\"\nkind = \"virtual\"\nmembers = [\"main\"]\n";

#[test]
fn a_registry_restricted_token_works_on_its_registry_only() {
    let server = Server::start_with_config(TWO_REGISTRIES);
    server.add_user("alice", false);
    let main_only = server.token("alice", &["--registry", "main", "--name", "main-ci"]);

    let cargo = Cargo::with_registries(
        &[
            ("main", server.index_url("main")),
            ("other", server.index_url("other")),
            ("company", server.index_url("company")),
        ],
        "",
    );
    let mut cargo = cargo;
    cargo.set_registry_token("main", Some(&main_only));
    cargo.set_registry_token("other", Some(&main_only));
    let dir = package_for_all(&cargo, "hello", "0.1.0");
    cargo.publish_to(&dir, "main");
    let err = cargo.publish_refused(&dir, "other");
    assert!(
        err.contains(
            "the token `main-ci` is restricted to registry `main`; use a token for registry `other`"
        ),
        "{err}"
    );

    // Every URL of another registry: index, search, owners, management API.
    for path in [
        "/r/other/index/config.json",
        "/r/other/index/he/ll/hello",
        "/r/other/api/v1/crates?q=hello",
        "/r/other/api/v1/crates/hello/owners",
        "/r/other/api/v1/crates/hello/0.1.0/download",
        "/api/v1/registries/other/crates/hello",
    ] {
        let r = call(&server, Method::GET, path, &main_only, None);
        assert_eq!(r.status, 403, "{path}: {}", r.text);
    }
    for path in [
        "/r/main/index/he/ll/hello",
        "/r/main/api/v1/crates/hello/owners",
        "/api/v1/registries/main/crates/hello",
    ] {
        let r = call(&server, Method::GET, path, &main_only, None);
        assert_eq!(r.status, 200, "{path}: {}", r.text);
    }
    let r = call(
        &server,
        Method::DELETE,
        "/r/other/api/v1/crates/hello/0.1.0/yank",
        &main_only,
        None,
    );
    insta::assert_snapshot!(r.text, @r#"{"errors":[{"detail":"the token `main-ci` is restricted to registry `main`; use a token for registry `other` (request id: [REQUEST_ID])"}]}"#);

    // A token for the virtual registry acts on its hosted member through it.
    let company = server.token("alice", &["--registry", "company"]);
    cargo.set_registry_token("company", Some(&company));
    let dir2 = package_for_all(&cargo, "hello", "0.2.0");
    cargo.publish_to(&dir2, "company");
    cargo.ok(
        &dir2,
        &[
            "yank",
            "--registry",
            "company",
            "--version",
            "0.2.0",
            "hello",
        ],
    );
    let r = call(
        &server,
        Method::GET,
        "/r/main/index/he/ll/hello",
        &company,
        None,
    );
    assert_eq!(r.status, 403, "{}", r.text);

    // The refusals are audited; a registry that does not exist is refused
    // at creation.
    let restricted = server.audit_json(&["--action", "token.restricted"]);
    assert!(restricted.len() >= 8, "{restricted:?}");
    assert!(restricted
        .iter()
        .all(|r| r["outcome"] == "denied" && r["actor"] == "alice"));
    let err = server
        .try_berth(&["token", "create", "--user", "alice", "--registry", "nope"])
        .unwrap_err();
    assert!(err.contains("no registry named `nope`"), "{err}");
}

#[test]
fn expiry_names_listing_and_revoking() {
    let server = Server::start();
    server.add_user("alice", false);
    let short = server.token("alice", &["--name", "short", "--expires-in", "5s"]);
    let r = call(&server, Method::GET, "/api/v1/me/tokens", &short, None);
    assert_eq!(r.status, 200, "{}", r.text);
    std::thread::sleep(std::time::Duration::from_millis(6100));
    let r = call(&server, Method::GET, "/api/v1/me/tokens", &short, None);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.detail().unwrap(),
        "the token `short` has expired; create a new one with `berth token create` (request id: [REQUEST_ID])"
    );

    // Names are unique among active tokens.
    let ci = server.token(
        "alice",
        &[
            "--name",
            "ci",
            "--scope",
            "publish-update",
            "--crates",
            "acme-*",
            "--registry",
            "main",
            "--allow-cidr",
            "10.0.0.0/8",
            "--allow-cidr",
            "127.0.0.1",
            "--expires-at",
            "2999-01-31",
        ],
    );
    let err = server
        .try_berth(&["token", "create", "--user", "alice", "--name", "ci"])
        .unwrap_err();
    assert!(
        err.contains(
            "an active token named `ci` exists already; choose another name, or revoke it first \
             (`berth token revoke --name ci`)"
        ),
        "{err}"
    );
    // The older flag still works; expiry forms are checked.
    server.token("alice", &["--name", "old", "--expires-in-days", "3"]);
    let err = server
        .try_berth(&["token", "create", "--user", "alice", "--expires-in", "soon"])
        .unwrap_err();
    assert!(err.contains("invalid expiry duration `soon`"), "{err}");

    let list = token_list(&server, "alice");
    let ci_row = list.iter().find(|t| t["name"] == "ci").unwrap().clone();
    let mut shown = ci_row.clone();
    for key in ["id", "created_at", "last_used_at"] {
        shown[key] = json!(key.to_uppercase());
    }
    assert_eq!(
        shown,
        json!({
            "id": "ID",
            "name": "ci",
            "scopes": ["read", "publish-update"],
            "crates": ["acme-*"],
            "registry": "main",
            "allowed_cidrs": ["10.0.0.0/8", "127.0.0.1/32"],
            "created_at": "CREATED_AT",
            "expires_at": 32_474_736_000i64,
            "last_used_at": "LAST_USED_AT",
            "revoked": false,
        })
    );
    let old = list.iter().find(|t| t["name"] == "old").unwrap();
    let days = old["expires_at"].as_i64().unwrap() - old["created_at"].as_i64().unwrap();
    assert!((3 * 86_400 - 2..=3 * 86_400 + 2).contains(&days), "{old}");
    // The human table has a header and one row per token.
    let table = server
        .try_berth(&["token", "list", "--user", "alice"])
        .unwrap();
    assert!(table.starts_with("ID  NAME"), "{table}");
    assert_eq!(table.lines().count(), 4, "{table}");

    // Revoke by name: the token stops working, the name is free again.
    let r = call(&server, Method::GET, "/api/v1/me/tokens", &ci, None);
    assert_eq!(r.status, 200, "{}", r.text);
    let out = server
        .try_berth(&["token", "revoke", "--user", "alice", "--name", "ci"])
        .unwrap();
    assert_eq!(
        out.trim(),
        format!("revoked token {} of user `alice`", ci_row["id"])
    );
    let r = call(&server, Method::GET, "/api/v1/me/tokens", &ci, None);
    assert_eq!(r.status, 401);
    let err = server
        .try_berth(&["token", "revoke", "--user", "alice", "--name", "ci"])
        .unwrap_err();
    assert!(
        err.contains("user `alice` has no active token named `ci`"),
        "{err}"
    );
    server.token("alice", &["--name", "ci"]);
    assert_eq!(
        token_list(&server, "alice")
            .iter()
            .filter(|t| t["name"] == "ci")
            .count(),
        2
    );

    // Creation and revocation are audited.
    let created = server.audit_json(&["--action", "token.create"]);
    assert_eq!(created.len(), 4, "{created:?}");
    let revoked = server.audit_json(&["--action", "token.revoke"]);
    assert_eq!(revoked.len(), 1, "{revoked:?}");
}

#[test]
fn own_tokens_through_the_management_api() {
    let server = Server::start_with_config(TWO_REGISTRIES);
    server.add_user("alice", false);
    let bob = server.user_with_token("bob");
    let full = server.token("alice", &["--name", "laptop"]);

    // Without a token: 401.
    let r = send(server.request(Method::GET, "/api/v1/me/tokens")).unwrap();
    assert_eq!(r.status, 401);

    // Create: 201 with the secret, once; it works.
    let r = call(
        &server,
        Method::POST,
        "/api/v1/me/tokens",
        &full,
        Some(
            json!({"name": "ci", "scopes": ["publish-new"], "crates": ["acme-*"],
                    "registry": "main", "expires_in": "1h"}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let created = r.json();
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("berth_") && secret.len() == 46);
    assert_eq!(created["token"]["scopes"], json!(["read", "publish-new"]));
    assert_eq!(created["token"]["crates"], json!(["acme-*"]));
    let ci_id = created["token"]["id"].as_i64().unwrap();
    let r = call(&server, Method::GET, "/api/v1/me/tokens", &secret, None);
    assert_eq!(r.status, 200, "{}", r.text);
    // The listing never shows a secret or a hash.
    assert!(
        !r.text.contains(&secret) && !r.text.contains("berth_"),
        "{}",
        r.text
    );
    let names: Vec<String> = r.json()["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["laptop", "ci"]);

    // Escalation from the limited token: 403, saying why.
    let refused = |body: Value| {
        let r = call(
            &server,
            Method::POST,
            "/api/v1/me/tokens",
            &secret,
            Some(body),
        );
        assert_eq!(r.status, 403, "{}", r.text);
        r.detail().unwrap()
    };
    insta::assert_snapshot!(refused(json!({"scopes": ["yank"]})), @"a token cannot create a token with more rights than its own: the new token would have scopes (read,yank) that this token (read,publish-new) lacks (request id: [REQUEST_ID])");
    insta::assert_snapshot!(refused(json!({"crates": ["acme*"]})), @"a token cannot create a token with more rights than its own: the crate pattern `acme*` is wider than this token's patterns `acme-*` (request id: [REQUEST_ID])");
    insta::assert_snapshot!(refused(json!({"registry": "other"})), @"a token cannot create a token with more rights than its own: this token is restricted to registry `main`; a token it creates must be too (request id: [REQUEST_ID])");
    let later = refused(json!({"expires_in": "2h"}));
    assert!(
        later.starts_with(
            "a token cannot create a token with more rights than its own: this token expires at "
        ),
        "{later}"
    );
    // Narrower is fine, and what is left out is inherited.
    let r = call(
        &server,
        Method::POST,
        "/api/v1/me/tokens",
        &secret,
        Some(json!({"name": "narrow", "crates": ["acme-core"], "expires_in": "10m"})),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let narrow = r.json()["token"].clone();
    assert_eq!(narrow["registry"], "main");
    assert_eq!(narrow["scopes"], json!(["read", "publish-new"]));
    // A duplicate name: 409.
    let r = call(
        &server,
        Method::POST,
        "/api/v1/me/tokens",
        &full,
        Some(json!({"name": "ci"})),
    );
    assert_eq!(r.status, 409, "{}", r.text);

    // Delete: another user's id is 404; one's own works at once.
    let bob_id = token_list(&server, "bob")[0]["id"].as_i64().unwrap();
    let r = call(
        &server,
        Method::DELETE,
        &format!("/api/v1/me/tokens/{bob_id}"),
        &full,
        None,
    );
    assert_eq!(r.status, 404, "{}", r.text);
    let r = call(&server, Method::GET, "/api/v1/me/tokens", &bob, None);
    assert_eq!(r.status, 200, "bob's token still works");
    let r = call(
        &server,
        Method::DELETE,
        &format!("/api/v1/me/tokens/{ci_id}"),
        &full,
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = call(&server, Method::GET, "/api/v1/me/tokens", &secret, None);
    assert_eq!(r.status, 401);

    // Audited with the actor and the token it used.
    let full_id = token_list(&server, "alice")
        .iter()
        .find(|t| t["name"] == "laptop")
        .unwrap()["id"]
        .clone();
    let rows: Vec<(String, String, Value)> = server
        .audit_json(&["--actor", "alice"])
        .iter()
        .filter(|r| r["action"].as_str().unwrap().starts_with("token."))
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_string(),
                r["outcome"].as_str().unwrap().to_string(),
                r["token_id"].clone(),
            )
        })
        .collect();
    let created_with =
        |by: &Value, outcome: &str| ("token.create".to_string(), outcome.to_string(), by.clone());
    let ci = json!(ci_id);
    assert_eq!(
        rows,
        vec![
            created_with(&full_id, "ok"),
            created_with(&ci, "denied"),
            created_with(&ci, "denied"),
            created_with(&ci, "denied"),
            created_with(&ci, "denied"),
            created_with(&ci, "ok"),
            // `ci`, and `narrow`, which `ci` made.
            (
                "token.revoke".to_string(),
                "ok".to_string(),
                full_id.clone()
            ),
            (
                "token.revoke".to_string(),
                "ok".to_string(),
                full_id.clone()
            ),
        ]
    );
}

#[test]
fn a_token_limited_to_addresses_is_refused_from_others() {
    let server = Server::start();
    server.add_user("alice", false);
    let token = server.token(
        "alice",
        &["--name", "office", "--allow-cidr", "127.0.0.2/32"],
    );
    let from = |ip: &str| {
        reqwest::blocking::Client::builder()
            .local_address(ip.parse::<std::net::IpAddr>().unwrap())
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap()
    };
    let get = |client: reqwest::blocking::Client| {
        send(
            client
                .get(format!("{}/api/v1/me/tokens", server.url))
                .header("Authorization", &token),
        )
        .unwrap()
    };
    let r = get(from("127.0.0.2"));
    assert_eq!(r.status, 200, "{}", r.text);
    let r = get(from("127.0.0.1"));
    assert_eq!(r.status, 403);
    insta::assert_snapshot!(r.detail().unwrap(), @"the token `office` is limited to certain addresses, and this request comes from 127.0.0.1; use it from an allowed address or create a token with `berth token create --allow-cidr` (request id: [REQUEST_ID])");
    // Through cargo, too.
    let cargo = Cargo::new(&server).with_token(&token);
    let dir = cargo.package("far", "0.1.0", "", "");
    let err = cargo.publish_refused(&dir, "main");
    assert!(err.contains("is limited to certain addresses"), "{err}");

    let rows = server.audit_json(&["--action", "token.restricted"]);
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r["client_addr"] == "127.0.0.1"
        && r["outcome"] == "denied"
        && r["detail"] == "token `office` used from 127.0.0.1"));

    let err = server
        .try_berth(&[
            "token",
            "create",
            "--user",
            "alice",
            "--allow-cidr",
            "10.0.0.0/33",
        ])
        .unwrap_err();
    assert!(err.contains("invalid CIDR range `10.0.0.0/33`"), "{err}");
}

#[test]
fn revoking_needs_the_revoked_tokens_rights_and_takes_the_tokens_it_made() {
    let server = Server::start();
    server.add_user("alice", false);
    let laptop = server.token("alice", &["--name", "laptop"]);
    let spare = server.token("alice", &["--name", "spare"]);
    let id_of = |name: &str| {
        token_list(&server, "alice")
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let make = |by: &str, body: Value| {
        let r = call(&server, Method::POST, "/api/v1/me/tokens", by, Some(body));
        assert_eq!(r.status, 201, "{}", r.text);
        let j = r.json();
        (
            j["token"]["id"].as_i64().unwrap(),
            j["secret"].as_str().unwrap().to_string(),
        )
    };
    let works = |t: &str| call(&server, Method::GET, "/api/v1/me/tokens", t, None).status;
    let revoke = |by: &str, id: i64| {
        call(
            &server,
            Method::DELETE,
            &format!("/api/v1/me/tokens/{id}"),
            by,
            None,
        )
    };
    // A read-only token made by the laptop's, and one made by that.
    let (narrow_id, narrow) = make(&laptop, json!({"name": "narrow", "scopes": ["read"]}));
    let (grand_id, grand) = make(&narrow, json!({"name": "grand", "expires_in": "1h"}));

    // The read-only token cannot revoke a token that may publish.
    let spare_id = id_of("spare");
    let r = revoke(&narrow, spare_id);
    assert_eq!(r.status, 403, "{}", r.text);
    let detail = r.detail().unwrap();
    assert!(
        detail.starts_with(&format!(
            "a token can only revoke tokens with no more rights than its own: token {spare_id} \
             has scopes (read,"
        )) && detail.contains("that this token (read) lacks; revoke it with a token that has"),
        "{detail}"
    );
    assert_eq!(works(&spare), 200);
    // Nor can a token that expires revoke one that does not.
    let r = revoke(&grand, narrow_id);
    assert_eq!(r.status, 403, "{}", r.text);
    let detail = r.detail().unwrap();
    assert!(
        detail.contains("this token expires at ")
            && detail.contains(&format!("; token {narrow_id} expires later or never")),
        "{detail}"
    );
    assert_eq!(works(&narrow), 200);

    // Revoking the read-only token revokes the token it made too.
    let r = revoke(&laptop, narrow_id);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((works(&narrow), works(&grand)), (401, 401));
    assert_eq!((works(&laptop), works(&spare)), (200, 200));
    let revoked: Vec<(i64, bool)> = token_list(&server, "alice")
        .iter()
        .map(|t| (t["id"].as_i64().unwrap(), t["revoked"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        revoked,
        [
            (id_of("laptop"), false),
            (spare_id, false),
            (narrow_id, true),
            (grand_id, true)
        ]
    );
    // Each refusal and each revoked token has its row.
    let rows: Vec<(String, String)> = server
        .audit_json(&["--action", "token.revoke"])
        .iter()
        .map(|r| {
            (
                r["outcome"].as_str().unwrap().to_string(),
                r["detail"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert_eq!(
        rows.iter().map(|(o, _)| o.as_str()).collect::<Vec<_>>(),
        ["denied", "denied", "ok", "ok"]
    );
    assert!(
        rows[3].1.contains(&format!(
            "token_id={grand_id}: made by token {narrow_id}, revoked with token {narrow_id}"
        )),
        "{rows:?}"
    );
}

#[test]
fn token_creation_is_limited_per_user_and_hour() {
    let server = Server::start_with_config("[limits]\ntoken_creations_per_hour = 3\n");
    server.add_user("alice", false);
    server.set_password("alice", "alice-password");
    let laptop = server.token("alice", &["--name", "laptop"]);
    let make = |i: usize| {
        call(
            &server,
            Method::POST,
            "/api/v1/me/tokens",
            &laptop,
            Some(json!({"name": format!("ci-{i}")})),
        )
    };
    for i in 0..3 {
        let r = make(i);
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let r = make(3);
    assert_eq!(r.status, 429, "{}", r.text);
    insta::assert_snapshot!(r.detail().unwrap(), @"user `alice` has created 3 tokens within an hour (limits.token_creations_per_hour); try again in 60 minute(s) (request id: [REQUEST_ID])");
    // The account page counts against the same limit.
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = client
        .post(format!("{}/login", server.url))
        .header("Cookie", "berth_login_csrf=t")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("csrf=t&login=alice&password=alice-password")
        .send()
        .unwrap();
    assert_eq!(login.status(), 303);
    let session = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("berth_session="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let page = client
        .get(format!("{}/account", server.url))
        .header("Cookie", &session)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = page[at..].split('"').next().unwrap();
    let r = client
        .post(format!("{}/account/tokens", server.url))
        .header("Cookie", &session)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&name=page"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(
        r.text()
            .unwrap()
            .contains("(limits.token_creations_per_hour)"),
        "the page says why"
    );
    // The operator is not limited.
    server.token("alice", &["--name", "operator-made"]);
}

/// Operators make and unmake administrators, disable, enable and remove
/// users from the command line (issue 26): a disabled user's tokens are
/// refused until it is enabled; a crate's last user owner cannot be
/// removed (the message names the crate and what to do); a removed user's
/// tokens are gone while its crates stay with their other owners. Each
/// change is audited with the operator as actor.
#[test]
fn operators_disable_enable_promote_and_remove_users() {
    let (server, [alice, bob]) = Server::with_users(["alice", "bob"]);
    let publish = |token: &str, name: &str| {
        let body = berth_testkit::PublishBuilder::new(name, "1.0.0")
            .tarball(berth_testkit::crate_file(name, "1.0.0", "pub fn f() {}\n"))
            .body();
        server.publish(Some(token), body).status
    };
    assert_eq!(publish(&bob, "bobs"), 200);
    let config = |token: &str| {
        send(
            server
                .request(Method::GET, "/r/main/api/v1/crates?q=bobs")
                .header("Authorization", token),
        )
        .unwrap()
    };
    let berth_ok = |args: &[&str]| server.try_berth(args).unwrap_or_else(|e| panic!("{e}"));

    let out = berth_ok(&["user", "disable", "bob"]);
    assert_eq!(
        out,
        "user `bob` is disabled: sessions ended, tokens refused\n"
    );
    let r = config(&bob);
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(
        r.text.contains("the token's user `bob` is disabled"),
        "{}",
        r.text
    );
    assert_eq!(publish(&bob, "bobs2"), 401);
    let list = berth_ok(&["user", "list"]);
    assert!(list.contains("\tbob\tdisabled\n"), "{list}");
    berth_ok(&["user", "enable", "bob"]);
    assert_eq!(config(&bob).status, 200);
    assert!(!berth_ok(&["user", "list"]).contains("disabled"));

    berth_ok(&["user", "admin", "bob"]);
    assert!(berth_ok(&["user", "list"]).contains("\tbob\tadmin\n"));
    berth_ok(&["user", "unadmin", "bob"]);
    assert!(!berth_ok(&["user", "list"]).contains("admin"));

    // The last user owner of a crate stays until another owner is added.
    let err = server.try_berth(&["user", "remove", "bob"]).unwrap_err();
    assert!(
        err.contains("user `bob` is the last user owner of main/bobs; a crate never loses its last user owner"),
        "{err}"
    );
    let r = send(
        server
            .request(Method::PUT, "/r/main/api/v1/crates/bobs/owners")
            .header("Authorization", &bob)
            .body(r#"{"users":["alice"]}"#),
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(berth_ok(&["user", "remove", "bob"]), "user `bob` removed\n");
    assert!(!berth_ok(&["user", "list"]).contains("bob"));
    assert_eq!(config(&bob).status, 401);
    let owners = config(&alice);
    assert_eq!(owners.status, 200);
    let r = server
        .get("/r/main/api/v1/crates/bobs/owners")
        .text()
        .unwrap();
    assert!(r.contains("\"alice\"") && !r.contains("\"bob\""), "{r}");
    let err = server.try_berth(&["user", "remove", "nobody"]).unwrap_err();
    assert!(err.contains("user with login `nobody`"), "{err}");

    let rows: Vec<(String, String)> = server
        .audit_json(&[])
        .iter()
        .filter(|r| {
            r["action"]
                .as_str()
                .is_some_and(|a| a.starts_with("user.") && a != "user.create")
        })
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_string(),
                r["detail"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("user.disable", "login=bob"),
        ("user.enable", "login=bob"),
        ("user.admin", "login=bob admin=true"),
        ("user.admin", "login=bob admin=false"),
        ("user.remove", "login=bob"),
    ]
    .iter()
    .map(|(a, d)| (a.to_string(), d.to_string()))
    .collect();
    assert_eq!(rows, expected);
    for r in server.audit_json(&["--action", "user.remove"]) {
        assert!(r["actor"].as_str().unwrap().starts_with("cli:"), "{r}");
    }
}
