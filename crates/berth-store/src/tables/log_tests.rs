//! The transparency log's statements on both backends: appends in
//! publish order agree with an in-memory tree at every size, proofs read
//! from `log_nodes` verify, concurrent publishes leave one record per
//! version with no gap, a version's checksum never changes, and the
//! backfill logs what was stored before the log in publish order.

use berth_log::merkle::{self, verify_consistency, verify_inclusion, HashSource, MemoryTree};
use berth_log::{Hash, Record};

use crate::db::MetaStore;
use crate::domain::RegistryKind;
use crate::tables::log::{canon_vers, Appended, LogEntry};
use crate::tables::tests::{actor_of, version_of};
use crate::{test_db, StoreError};

/// The leaf of a stored record, as the store hashes it.
fn leaf(row: &crate::model::LogRecordRow, registry: &str) -> Hash {
    Record {
        registry: registry.into(),
        name: row.name.clone(),
        version: row.vers.clone(),
        sha256: Hash::from_hex(&row.sha256).unwrap(),
        pubtime: row.pubtime.clone(),
    }
    .leaf_hash()
    .unwrap()
}

async fn memory_tree(store: &MetaStore, reg: i64, registry: &str) -> MemoryTree {
    let mut tree = MemoryTree::new();
    for row in store.log_records(reg, 0, 10_000).await.unwrap() {
        assert_eq!(row.idx as u64, tree.size(), "no gap");
        tree.append_leaf_hash(leaf(&row, registry));
    }
    tree
}

async fn log_grows_and_proves(store: &MetaStore) {
    let reg = store
        .ensure_registry("main", RegistryKind::Hosted)
        .await
        .unwrap();
    let user = store.create_user("alice", None, None, true).await.unwrap();
    let mut roots = Vec::new();
    for i in 0..23u64 {
        let (name, vers) = (format!("krate-{}", i % 5), format!("1.{i}.0+b{i}"));
        store
            .publish(&version_of(reg, &name, &vers), &actor_of(&user), "main")
            .await
            .unwrap();
        let tree = store.log_tree(reg).await.unwrap();
        assert_eq!(tree.size, i + 1);
        roots.push(tree.root);
    }
    let memory = memory_tree(store, reg, "main").await;
    assert_eq!(memory.root(), *roots.last().unwrap());
    for size in 1..=23u64 {
        assert_eq!(
            store.log_root_at(reg, size).await.unwrap(),
            roots[size as usize - 1]
        );
        for index in [0, size / 2, size - 1] {
            let plan = merkle::inclusion_plan(index, size).unwrap();
            let proof = plan
                .assemble(&store.log_nodes(reg, plan.nodes()).await.unwrap())
                .unwrap();
            let leaf = memory.node(merkle::NodeId::leaf(index)).unwrap();
            verify_inclusion(index, size, &leaf, &proof, &roots[size as usize - 1]).unwrap();
        }
        for old in [1, size / 2, size - 1]
            .into_iter()
            .filter(|&o| o >= 1 && o < size)
        {
            let plan = merkle::consistency_plan(old, size).unwrap();
            let proof = plan
                .assemble(&store.log_nodes(reg, plan.nodes()).await.unwrap())
                .unwrap();
            verify_consistency(
                old,
                size,
                &roots[old as usize - 1],
                &roots[size as usize - 1],
                &proof,
            )
            .unwrap();
        }
    }
    // Looked up by folded name and without build metadata.
    let row = store
        .log_record(reg, "KRATE_3", "1.3.0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.idx, row.name.as_str(), row.vers.as_str()),
        (3, "krate-3", "1.3.0+b3")
    );
    assert_eq!(canon_vers("1.3.0+b3"), "1.3.0");

    // The same version again: nothing new; other bytes: refused.
    let entry = |sha256: &'static str| LogEntry {
        registry_id: reg,
        registry: "main",
        name: "krate-3",
        vers: "1.3.0",
        sha256,
        pubtime: "2026-12-06T00:00:00Z",
    };
    let same = row.sha256.clone();
    let again = LogEntry {
        sha256: &same,
        ..entry("")
    };
    assert_eq!(
        store.log_append(&again).await.unwrap(),
        Appended::Existing(3)
    );
    match store
        .log_append(&entry(
            "ff00000000000000000000000000000000000000000000000000000000000000",
        ))
        .await
    {
        Err(StoreError::LogConflict { logged, .. }) => assert_eq!(logged, row.sha256),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(store.log_tree(reg).await.unwrap().size, 23);

    // Checkpoints: the first kept for a size stays.
    let root = roots[22];
    store
        .log_checkpoint_put(reg, 23, &root, "note-a", 5)
        .await
        .unwrap();
    store
        .log_checkpoint_put(reg, 23, &root, "note-b", 6)
        .await
        .unwrap();
    let latest = store.log_checkpoint_latest(reg).await.unwrap().unwrap();
    assert_eq!((latest.size, latest.note.as_str()), (23, "note-a"));

    // The backfill logs what was stored before the log, in publish order:
    // forget the log, and it comes back the same.
    for table in ["log_nodes", "log_records", "log_checkpoints", "log_heads"] {
        sqlx::query(&format!("DELETE FROM {table}"))
            .execute(&store.pool)
            .await
            .unwrap();
    }
    sqlx::query("UPDATE registries SET log_backfilled = 0")
        .execute(&store.pool)
        .await
        .unwrap();
    assert_eq!(store.log_backfill().await.unwrap(), 23);
    assert_eq!(store.log_tree(reg).await.unwrap().root, root);
    assert_eq!(store.log_backfill().await.unwrap(), 0, "once");

    // A registry whose head row is missing (made before the row existed)
    // gets it from its records at the next append, and goes on from there.
    sqlx::query("DELETE FROM log_heads")
        .execute(&store.pool)
        .await
        .unwrap();
    assert_eq!(store.log_head(reg).await.unwrap(), None);
    assert_eq!(
        store.log_tree(reg).await.unwrap().root,
        root,
        "from the nodes"
    );
    let v = version_of(reg, "late", "1.0.0");
    store.publish(&v, &actor_of(&user), "main").await.unwrap();
    let memory = memory_tree(store, reg, "main").await;
    assert_eq!(memory.size(), 24);
    let head = store
        .log_head(reg)
        .await
        .unwrap()
        .expect("made by the append");
    assert_eq!(head.size, 24);
    assert_eq!(store.log_tree(reg).await.unwrap().root, memory.root());
}

