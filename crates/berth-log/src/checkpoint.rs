//! Checkpoints: a log's size and root hash under its name, signed as a note
//! (the transparency-dev checkpoint format, which Go's checksum database
//! also writes).
//!
//! The body is exactly three lines:
//!
//! ```text
//! ORIGIN\n
//! TREE_SIZE\n
//! BASE64(ROOT_HASH)\n
//! ```
//!
//! `ORIGIN` names the log (non-empty, no control character); `TREE_SIZE` is
//! decimal with no sign or leading zero; the root is standard base64 of its
//! 32 bytes. The format allows further lines of "other data"; this log writes
//! none and refuses any, so a body has one spelling. The signed note is the
//! body, a blank line and the signatures ([`crate::note`]). The key's name
//! need not be the origin: which keys a caller trusts for which log is the
//! caller's to say.

use crate::hash::{Hash, HashError};
use crate::note::{Note, NoteError, NoteSignature, SignerKey, VerifierKey};

/// A log's state: `size` entries whose tree has root `root`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

/// Why a checkpoint cannot be written, or is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("the log's origin {0:?} must be non-empty, with no control character")]
    Origin(String),
    #[error(
        "a checkpoint body is three lines, each ending in a newline: origin, tree size, root hash"
    )]
    Shape,
    #[error(
        "the checkpoint's tree size {0:?} is not a decimal number without sign or leading zero"
    )]
    Size(String),
    #[error("the checkpoint's root hash: {0}")]
    Root(HashError),
    #[error("the checkpoint's signature: {0}")]
    Note(#[from] NoteError),
}

/// A checkpoint whose note verified, and what signed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub checkpoint: Checkpoint,
    /// The note as read, all its signatures included (to store, or co-sign).
    pub note: Note,
    /// The signatures by the keys given, each verified.
    pub verified: Vec<NoteSignature>,
}

fn valid_origin(origin: &str) -> bool {
    !origin.is_empty() && !origin.chars().any(char::is_control)
}

