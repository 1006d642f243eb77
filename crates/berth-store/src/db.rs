//! Connecting to the metadata database and running its migrations.
//!
//! One [`MetaStore`] serves SQLite and PostgreSQL through sqlx's `Any`
//! driver. SQLite allows one writer at a time; to keep its transactions from
//! failing with "database is locked" under concurrency, writes on SQLite take
//! an in-process lock first. PostgreSQL needs no such lock: its constraints
//! and row locks order concurrent writers, across nodes too.

use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyArguments, AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::query::Query;
use sqlx::{Any, AnyPool, Executor, Transaction};
use tokio::sync::{Mutex, MutexGuard};

use crate::StoreError;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Which SQL database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a database URL names.
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::Database(sqlx::Error::Configuration(
                format!(
                    "unsupported database URL `{}`: use sqlite://PATH or postgres://...",
                    redact(url)
                )
                .into(),
            )))
        }
    }
}

/// The URL with any password replaced, for logs and errors: the one in
/// `user:password@` and any `password=` query parameter.
pub fn redact(url: &str) -> String {
    let mut out = match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    };
    if let Some(q) = out.find('?') {
        let (base, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => kv.to_string(),
            })
            .collect();
        out = format!("{base}{}", query.join("&"));
    }
    out
}

/// The metadata store: a connection pool plus, on SQLite, the writer lock.
#[derive(Clone)]
pub struct MetaStore {
    pub(crate) pool: AnyPool,
    backend: Backend,
    /// What `connect` was given: listeners open their own connection.
    pub(crate) url: String,
    write_lock: Option<Arc<Mutex<()>>>,
    /// How many refusal rows each caller may still append this minute.
    pub(crate) refusals: Arc<crate::tables::RefusalBudget>,
}

/// A write transaction, holding the SQLite writer lock while it lives.
pub(crate) struct WriteTx<'a> {
    pub tx: Transaction<'static, Any>,
    _guard: Option<MutexGuard<'a, ()>>,
}

impl MetaStore {
    /// Connects and brings the schema up to date.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        if backend == Backend::Sqlite {
            create_sqlite_parent(url)?;
        }
        let opts: AnyConnectOptions = url.parse()?;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(opts)
            .await?;
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        let write_lock = (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(())));
        Ok(Self {
            pool,
            backend,
            url: url.to_string(),
            write_lock,
            refusals: Arc::default(),
        })
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Suffix for a SELECT that must lock the rows it reads until the
    /// transaction ends. PostgreSQL needs it; SQLite's write transactions
    /// already exclude each other.
    pub(crate) fn lock_rows(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        }
    }

    pub(crate) async fn begin_write(&self) -> Result<WriteTx<'_>, StoreError> {
        let guard = match &self.write_lock {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        // On SQLite, take the database write lock up front: a deferred
        // transaction that reads first can fail to upgrade when another
        // process (e.g. `berth user add`) wrote in between.
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(WriteTx { tx, _guard: guard })
    }

    /// Runs one statement in a write transaction of its own, committed
    /// before it returns.
    pub(crate) async fn write_one<'q>(
        &self,
        statement: Query<'q, Any, AnyArguments<'q>>,
    ) -> Result<(), StoreError> {
        let mut w = self.begin_write().await?;
        statement.execute(&mut *w.tx).await?;
        w.tx.commit().await?;
        Ok(())
    }
}

/// The file of a `sqlite:` database URL (`None` for other databases and for
/// in-memory SQLite).
pub fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    if !url.starts_with("sqlite:") {
        return None;
    }
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

/// Creates the directory of a SQLite database (mode 0700: it holds password
/// and token hashes) and, where the URL allows creating it (`mode=rwc`), the
/// database file itself, mode 0600, so that SQLite's `-wal` and `-shm`
/// files, which take the database's mode, are private too.
fn create_sqlite_parent(url: &str) -> Result<(), StoreError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let Some(path) = sqlite_path(url) else {
        return Ok(());
    };
    let failed = |what: &str, at: &std::path::Path, e: std::io::Error| {
        StoreError::Database(sqlx::Error::Configuration(
            format!("cannot create {what} `{}`: {e}", at.display()).into(),
        ))
    };
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|e| failed("database directory", parent, e))?;
        }
    }
    if url.contains("mode=rwc") && !path.exists() {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(_) => {}
            // Created meanwhile by another process: SQLite opens it.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(failed("database", &path, e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("sqlite:///x/y.db"), "sqlite:///x/y.db");
        assert_eq!(
            redact("postgres://h/db?user=u&password=pw&x=1"),
            "postgres://h/db?user=u&password=***&x=1"
        );
    }
}
