//! The transparency log where data is checked, in process: `fsck` finds a
//! log that disagrees with the stored versions, with itself or with its
//! signed checkpoints, and names the registry, index, crate and version or
//! checkpoint; retired keys verify only what they signed before `until`.

use std::sync::Arc;

use berth_store::sqlx::{self, Connection};

use crate::maintenance::fsck::{Finding, FsckReport};
use crate::testing::*;
use crate::transparency::keys;
use crate::{Berth, Clock};

/// A server with a signing key (as `berth serve` makes at start) and three
/// versions published to `main`, with a checkpoint signed after each.
async fn logged() -> TestBerth {
    let t = TestBerth::new(&hosted("main")).await;
    t.berth.ensure_log_key().unwrap();
    let u = t.user("ann", &[]).await;
    for (name, vers) in [("alpha", "1.0.0"), ("beta", "0.1.0"), ("alpha", "1.1.0")] {
        t.published("main", &u, name, vers).await;
        t.berth.log_checkpoint("main", None).await.unwrap();
        t.advance(std::time::Duration::from_secs(60));
    }
    t
}

async fn fsck(berth: &Berth) -> FsckReport {
    berth.fsck(&|_, _| {}).await.unwrap()
}

/// Runs SQL on the server's SQLite database behind its back.
async fn tamper(t: &TestBerth, sql: &str) {
    let url = format!("sqlite://{}", t.data_dir().join("berth.db").display());
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
}

/// The kinds of the log's findings, sorted.
fn kinds(report: &FsckReport) -> Vec<&'static str> {
    let mut k: Vec<&str> = report
        .findings
        .iter()
        .map(|f| f.kind)
        .filter(|k| k.starts_with("log_"))
        .collect();
    k.sort();
    k
}

fn only<'a>(report: &'a FsckReport, kind: &str) -> Vec<&'a Finding> {
    report.findings.iter().filter(|f| f.kind == kind).collect()
}

#[tokio::test]
async fn a_consistent_log_has_no_findings() {
    let t = logged().await;
    let report = fsck(&t.berth).await;
    assert_eq!(report.findings, Vec::<Finding>::new());
    assert_eq!((report.log_records, report.log_checkpoints), (3, 3));
}

#[tokio::test]
async fn a_changed_record_is_named_by_index_crate_and_checkpoint() {
    let t = logged().await;
    let other = "ab".repeat(32);
    tamper(
        &t,
        &format!("UPDATE log_records SET sha256 = '{other}' WHERE idx = 1"),
    )
    .await;
    let report = fsck(&t.berth).await;
    assert_eq!(
        kinds(&report),
        [
            "log_checkpoint_root",
            "log_checkpoint_root",
            "log_checksum",
            "log_leaf"
        ],
        "{:#?}",
        report.findings
    );
    let leaf = only(&report, "log_leaf")[0];
    assert_eq!(
        (
            leaf.registry.as_deref(),
            leaf.crate_name.as_deref(),
            leaf.version.as_deref(),
            leaf.log_index
        ),
        (Some("main"), Some("beta"), Some("0.1.0"), Some(1))
    );
    assert!(
        leaf.to_string()
            .starts_with("log_leaf: main/beta@0.1.0: log record #1 (sha256 abab"),
        "{leaf}"
    );
    let sum = only(&report, "log_checksum")[0];
    assert!(
        sum.detail.starts_with(&format!(
            "log record #1 has sha256 {other}; the version row has "
        )),
        "{sum}"
    );
    // The first checkpoint after the change is named; the later ones are
    // counted.
    let roots = only(&report, "log_checkpoint_root");
    assert!(
        roots[0]
            .detail
            .starts_with("the checkpoint of size 2 (signed at "),
        "{}",
        roots[0]
    );
    assert_eq!(
        roots[1].detail,
        "1 later checkpoints (sizes 3..=3) disagree with the records too"
    );
}

