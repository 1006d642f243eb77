//! Throttles, budgets and sessions, in process, with the clock moved
//! instead of sleeping: token creations per hour, web sessions' lifetime,
//! and the audit log's refusal budget per minute.

use std::time::Duration;

use berth_store::{AuditAction, AuditOutcome, REFUSALS_PER_CALLER_MINUTE};

use crate::accounts::SESSION_SECS;
use crate::testing::*;
use crate::tokens::TokenRequest;

async fn server(limits: &str) -> TestBerth {
    TestBerth::new(&format!(
        "[limits]\n{limits}\n\n{}{}",
        hosted("main"),
        hosted("other")
    ))
    .await
}

#[tokio::test]
async fn token_creations_are_limited_per_hour() {
    let t = server("token_creations_per_hour = 2").await;
    let u = t.user("ann", &[]).await;
    for _ in 0..2 {
        t.berth
            .create_own_token(Some(&u.who), &TokenRequest::default())
            .await
            .unwrap();
    }
    let m = busy(
        t.berth
            .create_own_token(Some(&u.who), &TokenRequest::default())
            .await,
    );
    assert!(m.contains("has created 2 tokens within an hour"), "{m}");
    assert!(m.contains("try again in 60 minute(s)"), "{m}");
    t.advance(Duration::from_secs(1800));
    let m = busy(
        t.berth
            .create_own_token(Some(&u.who), &TokenRequest::default())
            .await,
    );
    assert!(m.contains("try again in 30 minute(s)"), "{m}");
    t.advance(Duration::from_secs(1800));
    t.berth
        .create_own_token(Some(&u.who), &TokenRequest::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn token_creations_are_counted_per_user() {
    let t = server("token_creations_per_hour = 1").await;
    let ann = t.user("ann", &[]).await;
    let bob = t.user("bob", &[]).await;
    t.berth
        .create_own_token(Some(&ann.who), &TokenRequest::default())
        .await
        .unwrap();
    busy(
        t.berth
            .create_own_token(Some(&ann.who), &TokenRequest::default())
            .await,
    );
    t.berth
        .create_own_token(Some(&bob.who), &TokenRequest::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn the_account_page_counts_token_creations_too() {
    let t = server("token_creations_per_hour = 1").await;
    let u = t.user("ann", &[]).await;
    t.berth
        .create_token_on_page(&u.who, &TokenRequest::default())
        .await
        .unwrap();
    busy(
        t.berth
            .create_own_token(Some(&u.who), &TokenRequest::default())
            .await,
    );
}

#[tokio::test]
async fn the_operators_token_creations_are_not_counted() {
    let t = server("token_creations_per_hour = 1").await;
    t.berth.add_user("ann", None, false).await.unwrap();
    for _ in 0..3 {
        t.token("ann", TokenRequest::default()).await.unwrap();
    }
}

async fn signed_in(t: &TestBerth) -> String {
    t.berth
        .add_user("ann", Some("correct horse battery"), false)
        .await
        .unwrap();
    let (secret, _csrf) = t
        .berth
        .login_password("ann", "correct horse battery", &Default::default())
        .await
        .unwrap();
    secret
}

#[tokio::test]
async fn a_session_lasts_its_lifetime_and_not_a_second_more() {
    let t = server("").await;
    let secret = signed_in(&t).await;
    t.advance(Duration::from_secs(SESSION_SECS as u64 - 1));
    let s = t.berth.session(&secret).await.unwrap().unwrap();
    assert_eq!(s.identity.user.login, "ann");
    t.advance(Duration::from_secs(1));
    assert!(t.berth.session(&secret).await.unwrap().is_none());
}

#[tokio::test]
async fn a_wrong_password_opens_no_session() {
    let t = server("").await;
    signed_in(&t).await;
    let r = t
        .berth
        .login_password("ann", "wrong", &Default::default())
        .await;
    assert!(r.is_err());
    let last = t.berth.meta.recent_audit(1).await.unwrap();
    assert_eq!(last[0].entry.action, AuditAction::SessionLogin);
    assert_eq!(last[0].entry.outcome, AuditOutcome::Denied);
}

#[tokio::test]
async fn a_logout_ends_the_session() {
    let t = server("").await;
    let secret = signed_in(&t).await;
    t.berth.logout(&secret).await.unwrap();
    assert!(t.berth.session(&secret).await.unwrap().is_none());
}

/// How many `token.restricted` denials the audit log holds.
async fn restricted_rows(t: &TestBerth) -> usize {
    t.berth
        .meta
        .recent_audit(10_000)
        .await
        .unwrap()
        .iter()
        .filter(|r| r.entry.action == AuditAction::TokenRestricted)
        .count()
}

#[tokio::test]
async fn refusals_are_recorded_within_a_budget_per_minute() {
    let t = server("").await;
    let u = t.user_limited_to("ann", "main").await;
    let n = REFUSALS_PER_CALLER_MINUTE as usize;
    for _ in 0..n + 10 {
        forbidden(t.berth.require_token_registry(&u.who, "other").await);
    }
    assert_eq!(restricted_rows(&t).await, n);
    // The next minute has a budget of its own.
    t.advance(Duration::from_secs(60));
    forbidden(t.berth.require_token_registry(&u.who, "other").await);
    assert_eq!(restricted_rows(&t).await, n + 1);
}

#[tokio::test]
async fn the_last_recorded_refusal_says_more_are_not() {
    let t = server("").await;
    let u = t.user_limited_to("ann", "main").await;
    for _ in 0..REFUSALS_PER_CALLER_MINUTE {
        forbidden(t.berth.require_token_registry(&u.who, "other").await);
    }
    let last = t.berth.meta.recent_audit(1).await.unwrap();
    let detail = last[0].entry.detail.clone().unwrap_or_default();
    assert!(detail.contains("further refusals"), "{detail}");
}
