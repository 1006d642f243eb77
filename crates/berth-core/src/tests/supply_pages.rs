//! What the crate pages and the crate detail say of supply-chain control:
//! each version's advisories and policy verdict (the same sentence a
//! refused download gives), the banner facts of the version shown, the
//! dependency whose newest matching version is affected, and the same for
//! a proxy's cached crates through the proxy and a virtual registry, with
//! no request to the upstream.

use berth_testkit::{dependency, AdvisoryFile, Answer, Fixture, PublishBuilder};
use serde_json::json;

use crate::crates::{CrateDetail, CratePage};
use crate::testing::*;
use crate::Role;

/// Imports a database of `advisories` into `t`.
async fn import(t: &TestBerth, advisories: &[AdvisoryFile]) {
    t.import_advisories(advisories).await;
}

async fn page(t: &TestBerth, registry: &str, name: &str, vers: Option<&str>) -> CratePage {
    t.berth
        .crate_page(registry, None, name, vers)
        .await
        .unwrap_or_else(|e| panic!("page of {name} in {registry}: {e}"))
}

/// `(version, advisory ids)` of every version.
fn advised(detail: &CrateDetail) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<_> = detail
        .versions
        .iter()
        .map(|v| {
            (
                v.vers.clone(),
                v.advisories.iter().map(|a| a.id.clone()).collect(),
            )
        })
        .collect();
    out.sort();
    out
}

/// `(version, rule)` of every blocked version.
fn blocked(detail: &CrateDetail) -> Vec<(String, &'static str)> {
    let mut out: Vec<_> = detail
        .versions
        .iter()
        .filter_map(|v| v.blocked.as_ref().map(|b| (v.vers.clone(), b.rule)))
        .collect();
    out.sort();
    out
}

fn ids(list: &[crate::supply::advisories::AdvisoryView]) -> Vec<&str> {
    list.iter().map(|a| a.id.as_str()).collect()
}

#[tokio::test]
async fn each_version_lists_its_advisories_and_the_banners_state_the_facts() {
    let t = TestBerth::new(&hosted("main")).await;
    let u = t.user("pub", &[("main", Role::Publish)]).await;
    for v in ["1.0.0", "1.1.0", "1.2.0"] {
        t.published("main", &u, "leaky", v).await;
    }
    for v in ["1.0.0", "2.0.0"] {
        t.published("main", &u, "broken", v).await;
    }
    // Nothing imported: nothing said.
    let before = page(&t, "main", "leaky", Some("1.0.0")).await;
    assert!(before
        .detail
        .versions
        .iter()
        .all(|v| v.advisories.is_empty()));
    assert!(before.supply.vulnerable.is_empty() && before.supply.unmaintained.is_empty());

    import(
        &t,
        &[
            AdvisoryFile::vulnerability("RUSTSEC-2026-0101", "leaky", &[">= 1.2.0"]),
            AdvisoryFile::vulnerability("RUSTSEC-2026-0102", "leaky", &[])
                .informational("unmaintained"),
            AdvisoryFile::vulnerability("RUSTSEC-2026-0103", "leaky", &[">= 1.1.0"])
                .informational("unsound"),
            AdvisoryFile::vulnerability("RUSTSEC-2026-0104", "leaky", &[]).withdrawn("2026-04-01"),
            AdvisoryFile::vulnerability("RUSTSEC-2026-0105", "broken", &[]),
        ],
    )
    .await;

    let old = page(&t, "main", "leaky", Some("1.0.0")).await;
    assert_eq!(
        advised(&old.detail),
        [
            (
                "1.0.0".into(),
                vec![
                    "RUSTSEC-2026-0101".to_string(),
                    "RUSTSEC-2026-0102".into(),
                    "RUSTSEC-2026-0103".into()
                ]
            ),
            (
                "1.1.0".into(),
                vec!["RUSTSEC-2026-0101".to_string(), "RUSTSEC-2026-0102".into()]
            ),
            ("1.2.0".into(), vec!["RUSTSEC-2026-0102".to_string()]),
        ],
        "withdrawn never; informational ones listed"
    );
    let first = &old.detail.versions[0].advisories[0];
    assert_eq!(first.kind, "vulnerability");
    assert_eq!(first.patched, [">=1.2.0"]);
    assert_eq!(first.title, "Memory corruption in leaky");
    assert!(first.url.as_deref().unwrap().ends_with("RUSTSEC-2026-0101"));
    // The banner names vulnerabilities only; the newest is not affected.
    assert_eq!(ids(&old.supply.vulnerable), ["RUSTSEC-2026-0101"]);
    assert_eq!(old.supply.newest_vulnerable, None);
    assert_eq!(ids(&old.supply.unmaintained), ["RUSTSEC-2026-0102"]);
    let newest = page(&t, "main", "leaky", None).await;
    assert_eq!(newest.version.vers, "1.2.0");
    assert!(newest.supply.vulnerable.is_empty());
    assert_eq!(ids(&newest.supply.unmaintained), ["RUSTSEC-2026-0102"]);

    // Every version of `broken` is affected: an older page says the newest is too.
    let broken = page(&t, "main", "broken", Some("1.0.0")).await;
    assert_eq!(ids(&broken.supply.vulnerable), ["RUSTSEC-2026-0105"]);
    let (vers, list) = broken.supply.newest_vulnerable.clone().unwrap();
    assert_eq!(
        (vers.as_str(), ids(&list)),
        ("2.0.0", vec!["RUSTSEC-2026-0105"])
    );
    assert!(broken.supply.unmaintained.is_empty());
    let top = page(&t, "main", "broken", None).await;
    assert_eq!(ids(&top.supply.vulnerable), ["RUSTSEC-2026-0105"]);
    assert_eq!(
        top.supply.newest_vulnerable, None,
        "the banner of the version shown says it"
    );
    // A yanked version keeps its row's advisories but gets no banner.
    t.berth
        .set_yanked("main", Some(&u.who), "broken", "1.0.0", true)
        .await
        .unwrap();
    let yanked = page(&t, "main", "broken", Some("1.0.0")).await;
    assert!(yanked.supply.vulnerable.is_empty());
    assert!(yanked.supply.newest_vulnerable.is_some());
    assert_eq!(
        ids(&yanked.detail.versions[0].advisories),
        ["RUSTSEC-2026-0105"]
    );

    // The management API's detail says the same per version.
    let detail = t.berth.crate_detail("main", None, "Leaky").await.unwrap();
    assert_eq!(advised(&detail), advised(&old.detail));
    assert!(
        detail.versions.iter().all(|v| v.blocked.is_none()),
        "no policy"
    );
    let body = serde_json::to_value(&detail).unwrap();
    assert_eq!(
        body["versions"][0]["advisories"][0]["id"],
        "RUSTSEC-2026-0101"
    );
    assert_eq!(body["versions"][0]["blocked"], serde_json::Value::Null);
}

