//! Fresh databases for this crate's tests: SQLite in a temporary directory,
//! PostgreSQL as a database created for one test and dropped after it (at
//! `BERTH_TEST_PG_URL`, by default postgres://postgres@127.0.0.1:5432).
//! An unreachable PostgreSQL skips a test, except under `CI=true`, where it
//! fails it. Test-only; never compiled into the library.
//!
//! [`on_both_backends!`] makes the pair of tests that run one check on
//! each backend; nothing else creates databases. [`main_and_other`] is the
//! pair of hosted registries several checks start from.

use std::time::Duration;

use sqlx::{AnyConnection, Connection, Executor};

use crate::db::MetaStore;

/// A migrated SQLite store and the directory that holds it.
pub(crate) async fn sqlite() -> (MetaStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/meta.db?mode=rwc", dir.path().display());
    let store = MetaStore::connect(&url, 2).await.unwrap();
    (store, dir)
}

/// Two hosted registries, `main` and `other`, on a fresh store: their ids.
pub(crate) async fn main_and_other(store: &MetaStore) -> (i64, i64) {
    let mut ids = [0; 2];
    for (id, name) in ids.iter_mut().zip(["main", "other"]) {
        *id = store
            .ensure_registry(name, crate::domain::RegistryKind::Hosted)
            .await
            .unwrap();
    }
    (ids[0], ids[1])
}

/// A PostgreSQL database created for one test; [`FreshPostgres::drop`] it.
pub(crate) struct FreshPostgres {
    admin: AnyConnection,
    base: String,
    db: String,
}

impl FreshPostgres {
    /// Creates the database, or returns `None` (having said why) when
    /// PostgreSQL is unreachable outside CI.
    pub async fn create(test: &str) -> Option<Self> {
        sqlx::any::install_default_drivers();
        let base = std::env::var("BERTH_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let admin_url = format!("{base}/postgres");
        let connect =
            tokio::time::timeout(Duration::from_secs(10), AnyConnection::connect(&admin_url)).await;
        let mut admin = match connect {
            Ok(Ok(conn)) => conn,
            failed => {
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timed out".to_string(),
                };
                let at = crate::redact(&admin_url);
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("PostgreSQL at {at} is unreachable under CI=true: {why}");
                }
                eprintln!("{test}: skipped, PostgreSQL at {at} is unreachable ({why})");
                return None;
            }
        };
        let db = format!(
            "berth_store_{}_{}_{}",
            // PostgreSQL cuts names at 63 bytes: keep the unique tail.
            &test[..test.len().min(24)],
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        admin
            .execute(format!("CREATE DATABASE {db}").as_str())
            .await
            .unwrap();
        Some(Self { admin, base, db })
    }

    /// A migrated store on the database.
    pub async fn connect(&self) -> Result<MetaStore, crate::StoreError> {
        MetaStore::connect(&format!("{}/{}", self.base, self.db), 2).await
    }

    /// Runs `check` on a migrated store of this database, then drops the
    /// database whether or not the check passed (a panic is resumed after).
    pub async fn run<F, Fut>(self, check: F)
    where
        F: FnOnce(MetaStore) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(async {
            check(self.connect().await.unwrap()).await
        }))
        .await;
        self.drop().await;
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }

    /// Drops the database (closing any connection still open to it).
    pub async fn drop(mut self) {
        self.admin
            .execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db).as_str())
            .await
            .unwrap();
    }
}

/// Two tests, `$sqlite` and `$postgres`, that each run `$check` (an
/// `async fn(&MetaStore)`) on a fresh store of their backend and close it;
/// the PostgreSQL one skips (fails under `CI=true`) when PostgreSQL is
/// unreachable, and drops its database whatever happens.
macro_rules! on_both_backends {
    ($sqlite:ident, $postgres:ident, $check:path) => {
        #[tokio::test]
        async fn $sqlite() {
            let (store, _dir) = $crate::test_db::sqlite().await;
            $check(&store).await;
            store.close().await;
        }

        #[tokio::test]
        async fn $postgres() {
            let Some(pg) = $crate::test_db::FreshPostgres::create(stringify!($check)).await else {
                return;
            };
            pg.run(|store| async move {
                $check(&store).await;
                store.close().await;
            })
            .await;
        }
    };
}
pub(crate) use on_both_backends;