#[tokio::test]
async fn a_rewritten_log_fails_on_its_checkpoints_and_nodes_on_their_leaves() {
    let t = logged().await;
    // A record and its leaf rewritten together: only the signed roots
    // and the internal node above it tell.
    let other = "cd".repeat(32);
    let leaf = berth_log::Record {
        registry: "main".into(),
        name: "alpha".into(),
        version: "1.0.0".into(),
        sha256: berth_log::Hash::from_hex(&other).unwrap(),
        pubtime: t
            .berth
            .meta
            .log_record(t.berth.registry("main").unwrap().id, "alpha", "1.0.0")
            .await
            .unwrap()
            .unwrap()
            .pubtime,
    }
    .leaf_hash()
    .unwrap();
    tamper(
        &t,
        &format!(
            "UPDATE log_records SET sha256 = '{other}' WHERE idx = 0; \
             UPDATE log_nodes SET hash = '{}' WHERE level = 0 AND idx = 0",
            leaf.to_hex()
        ),
    )
    .await;
    let report = fsck(&t.berth).await;
    assert_eq!(
        kinds(&report),
        [
            "log_checkpoint_root",
            "log_checkpoint_root",
            "log_checksum",
            "log_head",
            "log_node"
        ],
        "{:#?}",
        report.findings
    );
    // The head still holds the genuine subtree: an append would fork.
    assert!(only(&report, "log_head")[0]
        .detail
        .ends_with("the next append would fork the log"));
    assert!(only(&report, "log_checkpoint_root")[0]
        .detail
        .starts_with("the checkpoint of size 1 "));
    assert!(
        only(&report, "log_node")[0]
            .detail
            .starts_with("the stored node at level 1, index 0 (leaves 0..2) is "),
        "{:#?}",
        report.findings
    );
}

#[tokio::test]
async fn gaps_deleted_versions_and_missing_records_are_findings() {
    let t = logged().await;
    tamper(
        &t,
        "PRAGMA foreign_keys = OFF; \
         DELETE FROM log_records WHERE idx = 1; \
         DELETE FROM dependencies WHERE version_id = (SELECT v.id FROM versions v \
             JOIN crates c ON c.id = v.crate_id WHERE c.name = 'alpha' AND v.vers = '1.1.0'); \
         DELETE FROM versions WHERE vers = '1.1.0'",
    )
    .await;
    let report = fsck(&t.berth).await;
    assert_eq!(
        kinds(&report),
        ["log_gap", "log_orphan_record", "log_unlogged"],
        "{:#?}",
        report.findings
    );
    let gap = only(&report, "log_gap")[0];
    assert_eq!(gap.log_index, Some(1));
    assert!(gap
        .detail
        .starts_with("the log has no record at index 1 (the next one is 2)"));
    let orphan = only(&report, "log_orphan_record")[0];
    assert_eq!(
        (
            orphan.crate_name.as_deref(),
            orphan.version.as_deref(),
            orphan.log_index
        ),
        (Some("alpha"), Some("1.1.0"), Some(2))
    );
    let unlogged = only(&report, "log_unlogged")[0];
    assert_eq!(
        (unlogged.crate_name.as_deref(), unlogged.version.as_deref()),
        (Some("beta"), Some("0.1.0"))
    );
}

/// The same stores opened with another configuration (`extra` keys).
async fn reopened(t: &TestBerth, extra: &str) -> Arc<Berth> {
    let file = t.data_dir().join("other.toml");
    std::fs::write(
        &file,
        format!(
            "data_dir = \"{}\"\nlisten = \"127.0.0.1:7878\"\n{}{extra}",
            t.data_dir().display(),
            hosted("main")
        ),
    )
    .unwrap();
    let config = crate::Config::load_file_only(&file).unwrap();
    Berth::open_with_clock(config, Clock::test(T0 + 86_400))
        .await
        .unwrap()
}

