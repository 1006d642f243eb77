//! The audit log (issue 12): every change and every refused attempt is
//! recorded exactly once, `berth audit` filters and exports it, and the hash
//! chain makes `berth audit verify` find an edited or deleted entry, also
//! when three nodes append at once (PostgreSQL).

use std::collections::BTreeMap;

use berth_store::sqlx::{self, AnyPool};
use berth_testkit::{backend, crate_file, http_from, publish_raw, Backend, Server};
use reqwest::Method;
use serde_json::Value;

/// A server with these users (a token of each), the first of whom has
/// published `name` 1.0.0.
fn with_crate<const N: usize>(logins: [&str; N], name: &str) -> (Server, [String; N]) {
    let (server, tokens) = Server::with_users(logins);
    let k = crate_file(name, "1.0.0", "pub fn a() {}\n");
    assert_eq!(
        publish_raw(&server.url, &tokens[0], name, "1.0.0", &k),
        Some(200)
    );
    (server, tokens)
}

/// `berth audit verify`: `Ok(stdout)` or `Err(stderr)`.
fn verify(server: &Server) -> Result<String, String> {
    server.try_berth(&["audit", "verify"])
}

/// Runs SQL statements straight on the server's database (the tamperer).
fn tamper(server: &Server, statements: &[&str]) {
    let url = server.stores.database_url();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let pool = AnyPool::connect(&url).await.unwrap();
        for s in statements {
            sqlx::query(s).execute(&pool).await.unwrap();
        }
        pool.close().await;
    });
}

fn send(server: &Server, method: Method, path: &str, token: &str, body: Option<&str>) -> u16 {
    let mut req = server
        .request(method, path)
        .header("Authorization", token)
        .header("User-Agent", "audit-test/1");
    if let Some(b) = body {
        req = req
            .header("Content-Type", "application/json")
            .body(b.to_string());
    }
    req.send().unwrap().status().as_u16()
}

/// `(action, crate, version, outcome)` of a JSON row.
fn key(row: &Value) -> (String, String, String, String) {
    let s = |k: &str| row[k].as_str().unwrap_or("-").to_string();
    (s("action"), s("crate"), s("version"), s("outcome"))
}

