//! Teams: a team that owns a crate lets its members publish new versions
//! and yank with real cargo, while only user owners change owners; a team's
//! role in a private registry opens it to the members, and a member holds
//! the highest of its own and its teams' roles. Every change is audited.

use berth_testkit::{Cargo, Server};
use serde_json::Value;

fn berth_ok(server: &Server, args: &[&str]) -> String {
    server.try_berth(args).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn members_of_an_owning_team_publish_and_yank_but_only_user_owners_change_owners() {
    let (server, [alice, bob, carol]) = Server::with_users(["alice", "bob", "carol"]);
    berth_ok(&server, &["team", "add", "core"]);
    berth_ok(&server, &["team", "member", "add", "core", "bob"]);
    let teams = berth_ok(&server, &["team", "list", "--json"]);
    let line: Value = serde_json::from_str(teams.trim()).unwrap();
    assert_eq!(
        line,
        serde_json::json!({"team": "core", "members": ["bob"]})
    );

    let mut cargo = Cargo::new(&server).with_token(&alice);
    let dir = cargo.published("shared", "1.0.0");
    let out = cargo.ok(
        &dir,
        &[
            "owner",
            "--registry",
            "main",
            "--add",
            "team:core",
            "shared",
        ],
    );
    assert!(out.contains("team `team:core` added"), "{out}");
    let list = cargo.ok(&dir, &["owner", "--registry", "main", "--list", "shared"]);
    assert!(
        list.contains("alice") && list.contains("team:core"),
        "{list}"
    );
    let owners = server.get("/r/main/api/v1/crates/shared/owners");
    let owners: Value = owners.json().unwrap();
    assert_eq!(owners["users"][1]["login"], "team:core");
    assert_eq!(owners["users"][1]["kind"], "team");
    // A team that does not exist is named in the refusal.
    let err = cargo.fails(
        &dir,
        &[
            "owner",
            "--registry",
            "main",
            "--add",
            "team:ghosts",
            "shared",
        ],
    );
    assert!(err.contains("no team `ghosts`"), "{err}");

    // Bob, a member, publishes a new version and yanks one with cargo.
    cargo.set_token(Some(&bob));
    let v11 = cargo.package("shared", "1.1.0", "", "");
    cargo.publish(&v11);
    cargo.ok(
        &dir,
        &["yank", "--registry", "main", "--version", "1.0.0", "shared"],
    );
    // ... but cannot change owners.
    let err = cargo.fails(
        &dir,
        &["owner", "--registry", "main", "--add", "carol", "shared"],
    );
    assert!(err.contains("not an owner"), "{err}");

    // Carol, outside the team, can do none of it.
    cargo.set_token(Some(&carol));
    let v12 = cargo.package("shared", "1.2.0", "", "");
    let err = cargo.publish_refused(&v12, "main");
    assert!(err.contains("not an owner"), "{err}");
    let err = cargo.fails(
        &dir,
        &["yank", "--registry", "main", "--version", "1.1.0", "shared"],
    );
    assert!(err.contains("not an owner"), "{err}");

    // Membership is what counts: Bob leaves the team and is refused.
    berth_ok(&server, &["team", "member", "remove", "core", "bob"]);
    cargo.set_token(Some(&bob));
    let err = cargo.publish_refused(&v12, "main");
    assert!(err.contains("not an owner"), "{err}");

    // The team never counts as the last owner: Alice cannot leave it alone.
    cargo.set_token(Some(&alice));
    let err = cargo.fails(
        &dir,
        &["owner", "--registry", "main", "--remove", "alice", "shared"],
    );
    assert!(err.contains("cannot remove the last user owner"), "{err}");
    cargo.ok(
        &dir,
        &[
            "owner",
            "--registry",
            "main",
            "--remove",
            "team:core",
            "shared",
        ],
    );
    let list = cargo.ok(&dir, &["owner", "--registry", "main", "--list", "shared"]);
    assert!(!list.contains("team:core"), "{list}");

    // Each change is in the audit log once.
    let audit = berth_ok(&server, &["audit", "--json"]);
    let rows: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let count = |action: &str, detail: &str| {
        rows.iter()
            .filter(|r| {
                r["action"] == action
                    && r["outcome"] == "ok"
                    && r["detail"].as_str().unwrap_or("").contains(detail)
            })
            .count()
    };
    assert_eq!(count("team.create", "team=core"), 1, "{audit}");
    assert_eq!(
        count("team.member_add", "team=core login=bob"),
        1,
        "{audit}"
    );
    assert_eq!(
        count("team.member_remove", "team=core login=bob"),
        1,
        "{audit}"
    );
    assert_eq!(count("owner.add", "team:core"), 1, "{audit}");
    assert_eq!(count("owner.remove", "team:core"), 1, "{audit}");
    // Changes from the command line name the operator.
    let created = rows.iter().find(|r| r["action"] == "team.create").unwrap();
    assert!(
        created["actor"].as_str().unwrap_or("").starts_with("cli:"),
        "{created}"
    );
    let published_by_bob = rows
        .iter()
        .filter(|r| r["action"] == "publish" && r["actor"] == "bob" && r["outcome"] == "ok")
        .count();
    assert_eq!(published_by_bob, 1, "{audit}");
}

#[test]
fn a_team_role_opens_a_private_registry_to_its_members_only() {
    let server = Server::start_with_config("[[registries]]\nname = \"main\"\nprivate = true\n");
    let dave = server.user_with_token("dave");
    let erin = server.user_with_token("erin");
    berth_ok(&server, &["team", "add", "readers"]);
    berth_ok(&server, &["team", "member", "add", "readers", "dave"]);
    let status = |token: &str| {
        server
            .request(reqwest::Method::GET, "/r/main/index/config.json")
            .header("Authorization", token)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!((status(&dave), status(&erin)), (403, 403));

    berth_ok(
        &server,
        &["role", "grant", "--team", "readers", "--role", "read"],
    );
    assert_eq!((status(&dave), status(&erin)), (200, 403));
    let roles = berth_ok(&server, &["role", "list"]);
    assert_eq!(roles, "team:readers\tread\n");

    // Read is not publish: Dave is refused until the team may publish.
    let mut cargo = Cargo::new(&server).with_token(&dave);
    let pkg = cargo.package("inside", "0.1.0", "", "");
    let err = cargo.publish_refused(&pkg, "main");
    assert!(err.contains("does not have the `publish` role"), "{err}");
    berth_ok(
        &server,
        &["role", "grant", "--team", "readers", "--role", "publish"],
    );
    cargo.publish(&pkg);

    // A member holds the highest of its own and its teams' roles.
    berth_ok(
        &server,
        &["role", "grant", "--user", "dave", "--role", "read"],
    );
    let v2 = cargo.package("inside", "0.2.0", "", "");
    cargo.publish(&v2);

    // Leaving the team (or the team losing its role) closes the registry
    // again, down to the user's own role: with `read`, Dave still publishes
    // new versions of what he owns, but no new names.
    berth_ok(&server, &["role", "revoke", "--team", "readers"]);
    assert_eq!(status(&dave), 200);
    let v3 = cargo.package("inside", "0.3.0", "", "");
    cargo.publish(&v3);
    let other = cargo.package("outside", "0.1.0", "", "");
    let err = cargo.publish_refused(&other, "main");
    assert!(err.contains("does not have the `publish` role"), "{err}");
    berth_ok(&server, &["role", "revoke", "--user", "dave"]);
    assert_eq!(status(&dave), 403);
    cargo.set_token(Some(&erin));
    let err = cargo.fails(&pkg, &["search", "--registry", "main", "inside"]);
    assert!(err.contains("does not have the `read` role"), "{err}");

    // The CLI names what is wrong.
    let err = server
        .try_berth(&["role", "grant", "--team", "nobody", "--role", "read"])
        .unwrap_err();
    assert!(err.contains("no team `nobody`"), "{err}");
    let err = server.try_berth(&["team", "add", "bad team"]).unwrap_err();
    assert!(err.contains("invalid team name"), "{err}");
    let err = server.try_berth(&["team", "add", "readers"]).unwrap_err();
    assert!(err.contains("team `readers` already exists"), "{err}");
}

/// A user who owns nothing publishing another spelling of an existing
/// crate is told whose crate it is (users and teams), so they know whom to
/// ask; an owner is told the spelling to use (issue 26).
#[test]
fn a_case_clash_by_a_non_owner_names_the_owners() {
    let (server, [alice, bob]) = Server::with_users(["alice", "bob"]);
    berth_ok(&server, &["team", "add", "core"]);
    let publish = |token: &str, name: &str, vers: &str| {
        let body = berth_testkit::PublishBuilder::new(name, vers)
            .tarball(berth_testkit::crate_file(name, vers, "pub fn f() {}\n"))
            .body();
        let r = server.publish(Some(token), body);
        (r.status, berth_testkit::redact_request_ids(&r.text))
    };
    assert_eq!(publish(&alice, "serde-thing", "1.0.0").0, 200);
    let r = server
        .request(
            reqwest::Method::PUT,
            "/r/main/api/v1/crates/serde-thing/owners",
        )
        .header("Authorization", &alice)
        .body(r#"{"users":["team:core"]}"#)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);

    let (status, body) = publish(&bob, "Serde_Thing", "1.0.1");
    assert_eq!(status, 403);
    assert_eq!(
        body,
        "{\"errors\":[{\"detail\":\"crate `Serde_Thing` is the existing crate `serde-thing` (names \
         that differ only in case or `-`/`_` are one crate), and this token's user `bob` is not \
         one of its owners (alice, team:core); ask one of them to run `cargo owner --add bob \
         serde-thing` and publish it as `serde-thing`, or choose another name (request id: \
         [REQUEST_ID])\"}]}"
    );
    let (status, body) = publish(&bob, "serde-thing", "1.0.1");
    assert_eq!(status, 403);
    assert_eq!(
        body,
        "{\"errors\":[{\"detail\":\"this token's user `bob` is not an owner of crate `serde-thing` \
         (nor a member of an owning team); its owners are alice, team:core: ask one of them to \
         run `cargo owner --add bob serde-thing` (request id: [REQUEST_ID])\"}]}"
    );
    // The owner gets the spelling to use.
    let (status, body) = publish(&alice, "Serde_Thing", "1.0.1");
    assert_eq!(status, 400);
    assert_eq!(
        body,
        "{\"errors\":[{\"detail\":\"crate was previously named `serde-thing`; publish it under \
         that exact name (request id: [REQUEST_ID])\"}]}"
    );
}
