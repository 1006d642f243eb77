//! `webhooks` and `webhook_deliveries`: the receivers told of changes, and
//! each delivery's state. A delivery is queued by [`enqueue`], which the
//! audit row of every change calls inside the change's own transaction;
//! nodes claim due deliveries under a lease ([`MetaStore::claim_deliveries`]),
//! the oldest pending one per receiver and crate only, so that one
//! receiver gets a crate's events in order.
//!
//! This file never sends anything nor decides what a payload says beyond
//! the change's audit row (berth-core's `webhooks`).

use sqlx::AnyConnection;

use crate::db::MetaStore;
use crate::domain::AuditAction;
use crate::model::AuditEntry;
use crate::{now_unix, StoreError};

/// A receiver.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Webhook {
    pub id: i64,
    pub url: String,
    pub events: String,
    pub registry: Option<String>,
    pub secret_env: Option<String>,
    pub created_by: Option<String>,
    pub created_at: i64,
}

/// One delivery.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Delivery {
    pub id: i64,
    pub webhook_id: i64,
    pub event: String,
    pub subject: String,
    pub payload: String,
    pub state: String,
    pub attempts: i64,
    pub next_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

const DELIVERY_COLUMNS: &str =
    "id, webhook_id, event, subject, payload, state, attempts, next_at, \
     last_status, last_error, created_at, delivered_at";

/// The outcome of one attempt to send a delivery.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub id: i64,
    /// `done`, `pending` (to be tried again at `next_at`) or `dead`.
    pub state: &'static str,
    pub next_at: i64,
    pub status: Option<u16>,
    pub error: Option<String>,
    /// When it was made.
    pub at: i64,
}

/// The webhook event of an audited change, if it is one.
pub fn event_of(action: AuditAction) -> Option<&'static str> {
    Some(match action {
        AuditAction::Publish => "publish",
        AuditAction::Yank => "yank",
        AuditAction::Unyank => "unyank",
        AuditAction::OwnerAdd | AuditAction::OwnerRemove => "owner",
        AuditAction::AdvisoriesImport => "advisory",
        AuditAction::Promote => "promote",
        _ => return None,
    })
}

/// The body a receiver gets for an audited change.
fn payload(event: &str, e: &AuditEntry, event_id: &str, at: i64) -> String {
    serde_json::json!({
        "id": event_id,
        "event": event,
        "action": e.action.as_str(),
        "registry": e.registry,
        "crate": e.crate_name,
        "version": e.version,
        "actor": e.actor,
        "detail": e.detail,
        "at": at,
    })
    .to_string()
}

