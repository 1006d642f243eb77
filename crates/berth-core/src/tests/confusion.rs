//! The dependency-confusion table of ARCHITECTURE.md, in process: one test
//! per row and column (how a dependency's `registry` is recorded for a
//! publish into a hosted member of a virtual registry), and the guard that
//! refuses new private names an upstream has. The upstream is
//! `berth-testkit`'s fixture, over real HTTP on loopback.

use berth_testkit::{crate_file, dependency, Fixture, Mode, PublishBuilder, DEFAULT_LIB};
use serde_json::{json, Value};

use crate::testing::*;
use crate::ServiceError;

/// The virtual registry's own index URL as cargo sends it.
const VIRTUAL_URL: &str = "sparse+http://127.0.0.1:7878/r/company/index/";
/// The hosted member's own index URL.
const HOSTED_URL: &str = "sparse+http://127.0.0.1:7878/r/main/index/";
/// Another registry, known to nobody here.
const ELSEWHERE: &str = "sparse+http://127.0.0.3/other/index/";
/// What cargo calls the replaced source, when declared.
const ALIAS: &str = "registry+http://127.0.0.2/public-index";

fn upstream() -> Fixture {
    Fixture::start(&[
        ("serde", "1.0.0", crate_file("serde", "1.0.0", DEFAULT_LIB)),
        (
            "serde_json",
            "1.0.0",
            crate_file("serde_json", "1.0.0", DEFAULT_LIB),
        ),
        (
            "acme-leak",
            "9.0.0",
            crate_file("acme-leak", "9.0.0", DEFAULT_LIB),
        ),
    ])
}

/// main (hosted) and public (a proxy of `up`) in virtual `company`, which
/// claims `acme-*`; `proxy_extra` and `virtual_extra` add keys; `top` adds
/// top-level configuration.
async fn server_with(up: &Fixture, top: &str, proxy_extra: &str, virtual_extra: &str) -> TestBerth {
    TestBerth::new(&format!(
        "{top}\n{}{}{}",
        hosted("main"),
        proxy("public", &up.index_url(), proxy_extra),
        virtual_of(
            "company",
            &["main", "public"],
            &format!("claims = [\"acme-*\"]\n{virtual_extra}")
        )
    ))
    .await
}

async fn server(up: &Fixture) -> TestBerth {
    server_with(up, "", "", "").await
}

/// A user who has published `base` to main.
async fn with_base(t: &TestBerth) -> TestUser {
    let u = t.user("ann", &[]).await;
    t.published("main", &u, "base", "1.0.0").await;
    u
}

/// A dependency on `name`, with `registry` = `sent` when given.
fn dep(name: &str, sent: Option<&str>) -> Value {
    let mut d = dependency(name, "^1");
    if let Some(sent) = sent {
        d["registry"] = json!(sent);
    }
    d
}

/// Publishes `app` with one dependency through `registry`; the recorded
/// `registry` of that dependency (`None`: this registry).
async fn recorded(
    t: &TestBerth,
    u: &TestUser,
    via: &str,
    dependency: Value,
) -> Result<Option<String>, ServiceError> {
    t.publish(
        via,
        u,
        PublishBuilder::new("app", "1.0.0").dependency(dependency),
    )
    .await?;
    let lines = t.lines("main", "app").await;
    Ok(lines[0]["deps"][0]["registry"].as_str().map(str::to_string))
}

// Row 1: no `registry` sent (this registry).

