//! Following the primary: one step reads a page of its change feed (a
//! long poll when nothing is new), copies what the changed crates' index
//! files name that the replica lacks (several crates at once; each
//! `.crate` checked against its line's sha256 before it is stored; a
//! mismatch is refused, the other crates are still copied, and the
//! sequence does not move past it; with `primary_log_keys`, also checked
//! against the primary's transparency log, `log.rs`), applies yanks, and
//! records the sequence applied (and the newest checkpoint verified),
//! so a restarted replica goes on from there. One node at a time syncs a
//! replica (a lease in `replica_state`); every step is idempotent, so a
//! node that dies mid-step leaves nothing another cannot finish.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use berth_protocol::{IndexEntry, LineSummary};
use berth_store::{canon_name, canon_vers, Actor, NewVersion, StoreError};
use bytes::Bytes;
use futures::StreamExt;
use serde::Serialize;

use super::log::Trusted;
use super::Replica;
use crate::crates::changes::ChangePage;
use crate::error::ServiceError;
use crate::{Berth, Registry};

/// Seconds a step's long poll waits on the primary for a change.
pub(crate) const FEED_WAIT_SECS: u64 = 8;
/// Changes asked for at once.
const FEED_PAGE: i64 = 500;
/// Crates copied at once.
const CRATES_AT_ONCE: usize = 16;
/// Seconds a node holds the right to sync a replica after each step
/// began: longer than a step's long poll, so that another node takes over
/// within this long of the holder's death.
const LEASE_SECS: i64 = FEED_WAIT_SECS as i64 + 7;
/// Most bytes of a feed page or an index file read from the primary.
const MAX_TEXT_BYTES: u64 = 64 << 20;

/// What one step did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReplicaStep {
    /// False when another node holds the lease: nothing was done.
    pub leased: bool,
    /// Changes of the feed applied.
    pub changes: usize,
    /// Versions copied.
    pub copied: usize,
    /// Yanks and unyanks applied.
    pub yanks: usize,
    /// The primary's feed sequence applied up to, and its newest.
    pub applied_seq: i64,
    pub primary_head: i64,
}

impl Berth {
    /// One step of replica `registry` on node `node`: the feed after what
    /// is applied (waiting for a change on the primary when `wait`), the
    /// changed crates copied, progress recorded.
    pub async fn replicate(
        &self,
        registry: &str,
        node: &str,
        wait: bool,
    ) -> Result<ReplicaStep, ServiceError> {
        let reg = self.registry(registry)?;
        let Some(replica) = reg.source.as_replica() else {
            return Err(ServiceError::BadRequest(format!(
                "registry `{registry}` is a {} registry, not a replica",
                reg.kind()
            )));
        };
        let now = self.clock.now_unix();
        // The only process on its stores (SQLite) takes over whatever lease
        // a killed predecessor left.
        let sole = self.kinds.hosted.sole_writer();
        if !self
            .meta
            .claim_replica(reg.id, node, now, now + LEASE_SECS, sole)
            .await?
        {
            return Ok(ReplicaStep::default());
        }
        let stored = self.meta.replica_state(reg.id).await?;
        let since = stored.applied_seq;
        let step = async {
            let verified = Trusted::from_row(stored.log_size, stored.log_root.as_deref())?;
            replica.load_trusted(&reg.name, verified).await?;
            self.replicate_page(reg, replica, node, since, wait).await
        };
        match step.await {
            Ok(step) => Ok(step),
            Err(e) => {
                replica.healthy.store(false, Ordering::Release);
                let message = e.to_string();
                // The sequence stays where it was: the step is tried again.
                // What was verified stays verified (copies made under it
                // are stored).
                let state = self.meta.replica_state(reg.id).await?;
                let trusted = replica.trusted_log().await;
                let root = trusted.map(|t| t.root.to_hex());
                self.meta
                    .record_replica(
                        reg.id,
                        node,
                        state.applied_seq,
                        state.primary_head,
                        false,
                        Some(&message),
                        trusted
                            .zip(root.as_deref())
                            .map(|(t, r)| (t.size as i64, r)),
                        self.clock.now_unix(),
                    )
                    .await?;
                Err(e)
            }
        }
    }

