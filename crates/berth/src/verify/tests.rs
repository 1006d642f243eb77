//! The whole client in process, against a log served over loopback HTTP by
//! a minimal stand-in speaking the contract (lookup, consistency,
//! checkpoint), whose log a test can grow, rewrite or roll back, which the
//! real server never lets a test do. The real server is driven in
//! `tests/transparency.rs`.

use std::sync::{Arc, Mutex};

use berth_log::merkle::{consistency_proof, inclusion_proof, MemoryTree};
use berth_log::{Checkpoint, Hash, Record, SignerKey};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::report::{LogStatus, Status};
use super::*;

/// A registry's log, served.
struct Log {
    records: Vec<Record>,
    signer: SignerKey,
    origin: String,
    /// The token every request must carry, if any.
    token: Option<String>,
}

impl Log {
    fn tree(&self) -> MemoryTree {
        let mut tree = MemoryTree::new();
        for r in &self.records {
            tree.append(&r.encode().unwrap());
        }
        tree
    }

    fn note(&self, tree: &MemoryTree) -> String {
        Checkpoint {
            origin: self.origin.clone(),
            size: tree.size(),
            root: tree.root(),
        }
        .sign(&self.signer)
        .unwrap()
    }

    /// The status and body for `path`.
    fn answer(&self, path: &str, auth: Option<&str>) -> (u16, String) {
        let error = |status: u16, detail: &str| {
            (
                status,
                serde_json::json!({"errors": [{"detail": detail}]}).to_string(),
            )
        };
        if self.token.is_some() && auth != self.token.as_deref() {
            return error(403, "a read token is needed");
        }
        let tree = self.tree();
        if let Some(rest) = path.strip_prefix("/r/main/log/lookup/") {
            let (name, version) = rest.split_once('/').unwrap();
            let Some(index) = self
                .records
                .iter()
                .position(|r| r.name == name && r.version == version)
            else {
                return error(404, &format!("{name} {version} is not in the log"));
            };
            let proof = inclusion_proof(&tree, index as u64, tree.size()).unwrap();
            let body = serde_json::json!({
                "registry": "main",
                "record": String::from_utf8(self.records[index].encode().unwrap()).unwrap(),
                "index": index,
                "tree_size": tree.size(),
                "inclusion": proof.iter().map(Hash::to_base64).collect::<Vec<_>>(),
                "checkpoint": self.note(&tree),
            });
            return (200, body.to_string());
        }
        if let Some(query) = path.strip_prefix("/r/main/log/consistency?") {
            let mut from = 0;
            let mut to = 0;
            for pair in query.split('&') {
                match pair.split_once('=') {
                    Some(("from", v)) => from = v.parse().unwrap(),
                    Some(("to", v)) => to = v.parse().unwrap(),
                    _ => {}
                }
            }
            if from == 0 || from > to || to > tree.size() {
                return error(400, &format!("the log's size is {}", tree.size()));
            }
            let proof = consistency_proof(&tree, from, to).unwrap();
            let body = serde_json::json!({
                "from": from, "to": to,
                "proof": proof.iter().map(Hash::to_base64).collect::<Vec<_>>(),
            });
            return (200, body.to_string());
        }
        if path == "/r/main/log/checkpoint" {
            return (200, self.note(&tree));
        }
        error(404, "no such endpoint")
    }
}

/// Serves `log` on loopback; returns the index URL.
async fn serve(log: Arc<Mutex<Option<Log>>>, listener: tokio::net::TcpListener) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            return;
        };
        let log = log.clone();
        tokio::spawn(async move {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let path = head.split(' ').nth(1).unwrap_or("/").to_string();
            let auth = head.lines().find_map(|l| {
                let (name, value) = l.split_once(": ")?;
                name.eq_ignore_ascii_case("authorization")
                    .then(|| value.trim().to_string())
            });
            let (status, body) = log
                .lock()
                .unwrap()
                .as_ref()
                .unwrap()
                .answer(&path, auth.as_deref());
            let reply = format!(
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(reply.as_bytes()).await;
        });
    }
}

fn record(i: usize) -> Record {
    Record {
        registry: "main".into(),
        name: format!("pkg-{i}"),
        version: "1.0.0".into(),
        sha256: berth_log::leaf_hash(&i.to_be_bytes()),
        pubtime: "2026-01-01T00:00:00Z".into(),
    }
}

struct Fixture {
    log: Arc<Mutex<Option<Log>>>,
    index: IndexUrl,
    key: String,
    state: tempfile::TempDir,
}

impl Fixture {
    async fn new(records: usize) -> Fixture {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let origin = format!("{addr}/r/main");
        let signer = SignerKey::generate(&origin, [3; 32]).unwrap();
        let key = signer.verifier().to_string();
        let log = Arc::new(Mutex::new(Some(Log {
            records: (0..records).map(record).collect(),
            signer,
            origin,
            token: None,
        })));
        tokio::spawn(serve(log.clone(), listener));
        Fixture {
            log,
            index: IndexUrl::parse(&format!("sparse+http://{addr}/r/main/index/")).unwrap(),
            key,
            state: tempfile::tempdir().unwrap(),
        }
    }

    fn with_log(&self, f: impl FnOnce(&mut Log)) {
        f(self.log.lock().unwrap().as_mut().unwrap());
    }

