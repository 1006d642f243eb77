//! Client addresses, address allow-lists and brute-force limits (issue 12),
//! against the real `berth serve`. Loopback addresses stand for different
//! clients: 127.0.0.1 (the harness and cargo), 127.0.0.2, 127.0.0.3, ...

use std::time::{Duration, Instant};

use berth_testkit::{crate_file, http_from, send, Cargo, PublishBuilder, Reply, Server};
use insta::assert_snapshot;
use reqwest::blocking::Client;
use serde_json::Value;

/// `berth audit --json --action ACTION`, one object per line.
fn audit(server: &Server, action: &str) -> Vec<Value> {
    server.audit_json(&["--action", action])
}

/// The `client_addr` of each row.
fn addrs(rows: &[Value]) -> Vec<&str> {
    rows.iter()
        .map(|r| r["client_addr"].as_str().unwrap_or("-"))
        .collect()
}

/// A publish of `name@vers` to `registry` from `client` with extra headers.
fn publish(
    client: &Client,
    server: &Server,
    registry: &str,
    token: &str,
    name: &str,
    vers: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let body = PublishBuilder::new(name, vers)
        .tarball(crate_file(name, vers, "pub fn f() {}\n"))
        .body();
    let mut req = client
        .put(format!("{}/r/{registry}/api/v1/crates/new", server.url))
        .header("Authorization", token)
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send(req).unwrap()
}

fn get(client: &Client, server: &Server, path: &str, token: Option<&str>) -> Reply {
    let mut req = client.get(format!("{}{path}", server.url));
    if let Some(t) = token {
        req = req.header("Authorization", t);
    }
    send(req).unwrap()
}

#[test]
fn forwarding_headers_are_believed_from_trusted_proxies_only() {
    let server = Server::start_with_config("trusted_proxies = [\"127.0.0.2/32\"]\n");
    let alice = server.user_with_token("alice");
    let (proxy, other) = (http_from("127.0.0.2"), http_from("127.0.0.3"));
    // Through the proxy: the right-most address it did not add itself.
    let xff = [("X-Forwarded-For", "198.51.100.7, 203.0.113.9")];
    let r = publish(&proxy, &server, "main", &alice, "fwd", "1.0.0", &xff);
    assert_eq!(r.status, 200, "{}", r.text);
    // From anyone else the header is a lie and ignored.
    let xff = [("X-Forwarded-For", "203.0.113.9")];
    let r = publish(&other, &server, "main", &alice, "fwd", "1.1.0", &xff);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        addrs(&audit(&server, "publish")),
        ["203.0.113.9", "127.0.0.3"]
    );
    // The request's log lines carry the client too.
    let r = get(&proxy, &server, "/r/main/index/no/su/nosuch", None);
    assert_eq!(r.status, 404);
    assert!(
        server.log().contains("client=203.0.113.9"),
        "{}",
        server.log()
    );

    // RFC 7239, when the proxies write `Forwarded`: X-Forwarded-For is then
    // not read at all, so a client cannot slip one past such a proxy.
    let server = Server::start_with_config(
        "trusted_proxies = [\"127.0.0.2/32\"]\nforwarded_header = \"forwarded\"\n",
    );
    let alice = server.user_with_token("alice");
    let headers = [
        ("X-Forwarded-For", "192.0.2.66"),
        (
            "Forwarded",
            "for=192.0.2.1;proto=https, for=\"[2001:db8::7]:4711\";by=127.0.0.2",
        ),
    ];
    let r = publish(&proxy, &server, "main", &alice, "fwd", "1.0.0", &headers);
    assert_eq!(r.status, 200, "{}", r.text);
    let r = publish(&other, &server, "main", &alice, "fwd", "1.1.0", &headers);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        addrs(&audit(&server, "publish")),
        ["2001:db8::7", "127.0.0.3"]
    );
}

const ALLOW_LISTS: &str = r#"
[[registries]]
name = "main"

[[registries]]
name = "secure"
allowed_cidrs = ["127.0.0.2/32"]

[[registries]]
name = "office"
allowed_cidrs = ["127.0.0.0/30"]

[[registries]]
name = "all"
kind = "virtual"
members = ["main", "secure"]
"#;

