//! The authorization matrix: every endpoint of cargo's protocol and of the
//! management API, for a public and a private registry, against every kind
//! of caller. Each cell's exact status is written down below as a table
//! (the test prints the table it saw, so a changed cell shows as a diff),
//! and every refusal is checked for leaks: on the private registry a
//! caller who may not read it gets the same answer for an existing crate
//! as for a missing one, and no refused answer names the crate.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use berth_testkit::{redact_request_ids, PublishBuilder, Server};
use reqwest::blocking::Client;
use reqwest::Method;

/// A public registry, a private one, and a third for the token restricted
/// to another registry. `main` and `vault` answer only the addresses of
/// `allowed_cidrs` (127.0.0.0-.7 stand for the office; 127.0.0.9 is
/// outside). Callers with bad tokens each come from their own address, so
/// that only 127.0.0.3, which sends many, is throttled.
const CONFIG: &str = r#"
[[registries]]
name = "main"
allowed_cidrs = ["127.0.0.0/29"]

[[registries]]
name = "vault"
private = true
allowed_cidrs = ["127.0.0.0/29"]

[[registries]]
name = "other"

[limits]
auth_failures_per_address = 50
auth_failures_per_prefix = 50
auth_cooldown_secs = 600
"#;

/// Who asks: a name for the table, the token sent (if any) and the local
/// address the request comes from.
struct Caller {
    name: &'static str,
    token: Option<String>,
    from: &'static str,
}

/// The endpoints, in table order. `{R}` is the registry, `{C}` an existing
/// crate of it, `{M}` a missing one, `{V}` a new version for publishes.
const ENDPOINTS: &[(&str, Method, &str)] = &[
    ("config", Method::GET, "/r/{R}/index/config.json"),
    ("index", Method::GET, "/r/{R}/index/{IDX}"),
    ("miss", Method::GET, "/r/{R}/index/{MIDX}"),
    ("dl", Method::GET, "/r/{R}/api/v1/crates/{C}/1.0.0/download"),
    ("publ", Method::PUT, "/r/{R}/api/v1/crates/new"),
    (
        "yank",
        Method::DELETE,
        "/r/{R}/api/v1/crates/{C}/1.0.0/yank",
    ),
    ("unyk", Method::PUT, "/r/{R}/api/v1/crates/{C}/1.0.0/unyank"),
    ("own", Method::GET, "/r/{R}/api/v1/crates/{C}/owners"),
    ("ownw", Method::PUT, "/r/{R}/api/v1/crates/{C}/owners"),
    ("srch", Method::GET, "/r/{R}/api/v1/crates?q={C}"),
    ("det", Method::GET, "/api/v1/registries/{R}/crates/{C}"),
    ("dmis", Method::GET, "/api/v1/registries/{R}/crates/{M}"),
    (
        "rdme",
        Method::GET,
        "/api/v1/registries/{R}/crates/{C}/1.0.0/readme",
    ),
    ("audt", Method::GET, "/api/v1/audit?limit=1"),
    ("toks", Method::GET, "/api/v1/me/tokens"),
];

/// What each caller must get on `main` (public). Columns as `ENDPOINTS`.
/// `ro-*-owner` hold only the `read` role in `vault`: owners publish new
/// versions of what they own with it (the `publish` role is for new names).
const EXPECTED_MAIN: &str = "
caller        config index miss dl  publ yank unyk own ownw srch det dmis rdme audt toks
anonymous     200    200   404  200 401  401  401  200 401  200  200 404  200  401  401
malformed     401    401   401  401 401  401  401  401 401  401  401 401  401  401  401
unknown       401    401   401  401 401  401  401  401 401  401  401 401  401  401  401
expired       401    401   401  401 401  401  401  401 401  401  401 401  401  401  401
revoked       401    401   401  401 401  401  401  401 401  401  401 401  401  401  401
read-only     200    200   404  200 403  403  403  200 403  200  200 404  200  403  200
other-crates  200    200   404  200 403  403  403  200 403  200  200 404  200  403  200
other-reg     403    403   403  403 403  403  403  403 403  403  403 403  403  403  200
non-owner     200    200   404  200 403  403  403  200 403  200  200 404  200  403  200
user-owner    200    200   404  200 200  200  200  200 200  200  200 404  200  403  200
team-owner    200    200   404  200 200  200  200  200 403  200  200 404  200  403  200
ro-team-owner 200    200   404  200 200  200  200  200 403  200  200 404  200  403  200
ro-user-owner 200    200   404  200 200  200  200  200 200  200  200 404  200  403  200
team-no-own   200    200   404  200 403  403  403  200 403  200  200 404  200  403  200
reg-admin     200    200   404  200 200  200  200  200 200  200  200 404  200  403  200
server-admin  200    200   404  200 200  200  200  200 200  200  200 404  200  200  200
allowed-addr  200    200   404  200 200  200  200  200 200  200  200 404  200  403  200
refused-addr  403    403   403  403 403  403  403  403 403  403  403 403  403  403  200
throttled     429    429   429  429 429  429  429  429 429  429  429 429  429  429  429
";