#[tokio::test]
async fn a_dependency_whose_newest_matching_version_is_affected_is_named() {
    let t = TestBerth::new(&format!(
        "{}{}[registries.policy]\nblock_advisories = true\n",
        hosted("main"),
        hosted("strict")
    ))
    .await;
    let u = t
        .user("pub", &[("main", Role::Publish), ("strict", Role::Publish)])
        .await;
    for reg in ["main", "strict"] {
        for v in ["1.0.0", "1.1.0", "2.0.0"] {
            t.published(reg, &u, "leaky", v).await;
        }
        let mut dev = dependency("leaky", "^1");
        dev["kind"] = json!("dev");
        for (vers, req) in [("1.0.0", "^1"), ("2.0.0", "^2")] {
            t.publish(
                reg,
                &u,
                PublishBuilder::new("app", vers)
                    .dependency(dependency("leaky", req))
                    .dependency(dev.clone()),
            )
            .await
            .unwrap();
        }
        t.publish(
            reg,
            &u,
            PublishBuilder::new("tool", "1.0.0").dependency(dev.clone()),
        )
        .await
        .unwrap();
    }
    import(
        &t,
        &[AdvisoryFile::vulnerability(
            "RUSTSEC-2026-0201",
            "leaky",
            &[">= 2.0.0"],
        )],
    )
    .await;

    let app1 = page(&t, "main", "app", Some("1.0.0")).await;
    let facts: Vec<_> = app1
        .supply
        .affected_deps
        .iter()
        .map(|d| {
            (
                d.name.as_str(),
                d.req.as_str(),
                d.registry.as_str(),
                d.version.as_str(),
                ids(&d.advisories),
            )
        })
        .collect();
    assert_eq!(
        facts,
        [("leaky", "^1", "main", "1.1.0", vec!["RUSTSEC-2026-0201"])],
        "the newest version ^1 matches; the dev-dependency is not looked at"
    );
    assert!(
        app1.supply.vulnerable.is_empty(),
        "app itself is not affected"
    );
    // ^2 picks 2.0.0, which is patched; a dev-dependency alone says nothing.
    assert!(page(&t, "main", "app", None)
        .await
        .supply
        .affected_deps
        .is_empty());
    assert!(page(&t, "main", "tool", None)
        .await
        .supply
        .affected_deps
        .is_empty());
    // A yanked version is not what cargo would pick.
    t.berth
        .set_yanked("main", Some(&u.who), "leaky", "1.1.0", true)
        .await
        .unwrap();
    let app1 = page(&t, "main", "app", Some("1.0.0")).await;
    assert_eq!(app1.supply.affected_deps[0].version, "1.0.0");
    // Where the policy blocks every affected version, none is resolvable.
    let strict = page(&t, "strict", "app", Some("1.0.0")).await;
    assert!(
        strict.supply.affected_deps.is_empty(),
        "{:?}",
        strict.supply.affected_deps
    );
}

