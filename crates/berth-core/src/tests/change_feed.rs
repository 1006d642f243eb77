//! A registry's change feed, in process: its publishes, yanks and unyanks
//! in commit order, paged by sequence; nothing of refused changes or of
//! other registries; read access as for the index; no feed for a proxy;
//! a waiting reader is answered with the change that ends its wait.

use crate::testing::*;
use crate::Role;

async fn server() -> TestBerth {
    TestBerth::new(&format!(
        "{}{}{}",
        hosted("main"),
        private_hosted("vault"),
        proxy(
            "cache",
            "sparse+http://127.0.0.1:9/index/",
            "offline = true\n"
        )
    ))
    .await
}

fn summary(page: &crate::ChangePage) -> Vec<(String, String, String)> {
    page.changes
        .iter()
        .map(|c| {
            (
                c.action.as_str().to_string(),
                c.crate_name.clone(),
                c.version.clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn changes_come_in_commit_order_and_page_by_sequence() {
    let t = server().await;
    let u = t.user("ann", &[]).await;
    t.published("main", &u, "alpha", "1.0.0").await;
    t.published("main", &u, "beta", "1.0.0").await;
    // Refused (the version exists): not a change.
    assert!(t.publish_crate("main", &u, "alpha", "1.0.0").await.is_err());
    t.berth
        .set_yanked("main", Some(&u.who), "alpha", "1.0.0", true)
        .await
        .unwrap();
    t.berth
        .set_yanked("main", Some(&u.who), "alpha", "1.0.0", false)
        .await
        .unwrap();
    let all = t.berth.changes("main", None, 0, None, 0).await.unwrap();
    let s = |a: &str, n: &str| (a.to_string(), n.to_string(), "1.0.0".to_string());
    assert_eq!(
        summary(&all),
        [
            s("publish", "alpha"),
            s("publish", "beta"),
            s("yank", "alpha"),
            s("unyank", "alpha")
        ]
    );
    let seqs: Vec<i64> = all.changes.iter().map(|c| c.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(all.head, seqs[3]);
    // From a sequence on, at most `limit`.
    let page = t
        .berth
        .changes("main", None, seqs[0], Some(2), 0)
        .await
        .unwrap();
    assert_eq!(summary(&page), [s("publish", "beta"), s("yank", "alpha")]);
    assert_eq!(page.head, seqs[3]);
    let rest = t
        .berth
        .changes("main", None, seqs[2], Some(2), 0)
        .await
        .unwrap();
    assert_eq!(summary(&rest), [s("unyank", "alpha")]);
    let none = t
        .berth
        .changes("main", None, seqs[3], None, 0)
        .await
        .unwrap();
    assert!(none.changes.is_empty());
    assert_eq!(none.head, seqs[3]);
}

#[tokio::test]
async fn the_feed_is_read_like_the_registry_and_only_where_versions_are_kept() {
    let t = server().await;
    let owner = t.user("ann", &[("vault", Role::Publish)]).await;
    let reader = t.user("rob", &[("vault", Role::Read)]).await;
    let stranger = t.user("eve", &[]).await;
    t.published("vault", &owner, "secret", "1.0.0").await;
    t.published("main", &owner, "open", "1.0.0").await;
    unauthorized(t.berth.changes("vault", None, 0, None, 0).await);
    forbidden(
        t.berth
            .changes("vault", Some(&stranger.who), 0, None, 0)
            .await,
    );
    let page = t
        .berth
        .changes("vault", Some(&reader.who), 0, None, 0)
        .await
        .unwrap();
    // Only the vault's own change.
    assert_eq!(page.changes.len(), 1);
    assert_eq!(page.changes[0].crate_name, "secret");
    let m = bad_request(t.berth.changes("cache", None, 0, None, 0).await);
    assert!(m.contains("no change feed"), "{m}");
}

#[tokio::test]
async fn a_waiting_reader_gets_the_change_that_ends_its_wait() {
    let t = std::sync::Arc::new(server().await);
    let u = t.user("ann", &[]).await;
    t.published("main", &u, "first", "1.0.0").await;
    let head = t
        .berth
        .changes("main", None, 0, None, 0)
        .await
        .unwrap()
        .head;
    let waiting = {
        let t = t.clone();
        tokio::spawn(async move { t.berth.changes("main", None, head, None, 20).await })
    };
    t.published("main", &u, "second", "1.0.0").await;
    let page = waiting.await.unwrap().unwrap();
    assert_eq!(page.changes.len(), 1);
    assert_eq!(page.changes[0].crate_name, "second");
}
