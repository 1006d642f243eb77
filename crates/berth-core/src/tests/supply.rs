//! Supply-chain control in process: an imported advisory set, policies of
//! each rule, exceptions and approvals deciding what index files show and
//! what downloads are refused, cooldowns ending exactly when the (test)
//! clock passes them, a virtual registry applying its member's policy, and
//! the lockfile check. The clock moves instead of the test sleeping.

use std::time::Duration;

use berth_testkit::{write_advisory_db, AdvisoryFile, Answer, Fixture, PublishBuilder};
use serde_json::json;

use crate::supply::advisories::AdvisoryInput;
use crate::testing::*;
use crate::Role;

/// A hosted registry `main` with `policy` (TOML lines of its table).
fn hosted_with(policy: &str) -> String {
    format!("{}[registries.policy]\n{policy}\n", hosted("main"))
}

/// Imports a database of `advisories` into `t`.
async fn import(t: &TestBerth, advisories: &[AdvisoryFile]) {
    t.import_advisories(advisories).await;
}

/// The versions an index file shows.
async fn versions(t: &TestBerth, registry: &str, name: &str) -> Vec<String> {
    match t.index(registry, None, name).await {
        Ok(body) => body
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["vers"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect(),
        Err(e) => panic!("index of {name} in {registry}: {e}"),
    }
}

async fn download(
    t: &TestBerth,
    registry: &str,
    name: &str,
    vers: &str,
) -> Result<(), crate::ServiceError> {
    t.berth
        .download(registry, None, name, vers, true)
        .await
        .map(|_| ())
}

#[tokio::test]
async fn an_affected_version_is_left_out_and_refused_until_allowed() {
    let t = TestBerth::new(&hosted_with("block_advisories = true")).await;
    let u = t.user("pub", &[("main", Role::Publish)]).await;
    for v in ["1.0.0", "1.0.1", "1.1.0"] {
        t.published("main", &u, "leaky", v).await;
    }
    assert_eq!(
        versions(&t, "main", "leaky").await,
        ["1.0.0", "1.0.1", "1.1.0"]
    );
    import(
        &t,
        &[AdvisoryFile::vulnerability(
            "RUSTSEC-2026-0001",
            "leaky",
            &[">= 1.0.1"],
        )],
    )
    .await;
    assert_eq!(versions(&t, "main", "leaky").await, ["1.0.1", "1.1.0"]);
    let refused = forbidden(download(&t, "main", "leaky", "1.0.0").await);
    assert!(refused.contains("RUSTSEC-2026-0001"), "{refused}");
    // Build metadata is not compared by downloads, nor by the refusal.
    forbidden(download(&t, "main", "leaky", "1.0.0+any.thing").await);
    assert!(refused.starts_with("blocked by policy"), "{refused}");
    download(&t, "main", "leaky", "1.0.1").await.unwrap();

    let x = t
        .berth
        .policy_explain("main", "leaky", "1.0.0")
        .await
        .unwrap();
    assert!(!x.served);
    let advisory = x.policies[0]
        .checks
        .iter()
        .find(|c| c.rule == "advisory")
        .unwrap();
    assert_eq!(advisory.outcome, "block");

    // An exception for one day: served, then blocked again when it lapses.
    t.berth
        .policy_allow(
            "main",
            "leaky",
            "1.0.0",
            "pinned by the release branch",
            Some("1d"),
        )
        .await
        .unwrap();
    assert_eq!(
        versions(&t, "main", "leaky").await,
        ["1.0.0", "1.0.1", "1.1.0"]
    );
    download(&t, "main", "leaky", "1.0.0").await.unwrap();
    assert!(
        t.berth
            .policy_explain("main", "leaky", "1.0.0")
            .await
            .unwrap()
            .served
    );
    t.advance(Duration::from_secs(86_400));
    assert_eq!(versions(&t, "main", "leaky").await, ["1.0.1", "1.1.0"]);
    forbidden(download(&t, "main", "leaky", "1.0.0").await);

    let audit = t
        .berth
        .audit_log(&berth_store::AuditFilter::default())
        .await
        .unwrap();
    let allow = audit
        .iter()
        .find(|r| r.entry.action == berth_store::AuditAction::PolicyAllow)
        .expect("the exception is audited");
    assert_eq!(allow.entry.crate_name.as_deref(), Some("leaky"));
    assert!(audit
        .iter()
        .any(|r| r.entry.action == berth_store::AuditAction::AdvisoriesImport));
}

#[tokio::test]
async fn a_withdrawn_or_informational_advisory_blocks_only_when_asked() {
    let t = TestBerth::new(&format!(
        "{}{}[registries.policy]\nblock_advisories = true\nblock_informational = [\"unmaintained\"]\n",
        hosted_with("block_advisories = true"),
        hosted("strict"),
    ))
    .await;
    let u = t
        .user("pub", &[("main", Role::Publish), ("strict", Role::Publish)])
        .await;
    for reg in ["main", "strict"] {
        t.published(reg, &u, "gone", "1.0.0").await;
        t.published(reg, &u, "old", "1.0.0").await;
    }
    import(
        &t,
        &[
            AdvisoryFile::vulnerability("RUSTSEC-2026-0002", "gone", &[]).withdrawn("2026-04-01"),
            AdvisoryFile::vulnerability("RUSTSEC-2026-0003", "old", &[])
                .informational("unmaintained"),
        ],
    )
    .await;
    assert_eq!(versions(&t, "main", "gone").await, ["1.0.0"], "withdrawn");
    assert_eq!(
        versions(&t, "main", "old").await,
        ["1.0.0"],
        "informational"
    );
    assert_eq!(versions(&t, "strict", "gone").await, ["1.0.0"]);
    assert!(
        versions(&t, "strict", "old").await.is_empty(),
        "unmaintained blocked"
    );
    let why = forbidden(download(&t, "strict", "old", "1.0.0").await);
    assert!(why.contains("RUSTSEC-2026-0003"), "{why}");
}

#[tokio::test]
async fn licenses_must_be_satisfiable_from_the_allowed_list() {
    let t = TestBerth::new(&hosted_with("licenses = [\"MIT\"]")).await;
    let u = t.user("pub", &[("main", Role::Publish)]).await;
    for (vers, license) in [
        ("1.0.0", "MIT OR Apache-2.0"),
        ("1.1.0", "GPL-3.0-only"),
        ("1.2.0", "MIT OR OR Apache-2.0"),
    ] {
        t.publish(
            "main",
            &u,
            PublishBuilder::new("lic", vers).set("license", license),
        )
        .await
        .unwrap();
    }
    t.publish(
        "main",
        &u,
        PublishBuilder::new("lic", "1.3.0").set("license", serde_json::Value::Null),
    )
    .await
    .unwrap();
    assert_eq!(versions(&t, "main", "lic").await, ["1.0.0"]);
    let gpl = forbidden(download(&t, "main", "lic", "1.1.0").await);
    assert!(gpl.contains("`GPL-3.0-only`"), "{gpl}");
    let bad = forbidden(download(&t, "main", "lic", "1.2.0").await);
    assert!(bad.contains("not a valid SPDX license expression"), "{bad}");
    let none = forbidden(download(&t, "main", "lic", "1.3.0").await);
    assert!(none.contains("unknown"), "{none}");
}

#[tokio::test]
async fn deny_and_the_approved_list() {
    let t = TestBerth::new(&hosted_with(
        "deny = [\"evil\", \"old@<2\"]\napproved_only = true",
    ))
    .await;
    let u = t.user("pub", &[("main", Role::Publish)]).await;
    for (name, vers) in [
        ("evil", "1.0.0"),
        ("old", "1.0.0"),
        ("old", "2.0.0"),
        ("fine", "1.0.0"),
        ("fine", "2.0.0"),
    ] {
        t.published("main", &u, name, vers).await;
    }
    assert!(versions(&t, "main", "evil").await.is_empty());
    assert!(
        versions(&t, "main", "fine").await.is_empty(),
        "not approved"
    );
    t.berth
        .policy_approve("main", "fine", Some("^1"))
        .await
        .unwrap();
    t.berth.policy_approve("main", "old", None).await.unwrap();
    assert_eq!(versions(&t, "main", "fine").await, ["1.0.0"]);
    assert_eq!(versions(&t, "main", "old").await, ["2.0.0"], "deny wins");
    let why = forbidden(download(&t, "main", "fine", "2.0.0").await);
    assert!(why.contains("approved"), "{why}");
    assert_eq!(t.berth.policy_unapprove("main", "fine").await.unwrap(), 1);
    assert!(versions(&t, "main", "fine").await.is_empty());
    // Lists are only for registries with a policy; names and versions are checked.
    let t2 = TestBerth::new(&hosted("plain")).await;
    let e = bad_request(
        t2.berth
            .policy_allow("plain", "x", "1.0.0", "r", None)
            .await,
    );
    assert!(e.contains("has no policy"), "{e}");
    let e = bad_request(t.berth.policy_allow("main", "x", "one", "r", None).await);
    assert!(e.contains("not a version"), "{e}");
    let e = bad_request(t.berth.policy_allow("main", "x", "1.0.0", " ", None).await);
    assert!(e.contains("reason"), "{e}");
    let e = bad_request(
        t.berth
            .policy_allow("main", "x", "1.0.0", "r", Some("soon"))
            .await,
    );
    assert!(e.contains("duration"), "{e}");
}

fn pubtime(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn line(name: &str, vers: &str, published: Option<i64>) -> String {
    let mut l = json!({"name": name, "vers": vers, "deps": [], "cksum": "0".repeat(64),
                       "features": {}, "yanked": false});
    if let Some(at) = published {
        l["pubtime"] = json!(pubtime(at));
    }
    format!("{l}\n")
}

#[tokio::test]
async fn a_cooldown_ends_when_the_clock_passes_it_through_a_proxy_and_a_virtual_registry() {
    const HOUR: i64 = 3600;
    let up = Fixture::on("127.0.0.1");
    up.answer_index(
        "fresh",
        Answer::ok(format!(
            "{}{}{}",
            line("fresh", "1.0.0", Some(T0 - 30 * 24 * HOUR)),
            line("fresh", "1.1.0", Some(T0 - HOUR)),
            line("fresh", "0.9.0", None),
        )),
    );
    let t = TestBerth::new(&format!(
        "{}{}[registries.policy]\nmin_age = \"72h\"\n{}",
        hosted("main"),
        proxy("public", &up.index_url(), "index_ttl_secs = 600"),
        virtual_of("company", &["main", "public"], ""),
    ))
    .await;
    assert_eq!(
        versions(&t, "public", "fresh").await,
        ["1.0.0"],
        "unknown age blocked too"
    );
    assert_eq!(
        versions(&t, "company", "fresh").await,
        ["1.0.0"],
        "the member's policy applies"
    );
    let why = forbidden(download(&t, "company", "fresh", "1.1.0").await);
    assert!(why.contains("only 3d after it is published"), "{why}");
    // One second short of 72 hours after 1.1.0's publish: still hidden.
    t.advance(Duration::from_secs((71 * HOUR - 1) as u64));
    assert_eq!(versions(&t, "company", "fresh").await, ["1.0.0"]);
    t.advance(Duration::from_secs(1));
    assert_eq!(versions(&t, "company", "fresh").await, ["1.0.0", "1.1.0"]);
    assert_eq!(versions(&t, "public", "fresh").await, ["1.0.0", "1.1.0"]);
}

#[tokio::test]
async fn a_lockfile_is_checked_against_the_policy_and_the_advisories() {
    let t = TestBerth::new(&format!(
        "{}{}",
        hosted_with("block_advisories = true"),
        hosted("open"),
    ))
    .await;
    let u = t
        .user("pub", &[("main", Role::Publish), ("open", Role::Publish)])
        .await;
    for reg in ["main", "open"] {
        t.published(reg, &u, "leaky", "1.0.0").await;
        t.published(reg, &u, "leaky", "1.0.1").await;
        t.published(reg, &u, "safe", "2.0.0").await;
    }
    import(
        &t,
        &[AdvisoryFile::vulnerability(
            "RUSTSEC-2026-0009",
            "leaky",
            &[">= 1.0.1"],
        )],
    )
    .await;
    let lock = |leaky: &str| {
        format!(
            "version = 4\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n\n\
             [[package]]\nname = \"leaky\"\nversion = \"{leaky}\"\nsource = \"sparse+http://127.0.0.1:1/r/main/index/\"\n\n\
             [[package]]\nname = \"safe\"\nversion = \"2.0.0\"\nsource = \"registry+https://example.invalid/index\"\n\n\
             [[package]]\nname = \"ghost\"\nversion = \"1.0.0\"\nsource = \"sparse+http://127.0.0.1:1/r/main/index/\"\n"
        )
    };
    let report = t
        .berth
        .check_lockfile("main", Some(&u.who), &lock("1.0.0"))
        .await
        .unwrap();
    assert!(!report.ok);
    assert_eq!((report.checked, report.skipped), (3, 1));
    let found: Vec<_> = report
        .findings
        .iter()
        .map(|f| (f.name.as_str(), f.status, f.rule))
        .collect();
    assert_eq!(
        found,
        [
            ("ghost", "missing", None),
            ("leaky", "blocked", Some("advisory"))
        ]
    );
    assert_eq!(report.findings[1].advisories, ["RUSTSEC-2026-0009"]);
    // Without a policy, the advisory is still reported.
    let open = t
        .berth
        .check_lockfile("open", Some(&u.who), &lock("1.0.0"))
        .await
        .unwrap();
    assert_eq!(open.findings[1].status, "advisory");
    // The patched version passes; a caller without a token is refused.
    let fixed = t
        .berth
        .check_lockfile(
            "main",
            Some(&u.who),
            &lock("1.0.1").replace("ghost", "safe2"),
        )
        .await
        .unwrap();
    assert_eq!(fixed.findings.len(), 1, "{:?}", fixed.findings);
    unauthorized(t.berth.check_lockfile("main", None, &lock("1.0.1")).await);
    let e = bad_request(
        t.berth
            .check_lockfile("main", Some(&u.who), "[[package]]\nname = 1\n")
            .await,
    );
    assert!(e.contains("not a Cargo.lock"), "{e}");
}

#[tokio::test]
async fn a_refused_import_keeps_the_set_in_force() {
    let t = TestBerth::new(&hosted_with("block_advisories = true")).await;
    import(
        &t,
        &[AdvisoryFile::vulnerability(
            "RUSTSEC-2026-0010",
            "a",
            &[">= 2"],
        )],
    )
    .await;
    let before = t.berth.advisories(None);
    let e = bad_request(
        t.berth
            .import_advisories(
                AdvisoryInput::Bytes(b"\x1f\x8b\x08\x00garbage".to_vec()),
                "bad",
            )
            .await,
    );
    assert!(e.contains("the set in force is unchanged"), "{e}");
    let after = t.berth.advisories(None);
    assert_eq!(after.set, before.set);
    assert_eq!(after.advisories, before.advisories);
    // The same set again changes nothing.
    let dir = tempfile::tempdir().unwrap();
    write_advisory_db(
        dir.path(),
        &[AdvisoryFile::vulnerability(
            "RUSTSEC-2026-0010",
            "a",
            &[">= 2"],
        )],
    );
    let again = t
        .berth
        .import_advisories(AdvisoryInput::Path(dir.path().into()), "again")
        .await
        .unwrap();
    assert!(!again.changed);
    assert_eq!(
        t.berth.advisories(Some("A")).advisories.len(),
        1,
        "names fold"
    );
}

/// A `.tar.gz` of a database of `advisories`, as a mirror would serve it.
fn archive(advisories: &[AdvisoryFile]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    write_advisory_db(dir.path(), advisories);
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    tar.append_dir_all("advisory-db-main", dir.path()).unwrap();
    tar.into_inner().unwrap().finish().unwrap()
}

#[tokio::test]
async fn a_url_source_is_read_again_and_a_bad_answer_keeps_the_set() {
    let up = Fixture::on("127.0.0.1");
    let one = [AdvisoryFile::vulnerability(
        "RUSTSEC-2026-0020",
        "a",
        &[">= 2"],
    )];
    up.answer("/db.tar.gz", Answer::ok(archive(&one)));
    let t = TestBerth::new(&format!(
        "[advisories]\nsource = \"{}/db.tar.gz\"\n{}",
        up.url,
        hosted_with("block_advisories = true")
    ))
    .await;
    assert!(t.berth.advisories(None).set.is_none(), "nothing until read");
    let first = t.berth.refresh_advisory_source().await.unwrap().unwrap();
    assert!(first.changed);
    assert_eq!(t.berth.advisories(None).advisories.len(), 1);
    let again = t.berth.refresh_advisory_source().await.unwrap().unwrap();
    assert!(!again.changed, "the same set writes nothing");

    let two = [
        AdvisoryFile::vulnerability("RUSTSEC-2026-0020", "a", &[">= 2"]),
        AdvisoryFile::vulnerability("RUSTSEC-2026-0021", "b", &[">= 3"]),
    ];
    up.answer("/db.tar.gz", Answer::ok(archive(&two)));
    assert!(
        t.berth
            .refresh_advisory_source()
            .await
            .unwrap()
            .unwrap()
            .changed
    );
    assert_eq!(t.berth.advisories(None).advisories.len(), 2);

    // A truncated archive and a failing mirror leave the set in force.
    let mut cut = archive(&one);
    cut.truncate(cut.len() / 2);
    up.answer("/db.tar.gz", Answer::ok(cut));
    let e = bad_request(t.berth.refresh_advisory_source().await);
    assert!(e.contains("the set in force is unchanged"), "{e}");
    up.set(berth_testkit::Mode::Error);
    let e = t
        .berth
        .refresh_advisory_source()
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("answered 5"), "{e}");
    assert_eq!(t.berth.advisories(None).advisories.len(), 2);
}

#[tokio::test]
async fn a_bad_advisory_source_is_refused_with_the_configuration() {
    for (source, why) in [
        (
            "ftp://mirror.internal/db.tar.gz",
            "must be a path, or an http:// or https:// URL",
        ),
        ("", "is empty"),
    ] {
        let e = TestBerth::try_new(&format!("[advisories]\nsource = \"{source}\"\n"))
            .await
            .err()
            .unwrap();
        assert!(e.contains(why), "{e}");
    }
    let e = TestBerth::try_new("[advisories]\nrefresh_secs = 5\n")
        .await
        .err()
        .unwrap();
    assert!(
        e.contains("advisories.refresh_secs = 5 is out of range"),
        "{e}"
    );
}

#[tokio::test]
async fn lockfile_checks_take_a_few_slots_and_a_bystander_is_served() {
    // An upstream that takes two seconds to answer about `slow`.
    let up = Fixture::on("127.0.0.1");
    up.answer_index(
        "slow",
        Answer::ok(line("slow", "1.0.0", None)).after(Duration::from_secs(2)),
    );
    let t = std::sync::Arc::new(
        TestBerth::new(&format!(
            "{}{}",
            hosted("main"),
            proxy(
                "public",
                &up.index_url(),
                "connect_timeout_secs = 2\nupstream_timeout_secs = 10"
            )
        ))
        .await,
    );
    let u = t.user("pub", &[("main", Role::Publish)]).await;
    t.published("main", &u, "bystander", "1.0.0").await;
    let lock = "version = 4\n\n[[package]]\nname = \"slow\"\nversion = \"1.0.0\"\n\
                source = \"registry+https://example.invalid/index\"\n";
    let running: Vec<_> = (0..crate::throttle::MAX_CONCURRENT_CHECKS)
        .map(|_| {
            let (t, who) = (t.clone(), u.who.clone());
            tokio::spawn(async move { t.berth.check_lockfile("public", Some(&who), lock).await })
        })
        .collect();
    // Both hold their slots while they wait on the upstream.
    for _ in 0..200 {
        if t.berth.checks_running() == crate::throttle::MAX_CONCURRENT_CHECKS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        t.berth.checks_running(),
        crate::throttle::MAX_CONCURRENT_CHECKS
    );
    let refused = busy(t.berth.check_lockfile("public", Some(&u.who), lock).await);
    assert!(refused.contains("too many lockfile checks"), "{refused}");
    // Everyone else is served meanwhile.
    assert_eq!(versions(&t, "main", "bystander").await, ["1.0.0"]);
    for r in running {
        let report = r.await.unwrap().unwrap();
        assert_eq!(report.checked, 1);
    }
    // The slots are given back.
    t.berth
        .check_lockfile("public", Some(&u.who), lock)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_cached_version_no_index_lists_is_judged_on_what_is_known() {
    use berth_testkit::{crate_file, DEFAULT_LIB};
    let bytes = crate_file("evil", "1.0.0", DEFAULT_LIB);
    let up = Fixture::start(&[("evil", "1.0.0", bytes)]);
    let t = TestBerth::new(&format!(
        "{}[registries.policy]\nblock_advisories = true\nmin_age = \"1h\"\nmin_age_unknown = \"allow\"\n",
        proxy("public", &up.index_url(), "index_ttl_secs = 60"),
    ))
    .await;
    // Fetched and cached while nothing was known against it.
    download(&t, "public", "evil", "1.0.0").await.unwrap();
    // The upstream deletes the crate and an advisory names it.
    up.answer_index("evil", Answer::not_found());
    import(
        &t,
        &[AdvisoryFile::vulnerability(
            "RUSTSEC-2026-0030",
            "evil",
            &[],
        )],
    )
    .await;
    t.advance(Duration::from_secs(61));
    assert!(
        t.index("public", None, "evil").await.is_err(),
        "no index file"
    );
    let why = forbidden(download(&t, "public", "evil", "1.0.0").await);
    assert!(why.contains("RUSTSEC-2026-0030"), "{why}");
    // A version that does not parse is no version under a policy.
    not_found(download(&t, "public", "evil", "1.0").await);
}

#[tokio::test]
async fn exceptions_are_kept_per_version_without_build_metadata() {
    let t = TestBerth::new(&hosted_with("deny = [\"leaky\"]")).await;
    t.berth
        .policy_allow("main", "leaky", "1.0.0+build.1", "first", None)
        .await
        .unwrap();
    t.berth
        .policy_allow("main", "Leaky", "1.0.0", "second, shorter", Some("1d"))
        .await
        .unwrap();
    let lists = t.berth.policy_lists("main").unwrap();
    assert_eq!(lists.exceptions.len(), 1, "{:?}", lists.exceptions);
    assert_eq!(lists.exceptions[0].vers, "1.0.0");
    assert_eq!(lists.exceptions[0].reason, "second, shorter");
    assert_eq!(
        t.berth
            .policy_disallow("main", "leaky", "1.0.0+other")
            .await
            .unwrap(),
        1
    );
    assert!(t.berth.policy_lists("main").unwrap().exceptions.is_empty());
}

#[tokio::test]
async fn a_stored_set_that_does_not_load_closes_policed_registries_only() {
    use berth_store::sqlx::{sqlite::SqliteConnection, Connection};
    let t = TestBerth::new(&format!(
        "{}{}",
        hosted_with("block_advisories = true"),
        hosted("plain")
    ))
    .await;
    let u = t
        .user("pub", &[("main", Role::Publish), ("plain", Role::Publish)])
        .await;
    t.published("main", &u, "leaky", "1.0.0").await;
    t.published("plain", &u, "leaky", "1.0.0").await;
    let one = [AdvisoryFile::vulnerability(
        "RUSTSEC-2026-0040",
        "leaky",
        &[">= 2"],
    )];
    import(&t, &one).await;
    // Someone breaks the stored set; a node (or a command) opens.
    let db = t.data_dir().join("berth.db");
    let mut c = SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    berth_store::sqlx::query("UPDATE advisory_sets SET body = '{broken'")
        .execute(&mut c)
        .await
        .unwrap();
    let node = crate::Berth::open_with_clock(t.berth.config.clone(), t.clock.clone())
        .await
        .expect("opens all the same");
    let path = berth_protocol::index_path("leaky");
    let e = node.index_file("main", None, &path).await.unwrap_err();
    assert!(matches!(e, crate::ServiceError::Unavailable(_)), "{e}");
    node.index_file("plain", None, &path).await.unwrap();
    // A good import, then the next refresh, opens the policed registry again.
    let dir = tempfile::tempdir().unwrap();
    write_advisory_db(dir.path(), &one);
    let again = node
        .import_advisories(AdvisoryInput::Path(dir.path().into()), "again")
        .await
        .unwrap();
    assert!(again.changed, "the damaged body is written again");
    node.refresh_supply().await.unwrap();
    let file = node.index_file("main", None, &path).await.unwrap();
    assert!(file.body.is_empty(), "1.0.0 is affected and left out");
    let fresh = crate::Berth::open_with_clock(t.berth.config.clone(), t.clock.clone())
        .await
        .unwrap();
    fresh.index_file("main", None, &path).await.unwrap();
}