#[tokio::test]
async fn blocked_versions_carry_their_rule_and_the_refusals_sentence() {
    let t = TestBerth::new(&format!(
        "{}[registries.policy]\nblock_advisories = true\ndeny = [\"leaky@<1.1.0\"]\n{}",
        hosted("main"),
        virtual_of("company", &["main"], ""),
    ))
    .await;
    let u = t.user("pub", &[("main", Role::Publish)]).await;
    for v in ["1.0.0", "1.1.0", "1.2.0"] {
        t.published("main", &u, "leaky", v).await;
    }
    import(
        &t,
        &[AdvisoryFile::vulnerability(
            "RUSTSEC-2026-0301",
            "leaky",
            &[">= 1.2.0"],
        )],
    )
    .await;
    let detail = t.berth.crate_detail("main", None, "leaky").await.unwrap();
    assert_eq!(
        blocked(&detail),
        [("1.0.0".to_string(), "deny"), ("1.1.0".into(), "advisory")],
        "deny runs first"
    );
    let refused = forbidden(
        t.berth
            .download("main", None, "leaky", "1.1.0", true)
            .await
            .map(|_| ()),
    );
    let b = detail
        .versions
        .iter()
        .find(|v| v.vers == "1.1.0")
        .and_then(|v| v.blocked.clone())
        .unwrap();
    assert_eq!(b.reason, refused, "the sentence a refused download gives");
    assert_eq!(
        (b.registry.as_str(), b.advisory.as_deref()),
        ("main", Some("RUSTSEC-2026-0301"))
    );
    let json = serde_json::to_value(&b).unwrap();
    assert_eq!(json["rule"], "advisory");

    // The page shows the same, through the virtual registry too (the
    // member's policy applies there).
    for registry in ["main", "company"] {
        let p = page(&t, registry, "leaky", Some("1.1.0")).await;
        assert_eq!(blocked(&p.detail), blocked(&detail), "{registry}");
    }
    let through = t
        .berth
        .crate_detail("company", None, "leaky")
        .await
        .unwrap();
    assert_eq!(blocked(&through), blocked(&detail));

    // An exception lifts the block on the page at once.
    t.berth
        .policy_allow(
            "main",
            "leaky",
            "1.1.0",
            "pinned by release 4.2",
            Some("1d"),
        )
        .await
        .unwrap();
    let p = page(&t, "main", "leaky", Some("1.1.0")).await;
    assert_eq!(blocked(&p.detail), [("1.0.0".to_string(), "deny")]);
    assert_eq!(
        ids(&p.supply.vulnerable),
        ["RUSTSEC-2026-0301"],
        "still affected"
    );
}

fn line(name: &str, vers: &str, deps: serde_json::Value) -> String {
    let l = json!({"name": name, "vers": vers, "deps": deps, "cksum": "0".repeat(64),
                   "features": {}, "yanked": false});
    format!("{l}\n")
}

#[tokio::test]
async fn a_proxys_cached_crates_show_their_advisories_without_asking_the_upstream() {
    let up = Fixture::on("127.0.0.1");
    let dep = json!([{"name": "leaky", "req": "^1", "features": [], "optional": false,
                      "default_features": true, "target": null, "kind": "normal"}]);
    up.answer_index(
        "leaky",
        Answer::ok(format!(
            "{}{}",
            line("leaky", "1.0.0", json!([])),
            line("leaky", "1.1.0", json!([]))
        )),
    );
    up.answer_index("app", Answer::ok(line("app", "0.1.0", dep)));
    let t = TestBerth::new(&format!(
        "{}{}[registries.policy]\ndeny = [\"leaky@=1.0.0\"]\n{}",
        hosted("main"),
        proxy("public", &up.index_url(), "index_ttl_secs = 0"),
        virtual_of("company", &["main", "public"], ""),
    ))
    .await;
    // cargo's requests cache both files.
    for name in ["leaky", "app"] {
        t.index("public", None, name).await.unwrap();
    }
    import(
        &t,
        &[AdvisoryFile::vulnerability(
            "RUSTSEC-2026-0401",
            "leaky",
            &[">= 2"],
        )],
    )
    .await;
    let asked = up.asked().len();
    for registry in ["public", "company"] {
        let p = page(&t, registry, "leaky", None).await;
        assert!(p.proxied);
        assert_eq!(
            advised(&p.detail),
            [
                ("1.0.0".to_string(), vec!["RUSTSEC-2026-0401".to_string()]),
                ("1.1.0".into(), vec!["RUSTSEC-2026-0401".into()])
            ],
            "{registry}"
        );
        assert_eq!(
            blocked(&p.detail),
            [("1.0.0".to_string(), "deny")],
            "{registry}"
        );
        assert_eq!(ids(&p.supply.vulnerable), ["RUSTSEC-2026-0401"]);
        let app = page(&t, registry, "app", None).await;
        let d = &app.supply.affected_deps;
        assert_eq!(d.len(), 1, "{registry}: {d:?}");
        assert_eq!(
            (
                d[0].name.as_str(),
                d[0].version.as_str(),
                d[0].registry.as_str()
            ),
            ("leaky", "1.1.0", registry)
        );
    }
    assert_eq!(up.asked().len(), asked, "pages never ask the upstream");
}
