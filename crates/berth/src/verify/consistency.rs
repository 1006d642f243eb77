//! Whether the checkpoints of one log seen in a run, and the one this
//! client stored before, are all states of one append-only log. Every
//! smaller size is proved a prefix of the largest (`/log/consistency`),
//! and the stored checkpoint a prefix of the largest seen, or (a cache may
//! serve an older checkpoint) the largest seen a prefix of the stored.
//!
//! - FORK: a proof fails, or one size has two roots: the log was rewritten
//!   (or different clients are shown different logs).
//! - SHRINK: the stored checkpoint is larger than the log's tree now.
//!
//! The plan ([`plan`]) is pure; [`execute`] fetches the proofs through
//! [`ProofSource`] and judges them.

use berth_log::merkle::verify_consistency;
use berth_log::{Checkpoint, Hash, VerifierKey};

use super::http::{FetchError, LogClient};

/// A checkpoint whose signature verified (or that this client stored
/// after verifying it), with its note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub checkpoint: Checkpoint,
    pub note: String,
}

/// One proof to fetch: `old` must be a prefix of `new`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub old: Seen,
    pub new: Seen,
    /// `new` is the stored checkpoint (larger than any seen in the run).
    pub new_is_stored: bool,
}

/// What is to be proved for one origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The largest checkpoint received in this run.
    pub largest: Seen,
    pub steps: Vec<Step>,
}

/// Two checkpoints one log cannot have signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fork {
    pub old: Seen,
    pub new: Seen,
    pub why: String,
}

/// How one origin's checkpoints came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// All consistent. `newest` is the largest of those received and the
    /// stored one; `store` says whether it is newer than the stored one.
    Consistent {
        newest: Seen,
        proved: Vec<(u64, u64)>,
        store: bool,
    },
    Fork(Fork),
    /// The stored checkpoint is larger than the log's current tree.
    Shrink {
        stored: Seen,
        current: Seen,
    },
    /// A proof could not be had (the log's answer, not its contents).
    Unproved(String),
}

fn short(root: &Hash) -> String {
    root.to_base64()
}

/// The proofs that show `received` and `stored` to be one log, or the
/// fork that shows they are not without any proof; `None` when nothing
/// was received.
pub fn plan(received: &[Seen], stored: Option<&Seen>) -> Result<Option<Plan>, Box<Fork>> {
    let mut by_size: Vec<&Seen> = Vec::new();
    for seen in received {
        match by_size
            .iter()
            .find(|s| s.checkpoint.size == seen.checkpoint.size)
        {
            Some(same) => same_size(same, seen)?,
            None => by_size.push(seen),
        }
    }
    by_size.sort_by_key(|s| s.checkpoint.size);
    let Some(largest) = by_size.last().copied() else {
        return Ok(None);
    };
    let mut steps: Vec<Step> = by_size[..by_size.len() - 1]
        .iter()
        .map(|old| Step {
            old: (*old).clone(),
            new: largest.clone(),
            new_is_stored: false,
        })
        .collect();
    if let Some(stored) = stored {
        let size = stored.checkpoint.size;
        if let Some(same) = by_size.iter().find(|s| s.checkpoint.size == size) {
            same_size(stored, same)?;
        } else if size < largest.checkpoint.size {
            steps.push(Step {
                old: stored.clone(),
                new: largest.clone(),
                new_is_stored: false,
            });
        } else {
            steps.push(Step {
                old: largest.clone(),
                new: stored.clone(),
                new_is_stored: true,
            });
        }
    }
    Ok(Some(Plan {
        largest: largest.clone(),
        steps,
    }))
}

fn same_size(old: &Seen, new: &Seen) -> Result<(), Box<Fork>> {
    if old.checkpoint.root == new.checkpoint.root {
        return Ok(());
    }
    Err(Box::new(Fork {
        old: old.clone(),
        new: new.clone(),
        why: format!(
            "two checkpoints of size {} with different roots, {} and {}",
            old.checkpoint.size,
            short(&old.checkpoint.root),
            short(&new.checkpoint.root)
        ),
    }))
}

/// Where [`execute`] gets proofs and the log's current checkpoint.
pub trait ProofSource {
    async fn consistency(
        &self,
        registry: &str,
        from: u64,
        to: u64,
    ) -> Result<Vec<Hash>, FetchError>;
    async fn checkpoint(&self, registry: &str) -> Result<String, FetchError>;
}

impl ProofSource for LogClient {
    async fn consistency(
        &self,
        registry: &str,
        from: u64,
        to: u64,
    ) -> Result<Vec<Hash>, FetchError> {
        LogClient::consistency(self, registry, from, to).await
    }

    async fn checkpoint(&self, registry: &str) -> Result<String, FetchError> {
        LogClient::checkpoint(self, registry).await
    }
}

