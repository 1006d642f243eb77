//! Publish validation order, in process: when several rules refuse a
//! publish, which one answers (authentication, the registry's kind,
//! scopes and roles before the body; size before the metadata; name before
//! version; scope, ownership and the case clash before a duplicate version;
//! the confusion guard and dependencies before the archive).

use berth_testkit::{dependency, PublishBuilder, TarballBuilder};
use bytes::Bytes;

use crate::testing::*;
use crate::tokens::TokenRequest;
use crate::{Role, ServiceError};

async fn server() -> TestBerth {
    TestBerth::new(&format!(
        "[limits]\nmax_crate_size = 4096\n\n{}{}",
        hosted("main"),
        private_hosted("vault")
    ))
    .await
}

/// A `.crate` whose manifest names another crate than the metadata.
fn mismatched(name: &str, vers: &str) -> PublishBuilder {
    PublishBuilder::new(name, vers).tarball(TarballBuilder::package("else", vers).gz())
}

fn scoped(scopes: &[&str]) -> TokenRequest {
    TokenRequest {
        scopes: Some(scopes.iter().map(|s| s.to_string()).collect()),
        ..TokenRequest::default()
    }
}

#[tokio::test]
async fn a_plain_publish_lands_in_the_index() {
    let t = server().await;
    let u = t.user("ann", &[]).await;
    t.published("main", &u, "tool", "1.0.0").await;
    let lines = t.lines("main", "tool").await;
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["vers"], "1.0.0");
}

#[tokio::test]
async fn no_token_answers_before_the_body_is_read() {
    let t = server().await;
    let r = t
        .berth
        .publish("main", None, Bytes::from_static(b"garbage"))
        .await;
    let m = unauthorized(r);
    assert!(m.contains("token"), "{m}");
}

#[tokio::test]
async fn a_missing_registry_answers_first() {
    let t = server().await;
    let u = t.user("ann", &[]).await;
    let m = not_found(
        t.berth
            .publish("nowhere", Some(&u.who), Bytes::from_static(b"garbage"))
            .await,
    );
    assert!(m.contains("no registry named `nowhere`"), "{m}");
}

#[tokio::test]
async fn missing_publish_scopes_answer_before_the_body() {
    let t = server().await;
    let u = t.user_with("ann", &[], scoped(&["yank"])).await;
    let m = forbidden(
        t.berth
            .publish("main", Some(&u.who), Bytes::from_static(b"garbage"))
            .await,
    );
    assert!(
        m.contains("neither the `publish-new` nor the `publish-update`"),
        "{m}"
    );
}

#[tokio::test]
async fn a_private_registry_without_a_role_answers_before_the_body() {
    let t = server().await;
    let u = t.user("ann", &[]).await;
    let m = forbidden(
        t.berth
            .publish("vault", Some(&u.who), Bytes::from_static(b"garbage"))
            .await,
    );
    assert!(m.contains("does not have the `read` role"), "{m}");
}

#[tokio::test]
async fn a_truncated_body_is_refused() {
    let t = server().await;
    let u = t.user("ann", &[]).await;
    let m = bad_request(
        t.berth
            .publish("main", Some(&u.who), Bytes::from_static(b"\x05\x00"))
            .await,
    );
    assert!(m.contains("ends early"), "{m}");
}

#[tokio::test]
async fn size_answers_before_the_name() {
    let t = server().await;
    let u = t.user("ann", &[]).await;
    let big = TarballBuilder::package("1bad", "1.0.0")
        .file("data.bin", &vec![7u8; 64 * 1024])
        .tar();
    let m = too_large(
        t.publish(
            "main",
            &u,
            PublishBuilder::new("1bad", "1.0.0").tarball(big),
        )
        .await,
    );
    assert!(m.contains("more than the 4096 bytes allowed"), "{m}");
}