/// The same on `vault` (private).
const EXPECTED_VAULT: &str = "
caller        config index miss dl  publ yank unyk own ownw srch det dmis rdme audt toks
anonymous     401    401   401  401 401  401  401  401 401  401  401 401  401  401  401
malformed     401    401   401  401 401  401  401  401 401  401  401 401  401  401  401
unknown       401    401   401  401 401  401  401  401 401  401  401 401  401  401  401
expired       401    401   401  401 401  401  401  401 401  401  401 401  401  401  401
revoked       401    401   401  401 401  401  401  401 401  401  401 401  401  401  401
read-only     200    200   404  200 403  403  403  200 403  200  200 404  200  403  200
other-crates  200    200   404  200 403  403  403  200 403  200  200 404  200  403  200
other-reg     403    403   403  403 403  403  403  403 403  403  403 403  403  403  200
non-owner     403    403   403  403 403  403  403  403 403  403  403 403  403  403  200
user-owner    200    200   404  200 200  200  200  200 200  200  200 404  200  403  200
team-owner    200    200   404  200 200  200  200  200 403  200  200 404  200  403  200
ro-team-owner 200    200   404  200 200  200  200  200 403  200  200 404  200  403  200
ro-user-owner 200    200   404  200 200  200  200  200 200  200  200 404  200  403  200
team-no-own   200    200   404  200 403  403  403  200 403  200  200 404  200  403  200
reg-admin     200    200   404  200 200  200  200  200 200  200  200 404  200  403  200
server-admin  200    200   404  200 200  200  200  200 200  200  200 404  200  200  200
allowed-addr  200    200   404  200 200  200  200  200 200  200  200 404  200  403  200
refused-addr  403    403   403  403 403  403  403  403 403  403  403 403  403  403  200
throttled     429    429   429  429 429  429  429  429 429  429  429 429  429  429  429
";

fn berth_ok(server: &Server, args: &[&str]) -> String {
    server.try_berth(args).unwrap_or_else(|e| panic!("{e}"))
}

/// A client whose connections come from `from`.
fn client_from(from: &str) -> Client {
    Client::builder()
        .local_address(Some(from.parse::<IpAddr>().unwrap()))
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// The id of a user's newest token, from `berth token list --json`.
fn newest_token_id(server: &Server, login: &str) -> String {
    let list = berth_ok(server, &["token", "list", "--user", login, "--json"]);
    let last: serde_json::Value = serde_json::from_str(list.lines().last().unwrap()).unwrap();
    last["id"].to_string()
}

/// Publishes `name` 1.0.0 (with a README) to `registry` as `token`.
fn seed(server: &Server, registry: &str, token: &str, name: &str) {
    let body = PublishBuilder::new(name, "1.0.0")
        .set("readme", "hello")
        .set("readme_file", "README.md")
        .body();
    let r = server
        .request(Method::PUT, &format!("/r/{registry}/api/v1/crates/new"))
        .header("Authorization", token)
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "seeding {name}: {}", r.text().unwrap());
}

