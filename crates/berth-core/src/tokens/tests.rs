//! Token limits as values: crate patterns fold like crate names, a
//! token made by a token is never wider, addresses, expiry forms.

use super::*;

fn pats(list: &[&str]) -> Vec<CratePattern> {
    list.iter().map(|p| p.parse().unwrap()).collect()
}

#[test]
fn patterns_fold_like_crate_names() {
    let p: CratePattern = "Acme-*".parse().unwrap();
    assert!(p.matches("acme_core") && p.matches("ACME-x") && !p.matches("acm"));
    let exact: CratePattern = "foo_bar".parse().unwrap();
    assert!(exact.matches("Foo-Bar") && !exact.matches("foo-bar2"));
    for bad in ["*", "", "-x", "a*b*", "a b", "ä", &"a".repeat(65)] {
        assert!(bad.parse::<CratePattern>().is_err(), "{bad}");
    }
}

#[test]
fn narrower_limits_only() {
    let parent = TokenLimits {
        crates: pats(&["acme-*", "tool"]),
        registry: Some("main".into()),
        cidrs: vec![parse_cidr("10.0.0.0/8").unwrap()],
        expires_at: Some(1000),
    };
    let child = TokenLimits {
        crates: pats(&["acme_core*", "TOOL"]),
        cidrs: vec![parse_cidr("10.1.2.3").unwrap()],
        expires_at: Some(900),
        ..parent.clone()
    };
    assert_eq!(parent.widened_by(&child, None), None);
    for wider in [
        TokenLimits {
            crates: pats(&["ac*"]),
            ..child.clone()
        },
        TokenLimits {
            crates: vec![],
            ..child.clone()
        },
        TokenLimits {
            crates: pats(&["tool*"]),
            ..child.clone()
        },
        TokenLimits {
            registry: Some("other".into()),
            ..child.clone()
        },
        TokenLimits {
            expires_at: Some(1001),
            ..child.clone()
        },
        TokenLimits {
            expires_at: None,
            ..child.clone()
        },
        TokenLimits {
            cidrs: vec![parse_cidr("0.0.0.0/0").unwrap()],
            ..child.clone()
        },
    ] {
        assert!(parent.widened_by(&wider, None).is_some(), "{wider:?}");
    }
    assert_eq!(TokenLimits::default().widened_by(&child, None), None);
}

#[test]
fn addresses() {
    let l = TokenLimits {
        cidrs: vec![parse_cidr("127.0.0.2/32").unwrap()],
        ..Default::default()
    };
    assert!(l.allows_address(Some("127.0.0.2".parse().unwrap())));
    assert!(l.allows_address(Some("::ffff:127.0.0.2".parse().unwrap())));
    assert!(!l.allows_address(Some("127.0.0.1".parse().unwrap())));
    assert!(!l.allows_address(None));
    assert!(TokenLimits::default().allows_address(None));
    assert_eq!(parse_cidr("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
    assert!(parse_cidr("10.0.0.0/33").is_err());
}

#[test]
fn expiry_forms() {
    let now = 1_800_000_000;
    assert_eq!(
        parse_expiry(Some("90d"), None, now).unwrap(),
        Some(now + 90 * 86_400)
    );
    assert_eq!(
        parse_expiry(Some("30s"), None, now).unwrap(),
        Some(now + 30)
    );
    assert_eq!(
        parse_expiry(Some("1h 30m"), None, now).unwrap(),
        Some(now + 5400)
    );
    for d in ["12h", "30m", "1h 30m"] {
        assert!(parse_expiry(Some(d), None, now).unwrap().is_some(), "{d}");
    }
    assert_eq!(
        parse_expiry(None, Some("2999-01-31"), now).unwrap(),
        Some(32_474_736_000)
    );
    assert_eq!(
        parse_expiry(None, Some("2999-01-31T01:00:00+01:00"), now).unwrap(),
        Some(32_474_736_000)
    );
    assert_eq!(parse_expiry(None, None, now).unwrap(), None);
    for (i, a) in [
        (Some("0s"), None),
        (Some("soon"), None),
        (Some("1000y"), None),
        (None, Some("2001-01-01")),
        (None, Some("tomorrow")),
        (Some("1d"), Some("2999-01-01")),
    ] {
        assert!(parse_expiry(i, a, now).is_err(), "{i:?} {a:?}");
    }
}