impl Checkpoint {
    /// The body text (see the module's header).
    pub fn body(&self) -> Result<String, CheckpointError> {
        if !valid_origin(&self.origin) {
            return Err(CheckpointError::Origin(self.origin.clone()));
        }
        Ok(format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            self.root.to_base64()
        ))
    }

    /// Reads a body: exactly the three lines.
    pub fn parse_body(text: &str) -> Result<Checkpoint, CheckpointError> {
        let lines = text.strip_suffix('\n').ok_or(CheckpointError::Shape)?;
        let lines: Vec<&str> = lines.split('\n').collect();
        let [origin, size, root] = lines[..] else {
            return Err(CheckpointError::Shape);
        };
        if !valid_origin(origin) {
            return Err(CheckpointError::Origin(origin.to_string()));
        }
        let canonical = size.bytes().all(|b| b.is_ascii_digit())
            && !size.is_empty()
            && (size == "0" || !size.starts_with('0'));
        let size = size
            .parse::<u64>()
            .ok()
            .filter(|_| canonical)
            .ok_or_else(|| CheckpointError::Size(size.to_string()))?;
        let root = Hash::from_base64(root).map_err(CheckpointError::Root)?;
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
        })
    }

    /// The signed note of this checkpoint, signed by `signer`.
    pub fn sign(&self, signer: &SignerKey) -> Result<String, CheckpointError> {
        let mut note = Note::new(self.body()?)?;
        note.sign(signer)?;
        Ok(note.encode())
    }

    /// Reads a signed checkpoint and verifies it against `known` (any one of
    /// them suffices; see [`Note::verify`]).
    pub fn open(
        message: &[u8],
        known: &[VerifierKey],
    ) -> Result<SignedCheckpoint, CheckpointError> {
        let note = Note::parse(message)?;
        let verified = note.verify(known)?.verified;
        let checkpoint = Checkpoint::parse_body(note.text())?;
        Ok(SignedCheckpoint {
            checkpoint,
            note,
            verified,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            origin: "registry.test/r/main".into(),
            size: 4_027_504,
            root: leaf_hash(b"root"),
        }
    }

    #[test]
    fn the_body_is_go_s_tree_note_form() {
        // Go's tlog test: the tree of 123456789012 records with this root.
        let c = Checkpoint {
            origin: "go.sum database tree".into(),
            size: 123_456_789_012,
            root: leaf_hash(b"hello world"),
        };
        let body =
            "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n";
        assert_eq!(c.body().unwrap(), body);
        assert_eq!(Checkpoint::parse_body(body), Ok(c));
    }

    #[test]
    fn signed_checkpoints_open_with_any_listed_key() {
        let old = SignerKey::generate("registry.test/r/main", [1; 32]).unwrap();
        let new = SignerKey::generate("registry.test/r/main", [2; 32]).unwrap();
        let c = checkpoint();
        let signed = c.sign(&old).unwrap();
        assert!(signed.starts_with(&c.body().unwrap()));
        // Old and new keys listed (a rotation): the old checkpoint opens.
        let opened =
            Checkpoint::open(signed.as_bytes(), &[new.verifier(), old.verifier()]).unwrap();
        assert_eq!(opened.checkpoint, c);
        assert_eq!(opened.verified.len(), 1);
        assert_eq!(opened.verified[0].key_hash, old.key_hash());
        assert_eq!(opened.note.encode(), signed);
        // Only the new key: refused, naming the key that signed.
        let err = Checkpoint::open(signed.as_bytes(), &[new.verifier()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "the checkpoint's signature: the note has no signature by a known key (it is signed by registry.test/r/main+{:08x})",
                old.key_hash()
            )
        );
        // Another size or root under the old signature: refused.
        for (from, to) in [("4027504", "4027505"), (&c.root.to_base64()[..4], "AAAA")] {
            let forged = signed.replacen(from, to, 1);
            assert!(matches!(
                Checkpoint::open(forged.as_bytes(), &[old.verifier()]),
                Err(CheckpointError::Note(NoteError::InvalidSignature(_)))
            ));
        }
    }

    #[test]
    fn bodies_have_one_spelling() {
        let good = checkpoint().body().unwrap();
        let root = checkpoint().root.to_base64();
        let bad = [
            (good.trim_end().to_string(), CheckpointError::Shape),
            (format!("{good}other data\n"), CheckpointError::Shape),
            (format!("{good}\n"), CheckpointError::Shape),
            (
                good.replacen("registry.test/r/main", "", 1),
                CheckpointError::Origin(String::new()),
            ),
            (
                good.replacen("4027504", "04027504", 1),
                CheckpointError::Size("04027504".into()),
            ),
            (
                good.replacen("4027504", "+4027504", 1),
                CheckpointError::Size("+4027504".into()),
            ),
            (
                good.replacen("4027504", "-1", 1),
                CheckpointError::Size("-1".into()),
            ),
            (
                good.replacen("4027504", "18446744073709551616", 1),
                CheckpointError::Size("18446744073709551616".into()),
            ),
            (
                good.replacen("4027504", "", 1),
                CheckpointError::Size(String::new()),
            ),
            (
                good.replacen(&root, root.trim_end_matches('='), 1),
                CheckpointError::Root(HashError::Base64),
            ),
            (
                good.replacen(&root, "YmFuYW5hcw==", 1),
                CheckpointError::Root(HashError::Base64),
            ),
        ];
        for (text, want) in bad {
            assert_eq!(Checkpoint::parse_body(&text), Err(want), "{text:?}");
        }
        let zero = Checkpoint {
            size: 0,
            root: crate::hash::empty_root(),
            ..checkpoint()
        };
        assert_eq!(Checkpoint::parse_body(&zero.body().unwrap()), Ok(zero));
        let bad_origin = Checkpoint {
            origin: "a\nb".into(),
            ..checkpoint()
        };
        assert!(matches!(bad_origin.body(), Err(CheckpointError::Origin(_))));
    }
}
