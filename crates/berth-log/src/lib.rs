//! A registry's transparency log, as pure functions: what is logged, how it
//! is hashed into a tree, how the tree's growth is proved, and how its state
//! is signed.
//!
//! - [`merkle`]: RFC 9162 Merkle tree hashing over SHA-256; inclusion and
//!   consistency proofs, planned as the stored nodes they need (so a store
//!   fetches them in one query) and verified.
//! - [`Record`]: the entry logged for one version, `(registry, name,
//!   version, sha256, pubtime)`, and its one canonical encoding (one line of
//!   ASCII, documented byte for byte), which is the tree's leaf.
//! - [`note`]: Go's signed notes (`golang.org/x/mod/sumdb/note`) with
//!   Ed25519: verifier and signer keys in Go's text forms, signing, and
//!   verifying against a list of keys (how keys rotate).
//! - [`Checkpoint`]: the log's origin, size and root as a note body (the
//!   transparency-dev checkpoint format), signed and opened.
//!
//! This crate owns those formats and algorithms. It never does I/O, reads a
//! clock, draws randomness (keys come from seeds the caller draws), touches a
//! database or speaks HTTP: a store keeps the nodes, the server signs and
//! serves, and `berth verify` fetches; all of them call down into this.

#![forbid(unsafe_code)]

mod checkpoint;
mod hash;
pub mod merkle;
pub mod note;
mod record;

pub use checkpoint::{Checkpoint, CheckpointError, SignedCheckpoint};
pub use hash::{empty_root, leaf_hash, node_hash, Hash, HashError, HASH_SIZE};
pub use note::{KeyError, Note, NoteError, NoteSignature, SignerKey, VerifierKey};
pub use record::{Record, RecordError, MAX_NAME_LEN, MAX_VERSION_LEN, RECORD_TAG};