#[tokio::test]
async fn the_name_answers_before_the_version() {
    let t = server().await;
    let u = t.user("ann", &[]).await;
    let m = bad_request(t.publish_crate("main", &u, "1bad", "not-a-version").await);
    assert!(m.contains("must start with an ASCII letter"), "{m}");
}

#[tokio::test]
async fn an_invalid_version_is_refused() {
    let t = server().await;
    let u = t.user("ann", &[]).await;
    let m = bad_request(t.publish_crate("main", &u, "tool", "1.0").await);
    assert!(m.contains("not a valid semver version"), "{m}");
}

#[tokio::test]
async fn a_reserved_name_is_refused() {
    let t = server().await;
    let u = t.user("ann", &[]).await;
    let m = bad_request(t.publish_crate("main", &u, "nul", "1.0.0").await);
    assert!(m.contains("reserved"), "{m}");
}

#[tokio::test]
async fn publish_update_is_needed_for_an_existing_crate_before_duplicates() {
    let t = server().await;
    let owner = t.user("ann", &[]).await;
    t.published("main", &owner, "tool", "1.0.0").await;
    let new_only = t.token("ann", scoped(&["publish-new"])).await.unwrap();
    let who = TestUser {
        who: t.identify(&new_only.secret).await.unwrap(),
        secret: new_only.secret,
    };
    // The version exists, but the missing scope answers.
    let m = forbidden(t.publish_crate("main", &who, "tool", "1.0.0").await);
    assert!(m.contains("publish-update"), "{m}");
}

#[tokio::test]
async fn publish_new_is_needed_for_a_new_crate() {
    let t = server().await;
    let u = t.user_with("ann", &[], scoped(&["publish-update"])).await;
    let m = forbidden(t.publish_crate("main", &u, "tool", "1.0.0").await);
    assert!(m.contains("publish-new"), "{m}");
}

#[tokio::test]
async fn ownership_answers_before_a_duplicate_version() {
    let t = server().await;
    let ann = t.user("ann", &[]).await;
    t.published("main", &ann, "tool", "1.0.0").await;
    let bob = t.user("bob", &[]).await;
    let m = forbidden(t.publish_crate("main", &bob, "tool", "1.0.0").await);
    assert!(m.contains("is not an owner of crate `tool`"), "{m}");
    assert!(m.contains("its owners are ann"), "{m}");
}

#[tokio::test]
async fn a_non_owner_sending_another_spelling_learns_the_existing_name() {
    let t = server().await;
    let ann = t.user("ann", &[]).await;
    t.published("main", &ann, "my-tool", "1.0.0").await;
    let bob = t.user("bob", &[]).await;
    let m = forbidden(t.publish_crate("main", &bob, "My_Tool", "2.0.0").await);
    assert!(
        m.contains("`My_Tool` is the existing crate `my-tool`"),
        "{m}"
    );
}

#[tokio::test]
async fn an_owner_sending_another_spelling_is_told_the_name() {
    let t = server().await;
    let ann = t.user("ann", &[]).await;
    t.published("main", &ann, "my-tool", "1.0.0").await;
    let m = bad_request(t.publish_crate("main", &ann, "my_tool", "1.0.0").await);
    assert!(m.contains("previously named `my-tool`"), "{m}");
}

#[tokio::test]
async fn a_duplicate_version_answers_before_the_archive() {
    let t = server().await;
    let ann = t.user("ann", &[]).await;
    t.published("main", &ann, "tool", "1.0.0").await;
    let m = conflict(t.publish("main", &ann, mismatched("tool", "1.0.0")).await);
    assert_eq!(m, "crate version `tool@1.0.0` is already uploaded");
}

#[tokio::test]
async fn build_metadata_does_not_make_a_new_version() {
    let t = server().await;
    let ann = t.user("ann", &[]).await;
    t.published("main", &ann, "tool", "1.0.0+a").await;
    let m = conflict(t.publish_crate("main", &ann, "tool", "1.0.0+b").await);
    assert!(m.contains("already uploaded"), "{m}");
}

