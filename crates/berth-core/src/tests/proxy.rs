//! Proxy revalidation and stale serving, in process, against
//! `berth-testkit`'s fixture upstream over real HTTP on loopback: an index
//! file is trusted for `index_ttl_secs` (in memory and in the database),
//! then asked again; an upstream that fails is covered by the stored copy,
//! asked again after a short pause; what the upstream got wrong is named,
//! word for word, in the 502 the caller gets. The clock moves instead of
//! the test sleeping.

use std::time::Duration;

use berth_testkit::{crate_file, sha256_hex, Answer, Fixture, Mode, DEFAULT_LIB};
use serde_json::json;

use crate::testing::*;
use crate::ServiceError;

const TTL: u64 = 60;

fn line(name: &str, vers: &str) -> String {
    format!(
        "{}\n",
        json!({"name": name, "vers": vers, "deps": [], "cksum": "0".repeat(64), "features": {}, "yanked": false})
    )
}

async fn server(up: &Fixture) -> TestBerth {
    server_with(up, "").await
}

async fn server_with(up: &Fixture, extra: &str) -> TestBerth {
    TestBerth::new(&format!(
        "{}{}",
        hosted("main"),
        proxy(
            "public",
            &up.index_url(),
            &format!("index_ttl_secs = {TTL}\nconnect_timeout_secs = 2\nupstream_timeout_secs = 5\n{extra}")
        )
    ))
    .await
}

const TOOL: &str = "/index/to/ol/tool";

fn tool_upstream() -> Fixture {
    let up = Fixture::on("127.0.0.1");
    up.answer(TOOL, Answer::ok(line("tool", "1.0.0")));
    up
}

/// A proxy over [`tool_upstream`] that has fetched `tool` once, with the
/// file it served.
async fn tool_fetched() -> (Fixture, TestBerth, String) {
    let up = tool_upstream();
    let t = server(&up).await;
    let first = t.index("public", None, "tool").await.unwrap();
    (up, t, first)
}

/// An upstream with `serde 1.0.0` (its `.crate`'s bytes) and a proxy of it.
async fn serde_proxy() -> (Vec<u8>, Fixture, TestBerth) {
    let bytes = crate_file("serde", "1.0.0", DEFAULT_LIB);
    let up = Fixture::start(&[("serde", "1.0.0", bytes.clone())]);
    let t = server(&up).await;
    (bytes, up, t)
}

/// The proxy's download of `serde` at `vers`.
async fn download_serde(t: &TestBerth, vers: &str) -> Result<crate::Download, ServiceError> {
    t.berth.download("public", None, "serde", vers, true).await
}

#[tokio::test]
async fn a_fresh_file_is_not_asked_again() {
    let (up, t, _) = tool_fetched().await;
    t.advance(Duration::from_secs(TTL - 1));
    t.index("public", None, "tool").await.unwrap();
    assert_eq!(up.hits(TOOL), 1);
}

#[tokio::test]
async fn a_file_past_its_ttl_is_asked_again() {
    let (up, t, _) = tool_fetched().await;
    t.advance(Duration::from_secs(TTL));
    t.index("public", None, "tool").await.unwrap();
    assert_eq!(up.hits(TOOL), 2);
}

#[tokio::test]
async fn an_upstream_change_shows_after_the_ttl_only() {
    let (up, t, _) = tool_fetched().await;
    up.answer(
        TOOL,
        Answer::ok(line("tool", "1.0.0") + &line("tool", "1.1.0")),
    );
    t.advance(Duration::from_secs(TTL / 2));
    assert_eq!(t.lines("public", "tool").await.len(), 1);
    t.advance(Duration::from_secs(TTL / 2));
    assert_eq!(t.lines("public", "tool").await.len(), 2);
}

#[tokio::test]
async fn the_stored_copy_is_trusted_for_its_ttl_after_a_restart() {
    let (up, t, _) = tool_fetched().await;
    forget_proxy_memory(&t, "public");
    t.advance(Duration::from_secs(TTL - 5));
    t.index("public", None, "tool").await.unwrap();
    assert_eq!(up.hits(TOOL), 1, "a fresh stored row was asked again");
    forget_proxy_memory(&t, "public");
    t.advance(Duration::from_secs(5));
    t.index("public", None, "tool").await.unwrap();
    assert_eq!(up.hits(TOOL), 2, "a stale stored row was not asked again");
}

#[tokio::test]
async fn a_down_upstream_is_covered_by_the_stored_copy() {
    let up = covered_by_the_stored_copy(Mode::Down).await;
    assert_eq!(up.hits(TOOL), 2, "the upstream was not tried");
}

#[tokio::test]
async fn a_failing_upstream_is_covered_by_the_stored_copy() {
    covered_by_the_stored_copy(Mode::Error).await;
}

/// Past the TTL, with the upstream in `mode`, the stored file is served.
async fn covered_by_the_stored_copy(mode: Mode) -> Fixture {
    let (up, t, first) = tool_fetched().await;
    up.set(mode);
    t.advance(Duration::from_secs(TTL + 1));
    assert_eq!(t.index("public", None, "tool").await.unwrap(), first);
    up
}

