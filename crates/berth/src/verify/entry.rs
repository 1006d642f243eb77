//! One package checked against a lookup answer: the record is the version
//! wanted with the checksum wanted, its leaf is in the tree the checkpoint
//! commits to, and the checkpoint is signed by a trusted key as the log
//! this index's server keeps for the registry the answer names. Pure: the
//! answer in, the verified checkpoint (for the consistency checks) or why
//! not out.

use berth_log::merkle::verify_inclusion;
use berth_log::{leaf_hash, Checkpoint, Record, VerifierKey};

use super::http::{hashes, Lookup};
use super::index::{is_registry_name, IndexUrl};
use super::lockfile::Wanted;

/// A package found in a log, the checkpoint that proves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    /// The registry whose log holds it.
    pub registry: String,
    /// Its leaf index.
    pub index: u64,
    pub checkpoint: Checkpoint,
    /// The signed note, as served.
    pub note: String,
}

/// A crate name compared as registries compare them: case and `-`/`_`
/// folded.
pub fn fold(name: &str) -> String {
    name.to_ascii_lowercase().replace('-', "_")
}

/// Whether `wanted` may be asked for at all (its name and version go into
/// a URL path): the characters a log record allows.
pub fn askable(wanted: &Wanted) -> Result<(), String> {
    let name_ok = (1..=64).contains(&wanted.name.len())
        && wanted
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !name_ok {
        return Err(format!("`{}` is not a crate name a log holds", wanted.name));
    }
    let version_ok = (1..=256).contains(&wanted.version.len())
        && wanted
            .version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'));
    if !version_ok {
        return Err(format!("`{}` is not a version a log holds", wanted.version));
    }
    Ok(())
}