#[tokio::test]
async fn checkpoints_verify_with_retired_keys_only_until_they_retired() {
    let t = logged().await;
    let old = t.berth.log_verifier().unwrap();
    let new = keys::generate("berth-new").unwrap();
    let secret = new.to_secret_text();
    // Checkpoints were signed at T0, T0 + 60 and T0 + 120.
    let until = |unix: i64| berth_store::pubtime_of(unix);

    // A server with a new key that does not list the old one.
    let without = reopened(&t, &format!("\n[transparency]\nkey = \"{secret}\"\n")).await;
    let report = fsck(&without).await;
    let sigs = only(&report, "log_checkpoint_signature");
    assert_eq!(sigs.len(), 3, "{:#?}", report.findings);
    assert!(
        sigs[0].detail.starts_with(&format!(
            "the checkpoint of size 1 (signed at {}) does not verify with this server's keys \
             valid then (berth-new+",
            until(T0)
        )),
        "{}",
        sigs[0]
    );

    // The old key retired after all three: all verify.
    let listed = |at: i64| {
        format!(
            "\n[transparency]\nkey = \"{secret}\"\n\n[[transparency.retired_keys]]\nkey = \
             \"{old}\"\nuntil = \"{}\"\n",
            until(at)
        )
    };
    let retired_late = reopened(&t, &listed(T0 + 3_600)).await;
    assert_eq!(fsck(&retired_late).await.findings, Vec::<Finding>::new());

    // Retired before the last two were signed: those two are findings.
    let retired_early = reopened(&t, &listed(T0 + 30)).await;
    let report = fsck(&retired_early).await;
    let sizes: Vec<bool> = only(&report, "log_checkpoint_signature")
        .iter()
        .map(|f| f.detail.starts_with("the checkpoint of size 1 "))
        .collect();
    assert_eq!(sizes, [false, false], "{:#?}", report.findings);
}

#[tokio::test]
async fn a_proxy_record_may_outlive_its_evicted_crate_but_not_disagree_with_it() {
    let upstream = berth_testkit::Fixture::start(&[(
        "steady",
        "1.0.0",
        berth_testkit::crate_file("steady", "1.0.0", "pub fn a() {}\n"),
    )]);
    let t = TestBerth::new(&proxy("public", &upstream.index_url(), "")).await;
    t.berth.ensure_log_key().unwrap();
    t.berth
        .mirror_fill(
            "public",
            &[("steady".into(), "1.0.0".into())],
            1,
            &|_, _| {},
        )
        .await
        .unwrap();
    t.berth.log_checkpoint("public", None).await.unwrap();
    assert_eq!(fsck(&t.berth).await.findings, Vec::<Finding>::new());

    let other = "ef".repeat(32);
    tamper(&t, &format!("UPDATE proxy_crates SET cksum = '{other}'")).await;
    let report = fsck(&t.berth).await;
    let sum = only(&report, "log_checksum");
    assert_eq!(sum.len(), 1, "{:#?}", report.findings);
    assert!(
        sum[0]
            .to_string()
            .starts_with("log_checksum: public/steady@1.0.0: log record #0 has sha256 "),
        "{}",
        sum[0]
    );
    assert!(sum[0]
        .detail
        .contains(&format!("the cached .crate has {other}")));

    // Evicted: the record stays, and that is fine.
    tamper(&t, "DELETE FROM proxy_crates").await;
    let report = fsck(&t.berth).await;
    assert!(
        report.findings.iter().all(|f| !f.kind.starts_with("log_")),
        "{:#?}",
        report.findings
    );
}

