//! The docs worker: takes a queued build under a lease
//! ([`Berth::docs_work_once`]), builds it with `berth-docs` (rustdoc in a
//! bubblewrap sandbox, dependencies through this server's own registries)
//! on a blocking thread, stores the output as a new set and records how it
//! ended. A worker that dies leaves its lease to run out; another takes the
//! job again, at most [`MAX_ATTEMPTS`] times in all.

use std::path::Path;
use std::time::Instant;

use berth_store::{DocsJob, NewDocsSet};

use crate::config::MIB;
use crate::error::ServiceError;
use crate::Berth;

/// Workers that may take one build, the last included.
pub const MAX_ATTEMPTS: i64 = 3;
/// How long past the build's own limit a lease lasts.
const LEASE_MARGIN_SECS: i64 = 120;

impl Berth {
    /// A docs worker named `worker`: takes queued builds one at a time
    /// until the task is ended; a second's pause when none is queued, five
    /// after a failure (a server's `[docs] workers`, or `berth docs
    /// worker`).
    pub async fn run_docs_worker(self: std::sync::Arc<Self>, worker: String) {
        loop {
            let pause = match self.docs_work_once(&worker).await {
                Ok(true) => continue,
                Ok(false) => 1,
                Err(e) => {
                    tracing::warn!(worker = %worker, error = %e, "the docs worker failed; will retry");
                    5
                }
            };
            tokio::time::sleep(std::time::Duration::from_secs(pause)).await;
        }
    }