    /// Makes replica `registry` start over (`berth registry
    /// replica-resync`): its next step reads the primary's feed from the
    /// start (copies already held are kept; a copy is never made twice) and
    /// trusts the primary's transparency log as it is then. For a primary
    /// restored from a backup on purpose, which a replica otherwise refuses
    /// as a rewritten history.
    pub async fn replica_resync(&self, registry: &str) -> Result<(), ServiceError> {
        let reg = self.registry(registry)?;
        if reg.source.as_replica().is_none() {
            return Err(ServiceError::BadRequest(format!(
                "registry `{registry}` is a {} registry, not a replica",
                reg.kind()
            )));
        }
        self.meta.reset_replica(reg.id).await?;
        tracing::warn!(
            registry = %reg.name,
            "replica set to read its primary's feed from the start and to trust the primary's \
             transparency log as it is now"
        );
        Ok(())
    }

    /// How far replica `registry` has come, as stored.
    pub async fn replica_status(
        &self,
        registry: &str,
    ) -> Result<berth_store::ReplicaStateRow, ServiceError> {
        let reg = self.registry(registry)?;
        if reg.source.as_replica().is_none() {
            return Err(ServiceError::BadRequest(format!(
                "registry `{registry}` is a {} registry, not a replica",
                reg.kind()
            )));
        }
        Ok(self.meta.replica_state(reg.id).await?)
    }