/// Queues a delivery to every receiver of the change `e` describes, on
/// `conn` (inside the change's transaction). `audit_id` names the event.
pub(crate) async fn enqueue(
    conn: &mut AnyConnection,
    e: &AuditEntry,
    audit_id: i64,
) -> Result<(), sqlx::Error> {
    if e.outcome != crate::AuditOutcome::Ok {
        return Ok(());
    }
    let Some(event) = event_of(e.action) else {
        return Ok(());
    };
    let now = now_unix();
    let subject = format!(
        "{}/{}",
        e.registry.as_deref().unwrap_or(""),
        e.crate_name.as_deref().unwrap_or("")
    );
    let event_id = format!("evt-{audit_id}");
    // One statement, whether no receiver or many want the event.
    sqlx::query(
        "INSERT INTO webhook_deliveries \
         (webhook_id, event, subject, payload, state, attempts, next_at, created_at) \
         SELECT id, $1, $2, $3, 'pending', 0, $4, $4 FROM webhooks \
         WHERE (',' || events || ',') LIKE $5 \
         AND (registry IS NULL OR registry = $6 OR $7 = 0) \
         ORDER BY id",
    )
    .bind(event)
    .bind(&subject)
    .bind(payload(event, e, &event_id, now))
    .bind(now)
    .bind(format!("%,{event},%"))
    .bind(e.registry.clone().unwrap_or_default())
    .bind(i64::from(e.registry.is_some()))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl MetaStore {
    /// Adds a receiver.
    pub async fn add_webhook(
        &self,
        url: &str,
        events: &str,
        registry: Option<&str>,
        secret_env: Option<&str>,
        audit: &AuditEntry,
    ) -> Result<Webhook, StoreError> {
        let mut w = self.begin_write().await?;
        let now = now_unix();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO webhooks (url, events, registry, secret_env, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(url)
        .bind(events)
        .bind(registry.map(str::to_string))
        .bind(secret_env.map(str::to_string))
        .bind(audit.actor.clone())
        .bind(now)
        .fetch_one(&mut *w.tx)
        .await?;
        w.commit_audited(&AuditEntry {
            detail: Some(format!("webhook {id} {url} events={events}")),
            ..audit.clone()
        })
        .await?;
        Ok(Webhook {
            id,
            url: url.into(),
            events: events.into(),
            registry: registry.map(str::to_string),
            secret_env: secret_env.map(str::to_string),
            created_by: audit.actor.clone(),
            created_at: now,
        })
    }

    /// Every receiver.
    pub async fn list_webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, url, events, registry, secret_env, created_by, created_at \
             FROM webhooks ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Removes a receiver and its deliveries; false when there is none.
    pub async fn remove_webhook(&self, id: i64, audit: &AuditEntry) -> Result<bool, StoreError> {
        let mut w = self.begin_write().await?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = $1")
            .bind(id)
            .execute(&mut *w.tx)
            .await?;
        let gone = sqlx::query("DELETE FROM webhooks WHERE id = $1")
            .bind(id)
            .execute(&mut *w.tx)
            .await?
            .rows_affected()
            > 0;
        if gone {
            w.commit_audited(&AuditEntry {
                detail: Some(format!("webhook {id}")),
                ..audit.clone()
            })
            .await?;
        }
        Ok(gone)
    }

    /// Queues a `ping` to one receiver (`berth webhook test`).
    pub async fn queue_ping(&self, id: i64) -> Result<bool, StoreError> {
        let now = now_unix();
        let body =
            serde_json::json!({"id": format!("ping-{id}-{now}"), "event": "ping", "at": now})
                .to_string();
        let done = sqlx::query(
            "INSERT INTO webhook_deliveries \
             (webhook_id, event, subject, payload, state, attempts, next_at, created_at) \
             SELECT id, 'ping', 'ping', $2, 'pending', 0, $3, $3 FROM webhooks WHERE id = $1",
        )
        .bind(id)
        .bind(body)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Whether a delivery is due by `now` and not leased (one read).
    pub async fn webhook_deliveries_due(&self, now: i64) -> Result<bool, StoreError> {
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM webhook_deliveries WHERE state = 'pending' AND next_at <= $1 \
             AND (lease_until IS NULL OR lease_until < $1) LIMIT 1",
        )
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(due.is_some())
    }

    /// Records the `attempts` made, then claims up to `limit` due
    /// deliveries until `lease_until`: pending, due by `now`, not leased
    /// by another node, and each the oldest pending one of its receiver
    /// and crate. One transaction (one commit) for both.
    pub async fn settle_and_claim(
        &self,
        attempts: &[Attempt],
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        // Most polls find nothing: a read says so without a write.
        let due = self.webhook_deliveries_due(now).await?;
        if !due && attempts.is_empty() {
            return Ok(Vec::new());
        }
        let mut w = self.begin_write().await?;
        // The outcomes in one statement per hundred (a statement per
        // outcome was most of what sending cost the database).
        for chunk in attempts.chunks(100) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let n = i * 6;
                    format!(
                        "(CAST(${} AS BIGINT), CAST(${} AS TEXT), CAST(${} AS BIGINT), \
                         CAST(${} AS BIGINT), CAST(${} AS TEXT), CAST(${} AS BIGINT))",
                        n + 1,
                        n + 2,
                        n + 3,
                        n + 4,
                        n + 5,
                        n + 6
                    )
                })
                .collect();
            // A VALUES list's columns are `column1`.. on both databases.
            let sql = format!(
                "UPDATE webhook_deliveries SET state = a.column2, attempts = attempts + 1, \
                 next_at = a.column3, lease_until = NULL, last_status = a.column4, \
                 last_error = a.column5, \
                 delivered_at = CASE WHEN a.column2 = 'done' THEN a.column6 ELSE delivered_at END \
                 FROM (VALUES {}) AS a WHERE webhook_deliveries.id = a.column1",
                rows.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for a in chunk {
                query = query
                    .bind(a.id)
                    .bind(a.state)
                    .bind(a.next_at)
                    .bind(a.status.map(i64::from))
                    .bind(a.error.clone())
                    .bind(a.at);
            }
            query.execute(&mut *w.tx).await?;
        }
        let skip_locked = if w.tx.backend_name() == "PostgreSQL" {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let mut claimed: Vec<Delivery> = sqlx::query_as(&format!(
            "UPDATE webhook_deliveries SET lease_until = $3 WHERE id IN ( \
               SELECT d.id FROM webhook_deliveries d \
               WHERE d.state = 'pending' AND d.next_at <= $1 \
               AND (d.lease_until IS NULL OR d.lease_until < $1) \
               AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e \
                   WHERE e.webhook_id = d.webhook_id AND e.subject = d.subject \
                   AND e.state = 'pending' AND e.id < d.id) \
               ORDER BY d.id LIMIT $2{skip_locked}) \
             RETURNING {DELIVERY_COLUMNS}"
        ))
        .bind(now)
        .bind(if due { limit } else { 0 })
        .bind(lease_until)
        .fetch_all(&mut *w.tx)
        .await?;
        claimed.sort_by_key(|d| d.id);
        w.tx.commit().await?;
        Ok(claimed)
    }

    /// Deliveries, newest first: all, or only those given up or still
    /// failing (`failed`).
    pub async fn list_deliveries(
        &self,
        failed: bool,
        limit: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let filter = if failed {
            "WHERE state = 'dead' OR (state = 'pending' AND attempts > 0)"
        } else {
            ""
        };
        Ok(sqlx::query_as(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries {filter} ORDER BY id DESC LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Sends a delivery again from now (whatever its state); false when
    /// there is none.
    pub async fn redeliver(&self, id: i64, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET state = 'pending', next_at = $2, lease_until = NULL \
             WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