/// Fetches and checks the proofs of `plan` from the log of `registry`
/// (whose checkpoints must open with `keys` and name `origin`); `stored`
/// is what the plan was made with.
pub async fn execute(
    plan: Plan,
    stored: Option<&Seen>,
    source: &impl ProofSource,
    registry: &str,
    keys: &[VerifierKey],
    origin: &str,
) -> Outcome {
    let mut proved = Vec::new();
    for step in &plan.steps {
        let (old, new) = (&step.old.checkpoint, &step.new.checkpoint);
        match source.consistency(registry, old.size, new.size).await {
            Ok(proof) => {
                if let Err(e) = verify_consistency(old.size, new.size, &old.root, &new.root, &proof)
                {
                    return Outcome::Fork(Fork {
                        old: step.old.clone(),
                        new: step.new.clone(),
                        why: format!(
                            "the checkpoint of size {} (root {}) is not a prefix of the checkpoint of size {} (root {}): {e}",
                            old.size,
                            short(&old.root),
                            new.size,
                            short(&new.root)
                        ),
                    });
                }
                proved.push((old.size, new.size));
            }
            Err(FetchError::Status { status: 400, .. }) if step.new_is_stored => {
                return match current(source, registry, keys, origin).await {
                    Ok(now) if now.checkpoint.size < new.size => Outcome::Shrink {
                        stored: step.new.clone(),
                        current: now,
                    },
                    Ok(now) => Outcome::Unproved(format!(
                        "the log refused to prove size {} a prefix of the stored size {}, though its tree is of {}",
                        old.size, new.size, now.checkpoint.size
                    )),
                    Err(e) => Outcome::Unproved(e),
                };
            }
            Err(e) => {
                return Outcome::Unproved(format!(
                    "could not prove size {} a prefix of size {}: {e}",
                    old.size, new.size
                ))
            }
        }
    }
    let newest = match stored {
        Some(s) if s.checkpoint.size >= plan.largest.checkpoint.size => s.clone(),
        _ => plan.largest.clone(),
    };
    let store = stored.is_none_or(|s| s.checkpoint.size < newest.checkpoint.size);
    Outcome::Consistent {
        newest,
        proved,
        store,
    }
}

