//! What operators rely on when something goes wrong, through the real
//! binary: request ids that tie a user's error report to the server's log
//! lines, start-up that fails at once when S3 credentials are missing,
//! `config check`, and `fsck` and `gc` on a deliberately broken store.

use std::time::{Duration, Instant};

use berth_testkit::{http, Server};

/// Waits until the server's log has a line containing `needle`.
#[track_caller]
fn log_lines_with(server: &Server, needle: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines: Vec<String> = server
            .log()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect();
        if !lines.is_empty() || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_request_id_reaches_the_response_the_error_body_and_the_log() {
    let server = Server::start();

    // The client's id is kept: in the header, at the end of the detail
    // cargo prints, and on the server's log lines for the request.
    let r = server
        .request(reqwest::Method::GET, "/r/main/api/v1/crates/nothere/owners")
        .header("X-Request-Id", "ci-run-42.step:7")
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["x-request-id"], "ci-run-42.step:7");
    assert_eq!(
        r.text().unwrap(),
        r#"{"errors":[{"detail":"crate `nothere` does not exist (request id: ci-run-42.step:7)"}]}"#
    );
    let lines = log_lines_with(&server, "ci-run-42.step:7");
    assert!(
        lines.iter().any(|l| l.contains("404")),
        "no log line with the id and the status:\n{}",
        server.log()
    );

    // An id that is not sane (spaces, too long) is replaced by one the
    // server makes, used the same way.
    for bad in ["has spaces", &"x".repeat(129), "quote\"d"] {
        let r = server
            .request(reqwest::Method::GET, "/r/main/api/v1/crates/nothere/owners")
            .header("X-Request-Id", bad)
            .send()
            .unwrap();
        let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
        assert_eq!(id.len(), 16, "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        let body = r.text().unwrap();
        assert!(
            body.ends_with(&format!(" (request id: {id})\"}}]}}")),
            "{body}"
        );
        assert!(!body.contains(bad), "{body}");
        assert!(!log_lines_with(&server, &id).is_empty(), "{}", server.log());
        assert!(!server.log().contains(bad));
    }

    // Successes carry an id too; their bodies are untouched.
    let r = http()
        .get(format!("{}/r/main/index/config.json", server.url))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-request-id"].len(), 16);
    assert!(!r.text().unwrap().contains("request id"));
}