#[test]
fn every_change_is_recorded_once_and_refusals_too() {
    let (server, [alice, bob]) = Server::with_users(["alice", "bob"]);
    let url = server.url.clone();
    let k1 = crate_file("logged", "1.0.0", "pub fn a() {}\n");
    let k2 = crate_file("logged", "1.1.0", "pub fn b() {}\n");
    assert_eq!(publish_raw(&url, &alice, "logged", "1.0.0", &k1), Some(200));
    assert_eq!(publish_raw(&url, &alice, "logged", "1.1.0", &k2), Some(200));
    let yank = "/r/main/api/v1/crates/logged/1.0.0/yank";
    let unyank = "/r/main/api/v1/crates/logged/1.0.0/unyank";
    let owners = "/r/main/api/v1/crates/logged/owners";
    // Refused: bob owns nothing yet.
    assert_eq!(send(&server, Method::DELETE, yank, &bob, None), 403);
    assert_eq!(send(&server, Method::DELETE, yank, &alice, None), 200);
    assert_eq!(send(&server, Method::PUT, unyank, &alice, None), 200);
    let users = Some(r#"{"users":["bob"]}"#);
    assert_eq!(send(&server, Method::PUT, owners, &alice, users), 200);
    assert_eq!(send(&server, Method::DELETE, owners, &bob, users), 200);
    // Refused: bob is no owner any more.
    assert_eq!(send(&server, Method::DELETE, yank, &bob, None), 403);

    let rows = server.audit_json(&[]);
    let mut counts: BTreeMap<(String, String, String, String), usize> = BTreeMap::new();
    for r in &rows {
        *counts.entry(key(r)).or_default() += 1;
    }
    let k = |a: &str, c: &str, v: &str, o: &str| (a.into(), c.into(), v.into(), o.into());
    let expected = BTreeMap::from([
        (k("server.start", "-", "-", "ok"), 1),
        (k("user.create", "-", "-", "ok"), 2),
        (k("token.create", "-", "-", "ok"), 2),
        (k("publish", "logged", "1.0.0", "ok"), 1),
        (k("publish", "logged", "1.1.0", "ok"), 1),
        (k("yank", "logged", "1.0.0", "denied"), 2),
        (k("yank", "logged", "1.0.0", "ok"), 1),
        (k("unyank", "logged", "1.0.0", "ok"), 1),
        (k("owner.add", "logged", "-", "ok"), 1),
        (k("owner.remove", "logged", "-", "ok"), 1),
    ]);
    assert_eq!(counts, expected, "{rows:#?}");
    // Refusals name the actor and the token they came with; requests
    // record the token, the client's address and its user agent.
    let denied: Vec<&Value> = rows.iter().filter(|r| r["outcome"] == "denied").collect();
    assert!(denied.iter().all(|r| r["actor"] == "bob"));
    for r in &rows {
        let over_http = !r["crate"].is_null();
        assert_eq!(r["token_id"].is_i64(), over_http, "{r}");
        if over_http {
            assert_eq!(r["client_addr"], "127.0.0.1", "{r}");
        }
        let by_send = ["yank", "unyank", "owner.add", "owner.remove"];
        if by_send.contains(&r["action"].as_str().unwrap()) {
            assert_eq!(r["user_agent"], "audit-test/1", "{r}");
        }
    }
    // Ids run 1, 2, ... and every row is chained to the one before.
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["id"], i as i64 + 1);
        let prev = if i == 0 {
            &Value::Null
        } else {
            &rows[i - 1]["hash"]
        };
        assert_eq!(&r["prev_hash"], prev);
    }

    // The configuration the node started with is on record.
    let start = &rows[0];
    assert_eq!(start["action"], "server.start");
    assert!(
        start["detail"].as_str().unwrap().contains("[[registries]]"),
        "{start}"
    );

    // Filters.
    let publishes = server.audit_json(&["--actor", "alice", "--action", "publish"]);
    assert_eq!(publishes.len(), 2);
    let by_bob = server.audit_json(&["--actor", "bob", "--crate", "logged"]);
    assert_eq!(by_bob.len(), 3, "two refusals and bob's owner.remove");
    assert_eq!(
        server.audit_json(&["--since", "2000-01-01"]).len(),
        rows.len()
    );
    assert!(server.audit_json(&["--since", "2999-01-01"]).is_empty());
    assert_eq!(
        server.audit_json(&["--since-secs", "3600"]).len(),
        rows.len()
    );
    let text = server.try_berth(&["audit", "--crate", "logged", "--action", "unyank"]);
    let text = text.unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("alice\tmain\tunyank\tlogged@1.0.0\tok"),
        "{text}"
    );
    let bad = server
        .try_berth(&["audit", "--action", "nonsense"])
        .unwrap_err();
    assert!(bad.contains("nonsense"), "{bad}");

    let ok = verify(&server).unwrap();
    assert!(
        ok.contains(&format!("audit log intact: {} entries", rows.len())),
        "{ok}"
    );

    // The management API serves the same to server administrators only.
    server.add_user("root", true);
    let root = server.token("root", &[]);
    let api = |token: Option<&str>, query: &str| {
        let mut req = server.request(Method::GET, &format!("/api/v1/audit{query}"));
        if let Some(t) = token {
            req = req.header("Authorization", t);
        }
        let r = req.send().unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    assert_eq!(api(None, "").0, 401);
    assert_eq!(api(Some(&alice), "").0, 403);
    let (status, body) = api(Some(&root), "?actor=alice&action=publish");
    assert_eq!(status, 200, "{body}");
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, publishes);
    let (status, body) = api(Some(&root), "?after=2&limit=3");
    assert_eq!(status, 200, "{body}");
    let ids: Vec<i64> = body
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(ids, [3, 4, 5]);
    assert_eq!(api(Some(&root), "?action=nonsense").0, 400);
}

