//! The advisory formats and the affected-version test: RustSec Markdown
//! (multi-range `patched`, `unaffected`, informational kinds, withdrawn),
//! the older TOML form, OSV records, crate-name folding, malformed files and
//! duplicates refusing the whole import.

mod common;

use berth_advisory::{import_path, AdvisorySet, ImportError, Informational, Kind, Limits};
use common::*;
use semver::Version;

fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

fn import(files: &[(String, String)]) -> Result<AdvisorySet, ImportError> {
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path(), files);
    import_path(dir.path(), &Limits::default())
}

fn ids<'a>(set: &'a AdvisorySet, name: &str, version: &str) -> Vec<&'a str> {
    let version = v(version);
    set.affecting(name, &version)
        .map(|a| a.id.as_str())
        .collect()
}

#[test]
fn multi_range_patched_and_unaffected() {
    let set = import(&small_db()).unwrap();
    assert_eq!(set.len(), 4);
    assert_eq!(set.crate_count(), 3);
    let a = &set.for_crate("multi-range")[0];
    assert_eq!(a.id, "RUSTSEC-2023-0001");
    assert_eq!(a.title, "Buffer overflow in multi-range");
    assert_eq!(
        a.description,
        "The first paragraph says what is wrong over two lines."
    );
    assert_eq!(a.date.to_string(), "2023-04-05");
    assert_eq!(
        a.url.as_deref(),
        Some("https://example.invalid/RUSTSEC-2023-0001")
    );
    assert_eq!(a.aliases, ["CVE-2023-0001"]);
    assert_eq!(a.categories, ["memory-corruption"]);
    assert_eq!(a.kind, Kind::Vulnerability);
    assert!(a.cvss.as_deref().unwrap().starts_with("CVSS:3.1/"));
    assert_eq!(a.patched.len(), 2);
    assert_eq!(a.unaffected.len(), 1);

    let affected = |ver: &str| !ids(&set, "multi-range", ver).is_empty();
    for (ver, want) in [
        ("0.9.9", false), // unaffected
        ("1.0.0", true),
        ("1.2.2", true),
        ("1.2.3", false), // first patched range
        ("1.2.99", false),
        ("1.3.0", true), // between the ranges
        ("1.3.1", false),
        ("2.5.0", false),
        // cargo's rule: `>= 1.3.1` does not match a pre-release, so an
        // unreleased fix is still affected.
        ("1.3.1-rc.1", true),
    ] {
        assert_eq!(affected(ver), want, "{ver}");
    }
}

#[test]
fn informational_kinds_are_kept_apart() {
    let set = import(&small_db()).unwrap();
    let old = &set.for_crate("old-crate")[0];
    assert_eq!(old.kind, Kind::Informational(Informational::Unmaintained));
    assert_eq!(old.kind.as_str(), "unmaintained");
    assert!(!old.kind.is_vulnerability());
    // `patched = []`: every version, pre-releases included.
    for ver in ["0.0.1", "1.0.0", "99.0.0-alpha"] {
        assert_eq!(ids(&set, "old-crate", ver), ["RUSTSEC-2023-0002"]);
    }
    let shaky = &set.for_crate("shaky")[0];
    assert_eq!(shaky.kind, Kind::Informational(Informational::Unsound));
    assert_eq!(shaky.kind.to_string(), "unsound");
    assert_eq!(ids(&set, "shaky", "0.2.9"), ["RUSTSEC-2023-0003"]);
    assert!(ids(&set, "shaky", "0.3.0").is_empty());

    let notice = rustsec_md(
        "RUSTSEC-2024-0001",
        "n",
        "informational = \"notice\"",
        "patched = []",
        "N",
    );
    let other = rustsec_md(
        "RUSTSEC-2024-0002",
        "n",
        "informational = \"later-kind\"",
        "patched = []",
        "O",
    );
    let set = import(&[
        (md_path("n", "RUSTSEC-2024-0001"), notice),
        (md_path("n", "RUSTSEC-2024-0002"), other),
    ])
    .unwrap();
    let kinds: Vec<&str> = set.for_crate("n").iter().map(|a| a.kind.as_str()).collect();
    assert_eq!(kinds, ["notice", "later-kind"]);
    assert_eq!(
        set.for_crate("n")[1].kind,
        Kind::Informational(Informational::Other("later-kind".into()))
    );
}

