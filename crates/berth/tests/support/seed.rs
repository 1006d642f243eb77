//! Loads many crates straight into a running server's database, as the
//! benchmark does, for tests that need a registry too large to publish one
//! crate at a time.

use berth_store::{BulkCrate, BulkVersion, MetaStore, RegistryKind};
use berth_testkit::Server;

/// `n` crates `seeded-crate-NNNNNN@1.0.0` in registry `main`, owned by
/// `owner`, each version pointing at the blob `cksum` (which should exist
/// when the test downloads or backs up).
pub fn crates(server: &Server, owner: &str, n: usize, cksum: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let meta = MetaStore::connect(&server.stores.database_url(), 2)
            .await
            .unwrap();
        let registry = meta
            .ensure_registry("main", RegistryKind::Hosted)
            .await
            .unwrap();
        let user = meta.user_by_login(owner).await.unwrap().unwrap();
        let crates: Vec<BulkCrate> = (0..n)
            .map(|i| {
                let name = format!("seeded-crate-{i:06}");
                BulkCrate {
                    description: Some(format!("crate number {i} of a large registry")),
                    versions: vec![BulkVersion {
                        vers: "1.0.0".into(),
                        index_line: format!(
                            r#"{{"name":"{name}","vers":"1.0.0","deps":[],"cksum":"{cksum}","features":{{}},"yanked":false}}"#
                        ),
                        cksum: cksum.to_string(),
                        size: 1,
                        yanked: false,
                        created_at: 1_700_000_000 + i as i64,
                        downloads: (i as i64 * 7919) % 100_003,
                    }],
                    name,
                }
            })
            .collect();
        meta.bulk_load(registry, user.id, &crates).await.unwrap();
        meta.close().await;
    });
}