#[test]
fn verify_names_an_edited_or_a_deleted_entry() {
    let (server, [alice]) = Server::with_users(["alice"]);
    for v in ["1.0.0", "1.0.1", "1.0.2"] {
        let k = crate_file("chained", v, "pub fn a() {}\n");
        assert_eq!(
            publish_raw(&server.url, &alice, "chained", v, &k),
            Some(200)
        );
    }
    let rows = server.audit_json(&[]);
    assert_eq!(rows.len(), 6, "server.start, user, token, 3 publishes");
    verify(&server).unwrap();

    // Edit entry 3 (a publish): found, and named.
    let detail = rows[2]["detail"].as_str().unwrap().to_string();
    tamper(
        &server,
        &["UPDATE audit_log SET detail = 'cksum=0 size=0' WHERE id = 3"],
    );
    let err = verify(&server).unwrap_err();
    assert!(
        err.contains("audit entry 3 was changed after it was written"),
        "{err}"
    );
    // Put it back: intact again.
    tamper(
        &server,
        &[&format!(
            "UPDATE audit_log SET detail = '{detail}' WHERE id = 3"
        )],
    );
    verify(&server).unwrap();

    // Delete entry 4 from the middle: the entry after the gap is named.
    tamper(&server, &["DELETE FROM audit_log WHERE id = 4"]);
    let err = verify(&server).unwrap_err();
    assert!(
        err.contains("audit entry 5 follows entry 3: entry 4 is missing"),
        "{err}"
    );
    // Renumbering to hide the gap breaks the chain instead.
    tamper(&server, &["UPDATE audit_log SET id = 4 WHERE id = 5"]);
    let err = verify(&server).unwrap_err();
    assert!(
        err.contains("audit entry 4 does not chain to entry 3"),
        "{err}"
    );
}

#[test]
fn concurrent_writers_leave_one_unbroken_chain() {
    let n1 = Server::start();
    let token = n1.user_with_token("alice");
    let intruder = n1.user_with_token("mallory");
    // Three nodes over PostgreSQL; SQLite allows one node, so there its
    // writers are three threads on it plus the command line.
    let others: Vec<Server> = if backend() == Backend::Sqlite {
        Vec::new()
    } else {
        vec![n1.another_node(), n1.another_node()]
    };
    let urls: Vec<String> = match others.as_slice() {
        [] => vec![n1.url.clone(); 3],
        [n2, n3] => vec![n1.url.clone(), n2.url.clone(), n3.url.clone()],
        _ => unreachable!(),
    };
    let per_writer = 8;
    std::thread::scope(|s| {
        for (w, url) in urls.iter().enumerate() {
            let (token, intruder) = (&token, &intruder);
            s.spawn(move || {
                for i in 0..per_writer {
                    let name = format!("conc{w}x{i}");
                    let k = crate_file(&name, "0.1.0", "pub fn c() {}\n");
                    assert_eq!(publish_raw(url, token, &name, "0.1.0", &k), Some(200));
                    // A refused yank by someone who owns nothing.
                    let r = berth_testkit::http()
                        .delete(format!("{url}/r/main/api/v1/crates/{name}/0.1.0/yank"))
                        .header("Authorization", intruder)
                        .send()
                        .unwrap();
                    assert_eq!(r.status(), 403);
                }
            });
        }
        // And the command line appends at the same time.
        s.spawn(|| {
            for i in 0..4 {
                n1.add_user(&format!("cli{i}"), false);
            }
        });
    });
    let rows = n1.audit_json(&[]);
    let writes = 3 * per_writer * 2;
    let starts = 1 + others.len();
    assert_eq!(
        rows.len(),
        starts + 4 + writes + 4,
        "node starts, users, tokens, writes, CLI users"
    );
    let ok = verify(&n1).unwrap();
    assert!(
        ok.contains(&format!("audit log intact: {} entries", rows.len())),
        "{ok}"
    );
}

#[test]
fn one_caller_repeating_a_refused_request_is_recorded_at_a_bounded_rate() {
    let (server, [alice, mallory]) = with_crate(["alice", "mallory"], "guarded");
    // The budget is per clock minute (Unix time / 60): start the loop early
    // in a minute so that it ends within the same one.
    early_in_a_minute(45);
    // Mallory, not an owner, tries to yank 100 times within a few seconds.
    let path = "/r/main/api/v1/crates/guarded/1.0.0/yank";
    let minute = unix() / 60;
    for _ in 0..100 {
        assert_eq!(send(&server, Method::DELETE, path, &mallory, None), 403);
    }
    assert_eq!(unix() / 60, minute, "100 refusals took over 14 s");
    let rows = server.audit_json(&["--actor", "mallory", "--action", "yank"]);
    let cap = berth_store::REFUSALS_PER_CALLER_MINUTE as usize;
    // Each refusal is answered; only the per-minute budget is written, and
    // the last row written says that more were not.
    assert_eq!(rows.len(), cap, "rows for 100 refusals in one minute");
    assert!(rows.iter().all(|r| r["outcome"] == "denied"));
    let last = rows.last().unwrap()["detail"].as_str().unwrap().to_string();
    assert!(last.contains("further refusals of user mallory"), "{last}");
    // Other callers' refusals are still recorded, and so are changes.
    assert_eq!(send(&server, Method::DELETE, path, "berth_nope", None), 401);
    assert_eq!(send(&server, Method::DELETE, path, &alice, None), 200);
    let yanks = server.audit_json(&["--actor", "alice", "--action", "yank"]);
    assert_eq!(yanks.len(), 1);
    assert_eq!(verify(&server).map(|_| ()), Ok(()));
}