#[tokio::test]
async fn a_missing_dependency_answers_before_the_archive() {
    let t = server().await;
    let ann = t.user("ann", &[]).await;
    let build = mismatched("tool", "1.0.0").dependency(dependency("absent", "^1"));
    let m = bad_request(t.publish("main", &ann, build).await);
    assert_eq!(
        m,
        "dependency `absent` does not exist in registry `main`; publish it first"
    );
}

#[tokio::test]
async fn an_archive_for_another_crate_is_refused() {
    let t = server().await;
    let ann = t.user("ann", &[]).await;
    let m = bad_request(t.publish("main", &ann, mismatched("tool", "1.0.0")).await);
    assert!(m.contains("else") || m.contains("tool"), "{m}");
    // Nothing was recorded.
    not_found(t.index("main", None, "tool").await);
}

#[tokio::test]
async fn a_read_role_owner_publishes_updates_but_no_new_names() {
    let t = server().await;
    let admin = t.admin("root").await;
    t.published("vault", &admin, "tool", "1.0.0").await;
    let ann = t.user("ann", &[("vault", Role::Read)]).await;
    // Not an owner yet: no publish role and no crate owned.
    let m = forbidden(t.publish_crate("vault", &ann, "tool", "1.1.0").await);
    assert!(m.contains("`publish` role"), "{m}");
    t.berth
        .change_owners(
            "vault",
            Some(&admin.who),
            "tool",
            &["ann".to_string()],
            true,
        )
        .await
        .unwrap();
    let ann = TestUser {
        who: t.identify(&ann.secret).await.unwrap(),
        ..ann
    };
    t.published("vault", &ann, "tool", "1.1.0").await;
    let m = forbidden(t.publish_crate("vault", &ann, "fresh", "1.0.0").await);
    assert!(m.contains("`publish` role"), "{m}");
}

#[tokio::test]
async fn a_publish_role_publishes_new_names_in_a_private_registry() {
    let t = server().await;
    let ann = t.user("ann", &[("vault", Role::Publish)]).await;
    t.published("vault", &ann, "fresh", "1.0.0").await;
    // Private: anonymous readers see nothing.
    unauthorized(t.index("vault", None, "fresh").await);
}

#[tokio::test]
async fn an_index_line_past_the_limit_is_refused_before_storing() {
    let t = TestBerth::new(&format!(
        "[limits]\nmax_index_line_bytes = 1024\n\n{}",
        hosted("main")
    ))
    .await;
    let ann = t.user("ann", &[]).await;
    let m = bad_request(
        t.publish(
            "main",
            &ann,
            PublishBuilder::new("tool", "1.0.0").set(
                "features",
                (0..40)
                    .map(|i| (format!("feature-number-{i}"), serde_json::json!([])))
                    .collect::<serde_json::Map<_, _>>(),
            ),
        )
        .await,
    );
    assert!(m.contains("limits.max_index_line_bytes"), "{m}");
    assert!(t.berth.list_blobs().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_yank_shows_in_the_index_and_the_clock_does_not_matter() {
    let t = server().await;
    let ann = t.user("ann", &[]).await;
    t.published("main", &ann, "tool", "1.0.0").await;
    t.berth
        .set_yanked("main", Some(&ann.who), "tool", "1.0.0", true)
        .await
        .unwrap();
    assert_eq!(t.lines("main", "tool").await[0]["yanked"], true);
}

#[tokio::test]
async fn a_proxy_refuses_publishes_whatever_the_body() {
    let upstream = berth_testkit::Fixture::start(&[]);
    let t = TestBerth::new(&format!(
        "{}{}",
        hosted("main"),
        proxy("public", &upstream.index_url(), "")
    ))
    .await;
    let r = t
        .berth
        .publish("public", None, Bytes::from_static(b"garbage"))
        .await;
    match r {
        Err(ServiceError::BadRequest(m)) => {
            assert!(m.contains("is a proxy registry"), "{m}")
        }
        other => panic!("{other:?}"),
    }
}
