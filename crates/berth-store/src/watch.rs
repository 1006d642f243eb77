//! PostgreSQL notifications of index changes, so that many nodes can cache
//! index files without asking the database on every request.
//!
//! Every transaction that changes a crate's index lines (publish, yank,
//! unyank, bulk loads) sends `<registry_id>/<revision>/<canon_name>` on
//! channel [`CHANNEL`]; PostgreSQL delivers it at commit, to every listener,
//! in commit order. Nodes also send themselves heartbeats on the same
//! channel (`ping/<payload>`) to prove their listener hears everything. This
//! file owns the channel, the payload format and the listening connection;
//! it never decides what a notification means for a cache (berth-core does)
//! and does nothing on SQLite, where one process makes every change.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::AnyConnection;

use crate::db::{Backend, MetaStore};
use crate::StoreError;

/// The channel index changes and heartbeats are sent on.
pub const CHANNEL: &str = "berth_index";

/// What a listener hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexEvent {
    /// A crate's index lines changed, now at `revision`.
    Changed {
        registry_id: i64,
        revision: i64,
        canon_name: String,
    },
    /// A heartbeat: what was passed to [`MetaStore::notify_ping`].
    Ping(String),
}

impl IndexEvent {
    /// Reads a notification's payload; `None` for one this version does
    /// not know.
    pub fn parse(payload: &str) -> Option<IndexEvent> {
        if let Some(ping) = payload.strip_prefix("ping/") {
            return Some(IndexEvent::Ping(ping.to_string()));
        }
        let mut parts = payload.splitn(3, '/');
        let registry_id = parts.next()?.parse().ok()?;
        let revision = parts.next()?.parse().ok()?;
        let canon_name = parts.next()?.to_string();
        Some(IndexEvent::Changed {
            registry_id,
            revision,
            canon_name,
        })
    }
}

/// One connection listening on [`CHANNEL`]. Once [`recv`](Self::recv) has
/// answered `Ok(None)` or an error, or has been cancelled, notifications may
/// have been missed: drop it and open another.
pub struct IndexListener {
    inner: PgListener,
}

impl IndexListener {
    /// The next event; `Ok(None)` when the connection was lost. Payloads
    /// this version does not know are skipped.
    pub async fn recv(&mut self) -> Result<Option<IndexEvent>, StoreError> {
        loop {
            let Some(n) = self.inner.try_recv().await? else {
                return Ok(None);
            };
            if let Some(event) = IndexEvent::parse(n.payload()) {
                return Ok(Some(event));
            }
        }
    }
}

impl MetaStore {
    /// A connection listening on [`CHANNEL`] (named `application_name` in
    /// `pg_stat_activity`), listening once this returns; `None` on SQLite.
    pub async fn index_listener(
        &self,
        application_name: &str,
    ) -> Result<Option<IndexListener>, StoreError> {
        if self.backend() != Backend::Postgres {
            return Ok(None);
        }
        let opts = PgConnectOptions::from_str(&self.url)?.application_name(application_name);
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_with(opts)
            .await?;
        let mut inner = PgListener::connect_with(&pool).await?;
        inner.eager_reconnect(false);
        inner.listen(CHANNEL).await?;
        Ok(Some(IndexListener { inner }))
    }

    /// Sends a heartbeat `ping/<payload>` on [`CHANNEL`] through the pool.
    pub async fn notify_ping(&self, payload: &str) -> Result<(), StoreError> {
        if self.backend() != Backend::Postgres {
            return Ok(());
        }
        // pg_notify returns `void`, which the Any driver cannot decode.
        sqlx::query("SELECT count(*) FROM (SELECT pg_notify($1, $2)) AS n")
            .bind(CHANNEL)
            .bind(format!("ping/{payload}"))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// Inside a write transaction: tells every node, at commit, that the index
/// of crate `crate_id` is now at its stored revision. Nothing on SQLite.
pub(crate) async fn notify_changed(
    conn: &mut AnyConnection,
    crate_ids: &[i64],
) -> Result<(), sqlx::Error> {
    if conn.backend_name() != "PostgreSQL" || crate_ids.is_empty() {
        return Ok(());
    }
    for chunk in crate_ids.chunks(1000) {
        let placeholders = (0..chunk.len())
            .map(|i| format!("${}", i + 2))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT count(*) FROM (SELECT pg_notify($1, registry_id || '/' || revision || '/' \
             || canon_name) FROM crates WHERE id IN ({placeholders})) AS n"
        );
        let mut q = sqlx::query(&sql).bind(CHANNEL);
        for id in chunk {
            q = q.bind(*id);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::IndexEvent;

    #[test]
    fn payloads_parse() {
        assert_eq!(
            IndexEvent::parse("3/17/serde_json"),
            Some(IndexEvent::Changed {
                registry_id: 3,
                revision: 17,
                canon_name: "serde_json".into()
            })
        );
        assert_eq!(
            IndexEvent::parse("ping/ab12/900"),
            Some(IndexEvent::Ping("ab12/900".into()))
        );
        assert_eq!(IndexEvent::parse("x/1/a"), None);
        assert_eq!(IndexEvent::parse("1/2"), None);
    }
}
