//! What `fsck` reads of the transparency log, on SQLite and (when
//! reachable) PostgreSQL: stored versions joined to their records (only
//! the disagreements come back), records without their version, the
//! tree's nodes a level and a range at a time, a crate's records, and
//! checkpoints a page at a time.

use crate::db::MetaStore;
use crate::domain::RegistryKind;
use crate::model::{Actor, NewVersion};
use crate::tables::log::LogEntry;
use crate::test_db;

fn version(registry_id: i64, name: &str, vers: &str, cksum: &str) -> NewVersion {
    let parsed = semver::Version::parse(vers).unwrap();
    NewVersion {
        registry_id,
        name: name.to_string(),
        canon_name: berth_protocol::canonical_name(name),
        vers: vers.to_string(),
        canon_vers: berth_protocol::canonical_version(&parsed),
        index_line: format!(
            r#"{{"name":"{name}","vers":"{vers}","deps":[],"cksum":"{cksum}","features":{{}},"yanked":false}}"#
        ),
        cksum: cksum.to_string(),
        size: 100,
        metadata_json: "{}".into(),
        readme: None,
        description: None,
        new_crate_only: false,
        trust_claims: None,
    }
}

async fn log_disagreements(store: &MetaStore) {
    let main = store
        .ensure_registry("main", RegistryKind::Hosted)
        .await
        .unwrap();
    let public = store
        .ensure_registry("public", RegistryKind::Proxy)
        .await
        .unwrap();
    let user = store.create_user("ann", None, None, false).await.unwrap();
    let actor = Actor {
        user_id: user.id,
        login: user.login.clone(),
        is_admin: false,
        origin: Default::default(),
    };
    let (a, b) = ("a".repeat(64), "b".repeat(64));
    // Published (and so logged): two versions, one with build metadata.
    for (name, vers) in [("Foo-Bar", "1.0.0+build"), ("Foo-Bar", "1.1.0")] {
        store
            .publish(&version(main, name, vers, &a), &actor, "main")
            .await
            .unwrap();
    }
    assert!(store.fsck_versions_unlogged(main).await.unwrap().is_empty());
    assert!(store
        .fsck_records_without_version(main)
        .await
        .unwrap()
        .is_empty());
    // A proxy's copy, logged when stored.
    store
        .proxy_crate_put(public, "public", "Up-Name", "2.0.0", &b, 10, 1)
        .await
        .unwrap();
    assert!(store
        .fsck_proxy_crates_unlogged(public)
        .await
        .unwrap()
        .is_empty());

    // A record for a version that was never stored, and a stored version
    // whose record has another sha256.
    store
        .log_append(&LogEntry {
            registry_id: main,
            registry: "main",
            name: "ghost",
            vers: "0.1.0",
            sha256: &b,
            pubtime: "2027-01-15T08:00:00Z",
        })
        .await
        .unwrap();
    sqlx::query("UPDATE log_records SET sha256 = $1 WHERE idx = 1 AND registry_id = $2")
        .bind(&b)
        .bind(main)
        .execute(&store.pool)
        .await
        .unwrap();
    let unlogged = store.fsck_versions_unlogged(main).await.unwrap();
    assert_eq!(unlogged.len(), 1);
    let d = &unlogged[0];
    assert_eq!(
        (
            d.crate_name.as_str(),
            d.vers.as_str(),
            d.cksum.as_str(),
            d.logged_idx,
            d.logged_sha256.as_deref()
        ),
        ("Foo-Bar", "1.1.0", a.as_str(), Some(1), Some(b.as_str()))
    );
    let orphans = store.fsck_records_without_version(main).await.unwrap();
    assert_eq!(orphans.len(), 1);
    assert_eq!(
        (
            orphans[0].crate_name.as_str(),
            orphans[0].cksum.as_str(),
            orphans[0].logged_idx
        ),
        ("ghost", "", Some(2))
    );
    sqlx::query("UPDATE proxy_crates SET cksum = $1")
        .bind(&a)
        .execute(&store.pool)
        .await
        .unwrap();
    let proxied = store.fsck_proxy_crates_unlogged(public).await.unwrap();
    assert_eq!(proxied.len(), 1);
    assert_eq!(
        (proxied[0].crate_name.as_str(), proxied[0].logged_idx),
        ("up-name", Some(0))
    );

    // The tree of 3 leaves keeps 4 nodes; ranges come back in order.
    assert_eq!(store.log_node_count(main).await.unwrap(), 4);
    assert_eq!(store.log_record_count(main).await.unwrap(), 3);
    let leaves = store.log_node_range(main, 0, 1, 3).await.unwrap();
    assert_eq!(leaves.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [1, 2]);
    let top = store.log_node_range(main, 1, 0, 5).await.unwrap();
    assert_eq!(top.len(), 1);
    assert_eq!(top[0].1.len(), 64);

    // A crate's records, however its name is spelt; checkpoints a page at
    // a time.
    let of = store.log_records_of(main, "foo_BAR").await.unwrap();
    assert_eq!(
        of.iter()
            .map(|r| (r.idx, r.vers.as_str()))
            .collect::<Vec<_>>(),
        [(0, "1.0.0+build"), (1, "1.1.0")]
    );
    for size in [1, 2, 3] {
        let root = store.log_root_at(main, size).await.unwrap();
        store
            .log_checkpoint_put(main, size, &root, &format!("note {size}"), 7)
            .await
            .unwrap();
    }
    let page = store.log_checkpoints_after(main, 1, 1).await.unwrap();
    assert_eq!(
        page.iter()
            .map(|c| (c.size, c.note.as_str()))
            .collect::<Vec<_>>(),
        [(2, "note 2")]
    );
    assert_eq!(
        store
            .log_checkpoints_after(main, -1, 10)
            .await
            .unwrap()
            .len(),
        3
    );
}

test_db::on_both_backends!(
    log_disagreements_on_sqlite,
    log_disagreements_on_postgres,
    log_disagreements
);
