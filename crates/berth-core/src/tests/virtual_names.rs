//! Virtual-registry name ownership, in process: a name is the first hosted
//! member's that has it, else (unless claimed) the first proxy's; versions
//! are never merged; a member the asker may not read is never replaced by
//! another member's namesake; changes go to the owning hosted member.

use berth_testkit::{crate_file, Fixture, DEFAULT_LIB};

use crate::testing::*;
use crate::{Role, ServiceError};

fn upstream() -> Fixture {
    Fixture::start(&[
        ("tool", "9.0.0", crate_file("tool", "9.0.0", DEFAULT_LIB)),
        ("serde", "1.0.0", crate_file("serde", "1.0.0", DEFAULT_LIB)),
        (
            "acme-core",
            "99.0.0",
            crate_file("acme-core", "99.0.0", DEFAULT_LIB),
        ),
        (
            "secret",
            "7.0.0",
            crate_file("secret", "7.0.0", DEFAULT_LIB),
        ),
    ])
}

/// main and vault (private) hosted, public a proxy of `up`; company over
/// all three, claiming `acme-*` and letting hosted members have `tool`
/// and `secret` although the upstream has them.
async fn server(up: &Fixture) -> TestBerth {
    TestBerth::new(&format!(
        "{}{}{}{}",
        hosted("main"),
        private_hosted("vault"),
        proxy("public", &up.index_url(), ""),
        virtual_of(
            "company",
            &["main", "vault", "public"],
            "private = false\nclaims = [\"acme-*\"]\nallow_upstream_names = [\"tool\", \"secret\"]"
        )
    ))
    .await
}

/// [`server`] with its upstream and a user `ann` without roles.
async fn with_ann() -> (Fixture, TestBerth, TestUser) {
    let up = upstream();
    let t = server(&up).await;
    let ann = t.user("ann", &[]).await;
    (up, t, ann)
}

