//! Each rule alone (deny, approved_only, advisory, informational, license,
//! min_age), the sentences a cargo user reads, the order in which the rules
//! run, and `explain`'s account of every rule.

mod common;

use berth_advisory::{AdvisorySet, Informational};
use berth_policy::{explain, Approval, Lists, Outcome, Rule};
use common::*;

fn none() -> (AdvisorySet, Lists) {
    (AdvisorySet::default(), Lists::default())
}

#[test]
fn rule_names_and_order() {
    let names: Vec<&str> = Rule::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        names,
        [
            "deny",
            "approved_only",
            "advisory",
            "informational",
            "license",
            "min_age"
        ]
    );
    assert_eq!(Rule::MinAge.to_string(), "min_age");
    assert_eq!(Outcome::NotApplicable.as_str(), "not_applicable");
}

#[test]
fn empty_policy_allows_everything() {
    let set = set(vec![vuln("RUSTSEC-2024-0001", "foo", &[])]);
    let lists = Lists::default();
    let c = case("foo", "1.0.0").published(Some(NOW)).license(None);
    assert!(c.verdict(&policy(""), &set, &lists, NOW).is_allowed());
}

#[test]
fn deny_folds_names_and_matches_requirements() {
    let p = policy(r#"deny = ["evil-crate", "Old_Crate@<2"]"#);
    let (set, lists) = none();
    for (name, version, blocked) in [
        ("evil-crate", "0.1.0", true),
        ("evil_crate", "9.9.9", true),
        ("EVIL-Crate", "1.0.0-alpha", true),
        ("evilcrate", "1.0.0", false),
        ("old-crate", "1.9.9", true),
        ("old_crate", "0.0.1", true),
        // A pre-release counts as its release: inside `<2`.
        ("old-crate", "1.5.0-beta.1", true),
        ("old-crate", "2.0.0", false),
        ("old-crate", "2.0.0-rc.1", false),
        ("other", "1.0.0", false),
    ] {
        let verdict = case(name, version).verdict(&p, &set, &lists, NOW);
        assert_eq!(
            rule_of(&verdict),
            blocked.then_some("deny"),
            "{name}@{version}"
        );
    }
    let verdict = case("old_crate", "1.0.0").verdict(&p, &set, &lists, NOW);
    let block = verdict.block().unwrap();
    assert_eq!(block.rule, Rule::Deny);
    assert_eq!(
        block.reason,
        "blocked by policy: `old_crate@1.0.0` is on this registry's deny list (`Old_Crate@<2`)"
    );
    assert_eq!(block.advisory, None);
}

#[test]
fn approved_only_with_and_without_requirements() {
    let p = policy("approved_only = true");
    let set = AdvisorySet::default();
    let lists = Lists {
        exceptions: Vec::new(),
        approved: vec![
            Approval {
                name: "serde".into(),
                req: None,
            },
            Approval {
                name: "tokio_util".into(),
                req: Some(req("^0.7")),
            },
            Approval {
                name: "tokio-util".into(),
                req: Some(req(">=1.2, <1.4")),
            },
        ],
    };
    for (name, version, allowed) in [
        ("serde", "1.0.200", true),
        ("Serde", "0.1.0-alpha", true),
        ("tokio-util", "0.7.9", true),
        ("tokio_util", "1.3.0", true),
        ("tokio-util", "0.6.0", false),
        ("tokio-util", "1.4.0", false),
        // cargo's matching: a pre-release only where a requirement names one.
        ("tokio-util", "0.7.10-rc.1", false),
        ("anyhow", "1.0.0", false),
    ] {
        let verdict = case(name, version).verdict(&p, &set, &lists, NOW);
        let want = (!allowed).then_some("approved_only");
        assert_eq!(rule_of(&verdict), want, "{name}@{version}");
    }
    let verdict = case("anyhow", "1.0.0").verdict(&p, &set, &lists, NOW);
    assert_eq!(
        verdict.block().unwrap().reason,
        "blocked by policy: `anyhow` is not on this registry's approved list"
    );
    let verdict = case("tokio-util", "0.6.0").verdict(&p, &set, &lists, NOW);
    assert_eq!(
        verdict.block().unwrap().reason,
        "blocked by policy: `tokio-util@0.6.0` is not approved on this registry: \
         `tokio-util` is approved only for `^0.7`, `>=1.2, <1.4`"
    );
    // Without `approved_only`, the list does not matter.
    assert!(case("anyhow", "1.0.0")
        .verdict(&policy("deny = [\"x\"]"), &set, &lists, NOW)
        .is_allowed());
}

#[test]
fn advisories_block_vulnerable_versions() {
    let p = policy("block_advisories = true");
    let set = set(vec![
        vuln(
            "RUSTSEC-2024-0001",
            "foo-bar",
            &[">= 1.2.3, < 1.3", ">= 1.3.1"],
        ),
        vuln("RUSTSEC-2024-0002", "foo-bar", &[">= 1.2.0"]),
        vuln("RUSTSEC-2024-0003", "never-fixed", &[]),
        info("RUSTSEC-2024-0004", "shaky", Informational::Unsound, &[]),
        {
            let mut withdrawn = vuln("RUSTSEC-2024-0005", "gone", &[]);
            withdrawn.withdrawn =
                Some(time::Date::from_calendar_date(2024, time::Month::February, 1).unwrap());
            withdrawn
        },
    ]);
    let lists = Lists::default();
    let verdict = case("foo_bar", "1.2.0").verdict(&p, &set, &lists, NOW);
    let block = verdict.block().unwrap();
    assert_eq!(block.rule, Rule::Advisory);
    assert_eq!(block.advisory.as_deref(), Some("RUSTSEC-2024-0001"));
    assert_eq!(
        block.reason,
        "blocked by policy: `foo_bar@1.2.0` is affected by RUSTSEC-2024-0001 (Made-up flaw \
         RUSTSEC-2024-0001); patched: >=1.2.3, <1.3 or >=1.3.1"
    );
    // Two advisories: the first named, the others listed.
    let verdict = case("foo-bar", "1.1.0").verdict(&p, &set, &lists, NOW);
    assert!(
        verdict
            .block()
            .unwrap()
            .reason
            .ends_with("; also RUSTSEC-2024-0002"),
        "{verdict:?}"
    );
    for ok in ["1.2.3", "1.3.1", "2.0.0"] {
        assert!(
            case("foo-bar", ok)
                .verdict(&p, &set, &lists, NOW)
                .is_allowed(),
            "{ok}"
        );
    }
    let verdict = case("never-fixed", "3.0.0").verdict(&p, &set, &lists, NOW);
    assert!(verdict
        .block()
        .unwrap()
        .reason
        .ends_with("; no patched version is known"));
    // Informational advisories are not vulnerabilities; withdrawn ones never count.
    assert!(case("shaky", "1.0.0")
        .verdict(&p, &set, &lists, NOW)
        .is_allowed());
    assert!(case("gone", "1.0.0")
        .verdict(&p, &set, &lists, NOW)
        .is_allowed());
    // Without `block_advisories`, nothing is blocked for them.
    let off = policy("licenses = [\"MIT\"]");
    assert!(case("foo-bar", "1.2.0")
        .verdict(&off, &set, &lists, NOW)
        .is_allowed());
}

#[test]
fn informational_kinds_are_opt_in() {
    let set = set(vec![
        info(
            "RUSTSEC-2023-0002",
            "old-crate",
            Informational::Unmaintained,
            &[],
        ),
        info(
            "RUSTSEC-2023-0003",
            "shaky",
            Informational::Unsound,
            &[">= 0.3.0"],
        ),
        info("RUSTSEC-2023-0004", "noted", Informational::Notice, &[]),
        info(
            "RUSTSEC-2023-0005",
            "odd",
            Informational::Other("later-kind".into()),
            &[],
        ),
    ]);
    let lists = Lists::default();
    let p = policy("block_informational = [\"unsound\"]");
    let verdict = case("shaky", "0.2.9").verdict(&p, &set, &lists, NOW);
    let block = verdict.block().unwrap();
    assert_eq!(block.rule, Rule::Informational);
    assert_eq!(block.advisory.as_deref(), Some("RUSTSEC-2023-0003"));
    assert_eq!(
        block.reason,
        "blocked by policy: `shaky@0.2.9` is flagged unsound by RUSTSEC-2023-0003 (Made-up \
         flaw RUSTSEC-2023-0003); patched: >=0.3.0"
    );
    assert!(case("shaky", "0.3.0")
        .verdict(&p, &set, &lists, NOW)
        .is_allowed());
    for other in ["old-crate", "noted", "odd"] {
        assert!(
            case(other, "1.0.0")
                .verdict(&p, &set, &lists, NOW)
                .is_allowed(),
            "{other}"
        );
    }
    let p = policy("block_informational = [\"unmaintained\", \"notice\"]");
    let verdict = case("old-crate", "1.0.0").verdict(&p, &set, &lists, NOW);
    assert_eq!(
        verdict.block().unwrap().reason,
        "blocked by policy: `old-crate@1.0.0` is flagged unmaintained by RUSTSEC-2023-0002 \
         (Made-up flaw RUSTSEC-2023-0002)"
    );
    assert_eq!(
        rule_of(&case("noted", "1.0.0").verdict(&p, &set, &lists, NOW)),
        Some("informational")
    );
    assert!(case("shaky", "0.1.0")
        .verdict(&p, &set, &lists, NOW)
        .is_allowed());
    // `block_advisories` alone does not block informational advisories.
    let p = policy("block_advisories = true");
    assert!(case("old-crate", "1.0.0")
        .verdict(&p, &set, &lists, NOW)
        .is_allowed());
}

#[test]
fn licenses_must_be_satisfiable() {
    let p = policy("licenses = [\"MIT\"]");
    let (set, lists) = none();
    let check = |license: Option<&str>| {
        case("foo", "1.0.0")
            .license(license)
            .verdict(&p, &set, &lists, NOW)
    };
    assert!(check(Some("MIT OR Apache-2.0")).is_allowed());
    assert!(
        check(Some("MIT/Apache-2.0")).is_allowed(),
        "the old crates form"
    );
    assert!(check(Some("Apache-2.0 OR MIT")).is_allowed());
    let gpl = check(Some("GPL-3.0-only"));
    assert_eq!(
        gpl.block().unwrap().reason,
        "blocked by policy: `foo@1.0.0` is licensed `GPL-3.0-only`, which this registry's \
         allowed licenses (`MIT`) do not satisfy"
    );
    assert_eq!(gpl.block().unwrap().rule, Rule::License);
    assert_eq!(rule_of(&check(Some("MIT AND Apache-2.0"))), Some("license"));
    let bad = check(Some("MIT OR OR Apache-2.0"));
    let reason = &bad.block().unwrap().reason;
    assert!(
        reason.starts_with(
            "blocked by policy: the license of `foo@1.0.0`, `MIT OR OR Apache-2.0`, is not a \
             valid SPDX license expression ("
        ),
        "{reason}"
    );
    let unknown = check(Some("MIT OR Made-Up-1.0"));
    assert!(
        unknown.block().unwrap().reason.contains("`Made-Up-1.0`"),
        "{unknown:?}"
    );
    for missing in [None, Some(""), Some("  ")] {
        assert_eq!(
            check(missing).block().unwrap().reason,
            "blocked by policy: the license of `foo@1.0.0` is unknown (it declares no SPDX \
             license expression), and this registry allows only `MIT`"
        );
    }
}

#[test]
fn min_age_boundaries_with_injected_now() {
    let p = policy("min_age = \"72h\"");
    let (set, lists) = none();
    let published = NOW - 10 * HOUR;
    let c = case("fresh", "1.0.0").published(Some(published));
    let allowed_at = published + 72 * HOUR;
    assert_eq!(
        berth_policy::becomes_allowed_at(&p, &c.candidate()),
        Some(allowed_at)
    );
    assert_eq!(
        rule_of(&c.verdict(&p, &set, &lists, allowed_at - 1)),
        Some("min_age")
    );
    assert!(c.verdict(&p, &set, &lists, allowed_at).is_allowed());
    assert!(c.verdict(&p, &set, &lists, allowed_at + 1).is_allowed());
    assert_eq!(
        c.verdict(&p, &set, &lists, NOW).block().unwrap().reason,
        "blocked by policy: `fresh@1.0.0` was published 10h ago, and this registry serves a \
         version only 3d after it is published (from 2024-05-04T02:00:00Z)"
    );
    // Published in the future (a skewed clock upstream): blocked until then plus the cooldown.
    let ahead = case("fresh", "1.0.0").published(Some(NOW + HOUR));
    let reason = ahead
        .verdict(&p, &set, &lists, NOW)
        .block()
        .unwrap()
        .reason
        .clone();
    assert!(
        reason.contains("has a publish time in the future (2024-05-01T13:00:00Z)"),
        "{reason}"
    );
    // No cooldown: no instant; an unknown publish time: none either.
    assert_eq!(
        berth_policy::becomes_allowed_at(&policy(""), &c.candidate()),
        None
    );
    let unknown = case("fresh", "1.0.0").published(None);
    assert_eq!(
        berth_policy::becomes_allowed_at(&p, &unknown.candidate()),
        None
    );
}

#[test]
fn min_age_unknown_publish_time() {
    let (set, lists) = none();
    let unknown = case("old", "1.0.0").published(None);
    let block = policy("min_age = \"1d\"");
    assert_eq!(
        unknown
            .verdict(&block, &set, &lists, NOW)
            .block()
            .unwrap()
            .reason,
        "blocked by policy: the publish time of `old@1.0.0` is unknown, so it cannot be shown \
         to be older than this registry's cooldown of 1d"
    );
    let allow = policy("min_age = \"1d\"\nmin_age_unknown = \"allow\"");
    assert!(unknown.verdict(&allow, &set, &lists, NOW).is_allowed());
    // A known publish time is judged the same way either way.
    let young = case("old", "1.0.0").published(Some(NOW - HOUR));
    assert_eq!(
        rule_of(&young.verdict(&allow, &set, &lists, NOW)),
        Some("min_age")
    );
}

#[test]
fn first_blocking_rule_in_order_decides() {
    let set = set(vec![
        vuln("RUSTSEC-2024-0001", "bad", &[]),
        info("RUSTSEC-2024-0002", "bad", Informational::Unmaintained, &[]),
    ]);
    let lists = Lists::default();
    let all = "deny = [\"bad\"]\napproved_only = true\nblock_advisories = true\n\
               block_informational = [\"unmaintained\"]\nlicenses = [\"MIT\"]\nmin_age = \"1d\"";
    // Young, GPL, unmaintained, vulnerable, unapproved and denied: each
    // rule removed in turn reveals the next.
    let young_gpl = case("bad", "1.0.0")
        .published(Some(NOW - HOUR))
        .license(Some("GPL-3.0-only"));
    let mut text = all.to_owned();
    for (rule, key) in [
        ("deny", "deny = [\"bad\"]\n"),
        ("approved_only", "approved_only = true\n"),
        ("advisory", "block_advisories = true\n"),
        (
            "informational",
            "block_informational = [\"unmaintained\"]\n",
        ),
        ("license", "licenses = [\"MIT\"]\n"),
        ("min_age", "min_age = \"1d\""),
    ] {
        let p = policy(&text);
        assert_eq!(
            rule_of(&young_gpl.verdict(&p, &set, &lists, NOW)),
            Some(rule),
            "{text}"
        );
        text = text.replacen(key, "", 1);
    }
    assert!(policy(&text).is_empty(), "{text}");
}

#[test]
fn explain_reports_every_rule_in_order() {
    let set = set(vec![
        vuln("RUSTSEC-2024-0001", "foo", &[">= 2.0.0"]),
        info("RUSTSEC-2024-0002", "foo", Informational::Unsound, &[]),
    ]);
    let lists = Lists {
        exceptions: Vec::new(),
        approved: vec![Approval {
            name: "foo".into(),
            req: None,
        }],
    };
    let p = policy(
        "approved_only = true\nblock_advisories = true\nlicenses = [\"MIT\"]\nmin_age = \"1h\"",
    );
    let c = case("foo", "1.0.0").published(Some(NOW - 2 * HOUR));
    let checks = explain(&p, &set, &lists, &c.candidate(), NOW);
    let got: Vec<(&str, &str, &str)> = checks
        .iter()
        .map(|c| (c.rule.as_str(), c.outcome.as_str(), c.why.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("deny", "not_applicable", "the policy denies no crate"),
            ("approved_only", "pass", "`foo` is approved, every version"),
            (
                "advisory",
                "block",
                "blocked by policy: `foo@1.0.0` is affected by RUSTSEC-2024-0001 (Made-up flaw \
                 RUSTSEC-2024-0001); patched: >=2.0.0"
            ),
            (
                "informational",
                "not_applicable",
                "the policy blocks no informational advisory (RUSTSEC-2024-0002 (unsound) \
                 affects this version)"
            ),
            (
                "license",
                "pass",
                "the license of `foo@1.0.0`, `MIT`, is satisfied by the allowed licenses"
            ),
            (
                "min_age",
                "pass",
                "`foo@1.0.0` was published 2h ago, at least the cooldown of 1h"
            ),
        ]
    );
    let verdict = c.verdict(&p, &set, &lists, NOW);
    assert_eq!(verdict.block().unwrap().reason, checks[2].why);

    let quiet = explain(&policy(""), &set, &lists, &c.candidate(), NOW);
    assert!(quiet.iter().all(|c| c.outcome == Outcome::NotApplicable));
    assert_eq!(
        quiet[2].why,
        "the policy does not block advisories (RUSTSEC-2024-0001 affects this version)"
    );
    assert_eq!(quiet[4].why, "the policy allows any license");
    assert_eq!(quiet[5].why, "the policy has no cooldown");
}

#[test]
fn an_unknown_license_is_not_judged() {
    let p = policy("licenses = [\"MIT\"]");
    let (set, lists) = none();
    let c = case("foo", "1.0.0");
    let candidate = berth_policy::Candidate {
        license: berth_policy::License::Unknown,
        ..c.candidate()
    };
    assert!(berth_policy::evaluate(&p, &set, &lists, &candidate, NOW).is_allowed());
    let checks = berth_policy::explain(&p, &set, &lists, &candidate, NOW);
    let license = checks.iter().find(|c| c.rule == Rule::License).unwrap();
    assert_eq!(license.outcome, berth_policy::Outcome::NotApplicable);
    assert!(license.why.contains("not known here"), "{}", license.why);
}
