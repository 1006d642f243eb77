//! cargo's web API over raw HTTP, pinned whole: the success bodies of
//! publish, yank, unyank, owners (list, add, remove) and search, and the
//! error body of every class (400, 401 with its `WWW-Authenticate`, 403,
//! 404, 409, 413), exactly as cargo and other clients read them, and the
//! management API's crate detail with each version's advisories and policy
//! verdict. Each test
//! records its exchanges as `METHOD PATH (caller) -> STATUS BODY` lines and
//! snapshots them once; the server's address is redacted as `[HOST]`.

use berth_testkit::{PublishBuilder, Reply, Server};
use insta::{assert_json_snapshot, assert_snapshot};
use reqwest::Method;
use serde_json::{json, Value};

/// A conversation with one server, written down as it goes.
struct Transcript<'a> {
    server: &'a Server,
    lines: String,
}

impl<'a> Transcript<'a> {
    fn new(server: &'a Server) -> Self {
        Transcript {
            server,
            lines: String::new(),
        }
    }

    /// Sends one request as `who` (a name for the transcript, and a token or
    /// none), checks the status and that every body is JSON, and records it
    /// (with `WWW-Authenticate` when the server sends one).
    #[track_caller]
    fn call(
        &mut self,
        method: Method,
        path: &str,
        who: (&str, Option<&str>),
        body: Option<Vec<u8>>,
        status: u16,
    ) -> Reply {
        let mut req = self.server.request(method.clone(), path);
        if let Some(token) = who.1 {
            req = req.header("Authorization", token);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let r = Reply::read(req.send().expect("request")).expect("read the answer");
        assert_eq!(r.status, status, "{method} {path} as {}: {}", who.0, r.text);
        assert!(
            r.content_type().starts_with("application/json"),
            "{method} {path}: content-type {:?}",
            r.content_type()
        );
        let _: Value = r.json();
        self.lines += &format!("{method} {path} ({}) -> {} {}\n", who.0, r.status, r.text);
        if let Some(www) = r.header("www-authenticate") {
            self.lines += &format!("  WWW-Authenticate: {}\n", self.server.redact(www));
        }
        r
    }

    fn text(&self) -> String {
        self.server.redact(&self.lines)
    }
}

fn owners_body(logins: &[&str]) -> Option<Vec<u8>> {
    Some(json!({ "users": logins }).to_string().into_bytes())
}

#[test]
fn publish_yank_and_unyank() {
    let server = Server::start_with_config("[limits]\nmax_crate_size = 20000\n");
    let alice = server.user_with_token("alice");
    let bob = server.user_with_token("bob");
    let (a, b, anon) = (
        ("alice", Some(&*alice)),
        ("bob", Some(&*bob)),
        ("anonymous", None),
    );
    let mut t = Transcript::new(&server);
    let new = "/r/main/api/v1/crates/new";
    let foo = PublishBuilder::new("foo", "1.0.0");

    t.call(Method::PUT, new, a, Some(foo.body()), 200);
    t.call(Method::PUT, new, a, Some(foo.body()), 409);
    t.call(Method::PUT, new, anon, Some(foo.body()), 401);
    t.call(
        Method::PUT,
        new,
        ("a stranger", Some("berth_nonsense")),
        Some(foo.body()),
        401,
    );
    t.call(
        Method::PUT,
        new,
        b,
        Some(PublishBuilder::new("foo", "1.0.1").body()),
        403,
    );
    t.call(Method::PUT, new, a, Some(vec![1, 2]), 400);
    let big = PublishBuilder::new("big", "1.0.0").tarball(vec![7; 20_001]);
    t.call(Method::PUT, new, a, Some(big.body()), 413);

    let yank = "/r/main/api/v1/crates/foo/1.0.0/yank";
    let unyank = "/r/main/api/v1/crates/foo/1.0.0/unyank";
    t.call(Method::DELETE, yank, a, None, 200);
    t.call(Method::DELETE, yank, a, None, 200);
    t.call(Method::PUT, unyank, a, None, 200);
    t.call(Method::DELETE, yank, b, None, 403);
    t.call(Method::DELETE, yank, anon, None, 401);
    t.call(
        Method::DELETE,
        "/r/main/api/v1/crates/foo/9.9.9/yank",
        a,
        None,
        404,
    );
    t.call(
        Method::DELETE,
        "/r/main/api/v1/crates/nothere/1.0.0/yank",
        a,
        None,
        404,
    );
    t.call(
        Method::PUT,
        "/r/main/api/v1/crates/foo/not-a-version/unyank",
        a,
        None,
        404,
    );
    t.call(
        Method::DELETE,
        "/r/nowhere/api/v1/crates/foo/1.0.0/yank",
        a,
        None,
        404,
    );
    assert_snapshot!(t.text(), @r#"
    PUT /r/main/api/v1/crates/new (alice) -> 200 {"warnings":{"invalid_badges":[],"invalid_categories":[],"other":[]}}
    PUT /r/main/api/v1/crates/new (alice) -> 409 {"errors":[{"detail":"crate version `foo@1.0.0` is already uploaded (request id: [REQUEST_ID])"}]}
    PUT /r/main/api/v1/crates/new (anonymous) -> 401 {"errors":[{"detail":"this operation requires a token: run `cargo login --registry main` (request id: [REQUEST_ID])"}]}
      WWW-Authenticate: Cargo login_url="http://[HOST]/r/main/me"
    PUT /r/main/api/v1/crates/new (a stranger) -> 401 {"errors":[{"detail":"the token is not valid: it is unknown, revoked or expired; create a new one with `berth token create` and run `cargo login` (request id: [REQUEST_ID])"}]}
      WWW-Authenticate: Cargo login_url="http://[HOST]/r/main/me"
    PUT /r/main/api/v1/crates/new (bob) -> 403 {"errors":[{"detail":"this token's user `bob` is not an owner of crate `foo` (nor a member of an owning team); its owners are alice: ask one of them to run `cargo owner --add bob foo` (request id: [REQUEST_ID])"}]}
    PUT /r/main/api/v1/crates/new (alice) -> 400 {"errors":[{"detail":"the publish request body ends early: expected 4 more bytes for the metadata length, found 2 (request id: [REQUEST_ID])"}]}
    PUT /r/main/api/v1/crates/new (alice) -> 413 {"errors":[{"detail":"the .crate file is 20001 bytes, more than the 20000 bytes allowed (request id: [REQUEST_ID])"}]}
    DELETE /r/main/api/v1/crates/foo/1.0.0/yank (alice) -> 200 {"ok":true}
    DELETE /r/main/api/v1/crates/foo/1.0.0/yank (alice) -> 200 {"ok":true}
    PUT /r/main/api/v1/crates/foo/1.0.0/unyank (alice) -> 200 {"ok":true}
    DELETE /r/main/api/v1/crates/foo/1.0.0/yank (bob) -> 403 {"errors":[{"detail":"this token's user is not an owner of crate `foo` (request id: [REQUEST_ID])"}]}
    DELETE /r/main/api/v1/crates/foo/1.0.0/yank (anonymous) -> 401 {"errors":[{"detail":"this operation requires a token: run `cargo login --registry main` (request id: [REQUEST_ID])"}]}
      WWW-Authenticate: Cargo login_url="http://[HOST]/r/main/me"
    DELETE /r/main/api/v1/crates/foo/9.9.9/yank (alice) -> 404 {"errors":[{"detail":"crate `foo` has no version `9.9.9` (request id: [REQUEST_ID])"}]}
    DELETE /r/main/api/v1/crates/nothere/1.0.0/yank (alice) -> 404 {"errors":[{"detail":"crate `nothere` does not exist (request id: [REQUEST_ID])"}]}
    PUT /r/main/api/v1/crates/foo/not-a-version/unyank (alice) -> 404 {"errors":[{"detail":"crate `foo` has no version `not-a-version` (request id: [REQUEST_ID])"}]}
    DELETE /r/nowhere/api/v1/crates/foo/1.0.0/yank (alice) -> 404 {"errors":[{"detail":"no registry named `nowhere` on this server (request id: [REQUEST_ID])"}]}
    "#);
}

#[test]
fn owners_list_add_and_remove() {
    let (server, [alice, carol, bob]) = Server::with_users(["alice", "carol", "bob"]);
    let (a, b, c, anon) = (
        ("alice", Some(&*alice)),
        ("bob", Some(&*bob)),
        ("carol", Some(&*carol)),
        ("anonymous", None),
    );
    let r = server.publish(Some(&alice), PublishBuilder::new("owned", "0.1.0").body());
    assert_eq!(r.status, 200, "{}", r.text);
    let mut t = Transcript::new(&server);
    let owners = "/r/main/api/v1/crates/owned/owners";

    let list = t.call(Method::GET, owners, anon, None, 200);
    assert_json_snapshot!(list.json(), @r#"
    {
      "users": [
        {
          "id": 367788900,
          "kind": "user",
          "login": "alice",
          "name": null
        }
      ]
    }
    "#);
    t.call(Method::PUT, owners, a, owners_body(&["bob"]), 200);
    t.call(Method::GET, owners, a, None, 200);
    t.call(Method::PUT, owners, a, owners_body(&["nobody"]), 404);
    t.call(Method::PUT, owners, c, owners_body(&["carol"]), 403);
    t.call(Method::PUT, owners, anon, owners_body(&["carol"]), 401);
    t.call(
        Method::PUT,
        owners,
        a,
        Some(b"{\"user\": \"bob\"}".to_vec()),
        400,
    );
    t.call(Method::DELETE, owners, b, owners_body(&["alice"]), 200);
    t.call(Method::GET, owners, anon, None, 200);
    // The last owner stays; a former owner may change nothing.
    t.call(Method::DELETE, owners, b, owners_body(&["bob"]), 400);
    t.call(Method::DELETE, owners, a, owners_body(&["bob"]), 403);
    t.call(
        Method::GET,
        "/r/main/api/v1/crates/nothere/owners",
        anon,
        None,
        404,
    );
    assert_snapshot!(t.text(), @r#"
    GET /r/main/api/v1/crates/owned/owners (anonymous) -> 200 {"users":[{"id":367788900,"login":"alice","name":null,"kind":"user"}]}
    PUT /r/main/api/v1/crates/owned/owners (alice) -> 200 {"msg":"user `bob` added as owner of crate `owned`","ok":true}
    GET /r/main/api/v1/crates/owned/owners (alice) -> 200 {"users":[{"id":367788900,"login":"alice","name":null,"kind":"user"},{"id":1088101356,"login":"bob","name":null,"kind":"user"}]}
    PUT /r/main/api/v1/crates/owned/owners (alice) -> 404 {"errors":[{"detail":"could not find user with login `nobody` (request id: [REQUEST_ID])"}]}
    PUT /r/main/api/v1/crates/owned/owners (carol) -> 403 {"errors":[{"detail":"this token's user is not an owner of crate `owned` (request id: [REQUEST_ID])"}]}
    PUT /r/main/api/v1/crates/owned/owners (anonymous) -> 401 {"errors":[{"detail":"this operation requires a token: run `cargo login --registry main` (request id: [REQUEST_ID])"}]}
      WWW-Authenticate: Cargo login_url="http://[HOST]/r/main/me"
    PUT /r/main/api/v1/crates/owned/owners (alice) -> 400 {"errors":[{"detail":"invalid owners request: expected {\"users\":[...]}: missing field `users` at line 1 column 15 (request id: [REQUEST_ID])"}]}
    DELETE /r/main/api/v1/crates/owned/owners (bob) -> 200 {"msg":"user `alice` removed as owner of crate `owned`","ok":true}
    GET /r/main/api/v1/crates/owned/owners (anonymous) -> 200 {"users":[{"id":1088101356,"login":"bob","name":null,"kind":"user"}]}
    DELETE /r/main/api/v1/crates/owned/owners (bob) -> 400 {"errors":[{"detail":"cannot remove the last user owner of a crate (teams cannot change owners): add another user owner first (request id: [REQUEST_ID])"}]}
    DELETE /r/main/api/v1/crates/owned/owners (alice) -> 403 {"errors":[{"detail":"this token's user is not an owner of crate `owned` (request id: [REQUEST_ID])"}]}
    GET /r/main/api/v1/crates/nothere/owners (anonymous) -> 404 {"errors":[{"detail":"crate `nothere` does not exist (request id: [REQUEST_ID])"}]}
    "#);
}

#[test]
fn search() {
    let (server, [alice]) = Server::with_users(["alice"]);
    for (name, vers, description) in [
        ("search-me", "0.1.0", "Finds things"),
        ("search-me", "0.3.0", "Finds things, faster"),
        ("search-you", "1.0.0", "Finds you"),
        ("other", "2.0.0", "Something else to search for"),
    ] {
        let p = PublishBuilder::new(name, vers).description(description);
        let r = server.publish(Some(&alice), p.body());
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let anon = ("anonymous", None);
    let mut t = Transcript::new(&server);
    let all = t.call(
        Method::GET,
        "/r/main/api/v1/crates?q=search",
        anon,
        None,
        200,
    );
    assert_json_snapshot!(all.json(), @r#"
    {
      "crates": [
        {
          "description": "Something else to search for",
          "downloads": 0,
          "max_version": "2.0.0",
          "name": "other"
        },
        {
          "description": "Finds things, faster",
          "downloads": 0,
          "max_version": "0.3.0",
          "name": "search-me"
        },
        {
          "description": "Finds you",
          "downloads": 0,
          "max_version": "1.0.0",
          "name": "search-you"
        }
      ],
      "meta": {
        "total": 3
      }
    }
    "#);
    t.call(
        Method::GET,
        "/r/main/api/v1/crates?q=search&per_page=1",
        anon,
        None,
        200,
    );
    t.call(
        Method::GET,
        "/r/main/api/v1/crates?q=search&per_page=1&page=2",
        anon,
        None,
        200,
    );
    t.call(
        Method::GET,
        "/r/main/api/v1/crates?q=nothing-like-it",
        anon,
        None,
        200,
    );
    t.call(
        Method::GET,
        "/r/main/api/v1/crates?q=x&per_page=many",
        anon,
        None,
        400,
    );
    t.call(Method::GET, "/r/nowhere/api/v1/crates?q=x", anon, None, 404);
    assert_snapshot!(t.text(), @r#"
    GET /r/main/api/v1/crates?q=search (anonymous) -> 200 {"crates":[{"description":"Something else to search for","downloads":0,"max_version":"2.0.0","name":"other"},{"description":"Finds things, faster","downloads":0,"max_version":"0.3.0","name":"search-me"},{"description":"Finds you","downloads":0,"max_version":"1.0.0","name":"search-you"}],"meta":{"total":3}}
    GET /r/main/api/v1/crates?q=search&per_page=1 (anonymous) -> 200 {"crates":[{"description":"Something else to search for","downloads":0,"max_version":"2.0.0","name":"other"}],"meta":{"total":3}}
    GET /r/main/api/v1/crates?q=search&per_page=1&page=2 (anonymous) -> 200 {"crates":[{"description":"Finds things, faster","downloads":0,"max_version":"0.3.0","name":"search-me"}],"meta":{"total":3}}
    GET /r/main/api/v1/crates?q=nothing-like-it (anonymous) -> 200 {"crates":[],"meta":{"total":0}}
    GET /r/main/api/v1/crates?q=x&per_page=many (anonymous) -> 400 {"errors":[{"detail":"invalid search parameters: Failed to deserialize query string: per_page: invalid digit found in string (request id: [REQUEST_ID])"}]}
    GET /r/nowhere/api/v1/crates?q=x (anonymous) -> 404 {"errors":[{"detail":"no registry named `nowhere` on this server (request id: [REQUEST_ID])"}]}
    "#);
}

/// Polls `done` every 100 ms for at most 15 s (a running server loads the
/// command line's supply-chain changes within its 2 s refresh).
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(15),
            "{what}: not within 15 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `GET /api/v1/registries/{registry}/crates/{name}` gives each version the
/// advisories imported with the command line that affect it and the rule
/// of the registry's policy that blocks it (pinned), and an exception made
/// with the command line lifts the block there.
#[test]
fn the_crate_detail_names_each_versions_advisories_and_policy_verdict() {
    let server = Server::start_with_config(
        "[[registries]]\nname = \"main\"\n\n[registries.policy]\nblock_advisories = true\n",
    );
    let alice = server.user_with_token("alice");
    let mut t = Transcript::new(&server);
    for vers in ["1.0.0", "1.1.0"] {
        t.call(
            Method::PUT,
            "/r/main/api/v1/crates/new",
            ("alice", Some(&*alice)),
            Some(PublishBuilder::new("leaky", vers).body()),
            200,
        );
    }
    let db = tempfile::tempdir().unwrap();
    berth_testkit::write_advisory_db(
        db.path(),
        &[berth_testkit::AdvisoryFile::vulnerability(
            "RUSTSEC-2026-0501",
            "leaky",
            &[">= 1.1.0"],
        )],
    );
    server
        .try_berth(&["advisories", "import", db.path().to_str().unwrap()])
        .unwrap();
    let detail = || -> Value {
        server
            .get("/api/v1/registries/main/crates/leaky")
            .json()
            .unwrap()
    };
    let verdicts = |d: &Value| -> Value {
        d["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| json!({"vers": v["vers"], "advisories": v["advisories"], "blocked": v["blocked"]}))
            .collect()
    };
    eventually("the server loads the imported set", || {
        detail()["versions"][0]["advisories"][0]["id"] == "RUSTSEC-2026-0501"
    });
    assert_json_snapshot!(verdicts(&detail()), @r#"
    [
      {
        "advisories": [
          {
            "aliases": [],
            "categories": [
              "memory-corruption"
            ],
            "crate": "leaky",
            "cvss": null,
            "date": "2026-03-04",
            "description": "What is wrong, in one paragraph.",
            "id": "RUSTSEC-2026-0501",
            "kind": "vulnerability",
            "patched": [
              ">=1.1.0"
            ],
            "title": "Memory corruption in leaky",
            "unaffected": [],
            "url": "https://example.invalid/advisories/RUSTSEC-2026-0501",
            "withdrawn": null
          }
        ],
        "blocked": {
          "advisory": "RUSTSEC-2026-0501",
          "reason": "blocked by policy: `leaky@1.0.0` is affected by RUSTSEC-2026-0501 (Memory corruption in leaky); patched: >=1.1.0",
          "registry": "main",
          "rule": "advisory"
        },
        "vers": "1.0.0"
      },
      {
        "advisories": [],
        "blocked": null,
        "vers": "1.1.0"
      }
    ]
    "#);

    server
        .try_berth(&[
            "policy",
            "allow",
            "leaky@1.0.0",
            "--registry",
            "main",
            "--reason",
            "pinned",
        ])
        .unwrap();
    eventually("the server loads the exception", || {
        detail()["versions"][0]["blocked"].is_null()
    });
    let after = detail();
    assert_eq!(
        after["versions"][0]["advisories"][0]["id"], "RUSTSEC-2026-0501",
        "still affected, only allowed"
    );
}