    /// A lockfile of records `0..n` as logged.
    fn lockfile(&self, n: usize) -> PathBuf {
        let mut text = String::from("version = 4\n");
        for i in 0..n {
            let r = record(i);
            text.push_str(&format!(
                "\n[[package]]\nname = \"{}\"\nversion = \"1.0.0\"\nsource = \"{}\"\nchecksum = \"{}\"\n",
                r.name,
                self.index.source,
                r.sha256.to_hex()
            ));
        }
        let path = self.state.path().join(format!("lock-{n}"));
        std::fs::write(&path, text).unwrap();
        path
    }

    async fn run(&self, file: PathBuf, token: Option<&str>) -> Report {
        let options = Options {
            index: self.index.clone(),
            keys: vec![self.key.clone()],
            token: token.map(str::to_string),
            sources: Vec::new(),
            state_dir: Some(self.state.path().to_path_buf()),
            file,
        };
        run(options, &|_| {}).await.unwrap()
    }

    fn stored_size(&self) -> u64 {
        let origin = self.index.origin_of("main");
        state::load(self.state.path(), &origin)
            .unwrap()
            .unwrap()
            .checkpoint
            .size
    }
}

#[tokio::test]
async fn a_growing_log_is_followed_and_a_rewritten_one_is_a_fork() {
    let f = Fixture::new(3).await;
    let report = f.run(f.lockfile(3), None).await;
    assert!(report.ok, "{report:#?}");
    assert_eq!(report.summary.ok, 3);
    assert_eq!(report.checkpoints[0].latest.size, 3);
    assert!(report.checkpoints[0].stored);
    assert_eq!(f.stored_size(), 3);

    // Grown by two: proved from the stored 3.
    f.with_log(|l| l.records.extend([record(3), record(4)]));
    let report = f.run(f.lockfile(5), None).await;
    assert!(report.ok, "{report:#?}");
    assert_eq!(report.checkpoints[0].proved, [[3, 5]]);
    assert_eq!(f.stored_size(), 5);

    // Record 1 rewritten and the log re-signed: the tree of 5 the client
    // stored is not a prefix of the new tree of 6.
    f.with_log(|l| {
        l.records[1].sha256.0[0] ^= 1;
        l.records.push(record(5));
    });
    let before = std::fs::read_to_string(
        f.state
            .path()
            .join(state::file_name(&f.index.origin_of("main"))),
    )
    .unwrap();
    let report = f.run(f.lockfile(1), None).await;
    assert!(!report.ok);
    let log = &report.checkpoints[0];
    assert_eq!(log.status, LogStatus::Fork);
    let reason = log.reason.as_deref().unwrap();
    assert!(
        reason.starts_with(&format!(
            "FORK: the log {} was rewritten (or different clients are shown different logs): \
             the checkpoint of size 5 (root ",
            f.index.origin_of("main")
        )) && reason.contains("is not a prefix of the checkpoint of size 6")
            && reason.contains(&format!("is kept in {}", log.state_file)),
        "{reason}"
    );
    let evidence = std::fs::read_to_string(log.evidence.as_deref().unwrap()).unwrap();
    assert!(evidence.contains(&before), "{evidence}");
    // The stored checkpoint is left as it was.
    assert_eq!(std::fs::read_to_string(&log.state_file).unwrap(), before);
    // The rewritten package itself fails on its checksum.
    let report = f.run(f.lockfile(2), None).await;
    let p = &report.packages[1];
    assert_eq!(p.status, Status::Fail);
    assert!(p
        .reason
        .as_deref()
        .unwrap()
        .starts_with("CHECKSUM MISMATCH for pkg-1 1.0.0"));
}

#[tokio::test]
async fn a_log_rolled_back_below_the_stored_checkpoint_shrank() {
    let f = Fixture::new(6).await;
    assert!(f.run(f.lockfile(6), None).await.ok);
    f.with_log(|l| l.records.truncate(4));
    let report = f.run(f.lockfile(2), None).await;
    let log = &report.checkpoints[0];
    assert_eq!(log.status, LogStatus::Shrink, "{log:#?}");
    assert!(
        log.reason
            .as_deref()
            .unwrap()
            .contains("has 4 entries now, fewer than the checkpoint of size 6"),
        "{log:#?}"
    );
    assert!(!report.ok);
    assert_eq!(f.stored_size(), 6);
    // Put back as it was and grown: consistent with the stored one again.
    f.with_log(|l| l.records.extend([record(4), record(5), record(6)]));
    let report = f.run(f.lockfile(1), None).await;
    assert!(report.ok, "{report:#?}");
    assert_eq!(report.checkpoints[0].proved, [[6, 7]]);
}

#[tokio::test]
async fn a_private_log_needs_the_token_and_says_so() {
    let f = Fixture::new(2).await;
    f.with_log(|l| l.token = Some("s3cret".into()));
    let report = f.run(f.lockfile(2), None).await;
    assert_eq!(report.summary.failed, 2);
    let reason = report.packages[0].reason.as_deref().unwrap();
    assert!(
        reason.ends_with("/r/main/log/lookup/pkg-0/1.0.0: HTTP 403: a read token is needed"),
        "{reason}"
    );
    assert!(f.run(f.lockfile(2), Some("s3cret")).await.ok);
}