/// Checks `answer` for `wanted` (see the module's header).
pub fn check(
    wanted: &Wanted,
    answer: &Lookup,
    keys: &[VerifierKey],
    index: &IndexUrl,
) -> Result<Logged, String> {
    if !is_registry_name(&answer.registry) {
        return Err(format!(
            "the lookup names the log of `{}`, which is not a registry name",
            answer.registry
        ));
    }
    let record = Record::parse(answer.record.as_bytes())
        .map_err(|e| format!("the log's record does not parse: {e}"))?;
    if record.registry != answer.registry {
        return Err(format!(
            "the record is of registry `{}`, the answer says it is in the log of `{}`",
            record.registry, answer.registry
        ));
    }
    if fold(&record.name) != fold(&wanted.name) || record.version != wanted.version {
        return Err(format!(
            "the log answered with the record of {} {}",
            record.name, record.version
        ));
    }
    let logged_sum = record.sha256.to_hex();
    if logged_sum != wanted.sha256 {
        return Err(format!(
            "CHECKSUM MISMATCH for {} {}: the log holds sha256 {logged_sum}, this has {}",
            wanted.name, wanted.version, wanted.sha256
        ));
    }
    let opened = Checkpoint::open(answer.checkpoint.as_bytes(), keys).map_err(|e| e.to_string())?;
    let checkpoint = opened.checkpoint;
    let origin = index.origin_of(&answer.registry);
    if checkpoint.origin != origin {
        return Err(format!(
            "the checkpoint is of the log `{}`, not of `{origin}`: another log's",
            checkpoint.origin
        ));
    }
    if checkpoint.size != answer.tree_size {
        return Err(format!(
            "the answer's tree size {} is not its checkpoint's, {}",
            answer.tree_size, checkpoint.size
        ));
    }
    let proof = hashes(&answer.inclusion).map_err(|e| format!("the inclusion proof: {e}"))?;
    verify_inclusion(
        answer.index,
        checkpoint.size,
        &leaf_hash(answer.record.as_bytes()),
        &proof,
        &checkpoint.root,
    )
    .map_err(|e| {
        format!(
            "the inclusion proof of log #{} in the tree of {} does not hold: {e}",
            answer.index, checkpoint.size
        )
    })?;
    Ok(Logged {
        registry: answer.registry.clone(),
        index: answer.index,
        checkpoint,
        note: answer.checkpoint.clone(),
    })
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use berth_log::merkle::{inclusion_proof, MemoryTree};
    use berth_log::{Hash, SignerKey};

    pub const ORIGIN: &str = "127.0.0.1:7878/r/main";

    pub fn index() -> IndexUrl {
        IndexUrl::parse("sparse+http://127.0.0.1:7878/r/main/index/").unwrap()
    }

    pub fn signer() -> SignerKey {
        SignerKey::generate(ORIGIN, [7; 32]).unwrap()
    }

    pub fn record(i: u64) -> Record {
        Record {
            registry: "main".into(),
            name: format!("crate-{i}"),
            version: format!("1.{i}.0"),
            sha256: leaf_hash(&i.to_be_bytes()),
            pubtime: "2026-01-01T00:00:00Z".into(),
        }
    }

    /// A log of `n` records: the tree and its signed checkpoint.
    pub fn log(n: u64) -> (MemoryTree, Checkpoint, String) {
        let mut tree = MemoryTree::new();
        for i in 0..n {
            tree.append(&record(i).encode().unwrap());
        }
        let c = Checkpoint {
            origin: ORIGIN.into(),
            size: n,
            root: tree.root(),
        };
        let note = c.sign(&signer()).unwrap();
        (tree, c, note)
    }

    fn answer(i: u64, n: u64) -> Lookup {
        let (tree, _, note) = log(n);
        Lookup {
            registry: "main".into(),
            record: String::from_utf8(record(i).encode().unwrap()).unwrap(),
            index: i,
            tree_size: n,
            inclusion: inclusion_proof(&tree, i, n)
                .unwrap()
                .iter()
                .map(Hash::to_base64)
                .collect(),
            checkpoint: note,
        }
    }

    fn wanted(i: u64) -> Wanted {
        let r = record(i);
        Wanted {
            name: r.name.replace('-', "_").to_uppercase(),
            version: r.version,
            sha256: r.sha256.to_hex(),
        }
    }

    #[test]
    fn a_logged_version_checks_out() {
        let keys = [signer().verifier()];
        let logged = check(&wanted(3), &answer(3, 7), &keys, &index()).unwrap();
        assert_eq!(logged.index, 3);
        assert_eq!(logged.checkpoint.size, 7);
        assert_eq!(logged.registry, "main");
    }

    #[test]
    fn each_lie_is_caught_and_named() {
        let keys = [signer().verifier()];
        let check = |w: &Wanted, a: &Lookup| check(w, a, &keys, &index()).unwrap_err();

        let mut w = wanted(3);
        w.sha256 = "00".repeat(32);
        let e = check(&w, &answer(3, 7));
        assert!(e.starts_with("CHECKSUM MISMATCH for CRATE_3 1.3.0"), "{e}");

        let e = check(&wanted(3), &answer(4, 7));
        assert_eq!(e, "the log answered with the record of crate-4 1.4.0");

        // Another index than the proof's.
        let mut a = answer(3, 7);
        a.index = 2;
        let e = check(&wanted(3), &a);
        assert!(
            e.contains("the inclusion proof of log #2 in the tree of 7"),
            "{e}"
        );

        // A checkpoint by another key.
        let other = SignerKey::generate(ORIGIN, [8; 32]).unwrap();
        let mut a = answer(3, 7);
        let c = Checkpoint::open(a.checkpoint.as_bytes(), &keys).unwrap();
        a.checkpoint = c.checkpoint.sign(&other).unwrap();
        let e = check(&wanted(3), &a);
        assert!(e.contains("no signature by a known key"), "{e}");

        // Another log's checkpoint, signed by the trusted key.
        let mut a = answer(3, 7);
        let mut c = c.checkpoint;
        c.origin = "127.0.0.1:7878/r/other".into();
        a.checkpoint = c.sign(&signer()).unwrap();
        let e = check(&wanted(3), &a);
        assert!(
            e.contains("not of `127.0.0.1:7878/r/main`: another log's"),
            "{e}"
        );

        // The tree size said is not the checkpoint's.
        let mut a = answer(3, 7);
        a.tree_size = 8;
        assert!(check(&wanted(3), &a).contains("tree size 8"));

        let mut a = answer(3, 7);
        a.registry = "../x".into();
        assert!(check(&wanted(3), &a).contains("not a registry name"));
        let mut a = answer(3, 7);
        a.registry = "other".into();
        assert!(check(&wanted(3), &a).contains("the record is of registry `main`"));
    }

    #[test]
    fn only_names_and_versions_a_log_holds_are_asked_for() {
        let mut w = wanted(1);
        assert!(askable(&w).is_ok());
        w.version = "1.0.0/../x".into();
        assert!(askable(&w).is_err());
        w.version = "1.0.0+meta".into();
        assert!(askable(&w).is_ok());
        w.name = "a?b".into();
        assert!(askable(&w).is_err());
        assert_eq!(fold("Foo-Bar_x"), "foo_bar_x");
    }
}
