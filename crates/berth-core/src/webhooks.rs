//! Webhooks: receivers told of publishes, yanks, unyanks, owner changes
//! and advisory imports. Adding one checks its URL against
//! `[webhooks] allowed_targets`; the store queues a delivery with every
//! change's audit row, in the change's transaction; every node sends due
//! deliveries under a lease ([`Berth::deliver_due`], from the server's
//! loop), the oldest pending one per receiver and crate first, retried
//! with exponential backoff and jitter for `retry_for_secs`, then dead.
//! A receiver that is slow or down never slows a publish: sending is
//! never on a request's path.
//!
//! A delivery is a JSON POST with `X-Berth-Event`, `X-Berth-Delivery`,
//! `X-Berth-Timestamp` and, when the receiver has a secret,
//! `X-Berth-Signature: sha256=HEX`, the HMAC-SHA256 of `TIMESTAMP.BODY`
//! (receivers refuse old timestamps to refuse replays).

use berth_store::{AuditAction, Delivery, Webhook, WebhookAttempt};

use crate::error::ServiceError;
use crate::{Berth, Identity};

/// The events a receiver may ask for.
pub const EVENTS: &[&str] = &["publish", "yank", "unyank", "owner", "advisory", "promote"];
/// Deliveries one node sends at once.
pub(crate) const BATCH: usize = 32;
/// How long the sending loop lets deliveries gather after a round that
/// left none due: the next publishes' deliveries, and this round's
/// outcomes, then share one commit (a commit per publish was most of
/// what receivers cost publishing on SQLite).
pub const GATHER_MS: u64 = 50;

/// What one sending round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryRound {
    /// Deliveries claimed and being sent.
    pub claimed: usize,
    /// Whether more were due than it could claim (every slot taken, or
    /// a crate's later events waiting for its earlier ones): the loop
    /// goes on at once instead of gathering.
    pub backlog: bool,
}
/// How long a claimed delivery is this node's.
const LEASE_SECS: i64 = 30;
/// The longest wait between two attempts.
const MAX_BACKOFF_SECS: i64 = 3600;

/// The seconds before attempt `attempts + 1`: 2^attempts (capped at an
/// hour), plus up to a quarter more, at random, so that receivers coming
/// back are not hit by every node at once.
pub fn backoff_secs(attempts: i64, jitter: f64) -> i64 {
    let base = 1i64
        .checked_shl(attempts.clamp(0, 30) as u32)
        .unwrap_or(MAX_BACKOFF_SECS)
        .min(MAX_BACKOFF_SECS);
    base + (base as f64 * 0.25 * jitter.clamp(0.0, 1.0)) as i64
}

/// `sha256=HEX`: the HMAC-SHA256 of `TIMESTAMP.BODY` with `secret`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("sha256={}", hex::encode(ctx.sign().as_ref()))
}