    async fn replicate_page(
        &self,
        reg: &Registry,
        replica: &Replica,
        node: &str,
        since: i64,
        wait: bool,
    ) -> Result<ReplicaStep, ServiceError> {
        let wait_secs = if wait { FEED_WAIT_SECS } else { 0 };
        let url = replica.url(&format!(
            "api/v1/changes?since={since}&limit={FEED_PAGE}&wait={wait_secs}"
        ))?;
        let body = replica.get_text(url, "its change feed").await?;
        let page: ChangePage = serde_json::from_str(&body).map_err(|e| {
            ServiceError::BadGateway(format!(
                "the primary's change feed is not one Berth serves: {e}"
            ))
        })?;
        // The primary's newest checkpoint must extend what was verified,
        // whether or not the page copies anything (a primary restored from
        // an older backup may list nothing new at all).
        replica.check_newest(&reg.name).await?;
        let mut step = ReplicaStep {
            leased: true,
            changes: page.changes.len(),
            applied_seq: since,
            primary_head: page.head,
            ..ReplicaStep::default()
        };
        if let Some(first) = page.changes.first() {
            // The oldest change not applied yet, for the lag.
            let _ = replica.pending_since.compare_exchange(
                0,
                first.at.max(1),
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
        // Each changed crate once: its index file on the primary says all
        // that the changes did. Crates are independent, so several are
        // copied at once; one crate's versions in its file's order.
        let mut seen = std::collections::HashSet::new();
        let names: Vec<&str> = page
            .changes
            .iter()
            .filter(|c| seen.insert(canon_name(&c.crate_name)))
            .map(|c| c.crate_name.as_str())
            .collect();
        // The copies' author, looked up once a step.
        let user = self.meta.replica_user(&reg.name).await?;
        let actor = Actor {
            user_id: user.id,
            login: user.login,
            is_admin: true,
            origin: Default::default(),
        };
        let mut waiting = names.into_iter();
        let mut failed = None;
        let mut copies = futures::stream::FuturesUnordered::new();
        loop {
            while copies.len() < CRATES_AT_ONCE {
                let Some(name) = waiting.next() else { break };
                copies.push(Box::pin(self.replicate_crate(reg, replica, &actor, name)));
            }
            let Some(done) = copies.next().await else {
                break;
            };
            match done {
                Ok((copied, yanks)) => {
                    step.copied += copied;
                    step.yanks += yanks;
                }
                // The other crates are still copied (none waits on a bad
                // one); the page is applied only when all are.
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
        if let Some(last) = page.changes.last() {
            step.applied_seq = last.seq;
        }
        let caught_up = step.applied_seq >= page.head;
        let now = self.clock.now_unix();
        replica.healthy.store(true, Ordering::Release);
        if caught_up {
            replica.pending_since.store(0, Ordering::Release);
            replica.caught_up_at.store(now, Ordering::Release);
        } else if let Some(last) = page.changes.last() {
            // Changes after the last applied are newer than it.
            replica
                .pending_since
                .store(last.at.max(1), Ordering::Release);
        }
        let trusted = replica.trusted_log().await;
        let root = trusted.map(|t| t.root.to_hex());
        self.meta
            .record_replica(
                reg.id,
                node,
                step.applied_seq,
                page.head,
                caught_up,
                None,
                trusted
                    .zip(root.as_deref())
                    .map(|(t, r)| (t.size as i64, r)),
                now,
            )
            .await?;
        Ok(step)
    }

    /// Copies crate `name` from the primary: versions the replica lacks,
    /// and yank states that differ. Returns (versions copied, yank
    /// changes).
    async fn replicate_crate(
        &self,
        reg: &Registry,
        replica: &Replica,
        actor: &Actor,
        name: &str,
    ) -> Result<(usize, usize), ServiceError> {
        let lname = name.to_ascii_lowercase();
        let canon = canon_name(&lname);
        let url = replica.url(&format!("index/{}", berth_protocol::index_path(&lname)))?;
        let body = replica
            .get_text(url, &format!("the index file of `{name}`"))
            .await?;
        let mut local: HashMap<String, LineSummary> = HashMap::new();
        if let Some((_, lines)) = self.meta.index_file(reg.id, &canon).await? {
            for line in lines {
                if let Ok(s) = serde_json::from_str::<LineSummary>(&line) {
                    local.insert(canon_vers(&s.vers).to_string(), s);
                }
            }
        }
        let (mut copied, mut yanks) = (0, 0);
        for (i, line) in body.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let bad = |why: String| {
                ServiceError::BadGateway(format!(
                    "the primary's index file of `{name}`, line {}: {why}",
                    i + 1
                ))
            };
            let entry = IndexEntry::from_line(line).map_err(|e| bad(e.to_string()))?;
            if canon_name(&entry.name) != canon {
                return Err(bad(format!("it names crate `{}`", entry.name)));
            }
            let vers_key = canon_vers(&entry.vers).to_string();
            match local.get(&vers_key) {
                Some(have) if have.cksum != entry.cksum => {
                    metrics::counter!("berth_replica_refused_total", "registry" => reg.name.clone())
                        .increment(1);
                    return Err(ServiceError::Conflict(format!(
                        "the primary lists `{}@{}` with checksum {}, but this replica holds it \
                         with {}: a version's bytes never change, so the replica refuses it",
                        entry.name, entry.vers, entry.cksum, have.cksum
                    )));
                }
                Some(have) => {
                    if have.yanked != entry.yanked {
                        self.replica_yank(reg, actor, &entry).await?;
                        yanks += 1;
                    }
                }
                None => {
                    self.replica_copy(reg, replica, actor, line, entry).await?;
                    copied += 1;
                }
            }
        }
        Ok((copied, yanks))
    }

    /// Stores one version the primary has: its `.crate` (checked against
    /// the line's sha256) and its line, as published; then its yank.
    async fn replica_copy(
        &self,
        reg: &Registry,
        replica: &Replica,
        actor: &Actor,
        line: &str,
        mut entry: IndexEntry,
    ) -> Result<(), ServiceError> {
        let url = replica.url(&format!(
            "api/v1/crates/{}/{}/download",
            entry.name, entry.vers
        ))?;
        let max = self.config.limits.max_crate_size;
        let bytes = replica
            .get_bytes(
                url,
                max,
                &format!("the .crate of `{}@{}`", entry.name, entry.vers),
            )
            .await?;
        let check = bytes.clone();
        let actual = tokio::task::spawn_blocking(move || {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(&check))
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("hashing task: {e}")))?;
        if actual != entry.cksum {
            metrics::counter!("berth_replica_refused_total", "registry" => reg.name.clone())
                .increment(1);
            tracing::warn!(
                registry = %reg.name,
                krate = %entry.name,
                version = %entry.vers,
                expected = %entry.cksum,
                actual = %actual,
                "the primary served a .crate that does not match its index line: refused"
            );
            return Err(ServiceError::BadGateway(format!(
                "the primary's .crate of `{}@{}` has sha256 {actual}, but its index line says \
                 {}: refused; the replica goes no further in the feed until the primary serves \
                 the right bytes",
                entry.name, entry.vers, entry.cksum
            )));
        }
        replica
            .prove_logged(&reg.name, &entry.name, &entry.vers, &entry.cksum)
            .await?;
        let size = bytes.len() as i64;
        self.blobs.put(&entry.cksum, bytes).await?;
        let yanked = entry.yanked;
        // Published unyanked, then yanked: the same rows a primary's
        // publish and yank wrote.
        let stored_line = if yanked {
            entry.yanked = false;
            entry.to_line()
        } else {
            line.to_string()
        };
        let nv = NewVersion {
            registry_id: reg.id,
            name: entry.name.clone(),
            canon_name: canon_name(&entry.name),
            vers: entry.vers.clone(),
            canon_vers: canon_vers(&entry.vers).to_string(),
            index_line: stored_line,
            cksum: entry.cksum.clone(),
            size,
            metadata_json: "{}".into(),
            readme: None,
            description: None,
            new_crate_only: false,
            trust_claims: None,
        };
        match self.meta.publish(&nv, actor, &reg.name).await {
            Ok(outcome) => {
                reg.source
                    .changed(reg, &nv.canon_name, outcome.revision, outcome.new_crate);
            }
            // Copied meanwhile (a node that held the lease before).
            Err(StoreError::VersionExists { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        if yanked {
            entry.yanked = true;
            self.replica_yank(reg, actor, &entry).await?;
        }
        Ok(())
    }

    /// Sets a copied version's yank state to the primary's.
    async fn replica_yank(
        &self,
        reg: &Registry,
        actor: &Actor,
        entry: &IndexEntry,
    ) -> Result<(), ServiceError> {
        let canon = canon_name(&entry.name);
        if let Some(revision) = self
            .meta
            .set_yanked(
                reg.id,
                &reg.name,
                &canon,
                canon_vers(&entry.vers),
                entry.yanked,
                actor,
            )
            .await?
        {
            reg.source.changed(reg, &canon, revision, false);
        }
        Ok(())
    }
}

impl Replica {
    pub(super) fn url(&self, rest: &str) -> Result<reqwest::Url, ServiceError> {
        self.settings
            .primary
            .join(rest)
            .map_err(|e| ServiceError::Internal(format!("the primary's URL and `{rest}`: {e}")))
    }

    /// A GET to the primary, with the token; a status other than 200 is
    /// the primary's failure, named with `what`.
    async fn get(&self, url: reqwest::Url, what: &str) -> Result<reqwest::Response, ServiceError> {
        let resp = self.send(url, what).await?;
        Self::success(resp, what).await
    }

    /// A GET to the primary, with the token, whatever its status.
    async fn send(&self, url: reqwest::Url, what: &str) -> Result<reqwest::Response, ServiceError> {
        let mut req = self.client.get(url);
        if let Some(token) = &self.settings.token {
            req = req.header(reqwest::header::AUTHORIZATION, token);
        }
        req.send().await.map_err(|e| {
            ServiceError::BadGateway(format!(
                "the primary did not answer for {what}: {}",
                berth_store::redact(&e.to_string())
            ))
        })
    }

    /// The answer, if its status is a success; else the primary's failure.
    async fn success(
        resp: reqwest::Response,
        what: &str,
    ) -> Result<reqwest::Response, ServiceError> {
        let status = resp.status();
        if !status.is_success() {
            let detail = resp.text().await.unwrap_or_default();
            let detail: String = detail.chars().take(300).collect();
            return Err(ServiceError::BadGateway(format!(
                "the primary answered {status} for {what}: {detail}"
            )));
        }
        Ok(resp)
    }

    pub(super) async fn get_text(
        &self,
        url: reqwest::Url,
        what: &str,
    ) -> Result<String, ServiceError> {
        let bytes = self.get_bytes(url, MAX_TEXT_BYTES, what).await?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| ServiceError::BadGateway(format!("the primary's {what} is not UTF-8")))
    }

    /// As [`Replica::get_text`], but `None` when the primary answers 404.
    pub(super) async fn get_text_if_any(
        &self,
        url: reqwest::Url,
        what: &str,
    ) -> Result<Option<String>, ServiceError> {
        let resp = self.send(url, what).await?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = Self::success(resp, what).await?;
        let bytes = Self::read_at_most(resp, MAX_TEXT_BYTES, what).await?;
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|_| ServiceError::BadGateway(format!("the primary's {what} is not UTF-8")))
    }

    /// The body, at most `max` bytes.
    async fn get_bytes(
        &self,
        url: reqwest::Url,
        max: u64,
        what: &str,
    ) -> Result<Bytes, ServiceError> {
        let resp = self.get(url, what).await?;
        Self::read_at_most(resp, max, what).await
    }

    /// A body of at most `max` bytes.
    async fn read_at_most(
        mut resp: reqwest::Response,
        max: u64,
        what: &str,
    ) -> Result<Bytes, ServiceError> {
        let too_big =
            || ServiceError::BadGateway(format!("the primary's {what} is larger than {max} bytes"));
        if resp.content_length().is_some_and(|n| n > max) {
            return Err(too_big());
        }
        let mut body = bytes::BytesMut::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| ServiceError::BadGateway(format!("reading the primary's {what}: {e}")))?
        {
            if (body.len() + chunk.len()) as u64 > max {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }
}
