//! Exceptions (live and expired by the `now` passed in, for exactly one
//! version, over every rule), the next expiry callers cache until, and the
//! lists' digest.

mod common;

use berth_policy::{explain, Approval, Exception, Lists, Outcome};
use common::*;

fn exception(name: &str, version: &str, expires_at: Option<i64>) -> Exception {
    Exception {
        name: name.to_owned(),
        version: v(version),
        expires_at,
        reason: "vendored fix reviewed by security".to_owned(),
    }
}

fn strict() -> berth_policy::Policy {
    policy(
        "deny = [\"foo\"]\napproved_only = true\nblock_advisories = true\n\
         licenses = [\"MIT\"]\nmin_age = \"72h\"",
    )
}

#[test]
fn live_exception_allows_whatever_the_rules_say() {
    let set = set(vec![vuln("RUSTSEC-2024-0001", "foo", &[])]);
    let lists = Lists {
        exceptions: vec![exception("Foo", "1.2.0", Some(NOW + HOUR))],
        approved: Vec::new(),
    };
    let c = case("foo", "1.2.0")
        .published(Some(NOW))
        .license(Some("GPL-3.0-only"));
    let p = strict();
    assert!(c.verdict(&p, &set, &lists, NOW).is_allowed());
    assert!(c.verdict(&p, &set, &lists, NOW + HOUR - 1).is_allowed());
    // Expired at `expires_at` itself: the rules apply again.
    assert_eq!(
        rule_of(&c.verdict(&p, &set, &lists, NOW + HOUR)),
        Some("deny")
    );
    // Exactly that version: not another, not a pre-release of it.
    for other in ["1.2.1", "1.2.0-rc.1", "1.1.0"] {
        let c = case("foo", other);
        assert_eq!(
            rule_of(&c.verdict(&p, &set, &lists, NOW)),
            Some("deny"),
            "{other}"
        );
    }
    // Build metadata is not compared, as the registry keeps one of each.
    assert!(case("foo", "1.2.0+vendored")
        .published(Some(NOW))
        .verdict(&p, &set, &lists, NOW)
        .is_allowed());
    // Never expiring.
    let forever = Lists {
        exceptions: vec![exception("foo", "1.2.0", None)],
        approved: Vec::new(),
    };
    assert!(c.verdict(&p, &set, &forever, i64::MAX).is_allowed());
    assert!(lists.live_exception("FOO", &v("1.2.0"), NOW).is_some());
    assert!(lists
        .live_exception("foo", &v("1.2.0"), NOW + HOUR)
        .is_none());
}

#[test]
fn explain_names_the_exception() {
    let set = set(vec![vuln("RUSTSEC-2024-0001", "foo", &[])]);
    let lists = Lists {
        exceptions: vec![
            exception("foo", "1.2.0", Some(NOW - 1)),
            exception("foo", "1.2.0", Some(NOW + 24 * HOUR)),
        ],
        approved: vec![Approval {
            name: "foo".into(),
            req: None,
        }],
    };
    let c = case("foo", "1.2.0");
    let checks = explain(
        &policy("block_advisories = true"),
        &set,
        &lists,
        &c.candidate(),
        NOW,
    );
    assert_eq!(checks[2].outcome, Outcome::Block);
    assert_eq!(
        checks[2].why,
        "blocked by policy: `foo@1.2.0` is affected by RUSTSEC-2024-0001 (Made-up flaw \
         RUSTSEC-2024-0001); no patched version is known (allowed all the same by the \
         exception for `foo@1.2.0`, until 2024-05-02T12:00:00Z: vendored fix reviewed by \
         security)"
    );
    // Once every exception has expired, the sentence is the plain reason.
    let later = explain(
        &policy("block_advisories = true"),
        &set,
        &lists,
        &c.candidate(),
        NOW + 24 * HOUR,
    );
    assert!(
        later[2].why.ends_with("no patched version is known"),
        "{}",
        later[2].why
    );
}

#[test]
fn next_expiry_is_the_first_after_now() {
    let lists = Lists {
        exceptions: vec![
            exception("a", "1.0.0", Some(NOW - 10)),
            exception("b", "1.0.0", Some(NOW + 50)),
            exception("c", "1.0.0", None),
            exception("d", "1.0.0", Some(NOW + 20)),
        ],
        approved: Vec::new(),
    };
    assert_eq!(lists.next_expiry(NOW), Some(NOW + 20));
    assert_eq!(lists.next_expiry(NOW + 20), Some(NOW + 50));
    assert_eq!(lists.next_expiry(NOW + 50), None);
    assert_eq!(Lists::default().next_expiry(NOW), None);
}

#[test]
fn lists_digest_is_stable_and_changes() {
    let base = Lists {
        exceptions: vec![
            exception("a", "1.0.0", Some(NOW)),
            exception("b", "2.0.0", None),
        ],
        approved: vec![
            Approval {
                name: "serde".into(),
                req: None,
            },
            Approval {
                name: "tokio".into(),
                req: Some(req("^1")),
            },
        ],
    };
    let digest = base.digest();
    assert_eq!(digest.len(), 64);
    assert_eq!(base.clone().digest(), digest);
    let mut reordered = base.clone();
    reordered.exceptions.reverse();
    reordered.approved.reverse();
    assert_eq!(reordered.digest(), digest, "order does not matter");

    let mut variants = Vec::new();
    let mut push = |change: &dyn Fn(&mut Lists)| {
        let mut lists = base.clone();
        change(&mut lists);
        variants.push(lists.digest());
    };
    push(&|l| l.exceptions[0].expires_at = Some(NOW + 1));
    push(&|l| l.exceptions[0].expires_at = None);
    push(&|l| l.exceptions[0].version = v("1.0.1"));
    push(&|l| l.exceptions[0].reason.push('!'));
    push(&|l| l.exceptions[1].name = "c".into());
    push(&|l| {
        l.exceptions.pop();
    });
    push(&|l| l.approved[0].req = Some(req("^1")));
    push(&|l| l.approved[1].req = Some(req("^1.1")));
    push(&|l| l.approved[1].req = None);
    push(&|l| l.approved.clear());
    // An exception's fields moved into another's cannot collide.
    push(&|l| {
        l.exceptions[0].reason = String::new();
        l.exceptions[1].reason =
            "vendored fix reviewed by securityvendored fix reviewed by security".into();
    });
    variants.push(digest.clone());
    variants.push(Lists::default().digest());
    let count = variants.len();
    variants.sort();
    variants.dedup();
    assert_eq!(variants.len(), count, "every change gives another digest");
}