#[test]
fn a_registry_answers_only_the_addresses_it_allows() {
    let server = Server::start_with_config(ALLOW_LISTS);
    let alice = server.user_with_token("alice");
    let (inside, outside) = (http_from("127.0.0.2"), http_from("127.0.0.3"));
    let r = publish(&inside, &server, "secure", &alice, "vault", "1.0.0", &[]);
    assert_eq!(r.status, 200, "{}", r.text);
    for path in [
        "/r/secure/index/config.json",
        "/r/secure/index/va/ul/vault",
        "/r/secure/api/v1/crates/vault/1.0.0/download",
        "/api/v1/registries/secure/crates/vault",
    ] {
        assert_eq!(
            get(&inside, &server, path, Some(&alice)).status,
            200,
            "{path}"
        );
    }

    // From outside, every URL of the registry gets the same answer: an
    // existing crate and a missing one, with a token or without.
    let refused = get(&outside, &server, "/r/secure/index/config.json", None);
    assert_eq!(refused.status, 403);
    assert_eq!(refused.content_type(), "application/json");
    assert_snapshot!(refused.text, @r#"{"errors":[{"detail":"address 127.0.0.3 is not allowed to reach registry `secure`; an operator can allow it in `allowed_cidrs` of the registry's [[registries]] entry (request id: [REQUEST_ID])"}]}"#);
    let mut answers = Vec::new();
    for path in [
        "/r/secure/index/va/ul/vault",
        "/r/secure/index/mi/ss/missing",
        "/r/secure/api/v1/crates/vault/1.0.0/download",
        "/r/secure/api/v1/crates/missing/1.0.0/download",
        "/r/secure/api/v1/crates?q=vault",
        "/api/v1/registries/secure/crates/vault",
        "/api/v1/registries/secure/crates/missing",
    ] {
        for token in [None, Some(alice.as_str()), Some("berth_not_a_token")] {
            let r = get(&outside, &server, path, token);
            answers.push((path, r.status, r.text));
        }
    }
    let r = publish(&outside, &server, "secure", &alice, "vault", "2.0.0", &[]);
    answers.push(("publish", r.status, r.text));
    for (path, status, text) in &answers {
        assert_eq!((*status, text), (403, &refused.text), "{path}");
    }
    // A virtual registry is no way around a member's list.
    let r = get(&outside, &server, "/r/all/index/va/ul/vault", None);
    assert_eq!(r.status, 403);
    assert_snapshot!(r.text, @r#"{"errors":[{"detail":"address 127.0.0.3 is not allowed to reach registry `all` (its member `secure`); an operator can allow it in `allowed_cidrs` of the [[registries]] entry of `secure` (request id: [REQUEST_ID])"}]}"#);
    // Other registries and the server itself are not concerned.
    assert_eq!(
        get(&outside, &server, "/r/main/index/config.json", None).status,
        200
    );
    assert_eq!(get(&outside, &server, "/health", None).status, 200);

    // Counted every time, audited once a minute per address (one refusal
    // above was through the virtual registry).
    let refusals = answers.len() as f64 + 2.0;
    assert_eq!(
        server.metric("berth_refused_total{reason=\"address_not_allowed\"}"),
        refusals
    );
    let rows = audit(&server, "access.denied");
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["client_addr"], "127.0.0.3");
    assert_eq!(rows[0]["registry"], "secure");
    assert_eq!(rows[0]["outcome"], "denied");
    assert_eq!(rows[0]["detail"], "GET /r/secure/index/config.json");
    // Nothing was published from outside.
    assert!(audit(&server, "publish").len() == 1);

    // Real cargo (from 127.0.0.1): refused with the message where the list
    // leaves it out, served where it is in.
    let mut cargo = Cargo::with_registries(
        &[
            ("secure", server.index_url("secure")),
            ("office", server.index_url("office")),
        ],
        "",
    );
    cargo.set_registry_token("secure", Some(&alice));
    cargo.set_registry_token("office", Some(&alice));
    let dir = cargo.manifest(
        "desk",
        "[package]\nname = \"desk\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\
         description = \"d\"\nlicense = \"MIT\"\npublish = [\"secure\", \"office\"]\n",
    );
    std::fs::write(dir.join("src/lib.rs"), "pub fn desk() {}\n").unwrap();
    let err = cargo.publish_refused(&dir, "secure");
    assert!(
        err.contains("address 127.0.0.1 is not allowed to reach registry `secure`"),
        "{err}"
    );
    cargo.publish_to(&dir, "office");
    let app = cargo.consumer(
        "app",
        "desk = { version = \"0.1\", registry = \"office\" }\n",
    );
    cargo.ok(&app, &["build"]);
}

/// The registry a URL names is decided once, percent-decoded as the router
/// decodes it: `/r/sec%75re/...` is `secure`, with its allow-list and a
/// token's registry restriction, on every route (issue 25, finding 1).
#[test]
fn a_percent_encoded_registry_name_is_the_same_registry() {
    let server = Server::start_with_config(ALLOW_LISTS);
    let alice = server.user_with_token("alice");
    let (inside, outside) = (http_from("127.0.0.2"), http_from("127.0.0.3"));
    let r = publish(&inside, &server, "sec%75re", &alice, "vault", "1.0.0", &[]);
    assert_eq!(r.status, 200, "{}", r.text);
    let refused = get(&outside, &server, "/r/secure/index/config.json", None);
    assert_eq!(refused.status, 403);
    let encoded = [
        "/r/sec%75re/index/config.json",
        "/r/sec%75re/index/va/ul/vault",
        "/r/%73%65%63%75%72%65/index/va/ul/vault",
        "/r/sec%75re/api/v1/crates/vault/1.0.0/download",
        "/r/sec%75re/api/v1/crates?q=vault",
        "/r/sec%75re/api/v1/crates/vault/owners",
        "/r/sec%75re/me",
        "/r/sec%75re",
        "/r/sec%75re/crates/vault",
        "/r/sec%75re/crates/vault/1.0.0",
        "/api/v1/registries/sec%75re/crates/vault",
        "/api/v1/registries/sec%75re/crates/vault/1.0.0/readme",
    ];
    // From inside, the encoded spelling is the registry itself.
    for path in [
        "/r/sec%75re/index/va/ul/vault",
        "/api/v1/registries/sec%75re/crates/vault",
    ] {
        let r = get(&inside, &server, path, Some(&alice));
        assert_eq!(r.status, 200, "{path}: {}", r.text);
    }
    // From outside, every route refuses it as it refuses `secure`.
    let mut answers = Vec::new();
    for path in encoded {
        for token in [None, Some(alice.as_str())] {
            let r = get(&outside, &server, path, token);
            answers.push((path.to_string(), r.status, r.text));
        }
    }
    let r = publish(&outside, &server, "sec%75re", &alice, "vault", "2.0.0", &[]);
    answers.push(("publish".into(), r.status, r.text));
    let r = send(
        outside
            .delete(format!(
                "{}/r/sec%75re/api/v1/crates/vault/1.0.0/yank",
                server.url
            ))
            .header("Authorization", &alice),
    )
    .unwrap();
    answers.push(("yank".into(), r.status, r.text));
    for (path, status, text) in &answers {
        assert_eq!((*status, text), (403, &refused.text), "{path}");
    }
    // A virtual registry's encoded name is no way around its member's list.
    let r = get(&outside, &server, "/r/%61ll/index/va/ul/vault", None);
    assert_eq!(r.status, 403, "{}", r.text);
    // Nothing was published or yanked from outside.
    assert_eq!(audit(&server, "publish").len(), 1);
    assert!(audit(&server, "yank").is_empty());
    let line = get(&inside, &server, "/r/secure/index/va/ul/vault", None).text;
    assert!(line.contains("\"yanked\":false"), "{line}");

    // A token restricted to a registry is judged on the same decoded name.
    let secure_only = server.token("alice", &["--registry", "secure", "--name", "s"]);
    let main_only = server.token("alice", &["--registry", "main", "--name", "m"]);
    let r = get(
        &inside,
        &server,
        "/r/sec%75re/index/va/ul/vault",
        Some(&secure_only),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = get(
        &inside,
        &server,
        "/r/sec%75re/index/va/ul/vault",
        Some(&main_only),
    );
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("`secure`"), "{}", r.text);
    // A name that does not decode is refused, never taken for another.
    let r = get(&outside, &server, "/r/%ff/index/config.json", None);
    assert_eq!(r.status, 400, "{}", r.text);
}

/// A flood of refused addresses never keeps another address's refusal out
/// of the audit log (issue 25, finding 8: the guard wrote at most 120
/// `access.denied` rows a minute in all).
#[test]
fn a_flood_of_refused_addresses_never_hides_another_refusal() {
    let server = Server::start_with_config(ALLOW_LISTS);
    for n in 0..150u32 {
        let from = format!("127.0.1.{}", n + 1);
        let r = get(
            &http_from(&from),
            &server,
            "/r/secure/index/config.json",
            None,
        );
        assert_eq!(r.status, 403, "{from}");
    }
    let r = get(
        &http_from("127.0.2.9"),
        &server,
        "/r/secure/index/config.json",
        None,
    );
    assert_eq!(r.status, 403);
    let rows = audit(&server, "access.denied");
    assert!(addrs(&rows).contains(&"127.0.2.9"), "{} rows", rows.len());
    assert_eq!(rows.len(), 151);
}

const BRUTE_FORCE: &str = r#"
[limits]
auth_failures_per_address = 5
auth_failures_per_prefix = 8
auth_failure_window_secs = 60
auth_cooldown_secs = 2
"#;

#[test]
fn failed_authentications_throttle_the_address_and_prefix_alone() {
    let server = Server::start_with_config(BRUTE_FORCE);
    let alice = server.user_with_token("alice");
    let config = "/r/main/index/config.json";
    let attacker = http_from("127.0.0.2");
    let bad = |i: usize| format!("berth_guess{i:02}XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX");
    for i in 0..5 {
        let r = get(&attacker, &server, config, Some(&bad(i)));
        assert_eq!(r.status, 401, "failure {i}: {}", r.text);
    }
    // Past the threshold: 429 for anything with a token, a valid one too,
    // without looking it up.
    let mut refusals = Vec::new();
    for token in [bad(5), alice.clone()] {
        let r = get(&attacker, &server, config, Some(&token));
        assert_eq!(r.status, 429, "{}", r.text);
        assert_eq!(r.header("retry-after"), Some("2"));
        refusals.push(r.text);
    }
    assert_eq!(refusals[0], refusals[1]);
    assert_snapshot!(refusals[0], @r#"{"errors":[{"detail":"too many failed authentications from address 127.0.0.2; try again in 2 seconds (limits.auth_failures_per_address, limits.auth_cooldown_secs) (request id: [REQUEST_ID])"}]}"#);
    // Anonymous reads from the same address go on (see caller.rs).
    assert_eq!(get(&attacker, &server, config, None).status, 200);

    // Nobody else notices: a valid token from 127.0.0.3, anonymous reads
    // from 127.0.0.1, each answered at once.
    let (user, anonymous) = (http_from("127.0.0.3"), http_from("127.0.0.1"));
    for _ in 0..5 {
        let t = Instant::now();
        assert_eq!(get(&user, &server, config, Some(&alice)).status, 200);
        assert_eq!(get(&anonymous, &server, config, None).status, 200);
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    }

    // After the cooling period the address is served again.
    std::thread::sleep(Duration::from_millis(2200));
    assert_eq!(get(&attacker, &server, config, Some(&alice)).status, 200);

    // One prefix tried from many addresses: throttled after 8, wherever
    // the next try comes from; other prefixes still get their 401.
    let same = |i: usize| format!("berth_SAMEPR{i:02}YYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYY");
    for i in 0..8 {
        let from = http_from(&format!("127.0.0.{}", 10 + i));
        let r = get(&from, &server, config, Some(&same(i)));
        assert_eq!(r.status, 401, "prefix failure {i}: {}", r.text);
    }
    let fresh = http_from("127.0.0.30");
    let r = get(&fresh, &server, config, Some(&same(99)));
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(r.header("retry-after"), Some("2"));
    assert_snapshot!(r.text, @r#"{"errors":[{"detail":"too many failed authentications with tokens starting `berth_SAMEPR`; try again in 2 seconds (limits.auth_failures_per_prefix, limits.auth_cooldown_secs) (request id: [REQUEST_ID])"}]}"#);
    assert_eq!(get(&fresh, &server, config, Some(&bad(7))).status, 401);
    assert_eq!(get(&fresh, &server, config, Some(&alice)).status, 200);

    // The audit log: each failure (prefix only, never the secret), and one
    // row when each cooling period began.
    let failures = audit(&server, "auth.failure");
    assert_eq!(failures.len(), 5 + 8 + 1, "{failures:#?}");
    let mut expected: Vec<String> = vec!["127.0.0.2".to_string(); 5];
    expected.extend((0..8).map(|i| format!("127.0.0.{}", 10 + i)));
    expected.push("127.0.0.30".into());
    assert_eq!(addrs(&failures), expected);
    assert_eq!(failures[0]["outcome"], "denied");
    assert_eq!(
        failures[0]["detail"],
        "token prefix `berth_guess0`: the token is not valid: it is unknown, revoked or expired; \
         create a new one with `berth token create` and run `cargo login`"
    );
    let throttled = audit(&server, "auth.throttled");
    assert_eq!(addrs(&throttled), ["127.0.0.2", "127.0.0.17"]);
    assert_eq!(
        throttled[0]["detail"],
        "address 127.0.0.2: 5 failed authentications within 60 s; refused for 2 s \
         (limits.auth_failures_per_address)"
    );
    assert_eq!(
        throttled[1]["detail"],
        "token prefix `berth_SAMEPR`: 8 failed authentications within 60 s; refused for 2 s \
         (limits.auth_failures_per_prefix)"
    );
    let all = server.try_berth(&["audit", "--json"]).unwrap();
    for i in 0..8 {
        assert!(!all.contains(&bad(i)) && !all.contains(&same(i)), "{all}");
    }
    // And the metrics.
    assert_eq!(server.metric("berth_auth_failures_total"), 14.0);
    assert_eq!(
        server.metric("berth_auth_throttled_total{key=\"address\"}"),
        2.0
    );
    assert_eq!(
        server.metric("berth_auth_throttled_total{key=\"prefix\"}"),
        1.0
    );
}

/// A web UI login from `client` (a double-submit CSRF token of its own);
/// the answer's status.
fn ui_login(client: &Client, server: &Server, login: &str, password: &str) -> u16 {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("csrf", "attack"), ("login", login), ("password", password)])
        .finish();
    client
        .post(format!("{}/login", server.url))
        .header("Cookie", "berth_login_csrf=attack")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .expect("a login answer")
        .status()
        .as_u16()
}

#[test]
fn a_flood_of_logins_never_switches_the_login_limit_off() {
    let server = Server::start();
    server.add_user("bob", false);
    server.set_password("bob", "bob-password");
    // 500 addresses, each with 20 failures (its limit) for logins longer
    // than any real one: more keys than the old table held.
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..10u32 {
            let server = &server;
            s.spawn(move || {
                for a in 0..50u32 {
                    let n = t * 50 + a;
                    let client = http_from(&format!("127.0.{}.{}", 10 + n / 200, 1 + n % 200));
                    for i in 0..20 {
                        let login = format!("{n:04}-{i:02}-{}", "x".repeat(80));
                        let status = ui_login(&client, server, &login, "guess");
                        assert!(matches!(status, 401 | 429), "{status}");
                    }
                }
            });
        }
    });
    eprintln!("flood: {:?}", started.elapsed());
    // Then wrong passwords for bob from four fresh addresses, ten each
    // (under the per-address limit): the login's own limit refuses them.
    let mut statuses = Vec::new();
    for a in 1..=4 {
        let client = http_from(&format!("127.0.20.{a}"));
        for _ in 0..10 {
            statuses.push(ui_login(&client, &server, "bob", "wrong"));
        }
    }
    let first_refused = statuses.iter().position(|s| *s == 429);
    assert!(
        first_refused.is_some_and(|i| i <= 5),
        "the sixth wrong password at the latest is refused: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| matches!(s, 401 | 429)),
        "{statuses:?}"
    );
    // Even the right password waits out the window.
    let client = http_from("127.0.20.9");
    assert_eq!(ui_login(&client, &server, "bob", "bob-password"), 429);
}
