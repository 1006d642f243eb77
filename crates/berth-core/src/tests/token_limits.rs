//! Token limits, in process: crate patterns, the registry restriction,
//! CIDR ranges, expiry by the clock, the no-escalation rule of tokens made
//! by tokens, and revocation of a parent.

use std::time::Duration;

use crate::testing::*;
use crate::tokens::{TokenRef, TokenRequest};
use crate::Role;

fn req() -> TokenRequest {
    TokenRequest::default()
}

fn expiring_in(d: &str) -> TokenRequest {
    TokenRequest {
        expires_in: Some(d.into()),
        ..req()
    }
}

fn on_crates(p: &[&str]) -> TokenRequest {
    TokenRequest {
        crates: p.iter().map(|s| s.to_string()).collect(),
        ..req()
    }
}

fn from_ranges(r: &[&str]) -> TokenRequest {
    TokenRequest {
        allowed_cidrs: r.iter().map(|s| s.to_string()).collect(),
        ..req()
    }
}

async fn server() -> TestBerth {
    TestBerth::new(&format!("{}{}", hosted("main"), hosted("other"))).await
}

#[tokio::test]
async fn a_token_works_until_its_expiry_and_not_at_it() {
    let t = server().await;
    let u = t.user_with("ann", &[], expiring_in("1h")).await;
    assert_eq!(u.who.limits.expires_at, Some(T0 + 3600));
    t.advance(Duration::from_secs(3599));
    assert!(t.identify(&u.secret).await.is_ok());
    t.advance(Duration::from_secs(1));
    let m = unauthorized(t.identify(&u.secret).await);
    assert!(m.contains("has expired"), "{m}");
}

#[tokio::test]
async fn an_expiry_date_is_judged_by_the_clock() {
    let t = server().await;
    t.berth.add_user("ann", None, false).await.unwrap();
    // T0 is 2027-01-15: a date before it is in the past.
    let past = TokenRequest {
        expires_at: Some("2027-01-01".into()),
        ..req()
    };
    let m = bad_request(t.token("ann", past).await);
    assert!(m.contains("2027-01-01") || m.contains("past"), "{m}");
    let future = TokenRequest {
        expires_at: Some("2027-02-01".into()),
        ..req()
    };
    let made = t.token("ann", future).await.unwrap();
    assert_eq!(made.token.expires_at, Some(1_801_440_000));
}

#[tokio::test]
async fn an_expiry_duration_and_date_together_are_refused() {
    let t = server().await;
    t.berth.add_user("ann", None, false).await.unwrap();
    let both = TokenRequest {
        expires_in: Some("1d".into()),
        expires_at: Some("2999-01-01".into()),
        ..req()
    };
    let m = bad_request(t.token("ann", both).await);
    assert!(m.contains("not both"), "{m}");
}

#[tokio::test]
async fn a_revoked_token_is_refused() {
    let t = server().await;
    let u = t.user("ann", &[]).await;
    t.berth
        .revoke_token("ann", &TokenRef::Id(u.who.token_id))
        .await
        .unwrap();
    let m = unauthorized(t.identify(&u.secret).await);
    assert!(m.contains("unknown, revoked or expired"), "{m}");
}

#[tokio::test]
async fn a_disabled_users_token_is_refused() {
    let t = server().await;
    let u = t.user("ann", &[]).await;
    t.berth.set_user_disabled(None, "ann", true).await.unwrap();
    let m = unauthorized(t.identify(&u.secret).await);
    assert!(m.contains("is disabled"), "{m}");
}

#[tokio::test]
async fn an_unknown_secret_is_refused() {
    let t = server().await;
    let m = unauthorized(t.identify("nonsense").await);
    assert!(m.contains("not valid"), "{m}");
    let m = unauthorized(t.identify(&"x".repeat(300)).await);
    assert!(m.contains("not valid"), "{m}");
}

#[tokio::test]
async fn crate_patterns_limit_publishing() {
    let t = server().await;
    let u = t.user_with("ann", &[], on_crates(&["acme-*"])).await;
    t.published("main", &u, "acme-core", "1.0.0").await;
    let m = forbidden(t.publish_crate("main", &u, "other", "1.0.0").await);
    assert!(m.contains("crates matching `acme-*`"), "{m}");
    assert!(m.contains("`other` does not match"), "{m}");
}

#[tokio::test]
async fn crate_patterns_fold_case_and_separators() {
    let t = server().await;
    let u = t.user_with("ann", &[], on_crates(&["Acme_*"])).await;
    t.published("main", &u, "acme-tool", "1.0.0").await;
    t.published("main", &u, "ACME_x", "1.0.0").await;
}

#[tokio::test]
async fn crate_patterns_never_limit_reads() {
    let t = server().await;
    let owner = t.user("bob", &[]).await;
    t.published("main", &owner, "other", "1.0.0").await;
    let u = t.user_with("ann", &[], on_crates(&["acme-*"])).await;
    let body = t.index("main", Some(&u), "other").await.unwrap();
    assert!(body.contains("\"name\":\"other\""), "{body}");
}