/// The log's current checkpoint, verified.
async fn current(
    source: &impl ProofSource,
    registry: &str,
    keys: &[VerifierKey],
    origin: &str,
) -> Result<Seen, String> {
    let note = source
        .checkpoint(registry)
        .await
        .map_err(|e| format!("the log's current checkpoint: {e}"))?;
    let checkpoint = Checkpoint::open(note.as_bytes(), keys)
        .map_err(|e| format!("the log's current checkpoint: {e}"))?
        .checkpoint;
    if checkpoint.origin != origin {
        return Err(format!(
            "the log's current checkpoint is of `{}`, not `{origin}`",
            checkpoint.origin
        ));
    }
    Ok(Seen { checkpoint, note })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::entry::tests::{log, record, signer, ORIGIN};
    use berth_log::merkle::{consistency_proof, MemoryTree};

    /// A log server in memory: the tree, served to `size` leaves.
    struct Served {
        tree: MemoryTree,
    }

    impl ProofSource for Served {
        async fn consistency(&self, _: &str, from: u64, to: u64) -> Result<Vec<Hash>, FetchError> {
            consistency_proof(&self.tree, from, to).map_err(|e| FetchError::Status {
                url: "consistency".into(),
                status: 400,
                detail: Some(e.to_string()),
            })
        }

        async fn checkpoint(&self, _: &str) -> Result<String, FetchError> {
            let c = Checkpoint {
                origin: ORIGIN.into(),
                size: self.tree.size(),
                root: self.tree.root(),
            };
            Ok(c.sign(&signer()).unwrap())
        }
    }

    fn seen(n: u64) -> Seen {
        let (_, checkpoint, note) = log(n);
        Seen { checkpoint, note }
    }

    /// A log of `n` records whose record `at` was changed, re-signed.
    fn rewritten(n: u64, at: u64) -> (MemoryTree, Seen) {
        let mut tree = MemoryTree::new();
        for i in 0..n {
            let mut r = record(i);
            if i == at {
                r.sha256.0[0] ^= 1;
            }
            tree.append(&r.encode().unwrap());
        }
        let checkpoint = Checkpoint {
            origin: ORIGIN.into(),
            size: n,
            root: tree.root(),
        };
        let note = checkpoint.sign(&signer()).unwrap();
        (tree, Seen { checkpoint, note })
    }

    fn sizes(plan: &Plan) -> Vec<(u64, u64, bool)> {
        plan.steps
            .iter()
            .map(|s| {
                (
                    s.old.checkpoint.size,
                    s.new.checkpoint.size,
                    s.new_is_stored,
                )
            })
            .collect()
    }

    async fn run(received: &[Seen], stored: Option<&Seen>, served: &Served) -> Outcome {
        match plan(received, stored) {
            Ok(Some(p)) => execute(p, stored, served, "main", &[signer().verifier()], ORIGIN).await,
            Ok(None) => panic!("nothing received"),
            Err(fork) => Outcome::Fork(*fork),
        }
    }

    #[test]
    fn every_smaller_size_and_the_stored_one_are_proved_against_the_largest() {
        let p = plan(&[seen(5), seen(7), seen(5), seen(3)], Some(&seen(2)))
            .unwrap()
            .unwrap();
        assert_eq!(p.largest.checkpoint.size, 7);
        assert_eq!(sizes(&p), [(3, 7, false), (5, 7, false), (2, 7, false)]);
        // The stored one the same as one received: nothing more to prove.
        let p = plan(&[seen(5), seen(7)], Some(&seen(5))).unwrap().unwrap();
        assert_eq!(sizes(&p), [(5, 7, false)]);
        let p = plan(&[seen(7)], Some(&seen(7))).unwrap().unwrap();
        assert!(p.steps.is_empty());
        // A stored one larger than all received (a cache served old ones).
        let p = plan(&[seen(4)], Some(&seen(9))).unwrap().unwrap();
        assert_eq!(plan(&[], Some(&seen(9))), Ok(None));
        assert_eq!(sizes(&p), [(4, 9, true)]);
    }

    #[test]
    fn one_size_with_two_roots_is_a_fork_without_a_proof() {
        let (_, other5) = rewritten(5, 1);
        let fork = plan(&[seen(5), seen(7), other5.clone()], None).unwrap_err();
        assert!(
            fork.why
                .starts_with("two checkpoints of size 5 with different roots"),
            "{}",
            fork.why
        );
        let fork = plan(&[seen(7)], Some(&rewritten(7, 6).1)).unwrap_err();
        assert_eq!(fork.old, rewritten(7, 6).1);
        assert_eq!(fork.new, seen(7));
    }

    #[tokio::test]
    async fn a_grown_log_is_consistent_and_its_largest_checkpoint_stored() {
        let served = Served { tree: log(9).0 };
        let out = run(&[seen(6), seen(9)], Some(&seen(4)), &served).await;
        let Outcome::Consistent {
            newest,
            proved,
            store,
        } = out
        else {
            panic!("{out:?}");
        };
        assert_eq!(
            (newest, proved, store),
            (seen(9), vec![(6, 9), (4, 9)], true)
        );
        // An older checkpoint from a cache: proved a prefix of the stored
        // one, which stays.
        let out = run(&[seen(6)], Some(&seen(9)), &served).await;
        assert_eq!(
            out,
            Outcome::Consistent {
                newest: seen(9),
                proved: vec![(6, 9)],
                store: false
            }
        );
        // The first run: nothing stored, nothing to prove but the sizes seen.
        let out = run(&[seen(9)], None, &served).await;
        assert_eq!(
            out,
            Outcome::Consistent {
                newest: seen(9),
                proved: vec![],
                store: true
            }
        );
    }

    #[tokio::test]
    async fn a_rewritten_log_is_a_fork() {
        // The server rewrote record 2 and re-signed: the client stored the
        // old tree of 4, the new tree of 9 does not extend it.
        let (tree, new9) = rewritten(9, 2);
        let served = Served { tree };
        let out = run(std::slice::from_ref(&new9), Some(&seen(4)), &served).await;
        let Outcome::Fork(fork) = out else {
            panic!("{out:?}")
        };
        assert_eq!((fork.old, fork.new), (seen(4), new9));
        assert!(
            fork.why.contains("size 4") && fork.why.contains("not a prefix"),
            "{}",
            fork.why
        );
        // A change after the stored size is not a fork of it (the log grew
        // from it), and the rewritten checkpoints received are one log.
        let (tree, new9) = rewritten(9, 6);
        let out = run(&[new9], Some(&seen(4)), &Served { tree }).await;
        assert!(matches!(out, Outcome::Consistent { .. }), "{out:?}");
    }

    #[tokio::test]
    async fn a_log_smaller_than_the_stored_checkpoint_shrank() {
        let served = Served { tree: log(5).0 };
        let out = run(&[seen(5)], Some(&seen(8)), &served).await;
        let Outcome::Shrink { stored, current } = out else {
            panic!("{out:?}")
        };
        assert_eq!((stored.checkpoint.size, current.checkpoint.size), (8, 5));
    }

    #[tokio::test]
    async fn a_proof_that_cannot_be_had_is_no_verdict() {
        struct Down;
        impl ProofSource for Down {
            async fn consistency(&self, _: &str, _: u64, _: u64) -> Result<Vec<Hash>, FetchError> {
                Err(FetchError::Status {
                    url: "u".into(),
                    status: 503,
                    detail: None,
                })
            }
            async fn checkpoint(&self, _: &str) -> Result<String, FetchError> {
                unreachable!()
            }
        }
        let p = plan(&[seen(5), seen(7)], None).unwrap().unwrap();
        let out = execute(p, None, &Down, "main", &[signer().verifier()], ORIGIN).await;
        assert_eq!(
            out,
            Outcome::Unproved("could not prove size 5 a prefix of size 7: GET u: HTTP 503".into())
        );
    }
}
