//! The `[registries.policy]` table: the issue's example read whole, unknown
//! keys refused, each key's bad values refused in words that name the key
//! and the value, and the digest of the policy in force.

mod common;

use berth_policy::{MinAgeUnknown, Policy, PolicyConfig};
use common::*;

fn refused(toml_text: &str) -> String {
    Policy::from_config(&config(toml_text))
        .unwrap_err()
        .to_string()
}

#[test]
fn the_issue_example_reads() {
    let text = r#"
        block_advisories = true
        block_informational = ["unsound"]
        min_age = "72h"
        licenses = ["MIT", "Apache-2.0", "BSD-3-Clause"]
        deny = ["evil-crate", "old-crate@<2"]
        approved_only = false
    "#;
    let cfg = config(text);
    assert!(cfg.block_advisories);
    assert_eq!(cfg.min_age_unknown, MinAgeUnknown::Block);
    let p = Policy::from_config(&cfg).unwrap();
    assert!(!p.is_empty());
    assert_eq!(p.min_age_secs(), Some(72 * HOUR));
    assert!(!p.approved_only());
    assert_eq!(
        p.to_string(),
        "deny 2 entries, block advisories, block unsound, 3 licenses, min age 3d"
    );
    // What is read can be written back (`config show`) and read again.
    let again: PolicyConfig = toml::from_str(&toml::to_string(&cfg).unwrap()).unwrap();
    assert_eq!(again, cfg);
}

#[test]
fn empty_table_is_empty_policy() {
    let p = policy("");
    assert!(p.is_empty());
    assert_eq!(p, Policy::default());
    assert_eq!(p.to_string(), "no rules");
    assert!(policy("approved_only = false\nblock_advisories = false").is_empty());
    assert!(
        policy("min_age = \"0s\"").is_empty(),
        "a zero cooldown is none"
    );
    assert!(!policy("approved_only = true").is_empty());
    assert!(!policy("deny = [\"x\"]").is_empty());
    assert!(!policy("licenses = [\"MIT\"]").is_empty());
    assert!(!policy("block_informational = [\"notice\"]").is_empty());
}

#[test]
fn unknown_keys_and_values_are_refused_by_serde() {
    let err = toml::from_str::<PolicyConfig>("block_advisory = true").unwrap_err();
    assert!(err.to_string().contains("block_advisory"), "{err}");
    let err = toml::from_str::<PolicyConfig>("min_age_unknown = \"maybe\"").unwrap_err();
    assert!(err.to_string().contains("maybe"), "{err}");
    assert_eq!(
        config("min_age_unknown = \"allow\"").min_age_unknown,
        MinAgeUnknown::Allow
    );
}

#[test]
fn bad_durations_name_the_key() {
    let err = refused("min_age = \"72x\"");
    assert!(
        err.starts_with("policy `min_age`: `72x` is not a duration ("),
        "{err}"
    );
    assert!(err.contains("\"72h\""), "{err}");
    assert!(refused("min_age = \"\"").starts_with("policy `min_age`: `` is not a duration"));
    assert_eq!(
        refused("min_age = \"200years\""),
        "policy `min_age`: `200years` is longer than 100 years"
    );
    // Every form humantime reads; part of a second counts as a second.
    for (text, secs) in [
        ("3d", 259_200),
        ("1week", 604_800),
        ("90m", 5_400),
        ("1h 30m", 5_400),
        ("1500ms", 2),
    ] {
        assert_eq!(
            policy(&format!("min_age = \"{text}\"")).min_age_secs(),
            Some(secs),
            "{text}"
        );
    }
}

#[test]
fn unknown_informational_kinds_are_refused() {
    assert_eq!(
        refused("block_informational = [\"unsound\", \"scary\"]"),
        "policy `block_informational`: `scary` is not an informational kind: expected \
         `unmaintained`, `unsound` or `notice`"
    );
    assert_eq!(
        refused("block_informational = [\"vulnerability\"]"),
        "policy `block_informational`: `vulnerability` is not an informational kind: \
         vulnerabilities are blocked by `block_advisories`"
    );
    assert!(Policy::from_config(&config(
        "block_informational = [\"unmaintained\", \"unsound\", \"notice\"]"
    ))
    .is_ok());
}

