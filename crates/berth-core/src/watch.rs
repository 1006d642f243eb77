//! Whether this node may serve cached hosted index files without asking
//! the database, and the task that earns it (PostgreSQL only).
//!
//! Every change to a crate's index notifies all nodes at commit (see
//! berth-store's `watch.rs`). One task per node listens: it forgets the
//! changed crate's cached file (a tombstone refuses older reads) and voids
//! "no such crate" memos. The node trusts its cache only while it can prove
//! the listener hears everything: it sends itself a heartbeat every
//! [`HEARTBEAT`] through the pool, and trusts until [`DEADLINE`] after the
//! *sending* of the newest heartbeat it has received. PostgreSQL delivers
//! notifications in commit order, so a received heartbeat proves every
//! change committed before it was sent has been applied.
//!
//! Staleness bound: a change committed at time T is served by every node
//! by T + [`DEADLINE`] at the latest (a node that has not heard a
//! heartbeat sent after T by then checks the revision on every request);
//! normally within milliseconds, when the notification arrives. When no
//! heartbeat has come back for [`DEADLINE`] the node checks revisions per
//! request. When the listener fails, is cut, or has not heard a heartbeat
//! whose commit was acknowledged [`DEADLINE`] ago (deaf), the node drops
//! that connection, opens a new listener, clears its cache (notifications
//! sent meanwhile are lost; reads begun before are refused) and trusts
//! again only once a heartbeat sent after that has come back. A heartbeat
//! that cannot be sent (a busy pool) only lets trust lapse: the listener
//! missed nothing, so the cache is kept. This module never reads
//! or builds index files; it never runs on SQLite, whose single process
//! makes every change itself.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_store::IndexEvent;

use crate::Berth;

/// How often a node sends itself a heartbeat.
pub const HEARTBEAT: Duration = Duration::from_millis(500);
/// How long after sending a heartbeat a node trusts its cache without
/// hearing a newer one: the staleness bound across nodes.
pub const DEADLINE: Duration = Duration::from_millis(1500);
/// Wait before opening another listener after a failure.
const RETRY: Duration = Duration::from_millis(500);

/// The trust state of one node.
pub(crate) struct IndexWatch {
    /// Origin of the millisecond clock below.
    base: Instant,
    /// Names this node's heartbeats among every node's.
    node: String,
    /// Milliseconds since `base` until which cached files are current (0:
    /// not trusted).
    trusted_until: AtomicU64,
    /// The newest heartbeat committed: when it was sent and when its
    /// commit was acknowledged (milliseconds since `base`).
    committed: Mutex<(u64, u64)>,
}

impl IndexWatch {
    pub(crate) fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Self {
            base: Instant::now(),
            node: format!(
                "{}-{:x}-{nanos:x}",
                std::process::id(),
                rand::random::<u32>()
            ),
            trusted_until: AtomicU64::new(0),
            committed: Mutex::new((0, 0)),
        }
    }

    fn now_ms(&self) -> u64 {
        self.base.elapsed().as_millis() as u64
    }

    /// Whether every change committed more than [`DEADLINE`] ago has been
    /// applied to the cache, so a cached file may be served as is.
    pub(crate) fn trusted(&self) -> bool {
        self.now_ms() < self.trusted_until.load(Ordering::Acquire)
    }

    fn distrust(&self) {
        self.trusted_until.store(0, Ordering::Release);
    }
}

impl Berth {
    /// Keeps this node's index cache in step with every other node's
    /// changes; runs until dropped. Start it once per serving process.
    /// Returns at once on SQLite.
    pub async fn watch_index(self: Arc<Self>) {
        if self.meta.backend() != berth_store::Backend::Postgres {
            return;
        }
        tokio::join!(self.send_heartbeats(), self.listen());
    }

    async fn send_heartbeats(&self) {
        let w = &self.kinds.hosted.watch;
        let mut tick = tokio::time::interval(HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let sent = w.now_ms();
            let payload = format!("{}/{sent}", w.node);
            match tokio::time::timeout(DEADLINE, self.meta.notify_ping(&payload)).await {
                Ok(Ok(())) => {
                    if let Ok(mut c) = w.committed.lock() {
                        *c = (sent, w.now_ms());
                    }
                }
                Ok(Err(e)) => tracing::debug!(error = %e, "index heartbeat not sent"),
                Err(_) => tracing::debug!("index heartbeat timed out"),
            }
        }
    }

    async fn listen(&self) {
        let w = &self.kinds.hosted.watch;
        let name = format!("berth-index-listener-{}", std::process::id());
        let deadline_ms = DEADLINE.as_millis() as u64;
        loop {
            w.distrust();
            let mut listener = match self.meta.index_listener(&name).await {
                Ok(Some(l)) => l,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for index changes; checking the database on every index request");
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            };
            // Listening now: whatever changed before may have gone unheard.
            let since = w.now_ms();
            self.kinds.hosted.forget_all();
            // The reading runs apart, so that giving up on it never
            // cancels a read half-way: the whole listener is dropped.
            let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
            let reader = tokio::spawn(async move {
                loop {
                    let event = listener.recv().await;
                    let end = !matches!(event, Ok(Some(_)));
                    if tx.send(event).await.is_err() || end {
                        return;
                    }
                }
            });
            let mut heard = since;
            let mut check = tokio::time::interval(HEARTBEAT / 5);
            loop {
                tokio::select! {
                    event = rx.recv() => match event {
                        Some(Ok(Some(IndexEvent::Changed { registry_id, revision, canon_name }))) => {
                            self.kinds.hosted.changed(registry_id, &canon_name, revision, true);
                        }
                        Some(Ok(Some(IndexEvent::Ping(payload)))) => {
                            let sent = payload
                                .strip_prefix(w.node.as_str())
                                .and_then(|rest| rest.strip_prefix('/'))
                                .and_then(|ms| ms.parse::<u64>().ok());
                            if let Some(sent) = sent.filter(|&s| s >= since) {
                                let was = w.trusted();
                                w.trusted_until.fetch_max(sent + deadline_ms, Ordering::AcqRel);
                                heard = heard.max(sent);
                                if !was {
                                    tracing::info!("index listener healthy: serving cached index files without database checks");
                                }
                            }
                        }
                        Some(Ok(None)) | None => {
                            tracing::warn!("index listener lost its connection; reconnecting");
                            break;
                        }
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, "index listener failed; reconnecting");
                            break;
                        }
                    },
                    _ = check.tick() => {
                        // A heartbeat committed more than the deadline ago
                        // and still unheard: the listener is deaf. (One
                        // that could not be sent only lets trust lapse.)
                        let (sent, done) = w.committed.lock().map_or((0, 0), |c| *c);
                        if sent >= since && sent > heard && w.now_ms().saturating_sub(done) > deadline_ms {
                            tracing::warn!("index heartbeat not heard; reconnecting the listener");
                            break;
                        }
                    }
                }
            }
            w.distrust();
            reader.abort();
            tokio::time::sleep(RETRY).await;
        }
    }
}