impl Berth {
    /// Adds a receiver of `events` (comma-separated, from [`EVENTS`]) at
    /// `url`, for one registry's changes or every one's, signed with the
    /// secret in the environment variable `secret_env`.
    pub async fn add_webhook(
        &self,
        by: Option<&Identity>,
        url: &str,
        events: &str,
        registry: Option<&str>,
        secret_env: Option<&str>,
    ) -> Result<Webhook, ServiceError> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| ServiceError::BadRequest(format!("the URL `{url}` is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ServiceError::BadRequest(format!(
                "the URL `{url}` must be http or https"
            )));
        }
        if !self.config.webhooks.allows(&parsed) {
            return Err(ServiceError::Forbidden(format!(
                "`{}` is not an allowed webhook target; an operator lists the hosts and ranges \
                 receivers may be at in `[webhooks] allowed_targets` (now: {})",
                parsed.host_str().unwrap_or(""),
                if self.config.webhooks.allowed_targets.is_empty() {
                    "none".to_string()
                } else {
                    self.config.webhooks.allowed_targets.join(", ")
                }
            )));
        }
        let mut wanted: Vec<&str> = Vec::new();
        for e in events.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if !EVENTS.contains(&e) {
                return Err(ServiceError::BadRequest(format!(
                    "unknown event `{e}`; events are {}",
                    EVENTS.join(", ")
                )));
            }
            if !wanted.contains(&e) {
                wanted.push(e);
            }
        }
        if wanted.is_empty() {
            return Err(ServiceError::BadRequest(format!(
                "name at least one event of {}",
                EVENTS.join(", ")
            )));
        }
        if let Some(r) = registry {
            self.registry(r)?;
        }
        if let Some(var) = secret_env {
            let ok = !var.is_empty() && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !ok {
                return Err(ServiceError::BadRequest(format!(
                    "`{var}` is not an environment variable's name"
                )));
            }
        }
        Ok(self
            .meta
            .add_webhook(
                parsed.as_str(),
                &wanted.join(","),
                registry,
                secret_env,
                &Self::admin_audit(by, AuditAction::WebhookAdd),
            )
            .await?)
    }

    /// Every receiver.
    pub async fn list_webhooks(&self) -> Result<Vec<Webhook>, ServiceError> {
        Ok(self.meta.list_webhooks().await?)
    }

    /// Removes a receiver with its deliveries.
    pub async fn remove_webhook(&self, by: Option<&Identity>, id: i64) -> Result<(), ServiceError> {
        if self
            .meta
            .remove_webhook(id, &Self::admin_audit(by, AuditAction::WebhookRemove))
            .await?
        {
            Ok(())
        } else {
            Err(no_webhook(id))
        }
    }

    /// Queues a `ping` delivery to a receiver.
    pub async fn ping_webhook(&self, id: i64) -> Result<(), ServiceError> {
        if self.meta.queue_ping(id).await? {
            Ok(())
        } else {
            Err(no_webhook(id))
        }
    }

    /// Deliveries, newest first (only failing and dead ones: `failed`).
    pub async fn webhook_deliveries(
        &self,
        failed: bool,
        limit: i64,
    ) -> Result<Vec<Delivery>, ServiceError> {
        Ok(self.meta.list_deliveries(failed, limit).await?)
    }

    /// Sends a delivery again, now.
    pub async fn redeliver(&self, id: i64) -> Result<(), ServiceError> {
        if self.meta.redeliver(id, self.clock.now_unix()).await? {
            Ok(())
        } else {
            Err(ServiceError::NotFound(format!(
                "no delivery {id}; see `berth webhook deliveries`"
            )))
        }
    }

    /// Claims the deliveries due now (at most as many as this node has
    /// free sending slots, [`BATCH`], waiting for one when all are busy)
    /// under a lease and sends each in a task of its own, so that a slow
    /// receiver holds one slot, not the others' deliveries; returns how
    /// many were claimed.
    pub async fn deliver_due(self: &std::sync::Arc<Self>) -> Result<DeliveryRound, ServiceError> {
        // Wait for a free slot (all busy: the next frees one), then take
        // every other free one.
        let closed = |e| ServiceError::Internal(format!("webhook slots: {e}"));
        let mut slots = vec![self
            .webhook_slots
            .clone()
            .acquire_owned()
            .await
            .map_err(closed)?];
        // With sends in flight, a moment for more of them to finish, so
        // that their outcomes and the next claims share one commit.
        if self.webhook_slots.available_permits() + 1 < BATCH {
            let _ = tokio::time::timeout(
                std::time::Duration::from_millis(20),
                self.webhook_wake.notified(),
            )
            .await;
        }
        while let Ok(slot) = self.webhook_slots.clone().try_acquire_owned() {
            slots.push(slot);
        }
        let now = self.clock.now_unix();
        // The outcomes of finished sends are written with the next claim,
        // in one commit.
        let settled = std::mem::take(
            &mut *self
                .webhook_outcomes
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        let claimed = match self
            .meta
            .settle_and_claim(&settled, now, now + LEASE_SECS, slots.len() as i64)
            .await
        {
            Ok(claimed) => claimed,
            Err(e) => {
                // Not written: kept for the next round (their leases hold
                // the deliveries meanwhile).
                self.webhook_outcomes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(settled);
                return Err(e.into());
            }
        };
        if claimed.is_empty() {
            return Ok(DeliveryRound {
                claimed: 0,
                backlog: false,
            });
        }
        let backlog = claimed.len() >= slots.len() || self.meta.webhook_deliveries_due(now).await?;
        let hooks = self.meta.list_webhooks().await?;
        let tried = claimed.len();
        for (d, slot) in claimed.into_iter().zip(slots) {
            let hook = hooks.iter().find(|h| h.id == d.webhook_id).cloned();
            let berth = self.clone();
            tokio::spawn(async move {
                let outcome = match hook {
                    Some(hook) => berth.send(&hook, &d).await,
                    None => Err((None, "the webhook was removed".to_string())),
                };
                berth.record(&d, outcome);
                drop(slot);
                berth.webhook_wake.notify_one();
            });
        }
        Ok(DeliveryRound {
            claimed: tried,
            backlog,
        })
    }

    /// One attempt: the receiver's status, or why it failed.
    async fn send(&self, hook: &Webhook, d: &Delivery) -> Result<u16, (Option<u16>, String)> {
        let url = reqwest::Url::parse(&hook.url).map_err(|e| (None, e.to_string()))?;
        if !self.config.webhooks.allows(&url) {
            return Err((
                None,
                "the URL is no longer an allowed target (`[webhooks] allowed_targets`)".into(),
            ));
        }
        let timestamp = self.clock.now_unix();
        let mut request = self
            .webhook_http
            .post(url)
            .header("Content-Type", "application/json")
            .header("User-Agent", concat!("berth/", env!("CARGO_PKG_VERSION")))
            .header("X-Berth-Event", &d.event)
            .header("X-Berth-Delivery", d.id.to_string())
            .header("X-Berth-Timestamp", timestamp.to_string());
        if let Some(var) = &hook.secret_env {
            let secret = std::env::var(var).unwrap_or_default();
            if secret.is_empty() {
                return Err((
                    None,
                    format!("the secret's environment variable `{var}` is not set on this node"),
                ));
            }
            request = request.header(
                "X-Berth-Signature",
                signature(secret.as_bytes(), timestamp, d.payload.as_bytes()),
            );
        }
        match request.body(d.payload.clone()).send().await {
            Ok(r) if r.status().is_success() => Ok(r.status().as_u16()),
            Ok(r) => Err((
                Some(r.status().as_u16()),
                format!("answered {}", r.status()),
            )),
            Err(e) => Err((None, e.to_string())),
        }
    }

    /// Keeps an attempt's outcome until the next claim writes it.
    fn record(&self, d: &Delivery, outcome: Result<u16, (Option<u16>, String)>) {
        let now = self.clock.now_unix();
        let attempt = match outcome {
            Ok(status) => WebhookAttempt {
                id: d.id,
                state: "done",
                next_at: now,
                status: Some(status),
                error: None,
                at: now,
            },
            Err((status, error)) => {
                let next = now + backoff_secs(d.attempts, rand::random::<f64>());
                let give_up = next - d.created_at > self.config.webhooks.retry_for_secs as i64;
                let state = if give_up { "dead" } else { "pending" };
                tracing::warn!(
                    delivery = d.id,
                    webhook = d.webhook_id,
                    attempts = d.attempts + 1,
                    error = %error,
                    state,
                    "a webhook delivery failed"
                );
                WebhookAttempt {
                    id: d.id,
                    state,
                    next_at: next,
                    status,
                    error: Some(error),
                    at: now,
                }
            }
        };
        self.webhook_outcomes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(attempt);
    }

    /// Waits until a send finishes or a quarter second passes: when the
    /// sending loop found nothing to claim.
    pub async fn webhook_pause(&self) {
        let _ = tokio::time::timeout(
            std::time::Duration::from_millis(250),
            self.webhook_wake.notified(),
        )
        .await;
    }
}

fn no_webhook(id: i64) -> ServiceError {
    ServiceError::NotFound(format!("no webhook {id}; see `berth webhook list`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_an_hour() {
        assert_eq!(backoff_secs(0, 0.0), 1);
        assert_eq!(backoff_secs(3, 0.0), 8);
        assert_eq!(backoff_secs(3, 1.0), 10);
        assert_eq!(backoff_secs(40, 0.0), MAX_BACKOFF_SECS);
        assert_eq!(
            backoff_secs(40, 1.0),
            MAX_BACKOFF_SECS + MAX_BACKOFF_SECS / 4
        );
    }

    #[test]
    fn signatures_cover_the_timestamp_and_the_body() {
        let a = signature(b"secret", 1_700_000_000, b"{}");
        assert!(a.starts_with("sha256=") && a.len() == 7 + 64);
        assert_ne!(a, signature(b"secret", 1_700_000_001, b"{}"));
        assert_ne!(a, signature(b"secret", 1_700_000_000, b"{ }"));
        assert_ne!(a, signature(b"other", 1_700_000_000, b"{}"));
    }
}