#[tokio::test]
async fn a_log_of_several_pages_is_checked_node_by_node() {
    let t = TestBerth::new(&hosted("main")).await;
    t.berth.ensure_log_key().unwrap();
    // Records with no version rows would be findings in a hosted registry;
    // only the tree's findings are looked at here.
    let id = t.berth.registry("main").unwrap().id;
    for i in 0..2_500u32 {
        let name = format!("c{i}");
        let sha = format!("{:064x}", i);
        t.berth
            .meta
            .log_append(&berth_store::LogEntry {
                registry_id: id,
                registry: "main",
                name: &name,
                vers: "1.0.0",
                sha256: &sha,
                pubtime: "2027-01-15T08:00:00Z",
            })
            .await
            .unwrap();
        // A checkpoint every other record: more than one page of them.
        if i % 2 == 1 {
            t.berth.log_checkpoint("main", None).await.unwrap();
        }
    }
    let tree = |r: &FsckReport| -> Vec<String> {
        r.findings
            .iter()
            .filter(|f| f.kind != "log_orphan_record")
            .map(|f| f.to_string())
            .collect()
    };
    let report = fsck(&t.berth).await;
    assert_eq!(tree(&report), Vec::<String>::new());
    assert_eq!((report.log_records, report.log_checkpoints), (2_500, 1_250));

    // The node over leaves 0..2048 (two pages) changed; a leaf node gone;
    // the checkpoint of 2,000 records claims another root.
    let note = |size: i64| format!("(SELECT note FROM log_checkpoints WHERE size = {size})");
    let first_2048 = t.berth.meta.log_root_at(id, 2048).await.unwrap();
    tamper(
        &t,
        &format!(
            "UPDATE log_nodes SET hash = '{}' WHERE level = 11 AND idx = 0; \
             DELETE FROM log_nodes WHERE level = 0 AND idx = 2100; \
             UPDATE log_checkpoints SET root = '{}', note = {} WHERE size = 2000",
            "00".repeat(32),
            "11".repeat(32),
            note(2002)
        ),
    )
    .await;
    let report = fsck(&t.berth).await;
    let at = "the checkpoint of size 2000 (signed at 2027-01-15T08:00:00Z)";
    assert_eq!(
        tree(&report),
        [
            format!(
                "log_checkpoint_root: registry main: {at}: its note says 127.0.0.1:7878/r/main \
                 size 2002 root {}; the stored row says size 2000 root {}",
                t.berth.meta.log_root_at(id, 2002).await.unwrap().to_hex(),
                "11".repeat(32)
            ),
            format!(
                "log_checkpoint_root: registry main: {at} has root {}; the log's records give \
                 {} at that size: records before index 2000 (or the stored checkpoint) were \
                 changed after it was signed",
                "11".repeat(32),
                t.berth.meta.log_root_at(id, 2000).await.unwrap().to_hex()
            ),
            format!(
                "log_node: registry main: the stored node at level 11, index 0 (leaves 0..2048) \
                 is {}; its leaves give {}",
                "00".repeat(32),
                first_2048.to_hex()
            ),
            "log_leaf: main/c2100@1.0.0: log record #2100 has no stored leaf hash".to_string(),
            "log_node: registry main: the tree keeps 4994 nodes; a tree of 2500 leaves has 4995 \
             (nodes outside the tree were written, or some are missing)"
                .to_string(),
        ]
    );
}

#[tokio::test]
async fn a_log_cut_short_falls_behind_its_checkpoints() {
    let t = logged().await;
    tamper(
        &t,
        "DELETE FROM log_records WHERE idx = 2; DELETE FROM log_nodes WHERE level = 0 AND idx = 2",
    )
    .await;
    let report = fsck(&t.berth).await;
    assert_eq!(
        kinds(&report),
        ["log_checkpoint_root", "log_head", "log_unlogged"],
        "{:#?}",
        report.findings
    );
    assert_eq!(
        only(&report, "log_head")[0].detail,
        "the log's head says 3 leaves but the log has 2 records: records it covered were \
         removed"
    );
    let beyond = only(&report, "log_checkpoint_root")[0];
    assert!(
        beyond
            .detail
            .starts_with("the checkpoint of size 3 (signed at ")
            && beyond
                .detail
                .ends_with("is beyond the log's 2 records: records it covered were removed"),
        "{beyond}"
    );
    assert_eq!(
        only(&report, "log_unlogged")[0].version.as_deref(),
        Some("1.1.0")
    );
}