#[test]
fn verify_refuses_unchained_rows_after_the_chain_began() {
    let (server, _) = with_crate(["alice"], "unchained");
    let ok = verify(&server).unwrap();
    let head = ok.rsplit("head ").next().unwrap().trim().to_string();

    // A forged entry with id 0 and no hash, before the whole chain.
    tamper(
        &server,
        &["INSERT INTO audit_log (id, at, action, outcome) VALUES (0, 0, 'yank', 'ok')"],
    );
    let err = verify(&server).unwrap_err();
    assert!(
        err.contains("audit entry 0 has id 0, but audit ids start at 1"),
        "{err}"
    );
    // A negative id too.
    tamper(&server, &["UPDATE audit_log SET id = -5 WHERE id = 0"]);
    let err = verify(&server).unwrap_err();
    assert!(err.contains("audit entry -5 has id -5"), "{err}");
    tamper(&server, &["DELETE FROM audit_log WHERE id = -5"]);
    let ok = verify(&server).unwrap();
    assert!(ok.ends_with(&format!("head {head}\n")), "{ok}");

    // Every hash removed, then an entry edited: this log was chained from
    // its first entry on, so the first entry is named.
    tamper(
        &server,
        &[
            "UPDATE audit_log SET hash = NULL, prev_hash = NULL",
            "UPDATE audit_log SET detail = 'nothing happened' WHERE id = 4",
        ],
    );
    let err = verify(&server).unwrap_err();
    assert!(
        err.contains("audit entry 1 has no hash, but every entry of this log is chained"),
        "{err}"
    );
}

#[test]
fn verify_finds_the_start_of_the_chain_removed() {
    let (server, _) = with_crate(["alice"], "headless");
    verify(&server).unwrap();
    // The first two entries deleted, and the next one made to look like
    // the start of the chain (its prev_hash cleared): still found.
    tamper(
        &server,
        &[
            "DELETE FROM audit_log WHERE id <= 2",
            "UPDATE audit_log SET prev_hash = NULL WHERE id = 3",
        ],
    );
    let err = verify(&server).unwrap_err();
    assert!(
        err.contains(
            "audit entry 3 is the first chained entry, but the chain begins at entry 1: \
             entries 1 to 2 are missing"
        ),
        "{err}"
    );
    // Rows made to look as if they came from before the chain are refused
    // by the boundary the migration recorded.
    tamper(
        &server,
        &["INSERT INTO audit_log (id, at, action, outcome) VALUES (1, 0, 'yank', 'ok')"],
    );
    let err = verify(&server).unwrap_err();
    assert!(err.contains("audit entry 1 has no hash"), "{err}");
}

/// Seconds since the Unix epoch.
fn unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Waits for the next clock minute unless at most `latest` seconds of
/// this one have gone.
fn early_in_a_minute(latest: u64) {
    if unix() % 60 > latest {
        std::thread::sleep(std::time::Duration::from_secs(61 - unix() % 60));
    }
}

/// Alice's crate `guarded`, then `flood` (which fills the minute's
/// refusal rows as an attacker can), then mallory's refused yank of it:
/// that refusal is in the log all the same.
fn flood_then_denied_yank(flood: impl FnOnce(&Server)) {
    let (server, [_, mallory]) = with_crate(["alice", "mallory"], "guarded");
    // The budget is per clock minute: flood and yank within one.
    early_in_a_minute(40);
    flood(&server);
    let path = "/r/main/api/v1/crates/guarded/1.0.0/yank";
    assert_eq!(send(&server, Method::DELETE, path, &mallory, None), 403);
    let rows = server.audit_json(&["--action", "yank"]);
    let keys: Vec<_> = rows.iter().map(|r| (key(r), r["actor"].clone())).collect();
    assert_eq!(
        keys,
        [(
            (
                "yank".to_string(),
                "guarded".to_string(),
                "1.0.0".to_string(),
                "denied".to_string()
            ),
            Value::from("mallory")
        )]
    );
    assert_eq!(verify(&server).map(|_| ()), Ok(()));
}