#[tokio::test]
async fn row_none_name_hosted_is_recorded_as_this_registry() {
    let up = upstream();
    let t = server(&up).await;
    let u = with_base(&t).await;
    assert_eq!(
        recorded(&t, &u, "company", dep("base", None))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn row_none_name_upstream_is_recorded_as_the_proxys_identifier() {
    let up = upstream();
    let t = server(&up).await;
    let u = with_base(&t).await;
    assert_eq!(
        recorded(&t, &u, "company", dep("serde", None))
            .await
            .unwrap(),
        Some(up.index_url())
    );
}

#[tokio::test]
async fn row_none_name_upstream_uses_the_declared_alias() {
    let up = upstream();
    let t = server_with(&up, "", &format!("upstream_aliases = [\"{ALIAS}\"]"), "").await;
    let u = with_base(&t).await;
    assert_eq!(
        recorded(&t, &u, "company", dep("serde", None))
            .await
            .unwrap(),
        Some(ALIAS.to_string())
    );
}

#[tokio::test]
async fn row_none_name_nowhere_is_refused() {
    let up = upstream();
    let t = server(&up).await;
    let u = with_base(&t).await;
    let m = bad_request(recorded(&t, &u, "company", dep("absent", None)).await);
    assert_eq!(
        m,
        "dependency `absent` does not exist in registry `company`; publish it first"
    );
}

#[tokio::test]
async fn row_none_published_directly_never_looks_upstream() {
    let up = upstream();
    let t = server(&up).await;
    let u = with_base(&t).await;
    let m = bad_request(recorded(&t, &u, "main", dep("serde", None)).await);
    assert!(m.contains("does not exist in registry `main`"), "{m}");
}

// Row 2: the proxy's identifier or alias, or the hosted or virtual
// registry's own URL.

#[tokio::test]
async fn row_stand_in_proxy_identifier_on_a_hosted_name_is_this_registry() {
    let up = upstream();
    let t = server(&up).await;
    let u = with_base(&t).await;
    let sent = up.index_url();
    assert_eq!(
        recorded(&t, &u, "company", dep("base", Some(&sent)))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn row_stand_in_alias_on_a_hosted_name_is_this_registry() {
    let up = upstream();
    let t = server_with(&up, "", &format!("upstream_aliases = [\"{ALIAS}\"]"), "").await;
    let u = with_base(&t).await;
    assert_eq!(
        recorded(&t, &u, "company", dep("base", Some(ALIAS)))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn row_stand_in_virtual_url_on_a_hosted_name_is_this_registry() {
    let up = upstream();
    let t = server(&up).await;
    let u = with_base(&t).await;
    assert_eq!(
        recorded(&t, &u, "company", dep("base", Some(VIRTUAL_URL)))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn row_stand_in_hosted_url_on_a_hosted_name_is_this_registry() {
    let up = upstream();
    let t = server(&up).await;
    let u = with_base(&t).await;
    assert_eq!(
        recorded(&t, &u, "company", dep("base", Some(HOSTED_URL)))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn row_stand_in_proxy_identifier_on_an_upstream_name_is_kept() {
    let up = upstream();
    let t = server(&up).await;
    let u = with_base(&t).await;
    let sent = up.index_url();
    assert_eq!(
        recorded(&t, &u, "company", dep("serde", Some(&sent)))
            .await
            .unwrap(),
        Some(sent)
    );
}

#[tokio::test]
async fn row_stand_in_virtual_url_on_an_upstream_name_is_the_proxys_identifier() {
    let up = upstream();
    let t = server(&up).await;
    let u = with_base(&t).await;
    assert_eq!(
        recorded(&t, &u, "company", dep("serde", Some(VIRTUAL_URL)))
            .await
            .unwrap(),
        Some(up.index_url())
    );
}

#[tokio::test]
async fn row_stand_in_virtual_url_on_a_name_nowhere_is_refused() {
    let up = upstream();
    let t = server(&up).await;
    let u = with_base(&t).await;
    let m = bad_request(recorded(&t, &u, "company", dep("absent", Some(VIRTUAL_URL))).await);
    assert!(m.contains("does not exist in registry `company`"), "{m}");
}

#[tokio::test]
async fn row_stand_in_proxy_identifier_on_a_name_nowhere_is_kept() {
    let up = upstream();
    let t = server(&up).await;
    let u = with_base(&t).await;
    let sent = up.index_url();
    assert_eq!(
        recorded(&t, &u, "company", dep("absent", Some(&sent)))
            .await
            .unwrap(),
        Some(sent)
    );
}

#[tokio::test]
async fn a_claimed_name_the_hosted_registry_lacks_is_refused_as_a_dependency() {
    let up = upstream();
    let t = server(&up).await;
    let u = with_base(&t).await;
    let m = bad_request(recorded(&t, &u, "company", dep("acme-leak", Some(VIRTUAL_URL))).await);
    assert!(
        m.contains("virtual registry `company` claims for hosted crates"),
        "{m}"
    );
}

#[tokio::test]
async fn a_claimed_name_without_registry_is_not_taken_from_upstream() {
    let up = upstream();
    let t = server(&up).await;
    let u = with_base(&t).await;
    let m = bad_request(recorded(&t, &u, "company", dep("acme-leak", None)).await);
    assert!(m.contains("does not exist in registry `company`"), "{m}");
}

// Row 3: another registry, while a proxy member has no `upstream_aliases`.

#[tokio::test]
async fn row_other_without_aliases_on_a_hosted_name_is_this_registry() {
    let up = upstream();
    let t = server(&up).await;
    let u = with_base(&t).await;
    assert_eq!(
        recorded(&t, &u, "company", dep("base", Some(ELSEWHERE)))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn row_other_without_aliases_on_an_upstream_name_is_kept() {
    let up = upstream();
    let t = server(&up).await;
    let u = with_base(&t).await;
    assert_eq!(
        recorded(&t, &u, "company", dep("serde", Some(ELSEWHERE)))
            .await
            .unwrap(),
        Some(ELSEWHERE.to_string())
    );
}

#[tokio::test]
async fn row_other_without_aliases_on_a_name_nowhere_is_kept() {
    let up = upstream();
    let t = server(&up).await;
    let u = with_base(&t).await;
    assert_eq!(
        recorded(&t, &u, "company", dep("absent", Some(ELSEWHERE)))
            .await
            .unwrap(),
        Some(ELSEWHERE.to_string())
    );
}

#[tokio::test]
async fn row_other_without_aliases_is_refused_when_denied() {
    let up = upstream();
    let t = server_with(
        &up,
        &format!("[publish]\ndenied_registries = [\"{ELSEWHERE}\"]\n"),
        "",
        "",
    )
    .await;
    let u = with_base(&t).await;
    let m = bad_request(recorded(&t, &u, "company", dep("absent", Some(ELSEWHERE))).await);
    assert!(m.contains("does not allow"), "{m}");
}

// Row 4: another registry, when every proxy member has `upstream_aliases`.

#[tokio::test]
async fn row_other_with_aliases_on_a_hosted_name_is_kept() {
    let up = upstream();
    let t = server_with(&up, "", &format!("upstream_aliases = [\"{ALIAS}\"]"), "").await;
    let u = with_base(&t).await;
    assert_eq!(
        recorded(&t, &u, "company", dep("base", Some(ELSEWHERE)))
            .await
            .unwrap(),
        Some(ELSEWHERE.to_string())
    );
}

#[tokio::test]
async fn row_other_with_aliases_on_a_hosted_name_is_refused_when_not_allowed() {
    let up = upstream();
    let t = server_with(
        &up,
        "[publish]\nallowed_registries = []\n",
        &format!("upstream_aliases = [\"{ALIAS}\"]"),
        "",
    )
    .await;
    let u = with_base(&t).await;
    let m = bad_request(recorded(&t, &u, "company", dep("base", Some(ELSEWHERE))).await);
    assert!(m.contains("does not allow"), "{m}");
}

// The new-name guard.

#[tokio::test]
async fn a_new_private_name_the_upstream_has_is_refused() {
    let up = upstream();
    let t = server(&up).await;
    let u = t.user("ann", &[]).await;
    let m = forbidden(t.publish_crate("company", &u, "serde", "2.0.0").await);
    assert!(
        m.contains("already exists upstream of registry `public`"),
        "{m}"
    );
    assert!(m.contains("dependency confusion"), "{m}");
}

#[tokio::test]
async fn the_guard_holds_for_direct_publishes_to_a_member() {
    let up = upstream();
    let t = server(&up).await;
    let u = t.user("ann", &[]).await;
    let m = forbidden(t.publish_crate("main", &u, "serde", "2.0.0").await);
    assert!(m.contains("already exists upstream"), "{m}");
}

#[tokio::test]
async fn the_guard_asks_every_spelling() {
    let up = upstream();
    let t = server(&up).await;
    let u = t.user("ann", &[]).await;
    let m = forbidden(t.publish_crate("company", &u, "Serde-Json", "2.0.0").await);
    assert!(m.contains("(as `serde_json`)"), "{m}");
}

#[tokio::test]
async fn a_claimed_name_passes_the_guard() {
    let up = upstream();
    let t = server(&up).await;
    let u = t.user("ann", &[]).await;
    t.published("company", &u, "acme-leak", "1.0.0").await;
}

#[tokio::test]
async fn an_allowed_upstream_name_passes_the_guard() {
    let up = upstream();
    let t = server_with(&up, "", "", "allow_upstream_names = [\"serde\"]").await;
    let u = t.user("ann", &[]).await;
    t.published("company", &u, "serde", "2.0.0").await;
}

#[tokio::test]
async fn an_unreachable_upstream_refuses_new_names_as_unavailable() {
    let up = upstream();
    let t = server_with(
        &up,
        "",
        "connect_timeout_secs = 1\nupstream_timeout_secs = 2",
        "",
    )
    .await;
    let u = t.user("ann", &[]).await;
    up.set(Mode::Error);
    match t.publish_crate("company", &u, "fresh", "1.0.0").await {
        Err(ServiceError::Unavailable(m)) => {
            assert!(
                m.contains("cannot check whether `fresh` exists upstream"),
                "{m}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_hosted_registry_in_no_virtual_registry_has_no_guard() {
    let up = upstream();
    let t = TestBerth::new(&format!(
        "{}{}",
        hosted("solo"),
        proxy("public", &up.index_url(), "")
    ))
    .await;
    let u = t.user("ann", &[]).await;
    t.published("solo", &u, "serde", "2.0.0").await;
    assert_eq!(up.hits("/index/se/rd/serde"), 0);
}

#[tokio::test]
async fn a_name_with_too_many_separators_is_refused() {
    let up = upstream();
    let t = server(&up).await;
    let u = t.user("ann", &[]).await;
    let m = forbidden(
        t.publish_crate("company", &u, "a-b-c-d-e-f-g-h", "1.0.0")
            .await,
    );
    assert!(m.contains("too many spellings"), "{m}");
}

#[tokio::test]
async fn updates_of_an_existing_crate_skip_the_guard() {
    let up = upstream();
    let t = server(&up).await;
    let u = with_base(&t).await;
    up.answer(
        "/index/ba/se/base",
        berth_testkit::Answer::ok(
            json!({"name": "base", "vers": "5.0.0", "deps": [], "cksum": "0".repeat(64), "features": {}, "yanked": false})
                .to_string(),
        ),
    );
    t.published("company", &u, "base", "1.1.0").await;
}

#[tokio::test]
async fn what_a_virtual_registry_cannot_protect_is_said() {
    let up = upstream();
    let t = TestBerth::new(&two_hosted_and_a_proxy(
        &up.index_url(),
        "allow_upstream_names = [\"serde\"]",
    ))
    .await;
    let said = t.berth.unprotected_virtuals();
    assert_eq!(said.len(), 2, "{said:?}");
    assert!(said[0].contains("more than one hosted member (main, second)"));
    assert!(said[1].contains("allows private crates named like upstream ones (serde)"));
    let up2 = upstream();
    let quiet = server(&up2).await;
    assert!(quiet.berth.unprotected_virtuals().is_empty());
}