#[test]
fn withdrawn_never_affects() {
    let set = import(&small_db()).unwrap();
    let all = set.for_crate("shaky");
    assert_eq!(all.len(), 2, "withdrawn advisories are listed");
    let withdrawn = &all[1];
    assert_eq!(withdrawn.id, "RUSTSEC-2023-0004");
    assert_eq!(withdrawn.withdrawn.unwrap().to_string(), "2023-06-01");
    assert!(withdrawn.is_withdrawn());
    for ver in ["0.1.0", "0.3.0", "9.9.9"] {
        assert!(!withdrawn.affects(&v(ver)));
        assert!(!ids(&set, "shaky", ver).contains(&"RUSTSEC-2023-0004"));
    }
}

#[test]
fn names_fold_like_crate_names() {
    let files = [(
        md_path("Foo-Bar", "RUSTSEC-2023-0010"),
        rustsec_md(
            "RUSTSEC-2023-0010",
            "Foo_Bar",
            "",
            "patched = [\">= 2\"]",
            "T",
        ),
    )];
    let set = import(&files).unwrap();
    for name in ["foo-bar", "foo_bar", "FOO-bar", "Foo_Bar"] {
        assert_eq!(set.for_crate(name).len(), 1, "{name}");
        assert_eq!(ids(&set, name, "1.0.0"), ["RUSTSEC-2023-0010"], "{name}");
    }
    assert_eq!(set.for_crate("foobar").len(), 0);
    assert_eq!(set.for_crate("Foo_Bar")[0].package, "Foo_Bar");

    // Filed under another crate's folder: refused.
    let files = [(
        md_path("other", "RUSTSEC-2023-0011"),
        rustsec_md("RUSTSEC-2023-0011", "foo", "", "patched = []", "T"),
    )];
    let err = import(&files).unwrap_err();
    assert!(matches!(err, ImportError::Malformed { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("crates/other/RUSTSEC-2023-0011.md"),
        "{err}"
    );
}

#[test]
fn older_formats_are_read() {
    // The whole-TOML form, and front matter without the `[advisory]` header.
    let toml = "[advisory]\nid = \"RUSTSEC-2017-0001\"\npackage = \"legacy\"\n\
                date = \"2017-01-02\"\ntitle = \"Old style\"\n\
                description = \"\"\"\nDescribed inside.\n\"\"\"\n\n\
                [versions]\npatched = [\"^1.0.1\"]\n";
    let headerless = "```toml\nid = \"RUSTSEC-2017-0002\"\npackage = \"legacy\"\n\
                      date = \"2017-03-04\"\n\n[versions]\npatched = [\">= 2\"]\n```\n\n\
                      # Headerless\n\nBody.\n";
    let set = import(&[
        ("crates/legacy/RUSTSEC-2017-0001.toml".into(), toml.into()),
        (
            "crates/legacy/RUSTSEC-2017-0002.md".into(),
            headerless.into(),
        ),
    ])
    .unwrap();
    let all = set.for_crate("legacy");
    assert_eq!(all[0].title, "Old style");
    assert_eq!(all[0].description, "Described inside.");
    assert_eq!(all[1].title, "Headerless");
    assert_eq!(all[1].description, "Body.");
    assert_eq!(
        ids(&set, "legacy", "1.0.0"),
        ["RUSTSEC-2017-0001", "RUSTSEC-2017-0002"]
    );
    assert_eq!(ids(&set, "legacy", "1.0.1"), ["RUSTSEC-2017-0002"]);
}

#[test]
fn osv_records() {
    let ranges = r#"[
        {"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "0.5.0"},
                                      {"introduced": "1.0.0"}, {"last_affected": "1.4.2"}]},
        {"type": "GIT", "repo": "https://example.invalid/r", "events": [{"introduced": "abc"}]}
    ]"#;
    let withdrawn = osv_json(
        "GHSA-aaaa-bbbb-cccc",
        "osv-crate",
        r#"[{"type": "SEMVER", "events": [{"introduced": "0"}]}]"#,
        r#""withdrawn": "2024-02-03T00:00:00Z","#,
    );
    let unsound = osv_json("RUSTSEC-2023-0100", "osv-crate", "[]", "")
        .replace(r#""informational": null"#, r#""informational": "unsound""#)
        .replace(
            r#""ranges": []"#,
            r#""ranges": [], "versions": ["2.0.0", "2.0.1"]"#,
        );
    let only_npm =
        osv_json("GHSA-npm-only", "x", "[]", "").replace(berth_advisory::OSV_ECOSYSTEM, "PyPI");
    let set = import(&[
        (
            "osv/RUSTSEC-2023-0099.json".into(),
            osv_json("RUSTSEC-2023-0099", "osv-crate", ranges, ""),
        ),
        ("osv/GHSA-aaaa-bbbb-cccc.json".into(), withdrawn),
        ("RUSTSEC-2023-0100.json".into(), unsound),
        ("osv/GHSA-npm-only.json".into(), only_npm),
    ])
    .unwrap();
    assert_eq!(set.len(), 3, "the record for another ecosystem is skipped");
    let a = set
        .for_crate("osv_crate")
        .iter()
        .find(|a| a.id == "RUSTSEC-2023-0099")
        .unwrap();
    assert_eq!(a.title, "Summary of RUSTSEC-2023-0099");
    assert_eq!(a.description, "Details of RUSTSEC-2023-0099.");
    assert_eq!(a.date.to_string(), "2023-12-01");
    assert_eq!(
        a.url.as_deref(),
        Some("https://example.invalid/advisories/RUSTSEC-2023-0099")
    );
    assert_eq!(a.categories, ["denial-of-service"]);
    assert_eq!(a.kind, Kind::Vulnerability);
    assert_eq!(a.osv.as_ref().unwrap().ranges.len(), 1, "GIT range dropped");
    let shown: Vec<String> = a.patched.iter().map(|r| r.to_string()).collect();
    assert_eq!(shown, [">=0.5.0, <1.0.0", ">1.4.2"]);
    assert!(a.unaffected.is_empty());

    let affected = |ver: &str| ids(&set, "osv-crate", ver);
    assert_eq!(affected("0.4.9"), ["RUSTSEC-2023-0099"]);
    assert!(affected("0.5.0").is_empty());
    assert!(affected("0.9.0").is_empty());
    assert_eq!(affected("1.0.0"), ["RUSTSEC-2023-0099"]);
    assert_eq!(affected("1.4.2"), ["RUSTSEC-2023-0099"]);
    assert!(affected("1.4.3").is_empty());
    // Listed versions, and the informational kind from database_specific.
    assert_eq!(affected("2.0.1"), ["RUSTSEC-2023-0100"]);
    assert!(affected("2.0.2").is_empty());
    let unsound = set
        .for_crate("osv-crate")
        .iter()
        .find(|a| a.id == "RUSTSEC-2023-0100")
        .unwrap();
    assert_eq!(unsound.kind.as_str(), "unsound");
    // Withdrawn: listed, never affecting.
    let w = set
        .for_crate("osv-crate")
        .iter()
        .find(|a| a.id.starts_with("GHSA"))
        .unwrap();
    assert_eq!(w.withdrawn.unwrap().to_string(), "2024-02-03");
    assert!(!w.affects(&v("0.1.0")));
}

#[test]
fn malformed_advisories_fail_the_import() {
    let good = (
        md_path("fine", "RUSTSEC-2023-0020"),
        rustsec_md("RUSTSEC-2023-0020", "fine", "", "patched = []", "Fine"),
    );
    let cases = [
        (
            "bad-toml",
            rustsec_md(
                "RUSTSEC-2023-0021",
                "bad-toml",
                "oops = ",
                "patched = []",
                "T",
            ),
            "invalid TOML",
        ),
        (
            "bad-req",
            rustsec_md(
                "RUSTSEC-2023-0021",
                "bad-req",
                "",
                "patched = [\">= one\"]",
                "T",
            ),
            "invalid `patched` requirement `>= one`",
        ),
        (
            "bad-date",
            rustsec_md("RUSTSEC-2023-0021", "bad-date", "", "patched = []", "T")
                .replace("2023-04-05", "2023-02-30"),
            "`date` is not a YYYY-MM-DD date",
        ),
        (
            "no-versions",
            rustsec_md("RUSTSEC-2023-0021", "no-versions", "", "", "T").replace("[versions]\n", ""),
            "no `[versions]` table",
        ),
        (
            "no-title",
            rustsec_md("RUSTSEC-2023-0021", "no-title", "", "patched = []", "T")
                .replace("# T", "T"),
            "no `# title` heading",
        ),
        (
            "bad-url",
            rustsec_md("RUSTSEC-2023-0021", "bad-url", "", "patched = []", "T")
                .replace("https://example.invalid/", "javascript:alert(1)//"),
            "not an http(s) link",
        ),
        (
            "no-fence",
            "# Just Markdown\n".to_owned(),
            "does not open with",
        ),
    ];
    for (name, text, want) in cases {
        let path = md_path(name, "RUSTSEC-2023-0021");
        let err = import(&[good.clone(), (path.clone(), text)]).unwrap_err();
        assert!(
            matches!(err, ImportError::Malformed { .. }),
            "{name}: {err}"
        );
        let message = err.to_string();
        assert!(message.starts_with(&path), "{name}: {message}");
        assert!(message.contains(want), "{name}: {message}");
    }
    let bad_osv = osv_json(
        "X-1",
        "c",
        r#"[{"type": "SEMVER", "events": [{"fixed": "1.0"}]}]"#,
        "",
    );
    let err = import(&[("X-1.json".into(), bad_osv)]).unwrap_err();
    assert!(err.to_string().contains("invalid version `1.0`"), "{err}");
    let err = import(&[("X-2.json".into(), "{\"id\": ".into())]).unwrap_err();
    assert!(
        err.to_string().starts_with("X-2.json: invalid OSV JSON"),
        "{err}"
    );
}

#[test]
fn duplicate_ids_for_one_crate_are_refused() {
    let text = rustsec_md("RUSTSEC-2023-0030", "dup", "", "patched = []", "T");
    let osv = osv_json("RUSTSEC-2023-0030", "dup", "[]", "");
    let err = import(&[
        (md_path("dup", "RUSTSEC-2023-0030"), text),
        ("osv/RUSTSEC-2023-0030.json".into(), osv),
    ])
    .unwrap_err();
    assert!(matches!(err, ImportError::Duplicate { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "osv/RUSTSEC-2023-0030.json: advisory RUSTSEC-2023-0030 for crate `dup` is also in \
         crates/dup/RUSTSEC-2023-0030.md"
    );
}

#[test]
fn the_stored_form_reads_back_the_same_set() {
    let mut files = small_db();
    files.push((
        "osv/GHSA-ab12-cd34-ef56.json".to_string(),
        osv_json(
            "GHSA-ab12-cd34-ef56",
            "osv-crate",
            r#"[{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.0.1"}]}]"#,
            "",
        ),
    ));
    let set = import(&files).unwrap();
    let back = AdvisorySet::from_stored(&set.to_stored()).unwrap();
    assert_eq!(back, set);
    assert_eq!(back.digest(), set.digest());
    let err = AdvisorySet::from_stored(b"{\"format\": 2, \"advisories\": []}").unwrap_err();
    assert!(err.to_string().contains("stored form 2"), "{err}");
    assert!(AdvisorySet::from_stored(b"not json").is_err());
}