fn versions(body: &str) -> Vec<String> {
    body.lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["vers"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn a_hosted_name_hides_the_upstreams_namesake() {
    let (_up, t, u) = with_ann().await;
    t.published("main", &u, "tool", "1.0.0").await;
    let body = t.index("company", None, "tool").await.unwrap();
    assert_eq!(versions(&body), vec!["1.0.0"]);
}

#[tokio::test]
async fn a_name_only_upstream_is_the_proxys() {
    let up = upstream();
    let t = server(&up).await;
    let body = t.index("company", None, "serde").await.unwrap();
    assert_eq!(versions(&body), vec!["1.0.0"]);
}

#[tokio::test]
async fn the_virtual_registry_serves_the_members_bytes() {
    let (_up, t, u) = with_ann().await;
    t.published("main", &u, "tool", "1.0.0").await;
    assert_eq!(
        t.index("company", None, "tool").await.unwrap(),
        t.index("main", None, "tool").await.unwrap()
    );
    assert_eq!(
        t.index("company", None, "serde").await.unwrap(),
        t.index("public", None, "serde").await.unwrap()
    );
}

#[tokio::test]
async fn a_claimed_name_never_comes_from_upstream() {
    let up = upstream();
    let t = server(&up).await;
    not_found(t.index("company", None, "acme-core").await);
    assert_eq!(up.hits("/index/ac/me/acme-core"), 0, "{:?}", up.asked());
}

#[tokio::test]
async fn a_claimed_name_is_served_from_the_hosted_member() {
    let (_up, t, u) = with_ann().await;
    t.published("main", &u, "acme-core", "1.0.0").await;
    let body = t.index("company", None, "acme-core").await.unwrap();
    assert_eq!(versions(&body), vec!["1.0.0"]);
}

#[tokio::test]
async fn a_name_nowhere_is_not_found() {
    let up = upstream();
    let t = server(&up).await;
    not_found(t.index("company", None, "absent").await);
}

#[tokio::test]
async fn a_private_members_name_is_not_replaced_for_a_stranger() {
    let up = upstream();
    let t = server(&up).await;
    let admin = t.admin("root").await;
    t.published("vault", &admin, "secret", "1.0.0").await;
    // The upstream has `secret` too: an anonymous asker gets neither.
    not_found(t.index("company", None, "secret").await);
    let stranger = t.user("eve", &[]).await;
    not_found(t.index("company", Some(&stranger), "secret").await);
}

#[tokio::test]
async fn a_reader_of_the_private_member_gets_its_file() {
    let up = upstream();
    let t = server(&up).await;
    let admin = t.admin("root").await;
    t.published("vault", &admin, "secret", "1.0.0").await;
    let reader = t.user("ann", &[("vault", Role::Read)]).await;
    let body = t.index("company", Some(&reader), "secret").await.unwrap();
    assert_eq!(versions(&body), vec!["1.0.0"]);
}

#[tokio::test]
async fn the_first_hosted_member_wins() {
    let up = upstream();
    let t = server(&up).await;
    let admin = t.admin("root").await;
    t.published("vault", &admin, "shared", "2.0.0").await;
    t.published("main", &admin, "shared", "1.0.0").await;
    let body = t.index("company", Some(&admin), "shared").await.unwrap();
    assert_eq!(versions(&body), vec!["1.0.0"]);
}

#[tokio::test]
async fn a_yank_through_the_virtual_registry_reaches_the_owning_member() {
    let (_up, t, u) = with_ann().await;
    t.published("main", &u, "tool", "1.0.0").await;
    t.berth
        .set_yanked("company", Some(&u.who), "tool", "1.0.0", true)
        .await
        .unwrap();
    assert_eq!(t.lines("main", "tool").await[0]["yanked"], true);
}

#[tokio::test]
async fn a_change_to_an_upstream_name_is_refused_as_read_only() {
    let (_up, t, u) = with_ann().await;
    let m = bad_request(
        t.berth
            .set_yanked("company", Some(&u.who), "serde", "1.0.0", true)
            .await,
    );
    assert!(m.contains("is a proxy registry"), "{m}");
}

#[tokio::test]
async fn a_change_to_a_name_nowhere_is_not_found() {
    let (_up, t, u) = with_ann().await;
    let m = not_found(
        t.berth
            .set_yanked("company", Some(&u.who), "absent", "1.0.0", true)
            .await,
    );
    assert_eq!(m, "crate `absent` does not exist");
}

#[tokio::test]
async fn publishing_through_the_virtual_registry_lands_in_its_hosted_member() {
    let (_up, t, u) = with_ann().await;
    t.published("company", &u, "fresh", "1.0.0").await;
    assert_eq!(t.lines("main", "fresh").await.len(), 1);
    let (target, via) = t.berth.publish_target("company").unwrap();
    assert_eq!(target.name, "main");
    assert_eq!(via.map(|v| v.name.as_str()), Some("company"));
}

#[tokio::test]
async fn publish_to_names_the_hosted_member() {
    let up = upstream();
    let t = TestBerth::new(&two_hosted_and_a_proxy(
        &up.index_url(),
        "publish_to = \"second\"",
    ))
    .await;
    let u = t.user("ann", &[]).await;
    t.published("company", &u, "fresh", "1.0.0").await;
    assert_eq!(t.lines("second", "fresh").await.len(), 1);
    not_found(t.index("main", None, "fresh").await);
}

#[tokio::test]
async fn a_virtual_registry_without_a_hosted_member_takes_no_publishes() {
    let up = upstream();
    let t = TestBerth::new(&format!(
        "{}{}",
        proxy("public", &up.index_url(), ""),
        virtual_of("mirror", &["public"], "")
    ))
    .await;
    match t.berth.publish_target("mirror") {
        Err(ServiceError::BadRequest(m)) => {
            assert!(m.contains("has no hosted member to publish to"), "{m}")
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn hosted_for_names_the_owning_member() {
    let up = upstream();
    let t = server(&up).await;
    let admin = t.admin("root").await;
    t.published("vault", &admin, "inner", "1.0.0").await;
    let reg = t
        .berth
        .hosted_for("company", Some(&admin.who), "Inner")
        .await
        .unwrap();
    assert_eq!(reg.name, "vault");
    // A stranger learns nothing of it.
    let eve = t.user("eve", &[]).await;
    not_found(t.berth.hosted_for("company", Some(&eve.who), "inner").await);
}
