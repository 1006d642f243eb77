//! Webhooks end to end against a receiver the test starts on loopback: a
//! URL outside `[webhooks] allowed_targets` is refused when added; every
//! publish, yank and unyank arrives signed (HMAC-SHA256 over the timestamp
//! and the body, checked here with its own HMAC), in order per crate, at
//! least once, although the receiver is down during a burst; a refused
//! publish sends nothing; a node killed with deliveries pending leaves them
//! to the next node (another node on PostgreSQL, a restart on SQLite).

use std::time::Duration;

use berth_testkit::{backend, Backend, Launch, PublishBuilder, Received, Receiver, Server, Stores};
use serde_json::Value;
use sha2::{Digest, Sha256};

#[path = "support/browser.rs"]
mod browser;
use browser::{csrf, Browser};

const SECRET: &str = "webhook-secret-for-tests";
const CONFIG: &str = "[webhooks]\nallowed_targets = [\"127.0.0.1\"]\n";

/// HMAC-SHA256 (RFC 2104), written out here so that the server's
/// signatures are checked against an implementation of the test's own.
fn hmac_sha256(key: &[u8], message: &[u8]) -> String {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    let outer = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

fn server() -> Server {
    let launch = Launch {
        env: vec![("HOOK_SECRET".into(), SECRET.into())],
        ..Launch::default()
    };
    Server::launch(Stores::new(), CONFIG, launch).unwrap_or_else(|log| panic!("{log}"))
}

/// Events received, each once (by its id), in the order first received.
fn events(received: &[Received]) -> Vec<Value> {
    let mut seen = std::collections::HashSet::new();
    received
        .iter()
        .map(Received::json)
        .filter(|e| seen.insert(e["id"].as_str().unwrap().to_string()))
        .collect()
}

fn versions_of(events: &[Value], krate: &str, event: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["crate"] == krate && e["event"] == event)
        .map(|e| e["version"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn a_receiver_outside_the_allowed_targets_is_refused() {
    let server = server();
    for url in [
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://hooks.example.internal/x",
    ] {
        let e = server
            .try_berth(&["webhook", "add", "--url", url, "--events", "publish"])
            .unwrap_err();
        assert!(
            e.contains("is not an allowed webhook target") && e.contains("allowed_targets"),
            "{url}: {e}"
        );
    }
    let e = server
        .try_berth(&[
            "webhook",
            "add",
            "--url",
            "http://127.0.0.1:9/x",
            "--events",
            "publish,fly",
        ])
        .unwrap_err();
    assert!(e.contains("unknown event `fly`"), "{e}");
    let out = server
        .try_berth(&[
            "webhook",
            "add",
            "--url",
            "http://127.0.0.1:9/x",
            "--events",
            "yank",
        ])
        .unwrap();
    assert!(out.contains("webhook 1 added"), "{out}");
    assert!(server
        .try_berth(&["webhook", "list"])
        .unwrap()
        .contains("http://127.0.0.1:9/x\tyank"));
    assert!(server
        .audit_json(&[])
        .iter()
        .any(|r| r["action"] == "webhook.add"));
}

#[test]
fn deliveries_are_signed_ordered_and_survive_a_receiver_and_a_node_going_down() {
    let mut receiver = Receiver::start();
    let mut server = server();
    let token = server.user_with_token("alice");
    let added = server
        .try_berth(&[
            "webhook",
            "add",
            "--url",
            &receiver.url("/hook"),
            "--events",
            "publish,yank,unyank",
            "--registry",
            "main",
            "--secret-env",
            "HOOK_SECRET",
        ])
        .unwrap();
    assert!(
        added.contains("signed with the secret in $HOOK_SECRET"),
        "{added}"
    );

    // A publish, then a ping.
    let r = server.publish(Some(&token), PublishBuilder::new("alpha", "1.0.0").body());
    assert_eq!(r.status, 200, "{}", r.text);
    server.try_berth(&["webhook", "test", "1"]).unwrap();
    let got = receiver.wait_for(Duration::from_secs(30), |r| r.len() >= 2);
    assert_eq!(got.len(), 2, "{got:?}");
    // Different crates' events (and pings) go out side by side.
    let first = got
        .iter()
        .find(|r| r.json()["event"] == "publish")
        .expect("the publish");
    let body = first.json();
    assert_eq!(body["event"], "publish");
    assert_eq!(body["crate"], "alpha");
    assert_eq!(body["version"], "1.0.0");
    assert_eq!(body["registry"], "main");
    assert_eq!(body["actor"], "alice");
    assert_eq!(first.headers["x-berth-event"], "publish");
    let ts = &first.headers["x-berth-timestamp"];
    let message = format!("{ts}.{}", first.body);
    assert_eq!(
        first.headers["x-berth-signature"],
        format!(
            "sha256={}",
            hmac_sha256(SECRET.as_bytes(), message.as_bytes())
        )
    );
    assert!(got.iter().any(|r| r.json()["event"] == "ping"), "{got:?}");

    // The receiver goes down during a burst: yanks and publishes of two
    // crates, and a refused publish (a version that exists).
    receiver.stop();
    for v in 1..=6 {
        let r = server.publish(
            Some(&token),
            PublishBuilder::new("beta", &format!("1.0.{v}")).body(),
        );
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let again = server.publish(Some(&token), PublishBuilder::new("beta", "1.0.3").body());
    assert!(again.status >= 400, "{}", again.text);
    for path in [
        "/r/main/api/v1/crates/beta/1.0.2/yank",
        "/r/main/api/v1/crates/alpha/1.0.0/yank",
    ] {
        let r = server
            .request(reqwest::Method::DELETE, path)
            .header("Authorization", &token)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
    }
    let r = server
        .request(
            reqwest::Method::PUT,
            "/r/main/api/v1/crates/beta/1.0.2/unyank",
        )
        .header("Authorization", &token)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // The failures are retried, not lost: they show as failing.
    let failing = (0..100)
        .find_map(|_| {
            let out = server
                .try_berth(&["webhook", "deliveries", "--failed", "--json"])
                .unwrap();
            if out.lines().count() > 0 {
                return Some(out);
            }
            std::thread::sleep(Duration::from_millis(100));
            None
        })
        .expect("failing deliveries are listed");
    assert!(failing.contains("\"state\":\"pending\""), "{failing}");

    // The node dies with the deliveries pending (some of them leased to
    // it); the receiver comes back; the next node, its clock two minutes
    // on (past the dead node's leases and the retries' backoff, instead of
    // waiting for them), sends them.
    server.kill();
    receiver.restart();
    let later = berth_core::clock::TEST_CLOCK_OFFSET_VAR;
    let next = match backend() {
        Backend::Sqlite => {
            server.restart_with_env(later, "120");
            None
        }
        _ => {
            let launch = Launch {
                env: vec![
                    ("HOOK_SECRET".into(), SECRET.into()),
                    (later.into(), "120".into()),
                ],
                ..Launch::default()
            };
            Some(
                Server::launch(server.stores.clone(), CONFIG, launch)
                    .unwrap_or_else(|log| panic!("{log}")),
            )
        }
    };
    let wanted = 2 + 6 + 3;
    let got = receiver.wait_for(Duration::from_secs(60), |r| events(r).len() >= wanted);
    let events = events(&got);
    assert_eq!(events.len(), wanted, "{events:#?}");
    assert_eq!(
        versions_of(&events, "beta", "publish"),
        ["1.0.1", "1.0.2", "1.0.3", "1.0.4", "1.0.5", "1.0.6"],
        "every publish once, in order, none for the refused one"
    );
    // Per crate, in the order they happened.
    let beta: Vec<(String, String)> = events
        .iter()
        .filter(|e| e["crate"] == "beta")
        .map(|e| {
            (
                e["event"].as_str().unwrap().to_string(),
                e["version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let yank = beta
        .iter()
        .position(|e| e == &("yank".into(), "1.0.2".into()));
    let unyank = beta
        .iter()
        .position(|e| e == &("unyank".into(), "1.0.2".into()));
    assert!(
        yank.is_some_and(|y| y == 6) && unyank == Some(7),
        "{beta:?}"
    );
    assert_eq!(versions_of(&events, "alpha", "yank"), ["1.0.0"]);
    // Every delivery is done: a send's outcome is written with the
    // sending loop's next round, a moment after the receiver has it.
    let start = std::time::Instant::now();
    loop {
        let all = server.json_lines(&["webhook", "deliveries", "--json"]);
        let done = all.iter().filter(|d| d["state"] == "done").count();
        if (done, all.len()) == (wanted, wanted) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "not all done: {all:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // The admin page lists them and sends one again: the receiver gets
    // the same event (same id) a second time.
    let node = next.as_ref().unwrap_or(&server);
    node.add_user("root", true);
    node.set_password("root", "root-password");
    let mut b = Browser::new(node);
    b.login("root", "root-password");
    let page = b.get("/admin/webhooks", 200).text;
    assert!(page.contains(&receiver.url("/hook")), "{page}");
    assert_eq!(
        page.matches("class=\"delivery-done\"").count(),
        wanted,
        "{page}"
    );
    let token = csrf(&page);
    let before = receiver.received().len();
    let r = b.post(
        "/admin/webhooks",
        &[("csrf", &token), ("delivery", "1")],
        200,
    );
    assert!(r.text.contains("Delivery 1 is queued again."), "{}", r.text);
    let got = receiver.wait_for(Duration::from_secs(30), |r| r.len() > before);
    let again = got.last().unwrap().json();
    let copies = got.iter().filter(|r| r.json()["id"] == again["id"]).count();
    assert_eq!(copies, 2, "the redelivered event arrived before: {again}");
}

#[test]
fn a_receiver_that_never_answers_holds_up_no_other() {
    let stalled = berth_testkit::Fixture::on("127.0.0.1");
    stalled.set(berth_testkit::Mode::Stall);
    let receiver = Receiver::start();
    let server = server();
    let token = server.user_with_token("alice");
    for url in [format!("{}/hook", stalled.url), receiver.url("/hook")] {
        server
            .try_berth(&["webhook", "add", "--url", &url, "--events", "publish"])
            .unwrap();
    }
    for v in 1..=3 {
        let r = server.publish(
            Some(&token),
            PublishBuilder::new("gamma", &format!("0.{v}.0")).body(),
        );
        assert_eq!(r.status, 200, "{}", r.text);
    }
    // The stalled receiver holds its first delivery (until the send's
    // 10 s timeout); the other receiver gets all three meanwhile: when it
    // has them, the stalled delivery has not even failed once yet.
    let got = receiver.wait_for(Duration::from_secs(30), |r| r.len() >= 3);
    assert_eq!(
        versions_of(&events(&got), "gamma", "publish"),
        ["0.1.0", "0.2.0", "0.3.0"]
    );
    let deliveries = server.json_lines(&["webhook", "deliveries", "--json"]);
    let stalled_first = deliveries
        .iter()
        .filter(|d| d["webhook_id"] == 1)
        .min_by_key(|d| d["id"].as_i64())
        .unwrap();
    assert_eq!(stalled_first["state"], "pending", "{deliveries:?}");
    assert_eq!(stalled_first["attempts"], 0, "{deliveries:?}");
}