#[tokio::test]
async fn crate_patterns_limit_yanking() {
    let t = server().await;
    let u = t.user("ann", &[]).await;
    t.published("main", &u, "tool", "1.0.0").await;
    let narrow = t.token("ann", on_crates(&["acme-*"])).await.unwrap();
    let who = t.identify(&narrow.secret).await.unwrap();
    let m = forbidden(
        t.berth
            .set_yanked("main", Some(&who), "tool", "1.0.0", true)
            .await,
    );
    assert!(m.contains("`tool` does not match"), "{m}");
}

#[tokio::test]
async fn a_bad_crate_pattern_is_refused() {
    let t = server().await;
    t.berth.add_user("ann", None, false).await.unwrap();
    for bad in ["*", "-x", "a b"] {
        let m = bad_request(t.token("ann", on_crates(&[bad])).await);
        assert!(m.contains("invalid crate pattern"), "{bad}: {m}");
    }
}

#[tokio::test]
async fn a_registry_restriction_admits_its_registry_only() {
    let t = server().await;
    let u = t.user_limited_to("ann", "main").await;
    t.berth
        .require_token_registry(&u.who, "main")
        .await
        .unwrap();
    let m = forbidden(t.berth.require_token_registry(&u.who, "other").await);
    assert!(m.contains("restricted to registry `main`"), "{m}");
    // An unrestricted token passes everywhere.
    let v = t.user("bob", &[]).await;
    t.berth
        .require_token_registry(&v.who, "other")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_registry_restriction_must_name_a_registry() {
    let t = server().await;
    t.berth.add_user("ann", None, false).await.unwrap();
    let r = t
        .token(
            "ann",
            TokenRequest {
                registry: Some("nowhere".into()),
                ..req()
            },
        )
        .await;
    assert!(r.is_err(), "a token for a missing registry was made");
}

#[tokio::test]
async fn cidr_ranges_admit_their_addresses_only() {
    let t = server().await;
    let u = t.user_with("ann", &[], from_ranges(&["10.0.0.0/8"])).await;
    assert!(t
        .identify_from(&u.secret, Some("10.1.2.3".parse().unwrap()))
        .await
        .is_ok());
    assert!(t
        .identify_from(&u.secret, Some("::ffff:10.9.9.9".parse().unwrap()))
        .await
        .is_ok());
    let m = forbidden(
        t.identify_from(&u.secret, Some("127.0.0.1".parse().unwrap()))
            .await,
    );
    assert!(m.contains("from 127.0.0.1"), "{m}");
    let m = forbidden(t.identify_from(&u.secret, None).await);
    assert!(m.contains("an unknown address"), "{m}");
}

#[tokio::test]
async fn a_refused_address_is_audited() {
    let t = server().await;
    let u = t.user_with("ann", &[], from_ranges(&["10.0.0.0/8"])).await;
    let _ = t
        .identify_from(&u.secret, Some("192.0.2.1".parse().unwrap()))
        .await;
    let rows = t.berth.meta.recent_audit(10).await.unwrap();
    assert!(
        rows.iter().any(
            |r| r.entry.action == berth_store::AuditAction::TokenRestricted
                && r.entry.client_addr.as_deref() == Some("192.0.2.1")
        ),
        "{rows:?}"
    );
}

#[tokio::test]
async fn a_bad_cidr_range_is_refused() {
    let t = server().await;
    t.berth.add_user("ann", None, false).await.unwrap();
    assert!(
        bad_request(t.token("ann", from_ranges(&["10.0.0.0/33"])).await).contains("10.0.0.0/33")
    );
}

/// A user whose first token carries `limits`, and the identity of it.
async fn parent(t: &TestBerth, limits: TokenRequest) -> TestUser {
    t.user_with("ann", &[("main", Role::Publish)], limits).await
}

#[tokio::test]
async fn a_child_token_inherits_what_it_leaves_out() {
    let t = server().await;
    let p = parent(
        &t,
        TokenRequest {
            crates: vec!["acme-*".into()],
            registry: Some("main".into()),
            expires_in: Some("1d".into()),
            allowed_cidrs: vec!["10.0.0.0/8".into()],
            ..req()
        },
    )
    .await;
    let child = t
        .berth
        .create_own_token(Some(&p.who), &req())
        .await
        .unwrap();
    assert_eq!(child.token.crates, vec!["acme-*"]);
    assert_eq!(child.token.registry.as_deref(), Some("main"));
    assert_eq!(child.token.expires_at, Some(T0 + 86_400));
    assert_eq!(child.token.allowed_cidrs, vec!["10.0.0.0/8"]);
}

#[tokio::test]
async fn a_child_token_may_not_have_more_scopes() {
    let t = server().await;
    let p = parent(
        &t,
        TokenRequest {
            scopes: Some(vec!["publish-update".into()]),
            ..req()
        },
    )
    .await;
    let wider = TokenRequest {
        scopes: Some(vec!["publish-new".into()]),
        ..req()
    };
    let m = forbidden(t.berth.create_own_token(Some(&p.who), &wider).await);
    assert!(m.contains("more rights than its own"), "{m}");
    assert!(m.contains("scopes"), "{m}");
}

#[tokio::test]
async fn a_child_token_may_not_widen_crate_patterns() {
    let t = server().await;
    let p = parent(&t, on_crates(&["acme-*"])).await;
    let m = forbidden(
        t.berth
            .create_own_token(Some(&p.who), &on_crates(&["ac*"]))
            .await,
    );
    assert!(m.contains("`ac*` is wider"), "{m}");
    // Narrower is fine.
    t.berth
        .create_own_token(Some(&p.who), &on_crates(&["acme-core"]))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_child_token_may_not_leave_its_parents_registry() {
    let t = server().await;
    let p = parent(
        &t,
        TokenRequest {
            registry: Some("main".into()),
            ..req()
        },
    )
    .await;
    let other = TokenRequest {
        registry: Some("other".into()),
        ..req()
    };
    let m = forbidden(t.berth.create_own_token(Some(&p.who), &other).await);
    assert!(m.contains("restricted to registry `main`"), "{m}");
}

#[tokio::test]
async fn a_child_token_may_not_outlive_its_parent() {
    let t = server().await;
    let p = parent(&t, expiring_in("1h")).await;
    let m = forbidden(
        t.berth
            .create_own_token(Some(&p.who), &expiring_in("2h"))
            .await,
    );
    assert!(m.contains("must expire no later"), "{m}");
    t.berth
        .create_own_token(Some(&p.who), &expiring_in("30m"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_child_token_may_not_leave_its_parents_ranges() {
    let t = server().await;
    let p = parent(&t, from_ranges(&["10.0.0.0/8"])).await;
    let m = forbidden(
        t.berth
            .create_own_token(Some(&p.who), &from_ranges(&["192.0.2.0/24"]))
            .await,
    );
    assert!(m.contains("not inside this token's ranges"), "{m}");
    t.berth
        .create_own_token(Some(&p.who), &from_ranges(&["10.1.0.0/16"]))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_refused_child_token_is_audited() {
    let t = server().await;
    let p = parent(&t, on_crates(&["acme-*"])).await;
    forbidden(
        t.berth
            .create_own_token(Some(&p.who), &on_crates(&["other"]))
            .await,
    );
    let last = t.berth.meta.recent_audit(1).await.unwrap();
    assert_eq!(last[0].entry.action, berth_store::AuditAction::TokenCreate);
    assert_eq!(last[0].entry.outcome, berth_store::AuditOutcome::Denied);
}

#[tokio::test]
async fn revoking_a_parent_revokes_the_tokens_it_made() {
    let t = server().await;
    let p = parent(&t, req()).await;
    let child = t
        .berth
        .create_own_token(Some(&p.who), &req())
        .await
        .unwrap();
    assert!(t.identify(&child.secret).await.is_ok());
    t.berth
        .revoke_token("ann", &TokenRef::Id(p.who.token_id))
        .await
        .unwrap();
    unauthorized(t.identify(&child.secret).await);
}

#[tokio::test]
async fn a_token_revokes_no_wider_token() {
    let t = server().await;
    let p = parent(&t, req()).await;
    let narrow = t.token("ann", on_crates(&["acme-*"])).await.unwrap();
    let narrow_who = t.identify(&narrow.secret).await.unwrap();
    let m = forbidden(
        t.berth
            .revoke_own_token(Some(&narrow_who), p.who.token_id)
            .await,
    );
    assert!(m.contains("no more rights than its own"), "{m}");
    // The wider one may revoke the narrower.
    t.berth
        .revoke_own_token(Some(&p.who), narrow_who.token_id)
        .await
        .unwrap();
    unauthorized(t.identify(&narrow.secret).await);
}

#[tokio::test]
async fn another_users_token_is_not_found() {
    let t = server().await;
    let ann = t.user("ann", &[]).await;
    let bob = t.user("bob", &[]).await;
    let m = not_found(
        t.berth
            .revoke_own_token(Some(&bob.who), ann.who.token_id)
            .await,
    );
    assert!(m.contains("no active token"), "{m}");
}

#[tokio::test]
async fn an_invalid_token_name_is_refused() {
    let t = server().await;
    t.berth.add_user("ann", None, false).await.unwrap();
    for bad in ["", "with space", "a,b", &"n".repeat(65)] {
        let named = TokenRequest {
            name: Some(bad.to_string()),
            ..req()
        };
        let m = bad_request(t.token("ann", named).await);
        assert!(m.contains("invalid token name"), "{bad:?}: {m}");
    }
}
