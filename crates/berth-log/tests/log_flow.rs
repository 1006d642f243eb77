//! The log as the server and `berth verify` will use it, through the public
//! API only: records appended, checkpoints signed, a lookup's inclusion
//! proof and a later checkpoint's consistency checked by a client that keeps
//! the last checkpoint it saw; then an attacker with the database and the
//! server key, caught.

use berth_log::merkle::{
    consistency_proof, inclusion_proof, root_hash, verify_consistency, verify_inclusion,
    HashSource, MemoryTree, NodeId, ProofError,
};
use berth_log::{Checkpoint, Hash, Record, SignerKey, VerifierKey};

const ORIGIN: &str = "registry.test/r/main";

fn record(i: u64) -> Record {
    Record {
        registry: "main".into(),
        name: format!("crate-{}", i % 7),
        version: format!("1.{i}.0"),
        sha256: berth_log::leaf_hash(&i.to_be_bytes()),
        pubtime: format!("2025-01-01T00:{:02}:{:02}Z", (i / 60) % 60, i % 60),
    }
}

/// What the server would do: append each record's encoding, sign the
/// checkpoint of the whole tree.
fn log_of(records: &[Record], key: &SignerKey) -> (MemoryTree, String) {
    let mut tree = MemoryTree::new();
    for r in records {
        tree.append(&r.encode().unwrap());
    }
    let checkpoint = Checkpoint {
        origin: ORIGIN.into(),
        size: tree.size(),
        root: tree.root(),
    };
    (tree, checkpoint.sign(key).unwrap())
}

/// What the client would do for one record: open the checkpoint with the
/// keys it trusts, check the record's inclusion at its index, and the
/// checkpoint's consistency with the last one it saw.
fn client_check(
    keys: &[VerifierKey],
    signed: &str,
    last_seen: Option<&Checkpoint>,
    record: &Record,
    index: u64,
    inclusion: &[Hash],
    consistency: &[Hash],
) -> Result<Checkpoint, String> {
    let opened = Checkpoint::open(signed.as_bytes(), keys).map_err(|e| e.to_string())?;
    let c = opened.checkpoint;
    if c.origin != ORIGIN {
        return Err("another log".into());
    }
    let leaf = record.leaf_hash().map_err(|e| e.to_string())?;
    verify_inclusion(index, c.size, &leaf, inclusion, &c.root).map_err(|e| e.to_string())?;
    if let Some(old) = last_seen {
        verify_consistency(old.size, c.size, &old.root, &c.root, consistency)
            .map_err(|e| e.to_string())?;
    }
    Ok(c)
}

#[test]
fn a_client_follows_a_growing_log_and_catches_a_rewrite() {
    let key = SignerKey::generate("registry.test/r/main", [42; 32]).unwrap();
    let keys = [key.verifier()];
    let records: Vec<Record> = (0..100).map(record).collect();

    // The client sees the log at 40 records, then at 100.
    let (tree40, signed40) = log_of(&records[..40], &key);
    let first = client_check(
        &keys,
        &signed40,
        None,
        &records[17],
        17,
        &inclusion_proof(&tree40, 17, 40).unwrap(),
        &[],
    )
    .unwrap();
    assert_eq!(first.size, 40);

    let (tree, signed100) = log_of(&records, &key);
    for index in [0u64, 17, 39, 40, 99] {
        let seen = client_check(
            &keys,
            &signed100,
            Some(&first),
            &records[index as usize],
            index,
            &inclusion_proof(&tree, index, 100).unwrap(),
            &consistency_proof(&tree, 40, 100).unwrap(),
        )
        .unwrap();
        assert_eq!(seen.size, 100);
        assert_eq!(seen.root, root_hash(&tree, 100).unwrap());
    }

    // A version whose checksum changed (the index and blob agree on new
    // bytes) is not the logged record: its inclusion fails.
    let mut swapped = records[17].clone();
    swapped.sha256 = berth_log::leaf_hash(b"other bytes");
    let err = client_check(
        &keys,
        &signed100,
        Some(&first),
        &swapped,
        17,
        &inclusion_proof(&tree, 17, 100).unwrap(),
        &consistency_proof(&tree, 40, 100).unwrap(),
    )
    .unwrap_err();
    assert_eq!(err, ProofError::RootMismatch.to_string());

    // The attacker rewrites record 17 in the log too and re-signs with the
    // server key: inclusion now holds, but the log forked from the one the
    // client saw at 40, and no consistency proof reaches the new root.
    let mut rewritten = records.clone();
    rewritten[17] = swapped.clone();
    let (forged, forged_signed) = log_of(&rewritten, &key);
    let err = client_check(
        &keys,
        &forged_signed,
        Some(&first),
        &swapped,
        17,
        &inclusion_proof(&forged, 17, 100).unwrap(),
        &consistency_proof(&forged, 40, 100).unwrap(),
    )
    .unwrap_err();
    assert_eq!(err, ProofError::OldRootMismatch.to_string());
    // The honest log's proof does not reach the forged root either.
    assert!(verify_consistency(
        40,
        100,
        &first.root,
        &forged.root(),
        &consistency_proof(&tree, 40, 100).unwrap()
    )
    .is_err());

    // A checkpoint signed by an unknown key is refused outright.
    let stranger = SignerKey::generate("registry.test/r/main", [43; 32]).unwrap();
    let (_, strange) = log_of(&records, &stranger);
    assert!(client_check(&keys, &strange, None, &records[0], 0, &[], &[]).is_err());

    // The stored leaves are the records' encodings.
    let leaf = tree.node(NodeId::leaf(99)).unwrap();
    assert_eq!(leaf, records[99].leaf_hash().unwrap());
}