test_db::on_both_backends!(
    log_grows_and_proves_on_sqlite,
    log_grows_and_proves_on_postgres,
    log_grows_and_proves
);

/// Publishes from many tasks at once (many connections; on PostgreSQL
/// the advisory lock orders them): one record per version, no gap, and
/// every stored node agrees with the records.
async fn concurrent_publishes_leave_one_line(store: &MetaStore) {
    let reg = store
        .ensure_registry("main", RegistryKind::Hosted)
        .await
        .unwrap();
    let user = store.create_user("alice", None, None, true).await.unwrap();
    let mut tasks = Vec::new();
    for t in 0..6 {
        let (store, user) = (store.clone(), user.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..8 {
                let v = version_of(reg, &format!("c{t}"), &format!("0.{i}.0"));
                store.publish(&v, &actor_of(&user), "main").await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let memory = memory_tree(store, reg, "main").await;
    assert_eq!(memory.size(), 48);
    assert_eq!(store.log_tree(reg).await.unwrap().root, memory.root());
    let all = merkle::frontier(48);
    let frontier: Vec<_> = all.iter().map(|id| memory.node(*id).unwrap()).collect();
    assert_eq!(store.log_nodes(reg, &all).await.unwrap(), frontier);
    // The head (which every one of them made or locked first) agrees.
    let head = store.log_head(reg).await.unwrap().unwrap();
    assert_eq!((head.size, head.frontier), (48, frontier));
}

test_db::on_both_backends!(
    concurrent_publishes_on_sqlite,
    concurrent_publishes_on_postgres,
    concurrent_publishes_leave_one_line
);

/// A bulk load logs its versions as publishes would, appended after what
/// publishes logged: the stored nodes agree with the records.
async fn bulk_loads_are_logged(store: &MetaStore) {
    let reg = store
        .ensure_registry("main", RegistryKind::Hosted)
        .await
        .unwrap();
    let user = store.create_user("alice", None, None, true).await.unwrap();
    store
        .publish(&version_of(reg, "early", "0.1.0"), &actor_of(&user), "main")
        .await
        .unwrap();
    let crates: Vec<crate::BulkCrate> = (0..7)
        .map(|c| crate::BulkCrate {
            name: format!("bulk-{c}"),
            description: None,
            versions: (0..=c)
                .map(|v| crate::BulkVersion {
                    vers: format!("0.{v}.0"),
                    index_line: format!(
                        r#"{{"name":"bulk-{c}","vers":"0.{v}.0","deps":[],"cksum":"{:064x}","features":{{}},"yanked":false,"pubtime":"2026-01-0{}T00:00:00Z"}}"#,
                        c * 10 + v,
                        v + 1
                    ),
                    cksum: format!("{:064x}", c * 10 + v),
                    size: 1,
                    yanked: false,
                    created_at: (c * 10 + v) as i64,
                    downloads: 0,
                })
                .collect(),
        })
        .collect();
    assert_eq!(store.bulk_load(reg, user.id, &crates).await.unwrap(), 28);
    let memory = memory_tree(store, reg, "main").await;
    assert_eq!(memory.size(), 29);
    assert_eq!(store.log_tree(reg).await.unwrap().root, memory.root());
    let row = store
        .log_record(reg, "bulk-6", "0.2.0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.sha256, row.pubtime),
        (format!("{:064x}", 62), "2026-01-03T00:00:00Z".to_string())
    );
    for size in [2, 13, 29] {
        let plan = merkle::inclusion_plan(1, size).unwrap();
        let proof = plan
            .assemble(&store.log_nodes(reg, plan.nodes()).await.unwrap())
            .unwrap();
        let root = store.log_root_at(reg, size).await.unwrap();
        verify_inclusion(
            1,
            size,
            &memory.node(merkle::NodeId::leaf(1)).unwrap(),
            &proof,
            &root,
        )
        .unwrap();
    }
}

test_db::on_both_backends!(
    bulk_loads_are_logged_on_sqlite,
    bulk_loads_are_logged_on_postgres,
    bulk_loads_are_logged
);