    /// Hands the builds `workers` hold back to the queue (they stop: a
    /// node shutting down), so that another worker takes them now rather
    /// than when their leases run out; the attempt is not counted.
    pub async fn release_docs_builds(&self, workers: &[String]) {
        for worker in workers {
            match self.meta.release_docs_build(worker).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(worker = %worker, builds = n, "handed a docs build back to the queue")
                }
                Err(e) => {
                    tracing::warn!(worker = %worker, error = %e, "could not hand a docs build back; its lease runs out instead")
                }
            }
        }
    }

    /// Takes one queued build for worker `node`, runs it and records it;
    /// false when there was none.
    pub async fn docs_work_once(&self, node: &str) -> Result<bool, ServiceError> {
        if let Ok(queued) = self.meta.docs_queue_length().await {
            metrics::gauge!("berth_docs_queue").set(queued as f64);
        }
        let now = self.clock.now_unix();
        let lease = self.config.docs.build_secs as i64 + LEASE_MARGIN_SECS;
        let Some(job) = self
            .meta
            .claim_docs_build(node, now, now + lease, MAX_ATTEMPTS)
            .await?
        else {
            return Ok(false);
        };
        tracing::info!(registry = %job.registry, krate = %job.name, version = %job.vers, attempt = job.attempts, "docs build started");
        let started = Instant::now();
        let (set, log) = match self.build_job(&job).await {
            Ok((set, log)) => (Some(set), log),
            Err(log) => (None, log),
        };
        let secs = started.elapsed().as_secs_f64();
        let outcome = if set.is_some() { "ok" } else { "failed" };
        metrics::counter!("berth_docs_builds_total", "outcome" => outcome).increment(1);
        metrics::histogram!("berth_docs_build_seconds").record(secs);
        let finished = self
            .meta
            .finish_docs_build(
                job.version_id,
                node,
                &log,
                set.as_ref(),
                self.clock.now_unix(),
            )
            .await;
        match finished {
            Ok(Ok(unused)) => {
                // Docs uploaded while it built: the build's set is unused.
                if let Some(unused) = unused {
                    self.forget_set(&unused).await;
                } else if set.is_some() {
                    self.docs_changed(&job.registry, &job.name);
                    self.keep_budget_of(&job.registry).await;
                }
                tracing::info!(registry = %job.registry, krate = %job.name, version = %job.vers, outcome, secs, "docs build finished");
            }
            Ok(Err(())) => {
                tracing::warn!(registry = %job.registry, krate = %job.name, version = %job.vers, "a docs build outlived its lease and another worker took it; its result is dropped");
                if let Some(set) = &set {
                    self.forget_set(&set.set_id).await;
                }
            }
            Err(e) => {
                if let Some(set) = &set {
                    self.forget_set(&set.set_id).await;
                }
                return Err(e.into());
            }
        }
        Ok(true)
    }

    /// Builds a job's docs into a new set: the set, or the log of why not.
    async fn build_job(&self, job: &DocsJob) -> Result<(NewDocsSet, String), String> {
        let crate_bytes = match self.blobs.get(&job.cksum).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Err(format!("berth: the .crate blob {} is missing", job.cksum)),
            Err(e) => return Err(format!("berth: reading the .crate: {e}")),
        };
        let work = tempfile::Builder::new()
            .prefix("berth-docs-")
            .tempdir()
            .map_err(|e| format!("berth: cannot make a work directory: {e}"))?;
        let crate_file = work.path().join(format!("{}-{}.crate", job.name, job.vers));
        std::fs::write(&crate_file, &crate_bytes)
            .map_err(|e| format!("berth: writing the .crate: {e}"))?;
        let build_dir = work.path().join("build");
        std::fs::create_dir(&build_dir).map_err(|e| format!("berth: {e}"))?;
        let config = &self.config.docs;
        let toolchain = config.toolchain.clone();
        let spec_source = self.dependency_source(&job.registry, &build_dir)?;
        let limits = berth_docs::Limits {
            wall_secs: config.build_secs,
            memory_bytes: config.build_memory_mib * MIB,
            ..berth_docs::Limits::default()
        };
        let (name, vers) = (job.name.clone(), job.vers.clone());
        let built = tokio::task::spawn_blocking(move || {
            let toolchain = if toolchain.contains('/') {
                berth_docs::Toolchain::from_dir(&toolchain)
            } else {
                berth_docs::Toolchain::from_rustup(&toolchain)
            }
            .map_err(|e| format!("berth: the toolchain `{toolchain}` (`[docs] toolchain`): {e}"))?;
            let spec = berth_docs::BuildSpec {
                crate_file,
                name,
                version: vers,
                toolchain,
                limits,
                work_dir: build_dir,
                source: spec_source,
                bwrap: berth_docs::BWRAP.into(),
            };
            berth_docs::build(&spec).map_err(|f| format!("{}\nberth: {}", f.log, f.kind))
        })
        .await
        .map_err(|e| format!("berth: the build's thread: {e}"))??;
        let set_id = hex::encode(rand::random::<[u8; 16]>());
        // The crate's own pages: its name with `_`, else the only top
        // directory with an `index.html` (a library named otherwise).
        let mut root = super::docs_root(&job.name);
        if !built.doc_dir.join(&root).join("index.html").is_file() {
            let tops: Vec<String> = std::fs::read_dir(&built.doc_dir)
                .map(|dir| {
                    dir.filter_map(Result::ok)
                        .filter(|e| e.path().join("index.html").is_file())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            match tops.as_slice() {
                [only] => root = only.clone(),
                _ => {
                    return Err(format!(
                        "{}\nberth: the build wrote no `{root}/index.html`",
                        built.log
                    ))
                }
            }
        }
        match self.write_dir_set(&set_id, &built.doc_dir).await {
            Ok((files, bytes)) if files > 0 => Ok((
                NewDocsSet {
                    set_id,
                    root,
                    source: "build",
                    files: files as i64,
                    bytes: bytes as i64,
                },
                built.log,
            )),
            Ok(_) => Err(format!(
                "{}\nberth: the build wrote no documentation",
                built.log
            )),
            Err(e) => {
                self.forget_set(&set_id).await;
                Err(format!("{}\nberth: storing the docs: {e}", built.log))
            }
        }
    }

    /// The cargo configuration a build's dependencies come through:
    /// registry `own` (the crate's; restricted, with the token `[docs]
    /// token_env` names) and every registry anyone may read, by their own
    /// URLs, and public crates from `[docs] public_registry` (none: an
    /// empty directory, so that nothing reaches the network). Another
    /// restricted registry is left out: its crates' sources would reach
    /// docs whose readers may not read them.
    fn dependency_source(
        &self,
        own: &str,
        work: &Path,
    ) -> Result<berth_docs::DependencySource, String> {
        let config = &self.config.docs;
        let token = match &config.token_env {
            Some(var) => Some(std::env::var(var).map_err(|_| {
                format!("berth: `[docs] token_env` names `{var}`, which is not set on this node")
            })?),
            None => None,
        };
        let base = self.config.public_url.trim_end_matches('/');
        let mut text = String::new();
        for reg in self.registries.values() {
            if reg.restricted && reg.name != own {
                continue;
            }
            text.push_str(&format!(
                "[registries.{}]\nindex = \"sparse+{base}/r/{}/index/\"\n",
                reg.name, reg.name
            ));
            if let (true, Some(token)) = (reg.restricted, &token) {
                text.push_str(&format!("token = {:?}\n", token));
            }
            text.push('\n');
        }
        match &config.public_registry {
            Some(public) => text.push_str(&format!(
                "[source.crates-io]\nreplace-with = \"berth-public\"\n\n\
                 [source.berth-public]\nregistry = \"sparse+{base}/r/{public}/index/\"\n"
            )),
            None => {
                let none = work.join("no-public-crates");
                std::fs::create_dir_all(&none).map_err(|e| format!("berth: {e}"))?;
                text.push_str(&format!(
                    "[source.crates-io]\nreplace-with = \"berth-none\"\n\n\
                     [source.berth-none]\ndirectory = {:?}\n",
                    none.display().to_string()
                ));
            }
        }
        Ok(berth_docs::DependencySource { cargo_config: text })
    }

    /// Stores every file under `dir` as set `set_id`; files and bytes.
    async fn write_dir_set(&self, set_id: &str, dir: &Path) -> Result<(u64, u64), ServiceError> {
        let root = dir.to_path_buf();
        let files = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let mut stack = vec![root.clone()];
            while let Some(d) = stack.pop() {
                for entry in std::fs::read_dir(&d)? {
                    let entry = entry?;
                    let kind = entry.file_type()?;
                    if kind.is_dir() {
                        stack.push(entry.path());
                    } else if kind.is_file() {
                        let path = entry.path();
                        let rel = path
                            .strip_prefix(&root)
                            .map_err(std::io::Error::other)?
                            .to_string_lossy()
                            .into_owned();
                        out.push((rel, path));
                    }
                }
            }
            Ok::<_, std::io::Error>(out)
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("listing the docs: {e}")))?
        .map_err(|e| ServiceError::Internal(format!("listing the docs: {e}")))?;
        let (mut count, mut bytes) = (0u64, 0u64);
        for (rel, path) in files {
            // rustdoc's own names only; anything else is left out.
            if !super::archive::servable(&rel) {
                tracing::warn!(path = %rel, "a docs build wrote a file with a name docs do not serve; left out");
                continue;
            }
            let data = tokio::fs::read(&path)
                .await
                .map_err(|e| ServiceError::Internal(format!("reading {}: {e}", path.display())))?;
            bytes += data.len() as u64;
            count += 1;
            super::put_file(&self.blobs, set_id, &rel, data.into()).await?;
        }
        Ok((count, bytes))
    }
}