#[test]
fn every_endpoint_against_every_caller() {
    let server = Server::start_with_config(CONFIG);
    for user in ["alice", "bob", "carol", "dave", "erin", "frank", "gina"] {
        server.add_user(user, false);
    }
    server.add_user("root", true);
    berth_ok(&server, &["team", "add", "core"]);
    berth_ok(&server, &["team", "member", "add", "core", "carol"]);
    berth_ok(&server, &["team", "add", "readers"]);
    berth_ok(&server, &["team", "member", "add", "readers", "frank"]);
    berth_ok(&server, &["team", "add", "lurkers"]);
    berth_ok(&server, &["team", "member", "add", "lurkers", "dave"]);
    for (who, role) in [
        ("--user", "alice", "publish"),
        ("--team", "core", "publish"),
        ("--team", "lurkers", "publish"),
        ("--team", "readers", "read"),
        ("--user", "gina", "read"),
        ("--user", "erin", "admin"),
    ]
    .map(|(k, n, r)| ((k, n), r))
    {
        berth_ok(
            &server,
            &[
                "role",
                "grant",
                "--registry",
                "vault",
                who.0,
                who.1,
                "--role",
                role,
            ],
        );
    }
    berth_ok(
        &server,
        &[
            "role",
            "grant",
            "--registry",
            "main",
            "--user",
            "erin",
            "--role",
            "admin",
        ],
    );
    let alice = server.token("alice", &[]);
    seed(&server, "main", &alice, "pubcrate");
    seed(&server, "vault", &alice, "seccrate");
    let owners_add = r#"{"users":["team:core","team:readers","gina"]}"#;
    for (registry, krate) in [("main", "pubcrate"), ("vault", "seccrate")] {
        let r = server
            .request(
                Method::PUT,
                &format!("/r/{registry}/api/v1/crates/{krate}/owners"),
            )
            .header("Authorization", &alice)
            .body(owners_add)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    }

    let expired = server.token("alice", &["--name", "short", "--expires-in", "1s"]);
    let revoked = server.token("alice", &["--name", "gone"]);
    let id = newest_token_id(&server, "alice");
    berth_ok(
        &server,
        &["token", "revoke", "--user", "alice", "--id", &id],
    );
    let callers = vec![
        Caller {
            name: "anonymous",
            token: None,
            from: "127.0.0.1",
        },
        Caller {
            name: "malformed",
            token: Some("not a token".into()),
            from: "127.0.0.4",
        },
        Caller {
            name: "unknown",
            token: Some(format!("berth_{}", "A".repeat(40))),
            from: "127.0.0.5",
        },
        Caller {
            name: "expired",
            token: Some(expired),
            from: "127.0.0.6",
        },
        Caller {
            name: "revoked",
            token: Some(revoked),
            from: "127.0.0.7",
        },
        Caller {
            name: "read-only",
            token: Some(server.token("alice", &["--name", "ro", "--scope", "read"])),
            from: "127.0.0.1",
        },
        Caller {
            name: "other-crates",
            token: Some(server.token("alice", &["--name", "zz", "--crates", "zzz-*"])),
            from: "127.0.0.1",
        },
        Caller {
            name: "other-reg",
            token: Some(server.token("alice", &["--name", "oth", "--registry", "other"])),
            from: "127.0.0.1",
        },
        Caller {
            name: "non-owner",
            token: Some(server.token("bob", &[])),
            from: "127.0.0.1",
        },
        Caller {
            name: "user-owner",
            token: Some(alice.clone()),
            from: "127.0.0.1",
        },
        Caller {
            name: "team-owner",
            token: Some(server.token("carol", &[])),
            from: "127.0.0.1",
        },
        Caller {
            name: "ro-team-owner",
            token: Some(server.token("frank", &[])),
            from: "127.0.0.1",
        },
        Caller {
            name: "ro-user-owner",
            token: Some(server.token("gina", &[])),
            from: "127.0.0.1",
        },
        Caller {
            name: "team-no-own",
            token: Some(server.token("dave", &[])),
            from: "127.0.0.1",
        },
        Caller {
            name: "reg-admin",
            token: Some(server.token("erin", &[])),
            from: "127.0.0.1",
        },
        Caller {
            name: "server-admin",
            token: Some(server.token("root", &[])),
            from: "127.0.0.1",
        },
        Caller {
            name: "allowed-addr",
            token: Some(alice.clone()),
            from: "127.0.0.2",
        },
        Caller {
            name: "refused-addr",
            token: Some(alice.clone()),
            from: "127.0.0.9",
        },
        Caller {
            name: "throttled",
            token: Some(alice.clone()),
            from: "127.0.0.3",
        },
    ];
    // The expired token's second passes; 127.0.0.3 earns its cooling-off
    // with bad tokens.
    std::thread::sleep(Duration::from_millis(1500));
    let attacker = client_from("127.0.0.3");
    for i in 0..60 {
        let s = attacker
            .get(format!("{}/r/main/index/config.json", server.url))
            .header("Authorization", format!("berth_{i:0>40}"))
            .send()
            .unwrap()
            .status();
        assert!(s == 401 || s == 429, "bad token {i}: {s}");
    }

    let mut version = 0;
    for (registry, krate, expected) in [
        ("main", "pubcrate", EXPECTED_MAIN),
        ("vault", "seccrate", EXPECTED_VAULT),
    ] {
        let mut table = String::from(
            "\ncaller        config index miss dl  publ yank unyk own ownw srch det dmis rdme audt toks\n",
        );
        let mut leaks = Vec::new();
        for caller in &callers {
            let client = client_from(caller.from);
            let mut row = format!("{:<14}", caller.name);
            let mut refused_bodies = BTreeMap::new();
            for (i, (column, method, path)) in ENDPOINTS.iter().enumerate() {
                let path = path
                    .replace("{R}", registry)
                    .replace("{IDX}", &berth_testkit::index_path(krate))
                    .replace("{MIDX}", &berth_testkit::index_path("missing-one"))
                    .replace("{C}", krate)
                    .replace("{M}", "missing-one");
                let mut req = client.request(method.clone(), format!("{}{path}", server.url));
                if let Some(t) = &caller.token {
                    req = req.header("Authorization", t);
                }
                req = match *column {
                    "publ" => {
                        version += 1;
                        req.body(PublishBuilder::new(krate, &format!("1.{version}.0")).body())
                    }
                    "ownw" => req.body(r#"{"users":["bob"]}"#),
                    _ => req,
                };
                let r = req.send().unwrap();
                let status = r.status().as_u16();
                let body = redact_request_ids(&r.text().unwrap());
                let width = ["config", "index"].get(i).map_or(column.len(), |c| c.len());
                row += &format!(" {:<width$}", status, width = width.max(3));
                if status >= 400 {
                    refused_bodies.insert(*column, body.clone());
                    // A caller who may not read the private registry learns
                    // nothing about its crates.
                    let may_read_vault = matches!(
                        caller.name,
                        "read-only"
                            | "other-crates"
                            | "user-owner"
                            | "team-owner"
                            | "ro-team-owner"
                            | "ro-user-owner"
                            | "team-no-own"
                            | "reg-admin"
                            | "server-admin"
                            | "allowed-addr"
                    );
                    if registry == "vault" && !may_read_vault && body.contains(krate) {
                        leaks.push(format!("{} {column}: {body}", caller.name));
                    }
                }
            }
            if registry == "vault" {
                if let (Some(hit), Some(miss)) =
                    (refused_bodies.get("index"), refused_bodies.get("miss"))
                {
                    if hit != miss {
                        leaks.push(format!(
                            "{}: index answers differ for an existing and a missing crate: \
                             {hit} / {miss}",
                            caller.name
                        ));
                    }
                }
                if let (Some(hit), Some(miss)) =
                    (refused_bodies.get("det"), refused_bodies.get("dmis"))
                {
                    if hit != miss {
                        leaks.push(format!(
                            "{}: crate details differ for an existing and a missing crate: \
                             {hit} / {miss}",
                            caller.name
                        ));
                    }
                }
            }
            table += row.trim_end();
            table.push('\n');
        }
        println!("{registry}:{table}");
        assert_eq!(
            normalize(&table),
            normalize(expected),
            "registry `{registry}`: the matrix differs (seen above, expected below)"
        );
        assert!(leaks.is_empty(), "registry `{registry}` leaks: {leaks:#?}");
    }

    // The `read` role publishes no new names, owner or not; the refusal
    // says which role is missing.
    for login in ["frank", "gina"] {
        let token = server.token(login, &["--name", "new"]);
        let r = server
            .request(Method::PUT, "/r/vault/api/v1/crates/new")
            .header("Authorization", &token)
            .body(PublishBuilder::new(&format!("{login}-new"), "1.0.0").body())
            .send()
            .unwrap();
        assert_eq!(r.status(), 403);
        let body = redact_request_ids(&r.text().unwrap());
        assert_eq!(
            body,
            format!(
                r#"{{"errors":[{{"detail":"user `{login}` does not have the `publish` role in registry `vault`; an operator can grant it with `berth role grant --registry vault --user {login} --role publish` (request id: [REQUEST_ID])"}}]}}"#
            )
        );
    }
}

/// A table with its columns separated by single spaces.
fn normalize(table: &str) -> String {
    table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}