#[test]
fn many_restricted_tokens_of_one_user_never_keep_a_refusal_out_of_the_log() {
    flood_then_denied_yank(|server| {
        // 45 tokens limited to addresses this client is not at, each used
        // 31 times: more than the minute's rows in all, before each user
        // had a budget.
        let tokens: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..5)
                .map(|_| {
                    s.spawn(|| {
                        (0..9)
                            .map(|_| server.token("mallory", &["--allow-cidr", "10.0.0.0/8"]))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        assert_eq!(tokens.len(), 45);
        std::thread::scope(|s| {
            for chunk in tokens.chunks(9) {
                s.spawn(move || {
                    for t in chunk {
                        for _ in 0..31 {
                            assert_eq!(
                                send(server, Method::GET, "/api/v1/me/tokens", t, None),
                                403
                            );
                        }
                    }
                });
            }
        });
        let rows = server.audit_json(&["--action", "token.restricted"]);
        let cap = berth_store::REFUSALS_PER_CALLER_MINUTE as usize;
        assert!(rows.len() <= 2 * cap, "{} rows for one user", rows.len());
    });
}

#[test]
fn failed_authentications_from_many_addresses_never_keep_a_refusal_out_of_the_log() {
    flood_then_denied_yank(|server| {
        // 48 addresses, 26 unknown tokens each (under the address and
        // prefix throttles): more rows than the minute's budget in all.
        std::thread::scope(|s| {
            for t in 0..6 {
                s.spawn(move || {
                    for a in 0..8 {
                        let n = t * 8 + a;
                        let client = http_from(&format!("127.0.30.{}", n + 1));
                        for i in 0..26 {
                            let status = client
                                .get(format!("{}/api/v1/me/tokens", server.url))
                                .header("Authorization", format!("berth_{n:06}{i:040}"))
                                .send()
                                .unwrap()
                                .status()
                                .as_u16();
                            assert_eq!(status, 401);
                        }
                    }
                });
            }
        });
    });
}

/// Signs in on the web UI as a browser would (the login form's CSRF cookie
/// and field); the status of the form's answer (303 on success).
fn web_sign_in(server: &Server, login: &str, password: &str) -> u16 {
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client.get(format!("{}/login", server.url)).send().unwrap();
    let cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("; ");
    let html = page.text().unwrap();
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    let csrf = html[at..].split('"').next().unwrap();
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("csrf", csrf), ("login", login), ("password", password)])
        .finish();
    client
        .post(format!("{}/login", server.url))
        .header("Cookie", cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("User-Agent", "audit-test/1")
        .body(body)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

/// Every class of refusal writes a `denied` row naming who and why, and a
/// web sign-in writes one whether it succeeds or fails (issue 26). The text
/// output keeps one row per line although a node's start row holds its
/// whole configuration.
#[test]
fn every_refusal_class_and_every_web_sign_in_is_recorded() {
    let server = Server::start_with_config(
        "[[registries]]\nname = \"main\"\n\n[[registries]]\nname = \"vault\"\nprivate = true\n\n\
         [[registries]]\nname = \"other\"\n",
    );
    server.add_user("alice", false);
    server.add_user("bob", false);
    server.set_password("alice", "alice-password");
    let alice = server.token("alice", &[]);
    let bob = server.token("bob", &[]);
    let url = server.url.clone();
    let k = crate_file("guarded", "1.0.0", "pub fn g() {}\n");
    assert_eq!(publish_raw(&url, &alice, "guarded", "1.0.0", &k), Some(200));
    let k2 = crate_file("guarded", "1.1.0", "pub fn g() {}\n");

    // Each refusal class, with the detail its row must carry.
    let read_only = server.token("alice", &["--name", "ro", "--scope", "read"]);
    assert_eq!(
        publish_raw(&url, &read_only, "guarded", "1.1.0", &k2),
        Some(403)
    );
    let new_only = server.token("alice", &["--name", "new", "--scope", "publish-new"]);
    assert_eq!(
        publish_raw(&url, &new_only, "guarded", "1.1.0", &k2),
        Some(403)
    );
    let patterns = server.token("alice", &["--name", "zz", "--crates", "zzz-*"]);
    assert_eq!(
        publish_raw(&url, &patterns, "guarded", "1.1.0", &k2),
        Some(403)
    );
    assert_eq!(publish_raw(&url, &bob, "guarded", "1.1.0", &k2), Some(403));
    let other_reg = server.token("alice", &["--name", "oth", "--registry", "other"]);
    assert_eq!(
        publish_raw(&url, &other_reg, "guarded", "1.1.0", &k2),
        Some(403)
    );
    assert_eq!(
        send(
            &server,
            Method::GET,
            "/r/vault/index/config.json",
            &bob,
            None
        ),
        403
    );
    let owners = "/r/main/api/v1/crates/guarded/owners";
    let users = Some(r#"{"users":["bob"]}"#);
    assert_eq!(send(&server, Method::PUT, owners, &bob, users), 403);
    let yank = "/r/main/api/v1/crates/guarded/1.0.0/yank";
    assert_eq!(send(&server, Method::DELETE, yank, &bob, None), 403);
    let wider = Some(r#"{"name":"wider","scopes":["publish-new"]}"#);
    assert_eq!(
        send(
            &server,
            Method::POST,
            "/api/v1/me/tokens",
            &read_only,
            wider
        ),
        403
    );
    let unknown = format!("berth_{}", "A".repeat(40));
    assert_eq!(
        send(
            &server,
            Method::GET,
            "/r/main/index/config.json",
            &unknown,
            None
        ),
        401
    );
    // Web sign-ins: a wrong password, an unknown login, then success.
    assert_eq!(web_sign_in(&server, "alice", "wrong-password"), 401);
    assert_eq!(web_sign_in(&server, "nobody", "wrong-password"), 401);
    assert_eq!(web_sign_in(&server, "alice", "alice-password"), 303);

    // The background write of a read refusal lands within a moment.
    let mut rows = Vec::new();
    for _ in 0..50 {
        rows = server.audit_json(&[]);
        if rows.iter().any(|r| r["action"] == "access.denied") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let seen: Vec<String> = rows
        .iter()
        .filter(|r| r["outcome"] == "denied" || r["action"] == "session.login")
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or("-").to_string();
            format!(
                "{} {} {} {} {}",
                s("action"),
                s("outcome"),
                s("actor"),
                s("registry"),
                s("detail")
            )
        })
        .collect();
    let prefix = unknown[..12].to_string();
    let expected = [
        "publish denied alice main token lacks publish-new and publish-update".to_string(),
        "publish denied alice main token lacks publish-update".into(),
        "publish denied alice main token limited to crates `zzz-*`".into(),
        "publish denied bob main not an owner".into(),
        "token.restricted denied alice main token restricted to registry other".into(),
        "access.denied denied bob vault no `read` role in this private registry".into(),
        "owner.add denied bob main not an owner".into(),
        "yank denied bob main not an owner".into(),
        "token.create denied alice - the new token would have scopes (read,publish-new) that this \
         token (read) lacks"
            .into(),
        format!(
            "auth.failure denied - - token prefix `{prefix}`: the token is not valid: it is \
             unknown, revoked or expired; create a new one with `berth token create` and run \
             `cargo login`"
        ),
        "session.login denied alice - wrong login or password".into(),
        "session.login denied - - wrong login or password (login `nobody`)".into(),
        "session.login ok alice - web sign-in".into(),
    ];
    assert_eq!(seen, expected, "{rows:#?}");
    // Web sign-ins come with the browser's address and user agent.
    for r in rows.iter().filter(|r| r["action"] == "session.login") {
        assert_eq!(r["client_addr"], "127.0.0.1", "{r}");
        assert_eq!(r["user_agent"], "audit-test/1", "{r}");
    }

    // The text output: one line per row, eight tab-separated fields, the
    // start row's configuration with its newlines escaped.
    let text = server.try_berth(&["audit"]).unwrap();
    assert_eq!(text.lines().count(), rows.len(), "{text}");
    for line in text.lines() {
        assert_eq!(line.split('\t').count(), 8, "{line}");
    }
    let start = text.lines().next().unwrap();
    assert!(
        start.contains("server.start") && start.contains("[[registries]]\\nname"),
        "{start}"
    );
}