#[tokio::test]
async fn after_a_failure_the_upstream_is_asked_again_after_a_pause() {
    let (up, t, _) = tool_fetched().await;
    up.set(Mode::Error);
    t.advance(Duration::from_secs(TTL + 1));
    t.index("public", None, "tool").await.unwrap();
    assert_eq!(up.hits(TOOL), 2);
    // Within the pause: served from memory, not asked.
    t.advance(Duration::from_secs(29));
    t.index("public", None, "tool").await.unwrap();
    assert_eq!(up.hits(TOOL), 2);
    // After it: asked again, and a recovered upstream's answer is served.
    up.set(Mode::Normal);
    up.answer(
        TOOL,
        Answer::ok(line("tool", "1.0.0") + &line("tool", "2.0.0")),
    );
    t.advance(Duration::from_secs(1));
    assert_eq!(t.lines("public", "tool").await.len(), 2);
    assert_eq!(up.hits(TOOL), 3);
}

#[tokio::test]
async fn nothing_stored_and_a_down_upstream_is_a_bad_gateway() {
    let up = tool_upstream();
    let t = server(&up).await;
    up.set(Mode::Down);
    match t.index("public", None, "tool").await {
        Err(ServiceError::BadGateway(m)) => {
            assert!(m.contains("could not get `tool` from its upstream"), "{m}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_missing_crate_is_remembered_for_the_ttl() {
    let up = Fixture::on("127.0.0.1");
    let t = server(&up).await;
    not_found(t.index("public", None, "tool").await);
    up.answer(TOOL, Answer::ok(line("tool", "1.0.0")));
    t.advance(Duration::from_secs(TTL - 1));
    not_found(t.index("public", None, "tool").await);
    assert_eq!(up.hits(TOOL), 1);
    t.advance(Duration::from_secs(1));
    assert_eq!(t.lines("public", "tool").await.len(), 1);
}

#[tokio::test]
async fn an_offline_proxy_never_asks() {
    let up = tool_upstream();
    let t = server_with(&up, "offline = true").await;
    not_found(t.index("public", None, "tool").await);
    t.advance(Duration::from_secs(10 * TTL));
    not_found(t.index("public", None, "tool").await);
    assert!(up.asked().is_empty(), "{:?}", up.asked());
}

#[tokio::test]
async fn the_upstream_configuration_is_asked_once_per_ttl() {
    let (bytes, up, t) = serde_proxy().await;
    let d = download_serde(&t, "1.0.0").await.unwrap();
    assert_eq!(d.cksum, sha256_hex(&bytes));
    assert_eq!(d.size, bytes.len() as u64);
    assert_eq!(up.hits("/index/config.json"), 1);
    // A second version's download within the TTL reuses the configuration.
    let more = crate_file("serde", "1.0.1", DEFAULT_LIB);
    up.answer(
        "/index/se/rd/serde",
        Answer::ok(format!(
            "{}\n{}\n",
            json!({"name": "serde", "vers": "1.0.0", "deps": [], "cksum": sha256_hex(&bytes), "features": {}, "yanked": false}),
            json!({"name": "serde", "vers": "1.0.1", "deps": [], "cksum": sha256_hex(&more), "features": {}, "yanked": false})
        )),
    );
    up.answer(
        &format!("/dl/serde/1.0.1/{}", sha256_hex(&more)),
        Answer::ok(more.clone()),
    );
    t.advance(Duration::from_secs(TTL));
    download_serde(&t, "1.0.1").await.unwrap();
    assert_eq!(up.hits("/index/config.json"), 2);
}

#[tokio::test]
async fn a_cached_crate_is_served_with_the_upstream_down() {
    let (bytes, up, t) = serde_proxy().await;
    download_serde(&t, "1.0.0").await.unwrap();
    up.set(Mode::Down);
    t.advance(Duration::from_secs(TTL * 10));
    let d = download_serde(&t, "1.0.0").await.unwrap();
    assert_eq!(d.cksum, sha256_hex(&bytes));
    assert_eq!(up.hits("/dl/"), 1);
}

#[tokio::test]
async fn a_corrupt_crate_is_refused_and_not_cached() {
    let (bytes, up, t) = serde_proxy().await;
    up.set(Mode::Corrupt);
    match download_serde(&t, "1.0.0").await {
        Err(ServiceError::BadGateway(m)) => assert!(m.contains("does not match the sha256"), "{m}"),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("a corrupt crate was served"),
    }
    up.set(Mode::Normal);
    let d = download_serde(&t, "1.0.0").await.unwrap();
    assert_eq!(d.cksum, sha256_hex(&bytes));
}

/// The message of a 502, or a failed test.
#[track_caller]
fn bad_gateway<T>(r: Result<T, ServiceError>) -> String {
    match r {
        Err(ServiceError::BadGateway(m)) => m,
        Err(other) => panic!("expected a 502, got {other:?}"),
        Ok(_) => panic!("expected a 502, got an answer"),
    }
}

const COULD_NOT_GET_TOOL: &str = "registry `public` could not get `tool` from its upstream: ";

/// The 502 a proxy over an upstream that answers `tool`'s index file with
/// `body` gives.
async fn refusal_of_index(body: Vec<u8>) -> String {
    let up = Fixture::on("127.0.0.1");
    up.answer(TOOL, Answer::ok(body));
    let t = server(&up).await;
    bad_gateway(t.index("public", None, "tool").await)
}

#[tokio::test]
async fn an_upstream_error_status_is_named() {
    let up = tool_upstream();
    up.set(Mode::Error);
    let t = server(&up).await;
    let m = bad_gateway(t.index("public", None, "tool").await);
    assert_eq!(
        m,
        format!("{COULD_NOT_GET_TOOL}the upstream answered 500 Internal Server Error")
    );
}

#[tokio::test]
async fn an_index_file_that_is_not_utf8_is_refused() {
    let m = refusal_of_index(b"\xff\xfe\n".to_vec()).await;
    assert_eq!(
        m,
        format!("{COULD_NOT_GET_TOOL}the upstream's index file is not UTF-8")
    );
}

#[tokio::test]
async fn an_index_file_with_an_unusable_line_is_refused() {
    let m = refusal_of_index((line("tool", "1.0.0") + "{not json\n").into_bytes()).await;
    assert!(
        m.starts_with(&format!(
            "{COULD_NOT_GET_TOOL}the upstream's index file is unusable: "
        )),
        "{m}"
    );
}

#[tokio::test]
async fn an_index_file_for_another_crate_is_refused() {
    let m = refusal_of_index(line("tools", "1.0.0").into_bytes()).await;
    assert_eq!(
        m,
        format!("{COULD_NOT_GET_TOOL}the upstream's index file is for another crate")
    );
}

#[tokio::test]
async fn an_index_file_over_the_limit_is_refused_declared_or_not() {
    let big = line("tool", "1.0.0").repeat(20);
    assert!(big.len() > 1024);
    for answer in [Answer::ok(big.clone()), Answer::undeclared(big)] {
        let up = Fixture::on("127.0.0.1");
        up.answer(TOOL, answer);
        let t = TestBerth::new(&format!(
            "[limits]\nmax_index_file_bytes = 1024\n\n{}{}",
            hosted("main"),
            proxy("public", &up.index_url(), "")
        ))
        .await;
        let m = bad_gateway(t.index("public", None, "tool").await);
        assert_eq!(
            m,
            format!(
                "{COULD_NOT_GET_TOOL}the upstream's index file is larger than 1024 bytes \
                 (limits.max_index_file_bytes)"
            )
        );
    }
}

#[tokio::test]
async fn a_redirect_to_an_internal_host_is_not_followed() {
    let up = Fixture::on("127.0.0.1");
    up.answer(
        TOOL,
        Answer::redirect("http://127.0.0.1:1/index/to/ol/tool"),
    );
    let t = server(&up).await;
    let m = bad_gateway(t.index("public", None, "tool").await);
    assert_eq!(
        m,
        format!(
            "{COULD_NOT_GET_TOOL}the upstream redirected to another host `127.0.0.1:1`, which \
             is not a public address; not followed (list it in the proxy's \
             `upstream_allowed_hosts` if you trust it)"
        )
    );
}

#[tokio::test]
async fn a_missing_crate_file_names_the_version_and_the_status() {
    let (bytes, up, t) = serde_proxy().await;
    up.answer(
        &format!("/dl/serde/1.0.0/{}", sha256_hex(&bytes)),
        Answer::redirect("/nowhere"),
    );
    let m = bad_gateway(download_serde(&t, "1.0.0").await);
    assert_eq!(
        m,
        "registry `public` could not get serde@1.0.0 from its upstream: the upstream answered \
         404 Not Found"
    );
}

#[tokio::test]
async fn an_oversized_upstream_configuration_is_refused() {
    let (_, up, t) = serde_proxy().await;
    up.answer("/index/config.json", Answer::ok(vec![b' '; 64 * 1024 + 1]));
    let m = bad_gateway(download_serde(&t, "1.0.0").await);
    assert_eq!(
        m,
        "registry `public` cannot reach its upstream: the upstream's answer is larger than \
         65536 bytes"
    );
}

#[tokio::test]
async fn a_download_host_at_an_internal_address_is_not_used() {
    let (_, up, t) = serde_proxy().await;
    up.set_dl("http://10.1.2.3/dl");
    let m = bad_gateway(download_serde(&t, "1.0.0").await);
    assert_eq!(
        m,
        "registry `public` cannot reach its upstream: the upstream's config.json names the \
         download host `10.1.2.3`, which is neither the upstream's host nor a public address; \
         not used (list it in `upstream_allowed_hosts` of registry `public` if you trust it)"
    );
}