#[test]
fn bad_deny_entries_are_refused() {
    let err = refused("deny = [\"ok\", \"bad name\"]");
    assert!(
        err.starts_with("policy `deny`: `bad name` does not name a crate: invalid character ` `"),
        "{err}"
    );
    let err = refused("deny = [\"old@<<2\"]");
    assert!(
        err.starts_with("policy `deny`: `old@<<2` has a bad version requirement after `@` ("),
        "{err}"
    );
    let err = refused("deny = [\"old@\"]");
    assert!(
        err.starts_with("policy `deny`: `old@` has nothing after `@`"),
        "{err}"
    );
    let err = refused("deny = [\"@1\"]");
    assert!(
        err.contains("does not name a crate: the crate name is empty"),
        "{err}"
    );
    // Reserved names may still be denied.
    assert!(Policy::from_config(&config("deny = [\"std\", \" spaced@ ^1 \"]")).is_ok());
}

#[test]
fn bad_licenses_are_refused() {
    let err = refused("licenses = [\"MIT\", \"Nope-1.0\"]");
    assert!(
        err.starts_with("policy `licenses`: `Nope-1.0` is not an SPDX license id ("),
        "{err}"
    );
    let err = refused("licenses = [\"MIT OR Apache-2.0\"]");
    assert!(
        err.starts_with("policy `licenses`: `MIT OR Apache-2.0` is not an SPDX license id"),
        "{err}"
    );
    let err = refused("licenses = []");
    assert!(
        err.starts_with("policy `licenses`: `[]` allows no license at all"),
        "{err}"
    );
    assert!(Policy::from_config(&config(
        "licenses = [\"Apache-2.0 WITH LLVM-exception\", \"LicenseRef-Acme\"]"
    ))
    .is_ok());
}

#[test]
fn digest_is_of_the_policy_in_force() {
    let d = |text: &str| policy(text).digest().to_owned();
    let base =
        d("min_age = \"72h\"\nlicenses = [\"MIT\", \"Apache-2.0\"]\ndeny = [\"a-b\", \"c@<2\"]");
    assert_eq!(base.len(), 64);
    assert!(base
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    // Same meaning, other spelling: same digest.
    for same in [
        "min_age = \"3d\"\nlicenses = [\"Apache-2.0\", \"MIT\", \"MIT\"]\ndeny = [\"c@ <2\", \"A_B\"]",
        "deny = [\"a_b\", \"c@<2\", \"a-b\"]\nmin_age = \"4320m\"\nlicenses = [\" MIT \", \"Apache-2.0\"]",
        // `min_age_unknown` is the default.
        "min_age = \"72h\"\nmin_age_unknown = \"block\"\nlicenses = [\"MIT\", \"Apache-2.0\"]\ndeny = [\"a-b\", \"c@<2\"]",
    ] {
        assert_eq!(d(same), base, "{same}");
    }
    // Any change of meaning: another digest, each different from the rest.
    let changed = [
        "min_age = \"71h\"\nlicenses = [\"MIT\", \"Apache-2.0\"]\ndeny = [\"a-b\", \"c@<2\"]",
        "min_age = \"72h\"\nlicenses = [\"MIT\"]\ndeny = [\"a-b\", \"c@<2\"]",
        "min_age = \"72h\"\nlicenses = [\"MIT\", \"Apache-2.0\"]\ndeny = [\"a-b\", \"c@<3\"]",
        "min_age = \"72h\"\nlicenses = [\"MIT\", \"Apache-2.0\"]\ndeny = [\"a-b\"]",
        "min_age = \"72h\"\nmin_age_unknown = \"allow\"\nlicenses = [\"MIT\", \"Apache-2.0\"]\ndeny = [\"a-b\", \"c@<2\"]",
        "min_age = \"72h\"\nlicenses = [\"MIT\", \"Apache-2.0\"]\ndeny = [\"a-b\", \"c@<2\"]\nblock_advisories = true",
        "min_age = \"72h\"\nlicenses = [\"MIT\", \"Apache-2.0\"]\ndeny = [\"a-b\", \"c@<2\"]\napproved_only = true",
        "min_age = \"72h\"\nlicenses = [\"MIT\", \"Apache-2.0\"]\ndeny = [\"a-b\", \"c@<2\"]\nblock_informational = [\"notice\"]",
        "licenses = [\"MIT\", \"Apache-2.0\"]\ndeny = [\"a-b\", \"c@<2\"]",
    ];
    let mut all: Vec<String> = changed.iter().map(|t| d(t)).collect();
    all.push(base);
    all.push(d(""));
    let count = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), count, "every digest differs");
    // Stable across runs and builds: the empty policy's digest is pinned.
    assert_eq!(Policy::default().digest(), d(""));
    assert_eq!(
        Policy::default().digest(),
        "855ab929bb772294fc24abf404e8a3ebed9e97ff87251715592b7b436146e9b6"
    );
    // `min_age_unknown` alone means nothing.
    assert_eq!(d("min_age_unknown = \"allow\""), d(""));
}
